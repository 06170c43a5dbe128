// AMQP destinations end to end: the real binary, a real SQLite file, a real RabbitMQ broker
// (tests/testing/rabbitmq_server.h) and a consumer written with rabbitmq-c reading its queue.
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "server/delivery/webhook_signature.h"
#include "tests/testing/db.h"
#include "tests/testing/http_client.h"
#include "tests/testing/rabbitmq_server.h"
#include "tests/testing/server_process.h"
#include "tests/testing/temp_dir.h"

namespace hookvault::testing {
namespace {

constexpr char kToken[] = "amqp-source-token-0123456789";
constexpr char kOperator[] = "amqp-operator-token-0123456789";
constexpr char kSecret[] = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

std::string UniqueName(const std::string& prefix) {
  static std::mt19937_64 rng(std::random_device{}());
  return prefix + "-" + std::to_string(getpid()) + "-" + std::to_string(rng() % 1000000000);
}

std::string Config(const std::string& dir, const std::string& url, const std::string& exchange,
                   const std::string& routing_key) {
  return R"({"listen": "127.0.0.1:0", "data_dir": ")" + dir + R"(", "log": {"level": "info"},
    "sources": [{"name": "pms", "tokens": [")" +
         kToken + R"("], "event_type": "/event"}],
    "destinations": [{"name": "rabbit", "url": ")" + url + R"(",
      "amqp": {"exchange": ")" + exchange + R"(", "routing_key": ")" + routing_key + R"("},
      "signing_secret": ")" + kSecret + R"(", "timeout_ms": 2000, "max_attempts": 200,
      "backoff": {"initial_ms": 50, "max_ms": 300},
      "circuit": {"failures": 20, "open_ms": 200}}],
    "api_tokens": [{"name": "ops", "token": ")" + kOperator + R"(", "role": "operator"}]})";
}

std::string PostEvent(HttpClient& client, const ServerProcess& server, const std::string& id) {
  HttpResult r = client.Request("POST", server.Url("/webhooks/pms"),
                                {{"x-auth-token", kToken}, {"Content-Type", "application/json"}},
                                R"({"id":")" + id + R"(","event":"booking.created"})");
  if (r.status != 200) return "";
  rapidjson::Document d;
  d.Parse(r.body.c_str());
  return d["id"].GetString();
}

bool WaitFor(const std::function<bool()>& condition, int seconds = 20) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return condition();
}

TEST(AmqpDestinationTest, EveryEventArrivesSignedWithItsIdAndIsDeliveredOnTheBrokersAck) {
  RabbitMqServer* broker = RabbitMqServer::Shared();
  ASSERT_NE(broker, nullptr);
  const std::string queue = UniqueName("hv-it-events");
  AmqpTestPeer peer(broker->url());
  ASSERT_TRUE(peer.DeclareQueue(queue));
  TempDir dir;
  // The default exchange routes to the queue named like the routing key.
  std::string config = dir.Write("config.json", Config(dir.path(), broker->url(), "", queue));
  ServerProcess server({"serve", "--config", config}, dir.File("server.log"));
  ASSERT_TRUE(server.started()) << server.Log();
  HttpClient client;
  constexpr int kEvents = 20;
  std::map<std::string, std::string> body_of;  // event id -> body
  for (int i = 0; i < kEvents; ++i) {
    std::string id = PostEvent(client, server, "bk-" + std::to_string(i));
    ASSERT_FALSE(id.empty());
    body_of[id] = R"({"id":"bk-)" + std::to_string(i) + R"(","event":"booking.created"})";
  }
  auto key = server::DecodeSigningSecret(kSecret);
  ASSERT_TRUE(key.ok());
  std::set<std::string> seen;
  while (seen.size() < body_of.size()) {
    auto m = peer.Get(queue, 15000);
    ASSERT_TRUE(m.has_value()) << "only " << seen.size() << " messages arrived\n" << server.Log();
    ASSERT_TRUE(body_of.count(m->message_id)) << m->message_id;
    EXPECT_EQ(m->body, body_of[m->message_id]);
    EXPECT_EQ(m->delivery_mode, 2);
    EXPECT_EQ(m->content_type, "application/json");
    EXPECT_EQ(m->headers["webhook-id"], m->message_id);
    EXPECT_EQ(m->headers["x-hookvault-source"], "pms");
    EXPECT_EQ(m->headers["x-hookvault-event-type"], "booking.created");
    EXPECT_EQ(m->headers["x-hookvault-attempt"], "1");
    int64_t ts = std::stoll(m->headers["webhook-timestamp"]);
    EXPECT_EQ(static_cast<int64_t>(m->timestamp), ts);
    EXPECT_EQ(m->headers["webhook-signature"],
              server::SignWebhook(*key, m->message_id, ts, m->body).value());
    seen.insert(m->message_id);
  }
  const std::string db = dir.File("hookvault.db");
  ASSERT_TRUE(WaitFor([&] {
    return QueryInt(db, "SELECT count(*) FROM events WHERE status = 'delivered'") == kEvents;
  })) << server.Log();
  EXPECT_EQ(QueryInt(db,
                     "SELECT count(*) FROM attempts WHERE outcome = 'success' AND "
                     "http_status IS NULL AND CAST(response_excerpt AS TEXT) = 'basic.ack'"),
            kEvents);
  EXPECT_EQ(QueryInt(db, "SELECT count(*) FROM deliveries WHERE status = 'succeeded'"), kEvents);

  // A test event is published like a delivery, and the answer shows the broker's ack.
  HttpResult test = client.Request(
      "POST", server.Url("/api/v1/destinations/rabbit/test"),
      {{"Authorization", std::string("Bearer ") + kOperator}, {"Content-Type", "application/json"}},
      "", 30000);
  ASSERT_EQ(test.status, 200) << test.body;
  rapidjson::Document answer;
  answer.Parse(test.body.c_str());
  EXPECT_TRUE(answer["status"].IsNull()) << test.body;
  EXPECT_TRUE(answer["error"].IsNull()) << test.body;
  EXPECT_STREQ(answer["response_excerpt"].GetString(), "basic.ack") << test.body;
  auto m = peer.Get(queue, 5000);
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->message_id.rfind("test_", 0), 0u) << m->message_id;
  EXPECT_TRUE(peer.DeleteQueue(queue));
}

