//! Project settings → Caches & Workspaces: what the project's dependency caches and workflow
//! workspaces take, and how many days they are kept (`circlet_app::caches` decides both).

use super::projects::{SlugPath, for_user};
use super::{Chrome, UiForm, render, render_with};
use crate::auth::csrf::CsrfToken;
use crate::auth::session::CurrentUser;
use crate::error::PageError;
use crate::state::AppState;
use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use circlet_app::Caller;
use circlet_app::caches::StorageSettings;
use circlet_core::ProjectSlug;
use circlet_core::scope::Action;
use circlet_store::{Project, User};
use serde::Deserialize;

#[derive(Template)]
#[template(path = "storage.html")]
struct StoragePage {
    chrome: Chrome,
    project: Project,
    tab: &'static str,
    settings: StorageSettings,
    cache_size: String,
    layer_size: String,
    error: Option<String>,
    notice: Option<String>,
}

/// Bytes as people read them.
fn size(bytes: i64) -> String {
    let bytes = bytes.max(0) as f64;
    match bytes {
        b if b < 1024.0 => format!("{b} B"),
        b if b < 1024.0 * 1024.0 => format!("{:.1} KiB", b / 1024.0),
        b if b < 1024.0 * 1024.0 * 1024.0 => format!("{:.1} MiB", b / 1024.0 / 1024.0),
        b => format!("{:.1} GiB", b / 1024.0 / 1024.0 / 1024.0),
    }
}

async fn page(
    state: &AppState,
    user: User,
    csrf: CsrfToken,
    slug: &ProjectSlug,
    error: Option<String>,
    notice: Option<String>,
) -> Result<StoragePage, PageError> {
    let project = for_user(state, &user, slug, Action::ManageProject).await?;
    let settings = state
        .app
        .storage_settings(&Caller::visitor(Some(&user)), slug)
        .await?;
    Ok(StoragePage {
        chrome: Chrome::new(Some(user), csrf),
        project,
        tab: "storage",
        cache_size: size(settings.usage.cache_bytes),
        layer_size: size(settings.usage.layer_bytes),
        settings,
        error,
        notice,
    })
}

/// `GET …/settings/storage`.
pub async fn show(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    csrf: CsrfToken,
    SlugPath(slug): SlugPath,
) -> Result<Html<String>, PageError> {
    render(&page(&state, user, csrf, &slug, None, None).await?)
}

/// The retention form.
#[derive(Deserialize)]
pub struct RetentionForm {
    days: String,
}

/// `POST …/settings/storage`: sets the retention.
pub async fn set_retention(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    csrf: CsrfToken,
    SlugPath(slug): SlugPath,
    UiForm(form): UiForm<RetentionForm>,
) -> Result<Response, PageError> {
    let caller = Caller::visitor(Some(&user));
    let outcome = match form.days.trim().parse::<i64>() {
        Ok(days) => state
            .app
            .set_retention(&caller, &slug, days)
            .await
            .map(|()| days),
        Err(_) => Err(circlet_app::AppError::Invalid(format!(
            "'{}' is not a number of days",
            form.days.trim()
        ))),
    };
    let (status, error, notice) = match outcome {
        Ok(days) => (
            StatusCode::OK,
            None,
            Some(format!(
                "Caches and workspaces are now kept for {days} days."
            )),
        ),
        Err(e) => match PageError::from(e) {
            PageError::Page {
                status, message, ..
            } if status.is_client_error() && status != StatusCode::NOT_FOUND => {
                (StatusCode::BAD_REQUEST, Some(message), None)
            }
            other => return Err(other),
        },
    };
    let page = page(&state, user, csrf, &slug, error, notice).await?;
    Ok(render_with(status, &page)?.into_response())
}
