//! Project environment variables over API v1.1 (`…/envvar[/:name]`) and v2
//! (`/project/{slug}/envvar[/{name}]`). Values go in; only masks (`xxxx` + last 4) come out.
//! Project admins (and site admins) only, per the authorization matrix.

use super::build_json::iso;
use super::openapi::{EnvVarNamePath, ProjectPath, SlugParam};
use super::{ApiBody, Page};
use crate::error::{ApiError, MessageBody};
use crate::route::RouteParams;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use circlet_app::Caller;
use circlet_app::env_vars::ProjectEnvVars;
use circlet_store::EnvVarRecord;
use serde::{Deserialize, Serialize};

/// The body of a create: `{"name": …, "value": …}` (JSON or form).
#[derive(Deserialize, utoipa::ToSchema)]
pub struct NewVar {
    /// Letters, digits and `_`, not starting with a digit.
    #[schema(example = "DEPLOY_KEY")]
    name: Option<String>,
    /// The secret value; it is never shown again, only its mask.
    #[schema(example = "s3cr3t-value")]
    value: Option<String>,
}

/// An environment variable as API v1.1 shows it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct V1EnvVarJson {
    name: String,
    /// The mask: `xxxx` and the value's last four characters.
    value: String,
}

/// An environment variable as API v2 shows it. Fields in alphabetical order, the order the JSON
/// had when it was built as a `serde_json::Value`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct V2EnvVarJson {
    /// When it was set (RFC 3339).
    #[serde(rename = "created-at")]
    created_at: String,
    name: String,
    /// The mask: `xxxx` and the value's last four characters.
    value: String,
}

fn name_param(params: &RouteParams) -> &str {
    params.get("name").unwrap_or_default()
}

/// The env vars of the project named by the path, if `caller` may manage them (v2: users only).
async fn door<'a>(
    state: &'a AppState,
    caller: &Caller,
    params: &RouteParams,
    v2: bool,
) -> Result<ProjectEnvVars<'a>, ApiError> {
    if v2 {
        caller.require_user()?;
    }
    let slug = params.project()?;
    Ok(state.app.env_vars(caller, &slug).await?)
}

fn v1_json(v: &EnvVarRecord) -> V1EnvVarJson {
    V1EnvVarJson {
        name: v.name.clone(),
        value: v.masked.clone(),
    }
}

fn v2_json(v: &EnvVarRecord) -> V2EnvVarJson {
    V2EnvVarJson {
        created_at: iso(v.created_at),
        name: v.name.clone(),
        value: v.masked.clone(),
    }
}

/// The variables of the project named by the path, masked.
async fn list(
    state: &AppState,
    caller: &Caller,
    params: &RouteParams,
    v2: bool,
) -> Result<Vec<EnvVarRecord>, ApiError> {
    Ok(door(state, caller, params, v2).await?.list().await?)
}

/// Sets the variable in `body` for the project named by the path.
async fn set(
    state: &AppState,
    caller: &Caller,
    params: &RouteParams,
    v2: bool,
    body: NewVar,
) -> Result<EnvVarRecord, ApiError> {
    let vars = door(state, caller, params, v2).await?;
    let name = body
        .name
        .ok_or_else(|| ApiError::Invalid("name is required".into()))?;
    let value = body
        .value
        .ok_or_else(|| ApiError::Invalid("value is required".into()))?;
    Ok(vars.set(name.trim(), &value).await?)
}

/// The variable named by the path (404 when absent).
async fn get(
    state: &AppState,
    caller: &Caller,
    params: &RouteParams,
    v2: bool,
) -> Result<EnvVarRecord, ApiError> {
    let vars = door(state, caller, params, v2).await?;
    Ok(vars.get(name_param(params)).await?)
}

/// Deletes the variable named by the path (404 when absent).
async fn remove(
    state: &AppState,
    caller: &Caller,
    params: &RouteParams,
    v2: bool,
) -> Result<(), ApiError> {
    let vars = door(state, caller, params, v2).await?;
    Ok(vars.delete(name_param(params)).await?)
}

/// v1.1 `GET …/envvar`: every variable, masked.
#[utoipa::path(
    get,
    path = "/api/v1.1/project/{vcs}/{org}/{repo}/envvar",
    operation_id = "list_env_vars_v1",
    tag = "env-vars",
    params(ProjectPath),
    responses(
        (status = 200, description = "Every variable, masked", body = Vec<V1EnvVarJson>),
        (status = "4XX", description = "Refused", body = MessageBody),
    )
)]
pub async fn v1_list(
    State(state): State<AppState>,
    caller: Caller,
    params: RouteParams,
) -> Result<Json<Vec<V1EnvVarJson>>, ApiError> {
    let vars = list(&state, &caller, &params, false).await?;
    Ok(Json(vars.iter().map(v1_json).collect()))
}

/// v1.1 `POST …/envvar`: sets a variable (an existing name is overwritten).
#[utoipa::path(
    post,
    path = "/api/v1.1/project/{vcs}/{org}/{repo}/envvar",
    operation_id = "create_env_var_v1",
    tag = "env-vars",
    params(ProjectPath),
    request_body(content(
        (NewVar = "application/json"),
        (NewVar = "application/x-www-form-urlencoded"),
    )),
    responses(
        (status = 201, description = "Set", body = V1EnvVarJson),
        (status = "4XX", description = "Refused", body = MessageBody),
    )
)]
pub async fn v1_create(
    State(state): State<AppState>,
    caller: Caller,
    params: RouteParams,
    ApiBody(body): ApiBody<NewVar>,
) -> Result<(StatusCode, Json<V1EnvVarJson>), ApiError> {
    let v = set(&state, &caller, &params, false, body).await?;
    Ok((StatusCode::CREATED, Json(v1_json(&v))))
}

