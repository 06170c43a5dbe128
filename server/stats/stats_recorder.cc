#include "server/stats/stats_recorder.h"

#include <algorithm>

namespace hookvault::server {
namespace {

constexpr int64_t kMicros = 1'000'000;

// Returns `micros` rounded down to a multiple of `width` (also for times before the epoch).
int64_t FloorTo(int64_t micros, int64_t width) {
  int64_t q = micros / width;
  if (micros % width != 0 && micros < 0) --q;
  return q * width;
}

// Returns cur - prev, or 0 when the counter went backwards.
uint64_t Delta(uint64_t cur, uint64_t prev) { return cur >= prev ? cur - prev : 0; }

void Add(IngestClassCounts& to, const IngestClassCounts& d) {
  to.ok += d.ok;
  to.client_error += d.client_error;
  to.server_error += d.server_error;
}

void Add(DeliveryOutcomeCounts& to, const DeliveryOutcomeCounts& d) {
  to.succeeded += d.succeeded;
  to.failed += d.failed;
  to.retried += d.retried;
}

// Adds one sample's deltas and backlog to `b`.
void Apply(StatsBucket& b, const IngestClassCounts& ingest, const DeliveryOutcomeCounts& deliveries,
           const std::optional<int64_t>& pending, const std::optional<double>& age) {
  Add(b.ingest, ingest);
  Add(b.deliveries, deliveries);
  b.sampled = true;
  b.pending = pending;
  b.oldest_pending_age_s = age;
}

StatsBucket Empty(int64_t start) {
  StatsBucket b;
  b.start = start;
  return b;
}

}  // namespace

StatsRecorder::StatsRecorder(int64_t started_at)
    : started_at_(started_at),
      origin_(FloorTo(started_at, kSinceStartFirstBucketSeconds * kMicros)),
      since_start_width_(kSinceStartFirstBucketSeconds * kMicros) {}

void StatsRecorder::Sample(int64_t now, const StatsCounters& counters) {
  std::lock_guard<std::mutex> lock(mu_);
  IngestClassCounts ingest;
  ingest.ok = Delta(counters.ingest.ok, last_.ingest.ok);
  ingest.client_error = Delta(counters.ingest.client_error, last_.ingest.client_error);
  ingest.server_error = Delta(counters.ingest.server_error, last_.ingest.server_error);
  DeliveryOutcomeCounts deliveries;
  for (const auto& [name, cur] : counters.destinations) {
    auto prev = last_.destinations.find(name);
    DestinationStats zero;
    const DestinationStats& p = prev == last_.destinations.end() ? zero : prev->second;
    deliveries.succeeded += Delta(cur.succeeded, p.succeeded);
    deliveries.failed += Delta(cur.failed, p.failed);
    deliveries.retried += Delta(cur.retried, p.retried);
  }
  std::optional<int64_t> pending;
  std::optional<double> age;
  if (counters.pending) {
    pending = counters.pending->count;
    if (counters.pending->count > 0 && counters.pending->oldest_pending_since) {
      age =
          static_cast<double>(std::max<int64_t>(0, now - *counters.pending->oldest_pending_since)) /
          kMicros;
    }
  }
  Apply(RecentBucket(now), ingest, deliveries, pending, age);
  Apply(SinceStartBucket(now), ingest, deliveries, pending, age);
  Add(ingest_total_, ingest);
  Add(deliveries_total_, deliveries);
  last_ = counters;
  sampled_ = true;
}

StatsBucket& StatsRecorder::RecentBucket(int64_t now) {
  const int64_t width = kRecentBucketSeconds * kMicros;
  const int64_t start = FloorTo(now, width);
  if (!recent_.empty() && start <= recent_.back().start) return recent_.back();  // stepped back
  if (recent_.empty() ||
      (start - recent_.back().start) / width > static_cast<int64_t>(kRecentBuckets)) {
    // Nothing kept is within the last 15 minutes of `now`: start again there.
    recent_.clear();
    recent_.push_back(Empty(start));
  } else {
    while (recent_.back().start < start) recent_.push_back(Empty(recent_.back().start + width));
  }
  while (recent_.size() > kRecentBuckets) recent_.pop_front();
  return recent_.back();
}

StatsBucket& StatsRecorder::SinceStartBucket(int64_t now) {
  auto index = [&] {
    return now <= origin_ ? 0 : static_cast<size_t>((now - origin_) / since_start_width_);
  };
  if (!since_start_.empty() && index() < since_start_.size()) {
    return since_start_.back();  // the newest bucket, or the wall clock stepped back
  }
  while (index() >= kSinceStartBuckets) {
    // Full: merge neighbours pairwise, each pair into a bucket twice as wide starting where the
    // first did (both are aligned to origin_, so the pairs are too).
    std::vector<StatsBucket> merged;
    merged.reserve((since_start_.size() + 1) / 2);
    for (size_t i = 0; i < since_start_.size(); i += 2) {
      StatsBucket b = since_start_[i];
      if (i + 1 < since_start_.size()) {
        const StatsBucket& later = since_start_[i + 1];
        Add(b.ingest, later.ingest);
        Add(b.deliveries, later.deliveries);
        if (later.sampled) {  // the backlog at the merged bucket's last sample
          b.sampled = true;
          b.pending = later.pending;
          b.oldest_pending_age_s = later.oldest_pending_age_s;
        }
      }
      merged.push_back(b);
    }
    since_start_ = std::move(merged);
    since_start_width_ *= 2;
  }
  const size_t target = index();
  while (since_start_.size() <= target) {
    since_start_.push_back(
        Empty(origin_ + static_cast<int64_t>(since_start_.size()) * since_start_width_));
  }
  return since_start_.back();
}

StatsSnapshot StatsRecorder::Snapshot(int64_t now, int64_t window_seconds) const {
  std::lock_guard<std::mutex> lock(mu_);
  StatsSnapshot out;
  out.started_at = started_at_;
  out.ingest_total = ingest_total_;
  out.deliveries_total = deliveries_total_;
  out.destinations = last_.destinations;
  out.pending = last_.pending;
  out.sampled = sampled_;
  const int64_t window = std::max<int64_t>(window_seconds, 1) * kMicros;
  if (window_seconds <= kRecentWindowSeconds) {
    const int64_t width = kRecentBucketSeconds * kMicros;
    out.bucket_seconds = kRecentBucketSeconds;
    int64_t last = FloorTo(now, width);
    if (!recent_.empty()) last = std::max(last, recent_.back().start);  // stepped back
    const int64_t count = (window + width - 1) / width;
    // Never before the start, but always the bucket in progress (also on a clock set back).
    const int64_t first =
        std::min(last, std::max(last - (count - 1) * width, FloorTo(started_at_, width)));
    for (int64_t start = first; start <= last; start += width) {
      if (!recent_.empty() && start >= recent_.front().start && start <= recent_.back().start) {
        out.buckets.push_back(
            recent_[static_cast<size_t>((start - recent_.front().start) / width)]);
      } else {
        out.buckets.push_back(Empty(start));
      }
    }
    return out;
  }
  const int64_t width = since_start_width_;
  out.bucket_seconds = width / kMicros;
  int64_t last = now <= origin_ ? 0 : (now - origin_) / width;
  if (!since_start_.empty()) last = std::max(last, static_cast<int64_t>(since_start_.size()) - 1);
  int64_t first = now - window <= origin_ ? 0 : (now - window - origin_) / width;
  // Bounded whatever the clocks say: at most one more bucket than the ring holds.
  first = std::max(first, last - static_cast<int64_t>(kSinceStartBuckets));
  for (int64_t i = first; i <= last; ++i) {
    if (i < static_cast<int64_t>(since_start_.size())) {
      out.buckets.push_back(since_start_[static_cast<size_t>(i)]);
    } else {
      out.buckets.push_back(Empty(origin_ + i * width));
    }
  }
  return out;
}

}  // namespace hookvault::server
