// PostgresOperatorStore (reprocess, consumer acks, the audit chain) on a real PostgreSQL with the
// real migrations; fixture rows are inserted and read back with plain SQL on a connection of the
// test's own, and the audit chain is checked by recomputing it (storage/audit_chain.h), so no
// other store of the wing is needed. Several nodes are several connections, each with its own
// store, on threads.
#include "storage/postgres/operator_store.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <barrier>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "storage/audit_chain.h"
#include "storage/postgres/connection.h"
#include "tests/testing/postgres_server.h"

namespace hookvault::storage {
namespace {

constexpr int64_t kT = 1'790'000'000'000'000;
constexpr int64_t kSecond = 1'000'000;

// A connection of the test's own, for fixtures and checks.
class Sql {
 public:
  explicit Sql(const std::string& url, const std::string& name = "hookvault-test") {
    auto conn = pg::Connection::Open({.url = url, .application_name = name});
    EXPECT_TRUE(conn.ok()) << conn.status().ToString();
    if (conn.ok()) conn_ = std::move(conn).value();
  }
  bool ok() const { return conn_ != nullptr; }
  pg::Connection& conn() { return *conn_; }

  pg::Result Run(const std::string& sql, const pg::Params& params = pg::Params()) {
    auto r = conn_->Exec(sql, params);
    EXPECT_TRUE(r.ok()) << sql << ": " << r.status().ToString();
    return r.ok() ? std::move(r).value() : pg::Result();
  }
  Status Try(const std::string& sql) {
    auto r = conn_->Exec(sql);
    return r.ok() ? Status::Ok() : r.status();
  }
  int64_t Int(const std::string& sql, const pg::Params& params = pg::Params()) {
    pg::Result r = Run(sql, params);
    return r.rows() > 0 && !r.IsNull(0, 0) ? r.GetInt64(0, 0) : -1;
  }
  std::string Text(const std::string& sql, const pg::Params& params = pg::Params()) {
    pg::Result r = Run(sql, params);
    return r.rows() > 0 && !r.IsNull(0, 0) ? r.GetString(0, 0) : "<no row>";
  }

 private:
  std::unique_ptr<pg::Connection> conn_;
};

// Reads the whole audit log in id order.
std::vector<AuditRow> ReadAudit(Sql& sql) {
  pg::Result r = sql.Run(
      "SELECT id, at, actor, role, action, target, matched, requeued, reason, prev_hash, hash "
      "FROM audit_log ORDER BY id");
  std::vector<AuditRow> rows;
  for (int i = 0; i < r.rows(); ++i) {
    AuditRow row;
    row.id = r.GetInt64(i, 0);
    row.at = r.GetInt64(i, 1);
    row.actor = r.GetString(i, 2);
    row.role = r.GetString(i, 3);
    row.action = r.GetString(i, 4);
    row.target_json = r.GetString(i, 5);
    row.matched = r.GetInt64(i, 6);
    row.requeued = r.GetInt64(i, 7);
    row.reason = r.GetString(i, 8);
    row.prev_hash = r.GetString(i, 9);
    row.hash = r.GetString(i, 10);
    rows.push_back(std::move(row));
  }
  return rows;
}

// Recomputes the chain, as QueryStore::VerifyAudit does, from the rows themselves.
AuditVerification VerifyChain(Sql& sql, const std::string& key = "") {
  AuditChainWalk walk(key);
  for (const AuditRow& row : ReadAudit(sql)) walk.Add(row);
  return walk.Finish();
}

// One node's writer: its own connection and store.
struct Node {
  explicit Node(const std::string& url) {
    auto c = pg::Connection::Open({.url = url, .application_name = "hookvault-node"});
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    if (!c.ok()) return;
    conn = std::move(c).value();
    auto s = PostgresOperatorStore::Create(*conn);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    if (s.ok()) store = std::move(s).value();
  }
  std::unique_ptr<pg::Connection> conn;  // before the store: destroyed after it
  std::unique_ptr<PostgresOperatorStore> store;
};

class PostgresOperatorStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto* server = hookvault::testing::PostgresServer::Shared();
    ASSERT_NE(server, nullptr);
    url_ = server->CreateDatabase();
    ASSERT_FALSE(url_.empty());
    sql_ = std::make_unique<Sql>(url_);
    ASSERT_TRUE(sql_->ok());
    node_ = std::make_unique<Node>(url_);
    ASSERT_NE(node_->store, nullptr);

