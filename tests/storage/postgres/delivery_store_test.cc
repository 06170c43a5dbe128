// PostgresDeliveryStore on a real PostgreSQL with the real migrations, with two "nodes" (each its
// own connection and stores) on one database: claims never overlap, leases run on the database's
// clock and expire to the other node, outcomes are fenced, `held` and the cluster-wide
// concurrency cap hold, outcomes set delivery and event status, Pending() summarises.
#include "storage/postgres/delivery_store.h"

#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "storage/postgres/connection.h"
#include "storage/postgres/event_log.h"
#include "storage/postgres/stores.h"
#include "storage/postgres/write_sql.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/postgres_server.h"

namespace hookvault::storage {
namespace {

using std::chrono::milliseconds;

constexpr int64_t kT = 1'790'000'000'000'000;
constexpr int64_t kSecond = 1'000'000;
constexpr int64_t kDay = 86'400 * kSecond;

// One hookvault node's write side: its own connection, clock, event log and delivery store.
struct Node {
  explicit Node(int64_t now) : clock(now) {}
  hookvault::testing::FakeClock clock;
  std::unique_ptr<pg::Connection> conn;
  std::unique_ptr<PostgresEventLog> log;
  std::unique_ptr<PostgresDeliveryStore> deliveries;
};

class PostgresDeliveryStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto* server = hookvault::testing::PostgresServer::Shared();
    ASSERT_NE(server, nullptr);
    url_ = server->CreateDatabase();
    ASSERT_FALSE(url_.empty());
    auto reader = pg::Connection::Open({.url = url_, .application_name = "test-reader"});
    ASSERT_TRUE(reader.ok()) << reader.status().ToString();
    reader_ = std::move(reader).value();
    a_ = OpenNode(kT);
    b_ = OpenNode(kT);
    ASSERT_NE(a_->deliveries, nullptr);
    ASSERT_NE(b_->deliveries, nullptr);
  }

  std::unique_ptr<Node> OpenNode(int64_t now, std::map<std::string, int> concurrency = {}) {
    auto node = std::make_unique<Node>(now);
    auto conn = pg::Connection::Open({.url = url_, .application_name = "hookvault-writer"});
    EXPECT_TRUE(conn.ok()) << conn.status().ToString();
    if (!conn.ok()) return node;
    node->conn = std::move(conn).value();
    auto log = PostgresEventLog::Create(*node->conn, node->clock);
    EXPECT_TRUE(log.ok()) << log.status().ToString();
    if (log.ok()) node->log = std::move(log).value();
    auto deliveries =
        PostgresDeliveryStore::Create(*node->conn, node->clock, std::move(concurrency));
    EXPECT_TRUE(deliveries.ok()) << deliveries.status().ToString();
    if (deliveries.ok()) node->deliveries = std::move(deliveries).value();
    return node;
  }

  // Stores `n` events (keys prefix0..) with one delivery to each of `destinations`.
  void AddEvents(int n, std::vector<std::string> destinations = {"billing"},
                 const std::string& prefix = "k") {
    std::vector<IngestRecord> batch;
    for (int i = 0; i < n; ++i) {
      NewEvent e;
      e.source = "alpha";
      e.event_type = "t";
      e.idempotency_key = prefix + std::to_string(i);
      e.received_at = kT;
      e.headers_json = "{}";
      e.body = "{\"i\":" + std::to_string(i) + "}";
      e.destinations = destinations;
      batch.push_back(IngestRecord{std::move(e), std::nullopt});
    }
    auto appended = a_->log->Append(batch);
    ASSERT_TRUE(appended.ok()) << appended.status().ToString();
  }

  static std::vector<DueDelivery> Claim(Node& node, int limit, int64_t lease,
                                        std::vector<int64_t> held = {},
                                        const std::string& destination = "billing") {
    const int64_t now = node.clock.NowMicros();
    auto due = node.deliveries->ClaimDue(destination, limit, now, now + lease, held);
    EXPECT_TRUE(due.ok()) << due.status().ToString();
    return due.ok() ? *due : std::vector<DueDelivery>{};
  }

  static AttemptRecord Outcome(const DueDelivery& d, AttemptRecord::Next next, int64_t at) {
    AttemptRecord a;
    a.delivery_id = d.delivery_id;
    a.lease_token = d.lease_token;
    a.number = d.attempt;
    a.started_at = at;
    a.duration_us = 1234;
    a.http_status = next == AttemptRecord::Next::kSucceeded ? 200 : 500;
    a.response_excerpt = std::string("answer\0bytes", 12);
    a.next = next;
    a.next_attempt_at = at + 60 * kSecond;
    return a;
  }

