//! Build pages: the project's pipelines (on the project page), one build with its steps and
//! live output, retry and cancel, and the "Trigger pipeline" form.

use super::projects::{SlugPath, project_url};
use super::{Chrome, UiForm, query_param, render, render_with, when};
use crate::auth::csrf::CsrfToken;
use crate::auth::session::{CurrentUser, MaybeUser};
use crate::error::PageError;
use crate::state::AppState;
use askama::Template;
use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use circlet_app::Caller;
use circlet_app::access::ProjectAccess;
use circlet_app::builds::git::Target;
use circlet_app::builds::masks::ProjectMasks;
use circlet_app::builds::trigger::{self, Pipelines, TriggerRequest};
use circlet_core::ProjectSlug;
use circlet_core::build_state::JobState;
use circlet_core::ci_config::ParamValue;
use circlet_core::scope::Action;
use circlet_store::{JobRecord, PipelineRecord, Project, User};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;

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
    /// Config errors, if it could not run.
    pub errors: Vec<String>,
    /// Its workflows.
    pub workflows: Vec<WorkflowView>,
}

/// One workflow of a pipeline.
pub struct WorkflowView {
    /// Its name.
    pub name: String,
    /// v2 status (`running`, `success`, …).
    pub status: &'static str,
    /// Its jobs.
    pub jobs: Vec<JobView>,
}

/// One job, as a link with its status.
pub struct JobView {
    /// Build number.
    pub build_num: i64,
    /// Job name.
    pub name: String,
    /// v2 status.
    pub status: &'static str,
}

fn job_view(j: &JobRecord) -> JobView {
    JobView {
        build_num: j.build_num,
        name: j.name.clone(),
        status: j.state.v2_status(),
    }
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
        let mut workflows = Vec::new();
        for w in builds.workflows(p.id).await? {
            let jobs = builds.jobs_of_workflow(w.id).await?;
            let states: Vec<_> = jobs.iter().map(|j| j.state).collect();
            workflows.push(WorkflowView {
                name: w.name.clone(),
                status: circlet_core::build_state::workflow_status(&states, w.canceled),
                jobs: jobs.iter().map(job_view).collect(),
            });
        }
        out.push(pipeline_view(&p, workflows));
    }
    Ok(out)
}

fn pipeline_view(p: &PipelineRecord, workflows: Vec<WorkflowView>) -> PipelineView {
    let commit = crate::api::build_json::commit(p);
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
        errors: serde_json::from_str(&p.errors).unwrap_or_default(),
        workflows,
    }
}

/// The build number in a page path.
#[derive(Deserialize)]
pub struct JobPath {
    vcs: String,
    org: String,
    repo: String,
    num: String,
}

impl JobPath {
    fn slug(&self) -> Result<ProjectSlug, PageError> {
        Ok(ProjectSlug::from_parts(&self.vcs, &self.org, &self.repo)?)
    }

    fn num(&self) -> Result<i64, PageError> {
        self.num
            .parse::<i64>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| PageError::not_found("There is no such build."))
    }
}

/// The URL of a build's page.
pub fn job_url(slug: &ProjectSlug, build_num: i64) -> String {
    format!("/projects/{slug}/jobs/{build_num}")
}

