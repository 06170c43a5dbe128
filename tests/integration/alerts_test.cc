// Operational alerts end to end: the real binary, a real SQLite file, a real sink for the
// destination and another for the alerts (config "alerts"). Each alert must arrive as a signed
// webhook of source _hookvault, and be listed in the API like any event.
#include <SQLiteCpp/SQLiteCpp.h>
#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "server/delivery/webhook_signature.h"
#include "tests/testing/db.h"
#include "tests/testing/http_client.h"
#include "tests/testing/rabbitmq_server.h"
#include "tests/testing/server_process.h"
#include "tests/testing/sink_server.h"
#include "tests/testing/temp_dir.h"

namespace hookvault::testing {
namespace {

constexpr char kToken[] = "alerts-source-token-0123456789";
constexpr char kApiToken[] = "alerts-api-token-0123456789abcdef";
constexpr char kAlertsSecret[] = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

// `destination_extra` and `alerts_extra` are further keys of the destination "crm" and of
// "alerts"; `top_extra` further top-level keys.
std::string Config(const std::string& dir, const std::string& crm_url,
                   const std::string& alerts_url, const std::string& destination_extra,
                   const std::string& alerts_extra, const std::string& top_extra = "") {
  return R"({"listen": "127.0.0.1:0", "data_dir": ")" + dir + R"(", "log": {"level": "info"},)" +
         top_extra + R"(
    "sources": [{"name": "pms", "tokens": [")" +
         kToken + R"("], "event_type": "/event"}],
    "api_tokens": [{"name": "ops", "token": ")" +
         kApiToken + R"(", "role": "admin"}],
    "destinations": [{"name": "crm", "url": ")" +
         crm_url + R"(", )" + destination_extra + R"(}],
    "alerts": {"url": ")" +
         alerts_url + R"(", "signing_secret": ")" + kAlertsSecret +
         R"(", "backoff": {"initial_ms": 100, "max_ms": 400, "multiplier": 2.0}, )" + alerts_extra +
         "}}";
}

rapidjson::Document Json(const std::string& body) {
  rapidjson::Document d;
  d.Parse(body.c_str());
  return d;
}

std::string PostEvent(HttpClient& client, const ServerProcess& server, const std::string& id) {
  HttpResult r = client.Request("POST", server.Url("/webhooks/pms"),
                                {{"x-auth-token", kToken}, {"Content-Type", "application/json"}},
                                R"({"id":")" + id + R"(","event":"booking.created"})");
  if (r.status != 200) return "";
  return Json(r.body)["id"].GetString();
}

bool WaitFor(const std::function<bool()>& condition, int seconds = 15) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return condition();
}

SinkReply Status(int status) {
  SinkReply reply;
  reply.status = status;
  reply.body = status == 200 ? "ok" : "receiver says no";
  return reply;
}

// Checks that `r` is a webhook hookvault signed with the alerts secret, of source _hookvault.
void ExpectSignedAlert(const SinkRequest& r, const std::string& type) {
  EXPECT_EQ(r.headers.at("x-hookvault-source"), "_hookvault");
  EXPECT_EQ(r.headers.at("x-hookvault-event-type"), type);
  auto key = server::DecodeSigningSecret(kAlertsSecret);
  ASSERT_TRUE(key.ok());
  int64_t ts = std::stoll(r.headers.at("webhook-timestamp"));
  EXPECT_EQ(r.headers.at("webhook-signature"),
            server::SignWebhook(*key, r.headers.at("webhook-id"), ts, r.body).value());
}

TEST(AlertsTest, ExhaustedDeliveryIsAlertedSignedAndListedInTheApi) {
  SinkServer crm;
  crm.SetHandler([](const SinkRequest&) { return Status(500); });
  SinkServer alerts;
  TempDir dir;
  std::string config =
      dir.Write("config.json", Config(dir.path(), crm.Url("/crm"), alerts.Url("/alerts"),
                                      R"("max_attempts": 1)", R"("min_interval_ms": 1000)"));
  ServerProcess server({"serve", "--config", config}, dir.File("server.log"));
  ASSERT_TRUE(server.started()) << server.Log();
  HttpClient client;
  std::string id = PostEvent(client, server, "bk-1");
  ASSERT_FALSE(id.empty());

  ASSERT_TRUE(alerts.WaitForCount(1, std::chrono::seconds(15))) << server.Log();
  SinkRequest r = alerts.Requests()[0];
  EXPECT_EQ(r.path, "/alerts");
  ExpectSignedAlert(r, "delivery.exhausted");
  rapidjson::Document p = Json(r.body);
  ASSERT_TRUE(p.IsObject()) << r.body;
  EXPECT_STREQ(p["type"].GetString(), "delivery.exhausted");
  EXPECT_STREQ(p["destination"].GetString(), "crm");
  EXPECT_EQ(p["count"].GetUint64(), 1u);
  EXPECT_FALSE(p["summary"].GetBool());
  EXPECT_STREQ(p["first"]["event_id"].GetString(), id.c_str());
  EXPECT_EQ(p["first"]["attempts"].GetInt(), 1);
  EXPECT_NE(std::string(p["first"]["error"].GetString()).find("500"), std::string::npos) << r.body;
  EXPECT_EQ(std::string(p["link"].GetString()), "/console/#/events/" + id);
  EXPECT_FALSE(std::string(p["node"].GetString()).empty());

  // Listed like any event, though _hookvault is no configured source, and delivered.
  HttpResult list = client.Request("GET", server.Url("/api/v1/events?source=_hookvault"),
                                   {{"Authorization", std::string("Bearer ") + kApiToken}});
  ASSERT_EQ(list.status, 200) << list.body;
  rapidjson::Document l = Json(list.body);
  ASSERT_EQ(l["data"].Size(), 1u) << list.body;
  EXPECT_STREQ(l["data"][0]["id"].GetString(), r.headers.at("webhook-id").c_str());
  EXPECT_STREQ(l["data"][0]["event_type"].GetString(), "delivery.exhausted");
  std::string db = dir.File("hookvault.db");
  EXPECT_TRUE(WaitFor([&] {
    return QueryText(db, "SELECT status FROM events WHERE source = '_hookvault'") == "delivered";
  }));
  // The failed delivery of the alert's own event would not be alerted (no loop); the metric
  // counts the one stored.
  HttpResult metrics = client.Request("GET", server.Url("/metrics"));
  EXPECT_NE(metrics.body.find("hookvault_alerts_total{type=\"delivery.exhausted\"} 1"),
            std::string::npos)
      << metrics.body;
}

TEST(AlertsTest, FiftyExhaustedDeliveriesGiveOneAlertAndOneSummary) {
  SinkServer crm;
  crm.SetHandler([](const SinkRequest&) { return Status(500); });
  SinkServer alerts;
  TempDir dir;
  // 2 s: room for all 50 to fail within one interval on a loaded machine. The circuit stays
  // closed, so that every delivery is attempted (and fails) rather than paused.
  std::string config =
      dir.Write("config.json", Config(dir.path(), crm.Url("/crm"), alerts.Url("/alerts"),
                                      R"("max_attempts": 1, "circuit": {"failures": 1000})",
                                      R"("min_interval_ms": 2000)"));
  ServerProcess server({"serve", "--config", config}, dir.File("server.log"));
  ASSERT_TRUE(server.started()) << server.Log();
  HttpClient client;
  std::vector<std::string> ids;
  for (int i = 0; i < 50; ++i) {
    ids.push_back(PostEvent(client, server, "bk-" + std::to_string(i)));
    ASSERT_FALSE(ids.back().empty());
  }
  ASSERT_TRUE(crm.WaitForCount(50, std::chrono::seconds(15)));
  ASSERT_TRUE(alerts.WaitForCount(2, std::chrono::seconds(15))) << server.Log();
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));  // a further interval: no more
  std::vector<SinkRequest> got = alerts.Requests();
  ASSERT_EQ(got.size(), 2u);
  rapidjson::Document first = Json(got[0].body);
  rapidjson::Document summary = Json(got[1].body);
  if (first["summary"].GetBool()) std::swap(first, summary);  // delivered in either order
  EXPECT_FALSE(first["summary"].GetBool());
  EXPECT_EQ(first["count"].GetUint64(), 1u);
  ASSERT_TRUE(summary["summary"].GetBool()) << got[1].body;
  EXPECT_EQ(summary["count"].GetUint64(), 49u);
  EXPECT_STREQ(summary["destination"].GetString(), "crm");
  EXPECT_TRUE(summary["first"]["error"].IsString());
  EXPECT_TRUE(summary["last"]["error"].IsString());
  // Every failed event is named once: the first alert's, then the summary's first and last.
  EXPECT_NE(summary["first"]["event_id"].GetString(), summary["last"]["event_id"].GetString());
  HttpResult metrics = client.Request("GET", server.Url("/metrics"));
  EXPECT_NE(metrics.body.find("hookvault_alerts_total{type=\"delivery.exhausted\"} 2"),
            std::string::npos);
  EXPECT_NE(metrics.body.find("hookvault_alerts_suppressed_total{type=\"delivery.exhausted\"} 49"),
            std::string::npos);
}

