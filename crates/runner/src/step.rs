//! What each kind of step does: `checkout` and `run` here, `store_test_results` and
//! `store_artifacts` in [`crate::uploads`]. Each writes its output into an [`OutputSink`] and says how it ended; the job decides what
//! runs next.

use crate::output::OutputSink;
use crate::process::{self, CommandSpec, Ended, Limits};
use crate::report::{Reporter, Stop, StopReason};
use crate::sandbox::{JobDirs, Sandbox};
use crate::workdir;
use circlet_core::ci_config::{RunStep, Step};
use circlet_core::runner_protocol::{ClaimedJob, Outcome};
use std::path::Path;
use std::time::Duration;

/// CircleCI's default for `no_output_timeout`.
pub const DEFAULT_NO_OUTPUT_TIMEOUT: Duration = Duration::from_secs(600);

/// What every step of a job shares.
pub(crate) struct JobContext<'a, R> {
    pub reporter: &'a R,
    pub job: &'a ClaimedJob,
    /// The job's root, `~`.
    pub root: &'a Path,
    /// The job's writable directories on the host.
    pub dirs: &'a JobDirs,
    /// Where commands run.
    pub sandbox: &'a Sandbox,
    /// The job's working directory, resolved, as the job's commands see it.
    pub workdir: &'a Path,
    /// The environment every command gets, in order (later wins).
    pub env: &'a [(String, String)],
    pub stop: &'a Stop,
    pub kill_grace: Duration,
}

impl<R> JobContext<'_, R> {
    /// The places this job may keep files in caches and workspaces.
    pub(crate) fn areas(&self) -> crate::areas::Areas {
        crate::areas::Areas::new(self.sandbox, self.dirs, self.root, self.workdir)
    }
}

/// How a step ended.
#[derive(Debug)]
pub(crate) struct StepEnd {
    pub outcome: Outcome,
    pub exit_code: Option<i32>,
    /// Set when the runner, not the job's code, is at fault: the job ends `infrastructure_fail`
    /// with this message.
    pub infrastructure: Option<String>,
}

impl StepEnd {
    pub(crate) fn new(outcome: Outcome, exit_code: Option<i32>) -> StepEnd {
        StepEnd {
            outcome,
            exit_code,
            infrastructure: None,
        }
    }

    fn infra(message: String) -> StepEnd {
        StepEnd {
            outcome: Outcome::InfrastructureFail,
            exit_code: None,
            infrastructure: Some(message),
        }
    }
}

