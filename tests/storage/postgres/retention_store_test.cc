// PostgresRetentionStore on a real PostgreSQL with the real migrations: the invariants of
// storage/retention_store.h, and several nodes pruning at once. Fixture rows are inserted with
// plain SQL on the test's own connection.
#include "storage/postgres/retention_store.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "storage/postgres/connection.h"
#include "tests/testing/postgres_server.h"

namespace hookvault::storage {
namespace {

constexpr int64_t kDay = 86'400'000'000LL;
constexpr int64_t kNow = 1'790'000'000'000'000LL;
// No consumer holds events back.
constexpr int64_t kAll = std::numeric_limits<int64_t>::max();

std::unique_ptr<pg::Connection> Connect(const std::string& url, const std::string& name) {
  auto conn = pg::Connection::Open({.url = url, .application_name = name});
  EXPECT_TRUE(conn.ok()) << conn.status().ToString();
  return conn.ok() ? std::move(conn).value() : nullptr;
}

struct Event {
  int64_t seq = 0;
  std::string id;
};

class PostgresRetentionStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto* server = hookvault::testing::PostgresServer::Shared();
    ASSERT_NE(server, nullptr);
    url_ = server->CreateDatabase();
    ASSERT_FALSE(url_.empty());
    sql_ = Connect(url_, "hookvault-test");
    ASSERT_NE(sql_, nullptr);
    writer_ = Connect(url_, "hookvault-node");
    ASSERT_NE(writer_, nullptr);
    store_ = std::make_unique<PostgresRetentionStore>(*writer_);
  }

  pg::Result Run(const std::string& sql, const pg::Params& params = pg::Params()) {
    auto r = sql_->Exec(sql, params);
    EXPECT_TRUE(r.ok()) << sql << ": " << r.status().ToString();
    return r.ok() ? std::move(r).value() : pg::Result();
  }
  int64_t Count(const std::string& sql, const pg::Params& params = pg::Params()) {
    pg::Result r = Run(sql, params);
    return r.rows() > 0 && !r.IsNull(0, 0) ? r.GetInt64(0, 0) : -1;
  }

  // Stores one event received (and keyed) `age` ago, as ingest would: its key, a request log
  // row, and one delivery per (destination, status); the event's status follows from them
  // (failed if any failed, else pending if any pending, else delivered).
  Event Add(const std::string& key, int64_t age,
            std::vector<std::pair<std::string, std::string>> deliveries = {}) {
    std::string status = "delivered";
    for (const auto& [destination, s] : deliveries) {
      if (s == "failed") status = "failed";
      if (s == "pending" && status != "failed") status = "pending";
    }
    Event e;
    e.seq = Count(
        "UPDATE event_seq_counter SET last_seq = last_seq + 1 WHERE id = 1 "
        "RETURNING last_seq");
    e.id = "e" + std::to_string(e.seq);
    const int64_t at = kNow - age;
    Run("INSERT INTO events (seq, id, source, event_type, idempotency_key, received_at, "
        "remote_addr, headers, body, status) VALUES ($1, $2, 's', 't', $3, $4, '127.0.0.1', "
        "'{}', '\\x7b7d', $5)",
        pg::Params().Add(e.seq).Add(e.id).Add(key).Add(at).Add(status));
    Run("INSERT INTO idempotency_keys (source, key, event_id, event_seq, created_at) "
        "VALUES ('s', $1, $2, $3, $4)",
        pg::Params().Add(key).Add(e.id).Add(e.seq).Add(at));
    Run("INSERT INTO request_log (received_at, source, remote_addr, status, reason, event_id, "
        "body_bytes) VALUES ($1, 's', '127.0.0.1', 200, 'stored', $2, 2)",
        pg::Params().Add(at).Add(e.id));
    for (const auto& [destination, s] : deliveries) {
      Run("INSERT INTO deliveries (event_seq, destination, status, next_attempt_at, created_at, "
          "updated_at) VALUES ($1, $2, $3, $4, $4, $4)",
          pg::Params().Add(e.seq).Add(destination).Add(s).Add(at));
    }
    return e;
  }

