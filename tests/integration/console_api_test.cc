// The REST routes the operator console adds (GET /session, GET /consumers, POST
// /destinations/{name}/test, and the idempotency-key and rejected filters), end to end: the real
// binary on port 0, a real SQLite file, real HTTP and a real sink.
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <SQLiteCpp/SQLiteCpp.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <chrono>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "server/delivery/webhook_signature.h"
#include "tests/testing/db.h"
#include "tests/testing/http_client.h"
#include "tests/testing/server_process.h"
#include "tests/testing/sink_server.h"
#include "tests/testing/temp_dir.h"

namespace hookvault::testing {
namespace {

constexpr char kSourceToken[] = "console-source-token-0123456789";
constexpr char kAuditor[] = "console-auditor-token-0123456789";
constexpr char kOperator[] = "console-operator-token-0123456789";
constexpr char kWarehouse[] = "console-warehouse-token-0123456789";  // consumer: warehouse
constexpr char kBilling[] = "console-billing-token-0123456789";      // consumer: billing, crm
constexpr char kAdmin[] = "console-admin-token-0123456789";

using Headers = std::vector<std::pair<std::string, std::string>>;

rapidjson::Document Json(const std::string& text) {
  rapidjson::Document d;
  d.Parse(text.c_str(), text.size());
  return d;
}

bool WaitFor(const std::function<bool()>& condition, int seconds = 15) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return condition();
}

class ConsoleApiTest : public ::testing::Test {
 protected:
  void Start() {
    std::string config = R"({"listen": "127.0.0.1:0", "data_dir": ")" + dir_.path() +
                         R"(", "log": {"level": "info"},)" + root_extra_ + R"(
      "sources": [
        {"name": "pms", "tokens": [")" + kSourceToken + R"("], "event_type": "/event",
         "idempotency": {"pointer": "/id"}},
        {"name": "crm", "tokens": [")" + kSourceToken + R"("], "event_type": "/event",
         "idempotency": {"pointer": "/id"}}],
      "destinations": [)" + destinations_ + R"(],
      "api_tokens": [
        {"name": "audit-team", "token": ")" + kAuditor + R"(", "role": "auditor"},
        {"name": "ops", "token": ")" + kOperator + R"(", "role": "operator"},
        {"name": "wh", "token": ")" + kWarehouse + R"(", "role": "consumer",
         "consumers": ["warehouse"]},
        {"name": "bill", "token": ")" + kBilling + R"(", "role": "consumer",
         "consumers": ["billing", "crm-sync"]},
        {"name": "root", "token": ")" + kAdmin + R"(", "role": "admin"}]})";
    server_ = std::make_unique<ServerProcess>(
        std::vector<std::string>{"serve", "--config", dir_.Write("config.json", config)},
        dir_.File("server.log"));
    ASSERT_TRUE(server_->started()) << server_->Log();
  }

  HttpResult Get(const std::string& path, const std::string& token) {
    Headers h;
    if (!token.empty()) h.emplace_back("Authorization", "Bearer " + token);
    return client_.Request("GET", server_->Url(path), h);
  }

  HttpResult PostJson(const std::string& path, const std::string& token,
                      const std::string& body) {
    return client_.Request(
        "POST", server_->Url(path),
        {{"Authorization", "Bearer " + token}, {"Content-Type", "application/json"}}, body,
        30000);
  }

  // Posts one webhook; returns the HTTP status.
  int Ingest(const std::string& source, const std::string& key, const std::string& type,
             const std::string& token = kSourceToken) {
    return client_
        .Request("POST", server_->Url("/webhooks/" + source),
                 {{"x-auth-token", token}, {"Content-Type", "application/json"}},
                 R"({"id":")" + key + R"(","event":")" + type + R"("})")
        .status;
  }

  std::string destinations_ = "";
  std::string root_extra_ = "";  // members added at the config's root
  TempDir dir_;
  HttpClient client_;
  std::unique_ptr<ServerProcess> server_;
};

