// The retention driver on a real SqliteRetentionStore behind the real GroupCommitWriter, with an
// injected clock that ages the data.
#include "server/retention.h"

#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

#include "storage/group_commit_writer.h"
#include "storage/sqlite/stores.h"
#include "tests/testing/db.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/test_store.h"

namespace hookvault::server {
namespace {

using hookvault::testing::QueryInt;
using storage::PruneTarget;

constexpr int64_t kDay = 86'400'000'000LL;
constexpr int64_t kNow = 1'790'000'000'000'000LL;

// Forwards to the real store and records every call: which thread, what it deleted.
class RecordingStore final : public storage::RetentionStore {
 public:
  struct Call {
    PruneTarget target;
    int64_t deleted;
    int64_t scanned;
    std::thread::id thread;
  };

  explicit RecordingStore(storage::RetentionStore& inner) : inner_(inner) {}

  storage::StatusOr<storage::PruneBatch> Prune(PruneTarget target, int64_t before,
                                               int64_t max_event_seq,
                                               const storage::PruneCursor& after,
                                               int limit) override {
    auto batch = inner_.Prune(target, before, max_event_seq, after, limit);
    std::lock_guard<std::mutex> lock(mu_);
    if (batch.ok()) {
      calls_.push_back({target, batch->deleted, batch->scanned, std::this_thread::get_id()});
    }
    return batch;
  }
  storage::StatusOr<std::vector<storage::ConsumerCursor>> ConsumerCursors(
      const std::vector<std::string>& names, int64_t now) override {
    return inner_.ConsumerCursors(names, now);
  }
  storage::StatusOr<storage::ReclaimResult> ReclaimSpace(int64_t max_bytes) override {
    auto r = inner_.ReclaimSpace(max_bytes);
    std::lock_guard<std::mutex> lock(mu_);
    ++reclaims_;
    return r;
  }

  std::vector<Call> calls() const {
    std::lock_guard<std::mutex> lock(mu_);
    return calls_;
  }
  int reclaims() const {
    std::lock_guard<std::mutex> lock(mu_);
    return reclaims_;
  }

 private:
  storage::RetentionStore& inner_;
  mutable std::mutex mu_;
  std::vector<Call> calls_;  // guarded by mu_
  int reclaims_ = 0;         // guarded by mu_
};

class RetentionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    stores_ = hookvault::testing::OpenMigratedStore(path_, clock_);
    ASSERT_NE(stores_, nullptr);
  }

  // Stores `n` events received `age` ago (in batches of up to 500), before the writer starts.
  void AddEvents(int n, int64_t age, const std::string& prefix,
                 std::vector<std::string> destinations = {}) {
    clock_.Set(kNow - age);
    for (int done = 0; done < n;) {
      std::vector<storage::IngestRecord> batch;
      for (; done < n && batch.size() < 500; ++done) {
        storage::NewEvent e;
        e.source = "s";
        e.idempotency_key = prefix + std::to_string(done);
        e.received_at = kNow - age;
        e.headers_json = "{}";
        e.body = std::string(512, 'b');
        e.destinations = destinations;
        storage::RequestLogEntry log;
        log.received_at = kNow - age;
        log.source = "s";
        log.status = 200;
        log.reason = "stored";
        batch.push_back({std::move(e), std::move(log)});
      }
      ASSERT_TRUE(stores_->events->Append(batch).ok());
    }
    clock_.Set(kNow);
  }

  void StartWriter() {
    writer_ =
        std::make_unique<storage::GroupCommitWriter>(*stores_->events, storage::WriterOptions{});
  }

  int64_t Count(const std::string& sql) { return QueryInt(path_, sql); }

  RetentionConfig ages_{.delivered_days = 30,
                        .failed_days = 90,
                        .attempts_days = 90,
                        .request_log_days = 14,
                        .idempotency_days = 37};
  hookvault::testing::TempDir dir_;
  std::string path_ = dir_.File("hookvault.db");
  hookvault::testing::FakeClock clock_{kNow};
  std::unique_ptr<storage::SqliteStores> stores_;
  std::unique_ptr<storage::GroupCommitWriter> writer_;
};

TEST_F(RetentionTest, ARoundAgesOutWhatTheConfigSaysAndNothingElse) {
  AddEvents(3, 31 * kDay, "delivered-old-");
  AddEvents(2, 29 * kDay, "delivered-young-");
  AddEvents(4, 400 * kDay, "pending-", {"crm"});
  AddEvents(1, 10 * kDay, "recent-");
  StartWriter();
  Retention retention(ages_, {}, *writer_, *stores_->retention, clock_);
  auto round = retention.RunRound();
  ASSERT_TRUE(round.ok()) << round.status().ToString();
  EXPECT_EQ(round->delivered_events, 3);
  EXPECT_EQ(round->failed_events, 0);
  EXPECT_EQ(round->request_log, 3 + 2 + 4);  // every request over 14 days old
  EXPECT_EQ(round->idempotency_keys, 0);     // the pruned events' keys are 31 days old (< 37)
  EXPECT_EQ(Count("SELECT count(*) FROM events WHERE idempotency_key LIKE 'delivered-old-%'"), 0);
  EXPECT_EQ(Count("SELECT count(*) FROM events WHERE idempotency_key LIKE 'delivered-young-%'"), 2);
  EXPECT_EQ(Count("SELECT count(*) FROM events WHERE status = 'pending'"), 4);
  EXPECT_EQ(Count("SELECT count(*) FROM idempotency_keys"), 10);
  EXPECT_EQ(Count("SELECT count(*) FROM request_log"), 1);

  // A week later the keys of the pruned events have gone too; the pending ones' stay.
  clock_.Advance(7 * kDay);
  round = retention.RunRound();
  ASSERT_TRUE(round.ok());
  EXPECT_EQ(round->idempotency_keys, 3);
  EXPECT_EQ(round->delivered_events, 2);  // now 36 days old
  EXPECT_EQ(Count("SELECT count(*) FROM idempotency_keys WHERE key LIKE 'pending-%'"), 4);
  writer_->Stop();
}

