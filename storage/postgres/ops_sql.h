// The SQL of PostgresOperatorStore and PostgresRetentionStore, as named constants with bound
// parameters ($1, …), and the few helpers that compose or feed it.
//
// Several nodes write the same database at once, each in READ COMMITTED, so every statement
// that decides on rows a statement before it read re-checks its condition where it writes
// (a requeue only a delivery that is not pending, a delete only an event with no pending
// delivery), and rows that more than one writer changes are locked in one order everywhere:
// deliveries by id, then events by seq (the order of the scheduler's claim and result too), so
// that writers wait for one another instead of deadlocking.
#ifndef HOOKVAULT_STORAGE_POSTGRES_OPS_SQL_H_
#define HOOKVAULT_STORAGE_POSTGRES_OPS_SQL_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "storage/postgres/connection.h"
#include "storage/status.h"

namespace hookvault::storage::pg::ops {

// ---- OperatorStore ----

// The first chunk's cursor: just above the highest id stored (max(id) reads the last entry of
// the primary key).
inline constexpr std::string_view kReprocessStartCursor = R"sql(
SELECT coalesce(max(id), 0) + 1 FROM deliveries
)sql";

// Reprocess walks the deliveries of one (status, destination) filter newest first, by id below
// $1, $2 rows per chunk, $3 the status; the optional filters follow as ReprocessWalkSql numbers
// them. The time window is tested in the select list (the third column: does the row match?),
// not in WHERE, so that a chunk reads $2 index entries however few of them fall in the window
// (as the SQLite walk does).
inline constexpr std::string_view kReprocessWalk = "SELECT id, event_seq, (true";
inline constexpr std::string_view kReprocessWalkAfter = " AND created_at >= ";
inline constexpr std::string_view kReprocessWalkBefore = " AND created_at < ";
inline constexpr std::string_view kReprocessWalkFrom =
    ")::int FROM deliveries WHERE id < $1 AND status = $3";
inline constexpr std::string_view kReprocessWalkDestination = " AND destination = ";
inline constexpr std::string_view kReprocessWalkEventPrefix =
    " AND event_seq = (SELECT seq FROM events WHERE id = ";
inline constexpr std::string_view kReprocessWalkEnd = " ORDER BY id DESC LIMIT $2";

// Which optional filters a walk has; the statement name and its parameter numbers follow them.
enum WalkBits : unsigned {
  kWalkDestination = 1u << 0,
  kWalkEventId = 1u << 1,
  kWalkAfter = 1u << 2,
  kWalkBefore = 1u << 3,
};

// Returns the walk of one reprocess filter. Parameters: $1 cursor, $2 limit, $3 status, then
// destination, event id, created after, created before, numbered in that order from $4 for
// those `bits` has.
inline std::string ReprocessWalkSql(unsigned bits) {
  int next = 4;
  auto param = [&next] { return "$" + std::to_string(next++); };
  // The parameters are numbered in the order in which they are bound, not in which they appear.
  std::string destination = (bits & kWalkDestination) ? param() : "";
  std::string event_id = (bits & kWalkEventId) ? param() : "";
  std::string after = (bits & kWalkAfter) ? param() : "";
  std::string before = (bits & kWalkBefore) ? param() : "";
  std::string sql(kReprocessWalk);
  if (!after.empty()) sql.append(kReprocessWalkAfter).append(after);
  if (!before.empty()) sql.append(kReprocessWalkBefore).append(before);
  sql += kReprocessWalkFrom;
  if (!destination.empty()) sql.append(kReprocessWalkDestination).append(destination);
  if (!event_id.empty()) sql.append(kReprocessWalkEventPrefix).append(event_id).append(")");
  sql += kReprocessWalkEnd;
  return sql;
}

