//! Project settings → Notifications: where commit statuses go (the forge, its API, the
//! repository, an access token that goes in and is never shown) and the outbound webhooks
//! (API v2's), each with its delivery log. The rules are `circlet_app::outbound`'s.

use super::projects::{ItemPath, SlugPath};
use super::{Chrome, UiForm, render_with, when};
use crate::auth::csrf::CsrfToken;
use crate::auth::session::CurrentUser;
use crate::error::PageError;
use crate::state::AppState;
use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use circlet_app::outbound::{ProjectOutbound, WebhookSpec};
use circlet_app::{AppError, Caller};
use circlet_core::ProjectSlug;
use circlet_store::outbound::MessageRecord;
use circlet_store::{Project, User};
use secrecy::SecretString;
use serde::Deserialize;

/// A message as a log lists it.
pub struct MessageView {
    created: String,
    event: String,
    state: String,
    attempts: i32,
    answer: String,
}

/// A webhook with its log.
pub struct WebhookView {
    uuid: String,
    name: String,
    url: String,
    events: String,
    verify_tls: bool,
    log: Vec<MessageView>,
}

/// The status target, as shown.
pub struct TargetView {
    forge: String,
    api_url: String,
    repository: String,
    since: String,
}

#[derive(Template)]
#[template(path = "notifications.html")]
struct NotificationsPage {
    chrome: Chrome,
    project: Project,
    tab: &'static str,
    target: Option<TargetView>,
    statuses: Vec<MessageView>,
    webhooks: Vec<WebhookView>,
    error: Option<String>,
}

fn view(m: MessageRecord) -> MessageView {
    MessageView {
        created: when(&m.created_at),
        event: m.event,
        state: m.state,
        attempts: m.attempts,
        answer: match (m.last_status, m.last_error.is_empty()) {
            (_, false) => m.last_error,
            (Some(code), true) => code.to_string(),
            (None, true) => String::new(),
        },
    }
}

async fn door<'a>(
    state: &'a AppState,
    user: &User,
    slug: &ProjectSlug,
) -> Result<ProjectOutbound<'a>, PageError> {
    Ok(state
        .app
        .outbound(&Caller::visitor(Some(user)), slug)
        .await?)
}

async fn page(
    door: ProjectOutbound<'_>,
    user: User,
    csrf: CsrfToken,
    status: StatusCode,
    error: Option<String>,
) -> Result<Response, PageError> {
    let target = door.status_target().await?.map(|t| TargetView {
        forge: t.forge,
        api_url: t.api_url,
        repository: if t.repository.is_empty() {
            format!("{}/{}", door.project.slug.org(), door.project.slug.repo())
        } else {
            t.repository
        },
        since: when(&t.created_at),
    });
    let statuses = door.log(None).await?.into_iter().map(view).collect();
    let mut webhooks = Vec::new();
    for h in door.webhooks().await? {
        let log = door.log(Some(&h)).await?.into_iter().map(view).collect();
        webhooks.push(WebhookView {
            uuid: h.uuid.to_string(),
            name: h.name,
            url: h.url,
            events: h.events.replace(',', ", "),
            verify_tls: h.verify_tls,
            log,
        });
    }
    Ok(render_with(
        status,
        &NotificationsPage {
            chrome: Chrome::new(Some(user), csrf),
            project: door.project,
            tab: "notifications",
            target,
            statuses,
            webhooks,
            error,
        },
    )?
    .into_response())
}

fn back(project: &Project) -> Response {
    Redirect::to(&format!(
        "/projects/{}/settings/notifications",
        project.slug
    ))
    .into_response()
}

/// `GET …/settings/notifications`.
pub async fn show(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    csrf: CsrfToken,
    SlugPath(slug): SlugPath,
) -> Result<Response, PageError> {
    let door = door(&state, &user, &slug).await?;
    page(door, user, csrf, StatusCode::OK, None).await
}

/// The status target form.
#[derive(Deserialize)]
pub struct TargetForm {
    forge: String,
    api_url: String,
    #[serde(default)]
    repository: String,
    token: String,
}

/// `POST …/settings/notifications/statuses`.
pub async fn set_target(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    csrf: CsrfToken,
    SlugPath(slug): SlugPath,
    UiForm(form): UiForm<TargetForm>,
) -> Result<Response, PageError> {
    let door = door(&state, &user, &slug).await?;
    let token = SecretString::from(form.token);
    match door
        .set_status_target(&form.forge, &form.api_url, &form.repository, &token)
        .await
    {
        Ok(()) => Ok(back(&door.project)),
        Err(AppError::Invalid(m)) => page(door, user, csrf, StatusCode::BAD_REQUEST, Some(m)).await,
        Err(e) => Err(e.into()),
    }
}

/// `POST …/settings/notifications/statuses/remove`.
pub async fn remove_target(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    SlugPath(slug): SlugPath,
) -> Result<Response, PageError> {
    let door = door(&state, &user, &slug).await?;
    door.remove_status_target().await?;
    Ok(back(&door.project))
}

/// The webhook form.
#[derive(Deserialize)]
pub struct WebhookForm {
    name: String,
    url: String,
    signing_secret: String,
    verify_tls: Option<String>,
    workflow_completed: Option<String>,
    job_completed: Option<String>,
}

/// `POST …/settings/notifications/webhooks`.
pub async fn add_webhook(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    csrf: CsrfToken,
    SlugPath(slug): SlugPath,
    UiForm(form): UiForm<WebhookForm>,
) -> Result<Response, PageError> {
    let door = door(&state, &user, &slug).await?;
    let mut events = Vec::new();
    if form.workflow_completed.is_some() {
        events.push("workflow-completed".to_owned());
    }
    if form.job_completed.is_some() {
        events.push("job-completed".to_owned());
    }
    let spec = WebhookSpec {
        name: form.name,
        url: form.url,
        verify_tls: form.verify_tls.is_some(),
        events,
        signing_secret: SecretString::from(form.signing_secret),
    };
    match door.create_webhook(&spec).await {
        Ok(_) => Ok(back(&door.project)),
        Err(AppError::Invalid(m)) => page(door, user, csrf, StatusCode::BAD_REQUEST, Some(m)).await,
        Err(e) => Err(e.into()),
    }
}

/// `POST …/settings/notifications/webhooks/{uuid}/remove`.
pub async fn remove_webhook(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    item: ItemPath,
) -> Result<Response, PageError> {
    let missing = || PageError::not_found(circlet_app::outbound::WEBHOOK_NOT_FOUND);
    let uuid = item.uuid.ok_or_else(missing)?;
    let (door, hook) = state
        .app
        .outbound_webhook(&Caller::visitor(Some(&user)), uuid)
        .await?;
    if door.project.slug.key() != item.slug.key() {
        return Err(missing());
    }
    door.delete_webhook(&hook).await?;
    Ok(back(&door.project))
}
