-- Rejected requests first: partial indexes that accepted requests never enter.
CREATE INDEX request_log_rejected_id ON request_log (id) WHERE status >= 400;
CREATE INDEX request_log_rejected_source_id ON request_log (source, id) WHERE status >= 400;
