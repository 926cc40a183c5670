//! Project settings → API Permissions: a project's API tokens. Only the project's admins (and
//! site admins) see these pages: other members get 403, everyone else 404, as for the API.

use super::projects::{SlugPath, project_url};
use super::tokens::{
    ExpiryChoices, Place, TokenId, TokenView, actor, created_page, detail_page, form_error,
    parse_lifetime, remove_page, token_not_found,
};
use super::{Chrome, UiForm, render, render_with};
use crate::auth::client::ClientIp;
use crate::auth::csrf::CsrfToken;
use crate::auth::session::CurrentUser;
use crate::error::PageError;
use crate::state::AppState;
use askama::Template;
use axum::extract::State;
use axum::response::{Html, IntoResponse, Redirect, Response};
use circlet_app::tokens;
use circlet_core::scope::Action;
use circlet_core::scope::ProjectScope;
use circlet_core::token::{TokenKind, TokenName};
use circlet_store::{Project, TokenRecord};
use serde::Deserialize;
use time::OffsetDateTime;
use uuid::Uuid;

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

/// `project`'s token `uuid`; another project's token (or none) is a 404.
async fn project_token(
    state: &AppState,
    project: &Project,
    uuid: Uuid,
) -> Result<TokenRecord, PageError> {
    state
        .app
        .store
        .tokens()
        .by_uuid(uuid)
        .await?
        .filter(|t| t.kind == TokenKind::Project && t.project_id == Some(project.id))
        .ok_or_else(token_not_found)
}

#[derive(Template)]
#[template(path = "tokens_project.html")]
struct ListPage {
    chrome: Chrome,
    project: Project,
    tab: &'static str,
    tokens: Vec<TokenView>,
    leaks: Vec<String>,
}

/// `GET /projects/{vcs}/{org}/{repo}/settings/api`: the project's API tokens.
pub async fn list(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    csrf: CsrfToken,
    SlugPath(slug): SlugPath,
) -> Result<Html<String>, PageError> {
    let project =
        super::projects::for_user(&state, &user, &slug, Action::ManageProjectTokens).await?;
    let tokens = state.app.store.tokens().list_project(project.id).await?;
    let leaks = super::leaks::for_user(&state, &user).await?;
    render(&ListPage {
        chrome: Chrome::new(Some(user), csrf),
        project,
        tab: "api",
        tokens: TokenView::all(&tokens),
        leaks,
    })
}

/// The "Create Token" form's fields.
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
    let project =
        super::projects::for_user(&state, &user, &slug, Action::ManageProjectTokens).await?;
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
    let project =
        super::projects::for_user(&state, &user, &slug, Action::ManageProjectTokens).await?;
    let policy = state.app.config.token_policy();
    let outcome = async {
        let now = OffsetDateTime::now_utc();
        let scope = ProjectScope::parse(&form.scope)
            .map_err(|_| PageError::invalid("Choose a scope: Status, Build Artifacts or All."))?;
        let label = TokenName::parse(&form.label, "Token Label")?;
        let lifetime = parse_lifetime(&form.expiry, &form.expires_on, now.date())?;
        let expires_at = policy.expiry(lifetime, now)?;
        let actor = actor(&user, client);
        Ok::<_, PageError>(
            tokens::issue_project(
                &state.app.store,
                &project,
                scope,
                &label,
                expires_at,
                &actor,
            )
            .await?,
        )
    }
    .await;
    match outcome {
        Ok((value, record)) => created_page(
            Chrome::new(Some(user), csrf),
            place(project),
            value,
            &record,
            false,
        ),
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
    let project =
        super::projects::for_user(&state, &user, &slug, Action::ManageProjectTokens).await?;
    let token = project_token(&state, &project, uuid).await?;
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
    let project =
        super::projects::for_user(&state, &user, &slug, Action::ManageProjectTokens).await?;
    let token = project_token(&state, &project, uuid).await?;
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
    let project =
        super::projects::for_user(&state, &user, &slug, Action::ManageProjectTokens).await?;
    let token = project_token(&state, &project, uuid).await?;
    tokens::delete(
        &state.app.store,
        &token,
        "token.deleted",
        &actor(&user, client),
    )
    .await?;
    Ok(Redirect::to(&api_url(&project)).into_response())
}

/// `POST /projects/{vcs}/{org}/{repo}/settings/api/{uuid}/replace`: a new value with the same
/// scope, label and lifetime, shown once; the old value stops working.
pub async fn replace(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    CurrentUser(user): CurrentUser,
    csrf: CsrfToken,
    SlugPath(slug): SlugPath,
    TokenId(uuid): TokenId,
) -> Result<Response, PageError> {
    let project =
        super::projects::for_user(&state, &user, &slug, Action::ManageProjectTokens).await?;
    let old = project_token(&state, &project, uuid).await?;
    let (value, record) = tokens::replace(
        &state.app.store,
        &state.app.config.token_policy(),
        &old,
        &actor(&user, client),
    )
    .await?;
    created_page(
        Chrome::new(Some(user), csrf),
        place(project),
        value,
        &record,
        true,
    )
}