// ---- GET /api/v1/session ----

TEST_F(ConsoleApiTest, SessionSaysWhoEachTokenIsAndWhatItsRoleMay) {
  Start();
  struct Want {
    const char* token;
    const char* name;
    const char* role;
    bool read, reprocess, pull, consume;
    std::vector<std::string> consumers;
  };
  const std::vector<Want> wants = {
      {kAuditor, "audit-team", "auditor", true, false, true, false, {}},
      {kOperator, "ops", "operator", true, true, true, false, {}},
      {kBilling, "bill", "consumer", false, false, true, true, {"billing", "crm-sync"}},
      {kAdmin, "root", "admin", true, true, true, true, {}},
  };
  for (const Want& w : wants) {
    HttpResult r = Get("/api/v1/session", w.token);
    ASSERT_EQ(r.status, 200) << w.name << ": " << r.body;
    rapidjson::Document d = Json(r.body);
    ASSERT_TRUE(d.IsObject()) << r.body;
    EXPECT_STREQ(d["name"].GetString(), w.name);
    EXPECT_STREQ(d["role"].GetString(), w.role);
    EXPECT_EQ(d["may"]["read"].GetBool(), w.read) << w.name;
    EXPECT_EQ(d["may"]["reprocess"].GetBool(), w.reprocess) << w.name;
    EXPECT_EQ(d["may"]["pull"].GetBool(), w.pull) << w.name;
    EXPECT_EQ(d["may"]["consume"].GetBool(), w.consume) << w.name;
    std::vector<std::string> consumers;
    for (const auto& c : d["consumers"].GetArray()) consumers.emplace_back(c.GetString());
    EXPECT_EQ(consumers, w.consumers) << w.name;
  }
  // What `may` says is what the routes do.
  EXPECT_EQ(Get("/api/v1/events", kBilling).status, 403);
  EXPECT_EQ(Get("/api/v1/events", kAuditor).status, 200);
}

TEST_F(ConsoleApiTest, SessionRefusesAMissingOrWrongToken) {
  Start();
  HttpResult none = Get("/api/v1/session", "");
  EXPECT_EQ(none.status, 401) << none.body;
  EXPECT_EQ(none.headers["www-authenticate"], "Bearer realm=\"hookvault\"");
  EXPECT_EQ(Get("/api/v1/session", "not-a-token-0123456789").status, 401);
  EXPECT_EQ(Get("/api/v1/session?x=1", kAuditor).status, 400);
}

// ---- GET /api/v1/consumers ----

TEST_F(ConsoleApiTest, ConsumersListEveryConfiguredConsumerWithItsLag) {
  Start();
  for (int i = 0; i < 5; ++i) ASSERT_EQ(Ingest("pms", "k" + std::to_string(i), "a.b"), 200);
  HttpResult ack = PostJson("/api/v1/consumers/billing/ack", kBilling, R"({"seq": 3})");
  ASSERT_EQ(ack.status, 200) << ack.body;

  HttpResult r = Get("/api/v1/consumers", kAuditor);
  ASSERT_EQ(r.status, 200) << r.body;
  rapidjson::Document d = Json(r.body);
  ASSERT_TRUE(d.IsObject()) << r.body;
  EXPECT_EQ(d["latest_seq"].GetInt64(), 5);
  const auto& data = d["data"];
  ASSERT_EQ(data.Size(), 3u) << r.body;  // every consumer the config names, by name
  EXPECT_STREQ(data[0]["name"].GetString(), "billing");
  EXPECT_EQ(data[0]["cursor"].GetInt64(), 3);
  EXPECT_EQ(data[0]["lag"].GetInt64(), 2);
  EXPECT_TRUE(data[0]["updated_at"].IsString());
  EXPECT_STREQ(data[1]["name"].GetString(), "crm-sync");
  EXPECT_STREQ(data[2]["name"].GetString(), "warehouse");
  for (int i : {1, 2}) {
    EXPECT_EQ(data[i]["cursor"].GetInt64(), 0) << r.body;
    EXPECT_EQ(data[i]["lag"].GetInt64(), 5) << r.body;
  }
}

