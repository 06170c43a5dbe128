// Every row of the contract's ingest table, produced over real HTTP by the real binary on a
// real SQLite file.
#include <SQLiteCpp/SQLiteCpp.h>
#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <signal.h>

#include <atomic>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/testing/db.h"
#include "tests/testing/http_client.h"
#include "tests/testing/server_process.h"
#include "tests/testing/temp_dir.h"

namespace hookvault::testing {
namespace {

constexpr char kTokenA[] = "harmonics-token-aaaaaaaaaaaa";
constexpr char kTokenB[] = "harmonics-token-bbbbbbbbbbbb";

std::string ConfigJson(const std::string& data_dir, const std::string& extra = "") {
  return R"({
    "listen": "127.0.0.1:0",
    "threads": 2,
    "data_dir": ")" +
         data_dir + R"(",
    "max_body_bytes": 4096,
    "log": {"level": "info"},)" +
         extra + R"(
    "sources": [
      {"name": "harmonics", "tokens": ["${HV_TEST_TOKEN_A}", ")" +
         kTokenB + R"("],
       "allow_ips": ["127.0.0.0/8", "::1"], "event_type": "/event",
       "idempotency": {"header": "Idempotency-Key", "pointer": "/id"},
       "required": ["/event"]},
      {"name": "elsewhere", "tokens": [")" +
         kTokenA + R"("], "allow_ips": ["10.0.0.0/8"]}
    ],
    "destinations": [
      {"name": "billing", "url": "http://127.0.0.1:9/hooks", "events": ["payment.*"]},
      {"name": "everything", "url": "http://127.0.0.1:9/all"}
    ]
  })";
}

rapidjson::Document Json(const std::string& body) {
  rapidjson::Document d;
  d.Parse(body.c_str());
  return d;
}

class IngestHttpTest : public ::testing::Test {
 protected:
  void SetUp() override { Start(); }

  void Start(const std::string& extra = "") {
    std::string config = dir_.Write("config.json", ConfigJson(dir_.path(), extra));
    server_ = std::make_unique<ServerProcess>(
        std::vector<std::string>{"serve", "--config", config}, dir_.File("server.log"),
        std::vector<std::string>{std::string("HV_TEST_TOKEN_A=") + kTokenA});
    ASSERT_TRUE(server_->started()) << server_->Log();
  }

  HttpResult Post(const std::string& body, std::vector<std::pair<std::string, std::string>> headers,
                  const std::string& source = "harmonics") {
    return client_.Request("POST", server_->Url("/webhooks/" + source), headers, body);
  }
  HttpResult PostOk(const std::string& body, const std::string& key = "") {
    std::vector<std::pair<std::string, std::string>> h = {{"x-auth-token", kTokenA},
                                                          {"Content-Type", "application/json"}};
    if (!key.empty()) h.emplace_back("Idempotency-Key", key);
    return Post(body, h);
  }
  std::string Db() const { return dir_.File("hookvault.db"); }

  // Asserts a problem+json body with the given status whose detail contains `needle`.
  static void ExpectProblem(const HttpResult& r, int status, const std::string& needle) {
    EXPECT_EQ(r.status, status) << r.body << r.error;
    EXPECT_EQ(r.headers.count("content-type") ? r.headers.at("content-type") : "",
              "application/problem+json");
    rapidjson::Document d = Json(r.body);
    ASSERT_TRUE(d.IsObject()) << r.body;
    EXPECT_EQ(d["status"].GetInt(), status);
    EXPECT_TRUE(d.HasMember("type") && d.HasMember("title"));
    EXPECT_NE(std::string(d["detail"].GetString()).find(needle), std::string::npos) << r.body;
  }

  TempDir dir_;
  std::unique_ptr<ServerProcess> server_;
  HttpClient client_;
};