    // e1: billing failed (2 attempts), crm succeeded. e2: billing failed. e3: crm pending.
    e1_ = AddEvent("failed");
    e2_ = AddEvent("failed");
    e3_ = AddEvent("pending");
    b1_ = AddDelivery(e1_, "billing", "failed", 2);
    c1_ = AddDelivery(e1_, "crm", "succeeded", 1);
    b2_ = AddDelivery(e2_, "billing", "failed", 1);
    c3_ = AddDelivery(e3_, "crm", "pending", 1);
    AddAttempt(b1_, 1, "failure");
    AddAttempt(b1_, 2, "failure");
    AddAttempt(c1_, 1, "success");
    AddAttempt(b2_, 1, "failure");
    AddAttempt(c3_, 1, "failure");
  }

  // Inserts an event with the next seq, as ingest would; returns its seq (its id is "e<seq>").
  int64_t AddEvent(const std::string& status, int64_t received_at = kT) {
    int64_t seq = sql_->Int(
        "UPDATE event_seq_counter SET last_seq = last_seq + 1 WHERE id = 1 "
        "RETURNING last_seq");
    sql_->Run(
        "INSERT INTO events (seq, id, source, event_type, idempotency_key, received_at, "
        "remote_addr, headers, body, status) VALUES ($1::bigint, 'e' || $1::bigint, "
        "'alpha', 'payment.received', 'k' || $1::bigint, $2, '127.0.0.1', '{}', '\\x7b7d', $3)",
        pg::Params().Add(seq).Add(received_at).Add(status));
    return seq;
  }
  static std::string EventId(int64_t seq) { return "e" + std::to_string(seq); }

  int64_t AddDelivery(int64_t seq, const std::string& destination, const std::string& status,
                      int attempts, int64_t created_at = kT) {
    return sql_->Int(
        "INSERT INTO deliveries (event_seq, destination, status, attempts, next_attempt_at, "
        "last_error, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, "
        "CASE WHEN $3 = 'failed' THEN 'HTTP 503' END, $6, $6) RETURNING id",
        pg::Params()
            .Add(seq)
            .Add(destination)
            .Add(status)
            .Add(int64_t{attempts})
            .Add(kT + 60 * kSecond)
            .Add(created_at));
  }

  void AddAttempt(int64_t delivery_id, int number, const std::string& outcome) {
    sql_->Run(
        "INSERT INTO attempts (delivery_id, number, started_at, duration_us, http_status, "
        "outcome, destination, event_seq) SELECT id, $2, $3, 1000, $4, $5, destination, "
        "event_seq FROM deliveries WHERE id = $1",
        pg::Params()
            .Add(delivery_id)
            .Add(int64_t{number})
            .Add(kT + number)
            .Add(int64_t{outcome == "success" ? 200 : 503})
            .Add(outcome));
  }

  std::string DeliveryStatus(int64_t delivery_id) {
    return sql_->Text("SELECT status FROM deliveries WHERE id = $1", pg::Params().Add(delivery_id));
  }
  int64_t Column(const std::string& column, int64_t delivery_id) {
    return sql_->Int("SELECT " + column + " FROM deliveries WHERE id = $1",
                     pg::Params().Add(delivery_id));
  }
  std::string EventStatus(int64_t seq) {
    return sql_->Text("SELECT status FROM events WHERE seq = $1", pg::Params().Add(seq));
  }
  void SetStatus(int64_t delivery_id, const std::string& status) {
    sql_->Run("UPDATE deliveries SET status = $2 WHERE id = $1",
              pg::Params().Add(delivery_id).Add(status));
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

  StatusOr<ReprocessResult> Reprocess(DeliveryFilter filter, bool dry_run = false,
                                      std::vector<std::string> destinations = {},
                                      size_t max_rows = 1000) {
    return node_->store->Reprocess(Spec(std::move(filter), dry_run, std::move(destinations)), kWho,
                                   now_, max_rows);
  }

  const AuditActor kWho{"ops", "operator", "receiver fixed"};

  std::string url_;
  std::unique_ptr<Sql> sql_;
  std::unique_ptr<Node> node_;
  int64_t now_ = kT + 3600 * kSecond;
  int64_t e1_ = 0, e2_ = 0, e3_ = 0;
  int64_t b1_ = 0, c1_ = 0, b2_ = 0, c3_ = 0;
};

TEST_F(PostgresOperatorStoreTest, ReprocessEventRequeuesItsFailedDeliveriesAndKeepsHistory) {
  ASSERT_EQ(EventStatus(e1_), "failed");
  auto r = Reprocess({.status = "failed", .event_id = EventId(e1_)});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->matched, 1);
  EXPECT_EQ(r->requeued, 1);
  EXPECT_EQ(r->audit_id, 1);

