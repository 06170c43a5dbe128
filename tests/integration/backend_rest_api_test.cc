// The shared suite, REST API: queries, filters, cursor paging and roles over real HTTP against
// the real binary, on SQLite and on PostgreSQL alike.
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <atomic>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/testing/backend.h"
#include "tests/testing/http_client.h"
#include "tests/testing/sink_server.h"

namespace hookvault::testing {
namespace {

constexpr char kSourceToken[] = "suite-rest-source-token-0123456789";
constexpr char kAuditor[] = "suite-rest-auditor-token-0123456789";
constexpr char kOperator[] = "suite-rest-operator-token-0123456789";
constexpr char kConsumer[] = "suite-rest-consumer-token-0123456789";
constexpr char kAdmin[] = "suite-rest-admin-token-0123456789";

// Two sources; destination "good" accepts everything, "bad" (booking events only) always
// answers 500 and gives up after 2 attempts.
class RestApiSuite : public BackendServerTest {
 protected:
  void SetUp() override {
    BackendServerTest::SetUp();
    bad_.SetHandler([](const SinkRequest&) {
      SinkReply r;
      r.status = 500;
      r.body = "down";
      return r;
    });
  }

  void StartServer() {
    Start(R"("sources": [
        {"name": "pms", "tokens": [")" + std::string(kSourceToken) + R"("], "event_type": "/event",
         "idempotency": {"pointer": "/id"}},
        {"name": "crm", "tokens": [")" + kSourceToken + R"("], "event_type": "/event",
         "idempotency": {"pointer": "/id"}}],
      "destinations": [
        {"name": "good", "url": ")" + good_.Url("/good") + R"(", "max_attempts": 2,
         "backoff": {"initial_ms": 50, "max_ms": 100}},
        {"name": "bad", "url": ")" + bad_.Url("/bad") + R"(", "events": ["booking.*"],
         "max_attempts": 2, "backoff": {"initial_ms": 50, "max_ms": 100}}],
      "api_tokens": [
        {"name": "audit-team", "token": ")" + kAuditor + R"(", "role": "auditor"},
        {"name": "ops", "token": ")" + kOperator + R"(", "role": "operator"},
        {"name": "warehouse", "token": ")" + kConsumer + R"(", "role": "consumer"},
        {"name": "root", "token": ")" + kAdmin + R"(", "role": "admin"}])");
  }

  // Posts one webhook; returns its event id ("" unless 200).
  std::string Post(const std::string& source, const std::string& key, const std::string& type,
                   const std::string& token = kSourceToken) {
    HttpResult r =
        Ingest(source, token, R"({"id":")" + key + R"(","event":")" + type + R"(","n":1})");
    rapidjson::Document d = Json(r.body);
    return r.status == 200 && d.IsObject() ? d["id"].GetString() : "";
  }

  // Returns an auditor's GET of `path` parsed (asserting a 200).
  rapidjson::Document List(const std::string& path) {
    HttpResult r = Get(path, kAuditor);
    EXPECT_EQ(r.status, 200) << path << ": " << r.body;
    return Json(r.status == 200 ? r.body : "");
  }

  // Returns the `field` of each row of the list at `path` (numbers as decimal text).
  std::vector<std::string> Ids(const std::string& path, const char* field = "id") {
    rapidjson::Document d = List(path);
    std::vector<std::string> ids;
    if (!d.IsObject() || !d.HasMember("data")) return {"<no list>"};
    for (const auto& row : d["data"].GetArray()) {
      const auto& v = row[field];
      ids.push_back(v.IsString() ? v.GetString() : std::to_string(v.GetInt64()));
    }
    return ids;
  }

  SinkServer good_;
  SinkServer bad_;
};

using IdList = std::vector<std::string>;

TEST_P(RestApiSuite, EventFiltersAndDetailWithPayloadAndDeliveries) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  std::string a = Post("pms", "f-1", "booking.created");
  std::string b = Post("pms", "f-2", "payment.settled");
  std::string c = Post("crm", "f-3", "booking.created");
  ASSERT_FALSE(a.empty() || b.empty() || c.empty());
  EXPECT_EQ(Ids("/api/v1/events"), (IdList{c, b, a}));  // newest first
  EXPECT_EQ(Ids("/api/v1/events?source=pms"), (IdList{b, a}));
  EXPECT_EQ(Ids("/api/v1/events?type=booking.created"), (IdList{c, a}));
  EXPECT_EQ(Ids("/api/v1/events?source=crm&type=booking.created"), IdList{c});
  EXPECT_EQ(Ids("/api/v1/events?source=nobody"), IdList{});
  EXPECT_EQ(Ids("/api/v1/events?idempotency_key=f-2"), IdList{b});
  // "bad" fails the booking events for good; payment.settled goes to "good" only.
  ASSERT_TRUE(WaitFor([&] {
    return Ids("/api/v1/events?status=failed") == IdList{c, a} &&
           Ids("/api/v1/events?status=delivered") == IdList{b};
  })) << server().Log();
  EXPECT_EQ(Ids("/api/v1/events?status=pending"), IdList{});