TEST_F(IngestHttpTest, StoresNewEventWithRawBodyHeadersAndDeliveries) {
  const std::string body =
      "{ \"id\" : \"evt-1\",\n  \"event\": \"payment.received\", \"n\": 1.50 }";
  HttpResult r = Post(body, {{"x-auth-token", kTokenA},
                             {"Content-Type", "application/json; charset=utf-8"},
                             {"Authorization", "Bearer secret-bearer"},
                             {"X-Custom", "kept"}});
  ASSERT_EQ(r.status, 200) << r.body << r.error;
  rapidjson::Document d = Json(r.body);
  ASSERT_TRUE(d.IsObject());
  std::string id = d["id"].GetString();
  EXPECT_EQ(id.size(), 36u);
  EXPECT_EQ(id[14], '7') << "UUIDv7";
  EXPECT_GE(d["seq"].GetInt64(), 1);
  EXPECT_FALSE(d["duplicate"].GetBool());

  EXPECT_EQ(QueryText(Db(), "SELECT body FROM events WHERE id = ?", id), body);
  EXPECT_EQ(QueryText(Db(), "SELECT event_type FROM events WHERE id = ?", id), "payment.received");
  EXPECT_EQ(QueryText(Db(), "SELECT idempotency_key FROM events WHERE id = ?", id), "evt-1");
  EXPECT_EQ(QueryText(Db(), "SELECT remote_addr FROM events WHERE id = ?", id), "127.0.0.1");
  EXPECT_EQ(QueryText(Db(), "SELECT status FROM events WHERE id = ?", id), "pending");
  std::string headers = QueryText(Db(), "SELECT headers FROM events WHERE id = ?", id);
  EXPECT_EQ(headers.find("x-auth-token"), std::string::npos) << headers;
  EXPECT_EQ(headers.find(kTokenA), std::string::npos) << headers;
  EXPECT_EQ(headers.find("secret-bearer"), std::string::npos) << headers;
  EXPECT_NE(headers.find("\"x-custom\":\"kept\""), std::string::npos) << headers;
  // One delivery per matching destination: billing (payment.*) and everything.
  EXPECT_EQ(QueryInt(Db(),
                     "SELECT count(*) FROM deliveries d JOIN events e ON e.seq = d.event_seq "
                     "WHERE e.id = ? AND d.status = 'pending'",
                     id),
            2);
  EXPECT_EQ(
      QueryInt(Db(), "SELECT count(*) FROM request_log WHERE status = 200 AND event_id = ?", id),
      1);
}

TEST_F(IngestHttpTest, DeliveriesFollowDestinationFilters) {
  // "everything" matches every event, "billing" only payment.*: a booking gets one delivery.
  HttpResult r = PostOk(R"({"id":"b-1","event":"booking.created"})");
  ASSERT_EQ(r.status, 200) << r.body;
  std::string id = Json(r.body)["id"].GetString();
  EXPECT_EQ(QueryInt(Db(),
                     "SELECT count(*) FROM deliveries d JOIN events e ON e.seq = d.event_seq "
                     "WHERE e.id = ?",
                     id),
            1);
}

TEST_F(IngestHttpTest, SecondTokenOfASourceIsAccepted) {
  HttpResult r = Post(R"({"id":"rot","event":"x"})",
                      {{"x-auth-token", kTokenB}, {"Content-Type", "application/json"}});
  EXPECT_EQ(r.status, 200) << r.body;
}

TEST_F(IngestHttpTest, DuplicateKeyAnswersOriginalIdAndStoresNothing) {
  HttpResult first = PostOk(R"({"id":"dup-1","event":"a"})");
  ASSERT_EQ(first.status, 200);
  // Same pointer key, different body: still the same event.
  HttpResult second = PostOk(R"({"id":"dup-1","event":"a","retry":true})");
  ASSERT_EQ(second.status, 200) << second.body;
  EXPECT_EQ(Json(second.body)["id"].GetString(), std::string(Json(first.body)["id"].GetString()));
  EXPECT_EQ(Json(second.body)["seq"].GetInt64(), Json(first.body)["seq"].GetInt64());
  EXPECT_TRUE(Json(second.body)["duplicate"].GetBool());
  EXPECT_EQ(QueryInt(Db(), "SELECT count(*) FROM events"), 1);
  EXPECT_EQ(QueryInt(Db(), "SELECT count(*) FROM request_log WHERE reason = 'duplicate'"), 1);

  // The header key wins over the pointer; a body without either is keyed by its hash.
  HttpResult h1 = PostOk(R"({"id":"dup-1","event":"a"})", "header-key");
  EXPECT_FALSE(Json(h1.body)["duplicate"].GetBool());
  HttpResult n1 = PostOk(R"({"event":"no-id"})");
  HttpResult n2 = PostOk(R"({"event":"no-id"})");
  EXPECT_FALSE(Json(n1.body)["duplicate"].GetBool());
  EXPECT_TRUE(Json(n2.body)["duplicate"].GetBool());
  EXPECT_EQ(QueryInt(Db(), "SELECT count(*) FROM events"), 3);
}