  EXPECT_EQ(DeliveryStatus(b1_), "pending");
  EXPECT_EQ(DeliveryStatus(c1_), "succeeded");  // not failed: untouched
  EXPECT_EQ(DeliveryStatus(b2_), "failed");     // another event
  EXPECT_EQ(Column("attempts", b1_), 0);
  EXPECT_EQ(Column("next_attempt_at", b1_), now_);
  EXPECT_EQ(Column("updated_at", b1_), now_);
  EXPECT_EQ(Column("requeued_at", b1_), now_);
  EXPECT_EQ(Column("(lease_expires_at IS NULL)::int", b1_), 1);
  EXPECT_EQ(Column("requeued_at", c1_), -1);  // NULL: never requeued
  EXPECT_EQ(
      sql_->Int("SELECT count(*) FROM attempts WHERE delivery_id = $1", pg::Params().Add(b1_)), 2);
  EXPECT_EQ(EventStatus(e1_), "pending");  // refreshed: no delivery failed any more
  EXPECT_EQ(EventStatus(e2_), "failed");
}

TEST_F(PostgresOperatorStoreTest, ReprocessWithoutStatusTakesFailedAndSucceededNeverPending) {
  // e3's crm delivery is pending and leased (in flight): it must stay exactly as it is.
  sql_->Run(
      "UPDATE deliveries SET lease_token = lease_token + 1, lease_expires_at = $2 "
      "WHERE id = $1",
      pg::Params().Add(c3_).Add(now_ + 30 * kSecond));
  auto r = Reprocess({});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->matched, 3);  // b1 c1 b2
  EXPECT_EQ(r->requeued, 3);
  EXPECT_EQ(DeliveryStatus(c1_), "pending");
  EXPECT_EQ(Column("lease_expires_at", c3_), now_ + 30 * kSecond);
  EXPECT_EQ(Column("lease_token", c3_), 1);
  EXPECT_EQ(Column("attempts", c3_), 1);

  auto pending_only = Reprocess({.status = "pending"});
  ASSERT_TRUE(pending_only.ok());
  EXPECT_EQ(pending_only->matched, 0);
  EXPECT_FALSE(Reprocess({.status = "bogus"}).ok());
}

// A reprocess ends the lease of what it requeues: a failed delivery may still hold one (the
// outcome that failed it came from an older claim); its token stays, so the outcome of any
// attempt made under it no longer applies (storage/delivery_store.h "Fencing").
TEST_F(PostgresOperatorStoreTest, ARequeueEndsTheLease) {
  sql_->Run("UPDATE deliveries SET lease_token = 7, lease_expires_at = $2 WHERE id = $1",
            pg::Params().Add(b2_).Add(now_ + 30 * kSecond));
  auto r = Reprocess({.destination = "billing", .status = "failed", .event_id = EventId(e2_)});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->requeued, 1);
  EXPECT_EQ(Column("(lease_expires_at IS NULL)::int", b2_), 1);
  EXPECT_EQ(Column("lease_token", b2_), 7);
}

TEST_F(PostgresOperatorStoreTest, BulkReprocessByFilterAndDestinations) {
  auto by_destination = Reprocess({.destination = "billing", .status = "failed"}, true);
  ASSERT_TRUE(by_destination.ok()) << by_destination.status().ToString();
  EXPECT_EQ(by_destination->matched, 2);

  auto crm_only = Reprocess({.status = "failed"}, true, {"crm"});
  ASSERT_TRUE(crm_only.ok());
  EXPECT_EQ(crm_only->matched, 0);
  auto disjoint = Reprocess({.destination = "billing"}, true, {"crm"});
  ASSERT_TRUE(disjoint.ok());
  EXPECT_EQ(disjoint->matched, 0);
  auto twice = Reprocess({.status = "failed"}, true, {"billing", "billing"});
  ASSERT_TRUE(twice.ok());
  EXPECT_EQ(twice->matched, 2);
  auto window = Reprocess({.status = "failed", .created_after = kT + 1}, true);
  ASSERT_TRUE(window.ok());
  EXPECT_EQ(window->matched, 0);

  auto r = Reprocess({.destination = "billing", .status = "failed", .created_before = kT + 1});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->matched, 2);
  EXPECT_EQ(r->requeued, 2);
  EXPECT_EQ(DeliveryStatus(b1_), "pending");
  EXPECT_EQ(DeliveryStatus(b2_), "pending");
  EXPECT_EQ(EventStatus(e2_), "pending");
  EXPECT_EQ(sql_->Int("SELECT count(*) FROM deliveries WHERE status = 'failed'"), 0);
}