TEST_F(ConsoleApiTest, AConsumerTokenSeesOnlyItsOwnConsumers) {
  Start();
  ASSERT_EQ(Ingest("pms", "k1", "a.b"), 200);
  HttpResult r = Get("/api/v1/consumers", kWarehouse);
  ASSERT_EQ(r.status, 200) << r.body;
  rapidjson::Document d = Json(r.body);
  ASSERT_EQ(d["data"].Size(), 1u) << r.body;
  EXPECT_STREQ(d["data"][0]["name"].GetString(), "warehouse");
  EXPECT_EQ(d["data"][0]["lag"].GetInt64(), 1);
  EXPECT_TRUE(d["data"][0]["updated_at"].IsNull() || d["data"][0]["updated_at"].IsString());

  rapidjson::Document b = Json(Get("/api/v1/consumers", kBilling).body);
  std::set<std::string> names;
  for (const auto& c : b["data"].GetArray()) names.emplace(c["name"].GetString());
  EXPECT_EQ(names, (std::set<std::string>{"billing", "crm-sync"}));
  EXPECT_EQ(Get("/api/v1/consumers", "").status, 401);
}

// ---- search by idempotency key, rejected requests ----

std::vector<std::string> Strings(const rapidjson::Document& d, const char* field) {
  std::vector<std::string> out;
  if (!d.IsObject() || !d.HasMember("data")) return out;
  for (const auto& row : d["data"].GetArray()) {
    const auto& v = row[field];
    out.push_back(v.IsString() ? v.GetString() : std::to_string(v.GetInt64()));
  }
  return out;
}

TEST_F(ConsoleApiTest, EventsByIdempotencyKeyWithAndWithoutSource) {
  Start();
  ASSERT_EQ(Ingest("pms", "B-1042", "booking.created"), 200);
  ASSERT_EQ(Ingest("crm", "B-1042", "contact.updated"), 200);
  ASSERT_EQ(Ingest("pms", "B-1043", "booking.created"), 200);
  auto keys = [&](const std::string& query) {
    HttpResult r = Get("/api/v1/events?" + query, kAuditor);
    EXPECT_EQ(r.status, 200) << query << ": " << r.body;
    rapidjson::Document d = Json(r.body);
    std::vector<std::string> out;
    for (const std::string& source : Strings(d, "source")) out.push_back(source);
    std::vector<std::string> ks = Strings(d, "idempotency_key");
    for (size_t i = 0; i < out.size(); ++i) out[i] += "/" + ks[i];
    return out;
  };
  EXPECT_EQ(keys("idempotency_key=B-1042"),
            (std::vector<std::string>{"crm/B-1042", "pms/B-1042"}));
  EXPECT_EQ(keys("idempotency_key=B-1042&source=pms"), std::vector<std::string>{"pms/B-1042"});
  EXPECT_EQ(keys("idempotency_key=B-1042&type=contact.updated"),
            std::vector<std::string>{"crm/B-1042"});
  EXPECT_EQ(keys("idempotency_key=B-1043&source=crm"), std::vector<std::string>{});
  EXPECT_EQ(keys("idempotency_key=nope"), std::vector<std::string>{});
  EXPECT_EQ(Get("/api/v1/events?idempotency_key=", kAuditor).status, 400);
}

