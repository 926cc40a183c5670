//! Steps of a job's nodes and their output.

use super::*;
use crate::error::Missing;

impl Builds<'_> {
    /// Starts step `idx` of node `node` of a job; starting it again changes nothing (a resent
    /// request). `NotFound` when there is no such job.
    pub async fn start_step(
        &self,
        job_id: i64,
        node: i64,
        idx: i64,
        name: &str,
    ) -> Result<(), StoreError> {
        let sql = "INSERT INTO job_steps (job_id, node_index, idx, name, state, started_at) VALUES ($1, $5, $2, $3, 'running', $4) \
                   ON CONFLICT (job_id, node_index, idx) DO NOTHING";
        on_pool!(self.0, pool => sqlx::query(sql).bind(job_id).bind(idx).bind(name).bind(now_ms()).bind(node).execute(pool).await.map(|r| r.rows_affected()))
            .map_err(|e| no_such_job(e, job_id))?;
        Ok(())
    }

    /// Ends step `idx` with a state (`success`, `failed`, `canceled`, `timedout`) and exit code.
    /// `NotFound` when the step was never started.
    pub async fn finish_step(
        &self,
        job_id: i64,
        node: i64,
        idx: i64,
        state: &str,
        exit_code: Option<i32>,
    ) -> Result<(), StoreError> {
        let sql = "UPDATE job_steps SET state = $3, exit_code = $4, stopped_at = $5 WHERE job_id = $1 AND idx = $2 AND node_index = $6";
        let n = on_pool!(self.0, pool => {
            sqlx::query(sql).bind(job_id).bind(idx).bind(state).bind(exit_code).bind(now_ms()).bind(node).execute(pool).await.map(|r| r.rows_affected())
        })?;
        if n == 0 {
            return Err(StoreError::NotFound(Missing::Step { job: job_id, idx }));
        }
        Ok(())
    }

    /// Appends a chunk of (already masked) output to step `idx`; `seq` orders chunks and makes
    /// a resent chunk harmless (the first text sent with a `seq` is kept). `NotFound` when
    /// there is no such job.
    pub async fn append_output(
        &self,
        job_id: i64,
        node: i64,
        idx: i64,
        seq: i64,
        text: &str,
    ) -> Result<(), StoreError> {
        let insert = "INSERT INTO job_output (job_id, node_index, step_idx, seq, at, text) VALUES ($1, $6, $2, $3, $4, $5) \
                      ON CONFLICT (job_id, node_index, step_idx, seq) DO NOTHING";
        let count = "UPDATE job_steps SET output_bytes = output_bytes + $3 WHERE job_id = $1 AND idx = $2 AND node_index = $4";
        let bytes = i64::try_from(text.len()).unwrap_or(i64::MAX);
        on_pool!(self.0, pool => async {
            let mut tx = pool.begin().await?;
            let added = sqlx::query(insert).bind(job_id).bind(idx).bind(seq).bind(now()).bind(text).bind(node)
                .execute(&mut *tx).await?.rows_affected();
            // A resent chunk adds nothing, so it counts nothing.
            if added > 0 {
                sqlx::query(count).bind(job_id).bind(idx).bind(bytes).bind(node).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok::<_, sqlx::Error>(())
        }.await)
        .map_err(|e| no_such_job(e, job_id))?;
        Ok(())
    }

    /// The steps of node `node` of a job, in order.
    pub async fn steps(&self, job_id: i64, node: i64) -> Result<Vec<StepRecord>, StoreError> {
        // `idx` and `seq` (below) are INTEGER columns: PostgreSQL answers INT4, read here as i64.
        let sql = "SELECT CAST(node_index AS BIGINT) AS node_index, CAST(idx AS BIGINT) AS idx, name, state, exit_code, \
                   started_at, stopped_at FROM job_steps WHERE job_id = $1 AND node_index = $2 ORDER BY idx";
        Ok(
            on_pool!(self.0, pool => sqlx::query_as(sql).bind(job_id).bind(node).fetch_all(pool).await)?,
        )
    }

    /// The steps of every node of a job, by step and then node.
    pub async fn steps_of_all_nodes(&self, job_id: i64) -> Result<Vec<StepRecord>, StoreError> {
        let sql = "SELECT CAST(node_index AS BIGINT) AS node_index, CAST(idx AS BIGINT) AS idx, name, state, exit_code, \
                   started_at, stopped_at FROM job_steps WHERE job_id = $1 ORDER BY idx, node_index";
        Ok(on_pool!(self.0, pool => sqlx::query_as(sql).bind(job_id).fetch_all(pool).await)?)
    }

    /// A step's output chunks after `after_seq`, in order.
    pub async fn output(
        &self,
        job_id: i64,
        node: i64,
        idx: i64,
        after_seq: i64,
    ) -> Result<Vec<(i64, String)>, StoreError> {
        let sql = "SELECT CAST(seq AS BIGINT), text FROM job_output WHERE job_id = $1 AND step_idx = $2 AND seq > $3 \
                   AND node_index = $4 ORDER BY seq";
        Ok(
            on_pool!(self.0, pool => sqlx::query_as(sql).bind(job_id).bind(idx).bind(after_seq).bind(node).fetch_all(pool).await)?,
        )
    }
}

/// A stored step.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct StepRecord {
    /// The node that ran it.
    pub node_index: i64,
    /// Position in the job, from 0.
    pub idx: i64,
    /// Display name.
    pub name: String,
    /// `running`, `success`, `failed`, `canceled`, `timedout`.
    pub state: String,
    /// The command's exit code.
    pub exit_code: Option<i32>,
    /// When it started.
    pub started_at: OffsetDateTime,
    /// When it ended.
    pub stopped_at: Option<OffsetDateTime>,
}
