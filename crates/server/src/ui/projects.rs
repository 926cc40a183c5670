//! Project pages: add a project, the project page, and its settings (General, Members).

use super::{Chrome, UiForm, render, render_with, when};
use crate::auth::csrf::CsrfToken;
use crate::auth::session::{CurrentUser, MaybeUser};
use crate::error::PageError;
use crate::route::RouteParams;
use crate::state::AppState;
use askama::Template;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{Html, IntoResponse, Redirect, Response};
use circlet_app::access::ProjectAccess;
use circlet_app::{AppError, Caller};
use circlet_core::scope::Action;
use circlet_core::{BranchName, Login, ProjectSlug, RepoUrl, Role};
use circlet_store::{Member, NewProject, Project, User};
use serde::Deserialize;

/// A project slug from the `{vcs}/{org}/{repo}` segments of a page URL.
pub struct SlugPath(pub ProjectSlug);

impl<S: Send + Sync> FromRequestParts<S> for SlugPath {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, PageError> {
        let params = RouteParams::from_request_parts(parts, state).await?;
        Ok(SlugPath(params.project()?))
    }
}

/// A project's item from a page URL `…/{vcs}/{org}/{repo}/…/{uuid}/…`: the project's slug, and
/// the item's public id (`None` when the segment is no id: the page then answers "not found").
pub struct ItemPath {
    /// The project.
    pub slug: ProjectSlug,
    /// The item.
    pub uuid: Option<uuid::Uuid>,
}

impl<S: Send + Sync> FromRequestParts<S> for ItemPath {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, PageError> {
        let params = RouteParams::from_request_parts(parts, state).await?;
        Ok(ItemPath {
            slug: params.project()?,
            uuid: params
                .get("uuid")
                .and_then(|u| uuid::Uuid::parse_str(u).ok()),
        })
    }
}

/// The URL of a project's page.
pub fn project_url(slug: &ProjectSlug) -> String {
    format!("/projects/{slug}")
}

#[derive(Template)]
#[template(path = "project_new.html")]
struct NewProjectPage {
    chrome: Chrome,
    form: NewProjectForm,
    error: Option<String>,
}

/// The "Add project" form's fields.
#[derive(Deserialize, Default)]
pub struct NewProjectForm {
    vcs: String,
    org: String,
    repo: String,
    repo_url: String,
    default_branch: String,
    public: Option<String>,
}

/// `GET /projects/new`.
pub async fn new_form(
    CurrentUser(user): CurrentUser,
    csrf: CsrfToken,
) -> Result<Html<String>, PageError> {
    let form = NewProjectForm {
        vcs: "gh".into(),
        default_branch: "main".into(),
        ..Default::default()
    };
    render(&NewProjectPage {
        chrome: Chrome::new(Some(user), csrf),
        form,
        error: None,
    })
}

/// `POST /projects`: adds a project with the user as its admin.
pub async fn create(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    csrf: CsrfToken,
    UiForm(form): UiForm<NewProjectForm>,
) -> Result<Response, PageError> {
    let parsed = (|| {
        let slug = ProjectSlug::from_parts(&form.vcs, form.org.trim(), form.repo.trim())?;
        let repo_url = match form.repo_url.trim() {
            "" => RepoUrl::default_for(&slug),
            url => RepoUrl::parse(url)?,
        };
        Ok::<_, circlet_core::Invalid>(NewProject {
            slug,
            repo_url,
            default_branch: BranchName::parse(&form.default_branch)?,
            public: form.public.is_some(),
        })
    })();
    let outcome = match parsed {
        Ok(new) => state
            .app
            .create_project(&Caller::Session(user.clone()), &new)
            .await
            .map_err(PageError::from),
        Err(e) => Err(e.into()),
    };
    match outcome {
        Ok(project) => Ok(Redirect::to(&project_url(&project.slug)).into_response()),
        Err(PageError::Page {
            status, message, ..
        }) if status.is_client_error() => {
            let page = NewProjectPage {
                chrome: Chrome::new(Some(user), csrf),
                form,
                error: Some(message),
            };
            Ok(render_with(status, &page)?.into_response())
        }
        Err(other) => Err(other),
    }
}

#[derive(Template)]
#[template(path = "project.html")]
struct ProjectPage {
    chrome: Chrome,
    project: Project,
    role: Option<Role>,
    created: String,
    branch: Option<String>,
    /// The branch filter's choices, and whether each is the one shown.
    branch_options: Vec<(String, bool)>,
    pipelines: Vec<super::pipeline_list::PipelineView>,
    can_write: bool,
    live: bool,
    latest_artifacts: Vec<BranchArtifacts>,
}

