//! Organizations in API v2: `GET /api/v2/me/collaborations`, the organizations the caller
//! works in (those of the projects they are a member of; through a limited token, those within
//! its reach), with the ids their jobs' OIDC tokens carry as `aud`.

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
    let mut orgs = state.app.store.organizations().of_member(user.id).await?;
    if let Some(limits) = caller.limits() {
        // A limited token's organizations: those holding a project within its reach.
        let mine: Vec<_> = state
            .app
            .memberships_of(&caller)
            .await?
            .into_iter()
            .map(|(p, _)| p.slug)
            .collect();
        orgs.retain(|o| limits.reaches_organization(o.vcs, &o.name, &mine));
    }
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

/// An organization, as API v2 shows one.
#[derive(Serialize, utoipa::ToSchema)]
pub struct OrganizationJson {
    /// Its id.
    id: Uuid,
    /// Its name.
    name: String,
    /// `gh/acme`.
    slug: String,
    /// `github` or `bitbucket`.
    vcs_type: String,
    /// The caller's role in it: the highest they hold in its projects (circlet's addition).
    role: String,
}

/// `{org}`: an organization's id or its slug (`gh/acme`, also as two path segments).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[expect(dead_code, reason = "describes path parameters for the document only")]
pub struct OrgPath {
    /// The organization's id, or its slug.
    org: String,
}

/// `GET /api/v2/organization/{org}` (an id, or `gh/acme`): one organization the caller is a
/// member of; 404 for any other.
#[utoipa::path(get, path = "/api/v2/organization/{org}", operation_id = "get_organization", tag = "user",
    params(OrgPath),
    responses(
        (status = 200, description = "The organization", body = OrganizationJson),
        (status = "4XX", description = "Not a member, or no such organization", body = MessageBody)))]
pub async fn get(
    state: State<AppState>,
    caller: Caller,
    params: crate::route::RouteParams,
) -> Result<Json<OrganizationJson>, ApiError> {
    one(state, caller, params).await
}

/// `{vcs}/{org}`: an organization's slug as two path segments.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[expect(dead_code, reason = "describes path parameters for the document only")]
pub struct OrgSlugPath {
    /// `gh`, `github`, `bb` or `bitbucket`.
    vcs: String,
    /// The organization's name.
    org: String,
}

/// `GET /api/v2/organization/{vcs}/{org}`: [`get`] with the slug unencoded.
#[utoipa::path(get, path = "/api/v2/organization/{vcs}/{org}", operation_id = "get_organization_by_slug", tag = "user",
    params(OrgSlugPath),
    responses(
        (status = 200, description = "The organization", body = OrganizationJson),
        (status = "4XX", description = "Not a member, or no such organization", body = MessageBody)))]
pub async fn get_by_slug(
    state: State<AppState>,
    caller: Caller,
    params: crate::route::RouteParams,
) -> Result<Json<OrganizationJson>, ApiError> {
    one(state, caller, params).await
}

async fn one(
    State(state): State<AppState>,
    caller: Caller,
    params: crate::route::RouteParams,
) -> Result<Json<OrganizationJson>, ApiError> {
    let raw = match (params.get("vcs"), params.get("org")) {
        (Some(vcs), Some(org)) => format!("{vcs}/{org}"),
        (None, Some(org)) => org.to_owned(),
        _ => String::new(),
    };
    let access = state
        .app
        .organization_for(&caller, circlet_app::contexts::OrgRef::parse(&raw))
        .await?;
    Ok(Json(OrganizationJson {
        id: access.org.uuid,
        slug: access.slug(),
        vcs_type: access.org.vcs.long().to_owned(),
        role: access.role.as_str().to_owned(),
        name: access.org.name,
    }))
}
