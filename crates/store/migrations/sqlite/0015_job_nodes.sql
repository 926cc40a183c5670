-- Parallelism (`parallelism: N`): a job runs as N nodes, each claimed by a runner of its own,
-- with its own steps, output and test results. `jobs.state` stays the job's combined state:
-- `running` from its first node's claim, final when every claimed node has ended (and all N
-- were claimed, or the job was canceled). `jobs.runner_id` and `jobs.heartbeat_at` are no
-- longer written: a node's runner and heartbeat are in `job_nodes` (SQLite cannot drop a
-- column that is part of a foreign key).
ALTER TABLE jobs ADD COLUMN parallelism INTEGER NOT NULL DEFAULT 1 CHECK (parallelism BETWEEN 1 AND 256);
ALTER TABLE jobs ADD COLUMN nodes_claimed INTEGER NOT NULL DEFAULT 0;

-- One row per claimed node. Node 0 carries the job's own uuid (a single-node job looks to a
-- runner exactly as before); the others get one each. A runner names its node by that uuid.
CREATE TABLE job_nodes (
    job_id       INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    node_index   INTEGER NOT NULL CHECK (node_index >= 0),
    uuid         BLOB    NOT NULL UNIQUE,
    state        TEXT    NOT NULL CHECK (state IN ('running', 'success', 'failed', 'canceled',
                                                   'infrastructure_fail', 'timedout')),
    runner_id    INTEGER REFERENCES api_tokens (id) ON DELETE SET NULL,
    started_at   TEXT    NOT NULL,
    stopped_at   TEXT,
    heartbeat_at TEXT    NOT NULL,
    PRIMARY KEY (job_id, node_index)
) STRICT;
CREATE INDEX job_nodes_live ON job_nodes (state, heartbeat_at);
CREATE INDEX job_nodes_runner ON job_nodes (runner_id, state);

INSERT INTO job_nodes (job_id, node_index, uuid, state, runner_id, started_at, stopped_at, heartbeat_at)
    SELECT id, 0, uuid, state, runner_id, started_at, stopped_at, COALESCE(heartbeat_at, started_at)
    FROM jobs
    WHERE started_at IS NOT NULL
      AND state IN ('running', 'success', 'failed', 'canceled', 'infrastructure_fail', 'timedout');
UPDATE jobs SET nodes_claimed = 1 WHERE id IN (SELECT job_id FROM job_nodes);

-- Steps and their output are per node: the key grows a `node_index` (tables rebuilt, as
-- SQLite cannot change a primary key in place).
CREATE TABLE job_steps_by_node (
    job_id       INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    node_index   INTEGER NOT NULL DEFAULT 0,
    idx          INTEGER NOT NULL,
    name         TEXT    NOT NULL,
    state        TEXT    NOT NULL,
    exit_code    INTEGER,
    started_at   TEXT    NOT NULL,
    stopped_at   TEXT,
    output_bytes INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (job_id, node_index, idx)
) STRICT;
INSERT INTO job_steps_by_node (job_id, node_index, idx, name, state, exit_code, started_at, stopped_at, output_bytes)
    SELECT job_id, 0, idx, name, state, exit_code, started_at, stopped_at, output_bytes FROM job_steps;
DROP TABLE job_steps;
ALTER TABLE job_steps_by_node RENAME TO job_steps;

CREATE TABLE job_output_by_node (
    job_id     INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    node_index INTEGER NOT NULL DEFAULT 0,
    step_idx   INTEGER NOT NULL,
    seq        INTEGER NOT NULL,
    at         TEXT    NOT NULL,
    text       TEXT    NOT NULL,
    PRIMARY KEY (job_id, node_index, step_idx, seq)
) STRICT;
INSERT INTO job_output_by_node (job_id, node_index, step_idx, seq, at, text)
    SELECT job_id, 0, step_idx, seq, at, text FROM job_output;
DROP TABLE job_output;
ALTER TABLE job_output_by_node RENAME TO job_output;

ALTER TABLE job_tests ADD COLUMN node_index INTEGER NOT NULL DEFAULT 0;
