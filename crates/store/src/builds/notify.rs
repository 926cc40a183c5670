//! Which job and workflow changes are still to be told (commit statuses, outbound webhooks):
//! each job remembers the state it was last told as and each workflow whether its end was told,
//! so every change is told once, whatever code path made it, claimed by compare-and-set.

use super::*;

/// Projects something listens to: a commit-status target or an outbound webhook.
const LISTENED: &str = "(SELECT project_id FROM project_status_targets \
                        UNION SELECT project_id FROM outbound_webhooks)";

impl Builds<'_> {
    /// Up to `limit` jobs of listened-to projects whose state changed since last told.
    pub async fn jobs_to_notify(&self, limit: i64) -> Result<Vec<JobRecord>, StoreError> {
        let sql = format!(
            "SELECT {} FROM jobs WHERE jobs.project_id IN {LISTENED} \
             AND (jobs.notified_state IS NULL OR jobs.notified_state <> jobs.state) \
             ORDER BY jobs.id LIMIT $1",
            job_cols!()
        );
        let rows: Vec<JobRow> =
            on_pool!(self.0, pool => sqlx::query_as(&sql).bind(limit).fetch_all(pool).await)?;
        rows.into_iter().map(JobRecord::try_from).collect()
    }

    /// Notes that job `id` was told as `state`, if it was last told as `told` (`None`: never);
    /// `true` for the one caller that may tell it.
    pub async fn claim_job_notice(
        &self,
        id: i64,
        told: Option<&str>,
        state: JobState,
    ) -> Result<bool, StoreError> {
        let sql = "UPDATE jobs SET notified_state = $2 WHERE id = $1 \
                   AND COALESCE(notified_state, '') = COALESCE($3, '')";
        let n = on_pool!(self.0, pool => sqlx::query(sql).bind(id).bind(state.as_str()).bind(told)
            .execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(n > 0)
    }

    /// The state job `id` was last told as.
    pub async fn job_notified_state(&self, id: i64) -> Result<Option<String>, StoreError> {
        let sql = "SELECT notified_state FROM jobs WHERE id = $1";
        let row: Option<Option<String>> =
            on_pool!(self.0, pool => sqlx::query_scalar(sql).bind(id).fetch_optional(pool).await)?;
        Ok(row.flatten())
    }

    /// Up to `limit` workflows of listened-to projects whose jobs have all ended and whose end
    /// was not told.
    pub async fn workflows_to_notify(&self, limit: i64) -> Result<Vec<WorkflowRecord>, StoreError> {
        let sql = format!(
            "{WORKFLOW_SELECT} WHERE p.project_id IN {LISTENED} AND w.notified_status IS NULL \
             AND EXISTS (SELECT 1 FROM jobs j WHERE j.workflow_id = w.id) \
             AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.workflow_id = w.id \
                             AND j.state IN ('blocked', 'queued', 'running', 'on_hold')) \
             ORDER BY w.id LIMIT $1"
        );
        Ok(on_pool!(self.0, pool => sqlx::query_as(&sql).bind(limit).fetch_all(pool).await)?)
    }

    /// One workflow by store id.
    pub async fn workflow_by_id(&self, id: i64) -> Result<Option<WorkflowRecord>, StoreError> {
        let sql = format!("{WORKFLOW_SELECT} WHERE w.id = $1");
        Ok(on_pool!(self.0, pool => sqlx::query_as(&sql).bind(id).fetch_optional(pool).await)?)
    }

    /// Notes that workflow `id` ended as `status`; `true` for the one caller that may tell it.
    pub async fn claim_workflow_notice(&self, id: i64, status: &str) -> Result<bool, StoreError> {
        let sql =
            "UPDATE workflows SET notified_status = $2 WHERE id = $1 AND notified_status IS NULL";
        let n = on_pool!(self.0, pool => sqlx::query(sql).bind(id).bind(status)
            .execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(n > 0)
    }

    /// Marks everything the project's jobs and ended workflows did so far as told: a listener
    /// added now hears of what happens from now on, not of the project's history.
    pub async fn mark_told(&self, project_id: i64) -> Result<(), StoreError> {
        let jobs = "UPDATE jobs SET notified_state = state WHERE project_id = $1";
        let workflows = "UPDATE workflows SET notified_status = 'before' WHERE notified_status IS NULL \
                         AND pipeline_id IN (SELECT id FROM pipelines WHERE project_id = $1) \
                         AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.workflow_id = workflows.id \
                                         AND j.state IN ('blocked', 'queued', 'running', 'on_hold'))";
        // Workflows first: one whose last job ends in between is not marked, so its end is
        // still told (a job ending then may be marked told; a listener added that very instant
        // may miss that job's own event, never a workflow's).
        on_pool!(self.0, pool => async {
            let mut tx = pool.begin().await?;
            sqlx::query(workflows).bind(project_id).execute(&mut *tx).await?;
            sqlx::query(jobs).bind(project_id).execute(&mut *tx).await?;
            tx.commit().await
        }.await)?;
        Ok(())
    }
}
