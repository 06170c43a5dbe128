// Metrics: what GET /metrics shows, in the Prometheus text exposition format 0.0.4
// (https://prometheus.io/docs/instrumenting/exposition_formats/). Debian has no package for
// prometheus-cpp and the format is small, so it is written here: families, each with one
// `# HELP` and one `# TYPE` line before its samples; samples `name{label="value",...} value`;
// histograms as cumulative `_bucket{le="..."}` samples ending with le="+Inf", then `_sum` and
// `_count`.
//
// The server counts only what no other component counts (ingest requests and their latency);
// everything else is read from its owner at scrape time and handed to Render() as snapshots
// (MetricsInputs), so the hot paths carry no second set of counters.
#ifndef HOOKVAULT_SERVER_METRICS_H_
#define HOOKVAULT_SERVER_METRICS_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "api/http.h"
#include "server/alerts/alerter.h"
#include "server/delivery/scheduler.h"
#include "storage/clock.h"
#include "storage/delivery_store.h"
#include "storage/group_commit_writer.h"
#include "storage/query_store.h"

namespace hookvault::server {

// The Content-Type of a /metrics response.
inline constexpr std::string_view kMetricsContentType = "text/plain; version=0.0.4; charset=utf-8";

// Label names and their raw (unescaped) values, in the order they are written.
using LabelList = std::vector<std::pair<std::string, std::string>>;

// A histogram at one moment.
struct HistogramSnapshot {
  std::vector<double> bounds;    // ascending, inclusive upper bounds; +Inf is implied
  std::vector<uint64_t> counts;  // per bucket, not cumulative: bounds.size() + 1 entries
  double sum = 0;

  // Returns the number of observations (the sum of counts).
  uint64_t count() const;
};

// Upper bounds (seconds) of hookvault_ingest_duration_seconds: an acknowledgement waits for a
// group commit (one fsync is ~0.3 ms here; p99 is a few ms under load).
inline constexpr std::array<double, 14> kIngestDurationBucketsSeconds = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

enum class MetricType { kCounter, kGauge, kHistogram };

// Ingest answers by status class, summed over sources, since the process started.
struct IngestClassCounts {
  uint64_t ok = 0;            // 2xx
  uint64_t client_error = 0;  // 4xx
  uint64_t server_error = 0;  // 5xx
};

// Returns `value` as the format writes sample values and bucket bounds: integers without a
// fraction or exponent ("42"), other numbers in their shortest exact form, without exponent
// unless very small or large ("0.0005", "1e-07"), and "+Inf", "-Inf", "NaN".
std::string FormatMetricValue(double value);

// Returns `value` escaped for a label value: backslash, double quote and newline become \\, \"
// and \n.
std::string EscapeLabelValue(std::string_view value);

// Builds one exposition. Begin each family with BeginFamily(), then write its samples. Metric
// and label names are the caller's constants (snake_case, valid Prometheus names); label values
// and HELP texts are escaped here.
//
// Thread-safety: not thread-safe; one writer per rendering.
class ExpositionWriter {
 public:
  // Starts a family: writes its # HELP and # TYPE lines. A counter's name ends in "_total".
  // Each name is used for one family only.
  void BeginFamily(std::string_view name, MetricType type, std::string_view help);

  // Writes one sample of the current family, which is a counter or a gauge.
  void Sample(const LabelList& labels, double value);

  // Writes one histogram of the current family, which is a histogram: a cumulative _bucket
  // sample per bound and le="+Inf" (equal to _count), then _sum and _count. `labels` must not
  // contain "le".
  void Histogram(const LabelList& labels, const HistogramSnapshot& histogram);

  const std::string& text() const { return out_; }

 private:
  void WriteSample(std::string_view suffix, const LabelList& labels, const std::string* le,
                   double value);

  std::string out_;
  std::string family_;
};

// A histogram with fixed bucket bounds that many threads observe at once.
//
// Thread-safety: Observe() and Snapshot() from any thread; lock-free (relaxed atomics). A
// snapshot taken during observations may count an observation in a bucket before its value is
// in the sum (or the reverse); the count is always the sum of the buckets.
class Histogram {
 public:
  // `bounds` are ascending, inclusive upper bounds; a last +Inf bucket is implied.
  explicit Histogram(std::vector<double> bounds);
  Histogram(const Histogram&) = delete;
  Histogram& operator=(const Histogram&) = delete;

  // Counts `value` in the first bucket whose bound is at least `value`. NaN is ignored.
  void Observe(double value);

  HistogramSnapshot Snapshot() const;

