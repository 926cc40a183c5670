//! `POST /api/hooks/{forge}/{vcs}/{org}/{repo}`: where forges deliver webhooks. No credential
//! but the delivery's signature, which `circlet_app::hooks::receive` checks on the raw body
//! before reading anything in it. The rules are the app's; this edge reads the headers and
//! answers the forge.

use super::RawBody;
use super::openapi::ProjectPath;
use crate::error::{ApiError, MessageBody};
use crate::route::RouteParams;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use circlet_app::hooks::receive::HookHeaders;
use circlet_app::hooks::{HookReply, Received};
use circlet_core::forge::Forge;
use serde::Serialize;

/// `{forge}`: which forge's format the delivery is in.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[expect(dead_code, reason = "describes path parameters for the document only")]
pub struct ForgePath {
    /// `github`, `gitea` (or `forgejo`), `gitlab` or `bitbucket`.
    #[param(example = "github")]
    forge: String,
}

/// What a forge is told about its delivery.
#[derive(Serialize, utoipa::ToSchema)]
pub struct DeliveryReply {
    /// What was done, for people reading the forge's delivery log.
    message: String,
    /// `built`, `skipped`, `failed` or (a delivery id seen before) what it came to then.
    outcome: String,
    /// The delivery's id in circlet.
    delivery: String,
    /// The pipelines started: `{id, number}`.
    pipelines: Vec<PipelineRef>,
}

/// A pipeline a delivery started.
#[derive(Serialize, utoipa::ToSchema)]
pub struct PipelineRef {
    /// The pipeline's id (API v2).
    id: String,
    /// Its number in the project.
    number: i64,
}

fn reply(r: Received) -> DeliveryReply {
    DeliveryReply {
        message: r.delivery.detail.clone(),
        outcome: r.delivery.outcome.clone(),
        delivery: r.delivery.uuid.to_string(),
        pipelines: r
            .pipelines
            .iter()
            .map(|p| PipelineRef {
                id: p.uuid.to_string(),
                number: p.number,
            })
            .collect(),
    }
}

fn header(headers: &HeaderMap, names: &[&str]) -> Option<String> {
    names
        .iter()
        .find_map(|n| headers.get(*n)?.to_str().ok().map(str::to_owned))
}

/// A delivery from a forge → 202 with the pipelines it started, 200 when it builds nothing
/// (or was received before), 401 when its signature does not hold (nothing is stored), 404
/// when no project here takes webhooks at this address.
#[utoipa::path(post, path = "/api/hooks/{forge}/{vcs}/{org}/{repo}", operation_id = "receive_webhook", tag = "webhooks",
    params(ForgePath, ProjectPath),
    request_body(content = String, description = "The forge's payload, as it sends it", content_type = "application/json"),
    responses(
        (status = 202, description = "Pipelines started", body = DeliveryReply),
        (status = 200, description = "Nothing to build, or received before", body = DeliveryReply),
        (status = 401, description = "The signature does not hold", body = MessageBody),
        (status = "4XX", description = "No such project, or an unreadable payload", body = MessageBody)))]
pub async fn receive(
    State(state): State<AppState>,
    params: RouteParams,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<(StatusCode, Json<DeliveryReply>), ApiError> {
    let forge = Forge::parse(params.get("forge").unwrap_or_default())
        .map_err(|e| ApiError::NotFound(e.0))?;
    let slug = params.project()?;
    let read = HookHeaders {
        event: header(&headers, &[forge.event_header()]),
        delivery: header(&headers, forge.delivery_headers()),
        signature: header(&headers, &[forge.signature_header()]),
    };
    match state.app.receive_hook(forge, &slug, &read, &body).await? {
        HookReply::Handled(r) => {
            let status = if r.pipelines.is_empty() {
                StatusCode::OK
            } else {
                StatusCode::ACCEPTED
            };
            Ok((status, Json(reply(r))))
        }
        HookReply::AlreadyReceived(earlier) => Ok((
            StatusCode::OK,
            Json(DeliveryReply {
                message: format!(
                    "This delivery was received before ({}): {}",
                    earlier.outcome, earlier.detail
                ),
                outcome: earlier.outcome,
                delivery: earlier.uuid.to_string(),
                pipelines: Vec::new(),
            }),
        )),
    }
}
