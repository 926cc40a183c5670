-- Approval jobs (`type: approval`): the workflow waits at them, in the new state `on_hold`,
-- until someone approves. And what each of a job's requirements must have ended as
-- (`requires: [build: [success, failed]]`): a JSON array parallel to `requires`, each entry the
-- accepted ends joined with commas; missing entries mean `success`.
--
-- SQLite cannot change a CHECK constraint with ALTER TABLE, and rebuilding `jobs` needs foreign
-- keys off (dropping it would otherwise delete every job's steps, output and artifacts), which
-- cannot be switched inside the transaction a migration runs in. So the CHECK's text is edited
-- in the schema, as SQLite's documentation allows for CHECK constraints (the rows on disk do not
-- change): after the ALTER TABLEs, which change the schema cookie (so every other connection
-- reads the schema again), and followed by `writable_schema = RESET`, which makes this one read
-- it again too.

ALTER TABLE jobs ADD COLUMN approval INTEGER NOT NULL DEFAULT 0 CHECK (approval IN (0, 1));
ALTER TABLE jobs ADD COLUMN accepts TEXT NOT NULL DEFAULT '[]';
ALTER TABLE jobs ADD COLUMN approved_by TEXT;

PRAGMA writable_schema = ON;
UPDATE sqlite_schema
SET sql = replace(sql, '''timedout'', ''not_run'')', '''timedout'', ''not_run'', ''on_hold'')')
WHERE type = 'table' AND name = 'jobs';
PRAGMA writable_schema = RESET;