async fn load_job(
    state: &AppState,
    user: Option<&User>,
    path: &JobPath,
    action: Action,
) -> Result<(ProjectAccess, JobRecord), PageError> {
    let slug = path.slug()?;
    let num = path.num()?;
    let a = super::projects::access(state, user, &slug, action, &job_url(&slug, num)).await?;
    let job = state
        .app
        .store
        .builds()
        .job_by_num(a.project.id, num)
        .await?
        .ok_or_else(|| PageError::not_found("There is no such build."))?;
    Ok((a, job))
}

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
    let states: Vec<JobState> = (0..job.parallelism)
        .map(|i| match nodes.iter().find(|n| n.index == i) {
            Some(n) => n.state,
            None if job.state.is_final() => job.state,
            None => JobState::Queued,
        })
        .collect();
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
    project: &Project,
    job: &JobRecord,
    node: i64,
) -> Result<Vec<StepView>, PageError> {
    let builds = state.app.store.builds();
    let mut out = Vec::new();
    let masks = ProjectMasks::load(&state.app, project).await?;
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
    let workflow_name = builds
        .workflows(pipeline.id)
        .await?
        .into_iter()
        .find(|w| w.id == job.workflow_id)
        .map(|w| w.name)
        .unwrap_or_default();
    let wanted = query_param(query.as_deref(), "node");
    let (node, runs) = runs(&state, &job, wanted.as_deref()).await?;
    let steps = steps(&state, &a.project, &job, node).await?;
    let artifacts = artifact_views(&state, &a.project, &job).await?;
    let dash = |t: Option<time::OffsetDateTime>| t.as_ref().map_or("—".to_owned(), when);
    let waiting = state.app.waiting_note(&job).await?;
    render(&BuildPage {
        waiting,
        node,
        runs,
        chrome: Chrome::new(user, csrf),
        artifacts,
        can_write: a.allows(Action::Trigger),
        status: job.state.v2_status(),
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

/// The build a page's path names, for a user who may start pipelines in its project.
async fn writable_job<'a>(
    state: &'a AppState,
    user: &User,
    path: &JobPath,
) -> Result<(Pipelines<'a>, JobRecord), PageError> {
    let caller = Caller::visitor(Some(user));
    let pipelines = state.app.pipelines(&caller, &path.slug()?).await?;
    let job = pipelines
        .job(path.num()?, "There is no such build.")
        .await?;
    Ok((pipelines, job))
}

/// `POST …/jobs/{num}/retry`: a new build of the same job; goes to its page.
pub async fn retry(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(path): Path<JobPath>,
) -> Result<Response, PageError> {
    let (pipelines, job) = writable_job(&state, &user, &path).await?;
    let new = pipelines.retry(&job).await?;
    Ok(Redirect::to(&job_url(&pipelines.project.slug, new.build_num)).into_response())
}

#[derive(Template)]
#[template(path = "pipeline_config.html")]
struct PipelineConfigPage {
    chrome: Chrome,
    project: Project,
    number: i64,
    target: String,
    errors: Vec<String>,
    source: Option<String>,
    compiled: String,
}

/// `GET /projects/{vcs}/{org}/{repo}/pipelines/{number}/config`: the pipeline's
/// `.circleci/config.yml` as read at its revision, next to what it compiled to.
pub async fn pipeline_config(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    csrf: CsrfToken,
    Path(path): Path<JobPath>,
) -> Result<Html<String>, PageError> {
    let caller = Caller::visitor(user.as_ref());
    let number = path
        .num
        .parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| PageError::not_found("There is no such pipeline."))?;
    let (project, pipeline, config) = state
        .app
        .pipeline_config(&caller, &path.slug()?, number)
        .await?;
    let target = match (&pipeline.branch, &pipeline.tag) {
        (_, Some(t)) => format!("tag {t}"),
        (Some(b), None) => format!("branch {b}"),
        (None, None) => String::new(),
    };
    let (source, compiled) = match config {
        Some((s, c)) => (Some(s), c),
        None => (None, String::new()),
    };
    render(&PipelineConfigPage {
        chrome: Chrome::new(user, csrf),
        project,
        number,
        target,
        errors: serde_json::from_str(&pipeline.errors).unwrap_or_default(),
        source,
        compiled,
    })
}

/// `POST …/jobs/{num}/approve`: approves an approval job on hold; its workflow goes on.
pub async fn approve(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(path): Path<JobPath>,
) -> Result<Response, PageError> {
    let (pipelines, job) = writable_job(&state, &user, &path).await?;
    pipelines
        .approve(std::slice::from_ref(&job), job.uuid)
        .await?;
    Ok(Redirect::to(&job_url(&pipelines.project.slug, job.build_num)).into_response())
}

/// `POST …/jobs/{num}/cancel`: stops the build (a running one within seconds).
pub async fn cancel(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(path): Path<JobPath>,
) -> Result<Response, PageError> {
    let (pipelines, job) = writable_job(&state, &user, &path).await?;
    pipelines.cancel(&job).await?;
    Ok(Redirect::to(&job_url(&pipelines.project.slug, job.build_num)).into_response())
}

#[derive(Template)]
#[template(path = "trigger.html")]
struct TriggerPage {
    chrome: Chrome,
    project: Project,
    form: TriggerForm,
    error: Option<String>,
}

/// The "Trigger pipeline" form.
#[derive(Deserialize, Default)]
pub struct TriggerForm {
    /// `branch` or `tag`.
    kind: String,
    /// The branch or tag name.
    name: String,
    /// `name=value` lines.
    parameters: String,
}

/// `GET /projects/{vcs}/{org}/{repo}/trigger`.
pub async fn trigger_form(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    csrf: CsrfToken,
    SlugPath(slug): SlugPath,
) -> Result<Html<String>, PageError> {
    let project = super::projects::for_user(&state, &user, &slug, Action::Trigger).await?;
    let form = TriggerForm {
        kind: "branch".into(),
        name: project.default_branch.as_str().to_owned(),
        parameters: String::new(),
    };
    render(&TriggerPage {
        chrome: Chrome::new(Some(user), csrf),
        project,
        form,
        error: None,
    })
}

/// Reads `name=value` lines: `true`/`false` are booleans, whole numbers integers, the rest text.
fn read_parameters(raw: &str) -> Result<BTreeMap<String, ParamValue>, String> {
    let mut out = BTreeMap::new();
    for (n, line) in raw.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let Some((name, value)) = line.split_once('=') else {
            return Err(format!(
                "Parameter line {} must look like name=value",
                n + 1
            ));
        };
        let value = value.trim();
        let v = match value {
            "true" => ParamValue::Bool(true),
            "false" => ParamValue::Bool(false),
            _ => value
                .parse::<i64>()
                .map(ParamValue::Int)
                .unwrap_or_else(|_| ParamValue::Str(value.to_owned())),
        };
        out.insert(name.trim().to_owned(), v);
    }
    Ok(out)
}