/// `checkout`: clones the repository into the working directory (or `into`, relative to it)
/// and checks out the revision (on a local branch of the built branch's name, if there is one).
///
/// The runner does this itself, outside the sandbox (git runs no code of the repository: no
/// hooks, no submodules); a local repository in a place the sandbox hides (the server's data
/// dir, other jobs) is refused, so a project cannot clone another's mirror from the server.
///
/// A clone that fails means the runner could not get the code at all (unreachable, no access,
/// no such repository): the job ends `infrastructure_fail`. A revision that cannot be checked
/// out is the build's problem: the step and the job fail.
pub(crate) async fn checkout<R: Reporter>(
    ctx: &JobContext<'_, R>,
    into: Option<&str>,
    sink: &mut OutputSink<'_, R>,
) -> StepEnd {
    let job = ctx.job;
    let dir = workdir::resolve(ctx.root, ctx.workdir, into.unwrap_or("."));
    let Some(mut target) = ctx.sandbox.on_host(&dir, ctx.dirs) else {
        sink.line(&outside(&dir));
        return StepEnd::new(Outcome::Failed, None);
    };
    // git writes here as the runner, outside the sandbox, maybe after the job's own steps: a
    // symbolic link the job put on the way must not lead the clone out of its directories.
    if let Ok(placed) = ctx.areas().place(into.unwrap_or("."), None) {
        let parent = placed
            .rel
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        match crate::archive::safe_dir(&placed.area.host, &parent) {
            Ok(real) => {
                target = match placed.rel.file_name() {
                    Some(name) => real.join(name),
                    None => real,
                };
                if std::fs::symlink_metadata(&target).is_ok_and(|m| m.file_type().is_symlink()) {
                    sink.line(&format!(
                        "{} is a symbolic link; checkout will not write through it",
                        dir.display()
                    ));
                    return StepEnd::new(Outcome::Failed, None);
                }
            }
            Err(e) => {
                sink.line(&format!("cannot use {}: {e}", dir.display()));
                return StepEnd::new(Outcome::Failed, None);
            }
        }
    }
    let target = target.as_path();
    if let Some(local) = local_repository(&job.repo_url)
        && ctx.sandbox.hides(&local, &ctx.dirs.work)
    {
        sink.line("The repository is in a directory jobs may not read (the server's or runner's own files).");
        return StepEnd::infra("checkout: the repository is in a hidden directory".into());
    }
    if let Some(parent) = target.parent()
        && let Err(e) = tokio::fs::create_dir_all(parent).await
    {
        sink.line(&format!("cannot create {}: {e}", parent.display()));
        return StepEnd::infra(format!("cannot create {}", parent.display()));
    }
    let mut env = ctx.env.to_vec();
    // Never wait for a password nobody will type.
    env.push(("GIT_TERMINAL_PROMPT".into(), "0".into()));
    match crate::ssh::checkout_ssh_command(job, &crate::ssh::keys_dir(&ctx.dirs.work, &job.id)) {
        Ok(Some(ssh)) => {
            sink.line("Using the project's checkout key");
            env.push(("GIT_SSH_COMMAND".into(), ssh));
        }
        Ok(None) => {}
        Err(e) => {
            sink.line(&format!("cannot write the checkout key: {e}"));
            return StepEnd::infra("checkout: cannot write the checkout key".into());
        }
    }
    let target_str = target.to_string_lossy().into_owned();
    sink.line(&format!(
        "$ git clone --no-checkout -- {} {target_str}",
        redact_userinfo(&job.repo_url)
    ));
    let clone = git(
        ctx,
        sink,
        ctx.root,
        &env,
        &["clone", "--no-checkout", "--", &job.repo_url, &target_str],
    )
    .await;
    match clone {
        Ended::Exited(Some(0)) => {}
        Ended::Exited(code) => {
            sink.line("Could not clone the repository.");
            let mut end = StepEnd::infra("checkout: could not clone the repository".into());
            end.exit_code = code;
            return end;
        }
        other => return ended_to_step(other, sink, "git clone"),
    }
    // A forked pull request's commit is on no branch: fetch the ref that holds it.
    if let Some(fetch_ref) = &job.fetch_ref {
        if fetch_ref.starts_with('-') || !fetch_ref.starts_with("refs/") {
            sink.line(&format!("'{fetch_ref}' is not a ref"));
            return StepEnd::new(Outcome::Failed, None);
        }
        let args = [
            "fetch",
            "--quiet",
            "--no-tags",
            "origin",
            fetch_ref.as_str(),
        ];
        sink.line(&format!("$ git {}", args.join(" ")));
        match git(ctx, sink, target, &env, &args).await {
            Ended::Exited(Some(0)) => {}
            other => return ended_to_step(other, sink, "git fetch"),
        }
    }
    if job.revision.starts_with('-') || job.revision.is_empty() {
        sink.line(&format!("'{}' is not a revision", job.revision));
        return StepEnd::new(Outcome::Failed, None);
    }
    let mut args = vec!["-c", "advice.detachedHead=false", "checkout", "--force"];
    match job.branch.as_deref() {
        Some(branch) => args.extend(["-B", branch]),
        None => args.push("--detach"),
    }
    args.push(&job.revision);
    sink.line(&format!("$ git {}", args.join(" ")));
    let ended = git(ctx, sink, target, &env, &args).await;
    ended_to_step(ended, sink, "git checkout")
}

