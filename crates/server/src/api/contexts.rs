//! Contexts over API v2, in CircleCI's shapes: `GET/POST /context` (`owner-id` / `owner-slug`),
//! `GET/DELETE /context/{id}`, `GET /context/{id}/environment-variable`,
//! `PUT/DELETE /context/{id}/environment-variable/{name}`, and the restrictions under
//! `/context/{id}/restrictions`. Users only; members of the organization read, its admins
//! change. The rules are `circlet_app::contexts`'.

use super::build_json::iso;
use super::{ApiJson, ApiQuery, Page};
use crate::auth::client::ClientIp;
use crate::error::{ApiError, MessageBody};
use crate::route::RouteParams;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use circlet_app::Caller;
use circlet_app::caller::Actor;
use circlet_app::contexts::{ContextAccess, OrgRef};
use circlet_store::{Context, ContextVar, Restriction};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// `{id}`: a context.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[expect(dead_code, reason = "describes path parameters for the document only")]
pub struct ContextIdPath {
    /// The context's id.
    id: String,
}

/// `{id}` and `{name}`: a context's variable.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[expect(dead_code, reason = "describes path parameters for the document only")]
pub struct ContextVarPath {
    /// The context's id.
    id: String,
    /// The variable's name.
    name: String,
}

/// `{id}` and `{restriction_id}`: a context's restriction.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[expect(dead_code, reason = "describes path parameters for the document only")]
pub struct RestrictionPath {
    /// The context's id.
    id: String,
    /// The restriction's id.
    restriction_id: String,
}

/// A context.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ContextJson {
    id: String,
    name: String,
    created_at: String,
}

/// A context's variable: its name, never its value.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ContextVarJson {
    variable: String,
    context_id: String,
    created_at: String,
    updated_at: String,
}

/// A restriction on who may use a context.
#[derive(Serialize, utoipa::ToSchema)]
pub struct RestrictionJson {
    id: String,
    /// The restricted-to project's id, for a `project` restriction.
    project_id: Option<String>,
    /// The project's slug, or the role's name.
    name: String,
    /// `project` or `role`.
    restriction_type: String,
    restriction_value: String,
}

/// `?owner-id=` or `?owner-slug=` (and `owner-type`, which must be `organization`).
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OwnerQuery {
    /// The organization's id.
    #[serde(rename = "owner-id")]
    owner_id: Option<String>,
    /// The organization's slug, `gh/acme`.
    #[serde(rename = "owner-slug")]
    owner_slug: Option<String>,
    /// `organization` (the default).
    #[serde(rename = "owner-type")]
    owner_type: Option<String>,
    /// Accepted and ignored: every context is on the first page.
    #[serde(rename = "page-token")]
    #[expect(
        dead_code,
        reason = "accepted for CircleCI's clients; one page holds all"
    )]
    page_token: Option<String>,
}

/// Who owns a new context.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct OwnerJson {
    id: Option<String>,
    slug: Option<String>,
    #[serde(rename = "type")]
    owner_type: Option<String>,
}

/// A new context: `{"name": …, "owner": {"id": …} | {"slug": …}}`.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct NewContextBody {
    name: Option<String>,
    owner: Option<OwnerJson>,
}

/// A variable's new value: `{"value": …}`.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct VarValueBody {
    value: Option<String>,
}

/// A new restriction: `{"restriction_type": "project" | "role", "restriction_value": …}`.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct NewRestrictionBody {
    restriction_type: Option<String>,
    restriction_value: Option<String>,
}

fn owner<'a>(
    id: Option<&'a str>,
    slug: Option<&'a str>,
    kind: Option<&str>,
) -> Result<OrgRef<'a>, ApiError> {
    if let Some(kind) = kind
        && kind != "organization"
    {
        return Err(ApiError::Invalid(format!(
            "owner type must be organization, not '{}'",
            kind.chars().take(40).collect::<String>().escape_debug()
        )));
    }
    match (id, slug) {
        (Some(id), None) => Uuid::parse_str(id).map(OrgRef::Id).map_err(|_| {
            ApiError::Invalid("owner-id must be an organization's id (a UUID)".into())
        }),
        (None, Some(slug)) => Ok(OrgRef::Slug(slug)),
        _ => Err(ApiError::Invalid(
            "name the owner by its id or by its slug (gh/acme), one of the two".into(),
        )),
    }
}

fn context_json(c: &Context) -> ContextJson {
    ContextJson {
        id: c.uuid.to_string(),
        name: c.name.clone(),
        created_at: iso(c.created_at),
    }
}

fn var_json(context: &Context, v: &ContextVar) -> ContextVarJson {
    ContextVarJson {
        variable: v.name.clone(),
        context_id: context.uuid.to_string(),
        created_at: iso(v.created_at),
        updated_at: iso(v.updated_at),
    }
}

