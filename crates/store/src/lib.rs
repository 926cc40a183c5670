//! Every SQL statement circlet runs, behind one facade: [`Store`].
//!
//! `Store` is chosen at start-up from the database URL (`sqlite://…` or `postgres://…`);
//! callers see use-case methods (`store.users().by_login(..)`) and never a backend type.
//! Each backend keeps its native column types and its own migrations folder
//! (`migrations/sqlite`, `migrations/postgres`) with the same file names. Where the SQL text is
//! the same for both, one statement serves both through [`on_pool!`]; where the dialects
//! differ, each backend gets its own statement side by side.
//!
//! This crate depends on `circlet-core` and `sqlx`, never on HTTP crates.

pub mod artifacts;
pub mod audit;
pub mod build_status;
pub mod builds;
pub mod caches;
pub mod contexts;
pub mod copy;
pub mod env_vars;
pub mod error;
pub mod follows;
mod generations;
pub mod hooks;
pub mod job_results;
pub mod leaks;
pub mod notices;
pub mod oidc_keys;
pub mod orbs;
pub mod organizations;
pub mod outbound;
pub mod password_resets;
pub mod polls;
pub mod projects;
pub mod runners;
pub mod schedules;
pub mod sessions;
pub mod settings;
pub mod ssh_keys;
#[cfg(feature = "testkit")]
pub mod testkit;
pub mod tokens;
pub mod users;

pub use artifacts::{ArtifactRecord, NewArtifact};
pub use audit::{AuditEntry, AuditScope, NewAuditEntry};
pub use build_status::{BranchStatus, FinishedPipeline};
pub use builds::{
    JobFilter, JobRecord, NewJob, NewPipeline, NewWorkflow, PipelineOrigin, PipelineRecord,
    StepRecord, WorkflowRecord,
};
pub use caches::{CacheRecord, LayerRecord, NewCache, NewLayer, Saved, StorageUse};
pub use contexts::{Context, ContextVar, Restriction};
pub use copy::{CopiedTable, CopyReport};
pub use env_vars::{EnvVarRecord, NewEnvVar};
pub use error::{Conflict, Missing, StoreError};
pub use generations::ProjectGeneration;
pub use job_results::{TestCounts, TestRecord};
pub use notices::{NewNotice, NoticeRecord};
pub use oidc_keys::{NewOidcKey, OidcKeyRecord};
pub use orbs::{NewOrb, OrbRecord};
pub use organizations::Organization;
pub use projects::{Member, NewProject, OrgStanding, Project};
pub use runners::{ResourceClass, RunnerContact};
pub use sessions::Sessions;
pub use ssh_keys::{NewSshKey, SshKeyRecord};
pub use tokens::{InventoryEntry, NewTokenRecord, TokenRecord, UsageByKind, UsageUpdate};
pub use users::{NewUser, User};

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};
use std::str::FromStr;
use std::time::Duration;
use time::OffsetDateTime;

/// How long a request waits for a free connection before the store reports itself unavailable.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// The database behind circlet: one of two backends, chosen by URL scheme.
#[derive(Clone, Debug)]
pub struct Store {
    backend: Backend,
    /// Shared by every clone: the generations, and how other processes' changes reach them.
    generations: std::sync::Arc<generations::Generations>,
}

/// The connection pool of the configured backend.
#[derive(Clone, Debug)]
enum Backend {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// The first row a write's `RETURNING` gave, read with `fetch_all`.
///
/// A write outside a transaction must read all its rows, never `fetch_one`/`fetch_optional`:
/// on SQLite those stop at the first row, the statement's implicit commit then happens when
/// sqlx resets it, and sqlx ignores that result, so a commit the database refused (its disk
/// full) would be reported as made and the write silently lost.
pub(crate) fn first<T>(rows: Vec<T>) -> Option<T> {
    rows.into_iter().next()
}

/// Like [`first`] for a write that always returns a row (`fetch_one`'s `RowNotFound` otherwise).
pub(crate) fn only<T>(rows: Vec<T>) -> Result<T, sqlx::Error> {
    rows.into_iter().next().ok_or(sqlx::Error::RowNotFound)
}

/// Runs `$body` with `$pool` bound to whichever pool the store has. The body is compiled once
/// per backend, so the same SQL text must be valid in both dialects.
macro_rules! on_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match &$store.backend {
            $crate::Backend::Sqlite($pool) => $body,
            $crate::Backend::Postgres($pool) => $body,
        }
    };
}
pub(crate) use on_pool;

/// Which backend a store uses, for messages and `config check`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackendKind {
    /// SQLite, embedded.
    Sqlite,
    /// PostgreSQL, over the network.
    Postgres,
}

