//! Post/Redirect/Get for a new token's value. The form's POST creates (or replaces) the token
//! and answers 303 to the token's one-time page; the value travels there in a cookie sealed
//! with the server's env key, bound to the token and the user, scoped to that page's path,
//! alive five minutes, and cleared by the page that shows it. So a refresh or Back never posts
//! the form again (no second token; no 404 after Replace), the value is shown once, and no
//! server keeps it: the store holds only its digest, and any replica can show the page.

use super::{CreatedPage, Place, TokenView};
use crate::api::no_store;
use crate::auth::cookies;
use crate::error::PageError;
use crate::state::AppState;
use crate::ui::{Chrome, redirect_with_cookie, render};
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use circlet_core::token::NewToken;
use circlet_store::{TokenRecord, User};
use time::OffsetDateTime;
use uuid::Uuid;

/// The cookie that carries a new value from the form's POST to the page that shows it.
const COOKIE: &str = "circlet_reveal";
/// How long the value waits for its page.
const LIFETIME_SECS: i64 = 300;
/// The "project" the sealing key binds in: no project's uuid looks like it.
const PURPOSE: &str = "token-reveal";

/// The one-time page of token `uuid` among the tokens at `base`.
pub fn created_url(base: &str, uuid: Uuid) -> String {
    format!("{base}/{uuid}/created")
}

/// What the sealed value is bound to: this token, for this user.
fn binding(token: Uuid, user: &User) -> String {
    format!("{token}/{}", user.id)
}

/// The answer to a form that made `record` with `value`: 303 to its one-time page, the value
/// sealed in a cookie only that page receives.
pub fn redirect(
    state: &AppState,
    user: &User,
    base: &str,
    record: &TokenRecord,
    value: &NewToken,
    replaced: bool,
) -> Response {
    let url = created_url(base, record.uuid);
    let until = OffsetDateTime::now_utc().unix_timestamp() + LIFETIME_SECS;
    let payload = format!("{until} {} {}", u8::from(replaced), value.expose());
    let (key_id, sealed) =
        state
            .app
            .config
            .env_keys
            .seal_for(PURPOSE, &binding(record.uuid, user), &payload);
    let cookie = cookies::set_at(
        COOKIE,
        &format!("{key_id}.{}", URL_SAFE_NO_PAD.encode(sealed)),
        &url,
        LIFETIME_SECS,
        state.secure_cookies(),
    );
    no_store(redirect_with_cookie(&url, &cookie))
}

/// The value a [`redirect`] sealed for `record` and `user`, if this request carries it and it
/// has not expired; whether it replaced another.
fn take(
    state: &AppState,
    headers: &HeaderMap,
    user: &User,
    record: &TokenRecord,
) -> Option<(NewToken, bool)> {
    let raw = cookies::get(headers, COOKIE)?;
    let (key_id, encoded) = raw.split_once('.')?;
    let sealed = URL_SAFE_NO_PAD.decode(encoded).ok()?;
    let payload = state
        .app
        .config
        .env_keys
        .open_sealed(PURPOSE, &binding(record.uuid, user), key_id, &sealed)
        .ok()?;
    let mut parts = payload.splitn(3, ' ');
    let until: i64 = parts.next()?.parse().ok()?;
    let replaced = parts.next()? == "1";
    let value = parts.next()?.to_owned();
    if OffsetDateTime::now_utc().unix_timestamp() > until || !value.ends_with(&record.last4) {
        return None;
    }
    Some((NewToken::from_value(value)?, replaced))
}

/// `GET {base}/{uuid}/created`: the new value once, then (a refresh, Back and Forward, another
/// tab) only that it was shown and how to get a new one. Never cached.
pub fn page(
    state: &AppState,
    headers: &HeaderMap,
    chrome: Chrome,
    place: Place,
    record: &TokenRecord,
) -> Result<Response, PageError> {
    let user = chrome
        .user
        .clone()
        .ok_or_else(|| PageError::Internal(anyhow::anyhow!("a token page without a user")))?;
    let revealed = take(state, headers, &user, record);
    let url = created_url(&place.base, record.uuid);
    let (value, replaced) = match revealed {
        Some((value, replaced)) => (Some(value), replaced),
        None => (None, false),
    };
    let shown = value.is_some();
    let page = CreatedPage {
        chrome,
        project: place.project,
        base: place.base,
        token: TokenView::of(record, OffsetDateTime::now_utc()),
        value,
        replaced,
    };
    let mut response = no_store(render(&page)?.into_response());
    if shown {
        let clear = cookies::set_at(COOKIE, "", &url, 0, state.secure_cookies());
        if let Ok(v) = HeaderValue::from_str(&clear) {
            response.headers_mut().append(SET_COOKIE, v);
        }
    }
    Ok(response)
}
