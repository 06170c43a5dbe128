// The SQL of PostgresQueryStore. As in the SQLite wing (storage/sqlite/query_sql.h), list
// queries with optional filters are composed from the named fragments below, every value a
// bound parameter, nothing ever formatted into SQL. Fragments name their parameters (:source);
// ToPositional turns a composed text into PostgreSQL's $1, $2, … and lists the names in that
// order, so a fragment never needs to know which number its parameter gets.
//
// How a list query reads its rows. Each list is keyset-paginated by its key (events.seq or id)
// and runs as one statement in three steps:
//
//  1. page: the key query, MATERIALIZED so that it is planned on its own, selects the keys of
//     at most :limit rows from one table (`k`). The key bound is always present (:cursor is
//     INT64_MAX without a cursor). PostgreSQL's planner picks the (column, key) index of an
//     equality filter, walked in key order, or the time column's index and a top-N sort for a
//     time window, by cost; the SQLite wing's INDEXED BY and `+column` hints have no
//     counterpart and need none.
//  2. cut: the byte budget of the page (storage/query_store.h, kMaxPageBytes). A window sum
//     over the page's rows, in the list's order, of the bytes RowBytes counts, taken from
//     octet_length, which reads a TOASTed value's size from its header without fetching it;
//     a row is kept while the rows before it hold fewer than :max_bytes. So the page stops
//     after the row that reaches the budget, as SqliteQueryStore's row-by-row read stops, and
//     a Feed of 1,000 bodies of 1 MiB never leaves the server beyond the first few.
//  3. the rows of the kept keys, fetched by primary key, in the list's order.
//
// Idempotency keys (events filtered by key) are found through the (source, key) primary key of
// idempotency_keys: one probe with a source filter, else one per source that ever stored a key
// (a loose index scan of the primary key's sources, key_sources; PostgreSQL 15 has no skip
// scan of its own). No index on events.idempotency_key: it would cost every ingest one more
// B-tree insert. The rejected-requests filter (status >= 400, a literal so that the planner
// can prove the predicate) uses the partial indexes of migration 0006.
//
// Orders by name (a delivery's destination, consumers) are COLLATE "C": bytewise, as SQLite
// orders them, whatever the database's locale.
#ifndef HOOKVAULT_STORAGE_POSTGRES_QUERY_SQL_H_
#define HOOKVAULT_STORAGE_POSTGRES_QUERY_SQL_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace hookvault::storage::pg::query_sql {

// Which optional filters a composed query has. Each list uses the bits of the filters it offers.
enum FilterBits : unsigned {
  kFilterSource = 1u << 0,       // events, requests, feed
  kFilterType = 1u << 1,         // events, feed
  kFilterStatus = 1u << 2,       // events, deliveries, requests
  kFilterDestination = 1u << 3,  // deliveries, attempts
  kFilterEventId = 1u << 4,      // deliveries, attempts
  kFilterOutcome = 1u << 5,      // attempts
  kFilterAfter = 1u << 6,        // the lower time bound (inclusive)
  kFilterBefore = 1u << 7,       // the upper time bound (exclusive)
  kFilterKey = 1u << 8,          // events: the idempotency key
  kFilterRejected = 1u << 9,     // requests: answered with 400 or more
};

// Bound for :cursor when a descending list has no cursor.
inline constexpr int64_t kNoCursorDescending = INT64_MAX;

// Keeps a page's rows while the rows before them hold fewer than :max_bytes (step 2 above).
// Follows a key query and the list's `cut` select; the window orders by the page's key `k`.
inline constexpr std::string_view kPageHead = "WITH page AS MATERIALIZED (";
inline constexpr std::string_view kWindowDescending =
    " WINDOW w AS (ORDER BY page.k DESC ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING))\n";
inline constexpr std::string_view kWindowAscending =
    " WINDOW w AS (ORDER BY page.k ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING))\n";
inline constexpr std::string_view kKept = " WHERE coalesce(cut.bytes_before, 0) < :max_bytes";

// ---- events ----