  int64_t DeliveryId(const Event& e, const std::string& destination) {
    return Count("SELECT id FROM deliveries WHERE event_seq = $1 AND destination = $2",
                 pg::Params().Add(e.seq).Add(destination));
  }

  // Records one attempt of the event's delivery to `destination`, started `age` ago.
  void Attempt(const Event& e, const std::string& destination, int64_t age) {
    Run("INSERT INTO attempts (delivery_id, number, started_at, duration_us, http_status, "
        "outcome, destination, event_seq) SELECT id, attempts + 1, $3, 1000, 500, 'failure', "
        "destination, event_seq FROM deliveries WHERE event_seq = $1 AND destination = $2",
        pg::Params().Add(e.seq).Add(destination).Add(kNow - age));
  }

  // Prunes `target` older than `age` to the end, as the driver does, and returns the deleted
  // count; fails the test if a batch deletes or looks at more than `limit` rows.
  int64_t PruneAll(PruneTarget target, int64_t age, int limit = 500,
                   RetentionStore* store = nullptr) {
    if (store == nullptr) store = store_.get();
    int64_t deleted = 0;
    std::optional<PruneCursor> cursor = PruneCursor{};
    while (cursor) {
      auto batch = store->Prune(target, kNow - age, kAll, *cursor, limit);
      EXPECT_TRUE(batch.ok()) << batch.status().ToString();
      if (!batch.ok()) return -1;
      EXPECT_LE(batch->deleted, limit);
      EXPECT_LE(batch->scanned, limit);
      deleted += batch->deleted;
      cursor = batch->next;
    }
    return deleted;
  }

  bool EventExists(const Event& e) {
    return Count("SELECT count(*) FROM events WHERE id = $1", pg::Params().Add(e.id)) == 1;
  }

  std::string url_;
  std::unique_ptr<pg::Connection> sql_;
  std::unique_ptr<pg::Connection> writer_;
  std::unique_ptr<PostgresRetentionStore> store_;
};

TEST_F(PostgresRetentionStoreTest, EventsGoByStatusAndTheirOwnAgeAndPendingOnesStay) {
  Event delivered_old = Add("delivered-old", 31 * kDay);
  Event delivered_young = Add("delivered-young", 29 * kDay);
  Event failed_old = Add("failed-old", 91 * kDay, {{"billing", "failed"}});
  Attempt(failed_old, "billing", 91 * kDay);
  Event failed_young = Add("failed-young", 89 * kDay, {{"billing", "failed"}});
  Attempt(failed_young, "billing", 89 * kDay);
  Event pending_ancient = Add("pending-ancient", 400 * kDay, {{"billing", "pending"}});
  Attempt(pending_ancient, "billing", 400 * kDay);
  // Failed at one destination, still being tried at the other: not finished, so kept.
  Event failed_in_flight =
      Add("failed-in-flight", 100 * kDay, {{"billing", "failed"}, {"crm", "pending"}});
  Attempt(failed_in_flight, "billing", 100 * kDay);
  Event delivered_forwarded = Add("delivered-forwarded", 40 * kDay, {{"crm", "succeeded"}});
  Attempt(delivered_forwarded, "crm", 40 * kDay);

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
  EXPECT_EQ(Count("SELECT count(*) FROM deliveries WHERE event_seq NOT IN "
                  "(SELECT seq FROM events)"),
            0);
  EXPECT_EQ(Count("SELECT count(*) FROM deliveries"), 4);  // young, ancient, in flight x2
  EXPECT_EQ(Count("SELECT count(*) FROM attempts"), 3);
  // Keys and request log rows are pruned by their own targets, not with events.
  EXPECT_EQ(Count("SELECT count(*) FROM idempotency_keys"), 7);
  EXPECT_EQ(Count("SELECT count(*) FROM request_log"), 7);
}