TEST_F(IngestHttpTest, UnknownSourceIs404) {
  ExpectProblem(
      Post("{}", {{"x-auth-token", kTokenA}, {"Content-Type", "application/json"}}, "nope"), 404,
      "nope");
}

TEST_F(IngestHttpTest, MissingOrWrongTokenIs401) {
  ExpectProblem(Post(R"({"event":"a"})", {{"Content-Type", "application/json"}}), 401, "missing");
  ExpectProblem(Post(R"({"event":"a"})", {{"x-auth-token", "harmonics-token-wrong"},
                                          {"Content-Type", "application/json"}}),
                401, "does not match");
  EXPECT_EQ(QueryInt(Db(), "SELECT count(*) FROM events"), 0);
}

TEST_F(IngestHttpTest, AddressOutsideAllowListIs403) {
  ExpectProblem(Post(R"({"event":"a"})",
                     {{"x-auth-token", kTokenA},
                      {"Content-Type", "application/json"},
                      {"X-Forwarded-For", "10.1.2.3"}},  // ignored: the peer is not trusted
                     "elsewhere"),
                403, "127.0.0.1");
}

TEST_F(IngestHttpTest, BodyOverLimitIs413) {
  std::string big = R"({"event":"a","pad":")" + std::string(5000, 'x') + "\"}";
  ExpectProblem(Post(big, {{"x-auth-token", kTokenA}, {"Content-Type", "application/json"}}), 413,
                "4096");
}

TEST_F(IngestHttpTest, NonJsonContentTypeIs415) {
  ExpectProblem(
      Post(R"({"event":"a"})", {{"x-auth-token", kTokenA}, {"Content-Type", "text/plain"}}), 415,
      "text/plain");
  HttpResult vendor =
      Post(R"({"event":"a"})",
           {{"x-auth-token", kTokenA}, {"Content-Type", "application/vnd.harmonics+json"}});
  EXPECT_EQ(vendor.status, 200) << vendor.body;
}

TEST_F(IngestHttpTest, InvalidOrTooDeepJsonIs400) {
  std::vector<std::pair<std::string, std::string>> h = {{"x-auth-token", kTokenA},
                                                        {"Content-Type", "application/json"}};
  ExpectProblem(Post(R"({"event": )", h), 400, "invalid JSON");
  std::string deep = std::string(129, '[') + std::string(129, ']');
  ExpectProblem(Post(deep, h), 400, "deeper than 128");
  EXPECT_EQ(QueryInt(Db(), "SELECT count(*) FROM events"), 0);
}

TEST_F(IngestHttpTest, MissingRequiredFieldIs422NamingThePointer) {
  ExpectProblem(PostOk(R"({"id":"x"})"), 422, "/event");
}