/// v1.1 `GET …/envvar/:name`.
#[utoipa::path(
    get,
    path = "/api/v1.1/project/{vcs}/{org}/{repo}/envvar/{name}",
    operation_id = "get_env_var_v1",
    tag = "env-vars",
    params(ProjectPath, EnvVarNamePath),
    responses(
        (status = 200, description = "The variable, masked", body = V1EnvVarJson),
        (status = "4XX", description = "Refused or not found", body = MessageBody),
    )
)]
pub async fn v1_get(
    State(state): State<AppState>,
    caller: Caller,
    params: RouteParams,
) -> Result<Json<V1EnvVarJson>, ApiError> {
    Ok(Json(v1_json(&get(&state, &caller, &params, false).await?)))
}

/// v1.1 `DELETE …/envvar/:name` → `{"message": "ok"}`.
#[utoipa::path(
    delete,
    path = "/api/v1.1/project/{vcs}/{org}/{repo}/envvar/{name}",
    operation_id = "delete_env_var_v1",
    tag = "env-vars",
    params(ProjectPath, EnvVarNamePath),
    responses(
        (status = 200, description = "Deleted: `{\"message\": \"ok\"}`", body = MessageBody),
        (status = "4XX", description = "Refused or not found", body = MessageBody),
    )
)]
pub async fn v1_delete(
    State(state): State<AppState>,
    caller: Caller,
    params: RouteParams,
) -> Result<Json<MessageBody>, ApiError> {
    remove(&state, &caller, &params, false).await?;
    Ok(Json(MessageBody::new("ok")))
}

/// v2 `GET /project/{slug}/envvar`: one page holding every variable, masked.
#[utoipa::path(
    get,
    path = "/api/v2/project/{slug}/envvar",
    operation_id = "list_env_vars",
    tag = "env-vars",
    params(SlugParam),
    responses(
        (status = 200, description = "Every variable, masked, in one page", body = Page<V2EnvVarJson>),
        (status = "4XX", description = "Refused", body = MessageBody),
    )
)]
pub async fn v2_list(
    State(state): State<AppState>,
    caller: Caller,
    params: RouteParams,
) -> Result<Json<Page<V2EnvVarJson>>, ApiError> {
    let vars = list(&state, &caller, &params, true).await?;
    Ok(Json(Page {
        items: vars.iter().map(v2_json).collect(),
        next_page_token: None,
    }))
}

/// v2 `POST /project/{slug}/envvar` → 201; an existing name is overwritten.
#[utoipa::path(
    post,
    path = "/api/v2/project/{slug}/envvar",
    operation_id = "create_env_var",
    tag = "env-vars",
    params(SlugParam),
    request_body(content(
        (NewVar = "application/json"),
        (NewVar = "application/x-www-form-urlencoded"),
    )),
    responses(
        (status = 201, description = "Set", body = V2EnvVarJson),
        (status = "4XX", description = "Refused", body = MessageBody),
    )
)]
pub async fn v2_create(
    State(state): State<AppState>,
    caller: Caller,
    params: RouteParams,
    ApiBody(body): ApiBody<NewVar>,
) -> Result<(StatusCode, Json<V2EnvVarJson>), ApiError> {
    let v = set(&state, &caller, &params, true, body).await?;
    Ok((StatusCode::CREATED, Json(v2_json(&v))))
}

/// v2 `GET /project/{slug}/envvar/{name}` (404 when absent; the CircleCI CLI relies on it).
#[utoipa::path(
    get,
    path = "/api/v2/project/{slug}/envvar/{name}",
    operation_id = "get_env_var",
    tag = "env-vars",
    params(SlugParam, EnvVarNamePath),
    responses(
        (status = 200, description = "The variable, masked", body = V2EnvVarJson),
        (status = "4XX", description = "Refused or not found", body = MessageBody),
    )
)]
pub async fn v2_get(
    State(state): State<AppState>,
    caller: Caller,
    params: RouteParams,
) -> Result<Json<V2EnvVarJson>, ApiError> {
    Ok(Json(v2_json(&get(&state, &caller, &params, true).await?)))
}

/// v2 `DELETE /project/{slug}/envvar/{name}` → 200 `{"message": …}`.
#[utoipa::path(
    delete,
    path = "/api/v2/project/{slug}/envvar/{name}",
    operation_id = "delete_env_var",
    tag = "env-vars",
    params(SlugParam, EnvVarNamePath),
    responses(
        (status = 200, description = "Deleted", body = MessageBody),
        (status = "4XX", description = "Refused or not found", body = MessageBody),
    )
)]
pub async fn v2_delete(
    State(state): State<AppState>,
    caller: Caller,
    params: RouteParams,
) -> Result<Json<MessageBody>, ApiError> {
    remove(&state, &caller, &params, true).await?;
    Ok(Json(MessageBody::new("Environment variable deleted.")))
}
