// The cluster ledger: three real hookvault nodes (the binary, each on its own port and data dir,
// the same config) on one real PostgreSQL with the real migrations, one real sink, client
// threads posting keyed webhooks round-robin over whichever nodes are up, a feed consumer
// long-polling whichever node is up, and a killer that SIGKILLs a random node at random
// moments and starts it again. At the end (every node up, load stopped, deliveries drained),
// the ledger must balance:
//   - every key answered 200 is stored exactly once, under the id and seq of that answer, and
//     a key posted again to another node was answered that same id and seq;
//   - nothing is stored twice, acknowledged or not (one event per key), and nothing is stored
//     that no client posted;
//   - every stored event reached the sink at least once (by webhook-id), and the sink got
//     nothing that is not stored; some deliveries a killed node held were taken over (claimed
//     again: lease_token > 1), and the sink never held more requests at once than the
//     destination's concurrency (a cap across the nodes);
//   - the feed consumer saw every event exactly once, in seq order, seq 1..N with no gap;
//   - every node stops with exit status 0 on SIGTERM at the end.
//
// Size (kKillCycles, kClients, kClientPause below): 20 kill cycles of 0.5–2.5 s of load each,
// four clients pacing themselves at up to ~100 keys/s each. Runs here on 2 shared cores: about
// 45 s of load storing 10,000–13,000 events, 35–45 deliveries taken over, a drain of under 10 s,
// one minute in all (the test prints its ledger). The killer never has two nodes down at once,
// so the load always has a node to go to; what a dead node had leased is taken over by the
// others once the lease (timeout_ms + lease_margin_ms = 2 s) ends.
// HOOKVAULT_CLUSTER_SEED=N repeats a run's kill schedule (printed at the start).
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "storage/postgres/connection.h"
#include "tests/testing/cluster.h"
#include "tests/testing/http_client.h"
#include "tests/testing/postgres_server.h"
#include "tests/testing/sink_server.h"
#include "tests/testing/temp_dir.h"

namespace hookvault::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using std::chrono::steady_clock;

constexpr size_t kNodes = 3;
constexpr int kKillCycles = 20;
constexpr int kClients = 4;
constexpr milliseconds kClientPause(10);
// Every kRepostEvery-th acknowledged key is posted once more, to another node.
constexpr int kRepostEvery = 7;
constexpr int kTimeoutMs = 1000;       // the destination's timeout_ms
constexpr int kConcurrency = 8;        // the destination's concurrency, a cluster-wide cap
constexpr int kSinkMaxDelayMs = 40;    // the sink answers after 0..40 ms (by webhook-id)
constexpr int kLeaseMarginMs = 1000;   // postgres.lease_margin_ms: takeover after ~2 s
constexpr int kListenPollMs = 1000;    // postgres.listen_poll_ms
constexpr seconds kKeyDeadline(60);    // a key not acknowledged within this fails the test
constexpr seconds kDrainDeadline(90);  // deliveries drained and the consumer caught up

constexpr char kToken[] = "cluster-source-token-0123456789";
constexpr char kFeedToken[] = "cluster-feed-token-0123456789";

std::string NodeConfig(const std::string& data_dir, const std::string& pg_url,
                       const std::string& sink_url) {
  return R"({"listen": "127.0.0.1:0", "data_dir": ")" + data_dir +
         R"(", "log": {"level": "info"},
    "postgres": {"url": ")" + pg_url + R"(", "pool_size": 4, "lease_margin_ms": )" +
         std::to_string(kLeaseMarginMs) + R"(, "listen_poll_ms": )" +
         std::to_string(kListenPollMs) + R"(},
    "sources": [{"name": "pms", "tokens": [")" + kToken +
         R"("], "event_type": "/event", "idempotency": {"pointer": "/id"}}],
    "destinations": [{"name": "sink", "url": ")" + sink_url + R"(", "timeout_ms": )" +
         std::to_string(kTimeoutMs) + R"(, "concurrency": )" + std::to_string(kConcurrency) +
         R"(, "max_attempts": 1000,
      "backoff": {"initial_ms": 100, "max_ms": 1000, "multiplier": 2.0}}],
    "api_tokens": [{"name": "feed", "token": ")" + kFeedToken + R"(", "role": "consumer"}]})";
}