async fn git<R: Reporter>(
    ctx: &JobContext<'_, R>,
    sink: &mut OutputSink<'_, R>,
    cwd: &Path,
    env: &[(String, String)],
    args: &[&str],
) -> Ended {
    let spec = CommandSpec {
        program: "git".into(),
        args: args.iter().map(|a| (*a).to_owned()).collect(),
        cwd: cwd.to_path_buf(),
        env: env.to_vec(),
    };
    let limits = Limits {
        timeout: step_timeout(ctx.job),
        no_output: Some(DEFAULT_NO_OUTPUT_TIMEOUT),
        kill_grace: ctx.kill_grace,
    };
    process::run(spec, sink, limits, ctx.stop).await
}

/// A step this runner carries out only as far as this host allows (`setup_remote_docker`): a
/// Docker engine the job needs and the host lacks fails the step, with the reason.
pub(crate) fn not_carried_out<R: Reporter>(step: &Step, sink: &mut OutputSink<'_, R>) -> StepEnd {
    let (outcome, what) = match step {
        Step::SetupRemoteDocker { .. } => match docker_on_path() {
            Some(docker) => (
                Outcome::Success,
                format!(
                    "Jobs here use this host's Docker engine ({}); no remote engine is started.",
                    docker.display()
                ),
            ),
            None => (
                Outcome::Failed,
                "setup_remote_docker needs a Docker engine, and this runner has none (no `docker` on its PATH; jobs run on the runner's host, without containers)".to_owned(),
            ),
        },
        _ => (Outcome::Failed, "this step is not carried out by this runner".to_owned()),
    };
    sink.line(&what);
    StepEnd::new(outcome, None)
}

/// The `docker` program on the runner's PATH, if there is one.
fn docker_on_path() -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("docker"))
        .find(|p| p.is_file())
}

/// `run`: the command under `/bin/bash -eo pipefail -c`, CircleCI's default shell.
pub(crate) async fn run<R: Reporter>(
    ctx: &JobContext<'_, R>,
    step: &RunStep,
    sink: &mut OutputSink<'_, R>,
) -> StepEnd {
    let cwd = workdir::resolve(
        ctx.root,
        ctx.workdir,
        step.working_directory.as_deref().unwrap_or("."),
    );
    match ctx.sandbox.on_host(&cwd, ctx.dirs) {
        Some(on_host) => {
            if let Err(e) = tokio::fs::create_dir_all(&on_host).await {
                sink.line(&format!("cannot create {}: {e}", cwd.display()));
                return StepEnd::infra(format!("cannot create {}", cwd.display()));
            }
        }
        // A read-only directory of the host may still be a working directory, if it exists.
        None if cwd.is_dir() && !ctx.sandbox.hides(&cwd, &ctx.dirs.work) => {}
        None => {
            sink.line(&outside(&cwd));
            return StepEnd::new(Outcome::Failed, None);
        }
    }
    let mut env = ctx.env.to_vec();
    env.extend(step.environment.iter().cloned());
    let spec = ctx.sandbox.wrap(
        CommandSpec {
            program: "/bin/bash".into(),
            args: vec![
                "-eo".into(),
                "pipefail".into(),
                "-c".into(),
                step.command.clone(),
            ],
            cwd,
            env,
        },
        ctx.dirs,
    );
    let no_output = match step.no_output_timeout {
        None => Some(DEFAULT_NO_OUTPUT_TIMEOUT),
        Some(d) if d.is_zero() => None,
        Some(d) => Some(d),
    };
    let limits = Limits {
        timeout: step_timeout(ctx.job),
        no_output,
        kill_grace: ctx.kill_grace,
    };
    let ended = process::run(spec, sink, limits, ctx.stop).await;
    match ended {
        Ended::TimedOut => {
            sink.line(&format!(
                "Too long: the step ran longer than {} and was stopped",
                human(limits.timeout.unwrap_or_default())
            ));
            StepEnd::new(Outcome::Timedout, None)
        }
        Ended::NoOutput => {
            sink.line(&format!(
                "Too long with no output (exceeded {}): the step was stopped",
                human(no_output.unwrap_or_default())
            ));
            StepEnd::new(Outcome::Timedout, None)
        }
        other => ended_to_step(other, sink, "/bin/bash"),
    }
}

