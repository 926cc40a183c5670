-- Dependency caches (`save_cache` / `restore_cache`) and workflow workspaces
-- (`persist_to_workspace` / `attach_workspace`). The archives (tar + zstd) live in the artifact
-- object store under `object`; a row is written only once its upload completed, so a listed
-- archive is whole. A cache key is saved once per project: a second save is skipped.

CREATE TABLE caches (
    id         BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project_id BIGINT      NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    cache_key  TEXT        COLLATE "C" NOT NULL,
    object     TEXT        NOT NULL,
    size       BIGINT      NOT NULL CHECK (size >= 0),
    build_num  BIGINT      NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    UNIQUE (project_id, cache_key)
);
CREATE INDEX caches_age ON caches (created_at);

CREATE TABLE workspace_layers (
    id          BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project_id  BIGINT      NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    workflow_id BIGINT      NOT NULL REFERENCES workflows (id) ON DELETE CASCADE,
    job_id      BIGINT      NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    object      TEXT        NOT NULL,
    size        BIGINT      NOT NULL CHECK (size >= 0),
    created_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX workspace_layers_workflow ON workspace_layers (workflow_id);
CREATE INDEX workspace_layers_age ON workspace_layers (created_at);

-- How long a project's caches and workspaces are kept (CircleCI's default: 15 days); a
-- project without a row keeps the default.
CREATE TABLE project_retention (
    project_id BIGINT  PRIMARY KEY REFERENCES projects (id) ON DELETE CASCADE,
    days       INTEGER NOT NULL CHECK (days BETWEEN 1 AND 365)
);
