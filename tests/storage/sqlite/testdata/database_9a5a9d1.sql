-- A hookvault database made by the binary of commit 9a5a9d1 (before migrations moved to
-- migrations/sqlite/): 'hookvault serve' applied 0001-0004 and stored three events whose one
-- delivery failed (its destination refused the connection) and a rejected request; then
-- 'sqlite3 hookvault.db .dump'. Used by tests/storage/sqlite/migrations_test.cc.
PRAGMA foreign_keys=OFF;
BEGIN TRANSACTION;
CREATE TABLE schema_migrations (
  name       TEXT PRIMARY KEY,
  applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
INSERT INTO schema_migrations VALUES('0001_create_core_tables.sql','2026-12-06T15:20:40.936Z');
INSERT INTO schema_migrations VALUES('0002_add_query_indexes_and_audit.sql','2026-12-06T15:20:40.938Z');
INSERT INTO schema_migrations VALUES('0003_prune_old_data_and_reclaim_space.sql','2026-12-06T15:20:40.942Z');
INSERT INTO schema_migrations VALUES('0004_add_request_log_body.sql','2026-12-06T15:20:40.942Z');
CREATE TABLE events (
  seq             INTEGER PRIMARY KEY AUTOINCREMENT,
  id              TEXT    NOT NULL UNIQUE,
  source          TEXT    NOT NULL,
  event_type      TEXT    NOT NULL,
  idempotency_key TEXT    NOT NULL,
  received_at     INTEGER NOT NULL,
  remote_addr     TEXT    NOT NULL,
  headers         TEXT    NOT NULL,  -- JSON object; never holds x-auth-token or authorization
  body            BLOB    NOT NULL,  -- the raw request body, byte for byte
  status          TEXT    NOT NULL DEFAULT 'pending'
                  CHECK (status IN ('pending', 'delivered', 'failed'))
);
INSERT INTO events VALUES(1,'01a24bf1-68cc-7133-9e3a-7de5dabd97d1','pms','booking.created','fixture-1',1796570441932095,'127.0.0.1','{"accept":"*/*","content-length":"46","content-type":"application/json","host":"127.0.0.1:34693","idempotency-key":"fixture-1","user-agent":"curl/7.88.1"}',X'7b226576656e74223a22626f6f6b696e672e63726561746564222c22626f6f6b696e67223a22422d31303431227d','failed');
INSERT INTO events VALUES(2,'01a24bf1-68d8-708c-842f-c97f0cb18217','pms','booking.created','fixture-2',1796570441944123,'127.0.0.1','{"accept":"*/*","content-length":"46","content-type":"application/json","host":"127.0.0.1:34693","idempotency-key":"fixture-2","user-agent":"curl/7.88.1"}',X'7b226576656e74223a22626f6f6b696e672e63726561746564222c22626f6f6b696e67223a22422d31303432227d','failed');
INSERT INTO events VALUES(3,'01a24bf1-68e2-7169-9cbe-346fb06edf47','pms','booking.created','fixture-3',1796570441954592,'127.0.0.1','{"accept":"*/*","content-length":"46","content-type":"application/json","host":"127.0.0.1:34693","idempotency-key":"fixture-3","user-agent":"curl/7.88.1"}',X'7b226576656e74223a22626f6f6b696e672e63726561746564222c22626f6f6b696e67223a22422d31303433227d','failed');
CREATE TABLE idempotency_keys (
  source     TEXT    NOT NULL,
  key        TEXT    NOT NULL,
  event_id   TEXT    NOT NULL,
  event_seq  INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (source, key)
) WITHOUT ROWID;
INSERT INTO idempotency_keys VALUES('pms','fixture-1','01a24bf1-68cc-7133-9e3a-7de5dabd97d1',1,1796570441932842);
INSERT INTO idempotency_keys VALUES('pms','fixture-2','01a24bf1-68d8-708c-842f-c97f0cb18217',2,1796570441944249);
INSERT INTO idempotency_keys VALUES('pms','fixture-3','01a24bf1-68e2-7169-9cbe-346fb06edf47',3,1796570441954715);
CREATE TABLE deliveries (
  id               INTEGER PRIMARY KEY,
  event_seq        INTEGER NOT NULL REFERENCES events (seq) ON DELETE CASCADE,
  destination      TEXT    NOT NULL,
  status           TEXT    NOT NULL DEFAULT 'pending'
                   CHECK (status IN ('pending', 'succeeded', 'failed')),
  attempts         INTEGER NOT NULL DEFAULT 0,  -- attempts since creation or last reprocess
  next_attempt_at  INTEGER NOT NULL,
  lease_expires_at INTEGER,                     -- set while an attempt is in flight
  last_error       TEXT,
  created_at       INTEGER NOT NULL,
  updated_at       INTEGER NOT NULL,
  UNIQUE (event_seq, destination)
);
INSERT INTO deliveries VALUES(1,1,'billing','failed',1,1796570441934623,NULL,'Couldn''t connect to server: Failed to connect to 127.0.0.1 port 9 after 0 ms: Couldn''t connect to server',1796570441932842,1796570441934623);
INSERT INTO deliveries VALUES(2,2,'billing','failed',1,1796570441945529,NULL,'Couldn''t connect to server: Failed to connect to 127.0.0.1 port 9 after 0 ms: Couldn''t connect to server',1796570441944249,1796570441945529);
INSERT INTO deliveries VALUES(3,3,'billing','failed',1,1796570441956066,NULL,'Couldn''t connect to server: Failed to connect to 127.0.0.1 port 9 after 0 ms: Couldn''t connect to server',1796570441954715,1796570441956066);
CREATE TABLE attempts (
  id               INTEGER PRIMARY KEY,
  delivery_id      INTEGER NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
  number           INTEGER NOT NULL,
  started_at       INTEGER NOT NULL,
  duration_us      INTEGER NOT NULL,
  http_status      INTEGER,          -- NULL when no response arrived
  error            TEXT,             -- connect error, timeout, ... ; NULL on a response
  response_excerpt BLOB,             -- first 1 KiB of the response body
  outcome          TEXT    NOT NULL CHECK (outcome IN ('success', 'failure'))
, destination TEXT, event_seq INTEGER);
INSERT INTO attempts VALUES(1,1,1,1796570441934377,134,NULL,'Couldn''t connect to server: Failed to connect to 127.0.0.1 port 9 after 0 ms: Couldn''t connect to server',X'','failure','billing',1);
INSERT INTO attempts VALUES(2,2,1,1796570441945312,101,NULL,'Couldn''t connect to server: Failed to connect to 127.0.0.1 port 9 after 0 ms: Couldn''t connect to server',X'','failure','billing',2);
INSERT INTO attempts VALUES(3,3,1,1796570441955873,94,NULL,'Couldn''t connect to server: Failed to connect to 127.0.0.1 port 9 after 0 ms: Couldn''t connect to server',X'','failure','billing',3);
CREATE TABLE request_log (
  id          INTEGER PRIMARY KEY,
  received_at INTEGER NOT NULL,
  source      TEXT    NOT NULL,
  remote_addr TEXT    NOT NULL,
  status      INTEGER NOT NULL,
  reason      TEXT    NOT NULL,
  event_id    TEXT,
  body_bytes  INTEGER NOT NULL
, body BLOB);
INSERT INTO request_log VALUES(1,1796570441932095,'pms','127.0.0.1',200,'stored','01a24bf1-68cc-7133-9e3a-7de5dabd97d1',46,NULL);
INSERT INTO request_log VALUES(2,1796570441944123,'pms','127.0.0.1',200,'stored','01a24bf1-68d8-708c-842f-c97f0cb18217',46,NULL);
INSERT INTO request_log VALUES(3,1796570441954592,'pms','127.0.0.1',200,'stored','01a24bf1-68e2-7169-9cbe-346fb06edf47',46,NULL);
INSERT INTO request_log VALUES(4,1796570441965147,'pms','127.0.0.1',401,'unauthenticated',NULL,2,NULL);
CREATE TABLE service_state (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
) WITHOUT ROWID;
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
CREATE TABLE consumers (
  name       TEXT    PRIMARY KEY,
  cursor     INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
) WITHOUT ROWID;
DELETE FROM sqlite_sequence;
INSERT INTO sqlite_sequence VALUES('events',3);
CREATE INDEX events_source_seq ON events (source, seq);
CREATE INDEX events_type_seq ON events (event_type, seq);
CREATE INDEX events_status_seq ON events (status, seq);
CREATE INDEX events_received_at ON events (received_at);
CREATE INDEX idempotency_keys_created_at ON idempotency_keys (created_at);
CREATE INDEX deliveries_due ON deliveries (destination, next_attempt_at) WHERE status = 'pending';
CREATE INDEX deliveries_destination_status ON deliveries (destination, status, id);
CREATE INDEX deliveries_status ON deliveries (status, id);
CREATE INDEX attempts_delivery ON attempts (delivery_id, id);
CREATE INDEX attempts_started_at ON attempts (started_at);
CREATE INDEX request_log_received_at ON request_log (received_at);
CREATE INDEX request_log_source ON request_log (source, id);
CREATE INDEX attempts_destination_id ON attempts (destination, id);
CREATE INDEX attempts_event_seq_id ON attempts (event_seq, id);
CREATE INDEX attempts_outcome_id ON attempts (outcome, id);
CREATE INDEX deliveries_destination_id ON deliveries (destination, id);
CREATE INDEX deliveries_created_at ON deliveries (created_at);
CREATE INDEX request_log_status_id ON request_log (status, id);
CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX events_status_received_at ON events (status, received_at);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
  SELECT RAISE(ABORT, 'audit_log is append-only');
END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
  SELECT RAISE(ABORT, 'audit_log is append-only');
END;
COMMIT;
