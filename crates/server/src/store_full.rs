//! When the database's disk is full.
//!
//! - A request whose write the store refused for lack of space answers 507 with a message
//!   saying so ([`ApiError::StoreFull`] as JSON, `PageError::StoreFull` as a page), and the
//!   response carries [`Noticed`].
//! - [`watch`] sees that mark on every response: from then on `/readyz` answers 503 until a
//!   probe write succeeds ([`ready`]). Remembering costs nothing while all is well (readiness
//!   stays a `SELECT 1`), and probing only while something was noticed means readiness comes
//!   back as soon as space does, without a timer that could call a still-full store ready. A
//!   store that fills up while nothing writes is noticed at the first refused write.
//! - A running job that lost a write (a heartbeat, a step, its output or tests, its end) is
//!   remembered ([`lost_write`]); once writes succeed again, the reaper's loop ends it
//!   `infrastructure_fail` with a note in its output saying why
//!   ([`end_jobs_that_lost_writes`]): its output has holes, or its result never arrived, so it
//!   cannot be trusted, and it must not stay `running`. Should the server stop first, the
//!   reaper ends the job anyway once its heartbeats are older than the runner timeout.

use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use circlet_core::build_state::JobState;
use circlet_store::StoreError;
use std::collections::BTreeSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

/// A response extension: the store refused this request's write because its disk is full.
#[derive(Debug, Clone, Copy)]
pub struct Noticed;

/// What the server remembers of a full database disk.
#[derive(Debug, Default)]
pub struct StoreFull {
    /// A write was refused and none has succeeded since.
    noticed: AtomicBool,
    /// Running jobs that lost a write: (job id, the node whose write it was).
    jobs: Mutex<BTreeSet<(i64, i64)>>,
}

/// The step name of the note written into a job that had not reported any step yet.
pub const NOTE_STEP: &str = "Server storage full";

/// What a job ended for lack of space says in its output.
pub const NOTE: &str = "\n[circlet: the server's database storage was full while this job ran, so \
some of its output, heartbeats or its result could not be stored. The job was ended as an \
infrastructure failure once space was available again; run it again.]\n";

impl StoreFull {
    /// Remembers that a write was refused for lack of space.
    pub fn notice(&self) {
        if !self.noticed.swap(true, Ordering::SeqCst) {
            tracing::error!(
                "the database's storage is full: writes fail with 507 and /readyz answers 503 \
                 until space is freed"
            );
        }
    }

    fn noticed(&self) -> bool {
        self.noticed.load(Ordering::SeqCst)
    }

    fn writable_again(&self) {
        if self.noticed.swap(false, Ordering::SeqCst) {
            tracing::warn!("the database takes writes again");
        }
    }

    fn jobs(&self) -> std::sync::MutexGuard<'_, BTreeSet<(i64, i64)>> {
        self.jobs.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Middleware in front of every route: remembers a response that says the disk is full.
pub async fn watch(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    if response.extensions().get::<Noticed>().is_some() {
        state.store_full.notice();
    }
    response
}

/// Whether the server is ready: the store answers and, once a full disk was noticed, takes a
/// write again. 503 otherwise.
pub async fn ready(state: &AppState) -> Result<(), ApiError> {
    let outcome = if state.store_full.noticed() {
        state.app.store.probe_write().await
    } else {
        state.app.store.ping().await
    };
    match outcome {
        Ok(()) => {
            state.store_full.writable_again();
            Ok(())
        }
        Err(StoreError::StorageFull(_)) => Err(ApiError::Rejected(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "Not ready: the database's storage is full".into(),
        )),
        Err(e) => {
            tracing::warn!("readiness check failed: {e}");
            Err(ApiError::Unavailable)
        }
    }
}

/// `e` unchanged; when it says the disk is full, node `node` of job `job_id` is remembered as
/// having lost a write (see the module's documentation).
pub fn lost_write(state: &AppState, (job_id, node): (i64, i64), e: ApiError) -> ApiError {
    if let ApiError::StoreFull = e {
        state.store_full.jobs().insert((job_id, node));
    }
    e
}

/// Ends the jobs that lost a write, with a note, if the store takes writes now. Called by the
/// reaper's loop; a job that ended meanwhile is only forgotten.
pub async fn end_jobs_that_lost_writes(state: &AppState) {
    let ids: Vec<(i64, i64)> = state.store_full.jobs().iter().copied().collect();
    for id in ids {
        match end_one(state, id).await {
            Ok(()) => {
                state.store_full.jobs().remove(&id);
            }
            Err(StoreError::StorageFull(_)) => {
                state.store_full.notice();
                return;
            }
            Err(e) => {
                tracing::warn!(job = id.0, "could not end a job that lost a write: {e}");
                return;
            }
        }
    }
}

/// Writes the note into the node that lost a write and ends the whole job: one node's
/// missing output or result leaves the job's result unknown.
async fn end_one(state: &AppState, (id, node): (i64, i64)) -> Result<(), StoreError> {
    let builds = state.app.store.builds();
    match builds.job_by_id(id).await? {
        Some(job) if job.state == JobState::Running => {}
        _ => return Ok(()),
    }
    // The note first: while the disk is still full this fails and nothing changes.
    let idx = match builds.steps(id, node).await?.last() {
        Some(step) => step.idx,
        None => {
            builds.start_step(id, node, 0, NOTE_STEP).await?;
            builds
                .finish_step(id, node, 0, JobState::InfrastructureFail.as_str(), None)
                .await?;
            0
        }
    };
    let seq = builds.next_output_seq(id, node, idx).await?;
    builds.append_output(id, node, idx, seq, NOTE).await?;
    if builds.finish(id, JobState::InfrastructureFail).await? {
        tracing::warn!(
            job = id,
            "ended a job as infrastructure_fail: some of its writes were refused while the database's storage was full"
        );
        state.app.work_available.notify_waiters();
    }
    Ok(())
}