// The same cut-off, events only up to the lowest reading consumer's cursor.
TEST_F(PostgresRetentionStoreTest, EventsAfterMaxEventSeqStay) {
  Event first = Add("first", 40 * kDay);
  Event second = Add("second", 40 * kDay);
  auto batch =
      store_->Prune(PruneTarget::kDeliveredEvents, kNow - 30 * kDay, first.seq, PruneCursor{}, 10);
  ASSERT_TRUE(batch.ok()) << batch.status().ToString();
  EXPECT_EQ(batch->deleted, 1);
  EXPECT_EQ(batch->scanned, 2);
  EXPECT_FALSE(batch->next.has_value());
  EXPECT_FALSE(EventExists(first));
  EXPECT_TRUE(EventExists(second));
}

TEST_F(PostgresRetentionStoreTest, AttemptsAndRequestLogGoByTheirOwnAge) {
  Event a = Add("a", 60 * kDay, {{"billing", "pending"}});
  Attempt(a, "billing", 60 * kDay);
  Attempt(a, "billing", 20 * kDay);
  Add("b", 10 * kDay);
  EXPECT_EQ(PruneAll(PruneTarget::kAttempts, 45 * kDay), 1);
  EXPECT_EQ(Count("SELECT count(*) FROM attempts"), 1);
  EXPECT_EQ(Count("SELECT started_at FROM attempts"), kNow - 20 * kDay);
  EXPECT_TRUE(EventExists(a));
  EXPECT_EQ(Count("SELECT count(*) FROM deliveries"), 1);

  EXPECT_EQ(PruneAll(PruneTarget::kRequestLog, 14 * kDay), 1);
  EXPECT_EQ(Count("SELECT count(*) FROM request_log"), 1);
  EXPECT_EQ(Count("SELECT received_at FROM request_log"), kNow - 10 * kDay);
}

TEST_F(PostgresRetentionStoreTest, KeysGoOnlyOnceTheirEventsHaveGone) {
  Add("recent-gone", 31 * kDay);                     // event pruned, key young enough
  Add("old-gone", 40 * kDay);                        // both old enough to go
  Add("pending", 400 * kDay, {{"crm", "pending"}});  // event kept: key kept
  Add("odd \"key\", {with} \\ commas", 41 * kDay);   // array quoting
  ASSERT_EQ(PruneAll(PruneTarget::kDeliveredEvents, 30 * kDay), 3);
  EXPECT_EQ(PruneAll(PruneTarget::kIdempotencyKeys, 37 * kDay), 2);

  EXPECT_EQ(Count("SELECT count(*) FROM idempotency_keys WHERE key = 'old-gone'"), 0);
  EXPECT_EQ(Count("SELECT count(*) FROM idempotency_keys WHERE key LIKE 'odd%'"), 0);
  EXPECT_EQ(Count("SELECT count(*) FROM idempotency_keys WHERE key = 'recent-gone'"), 1);
  EXPECT_EQ(Count("SELECT count(*) FROM idempotency_keys WHERE key = 'pending'"), 1);
}

TEST_F(PostgresRetentionStoreTest, AuditLogAndConsumersAreNeverPruned) {
  Event e = Add("e", 500 * kDay, {{"billing", "failed"}});
  Attempt(e, "billing", 500 * kDay);
  Run("INSERT INTO audit_log (id, at, actor, role, action, target, matched, requeued, reason, "
      "prev_hash, hash) VALUES (1, $1, 'ops', 'operator', 'reprocess_bulk', '{}', 1, 0, 'old', "
      "'', 'x')",
      pg::Params().Add(kNow - 500 * kDay));
  Run("INSERT INTO consumers (name, cursor, updated_at) VALUES ('warehouse', $1, $2)",
      pg::Params().Add(e.seq).Add(kNow - 500 * kDay));
  for (PruneTarget t :
       {PruneTarget::kAttempts, PruneTarget::kRequestLog, PruneTarget::kDeliveredEvents,
        PruneTarget::kFailedEvents, PruneTarget::kIdempotencyKeys}) {
    PruneAll(t, 1 * kDay);
  }
  EXPECT_EQ(Count("SELECT count(*) FROM events"), 0);
  EXPECT_EQ(Count("SELECT count(*) FROM idempotency_keys"), 0);
  EXPECT_EQ(Count("SELECT count(*) FROM request_log"), 0);
  EXPECT_EQ(Count("SELECT count(*) FROM audit_log"), 1);
  EXPECT_EQ(Count("SELECT cursor FROM consumers WHERE name = 'warehouse'"), e.seq);
}

