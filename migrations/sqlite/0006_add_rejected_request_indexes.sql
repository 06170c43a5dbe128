-- The rejected ingest requests (answered 400 or more): GET /api/v1/requests?rejected=true, the
-- list that answers "why didn't my webhook arrive?". Partial indexes: an accepted request (the
-- ingest hot path) enters neither, so they cost ingest nothing; a rejected one enters both.
-- With them the list walks only rejected rows, newest first, however many accepted rows lie
-- between them (request_log_source alone would walk every request of the source).
CREATE INDEX request_log_rejected_id ON request_log (id) WHERE status >= 400;
CREATE INDEX request_log_rejected_source_id ON request_log (source, id) WHERE status >= 400;