  // Time ranges: [received_after, received_before).
  rapidjson::Document all = List("/api/v1/events");
  std::string b_time = all["data"][1]["received_at"].GetString();
  EXPECT_EQ(Ids("/api/v1/events?received_after=" + b_time), (IdList{c, b}));
  EXPECT_EQ(Ids("/api/v1/events?received_before=" + b_time), IdList{a});
  EXPECT_EQ(Ids("/api/v1/events?received_after=2000-01-01T00:00:00Z&received_before="
                "2000-01-02T00:00:00Z"),
            IdList{});

  HttpResult detail = Get("/api/v1/events/" + a, kAuditor);
  ASSERT_EQ(detail.status, 200) << detail.body;
  rapidjson::Document d = Json(detail.body);
  EXPECT_EQ(std::string(d["id"].GetString()), a);
  EXPECT_EQ(d["seq"].GetInt64(), 1);
  EXPECT_EQ(std::string(d["source"].GetString()), "pms");
  EXPECT_EQ(std::string(d["event_type"].GetString()), "booking.created");
  EXPECT_EQ(std::string(d["status"].GetString()), "failed");
  EXPECT_EQ(std::string(d["idempotency_key"].GetString()), "f-1");
  EXPECT_EQ(std::string(d["payload"]["event"].GetString()), "booking.created");
  EXPECT_EQ(d["payload"]["n"].GetInt(), 1);
  EXPECT_TRUE(d["headers"].IsObject());
  EXPECT_FALSE(d["headers"].HasMember("x-auth-token")) << detail.body;
  EXPECT_EQ(detail.body.find(kSourceToken), std::string::npos);
  ASSERT_EQ(d["deliveries"].Size(), 2u);
  std::set<std::pair<std::string, std::string>> deliveries;
  for (const auto& del : d["deliveries"].GetArray()) {
    deliveries.emplace(del["destination"].GetString(), del["status"].GetString());
  }
  EXPECT_EQ(deliveries, (std::set<std::pair<std::string, std::string>>{{"bad", "failed"},
                                                                        {"good", "succeeded"}}));
  EXPECT_EQ(Get("/api/v1/events/01890000-0000-7000-8000-000000000000", kAuditor).status, 404);
  EXPECT_EQ(Get("/api/v1/events?limit=1001", kAuditor).status, 400);
  EXPECT_EQ(Get("/api/v1/events?cursor=bogus", kAuditor).status, 400);
}

