-- hookvault: no-transaction
-- Retention (server/retention.h): what pruning needs, and the free pages it leaves going back
-- to the file system.
--
-- This migration runs outside a transaction (the marker on the first line), because VACUUM
-- cannot run inside one. Each statement is idempotent, so a crash before the migration is
-- recorded only repeats it.

-- Prunes delivered and failed events oldest first through this index alone: with
-- events_status_seq every batch would walk the young events of that status too.
CREATE INDEX IF NOT EXISTS events_status_received_at ON events (status, received_at);

-- auto_vacuum can only be switched on before the first table exists (OpenDatabase cannot know
-- that a file is new) or by a VACUUM, which rewrites the whole file once: on a database that
-- already holds data, this takes time and free disk space about the size of the database.
-- Afterwards, PRAGMA incremental_vacuum returns the pages pruning freed, a few at a time.
PRAGMA auto_vacuum = INCREMENTAL;
VACUUM;
