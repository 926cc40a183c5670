//! The `circleci` command a job gets (`circleci tests …`, `circleci-agent step halt`): the
//! runner links its own executable (the `circlet` binary, which answers to those names) into
//! the job's `~/.circlet/bin`, writes the project's test timings beside it when a step splits
//! by timings, and notices a halt between steps.

use crate::report::Reporter;
use circlet_core::ci_config::Step;
use circlet_core::runner_protocol::{ClaimedJob, HALT_FILE, TIMINGS_FILE, TOOLS_DIR};
use std::path::{Path, PathBuf};

/// Whether `circleci step halt` asked for the job to end (successfully) here.
pub(crate) fn halted(root: &Path) -> bool {
    root.join(HALT_FILE).exists()
}

/// Gives the job the `circleci` command: links to `exe` (the runner's `tools`) in `~/.circlet/bin`,
/// and, when a step splits tests by timings, the project's timings for it. Returns the
/// directory to put first on `PATH`. Without tools, or when the links cannot be made, the job
/// runs without them (a step that needs them says `circleci: command not found`).
pub(crate) async fn install<R: Reporter>(
    job: &ClaimedJob,
    reporter: &R,
    exe: Option<&Path>,
    root: &Path,
) -> Option<PathBuf> {
    let exe = exe?;
    let bin = root.join(TOOLS_DIR);
    let made = std::fs::create_dir_all(&bin).and_then(|()| {
        for name in ["circleci", "circleci-agent"] {
            std::os::unix::fs::symlink(exe, bin.join(name))?;
        }
        Ok(())
    });
    if let Err(e) = made {
        tracing::warn!(job = %job.id, "could not give the job the circleci command: {e}");
        return None;
    }
    let splits_by_timings = job.steps.iter().any(|s| match s {
        Step::Run(r) => r.command.contains("circleci tests split") && r.command.contains("timings"),
        _ => false,
    });
    if splits_by_timings {
        match reporter.timings().await {
            Ok(t) => {
                let written = serde_json::to_vec(&t)
                    .map_err(std::io::Error::other)
                    .and_then(|b| std::fs::write(root.join(TIMINGS_FILE), b));
                if let Err(e) = written {
                    tracing::warn!(job = %job.id, "could not write the test timings: {e}");
                }
            }
            Err(e) => tracing::warn!(job = %job.id, "could not fetch the test timings: {e}"),
        }
    }
    Some(bin)
}