// Puts the walked deliveries ($1, a bigint[]) back to pending. The rows are locked in id order
// first (the subquery), and a delivery another node's reprocess made pending since the walk
// read it is left alone (READ COMMITTED re-checks the condition on the row's latest version):
// it is counted once, by that run. Ending the lease fences off the outcome of any attempt made
// before (storage/delivery_store.h); requeued_at is where the age of the oldest pending
// delivery counts from (migration 0005). $2 = now.
//
// An ordered delivery comes back held when its key has another open delivery that is not held
// (the key's head: a re-sent old delivery queues behind it), or when an older delivery of its
// key is requeued by the same statement (the window: the statement does not see its own
// changes); otherwise it is the head itself (a reprocessed failed head goes first again). The
// chunk holds its keys' ordering locks (kLockOrderKeysOfDeliveries, storage/postgres/
// write_sql.h), taken before these row locks.
inline constexpr std::string_view kRequeueDeliveries = R"sql(
WITH target AS MATERIALIZED (
  SELECT id, destination, order_key, event_seq FROM deliveries
  WHERE id = ANY($1::bigint[]) AND status <> 'pending'
  ORDER BY id
  FOR UPDATE
), ranked AS MATERIALIZED (
  SELECT t.id,
         t.order_key IS NOT NULL
         AND (row_number() OVER (PARTITION BY t.destination, t.order_key
                                 ORDER BY t.event_seq) > 1
              OR EXISTS (SELECT 1 FROM deliveries o
                         WHERE o.destination = t.destination AND o.order_key = t.order_key
                           AND o.order_key IS NOT NULL AND NOT o.held
                           AND o.status IN ('pending', 'failed')
                           AND o.id NOT IN (SELECT id FROM target))) AS held
  FROM target t
)
UPDATE deliveries d
SET status = 'pending', attempts = 0, next_attempt_at = $2, lease_expires_at = NULL,
    updated_at = $2, requeued_at = $2, held = r.held
FROM ranked r
WHERE d.id = r.id
RETURNING d.event_seq
)sql";

// After kRequeueDeliveries, in the chunk's transaction (its keys' locks held): for each key of
// the chunk's deliveries ($1, a bigint[] of ids), if the key's head is pending and not in
// flight (unleased) while a held delivery of the key has a lower seq, that held delivery
// becomes the head and the head is held again ($2 = now). A bulk run walks newest first, so a
// later chunk requeues deliveries older than the head an earlier chunk made: this keeps each
// key's oldest open delivery its head. The head is locked (FOR UPDATE) before it is looked at
// twice: a claim on another node that leased it meanwhile is waited for, and the head's status
// and lease are then read from the row as that claim left it (a head in flight keeps its
// place), so no key ever gets a second head. Two rows per key at most: the head's predicate is
// deliveries_key_head's exactly, and the held one is ordered by deliveries_held's whole key
// (ordered by event_seq alone the planner may walk every delivery of the destination).
inline constexpr std::string_view kReheadKeys = R"sql(
WITH k AS MATERIALIZED (
  SELECT DISTINCT destination, order_key FROM deliveries
  WHERE id = ANY($1::bigint[]) AND order_key IS NOT NULL
), s AS MATERIALIZED (
  SELECT hd.id AS head_id, hl.id AS held_id
  FROM k
  CROSS JOIN LATERAL (SELECT o.id, o.event_seq, o.status, o.lease_expires_at FROM deliveries o
                      WHERE o.destination = k.destination AND o.order_key = k.order_key
                        AND o.order_key IS NOT NULL AND NOT o.held
                        AND o.status IN ('pending', 'failed')
                      LIMIT 1
                      FOR UPDATE) hd
  CROSS JOIN LATERAL (SELECT h.id, h.event_seq FROM deliveries h
                      WHERE h.destination = k.destination AND h.order_key = k.order_key
                        AND h.held
                      ORDER BY h.destination, h.order_key, h.event_seq
                      LIMIT 1) hl
  WHERE hd.status = 'pending' AND hd.lease_expires_at IS NULL AND hl.event_seq < hd.event_seq
)
UPDATE deliveries d SET held = (d.id = s.head_id), updated_at = $2
FROM s
WHERE d.id = s.head_id OR d.id = s.held_id
)sql";

// Skip (POST /api/v1/deliveries/{id}/skip): a failed delivery becomes skipped (returns its
// event's seq; no row: not failed, or no such delivery), then kReleaseNextHeld (write_sql.h)
// and the event's status follow. $2 = now.
inline constexpr std::string_view kSkipDelivery = R"sql(
UPDATE deliveries SET status = 'skipped', lease_expires_at = NULL, updated_at = $2
WHERE id = $1 AND status = 'failed'
RETURNING event_seq
)sql";
inline constexpr std::string_view kDeliveryStatus = R"sql(
SELECT status FROM deliveries WHERE id = $1
)sql";

// Locks the events ($1, a bigint[]) whose status the chunk refreshes, in seq order, before
// kRefreshEventsStatus reads their deliveries: that statement then starts (and takes its
// snapshot) after every other writer of these events has committed, so it reads their
// deliveries as they are, not as they were when it began.
inline constexpr std::string_view kLockEvents = R"sql(
SELECT seq FROM events WHERE seq = ANY($1::bigint[]) ORDER BY seq FOR UPDATE
)sql";

