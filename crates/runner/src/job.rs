//! Running one claimed job from start to end: its directory, the synthetic "Spin up
//! environment" step, each configured step in turn (honouring `when`), heartbeats, and the
//! final outcome. Everything the job does is told to a [`Reporter`].

use crate::caches;
use crate::output::OutputSink;
use crate::report::{ReportError, Reporter, Stop, StopReason};
use crate::sandbox::{JobDirs, Sandbox};
use crate::step::{self, JobContext, StepEnd};
use crate::tools;
use crate::uploads;
use crate::workdir;
use crate::workspaces;
use circlet_core::ci_config::{Step, When};
use circlet_core::runner_protocol::{
    ClaimedJob, HEARTBEAT_INTERVAL_SECS, JobFinished, Outcome, StepFinished, StepStarted,
};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How jobs are run on this host.
#[derive(Debug, Clone)]
pub struct JobOptions {
    /// Where job directories are made: `<work_dir>/<job id>/`.
    pub work_dir: PathBuf,
    /// The runner's name, shown in each job's first step.
    pub runner_name: String,
    /// How often to heartbeat while a job runs.
    pub heartbeat_interval: Duration,
    /// How long a stopped step's processes get between SIGTERM and SIGKILL.
    pub kill_grace: Duration,
    /// Where the steps' commands run.
    pub sandbox: Sandbox,
    /// The executable jobs get as `circleci` and `circleci-agent` (the `circlet` binary, which
    /// answers to those names); `None` gives them none.
    pub tools: Option<PathBuf>,
}

impl JobOptions {
    /// The protocol's heartbeat interval and a 2 s kill grace.
    pub fn new(work_dir: PathBuf, runner_name: String, sandbox: Sandbox) -> JobOptions {
        JobOptions {
            work_dir,
            runner_name,
            heartbeat_interval: Duration::from_secs(HEARTBEAT_INTERVAL_SECS),
            kill_grace: Duration::from_secs(2),
            sandbox,
            tools: None,
        }
    }
}

/// What became of a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobEnd {
    /// It ran to an end, which was reported (or reporting it was attempted).
    Finished(JobFinished),
    /// The server gave it away: it was killed and nothing more was reported.
    Lost,
}

/// The message a job stopped by a runner shutdown finishes with.
pub const RUNNER_STOPPED: &str = "runner stopped";

/// Runs `job` to its end. Triggering `stop` ends it early: [`StopReason::Canceled`] finishes
/// it `canceled`, [`StopReason::Shutdown`] `infrastructure_fail`, [`StopReason::Lost`] without
/// a word. A heartbeat reply asking to cancel, or a 409 from any request, triggers it too.
pub async fn run_job<R: Reporter>(
    job: &ClaimedJob,
    reporter: &R,
    opts: &JobOptions,
    stop: &Stop,
) -> JobEnd {
    let finished = match uuid::Uuid::parse_str(&job.id) {
        // The id names a directory: only a uuid is trusted to stay inside the work dir.
        Err(_) => JobFinished {
            outcome: Outcome::InfrastructureFail,
            message: Some("the job id is not a uuid".into()),
        },
        Ok(id) => {
            let id = id.hyphenated().to_string();
            let dirs = JobDirs {
                root: opts.work_dir.join(&id),
                tmp: opts.work_dir.join(format!("{id}.tmp")),
                work: opts.work_dir.clone(),
            };
            let finished = tokio::select! {
                f = in_directory(job, reporter, opts, stop, &dirs) => f,
                never = heartbeat(reporter, stop, opts.heartbeat_interval) => match never {},
            };
            let keys = crate::ssh::keys_dir(&opts.work_dir, &id);
            for dir in [&dirs.root, &dirs.tmp, &keys] {
                let cleanup = dir.clone();
                let removed = tokio::task::spawn_blocking(move || remove_dir(&cleanup)).await;
                if let Ok(Err(e)) = removed {
                    tracing::warn!("could not remove {}: {e}", dir.display());
                }
            }
            finished
        }
    };
    if stop.reason() == Some(StopReason::Lost) {
        return JobEnd::Lost;
    }
    match reporter.job_finished(&finished).await {
        Err(ReportError::Lost) => JobEnd::Lost,
        Err(e) => {
            tracing::warn!(job = %job.id, "could not report the job's end: {e}");
            JobEnd::Finished(finished)
        }
        Ok(()) => JobEnd::Finished(finished),
    }
}

