//! Admin → Runners: the runners (runner tokens) of this instance, their resource class, when
//! each was last seen and what it runs now; the runners online (name, version, address, current
//! job); the resource classes and a form to add one; create a runner token of a class or the
//! default pool (shown once, with the command that uses it) and revoke one.

use super::admin::SiteAdmin;
use super::{Chrome, UiForm, render, render_with, when};
use crate::api::no_store;
use crate::auth::client::ClientIp;
use crate::auth::csrf::CsrfToken;
use crate::auth::session::CurrentUser;
use crate::error::PageError;
use crate::state::AppState;
use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use circlet_app::tokens::{self, Actor};
use circlet_app::{AppError, Caller};
use circlet_core::runner_class::RunnerClass;
use circlet_core::token::{TokenKind, TokenName};
use serde::Deserialize;
use std::collections::HashMap;
use uuid::Uuid;

/// One runner token as the page lists it.
pub struct RunnerRow {
    uuid: Uuid,
    name: String,
    last4: String,
    class: String,
    created: String,
    last_seen: String,
    running: i64,
}

/// One runner online.
pub struct OnlineRow {
    name: String,
    token: String,
    class: String,
    version: String,
    address: String,
    last_contact: String,
    job: String,
}

#[derive(Template)]
#[template(path = "admin_runners.html")]
struct RunnersPage {
    chrome: Chrome,
    rows: Vec<RunnerRow>,
    online: Vec<OnlineRow>,
    classes: Vec<circlet_store::ResourceClass>,
    error: Option<String>,
    created: Option<Created>,
}

impl RunnersPage {
    async fn new(
        state: &AppState,
        chrome: Chrome,
        error: Option<String>,
        created: Option<Created>,
    ) -> Result<RunnersPage, PageError> {
        let caller = Caller::visitor(chrome.user.as_ref());
        let online = state
            .app
            .runners_online(&caller, None)
            .await?
            .into_iter()
            .map(|r| OnlineRow {
                name: r.name,
                token: r.token_name,
                class: r.resource_class.unwrap_or_else(|| DEFAULT_POOL.into()),
                version: r.version,
                address: r.address,
                last_contact: when(&r.last_seen),
                job: r
                    .running_build
                    .map_or("idle".into(), |n| format!("build #{n}")),
            })
            .collect();
        Ok(RunnersPage {
            rows: rows(state).await?,
            online,
            classes: state.app.store.runners().classes().await?,
            chrome,
            error,
            created,
        })
    }
}

/// What the page calls runners without a resource class.
const DEFAULT_POOL: &str = "(default pool)";

/// A token just made, shown once.
struct Created {
    name: String,
    value: String,
    command: String,
}

async fn rows(state: &AppState) -> Result<Vec<RunnerRow>, PageError> {
    let classes: HashMap<i64, String> = state
        .app
        .store
        .runners()
        .token_classes()
        .await?
        .into_iter()
        .collect();
    let running: HashMap<i64, i64> = state
        .app
        .store
        .builds()
        .running_per_runner()
        .await?
        .into_iter()
        .collect();
    Ok(state
        .app
        .store
        .tokens()
        .inventory()
        .await?
        .into_iter()
        .filter(|e| e.token.kind == TokenKind::Runner)
        .map(|e| RunnerRow {
            uuid: e.token.uuid,
            running: running.get(&e.token.id).copied().unwrap_or(0),
            class: classes
                .get(&e.token.id)
                .cloned()
                .unwrap_or_else(|| DEFAULT_POOL.into()),
            name: e.token.name,
            last4: e.token.last4,
            created: when(&e.token.created_at),
            last_seen: e.token.last_used_at.as_ref().map_or("Never".into(), when),
        })
        .collect())
}

/// `GET /admin/runners`.
pub async fn list(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    csrf: CsrfToken,
) -> Result<Html<String>, PageError> {
    let SiteAdmin(admin) = SiteAdmin::check(user)?;
    render(&RunnersPage::new(&state, Chrome::new(Some(admin), csrf), None, None).await?)
}

