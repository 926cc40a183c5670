//! API v2's `GET /user/{id}`: a user the caller may see (themselves, someone they share a
//! project with; site admins everyone), in `/me`'s shape.

use super::ApiPath;
use super::me::MeV2Json;
use crate::error::{ApiError, MessageBody};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use circlet_app::Caller;

/// `{id}`: a user's id, as `/me` gives it.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[expect(dead_code, reason = "describes path parameters for the document only")]
pub struct UserIdPath {
    /// The user's id (a UUID).
    id: uuid::Uuid,
}

/// `GET /api/v2/user/{id}`: `{id, login, name, avatar_url}`.
#[utoipa::path(get, path = "/api/v2/user/{id}", operation_id = "get_user", tag = "user",
    params(UserIdPath),
    responses(
        (status = 200, description = "The user", body = MeV2Json),
        (status = "4XX", description = "Not a user's credentials, or no such user the caller may see", body = MessageBody)))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<MeV2Json>, ApiError> {
    caller.require_user()?;
    let id = uuid::Uuid::parse_str(&id).map_err(|_| ApiError::NotFound("User not found".into()))?;
    let user = state.app.user_by_id(&caller, id).await?;
    Ok(Json(MeV2Json::of(&user)))
}
