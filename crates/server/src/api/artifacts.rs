//! Artifact lists: API v1.1 `…/:build_num/artifacts` and `…/latest/artifacts`, API v2
//! `/project/{slug}/{job-number}/artifacts` (paged). Each item's `url` is circlet's own
//! download route (see `crate::artifacts::download`).

use super::projects::slug_from;
use crate::artifacts::download_url;
use crate::auth::access::authorize;
use crate::auth::caller::Caller;
use crate::error::ApiError;
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, Query, State};
use circlet_core::scope::Action;
use circlet_store::{ArtifactRecord, JobFilter, JobRecord, Project};
use serde::Deserialize;
use serde_json::{Value, json};

/// Items per page of the v2 list.
pub const PAGE: i64 = 50;

type Params = Path<Vec<(String, String)>>;

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn v1_item(state: &AppState, project: &Project, job: &JobRecord, a: &ArtifactRecord) -> Value {
    json!({
        "path": a.path.as_str(),
        "pretty_path": a.path.as_str(),
        "node_index": a.node_index,
        "url": download_url(&state.config.public_url, project, job.build_num, a.node_index, &a.path),
    })
}

async fn v1_list(state: &AppState, project: &Project, job: &JobRecord) -> Result<Value, ApiError> {
    let artifacts = state.store.artifacts().of_job(job.id).await?;
    Ok(Value::Array(
        artifacts
            .iter()
            .map(|a| v1_item(state, project, job, a))
            .collect(),
    ))
}

/// `GET /project/:vcs/:org/:repo/:build_num/artifacts`.
pub async fn v1_build(
    State(state): State<AppState>,
    caller: Caller,
    Path(params): Params,
) -> Result<Json<Value>, ApiError> {
    let slug = slug_from(&params)?;
    let access = authorize(&state, &caller, &slug, Action::ReadArtifacts).await?;
    let num = param(&params, "build_num")
        .and_then(|n| n.parse::<i64>().ok())
        .filter(|n| *n > 0)
        .ok_or_else(|| ApiError::NotFound("Build not found".into()))?;
    let job = state
        .store
        .builds()
        .job_by_num(access.project.id, num)
        .await?
        .ok_or_else(|| ApiError::NotFound("Build not found".into()))?;
    Ok(Json(v1_list(&state, &access.project, &job).await?))
}

/// `?branch=&filter=` of `latest/artifacts`.
#[derive(Debug, Deserialize)]
pub struct LatestQuery {
    branch: Option<String>,
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
pub async fn v1_latest(
    State(state): State<AppState>,
    caller: Caller,
    Path(params): Params,
    Query(q): Query<LatestQuery>,
) -> Result<Json<Value>, ApiError> {
    let slug = slug_from(&params)?;
    let access = authorize(&state, &caller, &slug, Action::ReadArtifacts).await?;
    let filter = latest_filter(q.filter.as_deref())?;
    let branch = q.branch.as_deref().filter(|b| !b.is_empty());
    let job = state
        .store
        .builds()
        .jobs(access.project.id, branch, filter, 1, 0)
        .await?
        .pop()
        .ok_or_else(|| ApiError::NotFound("Build not found".into()))?;
    Ok(Json(v1_list(&state, &access.project, &job).await?))
}

/// `?page-token=` of the v2 list.
#[derive(Debug, Deserialize)]
pub struct PageQuery {
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
pub async fn v2_job(
    State(state): State<AppState>,
    caller: Caller,
    Path(params): Params,
    Query(q): Query<PageQuery>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    if let (Some(slug), Some(number)) = (param(&params, "slug"), param(&params, "number"))
        && !slug.contains('/')
    {
        let as_project = vec![
            ("vcs".to_owned(), slug.to_owned()),
            ("org".to_owned(), number.to_owned()),
            ("repo".to_owned(), "artifacts".to_owned()),
        ];
        return Ok(super::projects::get_one(
            State(state),
            caller,
            super::projects::ApiSlug(slug_from(&as_project)?),
        )
        .await?
        .into_response());
    }
    caller.require_user()?;
    let slug = slug_from(&params)?;
    let access = authorize(&state, &caller, &slug, Action::ReadArtifacts).await?;
    let num = param(&params, "number")
        .and_then(|n| n.parse::<i64>().ok())
        .filter(|n| *n > 0)
        .ok_or_else(|| ApiError::NotFound("Job not found".into()))?;
    let job = state
        .store
        .builds()
        .job_by_num(access.project.id, num)
        .await?
        .ok_or_else(|| ApiError::NotFound("Job not found".into()))?;
    let after = read_page_token(q.page_token.as_deref())?;
    let mut page = state
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
    let items: Vec<Value> = page
        .iter()
        .map(|a| {
            json!({
                "path": a.path.as_str(),
                "node_index": a.node_index,
                "url": download_url(&state.config.public_url, &access.project, job.build_num, a.node_index, &a.path),
            })
        })
        .collect();
    Ok(Json(json!({ "items": items, "next_page_token": next })).into_response())
}
