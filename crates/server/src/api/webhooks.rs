//! API v2's outbound webhooks: `POST/GET /webhook` (scope: a project) and `GET/PUT/DELETE
//! /webhook/{id}`, in CircleCI's shapes. Project admins only; the signing secret goes in and
//! comes back masked. The rules, the events and their delivery are `circlet_app::outbound`'s.

use super::build_json::iso;
use super::{ApiJson, ApiQuery, Page};
use crate::error::{ApiError, MessageBody};
use crate::route::RouteParams;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use circlet_app::outbound::{ProjectOutbound, WEBHOOK_NOT_FOUND, WebhookSpec};
use circlet_app::{AppError, Caller};
use circlet_store::outbound::WebhookRecord;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

/// `{id}`: a webhook.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[expect(dead_code, reason = "describes path parameters for the document only")]
pub struct WebhookIdPath {
    /// The webhook's id.
    id: String,
}

/// `{"id": <project id>, "type": "project"}`.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct Scope {
    id: String,
    #[serde(rename = "type")]
    kind: String,
}

/// A webhook as API v2 shows it (the signing secret masked).
#[derive(Serialize, utoipa::ToSchema)]
pub struct WebhookJson {
    id: String,
    name: String,
    url: String,
    #[serde(rename = "verify-tls")]
    verify_tls: bool,
    #[serde(rename = "signing-secret")]
    signing_secret: String,
    scope: Scope,
    events: Vec<String>,
    #[serde(rename = "created-at")]
    created_at: String,
    #[serde(rename = "updated-at")]
    updated_at: String,
}

/// A new webhook, or (PUT) the values to change.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct WebhookBody {
    name: Option<String>,
    url: Option<String>,
    events: Option<Vec<String>>,
    #[serde(rename = "verify-tls")]
    verify_tls: Option<bool>,
    #[serde(rename = "signing-secret")]
    signing_secret: Option<String>,
    scope: Option<Scope>,
}

/// `?scope-id=&scope-type=project`.
#[derive(Deserialize)]
pub struct ScopeQuery {
    #[serde(rename = "scope-id")]
    scope_id: Option<String>,
    #[serde(rename = "scope-type")]
    scope_type: Option<String>,
}

fn json(h: &WebhookRecord, project: &circlet_store::Project) -> WebhookJson {
    WebhookJson {
        id: h.uuid.to_string(),
        name: h.name.clone(),
        url: h.url.clone(),
        verify_tls: h.verify_tls,
        signing_secret: "****".into(),
        scope: Scope {
            id: project.uuid.to_string(),
            kind: "project".into(),
        },
        events: h.events.split(',').map(str::to_owned).collect(),
        created_at: iso(h.created_at),
        updated_at: iso(h.updated_at),
    }
}

/// The project a scope names, through the door for its admins.
async fn scoped<'a>(
    state: &'a AppState,
    caller: &Caller,
    id: Option<&str>,
    kind: Option<&str>,
) -> Result<ProjectOutbound<'a>, ApiError> {
    caller.require_user()?;
    if kind.is_some_and(|k| k != "project") {
        return Err(ApiError::Invalid("scope type must be project".into()));
    }
    let id =
        id.ok_or_else(|| ApiError::Invalid("scope id is required: the project's id".into()))?;
    let not_found = || ApiError::NotFound("Project not found".into());
    let uuid = uuid::Uuid::parse_str(id).map_err(|_| not_found())?;
    let project = state
        .app
        .store
        .projects()
        .by_uuid(uuid)
        .await?
        .ok_or_else(not_found)?;
    Ok(state.app.outbound(caller, &project.slug).await?)
}

fn id_of(params: &RouteParams) -> Result<uuid::Uuid, ApiError> {
    uuid::Uuid::parse_str(params.get("id").unwrap_or_default())
        .map_err(|_| ApiError::NotFound(WEBHOOK_NOT_FOUND.into()))
}

/// v2 `GET /webhook?scope-id=&scope-type=project`: the project's webhooks.
#[utoipa::path(get, path = "/api/v2/webhook", operation_id = "list_webhooks", tag = "outbound-webhooks",
    params(("scope-id" = String, Query, description = "The project's id"), ("scope-type" = String, Query, description = "project")),
    responses((status = 200, description = "The webhooks", body = Page<WebhookJson>), (status = "4XX", description = "Refused", body = MessageBody)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ScopeQuery>,
) -> Result<Json<Page<WebhookJson>>, ApiError> {
    let door = scoped(
        &state,
        &caller,
        q.scope_id.as_deref(),
        q.scope_type.as_deref(),
    )
    .await?;
    let items = door
        .webhooks()
        .await?
        .iter()
        .map(|h| json(h, &door.project))
        .collect();
    Ok(Json(Page {
        items,
        next_page_token: None,
    }))
}

