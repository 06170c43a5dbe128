#include "server/metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <numeric>

namespace hookvault::server {
namespace {

std::string_view TypeName(MetricType type) {
  switch (type) {
    case MetricType::kCounter:
      return "counter";
    case MetricType::kGauge:
      return "gauge";
    case MetricType::kHistogram:
      return "histogram";
  }
  return "untyped";
}

// HELP text escapes backslash and newline only (quotes stay as they are).
std::string EscapeHelp(std::string_view help) {
  std::string out;
  out.reserve(help.size());
  for (char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

template <size_t N>
std::vector<double> Bounds(const std::array<double, N>& bounds) {
  return std::vector<double>(bounds.begin(), bounds.end());
}

double Seconds(int64_t micros) { return static_cast<double>(micros) / 1e6; }

}  // namespace

uint64_t HistogramSnapshot::count() const {
  return std::accumulate(counts.begin(), counts.end(), uint64_t{0});
}

std::string FormatMetricValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  char buf[64];
  std::to_chars_result r;
  // Integral values (every counter) read best without exponent: 1000000, not 1e+06. Below
  // 2^53 a double holds every integer exactly.
  if (value == std::trunc(value) && std::fabs(value) < 9007199254740992.0) {
    r = std::to_chars(buf, buf + sizeof(buf), static_cast<int64_t>(value));
  } else if (std::fabs(value) >= 1e-6 && std::fabs(value) < 1e15) {
    // The shortest fixed form that reads back exactly: 0.0005, not 5e-04.
    r = std::to_chars(buf, buf + sizeof(buf), value, std::chars_format::fixed);
  } else {
    r = std::to_chars(buf, buf + sizeof(buf), value);  // shortest form, maybe with an exponent
  }
  return std::string(buf, r.ptr);
}

std::string EscapeLabelValue(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out += c;
    }
  }
  return out;
}

void ExpositionWriter::BeginFamily(std::string_view name, MetricType type, std::string_view help) {
  family_ = std::string(name);
  out_ += "# HELP ";
  out_ += name;
  out_ += ' ';
  out_ += EscapeHelp(help);
  out_ += "\n# TYPE ";
  out_ += name;
  out_ += ' ';
  out_ += TypeName(type);
  out_ += '\n';
}

void ExpositionWriter::Sample(const LabelList& labels, double value) {
  WriteSample("", labels, nullptr, value);
}

void ExpositionWriter::Histogram(const LabelList& labels, const HistogramSnapshot& histogram) {
  uint64_t cumulative = 0;
  for (size_t i = 0; i <= histogram.bounds.size(); ++i) {
    cumulative += i < histogram.counts.size() ? histogram.counts[i] : 0;
    std::string le = i < histogram.bounds.size() ? FormatMetricValue(histogram.bounds[i]) : "+Inf";
    WriteSample("_bucket", labels, &le, static_cast<double>(cumulative));
  }
  WriteSample("_sum", labels, nullptr, histogram.sum);
  WriteSample("_count", labels, nullptr, static_cast<double>(cumulative));
}

void ExpositionWriter::WriteSample(std::string_view suffix, const LabelList& labels,
                                   const std::string* le, double value) {
  out_ += family_;
  out_ += suffix;
  if (!labels.empty() || le) {
    out_ += '{';
    bool first = true;
    auto label = [&](std::string_view name, std::string_view escaped_value) {
      if (!first) out_ += ',';
      first = false;
      out_ += name;
      out_ += "=\"";
      out_ += escaped_value;
      out_ += '"';
    };
    for (const auto& [name, raw] : labels) label(name, EscapeLabelValue(raw));
    if (le) label("le", *le);
    out_ += '}';
  }
  out_ += ' ';
  out_ += FormatMetricValue(value);
  out_ += '\n';
}

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)),
      counts_(std::make_unique<std::atomic<uint64_t>[]>(bounds_.size() + 1)) {}

void Histogram::Observe(double value) {
  if (std::isnan(value)) return;
  // lower_bound: the first bound >= value, so a value equal to a bound lands in its bucket.
  size_t bucket = static_cast<size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), value) -
                                      bounds_.begin());
  counts_[bucket].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(value, std::memory_order_relaxed);
}

