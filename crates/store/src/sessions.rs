//! Browser sessions: server-side records keyed by a digest of the cookie value.
//!
//! The cookie value itself is never stored; the server hands this module a keyed digest, so a
//! copy of the database does not let anyone log in.

use crate::User;
use crate::users::{UserRow, user_cols};
use crate::{Store, StoreError, on_pool, ts};
use time::OffsetDateTime;

/// Use-cases on sessions; see [`Store::sessions`].
pub struct Sessions<'s>(pub(crate) &'s Store);

impl Sessions<'_> {
    /// Records a new session for `user_id`, valid until `expires_at`.
    pub async fn create(
        &self,
        digest: &str,
        user_id: i64,
        expires_at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let sql = "INSERT INTO sessions (digest, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)";
        on_pool!(self.0, pool => {
            sqlx::query(sql).bind(digest).bind(user_id).bind(crate::now()).bind(ts(expires_at)).execute(pool).await.map(|r| r.rows_affected())
        })?;
        Ok(())
    }

    /// The user a live session belongs to: `None` when the session is unknown, expired or
    /// its user is disabled.
    pub async fn user_for(
        &self,
        digest: &str,
        now: OffsetDateTime,
    ) -> Result<Option<User>, StoreError> {
        let sql = concat!(
            "SELECT ",
            user_cols!(),
            " FROM sessions JOIN users ON users.id = sessions.user_id ",
            "WHERE sessions.digest = $1 AND sessions.expires_at > $2 AND NOT users.disabled"
        );
        let row: Option<UserRow> = on_pool!(self.0, pool => {
            sqlx::query_as(sql).bind(digest).bind(ts(now)).fetch_optional(pool).await
        })?;
        row.map(User::try_from).transpose()
    }

    /// Ends a session (logout). Ending an unknown session is not an error.
    pub async fn delete(&self, digest: &str) -> Result<(), StoreError> {
        on_pool!(self.0, pool => sqlx::query("DELETE FROM sessions WHERE digest = $1").bind(digest).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Removes sessions that expired before `now`; returns how many.
    pub async fn delete_expired(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
        let done = on_pool!(self.0, pool => {
            sqlx::query("DELETE FROM sessions WHERE expires_at <= $1").bind(ts(now)).execute(pool).await.map(|r| r.rows_affected())
        })?;
        Ok(done)
    }
}
