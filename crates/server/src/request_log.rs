//! One log line per request: method, path, redacted query, status, latency and request id.
//!
//! Secret-looking query parameters (`circle-token`, the setup `code`, …) and token-shaped path
//! segments are redacted by `circlet_core::redact`; headers, cookies and bodies are never logged.

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use std::time::Instant;

/// Middleware: logs the request when its response is ready and tags it with `x-request-id`.
pub async fn log(req: Request, next: Next) -> Response {
    let request_id = hex::encode(circlet_core::secret::random_bytes::<8>());
    let method = req.method().clone();
    let path = circlet_core::redact::redact_path(req.uri().path());
    let query = req.uri().query().map(circlet_core::redact::redact_query);
    let started = Instant::now();
    let mut response = next.run(req).await;
    let latency = started.elapsed();
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("x-request-id", v);
    }
    tracing::info!(
        target: "circlet::http",
        request_id = %request_id,
        method = %method,
        path = %path,
        query = query.as_deref().unwrap_or(""),
        status = response.status().as_u16(),
        latency_us = latency.as_micros() as u64,
        "request"
    );
    response
}