inline constexpr std::string_view kEventKeys = "SELECT seq AS k FROM events WHERE seq < :cursor";
inline constexpr std::string_view kEventKeysEnd = " ORDER BY seq DESC LIMIT :limit";
inline constexpr std::string_view kEventsBySource = " AND source = :source";
inline constexpr std::string_view kEventsByType = " AND event_type = :type";
inline constexpr std::string_view kEventsByStatus = " AND status = :status";
inline constexpr std::string_view kEventsAfter = " AND received_at >= :after";
inline constexpr std::string_view kEventsBefore = " AND received_at < :before";
// The events of one key in one source: at most one.
inline constexpr std::string_view kEventsByKeyOfSource =
    " AND seq IN (SELECT event_seq FROM idempotency_keys WHERE source = :source AND"
    " key = :idempotency_key)";
// The events of one key in any source: key_sources walks the distinct sources of the primary
// key (each step an index seek past the previous source), and each is probed with the key.
inline constexpr std::string_view kEventsByKey = R"sql( AND seq IN (
  WITH RECURSIVE key_sources(source) AS (
    SELECT min(source) FROM idempotency_keys
    UNION ALL
    SELECT (SELECT min(i.source) FROM idempotency_keys i WHERE i.source > key_sources.source)
    FROM key_sources WHERE key_sources.source IS NOT NULL)
  SELECT i.event_seq FROM key_sources JOIN idempotency_keys i
  ON i.source = key_sources.source AND i.key = :idempotency_key))sql";

// What RowBytes(EventRow) counts of a listed event (no headers, no body).
inline constexpr std::string_view kEventListCut = R"sql(),
cut AS (
  SELECT page.k, sum(octet_length(e.id) + octet_length(e.source) + octet_length(e.event_type) +
                     octet_length(e.idempotency_key) + octet_length(e.remote_addr) +
                     octet_length(e.status)) OVER w AS bytes_before
  FROM page JOIN events e ON e.seq = page.k)sql";
inline constexpr std::string_view kEventListRows = R"sql(
SELECT e.seq, e.id, e.source, e.event_type, e.idempotency_key, e.received_at, e.remote_addr,
       e.status
FROM cut JOIN events e ON e.seq = cut.k)sql";
inline constexpr std::string_view kEventListEnd = " ORDER BY e.seq DESC";

inline constexpr std::string_view kGetEvent = R"sql(
SELECT seq, id, source, event_type, idempotency_key, received_at, remote_addr, status, headers,
       body
FROM events WHERE id = :id
)sql";

inline constexpr std::string_view kFeedKeys = "SELECT seq AS k FROM events WHERE seq > :after_seq";
inline constexpr std::string_view kFeedKeysEnd = " ORDER BY seq LIMIT :limit";
// What RowBytes(EventRow) counts of an event with its content.
inline constexpr std::string_view kFeedCut = R"sql(),
cut AS (
  SELECT page.k, sum(octet_length(e.id) + octet_length(e.source) + octet_length(e.event_type) +
                     octet_length(e.idempotency_key) + octet_length(e.remote_addr) +
                     octet_length(e.status) + octet_length(e.headers) +
                     octet_length(e.body)) OVER w AS bytes_before
  FROM page JOIN events e ON e.seq = page.k)sql";
inline constexpr std::string_view kFeedRows = R"sql(
SELECT e.seq, e.id, e.source, e.event_type, e.idempotency_key, e.received_at, e.remote_addr,
       e.status, e.headers, e.body
FROM cut JOIN events e ON e.seq = cut.k)sql";
inline constexpr std::string_view kFeedEnd = " ORDER BY e.seq";

// The highest seq ever assigned: the counter the writers take seq from (migration 0001), so
// also after retention deleted the newest events. A plain read of the row never waits for the
// ingest transaction that holds its lock; it sees the last committed value.
inline constexpr std::string_view kLatestSeq = R"sql(
SELECT last_seq FROM event_seq_counter WHERE id = 1
)sql";

// ---- deliveries ----

inline constexpr std::string_view kDeliveryKeys =
    "SELECT id AS k FROM deliveries WHERE id < :cursor";
inline constexpr std::string_view kDeliveryKeysEnd = " ORDER BY id DESC LIMIT :limit";
inline constexpr std::string_view kDeliveriesByDestination = " AND destination = :destination";
inline constexpr std::string_view kDeliveriesByStatus = " AND status = :status";
inline constexpr std::string_view kDeliveriesByEvent =
    " AND event_seq = (SELECT seq FROM events WHERE id = :event_id)";
