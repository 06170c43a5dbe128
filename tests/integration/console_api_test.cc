// The REST routes the operator console adds (GET /session, GET /consumers, POST
// /destinations/{name}/test, and the idempotency-key and rejected filters), end to end: the real
// binary on port 0, a real SQLite file, real HTTP and a real sink.
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <chrono>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

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
                         R"(", "log": {"level": "info"},
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
  EXPECT_EQ(statuses("limit=10"),
            (std::vector<std::string>{"401", "404", "200", "401", "200"}));
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

}  // namespace
}  // namespace hookvault::testing
