// The circuit breaker and the rate limit end to end: the real binary (its stats sampler ticking
// every 50 ms through the tests-only HOOKVAULT_STATS_TICK_MS), a real SQLite file, real HTTP and
// a real sink whose arrival times are measured.
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "tests/testing/db.h"
#include "tests/testing/http_client.h"
#include "tests/testing/server_process.h"
#include "tests/testing/sink_server.h"
#include "tests/testing/temp_dir.h"

namespace hookvault::testing {
namespace {

constexpr char kToken[] = "circuit-source-token-0123456789";
constexpr char kAuditor[] = "circuit-auditor-token-0123456789";

bool WaitFor(const std::function<bool()>& condition, int seconds = 20) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return condition();
}

class ForwardingCircuitTest : public ::testing::Test {
 protected:
  void Start(const std::string& destination_extra) {
    std::string config = R"({"listen": "127.0.0.1:0", "data_dir": ")" + dir_.path() + R"(",
      "sources": [{"name": "pms", "tokens": [")" +
                         std::string(kToken) + R"("], "event_type": "/event"}],
      "destinations": [{"name": "sink", "url": ")" +
                         sink_.Url("/hooks") + "\", " + destination_extra + R"(}],
      "api_tokens": [{"name": "audit", "token": ")" +
                         kAuditor + R"(", "role": "auditor"}]})";
    std::string path = dir_.Write("config.json", config);
    server_ = std::make_unique<ServerProcess>(
        std::vector<std::string>{"serve", "--config", path}, dir_.File("server.log"),
        std::vector<std::string>{"HOOKVAULT_STATS_TICK_MS=50"});
    ASSERT_TRUE(server_->started()) << server_->Log();
  }

  void Post(int n) {
    for (int i = 0; i < n; ++i) {
      HttpResult r =
          client_.Request("POST", server_->Url("/webhooks/pms"),
                          {{"x-auth-token", kToken}, {"Content-Type", "application/json"}},
                          R"({"id":")" + std::to_string(i) + R"(","event":"booking.created"})");
      ASSERT_EQ(r.status, 200) << r.body;
    }
  }

  // The sink destination of GET /api/v1/destinations.
  rapidjson::Document Destination() {
    HttpResult r = client_.Request("GET", server_->Url("/api/v1/destinations"),
                                   {{"Authorization", "Bearer " + std::string(kAuditor)}});
    rapidjson::Document d;
    d.Parse(r.body.c_str());
    rapidjson::Document out;
    if (!d.HasParseError() && d.HasMember("data") && d["data"].Size() == 1) {
      out.CopyFrom(d["data"][0], out.GetAllocator());
    }
    return out;
  }
  std::string CircuitState() {
    rapidjson::Document d = Destination();
    if (!d.IsObject()) return "";
    return d["circuit"]["state"].GetString();
  }
  std::string Metrics() { return client_.Request("GET", server_->Url("/metrics")).body; }

  int64_t Count(const std::string& sql) { return QueryInt(dir_.File("hookvault.db"), sql); }

