// The writer's invariants (storage/group_commit_writer.h), on a real SQLite file where it
// matters and on small fake EventLogs where a failure or a stall must be forced.
#include "storage/group_commit_writer.h"

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <future>
#include <mutex>
#include <thread>

#include "storage/sqlite/stores.h"
#include "tests/testing/db.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/test_store.h"

namespace hookvault::storage {
namespace {

using hookvault::testing::QueryInt;

IngestRecord Event(const std::string& key) {
  NewEvent e;
  e.source = "s";
  e.idempotency_key = key;
  e.body = "{\"k\":\"" + key + "\"}";
  e.headers_json = "{}";
  RequestLogEntry log;
  log.source = "s";
  log.status = 200;
  log.reason = "stored";
  return IngestRecord{std::move(e), std::move(log)};
}

// Builds "<prefix><i>" by appending (GCC 12 warns falsely, -Wrestrict, on "k" + to_string(i)).
std::string Key(const char* prefix, int i) {
  std::string key(prefix);
  key += std::to_string(i);
  return key;
}

class RealLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    stores_ = hookvault::testing::OpenMigratedStore(path_, clock_);
    ASSERT_NE(stores_, nullptr);
    log_ = stores_->events.get();
  }

  hookvault::testing::TempDir dir_;
  std::string path_ = dir_.File("hookvault.db");
  hookvault::testing::FakeClock clock_;
  std::unique_ptr<SqliteStores> stores_;
  SqliteEventLog* log_ = nullptr;  // stores_->events
};

// Invariant 1: a callback reports OK only once the event is committed — another connection
// already sees it when the callback runs.
TEST_F(RealLogTest, CallbackRunsOnlyAfterTheEventIsCommittedAndVisible) {
  GroupCommitWriter writer(*log_, {.max_batch = 512, .max_queue = 100000});
  constexpr int kThreads = 4;
  constexpr int kPerThread = 300;
  std::atomic<int> ok{0};
  std::atomic<int> not_visible{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        std::string key = std::to_string(t) + "-" + std::to_string(i);
        Status s =
            writer.SubmitEvent(Event(key), [&, key](const Status& st, const AppendResult& r) {
              if (!st.ok() || r.id.empty()) return;
              ++ok;
              // Only sample some, to keep the test fast; a reader on its own connection.
              if (r.seq % 100 == 0 &&
                  QueryInt(path_, "SELECT count(*) FROM events WHERE id = ?", r.id) != 1) {
                ++not_visible;
              }
            });
        ASSERT_TRUE(s.ok()) << s.ToString();
      }
    });
  }
  for (auto& t : threads) t.join();
  writer.Stop();
  EXPECT_EQ(ok.load(), kThreads * kPerThread);
  EXPECT_EQ(not_visible.load(), 0);
  WriterStats stats = writer.stats();
  EXPECT_EQ(stats.records, static_cast<uint64_t>(kThreads * kPerThread));
  EXPECT_LT(stats.commits, stats.records) << "group commit never batched";
  EXPECT_EQ(QueryInt(path_, "SELECT count(*) FROM events"), kThreads * kPerThread);
}

TEST_F(RealLogTest, MaxBatchOneCommitsEveryRecordAlone) {
  GroupCommitWriter writer(*log_, {.max_batch = 1, .max_queue = 1000});
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE(writer.SubmitEvent(Event(Key("k", i)), nullptr).ok());
  }
  writer.Stop();
  EXPECT_EQ(writer.stats().commits, 50u);
  EXPECT_EQ(writer.stats().records, 50u);
}

