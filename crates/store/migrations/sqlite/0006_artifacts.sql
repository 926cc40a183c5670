-- Artifacts uploaded by `store_artifacts`: one row per (job, node, path). The bytes live in the
-- object store (local directory or S3 bucket) under `<project uuid>/<build_num>/<node>/<path>`;
-- this row says the upload completed, with its size and SHA-256 (the download's ETag).
CREATE TABLE job_artifacts (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id       INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    node_index   INTEGER NOT NULL DEFAULT 0,
    path         TEXT    NOT NULL,
    size         INTEGER NOT NULL CHECK (size >= 0),
    content_type TEXT    NOT NULL,
    sha256       TEXT    NOT NULL,
    store_etag   TEXT,
    created_at   TEXT    NOT NULL,
    UNIQUE (job_id, node_index, path)
) STRICT;
