// The REST API end to end: the real binary, a real SQLite file, real HTTP, and a real sink.
#include <SQLiteCpp/SQLiteCpp.h>
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <atomic>
#include <csignal>
#include <cstdint>
#include <chrono>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "server/http/route_table.h"
#include "storage/audit_chain.h"
#include "tests/testing/db.h"
#include "tests/testing/http_client.h"
#include "tests/testing/server_process.h"
#include "tests/testing/sink_server.h"
#include "tests/testing/temp_dir.h"

namespace hookvault::testing {
namespace {

constexpr char kSourceToken[] = "rest-source-token-0123456789";
constexpr char kAuditor[] = "auditor-token-0123456789";
constexpr char kOperator[] = "operator-token-0123456789";
constexpr char kConsumer[] = "consumer-token-0123456789";
constexpr char kAdmin[] = "admin-token-0123456789";
// Role consumer, listing only its own consumer "other".
constexpr char kOtherConsumer[] = "other-consumer-token-0123456789";

using Headers = std::vector<std::pair<std::string, std::string>>;

bool WaitFor(const std::function<bool()>& condition, int seconds = 15) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return condition();
}

rapidjson::Document Json(const std::string& text) {
  rapidjson::Document d;
  d.Parse(text.c_str(), text.size());
  return d;
}

// A server with two sources and two destinations: "good" answers whatever `good_status` holds
// (200 by default), "bad" (booking events only) always fails and gives up after 2 attempts.
class RestApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    good_.SetHandler([this](const SinkRequest&) {
      SinkReply r;
      r.status = good_status_.load();
      return r;
    });
    bad_.SetHandler([](const SinkRequest&) {
      SinkReply r;
      r.status = 500;
      r.body = "down";
      return r;
    });
  }

  void Start(const std::string& good_extra = "") {
    server_ = std::make_unique<ServerProcess>(
        std::vector<std::string>{"serve", "--config", WriteConfig(good_extra)},
        // A log per start: ServerProcess learns the port from the first "listening" line.
        dir_.File(++starts_ == 1 ? "server.log" : "server-" + std::to_string(starts_) + ".log"));
    ASSERT_TRUE(server_->started()) << server_->Log();
  }

  // Writes the config (root_extra_ added at its root) and returns its path.
  std::string WriteConfig(const std::string& good_extra = "") {
    std::string config = R"({"listen": "127.0.0.1:0", "data_dir": ")" + dir_.path() +
                         R"(", "log": {"level": "info"},)" + root_extra_ + R"(
      "sources": [
        {"name": "pms", "tokens": [")" + kSourceToken + R"("], "event_type": "/event",
         "idempotency": {"pointer": "/id"}},
        {"name": "crm", "tokens": [")" + kSourceToken + R"("], "event_type": "/event",
         "idempotency": {"pointer": "/id"}}],
      "destinations": [
        {"name": "good", "url": ")" + good_.Url("/good") + R"(", "max_attempts": 2,
         "backoff": {"initial_ms": 20, "max_ms": 50})" + good_extra + R"(},
        {"name": "bad", "url": ")" + bad_.Url("/bad") + R"(", "events": ["booking.*"],
         "max_attempts": 2, "backoff": {"initial_ms": 20, "max_ms": 50}}],
      "api_tokens": [
        {"name": "audit-team", "token": ")" + kAuditor + R"(", "role": "auditor"},
        {"name": "ops", "token": ")" + kOperator + R"(", "role": "operator"},
        {"name": "warehouse", "token": ")" + kConsumer + R"(", "role": "consumer",
         "consumers": ["warehouse", "billing"]},
        {"name": "other", "token": ")" + kOtherConsumer + R"(", "role": "consumer"},
        {"name": "root", "token": ")" + kAdmin + R"(", "role": "admin"}]})";
    return dir_.Write("config.json", config);
  }

  // Posts one webhook; returns its event id ("" unless 200).
  std::string Post(const std::string& source, const std::string& key, const std::string& type,
                   const std::string& token = kSourceToken) {
    HttpResult r = client_.Request(
        "POST", server_->Url("/webhooks/" + source),
        {{"x-auth-token", token}, {"Content-Type", "application/json"}},
        R"({"id":")" + key + R"(","event":")" + type + R"(","n":1})");
    if (r.status != 200) return "";
    return Json(r.body)["id"].GetString();
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
        {{"Authorization", "Bearer " + token}, {"Content-Type", "application/json"}}, body);
  }

  // Returns the "data" of a list answer at `path` (asserting a 200).
  rapidjson::Document List(const std::string& path, const std::string& token = kAuditor) {
    HttpResult r = Get(path, token);
    EXPECT_EQ(r.status, 200) << path << ": " << r.body;
    return Json(r.body);
  }

  std::vector<std::string> Ids(const std::string& path, const char* field = "id") {
    rapidjson::Document d = List(path);
    std::vector<std::string> ids;
    if (!d.IsObject() || !d.HasMember("data")) return ids;
    for (const auto& row : d["data"].GetArray()) {
      const auto& v = row[field];
      ids.push_back(v.IsString() ? v.GetString() : std::to_string(v.GetInt64()));
    }
    return ids;
  }

  std::string Db() const { return dir_.File("hookvault.db"); }

  // Rewrites audit rows as an attacker with the file would: drops the guard triggers, changes
  // row `edit_id`'s reason and recomputes every hash from `from_id` to `to_id` under `key` (""
  // for plain SHA-256), chaining each on the one before.
  void RewriteAudit(int64_t from_id, int64_t edit_id, const std::string& key,
                    int64_t to_id = INT64_MAX) {
    SQLite::Database db(Db(), SQLite::OPEN_READWRITE, 5000);
    SQLite::Statement triggers(
        db, "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit_log'");
    std::vector<std::string> names;
    while (triggers.executeStep()) names.push_back(triggers.getColumn(0).getString());
    for (const std::string& name : names) db.exec("DROP TRIGGER " + name);
    db.exec("UPDATE audit_log SET reason = 'nothing to see' WHERE id = " + std::to_string(edit_id));
    SQLite::Statement rows(db,
                           "SELECT id, at, actor, role, action, target, matched, requeued, reason, "
                           "prev_hash, hash FROM audit_log ORDER BY id");
    std::vector<storage::AuditRow> chain;
    while (rows.executeStep()) {
      storage::AuditRow r;
      r.id = rows.getColumn(0).getInt64();
      r.at = rows.getColumn(1).getInt64();
      r.actor = rows.getColumn(2).getString();
      r.role = rows.getColumn(3).getString();
      r.action = rows.getColumn(4).getString();
      r.target_json = rows.getColumn(5).getString();
      r.matched = rows.getColumn(6).getInt64();
      r.requeued = rows.getColumn(7).getInt64();
      r.reason = rows.getColumn(8).getString();
      r.prev_hash = rows.getColumn(9).getString();
      r.hash = rows.getColumn(10).getString();
      chain.push_back(r);
    }
    std::string prev;
    for (storage::AuditRow& r : chain) {
      if (r.id >= from_id && r.id <= to_id) {
        r.prev_hash = prev;
        r.hash = storage::AuditHash(prev, r, key);
        SQLite::Statement update(db, "UPDATE audit_log SET prev_hash = ?, hash = ? WHERE id = ?");
        update.bind(1, r.prev_hash);
        update.bind(2, r.hash);
        update.bind(3, static_cast<int64_t>(r.id));
        update.exec();
      }
      prev = r.hash;
    }
  }

  int starts_ = 0;
  std::string root_extra_;  // JSON members added to the config's root, each followed by ","
  TempDir dir_;
  SinkServer good_;
  SinkServer bad_;
  std::atomic<int> good_status_{200};
  std::unique_ptr<ServerProcess> server_;
  HttpClient client_;
};

