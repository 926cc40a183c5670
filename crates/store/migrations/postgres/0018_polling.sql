-- Polling (issue 15): a repository that cannot send webhooks is asked for its heads every
-- `poll_interval_secs` (NULL: never). `poll_next_at` is when it is next due; a replica polls
-- only by moving it on from the value it read, so one poll runs across all replicas.
ALTER TABLE projects ADD COLUMN poll_interval_secs BIGINT;
ALTER TABLE projects ADD COLUMN poll_next_at TIMESTAMPTZ;
CREATE INDEX projects_poll_due ON projects (poll_next_at);

-- The heads (refs/heads/*, refs/tags/*) the last poll saw, to tell what moved.
CREATE TABLE poll_heads (
    project_id BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    ref        TEXT   COLLATE "C" NOT NULL,
    sha        TEXT   NOT NULL,
    PRIMARY KEY (project_id, ref)
);
