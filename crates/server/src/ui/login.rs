//! Logging in and out.

use super::{Chrome, UiForm, query_param, redirect_with_cookie, render, render_with};
use crate::auth::client::ClientIp;
use crate::auth::csrf::CsrfToken;
use crate::auth::session::{self, MaybeUser};
use crate::error::PageError;
use crate::state::AppState;
use askama::Template;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use circlet_app::password;
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
        Ok(login) => state.app.store.users().credentials(&login).await?,
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

/// Where to go after logging in: `next` when it is a path on this site, otherwise `/`.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if is_same_origin_path(n) => n.to_owned(),
        _ => "/".to_owned(),
    }
}

/// Whether `next` (already percent-decoded) can only lead to a page on this site: one `/`, then
/// visible ASCII without `\`. Browsers drop tabs and newlines anywhere in a URL and read `\` as
/// `/`, so `/<tab>/evil.example` and `/\evil.example` lead off-site as surely as
/// `//evil.example`; control characters cannot go into a `Location` header at all. The links
/// circlet makes (percent-encoded paths and queries) always pass.
pub fn is_same_origin_path(next: &str) -> bool {
    let bytes = next.as_bytes();
    bytes.first() == Some(&b'/')
        && bytes.get(1) != Some(&b'/')
        && bytes.iter().all(|b| b.is_ascii_graphic() && *b != b'\\')
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn next_is_kept_on_site() {
        for good in [
            "/",
            "/projects/gh/a/b",
            "/projects/gh/a/b?branch=feature%2Fx&x=1",
            "/account/tokens#new",
            "/a//b",
            "/%2F%2Fevil.example",
        ] {
            assert_eq!(safe_next(Some(good)), good);
        }
        for bad in [
            "",
            "//evil.example",
            "///evil.example",
            "https://evil.example",
            "/\\evil.example",
            "/a\\b",
            "/\t/evil.example/path",
            "/\n/evil.example",
            "\t//evil.example",
            "/a\nb",
            "/a\rb",
            "/a\r\nSet-Cookie: x=1",
            "/a\0b",
            "/a\u{7f}",
            "/a b",
            "/caf\u{e9}",
            "/a\u{85}b",
            "/a\u{2028}b",
            "evil.example",
            "javascript:alert(1)",
        ] {
            assert_eq!(safe_next(Some(bad)), "/", "{bad:?}");
        }
        assert_eq!(safe_next(None), "/");
    }

    proptest! {
        /// Whatever is accepted stays on this site once a browser resolves it (the WHATWG URL
        /// parser, which drops tabs and newlines and reads `\` as `/`) and fits in a header.
        #[test]
        fn every_accepted_next_is_a_same_origin_path(
            next in prop_oneof![
                any::<String>(),
                "[/\\\\\t\n\r\x00\x0b\x0c @:.a-z%?#]{0,12}",
                "/[/\\\\\t\n\r\x00 @:.a-z%?#]{0,12}",
            ]
        ) {
            let kept = safe_next(Some(&next));
            let base = url::Url::parse("https://ci.example:8443/projects/gh/a/b").unwrap();
            let resolved = base.join(&kept).unwrap();
            prop_assert_eq!(resolved.origin(), base.origin());
            prop_assert!(axum::http::HeaderValue::from_str(&kept).is_ok());
            prop_assert!(kept == "/" || kept == next);
        }
    }
}
