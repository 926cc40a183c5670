//! First start: the one-time page where the first site admin is created.

use super::{Chrome, UiForm, query_param, redirect_with_cookie, render, render_with};
use crate::auth::csrf::CsrfToken;
use crate::auth::session;
use crate::error::PageError;
use crate::state::AppState;
use askama::Template;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use circlet_app::password;
use circlet_core::{DisplayName, Email, Login, Password};
use circlet_store::NewUser;
use serde::Deserialize;

#[derive(Template)]
#[template(path = "setup.html")]
struct SetupPage {
    chrome: Chrome,
    code: String,
    login: String,
    name: String,
    email: String,
    error: Option<String>,
}

async fn check_code(state: &AppState, code: &str) -> Result<(), PageError> {
    if state.app.store.users().count().await? > 0 {
        state.consume_setup_code();
        return Err(PageError::new(
            StatusCode::GONE,
            "circlet is already set up. Log in, or ask a site admin for an account.",
        ));
    }
    if !state.setup_code_matches(code) {
        return Err(PageError::new(
            StatusCode::FORBIDDEN,
            "This setup link is not valid. Use the URL the server printed when it started.",
        ));
    }
    Ok(())
}

/// `GET /setup?code=…`.
pub async fn form(
    State(state): State<AppState>,
    csrf: CsrfToken,
    RawQuery(query): RawQuery,
) -> Result<Response, PageError> {
    let code = query_param(query.as_deref(), "code").unwrap_or_default();
    check_code(&state, &code).await?;
    let page = SetupPage {
        chrome: Chrome::new(None, csrf),
        code,
        login: String::new(),
        name: String::new(),
        email: String::new(),
        error: None,
    };
    Ok(render(&page)?.into_response())
}

/// The setup form's fields.
#[derive(Deserialize)]
pub struct SetupForm {
    code: String,
    login: String,
    name: String,
    email: String,
    password: String,
    password_confirm: String,
}

/// `POST /setup`: creates the first site admin and logs them in.
pub async fn submit(
    State(state): State<AppState>,
    csrf: CsrfToken,
    UiForm(form): UiForm<SetupForm>,
) -> Result<Response, PageError> {
    check_code(&state, &form.code).await?;
    let validated = (|| {
        if form.password != form.password_confirm {
            return Err(circlet_core::Invalid::new("the two passwords differ"));
        }
        Ok((
            Login::parse(&form.login)?,
            DisplayName::parse(&form.name)?,
            Email::parse(&form.email)?,
            Password::parse(&form.password)?,
        ))
    })();
    let (login, name, email, pw) = match validated {
        Ok(v) => v,
        Err(e) => {
            let page = SetupPage {
                chrome: Chrome::new(None, csrf),
                code: form.code,
                login: form.login,
                name: form.name,
                email: form.email,
                error: Some(e.0),
            };
            return Ok(render_with(StatusCode::BAD_REQUEST, &page)?.into_response());
        }
    };
    let new = NewUser {
        login,
        name,
        email,
        password_hash: password::hash(pw).await.map_err(PageError::Internal)?,
        site_admin: true,
    };
    let Some(admin) = state.app.store.users().create_first_admin(&new).await? else {
        state.consume_setup_code();
        return Err(PageError::new(
            StatusCode::GONE,
            "circlet is already set up. Log in.",
        ));
    };
    state.consume_setup_code();
    tracing::info!(user = %admin.login, "first site admin created");
    let cookie = session::start(&state, admin.id).await?;
    Ok(redirect_with_cookie("/", &cookie))
}
