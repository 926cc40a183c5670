-- Organizations (issue 16): the projects of one `vcs/org`, now with an id of their own (the
-- `aud` and issuer of their jobs' OIDC tokens, API v2's organization id). A row is made with
-- the organization's first project; these are the organizations existing projects imply.
CREATE TABLE organizations (
    id         BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    uuid       UUID        NOT NULL UNIQUE,
    vcs        TEXT        NOT NULL CHECK (vcs IN ('gh', 'bb')),
    name       TEXT        NOT NULL,
    -- `vcs/org`, lower case: one organization however its projects spell it.
    name_key   TEXT        COLLATE "C" NOT NULL UNIQUE,
    created_at TIMESTAMPTZ NOT NULL
);
INSERT INTO organizations (uuid, vcs, name, name_key, created_at)
SELECT gen_random_uuid(), vcs, MIN(org), vcs || '/' || LOWER(org), MIN(created_at)
FROM projects GROUP BY vcs, LOWER(org);

-- The instance's OIDC signing keys. The private half is sealed like env var values (under
-- the env keyring's key `seal_key_id`). One key is current (`current_key` = 1, unique); a
-- rotated-out key keeps being published until its last token has expired.
CREATE TABLE oidc_keys (
    id             BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kid            TEXT        COLLATE "C" NOT NULL UNIQUE,
    algorithm      TEXT        NOT NULL,
    public_jwk     TEXT        NOT NULL,
    sealed_private BYTEA       NOT NULL,
    seal_key_id    TEXT        NOT NULL,
    current_key    INTEGER     UNIQUE CHECK (current_key = 1),
    created_at     TIMESTAMPTZ NOT NULL,
    retired_at     TIMESTAMPTZ,
    CHECK ((current_key IS NULL) = (retired_at IS NOT NULL))
);
