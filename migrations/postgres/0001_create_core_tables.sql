-- Core schema (PostgreSQL): events, their idempotency keys, one delivery per event x
-- destination, every delivery attempt, and the ingest request log. Times are Unix epoch
-- microseconds (UTC), as in the SQLite schema, so both wings read and write the same values.

-- seq is taken from this one-row counter inside each ingest transaction, by the statement that
-- inserts its events, and the row lock is held until COMMIT. So ingest transactions on every
-- node take their seq values one after another and commit in that order: a reader that sees
-- seq N has already been able to see every seq below it (no gap a feed cursor could step
-- over), and a rolled-back batch gives its values back (seq stays dense). A PostgreSQL
-- sequence would do neither. Group commit makes the unit that waits here a batch, not an event.
CREATE TABLE event_seq_counter (
  id       integer PRIMARY KEY CHECK (id = 1),
  last_seq bigint  NOT NULL
);
INSERT INTO event_seq_counter (id, last_seq) VALUES (1, 0);

CREATE TABLE events (
  seq             bigint PRIMARY KEY,
  id              text   NOT NULL UNIQUE,
  source          text   NOT NULL,
  event_type      text   NOT NULL,
  idempotency_key text   NOT NULL,
  received_at     bigint NOT NULL,
  remote_addr     text   NOT NULL,
  headers         text   NOT NULL,  -- JSON object; never holds x-auth-token or authorization
  body            bytea  NOT NULL,  -- the raw request body, byte for byte
  status          text   NOT NULL DEFAULT 'pending'
                  CHECK (status IN ('pending', 'delivered', 'failed'))
);
CREATE INDEX events_source_seq ON events (source, seq);
CREATE INDEX events_type_seq ON events (event_type, seq);
CREATE INDEX events_status_seq ON events (status, seq);
CREATE INDEX events_received_at ON events (received_at);

-- Idempotency keys live apart from events so that they may outlive them (retention). The
-- primary key is what makes one key stored once across every node. No node ever waits on
-- another's key: keys are inserted only while the batch holds the seq counter row, so a key is
-- either committed already (the batch's lookup finds it: a duplicate) or committed by another
-- node since that lookup, which fails the insert at once (23505) and the batch is redone.
CREATE TABLE idempotency_keys (
  source     text   NOT NULL,
  key        text   NOT NULL,
  event_id   text   NOT NULL,
  event_seq  bigint NOT NULL,
  created_at bigint NOT NULL,
  PRIMARY KEY (source, key)
);
CREATE INDEX idempotency_keys_created_at ON idempotency_keys (created_at);

CREATE TABLE deliveries (
  id               bigint  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  event_seq        bigint  NOT NULL REFERENCES events (seq) ON DELETE CASCADE,
  destination      text    NOT NULL,
  status           text    NOT NULL DEFAULT 'pending'
                   CHECK (status IN ('pending', 'succeeded', 'failed')),
  attempts         integer NOT NULL DEFAULT 0,  -- attempts since creation or last reprocess
  next_attempt_at  bigint  NOT NULL,
  lease_expires_at bigint,                      -- set while an attempt is in flight
  last_error       text,
  created_at       bigint  NOT NULL,
  updated_at       bigint  NOT NULL,
  UNIQUE (event_seq, destination)
);
CREATE INDEX deliveries_due ON deliveries (destination, next_attempt_at) WHERE status = 'pending';
CREATE INDEX deliveries_destination_status ON deliveries (destination, status, id);
CREATE INDEX deliveries_status ON deliveries (status, id);

CREATE TABLE attempts (
  id               bigint  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  delivery_id      bigint  NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
  number           integer NOT NULL,
  started_at       bigint  NOT NULL,
  duration_us      bigint  NOT NULL,
  http_status      integer,          -- NULL when no response arrived
  error            text,             -- connect error, timeout, ... ; NULL on a response
  response_excerpt bytea,            -- first 1 KiB of the response body
  outcome          text    NOT NULL CHECK (outcome IN ('success', 'failure'))
);
CREATE INDEX attempts_delivery ON attempts (delivery_id, id);
CREATE INDEX attempts_started_at ON attempts (started_at);

-- Every ingest request, accepted or rejected.
CREATE TABLE request_log (
  id          bigint  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  received_at bigint  NOT NULL,
  source      text    NOT NULL,
  remote_addr text    NOT NULL,
  status      integer NOT NULL,
  reason      text    NOT NULL,
  event_id    text,
  body_bytes  bigint  NOT NULL
);
CREATE INDEX request_log_received_at ON request_log (received_at);
CREATE INDEX request_log_source ON request_log (source, id);

-- Small key/value facts about this database (the readiness probe writes here).
CREATE TABLE service_state (
  key   text PRIMARY KEY,
  value text NOT NULL
);

-- The hot tables take an update (deliveries: claim, outcome) or a delete (retention) for most
-- rows they hold: vacuum them after 1 % of their rows changed instead of the default 20 %, so
-- dead tuples do not pile up between runs.
ALTER TABLE deliveries SET (autovacuum_vacuum_scale_factor = 0.01,
                            autovacuum_analyze_scale_factor = 0.02,
                            fillfactor = 80);
ALTER TABLE event_seq_counter SET (fillfactor = 10);
