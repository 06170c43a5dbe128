-- The first bytes of a rejected request's body, when the config keeps them.
ALTER TABLE request_log ADD COLUMN body bytea;
