//! The runner queue: claiming, heartbeats, finishing, cancelling, reaping, and settling a
//! workflow when one of its jobs ends.

use super::*;
use crate::error::Missing;

impl Builds<'_> {
    /// Atomically hands the oldest queued job of `class` (`None`: the default pool, jobs without
    /// a self-hosted class) to runner `runner_id`; two runners never get one job.
    pub async fn claim_next(
        &self,
        runner_id: i64,
        class: Option<&str>,
    ) -> Result<Option<JobRecord>, StoreError> {
        let at = now();
        let sql = match self.0.kind() {
            crate::BackendKind::Postgres => concat!(
                "UPDATE jobs SET state = 'running', runner_id = $1, started_at = $2, heartbeat_at = $2 ",
                "WHERE id = (SELECT id FROM jobs WHERE state = 'queued' AND resource_class IS NOT DISTINCT FROM $3 ",
                "ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED) ",
                "RETURNING ",
                job_cols!()
            ),
            // The statement takes SQLite's write lock before it reads: nobody can claim in between.
            crate::BackendKind::Sqlite => concat!(
                "UPDATE jobs SET state = 'running', runner_id = $1, started_at = $2, heartbeat_at = $2 ",
                "WHERE id = (SELECT id FROM jobs WHERE state = 'queued' AND resource_class IS $3 ORDER BY id LIMIT 1) ",
                "AND state = 'queued' ",
                "RETURNING ",
                job_cols!()
            ),
        };
        let row: Option<JobRow> = announcing!(self.0, Change::Project, tx => async {
            sqlx::query_as(sql).bind(runner_id).bind(at).bind(class).fetch_optional(&mut *tx).await
        })?;
        row.map(JobRecord::try_from).transpose()
    }

    /// Records a heartbeat from the runner running `job_id`. `None` when that runner no longer
    /// holds the job (it ended or was taken away); otherwise whether cancellation was requested.
    pub async fn heartbeat(&self, job_id: i64, runner_id: i64) -> Result<Option<bool>, StoreError> {
        let sql = "UPDATE jobs SET heartbeat_at = $3 WHERE id = $1 AND runner_id = $2 AND state = 'running' RETURNING cancel_requested";
        Ok(
            on_pool!(self.0, pool => sqlx::query_scalar(sql).bind(job_id).bind(runner_id).bind(now()).fetch_all(pool).await.map(crate::first))?,
        )
    }

    /// Ends a running job with the final `state` (held by `runner_id`, or by anyone when
    /// `None`), and releases or gives up the jobs that required it. `false` when the job is
    /// not running or not held by that runner: a job that ended stays as it ended.
    /// `Invalid` when `state` is not final.
    pub async fn finish(
        &self,
        job_id: i64,
        runner_id: Option<i64>,
        state: JobState,
    ) -> Result<bool, StoreError> {
        if !state.is_final() {
            return Err(StoreError::Invalid(format!(
                "a job cannot finish as {}",
                state.as_str()
            )));
        }
        self.end(job_id, &["running"], runner_id, None, state, None)
            .await
    }

    /// Asks to cancel a job: one not yet running ends `canceled` at once (and what required it
    /// will not run); a running one is flagged, and its runner learns at its next heartbeat.
    /// `false` when the job had already ended (or does not exist).
    pub async fn request_cancel(&self, job_id: i64) -> Result<bool, StoreError> {
        if self
            .end(
                job_id,
                &["queued", "blocked", "on_hold"],
                None,
                None,
                JobState::Canceled,
                None,
            )
            .await?
        {
            return Ok(true);
        }
        let sql = "UPDATE jobs SET cancel_requested = TRUE WHERE id = $1 AND state = 'running'";
        let n = on_pool!(self.0, pool => sqlx::query(sql).bind(job_id).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(n > 0)
    }

    /// Approves the approval job `job_id` for `login`: it ends `success` and what required it
    /// is released. `false` when it is not an approval on hold.
    pub async fn approve(&self, job_id: i64, login: &str) -> Result<bool, StoreError> {
        let is_approval = "SELECT approval FROM jobs WHERE id = $1";
        let approval: Option<bool> = on_pool!(self.0, pool => sqlx::query_scalar(is_approval).bind(job_id).fetch_optional(pool).await)?;
        if approval != Some(true) {
            return Ok(false);
        }
        self.end(
            job_id,
            &["on_hold"],
            None,
            None,
            JobState::Success,
            Some(login),
        )
        .await
    }

    /// Cancels a workflow in one transaction: queued jobs (and approvals on hold) end `canceled`, blocked ones
    /// `not_run`, running ones are flagged for their runners; later, nothing of it is released.
    /// `NotFound` when there is no such workflow.
    pub async fn cancel_workflow(&self, workflow_id: i64) -> Result<(), StoreError> {
        let mark = "UPDATE workflows SET canceled = TRUE WHERE id = $1 RETURNING id";
        let end =
            "UPDATE jobs SET state = $2, stopped_at = $3 WHERE workflow_id = $1 AND state = $4";
        let flag =
            "UPDATE jobs SET cancel_requested = TRUE WHERE workflow_id = $1 AND state = 'running'";
        let at = now();
        let found: bool = announcing!(self.0, Change::Project, tx => async {
            if sqlx::query_scalar::<_, i64>(mark).bind(workflow_id).fetch_optional(&mut *tx).await?.is_none() {
                return Ok(false);
            }
            for (from, to) in [
                (JobState::Blocked, JobState::NotRun),
                (JobState::Queued, JobState::Canceled),
                (JobState::OnHold, JobState::Canceled),
            ] {
                sqlx::query(end).bind(workflow_id).bind(to.as_str()).bind(at).bind(from.as_str()).execute(&mut *tx).await?;
            }
            // After the queued ones: a job claimed meanwhile is running by now, and flagged here.
            sqlx::query(flag).bind(workflow_id).execute(&mut *tx).await?;
            Ok::<_, sqlx::Error>(true)
        })?;
        if found {
            Ok(())
        } else {
            Err(StoreError::NotFound(Missing::Workflow(workflow_id)))
        }
    }

    /// Ends running jobs whose runner has not sent a heartbeat since `deadline` (strictly
    /// before it), as `infrastructure_fail`, settling their workflows. Returns how many.
    pub async fn reap_stale(&self, deadline: OffsetDateTime) -> Result<usize, StoreError> {
        let deadline = ts(deadline);
        let sql = "SELECT id FROM jobs WHERE state = 'running' AND heartbeat_at < $1 ORDER BY id";
        let ids: Vec<i64> =
            on_pool!(self.0, pool => sqlx::query_scalar(sql).bind(deadline).fetch_all(pool).await)?;
        let mut n = 0;
        for id in ids {
            // Checked again when ending it: a heartbeat since the SELECT saves the job.
            if self
                .end(
                    id,
                    &["running"],
                    None,
                    Some(deadline),
                    JobState::InfrastructureFail,
                    None,
                )
                .await?
            {
                n += 1;
            }
        }
        Ok(n)
    }

    /// Moves `job_id` from one of `from` to the final `state` and settles its workflow, in one
    /// transaction. `false` when it was not in `from`, not held by `runner_id` (when given) or
    /// has sent a heartbeat since `silent_before` (when given).
    async fn end(
        &self,
        job_id: i64,
        from: &[&str],
        runner_id: Option<i64>,
        silent_before: Option<OffsetDateTime>,
        state: JobState,
        approved_by: Option<&str>,
    ) -> Result<bool, StoreError> {
        // The workflow's row is locked first: on PostgreSQL two jobs of one workflow ending at
        // once would otherwise each read the other as still running, and neither would release
        // a job requiring both. The same order everywhere (workflow, then jobs) rules out
        // deadlocks with `cancel_workflow` and `retry`. On SQLite the write lock serializes.
        let lock = "UPDATE workflows SET canceled = canceled WHERE id = (SELECT workflow_id FROM jobs WHERE id = $1) \
                    RETURNING id, canceled";
        let allowed = from
            .iter()
            .map(|s| format!("'{s}'"))
            .collect::<Vec<_>>()
            .join(",");
        let update = format!(
            "UPDATE jobs SET state = $2, stopped_at = $3, cancel_requested = FALSE, approved_by = COALESCE($6, approved_by) \
             WHERE id = $1 AND state IN ({allowed}) AND ($4 IS NULL OR runner_id = $4) AND ($5 IS NULL OR heartbeat_at < $5)"
        );
        let release =
            "UPDATE jobs SET state = $2, stopped_at = $3 WHERE id = $1 AND state = 'blocked'";
        let at = now();
        let ended: bool = announcing!(self.0, Change::Project, tx => async {
            let Some((workflow_id, canceled)): Option<(i64, bool)> = sqlx::query_as(lock)
                .bind(job_id).fetch_optional(&mut *tx).await?
            else {
                return Ok(false);
            };
            let n = sqlx::query(&update)
                .bind(job_id).bind(state.as_str()).bind(at).bind(runner_id).bind(silent_before).bind(approved_by)
                .execute(&mut *tx).await?.rows_affected();
            if n == 0 {
                return Ok(false);
            }
            let rows: Vec<Sibling> = sqlx::query_as(SIBLINGS).bind(workflow_id).fetch_all(&mut *tx).await?;
            for (id, next) in settle(&rows) {
                // Nothing of a canceled workflow starts any more.
                let next = if canceled { JobState::NotRun } else { next };
                let stopped = (next == JobState::NotRun).then_some(at);
                sqlx::query(release).bind(id).bind(next.as_str()).bind(stopped).execute(&mut *tx).await?;
            }
            Ok::<_, sqlx::Error>(true)
        })?;
        Ok(ended)
    }
}

