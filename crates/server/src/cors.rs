//! CORS for the token-authenticated JSON API (`/api/…`, not the runner protocol, not pages), so
//! that dashboards in a browser on another origin can call it with a token, as CircleCI's API
//! allows: `Access-Control-Allow-Origin: *` and preflights answered.
//!
//! Never with cookies: `Access-Control-Allow-Credentials` is never sent, so a browser neither
//! shows another site the answer to a request it sent with circlet's session cookie nor lets a
//! preflighted one (a JSON write) carry the cookie at all; and a request that carries a cookie
//! gets no CORS header, so a session's answers stay the session's origin's.

use axum::extract::Request;
use axum::http::header::{
    ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN,
    ACCESS_CONTROL_MAX_AGE, ACCESS_CONTROL_REQUEST_METHOD, COOKIE,
};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The request headers a cross-origin caller may send: the credential forms and the body's type.
const ALLOWED_HEADERS: &str = "Circle-Token, Authorization, Content-Type, Accept";

/// The methods the API has.
const ALLOWED_METHODS: &str = "GET, HEAD, POST, PUT, PATCH, DELETE";

/// Middleware for the API's router: answers a preflight (`OPTIONS` with
/// `Access-Control-Request-Method`) with 204 and what may be sent; adds
/// `Access-Control-Allow-Origin: *` to every other answer of a request without cookies.
pub async fn allow_any_origin(req: Request, next: Next) -> Response {
    if req.method() == Method::OPTIONS && req.headers().contains_key(ACCESS_CONTROL_REQUEST_METHOD)
    {
        let mut response = StatusCode::NO_CONTENT.into_response();
        let h = response.headers_mut();
        h.insert(ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
        h.insert(
            ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static(ALLOWED_METHODS),
        );
        h.insert(
            ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static(ALLOWED_HEADERS),
        );
        h.insert(ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
        return response;
    }
    let with_cookie = req.headers().contains_key(COOKIE);
    let mut response = next.run(req).await;
    if !with_cookie {
        response
            .headers_mut()
            .insert(ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    }
    response
}
