//! User settings.

use super::{Chrome, render, when};
use crate::auth::csrf::CsrfToken;
use crate::auth::session::CurrentUser;
use crate::error::PageError;
use askama::Template;
use axum::response::Html;

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    chrome: Chrome,
    created: String,
}

/// `GET /account`: the user's own settings.
pub async fn show(
    CurrentUser(user): CurrentUser,
    csrf: CsrfToken,
) -> Result<Html<String>, PageError> {
    let created = when(&user.created_at);
    render(&AccountPage {
        chrome: Chrome::new(Some(user), csrf),
        created,
    })
}