// --- Authentication and roles ----------------------------------------------------------------

enum class Need { kNone, kRead, kReprocess, kPull, kConsume, kSession };

Need NeedOf(std::string_view operation) {
  static const std::map<std::string_view, Need> kNeeds = {
      {"listEvents", Need::kRead},          {"getEvent", Need::kRead},
      {"listEventAttempts", Need::kRead},   {"reprocessEvent", Need::kReprocess},
      {"listDeliveries", Need::kRead},      {"listAttempts", Need::kRead},
      {"reprocessBulk", Need::kReprocess},  {"listAudit", Need::kRead},
      {"verifyAudit", Need::kRead},         {"listRequests", Need::kRead},
      {"getFeed", Need::kPull},             {"getConsumerEvents", Need::kPull},
      {"ackConsumer", Need::kConsume},      {"getOpenApi", Need::kNone},
      {"getStats", Need::kRead},            {"listDestinations", Need::kRead},
      {"listConsumers", Need::kPull},       {"getSession", Need::kSession},
      {"testDestination", Need::kReprocess}, {"getEventPayload", Need::kRead},
      {"skipDelivery", Need::kReprocess},
  };
  auto it = kNeeds.find(operation);
  return it == kNeeds.end() ? Need::kNone : it->second;
}

TEST_F(RestApiTest, AuthMatrixEveryRouteNoTokenBadTokenAndEachRole) {
  Start();
  std::string id = Post("pms", "auth-1", "booking.created");
  ASSERT_FALSE(id.empty());
  struct Caller {
    std::string token;
    std::set<Need> may;
  };
  const std::map<std::string, Caller> callers = {
      {"auditor", {kAuditor, {Need::kRead, Need::kPull, Need::kSession}}},
      {"operator", {kOperator, {Need::kRead, Need::kReprocess, Need::kPull, Need::kSession}}},
      {"consumer", {kConsumer, {Need::kPull, Need::kConsume, Need::kSession}}},
      {"admin",
       {kAdmin, {Need::kRead, Need::kReprocess, Need::kPull, Need::kConsume, Need::kSession}}},
  };
  int checked = 0;
  for (const server::RouteSpec& route : server::kRouteTable) {
    std::string path(route.pattern);
    if (path.rfind("/api/v1/", 0) != 0) continue;
    Need need = NeedOf(route.operation_id);
    for (const auto& [param, value] :
         {std::pair<std::string, std::string>{":id", id},
          {":name", path.starts_with("/api/v1/destinations/") ? "good" : "warehouse"}}) {
      if (auto at = path.find(param); at != std::string::npos) path.replace(at, param.size(), value);
    }
    auto call = [&](const std::string& token) {
      Headers h = {{"Content-Type", "application/json"}};
      if (!token.empty()) h.emplace_back("Authorization", "Bearer " + token);
      std::string body = route.operation_id == "ackConsumer" ? R"({"seq": 1})" : "{}";
      return client_.Request(std::string(route.method), server_->Url(path), h,
                             route.method == "POST" ? body : "");
    };
    if (need == Need::kNone) {
      EXPECT_EQ(call("").status, 200) << path;
      continue;
    }
    HttpResult none = call("");
    EXPECT_EQ(none.status, 401) << route.method << " " << path;
    EXPECT_EQ(none.headers["content-type"], "application/problem+json") << path;
    EXPECT_NE(none.headers["www-authenticate"].find("Bearer"), std::string::npos) << path;
    EXPECT_EQ(call("not-a-valid-token-0123456789").status, 401) << path;
    EXPECT_EQ(call(std::string(kAuditor) + "x").status, 401) << path;
    for (const auto& [role, caller] : callers) {
      HttpResult r = call(caller.token);
      if (caller.may.count(need) && route.operation_id == "skipDelivery") {
        // Past authorisation: the id in the path is an event's, so no delivery has it.
        EXPECT_EQ(r.status, 404) << role << " " << path << ": " << r.body;
      } else if (caller.may.count(need)) {
        EXPECT_TRUE(r.status >= 200 && r.status < 300)
            << role << " " << route.method << " " << path << ": " << r.status << " " << r.body;
      } else {
        EXPECT_EQ(r.status, 403) << role << " " << route.method << " " << path;
        EXPECT_EQ(r.headers["content-type"], "application/problem+json");
      }
      ++checked;
    }
  }
  EXPECT_EQ(checked, 20 * 4);  // every authenticated route of the table, by every role
}

// --- Queries ---------------------------------------------------------------------------------

