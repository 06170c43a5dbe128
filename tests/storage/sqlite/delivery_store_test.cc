// SqliteDeliveryStore's fence on a real SQLite file with the real migrations: an attempt's
// outcome is applied only while its delivery still holds the lease the attempt was made under.
// Also the claim's `held` list and the pending summary's "pending since".
#include <SQLiteCpp/SQLiteCpp.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "storage/delivery_store.h"
#include "storage/operator_store.h"
#include "storage/sqlite/query_store.h"
#include "storage/sqlite/stores.h"
#include "tests/testing/db.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/test_store.h"

namespace hookvault::storage {
namespace {

using hookvault::testing::QueryInt;
using hookvault::testing::QueryText;

constexpr int64_t kT = 1'790'000'000'000'000;
constexpr int64_t kSecond = 1'000'000;
constexpr int64_t kDay = 86'400 * kSecond;

class DeliveryStoreFenceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    stores_ = hookvault::testing::OpenMigratedStore(path_, clock_);
    ASSERT_NE(stores_, nullptr);
    NewEvent e;
    e.source = "alpha";
    e.event_type = "t";
    e.idempotency_key = "k1";
    e.received_at = kT;
    e.headers_json = "{}";
    e.body = "{}";
    e.destinations = {"billing"};
    std::vector<IngestRecord> batch = {IngestRecord{std::move(e), std::nullopt}};
    auto appended = stores_->events->Append(batch);
    ASSERT_TRUE(appended.ok());
    delivery_ = QueryInt(path_, "SELECT id FROM deliveries");
  }

  // Claims the delivery at `now` with a lease of `lease` and returns what the claim got.
  std::vector<DueDelivery> Claim(int64_t now, int64_t lease = 30 * kSecond,
                                 std::vector<int64_t> held = {}) {
    auto due = stores_->deliveries->ClaimDue("billing", 10, now, now + lease, held);
    EXPECT_TRUE(due.ok()) << due.status().ToString();
    return due.ok() ? *due : std::vector<DueDelivery>{};
  }

  // Records the outcome of an attempt made under `token`; returns true if it was applied,
  // false if refused as stale.
  bool Record(int64_t token, AttemptRecord::Next next, int number = 1) {
    AttemptRecord a;
    a.delivery_id = delivery_;
    a.lease_token = token;
    a.number = number;
    a.started_at = clock_.NowMicros();
    a.http_status = next == AttemptRecord::Next::kSucceeded ? 200 : 500;
    a.next = next;
    a.next_attempt_at = clock_.NowMicros() + 60 * kSecond;
    std::vector<AttemptRecord> batch = {a};
    auto recorded = stores_->deliveries->RecordAttempts(batch);
    EXPECT_TRUE(recorded.ok()) << recorded.status().ToString();
    if (!recorded.ok()) return false;
    EXPECT_EQ(static_cast<size_t>(recorded->applied) + recorded->stale.size(), 1u);
    if (!recorded->stale.empty()) {
      EXPECT_EQ(recorded->stale[0], delivery_);
    }
    return recorded->applied == 1;
  }

  std::string Status() { return QueryText(path_, "SELECT status FROM deliveries"); }
  int64_t Attempts() { return QueryInt(path_, "SELECT attempts FROM deliveries"); }
  int64_t AttemptRows() { return QueryInt(path_, "SELECT count(*) FROM attempts"); }

  StatusOr<ReprocessResult> Reprocess(int64_t now) {
    ReprocessSpec spec;
    spec.action = "reprocess_bulk";
    spec.target_json = "{}";
    return stores_->operations->Reprocess(spec, AuditActor{"ops", "operator", "test"}, now);
  }

  hookvault::testing::TempDir dir_;
  std::string path_ = dir_.File("hookvault.db");
  hookvault::testing::FakeClock clock_{kT};
  std::unique_ptr<SqliteStores> stores_;
  int64_t delivery_ = 0;
};

