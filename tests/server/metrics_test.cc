// The Prometheus exposition (server/metrics.h): exact text for each metric type, histogram
// bucket boundaries, the bound on source labels, concurrent observers, a line-level parse of a
// full rendering, and the endpoint's request observer on a real HTTP server.
#include "server/metrics.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <limits>
#include <map>
#include <mutex>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "api/auth.h"
#include "server/http/http_endpoint.h"
#include "server/http/router.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/http_client.h"

namespace hookvault::server {
namespace {

TEST(FormatMetricValueTest, WritesIntegersPlainAndOthersShortest) {
  EXPECT_EQ(FormatMetricValue(0), "0");
  EXPECT_EQ(FormatMetricValue(42), "42");
  EXPECT_EQ(FormatMetricValue(1000000), "1000000");
  EXPECT_EQ(FormatMetricValue(-3), "-3");
  EXPECT_EQ(FormatMetricValue(0.005), "0.005");
  EXPECT_EQ(FormatMetricValue(0.0005), "0.0005");
  EXPECT_EQ(FormatMetricValue(0.067971), "0.067971");
  EXPECT_EQ(FormatMetricValue(1e-7), "1e-07");
  EXPECT_EQ(FormatMetricValue(1.5e20), "1.5e+20");
  EXPECT_EQ(std::stod(FormatMetricValue(0.1 + 0.2)), 0.1 + 0.2);  // reads back exactly
  EXPECT_EQ(FormatMetricValue(2.5), "2.5");
  EXPECT_EQ(FormatMetricValue(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(FormatMetricValue(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(FormatMetricValue(std::numeric_limits<double>::quiet_NaN()), "NaN");
}

TEST(EscapeLabelValueTest, EscapesBackslashQuoteAndNewlineOnly) {
  EXPECT_EQ(EscapeLabelValue("plain-value_1.2"), "plain-value_1.2");
  EXPECT_EQ(EscapeLabelValue("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
  EXPECT_EQ(EscapeLabelValue("tab\tstays"), "tab\tstays");
}

TEST(ExpositionWriterTest, Counter) {
  ExpositionWriter w;
  w.BeginFamily("hv_requests_total", MetricType::kCounter, "Requests.");
  w.Sample({{"source", "github"}, {"status", "200"}}, 3);
  w.Sample({}, 7);
  EXPECT_EQ(w.text(),
            "# HELP hv_requests_total Requests.\n"
            "# TYPE hv_requests_total counter\n"
            "hv_requests_total{source=\"github\",status=\"200\"} 3\n"
            "hv_requests_total 7\n");
}

TEST(ExpositionWriterTest, GaugeWithEscapedHelpAndLabelValues) {
  ExpositionWriter w;
  w.BeginFamily("hv_lag", MetricType::kGauge, "Lag \\ of \"consumers\"\nsecond line.");
  w.Sample({{"consumer", "we\"ird\\name\nx"}}, 1.5);
  EXPECT_EQ(w.text(),
            "# HELP hv_lag Lag \\\\ of \"consumers\"\\nsecond line.\n"
            "# TYPE hv_lag gauge\n"
            "hv_lag{consumer=\"we\\\"ird\\\\name\\nx\"} 1.5\n");
}

TEST(ExpositionWriterTest, HistogramBucketsAreCumulativeAndEndWithInfEqualToCount) {
  ExpositionWriter w;
  w.BeginFamily("hv_duration_seconds", MetricType::kHistogram, "Durations.");
  HistogramSnapshot h{.bounds = {0.005, 0.5, 2}, .counts = {1, 0, 3, 2}, .sum = 17.25};
  EXPECT_EQ(h.count(), 6u);
  w.Histogram({{"destination", "crm"}}, h);
  EXPECT_EQ(w.text(),
            "# HELP hv_duration_seconds Durations.\n"
            "# TYPE hv_duration_seconds histogram\n"
            "hv_duration_seconds_bucket{destination=\"crm\",le=\"0.005\"} 1\n"
            "hv_duration_seconds_bucket{destination=\"crm\",le=\"0.5\"} 1\n"
            "hv_duration_seconds_bucket{destination=\"crm\",le=\"2\"} 4\n"
            "hv_duration_seconds_bucket{destination=\"crm\",le=\"+Inf\"} 6\n"
            "hv_duration_seconds_sum{destination=\"crm\"} 17.25\n"
            "hv_duration_seconds_count{destination=\"crm\"} 6\n");
}

TEST(ExpositionWriterTest, UnlabelledHistogramHasOnlyLe) {
  ExpositionWriter w;
  w.BeginFamily("hv_size", MetricType::kHistogram, "Sizes.");
  w.Histogram({}, HistogramSnapshot{.bounds = {1}, .counts = {0, 0}, .sum = 0});
  EXPECT_EQ(w.text(),
            "# HELP hv_size Sizes.\n"
            "# TYPE hv_size histogram\n"
            "hv_size_bucket{le=\"1\"} 0\n"
            "hv_size_bucket{le=\"+Inf\"} 0\n"
            "hv_size_sum 0\n"
            "hv_size_count 0\n");
}

// le is inclusive: a value equal to a bound lands in that bound's bucket; just above it, in
// the next; above every bound, in +Inf.
TEST(HistogramTest, ValueEqualToABoundLandsInThatBucket) {
  Histogram h({0.1, 1, 10});
  h.Observe(0.1);
  h.Observe(0.1000001);
  h.Observe(1);
  h.Observe(10);
  h.Observe(10.5);
  h.Observe(0);
  h.Observe(-1);                                        // below every bound: the first bucket
  h.Observe(std::numeric_limits<double>::quiet_NaN());  // ignored
  HistogramSnapshot s = h.Snapshot();
  EXPECT_EQ(s.bounds, (std::vector<double>{0.1, 1, 10}));
  EXPECT_EQ(s.counts, (std::vector<uint64_t>{3, 2, 1, 1}));
  EXPECT_EQ(s.count(), 7u);
  EXPECT_DOUBLE_EQ(s.sum, 0.1 + 0.1000001 + 1 + 10 + 10.5 + 0 - 1);
}

TEST(CounterFamilyTest, KeepsOneCounterPerLabelValuesInOrder) {
  CounterFamily f({"destination", "outcome"});
  f.Add({"b", "failure"});
  f.Add({"a", "success"}, 5);
  f.Add({"b", "failure"}, 2);
  auto snapshot = f.Snapshot();
  ASSERT_EQ(snapshot.size(), 2u);
  EXPECT_EQ(snapshot[0].first, (LabelList{{"destination", "a"}, {"outcome", "success"}}));
  EXPECT_EQ(snapshot[0].second, 5u);
  EXPECT_EQ(snapshot[1].first, (LabelList{{"destination", "b"}, {"outcome", "failure"}}));
  EXPECT_EQ(snapshot[1].second, 3u);
}

// Returns the value of the sample written exactly as `series` (name and labels), or -1.
double SampleValue(const std::string& text, const std::string& series) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(series + " ", 0) == 0) return std::stod(line.substr(series.size() + 1));
  }
  return -1;
}

// Returns the lines of `text` that start with `prefix`.
std::vector<std::string> LinesStartingWith(const std::string& text, const std::string& prefix) {
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(prefix, 0) == 0) out.push_back(line);
  }
  return out;
}

TEST(MetricsTest, OnlyConfiguredSourcesBecomeLabels) {
  Metrics m({"github", "stripe"}, "1.2.3");
  m.ObserveIngest("github", 200, 0.001);
  m.ObserveIngest("github", 200, 0.001);
  m.ObserveIngest("stripe", 401, 0.001);
  // A client probing for sources must not create a series per name it tries.
  for (int i = 0; i < 1000; ++i) m.ObserveIngest("probe" + std::to_string(i), 404, 0.0001);
  m.ObserveIngest("", 404, 0.0001);
  m.ObserveIngest("_other", 404, 0.0001);
  m.ObserveIngest("GitHub", 404, 0.0001);  // names are case-sensitive

  std::string text = m.Render({});
  EXPECT_EQ(LinesStartingWith(text, "hookvault_ingest_requests_total{").size(), 3u) << text;
  EXPECT_EQ(SampleValue(text, "hookvault_ingest_requests_total{source=\"github\",status=\"200\"}"),
            2);
  EXPECT_EQ(SampleValue(text, "hookvault_ingest_requests_total{source=\"stripe\",status=\"401\"}"),
            1);
  EXPECT_EQ(SampleValue(text, "hookvault_ingest_requests_total{source=\"_other\",status=\"404\"}"),
            1003);
  EXPECT_EQ(SampleValue(text, "hookvault_ingest_duration_seconds_count"), 1006);
  EXPECT_EQ(SampleValue(text, "hookvault_ingest_duration_seconds_bucket{le=\"0.0005\"}"), 1003);
  EXPECT_EQ(SampleValue(text, "hookvault_build_info{version=\"1.2.3\"}"), 1);
  EXPECT_EQ(SampleValue(text, "hookvault_storage_backend{backend=\"sqlite\"}"), 1);
  std::string on_postgres = Metrics({"github"}, "1.2.3", "postgres").Render({});
  EXPECT_EQ(SampleValue(on_postgres, "hookvault_storage_backend{backend=\"postgres\"}"), 1);
  EXPECT_TRUE(LinesStartingWith(on_postgres, "hookvault_storage_backend{backend=\"sqlite\"}")
                  .empty());
}

TEST(MetricsTest, ConcurrentObserversLoseNothing) {
  Metrics m({"a", "b"}, "test");
  constexpr int kThreads = 8;
  constexpr int kPerThread = 20000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&m, t] {
      for (int i = 0; i < kPerThread; ++i) {
        // Latencies of 0.25 s and 2 s sum exactly in binary, so the sum must be exact too.
        m.ObserveIngest(t % 2 ? "a" : "b", i % 2 ? 200 : 503, i % 2 ? 0.25 : 2);
      }
    });
  }
  // Render while they observe: it must not crash or tear a line.
  for (int i = 0; i < 20; ++i) {
    std::string text = m.Render({});
    double inf = SampleValue(text, "hookvault_ingest_duration_seconds_bucket{le=\"+Inf\"}");
    EXPECT_EQ(inf, SampleValue(text, "hookvault_ingest_duration_seconds_count"));
  }
  for (auto& t : threads) t.join();

