//! Seeing other users (API v2's `GET /user/{id}`): a user sees themselves, the users they share
//! a project with, and (site admins) everyone. Anyone else's id answers like an id of nobody.

use crate::{App, AppError, Caller};
use circlet_store::User;

impl App {
    /// The user with public id `id`, if the caller's user may see them.
    pub async fn user_by_id(&self, caller: &Caller, id: uuid::Uuid) -> Result<User, AppError> {
        let me = caller.require_user()?;
        let missing = || AppError::NotFound("User not found".into());
        let other = self.store.users().by_uuid(id).await?.ok_or_else(missing)?;
        if other.id == me.id || (me.site_admin && caller.limits().is_none()) {
            return Ok(other);
        }
        let mine: Vec<i64> = self
            .memberships_of(caller)
            .await?
            .into_iter()
            .map(|(p, _)| p.id)
            .collect();
        let theirs = self.store.projects().list_for_member(other.id).await?;
        if theirs.iter().any(|(p, _)| mine.contains(&p.id)) {
            Ok(other)
        } else {
            Err(missing())
        }
    }
}