/// What a step that names a directory it cannot create says.
fn outside(dir: &Path) -> String {
    format!(
        "{} does not exist and cannot be created: a job can write only under its directory (~) and /tmp",
        dir.display()
    )
}

/// The local path a repository URL names (`file://…` or a plain absolute path), if any.
fn local_repository(url: &str) -> Option<std::path::PathBuf> {
    let path = url.strip_prefix("file://").unwrap_or(url);
    Path::new(path)
        .is_absolute()
        .then(|| std::path::PathBuf::from(path))
}

/// The step timeout of `job`; 0 means none.
fn step_timeout(job: &ClaimedJob) -> Option<Duration> {
    (job.step_timeout_secs > 0).then(|| Duration::from_secs(job.step_timeout_secs))
}

/// Maps how a command ended to the step's end, explaining it in the output.
fn ended_to_step<R: Reporter>(ended: Ended, sink: &mut OutputSink<'_, R>, what: &str) -> StepEnd {
    match ended {
        Ended::Exited(Some(0)) => StepEnd::new(Outcome::Success, Some(0)),
        Ended::Exited(Some(code)) => {
            sink.line(&format!("Exited with code {code}"));
            StepEnd::new(Outcome::Failed, Some(code))
        }
        Ended::Exited(None) => {
            sink.line("Ended by a signal");
            StepEnd::new(Outcome::Failed, None)
        }
        Ended::TimedOut => {
            sink.line("Too long: the step ran past its time limit and was stopped");
            StepEnd::new(Outcome::Timedout, None)
        }
        Ended::NoOutput => {
            sink.line("Too long with no output: the step was stopped");
            StepEnd::new(Outcome::Timedout, None)
        }
        Ended::Stopped(StopReason::Shutdown) => {
            sink.line("The runner is stopping: the step was stopped");
            StepEnd::new(Outcome::InfrastructureFail, None)
        }
        Ended::Stopped(_) => {
            sink.line("Canceled");
            StepEnd::new(Outcome::Canceled, None)
        }
        Ended::NotStarted(e) => {
            sink.line(&format!("could not start {what}: {e}"));
            StepEnd::infra(format!("could not start {what}"))
        }
    }
}

/// `scheme://user:password@host/…` → `scheme://user:****@host/…`, for showing clone URLs.
pub(crate) fn redact_userinfo(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_owned();
    };
    let rest = &url[scheme_end..];
    let authority = &rest[..rest.find('/').unwrap_or(rest.len())];
    match authority.rfind('@') {
        Some(at) => {
            let user = authority[..at].split(':').next().unwrap_or("");
            format!("{}{user}:****{}", &url[..scheme_end], &rest[at..])
        }
        None => url.to_owned(),
    }
}

/// A duration as people write it: `45s`, `10m`, `1h30m`.
fn human(d: Duration) -> String {
    let s = d.as_secs();
    if s == 0 {
        return format!("{}ms", d.as_millis());
    }
    let (h, m, sec) = (s / 3600, s / 60 % 60, s % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if sec > 0 {
        out.push_str(&format!("{sec}s"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clone_urls_are_shown_without_passwords() {
        assert_eq!(
            redact_userinfo("https://x-access-token:ghs_abc@github.com/a/b.git"),
            "https://x-access-token:****@github.com/a/b.git"
        );
        assert_eq!(
            redact_userinfo("https://github.com/a/b.git"),
            "https://github.com/a/b.git"
        );
        assert_eq!(
            redact_userinfo("git@github.com:a/b.git"),
            "git@github.com:a/b.git"
        );
    }

    #[test]
    fn durations_read_like_config() {
        assert_eq!(human(Duration::from_secs(600)), "10m");
        assert_eq!(human(Duration::from_secs(5400)), "1h30m");
        assert_eq!(human(Duration::from_secs(45)), "45s");
        assert_eq!(human(Duration::from_millis(300)), "300ms");
    }
}
