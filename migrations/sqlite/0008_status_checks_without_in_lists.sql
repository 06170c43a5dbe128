-- hookvault: schema-edit
-- The status CHECK constraints of events (0001) and deliveries (0007) listed their values with
-- IN (...). SQLite evaluates an IN list of three or more constants by building a temporary
-- B-tree, and a CHECK runs on every INSERT and on every UPDATE of the column: for each ingested
-- event and each delivery row, and again for each delivery outcome. The same constraints as
-- comparisons joined by OR cost a few instructions: the temporary B-trees were about a sixth of
-- the writer thread's instructions per ingested event (valgrind --tool=callgrind).
--
-- A CHECK constraint's text can be changed in place, without rebuilding the table, by SQLite's
-- "simpler procedure" (https://www.sqlite.org/lang_altertable.html#otheralter): every row
-- satisfies the new constraints, which accept exactly the values the old ones did (the column
-- is TEXT NOT NULL, so an IN list and an OR of equalities compare alike). Because of the first
-- line, the migration runner (storage/sqlite/database.cc) reads schema_version before this
-- script, bumps it after, makes the connection parse the edited schema again and checks that
-- each table named below changed, all before COMMIT: a mistake rolls back and leaves the
-- database as it was.
PRAGMA writable_schema = ON;
UPDATE sqlite_schema
SET sql = replace(sql, 'CHECK (status IN (''pending'', ''delivered'', ''failed''))',
                  'CHECK (status = ''pending'' OR status = ''delivered'' OR status = ''failed'')')
WHERE type = 'table' AND name = 'events';
UPDATE sqlite_schema
SET sql = replace(sql, 'CHECK (status IN (''pending'', ''succeeded'', ''failed'', ''skipped''))',
                  'CHECK (status = ''pending'' OR status = ''succeeded'' OR status = ''failed'' OR status = ''skipped'')')
WHERE type = 'table' AND name = 'deliveries';
PRAGMA writable_schema = OFF;
