-- Contexts (issue 16): an organization's shared secrets. A workflow job naming a context
-- (`context: deploy`) gets its environment variables, after the project's, when the user who
-- started the pipeline may use it. Values are sealed like project env vars (the env keyring,
-- bound to the context's uuid and the variable's name).
CREATE TABLE contexts (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid       BLOB    NOT NULL UNIQUE,
    org_id     INTEGER NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name       TEXT    NOT NULL,
    created_at TEXT    NOT NULL,
    UNIQUE (org_id, name)
) STRICT;

CREATE TABLE context_env_vars (
    context_id INTEGER NOT NULL REFERENCES contexts (id) ON DELETE CASCADE,
    name       TEXT    NOT NULL,
    key_id     TEXT    NOT NULL,
    sealed     BLOB    NOT NULL,
    masked     TEXT    NOT NULL,
    created_at TEXT    NOT NULL,
    updated_at TEXT    NOT NULL,
    PRIMARY KEY (context_id, name)
) STRICT;
CREATE INDEX context_env_vars_key ON context_env_vars (key_id);

-- Who may use a context: within one kind any listed value admits, across kinds every kind
-- present must admit. `project`: the job's project (its uuid, text; no foreign key, so a
-- deleted project's restriction stays and admits nothing rather than vanishing and leaving the
-- context open). `role`: the starting user's role in the organization (read, write, admin).
CREATE TABLE context_restrictions (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid       BLOB    NOT NULL UNIQUE,
    context_id INTEGER NOT NULL REFERENCES contexts (id) ON DELETE CASCADE,
    kind       TEXT    NOT NULL CHECK (kind IN ('project', 'role')),
    value      TEXT    NOT NULL,
    created_at TEXT    NOT NULL,
    UNIQUE (context_id, kind, value)
) STRICT;

-- A job whose starter may not use one of its contexts ends `unauthorized` and runs nothing.
-- The CHECK constraints' text is edited as migration 0009 explains (SQLite cannot alter one).
PRAGMA writable_schema = ON;
UPDATE sqlite_schema
SET sql = replace(sql, '''timedout'', ''not_run'', ''on_hold'')', '''timedout'', ''not_run'', ''on_hold'', ''unauthorized'')')
WHERE type = 'table' AND name = 'jobs';
UPDATE sqlite_schema
SET sql = replace(sql, '''timedout'')', '''timedout'', ''unauthorized'')')
WHERE type = 'table' AND name = 'job_nodes';
PRAGMA writable_schema = RESET;
