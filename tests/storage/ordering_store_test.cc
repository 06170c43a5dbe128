// Ordering per key (storage/delivery_store.h, "Ordering") on both stores, through the ports
// only: which deliveries a claim sees is what the rules decide. Held at insert (also within one
// batch), released by a succeeded or skipped head in seq order, kept by a failed one, the
// reprocess rules, ReleaseUnorderedHolds, Skip's answers; and on PostgreSQL, two nodes racing
// on one key (ingest on one, outcomes on the other) never leave the key stuck.
#include <SQLiteCpp/SQLiteCpp.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "storage/postgres/ops_sql.h"
#include "storage/postgres/stores.h"
#include "storage/postgres/write_sql.h"
#include "tests/testing/backend.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/postgres_server.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/test_store.h"

namespace hookvault::storage {
namespace {

using hookvault::testing::Backend;

constexpr int64_t kLease = 60'000'000;
constexpr char kDestination[] = "billing";

// One node's write ports on the test's store.
struct Ports {
  std::unique_ptr<SqliteStores> sqlite;
  std::unique_ptr<PostgresStores> postgres;
  EventLog* events = nullptr;
  DeliveryStore* deliveries = nullptr;
  OperatorStore* operations = nullptr;
  RetentionStore* retention = nullptr;
};

class OrderingStoreTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    if (GetParam() == Backend::kPostgres) {
      auto* server = hookvault::testing::PostgresServer::Shared();
      ASSERT_NE(server, nullptr);
      url_ = server->CreateDatabase();
      ASSERT_FALSE(url_.empty());
    }
    ports_ = Open();
    ASSERT_NE(ports_.deliveries, nullptr);
  }

  Ports Open() {
    Ports p;
    if (GetParam() == Backend::kSqlite) {
      p.sqlite = hookvault::testing::OpenMigratedStore(dir_.File("o.db"), clock_);
      if (!p.sqlite) return p;
      p.events = p.sqlite->events.get();
      p.deliveries = p.sqlite->deliveries.get();
      p.operations = p.sqlite->operations.get();
      p.retention = p.sqlite->retention.get();
    } else {
      auto stores = PostgresStores::Open({.url = url_}, clock_, {});
      EXPECT_TRUE(stores.ok()) << stores.status().ToString();
      if (!stores.ok()) return p;
      p.postgres = std::make_unique<PostgresStores>(std::move(stores).value());
      p.events = p.postgres->events.get();
      p.deliveries = p.postgres->deliveries.get();
      p.operations = p.postgres->operations.get();
      p.retention = p.postgres->retention.get();
    }
    return p;
  }

  // Stores one batch: an event per entry, delivered to kDestination, ordered by the entry's
  // key when it has one. Returns the events' ids, also kept by name in ids_.
  using Entries = std::vector<std::pair<std::string, std::optional<std::string>>>;
  std::vector<std::string> Append(const Entries& events, Ports* on = nullptr) {
    Ports& p = on ? *on : ports_;
    std::vector<IngestRecord> batch;
    for (const auto& [name, key] : events) {
      NewEvent e;
      e.source = "shop";
      e.event_type = "t";
      e.idempotency_key = name;
      e.received_at = clock_.NowMicros();
      e.headers_json = "{}";
      e.body = "{}";
      e.destinations = {kDestination};
      if (key) e.order_keys[kDestination] = *key;
      batch.push_back({std::move(e), std::nullopt});
    }
    auto appended = p.events->Append(batch);
    EXPECT_TRUE(appended.ok()) << appended.status().ToString();
    std::vector<std::string> ids;
    if (!appended.ok()) return ids;
    for (size_t i = 0; i < events.size(); ++i) {
      ids.push_back((*appended)[i]->id);
      name_of_[(*appended)[i]->id] = events[i].first;
    }
    return ids;
  }

  // Claims every due delivery of kDestination (those in `in_flight` excepted); returns them by
  // event name.
  std::map<std::string, DueDelivery> Claim(std::vector<int64_t> in_flight = {},
                                           Ports* on = nullptr) {
    Ports& p = on ? *on : ports_;
    auto claimed = p.deliveries->ClaimDue(kDestination, 100, clock_.NowMicros(),
                                          clock_.NowMicros() + kLease, in_flight);
    EXPECT_TRUE(claimed.ok()) << claimed.status().ToString();
    std::map<std::string, DueDelivery> out;
    if (claimed.ok()) {
      for (DueDelivery& d : *claimed) out[name_of_[d.event_id]] = d;
    }
    return out;
  }

