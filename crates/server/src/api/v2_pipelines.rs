//! API v2 pipelines, workflows and jobs: trigger a pipeline, read pipelines (paged), their
//! workflows and jobs, cancel a workflow or a job. Users only (personal tokens or sessions).

use super::build_json::{self, v2_pipeline, v2_workflow};
use super::build_schema::{V2PipelineJson, V2WorkflowJson};
use super::openapi::{IdPath, NumberPath, SlugParam};
use super::{ApiPath, ApiQuery, Page, RawBody};
use crate::error::{ApiError, MessageBody};
use crate::route::RouteParams;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use circlet_app::builds::masks::ProjectMasks;
use circlet_app::builds::trigger::{self, TriggerRequest};
use circlet_app::{AppError, Caller};
use circlet_core::scope::Action;
use circlet_store::{JobRecord, PipelineRecord, Project, WorkflowRecord};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use utoipa::IntoParams;
use uuid::Uuid;

/// Items per page of a v2 list.
pub(crate) const PAGE: i64 = 20;

/// The project of a v2 path, for a caller allowed `action` there (reads: anyone
/// `App::authorize` allows; anything else: users only).
pub(crate) async fn project(
    state: &AppState,
    caller: &Caller,
    params: &RouteParams,
    action: Action,
) -> Result<Project, ApiError> {
    caller.require_user_unless_read(action)?;
    let slug = params.v2_project(&state.app).await?;
    Ok(state.app.authorize(caller, &slug, action).await?.project)
}

/// The body of `POST /project/{slug}/pipeline` (all optional).
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TriggerBody {
    /// The branch to build [default: the project's default branch].
    #[schema(example = "main")]
    branch: Option<String>,
    /// A tag to build instead of a branch.
    tag: Option<String>,
    /// Pipeline parameters: names to strings, numbers or booleans.
    #[schema(value_type = Option<BTreeMap<String, Object>>)]
    parameters: Option<BTreeMap<String, Value>>,
}

/// The reply to a pipeline trigger. Fields in alphabetical order, the order the JSON had when
/// it was built as a `serde_json::Value`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct PipelineCreatedJson {
    /// RFC 3339.
    created_at: String,
    id: Uuid,
    number: i64,
    /// `created`, `errored`, …
    state: String,
}

/// `POST /project/{slug}/pipeline` → 201 `{id, state, number, created_at}`.
#[utoipa::path(
    post,
    path = "/api/v2/project/{slug}/pipeline",
    operation_id = "trigger_pipeline",
    tag = "pipelines",
    params(SlugParam),
    request_body(content((TriggerBody = "application/json")), description = "Optional: an empty body builds the default branch"),
    responses(
        (status = 201, description = "The new pipeline", body = PipelineCreatedJson),
        (status = "4XX", description = "Refused, invalid or not found", body = MessageBody),
    )
)]
pub async fn trigger_pipeline(
    State(state): State<AppState>,
    caller: Caller,
    params: RouteParams,
    body: RawBody,
) -> Result<(StatusCode, Json<PipelineCreatedJson>), ApiError> {
    // Lenient like CircleCI: an empty body (or none) builds the default branch.
    let body: TriggerBody = body.json_or_default("a trigger")?;
    start(
        &state,
        &caller,
        &params,
        body.branch.as_deref(),
        body.tag.as_deref(),
        &body.parameters.unwrap_or_default(),
    )
    .await
}

/// Starts a pipeline of the path's project on `branch` or `tag` (neither: the default branch)
/// with `parameters`, for a user allowed to: `POST …/pipeline` and `POST …/pipeline/run`.
pub(crate) async fn start(
    state: &AppState,
    caller: &Caller,
    params: &RouteParams,
    branch: Option<&str>,
    tag: Option<&str>,
    parameters: &BTreeMap<String, Value>,
) -> Result<(StatusCode, Json<PipelineCreatedJson>), ApiError> {
    caller.require_user()?;
    let pipelines = state
        .app
        .pipelines(caller, &params.v2_project(&state.app).await?)
        .await?;
    let project = &pipelines.project;
    let parameters = trigger::pipeline_parameters(parameters)?;
    let target = match trigger::target(branch, tag)? {
        Some(t) => t,
        None => trigger::target(Some(project.default_branch.as_str()), None)?
            .expect("a branch was given"),
    };
    let req = TriggerRequest {
        parameters,
        ..TriggerRequest::new(target)
    };
    let made = pipelines.trigger(req).await?;
    let p = made.pipeline;
    Ok((
        StatusCode::CREATED,
        Json(PipelineCreatedJson {
            created_at: build_json::iso(p.created_at),
            id: p.uuid,
            number: p.number,
            state: p.state,
        }),
    ))
}

