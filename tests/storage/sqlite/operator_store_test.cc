// SqliteOperatorStore (reprocess, consumer acks, the audit chain) on a real SQLite file with the
// real migrations; read back through SqliteQueryStore.
#include <SQLiteCpp/SQLiteCpp.h>
#include <gtest/gtest.h>

#include "storage/audit_chain.h"
#include "storage/operator_store.h"
#include "storage/sqlite/migrations.h"
#include "storage/query_store.h"
#include "storage/sqlite/query_store.h"
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

constexpr int64_t kT = 1'790'000'000'000'000;
constexpr int64_t kSecond = 1'000'000;

class OperatorStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    stores_ = hookvault::testing::OpenMigratedStore(path_, clock_);
    ASSERT_NE(stores_, nullptr);
    auto query = SqliteQueryStore::Open({.path = path_}, 1);
    ASSERT_TRUE(query.ok()) << query.status().ToString();
    query_ = std::move(query).value();

    // e1: billing failed (2 attempts), crm succeeded. e2: billing failed. e3: crm pending.
    e1_ = Add({"billing", "crm"});
    e2_ = Add({"billing"});
    e3_ = Add({"crm"});
    b1_ = DeliveryId(e1_.seq, "billing");
    c1_ = DeliveryId(e1_.seq, "crm");
    b2_ = DeliveryId(e2_.seq, "billing");
    c3_ = DeliveryId(e3_.seq, "crm");
    Attempt(b1_, AttemptRecord::Next::kRetry, 1);
    Attempt(b1_, AttemptRecord::Next::kFailed, 2);
    Attempt(c1_, AttemptRecord::Next::kSucceeded, 1);
    Attempt(b2_, AttemptRecord::Next::kFailed, 1);
    Attempt(c3_, AttemptRecord::Next::kRetry, 1);
  }

  AppendResult Add(std::vector<std::string> destinations) {
    NewEvent e;
    e.source = "alpha";
    e.event_type = "payment.received";
    e.idempotency_key = "k" + std::to_string(next_key_++);
    e.received_at = kT;
    e.remote_addr = "127.0.0.1";
    e.headers_json = "{}";
    e.body = "{}";
    e.destinations = std::move(destinations);
    std::vector<IngestRecord> batch = {IngestRecord{std::move(e), std::nullopt}};
    auto results = stores_->events->Append(batch);
    EXPECT_TRUE(results.ok());
    return *(*results)[0];
  }

  int64_t DeliveryId(int64_t seq, const std::string& destination) {
    SQLite::Database db(path_, SQLite::OPEN_READONLY);
    SQLite::Statement q(db, "SELECT id FROM deliveries WHERE event_seq = ? AND destination = ?");
    q.bind(1, static_cast<int64_t>(seq));
    q.bind(2, destination);
    return q.executeStep() ? q.getColumn(0).getInt64() : -1;
  }

  void Attempt(int64_t delivery_id, AttemptRecord::Next next, int number) {
    AttemptRecord a;
    a.delivery_id = delivery_id;
    a.number = number;
    a.started_at = kT + number;
    a.http_status = next == AttemptRecord::Next::kSucceeded ? 200 : 503;
    a.next = next;
    a.next_attempt_at = kT + 60 * kSecond;
    a.lease_token = hookvault::testing::LeaseForTest(path_, a.delivery_id);  // as a claim does
    std::vector<AttemptRecord> batch = {a};
    auto recorded = stores_->deliveries->RecordAttempts(batch);
    ASSERT_TRUE(recorded.ok()) << recorded.status().ToString();
    ASSERT_EQ(recorded->applied, 1);
  }

  std::string Status(int64_t delivery_id) {
    return QueryText(path_, "SELECT status FROM deliveries WHERE id = " +
                                std::to_string(delivery_id));
  }
  std::string EventStatus(const AppendResult& e) {
    return QueryText(path_, "SELECT status FROM events WHERE seq = " + std::to_string(e.seq));
  }

  static ReprocessSpec Spec(DeliveryFilter filter, bool dry_run = false,
                            std::vector<std::string> destinations = {}) {
    ReprocessSpec spec;
    spec.filter = std::move(filter);
    spec.destinations = std::move(destinations);
    spec.dry_run = dry_run;
    spec.action = "reprocess_bulk";
    spec.target_json = R"({"status":"failed"})";
    return spec;
  }

  // A whole run, in chunks of `max_rows` (the default takes the fixture's few rows in one).
  StatusOr<ReprocessResult> Reprocess(DeliveryFilter filter, bool dry_run = false,
                                      std::vector<std::string> destinations = {},
                                      size_t max_rows = 1000) {
    return stores_->operations->Reprocess(Spec(std::move(filter), dry_run, std::move(destinations)),
                                          kWho, now_, max_rows);
  }

  // Changes a delivery behind the store's back, as the scheduler would meanwhile.
  void SetStatus(int64_t delivery_id, const std::string& status) {
    SQLite::Database db(path_, SQLite::OPEN_READWRITE, 5000);
    SQLite::Statement u(db, "UPDATE deliveries SET status = ? WHERE id = ?");
    u.bind(1, status);
    u.bind(2, static_cast<int64_t>(delivery_id));
    ASSERT_EQ(u.exec(), 1);
  }

  const AuditActor kWho{"ops", "operator", "receiver fixed"};

  hookvault::testing::TempDir dir_;
  std::string path_ = dir_.File("hookvault.db");
  hookvault::testing::FakeClock clock_{kT};
  std::unique_ptr<SqliteStores> stores_;
  std::unique_ptr<SqliteQueryStore> query_;
  int next_key_ = 0;
  int64_t now_ = kT + 3600 * kSecond;
  AppendResult e1_, e2_, e3_;
  int64_t b1_ = 0, c1_ = 0, b2_ = 0, c3_ = 0;
};