TEST_F(RetentionTest, PrunesInBatchesOfAtMostBatchRowsEachItsOwnWriterTask) {
  AddEvents(5000, 40 * kDay, "e-");
  StartWriter();
  storage::SqliteRetentionStore& real = *stores_->retention;
  RecordingStore recording(real);
  Retention retention(ages_, {}, *writer_, recording, clock_, {.batch_rows = 500});
  auto round = retention.RunRound();
  ASSERT_TRUE(round.ok()) << round.status().ToString();
  EXPECT_EQ(round->delivered_events, 5000);
  EXPECT_EQ(round->request_log, 5000);
  EXPECT_EQ(round->idempotency_keys, 5000);

  int event_batches = 0;
  int64_t events_deleted = 0;
  for (const RecordingStore::Call& call : recording.calls()) {
    EXPECT_LE(call.deleted, 500);
    EXPECT_LE(call.scanned, 500);
    EXPECT_NE(call.thread, std::this_thread::get_id());  // on the writer thread
    if (call.target == PruneTarget::kDeliveredEvents) {
      ++event_batches;
      events_deleted += call.deleted;
    }
  }
  EXPECT_GE(event_batches, 10);
  EXPECT_EQ(events_deleted, 5000);
  EXPECT_EQ(round->batches, static_cast<int64_t>(recording.calls().size()));
  EXPECT_EQ(Count("SELECT count(*) FROM events"), 0);

  // The freed space went back, several steps of at most 1 MiB (256 pages) each.
  EXPECT_GT(round->reclaimed_bytes, 1 << 20);
  EXPECT_GE(recording.reclaims(), 2);
  EXPECT_EQ(Count("PRAGMA freelist_count"), 0);
  writer_->Stop();
}

TEST_F(RetentionTest, IngestIsWrittenBetweenPruneBatches) {
  AddEvents(3000, 40 * kDay, "old-");
  StartWriter();
  storage::SqliteRetentionStore& real = *stores_->retention;
  RecordingStore recording(real);
  Retention retention(ages_, {}, *writer_, recording, clock_, {.batch_rows = 100});
  std::thread pruning([&] { ASSERT_TRUE(retention.RunRound().ok()); });
  // Wait until pruning has begun, then ingest one event and see it committed while the round
  // still has batches to go.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (recording.calls().empty() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::yield();
  }
  std::promise<storage::Status> done;
  storage::NewEvent e;
  e.source = "s";
  e.idempotency_key = "fresh";
  e.received_at = kNow;
  e.headers_json = "{}";
  ASSERT_TRUE(writer_
                  ->SubmitEvent({std::move(e), std::nullopt},
                                [&done](const storage::Status& s, const storage::AppendResult&) {
                                  done.set_value(s);
                                })
                  .ok());
  ASSERT_TRUE(done.get_future().get().ok());
  size_t batches_when_committed = recording.calls().size();
  pruning.join();
  EXPECT_LT(batches_when_committed, recording.calls().size());
  EXPECT_EQ(Count("SELECT count(*) FROM events"), 1);
  writer_->Stop();
}

TEST_F(RetentionTest, StopEndsARoundBetweenBatchesAndAWaitAtOnce) {
  AddEvents(3000, 40 * kDay, "e-");
  StartWriter();
  Retention retention(ages_, {}, *writer_, *stores_->retention, clock_,
                      {.interval_ms = 3'600'000, .batch_rows = 1});
  retention.Start();
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  auto start = std::chrono::steady_clock::now();
  retention.Stop();
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_LT(took, std::chrono::seconds(1));
  // One row per transaction: the request log (pruned before the events) had begun, but 3,000
  // commits cannot have finished in 50 ms, and the round ended there.
  EXPECT_GT(Count("SELECT count(*) FROM request_log"), 0);
  EXPECT_LT(Count("SELECT count(*) FROM request_log"), 3000);
  EXPECT_EQ(Count("SELECT count(*) FROM events"), 3000);

  // Between rounds, the hour-long wait ends at once too.
  Retention idle(ages_, {}, *writer_, *stores_->retention, clock_, {.interval_ms = 3'600'000});
  idle.Start();
  for (int i = 0; i < 1000 && Count("SELECT count(*) FROM events") > 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(Count("SELECT count(*) FROM events"), 0);
  start = std::chrono::steady_clock::now();
  idle.Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
  writer_->Stop();
}

TEST_F(RetentionTest, ARoundFailsCleanlyWhenTheWriterHasStopped) {
  AddEvents(10, 40 * kDay, "e-");
  StartWriter();
  writer_->Stop();
  Retention retention(ages_, {}, *writer_, *stores_->retention, clock_);
  auto round = retention.RunRound();
  ASSERT_FALSE(round.ok());
  EXPECT_EQ(round.status().code(), storage::StatusCode::kUnavailable);
  EXPECT_EQ(Count("SELECT count(*) FROM events"), 10);
}

}  // namespace
}  // namespace hookvault::server
