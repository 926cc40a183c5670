//! `GET /me` in API v1.1 and v2: the calling user. User-level: a personal token or session only.

use crate::auth::caller::Caller;
use crate::error::ApiError;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};
use time::format_description::well_known::Rfc3339;

/// `GET /api/v1.1/me` (and `/api/v1/me`): the fields real v1.1 clients read.
pub async fn v1(State(state): State<AppState>, caller: Caller) -> Result<Json<Value>, ApiError> {
    let user = caller.require_user()?;
    caller.note_kind(&state, "me");
    let created = user.created_at.format(&Rfc3339).unwrap_or_default();
    let projects = state.store.projects().list_for_member(user.id).await?;
    let followed: serde_json::Map<String, Value> = projects
        .iter()
        .map(|(p, _)| {
            (
                p.repo_url.to_string(),
                json!({"emails": "default", "on_dashboard": true}),
            )
        })
        .collect();
    Ok(Json(json!({
        "id": user.uuid,
        "login": user.login.as_str(),
        "name": user.name,
        "avatar_url": null,
        "admin": user.site_admin,
        "basic_email_prefs": "smart",
        "selected_email": user.email,
        "all_emails": [user.email],
        "created_at": created,
        "trial_end": created,
        "days_left_in_trial": 0,
        "sign_in_count": 0,
        "containers": 1,
        "parallelism": 1,
        "plan": null,
        "github_id": null,
        "gravatar_id": null,
        "heroku_api_key": null,
        "in_beta_program": false,
        "enrolled_betas": [],
        "github_oauth_scopes": [],
        "projects": followed,
    })))
}

/// `GET /api/v2/me`: `{id, login, name, avatar_url}`.
pub async fn v2(State(state): State<AppState>, caller: Caller) -> Result<Json<Value>, ApiError> {
    let user = caller.require_user()?;
    caller.note_kind(&state, "me");
    Ok(Json(json!({
        "id": user.uuid,
        "login": user.login.as_str(),
        "name": user.name,
        "avatar_url": null,
    })))
}