/// The newest build of a branch that stored artifacts, and (the first of) those artifacts.
struct BranchArtifacts {
    branch: String,
    build_num: i64,
    artifacts: Vec<super::build_page::ArtifactView>,
    more: usize,
}

/// Branches shown in the project page's "Latest artifacts", and files per branch.
const ARTIFACT_BRANCHES: i64 = 5;
const ARTIFACTS_PER_BRANCH: usize = 10;

async fn latest_artifacts(
    state: &AppState,
    project: &Project,
) -> Result<Vec<BranchArtifacts>, PageError> {
    let mut out = Vec::new();
    for (branch, build_num) in state
        .app
        .store
        .artifacts()
        .latest_per_branch(project.id, ARTIFACT_BRANCHES)
        .await?
    {
        let Some(job) = state
            .app
            .store
            .builds()
            .job_by_num(project.id, build_num)
            .await?
        else {
            continue;
        };
        let mut artifacts = super::build_page::artifact_views(state, project, &job).await?;
        let more = artifacts.len().saturating_sub(ARTIFACTS_PER_BRANCH);
        artifacts.truncate(ARTIFACTS_PER_BRANCH);
        out.push(BranchArtifacts {
            branch,
            build_num,
            artifacts,
            more,
        });
    }
    Ok(out)
}

/// The project at `slug` for a page that does `action`, if the visitor may; anonymous visitors
/// of a project they may not see are sent to log in and come back to `path`.
pub(super) async fn access(
    state: &AppState,
    user: Option<&User>,
    slug: &ProjectSlug,
    action: Action,
    path: &str,
) -> Result<ProjectAccess, PageError> {
    match state
        .app
        .authorize(&Caller::visitor(user), slug, action)
        .await
    {
        Ok(a) => Ok(a),
        Err(AppError::NotFound(_) | AppError::LoginRequired) if user.is_none() => {
            Err(PageError::LoginRequired {
                next: path.to_owned(),
            })
        }
        Err(e) => Err(e.into()),
    }
}

/// The project at `slug` for a logged-in `user`'s page that does `action`.
pub(super) async fn for_user(
    state: &AppState,
    user: &User,
    slug: &ProjectSlug,
    action: Action,
) -> Result<Project, PageError> {
    let caller = Caller::visitor(Some(user));
    Ok(state.app.authorize(&caller, slug, action).await?.project)
}

/// `GET /projects/{vcs}/{org}/{repo}`.
pub async fn show(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    csrf: CsrfToken,
    SlugPath(slug): SlugPath,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
) -> Result<Html<String>, PageError> {
    let a = access(
        &state,
        user.as_ref(),
        &slug,
        Action::ReadBuilds,
        &project_url(&slug),
    )
    .await?;
    let created = when(&a.project.created_at);
    let branch = super::query_param(query.as_deref(), "branch").filter(|b| !b.is_empty());
    let pipelines = super::pipeline_list::pipelines(&state, &a.project, branch.as_deref()).await?;
    let live = pipelines.iter().any(|p| {
        p.workflows
            .iter()
            .any(|w| matches!(w.status, "running" | "on_hold" | "failing"))
    });
    let latest_artifacts = latest_artifacts(&state, &a.project).await?;
    let mut branches = super::badges::branches(&state, &a.project).await?;
    if let Some(b) = branch.as_ref().filter(|b| !branches.contains(b)) {
        branches.push(b.clone());
    }
    let branch_options = branches
        .into_iter()
        .map(|b| {
            let shown = branch.as_ref() == Some(&b);
            (b, shown)
        })
        .collect();
    render(&ProjectPage {
        branch_options,
        chrome: Chrome::new(user, csrf),
        latest_artifacts,
        can_write: a.allows(Action::Trigger),
        project: a.project,
        role: a.role,
        created,
        branch,
        pipelines,
        live,
    })
}

#[derive(Template)]
#[template(path = "project_settings.html")]
struct SettingsPage {
    chrome: Chrome,
    project: Project,
    tab: &'static str,
    members: Vec<Member>,
    error: Option<String>,
    notice: Option<String>,
}

/// `GET /projects/{vcs}/{org}/{repo}/settings`: the General tab.
pub async fn settings(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    csrf: CsrfToken,
    SlugPath(slug): SlugPath,
) -> Result<Html<String>, PageError> {
    let project = for_user(&state, &user, &slug, Action::ManageProject).await?;
    render(&SettingsPage {
        chrome: Chrome::new(Some(user), csrf),
        project,
        tab: "general",
        members: vec![],
        error: None,
        notice: None,
    })
}

