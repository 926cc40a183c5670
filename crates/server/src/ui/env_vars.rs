//! Project settings → Environment Variables: add (name, value), list masked, remove with a
//! confirmation. Project admins only; a value is never shown again once added.

use super::projects::SlugPath;
use super::{Chrome, UiForm, render, render_with, when};
use crate::auth::access::project_for;
use crate::auth::csrf::CsrfToken;
use crate::auth::session::CurrentUser;
use crate::envvars;
use crate::error::PageError;
use crate::state::AppState;
use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use circlet_core::{ProjectSlug, Role};
use circlet_store::{Project, User};
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

async fn admin_project(
    state: &AppState,
    user: &User,
    slug: &ProjectSlug,
) -> Result<Project, PageError> {
    let a = project_for(state, Some(user), slug).await?;
    a.require(Role::Admin)?;
    Ok(a.project)
}

async fn views(state: &AppState, project: &Project) -> Result<Vec<VarView>, PageError> {
    Ok(state
        .store
        .env_vars()
        .list(project.id)
        .await?
        .into_iter()
        .map(|v| VarView {
            name: v.name,
            masked: v.masked,
            created: when(&v.created_at),
        })
        .collect())
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
    let project = admin_project(&state, &user, &slug).await?;
    let vars = views(&state, &project).await?;
    render(&EnvVarsPage {
        chrome: Chrome::new(Some(user), csrf),
        project,
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
    let project = admin_project(&state, &user, &slug).await?;
    let name = form.name.trim().to_owned();
    let outcome = envvars::set(
        &state.store,
        &state.config.env_keys,
        &project,
        &name,
        &form.value,
    )
    .await;
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
    let vars = views(&state, &project).await?;
    let page = EnvVarsPage {
        chrome: Chrome::new(Some(user), csrf),
        project,
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
    let project = admin_project(state, user, &slug).await?;
    let v = state
        .store
        .env_vars()
        .get(project.id, &path.name)
        .await?
        .ok_or_else(|| PageError::not_found("There is no such environment variable."))?;
    let view = VarView {
        name: v.name,
        masked: v.masked,
        created: when(&v.created_at),
    };
    Ok((project, view))
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
    let (project, var) = var(&state, &user, &path).await?;
    state.store.env_vars().delete(project.id, &var.name).await?;
    Ok(Redirect::to(&url(&project)).into_response())
}
