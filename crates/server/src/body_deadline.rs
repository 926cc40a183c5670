//! A request body must arrive whole within a deadline (30 s by default), so that nobody can hold
//! a connection, and a slot under the connection cap, by sending a form or a JSON body a byte at
//! a time: the connection layer ([`crate::connections`]) puts no deadline on a request in
//! progress, since long polls and large downloads are legitimate.
//!
//! The runner protocol is exempt: its artifact uploads stream gigabytes, and only holders of a
//! runner token reach it. Requests without a body to read (`GET`, `HEAD`, `OPTIONS`) pass
//! through untouched, which keeps badges and build lists off this path.

use crate::error::{ApiError, PageError};
use crate::state::AppState;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::time::Instant;

/// How long a request body may take when the settings say nothing else.
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(30);

/// Middleware: ends the body of a request with an error once [`crate::ServerConfig::body_timeout`]
/// has passed since the request came in, and answers 408 when that is what stopped it.
pub async fn limit(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let exempt = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS)
        || req
            .uri()
            .path()
            .starts_with(circlet_core::runner_protocol::BASE_PATH);
    if exempt {
        return next.run(req).await;
    }
    let allowed = state.config.body_timeout;
    let deadline = Instant::now() + allowed;
    let late = Arc::new(AtomicBool::new(false));
    let (parts, body) = req.into_parts();
    let api = parts.uri.path().starts_with("/api/");
    let timed = futures_util::stream::unfold(Some(body.into_data_stream()), {
        let late = late.clone();
        move |data| {
            let late = late.clone();
            async move {
                let mut data = data?;
                match tokio::time::timeout_at(deadline, data.next()).await {
                    Ok(Some(chunk)) => Some((chunk, Some(data))),
                    Ok(None) => None,
                    Err(_) => {
                        late.store(true, Ordering::Relaxed);
                        let e = std::io::Error::new(
                            std::io::ErrorKind::TimedOut,
                            "the request body took too long",
                        );
                        Some((Err(axum::Error::new(e)), None))
                    }
                }
            }
        }
    });
    let response = next
        .run(Request::from_parts(parts, Body::from_stream(timed)))
        .await;
    if !late.load(Ordering::Relaxed) {
        return response;
    }
    let message = format!(
        "The request body did not arrive within {} s; send it at once.",
        allowed.as_secs()
    );
    let mut late_response = if api {
        ApiError::Rejected(StatusCode::REQUEST_TIMEOUT, message).into_response()
    } else {
        PageError::new(StatusCode::REQUEST_TIMEOUT, message).into_response()
    };
    // What is left of the body is not worth waiting for.
    late_response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    late_response
}
