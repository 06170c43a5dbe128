// The SQL of the PostgreSQL stores on the write connection that ingest and forwarding use
// (PostgresEventLog, PostgresDeliveryStore), as named constants with bound parameters ($1…),
// each prepared once per connection under its name (kPrepared… below). In a header of its own so
// that tests can drive the ingest transaction step by step with exactly these statements
// (tests/storage/postgres/feed_order_test.cc).
//
// Times are bigint microseconds since the epoch, as in SQLite. Parameters in a SELECT list carry
// a cast: PostgreSQL infers an untyped parameter's type from the column only where the value is
// assigned or compared directly.
#ifndef HOOKVAULT_STORAGE_POSTGRES_WRITE_SQL_H_
#define HOOKVAULT_STORAGE_POSTGRES_WRITE_SQL_H_

#include <string_view>

namespace hookvault::storage::pgsql {

// ---- EventLog ----

// Round trip 1 of a batch, before any lock: is the key stored already (committed by any node)?
inline constexpr std::string_view kSelectKey = R"sql(
SELECT event_id, event_seq FROM idempotency_keys WHERE source = $1 AND key = $2
)sql";

// The batch's request-log rows in one statement, in the order given (the arrays' order; the
// identity ids follow it). $4 holds statuses as bigint.
inline constexpr std::string_view kInsertRequestLogs = R"sql(
INSERT INTO request_log (received_at, source, remote_addr, status, reason, event_id, body_bytes,
                         body)
SELECT l.received_at, l.source, l.remote_addr, l.status, l.reason, l.event_id, l.body_bytes,
       l.body
FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::text[],
            $7::bigint[], $8::bytea[])
     WITH ORDINALITY AS l(received_at, source, remote_addr, status, reason, event_id, body_bytes,
                          body, ord)
ORDER BY l.ord
)sql";

// Takes the batch's $1 seq values (migrations/postgres/0001) and stores its $1 new events, in
// one statement; returns the counter's new last_seq. The row lock on the counter is held to
// COMMIT, so the ingest transactions of every node take seq values one after another and commit
// in that order, and a rollback gives the values back. The i-th element of the arrays (from 1)
// gets seq last_seq - $1 + i. Taking the counter in the same statement as the events (not in a
// statement of its own before them) means the server takes the lock only once the whole
// payload (this statement's Bind) has arrived: a node that stalls while sending its batch holds
// nothing every other node waits for. What follows it in the transaction is small and runs
// while every other node's batch waits: keep it lean.
inline constexpr std::string_view kInsertEvents = R"sql(
WITH c AS (
  UPDATE event_seq_counter SET last_seq = last_seq + $1 WHERE id = 1 RETURNING last_seq
), inserted AS (
  INSERT INTO events (seq, id, source, event_type, idempotency_key, received_at, remote_addr,
                      headers, body, status)
  SELECT c.last_seq - $1 + e.ord, e.id, e.source, e.event_type, e.idempotency_key, e.received_at,
         e.remote_addr, e.headers, e.body, e.status
  FROM c,
       unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::text[],
              $8::text[], $9::bytea[], $10::text[])
       WITH ORDINALITY AS e(id, source, event_type, idempotency_key, received_at, remote_addr,
                            headers, body, status, ord)
  ORDER BY e.ord
)
SELECT last_seq FROM c
)sql";

// The keys of the events kInsertEvents just stored (the last $1 seq values, read back through
// the primary key: nothing sent twice). A plain INSERT, no ON CONFLICT: keys are inserted only
// while the batch holds the counter row, so no other node can hold an uncommitted insert of the
// same key (nothing to wait for); a key another node committed after this batch looked it up
// fails with 23505, and the batch is redone (PostgresEventLog::Append). $2 = created_at.
inline constexpr std::string_view kInsertKeys = R"sql(
INSERT INTO idempotency_keys (source, key, event_id, event_seq, created_at)
SELECT e.source, e.idempotency_key, e.id, e.seq, $2
FROM event_seq_counter c JOIN events e ON e.seq > c.last_seq - $1 AND e.seq <= c.last_seq
WHERE c.id = 1
ORDER BY e.seq
)sql";

