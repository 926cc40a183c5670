//! circlet's HTTP side: the JSON APIs, the web UI, authentication and error mapping.
//!
//! Where to look:
//! - every URL: [`routes`] (one table of contents, grouped by audience); what a path names:
//!   [`route`];
//! - who is calling: [`auth`] (the API's one extractor, sessions, CSRF, login throttling);
//! - how failures look: [`error`] (`ApiError` → JSON, `PageError` → HTML);
//! - the request log line: [`request_log`];
//! - connections (the cap, head and idle deadlines, graceful stop): [`connections`];
//! - headers every response carries: [`no_framing`];
//! - badges and the cc.xml feed: [`status`].
//!
//! The rules (who may do what, what a token or a trigger means, audit, caching) are the use
//! cases of `circlet-app`; a handler here extracts, calls [`circlet_app::App`] and renders. This
//! crate must not depend on `sqlx`.

pub mod api;
pub mod artifacts;
pub mod auth;
pub mod body_deadline;
pub mod builds;
pub mod config;
pub mod connections;
pub mod cors;
pub mod error;
pub mod no_framing;
pub mod request_log;
pub mod route;
pub mod routes;
pub mod state;
pub mod status;
pub mod store_full;
pub mod tls;
pub mod ui;

pub use config::{ServerConfig, SessionKey};
pub use state::AppState;

use std::future::Future;
use tokio::net::TcpListener;

/// Serves `state` on an already bound `listener` until `shutdown` resolves, then stops accepting,
/// lets in-flight requests finish and returns.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let listeners = Listeners {
        public: listener,
        tls: None,
        internal: None,
    };
    serve_with(listeners, state, shutdown).await
}

/// Where a server listens.
pub struct Listeners {
    /// The address users and runners reach.
    pub public: TcpListener,
    /// When set, `public` speaks only HTTPS with this certificate (see [`tls`]).
    pub tls: Option<tokio_rustls::TlsAcceptor>,
    /// A plain-HTTP listener on a loopback address for the embedded runner, when `public`
    /// speaks HTTPS under a name the runner could not check on loopback.
    pub internal: Option<TcpListener>,
}

/// [`serve`] on several listeners at once, some of them HTTPS.
pub async fn serve_with(
    listeners: Listeners,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    state.announce_setup_if_needed().await;
    // Other replicas' revocations must reach the token cache (PostgreSQL; a no-op on SQLite).
    state.app.store.watch_revocations();
    let flusher = tokio::spawn(circlet_app::tokens::usage::flush_every(state.app.clone()));
    let reaper = tokio::spawn(builds::dispatch::reap_every(state.clone()));
    let sweeper = tokio::spawn(circlet_app::caches::sweep_every(state.app.clone()));
    let scheduler = tokio::spawn(circlet_app::schedules::fire_every(state.app.clone()));
    let poller = tokio::spawn(circlet_app::polls::poll_every(state.app.clone()));
    let notifier = tokio::spawn(circlet_app::outbound::send::notify_every(state.app.clone()));
    let notices = tokio::spawn(circlet_app::notices::sweep_every(state.app.clone()));
    let app = routes::router(state.clone());
    let limits = connections::ConnectionLimits {
        max_connections: state.config.max_connections,
        header_timeout: state.config.header_timeout,
        idle_timeout: state.config.idle_timeout,
    };
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let until_stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let signal = {
        let state = state.clone();
        async move {
            shutdown.await;
            // Waiting runner claims answer now instead of holding the shutdown up.
            state.stopping.send_replace(true);
            let _ = stop.send(true);
        }
    };
    let public = connections::serve(
        listeners.public,
        app.clone(),
        limits,
        listeners.tls,
        until_stopped(stopped.clone()),
    );
    let internal = async {
        if let Some(internal) = listeners.internal {
            connections::serve(internal, app, limits, None, until_stopped(stopped)).await;
        }
    };
    tokio::join!(signal, public, internal);
    flusher.abort();
    reaper.abort();
    sweeper.abort();
    scheduler.abort();
    poller.abort();
    notifier.abort();
    notices.abort();
    // What was used since the last flush is written before the server stops.
    state.app.usage.flush(&state.app).await;
    Ok(())
}