// What one 200 said.
struct Answer {
  std::string id;
  int64_t seq = 0;
  bool duplicate = false;
  size_t node = 0;
};

// The clients' side of the ledger. Thread-safety: every method may be called from any thread.
class Ledger {
 public:
  // Records the first answer for `key`; returns false (with an error) if the key already had
  // one (a key is acknowledged once, then only re-posted through Repost).
  void Acknowledge(const std::string& key, const Answer& a) {
    std::lock_guard<std::mutex> lock(mu_);
    auto [it, inserted] = acked_.emplace(key, a);
    if (!inserted) errors_.push_back("key " + key + " acknowledged twice by its client");
    if (a.duplicate) ++first_answer_duplicate_;
  }
  // Records the answer to posting an acknowledged key again: it must be the same id and seq.
  void Repost(const std::string& key, const Answer& a) {
    std::lock_guard<std::mutex> lock(mu_);
    ++reposts_;
    const Answer& first = acked_.at(key);
    if (!a.duplicate || a.id != first.id || a.seq != first.seq) {
      errors_.push_back("key " + key + " re-posted to node " + std::to_string(a.node) +
                        " answered id " + a.id + " seq " + std::to_string(a.seq) +
                        (a.duplicate ? " (duplicate)" : " (NOT a duplicate)") +
                        "; first answer: id " + first.id + " seq " + std::to_string(first.seq) +
                        " from node " + std::to_string(first.node));
    }
    if (a.node != first.node) ++reposts_other_node_;
  }
  void Posted() { ++posts_; }
  void Retried() { ++retries_; }
  void Error(std::string e) {
    std::lock_guard<std::mutex> lock(mu_);
    errors_.push_back(std::move(e));
  }

  std::map<std::string, Answer> acked() const {
    std::lock_guard<std::mutex> lock(mu_);
    return acked_;
  }
  std::vector<std::string> errors() const {
    std::lock_guard<std::mutex> lock(mu_);
    return errors_;
  }
  int64_t posts() const { return posts_; }
  int64_t retries() const { return retries_; }
  int64_t reposts() const {
    std::lock_guard<std::mutex> lock(mu_);
    return reposts_;
  }
  int64_t reposts_other_node() const {
    std::lock_guard<std::mutex> lock(mu_);
    return reposts_other_node_;
  }
  int64_t first_answer_duplicate() const {
    std::lock_guard<std::mutex> lock(mu_);
    return first_answer_duplicate_;
  }

 private:
  std::atomic<int64_t> posts_{0};    // POSTs sent, answered or not
  std::atomic<int64_t> retries_{0};  // POSTs that got no answer or a 503, and were sent again
  mutable std::mutex mu_;
  std::map<std::string, Answer> acked_;     // guarded by mu_
  int64_t reposts_ = 0;                     // guarded by mu_
  int64_t reposts_other_node_ = 0;          // guarded by mu_
  int64_t first_answer_duplicate_ = 0;      // guarded by mu_: stored by an attempt whose
                                            // answer was lost, then recognised
  std::vector<std::string> errors_;         // guarded by mu_
};

