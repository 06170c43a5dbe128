#include "storage/group_commit_writer.h"

#include <pthread.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <vector>

namespace hookvault::storage {
namespace {

// Returns the index of the first bucket of kBatchSizeBuckets whose bound is at least `size`.
size_t BatchSizeBucket(size_t size) {
  size_t bucket = 0;
  while (bucket < kBatchSizeBuckets.size() && size > kBatchSizeBuckets[bucket]) ++bucket;
  return bucket;
}

// Bytes an item is charged besides its strings: the bookkeeping around them, roughly.
constexpr size_t kItemOverheadBytes = 256;

// Returns what `record` holds in memory while it waits, roughly.
size_t RecordBytes(const IngestRecord& record) {
  size_t bytes = kItemOverheadBytes;
  if (const auto& e = record.event) {
    bytes += e->source.size() + e->event_type.size() + e->idempotency_key.size() +
             e->remote_addr.size() + e->headers_json.size() + e->body.size();
    for (const std::string& d : e->destinations) bytes += d.size();
  }
  if (const auto& l = record.log) {
    bytes += l->source.size() + l->remote_addr.size() + l->reason.size();
    if (l->body) bytes += l->body->size();
  }
  return bytes;
}

}  // namespace

GroupCommitWriter::GroupCommitWriter(EventLog& log, WriterOptions options)
    : log_(log), options_(options), log_budget_(options.log_budget) {
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "hv-writer");  // visible in top -H, perf, gdb
    if (options_.thread_nice != 0) {
      // Best effort: without the privilege the writer just runs at the default priority.
      (void)setpriority(PRIO_PROCESS, static_cast<id_t>(gettid()), options_.thread_nice);
    }
    Run();
  });
}

GroupCommitWriter::~GroupCommitWriter() { Stop(); }

Status GroupCommitWriter::Enqueue(Item item) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return Status::Unavailable("writer is shutting down");
    switch (item.kind) {
      case Kind::kLog: {
        // The row is charged to the budget before the queue is asked, so a row the queue then
        // refuses has used budget too: during a writer stall the minute's rows are spent on rows
        // never stored, which errs on the side of storing less.
        LogDrop drop = log_budget_.Admit(*item.record.log);
        // The budget may have dropped the kept body: the queue is charged what is left.
        item.bytes = RecordBytes(item.record);
        if (drop == LogDrop::kNone &&
            (logs_.size() >= std::max<size_t>(options_.max_queue / 2, 1) ||
             queued_log_bytes_ + item.bytes > std::max<size_t>(options_.max_queue_bytes / 4, 1))) {
          drop = LogDrop::kQueue;
        }
        switch (drop) {
          case LogDrop::kNone:
            break;
          case LogDrop::kAddress:
            ++stats_.dropped_logs_address;
            return Status::Unavailable("request log budget of this address is used up");
          case LogDrop::kGlobal:
            ++stats_.dropped_logs_global;
            return Status::Unavailable("request log budget is used up");
          case LogDrop::kQueue:
            ++stats_.dropped_logs;
            return Status::Unavailable("request log queue is full");
        }
        queued_log_bytes_ += item.bytes;
        logs_.push_back(std::move(item));
        break;
      }
      case Kind::kEvent:
      case Kind::kProbe:
      case Kind::kRequestTask: {
        if (queue_.size() >= options_.max_queue) return Status::Unavailable("write queue is full");
        // One item always fits an empty queue, whatever its size.
        if (queued_bytes_ > 0 && queued_bytes_ + item.bytes > options_.max_queue_bytes) {
          return Status::Unavailable("write queue is full (bytes)");
        }
        if (item.kind == Kind::kRequestTask) {
          if (queued_request_tasks_ >= options_.max_request_tasks) {
            return Status::Unavailable("too many operator writes waiting");
          }
          ++queued_request_tasks_;
        }
        queued_bytes_ += item.bytes;
        queue_.push_back(std::move(item));
        break;
      }
      case Kind::kTask:
        queued_bytes_ += item.bytes;
        queue_.push_back(std::move(item));
        break;
    }
  }
  cv_.notify_one();
  return Status::Ok();
}