 private:
  const std::vector<double> bounds_;
  const std::unique_ptr<std::atomic<uint64_t>[]> counts_;  // bounds_.size() + 1
  std::atomic<double> sum_{0};
};

// Counters of one family, one per combination of label values. The caller bounds how many
// combinations exist: every one is kept for the life of the process.
//
// Thread-safety: Add() and Snapshot() from any thread; mu_ guards the counters.
class CounterFamily {
 public:
  explicit CounterFamily(std::vector<std::string> label_names);
  CounterFamily(const CounterFamily&) = delete;
  CounterFamily& operator=(const CounterFamily&) = delete;

  // Adds `n` to the counter of `values`, one per label name, in the same order.
  void Add(const std::vector<std::string>& values, uint64_t n = 1);

  // Returns every counter with its labels, ordered by label values.
  std::vector<std::pair<LabelList, uint64_t>> Snapshot() const;

 private:
  const std::vector<std::string> label_names_;
  mutable std::mutex mu_;
  std::map<std::vector<std::string>, uint64_t> counters_;  // guarded by mu_
};

// What Render() shows besides the server's own counters: snapshots from their owners, taken
// just before. An input that could not be read is nullopt; its families are then written
// without samples rather than with made-up values.
struct MetricsInputs {
  storage::WriterStats writer;                                 // GroupCommitWriter::stats()
  std::map<std::string, DestinationStats> destinations;        // Scheduler::stats()
  std::optional<storage::PendingSummary> pending;              // QueryStore::Pending()
  std::optional<std::vector<storage::ConsumerRow>> consumers;  // QueryStore::ListConsumers()
  std::optional<int64_t> latest_seq;                           // QueryStore::LatestSeq()
  int64_t now = 0;  // microseconds since the epoch, for the age of the oldest pending delivery
  // Alerter::counts(), by alert type; nullopt when no alerts are configured.
  std::optional<std::map<std::string, AlertCounts>> alerts;
};

// The server's metrics: it counts ingest requests and renders everything for GET /metrics.
//
// Label values come only from configuration (sources, destinations) or from the database
// (consumers, destinations with pending deliveries), never from what a client sends: ingest for
// a source that is not configured is counted under source="_other", so a client cannot create
// series at will.
//
// Thread-safety: ObserveIngest() and Render() may be called from any number of threads at
// once. The latency histogram is lock-free; the request counters take a mutex for a map
// lookup; the configuration is immutable after construction.
class Metrics {
 public:
  // The source label of ingest for a source that is not configured.
  static constexpr std::string_view kOtherSource = "_other";

  // `sources`: the configured source names, the only ones that become label values.
  // `version`: shown by hookvault_build_info. `backend`: the store, "sqlite" or "postgres",
  // shown by hookvault_storage_backend.
  Metrics(std::vector<std::string> sources, std::string version, std::string backend = "sqlite");
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // Counts one answered POST /webhooks/{source}: its source (any string; see kOtherSource), its
  // HTTP status, and the seconds from its arrival to its answer.
  void ObserveIngest(std::string_view source, int status, double latency_seconds);

  // Returns the ingest answers counted so far by status class (the stats sampler's input,
  // server/stats/): a sum over the request counters, which stay the only ones ingest bumps.
  IngestClassCounts IngestByClass() const;

  // Returns the ingest requests answered with `status` so far, over all sources (the alerts'
  // count of 503 answers during a storage outage).
  uint64_t IngestAnswers(int status) const;

  // Returns the exposition (Content-Type kMetricsContentType) of the server's counters and
  // `inputs`.
  std::string Render(const MetricsInputs& inputs) const;

 private:
  const std::set<std::string, std::less<>> sources_;
  const std::string version_;
  const std::string backend_;
  CounterFamily ingest_requests_;  // source, status
  Histogram ingest_duration_;      // seconds
};

// Answers GET /metrics: reads every owner's snapshot at scrape time (the writer's and the
// scheduler's counters, the backlog and consumers from the QueryStore) and renders them with
// what `metrics` counted.
//
// Thread-safety: Serve() may be called from many threads at once.
class MetricsHandler {
 public:
  // Every reference must outlive this object.
  MetricsHandler(const Metrics& metrics, const storage::GroupCommitWriter& writer,
                 const Scheduler& scheduler, storage::QueryStore& queries,
                 const storage::Clock& clock)
      : metrics_(metrics),
        writer_(writer),
        scheduler_(scheduler),
        queries_(queries),
        clock_(clock) {}

  // Shows `alerter`'s counters too (it must outlive this object). Call before serving.
  void set_alerter(const Alerter* alerter) { alerter_ = alerter; }

  void Serve(const api::ApiRequest& req, api::Responder respond) const;

 private:
  const Metrics& metrics_;
  const storage::GroupCommitWriter& writer_;
  const Scheduler& scheduler_;
  storage::QueryStore& queries_;
  const storage::Clock& clock_;
  const Alerter* alerter_ = nullptr;  // set before serving
};

}  // namespace hookvault::server

#endif  // HOOKVAULT_SERVER_METRICS_H_
