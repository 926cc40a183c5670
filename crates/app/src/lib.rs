//! circlet's use cases: the rules of the product, between the store and the edges (the HTTP APIs
//! and web UI in `circlet-server`, the admin commands in the `circlet` binary).
//!
//! Every use case takes the acting [`Caller`] (or, for the operator's CLI, an [`tokens::Actor`]),
//! decides whether it may act through [`access`] (the one authorization check, applying
//! `circlet_core::scope::decide`), and fails with an [`AppError`] that each edge maps once. An
//! edge extracts, calls and renders; it never restates a rule.
//!
//! Where to look:
//! - who may do what in a project, and the projects and roles kept in memory: [`access`];
//! - tokens (issue, replace, delete, verify, usage): [`tokens`];
//!   leaked ones, from the leak guard or secret scanners' reports: [`tokens::leaked`];
//!   notices to tokens' owners (expiring, revoked), on dashboards and by email: [`notices`];
//! - env vars and the keys they are sealed with: [`env_vars`]; projects' SSH keys: [`ssh_keys`];
//! - pipelines from triggers, git mirrors, the leak guard, masks, a job's environment: [`builds`];
//! - where artifacts' bytes live: [`artifacts`]; caches and workspaces: [`caches`];
//! - runners, resource classes and who is online: [`runners`];
//! - forges' webhooks: [`hooks`]; polling repositories: [`polls`]; scheduled pipelines and the
//!   scheduler: [`schedules`]; commit statuses and outbound webhooks: [`outbound`];
//! - jobs' OIDC ID tokens and the keys that sign them: [`oidc`];
//! - accounts (own password, admins editing users, reset links, the last admin): [`accounts`];
//! - passwords: [`password`]; adding projects: [`projects`]; the orb registry: [`orbs`];
//! - what a project's recent runs say (success rates, durations, flaky tests): [`insights`];
//! - following projects: [`follows`]; seeing other users: [`users`];
//! - what is kept in memory and until when: [`memo`].
//!
//! This crate must not depend on `axum`, `askama` or `sqlx`: it speaks neither HTTP nor SQL.

pub mod access;
pub mod accounts;
pub mod artifacts;
pub mod builds;
pub mod caches;
pub mod caller;
pub mod contexts;
pub mod env_vars;
pub mod error;
pub mod follows;
pub mod hooks;
pub mod insights;
pub mod memo;
pub mod notices;
pub mod oidc;
pub mod orbs;
pub mod outbound;
pub mod password;
pub mod polls;
pub mod projects;
pub mod runners;
pub mod schedules;
pub mod ssh_keys;
pub mod tokens;
pub mod users;

pub use caller::Caller;
pub use error::AppError;

use circlet_store::Store;
use std::sync::Arc;
use std::time::Duration;

/// What the use cases need to know about this deployment, validated by the binary.
#[derive(Debug)]
pub struct AppConfig {
    /// The base URL users reach circlet at, without a trailing slash; used in every link made.
    pub public_url: String,
    /// The longest lifetime a new token may have; `None` allows tokens that never expire.
    pub max_token_lifetime_days: Option<u32>,
    /// How many personal tokens one user may hold.
    pub personal_token_cap: i64,
    /// How often token use (last used, addresses, kinds) is written: at most one write per token
    /// per interval, off the request path.
    pub usage_flush_interval: Duration,
    /// Where bare mirrors of project repositories are kept, to read each pipeline's
    /// `.circleci/config.yml` at its revision.
    pub repo_cache_dir: std::path::PathBuf,
    /// A running job whose runner has not heartbeated for this long ends `infrastructure_fail`.
    pub runner_timeout: Duration,
    /// The longest one step may run.
    pub step_timeout: Duration,
    /// The keys env var values are sealed with.
    pub env_keys: Arc<env_vars::Keyring>,
    /// Where artifacts are kept and how large they may be.
    pub artifacts: artifacts::ArtifactStorage,
    /// Whether commit statuses and outbound webhooks may go to loopback, private and link-local
    /// addresses (off: only public ones).
    pub allow_private_outbound: bool,
    /// Where secret scanners' public keys come from; `None` turns leak reports off.
    pub secret_scanning: Option<tokens::scanner_keys::KeysConfig>,
    /// Sends notices' emails; `None`: notices go to dashboards only.
    pub mailer: Option<Arc<notices::mail::Mailer>>,
    /// How often expiry notices are looked for and pending emails sent.
    pub notice_interval: Duration,
    /// How long an emailed password reset link works.
    pub reset_link_lifetime: Duration,
}

