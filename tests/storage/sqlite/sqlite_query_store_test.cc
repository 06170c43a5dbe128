// SqliteQueryStore on a real SQLite file with the real migrations, written through SqliteStores.
#include "storage/sqlite/query_store.h"

#include <SQLiteCpp/SQLiteCpp.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <set>
#include <thread>

#include "storage/sqlite/migrations.h"
#include "storage/sqlite/stores.h"
#include "tests/testing/db.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/lease.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/test_store.h"

namespace hookvault::storage {
namespace {

constexpr int64_t kT = 1'790'000'000'000'000;  // a time base, microseconds
constexpr int64_t kSecond = 1'000'000;

class QueryStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    stores_ = hookvault::testing::OpenMigratedStore(path_, clock_);
    ASSERT_NE(stores_, nullptr);
    auto query = SqliteQueryStore::Open({.path = path_}, 2);
    ASSERT_TRUE(query.ok()) << query.status().ToString();
    query_ = std::move(query).value();
  }

  // Appends one event (and its request-log row) and returns its id and seq.
  AppendResult Add(const std::string& source, const std::string& type, int64_t received_at,
                   std::vector<std::string> destinations = {}) {
    NewEvent e;
    e.source = source;
    e.event_type = type;
    e.idempotency_key = "key-" + std::to_string(next_key_++);
    e.received_at = received_at;
    e.remote_addr = "10.0.0.7";
    e.headers_json = R"({"content-type":"application/json","x-n":")" + e.idempotency_key + "\"}";
    e.body = R"({"n":")" + e.idempotency_key + "\"}";
    e.destinations = std::move(destinations);
    RequestLogEntry log{received_at, source, "10.0.0.7", 200, "stored", std::nullopt,
                        static_cast<int64_t>(e.body.size())};
    std::vector<IngestRecord> batch = {IngestRecord{std::move(e), std::move(log)}};
    auto results = stores_->events->Append(batch);
    EXPECT_TRUE(results.ok()) << results.status().ToString();
    return *(*results)[0];
  }

  void Reject(const std::string& source, int status, int64_t received_at) {
    IngestRecord r;
    r.log = RequestLogEntry{received_at, source, "10.0.0.9", status, "rejected", std::nullopt, 3};
    std::vector<IngestRecord> batch = {r};
    ASSERT_TRUE(stores_->events->Append(batch).ok());
  }

  int64_t DeliveryId(int64_t seq, const std::string& destination) {
    SQLite::Database db(path_, SQLite::OPEN_READONLY);
    SQLite::Statement q(db, "SELECT id FROM deliveries WHERE event_seq = ? AND destination = ?");
    q.bind(1, static_cast<int64_t>(seq));
    q.bind(2, destination);
    return q.executeStep() ? q.getColumn(0).getInt64() : -1;
  }

  void Attempt(int64_t delivery_id, AttemptRecord::Next next, int64_t started_at, int number = 1) {
    AttemptRecord a;
    a.delivery_id = delivery_id;
    a.number = number;
    a.started_at = started_at;
    a.duration_us = 1234;
    a.http_status = next == AttemptRecord::Next::kSucceeded ? 200 : 500;
    a.response_excerpt = "resp";
    a.next = next;
    a.next_attempt_at = started_at + kSecond;
    a.lease_token = hookvault::testing::LeaseForTest(path_, a.delivery_id);  // as a claim does
    std::vector<AttemptRecord> batch = {a};
    auto recorded = stores_->deliveries->RecordAttempts(batch);
    ASSERT_TRUE(recorded.ok()) << recorded.status().ToString();
    ASSERT_EQ(recorded->applied, 1);
  }

  hookvault::testing::TempDir dir_;
  std::string path_ = dir_.File("hookvault.db");
  hookvault::testing::FakeClock clock_{kT};
  std::unique_ptr<SqliteStores> stores_;
  std::unique_ptr<SqliteQueryStore> query_;
  int next_key_ = 0;
};

std::vector<int64_t> Seqs(const std::vector<EventRow>& rows) {
  std::vector<int64_t> seqs;
  for (const EventRow& r : rows) seqs.push_back(r.seq);
  return seqs;
}

