//! The steps that send files to the server: `store_test_results` (JUnit reports, parsed) and
//! `store_artifacts` (files as they are, streamed).

use crate::junit;
use crate::output::OutputSink;
use crate::report::{ReportError, Reporter, StopReason};
use crate::step::{JobContext, StepEnd};
use crate::walk;
use crate::workdir;
use circlet_core::runner_protocol::{Outcome, TestCase, TestResults};
use std::path::Path;

/// The largest test-results body sent at once; a larger report goes in several batches.
const TEST_BATCH_BYTES: usize = 512 * 1024;

/// The longest failure message kept per test case.
const MAX_TEST_MESSAGE: usize = 64 * 1024;

/// Where the files a step names are on the host; `None`, said in the output, for a place the
/// job could not have written (with a sandbox: anything but `~` and `/tmp`), which the runner,
/// running outside the sandbox, must not read for it.
fn job_path<R: Reporter>(
    ctx: &JobContext<'_, R>,
    path: &str,
    sink: &mut OutputSink<'_, R>,
) -> Option<std::path::PathBuf> {
    let seen = workdir::resolve(ctx.root, ctx.workdir, path);
    let on_host = ctx.sandbox.on_host(&seen, ctx.dirs);
    if on_host.is_none() {
        sink.line(&format!(
            "{path} is outside the job's directories: only files under ~ and /tmp can be stored"
        ));
    }
    on_host
}

/// `store_test_results`: parses every `*.xml` under `path` and sends the cases. A file that is
/// not a JUnit report is named in the output and otherwise ignored.
pub(crate) async fn store_test_results<R: Reporter>(
    ctx: &JobContext<'_, R>,
    path: &str,
    sink: &mut OutputSink<'_, R>,
) -> StepEnd {
    let Some(start) = job_path(ctx, path, sink) else {
        return StepEnd::new(Outcome::Success, None);
    };
    let bounds = ctx.sandbox.readable(ctx.dirs);
    let walked = blocking(move || walk::files_under(&start, &bounds)).await;
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
    let Some(start) = job_path(ctx, path, sink) else {
        return StepEnd::new(Outcome::Success, None);
    };
    let bounds = ctx.sandbox.readable(ctx.dirs);
    let walked = blocking(move || walk::files_under(&start, &bounds)).await;
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
                    "The server answered 404 Not Found to an artifact upload (is it an older circlet?): {} of {total} files not uploaded",
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
    fn artifact_prefixes_never_climb() {
        assert_eq!(artifact_prefix("/tmp/artifacts"), ["tmp", "artifacts"]);
        assert_eq!(
            artifact_prefix("~/project/../out/./x"),
            ["project", "out", "x"]
        );
        assert!(artifact_prefix("../..").is_empty());
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
