//! API v2 insights (`/insights/{slug}/…`): workflows' and jobs' metrics over the last 90 days,
//! a workflow's recent runs, and flaky tests, computed by `circlet_app::insights` from stored
//! runs and test results. Reads: anyone who may read the project's builds.

use super::build_json::iso;
use super::openapi::SlugParam;
use super::{ApiQuery, Page};
use crate::error::{ApiError, MessageBody};
use crate::route::RouteParams;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use circlet_app::Caller;
use circlet_app::insights::{self, DurationMetrics, Insights, Metrics, WINDOW};
use circlet_core::scope::Action;
use circlet_store::builds::WorkflowRun;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// `?branch=&all-branches=`: which branch's runs (default: the project's default branch).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BranchQuery {
    /// Only runs of this branch [default: the project's default branch].
    branch: Option<String>,
    /// Runs of every branch (and tags). CircleCI's `reporting-window` is accepted and
    /// ignored: the window is always the last 90 days.
    #[serde(rename = "all-branches", default)]
    all_branches: bool,
}

/// `{name}`: a workflow's name.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[expect(dead_code, reason = "describes path parameters for the document only")]
pub struct WorkflowNamePath {
    /// The workflow's name in the config.
    #[param(example = "main")]
    name: String,
}

/// Durations' spread, in seconds.
#[derive(Serialize, ToSchema)]
pub struct DurationMetricsJson {
    min: i64,
    mean: i64,
    median: i64,
    p95: i64,
    max: i64,
    standard_deviation: f64,
}

impl From<DurationMetrics> for DurationMetricsJson {
    fn from(d: DurationMetrics) -> Self {
        DurationMetricsJson {
            min: d.min,
            mean: d.mean,
            median: d.median,
            p95: d.p95,
            max: d.max,
            standard_deviation: d.standard_deviation,
        }
    }
}

/// A workflow's or a job's metrics over the window.
#[derive(Serialize, ToSchema)]
pub struct MetricsJson {
    total_runs: i64,
    successful_runs: i64,
    failed_runs: i64,
    success_rate: f64,
    /// Runs per day.
    throughput: f64,
    /// Mean seconds from a failure to the next success.
    mttr: i64,
    total_recoveries: i64,
    /// Always 0: circlet counts no credits.
    total_credits_used: i64,
    duration_metrics: DurationMetricsJson,
}

impl From<Metrics> for MetricsJson {
    fn from(m: Metrics) -> Self {
        MetricsJson {
            total_runs: m.total_runs,
            successful_runs: m.successful_runs,
            failed_runs: m.failed_runs,
            success_rate: m.success_rate,
            throughput: m.throughput,
            mttr: m.mttr,
            total_recoveries: m.total_recoveries,
            total_credits_used: 0,
            duration_metrics: m.duration_metrics.into(),
        }
    }
}

/// One workflow's (or job's) summary.
#[derive(Serialize, ToSchema)]
pub struct SummaryJson {
    name: String,
    metrics: MetricsJson,
    window_start: String,
    window_end: String,
    /// The project's id (workflows only).
    #[serde(skip_serializing_if = "Option::is_none")]
    project_id: Option<Uuid>,
}

/// One run of a workflow.
#[derive(Serialize, ToSchema)]
pub struct WorkflowRunJson {
    id: Uuid,
    /// Its pipeline's branch; absent for a tag.
    #[serde(skip_serializing_if = "Option::is_none")]
    branch: Option<String>,
    /// Seconds.
    duration: i64,
    created_at: String,
    stopped_at: String,
    /// Always 0: circlet counts no credits.
    credits_used: i64,
    /// `success`, `failed`, `error`, `canceled` or `unauthorized`.
    status: String,
    is_approval: bool,
}

