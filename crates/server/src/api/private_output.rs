//! CircleCI's private `GET /api/private/output/raw/{vcs}/{org}/{repo}/{job}/output/{index}/{step}`
//! (and `…/error/…`), which its tools read a step's log with: the stored output as plain text.
//! circlet keeps a step's stdout and stderr as one stream, so all of it is `output` and
//! `error` is empty. Reads: anyone who may read the project's builds.

use super::openapi::{BuildNumPath, ProjectPath};
use crate::error::{ApiError, MessageBody};
use crate::route::RouteParams;
use crate::state::AppState;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use circlet_app::Caller;
use circlet_core::scope::Action;

/// `{index}` and `{step}`: the parallel run and the step's position in the job.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[expect(dead_code, reason = "describes path parameters for the document only")]
pub struct StepPath {
    /// The parallel run (node), from 0.
    #[param(minimum = 0)]
    index: i64,
    /// The step's position in the job, from 0 (the runner's own first step).
    #[param(minimum = 0)]
    step: i64,
}

/// The step's output, or nothing for `stream = error`.
async fn raw(
    state: &AppState,
    caller: &Caller,
    params: &RouteParams,
    error: bool,
) -> Result<Response, ApiError> {
    let (_, job) = super::project_job(
        state,
        caller,
        params,
        Action::ReadBuilds,
        "build_num",
        "Build not found",
    )
    .await?;
    let number = |name: &str| params.get(name).and_then(|n| n.parse::<i64>().ok());
    let node = number("index")
        .filter(|n| (0..job.parallelism).contains(n))
        .ok_or_else(|| ApiError::NotFound("Parallel run not found".into()))?;
    let step = number("step").ok_or_else(|| ApiError::NotFound("Step not found".into()))?;
    let steps = state.app.store.builds().steps(job.id, node).await?;
    if !steps.iter().any(|s| s.idx == step) {
        return Err(ApiError::NotFound("Step not found".into()));
    }
    let text: String = if error {
        String::new()
    } else {
        let chunks = state
            .app
            .store
            .builds()
            .output(job.id, node, step, 0)
            .await?;
        chunks.into_iter().map(|(_, t)| t).collect()
    };
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response())
}

/// `GET /api/private/output/raw/{vcs}/{org}/{repo}/{build_num}/output/{index}/{step}`: the
/// step's output (stdout and stderr together) as text.
#[utoipa::path(get, path = "/api/private/output/raw/{vcs}/{org}/{repo}/{build_num}/output/{index}/{step}", operation_id = "raw_step_output", tag = "builds",
    params(ProjectPath, BuildNumPath, StepPath),
    responses(
        (status = 200, description = "The step's output", content_type = "text/plain", body = String),
        (status = "4XX", description = "Refused, or no such job, parallel run or step", body = MessageBody)))]
pub async fn output(
    State(state): State<AppState>,
    caller: Caller,
    params: RouteParams,
) -> Result<Response, ApiError> {
    raw(&state, &caller, &params, false).await
}

/// `GET /api/private/output/raw/{vcs}/{org}/{repo}/{build_num}/error/{index}/{step}`: the
/// step's stderr, always empty (circlet keeps one stream, all in `output`).
#[utoipa::path(get, path = "/api/private/output/raw/{vcs}/{org}/{repo}/{build_num}/error/{index}/{step}", operation_id = "raw_step_error", tag = "builds",
    params(ProjectPath, BuildNumPath, StepPath),
    responses(
        (status = 200, description = "Empty: the step's stderr is part of its output", content_type = "text/plain", body = String),
        (status = "4XX", description = "Refused, or no such job, parallel run or step", body = MessageBody)))]
pub async fn error(
    State(state): State<AppState>,
    caller: Caller,
    params: RouteParams,
) -> Result<Response, ApiError> {
    raw(&state, &caller, &params, true).await
}
