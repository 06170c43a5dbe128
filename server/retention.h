// Retention: the background thread ("hv-retention") that prunes what has outlived the ages of
// the config's `retention` and gives the space back.
//
// Every round walks the targets oldest first: attempts, the request log, delivered events,
// failed events, then idempotency keys (after the events, so the keys of events pruned in this
// round may go too). Each batch of at most `batch_rows` rows is one writer task and one short
// transaction (storage/retention_store.h); the next is submitted only when it has finished, so
// ingest batches queued meanwhile are written in between and their latency does not jump. A
// round that deleted something then gives the space back in steps of `vacuum_bytes`.
//
// Events the configured consumers have not acknowledged are kept past those ages: a round
// first reads every consumer's cursor and prunes events only up to the lowest cursor of the
// consumers that acknowledged within `max_consumer_lag_days` (the time of its last ack, any ack,
// tells whether a consumer still reads). A consumer silent for longer holds nothing back; if its
// next events are then pruned, its next read answers 410 (api/feed.h). A consumer that never
// acknowledged counts from the round that first saw it in the config.
#ifndef HOOKVAULT_SERVER_RETENTION_H_
#define HOOKVAULT_SERVER_RETENTION_H_

#include <condition_variable>
#include <cstdint>
#include <limits>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "server/config.h"
#include "storage/clock.h"
#include "storage/write_serializer.h"
#include "storage/retention_store.h"
#include "storage/status.h"

namespace hookvault::server {

struct RetentionOptions {
  int64_t interval_ms = 60'000;  // between rounds; the first round runs at Start
  int batch_rows = 500;          // most rows of a table looked at (and deleted) per transaction
  int64_t vacuum_bytes = 1 << 20;  // most space given back per step (one short write)
};

// What one round did.
struct RetentionRound {
  int64_t delivered_events = 0;
  int64_t failed_events = 0;
  int64_t attempts = 0;
  int64_t request_log = 0;
  int64_t idempotency_keys = 0;
  int64_t batches = 0;          // prune transactions
  int64_t reclaimed_bytes = 0;  // space given back to the file system
  // Events above this seq were kept for the consumers that still read.
  int64_t max_event_seq = std::numeric_limits<int64_t>::max();
  // Configured consumers silent for longer than max_consumer_lag_days: they hold nothing back.
  std::vector<std::string> lapsed_consumers;
  int64_t deleted() const {
    return delivered_events + failed_events + attempts + request_log + idempotency_keys;
  }
};

// Thread-safety: Start, Stop and RunRound may be called from any thread, but RunRound not
// while the thread runs (tests call it instead of Start). The store is used only through
// writer tasks, on the writer thread.
class Retention {
 public:
  // `writer`, `store` (the writer's) and `clock` must outlive this object. `consumers`: the
  // configured consumers (server/config.h ConsumerNames).
  Retention(RetentionConfig ages, std::vector<std::string> consumers,
            storage::WriteSerializer& writer,
            storage::RetentionStore& store, const storage::Clock& clock,
            RetentionOptions options = {});
  Retention(const Retention&) = delete;
  Retention& operator=(const Retention&) = delete;
  // Calls Stop().
  ~Retention();

  // Starts the thread; its first round runs at once.
  void Start();

  // Ends the round in progress after its current batch and joins the thread. Idempotent; call
  // before stopping the writer.
  void Stop();

  // Runs one round on the calling thread and returns what it did. Returns the first error of a
  // batch (the round stops there; the next round goes on from the oldest rows), or
  // kUnavailable when stopped or the writer refuses tasks.
  storage::StatusOr<RetentionRound> RunRound();

 private:
  bool stopping() const;
  void Run();
  // Returns the highest seq that may be pruned this round and notes the lapsed consumers.
  int64_t ConsumerHold(int64_t now, RetentionRound& round);

  const RetentionConfig ages_;
  const std::vector<std::string> consumers_;
  storage::WriteSerializer& writer_;
  storage::RetentionStore& store_;
  const storage::Clock& clock_;
  const RetentionOptions options_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;  // guarded by mu_
  std::thread thread_;
};

}  // namespace hookvault::server

#endif  // HOOKVAULT_SERVER_RETENTION_H_