  // Records one outcome; returns true if applied, false if refused as stale.
  static bool Record(Node& node, const DueDelivery& d, AttemptRecord::Next next) {
    std::vector<AttemptRecord> batch = {Outcome(d, next, node.clock.NowMicros())};
    auto recorded = node.deliveries->RecordAttempts(batch);
    EXPECT_TRUE(recorded.ok()) << recorded.status().ToString();
    if (!recorded.ok()) return false;
    EXPECT_EQ(static_cast<size_t>(recorded->applied) + recorded->stale.size(), 1u);
    return recorded->applied == 1;
  }

  int64_t QueryInt(const std::string& sql, std::optional<int64_t> param = std::nullopt) {
    pg::Params params;
    if (param) params.Add(*param);
    auto r = reader_->Exec(sql, params);
    EXPECT_TRUE(r.ok()) << sql << ": " << r.status().ToString();
    if (!r.ok() || r->rows() == 0 || r->IsNull(0, 0)) return -1;
    return r->GetInt64(0, 0);
  }
  std::string QueryText(const std::string& sql, std::optional<int64_t> param = std::nullopt) {
    pg::Params params;
    if (param) params.Add(*param);
    auto r = reader_->Exec(sql, params);
    EXPECT_TRUE(r.ok()) << sql << ": " << r.status().ToString();
    if (!r.ok() || r->rows() == 0) return "<no row>";
    return r->IsNull(0, 0) ? "<null>" : r->GetString(0, 0);
  }

  std::string url_;
  std::unique_ptr<pg::Connection> reader_;
  std::unique_ptr<Node> a_;
  std::unique_ptr<Node> b_;
};

TEST_F(PostgresDeliveryStoreTest, AClaimLeasesOldestDueFirstWithTheEventsContent) {
  AddEvents(3);
  auto due = Claim(*a_, 2, 30 * kSecond);
  ASSERT_EQ(due.size(), 2u);
  EXPECT_LT(due[0].delivery_id, due[1].delivery_id);
  EXPECT_EQ(due[0].attempt, 1);
  EXPECT_EQ(due[0].destination, "billing");
  EXPECT_EQ(due[0].source, "alpha");
  EXPECT_EQ(due[0].event_type, "t");
  EXPECT_EQ(due[0].body, "{\"i\":0}");
  EXPECT_EQ(due[0].received_at, kT);
  EXPECT_EQ(due[0].event_id, QueryText("SELECT id FROM events WHERE seq = 1"));
  EXPECT_EQ(QueryInt("SELECT count(*) FROM deliveries WHERE lease_expires_at IS NOT NULL"), 2);
  EXPECT_EQ(Claim(*a_, 5, 30 * kSecond).size(), 1u);  // the one left
  EXPECT_TRUE(Claim(*a_, 5, 30 * kSecond).empty());
  EXPECT_TRUE(Claim(*a_, 5, 30 * kSecond, {}, "crm").empty());
}

TEST_F(PostgresDeliveryStoreTest, TwoNodesClaimingAtOnceNeverGetTheSameDelivery) {
  constexpr int kDeliveries = 300;
  AddEvents(kDeliveries);
  std::vector<int64_t> got_a, got_b;
  auto run = [](Node& node, std::vector<int64_t>& got) {
    for (;;) {
      auto due = Claim(node, 7, 60 * kSecond);
      if (due.empty()) return;
      for (const DueDelivery& d : due) got.push_back(d.delivery_id);
    }
  };
  std::thread ta([&] { run(*a_, got_a); });
  std::thread tb([&] { run(*b_, got_b); });
  ta.join();
  tb.join();
  std::set<int64_t> all(got_a.begin(), got_a.end());
  for (int64_t id : got_b) {
    EXPECT_TRUE(all.insert(id).second) << "delivery " << id << " claimed by both nodes";
  }
  EXPECT_EQ(all.size(), static_cast<size_t>(kDeliveries));
  EXPECT_EQ(got_a.size() + got_b.size(), static_cast<size_t>(kDeliveries));
  EXPECT_EQ(QueryInt("SELECT count(*) FROM deliveries WHERE lease_token = 1"), kDeliveries);
}

