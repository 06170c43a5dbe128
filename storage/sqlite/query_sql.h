// The SQL of SqliteQueryStore and of SqliteOperatorStore's selection. List queries with optional
// filters are composed from the named fragments below (every value is a bound, named
// parameter; nothing is ever formatted into SQL); the composing functions live here too so that
// tests/storage/query_plan_test.cc can EXPLAIN every combination of filters.
//
// How a list query finds its rows. Each list is newest first by its key (events.seq or id) and
// keyset-paginated: the key query below selects just the keys of one page from one table, and
// the outer query fetches those rows (joined to events for the event id) by primary key. The
// key bound is always present (:cursor is INT64_MAX without a cursor), so the plan is always a
// SEARCH, never a SCAN. The key query runs in one of three modes:
//
//  - Default: an equality filter's (column, key) index, or the primary key itself, is walked
//    newest first; the walk stops after :limit hits and needs no sort. An upper time bound alone
//    (`before`) is a residual test (`+column`, so SQLite does not pick the time index and sort):
//    the walk skips the rows newer than `before`, then returns a page.
//  - Window (a lower time bound `after`, no event filter): INDEXED BY the time column's index,
//    reading index entries of [after, before) only; the key bound and the other filters are
//    tested on those entries, and SQLite's sorter keeps the top :limit keys (a LIMITed ORDER
//    BY). So the work is bounded by the rows inside the time window, however old the window and
//    however big the table. The alternative, walking the key newest first and testing the time,
//    would read every row newer than the window (in a 1,000,000-event database, a one-day
//    window of 86,400 events far back: 30-120 ms here against 350-400 ms; with a source filter
//    too, 70-140 ms against 350 ms for walking the source's index). The time column is not in key order
//    (received_at comes from ingest, seq from the writer, a batch apart), so the window cannot
//    be turned into a key range.
//  - Event (deliveries and attempts filtered by event_id): INDEXED BY the event's index, which
//    holds a handful of rows (one delivery per destination, their attempts).
//  - Key (events filtered by idempotency key): the keys are those of the idempotency_keys rows
//    with that key, found through its (source, key) primary key: one probe with a source
//    filter, else one per source that ever stored a key (a loose index scan of the primary
//    key's sources, the recursive key_sources; a handful). Every other filter is a residual
//    test (`+column`) on those few events, so the planner never prefers another index to them.
//    No index on events.idempotency_key: it would cost every ingest one more B-tree insert.
//
// The rejected-requests filter (status >= 400) uses the partial indexes of migration 0006, which
// accepted requests (the ingest hot path) never enter.
#ifndef HOOKVAULT_STORAGE_SQLITE_QUERY_SQL_H_
#define HOOKVAULT_STORAGE_SQLITE_QUERY_SQL_H_

#include <cstdint>
#include <string>
#include <string_view>