TEST_F(PostgresOperatorStoreTest, DryRunCountsChangesNothingAndIsAudited) {
  const std::string state =
      "SELECT string_agg(status || attempts || next_attempt_at, ',' ORDER BY id) FROM deliveries";
  std::string before = sql_->Text(state);
  auto r = Reprocess({.status = "failed"}, /*dry_run=*/true);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->matched, 2);
  EXPECT_EQ(r->requeued, 0);
  EXPECT_EQ(sql_->Text(state), before);
  EXPECT_EQ(EventStatus(e1_), "failed");
  std::vector<AuditRow> audit = ReadAudit(*sql_);
  ASSERT_EQ(audit.size(), 1u);
  const AuditRow& row = audit[0];
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

  // The server's dry run: counted on a reader, audited here.
  auto id = node_->store->AuditDryRun(Spec({.status = "failed"}, true), kWho, 2, now_ + 1);
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  EXPECT_EQ(*id, 2);
  audit = ReadAudit(*sql_);
  ASSERT_EQ(audit.size(), 2u);
  EXPECT_EQ(audit[1].matched, 2);
  EXPECT_EQ(audit[1].requeued, 0);
  EXPECT_EQ(audit[1].action, "reprocess_bulk");
  EXPECT_TRUE(VerifyChain(*sql_).ok);
}

TEST_F(PostgresOperatorStoreTest, AChunkedRunAuditsItsStartWithItsFirstChunkAndItsTotalsAtTheEnd) {
  auto r = Reprocess({}, /*dry_run=*/false, {}, /*max_rows=*/1);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->matched, 3);  // b1 c1 b2
  EXPECT_EQ(r->requeued, 3);
  EXPECT_EQ(DeliveryStatus(b1_), "pending");
  EXPECT_EQ(DeliveryStatus(c1_), "pending");
  EXPECT_EQ(DeliveryStatus(b2_), "pending");
  EXPECT_EQ(EventStatus(e1_), "pending");
  EXPECT_EQ(EventStatus(e2_), "pending");
  std::vector<AuditRow> audit = ReadAudit(*sql_);
  ASSERT_EQ(audit.size(), 2u);
  EXPECT_EQ(audit[0].action, "reprocess_bulk_started");
  EXPECT_EQ(audit[0].matched, 0);
  EXPECT_EQ(audit[0].requeued, 0);
  EXPECT_EQ(audit[0].target_json, R"({"status":"failed"})");
  EXPECT_EQ(audit[0].reason, "receiver fixed");
  EXPECT_EQ(audit[1].action, "reprocess_bulk");
  EXPECT_EQ(audit[1].id, r->audit_id);
  EXPECT_EQ(audit[1].matched, 3);
  EXPECT_EQ(audit[1].requeued, 3);
  AuditVerification v = VerifyChain(*sql_);
  EXPECT_TRUE(v.ok);
  EXPECT_EQ(v.rows, 2);

  auto again = Reprocess({}, false, {}, 1);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->matched, 0);
  EXPECT_EQ(sql_->Int("SELECT count(*) FROM audit_log"), 3);
}

// The first chunk's `_started` row commits with that chunk: when a later chunk fails, what the
// first changed is covered.
TEST_F(PostgresOperatorStoreTest, TheStartedRowCommitsWithTheFirstChunk) {
  ReprocessSpec spec = Spec({});
  auto first = node_->store->ReprocessChunk(spec, kWho, {}, 1, now_);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_FALSE(first->done);
  EXPECT_EQ(first->started_audit_id, 1);
  EXPECT_EQ(sql_->Text("SELECT action FROM audit_log WHERE id = 1"), "reprocess_bulk_started");
  EXPECT_EQ(DeliveryStatus(b2_), "pending");
}

TEST_F(PostgresOperatorStoreTest, ARunLooksAtEachDeliveryOnceWhateverHappensMeanwhile) {
  ASSERT_LT(b1_, c1_);
  ASSERT_LT(c1_, b2_);
  ReprocessSpec spec = Spec({});  // failed and succeeded
  auto first = node_->store->ReprocessChunk(spec, kWho, {}, 1, now_);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_FALSE(first->done);
  EXPECT_EQ(first->requeued, 1);
  EXPECT_EQ(first->started_audit_id, 1);
  EXPECT_EQ(DeliveryStatus(b2_), "pending");  // the newest first

  SetStatus(b2_, "succeeded");  // delivered meanwhile
  int64_t e4 = AddEvent("failed");
  int64_t b4 = AddDelivery(e4, "billing", "failed", 1);  // created (and failed) meanwhile

  ReprocessProgress progress = *first;
  while (!progress.done) {
    auto next = node_->store->ReprocessChunk(spec, kWho, progress, 1, now_);
    ASSERT_TRUE(next.ok()) << next.status().ToString();
    progress = *next;
  }
  EXPECT_EQ(progress.matched, 3);
  EXPECT_EQ(progress.requeued, 3);
  EXPECT_EQ(DeliveryStatus(b2_), "succeeded");
  EXPECT_EQ(DeliveryStatus(b4), "failed");
  EXPECT_EQ(DeliveryStatus(c1_), "pending");
  EXPECT_EQ(DeliveryStatus(b1_), "pending");
  EXPECT_EQ(
      sql_->Int("SELECT matched FROM audit_log WHERE id = $1", pg::Params().Add(progress.audit_id)),
      3);
}

