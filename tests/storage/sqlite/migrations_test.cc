// Migration 0007 rebuilds deliveries (SQLite's table rebuild, with foreign keys off): a
// populated 0006 database keeps every event, delivery (id and every column), attempt and index,
// and its deliveries come out unordered and not held. Migration 0008 edits the status CHECK
// constraints of events and deliveries in place (no IN list, so no temporary B-tree per write):
// same rows, same values accepted and refused, another connection sees the new schema.
#include "storage/sqlite/migrations.h"

#include <SQLiteCpp/SQLiteCpp.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "storage/sqlite/database.h"
#include "tests/testing/temp_dir.h"

namespace hookvault::storage {
namespace {

int64_t QueryInt(SQLite::Database& db, const std::string& sql) {
  SQLite::Statement q(db, sql);
  return q.executeStep() ? q.getColumn(0).getInt64() : -1;
}

// A fingerprint of every column of deliveries and attempts that 0007 carries over.
constexpr char kDeliveriesSum[] =
    "SELECT count(*) || ':' || sum(id) || ':' || sum(event_seq) || ':' || sum(attempts) || ':' ||"
    " sum(next_attempt_at) || ':' || sum(lease_expires_at) || ':' || count(lease_expires_at) ||"
    " ':' || sum(length(last_error)) || ':' || sum(created_at) || ':' || sum(updated_at) || ':' ||"
    " sum(lease_token) || ':' || sum(requeued_at) || ':' || group_concat(status, ',') || ':' ||"
    " group_concat(destination, ',') FROM (SELECT * FROM deliveries ORDER BY id)";
constexpr char kAttemptsSum[] =
    "SELECT count(*) || ':' || sum(id) || ':' || sum(delivery_id) || ':' || sum(number) FROM"
    " attempts";

TEST(SqliteMigrationsTest, Migration0007KeepsEveryRowIdAttemptAndIndexOfAPopulatedDatabase) {
  hookvault::testing::TempDir dir;
  auto opened = OpenDatabase({.path = dir.File("m.db")});
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  SQLite::Database& db = **opened;
  const std::vector<Migration>& all = SqliteMigrations();
  ASSERT_GE(all.size(), 7u);
  ASSERT_EQ(all[6].name.substr(0, 4), "0007");
  const std::vector<Migration> up_to_6(all.begin(), all.begin() + 6);
  auto applied = ApplyMigrations(db, up_to_6);
  ASSERT_TRUE(applied.ok()) << applied.status().ToString();

  // 300 events, two deliveries each (every column set, statuses mixed), two attempts each.
  db.exec(R"sql(
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 300)
INSERT INTO events (seq, id, source, event_type, idempotency_key, received_at, remote_addr,
                    headers, body, status)
SELECT i, 'ev-' || i, 'shop', 't', 'k-' || i, 1000 + i, '127.0.0.1', '{}', x'7b7d',
       CASE i % 3 WHEN 0 THEN 'pending' WHEN 1 THEN 'delivered' ELSE 'failed' END
FROM n;
INSERT INTO deliveries (id, event_seq, destination, status, attempts, next_attempt_at,
                        lease_expires_at, last_error, created_at, updated_at, lease_token,
                        requeued_at)
SELECT 10 * seq + d.k, seq, 'dest' || d.k,
       CASE seq % 3 WHEN 0 THEN 'pending' WHEN 1 THEN 'succeeded' ELSE 'failed' END,
       seq % 5, 5000 + seq, CASE WHEN seq % 2 = 0 THEN 7000 + seq END, 'error ' || seq,
       2000 + seq, 3000 + seq, seq * 7 + d.k, CASE WHEN seq % 4 = 0 THEN 4000 + seq END
FROM events, (SELECT 1 AS k UNION ALL SELECT 2) d;
INSERT INTO attempts (delivery_id, number, started_at, duration_us, outcome, destination,
                      event_seq)
SELECT id, a.n, 6000 + id, 10, 'failure', destination, event_seq
FROM deliveries, (SELECT 1 AS n UNION ALL SELECT 2) a;
)sql");
  SQLite::Statement before_q(db, kDeliveriesSum);
  ASSERT_TRUE(before_q.executeStep());
  const std::string deliveries = before_q.getColumn(0).getString();
  before_q.reset();
  SQLite::Statement attempts_q(db, kAttemptsSum);
  ASSERT_TRUE(attempts_q.executeStep());
  const std::string attempts = attempts_q.getColumn(0).getString();
  attempts_q.reset();
  EXPECT_EQ(QueryInt(db, "SELECT count(*) FROM attempts"), 1200);

