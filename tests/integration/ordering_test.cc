// FIFO per key end to end: the real binary, a real SQLite file, a real local HTTP sink. Per
// key the sink sees strictly increasing positions for first-time successes while the sink
// fails at random and the server is SIGKILLed and restarted mid-way; a failed head blocks its
// key while other keys flow, until an operator skips it (POST /api/v1/deliveries/{id}/skip:
// roles, 404, 409, audited).
#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/testing/backend.h"
#include "tests/testing/http_client.h"
#include "tests/testing/server_process.h"
#include "tests/testing/sink_server.h"
#include "tests/testing/temp_dir.h"

namespace hookvault::testing {
namespace {

constexpr char kToken[] = "ordering-source-token-0123456789";
constexpr char kOperator[] = "ordering-operator-token-0123456789";
constexpr char kAuditor[] = "ordering-auditor-token-0123456789";

std::string Config(const std::string& dir, const std::string& sink_url,
                   const std::string& destination_extra) {
  return R"({"listen": "127.0.0.1:0", "data_dir": ")" + dir + R"(", "log": {"level": "info"},
    "sources": [{"name": "shop", "tokens": [")" +
         kToken + R"("], "event_type": "/event"}],
    "api_tokens": [{"name": "ops", "token": ")" +
         kOperator + R"(", "role": "operator"},
                   {"name": "audit-team", "token": ")" +
         kAuditor + R"(", "role": "auditor"}],
    "destinations": [{"name": "sink", "url": ")" +
         sink_url + R"(", "ordering": {"key": "/key"}, )" + destination_extra + "}]}";
}

// The event's key and its position among the key's events, from the body the sink received.
struct Position {
  std::string key;
  int n = -1;
};

Position PositionOf(const std::string& body) {
  rapidjson::Document d;
  d.Parse(body.c_str());
  if (!d.IsObject() || !d.HasMember("key") || !d.HasMember("n")) return {};
  return {d["key"].GetString(), d["n"].GetInt()};
}

std::string Body(const std::string& key, int n) {
  return R"({"event":"order.updated","key":")" + key + R"(","n":)" + std::to_string(n) + "}";
}

bool Post(HttpClient& client, const ServerProcess& server, const std::string& key, int n) {
  return client
             .Request("POST", server.Url("/webhooks/shop"),
                      {{"x-auth-token", kToken}, {"Content-Type", "application/json"}},
                      Body(key, n))
             .status == 200;
}

bool WaitFor(const std::function<bool()>& condition, int seconds = 30) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return condition();
}

// What the sink answered, in arrival order: (position, succeeded).
class RandomSink {
 public:
  explicit RandomSink(double failure_rate) : failure_rate_(failure_rate) {
    sink_.SetHandler([this](const SinkRequest& r) {
      SinkReply reply;
      std::lock_guard<std::mutex> lock(mu_);
      Position p = PositionOf(r.body);
      auto blocked = blocked_.find(p.key + "#" + std::to_string(p.n));
      const bool ok = blocked == blocked_.end() &&
                      std::uniform_real_distribution<double>(0, 1)(random_) >= failure_rate_;
      reply.status = ok ? 200 : blocked != blocked_.end() ? blocked->second : 503;
      seen_.push_back({p, ok});
      if (ok) delivered_.insert({p.key, p.n});
      return reply;
    });
  }

  std::string Url() const { return sink_.Url("/hooks"); }
  // Answers `status` to position `n` of `key`, always.
  void Block(const std::string& key, int n, int status = 503) {
    std::lock_guard<std::mutex> lock(mu_);
    blocked_[key + "#" + std::to_string(n)] = status;
  }
  size_t Delivered() const {
    std::lock_guard<std::mutex> lock(mu_);
    return delivered_.size();
  }
  bool WasDelivered(const std::string& key, int n) const {
    std::lock_guard<std::mutex> lock(mu_);
    return delivered_.contains({key, n});
  }
  int Arrivals(const std::string& key, int n) const {
    std::lock_guard<std::mutex> lock(mu_);
    int count = 0;
    for (const auto& [p, ok] : seen_) count += p.key == key && p.n == n;
    return count;
  }

