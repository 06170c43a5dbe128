-- Indexes for the REST API's filters, the audit log and consumer cursors.

-- The attempt knows its delivery's destination and event, so history filters by either
-- without a join.
ALTER TABLE attempts ADD COLUMN destination text;
ALTER TABLE attempts ADD COLUMN event_seq bigint;
CREATE INDEX attempts_destination_id ON attempts (destination, id);
CREATE INDEX attempts_event_seq_id ON attempts (event_seq, id);
CREATE INDEX attempts_outcome_id ON attempts (outcome, id);

CREATE INDEX deliveries_destination_id ON deliveries (destination, id);
CREATE INDEX deliveries_created_at ON deliveries (created_at);

CREATE INDEX request_log_status_id ON request_log (status, id);

-- Operator actions, hash-chained. Rows are appended under a transaction-scoped advisory lock
-- (the store's kAuditAppendLock), so appends from several nodes form one chain.
CREATE TABLE audit_log (
  id        bigint PRIMARY KEY,
  at        bigint NOT NULL,
  actor     text   NOT NULL,
  role      text   NOT NULL,
  action    text   NOT NULL,
  target    text   NOT NULL,  -- JSON object
  matched   bigint NOT NULL,
  requeued  bigint NOT NULL,
  reason    text   NOT NULL,
  prev_hash text   NOT NULL,
  hash      text   NOT NULL
);
CREATE INDEX audit_log_at ON audit_log (at);

CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_log is append-only';
END;
$$;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
  FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();

CREATE TABLE consumers (
  name       text   PRIMARY KEY,
  cursor     bigint NOT NULL,
  updated_at bigint NOT NULL
);
