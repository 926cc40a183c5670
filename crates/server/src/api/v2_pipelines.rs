//! API v2 pipelines, workflows and jobs: trigger a pipeline, read pipelines (paged), their
//! workflows and jobs, cancel a workflow or a job. Users only (personal tokens or sessions).

use super::RawBody;
use super::build_json::{self, v2_job, v2_pipeline, v2_workflow, v2_workflow_job};
use super::projects::slug_from;
use crate::auth::access::authorize;
use crate::auth::caller::Caller;
use crate::builds::trigger::{self, TriggerRequest};
use crate::error::ApiError;
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use circlet_core::scope::Action;
use circlet_store::{JobRecord, PipelineRecord, Project, WorkflowRecord};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use uuid::Uuid;

/// Items per page of a v2 list.
const PAGE: i64 = 20;

type Params = Path<Vec<(String, String)>>;

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// The project of a v2 path, for a user allowed `action` there.
async fn project(
    state: &AppState,
    caller: &Caller,
    params: &[(String, String)],
    action: Action,
) -> Result<Project, ApiError> {
    caller.require_user()?;
    let slug = slug_from(params)?;
    Ok(authorize(state, caller, &slug, action).await?.project)
}

/// The body of `POST /project/{slug}/pipeline` (all optional).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TriggerBody {
    branch: Option<String>,
    tag: Option<String>,
    parameters: Option<BTreeMap<String, Value>>,
}

/// `POST /project/{slug}/pipeline` → 201 `{id, state, number, created_at}`.
pub async fn trigger_pipeline(
    State(state): State<AppState>,
    caller: Caller,
    Path(params): Params,
    RawBody(body): RawBody,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let project = project(&state, &caller, &params, Action::Trigger).await?;
    let user = caller.require_user()?;
    // Lenient like CircleCI: an empty body (or none) builds the default branch.
    let body: TriggerBody = if body.iter().all(u8::is_ascii_whitespace) {
        TriggerBody::default()
    } else {
        serde_json::from_slice::<Option<TriggerBody>>(&body)
            .map_err(|e| ApiError::Invalid(format!("Request body is not a valid trigger: {e}")))?
            .unwrap_or_default()
    };
    let mut parameters = BTreeMap::new();
    for (name, v) in body.parameters.unwrap_or_default() {
        let value = trigger::param_value(&name, &v)?;
        parameters.insert(name, value);
    }
    trigger::check_parameters(&parameters)?;
    let target = match trigger::target(body.branch.as_deref(), body.tag.as_deref())? {
        Some(t) => t,
        None => trigger::target(Some(project.default_branch.as_str()), None)?
            .expect("a branch was given"),
    };
    let req = TriggerRequest {
        parameters,
        ..TriggerRequest::new(target)
    };
    let made = trigger::trigger(&state, &project, user, req).await?;
    let p = made.pipeline;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "id": p.uuid,
            "state": p.state,
            "number": p.number,
            "created_at": build_json::iso(p.created_at),
        })),
    ))
}

/// `?branch=&page-token=` of a pipeline list.
#[derive(Debug, Deserialize)]
pub struct PipelineQuery {
    branch: Option<String>,
    #[serde(rename = "page-token")]
    page_token: Option<String>,
}

fn page_token(position: i64) -> String {
    super::page_token::encode("before", position)
}

fn read_page_token(raw: Option<&str>) -> Result<Option<i64>, ApiError> {
    super::page_token::decode("before", raw)
}

/// `GET /project/{slug}/pipeline`: newest first, 20 per page, `next_page_token` until the end.
pub async fn list_pipelines(
    State(state): State<AppState>,
    caller: Caller,
    Path(params): Params,
    Query(q): Query<PipelineQuery>,
) -> Result<Json<Value>, ApiError> {
    let project = project(&state, &caller, &params, Action::ReadBuilds).await?;
    let before = read_page_token(q.page_token.as_deref())?;
    let branch = q.branch.as_deref().filter(|b| !b.is_empty());
    let page = state
        .store
        .builds()
        .pipelines(project.id, branch, before, PAGE)
        .await?;
    let items = page.pipelines;
    let next = page.next_before.map(page_token);
    Ok(Json(json!({
        "items": items.iter().map(|p| v2_pipeline(&project, p)).collect::<Vec<_>>(),
        "next_page_token": next,
    })))
}

/// `GET /project/{slug}/pipeline/{number}`.
pub async fn pipeline_by_number(
    State(state): State<AppState>,
    caller: Caller,
    Path(params): Params,
) -> Result<Json<Value>, ApiError> {
    let project = project(&state, &caller, &params, Action::ReadBuilds).await?;
    let number = param(&params, "number")
        .and_then(|n| n.parse::<i64>().ok())
        .ok_or_else(|| ApiError::NotFound("Pipeline not found".into()))?;
    let p = state
        .store
        .builds()
        .pipeline_by_number(project.id, number)
        .await?
        .ok_or_else(|| ApiError::NotFound("Pipeline not found".into()))?;
    Ok(Json(v2_pipeline(&project, &p)))
}

fn parse_id(raw: &str, what: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| ApiError::NotFound(format!("{what} not found")))
}

