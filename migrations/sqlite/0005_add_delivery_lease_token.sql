-- Fenced delivery results. A claim takes a new lease_token (lease_token + 1) with its lease; an
-- attempt's result is applied only while the delivery still holds that token and its lease
-- (no later claim, no reprocess, no release at start came in between). A result that arrives
-- too late is dropped instead of overwriting a newer state.
ALTER TABLE deliveries ADD COLUMN lease_token INTEGER NOT NULL DEFAULT 0;

-- When an operator last put the delivery back to pending (reprocess); NULL: never. The age of
-- the oldest pending delivery counts from coalesce(requeued_at, created_at), so a reprocessed
-- old delivery does not look as if it had waited since it was first created. The index leads
-- with status so that the planner reads the first pending entry on its own (a partial index
-- would lose to deliveries_status without ANALYZE statistics).
ALTER TABLE deliveries ADD COLUMN requeued_at INTEGER;
CREATE INDEX deliveries_pending_since ON deliveries (status, coalesce(requeued_at, created_at));