TEST_F(OperatorStoreTest, ReprocessEventRequeuesItsFailedDeliveriesAndKeepsHistory) {
  ASSERT_EQ(EventStatus(e1_), "failed");
  auto r = Reprocess({.status = "failed", .event_id = e1_.id});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->matched, 1);
  EXPECT_EQ(r->requeued, 1);
  EXPECT_EQ(r->audit_id, 1);

  EXPECT_EQ(Status(b1_), "pending");
  EXPECT_EQ(Status(c1_), "succeeded");  // not failed: untouched
  EXPECT_EQ(Status(b2_), "failed");     // another event
  std::string id = std::to_string(b1_);
  EXPECT_EQ(QueryInt(path_, "SELECT attempts FROM deliveries WHERE id = " + id), 0);
  EXPECT_EQ(QueryInt(path_, "SELECT next_attempt_at FROM deliveries WHERE id = " + id), now_);
  EXPECT_EQ(QueryInt(path_, "SELECT updated_at FROM deliveries WHERE id = " + id), now_);
  EXPECT_EQ(QueryInt(path_, "SELECT lease_expires_at IS NULL FROM deliveries WHERE id = " + id),
            1);
  EXPECT_EQ(QueryInt(path_, "SELECT count(*) FROM attempts WHERE delivery_id = " + id), 2);
  EXPECT_EQ(EventStatus(e1_), "pending");  // refreshed: no delivery failed any more
  EXPECT_EQ(EventStatus(e2_), "failed");

  // The attempt count restarts: the next claim is attempt 1 again.
  auto due = stores_->deliveries->ClaimDue("billing", 10, now_, now_ + 30 * kSecond);
  ASSERT_TRUE(due.ok());
  ASSERT_EQ(due->size(), 1u);
  EXPECT_EQ((*due)[0].delivery_id, b1_);
  EXPECT_EQ((*due)[0].attempt, 1);
}

TEST_F(OperatorStoreTest, ReprocessWithoutStatusTakesFailedAndSucceededNeverPending) {
  // e3's crm delivery is pending and leased (in flight): it must stay exactly as it is.
  auto claimed = stores_->deliveries->ClaimDue("crm", 10, now_, now_ + 30 * kSecond);
  ASSERT_TRUE(claimed.ok());
  ASSERT_EQ(claimed->size(), 1u);
  auto r = Reprocess({});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->matched, 3);  // b1 c1 b2
  EXPECT_EQ(r->requeued, 3);
  EXPECT_EQ(Status(c1_), "pending");
  EXPECT_EQ(QueryInt(path_, "SELECT lease_expires_at FROM deliveries WHERE id = " +
                                std::to_string(c3_)),
            now_ + 30 * kSecond);
  EXPECT_EQ(QueryInt(path_, "SELECT attempts FROM deliveries WHERE id = " + std::to_string(c3_)),
            1);

  auto pending_only = Reprocess({.status = "pending"});
  ASSERT_TRUE(pending_only.ok());
  EXPECT_EQ(pending_only->matched, 0);
  EXPECT_FALSE(Reprocess({.status = "bogus"}).ok());
}