// Node clocks differ by a day here: the lease still runs on the database's clock, so node B
// (whose clock is a day ahead) cannot take node A's live lease; once it expires in database time,
// B claims it with a new token and A's late outcome is refused as stale.
TEST_F(PostgresDeliveryStoreTest, AnExpiredLeaseGoesToTheOtherNodeAndTheOldOutcomeIsStale) {
  AddEvents(1);
  b_->clock.Set(kT + kDay);
  auto first = Claim(*a_, 10, 300 * 1000);  // 300 ms
  ASSERT_EQ(first.size(), 1u);
  EXPECT_TRUE(Claim(*b_, 10, 30 * kSecond).empty()) << "a live lease was taken over";
  std::this_thread::sleep_for(milliseconds(400));
  auto second = Claim(*b_, 10, 30 * kSecond);
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0].delivery_id, first[0].delivery_id);
  EXPECT_GT(second[0].lease_token, first[0].lease_token);
  EXPECT_EQ(second[0].attempt, 1);

  EXPECT_FALSE(Record(*a_, first[0], AttemptRecord::Next::kSucceeded));
  EXPECT_EQ(QueryText("SELECT status FROM deliveries"), "pending");
  EXPECT_EQ(QueryInt("SELECT count(*) FROM attempts"), 0);
  EXPECT_TRUE(Record(*b_, second[0], AttemptRecord::Next::kSucceeded));
  EXPECT_EQ(QueryText("SELECT status FROM deliveries"), "succeeded");
  EXPECT_EQ(QueryText("SELECT status FROM events"), "delivered");
}

// A lease is as long as asked in database time whatever the clocks of the node that took it and
// of the node that would take it over (here a day apart): A, a day ahead of B, cannot take it.
TEST_F(PostgresDeliveryStoreTest, ALeaseLastsItsDurationWhateverTheNodesClocks) {
  AddEvents(1);
  b_->clock.Set(kT + kDay);
  ASSERT_EQ(Claim(*b_, 10, 30 * kSecond).size(), 1u);
  a_->clock.Set(kT + 2 * kDay);
  EXPECT_TRUE(Claim(*a_, 10, 30 * kSecond).empty());
  const int64_t remaining = QueryInt(
      "SELECT lease_expires_at - (extract(epoch FROM clock_timestamp()) * 1000000)::bigint "
      "FROM deliveries");
  EXPECT_GT(remaining, 20 * kSecond);
  EXPECT_LE(remaining, 30 * kSecond);
}

TEST_F(PostgresDeliveryStoreTest, AHeldDeliveryIsNeverClaimedEvenAfterItsLeaseExpired) {
  AddEvents(1);
  auto first = Claim(*a_, 10, 1000);  // 1 ms
  ASSERT_EQ(first.size(), 1u);
  std::this_thread::sleep_for(milliseconds(20));
  EXPECT_TRUE(Claim(*a_, 10, 30 * kSecond, {first[0].delivery_id, 999}).empty());
  EXPECT_EQ(QueryInt("SELECT lease_token FROM deliveries"), first[0].lease_token);
  EXPECT_TRUE(Record(*a_, first[0], AttemptRecord::Next::kRetry));
}

// concurrency = 3 for billing on both nodes: however the nodes' claims interleave, at most three
// deliveries of billing hold an unexpired lease at once, and a freed place is taken again.
TEST_F(PostgresDeliveryStoreTest, TheConcurrencyCapHoldsAcrossNodes) {
  AddEvents(30);
  AddEvents(5, {"crm"}, "c");
  auto a = OpenNode(kT, {{"billing", 3}});
  auto b = OpenNode(kT, {{"billing", 3}});
  auto first = Claim(*a, 10, 60 * kSecond);
  EXPECT_EQ(first.size(), 3u);
  EXPECT_TRUE(Claim(*b, 10, 60 * kSecond).empty());
  EXPECT_EQ(Claim(*b, 10, 60 * kSecond, {}, "crm").size(), 5u);  // uncapped
  ASSERT_TRUE(Record(*a, first[0], AttemptRecord::Next::kSucceeded));
  auto refill = Claim(*b, 10, 60 * kSecond);
  EXPECT_EQ(refill.size(), 1u);
  // Capped and full: NextDue is the first lease end, not the due backlog (which would spin).
  auto next = b->deliveries->NextDue("billing");
  ASSERT_TRUE(next.ok()) << next.status().ToString();
  ASSERT_TRUE(next->has_value());
  EXPECT_GT(**next, kT + 50 * kSecond);

  // Both nodes claim at once, round after round.
  for (int round = 0; round < 8; ++round) {
    std::vector<DueDelivery> held = Claim(*a, 10, 60 * kSecond);  // nothing: the cap is taken
    EXPECT_TRUE(held.empty());
    // Free every place: record what is leased, as retries due at once.
    auto leased = reader_->Exec(
        "SELECT id, lease_token FROM deliveries WHERE destination = 'billing' "
        "AND lease_expires_at IS NOT NULL");
    ASSERT_TRUE(leased.ok());
    std::vector<AttemptRecord> outcomes;
    for (int i = 0; i < leased->rows(); ++i) {
      DueDelivery d;
      d.delivery_id = leased->GetInt64(i, 0);
      d.lease_token = leased->GetInt64(i, 1);
      AttemptRecord o = Outcome(d, AttemptRecord::Next::kRetry, kT);
      o.next_attempt_at = kT;
      outcomes.push_back(o);
    }
    auto recorded = a->deliveries->RecordAttempts(outcomes);
    ASSERT_TRUE(recorded.ok()) << recorded.status().ToString();
    EXPECT_EQ(recorded->applied, static_cast<int>(outcomes.size()));
    std::atomic<int> claimed{0};
    std::thread ta([&] { claimed += static_cast<int>(Claim(*a, 10, 60 * kSecond).size()); });
    std::thread tb([&] { claimed += static_cast<int>(Claim(*b, 10, 60 * kSecond).size()); });
    ta.join();
    tb.join();
    EXPECT_EQ(claimed.load(), 3) << "round " << round;
    EXPECT_EQ(QueryInt("SELECT count(*) FROM deliveries WHERE destination = 'billing' "
                       "AND lease_expires_at IS NOT NULL"),
              3);
  }
}

