-- Orbs published to this instance's own registry: each version's packed YAML, kept as
-- published (a version is never replaced, as in CircleCI's registry).

CREATE TABLE orbs (
    id           BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    namespace    TEXT        COLLATE "C" NOT NULL,
    name         TEXT        COLLATE "C" NOT NULL,
    major        BIGINT      NOT NULL,
    minor        BIGINT      NOT NULL,
    patch        BIGINT      NOT NULL,
    source       TEXT        NOT NULL,
    digest       TEXT        NOT NULL,
    published_by TEXT        NOT NULL,
    published_at TIMESTAMPTZ NOT NULL,
    UNIQUE (namespace, name, major, minor, patch)
);