TEST_F(OperatorStoreTest, BulkReprocessByFilterAndDestinations) {
  auto by_destination = Reprocess({.destination = "billing", .status = "failed"}, true);
  ASSERT_TRUE(by_destination.ok());
  EXPECT_EQ(by_destination->matched, 2);

  // The destination list narrows: crm has no failed delivery.
  auto crm_only = Reprocess({.status = "failed"}, true, {"crm"});
  ASSERT_TRUE(crm_only.ok());
  EXPECT_EQ(crm_only->matched, 0);
  // A destination list that disagrees with the filter's destination matches nothing.
  auto disjoint = Reprocess({.destination = "billing"}, true, {"crm"});
  ASSERT_TRUE(disjoint.ok());
  EXPECT_EQ(disjoint->matched, 0);
  // Duplicates in the list count once.
  auto twice = Reprocess({.status = "failed"}, true, {"billing", "billing"});
  ASSERT_TRUE(twice.ok());
  EXPECT_EQ(twice->matched, 2);
  // Created-time window: all deliveries were created at kT.
  auto window = Reprocess({.status = "failed", .created_after = kT + 1}, true);
  ASSERT_TRUE(window.ok());
  EXPECT_EQ(window->matched, 0);

  auto r = Reprocess({.destination = "billing", .status = "failed", .created_before = kT + 1});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->matched, 2);
  EXPECT_EQ(r->requeued, 2);
  EXPECT_EQ(Status(b1_), "pending");
  EXPECT_EQ(Status(b2_), "pending");
  EXPECT_EQ(EventStatus(e2_), "pending");
  auto failed = query_->ListDeliveries({.status = "failed"}, Page{});
  ASSERT_TRUE(failed.ok());
  EXPECT_TRUE(failed->empty());
}

TEST_F(OperatorStoreTest, DryRunCountsChangesNothingAndIsAudited) {
  std::string before =
      QueryText(path_, "SELECT group_concat(status || attempts || next_attempt_at) FROM deliveries");
  auto r = Reprocess({.status = "failed"}, /*dry_run=*/true);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->matched, 2);
  EXPECT_EQ(r->requeued, 0);
  EXPECT_EQ(QueryText(path_,
                      "SELECT group_concat(status || attempts || next_attempt_at) FROM deliveries"),
            before);
  EXPECT_EQ(EventStatus(e1_), "failed");
  auto audit = query_->ListAudit({}, Page{});
  ASSERT_TRUE(audit.ok());
  ASSERT_EQ(audit->size(), 1u);
  const AuditRow& row = (*audit)[0];
  EXPECT_EQ(row.id, r->audit_id);
  EXPECT_EQ(row.at, now_);
  EXPECT_EQ(row.actor, "ops");
  EXPECT_EQ(row.role, "operator");
  EXPECT_EQ(row.action, "reprocess_bulk");
  EXPECT_EQ(row.target_json, R"({"status":"failed"})");
  EXPECT_EQ(row.matched, 2);
  EXPECT_EQ(row.requeued, 0);
  EXPECT_EQ(row.reason, "receiver fixed");
  EXPECT_EQ(row.prev_hash, "");
  EXPECT_EQ(row.hash, AuditHash("", row));
}

// A run of several chunks: the same deliveries as in one chunk, and two audit rows, the first
// committed with the first chunk's changes.
TEST_F(OperatorStoreTest, AChunkedRunAuditsItsStartWithItsFirstChunkAndItsTotalsAtTheEnd) {
  auto r = Reprocess({}, /*dry_run=*/false, {}, /*max_rows=*/1);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->matched, 3);  // b1 c1 b2
  EXPECT_EQ(r->requeued, 3);
  EXPECT_EQ(Status(b1_), "pending");
  EXPECT_EQ(Status(c1_), "pending");
  EXPECT_EQ(Status(b2_), "pending");
  EXPECT_EQ(EventStatus(e1_), "pending");
  EXPECT_EQ(EventStatus(e2_), "pending");
  auto audit = query_->ListAudit({}, Page{});
  ASSERT_TRUE(audit.ok());
  ASSERT_EQ(audit->size(), 2u);
  EXPECT_EQ((*audit)[1].action, "reprocess_bulk_started");
  EXPECT_EQ((*audit)[1].matched, 0);
  EXPECT_EQ((*audit)[1].requeued, 0);
  EXPECT_EQ((*audit)[1].target_json, R"({"status":"failed"})");
  EXPECT_EQ((*audit)[1].reason, "receiver fixed");
  EXPECT_EQ((*audit)[0].action, "reprocess_bulk");
  EXPECT_EQ((*audit)[0].id, r->audit_id);
  EXPECT_EQ((*audit)[0].matched, 3);
  EXPECT_EQ((*audit)[0].requeued, 3);
  auto verified = query_->VerifyAudit();
  ASSERT_TRUE(verified.ok());
  EXPECT_TRUE(verified->ok);

  // Nothing is failed or succeeded any more: one chunk, one row.
  auto again = Reprocess({}, false, {}, 1);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->matched, 0);
  EXPECT_EQ(QueryInt(path_, "SELECT count(*) FROM audit_log"), 3);
}