Status GroupCommitWriter::SubmitEvent(IngestRecord record, WriteCallback done) {
  Item item;
  item.kind = Kind::kEvent;
  item.record = std::move(record);
  item.done = std::move(done);
  item.bytes = RecordBytes(item.record);
  return Enqueue(std::move(item));
}

Status GroupCommitWriter::SubmitLog(RequestLogEntry entry) {
  Item item;
  item.kind = Kind::kLog;
  item.record.log = std::move(entry);
  item.bytes = RecordBytes(item.record);
  return Enqueue(std::move(item));
}

Status GroupCommitWriter::SubmitProbe(std::function<void(const Status&)> done) {
  Item item;
  item.kind = Kind::kProbe;
  item.probe = std::move(done);
  item.bytes = kItemOverheadBytes;
  return Enqueue(std::move(item));
}

Status GroupCommitWriter::SubmitTask(std::function<void()> task) {
  return EnqueueTask(Kind::kTask, std::move(task));
}

Status GroupCommitWriter::SubmitRequestTask(std::function<void()> task) {
  return EnqueueTask(Kind::kRequestTask, std::move(task));
}

Status GroupCommitWriter::EnqueueTask(Kind kind, std::function<void()> task) {
  Item item;
  item.kind = kind;
  item.task = std::move(task);
  item.bytes = kItemOverheadBytes;
  return Enqueue(std::move(item));
}

WriterStats GroupCommitWriter::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

void GroupCommitWriter::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_one();
  if (thread_.joinable()) thread_.join();
}

void GroupCommitWriter::Run() {
  std::vector<Item> batch;
  batch.reserve(options_.max_batch + options_.max_logs_per_batch);
  const auto interval = std::chrono::microseconds(options_.commit_interval_us);
  auto last_start = std::chrono::steady_clock::time_point::min();
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty() || !logs_.empty(); });
      if (interval.count() > 0) {
        // Gathers more items until `interval` after the previous batch began (see
        // WriterOptions::commit_interval_us); a full batch or Stop() ends the wait.
        cv_.wait_until(lock, last_start + interval, [this] {
          return stopping_ || queue_.size() >= std::max<size_t>(options_.max_batch, 1);
        });
        last_start = std::chrono::steady_clock::now();
      }
      if (queue_.empty() && logs_.empty()) return;  // stopping, and everything is written
      size_t n = std::min(queue_.size(), std::max<size_t>(options_.max_batch, 1));
      for (size_t i = 0; i < n; ++i) {
        Item& front = queue_.front();
        queued_bytes_ -= front.bytes;
        if (front.kind == Kind::kRequestTask) --queued_request_tasks_;
        batch.push_back(std::move(front));
        queue_.pop_front();
      }
      size_t logs = std::min(logs_.size(), std::max<size_t>(options_.max_logs_per_batch, 1));
      for (size_t i = 0; i < logs; ++i) {
        queued_log_bytes_ -= logs_.front().bytes;
        batch.push_back(std::move(logs_.front()));
        logs_.pop_front();
      }
    }
    WriteBatch(batch);
    batch.clear();
  }
}

