// The shared suite, operations: /healthz, /readyz and the /metrics counters of ingest and
// forwarding, on SQLite and on PostgreSQL alike.
#include <gtest/gtest.h>

#include <string>

#include "tests/testing/backend.h"
#include "tests/testing/sink_server.h"

namespace hookvault::testing {
namespace {

constexpr char kToken[] = "suite-ops-source-token-0123456789";

// Returns the value of the /metrics sample `series` (its name with labels), or -1.
double Sample(const std::string& text, const std::string& series) {
  size_t at = text.find("\n" + series + " ");
  if (at == std::string::npos) return -1;
  return std::stod(text.substr(at + series.size() + 2));
}

class OpsSuite : public BackendServerTest {};

TEST_P(OpsSuite, ReadyAndMetricsCountIngestAndDeliveries) {
  SinkServer sink;
  ASSERT_NO_FATAL_FAILURE(Start(R"("sources": [{"name": "pms", "tokens": [")" +
                                std::string(kToken) + R"("], "event_type": "/event"}],
      "destinations": [{"name": "sink", "url": ")" + sink.Url("/in") + R"("}])"));
  EXPECT_EQ(Get("/healthz", "").status, 200);
  HttpResult ready = Get("/readyz", "");
  EXPECT_EQ(ready.status, 200) << ready.body;

  for (int i = 0; i < 3; ++i) {
    HttpResult r =
        Ingest("pms", kToken, R"({"event":"a.b","n":)" + std::to_string(i) + "}");
    ASSERT_EQ(r.status, 200) << r.body;
  }
  EXPECT_EQ(Ingest("pms", "suite-ops-wrong-token-0123456789", "{}").status, 401);
  ASSERT_TRUE(sink.WaitForCount(3, std::chrono::seconds(20))) << server().Log();

  std::string metrics;
  ASSERT_TRUE(WaitFor([&] {
    metrics = Get("/metrics", "").body;
    return Sample(metrics, R"(hookvault_deliveries_total{destination="sink",outcome="succeeded"})") ==
               3 &&
           Sample(metrics, R"(hookvault_pending_deliveries{destination="sink"})") == 0;
  })) << metrics;
  EXPECT_EQ(Sample(metrics, R"(hookvault_ingest_requests_total{source="pms",status="200"})"), 3)
      << metrics;
  EXPECT_EQ(Sample(metrics, R"(hookvault_ingest_requests_total{source="pms",status="401"})"), 1)
      << metrics;
  EXPECT_EQ(Sample(metrics, "hookvault_ingest_duration_seconds_count"), 4) << metrics;
  EXPECT_EQ(
      Sample(metrics, R"(hookvault_delivery_attempts_total{destination="sink",outcome="success"})"),
      3)
      << metrics;
  EXPECT_EQ(
      Sample(metrics, R"(hookvault_delivery_attempts_total{destination="sink",outcome="failure"})"),
      0)
      << metrics;
  EXPECT_EQ(Sample(metrics, R"(hookvault_deliveries_total{destination="sink",outcome="failed"})"),
            0)
      << metrics;
  EXPECT_EQ(Sample(metrics, "hookvault_oldest_pending_age_seconds"), 0) << metrics;
  EXPECT_EQ(Sample(metrics, "hookvault_latest_event_seq"), 3) << metrics;
  EXPECT_GE(Sample(metrics, "hookvault_commits_total"), 1) << metrics;
  EXPECT_EQ(Get("/readyz", "").status, 200);
}

INSTANTIATE_TEST_SUITE_P(Backends, OpsSuite, ::testing::ValuesIn(AllBackends()),
                         BackendTestName);

}  // namespace
}  // namespace hookvault::testing