TEST(AmqpDestinationTest, UnroutablePublishIsRetriedUntilTheQueueIsBoundThenDelivered) {
  RabbitMqServer* broker = RabbitMqServer::Shared();
  ASSERT_NE(broker, nullptr);
  const std::string exchange = UniqueName("hv-it-exchange");
  const std::string queue = UniqueName("hv-it-late");
  AmqpTestPeer peer(broker->url());
  ASSERT_TRUE(peer.DeclareExchange(exchange));
  TempDir dir;
  std::string config =
      dir.Write("config.json", Config(dir.path(), broker->url(), exchange, "bookings"));
  ServerProcess server({"serve", "--config", config}, dir.File("server.log"));
  ASSERT_TRUE(server.started()) << server.Log();
  HttpClient client;
  std::string id = PostEvent(client, server, "late-1");
  ASSERT_FALSE(id.empty());
  const std::string db = dir.File("hookvault.db");
  // Unroutable: each attempt fails on the broker's return, and is retried.
  ASSERT_TRUE(WaitFor([&] {
    return QueryInt(db,
                    "SELECT count(*) FROM attempts WHERE outcome = 'failure' AND "
                    "error LIKE 'basic.return 312 NO_ROUTE%'") >= 2;
  })) << server.Log();
  EXPECT_EQ(QueryText(db, "SELECT status FROM deliveries"), "pending");
  ASSERT_TRUE(peer.DeclareQueue(queue));
  ASSERT_TRUE(peer.Bind(queue, exchange, "bookings"));
  ASSERT_TRUE(WaitFor([&] {
    return QueryText(db, "SELECT status FROM events WHERE id = ?", id) == "delivered";
  })) << server.Log();
  auto m = peer.Get(queue, 5000);
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->message_id, id);
  EXPECT_NE(m->headers["x-hookvault-attempt"], "1");
  EXPECT_TRUE(peer.DeleteQueue(queue));
}

