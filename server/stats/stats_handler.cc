#include "server/stats/stats_handler.h"


#include <algorithm>
#include <memory>
#include <optional>

#include "api/params.h"
#include "api/render.h"

namespace hookvault::server {
namespace {

using api::JsonWriter;
using api::WriteKey;
using api::WriteString;

void WriteTime(JsonWriter& w, int64_t micros) { WriteString(w, storage::FormatRfc3339(micros)); }

// Writes a time, or null for 0 (never).
void WriteOptionalTime(JsonWriter& w, int64_t micros) {
  if (micros == 0) {
    w.Null();
  } else {
    WriteTime(w, micros);
  }
}

void WriteUint(JsonWriter& w, std::string_view key, uint64_t n) {
  WriteKey(w, key);
  w.Uint64(n);
}

void WriteIngest(JsonWriter& w, const IngestClassCounts& c) {
  w.StartObject();
  WriteUint(w, "2xx", c.ok);
  WriteUint(w, "4xx", c.client_error);
  WriteUint(w, "5xx", c.server_error);
  w.EndObject();
}

void WriteDeliveries(JsonWriter& w, const DeliveryOutcomeCounts& c) {
  w.StartObject();
  WriteUint(w, "succeeded", c.succeeded);
  WriteUint(w, "failed", c.failed);
  WriteUint(w, "retried", c.retried);
  w.EndObject();
}

// Returns the attempt latency (ms) below which a fraction `q` of the attempts lie: the upper
// bound of the histogram bucket holding that rank. The last bucket has no bound; its attempts
// took longer than the last one but, being cut at the destination's timeout, not much longer
// than `timeout_ms`, which is answered for them. None when there were no attempts.
std::optional<double> Percentile(const DestinationStats& s, double q, int64_t timeout_ms) {
  uint64_t count = 0;
  for (uint64_t n : s.latency_buckets) count += n;
  if (count == 0) return std::nullopt;
  // The rank of the q-th attempt, 1-based: p50 of 2 attempts is the first.
  auto rank = static_cast<uint64_t>(q * static_cast<double>(count));
  if (static_cast<double>(rank) < q * static_cast<double>(count)) ++rank;
  rank = std::max<uint64_t>(rank, 1);
  uint64_t seen = 0;
  for (size_t i = 0; i < s.latency_buckets.size(); ++i) {
    seen += s.latency_buckets[i];
    if (seen >= rank) {
      if (i < kAttemptLatencyBucketsMs.size()) return kAttemptLatencyBucketsMs[i];
      break;
    }
  }
  return std::max(kAttemptLatencyBucketsMs.back(), static_cast<double>(timeout_ms));
}

void WriteOptionalDouble(JsonWriter& w, const std::optional<double>& v) {
  if (v) {
    w.Double(*v);
  } else {
    w.Null();
  }
}

// Writes the members of a destination's health (inside an open object).
void WriteHealthMembers(JsonWriter& w, const DestinationStats& s, std::optional<int64_t> pending,
                        int64_t timeout_ms) {
  WriteUint(w, "attempts", s.attempts);
  WriteUint(w, "succeeded", s.succeeded);
  WriteUint(w, "failed", s.failed);
  WriteUint(w, "retried", s.retried);
  WriteKey(w, "success_rate");
  if (s.attempts > 0) {
    w.Double(std::min(1.0, static_cast<double>(s.succeeded) / static_cast<double>(s.attempts)));
  } else {
    w.Null();
  }
  WriteKey(w, "p50_ms");
  WriteOptionalDouble(w, Percentile(s, 0.50, timeout_ms));
  WriteKey(w, "p95_ms");
  WriteOptionalDouble(w, Percentile(s, 0.95, timeout_ms));
  WriteKey(w, "pending");
  if (pending) {
    w.Int64(*pending);
  } else {
    w.Null();
  }
  WriteKey(w, "in_flight");
  w.Int(s.in_flight);
  WriteUint(w, "consecutive_failures", s.consecutive_failures);
  WriteKey(w, "last_error");
  if (s.last_error.empty()) {
    w.Null();
  } else {
    WriteString(w, s.last_error);
  }
  WriteKey(w, "last_error_at");
  WriteOptionalTime(w, s.last_error_at);
  WriteKey(w, "last_success_at");
  WriteOptionalTime(w, s.last_success_at);
}

// "paused" while the circuit is open (paused, or probing with a single attempt); otherwise
// "failing" while the last attempt failed, else "ok".
std::string_view State(const DestinationStats& s) {
  if (s.circuit != CircuitState::kActive) return "paused";
  return s.consecutive_failures > 0 ? "failing" : "ok";
}

// The destination's stats of the last sample (zeros before the first) and its backlog then
// (none when unknown).
const DestinationStats& StatsOf(const StatsSnapshot& snap, const std::string& name) {
  static const DestinationStats kNone;
  auto it = snap.destinations.find(name);
  return it == snap.destinations.end() ? kNone : it->second;
}

std::optional<int64_t> PendingOf(const StatsSnapshot& snap, const std::string& name) {
  if (!snap.pending) return std::nullopt;
  auto it = snap.pending->by_destination.find(name);
  return it == snap.pending->by_destination.end() ? 0 : it->second;
}

void WriteStrings(JsonWriter& w, const std::vector<std::string>& values) {
  w.StartArray();
  for (const std::string& v : values) WriteString(w, v);
  w.EndArray();
}

}  // namespace

StatsHandler::StatsHandler(const StatsRecorder& recorder,
                           const std::vector<DestinationConfig>& destinations,
                           const storage::Clock& clock)
    : recorder_(recorder), destinations_(Show(destinations)), clock_(clock) {}

void StatsHandler::Stats(const api::ApiRequest& req, api::Responder respond) const {
  api::QueryParams params(req, {"window"});
  std::optional<int64_t> window =
      params.Int("window", kMinStatsWindowSeconds, kMaxStatsWindowSeconds);
  if (!params.ok()) return respond(params.error());
  const int64_t now = clock_.NowMicros();
  const int64_t window_seconds = window.value_or(kDefaultStatsWindowSeconds);
  StatsSnapshot snap = recorder_.Snapshot(now, window_seconds);

  std::string out;
  api::StringSink sink(out);
  JsonWriter w(sink);
  w.StartObject();
  WriteKey(w, "now");
  WriteTime(w, now);
  WriteKey(w, "started_at");
  WriteTime(w, snap.started_at);
  WriteKey(w, "window");
  w.Int64(window_seconds);
  WriteKey(w, "bucket_seconds");
  w.Int64(snap.bucket_seconds);
  WriteKey(w, "buckets");
  w.StartArray();
  for (const StatsBucket& b : snap.buckets) {
    w.StartObject();
    WriteKey(w, "start");
    WriteTime(w, b.start);
    WriteKey(w, "ingest");
    WriteIngest(w, b.ingest);
    WriteKey(w, "deliveries");
    WriteDeliveries(w, b.deliveries);
    WriteKey(w, "pending");
    if (b.pending) {
      w.Int64(*b.pending);
    } else {
      w.Null();
    }
    WriteKey(w, "oldest_pending_age_s");
    WriteOptionalDouble(w, b.oldest_pending_age_s);
    w.EndObject();
  }
  w.EndArray();
  WriteKey(w, "totals");
  w.StartObject();
  WriteKey(w, "ingest");
  WriteIngest(w, snap.ingest_total);
  WriteKey(w, "deliveries");
  WriteDeliveries(w, snap.deliveries_total);
  w.EndObject();
  WriteKey(w, "destinations");
  w.StartArray();
  for (const Shown& d : destinations_) {
    const DestinationStats& s = StatsOf(snap, d.name);
    w.StartObject();
    WriteKey(w, "name");
    WriteString(w, d.name);
    WriteKey(w, "state");
    WriteString(w, State(s));
    WriteHealthMembers(w, s, PendingOf(snap, d.name), d.timeout_ms);
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  respond(api::JsonOk(std::move(out)));
}

void StatsHandler::Destinations(const api::ApiRequest& req, api::Responder respond) const {
  api::QueryParams params(req, {});
  if (!params.ok()) return respond(params.error());
  // Only the last sample's copy is needed: the smallest window keeps the copy small.
  StatsSnapshot snap = recorder_.Snapshot(clock_.NowMicros(), kMinStatsWindowSeconds);
  std::string out;
  api::StringSink sink(out);
  JsonWriter w(sink);
  w.StartObject();
  WriteKey(w, "data");
  w.StartArray();
  for (const Shown& d : destinations_) {
    const DestinationStats& s = StatsOf(snap, d.name);
    w.StartObject();
    WriteKey(w, "name");
    WriteString(w, d.name);
    WriteKey(w, "url");
    WriteString(w, d.url);
    WriteKey(w, "sources");
    WriteStrings(w, d.sources);
    WriteKey(w, "events");
    WriteStrings(w, d.events);
    WriteKey(w, "filter");
    w.RawValue(d.filter.data(), d.filter.size(), rapidjson::kArrayType);
    WriteKey(w, "timeout_ms");
    w.Int64(d.timeout_ms);
    WriteKey(w, "max_attempts");
    w.Int(d.max_attempts);
    WriteKey(w, "signed");
    w.Bool(d.is_signed);
    WriteKey(w, "state");
    WriteString(w, State(s));
    WriteKey(w, "circuit");
    w.StartObject();
    WriteKey(w, "failures");
    w.Int(d.circuit.failures);
    WriteKey(w, "open_ms");
    w.Int64(d.circuit.open_ms);
    WriteKey(w, "state");
    WriteString(w, CircuitStateName(s.circuit));
    WriteKey(w, "paused_since");
    WriteOptionalTime(w, s.paused_since);
    WriteKey(w, "paused_until");
    WriteOptionalTime(w, s.paused_until);
    WriteUint(w, "opens", s.circuit_opens);
    w.EndObject();
    WriteKey(w, "rate_limit");
    if (d.rate_limit.per_second > 0) {
      w.StartObject();
      WriteKey(w, "per_second");
      w.Double(d.rate_limit.per_second);
      WriteUint(w, "limited", s.rate_limited);
      w.EndObject();
    } else {
      w.Null();
    }
    WriteKey(w, "ordering");
    if (d.ordering) {
      w.StartObject();
      WriteKey(w, "key");
      WriteString(w, *d.ordering);
      w.EndObject();
    } else {
      w.Null();
    }
    if (d.amqp) {
      WriteKey(w, "amqp");
      w.StartObject();
      WriteKey(w, "exchange");
      WriteString(w, d.amqp->exchange);
      WriteKey(w, "routing_key");
      WriteString(w, d.amqp->routing_key);
      w.EndObject();
    }
    WriteKey(w, "health");
    w.StartObject();
    WriteHealthMembers(w, s, PendingOf(snap, d.name), d.timeout_ms);
    w.EndObject();
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  respond(api::JsonOk(std::move(out)));
}

std::vector<StatsHandler::Shown> StatsHandler::Show(
    const std::vector<DestinationConfig>& destinations) {
  std::vector<Shown> out;
  for (const DestinationConfig& d : destinations) {
    Shown s;
    s.name = d.name;
    s.url = DisplayUrl(d.url);
    s.sources = d.filter.sources;
    s.events = d.filter.events;
    s.filter = d.filter.payload.json();
    s.timeout_ms = d.timeout_ms;
    s.max_attempts = d.max_attempts;
    s.is_signed = !d.signing_secret.empty();
    s.circuit = d.circuit;
    s.rate_limit = d.rate_limit;
    s.ordering = d.ordering;
    if (IsAmqpUrl(d.url)) s.amqp = d.amqp;
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace hookvault::server
