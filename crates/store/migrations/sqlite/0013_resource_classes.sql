-- Self-hosted runner resource classes (`namespace/name`), as on CircleCI: a runner token may be
-- bound to one class, and then claims only jobs whose `resource_class` names it; a token without
-- a class serves the default pool (jobs without a self-hosted class). A class in use cannot be
-- deleted: its runners would fall into the default pool.
CREATE TABLE resource_classes (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT    NOT NULL UNIQUE,
    description TEXT    NOT NULL DEFAULT '',
    created_at  TEXT    NOT NULL
) STRICT;

CREATE TABLE runner_token_classes (
    token_id INTEGER PRIMARY KEY REFERENCES api_tokens (id) ON DELETE CASCADE,
    class_id INTEGER NOT NULL REFERENCES resource_classes (id) ON DELETE RESTRICT
) STRICT;

-- The last contact of each runner (per token): what it calls itself, its version and address,
-- when it first and last asked for work.
CREATE TABLE runner_contacts (
    token_id   INTEGER PRIMARY KEY REFERENCES api_tokens (id) ON DELETE CASCADE,
    name       TEXT    NOT NULL,
    version    TEXT    NOT NULL,
    address    TEXT    NOT NULL,
    first_seen TEXT    NOT NULL,
    last_seen  TEXT    NOT NULL
) STRICT;

-- The self-hosted class a job must run on (NULL: the default pool).
ALTER TABLE jobs ADD COLUMN resource_class TEXT;
CREATE INDEX jobs_class_queue ON jobs (state, resource_class, id);