// The cap's lock, step by step: node A's claim of a capped destination is open (it holds the
// destination's lock and has leased three, not committed). Node B's claim must wait for it,
// since it could not see those leases yet, and then finds the cap taken. Without the lock B
// would lease three more at once.
TEST_F(PostgresDeliveryStoreTest, AClaimOfACappedDestinationWaitsForAnotherNodesOpenClaim) {
  AddEvents(10);
  auto b = OpenNode(kT, {{"billing", 3}});
  auto a = pg::Connection::Open({.url = url_, .application_name = "node-a"});
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE((*a)->Exec("BEGIN").ok());
  ASSERT_TRUE((*a)->Exec(pgsql::kLockDestinationClaims, pg::Params().Add("billing")).ok());
  pg::Params claim;
  claim.Add("billing").Add(kT).Add(int64_t{10}).Add(60 * kSecond).Add("{}").Add(int64_t{3});
  auto claimed = (*a)->Exec(pgsql::kClaimDue, claim);
  ASSERT_TRUE(claimed.ok()) << claimed.status().ToString();
  ASSERT_EQ(claimed->rows(), 3);

  const int b_pid = PQbackendPID(b->conn->raw());
  std::atomic<bool> b_returned{false};
  std::vector<DueDelivery> b_got;
  std::thread node_b([&] {
    b_got = Claim(*b, 10, 60 * kSecond);
    b_returned = true;
  });
  bool waiting = false;
  for (int i = 0; i < 1000 && !waiting && !b_returned.load(); ++i) {
    waiting = QueryInt(
                  "SELECT count(*) FROM pg_stat_activity "
                  "WHERE pid = $1::integer AND wait_event_type = 'Lock'",
                  b_pid) == 1;
    if (!waiting) std::this_thread::sleep_for(milliseconds(10));
  }
  EXPECT_TRUE(waiting) << "node B's claim did not wait for node A's";
  EXPECT_FALSE(b_returned.load());
  ASSERT_TRUE((*a)->Exec("COMMIT").ok());
  node_b.join();
  EXPECT_TRUE(b_got.empty()) << "node B claimed " << b_got.size() << " past the cap";
  EXPECT_EQ(QueryInt("SELECT count(*) FROM deliveries WHERE lease_expires_at IS NOT NULL"), 3);
}

