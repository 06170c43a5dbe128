// SqliteEventLog on a real SQLite file with the real migrations.
#include "storage/sqlite/event_log.h"

#include <SQLiteCpp/SQLiteCpp.h>
#include <gtest/gtest.h>

#include "storage/sqlite/migrations.h"
#include "tests/testing/db.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/test_store.h"

namespace hookvault::storage {
namespace {

using hookvault::testing::QueryInt;
using hookvault::testing::QueryText;

IngestRecord Event(const std::string& source, const std::string& key,
                   std::vector<std::string> destinations = {}, std::string body = "{}") {
  NewEvent e;
  e.source = source;
  e.event_type = "payment.received";
  e.idempotency_key = key;
  e.received_at = 1'790'000'000'000'000;
  e.remote_addr = "127.0.0.1";
  e.headers_json = R"({"content-type":"application/json"})";
  e.body = std::move(body);
  e.destinations = std::move(destinations);
  RequestLogEntry log;
  log.received_at = e.received_at;
  log.source = source;
  log.remote_addr = "127.0.0.1";
  log.status = 200;
  log.reason = "stored";
  log.body_bytes = static_cast<int64_t>(e.body.size());
  return IngestRecord{std::move(e), std::move(log)};
}

class SqliteEventLogTest : public ::testing::Test {
 protected:
  void SetUp() override { Open(0); }
  void Open(int64_t max_db_bytes) {
    log_ = nullptr;
    stores_.reset();
    stores_ = hookvault::testing::OpenMigratedStore(path_, clock_, max_db_bytes);
    ASSERT_NE(stores_, nullptr);
    log_ = stores_->events.get();
  }

  hookvault::testing::TempDir dir_;
  std::string path_ = dir_.File("hookvault.db");
  hookvault::testing::FakeClock clock_;
  std::unique_ptr<SqliteStores> stores_;
  SqliteEventLog* log_ = nullptr;  // stores_->events
};

TEST(MigrationsTest, ApplyEveryMigrationOnceAndRecordIt) {
  hookvault::testing::TempDir dir;
  auto db = OpenDatabase({.path = dir.File("m.db")});
  ASSERT_TRUE(db.ok());
  auto first = ApplyMigrations(**db, SqliteMigrations());
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->size(), SqliteMigrations().size());
  EXPECT_FALSE(SqliteMigrations().empty());
  auto second = ApplyMigrations(**db, SqliteMigrations());
  ASSERT_TRUE(second.ok());
  EXPECT_TRUE(second->empty());
  EXPECT_EQ(QueryInt(dir.File("m.db"), "SELECT count(*) FROM schema_migrations"),
            static_cast<int64_t>(SqliteMigrations().size()));
  EXPECT_EQ(QueryText(dir.File("m.db"), "PRAGMA journal_mode"), "wal");
}

TEST(MigrationsTest, AFailingMigrationIsRolledBackAndReported) {
  hookvault::testing::TempDir dir;
  auto db = OpenDatabase({.path = dir.File("m.db")});
  ASSERT_TRUE(db.ok());
  std::vector<Migration> migrations = {
      {"0001_create_a.sql", "CREATE TABLE a (x INTEGER);"},
      {"0002_broken.sql", "CREATE TABLE b (y INTEGER); INSERT INTO nowhere VALUES (1);"}};
  auto result = ApplyMigrations(**db, migrations);
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.status().message().find("0002_broken.sql"), std::string::npos);
  EXPECT_EQ(QueryInt(dir.File("m.db"), "SELECT count(*) FROM sqlite_master WHERE name = 'a'"), 1);
  EXPECT_EQ(QueryInt(dir.File("m.db"), "SELECT count(*) FROM sqlite_master WHERE name = 'b'"), 0);
  EXPECT_EQ(QueryInt(dir.File("m.db"), "SELECT count(*) FROM schema_migrations"), 1);
}

TEST_F(SqliteEventLogTest, AppendStoresEventsWithIncreasingIdsAndSeqs) {
  std::vector<IngestRecord> batch = {Event("s", "k1", {"billing", "crm"}), Event("s", "k2"),
                                     Event("t", "k1")};
  auto results = log_->Append(batch);
  ASSERT_TRUE(results.ok()) << results.status().ToString();
  ASSERT_EQ(results->size(), 3u);
  for (const auto& r : *results) {
    ASSERT_TRUE(r.has_value());
    EXPECT_FALSE(r->duplicate);
  }
  EXPECT_LT((*results)[0]->seq, (*results)[1]->seq);
  EXPECT_LT((*results)[0]->id, (*results)[1]->id);
  EXPECT_LT((*results)[1]->id, (*results)[2]->id);  // same key, other source: a new event
  EXPECT_EQ(QueryInt(path_, "SELECT count(*) FROM events"), 3);
  EXPECT_EQ(QueryInt(path_, "SELECT count(*) FROM deliveries WHERE status = 'pending'"), 2);
  EXPECT_EQ(QueryText(path_, "SELECT status FROM events WHERE id = ?", (*results)[0]->id),
            "pending");
  EXPECT_EQ(QueryText(path_, "SELECT status FROM events WHERE id = ?", (*results)[1]->id),
            "delivered");  // no destination: nothing to forward
  EXPECT_EQ(QueryInt(path_, "SELECT count(*) FROM request_log WHERE event_id IS NOT NULL"), 3);
}