HistogramSnapshot Histogram::Snapshot() const {
  HistogramSnapshot out;
  out.bounds = bounds_;
  out.counts.reserve(bounds_.size() + 1);
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    out.counts.push_back(counts_[i].load(std::memory_order_relaxed));
  }
  out.sum = sum_.load(std::memory_order_relaxed);
  return out;
}

CounterFamily::CounterFamily(std::vector<std::string> label_names)
    : label_names_(std::move(label_names)) {}

void CounterFamily::Add(const std::vector<std::string>& values, uint64_t n) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = counters_.find(values);
  if (it == counters_.end()) it = counters_.emplace(values, 0).first;
  it->second += n;
}

std::vector<std::pair<LabelList, uint64_t>> CounterFamily::Snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::pair<LabelList, uint64_t>> out;
  out.reserve(counters_.size());
  for (const auto& [values, n] : counters_) {
    LabelList labels;
    for (size_t i = 0; i < label_names_.size() && i < values.size(); ++i) {
      labels.emplace_back(label_names_[i], values[i]);
    }
    out.emplace_back(std::move(labels), n);
  }
  return out;
}

Metrics::Metrics(std::vector<std::string> sources, std::string version, std::string backend)
    : sources_(sources.begin(), sources.end()),
      version_(std::move(version)),
      backend_(std::move(backend)),
      ingest_requests_({"source", "status"}),
      ingest_duration_(Bounds(kIngestDurationBucketsSeconds)) {}

void Metrics::ObserveIngest(std::string_view source, int status, double latency_seconds) {
  std::string label(sources_.count(source) ? source : kOtherSource);
  ingest_requests_.Add({std::move(label), std::to_string(status)});
  ingest_duration_.Observe(latency_seconds);
}

IngestClassCounts Metrics::IngestByClass() const {
  IngestClassCounts out;
  for (const auto& [labels, n] : ingest_requests_.Snapshot()) {
    // labels: source, status (three digits, from ObserveIngest).
    const std::string& status = labels.back().second;
    if (status.empty()) continue;
    switch (status[0]) {
      case '2':
        out.ok += n;
        break;
      case '4':
        out.client_error += n;
        break;
      case '5':
        out.server_error += n;
        break;
      default:
        break;
    }
  }
  return out;
}

uint64_t Metrics::IngestAnswers(int status) const {
  const std::string wanted = std::to_string(status);
  uint64_t out = 0;
  for (const auto& [labels, n] : ingest_requests_.Snapshot()) {
    if (labels.back().second == wanted) out += n;
  }
  return out;
}