TEST_F(PostgresDeliveryStoreTest, OutcomesSetDeliveryAndEventStatusAndWriteAttemptRows) {
  AddEvents(1, {"billing", "crm"});
  auto billing = Claim(*a_, 10, 30 * kSecond);
  auto crm = Claim(*a_, 10, 30 * kSecond, {}, "crm");
  ASSERT_EQ(billing.size(), 1u);
  ASSERT_EQ(crm.size(), 1u);

  a_->clock.Advance(kSecond);
  ASSERT_TRUE(Record(*a_, billing[0], AttemptRecord::Next::kRetry));
  const int64_t id = billing[0].delivery_id;
  EXPECT_EQ(QueryText("SELECT status FROM deliveries WHERE id = $1", id), "pending");
  EXPECT_EQ(QueryInt("SELECT attempts FROM deliveries WHERE id = $1", id), 1);
  EXPECT_EQ(QueryInt("SELECT next_attempt_at FROM deliveries WHERE id = $1", id),
            kT + 61 * kSecond);
  EXPECT_EQ(QueryText("SELECT lease_expires_at FROM deliveries WHERE id = $1", id), "<null>");
  EXPECT_EQ(QueryText("SELECT last_error FROM deliveries WHERE id = $1", id), "HTTP 500");
  EXPECT_EQ(QueryText("SELECT status FROM events"), "pending");
  EXPECT_EQ(QueryText("SELECT destination FROM attempts WHERE delivery_id = $1", id), "billing");
  EXPECT_EQ(QueryInt("SELECT event_seq FROM attempts WHERE delivery_id = $1", id), 1);
  EXPECT_EQ(QueryInt("SELECT http_status FROM attempts WHERE delivery_id = $1", id), 500);
  EXPECT_EQ(QueryInt("SELECT length(response_excerpt) FROM attempts WHERE delivery_id = $1", id),
            12);
  EXPECT_EQ(QueryText("SELECT outcome FROM attempts WHERE delivery_id = $1", id), "failure");

  ASSERT_TRUE(Record(*a_, crm[0], AttemptRecord::Next::kSucceeded));
  EXPECT_EQ(QueryText("SELECT status FROM events"), "pending");  // billing still pending

  a_->clock.Advance(60 * kSecond);
  auto again = Claim(*a_, 10, 30 * kSecond);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].attempt, 2);
  AttemptRecord gone = Outcome(again[0], AttemptRecord::Next::kFailed, a_->clock.NowMicros());
  gone.http_status = 0;
  gone.error = "connect: refused";
  std::vector<AttemptRecord> batch = {gone};
  auto recorded = a_->deliveries->RecordAttempts(batch);
  ASSERT_TRUE(recorded.ok()) << recorded.status().ToString();
  EXPECT_EQ(recorded->applied, 1);
  EXPECT_EQ(QueryText("SELECT status FROM deliveries WHERE id = $1", id), "failed");
  EXPECT_EQ(QueryText("SELECT last_error FROM deliveries WHERE id = $1", id), "connect: refused");
  EXPECT_EQ(QueryText("SELECT http_status FROM attempts WHERE delivery_id = $1 AND number = 2", id),
            "<null>");
  EXPECT_EQ(QueryText("SELECT status FROM events"), "failed");
  EXPECT_EQ(QueryInt("SELECT count(*) FROM attempts"), 3);
}

// An outcome recorded while another node's requeue of the same event is still open: the
// event's status is computed from the deliveries as they are once that requeue committed
// (billing back to pending, crm now failed: "failed"). The requeue could not see crm's
// uncommitted failure (it set "pending"), and a refresh computed from the deliveries as its
// statement first saw them (both failed: "failed", equal to the row it read) would change
// nothing: "pending" would stick although crm failed.
TEST_F(PostgresDeliveryStoreTest, TheEventStatusCountsARequeueAnotherNodeCommittedMeanwhile) {
  AddEvents(1, {"billing", "crm"});
  auto billing = Claim(*a_, 10, 30 * kSecond);
  ASSERT_EQ(billing.size(), 1u);
  ASSERT_TRUE(Record(*a_, billing[0], AttemptRecord::Next::kFailed));
  auto crm = Claim(*a_, 10, 30 * kSecond, {}, "crm");
  ASSERT_EQ(crm.size(), 1u);
  ASSERT_EQ(QueryText("SELECT status FROM events"), "failed");

  // Another node's requeue of billing, held open with its locks (as the operator store takes
  // them: the delivery, then the event).
  auto other = pg::Connection::Open({.url = url_, .application_name = "node-b"});
  ASSERT_TRUE(other.ok());
  ASSERT_TRUE((*other)->Exec("BEGIN").ok());
  ASSERT_TRUE((*other)
                  ->Exec("UPDATE deliveries SET status = 'pending' WHERE id = $1",
                         pg::Params().Add(billing[0].delivery_id))
                  .ok());
  ASSERT_TRUE((*other)->Exec("UPDATE events SET status = 'pending'").ok());

  const int a_pid = PQbackendPID(a_->conn->raw());
  std::atomic<bool> returned{false};
  bool applied = false;
  std::thread node_a([&] {
    applied = Record(*a_, crm[0], AttemptRecord::Next::kFailed);
    returned = true;
  });
  bool waiting = false;
  for (int i = 0; i < 1000 && !waiting && !returned.load(); ++i) {
    waiting = QueryInt(
                  "SELECT count(*) FROM pg_stat_activity "
                  "WHERE pid = $1::integer AND wait_event_type = 'Lock'",
                  a_pid) == 1;
    if (!waiting) std::this_thread::sleep_for(milliseconds(10));
  }
  EXPECT_TRUE(waiting) << "the outcome did not wait for the event row";
  ASSERT_TRUE((*other)->Exec("COMMIT").ok());
  node_a.join();
  EXPECT_TRUE(applied);
  EXPECT_EQ(QueryText("SELECT status FROM events"), "failed");
}