namespace hookvault::storage::sql {

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
inline constexpr unsigned kEventFilters =
    kFilterSource | kFilterType | kFilterStatus | kFilterAfter | kFilterBefore | kFilterKey;
inline constexpr unsigned kDeliveryFilters =
    kFilterDestination | kFilterStatus | kFilterEventId | kFilterAfter | kFilterBefore;
inline constexpr unsigned kAttemptFilters =
    kFilterDestination | kFilterEventId | kFilterOutcome | kFilterAfter | kFilterBefore;
inline constexpr unsigned kRequestFilters =
    kFilterSource | kFilterStatus | kFilterAfter | kFilterBefore | kFilterRejected;
inline constexpr unsigned kAuditFilters = kFilterAfter | kFilterBefore;
inline constexpr unsigned kFeedFilters = kFilterSource | kFilterType;

// Bound for :cursor when a descending list has no cursor.
inline constexpr int64_t kNoCursorDescending = INT64_MAX;

// ---- events ----

inline constexpr std::string_view kListEventsOuter = R"sql(
SELECT seq, id, source, event_type, idempotency_key, received_at, remote_addr, status
FROM events WHERE seq IN ()sql";
inline constexpr std::string_view kListEventsOuterEnd = ") ORDER BY seq DESC";
inline constexpr std::string_view kEventKeys = "SELECT seq FROM events WHERE seq < :cursor";
inline constexpr std::string_view kEventKeysInWindow =
    "SELECT seq FROM events INDEXED BY events_received_at WHERE seq < :cursor";
inline constexpr std::string_view kEventKeysEnd = " ORDER BY seq DESC LIMIT :limit";
inline constexpr std::string_view kEventsBySource = " AND source = :source";
inline constexpr std::string_view kEventsByType = " AND event_type = :type";
inline constexpr std::string_view kEventsByStatus = " AND status = :status";
inline constexpr std::string_view kEventsAfter = " AND received_at >= :after";
inline constexpr std::string_view kEventsBefore = " AND received_at < :before";
inline constexpr std::string_view kEventsBeforeResidual = " AND +received_at < :before";
// Key mode (see the top of this file). The events of one key in one source: at most one.
inline constexpr std::string_view kEventsByKeyOfSource =
    " AND seq IN (SELECT event_seq FROM idempotency_keys WHERE source = :source AND"
    " key = :idempotency_key)";
// The events of one key in any source: key_sources walks the distinct sources of the primary
// key (each step a seek past the previous source), and each is probed with the key.
inline constexpr std::string_view kEventsByKey = R"sql( AND seq IN (
  WITH RECURSIVE key_sources(source) AS (
    SELECT min(source) FROM idempotency_keys
    UNION ALL
    SELECT (SELECT min(k.source) FROM idempotency_keys k WHERE k.source > key_sources.source)
    FROM key_sources WHERE key_sources.source IS NOT NULL)
  SELECT k.event_seq FROM key_sources JOIN idempotency_keys k
  ON k.source = key_sources.source AND k.key = :idempotency_key))sql";
inline constexpr std::string_view kEventsByTypeResidual = " AND +event_type = :type";
inline constexpr std::string_view kEventsByStatusResidual = " AND +status = :status";
inline constexpr std::string_view kEventsAfterResidual = " AND +received_at >= :after";

inline constexpr std::string_view kGetEvent = R"sql(
SELECT seq, id, source, event_type, idempotency_key, received_at, remote_addr, status, headers,
       body
FROM events WHERE id = :id
)sql";

inline constexpr std::string_view kFeed = R"sql(
SELECT seq, id, source, event_type, idempotency_key, received_at, remote_addr, status, headers,
       body
FROM events WHERE seq > :after_seq)sql";
inline constexpr std::string_view kFeedEnd = " ORDER BY seq LIMIT :limit";

// AUTOINCREMENT keeps the highest seq ever assigned here, also after pruning.
inline constexpr std::string_view kLatestSeq = R"sql(
SELECT seq FROM sqlite_sequence WHERE name = 'events'
)sql";

// ---- deliveries ----

inline constexpr std::string_view kDeliveryColumns = R"sql(
SELECT d.id, d.event_seq, e.id, d.destination, d.status, d.attempts, d.next_attempt_at,
       d.last_error, d.created_at, d.updated_at, d.order_key, d.held
FROM deliveries d LEFT JOIN events e ON e.seq = d.event_seq
)sql";
inline constexpr std::string_view kListDeliveriesOuter = "WHERE d.id IN (";
inline constexpr std::string_view kListDeliveriesOuterEnd = ") ORDER BY d.id DESC";
inline constexpr std::string_view kDeliveryKeys = "SELECT id FROM deliveries WHERE id < :cursor";
inline constexpr std::string_view kDeliveryKeysInWindow =
    "SELECT id FROM deliveries INDEXED BY deliveries_created_at WHERE id < :cursor";
// The automatic index of UNIQUE (event_seq, destination): one row per destination, so the
// ORDER BY sorts a handful of rows.
inline constexpr std::string_view kDeliveryKeysOfEvent =
    "SELECT id FROM deliveries INDEXED BY sqlite_autoindex_deliveries_1 WHERE id < :cursor";
inline constexpr std::string_view kDeliveryKeysEnd = " ORDER BY id DESC LIMIT :limit";
inline constexpr std::string_view kDeliveriesByDestination = " AND destination = :destination";
inline constexpr std::string_view kDeliveriesByStatus = " AND status = :status";
inline constexpr std::string_view kDeliveriesByEvent =
    " AND event_seq = (SELECT seq FROM events WHERE id = :event_id)";
