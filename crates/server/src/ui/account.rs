//! User settings: the account's facts and changing one's own password; and the page a
//! password reset link opens (`/password-reset?token=…`), for a visitor not logged in.

use super::{Chrome, UiForm, query_param, redirect_with_cookie, render, render_with, when};
use crate::auth::client::ClientIp;
use crate::auth::csrf::CsrfToken;
use crate::auth::session::{self, CurrentUser, MaybeUser};
use crate::error::PageError;
use crate::state::AppState;
use askama::Template;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use circlet_app::AppError;
use circlet_app::accounts::{self, RESET_LINK_UNUSABLE};
use circlet_core::Password;
use serde::Deserialize;

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    chrome: Chrome,
    created: String,
    /// Why the password form was refused.
    error: Option<String>,
    /// Set after a successful change.
    changed: bool,
}

/// `GET /account`: the user's own settings.
pub async fn show(
    CurrentUser(user): CurrentUser,
    csrf: CsrfToken,
    RawQuery(query): RawQuery,
) -> Result<Html<String>, PageError> {
    let created = when(&user.created_at);
    let changed = query_param(query.as_deref(), "changed").as_deref() == Some("password");
    render(&AccountPage {
        chrome: Chrome::new(Some(user), csrf),
        created,
        error: None,
        changed,
    })
}

/// The change-password form's fields.
#[derive(Deserialize)]
pub struct PasswordForm {
    current_password: String,
    new_password: String,
    new_password_confirm: String,
}

/// `POST /account/password`: changes the user's own password, given the current one. Every
/// session of theirs ends; this browser gets a fresh one.
pub async fn change_password(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    CurrentUser(user): CurrentUser,
    csrf: CsrfToken,
    UiForm(form): UiForm<PasswordForm>,
) -> Result<Response, PageError> {
    let new = new_password(&form.new_password, &form.new_password_confirm);
    let outcome = match new {
        Ok(new) => {
            accounts::change_own_password(
                &state.app.store,
                &user,
                form.current_password,
                new,
                &client.to_string(),
            )
            .await
        }
        Err(e) => Err(e),
    };
    match outcome {
        Ok(()) => {
            let cookie = session::start(&state, user.id).await?;
            Ok(redirect_with_cookie("/account?changed=password", &cookie))
        }
        Err(AppError::Invalid(why)) => {
            let page = AccountPage {
                created: when(&user.created_at),
                chrome: Chrome::new(Some(user), csrf),
                error: Some(why),
                changed: false,
            };
            Ok(render_with(StatusCode::BAD_REQUEST, &page)?.into_response())
        }
        Err(e) => Err(e.into()),
    }
}

/// A new password typed twice, checked.
fn new_password(first: &str, again: &str) -> Result<Password, AppError> {
    if first != again {
        return Err(AppError::Invalid(
            "The two new passwords differ; the password was not changed.".into(),
        ));
    }
    Ok(Password::parse(first)?)
}

#[derive(Template)]
#[template(path = "password_reset.html")]
struct ResetPage {
    chrome: Chrome,
    /// The link's secret, for the form; empty when the link cannot be used.
    token: String,
    /// Whose password the link sets.
    login: String,
    error: Option<String>,
    /// The password was set.
    done: bool,
}

/// A reset page with the headers that keep its secret in this tab: not cached, not sent on as
/// a referrer.
fn private_page(status: StatusCode, page: &ResetPage) -> Result<Response, PageError> {
    let mut response = render_with(status, page)?.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    Ok(response)
}

/// The page of a link that cannot be used.
fn unusable(user: Option<circlet_store::User>, csrf: CsrfToken) -> Result<Response, PageError> {
    private_page(
        StatusCode::GONE,
        &ResetPage {
            chrome: Chrome::new(user, csrf),
            token: String::new(),
            login: String::new(),
            error: Some(RESET_LINK_UNUSABLE.into()),
            done: false,
        },
    )
}

/// `GET /password-reset?token=…`: the form a reset link opens, or why it cannot be used.
pub async fn reset_form(
    State(state): State<AppState>,
    MaybeUser(visitor): MaybeUser,
    csrf: CsrfToken,
    RawQuery(query): RawQuery,
) -> Result<Response, PageError> {
    let token = query_param(query.as_deref(), "token").unwrap_or_default();
    match state.app.reset_link_user(&token).await? {
        Some(user) => private_page(
            StatusCode::OK,
            &ResetPage {
                chrome: Chrome::new(visitor, csrf),
                token,
                login: user.login.to_string(),
                error: None,
                done: false,
            },
        ),
        None => unusable(visitor, csrf),
    }
}

/// The reset form's fields.
#[derive(Deserialize)]
pub struct ResetForm {
    token: String,
    new_password: String,
    new_password_confirm: String,
}

/// `POST /password-reset`: sets the new password with the link, once.
pub async fn reset(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    MaybeUser(visitor): MaybeUser,
    csrf: CsrfToken,
    UiForm(form): UiForm<ResetForm>,
) -> Result<Response, PageError> {
    let Some(user) = state.app.reset_link_user(&form.token).await? else {
        return unusable(visitor, csrf);
    };
    let new = match new_password(&form.new_password, &form.new_password_confirm) {
        Ok(new) => new,
        Err(e) => {
            let page = ResetPage {
                chrome: Chrome::new(visitor, csrf),
                token: form.token,
                login: user.login.to_string(),
                error: Some(e.to_string()),
                done: false,
            };
            return private_page(StatusCode::BAD_REQUEST, &page);
        }
    };
    match state
        .app
        .reset_password(&form.token, new, &client.to_string())
        .await
    {
        Ok(user) => private_page(
            StatusCode::OK,
            &ResetPage {
                chrome: Chrome::new(visitor, csrf),
                token: String::new(),
                login: user.login.to_string(),
                error: None,
                done: true,
            },
        ),
        Err(AppError::Invalid(_)) => unusable(visitor, csrf),
        Err(e) => Err(e.into()),
    }
}
