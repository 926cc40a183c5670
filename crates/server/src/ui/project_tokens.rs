//! Project settings → API Permissions: a project's API tokens. Only the project's admins (and
//! site admins) see these pages: other members get 403, everyone else 404, as for the API.

use super::projects::{SlugPath, project_url};
use super::tokens::{
    ExpiryChoices, Place, ReplaceForm, TokenId, TokenView, actor, creation_closed, detail_page,
    ensure_creation_open, form_error, parse_lifetime, remove_page, reveal,
};
use super::{Chrome, UiForm, render, render_with};
use crate::auth::client::ClientIp;
use crate::auth::csrf::CsrfToken;
use crate::auth::session::CurrentUser;
use crate::error::PageError;
use crate::state::AppState;
use askama::Template;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{Html, IntoResponse, Redirect, Response};
use circlet_app::Caller;
use circlet_app::tokens::project::ProjectTokens;
use circlet_core::ProjectSlug;
use circlet_core::scope::ProjectScope;
use circlet_core::token::TokenName;
use circlet_store::{Project, User};
use serde::Deserialize;
use time::OffsetDateTime;

/// The URL of a project's API Permissions tab.
fn api_url(project: &Project) -> String {
    format!("{}/settings/api", project_url(&project.slug))
}

fn place(project: Project) -> Place {
    Place {
        base: api_url(&project),
        project: Some(project),
    }
}

/// The API tokens of the project at `slug`, if `user` may manage them.
async fn door<'a>(
    state: &'a AppState,
    user: &User,
    slug: &ProjectSlug,
) -> Result<ProjectTokens<'a>, PageError> {
    Ok(state
        .app
        .project_tokens(&Caller::visitor(Some(user)), slug)
        .await?)
}

#[derive(Template)]
#[template(path = "tokens_project.html")]
struct ListPage {
    chrome: Chrome,
    project: Project,
    tab: &'static str,
    tokens: Vec<TokenView>,
    leaks: Vec<String>,
    /// Why the Create button is not shown, when it is not.
    closed: Option<String>,
}

/// `GET /projects/{vcs}/{org}/{repo}/settings/api`: the project's API tokens.
pub async fn list(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    csrf: CsrfToken,
    SlugPath(slug): SlugPath,
) -> Result<Html<String>, PageError> {
    let door = door(&state, &user, &slug).await?;
    let tokens = door.list().await?;
    let leaks = super::leaks::for_user(&state, &user).await?;
    render(&ListPage {
        chrome: Chrome::new(Some(user), csrf),
        project: door.project,
        tab: "api",
        tokens: TokenView::all(&tokens),
        leaks,
        closed: creation_closed(&state).await?,
    })
}

/// The "Create New Token" form's fields.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ProjectTokenForm {
    scope: String,
    label: String,
    expiry: String,
    expires_on: String,
}

/// One choice of the scope select.
struct ScopeOption {
    value: &'static str,
    label: &'static str,
    selected: bool,
}

fn scope_options(selected: &str) -> Vec<ScopeOption> {
    ProjectScope::ALL
        .into_iter()
        .map(|s| ScopeOption {
            value: s.as_str(),
            label: s.label(),
            selected: s.as_str() == selected,
        })
        .collect()
}

#[derive(Template)]
#[template(path = "token_project_new.html")]
struct NewPage {
    chrome: Chrome,
    project: Project,
    tab: &'static str,
    scopes: Vec<ScopeOption>,
    label: String,
    expiry: ExpiryChoices,
    error: Option<String>,
}

/// `GET /projects/{vcs}/{org}/{repo}/settings/api/new`: the "Create Token" form.
pub async fn new_form(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    csrf: CsrfToken,
    SlugPath(slug): SlugPath,
) -> Result<Html<String>, PageError> {
    let project = door(&state, &user, &slug).await?.project;
    ensure_creation_open(&state).await?;
    render(&NewPage {
        chrome: Chrome::new(Some(user), csrf),
        project,
        tab: "api",
        scopes: scope_options(ProjectScope::Status.as_str()),
        label: String::new(),
        expiry: ExpiryChoices::new(&state.app.config.token_policy(), "never", ""),
        error: None,
    })
}

