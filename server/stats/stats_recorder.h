// StatsRecorder: the time series behind GET /api/v1/stats. It is handed the owners' cumulative
// counters at each sample (StatsSampler, every 5 s) and keeps what happened between samples as
// per-bucket deltas in two rings of bounded size:
//
//   recent       5 s buckets aligned to the wall clock, the last 15 minutes (180 buckets);
//   since_start  buckets aligned to the minute the process started, 60 s wide at first; when
//                360 are full, neighbours are merged pairwise and the width doubles, so the
//                whole life of the process is always covered by at most 360 buckets (a year
//                is ~2^11 minutes, about 34 hours, per bucket).
//
// A sample's deltas go to the bucket holding the sample time; a wall clock that stepped back
// before the newest bucket puts them in the newest bucket (nothing is rewritten in the past),
// and one that jumped far ahead restarts the recent ring rather than filling it bucket by
// bucket. A counter lower than at the previous sample (never expected: the owners' counters
// only grow) adds nothing and becomes the new base, so no delta is ever negative.
#ifndef HOOKVAULT_SERVER_STATS_STATS_RECORDER_H_
#define HOOKVAULT_SERVER_STATS_STATS_RECORDER_H_

#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "server/delivery/scheduler.h"
#include "server/metrics.h"
#include "storage/delivery_store.h"

namespace hookvault::server {

inline constexpr int64_t kRecentBucketSeconds = 5;
inline constexpr size_t kRecentBuckets = 180;  // 15 minutes
inline constexpr int64_t kSinceStartFirstBucketSeconds = 60;
inline constexpr size_t kSinceStartBuckets = 360;
// The largest window the recent ring answers; larger ones come from the since-start ring.
inline constexpr int64_t kRecentWindowSeconds =
    kRecentBucketSeconds * static_cast<int64_t>(kRecentBuckets);

// The owners' cumulative counters at one moment: what one sample reads.
struct StatsCounters {
  IngestClassCounts ingest;                              // Metrics::IngestByClass()
  std::map<std::string, DestinationStats> destinations;  // Scheduler::stats()
  std::optional<storage::PendingSummary> pending;        // QueryStore::Pending(); none: failed
};

struct DeliveryOutcomeCounts {
  uint64_t succeeded = 0;
  uint64_t failed = 0;
  uint64_t retried = 0;
};

// What happened in one bucket: deltas of the counters, and the backlog at its last sample.
struct StatsBucket {
  int64_t start = 0;  // wall-clock microseconds
  IngestClassCounts ingest;
  DeliveryOutcomeCounts deliveries;            // summed over destinations
  bool sampled = false;                        // a sample fell in this bucket
  std::optional<int64_t> pending;              // none: no sample, or the store could not be read
  std::optional<double> oldest_pending_age_s;  // none also when nothing is pending
};

// A copy of what the recorder holds, for one answer.
struct StatsSnapshot {
  int64_t started_at = 0;            // wall-clock microseconds
  int64_t bucket_seconds = 0;        // the width of `buckets`
  std::vector<StatsBucket> buckets;  // oldest first; the last holds `now` (in progress)
  IngestClassCounts ingest_total;    // since start
  DeliveryOutcomeCounts deliveries_total;
  // As read at the last sample (empty before the first).
  std::map<std::string, DestinationStats> destinations;
  std::optional<storage::PendingSummary> pending;
  bool sampled = false;  // at least one sample was taken
};

// Thread-safety: Sample() and Snapshot() may be called from any thread; mu_ guards everything
// but started_at_. Runs no thread of its own.
class StatsRecorder {
 public:
  // `started_at`: the process start, wall-clock microseconds. The counters are taken to be 0
  // then, so the first sample's deltas are everything counted since.
  explicit StatsRecorder(int64_t started_at);
  StatsRecorder(const StatsRecorder&) = delete;
  StatsRecorder& operator=(const StatsRecorder&) = delete;

  // Adds what `counters` counted since the previous sample to the buckets holding `now`
  // (wall-clock microseconds) and keeps them as the latest destination health and backlog.
  void Sample(int64_t now, const StatsCounters& counters);

  // Returns the buckets of the last `window_seconds` up to `now`, never before the start: from
  // the recent ring when window_seconds <= kRecentWindowSeconds, else from the since-start ring.
  // Buckets no sample reached are answered as zeros with an unknown backlog. At most
  // kRecentBuckets, or kSinceStartBuckets + 1, buckets.
  StatsSnapshot Snapshot(int64_t now, int64_t window_seconds) const;

  int64_t started_at() const { return started_at_; }

 private:
  // Returns the recent bucket holding `now`, adding the buckets up to it (and dropping those
  // older than 15 minutes); the newest one if the clock stepped back. Called with mu_ held.
  StatsBucket& RecentBucket(int64_t now);
  // Returns the since-start bucket holding `now`, merging pairs first if it lies past the
  // ring's end. Called with mu_ held.
  StatsBucket& SinceStartBucket(int64_t now);

  const int64_t started_at_;
  const int64_t origin_;  // since_start_[0].start: started_at_ down to the minute

  mutable std::mutex mu_;
  std::deque<StatsBucket> recent_;          // guarded by mu_; contiguous 5 s buckets
  std::vector<StatsBucket> since_start_;    // guarded by mu_; since_start_[i] starts at
                                            // origin_ + i * since_start_width_
  int64_t since_start_width_;               // guarded by mu_; microseconds
  IngestClassCounts ingest_total_;          // guarded by mu_
  DeliveryOutcomeCounts deliveries_total_;  // guarded by mu_
  StatsCounters last_;                      // guarded by mu_; the base of the next deltas
  bool sampled_ = false;                    // guarded by mu_
};

}  // namespace hookvault::server

#endif  // HOOKVAULT_SERVER_STATS_STATS_RECORDER_H_
