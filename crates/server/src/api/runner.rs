//! The runner protocol (`/api/runner/v1/…`, see `circlet_core::runner_protocol`): runners claim
//! jobs, heartbeat, stream step output and report how steps and jobs ended.

use super::{ApiJson, RawBody};
use crate::artifacts;
use crate::auth::client::ClientIp;
use crate::auth::runner::Runner;
use crate::builds::dispatch;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store_full::lost_write;
use axum::Json;
use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use circlet_app::AppError;
use circlet_app::builds::leak_guard::{self, Place};
use circlet_core::artifact_path::ArtifactPath;
use circlet_core::build_state::JobState;
use circlet_core::runner_protocol::{
    HeartbeatReply, JobFinished, MAX_CLAIM_WAIT_SECS, MAX_OUTPUT_CHUNK, Outcome,
    RUNNER_NAME_HEADER, StepFinished, StepStarted, TestResults,
};
use circlet_store::builds::NodeEnd;
use circlet_store::{JobRecord, Project, TestRecord};
use serde::Deserialize;
use std::time::Duration;

/// `?wait=` of a claim.
#[derive(Debug, Deserialize)]
pub struct ClaimQuery {
    wait: Option<u64>,
}

/// `POST /claim`: the next queued job of the runner's resource class (or the default pool),
/// waiting up to `wait` seconds for one (204 if none came). Each claim is the runner's contact:
/// the name (`X-Runner-Name`) and version (`User-Agent`) it gives and its address are kept for
/// Admin → Runners.
pub async fn claim(
    State(state): State<AppState>,
    runner: Runner,
    ClientIp(address): ClientIp,
    headers: HeaderMap,
    Query(q): Query<ClaimQuery>,
) -> Result<Response, ApiError> {
    let wait = Duration::from_secs(q.wait.unwrap_or(0).min(MAX_CLAIM_WAIT_SECS));
    let said = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(|v| {
                v.chars()
                    .filter(|c| !c.is_control())
                    .take(100)
                    .collect::<String>()
            })
            .filter(|v| !v.trim().is_empty())
    };
    let name = said(RUNNER_NAME_HEADER).unwrap_or_else(|| runner.token.name.clone());
    let version = said("user-agent").unwrap_or_else(|| "unknown".into());
    state
        .app
        .store
        .runners()
        .touch(runner.token.id, &name, &version, &address.to_string())
        .await?;
    match dispatch::claim(&state, &runner, wait).await? {
        Some(job) => Ok(Json(job).into_response()),
        None => Ok(StatusCode::NO_CONTENT.into_response()),
    }
}

/// A job's node that a runner holds, with its job.
pub(crate) struct Held {
    /// The job.
    pub(crate) job: JobRecord,
    /// The node's index.
    pub(crate) node: i64,
}

impl Held {
    /// The job and node, for [`lost_write`].
    fn at(&self) -> (i64, i64) {
        (self.job.id, self.node)
    }
}

/// The running node `id` (see `ClaimedJob::id`) if this runner holds it; 409 otherwise (ended,
/// canceled, reaped), so a runner that lost its job stops.
pub(crate) async fn held(state: &AppState, runner: &Runner, id: &str) -> Result<Held, ApiError> {
    let missing = || ApiError::NotFound("No such job".into());
    let uuid = uuid::Uuid::parse_str(id).map_err(|_| missing())?;
    let builds = state.app.store.builds();
    let node = builds.node_by_uuid(uuid).await?.ok_or_else(missing)?;
    let job = builds.job_by_id(node.job_id).await?.ok_or_else(missing)?;
    if node.runner_id != Some(runner.token.id)
        || node.state != JobState::Running
        || job.state != JobState::Running
    {
        return Err(ApiError::Conflict(
            "This job is no longer held by this runner (it ended, was canceled or timed out)"
                .into(),
        ));
    }
    Ok(Held {
        job,
        node: node.index,
    })
}

/// `POST /jobs/{id}/heartbeat`: keeps the job alive; says whether a user canceled it.
pub async fn heartbeat(
    State(state): State<AppState>,
    runner: Runner,
    Path(id): Path<String>,
) -> Result<Json<HeartbeatReply>, ApiError> {
    let held = held(&state, &runner, &id).await?;
    match state
        .app
        .store
        .builds()
        .heartbeat(held.job.id, held.node, runner.token.id)
        .await
        .map_err(|e| lost_write(&state, held.at(), e.into()))?
    {
        Some(cancel) => Ok(Json(HeartbeatReply { cancel })),
        None => Err(ApiError::Conflict(
            "This job is no longer held by this runner".into(),
        )),
    }
}