TEST(AlertsTest, StorageUnavailableIsStoredOnRecoveryRightBeforeRecovered) {
  SinkServer crm;
  SinkServer alerts;
  TempDir dir;
  std::string config =
      dir.Write("config.json",
                Config(dir.path(), crm.Url("/crm"), alerts.Url("/alerts"), R"("max_attempts": 1)",
                       R"("min_interval_ms": 1000)", R"("max_db_bytes": 1048576,)"));
  ServerProcess server({"serve", "--config", config}, dir.File("server.log"));
  ASSERT_TRUE(server.started()) << server.Log();
  std::string db = dir.File("hookvault.db");
  auto exec = [&](const std::string& sql) {  // a connection of its own, without the size limit
    SQLite::Database c(db, SQLite::OPEN_READWRITE, 5000);
    c.exec(sql);
  };
  exec("INSERT INTO service_state (key, value) VALUES ('test_ballast', zeroblob(400000))");

  HttpClient client;
  int refused = 0;
  for (int i = 0; i < 2000 && refused < 5; ++i) {
    HttpResult r = client.Request("POST", server.Url("/webhooks/pms"),
                                  {{"x-auth-token", kToken}, {"Content-Type", "application/json"}},
                                  R"({"id":"fill-)" + std::to_string(i) +
                                      R"(","event":"a","pad":")" + std::string(1500, 'p') + "\"}");
    if (r.status == 503) ++refused;
    ASSERT_TRUE(r.status == 200 || r.status == 503) << r.status << r.body;
  }
  ASSERT_EQ(refused, 5) << "the database never filled up";
  std::this_thread::sleep_for(std::chrono::milliseconds(600));  // the alerter sees the outage
  EXPECT_EQ(QueryInt(db, "SELECT count(*) FROM events WHERE source = '_hookvault'"), 0);

  exec("DELETE FROM service_state WHERE key = 'test_ballast'");  // space returns
  // No webhook arrives meanwhile: the alerter's own probe finds the store writable.
  ASSERT_TRUE(alerts.WaitForCount(2, std::chrono::seconds(15))) << server.Log();
  // Stored in this order, one right after the other.
  EXPECT_EQ(QueryText(db,
                      "SELECT group_concat(type, ',') FROM (SELECT event_type AS type FROM "
                      "events WHERE source = '_hookvault' ORDER BY seq)"),
            "storage.unavailable,storage.recovered");
  std::vector<SinkRequest> got = alerts.Requests();
  ASSERT_EQ(got.size(), 2u);
  for (const SinkRequest& r : got) {
    rapidjson::Document p = Json(r.body);
    const std::string type = p["type"].GetString();
    ExpectSignedAlert(r, type);
    EXPECT_LT(std::string(p["since"].GetString()), std::string(p["until"].GetString()));
    if (type == "storage.unavailable") {
      EXPECT_EQ(p["answered_503"].GetUint64(), 5u) << r.body;
      EXPECT_GE(p["first"]["unavailable_ms"].GetInt64(), 500) << r.body;
    } else {
      EXPECT_EQ(type, "storage.recovered");
    }
  }
}