TEST_F(RestApiTest, EventFiltersAndDetail) {
  Start();
  std::string a = Post("pms", "f-1", "booking.created");
  std::string b = Post("pms", "f-2", "payment.settled");
  std::string c = Post("crm", "f-3", "booking.created");
  ASSERT_FALSE(a.empty() || b.empty() || c.empty());
  // Newest first.
  EXPECT_EQ(Ids("/api/v1/events"), (std::vector<std::string>{c, b, a}));
  EXPECT_EQ(Ids("/api/v1/events?source=pms"), (std::vector<std::string>{b, a}));
  EXPECT_EQ(Ids("/api/v1/events?type=booking.created"), (std::vector<std::string>{c, a}));
  EXPECT_EQ(Ids("/api/v1/events?source=crm&type=booking.created"), std::vector<std::string>{c});
  EXPECT_EQ(Ids("/api/v1/events?source=nobody"), std::vector<std::string>{});
  // "bad" fails the booking events for good (2 attempts); payment.settled only goes to "good".
  ASSERT_TRUE(WaitFor([&] {
    return Ids("/api/v1/events?status=failed") == std::vector<std::string>{c, a} &&
           Ids("/api/v1/events?status=delivered") == std::vector<std::string>{b};
  })) << server_->Log();
  EXPECT_EQ(Ids("/api/v1/events?status=pending"), std::vector<std::string>{});

  // Time ranges: [received_after, received_before).
  rapidjson::Document all = List("/api/v1/events");
  std::string b_time = all["data"][1]["received_at"].GetString();
  EXPECT_EQ(Ids("/api/v1/events?received_after=" + b_time), (std::vector<std::string>{c, b}));
  EXPECT_EQ(Ids("/api/v1/events?received_before=" + b_time), std::vector<std::string>{a});
  EXPECT_EQ(Ids("/api/v1/events?received_after=2000-01-01T00:00:00Z&received_before="
                "2000-01-02T00:00:00Z"),
            std::vector<std::string>{});

  HttpResult detail = Get("/api/v1/events/" + a, kAuditor);
  ASSERT_EQ(detail.status, 200) << detail.body;
  rapidjson::Document d = Json(detail.body);
  EXPECT_EQ(std::string(d["id"].GetString()), a);
  EXPECT_EQ(std::string(d["source"].GetString()), "pms");
  EXPECT_EQ(std::string(d["event_type"].GetString()), "booking.created");
  EXPECT_EQ(std::string(d["idempotency_key"].GetString()), "f-1");
  EXPECT_EQ(std::string(d["payload"]["event"].GetString()), "booking.created");
  EXPECT_EQ(d["payload"]["n"].GetInt(), 1);
  EXPECT_TRUE(d["headers"].IsObject());
  EXPECT_FALSE(d["headers"].HasMember("x-auth-token")) << detail.body;
  EXPECT_EQ(detail.body.find(kSourceToken), std::string::npos);
  ASSERT_EQ(d["deliveries"].Size(), 2u);
  std::set<std::string> destinations;
  for (const auto& del : d["deliveries"].GetArray()) destinations.insert(del["destination"].GetString());
  EXPECT_EQ(destinations, (std::set<std::string>{"bad", "good"}));

  EXPECT_EQ(Get("/api/v1/events/01890000-0000-7000-8000-000000000000", kAuditor).status, 404);
}

// GET /events/{id}/payload answers the body byte for byte as it arrived: what a parse and
// re-serialisation would change (a big integer, 1.0, an escape, a duplicate key, whitespace)
// stays, so a signature can be re-checked over it.
TEST_F(RestApiTest, EventPayloadIsTheBytesAsReceived) {
  Start();
  const std::string body =
      "{ \"id\" : \"raw-1\",\n\t\"event\":\"booking.created\",  \"big\": 12345678901234567890,"
      " \"one\": 1.0, \"lt\": \"\\u003c\", \"dup\": 1, \"dup\": 2 }\n";
  HttpResult posted = client_.Request(
      "POST", server_->Url("/webhooks/pms"),
      {{"x-auth-token", kSourceToken}, {"Content-Type", "application/json"}}, body);
  ASSERT_EQ(posted.status, 200) << posted.body;
  std::string id = Json(posted.body)["id"].GetString();

  HttpResult r = Get("/api/v1/events/" + id + "/payload", kAuditor);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body, body);
  EXPECT_EQ(r.headers["content-type"], "application/json");
  EXPECT_EQ(r.headers["x-content-type-options"], "nosniff");
  EXPECT_EQ(r.headers["content-security-policy"], "sandbox; default-src 'none'");

  EXPECT_EQ(Get("/api/v1/events/" + id + "/payload", kConsumer).status, 403);
  EXPECT_EQ(Get("/api/v1/events/" + id + "/payload", "").status, 401);
  HttpResult unknown =
      Get("/api/v1/events/01890000-0000-7000-8000-000000000000/payload", kAuditor);
  EXPECT_EQ(unknown.status, 404);
  EXPECT_EQ(unknown.headers["content-type"], "application/problem+json");
}

TEST_F(RestApiTest, DeliveryAttemptAndRequestFilters) {
  Start();
  std::string a = Post("pms", "d-1", "booking.created");
  std::string b = Post("pms", "d-2", "payment.settled");
  ASSERT_FALSE(a.empty() || b.empty());
  EXPECT_EQ(Post("pms", "d-3", "x", "wrong-token"), "");  // a rejected request, logged
  ASSERT_TRUE(WaitFor([&] { return Ids("/api/v1/deliveries?status=failed").size() == 1; }))
      << server_->Log();

  rapidjson::Document failed = List("/api/v1/deliveries?status=failed");
  EXPECT_EQ(std::string(failed["data"][0]["destination"].GetString()), "bad");
  EXPECT_EQ(std::string(failed["data"][0]["event_id"].GetString()), a);
  EXPECT_EQ(failed["data"][0]["attempts"].GetInt(), 2);
  ASSERT_TRUE(WaitFor([&] { return Ids("/api/v1/deliveries?status=succeeded").size() == 2; }));
  EXPECT_EQ(Ids("/api/v1/deliveries?destination=good").size(), 2u);
  EXPECT_EQ(Ids("/api/v1/deliveries?destination=good&event_id=" + b).size(), 1u);
  EXPECT_EQ(Ids("/api/v1/deliveries?event_id=" + a).size(), 2u);
  EXPECT_EQ(Ids("/api/v1/deliveries?after=2000-01-01T00:00:00Z").size(), 3u);
  EXPECT_EQ(Ids("/api/v1/deliveries?before=2000-01-01T00:00:00Z").size(), 0u);

  EXPECT_EQ(Ids("/api/v1/attempts?outcome=failure").size(), 2u);
  EXPECT_EQ(Ids("/api/v1/attempts?outcome=success").size(), 2u);
  EXPECT_EQ(Ids("/api/v1/attempts?destination=bad&outcome=success").size(), 0u);
  EXPECT_EQ(Ids("/api/v1/attempts?event_id=" + a).size(), 3u);
  EXPECT_EQ(Ids("/api/v1/attempts?event_id=" + a + "&destination=good").size(), 1u);
  EXPECT_EQ(Ids("/api/v1/attempts?before=2000-01-01T00:00:00Z").size(), 0u);

  // An event's attempts, oldest first, with what each attempt got.
  rapidjson::Document attempts = List("/api/v1/events/" + a + "/attempts");
  ASSERT_EQ(attempts["data"].Size(), 3u);
  int64_t last_id = 0;
  int bad_seen = 0;
  for (const auto& at : attempts["data"].GetArray()) {
    EXPECT_GT(at["id"].GetInt64(), last_id);
    last_id = at["id"].GetInt64();
    if (std::string(at["destination"].GetString()) == "bad") {
      ++bad_seen;
      EXPECT_EQ(at["number"].GetInt(), bad_seen);
      EXPECT_EQ(at["http_status"].GetInt(), 500);
      EXPECT_EQ(std::string(at["response_excerpt"].GetString()), "down");
      EXPECT_EQ(std::string(at["outcome"].GetString()), "failure");
    }
  }
  EXPECT_EQ(bad_seen, 2);

  // The request log, rejected requests included.
  EXPECT_EQ(Ids("/api/v1/requests").size(), 3u);
  rapidjson::Document rejected = List("/api/v1/requests?status=401");
  ASSERT_EQ(rejected["data"].Size(), 1u);
  EXPECT_EQ(std::string(rejected["data"][0]["source"].GetString()), "pms");
  EXPECT_TRUE(rejected["data"][0]["event_id"].IsNull());
  EXPECT_EQ(Ids("/api/v1/requests?status=200&source=pms").size(), 2u);
  EXPECT_EQ(Ids("/api/v1/requests?source=crm").size(), 0u);
  EXPECT_EQ(Ids("/api/v1/requests?after=2000-01-01T00:00:00Z&before=2100-01-01T00:00:00Z").size(),
            3u);
}

