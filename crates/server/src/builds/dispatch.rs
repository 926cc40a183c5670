//! Handing jobs to runners: the long-poll claim and the reaper that ends jobs whose runner went
//! silent. What a claimed job carries is `App::claimed_job` (`circlet_app::builds::job_env`).

use crate::error::ApiError;
use crate::state::AppState;
use circlet_core::runner_protocol::ClaimedJob;
use std::time::Duration;
use tokio::time::Instant;

/// How often a waiting claim looks at the queue even without a local wake-up (another replica
/// may have queued the work).
const POLL_EVERY: Duration = Duration::from_millis(500);

/// Waits up to `wait` for a queued job and hands it to runner `runner_id`.
pub async fn claim(
    state: &AppState,
    runner: &crate::auth::runner::Runner,
    wait: Duration,
) -> Result<Option<ClaimedJob>, ApiError> {
    let deadline = Instant::now() + wait;
    let class = state.app.store.runners().class_of(runner.token.id).await?;
    let mut stopping = state.stopping.subscribe();
    let mut first = true;
    loop {
        let notified = state.app.work_available.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        // A token revoked while its claim waited gets no job (a leaked one above all).
        if !std::mem::take(&mut first) && !runner.still_valid(state).await? {
            return Err(ApiError::Unauthorized("Invalid token provided.".into()));
        }
        if let Some((job, node)) = state
            .app
            .store
            .builds()
            .claim_next(runner.token.id, class.as_deref())
            .await?
        {
            if node.index + 1 < job.parallelism {
                // More nodes of this job wait: wake the other runners' claims at once.
                state.app.work_available.notify_waiters();
            }
            match state.app.claimed_job(job, &node).await? {
                Some(claimed) => return Ok(Some(claimed)),
                // It ended without running (its contexts were refused): the next one.
                None => continue,
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || *stopping.borrow() {
            return Ok(None);
        }
        tokio::select! {
            _ = notified => {}
            _ = stopping.changed() => {}
            _ = tokio::time::sleep(left.min(POLL_EVERY)) => {}
        }
    }
}

/// Every few seconds, ends running job nodes whose runner stopped heartbeating.
pub async fn reap_every(state: AppState) {
    let timeout = state.app.config.runner_timeout;
    let period = (timeout / 4).clamp(Duration::from_millis(200), Duration::from_secs(10));
    let mut ticker = tokio::time::interval(period);
    loop {
        ticker.tick().await;
        crate::store_full::end_jobs_that_lost_writes(&state).await;
        let deadline = time::OffsetDateTime::now_utc()
            - time::Duration::try_from(timeout).unwrap_or(time::Duration::MINUTE);
        match state.app.store.builds().reap_stale(deadline).await {
            Ok(0) => {}
            Ok(n) => {
                tracing::warn!(
                    nodes = n,
                    "ended job nodes whose runner stopped heartbeating"
                );
                state.app.work_available.notify_waiters();
            }
            Err(e) => tracing::warn!(error = %e, "could not reap stale jobs"),
        }
    }
}