template <typename Row>
std::vector<int64_t> Ids(const std::vector<Row>& rows) {
  std::vector<int64_t> ids;
  for (const Row& r : rows) ids.push_back(r.id);
  return ids;
}

Page Limit(int limit) { return Page{limit, std::nullopt}; }

TEST_F(QueryStoreTest, ListEventsFiltersEachWayNewestFirst) {
  // received_at is not in seq order everywhere: e3 arrived before e2.
  AppendResult e1 = Add("alpha", "payment.received", kT + 10 * kSecond);
  AppendResult e2 = Add("beta", "payment.received", kT + 30 * kSecond, {"billing"});
  AppendResult e3 = Add("alpha", "booking.created", kT + 20 * kSecond, {"billing"});
  AppendResult e4 = Add("beta", "booking.created", kT + 40 * kSecond);
  Attempt(DeliveryId(e3.seq, "billing"), AttemptRecord::Next::kFailed, kT + 50 * kSecond);

  auto all = query_->ListEvents({}, Limit(50));
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  EXPECT_EQ(Seqs(*all), (std::vector<int64_t>{e4.seq, e3.seq, e2.seq, e1.seq}));
  EXPECT_EQ((*all)[0].id, e4.id);
  EXPECT_EQ((*all)[0].source, "beta");
  EXPECT_EQ((*all)[0].event_type, "booking.created");
  EXPECT_EQ((*all)[0].received_at, kT + 40 * kSecond);
  EXPECT_EQ((*all)[0].remote_addr, "10.0.0.7");
  EXPECT_EQ((*all)[0].status, "delivered");
  EXPECT_TRUE((*all)[0].body.empty());  // lists carry no body
  EXPECT_TRUE((*all)[0].headers_json.empty());

  auto seqs = [&](EventFilter f) {
    auto rows = query_->ListEvents(f, Limit(50));
    EXPECT_TRUE(rows.ok()) << rows.status().ToString();
    return rows.ok() ? Seqs(*rows) : std::vector<int64_t>{};
  };
  EXPECT_EQ(seqs({.source = "alpha"}), (std::vector<int64_t>{e3.seq, e1.seq}));
  EXPECT_EQ(seqs({.event_type = "payment.received"}), (std::vector<int64_t>{e2.seq, e1.seq}));
  EXPECT_EQ(seqs({.status = "failed"}), (std::vector<int64_t>{e3.seq}));
  EXPECT_EQ(seqs({.status = "pending"}), (std::vector<int64_t>{e2.seq}));
  EXPECT_EQ(seqs({.status = "delivered"}), (std::vector<int64_t>{e4.seq, e1.seq}));
  // [after, before): after inclusive, before exclusive.
  EXPECT_EQ(seqs({.received_after = kT + 20 * kSecond}),
            (std::vector<int64_t>{e4.seq, e3.seq, e2.seq}));
  EXPECT_EQ(seqs({.received_before = kT + 30 * kSecond}), (std::vector<int64_t>{e3.seq, e1.seq}));
  EXPECT_EQ(seqs({.received_after = kT + 20 * kSecond, .received_before = kT + 40 * kSecond}),
            (std::vector<int64_t>{e3.seq, e2.seq}));
  EXPECT_EQ(seqs({.source = "beta", .event_type = "booking.created"}),
            (std::vector<int64_t>{e4.seq}));
  EXPECT_EQ(seqs({.source = "alpha", .status = "delivered", .received_after = kT}),
            (std::vector<int64_t>{e1.seq}));
  EXPECT_EQ(seqs({.source = "beta", .received_before = kT + 40 * kSecond}),
            (std::vector<int64_t>{e2.seq}));
  EXPECT_EQ(seqs({.source = "nobody"}), std::vector<int64_t>{});
}

// Pages through a list with limit 3 while rows are inserted between pages: the pages hold
// exactly the rows that matched at the start, in order, none skipped or repeated.
void ExpectStablePages(const std::function<std::vector<int64_t>(const Page&)>& list,
                       const std::function<void()>& insert_between) {
  std::vector<int64_t> expected = list(Page{1000, std::nullopt});
  ASSERT_GE(expected.size(), 7u);  // three pages at least
  std::vector<int64_t> seen;
  Page page{3, std::nullopt};
  for (int i = 0; i < 100; ++i) {
    std::vector<int64_t> keys = list(page);
    ASSERT_LE(keys.size(), 3u);
    if (keys.empty()) break;
    seen.insert(seen.end(), keys.begin(), keys.end());
    page.cursor = keys.back();
    insert_between();
  }
  EXPECT_EQ(seen, expected);
  EXPECT_GT(list(Page{1000, std::nullopt}).size(), expected.size());  // rows did arrive
}