TEST_F(RestApiTest, BadParametersAre400sNamingThem) {
  Start();
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"/api/v1/events?limit=1001", "limit"},
      {"/api/v1/events?limit=0", "limit"},
      {"/api/v1/events?status=done", "status"},
      {"/api/v1/events?received_after=yesterday", "received_after"},
      {"/api/v1/events?cursor=bogus", "cursor"},
      {"/api/v1/events?sorce=pms", "sorce"},
      {"/api/v1/deliveries?status=pendin%67x", "status"},
      {"/api/v1/attempts?outcome=maybe", "outcome"},
      {"/api/v1/requests?status=abc", "status"},
      {"/api/v1/audit?before=2026-02-30T00:00:00Z", "before"},
  };
  for (const auto& [path, name] : cases) {
    HttpResult r = Get(path, kAuditor);
    EXPECT_EQ(r.status, 400) << path;
    EXPECT_EQ(r.headers["content-type"], "application/problem+json") << path;
    rapidjson::Document d = Json(r.body);
    ASSERT_TRUE(d.IsObject() && d.HasMember("detail")) << r.body;
    EXPECT_NE(std::string(d["detail"].GetString()).find("'" + name + "'"), std::string::npos)
        << path << ": " << r.body;
    EXPECT_EQ(d["status"].GetInt(), 400);
  }
  // Escapes are decoded: %2B is a plus sign, so this offset is valid.
  EXPECT_EQ(Get("/api/v1/events?received_after=2026-11-28T00:00:00%2B01:00&status=%66ailed",
                kAuditor)
                .status,
            200);
  HttpResult r = Get("/api/v1/feed?wait=31", kConsumer);
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("'wait'"), std::string::npos);
}

// Paging through every event while new ones keep arriving: keyset cursors skip and repeat
// nothing.
TEST_F(RestApiTest, PaginationWhileIngestContinuesSkipsAndRepeatsNothing) {
  Start();
  std::set<std::string> before;
  for (int i = 0; i < 120; ++i) {
    std::string id = Post("pms", "p-" + std::to_string(i), "payment.settled");
    ASSERT_FALSE(id.empty());
    before.insert(id);
  }
  std::atomic<bool> stop{false};
  std::atomic<int> extra{0};
  std::thread writer([&] {
    HttpClient c;
    for (int i = 0; !stop; ++i) {
      HttpResult r = c.Request(
          "POST", server_->Url("/webhooks/crm"),
          {{"x-auth-token", kSourceToken}, {"Content-Type", "application/json"}},
          R"({"id":"more-)" + std::to_string(i) + R"(","event":"payment.settled"})");
      if (r.status == 200) ++extra;
    }
  });
  std::vector<std::string> seen;
  std::set<std::string> unique;
  std::string cursor;
  int64_t last_seq = INT64_MAX;
  int pages = 0;
  do {
    std::string path = "/api/v1/events?source=pms&limit=7";
    if (!cursor.empty()) path += "&cursor=" + cursor;
    rapidjson::Document d = List(path);
    ASSERT_TRUE(d.IsObject());
    for (const auto& e : d["data"].GetArray()) {
      EXPECT_LT(e["seq"].GetInt64(), last_seq);
      last_seq = e["seq"].GetInt64();
      seen.push_back(e["id"].GetString());
      unique.insert(e["id"].GetString());
    }
    cursor = d["next_cursor"].IsNull() ? "" : d["next_cursor"].GetString();
    ++pages;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  } while (!cursor.empty() && pages < 100);
  stop = true;
  writer.join();
  EXPECT_GT(extra.load(), 0) << "nothing was ingested while paging";
  EXPECT_EQ(pages, 18);  // 120 / 7, rounded up
  EXPECT_EQ(seen.size(), 120u);
  EXPECT_EQ(unique, before);

  // The same across every source while they keep arriving: nothing that existed before the
  // first page is missed.
  std::set<std::string> all;
  cursor.clear();
  do {
    std::string path = "/api/v1/events?limit=1000";
    if (!cursor.empty()) path += "&cursor=" + cursor;
    rapidjson::Document d = List(path);
    for (const auto& e : d["data"].GetArray()) {
      EXPECT_TRUE(all.insert(e["id"].GetString()).second) << "repeated";
    }
    cursor = d["next_cursor"].IsNull() ? "" : d["next_cursor"].GetString();
  } while (!cursor.empty());
  for (const std::string& id : before) EXPECT_TRUE(all.count(id));
}

// --- Reprocessing and the audit log ------------------------------------------------------------