// The walk goes down the ids once for all the statuses it matches, below the highest id at its
// start: a delivery it requeued is not matched again when the scheduler finishes it meanwhile
// (as "succeeded", a status the run also matches), nor is a delivery created during the run.
TEST_F(OperatorStoreTest, ARunLooksAtEachDeliveryOnceWhateverHappensMeanwhile) {
  ASSERT_LT(b1_, c1_);
  ASSERT_LT(c1_, b2_);
  ReprocessSpec spec = Spec({});  // failed and succeeded
  auto first = stores_->operations->ReprocessChunk(spec, kWho, {}, 1, now_);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_FALSE(first->done);
  EXPECT_EQ(first->requeued, 1);
  EXPECT_EQ(first->started_audit_id, 1);
  EXPECT_EQ(Status(b2_), "pending");  // the newest first

  SetStatus(b2_, "succeeded");  // delivered meanwhile
  AppendResult e4 = Add({"billing"});
  int64_t b4 = DeliveryId(e4.seq, "billing");
  SetStatus(b4, "failed");  // created (and failed) meanwhile

  ReprocessProgress progress = *first;
  while (!progress.done) {
    auto next = stores_->operations->ReprocessChunk(spec, kWho, progress, 1, now_);
    ASSERT_TRUE(next.ok()) << next.status().ToString();
    progress = *next;
  }
  EXPECT_EQ(progress.matched, 3);
  EXPECT_EQ(progress.requeued, 3);
  EXPECT_EQ(Status(b2_), "succeeded");
  EXPECT_EQ(Status(b4), "failed");
  EXPECT_EQ(Status(c1_), "pending");
  EXPECT_EQ(Status(b1_), "pending");
  EXPECT_EQ(QueryInt(path_, "SELECT matched FROM audit_log WHERE id = " +
                                std::to_string(progress.audit_id)),
            3);
}

// The dry run's count on a reader (QueryStore::CountDeliveries) agrees with what the writer's
// walk matches, for every kind of filter.
TEST_F(OperatorStoreTest, TheReaderCountMatchesTheWalkForEveryFilter) {
  Attempt(c3_, AttemptRecord::Next::kFailed, 2);
  const std::vector<ReprocessSpec> specs = {
      Spec({}),
      Spec({.status = "failed"}),
      Spec({.status = "succeeded"}),
      Spec({.status = "pending"}),
      Spec({.destination = "billing"}),
      Spec({.destination = "crm", .status = "failed"}),
      Spec({.status = "failed"}, false, {"crm", "billing"}),
      Spec({.destination = "billing"}, false, {"crm"}),
      Spec({.event_id = e1_.id}),
      Spec({.status = "failed", .event_id = e3_.id}),
      Spec({.created_after = kT}),
      Spec({.created_after = kT + 1}),
      Spec({.status = "failed", .created_before = kT + 1}),
      Spec({.destination = "crm", .created_after = kT - 1, .created_before = kT + 1}),
  };
  for (size_t i = 0; i < specs.size(); ++i) {
    auto filters = ReprocessFilters(specs[i]);
    ASSERT_TRUE(filters.ok());
    auto counted = query_->CountDeliveries(*filters);
    ASSERT_TRUE(counted.ok()) << counted.status().ToString();
    ReprocessSpec dry = specs[i];
    dry.dry_run = true;
    for (size_t rows : {size_t{1}, size_t{2}, size_t{1000}}) {
      auto walked = stores_->operations->Reprocess(dry, kWho, now_, rows);
      ASSERT_TRUE(walked.ok()) << walked.status().ToString();
      EXPECT_EQ(walked->matched, *counted) << "spec " << i << ", chunks of " << rows;
    }
  }
  EXPECT_EQ(query_->CountDeliveries(*ReprocessFilters(Spec({}))).value(), 4);
  EXPECT_FALSE(ReprocessFilters(Spec({.status = "bogus"})).ok());
}

