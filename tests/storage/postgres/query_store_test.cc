// PostgresQueryStore on a real PostgreSQL (tests/testing/postgres_server.h) with the real
// migrations. Fixture rows are written with plain SQL on a connection of the test's own, as
// the writers of every node would leave them, so that these tests check the reads alone.
#include "storage/postgres/query_store.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <thread>

#include "storage/audit_chain.h"
#include "storage/postgres/connection.h"
#include "storage/postgres/query_sql.h"
#include "tests/testing/postgres_server.h"

namespace hookvault::storage {
namespace {

constexpr int64_t kT = 1'790'000'000'000'000;  // a time base, microseconds
constexpr int64_t kSecond = 1'000'000;

struct Added {
  std::string id;
  int64_t seq = 0;
};

enum class Next { kRetry, kSucceeded, kFailed };

class PostgresQueryStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    hookvault::testing::PostgresServer* server = hookvault::testing::PostgresServer::Shared();
    ASSERT_NE(server, nullptr);
    url_ = server->CreateDatabase();
    ASSERT_FALSE(url_.empty());
    auto db = pg::Connection::Open({.url = url_});
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    db_ = std::move(db).value();
    auto query = PostgresQueryStore::Open({.url = url_}, 2);
    ASSERT_TRUE(query.ok()) << query.status().ToString();
    query_ = std::move(query).value();
  }

  // Runs one statement on the test's own connection; an error fails the test.
  pg::Result Sql(std::string_view sql, const pg::Params& params = pg::Params()) {
    auto result = db_->Exec(sql, params);
    EXPECT_TRUE(result.ok()) << result.status().ToString() << "\n" << sql;
    return result.ok() ? std::move(result).value() : pg::Result();
  }
  int64_t SqlInt(std::string_view sql, const pg::Params& params = pg::Params()) {
    pg::Result r = Sql(sql, params);
    return r.rows() > 0 ? r.GetInt64(0, 0) : -1;
  }

  // Stores one event as an ingest batch would (seq from the counter, its idempotency key, one
  // delivery per destination, its request-log row) and returns its id and seq. An event with
  // no destination is delivered at once.
  Added Add(const std::string& source, const std::string& type, int64_t received_at,
            std::vector<std::string> destinations = {}, std::string key = "",
            std::optional<std::string> body = std::nullopt) {
    if (key.empty()) key = "key-" + std::to_string(next_key_++);
    std::string headers = R"({"content-type":"application/json","x-n":")" + key + "\"}";
    std::string content = body ? *body : R"({"n":")" + key + "\"}";
    Added added;
    added.seq = SqlInt(
        "UPDATE event_seq_counter SET last_seq = last_seq + 1 WHERE id = 1 "
        "RETURNING last_seq");
    added.id = "evt_" + std::to_string(added.seq);
    Sql(R"sql(INSERT INTO events (seq, id, source, event_type, idempotency_key, received_at,
                                  remote_addr, headers, body, status)
              VALUES ($1, $2, $3, $4, $5, $6, '10.0.0.7', $7, $8, $9))sql",
        pg::Params()
            .Add(added.seq)
            .Add(added.id)
            .Add(source)
            .Add(type)
            .Add(key)
            .Add(received_at)
            .Add(headers)
            .AddBytes(content)
            .Add(destinations.empty() ? "delivered" : "pending"));
    Sql("INSERT INTO idempotency_keys (source, key, event_id, event_seq, created_at) "
        "VALUES ($1, $2, $3, $4, $5)",
        pg::Params().Add(source).Add(key).Add(added.id).Add(added.seq).Add(now_));
    for (const std::string& d : destinations) {
      Sql("INSERT INTO deliveries (event_seq, destination, next_attempt_at, created_at, "
          "updated_at) VALUES ($1, $2, $3, $3, $3)",
          pg::Params().Add(added.seq).Add(d).Add(now_));
    }
    Sql("INSERT INTO request_log (received_at, source, remote_addr, status, reason, event_id, "
        "body_bytes) VALUES ($1, $2, '10.0.0.7', 200, 'stored', $3, $4)",
        pg::Params()
            .Add(received_at)
            .Add(source)
            .Add(added.id)
            .Add(static_cast<int64_t>(content.size())));
    return added;
  }

  void Reject(const std::string& source, int status, int64_t received_at,
              std::optional<std::string> body = std::nullopt) {
    pg::Params p;
    p.Add(received_at).Add(source).Add(static_cast<int64_t>(status));
    if (body) {
      p.AddBytes(*body);
    } else {
      p.AddNull();
    }
    Sql("INSERT INTO request_log (received_at, source, remote_addr, status, reason, event_id, "
        "body_bytes, body) VALUES ($1, $2, '10.0.0.9', $3, 'rejected', NULL, 3, $4)",
        p);
  }

  int64_t DeliveryId(int64_t seq, const std::string& destination) {
    return SqlInt("SELECT id FROM deliveries WHERE event_seq = $1 AND destination = $2",
                  pg::Params().Add(seq).Add(destination));
  }

  // Records an attempt of a delivery and its outcome as the scheduler's writer would.
  void Attempt(int64_t delivery_id, Next next, int64_t started_at, int number = 1) {
    bool success = next == Next::kSucceeded;
    Sql(R"sql(INSERT INTO attempts (delivery_id, number, started_at, duration_us, http_status,
                                    error, response_excerpt, outcome, destination, event_seq)
              SELECT id, $2, $3, 1234, $4, NULL, 'resp'::bytea, $5, destination, event_seq
              FROM deliveries WHERE id = $1)sql",
        pg::Params()
            .Add(delivery_id)
            .Add(static_cast<int64_t>(number))
            .Add(started_at)
            .Add(static_cast<int64_t>(success ? 200 : 500))
            .Add(success ? "success" : "failure"));
    const char* status = next == Next::kSucceeded ? "succeeded"
                         : next == Next::kFailed  ? "failed"
                                                  : "pending";
    pg::Params p;
    p.Add(delivery_id).Add(status);
    if (success) {
      p.AddNull();
    } else {
      p.Add("HTTP 500");
    }
    p.Add(started_at + kSecond).Add(now_);
    Sql("UPDATE deliveries SET status = $2, attempts = attempts + 1, last_error = $3, "
        "next_attempt_at = $4, updated_at = $5 WHERE id = $1",
        p);
    Sql(R"sql(UPDATE events e SET status = CASE
                WHEN EXISTS (SELECT 1 FROM deliveries d WHERE d.event_seq = e.seq
                             AND d.status = 'failed') THEN 'failed'
                WHEN EXISTS (SELECT 1 FROM deliveries d WHERE d.event_seq = e.seq
                             AND d.status = 'pending') THEN 'pending'
                ELSE 'delivered' END
              WHERE e.seq = (SELECT event_seq FROM deliveries WHERE id = $1))sql",
        pg::Params().Add(delivery_id));
  }

  // Appends an audit row that continues the chain (hash under `key`, empty: unkeyed).
  AuditRow AppendAudit(int64_t at, const std::string& reason, std::string_view key = {}) {
    AuditRow row;
    row.id = ++audit_rows_;
    row.at = at;
    row.actor = "ops";
    row.role = "operator";
    row.action = "reprocess_bulk";
    row.target_json = R"({"status":"failed"})";
    row.matched = 2;
    row.requeued = 1;
    row.reason = reason;
    row.prev_hash = audit_head_;
    row.hash = AuditHash(row.prev_hash, row, key);
    audit_head_ = row.hash;
    Sql(R"sql(INSERT INTO audit_log (id, at, actor, role, action, target, matched, requeued,
                                     reason, prev_hash, hash)
              VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11))sql",
        pg::Params()
            .Add(row.id)
            .Add(row.at)
            .Add(row.actor)
            .Add(row.role)
            .Add(row.action)
            .Add(row.target_json)
            .Add(row.matched)
            .Add(row.requeued)
            .Add(row.reason)
            .Add(row.prev_hash)
            .Add(row.hash));
    return row;
  }

  std::string url_;
  std::unique_ptr<pg::Connection> db_;
  std::unique_ptr<PostgresQueryStore> query_;
  int64_t now_ = kT;
  int next_key_ = 0;
  int64_t audit_rows_ = 0;
  std::string audit_head_;
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