/// The create form.
#[derive(Deserialize)]
pub struct CreateForm {
    name: String,
    /// `namespace/name`, or empty for the default pool.
    #[serde(default)]
    resource_class: String,
}

/// `POST /admin/runners`: a new runner token, shown once on the page that answers.
pub async fn create(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    CurrentUser(user): CurrentUser,
    csrf: CsrfToken,
    UiForm(form): UiForm<CreateForm>,
) -> Result<Response, PageError> {
    let SiteAdmin(admin) = SiteAdmin::check(user)?;
    let class = match form.resource_class.trim() {
        "" => Ok(None),
        raw => RunnerClass::parse(raw).map(Some),
    };
    let made = match (TokenName::parse(&form.name, "name"), class) {
        (Err(e), _) => Err(e.0),
        (_, Err(e)) => Err(e),
        (Ok(name), Ok(class)) => {
            let actor = Actor::user(&admin, client.to_string());
            let issued =
                tokens::issue_runner(&state.app.store, &name, class.as_ref(), &actor).await;
            match issued {
                Ok((value, record)) => Ok(Created {
                    command: format!(
                        "CIRCLET_RUNNER_TOKEN={} circlet runner --server {}",
                        value.expose(),
                        state.app.config.public_url
                    ),
                    name: record.name,
                    value: value.expose().to_owned(),
                }),
                Err(AppError::Invalid(e)) => Err(e),
                Err(e) => return Err(e.into()),
            }
        }
    };
    let (status, error, created) = match made {
        Ok(c) => (StatusCode::CREATED, None, Some(c)),
        Err(e) => (StatusCode::BAD_REQUEST, Some(e), None),
    };
    let page = RunnersPage::new(&state, Chrome::new(Some(admin), csrf), error, created).await?;
    Ok(no_store(render_with(status, &page)?.into_response()))
}

/// The resource class form.
#[derive(Deserialize)]
pub struct ClassForm {
    name: String,
    #[serde(default)]
    description: String,
}

/// `POST /admin/runners/classes`: a new resource class.
pub async fn create_class(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    CurrentUser(user): CurrentUser,
    csrf: CsrfToken,
    UiForm(form): UiForm<ClassForm>,
) -> Result<Response, PageError> {
    let SiteAdmin(admin) = SiteAdmin::check(user)?;
    let actor = Actor::user(&admin, client.to_string());
    let made =
        circlet_app::runners::create_class(&state.app.store, &form.name, &form.description, &actor)
            .await;
    let error = match made {
        Ok(_) => return Ok(Redirect::to("/admin/runners").into_response()),
        Err(e @ (AppError::Invalid(_) | AppError::Conflict(_))) => e.to_string(),
        Err(e) => return Err(e.into()),
    };
    let page = RunnersPage::new(&state, Chrome::new(Some(admin), csrf), Some(error), None).await?;
    Ok(render_with(StatusCode::BAD_REQUEST, &page)?.into_response())
}

/// `POST /admin/runners/{uuid}/revoke`: the runner is refused from its next request on; a job
/// it was running ends `infrastructure_fail` when its heartbeats stop counting.
pub async fn revoke(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    CurrentUser(user): CurrentUser,
    Path(uuid): Path<String>,
) -> Result<Response, PageError> {
    let SiteAdmin(admin) = SiteAdmin::check(user)?;
    let token = match Uuid::parse_str(&uuid) {
        Ok(uuid) => state.app.store.tokens().by_uuid(uuid).await?,
        Err(_) => None,
    }
    .filter(|t| t.kind == TokenKind::Runner)
    .ok_or_else(|| {
        PageError::not_found("There is no such runner; it may have been revoked already.")
    })?;
    let actor = Actor::user(&admin, client.to_string());
    tokens::delete(&state.app.store, &token, "token.revoked", &actor).await?;
    // Its waiting claims look again now, and find the token gone.
    state.app.work_available.notify_waiters();
    Ok(Redirect::to("/admin/runners").into_response())
}
