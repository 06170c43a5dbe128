// The SQL of the stores on the write connection (SqliteEventLog, SqliteDeliveryStore,
// SqliteOperatorStore, SqliteRetentionStore), as named constants with bound parameters. In a
// header of its own so that tests can check every statement's query plan
// (tests/storage/sqlite/query_plan_test.cc).
#ifndef HOOKVAULT_STORAGE_SQLITE_SQL_H_
#define HOOKVAULT_STORAGE_SQLITE_SQL_H_

#include <string>
#include <string_view>

#include "storage/sqlite/query_sql.h"

namespace hookvault::storage::sql {

inline constexpr std::string_view kSelectKey = R"sql(
SELECT event_id, event_seq FROM idempotency_keys WHERE source = ?1 AND key = ?2
)sql";

inline constexpr std::string_view kInsertEvent = R"sql(
INSERT INTO events (id, source, event_type, idempotency_key, received_at, remote_addr, headers,
                    body, status)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
)sql";

inline constexpr std::string_view kInsertKey = R"sql(
INSERT INTO idempotency_keys (source, key, event_id, event_seq, created_at)
VALUES (?1, ?2, ?3, ?4, ?5)
)sql";

// ?4: the ordering key (NULL: not ordered). An ordered delivery is held while its key has an
// open (pending or failed) delivery to the destination: in the database, or inserted earlier in
// this batch (the same transaction sees it). Uses deliveries_order_key (migration 0007).
inline constexpr std::string_view kInsertDelivery = R"sql(
INSERT INTO deliveries (event_seq, destination, next_attempt_at, created_at, updated_at,
                        order_key, held)
SELECT ?1, ?2, ?3, ?3, ?3, ?4,
       ?4 IS NOT NULL AND EXISTS (SELECT 1 FROM deliveries
                                  WHERE destination = ?2 AND order_key = ?4
                                    AND status IN ('pending', 'failed'))
)sql";

inline constexpr std::string_view kInsertRequestLog = R"sql(
INSERT INTO request_log (received_at, source, remote_addr, status, reason, event_id, body_bytes,
                         body)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
)sql";

// The probe allocates as much room as a large batch needs and frees it again in the same
// transaction: a database too full for events is then also too full for the probe.
inline constexpr int kProbeBytes = 64 << 10;
inline constexpr std::string_view kUpsertProbe = R"sql(
INSERT INTO service_state (key, value) VALUES ('write_probe', zeroblob(?1))
ON CONFLICT (key) DO UPDATE SET value = excluded.value
)sql";
inline constexpr std::string_view kDeleteProbe = R"sql(
DELETE FROM service_state WHERE key = 'write_probe'
)sql";

inline constexpr std::string_view kSelectDue = R"sql(
SELECT d.id, d.attempts, e.id, e.source, e.event_type, e.body, e.received_at
FROM deliveries d JOIN events e ON e.seq = d.event_seq
WHERE d.destination = ?1 AND d.status = 'pending' AND d.held = 0 AND d.next_attempt_at <= ?2
  AND (d.lease_expires_at IS NULL OR d.lease_expires_at <= ?2)
ORDER BY d.next_attempt_at, d.id
LIMIT ?3
)sql";

// Each claim takes a new lease token (migration 0005): the fence of RecordAttempts.
inline constexpr std::string_view kLeaseDelivery = R"sql(
UPDATE deliveries SET lease_expires_at = ?2, updated_at = ?3, lease_token = lease_token + 1
WHERE id = ?1
RETURNING lease_token
)sql";

// Leased deliveries are in flight in this process; their outcome reschedules them. Held ones
// are not due at all (their release makes them due).
inline constexpr std::string_view kNextDue = R"sql(
SELECT next_attempt_at FROM deliveries
WHERE destination = ?1 AND status = 'pending' AND held = 0 AND lease_expires_at IS NULL
ORDER BY next_attempt_at
LIMIT 1
)sql";

// The attempt carries its delivery's destination and event (migration 0002) so that /attempts
// filters on them through indexes of attempts alone.
inline constexpr std::string_view kInsertAttempt = R"sql(
INSERT INTO attempts (delivery_id, number, started_at, duration_us, http_status, error,
                      response_excerpt, outcome, destination, event_seq)
SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, destination, event_seq FROM deliveries WHERE id = ?1
)sql";

// The fence: an outcome applies only while the delivery still holds the lease it was attempted
// under (?6, its claim's token). A later claim changes the token; a reprocess, the release of
// leases at start and any applied outcome clear the lease. Runs before kInsertAttempt, which
// follows only when this changed a row.
inline constexpr std::string_view kUpdateDelivery = R"sql(
UPDATE deliveries
SET status = ?2, attempts = attempts + 1, next_attempt_at = ?3, lease_expires_at = NULL,
    last_error = ?4, updated_at = ?5
