//! `GET /me` in API v1.1 and v2: the calling user. User-level: a personal token or session only.

use crate::error::{ApiError, MessageBody};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use circlet_app::Caller;
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

/// API v1.1's user object. For the OpenAPI document only: [`v1`] builds it as JSON (many of its
/// fields are constants CircleCI clients expect), and this type lists what it holds.
#[derive(utoipa::ToSchema)]
#[expect(
    dead_code,
    reason = "describes v1's JSON for the OpenAPI document only"
)]
pub struct MeV1Json {
    id: Uuid,
    login: String,
    name: String,
    /// Always `null`.
    avatar_url: Option<String>,
    /// A site admin (and not through a limited token).
    admin: bool,
    basic_email_prefs: String,
    selected_email: String,
    all_emails: Vec<String>,
    /// RFC 3339.
    created_at: String,
    trial_end: String,
    days_left_in_trial: i64,
    sign_in_count: i64,
    containers: i64,
    parallelism: i64,
    plan: Option<String>,
    github_id: Option<i64>,
    gravatar_id: Option<String>,
    heroku_api_key: Option<String>,
    in_beta_program: bool,
    enrolled_betas: Vec<String>,
    github_oauth_scopes: Vec<String>,
    /// The user's projects, by repository URL.
    projects: BTreeMap<String, FollowedJson>,
}

/// A project in [`MeV1Json`]'s `projects`. For the OpenAPI document only.
#[derive(utoipa::ToSchema)]
#[expect(
    dead_code,
    reason = "describes v1's JSON for the OpenAPI document only"
)]
pub struct FollowedJson {
    emails: String,
    on_dashboard: bool,
}

/// API v2's user object. Fields in alphabetical order, the order the JSON had when it was built
/// as a `serde_json::Value`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct MeV2Json {
    /// Always `null`.
    avatar_url: Option<String>,
    id: Uuid,
    login: String,
    name: String,
}

impl MeV2Json {
    /// `user` in API v2's shape.
    pub fn of(user: &circlet_store::User) -> Self {
        MeV2Json {
            avatar_url: None,
            id: user.uuid,
            login: user.login.as_str().to_owned(),
            name: user.name.clone(),
        }
    }
}

/// `GET /api/v1.1/me` (and `/api/v1/me`): the fields real v1.1 clients read.
#[utoipa::path(
    get,
    path = "/api/v1.1/me",
    operation_id = "me",
    tag = "user",
    responses(
        (status = 200, description = "The calling user", body = MeV1Json),
        (status = "4XX", description = "Not a user's credentials", body = MessageBody),
    )
)]
pub async fn v1(State(state): State<AppState>, caller: Caller) -> Result<Json<Value>, ApiError> {
    let user = caller.require_user()?;
    caller.note_kind(&state.app, "me");
    let created = user.created_at.format(&Rfc3339).unwrap_or_default();
    // Through a limited token, its own reach: the token acts on nothing else.
    let projects = state.app.memberships_of(&caller).await?;
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
        // A site admin's powers do not pass through a limited token.
        "admin": user.site_admin && caller.limits().is_none(),
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
#[utoipa::path(
    get,
    path = "/api/v2/me",
    operation_id = "me_v2",
    tag = "user",
    responses(
        (status = 200, description = "The calling user", body = MeV2Json),
        (status = "4XX", description = "Not a user's credentials", body = MessageBody),
    )
)]
pub async fn v2(State(state): State<AppState>, caller: Caller) -> Result<Json<MeV2Json>, ApiError> {
    let user = caller.require_user()?;
    caller.note_kind(&state.app, "me");
    Ok(Json(MeV2Json::of(user)))
}