/// `POST /projects/{vcs}/{org}/{repo}/trigger`: runs a pipeline and shows the project page.
pub async fn trigger_submit(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    csrf: CsrfToken,
    SlugPath(slug): SlugPath,
    UiForm(form): UiForm<TriggerForm>,
) -> Result<Response, PageError> {
    let pipelines = state
        .app
        .pipelines(&Caller::visitor(Some(&user)), &slug)
        .await?;
    let project = &pipelines.project;
    let outcome = async {
        let parameters = read_parameters(&form.parameters).map_err(PageError::invalid)?;
        trigger::check_parameters(&parameters)?;
        let name = form.name.trim();
        let target = match form.kind.as_str() {
            "tag" => trigger::target(None, Some(name))?,
            _ => trigger::target(Some(name), None)?,
        }
        .unwrap_or(Target::Branch(project.default_branch.as_str().to_owned()));
        let req = TriggerRequest {
            parameters,
            trigger_type: "explicit",
            ..TriggerRequest::new(target)
        };
        Ok::<_, PageError>(pipelines.trigger(req).await?)
    }
    .await;
    match outcome {
        Ok(_) => Ok(Redirect::to(&project_url(&project.slug)).into_response()),
        Err(PageError::Page {
            status, message, ..
        }) if status.is_client_error() => {
            let page = TriggerPage {
                chrome: Chrome::new(Some(user), csrf),
                project: pipelines.project,
                form,
                error: Some(message),
            };
            Ok(render_with(StatusCode::BAD_REQUEST, &page)?.into_response())
        }
        Err(other) => Err(other),
    }
}