/// Makes the job's fresh directories (`~` and its `/tmp`) and runs the steps in them.
async fn in_directory<R: Reporter>(
    job: &ClaimedJob,
    reporter: &R,
    opts: &JobOptions,
    stop: &Stop,
    dirs: &JobDirs,
) -> JobFinished {
    let fresh = {
        let dirs = dirs.clone();
        tokio::task::spawn_blocking(move || {
            for dir in [&dirs.root, &dirs.tmp] {
                remove_dir(dir)?;
                std::fs::create_dir_all(dir)?;
            }
            Ok::<(), std::io::Error>(())
        })
        .await
    };
    if !matches!(fresh, Ok(Ok(()))) {
        return JobFinished {
            outcome: Outcome::InfrastructureFail,
            message: Some(format!(
                "cannot create the job directory {}",
                dirs.root.display()
            )),
        };
    }
    run_steps(job, reporter, opts, stop, dirs).await
}

/// What the steps so far add up to.
#[derive(Default)]
struct Tally {
    failed: bool,
    timedout: bool,
    infrastructure: Option<String>,
}

impl Tally {
    fn add(&mut self, end: &StepEnd) {
        match end.outcome {
            Outcome::Success | Outcome::Canceled => {}
            Outcome::Failed => self.failed = true,
            Outcome::Timedout => self.timedout = true,
            Outcome::InfrastructureFail => {
                self.failed = true;
                if self.infrastructure.is_none() {
                    self.infrastructure = Some(
                        end.infrastructure
                            .clone()
                            .unwrap_or_else(|| "the runner could not run a step".into()),
                    );
                }
            }
        }
    }

    /// Whether an earlier step failed, for `when`.
    fn any_failed(&self) -> bool {
        self.failed || self.timedout || self.infrastructure.is_some()
    }
}

