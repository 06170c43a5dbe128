// SqliteRetentionStore on a real SQLite file with the real migrations: the invariants of
// storage/retention_store.h and the space given back by incremental_vacuum.
#include "storage/audit_chain.h"
#include "storage/operator_store.h"
#include "storage/retention_store.h"

#include <SQLiteCpp/SQLiteCpp.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <limits>
#include <string>
#include <vector>

#include "storage/sqlite/migrations.h"
#include "storage/sqlite/stores.h"
#include "tests/testing/db.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/lease.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/test_store.h"

namespace hookvault::storage {
namespace {

using hookvault::testing::QueryInt;
using hookvault::testing::QueryText;

constexpr int64_t kDay = 86'400'000'000LL;
constexpr int64_t kNow = 1'790'000'000'000'000LL;
// No consumer holds events back.
constexpr int64_t kAll = std::numeric_limits<int64_t>::max();

class RetentionStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    stores_ = hookvault::testing::OpenMigratedStore(path_, clock_);
    ASSERT_NE(stores_, nullptr);
  }

  // Stores one event received (and keyed) `age` ago and returns it.
  AppendResult Add(const std::string& key, int64_t age, std::vector<std::string> destinations = {},
                   std::string body = "{}") {
    clock_.Set(kNow - age);
    NewEvent e;
    e.source = "s";
    e.event_type = "t";
    e.idempotency_key = key;
    e.received_at = kNow - age;
    e.remote_addr = "127.0.0.1";
    e.headers_json = "{}";
    e.body = std::move(body);
    e.destinations = std::move(destinations);
    RequestLogEntry log;
    log.received_at = kNow - age;
    log.source = "s";
    log.remote_addr = "127.0.0.1";
    log.status = 200;
    log.reason = "stored";
    std::vector<IngestRecord> batch = {IngestRecord{std::move(e), std::move(log)}};
    auto r = stores_->events->Append(batch);
    clock_.Set(kNow);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *(*r)[0] : AppendResult{};
  }

  int64_t DeliveryId(const AppendResult& event, const std::string& destination) {
    SQLite::Database db(path_, SQLite::OPEN_READONLY);
    SQLite::Statement s(db, "SELECT id FROM deliveries WHERE event_seq = ? AND destination = ?");
    s.bind(1, event.seq);
    s.bind(2, destination);
    return s.executeStep() ? s.getColumn(0).getInt64() : -1;
  }

  // Records one attempt of the event's delivery to `destination`, started `age` ago.
  void Attempt(const AppendResult& event, const std::string& destination, int64_t age,
               AttemptRecord::Next next) {
    AttemptRecord a;
    a.delivery_id = DeliveryId(event, destination);
    a.number = 1;
    a.started_at = kNow - age;
    a.duration_us = 1000;
    a.http_status = next == AttemptRecord::Next::kSucceeded ? 200 : 500;
    a.next = next;
    a.next_attempt_at = kNow + kDay;
    a.lease_token = hookvault::testing::LeaseForTest(path_, a.delivery_id);  // as a claim does
    std::vector<AttemptRecord> attempts = {a};
    auto recorded = stores_->deliveries->RecordAttempts(attempts);
    ASSERT_TRUE(recorded.ok()) << recorded.status().ToString();
    ASSERT_EQ(recorded->applied, 1);
  }

  // Prunes `target` older than `age` to the end, as the driver does, and returns the deleted
  // count; fails the test if a batch deletes or looks at more than `limit` rows.
  int64_t PruneAll(PruneTarget target, int64_t age, int limit = 500) {
    int64_t deleted = 0;
    std::optional<PruneCursor> cursor = PruneCursor{};
    while (cursor) {
      auto batch = stores_->retention->Prune(target, kNow - age, kAll, *cursor, limit);
      EXPECT_TRUE(batch.ok()) << batch.status().ToString();
      if (!batch.ok()) return -1;
      EXPECT_LE(batch->deleted, limit);
      EXPECT_LE(batch->scanned, limit);
      deleted += batch->deleted;
      cursor = batch->next;
    }
    return deleted;
  }