// ---- Ordering (migration 0007; storage/delivery_store.h, "Ordering") ----
//
// Nodes share the database, so the transactions that decide whether an ordered delivery is
// held race one another: a head succeeding on node A while node B inserts a delivery of the
// same key could, each reading the other's rows as they were before it, leave B's delivery
// held with no head to release it, for ever. So every transaction that inserts, releases,
// skips or requeues ordered deliveries first takes a transaction-scoped advisory lock per
// (destination, order_key) it touches, before any row lock, in ascending lock-id order: the
// transactions of one key then run one after another (READ COMMITTED: each statement after the
// lock sees the previous holder's commit), and as every transaction takes these locks in the
// same order and before anything else, none waits in a cycle (no deadlock). The lock id is a
// 64-bit hash of the pair (length-prefixed, so that no two pairs make the same text); two keys
// that share a hash only wait for each other.
#define HOOKVAULT_ORDER_LOCK_ID(destination, order_key)                                    \
  "hashtextextended('hookvault.order.' || length(" destination ") || ':' || " destination \
  " || " order_key ", 0)"

// Takes the ordering locks of the batch's ordered deliveries ($1, $2: text[] of destinations
// and keys, pairwise), ascending; before kInsertEvents, so that no wait here holds the seq
// counter. The subquery's ORDER BY with OFFSET 0 (never flattened) fixes the order the locks
// are taken in.
inline constexpr std::string_view kLockBatchOrderKeys =
    "SELECT pg_advisory_xact_lock(k) FROM (SELECT DISTINCT "
    HOOKVAULT_ORDER_LOCK_ID("u.destination", "u.order_key")
    " AS k FROM unnest($1::text[], $2::text[]) AS u(destination, order_key)"
    " ORDER BY k OFFSET 0) s";

// Takes the ordering locks of the ordered deliveries among $1 (a bigint[] of ids), ascending.
// Run first by RecordAttempts (for its successes), a skip and a reprocess chunk.
inline constexpr std::string_view kLockOrderKeysOfDeliveries =
    "SELECT pg_advisory_xact_lock(k) FROM (SELECT DISTINCT "
    HOOKVAULT_ORDER_LOCK_ID("d.destination", "d.order_key")
    " AS k FROM deliveries d WHERE d.id = ANY($1::bigint[]) AND d.order_key IS NOT NULL"
    " ORDER BY k OFFSET 0) s";

// Takes the ordering locks of the failed ordered deliveries of the events $1 (a bigint[] of
// seqs), ascending: run first by a retention round's transaction, before it locks any row. An
// ingest that holds such a key's lock and is storing a delivery held behind the failed head
// has then committed before kPruneDeleteEvents (a later statement, with a later snapshot)
// looks for held deliveries of the key, so the head's event is kept; without the lock the
// DELETE could miss the uncommitted held row, and the key would wait for ever.
inline constexpr std::string_view kLockOrderKeysOfFailedEvents =
    "SELECT pg_advisory_xact_lock(k) FROM (SELECT DISTINCT "
    HOOKVAULT_ORDER_LOCK_ID("d.destination", "d.order_key")
    " AS k FROM deliveries d WHERE d.event_seq = ANY($1::bigint[]) AND d.order_key IS NOT NULL"
    " AND d.status = 'failed' ORDER BY k OFFSET 0) s";

// At start, on a node whose config orders none of the destinations $1 does not name: takes the
// ordering locks of the keys those destinations have held deliveries of, ascending, and
// returns their ids (for kReleaseUnorderedHolds), so that the release does not interleave with
// another node's release or ingest of those keys.
inline constexpr std::string_view kLockUnorderedHoldKeys =
    "SELECT k, pg_advisory_xact_lock(k) FROM (SELECT DISTINCT "
    HOOKVAULT_ORDER_LOCK_ID("d.destination", "d.order_key")
    " AS k FROM deliveries d WHERE d.held AND d.destination <> ALL ($1::text[])"
    " ORDER BY k OFFSET 0) s";

// At start: releases the held deliveries of every destination not in $1 (a text[] of the
// destinations configured with ordering), which would otherwise wait for ever. Walks the held
// deliveries only (deliveries_held). Only the keys whose locks kLockUnorderedHoldKeys took ($2,
// a bigint[] of lock ids): a key held for the first time since is left for the next start.
// Returns the count per destination.
inline constexpr std::string_view kReleaseUnorderedHolds =
    "WITH r AS (UPDATE deliveries SET held = false"
    " WHERE held AND destination <> ALL ($1::text[])"
    " AND " HOOKVAULT_ORDER_LOCK_ID("destination", "order_key") " = ANY ($2::bigint[])"
    " RETURNING destination)"
    " SELECT destination, count(*) FROM r GROUP BY destination ORDER BY destination";

