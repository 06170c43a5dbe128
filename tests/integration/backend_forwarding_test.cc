// The shared suite, forwarding: the real binary on SQLite and on PostgreSQL forwards to real
// local sinks. Checked at the sink (the contract's headers, the signature, the attempt number)
// and through the REST API (attempts recorded, final states, reprocess single and bulk, the
// audit chain), so the test is the same on both stores.
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <atomic>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "server/delivery/webhook_signature.h"
#include "tests/testing/backend.h"
#include "tests/testing/sink_server.h"

namespace hookvault::testing {
namespace {

constexpr char kToken[] = "suite-forwarding-token-0123456789";
constexpr char kSecret[] = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
constexpr char kAuditor[] = "suite-fw-auditor-token-0123456789";
constexpr char kOperator[] = "suite-fw-operator-token-0123456789";

class ForwardingSuite : public BackendServerTest {
 protected:
  // Starts a server with source "pms" and `destinations` (a JSON array's members).
  void StartWith(const std::string& destinations) {
    Start(R"("sources": [{"name": "pms", "tokens": [")" + std::string(kToken) +
          R"("], "event_type": "/event", "idempotency": {"pointer": "/id"}}],
      "destinations": [)" + destinations + R"(],
      "api_tokens": [
        {"name": "audit-team", "token": ")" + kAuditor + R"(", "role": "auditor"},
        {"name": "ops", "token": ")" + kOperator + R"(", "role": "operator"}])");
  }

  // Posts an event with idempotency key `key`; returns its id ("" unless 200).
  std::string Post(const std::string& key, const std::string& type) {
    HttpResult r = Ingest("pms", kToken, R"({"id":")" + key + R"(","event":")" + type + R"("})");
    EXPECT_EQ(r.status, 200) << r.body << r.error;
    rapidjson::Document d = Json(r.body);
    return r.status == 200 && d.IsObject() ? d["id"].GetString() : "";
  }

  // Returns an auditor's GET of `path` parsed (a non-object when it is not a 200).
  rapidjson::Document Read(const std::string& path) {
    HttpResult r = Get(path, kAuditor);
    EXPECT_EQ(r.status, 200) << path << ": " << r.body;
    return Json(r.status == 200 ? r.body : "");
  }

  // Returns the number of rows a list at `path` answers with (-1 if not a 200).
  int64_t Count(const std::string& path) {
    rapidjson::Document d = Read(path);
    return d.IsObject() ? static_cast<int64_t>(d["data"].Size()) : -1;
  }

  // Returns the stored status of event `id`.
  std::string EventStatus(const std::string& id) {
    rapidjson::Document d = Read("/api/v1/events/" + id);
    return d.IsObject() ? d["status"].GetString() : "<none>";
  }

  static std::string Header(const SinkRequest& r, const std::string& name) {
    auto it = r.headers.find(name);
    return it == r.headers.end() ? "<absent>" : it->second;
  }
};

