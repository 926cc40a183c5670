//! The build page: one job's steps and live output, per parallel run (node), and its
//! artifacts. Retry, cancel and approve are in `builds.rs`.

use super::builds::{JobPath, load_job};
use super::pipeline_list::{PipelineView, pipeline_view, shown_status, span};
use super::test_results::{TestsView, tests_view};
use super::{Chrome, query_param, render, when};
use crate::auth::csrf::CsrfToken;
use crate::auth::session::MaybeUser;
use crate::error::PageError;
use crate::state::AppState;
use askama::Template;
use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::response::Html;
use circlet_app::builds::masks::ProjectMasks;
use circlet_core::build_state::JobState;
use circlet_core::scope::Action;
use circlet_store::{JobRecord, Project};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// One step of the build page.
pub struct StepView {
    /// Index.
    pub idx: i64,
    /// Name.
    pub name: String,
    /// `running`, `success`, `failed`, …
    pub state: String,
    /// Exit code, if any.
    pub exit_code: Option<i32>,
    /// Output so far (masked when stored).
    pub output: String,
    /// The last output chunk's sequence number, where live updates continue.
    pub last_seq: i64,
    /// How long it ran (or has run so far).
    pub duration: Option<String>,
}

#[derive(Template)]
#[template(path = "build.html")]
struct BuildPage {
    chrome: Chrome,
    artifacts: Vec<ArtifactView>,
    project: Project,
    job: JobRecord,
    status: &'static str,
    pipeline: PipelineView,
    workflow_name: String,
    steps: Vec<StepView>,
    can_write: bool,
    finished: bool,
    queued: String,
    started: String,
    stopped: String,
    /// How long it ran (or has run so far), once started.
    duration: Option<String>,
    /// Its test results.
    tests: TestsView,
    /// Why a queued job may wait long (no runner of its class online).
    waiting: Option<String>,
    /// The node whose steps are shown.
    node: i64,
    /// The job's parallel runs (nodes), when it has more than one.
    runs: Vec<RunView>,
}

/// One parallel run (node) of a job, as the build page's tabs show it.
struct RunView {
    index: i64,
    status: &'static str,
    current: bool,
}

/// The parallel runs of `job` with their states (a run no runner claimed yet is `queued`, or
/// its job's end), and the one to show: `wanted` when given, else the first that failed.
async fn runs(
    state: &AppState,
    job: &JobRecord,
    wanted: Option<&str>,
) -> Result<(i64, Vec<RunView>), PageError> {
    let nodes = state.app.store.builds().nodes(job.id).await?;
    let states = job.run_states(&nodes);
    let shown = match wanted {
        Some(raw) => raw
            .parse::<i64>()
            .ok()
            .filter(|n| (0..job.parallelism).contains(n))
            .ok_or_else(|| {
                PageError::not_found(format!(
                    "This build has no parallel run {raw}: it runs as {} (0 to {}).",
                    job.parallelism,
                    job.parallelism - 1
                ))
            })?,
        None => states
            .iter()
            .position(|s| s.is_final() && *s != JobState::Success)
            .map_or(0, |i| i as i64),
    };
    if job.parallelism < 2 {
        return Ok((shown, Vec::new()));
    }
    let views = states
        .into_iter()
        .enumerate()
        .map(|(i, s)| RunView {
            index: i as i64,
            status: s.v2_status(),
            current: i as i64 == shown,
        })
        .collect();
    Ok((shown, views))
}

/// An artifact as the pages show it: its path, size and download link.
pub struct ArtifactView {
    /// The path.
    pub path: String,
    /// The size, for people (`1.2 MB`).
    pub size: String,
    /// The download link, relative to circlet's root.
    pub url: String,
    /// The parallel run (node) that stored it.
    pub node: i64,
}

/// The artifacts of `job`, for a page.
pub async fn artifact_views(
    state: &AppState,
    project: &Project,
    job: &JobRecord,
) -> Result<Vec<ArtifactView>, PageError> {
    Ok(state
        .app
        .store
        .artifacts()
        .of_job(job.id)
        .await?
        .iter()
        .map(|a| ArtifactView {
            path: a.path.to_string(),
            size: human_size(u64::try_from(a.size).unwrap_or(0)),
            node: a.node_index,
            url: circlet_app::artifacts::download_url(
                "",
                project,
                job.build_num,
                a.node_index,
                &a.path,
            ),
        })
        .collect())
}

/// `1234567` → `1.2 MB` (decimal units, as file managers show).
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["kB", "MB", "GB", "TB", "PB"];
    if bytes < 1000 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1000.0;
    let mut unit = 0;
    while value >= 999.95 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

