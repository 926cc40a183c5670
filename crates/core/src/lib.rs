//! circlet's domain: names, slugs, roles and the rules about them.
//!
//! Everything here is plain data and pure functions. This crate must not depend on
//! `tokio`, `axum`, `sqlx` or anything else that does I/O; the one exception is the OS
//! random number generator in [`secret`], because a secret must never come from anywhere else.

pub mod account;
pub mod artifact_path;
pub mod badge;
pub mod badge_snippets;
pub mod branch;
pub mod build_state;
pub mod cache_key;
pub mod cctray;
pub mod ci_config;
pub mod context;
pub mod envcrypt;
pub mod envvar;
pub mod forge;
pub mod forwarded;
pub mod leak_report;
pub mod mask;
pub mod notice;
pub mod oidc;
pub mod redact;
pub mod repo_url;
pub mod role;
pub mod runner_class;
pub mod runner_protocol;
pub mod schedule;
pub mod scope;
pub mod secret;
pub mod slug;
pub mod ssh_keys;
pub mod test_split;
pub mod token;
pub mod token_limits;

pub use account::{DisplayName, Email, Login, Password};
pub use branch::BranchName;
pub use repo_url::RepoUrl;
pub use role::Role;
pub use slug::{ProjectSlug, Vcs};

/// Why a value given by a user was refused; the text is shown to that user as is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

impl Invalid {
    /// An error whose message is `text`.
    pub fn new(text: impl Into<String>) -> Self {
        Invalid(text.into())
    }
}