TEST_F(SqliteEventLogTest, DuplicateKeysInOneBatchAndAcrossBatchesStoreOneEvent) {
  std::vector<IngestRecord> batch = {Event("s", "same", {"billing"}),
                                     Event("s", "same", {"billing"})};
  auto results = log_->Append(batch);
  ASSERT_TRUE(results.ok());
  EXPECT_FALSE((*results)[0]->duplicate);
  EXPECT_TRUE((*results)[1]->duplicate);
  EXPECT_EQ((*results)[1]->id, (*results)[0]->id);
  EXPECT_EQ((*results)[1]->seq, (*results)[0]->seq);

  std::vector<IngestRecord> later = {Event("s", "same", {"billing"})};
  auto again = log_->Append(later);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE((*again)[0]->duplicate);
  EXPECT_EQ((*again)[0]->id, (*results)[0]->id);
  EXPECT_EQ(QueryInt(path_, "SELECT count(*) FROM events"), 1);
  EXPECT_EQ(QueryInt(path_, "SELECT count(*) FROM deliveries"), 1);
  EXPECT_EQ(QueryInt(path_, "SELECT count(*) FROM request_log WHERE reason = 'duplicate'"), 2);
}

// The writer restarts the WAL with a checkpoint on this connection between batches
// (storage/sqlite/wal_checkpointer.h); a statement left active by a batch would make it fail
// with SQLITE_LOCKED, and the -wal file would keep growing.
TEST_F(SqliteEventLogTest, ABatchWithADuplicateLeavesNoStatementActive) {
  std::vector<IngestRecord> first = {Event("s", "same")};
  ASSERT_TRUE(log_->Append(first).ok());
  std::vector<IngestRecord> again = {Event("s", "same")};
  auto results = log_->Append(again);
  ASSERT_TRUE(results.ok());
  ASSERT_TRUE((*results)[0]->duplicate);
  Status checkpoint = stores_->connection->CheckpointWal();
  EXPECT_TRUE(checkpoint.ok()) << checkpoint.ToString();
}

TEST_F(SqliteEventLogTest, RawBodyBytesAreKeptExactly) {
  std::string body("{\"a\": \"\xc3\xa9\" ,\n\t\"b\":[1 ,2]}\0tail", 30);
  std::vector<IngestRecord> batch = {Event("s", "raw", {}, body)};
  auto results = log_->Append(batch);
  ASSERT_TRUE(results.ok());
  SQLite::Database db(path_, SQLite::OPEN_READONLY);
  SQLite::Statement q(db, "SELECT body FROM events WHERE id = ?");
  q.bind(1, (*results)[0]->id);
  ASSERT_TRUE(q.executeStep());
  SQLite::Column c = q.getColumn(0);
  EXPECT_EQ(std::string(static_cast<const char*>(c.getBlob()), c.getBytes()), body);
}

TEST_F(SqliteEventLogTest, LogOnlyRecordsAreWrittenWithoutEvents) {
  IngestRecord rejected;
  rejected.log = RequestLogEntry{1, "s", "10.0.0.1", 401, "unauthenticated", std::nullopt, 12};
  std::vector<IngestRecord> batch = {rejected};
  auto results = log_->Append(batch);
  ASSERT_TRUE(results.ok());
  EXPECT_FALSE((*results)[0].has_value());
  EXPECT_EQ(QueryInt(path_, "SELECT count(*) FROM events"), 0);
  EXPECT_EQ(QueryInt(path_, "SELECT status FROM request_log WHERE reason = 'unauthenticated'"),
            401);
}

TEST_F(SqliteEventLogTest, AFullDatabaseFailsTheWholeBatchWithUnavailable) {
  Open(256 << 10);
  std::string pad(2000, 'x');
  int stored = 0;
  Status failure;
  for (int i = 0; i < 1000 && failure.ok(); ++i) {
    std::vector<IngestRecord> batch = {Event("s", "a" + std::to_string(i), {"d"}, pad),
                                       Event("s", "b" + std::to_string(i), {"d"}, pad)};
    auto results = log_->Append(batch);
    if (results.ok()) {
      stored += 2;
    } else {
      failure = results.status();
    }
  }
  ASSERT_FALSE(failure.ok()) << "the database never filled up";
  EXPECT_EQ(failure.code(), StatusCode::kUnavailable) << failure.ToString();
  EXPECT_EQ(QueryInt(path_, "SELECT count(*) FROM events"), stored);  // no half batch
  EXPECT_EQ(QueryInt(path_, "SELECT count(*) FROM idempotency_keys"), stored);
  EXPECT_FALSE(log_->Probe().ok());
  // The log stays usable: a later batch that fits (a log row) still commits.
  Open(0);
  EXPECT_TRUE(log_->Probe().ok());
  std::vector<IngestRecord> batch = {Event("s", "after")};
  EXPECT_TRUE(log_->Append(batch).ok());
}

}  // namespace
}  // namespace hookvault::storage
