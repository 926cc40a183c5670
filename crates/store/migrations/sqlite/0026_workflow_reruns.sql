-- Rerunning a workflow (issue 17): a rerun is a new workflow of the same pipeline. "From failed"
-- reruns the jobs that did not succeed and what requires them; every other job is copied into
-- the new workflow with its result, and `kept_from` names the build whose result it keeps.
ALTER TABLE jobs ADD COLUMN kept_from INTEGER;
