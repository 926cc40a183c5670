-- Contexts (issue 16): an organization's shared secrets. A workflow job naming a context
-- (`context: deploy`) gets its environment variables, after the project's, when the user who
-- started the pipeline may use it. Values are sealed like project env vars (the env keyring,
-- bound to the context's uuid and the variable's name).
CREATE TABLE contexts (
    id         BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    uuid       UUID        NOT NULL UNIQUE,
    org_id     BIGINT      NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name       TEXT        COLLATE "C" NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    UNIQUE (org_id, name)
);

CREATE TABLE context_env_vars (
    context_id BIGINT      NOT NULL REFERENCES contexts (id) ON DELETE CASCADE,
    name       TEXT        COLLATE "C" NOT NULL,
    key_id     TEXT        NOT NULL,
    sealed     BYTEA       NOT NULL,
    masked     TEXT        NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (context_id, name)
);
CREATE INDEX context_env_vars_key ON context_env_vars (key_id);

-- Who may use a context: within one kind any listed value admits, across kinds every kind
-- present must admit. `project`: the job's project (its uuid, text; no foreign key, so a
-- deleted project's restriction stays and admits nothing rather than vanishing and leaving the
-- context open). `role`: the starting user's role in the organization (read, write, admin).
CREATE TABLE context_restrictions (
    id         BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    uuid       UUID        NOT NULL UNIQUE,
    context_id BIGINT      NOT NULL REFERENCES contexts (id) ON DELETE CASCADE,
    kind       TEXT        NOT NULL CHECK (kind IN ('project', 'role')),
    value      TEXT        COLLATE "C" NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    UNIQUE (context_id, kind, value)
);

-- A job whose starter may not use one of its contexts ends `unauthorized` and runs nothing.
ALTER TABLE jobs DROP CONSTRAINT jobs_state_check;
ALTER TABLE jobs ADD CONSTRAINT jobs_state_check CHECK (state IN ('blocked', 'queued', 'running', 'success',
    'failed', 'canceled', 'infrastructure_fail', 'timedout', 'not_run', 'on_hold', 'unauthorized'));
ALTER TABLE job_nodes DROP CONSTRAINT job_nodes_state_check;
ALTER TABLE job_nodes ADD CONSTRAINT job_nodes_state_check CHECK (state IN ('running', 'success', 'failed',
    'canceled', 'infrastructure_fail', 'timedout', 'unauthorized'));
