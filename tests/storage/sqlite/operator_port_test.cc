// SerializedOperatorPort over the real GroupCommitWriter, SqliteOperatorStore and
// SqliteQueryStore on a real SQLite file: a bulk reprocess is written in chunks between ingest
// batches, a dry run counts on a reader, one bulk run at a time, and a run stopped part-way is
// audited and finished by running it again.
#include "storage/operator_port.h"

#include <SQLiteCpp/SQLiteCpp.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "storage/group_commit_writer.h"
#include "storage/sqlite/query_store.h"
#include "storage/sqlite/stores.h"
#include "tests/testing/db.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/seed_deliveries.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/test_store.h"

namespace hookvault::storage {
namespace {

using hookvault::testing::QueryInt;
using hookvault::testing::QueryText;
using Clock = std::chrono::steady_clock;

constexpr int64_t kT = 1'790'000'000'000'000;
const AuditActor kWho{"ops", "operator", "billing is back"};

ReprocessSpec Bulk(bool dry_run = false) {
  ReprocessSpec spec;
  spec.filter.destination = "billing";
  spec.filter.status = "failed";
  spec.dry_run = dry_run;
  spec.action = "reprocess_bulk";
  spec.target_json = R"({"destination":"billing","status":"failed"})";
  return spec;
}

// The result of one Reprocess call, once `done` ran.
struct Outcome {
  std::shared_ptr<std::promise<StatusOr<ReprocessResult>>> promise =
      std::make_shared<std::promise<StatusOr<ReprocessResult>>>();
  std::future<StatusOr<ReprocessResult>> future = promise->get_future();
  OperatorPort::ReprocessDone done() {
    return [p = promise](StatusOr<ReprocessResult> r) { p->set_value(std::move(r)); };
  }
  StatusOr<ReprocessResult> Get() {
    if (future.wait_for(std::chrono::seconds(120)) != std::future_status::ready) {
      return Status::Internal("no answer within 120 s");
    }
    return future.get();
  }
};

// A WriteSerializer that queues on the real writer its first `allowed` tasks only, then refuses
// as a stopping writer does.
class RefusingSerializer final : public WriteSerializer {
 public:
  RefusingSerializer(WriteSerializer& inner, int allowed) : inner_(inner), left_(allowed) {}
  Status SubmitTask(std::function<void()> task) override {
    if (left_.fetch_sub(1) <= 0) return Status::Unavailable("writer is shutting down");
    return inner_.SubmitTask(std::move(task));
  }

 private:
  WriteSerializer& inner_;
  std::atomic<int> left_;
};

class OperatorPortTest : public ::testing::Test {
 protected:
  // Seeds `n` failed deliveries to "billing", then opens the stores, the writer and the port.
  void Open(int64_t n, size_t chunk_rows = SerializedOperatorPort::kChunkRows,
            int64_t answer_after_micros = SerializedOperatorPort::kAnswerAfterMicros) {
    stores_ = hookvault::testing::OpenMigratedStore(path_, clock_);
    ASSERT_NE(stores_, nullptr);
    ASSERT_EQ(hookvault::testing::SeedFailedDeliveries(path_, n, "seed", "billing", kT), n);
    auto queries = SqliteQueryStore::Open({.path = path_}, 2);
    ASSERT_TRUE(queries.ok()) << queries.status().ToString();
    queries_ = std::move(queries).value();
    writer_ = std::make_unique<GroupCommitWriter>(*stores_->events, WriterOptions{});
    port_ = std::make_unique<SerializedOperatorPort>(
        *writer_, *stores_->operations, *queries_, clock_, [this] { ++wakes_; }, chunk_rows,
        answer_after_micros);
  }

  void TearDown() override {
    if (writer_) writer_->Stop();
  }

  // Holds the writer in a task until the returned promise is set.
  std::shared_ptr<std::promise<void>> BlockWriter() {
    auto release = std::make_shared<std::promise<void>>();
    auto running = std::make_shared<std::promise<void>>();
    std::shared_future<void> released = release->get_future().share();
    EXPECT_TRUE(writer_
                    ->SubmitTask([released, running] {
                      running->set_value();
                      released.wait();
                    })
                    .ok());
    running->get_future().wait();
    return release;
  }

