// StatsSampler: the thread that feeds the StatsRecorder. Every tick (5 s) it reads the owners'
// cumulative counters — the ingest answers Metrics counted, the scheduler's DestinationStats,
// and the backlog from QueryStore::Pending() (the only database read of /api/v1/stats: one
// indexed query per tick, never one per request) — and hands them to the recorder.
#ifndef HOOKVAULT_SERVER_STATS_STATS_SAMPLER_H_
#define HOOKVAULT_SERVER_STATS_STATS_SAMPLER_H_

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

#include "server/delivery/scheduler.h"
#include "server/metrics.h"
#include "server/stats/stats_recorder.h"
#include "storage/clock.h"
#include "storage/query_store.h"

namespace hookvault::server {

inline constexpr std::chrono::milliseconds kStatsTick{5000};

// Returns the owners' counters now. A backlog that cannot be read is left unknown (nullopt):
// the sample still counts ingest and deliveries.
//
// Thread-safety: as the owners' (all three may be read from any thread).
StatsCounters ReadStatsCounters(const Metrics& metrics, const Scheduler& scheduler,
                                storage::QueryStore& queries);

// Thread-safety: Start() and Stop() from the owning thread; SampleNow() from any thread. Runs
// one thread of its own between Start() and Stop().
class StatsSampler {
 public:
  using ReadCounters = std::function<StatsCounters()>;

  // `recorder` and `clock` must outlive the sampler; `read` is called on the sampler's thread
  // (and by SampleNow()). The clock's wall time stamps each sample.
  StatsSampler(StatsRecorder& recorder, ReadCounters read, const storage::Clock& clock,
               std::chrono::milliseconds tick = kStatsTick);
  StatsSampler(const StatsSampler&) = delete;
  StatsSampler& operator=(const StatsSampler&) = delete;
  ~StatsSampler();  // calls Stop()

  // Starts the thread: it samples at once, then every tick.
  void Start();

  // Wakes the thread and joins it (it does not wait for the tick). Idempotent.
  void Stop();

  // Takes one sample now, on the calling thread.
  void SampleNow();

 private:
  void Run();

  StatsRecorder& recorder_;
  const ReadCounters read_;
  const storage::Clock& clock_;
  const std::chrono::milliseconds tick_;
  std::mutex sample_mu_;  // one sample at a time, so their deltas apply in order

  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;  // guarded by mu_
  std::thread thread_;
};

}  // namespace hookvault::server

#endif  // HOOKVAULT_SERVER_STATS_STATS_SAMPLER_H_
