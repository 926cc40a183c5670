//! Insights (CircleCI's `/insights/{slug}/…`): what a project's recent runs say, computed from
//! what the store keeps — each workflow's and each job's success rate, durations and their
//! spread, time to recover, and flaky tests (a test that both passed and failed on one commit).
//! Anyone who may read the project's builds may read its insights.

use crate::{App, AppError, Caller};
use circlet_core::ProjectSlug;
use circlet_core::build_state::{self, JobState};
use circlet_core::scope::Action;
use circlet_store::Project;
use circlet_store::builds::{TestRun, WorkflowRun};
use std::collections::BTreeMap;
use time::{Duration, OffsetDateTime};

/// How far back insights look (CircleCI's default reporting window, `last-90-days`).
pub const WINDOW: Duration = Duration::days(90);

/// The spread of durations, in whole seconds.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct DurationMetrics {
    /// Shortest.
    pub min: i64,
    /// Longest.
    pub max: i64,
    /// Median.
    pub median: i64,
    /// Mean, rounded down.
    pub mean: i64,
    /// 95th percentile (nearest rank).
    pub p95: i64,
    /// Population standard deviation.
    pub standard_deviation: f64,
}

impl DurationMetrics {
    /// The spread of `secs` (all zero when empty).
    pub fn of(secs: &[i64]) -> Self {
        if secs.is_empty() {
            return DurationMetrics::default();
        }
        let mut sorted = secs.to_vec();
        sorted.sort_unstable();
        let n = sorted.len();
        let sum: i64 = sorted.iter().sum();
        let mean = sum as f64 / n as f64;
        let variance = sorted
            .iter()
            .map(|s| (*s as f64 - mean).powi(2))
            .sum::<f64>()
            / n as f64;
        let rank = |p: f64| sorted[((p * n as f64).ceil() as usize).clamp(1, n) - 1];
        DurationMetrics {
            min: sorted[0],
            max: sorted[n - 1],
            median: rank(0.5),
            mean: sum / n as i64,
            p95: rank(0.95),
            standard_deviation: variance.sqrt(),
        }
    }
}

/// One run (of a workflow or a job) as the metrics see it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Run {
    /// When it was made.
    pub created_at: OffsetDateTime,
    /// When it ended, if it did.
    pub stopped_at: Option<OffsetDateTime>,
    /// Whether it ended well.
    pub succeeded: bool,
    /// Whether it ended badly (failed, errored, timed out).
    pub failed: bool,
    /// How long it ran, in seconds, if it ran and ended.
    pub duration_secs: Option<i64>,
}

/// What a set of runs over a window says.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Metrics {
    /// Runs that ended (success or failure; canceled and unfinished runs are left out).
    pub total_runs: i64,
    /// Of which succeeded.
    pub successful_runs: i64,
    /// Of which failed.
    pub failed_runs: i64,
    /// `successful_runs / total_runs` (0 without runs).
    pub success_rate: f64,
    /// Runs per day over the window.
    pub throughput: f64,
    /// Mean time from a failure to the next success, in seconds (0 without recoveries).
    pub mttr: i64,
    /// How many failures were followed by a success.
    pub total_recoveries: i64,
    /// The durations of the runs that ended.
    pub duration_metrics: DurationMetrics,
}

impl Metrics {
    /// The metrics of `runs` (any order) over a window of `window_days`.
    pub fn of(runs: &[Run], window_days: i64) -> Self {
        let mut ended: Vec<&Run> = runs.iter().filter(|r| r.succeeded || r.failed).collect();
        ended.sort_by_key(|r| r.created_at);
        let total = ended.len() as i64;
        let successful = ended.iter().filter(|r| r.succeeded).count() as i64;
        let mut recoveries = Vec::new();
        let mut failed_since: Option<OffsetDateTime> = None;
        for r in &ended {
            match (r.failed, failed_since) {
                (true, None) => failed_since = r.stopped_at.or(Some(r.created_at)),
                (false, Some(since)) => {
                    let back = r.stopped_at.unwrap_or(r.created_at);
                    recoveries.push((back - since).whole_seconds().max(0));
                    failed_since = None;
                }
                _ => {}
            }
        }
        let durations: Vec<i64> = ended.iter().filter_map(|r| r.duration_secs).collect();
        Metrics {
            total_runs: total,
            successful_runs: successful,
            failed_runs: total - successful,
            success_rate: if total == 0 {
                0.0
            } else {
                successful as f64 / total as f64
            },
            throughput: total as f64 / window_days.max(1) as f64,
            mttr: if recoveries.is_empty() {
                0
            } else {
                recoveries.iter().sum::<i64>() / recoveries.len() as i64
            },
            total_recoveries: recoveries.len() as i64,
            duration_metrics: DurationMetrics::of(&durations),
        }
    }
}