  // Checks FIFO per key over everything the sink saw: first-time successes come in strictly
  // increasing position (0, 1, 2, ... with `skipped` positions left out), and no position
  // arrives before the one before it succeeded (one at a time, in order).
  void ExpectInOrder(const std::map<std::string, std::set<int>>& skipped = {}) const {
    std::lock_guard<std::mutex> lock(mu_);
    std::map<std::string, int> last;  // per key: the last position that succeeded first-time
    for (const auto& [p, ok] : seen_) {
      ASSERT_GE(p.n, 0) << "the sink got a body without a position";
      auto it = last.find(p.key);
      int done = it == last.end() ? -1 : it->second;
      int next = done + 1;
      if (auto s = skipped.find(p.key); s != skipped.end()) {
        while (s->second.contains(next)) ++next;
      }
      if (p.n <= done) continue;  // a repeat of a success (a restart between send and record)
      if (IsSkipped(skipped, p.key, p.n)) continue;  // the attempts of a head later skipped
      ASSERT_EQ(p.n, next) << "key " << p.key << ": position " << p.n
                           << " arrived before position " << next << " had succeeded";
      if (ok) last[p.key] = p.n;
    }
  }

 private:
  static bool IsSkipped(const std::map<std::string, std::set<int>>& skipped, const std::string& key,
                        int n) {
    auto s = skipped.find(key);
    return s != skipped.end() && s->second.contains(n);
  }

  const double failure_rate_;
  mutable std::mutex mu_;
  std::mt19937 random_{18};                            // guarded by mu_
  std::map<std::string, int> blocked_;                 // guarded by mu_
  std::vector<std::pair<Position, bool>> seen_;        // guarded by mu_
  std::set<std::pair<std::string, int>> delivered_;    // guarded by mu_
  SinkServer sink_;
};

