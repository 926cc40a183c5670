//! Project settings → Webhooks (the address to paste into each forge, the secret: made and
//! replaced here, shown once; the recent deliveries with their outcome, and Redeliver) and
//! Project settings → Advanced (CircleCI's switches that decide what webhooks build). Project
//! admins only; the rules are `circlet_app::hooks`'.

use super::projects::{ItemPath, SlugPath};
use super::{Chrome, UiForm, render_with, when};
use crate::auth::csrf::CsrfToken;
use crate::auth::session::CurrentUser;
use crate::error::PageError;
use crate::state::AppState;
use askama::Template;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use circlet_app::Caller;
use circlet_app::hooks::Webhooks;
use circlet_core::ProjectSlug;
use circlet_core::forge::Forge;
use circlet_core::forge::decide::BuildSettings;
use circlet_store::{Project, User};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

/// A forge's address for this project.
pub struct HookUrl {
    title: &'static str,
    url: String,
    how: &'static str,
}

/// A delivery as the page lists it.
pub struct DeliveryView {
    uuid: String,
    received: String,
    forge: String,
    event: String,
    delivery: String,
    outcome: String,
    detail: String,
    redelivery: bool,
}

/// A secret shown the one time it exists in clear.
pub struct ShownOnce(SecretString);

impl ShownOnce {
    /// The secret.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

#[derive(Template)]
#[template(path = "webhooks.html")]
struct WebhooksPage {
    chrome: Chrome,
    project: Project,
    tab: &'static str,
    urls: Vec<HookUrl>,
    secret_made: Option<String>,
    new_secret: Option<ShownOnce>,
    deliveries: Vec<DeliveryView>,
    notice: Option<String>,
}

#[derive(Template)]
#[template(path = "advanced.html")]
struct AdvancedPage {
    chrome: Chrome,
    project: Project,
    tab: &'static str,
    notice: Option<String>,
    error: Option<String>,
    /// The polling interval as the form shows it, in minutes (empty: off).
    poll_minutes: String,
}

fn advanced_page(
    user: User,
    csrf: CsrfToken,
    project: Project,
    status: StatusCode,
    notice: Option<String>,
    error: Option<String>,
    poll_minutes: Option<String>,
) -> Result<Response, PageError> {
    let poll_minutes = poll_minutes.unwrap_or_else(|| {
        project
            .poll_interval_secs
            .map(|s| (s / 60).to_string())
            .unwrap_or_default()
    });
    Ok(render_with(
        status,
        &AdvancedPage {
            chrome: Chrome::new(Some(user), csrf),
            project,
            tab: "advanced",
            notice,
            error,
            poll_minutes,
        },
    )?
    .into_response())
}

async fn door<'a>(
    state: &'a AppState,
    user: &User,
    slug: &ProjectSlug,
) -> Result<Webhooks<'a>, PageError> {
    Ok(state
        .app
        .webhooks(&Caller::visitor(Some(user)), slug)
        .await?)
}

fn how(forge: Forge) -> &'static str {
    match forge {
        Forge::GitHub => {
            "Settings → Webhooks → Add webhook: content type application/json, the secret below, events Pushes and Pull requests."
        }
        Forge::Gitea => {
            "Settings → Webhooks → Add webhook → Gitea (or Forgejo): POST, application/json, the secret below, events Push and Pull Request."
        }
        Forge::GitLab => {
            "Settings → Webhooks: the secret below as the secret token, triggers Push events, Tag push events and Merge request events."
        }
        Forge::Bitbucket => {
            "Repository settings → Webhooks → Add webhook: the secret below, triggers Repository push and Pull request created and updated."
        }
    }
}

async fn webhooks_page(
    state: &AppState,
    hooks: Webhooks<'_>,
    user: User,
    csrf: CsrfToken,
    new_secret: Option<SecretString>,
    notice: Option<String>,
) -> Result<Response, PageError> {
    let base = &state.app.config.public_url;
    let urls = Forge::ALL
        .into_iter()
        .map(|f| HookUrl {
            title: f.title(),
            url: format!("{base}/api/hooks/{}/{}", f.as_str(), hooks.project.slug),
            how: how(f),
        })
        .collect();
    let deliveries = hooks
        .deliveries()
        .await?
        .into_iter()
        .map(|d| DeliveryView {
            uuid: d.uuid.to_string(),
            received: when(&d.received_at),
            forge: d.forge,
            event: d.event,
            delivery: d.delivery,
            outcome: d.outcome,
            detail: d.detail,
            redelivery: d.redelivery_of.is_some(),
        })
        .collect();
    let secret_made = hooks.secret_made_at().await?.map(|t| when(&t));
    Ok(render_with(
        StatusCode::OK,
        &WebhooksPage {
            chrome: Chrome::new(Some(user), csrf),
            project: hooks.project,
            tab: "webhooks",
            urls,
            secret_made,
            new_secret: new_secret.map(ShownOnce),
            deliveries,
            notice,
        },
    )?
    .into_response())
}