TEST_F(PostgresRetentionStoreTest, OneCallDeletesAtMostItsLimitInOneTransaction) {
  // 1,200 events in four groups sharing a received time each (ties in the cursor).
  for (int b = 0; b < 4; ++b) {
    Run("WITH s AS (UPDATE event_seq_counter SET last_seq = last_seq + 300 WHERE id = 1 "
        "RETURNING last_seq) "
        "INSERT INTO events (seq, id, source, event_type, idempotency_key, received_at, "
        "remote_addr, headers, body, status) "
        "SELECT s.last_seq - 300 + i, 'e' || (s.last_seq - 300 + i), 's', 't', $1 || i, $2, "
        "'', '{}', '\\x', 'delivered' FROM s, generate_series(1, 300) AS i",
        pg::Params().Add(std::to_string(b) + "-").Add(kNow - 40 * kDay));
  }
  Run("INSERT INTO idempotency_keys (source, key, event_id, event_seq, created_at) "
      "SELECT source, idempotency_key, id, seq, received_at FROM events");
  auto first =
      store_->Prune(PruneTarget::kDeliveredEvents, kNow - 30 * kDay, kAll, PruneCursor{}, 500);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(first->deleted, 500);
  ASSERT_TRUE(first->next.has_value());
  EXPECT_EQ(Count("SELECT count(*) FROM events"), 700);
  auto second =
      store_->Prune(PruneTarget::kDeliveredEvents, kNow - 30 * kDay, kAll, *first->next, 500);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->deleted, 500);
  auto third =
      store_->Prune(PruneTarget::kDeliveredEvents, kNow - 30 * kDay, kAll, *second->next, 500);
  ASSERT_TRUE(third.ok());
  EXPECT_EQ(third->deleted, 200);
  EXPECT_FALSE(third->next.has_value());
  EXPECT_EQ(Count("SELECT count(*) FROM events"), 0);
  // The keys all share one created_at: the cursor's tie-break must still reach every one.
  EXPECT_EQ(PruneAll(PruneTarget::kIdempotencyKeys, 37 * kDay, 7), 1200);
  EXPECT_EQ(store_->Prune(PruneTarget::kAttempts, kNow, kAll, PruneCursor{}, 0).status().code(),
            StatusCode::kInvalidArgument);
}

TEST_F(PostgresRetentionStoreTest, KeptRowsAreNotLookedAtAgainInTheSameRound) {
  for (int i = 0; i < 30; ++i) Add("kept-" + std::to_string(i), 50 * kDay, {{"crm", "pending"}});
  for (int i = 0; i < 5; ++i) Add("gone-" + std::to_string(i), 45 * kDay);
  ASSERT_EQ(PruneAll(PruneTarget::kDeliveredEvents, 30 * kDay), 5);
  int64_t scanned = 0;
  int batches = 0;
  std::optional<PruneCursor> cursor = PruneCursor{};
  while (cursor) {
    auto batch = store_->Prune(PruneTarget::kIdempotencyKeys, kNow - 37 * kDay, kAll, *cursor, 10);
    ASSERT_TRUE(batch.ok()) << batch.status().ToString();
    scanned += batch->scanned;
    ++batches;
    cursor = batch->next;
  }
  EXPECT_EQ(scanned, 35);
  EXPECT_EQ(batches, 4);
  EXPECT_EQ(Count("SELECT count(*) FROM idempotency_keys"), 30);
}

