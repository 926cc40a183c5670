//! A job's test results as the pages show them: the build page's Tests section (failures
//! first, with their messages) and the counts beside each job of a pipeline list.

use circlet_app::builds::masks::ProjectMasks;
use circlet_store::{TestCounts, TestRecord};

/// One test case on the build page.
pub struct TestView {
    /// `suite › name`, or the name alone when it has no class.
    pub title: String,
    /// `success`, `failure`, `error` or `skipped`.
    pub result: String,
    /// Whether it failed (`failure` or `error`).
    pub failed: bool,
    /// The failure message, masked; empty when there is none.
    pub message: String,
    /// The file it came from, if known.
    pub file: Option<String>,
    /// How long it ran, for people (`1.25 s`).
    pub run_time: String,
    /// The parallel run (node) that ran it.
    pub node: i64,
}

/// A job's test results: counts and the cases, failures first.
#[derive(Default)]
pub struct TestsView {
    /// Every case.
    pub total: usize,
    /// Failed or errored cases.
    pub failed: usize,
    /// Skipped cases.
    pub skipped: usize,
    /// The cases: failures first, then skipped, then passed, each in the order reported.
    pub cases: Vec<TestView>,
}

/// Whether a stored result is a failure.
fn is_failure(result: &str) -> bool {
    matches!(result, "failure" | "error")
}

/// The cases of `tests` as the build page shows them; messages and names are masked, since a
/// test may print a secret in its assertion.
pub fn tests_view(tests: Vec<TestRecord>, masks: &ProjectMasks) -> TestsView {
    let rank = |r: &str| match r {
        "failure" | "error" => 0,
        "skipped" => 1,
        _ => 2,
    };
    let mut tests = tests;
    tests.sort_by_key(|t| rank(&t.result));
    let failed = tests.iter().filter(|t| is_failure(&t.result)).count();
    let skipped = tests.iter().filter(|t| t.result == "skipped").count();
    let cases = tests
        .into_iter()
        .map(|t| TestView {
            title: if t.classname.is_empty() || t.classname == t.name {
                masks.text(&t.name)
            } else {
                masks.text(&format!("{} › {}", t.classname, t.name))
            },
            failed: is_failure(&t.result),
            message: masks.text(t.message.as_deref().unwrap_or_default()),
            file: t.file.map(|f| masks.text(&f)),
            run_time: format!("{:.2} s", t.run_time),
            node: t.node_index,
            result: t.result,
        })
        .collect::<Vec<_>>();
    TestsView {
        total: cases.len(),
        failed,
        skipped,
        cases,
    }
}

/// A job's test counts as a pipeline list shows them: `12 tests` or `2 of 12 tests failed`.
pub fn counts_label(c: TestCounts) -> String {
    let plural = if c.total == 1 { "test" } else { "tests" };
    if c.failed > 0 {
        format!("{} of {} {plural} failed", c.failed, c.total)
    } else {
        format!("{} {plural}", c.total)
    }
}