/// Makes an empty database file of mode 0600 at `file` unless one exists: SQLite would make it
/// 0644, and makes its `-wal` and `-shm` files with the database's mode. A failure is left for
/// SQLite to report in its own words (a missing directory, a read-only place).
fn create_private(file: &std::path::Path) {
    use std::os::unix::fs::OpenOptionsExt;
    let _ = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(file);
}

/// Where a PostgreSQL connection goes, as an operator needs it in an error: host, port, user
/// and database. Read from the parsed options, so a password (in the URL, its query or
/// `PGPASSWORD`) can never be part of it.
fn postgres_target(options: &PgConnectOptions) -> String {
    let database = options
        .get_database()
        .map(|d| format!(", database {d}"))
        .unwrap_or_default();
    format!(
        "{}:{} (user {}{database})",
        options.get_host(),
        options.get_port(),
        options.get_username()
    )
}

impl Store {
    /// Opens the database at `url` (`sqlite://PATH` or `postgres://…`). A SQLite file is created
    /// when missing. Does not migrate: call [`Store::migrate`].
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        let (backend, generations) = if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)
                .map_err(|e| StoreError::Config(format!("bad SQLite URL: {e}")))?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                // FULL: a commit is on disk before it is acknowledged, power loss included.
                .synchronous(SqliteSynchronous::Full)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(5));
            let file = options.get_filename();
            let file = (!file.as_os_str().is_empty() && file != std::path::Path::new(":memory:"))
                .then(|| file.to_owned());
            if let Some(file) = &file {
                create_private(file);
            }
            let pool = SqlitePoolOptions::new()
                .max_connections(8)
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .connect_with(options)
                .await
                .map_err(|e| {
                    StoreError::Unavailable(format!("cannot open SQLite database: {e}"))
                })?;
            (
                Backend::Sqlite(pool),
                generations::Generations::sqlite(file.as_deref()),
            )
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let options = PgConnectOptions::from_str(url)
                .map_err(|e| StoreError::Config(format!("bad PostgreSQL URL: {e}")))?;
            let target = postgres_target(&options);
            let pool = PgPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .connect_with(options)
                .await
                .map_err(|e| {
                    StoreError::Unavailable(format!("cannot reach PostgreSQL at {target}: {e}"))
                })?;
            (
                Backend::Postgres(pool),
                generations::Generations::postgres(),
            )
        } else {
            return Err(StoreError::Config(
                "database URL must start with sqlite:// or postgres://".into(),
            ));
        };
        Ok(Store {
            backend,
            generations: std::sync::Arc::new(generations),
        })
    }

    /// Applies every pending migration of this backend.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let result = match &self.backend {
            Backend::Sqlite(pool) => sqlx::migrate!("migrations/sqlite").run(pool).await,
            Backend::Postgres(pool) => sqlx::migrate!("migrations/postgres").run(pool).await,
        };
        result.map_err(|e| StoreError::Migration(e.to_string()))
    }

    /// Which backend this store uses.
    pub fn kind(&self) -> BackendKind {
        match self.backend {
            Backend::Sqlite(_) => BackendKind::Sqlite,
            Backend::Postgres(_) => BackendKind::Postgres,
        }
    }

    /// Succeeds when the database answers a trivial query.
    pub async fn ping(&self) -> Result<(), StoreError> {
        on_pool!(self, pool => sqlx::query("SELECT 1").execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Writes one small row and commits it: succeeds when the database takes a write right now.
    /// `StorageFull` while its disk is full. The readiness probe uses it once a full disk was
    /// noticed, to learn when writes succeed again; the row (`instance_settings`,
    /// `write_probe`) means nothing else.
    pub async fn probe_write(&self) -> Result<(), StoreError> {
        let sql = "INSERT INTO instance_settings (name, value) VALUES ('write_probe', $1) \
                   ON CONFLICT (name) DO UPDATE SET value = excluded.value";
        // A new value each time, so that the row really changes and a page is written.
        let value = OffsetDateTime::now_utc().unix_timestamp_nanos().to_string();
        on_pool!(self, pool => sqlx::query(sql).bind(value).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Closes every connection; later calls fail.
    pub async fn close(&self) {
        on_pool!(self, pool => pool.close().await)
    }

    /// Users and their passwords.
    pub fn users(&self) -> users::Users<'_> {
        users::Users(self)
    }

    /// Password reset links (digests only).
    pub fn password_resets(&self) -> password_resets::PasswordResets<'_> {
        password_resets::PasswordResets(self)
    }

    /// Browser sessions.
    pub fn sessions(&self) -> Sessions<'_> {
        Sessions(self)
    }

    /// Projects and their members.
    pub fn projects(&self) -> projects::Projects<'_> {
        projects::Projects(self)
    }

    /// API tokens (digests only) and their use.
    pub fn tokens(&self) -> tokens::Tokens<'_> {
        tokens::Tokens(self)
    }

    /// Project environment variables (sealed values only).
    pub fn env_vars(&self) -> env_vars::EnvVars<'_> {
        env_vars::EnvVars(self)
    }

    /// Pipelines, workflows, jobs, the runner queue, step output.
    pub fn builds(&self) -> builds::Builds<'_> {
        builds::Builds(self)
    }

    /// Use-cases on dependency caches and workflow workspaces.
    pub fn caches(&self) -> caches::Caches<'_> {
        caches::Caches(self)
    }

    /// Runners, their resource classes and last contacts.
    pub fn runners(&self) -> runners::Runners<'_> {
        runners::Runners(self)
    }

    /// Which projects users follow.
    pub fn follows(&self) -> follows::Follows<'_> {
        follows::Follows(self)
    }

    /// Organizations: the projects of one `vcs/org`, with an id.
    pub fn organizations(&self) -> organizations::Organizations<'_> {
        organizations::Organizations(self)
    }

    /// Contexts: organizations' shared env vars (sealed) and their restrictions.
    pub fn contexts(&self) -> contexts::Contexts<'_> {
        contexts::Contexts(self)
    }

    /// The instance's OIDC signing keys (private halves sealed).
    pub fn oidc_keys(&self) -> oidc_keys::OidcKeys<'_> {
        oidc_keys::OidcKeys(self)
    }

    /// Commit-status targets, outbound webhooks and the outbox.
    pub fn outbound(&self) -> outbound::Outbound<'_> {
        outbound::Outbound(self)
    }

    /// Polling repositories for new heads.
    pub fn polls(&self) -> polls::Polls<'_> {
        polls::Polls(self)
    }

    /// Scheduled pipelines (API v2 schedules and config cron triggers).
    pub fn schedules(&self) -> schedules::Schedules<'_> {
        schedules::Schedules(self)
    }

    /// Forges' webhooks: secrets (sealed), deliveries, pull requests.
    pub fn hooks(&self) -> hooks::Hooks<'_> {
        hooks::Hooks(self)
    }

    /// Projects' SSH keys (private halves sealed).
    pub fn ssh_keys(&self) -> ssh_keys::SshKeys<'_> {
        ssh_keys::SshKeys(self)
    }

    /// Artifacts of jobs (the rows; the bytes live in the object store).
    pub fn artifacts(&self) -> artifacts::Artifacts<'_> {
        artifacts::Artifacts(self)
    }

    /// Leaked tokens: scanners' reports handled, and tokens revoked because they leaked.
    pub fn leaks(&self) -> leaks::Leaks<'_> {
        leaks::Leaks(self)
    }

    /// Notices to tokens' owners (expiring, revoked) and their emails.
    pub fn notices(&self) -> notices::Notices<'_> {
        notices::Notices(self)
    }

    /// The audit log.
    pub fn audit(&self) -> audit::Audit<'_> {
        audit::Audit(self)
    }

    /// The orb registry.
    pub fn orbs(&self) -> orbs::Orbs<'_> {
        orbs::Orbs(self)
    }

    /// Instance-wide run-time settings.
    pub fn settings(&self) -> settings::Settings<'_> {
        settings::Settings(self)
    }
}

/// A timestamp as stored: UTC, whole seconds. Whole seconds keep SQLite's text timestamps
/// the same width, so comparing them as text orders them in time.
pub(crate) fn ts(t: OffsetDateTime) -> OffsetDateTime {
    t.to_offset(time::UtcOffset::UTC)
        .replace_nanosecond(0)
        .expect("0 is a valid nanosecond")
}

/// The current time as stored.
pub fn now() -> OffsetDateTime {
    ts(OffsetDateTime::now_utc())
}

/// The current time to the millisecond, for the times a job, its nodes and its steps started
/// and stopped: they make durations (CircleCI's `build_time_millis`, a step's
/// `run_time_millis`), which whole seconds would round to 0 for fast jobs. These columns are
/// shown and subtracted, never compared in SQL, so SQLite's text of varying width (`…:35.1Z`,
/// `…:35Z`) orders nothing wrongly.
pub(crate) fn now_ms() -> OffsetDateTime {
    let t = OffsetDateTime::now_utc().to_offset(time::UtcOffset::UTC);
    t.replace_millisecond(t.millisecond())
        .expect("a millisecond of a valid time is valid")
}
