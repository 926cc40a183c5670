//! Project API tokens over API v1.1, as CircleCI's own UI calls them:
//! `GET/POST /project/:vcs/:org/:repo/token`, `DELETE …/token/:id`. Tokens cannot be modified.

use super::{ApiBody, no_store};
use crate::api::openapi::ProjectPath;
use crate::auth::client::ClientIp;
use crate::error::{ApiError, MessageBody};
use crate::route::ProjectRoute;
use crate::route::RouteParams;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use circlet_app::Caller;
use circlet_app::tokens::{Actor, Lifetime};
use circlet_core::scope::ProjectScope;
use circlet_core::token::TokenName;
use circlet_store::TokenRecord;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

/// The reply to any attempt to change a token.
pub const IMMUTABLE: &str = "API tokens cannot be modified. Delete the token and create a new one.";

/// A project token as API v1.1 shows it; `token` is filled only in the creation reply.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ProjectTokenJson {
    id: Uuid,
    label: String,
    /// `status`, `view-builds` or `all`.
    scope: &'static str,
    /// When the token was created (RFC 3339).
    #[serde(with = "time::serde::rfc3339")]
    time: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    last_used_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    expires_at: Option<OffsetDateTime>,
    /// The token itself: only in the reply to its creation, `null` afterwards.
    token: Option<String>,
}

impl ProjectTokenJson {
    fn of(t: &TokenRecord, value: Option<String>) -> Self {
        ProjectTokenJson {
            id: t.uuid,
            label: t.name.clone(),
            scope: t.scope.map_or("status", ProjectScope::as_str),
            time: t.created_at,
            last_used_at: t.last_used_at,
            expires_at: t.expires_at,
            token: value,
        }
    }
}

/// `GET /api/v1.1/project/:vcs/:org/:repo/token`.
#[utoipa::path(
    get,
    path = "/api/v1.1/project/{vcs}/{org}/{repo}/token",
    operation_id = "list_project_tokens",
    tag = "tokens",
    params(ProjectPath),
    responses(
        (status = 200, description = "The project's tokens, without their values", body = Vec<ProjectTokenJson>),
        (status = "4XX", description = "Refused", body = MessageBody),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ProjectRoute(slug): ProjectRoute,
) -> Result<Json<Vec<ProjectTokenJson>>, ApiError> {
    let tokens = state
        .app
        .project_tokens(&caller, &slug)
        .await?
        .list()
        .await?;
    Ok(Json(
        tokens
            .iter()
            .map(|t| ProjectTokenJson::of(t, None))
            .collect(),
    ))
}

/// The body of a token creation.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct CreateToken {
    /// `status`, `view-builds` or `all`.
    #[schema(example = "view-builds")]
    scope: Option<String>,
    /// The token's name (1–100 characters).
    #[schema(example = "deploy")]
    label: Option<String>,
    /// RFC 3339; absent, `null` or empty means no expiry.
    expires_at: Option<String>,
}

fn parse_expiry(raw: Option<&str>) -> Result<Option<OffsetDateTime>, ApiError> {
    match raw.map(str::trim) {
        None | Some("") => Ok(None),
        Some(t) => OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
            .map(Some)
            .map_err(|_| {
                ApiError::Invalid(
                    "expires_at must be an RFC 3339 timestamp, like 2027-01-31T00:00:00Z".into(),
                )
            }),
    }
}

