-- Notices to token owners (issue 16): a token expires in 7 days or in 1 day, or was revoked
-- because it leaked. One row per (token, kind, recipient), inserted before any email goes out,
-- so each notice is made once however many replicas sweep; the row is the dashboard's notice
-- until dismissed, and carries its email's state (claimed by compare-and-set on mail_next_at,
-- as the outbox is). The token's name, last 4 and project are copied: the token may be gone.
CREATE TABLE token_notices (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid          BLOB    NOT NULL UNIQUE,
    user_id       INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_uuid    BLOB    NOT NULL,
    kind          TEXT    NOT NULL CHECK (kind IN ('expires-7d', 'expires-1d', 'revoked')),
    token_kind    TEXT    NOT NULL CHECK (token_kind IN ('personal', 'project', 'runner')),
    token_name    TEXT    NOT NULL,
    token_last4   TEXT    NOT NULL,
    project_slug  TEXT    NOT NULL DEFAULT '',
    expires_at    TEXT,
    detail        TEXT    NOT NULL DEFAULT '',
    created_at    TEXT    NOT NULL,
    dismissed_at  TEXT,
    mail_state    TEXT    NOT NULL CHECK (mail_state IN ('off', 'pending', 'sent', 'failed')),
    mail_attempts INTEGER NOT NULL DEFAULT 0,
    mail_next_at  TEXT    NOT NULL,
    mail_error    TEXT    NOT NULL DEFAULT '',
    UNIQUE (token_uuid, kind, user_id)
) STRICT;
CREATE INDEX token_notices_unread ON token_notices (user_id, id) WHERE dismissed_at IS NULL;
CREATE INDEX token_notices_mail ON token_notices (mail_state, mail_next_at);

-- The sweep looks for tokens expiring within a week.
CREATE INDEX api_tokens_expiry ON api_tokens (expires_at) WHERE expires_at IS NOT NULL;