TEST(AlertsTest, AlertsAreRetriedWhileTheirReceiverIsDown) {
  SinkServer crm;
  crm.SetHandler([](const SinkRequest&) { return Status(500); });
  SinkServer alerts;
  std::atomic<int> calls{0};
  alerts.SetHandler([&](const SinkRequest&) { return Status(++calls <= 3 ? 503 : 200); });
  TempDir dir;
  std::string config =
      dir.Write("config.json", Config(dir.path(), crm.Url("/crm"), alerts.Url("/alerts"),
                                      R"("max_attempts": 1)", R"("min_interval_ms": 1000)"));
  ServerProcess server({"serve", "--config", config}, dir.File("server.log"));
  ASSERT_TRUE(server.started()) << server.Log();
  HttpClient client;
  std::string id = PostEvent(client, server, "bk-1");
  ASSERT_FALSE(id.empty());
  std::string db = dir.File("hookvault.db");
  ASSERT_TRUE(WaitFor([&] {
    return QueryText(db, "SELECT status FROM events WHERE source = '_hookvault'") == "delivered";
  })) << server.Log();
  std::vector<SinkRequest> got = alerts.Requests();
  ASSERT_GE(got.size(), 4u);
  for (const SinkRequest& r : got) {
    EXPECT_EQ(r.headers.at("webhook-id"), got[0].headers.at("webhook-id"));  // one alert
    ExpectSignedAlert(r, "delivery.exhausted");
  }
  EXPECT_EQ(got.back().headers.at("x-hookvault-attempt"), std::to_string(got.size()));
  EXPECT_STREQ(Json(got.back().body)["first"]["event_id"].GetString(), id.c_str());
}

