//! API v2 jobs: a workflow's jobs (paged), one job, canceling it, and its test results
//! (`GET /project/{slug}/{number}/tests`). Reads: anyone `App::authorize` allows (a public
//! project's without a token, project tokens within their scope); cancel: users only.

use super::build_json::{self, v2_job, v2_workflow_job};
use super::build_schema::{V2JobJson, V2WorkflowJobJson};
use super::openapi::{IdPath, NumberPath, SlugParam};
use super::v2_pipelines::{PAGE, workflow_access};
use super::{ApiPath, ApiQuery, Page};
use crate::error::{ApiError, MessageBody};
use crate::route::RouteParams;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use circlet_app::Caller;
use circlet_core::scope::Action;
use circlet_store::{JobRecord, Project};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};

/// `?page-token=` of a workflow's jobs.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct JobPageQuery {
    /// The previous page's `next_page_token` [default: the first page].
    #[serde(rename = "page-token")]
    page_token: Option<String>,
}

/// `GET /workflow/{id}/job`: the workflow's jobs by number, 20 a page.
#[utoipa::path(
    get,
    path = "/api/v2/workflow/{id}/job",
    operation_id = "list_workflow_jobs",
    tag = "pipelines",
    params(IdPath, JobPageQuery),
    responses(
        (status = 200, description = "One page of the workflow's jobs, by number", body = Page<V2WorkflowJobJson>),
        (status = "4XX", description = "Refused, invalid or not found", body = MessageBody),
    )
)]
pub async fn workflow_jobs(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<JobPageQuery>,
) -> Result<Json<Value>, ApiError> {
    let after = super::page_token::decode("job-number", q.page_token.as_deref())?;
    let (project, _, _, jobs) = workflow_access(&state, &caller, &id, Action::ReadBuilds).await?;
    let rest: Vec<&JobRecord> = jobs
        .iter()
        .filter(|j| after.is_none_or(|n| j.build_num > n))
        .collect();
    let page = &rest[..rest.len().min(PAGE as usize)];
    let next = (rest.len() > page.len())
        .then(|| {
            page.last()
                .map(|j| super::page_token::encode("job-number", j.build_num))
        })
        .flatten();
    let items: Vec<Value> = page
        .iter()
        .map(|j| v2_workflow_job(&project, j, &jobs))
        .collect();
    Ok(Json(json!({"items": items, "next_page_token": next})))
}

pub(crate) async fn project_job(
    state: &AppState,
    caller: &Caller,
    params: &RouteParams,
    action: Action,
) -> Result<(Project, JobRecord), ApiError> {
    caller.require_user_unless_read(action)?;
    super::project_job(state, caller, params, action, "number", "Job not found").await
}

/// `GET /project/{slug}/job/{number}`.
#[utoipa::path(
    get,
    path = "/api/v2/project/{slug}/job/{number}",
    operation_id = "get_job",
    tag = "pipelines",
    params(SlugParam, NumberPath),
    responses(
        (status = 200, description = "The job", body = V2JobJson),
        (status = "4XX", description = "Refused, invalid or not found", body = MessageBody),
    )
)]
pub async fn job(
    State(state): State<AppState>,
    caller: Caller,
    params: RouteParams,
) -> Result<Json<Value>, ApiError> {
    let (project, job) = project_job(&state, &caller, &params, Action::ReadBuilds).await?;
    let mut cache = build_json::Cache::default();
    let p = cache.pipeline(&state, job.pipeline_id).await?;
    let w = cache
        .workflow(&state, job.pipeline_id, job.workflow_id)
        .await?;
    let nodes = state.app.store.builds().nodes(job.id).await?;
    Ok(Json(v2_job(&state, &project, &p, &w, &job, &nodes)))
}