  static std::vector<std::string> Names(const std::map<std::string, DueDelivery>& claimed) {
    std::vector<std::string> names;
    for (const auto& [name, d] : claimed) names.push_back(name);
    return names;
  }

  void Record(const DueDelivery& d, AttemptRecord::Next next, Ports* on = nullptr) {
    Ports& p = on ? *on : ports_;
    AttemptRecord a;
    a.delivery_id = d.delivery_id;
    a.lease_token = d.lease_token;
    a.number = d.attempt;
    a.started_at = clock_.NowMicros();
    a.http_status = next == AttemptRecord::Next::kSucceeded ? 200 : 500;
    a.next = next;
    a.next_attempt_at = clock_.NowMicros();  // a retry is due at once
    std::vector<AttemptRecord> records = {a};
    auto recorded = p.deliveries->RecordAttempts(records);
    ASSERT_TRUE(recorded.ok()) << recorded.status().ToString();
    EXPECT_EQ(recorded->applied, 1);
  }

  void ReprocessEvent(const std::string& event_id, std::optional<std::string> status) {
    ReprocessSpec spec;
    spec.filter.event_id = event_id;
    spec.filter.status = std::move(status);
    spec.action = "reprocess_event";
    spec.target_json = "{}";
    auto done = ports_.operations->Reprocess(spec, {"ops", "operator", ""}, clock_.NowMicros());
    ASSERT_TRUE(done.ok()) << done.status().ToString();
    EXPECT_EQ(done->requeued, 1);
  }

  hookvault::testing::TempDir dir_;
  hookvault::testing::FakeClock clock_;
  std::string url_;
  Ports ports_;
  std::map<std::string, std::string> name_of_;  // event id -> the test's name for it
};

using NameList = std::vector<std::string>;

TEST_P(OrderingStoreTest, OnlyEachKeysOldestOpenDeliveryIsClaimedAlsoWithinOneBatch) {
  Append({{"a1", "A"}, {"a2", "A"}, {"b1", "B"}, {"u1", std::nullopt}, {"u2", std::nullopt}});
  auto first = Claim();
  EXPECT_EQ(Names(first), (NameList{"a1", "b1", "u1", "u2"}));
  // A later batch of key A waits too, also while A's head is in flight.
  Append({{"a3", "A"}, {"c1", "C"}});
  std::vector<int64_t> in_flight;
  for (const auto& [name, d] : first) in_flight.push_back(d.delivery_id);
  EXPECT_EQ(Names(Claim(in_flight)), (NameList{"c1"}));
}

TEST_P(OrderingStoreTest, ASucceededHeadReleasesTheNextInSeqOrderAndARetryKeepsItsPlace) {
  Append({{"a1", "A"}, {"a2", "A"}});
  Append({{"a3", "A"}});
  auto claimed = Claim();
  ASSERT_EQ(Names(claimed), (NameList{"a1"}));
  Record(claimed["a1"], AttemptRecord::Next::kRetry);
  claimed = Claim();
  ASSERT_EQ(Names(claimed), (NameList{"a1"}));  // retried, still the head
  Record(claimed["a1"], AttemptRecord::Next::kSucceeded);
  claimed = Claim();
  ASSERT_EQ(Names(claimed), (NameList{"a2"}));
  Record(claimed["a2"], AttemptRecord::Next::kSucceeded);
  claimed = Claim();
  ASSERT_EQ(Names(claimed), (NameList{"a3"}));
  Record(claimed["a3"], AttemptRecord::Next::kSucceeded);
  EXPECT_TRUE(Claim().empty());
  auto pending = ports_.deliveries->Pending();
  ASSERT_TRUE(pending.ok());
  EXPECT_EQ(pending->count, 0);
}