TEST_F(QueryStoreTest, PagesAreStableWhileRowsArrive) {
  for (int i = 0; i < 10; ++i) {
    clock_.Advance(kSecond);
    AppendResult e = Add(i % 2 ? "alpha" : "beta", "t", kT + i * kSecond, {"billing"});
    Attempt(DeliveryId(e.seq, "billing"), AttemptRecord::Next::kRetry, kT + i * kSecond);
  }
  int n = 100;
  auto more = [&] {
    clock_.Advance(kSecond);
    AppendResult e = Add(n % 2 ? "alpha" : "beta", "t", kT + n * kSecond, {"billing"});
    Attempt(DeliveryId(e.seq, "billing"), AttemptRecord::Next::kRetry, kT + n * kSecond);
    ++n;
  };
  ExpectStablePages(
      [&](const Page& p) {
        auto r = query_->ListEvents({}, p);
        return r.ok() ? Seqs(*r) : std::vector<int64_t>{};
      },
      more);
  ExpectStablePages(
      [&](const Page& p) {
        auto r = query_->ListEvents({.source = "alpha"}, p);
        return r.ok() ? Seqs(*r) : std::vector<int64_t>{};
      },
      more);
  ExpectStablePages(
      [&](const Page& p) {
        auto r = query_->ListDeliveries({.destination = "billing"}, p);
        return r.ok() ? Ids(*r) : std::vector<int64_t>{};
      },
      more);
  ExpectStablePages(
      [&](const Page& p) {
        auto r = query_->ListAttempts({.outcome = "failure"}, p);
        return r.ok() ? Ids(*r) : std::vector<int64_t>{};
      },
      more);
  ExpectStablePages(
      [&](const Page& p) {
        auto r = query_->ListRequests({}, p);
        return r.ok() ? Ids(*r) : std::vector<int64_t>{};
      },
      more);
  // A time window (the window mode of the key query) pages the same way. Late arrivals inside
  // the window get newer seqs than the first page's, so they never enter a later page.
  auto window = [&](const Page& p) {
    auto r = query_->ListEvents({.received_after = kT, .received_before = kT + 8 * kSecond}, p);
    return r.ok() ? Seqs(*r) : std::vector<int64_t>{};
  };
  EXPECT_EQ(window(Page{1000, std::nullopt}).size(), 8u);  // received 0..7 s
  ExpectStablePages(window, [&] {
    more();
    Add("alpha", "t", kT + 3 * kSecond);
  });
  auto delivery_window = [&](const Page& p) {
    auto r = query_->ListDeliveries({.created_after = kT}, p);
    return r.ok() ? Ids(*r) : std::vector<int64_t>{};
  };
  ExpectStablePages(delivery_window, more);
}