/// `?branch=&page-token=` of a pipeline list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PipelineQuery {
    /// Only pipelines of this branch.
    branch: Option<String>,
    /// The previous page's `next_page_token` [default: the first page].
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
#[utoipa::path(
    get,
    path = "/api/v2/project/{slug}/pipeline",
    operation_id = "list_pipelines",
    tag = "pipelines",
    params(SlugParam, PipelineQuery),
    responses(
        (status = 200, description = "One page of pipelines, newest first", body = Page<V2PipelineJson>),
        (status = "4XX", description = "Refused, invalid or not found", body = MessageBody),
    )
)]
pub async fn list_pipelines(
    State(state): State<AppState>,
    caller: Caller,
    params: RouteParams,
    ApiQuery(q): ApiQuery<PipelineQuery>,
) -> Result<Json<Value>, ApiError> {
    let project = project(&state, &caller, &params, Action::ReadBuilds).await?;
    let before = read_page_token(q.page_token.as_deref())?;
    let branch = q.branch.as_deref().filter(|b| !b.is_empty());
    let page = state
        .app
        .store
        .builds()
        .pipelines(project.id, branch, before, PAGE)
        .await?;
    let items = page.pipelines;
    let next = page.next_before.map(page_token);
    let masks = ProjectMasks::load(&state.app, &project).await?;
    Ok(Json(json!({
        "items": items.iter().map(|p| v2_pipeline(&project, p, &masks)).collect::<Vec<_>>(),
        "next_page_token": next,
    })))
}

/// `GET /project/{slug}/pipeline/{number}`.
#[utoipa::path(
    get,
    path = "/api/v2/project/{slug}/pipeline/{number}",
    operation_id = "get_pipeline_by_number",
    tag = "pipelines",
    params(SlugParam, NumberPath),
    responses(
        (status = 200, description = "The pipeline", body = V2PipelineJson),
        (status = "4XX", description = "Refused, invalid or not found", body = MessageBody),
    )
)]
pub async fn pipeline_by_number(
    State(state): State<AppState>,
    caller: Caller,
    params: RouteParams,
) -> Result<Json<Value>, ApiError> {
    let project = project(&state, &caller, &params, Action::ReadBuilds).await?;
    let number = params.number("number", "Pipeline not found")?;
    let p = state
        .app
        .store
        .builds()
        .pipeline_by_number(project.id, number)
        .await?
        .ok_or_else(|| ApiError::NotFound("Pipeline not found".into()))?;
    let masks = ProjectMasks::load(&state.app, &project).await?;
    Ok(Json(v2_pipeline(&project, &p, &masks)))
}

fn parse_id(raw: &str, what: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| ApiError::NotFound(format!("{what} not found")))
}

/// A pipeline by id, with its project, if the caller may do `action` there. A pipeline of a
/// project the caller may not see is "not found", like one that does not exist.
pub(crate) async fn pipeline_access(
    state: &AppState,
    caller: &Caller,
    id: &str,
    action: Action,
) -> Result<(Project, PipelineRecord), ApiError> {
    caller.require_user_unless_read(action)?;
    let missing = || ApiError::NotFound("Pipeline not found".into());
    let p = state
        .app
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
    state
        .app
        .authorize(caller, &project.slug, action)
        .await
        .map_err(|e| match e {
            AppError::NotFound(_) => missing(),
            other => other.into(),
        })?;
    Ok(project)
}

async fn project_by_id(state: &AppState, id: i64) -> Result<Project, ApiError> {
    state
        .app
        .store
        .projects()
        .by_id(id)
        .await?
        .ok_or_else(|| AppError::project_not_found().into())
}

