-- Fine-grained personal tokens (issue 16): a personal token may be limited to listed projects
-- or one organization, and to a role ceiling. No limit (NULL, 0) is a token's full rights, as
-- every token made before had. A token is never modified, so its limits are written with it.
-- `limited_to_projects` marks a project list even when deletions have emptied it: an empty list
-- reaches no project, never every project. An organization's deletion takes its tokens along.
ALTER TABLE api_tokens ADD COLUMN role_ceiling TEXT CHECK (role_ceiling IN ('read', 'write', 'admin'));
ALTER TABLE api_tokens ADD COLUMN limit_organization_id INTEGER REFERENCES organizations (id) ON DELETE CASCADE;
ALTER TABLE api_tokens ADD COLUMN limited_to_projects INTEGER NOT NULL DEFAULT 0 CHECK (limited_to_projects IN (0, 1));

-- The projects a token limited to projects reaches.
CREATE TABLE api_token_projects (
    token_id   INTEGER NOT NULL REFERENCES api_tokens (id) ON DELETE CASCADE,
    project_id INTEGER NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    PRIMARY KEY (token_id, project_id)
) STRICT;
CREATE INDEX api_token_projects_project ON api_token_projects (project_id);

-- The projects a personal token was used on, and when last: what the narrower-scope hint
-- suggests limiting it to. Flushed in batches with the rest of a token's use.
CREATE TABLE api_token_project_usage (
    token_id   INTEGER NOT NULL REFERENCES api_tokens (id) ON DELETE CASCADE,
    project_id INTEGER NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    last_at    TEXT    NOT NULL,
    PRIMARY KEY (token_id, project_id)
) STRICT;
CREATE INDEX api_token_project_usage_project ON api_token_project_usage (project_id);

-- A pipeline a limited token triggered keeps the token's ceiling: its jobs' contexts count the
-- user as holding at most that role, as the token did.
ALTER TABLE pipelines ADD COLUMN actor_role_ceiling TEXT CHECK (actor_role_ceiling IN ('read', 'write', 'admin'));