TEST_F(ConsoleApiTest, RequestsRejectedOnlyListsAnswersOfFourHundredAndMore) {
  Start();
  ASSERT_EQ(Ingest("pms", "r-1", "a"), 200);
  ASSERT_EQ(Ingest("pms", "r-2", "a", "wrong-token-0123456789"), 401);
  ASSERT_EQ(Ingest("crm", "r-3", "a"), 200);
  ASSERT_EQ(Ingest("nosuch", "r-4", "a"), 404);
  ASSERT_EQ(Ingest("crm", "r-5", "a", "wrong-token-0123456789"), 401);
  auto statuses = [&](const std::string& query) {
    HttpResult r = Get("/api/v1/requests?" + query, kAuditor);
    EXPECT_EQ(r.status, 200) << query << ": " << r.body;
    return Strings(Json(r.body), "status");
  };
  // Rejections are logged without holding up their answer: wait for the last one.
  ASSERT_TRUE(WaitFor([&] { return statuses("limit=10").size() == 5; }));
  // Rejected rows keep their order among themselves, not with the events' rows (they are
  // written in a transaction of their own, after the events' answers): compare as a set.
  std::vector<std::string> all = statuses("limit=10");
  std::sort(all.begin(), all.end());
  EXPECT_EQ(all, (std::vector<std::string>{"200", "200", "401", "401", "404"}));
  EXPECT_EQ(statuses("rejected=true"), (std::vector<std::string>{"401", "404", "401"}));
  EXPECT_EQ(statuses("rejected=true&source=crm"), std::vector<std::string>{"401"});
  EXPECT_EQ(statuses("rejected=true&status=404"), std::vector<std::string>{"404"});
  // Paging goes on among rejected requests only.
  rapidjson::Document first = Json(Get("/api/v1/requests?rejected=true&limit=2", kAuditor).body);
  ASSERT_TRUE(first["next_cursor"].IsString());
  EXPECT_EQ(statuses("rejected=true&limit=2&cursor=" +
                     std::string(first["next_cursor"].GetString())),
            std::vector<std::string>{"401"});
  EXPECT_EQ(Get("/api/v1/requests?rejected=false", kAuditor).status, 400);
  EXPECT_EQ(Get("/api/v1/requests?rejected=yes", kAuditor).status, 400);
}

// ---- POST /api/v1/destinations/{name}/test ----

constexpr char kSecret[] = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

class DestinationTestTest : public ConsoleApiTest {
 protected:
  void SetUp() override {
    sink_.SetHandler([this](const SinkRequest&) {
      SinkReply r;
      r.status = sink_status_.load();
      r.body = sink_status_.load() == 200 ? "thanks" : "down for maintenance";
      r.delay_ms = sink_delay_ms_.load();
      return r;
    });
  }

  void StartWith(const std::string& root_extra = "") {
    auto closed = std::make_unique<SinkServer>();
    std::string closed_url = closed->Url("/gone");
    closed.reset();  // nothing listens there any more
    destinations_ = R"({"name": "billing", "url": ")" + sink_.Url("/hooks?x=1") +
                    R"(", "signing_secret": ")" + kSecret + R"(", "timeout_ms": 5000},
        {"name": "closed", "url": ")" + closed_url + R"(", "timeout_ms": 2000})";
    root_extra_ = root_extra;
    Start();
  }

  HttpResult Test(const std::string& name, const std::string& token = kOperator,
                  const std::string& body = "") {
    return client_.Request("POST", server_->Url("/api/v1/destinations/" + name + "/test"),
                           {{"Authorization", "Bearer " + token},
                            {"Content-Type", "application/json"}},
                           body, 30000);
  }

  SinkServer sink_;
  std::atomic<int> sink_status_{200};
  std::atomic<int> sink_delay_ms_{0};
};

