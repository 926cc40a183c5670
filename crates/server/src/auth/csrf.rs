//! CSRF protection for every state-changing form of the web UI.
//!
//! Each form carries a hidden `csrf` field: a keyed digest of the browser's session cookie or,
//! before login, of a random `circlet_csrf` cookie. [`guard`] runs in front of every UI route:
//! on GET it makes sure the browser has something to bind a token to; on any other method it
//! refuses the request unless the form's field matches. A cross-site page can make a browser
//! send the cookies but cannot read them, so it cannot compute the field.

use super::cookies::{self, CSRF_COOKIE, SESSION_COOKIE};
use crate::error::PageError;
use crate::state::AppState;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use secrecy::ExposeSecret;

/// The token a page must put in its forms' `csrf` field.
#[derive(Clone, Debug)]
pub struct CsrfToken(pub String);

fn token_for(state: &AppState, basis: &str) -> String {
    super::keyed_digest(
        state.config.session_key.bytes(),
        &[b"csrf", basis.as_bytes()],
    )
}

/// Middleware: hands pages their [`CsrfToken`] and checks it on every non-GET request.
pub async fn guard(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let existing = cookies::get(req.headers(), SESSION_COOKIE)
        .or_else(|| cookies::get(req.headers(), CSRF_COOKIE));
    let (basis, fresh) = match existing {
        Some(b) => (b, false),
        None => (
            circlet_core::secret::random_hex_secret()
                .expose_secret()
                .to_owned(),
            true,
        ),
    };
    let expected = token_for(&state, &basis);

    let req = if matches!(*req.method(), Method::GET | Method::HEAD) {
        req
    } else {
        let (parts, body) = req.into_parts();
        let bytes = match axum::body::to_bytes(body, state.config.max_body_bytes).await {
            Ok(b) => b,
            Err(_) => {
                return PageError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!(
                        "The form is larger than the limit of {} bytes.",
                        state.config.max_body_bytes
                    ),
                )
                .into_response();
            }
        };
        let sent = form_urlencoded::parse(&bytes)
            .find(|(k, _)| k == "csrf")
            .map(|(_, v)| v.into_owned());
        let valid = !fresh
            && sent.is_some_and(|s| super::constant_time_eq(s.as_bytes(), expected.as_bytes()));
        if !valid {
            return PageError::new(
                StatusCode::FORBIDDEN,
                "This form has expired or did not come from circlet. Go back, reload the page and try again.",
            )
            .into_response();
        }
        Request::from_parts(parts, Body::from(bytes))
    };

    let mut req = req;
    req.extensions_mut().insert(CsrfToken(expected));
    let mut response = next.run(req).await;
    if fresh {
        let cookie = cookies::set(CSRF_COOKIE, &basis, None, state.secure_cookies());
        if let Ok(v) = HeaderValue::from_str(&cookie) {
            response.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    response
}
