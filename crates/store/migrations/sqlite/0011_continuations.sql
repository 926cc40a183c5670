-- Setup pipelines (`setup: true`) and their continuation: a setup pipeline has a row here until
-- and after it is continued (`continued_at`, once: a pipeline continues only once). Each setup
-- job gets its own continuation key; only its digest is kept.

CREATE TABLE pipeline_setups (
    pipeline_id  INTEGER PRIMARY KEY REFERENCES pipelines (id) ON DELETE CASCADE,
    continued_at TEXT
) STRICT;

CREATE TABLE continuation_keys (
    digest      TEXT    PRIMARY KEY,
    pipeline_id INTEGER NOT NULL REFERENCES pipelines (id) ON DELETE CASCADE,
    created_at  TEXT    NOT NULL
) STRICT;
CREATE INDEX continuation_keys_pipeline ON continuation_keys (pipeline_id);
