//! Reading builds across one project's pipelines or several projects': pipelines of several
//! projects or of one starter (API v2's `/pipeline` and `pipeline/mine`), and the workflow runs
//! and test results of a time window (insights).

use super::*;
use crate::job_results::TestRecord;

/// A workflow as insights see it: with its pipeline's number and branch, and its jobs.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkflowRun {
    /// The workflow.
    pub workflow: WorkflowRecord,
    /// Its pipeline's number.
    pub pipeline_number: i64,
    /// Its pipeline's branch (`None` for a tag).
    pub branch: Option<String>,
    /// Its jobs, by build number.
    pub jobs: Vec<JobRecord>,
}

/// One test result with the job and workflow that produced it (flaky tests are found by
/// comparing results of the same test on the same commit).
#[derive(Debug, Clone, PartialEq)]
pub struct TestRun {
    /// The result.
    pub test: TestRecord,
    /// The job's name.
    pub job_name: String,
    /// The job's number.
    pub build_num: i64,
    /// The commit it tested.
    pub revision: String,
    /// Its workflow's store id.
    pub workflow_id: i64,
}

#[derive(sqlx::FromRow)]
struct TestRunRow {
    #[sqlx(flatten)]
    test: TestRecord,
    job_name: String,
    build_num: i64,
    revision: String,
    workflow_id: i64,
}

impl Builds<'_> {
    /// A page of the pipelines of `project_ids`, newest first, only those `actor_id` started
    /// when given: those with a store id below `before` (`None`: the first page), at most
    /// `limit` (at least 1). The page's `next_before` is the `before` of the next page.
    pub async fn pipelines_of_projects(
        &self,
        project_ids: &[i64],
        actor_id: Option<i64>,
        before: Option<i64>,
        limit: i64,
    ) -> Result<PipelinePage, StoreError> {
        let limit = limit.max(1);
        if project_ids.is_empty() {
            return Ok(PipelinePage {
                pipelines: Vec::new(),
                next_before: None,
            });
        }
        let n = project_ids.len();
        let ids = (1..=n)
            .map(|i| format!("${i}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT {PIPELINE_COLS} FROM pipelines WHERE project_id IN ({ids}) \
             AND (${a} IS NULL OR actor_id = ${a}) AND id < ${b} ORDER BY id DESC LIMIT ${c}",
            a = n + 1,
            b = n + 2,
            c = n + 3
        );
        let mut pipelines: Vec<PipelineRecord> = on_pool!(self.0, pool => {
            let mut q = sqlx::query_as(&sql);
            for id in project_ids {
                q = q.bind(id);
            }
            q.bind(actor_id).bind(before.unwrap_or(i64::MAX)).bind(limit + 1).fetch_all(pool).await
        })?;
        let next_before = if pipelines.len() as i64 > limit {
            pipelines.truncate(limit as usize);
            pipelines.last().map(|p| p.id)
        } else {
            None
        };
        Ok(PipelinePage {
            pipelines,
            next_before,
        })
    }

    /// The workflows of project `project_id` made at or after `since`, oldest first, each with
    /// its pipeline's number and branch and its jobs: three queries whatever their number.
    pub async fn workflow_runs(
        &self,
        project_id: i64,
        since: OffsetDateTime,
    ) -> Result<Vec<WorkflowRun>, StoreError> {
        let since = ts(since);
        let workflows_sql = format!(
            "{WORKFLOW_SELECT} WHERE p.project_id = $1 AND w.created_at >= $2 ORDER BY w.id"
        );
        let workflows: Vec<WorkflowRecord> = on_pool!(self.0, pool => {
            sqlx::query_as(&workflows_sql).bind(project_id).bind(since).fetch_all(pool).await
        })?;
        if workflows.is_empty() {
            return Ok(Vec::new());
        }
        let pipelines_sql = "SELECT id, number, branch FROM pipelines WHERE project_id = $1 AND id IN \
             (SELECT w.pipeline_id FROM workflows w JOIN pipelines p ON p.id = w.pipeline_id \
              WHERE p.project_id = $1 AND w.created_at >= $2)";
        let pipelines: Vec<(i64, i64, Option<String>)> = on_pool!(self.0, pool => {
            sqlx::query_as(pipelines_sql).bind(project_id).bind(since).fetch_all(pool).await
        })?;
        let jobs_sql = concat!(
            "SELECT ",
            job_cols!(),
            " FROM jobs WHERE project_id = $1 AND workflow_id IN \
             (SELECT w.id FROM workflows w JOIN pipelines p ON p.id = w.pipeline_id \
              WHERE p.project_id = $1 AND w.created_at >= $2) ORDER BY build_num"
        );
        let rows: Vec<JobRow> = on_pool!(self.0, pool => {
            sqlx::query_as(jobs_sql).bind(project_id).bind(since).fetch_all(pool).await
        })?;
        let mut jobs: Vec<JobRecord> = rows
            .into_iter()
            .map(JobRecord::try_from)
            .collect::<Result<_, _>>()?;
        Ok(workflows
            .into_iter()
            .map(|w| {
                let (number, branch) = pipelines
                    .iter()
                    .find(|(id, ..)| *id == w.pipeline_id)
                    .map(|(_, n, b)| (*n, b.clone()))
                    .unwrap_or_default();
                let (mine, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut jobs)
                    .into_iter()
                    .partition(|j| j.workflow_id == w.id);
                jobs = rest;
                WorkflowRun {
                    workflow: w,
                    pipeline_number: number,
                    branch,
                    jobs: mine,
                }
            })
            .collect())
    }

    /// The test results of project `project_id`'s jobs queued at or after `since`, in the
    /// order they were stored, with the job and commit each came from.
    pub async fn test_runs(
        &self,
        project_id: i64,
        since: OffsetDateTime,
    ) -> Result<Vec<TestRun>, StoreError> {
        let sql = "SELECT t.classname, t.name, t.file, t.result, t.message, t.run_time, \
                   CAST(t.node_index AS BIGINT) AS node_index, j.name AS job_name, j.build_num, j.revision, j.workflow_id \
                   FROM job_tests t JOIN jobs j ON j.id = t.job_id \
                   WHERE j.project_id = $1 AND j.queued_at >= $2 ORDER BY t.id";
        let rows: Vec<TestRunRow> = on_pool!(self.0, pool => {
            sqlx::query_as(sql).bind(project_id).bind(ts(since)).fetch_all(pool).await
        })?;
        Ok(rows
            .into_iter()
            .map(|r| TestRun {
                test: r.test,
                job_name: r.job_name,
                build_num: r.build_num,
                revision: r.revision,
                workflow_id: r.workflow_id,
            })
            .collect())
    }
}
