-- Nothing changes on PostgreSQL. SQLite's migration 0008 rewrites the status CHECK constraints
-- of events and deliveries without IN lists, which SQLite evaluates with a temporary B-tree on
-- every write; PostgreSQL evaluates an IN list of constants as a cheap array comparison. The
-- file keeps both backends' migrations numbered alike (PostgresMigrationsTest).
SELECT 1;