TEST_F(DeliveryStoreFenceTest, EachClaimTakesANewToken) {
  std::vector<DueDelivery> first = Claim(kT, kSecond);
  ASSERT_EQ(first.size(), 1u);
  std::vector<DueDelivery> second = Claim(kT + kSecond, kSecond);  // the first lease has ended
  ASSERT_EQ(second.size(), 1u);
  EXPECT_NE(first[0].lease_token, second[0].lease_token);
  EXPECT_EQ(second[0].attempt, 1);  // nothing recorded in between
}

// The first attempt's lease expired and the delivery was claimed again (a second attempt went
// out): the first attempt's outcome, arriving late, must not be applied.
TEST_F(DeliveryStoreFenceTest, AStaleOutcomeAfterAReclaimIsRefused) {
  std::vector<DueDelivery> first = Claim(kT, kSecond);
  ASSERT_EQ(first.size(), 1u);
  std::vector<DueDelivery> second = Claim(kT + 2 * kSecond);
  ASSERT_EQ(second.size(), 1u);

  EXPECT_FALSE(Record(first[0].lease_token, AttemptRecord::Next::kFailed));
  EXPECT_EQ(Status(), "pending");
  EXPECT_EQ(Attempts(), 0);
  EXPECT_EQ(AttemptRows(), 0);  // no attempt row for a refused outcome
  // The second claim's lease is untouched, and its outcome is the one that counts.
  EXPECT_EQ(QueryInt(path_, "SELECT lease_expires_at FROM deliveries"), kT + 32 * kSecond);
  EXPECT_TRUE(Record(second[0].lease_token, AttemptRecord::Next::kSucceeded));
  EXPECT_EQ(Status(), "succeeded");
  EXPECT_EQ(Attempts(), 1);
  EXPECT_EQ(AttemptRows(), 1);
  EXPECT_EQ(QueryText(path_, "SELECT status FROM events"), "delivered");
}

// One outcome per lease: a second outcome under the same token (a duplicate, or a result
// written twice) cannot take a succeeded delivery back to pending or failed.
TEST_F(DeliveryStoreFenceTest, AFinishedDeliveryRefusesAnyFurtherOutcome) {
  std::vector<DueDelivery> claimed = Claim(kT);
  ASSERT_EQ(claimed.size(), 1u);
  ASSERT_TRUE(Record(claimed[0].lease_token, AttemptRecord::Next::kSucceeded));
  EXPECT_FALSE(Record(claimed[0].lease_token, AttemptRecord::Next::kRetry));
  EXPECT_FALSE(Record(claimed[0].lease_token, AttemptRecord::Next::kFailed));
  EXPECT_EQ(Status(), "succeeded");
  EXPECT_EQ(Attempts(), 1);
  EXPECT_EQ(AttemptRows(), 1);
  EXPECT_EQ(QueryText(path_, "SELECT status FROM events"), "delivered");
}

// An operator reprocessed the delivery after it succeeded: a late outcome of the old lease is
// refused both before the next claim (the reprocess ended the lease) and after it (new token).
TEST_F(DeliveryStoreFenceTest, AStaleOutcomeAfterAReprocessIsRefused) {
  std::vector<DueDelivery> first = Claim(kT);
  ASSERT_EQ(first.size(), 1u);
  ASSERT_TRUE(Record(first[0].lease_token, AttemptRecord::Next::kSucceeded));
  auto r = Reprocess(kT + kDay);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->requeued, 1);
  ASSERT_EQ(Status(), "pending");

  EXPECT_FALSE(Record(first[0].lease_token, AttemptRecord::Next::kFailed));
  EXPECT_EQ(Status(), "pending");
  EXPECT_EQ(Attempts(), 0);

  std::vector<DueDelivery> second = Claim(kT + kDay);
  ASSERT_EQ(second.size(), 1u);
  EXPECT_FALSE(Record(first[0].lease_token, AttemptRecord::Next::kFailed));
  EXPECT_EQ(Attempts(), 0);
  EXPECT_TRUE(Record(second[0].lease_token, AttemptRecord::Next::kSucceeded));
  EXPECT_EQ(Status(), "succeeded");
  EXPECT_EQ(AttemptRows(), 2);  // the first round's and this one
}