/// `POST /project/{slug}/job/{number}/cancel`.
#[utoipa::path(
    post,
    path = "/api/v2/project/{slug}/job/{number}/cancel",
    operation_id = "cancel_job",
    tag = "pipelines",
    params(SlugParam, NumberPath),
    responses(
        (status = 200, description = "Accepted", body = MessageBody),
        (status = "4XX", description = "Refused, invalid or not found", body = MessageBody),
    )
)]
pub async fn cancel_job(
    State(state): State<AppState>,
    caller: Caller,
    params: RouteParams,
) -> Result<Json<MessageBody>, ApiError> {
    caller.require_user()?;
    let pipelines = state
        .app
        .pipelines(&caller, &params.v2_project(&state.app).await?)
        .await?;
    let num = params.number("number", "Job not found")?;
    let job = pipelines.job(num, "Job not found").await?;
    pipelines.cancel(&job).await?;
    Ok(Json(MessageBody::new("Request accepted.")))
}

/// `?page-token=` of a job's tests.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TestsQuery {
    /// The previous page's `next_page_token` [default: the first page].
    #[serde(rename = "page-token")]
    page_token: Option<String>,
}

/// One test result, as API v2 gives it.
#[derive(Serialize, ToSchema)]
pub struct V2TestJson {
    /// `success`, `failure`, `error` or `skipped`.
    result: String,
    /// The failure's message; `""` when there is none.
    message: String,
    /// The file the test is in, when the report said.
    #[serde(skip_serializing_if = "Option::is_none")]
    file: Option<String>,
    /// Always `unknown`: test reports do not say.
    source: String,
    /// Seconds.
    run_time: f64,
    name: String,
    classname: String,
}

/// Test results per page.
const TESTS_PAGE: usize = 1000;

/// `GET /project/{slug}/{number}/tests`: the job's test results (`store_test_results`), 1,000
/// a page. This route also catches `/project/{vcs}/{org}/tests` (its literal wins over
/// `{repo}`): with a slug that is not one `%2F`-encoded segment, that is the project
/// `{vcs}/{org}/tests` itself, answered as `GET /v2/project/{slug}` would.
#[utoipa::path(
    get,
    path = "/api/v2/project/{slug}/{number}/tests",
    operation_id = "get_tests",
    tag = "pipelines",
    params(SlugParam, NumberPath, TestsQuery),
    responses(
        (status = 200, description = "One page of the job's test results (or, for a `{slug}` without `/`, the project `{slug}/{number}/tests`)", body = V2JobTestsReply),
        (status = "4XX", description = "Refused, invalid or not found", body = MessageBody),
    )
)]
pub async fn tests(
    State(state): State<AppState>,
    caller: Caller,
    params: RouteParams,
    ApiQuery(q): ApiQuery<TestsQuery>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    if let Some(as_project) = params.project_named_like_a_job_list("tests") {
        return Ok(super::projects::get_one(State(state), caller, as_project)
            .await?
            .into_response());
    }
    let after = super::page_token::decode("test", q.page_token.as_deref())?.unwrap_or(0);
    let (_, job) = project_job(&state, &caller, &params, Action::ReadBuilds).await?;
    let all = state.app.store.builds().tests(job.id).await?;
    let start = usize::try_from(after).unwrap_or(0).min(all.len());
    let end = (start + TESTS_PAGE).min(all.len());
    let items = all[start..end]
        .iter()
        .map(|t| V2TestJson {
            result: t.result.clone(),
            message: t.message.clone().unwrap_or_default(),
            file: t.file.clone().filter(|f| !f.is_empty()),
            source: "unknown".into(),
            run_time: t.run_time,
            name: t.name.clone(),
            classname: t.classname.clone(),
        })
        .collect();
    let next = (end < all.len()).then(|| super::page_token::encode("test", end as i64));
    Ok(Json(Page {
        items,
        next_page_token: next,
    })
    .into_response())
}

/// What `GET /project/{slug}/{number}/tests` answers: a page of test results, or a project
/// whose name is `tests`. For the OpenAPI document only.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum V2JobTestsReply {
    /// The job's test results.
    Tests(Page<V2TestJson>),
    /// The project `{slug}/{number}/tests`.
    Project(super::projects::ProjectJson),
}