TEST_P(ForwardingSuite, FailsThenSucceedsWithTheContractsHeadersAndEveryAttemptRecorded) {
  SinkServer signed_sink;
  std::atomic<int> calls{0};
  signed_sink.SetHandler([&](const SinkRequest&) {
    SinkReply reply;
    reply.status = ++calls <= 3 ? 500 : 200;
    reply.body = reply.status == 500 ? "try later" : "thanks";
    return reply;
  });
  SinkServer plain_sink;
  ASSERT_NO_FATAL_FAILURE(StartWith(
      R"({"name": "signed", "url": ")" + signed_sink.Url("/hooks") + R"(", "signing_secret": ")" +
      kSecret + R"(", "events": ["booking.*"], "max_attempts": 10,
          "backoff": {"initial_ms": 50, "max_ms": 200, "multiplier": 2.0}},
       {"name": "plain", "url": ")" + plain_sink.Url("/plain") + R"(", "events": ["plain.*"]})"));

  std::string id = Post("bk-1", "booking.created");
  std::string plain_id = Post("pl-1", "plain.created");
  ASSERT_FALSE(id.empty() || plain_id.empty());

  ASSERT_TRUE(signed_sink.WaitForCount(4, std::chrono::seconds(20))) << server().Log();
  ASSERT_TRUE(WaitFor([&] { return EventStatus(id) == "delivered"; })) << server().Log();
  std::vector<SinkRequest> requests = signed_sink.Requests();
  ASSERT_EQ(requests.size(), 4u);
  auto key = server::DecodeSigningSecret(kSecret);
  ASSERT_TRUE(key.ok());
  for (size_t i = 0; i < requests.size(); ++i) {
    const SinkRequest& r = requests[i];
    EXPECT_EQ(r.method, "POST");
    EXPECT_EQ(r.path, "/hooks");
    EXPECT_EQ(r.body, R"({"id":"bk-1","event":"booking.created"})");
    EXPECT_EQ(Header(r, "content-type"), "application/json");
    EXPECT_EQ(Header(r, "webhook-id"), id) << "the same on every attempt";
    EXPECT_EQ(Header(r, "x-hookvault-attempt"), std::to_string(i + 1));
    EXPECT_EQ(Header(r, "x-hookvault-source"), "pms");
    EXPECT_EQ(Header(r, "x-hookvault-event-type"), "booking.created");
    ASSERT_NE(Header(r, "webhook-timestamp"), "<absent>");
    int64_t ts = std::stoll(Header(r, "webhook-timestamp"));
    EXPECT_NEAR(ts, r.received_at_us / 1000000, 2);
    EXPECT_EQ(Header(r, "webhook-signature"), server::SignWebhook(*key, id, ts, r.body).value());
  }
  // Every attempt is recorded, oldest first: three failures with what the sink said, then the
  // success.
  rapidjson::Document attempts = Read("/api/v1/events/" + id + "/attempts");
  ASSERT_TRUE(attempts.IsObject());
  ASSERT_EQ(attempts["data"].Size(), 4u);
  for (rapidjson::SizeType i = 0; i < 4; ++i) {
    const auto& a = attempts["data"][i];
    EXPECT_EQ(a["number"].GetInt(), static_cast<int>(i + 1));
    EXPECT_EQ(std::string(a["destination"].GetString()), "signed");
    EXPECT_EQ(std::string(a["outcome"].GetString()), i < 3 ? "failure" : "success");
    EXPECT_EQ(a["http_status"].GetInt(), i < 3 ? 500 : 200);
    EXPECT_EQ(std::string(a["response_excerpt"].GetString()), i < 3 ? "try later" : "thanks");
  }
  rapidjson::Document deliveries = Read("/api/v1/deliveries?event_id=" + id);
  ASSERT_EQ(deliveries["data"].Size(), 1u);
  EXPECT_EQ(std::string(deliveries["data"][0]["status"].GetString()), "succeeded");
  EXPECT_EQ(deliveries["data"][0]["attempts"].GetInt(), 4);

  // Without a signing secret: no signature, the other headers alike.
  ASSERT_TRUE(plain_sink.WaitForCount(1, std::chrono::seconds(20))) << server().Log();
  ASSERT_TRUE(WaitFor([&] { return EventStatus(plain_id) == "delivered"; }));
  SinkRequest plain = plain_sink.Requests()[0];
  EXPECT_EQ(Header(plain, "webhook-id"), plain_id);
  EXPECT_EQ(Header(plain, "x-hookvault-attempt"), "1");
  EXPECT_NE(Header(plain, "webhook-timestamp"), "<absent>");
  EXPECT_EQ(Header(plain, "webhook-signature"), "<absent>");
  EXPECT_EQ(plain_sink.Count(), 1u);
  EXPECT_EQ(signed_sink.Count(), 4u) << "a delivered event was sent again";
}

