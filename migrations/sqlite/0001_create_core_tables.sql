-- Core schema: events, their idempotency keys, one delivery per event x destination, every
-- delivery attempt, and the ingest request log. Times are Unix epoch microseconds (UTC).

-- seq is AUTOINCREMENT so a sequence number is never reused, even after the newest events are
-- pruned: the pull API's cursors depend on it.
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
CREATE INDEX events_source_seq ON events (source, seq);
CREATE INDEX events_type_seq ON events (event_type, seq);
CREATE INDEX events_status_seq ON events (status, seq);
CREATE INDEX events_received_at ON events (received_at);

-- Idempotency keys live apart from events so that they may outlive them (retention): a late
-- duplicate is still recognised after its event has been pruned.
CREATE TABLE idempotency_keys (
  source     TEXT    NOT NULL,
  key        TEXT    NOT NULL,
  event_id   TEXT    NOT NULL,
  event_seq  INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (source, key)
) WITHOUT ROWID;
CREATE INDEX idempotency_keys_created_at ON idempotency_keys (created_at);

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
CREATE INDEX deliveries_due ON deliveries (destination, next_attempt_at) WHERE status = 'pending';
CREATE INDEX deliveries_destination_status ON deliveries (destination, status, id);
CREATE INDEX deliveries_status ON deliveries (status, id);

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
);
CREATE INDEX attempts_delivery ON attempts (delivery_id, id);
CREATE INDEX attempts_started_at ON attempts (started_at);

-- Every ingest request, accepted or rejected.
CREATE TABLE request_log (
  id          INTEGER PRIMARY KEY,
  received_at INTEGER NOT NULL,
  source      TEXT    NOT NULL,
  remote_addr TEXT    NOT NULL,
  status      INTEGER NOT NULL,
  reason      TEXT    NOT NULL,
  event_id    TEXT,
  body_bytes  INTEGER NOT NULL
);
CREATE INDEX request_log_received_at ON request_log (received_at);
CREATE INDEX request_log_source ON request_log (source, id);

-- Small key/value facts about this database (the readiness probe writes here).
CREATE TABLE service_state (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
) WITHOUT ROWID;