TEST_F(RestApiTest, ReprocessAFailedDeliveryThatTheSinkNowAccepts) {
  good_status_ = 503;
  Start();
  std::string id = Post("pms", "r-1", "payment.settled");  // to "good" only
  ASSERT_FALSE(id.empty());
  ASSERT_TRUE(WaitFor([&] { return Ids("/api/v1/deliveries?status=failed").size() == 1; }))
      << server_->Log();
  ASSERT_EQ(good_.Count(), 2u);
  good_status_ = 200;

  // Auditors may not; operators may.
  EXPECT_EQ(PostJson("/api/v1/events/" + id + "/reprocess", kAuditor, "{}").status, 403);
  HttpResult r = PostJson("/api/v1/events/" + id + "/reprocess", kOperator,
                          R"({"reason": "billing fixed their TLS certificate"})");
  ASSERT_EQ(r.status, 202) << r.body;
  EXPECT_EQ(Json(r.body)["requeued"].GetInt(), 1);
  ASSERT_TRUE(good_.WaitForCount(3, std::chrono::seconds(10))) << server_->Log();
  // The first attempt after reprocessing is numbered 1 again.
  EXPECT_EQ(good_.Requests()[2].headers.at("x-hookvault-attempt"), "1");
  ASSERT_TRUE(WaitFor([&] { return Ids("/api/v1/events?status=delivered").size() == 1; }));
  rapidjson::Document history = List("/api/v1/events/" + id + "/attempts");
  ASSERT_EQ(history["data"].Size(), 3u);  // the two failures stay in history
  EXPECT_EQ(std::string(history["data"][0]["outcome"].GetString()), "failure");
  EXPECT_EQ(std::string(history["data"][1]["outcome"].GetString()), "failure");
  EXPECT_EQ(std::string(history["data"][2]["outcome"].GetString()), "success");
  EXPECT_EQ(history["data"][2]["number"].GetInt(), 1);

  // Reprocessing it again without "all" finds nothing failed; with "all" it sends it again.
  r = PostJson("/api/v1/events/" + id + "/reprocess", kOperator, "{}");
  EXPECT_EQ(Json(r.body)["requeued"].GetInt(), 0);
  r = PostJson("/api/v1/events/" + id + "/reprocess", kAdmin, R"({"all": true})");
  EXPECT_EQ(Json(r.body)["requeued"].GetInt(), 1);
  EXPECT_TRUE(good_.WaitForCount(4, std::chrono::seconds(10)));

  // Every action is audited with who, what, how many and why.
  rapidjson::Document audit = List("/api/v1/audit");
  ASSERT_EQ(audit["data"].Size(), 3u);
  const auto& first = audit["data"][2];  // newest first
  EXPECT_EQ(std::string(first["actor"].GetString()), "ops");
  EXPECT_EQ(std::string(first["role"].GetString()), "operator");
  EXPECT_EQ(std::string(first["action"].GetString()), "reprocess_event");
  EXPECT_EQ(std::string(first["target"]["event_id"].GetString()), id);
  EXPECT_EQ(first["requeued"].GetInt(), 1);
  EXPECT_EQ(std::string(first["reason"].GetString()), "billing fixed their TLS certificate");
  EXPECT_EQ(std::string(audit["data"][0]["actor"].GetString()), "root");

  EXPECT_EQ(PostJson("/api/v1/events/01890000-0000-7000-8000-000000000000/reprocess", kOperator,
                     "{}")
                .status,
            404);
  EXPECT_EQ(PostJson("/api/v1/events/" + id + "/reprocess", kOperator, R"({"al": true})").status,
            400);
  EXPECT_EQ(PostJson("/api/v1/events/" + id + "/reprocess", kOperator, "[1,").status, 400);
}

TEST_F(RestApiTest, BulkReprocessDryRunCountsAndChangesNothing) {
  Start();
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) ids.push_back(Post("pms", "bulk-" + std::to_string(i), "booking.x"));
  ASSERT_TRUE(WaitFor([&] { return Ids("/api/v1/deliveries?status=failed").size() == 3; }))
      << server_->Log();
  std::string db = Db();
  int64_t attempts_before = QueryInt(db, "SELECT count(*) FROM attempts");

  HttpResult r = PostJson("/api/v1/reprocess", kOperator,
                          R"({"destination": "bad", "dry_run": true, "reason": "how many?"})");
  ASSERT_EQ(r.status, 200) << r.body;
  rapidjson::Document d = Json(r.body);
  EXPECT_EQ(d["matched"].GetInt(), 3);
  EXPECT_EQ(d["requeued"].GetInt(), 0);
  ASSERT_TRUE(d.HasMember("audit_id")) << r.body;  // the row of this very dry run
  EXPECT_EQ(d["audit_id"].GetInt64(), List("/api/v1/audit")["data"][0]["id"].GetInt64());
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(Ids("/api/v1/deliveries?status=failed").size(), 3u);
  EXPECT_EQ(QueryInt(db, "SELECT count(*) FROM attempts"), attempts_before);
  EXPECT_EQ(bad_.Count(), 6u);

  // Filters narrow the match; a destination with nothing failed matches nothing.
  r = PostJson("/api/v1/reprocess", kOperator,
               R"({"destination": "good", "dry_run": true})");
  EXPECT_EQ(Json(r.body)["matched"].GetInt(), 0);
  r = PostJson("/api/v1/reprocess", kOperator,
               R"({"event_id": ")" + ids[0] + R"(", "dry_run": true})");
  EXPECT_EQ(Json(r.body)["matched"].GetInt(), 1);
  EXPECT_EQ(PostJson("/api/v1/reprocess", kOperator, R"({"status": "pending"})").status, 400);
  EXPECT_EQ(PostJson("/api/v1/reprocess", kOperator, R"({"destinaton": "bad"})").status, 400);

  r = PostJson("/api/v1/reprocess", kOperator, R"({"destination": "bad"})");
  d = Json(r.body);
  EXPECT_EQ(d["matched"].GetInt(), 3);
  EXPECT_EQ(d["requeued"].GetInt(), 3);
  ASSERT_TRUE(d.HasMember("audit_id")) << r.body;
  {
    rapidjson::Document audit = List("/api/v1/audit");
    EXPECT_EQ(d["audit_id"].GetInt64(), audit["data"][0]["id"].GetInt64());
    EXPECT_EQ(std::string(audit["data"][0]["action"].GetString()), "reprocess_bulk");
    EXPECT_EQ(audit["data"][0]["requeued"].GetInt(), 3);
  }
  // "bad" still fails: 2 more attempts each, counted afresh, then failed again.
  EXPECT_TRUE(bad_.WaitForCount(12, std::chrono::seconds(10)));
  ASSERT_TRUE(WaitFor([&] { return Ids("/api/v1/deliveries?status=failed").size() == 3; }));
  EXPECT_EQ(QueryInt(db, "SELECT max(number) FROM attempts"), 2);
  EXPECT_EQ(List("/api/v1/audit")["data"].Size(), 4u);  // dry runs are audited too; 400s are not
}