// Posts `body` (key `key`) to the nodes that are up, starting at node `*next % kNodes`, until
// one answers 200, retrying on no answer and on 503 as a provider does. Returns false (with an
// error in the ledger) on any other status or after kKeyDeadline.
bool PostUntilAnswered(HttpClient& client, const Cluster& cluster, Ledger& ledger,
                       const std::string& key, const std::string& body, size_t* next,
                       Answer* answer) {
  auto deadline = steady_clock::now() + kKeyDeadline;
  while (steady_clock::now() < deadline) {
    size_t node = 0;
    std::string base = cluster.AnyUrl((*next)++, &node);
    if (base.empty()) {
      std::this_thread::sleep_for(milliseconds(20));
      continue;
    }
    ledger.Posted();
    HttpResult r = client.Request(
        "POST", base + "/webhooks/pms",
        {{"x-auth-token", kToken}, {"Content-Type", "application/json"}}, body, 10000);
    if (r.status == 0 || r.status == 503) {
      ledger.Retried();
      std::this_thread::sleep_for(milliseconds(20));
      continue;
    }
    rapidjson::Document d;
    d.Parse(r.body.c_str());
    if (r.status != 200 || d.HasParseError() || !d.IsObject() || !d.HasMember("id") ||
        !d.HasMember("seq") || !d.HasMember("duplicate")) {
      ledger.Error("key " + key + ": node " + std::to_string(node) + " answered " +
                   std::to_string(r.status) + " " + r.body);
      return false;
    }
    answer->id = d["id"].GetString();
    answer->seq = d["seq"].GetInt64();
    answer->duplicate = d["duplicate"].GetBool();
    answer->node = node;
    return true;
  }
  ledger.Error("key " + key + " not acknowledged within " +
               std::to_string(kKeyDeadline.count()) + " s");
  return false;
}

// The feed consumer's record. Thread-safety: written by the consumer thread only, read after
// it has been joined.
struct FeedLog {
  std::vector<int64_t> seqs;               // in the order received
  std::map<int64_t, std::string> id_of;    // seq -> event id, as the feed said
  std::map<int64_t, std::string> key_of;   // seq -> idempotency key, as the feed said
  int64_t polls = 0, failed_polls = 0;     // failed: no answer or 503 (node down), retried
  std::vector<std::string> errors;
};

// Pulls GET /api/v1/feed?after=…&wait=2 from whichever node is up (a different one each poll,
// so that a poll parked on one node must be woken by another node's commits) until `*target`
// (set once the load has stopped; -1 before) is reached or `give_up` is set.
void ConsumeFeed(const Cluster& cluster, const std::atomic<int64_t>& target,
                 const std::atomic<bool>& give_up, FeedLog* log) {
  HttpClient client;
  int64_t after = 0;
  size_t next = 0;
  while (!give_up.load()) {
    int64_t t = target.load();
    if (t >= 0 && after >= t) return;
    std::string base = cluster.AnyUrl(next++);
    if (base.empty()) {
      std::this_thread::sleep_for(milliseconds(20));
      continue;
    }
    ++log->polls;
    HttpResult r = client.Request(
        "GET", base + "/api/v1/feed?after=" + std::to_string(after) + "&limit=1000&wait=2",
        {{"Authorization", std::string("Bearer ") + kFeedToken}}, "", 15000);
    if (r.status == 0 || r.status == 503) {
      ++log->failed_polls;
      std::this_thread::sleep_for(milliseconds(20));
      continue;
    }
    rapidjson::Document d;
    d.Parse(r.body.c_str());
    if (r.status != 200 || d.HasParseError() || !d.IsObject() || !d.HasMember("data") ||
        !d["data"].IsArray() || !d.HasMember("next_after")) {
      log->errors.push_back("feed answered " + std::to_string(r.status) + " " + r.body);
      std::this_thread::sleep_for(milliseconds(100));
      continue;
    }
    for (const auto& e : d["data"].GetArray()) {
      int64_t seq = e["seq"].GetInt64();
      int64_t last = log->seqs.empty() ? 0 : log->seqs.back();
      if (seq != last + 1 && log->errors.size() < 20) {
        log->errors.push_back("feed gave seq " + std::to_string(seq) + " after " +
                              std::to_string(last));
      }
      log->seqs.push_back(seq);
      log->id_of[seq] = e["id"].GetString();
      log->key_of[seq] = e["idempotency_key"].GetString();
    }
    int64_t next_after = d["next_after"].GetInt64();
    if (next_after < after && log->errors.size() < 20) {
      log->errors.push_back("next_after went back from " + std::to_string(after) + " to " +
                            std::to_string(next_after));
    }
    after = std::max(after, next_after);
  }
}