  int64_t Count(const std::string& sql, const std::string& param = "") {
    return QueryInt(path_, sql, param);
  }
  bool EventExists(const AppendResult& e) {
    return Count("SELECT count(*) FROM events WHERE id = ?", e.id) == 1;
  }

  hookvault::testing::TempDir dir_;
  std::string path_ = dir_.File("hookvault.db");
  hookvault::testing::FakeClock clock_{kNow};
  std::unique_ptr<SqliteStores> stores_;
};

TEST_F(RetentionStoreTest, ANewDatabaseHasIncrementalAutoVacuum) {
  EXPECT_EQ(Count("PRAGMA auto_vacuum"), 2);  // INCREMENTAL
  EXPECT_EQ(Count("SELECT count(*) FROM sqlite_master WHERE name = 'events_status_received_at'"),
            1);
}

TEST(RetentionMigrationTest, AnExistingDatabaseIsVacuumedIntoIncrementalAutoVacuumOnce) {
  hookvault::testing::TempDir dir;
  std::string path = dir.File("old.db");
  const std::vector<Migration>& all = SqliteMigrations();
  ASSERT_GE(all.size(), 3u);
  ASSERT_EQ(all[2].name.substr(0, 5), "0003_");
  {
    // A database made before 0003: auto_vacuum off, with data in it.
    auto db = OpenDatabase({.path = path});
    ASSERT_TRUE(db.ok());
    std::vector<Migration> before(all.begin(), all.begin() + 2);
    ASSERT_TRUE(ApplyMigrations(**db, before).ok());
    (*db)->exec(
        "INSERT INTO events (id, source, event_type, idempotency_key, received_at, remote_addr, "
        "headers, body) VALUES ('e1', 's', 't', 'k', 1, '', '{}', x'00')");
  }
  ASSERT_EQ(QueryInt(path, "PRAGMA auto_vacuum"), 0);

  auto db = OpenDatabase({.path = path});
  ASSERT_TRUE(db.ok());
  auto applied = ApplyMigrations(**db, all);
  ASSERT_TRUE(applied.ok()) << applied.status().ToString();
  ASSERT_FALSE(applied->empty());
  EXPECT_EQ((*applied)[0], std::string(all[2].name));
  EXPECT_EQ(QueryInt(path, "PRAGMA auto_vacuum"), 2);
  EXPECT_EQ(QueryText(path, "SELECT id FROM events"), "e1");
  EXPECT_EQ(QueryInt(path, "SELECT count(*) FROM schema_migrations WHERE name = ?",
                     std::string(all[2].name)),
            1);
  auto again = ApplyMigrations(**db, all);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->empty());
  EXPECT_EQ(QueryText(path, "PRAGMA integrity_check"), "ok");
}

