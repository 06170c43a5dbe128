#include "storage/group_commit_writer.h"

#include <pthread.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <vector>

namespace hookvault::storage {
namespace {

// Returns the index of the first bucket of kBatchSizeBuckets whose bound is at least `size`.
size_t BatchSizeBucket(size_t size) {
  size_t bucket = 0;
  while (bucket < kBatchSizeBuckets.size() && size > kBatchSizeBuckets[bucket]) ++bucket;
  return bucket;
}

}  // namespace

GroupCommitWriter::GroupCommitWriter(EventLog& log, WriterOptions options)
    : log_(log), options_(options) {
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
    if (!item.task && queue_.size() >= options_.max_queue) {
      return Status::Unavailable("write queue is full");
    }
    if (item.log_only) {
      if (queued_logs_ >= options_.max_queue / 2) {
        ++stats_.dropped_logs;
        return Status::Unavailable("request log queue is full");
      }
      ++queued_logs_;
    }
    queue_.push_back(std::move(item));
  }
  cv_.notify_one();
  return Status::Ok();
}

Status GroupCommitWriter::SubmitEvent(IngestRecord record, WriteCallback done) {
  return Enqueue(Item{std::move(record), std::move(done), nullptr, /*log_only=*/false, nullptr});
}

Status GroupCommitWriter::SubmitLog(RequestLogEntry entry) {
  IngestRecord record;
  record.log = std::move(entry);
  return Enqueue(Item{std::move(record), nullptr, nullptr, /*log_only=*/true, nullptr});
}

Status GroupCommitWriter::SubmitProbe(std::function<void(const Status&)> done) {
  return Enqueue(Item{IngestRecord{}, nullptr, std::move(done), /*log_only=*/false, nullptr});
}

Status GroupCommitWriter::SubmitTask(std::function<void()> task) {
  return Enqueue(Item{IngestRecord{}, nullptr, nullptr, /*log_only=*/false, std::move(task)});
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
  batch.reserve(options_.max_batch);
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and everything queued is written
      size_t n = std::min(queue_.size(), std::max<size_t>(options_.max_batch, 1));
      for (size_t i = 0; i < n; ++i) {
        if (queue_.front().log_only) --queued_logs_;
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    WriteBatch(batch);
    batch.clear();
  }
}

void GroupCommitWriter::WriteBatch(std::vector<Item>& batch) {
  std::vector<IngestRecord> records;
  records.reserve(batch.size());
  for (Item& item : batch) {
    if (!item.probe && !item.task) records.push_back(std::move(item.record));
  }

  bool has_probe =
      std::any_of(batch.begin(), batch.end(), [](const Item& i) { return i.probe != nullptr; });
  if (records.empty() && !has_probe) {
    for (Item& item : batch) item.task();  // tasks only
    return;
  }
  Status status;  // the records' transaction
  std::vector<std::optional<AppendResult>> results;
  if (!records.empty()) {
    auto appended = log_.Append(records);
    status = appended.status();
    if (appended.ok()) results = std::move(appended).value();
    healthy_.store(status.ok(), std::memory_order_relaxed);
    std::lock_guard<std::mutex> lock(mu_);
    if (status.ok()) {
      ++stats_.commits;
      stats_.records += records.size();
      ++stats_.batch_size_buckets[BatchSizeBucket(records.size())];
    } else {
      ++stats_.failed_batches;
    }
  }
  // A probe gets a write of its own: a small record may still fit where an event does not.
  Status probe_status = status;
  if (has_probe && status.ok()) {
    probe_status = log_.Probe();
    healthy_.store(probe_status.ok(), std::memory_order_relaxed);
  }

  bool new_events = false;
  for (size_t i = 0; i < results.size(); ++i) {
    new_events |= results[i] && !results[i]->duplicate && records[i].event;
  }
  if (new_events && commit_listener_) commit_listener_();

  // Answer in submission order; results[i] belongs to the i-th item that is neither a probe
  // nor a task. Tasks run after the batch's answers.
  static const AppendResult kNone;
  size_t r = 0;
  for (Item& item : batch) {
    if (item.task) continue;
    if (item.probe) {
      item.probe(probe_status);
      continue;
    }
    const std::optional<AppendResult>* result = status.ok() ? &results[r] : nullptr;
    ++r;
    if (item.done) item.done(status, (result && *result) ? **result : kNone);
  }
  for (Item& item : batch) {
    if (item.task) item.task();
  }
}

}  // namespace hookvault::storage