inline constexpr std::string_view kDeliveriesAfter = " AND created_at >= :after";
inline constexpr std::string_view kDeliveriesBefore = " AND created_at < :before";
inline constexpr std::string_view kDeliveriesBeforeResidual = " AND +created_at < :before";

inline constexpr std::string_view kEventDeliveries =
    "WHERE d.event_seq = :event_seq ORDER BY d.destination";

// ---- attempts ----

inline constexpr std::string_view kAttemptColumns = R"sql(
SELECT a.id, a.delivery_id, e.id, a.destination, a.number, a.started_at, a.duration_us,
       a.http_status, a.error, a.response_excerpt, a.outcome
FROM attempts a LEFT JOIN events e ON e.seq = a.event_seq
)sql";
inline constexpr std::string_view kListAttemptsOuter = "WHERE a.id IN (";
inline constexpr std::string_view kListAttemptsOuterEnd = ") ORDER BY a.id DESC";
inline constexpr std::string_view kAttemptKeys = "SELECT id FROM attempts WHERE id < :cursor";
inline constexpr std::string_view kAttemptKeysInWindow =
    "SELECT id FROM attempts INDEXED BY attempts_started_at WHERE id < :cursor";
inline constexpr std::string_view kAttemptKeysOfEvent =
    "SELECT id FROM attempts INDEXED BY attempts_event_seq_id WHERE id < :cursor";
inline constexpr std::string_view kAttemptKeysEnd = " ORDER BY id DESC LIMIT :limit";
inline constexpr std::string_view kAttemptsByDestination = " AND destination = :destination";
inline constexpr std::string_view kAttemptsByOutcome = " AND outcome = :outcome";
inline constexpr std::string_view kAttemptsByEvent =
    " AND event_seq = (SELECT seq FROM events WHERE id = :event_id)";
inline constexpr std::string_view kAttemptsAfter = " AND started_at >= :after";
inline constexpr std::string_view kAttemptsBefore = " AND started_at < :before";
inline constexpr std::string_view kAttemptsBeforeResidual = " AND +started_at < :before";

inline constexpr std::string_view kEventAttempts =
    "WHERE a.event_seq = :event_seq AND a.id > :cursor ORDER BY a.id LIMIT :limit";

// ---- request log ----

inline constexpr std::string_view kListRequestsOuter = R"sql(
SELECT id, received_at, source, remote_addr, status, reason, event_id, body_bytes, body
FROM request_log WHERE id IN ()sql";
inline constexpr std::string_view kListRequestsOuterEnd = ") ORDER BY id DESC";
inline constexpr std::string_view kRequestKeys = "SELECT id FROM request_log WHERE id < :cursor";
inline constexpr std::string_view kRequestKeysInWindow =
    "SELECT id FROM request_log INDEXED BY request_log_received_at WHERE id < :cursor";
inline constexpr std::string_view kRequestKeysEnd = " ORDER BY id DESC LIMIT :limit";
inline constexpr std::string_view kRequestsBySource = " AND source = :source";
inline constexpr std::string_view kRequestsByStatus = " AND status = :status";
inline constexpr std::string_view kRequestsAfter = " AND received_at >= :after";
inline constexpr std::string_view kRequestsBefore = " AND received_at < :before";
inline constexpr std::string_view kRequestsBeforeResidual = " AND +received_at < :before";
// The literal 400 (not a parameter) lets the planner match the partial indexes of 0006.
inline constexpr std::string_view kRequestsRejected = " AND status >= 400";

// ---- audit ----

// Operator actions are few (a handful a day), so the audit list walks the primary key and tests
// the time on each row; audit_log_at serves the window when an `after` is given.
inline constexpr std::string_view kListAuditHead = R"sql(
SELECT id, at, actor, role, action, target, matched, requeued, reason, prev_hash, hash
FROM audit_log WHERE id < :cursor)sql";
inline constexpr std::string_view kAuditAfter = " AND at >= :after";
inline constexpr std::string_view kAuditBefore = " AND at < :before";
inline constexpr std::string_view kListAuditEnd = " ORDER BY id DESC LIMIT :limit";