  applied = ApplyMigrations(db, all);
  ASSERT_TRUE(applied.ok()) << applied.status().ToString();
  ASSERT_FALSE(applied->empty());
  EXPECT_EQ(applied->front().substr(0, 4), "0007");

  SQLite::Statement after_q(db, kDeliveriesSum);
  ASSERT_TRUE(after_q.executeStep());
  EXPECT_EQ(after_q.getColumn(0).getString(), deliveries);
  after_q.reset();
  SQLite::Statement attempts_after(db, kAttemptsSum);
  ASSERT_TRUE(attempts_after.executeStep());
  EXPECT_EQ(attempts_after.getColumn(0).getString(), attempts) << "attempts lost";
  attempts_after.reset();
  EXPECT_EQ(QueryInt(db, "SELECT count(*) FROM events"), 300);
  EXPECT_EQ(QueryInt(db, "SELECT count(*) FROM deliveries WHERE order_key IS NULL AND held = 0"),
            600);
  EXPECT_EQ(QueryInt(db, "SELECT foreign_keys FROM pragma_foreign_keys"), 1);
  SQLite::Statement check(db, "PRAGMA foreign_key_check");
  EXPECT_FALSE(check.executeStep());
  check.reset();
  EXPECT_EQ(
      QueryInt(db, "SELECT count(*) FROM pragma_integrity_check WHERE integrity_check <> 'ok'"), 0);
  std::vector<std::string> indexes;
  SQLite::Statement idx(db,
                        "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name ="
                        " 'deliveries' AND name NOT LIKE 'sqlite_autoindex%' ORDER BY name");
  while (idx.executeStep()) indexes.push_back(idx.getColumn(0).getString());
  EXPECT_EQ(indexes, (std::vector<std::string>{"deliveries_created_at", "deliveries_destination_id",
                                               "deliveries_destination_status", "deliveries_due",
                                               "deliveries_held", "deliveries_key_head",
                                               "deliveries_order_key", "deliveries_pending_since",
                                               "deliveries_status"}));
  // Deleting an event still cascades into its deliveries and their attempts.
  db.exec("DELETE FROM events WHERE seq = 1");
  EXPECT_EQ(QueryInt(db, "SELECT count(*) FROM attempts WHERE event_seq = 1"), 0);
  EXPECT_EQ(QueryInt(db, "SELECT count(*) FROM deliveries WHERE event_seq = 1"), 0);
}

// The number of OpenEphemeral opcodes (temporary B-trees) in the program of `sql`.
int64_t EphemeralTables(SQLite::Database& db, const std::string& sql) {
  SQLite::Statement explain(db, "EXPLAIN " + sql);
  int64_t n = 0;
  while (explain.executeStep()) n += explain.getColumn(1).getString() == "OpenEphemeral";
  return n;
}

constexpr char kInsertEventSql[] =
    "INSERT INTO events (id, source, event_type, idempotency_key, received_at, remote_addr,"
    " headers, body, status) VALUES (?1, 's', 't', ?1, 1, 'a', '{}', x'7b7d', ?2)";
constexpr char kInsertDeliverySql[] =
    "INSERT INTO deliveries (event_seq, destination, status, next_attempt_at, created_at,"
    " updated_at) VALUES (?1, 'd', ?2, 1, 1, 1)";

// Inserts an event and a delivery with these statuses; returns whether SQLite accepted each.
std::pair<bool, bool> InsertWithStatuses(SQLite::Database& db, const std::string& event_id,
                                         const std::string& event_status,
                                         const std::string& delivery_status) {
  std::pair<bool, bool> ok{false, false};
  try {
    SQLite::Statement e(db, kInsertEventSql);
    e.bind(1, event_id);
    e.bind(2, event_status);
    e.exec();
    ok.first = true;
    SQLite::Statement d(db, kInsertDeliverySql);
    d.bind(1, db.getLastInsertRowid());
    d.bind(2, delivery_status);
    d.exec();
    ok.second = true;
  } catch (const SQLite::Exception&) {
  }
  return ok;
}

TEST(SqliteMigrationsTest, Migration0008ChecksStatusesWithoutATemporaryBtreeAndAcceptsTheSame) {
  hookvault::testing::TempDir dir;
  auto opened = OpenDatabase({.path = dir.File("m.db")});
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  SQLite::Database& db = **opened;
  const std::vector<Migration>& all = SqliteMigrations();
  ASSERT_GE(all.size(), 8u);
  ASSERT_EQ(all[7].name.substr(0, 4), "0008");
  auto applied = ApplyMigrations(db, std::vector<Migration>(all.begin(), all.begin() + 7));
  ASSERT_TRUE(applied.ok()) << applied.status().ToString();
  // Before: each status CHECK builds a temporary B-tree for its IN list.
  EXPECT_EQ(EphemeralTables(db, kInsertEventSql), 1);
  EXPECT_EQ(EphemeralTables(db, kInsertDeliverySql), 1);
  EXPECT_EQ(InsertWithStatuses(db, "before", "pending", "pending"), std::make_pair(true, true));
  const int64_t rows = QueryInt(db, "SELECT count(*) FROM events");
  // A second connection, open before the migration, must see the new schema after it.
  SQLite::Database other(dir.File("m.db"), SQLite::OPEN_READWRITE);
  EXPECT_EQ(EphemeralTables(other, kInsertEventSql), 1);

  applied = ApplyMigrations(db, all);
  ASSERT_TRUE(applied.ok()) << applied.status().ToString();
  ASSERT_EQ(applied->size(), 1u);
  EXPECT_EQ(applied->front().substr(0, 4), "0008");

  EXPECT_EQ(EphemeralTables(db, kInsertEventSql), 0);
  EXPECT_EQ(EphemeralTables(db, kInsertDeliverySql), 0);
  // Its next statement sees the bumped schema_version and parses the schema again (EXPLAIN
  // alone compiles with the schema it has cached, so a read comes first).
  EXPECT_EQ(QueryInt(other, "SELECT count(*) FROM events"), rows);
  EXPECT_EQ(EphemeralTables(other, kInsertEventSql), 0);
  EXPECT_EQ(EphemeralTables(other, "UPDATE deliveries SET status = ?1 WHERE id = ?2"), 0);
  EXPECT_EQ(QueryInt(db, "SELECT count(*) FROM events"), rows);
  EXPECT_EQ(
      QueryInt(db, "SELECT count(*) FROM pragma_integrity_check WHERE integrity_check <> 'ok'"), 0);
  // Every status the old constraints took is taken; anything else is refused, as before.
  int i = 0;
  for (const char* status : {"pending", "delivered", "failed"}) {
    EXPECT_TRUE(InsertWithStatuses(db, "e" + std::to_string(i++), status, "pending").first)
        << status;
  }
  for (const char* status : {"pending", "succeeded", "failed", "skipped"}) {
    EXPECT_EQ(InsertWithStatuses(db, "e" + std::to_string(i++), "pending", status),
              std::make_pair(true, true))
        << status;
  }
  for (const char* status : {"bogus", "Pending", "", "succeeded"}) {
    EXPECT_FALSE(InsertWithStatuses(db, "e" + std::to_string(i++), status, "pending").first)
        << status;
  }
  for (const char* status : {"bogus", "delivered", "SKIPPED"}) {
    EXPECT_EQ(InsertWithStatuses(db, "e" + std::to_string(i++), "pending", status),
              std::make_pair(true, false))
        << status;
  }
  EXPECT_THROW(db.exec("UPDATE deliveries SET status = 'done'"), SQLite::Exception);
}

TEST(SqliteMigrationsTest, ASchemaEditThatChangesNothingRollsBack) {
  hookvault::testing::TempDir dir;
  auto opened = OpenDatabase({.path = dir.File("m.db")});
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  SQLite::Database& db = **opened;
  std::vector<Migration> migrations(SqliteMigrations().begin(), SqliteMigrations().begin() + 7);
  ASSERT_TRUE(ApplyMigrations(db, migrations).ok());
  const int64_t version = QueryInt(db, "PRAGMA schema_version");
  // The replace() finds nothing to replace: the migration must fail, not be recorded.
  static const std::string kStale =
      "-- hookvault: schema-edit\n"
      "PRAGMA writable_schema = ON;\n"
      "UPDATE sqlite_schema SET sql = replace(sql, 'no such text', 'x')"
      " WHERE type = 'table' AND name = 'events';\n"
      "PRAGMA writable_schema = OFF;\n";
  migrations.push_back(Migration{"0099_stale_edit.sql", kStale});
  auto applied = ApplyMigrations(db, migrations);
  ASSERT_FALSE(applied.ok());
  EXPECT_NE(applied.status().message().find("events was not changed"), std::string::npos)
      << applied.status().ToString();
  EXPECT_EQ(QueryInt(db, "SELECT count(*) FROM schema_migrations WHERE name LIKE '0099%'"), 0);
  EXPECT_EQ(QueryInt(db, "PRAGMA schema_version"), version);
}

}  // namespace
}  // namespace hookvault::storage
