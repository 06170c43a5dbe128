// The shared suite, ingest: every row of the ingest table over real HTTP against the real
// binary, on SQLite and on PostgreSQL alike. What was stored is checked through the REST API
// only, so the same test holds for both stores: accepted events with their id and seq,
// duplicates answering the original, nothing stored for a refused request (but a request-log
// row), and seq increasing and gap-free under concurrent posts.
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <atomic>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/testing/backend.h"
#include "tests/testing/http_client.h"
#include "tests/testing/sink_server.h"

namespace hookvault::testing {
namespace {

constexpr char kTokenA[] = "suite-harmonics-token-aaaaaaaa";
constexpr char kTokenB[] = "suite-harmonics-token-bbbbbbbb";
constexpr char kAuditor[] = "suite-auditor-token-0123456789";
constexpr char kConsumer[] = "suite-consumer-token-0123456789";

class IngestSuite : public BackendServerTest {
 protected:
  void StartServer() {
    Start(R"("max_body_bytes": 4096,
      "sources": [
        {"name": "harmonics", "tokens": [")" + std::string(kTokenA) + R"(", ")" + kTokenB + R"("],
         "allow_ips": ["127.0.0.0/8", "::1"], "event_type": "/event",
         "idempotency": {"header": "Idempotency-Key", "pointer": "/id"},
         "required": ["/event"]},
        {"name": "elsewhere", "tokens": [")" + kTokenA + R"("], "allow_ips": ["10.0.0.0/8"]}],
      "destinations": [
        {"name": "billing", "url": ")" + sink_.Url("/billing") + R"(", "events": ["payment.*"]},
        {"name": "everything", "url": ")" + sink_.Url("/all") + R"("}],
      "api_tokens": [
        {"name": "audit", "token": ")" + kAuditor + R"(", "role": "auditor"},
        {"name": "warehouse", "token": ")" + kConsumer + R"(", "role": "consumer"}])");
  }

  // Posts with the source's first token and, if given, an Idempotency-Key header.
  HttpResult PostOk(const std::string& body, const std::string& key = "") {
    Headers extra;
    if (!key.empty()) extra.emplace_back("Idempotency-Key", key);
    return Ingest("harmonics", kTokenA, body, extra);
  }

  // Returns the "data" array's size of an auditor's GET of `path`, or -1.
  int64_t Count(const std::string& path) {
    HttpResult r = Get(path, kAuditor);
    rapidjson::Document d = Json(r.body);
    if (r.status != 200 || !d.IsObject() || !d["data"].IsArray()) return -1;
    return d["data"].Size();
  }

  // Expects a problem+json answer with `status` whose detail contains `needle`.
  static void ExpectProblem(const HttpResult& r, int status, const std::string& needle) {
    EXPECT_EQ(r.status, status) << r.body << r.error;
    auto type = r.headers.find("content-type");
    EXPECT_EQ(type == r.headers.end() ? "" : type->second, "application/problem+json");
    rapidjson::Document d = Json(r.body);
    ASSERT_TRUE(d.IsObject()) << r.body;
    EXPECT_EQ(d["status"].GetInt(), status);
    ASSERT_TRUE(d.HasMember("detail") && d["detail"].IsString()) << r.body;
    EXPECT_NE(std::string(d["detail"].GetString()).find(needle), std::string::npos) << r.body;
  }

  SinkServer sink_;
};

struct Answer {
  std::string id;
  int64_t seq = 0;
  bool duplicate = false;
};

Answer Parse(const HttpResult& r) {
  rapidjson::Document d;
  d.Parse(r.body.c_str(), r.body.size());
  Answer a;
  if (!d.IsObject() || !d.HasMember("id") || !d.HasMember("seq") || !d.HasMember("duplicate")) {
    return a;
  }
  a.id = d["id"].GetString();
  a.seq = d["seq"].GetInt64();
  a.duplicate = d["duplicate"].GetBool();
  return a;
}

TEST_P(IngestSuite, NewEventsAreStoredAndDuplicatesAnswerTheOriginal) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  const std::string body = "{ \"id\" : \"evt-1\",\n  \"event\": \"payment.received\", \"n\": 1.50 }";
  HttpResult r = Ingest("harmonics", kTokenA, body,
                        {{"Content-Type", "application/json; charset=utf-8"},
                         {"Authorization", "Bearer secret-bearer"},
                         {"X-Custom", "kept"}});
  ASSERT_EQ(r.status, 200) << r.body << r.error;
  Answer first = Parse(r);
  ASSERT_EQ(first.id.size(), 36u) << r.body;
  EXPECT_EQ(first.id[14], '7') << "UUIDv7: " << first.id;
  EXPECT_EQ(first.seq, 1) << "the first event of a fresh store";
  EXPECT_FALSE(first.duplicate);