TEST_F(DestinationTestTest, ASignedTestEventReachesTheSinkAndIsAudited) {
  StartWith();
  HttpResult r = Test("billing", kOperator, R"({"reason": "after the cert change"})");
  ASSERT_EQ(r.status, 200) << r.body;
  rapidjson::Document d = Json(r.body);
  ASSERT_TRUE(d.IsObject()) << r.body;
  EXPECT_STREQ(d["destination"].GetString(), "billing");
  EXPECT_EQ(d["status"].GetInt(), 200);
  EXPECT_TRUE(d["error"].IsNull());
  EXPECT_STREQ(d["response_excerpt"].GetString(), "thanks");
  EXPECT_TRUE(d["duration_ms"].IsNumber());
  EXPECT_GE(d["duration_ms"].GetDouble(), 0.0);
  ASSERT_TRUE(d["audit_id"].IsInt64());

  // The sink got it as a real delivery is sent: the destination's URL, the Standard Webhooks
  // headers and a signature that verifies with the destination's secret.
  ASSERT_EQ(sink_.Count(), 1u);
  SinkRequest got = sink_.Requests()[0];
  EXPECT_EQ(got.path, "/hooks?x=1");
  const std::string webhook_id = got.headers.at("webhook-id");
  EXPECT_EQ(webhook_id.rfind("test_", 0), 0u) << webhook_id;
  EXPECT_STREQ(d["webhook_id"].GetString(), webhook_id.c_str());
  EXPECT_EQ(got.headers.at("x-hookvault-event-type"), "hookvault.test");
  EXPECT_EQ(got.headers.at("x-hookvault-source"), "hookvault");
  EXPECT_EQ(got.headers.at("x-hookvault-attempt"), "1");
  EXPECT_EQ(got.headers.at("content-type"), "application/json");
  EXPECT_EQ(got.headers.at("user-agent").rfind("hookvault/", 0), 0u);
  auto key = server::DecodeSigningSecret(kSecret);
  ASSERT_TRUE(key.ok());
  int64_t ts = std::stoll(got.headers.at("webhook-timestamp"));
  EXPECT_NEAR(ts, got.received_at_us / 1000000, 2);
  EXPECT_EQ(got.headers.at("webhook-signature"),
            server::SignWebhook(*key, webhook_id, ts, got.body).value());
  rapidjson::Document body = Json(got.body);
  ASSERT_TRUE(body.IsObject()) << got.body;
  EXPECT_STREQ(body["type"].GetString(), "hookvault.test");
  EXPECT_TRUE(body["test"].GetBool());
  EXPECT_STREQ(body["destination"].GetString(), "billing");
  EXPECT_TRUE(body["sent_at"].IsString());

  // Audited, and the chain still verifies.
  rapidjson::Document audit = Json(Get("/api/v1/audit", kAuditor).body);
  ASSERT_EQ(audit["data"].Size(), 1u) << "audit";
  const auto& row = audit["data"][0];
  EXPECT_EQ(row["id"].GetInt64(), d["audit_id"].GetInt64());
  EXPECT_STREQ(row["action"].GetString(), "destination.test");
  EXPECT_STREQ(row["actor"].GetString(), "ops");
  EXPECT_STREQ(row["reason"].GetString(), "after the cert change");
  ASSERT_TRUE(row["target"].IsObject());
  EXPECT_STREQ(row["target"]["destination"].GetString(), "billing");
  EXPECT_EQ(row["target"]["status"].GetInt(), 200);
  EXPECT_TRUE(row["target"]["error"].IsNull());
  EXPECT_STREQ(row["target"]["webhook_id"].GetString(), webhook_id.c_str());
  rapidjson::Document verify = Json(Get("/api/v1/audit/verify", kAuditor).body);
  EXPECT_TRUE(verify["ok"].GetBool());
  EXPECT_EQ(verify["rows"].GetInt64(), 1);

  // Nothing is stored as an event or a delivery.
  EXPECT_EQ(Json(Get("/api/v1/events", kAuditor).body)["data"].Size(), 0u);
  EXPECT_EQ(Json(Get("/api/v1/deliveries", kAuditor).body)["data"].Size(), 0u);
  // A clean stop (under --tsan, a race report would make it exit 66).
  EXPECT_EQ(server_->Signal(SIGTERM), 0) << server_->Log();
}

