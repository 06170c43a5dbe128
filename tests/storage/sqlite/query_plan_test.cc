// Every statement on the ingest and forwarding paths uses an index: none scans a table, so
// their cost does not grow with the database (a scan here once cut deliveries per second by
// two thirds at a 20,000-delivery backlog).
#include <SQLiteCpp/SQLiteCpp.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "storage/sqlite/query_sql.h"
#include "storage/sqlite/sql.h"
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
      {"kDeleteProbe", sql::kDeleteProbe},       {"kInsertAttempt", sql::kInsertAttempt},
      {"kRequeueDelivery", sql::kRequeueDelivery}, {"kLastAudit", sql::kLastAudit},
      {"kAckConsumer", sql::kAckConsumer},       {"kGetConsumer", sql::kGetConsumer},
      {"kGetEvent", sql::kGetEvent},
      {"kReleaseNextHeld", sql::kReleaseNextHeld}, {"kSkipDelivery", sql::kSkipDelivery},
      {"kDeliveryStatus", sql::kDeliveryStatus},
  };
  // kLatestSeq reads sqlite_sequence, SQLite's own table of one row per AUTOINCREMENT table
  // (one here): its SCAN is of that row.
  for (const auto& [name, statement] : statements) {
    std::string plan = Plan(db, statement);
    EXPECT_EQ(plan.find("SCAN"), std::string::npos) << name << ":\n" << plan;
  }
  // The oldest pending delivery is the first entry of an index, not a sort of every pending one.
  std::string oldest = Plan(db, sql::kOldestPending);
  EXPECT_EQ(oldest.find("TEMP B-TREE"), std::string::npos) << oldest;
  // Ordering (migration 0007): the next held delivery of a key comes from deliveries_held in
  // seq order (no sort), and an ingest asks deliveries_order_key whether its key is open.
  std::string release = Plan(db, sql::kReleaseNextHeld);
  EXPECT_NE(release.find("deliveries_held"), std::string::npos) << release;
  EXPECT_EQ(release.find("TEMP B-TREE"), std::string::npos) << release;
  // Whether a key has a head reads deliveries_key_head (at most the head's entry), not
  // deliveries_order_key (every held delivery of the key: a release per delivery drained would
  // make draining one key's backlog quadratic).
  EXPECT_NE(release.find("deliveries_key_head"), std::string::npos) << release;
  std::string requeue = Plan(db, sql::kRequeueDelivery);
  EXPECT_NE(requeue.find("deliveries_key_head"), std::string::npos) << requeue;
  // A reprocess chunk's rehead reads a key's head and its lowest held delivery, each from its
  // index in key order (its other SCANs are of its one-row CTEs).
  std::string rehead = Plan(db, sql::kReheadKey);
  EXPECT_NE(rehead.find("deliveries_key_head"), std::string::npos) << rehead;
  EXPECT_NE(rehead.find("deliveries_held"), std::string::npos) << rehead;
  EXPECT_EQ(rehead.find("TEMP B-TREE"), std::string::npos) << rehead;
  EXPECT_EQ(rehead.find("SCAN deliveries"), std::string::npos) << rehead;
  std::string insert = Plan(db, sql::kInsertDelivery);
  EXPECT_NE(insert.find("deliveries_order_key"), std::string::npos) << insert;
  // The claim's index leaves held deliveries out.
  std::string due = Plan(db, sql::kSelectDue);
  EXPECT_NE(due.find("deliveries_due"), std::string::npos) << due;
  // An event's status looks only at that event's deliveries.
  std::string refresh = Plan(db, sql::kRefreshEventStatus);
  EXPECT_EQ(refresh.find("deliveries_status"), std::string::npos) << refresh;
  EXPECT_NE(refresh.find("(event_seq=?)"), std::string::npos) << refresh;
}

// The plan of a composed list query, its parameters bound: the cursor as given, every other
// number 1, every text 'x'. (Without ANALYZE statistics the plan does not depend on the values;
// binding them anyway checks that.)
std::string BoundPlan(SQLite::Database& db, const std::string& statement, int64_t cursor) {
  SQLite::Statement q(db, "EXPLAIN QUERY PLAN " + statement);
  for (const char* name : {":cursor", ":after_seq", ":event_seq"}) {
    if (q.getIndex(name) != 0) q.bind(name, static_cast<int64_t>(cursor));
  }
  for (const char* name : {":limit", ":after", ":before", ":status"}) {
    if (q.getIndex(name) != 0) q.bind(name, static_cast<int64_t>(1));
  }
  for (const char* name :
       {":source", ":type", ":destination", ":event_id", ":outcome", ":idempotency_key"}) {
    if (q.getIndex(name) != 0) q.bind(name, "x");
  }
  std::string plan;
  while (q.executeStep()) plan += q.getColumn(3).getString() + "\n";
  return plan;
}