TEST_F(RetentionStoreTest, EventsGoByStatusAndTheirOwnAgeAndPendingOnesStay) {
  AppendResult delivered_old = Add("delivered-old", 31 * kDay);
  AppendResult delivered_young = Add("delivered-young", 29 * kDay);
  AppendResult failed_old = Add("failed-old", 91 * kDay, {"billing"});
  Attempt(failed_old, "billing", 91 * kDay, AttemptRecord::Next::kFailed);
  AppendResult failed_young = Add("failed-young", 89 * kDay, {"billing"});
  Attempt(failed_young, "billing", 89 * kDay, AttemptRecord::Next::kFailed);
  AppendResult pending_ancient = Add("pending-ancient", 400 * kDay, {"billing"});
  Attempt(pending_ancient, "billing", 400 * kDay, AttemptRecord::Next::kRetry);
  // Failed at one destination, still being tried at the other: not finished, so kept.
  AppendResult failed_in_flight = Add("failed-in-flight", 100 * kDay, {"billing", "crm"});
  Attempt(failed_in_flight, "billing", 100 * kDay, AttemptRecord::Next::kFailed);
  AppendResult delivered_forwarded = Add("delivered-forwarded", 40 * kDay, {"crm"});
  Attempt(delivered_forwarded, "crm", 40 * kDay, AttemptRecord::Next::kSucceeded);
  ASSERT_EQ(QueryText(path_, "SELECT status FROM events WHERE id = ?", failed_in_flight.id),
            "failed");
  ASSERT_EQ(QueryText(path_, "SELECT status FROM events WHERE id = ?", pending_ancient.id),
            "pending");
  ASSERT_EQ(QueryText(path_, "SELECT status FROM events WHERE id = ?", delivered_forwarded.id),
            "delivered");

  EXPECT_EQ(PruneAll(PruneTarget::kDeliveredEvents, 30 * kDay), 2);
  EXPECT_EQ(PruneAll(PruneTarget::kFailedEvents, 90 * kDay), 1);

  EXPECT_FALSE(EventExists(delivered_old));
  EXPECT_FALSE(EventExists(delivered_forwarded));
  EXPECT_FALSE(EventExists(failed_old));
  EXPECT_TRUE(EventExists(delivered_young));
  EXPECT_TRUE(EventExists(failed_young));
  EXPECT_TRUE(EventExists(pending_ancient));
  EXPECT_TRUE(EventExists(failed_in_flight));
  // The pruned events' deliveries and attempts went with them; the others' stayed.
  EXPECT_EQ(Count("SELECT count(*) FROM deliveries WHERE event_seq NOT IN (SELECT seq FROM "
                  "events)"),
            0);
  EXPECT_EQ(Count("SELECT count(*) FROM attempts WHERE delivery_id NOT IN (SELECT id FROM "
                  "deliveries)"),
            0);
  EXPECT_EQ(Count("SELECT count(*) FROM deliveries"), 4);  // young, ancient, in flight x2
  EXPECT_EQ(Count("SELECT count(*) FROM attempts"), 3);
  // A pruned seq is never handed out again.
  AppendResult next = Add("next", 0);
  EXPECT_GT(next.seq, delivered_forwarded.seq);
}

TEST_F(RetentionStoreTest, AttemptsAndRequestLogGoByTheirOwnAge) {
  AppendResult a = Add("a", 60 * kDay, {"billing"});
  Attempt(a, "billing", 60 * kDay, AttemptRecord::Next::kRetry);
  Attempt(a, "billing", 20 * kDay, AttemptRecord::Next::kRetry);
  Add("b", 10 * kDay);
  EXPECT_EQ(PruneAll(PruneTarget::kAttempts, 45 * kDay), 1);
  EXPECT_EQ(Count("SELECT count(*) FROM attempts"), 1);
  EXPECT_EQ(Count("SELECT started_at FROM attempts"), kNow - 20 * kDay);
  EXPECT_TRUE(EventExists(a));  // its delivery is pending: only old attempt rows went
  EXPECT_EQ(Count("SELECT count(*) FROM deliveries"), 1);

  EXPECT_EQ(PruneAll(PruneTarget::kRequestLog, 14 * kDay), 1);
  EXPECT_EQ(Count("SELECT count(*) FROM request_log"), 1);
  EXPECT_EQ(Count("SELECT received_at FROM request_log"), kNow - 10 * kDay);
}