#undef HOOKVAULT_ORDER_LOCK_ID

// After delivery $1 ended succeeded or skipped: releases the next held delivery of its key,
// lowest seq first, unless the key still has an open delivery that is not held (its head).
// $2 = now. The key's lock is held (kLockOrderKeysOfDeliveries). The key is read first (the
// MATERIALIZED CTE) and the next held delivery found by a subquery on it, so that the planner
// walks deliveries_held in seq order for that key (as a join it may walk every delivery in
// seq order instead); the head check repeats deliveries_key_head's WHERE clause exactly, so
// that it reads at most the key's head entry (deliveries_order_key would read every held one).
inline constexpr std::string_view kReleaseNextHeld = R"sql(
WITH k AS MATERIALIZED (
  SELECT destination, order_key FROM deliveries WHERE id = $1 AND order_key IS NOT NULL
)
UPDATE deliveries SET held = false, updated_at = $2
WHERE id = (SELECT (SELECT h.id FROM deliveries h
                    WHERE h.destination = k.destination AND h.order_key = k.order_key
                      AND h.held
                    ORDER BY h.event_seq
                    LIMIT 1)
            FROM k)
  AND NOT EXISTS (SELECT 1 FROM k JOIN deliveries o
                    ON o.destination = k.destination AND o.order_key = k.order_key
                   AND o.order_key IS NOT NULL AND NOT o.held
                   AND o.status IN ('pending', 'failed'))
)sql";

// The deliveries of the batch's new events: $2[i] is the index (from 1) of the event among the
// batch's $1 new events, $3[i] the destination, $5[i] its ordering key (NULL: not ordered). $4 =
// created_at and first due time. An ordered delivery is held when its key has an open (pending
// or failed) delivery stored, or an earlier one in this batch (the window: the statement does
// not see its own rows). The batch holds its keys' locks (kLockBatchOrderKeys).
inline constexpr std::string_view kInsertDeliveries = R"sql(
INSERT INTO deliveries (event_seq, destination, next_attempt_at, created_at, updated_at,
                        order_key, held)
SELECT c.last_seq - $1 + d.event_index, d.destination, $4, $4, $4, d.order_key,
       d.order_key IS NOT NULL
       AND (row_number() OVER (PARTITION BY d.destination, d.order_key ORDER BY d.ord) > 1
            OR EXISTS (SELECT 1 FROM deliveries o
                       WHERE o.destination = d.destination AND o.order_key = d.order_key
                         AND o.status IN ('pending', 'failed')))
FROM event_seq_counter c,
     unnest($2::bigint[], $3::text[], $5::text[])
       WITH ORDINALITY AS d(event_index, destination, order_key, ord)
WHERE c.id = 1
ORDER BY d.ord
)sql";

// One notification per batch that stored a new event, in the batch's transaction: delivered at
// its COMMIT (never for a rollback), payload the batch's last seq. The commits are serialised by
// the counter already, so NOTIFY's commit-time lock adds no wait of its own.
inline constexpr std::string_view kNotifyEvents = R"sql(
SELECT pg_notify('hookvault_events', last_seq::text) FROM event_seq_counter WHERE id = 1
)sql";

// The probe writes as much as a large batch (kProbeBytes of hex digits that pglz cannot shrink,
// so the bytes reach the table and the WAL) and deletes it in the same transaction: a database
// too full for events is then also too full for the probe.
inline constexpr int kProbeBytes = 256 << 10;
inline constexpr std::string_view kUpsertProbe = R"sql(
INSERT INTO service_state (key, value)
SELECT 'write_probe', string_agg(md5(random()::text || i::text), '')
FROM generate_series(1, $1::integer / 32) AS i
ON CONFLICT (key) DO UPDATE SET value = excluded.value
)sql";
inline constexpr std::string_view kDeleteProbe = R"sql(
DELETE FROM service_state WHERE key = 'write_probe'
)sql";

// ---- DeliveryStore ----
//
// Leases are compared with the database's clock, never a node's: nodes' clocks differ, and a
// node whose clock ran ahead would take over deliveries still in flight on another. The store
// turns the caller's lease (lease_until - now) into a duration added to this time.
// Each statement that needs it computes the time once, in a MATERIALIZED CTE:
// (extract(epoch FROM clock_timestamp()) * 1000000)::bigint.