TEST_F(OperatorStoreTest, AckConsumerNeverMovesBackwards) {
  auto first = stores_->operations->AckConsumer("warehouse", 10, kT + 1);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(*first, 10);
  auto back = stores_->operations->AckConsumer("warehouse", 5, kT + 2);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, 10);
  auto same = stores_->operations->AckConsumer("warehouse", 10, kT + 3);
  ASSERT_TRUE(same.ok());
  EXPECT_EQ(*same, 10);
  auto forward = stores_->operations->AckConsumer("warehouse", 12, kT + 4);
  ASSERT_TRUE(forward.ok());
  EXPECT_EQ(*forward, 12);
  auto other = stores_->operations->AckConsumer("analytics", 1, kT + 5);
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(*other, 1);
  auto got = query_->GetConsumer("warehouse");
  ASSERT_TRUE(got.ok());
  ASSERT_TRUE(got->has_value());
  EXPECT_EQ((*got)->cursor, 12);
  EXPECT_EQ((*got)->updated_at, kT + 4);
}

class AuditChainTest : public OperatorStoreTest {
 protected:
  void SetUp() override {
    OperatorStoreTest::SetUp();
    for (int i = 0; i < 3; ++i) {
      now_ += kSecond;
      ASSERT_TRUE(Reprocess({.status = "failed"}, /*dry_run=*/i != 1).ok());
    }
  }
};

TEST_F(AuditChainTest, AGoodChainVerifiesAndListsNewestFirst) {
  auto v = query_->VerifyAudit();
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_TRUE(v->ok);
  EXPECT_EQ(v->rows, 3);
  EXPECT_FALSE(v->first_bad.has_value());

  auto rows = query_->ListAudit({}, Page{});
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 3u);
  EXPECT_EQ((*rows)[0].id, 3);
  EXPECT_EQ((*rows)[0].prev_hash, (*rows)[1].hash);
  EXPECT_EQ((*rows)[1].prev_hash, (*rows)[2].hash);
  EXPECT_EQ((*rows)[1].requeued, 2);  // the one real run
  EXPECT_EQ((*rows)[0].matched, 0);   // nothing failed any more

  auto page = query_->ListAudit({}, Page{2, 3});
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->size(), 2u);
  EXPECT_EQ((*page)[0].id, 2);
  auto window = query_->ListAudit({.after = (*rows)[1].at, .before = (*rows)[0].at}, Page{});
  ASSERT_TRUE(window.ok());
  ASSERT_EQ(window->size(), 1u);
  EXPECT_EQ((*window)[0].id, 2);
}

// An action that changes nothing stored (a test event) continues the same chain.
TEST_F(AuditChainTest, AnActionRowContinuesTheChain) {
  auto id = stores_->operations->AuditAction(
      {"ops", "operator", "after the cert change"}, "destination.test",
      R"({"destination":"billing","status":200})", now_ + kSecond);
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  EXPECT_EQ(*id, 4);
  auto rows = query_->ListAudit({}, Page{});
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 4u);
  const AuditRow& row = (*rows)[0];
  EXPECT_EQ(row.action, "destination.test");
  EXPECT_EQ(row.actor, "ops");
  EXPECT_EQ(row.role, "operator");
  EXPECT_EQ(row.reason, "after the cert change");
  EXPECT_EQ(row.target_json, R"({"destination":"billing","status":200})");
  EXPECT_EQ(row.matched, 0);
  EXPECT_EQ(row.requeued, 0);
  EXPECT_EQ(row.prev_hash, (*rows)[1].hash);
  auto v = query_->VerifyAudit();
  ASSERT_TRUE(v.ok());
  EXPECT_TRUE(v->ok);
  EXPECT_EQ(v->rows, 4);
}

TEST_F(AuditChainTest, TriggersRefuseUpdateAndDelete) {
  SQLite::Database db(path_, SQLite::OPEN_READWRITE);
  EXPECT_THROW(db.exec("UPDATE audit_log SET reason = 'x' WHERE id = 2"), SQLite::Exception);
  EXPECT_THROW(db.exec("DELETE FROM audit_log WHERE id = 2"), SQLite::Exception);
  EXPECT_EQ(QueryInt(path_, "SELECT count(*) FROM audit_log"), 3);
}