  std::string text = m.Render({});
  constexpr double kHalf = kThreads / 2 * kPerThread / 2;
  for (const char* source : {"a", "b"}) {
    for (const char* status : {"200", "503"}) {
      std::string series = std::string("hookvault_ingest_requests_total{source=\"") + source +
                           "\",status=\"" + status + "\"}";
      EXPECT_EQ(SampleValue(text, series), kHalf) << series;
    }
  }
  EXPECT_EQ(SampleValue(text, "hookvault_ingest_duration_seconds_count"), kThreads * kPerThread);
  EXPECT_EQ(SampleValue(text, "hookvault_ingest_duration_seconds_bucket{le=\"0.25\"}"),
            kThreads * kPerThread / 2);
  EXPECT_EQ(SampleValue(text, "hookvault_ingest_duration_seconds_bucket{le=\"2.5\"}"),
            kThreads * kPerThread);
  EXPECT_EQ(SampleValue(text, "hookvault_ingest_duration_seconds_sum"),
            kThreads * kPerThread / 2 * (0.25 + 2));
}

MetricsInputs FullInputs() {
  MetricsInputs in;
  in.writer.commits = 5;
  in.writer.records = 40;
  in.writer.failed_batches = 1;
  in.writer.dropped_logs = 2;
  in.writer.dropped_logs_address = 30;
  in.writer.dropped_logs_global = 4;
  in.writer.batch_size_buckets[0] = 1;  // one batch of 1
  in.writer.batch_size_buckets[3] = 2;  // two of 5..8
  in.writer.batch_size_buckets[4] = 2;  // two of 9..16
  DestinationStats crm;
  crm.attempts = 10;
  crm.succeeded = 6;
  crm.retried = 3;
  crm.failed = 1;
  crm.in_flight = 2;
  crm.latency_buckets[0] = 4;                                // <= 5 ms
  crm.latency_buckets[kAttemptLatencyBucketsMs.size()] = 6;  // > 5 s
  crm.latency_sum_ms = 40000;
  crm.circuit = CircuitState::kProbing;
  crm.circuit_opens = 3;
  crm.rate_limited = 17;
  in.destinations["crm"] = crm;
  in.destinations["idle"] = DestinationStats{};
  storage::PendingSummary pending;
  pending.count = 7;
  pending.by_destination = {{"crm", 5}, {"retired", 2}};
  pending.oldest_pending_since = 1'000'000'000;
  in.pending = pending;
  in.now = 1'090'500'000;  // 90.5 s later
  in.consumers = std::vector<storage::ConsumerRow>{{"billing", 90, 0}, {"search", 100, 0}};
  in.latest_seq = 100;
  return in;
}

