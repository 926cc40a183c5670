//! Project settings → Environment Variables: add (name, value), list masked, remove with a
//! confirmation. Project admins only; a value is never shown again once added.

use super::projects::SlugPath;
use super::{Chrome, UiForm, render, render_with, when};
use crate::auth::csrf::CsrfToken;
use crate::auth::session::CurrentUser;
use crate::error::PageError;
use crate::state::AppState;
use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use circlet_app::Caller;
use circlet_app::env_vars::ProjectEnvVars;
use circlet_core::ProjectSlug;
use circlet_store::{EnvVarRecord, Project, User};
use serde::Deserialize;

/// One variable as the page lists it.
pub struct VarView {
    /// Its name.
    pub name: String,
    /// `xxxx` + last 4.
    pub masked: String,
    /// When it was set.
    pub created: String,
}

#[derive(Template)]
#[template(path = "env_vars.html")]
struct EnvVarsPage {
    chrome: Chrome,
    project: Project,
    tab: &'static str,
    vars: Vec<VarView>,
    name: String,
    error: Option<String>,
    notice: Option<String>,
}

#[derive(Template)]
#[template(path = "env_var_remove.html")]
struct RemovePage {
    chrome: Chrome,
    project: Project,
    tab: &'static str,
    var: VarView,
}

/// The env vars of the project at `slug`, if `user` may manage them.
async fn door<'a>(
    state: &'a AppState,
    user: &User,
    slug: &ProjectSlug,
) -> Result<ProjectEnvVars<'a>, PageError> {
    Ok(state
        .app
        .env_vars(&Caller::visitor(Some(user)), slug)
        .await?)
}

async fn views(vars: &ProjectEnvVars<'_>) -> Result<Vec<VarView>, PageError> {
    Ok(vars.list().await?.into_iter().map(view).collect())
}

fn view(v: EnvVarRecord) -> VarView {
    VarView {
        name: v.name,
        masked: v.masked,
        created: when(&v.created_at),
    }
}

fn url(project: &Project) -> String {
    format!("/projects/{}/settings/env", project.slug)
}

/// `GET …/settings/env`.
pub async fn list(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    csrf: CsrfToken,
    SlugPath(slug): SlugPath,
) -> Result<Html<String>, PageError> {
    let door = door(&state, &user, &slug).await?;
    let vars = views(&door).await?;
    render(&EnvVarsPage {
        chrome: Chrome::new(Some(user), csrf),
        project: door.project,
        tab: "env",
        vars,
        name: String::new(),
        error: None,
        notice: None,
    })
}

/// The add form.
#[derive(Deserialize)]
pub struct AddForm {
    name: String,
    value: String,
}

/// `POST …/settings/env`: adds (or replaces) a variable.
pub async fn add(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    csrf: CsrfToken,
    SlugPath(slug): SlugPath,
    UiForm(form): UiForm<AddForm>,
) -> Result<Response, PageError> {
    let door = door(&state, &user, &slug).await?;
    let name = form.name.trim().to_owned();
    let outcome = door.set(&name, &form.value).await;
    let (status, error, notice, kept_name) = match outcome {
        Ok(v) => (
            StatusCode::OK,
            None,
            Some(format!("Added {}.", v.name)),
            String::new(),
        ),
        Err(e) => match PageError::from(e) {
            PageError::Page {
                status, message, ..
            } if status.is_client_error() => (StatusCode::BAD_REQUEST, Some(message), None, name),
            other => return Err(other),
        },
    };
    let vars = views(&door).await?;
    let page = EnvVarsPage {
        chrome: Chrome::new(Some(user), csrf),
        project: door.project,
        tab: "env",
        vars,
        name: kept_name,
        error,
        notice,
    };
    Ok(render_with(status, &page)?.into_response())
}

/// `{name}` of a variable's page.
#[derive(Deserialize)]
pub struct VarPath {
    vcs: String,
    org: String,
    repo: String,
    name: String,
}

async fn var(
    state: &AppState,
    user: &User,
    path: &VarPath,
) -> Result<(Project, VarView), PageError> {
    let slug = ProjectSlug::from_parts(&path.vcs, &path.org, &path.repo)?;
    let door = door(state, user, &slug).await?;
    let v = door.get(&path.name).await?;
    Ok((door.project, view(v)))
}

/// `GET …/settings/env/{name}/remove`: the confirmation.
pub async fn remove_form(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    csrf: CsrfToken,
    Path(path): Path<VarPath>,
) -> Result<Html<String>, PageError> {
    let (project, var) = var(&state, &user, &path).await?;
    render(&RemovePage {
        chrome: Chrome::new(Some(user), csrf),
        project,
        tab: "env",
        var,
    })
}

/// `POST …/settings/env/{name}/remove`.
pub async fn remove(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(path): Path<VarPath>,
) -> Result<Response, PageError> {
    let slug = ProjectSlug::from_parts(&path.vcs, &path.org, &path.repo)?;
    let door = door(&state, &user, &slug).await?;
    door.delete(&path.name).await?;
    Ok(Redirect::to(&url(&door.project)).into_response())
}