TEST_F(IngestHttpTest, EveryRejectedRequestIsInTheRequestLog) {
  (void)Post("{}", {{"Content-Type", "application/json"}});                       // 401
  (void)Post("{}", {{"x-auth-token", kTokenA}, {"Content-Type", "text/plain"}});  // 415
  (void)PostOk(R"({"id":"x"})");                                                  // 422
  (void)Post("{}", {{"x-auth-token", kTokenA}, {"Content-Type", "application/json"}}, "nope");
  // The log rows are written by the writer in the background: wait for them briefly.
  for (int i = 0; i < 100 && QueryInt(Db(), "SELECT count(*) FROM request_log") < 4; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(
      QueryInt(Db(),
               "SELECT count(*) FROM request_log WHERE status = 401 AND source = 'harmonics'"),
      1);
  EXPECT_EQ(QueryInt(Db(), "SELECT count(*) FROM request_log WHERE status = 415"), 1);
  EXPECT_EQ(
      QueryInt(Db(),
               "SELECT count(*) FROM request_log WHERE status = 422 AND reason = 'missing-field'"),
      1);
  EXPECT_EQ(
      QueryInt(Db(), "SELECT count(*) FROM request_log WHERE status = 404 AND source = 'nope'"), 1);
}

TEST_F(IngestHttpTest, UnknownPathIs404AndWrongMethodIs405) {
  HttpResult r = client_.Request("GET", server_->Url("/nothing-here"));
  ExpectProblem(r, 404, "/nothing-here");
  HttpResult m = client_.Request("DELETE", server_->Url("/webhooks/harmonics"));
  ExpectProblem(m, 405, "DELETE");
  EXPECT_EQ(m.headers["allow"], "POST");
}

TEST_F(IngestHttpTest, HealthAndReadiness) {
  EXPECT_EQ(client_.Request("GET", server_->Url("/healthz")).status, 200);
  HttpResult ready = client_.Request("GET", server_->Url("/readyz"));
  EXPECT_EQ(ready.status, 200) << ready.body;
}

TEST_F(IngestHttpTest, HundredConcurrentRequestsWithOneKeyStoreOneEvent) {
  std::vector<std::thread> threads;
  std::vector<HttpResult> results(100);
  std::atomic<bool> go{false};
  for (int i = 0; i < 100; ++i) {
    threads.emplace_back([&, i] {
      HttpClient c;
      while (!go.load()) std::this_thread::yield();
      results[i] = c.Request("POST", server_->Url("/webhooks/harmonics"),
                             {{"x-auth-token", kTokenA},
                              {"Content-Type", "application/json"},
                              {"Idempotency-Key", "same-key"}},
                             R"({"event":"payment.x","attempt":)" + std::to_string(i) + "}");
    });
  }
  go = true;
  for (auto& t : threads) t.join();
  std::set<std::string> ids;
  int originals = 0;
  for (const HttpResult& r : results) {
    ASSERT_EQ(r.status, 200) << r.body << r.error;
    rapidjson::Document d = Json(r.body);
    ids.insert(d["id"].GetString());
    if (!d["duplicate"].GetBool()) ++originals;
  }
  EXPECT_EQ(ids.size(), 1u);
  EXPECT_EQ(originals, 1);
  EXPECT_EQ(QueryInt(Db(), "SELECT count(*) FROM events"), 1);
  EXPECT_EQ(QueryInt(Db(), "SELECT count(*) FROM deliveries"), 2);
}

TEST_F(IngestHttpTest, SigtermDrainsAndExitsZero) {
  HttpResult r = PostOk(R"({"id":"before-stop","event":"a"})");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(server_->Signal(SIGTERM), 0) << server_->Log();
  EXPECT_NE(server_->Log().find("stopped:"), std::string::npos);
}

// From a trusted proxy, the client address is the rightmost X-Forwarded-For entry that is not
// itself a trusted proxy; it is what allow_ips checks and what is stored.
TEST(IngestProxyTest, ForwardedAddressFromATrustedProxyIsCheckedAndStored) {
  TempDir dir;
  std::string config = dir.Write("config.json", R"({
    "listen": "127.0.0.1:0", "data_dir": ")" + dir.path() +
                                                    R"(",
    "trusted_proxies": ["127.0.0.1/32", "10.0.0.0/8"],
    "sources": [{"name": "pms", "tokens": [")" + std::string(kTokenA) +
                                                    R"("],
                 "allow_ips": ["203.0.113.0/24"]}]
  })");
  ServerProcess server({"serve", "--config", config}, dir.File("server.log"));
  ASSERT_TRUE(server.started()) << server.Log();
  HttpClient client;
  auto post = [&](const std::string& forwarded_for) {
    std::vector<std::pair<std::string, std::string>> h = {{"x-auth-token", kTokenA},
                                                          {"Content-Type", "application/json"}};
    if (!forwarded_for.empty()) h.emplace_back("X-Forwarded-For", forwarded_for);
    return client.Request("POST", server.Url("/webhooks/pms"), h,
                          R"({"via":")" + forwarded_for + R"("})");
  };
  // The client chose the left entry; the proxy chain appended the real address and 10.1.1.1.
  HttpResult allowed = post("198.51.100.9, 203.0.113.7, 10.1.1.1");
  ASSERT_EQ(allowed.status, 200) << allowed.body;
  rapidjson::Document d = Json(allowed.body);
  EXPECT_EQ(QueryText(dir.File("hookvault.db"), "SELECT remote_addr FROM events WHERE id = ?",
                      d["id"].GetString()),
            "203.0.113.7");
  // A spoofed allowed address on the left does not help a client outside the list.
  EXPECT_EQ(post("203.0.113.7, 198.51.100.9").status, 403);
  // Without the header the proxy itself is the client, and it is not allowed.
  EXPECT_EQ(post("").status, 403);
}