TEST_P(OrderingStoreTest, AFailedHeadBlocksItsKeyUntilSkippedAndOtherKeysFlow) {
  Append({{"a1", "A"}, {"a2", "A"}, {"b1", "B"}, {"b2", "B"}});
  auto claimed = Claim();
  ASSERT_EQ(Names(claimed), (NameList{"a1", "b1"}));
  const DueDelivery a1 = claimed["a1"];
  Record(a1, AttemptRecord::Next::kFailed);
  Record(claimed["b1"], AttemptRecord::Next::kSucceeded);
  claimed = Claim();
  ASSERT_EQ(Names(claimed), (NameList{"b2"}));  // A waits behind its failed head; B flows
  EXPECT_TRUE(Claim({claimed["b2"].delivery_id}).empty());

  // Only a failed delivery can be skipped; an unknown one is not found.
  const AuditActor who{"ops", "operator", "gave up"};
  auto pending = ports_.operations->Skip(claimed["b2"].delivery_id, who, "{}", clock_.NowMicros());
  ASSERT_TRUE(pending.ok()) << pending.status().ToString();
  EXPECT_EQ(pending->outcome, SkipResult::Outcome::kNotFailed);
  EXPECT_EQ(pending->status, "pending");
  auto unknown = ports_.operations->Skip(987654, who, "{}", clock_.NowMicros());
  ASSERT_TRUE(unknown.ok()) << unknown.status().ToString();
  EXPECT_EQ(unknown->outcome, SkipResult::Outcome::kNotFound);

  auto skipped = ports_.operations->Skip(a1.delivery_id, who, "{}", clock_.NowMicros());
  ASSERT_TRUE(skipped.ok()) << skipped.status().ToString();
  EXPECT_EQ(skipped->outcome, SkipResult::Outcome::kSkipped);
  EXPECT_GT(skipped->audit_id, 0);
  EXPECT_EQ(Names(Claim({claimed["b2"].delivery_id})), (NameList{"a2"}));
  // Skipped once is enough: a second skip finds it skipped.
  auto again = ports_.operations->Skip(a1.delivery_id, who, "{}", clock_.NowMicros());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->outcome, SkipResult::Outcome::kNotFailed);
  EXPECT_EQ(again->status, "skipped");
}

TEST_P(OrderingStoreTest, AReprocessedFailedHeadGoesFirstAgain) {
  auto ids = Append({{"a1", "A"}, {"a2", "A"}});
  auto claimed = Claim();
  ASSERT_EQ(Names(claimed), (NameList{"a1"}));
  Record(claimed["a1"], AttemptRecord::Next::kFailed);
  EXPECT_TRUE(Claim().empty());
  ASSERT_NO_FATAL_FAILURE(ReprocessEvent(ids[0], "failed"));
  claimed = Claim();
  ASSERT_EQ(Names(claimed), (NameList{"a1"}));
  Record(claimed["a1"], AttemptRecord::Next::kSucceeded);
  EXPECT_EQ(Names(Claim()), (NameList{"a2"}));
}

TEST_P(OrderingStoreTest, AReprocessedOldDeliveryQueuesBehindTheOpenHead) {
  auto ids = Append({{"a1", "A"}, {"a2", "A"}});
  auto claimed = Claim();
  Record(claimed["a1"], AttemptRecord::Next::kSucceeded);
  claimed = Claim();
  ASSERT_EQ(Names(claimed), (NameList{"a2"}));
  const DueDelivery a2 = claimed["a2"];
  // a1 is sent again while a2 is in flight: it waits for a2.
  ASSERT_NO_FATAL_FAILURE(ReprocessEvent(ids[0], "succeeded"));
  EXPECT_TRUE(Claim({a2.delivery_id}).empty());
  Record(a2, AttemptRecord::Next::kSucceeded);
  claimed = Claim();
  ASSERT_EQ(Names(claimed), (NameList{"a1"}));
  Record(claimed["a1"], AttemptRecord::Next::kSucceeded);
  EXPECT_TRUE(Claim().empty());
}

// A bulk reprocess larger than one chunk walks newest first; each later chunk requeues older
// deliveries of the key than the head an earlier one made. The key must still go in seq order.
TEST_P(OrderingStoreTest, ABulkReprocessOfSeveralChunksKeepsSeqOrder) {
  Append({{"a1", "A"}, {"a2", "A"}, {"a3", "A"}, {"a4", "A"}, {"a5", "A"}});
  for (int i = 0; i < 5; ++i) {
    auto claimed = Claim();
    ASSERT_EQ(claimed.size(), 1u);
    Record(claimed.begin()->second, AttemptRecord::Next::kSucceeded);
  }
  ReprocessSpec spec;
  spec.filter.status = "succeeded";
  spec.action = "reprocess";
  spec.target_json = "{}";
  auto done = ports_.operations->Reprocess(spec, {"ops", "operator", ""}, clock_.NowMicros(),
                                           /*max_rows=*/2);
  ASSERT_TRUE(done.ok()) << done.status().ToString();
  EXPECT_EQ(done->requeued, 5);
  NameList order;
  for (int i = 0; i < 6; ++i) {
    auto claimed = Claim();
    if (claimed.empty()) break;
    ASSERT_EQ(claimed.size(), 1u) << "two deliveries of one key claimable";
    order.push_back(claimed.begin()->first);
    Record(claimed.begin()->second, AttemptRecord::Next::kSucceeded);
  }
  EXPECT_EQ(order, (NameList{"a1", "a2", "a3", "a4", "a5"}));
}

