-- The first bytes of a rejected ingest request's raw body, so that operators can see what a
-- misconfigured provider sent. NULL when not kept: the switch (request_log.keep_rejected_bodies)
-- is off by default, and accepted requests never keep it (their event holds the body).
ALTER TABLE request_log ADD COLUMN body BLOB;