inline constexpr std::string_view kAuditChain = R"sql(
SELECT id, at, actor, role, action, target, matched, requeued, reason, prev_hash, hash
FROM audit_log ORDER BY id
)sql";

// ---- consumers ----

inline constexpr std::string_view kGetConsumer = R"sql(
SELECT name, cursor, updated_at FROM consumers WHERE name = :name
)sql";
inline constexpr std::string_view kListConsumers = R"sql(
SELECT name, cursor, updated_at FROM consumers ORDER BY name
)sql";

// ---- composition ----

namespace detail {

inline void AppendIf(std::string& sql, unsigned filters, unsigned bit, std::string_view fragment) {
  if (filters & bit) sql += fragment;
}

}  // namespace detail

// Returns the key query's mode for these filters (see the top of this file).
enum class KeyMode { kDefault, kWindow, kEvent };
inline KeyMode KeyModeFor(unsigned filters) {
  if (filters & kFilterEventId) return KeyMode::kEvent;
  if (filters & kFilterAfter) return KeyMode::kWindow;
  return KeyMode::kDefault;
}

// Parameters: :cursor, :limit, and :source :type :status :after :before :idempotency_key as
// `filters` says.
inline std::string ListEventsSql(unsigned filters) {
  using detail::AppendIf;
  if (filters & kFilterKey) {
    std::string sql(kListEventsOuter);
    sql += kEventKeys;
    sql += (filters & kFilterSource) ? kEventsByKeyOfSource : kEventsByKey;
    AppendIf(sql, filters, kFilterType, kEventsByTypeResidual);
    AppendIf(sql, filters, kFilterStatus, kEventsByStatusResidual);
    AppendIf(sql, filters, kFilterAfter, kEventsAfterResidual);
    AppendIf(sql, filters, kFilterBefore, kEventsBeforeResidual);
    sql += kEventKeysEnd;
    sql += kListEventsOuterEnd;
    return sql;
  }
  KeyMode mode = KeyModeFor(filters & ~kFilterEventId);
  std::string sql(kListEventsOuter);
  sql += mode == KeyMode::kWindow ? kEventKeysInWindow : kEventKeys;
  AppendIf(sql, filters, kFilterSource, kEventsBySource);
  AppendIf(sql, filters, kFilterType, kEventsByType);
  AppendIf(sql, filters, kFilterStatus, kEventsByStatus);
  AppendIf(sql, filters, kFilterAfter, kEventsAfter);
  AppendIf(sql, filters, kFilterBefore,
           mode == KeyMode::kDefault ? kEventsBeforeResidual : kEventsBefore);
  sql += kEventKeysEnd;
  sql += kListEventsOuterEnd;
  return sql;
}

// Returns the key query of the deliveries list (`id` only, newest first). Parameters: :cursor,
// :limit, and :destination :status :event_id :after :before.
inline std::string DeliveryKeysSql(unsigned filters) {
  using detail::AppendIf;
  KeyMode mode = KeyModeFor(filters);
  std::string sql(mode == KeyMode::kEvent    ? kDeliveryKeysOfEvent
                  : mode == KeyMode::kWindow ? kDeliveryKeysInWindow
                                             : kDeliveryKeys);
  AppendIf(sql, filters, kFilterDestination, kDeliveriesByDestination);
  AppendIf(sql, filters, kFilterStatus, kDeliveriesByStatus);
  AppendIf(sql, filters, kFilterEventId, kDeliveriesByEvent);
  AppendIf(sql, filters, kFilterAfter, kDeliveriesAfter);
  AppendIf(sql, filters, kFilterBefore,
           mode == KeyMode::kDefault ? kDeliveriesBeforeResidual : kDeliveriesBefore);
  sql += kDeliveryKeysEnd;
  return sql;
}

inline std::string ListDeliveriesSql(unsigned filters) {
  std::string sql(kDeliveryColumns);
  sql += kListDeliveriesOuter;
  sql += DeliveryKeysSql(filters);
  sql += kListDeliveriesOuterEnd;
  return sql;
}

