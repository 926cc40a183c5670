-- Bulk filler for the benchmark's PostgreSQL data set (bench/run substitutes the {…} numbers).
-- Same shape as sqlite.sql: timestamps, specs and revisions copied from real rows; filler
-- builds are finished, so no runner ever claims them.
BEGIN;
INSERT INTO users (uuid, login, name, email, password_hash, site_admin, disabled, created_at)
VALUES (gen_random_uuid(), 'bench-filler', 'filler', 'filler@localhost', '!', FALSE, FALSE, now());

INSERT INTO projects (uuid, slug_key, vcs, org, repo, repo_url, default_branch, public, created_at,
                      next_pipeline_number, next_build_num)
SELECT gen_random_uuid(), 'gh/filler/p' || i, 'gh', 'filler', 'p' || i, 'file:///nonexistent', 'main',
       FALSE, now(), {BUILDS} + 1, {BUILDS} + 1
FROM generate_series(1, {PROJECTS}) AS i;

INSERT INTO pipelines (uuid, project_id, number, trigger_type, actor_id, actor_login, branch, tag,
                       revision, parameters, state, errors, created_at, updated_at, commit_info)
SELECT gen_random_uuid(), p.id, b.k, 'api', NULL, 'bench', 'main', NULL, s.revision, '{}', 'created', '[]',
       s.created_at, s.updated_at, s.commit_info
FROM projects p, generate_series(1, {BUILDS}) AS b(k), (SELECT * FROM pipelines ORDER BY id LIMIT 1) s
WHERE p.org = 'filler';

INSERT INTO workflows (uuid, pipeline_id, name, canceled, created_at)
SELECT gen_random_uuid(), pl.id, 'main', FALSE, pl.created_at
FROM pipelines pl JOIN projects p ON p.id = pl.project_id
WHERE p.org = 'filler';

INSERT INTO jobs (uuid, project_id, pipeline_id, workflow_id, build_num, name, requires, spec, state,
                  why, build_parameters, branch, tag, revision, queued_at, started_at, stopped_at)
SELECT gen_random_uuid(), pl.project_id, pl.id, w.id, pl.number, s.name, s.requires, s.spec, 'success',
       s.why, s.build_parameters, 'main', NULL, pl.revision, s.queued_at, s.started_at, s.stopped_at
FROM workflows w JOIN pipelines pl ON pl.id = w.pipeline_id JOIN projects p ON p.id = pl.project_id,
     (SELECT * FROM jobs WHERE state = 'success' ORDER BY id LIMIT 1) s
WHERE p.org = 'filler';

INSERT INTO api_tokens (uuid, kind, digest, last4, name, user_id, project_id, scope, created_by, created_at)
SELECT gen_random_uuid(), 'personal', sha256(('filler-personal-' || i)::bytea), 'fill', 'filler',
       (SELECT id FROM users WHERE login = 'bench-filler'), NULL, NULL, NULL, now()
FROM generate_series(1, {TOKENS}) AS i;

INSERT INTO api_tokens (uuid, kind, digest, last4, name, user_id, project_id, scope, created_by, created_at)
SELECT gen_random_uuid(), 'project', sha256(('filler-project-' || i)::bytea), 'fill', 'filler', NULL,
       f.first + (i % f.count), (ARRAY['status', 'view-builds', 'all'])[1 + i % 3], NULL, now()
FROM generate_series(1, {TOKENS}) AS i,
     (SELECT MIN(id) AS first, COUNT(*) AS count FROM projects WHERE org = 'filler') f;

INSERT INTO api_tokens (uuid, kind, digest, last4, name, user_id, project_id, scope, created_by, created_at)
SELECT gen_random_uuid(), 'runner', sha256(('filler-runner-' || i)::bytea), 'fill', 'filler', NULL, NULL,
       NULL, NULL, now()
FROM generate_series(1, {TOKENS}) AS i;
COMMIT;
ANALYZE;