// Two nodes record the outcomes of the two deliveries of one event at the same moment. Node B's
// RecordAttempts (its exact statements, held open before COMMIT) has refreshed the event while
// A's delivery was still pending; A's then must not compute "pending" beside B's uncommitted
// success and write nothing: it waits for the event row (kLockEventsOfDeliveries) and refreshes
// after B committed, so the event ends "delivered", not pending for ever.
TEST_F(PostgresDeliveryStoreTest, TwoNodesFinishingOneEventsDeliveriesAtOnceLeaveItDelivered) {
  AddEvents(1, {"billing", "crm"});
  auto billing = Claim(*a_, 10, 30 * kSecond);
  ASSERT_EQ(billing.size(), 1u);
  auto crm = Claim(*b_, 10, 30 * kSecond, {}, "crm");
  ASSERT_EQ(crm.size(), 1u);

  auto b_raw = pg::Connection::Open({.url = url_, .application_name = "node-b-raw"});
  ASSERT_TRUE(b_raw.ok());
  pg::Connection& b = **b_raw;
  ASSERT_TRUE(b.Exec("BEGIN").ok());
  pg::Params outcome;
  outcome.Add(crm[0].delivery_id).Add("succeeded").Add(kT).AddNull().Add(kT);
  outcome.Add(crm[0].lease_token).Add(int64_t{1}).Add(kT).Add(int64_t{1234}).Add(int64_t{200});
  outcome.AddNull().AddBytes("ok").Add("success");
  auto applied_b = b.Exec(pgsql::kApplyOutcome, outcome);
  ASSERT_TRUE(applied_b.ok()) << applied_b.status().ToString();
  ASSERT_EQ(applied_b->GetInt64(0, 0), 1);
  const std::string ids = "{" + std::to_string(crm[0].delivery_id) + "}";
  ASSERT_TRUE(b.Exec(pgsql::kLockEventsOfDeliveries, pg::Params().Add(ids)).ok());
  auto refreshed_b = b.Exec(pgsql::kRefreshEventStatus, pg::Params().Add(crm[0].delivery_id));
  ASSERT_TRUE(refreshed_b.ok()) << refreshed_b.status().ToString();
  EXPECT_EQ(refreshed_b->affected_rows(), 0);  // billing still pending, as B sees it

  const int a_pid = PQbackendPID(a_->conn->raw());
  std::atomic<bool> returned{false};
  bool applied = false;
  std::thread node_a([&] {
    applied = Record(*a_, billing[0], AttemptRecord::Next::kSucceeded);
    returned = true;
  });
  // A either waits for B's event lock or (without it) has already finished.
  for (int i = 0; i < 1000 && !returned.load(); ++i) {
    if (QueryInt("SELECT count(*) FROM pg_stat_activity "
                 "WHERE pid = $1::integer AND wait_event_type = 'Lock'",
                 a_pid) == 1) {
      break;
    }
    std::this_thread::sleep_for(milliseconds(10));
  }
  ASSERT_TRUE(b.Exec("COMMIT").ok());
  node_a.join();
  EXPECT_TRUE(applied);
  EXPECT_EQ(QueryInt("SELECT count(*) FROM deliveries WHERE status = 'succeeded'"), 2);
  EXPECT_EQ(QueryText("SELECT status FROM events"), "delivered");
}

// A batch of outcomes: applied ones and stale ones together, stale listed in batch order, and
// nothing written for them.
TEST_F(PostgresDeliveryStoreTest, ABatchOfOutcomesListsTheStaleOnesInBatchOrder) {
  AddEvents(3);
  auto due = Claim(*a_, 10, 30 * kSecond);
  ASSERT_EQ(due.size(), 3u);
  std::vector<AttemptRecord> batch = {
      Outcome(due[2], AttemptRecord::Next::kSucceeded, kT),
      Outcome(due[0], AttemptRecord::Next::kSucceeded, kT),
      Outcome(due[1], AttemptRecord::Next::kSucceeded, kT),
      Outcome(due[2], AttemptRecord::Next::kFailed, kT),  // a second outcome under one lease
  };
  batch[1].lease_token += 100;  // not this delivery's token
  auto recorded = a_->deliveries->RecordAttempts(batch);
  ASSERT_TRUE(recorded.ok()) << recorded.status().ToString();
  EXPECT_EQ(recorded->applied, 2);
  EXPECT_EQ(recorded->stale, (std::vector<int64_t>{due[0].delivery_id, due[2].delivery_id}));
  EXPECT_EQ(QueryText("SELECT status FROM deliveries WHERE id = $1", due[2].delivery_id),
            "succeeded");
  EXPECT_EQ(QueryText("SELECT status FROM deliveries WHERE id = $1", due[0].delivery_id),
            "pending");
  EXPECT_EQ(QueryInt("SELECT count(*) FROM attempts"), 2);
}

