-- What circlet tells others (issue 15): commit statuses back to the forge, and CircleCI's
-- outbound webhooks (API v2 `/webhook`).
--
-- A project's commit-status target: the forge's API, the repository there (owner/name; empty:
-- the project's), and an access token sealed like an env var value (`webhook-status-token`).
CREATE TABLE project_status_targets (
    project_id INTEGER PRIMARY KEY REFERENCES projects (id) ON DELETE CASCADE,
    forge      TEXT    NOT NULL CHECK (forge IN ('github', 'gitea', 'gitlab')),
    api_url    TEXT    NOT NULL,
    repository TEXT    NOT NULL DEFAULT '',
    key_id     TEXT    NOT NULL,
    sealed     BLOB    NOT NULL,
    created_at TEXT    NOT NULL
) STRICT;
CREATE INDEX project_status_targets_key ON project_status_targets (key_id);

-- Outbound webhooks, scope project; the signing secret sealed like an env var value.
CREATE TABLE outbound_webhooks (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid       BLOB    NOT NULL UNIQUE,
    project_id INTEGER NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name       TEXT    NOT NULL,
    url        TEXT    NOT NULL,
    verify_tls INTEGER NOT NULL CHECK (verify_tls IN (0, 1)),
    events     TEXT    NOT NULL,
    key_id     TEXT    NOT NULL,
    sealed     BLOB    NOT NULL,
    created_at TEXT    NOT NULL,
    updated_at TEXT    NOT NULL
) STRICT;
CREATE INDEX outbound_webhooks_project ON outbound_webhooks (project_id);
CREATE INDEX outbound_webhooks_key ON outbound_webhooks (key_id);

-- What a job's or workflow's state was last told as: the notifier tells every change once
-- (claimed by compare-and-set on these columns), whatever changed the state.
ALTER TABLE jobs ADD COLUMN notified_state TEXT;
ALTER TABLE workflows ADD COLUMN notified_status TEXT;
CREATE INDEX jobs_untold ON jobs (project_id) WHERE notified_state IS NULL OR notified_state <> state;

-- Every message to send: a commit status or a webhook event, retried with backoff until
-- delivered or given up; each row is a line of the delivery log.
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id      INTEGER NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    webhook_id      INTEGER REFERENCES outbound_webhooks (id) ON DELETE CASCADE,
    kind            TEXT    NOT NULL CHECK (kind IN ('status', 'webhook')),
    event           TEXT    NOT NULL,
    url             TEXT    NOT NULL,
    body            TEXT    NOT NULL,
    state           TEXT    NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT    NOT NULL,
    last_status     INTEGER,
    last_error      TEXT    NOT NULL DEFAULT '',
    created_at      TEXT    NOT NULL,
    delivered_at    TEXT
) STRICT;
CREATE INDEX outbox_due ON outbox (state, next_attempt_at);
CREATE INDEX outbox_project ON outbox (project_id, id);