/// `POST /api/v1.1/project/:vcs/:org/:repo/token` → 201 with the value, once.
#[utoipa::path(
    post,
    path = "/api/v1.1/project/{vcs}/{org}/{repo}/token",
    operation_id = "create_project_token",
    tag = "tokens",
    params(ProjectPath),
    request_body(content(
        (CreateToken = "application/json"),
        (CreateToken = "application/x-www-form-urlencoded"),
    )),
    responses(
        (status = 201, description = "The new token, its value shown this once", body = ProjectTokenJson),
        (status = "4XX", description = "Refused", body = MessageBody),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    caller: Caller,
    ProjectRoute(slug): ProjectRoute,
    ApiBody(body): ApiBody<CreateToken>,
) -> Result<Response, ApiError> {
    let tokens = state.app.project_tokens(&caller, &slug).await?;
    let scope = ProjectScope::parse(body.scope.as_deref().unwrap_or(""))?;
    let label = TokenName::parse(body.label.as_deref().unwrap_or(""), "label")?;
    let lifetime =
        parse_expiry(body.expires_at.as_deref())?.map_or(Lifetime::Never, Lifetime::Until);
    let actor = Actor::user(caller.require_user()?, client.to_string());
    let (value, record) = tokens.issue(scope, &label, lifetime, &actor).await?;
    let json = ProjectTokenJson::of(&record, Some(value.expose().to_owned()));
    Ok(no_store((StatusCode::CREATED, Json(json)).into_response()))
}

/// `DELETE /api/v1.1/project/:vcs/:org/:repo/token/:id` (the id, or the token value itself).
#[utoipa::path(
    delete,
    path = "/api/v1.1/project/{vcs}/{org}/{repo}/token/{id}",
    operation_id = "delete_project_token",
    tag = "tokens",
    params(ProjectPath, ("id" = String, Path, description = "The token's id, or the token itself")),
    responses(
        (status = 200, description = "Deleted: `{\"message\": \"ok\"}`", body = MessageBody),
        (status = "4XX", description = "Refused", body = MessageBody),
    )
)]
pub async fn delete(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    caller: Caller,
    params: RouteParams,
) -> Result<Json<MessageBody>, ApiError> {
    let tokens = state
        .app
        .project_tokens(&caller, &params.project()?)
        .await?;
    let token = tokens.find(params.get("id").unwrap_or_default()).await?;
    let actor = Actor::user(caller.require_user()?, client.to_string());
    tokens.delete(&token, &actor).await?;
    Ok(Json(MessageBody::new("ok")))
}

/// `PUT`/`PATCH` on a token: tokens are immutable.
pub async fn immutable() -> ApiError {
    ApiError::MethodNotAllowed(IMMUTABLE.into())
}

/// `PUT …/token`: 405, tokens are immutable.
#[utoipa::path(
    put,
    path = "/api/v1.1/project/{vcs}/{org}/{repo}/token",
    operation_id = "put_project_tokens",
    tag = "tokens",
    params(ProjectPath),
    responses((status = 405, description = "Tokens cannot be modified", body = MessageBody))
)]
pub async fn put_all() -> ApiError {
    immutable().await
}

/// `PATCH …/token`: 405, tokens are immutable.
#[utoipa::path(
    patch,
    path = "/api/v1.1/project/{vcs}/{org}/{repo}/token",
    operation_id = "patch_project_tokens",
    tag = "tokens",
    params(ProjectPath),
    responses((status = 405, description = "Tokens cannot be modified", body = MessageBody))
)]
pub async fn patch_all() -> ApiError {
    immutable().await
}

/// `PUT …/token/{id}`: 405, tokens are immutable.
#[utoipa::path(
    put,
    path = "/api/v1.1/project/{vcs}/{org}/{repo}/token/{id}",
    operation_id = "put_project_token",
    tag = "tokens",
    params(ProjectPath, ("id" = String, Path, description = "The token's id")),
    responses((status = 405, description = "Tokens cannot be modified", body = MessageBody))
)]
pub async fn put_one() -> ApiError {
    immutable().await
}

/// `PATCH …/token/{id}`: 405, tokens are immutable.
#[utoipa::path(
    patch,
    path = "/api/v1.1/project/{vcs}/{org}/{repo}/token/{id}",
    operation_id = "patch_project_token",
    tag = "tokens",
    params(ProjectPath, ("id" = String, Path, description = "The token's id")),
    responses((status = 405, description = "Tokens cannot be modified", body = MessageBody))
)]
pub async fn patch_one() -> ApiError {
    immutable().await
}