WHERE id = ?1 AND lease_token = ?6 AND lease_expires_at IS NOT NULL AND status = 'pending'
)sql";

// The unary + keeps SQLite off the (status, id) index, which would walk every pending
// delivery of the database for each attempt; the event's own deliveries are found through
// UNIQUE (event_seq, destination). tests/storage/sqlite/query_plan_test.cc checks the plan.
// Prepared by both SqliteDeliveryStore and SqliteOperatorStore.
// A skipped delivery counts as failed: the event did not reach that destination.
inline constexpr std::string_view kRefreshEventStatus = R"sql(
UPDATE events SET status = CASE
  WHEN EXISTS (SELECT 1 FROM deliveries WHERE event_seq = events.seq
                                          AND +status IN ('failed', 'skipped'))
    THEN 'failed'
  WHEN EXISTS (SELECT 1 FROM deliveries WHERE event_seq = events.seq AND +status = 'pending')
    THEN 'pending'
  ELSE 'delivered' END
WHERE seq = (SELECT event_seq FROM deliveries WHERE id = ?1)
)sql";

// Uses the index on (status, id).
inline constexpr std::string_view kCountPending = R"sql(
SELECT destination, count(*) FROM deliveries WHERE status = 'pending' GROUP BY destination
)sql";
// Pending since creation, or since the last reprocess (requeued_at, migration 0005): reads the
// first pending entry of deliveries_pending_since.
inline constexpr std::string_view kOldestPending = R"sql(
SELECT coalesce(requeued_at, created_at) FROM deliveries WHERE status = 'pending'
ORDER BY coalesce(requeued_at, created_at)
LIMIT 1
)sql";

inline constexpr std::string_view kReleaseLeases = R"sql(
UPDATE deliveries SET lease_expires_at = NULL WHERE lease_expires_at IS NOT NULL
)sql";

// Ordering (migration 0007): after delivery ?1 ended succeeded or skipped, releases the next
// held delivery of its key, lowest seq first, unless the key still has an open delivery that
// is not held (its head: then nothing may start beside it). ?2 = now. Uses deliveries_held and,
// for the head check, deliveries_key_head: the check repeats its WHERE clause exactly and names
// it, because without statistics SQLite prefers deliveries_order_key (one more equality term),
// which reads every held delivery of the key.
inline constexpr std::string_view kReleaseNextHeld = R"sql(
UPDATE deliveries SET held = 0, updated_at = ?2
WHERE id = (SELECT h.id FROM deliveries d JOIN deliveries h
              ON h.destination = d.destination AND h.order_key = d.order_key AND h.held = 1
            WHERE d.id = ?1
            ORDER BY h.event_seq
            LIMIT 1)
  AND NOT EXISTS (SELECT 1 FROM deliveries d JOIN deliveries o INDEXED BY deliveries_key_head
                    ON o.destination = d.destination AND o.order_key = d.order_key
                  WHERE d.id = ?1
                    AND o.order_key IS NOT NULL AND o.held = 0
                    AND o.status IN ('pending', 'failed'))
)sql";

// At start: releases the held deliveries of every destination not in ?1 (a JSON array of the
// destinations configured with ordering), which would otherwise wait for ever. Walks the held
// deliveries only (deliveries_held).
inline constexpr std::string_view kCountUnorderedHolds = R"sql(
SELECT destination, count(*) FROM deliveries WHERE held = 1
  AND destination NOT IN (SELECT value FROM json_each(?1))
GROUP BY destination
)sql";
inline constexpr std::string_view kReleaseUnorderedHolds = R"sql(
UPDATE deliveries SET held = 0
WHERE id IN (SELECT id FROM deliveries WHERE held = 1
               AND destination NOT IN (SELECT value FROM json_each(?1)))
)sql";

// ---- OperatorStore ----

// Reprocess walks the deliveries of one (status, destination) filter newest first, by id below
// :cursor, :limit rows per chunk, on the filter's index in key order: (status, id), (destination,
// status, id), or for one event the few rows of UNIQUE (event_seq, destination). The time window
// is tested in the select list (the third column: does the row match?), not in WHERE, so a
// chunk reads :limit index entries however few of them fall in the window, and never walks the
// time index only to sort it. Parameters: :cursor, :limit, :status, and :destination :event_id
// :after :before as the filter bits say.
inline constexpr std::string_view kReprocessWalk = "SELECT id, event_seq, 1";
inline constexpr std::string_view kReprocessWalkAfter = " AND created_at >= :after";
inline constexpr std::string_view kReprocessWalkBefore = " AND created_at < :before";
inline constexpr std::string_view kReprocessWalkFrom =
    " FROM deliveries WHERE id < :cursor AND status = :status";
