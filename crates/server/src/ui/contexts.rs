//! Organization settings → Contexts: an organization's contexts, each with its variables
//! (added, listed masked, removed) and restrictions (to projects, to roles). Members of the
//! organization see them; members who may build create them and fill unrestricted ones; its
//! admins restrict and delete them. The rules are `circlet_app::contexts`'.

use super::{Chrome, UiForm, render, render_with, when};
use crate::auth::client::ClientIp;
use crate::auth::csrf::CsrfToken;
use crate::auth::session::CurrentUser;
use crate::error::PageError;
use crate::state::AppState;
use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use circlet_app::Caller;
use circlet_app::caller::Actor;
use circlet_app::contexts::{ContextAccess, OrgAccess, OrgRef};
use circlet_store::User;
use serde::Deserialize;
use uuid::Uuid;

/// An organization as the list shows it.
pub struct OrgView {
    /// `gh/acme`.
    pub slug: String,
    /// The viewer's role.
    pub role: &'static str,
}

/// A context as the list shows it.
pub struct ContextView {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// When it was made.
    pub created: String,
}

/// A variable as the context page shows it.
pub struct VarView {
    /// Its name.
    pub name: String,
    /// `xxxx` + last 4.
    pub masked: String,
    /// When it was last set.
    pub updated: String,
}

/// A restriction as the context page shows it.
pub struct RestrictionView {
    /// Its id.
    pub id: String,
    /// `project` or `role`.
    pub kind: &'static str,
    /// The project's slug, or the role.
    pub what: String,
}

#[derive(Template)]
#[template(path = "organizations.html")]
struct OrganizationsPage {
    chrome: Chrome,
    orgs: Vec<OrgView>,
}

#[derive(Template)]
#[template(path = "contexts.html")]
struct ContextsPage {
    chrome: Chrome,
    org: String,
    may_create: bool,
    contexts: Vec<ContextView>,
    name: String,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "context.html")]
struct ContextPage {
    chrome: Chrome,
    org: String,
    admin: bool,
    may_edit: bool,
    id: String,
    name: String,
    vars: Vec<VarView>,
    restrictions: Vec<RestrictionView>,
    projects: Vec<(String, String)>,
    error: Option<String>,
    notice: Option<String>,
}

/// `{vcs}/{org}` of an organization's pages.
#[derive(Deserialize)]
pub struct OrgPath {
    vcs: String,
    org: String,
}

/// `{vcs}/{org}/…/{id}` of a context's pages.
#[derive(Deserialize)]
pub struct ContextPath {
    vcs: String,
    org: String,
    id: String,
}

/// `…/{id}/vars/{name}` and `…/{id}/restrictions/{name}`.
#[derive(Deserialize)]
pub struct ContextItemPath {
    vcs: String,
    org: String,
    id: String,
    item: String,
}

fn base(vcs: &str, org: &str) -> String {
    format!("/organizations/{vcs}/{org}/contexts")
}

async fn organization(state: &AppState, user: &User, p: &OrgPath) -> Result<OrgAccess, PageError> {
    let slug = format!("{}/{}", p.vcs, p.org);
    Ok(state
        .app
        .organization_for(&Caller::visitor(Some(user)), OrgRef::Slug(&slug))
        .await?)
}

async fn context<'a>(
    state: &'a AppState,
    user: &User,
    vcs: &str,
    org: &str,
    id: &str,
) -> Result<ContextAccess<'a>, PageError> {
    let not_found = || PageError::new(StatusCode::NOT_FOUND, circlet_app::error::CONTEXT_NOT_FOUND);
    let id = Uuid::parse_str(id).map_err(|_| not_found())?;
    let access = state
        .app
        .context_for(&Caller::visitor(Some(user)), id)
        .await?;
    // The path's organization must be the context's own.
    if !access
        .org
        .slug()
        .eq_ignore_ascii_case(&format!("{vcs}/{org}"))
    {
        return Err(not_found());
    }
    Ok(access)
}

/// `GET /organizations`: the organizations the user works in.
pub async fn organizations(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    csrf: CsrfToken,
) -> Result<Html<String>, PageError> {
    let mut orgs = Vec::new();
    for org in state.app.store.organizations().of_member(user.id).await? {
        let slug = format!("{}/{}", org.vcs.short(), org.name);
        let access = state
            .app
            .organization_for(&Caller::visitor(Some(&user)), OrgRef::Id(org.uuid))
            .await?;
        orgs.push(OrgView {
            slug,
            role: access.role.as_str(),
        });
    }
    render(&OrganizationsPage {
        chrome: Chrome::new(Some(user), csrf),
        orgs,
    })
}