// A database that can grow no further behaves like a full disk: 503 with Retry-After, nothing
// acknowledged that is not stored, and /readyz unready.
TEST(IngestStorageFullTest, FullDatabaseAnswers503AndAcknowledgesOnlyStoredEvents) {
  TempDir dir;
  std::string config =
      dir.Write("config.json", ConfigJson(dir.path(), R"("max_db_bytes": 1048576,)"));
  ServerProcess server({"serve", "--config", config}, dir.File("server.log"),
                       {std::string("HV_TEST_TOKEN_A=") + kTokenA});
  ASSERT_TRUE(server.started()) << server.Log();
  HttpClient client;
  EXPECT_EQ(client.Request("GET", server.Url("/readyz")).status, 200);
  std::vector<std::string> acked;
  HttpResult last;
  std::string pad(1500, 'p');
  for (int i = 0; i < 2000; ++i) {
    last = client.Request(
        "POST", server.Url("/webhooks/harmonics"),
        {{"x-auth-token", kTokenA}, {"Content-Type", "application/json"}},
        R"({"id":"full-)" + std::to_string(i) + R"(","event":"a","pad":")" + pad + "\"}");
    if (last.status != 200) break;
    acked.push_back(Json(last.body)["id"].GetString());
  }
  ASSERT_EQ(last.status, 503) << last.body << last.error;
  EXPECT_EQ(last.headers["retry-after"], "1");
  EXPECT_EQ(last.headers["content-type"], "application/problem+json");
  EXPECT_GT(acked.size(), 10u);
  HttpResult ready = client.Request("GET", server.Url("/readyz"));
  EXPECT_EQ(ready.status, 503) << "last ingest answer: " << last.body << "\nreadyz: " << ready.body
                               << "\n"
                               << server.Log();
  std::string db = dir.File("hookvault.db");
  EXPECT_EQ(QueryInt(db, "SELECT count(*) FROM events"), static_cast<int64_t>(acked.size()));
  for (const std::string& id : acked) {
    ASSERT_EQ(QueryInt(db, "SELECT count(*) FROM events WHERE id = ?", id), 1) << id;
  }
  EXPECT_EQ(QueryText(db, "PRAGMA integrity_check"), "ok");
}