TEST_F(RestApiTest, AuditChainVerifiesAndDetectsAHandEditedRow) {
  good_status_ = 500;
  Start();
  ASSERT_FALSE(Post("pms", "a-1", "payment.settled").empty());
  ASSERT_TRUE(WaitFor([&] { return Ids("/api/v1/deliveries?status=failed").size() == 1; }));
  for (int i = 0; i < 4; ++i) {
    ASSERT_EQ(PostJson("/api/v1/reprocess", kOperator,
                       R"({"dry_run": true, "reason": "check )" + std::to_string(i) + "\"}")
                  .status,
              200);
  }
  HttpResult v = Get("/api/v1/audit/verify", kAuditor);
  ASSERT_EQ(v.status, 200) << v.body;
  rapidjson::Document ok = Json(v.body);
  EXPECT_TRUE(ok["ok"].GetBool());
  EXPECT_EQ(ok["rows"].GetInt(), 4);
  EXPECT_TRUE(ok["first_bad"].IsNull());
  EXPECT_TRUE(ok["keyed_from"].IsNull());  // no key configured: plain SHA-256, as before
  EXPECT_EQ(std::string(ok["head"].GetString()),
            List("/api/v1/audit")["data"][0]["hash"].GetString());

  // Someone with file access rewrites the third row's reason (dropping the guard trigger
  // first, as an attacker would).
  {
    SQLite::Database db(Db(), SQLite::OPEN_READWRITE, 5000);
    SQLite::Statement triggers(
        db, "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit_log'");
    std::vector<std::string> names;
    while (triggers.executeStep()) names.push_back(triggers.getColumn(0).getString());
    for (const std::string& name : names) db.exec("DROP TRIGGER " + name);
    db.exec("UPDATE audit_log SET reason = 'nothing to see' WHERE id = 3");
  }
  v = Get("/api/v1/audit/verify", kAuditor);
  rapidjson::Document bad = Json(v.body);
  EXPECT_FALSE(bad["ok"].GetBool()) << v.body;
  EXPECT_EQ(bad["rows"].GetInt(), 4);
  EXPECT_EQ(bad["first_bad"].GetInt(), 3);
}

constexpr char kAuditKey[] = "audit-key-0123456789abcdef0123456789abcdef";

TEST_F(RestApiTest, KeyedAuditChainDetectsARewriteWithoutTheKey) {
  root_extra_ = R"("audit": {"key": ")" + std::string(kAuditKey) + R"("},)";
  Start();
  for (int i = 0; i < 4; ++i) {
    ASSERT_EQ(PostJson("/api/v1/reprocess", kOperator,
                       R"({"dry_run": true, "reason": "check )" + std::to_string(i) + "\"}")
                  .status,
              200);
  }
  rapidjson::Document v = Json(Get("/api/v1/audit/verify", kAuditor).body);
  ASSERT_TRUE(v["ok"].GetBool());
  EXPECT_EQ(v["rows"].GetInt(), 4);
  EXPECT_EQ(v["keyed_from"].GetInt(), 1);
  // The head is the newest row's hash, keyed.
  rapidjson::Document rows = List("/api/v1/audit");
  std::string head = v["head"].GetString();
  EXPECT_EQ(head, rows["data"][0]["hash"].GetString());
  EXPECT_TRUE(storage::IsKeyedAuditHash(head)) << head;

  // Row 2 edited and every hash from it on recomputed under a guessed key.
  RewriteAudit(2, 2, "not-the-key-0123456789abcdef0123456789");
  v = Json(Get("/api/v1/audit/verify", kAuditor).body);
  EXPECT_FALSE(v["ok"].GetBool());
  EXPECT_EQ(v["first_bad"].GetInt(), 2);
  EXPECT_NE(std::string(v["head"].GetString()), head);

  // The whole chain recomputed as an unkeyed one, with plain SHA-256.
  RewriteAudit(1, 2, "");
  v = Json(Get("/api/v1/audit/verify", kAuditor).body);
  EXPECT_FALSE(v["ok"].GetBool());
  EXPECT_EQ(v["first_bad"].GetInt(), 1);
  EXPECT_TRUE(v["keyed_from"].IsNull());

  // Only the tail recomputed unkeyed: an unkeyed row after a keyed one.
  RewriteAudit(1, 2, kAuditKey);
  ASSERT_TRUE(Json(Get("/api/v1/audit/verify", kAuditor).body)["ok"].GetBool());
  RewriteAudit(3, 3, "");
  v = Json(Get("/api/v1/audit/verify", kAuditor).body);
  EXPECT_FALSE(v["ok"].GetBool());
  EXPECT_EQ(v["first_bad"].GetInt(), 3);
}

TEST_F(RestApiTest, AuditKeyAddedToAnUnkeyedChainContinuesItKeyed) {
  Start();
  for (int i = 0; i < 2; ++i) {
    ASSERT_EQ(PostJson("/api/v1/reprocess", kOperator, R"({"dry_run": true})").status, 200);
  }
  rapidjson::Document v = Json(Get("/api/v1/audit/verify", kAuditor).body);
  ASSERT_TRUE(v["ok"].GetBool());
  EXPECT_TRUE(v["keyed_from"].IsNull());
  std::string unkeyed_head = v["head"].GetString();
  EXPECT_FALSE(storage::IsKeyedAuditHash(unkeyed_head));
  ASSERT_EQ(server_->Signal(SIGTERM), 0);

  root_extra_ = R"("audit": {"key": ")" + std::string(kAuditKey) + R"("},)";
  Start();
  // The server marked the switch with a keyed row of its own, chained on the unkeyed head.
  rapidjson::Document rows = List("/api/v1/audit");
  ASSERT_EQ(rows["data"].Size(), 3u) << server_->Log();
  EXPECT_EQ(std::string(rows["data"][0]["action"].GetString()), "audit_key_added");
  EXPECT_EQ(std::string(rows["data"][0]["role"].GetString()), "system");
  EXPECT_EQ(std::string(rows["data"][0]["prev_hash"].GetString()), unkeyed_head);
  EXPECT_NE(server_->Log().find("audit.key applies from row 3 on"), std::string::npos)
      << server_->Log();
  ASSERT_EQ(PostJson("/api/v1/reprocess", kOperator, R"({"dry_run": true})").status, 200);
  v = Json(Get("/api/v1/audit/verify", kAuditor).body);
  EXPECT_TRUE(v["ok"].GetBool()) << v["first_bad"].GetInt();
  EXPECT_EQ(v["rows"].GetInt(), 4);
  EXPECT_EQ(v["keyed_from"].GetInt(), 3);
  // The unkeyed rows before the switch are covered by the keyed row after them.
  RewriteAudit(1, 1, "", 2);
  v = Json(Get("/api/v1/audit/verify", kAuditor).body);
  EXPECT_FALSE(v["ok"].GetBool());
  EXPECT_EQ(v["first_bad"].GetInt(), 3);
  ASSERT_EQ(server_->Signal(SIGTERM), 0);

  // A keyed chain is not continued without its key, nor with another one.
  root_extra_.clear();
  ServerProcess without({"serve", "--config", WriteConfig()}, dir_.File("without.log"));
  EXPECT_FALSE(without.started());
  EXPECT_NE(without.Log().find("set audit.key"), std::string::npos) << without.Log();
  root_extra_ = R"("audit": {"key": "another-key-0123456789abcdef0123456789"},)";
  ServerProcess other({"serve", "--config", WriteConfig()}, dir_.File("other.log"));
  EXPECT_FALSE(other.started());
  EXPECT_NE(other.Log().find("audit.key is not the key"), std::string::npos) << other.Log();
  EXPECT_EQ(other.Log().find("another-key"), std::string::npos) << "the key was logged";
}

// --- Feed and consumers ----------------------------------------------------------------------

