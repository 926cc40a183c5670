//! Liveness and readiness probes.

use crate::error::{ApiError, MessageBody};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use serde::Serialize;

/// A probe's answer: `{"status": "ok"}` or `{"status": "ready"}`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ProbeJson {
    /// `ok` (liveness) or `ready` (readiness).
    #[schema(example = "ok")]
    status: &'static str,
}

/// `GET /healthz`: the process is up and serving.
#[utoipa::path(
    get,
    path = "/healthz",
    operation_id = "healthz",
    tag = "health",
    security(()),
    responses((status = 200, description = "The process is up", body = ProbeJson))
)]
pub async fn healthz() -> Json<ProbeJson> {
    Json(ProbeJson { status: "ok" })
}

/// `GET /readyz`: the store answers (and takes writes, once its disk was found full); 503 JSON
/// otherwise.
#[utoipa::path(
    get,
    path = "/readyz",
    operation_id = "readyz",
    tag = "health",
    security(()),
    responses(
        (status = 200, description = "The store answers", body = ProbeJson),
        (status = 503, description = "The store does not answer, or its disk is full", body = MessageBody),
    )
)]
pub async fn readyz(State(state): State<AppState>) -> Result<Json<ProbeJson>, ApiError> {
    crate::store_full::ready(&state).await?;
    Ok(Json(ProbeJson { status: "ready" }))
}
