// Finding 13 of issue 14, end to end: the REST API never acts on more than the operator asked
// for. Every request body member that is null, repeated, unknown, empty or of the wrong type,
// every body that is not JSON, and every query parameter given twice or without a value is
// answered 400 (415 for the content type) naming it, and changes nothing. The real binary, a
// real SQLite file, real HTTP and a real sink.
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "tests/testing/db.h"
#include "tests/testing/http_client.h"
#include "tests/testing/server_process.h"
#include "tests/testing/sink_server.h"
#include "tests/testing/temp_dir.h"

namespace hookvault::testing {
namespace {

constexpr char kSourceToken[] = "strict-source-token-0123456789";
constexpr char kAuditor[] = "auditor-token-0123456789";
constexpr char kOperator[] = "operator-token-0123456789";
constexpr char kConsumer[] = "consumer-token-0123456789";

using Headers = std::vector<std::pair<std::string, std::string>>;

bool WaitFor(const std::function<bool()>& condition, int seconds = 15) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return condition();
}

std::string Detail(const HttpResult& r) {
  rapidjson::Document d;
  d.Parse(r.body.c_str(), r.body.size());
  if (!d.IsObject() || !d.HasMember("detail") || !d["detail"].IsString()) return "";
  return d["detail"].GetString();
}

// A server with one source and a destination "bad" that always answers 500 and gives up after
// one attempt, so every event leaves one failed delivery for an operator to reprocess.
class InputStrictnessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    bad_.SetHandler([](const SinkRequest&) {
      SinkReply r;
      r.status = 500;
      return r;
    });
    std::string config = R"({"listen": "127.0.0.1:0", "data_dir": ")" + dir_.path() +
                         R"(", "log": {"level": "info"},
      "sources": [{"name": "pms", "tokens": [")" + kSourceToken + R"("], "event_type": "/event",
                   "idempotency": {"pointer": "/id"}}],
      "destinations": [{"name": "bad", "url": ")" + bad_.Url("/bad") + R"(",
                        "max_attempts": 1, "backoff": {"initial_ms": 20, "max_ms": 50}}],
      "api_tokens": [
        {"name": "audit-team", "token": ")" + kAuditor + R"(", "role": "auditor"},
        {"name": "ops", "token": ")" + kOperator + R"(", "role": "operator"},
        {"name": "warehouse", "token": ")" + kConsumer + R"(", "role": "consumer"}]})";
    std::string path = dir_.Write("config.json", config);
    server_ = std::make_unique<ServerProcess>(std::vector<std::string>{"serve", "--config", path},
                                              dir_.File("server.log"));
    ASSERT_TRUE(server_->started()) << server_->Log();
  }

  // Stores `n` events and waits until each has its failed delivery; returns their ids.
  std::vector<std::string> FailedEvents(int n) {
    std::vector<std::string> ids;
    for (int i = 0; i < n; ++i) {
      HttpResult r = client_.Request(
          "POST", server_->Url("/webhooks/pms"),
          {{"x-auth-token", kSourceToken}, {"Content-Type", "application/json"}},
          R"({"id": "e)" + std::to_string(i) + R"(", "event": "booking.created"})");
      EXPECT_EQ(r.status, 200) << r.body;
      rapidjson::Document d;
      d.Parse(r.body.c_str(), r.body.size());
      if (d.IsObject() && d.HasMember("id")) ids.push_back(d["id"].GetString());
    }
    EXPECT_TRUE(WaitFor([&] { return Failed() == n; })) << server_->Log();
    return ids;
  }

  int64_t Failed() const {
    return QueryInt(Db(), "SELECT count(*) FROM deliveries WHERE status = 'failed'");
  }
  int64_t AuditRows() const { return QueryInt(Db(), "SELECT count(*) FROM audit_log"); }
  std::string Db() const { return dir_.File("hookvault.db"); }

  HttpResult Post(const std::string& path, const std::string& token, const std::string& body,
                  const std::string& content_type = "application/json") {
    // An empty value makes libcurl send no Content-Type at all.
    return client_.Request("POST", server_->Url(path),
                           {{"Authorization", "Bearer " + token}, {"Content-Type", content_type}},
                           body);
  }

  HttpResult Get(const std::string& path, const std::string& token = kAuditor) {
    return client_.Request("GET", server_->Url(path), {{"Authorization", "Bearer " + token}});
  }

  // Expects `r` to be a problem with `status` whose detail names 'named' (when not empty).
  static void ExpectProblem(const HttpResult& r, int status, const std::string& named,
                            const std::string& what) {
    EXPECT_EQ(r.status, status) << what << ": " << r.body;
    EXPECT_EQ(r.headers.count("content-type") ? r.headers.at("content-type") : "",
              "application/problem+json")
        << what;
    if (!named.empty()) {
      EXPECT_NE(Detail(r).find("'" + named + "'"), std::string::npos) << what << ": " << r.body;
    }
  }

  TempDir dir_;
  SinkServer bad_;
  std::unique_ptr<ServerProcess> server_;
  HttpClient client_;
};