TEST_F(PostgresDeliveryStoreTest, AFinishedDeliveryRefusesAnyFurtherOutcome) {
  AddEvents(1);
  auto due = Claim(*a_, 10, 30 * kSecond);
  ASSERT_EQ(due.size(), 1u);
  ASSERT_TRUE(Record(*a_, due[0], AttemptRecord::Next::kSucceeded));
  EXPECT_FALSE(Record(*a_, due[0], AttemptRecord::Next::kRetry));
  EXPECT_FALSE(Record(*b_, due[0], AttemptRecord::Next::kFailed));
  EXPECT_EQ(QueryText("SELECT status FROM deliveries"), "succeeded");
  EXPECT_EQ(QueryInt("SELECT attempts FROM deliveries"), 1);
  EXPECT_EQ(QueryText("SELECT status FROM events"), "delivered");
}

// With the real operator store of another node: an operator reprocesses a delivery after it
// succeeded; the old lease's late outcome is refused before the next claim (the reprocess ended
// the lease) and after it (a new token).
TEST_F(PostgresDeliveryStoreTest, AStaleOutcomeAfterAnotherNodesReprocessIsRefused) {
  AddEvents(1);
  auto first = Claim(*a_, 10, 30 * kSecond);
  ASSERT_EQ(first.size(), 1u);
  ASSERT_TRUE(Record(*a_, first[0], AttemptRecord::Next::kSucceeded));
  auto operator_node = PostgresStores::Open({.url = url_}, b_->clock, {});
  ASSERT_TRUE(operator_node.ok()) << operator_node.status().ToString();
  ReprocessSpec spec;
  spec.action = "reprocess_bulk";
  spec.target_json = "{}";
  auto r =
      operator_node->operations->Reprocess(spec, AuditActor{"ops", "operator", "test"}, kT + kDay);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->requeued, 1);
  EXPECT_EQ(QueryText("SELECT status FROM deliveries"), "pending");

  EXPECT_FALSE(Record(*a_, first[0], AttemptRecord::Next::kFailed));
  EXPECT_EQ(QueryInt("SELECT attempts FROM deliveries"), 0);
  a_->clock.Set(kT + kDay);
  auto second = Claim(*a_, 10, 30 * kSecond);
  ASSERT_EQ(second.size(), 1u);
  EXPECT_FALSE(Record(*a_, first[0], AttemptRecord::Next::kFailed));
  EXPECT_TRUE(Record(*a_, second[0], AttemptRecord::Next::kSucceeded));
  EXPECT_EQ(QueryText("SELECT status FROM deliveries"), "succeeded");
  EXPECT_EQ(QueryInt("SELECT count(*) FROM attempts"), 2);
  auto pending = a_->deliveries->Pending();
  ASSERT_TRUE(pending.ok());
  EXPECT_EQ(pending->count, 0);
}

// On a shared database a starting node must not end the leases of the others: it releases
// nothing, and the other node's outcome still applies.
TEST_F(PostgresDeliveryStoreTest, ReleaseAllLeasesLeavesOtherNodesLeasesAlone) {
  AddEvents(1);
  auto due = Claim(*a_, 10, 30 * kSecond);
  ASSERT_EQ(due.size(), 1u);
  auto released = b_->deliveries->ReleaseAllLeases();
  ASSERT_TRUE(released.ok());
  EXPECT_EQ(*released, 0);
  EXPECT_TRUE(Claim(*b_, 10, 30 * kSecond).empty());
  EXPECT_TRUE(Record(*a_, due[0], AttemptRecord::Next::kSucceeded));
}

TEST_F(PostgresDeliveryStoreTest, NextDueCountsUnleasedAndOtherNodesLeases) {
  auto none = a_->deliveries->NextDue("billing");
  ASSERT_TRUE(none.ok()) << none.status().ToString();
  EXPECT_FALSE(none->has_value());

  AddEvents(1);
  auto next = a_->deliveries->NextDue("billing");
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(*next, kT);  // created at kT, due at once

  // Leased by B for 30 s: due again (to anyone) when that lease ends, in A's clock.
  a_->clock.Set(kT + kDay);
  ASSERT_EQ(Claim(*b_, 10, 30 * kSecond).size(), 1u);
  next = a_->deliveries->NextDue("billing");
  ASSERT_TRUE(next.ok());
  ASSERT_TRUE(next->has_value());
  EXPECT_GT(**next, kT + kDay + 20 * kSecond);
  EXPECT_LE(**next, kT + kDay + 30 * kSecond);
}

