//! Password reset links: the SHA-256 of each link's secret (never the secret), whose user it
//! resets, until when, and whether it was used. A link is used by one conditional `UPDATE`, so
//! two requests with the same link cannot both set a password.

use crate::users::{UserRow, user_cols};
use crate::{Store, StoreError, User, on_pool, ts};
use time::OffsetDateTime;

/// Use-cases on reset links; see [`Store::password_resets`].
pub struct PasswordResets<'s>(pub(crate) &'s Store);

impl PasswordResets<'_> {
    /// Records a link for `user_id`, known by `digest`, valid until `expires_at`; `created_by`
    /// names who asked for it.
    pub async fn create(
        &self,
        digest: &str,
        user_id: i64,
        created_by: &str,
        expires_at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let sql = "INSERT INTO password_resets (digest, user_id, created_by, created_at, expires_at) \
                   VALUES ($1, $2, $3, $4, $5)";
        on_pool!(self.0, pool => {
            sqlx::query(sql).bind(digest).bind(user_id).bind(created_by).bind(crate::now())
                .bind(ts(expires_at)).execute(pool).await.map(|r| r.rows_affected())
        })?;
        Ok(())
    }

    /// The user the link `digest` would reset at `now`: `None` when it is unknown, used,
    /// expired, or its user is disabled.
    pub async fn user_for(
        &self,
        digest: &str,
        now: OffsetDateTime,
    ) -> Result<Option<User>, StoreError> {
        let sql = concat!(
            "SELECT ",
            user_cols!(),
            " FROM password_resets JOIN users ON users.id = password_resets.user_id ",
            "WHERE password_resets.digest = $1 AND password_resets.used_at IS NULL ",
            "AND password_resets.expires_at > $2 AND NOT users.disabled"
        );
        let row: Option<UserRow> = on_pool!(self.0, pool => {
            sqlx::query_as(sql).bind(digest).bind(ts(now)).fetch_optional(pool).await
        })?;
        row.map(User::try_from).transpose()
    }

    /// Uses the link `digest` at `now` to set its user's password hash: once, before it
    /// expires, for a user not disabled. Ends the user's sessions and removes their other
    /// links. `None` (and nothing changed) when the link cannot be used.
    pub async fn reset(
        &self,
        digest: &str,
        password_hash: &str,
        now: OffsetDateTime,
    ) -> Result<Option<User>, StoreError> {
        let used = concat!(
            "UPDATE password_resets SET used_at = $2 WHERE digest = $1 AND used_at IS NULL ",
            "AND expires_at > $2 AND user_id IN (SELECT id FROM users WHERE NOT disabled) ",
            "RETURNING user_id"
        );
        let user = concat!(
            "UPDATE users SET password_hash = $2 WHERE id = $1 RETURNING ",
            user_cols!()
        );
        let row: Option<UserRow> = on_pool!(self.0, pool => async {
            let mut tx = pool.begin().await?;
            let user_id: Option<i64> = sqlx::query_scalar(used).bind(digest).bind(ts(now))
                .fetch_optional(&mut *tx).await?;
            let Some(user_id) = user_id else {
                return Ok::<_, sqlx::Error>(None);
            };
            let row: Option<UserRow> = sqlx::query_as(user).bind(user_id).bind(password_hash)
                .fetch_optional(&mut *tx).await?;
            sqlx::query("DELETE FROM sessions WHERE user_id = $1").bind(user_id).execute(&mut *tx).await?;
            sqlx::query("DELETE FROM password_resets WHERE user_id = $1 AND digest <> $2")
                .bind(user_id).bind(digest).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(row)
        }.await)?;
        row.map(User::try_from).transpose()
    }
}
