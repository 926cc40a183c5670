-- Bulk filler for the benchmark's SQLite data set (bench/run substitutes the {…} numbers).
-- It copies timestamps, specs and revisions from rows the real server wrote, so the filler
-- looks like what circlet writes. Filler builds are finished, so no runner ever claims them.
PRAGMA foreign_keys = ON;
BEGIN;
INSERT INTO users (uuid, login, name, email, password_hash, site_admin, disabled, created_at)
SELECT randomblob(16), 'bench-filler', 'filler', 'filler@localhost', '!', 0, 0, created_at
FROM users LIMIT 1;

WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {PROJECTS})
INSERT INTO projects (uuid, slug_key, vcs, org, repo, repo_url, default_branch, public, created_at,
                      next_pipeline_number, next_build_num)
SELECT randomblob(16), 'gh/filler/p' || i, 'gh', 'filler', 'p' || i, 'file:///nonexistent', 'main', 0,
       (SELECT created_at FROM users LIMIT 1), {BUILDS} + 1, {BUILDS} + 1
FROM n;

WITH RECURSIVE b(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM b WHERE k < {BUILDS})
INSERT INTO pipelines (uuid, project_id, number, trigger_type, actor_id, actor_login, branch, tag,
                       revision, parameters, state, errors, created_at, updated_at, commit_info)
SELECT randomblob(16), p.id, b.k, 'api', NULL, 'bench', 'main', NULL, s.revision, '{}', 'created', '[]',
       s.created_at, s.updated_at, s.commit_info
FROM projects p, b, (SELECT * FROM pipelines ORDER BY id LIMIT 1) s
WHERE p.org = 'filler';

INSERT INTO workflows (uuid, pipeline_id, name, canceled, created_at)
SELECT randomblob(16), pl.id, 'main', 0, pl.created_at
FROM pipelines pl JOIN projects p ON p.id = pl.project_id
WHERE p.org = 'filler';

INSERT INTO jobs (uuid, project_id, pipeline_id, workflow_id, build_num, name, requires, spec, state,
                  why, build_parameters, branch, tag, revision, queued_at, started_at, stopped_at)
SELECT randomblob(16), pl.project_id, pl.id, w.id, pl.number, s.name, s.requires, s.spec, 'success',
       s.why, s.build_parameters, 'main', NULL, pl.revision, s.queued_at, s.started_at, s.stopped_at
FROM workflows w JOIN pipelines pl ON pl.id = w.pipeline_id JOIN projects p ON p.id = pl.project_id,
     (SELECT * FROM jobs WHERE state = 'success' ORDER BY id LIMIT 1) s
WHERE p.org = 'filler';

WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {TOKENS})
INSERT INTO api_tokens (uuid, kind, digest, last4, name, user_id, project_id, scope, created_by, created_at)
SELECT randomblob(16), 'personal', randomblob(32), 'fill', 'filler',
       (SELECT id FROM users WHERE login = 'bench-filler'), NULL, NULL, NULL,
       (SELECT created_at FROM users LIMIT 1)
FROM n;

WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {TOKENS}),
     f(first, count) AS (SELECT MIN(id), COUNT(*) FROM projects WHERE org = 'filler')
INSERT INTO api_tokens (uuid, kind, digest, last4, name, user_id, project_id, scope, created_by, created_at)
SELECT randomblob(16), 'project', randomblob(32), 'fill', 'filler', NULL, f.first + (i % f.count),
       CASE i % 3 WHEN 0 THEN 'status' WHEN 1 THEN 'view-builds' ELSE 'all' END, NULL,
       (SELECT created_at FROM users LIMIT 1)
FROM n, f;

WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {TOKENS})
INSERT INTO api_tokens (uuid, kind, digest, last4, name, user_id, project_id, scope, created_by, created_at)
SELECT randomblob(16), 'runner', randomblob(32), 'fill', 'filler', NULL, NULL, NULL, NULL,
       (SELECT created_at FROM users LIMIT 1)
FROM n;
COMMIT;
ANALYZE;
