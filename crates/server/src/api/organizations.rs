//! Organizations in API v2: `GET /api/v2/me/collaborations`, the organizations the caller
//! works in (those of the projects they are a member of), with the ids their jobs' OIDC tokens
//! carry as `aud`.

use crate::error::{ApiError, MessageBody};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use circlet_app::Caller;
use serde::Serialize;
use uuid::Uuid;

/// An organization, as CircleCI's collaborations list it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CollaborationJson {
    /// The organization's id (the `aud` of its jobs' OIDC tokens).
    id: Uuid,
    /// `github` or `bitbucket`.
    #[serde(rename = "vcs-type")]
    vcs_type: String,
    /// Its name.
    name: String,
    /// Always empty.
    avatar_url: String,
    /// `gh/acme`.
    slug: String,
}

/// `GET /api/v2/me/collaborations`: the organizations the caller works in.
#[utoipa::path(get, path = "/api/v2/me/collaborations", operation_id = "collaborations", tag = "user",
    responses(
        (status = 200, description = "The caller's organizations, by name", body = [CollaborationJson]),
        (status = "4XX", description = "Not a user's credentials", body = MessageBody)))]
pub async fn collaborations(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<CollaborationJson>>, ApiError> {
    let user = caller.require_user()?;
    caller.note_kind(&state.app, "collaborations");
    let orgs = state.app.store.organizations().of_member(user.id).await?;
    Ok(Json(
        orgs.into_iter()
            .map(|o| CollaborationJson {
                id: o.uuid,
                vcs_type: o.vcs.long().to_owned(),
                slug: format!("{}/{}", o.vcs.short(), o.name),
                name: o.name,
                avatar_url: String::new(),
            })
            .collect(),
    ))
}
