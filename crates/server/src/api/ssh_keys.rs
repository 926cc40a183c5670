//! A project's SSH keys in CircleCI's APIs: checkout keys over v1.1 (`…/checkout-key[/:fp]`,
//! types `deploy-key` and `github-user-key`) and v2 (`/project/{slug}/checkout-key[/{fp}]`,
//! types `deploy-key` and `user-key`), and v1.1's additional keys (`…/ssh-key`: add with a
//! hostname and a private key, delete by fingerprint and hostname). Project admins only; a
//! private half goes in and never comes out. The rules are `circlet_app::ssh_keys`'.

use super::build_json::iso;
use super::openapi::{FingerprintPath, ProjectPath, SlugParam};
use super::{ApiBody, Page};
use crate::error::{ApiError, MessageBody};
use crate::route::RouteParams;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use circlet_app::Caller;
use circlet_app::ssh_keys::{CheckoutKind, ProjectSshKeys};
use circlet_store::SshKeyRecord;
use serde::{Deserialize, Serialize};

/// `{"type": "deploy-key" | "user-key"}` (v1.1 also `github-user-key`).
#[derive(Deserialize, utoipa::ToSchema)]
pub struct NewCheckoutKey {
    /// The kind of key.
    #[schema(example = "deploy-key")]
    #[serde(rename = "type")]
    kind: Option<String>,
}

/// `{"hostname", "private_key"}`: an additional key, or (delete) `{"fingerprint", "hostname"}`.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct SshKeyBody {
    /// The host the key is for; empty or missing for any host.
    #[schema(example = "ssh.example.com")]
    hostname: Option<String>,
    /// The private key (adding).
    private_key: Option<String>,
    /// The key's MD5 or SHA-256 fingerprint (deleting).
    fingerprint: Option<String>,
}

/// A checkout key as API v1.1 shows it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct V1CheckoutKeyJson {
    public_key: String,
    /// `deploy-key` or `github-user-key`.
    #[serde(rename = "type")]
    kind: String,
    /// MD5, `aa:bb:…`.
    fingerprint: String,
    /// Whether checkouts use it (the newest key).
    preferred: bool,
    /// When it was made (RFC 3339).
    time: String,
}

/// A checkout key as API v2 shows it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct V2CheckoutKeyJson {
    #[serde(rename = "public-key")]
    public_key: String,
    /// `deploy-key` or `user-key`.
    #[serde(rename = "type")]
    kind: String,
    /// MD5, `aa:bb:…`.
    fingerprint: String,
    /// Whether checkouts use it (the newest key).
    preferred: bool,
    /// When it was made (RFC 3339).
    #[serde(rename = "created-at")]
    created_at: String,
}

/// An additional key as added.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SshKeyJson {
    hostname: String,
    /// MD5, `aa:bb:…`.
    fingerprint: String,
    /// `SHA256:…`.
    fingerprint_sha256: String,
    public_key: String,
}

async fn door<'a>(
    state: &'a AppState,
    caller: &Caller,
    params: &RouteParams,
    v2: bool,
) -> Result<ProjectSshKeys<'a>, ApiError> {
    if v2 {
        caller.require_user()?;
    }
    Ok(state.app.ssh_keys(caller, &params.project()?).await?)
}

fn v1_json(k: &SshKeyRecord, preferred: bool) -> V1CheckoutKeyJson {
    V1CheckoutKeyJson {
        public_key: k.public_key.clone(),
        kind: match k.kind.as_str() {
            "user-key" => "github-user-key".into(),
            other => other.to_owned(),
        },
        fingerprint: k.fingerprint_md5.clone(),
        preferred,
        time: iso(k.created_at),
    }
}

fn v2_json(k: &SshKeyRecord, preferred: bool) -> V2CheckoutKeyJson {
    V2CheckoutKeyJson {
        public_key: k.public_key.clone(),
        kind: k.kind.clone(),
        fingerprint: k.fingerprint_md5.clone(),
        preferred,
        created_at: iso(k.created_at),
    }
}

/// Every checkout key with whether it is the preferred (newest) one.
async fn listed(keys: &ProjectSshKeys<'_>) -> Result<Vec<(SshKeyRecord, bool)>, ApiError> {
    let all = keys.checkout_keys().await?;
    let newest = all.last().map(|k| k.id);
    Ok(all
        .into_iter()
        .map(|k| {
            let preferred = Some(k.id) == newest;
            (k, preferred)
        })
        .collect())
}

async fn one(
    keys: &ProjectSshKeys<'_>,
    params: &RouteParams,
) -> Result<(SshKeyRecord, bool), ApiError> {
    let wanted = keys
        .checkout_key(params.get("fingerprint").unwrap_or_default())
        .await?;
    Ok(listed(keys)
        .await?
        .into_iter()
        .find(|(k, _)| k.id == wanted.id)
        .unwrap_or((wanted, false)))
}

