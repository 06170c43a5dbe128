// GroupCommitWriter: the one thread that writes ingest records, many per transaction.
//
// Invariants (each has a test in tests/storage/group_commit_writer_test.cc):
//
//  1. A submitted event's callback is called with an OK Status if and only if the EventLog
//     transaction holding it returned from COMMIT. Since the HTTP layer answers 200 only from
//     that callback, a request is answered 200 if and only if its event (or the original of
//     its idempotency key) is durable.
//  2. Every accepted submission's callback is called exactly once: after its transaction
//     committed, or with that transaction's error when it failed. A failed transaction stores
//     nothing of any of its records. A transaction that fails with an error other than
//     kUnavailable (a record the store refuses: a bug or bad data, not the storage) is split in
//     halves and each half retried, down to single records, so that such a record fails alone
//     (with kInternal) and the others of its batch commit. Stop() writes everything accepted
//     before it returns.
//  3. Submit never blocks on disk: when the queue is full, in records or in bytes, it returns
//     kUnavailable at once and the callback is never called (the caller answers 503 itself).
//     Tasks a client's request asks for (SubmitRequestTask) are refused the same way, and at
//     most max_request_tasks of them wait; only the gateway's own tasks (SubmitTask) are never
//     refused but when stopping.
//  4. Events are written in submission order, so of two events with one idempotency key the
//     first submitted is stored and the second is its duplicate. (Log-only rows keep their
//     order among themselves, not with events.)
//  5. Request-log rows of rejected requests never cost an event its place: they wait in a queue
//     of their own (bounded in rows and bytes), at most max_logs_per_batch of them are taken
//     with each batch and written in a transaction of their own after the events' answers (so
//     near a full disk their pages never fail an event's transaction), and they are admitted
//     only within the RequestLogBudget (storage/request_log_budget.h); beyond it they are
//     counted, not stored.
#ifndef HOOKVAULT_STORAGE_GROUP_COMMIT_WRITER_H_
#define HOOKVAULT_STORAGE_GROUP_COMMIT_WRITER_H_

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <span>
#include <thread>

#include "storage/event.h"
#include "storage/event_log.h"
#include "storage/event_writer.h"
#include "storage/request_log_budget.h"
#include "storage/status.h"
#include "storage/write_serializer.h"

namespace hookvault::storage {

struct WriterOptions {
  size_t max_batch = 512;   // most queue items (events, probes, tasks) taken at once; 1 turns group commit off
  size_t max_queue = 8192;  // most events, probes and tasks waiting; beyond: kUnavailable
  // Most bytes (payloads, headers and keys) of the events waiting; beyond it SubmitEvent and
  // SubmitRequestTask return kUnavailable. One event is always taken when nothing waits.
  size_t max_queue_bytes = 64 << 20;
  // Most tasks of SubmitRequestTask waiting (each is its own transaction, with its own fsync).
  size_t max_request_tasks = 64;
  // Most request-log rows of rejected requests in one transaction.
  size_t max_logs_per_batch = 64;
  // Which rejected requests' log rows are stored at all.
  RequestLogBudgetOptions log_budget = {};
  // Nice value for the writer thread (setpriority); 0 leaves it alone. Every acknowledgement
  // waits for this thread, so under CPU contention a lower value shortens every batch. Needs
  // CAP_SYS_NICE below 0; without it the thread keeps the default priority.
  int thread_nice = 0;
  // Shortest time from the start of one batch to the start of the next, in microseconds, unless
  // max_batch items already wait; 0 starts each batch as soon as the previous one is answered.
  // A transaction costs about the same whatever it holds (every B-tree it touches writes a
  // whole page to the WAL, then one fsync), so under a steady load of a few thousand events/s,
  // batches of 2-3 events spend most of the writer's time and the disk on those pages. Spacing
  // batches gathers more events into each: at most this much latency added, and none for an
  // event arriving after a quiet spell (the previous batch began long enough ago).
  int64_t commit_interval_us = 0;
};

// Upper bounds (records, inclusive) of the batch-size histogram; the last bucket is +Inf.
inline constexpr std::array<uint64_t, 10> kBatchSizeBuckets = {1,  2,  4,   8,   16,
                                                               32, 64, 128, 256, 512};

struct WriterStats {
  uint64_t commits = 0;         // transactions committed
  uint64_t failed_batches = 0;  // transactions that failed
  uint64_t records = 0;         // records in committed transactions
  uint64_t probes = 0;          // durable probe writes (SubmitProbe)
  // Log-only records not stored: the log queue was full, the remote address or all addresses
  // together used up their budget of the minute (RequestLogBudget).
  uint64_t dropped_logs = 0;
  uint64_t dropped_logs_address = 0;
  uint64_t dropped_logs_global = 0;
  uint64_t failed_logs = 0;  // log-only records admitted whose transaction failed
  // Committed transactions by their number of records, one count per bucket of
  // kBatchSizeBuckets (not cumulative): the counts add up to `commits`, the sizes to `records`.
  std::array<uint64_t, kBatchSizeBuckets.size() + 1> batch_size_buckets{};
};

// The EventWriter that batches: one thread takes everything queued (up to max_batch), writes
// it in one EventLog transaction, then runs the callbacks.
//
// Thread-safety: Submit*, healthy() and stats() may be called from any thread. The EventLog is
// used only on the writer thread. Callbacks run on the writer thread and must not block long:
// every other request waits for them.
class GroupCommitWriter final : public EventWriter, public WriteSerializer {
 public:
  // `log` must outlive the writer. Starts the writer thread.
  GroupCommitWriter(EventLog& log, WriterOptions options);
  GroupCommitWriter(const GroupCommitWriter&) = delete;
  GroupCommitWriter& operator=(const GroupCommitWriter&) = delete;
  // Calls Stop().
  ~GroupCommitWriter() override;

