// The shared suite, operational alerts: on SQLite and on PostgreSQL an exhausted delivery gives
// a signed alert of source _hookvault at the alerts sink, stored and listed like any event, and
// a burst of failures gives one alert and one summary.
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <atomic>
#include <string>
#include <vector>

#include "server/delivery/webhook_signature.h"
#include "tests/testing/backend.h"
#include "tests/testing/sink_server.h"

namespace hookvault::testing {
namespace {

constexpr char kToken[] = "suite-alerts-token-0123456789";
constexpr char kSecret[] = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
constexpr char kAuditor[] = "suite-alerts-auditor-token-0123456789";

class AlertsSuite : public BackendServerTest {
 protected:
  void SetUp() override {
    BackendServerTest::SetUp();
    crm_.SetHandler([](const SinkRequest&) {
      SinkReply reply;
      reply.status = 500;
      reply.body = "down for maintenance";
      return reply;
    });
  }

  void StartWithAlerts() {
    Start(R"("sources": [{"name": "pms", "tokens": [")" + std::string(kToken) +
          R"("], "event_type": "/event"}],
      "destinations": [{"name": "crm", "url": ")" +
          crm_.Url("/crm") + R"(", "max_attempts": 1}],
      "alerts": {"url": ")" +
          alerts_.Url("/alerts") + R"(", "signing_secret": ")" + kSecret +
          R"(", "min_interval_ms": 2000},
      "api_tokens": [{"name": "audit-team", "token": ")" +
          kAuditor + R"(", "role": "auditor"}])");
  }

  std::string Post(const std::string& key) {
    HttpResult r = Ingest("pms", kToken, R"({"id":")" + key + R"(","event":"booking.created"})");
    EXPECT_EQ(r.status, 200) << r.body << r.error;
    rapidjson::Document d = Json(r.body);
    return r.status == 200 && d.IsObject() ? d["id"].GetString() : "";
  }

  SinkServer crm_;
  SinkServer alerts_;
};

TEST_P(AlertsSuite, ExhaustedDeliveriesAreAlertedOnceThenSummarised) {
  ASSERT_NO_FATAL_FAILURE(StartWithAlerts());
  std::vector<std::string> ids;
  for (int i = 0; i < 10; ++i) ids.push_back(Post("bk-" + std::to_string(i)));
  ASSERT_TRUE(crm_.WaitForCount(10, std::chrono::seconds(20)));
  ASSERT_TRUE(alerts_.WaitForCount(2, std::chrono::seconds(20))) << server().Log();
  std::vector<SinkRequest> got = alerts_.Requests();
  uint64_t total = 0;
  auto key = server::DecodeSigningSecret(kSecret);
  ASSERT_TRUE(key.ok());
  for (const SinkRequest& r : got) {
    EXPECT_EQ(r.headers.at("x-hookvault-source"), "_hookvault");
    EXPECT_EQ(r.headers.at("x-hookvault-event-type"), "delivery.exhausted");
    int64_t ts = std::stoll(r.headers.at("webhook-timestamp"));
    EXPECT_EQ(r.headers.at("webhook-signature"),
              server::SignWebhook(*key, r.headers.at("webhook-id"), ts, r.body).value());
    rapidjson::Document p = Json(r.body);
    EXPECT_STREQ(p["destination"].GetString(), "crm");
    total += p["count"].GetUint64();
  }
  EXPECT_EQ(total, 10u);  // one alert of 1 and one summary of 9
  EXPECT_TRUE(WaitFor([&] {
    rapidjson::Document d = Json(Get("/api/v1/events?source=_hookvault", kAuditor).body);
    return d.IsObject() && d["data"].Size() == 2 &&
           std::string(d["data"][0]["status"].GetString()) == "delivered" &&
           std::string(d["data"][1]["status"].GetString()) == "delivered";
  })) << Get("/api/v1/events?source=_hookvault", kAuditor).body;
}

INSTANTIATE_TEST_SUITE_P(Backends, AlertsSuite, ::testing::ValuesIn(AllBackends()),
                         BackendTestName);

}  // namespace
}  // namespace hookvault::testing