async fn run_steps<R: Reporter>(
    job: &ClaimedJob,
    reporter: &R,
    opts: &JobOptions,
    stop: &Stop,
    dirs: &JobDirs,
) -> JobFinished {
    let root = dirs.root.as_path();
    let workdir = workdir::resolve(root, root, &job.working_directory);
    let mut env = job_env(job, root, &workdir);
    if let Err(e) = std::fs::create_dir_all(task_data_dir(root)) {
        tracing::warn!(job = %job.id, "could not make CIRCLE_INTERNAL_TASK_DATA: {e}");
    }
    let tools = tools::install(job, reporter, opts.tools.as_deref(), root).await;
    match crate::ssh::prepare(job, root) {
        // The project's own GIT_SSH_COMMAND, if it set one, wins.
        Ok(Some(kv)) if !job.env.iter().any(|(k, _)| k == &kv.0) => env.push(kv),
        Ok(_) => {}
        Err(e) => tracing::warn!(job = %job.id, "could not prepare ~/.ssh: {e}"),
    }
    if let Some(bin) = &tools {
        let path = env
            .iter()
            .rev()
            .find(|(k, _)| k == "PATH")
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
        env.push(("PATH".into(), format!("{}:{path}", bin.display())));
    }
    let ctx = JobContext {
        reporter,
        job,
        root,
        dirs,
        sandbox: &opts.sandbox,
        workdir: &workdir,
        env: &env,
        stop,
        kill_grace: opts.kill_grace,
    };
    let mut tally = Tally::default();

    let spin_up = StepStarted {
        index: 0,
        name: "Spin up environment".into(),
        command: None,
    };
    if let Some(mut sink) = begin_step(&ctx, spin_up).await {
        for m in &job.messages {
            sink.line(m);
        }
        sink.line(&format!("circlet runner {}", opts.runner_name));
        if job.node_total > 1 {
            sink.line(&format!(
                "Parallel run {} of {} (CIRCLE_NODE_INDEX={}, CIRCLE_NODE_TOTAL={})",
                job.node_index + 1,
                job.node_total,
                job.node_index,
                job.node_total
            ));
        }
        sink.line(&opts.sandbox.describe());
        sink.line(&format!("Working directory: {}", workdir.display()));
        let end = StepEnd {
            outcome: Outcome::Success,
            exit_code: None,
            infrastructure: None,
        };
        end_step(&ctx, 0, sink, end, &mut tally).await;
    }

    for (i, step) in job.steps.iter().enumerate() {
        if stop.reason().is_some() {
            break;
        }
        // Collecting results and artifacts matters most after a failure, so those steps
        // always run, as on CircleCI; `checkout` runs only while all is well.
        let when = match step {
            Step::Run(r) => r.when,
            Step::SaveCache { when, .. } => *when,
            Step::StoreArtifacts { .. } | Step::StoreTestResults { .. } => When::Always,
            _ => When::OnSuccess,
        };
        let runs = match when {
            When::OnSuccess => !tally.any_failed(),
            When::OnFail => tally.any_failed(),
            When::Always => true,
        };
        if !runs {
            continue;
        }
        if tools::halted(root) {
            break;
        }
        let index = u32::try_from(i + 1).unwrap_or(u32::MAX);
        let started = StepStarted {
            index,
            name: step_name(step),
            command: match step {
                Step::Run(r) => Some(r.command.clone()),
                _ => None,
            },
        };
        let Some(mut sink) = begin_step(&ctx, started).await else {
            break;
        };
        let end = match step {
            Step::Checkout => step::checkout(&ctx, None, &mut sink).await,
            Step::CheckoutInto { path } => step::checkout(&ctx, Some(path), &mut sink).await,
            Step::Run(r) => step::run(&ctx, r, &mut sink).await,
            Step::StoreTestResults { path } => {
                uploads::store_test_results(&ctx, path, &mut sink).await
            }
            Step::StoreArtifacts { path, destination } => {
                uploads::store_artifacts(&ctx, path, destination.as_deref(), &mut sink).await
            }
            Step::SaveCache { key, paths, .. } => caches::save(&ctx, key, paths, &mut sink).await,
            Step::RestoreCache { keys, .. } => caches::restore(&ctx, keys, &mut sink).await,
            Step::PersistToWorkspace { root, paths } => {
                workspaces::persist(&ctx, root, paths, &mut sink).await
            }
            Step::AttachWorkspace { at } => workspaces::attach(&ctx, at, &mut sink).await,
            Step::AddSshKeys { fingerprints } => {
                crate::ssh::add_ssh_keys(&ctx, fingerprints, &mut sink)
            }
            other => step::not_carried_out(other, &mut sink),
        };
        end_step(&ctx, index, sink, end, &mut tally).await;
    }

    match stop.reason() {
        Some(StopReason::Canceled) | Some(StopReason::Lost) => JobFinished {
            outcome: Outcome::Canceled,
            message: None,
        },
        Some(StopReason::Shutdown) => JobFinished {
            outcome: Outcome::InfrastructureFail,
            message: Some(RUNNER_STOPPED.into()),
        },
        None => match tally {
            Tally {
                infrastructure: Some(message),
                ..
            } => JobFinished {
                outcome: Outcome::InfrastructureFail,
                message: Some(message),
            },
            Tally { timedout: true, .. } => JobFinished {
                outcome: Outcome::Timedout,
                message: None,
            },
            Tally { failed: true, .. } => JobFinished {
                outcome: Outcome::Failed,
                message: None,
            },
            _ => JobFinished {
                outcome: Outcome::Success,
                message: None,
            },
        },
    }
}

/// Reports a step's start; `None` when the job turned out to be lost.
async fn begin_step<'c, R: Reporter>(
    ctx: &JobContext<'c, R>,
    started: StepStarted,
) -> Option<OutputSink<'c, R>> {
    match ctx.reporter.step_started(&started).await {
        Ok(()) => {}
        Err(ReportError::Lost) => {
            ctx.stop.trigger(StopReason::Lost);
            return None;
        }
        Err(e) => {
            tracing::warn!(job = %ctx.job.id, step = started.index, "could not report a step's start: {e}");
        }
    }
    Some(OutputSink::new(
        ctx.reporter,
        ctx.stop,
        started.index,
        &ctx.job.masks,
    ))
}