TEST_F(DestinationTestTest, AReceiverErrorIsAnsweredAsTheTestsResult) {
  sink_status_ = 500;
  StartWith();
  HttpResult r = Test("billing");
  ASSERT_EQ(r.status, 200) << r.body;
  rapidjson::Document d = Json(r.body);
  EXPECT_EQ(d["status"].GetInt(), 500);
  EXPECT_TRUE(d["error"].IsNull());
  EXPECT_STREQ(d["response_excerpt"].GetString(), "down for maintenance");
  rapidjson::Document audit = Json(Get("/api/v1/audit", kAuditor).body);
  ASSERT_EQ(audit["data"].Size(), 1u);
  EXPECT_STREQ(audit["data"][0]["action"].GetString(), "destination.test");
}

TEST_F(DestinationTestTest, NoReceiverIsAnErrorWithoutAStatus) {
  StartWith();
  HttpResult r = Test("closed", kAdmin);
  ASSERT_EQ(r.status, 200) << r.body;
  rapidjson::Document d = Json(r.body);
  EXPECT_TRUE(d["status"].IsNull()) << r.body;
  ASSERT_TRUE(d["error"].IsString()) << r.body;
  EXPECT_STRNE(d["error"].GetString(), "");
  EXPECT_STREQ(d["response_excerpt"].GetString(), "");
  rapidjson::Document audit = Json(Get("/api/v1/audit", kAuditor).body);
  ASSERT_EQ(audit["data"].Size(), 1u);
  EXPECT_STREQ(audit["data"][0]["actor"].GetString(), "root");
}

TEST_F(DestinationTestTest, OnlyOperatorsAndKnownDestinations) {
  StartWith();
  EXPECT_EQ(Test("billing", kAuditor).status, 403);
  EXPECT_EQ(Test("billing", kWarehouse).status, 403);
  EXPECT_EQ(Test("billing", "").status, 401);
  HttpResult unknown = Test("nosuch");
  EXPECT_EQ(unknown.status, 404) << unknown.body;
  EXPECT_EQ(unknown.headers["content-type"], "application/problem+json");
  EXPECT_EQ(Test("billing", kOperator, R"({"bogus": 1})").status, 400);
  EXPECT_EQ(Test("billing", kOperator, R"({"reason": ""})").status, 400);
  EXPECT_EQ(sink_.Count(), 0u);  // nothing refused was sent
  EXPECT_EQ(Json(Get("/api/v1/audit", kAuditor).body)["data"].Size(), 0u);
}

// One test at a time per destination; and no thread waits for the receiver: with a single query
// thread, the API still reads while a slow receiver holds a test.
TEST_F(DestinationTestTest, OneTestAtATimePerDestinationAndNoReadWaitsForIt) {
  sink_delay_ms_ = 3000;  // under billing's timeout_ms (5000)
  StartWith(R"("query_threads": 1,)");
  HttpResult first;
  std::atomic<bool> first_answered{false};
  std::thread slow([&] {
    HttpClient own;
    first = own.Request("POST", server_->Url("/api/v1/destinations/billing/test"),
                        {{"Authorization", std::string("Bearer ") + kOperator},
                         {"Content-Type", "application/json"}},
                        "", 30000);
    first_answered = true;
  });
  bool arrived = sink_.WaitForCount(1, std::chrono::seconds(10));
  HttpResult second = Test("billing");
  // The receiver holds the test for 3 s: a read that had to wait for it could not answer within
  // this client timeout.
  HttpClient reader;
  HttpResult read =
      reader.Request("GET", server_->Url("/api/v1/events"),
                     {{"Authorization", std::string("Bearer ") + kAuditor}}, "", 1500);
  bool read_before_the_test_answered = !first_answered.load();
  slow.join();
  ASSERT_TRUE(arrived) << first.status << " " << first.body << first.error;
  EXPECT_EQ(second.status, 409) << second.body;
  EXPECT_EQ(read.status, 200) << read.body << read.error;
  EXPECT_TRUE(read_before_the_test_answered);
  EXPECT_EQ(first.status, 200) << first.body;
  EXPECT_EQ(Json(first.body)["status"].GetInt(), 200);
  EXPECT_EQ(sink_.Count(), 1u);
  sink_delay_ms_ = 0;
  EXPECT_EQ(Test("billing").status, 200);  // once it answered, the next may go
  EXPECT_EQ(server_->Signal(SIGTERM), 0) << server_->Log();
}

