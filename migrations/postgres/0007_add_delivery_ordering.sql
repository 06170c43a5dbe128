-- FIFO per key (destination "ordering"). order_key: the delivery's ordering key (NULL: not
-- ordered). held: the delivery waits behind an older open (pending or failed) delivery of the
-- same destination and key; it is never claimed until released. Per (destination, order_key)
-- at most one open delivery is not held: the key's head. A new status, skipped: an operator
-- gave up on a failed delivery (POST /api/v1/deliveries/{id}/skip), which releases its key.
--
-- Both new columns are metadata only (no rewrite: NULL, and a constant default). The wider
-- status CHECK is added NOT VALID and then validated, and the claim's new index is built under
-- a new name before the old one goes, so that the old index serves until the new one exists.
-- The migration is one transaction (storage/postgres/migrations.cc), though, so the ACCESS
-- EXCLUSIVE lock of the first ALTER TABLE is held until its COMMIT: the validation's scan and
-- the index builds still block the other nodes' ingest and claims for their length (README,
-- "Upgrading").
ALTER TABLE deliveries ADD COLUMN order_key text;
ALTER TABLE deliveries ADD COLUMN held boolean NOT NULL DEFAULT false;
ALTER TABLE deliveries DROP CONSTRAINT deliveries_status_check;
ALTER TABLE deliveries ADD CONSTRAINT deliveries_status_check
  CHECK (status IN ('pending', 'succeeded', 'failed', 'skipped')) NOT VALID;
ALTER TABLE deliveries VALIDATE CONSTRAINT deliveries_status_check;

-- The claim's index (0001's deliveries_due) leaves held deliveries out: a key with 10,000
-- deliveries waiting must not make every claim of its destination walk past them.
CREATE INDEX deliveries_due_unheld ON deliveries (destination, next_attempt_at)
  WHERE status = 'pending' AND NOT held;
DROP INDEX deliveries_due;
ALTER INDEX deliveries_due_unheld RENAME TO deliveries_due;
-- Is a key's delivery open (ingest: hold the new one), which is its head (reprocess)? Only
-- ordered deliveries enter it.
CREATE INDEX deliveries_order_key ON deliveries (destination, order_key, status)
  WHERE order_key IS NOT NULL;
-- The next held delivery of a key, in seq order: what a succeeded or skipped head releases.
CREATE INDEX deliveries_held ON deliveries (destination, order_key, event_seq) WHERE held;
-- A key's head: its open delivery that is not held (at most one per key, so each entry of
-- (destination, order_key) is one key's head). A release or a requeue asks whether the key
-- has one; deliveries_order_key would make it read every held delivery of the key first.
-- The statements that use it repeat this WHERE clause exactly (the planner needs that).
CREATE INDEX deliveries_key_head ON deliveries (destination, order_key)
  WHERE order_key IS NOT NULL AND NOT held AND status IN ('pending', 'failed');