async fn restriction_json(
    state: &AppState,
    context: &ContextAccess<'_>,
    r: &Restriction,
) -> Result<RestrictionJson, ApiError> {
    let project = if r.kind == circlet_core::context::RestrictionKind::Project {
        let projects = state
            .app
            .store
            .organizations()
            .projects(context.org.org.id)
            .await?;
        Some(
            projects
                .into_iter()
                .find(|(_, uuid, _)| uuid.to_string() == r.value)
                .map_or_else(|| "(a deleted project)".to_owned(), |(_, _, slug)| slug),
        )
    } else {
        None
    };
    Ok(RestrictionJson {
        id: r.uuid.to_string(),
        project_id: project.is_some().then(|| r.value.clone()),
        name: project.unwrap_or_else(|| r.value.clone()),
        restriction_type: r.kind.as_str().to_owned(),
        restriction_value: r.value.clone(),
    })
}

/// The context the path names, for a member of its organization.
async fn door<'a>(
    state: &'a AppState,
    caller: &Caller,
    params: &RouteParams,
) -> Result<ContextAccess<'a>, ApiError> {
    let id = Uuid::parse_str(params.get("id").unwrap_or_default())
        .map_err(|_| ApiError::NotFound(circlet_app::error::CONTEXT_NOT_FOUND.into()))?;
    Ok(state.app.context_for(caller, id).await?)
}

fn actor(caller: &Caller, client: std::net::IpAddr) -> Result<Actor, ApiError> {
    Ok(Actor::user(caller.require_user()?, client.to_string()))
}

/// v2 `GET /context?owner-id=…` (or `owner-slug=`): the organization's contexts, by name.
#[utoipa::path(get, path = "/api/v2/context", operation_id = "list_contexts", tag = "contexts",
    params(OwnerQuery),
    responses((status = 200, description = "The contexts", body = Page<ContextJson>), (status = "4XX", description = "Refused", body = MessageBody)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<OwnerQuery>,
) -> Result<Json<Page<ContextJson>>, ApiError> {
    let org = owner(
        q.owner_id.as_deref(),
        q.owner_slug.as_deref(),
        q.owner_type.as_deref(),
    )?;
    let (_, contexts) = state.app.contexts_of(&caller, org).await?;
    Ok(Json(Page {
        items: contexts.iter().map(context_json).collect(),
        next_page_token: None,
    }))
}

/// v2 `POST /context`: makes a context (organization admins).
#[utoipa::path(post, path = "/api/v2/context", operation_id = "create_context", tag = "contexts",
    request_body(content = NewContextBody, content_type = "application/json"),
    responses((status = 200, description = "Made", body = ContextJson), (status = "4XX", description = "Refused", body = MessageBody)))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ClientIp(client): ClientIp,
    ApiJson(body): ApiJson<NewContextBody>,
) -> Result<Json<ContextJson>, ApiError> {
    let name = body
        .name
        .ok_or_else(|| ApiError::Invalid("name is required".into()))?;
    let o = body.owner.ok_or_else(|| {
        ApiError::Invalid("owner is required: {\"id\": …} or {\"slug\": …}".into())
    })?;
    let org = owner(o.id.as_deref(), o.slug.as_deref(), o.owner_type.as_deref())?;
    let actor = actor(&caller, client)?;
    let made = state
        .app
        .create_context(&caller, &actor, org, &name)
        .await?;
    Ok(Json(context_json(&made)))
}

/// v2 `GET /context/{id}`.
#[utoipa::path(get, path = "/api/v2/context/{id}", operation_id = "get_context", tag = "contexts",
    params(ContextIdPath),
    responses((status = 200, description = "The context", body = ContextJson), (status = "4XX", description = "Refused or not found", body = MessageBody)))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    params: RouteParams,
) -> Result<Json<ContextJson>, ApiError> {
    let c = door(&state, &caller, &params).await?;
    Ok(Json(context_json(&c.context)))
}

/// v2 `DELETE /context/{id}`: with its variables and restrictions.
#[utoipa::path(delete, path = "/api/v2/context/{id}", operation_id = "delete_context", tag = "contexts",
    params(ContextIdPath),
    responses((status = 200, description = "Deleted", body = MessageBody), (status = "4XX", description = "Refused or not found", body = MessageBody)))]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    ClientIp(client): ClientIp,
    params: RouteParams,
) -> Result<Json<MessageBody>, ApiError> {
    let c = door(&state, &caller, &params).await?;
    c.delete(&actor(&caller, client)?).await?;
    Ok(Json(MessageBody::new("Context deleted.")))
}

/// v2 `GET /context/{id}/environment-variable`: the variables' names, never their values.
#[utoipa::path(get, path = "/api/v2/context/{id}/environment-variable", operation_id = "list_context_vars", tag = "contexts",
    params(ContextIdPath),
    responses((status = 200, description = "The variables", body = Page<ContextVarJson>), (status = "4XX", description = "Refused or not found", body = MessageBody)))]
pub async fn vars(
    State(state): State<AppState>,
    caller: Caller,
    params: RouteParams,
) -> Result<Json<Page<ContextVarJson>>, ApiError> {
    let c = door(&state, &caller, &params).await?;
    let vars = c.vars().await?;
    Ok(Json(Page {
        items: vars.iter().map(|v| var_json(&c.context, v)).collect(),
        next_page_token: None,
    }))
}

