// A database made before the migrations moved to migrations/sqlite/ opens and migrates as
// before: the runner recognises every migration it recorded by name, applies only what is new,
// and the rows stay readable. The fixture is the text dump of a database made by the binary of
// commit 9a5a9d1 (testdata/database_9a5a9d1.sql says how).
#include <SQLiteCpp/SQLiteCpp.h>
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "storage/sqlite/database.h"
#include "storage/sqlite/migrations.h"
#include "storage/sqlite/query_store.h"
#include "tests/testing/db.h"
#include "tests/testing/temp_dir.h"

namespace hookvault::storage {
namespace {

using hookvault::testing::QueryInt;
using hookvault::testing::QueryText;

// Builds the fixture's database file at `path` from its dump.
void LoadFixture(const std::string& path) {
  std::ifstream in(std::string(HOOKVAULT_SOURCE_DIR) +
                   "/tests/storage/sqlite/testdata/database_9a5a9d1.sql");
  ASSERT_TRUE(in) << "fixture missing";
  std::stringstream dump;
  dump << in.rdbuf();
  SQLite::Database db(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
  db.exec(dump.str());
}

std::vector<std::string> Recorded(const std::string& path) {
  SQLite::Database db(path, SQLite::OPEN_READONLY);
  SQLite::Statement s(db, "SELECT name FROM schema_migrations ORDER BY name");
  std::vector<std::string> names;
  while (s.executeStep()) names.push_back(s.getColumn(0).getString());
  return names;
}

TEST(PreMoveDatabaseTest, OpensWithNothingToApplyAndItsRowsRead) {
  hookvault::testing::TempDir dir;
  std::string path = dir.File("hookvault.db");
  LoadFixture(path);
  std::vector<std::string> embedded;
  for (const Migration& m : SqliteMigrations()) embedded.emplace_back(m.name);
  // Every name the old binary recorded is still a migration of ours, in the same order.
  std::vector<std::string> recorded = Recorded(path);
  ASSERT_EQ(recorded.size(), 4u);
  ASSERT_GE(embedded.size(), recorded.size());
  EXPECT_EQ(std::vector<std::string>(embedded.begin(), embedded.begin() + recorded.size()),
            recorded);

  auto db = OpenDatabase({.path = path});
  ASSERT_TRUE(db.ok()) << db.status().ToString();
  auto applied = ApplyMigrations(**db, SqliteMigrations());
  ASSERT_TRUE(applied.ok()) << applied.status().ToString();
  EXPECT_EQ(applied->size(), embedded.size() - recorded.size());  // none of the old ones again
  db->reset();

  auto queries = SqliteQueryStore::Open({.path = path}, 1);
  ASSERT_TRUE(queries.ok()) << queries.status().ToString();
  auto events = (*queries)->ListEvents({}, Page{.limit = 10});
  ASSERT_TRUE(events.ok()) << events.status().ToString();
  ASSERT_EQ(events->size(), 3u);
  EXPECT_EQ((*events)[0].idempotency_key, "fixture-3");
  EXPECT_EQ((*events)[0].status, "failed");
  auto event = (*queries)->GetEvent("01a24bf1-68cc-7133-9e3a-7de5dabd97d1");
  ASSERT_TRUE(event.ok() && event->has_value());
  EXPECT_EQ((*event)->body, R"({"event":"booking.created","booking":"B-1041"})");
  auto requests = (*queries)->ListRequests({}, Page{.limit = 10});
  ASSERT_TRUE(requests.ok());
  EXPECT_EQ(requests->size(), 4u);
  EXPECT_EQ(QueryText(path, "PRAGMA integrity_check"), "ok");
}

// The same database one migration behind, as the old binary left it before 0004 existed: the
// runner applies exactly the missing one and keeps every row.
TEST(PreMoveDatabaseTest, OneMigrationBehindAppliesOnlyTheMissingOne) {
  hookvault::testing::TempDir dir;
  std::string path = dir.File("hookvault.db");
  LoadFixture(path);
  {
    SQLite::Database db(path, SQLite::OPEN_READWRITE);
    db.exec("ALTER TABLE request_log DROP COLUMN body");
    db.exec("DELETE FROM schema_migrations WHERE name = '0004_add_request_log_body.sql'");
  }
  auto db = OpenDatabase({.path = path});
  ASSERT_TRUE(db.ok()) << db.status().ToString();
  auto applied = ApplyMigrations(**db, SqliteMigrations());
  ASSERT_TRUE(applied.ok()) << applied.status().ToString();
  ASSERT_FALSE(applied->empty());
  EXPECT_EQ(applied->front(), "0004_add_request_log_body.sql");
  db->reset();
  EXPECT_EQ(QueryInt(path, "SELECT count(*) FROM request_log WHERE body IS NULL"), 4);
  EXPECT_EQ(QueryInt(path, "SELECT count(*) FROM events"), 3);
  EXPECT_EQ(Recorded(path).size(), SqliteMigrations().size());
}

}  // namespace
}  // namespace hookvault::storage