// Held for the rest of the claim's transaction by a destination with a concurrency cap: the
// claims of that destination on every node then count the unexpired leases one after another
// (each counts after the previous one committed), so together they never lease more than the
// cap. $1 = destination.
inline constexpr std::string_view kLockDestinationClaims = R"sql(
SELECT pg_advisory_xact_lock(hashtextextended('hookvault.claim.' || $1, 0))
)sql";

// Claims up to $3 due deliveries of destination $1 (due at the caller's $2), skipping rows
// another node is claiming right now (SKIP LOCKED: never waits, never claims one twice), and the
// ids of $5 (a bigint[] literal: the caller's in-flight deliveries). $6: the destination's
// concurrency cap (NULL: none): at most $6 minus its unexpired leases (kLockDestinationClaims
// must be held). Each claimed delivery gets a lease until database time + $4 microseconds and a
// new lease token (the fence of kApplyOutcome). The CTE is MATERIALIZED so that the LIMIT and
// the row locks apply before the UPDATE, which joins the event for the request's content.
inline constexpr std::string_view kClaimDue = R"sql(
WITH db AS MATERIALIZED (SELECT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint AS now),
due AS MATERIALIZED (
  SELECT d.id FROM deliveries d
  WHERE d.destination = $1 AND d.status = 'pending' AND NOT d.held AND d.next_attempt_at <= $2
    AND (d.lease_expires_at IS NULL OR d.lease_expires_at <= (SELECT now FROM db))
    AND d.id <> ALL ($5::bigint[])
  ORDER BY d.next_attempt_at, d.id
  LIMIT CASE WHEN $6::bigint IS NULL THEN $3::bigint
             ELSE greatest(0, least($3::bigint, $6::bigint - (
               SELECT count(*) FROM deliveries a
               WHERE a.destination = $1 AND a.status = 'pending'
                 AND a.lease_expires_at > (SELECT now FROM db)))) END
  FOR UPDATE OF d SKIP LOCKED
)
UPDATE deliveries d
SET lease_expires_at = (SELECT now FROM db) + $4, updated_at = $2,
    lease_token = d.lease_token + 1
FROM due, events e
WHERE d.id = due.id AND e.seq = d.event_seq
RETURNING d.id, d.lease_token, d.attempts, d.next_attempt_at, e.id, e.source, e.event_type,
          e.body, e.received_at
)sql";

// When the next delivery of destination $1 falls due, from three facts: the earliest next
// attempt of those with no lease; of those whose lease has not expired (in flight on some node,
// due again at their lease's end if that node dies), the earliest max(next attempt, lease end);
// and the earliest lease end and the number of unexpired leases (a capped destination whose cap
// is taken falls due when a lease ends). Lease ends are turned into the caller's clock ($2 =
// its now). An expired lease is claimable at once, so it counts as unleased, unless it is in
// flight on this node ($3, a bigint[] literal: the ids the last claim held or took), whose
// outcome reschedules it. (A lease that expired since the last claim is then due, not
// forgotten until the scheduler's backstop.)
inline constexpr std::string_view kNextDue = R"sql(
WITH db AS MATERIALIZED (SELECT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint AS now)
SELECT
  (SELECT next_attempt_at FROM deliveries
   WHERE destination = $1 AND status = 'pending' AND NOT held
     AND (lease_expires_at IS NULL
          OR (lease_expires_at <= (SELECT now FROM db) AND id <> ALL ($3::bigint[])))
   ORDER BY next_attempt_at LIMIT 1),
  min(greatest(d.next_attempt_at, d.lease_expires_at - db.now + $2)),
  min(d.lease_expires_at - db.now + $2),
  count(d.id)
FROM db LEFT JOIN deliveries d
  ON d.destination = $1 AND d.status = 'pending' AND d.lease_expires_at > db.now
GROUP BY db.now
)sql";

// The fence (storage/delivery_store.h): the outcome applies only while the delivery still holds
// the lease it was attempted under ($6, its claim's token); a later claim changes the token, a
// reprocess and any applied outcome clear the lease. The attempt row is written only when the
// update changed the row. Returns the number applied (0: stale). The attempt carries its
// delivery's destination and event (migration 0002).
inline constexpr std::string_view kApplyOutcome = R"sql(
WITH applied AS (
  UPDATE deliveries
  SET status = $2, attempts = attempts + 1, next_attempt_at = $3, lease_expires_at = NULL,
      last_error = $4, updated_at = $5
  WHERE id = $1 AND lease_token = $6 AND lease_expires_at IS NOT NULL AND status = 'pending'
  RETURNING id, destination, event_seq
), recorded AS (
  INSERT INTO attempts (delivery_id, number, started_at, duration_us, http_status, error,
                        response_excerpt, outcome, destination, event_seq)
  SELECT id, $7::integer, $8::bigint, $9::bigint, $10::integer, $11::text, $12::bytea,
         $13::text, destination, event_seq
  FROM applied
)
SELECT count(*) FROM applied
)sql";

