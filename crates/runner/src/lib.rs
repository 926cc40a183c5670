//! circlet's runner: claims jobs from a circlet server over the runner protocol
//! ([`circlet_core::runner_protocol`]), runs their steps on this host — `checkout`, `run` under
//! bash, `store_test_results`, `store_artifacts`, caches and workspaces — and reports output and outcomes back.
//!
//! It depends on `circlet-core` only, never on the store or the server: all it knows of the
//! server is the protocol. The executor ([`run_job`]) reports through the [`Reporter`] trait, so
//! it runs and is tested without HTTP; [`client::HttpReporter`] is the implementation that
//! talks to the server.
//!
//! Modules: `client` (HTTP), `job`, `step` and `uploads` (the executor), `caches` and
//! `workspaces` (their steps) over `areas` (where a job may keep files), `archive` (tar + zstd)
//! and `transfer` (archives streamed to and from the server), `ssh` (a job's SSH keys), `tools`
//! (the `circleci` command in jobs), `process` (one command in its
//! own process group), `sandbox` (the bubblewrap sandbox every command runs in), `output` and
//! `mask` (what leaves the runner), `junit` (test reports), `walk` and `workdir` (files and
//! directories of a job).

mod archive;
mod areas;
mod caches;
pub mod client;
mod job;
pub mod junit;
pub mod mask;
mod output;
mod process;
mod report;
pub mod sandbox;
mod ssh;
mod step;
mod tools;
mod transfer;
mod uploads;
mod walk;
pub mod workdir;
mod workspaces;

pub use job::{JobEnd, JobOptions, RUNNER_STOPPED, run_job};
pub use report::{Download, ReportError, Reporter, Stop, StopReason, Upload};
pub use sandbox::{Sandbox, SandboxError, SandboxMode};
pub use step::DEFAULT_NO_OUTPUT_TIMEOUT;

use anyhow::Context;
use circlet_core::runner_protocol::MAX_CLAIM_WAIT_SECS;
use client::{Client, ClientError};
use secrecy::SecretString;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

/// The first wait after a failed claim; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_secs(1);

/// The longest wait between failed claims.
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// The shortest time between two claims that found nothing.
const MIN_CLAIM_SPACING: Duration = Duration::from_secs(1);

/// How long running jobs get to stop and report it when the runner shuts down.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// What a runner needs to know.
#[derive(Debug, Clone)]
pub struct RunnerConfig {
    /// The server's base URL, `http://host:port`.
    pub server: String,
    /// The runner token (`CCIRUN_…`).
    pub token: SecretString,
    /// Where job directories are made.
    pub work_dir: PathBuf,
    /// How many jobs run at once (at least 1).
    pub concurrency: usize,
    /// This runner's name, shown in its jobs.
    pub name: String,
    /// Where jobs' commands run.
    pub sandbox: Sandbox,
    /// A PEM file of the certificate authorities an `https://` server's certificate must come
    /// from, instead of the system's.
    pub ca_file: Option<PathBuf>,
    /// The `circlet` executable, which jobs get as their `circleci` command; `None`: no such
    /// command in jobs.
    pub tools: Option<PathBuf>,
}

/// Why a runner stopped working before it was asked to.
#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    /// The server refuses the runner's token: it was revoked, deleted or never valid. No job
    /// will run until the runner gets a valid token.
    #[error(
        "the server refused this runner's token ({0}): it was revoked or deleted (a job may have printed it); no jobs run until the runner has a valid token"
    )]
    TokenRefused(reqwest::StatusCode),
    /// Anything else (a bad setting, a work dir that cannot be made).
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

/// This host's name, the default runner name.
pub fn default_name() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|n| n.into_string().ok())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "circlet-runner".into())
}