TEST(OrderingTest, PerKeyOrderHoldsUnderRandomFailuresAndASigkill) {
  constexpr int kKeys = 20;
  constexpr int kPerKey = 10;
  RandomSink sink(0.3);
  TempDir dir;
  std::string config = dir.Write(
      "config.json",
      Config(dir.path(), sink.Url(),
             R"("concurrency": 8, "max_attempts": 1000,
                "backoff": {"initial_ms": 5, "max_ms": 40, "multiplier": 2.0})"));
  auto server = std::make_unique<ServerProcess>(std::vector<std::string>{"serve", "--config", config},
                                                dir.File("server.log"));
  ASSERT_TRUE(server->started()) << server->Log();
  HttpClient client;
  auto post_round = [&](int n) {
    for (int k = 0; k < kKeys; ++k) ASSERT_TRUE(Post(client, *server, "k" + std::to_string(k), n));
  };
  for (int n = 0; n < kPerKey / 2; ++n) ASSERT_NO_FATAL_FAILURE(post_round(n));
  // Mid-way, while deliveries are in flight: no clean stop, no lease released.
  ASSERT_TRUE(WaitFor([&] { return sink.Delivered() >= kKeys; })) << server->Log();
  server->Kill(SIGKILL);
  server->Wait();
  server = std::make_unique<ServerProcess>(std::vector<std::string>{"serve", "--config", config},
                                           dir.File("server2.log"));
  ASSERT_TRUE(server->started()) << server->Log();
  for (int n = kPerKey / 2; n < kPerKey; ++n) ASSERT_NO_FATAL_FAILURE(post_round(n));
  ASSERT_TRUE(WaitFor([&] { return sink.Delivered() == kKeys * kPerKey; }, 60))
      << sink.Delivered() << " of " << kKeys * kPerKey << "\n"
      << server->Log();
  sink.ExpectInOrder();
  EXPECT_EQ(server->Signal(SIGTERM), 0);
}

TEST(OrderingTest, AFailedHeadBlocksItsKeyUntilSkippedWhileOtherKeysFlow) {
  RandomSink sink(0);
  sink.Block("bad", 0);
  TempDir dir;
  std::string config = dir.Write(
      "config.json", Config(dir.path(), sink.Url(),
                            R"("concurrency": 8, "max_attempts": 2,
                               "backoff": {"initial_ms": 5, "max_ms": 10, "multiplier": 2.0})"));
  ServerProcess server({"serve", "--config", config}, dir.File("server.log"));
  ASSERT_TRUE(server.started()) << server.Log();
  HttpClient client;
  for (int n = 0; n < 3; ++n) {
    ASSERT_TRUE(Post(client, server, "bad", n));
    ASSERT_TRUE(Post(client, server, "good", n));
  }
  ASSERT_TRUE(WaitFor([&] { return sink.Delivered() == 3; })) << server.Log();  // good 0..2
  const std::string auth = std::string("Bearer ") + kOperator;
  std::string failed_id;
  ASSERT_TRUE(WaitFor([&] {
    HttpResult r = client.Request("GET", server.Url("/api/v1/deliveries?status=failed"),
                                  {{"Authorization", auth}}, "");
    rapidjson::Document d;
    d.Parse(r.body.c_str());
    if (r.status != 200 || !d.IsObject() || d["data"].Size() != 1) return false;
    failed_id = std::to_string(d["data"][0]["id"].GetInt64());
    return true;
  })) << server.Log();
  EXPECT_EQ(sink.Arrivals("bad", 0), 2);  // max_attempts
  // The key stays blocked: nothing of it after its failed head.
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(sink.Arrivals("bad", 1), 0);
  // The API says why they wait: held behind their key's failed head.
  HttpResult waiting = client.Request("GET", server.Url("/api/v1/deliveries?status=pending"),
                                      {{"Authorization", auth}}, "");
  ASSERT_EQ(waiting.status, 200);
  rapidjson::Document w;
  w.Parse(waiting.body.c_str());
  ASSERT_TRUE(w.IsObject());
  ASSERT_EQ(w["data"].Size(), 2u) << waiting.body;  // bad#1 and bad#2
  for (const auto& row : w["data"].GetArray()) {
    EXPECT_TRUE(row["held"].GetBool()) << waiting.body;
    EXPECT_STREQ(row["order_key"].GetString(), "bad");
  }

  auto skip = [&](const std::string& id, const std::string& token) {
    return client.Request("POST", server.Url("/api/v1/deliveries/" + id + "/skip"),
                          {{"Authorization", "Bearer " + token},
                           {"Content-Type", "application/json"}},
                          R"({"reason":"receiver rejects it for good"})");
  };
  EXPECT_EQ(skip(failed_id, kAuditor).status, 403);
  EXPECT_EQ(skip("999999", kOperator).status, 404);
  EXPECT_EQ(skip("not-a-number", kOperator).status, 404);
  HttpResult skipped = skip(failed_id, kOperator);
  ASSERT_EQ(skipped.status, 200) << skipped.body;
  EXPECT_NE(skipped.body.find(R"("status":"skipped")"), std::string::npos) << skipped.body;
  HttpResult again = skip(failed_id, kOperator);
  EXPECT_EQ(again.status, 409);
  EXPECT_NE(again.body.find("is skipped"), std::string::npos) << again.body;

  ASSERT_TRUE(WaitFor([&] { return sink.WasDelivered("bad", 2); })) << server.Log();
  EXPECT_FALSE(sink.WasDelivered("bad", 0));
  sink.ExpectInOrder({{"bad", {0}}});

  HttpResult audit =
      client.Request("GET", server.Url("/api/v1/audit"), {{"Authorization", auth}}, "");
  ASSERT_EQ(audit.status, 200);
  EXPECT_NE(audit.body.find(R"("action":"delivery.skip")"), std::string::npos) << audit.body;
  EXPECT_NE(audit.body.find("receiver rejects it for good"), std::string::npos) << audit.body;
  HttpResult listed = client.Request("GET", server.Url("/api/v1/deliveries?status=skipped"),
                                     {{"Authorization", auth}}, "");
  ASSERT_EQ(listed.status, 200);
  EXPECT_NE(listed.body.find(R"("id":)" + failed_id + ","), std::string::npos) << listed.body;
  EXPECT_EQ(server.Signal(SIGTERM), 0);
}

TEST(OrderingTest, RemovingOrderingReleasesTheHeldDeliveriesAtTheNextStart) {
  RandomSink sink(0);
  sink.Block("bad", 0, 410);
  TempDir dir;
  std::string ordered = dir.Write(
      "ordered.json", Config(dir.path(), sink.Url(), R"("max_attempts": 3)"));
  auto server = std::make_unique<ServerProcess>(
      std::vector<std::string>{"serve", "--config", ordered}, dir.File("server.log"));
  ASSERT_TRUE(server->started()) << server->Log();
  HttpClient client;
  for (int n = 0; n < 3; ++n) ASSERT_TRUE(Post(client, *server, "bad", n));
  ASSERT_TRUE(WaitFor([&] { return sink.Arrivals("bad", 0) == 1; })) << server->Log();
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(sink.Arrivals("bad", 1), 0);  // held behind the failed head
  ASSERT_EQ(server->Signal(SIGTERM), 0);

  // The same destination without "ordering": nothing may wait for a head any more.
  std::string config = R"({"listen": "127.0.0.1:0", "data_dir": ")" + dir.path() +
                       R"(", "log": {"level": "info"},
    "sources": [{"name": "shop", "tokens": [")" + kToken + R"("], "event_type": "/event"}],
    "destinations": [{"name": "sink", "url": ")" + sink.Url() + R"("}]})";
  server = std::make_unique<ServerProcess>(
      std::vector<std::string>{"serve", "--config", dir.Write("unordered.json", config)},
      dir.File("server2.log"));
  ASSERT_TRUE(server->started()) << server->Log();
  ASSERT_TRUE(WaitFor([&] { return sink.WasDelivered("bad", 1) && sink.WasDelivered("bad", 2); }))
      << server->Log();
  EXPECT_NE(server->Log().find("released 2 deliveries held for ordering keys"), std::string::npos)
      << server->Log();
  EXPECT_EQ(server->Signal(SIGTERM), 0);
}