// commit_interval_us: a batch starts no sooner than the interval after the previous one began,
// so what arrives meanwhile shares one transaction; after a quiet spell nothing waits.
TEST_F(RealLogTest, CommitIntervalGathersWhatArrivesMeanwhileAndDelaysNothingAfterAQuietSpell) {
  constexpr int64_t kIntervalUs = 1'000'000;
  GroupCommitWriter writer(*log_,
                           {.max_batch = 512, .max_queue = 1000, .commit_interval_us = kIntervalUs});
  auto submit_and_wait = [&](const std::string& key) {
    std::promise<void> done;
    EXPECT_TRUE(writer
                    .SubmitEvent(Event(key), [&](const Status&,
                                                 const AppendResult&) { done.set_value(); })
                    .ok());
    auto start = std::chrono::steady_clock::now();
    done.get_future().wait();
    return std::chrono::steady_clock::now() - start;
  };
  // The first batch ever does not wait.
  EXPECT_LT(submit_and_wait("first"), std::chrono::microseconds(kIntervalUs / 2));
  // Ten events submitted 20 ms apart right after it (each alone, without the interval) are one
  // transaction, started a second after the first.
  std::atomic<int> answered{0};
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(writer
                    .SubmitEvent(Event(Key("k", i)),
                                 [&](const Status&, const AppendResult&) { ++answered; })
                    .ok());
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  while (answered.load() < 10) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_EQ(writer.stats().commits, 2u);
  // After more than the interval without a batch, an event is committed at once.
  std::this_thread::sleep_for(std::chrono::microseconds(kIntervalUs + 100'000));
  EXPECT_LT(submit_and_wait("after-quiet"), std::chrono::microseconds(kIntervalUs / 2));
  writer.Stop();
  EXPECT_EQ(writer.stats().commits, 3u);
  EXPECT_EQ(writer.stats().records, 12u);
}

// Invariant 4: of two records with one key, the first submitted is the original.
TEST_F(RealLogTest, FirstSubmittedOfOneKeyIsTheOriginal) {
  GroupCommitWriter writer(*log_, {});
  AppendResult first, second;
  ASSERT_TRUE(
      writer.SubmitEvent(Event("k"), [&](const Status&, const AppendResult& r) { first = r; })
          .ok());
  ASSERT_TRUE(
      writer.SubmitEvent(Event("k"), [&](const Status&, const AppendResult& r) { second = r; })
          .ok());
  writer.Stop();
  EXPECT_FALSE(first.duplicate);
  EXPECT_TRUE(second.duplicate);
  EXPECT_EQ(first.id, second.id);
}

// Stop() writes and answers everything accepted before it.
TEST_F(RealLogTest, StopDrainsTheQueue) {
  GroupCommitWriter writer(*log_, {.max_batch = 16, .max_queue = 10000});
  std::atomic<int> answered{0};
  for (int i = 0; i < 1000; ++i) {
    ASSERT_TRUE(writer
                    .SubmitEvent(Event(Key("d", i)),
                                 [&](const Status& s, const AppendResult&) {
                                   if (s.ok()) ++answered;
                                 })
                    .ok());
  }
  writer.Stop();
  EXPECT_EQ(answered.load(), 1000);
  EXPECT_EQ(QueryInt(path_, "SELECT count(*) FROM events"), 1000);
  EXPECT_EQ(writer.SubmitEvent(Event("late"), nullptr).code(), StatusCode::kUnavailable);
  EXPECT_EQ(writer.SubmitProbe([](const Status&) {}).code(), StatusCode::kUnavailable);
}

// Holds the writer thread inside a task until released, so that what is submitted meanwhile
// is written as one batch.
class WriterHold {
 public:
  explicit WriterHold(GroupCommitWriter& writer) {
    std::promise<void> entered;
    EXPECT_TRUE(writer
                    .SubmitTask([this, &entered] {
                      entered.set_value();
                      release_.get_future().wait();
                    })
                    .ok());
    entered.get_future().wait();
  }
  // Releases the writer if the test did not (it returned early): it must not hang in Stop().
  ~WriterHold() { Release(); }
  void Release() {
    if (!released_) release_.set_value();
    released_ = true;
  }

 private:
  std::promise<void> release_;
  bool released_ = false;
};

// Invariant 2: a record the store refuses on its own (here a delivery named twice, which the
// schema's UNIQUE constraint refuses) fails alone with kInternal; the records batched with it
// commit and are answered OK. Before, the whole batch failed, and every retry of it.
TEST_F(RealLogTest, ARecordTheStoreRefusesFailsAloneAndItsBatchCommits) {
  GroupCommitWriter writer(*log_, {.max_batch = 512, .max_queue = 1000});
  WriterHold hold(writer);
  std::vector<Status> answers(7);
  for (int i = 0; i < 7; ++i) {
    IngestRecord record = Event(Key("iso", i));
    record.event->destinations = {"billing"};
    if (i == 4) record.event->destinations = {"billing", "billing"};
    ASSERT_TRUE(
        writer
            .SubmitEvent(std::move(record),
                         [&answers, i](const Status& s, const AppendResult&) { answers[i] = s; })
            .ok());
  }
  RequestLogEntry row;
  row.source = "s";
  row.status = 401;
  row.reason = "unauthenticated";
  ASSERT_TRUE(writer.SubmitLog(row).ok());
  hold.Release();
  writer.Stop();
  for (int i = 0; i < 7; ++i) {
    if (i == 4) {
      EXPECT_EQ(answers[i].code(), StatusCode::kInternal) << answers[i].ToString();
    } else {
      EXPECT_TRUE(answers[i].ok()) << i << ": " << answers[i].ToString();
    }
  }
  EXPECT_EQ(QueryInt(path_, "SELECT count(*) FROM events"), 6);
  EXPECT_EQ(QueryInt(path_, "SELECT count(*) FROM events WHERE idempotency_key = 'iso4'"), 0);
  EXPECT_EQ(QueryInt(path_, "SELECT count(*) FROM deliveries"), 6);
  EXPECT_EQ(QueryInt(path_, "SELECT count(*) FROM request_log WHERE status = 401"), 1);
  EXPECT_TRUE(writer.healthy()) << "a refused record says nothing about the storage";
}

// Finding: a flood of rejected requests from one address became one durable row each. Within
// a minute, one address stores at most its budget; the rest is counted; another address still
// gets its rows stored, until all addresses together reach the global budget.
TEST_F(RealLogTest, RejectedFloodFromOneAddressStoresOnlyItsBudget) {
  WriterOptions options{.max_batch = 512, .max_queue = 100000};
  options.log_budget = {.rows_per_minute = 30,
                        .bytes_per_minute = 1 << 20,
                        .rows_per_address_per_minute = 10,
                        .bytes_per_address_per_minute = 1 << 20,
                        .max_tracked_addresses = 100};
  GroupCommitWriter writer(*log_, options);
  const int64_t minute = 1'790'000'020'000'000;  // 40 s into a minute
  auto row = [&](const std::string& addr, int64_t at) {
    RequestLogEntry r;
    r.received_at = at;
    r.source = "nope";
    r.remote_addr = addr;
    r.status = 404;
    r.reason = "unknown-source";
    return r;
  };
  int accepted = 0;
  for (int i = 0; i < 1000; ++i) accepted += writer.SubmitLog(row("203.0.113.9", minute + i)).ok();
  EXPECT_EQ(accepted, 10);
  for (int i = 0; i < 5; ++i) accepted += writer.SubmitLog(row("198.51.100.1", minute + i)).ok();
  EXPECT_EQ(accepted, 15);
  // Many addresses: the global budget (30) holds.
  for (int i = 0; i < 100; ++i) {
    accepted += writer.SubmitLog(row("192.0.2." + std::to_string(i), minute + i)).ok();
  }
  EXPECT_EQ(accepted, 30);
  // The next minute starts afresh.
  EXPECT_TRUE(writer.SubmitLog(row("203.0.113.9", minute + 20'000'000)).ok());
  // An accepted event is never held back by the flood.
  std::promise<Status> stored;
  ASSERT_TRUE(writer
                  .SubmitEvent(Event("real"),
                               [&](const Status& s, const AppendResult&) { stored.set_value(s); })
                  .ok());
  EXPECT_TRUE(stored.get_future().get().ok());
  writer.Stop();
  EXPECT_EQ(QueryInt(path_, "SELECT count(*) FROM request_log WHERE status = 404"), 31);
  EXPECT_EQ(QueryInt(path_, "SELECT count(*) FROM request_log WHERE remote_addr = '203.0.113.9'"),
            11);
  WriterStats stats = writer.stats();
  EXPECT_EQ(stats.dropped_logs_address, 990u);
  EXPECT_EQ(stats.dropped_logs_global, 85u);
  EXPECT_EQ(stats.dropped_logs, 0u);
}

// An EventLog whose Append blocks until released, then succeeds or fails as told.
class ControlledLog final : public EventLog {
 public:
  StatusOr<std::vector<std::optional<AppendResult>>> Append(
      std::span<const IngestRecord> records) override {
    std::unique_lock<std::mutex> lock(mu_);
    ++calls_;
    cv_.notify_all();
    cv_.wait(lock, [this] { return !blocked_; });
    if (!fail_.ok()) return fail_;
    bool log_only = std::any_of(records.begin(), records.end(),
                                [](const IngestRecord& r) { return !r.event.has_value(); });
    if (log_only && !fail_log_only_.ok()) return fail_log_only_;
    int events = 0;
    for (const IngestRecord& r : records) events += r.event ? 1 : 0;
    batches_.emplace_back(events, static_cast<int>(records.size()) - events);
    std::vector<std::optional<AppendResult>> out;
    for (const IngestRecord& r : records) {
      if (r.event) {
        out.push_back(AppendResult{"id-" + r.event->idempotency_key, ++seq_, false});
      } else {
        out.push_back(std::nullopt);
        ++logs_;
      }
    }
    return out;
  }
  Status Probe() override {
    std::lock_guard<std::mutex> lock(mu_);
    ++probes_;
    return fail_.ok() ? probe_fail_ : fail_;
  }

  void Block() {
    std::lock_guard<std::mutex> l(mu_);
    blocked_ = true;
  }
  void Release() {
    {
      std::lock_guard<std::mutex> l(mu_);
      blocked_ = false;
    }
    cv_.notify_all();
  }
  // Makes only probes fail (a database with room for a small row but not for an event).
  void FailProbes(Status s) {
    std::lock_guard<std::mutex> l(mu_);
    probe_fail_ = std::move(s);
  }
  int probes() {
    std::lock_guard<std::mutex> l(mu_);
    return probes_;
  }
  void Fail(Status s) {
    std::lock_guard<std::mutex> l(mu_);
    fail_ = std::move(s);
  }
  // Fails every transaction holding a log-only row (a disk with room for the events' pages but
  // not for more).
  void FailLogOnly(Status s) {
    std::lock_guard<std::mutex> l(mu_);
    fail_log_only_ = std::move(s);
  }
  void WaitForCalls(int n) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return calls_ >= n; });
  }
  int logs() {
    std::lock_guard<std::mutex> l(mu_);
    return logs_;
  }
  // (events, log rows) of each successful Append, in order.
  std::vector<std::pair<int, int>> batches() {
    std::lock_guard<std::mutex> l(mu_);
    return batches_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool blocked_ = false;
  int calls_ = 0;
  int logs_ = 0;
  int64_t seq_ = 0;
  Status fail_;
  Status fail_log_only_;
  Status probe_fail_;
  int probes_ = 0;
  std::vector<std::pair<int, int>> batches_;
};