// A process start releases every lease: an outcome of the previous run is refused.
TEST_F(DeliveryStoreFenceTest, AStaleOutcomeAfterTheReleaseAtStartIsRefused) {
  std::vector<DueDelivery> claimed = Claim(kT);
  ASSERT_EQ(claimed.size(), 1u);
  auto released = stores_->deliveries->ReleaseAllLeases();
  ASSERT_TRUE(released.ok());
  EXPECT_EQ(*released, 1);
  EXPECT_FALSE(Record(claimed[0].lease_token, AttemptRecord::Next::kSucceeded));
  EXPECT_EQ(Status(), "pending");
}

// An outcome that arrives after its lease's end but before anyone claimed the delivery again
// is still the latest attempt: it is applied.
TEST_F(DeliveryStoreFenceTest, AnOutcomeAfterItsLeaseEndedButBeforeAReclaimIsApplied) {
  std::vector<DueDelivery> claimed = Claim(kT, kSecond);
  ASSERT_EQ(claimed.size(), 1u);
  clock_.Advance(10 * kSecond);
  EXPECT_TRUE(Record(claimed[0].lease_token, AttemptRecord::Next::kRetry));
  EXPECT_EQ(Attempts(), 1);
  EXPECT_EQ(QueryInt(path_, "SELECT lease_expires_at IS NULL FROM deliveries"), 1);
}

// A delivery the caller still holds is not claimed even though its lease has expired by the
// claim's `now` (a wall-clock step forward).
TEST_F(DeliveryStoreFenceTest, AHeldDeliveryIsNeverClaimed) {
  std::vector<DueDelivery> first = Claim(kT);
  ASSERT_EQ(first.size(), 1u);
  EXPECT_TRUE(Claim(kT + kDay, 30 * kSecond, {delivery_}).empty());
  EXPECT_EQ(QueryInt(path_, "SELECT lease_token FROM deliveries"), first[0].lease_token);
  EXPECT_TRUE(Record(first[0].lease_token, AttemptRecord::Next::kSucceeded));
}

// "Oldest pending age" counts from when the delivery became pending: a delivery created 60
// days ago and reprocessed now is pending since now, in the writer's and the readers' summary.
TEST_F(DeliveryStoreFenceTest, AReprocessedOldDeliveryIsPendingSinceItsReprocess) {
  std::vector<DueDelivery> claimed = Claim(kT);
  ASSERT_EQ(claimed.size(), 1u);
  ASSERT_TRUE(Record(claimed[0].lease_token, AttemptRecord::Next::kFailed));
  const int64_t now = kT + 60 * kDay;
  ASSERT_TRUE(Reprocess(now).ok());

  auto summary = stores_->deliveries->Pending();
  ASSERT_TRUE(summary.ok()) << summary.status().ToString();
  EXPECT_EQ(summary->count, 1);
  EXPECT_EQ(summary->oldest_pending_since, now);
  auto query = SqliteQueryStore::Open({.path = path_}, 1);
  ASSERT_TRUE(query.ok()) << query.status().ToString();
  auto read = (*query)->Pending();
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_EQ(read->oldest_pending_since, now);

  // Retries do not reset it: the delivery is still waiting since the reprocess.
  std::vector<DueDelivery> again = Claim(now);
  ASSERT_EQ(again.size(), 1u);
  clock_.Set(now + kDay);
  ASSERT_TRUE(Record(again[0].lease_token, AttemptRecord::Next::kRetry));
  auto later = stores_->deliveries->Pending();
  ASSERT_TRUE(later.ok());
  EXPECT_EQ(later->oldest_pending_since, now);
}

}  // namespace
}  // namespace hookvault::storage