TEST_F(QueryStoreTest, GetEventHasHeadersAndBodyAndDeliveriesByDestination) {
  AppendResult e = Add("alpha", "payment.received", kT, {"crm", "billing"});
  auto got = query_->GetEvent(e.id);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ASSERT_TRUE(got->has_value());
  const EventRow& row = **got;
  EXPECT_EQ(row.seq, e.seq);
  EXPECT_EQ(row.id, e.id);
  EXPECT_EQ(row.idempotency_key, "key-0");
  EXPECT_EQ(row.body, R"({"n":"key-0"})");
  EXPECT_EQ(row.headers_json, R"({"content-type":"application/json","x-n":"key-0"})");
  EXPECT_EQ(row.status, "pending");

  auto missing = query_->GetEvent("no-such-id");
  ASSERT_TRUE(missing.ok());
  EXPECT_FALSE(missing->has_value());

  Attempt(DeliveryId(e.seq, "crm"), AttemptRecord::Next::kFailed, kT + kSecond);
  auto deliveries = query_->EventDeliveries(e.seq);
  ASSERT_TRUE(deliveries.ok()) << deliveries.status().ToString();
  ASSERT_EQ(deliveries->size(), 2u);
  EXPECT_EQ((*deliveries)[0].destination, "billing");
  EXPECT_EQ((*deliveries)[0].status, "pending");
  EXPECT_EQ((*deliveries)[0].attempts, 0);
  EXPECT_FALSE((*deliveries)[0].last_error.has_value());
  EXPECT_EQ((*deliveries)[1].destination, "crm");
  EXPECT_EQ((*deliveries)[1].status, "failed");
  EXPECT_EQ((*deliveries)[1].attempts, 1);
  EXPECT_EQ((*deliveries)[1].last_error, "HTTP 500");
  for (const DeliveryRow& d : *deliveries) {
    EXPECT_EQ(d.event_id, e.id);
    EXPECT_EQ(d.event_seq, e.seq);
    EXPECT_EQ(d.created_at, kT);
  }
  auto none = query_->EventDeliveries(e.seq + 100);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

TEST_F(QueryStoreTest, EventAttemptsAreOldestFirstAndPaged) {
  AppendResult e = Add("alpha", "t", kT, {"billing", "crm"});
  AppendResult other = Add("alpha", "t", kT, {"billing"});
  int64_t billing = DeliveryId(e.seq, "billing");
  int64_t crm = DeliveryId(e.seq, "crm");
  Attempt(billing, AttemptRecord::Next::kRetry, kT + 1, 1);
  Attempt(DeliveryId(other.seq, "billing"), AttemptRecord::Next::kRetry, kT + 2, 1);
  Attempt(crm, AttemptRecord::Next::kRetry, kT + 3, 1);
  Attempt(billing, AttemptRecord::Next::kSucceeded, kT + 4, 2);
  Attempt(crm, AttemptRecord::Next::kFailed, kT + 5, 2);

  auto all = query_->EventAttempts(e.seq, Limit(50));
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  ASSERT_EQ(all->size(), 4u);
  std::vector<int64_t> started;
  for (const AttemptRow& a : *all) {
    started.push_back(a.started_at);
    EXPECT_EQ(a.event_id, e.id);
  }
  EXPECT_EQ(started, (std::vector<int64_t>{kT + 1, kT + 3, kT + 4, kT + 5}));
  const AttemptRow& last = (*all)[3];
  EXPECT_EQ(last.delivery_id, crm);
  EXPECT_EQ(last.destination, "crm");
  EXPECT_EQ(last.number, 2);
  EXPECT_EQ(last.duration_us, 1234);
  EXPECT_EQ(last.http_status, 500);
  EXPECT_FALSE(last.error.has_value());
  EXPECT_EQ(last.response_excerpt, "resp");
  EXPECT_EQ(last.outcome, "failure");
  EXPECT_EQ((*all)[2].outcome, "success");

  auto first = query_->EventAttempts(e.seq, Limit(3));
  ASSERT_TRUE(first.ok());
  ASSERT_EQ(first->size(), 3u);
  auto second = query_->EventAttempts(e.seq, Page{3, first->back().id});
  ASSERT_TRUE(second.ok());
  ASSERT_EQ(second->size(), 1u);
  EXPECT_EQ((*second)[0].id, last.id);
}

TEST_F(QueryStoreTest, ListDeliveriesFiltersEachWay) {
  AppendResult e1 = Add("alpha", "t", kT, {"billing", "crm"});
  clock_.Advance(10 * kSecond);
  AppendResult e2 = Add("alpha", "t", kT, {"billing"});
  clock_.Advance(10 * kSecond);
  AppendResult e3 = Add("alpha", "t", kT, {"crm"});
  int64_t b1 = DeliveryId(e1.seq, "billing"), c1 = DeliveryId(e1.seq, "crm");
  int64_t b2 = DeliveryId(e2.seq, "billing"), c3 = DeliveryId(e3.seq, "crm");
  Attempt(b1, AttemptRecord::Next::kFailed, kT);
  Attempt(c1, AttemptRecord::Next::kSucceeded, kT);
  Attempt(c3, AttemptRecord::Next::kFailed, kT);

  auto ids = [&](DeliveryFilter f) {
    auto rows = query_->ListDeliveries(f, Limit(50));
    EXPECT_TRUE(rows.ok()) << rows.status().ToString();
    return rows.ok() ? Ids(*rows) : std::vector<int64_t>{};
  };
  EXPECT_EQ(ids({}), (std::vector<int64_t>{c3, b2, c1, b1}));
  EXPECT_EQ(ids({.destination = "billing"}), (std::vector<int64_t>{b2, b1}));
  EXPECT_EQ(ids({.status = "failed"}), (std::vector<int64_t>{c3, b1}));
  EXPECT_EQ(ids({.destination = "crm", .status = "failed"}), (std::vector<int64_t>{c3}));
  EXPECT_EQ(ids({.event_id = e1.id}), (std::vector<int64_t>{c1, b1}));
  EXPECT_EQ(ids({.status = "succeeded", .event_id = e1.id}), (std::vector<int64_t>{c1}));
  EXPECT_EQ(ids({.event_id = "unknown"}), std::vector<int64_t>{});
  EXPECT_EQ(ids({.created_after = kT + 10 * kSecond}), (std::vector<int64_t>{c3, b2}));
  EXPECT_EQ(ids({.created_before = kT + 10 * kSecond}), (std::vector<int64_t>{c1, b1}));
  EXPECT_EQ(ids({.created_after = kT + 5 * kSecond, .created_before = kT + 20 * kSecond}),
            (std::vector<int64_t>{b2}));
  EXPECT_EQ(ids({.destination = "billing", .created_after = kT + 10 * kSecond}),
            (std::vector<int64_t>{b2}));
  EXPECT_EQ(ids({.event_id = e1.id, .created_after = kT + kSecond}), std::vector<int64_t>{});

  auto rows = query_->ListDeliveries({.status = "failed"}, Limit(1));
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ((*rows)[0].event_id, e3.id);
  EXPECT_EQ((*rows)[0].destination, "crm");
  EXPECT_EQ((*rows)[0].created_at, kT + 20 * kSecond);
}

TEST_F(QueryStoreTest, ListAttemptsFiltersEachWay) {
  AppendResult e1 = Add("alpha", "t", kT, {"billing", "crm"});
  AppendResult e2 = Add("alpha", "t", kT, {"billing"});
  Attempt(DeliveryId(e1.seq, "billing"), AttemptRecord::Next::kRetry, kT + 1 * kSecond);  // 1
  Attempt(DeliveryId(e1.seq, "crm"), AttemptRecord::Next::kSucceeded, kT + 2 * kSecond);  // 2
  Attempt(DeliveryId(e2.seq, "billing"), AttemptRecord::Next::kRetry, kT + 3 * kSecond);  // 3
  Attempt(DeliveryId(e1.seq, "billing"), AttemptRecord::Next::kSucceeded, kT + 4 * kSecond);

  auto ids = [&](AttemptFilter f) {
    auto rows = query_->ListAttempts(f, Limit(50));
    EXPECT_TRUE(rows.ok()) << rows.status().ToString();
    return rows.ok() ? Ids(*rows) : std::vector<int64_t>{};
  };
  EXPECT_EQ(ids({}), (std::vector<int64_t>{4, 3, 2, 1}));
  EXPECT_EQ(ids({.destination = "billing"}), (std::vector<int64_t>{4, 3, 1}));
  EXPECT_EQ(ids({.event_id = e1.id}), (std::vector<int64_t>{4, 2, 1}));
  EXPECT_EQ(ids({.outcome = "success"}), (std::vector<int64_t>{4, 2}));
  EXPECT_EQ(ids({.outcome = "failure"}), (std::vector<int64_t>{3, 1}));
  EXPECT_EQ(ids({.destination = "billing", .event_id = e1.id, .outcome = "failure"}),
            (std::vector<int64_t>{1}));
  EXPECT_EQ(ids({.started_after = kT + 2 * kSecond}), (std::vector<int64_t>{4, 3, 2}));
  EXPECT_EQ(ids({.started_before = kT + 2 * kSecond}), (std::vector<int64_t>{1}));
  EXPECT_EQ(ids({.started_after = kT + 2 * kSecond, .started_before = kT + 4 * kSecond}),
            (std::vector<int64_t>{3, 2}));
  EXPECT_EQ(ids({.destination = "crm", .started_after = kT}), (std::vector<int64_t>{2}));
  EXPECT_EQ(ids({.event_id = e2.id, .started_before = kT + 4 * kSecond}),
            (std::vector<int64_t>{3}));

  auto rows = query_->ListAttempts({.event_id = e2.id}, Limit(50));
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ((*rows)[0].event_id, e2.id);
  EXPECT_EQ((*rows)[0].destination, "billing");
  EXPECT_EQ((*rows)[0].started_at, kT + 3 * kSecond);
}

TEST_F(QueryStoreTest, ListRequestsFiltersEachWay) {
  AppendResult e = Add("alpha", "t", kT + 1);  // request 1, status 200
  Reject("alpha", 401, kT + 2);                // 2
  Reject("beta", 415, kT + 3);                 // 3
  Reject("beta", 401, kT + 4);                 // 4

  auto ids = [&](RequestFilter f) {
    auto rows = query_->ListRequests(f, Limit(50));
    EXPECT_TRUE(rows.ok()) << rows.status().ToString();
    return rows.ok() ? Ids(*rows) : std::vector<int64_t>{};
  };
  EXPECT_EQ(ids({}), (std::vector<int64_t>{4, 3, 2, 1}));
  EXPECT_EQ(ids({.source = "beta"}), (std::vector<int64_t>{4, 3}));
  EXPECT_EQ(ids({.status = 401}), (std::vector<int64_t>{4, 2}));
  EXPECT_EQ(ids({.source = "alpha", .status = 401}), (std::vector<int64_t>{2}));
  EXPECT_EQ(ids({.received_after = kT + 2}), (std::vector<int64_t>{4, 3, 2}));
  EXPECT_EQ(ids({.received_before = kT + 2}), (std::vector<int64_t>{1}));
  EXPECT_EQ(ids({.status = 401, .received_after = kT + 2, .received_before = kT + 4}),
            (std::vector<int64_t>{2}));

  auto rows = query_->ListRequests({}, Limit(50));
  ASSERT_TRUE(rows.ok());
  const RequestRow& stored = rows->back();
  EXPECT_EQ(stored.event_id, e.id);
  EXPECT_EQ(stored.status, 200);
  EXPECT_EQ(stored.reason, "stored");
  EXPECT_EQ(stored.received_at, kT + 1);
  EXPECT_EQ(stored.body_bytes, 13);
  const RequestRow& rejected = rows->front();
  EXPECT_FALSE(rejected.event_id.has_value());
  EXPECT_EQ(rejected.remote_addr, "10.0.0.9");
  EXPECT_EQ(rejected.source, "beta");
}

TEST_F(QueryStoreTest, ListRequestsRejectedOnly) {
  Add("alpha", "t", kT + 1);      // request 1, status 200
  Reject("alpha", 401, kT + 2);   // 2
  Add("beta", "t", kT + 3);       // 3, 200
  Reject("beta", 422, kT + 4);    // 4
  Reject("beta", 503, kT + 5);    // 5
  Reject("alpha", 399, kT + 6);   // 6: not a rejection
  auto ids = [&](RequestFilter f) {
    auto rows = query_->ListRequests(f, Limit(50));
    EXPECT_TRUE(rows.ok()) << rows.status().ToString();
    return rows.ok() ? Ids(*rows) : std::vector<int64_t>{};
  };
  EXPECT_EQ(ids({.rejected = true}), (std::vector<int64_t>{5, 4, 2}));
  EXPECT_EQ(ids({.source = "beta", .rejected = true}), (std::vector<int64_t>{5, 4}));
  EXPECT_EQ(ids({.status = 401, .rejected = true}), (std::vector<int64_t>{2}));
  EXPECT_EQ(ids({.status = 200, .rejected = true}), std::vector<int64_t>{});
  EXPECT_EQ(ids({.rejected = true, .received_after = kT + 3}), (std::vector<int64_t>{5, 4}));
  EXPECT_EQ(ids({.rejected = true, .received_before = kT + 5}), (std::vector<int64_t>{4, 2}));
  auto page = query_->ListRequests({.rejected = true}, Page{2, 5});
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(Ids(*page), (std::vector<int64_t>{4, 2}));
}

TEST_F(QueryStoreTest, ListEventsByIdempotencyKeyWithAndWithoutSource) {
  auto add = [&](const std::string& source, const std::string& key, const std::string& type,
                 int64_t at) {
    NewEvent e;
    e.source = source;
    e.event_type = type;
    e.idempotency_key = key;
    e.received_at = at;
    e.remote_addr = "10.0.0.7";
    e.headers_json = "{}";
    e.body = "{}";
    RequestLogEntry log{at, source, "10.0.0.7", 200, "stored", std::nullopt, 2};
    std::vector<IngestRecord> batch = {IngestRecord{std::move(e), std::move(log)}};
    auto results = stores_->events->Append(batch);
    EXPECT_TRUE(results.ok()) << results.status().ToString();
    return (*(*results)[0]).seq;
  };
  int64_t a = add("alpha", "B-1042", "booking.created", kT + 1);
  int64_t b = add("beta", "B-1042", "booking.updated", kT + 2);
  int64_t c = add("gamma", "B-1043", "booking.created", kT + 3);
  add("alpha", "B-1043", "booking.created", kT + 4);
  int64_t d = add("zeta", "B-1042", "booking.created", kT + 5);
  auto seqs = [&](EventFilter f) {
    auto rows = query_->ListEvents(f, Limit(50));
    EXPECT_TRUE(rows.ok()) << rows.status().ToString();
    return rows.ok() ? Seqs(*rows) : std::vector<int64_t>{};
  };
  // Every source that holds the key, newest first (the first and the last source by name too).
  EXPECT_EQ(seqs({.idempotency_key = "B-1042"}), (std::vector<int64_t>{d, b, a}));
  EXPECT_EQ(seqs({.source = "beta", .idempotency_key = "B-1042"}), std::vector<int64_t>{b});
  EXPECT_EQ(seqs({.source = "gamma", .idempotency_key = "B-1042"}), std::vector<int64_t>{});
  EXPECT_EQ(seqs({.source = "gamma", .idempotency_key = "B-1043"}), std::vector<int64_t>{c});
  EXPECT_EQ(seqs({.idempotency_key = "nothing"}), std::vector<int64_t>{});
  // The other filters combine with it.
  EXPECT_EQ(seqs({.event_type = "booking.created", .idempotency_key = "B-1042"}),
            (std::vector<int64_t>{d, a}));
  EXPECT_EQ(seqs({.received_after = kT + 2, .idempotency_key = "B-1042"}),
            (std::vector<int64_t>{d, b}));
  EXPECT_EQ(seqs({.received_before = kT + 2, .idempotency_key = "B-1042"}),
            std::vector<int64_t>{a});
  EXPECT_EQ(seqs({.status = "delivered", .idempotency_key = "B-1042"}),
            (std::vector<int64_t>{d, b, a}));
  EXPECT_EQ(seqs({.status = "failed", .idempotency_key = "B-1042"}), std::vector<int64_t>{});
  auto page = query_->ListEvents({.idempotency_key = "B-1042"}, Page{1, d});
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(Seqs(*page), std::vector<int64_t>{b});
}

TEST_F(QueryStoreTest, FeedIsAscendingWithBodiesAndFilters) {
  AppendResult e1 = Add("alpha", "payment.received", kT);
  AppendResult e2 = Add("beta", "payment.received", kT);
  AppendResult e3 = Add("alpha", "booking.created", kT);
  AppendResult e4 = Add("alpha", "payment.received", kT);

  auto feed = query_->Feed({.after_seq = 0, .limit = 50});
  ASSERT_TRUE(feed.ok()) << feed.status().ToString();
  EXPECT_EQ(Seqs(*feed), (std::vector<int64_t>{e1.seq, e2.seq, e3.seq, e4.seq}));
  EXPECT_EQ((*feed)[1].body, R"({"n":"key-1"})");
  EXPECT_FALSE((*feed)[1].headers_json.empty());

  auto after = query_->Feed({.after_seq = e2.seq, .limit = 1});
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(Seqs(*after), (std::vector<int64_t>{e3.seq}));
  auto by_source = query_->Feed({.after_seq = e1.seq, .limit = 50, .source = "alpha"});
  ASSERT_TRUE(by_source.ok());
  EXPECT_EQ(Seqs(*by_source), (std::vector<int64_t>{e3.seq, e4.seq}));
  auto by_type =
      query_->Feed({.after_seq = 0, .limit = 50, .event_type = "payment.received"});
  ASSERT_TRUE(by_type.ok());
  EXPECT_EQ(Seqs(*by_type), (std::vector<int64_t>{e1.seq, e2.seq, e4.seq}));
  auto both = query_->Feed(
      {.after_seq = 0, .limit = 50, .source = "beta", .event_type = "payment.received"});
  ASSERT_TRUE(both.ok());
  EXPECT_EQ(Seqs(*both), (std::vector<int64_t>{e2.seq}));
  auto none = query_->Feed({.after_seq = e4.seq, .limit = 50});
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

TEST_F(QueryStoreTest, LatestSeqIsZeroWhenEmptyThenTheHighestAssigned) {
  auto empty = query_->LatestSeq();
  ASSERT_TRUE(empty.ok()) << empty.status().ToString();
  EXPECT_EQ(*empty, 0);
  Add("alpha", "t", kT);
  AppendResult last = Add("alpha", "t", kT);
  auto latest = query_->LatestSeq();
  ASSERT_TRUE(latest.ok());
  EXPECT_EQ(*latest, last.seq);
}

TEST_F(QueryStoreTest, ConsumersAreReadBack) {
  auto none = query_->GetConsumer("warehouse");
  ASSERT_TRUE(none.ok()) << none.status().ToString();
  EXPECT_FALSE(none->has_value());
  ASSERT_TRUE(stores_->operations->AckConsumer("warehouse", 7, kT + 1).ok());
  ASSERT_TRUE(stores_->operations->AckConsumer("analytics", 3, kT + 2).ok());
  auto got = query_->GetConsumer("warehouse");
  ASSERT_TRUE(got.ok());
  ASSERT_TRUE(got->has_value());
  EXPECT_EQ((*got)->cursor, 7);
  EXPECT_EQ((*got)->updated_at, kT + 1);
  auto all = query_->ListConsumers();
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].name, "analytics");
  EXPECT_EQ((*all)[1].name, "warehouse");
}

