//! Builds: from a trigger to a pipeline (reading the repository's config at the built commit),
//! from the queue to a runner, and what comes back from the runner (output, leaked tokens).
//!
//! - [`trigger`]: the one way a pipeline is created (v1.1, v2 and the web UI all call it);
//! - [`git`]: reading the repository (bare mirrors, system `git`);
//! - [`dispatch`]: claiming jobs, the environment a job gets, the reaper of silent runners;
//! - [`leak_guard`]: tokens printed by a job or passed to it are masked and revoked;
//! - [`masks`]: what is shown of a build's parameters, step names and commands, masked.

pub mod dispatch;
pub mod git;
pub mod leak_guard;
pub mod masks;
pub mod trigger;
