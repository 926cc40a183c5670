//! Admin → Users → one user: edit their name, email and site-admin flag, set a new password
//! for them, or email them a reset link (when an SMTP server is configured). The rules (the
//! last active site admin, what a change ends, the audit entries) are `circlet_app::accounts`'.

use super::admin::SiteAdmin;
use super::{Chrome, UiForm, query_param, render_with};
use crate::auth::client::ClientIp;
use crate::auth::csrf::CsrfToken;
use crate::auth::session::CurrentUser;
use crate::error::PageError;
use crate::state::AppState;
use askama::Template;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use circlet_app::AppError;
use circlet_app::accounts::{self, AccountEdit};
use circlet_app::tokens::Actor;
use circlet_core::{DisplayName, Email, Login, Password};
use circlet_store::User;
use serde::Deserialize;

#[derive(Template)]
#[template(path = "admin_user.html")]
struct UserPage {
    chrome: Chrome,
    user: User,
    /// Whether a reset link can be emailed.
    can_email: bool,
    /// What the last action did.
    notice: Option<String>,
    /// Why the last action was refused.
    error: Option<String>,
}

/// What `?done=` says after a redirect.
fn notice_for(done: Option<&str>, user: &User) -> Option<String> {
    Some(match done? {
        "saved" => format!("Saved the changes to {}.", user.login),
        "password" => format!(
            "A new password was set for {}; every session of theirs ended.",
            user.login
        ),
        "link" => format!(
            "A password reset link was emailed to {}; it works once.",
            user.email
        ),
        _ => return None,
    })
}

async fn page(
    state: &AppState,
    admin: User,
    csrf: CsrfToken,
    login: &Login,
    status: StatusCode,
    notice: Option<&str>,
    error: Option<String>,
) -> Result<Response, PageError> {
    let user = state
        .app
        .store
        .users()
        .by_login(login)
        .await?
        .ok_or_else(|| PageError::not_found(format!("There is no user {login}.")))?;
    let page = UserPage {
        notice: notice_for(notice, &user),
        user,
        can_email: state.app.can_email_reset_links(),
        chrome: Chrome::new(Some(admin), csrf),
        error,
    };
    Ok(render_with(status, &page)?.into_response())
}

/// After an action: its page again with a notice, or with why it was refused (a 4xx).
async fn after(
    state: &AppState,
    admin: User,
    csrf: CsrfToken,
    login: &Login,
    outcome: Result<&str, AppError>,
) -> Result<Response, PageError> {
    let (status, why) = match outcome {
        Ok(done) => {
            let to = format!("/admin/users/{login}?done={done}");
            return Ok(Redirect::to(&to).into_response());
        }
        Err(e @ AppError::Invalid(_)) => (StatusCode::BAD_REQUEST, e.to_string()),
        Err(e @ AppError::Conflict(_)) => (StatusCode::CONFLICT, e.to_string()),
        Err(e @ AppError::Refused(_)) => (StatusCode::FORBIDDEN, e.to_string()),
        Err(e @ AppError::Unavailable) => (StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
        Err(e) => return Err(e.into()),
    };
    page(state, admin, csrf, login, status, None, Some(why)).await
}

/// `GET /admin/users/{login}`.
pub async fn show(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    csrf: CsrfToken,
    Path(login): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, PageError> {
    let SiteAdmin(admin) = SiteAdmin::check(user)?;
    let login = Login::parse(&login)?;
    let done = query_param(query.as_deref(), "done");
    page(
        &state,
        admin,
        csrf,
        &login,
        StatusCode::OK,
        done.as_deref(),
        None,
    )
    .await
}

/// The edit form's fields.
#[derive(Deserialize)]
pub struct EditForm {
    name: String,
    email: String,
    site_admin: Option<String>,
}

/// `POST /admin/users/{login}`: saves the name, email and site-admin flag.
pub async fn edit(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    CurrentUser(user): CurrentUser,
    csrf: CsrfToken,
    Path(login): Path<String>,
    UiForm(form): UiForm<EditForm>,
) -> Result<Response, PageError> {
    let SiteAdmin(admin) = SiteAdmin::check(user)?;
    let login = Login::parse(&login)?;
    let actor = Actor::user(&admin, client.to_string());
    let outcome = async {
        let edit = AccountEdit {
            name: DisplayName::parse(&form.name)?,
            email: Email::parse(&form.email)?,
            site_admin: form.site_admin.is_some(),
        };
        accounts::edit(&state.app.store, &login, &edit, &actor).await
    }
    .await;
    // An admin who just gave up their own flag has no admin pages left to go back to.
    if let Ok(user) = &outcome
        && user.id == admin.id
        && !user.site_admin
    {
        return Ok(Redirect::to("/account").into_response());
    }
    after(&state, admin, csrf, &login, outcome.map(|_| "saved")).await
}

/// The set-password form's fields.
#[derive(Deserialize)]
pub struct PasswordForm {
    new_password: String,
}

/// `POST /admin/users/{login}/password`: sets a new password for the user (the way to reset
/// one without an SMTP server); their sessions end.
pub async fn set_password(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    CurrentUser(user): CurrentUser,
    csrf: CsrfToken,
    Path(login): Path<String>,
    UiForm(form): UiForm<PasswordForm>,
) -> Result<Response, PageError> {
    let SiteAdmin(admin) = SiteAdmin::check(user)?;
    let login = Login::parse(&login)?;
    let actor = Actor::user(&admin, client.to_string());
    let outcome = async {
        let new = Password::parse(&form.new_password)?;
        accounts::set_password(&state.app.store, &login, new, &actor).await?;
        Ok::<_, AppError>("password")
    }
    .await;
    after(&state, admin, csrf, &login, outcome).await
}

/// `POST /admin/users/{login}/reset-link`: emails the user a one-time link to choose a new
/// password.
pub async fn email_reset_link(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    CurrentUser(user): CurrentUser,
    csrf: CsrfToken,
    Path(login): Path<String>,
) -> Result<Response, PageError> {
    let SiteAdmin(admin) = SiteAdmin::check(user)?;
    let login = Login::parse(&login)?;
    let actor = Actor::user(&admin, client.to_string());
    let outcome = state
        .app
        .email_reset_link(&login, &actor)
        .await
        .map(|_| "link");
    after(&state, admin, csrf, &login, outcome).await
}
