-- What circlet tells others (issue 15): commit statuses back to the forge, and CircleCI's
-- outbound webhooks (API v2 `/webhook`).
--
-- A project's commit-status target: the forge's API, the repository there (owner/name; empty:
-- the project's), and an access token sealed like an env var value (`webhook-status-token`).
CREATE TABLE project_status_targets (
    project_id BIGINT      PRIMARY KEY REFERENCES projects (id) ON DELETE CASCADE,
    forge      TEXT        NOT NULL CHECK (forge IN ('github', 'gitea', 'gitlab')),
    api_url    TEXT        NOT NULL,
    repository TEXT        NOT NULL DEFAULT '',
    key_id     TEXT        NOT NULL,
    sealed     BYTEA       NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX project_status_targets_key ON project_status_targets (key_id);

-- Outbound webhooks, scope project; the signing secret sealed like an env var value.
CREATE TABLE outbound_webhooks (
    id         BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    uuid       UUID        NOT NULL UNIQUE,
    project_id BIGINT      NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name       TEXT        NOT NULL,
    url        TEXT        NOT NULL,
    verify_tls BOOLEAN     NOT NULL,
    events     TEXT        NOT NULL,
    key_id     TEXT        NOT NULL,
    sealed     BYTEA       NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
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
    id              BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project_id      BIGINT      NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    webhook_id      BIGINT      REFERENCES outbound_webhooks (id) ON DELETE CASCADE,
    kind            TEXT        NOT NULL CHECK (kind IN ('status', 'webhook')),
    event           TEXT        NOT NULL,
    url             TEXT        NOT NULL,
    body            TEXT        NOT NULL,
    state           TEXT        NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts        INTEGER     NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ NOT NULL,
    last_status     INTEGER,
    last_error      TEXT        NOT NULL DEFAULT '',
    created_at      TIMESTAMPTZ NOT NULL,
    delivered_at    TIMESTAMPTZ
);
CREATE INDEX outbox_due ON outbox (state, next_attempt_at);
CREATE INDEX outbox_project ON outbox (project_id, id);