// Within one chunk both stores make the oldest requeued delivery of a key its head: an old
// succeeded one re-sent together with the key's failed head goes first.
TEST_P(OrderingStoreTest, ReprocessingAFailedHeadWithAnOlderDeliveryMakesTheOlderOneTheHead) {
  Append({{"a1", "A"}, {"a2", "A"}, {"a3", "A"}});
  auto claimed = Claim();
  Record(claimed["a1"], AttemptRecord::Next::kSucceeded);
  claimed = Claim();
  ASSERT_EQ(Names(claimed), (NameList{"a2"}));
  Record(claimed["a2"], AttemptRecord::Next::kFailed);
  // One chunk holding both: a1 (succeeded) and a2 (failed); a3 is pending, not touched.
  ReprocessSpec spec;
  spec.filter.destination = kDestination;
  spec.action = "reprocess";
  spec.target_json = "{}";
  auto done = ports_.operations->Reprocess(spec, {"ops", "operator", ""}, clock_.NowMicros());
  ASSERT_TRUE(done.ok()) << done.status().ToString();
  EXPECT_EQ(done->requeued, 2);
  NameList order;
  for (int i = 0; i < 4; ++i) {
    claimed = Claim();
    if (claimed.empty()) break;
    ASSERT_EQ(claimed.size(), 1u) << "two deliveries of one key claimable";
    order.push_back(claimed.begin()->first);
    Record(claimed.begin()->second, AttemptRecord::Next::kSucceeded);
  }
  EXPECT_EQ(order, (NameList{"a1", "a2", "a3"}));
}

TEST_P(OrderingStoreTest, ReleaseUnorderedHoldsReleasesOnlyDestinationsNoLongerOrdered) {
  Append({{"a1", "A"}, {"a2", "A"}, {"a3", "A"}});
  const std::vector<std::string> still_ordered = {kDestination};
  auto none = ports_.deliveries->ReleaseUnorderedHolds(still_ordered);
  ASSERT_TRUE(none.ok()) << none.status().ToString();
  EXPECT_EQ(none->total(), 0);
  EXPECT_EQ(Names(Claim()), (NameList{"a1"}));
  const std::vector<std::string> others = {"other"};
  auto released = ports_.deliveries->ReleaseUnorderedHolds(others);
  ASSERT_TRUE(released.ok()) << released.status().ToString();
  EXPECT_EQ(released->total(), 2);
  EXPECT_EQ(released->by_destination, (std::map<std::string, int>{{kDestination, 2}}));
  EXPECT_EQ(released->shared, GetParam() == Backend::kPostgres);
  EXPECT_EQ(Names(Claim()), (NameList{"a2", "a3"}));  // a1 is in flight
}

TEST_P(OrderingStoreTest, RetentionKeepsAFailedHeadThatHoldsItsKeyBack) {
  Append({{"a1", "A"}, {"a2", "A"}, {"u1", std::nullopt}});
  auto claimed = Claim();
  ASSERT_EQ(Names(claimed), (NameList{"a1", "u1"}));
  Record(claimed["a1"], AttemptRecord::Next::kFailed);
  Record(claimed["u1"], AttemptRecord::Next::kFailed);
  auto pruned = ports_.retention->Prune(PruneTarget::kFailedEvents, clock_.NowMicros() + 1,
                                        INT64_MAX, PruneCursor{}, 100);
  ASSERT_TRUE(pruned.ok()) << pruned.status().ToString();
  EXPECT_EQ(pruned->deleted, 1);  // u1's event; a1's stays, or a2 would wait for ever
  auto skipped = ports_.operations->Skip(claimed["a1"].delivery_id, {"ops", "operator", ""}, "{}",
                                         clock_.NowMicros());
  ASSERT_TRUE(skipped.ok()) << skipped.status().ToString();
  EXPECT_EQ(skipped->outcome, SkipResult::Outcome::kSkipped);
  EXPECT_EQ(Names(Claim()), (NameList{"a2"}));
}

