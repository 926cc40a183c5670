//! Admin → Runners: the runners (runner tokens) of this instance, when each was last seen and
//! what it runs now; create a runner token (shown once, with the command that uses it) and
//! revoke one.

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
use circlet_core::token::{TokenKind, TokenName};
use serde::Deserialize;
use std::collections::HashMap;
use uuid::Uuid;

/// One runner as the page lists it.
pub struct RunnerRow {
    uuid: Uuid,
    name: String,
    last4: String,
    created: String,
    last_seen: String,
    running: i64,
}

#[derive(Template)]
#[template(path = "admin_runners.html")]
struct RunnersPage {
    chrome: Chrome,
    rows: Vec<RunnerRow>,
    error: Option<String>,
    created: Option<Created>,
}

/// A token just made, shown once.
struct Created {
    name: String,
    value: String,
    command: String,
}

async fn rows(state: &AppState) -> Result<Vec<RunnerRow>, PageError> {
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
    render(&RunnersPage {
        chrome: Chrome::new(Some(admin), csrf),
        rows: rows(&state).await?,
        error: None,
        created: None,
    })
}

/// The create form.
#[derive(Deserialize)]
pub struct CreateForm {
    name: String,
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
    let made = match TokenName::parse(&form.name, "name") {
        Ok(name) => {
            let actor = Actor::user(&admin, client.to_string());
            let (value, record) = tokens::issue_runner(&state.app.store, &name, &actor).await?;
            Ok(Created {
                command: format!(
                    "CIRCLET_RUNNER_TOKEN={} circlet runner --server {}",
                    value.expose(),
                    state.app.config.public_url
                ),
                name: record.name,
                value: value.expose().to_owned(),
            })
        }
        Err(e) => Err(e.0),
    };
    let (status, error, created) = match made {
        Ok(c) => (StatusCode::CREATED, None, Some(c)),
        Err(e) => (StatusCode::BAD_REQUEST, Some(e), None),
    };
    let page = RunnersPage {
        chrome: Chrome::new(Some(admin), csrf),
        rows: rows(&state).await?,
        error,
        created,
    };
    Ok(no_store(render_with(status, &page)?.into_response()))
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
    Ok(Redirect::to("/admin/runners").into_response())
}