// The case the finding opened with: {"destination": "bad", "dry_run": null} was a real requeue
// (audited as dry_run: false), and {"destination": null} matched every destination.
TEST_F(InputStrictnessTest, BulkReprocessWithANullMemberIsA400AndRequeuesNothing) {
  FailedEvents(3);
  size_t sent = bad_.Count();

  ExpectProblem(Post("/api/v1/reprocess", kOperator, R"({"destination": "bad", "dry_run": null})"),
                400, "dry_run", "dry_run null");
  ExpectProblem(Post("/api/v1/reprocess", kOperator, R"({"destination": null, "dry_run": true})"),
                400, "destination", "destination null");
  for (const char* member : {"status", "event_id", "after", "before", "reason"}) {
    ExpectProblem(Post("/api/v1/reprocess", kOperator,
                       std::string(R"({"destination": "bad", ")") + member + R"(": null})"),
                  400, member, member);
  }

  // Nothing was requeued, nothing audited, nothing sent again.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(Failed(), 3);
  EXPECT_EQ(AuditRows(), 0);
  EXPECT_EQ(bad_.Count(), sent);
}

TEST_F(InputStrictnessTest, BulkReprocessBodyIsExactlyWhatTheOperatorWrote) {
  FailedEvents(2);
  size_t sent = bad_.Count();
  struct Case {
    const char* body;
    const char* named;
  };
  for (const Case& c : std::vector<Case>{
           // A repeated member: RapidJSON keeps both and the first one used to win.
           {R"({"destination": "bad", "dry_run": false, "dry_run": true})", "dry_run"},
           {R"({"dry_run": true, "destination": "bad", "destination": "good"})", "destination"},
           // Unknown members, wrong types and empty values.
           {R"({"destinaton": "bad", "dry_run": true})", "destinaton"},
           {R"({"destination": "bad", "dry_run": "true"})", "dry_run"},
           {R"({"destination": "bad", "dry_run": 0})", "dry_run"},
           {R"({"destination": 1, "dry_run": true})", "destination"},
           {R"({"destination": "", "dry_run": true})", "destination"},
           {R"({"destination": "bad", "after": "yesterday", "dry_run": true})", "after"},
           {R"({"destination": "bad", "status": "pending"})", "status"},
       }) {
    ExpectProblem(Post("/api/v1/reprocess", kOperator, c.body), 400, c.named, c.body);
  }
  // Malformed JSON and a body that is not an object.
  ExpectProblem(Post("/api/v1/reprocess", kOperator, R"({"dry_run": true)"), 400, "", "unclosed");
  ExpectProblem(Post("/api/v1/reprocess", kOperator, "[]"), 400, "", "array");
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(Failed(), 2);
  EXPECT_EQ(AuditRows(), 0);
  EXPECT_EQ(bad_.Count(), sent);

  // The same filter, written exactly, works.
  HttpResult r = Post("/api/v1/reprocess", kOperator, R"({"destination": "bad", "dry_run": true})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.body.find(R"("matched":2)"), std::string::npos) << r.body;
  EXPECT_EQ(AuditRows(), 1);
}

TEST_F(InputStrictnessTest, ARestBodyThatIsNotJsonIsA415) {
  std::vector<std::string> ids = FailedEvents(1);
  ASSERT_EQ(ids.size(), 1u);
  size_t sent = bad_.Count();
  const std::string body = R"({"destination": "bad"})";
  for (const char* type : {"text/plain", "application/x-www-form-urlencoded", "text/json",
                           "application/xml", ""}) {
    ExpectProblem(Post("/api/v1/reprocess", kOperator, body, type), 415, "", type);
    ExpectProblem(Post("/api/v1/events/" + ids[0] + "/reprocess", kOperator, "{}", type), 415, "",
                  type);
    ExpectProblem(Post("/api/v1/consumers/warehouse/ack", kConsumer, R"({"seq": 1})", type), 415,
                  "", type);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(Failed(), 1);
  EXPECT_EQ(AuditRows(), 0);
  // Retention registers configured consumers at cursor 0; no ack moved one.
  EXPECT_EQ(QueryInt(Db(), "SELECT count(*) FROM consumers WHERE cursor > 0"), 0);
  EXPECT_EQ(bad_.Count(), sent);

  // JSON with parameters is JSON; an empty body needs no Content-Type (all members left out).
  EXPECT_EQ(Post("/api/v1/reprocess", kOperator, R"({"dry_run": true})",
                 "application/json; charset=utf-8")
                .status,
            200);
  HttpResult r = Post("/api/v1/events/" + ids[0] + "/reprocess", kOperator, "", "");
  EXPECT_EQ(r.status, 202) << r.body;
}

TEST_F(InputStrictnessTest, EventReprocessAndAckBodiesRefuseNullRepeatsAndEmpties) {
  std::vector<std::string> ids = FailedEvents(1);
  ASSERT_EQ(ids.size(), 1u);
  size_t sent = bad_.Count();
  const std::string event = "/api/v1/events/" + ids[0] + "/reprocess";
  struct Case {
    const char* body;
    const char* named;
  };
  for (const Case& c : std::vector<Case>{
           {R"({"all": null})", "all"},
           {R"({"destinations": null})", "destinations"},
           {R"({"reason": null})", "reason"},
           {R"({"destinations": []})", "destinations"},  // would mean every destination
           {R"({"destinations": ["bad", ""]})", "destinations"},
           {R"({"all": true, "all": false})", "all"},
           {R"({"al": true})", "al"},
           {R"({"all": "yes"})", "all"},
       }) {
    ExpectProblem(Post(event, kOperator, c.body), 400, c.named, c.body);
  }
  for (const Case& c : std::vector<Case>{
           {R"({"seq": null})", "seq"},
           {R"({"seq": "1"})", "seq"},
           {R"({"seq": 1.0})", "seq"},
           {R"({"seq": 0, "seq": 1})", "seq"},
           {R"({"seq": 1, "name": "other"})", "name"},
           {"{}", "seq"},
       }) {
    ExpectProblem(Post("/api/v1/consumers/warehouse/ack", kConsumer, c.body), 400, c.named, c.body);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(Failed(), 1);
  EXPECT_EQ(AuditRows(), 0);
  // Retention registers configured consumers at cursor 0; no ack moved one.
  EXPECT_EQ(QueryInt(Db(), "SELECT count(*) FROM consumers WHERE cursor > 0"), 0);
  EXPECT_EQ(bad_.Count(), sent);
}

// "?status=" was no status filter: the list came back unfiltered.
TEST_F(InputStrictnessTest, AQueryParameterWithoutAValueIsA400NamingIt) {
  FailedEvents(1);
  struct Case {
    std::string path;
    const char* named;
    const char* token;
  };
  for (const Case& c : std::vector<Case>{
           {"/api/v1/deliveries?status=", "status", kAuditor},
           {"/api/v1/deliveries?destination=", "destination", kAuditor},
           {"/api/v1/deliveries?destination=bad&event_id=", "event_id", kAuditor},
           {"/api/v1/events?limit=", "limit", kAuditor},
           {"/api/v1/events?limit", "limit", kAuditor},
           {"/api/v1/events?status=failed&cursor=", "cursor", kAuditor},
           {"/api/v1/events?source=", "source", kAuditor},
           {"/api/v1/attempts?outcome=", "outcome", kAuditor},
           {"/api/v1/requests?status=", "status", kAuditor},
           {"/api/v1/audit?after=", "after", kAuditor},
           {"/api/v1/feed?type=", "type", kConsumer},
           {"/api/v1/consumers/warehouse/events?wait=", "wait", kConsumer},
       }) {
    ExpectProblem(Get(c.path, c.token), 400, c.named, c.path);
  }
  EXPECT_EQ(Get("/api/v1/deliveries?status=failed").status, 200);
}

// Needs an HTTP adapter that passes every occurrence of a query parameter (Pistache 0.0.5's map
// keeps the first only): "?status=failed&status=bogus" was a 200 with the first value.
TEST_F(InputStrictnessTest, AQueryParameterGivenTwiceIsA400NamingIt) {
  FailedEvents(1);
  struct Case {
    std::string path;
    const char* named;
    const char* token;
  };
  for (const Case& c : std::vector<Case>{
           {"/api/v1/deliveries?status=failed&status=bogus", "status", kAuditor},
           {"/api/v1/deliveries?status=failed&status=failed", "status", kAuditor},
           {"/api/v1/deliveries?destination=bad&limit=5&destination=good", "destination",
            kAuditor},
           {"/api/v1/events?limit=5&limit=", "limit", kAuditor},
           {"/api/v1/events?st%61tus=failed&status=failed", "status", kAuditor},
           {"/api/v1/feed?after=0&after=5", "after", kConsumer},
       }) {
    ExpectProblem(Get(c.path, c.token), 400, c.named, c.path);
  }
}

// A parameter no route takes, and any parameter on a route that takes none.
TEST_F(InputStrictnessTest, AnUnknownQueryParameterIsA400NamingIt) {
  FailedEvents(1);
  ExpectProblem(Get("/api/v1/deliveries?stauts=failed"), 400, "stauts", "stauts");
  ExpectProblem(Get("/api/v1/audit/verify?full=1"), 400, "full", "verify");
  ExpectProblem(Post("/api/v1/reprocess?dry_run=true", kOperator, R"({"destination": "bad"})"),
                400, "dry_run", "reprocess query");
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(Failed(), 1);
  EXPECT_EQ(AuditRows(), 0);
}

// Ingest is the providers' JSON, not ours: a repeated name is stored byte for byte as sent, and
// the source's pointers (event type, idempotency key) read its first copy, as the README says.
TEST_F(InputStrictnessTest, IngestKeepsAProvidersRepeatedNamesAndReadsTheFirst) {
  const std::string body =
      R"({"id": "k1", "event": "booking.created", "event": "payment.created", "id": "k2"})";
  HttpResult r = client_.Request(
      "POST", server_->Url("/webhooks/pms"),
      {{"x-auth-token", kSourceToken}, {"Content-Type", "application/json"}}, body);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(QueryText(Db(), "SELECT event_type FROM events"), "booking.created");
  EXPECT_EQ(QueryText(Db(), "SELECT idempotency_key FROM events"), "k1");
  EXPECT_EQ(QueryText(Db(), "SELECT CAST(body AS TEXT) FROM events"), body);
}

}  // namespace
}  // namespace hookvault::testing
