-- Leaks told by secret scanners (issue 16): the reports already handled, by the SHA-256 of
-- their raw body, so a replayed report is refused and changes nothing; and the digests of the
-- tokens revoked because they leaked (by a scanner's report or the leak guard), so a later
-- report of one is answered `true_positive` although the token itself is gone.
CREATE TABLE leak_reports (
    digest      BLOB    PRIMARY KEY,
    received_at TEXT    NOT NULL,
    entries     INTEGER NOT NULL,
    revoked     INTEGER NOT NULL
) STRICT;

CREATE TABLE leaked_tokens (
    digest     BLOB PRIMARY KEY,
    kind       TEXT NOT NULL CHECK (kind IN ('personal', 'project', 'runner')),
    revoked_at TEXT NOT NULL
) STRICT;