async fn steps(
    state: &AppState,
    masks: &ProjectMasks,
    job: &JobRecord,
    node: i64,
) -> Result<Vec<StepView>, PageError> {
    let builds = state.app.store.builds();
    let mut out = Vec::new();
    for s in builds.steps(job.id, node).await? {
        let chunks = builds.output(job.id, node, s.idx, 0).await?;
        let last_seq = chunks.last().map_or(0, |(seq, _)| *seq);
        out.push(StepView {
            idx: s.idx,
            name: masks.text(&s.name),
            state: s.state,
            exit_code: s.exit_code,
            output: chunks.into_iter().map(|(_, t)| t).collect(),
            last_seq,
            duration: span(Some(s.started_at), s.stopped_at),
        });
    }
    Ok(out)
}

/// `GET /projects/{vcs}/{org}/{repo}/jobs/{num}?node=N`: the build page, showing the steps
/// of parallel run `node` (by default the first that failed, else 0).
pub async fn show(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    csrf: CsrfToken,
    Path(path): Path<JobPath>,
    RawQuery(query): RawQuery,
) -> Result<Html<String>, PageError> {
    let (a, job) = load_job(&state, user.as_ref(), &path, Action::ReadBuilds).await?;
    let builds = state.app.store.builds();
    let pipeline = builds
        .pipeline_by_id(job.pipeline_id)
        .await?
        .ok_or_else(|| PageError::not_found("There is no such build."))?;
    let (workflow_name, workflow_canceled) = builds
        .workflows(pipeline.id)
        .await?
        .into_iter()
        .find(|w| w.id == job.workflow_id)
        .map(|w| (w.name, w.canceled))
        .unwrap_or_default();
    let wanted = query_param(query.as_deref(), "node");
    let (node, runs) = runs(&state, &job, wanted.as_deref()).await?;
    let masks = ProjectMasks::load(&state.app, &a.project).await?;
    let steps = steps(&state, &masks, &job, node).await?;
    let artifacts = artifact_views(&state, &a.project, &job).await?;
    let dash = |t: Option<time::OffsetDateTime>| t.as_ref().map_or("—".to_owned(), when);
    let waiting = state.app.waiting_note(&job).await?;
    let tests = tests_view(builds.tests(job.id).await?, &masks);
    render(&BuildPage {
        duration: span(job.started_at, job.stopped_at),
        tests,
        waiting,
        node,
        runs,
        chrome: Chrome::new(user, csrf),
        artifacts,
        can_write: a.allows(Action::Trigger),
        status: shown_status(job.state, workflow_canceled),
        finished: job.state.is_final(),
        queued: when(&job.queued_at),
        started: dash(job.started_at),
        stopped: dash(job.stopped_at),
        pipeline: pipeline_view(&pipeline, Vec::new()),
        workflow_name,
        steps,
        project: a.project,
        job,
    })
}

/// `GET /projects/{vcs}/{org}/{repo}/jobs/{num}/live?node=N&after=IDX:SEQ,…`: what changed,
/// for the build page's script: the job's status, node `N`'s steps, and output chunks after
/// the given ones.
pub async fn live(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Path(path): Path<JobPath>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, PageError> {
    let (a, job) = load_job(&state, user.as_ref(), &path, Action::ReadBuilds).await?;
    let after: BTreeMap<i64, i64> = query_param(query.as_deref(), "after")
        .unwrap_or_default()
        .split(',')
        .filter_map(|pair| {
            let (i, s) = pair.split_once(':')?;
            Some((i.parse().ok()?, s.parse().ok()?))
        })
        .collect();
    let node = query_param(query.as_deref(), "node")
        .and_then(|n| n.parse::<i64>().ok())
        .unwrap_or(0);
    let builds = state.app.store.builds();
    let mut steps = Vec::new();
    let masks = ProjectMasks::load(&state.app, &a.project).await?;
    for s in builds.steps(job.id, node).await? {
        let from = after.get(&s.idx).copied().unwrap_or(0);
        let chunks = builds.output(job.id, node, s.idx, from).await?;
        steps.push(json!({
            "idx": s.idx,
            "name": masks.text(&s.name),
            "state": s.state,
            "exit_code": s.exit_code,
            "last_seq": chunks.last().map_or(from, |(seq, _)| *seq),
            "text": chunks.into_iter().map(|(_, t)| t).collect::<String>(),
        }));
    }
    Ok(Json(json!({
        "status": job.state.v2_status(),
        "finished": job.state.is_final(),
        "steps": steps,
    })))
}