  // The same pointer key with another body: the original's id and seq, nothing stored.
  Answer again = Parse(PostOk(R"({"id":"evt-1","event":"payment.received","retry":true})"));
  EXPECT_EQ(again.id, first.id);
  EXPECT_EQ(again.seq, first.seq);
  EXPECT_TRUE(again.duplicate);

  // The header key wins over the pointer; a body with neither is keyed by its SHA-256.
  Answer by_header = Parse(PostOk(R"({"id":"evt-1","event":"payment.received"})", "header-key"));
  EXPECT_FALSE(by_header.duplicate);
  EXPECT_EQ(by_header.seq, 2);
  Answer hashed = Parse(PostOk(R"({"event":"booking.created"})"));
  Answer hashed_again = Parse(PostOk(R"({"event":"booking.created"})"));
  EXPECT_FALSE(hashed.duplicate);
  EXPECT_EQ(hashed.seq, 3);
  EXPECT_TRUE(hashed_again.duplicate);
  EXPECT_EQ(hashed_again.id, hashed.id);
  EXPECT_EQ(hashed_again.seq, hashed.seq);
  // The source's second token, and a vendor +json content type, are accepted.
  Answer rotated = Parse(Ingest("harmonics", kTokenB, R"({"id":"rot","event":"x"})"));
  EXPECT_EQ(rotated.seq, 4);
  Answer vendor = Parse(Ingest("harmonics", kTokenA, R"({"id":"vnd","event":"x"})",
                               {{"Content-Type", "application/vnd.harmonics+json"}}));
  EXPECT_EQ(vendor.seq, 5);

  // Five events stored, newest first; the duplicates stored nothing.
  HttpResult list = Get("/api/v1/events?limit=1000", kAuditor);
  ASSERT_EQ(list.status, 200) << list.body;
  rapidjson::Document events = Json(list.body);
  ASSERT_EQ(events["data"].Size(), 5u) << list.body;
  std::vector<std::string> ids;
  for (const auto& e : events["data"].GetArray()) ids.push_back(e["id"].GetString());
  EXPECT_EQ(ids, (std::vector<std::string>{vendor.id, rotated.id, hashed.id, by_header.id,
                                           first.id}));
  EXPECT_EQ(Count("/api/v1/events?idempotency_key=evt-1"), 1);

  // The event as stored: raw bytes, headers without credentials, key, type, address.
  HttpResult detail = Get("/api/v1/events/" + first.id, kAuditor);
  ASSERT_EQ(detail.status, 200) << detail.body;
  rapidjson::Document d = Json(detail.body);
  EXPECT_EQ(d["seq"].GetInt64(), first.seq);
  EXPECT_EQ(std::string(d["source"].GetString()), "harmonics");
  EXPECT_EQ(std::string(d["event_type"].GetString()), "payment.received");
  EXPECT_EQ(std::string(d["idempotency_key"].GetString()), "evt-1");
  EXPECT_EQ(std::string(d["remote_addr"].GetString()), "127.0.0.1");
  ASSERT_TRUE(d["headers"].IsObject()) << detail.body;
  EXPECT_FALSE(d["headers"].HasMember("x-auth-token")) << detail.body;
  EXPECT_FALSE(d["headers"].HasMember("authorization")) << detail.body;
  EXPECT_EQ(detail.body.find(kTokenA), std::string::npos);
  EXPECT_EQ(detail.body.find("secret-bearer"), std::string::npos);
  ASSERT_TRUE(d["headers"].HasMember("x-custom")) << detail.body;
  EXPECT_EQ(std::string(d["headers"]["x-custom"].GetString()), "kept");
  EXPECT_EQ(d["payload"]["n"].GetDouble(), 1.5);
  // One delivery per matching destination: billing (payment.*) and everything.
  std::set<std::string> destinations;
  for (const auto& del : d["deliveries"].GetArray()) {
    destinations.insert(del["destination"].GetString());
  }
  EXPECT_EQ(destinations, (std::set<std::string>{"billing", "everything"}));
  HttpResult payload = Get("/api/v1/events/" + first.id + "/payload", kAuditor);
  EXPECT_EQ(payload.status, 200);
  EXPECT_EQ(payload.body, body) << "the raw bytes as received";
  // A booking matches only "everything".
  HttpResult booking = Get("/api/v1/events/" + hashed.id, kAuditor);
  EXPECT_EQ(Json(booking.body)["deliveries"].Size(), 1u) << booking.body;
  EXPECT_EQ(Count("/api/v1/deliveries?limit=1000"), 2 + 2 + 1 + 1 + 1);

