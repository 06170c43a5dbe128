// The writer's invariants (storage/group_commit_writer.h), on a real SQLite file where it
// matters and on small fake EventLogs where a failure or a stall must be forced.
#include "storage/group_commit_writer.h"

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
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
  void WaitForCalls(int n) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return calls_ >= n; });
  }
  int logs() {
    std::lock_guard<std::mutex> l(mu_);
    return logs_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool blocked_ = false;
  int calls_ = 0;
  int logs_ = 0;
  int64_t seq_ = 0;
  Status fail_;
  Status probe_fail_;
  int probes_ = 0;
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
