//! Artifact lists: API v1.1 `…/:build_num/artifacts` and `…/latest/artifacts`, API v2
//! `/project/{slug}/{job-number}/artifacts` (paged). Each item's `url` is circlet's own
//! download route (see `crate::artifacts::download`).

use super::openapi::{BuildNumPath, NumberPath, ProjectPath, SlugParam};
use super::projects::ProjectJson;
use super::{ApiQuery, Page};
use crate::error::{ApiError, MessageBody};
use crate::route::RouteParams;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use circlet_app::Caller;
use circlet_app::artifacts::download_url;
use circlet_core::scope::Action;
use circlet_store::{ArtifactRecord, JobFilter, JobRecord, Project};
use serde::{Deserialize, Serialize};
use utoipa::IntoParams;

/// An artifact in a v1.1 list. Fields in alphabetical order, the order the JSON had when it was
/// built as a `serde_json::Value`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct V1ArtifactJson {
    /// The parallel run that uploaded it (always 0).
    node_index: i64,
    /// Its path under the job's artifact root.
    path: String,
    /// The same as `path`.
    pretty_path: String,
    /// Where to download it (append `?circle-token=` for a private project).
    url: String,
}

/// An artifact in a v2 list (fields in alphabetical order, as in [`V1ArtifactJson`]).
#[derive(Serialize, utoipa::ToSchema)]
pub struct V2ArtifactJson {
    /// The parallel run that uploaded it (always 0).
    node_index: i64,
    /// Its path under the job's artifact root.
    path: String,
    /// Where to download it.
    url: String,
}

/// What `GET /v2/project/{slug}/{number}/artifacts` answers: the job's artifacts, or (see
/// [`v2_job`]) a project whose name is `artifacts`. For the OpenAPI document only.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum V2JobArtifactsReply {
    /// One page of the job's artifacts.
    Artifacts(Page<V2ArtifactJson>),
    /// The project `{slug}/{number}/artifacts`.
    Project(ProjectJson),
}

/// Items per page of the v2 list.
pub const PAGE: i64 = 50;

fn v1_item(
    state: &AppState,
    project: &Project,
    job: &JobRecord,
    a: &ArtifactRecord,
) -> V1ArtifactJson {
    V1ArtifactJson {
        node_index: a.node_index,
        path: a.path.as_str().to_owned(),
        pretty_path: a.path.as_str().to_owned(),
        url: download_url(
            &state.app.config.public_url,
            project,
            job.build_num,
            a.node_index,
            &a.path,
        ),
    }
}

async fn v1_list(
    state: &AppState,
    project: &Project,
    job: &JobRecord,
) -> Result<Vec<V1ArtifactJson>, ApiError> {
    let artifacts = state.app.store.artifacts().of_job(job.id).await?;
    Ok(artifacts
        .iter()
        .map(|a| v1_item(state, project, job, a))
        .collect())
}

/// `GET /project/:vcs/:org/:repo/:build_num/artifacts`.
#[utoipa::path(
    get,
    path = "/api/v1.1/project/{vcs}/{org}/{repo}/{build_num}/artifacts",
    operation_id = "list_build_artifacts_v1",
    tag = "artifacts",
    params(ProjectPath, BuildNumPath),
    responses(
        (status = 200, description = "The build's artifacts", body = Vec<V1ArtifactJson>),
        (status = "4XX", description = "Refused, invalid or not found", body = MessageBody),
    )
)]
pub async fn v1_build(
    State(state): State<AppState>,
    caller: Caller,
    params: RouteParams,
) -> Result<Json<Vec<V1ArtifactJson>>, ApiError> {
    let (project, job) =
        super::v1_builds::project_job(&state, &caller, &params, Action::ReadArtifacts).await?;
    Ok(Json(v1_list(&state, &project, &job).await?))
}

/// `?branch=&filter=` of `latest/artifacts`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LatestQuery {
    /// Only builds of this branch [default: any branch].
    branch: Option<String>,
    /// `completed` (the default), `successful`, `failed` or `running`.
    filter: Option<String>,
}

/// `filter=` of `latest/artifacts`; absent (or Python's `None`) means `completed`.
fn latest_filter(raw: Option<&str>) -> Result<JobFilter, ApiError> {
    match raw.map(str::trim).map(str::to_ascii_lowercase).as_deref() {
        None | Some("" | "none" | "null" | "completed") => Ok(JobFilter::Completed),
        Some("successful") => Ok(JobFilter::Successful),
        Some("failed") => Ok(JobFilter::Failed),
        Some("running") => Ok(JobFilter::Running),
        Some(_) => Err(ApiError::Invalid(
            "filter must be one of: completed, successful, failed, running".into(),
        )),
    }
}

