-- Following projects (issue 17): API v1.1's `POST …/follow` and `…/unfollow`. A user follows
-- the projects they are a member of unless they unfollowed one, and any other project they may
-- see once they follow it: a row records a choice made, its absence the default.
CREATE TABLE project_follows (
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    project_id INTEGER NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    following  INTEGER NOT NULL CHECK (following IN (0, 1)),
    changed_at TEXT    NOT NULL,
    PRIMARY KEY (user_id, project_id)
) STRICT;
