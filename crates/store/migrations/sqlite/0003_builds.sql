-- Pipelines → workflows → jobs (a job is a v1.1 "build"), their steps, output and test results.
-- A job's state is one canonical name (see circlet_core::build_state); both APIs derive from it.

ALTER TABLE projects ADD COLUMN next_pipeline_number INTEGER NOT NULL DEFAULT 1;
ALTER TABLE projects ADD COLUMN next_build_num INTEGER NOT NULL DEFAULT 1;

CREATE TABLE pipelines (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid         BLOB    NOT NULL UNIQUE,
    project_id   INTEGER NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    number       INTEGER NOT NULL,
    trigger_type TEXT    NOT NULL,
    actor_id     INTEGER REFERENCES users (id) ON DELETE SET NULL,
    actor_login  TEXT    NOT NULL,
    branch       TEXT,
    tag          TEXT,
    revision     TEXT    NOT NULL,
    parameters   TEXT    NOT NULL DEFAULT '{}',
    state        TEXT    NOT NULL CHECK (state IN ('created', 'errored')),
    errors       TEXT    NOT NULL DEFAULT '[]',
    created_at   TEXT    NOT NULL,
    updated_at   TEXT    NOT NULL,
    UNIQUE (project_id, number)
) STRICT;

CREATE TABLE workflows (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid        BLOB    NOT NULL UNIQUE,
    pipeline_id INTEGER NOT NULL REFERENCES pipelines (id) ON DELETE CASCADE,
    name        TEXT    NOT NULL,
    canceled    INTEGER NOT NULL DEFAULT 0 CHECK (canceled IN (0, 1)),
    created_at  TEXT    NOT NULL
) STRICT;
CREATE INDEX workflows_pipeline ON workflows (pipeline_id);

CREATE TABLE jobs (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid             BLOB    NOT NULL UNIQUE,
    project_id       INTEGER NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    pipeline_id      INTEGER NOT NULL REFERENCES pipelines (id) ON DELETE CASCADE,
    workflow_id      INTEGER NOT NULL REFERENCES workflows (id) ON DELETE CASCADE,
    build_num        INTEGER NOT NULL,
    name             TEXT    NOT NULL,
    requires         TEXT    NOT NULL DEFAULT '[]',
    spec             TEXT    NOT NULL,
    state            TEXT    NOT NULL CHECK (state IN ('blocked', 'queued', 'running', 'success', 'failed',
                                                       'canceled', 'infrastructure_fail', 'timedout', 'not_run')),
    why              TEXT    NOT NULL,
    retry_of         INTEGER,
    build_parameters TEXT    NOT NULL DEFAULT '{}',
    branch           TEXT,
    tag              TEXT,
    revision         TEXT    NOT NULL,
    queued_at        TEXT    NOT NULL,
    started_at       TEXT,
    stopped_at       TEXT,
    runner_id        INTEGER REFERENCES api_tokens (id) ON DELETE SET NULL,
    heartbeat_at     TEXT,
    cancel_requested INTEGER NOT NULL DEFAULT 0 CHECK (cancel_requested IN (0, 1)),
    UNIQUE (project_id, build_num)
) STRICT;
CREATE INDEX jobs_queue ON jobs (state, id);
CREATE INDEX jobs_workflow ON jobs (workflow_id);
CREATE INDEX jobs_project_branch ON jobs (project_id, branch, build_num);

CREATE TABLE job_steps (
    job_id     INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    idx        INTEGER NOT NULL,
    name       TEXT    NOT NULL,
    state      TEXT    NOT NULL,
    exit_code  INTEGER,
    started_at TEXT    NOT NULL,
    stopped_at TEXT,
    PRIMARY KEY (job_id, idx)
) STRICT;

CREATE TABLE job_output (
    job_id   INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    step_idx INTEGER NOT NULL,
    seq      INTEGER NOT NULL,
    at       TEXT    NOT NULL,
    text     TEXT    NOT NULL,
    PRIMARY KEY (job_id, step_idx, seq)
) STRICT;

CREATE TABLE job_tests (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id    INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    classname TEXT    NOT NULL,
    name      TEXT    NOT NULL,
    file      TEXT,
    result    TEXT    NOT NULL,
    message   TEXT,
    run_time  REAL    NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX job_tests_job ON job_tests (job_id);