// The walk matches what the filter says, for every kind of filter and chunk size: checked
// against the deliveries read whole and filtered here.
TEST_F(PostgresOperatorStoreTest, TheWalkMatchesTheFilterForEveryKindAndChunkSize) {
  // More variety: c3 failed too, and deliveries created at other times.
  sql_->Run("UPDATE deliveries SET status = 'failed' WHERE id = $1", pg::Params().Add(c3_));
  int64_t e5 = AddEvent("failed");
  AddDelivery(e5, "billing", "failed", 1, kT - 10);
  AddDelivery(e5, "crm", "succeeded", 1, kT + 10);

  struct Row {
    std::string destination, status, event_id;
    int64_t created_at;
  };
  std::vector<Row> all;
  pg::Result rows = sql_->Run(
      "SELECT d.destination, d.status, e.id, d.created_at FROM deliveries d "
      "JOIN events e ON e.seq = d.event_seq");
  for (int i = 0; i < rows.rows(); ++i) {
    all.push_back(
        {rows.GetString(i, 0), rows.GetString(i, 1), rows.GetString(i, 2), rows.GetInt64(i, 3)});
  }
  auto expected = [&all](const ReprocessSpec& spec) {
    int64_t n = 0;
    for (const Row& r : all) {
      const DeliveryFilter& f = spec.filter;
      if (r.status == "pending") continue;
      if (f.status && *f.status != r.status) continue;
      if (f.destination && *f.destination != r.destination) continue;
      if (!spec.destinations.empty() &&
          std::find(spec.destinations.begin(), spec.destinations.end(), r.destination) ==
              spec.destinations.end()) {
        continue;
      }
      if (f.event_id && *f.event_id != r.event_id) continue;
      if (f.created_after && r.created_at < *f.created_after) continue;
      if (f.created_before && r.created_at >= *f.created_before) continue;
      ++n;
    }
    return n;
  };
  const std::vector<ReprocessSpec> specs = {
      Spec({}),
      Spec({.status = "failed"}),
      Spec({.status = "succeeded"}),
      Spec({.status = "pending"}),
      Spec({.destination = "billing"}),
      Spec({.destination = "crm", .status = "failed"}),
      Spec({.status = "failed"}, false, {"crm", "billing"}),
      Spec({.destination = "billing"}, false, {"crm"}),
      Spec({.event_id = EventId(e1_)}),
      Spec({.status = "failed", .event_id = EventId(e3_)}),
      Spec({.created_after = kT}),
      Spec({.created_after = kT + 1}),
      Spec({.status = "failed", .created_before = kT + 1}),
      Spec({.destination = "crm", .created_after = kT - 1, .created_before = kT + 1}),
      Spec({.destination = "billing",
            .status = "failed",
            .event_id = EventId(e5),
            .created_after = kT - 10,
            .created_before = kT}),
  };
  int64_t total = 0;
  for (size_t i = 0; i < specs.size(); ++i) {
    ReprocessSpec dry = specs[i];
    dry.dry_run = true;
    for (size_t chunk : {size_t{1}, size_t{2}, size_t{1000}}) {
      auto walked = node_->store->Reprocess(dry, kWho, now_, chunk);
      ASSERT_TRUE(walked.ok()) << walked.status().ToString();
      EXPECT_EQ(walked->matched, expected(dry)) << "spec " << i << ", chunks of " << chunk;
      total += walked->matched;
    }
  }
  EXPECT_GT(total, 0);
  EXPECT_EQ(expected(Spec({})), 6);
}

