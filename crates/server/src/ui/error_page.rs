//! Error pages inside the site's top navigation: a page that failed (404, 403 naming the role
//! it needs, 400, …) is drawn again with the visitor's own links, so they can go on from there.
//! The visitor is looked up only when a page failed, never on the way in.

use crate::auth::session;
use crate::error::{ErrorPage, ErrorPageShown};
use crate::state::AppState;
use askama::Template;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};

/// Middleware of the web UI's routes: redraws an error page with the top navigation.
pub async fn with_navigation(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let headers = req.headers().clone();
    let response = next.run(req).await;
    let Some(shown) = response.extensions().get::<ErrorPageShown>().cloned() else {
        return response;
    };
    let mut request = Request::new(axum::body::Body::empty());
    *request.headers_mut() = headers;
    let (mut parts, _) = request.into_parts();
    // A visitor who cannot be looked up (the database is down) gets the page without links.
    let Ok(user) = session::lookup(&mut parts, &state).await else {
        return response;
    };
    let page = ErrorPage {
        status: shown.status.as_u16(),
        reason: shown.status.canonical_reason().unwrap_or("Error"),
        message: &shown.message,
        nav: Some(user.as_ref()),
    };
    let Ok(html) = page.render() else {
        return response;
    };
    let (mut head, _) = response.into_parts();
    head.headers.remove(axum::http::header::CONTENT_LENGTH);
    let mut redrawn = (head.status, Html(html)).into_response();
    *redrawn.headers_mut() = head.headers;
    *redrawn.extensions_mut() = head.extensions;
    redrawn
}
