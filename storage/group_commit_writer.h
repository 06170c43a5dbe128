// GroupCommitWriter: the one thread that writes ingest records, many per transaction.
//
// Invariants (each has a test in tests/storage/group_commit_writer_test.cc):
//
//  1. A submitted event's callback is called with an OK Status if and only if the EventLog
//     transaction holding it returned from COMMIT. Since the HTTP layer answers 200 only from
//     that callback, a request is answered 200 if and only if its event (or the original of
//     its idempotency key) is durable.
//  2. Every accepted submission's callback is called exactly once: after its batch committed,
//     or with the batch's error when the batch failed. A failed batch stores nothing of any
//     of its records. Stop() writes everything accepted before it returns.
//  3. Submit never blocks on disk: when the queue is full it returns kUnavailable at once and
//     the callback is never called (the caller answers 503 itself).
//  4. Records are written in submission order, so of two records with one idempotency key the
//     first submitted is stored and the second is its duplicate.
#ifndef HOOKVAULT_STORAGE_GROUP_COMMIT_WRITER_H_
#define HOOKVAULT_STORAGE_GROUP_COMMIT_WRITER_H_

#include <array>
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

#include "storage/event.h"
#include "storage/event_log.h"
#include "storage/event_writer.h"
#include "storage/status.h"
#include "storage/write_serializer.h"

namespace hookvault::storage {

struct WriterOptions {
  size_t max_batch = 512;   // most records in one transaction; 1 turns group commit off
  size_t max_queue = 8192;  // most records waiting; beyond it Submit* returns kUnavailable
  // Nice value for the writer thread (setpriority); 0 leaves it alone. Every acknowledgement
  // waits for this thread, so under CPU contention a lower value shortens every batch. Needs
  // CAP_SYS_NICE below 0; without it the thread keeps the default priority.
  int thread_nice = 0;
};

// Upper bounds (records, inclusive) of the batch-size histogram; the last bucket is +Inf.
inline constexpr std::array<uint64_t, 10> kBatchSizeBuckets = {1,  2,  4,   8,   16,
                                                               32, 64, 128, 256, 512};

struct WriterStats {
  uint64_t commits = 0;         // transactions committed
  uint64_t failed_batches = 0;  // transactions that failed
  uint64_t records = 0;         // records in committed transactions
  uint64_t dropped_logs = 0;    // log-only records refused because the queue was full
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
  // Log-only rows may fill at most half the queue so that a flood of bad requests cannot
  // crowd out events; a refused row is counted in stats().dropped_logs.
  Status SubmitLog(RequestLogEntry entry) override;
  Status SubmitProbe(std::function<void(const Status&)> done) override;
  bool healthy() const override { return healthy_.load(std::memory_order_relaxed); }

  // Runs `task` on the writer thread right after the batch it is queued behind. Tasks use the
  // store directly (the forwarding scheduler's claims and attempt records), so they share the
  // one write connection without locking. Tasks do not count against max_queue (their
  // submitters wait for them, so they are few). Returns kUnavailable when stopping.
  Status SubmitTask(std::function<void()> task) override;

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
  struct Item {
    IngestRecord record;
    WriteCallback done;                        // set for events
    std::function<void(const Status&)> probe;  // set for probes
    bool log_only = false;                     // a rejected request's log row
    std::function<void()> task;                // set for tasks
  };

  Status Enqueue(Item item);
  void Run();
  void WriteBatch(std::vector<Item>& batch);

  EventLog& log_;
  const WriterOptions options_;
  std::function<void()> commit_listener_;  // set before the first submission
  std::atomic<bool> healthy_{true};

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Item> queue_;  // guarded by mu_
  size_t queued_logs_ = 0;  // log-only items in queue_; guarded by mu_
  bool stopping_ = false;   // guarded by mu_
  WriterStats stats_;       // guarded by mu_

  std::thread thread_;
};

}  // namespace hookvault::storage

#endif  // HOOKVAULT_STORAGE_GROUP_COMMIT_WRITER_H_
