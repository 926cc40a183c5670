//! Site administration: users.

use super::{Chrome, UiForm, render_with};
use crate::auth::csrf::CsrfToken;
use crate::auth::password;
use crate::auth::session::CurrentUser;
use crate::error::PageError;
use crate::state::AppState;
use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use circlet_core::{DisplayName, Email, Login, Password};
use circlet_store::{NewUser, User};
use serde::Deserialize;

/// A logged-in site admin; anyone else gets 403.
pub struct SiteAdmin(pub User);

impl SiteAdmin {
    fn check(user: User) -> Result<Self, PageError> {
        if user.site_admin {
            Ok(SiteAdmin(user))
        } else {
            Err(PageError::forbidden())
        }
    }
}

#[derive(Template)]
#[template(path = "admin_users.html")]
struct UsersPage {
    chrome: Chrome,
    users: Vec<User>,
    form: NewUserForm,
    error: Option<String>,
}

/// The create-user form's fields.
#[derive(Deserialize, Default)]
pub struct NewUserForm {
    login: String,
    name: String,
    email: String,
    password: String,
    site_admin: Option<String>,
}

async fn users_page(
    state: &AppState,
    admin: User,
    csrf: CsrfToken,
    status: StatusCode,
    form: NewUserForm,
    error: Option<String>,
) -> Result<Response, PageError> {
    let users = state.store.users().list().await?;
    let form = NewUserForm {
        password: String::new(),
        ..form
    };
    let page = UsersPage {
        chrome: Chrome::new(Some(admin), csrf),
        users,
        form,
        error,
    };
    Ok(render_with(status, &page)?.into_response())
}

/// `GET /admin/users`.
pub async fn users(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    csrf: CsrfToken,
) -> Result<Response, PageError> {
    let SiteAdmin(admin) = SiteAdmin::check(user)?;
    users_page(
        &state,
        admin,
        csrf,
        StatusCode::OK,
        NewUserForm::default(),
        None,
    )
    .await
}

/// `POST /admin/users`: creates a user.
pub async fn create_user(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    csrf: CsrfToken,
    UiForm(form): UiForm<NewUserForm>,
) -> Result<Response, PageError> {
    let SiteAdmin(admin) = SiteAdmin::check(user)?;
    let parsed = (|| {
        Ok::<_, circlet_core::Invalid>((
            Login::parse(&form.login)?,
            DisplayName::parse(&form.name)?,
            Email::parse(&form.email)?,
            Password::parse(&form.password)?,
        ))
    })();
    let (login, name, email, pw) = match parsed {
        Ok(v) => v,
        Err(e) => {
            return users_page(
                &state,
                admin,
                csrf,
                StatusCode::BAD_REQUEST,
                form,
                Some(e.0),
            )
            .await;
        }
    };
    let new = NewUser {
        login,
        name,
        email,
        password_hash: password::hash(pw).await.map_err(PageError::Internal)?,
        site_admin: form.site_admin.is_some(),
    };
    match state.store.users().create(&new).await {
        Ok(_) => Ok(Redirect::to("/admin/users").into_response()),
        Err(circlet_store::StoreError::Conflict(m)) => {
            users_page(&state, admin, csrf, StatusCode::CONFLICT, form, Some(m)).await
        }
        Err(e) => Err(e.into()),
    }
}

/// The enable/disable form's field.
#[derive(Deserialize)]
pub struct DisableForm {
    disabled: bool,
}

/// `POST /admin/users/{login}/disabled`: disables (ending their sessions) or re-enables a user.
pub async fn set_disabled(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(login): Path<String>,
    UiForm(form): UiForm<DisableForm>,
) -> Result<Response, PageError> {
    let SiteAdmin(admin) = SiteAdmin::check(user)?;
    let login = Login::parse(&login)?;
    if login == admin.login && form.disabled {
        return Err(PageError::invalid("You cannot disable your own account."));
    }
    state
        .store
        .users()
        .set_disabled(&login, form.disabled)
        .await?;
    Ok(Redirect::to("/admin/users").into_response())
}