// The same on both stores through the real binary (PostgreSQL: the set-based ingest with its
// per-key locks, the release in the outcome's transaction): random failures keep per-key order,
// and a failed head blocks only its key until skipped.
class OrderingSuite : public BackendServerTest {};

TEST_P(OrderingSuite, PerKeyOrderUnderRandomFailuresAndSkipReleasesABlockedKey) {
  RandomSink sink(0.3);
  sink.Block("bad", 0, 410);  // Gone: failed at once, whatever max_attempts says
  ASSERT_NO_FATAL_FAILURE(Start(R"("sources": [{"name": "shop", "tokens": [")" +
                                std::string(kToken) + R"("], "event_type": "/event"}],
      "api_tokens": [{"name": "ops", "token": ")" + kOperator + R"(", "role": "operator"}],
      "destinations": [{"name": "sink", "url": ")" + sink.Url() + R"(",
        "ordering": {"key": "/key"}, "concurrency": 8, "max_attempts": 1000,
        "backoff": {"initial_ms": 5, "max_ms": 40, "multiplier": 2.0}}])"));
  constexpr int kKeys = 10;
  constexpr int kPerKey = 8;
  for (int n = 0; n < kPerKey; ++n) {
    for (int k = 0; k < kKeys; ++k) {
      ASSERT_EQ(Ingest("shop", kToken, Body("k" + std::to_string(k), n)).status, 200);
    }
    ASSERT_EQ(Ingest("shop", kToken, Body("bad", n)).status, 200);
  }
  ASSERT_TRUE(WaitFor([&] { return sink.Delivered() == kKeys * kPerKey; }, 60))
      << sink.Delivered() << "\n" << server().Log();
  // "bad" waits behind its failed head while every other key got through.
  std::string failed_id;
  ASSERT_TRUE(WaitFor([&] {
    HttpResult r = Get("/api/v1/deliveries?status=failed", kOperator);
    rapidjson::Document d = Json(r.body);
    if (r.status != 200 || !d.IsObject() || d["data"].Size() != 1) return false;
    failed_id = std::to_string(d["data"][0]["id"].GetInt64());
    return true;
  }));
  EXPECT_EQ(sink.Arrivals("bad", 1), 0);
  HttpResult skipped = PostJson("/api/v1/deliveries/" + failed_id + "/skip", kOperator, "{}");
  ASSERT_EQ(skipped.status, 200) << skipped.body;
  ASSERT_TRUE(WaitFor([&] { return sink.WasDelivered("bad", kPerKey - 1); }, 30))
      << server().Log();
  sink.ExpectInOrder({{"bad", {0}}});
}

INSTANTIATE_TEST_SUITE_P(Backends, OrderingSuite, ::testing::ValuesIn(AllBackends()),
                         BackendTestName);

}  // namespace
}  // namespace hookvault::testing
