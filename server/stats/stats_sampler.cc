#include "server/stats/stats_sampler.h"

#include <pthread.h>
#include <spdlog/spdlog.h>

namespace hookvault::server {

StatsCounters ReadStatsCounters(const Metrics& metrics, const Scheduler& scheduler,
                                storage::QueryStore& queries) {
  StatsCounters c;
  c.ingest = metrics.IngestByClass();
  c.destinations = scheduler.stats();
  auto pending = queries.Pending();
  if (pending.ok()) {
    c.pending = std::move(pending).value();
  } else {
    spdlog::debug("stats: reading the backlog failed: {}", pending.status().ToString());
  }
  return c;
}

StatsSampler::StatsSampler(StatsRecorder& recorder, ReadCounters read, const storage::Clock& clock,
                           std::chrono::milliseconds tick)
    : recorder_(recorder), read_(std::move(read)), clock_(clock), tick_(tick) {}

StatsSampler::~StatsSampler() { Stop(); }

void StatsSampler::Start() {
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "hv-stats");
    Run();
  });
}

void StatsSampler::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void StatsSampler::SampleNow() {
  std::lock_guard<std::mutex> lock(sample_mu_);
  StatsCounters counters = read_();
  // Stamped after the read: the counters are what was counted up to this moment.
  recorder_.Sample(clock_.NowMicros(), counters);
}

void StatsSampler::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    lock.unlock();
    SampleNow();
    lock.lock();
    cv_.wait_for(lock, tick_, [this] { return stopping_; });
  }
}

}  // namespace hookvault::server