/// The General tab's fields.
#[derive(Deserialize)]
pub struct GeneralForm {
    repo_url: String,
    default_branch: String,
    public: Option<String>,
}

/// `POST /projects/{vcs}/{org}/{repo}/settings`.
pub async fn update_settings(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    csrf: CsrfToken,
    SlugPath(slug): SlugPath,
    UiForm(form): UiForm<GeneralForm>,
) -> Result<Response, PageError> {
    let mut project = for_user(&state, &user, &slug, Action::ManageProject).await?;
    let parsed = RepoUrl::parse(&form.repo_url)
        .and_then(|u| Ok((u, BranchName::parse(&form.default_branch)?)));
    let (status, error, notice) = match parsed {
        Ok((url, branch)) => {
            let public = form.public.is_some();
            state
                .app
                .store
                .projects()
                .update_settings(project.id, &url, &branch, public)
                .await?;
            (project.repo_url, project.default_branch, project.public) = (url, branch, public);
            (StatusCode::OK, None, Some("Settings saved.".to_owned()))
        }
        Err(e) => (StatusCode::BAD_REQUEST, Some(e.0), None),
    };
    let page = SettingsPage {
        chrome: Chrome::new(Some(user), csrf),
        project,
        tab: "general",
        members: vec![],
        error,
        notice,
    };
    Ok(render_with(status, &page)?.into_response())
}

async fn members_page(
    state: &AppState,
    user: User,
    csrf: CsrfToken,
    project: Project,
    status: StatusCode,
    error: Option<String>,
) -> Result<Response, PageError> {
    let members = state.app.store.projects().members(project.id).await?;
    let page = SettingsPage {
        chrome: Chrome::new(Some(user), csrf),
        project,
        tab: "members",
        members,
        error,
        notice: None,
    };
    Ok(render_with(status, &page)?.into_response())
}

/// `GET /projects/{vcs}/{org}/{repo}/settings/members`.
pub async fn members(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    csrf: CsrfToken,
    SlugPath(slug): SlugPath,
) -> Result<Response, PageError> {
    let project = for_user(&state, &user, &slug, Action::ManageProject).await?;
    members_page(&state, user, csrf, project, StatusCode::OK, None).await
}

/// The add-member form's fields.
#[derive(Deserialize)]
pub struct MemberForm {
    login: String,
    role: String,
}

/// `POST /projects/{vcs}/{org}/{repo}/settings/members`: adds a member or changes their role.
pub async fn set_member(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    csrf: CsrfToken,
    SlugPath(slug): SlugPath,
    UiForm(form): UiForm<MemberForm>,
) -> Result<Response, PageError> {
    let project = for_user(&state, &user, &slug, Action::ManageProject).await?;
    let target = match (Login::parse(&form.login), Role::parse(&form.role)) {
        (Ok(login), Ok(role)) => match state.app.store.users().by_login(&login).await? {
            Some(member) => Ok((member, role)),
            None => Err(format!("there is no user with login '{login}'")),
        },
        (Err(e), _) | (_, Err(e)) => Err(e.0),
    };
    match target {
        Ok((member, role)) => {
            state
                .app
                .store
                .projects()
                .set_member(project.id, member.id, role)
                .await?;
            Ok(
                Redirect::to(&format!("{}/settings/members", project_url(&project.slug)))
                    .into_response(),
            )
        }
        Err(message) => {
            members_page(
                &state,
                user,
                csrf,
                project,
                StatusCode::BAD_REQUEST,
                Some(message),
            )
            .await
        }
    }
}

/// `POST /projects/{vcs}/{org}/{repo}/settings/members/{login}/remove`.
pub async fn remove_member(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path((vcs, org, repo, login)): Path<(String, String, String, String)>,
) -> Result<Response, PageError> {
    let slug = ProjectSlug::from_parts(&vcs, &org, &repo)?;
    let project = for_user(&state, &user, &slug, Action::ManageProject).await?;
    let login = Login::parse(&login)?;
    let member = state
        .app
        .store
        .users()
        .by_login(&login)
        .await?
        .ok_or_else(|| PageError::not_found("No such user."))?;
    state
        .app
        .store
        .projects()
        .remove_member(project.id, member.id)
        .await?;
    Ok(Redirect::to(&format!("{}/settings/members", project_url(&project.slug))).into_response())
}