TEST(PostgresQuerySqlTest, NamedParametersBecomePositionalInOrderOfFirstUse) {
  auto p = pg::query_sql::ToPositional(
      "SELECT :a::bigint, x FROM t WHERE y = :b_c AND z = :a AND w::text = :d");
  EXPECT_EQ(p.text, "SELECT $1::bigint, x FROM t WHERE y = $2 AND z = $1 AND w::text = $3");
  EXPECT_EQ(p.names, (std::vector<std::string>{"a", "b_c", "d"}));
}

TEST_F(PostgresQueryStoreTest, ListEventsFiltersEachWayNewestFirst) {
  // received_at is not in seq order everywhere: e3 arrived before e2.
  Added e1 = Add("alpha", "payment.received", kT + 10 * kSecond);
  Added e2 = Add("beta", "payment.received", kT + 30 * kSecond, {"billing"});
  Added e3 = Add("alpha", "booking.created", kT + 20 * kSecond, {"billing"});
  Added e4 = Add("beta", "booking.created", kT + 40 * kSecond);
  Attempt(DeliveryId(e3.seq, "billing"), Next::kFailed, kT + 50 * kSecond);

  auto all = query_->ListEvents({}, Limit(50));
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  EXPECT_EQ(Seqs(*all), (std::vector<int64_t>{e4.seq, e3.seq, e2.seq, e1.seq}));
  ASSERT_EQ(all->size(), 4u);
  EXPECT_EQ((*all)[0].id, e4.id);
  EXPECT_EQ((*all)[0].source, "beta");
  EXPECT_EQ((*all)[0].event_type, "booking.created");
  EXPECT_EQ((*all)[0].idempotency_key, "key-3");
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
  // A cursor is the last seq of the previous page.
  auto page = query_->ListEvents({}, Page{2, e3.seq});
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(Seqs(*page), (std::vector<int64_t>{e2.seq, e1.seq}));
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

TEST_F(PostgresQueryStoreTest, PagesAreStableWhileRowsArrive) {
  for (int i = 0; i < 10; ++i) {
    now_ += kSecond;
    Added e = Add(i % 2 ? "alpha" : "beta", "t", kT + i * kSecond, {"billing"});
    Attempt(DeliveryId(e.seq, "billing"), Next::kRetry, kT + i * kSecond);
  }
  int n = 100;
  auto more = [&] {
    now_ += kSecond;
    Added e = Add(n % 2 ? "alpha" : "beta", "t", kT + n * kSecond, {"billing"});
    Attempt(DeliveryId(e.seq, "billing"), Next::kRetry, kT + n * kSecond);
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
  // A time window pages the same way. Late arrivals inside the window get newer seqs than the
  // first page's, so they never enter a later page.
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

TEST_F(PostgresQueryStoreTest, GetEventHasTheExactBytesAndDeliveriesByDestinationBytewise) {
  // NUL, bytes that are not UTF-8, a backslash: bytea gives them back as they were stored.
  const std::string body("\x00\xff\x80{\"a\":\"\\\\x00\"}\x7f\x00", 17);
  // A database whose locale orders text by language rules (alphabetically, case folded).
  Sql(R"sql(ALTER TABLE deliveries ALTER COLUMN destination TYPE text COLLATE "en-x-icu")sql");
  Added e = Add("alpha", "payment.received", kT, {"crm", "billing", "Zeta"}, "", body);
  auto got = query_->GetEvent(e.id);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ASSERT_TRUE(got->has_value());
  const EventRow& row = **got;
  EXPECT_EQ(row.seq, e.seq);
  EXPECT_EQ(row.id, e.id);
  EXPECT_EQ(row.idempotency_key, "key-0");
  EXPECT_EQ(row.body, body);
  EXPECT_EQ(row.body.size(), 17u);
  EXPECT_EQ(row.headers_json, R"({"content-type":"application/json","x-n":"key-0"})");
  EXPECT_EQ(row.status, "pending");

  auto missing = query_->GetEvent("no-such-id");
  ASSERT_TRUE(missing.ok());
  EXPECT_FALSE(missing->has_value());

  Attempt(DeliveryId(e.seq, "crm"), Next::kFailed, kT + kSecond);
  auto deliveries = query_->EventDeliveries(e.seq);
  ASSERT_TRUE(deliveries.ok()) << deliveries.status().ToString();
  ASSERT_EQ(deliveries->size(), 3u);
  // Bytewise, as SQLite orders them: upper case before lower case.
  EXPECT_EQ((*deliveries)[0].destination, "Zeta");
  EXPECT_EQ((*deliveries)[1].destination, "billing");
  EXPECT_EQ((*deliveries)[1].status, "pending");
  EXPECT_EQ((*deliveries)[1].attempts, 0);
  EXPECT_FALSE((*deliveries)[1].last_error.has_value());
  EXPECT_EQ((*deliveries)[2].destination, "crm");
  EXPECT_EQ((*deliveries)[2].status, "failed");
  EXPECT_EQ((*deliveries)[2].attempts, 1);
  EXPECT_EQ((*deliveries)[2].last_error, "HTTP 500");
  for (const DeliveryRow& d : *deliveries) {
    EXPECT_EQ(d.event_id, e.id);
    EXPECT_EQ(d.event_seq, e.seq);
    EXPECT_EQ(d.created_at, kT);
  }
  auto none = query_->EventDeliveries(e.seq + 100);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());

  // The feed gives the same bytes.
  auto feed = query_->Feed({.after_seq = 0, .limit = 10});
  ASSERT_TRUE(feed.ok()) << feed.status().ToString();
  ASSERT_EQ(feed->size(), 1u);
  EXPECT_EQ((*feed)[0].body, body);
}

TEST_F(PostgresQueryStoreTest, EventAttemptsAreOldestFirstAndPaged) {
  Added e = Add("alpha", "t", kT, {"billing", "crm"});
  Added other = Add("alpha", "t", kT, {"billing"});
  int64_t billing = DeliveryId(e.seq, "billing");
  int64_t crm = DeliveryId(e.seq, "crm");
  Attempt(billing, Next::kRetry, kT + 1, 1);
  Attempt(DeliveryId(other.seq, "billing"), Next::kRetry, kT + 2, 1);
  Attempt(crm, Next::kRetry, kT + 3, 1);
  Attempt(billing, Next::kSucceeded, kT + 4, 2);
  Attempt(crm, Next::kFailed, kT + 5, 2);

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

TEST_F(PostgresQueryStoreTest, ListDeliveriesFiltersEachWayAndCountsDisjointFilters) {
  Added e1 = Add("alpha", "t", kT, {"billing", "crm"});
  now_ += 10 * kSecond;
  Added e2 = Add("alpha", "t", kT, {"billing"});
  now_ += 10 * kSecond;
  Added e3 = Add("alpha", "t", kT, {"crm"});
  int64_t b1 = DeliveryId(e1.seq, "billing"), c1 = DeliveryId(e1.seq, "crm");
  int64_t b2 = DeliveryId(e2.seq, "billing"), c3 = DeliveryId(e3.seq, "crm");
  Attempt(b1, Next::kFailed, kT);
  Attempt(c1, Next::kSucceeded, kT);
  Attempt(c3, Next::kFailed, kT);

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

  auto count = [&](std::vector<DeliveryFilter> filters) {
    auto n = query_->CountDeliveries(filters);
    EXPECT_TRUE(n.ok()) << n.status().ToString();
    return n.ok() ? *n : -1;
  };
  EXPECT_EQ(count({}), 0);
  EXPECT_EQ(count({{.status = "failed"}}), 2);
  EXPECT_EQ(count({{.status = "failed"}, {.status = "succeeded"}}), 3);
  EXPECT_EQ(count({{.destination = "crm", .status = "failed"},
                   {.destination = "billing", .status = "succeeded"},
                   {.status = "pending", .event_id = e2.id}}),
            2);
  EXPECT_EQ(count({{.status = "failed", .created_after = kT + 10 * kSecond}}), 1);
  // The reader is usable after its snapshot transactions (it left none open).
  EXPECT_EQ(ids({.destination = "crm"}), (std::vector<int64_t>{c3, c1}));
}

// A reprocess dry run counts several filters; a delivery that moves from one filter to another
// meanwhile is counted once, never twice. The test makes the move happen between the two counts:
// it locks the events table, which only the second filter (by event) reads, so the second count
// waits while the delivery's outcome commits; in one snapshot the second count still sees the
// delivery as it was when the first count ran.
TEST_F(PostgresQueryStoreTest, CountDeliveriesCountsEveryFilterInOneSnapshot) {
  Added e = Add("alpha", "t", kT, {"billing"});
  int64_t billing = DeliveryId(e.seq, "billing");
  Attempt(billing, Next::kFailed, kT);
  auto watcher = pg::Connection::Open({.url = url_});
  ASSERT_TRUE(watcher.ok()) << watcher.status().ToString();
  auto waiting_readers = [&] {
    auto r = (*watcher)->Exec(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND "
        "application_name = 'hookvault-reader' AND wait_event_type = 'Lock'");
    return r.ok() ? r->GetInt64(0, 0) : -1;
  };

  Sql("BEGIN");
  Sql("LOCK TABLE events IN ACCESS EXCLUSIVE MODE");
  StatusOr<int64_t> counted = Status::Internal("not run");
  std::thread dry_run([&] {
    counted =
        query_->CountDeliveries({{.status = "failed"}, {.status = "succeeded", .event_id = e.id}});
  });
  for (int i = 0; i < 500 && waiting_readers() == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(waiting_readers(), 1);  // the second count waits; the first has run
  Sql("UPDATE deliveries SET status = 'succeeded' WHERE id = $1", pg::Params().Add(billing));
  Sql("COMMIT");
  dry_run.join();
  ASSERT_TRUE(counted.ok()) << counted.status().ToString();
  EXPECT_EQ(*counted, 1);
  // Now the delivery is in the second filter only.
  EXPECT_EQ(
      query_->CountDeliveries({{.status = "failed"}, {.status = "succeeded", .event_id = e.id}})
          .value(),
      1);
}

TEST_F(PostgresQueryStoreTest, ListAttemptsFiltersEachWay) {
  Added e1 = Add("alpha", "t", kT, {"billing", "crm"});
  Added e2 = Add("alpha", "t", kT, {"billing"});
  Attempt(DeliveryId(e1.seq, "billing"), Next::kRetry, kT + 1 * kSecond);      // 1
  Attempt(DeliveryId(e1.seq, "crm"), Next::kSucceeded, kT + 2 * kSecond);      // 2
  Attempt(DeliveryId(e2.seq, "billing"), Next::kRetry, kT + 3 * kSecond);      // 3
  Attempt(DeliveryId(e1.seq, "billing"), Next::kSucceeded, kT + 4 * kSecond);  // 4

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

TEST_F(PostgresQueryStoreTest, ListRequestsFiltersEachWay) {
  Added e = Add("alpha", "t", kT + 1);                       // request 1, status 200
  Reject("alpha", 401, kT + 2);                              // 2
  Reject("beta", 415, kT + 3);                               // 3
  Reject("beta", 401, kT + 4, std::string("{\x00\xfe", 3));  // 4, its body kept

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
  EXPECT_FALSE(stored.body.has_value());
  const RequestRow& rejected = rows->front();
  EXPECT_FALSE(rejected.event_id.has_value());
  EXPECT_EQ(rejected.remote_addr, "10.0.0.9");
  EXPECT_EQ(rejected.source, "beta");
  EXPECT_EQ(rejected.body, std::string("{\x00\xfe", 3));
}

TEST_F(PostgresQueryStoreTest, ListRequestsRejectedOnly) {
  Add("alpha", "t", kT + 1);     // request 1, status 200
  Reject("alpha", 401, kT + 2);  // 2
  Add("beta", "t", kT + 3);      // 3, 200
  Reject("beta", 422, kT + 4);   // 4
  Reject("beta", 503, kT + 5);   // 5
  Reject("alpha", 399, kT + 6);  // 6: not a rejection
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

TEST_F(PostgresQueryStoreTest, ListEventsByIdempotencyKeyWithAndWithoutSource) {
  int64_t a = Add("alpha", "booking.created", kT + 1, {}, "B-1042").seq;
  int64_t b = Add("beta", "booking.updated", kT + 2, {}, "B-1042").seq;
  int64_t c = Add("gamma", "booking.created", kT + 3, {}, "B-1043").seq;
  Add("alpha", "booking.created", kT + 4, {}, "B-1043");
  int64_t d = Add("zeta", "booking.created", kT + 5, {}, "B-1042").seq;
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

TEST_F(PostgresQueryStoreTest, FeedIsAscendingWithBodiesAndFilters) {
  Added e1 = Add("alpha", "payment.received", kT);
  Added e2 = Add("beta", "payment.received", kT);
  Added e3 = Add("alpha", "booking.created", kT);
  Added e4 = Add("alpha", "payment.received", kT);

  auto feed = query_->Feed({.after_seq = 0, .limit = 50});
  ASSERT_TRUE(feed.ok()) << feed.status().ToString();
  EXPECT_EQ(Seqs(*feed), (std::vector<int64_t>{e1.seq, e2.seq, e3.seq, e4.seq}));
  ASSERT_EQ(feed->size(), 4u);
  EXPECT_EQ((*feed)[1].body, R"({"n":"key-1"})");
  EXPECT_EQ((*feed)[1].headers_json, R"({"content-type":"application/json","x-n":"key-1"})");
  EXPECT_EQ((*feed)[1].id, e2.id);
  EXPECT_EQ((*feed)[1].source, "beta");

  auto after = query_->Feed({.after_seq = e2.seq, .limit = 1});
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(Seqs(*after), (std::vector<int64_t>{e3.seq}));
  auto by_source = query_->Feed({.after_seq = e1.seq, .limit = 50, .source = "alpha"});
  ASSERT_TRUE(by_source.ok());
  EXPECT_EQ(Seqs(*by_source), (std::vector<int64_t>{e3.seq, e4.seq}));
  auto by_type = query_->Feed({.after_seq = 0, .limit = 50, .event_type = "payment.received"});
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

// A page stops after the row with which its content reaches max_bytes: a feed of 1 MiB bodies
// comes in pages of about kMaxPageBytes whatever the limit, and the next page starts after it.
TEST_F(PostgresQueryStoreTest, AFeedPageOfBigBodiesStopsAtTheByteBudget) {
  const std::string mib(1 << 20, 'x');
  std::vector<int64_t> seqs;
  for (int i = 0; i < 10; ++i) seqs.push_back(Add("alpha", "t", kT, {}, "", mib).seq);

  auto page = query_->Feed({.after_seq = 0, .limit = 1000});
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  // Three rows hold 3 MiB and some, the fourth reaches 4 MiB.
  ASSERT_EQ(page->size(), 4u);
  EXPECT_TRUE(ReachedByteBudget(*page, kMaxPageBytes));
  for (const EventRow& e : *page) EXPECT_EQ(e.body.size(), mib.size());
  auto rest = query_->Feed({.after_seq = page->back().seq, .limit = 1000});
  ASSERT_TRUE(rest.ok());
  EXPECT_EQ(Seqs(*rest), (std::vector<int64_t>{seqs[4], seqs[5], seqs[6], seqs[7]}));
  auto last = query_->Feed({.after_seq = seqs[7], .limit = 1000});
  ASSERT_TRUE(last.ok());
  EXPECT_EQ(Seqs(*last), (std::vector<int64_t>{seqs[8], seqs[9]}));
  EXPECT_FALSE(ReachedByteBudget(*last, kMaxPageBytes));
}

// Every list counts RowBytes the way the API does: a budget of exactly two rows' bytes gives
// two rows, one byte more gives three, and a budget of one byte gives one row.
TEST_F(PostgresQueryStoreTest, EveryListStopsAfterTheRowThatReachesItsBudget) {
  for (int i = 0; i < 5; ++i) {
    Added e = Add("alpha", "t", kT + i, {"billing"});
    Attempt(DeliveryId(e.seq, "billing"), Next::kRetry, kT + i);
    Reject("alpha", 401, kT + i, std::string(100 + i, 'b'));
    AppendAudit(kT + i, "reason " + std::to_string(i));
  }
  const int64_t first = 1;  // the seq of the first event: it has five attempts
  for (int i = 2; i <= 5; ++i) Attempt(DeliveryId(first, "billing"), Next::kRetry, kT + 10, i);
  auto check = [](const char* what, auto list) {
    SCOPED_TRACE(what);
    auto all = list(Page{50, std::nullopt, kMaxPageBytes});
    ASSERT_TRUE(all.ok()) << all.status().ToString();
    ASSERT_GE(all->size(), 4u);
    int64_t two = RowBytes((*all)[0]) + RowBytes((*all)[1]);
    auto exactly_two = list(Page{50, std::nullopt, two});
    ASSERT_TRUE(exactly_two.ok());
    EXPECT_EQ(exactly_two->size(), 2u);
    EXPECT_TRUE(ReachedByteBudget(*exactly_two, two));
    auto three = list(Page{50, std::nullopt, two + 1});
    ASSERT_TRUE(three.ok());
    EXPECT_EQ(three->size(), 3u);
    auto one = list(Page{50, std::nullopt, 1});
    ASSERT_TRUE(one.ok());
    ASSERT_EQ(one->size(), 1u);
    EXPECT_EQ((*one)[0].id, (*all)[0].id);
  };
  check("events", [&](const Page& p) { return query_->ListEvents({}, p); });
  check("deliveries", [&](const Page& p) { return query_->ListDeliveries({}, p); });
  check("attempts", [&](const Page& p) { return query_->ListAttempts({}, p); });
  check("requests", [&](const Page& p) { return query_->ListRequests({.rejected = true}, p); });
  check("audit", [&](const Page& p) { return query_->ListAudit({}, p); });
  check("event attempts", [&](const Page& p) { return query_->EventAttempts(first, p); });
  check("feed", [&](const Page& p) {
    return query_->Feed({.after_seq = 0, .limit = p.limit, .max_bytes = p.max_bytes});
  });
}

TEST_F(PostgresQueryStoreTest, LatestSeqIsTheHighestAssignedAlsoAfterTheNewestWereDeleted) {
  auto empty = query_->LatestSeq();
  ASSERT_TRUE(empty.ok()) << empty.status().ToString();
  EXPECT_EQ(*empty, 0);
  Add("alpha", "t", kT);
  Added last = Add("alpha", "t", kT);
  auto latest = query_->LatestSeq();
  ASSERT_TRUE(latest.ok());
  EXPECT_EQ(*latest, last.seq);
  // Retention may delete the newest events; the feed's head stays where it was.
  Sql("DELETE FROM events");
  latest = query_->LatestSeq();
  ASSERT_TRUE(latest.ok());
  EXPECT_EQ(*latest, last.seq);
}

TEST_F(PostgresQueryStoreTest, ConsumersAreReadBackByNameBytewise) {
  // A database whose locale orders text by language rules (alphabetically, case folded).
  Sql(R"sql(ALTER TABLE consumers ALTER COLUMN name TYPE text COLLATE "en-x-icu")sql");
  auto none = query_->GetConsumer("warehouse");
  ASSERT_TRUE(none.ok()) << none.status().ToString();
  EXPECT_FALSE(none->has_value());
  Sql("INSERT INTO consumers (name, cursor, updated_at) VALUES "
      "('warehouse', 7, $1), ('analytics', 3, $2), ('Zeta', 1, $2)",
      pg::Params().Add(kT + 1).Add(kT + 2));
  auto got = query_->GetConsumer("warehouse");
  ASSERT_TRUE(got.ok());
  ASSERT_TRUE(got->has_value());
  EXPECT_EQ((*got)->name, "warehouse");
  EXPECT_EQ((*got)->cursor, 7);
  EXPECT_EQ((*got)->updated_at, kT + 1);
  auto all = query_->ListConsumers();
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[0].name, "Zeta");
  EXPECT_EQ((*all)[1].name, "analytics");
  EXPECT_EQ((*all)[2].name, "warehouse");
}

TEST_F(PostgresQueryStoreTest, PendingCountsPerDestination) {
  auto empty = query_->Pending();
  ASSERT_TRUE(empty.ok()) << empty.status().ToString();
  EXPECT_EQ(empty->count, 0);
  EXPECT_FALSE(empty->oldest_pending_since.has_value());
  Added e1 = Add("alpha", "t", kT, {"billing", "crm"});
  now_ += kSecond;
  Add("alpha", "t", kT, {"billing"});
  Attempt(DeliveryId(e1.seq, "crm"), Next::kSucceeded, kT);
  auto pending = query_->Pending();
  ASSERT_TRUE(pending.ok());
  EXPECT_EQ(pending->count, 2);
  EXPECT_EQ(pending->by_destination, (std::map<std::string, int64_t>{{"billing", 2}}));
  EXPECT_EQ(pending->oldest_pending_since, kT);
  // A reprocess restarts the wait from its time.
  Sql("UPDATE deliveries SET requeued_at = $2 WHERE id = $1",
      pg::Params().Add(DeliveryId(e1.seq, "billing")).Add(kT + 5 * kSecond));
  pending = query_->Pending();
  ASSERT_TRUE(pending.ok());
  EXPECT_EQ(pending->oldest_pending_since, kT + kSecond);
}

TEST_F(PostgresQueryStoreTest, AGoodChainVerifiesAndListsNewestFirst) {
  auto empty = query_->VerifyAudit();
  ASSERT_TRUE(empty.ok()) << empty.status().ToString();
  EXPECT_TRUE(empty->ok);
  EXPECT_EQ(empty->rows, 0);
  EXPECT_EQ(empty->head, "");
  for (int i = 1; i <= 3; ++i) AppendAudit(kT + i * kSecond, "run " + std::to_string(i));

  auto v = query_->VerifyAudit();
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_TRUE(v->ok);
  EXPECT_EQ(v->rows, 3);
  EXPECT_FALSE(v->first_bad.has_value());
  EXPECT_EQ(v->head, audit_head_);

  auto rows = query_->ListAudit({}, Page{});
  ASSERT_TRUE(rows.ok()) << rows.status().ToString();
  ASSERT_EQ(rows->size(), 3u);
  EXPECT_EQ((*rows)[0].id, 3);
  EXPECT_EQ((*rows)[0].reason, "run 3");
  EXPECT_EQ((*rows)[0].actor, "ops");
  EXPECT_EQ((*rows)[0].role, "operator");
  EXPECT_EQ((*rows)[0].action, "reprocess_bulk");
  EXPECT_EQ((*rows)[0].target_json, R"({"status":"failed"})");
  EXPECT_EQ((*rows)[0].matched, 2);
  EXPECT_EQ((*rows)[0].requeued, 1);
  EXPECT_EQ((*rows)[0].prev_hash, (*rows)[1].hash);
  EXPECT_EQ((*rows)[1].prev_hash, (*rows)[2].hash);
  EXPECT_EQ((*rows)[2].prev_hash, "");

  auto page = query_->ListAudit({}, Page{2, 3});
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(Ids(*page), (std::vector<int64_t>{2, 1}));
  auto window = query_->ListAudit({.after = kT + 2 * kSecond, .before = kT + 3 * kSecond}, Page{});
  ASSERT_TRUE(window.ok());
  EXPECT_EQ(Ids(*window), std::vector<int64_t>{2});
}

TEST_F(PostgresQueryStoreTest, TheTriggerRefusesEditsAndAnEditedRowIsTheFirstBad) {
  for (int i = 1; i <= 3; ++i) AppendAudit(kT + i * kSecond, "run " + std::to_string(i));
  EXPECT_FALSE(db_->Exec("UPDATE audit_log SET requeued = 0 WHERE id = 2").ok());
  EXPECT_FALSE(db_->Exec("DELETE FROM audit_log WHERE id = 2").ok());
  // Whoever can write the database can switch the trigger off.
  Sql("ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update");
  Sql("UPDATE audit_log SET requeued = 0 WHERE id = 2");
  auto v = query_->VerifyAudit();
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_FALSE(v->ok);
  EXPECT_EQ(v->rows, 3);
  EXPECT_EQ(v->first_bad, 2);
}

TEST_F(PostgresQueryStoreTest, ARemovedRowBreaksTheLinkOfTheNext) {
  for (int i = 1; i <= 3; ++i) AppendAudit(kT + i * kSecond, "run " + std::to_string(i));
  Sql("ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update");
  Sql("DELETE FROM audit_log WHERE id = 2");
  auto v = query_->VerifyAudit();
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_FALSE(v->ok);
  EXPECT_EQ(v->rows, 2);
  EXPECT_EQ(v->first_bad, 3);
}

// A chain longer than one chunk of the walk (kAuditChunk rows) is walked to its end, across
// the chunk boundaries, and a row edited in a later chunk is found.
TEST_F(PostgresQueryStoreTest, ALongChainIsWalkedAcrossChunks) {
  const int rows = pg::query_sql::kAuditChunk * 2 + 10;
  Sql("BEGIN");
  for (int i = 1; i <= rows; ++i) AppendAudit(kT + i, "run " + std::to_string(i));
  Sql("COMMIT");
  auto v = query_->VerifyAudit();
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_TRUE(v->ok);
  EXPECT_EQ(v->rows, rows);
  EXPECT_EQ(v->head, audit_head_);
  const int64_t edited = pg::query_sql::kAuditChunk * 2 + 1;  // the first row of the third chunk
  Sql("ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update");
  Sql("UPDATE audit_log SET reason = 'nothing to see' WHERE id = $1", pg::Params().Add(edited));
  v = query_->VerifyAudit();
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_FALSE(v->ok);
  EXPECT_EQ(v->rows, rows);
  EXPECT_EQ(v->first_bad, edited);
}

TEST_F(PostgresQueryStoreTest, KeyedRowsVerifyOnlyWithTheKey) {
  AppendAudit(kT + 1, "unkeyed");
  AppendAudit(kT + 2, "keyed", "secret-key");
  AppendAudit(kT + 3, "keyed too", "secret-key");
  auto without = query_->VerifyAudit();
  ASSERT_TRUE(without.ok()) << without.status().ToString();
  EXPECT_FALSE(without->ok);  // keyed rows cannot be checked without the key

  auto keyed = PostgresQueryStore::Open({.url = url_}, 1);
  ASSERT_TRUE(keyed.ok()) << keyed.status().ToString();
  (*keyed)->set_audit_key("secret-key");
  auto v = (*keyed)->VerifyAudit();
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_TRUE(v->ok);
  EXPECT_EQ(v->rows, 3);
  EXPECT_EQ(v->keyed_from, 2);

  auto wrong = PostgresQueryStore::Open({.url = url_}, 1);
  ASSERT_TRUE(wrong.ok());
  (*wrong)->set_audit_key("another-key");
  auto bad = (*wrong)->VerifyAudit();
  ASSERT_TRUE(bad.ok());
  EXPECT_FALSE(bad->ok);
  EXPECT_EQ(bad->first_bad, 2);
}

TEST_F(PostgresQueryStoreTest, EightThreadsShareAPoolOfTwo) {
  for (int i = 0; i < 20; ++i) Add(i % 2 ? "alpha" : "beta", "t", kT + i, {"billing"});
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        auto events = query_->ListEvents({.source = t % 2 ? "alpha" : "beta"}, Limit(5));
        auto deliveries = query_->ListDeliveries({.status = "pending"}, Limit(5));
        auto count = query_->CountDeliveries({{.status = "pending"}, {.status = "failed"}});
        auto feed = query_->Feed({.after_seq = 0, .limit = 5});
        if (!events.ok() || events->size() != 5 || !deliveries.ok() || deliveries->size() != 5 ||
            !count.ok() || *count < 20 || !feed.ok() || feed->size() != 5) {
          ++failures;
        }
      }
    });
  }
  for (int i = 0; i < 20; ++i) Add("gamma", "t", kT, {"billing"});  // the writer keeps writing
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  // The pool is two sessions, whatever the number of threads.
  EXPECT_EQ(SqlInt("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                   "AND application_name = 'hookvault-reader'"),
            2);
}

// The server ends the reader sessions (a restart, a failover, an operator's
// pg_terminate_backend): whichever reader a call takes reconnects and the call answers; none
// fails. Several rounds, with calls from several threads, so that readers broken in one round
// and not used in it are healed in a later one.
TEST_F(PostgresQueryStoreTest, ConnectionsTheServerEndedHealOnTheirNextUse) {
  Added e = Add("alpha", "t", kT);
  auto sessions = [&] {
    return SqlInt(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND "
        "application_name = 'hookvault-reader'");
  };
  EXPECT_EQ(sessions(), 2);  // the pool opens its sessions up front
  for (int round = 0; round < 3; ++round) {
    SCOPED_TRACE(round);
    int64_t ended = SqlInt(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE "
        "datname = current_database() AND application_name = 'hookvault-reader'");
    EXPECT_GE(ended, 1);
    if (round == 0) {
      EXPECT_EQ(ended, 2);
    }
    for (int i = 0; i < 250 && sessions() > 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ASSERT_EQ(sessions(), 0);
    std::atomic<int> failures{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&] {
        for (int i = 0; i < 5; ++i) {
          auto events = query_->ListEvents({}, Limit(5));
          auto got = query_->GetEvent(e.id);
          if (!events.ok() || Seqs(*events) != std::vector<int64_t>{e.seq} || !got.ok() ||
              !got->has_value()) {
            ++failures;
          }
        }
      });
    }
    for (std::thread& t : threads) t.join();
    EXPECT_EQ(failures.load(), 0);
    EXPECT_GE(sessions(), 1);
  }
}

// A read that cannot finish (here: waiting for a lock) ends at the statement timeout instead of
// holding a snapshot open, and the reader serves the next call.
TEST_F(PostgresQueryStoreTest, AReadPastTheStatementTimeoutEndsAndTheReaderStaysUsable) {
  Added e = Add("alpha", "t", kT);
  auto impatient = PostgresQueryStore::Open({.url = url_, .statement_timeout_ms = 300}, 1);
  ASSERT_TRUE(impatient.ok()) << impatient.status().ToString();
  Sql("BEGIN");
  Sql("LOCK TABLE events IN ACCESS EXCLUSIVE MODE");
  auto blocked = (*impatient)->ListEvents({}, Limit(5));
  EXPECT_FALSE(blocked.ok());
  EXPECT_NE(blocked.status().message().find("57014"), std::string::npos)  // query_canceled
      << blocked.status().ToString();
  Sql("ROLLBACK");
  auto events = (*impatient)->ListEvents({}, Limit(5));
  ASSERT_TRUE(events.ok()) << events.status().ToString();
  EXPECT_EQ(Seqs(*events), std::vector<int64_t>{e.seq});
}

// Every composed list, count and feed query, for every combination of its filters, is planned
// on a database of 50,000 events (with statistics) without a sequential scan of a big table:
// the key bound and the indexes the fragments were written for keep each read bounded.
TEST_F(PostgresQueryStoreTest, NoComposedQueryScansABigTable) {
  Sql(R"sql(INSERT INTO events (seq, id, source, event_type, idempotency_key, received_at,
                                remote_addr, headers, body, status)
            SELECT g, 'evt_' || g, (ARRAY['alpha', 'beta', 'gamma', 'delta'])[1 + g % 4],
                   (ARRAY['a.b', 'c.d', 'e.f'])[1 + g % 3], 'k' || g, 1790000000000000 + g * 1000000,
                   '10.0.0.7', '{}', convert_to('{"n":' || g || '}', 'UTF8'),
                   CASE WHEN g % 100 = 0 THEN 'failed' WHEN g % 10 = 0 THEN 'pending'
                        ELSE 'delivered' END
            FROM generate_series(1, 50000::bigint) g)sql");
  Sql("UPDATE event_seq_counter SET last_seq = 50000");
  Sql("INSERT INTO idempotency_keys SELECT source, idempotency_key, id, seq, received_at "
      "FROM events");
  Sql(R"sql(INSERT INTO deliveries (event_seq, destination, status, next_attempt_at, created_at,
                                    updated_at)
            SELECT seq, (ARRAY['billing', 'crm'])[1 + seq % 2],
                   CASE WHEN status = 'delivered' THEN 'succeeded' ELSE status END,
                   received_at, received_at, received_at FROM events)sql");
  Sql(R"sql(INSERT INTO attempts (delivery_id, number, started_at, duration_us, http_status,
                                  outcome, destination, event_seq)
            SELECT id, 1, created_at, 100, 200,
                   CASE WHEN status = 'failed' THEN 'failure' ELSE 'success' END, destination,
                   event_seq FROM deliveries)sql");
  Sql(R"sql(INSERT INTO request_log (received_at, source, remote_addr, status, reason, event_id,
                                     body_bytes)
            SELECT received_at, source, '10.0.0.7', CASE WHEN seq % 50 = 0 THEN 401 ELSE 200 END,
                   'stored', id, 10 FROM events)sql");
  Sql("ANALYZE");

  using namespace pg::query_sql;  // NOLINT
  const std::map<std::string, std::string> values = {
      {"cursor", std::to_string(kNoCursorDescending)},
      {"limit", "50"},
      {"max_bytes", std::to_string(kMaxPageBytes)},
      {"source", "beta"},
      {"type", "c.d"},
      {"status", "failed"},
      {"destination", "crm"},
      {"event_id", "evt_25001"},
      {"outcome", "failure"},
      {"after", "1790020000000000"},  // a window of an hour, 20,000 s into the data
      {"before", "1790023600000000"},
      {"idempotency_key", "k25001"},
      {"after_seq", "25000"},
      {"event_seq", "25001"}};
  auto request_values = values;
  request_values["status"] = "401";
  int planned = 0;
  auto expect_no_scan = [&](const std::string& named,
                            const std::map<std::string, std::string>& with) {
    pg::query_sql::Positional q = pg::query_sql::ToPositional(named);
    pg::Params params;
    for (const std::string& name : q.names) params.Add(with.at(name));
    auto plan = db_->Exec("EXPLAIN " + q.text, params);
    ASSERT_TRUE(plan.ok()) << plan.status().ToString() << "\n" << q.text;
    std::string text;
    for (int i = 0; i < plan->rows(); ++i) text += plan->GetString(i, 0) + "\n";
    for (const char* table :
         {"events", "deliveries", "attempts", "request_log", "idempotency_keys"}) {
      EXPECT_EQ(text.find(std::string("Seq Scan on ") + table), std::string::npos) << named << "\n"
                                                                                   << text;
    }
    ++planned;
  };
  const unsigned event_bits[] = {kFilterSource, kFilterType,   kFilterStatus,
                                 kFilterAfter,  kFilterBefore, kFilterKey};
  for (unsigned set = 0; set < (1u << 6); ++set) {
    unsigned f = 0;
    for (int b = 0; b < 6; ++b) {
      if (set & (1u << b)) f |= event_bits[b];
    }
    expect_no_scan(ListEventsSql(f), values);
  }
  const unsigned delivery_bits[] = {kFilterDestination, kFilterStatus, kFilterEventId, kFilterAfter,
                                    kFilterBefore};
  const unsigned attempt_bits[] = {kFilterDestination, kFilterEventId, kFilterOutcome, kFilterAfter,
                                   kFilterBefore};
  const unsigned request_bits[] = {kFilterSource, kFilterStatus, kFilterRejected, kFilterAfter,
                                   kFilterBefore};
  for (unsigned set = 0; set < (1u << 5); ++set) {
    unsigned d = 0, a = 0, r = 0;
    for (int b = 0; b < 5; ++b) {
      if (set & (1u << b)) {
        d |= delivery_bits[b];
        a |= attempt_bits[b];
        r |= request_bits[b];
      }
    }
    expect_no_scan(ListDeliveriesSql(d), values);
    // A reprocess dry run always has a status.
    expect_no_scan(CountDeliveriesSql(d | kFilterStatus), values);
    expect_no_scan(ListAttemptsSql(a), values);
    expect_no_scan(ListRequestsSql(r), request_values);
  }
  for (unsigned f : {0u, 1u, 2u, 3u}) {
    expect_no_scan(FeedSql((f & 1 ? kFilterSource : 0u) | (f & 2 ? kFilterType : 0u)), values);
  }
  expect_no_scan(EventDeliveriesSql(), values);
  expect_no_scan(
      EventAttemptsSql(),
      {{"event_seq", "25001"}, {"cursor", "0"}, {"limit", "50"}, {"max_bytes", "4194304"}});
  expect_no_scan(std::string(kGetEvent), {{"id", "evt_25001"}});
  expect_no_scan(std::string(kOldestPending), {});
  EXPECT_EQ(planned, 64 + 4 * 32 + 4 + 4);
}

TEST(PostgresQueryStoreOpenTest, AServerThatCannotBeReachedIsUnavailable) {
  // A port nothing listens on: the test server's, once its own database is gone, would do too,
  // but a closed port needs nothing.
  auto store = PostgresQueryStore::Open(
      {.url = "postgresql://postgres@127.0.0.1:1/hookvault", .connect_timeout_s = 2}, 2);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), StatusCode::kUnavailable) << store.status().ToString();
}

}  // namespace
}  // namespace hookvault::storage
