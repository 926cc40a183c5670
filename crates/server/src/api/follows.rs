//! Following projects: API v1.1's `POST /project/{vcs}/{org}/{repo}/follow` and `…/unfollow`,
//! and CircleCI's private `GET /api/private/me/followed-projects` its tools list projects with.
//! Users only; anyone who may see a project may follow it (`circlet_app::follows`).

use super::Page;
use super::openapi::ProjectPath;
use crate::error::{ApiError, MessageBody};
use crate::route::ProjectRoute;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use circlet_app::Caller;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

/// The reply to a follow or an unfollow.
#[derive(Serialize, ToSchema)]
pub struct FollowJson {
    /// Whether the caller now follows the project.
    followed: bool,
    /// Always `null`: following builds nothing.
    first_build: Option<String>,
}

/// `POST /api/v1.1/project/{vcs}/{org}/{repo}/follow`: the caller follows the project.
#[utoipa::path(post, path = "/api/v1.1/project/{vcs}/{org}/{repo}/follow", operation_id = "follow_project", tag = "projects",
    params(ProjectPath),
    responses(
        (status = 200, description = "Followed", body = FollowJson),
        (status = "4XX", description = "Not a user, or not found", body = MessageBody)))]
pub async fn follow(
    State(state): State<AppState>,
    caller: Caller,
    ProjectRoute(slug): ProjectRoute,
) -> Result<Json<FollowJson>, ApiError> {
    state.app.follow(&caller, &slug, true).await?;
    Ok(Json(FollowJson {
        followed: true,
        first_build: None,
    }))
}

/// `POST /api/v1.1/project/{vcs}/{org}/{repo}/unfollow`: the caller stops following it.
#[utoipa::path(post, path = "/api/v1.1/project/{vcs}/{org}/{repo}/unfollow", operation_id = "unfollow_project", tag = "projects",
    params(ProjectPath),
    responses(
        (status = 200, description = "No longer followed", body = FollowJson),
        (status = "4XX", description = "Not a user, or not found", body = MessageBody)))]
pub async fn unfollow(
    State(state): State<AppState>,
    caller: Caller,
    ProjectRoute(slug): ProjectRoute,
) -> Result<Json<FollowJson>, ApiError> {
    state.app.follow(&caller, &slug, false).await?;
    Ok(Json(FollowJson {
        followed: false,
        first_build: None,
    }))
}

/// A followed project, as CircleCI's private API lists it.
#[derive(Serialize, ToSchema)]
pub struct FollowedProjectJson {
    id: Uuid,
    /// The repository's name.
    name: String,
    /// `gh/acme/widgets`.
    slug: String,
    /// `github` or `bitbucket`.
    vcs_type: String,
    organization_id: Uuid,
    organization_name: String,
    default_branch: String,
}

/// `GET /api/private/me/followed-projects`: the projects the caller follows, by slug, in one
/// page (CircleCI's private API, which its tools call).
#[utoipa::path(get, path = "/api/private/me/followed-projects", operation_id = "followed_projects", tag = "user",
    responses(
        (status = 200, description = "The projects the caller follows, in one page", body = Page<FollowedProjectJson>),
        (status = "4XX", description = "Not a user's credentials", body = MessageBody)))]
pub async fn followed(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Page<FollowedProjectJson>>, ApiError> {
    let mut items = Vec::new();
    for p in state.app.followed_projects(&caller).await? {
        items.push(FollowedProjectJson {
            id: p.uuid,
            name: p.slug.repo().to_owned(),
            slug: p.slug.to_string(),
            vcs_type: p.slug.vcs().long().to_owned(),
            organization_id: state.app.organization_id_of(&p).await?,
            organization_name: p.slug.org().to_owned(),
            default_branch: p.default_branch.as_str().to_owned(),
        });
    }
    Ok(Json(Page {
        items,
        next_page_token: None,
    }))
}