struct StoredEvent {
  int64_t seq = 0;
  std::string id, key;
};

// Reads every stored event from PostgreSQL, in seq order (the ground truth of the ledger).
std::vector<StoredEvent> StoredEvents(storage::pg::Connection& conn) {
  std::vector<StoredEvent> out;
  auto r = conn.Exec("SELECT seq, id, idempotency_key FROM events ORDER BY seq");
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  if (!r.ok()) return out;
  for (int i = 0; i < r->rows(); ++i) {
    out.push_back({r->GetInt64(i, 0), r->GetString(i, 1), r->GetString(i, 2)});
  }
  return out;
}

int64_t CountWhere(storage::pg::Connection& conn, const std::string& sql) {
  auto r = conn.Exec(sql);
  EXPECT_TRUE(r.ok()) << sql << ": " << r.status().ToString();
  return r.ok() && r->rows() == 1 ? r->GetInt64(0, 0) : -1;
}

template <typename Container>
std::string FirstFew(const Container& items, size_t n = 10) {
  std::string out;
  size_t i = 0;
  for (const auto& item : items) {
    if (i++ == n) return out + " …";
    out += (out.empty() ? "" : "; ") + item;
  }
  return out;
}

TEST(ClusterTest, ThreeNodesKeepTheLedgerThroughSigkillCycles) {
  PostgresServer* pg = PostgresServer::Shared();
  ASSERT_NE(pg, nullptr) << "no PostgreSQL server for the cluster";
  std::string pg_url = pg->CreateDatabase();
  ASSERT_FALSE(pg_url.empty());
  SinkServer sink;
  ASSERT_GT(sink.port(), 0);
  // The sink takes a while to answer, so that a node killed at any moment has deliveries in
  // flight (its leases must be taken over), and counts the requests it holds at once: the
  // destination's concurrency is a cap across all nodes. A killed node's request still held
  // here counts too, as its lease does on the nodes until it expires.
  std::atomic<int> sink_in_flight{0}, sink_max_in_flight{0};
  sink.SetHandler([&](const SinkRequest& request) {
    int now = ++sink_in_flight;
    int max = sink_max_in_flight.load();
    while (now > max && !sink_max_in_flight.compare_exchange_weak(max, now)) {
    }
    auto it = request.headers.find("webhook-id");
    size_t h = std::hash<std::string>{}(it == request.headers.end() ? "" : it->second);
    std::this_thread::sleep_for(milliseconds(h % (kSinkMaxDelayMs + 1)));
    --sink_in_flight;
    return SinkReply{};
  });
  TempDir dir;
  std::string sink_url = sink.Url("/hooks");
  Cluster cluster(dir.path(), kNodes, [&](const std::string& data_dir) {
    return NodeConfig(data_dir, pg_url, sink_url);
  });
  for (size_t i = 0; i < kNodes; ++i) ASSERT_TRUE(cluster.Start(i)) << cluster.Logs(i);

  uint64_t seed = std::random_device{}();
  if (const char* s = std::getenv("HOOKVAULT_CLUSTER_SEED")) seed = std::strtoull(s, nullptr, 10);
  std::printf("[ cluster  ] seed %llu (HOOKVAULT_CLUSTER_SEED repeats the kill schedule)\n",
              static_cast<unsigned long long>(seed));
  auto started = steady_clock::now();

  Ledger ledger;
  std::atomic<bool> stop_clients{false};
  std::atomic<int64_t> feed_target{-1};
  std::atomic<bool> feed_give_up{false}, feed_done{false};
  FeedLog feed;
  std::thread consumer([&] {
    ConsumeFeed(cluster, feed_target, feed_give_up, &feed);
    feed_done = true;
  });

  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      HttpClient client;
      size_t next = static_cast<size_t>(c);
      std::string pad(200, 'x');
      for (int n = 1; !stop_clients.load(); ++n) {
        std::string key = "c" + std::to_string(c) + "-" + std::to_string(n);
        std::string body = R"({"id":")" + key + R"(","event":"cluster.test","client":)" +
                           std::to_string(c) + R"(,"n":)" + std::to_string(n) + R"(,"pad":")" +
                           pad + "\"}";
        Answer answer;
        if (!PostUntilAnswered(client, cluster, ledger, key, body, &next, &answer)) return;
        ledger.Acknowledge(key, answer);
        if (n % kRepostEvery == 0) {
          // The same key again, to the next node that is up after the one that answered: a
          // provider's retry that the load balancer sends elsewhere.
          size_t other = answer.node + 1;
          Answer again;
          if (!PostUntilAnswered(client, cluster, ledger, key, body, &other, &again)) return;
          ledger.Repost(key, again);
        }
        std::this_thread::sleep_for(kClientPause);
      }
    });
  }

  // The killer: one node down at a time, at random moments, for kKillCycles cycles.
  int kills = 0;
  std::vector<std::string> start_failures;
  {
    std::mt19937_64 random(seed);
    std::uniform_int_distribution<int> run_ms(500, 2500), down_ms(0, 1000);
    std::uniform_int_distribution<size_t> pick(0, kNodes - 1);
    for (int cycle = 0; cycle < kKillCycles; ++cycle) {
      std::this_thread::sleep_for(milliseconds(run_ms(random)));
      size_t victim = pick(random);
      cluster.Kill(victim);
      ++kills;
      std::this_thread::sleep_for(milliseconds(down_ms(random)));
      if (!cluster.Start(victim) && !cluster.Start(victim)) {
        start_failures.push_back("node " + std::to_string(victim) + " did not start again:\n" +
                                 cluster.Logs(victim));
        break;
      }
    }
  }
  std::this_thread::sleep_for(milliseconds(500));  // load on all three nodes once more
  stop_clients = true;
  for (std::thread& t : clients) t.join();
  auto load_ended = steady_clock::now();
  for (size_t i = 0; i < kNodes; ++i) EXPECT_TRUE(cluster.up(i)) << "node " << i << " is down";

  // Drain: every delivery succeeded and every stored event reached the sink.
  auto conn = storage::pg::Connection::Open({.url = pg_url, .application_name = "cluster-test"});
  ASSERT_TRUE(conn.ok()) << conn.status().ToString();
  std::vector<StoredEvent> stored = StoredEvents(**conn);
  std::set<std::string> stored_ids;
  for (const StoredEvent& e : stored) stored_ids.insert(e.id);
  std::set<std::string> delivered_ids;
  size_t sink_requests = 0;
  std::vector<SinkRequest> requests;
  int64_t not_succeeded = -1;
  auto drain_deadline = steady_clock::now() + kDrainDeadline;
  while (true) {
    requests = sink.Requests();
    for (size_t i = sink_requests; i < requests.size(); ++i) {
      delivered_ids.insert(requests[i].headers["webhook-id"]);
    }
    sink_requests = requests.size();
    not_succeeded = CountWhere(**conn, "SELECT count(*) FROM deliveries WHERE status <> 'succeeded'");
    bool all_there = true;
    for (const std::string& id : stored_ids) all_there &= delivered_ids.count(id) > 0;
    if ((all_there && not_succeeded == 0) || steady_clock::now() > drain_deadline) break;
    std::this_thread::sleep_for(milliseconds(200));
  }
  auto drained = steady_clock::now();

  // The consumer catches up to the last stored seq (or gives up at its deadline).
  feed_target = stored.empty() ? 0 : stored.back().seq;
  auto consumer_deadline = steady_clock::now() + seconds(30);
  while (!feed_done.load() && steady_clock::now() < consumer_deadline) {
    std::this_thread::sleep_for(milliseconds(50));
  }
  feed_give_up = true;
  consumer.join();

  std::vector<std::string> stop_errors = cluster.StopAll();
  int64_t deliveries = CountWhere(**conn, "SELECT count(*) FROM deliveries");
  int64_t attempts = CountWhere(**conn, "SELECT count(*) FROM attempts");
  // Claimed more than once: a lease that a killed node left was taken over (or an attempt
  // failed and was retried; the sink never fails one, but a node killed mid-attempt does).
  int64_t taken_over = CountWhere(**conn, "SELECT count(*) FROM deliveries WHERE lease_token > 1");

  // --- The ledger ---
  std::map<std::string, Answer> acked = ledger.acked();
  std::map<std::string, std::vector<const StoredEvent*>> stored_by_key;
  for (const StoredEvent& e : stored) stored_by_key[e.key].push_back(&e);

  std::vector<std::string> lost, wrong_id, double_stored, phantom, gaps, undelivered,
      not_stored_delivered, feed_mismatch;
  for (const auto& [key, a] : acked) {
    auto it = stored_by_key.find(key);
    if (it == stored_by_key.end()) {
      lost.push_back(key + " (id " + a.id + ", seq " + std::to_string(a.seq) + ")");
    } else if (it->second.front()->id != a.id || it->second.front()->seq != a.seq) {
      wrong_id.push_back(key + ": answered " + a.id + "/" + std::to_string(a.seq) + ", stored " +
                         it->second.front()->id + "/" + std::to_string(it->second.front()->seq));
    }
  }
  int64_t stored_unacknowledged = 0;
  for (const auto& [key, events] : stored_by_key) {
    if (events.size() != 1) double_stored.push_back(key + " x" + std::to_string(events.size()));
    if (!acked.count(key)) {
      ++stored_unacknowledged;
      // Every key a client posted was retried until acknowledged, so a stored key without an
      // acknowledgement was never posted: a phantom.
      phantom.push_back(key);
    }
  }
  for (size_t i = 0; i < stored.size(); ++i) {
    if (stored[i].seq != static_cast<int64_t>(i) + 1) {
      gaps.push_back("stored seq " + std::to_string(stored[i].seq) + " at position " +
                     std::to_string(i + 1));
      if (gaps.size() >= 10) break;
    }
  }
  for (const std::string& id : stored_ids) {
    if (!delivered_ids.count(id)) undelivered.push_back(id);
  }
  for (const std::string& id : delivered_ids) {
    if (!stored_ids.count(id)) not_stored_delivered.push_back(id);
  }
  // The consumer: exactly 1..N, each with the stored id and key.
  bool feed_exact = feed.seqs.size() == stored.size();
  for (size_t i = 0; feed_exact && i < stored.size(); ++i) {
    feed_exact = feed.seqs[i] == stored[i].seq;
  }
  for (const StoredEvent& e : stored) {
    auto id = feed.id_of.find(e.seq);
    if (id == feed.id_of.end()) continue;  // counted by feed_exact
    if (id->second != e.id || feed.key_of[e.seq] != e.key) {
      feed_mismatch.push_back("seq " + std::to_string(e.seq) + ": feed " + id->second + " " +
                              feed.key_of[e.seq] + ", stored " + e.id + " " + e.key);
    }
  }

  auto secs = [](auto d) { return std::chrono::duration<double>(d).count(); };
  std::printf(
      "[ ledger   ] nodes %zu, kill cycles %d (SIGKILL + restart), load %.1f s, drain %.1f s\n"
      "[ ledger   ] POSTs %lld (retried after no answer or 503: %lld), keys acknowledged %zu,\n"
      "[ ledger   ]   re-posted %lld (to another node: %lld, each answered the same id and seq),\n"
      "[ ledger   ]   first answer already a duplicate (stored by an attempt whose answer was "
      "lost): %lld\n"
      "[ ledger   ] events stored %zu (seq 1..%lld), acknowledged and lost %zu, stored twice %zu,"
      " stored unacknowledged %lld\n"
      "[ ledger   ] deliveries %lld, attempts %lld, claimed again after a node died %lld,\n"
      "[ ledger   ]   sink requests %zu for %zu events (redeliveries %zu), undelivered %zu,\n"
      "[ ledger   ]   most requests at the sink at once %d (destination concurrency %d)\n"
      "[ ledger   ] feed: %zu events seen in %lld polls (%lld failed over to another node), "
      "in order 1..N with no gap or repeat: %s\n",
      kNodes, kills, secs(load_ended - started), secs(drained - load_ended),
      static_cast<long long>(ledger.posts()), static_cast<long long>(ledger.retries()),
      acked.size(), static_cast<long long>(ledger.reposts()),
      static_cast<long long>(ledger.reposts_other_node()),
      static_cast<long long>(ledger.first_answer_duplicate()), stored.size(),
      static_cast<long long>(stored.empty() ? 0 : stored.back().seq), lost.size(),
      double_stored.size(), static_cast<long long>(stored_unacknowledged),
      static_cast<long long>(deliveries), static_cast<long long>(attempts),
      static_cast<long long>(taken_over), sink_requests, delivered_ids.size(),
      sink_requests - delivered_ids.size(), undelivered.size(), sink_max_in_flight.load(),
      kConcurrency,
      feed.seqs.size(), static_cast<long long>(feed.polls),
      static_cast<long long>(feed.failed_polls), feed_exact ? "yes" : "NO");

  EXPECT_TRUE(start_failures.empty()) << FirstFew(start_failures, 1);
  EXPECT_EQ(kills, kKillCycles);
  EXPECT_TRUE(ledger.errors().empty()) << FirstFew(ledger.errors());
  EXPECT_GT(acked.size(), 100u) << "too little load to prove anything";
  EXPECT_GT(ledger.reposts_other_node(), 0);
  EXPECT_TRUE(lost.empty()) << lost.size() << " acknowledged keys lost: " << FirstFew(lost);
  EXPECT_TRUE(wrong_id.empty()) << FirstFew(wrong_id);
  EXPECT_TRUE(double_stored.empty()) << FirstFew(double_stored);
  EXPECT_TRUE(phantom.empty()) << "stored, never acknowledged: " << FirstFew(phantom);
  EXPECT_TRUE(gaps.empty()) << "stored seq not 1..N: " << FirstFew(gaps);
  EXPECT_EQ(not_succeeded, 0) << "deliveries not succeeded after the drain";
  EXPECT_TRUE(undelivered.empty()) << undelivered.size()
                                   << " stored events never reached the sink: "
                                   << FirstFew(undelivered);
  EXPECT_TRUE(not_stored_delivered.empty()) << FirstFew(not_stored_delivered);
  EXPECT_GT(taken_over, 0) << "no killed node had a delivery in flight: takeover not exercised";
  EXPECT_LE(sink_max_in_flight.load(), kConcurrency) << "the concurrency cap is not cluster-wide";
  EXPECT_TRUE(feed.errors.empty()) << FirstFew(feed.errors);
  EXPECT_TRUE(feed_exact) << "the consumer saw " << feed.seqs.size() << " events, "
                          << stored.size() << " are stored";
  EXPECT_TRUE(feed_mismatch.empty()) << FirstFew(feed_mismatch);
  EXPECT_TRUE(stop_errors.empty()) << FirstFew(stop_errors);
  if (HasFailure()) {
    for (size_t i = 0; i < kNodes; ++i) {
      std::printf("node %zu logs:\n%s\n", i, cluster.Logs(i, 1500).c_str());
    }
  }
}

}  // namespace
}  // namespace hookvault::testing