/// One flaky test.
#[derive(Serialize, ToSchema)]
pub struct FlakyTestJson {
    classname: String,
    test_name: String,
    /// The file, when the report named one.
    #[serde(skip_serializing_if = "Option::is_none")]
    file: Option<String>,
    /// How many failures were on a commit where the test also passed.
    times_flaked: i64,
    /// Seconds spent in those failures.
    time_wasted: f64,
    job_name: String,
    job_number: i64,
    workflow_id: Uuid,
    workflow_name: String,
    workflow_created_at: String,
    pipeline_number: i64,
    /// Always `unknown`: test reports do not say.
    source: String,
}

/// `GET /insights/{slug}/flaky-tests`'s reply.
#[derive(Serialize, ToSchema)]
pub struct FlakyTestsJson {
    flaky_tests: Vec<FlakyTestJson>,
    total_flaky_tests: i64,
}

async fn door<'a>(
    state: &'a AppState,
    caller: &Caller,
    params: &RouteParams,
) -> Result<Insights<'a>, ApiError> {
    caller.require_user_unless_read(Action::ReadBuilds)?;
    let slug = params.v2_project(&state.app).await?;
    Ok(state.app.insights(caller, &slug).await?)
}

/// The runs `q` asks for: one branch (the project's default unless named) or all.
async fn runs(door: &Insights<'_>, q: &BranchQuery) -> Result<Vec<WorkflowRun>, ApiError> {
    let default = door.project.default_branch.as_str().to_owned();
    let branch = match (&q.branch, q.all_branches) {
        (_, true) => None,
        (Some(b), false) => Some(b.clone()),
        (None, false) => Some(default),
    };
    Ok(door.workflow_runs(branch.as_deref()).await?)
}

fn window() -> (String, String) {
    let end = OffsetDateTime::now_utc();
    (iso(end - WINDOW), iso(end))
}

fn window_days() -> i64 {
    WINDOW.whole_days()
}

/// `GET /insights/{slug}/workflows`: each workflow's metrics over the last 90 days, by name.
#[utoipa::path(get, path = "/api/v2/insights/{slug}/workflows", operation_id = "get_project_workflow_metrics", tag = "insights",
    params(SlugParam, BranchQuery),
    responses(
        (status = 200, description = "Each workflow's metrics, by name, in one page", body = Page<SummaryJson>),
        (status = "4XX", description = "Refused, invalid or not found", body = MessageBody)))]
pub async fn workflows(
    State(state): State<AppState>,
    caller: Caller,
    params: RouteParams,
    ApiQuery(q): ApiQuery<BranchQuery>,
) -> Result<Json<Page<SummaryJson>>, ApiError> {
    let door = door(&state, &caller, &params).await?;
    let mut by_name: BTreeMap<String, Vec<insights::Run>> = BTreeMap::new();
    for run in runs(&door, &q).await? {
        let (r, _) = insights::workflow_run(&run);
        by_name.entry(run.workflow.name).or_default().push(r);
    }
    let (start, end) = window();
    let items = by_name
        .into_iter()
        .map(|(name, runs)| SummaryJson {
            name,
            metrics: Metrics::of(&runs, window_days()).into(),
            window_start: start.clone(),
            window_end: end.clone(),
            project_id: Some(door.project.uuid),
        })
        .collect();
    Ok(Json(Page {
        items,
        next_page_token: None,
    }))
}

/// `GET /insights/{slug}/workflows/{name}`: that workflow's finished runs of the last 90 days,
/// newest first.
#[utoipa::path(get, path = "/api/v2/insights/{slug}/workflows/{name}", operation_id = "get_project_workflow_runs", tag = "insights",
    params(SlugParam, WorkflowNamePath, BranchQuery),
    responses(
        (status = 200, description = "The workflow's finished runs, newest first, in one page", body = Page<WorkflowRunJson>),
        (status = "4XX", description = "Refused, invalid or not found", body = MessageBody)))]