TEST(MetricsTest, RendersEveryInput) {
  Metrics m({"github"}, "0.1.0");
  std::string text = m.Render(FullInputs());

  EXPECT_EQ(SampleValue(text, "hookvault_commits_total"), 5);
  EXPECT_EQ(SampleValue(text, "hookvault_commit_failures_total"), 1);
  EXPECT_EQ(SampleValue(text, "hookvault_committed_records_total"), 40);
  EXPECT_EQ(SampleValue(text, "hookvault_request_log_dropped_total{reason=\"queue\"}"), 2);
  EXPECT_EQ(SampleValue(text, "hookvault_request_log_dropped_total{reason=\"address\"}"), 30);
  EXPECT_EQ(SampleValue(text, "hookvault_request_log_dropped_total{reason=\"global\"}"), 4);
  EXPECT_EQ(SampleValue(text, "hookvault_commit_batch_size_bucket{le=\"1\"}"), 1);
  EXPECT_EQ(SampleValue(text, "hookvault_commit_batch_size_bucket{le=\"4\"}"), 1);
  EXPECT_EQ(SampleValue(text, "hookvault_commit_batch_size_bucket{le=\"8\"}"), 3);
  EXPECT_EQ(SampleValue(text, "hookvault_commit_batch_size_bucket{le=\"512\"}"), 5);
  EXPECT_EQ(SampleValue(text, "hookvault_commit_batch_size_bucket{le=\"+Inf\"}"), 5);
  EXPECT_EQ(SampleValue(text, "hookvault_commit_batch_size_sum"), 40);
  EXPECT_EQ(SampleValue(text, "hookvault_commit_batch_size_count"), 5);

  EXPECT_EQ(SampleValue(text,
                        "hookvault_delivery_attempts_total{destination=\"crm\","
                        "outcome=\"success\"}"),
            6);
  EXPECT_EQ(SampleValue(text,
                        "hookvault_delivery_attempts_total{destination=\"crm\","
                        "outcome=\"failure\"}"),
            4);
  EXPECT_EQ(
      SampleValue(text, "hookvault_deliveries_total{destination=\"crm\",outcome=\"succeeded\"}"),
      6);
  EXPECT_EQ(SampleValue(text, "hookvault_deliveries_total{destination=\"crm\",outcome=\"failed\"}"),
            1);
  EXPECT_EQ(SampleValue(text, "hookvault_delivery_attempts_in_flight{destination=\"crm\"}"), 2);
  EXPECT_EQ(SampleValue(text, "hookvault_destination_paused{destination=\"crm\"}"), 1);
  EXPECT_EQ(SampleValue(text, "hookvault_destination_paused{destination=\"idle\"}"), 0);
  EXPECT_EQ(SampleValue(text, "hookvault_destination_circuit_opens_total{destination=\"crm\"}"),
            3);
  EXPECT_EQ(SampleValue(text, "hookvault_destination_rate_limited_total{destination=\"crm\"}"),
            17);
  EXPECT_EQ(SampleValue(text,
                        "hookvault_delivery_attempt_duration_seconds_bucket{destination="
                        "\"crm\",le=\"0.005\"}"),
            4);
  EXPECT_EQ(SampleValue(text,
                        "hookvault_delivery_attempt_duration_seconds_bucket{destination="
                        "\"crm\",le=\"5\"}"),
            4);
  EXPECT_EQ(SampleValue(text,
                        "hookvault_delivery_attempt_duration_seconds_count{destination="
                        "\"crm\"}"),
            10);
  EXPECT_EQ(
      SampleValue(text, "hookvault_delivery_attempt_duration_seconds_sum{destination=\"crm\"}"),
      40);

  // Configured destinations show 0; a destination no longer configured still shows its backlog.
  EXPECT_EQ(SampleValue(text, "hookvault_pending_deliveries{destination=\"crm\"}"), 5);
  EXPECT_EQ(SampleValue(text, "hookvault_pending_deliveries{destination=\"idle\"}"), 0);
  EXPECT_EQ(SampleValue(text, "hookvault_pending_deliveries{destination=\"retired\"}"), 2);
  EXPECT_EQ(SampleValue(text, "hookvault_oldest_pending_age_seconds"), 90.5);

  EXPECT_EQ(SampleValue(text, "hookvault_latest_event_seq"), 100);
  EXPECT_EQ(SampleValue(text, "hookvault_consumer_lag_events{consumer=\"billing\"}"), 10);
  EXPECT_EQ(SampleValue(text, "hookvault_consumer_lag_events{consumer=\"search\"}"), 0);
}