// Two destinations on one broker URL, one of them with a missing exchange: the broken one's
// channel errors must not fail, or hold up, the healthy one's publishes (channel per
// destination on the URL's connection).
TEST(AmqpDestinationTest, MissingExchangeOfOneDestinationLeavesAnotherOnTheSameUrlUntouched) {
  RabbitMqServer* broker = RabbitMqServer::Shared();
  ASSERT_NE(broker, nullptr);
  const std::string queue = UniqueName("hv-it-good");
  AmqpTestPeer peer(broker->url());
  ASSERT_TRUE(peer.DeclareQueue(queue));
  TempDir dir;
  std::string config = Config(dir.path(), broker->url(), "", queue);
  const std::string broken = R"({"name": "broken", "url": ")" + broker->url() +
                             R"(", "amqp": {"exchange": "hv-it-no-such-exchange",
      "routing_key": "k"}, "timeout_ms": 2000, "max_attempts": 200,
      "backoff": {"initial_ms": 20, "max_ms": 50}, "circuit": {"failures": 1000}}, )";
  config.replace(config.find("{\"name\": \"rabbit\""), 0, broken);
  std::string path = dir.Write("config.json", config);
  ServerProcess server({"serve", "--config", path}, dir.File("server.log"));
  ASSERT_TRUE(server.started()) << server.Log();
  HttpClient client;
  constexpr int kEvents = 20;
  for (int i = 0; i < kEvents; ++i) {
    ASSERT_FALSE(PostEvent(client, server, "two-" + std::to_string(i)).empty());
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  const std::string db = dir.File("hookvault.db");
  ASSERT_TRUE(WaitFor([&] {
    return QueryInt(db,
                    "SELECT count(*) FROM deliveries WHERE destination = 'rabbit' AND "
                    "status = 'succeeded'") == kEvents;
  })) << server.Log();
  // Each with one attempt: none failed with the other destination's channel error.
  EXPECT_EQ(QueryInt(db,
                     "SELECT count(*) FROM attempts a JOIN deliveries d ON a.delivery_id = d.id "
                     "WHERE d.destination = 'rabbit'"),
            kEvents);
  EXPECT_GT(QueryInt(db,
                     "SELECT count(*) FROM attempts a JOIN deliveries d ON a.delivery_id = d.id "
                     "WHERE d.destination = 'broken' AND a.error LIKE 'channel closed: 404%'"),
            0);
  std::set<std::string> arrived;
  while (auto m = peer.Get(queue, 1000)) arrived.insert(m->message_id);
  EXPECT_EQ(arrived.size(), static_cast<size_t>(kEvents));
  EXPECT_TRUE(peer.DeleteQueue(queue));
}

// Its own broker, stopped while events come in and started again: every event arrives at least
// once (a publish whose confirm was lost with the connection is sent again), none is lost, and
// every delivery ends succeeded.
TEST(AmqpDestinationRestartTest, BrokerRestartMidLoadLosesNothing) {
  std::unique_ptr<RabbitMqServer> broker = RabbitMqServer::StartOwn();
  ASSERT_NE(broker, nullptr);
  const std::string queue = UniqueName("hv-it-restart");
  {
    AmqpTestPeer peer(broker->url());
    ASSERT_TRUE(peer.DeclareQueue(queue));
  }
  TempDir dir;
  std::string config = dir.Write("config.json", Config(dir.path(), broker->url(), "", queue));
  ServerProcess server({"serve", "--config", config}, dir.File("server.log"));
  ASSERT_TRUE(server.started()) << server.Log();
  constexpr int kEvents = 60;
  std::vector<std::string> ids(kEvents);
  std::atomic<int> posted{0};
  std::thread ingest([&] {
    HttpClient client;
    for (int i = 0; i < kEvents; ++i) {
      ids[i] = PostEvent(client, server, "load-" + std::to_string(i));
      ++posted;
      std::this_thread::sleep_for(std::chrono::milliseconds(40));
    }
  });
  while (posted < kEvents / 4) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  bool stopped = broker->Stop();
  bool restarted = stopped && broker->Restart();
  ingest.join();
  ASSERT_TRUE(restarted);
  for (const std::string& id : ids) ASSERT_FALSE(id.empty());
  const std::string db = dir.File("hookvault.db");
  ASSERT_TRUE(WaitFor(
      [&] {
        return QueryInt(db, "SELECT count(*) FROM deliveries WHERE status = 'succeeded'") ==
               kEvents;
      },
      40))
      << server.Log();
  // The outage was seen: attempts failed while the broker was away.
  EXPECT_GT(QueryInt(db, "SELECT count(*) FROM attempts WHERE outcome = 'failure'"), 0);
  AmqpTestPeer peer(broker->url());
  std::set<std::string> arrived;
  while (auto m = peer.Get(queue, 1000)) arrived.insert(m->message_id);
  for (const std::string& id : ids) EXPECT_TRUE(arrived.count(id)) << "lost: " << id;
}

}  // namespace
}  // namespace hookvault::testing