  TempDir dir_;
  SinkServer sink_;
  HttpClient client_;
  std::unique_ptr<ServerProcess> server_;
};

// A dead receiver with 200 deliveries waiting and 8 slots costs the failures that open the
// circuit (and what was in flight then), then one probe per open_ms; not a retry storm. When it
// recovers the probe resumes the destination, and every delivery succeeds with attempt counts
// that the pause did not inflate.
TEST_F(ForwardingCircuitTest, ADeadReceiverIsProbedOncePerOpenMsNotHammered) {
  std::atomic<bool> down{true};
  sink_.SetHandler([&](const SinkRequest&) {
    SinkReply reply;
    reply.status = down ? 503 : 200;
    reply.body = down ? "maintenance" : "ok";
    return reply;
  });
  Start(R"("concurrency": 8, "max_attempts": 1000,
           "backoff": {"initial_ms": 20, "max_ms": 100},
           "circuit": {"failures": 3, "open_ms": 1000})");
  Post(200);
  ASSERT_TRUE(WaitFor([&] { return CircuitState() == "paused"; })) << server_->Log();
  rapidjson::Document paused = Destination();
  EXPECT_EQ(std::string(paused["state"].GetString()), "paused");
  EXPECT_EQ(paused["circuit"]["failures"].GetInt(), 3);
  EXPECT_EQ(paused["circuit"]["open_ms"].GetInt(), 1000);
  EXPECT_TRUE(paused["circuit"]["paused_since"].IsString());
  EXPECT_TRUE(paused["circuit"]["paused_until"].IsString());
  EXPECT_EQ(paused["circuit"]["opens"].GetUint64(), 1u);
  std::string metrics = Metrics();
  EXPECT_NE(metrics.find("hookvault_destination_paused{destination=\"sink\"} 1"), std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("hookvault_destination_circuit_opens_total{destination=\"sink\"} 1"),
            std::string::npos);

  // Over 3 s: about one probe per 1000 ms.
  const size_t before = sink_.Count();
  std::this_thread::sleep_for(std::chrono::seconds(3));
  const size_t during = sink_.Count() - before;
  EXPECT_GE(during, 2u);  // probes do go out
  EXPECT_LE(during, 5u);  // 3 expected; never the hundreds of a retry storm
  // Before the pause: the 3 failures that opened it, at most the 7 others in flight then, and
  // one probe (open_ms is 1 s, so a stall of up to 1 s between the pause and this count, such
  // as a loaded CI runner's, adds at most that one).
  EXPECT_LE(before, 3u + 7u + 1u);
  EXPECT_NE(server_->Log().find("destination sink: 3 consecutive attempts failed"),
            std::string::npos)
      << server_->Log();
  // Nothing was failed early and nothing was lost: every delivery waits.
  EXPECT_EQ(Count("SELECT count(*) FROM deliveries WHERE status = 'pending'"), 200);

  down = false;
  ASSERT_TRUE(WaitFor([&] {
    return Count("SELECT count(*) FROM deliveries WHERE status = 'succeeded'") == 200;
  })) << server_->Log();
  ASSERT_TRUE(WaitFor([&] { return CircuitState() == "active"; }));
  rapidjson::Document resumed = Destination();
  EXPECT_EQ(std::string(resumed["state"].GetString()), "ok");
  EXPECT_TRUE(resumed["circuit"]["paused_since"].IsNull());
  EXPECT_EQ(resumed["circuit"]["opens"].GetUint64(), 1u);
  EXPECT_NE(server_->Log().find("destination sink: the probe succeeded"), std::string::npos);
  // Every request the sink saw is one recorded attempt; the failed ones are the few before the
  // pause and the probes, so almost every delivery succeeded on its first attempt.
  const int64_t attempts = Count("SELECT sum(attempts) FROM deliveries");
  EXPECT_EQ(attempts, static_cast<int64_t>(sink_.Count()));
  EXPECT_EQ(Count("SELECT count(*) FROM attempts"), attempts);
  EXPECT_LE(attempts - 200, static_cast<int64_t>(before + during + 2));
  EXPECT_GE(Count("SELECT count(*) FROM deliveries WHERE attempts = 1"), 200 - 25);
  std::printf(
      "dead receiver: %zu requests before the pause was seen, %zu in the next 3 s; "
      "%lld attempts for 200 deliveries\n",
      before, during, static_cast<long long>(attempts));
}

// rate_limit.per_second 20 with 100 events and 8 slots: the sink never sees more than 20
// arrivals in any one-second window, and all 100 arrive.
TEST_F(ForwardingCircuitTest, TheRateLimitHoldsAtTheReceiver) {
  Start(R"("concurrency": 8, "rate_limit": {"per_second": 20})");
  Post(100);
  ASSERT_TRUE(sink_.WaitForCount(100, std::chrono::seconds(20))) << server_->Log();
  std::vector<SinkRequest> requests = sink_.Requests();
  std::vector<int64_t> at;
  for (const SinkRequest& r : requests) at.push_back(r.received_at_us);
  std::sort(at.begin(), at.end());
  // The most arrivals in any window [t, t + 1 s) starting at an arrival.
  size_t most = 0;
  for (size_t i = 0, j = 0; i < at.size(); ++i) {
    while (j < at.size() && at[j] < at[i] + 1'000'000) ++j;
    most = std::max(most, j - i);
  }
  EXPECT_LE(most, 20u);
  EXPECT_GE(most, 15u);  // and the limit is used, not undercut
  const double seconds = static_cast<double>(at.back() - at.front()) / 1e6;
  // 100 at 20/s: four full windows after the first burst.
  EXPECT_GE(seconds, 4.0);
  std::printf(
      "rate limit 20/s: 100 arrivals, %.2f s from first to last (%.1f/s), at most %zu in any 1 s\n",
      seconds, 99 / seconds, most);
  ASSERT_TRUE(WaitFor(
      [&] { return Count("SELECT count(*) FROM deliveries WHERE status = 'succeeded'") == 100; }));
  EXPECT_EQ(Count("SELECT count(*) FROM attempts"), 100);
  std::string metrics = Metrics();
  EXPECT_NE(metrics.find("hookvault_destination_rate_limited_total{destination=\"sink\"}"),
            std::string::npos);
  EXPECT_EQ(metrics.find("hookvault_destination_rate_limited_total{destination=\"sink\"} 0\n"),
            std::string::npos)
      << metrics;
  rapidjson::Document d = Destination();
  EXPECT_DOUBLE_EQ(d["rate_limit"]["per_second"].GetDouble(), 20);
  EXPECT_GT(d["rate_limit"]["limited"].GetUint64(), 0u);
}

}  // namespace
}  // namespace hookvault::testing