INSTANTIATE_TEST_SUITE_P(Backends, OrderingStoreTest,
                         ::testing::ValuesIn(hookvault::testing::AllBackends()),
                         hookvault::testing::BackendTestName);

// Two nodes on one PostgreSQL database: node A stores events of one key, one per batch, while
// node B claims and records every head's success as fast as it can. Each ingest decides
// "held?" from the key's open deliveries and each success releases the next held one; without
// the per-key locks one of them reads the other's rows as they were before it, and a delivery
// stays held with no head to release it. At the end every delivery must have succeeded.
class OrderingPostgresRaceTest : public OrderingStoreTest {};

TEST_P(OrderingPostgresRaceTest, IngestAndOutcomesOnTwoNodesNeverLeaveAKeyStuck) {
  Ports b = Open();
  ASSERT_NE(b.deliveries, nullptr);
  constexpr int kEvents = 300;
  std::atomic<bool> ingest_done{false};
  std::thread ingest([&] {
    for (int i = 0; i < kEvents; ++i) Append({{"e" + std::to_string(i), "K"}});
    ingest_done = true;
  });
  int succeeded = 0;
  // Node B drains: claims heads and succeeds them until ingest is over and nothing is due.
  for (int idle = 0; idle < 50;) {
    auto claimed = b.deliveries->ClaimDue(kDestination, 100, clock_.NowMicros(),
                                          clock_.NowMicros() + kLease, {});
    ASSERT_TRUE(claimed.ok()) << claimed.status().ToString();
    ASSERT_LE(claimed->size(), 1u) << "two deliveries of one key in flight";
    if (claimed->empty()) {
      if (ingest_done) ++idle;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
      continue;
    }
    idle = 0;
    AttemptRecord a;
    a.delivery_id = (*claimed)[0].delivery_id;
    a.lease_token = (*claimed)[0].lease_token;
    a.number = 1;
    a.started_at = clock_.NowMicros();
    a.http_status = 200;
    a.next = AttemptRecord::Next::kSucceeded;
    std::vector<AttemptRecord> records = {a};
    auto recorded = b.deliveries->RecordAttempts(records);
    ASSERT_TRUE(recorded.ok()) << recorded.status().ToString();
    succeeded += recorded->applied;
  }
  ingest.join();
  EXPECT_EQ(succeeded, kEvents);
  auto pending = b.deliveries->Pending();
  ASSERT_TRUE(pending.ok());
  EXPECT_EQ(pending->count, 0) << "deliveries left held with no head";
}

// The mechanism behind the test above, deterministically: while another transaction holds a
// key's ordering lock, an ingest of that key and the success of that key's head both wait for
// it (so each reads the other's commit), and another key's ingest does not.
TEST_P(OrderingPostgresRaceTest, IngestAndSuccessOfAKeyWaitForItsLock) {
  Ports b = Open();
  ASSERT_NE(b.deliveries, nullptr);
  Append({{"k1", "K"}});
  auto claimed = Claim({}, &b);
  ASSERT_EQ(Names(claimed), (NameList{"k1"}));
  auto holder = pg::Connection::Open({.url = url_, .application_name = "test-lock-holder"});
  ASSERT_TRUE(holder.ok()) << holder.status().ToString();
  ASSERT_TRUE((*holder)->Exec("BEGIN").ok());
  auto locked = (*holder)->Exec(pgsql::kLockOrderKeysOfDeliveries,
                                pg::Params().Add("{" + std::to_string(claimed["k1"].delivery_id) +
                                                 "}"));
  ASSERT_TRUE(locked.ok()) << locked.status().ToString();

  Ports c = Open();
  ASSERT_NE(c.events, nullptr);
  std::atomic<bool> other_key_stored{false}, ingested{false}, recorded{false};
  std::thread other([&] {
    Append({{"j1", "J"}}, &c);
    other_key_stored = true;
  });
  std::thread ingest([&] {
    Append({{"k2", "K"}});
    ingested = true;
  });
  std::thread outcome([&] {
    Record(claimed["k1"], AttemptRecord::Next::kSucceeded, &b);
    recorded = true;
  });
  other.join();
  EXPECT_TRUE(other_key_stored);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_FALSE(ingested) << "an ingest of key K went ahead of K's lock";
  EXPECT_FALSE(recorded) << "K's head succeeded without K's lock";
  ASSERT_TRUE((*holder)->Exec("COMMIT").ok());
  ingest.join();
  outcome.join();
  // Whichever came first, k2 is claimable now (released by k1's success, or never held).
  EXPECT_EQ(Names(Claim({}, &b)), (NameList{"j1", "k2"}));
}