std::string FilterNames(unsigned filters) {
  static const std::vector<std::pair<unsigned, const char*>> kNames = {
      {sql::kFilterSource, "source"},     {sql::kFilterType, "type"},
      {sql::kFilterStatus, "status"},     {sql::kFilterDestination, "destination"},
      {sql::kFilterEventId, "event_id"},  {sql::kFilterOutcome, "outcome"},
      {sql::kFilterAfter, "after"},       {sql::kFilterBefore, "before"},
      {sql::kFilterKey, "idempotency_key"}, {sql::kFilterRejected, "rejected"}};
  std::string names;
  for (const auto& [bit, name] : kNames) {
    if (filters & bit) names += std::string(names.empty() ? "" : "+") + name;
  }
  return names.empty() ? "none" : names;
}

// Calls fn for every subset of `mask`, the empty one included.
void ForEachSubset(unsigned mask, const std::function<void(unsigned)>& fn) {
  for (unsigned s = mask;; s = (s - 1) & mask) {
    fn(s);
    if (s == 0) break;
  }
}

struct ListQuery {
  const char* name;
  unsigned filters;
  std::function<std::string(unsigned)> sql;
  // The index of the time window (sqlite_query_sql.h, "Window" mode).
  const char* window_index;
};

// Every combination of every list's filters, with and without a cursor: no table and no index
// is scanned whole, and a sort happens only where it is bounded: the keys of a time window read
// from the time column's index (the sorter keeps the top :limit; see the top of
// sqlite_query_sql.h), or the few deliveries of one event.
TEST(QueryPlanTest, ListQueriesNeverScanForAnyCombinationOfFilters) {
  hookvault::testing::TempDir dir;
  hookvault::testing::FakeClock clock;
  ASSERT_NE(hookvault::testing::OpenMigratedStore(dir.File("p.db"), clock), nullptr);
  SQLite::Database db(dir.File("p.db"), SQLite::OPEN_READWRITE);
  const std::vector<ListQuery> lists = {
      {"events", sql::kEventFilters, sql::ListEventsSql, "events_received_at"},
      {"deliveries", sql::kDeliveryFilters, sql::ListDeliveriesSql, "deliveries_created_at"},
      {"attempts", sql::kAttemptFilters, sql::ListAttemptsSql, "attempts_started_at"},
      {"requests", sql::kRequestFilters, sql::ListRequestsSql, "request_log_received_at"},
      {"audit", sql::kAuditFilters, sql::ListAuditSql, nullptr},
      {"feed", sql::kFeedFilters, sql::FeedSql, nullptr},
      // A reprocess always has a status: its chunked walk on the writer never sorts (but for
      // one event's few rows), nor does its dry run's count on a reader scan.
      {"reprocess walk", sql::kDeliveryFilters & ~sql::kFilterStatus,
       [](unsigned f) { return sql::ReprocessWalkSql(f | sql::kFilterStatus); }, nullptr},
      {"reprocess count", sql::kDeliveryFilters & ~sql::kFilterStatus,
       [](unsigned f) { return sql::CountDeliveriesSql(f | sql::kFilterStatus); }, nullptr},
  };
  int checked = 0;
  for (const ListQuery& list : lists) {
    ForEachSubset(list.filters, [&](unsigned filters) {
      for (int64_t cursor : {sql::kNoCursorDescending, int64_t{1000}}) {
        std::string plan = BoundPlan(db, list.sql(filters), cursor);
        std::string what = std::string(list.name) + " by " + FilterNames(filters) +
                           (cursor == sql::kNoCursorDescending ? ", no cursor" : ", cursor") +
                           ":\n" + plan;
        ++checked;
        // The one SCAN allowed: of key_sources, the recursive walk over the few distinct sources
        // of the idempotency keys' primary key (query_sql.h, "Key" mode), not of a table.
        std::string scans = plan;
        for (size_t at; (at = scans.find("SCAN key_sources")) != std::string::npos;) {
          scans.erase(at, std::string_view("SCAN key_sources").size());
        }
        EXPECT_EQ(scans.find("SCAN"), std::string::npos) << what;
        if (plan.find("TEMP B-TREE") == std::string::npos) continue;
        sql::KeyMode mode = sql::KeyModeFor(filters);
        if (mode == sql::KeyMode::kEvent && std::string(list.name) != "attempts") {
          EXPECT_NE(plan.find("sqlite_autoindex_deliveries_1 (event_seq=?)"), std::string::npos)
              << what;
        } else if (mode != sql::KeyMode::kDefault && list.window_index != nullptr) {
          EXPECT_NE(plan.find(std::string(list.window_index) + " (") , std::string::npos)
              << what;
        } else {
          ADD_FAILURE() << "unbounded sort: " << what;
        }
      }
    });
  }
  EXPECT_EQ(checked, 2 * (64 + 32 + 32 + 32 + 4 + 4 + 16 + 16));
}

