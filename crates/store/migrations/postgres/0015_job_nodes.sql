-- Parallelism (`parallelism: N`): a job runs as N nodes, each claimed by a runner of its own,
-- with its own steps, output and test results. `jobs.state` stays the job's combined state:
-- `running` from its first node's claim, final when every claimed node has ended (and all N
-- were claimed, or the job was canceled). `jobs.runner_id` and `jobs.heartbeat_at` are no
-- longer written: a node's runner and heartbeat are in `job_nodes` (kept, as on SQLite, which
-- cannot drop them, so both backends have one schema).
ALTER TABLE jobs ADD COLUMN parallelism BIGINT NOT NULL DEFAULT 1 CHECK (parallelism BETWEEN 1 AND 256);
ALTER TABLE jobs ADD COLUMN nodes_claimed BIGINT NOT NULL DEFAULT 0;

-- One row per claimed node. Node 0 carries the job's own uuid (a single-node job looks to a
-- runner exactly as before); the others get one each. A runner names its node by that uuid.
CREATE TABLE job_nodes (
    job_id       BIGINT      NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    node_index   BIGINT      NOT NULL CHECK (node_index >= 0),
    uuid         UUID        NOT NULL UNIQUE,
    state        TEXT        NOT NULL CHECK (state IN ('running', 'success', 'failed', 'canceled',
                                                       'infrastructure_fail', 'timedout')),
    runner_id    BIGINT      REFERENCES api_tokens (id) ON DELETE SET NULL,
    started_at   TIMESTAMPTZ NOT NULL,
    stopped_at   TIMESTAMPTZ,
    heartbeat_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (job_id, node_index)
);
CREATE INDEX job_nodes_live ON job_nodes (state, heartbeat_at);
CREATE INDEX job_nodes_runner ON job_nodes (runner_id, state);

INSERT INTO job_nodes (job_id, node_index, uuid, state, runner_id, started_at, stopped_at, heartbeat_at)
    SELECT id, 0, uuid, state, runner_id, started_at, stopped_at, COALESCE(heartbeat_at, started_at)
    FROM jobs
    WHERE started_at IS NOT NULL
      AND state IN ('running', 'success', 'failed', 'canceled', 'infrastructure_fail', 'timedout');
UPDATE jobs SET nodes_claimed = 1 WHERE id IN (SELECT job_id FROM job_nodes);

-- Steps and their output are per node: the key grows a `node_index`.
ALTER TABLE job_steps ADD COLUMN node_index BIGINT NOT NULL DEFAULT 0;
ALTER TABLE job_steps DROP CONSTRAINT job_steps_pkey, ADD PRIMARY KEY (job_id, node_index, idx);
ALTER TABLE job_output ADD COLUMN node_index BIGINT NOT NULL DEFAULT 0;
ALTER TABLE job_output DROP CONSTRAINT job_output_pkey, ADD PRIMARY KEY (job_id, node_index, step_idx, seq);

ALTER TABLE job_tests ADD COLUMN node_index BIGINT NOT NULL DEFAULT 0;
