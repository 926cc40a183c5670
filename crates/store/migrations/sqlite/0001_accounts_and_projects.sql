-- Users, browser sessions, projects and their members.
-- Timestamps are UTC, whole seconds, as written by circlet (see store/src/lib.rs `ts`).

CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid          BLOB    NOT NULL UNIQUE,
    login         TEXT    NOT NULL UNIQUE,
    name          TEXT    NOT NULL,
    email         TEXT    NOT NULL,
    password_hash TEXT    NOT NULL,
    site_admin    INTEGER NOT NULL DEFAULT 0 CHECK (site_admin IN (0, 1)),
    disabled      INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    created_at    TEXT    NOT NULL
) STRICT;

CREATE TABLE sessions (
    digest     TEXT    PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at TEXT    NOT NULL,
    expires_at TEXT    NOT NULL
) STRICT;
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE projects (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid           BLOB    NOT NULL UNIQUE,
    slug_key       TEXT    NOT NULL UNIQUE,
    vcs            TEXT    NOT NULL CHECK (vcs IN ('gh', 'bb')),
    org            TEXT    NOT NULL,
    repo           TEXT    NOT NULL,
    repo_url       TEXT    NOT NULL,
    default_branch TEXT    NOT NULL,
    public         INTEGER NOT NULL DEFAULT 0 CHECK (public IN (0, 1)),
    created_at     TEXT    NOT NULL
) STRICT;

CREATE TABLE project_members (
    project_id INTEGER NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role       TEXT    NOT NULL CHECK (role IN ('admin', 'write', 'read')),
    created_at TEXT    NOT NULL,
    PRIMARY KEY (project_id, user_id)
) STRICT;
CREATE INDEX project_members_user ON project_members (user_id);