// Invariant 3: a full queue refuses at once, and a refused submission is never called back.
TEST(GroupCommitWriterTest, FullQueueRefusesWithoutBlocking) {
  ControlledLog log;
  GroupCommitWriter writer(log, {.max_batch = 4, .max_queue = 8});
  log.Block();
  ASSERT_TRUE(writer.SubmitEvent(Event("first"), nullptr).ok());
  log.WaitForCalls(1);  // the writer holds "first" inside Append; the queue is empty again
  std::atomic<int> called{0};
  auto count = [&](const Status&, const AppendResult&) { ++called; };
  for (int i = 0; i < 8; ++i) ASSERT_TRUE(writer.SubmitEvent(Event(std::to_string(i)), count).ok());
  Status refused = writer.SubmitEvent(Event("overflow"), [&](const Status&, const AppendResult&) {
    ADD_FAILURE() << "a refused submission was called back";
  });
  EXPECT_EQ(refused.code(), StatusCode::kUnavailable);
  log.Release();
  writer.Stop();
  EXPECT_EQ(called.load(), 8);
}

// Invariant 5: log rows wait apart, so that a queue full of them never refuses an event.
TEST(GroupCommitWriterTest, LogRowsNeverCostAnEventItsPlaceInTheQueue) {
  ControlledLog log;
  GroupCommitWriter writer(log, {.max_batch = 100, .max_queue = 10});
  log.Block();
  ASSERT_TRUE(writer.SubmitEvent(Event("hold"), nullptr).ok());
  log.WaitForCalls(1);
  RequestLogEntry row;
  row.remote_addr = "198.51.100.7";
  row.received_at = 0;
  int logs = 0;
  for (int i = 0; i < 10; ++i) logs += writer.SubmitLog(row).ok() ? 1 : 0;
  EXPECT_EQ(logs, 5);
  for (int i = 0; i < 10; ++i) {
    EXPECT_TRUE(writer.SubmitEvent(Event(Key("e", i)), nullptr).ok()) << "event " << i;
  }
  EXPECT_EQ(writer.SubmitEvent(Event("one-too-many"), nullptr).code(), StatusCode::kUnavailable);
  log.Release();
  writer.Stop();
  EXPECT_EQ(log.logs(), 5);
}

