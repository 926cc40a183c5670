-- Scheduled pipelines (issue 15): CircleCI's API v2 schedules (`source` 'api', `timetable` its
-- JSON) and a config's `triggers: - schedule: cron` (`source` 'config', `timetable` the cron
-- expression, one row per branch and workflow, replaced by each pipeline of that branch).
-- `next_run_at` is when it is next due; a replica fires a due schedule only by moving it on
-- from the value it read, so each run fires once however many replicas tick.
CREATE TABLE schedules (
    id          BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    uuid        UUID        NOT NULL UNIQUE,
    project_id  BIGINT      NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    source      TEXT        NOT NULL CHECK (source IN ('api', 'config')),
    name        TEXT        COLLATE "C" NOT NULL,
    description TEXT        NOT NULL DEFAULT '',
    timetable   TEXT        NOT NULL,
    parameters  TEXT        NOT NULL DEFAULT '{}',
    branch      TEXT,
    tag         TEXT,
    workflow    TEXT,
    actor_id    BIGINT      REFERENCES users (id) ON DELETE SET NULL,
    actor_login TEXT        NOT NULL,
    next_run_at TIMESTAMPTZ,
    last_run_at TIMESTAMPTZ,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL,
    UNIQUE (project_id, source, name)
);
CREATE INDEX schedules_due ON schedules (next_run_at);
