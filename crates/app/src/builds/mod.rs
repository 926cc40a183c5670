//! Builds: from a trigger to a pipeline (reading the repository's config at the built commit),
//! what a claimed job carries, and what comes back from the runner (leaked tokens).
//!
//! - [`trigger`]: the one way a pipeline is created (v1.1, v2 and the web UI all call it);
//! - [`git`]: reading the repository (bare mirrors, system `git`);
//! - [`lists`]: pipelines across projects, or those a user started (API v2's lists);
//! - [`job_env`]: what a runner gets for a claimed job, its environment in CircleCI's order;
//! - [`leak_guard`]: tokens printed by a job or passed to it are masked and revoked;
//! - [`masks`]: what is shown of a build's parameters, step names and commands, masked;
//! - [`rerun`]: rerunning a finished workflow, from start or from its failed jobs.

pub mod git;
pub mod job_env;
pub mod leak_guard;
pub mod lists;
pub mod masks;
pub mod rerun;
pub mod trigger;