TEST_F(PostgresOperatorStoreTest, AckConsumerNeverMovesBackwards) {
  auto first = node_->store->AckConsumer("warehouse", 10, kT + 1);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(*first, 10);
  auto back = node_->store->AckConsumer("warehouse", 5, kT + 2);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, 10);
  auto same = node_->store->AckConsumer("warehouse", 10, kT + 3);
  ASSERT_TRUE(same.ok());
  EXPECT_EQ(*same, 10);
  auto forward = node_->store->AckConsumer("warehouse", 12, kT + 4);
  ASSERT_TRUE(forward.ok());
  EXPECT_EQ(*forward, 12);
  auto other = node_->store->AckConsumer("analytics", 1, kT + 5);
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(*other, 1);
  EXPECT_EQ(sql_->Int("SELECT cursor FROM consumers WHERE name = 'warehouse'"), 12);
  EXPECT_EQ(sql_->Int("SELECT updated_at FROM consumers WHERE name = 'warehouse'"), kT + 4);
}

// Two nodes ack the same consumer at the same moment, round after round, one with the higher
// cursor: whichever commits last, the higher cursor stays, and the first acks of a new consumer
// (an insert race) both succeed.
TEST_F(PostgresOperatorStoreTest, ConcurrentAcksFromTwoNodesKeepTheHigherCursor) {
  Node other(url_);
  ASSERT_NE(other.store, nullptr);
  constexpr int kRounds = 200;
  std::barrier sync(2);
  std::atomic<int> failures{0};
  auto acker = [&](PostgresOperatorStore& store, bool high) {
    for (int round = 0; round < kRounds; ++round) {
      sync.arrive_and_wait();
      const std::string name = "c" + std::to_string(round);
      const int64_t seq = 1000 + round * 2 + (high ? 1 : 0);
      auto acked = store.AckConsumer(name, seq, kT + round);
      if (!acked.ok() || *acked < seq) ++failures;
    }
  };
  std::thread a([&] { acker(*node_->store, true); });
  std::thread b([&] { acker(*other.store, false); });
  a.join();
  b.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(sql_->Int("SELECT count(*) FROM consumers"), kRounds);
  EXPECT_EQ(sql_->Int("SELECT count(*) FROM consumers WHERE cursor % 2 = 0"), 0)
      << "a lower cursor overwrote a higher one";
}

class PostgresAuditChainTest : public PostgresOperatorStoreTest {
 protected:
  void SetUp() override {
    PostgresOperatorStoreTest::SetUp();
    for (int i = 0; i < 3; ++i) {
      now_ += kSecond;
      ASSERT_TRUE(Reprocess({.status = "failed"}, /*dry_run=*/i != 1).ok());
    }
  }
};

TEST_F(PostgresAuditChainTest, AGoodChainVerifies) {
  AuditVerification v = VerifyChain(*sql_);
  EXPECT_TRUE(v.ok);
  EXPECT_EQ(v.rows, 3);
  EXPECT_FALSE(v.first_bad.has_value());
  std::vector<AuditRow> rows = ReadAudit(*sql_);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[2].prev_hash, rows[1].hash);
  EXPECT_EQ(rows[1].prev_hash, rows[0].hash);
  EXPECT_EQ(rows[1].requeued, 2);  // the one real run
  EXPECT_EQ(rows[2].matched, 0);   // nothing failed any more
  EXPECT_EQ(v.head, rows[2].hash);
}

TEST_F(PostgresAuditChainTest, AnActionRowContinuesTheChain) {
  auto id =
      node_->store->AuditAction({"ops", "operator", "after the cert change"}, "destination.test",
                                R"({"destination":"billing","status":200})", now_ + kSecond);
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  EXPECT_EQ(*id, 4);
  std::vector<AuditRow> rows = ReadAudit(*sql_);
  ASSERT_EQ(rows.size(), 4u);
  const AuditRow& row = rows[3];
  EXPECT_EQ(row.action, "destination.test");
  EXPECT_EQ(row.reason, "after the cert change");
  EXPECT_EQ(row.target_json, R"({"destination":"billing","status":200})");
  EXPECT_EQ(row.matched, 0);
  EXPECT_EQ(row.requeued, 0);
  EXPECT_EQ(row.prev_hash, rows[2].hash);
  AuditVerification v = VerifyChain(*sql_);
  EXPECT_TRUE(v.ok);
  EXPECT_EQ(v.rows, 4);
}

TEST_F(PostgresAuditChainTest, TriggersRefuseUpdateAndDelete) {
  EXPECT_FALSE(sql_->Try("UPDATE audit_log SET reason = 'x' WHERE id = 2").ok());
  EXPECT_FALSE(sql_->Try("DELETE FROM audit_log WHERE id = 2").ok());
  EXPECT_EQ(sql_->Int("SELECT count(*) FROM audit_log"), 3);
}

TEST_F(PostgresAuditChainTest, AnEditedRowIsTheFirstBad) {
  sql_->Run("ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update");
  sql_->Run("UPDATE audit_log SET requeued = 0 WHERE id = 2");
  AuditVerification v = VerifyChain(*sql_);
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.first_bad, 2);
}