/// v2 `POST /webhook` → 201.
#[utoipa::path(post, path = "/api/v2/webhook", operation_id = "create_webhook", tag = "outbound-webhooks",
    request_body(content = WebhookBody, content_type = "application/json"),
    responses((status = 201, description = "Made", body = WebhookJson), (status = "4XX", description = "Refused", body = MessageBody)))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<WebhookBody>,
) -> Result<(StatusCode, Json<WebhookJson>), ApiError> {
    let scope = body.scope.as_ref();
    let door = scoped(
        &state,
        &caller,
        scope.map(|s| s.id.as_str()),
        scope.map(|s| s.kind.as_str()),
    )
    .await?;
    let required = |what: &str| ApiError::Invalid(format!("{what} is required"));
    let spec = WebhookSpec {
        name: body.name.ok_or_else(|| required("name"))?,
        url: body.url.ok_or_else(|| required("url"))?,
        verify_tls: body.verify_tls.ok_or_else(|| required("verify-tls"))?,
        events: body.events.ok_or_else(|| required("events"))?,
        signing_secret: SecretString::from(
            body.signing_secret
                .ok_or_else(|| required("signing-secret"))?,
        ),
    };
    let made = door.create_webhook(&spec).await?;
    Ok((StatusCode::CREATED, Json(json(&made, &door.project))))
}

/// v2 `GET /webhook/{webhook-id}`.
#[utoipa::path(get, path = "/api/v2/webhook/{id}", operation_id = "get_webhook", tag = "outbound-webhooks",
    params(WebhookIdPath),
    responses((status = 200, description = "The webhook", body = WebhookJson), (status = "4XX", description = "Refused or not found", body = MessageBody)))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    params: RouteParams,
) -> Result<Json<WebhookJson>, ApiError> {
    caller.require_user()?;
    let (door, hook) = state.app.outbound_webhook(&caller, id_of(&params)?).await?;
    Ok(Json(json(&hook, &door.project)))
}

/// v2 `PUT /webhook/{webhook-id}`: what is given replaces what it had.
#[utoipa::path(put, path = "/api/v2/webhook/{id}", operation_id = "update_webhook", tag = "outbound-webhooks",
    params(WebhookIdPath),
    request_body(content = WebhookBody, content_type = "application/json"),
    responses((status = 200, description = "Changed", body = WebhookJson), (status = "4XX", description = "Refused or not found", body = MessageBody)))]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    params: RouteParams,
    ApiJson(body): ApiJson<WebhookBody>,
) -> Result<Json<WebhookJson>, ApiError> {
    caller.require_user()?;
    let (door, hook) = state.app.outbound_webhook(&caller, id_of(&params)?).await?;
    if body.scope.is_some() {
        return Err(AppError::Invalid("a webhook's scope cannot be changed".into()).into());
    }
    let spec = WebhookSpec {
        name: body.name.unwrap_or_else(|| hook.name.clone()),
        url: body.url.unwrap_or_else(|| hook.url.clone()),
        verify_tls: body.verify_tls.unwrap_or(hook.verify_tls),
        events: body
            .events
            .unwrap_or_else(|| hook.events.split(',').map(str::to_owned).collect()),
        signing_secret: match body.signing_secret {
            Some(s) => SecretString::from(s),
            None => door.signing_secret(&hook)?,
        },
    };
    let changed = door.update_webhook(&hook, &spec).await?;
    Ok(Json(json(&changed, &door.project)))
}

/// v2 `DELETE /webhook/{webhook-id}` → `{"message": "ok"}`.
#[utoipa::path(delete, path = "/api/v2/webhook/{id}", operation_id = "delete_webhook", tag = "outbound-webhooks",
    params(WebhookIdPath),
    responses((status = 200, description = "Deleted", body = MessageBody), (status = "4XX", description = "Refused or not found", body = MessageBody)))]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    params: RouteParams,
) -> Result<Json<MessageBody>, ApiError> {
    caller.require_user()?;
    let (door, hook) = state.app.outbound_webhook(&caller, id_of(&params)?).await?;
    door.delete_webhook(&hook).await?;
    Ok(Json(MessageBody::new("ok")))
}