/// v2 `PUT /context/{id}/environment-variable/{name}`: sets (or replaces) a variable.
#[utoipa::path(put, path = "/api/v2/context/{id}/environment-variable/{name}", operation_id = "set_context_var", tag = "contexts",
    params(ContextVarPath),
    request_body(content = VarValueBody, content_type = "application/json"),
    responses((status = 200, description = "Set", body = ContextVarJson), (status = "4XX", description = "Refused or not found", body = MessageBody)))]
pub async fn set_var(
    State(state): State<AppState>,
    caller: Caller,
    ClientIp(client): ClientIp,
    params: RouteParams,
    ApiJson(body): ApiJson<VarValueBody>,
) -> Result<Json<ContextVarJson>, ApiError> {
    let c = door(&state, &caller, &params).await?;
    let value = body
        .value
        .ok_or_else(|| ApiError::Invalid("value is required".into()))?;
    let name = params.get("name").unwrap_or_default();
    let set = c.set_var(&actor(&caller, client)?, name, &value).await?;
    Ok(Json(var_json(&c.context, &set)))
}

/// v2 `DELETE /context/{id}/environment-variable/{name}`.
#[utoipa::path(delete, path = "/api/v2/context/{id}/environment-variable/{name}", operation_id = "delete_context_var", tag = "contexts",
    params(ContextVarPath),
    responses((status = 200, description = "Deleted", body = MessageBody), (status = "4XX", description = "Refused or not found", body = MessageBody)))]
pub async fn delete_var(
    State(state): State<AppState>,
    caller: Caller,
    ClientIp(client): ClientIp,
    params: RouteParams,
) -> Result<Json<MessageBody>, ApiError> {
    let c = door(&state, &caller, &params).await?;
    let name = params.get("name").unwrap_or_default();
    c.delete_var(&actor(&caller, client)?, name).await?;
    Ok(Json(MessageBody::new("Environment variable deleted.")))
}

/// v2 `GET /context/{id}/restrictions`.
#[utoipa::path(get, path = "/api/v2/context/{id}/restrictions", operation_id = "list_context_restrictions", tag = "contexts",
    params(ContextIdPath),
    responses((status = 200, description = "The restrictions", body = Page<RestrictionJson>), (status = "4XX", description = "Refused or not found", body = MessageBody)))]
pub async fn restrictions(
    State(state): State<AppState>,
    caller: Caller,
    params: RouteParams,
) -> Result<Json<Page<RestrictionJson>>, ApiError> {
    let c = door(&state, &caller, &params).await?;
    let mut items = Vec::new();
    for r in c.restrictions().await? {
        items.push(restriction_json(&state, &c, &r).await?);
    }
    Ok(Json(Page {
        items,
        next_page_token: None,
    }))
}

/// v2 `POST /context/{id}/restrictions`: `project` (a project id of the organization) or
/// `role` (read, write, admin; circlet's own kind).
#[utoipa::path(post, path = "/api/v2/context/{id}/restrictions", operation_id = "add_context_restriction", tag = "contexts",
    params(ContextIdPath),
    request_body(content = NewRestrictionBody, content_type = "application/json"),
    responses((status = 201, description = "Added", body = RestrictionJson), (status = "4XX", description = "Refused or not found", body = MessageBody)))]
pub async fn restrict(
    State(state): State<AppState>,
    caller: Caller,
    ClientIp(client): ClientIp,
    params: RouteParams,
    ApiJson(body): ApiJson<NewRestrictionBody>,
) -> Result<(axum::http::StatusCode, Json<RestrictionJson>), ApiError> {
    let c = door(&state, &caller, &params).await?;
    let (Some(kind), Some(value)) = (body.restriction_type, body.restriction_value) else {
        return Err(ApiError::Invalid(
            "restriction_type and restriction_value are required".into(),
        ));
    };
    let added = c.restrict(&actor(&caller, client)?, &kind, &value).await?;
    Ok((
        axum::http::StatusCode::CREATED,
        Json(restriction_json(&state, &c, &added).await?),
    ))
}

/// v2 `DELETE /context/{id}/restrictions/{restriction_id}`.
#[utoipa::path(delete, path = "/api/v2/context/{id}/restrictions/{restriction_id}", operation_id = "delete_context_restriction", tag = "contexts",
    params(RestrictionPath),
    responses((status = 200, description = "Removed", body = MessageBody), (status = "4XX", description = "Refused or not found", body = MessageBody)))]
pub async fn unrestrict(
    State(state): State<AppState>,
    caller: Caller,
    ClientIp(client): ClientIp,
    params: RouteParams,
) -> Result<Json<MessageBody>, ApiError> {
    let c = door(&state, &caller, &params).await?;
    let id = Uuid::parse_str(params.get("restriction_id").unwrap_or_default())
        .map_err(|_| ApiError::NotFound("Restriction not found".into()))?;
    c.unrestrict(&actor(&caller, client)?, id).await?;
    Ok(Json(MessageBody::new("Restriction deleted.")))
}