TEST_F(RetentionStoreTest, KeysOutliveTheirEventsAndStillAnswerLateDuplicates) {
  AppendResult recent_gone = Add("recent-gone", 31 * kDay);    // event pruned, key young enough
  AppendResult old_gone = Add("old-gone", 40 * kDay);          // both old enough to go
  AppendResult pending = Add("pending", 400 * kDay, {"crm"});  // event kept: key kept
  ASSERT_EQ(PruneAll(PruneTarget::kDeliveredEvents, 30 * kDay), 2);
  EXPECT_EQ(PruneAll(PruneTarget::kIdempotencyKeys, 37 * kDay), 1);

  EXPECT_EQ(Count("SELECT count(*) FROM idempotency_keys WHERE key = 'old-gone'"), 0);
  EXPECT_EQ(Count("SELECT count(*) FROM idempotency_keys WHERE key = 'recent-gone'"), 1);
  EXPECT_EQ(Count("SELECT count(*) FROM idempotency_keys WHERE key = 'pending'"), 1);

  // A late retry of the pruned event is still answered as its duplicate, nothing stored.
  int64_t events_before = Count("SELECT count(*) FROM events");
  AppendResult late = Add("recent-gone", 0);
  EXPECT_TRUE(late.duplicate);
  EXPECT_EQ(late.id, recent_gone.id);
  EXPECT_EQ(late.seq, recent_gone.seq);
  AppendResult pending_retry = Add("pending", 0);
  EXPECT_TRUE(pending_retry.duplicate);
  EXPECT_EQ(pending_retry.id, pending.id);
  EXPECT_EQ(Count("SELECT count(*) FROM events"), events_before);
  // Once its key has gone too, the same key is a new event.
  AppendResult fresh = Add("old-gone", 0);
  EXPECT_FALSE(fresh.duplicate);
  EXPECT_NE(fresh.id, old_gone.id);
}

TEST_F(RetentionStoreTest, AuditLogAndConsumersAreNeverPruned) {
  AppendResult e = Add("e", 500 * kDay, {"billing"});
  Attempt(e, "billing", 500 * kDay, AttemptRecord::Next::kFailed);
  ReprocessSpec spec;
  spec.dry_run = true;
  spec.action = "reprocess_bulk";
  spec.target_json = "{}";
  clock_.Set(kNow - 500 * kDay);
  ASSERT_TRUE(
      stores_->operations->Reprocess(spec, {"ops", "operator", "old"}, kNow - 500 * kDay).ok());
  ASSERT_TRUE(stores_->operations->AckConsumer("warehouse", e.seq, kNow - 500 * kDay).ok());
  clock_.Set(kNow);
  for (PruneTarget t :
       {PruneTarget::kAttempts, PruneTarget::kRequestLog, PruneTarget::kDeliveredEvents,
        PruneTarget::kFailedEvents, PruneTarget::kIdempotencyKeys}) {
    PruneAll(t, 1 * kDay);
  }
  EXPECT_EQ(Count("SELECT count(*) FROM events"), 0);
  EXPECT_EQ(Count("SELECT count(*) FROM idempotency_keys"), 0);
  EXPECT_EQ(Count("SELECT count(*) FROM audit_log"), 1);
  EXPECT_EQ(Count("SELECT cursor FROM consumers WHERE name = 'warehouse'"), e.seq);
}

TEST_F(RetentionStoreTest, OneCallDeletesAtMostItsLimitInOneTransaction) {
  // 1,200 events over four ingest batches sharing a received time each (ties in the cursor).
  for (int b = 0; b < 4; ++b) {
    std::vector<IngestRecord> batch;
    for (int i = 0; i < 300; ++i) {
      NewEvent e;
      e.source = "s";
      e.idempotency_key = std::to_string(b) + "-" + std::to_string(i);
      e.received_at = kNow - 40 * kDay;
      e.headers_json = "{}";
      batch.push_back(IngestRecord{std::move(e), std::nullopt});
    }
    clock_.Set(kNow - 40 * kDay);
    ASSERT_TRUE(stores_->events->Append(batch).ok());
  }
  clock_.Set(kNow);
  auto first = stores_->retention->Prune(PruneTarget::kDeliveredEvents, kNow - 30 * kDay, kAll,
                                         PruneCursor{}, 500);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->deleted, 500);
  ASSERT_TRUE(first->next.has_value());
  EXPECT_EQ(Count("SELECT count(*) FROM events"), 700);
  auto second = stores_->retention->Prune(PruneTarget::kDeliveredEvents, kNow - 30 * kDay, kAll,
                                          *first->next, 500);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->deleted, 500);
  auto third = stores_->retention->Prune(PruneTarget::kDeliveredEvents, kNow - 30 * kDay, kAll,
                                         *second->next, 500);
  ASSERT_TRUE(third.ok());
  EXPECT_EQ(third->deleted, 200);
  EXPECT_FALSE(third->next.has_value());
  EXPECT_EQ(Count("SELECT count(*) FROM events"), 0);
  // The keys all share one created_at: the cursor's tie-break must still reach every one.
  EXPECT_EQ(PruneAll(PruneTarget::kIdempotencyKeys, 37 * kDay, 7), 1200);
  EXPECT_FALSE(stores_->retention->Prune(PruneTarget::kAttempts, kNow, kAll, PruneCursor{}, 0).ok());
}

