// Forwarding end to end: the real binary, a real SQLite file, and a real local HTTP sink.
#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <signal.h>

#include <atomic>
#include <set>
#include <string>
#include <thread>

#include "server/delivery/backoff.h"
#include "server/delivery/webhook_signature.h"
#include "tests/testing/db.h"
#include "tests/testing/http_client.h"
#include "tests/testing/server_process.h"
#include "tests/testing/sink_server.h"
#include "tests/testing/temp_dir.h"

namespace hookvault::testing {
namespace {

constexpr char kToken[] = "forwarding-token-0123456789";
constexpr char kSecret[] = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

std::string Config(const std::string& dir, const std::string& sink_url,
                   const std::string& destination_extra) {
  return R"({"listen": "127.0.0.1:0", "data_dir": ")" + dir + R"(", "log": {"level": "info"},
    "sources": [{"name": "pms", "tokens": [")" +
         kToken + R"("], "event_type": "/event"}],
    "destinations": [{"name": "sink", "url": ")" +
         sink_url + R"(", "signing_secret": ")" + kSecret + "\", " + destination_extra + "}]}";
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

SinkReply NeverAnswer(const SinkRequest&) {
  SinkReply reply;
  reply.never_answer = true;
  return reply;
}

bool WaitFor(const std::function<bool()>& condition, int seconds = 15) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return condition();
}

TEST(ForwardingTest, FailsThreeTimesThenSucceedsWithBackoffAndSignedRequests) {
  SinkServer sink;
  std::atomic<int> calls{0};
  sink.SetHandler([&](const SinkRequest&) {
    SinkReply reply;
    reply.status = ++calls <= 3 ? 500 : 200;
    reply.body = reply.status == 500 ? "try later" : "thanks";
    return reply;
  });
  TempDir dir;
  std::string config = dir.Write(
      "config.json",
      Config(
          dir.path(), sink.Url("/hooks"),
          R"("backoff": {"initial_ms": 100, "max_ms": 2000, "multiplier": 2.0}, "max_attempts": 10)"));
  ServerProcess server({"serve", "--config", config}, dir.File("server.log"));
  ASSERT_TRUE(server.started()) << server.Log();
  HttpClient client;
  std::string id = PostEvent(client, server, "bk-1");
  ASSERT_FALSE(id.empty());

  ASSERT_TRUE(sink.WaitForCount(4, std::chrono::seconds(15))) << server.Log();
  std::string db = dir.File("hookvault.db");
  ASSERT_TRUE(WaitFor(
      [&] { return QueryText(db, "SELECT status FROM events WHERE id = ?", id) == "delivered"; }));
  std::vector<SinkRequest> requests = sink.Requests();
  ASSERT_EQ(requests.size(), 4u);
  auto key = server::DecodeSigningSecret(kSecret);
  ASSERT_TRUE(key.ok());
  for (size_t i = 0; i < requests.size(); ++i) {
    const SinkRequest& r = requests[i];
    EXPECT_EQ(r.path, "/hooks");
    EXPECT_EQ(r.body, R"({"id":"bk-1","event":"booking.created"})");
    EXPECT_EQ(r.headers.at("webhook-id"), id);
    EXPECT_EQ(r.headers.at("x-hookvault-attempt"), std::to_string(i + 1));
    EXPECT_EQ(r.headers.at("x-hookvault-source"), "pms");
    EXPECT_EQ(r.headers.at("x-hookvault-event-type"), "booking.created");
    EXPECT_EQ(r.headers.at("content-type"), "application/json");
    int64_t ts = std::stoll(r.headers.at("webhook-timestamp"));
    EXPECT_NEAR(ts, r.received_at_us / 1000000, 2);
    EXPECT_EQ(r.headers.at("webhook-signature"), server::SignWebhook(*key, id, ts, r.body).value());
    if (i > 0) {
      // Full jitter: each wait lies in [0, ceiling(i)], and the ceilings double.
      int64_t gap_ms = (r.received_at_us - requests[i - 1].received_at_us) / 1000;
      int64_t ceiling = server::BackoffCeilingMs({100, 2000, 2.0}, static_cast<int>(i));
      EXPECT_LE(gap_ms, ceiling + 250) << "attempt " << i + 1;
    }
  }
  EXPECT_EQ(QueryInt(db,
                     "SELECT count(*) FROM attempts WHERE outcome = 'failure' AND "
                     "http_status = 500 AND CAST(response_excerpt AS TEXT) = 'try later'"),
            3);
  EXPECT_EQ(QueryInt(db, "SELECT count(*) FROM attempts WHERE outcome = 'success'"), 1);
  EXPECT_EQ(QueryInt(db, "SELECT max(number) FROM attempts"), 4);
  EXPECT_EQ(QueryText(db, "SELECT status FROM deliveries"), "succeeded");
  // Operators see the failed attempts in the log.
  EXPECT_NE(server.Log().find("attempt 1 of event " + id + " to sink failed (HTTP 500)"),
            std::string::npos)
      << server.Log();
}

TEST(ForwardingTest, ASinkThatNeverAnswersIsTimedOutAndParkedAsFailed) {
  SinkServer sink;
  sink.SetHandler(NeverAnswer);
  TempDir dir;
  std::string config = dir.Write("config.json", Config(dir.path(), sink.Url("/slow"),
                                                       R"("timeout_ms": 300, "max_attempts": 3,
                               "backoff": {"initial_ms": 50, "max_ms": 100})"));
  ServerProcess server({"serve", "--config", config}, dir.File("server.log"));
  ASSERT_TRUE(server.started()) << server.Log();
  HttpClient client;
  std::string id = PostEvent(client, server, "slow-1");
  ASSERT_FALSE(id.empty());
  std::string db = dir.File("hookvault.db");
  ASSERT_TRUE(WaitFor([&] { return QueryText(db, "SELECT status FROM deliveries") == "failed"; }))
      << server.Log();
  EXPECT_EQ(sink.Count(), 3u);
  EXPECT_EQ(QueryInt(db,
                     "SELECT count(*) FROM attempts WHERE http_status IS NULL AND "
                     "error LIKE '%Timeout%' AND duration_us BETWEEN 250000 AND 2000000"),
            3);
  EXPECT_EQ(QueryText(db, "SELECT status FROM events WHERE id = ?", id), "failed");
  EXPECT_NE(
      server.Log().find("delivery of event " + id + " to sink failed for good after attempt 3"),
      std::string::npos)
      << server.Log();
}

TEST(ForwardingTest, RetryAfterOn429IsHonoured) {
  SinkServer sink;
  std::atomic<int> calls{0};
  sink.SetHandler([&](const SinkRequest&) {
    SinkReply reply;
    if (++calls == 1) {
      reply.status = 429;
      reply.headers = {{"Retry-After", "1"}};
    }
    return reply;
  });
  TempDir dir;
  std::string config = dir.Write(
      "config.json",
      Config(dir.path(), sink.Url("/limited"), R"("backoff": {"initial_ms": 10, "max_ms": 5000})"));
  ServerProcess server({"serve", "--config", config}, dir.File("server.log"));
  ASSERT_TRUE(server.started()) << server.Log();
  HttpClient client;
  ASSERT_FALSE(PostEvent(client, server, "rl-1").empty());
  ASSERT_TRUE(sink.WaitForCount(2, std::chrono::seconds(10)));
  std::vector<SinkRequest> r = sink.Requests();
  // Without Retry-After the wait would be at most 10 ms.
  EXPECT_GE(r[1].received_at_us - r[0].received_at_us, 950'000);
}

// Deliveries in flight when the server is SIGKILLed reach the sink after the restart: every
// acknowledged event arrives at least once.
TEST(ForwardingTest, EveryEventReachesTheSinkDespiteSigkillInFlight) {
  SinkServer sink;
  sink.SetHandler([](const SinkRequest&) {
    SinkReply reply;
    reply.delay_ms = 200;
    return reply;
  });
  TempDir dir;
  std::string config =
      dir.Write("config.json", Config(dir.path(), sink.Url("/crash"), R"("concurrency": 4)"));
  std::set<std::string> acked;
  {
    ServerProcess server({"serve", "--config", config}, dir.File("server.log"));
    ASSERT_TRUE(server.started()) << server.Log();
    HttpClient client;
    for (int i = 0; i < 40; ++i) {
      std::string id = PostEvent(client, server, "crash-" + std::to_string(i));
      ASSERT_FALSE(id.empty());
      acked.insert(id);
    }
    ASSERT_TRUE(sink.WaitForCount(6, std::chrono::seconds(10)));
    EXPECT_EQ(server.Signal(SIGKILL), 128 + SIGKILL);
  }
  size_t before_restart = sink.Count();
  EXPECT_LT(before_restart, 40u) << "the kill came too late to test anything";
  ServerProcess server({"serve", "--config", config}, dir.File("server2.log"));
  ASSERT_TRUE(server.started()) << server.Log();
  auto seen = [&] {
    std::set<std::string> ids;
    for (const SinkRequest& r : sink.Requests()) ids.insert(r.headers.at("webhook-id"));
    return ids;
  };
  ASSERT_TRUE(WaitFor([&] { return seen() == acked; }, 30))
      << "sink saw " << seen().size() << " of " << acked.size();
  EXPECT_TRUE(WaitFor([&] {
    return QueryInt(dir.File("hookvault.db"),
                    "SELECT count(*) FROM events WHERE status = 'delivered'") == 40;
  }));
  EXPECT_NE(server.Log().find("released"), std::string::npos) << "no lease was left to release";
}

TEST(ForwardingTest, PendingDeliveriesOfARemovedDestinationAreReportedAtStart) {
  TempDir dir;
  std::string with =
      dir.Write("with.json", Config(dir.path(), "http://127.0.0.1:9/gone",
                                    R"("backoff": {"initial_ms": 60000, "max_ms": 60000})"));
  {
    ServerProcess server({"serve", "--config", with}, dir.File("server.log"));
    ASSERT_TRUE(server.started()) << server.Log();
    HttpClient client;
    ASSERT_FALSE(PostEvent(client, server, "orphan-1").empty());
    ASSERT_FALSE(PostEvent(client, server, "orphan-2").empty());
    EXPECT_EQ(server.Signal(SIGTERM), 0);
  }
  std::string without =
      dir.Write("without.json", R"({"listen": "127.0.0.1:0", "data_dir": ")" + dir.path() + R"(",
      "sources": [{"name": "pms", "tokens": [")" +
                                    std::string(kToken) + R"("]}]})");
  ServerProcess server({"serve", "--config", without}, dir.File("server2.log"));
  ASSERT_TRUE(server.started()) << server.Log();
  EXPECT_NE(server.Log().find("2 deliveries to destination \"sink\" are pending, but no "
                              "destination of that name is configured"),
            std::string::npos)
      << server.Log();
}

// While it drains on SIGTERM (here: waiting for an attempt in flight), the server answers
// /readyz and new webhooks with 503, then exits 0.
TEST(ForwardingTest, DrainingServerIsUnreadyAndRefusesNewWebhooks) {
  SinkServer sink;
  sink.SetHandler(NeverAnswer);
  TempDir dir;
  std::string config =
      dir.Write("config.json", Config(dir.path(), sink.Url("/hold"), R"("timeout_ms": 10000)"));
  ServerProcess server({"serve", "--config", config}, dir.File("server.log"));
  ASSERT_TRUE(server.started()) << server.Log();
  HttpClient client;
  EXPECT_EQ(client.Request("GET", server.Url("/readyz")).status, 200);
  ASSERT_FALSE(PostEvent(client, server, "held").empty());
  ASSERT_TRUE(sink.WaitForCount(1, std::chrono::seconds(5)));
  server.Kill(SIGTERM);
  HttpClient other;  // a fresh connection, as a load balancer's probe would use
  ASSERT_TRUE(WaitFor(
      [&] {
        HttpResult r = other.Request("GET", server.Url("/readyz"), {}, "", 500);
        return r.status == 503 && r.body.find("shutting down") != std::string::npos;
      },
      4))
      << server.Log();
  HttpResult late = other.Request("POST", server.Url("/webhooks/pms"),
                                  {{"x-auth-token", kToken}, {"Content-Type", "application/json"}},
                                  R"({"id":"late","event":"x"})", 500);
  EXPECT_EQ(late.status, 503) << late.body << late.error;
  EXPECT_EQ(server.Wait(), 0) << server.Log();
  // The attempt in flight never finished: it is left leased, attempted again at the next start.
  EXPECT_NE(server.Log().find("attempts in flight"), std::string::npos) << server.Log();
}

}  // namespace
}  // namespace hookvault::testing