async fn contexts_page(
    state: &AppState,
    user: User,
    csrf: CsrfToken,
    org: OrgAccess,
    name: String,
    error: Option<String>,
    status: StatusCode,
) -> Result<Response, PageError> {
    let contexts = state
        .app
        .store
        .contexts()
        .list(org.org.id)
        .await?
        .into_iter()
        .map(|c| ContextView {
            id: c.uuid.to_string(),
            name: c.name,
            created: when(&c.created_at),
        })
        .collect();
    let page = ContextsPage {
        chrome: Chrome::new(Some(user), csrf),
        org: org.slug(),
        may_create: org.role >= circlet_core::Role::Write,
        contexts,
        name,
        error,
    };
    Ok(render_with(status, &page)?.into_response())
}

/// `GET /organizations/{vcs}/{org}/contexts`.
pub async fn list(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    csrf: CsrfToken,
    Path(path): Path<OrgPath>,
) -> Result<Response, PageError> {
    let org = organization(&state, &user, &path).await?;
    contexts_page(&state, user, csrf, org, String::new(), None, StatusCode::OK).await
}

/// The create form.
#[derive(Deserialize)]
pub struct CreateForm {
    name: String,
}

/// `POST /organizations/{vcs}/{org}/contexts`: makes a context, then shows it.
pub async fn create(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    ClientIp(client): ClientIp,
    csrf: CsrfToken,
    Path(path): Path<OrgPath>,
    UiForm(form): UiForm<CreateForm>,
) -> Result<Response, PageError> {
    let org = organization(&state, &user, &path).await?;
    let actor = Actor::user(&user, client.to_string());
    let caller = Caller::visitor(Some(&user));
    match state
        .app
        .create_context(&caller, &actor, OrgRef::Id(org.org.uuid), &form.name)
        .await
    {
        Ok(made) => Ok(
            Redirect::to(&format!("{}/{}", base(&path.vcs, &path.org), made.uuid)).into_response(),
        ),
        Err(e) => match PageError::from(e) {
            PageError::Page {
                status, message, ..
            } if status.is_client_error() && status != StatusCode::FORBIDDEN => {
                contexts_page(
                    &state,
                    user,
                    csrf,
                    org,
                    form.name,
                    Some(message),
                    StatusCode::BAD_REQUEST,
                )
                .await
            }
            other => Err(other),
        },
    }
}

async fn context_page(
    state: &AppState,
    user: User,
    csrf: CsrfToken,
    access: &ContextAccess<'_>,
    error: Option<String>,
    notice: Option<String>,
    status: StatusCode,
) -> Result<Response, PageError> {
    let projects = state
        .app
        .store
        .organizations()
        .projects(access.org.org.id)
        .await?;
    let restrictions = access
        .restrictions()
        .await?
        .into_iter()
        .map(|r| RestrictionView {
            id: r.uuid.to_string(),
            kind: r.kind.as_str(),
            what: match r.kind {
                circlet_core::context::RestrictionKind::Project => projects
                    .iter()
                    .find(|(_, uuid, _)| uuid.to_string() == r.value)
                    .map_or_else(
                        || "(a deleted project)".to_owned(),
                        |(_, _, slug)| slug.clone(),
                    ),
                circlet_core::context::RestrictionKind::Role => format!("{} or higher", r.value),
            },
        })
        .collect();
    let vars = access
        .vars()
        .await?
        .into_iter()
        .map(|v| VarView {
            name: v.name,
            masked: v.masked,
            updated: when(&v.updated_at),
        })
        .collect();
    let page = ContextPage {
        chrome: Chrome::new(Some(user), csrf),
        org: access.org.slug(),
        admin: access.may_manage(),
        may_edit: access.may_edit().await?,
        id: access.context.uuid.to_string(),
        name: access.context.name.clone(),
        vars,
        restrictions,
        projects: projects
            .into_iter()
            .map(|(_, uuid, slug)| (uuid.to_string(), slug))
            .collect(),
        error,
        notice,
    };
    Ok(render_with(status, &page)?.into_response())
}

/// `GET /organizations/{vcs}/{org}/contexts/{id}`.
pub async fn show(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    csrf: CsrfToken,
    Path(path): Path<ContextPath>,
) -> Result<Response, PageError> {
    let access = context(&state, &user, &path.vcs, &path.org, &path.id).await?;
    context_page(&state, user, csrf, &access, None, None, StatusCode::OK).await
}

