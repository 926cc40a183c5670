//! API tokens at the level a client sees (issue 3), split by use-case:
//! - [`matrix`]: every endpoint × every kind of caller, on a private and a public project;
//! - [`presenting`]: the four ways to present a token, bad credentials, expiry, throttling;
//! - [`project_api`]: the v1.1 project token API and rights computed per request;
//! - [`usage`]: last used without a write per request, and the audit of failures;
//! - [`secrets`]: no token value ever reaches the database;
//! - [`revocation`]: tokens remembered in memory, and revocations obeyed on the next request.
//! - [`leak_reports`]: secret scanners' signed leak reports revoke what they find.
//! - [`notices`]: owners told of expiring tokens on the dashboard and by email; no-expiry marks.
//! - [`limits`]: fine-grained personal tokens: lists cut to their limits, no widening, creation
//!   refusals, their pages and the hint that suggests a limit.
//!
//! The helpers here read every reply as a CircleCI client would: JSON, `{"message": …}` on errors,
//! and never a 5xx.

mod expiry;
mod leak_reports;
mod limits;
mod matrix;
mod notices;
mod presenting;
mod project_api;
pub(crate) mod revocation;
mod secrets;
mod usage;

use crate::app::TestApp;
use base64::Engine;
use reqwest::header::HeaderMap;
use serde_json::Value;
use std::future::Future;
use std::time::{Duration, Instant};

/// 401 without a credential where a user is needed.
pub const LOGIN_REQUIRED: &str = "You must log in first.";
/// 401 for every token that does not work.
pub const INVALID: &str = "Invalid token provided.";
/// 403: visible, not allowed.
pub const DENIED: &str = "Permission denied";
/// 404: absent, or not visible to the caller.
pub const NO_PROJECT: &str = "Project not found";

/// How long to wait for something the server does in the background.
pub const DEADLINE: Duration = Duration::from_secs(20);
/// How often to look again meanwhile.
pub const POLL: Duration = Duration::from_millis(25);

/// A reply read as a CircleCI client reads it: JSON, whatever the status.
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// Response headers.
    pub headers: HeaderMap,
    /// The JSON body.
    pub body: Value,
    /// The body as sent.
    pub text: String,
}

impl Reply {
    /// Reads `r`, failing the test on a 5xx or a body that is not JSON.
    pub async fn of(r: reqwest::Response) -> Reply {
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let text = r.text().await.unwrap();
        assert!(status < 500, "server error {status}: {text}");
        let ct = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        assert!(
            ct.starts_with("application/json"),
            "status {status} has content type {ct:?}: {text}"
        );
        let body = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("status {status}, body is not JSON ({e}): {text}"));
        Reply {
            status,
            headers,
            body,
            text,
        }
    }

    /// The error message, or "" when there is none.
    pub fn message(&self) -> &str {
        self.body["message"].as_str().unwrap_or_default()
    }

    /// Fails unless the reply is `status` with exactly `message`.
    #[track_caller]
    pub fn is(&self, status: u16, message: &str) {
        assert_eq!(
            (self.status, self.message()),
            (status, message),
            "whole body: {}",
            self.text
        );
    }

    /// Fails unless the reply is `status` (any body).
    #[track_caller]
    pub fn status_is(&self, status: u16) {
        assert_eq!(self.status, status, "whole body: {}", self.text);
    }
}

/// Sends `request` and reads the reply.
pub async fn send(request: reqwest::RequestBuilder) -> Reply {
    Reply::of(request.send().await.unwrap()).await
}

/// `GET path` on `app` with `token` in the `Circle-Token` header.
pub async fn get_with(app: &TestApp, token: &str, path: &str) -> Reply {
    send(
        reqwest::Client::new()
            .get(app.at(path))
            .header("Circle-Token", token),
    )
    .await
}

/// `Basic` credentials carrying `raw` (already joined, e.g. `token:` or `token`).
pub fn basic(raw: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

/// A client whose connections come from `ip` (any 127.x address works on loopback).
pub fn client_from(ip: [u8; 4]) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(Some(std::net::IpAddr::from(ip)))
        .build()
        .unwrap()
}

/// `token` with the character at `pos` changed (still the same length and alphabet class).
pub fn one_char_changed(token: &str, pos: usize) -> String {
    let mut bytes = token.as_bytes().to_vec();
    bytes[pos] = if bytes[pos] == b'a' { b'b' } else { b'a' };
    String::from_utf8(bytes).unwrap()
}

/// Polls `probe` until it returns `Ok`, failing after [`DEADLINE`] with `what` and the last
/// state `probe` described.
pub async fn eventually<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + DEADLINE;
    loop {
        let last = match probe().await {
            Ok(v) => return v,
            Err(last) => last,
        };
        assert!(
            Instant::now() < deadline,
            "gave up after {DEADLINE:?} waiting for {what}; last seen: {last}"
        );
        tokio::time::sleep(POLL).await;
    }
}