TEST_F(PostgresRetentionStoreTest, ConsumerCursorsRegisterNewConsumersAtZero) {
  Run("INSERT INTO consumers (name, cursor, updated_at) VALUES ('warehouse', 42, 7)");
  auto cursors = store_->ConsumerCursors({"warehouse", "analytics"}, kNow);
  ASSERT_TRUE(cursors.ok()) << cursors.status().ToString();
  ASSERT_EQ(cursors->size(), 2u);
  EXPECT_EQ((*cursors)[0].name, "warehouse");
  EXPECT_EQ((*cursors)[0].cursor, 42);
  EXPECT_EQ((*cursors)[0].last_ack_at, 7);
  EXPECT_EQ((*cursors)[1].name, "analytics");
  EXPECT_EQ((*cursors)[1].cursor, 0);
  EXPECT_EQ((*cursors)[1].last_ack_at, kNow);
  // Seen first at kNow: a later call keeps that time.
  auto later = store_->ConsumerCursors({"analytics"}, kNow + kDay);
  ASSERT_TRUE(later.ok());
  ASSERT_EQ(later->size(), 1u);
  EXPECT_EQ((*later)[0].last_ack_at, kNow);
}

// PostgreSQL's autovacuum makes freed space reusable; the store never gives space back itself.
TEST_F(PostgresRetentionStoreTest, ReclaimSpaceFreesNothingAndReportsNothingRemaining) {
  auto step = store_->ReclaimSpace(1 << 20);
  ASSERT_TRUE(step.ok()) << step.status().ToString();
  EXPECT_EQ(step->freed_bytes, 0);
  EXPECT_EQ(step->remaining_bytes, 0);
  EXPECT_EQ(store_->ReclaimSpace(0).status().code(), StatusCode::kInvalidArgument);
}

// Two nodes run retention over the same rows at the same time: neither fails, and between them
// every row that may go goes once.
TEST_F(PostgresRetentionStoreTest, TwoNodesPruningAtOnceDeleteEachRowOnceAndFailNothing) {
  constexpr int kEvents = 2000;
  Run("WITH s AS (UPDATE event_seq_counter SET last_seq = last_seq + $1 WHERE id = 1 "
      "RETURNING last_seq) "
      "INSERT INTO events (seq, id, source, event_type, idempotency_key, received_at, "
      "remote_addr, headers, body, status) "
      "SELECT i, 'e' || i, 's', 't', 'k' || i, $2 + i, '', '{}', '\\x', "
      "CASE WHEN i % 2 = 0 THEN 'delivered' ELSE 'failed' END FROM s, generate_series(1, $1) i",
      pg::Params().Add(int64_t{kEvents}).Add(kNow - 100 * kDay));
  Run("INSERT INTO deliveries (event_seq, destination, status, next_attempt_at, created_at, "
      "updated_at) SELECT seq, d, CASE WHEN status = 'delivered' THEN 'succeeded' ELSE "
      "'failed' END, 0, 0, 0 FROM events, unnest(ARRAY['billing', 'crm']) d");
  Run("INSERT INTO attempts (delivery_id, number, started_at, duration_us, outcome) "
      "SELECT id, 1, $1, 1, 'failure' FROM deliveries",
      pg::Params().Add(kNow - 100 * kDay));
  Run("INSERT INTO idempotency_keys (source, key, event_id, event_seq, created_at) "
      "SELECT source, idempotency_key, id, seq, received_at FROM events");
  auto other_conn = Connect(url_, "hookvault-other-node");
  ASSERT_NE(other_conn, nullptr);
  PostgresRetentionStore other(*other_conn);

  int64_t deleted[2][3] = {};
  auto round = [&](RetentionStore* store, int64_t* counts) {
    counts[0] = PruneAll(PruneTarget::kDeliveredEvents, 30 * kDay, 50, store);
    counts[1] = PruneAll(PruneTarget::kFailedEvents, 30 * kDay, 50, store);
    counts[2] = PruneAll(PruneTarget::kIdempotencyKeys, 30 * kDay, 50, store);
  };
  std::thread a([&] { round(store_.get(), deleted[0]); });
  std::thread b([&] { round(&other, deleted[1]); });
  a.join();
  b.join();
  for (int t = 0; t < 3; ++t) {
    EXPECT_GE(deleted[0][t], 0);
    EXPECT_GE(deleted[1][t], 0);
  }
  EXPECT_EQ(deleted[0][0] + deleted[1][0], kEvents / 2);
  EXPECT_EQ(deleted[0][1] + deleted[1][1], kEvents / 2);
  EXPECT_EQ(deleted[0][2] + deleted[1][2], kEvents);
  EXPECT_EQ(Count("SELECT count(*) FROM events"), 0);
  EXPECT_EQ(Count("SELECT count(*) FROM deliveries"), 0);
  EXPECT_EQ(Count("SELECT count(*) FROM attempts"), 0);
  EXPECT_EQ(Count("SELECT count(*) FROM idempotency_keys"), 0);
}