// A sink that keeps failing: after max_attempts the deliveries are failed (and so their
// events); an operator reprocesses one event, then the rest in bulk (first as a dry run that
// changes nothing), and once the sink accepts, all are delivered; every action is audited and
// the chain verifies.
TEST_P(ForwardingSuite, MaxAttemptsParksAsFailedAndReprocessDelivers) {
  SinkServer sink;
  std::atomic<int> status{500};
  sink.SetHandler([&](const SinkRequest&) {
    SinkReply reply;
    reply.status = status.load();
    return reply;
  });
  ASSERT_NO_FATAL_FAILURE(StartWith(R"({"name": "flaky", "url": ")" + sink.Url("/flaky") +
                                    R"(", "max_attempts": 2,
      "backoff": {"initial_ms": 50, "max_ms": 100}})"));
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) ids.push_back(Post("f-" + std::to_string(i), "payment.settled"));
  ASSERT_TRUE(WaitFor([&] { return Count("/api/v1/deliveries?status=failed") == 3; }))
      << server().Log();
  for (const std::string& id : ids) {
    EXPECT_EQ(EventStatus(id), "failed");
    EXPECT_EQ(Count("/api/v1/events/" + id + "/attempts"), 2);
  }
  EXPECT_EQ(Count("/api/v1/events?status=failed"), 3);
  EXPECT_EQ(sink.Count(), 6u);
  status = 200;

  // One event: auditors may not, operators may; its attempts count afresh.
  EXPECT_EQ(PostJson("/api/v1/events/" + ids[0] + "/reprocess", kAuditor, "{}").status, 403);
  HttpResult single = PostJson("/api/v1/events/" + ids[0] + "/reprocess", kOperator,
                               R"({"reason": "sink fixed"})");
  ASSERT_EQ(single.status, 202) << single.body;
  EXPECT_EQ(Json(single.body)["requeued"].GetInt(), 1);
  ASSERT_TRUE(WaitFor([&] { return EventStatus(ids[0]) == "delivered"; })) << server().Log();
  ASSERT_EQ(sink.Count(), 7u);
  EXPECT_EQ(sink.Requests()[6].headers.at("webhook-id"), ids[0]);
  EXPECT_EQ(sink.Requests()[6].headers.at("x-hookvault-attempt"), "1");
  rapidjson::Document history = Read("/api/v1/events/" + ids[0] + "/attempts");
  ASSERT_EQ(history["data"].Size(), 3u);  // the two failures stay in the history
  EXPECT_EQ(std::string(history["data"][2]["outcome"].GetString()), "success");
  EXPECT_EQ(history["data"][2]["number"].GetInt(), 1);

  // Bulk, as a dry run: counted, nothing changes.
  HttpResult dry = PostJson("/api/v1/reprocess", kOperator,
                            R"({"destination": "flaky", "dry_run": true, "reason": "how many?"})");
  ASSERT_EQ(dry.status, 200) << dry.body;
  EXPECT_EQ(Json(dry.body)["matched"].GetInt(), 2);
  EXPECT_EQ(Json(dry.body)["requeued"].GetInt(), 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(Count("/api/v1/deliveries?status=failed"), 2);
  EXPECT_EQ(sink.Count(), 7u);

  // Bulk for real: both requeued and delivered.
  HttpResult bulk = PostJson("/api/v1/reprocess", kOperator,
                             R"({"destination": "flaky", "reason": "sink fixed"})");
  ASSERT_EQ(bulk.status, 200) << bulk.body;
  EXPECT_EQ(Json(bulk.body)["matched"].GetInt(), 2);
  EXPECT_EQ(Json(bulk.body)["requeued"].GetInt(), 2);
  ASSERT_TRUE(WaitFor([&] {
    return EventStatus(ids[1]) == "delivered" && EventStatus(ids[2]) == "delivered";
  })) << server().Log();
  EXPECT_EQ(Count("/api/v1/deliveries?status=failed"), 0);
  EXPECT_EQ(Count("/api/v1/events?status=delivered"), 3);
  EXPECT_EQ(sink.Count(), 9u);

  // The audit log, newest first: the bulk run, the dry run, the single reprocess.
  rapidjson::Document audit = Read("/api/v1/audit");
  ASSERT_TRUE(audit.IsObject());
  ASSERT_EQ(audit["data"].Size(), 3u) << Get("/api/v1/audit", kAuditor).body;
  const auto& rows = audit["data"];
  EXPECT_EQ(std::string(rows[0]["action"].GetString()), "reprocess_bulk");
  EXPECT_EQ(rows[0]["matched"].GetInt(), 2);
  EXPECT_EQ(rows[0]["requeued"].GetInt(), 2);
  EXPECT_EQ(std::string(rows[1]["action"].GetString()), "reprocess_bulk");
  EXPECT_EQ(rows[1]["matched"].GetInt(), 2);
  EXPECT_EQ(rows[1]["requeued"].GetInt(), 0);
  EXPECT_EQ(std::string(rows[1]["reason"].GetString()), "how many?");
  EXPECT_EQ(std::string(rows[2]["action"].GetString()), "reprocess_event");
  EXPECT_EQ(std::string(rows[2]["target"]["event_id"].GetString()), ids[0]);
  EXPECT_EQ(rows[2]["requeued"].GetInt(), 1);
  for (const auto& row : rows.GetArray()) {
    EXPECT_EQ(std::string(row["actor"].GetString()), "ops");
    EXPECT_EQ(std::string(row["role"].GetString()), "operator");
  }
  EXPECT_EQ(std::string(rows[0]["prev_hash"].GetString()), rows[1]["hash"].GetString());
  EXPECT_EQ(std::string(rows[1]["prev_hash"].GetString()), rows[2]["hash"].GetString());
  rapidjson::Document verify = Read("/api/v1/audit/verify");
  ASSERT_TRUE(verify.IsObject());
  EXPECT_TRUE(verify["ok"].GetBool());
  EXPECT_EQ(verify["rows"].GetInt(), 3);
  EXPECT_TRUE(verify["first_bad"].IsNull());
  EXPECT_EQ(std::string(verify["head"].GetString()), rows[0]["hash"].GetString());
}