TEST_P(RestApiSuite, DeliveriesAttemptsAndRequestsWithTheirFilters) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  std::string a = Post("pms", "d-1", "booking.created");
  std::string b = Post("pms", "d-2", "payment.settled");
  ASSERT_FALSE(a.empty() || b.empty());
  EXPECT_EQ(Post("pms", "d-3", "x", "wrong-token"), "");  // refused, but logged
  EXPECT_EQ(Post("nobody", "d-4", "x"), "");              // unknown source, logged
  ASSERT_TRUE(WaitFor([&] {
    return Ids("/api/v1/deliveries?status=failed").size() == 1 &&
           Ids("/api/v1/deliveries?status=succeeded").size() == 2;
  })) << server().Log();

  rapidjson::Document failed = List("/api/v1/deliveries?status=failed");
  EXPECT_EQ(std::string(failed["data"][0]["destination"].GetString()), "bad");
  EXPECT_EQ(std::string(failed["data"][0]["event_id"].GetString()), a);
  EXPECT_EQ(failed["data"][0]["attempts"].GetInt(), 2);
  EXPECT_EQ(Ids("/api/v1/deliveries?destination=good").size(), 2u);
  EXPECT_EQ(Ids("/api/v1/deliveries?destination=good&event_id=" + b).size(), 1u);
  EXPECT_EQ(Ids("/api/v1/deliveries?event_id=" + a).size(), 2u);
  EXPECT_EQ(Ids("/api/v1/deliveries?status=pending").size(), 0u);
  EXPECT_EQ(Ids("/api/v1/deliveries?after=2000-01-01T00:00:00Z").size(), 3u);
  EXPECT_EQ(Ids("/api/v1/deliveries?before=2000-01-01T00:00:00Z").size(), 0u);

  EXPECT_EQ(Ids("/api/v1/attempts?outcome=failure").size(), 2u);
  EXPECT_EQ(Ids("/api/v1/attempts?outcome=success").size(), 2u);
  EXPECT_EQ(Ids("/api/v1/attempts?destination=bad&outcome=success").size(), 0u);
  EXPECT_EQ(Ids("/api/v1/attempts?event_id=" + a).size(), 3u);
  EXPECT_EQ(Ids("/api/v1/attempts?event_id=" + a + "&destination=good").size(), 1u);
  EXPECT_EQ(Ids("/api/v1/attempts?before=2000-01-01T00:00:00Z").size(), 0u);

  // An event's attempts, oldest first, with what each got.
  rapidjson::Document attempts = List("/api/v1/events/" + a + "/attempts");
  ASSERT_EQ(attempts["data"].Size(), 3u);
  int64_t last_id = 0;
  int bad_seen = 0;
  for (const auto& at : attempts["data"].GetArray()) {
    EXPECT_GT(at["id"].GetInt64(), last_id);
    last_id = at["id"].GetInt64();
    EXPECT_EQ(std::string(at["event_id"].GetString()), a);
    if (std::string(at["destination"].GetString()) == "bad") {
      ++bad_seen;
      EXPECT_EQ(at["number"].GetInt(), bad_seen);
      EXPECT_EQ(at["http_status"].GetInt(), 500);
      EXPECT_EQ(std::string(at["response_excerpt"].GetString()), "down");
      EXPECT_EQ(std::string(at["outcome"].GetString()), "failure");
    }
  }
  EXPECT_EQ(bad_seen, 2);

  // The request log, refused requests included (written in the background).
  ASSERT_TRUE(WaitFor([&] { return Ids("/api/v1/requests").size() == 4; }))
      << Get("/api/v1/requests", kAuditor).body;
  rapidjson::Document rejected = List("/api/v1/requests?rejected=true");
  ASSERT_EQ(rejected["data"].Size(), 2u);
  std::set<int> statuses;
  for (const auto& row : rejected["data"].GetArray()) {
    statuses.insert(row["status"].GetInt());
    EXPECT_TRUE(row["event_id"].IsNull());
  }
  EXPECT_EQ(statuses, (std::set<int>{401, 404}));
  rapidjson::Document unauthenticated = List("/api/v1/requests?status=401");
  ASSERT_EQ(unauthenticated["data"].Size(), 1u);
  EXPECT_EQ(std::string(unauthenticated["data"][0]["source"].GetString()), "pms");
  EXPECT_EQ(std::string(unauthenticated["data"][0]["reason"].GetString()), "unauthenticated");
  std::set<std::string> logged_ids;
  for (const std::string& id : Ids("/api/v1/requests?status=200&source=pms", "event_id")) {
    logged_ids.insert(id);
  }
  EXPECT_EQ(logged_ids, (std::set<std::string>{a, b}));
  EXPECT_EQ(Ids("/api/v1/requests?source=crm").size(), 0u);
  EXPECT_EQ(Ids("/api/v1/requests?after=2000-01-01T00:00:00Z&before=2100-01-01T00:00:00Z").size(),
            4u);
}

// Paging newest first through every event of a source while another source keeps ingesting:
// keyset cursors skip and repeat nothing; then every list is paged to its end.
TEST_P(RestApiSuite, CursorPagingWhileIngestContinuesSkipsAndRepeatsNothing) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  std::set<std::string> before;
  for (int i = 0; i < 60; ++i) {
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
          "POST", Url("/webhooks/crm"),
          {{"x-auth-token", kSourceToken}, {"Content-Type", "application/json"}},
          R"({"id":"more-)" + std::to_string(i) + R"(","event":"payment.settled"})");
      if (r.status == 200) ++extra;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  });
  std::vector<std::string> seen;
  std::string cursor;
  int64_t last_seq = INT64_MAX;
  int pages = 0;
  do {
    std::string path = "/api/v1/events?source=pms&limit=7";
    if (!cursor.empty()) path += "&cursor=" + cursor;
    rapidjson::Document d = List(path);
    if (!d.IsObject()) break;  // List() recorded the failure; the writer must still be joined
    for (const auto& e : d["data"].GetArray()) {
      EXPECT_LT(e["seq"].GetInt64(), last_seq);
      last_seq = e["seq"].GetInt64();
      seen.push_back(e["id"].GetString());
    }
    cursor = d["next_cursor"].IsNull() ? "" : d["next_cursor"].GetString();
    ++pages;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  } while (!cursor.empty() && pages < 100);
  stop = true;
  writer.join();
  EXPECT_GT(extra.load(), 0) << "nothing was ingested while paging";
  EXPECT_EQ(pages, 9);  // 60 / 7, rounded up
  EXPECT_EQ(seen.size(), 60u);
  EXPECT_EQ(std::set<std::string>(seen.begin(), seen.end()), before);

  // Every list, paged with small pages to its end: no row twice, as many as there are.
  const int64_t total = 60 + extra.load();
  for (const std::string list : {"/api/v1/events", "/api/v1/deliveries", "/api/v1/requests"}) {
    std::set<std::string> rows;
    cursor.clear();
    int list_pages = 0;
    do {
      std::string path = list + "?limit=9";
      if (!cursor.empty()) path += "&cursor=" + cursor;
      rapidjson::Document d = List(path);
      ASSERT_TRUE(d.IsObject()) << path;
      for (const auto& row : d["data"].GetArray()) {
        const auto& id = row["id"];
        std::string key = id.IsString() ? id.GetString() : std::to_string(id.GetInt64());
        EXPECT_TRUE(rows.insert(key).second) << list << ": " << key << " repeated";
      }
      cursor = d["next_cursor"].IsNull() ? "" : d["next_cursor"].GetString();
    } while (!cursor.empty() && ++list_pages < 1000);
    // One "good" delivery per event, one request-log row per accepted request (written in
    // the event's transaction).
    EXPECT_EQ(static_cast<int64_t>(rows.size()), total) << list;
  }
}