/// `POST /projects/{vcs}/{org}/{repo}/settings/api`: creates a project token and shows its
/// value once.
pub async fn create(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    CurrentUser(user): CurrentUser,
    csrf: CsrfToken,
    SlugPath(slug): SlugPath,
    UiForm(form): UiForm<ProjectTokenForm>,
) -> Result<Response, PageError> {
    let door = door(&state, &user, &slug).await?;
    let policy = state.app.config.token_policy();
    let outcome = async {
        let now = OffsetDateTime::now_utc();
        let scope = ProjectScope::parse(&form.scope)
            .map_err(|_| PageError::invalid("Choose a scope: Status, Build Artifacts or All."))?;
        let label = TokenName::parse(&form.label, "Token Label")?;
        let lifetime = parse_lifetime(&form.expiry, &form.expires_on, now.date())?;
        let actor = actor(&user, client);
        Ok::<_, PageError>(door.issue(scope, &label, lifetime, &actor).await?)
    }
    .await;
    let project = door.project;
    match outcome {
        Ok((value, record)) => Ok(reveal::redirect(
            &state,
            &user,
            &api_url(&project),
            &record,
            &value,
            false,
        )),
        Err(e) => {
            let (status, message) = form_error(e)?;
            let page = NewPage {
                chrome: Chrome::new(Some(user), csrf),
                project,
                tab: "api",
                scopes: scope_options(&form.scope),
                expiry: ExpiryChoices::new(&policy, &form.expiry, &form.expires_on),
                label: form.label,
                error: Some(message),
            };
            Ok(render_with(status, &page)?.into_response())
        }
    }
}

/// `GET /projects/{vcs}/{org}/{repo}/settings/api/{uuid}`: one token's detail view.
pub async fn show(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    csrf: CsrfToken,
    SlugPath(slug): SlugPath,
    TokenId(uuid): TokenId,
) -> Result<Html<String>, PageError> {
    let door = door(&state, &user, &slug).await?;
    let token = door.get(uuid).await?;
    let project = door.project;
    let chrome = Chrome::new(Some(user), csrf);
    detail_page(&state, chrome, place(project), &token).await
}

/// `GET /projects/{vcs}/{org}/{repo}/settings/api/{uuid}/remove`: the removal confirmation.
pub async fn remove_form(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    csrf: CsrfToken,
    SlugPath(slug): SlugPath,
    TokenId(uuid): TokenId,
) -> Result<Html<String>, PageError> {
    let door = door(&state, &user, &slug).await?;
    let token = door.get(uuid).await?;
    let project = door.project;
    let chrome = Chrome::new(Some(user), csrf);
    remove_page(&state, chrome, place(project), &token).await
}

/// `POST /projects/{vcs}/{org}/{repo}/settings/api/{uuid}/remove`: deletes the token; it stops
/// working at once.
pub async fn remove(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    CurrentUser(user): CurrentUser,
    SlugPath(slug): SlugPath,
    TokenId(uuid): TokenId,
) -> Result<Response, PageError> {
    let door = door(&state, &user, &slug).await?;
    let token = door.get(uuid).await?;
    door.delete(&token, &actor(&user, client)).await?;
    Ok(Redirect::to(&api_url(&door.project)).into_response())
}

/// `POST /projects/{vcs}/{org}/{repo}/settings/api/{uuid}/replace`: a new value with the same
/// label, and the scope and lifetime the form chose (else the same), shown once on the page it
/// redirects to; the old value stops working.
pub async fn replace(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    CurrentUser(user): CurrentUser,
    SlugPath(slug): SlugPath,
    TokenId(uuid): TokenId,
    UiForm(form): UiForm<ReplaceForm>,
) -> Result<Response, PageError> {
    let door = door(&state, &user, &slug).await?;
    let old = door.get(uuid).await?;
    let with = form.replacement()?;
    let (value, record) = door.replace(&old, with, &actor(&user, client)).await?;
    Ok(reveal::redirect(
        &state,
        &user,
        &api_url(&door.project),
        &record,
        &value,
        true,
    ))
}

/// `GET /projects/{vcs}/{org}/{repo}/settings/api/{uuid}/created`: the new value, once.
pub async fn created(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    csrf: CsrfToken,
    SlugPath(slug): SlugPath,
    TokenId(uuid): TokenId,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let door = door(&state, &user, &slug).await?;
    let token = door.get(uuid).await?;
    let chrome = Chrome::new(Some(user), csrf);
    reveal::page(&state, &headers, chrome, place(door.project), &token)
}
