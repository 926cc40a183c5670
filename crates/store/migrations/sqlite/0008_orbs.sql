-- Orbs published to this instance's own registry: each version's packed YAML, kept as
-- published (a version is never replaced, as in CircleCI's registry).

CREATE TABLE orbs (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    namespace    TEXT    NOT NULL,
    name         TEXT    NOT NULL,
    major        INTEGER NOT NULL,
    minor        INTEGER NOT NULL,
    patch        INTEGER NOT NULL,
    source       TEXT    NOT NULL,
    digest       TEXT    NOT NULL,
    published_by TEXT    NOT NULL,
    published_at TEXT    NOT NULL,
    UNIQUE (namespace, name, major, minor, patch)
) STRICT;
