-- Each pipeline's `.circleci/config.yml` as read at its revision, and what it compiled to (the
-- 2.0 form `circlet config process` prints; empty when it did not compile), for the page that
-- shows them side by side. Apart from `pipelines` so that listing pipelines never reads them.

CREATE TABLE pipeline_configs (
    pipeline_id BIGINT    PRIMARY KEY REFERENCES pipelines (id) ON DELETE CASCADE,
    source      TEXT NOT NULL,
    compiled    TEXT NOT NULL
);