void GroupCommitWriter::AppendIsolating(std::span<const IngestRecord> records,
                                        std::span<Outcome> out) {
  StatusOr<std::vector<std::optional<AppendResult>>> appended = log_.Append(records);
  bool has_event = std::any_of(records.begin(), records.end(),
                               [](const IngestRecord& r) { return r.event.has_value(); });
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (appended.ok()) {
      ++stats_.commits;
      stats_.records += records.size();
      ++stats_.batch_size_buckets[BatchSizeBucket(records.size())];
    } else {
      ++stats_.failed_batches;
    }
  }
  if (appended.ok()) {
    // Only a transaction holding an event shows that an event fits; a log row is smaller.
    if (has_event) healthy_.store(true, std::memory_order_relaxed);
    std::vector<std::optional<AppendResult>>& results = *appended;
    for (size_t i = 0; i < out.size(); ++i) {
      out[i] = Outcome{Status::Ok(), i < results.size() ? std::move(results[i]) : std::nullopt};
    }
    return;
  }
  const Status& error = appended.status();
  if (error.code() == StatusCode::kUnavailable || records.size() == 1) {
    // Storage trouble fails every record alike; retrying parts would only repeat it. A
    // record refused alone gets the error, which its caller logs (core has no logger); a
    // log-only row has no caller and is counted in failed_logs.
    if (error.code() == StatusCode::kUnavailable && has_event) {
      healthy_.store(false, std::memory_order_relaxed);
    }
    if (!has_event) {
      std::lock_guard<std::mutex> lock(mu_);
      stats_.failed_logs += records.size();
    }
    for (Outcome& o : out) o = Outcome{error, std::nullopt};
    return;
  }
  // A record the store refuses on its own (kInternal): find it by halves, so that it alone
  // fails. Halves keep submission order (invariant 4).
  size_t half = records.size() / 2;
  AppendIsolating(records.first(half), out.first(half));
  AppendIsolating(records.subspan(half), out.subspan(half));
}

void GroupCommitWriter::WriteBatch(std::vector<Item>& batch) {
  // Events (with their own log rows) in one transaction; log-only rows of rejected requests in
  // another, after the events are answered, so that near a full disk their pages can never be
  // what makes an event's transaction fail (invariant 5).
  std::vector<IngestRecord> records;
  std::vector<IngestRecord> log_records;
  records.reserve(batch.size());
  for (Item& item : batch) {
    if (item.kind == Kind::kEvent) records.push_back(std::move(item.record));
    if (item.kind == Kind::kLog) log_records.push_back(std::move(item.record));
  }
  bool has_probe =
      std::any_of(batch.begin(), batch.end(), [](const Item& i) { return i.kind == Kind::kProbe; });
  if (records.empty() && !has_probe && log_records.empty()) {
    for (Item& item : batch) item.task();  // tasks only
    return;
  }
  std::vector<Outcome> outcomes(records.size());
  Status status;  // a failure of storage, if any record met one
  if (!records.empty()) {
    AppendIsolating(records, outcomes);
    for (const Outcome& o : outcomes) {
      if (o.status.code() == StatusCode::kUnavailable) status = o.status;
    }
  }
  // A probe gets a write of its own: a small record may still fit where an event does not.
  Status probe_status = status;
  if (has_probe && status.ok()) {
    probe_status = log_.Probe();
    if (probe_status.code() == StatusCode::kUnavailable) {
      healthy_.store(false, std::memory_order_relaxed);
    } else if (probe_status.ok()) {
      healthy_.store(true, std::memory_order_relaxed);
    }
    std::lock_guard<std::mutex> lock(mu_);
    ++stats_.probes;
  }

  bool new_events = false;
  for (size_t i = 0; i < records.size(); ++i) {
    const Outcome& o = outcomes[i];
    new_events |= o.status.ok() && o.result && !o.result->duplicate && records[i].event;
  }
  if (new_events && commit_listener_) commit_listener_();

  // Answer in submission order; outcomes[i] belongs to the i-th event item. Log rows and tasks
  // come after the batch's answers.
  static const AppendResult kNone;
  size_t r = 0;
  for (Item& item : batch) {
    switch (item.kind) {
      case Kind::kProbe:
        item.probe(probe_status);
        break;
      case Kind::kEvent: {
        const Outcome& o = outcomes[r++];
        if (item.done) item.done(o.status, (o.status.ok() && o.result) ? *o.result : kNone);
        break;
      }
      case Kind::kLog:
      case Kind::kTask:
      case Kind::kRequestTask:
        break;
    }
  }
  if (!log_records.empty()) {
    std::vector<Outcome> log_outcomes(log_records.size());
    AppendIsolating(log_records, log_outcomes);  // failures are counted, nobody waits for them
  }
  for (Item& item : batch) {
    if (item.kind == Kind::kTask || item.kind == Kind::kRequestTask) item.task();
  }
}

}  // namespace hookvault::storage
