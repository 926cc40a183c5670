//! Jobs' OIDC ID tokens at the edge: what verifiers fetch (each organization's discovery
//! document and the JWKS it names, under `/oidc/org/{org}/…`), and the custom-audience token
//! a running job asks for with `circleci run oidc get --claims '{"aud": …}'` (its own ID token
//! is the credential). The rules are `circlet_app::oidc`'s.

use super::ApiJson;
use crate::error::{ApiError, MessageBody};
use crate::route::RouteParams;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// How long verifiers may keep the discovery document and the JWKS. Short: a rotation's new key
/// signs within a minute of it (verifiers also refetch on an unknown `kid`).
const CACHE: &str = "public, max-age=60";

/// What a job asks for.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct JobTokenRequest {
    /// The claims to set: only `aud`, a string or a list of strings.
    #[schema(value_type = Object, example = json!({"aud": "my-service"}))]
    claims: serde_json::Value,
}

/// The token made.
#[derive(Serialize, utoipa::ToSchema)]
pub struct JobTokenReply {
    /// A JWT like the job's own ID token, for the audience asked for.
    token: String,
}

/// `POST /api/oidc/job-token`: an ID token with another audience for a running job, which
/// authenticates with one of its own (`Authorization: Bearer $CIRCLE_OIDC_TOKEN_V2`).
#[utoipa::path(post, path = "/api/oidc/job-token", operation_id = "oidc_job_token", tag = "oidc",
    request_body = JobTokenRequest,
    security(()),
    responses(
        (status = 200, description = "The token", body = JobTokenReply),
        (status = 400, description = "Claims other than `aud`, or a malformed body", body = MessageBody),
        (status = 401, description = "No ID token, one not signed here, expired, or of a job no longer running", body = MessageBody),
        (status = "4XX", description = "Refused", body = MessageBody)))]
pub async fn job_token(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiJson(request): ApiJson<JobTokenRequest>,
) -> Result<Json<JobTokenReply>, ApiError> {
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .ok_or_else(|| {
            ApiError::Unauthorized(
                "send the job's ID token: Authorization: Bearer $CIRCLE_OIDC_TOKEN_V2".into(),
            )
        })?;
    let token = state
        .app
        .custom_oidc_token(presented, &request.claims)
        .await?;
    Ok(Json(JobTokenReply { token }))
}

fn org_of(params: &RouteParams) -> Result<Uuid, ApiError> {
    params
        .get("org")
        .and_then(|o| Uuid::parse_str(o).ok())
        .ok_or_else(|| ApiError::NotFound("Organization not found".into()))
}

fn cached(value: serde_json::Value) -> Response {
    let mut response = Json(value).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static(CACHE));
    response
}

/// `GET /oidc/org/{org}/.well-known/openid-configuration`: the organization's discovery
/// document.
pub async fn discovery(
    State(state): State<AppState>,
    params: RouteParams,
) -> Result<Response, ApiError> {
    let issuer = state.app.oidc_issuer(org_of(&params)?).await?;
    Ok(cached(circlet_core::oidc::discovery(&issuer)))
}

/// `GET /oidc/org/{org}/.well-known/jwks-pub.json`: the keys whose tokens may still be alive.
pub async fn jwks(
    State(state): State<AppState>,
    params: RouteParams,
) -> Result<Response, ApiError> {
    state.app.oidc_issuer(org_of(&params)?).await?;
    let keys = state.app.oidc_public_keys().await?;
    Ok(cached(circlet_core::oidc::jwks(&keys)))
}
