// GET /api/v1/stats and GET /api/v1/destinations end to end: the real binary (its stats sampler
// ticking every 50 ms through the tests-only HOOKVAULT_STATS_TICK_MS), real HTTP, and two real
// sinks, one accepting and one answering 500.
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <thread>

#include "tests/testing/http_client.h"
#include "tests/testing/server_process.h"
#include "tests/testing/sink_server.h"
#include "tests/testing/temp_dir.h"

namespace hookvault::testing {
namespace {

constexpr char kSourceToken[] = "stats-source-token-0123456789";
constexpr char kAuditor[] = "stats-auditor-token-0123456789";
constexpr char kOperator[] = "stats-operator-token-0123456789";
constexpr char kConsumer[] = "stats-consumer-token-0123456789";
constexpr char kSecret[] = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
constexpr char kUrlPassword[] = "url-pass-5ecret";
constexpr char kUrlQuerySecret[] = "query-5ecret";

bool WaitFor(const std::function<bool()>& condition, int seconds = 20) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return condition();
}

class StatsApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    failing_.SetHandler([](const SinkRequest&) {
      SinkReply reply;
      reply.status = 500;
      reply.body = "down for maintenance";
      return reply;
    });
    std::string down_url = "http://hookvault:" + std::string(kUrlPassword) +
                           "@127.0.0.1:" + std::to_string(failing_.port()) +
                           "/down?token=" + kUrlQuerySecret;
    std::string config = R"({"listen": "127.0.0.1:0", "data_dir": ")" + dir_.path() + R"(",
      "sources": [{"name": "pms", "tokens": [")" +
                         kSourceToken + R"("], "event_type": "/type"}],
      "destinations": [
        {"name": "billing", "url": ")" +
                         ok_.Url("/hooks") + R"(", "signing_secret": ")" + kSecret +
                         R"(", "sources": ["pms"], "events": ["booking.*"],
         "timeout_ms": 4000},
        {"name": "crm", "url": ")" +
                         down_url + R"(", "max_attempts": 2,
         "backoff": {"initial_ms": 20, "max_ms": 50}}],
      "api_tokens": [
        {"name": "audit-team", "token": ")" +
                         kAuditor + R"(", "role": "auditor"},
        {"name": "ops", "token": ")" +
                         kOperator + R"(", "role": "operator"},
        {"name": "warehouse", "token": ")" +
                         kConsumer + R"(", "role": "consumer"}]})";
    std::string path = dir_.Write("config.json", config);
    server_ = std::make_unique<ServerProcess>(
        std::vector<std::string>{"serve", "--config", path}, dir_.File("server.log"),
        std::vector<std::string>{"HOOKVAULT_STATS_TICK_MS=50"});
    ASSERT_TRUE(server_->started()) << server_->Log();
  }

  HttpResult Get(const std::string& path, const std::string& token = kAuditor) {
    std::vector<std::pair<std::string, std::string>> headers;
    if (!token.empty()) headers.emplace_back("Authorization", "Bearer " + token);
    return client_.Request("GET", server_->Url(path), headers);
  }

  HttpResult Ingest(const std::string& source, const std::string& token, const std::string& id) {
    return client_.Request("POST", server_->Url("/webhooks/" + source),
                           {{"x-auth-token", token}, {"Content-Type", "application/json"}},
                           R"({"id":")" + id + R"(","type":"booking.created"})");
  }

  // Returns the parsed /stats answer; on any failure (recorded) a document of the same shape
  // with zeros, so that reading it never aborts the test binary (and orphans the server).
  rapidjson::Document Stats(const std::string& query = "") {
    rapidjson::Document d;
    HttpResult r = Get("/api/v1/stats" + query);
    EXPECT_EQ(r.status, 200) << r.body;
    d.Parse(r.body.c_str());
    if (r.status == 200 && d.IsObject() && d.HasMember("totals") && d.HasMember("buckets") &&
        d.HasMember("destinations")) {
      return d;
    }
    ADD_FAILURE() << "not a /stats answer: " << r.body;
    d.Parse(R"({"window": 0, "bucket_seconds": 0, "buckets": [], "destinations": [],
      "totals": {"ingest": {"2xx": 0, "4xx": 0, "5xx": 0},
                 "deliveries": {"succeeded": 0, "failed": 0, "retried": 0}}})");
    return d;
  }

  SinkServer ok_;
  SinkServer failing_;
  TempDir dir_;
  std::unique_ptr<ServerProcess> server_;
  HttpClient client_;
};