pub async fn workflow_runs(
    State(state): State<AppState>,
    caller: Caller,
    params: RouteParams,
    ApiQuery(q): ApiQuery<BranchQuery>,
) -> Result<Json<Page<WorkflowRunJson>>, ApiError> {
    let door = door(&state, &caller, &params).await?;
    let name = params.get("name").unwrap_or_default();
    let mut items: Vec<WorkflowRunJson> = runs(&door, &q)
        .await?
        .iter()
        .filter(|run| run.workflow.name == name)
        .filter_map(|run| {
            let (r, status) = insights::workflow_run(run);
            let stopped = r.stopped_at?;
            Some(WorkflowRunJson {
                id: run.workflow.uuid,
                branch: run.branch.clone(),
                duration: r.duration_secs.unwrap_or(0),
                created_at: iso(r.created_at),
                stopped_at: iso(stopped),
                credits_used: 0,
                status: status.to_owned(),
                is_approval: run.jobs.iter().any(|j| j.approval),
            })
        })
        .collect();
    items.reverse();
    Ok(Json(Page {
        items,
        next_page_token: None,
    }))
}

/// `GET /insights/{slug}/workflows/{name}/jobs`: the metrics of that workflow's jobs, by name.
#[utoipa::path(get, path = "/api/v2/insights/{slug}/workflows/{name}/jobs", operation_id = "get_project_workflow_job_metrics", tag = "insights",
    params(SlugParam, WorkflowNamePath, BranchQuery),
    responses(
        (status = 200, description = "Each job's metrics, by name, in one page", body = Page<SummaryJson>),
        (status = "4XX", description = "Refused, invalid or not found", body = MessageBody)))]
pub async fn workflow_jobs(
    State(state): State<AppState>,
    caller: Caller,
    params: RouteParams,
    ApiQuery(q): ApiQuery<BranchQuery>,
) -> Result<Json<Page<SummaryJson>>, ApiError> {
    let door = door(&state, &caller, &params).await?;
    let name = params.get("name").unwrap_or_default();
    let mut by_job: BTreeMap<String, Vec<insights::Run>> = BTreeMap::new();
    for run in runs(&door, &q).await? {
        if run.workflow.name != name {
            continue;
        }
        for job in run.jobs.iter().filter(|j| !j.approval) {
            by_job
                .entry(job.name.clone())
                .or_default()
                .push(insights::job_run(job));
        }
    }
    let (start, end) = window();
    let items = by_job
        .into_iter()
        .map(|(name, runs)| SummaryJson {
            name,
            metrics: Metrics::of(&runs, window_days()).into(),
            window_start: start.clone(),
            window_end: end.clone(),
            project_id: None,
        })
        .collect();
    Ok(Json(Page {
        items,
        next_page_token: None,
    }))
}

/// `GET /insights/{slug}/flaky-tests`: tests that both passed and failed on one commit in the
/// last 90 days, most flaky first.
#[utoipa::path(get, path = "/api/v2/insights/{slug}/flaky-tests", operation_id = "get_flaky_tests", tag = "insights",
    params(SlugParam),
    responses(
        (status = 200, description = "The flaky tests, most flaky first", body = FlakyTestsJson),
        (status = "4XX", description = "Refused, invalid or not found", body = MessageBody)))]
pub async fn flaky_tests(
    State(state): State<AppState>,
    caller: Caller,
    params: RouteParams,
) -> Result<Json<FlakyTestsJson>, ApiError> {
    let door = door(&state, &caller, &params).await?;
    let (flaky, workflows) = door.flaky_tests().await?;
    let flaky_tests: Vec<FlakyTestJson> = flaky
        .into_iter()
        .filter_map(|f| {
            let run = workflows.iter().find(|w| w.workflow.id == f.workflow_id)?;
            Some(FlakyTestJson {
                classname: f.classname,
                test_name: f.test_name,
                file: f.file,
                times_flaked: f.times_flaked,
                time_wasted: f.time_wasted,
                job_name: f.job_name,
                job_number: f.job_number,
                workflow_id: run.workflow.uuid,
                workflow_name: run.workflow.name.clone(),
                workflow_created_at: iso(run.workflow.created_at),
                pipeline_number: run.pipeline_number,
                source: "unknown".into(),
            })
        })
        .collect();
    Ok(Json(FlakyTestsJson {
        total_flaky_tests: flaky_tests.len() as i64,
        flaky_tests,
    }))
}