  int64_t Count(const std::string& sql) { return QueryInt(path_, sql); }

  hookvault::testing::TempDir dir_;
  std::string path_ = dir_.File("hookvault.db");
  hookvault::testing::FakeClock clock_{kT + 3'600'000'000};
  std::unique_ptr<SqliteStores> stores_;
  std::unique_ptr<SqliteQueryStore> queries_;
  std::unique_ptr<GroupCommitWriter> writer_;
  std::unique_ptr<SerializedOperatorPort> port_;
  std::atomic<int> wakes_{0};
};

// The issue's finding: one transaction over every match held the writer for seconds, so no
// ingest commit happened meanwhile. Now each chunk is a short task and ingest batches queued
// meanwhile commit between chunks.
TEST_F(OperatorPortTest, IngestKeepsCommittingDuringA100000DeliveryReprocess) {
  constexpr int64_t kDeliveries = 100'000;
  Open(kDeliveries);

  // One ingest request after the other, each waiting for its commit, as a provider would.
  std::atomic<bool> stop{false};
  std::vector<Clock::time_point> acks;  // written by the ingest thread only, until joined
  std::atomic<int> failures{0};
  std::thread ingest([&] {
    for (int i = 0; !stop.load(); ++i) {
      NewEvent e;
      e.source = "live";
      e.event_type = "t";
      e.idempotency_key = "live-" + std::to_string(i);
      e.received_at = kT;
      e.remote_addr = "127.0.0.1";
      e.headers_json = "{}";
      e.body = "{}";
      auto committed = std::make_shared<std::promise<Status>>();
      std::future<Status> answer = committed->get_future();
      Status queued = writer_->SubmitEvent(
          IngestRecord{std::move(e), std::nullopt},
          [committed](const Status& s, const AppendResult&) { committed->set_value(s); });
      if (!queued.ok() || !answer.get().ok()) {
        ++failures;
        continue;
      }
      acks.push_back(Clock::now());
    }
  });
  while (Count("SELECT count(*) FROM events WHERE source = 'live'") < 20) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }

  Outcome outcome;
  Clock::time_point start = Clock::now();
  ASSERT_TRUE(port_->Reprocess(Bulk(), kWho, outcome.done()).ok());
  StatusOr<ReprocessResult> result = outcome.Get();
  Clock::time_point end = Clock::now();
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // an ack after the end too
  stop = true;
  ingest.join();

  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_EQ(result->matched, kDeliveries);
  EXPECT_EQ(result->requeued, kDeliveries);
  EXPECT_EQ(failures.load(), 0);
  // The longest wait between two acknowledgements that spans any part of the run.
  Clock::duration max_gap{0};
  int acks_during = 0;
  for (size_t i = 1; i < acks.size(); ++i) {
    if (acks[i] < start || acks[i - 1] > end) continue;
    max_gap = std::max(max_gap, acks[i] - acks[i - 1]);
    acks_during += acks[i] <= end;
  }
  auto ms = [](Clock::duration d) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
  };
  std::printf(
      "reprocess of %lld deliveries: %lld ms; %d ingest commits meanwhile, longest gap "
      "%lld ms\n",
      static_cast<long long>(kDeliveries), static_cast<long long>(ms(end - start)), acks_during,
      static_cast<long long>(ms(max_gap)));
  EXPECT_GT(acks_during, 0);
  EXPECT_LT(max_gap, std::chrono::seconds(1));