inline constexpr std::string_view kDeliveriesAfter = " AND created_at >= :after";
inline constexpr std::string_view kDeliveriesBefore = " AND created_at < :before";

// What RowBytes(DeliveryRow) counts.
inline constexpr std::string_view kDeliveryCut = R"sql(),
cut AS (
  SELECT page.k, sum(coalesce(octet_length(e.id), 0) + octet_length(d.destination) +
                     octet_length(d.status) + coalesce(octet_length(d.last_error), 0) +
                     coalesce(octet_length(d.order_key), 0))
                 OVER w AS bytes_before
  FROM page JOIN deliveries d ON d.id = page.k LEFT JOIN events e ON e.seq = d.event_seq)sql";
inline constexpr std::string_view kDeliveryColumns = R"sql(
SELECT d.id, d.event_seq, e.id, d.destination, d.status, d.attempts, d.next_attempt_at,
       d.last_error, d.created_at, d.updated_at, d.order_key, d.held::int)sql";
inline constexpr std::string_view kDeliveryListRows = R"sql(
FROM cut JOIN deliveries d ON d.id = cut.k LEFT JOIN events e ON e.seq = d.event_seq)sql";
inline constexpr std::string_view kDeliveryListEnd = " ORDER BY d.id DESC";

inline constexpr std::string_view kEventDeliveries = R"sql(
FROM deliveries d LEFT JOIN events e ON e.seq = d.event_seq
WHERE d.event_seq = :event_seq ORDER BY d.destination COLLATE "C"
)sql";

// Counts the deliveries of one filter (a reprocess dry run). No order and no limit, so the
// planner takes whichever index serves the filters.
inline constexpr std::string_view kCountDeliveries = "SELECT count(*) FROM deliveries WHERE true";
// The counts of a dry run are taken in one snapshot; read-only, so it takes no lock and
// cannot conflict with the writers.
inline constexpr std::string_view kBeginSnapshot =
    "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY";

// ---- attempts ----

inline constexpr std::string_view kAttemptKeys = "SELECT id AS k FROM attempts WHERE id < :cursor";
inline constexpr std::string_view kAttemptKeysEnd = " ORDER BY id DESC LIMIT :limit";
inline constexpr std::string_view kAttemptsByDestination = " AND destination = :destination";
inline constexpr std::string_view kAttemptsByOutcome = " AND outcome = :outcome";
inline constexpr std::string_view kAttemptsByEvent =
    " AND event_seq = (SELECT seq FROM events WHERE id = :event_id)";
inline constexpr std::string_view kAttemptsAfter = " AND started_at >= :after";
inline constexpr std::string_view kAttemptsBefore = " AND started_at < :before";

// An event's attempts, oldest first, after the cursor.
inline constexpr std::string_view kEventAttemptKeys = R"sql(
SELECT id AS k FROM attempts WHERE event_seq = :event_seq AND id > :cursor
ORDER BY id LIMIT :limit)sql";

// What RowBytes(AttemptRow) counts.
inline constexpr std::string_view kAttemptCut = R"sql(),
cut AS (
  SELECT page.k, sum(coalesce(octet_length(e.id), 0) + coalesce(octet_length(a.destination), 0) +
                     coalesce(octet_length(a.error), 0) +
                     coalesce(octet_length(a.response_excerpt), 0) + octet_length(a.outcome))
                 OVER w AS bytes_before
  FROM page JOIN attempts a ON a.id = page.k LEFT JOIN events e ON e.seq = a.event_seq)sql";
inline constexpr std::string_view kAttemptRows = R"sql(
SELECT a.id, a.delivery_id, e.id, a.destination, a.number, a.started_at, a.duration_us,
       a.http_status, a.error, a.response_excerpt, a.outcome
FROM cut JOIN attempts a ON a.id = cut.k LEFT JOIN events e ON e.seq = a.event_seq)sql";
inline constexpr std::string_view kAttemptListEnd = " ORDER BY a.id DESC";
inline constexpr std::string_view kEventAttemptsEnd = " ORDER BY a.id";

// ---- request log ----