impl AppConfig {
    /// Defaults suitable for tests and for `serve` before overrides: a fresh random env key,
    /// artifacts in memory.
    pub fn new(public_url: impl Into<String>) -> Self {
        AppConfig {
            public_url: public_url.into().trim_end_matches('/').to_owned(),
            max_token_lifetime_days: None,
            personal_token_cap: 500,
            usage_flush_interval: Duration::from_secs(60),
            repo_cache_dir: std::env::temp_dir().join("circlet-repos"),
            runner_timeout: Duration::from_secs(60),
            step_timeout: Duration::from_secs(3 * 60 * 60),
            env_keys: Arc::new(env_vars::Keyring::fixed(
                circlet_core::secret::random_bytes(),
            )),
            artifacts: artifacts::ArtifactStorage::in_memory(),
            allow_private_outbound: false,
            secret_scanning: None,
            mailer: None,
            notice_interval: Duration::from_secs(10 * 60),
            reset_link_lifetime: accounts::RESET_LINK_LIFETIME,
        }
    }

    /// The token limits of this instance.
    pub fn token_policy(&self) -> tokens::TokenPolicy {
        tokens::TokenPolicy {
            max_lifetime_days: self.max_token_lifetime_days,
            personal_cap: self.personal_token_cap,
        }
    }
}

/// The use cases and what they share: the store, the deployment's settings, and what is kept in
/// memory. Cheap to clone: everything lives behind one `Arc`.
#[derive(Clone)]
pub struct App(Arc<Inner>);

/// The parts of [`App`].
pub struct Inner {
    /// The database.
    pub store: Store,
    /// Settings.
    pub config: AppConfig,
    /// Tokens verified recently, valid until something is revoked.
    pub verified: tokens::verified::VerifiedTokens,
    /// Token use waiting to be written (last used, addresses, kinds of requests).
    pub usage: tokens::usage::UsageRecorder,
    /// Projects and roles read recently, valid until a project's settings or members change.
    pub projects: access::RememberedProjects,
    /// Mirrors of project repositories, to read configs at the built commit.
    pub repos: builds::git::Repos,
    /// Turns to parse a config (see [`builds::trigger::MAX_CONCURRENT_PARSES`]).
    pub config_parses: tokio::sync::Semaphore,
    /// Woken when jobs are queued or released, so waiting runner claims answer at once.
    pub work_available: tokio::sync::Notify,
    /// The HTTP clients commit statuses and outbound webhooks go out with.
    pub http: outbound::send::Clients,
    /// Secret scanners' public keys, when leak reports are on.
    pub scanner_keys: Option<tokens::scanner_keys::ScannerKeyring>,
    /// The OIDC key that signs jobs' ID tokens, as last read.
    pub oidc_current: oidc::CurrentKey,
}

impl std::ops::Deref for App {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl App {
    /// The use cases over `store`, configured by `config`.
    pub fn new(store: Store, config: AppConfig) -> Self {
        let repos = builds::git::Repos::new(config.repo_cache_dir.clone());
        let http = outbound::send::Clients::new(config.allow_private_outbound);
        let scanner_keys = config
            .secret_scanning
            .clone()
            .map(tokens::scanner_keys::ScannerKeyring::new);
        App(Arc::new(Inner {
            store,
            config,
            verified: Default::default(),
            usage: Default::default(),
            projects: Default::default(),
            repos,
            config_parses: tokio::sync::Semaphore::new(builds::trigger::MAX_CONCURRENT_PARSES),
            work_available: tokio::sync::Notify::new(),
            http,
            scanner_keys,
            oidc_current: Default::default(),
        }))
    }
}