  EXPECT_EQ(Count("SELECT count(*) FROM deliveries WHERE destination = 'billing' AND "
                  "status = 'pending' AND attempts = 0"),
            kDeliveries);
  EXPECT_EQ(Count("SELECT count(*) FROM events WHERE source = 'seed' AND status = 'pending'"),
            kDeliveries);
  EXPECT_EQ(Count("SELECT count(*) FROM audit_log"), 2);
  EXPECT_EQ(QueryText(path_,
                      "SELECT group_concat(action || ' ' || matched || ' ' || requeued, "
                      "', ') FROM (SELECT * FROM audit_log ORDER BY id)"),
            "reprocess_bulk_started 0 0, reprocess_bulk 100000 100000");
  auto verified = queries_->VerifyAudit();
  ASSERT_TRUE(verified.ok());
  EXPECT_TRUE(verified->ok);
  EXPECT_GE(wakes_.load(), 100);  // the scheduler hears of each chunk, not only of the last
}

// The dry run counts when it is asked, on a reader, while the writer is busy: a count queued
// behind the writer would see what the writer did first.
TEST_F(OperatorPortTest, ADryRunCountsOnAReaderAndWritesOnlyItsAuditRow) {
  Open(50);
  std::shared_ptr<std::promise<void>> release = BlockWriter();
  // Queued behind the blocking task, before the dry run's audit row: requeues everything.
  Outcome real;
  ASSERT_TRUE(port_->Reprocess(Bulk(), kWho, real.done()).ok());
  Outcome dry;
  ASSERT_TRUE(port_->Reprocess(Bulk(/*dry_run=*/true), kWho, dry.done()).ok());
  EXPECT_EQ(dry.future.wait_for(std::chrono::milliseconds(50)), std::future_status::timeout);
  release->set_value();

  StatusOr<ReprocessResult> r = real.Get();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->requeued, 50);
  StatusOr<ReprocessResult> d = dry.Get();
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->matched, 50);  // counted before the real run, although answered after it
  EXPECT_EQ(d->requeued, 0);
  EXPECT_EQ(QueryText(path_,
                      "SELECT action || ' ' || matched || ' ' || requeued || ' ' || target "
                      "FROM audit_log WHERE id = " +
                          std::to_string(d->audit_id)),
            R"(reprocess_bulk 50 0 {"destination":"billing","status":"failed"})");

  // An unknown status is refused before anything is counted or queued.
  ReprocessSpec bad = Bulk(true);
  bad.filter.status = "bogus";
  Outcome never;
  EXPECT_EQ(port_->Reprocess(bad, kWho, never.done()).code(), StatusCode::kInvalidArgument);
}

// Two bulk runs at once would each walk what the other requeues; the second is refused while
// the first runs. A dry run and one event's reprocess go through meanwhile.
TEST_F(OperatorPortTest, ASecondBulkRunWhileOneRunsIsRefused) {
  Open(30, /*chunk_rows=*/10);
  std::shared_ptr<std::promise<void>> release = BlockWriter();
  Outcome first;
  ASSERT_TRUE(port_->Reprocess(Bulk(), kWho, first.done()).ok());
  Outcome second;
  Status refused = port_->Reprocess(Bulk(), kWho, second.done());
  EXPECT_EQ(refused.code(), StatusCode::kAlreadyExists) << refused.ToString();
  Outcome dry;
  EXPECT_TRUE(port_->Reprocess(Bulk(true), kWho, dry.done()).ok());
  ReprocessSpec one = Bulk();
  one.filter.event_id = "seed-7";
  one.action = "reprocess_event";
  Outcome event;
  EXPECT_TRUE(port_->Reprocess(one, kWho, event.done()).ok());
  release->set_value();

  StatusOr<ReprocessResult> r = first.Get();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  StatusOr<ReprocessResult> e = event.Get();
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_EQ(r->requeued + e->requeued, 30);  // whichever came first took seed-7
  EXPECT_TRUE(dry.Get().ok());
  EXPECT_EQ(second.future.wait_for(std::chrono::milliseconds(0)), std::future_status::timeout);

  // Once the first has answered, the next bulk run is accepted.
  Outcome third;
  ASSERT_TRUE(port_->Reprocess(Bulk(), kWho, third.done()).ok());
  StatusOr<ReprocessResult> t = third.Get();
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->matched, 0);
}