TEST_F(RetentionStoreTest, KeptRowsAreNotLookedAtAgainInTheSameRound) {
  // 30 old keys whose events are still pending, then 5 whose events are gone.
  for (int i = 0; i < 30; ++i) Add("kept-" + std::to_string(i), 50 * kDay, {"crm"});
  for (int i = 0; i < 5; ++i) Add("gone-" + std::to_string(i), 45 * kDay);
  ASSERT_EQ(PruneAll(PruneTarget::kDeliveredEvents, 30 * kDay), 5);
  int64_t scanned = 0;
  int batches = 0;
  std::optional<PruneCursor> cursor = PruneCursor{};
  while (cursor) {
    auto batch =
        stores_->retention->Prune(PruneTarget::kIdempotencyKeys, kNow - 37 * kDay, kAll, *cursor, 10);
    ASSERT_TRUE(batch.ok());
    scanned += batch->scanned;
    ++batches;
    cursor = batch->next;
  }
  EXPECT_EQ(scanned, 35);
  EXPECT_EQ(batches, 4);
  EXPECT_EQ(Count("SELECT count(*) FROM idempotency_keys"), 30);
}

TEST_F(RetentionStoreTest, PruningAndIncrementalVacuumShrinkTheFile) {
  std::string body(8192, 'x');
  for (int b = 0; b < 10; ++b) {
    std::vector<IngestRecord> batch;
    for (int i = 0; i < 100; ++i) {
      NewEvent e;
      e.source = "s";
      e.idempotency_key = std::to_string(b) + "-" + std::to_string(i);
      e.received_at = kNow - 40 * kDay;
      e.headers_json = "{}";
      e.body = body;
      batch.push_back(IngestRecord{std::move(e), std::nullopt});
    }
    ASSERT_TRUE(stores_->events->Append(batch).ok());
  }
  int64_t pages_full = Count("PRAGMA page_count");
  ASSERT_GT(pages_full, 2000);  // ~8 MiB of bodies in 4 KiB pages
  ASSERT_EQ(PruneAll(PruneTarget::kDeliveredEvents, 30 * kDay), 1000);
  EXPECT_EQ(Count("PRAGMA page_count"), pages_full);  // deleting alone frees no file space
  int64_t free_pages = Count("PRAGMA freelist_count");
  ASSERT_GT(free_pages, 2000);

  int64_t page_size = Count("PRAGMA page_size");
  int64_t freed = 0;
  int steps = 0;
  while (true) {
    auto step = stores_->retention->ReclaimSpace(256 * page_size);
    ASSERT_TRUE(step.ok()) << step.status().ToString();
    EXPECT_LE(step->freed_bytes, 256 * page_size);
    EXPECT_EQ(step->remaining_bytes, Count("PRAGMA freelist_count") * page_size);
    freed += step->freed_bytes;
    ++steps;
    if (step->remaining_bytes == 0 || step->freed_bytes == 0) break;
  }
  EXPECT_EQ(freed, free_pages * page_size);
  EXPECT_GE(steps, static_cast<int>(free_pages / 256));
  EXPECT_EQ(Count("PRAGMA freelist_count"), 0);
  EXPECT_LE(Count("PRAGMA page_count"), pages_full - free_pages);

  // After a checkpoint the file itself is that small.
  {
    SQLite::Database db(path_, SQLite::OPEN_READWRITE);
    db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
  }
  EXPECT_LE(static_cast<int64_t>(std::filesystem::file_size(path_)),
            (pages_full - free_pages) * page_size);
  EXPECT_EQ(QueryText(path_, "PRAGMA integrity_check"), "ok");
}

}  // namespace
}  // namespace hookvault::storage