std::string Metrics::Render(const MetricsInputs& in) const {
  ExpositionWriter w;
  w.BeginFamily("hookvault_build_info", MetricType::kGauge,
                "Always 1; the version label names the running build.");
  w.Sample({{"version", version_}}, 1);
  w.BeginFamily("hookvault_storage_backend", MetricType::kGauge,
                "Always 1; the backend label names the node's store (sqlite or postgres).");
  w.Sample({{"backend", backend_}}, 1);

  // Ingest.
  w.BeginFamily("hookvault_ingest_requests_total", MetricType::kCounter,
                "Answered POST /webhooks/{source} requests by source and HTTP status (sources "
                "that are not configured count as source=\"_other\").");
  for (const auto& [labels, n] : ingest_requests_.Snapshot()) {
    w.Sample(labels, static_cast<double>(n));
  }
  w.BeginFamily("hookvault_ingest_duration_seconds", MetricType::kHistogram,
                "Time from the arrival of an ingest request to its answer (a 200 waits for the "
                "group commit).");
  w.Histogram({}, ingest_duration_.Snapshot());

  // Group commit.
  w.BeginFamily("hookvault_commits_total", MetricType::kCounter,
                "Group-commit transactions committed.");
  w.Sample({}, static_cast<double>(in.writer.commits));
  w.BeginFamily("hookvault_commit_failures_total", MetricType::kCounter,
                "Group-commit transactions that failed (their requests were answered 503).");
  w.Sample({}, static_cast<double>(in.writer.failed_batches));
  w.BeginFamily("hookvault_committed_records_total", MetricType::kCounter,
                "Records (events and request-log rows) in committed transactions.");
  w.Sample({}, static_cast<double>(in.writer.records));
  w.BeginFamily("hookvault_request_log_dropped_total", MetricType::kCounter,
                "Request-log rows of rejected requests counted but not stored, by reason "
                "(address: the remote address used up its budget of the minute; global: all "
                "addresses together did; queue: the writer's log queue was full; failed: its "
                "transaction failed).");
  w.Sample({{"reason", "address"}}, static_cast<double>(in.writer.dropped_logs_address));
  w.Sample({{"reason", "global"}}, static_cast<double>(in.writer.dropped_logs_global));
  w.Sample({{"reason", "queue"}}, static_cast<double>(in.writer.dropped_logs));
  w.Sample({{"reason", "failed"}}, static_cast<double>(in.writer.failed_logs));
  w.BeginFamily("hookvault_commit_batch_size", MetricType::kHistogram,
                "Records per committed group-commit transaction.");
  {
    HistogramSnapshot h;
    h.bounds.assign(storage::kBatchSizeBuckets.begin(), storage::kBatchSizeBuckets.end());
    h.counts.assign(in.writer.batch_size_buckets.begin(), in.writer.batch_size_buckets.end());
    h.sum = static_cast<double>(in.writer.records);
    w.Histogram({}, h);
  }

  // Forwarding, as counted by this process's scheduler.
  w.BeginFamily("hookvault_delivery_attempts_total", MetricType::kCounter,
                "Delivery attempts by destination and outcome (success: 2xx; failure: any other "
                "status, a connection error or a timeout).");
  for (const auto& [name, s] : in.destinations) {
    w.Sample({{"destination", name}, {"outcome", "success"}}, static_cast<double>(s.succeeded));
    w.Sample({{"destination", name}, {"outcome", "failure"}},
             static_cast<double>(s.retried + s.failed));
  }
  w.BeginFamily("hookvault_deliveries_total", MetricType::kCounter,
                "Deliveries that reached a final status, by destination and outcome (failed: "
                "out of attempts, waiting for an operator).");
  for (const auto& [name, s] : in.destinations) {
    w.Sample({{"destination", name}, {"outcome", "succeeded"}}, static_cast<double>(s.succeeded));
    w.Sample({{"destination", name}, {"outcome", "failed"}}, static_cast<double>(s.failed));
  }
  w.BeginFamily("hookvault_delivery_stale_results_total", MetricType::kCounter,
                "Attempt outcomes dropped because their lease had ended before they could be "
                "written (a newer claim, a reprocess or a restart came first), by destination.");
  for (const auto& [name, s] : in.destinations) {
    w.Sample({{"destination", name}}, static_cast<double>(s.stale));
  }
  w.BeginFamily("hookvault_delivery_attempts_in_flight", MetricType::kGauge,
                "Delivery attempts sent and not yet answered, by destination.");
  for (const auto& [name, s] : in.destinations) {
    w.Sample({{"destination", name}}, s.in_flight);
  }
  // The circuit breaker and the rate limit, per destination and per node.
  w.BeginFamily("hookvault_destination_paused", MetricType::kGauge,
                "1 while the destination's circuit is open (paused, or probing with one "
                "attempt), 0 while it is active; per node.");
  for (const auto& [name, s] : in.destinations) {
    w.Sample({{"destination", name}}, s.circuit == CircuitState::kActive ? 0 : 1);
  }
  w.BeginFamily("hookvault_destination_circuit_opens_total", MetricType::kCounter,
                "Times the destination's circuit opened after its consecutive failures (a "
                "failed probe does not count again), by destination.");
  for (const auto& [name, s] : in.destinations) {
    w.Sample({{"destination", name}}, static_cast<double>(s.circuit_opens));
  }
  w.BeginFamily("hookvault_destination_rate_limited_total", MetricType::kCounter,
                "Claims the destination's rate_limit cut short, leaving due deliveries for a "
                "later slot, by destination.");
  for (const auto& [name, s] : in.destinations) {
    w.Sample({{"destination", name}}, static_cast<double>(s.rate_limited));
  }
  w.BeginFamily("hookvault_delivery_attempt_duration_seconds", MetricType::kHistogram,
                "Duration of delivery attempts, by destination.");
  for (const auto& [name, s] : in.destinations) {
    HistogramSnapshot h;
    for (double ms : kAttemptLatencyBucketsMs) h.bounds.push_back(ms / 1000.0);
    h.counts.assign(s.latency_buckets.begin(), s.latency_buckets.end());
    h.sum = s.latency_sum_ms / 1000.0;
    w.Histogram({{"destination", name}}, h);
  }

  // Backlog, as stored: every configured destination shows, with 0 when nothing waits.
  w.BeginFamily("hookvault_pending_deliveries", MetricType::kGauge,
                "Deliveries not yet succeeded or failed (including retrying ones), by "
                "destination.");
  if (in.pending) {
    std::map<std::string, int64_t> by_destination = in.pending->by_destination;
    for (const auto& [name, s] : in.destinations) by_destination.try_emplace(name, 0);
    for (const auto& [name, n] : by_destination) {
      w.Sample({{"destination", name}}, static_cast<double>(n));
    }
  }
  w.BeginFamily("hookvault_oldest_pending_age_seconds", MetricType::kGauge,
                "How long the longest-waiting pending delivery has been pending (since it was "
                "created or last reprocessed); 0 when none is pending.");
  if (in.pending) {
    double age = in.pending->oldest_pending_since
                     ? std::max(0.0, Seconds(in.now - *in.pending->oldest_pending_since))
                     : 0.0;
    w.Sample({}, age);
  }

  // Pull consumers.
  w.BeginFamily("hookvault_latest_event_seq", MetricType::kGauge,
                "The highest event seq assigned.");
  if (in.latest_seq) w.Sample({}, static_cast<double>(*in.latest_seq));
  w.BeginFamily("hookvault_consumer_lag_events", MetricType::kGauge,
                "Events a pull consumer has not acknowledged yet (latest seq minus its cursor).");
  if (in.consumers && in.latest_seq) {
    for (const storage::ConsumerRow& c : *in.consumers) {
      w.Sample({{"consumer", c.name}},
               static_cast<double>(std::max<int64_t>(0, *in.latest_seq - c.cursor)));
    }
  }

  // Operational alerts (config "alerts"): no samples when none are configured.
  w.BeginFamily("hookvault_alerts_total", MetricType::kCounter,
                "Operational alerts stored as events of source _hookvault (and so delivered to "
                "alerts.url), by type.");
  if (in.alerts) {
    for (const auto& [type, c] : *in.alerts) {
      w.Sample({{"type", type}}, static_cast<double>(c.stored));
    }
  }
  w.BeginFamily("hookvault_alerts_suppressed_total", MetricType::kCounter,
                "Occurrences folded into a summary alert by the rate limit (alerts.min_interval_ms) "
                "instead of an alert of their own, by type.");
  if (in.alerts) {
    for (const auto& [type, c] : *in.alerts) {
      w.Sample({{"type", type}}, static_cast<double>(c.suppressed));
    }
  }
  return w.text();
}

void MetricsHandler::Serve(const api::ApiRequest&, api::Responder respond) const {
  MetricsInputs inputs;
  inputs.writer = writer_.stats();
  inputs.destinations = scheduler_.stats();
  if (auto p = queries_.Pending(); p.ok()) inputs.pending = std::move(p).value();
  if (auto c = queries_.ListConsumers(); c.ok()) inputs.consumers = std::move(c).value();
  if (auto l = queries_.LatestSeq(); l.ok()) inputs.latest_seq = *l;
  inputs.now = clock_.NowMicros();
  if (alerter_) inputs.alerts = alerter_->counts();
  api::ApiResponse r;
  r.content_type = std::string(kMetricsContentType);
  r.body = metrics_.Render(inputs);
  respond(std::move(r));
}

}  // namespace hookvault::server
