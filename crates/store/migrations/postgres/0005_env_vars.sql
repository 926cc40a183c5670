-- Project environment variables, sealed (XChaCha20-Poly1305, see circlet_core::envcrypt) under
-- the instance key named by key_id. `masked` is what listings show (xxxx + last 4), so no
-- listing needs the key.

CREATE TABLE env_vars (
    project_id BIGINT      NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name       TEXT        NOT NULL,
    key_id     TEXT        NOT NULL,
    sealed     BYTEA       NOT NULL,
    masked     TEXT        NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (project_id, name)
);
CREATE INDEX env_vars_key ON env_vars (key_id);