/// A test that both passed and failed on one commit.
#[derive(Debug, Clone, PartialEq)]
pub struct FlakyTest {
    /// Its class or suite.
    pub classname: String,
    /// Its name.
    pub test_name: String,
    /// Its file, if the report named one.
    pub file: Option<String>,
    /// How many of its failures were on a commit where it also passed.
    pub times_flaked: i64,
    /// Seconds spent in those failed runs.
    pub time_wasted: f64,
    /// The job of its latest flaky failure.
    pub job_name: String,
    /// That job's number.
    pub job_number: i64,
    /// That job's workflow's store id.
    pub workflow_id: i64,
}

/// The flaky tests among `runs` (in stored order): for each test (class, name, file), the
/// failures on commits where the same test also passed; most flaky first, then by name.
pub fn flaky_tests(runs: &[TestRun]) -> Vec<FlakyTest> {
    type Key = (String, String, Option<String>);
    let passed = |r: &TestRun| r.test.result == "success";
    let failed = |r: &TestRun| matches!(r.test.result.as_str(), "failure" | "error");
    let mut by_test: BTreeMap<Key, BTreeMap<&str, Vec<&TestRun>>> = BTreeMap::new();
    for r in runs {
        let key = (
            r.test.classname.clone(),
            r.test.name.clone(),
            r.test.file.clone(),
        );
        by_test
            .entry(key)
            .or_default()
            .entry(r.revision.as_str())
            .or_default()
            .push(r);
    }
    let mut flaky = Vec::new();
    for ((classname, test_name, file), commits) in by_test {
        let flaked: Vec<&TestRun> = commits
            .values()
            .filter(|rs| rs.iter().any(|r| passed(r)) && rs.iter().any(|r| failed(r)))
            .flat_map(|rs| rs.iter().copied().filter(|r| failed(r)))
            .collect();
        let Some(latest) = flaked.iter().max_by_key(|r| r.build_num) else {
            continue;
        };
        flaky.push(FlakyTest {
            times_flaked: flaked.len() as i64,
            time_wasted: flaked.iter().map(|r| r.test.run_time).sum(),
            job_name: latest.job_name.clone(),
            job_number: latest.build_num,
            workflow_id: latest.workflow_id,
            classname,
            test_name,
            file,
        });
    }
    flaky.sort_by_key(|f| std::cmp::Reverse(f.times_flaked));
    flaky
}

/// A job's run for the metrics.
pub fn job_run(job: &circlet_store::JobRecord) -> Run {
    Run {
        created_at: job.queued_at,
        stopped_at: job.stopped_at,
        succeeded: job.state == JobState::Success,
        failed: matches!(
            job.state,
            JobState::Failed | JobState::Timedout | JobState::InfrastructureFail
        ),
        duration_secs: match (job.started_at, job.stopped_at) {
            (Some(a), Some(b)) => Some((b - a).whole_seconds().max(0)),
            _ => None,
        },
    }
}

/// A workflow's run for the metrics, and its v2 status.
pub fn workflow_run(run: &WorkflowRun) -> (Run, &'static str) {
    let states: Vec<JobState> = run.jobs.iter().map(|j| j.state).collect();
    let status = build_state::workflow_status(&states, run.workflow.canceled);
    let finished = run.jobs.iter().all(|j| j.state.is_final());
    let stopped_at = finished
        .then(|| run.jobs.iter().filter_map(|j| j.stopped_at).max())
        .flatten();
    let started_at = run.jobs.iter().filter_map(|j| j.started_at).min();
    (
        Run {
            created_at: run.workflow.created_at,
            stopped_at,
            succeeded: status == "success",
            failed: matches!(status, "failed" | "error"),
            duration_secs: match (started_at.or(Some(run.workflow.created_at)), stopped_at) {
                (Some(a), Some(b)) => Some((b - a).whole_seconds().max(0)),
                _ => None,
            },
        },
        status,
    )
}

/// Reading one project's insights, for someone who may read its builds.
pub struct Insights<'a> {
    app: &'a App,
    /// The project.
    pub project: Project,
}