// Invariant 5: a transaction takes at most max_logs_per_batch log rows, however many wait, so
// that they add little to the time an event waits for its commit.
TEST(GroupCommitWriterTest, ATransactionTakesAtMostMaxLogsPerBatchLogRows) {
  ControlledLog log;
  GroupCommitWriter writer(log, {.max_batch = 100, .max_queue = 1000, .max_logs_per_batch = 3});
  log.Block();
  ASSERT_TRUE(writer.SubmitEvent(Event("hold"), nullptr).ok());
  log.WaitForCalls(1);
  for (int i = 0; i < 10; ++i) {
    RequestLogEntry row;
    row.remote_addr = "198.51.100." + std::to_string(i);
    ASSERT_TRUE(writer.SubmitLog(row).ok());
  }
  ASSERT_TRUE(writer.SubmitEvent(Event("next"), nullptr).ok());
  log.Release();
  writer.Stop();
  std::vector<std::pair<int, int>> batches = log.batches();
  ASSERT_GE(batches.size(), 3u);
  EXPECT_EQ(batches[1], std::make_pair(1, 0)) << "log rows share no transaction with events";
  EXPECT_EQ(batches[2], std::make_pair(0, 3)) << "the event behind the rows waited for all of them";
  int rows = 0;
  for (const auto& [events, logs] : batches) {
    EXPECT_LE(logs, 3);
    rows += logs;
  }
  EXPECT_EQ(rows, 10);
}