TEST_F(PostgresAuditChainTest, AKeyContinuesTheChainKeyedOnceAcrossNodes) {
  // Two nodes start with the key at once over the unkeyed chain: one "audit_key_added" row.
  Node other(url_);
  ASSERT_NE(other.store, nullptr);
  StatusOr<int64_t> added_a = Status::Internal("not run");
  StatusOr<int64_t> added_b = Status::Internal("not run");
  std::thread a([&] { added_a = node_->store->StartAuditChain("k3y", now_); });
  std::thread b([&] { added_b = other.store->StartAuditChain("k3y", now_); });
  a.join();
  b.join();
  ASSERT_TRUE(added_a.ok()) << added_a.status().ToString();
  ASSERT_TRUE(added_b.ok()) << added_b.status().ToString();
  EXPECT_EQ(std::max(*added_a, *added_b), 4);
  EXPECT_EQ(std::min(*added_a, *added_b), 0);
  EXPECT_EQ(sql_->Int("SELECT count(*) FROM audit_log WHERE action = 'audit_key_added'"), 1);

  ASSERT_TRUE(node_->store->AuditAction(kWho, "destination.test", "{}", now_ + 1).ok());
  ASSERT_TRUE(other.store->AuditAction(kWho, "destination.test", "{}", now_ + 2).ok());
  AuditVerification v = VerifyChain(*sql_, "k3y");
  EXPECT_TRUE(v.ok);
  EXPECT_EQ(v.rows, 6);
  EXPECT_EQ(v.keyed_from, 4);

  // A node with another key, or none, neither starts nor appends: its rows would not verify.
  Node wrong(url_);
  ASSERT_NE(wrong.store, nullptr);
  auto started = wrong.store->StartAuditChain("other", now_);
  EXPECT_EQ(started.status().code(), StatusCode::kUnavailable);
  auto unkeyed = wrong.store->StartAuditChain("", now_);
  EXPECT_EQ(unkeyed.status().code(), StatusCode::kUnavailable);
  auto appended = wrong.store->AuditAction(kWho, "destination.test", "{}", now_ + 3);
  EXPECT_EQ(appended.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(sql_->Int("SELECT count(*) FROM audit_log"), 6);
  EXPECT_TRUE(VerifyChain(*sql_, "k3y").ok);
}

// Two nodes append audit rows at the same time: the advisory lock makes them take turns, so
// every append succeeds and the rows form one chain (ids 1..n, each prev_hash the row before's
// hash). Without the lock, both read the same last row and one insert fails on the id.
TEST_F(PostgresOperatorStoreTest, TwoNodesAppendingAtOnceFormOneChain) {
  Node other(url_);
  ASSERT_NE(other.store, nullptr);
  constexpr int kRows = 100;
  std::barrier sync(2);
  std::atomic<int> failures{0};
  auto append = [&](PostgresOperatorStore& store, const std::string& actor) {
    for (int i = 0; i < kRows; ++i) {
      if (i % 10 == 0) sync.arrive_and_wait();
      auto id = (i % 3 == 0) ? store.AuditDryRun(Spec({.status = "failed"}, true),
                                                 {actor, "operator", "dry"}, i, kT + i)
                             : store.AuditAction({actor, "operator", "test"}, "destination.test",
                                                 "{}", kT + i);
      if (!id.ok()) {
        ++failures;
        ADD_FAILURE() << id.status().ToString();
      }
    }
  };
  std::thread a([&] { append(*node_->store, "node-a"); });
  std::thread b([&] { append(*other.store, "node-b"); });
  a.join();
  b.join();
  EXPECT_EQ(failures.load(), 0);
  std::vector<AuditRow> rows = ReadAudit(*sql_);
  ASSERT_EQ(rows.size(), 2u * kRows);
  for (size_t i = 0; i < rows.size(); ++i) EXPECT_EQ(rows[i].id, static_cast<int64_t>(i + 1));
  AuditVerification v = VerifyChain(*sql_);
  EXPECT_TRUE(v.ok) << "first bad row " << v.first_bad.value_or(0);
  EXPECT_EQ(v.rows, 2 * kRows);
  EXPECT_EQ(sql_->Int("SELECT count(DISTINCT actor) FROM audit_log"), 2);
}

// Waits until a session named `application_name` waits for a lock.
bool WaitUntilBlocked(Sql& sql, const std::string& application_name) {
  for (int i = 0; i < 1000; ++i) {
    if (sql.Int("SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 "
                "AND datname = current_database() AND wait_event_type = 'Lock'",
                pg::Params().Add(application_name)) > 0) {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

// Another node's reprocess requeues a delivery this run has walked but not yet requeued: this
// run's requeue waits for that one's commit, then leaves the delivery alone (it is pending now)
// and does not count it, so two runs over the same rows requeue each delivery once between
// them.
TEST_F(PostgresOperatorStoreTest, ADeliveryAnotherNodeRequeuedMeanwhileIsNotRequeuedAgain) {
  Sql other(url_, "other-node");
  ASSERT_TRUE(other.ok());
  auto blocked = pg::Connection::Open({.url = url_, .application_name = "blocked-node"});
  ASSERT_TRUE(blocked.ok());
  auto store = PostgresOperatorStore::Create(**blocked);
  ASSERT_TRUE(store.ok());

  other.Run("BEGIN");
  other.Run(
      "UPDATE deliveries SET status = 'pending', attempts = 0, requeued_at = 1 "
      "WHERE id = $1",
      pg::Params().Add(b1_));
  StatusOr<ReprocessResult> result = Status::Internal("not run");
  std::thread run([&] { result = (*store)->Reprocess(Spec({.status = "failed"}), kWho, now_); });
  const bool blocked_meanwhile = WaitUntilBlocked(*sql_, "blocked-node");
  other.Run("COMMIT");
  run.join();
  ASSERT_TRUE(blocked_meanwhile);
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_EQ(result->matched, 2);             // b1 and b2 were failed when it walked
  EXPECT_EQ(result->requeued, 1);            // b2 only
  EXPECT_EQ(Column("requeued_at", b1_), 1);  // the other node's requeue stands
  EXPECT_EQ(Column("requeued_at", b2_), now_);
}

// Another node's scheduler finishes a delivery of the same event (crm fails for good) while
// this run requeues billing: the event's status is refreshed from both, as they are after the
// other commit — failed, since crm failed — not from what the refresh saw when it started.
TEST_F(PostgresOperatorStoreTest, TheEventStatusCountsADeliveryAnotherNodeFinishedMeanwhile) {
  int64_t e = AddEvent("failed");
  int64_t billing = AddDelivery(e, "billing", "failed", 1);
  int64_t crm = AddDelivery(e, "crm", "pending", 1);
  Sql other(url_, "other-node");
  ASSERT_TRUE(other.ok());
  auto blocked = pg::Connection::Open({.url = url_, .application_name = "blocked-node"});
  ASSERT_TRUE(blocked.ok());
  auto store = PostgresOperatorStore::Create(**blocked);
  ASSERT_TRUE(store.ok());

  other.Run("BEGIN");
  other.Run("UPDATE deliveries SET status = 'failed' WHERE id = $1", pg::Params().Add(crm));
  other.Run("UPDATE events SET status = 'failed' WHERE seq = $1", pg::Params().Add(e));
  StatusOr<ReprocessResult> result = Status::Internal("not run");
  std::thread run([&] {
    result = (*store)->Reprocess(
        Spec({.destination = "billing", .status = "failed", .event_id = EventId(e)}), kWho, now_);
  });
  const bool blocked_meanwhile = WaitUntilBlocked(*sql_, "blocked-node");
  other.Run("COMMIT");
  run.join();
  ASSERT_TRUE(blocked_meanwhile);
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_EQ(result->requeued, 1);
  EXPECT_EQ(DeliveryStatus(billing), "pending");
  EXPECT_EQ(DeliveryStatus(crm), "failed");
  EXPECT_EQ(EventStatus(e), "failed");
}

// The server ends the node's session (a restart, a failover, an idle timeout): the call that
// finds out fails with kUnavailable, and the next one reconnects, with its statements prepared
// again.
TEST_F(PostgresOperatorStoreTest, ALostConnectionIsOpenedAgainOnTheNextCall) {
  ASSERT_TRUE(node_->store->AckConsumer("warehouse", 1, kT).ok());
  EXPECT_EQ(sql_->Int("SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM "
                      "pg_stat_activity WHERE application_name = 'hookvault-node' AND "
                      "datname = current_database()) ended"),
            1);
  auto lost = node_->store->AckConsumer("warehouse", 2, kT);
  EXPECT_EQ(lost.status().code(), StatusCode::kUnavailable) << lost.status().ToString();
  auto again = node_->store->AckConsumer("warehouse", 3, kT);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(*again, 3);
  auto r = Reprocess({.status = "failed"});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->requeued, 2);
  EXPECT_TRUE(VerifyChain(*sql_).ok);
}

}  // namespace
}  // namespace hookvault::storage
