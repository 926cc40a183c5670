//! Shared state handed to every handler: the use cases ([`App`]) and what is HTTP's own.

use crate::auth::throttle::FailureThrottle;
use crate::config::ServerConfig;
use circlet_app::App;
use secrecy::{ExposeSecret, SecretString};
use std::sync::{Arc, Mutex};

/// Cheap to clone: everything lives behind one `Arc`.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

/// The parts of [`AppState`].
pub struct Inner {
    /// The use cases, with the store and what they keep in memory.
    pub app: App,
    /// Settings of the HTTP side.
    pub config: ServerConfig,
    /// Failed-login counters per client address.
    pub login_throttle: FailureThrottle,
    /// Failed API-token authentication counters per client address.
    pub auth_throttle: FailureThrottle,
    /// Failed runner-token authentication counters per client address, kept apart so that API
    /// callers' failures never hold runners up (see `auth::runner`).
    pub runner_auth_throttle: FailureThrottle,
    /// Badge states read recently, valid until a build or its project changes.
    pub badge_states: crate::status::badges::BadgeStates,
    /// v1.1 build lists rendered recently, valid until a build or its project changes.
    pub rendered_lists: crate::api::v1_builds::RenderedLists,
    /// A full database disk noticed, and the jobs that lost a write to it.
    pub store_full: crate::store_full::StoreFull,
    /// Becomes `true` when the server starts shutting down: long polls answer at once.
    pub stopping: tokio::sync::watch::Sender<bool>,
    /// The one-time first-admin setup code, while no user exists.
    setup_code: Mutex<Option<SecretString>>,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    /// Builds the state; a setup code is made later, only if the store has no user.
    pub fn new(app: App, config: ServerConfig) -> Self {
        let login_throttle = FailureThrottle::new(
            config.login_failures_per_window,
            config.login_failure_window,
        );
        let auth_throttle =
            FailureThrottle::new(config.auth_failures_per_window, config.auth_failure_window);
        let runner_auth_throttle =
            FailureThrottle::new(config.auth_failures_per_window, config.auth_failure_window);
        AppState(Arc::new(Inner {
            app,
            config,
            login_throttle,
            auth_throttle,
            runner_auth_throttle,
            badge_states: Default::default(),
            rendered_lists: Default::default(),
            store_full: Default::default(),
            stopping: tokio::sync::watch::Sender::new(false),
            setup_code: Mutex::new(None),
        }))
    }

    /// Cookies carry `Secure` when users reach circlet over https.
    pub fn secure_cookies(&self) -> bool {
        self.app.config.public_url.starts_with("https://")
    }

    /// With no user in the store, makes a one-time setup code and logs the URL that uses it.
    pub async fn announce_setup_if_needed(&self) {
        match self.app.store.users().count().await {
            Ok(0) => {
                let url = self.setup_url();
                tracing::warn!("no users yet: create the first site admin at {url}");
            }
            Ok(_) => {}
            Err(e) => tracing::error!("could not count users: {e}"),
        }
    }

    /// The URL that uses the current setup code, making a code first if there is none.
    pub fn setup_url(&self) -> String {
        let mut guard = self.setup_code.lock().expect("setup code lock");
        let code = guard.get_or_insert_with(circlet_core::secret::random_hex_secret);
        format!(
            "{}/setup?code={}",
            self.app.config.public_url,
            code.expose_secret()
        )
    }

    /// Whether `candidate` is the current setup code (constant time).
    pub fn setup_code_matches(&self, candidate: &str) -> bool {
        let guard = self.setup_code.lock().expect("setup code lock");
        guard.as_ref().is_some_and(|code| {
            crate::auth::constant_time_eq(code.expose_secret().as_bytes(), candidate.as_bytes())
        })
    }

    /// Uses up the setup code: it works once.
    pub fn consume_setup_code(&self) {
        *self.setup_code.lock().expect("setup code lock") = None;
    }
}