TEST_F(QueryStoreTest, PendingCountsPerDestinationFromAReader) {
  auto empty = query_->Pending();
  ASSERT_TRUE(empty.ok()) << empty.status().ToString();
  EXPECT_EQ(empty->count, 0);
  EXPECT_FALSE(empty->oldest_pending_since.has_value());
  AppendResult e1 = Add("alpha", "t", kT, {"billing", "crm"});
  clock_.Advance(kSecond);
  Add("alpha", "t", kT, {"billing"});
  Attempt(DeliveryId(e1.seq, "crm"), AttemptRecord::Next::kSucceeded, kT);
  auto pending = query_->Pending();
  ASSERT_TRUE(pending.ok());
  EXPECT_EQ(pending->count, 2);
  EXPECT_EQ(pending->by_destination, (std::map<std::string, int64_t>{{"billing", 2}}));
  EXPECT_EQ(pending->oldest_pending_since, kT);
  auto writer_view = stores_->deliveries->Pending();
  ASSERT_TRUE(writer_view.ok());
  EXPECT_EQ(writer_view->count, pending->count);
}

TEST_F(QueryStoreTest, ManyThreadsShareTheConnectionPool) {
  for (int i = 0; i < 20; ++i) Add(i % 2 ? "alpha" : "beta", "t", kT + i, {"billing"});
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        auto events = query_->ListEvents({.source = t % 2 ? "alpha" : "beta"}, Limit(5));
        auto deliveries = query_->ListDeliveries({.status = "pending"}, Limit(5));
        if (!events.ok() || events->size() != 5 || !deliveries.ok() || deliveries->size() != 5) {
          ++failures;
        }
      }
    });
  }
  for (int i = 0; i < 20; ++i) Add("gamma", "t", kT, {"billing"});  // the writer keeps writing
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
}

}  // namespace
}  // namespace hookvault::storage
