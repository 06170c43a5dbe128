-- The REST API's side of the schema: what the list filters need so that none of them scans a
-- table (tests/storage/query_plan_test.cc checks every filter combination), the operators'
-- append-only audit log, and the pull consumers' cursors.

-- Attempts carry their delivery's destination and event so that /attempts filters on them
-- through an index of attempts alone, in id order (no join, no sort).
ALTER TABLE attempts ADD COLUMN destination TEXT;
ALTER TABLE attempts ADD COLUMN event_seq INTEGER;
UPDATE attempts
SET destination = (SELECT d.destination FROM deliveries d WHERE d.id = attempts.delivery_id),
    event_seq = (SELECT d.event_seq FROM deliveries d WHERE d.id = attempts.delivery_id);
CREATE INDEX attempts_destination_id ON attempts (destination, id);
CREATE INDEX attempts_event_seq_id ON attempts (event_seq, id);
CREATE INDEX attempts_outcome_id ON attempts (outcome, id);

-- deliveries_destination_status (destination, status, id) is in id order only within one
-- status: /deliveries?destination= alone needs (destination, id).
CREATE INDEX deliveries_destination_id ON deliveries (destination, id);
CREATE INDEX deliveries_created_at ON deliveries (created_at);

CREATE INDEX request_log_status_id ON request_log (status, id);

-- Operator actions. Append-only: the triggers refuse UPDATE and DELETE. Someone with the file
-- can still drop them; the hash chain (hash = SHA-256 of prev_hash and the row's canonical
-- content, see storage/audit_chain.cc) then shows where the log was changed.
CREATE TABLE audit_log (
  id        INTEGER PRIMARY KEY,
  at        INTEGER NOT NULL,
  actor     TEXT    NOT NULL,
  role      TEXT    NOT NULL,
  action    TEXT    NOT NULL,
  target    TEXT    NOT NULL,  -- JSON object
  matched   INTEGER NOT NULL,
  requeued  INTEGER NOT NULL,
  reason    TEXT    NOT NULL,
  prev_hash TEXT    NOT NULL,
  hash      TEXT    NOT NULL
);
CREATE INDEX audit_log_at ON audit_log (at);

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
  SELECT RAISE(ABORT, 'audit_log is append-only');
END;

CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
  SELECT RAISE(ABORT, 'audit_log is append-only');
END;

-- The committed cursor of each pull consumer: the highest seq it acknowledged.
CREATE TABLE consumers (
  name       TEXT    PRIMARY KEY,
  cursor     INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
) WITHOUT ROWID;