/// `GET /project/:vcs/:org/:repo/latest/artifacts?branch=&filter=`: the artifacts of the
/// newest build matching `branch` (any branch when absent) and `filter` (default `completed`).
#[utoipa::path(
    get,
    path = "/api/v1.1/project/{vcs}/{org}/{repo}/latest/artifacts",
    operation_id = "list_latest_artifacts_v1",
    tag = "artifacts",
    params(ProjectPath, LatestQuery),
    responses(
        (status = 200, description = "The artifacts of the newest matching build", body = Vec<V1ArtifactJson>),
        (status = "4XX", description = "Refused, invalid or not found", body = MessageBody),
    )
)]
pub async fn v1_latest(
    State(state): State<AppState>,
    caller: Caller,
    params: RouteParams,
    ApiQuery(q): ApiQuery<LatestQuery>,
) -> Result<Json<Vec<V1ArtifactJson>>, ApiError> {
    let slug = params.project()?;
    let access = state
        .app
        .authorize(&caller, &slug, Action::ReadArtifacts)
        .await?;
    let filter = latest_filter(q.filter.as_deref())?;
    let branch = q.branch.as_deref().filter(|b| !b.is_empty());
    let job = state
        .app
        .store
        .builds()
        .jobs(access.project.id, branch, filter, 1, 0)
        .await?
        .pop()
        .ok_or_else(|| ApiError::NotFound("Build not found".into()))?;
    Ok(Json(v1_list(&state, &access.project, &job).await?))
}

/// `?page-token=` of the v2 list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// The previous page's `next_page_token` [default: the first page].
    #[serde(rename = "page-token")]
    page_token: Option<String>,
}

fn page_token(position: i64) -> String {
    super::page_token::encode("after", position)
}

fn read_page_token(raw: Option<&str>) -> Result<Option<i64>, ApiError> {
    super::page_token::decode("after", raw)
}

/// `GET /v2/project/{slug}/{job-number}/artifacts`: `{items: [{path, node_index, url}],
/// next_page_token}`, users only like the rest of v2.
///
/// The router sends `/v2/project/{vcs}/{org}/artifacts` here too (a static last segment wins
/// over `{repo}`): with a slug that is not one `%2F`-encoded segment, that is the project
/// `{vcs}/{org}/artifacts` itself, answered as `GET /v2/project/{slug}` would.
#[utoipa::path(
    get,
    path = "/api/v2/project/{slug}/{number}/artifacts",
    operation_id = "list_job_artifacts",
    tag = "artifacts",
    params(SlugParam, NumberPath, PageQuery),
    responses(
        (status = 200, description = "One page of the job's artifacts (or, for a `{slug}` without `/`, the project `{slug}/{number}/artifacts`)", body = V2JobArtifactsReply),
        (status = "4XX", description = "Refused, invalid or not found", body = MessageBody),
    )
)]
pub async fn v2_job(
    State(state): State<AppState>,
    caller: Caller,
    params: RouteParams,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    if let Some(as_project) = params.project_named_like_a_job_list("artifacts") {
        return Ok(super::projects::get_one(State(state), caller, as_project)
            .await?
            .into_response());
    }
    caller.require_user_unless_read(Action::ReadArtifacts)?;
    let (project, job) = super::project_job(
        &state,
        &caller,
        &params,
        Action::ReadArtifacts,
        "number",
        "Job not found",
    )
    .await?;
    let after = read_page_token(q.page_token.as_deref())?;
    let mut page = state
        .app
        .store
        .artifacts()
        .page_of_job(job.id, after, PAGE + 1)
        .await?;
    let next = if page.len() as i64 > PAGE {
        page.truncate(PAGE as usize);
        page.last().map(|a| page_token(a.id))
    } else {
        None
    };
    let items = page
        .iter()
        .map(|a| V2ArtifactJson {
            node_index: a.node_index,
            path: a.path.as_str().to_owned(),
            url: download_url(
                &state.app.config.public_url,
                &project,
                job.build_num,
                a.node_index,
                &a.path,
            ),
        })
        .collect();
    Ok(Json(Page {
        items,
        next_page_token: next,
    })
    .into_response())
}