/// Shows the context page again after a change: with a notice, or with the refusal's message
/// (a 4xx the user can fix; anything else is an error page).
async fn after(
    state: &AppState,
    user: User,
    csrf: CsrfToken,
    access: &ContextAccess<'_>,
    outcome: Result<String, circlet_app::AppError>,
) -> Result<Response, PageError> {
    match outcome {
        Ok(notice) => {
            context_page(
                state,
                user,
                csrf,
                access,
                None,
                Some(notice),
                StatusCode::OK,
            )
            .await
        }
        Err(e) => match PageError::from(e) {
            PageError::Page {
                status, message, ..
            } if status.is_client_error() && status != StatusCode::FORBIDDEN => {
                context_page(
                    state,
                    user,
                    csrf,
                    access,
                    Some(message),
                    None,
                    StatusCode::BAD_REQUEST,
                )
                .await
            }
            other => Err(other),
        },
    }
}

/// The add-variable form.
#[derive(Deserialize)]
pub struct VarForm {
    name: String,
    value: String,
}

/// `POST …/contexts/{id}/vars`: adds (or replaces) a variable.
pub async fn add_var(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    ClientIp(client): ClientIp,
    csrf: CsrfToken,
    Path(path): Path<ContextPath>,
    UiForm(form): UiForm<VarForm>,
) -> Result<Response, PageError> {
    let access = context(&state, &user, &path.vcs, &path.org, &path.id).await?;
    let actor = Actor::user(&user, client.to_string());
    let name = form.name.trim().to_owned();
    let outcome = access
        .set_var(&actor, &name, &form.value)
        .await
        .map(|v| format!("Added {}.", v.name));
    after(&state, user, csrf, &access, outcome).await
}

/// `POST …/contexts/{id}/vars/{name}/remove`.
pub async fn remove_var(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    ClientIp(client): ClientIp,
    csrf: CsrfToken,
    Path(path): Path<ContextItemPath>,
) -> Result<Response, PageError> {
    let access = context(&state, &user, &path.vcs, &path.org, &path.id).await?;
    let actor = Actor::user(&user, client.to_string());
    let outcome = access
        .delete_var(&actor, &path.item)
        .await
        .map(|()| format!("Removed {}.", path.item));
    after(&state, user, csrf, &access, outcome).await
}

/// The add-restriction form: `kind` `project` (with `project`) or `role` (with `role`).
#[derive(Deserialize)]
pub struct RestrictionForm {
    kind: String,
    #[serde(default)]
    project: String,
    #[serde(default)]
    role: String,
}

/// `POST …/contexts/{id}/restrictions`.
pub async fn restrict(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    ClientIp(client): ClientIp,
    csrf: CsrfToken,
    Path(path): Path<ContextPath>,
    UiForm(form): UiForm<RestrictionForm>,
) -> Result<Response, PageError> {
    let access = context(&state, &user, &path.vcs, &path.org, &path.id).await?;
    let actor = Actor::user(&user, client.to_string());
    let value = if form.kind == "project" {
        &form.project
    } else {
        &form.role
    };
    let outcome = access
        .restrict(&actor, &form.kind, value)
        .await
        .map(|_| "Restriction added.".to_owned());
    after(&state, user, csrf, &access, outcome).await
}

/// `POST …/contexts/{id}/restrictions/{restriction}/remove`.
pub async fn unrestrict(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    ClientIp(client): ClientIp,
    csrf: CsrfToken,
    Path(path): Path<ContextItemPath>,
) -> Result<Response, PageError> {
    let access = context(&state, &user, &path.vcs, &path.org, &path.id).await?;
    let actor = Actor::user(&user, client.to_string());
    let outcome = match Uuid::parse_str(&path.item) {
        Ok(id) => access.unrestrict(&actor, id).await,
        Err(_) => Err(circlet_app::AppError::NotFound(
            "Restriction not found".into(),
        )),
    }
    .map(|()| "Restriction removed.".to_owned());
    after(&state, user, csrf, &access, outcome).await
}

/// `POST …/contexts/{id}/remove`: deletes the context, back to the list.
pub async fn remove(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    ClientIp(client): ClientIp,
    Path(path): Path<ContextPath>,
) -> Result<Response, PageError> {
    let access = context(&state, &user, &path.vcs, &path.org, &path.id).await?;
    let actor = Actor::user(&user, client.to_string());
    access.delete(&actor).await?;
    Ok(Redirect::to(&base(&path.vcs, &path.org)).into_response())
}