/// Claims and runs jobs until `shutdown` resolves; then stops claiming, stops the running jobs
/// (each finishes `infrastructure_fail`, "runner stopped", within about 5 s) and returns.
/// Fails with [`RunnerError::TokenRefused`] as soon as the server refuses the token.
pub async fn run(
    config: RunnerConfig,
    shutdown: impl Future<Output = ()>,
) -> Result<(), RunnerError> {
    if config.concurrency == 0 {
        return Err(anyhow::anyhow!("concurrency must be at least 1").into());
    }
    let client = Client::new(
        &config.server,
        config.token.clone(),
        config.ca_file.as_deref(),
    )?;
    std::fs::create_dir_all(&config.work_dir)
        .with_context(|| format!("cannot create work dir {}", config.work_dir.display()))?;
    let work_dir = config
        .work_dir
        .canonicalize()
        .with_context(|| format!("cannot use work dir {}", config.work_dir.display()))?;
    match &config.sandbox {
        Sandbox::None => tracing::warn!(
            "runner {}: {}; every job can read and change whatever this user can",
            config.name,
            config.sandbox.describe()
        ),
        Sandbox::Bubblewrap(_) => {
            tracing::info!("runner {}: {}", config.name, config.sandbox.describe())
        }
    }
    let mut opts = JobOptions::new(
        work_dir.clone(),
        config.name.clone(),
        config.sandbox.clone(),
    );
    opts.tools = config.tools.clone();
    let opts = Arc::new(opts);
    tracing::info!(
        "runner {} taking up to {} jobs at once from {}, working in {}",
        config.name,
        config.concurrency,
        config.server,
        work_dir.display()
    );

    let slots = Arc::new(Semaphore::new(config.concurrency));
    let stopping = Stop::new();
    let mut jobs: JoinSet<()> = JoinSet::new();
    let mut backoff = FIRST_BACKOFF;
    tokio::pin!(shutdown);
    let refused = loop {
        let permit = tokio::select! {
            biased;
            () = &mut shutdown => break None,
            Some(done) = jobs.join_next() => {
                if let Err(e) = done && e.is_panic() {
                    tracing::error!("a job task panicked: {e}");
                }
                continue;
            }
            permit = slots.clone().acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => break None,
            },
        };
        let asked = tokio::time::Instant::now();
        let claimed = tokio::select! {
            biased;
            () = &mut shutdown => break None,
            claimed = client.claim(Duration::from_secs(MAX_CLAIM_WAIT_SECS)) => claimed,
        };
        match claimed {
            Ok(Some(job)) => {
                backoff = FIRST_BACKOFF;
                tracing::info!(
                    job = %job.id,
                    "claimed {} #{} job {}",
                    job.project_slug,
                    job.build_num,
                    job.job_name
                );
                let reporter = client.reporter(&job.id);
                let opts = opts.clone();
                let stopping = stopping.clone();
                jobs.spawn(async move {
                    let _permit = permit;
                    let stop = Stop::new();
                    let running = run_job(&job, &reporter, &opts, &stop);
                    tokio::pin!(running);
                    let end = tokio::select! {
                        end = &mut running => end,
                        _ = stopping.wait() => {
                            stop.trigger(StopReason::Shutdown);
                            running.await
                        }
                    };
                    match end {
                        JobEnd::Finished(f) => {
                            tracing::info!(job = %job.id, "job ended: {}", f.outcome.as_str());
                        }
                        JobEnd::Lost => {
                            tracing::warn!(job = %job.id, "job taken away by the server; stopped");
                        }
                    }
                });
            }
            Ok(None) => {
                backoff = FIRST_BACKOFF;
                // A server that answers "nothing" without waiting must not be asked in a loop.
                let pace = asked + MIN_CLAIM_SPACING;
                tokio::select! {
                    biased;
                    () = &mut shutdown => break None,
                    () = tokio::time::sleep_until(pace) => {}
                }
            }
            Err(ClientError::Unauthorized(status)) => break Some(status),
            Err(e) => {
                tracing::warn!(
                    "cannot claim work: {e}; trying again in {}s",
                    backoff.as_secs()
                );
                tokio::select! {
                    biased;
                    () = &mut shutdown => break None,
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    };

    if !jobs.is_empty() {
        tracing::info!("stopping {} running jobs", jobs.len());
    }
    stopping.trigger(StopReason::Shutdown);
    let deadline = tokio::time::Instant::now() + SHUTDOWN_GRACE;
    while !jobs.is_empty() {
        tokio::select! {
            _ = jobs.join_next() => {}
            () = tokio::time::sleep_until(deadline) => {
                tracing::warn!("{} jobs did not stop in time; abandoning them", jobs.len());
                // Aborting drops their process groups' guards, which kill what is left.
                jobs.abort_all();
                while jobs.join_next().await.is_some() {}
            }
        }
    }
    match refused {
        Some(status) => {
            let e = RunnerError::TokenRefused(status);
            tracing::error!("runner {}: {e}", config.name);
            Err(e)
        }
        None => {
            tracing::info!("runner stopped");
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_unreachable_server_is_retried_until_shutdown() {
        let dir = tempfile::tempdir().unwrap();
        let config = RunnerConfig {
            server: "http://127.0.0.1:1".into(),
            token: SecretString::from("CCIRUN_x".to_owned()),
            work_dir: dir.path().join("work"),
            concurrency: 2,
            name: "test".into(),
            sandbox: Sandbox::None,
            ca_file: None,
            tools: None,
        };
        let started = std::time::Instant::now();
        let shutdown = tokio::time::sleep(Duration::from_millis(1500));
        tokio::time::timeout(Duration::from_secs(10), run(config, shutdown))
            .await
            .expect("returns soon after shutdown")
            .expect("network errors are retried, not fatal");
        assert!(started.elapsed() >= Duration::from_millis(1500));
        assert!(dir.path().join("work").is_dir());
    }

    #[tokio::test]
    async fn zero_concurrency_is_refused() {
        let config = RunnerConfig {
            server: "http://127.0.0.1:1".into(),
            token: SecretString::from("x".to_owned()),
            work_dir: PathBuf::from("unused"),
            concurrency: 0,
            name: "test".into(),
            sandbox: Sandbox::None,
            ca_file: None,
            tools: None,
        };
        let e = run(config, std::future::pending()).await.unwrap_err();
        assert!(e.to_string().contains("at least 1"), "{e}");
    }

    #[test]
    fn the_default_name_is_not_empty() {
        assert!(!default_name().is_empty());
    }
}