TEST_F(RestApiTest, FeedPagesAscendingWithPayloadAndFilters) {
  Start();
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) {
    ids.push_back(Post(i % 2 ? "crm" : "pms", "feed-" + std::to_string(i), "payment.settled"));
  }
  HttpResult r = Get("/api/v1/feed?after=0&limit=2", kConsumer);
  ASSERT_EQ(r.status, 200) << r.body;
  rapidjson::Document d = Json(r.body);
  ASSERT_EQ(d["data"].Size(), 2u);
  EXPECT_EQ(std::string(d["data"][0]["id"].GetString()), ids[0]);
  EXPECT_EQ(std::string(d["data"][1]["id"].GetString()), ids[1]);
  EXPECT_EQ(std::string(d["data"][0]["payload"]["id"].GetString()), "feed-0");
  int64_t next = d["next_after"].GetInt64();
  EXPECT_EQ(next, d["data"][1]["seq"].GetInt64());
  d = Json(Get("/api/v1/feed?after=" + std::to_string(next) + "&limit=10", kConsumer).body);
  ASSERT_EQ(d["data"].Size(), 3u);
  EXPECT_EQ(std::string(d["data"][2]["id"].GetString()), ids[4]);
  int64_t end = d["next_after"].GetInt64();
  d = Json(Get("/api/v1/feed?after=" + std::to_string(end), kConsumer).body);
  EXPECT_EQ(d["data"].Size(), 0u);
  EXPECT_EQ(d["next_after"].GetInt64(), end);

  d = Json(Get("/api/v1/feed?source=crm", kConsumer).body);
  ASSERT_EQ(d["data"].Size(), 2u);
  EXPECT_EQ(std::string(d["data"][0]["id"].GetString()), ids[1]);
  // A filtered page that reached the end moves past the events it did not match.
  EXPECT_EQ(d["next_after"].GetInt64(), end);
}