impl App {
    /// The door to `slug`'s insights: [`Action::ReadBuilds`], as its builds.
    pub async fn insights(
        &self,
        caller: &Caller,
        slug: &ProjectSlug,
    ) -> Result<Insights<'_>, AppError> {
        let access = self.authorize(caller, slug, Action::ReadBuilds).await?;
        Ok(Insights {
            app: self,
            project: access.project,
        })
    }
}

impl Insights<'_> {
    /// The project's workflow runs of the window, oldest first, on `branch` when given.
    pub async fn workflow_runs(&self, branch: Option<&str>) -> Result<Vec<WorkflowRun>, AppError> {
        let since = OffsetDateTime::now_utc() - WINDOW;
        let runs = self
            .app
            .store
            .builds()
            .workflow_runs(self.project.id, since)
            .await?;
        Ok(runs
            .into_iter()
            .filter(|r| branch.is_none_or(|b| r.branch.as_deref() == Some(b)))
            .collect())
    }

    /// The project's flaky tests of the window, with the runs of the workflows they flaked in.
    pub async fn flaky_tests(&self) -> Result<(Vec<FlakyTest>, Vec<WorkflowRun>), AppError> {
        let since = OffsetDateTime::now_utc() - WINDOW;
        let tests = self
            .app
            .store
            .builds()
            .test_runs(self.project.id, since)
            .await?;
        let flaky = flaky_tests(&tests);
        let workflows = if flaky.is_empty() {
            Vec::new()
        } else {
            self.workflow_runs(None).await?
        };
        Ok((flaky, workflows))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use circlet_store::job_results::TestRecord;

    fn test_run(name: &str, revision: &str, result: &str, build_num: i64) -> TestRun {
        TestRun {
            test: TestRecord {
                classname: "suite".into(),
                name: name.into(),
                file: None,
                result: result.into(),
                message: None,
                run_time: 1.5,
                node_index: 0,
            },
            job_name: "test".into(),
            build_num,
            revision: revision.into(),
            workflow_id: build_num,
        }
    }

    #[test]
    fn a_test_is_flaky_when_it_passed_and_failed_on_one_commit() {
        let runs = [
            test_run("steady", "aaa", "success", 1),
            test_run("steady", "bbb", "failure", 2),
            test_run("flaky", "aaa", "failure", 1),
            test_run("flaky", "aaa", "success", 3),
            test_run("flaky", "ccc", "error", 4),
            test_run("flaky", "ccc", "success", 5),
            test_run("skipped", "aaa", "skipped", 1),
            test_run("skipped", "aaa", "success", 3),
        ];
        let flaky = flaky_tests(&runs);
        assert_eq!(flaky.len(), 1, "{flaky:?}");
        assert_eq!(flaky[0].test_name, "flaky");
        assert_eq!(flaky[0].times_flaked, 2);
        assert_eq!(flaky[0].job_number, 4, "the latest flaky failure");
        assert_eq!(flaky[0].time_wasted, 3.0);
    }

    #[test]
    fn durations_spread() {
        let m = DurationMetrics::of(&[10, 20, 30, 40, 100]);
        assert_eq!(
            (m.min, m.max, m.median, m.mean, m.p95),
            (10, 100, 30, 40, 100)
        );
        assert!((m.standard_deviation - 31.62).abs() < 0.01, "{m:?}");
        assert_eq!(DurationMetrics::of(&[]), DurationMetrics::default());
    }

    #[test]
    fn metrics_count_ended_runs_and_recoveries() {
        let t0 = OffsetDateTime::UNIX_EPOCH;
        let run = |at: i64, ok: Option<bool>| Run {
            created_at: t0 + Duration::seconds(at),
            stopped_at: ok.map(|_| t0 + Duration::seconds(at + 5)),
            succeeded: ok == Some(true),
            failed: ok == Some(false),
            duration_secs: ok.map(|_| 5),
        };
        let m = Metrics::of(
            &[
                run(0, Some(true)),
                run(100, Some(false)),
                run(300, Some(true)),
                run(400, None),
            ],
            2,
        );
        assert_eq!((m.total_runs, m.successful_runs, m.failed_runs), (3, 2, 1));
        assert!((m.success_rate - 2.0 / 3.0).abs() < 1e-9);
        assert_eq!(m.throughput, 1.5);
        assert_eq!((m.total_recoveries, m.mttr), (1, 200));
        assert_eq!(m.duration_metrics.max, 5);
    }
}
