-- Pipelines → workflows → jobs (a job is a v1.1 "build"), their steps, output and test results.
-- A job's state is one canonical name (see circlet_core::build_state); both APIs derive from it.

ALTER TABLE projects ADD COLUMN next_pipeline_number BIGINT NOT NULL DEFAULT 1;
ALTER TABLE projects ADD COLUMN next_build_num BIGINT NOT NULL DEFAULT 1;

CREATE TABLE pipelines (
    id           BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    uuid         UUID    NOT NULL UNIQUE,
    project_id   BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    number       BIGINT  NOT NULL,
    trigger_type TEXT    NOT NULL,
    actor_id     BIGINT REFERENCES users (id) ON DELETE SET NULL,
    actor_login  TEXT    NOT NULL,
    branch       TEXT,
    tag          TEXT,
    revision     TEXT    NOT NULL,
    parameters   TEXT    NOT NULL DEFAULT '{}',
    state        TEXT    NOT NULL CHECK (state IN ('created', 'errored')),
    errors       TEXT    NOT NULL DEFAULT '[]',
    created_at   TIMESTAMPTZ    NOT NULL,
    updated_at   TIMESTAMPTZ    NOT NULL,
    UNIQUE (project_id, number)
);

CREATE TABLE workflows (
    id          BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    uuid        UUID    NOT NULL UNIQUE,
    pipeline_id BIGINT NOT NULL REFERENCES pipelines (id) ON DELETE CASCADE,
    name        TEXT    NOT NULL,
    canceled    BOOLEAN NOT NULL DEFAULT FALSE,
    created_at  TIMESTAMPTZ    NOT NULL
);
CREATE INDEX workflows_pipeline ON workflows (pipeline_id);

CREATE TABLE jobs (
    id               BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    uuid             UUID    NOT NULL UNIQUE,
    project_id       BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    pipeline_id      BIGINT NOT NULL REFERENCES pipelines (id) ON DELETE CASCADE,
    workflow_id      BIGINT NOT NULL REFERENCES workflows (id) ON DELETE CASCADE,
    build_num        BIGINT  NOT NULL,
    name             TEXT    NOT NULL,
    requires         TEXT    NOT NULL DEFAULT '[]',
    spec             TEXT    NOT NULL,
    state            TEXT    NOT NULL CHECK (state IN ('blocked', 'queued', 'running', 'success', 'failed',
                                                       'canceled', 'infrastructure_fail', 'timedout', 'not_run')),
    why              TEXT    NOT NULL,
    retry_of         BIGINT,
    build_parameters TEXT    NOT NULL DEFAULT '{}',
    branch           TEXT,
    tag              TEXT,
    revision         TEXT    NOT NULL,
    queued_at        TIMESTAMPTZ    NOT NULL,
    started_at       TIMESTAMPTZ,
    stopped_at       TIMESTAMPTZ,
    runner_id        BIGINT REFERENCES api_tokens (id) ON DELETE SET NULL,
    heartbeat_at     TIMESTAMPTZ,
    cancel_requested BOOLEAN NOT NULL DEFAULT FALSE,
    UNIQUE (project_id, build_num)
);
CREATE INDEX jobs_queue ON jobs (state, id);
CREATE INDEX jobs_workflow ON jobs (workflow_id);
CREATE INDEX jobs_project_branch ON jobs (project_id, branch, build_num);

CREATE TABLE job_steps (
    job_id     BIGINT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    idx        BIGINT  NOT NULL,
    name       TEXT    NOT NULL,
    state      TEXT    NOT NULL,
    exit_code  INTEGER,
    started_at TIMESTAMPTZ    NOT NULL,
    stopped_at TIMESTAMPTZ,
    PRIMARY KEY (job_id, idx)
);

CREATE TABLE job_output (
    job_id   BIGINT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    step_idx BIGINT  NOT NULL,
    seq      BIGINT  NOT NULL,
    at       TIMESTAMPTZ    NOT NULL,
    text     TEXT    NOT NULL,
    PRIMARY KEY (job_id, step_idx, seq)
);

CREATE TABLE job_tests (
    id        BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job_id    BIGINT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    classname TEXT    NOT NULL,
    name      TEXT    NOT NULL,
    file      TEXT,
    result    TEXT    NOT NULL,
    message   TEXT,
    run_time  DOUBLE PRECISION NOT NULL DEFAULT 0
);
CREATE INDEX job_tests_job ON job_tests (job_id);