async fn create(keys: &ProjectSshKeys<'_>, body: NewCheckoutKey) -> Result<SshKeyRecord, ApiError> {
    let kind = body
        .kind
        .ok_or_else(|| ApiError::Invalid("type is required: deploy-key or user-key".into()))?;
    Ok(keys
        .create_checkout_key(CheckoutKind::parse(&kind)?)
        .await?)
}

/// v1.1 `GET …/checkout-key`.
#[utoipa::path(get, path = "/api/v1.1/project/{vcs}/{org}/{repo}/checkout-key", operation_id = "list_checkout_keys_v1", tag = "ssh-keys",
    params(ProjectPath),
    responses((status = 200, description = "The checkout keys", body = Vec<V1CheckoutKeyJson>), (status = "4XX", description = "Refused", body = MessageBody)))]
pub async fn v1_list(
    State(state): State<AppState>,
    caller: Caller,
    params: RouteParams,
) -> Result<Json<Vec<V1CheckoutKeyJson>>, ApiError> {
    let keys = door(&state, &caller, &params, false).await?;
    Ok(Json(
        listed(&keys)
            .await?
            .iter()
            .map(|(k, p)| v1_json(k, *p))
            .collect(),
    ))
}

/// v1.1 `POST …/checkout-key` → 201, the new key (preferred from now on).
#[utoipa::path(post, path = "/api/v1.1/project/{vcs}/{org}/{repo}/checkout-key", operation_id = "create_checkout_key_v1", tag = "ssh-keys",
    params(ProjectPath),
    request_body(content((NewCheckoutKey = "application/json"), (NewCheckoutKey = "application/x-www-form-urlencoded"))),
    responses((status = 201, description = "Made", body = V1CheckoutKeyJson), (status = "4XX", description = "Refused", body = MessageBody)))]
pub async fn v1_create(
    State(state): State<AppState>,
    caller: Caller,
    params: RouteParams,
    ApiBody(body): ApiBody<NewCheckoutKey>,
) -> Result<(StatusCode, Json<V1CheckoutKeyJson>), ApiError> {
    let keys = door(&state, &caller, &params, false).await?;
    let k = create(&keys, body).await?;
    Ok((StatusCode::CREATED, Json(v1_json(&k, true))))
}

/// v1.1 `GET …/checkout-key/:fingerprint`.
#[utoipa::path(get, path = "/api/v1.1/project/{vcs}/{org}/{repo}/checkout-key/{fingerprint}", operation_id = "get_checkout_key_v1", tag = "ssh-keys",
    params(ProjectPath, FingerprintPath),
    responses((status = 200, description = "The key", body = V1CheckoutKeyJson), (status = "4XX", description = "Refused or not found", body = MessageBody)))]
pub async fn v1_get(
    State(state): State<AppState>,
    caller: Caller,
    params: RouteParams,
) -> Result<Json<V1CheckoutKeyJson>, ApiError> {
    let keys = door(&state, &caller, &params, false).await?;
    let (k, preferred) = one(&keys, &params).await?;
    Ok(Json(v1_json(&k, preferred)))
}

/// v1.1 `DELETE …/checkout-key/:fingerprint` → `{"message": "OK"}`.
#[utoipa::path(delete, path = "/api/v1.1/project/{vcs}/{org}/{repo}/checkout-key/{fingerprint}", operation_id = "delete_checkout_key_v1", tag = "ssh-keys",
    params(ProjectPath, FingerprintPath),
    responses((status = 200, description = "Deleted", body = MessageBody), (status = "4XX", description = "Refused or not found", body = MessageBody)))]
pub async fn v1_delete(
    State(state): State<AppState>,
    caller: Caller,
    params: RouteParams,
) -> Result<Json<MessageBody>, ApiError> {
    let keys = door(&state, &caller, &params, false).await?;
    keys.delete_checkout_key(params.get("fingerprint").unwrap_or_default())
        .await?;
    Ok(Json(MessageBody::new("OK")))
}

/// v1.1 `POST …/ssh-key`: an additional key for a host → 201.
#[utoipa::path(post, path = "/api/v1.1/project/{vcs}/{org}/{repo}/ssh-key", operation_id = "add_ssh_key_v1", tag = "ssh-keys",
    params(ProjectPath),
    request_body(content((SshKeyBody = "application/json"), (SshKeyBody = "application/x-www-form-urlencoded"))),
    responses((status = 201, description = "Added", body = SshKeyJson), (status = "4XX", description = "Refused", body = MessageBody)))]
pub async fn v1_add_ssh_key(
    State(state): State<AppState>,
    caller: Caller,
    params: RouteParams,
    ApiBody(body): ApiBody<SshKeyBody>,
) -> Result<(StatusCode, Json<SshKeyJson>), ApiError> {
    let keys = door(&state, &caller, &params, false).await?;
    let private = body
        .private_key
        .ok_or_else(|| ApiError::Invalid("private_key is required".into()))?;
    let k = keys
        .add_key(body.hostname.as_deref().unwrap_or(""), &private)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(SshKeyJson {
            hostname: k.hostname,
            fingerprint: k.fingerprint_md5,
            fingerprint_sha256: k.fingerprint_sha256,
            public_key: k.public_key,
        }),
    ))
}

