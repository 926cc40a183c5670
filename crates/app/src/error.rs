//! [`AppError`]: every way a use case can fail, as outcomes the edges map once each (the JSON
//! `{"message"}` of the APIs in `circlet_server::error`, the HTML error page there too, and the
//! CLI's one line `circlet: error: …` in the binary). The wording a user reads lives here.

use circlet_core::Role;
use circlet_store::{Conflict, Missing, StoreError};

/// What a request that needed a write says while the database's disk is full.
pub const STORE_FULL: &str = "The server's database storage is full, so nothing was saved. \
An operator must free space on the database's disk; then try again.";

/// What a caller is told when a credential is needed and none came.
pub const LOGIN_REQUIRED: &str = "You must log in first.";

/// What a caller who may see a project but not do this in it is told.
pub const PERMISSION_DENIED: &str = "Permission denied";

/// What every project the caller may not see (or that does not exist) is called.
pub const PROJECT_NOT_FOUND: &str = "Project not found";

/// What a context that does not exist, or that the caller may not see, is called.
pub const CONTEXT_NOT_FOUND: &str = "Context not found";

/// What a token that is not there (or is not the caller's to see) is called.
pub const TOKEN_NOT_FOUND: &str = "Token not found";

/// A use case's outcome other than success.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Absent, or not visible to the caller.
    #[error("{0}")]
    NotFound(String),
    /// Visible but not allowed: `needed` is the role that would allow it, when a role would.
    #[error("{PERMISSION_DENIED}")]
    Forbidden {
        /// The least role that allows the action, if any role does.
        needed: Option<Role>,
    },
    /// Not allowed for a reason the caller must read (a switch an admin turned, an
    /// organization that belongs to others).
    #[error("{0}")]
    Refused(String),
    /// The action needs a logged-in user or a token, and there was none.
    #[error("{LOGIN_REQUIRED}")]
    LoginRequired,
    /// A credential was given and does not hold (a webhook's signature); the message says
    /// which.
    #[error("{0}")]
    Unauthenticated(String),
    /// The input is malformed or a value is out of bounds; the message says which.
    #[error("{0}")]
    Invalid(String),
    /// The thing exists already, or changed meanwhile.
    #[error("{0}")]
    Conflict(String),
    /// The database is unreachable for now.
    #[error("The service is temporarily unavailable; try again shortly.")]
    Unavailable,
    /// The database's disk is full: nothing was saved.
    #[error("{STORE_FULL}")]
    StoreFull,
    /// Where bytes were to go (artifact storage) is full; the message says what to do.
    #[error("{0}")]
    StorageFull(String),
    /// A bug or a broken dependency; the cause is logged by the edge, never shown.
    #[error("Internal server error")]
    Internal(anyhow::Error),
}

impl AppError {
    /// A project that does not exist or that the caller may not see (the two answer alike, so
    /// private slugs cannot be probed).
    pub fn project_not_found() -> Self {
        AppError::NotFound(PROJECT_NOT_FOUND.into())
    }

    /// A bug or broken dependency, from any error.
    pub fn internal(e: impl Into<anyhow::Error>) -> Self {
        AppError::Internal(e.into())
    }
}

/// Why the last active site admin cannot stop being one.
pub const LAST_ADMIN: &str = "This is the last active site admin: make another user a site admin first, or the instance would have nobody to manage it";

/// What a person is told of a store conflict.
pub fn conflict_text(c: &Conflict) -> String {
    match c {
        Conflict::Login(login) => format!("login '{login}' is already taken"),
        Conflict::Project(slug) => format!("project {slug} already exists"),
        Conflict::TokenCap(cap) => format!(
            "You already have {cap} personal API tokens, the most allowed. Delete some first."
        ),
        Conflict::Unfinished { build_num, state } => {
            format!("build {build_num} is {state}; only a finished job can be retried")
        }
        Conflict::TargetNotEmpty(tables) => format!(
            "the target database already holds data (in {}); only an empty database can be \
             filled with a copy",
            tables.join(", ")
        ),
        Conflict::OrbVersion(orb) => format!("{orb} is published already"),
        Conflict::ResourceClass(name) => format!("The resource class {name} exists already"),
        Conflict::Context(name) => format!("The organization already has a context named {name}"),
        Conflict::Restriction => "The context already has this restriction".into(),
        Conflict::LastAdmin => LAST_ADMIN.into(),
        Conflict::Duplicate => "already exists".into(),
    }
}

/// What a person is told of something the store did not find.
pub fn missing_text(m: &Missing) -> String {
    match m {
        Missing::User(login) => format!("no user with login '{login}'"),
        Missing::Member => "that user is not a member of this project".into(),
        Missing::Project => PROJECT_NOT_FOUND.into(),
        Missing::Token => TOKEN_NOT_FOUND.into(),
        Missing::Job(id) => format!("job {id} does not exist"),
        Missing::Workflow(id) => format!("workflow {id} does not exist"),
        Missing::Schedule => "Schedule not found".to_owned(),
        Missing::Organization => "Organization not found".to_owned(),
        Missing::Context => CONTEXT_NOT_FOUND.to_owned(),
        Missing::Step { job, idx } => format!("step {idx} of job {job} was not started"),
    }
}

/// A store error as a person reads it: conflicts and absences in the words above, anything else
/// as the store says it (the CLI's error line uses this for errors that did not pass a use case).
pub fn store_error_text(e: &StoreError) -> String {
    match e {
        StoreError::Conflict(c) => conflict_text(c),
        StoreError::NotFound(m) => missing_text(m),
        other => other.to_string(),
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(c) => AppError::Conflict(conflict_text(&c)),
            StoreError::NotFound(m) => AppError::NotFound(missing_text(&m)),
            StoreError::Unavailable(m) => {
                tracing::warn!("store unavailable: {m}");
                AppError::Unavailable
            }
            StoreError::StorageFull(m) => {
                tracing::error!("a write was refused, the database's storage is full: {m}");
                AppError::StoreFull
            }
            other => AppError::Internal(other.into()),
        }
    }
}

impl From<circlet_core::Invalid> for AppError {
    fn from(e: circlet_core::Invalid) -> Self {
        AppError::Invalid(e.0)
    }
}
