//! `POST /api/v2/workflow/{id}/rerun`: CircleCI's rerun of a finished workflow, from start,
//! from its failed jobs, or from named jobs, as a new workflow of the same pipeline. The rule
//! is `App::rerun_workflow` (`circlet_app::builds::rerun`), which the pages' buttons call too.

use super::{ApiPath, RawBody};
use crate::error::{ApiError, MessageBody};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use circlet_app::Caller;
use circlet_app::builds::rerun::{RerunRequest, WORKFLOW_NOT_FOUND};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The body of `POST /workflow/{id}/rerun` (all optional; no body reruns every job).
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RerunBody {
    /// Rerun only the jobs that did not succeed and the jobs that require them; the others
    /// keep their results. Not with `jobs`.
    from_failed: Option<bool>,
    /// Rerun only these jobs (their ids) and the jobs that require them.
    jobs: Option<Vec<Uuid>>,
    /// SSH into the rerun jobs: circlet has none, so `true` is refused (400).
    enable_ssh: Option<bool>,
    /// Accepted for CircleCI's clients and ignored: what requires a rerun job always reruns.
    #[expect(dead_code, reason = "accepted for CircleCI's clients, never read")]
    sparse_tree: Option<bool>,
}

/// The reply to a rerun: the new workflow's id.
#[derive(Serialize, utoipa::ToSchema)]
pub struct RerunJson {
    /// The new workflow.
    workflow_id: Uuid,
}

/// `POST /workflow/{id}/rerun` → 202 `{workflow_id}`. Needs a user with the write role.
#[utoipa::path(
    post,
    path = "/api/v2/workflow/{id}/rerun",
    operation_id = "rerun_workflow",
    tag = "pipelines",
    params(super::openapi::IdPath),
    request_body(content((RerunBody = "application/json")), description = "Optional: no body reruns every job"),
    responses(
        (status = 202, description = "The new workflow", body = RerunJson),
        (status = 400, description = "Not finished, nothing failed, unknown jobs, or enable_ssh", body = MessageBody),
        (status = 401, description = "No user credential", body = MessageBody),
        (status = 403, description = "Not allowed to start pipelines in the project", body = MessageBody),
        (status = 404, description = "No such workflow", body = MessageBody),
        (status = "4XX", description = "Refused or invalid", body = MessageBody),
    )
)]
pub async fn rerun_workflow(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    body: RawBody,
) -> Result<(StatusCode, Json<RerunJson>), ApiError> {
    caller.require_user()?;
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::NotFound(WORKFLOW_NOT_FOUND.into()))?;
    let body: RerunBody = body.json_or_default("a rerun")?;
    let req = RerunRequest {
        from_failed: body.from_failed.unwrap_or(false),
        jobs: body.jobs.unwrap_or_default(),
        enable_ssh: body.enable_ssh.unwrap_or(false),
    };
    let (_, new) = state.app.rerun_workflow(&caller, id, &req).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(RerunJson {
            workflow_id: new.uuid,
        }),
    ))
}
