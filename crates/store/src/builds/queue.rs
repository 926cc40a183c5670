//! Ending jobs: finishing, cancelling, approving, and settling a workflow when one of its jobs
//! ends. Claims, heartbeats and reaping are per node (`nodes.rs`).

use super::*;
use crate::error::Missing;
use circlet_core::build_state::nodes_result;

impl Builds<'_> {
    /// Ends a running job as a whole with the final `state`, whatever its nodes are doing
    /// (they end with it: their runners learn at their next request), and releases or gives up
    /// the jobs that required it. `false` when the job is not running: a job that ended stays
    /// as it ended. `Invalid` when `state` is not final. A runner ends its node instead
    /// ([`Builds::finish_node`]).
    pub async fn finish(&self, job_id: i64, state: JobState) -> Result<bool, StoreError> {
        if !state.is_final() {
            return Err(StoreError::Invalid(format!(
                "a job cannot finish as {}",
                state.as_str()
            )));
        }
        self.end_job(job_id, &["running"], state, None).await
    }

    /// Asks to cancel a job: one not yet running ends `canceled` at once (and what required it
    /// will not run); a running one is flagged, hands out no more nodes, and its runners learn
    /// at their next heartbeat. A running job none of whose nodes still runs (the rest were
    /// never claimed) ends `canceled` at once. `false` when the job had already ended (or does
    /// not exist).
    pub async fn request_cancel(&self, job_id: i64) -> Result<bool, StoreError> {
        if self
            .end_job(
                job_id,
                &["queued", "blocked", "on_hold"],
                JobState::Canceled,
                None,
            )
            .await?
        {
            return Ok(true);
        }
        let sql = "UPDATE jobs SET cancel_requested = TRUE WHERE id = $1 AND state = 'running'";
        let n = on_pool!(self.0, pool => sqlx::query(sql).bind(job_id).execute(pool).await.map(|r| r.rows_affected()))?;
        if n > 0 {
            self.end_idle(job_id).await?;
        }
        Ok(n > 0)
    }

    /// Ends `canceled` a running job that was asked to cancel and has no node running, so no
    /// runner would ever end it.
    async fn end_idle(&self, job_id: i64) -> Result<(), StoreError> {
        self.end(job_id, Ending::Idle).await.map(drop)
    }

    /// Approves the approval job `job_id` for `login`: it ends `success` and what required it
    /// is released. `false` when it is not an approval on hold.
    pub async fn approve(&self, job_id: i64, login: &str) -> Result<bool, StoreError> {
        let is_approval = "SELECT approval FROM jobs WHERE id = $1";
        let approval: Option<bool> = on_pool!(self.0, pool => sqlx::query_scalar(is_approval).bind(job_id).fetch_optional(pool).await)?;
        if approval != Some(true) {
            return Ok(false);
        }
        self.end_job(job_id, &["on_hold"], JobState::Success, Some(login))
            .await
    }

    /// The workflows of the project's pipelines on `branch` older than pipeline
    /// `newer_than` that have not finished and were not canceled, scheduled pipelines' aside:
    /// what "Auto-cancel redundant workflows" cancels.
    pub async fn redundant_workflows(
        &self,
        project_id: i64,
        branch: &str,
        newer_than: i64,
    ) -> Result<Vec<i64>, StoreError> {
        let sql = "SELECT w.id FROM workflows w JOIN pipelines p ON p.id = w.pipeline_id \
                   WHERE p.project_id = $1 AND p.branch = $2 AND p.id < $3 AND NOT w.canceled \
                   AND p.trigger_type <> 'scheduled_pipeline' \
                   AND EXISTS (SELECT 1 FROM jobs j WHERE j.workflow_id = w.id \
                               AND j.state IN ('queued', 'blocked', 'on_hold', 'running')) \
                   ORDER BY w.id";
        Ok(
            on_pool!(self.0, pool => sqlx::query_scalar(sql).bind(project_id).bind(branch)
            .bind(newer_than).fetch_all(pool).await)?,
        )
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
        let at = now_ms();
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
        if !found {
            return Err(StoreError::NotFound(Missing::Workflow(workflow_id)));
        }
        // A running job whose claimed nodes have all ended ends now: no runner will.
        for job in self.jobs_of_workflow(workflow_id).await? {
            if job.state == JobState::Running {
                self.end_idle(job.id).await?;
            }
        }
        Ok(())
    }

    /// Moves the job `job_id` from one of `from` to the final `state` (see [`Builds::end`]).
    async fn end_job(
        &self,
        job_id: i64,
        from: &[&str],
        state: JobState,
        approved_by: Option<&str>,
    ) -> Result<bool, StoreError> {
        let ending = Ending::Job {
            from,
            state,
            approved_by,
        };
        self.end(job_id, ending).await
    }

    /// Ends what `ending` says of job `job_id` and, when the job ended, settles its workflow,
    /// in one transaction. `false` when nothing ended: the job was not in the states it may end
    /// from, or the node was not running, not held by the runner named, or has sent a heartbeat
    /// since the deadline named. A node that was not its job's last ends alone (`true`).
    pub(super) async fn end(&self, job_id: i64, ending: Ending<'_>) -> Result<bool, StoreError> {
        // The workflow's row is locked first: on PostgreSQL two jobs (or two nodes of one job)
        // ending at once would otherwise each read the other as still running, and neither
        // would end the job or release a job requiring both. The same order everywhere
        // (workflow, then jobs) rules out deadlocks with `cancel_workflow` and `retry`. On
        // SQLite the write lock serializes.
        let lock = "UPDATE workflows SET canceled = canceled WHERE id = (SELECT workflow_id FROM jobs WHERE id = $1) \
                    RETURNING id, canceled";
        let from: &[&str] = match ending {
            Ending::Job { from, .. } => from,
            Ending::Node { .. } | Ending::Idle => &["running"],
        };
        let allowed = from
            .iter()
            .map(|s| format!("'{s}'"))
            .collect::<Vec<_>>()
            .join(",");
        let update = format!(
            "UPDATE jobs SET state = $2, stopped_at = $3, cancel_requested = FALSE, approved_by = COALESCE($4, approved_by) \
             WHERE id = $1 AND state IN ({allowed})"
        );
        let end_node = "UPDATE job_nodes SET state = $3, stopped_at = $4 \
                        WHERE job_id = $1 AND node_index = $2 AND state = 'running' \
                        AND ($5 IS NULL OR runner_id = $5) AND ($6 IS NULL OR heartbeat_at < $6)";
        let counts = "SELECT parallelism, nodes_claimed, cancel_requested FROM jobs WHERE id = $1";
        let node_states = "SELECT state FROM job_nodes WHERE job_id = $1";
        let end_nodes = "UPDATE job_nodes SET state = $2, stopped_at = $3 WHERE job_id = $1 AND state = 'running'";
        let release =
            "UPDATE jobs SET state = $2, stopped_at = $3 WHERE id = $1 AND state = 'blocked'";
        let at = now_ms();
        let ended: bool = announcing!(self.0, Change::Project, tx => async {
            let Some((workflow_id, canceled)): Option<(i64, bool)> = sqlx::query_as(lock)
                .bind(job_id).fetch_optional(&mut *tx).await?
            else {
                return Ok(false);
            };
            let (state, approved_by) = match ending {
                Ending::Job { state, approved_by, .. } => (state, approved_by),
                Ending::Node { .. } | Ending::Idle => {
                    if let Ending::Node { index, end } = ending {
                        let n = sqlx::query(end_node)
                            .bind(job_id).bind(index).bind(end.state.as_str()).bind(at)
                            .bind(end.runner_id).bind(end.silent_before)
                            .execute(&mut *tx).await?.rows_affected();
                        if n == 0 {
                            return Ok(false);
                        }
                    }
                    let Some((parallelism, claimed, cancel)): Option<(i64, i64, bool)> =
                        sqlx::query_as(counts).bind(job_id).fetch_optional(&mut *tx).await?
                    else {
                        return Ok(false);
                    };
                    let states: Vec<String> = sqlx::query_scalar(node_states).bind(job_id).fetch_all(&mut *tx).await?;
                    let states: Vec<JobState> = states.iter().map(|s| JobState::parse(s).unwrap_or(JobState::Failed)).collect();
                    let waiting = claimed < parallelism && !cancel;
                    if waiting || states.contains(&JobState::Running) {
                        // Other nodes run, or wait for a runner: the job goes on.
                        return Ok(matches!(ending, Ending::Node { .. }));
                    }
                    (nodes_result(&states, claimed >= parallelism), None)
                }
            };
            let n = sqlx::query(&update)
                .bind(job_id).bind(state.as_str()).bind(at).bind(approved_by)
                .execute(&mut *tx).await?.rows_affected();
            if n == 0 {
                return Ok(false);
            }
            sqlx::query(end_nodes).bind(job_id).bind(state.as_str()).bind(at).execute(&mut *tx).await?;
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

/// What [`Builds::end`] ends.
#[derive(Debug, Clone, Copy)]
pub(super) enum Ending<'a> {
    /// The job as a whole, from one of `from`, as `state`; its running nodes end with it.
    Job {
        from: &'a [&'a str],
        state: JobState,
        approved_by: Option<&'a str>,
    },
    /// One node, as `end` says; the job with it when it was the last to end.
    Node { index: i64, end: super::NodeEnd },
    /// A running job asked to cancel whose nodes have all ended: it ends with them.
    Idle,
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
pub(super) const SIBLINGS: &str =
    "SELECT id, name, requires, state, approval, accepts FROM jobs WHERE workflow_id = $1";

/// The end `state` is, as `requires` names ends: `success`, `failed` (timed out and
/// infrastructure failures too), `canceled`, `not_run`; `None` while it has not ended.
fn end_word(state: JobState) -> Option<&'static str> {
    Some(match state {
        JobState::Success => "success",
        JobState::Failed | JobState::Timedout | JobState::InfrastructureFail => "failed",
        JobState::Canceled => "canceled",
        JobState::NotRun => "not_run",
        // No requirement accepts it: what required it does not run.
        JobState::Unauthorized => "unauthorized",
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