/// v1.1 `DELETE …/ssh-key` with `{"fingerprint", "hostname"}` → `{"message": "OK"}`.
#[utoipa::path(delete, path = "/api/v1.1/project/{vcs}/{org}/{repo}/ssh-key", operation_id = "delete_ssh_key_v1", tag = "ssh-keys",
    params(ProjectPath),
    request_body(content((SshKeyBody = "application/json"), (SshKeyBody = "application/x-www-form-urlencoded"))),
    responses((status = 200, description = "Deleted", body = MessageBody), (status = "4XX", description = "Refused or not found", body = MessageBody)))]
pub async fn v1_delete_ssh_key(
    State(state): State<AppState>,
    caller: Caller,
    params: RouteParams,
    ApiBody(body): ApiBody<SshKeyBody>,
) -> Result<Json<MessageBody>, ApiError> {
    let keys = door(&state, &caller, &params, false).await?;
    let fingerprint = body
        .fingerprint
        .ok_or_else(|| ApiError::Invalid("fingerprint is required".into()))?;
    keys.delete_key(&fingerprint, body.hostname.as_deref().unwrap_or(""))
        .await?;
    Ok(Json(MessageBody::new("OK")))
}

/// v2 `GET /project/{slug}/checkout-key`: one page of every checkout key.
#[utoipa::path(get, path = "/api/v2/project/{slug}/checkout-key", operation_id = "list_checkout_keys", tag = "ssh-keys",
    params(SlugParam),
    responses((status = 200, description = "The checkout keys, in one page", body = Page<V2CheckoutKeyJson>), (status = "4XX", description = "Refused", body = MessageBody)))]
pub async fn v2_list(
    State(state): State<AppState>,
    caller: Caller,
    params: RouteParams,
) -> Result<Json<Page<V2CheckoutKeyJson>>, ApiError> {
    let keys = door(&state, &caller, &params, true).await?;
    Ok(Json(Page {
        items: listed(&keys)
            .await?
            .iter()
            .map(|(k, p)| v2_json(k, *p))
            .collect(),
        next_page_token: None,
    }))
}

/// v2 `POST /project/{slug}/checkout-key` → 201.
#[utoipa::path(post, path = "/api/v2/project/{slug}/checkout-key", operation_id = "create_checkout_key", tag = "ssh-keys",
    params(SlugParam),
    request_body(content((NewCheckoutKey = "application/json"), (NewCheckoutKey = "application/x-www-form-urlencoded"))),
    responses((status = 201, description = "Made", body = V2CheckoutKeyJson), (status = "4XX", description = "Refused", body = MessageBody)))]
pub async fn v2_create(
    State(state): State<AppState>,
    caller: Caller,
    params: RouteParams,
    ApiBody(body): ApiBody<NewCheckoutKey>,
) -> Result<(StatusCode, Json<V2CheckoutKeyJson>), ApiError> {
    let keys = door(&state, &caller, &params, true).await?;
    let k = create(&keys, body).await?;
    Ok((StatusCode::CREATED, Json(v2_json(&k, true))))
}

/// v2 `GET /project/{slug}/checkout-key/{fingerprint}`.
#[utoipa::path(get, path = "/api/v2/project/{slug}/checkout-key/{fingerprint}", operation_id = "get_checkout_key", tag = "ssh-keys",
    params(SlugParam, FingerprintPath),
    responses((status = 200, description = "The key", body = V2CheckoutKeyJson), (status = "4XX", description = "Refused or not found", body = MessageBody)))]
pub async fn v2_get(
    State(state): State<AppState>,
    caller: Caller,
    params: RouteParams,
) -> Result<Json<V2CheckoutKeyJson>, ApiError> {
    let keys = door(&state, &caller, &params, true).await?;
    let (k, preferred) = one(&keys, &params).await?;
    Ok(Json(v2_json(&k, preferred)))
}

/// v2 `DELETE /project/{slug}/checkout-key/{fingerprint}` → `{"message": …}`.
#[utoipa::path(delete, path = "/api/v2/project/{slug}/checkout-key/{fingerprint}", operation_id = "delete_checkout_key", tag = "ssh-keys",
    params(SlugParam, FingerprintPath),
    responses((status = 200, description = "Deleted", body = MessageBody), (status = "4XX", description = "Refused or not found", body = MessageBody)))]
pub async fn v2_delete(
    State(state): State<AppState>,
    caller: Caller,
    params: RouteParams,
) -> Result<Json<MessageBody>, ApiError> {
    let keys = door(&state, &caller, &params, true).await?;
    keys.delete_checkout_key(params.get("fingerprint").unwrap_or_default())
        .await?;
    Ok(Json(MessageBody::new("Checkout key deleted.")))
}