/// What settling needs of each job of a workflow.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct Sibling {
    pub(super) id: i64,
    pub(super) name: String,
    /// JSON array of names.
    pub(super) requires: String,
    pub(super) state: String,
    pub(super) approval: bool,
    /// JSON array parallel to `requires`: the ends each accepts.
    pub(super) accepts: String,
}

/// The jobs' columns [`Sibling`] reads.
const SIBLINGS: &str =
    "SELECT id, name, requires, state, approval, accepts FROM jobs WHERE workflow_id = $1";

/// The end `state` is, as `requires` names ends: `success`, `failed` (timed out and
/// infrastructure failures too), `canceled`, `not_run`; `None` while it has not ended.
fn end_word(state: JobState) -> Option<&'static str> {
    Some(match state {
        JobState::Success => "success",
        JobState::Failed | JobState::Timedout | JobState::InfrastructureFail => "failed",
        JobState::Canceled => "canceled",
        JobState::NotRun => "not_run",
        JobState::Blocked | JobState::Queued | JobState::Running | JobState::OnHold => {
            return None;
        }
    })
}

/// Which blocked jobs of a workflow change state: a job whose requirements have all ended the
/// way it accepts (success, unless it names others) is queued, or put on hold if it is an
/// approval; one with a requirement that ended any other way will never run. Applied until
/// nothing changes, so "not run" travels down the chain.
pub(super) fn settle(rows: &[Sibling]) -> Vec<(i64, JobState)> {
    struct Job<'a> {
        id: i64,
        name: &'a str,
        requires: Vec<String>,
        accepts: Vec<String>,
        approval: bool,
        state: JobState,
    }
    let mut jobs: Vec<Job<'_>> = rows
        .iter()
        .map(|r| Job {
            id: r.id,
            name: r.name.as_str(),
            requires: super::parse_names(&r.requires).unwrap_or_default(),
            accepts: super::parse_names(&r.accepts).unwrap_or_default(),
            approval: r.approval,
            state: JobState::parse(&r.state).unwrap_or(JobState::NotRun),
        })
        .collect();
    let mut changes = Vec::new();
    loop {
        let mut changed = false;
        for i in 0..jobs.len() {
            if jobs[i].state != JobState::Blocked {
                continue;
            }
            // For each requirement: `Some(true)` ended as accepted, `Some(false)` ended
            // otherwise, `None` not ended yet.
            let verdicts: Vec<Option<bool>> = jobs[i]
                .requires
                .iter()
                .enumerate()
                .map(|(k, r)| {
                    let state = jobs
                        .iter()
                        .filter(|s| s.name == r)
                        .map(|s| s.state)
                        .next_back()
                        .unwrap_or(JobState::NotRun);
                    let accepted = jobs[i].accepts.get(k).map_or("success", String::as_str);
                    end_word(state).map(|w| accepted.split(',').any(|a| a.trim() == w))
                })
                .collect();
            let next = if verdicts.iter().all(|v| *v == Some(true)) {
                Some(if jobs[i].approval {
                    JobState::OnHold
                } else {
                    JobState::Queued
                })
            } else if verdicts.contains(&Some(false)) {
                Some(JobState::NotRun)
            } else {
                None
            };
            if let Some(next) = next {
                jobs[i].state = next;
                changes.push((jobs[i].id, next));
                changed = true;
            }
        }
        if !changed {
            return changes;
        }
    }
}
