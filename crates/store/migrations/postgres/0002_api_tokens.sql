-- API tokens (personal, project, runner), their recent use, the audit log, instance settings.
-- A token is stored only as its SHA-256 digest plus its last 4 characters for display.

CREATE TABLE api_tokens (
    id           BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    uuid         UUID        NOT NULL UNIQUE,
    kind         TEXT        NOT NULL CHECK (kind IN ('personal', 'project', 'runner')),
    digest       BYTEA       NOT NULL UNIQUE,
    last4        TEXT        NOT NULL,
    name         TEXT        NOT NULL,
    user_id      BIGINT      REFERENCES users (id) ON DELETE CASCADE,
    project_id   BIGINT      REFERENCES projects (id) ON DELETE CASCADE,
    scope        TEXT        CHECK (scope IN ('status', 'view-builds', 'all')),
    created_by   BIGINT      REFERENCES users (id) ON DELETE SET NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    expires_at   TIMESTAMPTZ,
    last_used_at TIMESTAMPTZ,
    last_used_from TEXT      NOT NULL DEFAULT '',
    CHECK ((kind = 'personal' AND user_id IS NOT NULL AND project_id IS NULL AND scope IS NULL)
        OR (kind = 'project' AND project_id IS NOT NULL AND scope IS NOT NULL)
        OR (kind = 'runner' AND project_id IS NULL AND scope IS NULL))
);
CREATE INDEX api_tokens_user ON api_tokens (user_id) WHERE kind = 'personal';
CREATE INDEX api_tokens_project ON api_tokens (project_id);

-- Per token and kind of request: how many and when last, flushed in batches off the request path.
CREATE TABLE api_token_usage (
    token_id     BIGINT      NOT NULL REFERENCES api_tokens (id) ON DELETE CASCADE,
    request_kind TEXT        NOT NULL,
    count        BIGINT      NOT NULL,
    last_at      TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (token_id, request_kind)
);

CREATE TABLE audit_log (
    id          BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at          TIMESTAMPTZ NOT NULL,
    event       TEXT        NOT NULL,
    actor_id    BIGINT      REFERENCES users (id) ON DELETE SET NULL,
    actor_login TEXT        NOT NULL DEFAULT '',
    owner_id    BIGINT      REFERENCES users (id) ON DELETE SET NULL,
    project_id  BIGINT      REFERENCES projects (id) ON DELETE SET NULL,
    token_uuid  UUID,
    address     TEXT        NOT NULL DEFAULT '',
    detail      TEXT        NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_at ON audit_log (at);

CREATE TABLE instance_settings (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