/// `GET /pipeline/{id}`.
#[utoipa::path(
    get,
    path = "/api/v2/pipeline/{id}",
    operation_id = "get_pipeline",
    tag = "pipelines",
    params(IdPath),
    responses(
        (status = 200, description = "The pipeline", body = V2PipelineJson),
        (status = "4XX", description = "Refused, invalid or not found", body = MessageBody),
    )
)]
pub async fn pipeline(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Value>, ApiError> {
    let (project, p) = pipeline_access(&state, &caller, &id, Action::ReadBuilds).await?;
    let masks = ProjectMasks::load(&state.app, &project).await?;
    Ok(Json(v2_pipeline(&project, &p, &masks)))
}

/// `GET /pipeline/{id}/workflow`: the pipeline's workflows (one page: a pipeline has few).
#[utoipa::path(
    get,
    path = "/api/v2/pipeline/{id}/workflow",
    operation_id = "list_pipeline_workflows",
    tag = "pipelines",
    params(IdPath),
    responses(
        (status = 200, description = "The pipeline's workflows, in one page", body = Page<V2WorkflowJson>),
        (status = "4XX", description = "Refused, invalid or not found", body = MessageBody),
    )
)]
pub async fn pipeline_workflows(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Value>, ApiError> {
    let (project, p) = pipeline_access(&state, &caller, &id, Action::ReadBuilds).await?;
    let mut items = Vec::new();
    let started_by = build_json::started_by(&state, &p).await?;
    for w in state.app.store.builds().workflows(p.id).await? {
        let jobs = state.app.store.builds().jobs_of_workflow(w.id).await?;
        items.push(v2_workflow(&project, &p, started_by, &w, &jobs));
    }
    Ok(Json(json!({"items": items, "next_page_token": null})))
}

/// A workflow by id, with its pipeline, project and jobs.
pub(crate) async fn workflow_access(
    state: &AppState,
    caller: &Caller,
    id: &str,
    action: Action,
) -> Result<(Project, PipelineRecord, WorkflowRecord, Vec<JobRecord>), ApiError> {
    caller.require_user_unless_read(action)?;
    let missing = || ApiError::NotFound("Workflow not found".into());
    let w = state
        .app
        .store
        .builds()
        .workflow_by_uuid(parse_id(id, "Workflow")?)
        .await?
        .ok_or_else(missing)?;
    let p = state
        .app
        .store
        .builds()
        .pipeline_by_id(w.pipeline_id)
        .await?
        .ok_or_else(missing)?;
    let project = owning_project(state, caller, p.project_id, action, missing).await?;
    let jobs = state.app.store.builds().jobs_of_workflow(w.id).await?;
    Ok((project, p, w, jobs))
}

/// `GET /workflow/{id}`.
#[utoipa::path(
    get,
    path = "/api/v2/workflow/{id}",
    operation_id = "get_workflow",
    tag = "pipelines",
    params(IdPath),
    responses(
        (status = 200, description = "The workflow", body = V2WorkflowJson),
        (status = "4XX", description = "Refused, invalid or not found", body = MessageBody),
    )
)]
pub async fn workflow(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Value>, ApiError> {
    let (project, p, w, jobs) = workflow_access(&state, &caller, &id, Action::ReadBuilds).await?;
    let started_by = build_json::started_by(&state, &p).await?;
    Ok(Json(v2_workflow(&project, &p, started_by, &w, &jobs)))
}

/// `POST /workflow/{id}/cancel` → 202: jobs not started end now, running ones within seconds.
#[utoipa::path(
    post,
    path = "/api/v2/workflow/{id}/cancel",
    operation_id = "cancel_workflow",
    tag = "pipelines",
    params(IdPath),
    responses(
        (status = 202, description = "Accepted: jobs not started end now, running ones within seconds", body = MessageBody),
        (status = "4XX", description = "Refused, invalid or not found", body = MessageBody),
    )
)]
pub async fn cancel_workflow(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<(StatusCode, Json<MessageBody>), ApiError> {
    let (_, _, w, _) = workflow_access(&state, &caller, &id, Action::Trigger).await?;
    state.app.store.builds().cancel_workflow(w.id).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(MessageBody::new("Request accepted.")),
    ))
}

/// `POST /workflow/{id}/approve/{approval_request_id}` → 202: the approval job ends `success`
/// and the jobs waiting for it start. Needs the write role.
#[utoipa::path(
    post,
    path = "/api/v2/workflow/{id}/approve/{approval_request_id}",
    operation_id = "approve_pending_approval_job_by_id",
    tag = "pipelines",
    params(
        IdPath,
        ("approval_request_id" = String, Path, description = "The approval job's id (its `approval_request_id`)"),
    ),
    responses(
        (status = 202, description = "Approved", body = MessageBody),
        (status = "4XX", description = "Refused, invalid, not on hold or not found", body = MessageBody),
    )
)]
pub async fn approve(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((id, request)): ApiPath<(String, String)>,
) -> Result<(StatusCode, Json<MessageBody>), ApiError> {
    let (project, _, _, jobs) = workflow_access(&state, &caller, &id, Action::Trigger).await?;
    let request = uuid::Uuid::parse_str(&request)
        .map_err(|_| ApiError::NotFound(circlet_app::builds::trigger::APPROVAL_NOT_FOUND.into()))?;
    state
        .app
        .pipelines(&caller, &project.slug)
        .await?
        .approve(&jobs, request)
        .await?;
    Ok((StatusCode::ACCEPTED, Json(MessageBody::new("Accepted."))))
}

/// `POST /pipeline/continue`'s body (CircleCI's).
#[derive(serde::Deserialize, utoipa::ToSchema)]
pub struct ContinueRequest {
    /// The setup job's `CIRCLE_CONTINUATION_KEY`.
    #[serde(rename = "continuation-key")]
    continuation_key: String,
    /// The generated config.
    configuration: String,
    /// Pipeline parameters for it.
    #[serde(default)]
    parameters: std::collections::BTreeMap<String, Value>,
}

/// `POST /pipeline/continue` → 200: a setup pipeline goes on with the generated configuration
/// a setup job sends. The continuation key is the credential (no token needed), good once.
#[utoipa::path(
    post,
    path = "/api/v2/pipeline/continue",
    operation_id = "continue_pipeline",
    tag = "pipelines",
    request_body = ContinueRequest,
    responses(
        (status = 200, description = "The pipeline continues", body = MessageBody),
        (status = "4XX", description = "Not a valid key, used already, or not a valid configuration", body = MessageBody),
    )
)]
pub async fn continue_pipeline(
    State(state): State<AppState>,
    crate::api::ApiJson(req): crate::api::ApiJson<ContinueRequest>,
) -> Result<Json<MessageBody>, ApiError> {
    let parameters = trigger::pipeline_parameters(&req.parameters)?;
    state
        .app
        .continue_pipeline(&req.continuation_key, req.configuration, parameters)
        .await?;
    Ok(Json(MessageBody::new("Pipeline continued.")))
}
