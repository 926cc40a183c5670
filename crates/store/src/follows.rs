//! Which projects users follow (API v1.1's `follow` and `unfollow`): a user follows the
//! projects they are a member of unless they unfollowed one, and any other once they follow
//! it. A row is a choice made; without one, membership decides.

use crate::{Store, StoreError, now, on_pool};

/// Use-cases on follows; see [`Store::follows`].
pub struct Follows<'s>(pub(crate) &'s Store);

impl Follows<'_> {
    /// Records that `user_id` follows `project_id` (or no longer does).
    pub async fn set(
        &self,
        user_id: i64,
        project_id: i64,
        following: bool,
    ) -> Result<(), StoreError> {
        let sql = "INSERT INTO project_follows (user_id, project_id, following, changed_at) \
                   VALUES ($1, $2, $3, $4) ON CONFLICT (user_id, project_id) \
                   DO UPDATE SET following = excluded.following, changed_at = excluded.changed_at";
        on_pool!(self.0, pool => sqlx::query(sql).bind(user_id).bind(project_id).bind(following)
            .bind(now()).execute(pool).await.map(|_| ()))?;
        Ok(())
    }

    /// The choices `user_id` made: `(project id, following)`, by project id.
    pub async fn choices_of(&self, user_id: i64) -> Result<Vec<(i64, bool)>, StoreError> {
        let sql = "SELECT project_id, following FROM project_follows WHERE user_id = $1 ORDER BY project_id";
        Ok(on_pool!(self.0, pool => sqlx::query_as(sql).bind(user_id).fetch_all(pool).await)?)
    }
}