// The event's status from its deliveries, as the SQLite wing computes it.
inline constexpr std::string_view kRefreshEventsStatus = R"sql(
UPDATE events SET status = CASE
  WHEN EXISTS (SELECT 1 FROM deliveries WHERE event_seq = events.seq
                                          AND status IN ('failed', 'skipped'))
    THEN 'failed'
  WHEN EXISTS (SELECT 1 FROM deliveries WHERE event_seq = events.seq AND status = 'pending')
    THEN 'pending'
  ELSE 'delivered' END
WHERE seq = ANY($1::bigint[])
)sql";

// Audit rows are appended under this transaction-scoped advisory lock ($1 =
// kAuditAppendLock), so that appends from several nodes take turns: the holder reads the last
// row (a statement after the lock, so its snapshot sees the previous holder's commit) and
// inserts the next id with that row's hash as prev_hash.
inline constexpr std::string_view kAuditAppendLockSql = R"sql(
SELECT pg_advisory_xact_lock($1::bigint)
)sql";

// The chain's last row, whole: every append checks it continues a chain its key may continue
// (storage/audit_chain.h CheckAuditKeyFor), so that a node configured without the key of the
// other nodes refuses to write rows that would never verify.
inline constexpr std::string_view kLastAuditRow = R"sql(
SELECT id, at, actor, role, action, target, matched, requeued, reason, prev_hash, hash
FROM audit_log ORDER BY id DESC LIMIT 1
)sql";

inline constexpr std::string_view kInsertAudit = R"sql(
INSERT INTO audit_log (id, at, actor, role, action, target, matched, requeued, reason, prev_hash,
                       hash)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
)sql";

// A cursor never moves backwards, also when two nodes ack the same consumer at once: the
// loser of the insert race updates the winner's row with the greater of the two cursors.
// updated_at is the latest ack's time, moving or not.
inline constexpr std::string_view kAckConsumer = R"sql(
INSERT INTO consumers (name, cursor, updated_at) VALUES ($1, $2, $3)
ON CONFLICT (name) DO UPDATE SET cursor = GREATEST(consumers.cursor, excluded.cursor),
                                 updated_at = GREATEST(consumers.updated_at, excluded.updated_at)
RETURNING cursor
)sql";

// ---- RetentionStore ----
//
// Each prune scan walks one index oldest first from a cursor (the last row looked at), so the
// rows it keeps are not looked at again in the same round; the rows that may go are then
// deleted together, each delete re-checking the condition, so that a node whose rows another
// node deleted first deletes nothing and fails nothing. $1 = cutoff, ($2, $3[, $4]) = cursor,
// then the limit.

// Uses events_status_received_at (migration 0003). $6: the highest seq that may go (events
// after a reading consumer's cursor stay).
// An event whose failed delivery holds back its ordering key (migration 0007) stays: pruned,
// it would leave the key's held deliveries with no head to skip or reprocess, for ever.
inline constexpr std::string_view kPruneScanEvents = R"sql(
SELECT seq, received_at,
       (seq <= $6 AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_seq = events.seq
                                                             AND d.status = 'pending')
        AND NOT EXISTS (SELECT 1 FROM deliveries d JOIN deliveries h
                          ON h.destination = d.destination AND h.order_key = d.order_key
                         AND h.held
                        WHERE d.event_seq = events.seq AND d.status = 'failed'))::int
FROM events
WHERE status = $5 AND received_at < $1 AND (received_at, seq) > ($2, $3)
ORDER BY received_at, seq
LIMIT $4
)sql";

// Locks the deliveries of the events about to go ($1, a bigint[]), in id order (the order of
// a reprocess): a reprocess that requeued one of them meanwhile has committed by the time the
// lock is granted, and kPruneDeleteEvents (a later statement, with a later snapshot) sees its
// pending delivery and keeps the event; a reprocess after it finds them gone. Rows another
// node deleted meanwhile are skipped, not waited for twice.
inline constexpr std::string_view kPruneLockDeliveries = R"sql(
SELECT id FROM deliveries WHERE event_seq = ANY($1::bigint[]) ORDER BY id FOR UPDATE
)sql";
// Locks the attempts of the deliveries about to go ($1, the events' seqs) in id order, before
// kPruneDeleteEvents cascades into them in delivery order: another node pruning attempts locks
// its rows in id order too (kPruneDeleteAttempts), so the two take the rows they share in one
// order and never wait for each other in a cycle (a deadlock, 40P01, the round lost).
inline constexpr std::string_view kPruneLockEventAttempts = R"sql(
SELECT a.id FROM attempts a JOIN deliveries d ON d.id = a.delivery_id
WHERE d.event_seq = ANY($1::bigint[])
ORDER BY a.id
FOR UPDATE OF a
)sql";
// Deliveries and their attempts follow through ON DELETE CASCADE. $2 = the status scanned.
inline constexpr std::string_view kPruneDeleteEvents = R"sql(
DELETE FROM events
WHERE seq = ANY($1::bigint[]) AND status = $2
  AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_seq = events.seq
                                              AND d.status = 'pending')
  AND NOT EXISTS (SELECT 1 FROM deliveries d JOIN deliveries h
                    ON h.destination = d.destination AND h.order_key = d.order_key AND h.held
                  WHERE d.event_seq = events.seq AND d.status = 'failed')
)sql";