  Status SubmitEvent(IngestRecord record, WriteCallback done) override;
  // Admits the row within the RequestLogBudget, then into the log queue (at most max_queue / 2
  // rows and max_queue_bytes / 4 bytes); a refused row is counted in stats() by why.
  Status SubmitLog(RequestLogEntry entry) override;
  Status SubmitProbe(std::function<void(const Status&)> done) override;
  bool healthy() const override { return healthy_.load(std::memory_order_relaxed); }

  // Runs `task` on the writer thread right after the batch it is queued behind. Tasks use the
  // store directly (the forwarding scheduler's claims and attempt records), so they share the
  // one write connection without locking. These are the gateway's own tasks (forwarding,
  // retention, checkpoints): they are not refused when the queue is full (their submitters
  // wait for them, so they are few). Returns kUnavailable when stopping.
  Status SubmitTask(std::function<void()> task) override;

  // Like SubmitTask, for a write a client asked for (REST acks and reprocesses): returns
  // kUnavailable, without running `task`, when the queue is full in records or bytes or
  // max_request_tasks of them wait already, so that they cannot grow the queue.
  Status SubmitRequestTask(std::function<void()> task) override;

  // Sets what to call, on the writer thread, after a commit that stored at least one new event
  // (the scheduler and parked feed long-polls wake on it). Call before the first submission.
  void set_commit_listener(std::function<void()> listener) {
    commit_listener_ = std::move(listener);
  }

  WriterStats stats() const;

  // Refuses new submissions, writes everything already queued, and joins the writer thread.
  // Idempotent.
  void Stop();

 private:
  enum class Kind { kEvent, kLog, kProbe, kTask, kRequestTask };
  struct Item {
    Kind kind = Kind::kEvent;
    IngestRecord record;                       // events and log rows
    WriteCallback done;                        // set for events (may be empty)
    std::function<void(const Status&)> probe;  // set for probes
    std::function<void()> task;                // set for tasks
    size_t bytes = 0;                          // charged against max_queue_bytes
  };
  // What happened to one record of a batch.
  struct Outcome {
    Status status;
    std::optional<AppendResult> result;
  };

  Status Enqueue(Item item);
  Status EnqueueTask(Kind kind, std::function<void()> task);
  void Run();
  void WriteBatch(std::vector<Item>& batch);
  // Writes `records`, one transaction for all if it can, and fills `out` (one per record).
  // Splits a transaction that failed with an error other than kUnavailable (invariant 2).
  void AppendIsolating(std::span<const IngestRecord> records, std::span<Outcome> out);

  EventLog& log_;
  const WriterOptions options_;
  std::function<void()> commit_listener_;  // set before the first submission
  std::atomic<bool> healthy_{true};

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Item> queue_;           // events, probes, tasks; guarded by mu_
  size_t queued_bytes_ = 0;          // of queue_; guarded by mu_
  size_t queued_request_tasks_ = 0;  // in queue_; guarded by mu_
  std::deque<Item> logs_;            // log-only rows; guarded by mu_
  size_t queued_log_bytes_ = 0;      // of logs_; guarded by mu_
  RequestLogBudget log_budget_;      // guarded by mu_
  bool stopping_ = false;            // guarded by mu_
  WriterStats stats_;                // guarded by mu_

  std::thread thread_;
};

}  // namespace hookvault::storage

#endif  // HOOKVAULT_STORAGE_GROUP_COMMIT_WRITER_H_
