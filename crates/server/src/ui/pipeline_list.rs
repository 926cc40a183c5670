//! The project's pipelines as the project page lists them: each pipeline's status and
//! duration, its workflows drawn as a graph of jobs (columns by `requires`), each job's status,
//! duration and test counts, and what may be rerun.

use super::test_results::counts_label;
use super::{duration, when};
use crate::error::PageError;
use crate::state::AppState;
use circlet_core::build_state::{JobState, pipeline_status, workflow_status};
use circlet_store::{JobRecord, PipelineRecord, Project, TestCounts, WorkflowRecord};
use std::collections::{BTreeMap, HashMap};
use time::OffsetDateTime;

/// Pipelines shown on the project page.
const PIPELINES_SHOWN: i64 = 25;

/// One pipeline as the project page lists it.
pub struct PipelineView {
    /// Its number.
    pub number: i64,
    /// Branch or tag, as shown.
    pub target: String,
    /// Short revision.
    pub revision: String,
    /// The commit's subject.
    pub subject: String,
    /// Who triggered it.
    pub actor: String,
    /// When.
    pub created: String,
    /// Its status (`error` when its config could not run; see `pipeline_status`).
    pub status: &'static str,
    /// How long it took (or has taken so far), once a job started.
    pub duration: Option<String>,
    /// Config errors, if it could not run: each a list of lines.
    pub errors: Vec<Vec<String>>,
    /// Its workflows.
    pub workflows: Vec<WorkflowView>,
    /// The pull request it builds: its number, and its page when that is a web address.
    pub pull_request: Option<(u64, Option<String>)>,
    /// Why its jobs got none of the project's secrets, if they did not.
    pub secrets_withheld: Option<&'static str>,
}

/// One workflow of a pipeline.
pub struct WorkflowView {
    /// Its public id.
    pub uuid: uuid::Uuid,
    /// Its name.
    pub name: String,
    /// v2 status (`running`, `success`, …).
    pub status: &'static str,
    /// How long it took (or has taken so far), once a job started.
    pub duration: Option<String>,
    /// Every job has ended: it may be rerun.
    pub finished: bool,
    /// Some job did not succeed: it may be rerun from the failed jobs.
    pub has_failed: bool,
    /// Its jobs in columns: a job stands one column right of the last job it requires.
    pub stages: Vec<Vec<JobView>>,
}

/// One job, as a link with its status.
pub struct JobView {
    /// Build number.
    pub build_num: i64,
    /// Job name.
    pub name: String,
    /// v2 status.
    pub status: &'static str,
    /// The jobs it requires, comma-separated (empty when none).
    pub requires: String,
    /// How long it ran (or has run so far).
    pub duration: Option<String>,
    /// Its test counts, when it stored test results.
    pub tests: Option<String>,
    /// Some of its tests failed.
    pub tests_failed: bool,
    /// Not rerun: the build whose result a rerun from failed kept.
    pub kept_from: Option<i64>,
}

/// From `start` to `end`, or to now while it goes on.
pub fn span(start: Option<OffsetDateTime>, end: Option<OffsetDateTime>) -> Option<String> {
    let start = start?;
    Some(duration(start, end.unwrap_or_else(OffsetDateTime::now_utc)))
}

/// A job's status as the pages show it: in a canceled workflow, a job that never started (or
/// never will: still queued or blocked while the cancel lands) is `canceled`, like the
/// workflow, rather than `not_run` (which says a job it required failed) or `queued`.
pub fn shown_status(state: JobState, workflow_canceled: bool) -> &'static str {
    match state {
        JobState::NotRun | JobState::Queued | JobState::Blocked | JobState::OnHold
            if workflow_canceled =>
        {
            JobState::Canceled.v2_status()
        }
        other => other.v2_status(),
    }
}

