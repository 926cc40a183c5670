//! Who may see and do what in a project. Roles nest (admin ⊃ write ⊃ read); site admins are
//! admins everywhere; public projects can be read by anyone. Rights are computed on every
//! request, so removing or demoting a member takes effect at once. A limited personal token
//! (`circlet_core::token_limits`) holds at most its ceiling, and only within its reach: outside
//! it, the token sees what anyone may see.
//!
//! The project and the caller's role come from memory ([`RememberedProjects`]) while the
//! store's project generation is unchanged: a settings or membership change anywhere changes
//! it before the change is acknowledged, so memory never answers for a changed project.

use crate::memo::GenerationMemo;
use crate::{App, AppError, Caller};
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
/// Who may see it is not asked: use [`App::authorize`] for that.
pub async fn project_by_slug(app: &App, slug: &ProjectSlug) -> Result<Option<Project>, AppError> {
    // The generation is read before the store, so a change committed during the read counts.
    let generation = app.store.project_generation();
    app.projects
        .by_slug
        .get_or_read(slug.key(), generation, || async {
            Ok(app.store.projects().by_slug(slug).await?)
        })
        .await
}

/// `user`'s role in the project (site admins are admins everywhere), from memory while no
/// membership changed since it was read.
async fn role_of(
    app: &App,
    project_id: i64,
    user: Option<&User>,
) -> Result<Option<Role>, AppError> {
    let user = match user {
        None => return Ok(None),
        Some(u) if u.site_admin => return Ok(Some(Role::Admin)),
        Some(u) => u,
    };
    let generation = app.store.project_generation();
    // "No role" is remembered too: membership changes move the generation.
    let role = app
        .projects
        .roles
        .get_or_read((project_id, user.id), generation, || async {
            Ok::<_, AppError>(Some(
                app.store.projects().role_of(project_id, user.id).await?,
            ))
        })
        .await?;
    Ok(role.flatten())
}

/// A project as one caller sees it.
#[derive(Debug, Clone)]
pub struct ProjectAccess {
    /// The project.
    pub project: Project,
    /// The caller's role, `None` for an anonymous or non-member reader of a public project.
    pub role: Option<Role>,
}

impl ProjectAccess {
    /// Whether the caller may do `action` here as a user (what a page offers them).
    pub fn allows(&self, action: Action) -> bool {
        self.role.is_some_and(|r| r >= action.required_role())
    }
}

/// How a caller asks, in `decide`'s terms, about a project with id `project_id` in which the
/// caller's user (if any) holds `role`.
fn asker(caller: &Caller, role: Option<Role>, project_id: i64) -> Asker {
    match caller {
        Caller::Anonymous => Asker::Anonymous,
        Caller::Session(_) | Caller::Personal { .. } => Asker::User(role),
        Caller::Project { token } => Asker::ProjectToken {
            scope: token
                .scope
                .unwrap_or(circlet_core::scope::ProjectScope::Status),
            same_project: token.project_id == Some(project_id),
        },
    }
}

impl App {
    /// May `caller` perform `action` on the project at `slug`? The one authorization check of
    /// every project-scoped use case, whichever edge it came from (API, web UI), applying
    /// `circlet_core::scope::decide`: a project the caller may not see is
    /// [`AppError::NotFound`] exactly like an absent one; seen but not allowed is
    /// [`AppError::Forbidden`] naming the role needed; an action without any credential where
    /// one is needed is [`AppError::LoginRequired`].
    pub async fn authorize(
        &self,
        caller: &Caller,
        slug: &ProjectSlug,
        action: Action,
    ) -> Result<ProjectAccess, AppError> {
        let project = project_by_slug(self, slug)
            .await?
            .ok_or_else(AppError::project_not_found)?;
        self.authorize_project(caller, project, action).await
    }

    /// [`App::authorize`] for a project already read (with something else needed, in the same
    /// query).
    pub async fn authorize_project(
        &self,
        caller: &Caller,
        project: Project,
        action: Action,
    ) -> Result<ProjectAccess, AppError> {
        let mut role = role_of(self, project.id, caller.user()).await?;
        if let Some(limits) = caller.limits() {
            role = limits.role_in(role, project.id, &project.slug);
        }
        match decide(asker(caller, role, project.id), project.public, action) {
            Decision::Allow => {
                caller.note_kind_on(self, action.usage_kind(), project.id);
                Ok(ProjectAccess { project, role })
            }
            Decision::LoginRequired => Err(AppError::LoginRequired),
            Decision::NotFound => Err(AppError::project_not_found()),
            Decision::Forbidden => Err(AppError::Forbidden {
                needed: caller.user().map(|_| action.required_role()),
            }),
        }
    }
}

impl App {
    /// The projects the caller's user belongs to, with the caller's role: every project, as
    /// admin, for a site admin (who is an admin everywhere); through a limited personal token,
    /// only those within its reach, with at most its ceiling. Empty for callers that are not
    /// users.
    pub async fn projects_of(&self, caller: &Caller) -> Result<Vec<(Project, Role)>, AppError> {
        let Some(user) = caller.user() else {
            return Ok(Vec::new());
        };
        let all = if user.site_admin {
            let all = self.store.projects().list_all().await?;
            all.into_iter().map(|p| (p, Role::Admin)).collect()
        } else {
            self.store.projects().list_for_member(user.id).await?
        };
        Ok(within_limits(caller, all))
    }

    /// The projects the caller's user is a member of (site admins too: only their own), cut to
    /// a limited token's reach: "my projects" (`/me`, the cc.xml feed).
    pub async fn memberships_of(&self, caller: &Caller) -> Result<Vec<(Project, Role)>, AppError> {
        let Some(user) = caller.user() else {
            return Ok(Vec::new());
        };
        let mine = self.store.projects().list_for_member(user.id).await?;
        Ok(within_limits(caller, mine))
    }

    /// The ids of the projects in which the caller may do `action` as a member (their own, and
    /// for a site admin every one; cut to a limited token's reach and ceiling): what lists of
    /// several projects' entries are cut to.
    pub async fn projects_where(
        &self,
        caller: &Caller,
        action: Action,
    ) -> Result<Vec<i64>, AppError> {
        Ok(self
            .projects_of(caller)
            .await?
            .into_iter()
            .filter(|(_, role)| *role >= action.required_role())
            .map(|(p, _)| p.id)
            .collect())
    }
}

/// `projects` (with the user's roles) as a limited token sees them: those within its reach, with
/// at most its ceiling; all of them, as they are, for any other caller.
fn within_limits(caller: &Caller, projects: Vec<(Project, Role)>) -> Vec<(Project, Role)> {
    match caller.limits() {
        None => projects,
        Some(limits) => projects
            .into_iter()
            .filter_map(|(p, role)| {
                let role = limits.role_in(Some(role), p.id, &p.slug)?;
                Some((p, role))
            })
            .collect(),
    }
}