// The circuit breaker's notices: the destination is paused after 2 consecutive failures (one
// alert, however many probes fail meanwhile) and resumed when a probe succeeds.
TEST(AlertsTest, PausedAndResumedDestinationsAreAlerted) {
  SinkServer crm;
  std::atomic<bool> crm_up{false};
  crm.SetHandler([&](const SinkRequest&) { return Status(crm_up ? 200 : 500); });
  SinkServer alerts;
  TempDir dir;
  std::string config = dir.Write(
      "config.json", Config(dir.path(), crm.Url("/crm"), alerts.Url("/alerts"),
                            R"("max_attempts": 100, "circuit": {"failures": 2, "open_ms": 300},
                "backoff": {"initial_ms": 20, "max_ms": 50, "multiplier": 2.0})",
                            R"("min_interval_ms": 1000)"));
  ServerProcess server({"serve", "--config", config}, dir.File("server.log"));
  ASSERT_TRUE(server.started()) << server.Log();
  HttpClient client;
  ASSERT_FALSE(PostEvent(client, server, "bk-1").empty());
  ASSERT_TRUE(alerts.WaitForCount(1, std::chrono::seconds(15))) << server.Log();
  // Probes fail meanwhile (one per open_ms): still the one paused alert.
  ASSERT_TRUE(crm.WaitForCount(4, std::chrono::seconds(15))) << server.Log();
  crm_up = true;
  ASSERT_TRUE(alerts.WaitForCount(2, std::chrono::seconds(15))) << server.Log();
  std::vector<SinkRequest> got = alerts.Requests();
  ASSERT_EQ(got.size(), 2u);
  std::map<std::string, rapidjson::Document> by_type;
  for (const SinkRequest& r : got) {
    const std::string type = r.headers.at("x-hookvault-event-type");
    ExpectSignedAlert(r, type);
    by_type[type] = Json(r.body);
  }
  ASSERT_TRUE(by_type.contains("destination.paused")) << got[0].body;
  ASSERT_TRUE(by_type.contains("destination.resumed")) << got[1].body;
  const rapidjson::Document& paused = by_type["destination.paused"];
  EXPECT_STREQ(paused["destination"].GetString(), "crm");
  EXPECT_GE(paused["first"]["consecutive_failures"].GetUint64(), 2u);
  EXPECT_NE(std::string(paused["first"]["error"].GetString()).find("500"), std::string::npos);
  EXPECT_STREQ(paused["link"].GetString(), "/console/#/destinations");
  const rapidjson::Document& resumed = by_type["destination.resumed"];
  EXPECT_STREQ(resumed["destination"].GetString(), "crm");
  EXPECT_GE(resumed["first"]["paused_ms"].GetInt64(), 300);
  std::string db = dir.File("hookvault.db");
  EXPECT_EQ(QueryText(db,
                      "SELECT group_concat(type, ',') FROM (SELECT event_type AS type FROM "
                      "events WHERE source = '_hookvault' ORDER BY seq)"),
            "destination.paused,destination.resumed");
}

