-- hookvault: foreign-keys-off
-- FIFO per key (destination "ordering"). order_key: the delivery's ordering key (NULL: not
-- ordered). held: the delivery waits behind an older open (pending or failed) delivery of the
-- same destination and key; it is never claimed until released. Per (destination, order_key)
-- at most one open delivery is not held: the key's head. A new status, skipped: an operator
-- gave up on a failed delivery (POST /api/v1/deliveries/{id}/skip), which releases its key.
--
-- The status CHECK constraint cannot be altered in place: the table is rebuilt the way
-- SQLite's documentation prescribes (https://www.sqlite.org/lang_altertable.html#otheralter):
-- with foreign keys off (the migration runner turns them off around this migration's
-- transaction, because of the first line, and runs PRAGMA foreign_key_check before COMMIT),
-- so that dropping the old table neither cascades into attempts nor breaks their references;
-- then every index of deliveries from migrations 0001-0006 is created again. One transaction.
CREATE TABLE deliveries_new (
  id               INTEGER PRIMARY KEY,
  event_seq        INTEGER NOT NULL REFERENCES events (seq) ON DELETE CASCADE,
  destination      TEXT    NOT NULL,
  status           TEXT    NOT NULL DEFAULT 'pending'
                   CHECK (status IN ('pending', 'succeeded', 'failed', 'skipped')),
  attempts         INTEGER NOT NULL DEFAULT 0,  -- attempts since creation or last reprocess
  next_attempt_at  INTEGER NOT NULL,
  lease_expires_at INTEGER,                     -- set while an attempt is in flight
  last_error       TEXT,
  created_at       INTEGER NOT NULL,
  updated_at       INTEGER NOT NULL,
  lease_token      INTEGER NOT NULL DEFAULT 0,  -- migration 0005
  requeued_at      INTEGER,                     -- migration 0005
  order_key        TEXT,
  held             INTEGER NOT NULL DEFAULT 0 CHECK (held IN (0, 1)),
  UNIQUE (event_seq, destination)
);
INSERT INTO deliveries_new (id, event_seq, destination, status, attempts, next_attempt_at,
                            lease_expires_at, last_error, created_at, updated_at, lease_token,
                            requeued_at)
SELECT id, event_seq, destination, status, attempts, next_attempt_at, lease_expires_at,
       last_error, created_at, updated_at, lease_token, requeued_at
FROM deliveries;
DROP TABLE deliveries;
ALTER TABLE deliveries_new RENAME TO deliveries;

-- The claim's index (0001's deliveries_due) leaves held deliveries out: a key with 10,000
-- deliveries waiting must not make every claim of its destination walk past them.
CREATE INDEX deliveries_due ON deliveries (destination, next_attempt_at)
  WHERE status = 'pending' AND held = 0;
-- The other indexes of 0001, 0002 and 0005, as they were.
CREATE INDEX deliveries_destination_status ON deliveries (destination, status, id);
CREATE INDEX deliveries_status ON deliveries (status, id);
CREATE INDEX deliveries_destination_id ON deliveries (destination, id);
CREATE INDEX deliveries_created_at ON deliveries (created_at);
CREATE INDEX deliveries_pending_since ON deliveries (status, coalesce(requeued_at, created_at));
-- Is a key's delivery open (ingest: hold the new one), which is its head (reprocess)? Only
-- ordered deliveries enter it.
CREATE INDEX deliveries_order_key ON deliveries (destination, order_key, status)
  WHERE order_key IS NOT NULL;
-- The next held delivery of a key, in seq order: what a succeeded or skipped head releases.
CREATE INDEX deliveries_held ON deliveries (destination, order_key, event_seq) WHERE held = 1;
-- A key's head: its open delivery that is not held (at most one per key, so each entry of
-- (destination, order_key) is one key's head). A release or a requeue asks whether the key
-- has one; deliveries_order_key would make it read every held delivery of the key first.
-- The statements that use it repeat this WHERE clause exactly (the planner needs that).
CREATE INDEX deliveries_key_head ON deliveries (destination, order_key)
  WHERE order_key IS NOT NULL AND held = 0 AND status IN ('pending', 'failed');