// The equality filters the speed goal names are served by their own index in key order.
TEST(QueryPlanTest, SingleFiltersUseTheirIndexInKeyOrder) {
  hookvault::testing::TempDir dir;
  hookvault::testing::FakeClock clock;
  ASSERT_NE(hookvault::testing::OpenMigratedStore(dir.File("p.db"), clock), nullptr);
  SQLite::Database db(dir.File("p.db"), SQLite::OPEN_READWRITE);
  // A window (an `after`) sorts the window's keys: see ListQueriesNeverScanForAnyCombination...
  const std::string window = sql::ListEventsSql(sql::kFilterAfter | sql::kFilterBefore);
  const std::vector<std::pair<std::string, std::string>> expected = {
      {sql::ListEventsSql(0), "events USING INTEGER PRIMARY KEY (rowid<?)"},
      {sql::ListEventsSql(sql::kFilterSource), "events_source_seq (source=? AND seq<?)"},
      {sql::ListEventsSql(sql::kFilterType), "events_type_seq (event_type=? AND seq<?)"},
      {sql::ListEventsSql(sql::kFilterStatus), "events_status_seq (status=? AND seq<?)"},
      {window,
       "COVERING INDEX events_received_at (received_at>? AND received_at<?)"},
      {sql::ListEventsSql(sql::kFilterBefore), "events USING INTEGER PRIMARY KEY (rowid<?)"},
      {sql::ListDeliveriesSql(sql::kFilterStatus), "deliveries_status (status=? AND id<?)"},
      {sql::ListDeliveriesSql(sql::kFilterDestination),
       "deliveries_destination_id (destination=? AND id<?)"},
      {sql::ListDeliveriesSql(sql::kFilterDestination | sql::kFilterStatus),
       "deliveries_destination_status (destination=? AND status=? AND id<?)"},
      {sql::ListAttemptsSql(sql::kFilterOutcome), "attempts_outcome_id (outcome=? AND id<?)"},
      {sql::ListAttemptsSql(sql::kFilterDestination),
       "attempts_destination_id (destination=? AND id<?)"},
      {sql::ListAttemptsSql(sql::kFilterEventId), "attempts_event_seq_id (event_seq=? AND id<?)"},
      {sql::ListRequestsSql(sql::kFilterStatus), "request_log_status_id (status=? AND id<?)"},
      {sql::ListRequestsSql(sql::kFilterSource), "request_log_source (source=? AND id<?)"},
      // Rejected requests: the partial indexes of 0006, which hold no accepted request.
      {sql::ListRequestsSql(sql::kFilterRejected), "request_log_rejected_id (id<?)"},
      {sql::ListRequestsSql(sql::kFilterRejected | sql::kFilterSource),
       "request_log_rejected_source_id (source=? AND id<?)"},
      // An idempotency key: the primary key of the idempotency keys, then events by seq.
      {sql::ListEventsSql(sql::kFilterKey | sql::kFilterSource),
       "idempotency_keys USING PRIMARY KEY (source=? AND key=?)"},
      {sql::ListEventsSql(sql::kFilterKey), "k USING PRIMARY KEY (source=? AND key=?)"},
      {sql::ListEventsSql(sql::kFilterKey | sql::kFilterType | sql::kFilterStatus),
       "events USING INTEGER PRIMARY KEY (rowid=?)"},
      {sql::FeedSql(sql::kFilterSource), "events_source_seq (source=? AND seq>?)"},
      {sql::EventAttemptsSql(), "attempts_event_seq_id (event_seq=? AND id>?)"},
      {sql::EventDeliveriesSql(), "sqlite_autoindex_deliveries_1 (event_seq=?)"},
      {sql::ReprocessWalkSql(sql::kFilterStatus | sql::kFilterAfter | sql::kFilterBefore),
       "deliveries_status (status=? AND id<?)"},
      {sql::ReprocessWalkSql(sql::kFilterStatus | sql::kFilterDestination),
       "deliveries_destination_status (destination=? AND status=? AND id<?)"},
  };
  for (const auto& [statement, index] : expected) {
    std::string plan = BoundPlan(db, statement, 1);
    EXPECT_NE(plan.find(index), std::string::npos) << statement << "\n" << plan;
    if (statement != window) {
      EXPECT_EQ(plan.find("TEMP B-TREE"), std::string::npos) << statement << "\n" << plan;
    }
  }
}

}  // namespace
}  // namespace hookvault::storage