  // Every accepted request is in the request log, the duplicates as such.
  ASSERT_TRUE(WaitFor([&] { return Count("/api/v1/requests?status=200") == 7; }))
      << Get("/api/v1/requests", kAuditor).body;
  HttpResult log = Get("/api/v1/requests?status=200", kAuditor);
  int duplicates = 0;
  // Named: a range-for over Json(...)["data"] would walk an array freed with its temporary.
  rapidjson::Document log_json = Json(log.body);
  for (const auto& row : log_json["data"].GetArray()) {
    if (std::string(row["reason"].GetString()) == "duplicate") ++duplicates;
  }
  EXPECT_EQ(duplicates, 2) << log.body;
  EXPECT_EQ(Count("/api/v1/requests?rejected=true"), 0);
}

TEST_P(IngestSuite, RefusedRequestsAreAnsweredLoggedAndStoreNothing) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  ExpectProblem(Ingest("nope", kTokenA, "{}"), 404, "nope");
  ExpectProblem(Ingest("harmonics", "", R"({"event":"a"})"), 401, "missing");
  ExpectProblem(Ingest("harmonics", "suite-harmonics-token-wrong", R"({"event":"a"})"), 401,
                "does not match");
  // The peer is not a trusted proxy, so its X-Forwarded-For is ignored.
  ExpectProblem(Ingest("elsewhere", kTokenA, R"({"event":"a"})", {{"X-Forwarded-For", "10.1.2.3"}}),
                403, "127.0.0.1");
  ExpectProblem(PostOk(R"({"event":"a","pad":")" + std::string(5000, 'x') + "\"}"), 413, "4096");
  ExpectProblem(Ingest("harmonics", kTokenA, R"({"event":"a"})", {{"Content-Type", "text/plain"}}),
                415, "text/plain");
  ExpectProblem(PostOk(R"({"event": )"), 400, "invalid JSON");
  ExpectProblem(PostOk(std::string(129, '[') + std::string(129, ']')), 400, "deeper than 128");
  ExpectProblem(PostOk(R"({"id":"no-type"})"), 422, "/event");

  // Each refusal has its request-log row (written in the background), with no event.
  const std::multiset<int> refused = {404, 401, 401, 403, 413, 415, 400, 400, 422};
  std::multiset<int> logged;
  ASSERT_TRUE(WaitFor([&] {
    HttpResult r = Get("/api/v1/requests?rejected=true&limit=1000", kAuditor);
    logged.clear();
    rapidjson::Document d = Json(r.body);
    if (r.status != 200 || !d.IsObject()) return false;
    for (const auto& row : d["data"].GetArray()) {
      EXPECT_TRUE(row["event_id"].IsNull()) << r.body;
      logged.insert(row["status"].GetInt());
    }
    return logged == refused;
  })) << "logged " << logged.size() << " of " << refused.size() << ": "
      << Get("/api/v1/requests?rejected=true", kAuditor).body;

  // Nothing was stored: no event, no delivery, nothing on the feed.
  EXPECT_EQ(Count("/api/v1/events"), 0);
  EXPECT_EQ(Count("/api/v1/deliveries"), 0);
  HttpResult feed = Get("/api/v1/feed?after=0", kConsumer);
  ASSERT_EQ(feed.status, 200) << feed.body;
  EXPECT_EQ(Json(feed.body)["data"].Size(), 0u);
  // And no seq was used up: the next accepted event is the store's first.
  HttpResult ok = PostOk(R"({"id":"after-refusals","event":"x"})");
  ASSERT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(Parse(ok).seq, 1);
}

