-- Builds started by forges' webhooks (issue 15).
--
-- CircleCI's "Advanced" project settings that decide what a webhook builds.
ALTER TABLE projects ADD COLUMN build_prs_only INTEGER NOT NULL DEFAULT 0 CHECK (build_prs_only IN (0, 1));
ALTER TABLE projects ADD COLUMN autocancel_builds INTEGER NOT NULL DEFAULT 0 CHECK (autocancel_builds IN (0, 1));
ALTER TABLE projects ADD COLUMN build_fork_prs INTEGER NOT NULL DEFAULT 0 CHECK (build_fork_prs IN (0, 1));
ALTER TABLE projects ADD COLUMN forks_receive_secrets INTEGER NOT NULL DEFAULT 0 CHECK (forks_receive_secrets IN (0, 1));

-- A project's webhook secret, sealed like an env var value (`key_id` names the key; the
-- associated data is the project's uuid and `webhook-secret`). One per project.
CREATE TABLE project_hook_secrets (
    project_id INTEGER PRIMARY KEY REFERENCES projects (id) ON DELETE CASCADE,
    key_id     TEXT    NOT NULL,
    sealed     BLOB    NOT NULL,
    created_at TEXT    NOT NULL
) STRICT;
CREATE INDEX project_hook_secrets_key ON project_hook_secrets (key_id);

-- Webhook deliveries whose signature held, with the body kept for "Redeliver". A forge's own
-- redelivery carries the same `delivery` id and is refused by the unique key.
CREATE TABLE hook_deliveries (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid          BLOB    NOT NULL UNIQUE,
    project_id    INTEGER NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    forge         TEXT    NOT NULL,
    delivery      TEXT    NOT NULL,
    event         TEXT    NOT NULL,
    body          BLOB    NOT NULL,
    received_at   TEXT    NOT NULL,
    outcome       TEXT    NOT NULL DEFAULT 'received' CHECK (outcome IN ('received', 'built', 'skipped', 'failed')),
    detail        TEXT    NOT NULL DEFAULT '',
    redelivery_of INTEGER REFERENCES hook_deliveries (id) ON DELETE SET NULL,
    UNIQUE (project_id, forge, delivery)
) STRICT;
CREATE INDEX hook_deliveries_recent ON hook_deliveries (project_id, id);

-- Pull requests as their last webhook told them.
CREATE TABLE pull_requests (
    project_id  INTEGER NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    number      INTEGER NOT NULL,
    head_branch TEXT    NOT NULL,
    head_sha    TEXT    NOT NULL,
    fork        INTEGER NOT NULL CHECK (fork IN (0, 1)),
    open        INTEGER NOT NULL CHECK (open IN (0, 1)),
    updated_at  TEXT    NOT NULL,
    PRIMARY KEY (project_id, number)
) STRICT;
CREATE INDEX pull_requests_branch ON pull_requests (project_id, head_branch);

-- A pipeline's pull request, the delivery that started it, and whether its jobs are kept from
-- the project's secrets (a forked pull request's).
ALTER TABLE pipelines ADD COLUMN pr_number INTEGER;
ALTER TABLE pipelines ADD COLUMN pr_url TEXT;
ALTER TABLE pipelines ADD COLUMN pr_head_repo TEXT;
ALTER TABLE pipelines ADD COLUMN pr_author TEXT;
ALTER TABLE pipelines ADD COLUMN pr_fork INTEGER NOT NULL DEFAULT 0 CHECK (pr_fork IN (0, 1));
ALTER TABLE pipelines ADD COLUMN fetch_ref TEXT;
ALTER TABLE pipelines ADD COLUMN secrets_withheld INTEGER NOT NULL DEFAULT 0 CHECK (secrets_withheld IN (0, 1));
ALTER TABLE pipelines ADD COLUMN delivery_id INTEGER REFERENCES hook_deliveries (id) ON DELETE SET NULL;
CREATE INDEX pipelines_delivery ON pipelines (delivery_id);
