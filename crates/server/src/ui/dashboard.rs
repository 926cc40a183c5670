//! The dashboard: the user's projects.

use super::{Chrome, render};
use crate::auth::csrf::CsrfToken;
use crate::auth::session::CurrentUser;
use crate::error::PageError;
use crate::state::AppState;
use askama::Template;
use axum::extract::State;
use axum::response::Html;
use circlet_core::Role;
use circlet_store::Project;

#[derive(Template)]
#[template(path = "dashboard.html")]
struct Dashboard {
    chrome: Chrome,
    projects: Vec<(Project, Role)>,
    leaks: Vec<String>,
}

/// `GET /`: the projects the user belongs to (every project, for site admins).
pub async fn show(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    csrf: CsrfToken,
) -> Result<Html<String>, PageError> {
    let projects = state.app.projects_of(&user).await?;
    let leaks = super::leaks::for_user(&state, &user).await?;
    render(&Dashboard {
        chrome: Chrome::new(Some(user), csrf),
        projects,
        leaks,
    })
}
