//! Project environment variables over API v1.1 (`…/envvar[/:name]`) and v2
//! (`/project/{slug}/envvar[/{name}]`). Values go in; only masks (`xxxx` + last 4) come out.
//! Project admins (and site admins) only, per the authorization matrix.

use super::ApiBody;
use super::build_json::iso;
use super::projects::slug_from;
use crate::auth::access::authorize;
use crate::auth::caller::Caller;
use crate::envvars;
use crate::error::ApiError;
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use circlet_core::scope::Action;
use circlet_store::{EnvVarRecord, Project};
use serde::Deserialize;
use serde_json::{Value, json};

type Params = Path<Vec<(String, String)>>;

/// The body of a create: `{"name": …, "value": …}` (JSON or form).
#[derive(Deserialize)]
pub struct NewVar {
    name: Option<String>,
    value: Option<String>,
}

fn name_param(params: &[(String, String)]) -> String {
    params
        .iter()
        .find(|(k, _)| k == "name")
        .map(|(_, v)| v.clone())
        .unwrap_or_default()
}

async fn project(
    state: &AppState,
    caller: &Caller,
    params: &[(String, String)],
    v2: bool,
) -> Result<Project, ApiError> {
    if v2 {
        caller.require_user()?;
    }
    let slug = slug_from(params)?;
    Ok(authorize(state, caller, &slug, Action::ManageEnvVars)
        .await?
        .project)
}

fn v1_json(v: &EnvVarRecord) -> Value {
    json!({"name": v.name, "value": v.masked})
}

fn v2_json(v: &EnvVarRecord) -> Value {
    json!({"name": v.name, "value": v.masked, "created-at": iso(v.created_at)})
}

fn not_found() -> ApiError {
    ApiError::NotFound("Environment variable not found".into())
}

async fn create(
    state: &AppState,
    project: &Project,
    body: NewVar,
) -> Result<EnvVarRecord, ApiError> {
    let name = body
        .name
        .ok_or_else(|| ApiError::Invalid("name is required".into()))?;
    let value = body
        .value
        .ok_or_else(|| ApiError::Invalid("value is required".into()))?;
    envvars::set(
        &state.store,
        &state.config.env_keys,
        project,
        name.trim(),
        &value,
    )
    .await
}

/// The variables of the project named by the path, masked.
async fn list(
    state: &AppState,
    caller: &Caller,
    params: &[(String, String)],
    v2: bool,
) -> Result<Vec<EnvVarRecord>, ApiError> {
    let project = project(state, caller, params, v2).await?;
    Ok(state.store.env_vars().list(project.id).await?)
}

/// Sets the variable in `body` for the project named by the path.
async fn set(
    state: &AppState,
    caller: &Caller,
    params: &[(String, String)],
    v2: bool,
    body: NewVar,
) -> Result<EnvVarRecord, ApiError> {
    let project = project(state, caller, params, v2).await?;
    create(state, &project, body).await
}

/// The variable named by the path (404 when absent).
async fn get(
    state: &AppState,
    caller: &Caller,
    params: &[(String, String)],
    v2: bool,
) -> Result<EnvVarRecord, ApiError> {
    let project = project(state, caller, params, v2).await?;
    state
        .store
        .env_vars()
        .get(project.id, &name_param(params))
        .await?
        .ok_or_else(not_found)
}

/// Deletes the variable named by the path (404 when absent).
async fn remove(
    state: &AppState,
    caller: &Caller,
    params: &[(String, String)],
    v2: bool,
) -> Result<(), ApiError> {
    let project = project(state, caller, params, v2).await?;
    if state
        .store
        .env_vars()
        .delete(project.id, &name_param(params))
        .await?
    {
        Ok(())
    } else {
        Err(not_found())
    }
}

/// v1.1 `GET …/envvar`: every variable, masked.
pub async fn v1_list(
    State(state): State<AppState>,
    caller: Caller,
    Path(params): Params,
) -> Result<Json<Value>, ApiError> {
    let vars = list(&state, &caller, &params, false).await?;
    Ok(Json(Value::Array(vars.iter().map(v1_json).collect())))
}

/// v1.1 `POST …/envvar`: sets a variable (an existing name is overwritten).
pub async fn v1_create(
    State(state): State<AppState>,
    caller: Caller,
    Path(params): Params,
    ApiBody(body): ApiBody<NewVar>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let v = set(&state, &caller, &params, false, body).await?;
    Ok((StatusCode::CREATED, Json(v1_json(&v))))
}

/// v1.1 `GET …/envvar/:name`.
pub async fn v1_get(
    State(state): State<AppState>,
    caller: Caller,
    Path(params): Params,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(v1_json(&get(&state, &caller, &params, false).await?)))
}

/// v1.1 `DELETE …/envvar/:name` → `{"message": "ok"}`.
pub async fn v1_delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(params): Params,
) -> Result<Json<Value>, ApiError> {
    remove(&state, &caller, &params, false).await?;
    Ok(Json(json!({"message": "ok"})))
}

/// v2 `GET /project/{slug}/envvar`: one page holding every variable, masked.
pub async fn v2_list(
    State(state): State<AppState>,
    caller: Caller,
    Path(params): Params,
) -> Result<Json<Value>, ApiError> {
    let vars = list(&state, &caller, &params, true).await?;
    Ok(Json(json!({
        "items": vars.iter().map(v2_json).collect::<Vec<_>>(),
        "next_page_token": null,
    })))
}

/// v2 `POST /project/{slug}/envvar` → 201; an existing name is overwritten.
pub async fn v2_create(
    State(state): State<AppState>,
    caller: Caller,
    Path(params): Params,
    ApiBody(body): ApiBody<NewVar>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let v = set(&state, &caller, &params, true, body).await?;
    Ok((StatusCode::CREATED, Json(v2_json(&v))))
}

/// v2 `GET /project/{slug}/envvar/{name}` (404 when absent; the CircleCI CLI relies on it).
pub async fn v2_get(
    State(state): State<AppState>,
    caller: Caller,
    Path(params): Params,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(v2_json(&get(&state, &caller, &params, true).await?)))
}

/// v2 `DELETE /project/{slug}/envvar/{name}` → 200 `{"message": …}`.
pub async fn v2_delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(params): Params,
) -> Result<Json<Value>, ApiError> {
    remove(&state, &caller, &params, true).await?;
    Ok(Json(json!({"message": "Environment variable deleted."})))
}