inline constexpr std::string_view kRequestKeys =
    "SELECT id AS k FROM request_log WHERE id < :cursor";
inline constexpr std::string_view kRequestKeysEnd = " ORDER BY id DESC LIMIT :limit";
inline constexpr std::string_view kRequestsBySource = " AND source = :source";
inline constexpr std::string_view kRequestsByStatus = " AND status = :status";
inline constexpr std::string_view kRequestsAfter = " AND received_at >= :after";
inline constexpr std::string_view kRequestsBefore = " AND received_at < :before";
inline constexpr std::string_view kRequestsRejected = " AND status >= 400";

// What RowBytes(RequestRow) counts: the kept body too.
inline constexpr std::string_view kRequestCut = R"sql(),
cut AS (
  SELECT page.k, sum(octet_length(r.source) + octet_length(r.remote_addr) +
                     octet_length(r.reason) + coalesce(octet_length(r.event_id), 0) +
                     coalesce(octet_length(r.body), 0)) OVER w AS bytes_before
  FROM page JOIN request_log r ON r.id = page.k)sql";
inline constexpr std::string_view kRequestRows = R"sql(
SELECT r.id, r.received_at, r.source, r.remote_addr, r.status, r.reason, r.event_id,
       r.body_bytes, r.body
FROM cut JOIN request_log r ON r.id = cut.k)sql";
inline constexpr std::string_view kRequestListEnd = " ORDER BY r.id DESC";

// ---- audit ----

// Operator actions are few (a handful a day), so the audit list walks the primary key and tests
// the time on each row; audit_log_at serves a window when the planner finds it cheaper.
inline constexpr std::string_view kAuditKeys = "SELECT id AS k FROM audit_log WHERE id < :cursor";
inline constexpr std::string_view kAuditAfter = " AND at >= :after";
inline constexpr std::string_view kAuditBefore = " AND at < :before";
inline constexpr std::string_view kAuditKeysEnd = " ORDER BY id DESC LIMIT :limit";

// What RowBytes(AuditRow) counts.
inline constexpr std::string_view kAuditCut = R"sql(),
cut AS (
  SELECT page.k, sum(octet_length(a.actor) + octet_length(a.role) + octet_length(a.action) +
                     octet_length(a.target) + octet_length(a.reason) +
                     octet_length(a.prev_hash) + octet_length(a.hash)) OVER w AS bytes_before
  FROM page JOIN audit_log a ON a.id = page.k)sql";
inline constexpr std::string_view kAuditColumns = R"sql(
SELECT a.id, a.at, a.actor, a.role, a.action, a.target, a.matched, a.requeued, a.reason,
       a.prev_hash, a.hash)sql";
inline constexpr std::string_view kAuditListRows = " FROM cut JOIN audit_log a ON a.id = cut.k";
inline constexpr std::string_view kAuditListEnd = " ORDER BY a.id DESC";

// VerifyAudit walks the chain in chunks of kAuditChunk rows (all in one snapshot), so that a
// long chain is never one result held in memory.
inline constexpr int kAuditChunk = 1000;
inline constexpr std::string_view kAuditChain = R"sql(
FROM audit_log a WHERE a.id > :after_id ORDER BY a.id LIMIT :limit
)sql";

// ---- consumers ----

inline constexpr std::string_view kGetConsumer = R"sql(
SELECT name, cursor, updated_at FROM consumers WHERE name = :name
)sql";
inline constexpr std::string_view kListConsumers = R"sql(
SELECT name, cursor, updated_at FROM consumers ORDER BY name COLLATE "C"
)sql";

// ---- pending deliveries (/metrics) ----

inline constexpr std::string_view kCountPending = R"sql(
SELECT destination, count(*) FROM deliveries WHERE status = 'pending' GROUP BY destination
)sql";
// Pending since creation, or since the last reprocess: the first pending entry of the
// expression index deliveries_pending_since (migration 0005).
inline constexpr std::string_view kOldestPending = R"sql(
SELECT coalesce(requeued_at, created_at) FROM deliveries WHERE status = 'pending'
ORDER BY coalesce(requeued_at, created_at)
LIMIT 1
)sql";

// ---- the reader sessions ----