// A lease that expired between a claim and NextDue (the two read the database's clock apart)
// is due now for a node that does not have it in flight, not forgotten until the backstop; for
// the node whose last claim held it (in flight there), it is not due.
TEST_F(PostgresDeliveryStoreTest, NextDueCountsALeaseThatExpiredUnlessThisNodeHoldsIt) {
  AddEvents(1);
  auto due = Claim(*b_, 10, 200'000);  // 200 ms on the database's clock
  ASSERT_EQ(due.size(), 1u);
  ASSERT_TRUE(Claim(*a_, 10, 30 * kSecond).empty());  // leased by B
  // B's next claim holds it (in flight on B); then the lease expires.
  ASSERT_TRUE(Claim(*b_, 10, 30 * kSecond, {due[0].delivery_id}).empty());
  std::this_thread::sleep_for(milliseconds(400));

  auto on_a = a_->deliveries->NextDue("billing");
  ASSERT_TRUE(on_a.ok()) << on_a.status().ToString();
  ASSERT_TRUE(on_a->has_value()) << "an expired lease was forgotten";
  EXPECT_EQ(**on_a, kT);  // its next attempt: due now
  auto on_b = b_->deliveries->NextDue("billing");
  ASSERT_TRUE(on_b.ok()) << on_b.status().ToString();
  EXPECT_FALSE(on_b->has_value()) << **on_b;  // in flight on B: its outcome reschedules it
  EXPECT_EQ(Claim(*a_, 10, 30 * kSecond).size(), 1u);
}

TEST_F(PostgresDeliveryStoreTest, PendingCountsByDestinationAndSinceWhen) {
  auto empty = a_->deliveries->Pending();
  ASSERT_TRUE(empty.ok()) << empty.status().ToString();
  EXPECT_EQ(empty->count, 0);
  EXPECT_FALSE(empty->oldest_pending_since.has_value());

  AddEvents(2, {"billing", "crm"});
  a_->clock.Advance(kSecond);
  AddEvents(1, {"crm"}, "later");
  auto summary = a_->deliveries->Pending();
  ASSERT_TRUE(summary.ok());
  EXPECT_EQ(summary->count, 5);
  EXPECT_EQ(summary->by_destination, (std::map<std::string, int64_t>{{"billing", 2}, {"crm", 3}}));
  EXPECT_EQ(summary->oldest_pending_since, kT);

  // A reprocessed delivery is pending since its reprocess (requeued_at), not its creation.
  auto done = Claim(*a_, 10, 30 * kSecond);
  ASSERT_EQ(done.size(), 2u);
  for (const DueDelivery& d : done) ASSERT_TRUE(Record(*a_, d, AttemptRecord::Next::kFailed));
  auto crm = Claim(*a_, 10, 30 * kSecond, {}, "crm");
  ASSERT_EQ(crm.size(), 3u);
  for (const DueDelivery& d : crm) ASSERT_TRUE(Record(*a_, d, AttemptRecord::Next::kSucceeded));
  ASSERT_TRUE(reader_
                  ->Exec("UPDATE deliveries SET status = 'pending', requeued_at = $1 "
                         "WHERE destination = 'billing'",
                         pg::Params().Add(kT + kDay))
                  .ok());
  summary = a_->deliveries->Pending();
  ASSERT_TRUE(summary.ok());
  EXPECT_EQ(summary->count, 2);
  EXPECT_EQ(summary->oldest_pending_since, kT + kDay);
}

// The server ends the node's idle session (a restart, a failover, an operator, a pooler's idle
// timeout): the next claim and the next outcomes reconnect before they are sent, and succeed.
TEST_F(PostgresDeliveryStoreTest, ASessionEndedWhileIdleCostsTheNextClaimAndOutcomeNothing) {
  AddEvents(1);
  auto terminate = [&] {
    const int pid = PQbackendPID(a_->conn->raw());
    ASSERT_EQ(QueryInt("SELECT pg_terminate_backend($1::integer)::integer", pid), 1);
    for (int i = 0;
         i < 500 &&
         QueryInt("SELECT count(*) FROM pg_stat_activity WHERE pid = $1::integer", pid) > 0;
         ++i) {
      std::this_thread::sleep_for(milliseconds(10));
    }
  };
  terminate();
  const int64_t now = a_->clock.NowMicros();
  auto due = a_->deliveries->ClaimDue("billing", 10, now, now + 30 * kSecond);
  ASSERT_TRUE(due.ok()) << due.status().ToString();
  ASSERT_EQ(due->size(), 1u);
  terminate();
  std::vector<AttemptRecord> batch = {
      Outcome((*due)[0], AttemptRecord::Next::kSucceeded, a_->clock.NowMicros())};
  auto recorded = a_->deliveries->RecordAttempts(batch);
  ASSERT_TRUE(recorded.ok()) << recorded.status().ToString();
  EXPECT_EQ(recorded->applied, 1);
  EXPECT_EQ(QueryText("SELECT status FROM events"), "delivered");
}

}  // namespace
}  // namespace hookvault::storage