/// `GET …/settings/webhooks`.
pub async fn show(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    csrf: CsrfToken,
    SlugPath(slug): SlugPath,
) -> Result<Response, PageError> {
    let hooks = door(&state, &user, &slug).await?;
    webhooks_page(&state, hooks, user, csrf, None, None).await
}

/// `POST …/settings/webhooks/secret`: a new secret (replacing the old one), shown once.
pub async fn new_secret(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    csrf: CsrfToken,
    SlugPath(slug): SlugPath,
) -> Result<Response, PageError> {
    let hooks = door(&state, &user, &slug).await?;
    let secret = hooks.new_secret().await?;
    // Shown once: no cache may keep the page.
    Ok(crate::api::no_store(
        webhooks_page(&state, hooks, user, csrf, Some(secret), None).await?,
    ))
}

/// `POST …/settings/webhooks/deliveries/{uuid}/redeliver`: handles the delivery again.
pub async fn redeliver(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    csrf: CsrfToken,
    item: ItemPath,
) -> Result<Response, PageError> {
    let hooks = door(&state, &user, &item.slug).await?;
    let uuid = item
        .uuid
        .ok_or_else(|| PageError::not_found(circlet_app::hooks::DELIVERY_NOT_FOUND))?;
    let notice = match hooks.redeliver(uuid).await {
        Ok(r) => format!(
            "Redelivered: {} — {}",
            r.delivery.outcome, r.delivery.detail
        ),
        // A delivery that fails (an unreadable payload, a commit gone) is a result to show.
        Err(circlet_app::AppError::Invalid(m)) => format!("Redelivered: failed — {m}"),
        Err(e) => return Err(e.into()),
    };
    webhooks_page(&state, hooks, user, csrf, None, Some(notice)).await
}

/// `GET …/settings/advanced` (`?saved=1` after a change).
pub async fn advanced(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    csrf: CsrfToken,
    SlugPath(slug): SlugPath,
    RawQuery(query): RawQuery,
) -> Result<Response, PageError> {
    let hooks = door(&state, &user, &slug).await?;
    let saved = super::query_param(query.as_deref(), "saved").is_some();
    let notice = saved.then(|| "Settings saved.".to_owned());
    advanced_page(
        user,
        csrf,
        hooks.project,
        StatusCode::OK,
        notice,
        None,
        None,
    )
}

/// The Advanced form: a checkbox per switch (absent when off).
#[derive(Deserialize)]
pub struct AdvancedForm {
    build_prs_only: Option<String>,
    autocancel_builds: Option<String>,
    build_fork_prs: Option<String>,
    forks_receive_secrets: Option<String>,
    /// Minutes between polls; empty or 0: no polling.
    #[serde(default)]
    poll_minutes: String,
}

/// `POST …/settings/advanced`.
pub async fn save_advanced(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    csrf: CsrfToken,
    SlugPath(slug): SlugPath,
    UiForm(form): UiForm<AdvancedForm>,
) -> Result<Response, PageError> {
    let hooks = door(&state, &user, &slug).await?;
    let minutes = form.poll_minutes.trim();
    let poll = match minutes.parse::<i64>() {
        _ if minutes.is_empty() => Ok(None),
        Ok(0) => Ok(None),
        Ok(m) if m > 0 => Ok(Some(m.saturating_mul(60))),
        _ => Err(circlet_app::AppError::Invalid(
            "The polling interval is a number of minutes".into(),
        )),
    };
    let polled = match poll {
        Ok(secs) => {
            state
                .app
                .set_poll_interval(&Caller::visitor(Some(&user)), &slug, secs)
                .await
        }
        Err(e) => Err(e),
    };
    if let Err(e) = polled {
        let circlet_app::AppError::Invalid(message) = e else {
            return Err(e.into());
        };
        let shown = Some(form.poll_minutes.clone());
        return advanced_page(
            user,
            csrf,
            hooks.project,
            StatusCode::BAD_REQUEST,
            None,
            Some(message),
            shown,
        );
    }
    hooks
        .set_build_settings(BuildSettings {
            build_prs_only: form.build_prs_only.is_some(),
            autocancel_builds: form.autocancel_builds.is_some(),
            build_fork_prs: form.build_fork_prs.is_some(),
            forks_receive_secrets: form.forks_receive_secrets.is_some(),
        })
        .await?;
    Ok(Redirect::to(&format!(
        "/projects/{}/settings/advanced?saved=1",
        hooks.project.slug
    ))
    .into_response())
}
