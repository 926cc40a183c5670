//! What runners report about a job besides its state: test results, output sequencing, and
//! finding a job by its public id.

use crate::builds::{Builds, JobRecord};
use crate::{StoreError, on_pool};
use uuid::Uuid;

/// One stored test case.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct TestRecord {
    /// The test's class or suite.
    pub classname: String,
    /// The test's name.
    pub name: String,
    /// The file it came from.
    pub file: Option<String>,
    /// `success`, `failure`, `error` or `skipped`.
    pub result: String,
    /// The failure message.
    pub message: Option<String>,
    /// Seconds.
    pub run_time: f64,
    /// The node that ran it.
    pub node_index: i64,
}

/// How many test cases a job stored, and how many of them failed (`failure` or `error`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TestCounts {
    /// Every test case.
    pub total: i64,
    /// Those that failed or errored.
    pub failed: i64,
}

impl Builds<'_> {
    /// The test counts of each job of pipeline `pipeline_id` that stored test results, by job
    /// id (ascending): what a pipeline list shows beside each job.
    pub async fn test_counts_of_pipeline(
        &self,
        pipeline_id: i64,
    ) -> Result<Vec<(i64, TestCounts)>, StoreError> {
        let sql = "SELECT t.job_id, CAST(COUNT(*) AS BIGINT), \
                   CAST(SUM(CASE WHEN t.result IN ('failure', 'error') THEN 1 ELSE 0 END) AS BIGINT) \
                   FROM job_tests t JOIN jobs j ON j.id = t.job_id WHERE j.pipeline_id = $1 \
                   GROUP BY t.job_id ORDER BY t.job_id";
        let rows: Vec<(i64, i64, i64)> =
            on_pool!(self.0, pool => sqlx::query_as(sql).bind(pipeline_id).fetch_all(pool).await)?;
        Ok(rows
            .into_iter()
            .map(|(job, total, failed)| (job, TestCounts { total, failed }))
            .collect())
    }

    /// The job with this public id.
    pub async fn job_by_uuid(&self, uuid: Uuid) -> Result<Option<JobRecord>, StoreError> {
        let sql = "SELECT id FROM jobs WHERE uuid = $1";
        let id: Option<i64> = on_pool!(self.0, pool => sqlx::query_scalar(sql).bind(uuid).fetch_optional(pool).await)?;
        match id {
            Some(id) => self.job_by_id(id).await,
            None => Ok(None),
        }
    }

    /// The sequence number the next output chunk of step `idx` gets.
    pub async fn next_output_seq(
        &self,
        job_id: i64,
        node: i64,
        idx: i64,
    ) -> Result<i64, StoreError> {
        // `seq` is an INTEGER column: PostgreSQL answers INT4, which does not decode as i64.
        let sql = "SELECT CAST(COALESCE(MAX(seq), 0) + 1 AS BIGINT) FROM job_output WHERE job_id = $1 AND step_idx = $2 AND node_index = $3";
        Ok(
            on_pool!(self.0, pool => sqlx::query_scalar(sql).bind(job_id).bind(idx).bind(node).fetch_one(pool).await)?,
        )
    }

    /// How many job nodes each runner (by its token id) is running now.
    pub async fn running_per_runner(&self) -> Result<Vec<(i64, i64)>, StoreError> {
        let sql = "SELECT runner_id, COUNT(*) FROM job_nodes WHERE state = 'running' AND runner_id IS NOT NULL GROUP BY runner_id";
        Ok(on_pool!(self.0, pool => sqlx::query_as(sql).fetch_all(pool).await)?)
    }

    /// The text of output chunk `seq` of step `idx`, if stored.
    pub async fn output_chunk(
        &self,
        job_id: i64,
        node: i64,
        idx: i64,
        seq: i64,
    ) -> Result<Option<String>, StoreError> {
        let sql = "SELECT text FROM job_output WHERE job_id = $1 AND step_idx = $2 AND seq = $3 AND node_index = $4";
        Ok(
            on_pool!(self.0, pool => sqlx::query_scalar(sql).bind(job_id).bind(idx).bind(seq).bind(node).fetch_optional(pool).await)?,
        )
    }

    /// Rewrites a stored output chunk (to mask a secret that a later chunk completed).
    pub async fn replace_output_chunk(
        &self,
        job_id: i64,
        node: i64,
        idx: i64,
        seq: i64,
        text: &str,
    ) -> Result<(), StoreError> {
        let sql = "UPDATE job_output SET text = $4 WHERE job_id = $1 AND step_idx = $2 AND seq = $3 AND node_index = $5";
        on_pool!(self.0, pool => sqlx::query(sql).bind(job_id).bind(idx).bind(seq).bind(text).bind(node).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// How many bytes of output step `idx` of a job's node has stored (a running total kept
    /// by `append_output`; 0 for a step never started).
    pub async fn output_bytes(&self, job_id: i64, node: i64, idx: i64) -> Result<i64, StoreError> {
        let sql = "SELECT CAST(output_bytes AS BIGINT) FROM job_steps WHERE job_id = $1 AND idx = $2 AND node_index = $3";
        let n: Option<i64> = on_pool!(self.0, pool => sqlx::query_scalar(sql).bind(job_id).bind(idx).bind(node).fetch_optional(pool).await)?;
        Ok(n.unwrap_or(0))
    }

    /// How many test cases a job has.
    pub async fn test_count(&self, job_id: i64) -> Result<i64, StoreError> {
        let sql = "SELECT COUNT(*) FROM job_tests WHERE job_id = $1";
        Ok(on_pool!(self.0, pool => sqlx::query_scalar(sql).bind(job_id).fetch_one(pool).await)?)
    }

    /// Adds test cases to a job, in one transaction.
    pub async fn add_tests(&self, job_id: i64, tests: &[TestRecord]) -> Result<(), StoreError> {
        let sql = "INSERT INTO job_tests (job_id, classname, name, file, result, message, run_time, node_index) \
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
        on_pool!(self.0, pool => async {
            let mut tx = pool.begin().await?;
            for t in tests {
                sqlx::query(sql).bind(job_id).bind(&t.classname).bind(&t.name).bind(&t.file)
                    .bind(&t.result).bind(&t.message).bind(t.run_time).bind(t.node_index)
                    .execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok::<_, sqlx::Error>(())
        }.await)?;
        Ok(())
    }

    /// A job's test cases (of all its nodes), in the order they were reported.
    pub async fn tests(&self, job_id: i64) -> Result<Vec<TestRecord>, StoreError> {
        let sql = "SELECT classname, name, file, result, message, run_time, CAST(node_index AS BIGINT) AS node_index \
                   FROM job_tests WHERE job_id = $1 ORDER BY id";
        Ok(on_pool!(self.0, pool => sqlx::query_as(sql).bind(job_id).fetch_all(pool).await)?)
    }

    /// The test results of the newest successful job named `name` of the project other than
    /// `except` that stored any: where `circleci tests split --split-by=timings` takes its
    /// timings.
    pub async fn timings_source(
        &self,
        project_id: i64,
        name: &str,
        except: i64,
    ) -> Result<Vec<TestRecord>, StoreError> {
        let sql = "SELECT classname, name, file, result, message, run_time, CAST(node_index AS BIGINT) AS node_index \
                   FROM job_tests WHERE job_id = \
                   (SELECT j.id FROM jobs j WHERE j.project_id = $1 AND j.name = $2 AND j.id <> $3 \
                   AND j.state = 'success' AND EXISTS (SELECT 1 FROM job_tests x WHERE x.job_id = j.id) \
                   ORDER BY j.id DESC LIMIT 1) ORDER BY id";
        Ok(
            on_pool!(self.0, pool => sqlx::query_as(sql).bind(project_id).bind(name).bind(except).fetch_all(pool).await)?,
        )
    }
}