// Invariant 5: near a full disk, the pages of rejected requests' log rows are never what fails
// an event's transaction: the rows are written in a transaction of their own, after the events'
// answers, and a failure there is counted, not passed to the events.
TEST(GroupCommitWriterTest, LogRowsThatDoNotFitNeverFailAnEvent) {
  ControlledLog log;
  GroupCommitWriter writer(log, {.max_batch = 100, .max_queue = 1000});
  log.FailLogOnly(Status::Unavailable("database or disk is full"));
  log.Block();
  ASSERT_TRUE(writer.SubmitEvent(Event("hold"), nullptr).ok());
  log.WaitForCalls(1);
  std::atomic<int> ok{0};
  for (int i = 0; i < 5; ++i) {
    RequestLogEntry row;
    row.remote_addr = "198.51.100." + std::to_string(i);
    ASSERT_TRUE(writer.SubmitLog(row).ok());
    ASSERT_TRUE(writer
                    .SubmitEvent(Event(Key("e", i)),
                                 [&](const Status& s, const AppendResult&) { ok += s.ok(); })
                    .ok());
  }
  log.Release();
  writer.Stop();
  EXPECT_EQ(ok.load(), 5) << "an event failed because log rows shared its transaction";
  EXPECT_EQ(writer.stats().failed_logs, 5u);
  EXPECT_EQ(log.logs(), 0);
  EXPECT_TRUE(writer.healthy()) << "log rows that do not fit made the writer look unready";
}

// Invariant 3: the queue is bounded in bytes as well as in records: a disk stall with large
// payloads waiting refuses new ones long before max_queue of them are held in memory. One
// event always fits an empty queue, whatever its size.
TEST(GroupCommitWriterTest, QueueIsBoundedInBytes) {
  ControlledLog log;
  GroupCommitWriter writer(log, {.max_batch = 100, .max_queue = 1000, .max_queue_bytes = 1 << 20});
  auto big = [](const std::string& key, size_t bytes) {
    IngestRecord r = Event(key);
    r.event->body = std::string(bytes, 'x');
    return r;
  };
  log.Block();
  ASSERT_TRUE(writer.SubmitEvent(big("hold", 4 << 20), nullptr).ok()) << "larger than the bound";
  log.WaitForCalls(1);
  int accepted = 0;
  for (int i = 0; i < 100; ++i) {
    if (writer.SubmitEvent(big(Key("b", i), 100 << 10), nullptr).ok()) ++accepted;
  }
  EXPECT_GE(accepted, 9);  // about 1 MiB of them, not 100 (10 MiB)
  EXPECT_LE(accepted, 10);
  // The gateway's own tasks are still taken.
  std::atomic<bool> ran{false};
  EXPECT_TRUE(writer.SubmitTask([&] { ran = true; }).ok());
  log.Release();
  writer.Stop();
  EXPECT_TRUE(ran.load());
}

