//! The HTTP side's settings, already validated by the binary that loaded them (the use cases' own
//! are `circlet_app::AppConfig`).

use secrecy::{ExposeSecret, SecretBox};
use std::net::SocketAddr;

/// The instance key that makes session cookies and CSRF tokens unforgeable.
pub struct SessionKey(SecretBox<[u8; 32]>);

impl SessionKey {
    /// Wraps 32 secret bytes.
    pub fn new(bytes: [u8; 32]) -> Self {
        SessionKey(SecretBox::new(Box::new(bytes)))
    }

    /// The key bytes, for HMAC only.
    pub(crate) fn bytes(&self) -> &[u8; 32] {
        self.0.expose_secret()
    }
}

impl std::fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionKey([redacted])")
    }
}

/// Everything `circlet-server` needs to know about its deployment.
#[derive(Debug)]
pub struct ServerConfig {
    /// Where the server listens (for messages; the listener itself is bound by the caller).
    pub listen: SocketAddr,
    /// Request bodies larger than this are refused with 413.
    pub max_body_bytes: usize,
    /// Key for session digests and CSRF tokens.
    pub session_key: SessionKey,
    /// How long a browser session lasts.
    pub session_lifetime: time::Duration,
    /// Failed logins allowed per client address per window before answering 429.
    pub login_failures_per_window: u32,
    /// The window of `login_failures_per_window`.
    pub login_failure_window: std::time::Duration,
    /// Failed token authentications allowed per client address per window before 429 (0: no
    /// limit, for a benchmark or when a proxy in front does its own limiting).
    pub auth_failures_per_window: u32,
    /// The window of `auth_failures_per_window`.
    pub auth_failure_window: std::time::Duration,
    /// Open connections at most (see [`crate::connections`]).
    pub max_connections: usize,
    /// The longest a request head may take to arrive.
    pub header_timeout: std::time::Duration,
    /// The longest a kept-alive connection may wait for its next request.
    pub idle_timeout: std::time::Duration,
    /// The longest a request body may take to arrive, outside the runner protocol (see
    /// [`crate::body_deadline`]).
    pub body_timeout: std::time::Duration,
    /// Peers whose `X-Forwarded-For` names the client (see [`crate::auth::client`]).
    pub trusted_proxies: circlet_core::forwarded::TrustedProxies,
}

impl ServerConfig {
    /// Defaults suitable for tests and for `serve` before overrides.
    pub fn new(listen: SocketAddr, session_key: SessionKey) -> Self {
        ServerConfig {
            listen,
            max_body_bytes: 1024 * 1024,
            session_key,
            session_lifetime: time::Duration::days(14),
            login_failures_per_window: 10,
            login_failure_window: std::time::Duration::from_secs(15 * 60),
            auth_failures_per_window: 30,
            auth_failure_window: std::time::Duration::from_secs(5 * 60),
            max_connections: crate::connections::max_connections_for(1024),
            header_timeout: std::time::Duration::from_secs(10),
            idle_timeout: std::time::Duration::from_secs(120),
            body_timeout: crate::body_deadline::DEFAULT_BODY_TIMEOUT,
            trusted_proxies: Default::default(),
        }
    }
}