/// `POST /jobs/{id}/steps`: a step began.
pub async fn step_started(
    State(state): State<AppState>,
    runner: Runner,
    Path(id): Path<String>,
    ApiJson(step): ApiJson<StepStarted>,
) -> Result<StatusCode, ApiError> {
    let held = held(&state, &runner, &id).await?;
    let job = &held.job;
    // A `run` step without a name is named after its command: a token written in the command
    // is revoked here and stored masked, like one printed in the output. The command itself
    // is shown (v1.1 `bash_command`) from the job's definition, masked when shown.
    let project = project_of(&state, job).await?;
    let place = Place::Step(job.build_num);
    let stored = async {
        let name = leak_guard::scrub(&state.app, &project, place, &step.name).await?;
        let name: String = name.chars().take(1000).collect();
        if let Some(command) = &step.command {
            leak_guard::scrub(&state.app, &project, place, command).await?;
        }
        state
            .app
            .store
            .builds()
            .start_step(job.id, held.node, i64::from(step.index), &name)
            .await?;
        Ok(())
    };
    stored.await.map_err(|e| lost_write(&state, held.at(), e))?;
    Ok(StatusCode::NO_CONTENT)
}

/// The most output one step keeps; what comes after is dropped, with one note saying so.
pub const MAX_STEP_OUTPUT: usize = 64 * 1024 * 1024;

/// The note stored once when a step's output reaches [`MAX_STEP_OUTPUT`].
const TRUNCATED: &str =
    "\n[circlet: this step printed more than 64 MiB; the rest of its output was dropped]\n";

/// The most test cases one job keeps.
pub const MAX_TESTS_PER_JOB: i64 = 100_000;

/// `?seq=` of an output chunk: chunks of a step count from 1; a chunk sent twice is kept once.
#[derive(Debug, Deserialize)]
pub struct OutputQuery {
    seq: Option<i64>,
}

/// `POST /jobs/{id}/steps/{index}/output`: a chunk of a step's output, stored with every
/// circlet token masked (and revoked, see the leak guard).
pub async fn output(
    State(state): State<AppState>,
    runner: Runner,
    Path((id, index)): Path<(String, u32)>,
    Query(q): Query<OutputQuery>,
    RawBody(body): RawBody,
) -> Result<StatusCode, ApiError> {
    let held = held(&state, &runner, &id).await?;
    let body = String::from_utf8(body.to_vec())
        .map_err(|_| ApiError::Invalid("Output must be UTF-8 text".into()))?;
    if body.len() > MAX_OUTPUT_CHUNK {
        return Err(ApiError::Rejected(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("An output chunk may be at most {MAX_OUTPUT_CHUNK} bytes"),
        ));
    }
    let project = project_of(&state, &held.job).await?;
    store_output(&state, &project, &held, index, q.seq, &body)
        .await
        .map_err(|e| lost_write(&state, held.at(), e))?;
    Ok(StatusCode::NO_CONTENT)
}

/// Stores one chunk of step `index`'s output (see [`output`]).
async fn store_output(
    state: &AppState,
    project: &Project,
    held: &Held,
    index: u32,
    seq: Option<i64>,
    body: &str,
) -> Result<(), ApiError> {
    let builds = state.app.store.builds();
    let (job, node) = (&held.job, held.node);
    let idx = i64::from(index);
    let seq = match seq {
        Some(seq) if seq >= 1 => seq,
        Some(_) => return Err(ApiError::Invalid("seq counts from 1".into())),
        None => builds.next_output_seq(job.id, node, idx).await?,
    };
    // A step's stored output is bounded, so one job cannot fill the server's disk.
    let stored = builds.output_bytes(job.id, node, idx).await?;
    let previous = builds.output_chunk(job.id, node, idx, seq - 1).await?;
    if usize::try_from(stored).unwrap_or(usize::MAX) + body.len() > MAX_STEP_OUTPUT {
        if previous.as_deref() != Some(TRUNCATED) {
            builds
                .append_output(job.id, node, idx, seq, TRUNCATED)
                .await?;
        }
        return Ok(());
    }
    let (remasked, text) = leak_guard::scrub_after(
        &state.app,
        project,
        Place::Output(job.build_num),
        previous.as_deref(),
        body,
    )
    .await?;
    if let Some(before) = remasked {
        builds
            .replace_output_chunk(job.id, node, idx, seq - 1, &before)
            .await?;
    }
    builds.append_output(job.id, node, idx, seq, &text).await?;
    Ok(())
}