// The whole disk-full cycle on one running server: the database fills up (max_db_bytes makes
// SQLite answer SQLITE_FULL as a full disk would), ingest answers 503 with Retry-After and
// acknowledges nothing it did not store, /readyz turns unready; then space comes back (another
// connection deletes a ballast row, returning its pages to the free list) and, without a
// restart, /readyz turns ready and ingest stores again.
TEST(IngestStorageFullTest, ServiceResumesByItselfWhenSpaceReturns) {
  TempDir dir;
  std::string config =
      dir.Write("config.json", ConfigJson(dir.path(), R"("max_db_bytes": 1048576,)"));
  ServerProcess server({"serve", "--config", config}, dir.File("server.log"),
                       {std::string("HV_TEST_TOKEN_A=") + kTokenA});
  ASSERT_TRUE(server.started()) << server.Log();
  std::string db = dir.File("hookvault.db");
  auto exec = [&](const std::string& sql) {  // a connection of its own, without the size limit
    SQLite::Database c(db, SQLite::OPEN_READWRITE, 5000);
    c.exec(sql);
  };
  exec("INSERT INTO service_state (key, value) VALUES ('test_ballast', zeroblob(400000))");

  HttpClient client;
  auto post = [&](const std::string& key) {
    return client.Request("POST", server.Url("/webhooks/harmonics"),
                          {{"x-auth-token", kTokenA}, {"Content-Type", "application/json"}},
                          R"({"id":")" + key + R"(","event":"a","pad":")" +
                              std::string(1500, 'p') + "\"}");
  };
  std::vector<std::string> acked, refused;  // idempotency keys
  HttpResult last;
  for (int i = 0; i < 2000 && refused.size() < 5; ++i) {
    std::string key = "cycle-" + std::to_string(i);
    last = post(key);
    if (last.status == 200) {
      acked.push_back(key);
    } else {
      ASSERT_EQ(last.status, 503) << last.body << last.error;
      EXPECT_EQ(last.headers["retry-after"], "1");
      refused.push_back(key);
    }
  }
  ASSERT_EQ(refused.size(), 5u) << "the database never filled up";
  ASSERT_GT(acked.size(), 10u);
  EXPECT_EQ(client.Request("GET", server.Url("/readyz")).status, 503);
  // No false 200 and no half-stored 503.
  EXPECT_EQ(QueryInt(db, "SELECT count(*) FROM events"), static_cast<int64_t>(acked.size()));
  for (const std::string& key : acked) {
    ASSERT_EQ(QueryInt(db, "SELECT count(*) FROM events WHERE idempotency_key = ?", key), 1);
  }
  for (const std::string& key : refused) {
    ASSERT_EQ(QueryInt(db, "SELECT count(*) FROM events WHERE idempotency_key = ?", key), 0);
  }

  exec("DELETE FROM service_state WHERE key = 'test_ballast'");  // space returns
  int ready = 0;
  for (int i = 0; i < 100 && ready != 200; ++i) {
    ready = client.Request("GET", server.Url("/readyz")).status;
    if (ready != 200) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_EQ(ready, 200) << server.Log();
  // The refused webhooks, sent again, are stored now, as new events (never stored before).
  for (const std::string& key : refused) {
    HttpResult r = post(key);
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_FALSE(Json(r.body)["duplicate"].GetBool()) << key;
  }
  EXPECT_EQ(QueryInt(db, "SELECT count(*) FROM events"),
            static_cast<int64_t>(acked.size() + refused.size()));
  EXPECT_EQ(QueryText(db, "PRAGMA integrity_check"), "ok");
}