// Deliveries waiting for their next attempt survive a restart of the server (SIGTERM), and
// go out once the sink accepts: nothing is lost between two runs on the same store.
TEST_P(ForwardingSuite, PendingDeliveriesGoOutAfterARestart) {
  SinkServer sink;
  std::atomic<int> status{503};
  sink.SetHandler([&](const SinkRequest&) {
    SinkReply reply;
    reply.status = status.load();
    return reply;
  });
  const std::string destination = R"({"name": "later", "url": ")" + sink.Url("/later") +
                                  R"(", "max_attempts": 50,
      "backoff": {"initial_ms": 100, "max_ms": 300}})";
  ASSERT_NO_FATAL_FAILURE(StartWith(destination));
  std::set<std::string> ids;
  for (int i = 0; i < 5; ++i) ids.insert(Post("r-" + std::to_string(i), "x.y"));
  ASSERT_TRUE(sink.WaitForCount(5, std::chrono::seconds(20)));
  Stop();
  status = 200;
  size_t before = sink.Count();
  ASSERT_NO_FATAL_FAILURE(StartWith(destination));
  // An attempt cut off by the stop keeps its lease until it expires (on PostgreSQL a restarted
  // node does not release leases: they might be another node's), hence the longer wait.
  ASSERT_TRUE(WaitFor([&] { return Count("/api/v1/events?status=delivered") == 5; }, 90))
      << server().Log();
  std::set<std::string> delivered;
  std::vector<SinkRequest> requests = sink.Requests();
  for (size_t i = before; i < requests.size(); ++i) {
    if (requests[i].headers.count("webhook-id")) delivered.insert(requests[i].headers.at("webhook-id"));
  }
  EXPECT_EQ(delivered, ids) << "after the restart, each event went out";
  EXPECT_EQ(Count("/api/v1/deliveries?status=pending"), 0);
}

INSTANTIATE_TEST_SUITE_P(Backends, ForwardingSuite, ::testing::ValuesIn(AllBackends()),
                         BackendTestName);

}  // namespace
}  // namespace hookvault::testing