inline constexpr std::string_view kReprocessWalkOfEventFrom =
    " FROM deliveries INDEXED BY sqlite_autoindex_deliveries_1"
    " WHERE id < :cursor AND status = :status";
inline constexpr std::string_view kReprocessWalkEnd = " ORDER BY id DESC LIMIT :limit";

// Returns the walk of one reprocess filter; `filters` are its sql::FilterBits (status is always
// bound, whether or not the bit is set).
inline std::string ReprocessWalkSql(unsigned filters) {
  using detail::AppendIf;
  std::string sql(kReprocessWalk);
  AppendIf(sql, filters, kFilterAfter, kReprocessWalkAfter);
  AppendIf(sql, filters, kFilterBefore, kReprocessWalkBefore);
  sql += (filters & kFilterEventId) ? kReprocessWalkOfEventFrom : kReprocessWalkFrom;
  AppendIf(sql, filters, kFilterDestination, kDeliveriesByDestination);
  AppendIf(sql, filters, kFilterEventId, kDeliveriesByEvent);
  sql += kReprocessWalkEnd;
  return sql;
}

// The first chunk's cursor: just above the highest id stored (max(id) reads the last entry of
// the primary key).
inline constexpr std::string_view kReprocessStartCursor = R"sql(
SELECT coalesce(max(id), 0) + 1 FROM deliveries
)sql";

// Ending the lease fences off any outcome of an attempt made before (storage/delivery_store.h);
// requeued_at is where the age of the oldest pending delivery counts from (migration 0005).
// An ordered delivery comes back held when its key has another open delivery that is not held
// (the key's head: a re-sent old delivery queues behind it); otherwise it is the head itself (a
// reprocessed failed head goes first again, before the deliveries it held back). The head
// check repeats deliveries_key_head's WHERE clause exactly and names it (see kReleaseNextHeld).
inline constexpr std::string_view kRequeueDelivery = R"sql(
UPDATE deliveries
SET status = 'pending', attempts = 0, next_attempt_at = ?2, lease_expires_at = NULL,
    updated_at = ?2, requeued_at = ?2,
    held = order_key IS NOT NULL
           AND EXISTS (SELECT 1 FROM deliveries o INDEXED BY deliveries_key_head
                       WHERE o.destination = deliveries.destination
                         AND o.order_key = deliveries.order_key
                         AND o.order_key IS NOT NULL AND o.held = 0
                         AND o.status IN ('pending', 'failed')
                         AND o.id <> deliveries.id)
WHERE id = ?1
)sql";

// After a reprocess chunk requeued delivery ?1: if its key's head is pending and not in flight
// (unleased) while a held delivery of the key has a lower seq, that held delivery becomes the
// head and the head is held again (?2 = now). A bulk run walks newest first, so a later chunk
// requeues deliveries older than the head an earlier chunk made: this keeps the key's oldest
// open delivery its head, across chunks and within one (where a requeued failed head may have
// been made the head after an older delivery was held behind it). A head in flight keeps its
// place (it was attempted once every older delivery had succeeded or been skipped). Two rows
// at most: the head from deliveries_key_head, the lowest held one from deliveries_held.
inline constexpr std::string_view kReheadKey = R"sql(
WITH h AS (SELECT o.id, o.event_seq FROM deliveries d
             JOIN deliveries o INDEXED BY deliveries_key_head
               ON o.destination = d.destination AND o.order_key = d.order_key
           WHERE d.id = ?1
             AND o.order_key IS NOT NULL AND o.held = 0 AND o.status IN ('pending', 'failed')
             AND o.status = 'pending' AND o.lease_expires_at IS NULL
           LIMIT 1),
l AS (SELECT w.id, w.event_seq FROM deliveries d JOIN deliveries w
        ON w.destination = d.destination AND w.order_key = d.order_key AND w.held = 1
      WHERE d.id = ?1
      ORDER BY w.event_seq
      LIMIT 1),
s AS (SELECT h.id AS head_id, l.id AS held_id FROM h, l WHERE l.event_seq < h.event_seq)
UPDATE deliveries SET held = (id = (SELECT head_id FROM s)), updated_at = ?2
WHERE id IN (SELECT head_id FROM s UNION ALL SELECT held_id FROM s)
)sql";

// Skip (POST /api/v1/deliveries/{id}/skip): the delivery's status, then a failed one becomes
// skipped; kReleaseNextHeld follows. ?2 = now.
inline constexpr std::string_view kDeliveryStatus = R"sql(
SELECT status FROM deliveries WHERE id = ?1
)sql";
inline constexpr std::string_view kSkipDelivery = R"sql(
UPDATE deliveries SET status = 'skipped', lease_expires_at = NULL, updated_at = ?2
WHERE id = ?1 AND status = 'failed'
)sql";

