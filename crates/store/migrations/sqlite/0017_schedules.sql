-- Scheduled pipelines (issue 15): CircleCI's API v2 schedules (`source` 'api', `timetable` its
-- JSON) and a config's `triggers: - schedule: cron` (`source` 'config', `timetable` the cron
-- expression, one row per branch and workflow, replaced by each pipeline of that branch).
-- `next_run_at` is when it is next due; a replica fires a due schedule only by moving it on
-- from the value it read, so each run fires once however many replicas tick.
CREATE TABLE schedules (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid        BLOB    NOT NULL UNIQUE,
    project_id  INTEGER NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    source      TEXT    NOT NULL CHECK (source IN ('api', 'config')),
    name        TEXT    NOT NULL,
    description TEXT    NOT NULL DEFAULT '',
    timetable   TEXT    NOT NULL,
    parameters  TEXT    NOT NULL DEFAULT '{}',
    branch      TEXT,
    tag         TEXT,
    workflow    TEXT,
    actor_id    INTEGER REFERENCES users (id) ON DELETE SET NULL,
    actor_login TEXT    NOT NULL,
    next_run_at TEXT,
    last_run_at TEXT,
    created_at  TEXT    NOT NULL,
    updated_at  TEXT    NOT NULL,
    UNIQUE (project_id, source, name)
) STRICT;
CREATE INDEX schedules_due ON schedules (next_run_at);