// A string member's text, or a marker: GetString() on anything else would abort the test
// binary (RapidJSON asserts) and leave the server running.
std::string Text(const rapidjson::Value& v) {
  return v.IsString() ? v.GetString() : "<not a string>";
}

const rapidjson::Value& Destination(const rapidjson::Value& list, const std::string& name) {
  for (const auto& d : list.GetArray()) {
    if (name == Text(d["name"])) return d;
  }
  ADD_FAILURE() << "no destination " << name;
  // The same shape with zeros, so that reading it never aborts the test binary.
  static const rapidjson::Document kMissing = [] {
    rapidjson::Document m;
    m.Parse(R"({"name": "", "state": "", "attempts": 0, "succeeded": 0, "failed": 0,
      "retried": 0, "success_rate": 0.0, "p50_ms": 0.0, "p95_ms": 0.0, "pending": null,
      "in_flight": 0, "consecutive_failures": 0, "last_error": null, "last_error_at": null,
      "last_success_at": null})");
    return m;
  }();
  return kMissing;
}

TEST_F(StatsApiTest, CountsIngestAnswersDeliveriesAndDestinationHealth) {
  for (const char* id : {"b-1", "b-2", "b-3"}) {
    ASSERT_EQ(Ingest("pms", kSourceToken, id).status, 200);
  }
  EXPECT_EQ(Ingest("pms", "wrong-token-0123456789", "x-1").status, 401);
  EXPECT_EQ(Ingest("pms", "", "x-2").status, 401);
  EXPECT_EQ(Ingest("nope", kSourceToken, "x-3").status, 404);

  // billing delivers all three; crm fails each twice (attempt 1 retried, attempt 2 failed).
  // /stats shows the last sample, up to a tick behind: wait for one taken after the ingests
  // were counted too (an answer is counted just after it is sent).
  rapidjson::Document d;
  ASSERT_TRUE(WaitFor([&] {
    d = Stats();
    const auto& t = d["totals"]["deliveries"];
    const auto& in = d["totals"]["ingest"];
    return in["2xx"].GetUint64() == 3 && in["4xx"].GetUint64() == 3 &&
           t["succeeded"].GetUint64() == 3 && t["failed"].GetUint64() == 3 &&
           t["retried"].GetUint64() == 3 &&
           Destination(d["destinations"], "crm")["pending"].IsInt64() &&
           Destination(d["destinations"], "crm")["pending"].GetInt64() == 0;
  })) << server_->Log();
  EXPECT_EQ(ok_.Count(), 3u);
  EXPECT_EQ(failing_.Count(), 6u);

  EXPECT_EQ(d["window"].GetInt64(), 900);
  EXPECT_EQ(d["bucket_seconds"].GetInt64(), 5);
  EXPECT_EQ(d["totals"]["ingest"]["2xx"].GetUint64(), 3u);
  EXPECT_EQ(d["totals"]["ingest"]["4xx"].GetUint64(), 3u);
  EXPECT_EQ(d["totals"]["ingest"]["5xx"].GetUint64(), 0u);
  // The buckets of the last 15 minutes hold everything this young process counted.
  uint64_t ok = 0, rejected = 0, succeeded = 0, failed = 0;
  for (const auto& b : d["buckets"].GetArray()) {
    ok += b["ingest"]["2xx"].GetUint64();
    rejected += b["ingest"]["4xx"].GetUint64();
    succeeded += b["deliveries"]["succeeded"].GetUint64();
    failed += b["deliveries"]["failed"].GetUint64();
  }
  EXPECT_EQ(ok, 3u);
  EXPECT_EQ(rejected, 3u);
  EXPECT_EQ(succeeded, 3u);
  EXPECT_EQ(failed, 3u);
  // The backlog at the last sample (the bucket in progress may have none yet).
  std::optional<int64_t> last_pending;
  for (const auto& b : d["buckets"].GetArray()) {
    if (b["pending"].IsInt64()) last_pending = b["pending"].GetInt64();
  }
  EXPECT_EQ(last_pending, 0);

  const auto& billing = Destination(d["destinations"], "billing");
  EXPECT_EQ(Text(billing["state"]), std::string("ok"));
  EXPECT_EQ(billing["attempts"].GetUint64(), 3u);
  EXPECT_EQ(billing["succeeded"].GetUint64(), 3u);
  EXPECT_DOUBLE_EQ(billing["success_rate"].GetDouble(), 1.0);
  EXPECT_TRUE(billing["p95_ms"].IsNumber());
  EXPECT_EQ(billing["consecutive_failures"].GetUint64(), 0u);
  EXPECT_TRUE(billing["last_error"].IsNull());
  EXPECT_TRUE(billing["last_success_at"].IsString());
  const auto& crm = Destination(d["destinations"], "crm");
  EXPECT_EQ(Text(crm["state"]), std::string("failing"));
  EXPECT_EQ(crm["attempts"].GetUint64(), 6u);
  EXPECT_EQ(crm["failed"].GetUint64(), 3u);
  EXPECT_EQ(crm["retried"].GetUint64(), 3u);
  EXPECT_DOUBLE_EQ(crm["success_rate"].GetDouble(), 0.0);
  EXPECT_EQ(crm["consecutive_failures"].GetUint64(), 6u);
  EXPECT_EQ(Text(crm["last_error"]), std::string("HTTP 500: down for maintenance"));
  EXPECT_TRUE(crm["last_error_at"].IsString());
  EXPECT_TRUE(crm["last_success_at"].IsNull());

  // Since start: the same totals, in minute buckets.
  rapidjson::Document since = Stats("?window=31536000");
  EXPECT_EQ(since["bucket_seconds"].GetInt64(), 60);
  EXPECT_EQ(since["totals"]["ingest"]["2xx"].GetUint64(), 3u);
  EXPECT_EQ(since["totals"]["deliveries"]["failed"].GetUint64(), 3u);
  EXPECT_LE(since["buckets"].Size(), 2u);

  // /destinations: the same health, the configuration, and no secret.
  HttpResult list = Get("/api/v1/destinations");
  ASSERT_EQ(list.status, 200) << list.body;
  for (const char* secret : {kSecret, kUrlPassword, kUrlQuerySecret}) {
    EXPECT_EQ(list.body.find(secret), std::string::npos) << secret << " in " << list.body;
  }
  rapidjson::Document l;
  l.Parse(list.body.c_str());
  ASSERT_TRUE(l.IsObject()) << list.body;
  ASSERT_EQ(l["data"].Size(), 2u);
  EXPECT_EQ(Text(l["data"][0]["name"]), std::string("billing"));  // the config's order
  EXPECT_EQ(Text(l["data"][0]["url"]), ok_.Url("/hooks"));
  EXPECT_TRUE(l["data"][0]["signed"].GetBool());
  EXPECT_EQ(Text(l["data"][0]["events"][0]), std::string("booking.*"));
  EXPECT_EQ(l["data"][0]["timeout_ms"].GetInt64(), 4000);
  EXPECT_EQ(Text(l["data"][1]["url"]),
            "http://127.0.0.1:" + std::to_string(failing_.port()) + "/down");
  EXPECT_FALSE(l["data"][1]["signed"].GetBool());
  EXPECT_EQ(l["data"][1]["max_attempts"].GetInt(), 2);
  EXPECT_EQ(Text(l["data"][1]["state"]), std::string("failing"));
  EXPECT_EQ(Text(l["data"][1]["health"]["last_error"]),
            std::string("HTTP 500: down for maintenance"));
  EXPECT_EQ(l["data"][1]["health"]["consecutive_failures"].GetUint64(), 6u);
}

TEST_F(StatsApiTest, AuditorsAndOperatorsMayReadConsumersMayNot) {
  for (const char* path : {"/api/v1/stats", "/api/v1/destinations"}) {
    EXPECT_EQ(Get(path, kAuditor).status, 200) << path;
    EXPECT_EQ(Get(path, kOperator).status, 200) << path;
    HttpResult consumer = Get(path, kConsumer);
    EXPECT_EQ(consumer.status, 403) << path;
    EXPECT_EQ(consumer.headers["content-type"], "application/problem+json");
    HttpResult none = Get(path, "");
    EXPECT_EQ(none.status, 401) << path;
    EXPECT_EQ(none.headers["www-authenticate"].rfind("Bearer", 0), 0u) << path;
    EXPECT_EQ(Get(path, "not-a-token-0123456789").status, 401) << path;
  }
  EXPECT_EQ(Get("/api/v1/stats?window=10").status, 400);
}

}  // namespace
}  // namespace hookvault::testing