// Invariant 3: writes a client asks for (acks, reprocesses) cannot grow the queue: at most
// max_request_tasks of them wait, and none is queued while the queue is full of events.
TEST(GroupCommitWriterTest, RequestTasksAreRefusedWhenTheWriterIsSaturated) {
  ControlledLog log;
  GroupCommitWriter writer(log, {.max_batch = 100, .max_queue = 8, .max_request_tasks = 3});
  log.Block();
  ASSERT_TRUE(writer.SubmitEvent(Event("hold"), nullptr).ok());
  log.WaitForCalls(1);
  std::atomic<int> ran{0};
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(writer.SubmitRequestTask([&] { ++ran; }).ok());
  EXPECT_EQ(writer.SubmitRequestTask([&] { ADD_FAILURE() << "a refused task ran"; }).code(),
            StatusCode::kUnavailable);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(writer.SubmitEvent(Event(Key("e", i)), nullptr).ok());
  EXPECT_EQ(writer.SubmitEvent(Event("full"), nullptr).code(), StatusCode::kUnavailable);
  // The gateway's own tasks (forwarding results, retention) are never refused but when stopping.
  EXPECT_TRUE(writer.SubmitTask([&] { ++ran; }).ok());
  log.Release();
  log.WaitForCalls(2);
  writer.Stop();
  EXPECT_EQ(ran.load(), 4);
  EXPECT_EQ(writer.SubmitRequestTask([] {}).code(), StatusCode::kUnavailable);
}

TEST(GroupCommitWriterTest, LogOnlyRowsMayFillOnlyHalfTheQueue) {
  ControlledLog log;
  GroupCommitWriter writer(log, {.max_batch = 100, .max_queue = 10});
  log.Block();
  ASSERT_TRUE(writer.SubmitEvent(Event("hold"), nullptr).ok());
  log.WaitForCalls(1);
  int accepted = 0;
  for (int i = 0; i < 10; ++i) accepted += writer.SubmitLog(RequestLogEntry{}).ok() ? 1 : 0;
  EXPECT_EQ(accepted, 5);
  EXPECT_EQ(writer.stats().dropped_logs, 5u);
  // Events still get in.
  EXPECT_TRUE(writer.SubmitEvent(Event("event"), nullptr).ok());
  log.Release();
  writer.Stop();
  EXPECT_EQ(log.logs(), 5);
}

