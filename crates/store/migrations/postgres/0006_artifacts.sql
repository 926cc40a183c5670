-- Artifacts uploaded by `store_artifacts`: one row per (job, node, path). The bytes live in the
-- object store (local directory or S3 bucket) under `<project uuid>/<build_num>/<node>/<path>`;
-- this row says the upload completed, with its size and SHA-256 (the download's ETag).
CREATE TABLE job_artifacts (
    id           BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job_id       BIGINT      NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    node_index   BIGINT      NOT NULL DEFAULT 0,
    path         TEXT        COLLATE "C" NOT NULL,
    size         BIGINT      NOT NULL CHECK (size >= 0),
    content_type TEXT        NOT NULL,
    sha256       TEXT        NOT NULL,
    store_etag   TEXT,
    created_at   TIMESTAMPTZ NOT NULL,
    UNIQUE (job_id, node_index, path)
);