// hookvault stops while a receiver holds a test event: the operator gets a 503 saying it was cut
// off (not a 200 with an error it made itself, not a reset connection), no audit row claims an
// outcome, and the process exits cleanly.
TEST_F(DestinationTestTest, AStopBeforeTheReceiverAnsweredIs503AndNotAudited) {
  sink_delay_ms_ = 4000;  // under billing's timeout_ms (5000)
  StartWith();
  HttpResult cut;
  std::thread operator_call([&] {
    HttpClient own;
    cut = own.Request("POST", server_->Url("/api/v1/destinations/billing/test"),
                      {{"Authorization", std::string("Bearer ") + kOperator},
                       {"Content-Type", "application/json"}},
                      "", 30000);
  });
  bool arrived = sink_.WaitForCount(1, std::chrono::seconds(10));
  int exit_code = server_->Signal(SIGTERM);
  operator_call.join();
  ASSERT_TRUE(arrived) << server_->Log();
  EXPECT_EQ(exit_code, 0) << server_->Log();
  EXPECT_EQ(cut.status, 503) << cut.body << cut.error;
  EXPECT_EQ(cut.headers["content-type"], "application/problem+json");
  EXPECT_FALSE(cut.headers["retry-after"].empty());
  EXPECT_NE(cut.body.find("cut off"), std::string::npos) << cut.body;
  SQLite::Database db(dir_.File("hookvault.db"), SQLite::OPEN_READONLY);
  EXPECT_EQ(db.execAndGet("SELECT COUNT(*) FROM audit_log WHERE action = 'destination.test'")
                .getInt(),
            0);
}

// The audit row cannot be written (the database is full): 503 with Retry-After, the detail says
// the event went out, and the chain still verifies.
TEST_F(DestinationTestTest, AnUnwritableAuditRowIs503SayingTheEventWasSent) {
  StartWith(R"("max_db_bytes": 1048576,)");
  {  // beyond the limit, from a connection of its own without it
    SQLite::Database c(dir_.File("hookvault.db"), SQLite::OPEN_READWRITE, 5000);
    c.exec("INSERT INTO service_state (key, value) VALUES ('test_ballast', zeroblob(1200000))");
  }
  HttpResult r;
  size_t sent = 0;
  // Each row fills its page a little more; the first that needs a new page is refused.
  for (int i = 0; i < 200; ++i) {
    r = Test("billing");
    ++sent;
    if (r.status != 200) break;
  }
  ASSERT_EQ(r.status, 503) << r.body;
  EXPECT_EQ(r.headers["retry-after"], "1");
  EXPECT_EQ(r.headers["content-type"], "application/problem+json");
  rapidjson::Document d = Json(r.body);
  std::string detail = d["detail"].GetString();
  EXPECT_NE(detail.find("was sent to billing (HTTP 200)"), std::string::npos) << detail;
  EXPECT_NE(detail.find("audit row could not be written"), std::string::npos) << detail;
  EXPECT_EQ(sink_.Count(), sent);  // the refused one went out too
  rapidjson::Document verify = Json(Get("/api/v1/audit/verify", kAuditor).body);
  EXPECT_TRUE(verify["ok"].GetBool());
  EXPECT_EQ(verify["rows"].GetInt64(), static_cast<int64_t>(sent - 1));
}

}  // namespace
}  // namespace hookvault::testing
