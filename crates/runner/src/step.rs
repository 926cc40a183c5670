//! What each kind of step does: `checkout`, `run`, `store_test_results`, `store_artifacts`.
//! Each writes its output into an [`OutputSink`] and says how it ended; the job decides what
//! runs next.

use crate::junit;
use crate::output::OutputSink;
use crate::process::{self, CommandSpec, Ended, Limits};
use crate::report::{ReportError, Reporter, Stop, StopReason};
use crate::walk;
use crate::workdir;
use circlet_core::ci_config::RunStep;
use circlet_core::runner_protocol::{ClaimedJob, Outcome, TestCase, TestResults};
use std::path::Path;
use std::time::Duration;

/// CircleCI's default for `no_output_timeout`.
pub const DEFAULT_NO_OUTPUT_TIMEOUT: Duration = Duration::from_secs(600);

/// The largest test-results body sent at once; a larger report goes in several batches.
const TEST_BATCH_BYTES: usize = 512 * 1024;

/// The longest failure message kept per test case.
const MAX_TEST_MESSAGE: usize = 64 * 1024;

/// What every step of a job shares.
pub(crate) struct JobContext<'a, R> {
    pub reporter: &'a R,
    pub job: &'a ClaimedJob,
    /// The job's root, `~`.
    pub root: &'a Path,
    /// The job's working directory, resolved.
    pub workdir: &'a Path,
    /// The environment every command gets, in order (later wins).
    pub env: &'a [(String, String)],
    pub stop: &'a Stop,
    pub kill_grace: Duration,
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
    fn new(outcome: Outcome, exit_code: Option<i32>) -> StepEnd {
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

/// `checkout`: clones the repository into the working directory and checks out the revision
/// (on a local branch of the built branch's name, if there is one).
///
/// A clone that fails means the runner could not get the code at all (unreachable, no access,
/// no such repository): the job ends `infrastructure_fail`. A revision that cannot be checked
/// out is the build's problem: the step and the job fail.
pub(crate) async fn checkout<R: Reporter>(
    ctx: &JobContext<'_, R>,
    sink: &mut OutputSink<'_, R>,
) -> StepEnd {
    let job = ctx.job;
    let target = ctx.workdir;
    if let Some(parent) = target.parent()
        && let Err(e) = tokio::fs::create_dir_all(parent).await
    {
        sink.line(&format!("cannot create {}: {e}", parent.display()));
        return StepEnd::infra(format!("cannot create {}", parent.display()));
    }
    let mut env = ctx.env.to_vec();
    // Never wait for a password nobody will type.
    env.push(("GIT_TERMINAL_PROMPT".into(), "0".into()));
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
    if let Err(e) = tokio::fs::create_dir_all(&cwd).await {
        sink.line(&format!("cannot create {}: {e}", cwd.display()));
        return StepEnd::infra(format!("cannot create {}", cwd.display()));
    }
    let mut env = ctx.env.to_vec();
    env.extend(step.environment.iter().cloned());
    let spec = CommandSpec {
        program: "/bin/bash".into(),
        args: vec![
            "-eo".into(),
            "pipefail".into(),
            "-c".into(),
            step.command.clone(),
        ],
        cwd,
        env,
    };
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

/// `store_test_results`: parses every `*.xml` under `path` and sends the cases. A file that is
/// not a JUnit report is named in the output and otherwise ignored.
pub(crate) async fn store_test_results<R: Reporter>(
    ctx: &JobContext<'_, R>,
    path: &str,
    sink: &mut OutputSink<'_, R>,
) -> StepEnd {
    let start = workdir::resolve(ctx.root, ctx.workdir, path);
    let root = ctx.root.to_path_buf();
    let walked = blocking(move || walk::files_under(&start, &root)).await;
    let Some(walked) = walked else {
        sink.line(&format!("No test results found: {path} does not exist"));
        return StepEnd::new(Outcome::Success, None);
    };
    for note in &walked.skipped {
        sink.line(note);
    }
    let reports: Vec<_> = walked
        .files
        .into_iter()
        .filter(|f| {
            f.path
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("xml"))
        })
        .collect();
    if reports.is_empty() {
        sink.line(&format!(
            "No test results found: no *.xml files under {path}"
        ));
        return StepEnd::new(Outcome::Success, None);
    }
    let mut cases: Vec<TestCase> = Vec::new();
    for report in reports {
        let shown = display_rel(&report.rel, &report.path);
        let file = report.path.clone();
        match blocking(move || junit::parse_file(&file)).await {
            Ok(found) => {
                sink.line(&format!("{shown}: {} tests", found.len()));
                cases.extend(found);
            }
            Err(e) => sink.line(&format!(
                "{shown}: not a readable JUnit report ({e}), skipped"
            )),
        }
    }
    for case in &mut cases {
        if let Some(m) = case.message.as_mut() {
            truncate(m, MAX_TEST_MESSAGE);
        }
    }
    let total = cases.len();
    for batch in batches(cases) {
        match ctx
            .reporter
            .test_results(&TestResults { tests: batch })
            .await
        {
            Ok(()) => {}
            Err(ReportError::Lost) => {
                ctx.stop.trigger(StopReason::Lost);
                return StepEnd::new(Outcome::Canceled, None);
            }
            Err(e) => {
                sink.line(&format!("Could not send the test results: {e}"));
                return StepEnd::new(Outcome::Failed, None);
            }
        }
    }
    sink.line(&format!("Stored {total} test results"));
    StepEnd::new(Outcome::Success, None)
}

/// Splits cases into batches whose JSON stays under [`TEST_BATCH_BYTES`].
fn batches(cases: Vec<TestCase>) -> Vec<Vec<TestCase>> {
    let mut out = Vec::new();
    let mut batch = Vec::new();
    let mut size = 0;
    for case in cases {
        let len = serde_json::to_vec(&case).map_or(1024, |v| v.len()) + 1;
        if !batch.is_empty() && size + len > TEST_BATCH_BYTES {
            out.push(std::mem::take(&mut batch));
            size = 0;
        }
        size += len;
        batch.push(case);
    }
    if !batch.is_empty() {
        out.push(batch);
    }
    out
}

/// `store_artifacts`: uploads each file at or under `path`, as `destination` (default: the
/// path as written) followed by the file's path below `path`.
pub(crate) async fn store_artifacts<R: Reporter>(
    ctx: &JobContext<'_, R>,
    path: &str,
    destination: Option<&str>,
    sink: &mut OutputSink<'_, R>,
) -> StepEnd {
    let start = workdir::resolve(ctx.root, ctx.workdir, path);
    let root = ctx.root.to_path_buf();
    let walked = blocking(move || walk::files_under(&start, &root)).await;
    let Some(walked) = walked else {
        sink.line(&format!("No artifact files found: {path} does not exist"));
        return StepEnd::new(Outcome::Success, None);
    };
    for note in &walked.skipped {
        sink.line(note);
    }
    let prefix = artifact_prefix(destination.unwrap_or(path));
    let total = walked.files.len();
    let mut failed = 0;
    for (done, file) in walked.files.iter().enumerate() {
        let mut segments = prefix.clone();
        segments.extend(file.rel.iter().cloned());
        if segments.is_empty() {
            segments.push(
                file.path
                    .file_name()
                    .map_or("artifact".into(), |n| n.to_string_lossy().into_owned()),
            );
        }
        let name = segments.join("/");
        sink.line(&format!("Uploading {name}"));
        match ctx.reporter.artifact(&segments, &file.path).await {
            Ok(()) => {}
            Err(ReportError::Lost) => {
                ctx.stop.trigger(StopReason::Lost);
                return StepEnd::new(Outcome::Canceled, None);
            }
            Err(ReportError::NotFound) => {
                sink.line(&format!(
                    "This server does not accept artifact uploads yet (404 Not Found): {} of {total} files not uploaded",
                    total - done
                ));
                return StepEnd::new(Outcome::Failed, None);
            }
            Err(e) => {
                sink.line(&format!("Could not upload {name}: {e}"));
                failed += 1;
            }
        }
        if ctx.stop.reason().is_some() {
            return StepEnd::new(Outcome::Canceled, None);
        }
    }
    if failed > 0 {
        sink.line(&format!(
            "{failed} of {total} artifacts could not be uploaded"
        ));
        return StepEnd::new(Outcome::Failed, None);
    }
    sink.line(&format!("Uploaded {total} artifacts"));
    StepEnd::new(Outcome::Success, None)
}

/// The artifact path segments for a `path` or `destination` as written: `~`, `.`, `..` and
/// empty segments are dropped, so an artifact can never name a place above its job.
pub(crate) fn artifact_prefix(given: &str) -> Vec<String> {
    given
        .split('/')
        .filter(|s| !matches!(*s, "" | "." | ".." | "~"))
        .map(str::to_owned)
        .collect()
}

fn display_rel(rel: &[String], path: &Path) -> String {
    if rel.is_empty() {
        path.display().to_string()
    } else {
        rel.join("/")
    }
}

/// Cuts `s` to at most `max` bytes, on a character boundary.
fn truncate(s: &mut String, max: usize) {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
        s.push_str("\n… (truncated)");
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

/// Runs file-system work off the async threads.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    match tokio::task::spawn_blocking(f).await {
        Ok(v) => v,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
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
    fn artifact_prefixes_never_climb() {
        assert_eq!(artifact_prefix("/tmp/artifacts"), ["tmp", "artifacts"]);
        assert_eq!(
            artifact_prefix("~/project/../out/./x"),
            ["project", "out", "x"]
        );
        assert!(artifact_prefix("../..").is_empty());
    }

    #[test]
    fn durations_read_like_config() {
        assert_eq!(human(Duration::from_secs(600)), "10m");
        assert_eq!(human(Duration::from_secs(5400)), "1h30m");
        assert_eq!(human(Duration::from_secs(45)), "45s");
        assert_eq!(human(Duration::from_millis(300)), "300ms");
    }

    #[test]
    fn large_reports_are_sent_in_batches_under_the_limit() {
        let case = TestCase {
            classname: "c".into(),
            name: "n".into(),
            file: None,
            result: "failure".into(),
            message: Some("x".repeat(10_000)),
            run_time: 0.0,
        };
        let all = vec![case; 200];
        let parts = batches(all);
        assert!(parts.len() >= 4, "{}", parts.len());
        assert_eq!(parts.iter().map(Vec::len).sum::<usize>(), 200);
        for p in &parts {
            let size = serde_json::to_vec(&TestResults { tests: p.clone() })
                .unwrap()
                .len();
            assert!(size <= TEST_BATCH_BYTES + 64, "{size}");
        }
    }
}