// 8 clients × 50 events at once: every post is answered 200 with its own seq, the seqs are
// exactly 1..400 (increasing, no gap, none twice), each client's seqs increase in the order it
// posted (a later post commits later), and the feed serves all 400 in that order.
TEST_P(IngestSuite, ConcurrentPostsTakeIncreasingGapFreeSeqs) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  constexpr int kThreads = 8;
  constexpr int kPerThread = 50;
  std::vector<std::vector<Answer>> answers(kThreads);
  std::vector<std::string> errors(kThreads);
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      HttpClient client;
      while (!go.load()) std::this_thread::yield();
      for (int i = 0; i < kPerThread; ++i) {
        HttpResult r = client.Request(
            "POST", Url("/webhooks/harmonics"),
            {{"x-auth-token", kTokenA}, {"Content-Type", "application/json"}},
            R"({"id":"c-)" + std::to_string(t) + "-" + std::to_string(i) +
                R"(","event":"payment.x"})");
        if (r.status != 200) {
          errors[t] = "post " + std::to_string(i) + ": " + std::to_string(r.status) + " " +
                      r.body + r.error;
          return;
        }
        answers[t].push_back(Parse(r));
      }
    });
  }
  go = true;
  for (std::thread& t : threads) t.join();
  std::map<int64_t, std::string> by_seq;
  for (int t = 0; t < kThreads; ++t) {
    ASSERT_EQ(errors[t], "") << "client " << t;
    ASSERT_EQ(answers[t].size(), static_cast<size_t>(kPerThread));
    for (size_t i = 0; i < answers[t].size(); ++i) {
      const Answer& a = answers[t][i];
      EXPECT_FALSE(a.duplicate);
      EXPECT_TRUE(by_seq.emplace(a.seq, a.id).second) << "seq " << a.seq << " answered twice";
      if (i > 0) {
        EXPECT_GT(a.seq, answers[t][i - 1].seq) << "client " << t << " post " << i;
      }
    }
  }
  constexpr int64_t kTotal = kThreads * kPerThread;
  ASSERT_EQ(by_seq.size(), static_cast<size_t>(kTotal));
  EXPECT_EQ(by_seq.begin()->first, 1);
  EXPECT_EQ(by_seq.rbegin()->first, kTotal) << "a gap in the seqs";

  // The feed, paged, serves exactly those events, ascending, without a gap.
  std::vector<std::pair<int64_t, std::string>> fed;
  int64_t after = 0;
  for (int page = 0; page < 20; ++page) {
    HttpResult r = Get("/api/v1/feed?limit=64&after=" + std::to_string(after), kConsumer);
    ASSERT_EQ(r.status, 200) << r.body;
    rapidjson::Document d = Json(r.body);
    if (d["data"].Empty()) break;
    for (const auto& e : d["data"].GetArray()) fed.emplace_back(e["seq"].GetInt64(), e["id"].GetString());
    after = d["next_after"].GetInt64();
  }
  ASSERT_EQ(fed.size(), static_cast<size_t>(kTotal));
  for (size_t i = 0; i < fed.size(); ++i) {
    ASSERT_EQ(fed[i].first, static_cast<int64_t>(i + 1));
    EXPECT_EQ(fed[i].second, by_seq[fed[i].first]);
  }
  EXPECT_EQ(Count("/api/v1/events?limit=1000"), kTotal);
}

// 50 clients post one idempotency key at once: one event, one original answer, every other
// answer a duplicate carrying its id and seq.
TEST_P(IngestSuite, ConcurrentPostsOfOneKeyStoreOneEvent) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  constexpr int kClients = 50;
  std::vector<HttpResult> results(kClients);
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (int i = 0; i < kClients; ++i) {
    threads.emplace_back([&, i] {
      HttpClient client;
      while (!go.load()) std::this_thread::yield();
      results[i] = client.Request("POST", Url("/webhooks/harmonics"),
                                  {{"x-auth-token", kTokenA},
                                   {"Content-Type", "application/json"},
                                   {"Idempotency-Key", "same-key"}},
                                  R"({"event":"payment.x","attempt":)" + std::to_string(i) + "}");
    });
  }
  go = true;
  for (std::thread& t : threads) t.join();
  std::set<std::pair<std::string, int64_t>> distinct;
  int originals = 0;
  for (const HttpResult& r : results) {
    ASSERT_EQ(r.status, 200) << r.body << r.error;
    Answer a = Parse(r);
    distinct.emplace(a.id, a.seq);
    if (!a.duplicate) ++originals;
  }
  EXPECT_EQ(distinct.size(), 1u);
  EXPECT_EQ(originals, 1);
  EXPECT_EQ(Count("/api/v1/events"), 1);
  EXPECT_EQ(Count("/api/v1/deliveries"), 2);  // billing and everything
  EXPECT_EQ(Count("/api/v1/events?idempotency_key=same-key"), 1);
}

INSTANTIATE_TEST_SUITE_P(Backends, IngestSuite, ::testing::ValuesIn(AllBackends()),
                         BackendTestName);

}  // namespace
}  // namespace hookvault::testing
