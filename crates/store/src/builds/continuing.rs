//! Setup pipelines and their continuation (dynamic config): the keys setup jobs get, and adding
//! the generated config's workflows to the pipeline, once.

use super::creating::{INSERT_JOB, INSERT_WORKFLOW, initial_state, insert_workflows};
use super::*;

/// Where a setup pipeline is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetupState {
    /// Waiting for a setup job to continue it.
    Waiting,
    /// Continued (at this time): its generated workflows were added.
    Continued(OffsetDateTime),
}

impl Builds<'_> {
    /// Whether `pipeline_id` is a setup pipeline, and where it is; `None` for any other.
    pub async fn setup_state(&self, pipeline_id: i64) -> Result<Option<SetupState>, StoreError> {
        let sql = "SELECT continued_at FROM pipeline_setups WHERE pipeline_id = $1";
        let row: Option<Option<OffsetDateTime>> = on_pool!(self.0, pool => sqlx::query_scalar(sql).bind(pipeline_id).fetch_optional(pool).await)?;
        Ok(row.map(|c| c.map_or(SetupState::Waiting, SetupState::Continued)))
    }

    /// Keeps the digest of a continuation key given to a job of `pipeline_id`.
    pub async fn add_continuation_key(
        &self,
        pipeline_id: i64,
        digest: &str,
    ) -> Result<(), StoreError> {
        let sql =
            "INSERT INTO continuation_keys (digest, pipeline_id, created_at) VALUES ($1, $2, $3)";
        on_pool!(self.0, pool => sqlx::query(sql).bind(digest).bind(pipeline_id).bind(now()).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Forgets the continuation key with this digest (it leaked); `false` if there was none.
    pub async fn revoke_continuation_key(&self, digest: &str) -> Result<bool, StoreError> {
        let sql = "DELETE FROM continuation_keys WHERE digest = $1";
        let n = on_pool!(self.0, pool => sqlx::query(sql).bind(digest).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(n > 0)
    }

    /// The pipeline a continuation key with this digest was given for.
    pub async fn pipeline_by_continuation_key(
        &self,
        digest: &str,
    ) -> Result<Option<PipelineRecord>, StoreError> {
        let sql = format!(
            "SELECT {PIPELINE_COLS} FROM pipelines WHERE id = (SELECT pipeline_id FROM continuation_keys WHERE digest = $1)"
        );
        Ok(on_pool!(self.0, pool => sqlx::query_as(&sql).bind(digest).fetch_optional(pool).await)?)
    }

    /// Continues the setup pipeline `pipeline` with `workflows` (their jobs numbered from the
    /// project's counter, `why` as given), in one transaction; `None` when it is not a setup
    /// pipeline waiting to be continued (it continues once).
    pub async fn continue_pipeline(
        &self,
        pipeline: &PipelineRecord,
        workflows: &[NewWorkflow],
        why: &str,
    ) -> Result<Option<Vec<JobRecord>>, StoreError> {
        let mark = "UPDATE pipeline_setups SET continued_at = $2 WHERE pipeline_id = $1 AND continued_at IS NULL \
                    RETURNING pipeline_id";
        let bump_builds = "UPDATE projects SET next_build_num = next_build_num + $2 WHERE id = $1 \
                           RETURNING next_build_num - $2";
        let job_count: i64 = workflows.iter().map(|w| w.jobs.len() as i64).sum();
        let at = now();
        let rows: Option<Vec<JobRow>> = announcing!(self.0, Change::Project, tx => async {
            if sqlx::query_scalar::<_, i64>(mark).bind(pipeline.id).bind(at).fetch_optional(&mut *tx).await?.is_none() {
                return Ok(None);
            }
            let build_num: i64 = sqlx::query_scalar(bump_builds).bind(pipeline.project_id).bind(job_count).fetch_one(&mut *tx).await?;
            let rows = insert_workflows!(tx, pipeline.project_id, pipeline.id, workflows, build_num, why, &pipeline.branch, &pipeline.tag, &pipeline.revision, at);
            Ok::<_, sqlx::Error>(Some(rows))
        })?;
        rows.map(|rows| rows.into_iter().map(JobRecord::try_from).collect())
            .transpose()
    }
}
