//! Logging in and out.

use super::{Chrome, UiForm, query_param, redirect_with_cookie, render, render_with, safe_next};
use crate::auth::client::ClientIp;
use crate::auth::csrf::CsrfToken;
use crate::auth::password;
use crate::auth::session::{self, MaybeUser};
use crate::error::PageError;
use crate::state::AppState;
use askama::Template;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use circlet_core::Login;
use serde::Deserialize;

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    chrome: Chrome,
    next: String,
    login: String,
    error: Option<String>,
}

/// `GET /login`.
pub async fn form(
    MaybeUser(user): MaybeUser,
    csrf: CsrfToken,
    RawQuery(query): RawQuery,
) -> Result<Response, PageError> {
    let next = safe_next(query_param(query.as_deref(), "next").as_deref());
    if user.is_some() {
        return Ok(Redirect::to(&next).into_response());
    }
    let page = LoginPage {
        chrome: Chrome::new(None, csrf),
        next,
        login: String::new(),
        error: None,
    };
    Ok(render(&page)?.into_response())
}

/// The login form's fields.
#[derive(Deserialize)]
pub struct LoginForm {
    login: String,
    password: String,
    next: Option<String>,
}

/// `POST /login`.
pub async fn submit(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    csrf: CsrfToken,
    UiForm(form): UiForm<LoginForm>,
) -> Result<Response, PageError> {
    let ip = client;
    let next = safe_next(form.next.as_deref());
    if let Err(secs) = state.login_throttle.check(ip) {
        return Err(PageError::Page {
            status: StatusCode::TOO_MANY_REQUESTS,
            message: format!(
                "Too many failed logins from your address. Try again in {} minutes.",
                secs.div_ceil(60)
            ),
            retry_after_secs: Some(secs),
        });
    }
    let credentials = match Login::parse(&form.login) {
        Ok(login) => state.store.users().credentials(&login).await?,
        Err(_) => None,
    };
    let hash = credentials.as_ref().map(|(_, h)| h.clone());
    let matches = password::verify(form.password, hash).await;
    let error = match credentials {
        Some((user, _)) if matches && !user.disabled => {
            let cookie = session::start(&state, user.id).await?;
            tracing::info!(user = %user.login, "login");
            return Ok(redirect_with_cookie(&next, &cookie));
        }
        Some((user, _)) if matches && user.disabled => {
            "This account has been disabled. Ask a site admin."
        }
        _ => {
            state.login_throttle.record_failure(ip);
            "Incorrect login or password."
        }
    };
    let page = LoginPage {
        chrome: Chrome::new(None, csrf),
        next,
        login: form.login,
        error: Some(error.to_owned()),
    };
    Ok(render_with(StatusCode::UNAUTHORIZED, &page)?.into_response())
}

/// `POST /logout`: ends the session server-side and clears the cookie.
pub async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let cookie = session::end(&state, &headers).await?;
    Ok(redirect_with_cookie("/login", &cookie))
}
