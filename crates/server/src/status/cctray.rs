//! The CCTray feed (`cc.xml`) for CCMenu and similar clients: one branch of one project, or
//! the default branches of every project the user is a member of.
//!
//! Errors answer like the JSON API (`{"message": …}` with its status, 404 for a project the
//! caller may not see exactly as for an absent one): feed readers look at the status only,
//! and a person debugging with curl reads why.

use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::State;
use axum::http::HeaderValue;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use circlet_app::AppError;
use circlet_app::Caller;
use circlet_core::ProjectSlug;
use circlet_core::cctray::{FeedEntry, LastBuild, render};
use circlet_core::scope::Action;
use circlet_store::{BranchStatus, Project};

/// The feed of one branch (`None`: the default branch) of the project at `slug`.
pub(super) async fn one(
    state: &AppState,
    caller: Result<Caller, ApiError>,
    slug: Option<ProjectSlug>,
    branch: Option<String>,
) -> Response {
    let feed = async {
        let caller = caller?;
        let slug = slug.ok_or_else(AppError::project_not_found)?;
        let project = state
            .app
            .authorize(&caller, &slug, Action::ReadStatus)
            .await?
            .project;
        let branch = branch.unwrap_or_else(|| project.default_branch.as_str().to_owned());
        let status = state
            .app
            .store
            .builds()
            .branch_status(project.id, &branch)
            .await?;
        Ok::<_, ApiError>(render(
            &state.app.config.public_url,
            &[entry(&project, &branch, status)],
        ))
    };
    match feed.await {
        Ok(xml) => xml_response(xml),
        Err(e) => e.into_response(),
    }
}

/// `GET /cc.xml`: the default branch of every project the user (personal token or browser
/// session) is a member of. Site admins get their memberships too, not every project: the
/// feed is "my projects", as CircleCI's is "followed projects". A limited token's feed holds
/// only the projects within its reach.
pub async fn all(State(state): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    caller.require_user()?;
    caller.note_kind(&state.app, Action::ReadStatus.usage_kind());
    let projects = state.app.memberships_of(&caller).await?;
    let mut statuses = Vec::with_capacity(projects.len());
    for (project, _) in &projects {
        let branch = project.default_branch.as_str();
        let status = state
            .app
            .store
            .builds()
            .branch_status(project.id, branch)
            .await?;
        statuses.push(status);
    }
    let entries: Vec<FeedEntry<'_>> = projects
        .iter()
        .zip(statuses)
        .map(|((project, _), status)| entry(project, project.default_branch.as_str(), status))
        .collect();
    Ok(xml_response(render(&state.app.config.public_url, &entries)))
}

fn entry<'a>(project: &'a Project, branch: &'a str, status: BranchStatus) -> FeedEntry<'a> {
    FeedEntry {
        slug: &project.slug,
        branch,
        building: status.building,
        last: status.latest_finished.map(|p| LastBuild {
            state: p.state,
            build_num: p.build_num,
            finished_at: p.finished_at,
        }),
        since: project.created_at,
    }
}

fn xml_response(xml: String) -> Response {
    let mut r = ([(CONTENT_TYPE, "application/xml; charset=utf-8")], xml).into_response();
    r.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}
