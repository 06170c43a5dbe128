// Every statement on the ingest and forwarding paths uses an index: none scans a table, so
// their cost does not grow with the database (a scan here once cut deliveries per second by
// two thirds at a 20,000-delivery backlog).
#include <SQLiteCpp/SQLiteCpp.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "storage/sqlite_sql.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/test_store.h"

namespace hookvault::storage {
namespace {

std::string Plan(SQLite::Database& db, std::string_view statement) {
  SQLite::Statement q(db, "EXPLAIN QUERY PLAN " + std::string(statement));
  std::string plan;
  while (q.executeStep()) plan += q.getColumn(3).getString() + "\n";
  return plan;
}

TEST(QueryPlanTest, HotStatementsNeverScanATable) {
  hookvault::testing::TempDir dir;
  hookvault::testing::FakeClock clock;
  ASSERT_NE(hookvault::testing::OpenMigratedStore(dir.File("p.db"), clock), nullptr);
  SQLite::Database db(dir.File("p.db"), SQLite::OPEN_READWRITE);
  const std::vector<std::pair<const char*, std::string_view>> statements = {
      {"kSelectKey", sql::kSelectKey},           {"kSelectDue", sql::kSelectDue},
      {"kLeaseDelivery", sql::kLeaseDelivery},   {"kNextDue", sql::kNextDue},
      {"kUpdateDelivery", sql::kUpdateDelivery}, {"kRefreshEventStatus", sql::kRefreshEventStatus},
      {"kCountPending", sql::kCountPending},     {"kOldestPending", sql::kOldestPending},
      {"kDeleteProbe", sql::kDeleteProbe},
  };
  for (const auto& [name, statement] : statements) {
    std::string plan = Plan(db, statement);
    EXPECT_EQ(plan.find("SCAN"), std::string::npos) << name << ":\n" << plan;
  }
  // An event's status looks only at that event's deliveries.
  std::string refresh = Plan(db, sql::kRefreshEventStatus);
  EXPECT_EQ(refresh.find("deliveries_status"), std::string::npos) << refresh;
  EXPECT_NE(refresh.find("(event_seq=?)"), std::string::npos) << refresh;
}

}  // namespace
}  // namespace hookvault::storage
