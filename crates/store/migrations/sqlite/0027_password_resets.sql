-- Password reset links (issue 17): a site admin has a link emailed to a user, who chooses a new
-- password with it. Only the SHA-256 of the link's secret is kept (like tokens); a link works
-- once (used_at) and until expires_at, and every link of a user goes when their password is set.
CREATE TABLE password_resets (
    digest     TEXT    NOT NULL PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_by TEXT    NOT NULL,
    created_at TEXT    NOT NULL,
    expires_at TEXT    NOT NULL,
    used_at    TEXT
) STRICT;
CREATE INDEX password_resets_user ON password_resets (user_id);