// max(id) reads the last entry of the primary key; no row walk.
inline constexpr std::string_view kLastAudit = R"sql(
SELECT id, hash FROM audit_log WHERE id = (SELECT max(id) FROM audit_log)
)sql";

inline constexpr std::string_view kInsertAudit = R"sql(
INSERT INTO audit_log (id, at, actor, role, action, target, matched, requeued, reason, prev_hash,
                       hash)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
)sql";

// A cursor never moves backwards; updated_at records the latest ack, moving or not.
inline constexpr std::string_view kAckConsumer = R"sql(
INSERT INTO consumers (name, cursor, updated_at) VALUES (?1, ?2, ?3)
ON CONFLICT (name) DO UPDATE SET cursor = max(cursor, excluded.cursor),
                                 updated_at = excluded.updated_at
RETURNING cursor
)sql";

// ---- RetentionStore ----
//
// Each prune scan walks one index oldest first from a cursor (the last row looked at), so the
// rows it keeps are not looked at again in the same round; the rows that may go are then
// deleted one by one by primary key. ?1 = cutoff, (?2, ?3[, ?4]) = cursor, last = limit.

// Uses events_status_received_at (migration 0003). The unary + keeps the pending check on
// UNIQUE (event_seq, destination) rather than on the (status, id) index of all deliveries.
// ?6: the highest seq that may go (events after a reading consumer's cursor stay). An event
// whose failed delivery holds back its ordering key (migration 0007) stays too: pruned, it
// would leave the key's held deliveries with no head to skip or reprocess, waiting for ever.
inline constexpr std::string_view kPruneScanEvents = R"sql(
SELECT seq, received_at,
       seq <= ?6 AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_seq = events.seq
                                                            AND +d.status = 'pending')
       AND NOT EXISTS (SELECT 1 FROM deliveries d JOIN deliveries h
                         ON h.destination = d.destination AND h.order_key = d.order_key
                        AND h.held = 1
                       WHERE d.event_seq = events.seq AND +d.status = 'failed')
FROM events
WHERE status = ?5 AND received_at < ?1 AND (received_at, seq) > (?2, ?3)
ORDER BY received_at, seq
LIMIT ?4
)sql";
// Deliveries and their attempts follow through ON DELETE CASCADE.
inline constexpr std::string_view kPruneDeleteEvent = R"sql(
DELETE FROM events WHERE seq = ?1
)sql";

inline constexpr std::string_view kPruneScanAttempts = R"sql(
SELECT id, started_at, 1 FROM attempts
WHERE started_at < ?1 AND (started_at, id) > (?2, ?3)
ORDER BY started_at, id
LIMIT ?4
)sql";
inline constexpr std::string_view kPruneDeleteAttempt = R"sql(
DELETE FROM attempts WHERE id = ?1
)sql";

inline constexpr std::string_view kPruneScanRequestLog = R"sql(
SELECT id, received_at, 1 FROM request_log
WHERE received_at < ?1 AND (received_at, id) > (?2, ?3)
ORDER BY received_at, id
LIMIT ?4
)sql";
inline constexpr std::string_view kPruneDeleteRequestLog = R"sql(
DELETE FROM request_log WHERE id = ?1
)sql";

// A key goes only when its event has gone: while the event is stored, a retry of it must still
// be answered as its duplicate.
inline constexpr std::string_view kPruneScanKeys = R"sql(
SELECT source, key, created_at, NOT EXISTS (SELECT 1 FROM events WHERE seq = event_seq)
FROM idempotency_keys
WHERE created_at < ?1 AND (created_at, source, key) > (?2, ?3, ?4)
ORDER BY created_at, source, key
LIMIT ?5
)sql";
inline constexpr std::string_view kPruneDeleteKey = R"sql(
DELETE FROM idempotency_keys WHERE source = ?1 AND key = ?2
)sql";

// A consumer never seen before starts at cursor 0, as if it had acknowledged now.
inline constexpr std::string_view kRegisterConsumer = R"sql(
INSERT INTO consumers (name, cursor, updated_at) VALUES (?1, 0, ?2)
ON CONFLICT (name) DO NOTHING
)sql";
inline constexpr std::string_view kConsumerCursor = R"sql(
SELECT cursor, updated_at FROM consumers WHERE name = ?1
)sql";

inline constexpr std::string_view kFreelistCount = "PRAGMA freelist_count";
// PRAGMA arguments cannot be bound; the page count is appended as an integer literal.
inline constexpr std::string_view kIncrementalVacuumPrefix = "PRAGMA incremental_vacuum(";

}  // namespace hookvault::storage::sql

#endif  // HOOKVAULT_STORAGE_SQLITE_SQL_H_
