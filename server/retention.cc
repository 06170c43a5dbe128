#include "server/retention.h"

#include <pthread.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <future>
#include <memory>

namespace hookvault::server {
namespace {

constexpr int64_t kMicrosPerDay = 86'400'000'000LL;

}  // namespace

Retention::Retention(RetentionConfig ages, std::vector<std::string> consumers,
                     storage::WriteSerializer& writer, storage::RetentionStore& store,
                     const storage::Clock& clock, RetentionOptions options)
    : ages_(ages),
      consumers_(std::move(consumers)),
      writer_(writer),
      store_(store),
      clock_(clock),
      options_(options) {}

Retention::~Retention() { Stop(); }

void Retention::Start() {
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "hv-retention");
    Run();
  });
}

void Retention::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool Retention::stopping() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stopping_;
}

int64_t Retention::ConsumerHold(int64_t now, RetentionRound& round) {
  int64_t max_seq = std::numeric_limits<int64_t>::max();
  if (consumers_.empty()) return max_seq;
  auto cursors = storage::RunSerialized(
      writer_, [this, now] { return store_.ConsumerCursors(consumers_, now); });
  if (!cursors.ok()) {
    // Not knowing where the consumers are, keep every event this round; the other targets
    // still go (a full store needs their space to take the consumers' rows).
    if (!stopping()) {
      spdlog::warn("retention: cannot read consumer cursors, keeping events this round: {}",
                   cursors.status().ToString());
    }
    return 0;
  }
  int64_t silent_since = now - ages_.max_consumer_lag_days * kMicrosPerDay;
  for (const storage::ConsumerCursor& c : *cursors) {
    if (c.last_ack_at >= silent_since) {
      max_seq = std::min(max_seq, c.cursor);
    } else {
      round.lapsed_consumers.push_back(c.name);
    }
  }
  return max_seq;
}

storage::StatusOr<RetentionRound> Retention::RunRound() {
  using storage::PruneTarget;
  struct Pass {
    PruneTarget target;
    int days;
    int64_t RetentionRound::*count;
  };
  const Pass passes[] = {
      {PruneTarget::kAttempts, ages_.attempts_days, &RetentionRound::attempts},
      {PruneTarget::kRequestLog, ages_.request_log_days, &RetentionRound::request_log},
      {PruneTarget::kDeliveredEvents, ages_.delivered_days, &RetentionRound::delivered_events},
      {PruneTarget::kFailedEvents, ages_.failed_days, &RetentionRound::failed_events},
      {PruneTarget::kIdempotencyKeys, ages_.idempotency_days, &RetentionRound::idempotency_keys},
  };
  RetentionRound round;
  int64_t now = clock_.NowMicros();
  round.max_event_seq = ConsumerHold(now, round);
  for (const Pass& pass : passes) {
    int64_t before = now - pass.days * kMicrosPerDay;
    std::optional<storage::PruneCursor> cursor = storage::PruneCursor{};
    while (cursor) {
      if (stopping()) return storage::Status::Unavailable("retention stopping");
      storage::PruneCursor after = *cursor;
      auto batch = storage::RunSerialized(writer_, [this, &pass, &round, before, after] {
        return store_.Prune(pass.target, before, round.max_event_seq, after, options_.batch_rows);
      });
      if (!batch.ok()) return batch.status();
      ++round.batches;
      round.*pass.count += batch->deleted;
      cursor = batch->next;
    }
  }
  if (round.deleted() == 0) return round;
  // Freed space goes back a step at a time, each its own writer task; stop when none is left or
  // a step frees none (auto_vacuum is off on a database that has not been migrated).
  while (!stopping()) {
    auto step = storage::RunSerialized(
        writer_, [this] { return store_.ReclaimSpace(options_.vacuum_bytes); });
    if (!step.ok()) return step.status();
    round.reclaimed_bytes += step->freed_bytes;
    if (step->freed_bytes <= 0 || step->remaining_bytes == 0) break;
  }
  return round;
}

void Retention::Run() {
  while (!stopping()) {
    auto round = RunRound();
    if (!round.ok()) {
      if (!stopping()) spdlog::warn("retention: round stopped: {}", round.status().ToString());
    } else if (round->deleted() > 0) {
      spdlog::info(
          "retention: pruned {} delivered and {} failed events, {} attempts, {} request log "
          "rows, {} idempotency keys in {} transactions; returned {} bytes of free space",
          round->delivered_events, round->failed_events, round->attempts, round->request_log,
          round->idempotency_keys, round->batches, round->reclaimed_bytes);
      if (!round->lapsed_consumers.empty() &&
          round->delivered_events + round->failed_events > 0) {
        std::string names;
        for (const std::string& n : round->lapsed_consumers) {
          names += (names.empty() ? "" : ", ") + n;
        }
        spdlog::warn(
            "retention: consumers {} have not acknowledged for over {} days and held no events "
            "back; if events they had not read were pruned, their next read answers 410",
            names, ages_.max_consumer_lag_days);
      }
    }
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, std::chrono::milliseconds(options_.interval_ms),
                 [this] { return stopping_; });
  }
}

}  // namespace hookvault::server