// Alerts published to RabbitMQ (an amqp:// alerts URL) are confirmed like any AMQP delivery.
TEST(AlertsAmqpTest, ExhaustedDeliveryIsPublishedToTheAlertsQueue) {
  RabbitMqServer* broker = RabbitMqServer::Shared();
  ASSERT_NE(broker, nullptr);
  const std::string queue = "hv-it-alerts-" + std::to_string(getpid());
  AmqpTestPeer peer(broker->url());
  ASSERT_TRUE(peer.DeclareQueue(queue));
  SinkServer crm;
  crm.SetHandler([](const SinkRequest&) { return Status(500); });
  TempDir dir;
  std::string config = R"({"listen": "127.0.0.1:0", "data_dir": ")" + dir.path() +
                       R"(", "log": {"level": "info"},
    "sources": [{"name": "pms", "tokens": [")" +
                       kToken + R"("], "event_type": "/event"}],
    "destinations": [{"name": "crm", "url": ")" +
                       crm.Url("/crm") + R"(", "max_attempts": 1}],
    "alerts": {"url": ")" +
                       broker->url() + R"(", "amqp": {"exchange": "", "routing_key": ")" + queue +
                       R"("}, "signing_secret": ")" + kAlertsSecret + R"("}})";
  ServerProcess server({"serve", "--config", dir.Write("config.json", config)},
                       dir.File("server.log"));
  ASSERT_TRUE(server.started()) << server.Log();
  HttpClient client;
  std::string id = PostEvent(client, server, "bk-1");
  ASSERT_FALSE(id.empty());
  auto m = peer.Get(queue, 15000);
  ASSERT_TRUE(m.has_value()) << server.Log();
  EXPECT_EQ(m->headers["x-hookvault-source"], "_hookvault");
  EXPECT_EQ(m->headers["x-hookvault-event-type"], "delivery.exhausted");
  rapidjson::Document p = Json(m->body);
  ASSERT_TRUE(p.IsObject()) << m->body;
  EXPECT_STREQ(p["destination"].GetString(), "crm");
  EXPECT_STREQ(p["first"]["event_id"].GetString(), id.c_str());
  std::string db = dir.File("hookvault.db");
  EXPECT_TRUE(WaitFor([&] {
    return QueryText(db, "SELECT status FROM events WHERE source = '_hookvault'") == "delivered";
  }));
  EXPECT_TRUE(peer.DeleteQueue(queue));
}

}  // namespace
}  // namespace hookvault::testing
