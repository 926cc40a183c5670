//! The web UI: server-rendered pages (askama templates in `templates/`), usable without
//! JavaScript. Every state-changing form passes the CSRF guard (`auth::csrf`).

pub mod account;
pub mod admin;
pub mod admin_user;
pub mod assets;
pub mod audit;
pub mod badges;
pub mod build_page;
pub mod builds;
pub mod contexts;
pub mod dashboard;
pub mod env_vars;
pub mod error_page;
pub mod leaks;
pub mod login;
pub mod moment;
pub mod notifications;
pub mod orbs;
pub mod pipeline_list;
pub mod project_tokens;
pub mod projects;
pub mod runners;
pub mod schedules;
pub mod setup;
pub mod ssh_keys;
pub mod storage;
pub mod test_results;
pub mod tokens;
pub mod webhooks;

use crate::auth::csrf::CsrfToken;
use crate::error::PageError;
use askama::Template;
use axum::extract::rejection::FormRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::Html;
use circlet_store::User;
use serde::de::DeserializeOwned;

/// What every page's frame needs: who is logged in, and the CSRF token for its forms.
pub struct Chrome {
    /// The logged-in user, if any.
    pub user: Option<User>,
    /// The value of every form's hidden `csrf` field.
    pub csrf: String,
}

impl Chrome {
    /// The frame for `user`, with this request's CSRF token.
    pub fn new(user: Option<User>, csrf: CsrfToken) -> Self {
        Chrome { user, csrf: csrf.0 }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for CsrfToken {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, PageError> {
        parts.extensions.get::<CsrfToken>().cloned().ok_or_else(|| {
            PageError::Internal(anyhow::anyhow!("CSRF guard is not installed on this route"))
        })
    }
}

/// Renders a template into a page.
pub fn render(t: &impl Template) -> Result<Html<String>, PageError> {
    t.render()
        .map(Html)
        .map_err(|e| PageError::Internal(e.into()))
}

/// Renders a template with a status other than 200 (a form shown again with its error).
pub fn render_with(
    status: StatusCode,
    t: &impl Template,
) -> Result<(StatusCode, Html<String>), PageError> {
    Ok((status, render(t)?))
}

/// A form body whose rejections come back as a readable error page.
pub struct UiForm<T>(pub T);

impl<S, T> FromRequest<S> for UiForm<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = PageError;

    async fn from_request(req: Request, state: &S) -> Result<Self, PageError> {
        match axum::Form::<T>::from_request(req, state).await {
            Ok(axum::Form(v)) => Ok(UiForm(v)),
            Err(rejection) => Err(form_rejection(rejection)),
        }
    }
}

fn form_rejection(rejection: FormRejection) -> PageError {
    PageError::new(
        rejection.status(),
        format!("The form could not be read: {}", rejection.body_text()),
    )
}

/// Percent-encodes a value for a query string.
pub fn encode_query_value(raw: &str) -> String {
    form_urlencoded::byte_serialize(raw.as_bytes()).collect()
}

/// A page no route matches.
pub async fn not_found() -> PageError {
    PageError::not_found("There is no page at this address.")
}

/// A page route called with a method it does not support.
pub async fn method_not_allowed() -> PageError {
    PageError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "This page does not accept that kind of request.",
    )
}

/// Formats a timestamp for people: `2026-11-28 04:00 UTC`.
pub fn when(t: &time::OffsetDateTime) -> String {
    let f = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    t.format(&f).unwrap_or_default()
}

/// How long from `from` to `to`, for people: `42s`, `3m 05s`, `1h 02m` (0s when `to` is
/// earlier).
pub fn duration(from: time::OffsetDateTime, to: time::OffsetDateTime) -> String {
    let secs = (to - from).whole_seconds().max(0);
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m {:02}s", secs / 60, secs % 60),
        _ => format!("{}h {:02}m", secs / 3600, secs % 3600 / 60),
    }
}

/// The first value of `name` in a raw query string.
pub fn query_param(raw: Option<&str>, name: &str) -> Option<String> {
    form_urlencoded::parse(raw?.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// A 303 redirect that also sets a cookie.
pub fn redirect_with_cookie(to: &str, set_cookie: &str) -> axum::response::Response {
    use axum::response::IntoResponse;
    let mut response = axum::response::Redirect::to(to).into_response();
    if let Ok(v) = axum::http::HeaderValue::from_str(set_cookie) {
        response
            .headers_mut()
            .append(axum::http::header::SET_COOKIE, v);
    }
    response
}
