//! Who may see and do what in a project. Roles nest (admin ⊃ write ⊃ read); site admins are
//! admins everywhere; public projects can be read by anyone. Rights are computed on every
//! request, so removing or demoting a member takes effect at once.

use super::caller::{Caller, LOGIN_REQUIRED};
use crate::error::ApiError;
use crate::state::AppState;
use circlet_core::scope::{Action, Asker, Decision, decide};
use circlet_core::{ProjectSlug, Role};
use circlet_store::{Project, User};

/// A project as one caller sees it.
pub struct ProjectAccess {
    /// The project.
    pub project: Project,
    /// The caller's role, `None` for an anonymous or non-member reader of a public project.
    pub role: Option<Role>,
}

impl ProjectAccess {
    /// `Forbidden` unless the caller holds at least `needed`.
    pub fn require(&self, needed: Role) -> Result<(), ApiError> {
        match self.role {
            Some(role) if role >= needed => Ok(()),
            _ => Err(ApiError::Forbidden),
        }
    }
}

/// The project at `slug` as `user` may see it. A project the caller may not see answers
/// exactly like one that does not exist, so private slugs cannot be probed.
pub async fn project_for(
    state: &AppState,
    user: Option<&User>,
    slug: &ProjectSlug,
) -> Result<ProjectAccess, ApiError> {
    let not_found = || ApiError::NotFound("Project not found".into());
    let project = state
        .store
        .projects()
        .by_slug(slug)
        .await?
        .ok_or_else(not_found)?;
    let role = match user {
        Some(u) if u.site_admin => Some(Role::Admin),
        Some(u) => state.store.projects().role_of(project.id, u.id).await?,
        None => None,
    };
    if role.is_none() && !project.public {
        return Err(not_found());
    }
    Ok(ProjectAccess { project, role })
}

/// May `caller` perform `action` on the project at `slug`? The one authorization check of every
/// project-scoped API endpoint, applying `circlet_core::scope::decide`: a project the caller may
/// not see is 404 exactly like an absent one; seen but not allowed is 403; a write without any
/// credential is 401.
pub async fn authorize(
    state: &AppState,
    caller: &Caller,
    slug: &ProjectSlug,
    action: Action,
) -> Result<ProjectAccess, ApiError> {
    let project = state
        .store
        .projects()
        .by_slug(slug)
        .await?
        .ok_or_else(|| ApiError::NotFound("Project not found".into()))?;
    authorize_project(state, caller, project, action).await
}

/// [`authorize`] for a project the handler has already read (with something else it needs, in
/// the same query).
pub async fn authorize_project(
    state: &AppState,
    caller: &Caller,
    project: Project,
    action: Action,
) -> Result<ProjectAccess, ApiError> {
    let not_found = || ApiError::NotFound("Project not found".into());
    let role = match caller.user() {
        Some(u) if u.site_admin => Some(Role::Admin),
        Some(u) => state.store.projects().role_of(project.id, u.id).await?,
        None => None,
    };
    let asker = match caller {
        Caller::Anonymous => Asker::Anonymous,
        Caller::Session(_) | Caller::Personal { .. } => Asker::User(role),
        Caller::Project { token } => Asker::ProjectToken {
            scope: token
                .scope
                .unwrap_or(circlet_core::scope::ProjectScope::Status),
            same_project: token.project_id == Some(project.id),
        },
    };
    match decide(asker, project.public, action) {
        Decision::Allow => {
            caller.note_kind(state, action.usage_kind());
            Ok(ProjectAccess { project, role })
        }
        Decision::LoginRequired => Err(ApiError::Unauthorized(LOGIN_REQUIRED.into())),
        Decision::NotFound => Err(not_found()),
        Decision::Forbidden => Err(ApiError::Forbidden),
    }
}
