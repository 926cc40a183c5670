//! Project settings → Status Badges: choose a branch, a style and a Status token (pasted, or
//! created right here and shown once), and get the image URL and embed snippets with a live
//! preview. The token travels in a POST body, never in a URL of circlet's own pages.

use super::projects::SlugPath;
use super::{Chrome, UiForm, render, render_with};
use crate::api::no_store;
use crate::auth::client::ClientIp;
use crate::auth::csrf::CsrfToken;
use crate::auth::session::CurrentUser;
use crate::error::PageError;
use crate::state::AppState;
use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use circlet_app::tokens;
use circlet_core::badge_snippets::{self, BadgeUrls};
use circlet_core::scope::Action;
use circlet_core::scope::ProjectScope;
use circlet_core::token::{self as core_token, TokenKind, TokenName};
use circlet_store::{JobFilter, Project};
use serde::Deserialize;
use std::collections::BTreeSet;

/// One embed snippet.
pub struct Snippet {
    /// The format's name.
    pub name: &'static str,
    /// An id-safe form of the name.
    pub id: String,
    /// The text to copy.
    pub text: String,
}

#[derive(Template)]
#[template(path = "badges.html")]
struct BadgesPage {
    chrome: Chrome,
    project: Project,
    tab: &'static str,
    branches: Vec<String>,
    form: BadgeForm,
    preview: Option<String>,
    snippets: Vec<Snippet>,
    new_token: Option<String>,
    error: Option<String>,
}

/// The form's fields.
#[derive(Deserialize, Default)]
pub struct BadgeForm {
    branch: String,
    style: String,
    token: String,
    /// `create`: make a Status token first.
    action: Option<String>,
}

/// The default branch first, then branches that have builds.
pub(super) async fn branches(
    state: &AppState,
    project: &Project,
) -> Result<Vec<String>, PageError> {
    let mut seen = BTreeSet::new();
    for j in state
        .app
        .store
        .builds()
        .jobs(project.id, None, JobFilter::All, 100, 0)
        .await?
    {
        if let Some(b) = j.branch {
            seen.insert(b);
        }
    }
    let default = project.default_branch.as_str().to_owned();
    seen.remove(&default);
    Ok(std::iter::once(default).chain(seen).collect())
}

/// Why `token` may not go into a badge URL of `project`, if it may not: only a live Status
/// token of this very project. Anything wider (a personal token, `all`, `view-builds`) would
/// hand every reader of a README more than build statuses.
async fn status_token_problem(
    state: &AppState,
    project: &Project,
    token: &str,
) -> Result<Option<String>, PageError> {
    let Some(checked) = core_token::check(token) else {
        return Ok(Some(
            "That is not a circlet API token: paste a Status project token (CCIPRJ_…), or create one here."
                .into(),
        ));
    };
    if checked.kind != TokenKind::Project {
        return Ok(Some(
            "Use a project token with the Status scope: a personal token in a badge URL would let anyone who reads it act as you."
                .into(),
        ));
    }
    let record = state.app.store.tokens().by_digest(&checked.digest).await?;
    Ok(match record {
        None => Some("That token does not exist (any more): create a Status token here.".into()),
        Some(t) if t.project_id != Some(project.id) => {
            Some("That token belongs to another project.".into())
        }
        Some(t) if t.expired_at(time::OffsetDateTime::now_utc()) => {
            Some("That token has expired: create a Status token here.".into())
        }
        Some(t) if t.scope != Some(ProjectScope::Status) => Some(
            "Use a token with the Status scope: a wider one in a badge URL gives every reader more than build statuses."
                .into(),
        ),
        Some(_) => None,
    })
}

/// `GET …/settings/badges`.
pub async fn show(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    csrf: CsrfToken,
    SlugPath(slug): SlugPath,
) -> Result<Html<String>, PageError> {
    let project = super::projects::for_user(&state, &user, &slug, Action::ManageProject).await?;
    let form = BadgeForm {
        branch: project.default_branch.as_str().to_owned(),
        style: "svg".into(),
        ..Default::default()
    };
    render(&BadgesPage {
        chrome: Chrome::new(Some(user), csrf),
        branches: branches(&state, &project).await?,
        project,
        tab: "badges",
        form,
        preview: None,
        snippets: Vec::new(),
        new_token: None,
        error: None,
    })
}

/// `POST …/settings/badges`: the snippets for the chosen branch, style and token.
pub async fn generate(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    CurrentUser(user): CurrentUser,
    csrf: CsrfToken,
    SlugPath(slug): SlugPath,
    UiForm(mut form): UiForm<BadgeForm>,
) -> Result<Response, PageError> {
    let project = super::projects::for_user(&state, &user, &slug, Action::ManageProject).await?;
    let mut new_token = None;
    let mut error = None;
    if form.action.as_deref() == Some("create") {
        let label = TokenName::parse("Status badge", "label")?;
        let actor = super::tokens::actor(&user, client);
        let (value, _) = tokens::issue_project(
            &state.app.store,
            &project,
            ProjectScope::Status,
            &label,
            None,
            &actor,
        )
        .await?;
        form.token = value.expose().to_owned();
        new_token = Some(form.token.clone());
    }
    let token = form.token.trim().to_owned();
    if !token.is_empty() && new_token.is_none() {
        error = status_token_problem(&state, &project, &token).await?;
    }
    if !project.public && token.is_empty() && error.is_none() {
        error = Some(
            "Private projects need a token in the badge URL: paste a Status token or create one."
                .to_owned(),
        );
    }
    let (ext, style) = match form.style.as_str() {
        "shield" => ("svg", "shield"),
        "png" => ("png", "svg"),
        _ => ("svg", "svg"),
    };
    let branch = form.branch.trim();
    let branch =
        (!branch.is_empty() && branch != project.default_branch.as_str()).then_some(branch);
    let (preview, snippets) = if error.is_none() {
        let u: BadgeUrls = badge_snippets::urls(
            &state.app.config.public_url,
            &project.slug.to_string(),
            branch,
            ext,
            style,
            (!token.is_empty()).then_some(token.as_str()),
        );
        let snippets = badge_snippets::snippets(&u)
            .into_iter()
            .map(|(name, text)| Snippet {
                name,
                id: name.to_ascii_lowercase().replace(' ', "-"),
                text,
            })
            .collect();
        (Some(u.image), snippets)
    } else {
        (None, Vec::new())
    };
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let page = BadgesPage {
        chrome: Chrome::new(Some(user), csrf),
        branches: branches(&state, &project).await?,
        project,
        tab: "badges",
        form,
        preview,
        snippets,
        new_token,
        error,
    };
    Ok(no_store(render_with(status, &page)?.into_response()))
}