// Retention against an ingest in flight on another connection: the ingest holds key K's lock
// and has stored (not yet committed) a delivery of K held behind K's failed head a1, whose
// event is old enough to go. The prune must wait for K's lock, then see the held delivery and
// keep a1's event; deleting it would leave the held delivery with no head, for ever.
TEST_P(OrderingPostgresRaceTest, RetentionWaitsForAnIngestOfAFailedHeadsKey) {
  Append({{"a1", "K"}, {"x1", std::nullopt}});
  auto claimed = Claim();
  ASSERT_EQ(Names(claimed), (NameList{"a1", "x1"}));
  Record(claimed["a1"], AttemptRecord::Next::kFailed);
  const int64_t head = claimed["a1"].delivery_id;
  const int64_t x1 = claimed["x1"].delivery_id;

  auto ingest = pg::Connection::Open({.url = url_, .application_name = "test-ingest"});
  ASSERT_TRUE(ingest.ok()) << ingest.status().ToString();
  ASSERT_TRUE((*ingest)->Exec("BEGIN").ok());
  auto locked = (*ingest)->Exec(pgsql::kLockOrderKeysOfDeliveries,
                                pg::Params().Add("{" + std::to_string(head) + "}"));
  ASSERT_TRUE(locked.ok()) << locked.status().ToString();
  // The delivery the ingest stores: of key K, held behind a1 (x1's row stands in for it).
  auto held = (*ingest)->Exec(
      "UPDATE deliveries SET order_key = 'K', held = true, status = 'pending' WHERE id = $1",
      pg::Params().Add(x1));
  ASSERT_TRUE(held.ok()) << held.status().ToString();

  std::atomic<bool> pruned{false};
  StatusOr<PruneBatch> batch = Status::Internal("not run");
  std::thread retention([&] {
    batch = ports_.retention->Prune(PruneTarget::kFailedEvents, clock_.NowMicros() + 1, INT64_MAX,
                                    PruneCursor{}, 100);
    pruned = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_FALSE(pruned) << "retention went ahead of K's lock";
  ASSERT_TRUE((*ingest)->Exec("COMMIT").ok());
  retention.join();
  ASSERT_TRUE(batch.ok()) << batch.status().ToString();
  EXPECT_EQ(batch->deleted, 0);
  auto left = (*ingest)->Exec("SELECT count(*) FROM deliveries WHERE id = $1 AND status = 'failed'",
                              pg::Params().Add(head));
  ASSERT_TRUE(left.ok()) << left.status().ToString();
  EXPECT_EQ(left->GetInt64(0, 0), 1) << "K's failed head was deleted; its held delivery is stuck";
}

// Draining one hot key: each release (and a requeue) asks whether the key still has a head.
// With 10,000 deliveries of one key held and its head just succeeded, that check must read the
// key's head entry only (deliveries_key_head), not every held delivery of the key: otherwise
// draining a backlog of n costs n^2 reads in the writer's transactions.
TEST_P(OrderingPostgresRaceTest, AHeadCheckReadsOnlyTheKeysHeadNotItsBacklog) {
  Append({{"k0", "K"}});
  auto claimed = Claim();
  ASSERT_EQ(Names(claimed), (NameList{"k0"}));
  const int64_t head = claimed["k0"].delivery_id;
  auto db = pg::Connection::Open({.url = url_, .application_name = "test-plan"});
  ASSERT_TRUE(db.ok()) << db.status().ToString();
  pg::Connection& c = **db;
  auto events = c.Exec(R"sql(
INSERT INTO events (seq, id, source, event_type, idempotency_key, received_at, remote_addr,
                    headers, body, status)
SELECT e.seq + g, e.id || '-' || g, e.source, e.event_type, e.idempotency_key || '-' || g,
       e.received_at, e.remote_addr, e.headers, e.body, e.status
FROM events e, generate_series(1, 10000) g
)sql");
  ASSERT_TRUE(events.ok()) << events.status().ToString();
  auto held = c.Exec(R"sql(
INSERT INTO deliveries (event_seq, destination, next_attempt_at, created_at, updated_at,
                        order_key, held)
SELECT e.seq, d.destination, 0, 0, 0, d.order_key, true
FROM deliveries d JOIN events e ON e.seq > d.event_seq
WHERE d.id = $1
)sql",
                     pg::Params().Add(head));
  ASSERT_TRUE(held.ok()) << held.status().ToString();
  ASSERT_EQ(held->affected_rows(), 10000);
  ASSERT_TRUE(c.Exec("ANALYZE deliveries").ok());

  // Each statement's plan, run for real (ANALYZE) and rolled back.
  auto plan_of = [&](std::string_view statement, const pg::Params& params) {
    std::string text;
    EXPECT_TRUE(c.Exec("BEGIN").ok());
    EXPECT_TRUE(
        c.Exec("UPDATE deliveries SET status = 'succeeded' WHERE id = $1", pg::Params().Add(head))
            .ok());
    auto plan = c.Exec("EXPLAIN (ANALYZE) " + std::string(statement), params);
    EXPECT_TRUE(plan.ok()) << plan.status().ToString();
    if (plan.ok()) {
      for (int i = 0; i < plan->rows(); ++i) text += plan->GetString(i, 0) + "\n";
    }
    EXPECT_TRUE(c.Exec("ROLLBACK").ok());
    return text;
  };
  auto expect_no_backlog_read = [](const std::string& plan) {
    EXPECT_EQ(plan.find("Seq Scan on deliveries"), std::string::npos) << plan;
    for (size_t at = plan.find("Rows Removed by Filter: "); at != std::string::npos;
         at = plan.find("Rows Removed by Filter: ", at + 1)) {
      EXPECT_LE(std::stoll(plan.substr(at + 24)), 10) << plan;
    }
  };
  const std::string release = plan_of(pgsql::kReleaseNextHeld, pg::Params().Add(head).Add(1));
  EXPECT_NE(release.find("deliveries_key_head"), std::string::npos) << release;
  expect_no_backlog_read(release);
  const std::string requeue = plan_of(pg::ops::kRequeueDeliveries,
                                      pg::Params().Add("{" + std::to_string(head) + "}").Add(1));
  EXPECT_NE(requeue.find("deliveries_key_head"), std::string::npos) << requeue;
  expect_no_backlog_read(requeue);
  const std::string rehead =
      plan_of(pg::ops::kReheadKeys, pg::Params().Add("{" + std::to_string(head) + "}").Add(1));
  EXPECT_NE(rehead.find("deliveries_key_head"), std::string::npos) << rehead;
  expect_no_backlog_read(rehead);
}

// A node started without the destination's ordering releases its holds, but each key only
// once that key's lock is free: never in the middle of another node's release or ingest of it.
TEST_P(OrderingPostgresRaceTest, ReleaseUnorderedHoldsWaitsForEachKeysLock) {
  Append({{"k1", "K"}, {"k2", "K"}});
  auto claimed = Claim();
  ASSERT_EQ(Names(claimed), (NameList{"k1"}));
  auto holder = pg::Connection::Open({.url = url_, .application_name = "test-lock-holder"});
  ASSERT_TRUE(holder.ok()) << holder.status().ToString();
  ASSERT_TRUE((*holder)->Exec("BEGIN").ok());
  auto locked =
      (*holder)->Exec(pgsql::kLockOrderKeysOfDeliveries,
                      pg::Params().Add("{" + std::to_string(claimed["k1"].delivery_id) + "}"));
  ASSERT_TRUE(locked.ok()) << locked.status().ToString();
  Ports b = Open();
  ASSERT_NE(b.deliveries, nullptr);
  std::atomic<bool> released{false};
  StatusOr<ReleasedHolds> result = Status::Internal("not run");
  std::thread release([&] {
    const std::vector<std::string> none;
    result = b.deliveries->ReleaseUnorderedHolds(none);
    released = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_FALSE(released) << "released key K's holds without K's lock";
  ASSERT_TRUE((*holder)->Exec("COMMIT").ok());
  release.join();
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_EQ(result->total(), 1);
}

INSTANTIATE_TEST_SUITE_P(Postgres, OrderingPostgresRaceTest,
                         ::testing::Values(Backend::kPostgres),
                         hookvault::testing::BackendTestName);

}  // namespace
}  // namespace hookvault::storage