/// `POST /jobs/{id}/steps/{index}/finish`: a step ended.
pub async fn step_finished(
    State(state): State<AppState>,
    runner: Runner,
    Path((id, index)): Path<(String, u32)>,
    ApiJson(step): ApiJson<StepFinished>,
) -> Result<StatusCode, ApiError> {
    let held = held(&state, &runner, &id).await?;
    state
        .app
        .store
        .builds()
        .finish_step(
            held.job.id,
            held.node,
            i64::from(index),
            step.outcome.as_str(),
            step.exit_code,
        )
        .await
        .map_err(|e| lost_write(&state, held.at(), e.into()))?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /jobs/{id}/tests`: test cases from `store_test_results`.
pub async fn tests(
    State(state): State<AppState>,
    runner: Runner,
    Path(id): Path<String>,
    ApiJson(results): ApiJson<TestResults>,
) -> Result<StatusCode, ApiError> {
    let held = held(&state, &runner, &id).await?;
    let clip = |s: &str| s.chars().take(10_000).collect::<String>();
    let records: Vec<TestRecord> = results
        .tests
        .iter()
        .map(|t| TestRecord {
            classname: clip(&t.classname),
            name: clip(&t.name),
            file: t.file.as_deref().map(clip),
            result: match t.result.as_str() {
                r @ ("success" | "failure" | "error" | "skipped") => r.to_owned(),
                _ => "error".to_owned(),
            },
            message: t.message.as_deref().map(clip),
            run_time: if t.run_time.is_finite() && t.run_time >= 0.0 {
                t.run_time
            } else {
                0.0
            },
            node_index: held.node,
        })
        .collect();
    let held_already = state.app.store.builds().test_count(held.job.id).await?;
    if held_already + records.len() as i64 > MAX_TESTS_PER_JOB {
        return Err(ApiError::Rejected(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("A job may report at most {MAX_TESTS_PER_JOB} test cases"),
        ));
    }
    state
        .app
        .store
        .builds()
        .add_tests(held.job.id, &records)
        .await
        .map_err(|e| lost_write(&state, held.at(), e.into()))?;
    Ok(StatusCode::NO_CONTENT)
}

/// `PUT /jobs/{id}/artifacts/{*path}`: one file of `store_artifacts`, streamed into the artifact
/// store (see `crate::artifacts::upload`). 400 for a path that could leave the build's prefix,
/// 413 past the per-file or per-build limit (and nothing is kept).
pub async fn artifact(
    State(state): State<AppState>,
    runner: Runner,
    params: Result<Path<(String, String)>, PathRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<StatusCode, ApiError> {
    let Path((id, path)) = params.map_err(|e| ApiError::Invalid(e.body_text()))?;
    let held = held(&state, &runner, &id).await?;
    let path = ArtifactPath::parse(&path)?;
    let project = project_of(&state, &held.job).await?;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    artifacts::upload::receive(
        &state,
        &project,
        (&held.job, held.node),
        path,
        declared,
        body,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /jobs/{id}/timings`: the project's test timings for `circleci tests split`.
pub async fn timings(
    State(state): State<AppState>,
    runner: Runner,
    Path(id): Path<String>,
) -> Result<Json<circlet_core::runner_protocol::TestTimings>, ApiError> {
    let held = held(&state, &runner, &id).await?;
    Ok(Json(state.app.test_timings(&held.job).await?))
}

/// `POST /jobs/{id}/finish`: the node ended; when it was the job's last, the job ends with its
/// nodes' combined result, and jobs that required it are released or given up.
pub async fn finish(
    State(state): State<AppState>,
    runner: Runner,
    Path(id): Path<String>,
    ApiJson(done): ApiJson<JobFinished>,
) -> Result<StatusCode, ApiError> {
    let held = held(&state, &runner, &id).await?;
    let job = &held.job;
    let final_state = match done.outcome {
        Outcome::Success => JobState::Success,
        Outcome::Failed => JobState::Failed,
        Outcome::Timedout => JobState::Timedout,
        Outcome::Canceled => JobState::Canceled,
        Outcome::InfrastructureFail => JobState::InfrastructureFail,
    };
    if let Some(message) = done.message.as_deref().filter(|m| !m.trim().is_empty()) {
        tracing::info!(build_num = job.build_num, node = held.node, outcome = done.outcome.as_str(), %message, "job ended");
    }
    if !state
        .app
        .store
        .builds()
        .finish_node(job.id, held.node, NodeEnd::by(runner.token.id, final_state))
        .await
        .map_err(|e| lost_write(&state, held.at(), e.into()))?
    {
        return Err(ApiError::Conflict(
            "This job is no longer held by this runner".into(),
        ));
    }
    state.app.work_available.notify_waiters();
    Ok(StatusCode::NO_CONTENT)
}

pub(crate) async fn project_of(state: &AppState, job: &JobRecord) -> Result<Project, ApiError> {
    state
        .app
        .store
        .projects()
        .by_id(job.project_id)
        .await?
        .ok_or_else(|| AppError::project_not_found().into())
}