// Waits until a session named `application_name` waits for a lock.
bool WaitUntilBlocked(pg::Connection& sql, const std::string& application_name) {
  for (int i = 0; i < 1000; ++i) {
    auto r = sql.Exec(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 "
        "AND datname = current_database() AND wait_event_type = 'Lock'",
        pg::Params().Add(application_name));
    if (r.ok() && r->GetInt64(0, 0) > 0) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

// A reprocess on another node requeues one delivery of an old failed event while this node
// prunes it: the event still looks failed (its other delivery failed) but now has a pending
// delivery, so it must stay. The prune waits for the reprocess's locks and then sees its commit.
TEST_F(PostgresRetentionStoreTest, AnEventRequeuedWhilePrunedStays) {
  Event e = Add("e", 100 * kDay, {{"billing", "failed"}, {"crm", "failed"}});
  auto other = Connect(url_, "other-node");
  ASSERT_NE(other, nullptr);
  // The other node's reprocess, held open: the requeue of billing (its row lock taken), then
  // the event's refresh, which leaves it failed (crm still failed).
  ASSERT_TRUE(other->Exec("BEGIN").ok());
  ASSERT_TRUE(other
                  ->Exec("UPDATE deliveries SET status = 'pending', attempts = 0 WHERE id = $1",
                         pg::Params().Add(DeliveryId(e, "billing")))
                  .ok());
  ASSERT_TRUE(
      other->Exec("UPDATE events SET status = 'failed' WHERE seq = $1", pg::Params().Add(e.seq))
          .ok());
  StatusOr<PruneBatch> batch = Status::Internal("not run");
  std::thread prune([&] {
    batch = store_->Prune(PruneTarget::kFailedEvents, kNow - 30 * kDay, kAll, PruneCursor{}, 10);
  });
  const bool blocked_meanwhile = WaitUntilBlocked(*sql_, "hookvault-node");
  const bool committed = other->Exec("COMMIT").ok();
  prune.join();
  ASSERT_TRUE(blocked_meanwhile);
  ASSERT_TRUE(committed);
  ASSERT_TRUE(batch.ok()) << batch.status().ToString();
  EXPECT_EQ(batch->scanned, 1);
  EXPECT_EQ(batch->deleted, 0);
  EXPECT_TRUE(EventExists(e));
  EXPECT_EQ(Count("SELECT count(*) FROM deliveries WHERE status = 'pending'"), 1);
}

// The server ends the node's session: the call that finds out fails with kUnavailable, and the
// next one reconnects, with its statements prepared again.
TEST_F(PostgresRetentionStoreTest, ALostConnectionIsOpenedAgainOnTheNextCall) {
  Event old = Add("old", 40 * kDay);
  ASSERT_TRUE(store_->ConsumerCursors({"warehouse"}, kNow).ok());  // prepared
  EXPECT_EQ(Count("SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM "
                  "pg_stat_activity WHERE application_name = 'hookvault-node' AND "
                  "datname = current_database()) ended"),
            1);
  auto lost = store_->Prune(PruneTarget::kDeliveredEvents, kNow - 30 * kDay, kAll, {}, 10);
  EXPECT_EQ(lost.status().code(), StatusCode::kUnavailable) << lost.status().ToString();
  EXPECT_TRUE(EventExists(old));
  EXPECT_EQ(PruneAll(PruneTarget::kDeliveredEvents, 30 * kDay), 1);
  EXPECT_FALSE(EventExists(old));
}

}  // namespace
}  // namespace hookvault::storage
