//! Who may see and do what in a project. Roles nest (admin ⊃ write ⊃ read); site admins are
//! admins everywhere; public projects can be read by anyone. Rights are computed on every
//! request, so removing or demoting a member takes effect at once.
//!
//! The project and the caller's role come from memory ([`RememberedProjects`]) while the
//! store's project generation is unchanged: a settings or membership change anywhere changes
//! it before the change is acknowledged, so memory never answers for a changed project.

use super::caller::{Caller, LOGIN_REQUIRED};
use crate::error::ApiError;
use crate::memo::GenerationMemo;
use crate::state::AppState;
use circlet_core::scope::{Action, Asker, Decision, decide};
use circlet_core::{ProjectSlug, Role};
use circlet_store::{Project, ProjectGeneration, User};
use std::time::Duration;

/// Projects by slug key and roles by (project, user) read lately, by project generation.
pub struct RememberedProjects {
    by_slug: GenerationMemo<String, Project, ProjectGeneration>,
    roles: GenerationMemo<(i64, i64), Option<Role>, ProjectGeneration>,
}

impl Default for RememberedProjects {
    fn default() -> Self {
        // The time to live bounds staleness should a change ever go unannounced.
        let ttl = Duration::from_secs(60);
        RememberedProjects {
            by_slug: GenerationMemo::new(ttl, 20_000),
            roles: GenerationMemo::new(ttl, 50_000),
        }
    }
}

impl RememberedProjects {
    /// How many projects and roles are remembered.
    pub fn len(&self) -> usize {
        self.by_slug.len() + self.roles.len()
    }

    /// Whether nothing is.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The project at `slug`, from memory while nothing changed since it was read. An absent
/// project is not remembered: it may be created any moment, and guesses must not fill memory.
pub async fn project_by_slug(
    state: &AppState,
    slug: &ProjectSlug,
) -> Result<Option<Project>, ApiError> {
    // The generation is read before the store, so a change committed during the read counts.
    let generation = state.store.project_generation();
    state
        .projects
        .by_slug
        .get_or_read(slug.key(), generation, || async {
            Ok(state.store.projects().by_slug(slug).await?)
        })
        .await
}

/// `user`'s role in the project (site admins are admins everywhere), from memory while no
/// membership changed since it was read.
async fn role_of(
    state: &AppState,
    project_id: i64,
    user: Option<&User>,
) -> Result<Option<Role>, ApiError> {
    let user = match user {
        None => return Ok(None),
        Some(u) if u.site_admin => return Ok(Some(Role::Admin)),
        Some(u) => u,
    };
    let generation = state.store.project_generation();
    // "No role" is remembered too: membership changes move the generation.
    let role = state
        .projects
        .roles
        .get_or_read((project_id, user.id), generation, || async {
            Ok::<_, ApiError>(Some(
                state.store.projects().role_of(project_id, user.id).await?,
            ))
        })
        .await?;
    Ok(role.flatten())
}

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
    let project = project_by_slug(state, slug).await?.ok_or_else(not_found)?;
    let role = role_of(state, project.id, user).await?;
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
    let project = project_by_slug(state, slug)
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
    let role = role_of(state, project.id, caller.user()).await?;
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
