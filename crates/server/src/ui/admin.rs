//! Site administration: users, the inventory of every API token, and the instance-wide switch
//! that disables token creation.

use super::{Chrome, UiForm, render, render_with, when};
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
use circlet_app::{accounts, password};
use circlet_core::token::TokenKind;
use circlet_core::{DisplayName, Email, Login, Password};
use circlet_store::{InventoryEntry, NewUser, User};
use serde::Deserialize;
use time::OffsetDateTime;
use uuid::Uuid;

/// A logged-in site admin; anyone else gets 403.
pub struct SiteAdmin(pub User);

impl SiteAdmin {
    /// `user` if they are a site admin, else the 403 page.
    pub fn check(user: User) -> Result<Self, PageError> {
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
    let users = state.app.store.users().list().await?;
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
    match state.app.store.users().create(&new).await {
        Ok(_) => Ok(Redirect::to("/admin/users").into_response()),
        Err(e @ circlet_store::StoreError::Conflict(_)) => {
            let m = circlet_app::error::store_error_text(&e);
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

/// `POST /admin/users/{login}/disabled`: disables (ending their sessions) or re-enables a user;
/// nobody disables themselves, and the last active site admin stays enabled.
pub async fn set_disabled(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    CurrentUser(user): CurrentUser,
    Path(login): Path<String>,
    UiForm(form): UiForm<DisableForm>,
) -> Result<Response, PageError> {
    let SiteAdmin(admin) = SiteAdmin::check(user)?;
    let login = Login::parse(&login)?;
    let actor = Actor::user(&admin, client.to_string());
    accounts::set_disabled(&state.app.store, &login, form.disabled, &actor).await?;
    Ok(Redirect::to("/admin/users").into_response())
}

/// One token in the inventory, ready to show.
struct InventoryRow {
    uuid: Uuid,
    kind: &'static str,
    /// The owner's login (personal tokens) or the project (project tokens).
    belongs_to: String,
    /// A project token's scope, a limited personal token's limits.
    scope: String,
    name: String,
    last4: String,
    created: String,
    last_used: String,
    expires: String,
    expired: bool,
    /// Beside the "no expiry" mark of a token that never expires.
    no_expiry: Option<String>,
}

impl InventoryRow {
    fn of(entry: InventoryEntry, now: OffsetDateTime) -> Self {
        let t = entry.token;
        let belongs_to = match t.kind {
            TokenKind::Project => entry.project_slug,
            TokenKind::Personal | TokenKind::Runner => entry.user_login,
        };
        InventoryRow {
            uuid: t.uuid,
            kind: t.kind.as_str(),
            belongs_to: belongs_to.unwrap_or_else(|| "—".into()),
            scope: match t.scope {
                Some(s) => s.label().to_owned(),
                None if t.limits.is_limited() => t.limits.describe_as("the user's"),
                None => "—".to_owned(),
            },
            expired: t.expired_at(now),
            no_expiry: super::tokens::no_expiry_note(&t),
            name: t.name,
            last4: t.last4,
            created: when(&t.created_at),
            last_used: t.last_used_at.as_ref().map_or("Never".into(), when),
            expires: t.expires_at.as_ref().map_or("Never".into(), when),
        }
    }
}

#[derive(Template)]
#[template(path = "admin_tokens.html")]
struct TokensPage {
    chrome: Chrome,
    rows: Vec<InventoryRow>,
    creation_disabled: bool,
}

/// `GET /admin/tokens`: every API token on the instance, and the creation switch.
pub async fn tokens(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    csrf: CsrfToken,
) -> Result<Html<String>, PageError> {
    let SiteAdmin(admin) = SiteAdmin::check(user)?;
    let now = OffsetDateTime::now_utc();
    let rows = state
        .app
        .store
        .tokens()
        .inventory()
        .await?
        .into_iter()
        .map(|e| InventoryRow::of(e, now))
        .collect();
    let creation_disabled = tokens::creation_disabled(&state.app.store).await?;
    render(&TokensPage {
        chrome: Chrome::new(Some(admin), csrf),
        rows,
        creation_disabled,
    })
}

/// `POST /admin/tokens/{uuid}/revoke`: deletes any token; audited as `token.revoked`.
pub async fn revoke_token(
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
    .ok_or_else(|| {
        PageError::not_found("There is no such token; it may have been revoked already.")
    })?;
    let actor = Actor::user(&admin, client.to_string());
    tokens::delete(&state.app.store, &token, "token.revoked", &actor).await?;
    Ok(Redirect::to("/admin/tokens").into_response())
}

/// The creation switch's field: a checkbox, so absent means "allowed".
#[derive(Deserialize)]
pub struct TokenCreationForm {
    disabled: Option<String>,
}

/// `POST /admin/settings/token-creation`: disables or re-enables creating API tokens.
pub async fn set_token_creation(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    CurrentUser(user): CurrentUser,
    UiForm(form): UiForm<TokenCreationForm>,
) -> Result<Response, PageError> {
    let SiteAdmin(admin) = SiteAdmin::check(user)?;
    let disabled = match form.disabled.as_deref() {
        None | Some("false") => false,
        Some("true" | "on") => true,
        Some(_) => return Err(PageError::invalid("disabled must be true or false")),
    };
    let actor = Actor::user(&admin, client.to_string());
    tokens::set_creation_disabled(&state.app.store, disabled, &actor).await?;
    Ok(Redirect::to("/admin/tokens").into_response())
}
