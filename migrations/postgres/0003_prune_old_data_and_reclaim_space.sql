-- Retention prunes by status and age. (SQLite's version also turns on incremental vacuum;
-- PostgreSQL's autovacuum returns the space of pruned rows for reuse.)
CREATE INDEX IF NOT EXISTS events_status_received_at ON events (status, received_at);