// Every REST route of the brief × no token, a wrong token and each role: 401 without a valid
// token, 403 when the role does not allow it, 2xx when it does.
TEST_P(RestApiSuite, RoutesAnswer401And403ByRole) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  std::string id = Post("pms", "auth-1", "payment.settled");
  ASSERT_FALSE(id.empty());
  enum Need { kRead, kReprocess, kPull, kAck };
  struct Route {
    std::string method, path, body;
    Need need;
  };
  const std::vector<Route> routes = {
      {"GET", "/api/v1/events", "", kRead},
      {"GET", "/api/v1/events/" + id, "", kRead},
      {"GET", "/api/v1/events/" + id + "/attempts", "", kRead},
      {"GET", "/api/v1/deliveries", "", kRead},
      {"GET", "/api/v1/attempts", "", kRead},
      {"GET", "/api/v1/requests", "", kRead},
      {"GET", "/api/v1/audit", "", kRead},
      {"GET", "/api/v1/audit/verify", "", kRead},
      {"POST", "/api/v1/events/" + id + "/reprocess", "{}", kReprocess},
      {"POST", "/api/v1/reprocess", R"({"dry_run": true})", kReprocess},
      {"GET", "/api/v1/feed", "", kPull},
      {"GET", "/api/v1/consumers/warehouse/events", "", kPull},
      {"POST", "/api/v1/consumers/warehouse/ack", R"({"seq": 1})", kAck},
  };
  struct Caller {
    std::string name, token;
    std::set<Need> may;
  };
  const std::vector<Caller> callers = {
      {"auditor", kAuditor, {kRead, kPull}},
      {"operator", kOperator, {kRead, kReprocess, kPull}},
      {"consumer", kConsumer, {kPull, kAck}},
      {"admin", kAdmin, {kRead, kReprocess, kPull, kAck}},
  };
  HttpClient client;
  auto call = [&](const Route& route, const std::string& token) {
    Headers h = {{"Content-Type", "application/json"}};
    if (!token.empty()) h.emplace_back("Authorization", "Bearer " + token);
    return client.Request(route.method, Url(route.path), h, route.body);
  };
  for (const Route& route : routes) {
    const std::string what = route.method + " " + route.path;
    HttpResult none = call(route, "");
    EXPECT_EQ(none.status, 401) << what;
    EXPECT_EQ(none.headers["content-type"], "application/problem+json") << what;
    EXPECT_EQ(call(route, "suite-not-a-valid-token-0123456789").status, 401) << what;
    EXPECT_EQ(call(route, std::string(kAuditor) + "x").status, 401) << what;
    for (const Caller& caller : callers) {
      HttpResult r = call(route, caller.token);
      if (caller.may.count(route.need)) {
        EXPECT_TRUE(r.status >= 200 && r.status < 300)
            << caller.name << " " << what << ": " << r.status << " " << r.body;
      } else {
        EXPECT_EQ(r.status, 403) << caller.name << " " << what << ": " << r.body;
        EXPECT_EQ(r.headers["content-type"], "application/problem+json") << what;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, RestApiSuite, ::testing::ValuesIn(AllBackends()),
                         BackendTestName);

}  // namespace
}  // namespace hookvault::testing
