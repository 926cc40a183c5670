//! The dashboard: the user's notices (tokens expiring or revoked, each dismissable) and their
//! projects, each with its newest pipeline's status.

use super::{Chrome, render, when};
use crate::auth::csrf::CsrfToken;
use crate::auth::session::CurrentUser;
use crate::error::PageError;
use crate::route::RouteParams;
use crate::state::AppState;
use askama::Template;
use axum::extract::State;
use axum::response::{Html, Redirect};
use circlet_core::Role;
use circlet_core::notice::NoticeKind;
use circlet_store::Project;
use time::OffsetDateTime;
use uuid::Uuid;

/// A notice as the dashboard's Notices box shows it.
struct NoticeView {
    uuid: Uuid,
    /// `expires-7d`, `expires-1d` or `revoked`, for styling and tests.
    kind: &'static str,
    /// Whether it calls for action now (a revocation, or a day left).
    urgent: bool,
    headline: String,
    when: String,
    settings_path: String,
}

/// A project as the dashboard lists it: the user's role, and its newest pipeline.
struct ProjectRow {
    project: Project,
    role: Role,
    latest: Option<super::pipeline_list::LatestRun>,
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct Dashboard {
    chrome: Chrome,
    projects: Vec<ProjectRow>,
    leaks: Vec<String>,
    notices: Vec<NoticeView>,
}

/// `GET /`: the user's unread notices, newest first, and the projects they belong to (every
/// project, for site admins).
pub async fn show(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    csrf: CsrfToken,
) -> Result<Html<String>, PageError> {
    let projects = state
        .app
        .projects_of(&circlet_app::Caller::Session(user.clone()))
        .await?;
    let mut rows = Vec::with_capacity(projects.len());
    for (project, role) in projects {
        let latest = super::pipeline_list::latest_run(&state, &project).await?;
        rows.push(ProjectRow {
            project,
            role,
            latest,
        });
    }
    let leaks = super::leaks::for_user(&state, &user).await?;
    let notices = state
        .app
        .notices_of(&user, OffsetDateTime::now_utc())
        .await?
        .into_iter()
        .map(|n| NoticeView {
            uuid: n.uuid,
            kind: n.kind.as_str(),
            urgent: n.kind != NoticeKind::ExpiresInAWeek,
            headline: n.headline,
            when: when(&n.created_at),
            settings_path: n.settings_path,
        })
        .collect();
    render(&Dashboard {
        chrome: Chrome::new(Some(user), csrf),
        projects: rows,
        leaks,
        notices,
    })
}

/// `POST /notices/{uuid}/dismiss`: the notice leaves the user's dashboard; back to it.
pub async fn dismiss(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    params: RouteParams,
) -> Result<Redirect, PageError> {
    let uuid = params
        .get("uuid")
        .and_then(|v| Uuid::parse_str(v).ok())
        .ok_or_else(|| PageError::not_found(circlet_app::notices::NOTICE_NOT_FOUND))?;
    state.app.dismiss_notice(&user, uuid).await?;
    Ok(Redirect::to("/"))
}
