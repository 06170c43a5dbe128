-- Loader of `scripts/bench query` (read by sqlite3 after bench.d/query_load.sh has migrated the
-- database and created temp.p(n, t0): n events, received_at = t0 + seq ms). Fills a migrated,
-- empty hookvault database directly, in one big transaction per table:
--   events           n rows, seq 1..n (explicit, so sqlite_sequence ends at n), 3 sources
--                    (github 50 %, stripe 30 %, shopify 20 %), 10 event types, ~1 KiB JSON
--                    bodies, received_at 1 ms apart, headers '{}'; status 'failed' when one of
--                    its deliveries failed, else 'delivered'
--   idempotency_keys one per event
--   deliveries       2 per event (warehouse, analytics), ~1 % of each 'failed', the rest
--                    'succeeded' (so the scheduler has nothing to send)
--   attempts         1-3 'failure' rows per failed delivery, with destination and event_seq
--                    (succeeded deliveries get none, to keep the load short)
--   request_log      5,000 rows: the last events' "stored" requests and every 10th one a 401
-- Everything is derived from seq by fixed hashes: the same n and t0 give the same database.
-- The durability settings are for the load only: synchronous=OFF, journal_mode=OFF, and WAL
-- again at the end (hookvault opens its database in WAL mode).

PRAGMA synchronous = OFF;
PRAGMA journal_mode = OFF;
PRAGMA cache_size = -524288;  -- 512 MiB: the index B-trees stay in memory during the load

-- One row per event with its derived attributes; a view, so each INSERT below recomputes it
-- (cheaper than materialising 1,000,000 rows once more).
CREATE TEMP VIEW gen AS
WITH RECURSIVE s(seq) AS (
  SELECT 1 UNION ALL SELECT seq + 1 FROM s WHERE seq < (SELECT n FROM temp.p)
),
h AS (
  SELECT seq,
         (seq * 2654435761) % 100 AS hs,              -- source
         ((seq * 2246822519) / 256) % 1000 AS ht,     -- event type
         ((seq * 3266489917) / 1024) % 100 AS hw,     -- warehouse delivery failed when 7
         ((seq * 668265263) / 2048) % 100 AS ha,      -- analytics delivery failed when 7
         (SELECT t0 FROM temp.p) + seq * 1000 AS received_at
  FROM s
)
SELECT seq, received_at, hw = 7 AS warehouse_failed, ha = 7 AS analytics_failed,
       CASE WHEN hs < 50 THEN 'github' WHEN hs < 80 THEN 'stripe' ELSE 'shopify' END AS source,
       CASE WHEN hs < 50 THEN
              CASE ht % 4 WHEN 0 THEN 'push' WHEN 1 THEN 'pull_request' WHEN 2 THEN 'issues'
                          ELSE 'release' END
            WHEN hs < 80 THEN
              CASE ht % 3 WHEN 0 THEN 'charge.succeeded' WHEN 1 THEN 'invoice.paid'
                          ELSE 'customer.created' END
            ELSE
              CASE ht % 3 WHEN 0 THEN 'orders/create' WHEN 1 THEN 'orders/paid'
                          ELSE 'products/update' END
       END AS event_type,
       -- UUIDv7-like, increasing with received_at; the last group is a bijection of seq
       printf('%08llx-%04llx-7%03llx-%04llx-%012llx', (received_at / 1000) >> 16,
              (received_at / 1000) & 65535, seq & 4095, 32768 | ((seq * 40503) & 16383),
              (seq * 2654435761) & 281474976710655) AS id
FROM h;

BEGIN;
INSERT INTO events (seq, id, source, event_type, idempotency_key, received_at, remote_addr,
                    headers, body, status)
SELECT seq, id, source, event_type, printf('idem-%09d', seq), received_at,
       '203.0.113.' || (seq % 250 + 1), '{}',
       CAST('{"id":"evt_' || seq || '","object":"event","type":"' || event_type ||
            '","created":' || (received_at / 1000000) || ',"livemode":false,"data":{"amount":' ||
            ((seq * 37) % 100000) || ',"currency":"usd","customer":"cus_' || ((seq * 7) % 50000) ||
            '","description":"' ||
            substr(replace(hex(zeroblob(450)), '00', 'lorem ipsum dolor sit amet '), 1,
                   800 + seq % 64) ||
            '"}}' AS BLOB),
       CASE WHEN warehouse_failed OR analytics_failed THEN 'failed' ELSE 'delivered' END
FROM gen;
COMMIT;

BEGIN;
INSERT INTO idempotency_keys (source, key, event_id, event_seq, created_at)
SELECT source, printf('idem-%09d', seq), id, seq, received_at FROM gen;
COMMIT;

BEGIN;
INSERT INTO deliveries (id, event_seq, destination, status, attempts, next_attempt_at,
                        lease_expires_at, last_error, created_at, updated_at)
SELECT id, seq, name, CASE WHEN failed THEN 'failed' ELSE 'succeeded' END,
       CASE WHEN failed THEN 1 + seq % 3 ELSE 1 END, received_at, NULL,
       CASE WHEN failed THEN 'HTTP 503 Service Unavailable' END, received_at,
       received_at + CASE WHEN failed THEN (1 + seq % 3) * 2000000 ELSE 25000 END
FROM (SELECT seq * 2 - 1 AS id, seq, 'warehouse' AS name, warehouse_failed AS failed, received_at
      FROM gen
      UNION ALL
      SELECT seq * 2, seq, 'analytics', analytics_failed, received_at FROM gen)
ORDER BY id;
COMMIT;

BEGIN;
INSERT INTO attempts (delivery_id, number, started_at, duration_us, http_status, error,
                      response_excerpt, outcome, destination, event_seq)
SELECT d.id, k.number, d.created_at + (k.number - 1) * 2000000 + 10000, 18000 + d.id % 5000, 503,
       NULL, CAST('Service Unavailable' AS BLOB), 'failure', d.destination, d.event_seq
FROM deliveries d INDEXED BY deliveries_status
JOIN (SELECT 1 AS number UNION ALL SELECT 2 UNION ALL SELECT 3) k ON k.number <= d.attempts
WHERE d.status = 'failed'
ORDER BY d.id, k.number;
COMMIT;

BEGIN;
INSERT INTO request_log (received_at, source, remote_addr, status, reason, event_id, body_bytes)
SELECT e.received_at - CASE WHEN r.i % 10 = 0 THEN 500 ELSE 200 END, e.source, e.remote_addr,
       CASE WHEN r.i % 10 = 0 THEN 401 ELSE 202 END,
       CASE WHEN r.i % 10 = 0 THEN 'unauthorized' ELSE 'stored' END,
       CASE WHEN r.i % 10 = 0 THEN NULL ELSE e.id END, length(e.body)
FROM (WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 5000)
      SELECT i FROM c) r
JOIN events e ON e.seq = (SELECT max(n - 5000, 0) FROM temp.p) + r.i
ORDER BY r.i;
COMMIT;

PRAGMA journal_mode = WAL;