// A run that outlasts answer_after is answered with its counts so far and `running`, and goes
// on: an HTTP answer owed for minutes would be cut off by the connection's idle timeout (or a
// proxy's), and the operator would see an error for a run that is under way. Its totals come in
// the final audit row; the caller is answered once.
TEST_F(OperatorPortTest, ALongRunIsAnsweredEarlyAndGoesOn) {
  Open(30, /*chunk_rows=*/10, /*answer_after_micros=*/0);
  Outcome first;
  ASSERT_TRUE(port_->Reprocess(Bulk(), kWho, first.done()).ok());
  StatusOr<ReprocessResult> r = first.Get();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->running);
  EXPECT_EQ(r->requeued, 10);  // the first chunk
  EXPECT_EQ(r->audit_id, Count("SELECT id FROM audit_log WHERE action = 'reprocess_bulk_started'"));
  for (int i = 0; i < 1000 && Count("SELECT count(*) FROM audit_log WHERE action = "
                                    "'reprocess_bulk'") == 0;
       ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(Count("SELECT count(*) FROM deliveries WHERE status = 'pending'"), 30);
  EXPECT_EQ(Count("SELECT requeued FROM audit_log WHERE action = 'reprocess_bulk'"), 30);
  // Finished: the next bulk run is accepted (and the first run's `done` was not called again,
  // which would have set its promise twice and thrown).
  Outcome next;
  Status accepted = port_->Reprocess(Bulk(), kWho, next.done());
  for (int i = 0; i < 500 && accepted.code() == StatusCode::kAlreadyExists; ++i) {
    // The final audit row commits just before the run lets go of the one-run-at-a-time guard.
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    accepted = port_->Reprocess(Bulk(), kWho, next.done());
  }
  ASSERT_TRUE(accepted.ok()) << accepted.ToString();
  EXPECT_TRUE(next.Get().ok());
}

// A run that cannot queue its next chunk (the writer stopping) answers kUnavailable; the chunks
// written stay written and are covered by the "_started" audit row; the same request again
// requeues the rest, and the chain verifies.
TEST_F(OperatorPortTest, ARunStoppedPartWayIsAuditedAndFinishedByRunningItAgain) {
  Open(10);
  RefusingSerializer stopping(*writer_, /*allowed=*/2);
  SerializedOperatorPort port(stopping, *stores_->operations, *queries_, clock_, nullptr,
                              /*chunk_rows=*/3);
  Outcome cut;
  ASSERT_TRUE(port.Reprocess(Bulk(), kWho, cut.done()).ok());
  StatusOr<ReprocessResult> r = cut.Get();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(r.status().message().find("6 deliveries requeued"), std::string::npos)
      << r.status().ToString();
  EXPECT_EQ(Count("SELECT count(*) FROM deliveries WHERE status = 'pending'"), 6);
  EXPECT_EQ(Count("SELECT count(*) FROM deliveries WHERE status = 'failed'"), 4);
  EXPECT_EQ(QueryText(path_, "SELECT group_concat(action, ', ') FROM audit_log"),
            "reprocess_bulk_started");

  // The refused run released its claim on bulk runs: the same request again, on the real writer.
  Outcome again;
  ASSERT_TRUE(port_->Reprocess(Bulk(), kWho, again.done()).ok());
  StatusOr<ReprocessResult> rest = again.Get();
  ASSERT_TRUE(rest.ok()) << rest.status().ToString();
  EXPECT_EQ(rest->matched, 4);
  EXPECT_EQ(rest->requeued, 4);
  EXPECT_EQ(Count("SELECT count(*) FROM deliveries WHERE status = 'pending'"), 10);
  EXPECT_EQ(Count("SELECT count(*) FROM audit_log WHERE action = 'reprocess_bulk'"), 1);
  auto verified = queries_->VerifyAudit();
  ASSERT_TRUE(verified.ok());
  EXPECT_TRUE(verified->ok);
}

}  // namespace
}  // namespace hookvault::storage
