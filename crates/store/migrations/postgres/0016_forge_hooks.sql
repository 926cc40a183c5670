-- Builds started by forges' webhooks (issue 15).
--
-- CircleCI's "Advanced" project settings that decide what a webhook builds.
ALTER TABLE projects ADD COLUMN build_prs_only BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE projects ADD COLUMN autocancel_builds BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE projects ADD COLUMN build_fork_prs BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE projects ADD COLUMN forks_receive_secrets BOOLEAN NOT NULL DEFAULT FALSE;

-- A project's webhook secret, sealed like an env var value (`key_id` names the key; the
-- associated data is the project's uuid and `webhook-secret`). One per project.
CREATE TABLE project_hook_secrets (
    project_id BIGINT      PRIMARY KEY REFERENCES projects (id) ON DELETE CASCADE,
    key_id     TEXT        NOT NULL,
    sealed     BYTEA       NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX project_hook_secrets_key ON project_hook_secrets (key_id);

-- Webhook deliveries whose signature held, with the body kept for "Redeliver". A forge's own
-- redelivery carries the same `delivery` id and is refused by the unique key.
CREATE TABLE hook_deliveries (
    id            BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    uuid          UUID        NOT NULL UNIQUE,
    project_id    BIGINT      NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    forge         TEXT        NOT NULL,
    delivery      TEXT        COLLATE "C" NOT NULL,
    event         TEXT        NOT NULL,
    body          BYTEA       NOT NULL,
    received_at   TIMESTAMPTZ NOT NULL,
    outcome       TEXT        NOT NULL DEFAULT 'received' CHECK (outcome IN ('received', 'built', 'skipped', 'failed')),
    detail        TEXT        NOT NULL DEFAULT '',
    redelivery_of BIGINT      REFERENCES hook_deliveries (id) ON DELETE SET NULL,
    UNIQUE (project_id, forge, delivery)
);
CREATE INDEX hook_deliveries_recent ON hook_deliveries (project_id, id);

-- Pull requests as their last webhook told them.
CREATE TABLE pull_requests (
    project_id  BIGINT      NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    number      BIGINT      NOT NULL,
    head_branch TEXT        COLLATE "C" NOT NULL,
    head_sha    TEXT        NOT NULL,
    fork        BOOLEAN     NOT NULL,
    open        BOOLEAN     NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (project_id, number)
);
CREATE INDEX pull_requests_branch ON pull_requests (project_id, head_branch);

-- A pipeline's pull request, the delivery that started it, and whether its jobs are kept from
-- the project's secrets (a forked pull request's).
ALTER TABLE pipelines ADD COLUMN pr_number BIGINT;
ALTER TABLE pipelines ADD COLUMN pr_url TEXT;
ALTER TABLE pipelines ADD COLUMN pr_head_repo TEXT;
ALTER TABLE pipelines ADD COLUMN pr_author TEXT;
ALTER TABLE pipelines ADD COLUMN pr_fork BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE pipelines ADD COLUMN fetch_ref TEXT;
ALTER TABLE pipelines ADD COLUMN secrets_withheld BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE pipelines ADD COLUMN delivery_id BIGINT REFERENCES hook_deliveries (id) ON DELETE SET NULL;
CREATE INDEX pipelines_delivery ON pipelines (delivery_id);