// Locks the events of the deliveries in $1 (a bigint[]), in seq order, before their statuses
// are refreshed. Under READ COMMITTED a refresh that waited on an event row another node was
// changing (an operator's requeue) would recompute the status from the deliveries as its
// statement first saw them and overwrite the right one; with the lock taken first, the refresh
// statements start after that transaction ended and see its deliveries. Seq order is the order
// the operator store locks events in, so the two cannot deadlock.
inline constexpr std::string_view kLockEventsOfDeliveries = R"sql(
SELECT e.seq FROM events e
WHERE e.seq IN (SELECT d.event_seq FROM deliveries d WHERE d.id = ANY($1::bigint[]))
ORDER BY e.seq
FOR UPDATE OF e
)sql";

// "failed" when any of the event's deliveries failed or was skipped, else "delivered" when all succeeded, else
// "pending". Writes the event row only when its status changes (most outcomes are retries that
// leave it pending), so the hot path leaves fewer dead tuples. Runs as a statement of its own
// after kApplyOutcome (a CTE's sibling would not see that update).
inline constexpr std::string_view kRefreshEventStatus = R"sql(
UPDATE events e SET status = s.status
FROM (SELECT d.event_seq,
             CASE WHEN bool_or(d.status IN ('failed', 'skipped')) THEN 'failed'
                  WHEN bool_or(d.status = 'pending') THEN 'pending'
                  ELSE 'delivered' END AS status
      FROM deliveries d
      WHERE d.event_seq = (SELECT event_seq FROM deliveries WHERE id = $1)
      GROUP BY d.event_seq) s
WHERE e.seq = s.event_seq AND e.status <> s.status
)sql";

// Uses the index on (status, id).
inline constexpr std::string_view kCountPending = R"sql(
SELECT destination, count(*) FROM deliveries WHERE status = 'pending' GROUP BY destination
)sql";

// Pending since creation, or since the last reprocess (requeued_at, migration 0005): the first
// pending entry of deliveries_pending_since.
inline constexpr std::string_view kOldestPending = R"sql(
SELECT coalesce(requeued_at, created_at) FROM deliveries WHERE status = 'pending'
ORDER BY coalesce(requeued_at, created_at)
LIMIT 1
)sql";

// The names the statements are prepared under on the write connection ("w_" keeps them apart
// from the operator and retention stores' statements on the same connection).
inline constexpr char kPreparedSelectKey[] = "w_select_key";
inline constexpr char kPreparedInsertRequestLogs[] = "w_insert_request_logs";
inline constexpr char kPreparedInsertEvents[] = "w_insert_events";
inline constexpr char kPreparedInsertKeys[] = "w_insert_keys";
inline constexpr char kPreparedInsertDeliveries[] = "w_insert_deliveries";
inline constexpr char kPreparedNotifyEvents[] = "w_notify_events";
inline constexpr char kPreparedUpsertProbe[] = "w_upsert_probe";
inline constexpr char kPreparedDeleteProbe[] = "w_delete_probe";
inline constexpr char kPreparedLockDestinationClaims[] = "w_lock_destination_claims";
inline constexpr char kPreparedClaimDue[] = "w_claim_due";
inline constexpr char kPreparedNextDue[] = "w_next_due";
inline constexpr char kPreparedApplyOutcome[] = "w_apply_outcome";
inline constexpr char kPreparedLockEventsOfDeliveries[] = "w_lock_events_of_deliveries";
inline constexpr char kPreparedRefreshEventStatus[] = "w_refresh_event_status";
inline constexpr char kPreparedCountPending[] = "w_count_pending";
inline constexpr char kPreparedOldestPending[] = "w_oldest_pending";
inline constexpr char kPreparedLockBatchOrderKeys[] = "w_lock_batch_order_keys";
inline constexpr char kPreparedLockOrderKeysOfDeliveries[] = "w_lock_order_keys_of_deliveries";
inline constexpr char kPreparedReleaseNextHeld[] = "w_release_next_held";

}  // namespace hookvault::storage::pgsql

#endif  // HOOKVAULT_STORAGE_POSTGRES_WRITE_SQL_H_