fn job_view(
    j: &JobRecord,
    requires: &[String],
    tests: Option<TestCounts>,
    workflow_canceled: bool,
) -> JobView {
    JobView {
        build_num: j.build_num,
        name: j.name.clone(),
        status: shown_status(j.state, workflow_canceled),
        requires: requires.join(", "),
        duration: span(j.started_at, j.stopped_at),
        tests: tests.map(counts_label),
        tests_failed: tests.is_some_and(|t| t.failed > 0),
        kept_from: j.kept_from,
    }
}

/// A job's column: 0 without requirements, else one past its requirements' furthest. Jobs
/// are matched by name (a retry has no `requires` of its own: its first attempt's count);
/// a requirement that is not in the workflow counts as column 0.
fn columns(jobs: &[JobRecord]) -> (HashMap<&str, usize>, HashMap<&str, &[String]>) {
    let mut requires: HashMap<&str, &[String]> = HashMap::new();
    for j in jobs {
        requires.entry(j.name.as_str()).or_insert(&j.requires);
    }
    let mut column: HashMap<&str, usize> = HashMap::new();
    // Each pass settles at least one more level; a cycle (never stored) stops at the bound.
    for _ in 0..=requires.len() {
        let mut changed = false;
        for (name, reqs) in &requires {
            let c = reqs
                .iter()
                .map(|r| column.get(r.as_str()).map_or(1, |c| c + 1))
                .max()
                .unwrap_or(0);
            if column.get(name) != Some(&c) {
                column.insert(name, c);
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    (column, requires)
}

/// A workflow's view from its jobs (in creation order) and their test counts.
pub fn workflow_view(
    w: &WorkflowRecord,
    jobs: &[JobRecord],
    tests: &HashMap<i64, TestCounts>,
) -> WorkflowView {
    let states: Vec<JobState> = jobs.iter().map(|j| j.state).collect();
    let (column, requires) = columns(jobs);
    let mut stages: BTreeMap<usize, Vec<JobView>> = BTreeMap::new();
    for j in jobs {
        let reqs = requires.get(j.name.as_str()).copied().unwrap_or_default();
        stages
            .entry(column.get(j.name.as_str()).copied().unwrap_or(0))
            .or_default()
            .push(job_view(j, reqs, tests.get(&j.id).copied(), w.canceled));
    }
    let finished = !jobs.is_empty() && jobs.iter().all(|j| j.state.is_final());
    let ran = || jobs.iter().filter(|j| j.kept_from.is_none());
    let start = ran().filter_map(|j| j.started_at).min();
    let end = if finished {
        ran().filter_map(|j| j.stopped_at).max()
    } else {
        None
    };
    WorkflowView {
        uuid: w.uuid,
        name: w.name.clone(),
        status: workflow_status(&states, w.canceled),
        duration: span(start, end),
        finished,
        has_failed: latest_attempts(jobs)
            .iter()
            .any(|j| j.state != JobState::Success),
        stages: stages.into_values().collect(),
    }
}

/// The newest attempt of each job name of a workflow (a retry replaces its original).
fn latest_attempts(jobs: &[JobRecord]) -> Vec<&JobRecord> {
    let mut latest: BTreeMap<&str, &JobRecord> = BTreeMap::new();
    for j in jobs {
        latest.insert(j.name.as_str(), j);
    }
    latest.into_values().collect()
}

/// The project's newest pipelines (optionally of one branch) with workflows and jobs.
pub async fn pipelines(
    state: &AppState,
    project: &Project,
    branch: Option<&str>,
) -> Result<Vec<PipelineView>, PageError> {
    let builds = state.app.store.builds();
    let mut out = Vec::new();
    for p in builds
        .pipelines(project.id, branch, None, PIPELINES_SHOWN)
        .await?
        .pipelines
    {
        out.push(pipeline_with_workflows(state, &p).await?);
    }
    Ok(out)
}

/// One pipeline with its workflows, jobs and test counts.
pub async fn pipeline_with_workflows(
    state: &AppState,
    p: &PipelineRecord,
) -> Result<PipelineView, PageError> {
    let builds = state.app.store.builds();
    let tests: HashMap<i64, TestCounts> = builds
        .test_counts_of_pipeline(p.id)
        .await?
        .into_iter()
        .collect();
    let mut workflows = Vec::new();
    let (mut start, mut end, mut going) = (None::<OffsetDateTime>, None::<OffsetDateTime>, false);
    for w in builds.workflows(p.id).await? {
        let jobs = builds.jobs_of_workflow(w.id).await?;
        // A job a rerun kept ran in an earlier workflow: its times are not this one's.
        for j in jobs.iter().filter(|j| j.kept_from.is_none()) {
            if let Some(s) = j.started_at {
                start = Some(start.map_or(s, |x| x.min(s)));
            }
            end = end.max(j.stopped_at);
            going |= !j.state.is_final();
        }
        workflows.push(workflow_view(&w, &jobs, &tests));
    }
    let mut view = pipeline_view(p, workflows);
    view.duration = span(start, if going { None } else { end });
    Ok(view)
}

/// A project's newest pipeline as the dashboard shows it.
pub struct LatestRun {
    /// Its number.
    pub number: i64,
    /// Its status (see `pipeline_status`).
    pub status: &'static str,
    /// Branch or tag.
    pub target: String,
    /// When it was created.
    pub created: String,
}

/// The project's newest pipeline, if it has one: its status from its workflows' jobs.
pub async fn latest_run(
    state: &AppState,
    project: &Project,
) -> Result<Option<LatestRun>, PageError> {
    let builds = state.app.store.builds();
    let Some(p) = builds
        .pipelines(project.id, None, None, 1)
        .await?
        .pipelines
        .into_iter()
        .next()
    else {
        return Ok(None);
    };
    let mut statuses = Vec::new();
    for w in builds.workflows(p.id).await? {
        let states: Vec<JobState> = builds
            .jobs_of_workflow(w.id)
            .await?
            .iter()
            .map(|j| j.state)
            .collect();
        statuses.push(workflow_status(&states, w.canceled));
    }
    let view = pipeline_view(&p, Vec::new());
    Ok(Some(LatestRun {
        number: p.number,
        status: pipeline_status(!view.errors.is_empty() || p.state == "errored", &statuses),
        target: view.target,
        created: view.created,
    }))
}

/// A pipeline's view with the given workflows (none, for a page about one of its jobs).
pub fn pipeline_view(p: &PipelineRecord, workflows: Vec<WorkflowView>) -> PipelineView {
    let commit = crate::api::build_json::commit(p);
    let errors: Vec<String> = serde_json::from_str(&p.errors).unwrap_or_default();
    let statuses: Vec<&str> = workflows.iter().map(|w| w.status).collect();
    PipelineView {
        number: p.number,
        target: match (&p.branch, &p.tag) {
            (_, Some(t)) => format!("tag {t}"),
            (Some(b), None) => b.clone(),
            (None, None) => String::new(),
        },
        revision: p.revision.chars().take(7).collect(),
        subject: commit.subject,
        actor: p.actor_login.clone(),
        created: when(&p.created_at),
        status: pipeline_status(p.state == "errored" || !errors.is_empty(), &statuses),
        duration: None,
        errors: errors.iter().map(|e| error_lines(e)).collect(),
        workflows,
        // The address comes from a forge's payload: linked only when it is a web page's.
        pull_request: p.pull_request().map(|pr| {
            let web = pr.url.starts_with("https://") || pr.url.starts_with("http://");
            (pr.number, web.then_some(pr.url))
        }),
        secrets_withheld: p
            .secrets_withheld
            .then_some(circlet_app::builds::job_env::SECRETS_WITHHELD),
    }
}

/// A config error as lines to show: its own line breaks kept, trailing blanks dropped.
pub fn error_lines(error: &str) -> Vec<String> {
    let mut lines: Vec<String> = error.lines().map(str::to_owned).collect();
    while lines.last().is_some_and(|l| l.trim().is_empty()) {
        lines.pop();
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::error_lines;

    #[test]
    fn error_lines_keep_breaks() {
        assert_eq!(error_lines("a\nb\n\n"), vec!["a", "b"]);
        assert_eq!(error_lines("one"), vec!["one"]);
    }
}
