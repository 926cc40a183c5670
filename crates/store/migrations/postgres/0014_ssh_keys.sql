-- A project's SSH keys, as CircleCI keeps them: checkout keys the server made (`deploy-key`,
-- `user-key`) and additional keys pasted for a host (`additional`, `hostname` empty for any
-- host). The private half is sealed like an env var value (`key_id` names the key it is sealed
-- with; the associated data is the project's uuid and `ssh:` + the SHA-256 fingerprint).
CREATE TABLE project_ssh_keys (
    id                 BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project_id         BIGINT      NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    kind               TEXT        NOT NULL CHECK (kind IN ('deploy-key', 'user-key', 'additional')),
    hostname           TEXT        COLLATE "C" NOT NULL DEFAULT '',
    public_key         TEXT        NOT NULL,
    fingerprint_sha256 TEXT        COLLATE "C" NOT NULL,
    fingerprint_md5    TEXT        COLLATE "C" NOT NULL,
    key_id             TEXT        NOT NULL,
    sealed             BYTEA       NOT NULL,
    created_at         TIMESTAMPTZ NOT NULL,
    UNIQUE (project_id, kind, fingerprint_sha256, hostname)
);
CREATE INDEX project_ssh_keys_key ON project_ssh_keys (key_id);
