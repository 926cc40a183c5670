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
    let projects = if user.site_admin {
        let all = state.app.store.projects().list_all().await?;
        all.into_iter().map(|p| (p, Role::Admin)).collect()
    } else {
        state.app.store.projects().list_for_member(user.id).await?
    };
    let leaks = super::leaks::for_user(&state, &user).await?;
    render(&Dashboard {
        chrome: Chrome::new(Some(user), csrf),
        projects,
        leaks,
    })
}