// Set on every reader connection, at open and after each reconnect. Read-only, as SQLite's
// readers are (PRAGMA query_only). Custom plans for every execution: a list's best index
// depends on its values (a rare status against a common one, a narrow window against a wide
// one), and a generic plan chosen after five executions would keep one plan for all; planning
// costs far less than a wrong index walk.
inline constexpr std::string_view kReaderSession = R"sql(
SET default_transaction_read_only = on;
SET plan_cache_mode = force_custom_plan
)sql";

// ---- composition ----

// A composed statement in PostgreSQL's form.
struct Positional {
  std::string text;                // with $1, $2, … in place of each :name
  std::vector<std::string> names;  // names[i] is bound to $(i + 1)
};

// Returns `named` with each :name parameter replaced by $n, numbered by first appearance (a
// name used twice gets one number). A name is [a-z_]+ after a ':' that does not follow
// another ':' (so a cast `::bigint` is left alone).
inline Positional ToPositional(std::string_view named) {
  auto is_name_char = [](char c) { return (c >= 'a' && c <= 'z') || c == '_'; };
  Positional out;
  out.text.reserve(named.size());
  for (size_t i = 0; i < named.size(); ++i) {
    char c = named[i];
    bool starts_name = c == ':' && i + 1 < named.size() && is_name_char(named[i + 1]) &&
                       (i == 0 || named[i - 1] != ':');
    if (!starts_name) {
      out.text += c;
      continue;
    }
    size_t end = i + 1;
    while (end < named.size() && is_name_char(named[end])) ++end;
    std::string name(named.substr(i + 1, end - i - 1));
    size_t number = 0;
    while (number < out.names.size() && out.names[number] != name) ++number;
    if (number == out.names.size()) out.names.push_back(name);
    out.text += '$';
    out.text += std::to_string(number + 1);
    i = end - 1;
  }
  return out;
}

namespace detail {

inline void AppendIf(std::string& sql, unsigned filters, unsigned bit, std::string_view fragment) {
  if (filters & bit) sql += fragment;
}

// Wraps a key query into the three steps of a list (the top of this file).
inline std::string BudgetedPage(std::string_view keys, std::string_view cut, bool ascending,
                                std::string_view rows, std::string_view end) {
  std::string sql(kPageHead);
  sql += keys;
  sql += cut;
  sql += ascending ? kWindowAscending : kWindowDescending;
  sql += rows;
  sql += kKept;
  sql += end;
  return sql;
}

}  // namespace detail

// The key query of the events list. Parameters: :cursor, :limit, and :source :type :status
// :after :before :idempotency_key as `filters` says.
inline std::string EventKeysSql(unsigned filters) {
  using detail::AppendIf;
  std::string sql(kEventKeys);
  if (filters & kFilterKey) {
    sql += (filters & kFilterSource) ? kEventsByKeyOfSource : kEventsByKey;
  } else {
    AppendIf(sql, filters, kFilterSource, kEventsBySource);
  }
  AppendIf(sql, filters, kFilterType, kEventsByType);
  AppendIf(sql, filters, kFilterStatus, kEventsByStatus);
  AppendIf(sql, filters, kFilterAfter, kEventsAfter);
  AppendIf(sql, filters, kFilterBefore, kEventsBefore);
  sql += kEventKeysEnd;
  return sql;
}

// Parameters: those of EventKeysSql and :max_bytes.
inline std::string ListEventsSql(unsigned filters) {
  return detail::BudgetedPage(EventKeysSql(filters), kEventListCut, false, kEventListRows,
                              kEventListEnd);
}

// Parameters: :after_seq, :limit, :max_bytes, and :source :type.
inline std::string FeedSql(unsigned filters) {
  std::string keys(kFeedKeys);
  detail::AppendIf(keys, filters, kFilterSource, kEventsBySource);
  detail::AppendIf(keys, filters, kFilterType, kEventsByType);
  keys += kFeedKeysEnd;
  return detail::BudgetedPage(keys, kFeedCut, true, kFeedRows, kFeedEnd);
}

