//! API v2 projects: read one (`GET /project/{slug}`) and create one
//! (`POST /project/{vcs}/{org}/{repo}`).

use super::RawBody;
use crate::api::openapi::{ProjectPath, SlugParam};
use crate::error::{ApiError, MessageBody};
use crate::route::{ProjectRoute, RouteParams};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use circlet_app::Caller;
use circlet_core::scope::Action;
use circlet_core::{BranchName, RepoUrl, Vcs};
use circlet_store::{NewProject, Project};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// API v2's project object.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ProjectJson {
    id: Uuid,
    slug: String,
    name: String,
    organization_name: String,
    organization_slug: String,
    organization_id: Uuid,
    vcs_info: VcsInfo,
}

/// A v2 project's repository.
#[derive(Serialize, utoipa::ToSchema)]
struct VcsInfo {
    vcs_url: String,
    provider: &'static str,
    default_branch: String,
}

impl ProjectJson {
    /// `p` in API v2's shape; `organization_id` is its organization's id (the one
    /// `/me/collaborations` lists and `circleci/<org-id>/<project-id>` slugs name).
    pub fn new(p: &Project, organization_id: Uuid) -> Self {
        let org_slug = format!("{}/{}", p.slug.vcs().short(), p.slug.org());
        ProjectJson {
            id: p.uuid,
            slug: p.slug.to_string(),
            name: p.slug.repo().to_owned(),
            organization_name: p.slug.org().to_owned(),
            organization_id,
            organization_slug: org_slug,
            vcs_info: VcsInfo {
                vcs_url: p.repo_url.to_string(),
                provider: match p.slug.vcs() {
                    Vcs::GitHub => "GitHub",
                    Vcs::Bitbucket => "Bitbucket",
                },
                default_branch: p.default_branch.as_str().to_owned(),
            },
        }
    }
}

/// `GET /api/v2/project/{slug}` (also `circleci/<org-id>/<project-id>`): a read, so a public
/// project needs no token and a project token of the project's own (`all`) reads it.
#[utoipa::path(
    get,
    path = "/api/v2/project/{slug}",
    operation_id = "get_project",
    tag = "projects",
    params(SlugParam),
    responses(
        (status = 200, description = "The project", body = ProjectJson),
        (status = "4XX", description = "Refused, invalid or not found", body = MessageBody),
    )
)]
pub async fn get_one(
    State(state): State<AppState>,
    caller: Caller,
    params: RouteParams,
) -> Result<Json<ProjectJson>, ApiError> {
    let project =
        super::v2_pipelines::project(&state, &caller, &params, Action::ViewProject).await?;
    let org = state.app.organization_id_of(&project).await?;
    Ok(Json(ProjectJson::new(&project, org)))
}

/// The body of `POST /api/v2/project/{vcs}/{org}/{repo}` (optional, as CircleCI's takes none);
/// `repo_url` defaults to the VCS host's.
#[derive(Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateProject {
    /// The Git URL builds clone (https, http, ssh, git or file) [default: the VCS host's].
    repo_url: Option<String>,
    /// [default: `main`]
    default_branch: Option<String>,
    /// Let anyone read builds, badges and artifacts.
    #[serde(default)]
    public: bool,
}

/// `POST /api/v2/project/{vcs}/{org}/{repo}`: adds a project with the caller as its admin (see
/// `crate::projects::create` for who may add one where).
#[utoipa::path(
    post,
    path = "/api/v2/project/{vcs}/{org}/{repo}",
    operation_id = "create_project",
    tag = "projects",
    params(ProjectPath),
    request_body(content((CreateProject = "application/json")), description = "Optional: without a body, the VCS host's repository, `main`, private"),
    responses(
        (status = 201, description = "The new project, the caller its admin", body = ProjectJson),
        (status = "4XX", description = "Refused, invalid or not found", body = MessageBody),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ProjectRoute(slug): ProjectRoute,
    body: RawBody,
) -> Result<(StatusCode, Json<ProjectJson>), ApiError> {
    caller.require_user()?;
    caller.note_kind(&state.app, "create-project");
    // CircleCI's takes no body: none (or an empty one) asks for every default.
    let body: CreateProject = body.json_or_default("a project")?;
    let repo_url = match &body.repo_url {
        Some(url) => RepoUrl::parse(url)?,
        None => RepoUrl::default_for(&slug),
    };
    let new = NewProject {
        slug,
        repo_url,
        default_branch: BranchName::parse(body.default_branch.as_deref().unwrap_or("main"))?,
        public: body.public,
    };
    let project = state.app.create_project(&caller, &new).await?;
    let org = state.app.organization_id_of(&project).await?;
    Ok((StatusCode::CREATED, Json(ProjectJson::new(&project, org))))
}