// Counts the deliveries of one filter (a reprocess dry run: SqliteQueryStore::CountDeliveries).
// No order and no limit, so the planner takes whichever index serves the filters (a status
// filter, which a reprocess always has, gives an equality on one), except that an event's
// deliveries are counted on that event's own index (a handful of rows). Parameters: as the
// filter bits say.
inline constexpr std::string_view kCountDeliveries = "SELECT count(*) FROM deliveries WHERE 1";
inline constexpr std::string_view kCountDeliveriesOfEvent =
    "SELECT count(*) FROM deliveries INDEXED BY sqlite_autoindex_deliveries_1 WHERE 1";

inline std::string CountDeliveriesSql(unsigned filters) {
  using detail::AppendIf;
  std::string sql(filters & kFilterEventId ? kCountDeliveriesOfEvent : kCountDeliveries);
  AppendIf(sql, filters, kFilterDestination, kDeliveriesByDestination);
  AppendIf(sql, filters, kFilterStatus, kDeliveriesByStatus);
  AppendIf(sql, filters, kFilterEventId, kDeliveriesByEvent);
  AppendIf(sql, filters, kFilterAfter, kDeliveriesAfter);
  AppendIf(sql, filters, kFilterBefore, kDeliveriesBefore);
  return sql;
}

// Parameters: :cursor, :limit, and :destination :event_id :outcome :after :before.
inline std::string ListAttemptsSql(unsigned filters) {
  using detail::AppendIf;
  KeyMode mode = KeyModeFor(filters);
  std::string sql(kAttemptColumns);
  sql += kListAttemptsOuter;
  sql += mode == KeyMode::kEvent    ? kAttemptKeysOfEvent
         : mode == KeyMode::kWindow ? kAttemptKeysInWindow
                                    : kAttemptKeys;
  AppendIf(sql, filters, kFilterDestination, kAttemptsByDestination);
  AppendIf(sql, filters, kFilterEventId, kAttemptsByEvent);
  AppendIf(sql, filters, kFilterOutcome, kAttemptsByOutcome);
  AppendIf(sql, filters, kFilterAfter, kAttemptsAfter);
  AppendIf(sql, filters, kFilterBefore,
           mode == KeyMode::kDefault ? kAttemptsBeforeResidual : kAttemptsBefore);
  sql += kAttemptKeysEnd;
  sql += kListAttemptsOuterEnd;
  return sql;
}

// Parameters: :cursor, :limit, and :source :status :after :before (kFilterRejected has none).
inline std::string ListRequestsSql(unsigned filters) {
  using detail::AppendIf;
  KeyMode mode = KeyModeFor(filters & ~kFilterEventId);
  std::string sql(kListRequestsOuter);
  sql += mode == KeyMode::kWindow ? kRequestKeysInWindow : kRequestKeys;
  AppendIf(sql, filters, kFilterSource, kRequestsBySource);
  AppendIf(sql, filters, kFilterStatus, kRequestsByStatus);
  AppendIf(sql, filters, kFilterRejected, kRequestsRejected);
  AppendIf(sql, filters, kFilterAfter, kRequestsAfter);
  AppendIf(sql, filters, kFilterBefore,
           mode == KeyMode::kDefault ? kRequestsBeforeResidual : kRequestsBefore);
  sql += kRequestKeysEnd;
  sql += kListRequestsOuterEnd;
  return sql;
}

// Parameters: :cursor, :limit, and :after :before.
inline std::string ListAuditSql(unsigned filters) {
  std::string sql(kListAuditHead);
  detail::AppendIf(sql, filters, kFilterAfter, kAuditAfter);
  detail::AppendIf(sql, filters, kFilterBefore, kAuditBefore);
  sql += kListAuditEnd;
  return sql;
}

// Parameters: :after_seq, :limit, and :source :type.
inline std::string FeedSql(unsigned filters) {
  std::string sql(kFeed);
  detail::AppendIf(sql, filters, kFilterSource, kEventsBySource);
  detail::AppendIf(sql, filters, kFilterType, kEventsByType);
  sql += kFeedEnd;
  return sql;
}

inline std::string EventDeliveriesSql() {
  return std::string(kDeliveryColumns) + std::string(kEventDeliveries);
}

inline std::string EventAttemptsSql() {
  return std::string(kAttemptColumns) + std::string(kEventAttempts);
}

}  // namespace hookvault::storage::sql

#endif  // HOOKVAULT_STORAGE_SQLITE_QUERY_SQL_H_