/// Sends the rest of a step's output and reports its end.
async fn end_step<R: Reporter>(
    ctx: &JobContext<'_, R>,
    index: u32,
    mut sink: OutputSink<'_, R>,
    end: StepEnd,
    tally: &mut Tally,
) {
    sink.finish().await;
    tally.add(&end);
    if ctx.stop.reason() == Some(StopReason::Lost) {
        return;
    }
    let finished = StepFinished {
        outcome: end.outcome,
        exit_code: end.exit_code,
    };
    match ctx.reporter.step_finished(index, &finished).await {
        Ok(()) => {}
        Err(ReportError::Lost) => ctx.stop.trigger(StopReason::Lost),
        Err(e) => {
            tracing::warn!(job = %ctx.job.id, step = index, "could not report a step's end: {e}");
        }
    }
}

/// The name CircleCI shows for a step.
fn step_name(step: &Step) -> String {
    match step {
        Step::Checkout | Step::CheckoutInto { .. } => "Checkout code".into(),
        Step::Run(r) => r.name.clone(),
        Step::StoreArtifacts { .. } => "Uploading artifacts".into(),
        Step::StoreTestResults { .. } => "Uploading test results".into(),
        Step::SaveCache { name, .. } => name.clone().unwrap_or_else(|| "Saving cache".into()),
        Step::RestoreCache { name, .. } => name.clone().unwrap_or_else(|| "Restoring cache".into()),
        Step::PersistToWorkspace { .. } => "Persisting to workspace".into(),
        Step::AttachWorkspace { .. } => "Attaching workspace".into(),
        Step::AddSshKeys { .. } => "Add SSH keys".into(),
        Step::SetupRemoteDocker { .. } => "Setup a remote Docker engine".into(),
    }
}

/// The variables of the runner's own environment a job inherits, besides every `LC_*`. Nothing
/// else of it reaches a job: not the runner's token, not the credentials a server with an
/// embedded runner holds (`AWS_*` for artifacts, database passwords).
const INHERITED: [&str; 9] = [
    "PATH",
    "LANG",
    "LANGUAGE",
    "TZ",
    "USER",
    "LOGNAME",
    "SHELL",
    "TERM",
    "RUSTUP_HOME",
];

/// Every command's environment, lowest precedence first: a few of the runner's own variables
/// ([`INHERITED`]), `HOME` (the job's directory, which `~` means in a config) and `TMPDIR`, the
/// job's list, then `CIRCLE_WORKING_DIRECTORY` and `CIRCLE_INTERNAL_TASK_DATA`. A `run` step
/// adds its own on top.
fn job_env(job: &ClaimedJob, root: &Path, workdir: &Path) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .filter(|(k, _)| INHERITED.contains(&k.as_str()) || k.starts_with("LC_"))
        .collect();
    env.push(("HOME".into(), root.to_string_lossy().into_owned()));
    env.push(("TMPDIR".into(), "/tmp".into()));
    env.extend(job.env.iter().cloned());
    env.push((
        "CIRCLE_WORKING_DIRECTORY".into(),
        workdir.to_string_lossy().into_owned(),
    ));
    env.push((
        "CIRCLE_INTERNAL_TASK_DATA".into(),
        task_data_dir(root).to_string_lossy().into_owned(),
    ));
    env
}

/// CircleCI's `CIRCLE_INTERNAL_TASK_DATA`: a directory of the job's own for tools' data about
/// the job, in its home (made before the first step), so it goes with the job's directory.
fn task_data_dir(root: &Path) -> std::path::PathBuf {
    root.join(".circlet").join("task-data")
}

/// Sends a heartbeat every `every` until the job ends (this future never completes); a reply
/// asking to cancel, or a 409, stops the job.
async fn heartbeat<R: Reporter>(
    reporter: &R,
    stop: &Stop,
    every: Duration,
) -> std::convert::Infallible {
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match reporter.heartbeat().await {
            Ok(reply) if reply.cancel => stop.trigger(StopReason::Canceled),
            Ok(_) => {}
            Err(ReportError::Lost) => stop.trigger(StopReason::Lost),
            Err(e) => tracing::warn!("heartbeat failed: {e}"),
        }
    }
}

/// Removes `dir` and everything in it; a missing directory is fine.
fn remove_dir(dir: &Path) -> std::io::Result<()> {
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}