TEST(MetricsTest, NothingPendingIsAgeZero) {
  Metrics m({}, "0.1.0");
  MetricsInputs in;
  in.pending = storage::PendingSummary{};
  in.now = 5'000'000;
  EXPECT_EQ(SampleValue(m.Render(in), "hookvault_oldest_pending_age_seconds"), 0);
}

TEST(MetricsTest, UnreadableInputsLeaveTheirFamiliesWithoutSamples) {
  Metrics m({}, "0.1.0");
  std::string text = m.Render({});  // pending, consumers and latest seq all unknown
  EXPECT_NE(text.find("# TYPE hookvault_oldest_pending_age_seconds gauge\n"), std::string::npos);
  EXPECT_TRUE(LinesStartingWith(text, "hookvault_oldest_pending_age_seconds").empty());
  EXPECT_TRUE(LinesStartingWith(text, "hookvault_pending_deliveries").empty());
  EXPECT_TRUE(LinesStartingWith(text, "hookvault_consumer_lag_events").empty());
  EXPECT_TRUE(LinesStartingWith(text, "hookvault_latest_event_seq").empty());
}

// A line-level parse of the text format 0.0.4: every line is a HELP, a TYPE or a sample; every
// family has exactly one HELP then one TYPE before its samples and appears once; every sample
// belongs to the family above it; histogram buckets are cumulative, end with le="+Inf", and
// +Inf equals _count. Returns the problems found.
std::vector<std::string> ParseProblems(const std::string& text) {
  static const std::regex kHelp(R"(# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) .*)");
  static const std::regex kType(R"(# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram))");
  static const std::regex kSample(
      R"(([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\\n]|\\[\\"n])*")(,[a-zA-Z_][a-zA-Z0-9_]*="([^"\\\n]|\\[\\"n])*")*\})? ([-+]?[0-9.eE+-]+|[+-]Inf|NaN))");
  static const std::regex kLe(R"(le="([^"]*)\")");
  std::vector<std::string> problems;
  if (text.empty() || text.back() != '\n') problems.push_back("text does not end with a newline");
  std::set<std::string> seen;
  std::string family, type;
  bool typed = false;
  // Per histogram series (labels without le): the last cumulative bucket value, +Inf, count.
  std::map<std::string, double> last_bucket, inf_bucket, count;
  std::istringstream in(text);
  std::string line;
  std::smatch m;
  while (std::getline(in, line)) {
    if (std::regex_match(line, m, kHelp)) {
      family = m[1];
      typed = false;
      if (!seen.insert(family).second) problems.push_back("family repeated: " + family);
      continue;
    }
    if (std::regex_match(line, m, kType)) {
      if (m[1] != family || typed) problems.push_back("TYPE without its HELP: " + line);
      type = m[2];
      typed = true;
      continue;
    }
    if (!std::regex_match(line, m, kSample)) {
      problems.push_back("not a sample: " + line);
      continue;
    }
    if (!typed) problems.push_back("sample before HELP and TYPE: " + line);
    std::string name = m[1];
    std::string labels = m[2];
    double value = std::stod(std::string(m[7]) == "+Inf" ? "inf" : std::string(m[7]));
    if (type != "histogram") {
      if (name != family) problems.push_back("sample outside its family: " + line);
      continue;
    }
    std::smatch le;
    std::string series = std::regex_replace(labels, std::regex(R"(,?le="[^"]*")"), "");
    if (series == "{}") series.clear();  // an unlabelled histogram's buckets
    if (name == family + "_bucket" && std::regex_search(labels, le, kLe)) {
      double& last = last_bucket[family + series];
      if (value < last) problems.push_back("bucket not cumulative: " + line);
      last = value;
      if (le[1] == "+Inf") inf_bucket[family + series] = value;
    } else if (name == family + "_count") {
      count[family + series] = value;
    } else if (name != family + "_sum") {
      problems.push_back("sample outside its histogram: " + line);
    }
  }
  for (const auto& [series, n] : count) {
    if (!inf_bucket.count(series)) {
      problems.push_back("no le=\"+Inf\" bucket: " + series);
    } else if (inf_bucket[series] != n) {
      problems.push_back("+Inf bucket differs from _count: " + series);
    }
  }
  return problems;
}

TEST(MetricsTest, FullRenderingParses) {
  Metrics m({"github", "we\"ird"}, "0.1.0\n\"dev\"");
  m.ObserveIngest("github", 200, 0.003);
  m.ObserveIngest("we\"ird", 415, 0.0001);
  m.ObserveIngest("nope", 404, 20);
  MetricsInputs in = FullInputs();
  in.consumers->push_back({"back\\slash\nconsumer", 1, 0});
  std::string text = m.Render(in);
  EXPECT_EQ(ParseProblems(text), std::vector<std::string>{}) << text;
  EXPECT_EQ(ParseProblems(m.Render({})), std::vector<std::string>{});
}

TEST(MetricsTest, TheParserCatchesBrokenText) {
  EXPECT_TRUE(ParseProblems("# HELP hv_x x\n# TYPE hv_x gauge\nhv_x 1\n").empty());
  EXPECT_FALSE(ParseProblems("hv_x 1\n").empty());  // no HELP/TYPE
  EXPECT_FALSE(ParseProblems("# HELP hv_x x\n# TYPE hv_x gauge\nhv_y 1\n").empty());
  EXPECT_FALSE(ParseProblems("# HELP hv_x x\n# TYPE hv_x gauge\n# HELP hv_x x\n").empty());
  EXPECT_FALSE(ParseProblems("# HELP hv_x x\n# TYPE hv_x gauge\nhv_x{a=\"b\"c\"} 1\n").empty());
  EXPECT_FALSE(ParseProblems("# HELP hv_h h\n# TYPE hv_h histogram\n"
                             "hv_h_bucket{le=\"1\"} 2\nhv_h_bucket{le=\"+Inf\"} 1\n"
                             "hv_h_sum 1\nhv_h_count 1\n")
                   .empty());
  EXPECT_FALSE(ParseProblems("# HELP hv_h h\n# TYPE hv_h histogram\n"
                             "hv_h_bucket{le=\"+Inf\"} 2\nhv_h_sum 1\nhv_h_count 1\n")
                   .empty());
}

// The endpoint calls its observer once per answered request, with the response and its latency,
// and serves the exposition's content type.
TEST(MetricsEndpointTest, ObserverSeesEveryAnswerAndMetricsAreServed) {
  Metrics metrics({"github"}, "0.1.0");
  std::mutex mu;
  std::vector<std::string> seen;  // guarded by mu
  api::Authenticator no_tokens(std::vector<api::ApiToken>{});
  Router router(no_tokens);
  router.Add("POST", "/webhooks/:source", kSourceToken,
             [](const api::ApiRequest&, const RouteContext& context, api::Responder respond) {
               api::ApiResponse r;
               r.status = context.params[0] == "github" ? 200 : 404;
               r.source = context.params[0];
               respond(std::move(r));
             });
  router.Add("GET", "/metrics", kPublic,
             [&metrics](const api::ApiRequest&, const RouteContext&, api::Responder respond) {
               api::ApiResponse r;
               r.content_type = std::string(kMetricsContentType);
               r.body = metrics.Render({});
               respond(std::move(r));
             });
  hookvault::testing::FakeClock clock;
  EndpointOptions options;
  options.port = 0;
  options.observer = [&](std::string_view method, std::string_view path,
                         const api::ApiResponse& response, double latency_seconds) {
    if (method == "POST" && path.starts_with("/webhooks/")) {
      metrics.ObserveIngest(response.source, response.status, latency_seconds);
    }
    std::lock_guard<std::mutex> lock(mu);
    seen.push_back(std::string(method) + " " + std::string(path) + " " +
                   std::to_string(response.status));
  };
  HttpEndpoint endpoint(options, router, clock);
  ASSERT_TRUE(endpoint.Start().ok());
  std::string base = "http://127.0.0.1:" + std::to_string(endpoint.port());
  hookvault::testing::HttpClient client;
  EXPECT_EQ(client.Request("POST", base + "/webhooks/github", {}, "{}").status, 200);
  EXPECT_EQ(client.Request("POST", base + "/webhooks/unknown", {}, "{}").status, 404);
  EXPECT_EQ(client.Request("GET", base + "/nowhere").status, 404);
  // The observer runs after the response is queued: wait for it.
  auto observed = [&] {
    std::lock_guard<std::mutex> lock(mu);
    return seen.size();
  };
  for (int i = 0; i < 500 && observed() < 3; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  hookvault::testing::HttpResult scraped = client.Request("GET", base + "/metrics");
  endpoint.Shutdown();

  EXPECT_EQ(scraped.status, 200);
  EXPECT_EQ(scraped.headers["content-type"].rfind("text/plain", 0), 0u)
      << scraped.headers["content-type"];
  EXPECT_NE(scraped.headers["content-type"].find("version=0.0.4"), std::string::npos)
      << scraped.headers["content-type"];
  EXPECT_EQ(SampleValue(scraped.body,
                        "hookvault_ingest_requests_total{source=\"github\",status=\"200\"}"),
            1);
  EXPECT_EQ(SampleValue(scraped.body,
                        "hookvault_ingest_requests_total{source=\"_other\",status=\"404\"}"),
            1);
  EXPECT_EQ(SampleValue(scraped.body, "hookvault_ingest_duration_seconds_count"), 2);
  std::lock_guard<std::mutex> lock(mu);
  ASSERT_GE(seen.size(), 3u);
  EXPECT_EQ(seen[0], "POST /webhooks/github 200");
  EXPECT_EQ(seen[1], "POST /webhooks/unknown 404");
  EXPECT_EQ(seen[2], "GET /nowhere 404");
}

TEST(MetricsTest, IngestByClassSumsTheAnswersOverSources) {
  Metrics m({"pms"}, "test");
  m.ObserveIngest("pms", 200, 0.001);
  m.ObserveIngest("pms", 200, 0.001);
  m.ObserveIngest("unknown-source", 404, 0.001);  // counted under _other
  m.ObserveIngest("pms", 401, 0.001);
  m.ObserveIngest("pms", 413, 0.001);
  m.ObserveIngest("pms", 503, 0.001);
  IngestClassCounts c = m.IngestByClass();
  EXPECT_EQ(c.ok, 2u);
  EXPECT_EQ(c.client_error, 3u);
  EXPECT_EQ(c.server_error, 1u);
}

TEST(MetricsTest, IngestAnswersCountsOneStatusOverSources) {
  Metrics m({"pms"}, "test");
  m.ObserveIngest("pms", 503, 0.001);
  m.ObserveIngest("unknown-source", 503, 0.001);
  m.ObserveIngest("pms", 500, 0.001);
  EXPECT_EQ(m.IngestAnswers(503), 2u);
  EXPECT_EQ(m.IngestAnswers(200), 0u);
}

TEST(MetricsTest, AlertCountersByTypeOnlyWhenAlertsAreConfigured) {
  Metrics m({}, "test");
  std::string none = m.Render({});
  EXPECT_NE(none.find("# TYPE hookvault_alerts_total counter\n"), std::string::npos);
  EXPECT_TRUE(LinesStartingWith(none, "hookvault_alerts_total").empty());
  MetricsInputs in;
  in.alerts = std::map<std::string, AlertCounts>{{"delivery.exhausted", {2, 49}},
                                                 {"storage.recovered", {1, 0}}};
  std::string text = m.Render(in);
  EXPECT_NE(text.find("hookvault_alerts_total{type=\"delivery.exhausted\"} 2\n"),
            std::string::npos);
  EXPECT_NE(text.find("hookvault_alerts_suppressed_total{type=\"delivery.exhausted\"} 49\n"),
            std::string::npos);
  EXPECT_NE(text.find("hookvault_alerts_total{type=\"storage.recovered\"} 1\n"),
            std::string::npos);
  EXPECT_TRUE(ParseProblems(text).empty());
}

}  // namespace
}  // namespace hookvault::server