/// A pipeline by id, with its project, if the caller may do `action` there. A pipeline of a
/// project the caller may not see is "not found", like one that does not exist.
async fn pipeline_access(
    state: &AppState,
    caller: &Caller,
    id: &str,
    action: Action,
) -> Result<(Project, PipelineRecord), ApiError> {
    caller.require_user()?;
    let missing = || ApiError::NotFound("Pipeline not found".into());
    let p = state
        .store
        .builds()
        .pipeline_by_uuid(parse_id(id, "Pipeline")?)
        .await?
        .ok_or_else(missing)?;
    let project = owning_project(state, caller, p.project_id, action, missing).await?;
    Ok((project, p))
}

/// The project owning a thing addressed by id, if the caller may do `action` there; a project
/// the caller may not see answers `missing()`, exactly like a thing that does not exist.
async fn owning_project(
    state: &AppState,
    caller: &Caller,
    project_id: i64,
    action: Action,
    missing: impl Fn() -> ApiError,
) -> Result<Project, ApiError> {
    let project = project_by_id(state, project_id).await?;
    authorize(state, caller, &project.slug, action)
        .await
        .map_err(|e| match e {
            ApiError::NotFound(_) => missing(),
            other => other,
        })?;
    Ok(project)
}

async fn project_by_id(state: &AppState, id: i64) -> Result<Project, ApiError> {
    state
        .store
        .projects()
        .by_id(id)
        .await?
        .ok_or_else(|| ApiError::NotFound("Project not found".into()))
}

/// `GET /pipeline/{id}`.
pub async fn pipeline(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let (project, p) = pipeline_access(&state, &caller, &id, Action::ReadBuilds).await?;
    Ok(Json(v2_pipeline(&project, &p)))
}

/// `GET /pipeline/{id}/workflow`: the pipeline's workflows (one page: a pipeline has few).
pub async fn pipeline_workflows(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let (project, p) = pipeline_access(&state, &caller, &id, Action::ReadBuilds).await?;
    let mut items = Vec::new();
    for w in state.store.builds().workflows(p.id).await? {
        let jobs = state.store.builds().jobs_of_workflow(w.id).await?;
        items.push(v2_workflow(&project, &p, &w, &jobs));
    }
    Ok(Json(json!({"items": items, "next_page_token": null})))
}

/// A workflow by id, with its pipeline, project and jobs.
async fn workflow_access(
    state: &AppState,
    caller: &Caller,
    id: &str,
    action: Action,
) -> Result<(Project, PipelineRecord, WorkflowRecord, Vec<JobRecord>), ApiError> {
    caller.require_user()?;
    let missing = || ApiError::NotFound("Workflow not found".into());
    let w = state
        .store
        .builds()
        .workflow_by_uuid(parse_id(id, "Workflow")?)
        .await?
        .ok_or_else(missing)?;
    let p = state
        .store
        .builds()
        .pipeline_by_id(w.pipeline_id)
        .await?
        .ok_or_else(missing)?;
    let project = owning_project(state, caller, p.project_id, action, missing).await?;
    let jobs = state.store.builds().jobs_of_workflow(w.id).await?;
    Ok((project, p, w, jobs))
}

/// `GET /workflow/{id}`.
pub async fn workflow(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let (project, p, w, jobs) = workflow_access(&state, &caller, &id, Action::ReadBuilds).await?;
    Ok(Json(v2_workflow(&project, &p, &w, &jobs)))
}

/// `GET /workflow/{id}/job`.
pub async fn workflow_jobs(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let (project, _, _, jobs) = workflow_access(&state, &caller, &id, Action::ReadBuilds).await?;
    let items: Vec<Value> = jobs
        .iter()
        .map(|j| v2_workflow_job(&project, j, &jobs))
        .collect();
    Ok(Json(json!({"items": items, "next_page_token": null})))
}

/// `POST /workflow/{id}/cancel` → 202: jobs not started end now, running ones within seconds.
pub async fn cancel_workflow(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let (_, _, w, _) = workflow_access(&state, &caller, &id, Action::Trigger).await?;
    state.store.builds().cancel_workflow(w.id).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"message": "Request accepted."})),
    ))
}

async fn project_job(
    state: &AppState,
    caller: &Caller,
    params: &[(String, String)],
    action: Action,
) -> Result<(Project, JobRecord), ApiError> {
    let project = project(state, caller, params, action).await?;
    let number = param(params, "number")
        .and_then(|n| n.parse::<i64>().ok())
        .ok_or_else(|| ApiError::NotFound("Job not found".into()))?;
    let job = state
        .store
        .builds()
        .job_by_num(project.id, number)
        .await?
        .ok_or_else(|| ApiError::NotFound("Job not found".into()))?;
    Ok((project, job))
}

/// `GET /project/{slug}/job/{number}`.
pub async fn job(
    State(state): State<AppState>,
    caller: Caller,
    Path(params): Params,
) -> Result<Json<Value>, ApiError> {
    let (project, job) = project_job(&state, &caller, &params, Action::ReadBuilds).await?;
    let mut cache = build_json::Cache::default();
    let p = cache.pipeline(&state, job.pipeline_id).await?;
    let w = cache
        .workflow(&state, job.pipeline_id, job.workflow_id)
        .await?;
    Ok(Json(v2_job(&state, &project, &p, &w, &job)))
}

/// `POST /project/{slug}/job/{number}/cancel`.
pub async fn cancel_job(
    State(state): State<AppState>,
    caller: Caller,
    Path(params): Params,
) -> Result<Json<Value>, ApiError> {
    let (_, job) = project_job(&state, &caller, &params, Action::Trigger).await?;
    state.store.builds().request_cancel(job.id).await?;
    Ok(Json(json!({"message": "Request accepted."})))
}
