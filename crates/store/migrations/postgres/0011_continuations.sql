-- Setup pipelines (`setup: true`) and their continuation: a setup pipeline has a row here until
-- and after it is continued (`continued_at`, once: a pipeline continues only once). Each setup
-- job gets its own continuation key; only its digest is kept.

CREATE TABLE pipeline_setups (
    pipeline_id  BIGINT      PRIMARY KEY REFERENCES pipelines (id) ON DELETE CASCADE,
    continued_at TIMESTAMPTZ
);

CREATE TABLE continuation_keys (
    digest      TEXT        PRIMARY KEY,
    pipeline_id BIGINT      NOT NULL REFERENCES pipelines (id) ON DELETE CASCADE,
    created_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX continuation_keys_pipeline ON continuation_keys (pipeline_id);