// Appends the conditions of a delivery filter. Parameters: :destination :status :event_id
// :after :before as `filters` says.
inline void AppendDeliveryFilters(std::string& sql, unsigned filters) {
  using detail::AppendIf;
  AppendIf(sql, filters, kFilterDestination, kDeliveriesByDestination);
  AppendIf(sql, filters, kFilterStatus, kDeliveriesByStatus);
  AppendIf(sql, filters, kFilterEventId, kDeliveriesByEvent);
  AppendIf(sql, filters, kFilterAfter, kDeliveriesAfter);
  AppendIf(sql, filters, kFilterBefore, kDeliveriesBefore);
}

// The key query of the deliveries list (`id AS k`, newest first). Parameters: :cursor, :limit,
// and those of AppendDeliveryFilters.
inline std::string DeliveryKeysSql(unsigned filters) {
  std::string sql(kDeliveryKeys);
  AppendDeliveryFilters(sql, filters);
  sql += kDeliveryKeysEnd;
  return sql;
}

// Parameters: those of DeliveryKeysSql and :max_bytes.
inline std::string ListDeliveriesSql(unsigned filters) {
  std::string rows(kDeliveryColumns);
  rows += kDeliveryListRows;
  return detail::BudgetedPage(DeliveryKeysSql(filters), kDeliveryCut, false, rows,
                              kDeliveryListEnd);
}

// Parameters: those of AppendDeliveryFilters.
inline std::string CountDeliveriesSql(unsigned filters) {
  std::string sql(kCountDeliveries);
  AppendDeliveryFilters(sql, filters);
  return sql;
}

// Parameters: :event_seq.
inline std::string EventDeliveriesSql() {
  return std::string(kDeliveryColumns) + std::string(kEventDeliveries);
}

// Parameters: :cursor, :limit, :max_bytes, and :destination :event_id :outcome :after :before.
inline std::string ListAttemptsSql(unsigned filters) {
  using detail::AppendIf;
  std::string keys(kAttemptKeys);
  AppendIf(keys, filters, kFilterDestination, kAttemptsByDestination);
  AppendIf(keys, filters, kFilterEventId, kAttemptsByEvent);
  AppendIf(keys, filters, kFilterOutcome, kAttemptsByOutcome);
  AppendIf(keys, filters, kFilterAfter, kAttemptsAfter);
  AppendIf(keys, filters, kFilterBefore, kAttemptsBefore);
  keys += kAttemptKeysEnd;
  return detail::BudgetedPage(keys, kAttemptCut, false, kAttemptRows, kAttemptListEnd);
}

// Parameters: :event_seq, :cursor, :limit, :max_bytes.
inline std::string EventAttemptsSql() {
  return detail::BudgetedPage(kEventAttemptKeys, kAttemptCut, true, kAttemptRows,
                              kEventAttemptsEnd);
}

// Parameters: :cursor, :limit, :max_bytes, and :source :status :after :before
// (kFilterRejected has none).
inline std::string ListRequestsSql(unsigned filters) {
  using detail::AppendIf;
  std::string keys(kRequestKeys);
  AppendIf(keys, filters, kFilterSource, kRequestsBySource);
  AppendIf(keys, filters, kFilterStatus, kRequestsByStatus);
  AppendIf(keys, filters, kFilterRejected, kRequestsRejected);
  AppendIf(keys, filters, kFilterAfter, kRequestsAfter);
  AppendIf(keys, filters, kFilterBefore, kRequestsBefore);
  keys += kRequestKeysEnd;
  return detail::BudgetedPage(keys, kRequestCut, false, kRequestRows, kRequestListEnd);
}

// Parameters: :cursor, :limit, :max_bytes, and :after :before.
inline std::string ListAuditSql(unsigned filters) {
  std::string keys(kAuditKeys);
  detail::AppendIf(keys, filters, kFilterAfter, kAuditAfter);
  detail::AppendIf(keys, filters, kFilterBefore, kAuditBefore);
  keys += kAuditKeysEnd;
  std::string rows(kAuditColumns);
  rows += kAuditListRows;
  return detail::BudgetedPage(keys, kAuditCut, false, rows, kAuditListEnd);
}

// Parameters: :after_id, :limit.
inline std::string AuditChainSql() { return std::string(kAuditColumns) + std::string(kAuditChain); }

}  // namespace hookvault::storage::pg::query_sql

#endif  // HOOKVAULT_STORAGE_POSTGRES_QUERY_SQL_H_
