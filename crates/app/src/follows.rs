//! Following projects (API v1.1's `follow` and `unfollow`, CircleCI's followed-projects list):
//! a user follows the projects they are a member of unless they unfollowed one, and any other
//! project they may see once they follow it. Following changes what lists show, never who may
//! do what.

use crate::{App, AppError, Caller};
use circlet_core::ProjectSlug;
use circlet_core::scope::Action;
use circlet_store::Project;

impl App {
    /// The caller's user follows the project at `slug` (`following`), or stops following it.
    /// Anyone who may see the project may follow it.
    pub async fn follow(
        &self,
        caller: &Caller,
        slug: &ProjectSlug,
        following: bool,
    ) -> Result<Project, AppError> {
        let user = caller.require_user()?;
        let access = self.authorize(caller, slug, Action::ViewProject).await?;
        self.store
            .follows()
            .set(user.id, access.project.id, following)
            .await?;
        Ok(access.project)
    }

    /// The projects the caller's user follows, by slug: their memberships (cut to a limited
    /// token's reach) unless unfollowed, and the projects they chose to follow that they may
    /// still see.
    pub async fn followed_projects(&self, caller: &Caller) -> Result<Vec<Project>, AppError> {
        let user = caller.require_user()?;
        let choices = self.store.follows().choices_of(user.id).await?;
        let chose = |id: i64| choices.iter().find(|(p, _)| *p == id).map(|(_, f)| *f);
        let mut followed: Vec<Project> = self
            .memberships_of(caller)
            .await?
            .into_iter()
            .map(|(p, _)| p)
            .filter(|p| chose(p.id) != Some(false))
            .collect();
        for (id, following) in &choices {
            if !following || followed.iter().any(|p| p.id == *id) {
                continue;
            }
            let Some(project) = self.store.projects().by_id(*id).await? else {
                continue;
            };
            // A project they may no longer see drops out of the list, silently.
            if let Ok(access) = self
                .authorize_project(caller, project, Action::ViewProject)
                .await
            {
                followed.push(access.project);
            }
        }
        followed.sort_by_key(|p| p.slug.key());
        Ok(followed)
    }
}