// Invariant 2: a failed batch answers every one of its submissions with the error; health
// follows the last transaction.
TEST(GroupCommitWriterTest, FailedCommitAnswersEverySubmissionWithTheError) {
  ControlledLog log;
  GroupCommitWriter writer(log, {.max_batch = 100, .max_queue = 100});
  log.Fail(Status::Unavailable("disk full"));
  log.Block();
  std::atomic<int> failed{0};
  auto expect_failure = [&](const Status& s, const AppendResult& r) {
    if (s.code() == StatusCode::kUnavailable && r.id.empty()) ++failed;
  };
  ASSERT_TRUE(writer.SubmitEvent(Event("a"), expect_failure).ok());
  log.WaitForCalls(1);
  ASSERT_TRUE(writer.SubmitEvent(Event("b"), expect_failure).ok());
  ASSERT_TRUE(writer.SubmitEvent(Event("c"), expect_failure).ok());
  std::atomic<int> probe_failed{0};
  ASSERT_TRUE(writer.SubmitProbe([&](const Status& s) { probe_failed += s.ok() ? 0 : 1; }).ok());
  log.Release();
  log.WaitForCalls(2);
  // Wait until the callbacks ran.
  for (int i = 0; i < 500 && failed.load() < 3; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  EXPECT_EQ(failed.load(), 3);
  EXPECT_EQ(probe_failed.load(), 1);
  EXPECT_FALSE(writer.healthy());

  log.Fail(Status::Ok());
  std::atomic<bool> ok{false};
  ASSERT_TRUE(
      writer
          .SubmitEvent(Event("d"), [&](const Status& s,
                                       const AppendResult& r) { ok = s.ok() && r.id == "id-d"; })
          .ok());
  writer.Stop();
  EXPECT_TRUE(ok.load());
  EXPECT_TRUE(writer.healthy());
  EXPECT_EQ(writer.stats().failed_batches, 2u);  // [a], then [b, c, probe]
}

// The batch-size histogram counts committed transactions by their records (bounds inclusive);
// a failed batch is not a commit and is not counted.
TEST(GroupCommitWriterTest, BatchSizeHistogramCountsRecordsPerCommittedTransaction) {
  ControlledLog log;
  GroupCommitWriter writer(log, {.max_batch = 1000, .max_queue = 1000});
  std::atomic<int> answered{0};
  auto count = [&](const Status&, const AppendResult&) { ++answered; };
  auto wait_for_answers = [&](int n) {
    for (int i = 0; i < 2000 && answered.load() < n; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    ASSERT_EQ(answered.load(), n);
  };
  // Holds one record inside Append (its `call`-th), queues `n` more behind it, and lets both
  // batches commit.
  auto batch_behind_one = [&](const std::string& prefix, int n, int call) {
    log.Block();
    int before = answered.load();
    ASSERT_TRUE(writer.SubmitEvent(Event(prefix), count).ok());
    log.WaitForCalls(call);
    for (int i = 0; i < n; ++i) {
      ASSERT_TRUE(writer.SubmitEvent(Event(Key(prefix.c_str(), i)), count).ok());
    }
    log.Release();
    wait_for_answers(before + 1 + n);
  };
  batch_behind_one("a", 4, 1);    // [1] and [4]: 4 lands in the bucket whose bound is 4
  batch_behind_one("b", 513, 3);  // [1] and [513]: beyond the last bound, in +Inf
  log.Fail(Status::Unavailable("disk full"));
  ASSERT_TRUE(writer.SubmitEvent(Event("lost"), nullptr).ok());
  writer.Stop();

  WriterStats stats = writer.stats();
  EXPECT_EQ(stats.commits, 4u);
  EXPECT_EQ(stats.failed_batches, 1u);
  EXPECT_EQ(stats.records, 519u);
  std::array<uint64_t, kBatchSizeBuckets.size() + 1> expected{};
  expected[0] = 2;                         // le=1
  expected[2] = 1;                         // le=4
  expected[kBatchSizeBuckets.size()] = 1;  // +Inf
  EXPECT_EQ(stats.batch_size_buckets, expected);
}

// A probe batched with records gets a write of its own: the records' success says nothing
// about room for an event.
TEST(GroupCommitWriterTest, AProbeBatchedWithRecordsStillProbes) {
  ControlledLog log;
  GroupCommitWriter writer(log, {.max_batch = 100, .max_queue = 100});
  log.FailProbes(Status::Unavailable("no room for an event"));
  log.Block();
  ASSERT_TRUE(writer.SubmitEvent(Event("hold"), nullptr).ok());
  log.WaitForCalls(1);
  ASSERT_TRUE(writer.SubmitLog(RequestLogEntry{}).ok());
  std::promise<Status> probed;
  ASSERT_TRUE(writer.SubmitProbe([&](const Status& s) { probed.set_value(s); }).ok());
  log.Release();
  Status s = probed.get_future().get();
  EXPECT_EQ(s.code(), StatusCode::kUnavailable);
  EXPECT_EQ(log.probes(), 1);
  EXPECT_FALSE(writer.healthy());
  writer.Stop();
}

// The writer thread is named (top -H, perf, gdb) and takes the nice value it is given when
// the process may (root here and in CI; otherwise it keeps the default, 0).
TEST(GroupCommitWriterTest, WriterThreadIsNamedAndTakesItsNiceValue) {
  ControlledLog log;
  GroupCommitWriter writer(log, {.max_batch = 10, .max_queue = 10, .thread_nice = -5});
  std::promise<void> ran;
  ASSERT_TRUE(writer.SubmitTask([&] { ran.set_value(); }).ok());
  ran.get_future().wait();
  int found = 0;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream comm(task.path() / "comm");
    std::string name;
    std::getline(comm, name);
    if (name != "hv-writer") continue;
    ++found;
    errno = 0;
    int nice = getpriority(PRIO_PROCESS, static_cast<id_t>(std::stoi(task.path().filename())));
    EXPECT_EQ(errno, 0);
    EXPECT_EQ(nice, geteuid() == 0 ? -5 : 0);
  }
  EXPECT_EQ(found, 1);
  writer.Stop();
}

}  // namespace
}  // namespace hookvault::storage