// request_log.keep_rejected_bodies: a rejected request's body, cut at kept_body_bytes, is in
// its request-log row and in GET /api/v1/requests; accepted requests keep none there.
TEST(IngestRejectedBodyTest, KeptWhenSwitchedOnAndCapped) {
  TempDir dir;
  constexpr char kAuditToken[] = "audit-token-0123456789abcdef";
  std::string config = dir.Write(
      "config.json",
      ConfigJson(dir.path(),
                 R"("request_log": {"keep_rejected_bodies": true, "kept_body_bytes": 16},
                    "api_tokens": [{"name": "audit", "token": ")" +
                     std::string(kAuditToken) + R"(", "role": "auditor"}],)"));
  ServerProcess server({"serve", "--config", config}, dir.File("server.log"),
                       {std::string("HV_TEST_TOKEN_A=") + kTokenA});
  ASSERT_TRUE(server.started()) << server.Log();
  HttpClient client;
  const std::string body = R"({"id":"r1","event":"a","note":"wrong token"})";
  EXPECT_EQ(client
                .Request("POST", server.Url("/webhooks/harmonics"),
                         {{"x-auth-token", "not-the-token"}, {"Content-Type", "application/json"}},
                         body)
                .status,
            401);
  EXPECT_EQ(client
                .Request("POST", server.Url("/webhooks/harmonics"),
                         {{"x-auth-token", kTokenA}, {"Content-Type", "application/json"}},
                         "{\"bad\xff")
                .status,
            400);
  HttpResult stored = client.Request(
      "POST", server.Url("/webhooks/harmonics"),
      {{"x-auth-token", kTokenA}, {"Content-Type", "application/json"}}, body);
  ASSERT_EQ(stored.status, 200) << stored.body;

  std::string db = dir.File("hookvault.db");
  for (int i = 0; i < 100 && QueryInt(db, "SELECT count(*) FROM request_log") < 3; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(QueryText(db, "SELECT CAST(body AS TEXT) FROM request_log WHERE status = 401"),
            body.substr(0, 16));
  EXPECT_EQ(QueryInt(db, "SELECT body IS NULL FROM request_log WHERE status = 200"), 1);

  HttpResult list = client.Request("GET", server.Url("/api/v1/requests"),
                                   {{"Authorization", std::string("Bearer ") + kAuditToken}});
  ASSERT_EQ(list.status, 200) << list.body;
  rapidjson::Document d = Json(list.body);
  ASSERT_TRUE(d.IsObject() && d["data"].IsArray()) << list.body;
  ASSERT_EQ(d["data"].Size(), 3u) << list.body;
  for (const auto& row : d["data"].GetArray()) {
    int status = row["status"].GetInt();
    if (status == 200) {
      EXPECT_TRUE(row["body"].IsNull());
      EXPECT_FALSE(row["body_truncated"].GetBool());
    } else if (status == 401) {
      EXPECT_EQ(std::string(row["body"].GetString()), body.substr(0, 16));
      EXPECT_TRUE(row["body_truncated"].GetBool());
    } else {
      EXPECT_EQ(status, 400);
      EXPECT_EQ(std::string(row["body"].GetString()), "{\"bad\xEF\xBF\xBD");  // U+FFFD
      EXPECT_FALSE(row["body_truncated"].GetBool());
    }
  }
}

// Returns the value of the /metrics sample `series` (name with labels), or -1.
double MetricSample(const std::string& text, const std::string& series) {
  size_t at = text.find("\n" + series + " ");
  if (at == std::string::npos) return -1;
  return std::stod(text.substr(at + series.size() + 2));
}

// Finding: every rejected request became a durable row, so a flood without a token could fill
// the disk. Through the real binary: a flood of 401s from one address stores at most its
// budget (two budgets if a minute starts during the test), every other one is counted in
// /metrics, accepted webhooks are stored and answered 200 all along, and an unknown source's
// 20 KiB name is stored cut to 128 bytes.
TEST(IngestRequestLogBudgetTest, AFloodOfRejectedRequestsStoresOnlyItsBudget) {
  TempDir dir;
  std::string config = dir.Write(
      "config.json",
      ConfigJson(dir.path(), R"("request_log": {"rejected_rows_per_address_per_minute": 20,
                                                "rejected_rows_per_minute": 100},)"));
  ServerProcess server({"serve", "--config", config}, dir.File("server.log"),
                       {std::string("HV_TEST_TOKEN_A=") + kTokenA});
  ASSERT_TRUE(server.started()) << server.Log();
  HttpClient client;
  HttpResult unknown =
      client.Request("POST", server.Url("/webhooks/" + std::string(20000, 'u')),
                     {{"x-auth-token", kTokenA}, {"Content-Type", "application/json"}}, "{}");
  EXPECT_EQ(unknown.status, 404) << unknown.body << unknown.error;

  constexpr int kRejected = 300;
  int accepted = 0;
  for (int i = 0; i < kRejected; ++i) {
    HttpResult bad = client.Request(
        "POST", server.Url("/webhooks/harmonics"),
        {{"x-auth-token", "not-the-token-at-all"}, {"Content-Type", "application/json"}}, "{}");
    ASSERT_EQ(bad.status, 401) << bad.body << bad.error;
    if (i % 10 == 0) {
      HttpResult ok =
          client.Request("POST", server.Url("/webhooks/harmonics"),
                         {{"x-auth-token", kTokenA}, {"Content-Type", "application/json"}},
                         R"({"id":"flood-)" + std::to_string(i) + R"(","event":"a"})");
      ASSERT_EQ(ok.status, 200) << ok.body << ok.error;
      ++accepted;
    }
  }
  std::string db = dir.File("hookvault.db");
  // The rows are written in the background; the metrics count the dropped ones at once.
  std::string metrics;
  double dropped = -1;
  int64_t stored = -1;
  for (int i = 0; i < 200; ++i) {
    metrics = client.Request("GET", server.Url("/metrics")).body;
    dropped = MetricSample(metrics, "hookvault_request_log_dropped_total{reason=\"address\"}");
    stored = QueryInt(db, "SELECT count(*) FROM request_log WHERE status = 401");
    if (stored + static_cast<int64_t>(dropped) == kRejected) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(stored + static_cast<int64_t>(dropped), kRejected) << metrics;
  EXPECT_GE(stored, 19);  // the 404 above took one row of the address's budget
  EXPECT_LE(stored, 40);
  EXPECT_EQ(QueryInt(db, "SELECT count(*) FROM events"), accepted);
  EXPECT_EQ(QueryInt(db, "SELECT count(*) FROM request_log WHERE status = 200"), accepted);
  for (int i = 0;
       i < 100 && QueryInt(db, "SELECT count(*) FROM request_log WHERE status = 404") < 1; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(QueryInt(db, "SELECT max(length(source)) FROM request_log WHERE status = 404"), 128);
}

// An acknowledged event survives SIGKILL: after a restart every acknowledged key is answered
// as a duplicate with its original id, and the database holds exactly those events.
TEST(IngestCrashTest, AcknowledgedEventsSurviveSigkill) {
  TempDir dir;
  std::string config = dir.Write("config.json", ConfigJson(dir.path()));
  std::vector<std::string> env = {std::string("HV_TEST_TOKEN_A=") + kTokenA};
  auto server = std::make_unique<ServerProcess>(
      std::vector<std::string>{"serve", "--config", config}, dir.File("server.log"), env);
  ASSERT_TRUE(server->started()) << server->Log();

  constexpr int kThreads = 8;
  constexpr int kPerThread = 50;
  std::vector<std::vector<std::pair<std::string, std::string>>> acked(kThreads);  // key, id
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      HttpClient c;
      for (int i = 0; i < kPerThread; ++i) {
        std::string key = "crash-" + std::to_string(t) + "-" + std::to_string(i);
        HttpResult r = c.Request("POST", server->Url("/webhooks/harmonics"),
                                 {{"x-auth-token", kTokenA}, {"Content-Type", "application/json"}},
                                 R"({"id":")" + key + R"(","event":"a"})");
        if (r.status == 200) acked[t].emplace_back(key, Json(r.body)["id"].GetString());
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(server->Signal(SIGKILL), 128 + SIGKILL);

  server = std::make_unique<ServerProcess>(std::vector<std::string>{"serve", "--config", config},
                                           dir.File("server2.log"), env);
  ASSERT_TRUE(server->started()) << server->Log();
  HttpClient c;
  size_t total = 0;
  for (const auto& per_thread : acked) {
    for (const auto& [key, id] : per_thread) {
      ++total;
      HttpResult r = c.Request("POST", server->Url("/webhooks/harmonics"),
                               {{"x-auth-token", kTokenA}, {"Content-Type", "application/json"}},
                               R"({"id":")" + key + R"(","event":"a"})");
      ASSERT_EQ(r.status, 200) << r.body;
      rapidjson::Document d = Json(r.body);
      EXPECT_TRUE(d["duplicate"].GetBool()) << key;
      EXPECT_EQ(d["id"].GetString(), id) << key;
    }
  }
  EXPECT_EQ(total, static_cast<size_t>(kThreads * kPerThread));
  EXPECT_EQ(QueryInt(dir.File("hookvault.db"), "SELECT count(*) FROM events"),
            static_cast<int64_t>(total));
}

}  // namespace
}  // namespace hookvault::testing
