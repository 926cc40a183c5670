-- Approval jobs (`type: approval`): the workflow waits at them, in the new state `on_hold`,
-- until someone approves. And what each of a job's requirements must have ended as
-- (`requires: [build: [success, failed]]`): a JSON array parallel to `requires`, each entry the
-- accepted ends joined with commas; missing entries mean `success`.

ALTER TABLE jobs DROP CONSTRAINT jobs_state_check;
ALTER TABLE jobs ADD CONSTRAINT jobs_state_check CHECK (state IN ('blocked', 'queued', 'running', 'success',
    'failed', 'canceled', 'infrastructure_fail', 'timedout', 'not_run', 'on_hold'));
ALTER TABLE jobs ADD COLUMN approval BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE jobs ADD COLUMN accepts TEXT NOT NULL DEFAULT '[]';
ALTER TABLE jobs ADD COLUMN approved_by TEXT;