TEST_F(RestApiTest, LongPollWakesOnACommit) {
  Start();
  ASSERT_FALSE(Post("pms", "lp-0", "payment.settled").empty());
  int64_t latest = Json(Get("/api/v1/feed", kConsumer).body)["next_after"].GetInt64();
  HttpResult polled;
  std::chrono::milliseconds took{0};
  std::thread poller([&] {
    HttpClient c;
    auto start = std::chrono::steady_clock::now();
    polled = c.Request("GET", server_->Url("/api/v1/feed?wait=20&after=" + std::to_string(latest)),
                       {{"Authorization", std::string("Bearer ") + kConsumer}}, "", 30000);
    took = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - start);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  std::string id = Post("pms", "lp-1", "payment.settled");
  poller.join();
  ASSERT_EQ(polled.status, 200) << polled.error << polled.body;
  rapidjson::Document d = Json(polled.body);
  ASSERT_EQ(d["data"].Size(), 1u);
  EXPECT_EQ(std::string(d["data"][0]["id"].GetString()), id);
  EXPECT_GE(took.count(), 450);
  EXPECT_LT(took.count(), 3000) << "the poll waited for its timeout, not for the commit";

  // With nothing new it answers an empty page when the wait ends.
  auto start = std::chrono::steady_clock::now();
  HttpResult empty = Get("/api/v1/feed?wait=1&source=nobody", kConsumer);
  auto waited = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(empty.status, 200);
  EXPECT_EQ(Json(empty.body)["data"].Size(), 0u);
  EXPECT_GE(waited, std::chrono::milliseconds(950));
  EXPECT_LT(waited, std::chrono::milliseconds(3000));
}

// Pistache 0.0.5 answers 408 and closes a busy connection once its header timeout (10 s) has
// passed since the request; a parked long-poll must outlive that.
TEST_F(RestApiTest, ALongPollOutlivesPistachesHeaderTimeout) {
  Start();
  ASSERT_FALSE(Post("pms", "slow-0", "x.y").empty());
  int64_t latest = Json(Get("/api/v1/feed", kConsumer).body)["next_after"].GetInt64();
  HttpResult polled;
  std::thread poller([&] {
    HttpClient c;
    polled = c.Request("GET", server_->Url("/api/v1/feed?wait=25&after=" + std::to_string(latest)),
                       {{"Authorization", std::string("Bearer ") + kConsumer}}, "", 40000);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(11500));
  std::string id = Post("pms", "slow-1", "x.y");
  poller.join();
  ASSERT_EQ(polled.status, 200) << polled.error << polled.body;
  rapidjson::Document d = Json(polled.body);
  ASSERT_EQ(d["data"].Size(), 1u);
  EXPECT_EQ(std::string(d["data"][0]["id"].GetString()), id);
}

TEST_F(RestApiTest, ConsumerCursorsNeverMoveBackwards) {
  Start();
  std::vector<std::string> ids;
  for (int i = 0; i < 4; ++i) ids.push_back(Post("pms", "c-" + std::to_string(i), "x.y"));
  rapidjson::Document d = Json(Get("/api/v1/consumers/warehouse/events?limit=3", kConsumer).body);
  ASSERT_EQ(d["data"].Size(), 3u);
  EXPECT_EQ(std::string(d["data"][0]["id"].GetString()), ids[0]);
  int64_t third = d["data"][2]["seq"].GetInt64();
  // Without an ack the same events come again.
  d = Json(Get("/api/v1/consumers/warehouse/events?limit=3", kConsumer).body);
  EXPECT_EQ(std::string(d["data"][0]["id"].GetString()), ids[0]);

  HttpResult ack = PostJson("/api/v1/consumers/warehouse/ack", kConsumer,
                            R"({"seq": )" + std::to_string(third) + "}");
  ASSERT_EQ(ack.status, 200) << ack.body;
  EXPECT_EQ(Json(ack.body)["cursor"].GetInt64(), third);
  d = Json(Get("/api/v1/consumers/warehouse/events", kConsumer).body);
  ASSERT_EQ(d["data"].Size(), 1u);
  EXPECT_EQ(std::string(d["data"][0]["id"].GetString()), ids[3]);

  // An older ack does not move it back.
  ack = PostJson("/api/v1/consumers/warehouse/ack", kConsumer, R"({"seq": 1})");
  ASSERT_EQ(ack.status, 200);
  EXPECT_EQ(Json(ack.body)["cursor"].GetInt64(), third);
  d = Json(Get("/api/v1/consumers/warehouse/events", kConsumer).body);
  EXPECT_EQ(d["data"].Size(), 1u);
  // Another consumer has its own cursor.
  EXPECT_EQ(Json(Get("/api/v1/consumers/billing/events", kConsumer).body)["data"].Size(), 4u);
  // Acks of events that do not exist yet, and malformed acks, are refused.
  EXPECT_EQ(PostJson("/api/v1/consumers/warehouse/ack", kConsumer, R"({"seq": 999999})").status,
            400);
  EXPECT_EQ(PostJson("/api/v1/consumers/warehouse/ack", kConsumer, R"({"seq": "3"})").status,
            400);
  EXPECT_EQ(PostJson("/api/v1/consumers/warehouse/ack", kConsumer, R"({})").status, 400);
  EXPECT_EQ(Get("/api/v1/consumers/bad%20name/events", kConsumer).status, 400);

  // A consumer's long-poll wakes on a commit too.
  int64_t latest = Json(Get("/api/v1/feed", kConsumer).body)["next_after"].GetInt64();
  ASSERT_EQ(PostJson("/api/v1/consumers/billing/ack", kConsumer,
                     R"({"seq": )" + std::to_string(latest) + "}")
                .status,
            200);
  HttpResult polled;
  std::thread poller([&] {
    HttpClient c;
    polled = c.Request("GET", server_->Url("/api/v1/consumers/billing/events?wait=10"),
                       {{"Authorization", std::string("Bearer ") + kConsumer}}, "", 20000);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  std::string fifth = Post("crm", "c-5", "x.y");
  poller.join();
  d = Json(polled.body);
  ASSERT_EQ(d["data"].Size(), 1u) << polled.body;
  EXPECT_EQ(std::string(d["data"][0]["id"].GetString()), fifth);
}

// A consumer token reads and acknowledges only the consumers it lists; other roles read any
// configured consumer, only admins acknowledge for one; a name the config does not list is not a
// consumer at all, so no token can create one (nor its metrics series).
TEST_F(RestApiTest, ConsumerTokensUseOnlyTheirOwnConsumers) {
  Start();
  for (int i = 0; i < 3; ++i) ASSERT_FALSE(Post("pms", "own-" + std::to_string(i), "x.y").empty());
  // "other" may not move warehouse's cursor, nor read it.
  HttpResult r = PostJson("/api/v1/consumers/warehouse/ack", kOtherConsumer, R"({"seq": 3})");
  EXPECT_EQ(r.status, 403) << r.body;
  EXPECT_EQ(r.headers["content-type"], "application/problem+json");
  EXPECT_EQ(Get("/api/v1/consumers/warehouse/events", kOtherConsumer).status, 403);
  EXPECT_EQ(Get("/api/v1/consumers/other/events", kConsumer).status, 403);
  EXPECT_EQ(PostJson("/api/v1/consumers/other/ack", kConsumer, R"({"seq": 3})").status, 403);
  rapidjson::Document d = Json(Get("/api/v1/consumers/warehouse/events", kConsumer).body);
  EXPECT_EQ(d["data"].Size(), 3u);  // untouched
  // Its own consumer, named like the token by default, works.
  r = PostJson("/api/v1/consumers/other/ack", kOtherConsumer, R"({"seq": 2})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Json(Get("/api/v1/consumers/other/events", kOtherConsumer).body)["data"].Size(), 1u);

  // Unknown names: a consumer token is refused as for any name it does not list; others learn
  // that no such consumer exists. Nothing is created.
  EXPECT_EQ(Get("/api/v1/consumers/nobody/events", kConsumer).status, 403);
  EXPECT_EQ(PostJson("/api/v1/consumers/nobody/ack", kConsumer, R"({"seq": 1})").status, 403);
  EXPECT_EQ(Get("/api/v1/consumers/nobody/events", kAdmin).status, 404);
  EXPECT_EQ(PostJson("/api/v1/consumers/nobody/ack", kAdmin, R"({"seq": 1})").status, 404);
  EXPECT_EQ(QueryInt(Db(), "SELECT count(*) FROM consumers WHERE name = 'nobody'"), 0);
  EXPECT_EQ(client_.Request("GET", server_->Url("/metrics")).body.find("nobody"),
            std::string::npos);

  // Auditors and operators read everything, the feed and any consumer's events, but do not ack.
  for (const char* reader : {kAuditor, kOperator}) {
    EXPECT_EQ(Get("/api/v1/feed", reader).status, 200);
    d = Json(Get("/api/v1/consumers/warehouse/events", reader).body);
    EXPECT_EQ(d["data"].Size(), 3u);
    EXPECT_EQ(PostJson("/api/v1/consumers/warehouse/ack", reader, R"({"seq": 3})").status, 403);
  }
  r = PostJson("/api/v1/consumers/warehouse/ack", kAdmin, R"({"seq": 1})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Json(r.body)["cursor"].GetInt64(), 1);
}

// 200 long-polls parked at once do not occupy Pistache's worker threads: ingest keeps
// answering, and every poll is answered when the events arrive.
TEST_F(RestApiTest, TwoHundredLongPollsDoNotStopIngest) {
  Start();
  ASSERT_FALSE(Post("pms", "many-0", "x.y").empty());
  int64_t latest = Json(Get("/api/v1/feed", kConsumer).body)["next_after"].GetInt64();
  constexpr int kPolls = 200;
  std::vector<std::thread> polls;
  std::atomic<int> answered_with_data{0};
  std::atomic<int> started{0};
  for (int i = 0; i < kPolls; ++i) {
    polls.emplace_back([&] {
      HttpClient c;
      ++started;
      HttpResult r =
          c.Request("GET", server_->Url("/api/v1/feed?wait=25&after=" + std::to_string(latest)),
                    {{"Authorization", std::string("Bearer ") + kConsumer}}, "", 40000);
      if (r.status == 200 && Json(r.body)["data"].Size() > 0) ++answered_with_data;
    });
  }
  ASSERT_TRUE(WaitFor([&] { return started == kPolls; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));  // let them all park
  EXPECT_EQ(answered_with_data.load(), 0);
  // Ingest and the readiness probe still answer at once.
  auto start = std::chrono::steady_clock::now();
  for (int i = 1; i <= 20; ++i) {
    ASSERT_FALSE(Post("pms", "many-" + std::to_string(i), "x.y").empty());
  }
  auto ingest_time = std::chrono::steady_clock::now() - start;
  EXPECT_LT(ingest_time, std::chrono::seconds(2));
  EXPECT_EQ(client_.Request("GET", server_->Url("/healthz")).status, 200);
  for (std::thread& t : polls) t.join();
  EXPECT_EQ(answered_with_data.load(), kPolls);
}

TEST_F(RestApiTest, OpenApiIsServedWithoutAuth) {
  Start();
  HttpResult r = client_.Request("GET", server_->Url("/api/v1/openapi.json"));
  ASSERT_EQ(r.status, 200);
  rapidjson::Document d = Json(r.body);
  ASSERT_TRUE(d.IsObject());
  EXPECT_EQ(std::string(d["openapi"].GetString()).substr(0, 2), "3.");
}

}  // namespace
}  // namespace hookvault::testing