inline constexpr std::string_view kPruneScanAttempts = R"sql(
SELECT id, started_at, 1 FROM attempts
WHERE started_at < $1 AND (started_at, id) > ($2, $3)
ORDER BY started_at, id
LIMIT $4
)sql";
// The attempts about to go ($1, a bigint[]), locked in id order first, as
// kPruneLockEventAttempts takes them: the DELETE alone would lock them in whatever order its
// plan visits them. It deletes only rows the CTE has locked, so it waits only there.
inline constexpr std::string_view kPruneDeleteAttempts = R"sql(
WITH doomed AS MATERIALIZED (
  SELECT id FROM attempts WHERE id = ANY($1::bigint[]) ORDER BY id FOR UPDATE
)
DELETE FROM attempts WHERE id IN (SELECT id FROM doomed)
)sql";

inline constexpr std::string_view kPruneScanRequestLog = R"sql(
SELECT id, received_at, 1 FROM request_log
WHERE received_at < $1 AND (received_at, id) > ($2, $3)
ORDER BY received_at, id
LIMIT $4
)sql";
inline constexpr std::string_view kPruneDeleteRequestLog = R"sql(
DELETE FROM request_log WHERE id = ANY($1::bigint[])
)sql";

// A key goes only when its event has gone: while the event is stored, a retry of it must still
// be answered as its duplicate. Text compares under the database's collation in both the order
// and the cursor, so the two agree.
inline constexpr std::string_view kPruneScanKeys = R"sql(
SELECT source, key, created_at,
       (NOT EXISTS (SELECT 1 FROM events WHERE seq = idempotency_keys.event_seq))::int
FROM idempotency_keys
WHERE created_at < $1 AND (created_at, source, key) > ($2, $3, $4)
ORDER BY created_at, source, key
LIMIT $5
)sql";
// $1, $2: text[] of sources and keys, pairwise.
inline constexpr std::string_view kPruneDeleteKeys = R"sql(
DELETE FROM idempotency_keys k
USING unnest($1::text[], $2::text[]) AS doomed (source, key)
WHERE k.source = doomed.source AND k.key = doomed.key
  AND NOT EXISTS (SELECT 1 FROM events WHERE seq = k.event_seq)
)sql";

// A consumer never seen before starts at cursor 0, as if it had acknowledged now; a node that
// registers it at the same moment as another does nothing.
inline constexpr std::string_view kRegisterConsumer = R"sql(
INSERT INTO consumers (name, cursor, updated_at) VALUES ($1, 0, $2)
ON CONFLICT (name) DO NOTHING
)sql";
inline constexpr std::string_view kConsumerCursor = R"sql(
SELECT cursor, updated_at FROM consumers WHERE name = $1
)sql";

// ---- helpers ----

// Returns the PostgreSQL array literal of `values` ("{1,2,3}"), bound as text and cast to
// bigint[] by the statement.
inline std::string Int64ArrayLiteral(const std::vector<int64_t>& values) {
  std::string out = "{";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out += ',';
    out += std::to_string(values[i]);
  }
  out += '}';
  return out;
}

// Returns the PostgreSQL array literal of `values`, each element quoted, with `"` and `\`
// escaped, so that any text (commas, braces, "NULL") arrives as itself.
inline std::string TextArrayLiteral(const std::vector<std::string>& values) {
  std::string out = "{";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out += ',';
    out += '"';
    for (char c : values[i]) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  out += '}';
  return out;
}

// Reconnects a connection a failure left broken (the server restarted, the network dropped),
// so that the next call works again once the server is back. Returns kUnavailable if it
// cannot.
inline Status EnsureConnected(Connection& conn) {
  return conn.broken() ? conn.Reset() : Status::Ok();
}

}  // namespace hookvault::storage::pg::ops

#endif  // HOOKVAULT_STORAGE_POSTGRES_OPS_SQL_H_