TEST_F(AuditChainTest, AnEditedRowIsTheFirstBad) {
  {
    SQLite::Database db(path_, SQLite::OPEN_READWRITE);
    db.exec("DROP TRIGGER audit_log_no_update");
    db.exec("UPDATE audit_log SET requeued = 0 WHERE id = 2");
  }
  auto v = query_->VerifyAudit();
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_FALSE(v->ok);
  EXPECT_EQ(v->rows, 3);
  EXPECT_EQ(v->first_bad, 2);
}

TEST_F(AuditChainTest, ARemovedRowBreaksTheLinkOfTheNext) {
  {
    SQLite::Database db(path_, SQLite::OPEN_READWRITE);
    db.exec("DROP TRIGGER audit_log_no_delete");
    db.exec("DELETE FROM audit_log WHERE id = 2");
  }
  auto v = query_->VerifyAudit();
  ASSERT_TRUE(v.ok());
  EXPECT_FALSE(v->ok);
  EXPECT_EQ(v->rows, 2);
  EXPECT_EQ(v->first_bad, 3);
}

TEST_F(AuditChainTest, ARehashedRowStillBreaksTheChainAfterIt) {
  // Whoever edits a row and recomputes its hash must also rewrite every later row.
  {
    SQLite::Database db(path_, SQLite::OPEN_READWRITE);
    db.exec("DROP TRIGGER audit_log_no_update");
    auto rows = query_->ListAudit({}, Page{});
    ASSERT_TRUE(rows.ok());
    AuditRow row = (*rows)[1];  // id 2
    row.reason = "nothing to see";
    SQLite::Statement u(db, "UPDATE audit_log SET reason = ?, hash = ? WHERE id = 2");
    u.bind(1, row.reason);
    u.bind(2, AuditHash(row.prev_hash, row));
    u.exec();
  }
  auto v = query_->VerifyAudit();
  ASSERT_TRUE(v.ok());
  EXPECT_FALSE(v->ok);
  EXPECT_EQ(v->first_bad, 3);
}

TEST(AuditHashTest, CanonicalFormIsUnambiguousAndHashIsHexSha256) {
  AuditRow a;
  a.id = 1;
  a.at = 2;
  a.actor = "ab";
  a.role = "c";
  a.action = "x";
  a.target_json = "{}";
  AuditRow b = a;
  b.actor = "a";
  b.role = "bc";
  EXPECT_NE(AuditCanonical(a), AuditCanonical(b));
  EXPECT_EQ(AuditCanonical(a), "1:11:22:ab1:c1:x2:{}1:01:00:");
  std::string h = AuditHash("", a);
  EXPECT_EQ(h.size(), 64u);
  EXPECT_EQ(h.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_NE(AuditHash("00", a), h);
  a.hash = "ignored";
  a.prev_hash = "ignored too";
  EXPECT_EQ(AuditHash("", a), h);  // the hashes are not hashed
  // sha256("" + "1:11:22:ab1:c1:x2:{}1:01:00:"), computed with `printf %s ... | sha256sum`.
  EXPECT_EQ(h, "3e4e1fc1b9012434a5e25fff579570e712342e607c712aefea35acf8a3fcaaae");
}

TEST(Migration0002Test, BackfillsAttemptsWithDestinationAndEvent) {
  hookvault::testing::TempDir dir;
  std::string path = dir.File("m.db");
  auto db = OpenDatabase({.path = path});
  ASSERT_TRUE(db.ok());
  std::vector<Migration> first = {SqliteMigrations().at(0)};
  ASSERT_TRUE(ApplyMigrations(**db, first).ok());
  (*db)->exec(R"sql(
    INSERT INTO events (seq, id, source, event_type, idempotency_key, received_at, remote_addr,
                        headers, body) VALUES (7, 'e7', 's', 't', 'k', 1, 'r', '{}', '{}');
    INSERT INTO deliveries (id, event_seq, destination, next_attempt_at, created_at, updated_at)
    VALUES (3, 7, 'billing', 1, 1, 1);
    INSERT INTO attempts (delivery_id, number, started_at, duration_us, outcome)
    VALUES (3, 1, 1, 1, 'failure');
  )sql");
  auto applied = ApplyMigrations(**db, SqliteMigrations());
  ASSERT_TRUE(applied.ok()) << applied.status().ToString();
  EXPECT_EQ(QueryText(path, "SELECT destination FROM attempts"), "billing");
  EXPECT_EQ(QueryInt(path, "SELECT event_seq FROM attempts"), 7);
}

}  // namespace
}  // namespace hookvault::storage
