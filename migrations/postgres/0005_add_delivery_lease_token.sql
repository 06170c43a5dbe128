-- Each claim takes a new lease token: an attempt's outcome is applied only under the token of
-- the claim that made it (fencing), so a node that lost its lease can never overwrite a newer
-- state. requeued_at: when an operator last put the delivery back to pending.
ALTER TABLE deliveries ADD COLUMN lease_token bigint NOT NULL DEFAULT 0;
ALTER TABLE deliveries ADD COLUMN requeued_at bigint;
CREATE INDEX deliveries_pending_since ON deliveries (status, coalesce(requeued_at, created_at));
-- Expired leases are found by this (a node that died holds them until they expire).
CREATE INDEX deliveries_leased ON deliveries (lease_expires_at) WHERE lease_expires_at IS NOT NULL;
