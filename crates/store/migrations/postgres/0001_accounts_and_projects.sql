-- Users, browser sessions, projects and their members.

CREATE TABLE users (
    id            BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    uuid          UUID        NOT NULL UNIQUE,
    login         TEXT        COLLATE "C" NOT NULL UNIQUE,
    name          TEXT        NOT NULL,
    email         TEXT        NOT NULL,
    password_hash TEXT        NOT NULL,
    site_admin    BOOLEAN     NOT NULL DEFAULT FALSE,
    disabled      BOOLEAN     NOT NULL DEFAULT FALSE,
    created_at    TIMESTAMPTZ NOT NULL
);

CREATE TABLE sessions (
    digest     TEXT        PRIMARY KEY,
    user_id    BIGINT      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE projects (
    id             BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    uuid           UUID        NOT NULL UNIQUE,
    slug_key       TEXT        COLLATE "C" NOT NULL UNIQUE,
    vcs            TEXT        NOT NULL CHECK (vcs IN ('gh', 'bb')),
    org            TEXT        NOT NULL,
    repo           TEXT        NOT NULL,
    repo_url       TEXT        NOT NULL,
    default_branch TEXT        NOT NULL,
    public         BOOLEAN     NOT NULL DEFAULT FALSE,
    created_at     TIMESTAMPTZ NOT NULL
);

CREATE TABLE project_members (
    project_id BIGINT      NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    user_id    BIGINT      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role       TEXT        NOT NULL CHECK (role IN ('admin', 'write', 'read')),
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (project_id, user_id)
);
CREATE INDEX project_members_user ON project_members (user_id);
