//! Reading pipelines, workflows and jobs back: lookups by id and number, lists and filters.

use super::*;

impl Builds<'_> {
    /// The pipeline with this public id.
    pub async fn pipeline_by_uuid(&self, uuid: Uuid) -> Result<Option<PipelineRecord>, StoreError> {
        let sql = format!("SELECT {PIPELINE_COLS} FROM pipelines WHERE uuid = $1");
        Ok(on_pool!(self.0, pool => sqlx::query_as(&sql).bind(uuid).fetch_optional(pool).await)?)
    }

    /// A pipeline's config as read and as compiled, if kept.
    pub async fn pipeline_config(
        &self,
        pipeline_id: i64,
    ) -> Result<Option<(String, String)>, StoreError> {
        let sql = "SELECT source, compiled FROM pipeline_configs WHERE pipeline_id = $1";
        Ok(
            on_pool!(self.0, pool => sqlx::query_as(sql).bind(pipeline_id).fetch_optional(pool).await)?,
        )
    }

    /// One pipeline by store id.
    pub async fn pipeline_by_id(&self, id: i64) -> Result<Option<PipelineRecord>, StoreError> {
        let sql = format!("SELECT {PIPELINE_COLS} FROM pipelines WHERE id = $1");
        Ok(on_pool!(self.0, pool => sqlx::query_as(&sql).bind(id).fetch_optional(pool).await)?)
    }

    /// The pipelines with these ids, in no particular order (missing ids are skipped): one
    /// query for a page of builds instead of one per build.
    pub async fn pipelines_by_ids(&self, ids: &[i64]) -> Result<Vec<PipelineRecord>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT {PIPELINE_COLS} FROM pipelines WHERE id IN ({})",
            placeholders(ids.len())
        );
        Ok(on_pool!(self.0, pool => {
            let mut q = sqlx::query_as(&sql);
            for id in ids {
                q = q.bind(id);
            }
            q.fetch_all(pool).await
        })?)
    }

    /// A project's pipeline by number.
    pub async fn pipeline_by_number(
        &self,
        project_id: i64,
        number: i64,
    ) -> Result<Option<PipelineRecord>, StoreError> {
        let sql =
            format!("SELECT {PIPELINE_COLS} FROM pipelines WHERE project_id = $1 AND number = $2");
        Ok(
            on_pool!(self.0, pool => sqlx::query_as(&sql).bind(project_id).bind(number).fetch_optional(pool).await)?,
        )
    }

    /// A page of a project's pipelines, newest first, optionally on one branch: those numbered
    /// below `before` (`None` for the first page), at most `limit` (at least 1). The page's
    /// `next_before` is the `before` of the next page, `None` on the last.
    pub async fn pipelines(
        &self,
        project_id: i64,
        branch: Option<&str>,
        before: Option<i64>,
        limit: i64,
    ) -> Result<PipelinePage, StoreError> {
        let limit = limit.max(1);
        let sql = format!(
            "SELECT {PIPELINE_COLS} FROM pipelines WHERE project_id = $1 AND ($2 IS NULL OR branch = $2) \
             AND number < $3 ORDER BY number DESC LIMIT $4"
        );
        // One more than asked tells whether there is a next page.
        let mut pipelines: Vec<PipelineRecord> = on_pool!(self.0, pool => {
            sqlx::query_as(&sql).bind(project_id).bind(branch).bind(before.unwrap_or(i64::MAX)).bind(limit + 1).fetch_all(pool).await
        })?;
        let next_before = if pipelines.len() as i64 > limit {
            pipelines.truncate(limit as usize);
            pipelines.last().map(|p| p.number)
        } else {
            None
        };
        Ok(PipelinePage {
            pipelines,
            next_before,
        })
    }

    /// A pipeline's workflows, in creation order.
    pub async fn workflows(&self, pipeline_id: i64) -> Result<Vec<WorkflowRecord>, StoreError> {
        let sql = format!("{WORKFLOW_SELECT} WHERE w.pipeline_id = $1 ORDER BY w.id");
        Ok(on_pool!(self.0, pool => sqlx::query_as(&sql).bind(pipeline_id).fetch_all(pool).await)?)
    }

    /// The workflows of these pipelines, by id: one query for a page of builds.
    pub async fn workflows_of_pipelines(
        &self,
        pipeline_ids: &[i64],
    ) -> Result<Vec<WorkflowRecord>, StoreError> {
        if pipeline_ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "{WORKFLOW_SELECT} WHERE w.pipeline_id IN ({}) ORDER BY w.id",
            placeholders(pipeline_ids.len())
        );
        Ok(on_pool!(self.0, pool => {
            let mut q = sqlx::query_as(&sql);
            for id in pipeline_ids {
                q = q.bind(id);
            }
            q.fetch_all(pool).await
        })?)
    }

    /// The workflow with this public id.
    pub async fn workflow_by_uuid(&self, uuid: Uuid) -> Result<Option<WorkflowRecord>, StoreError> {
        let sql = format!("{WORKFLOW_SELECT} WHERE w.uuid = $1");
        Ok(on_pool!(self.0, pool => sqlx::query_as(&sql).bind(uuid).fetch_optional(pool).await)?)
    }

    /// A workflow's jobs, by build number.
    pub async fn jobs_of_workflow(&self, workflow_id: i64) -> Result<Vec<JobRecord>, StoreError> {
        let sql = concat!(
            "SELECT ",
            job_cols!(),
            " FROM jobs WHERE workflow_id = $1 ORDER BY build_num"
        );
        let rows: Vec<JobRow> =
            on_pool!(self.0, pool => sqlx::query_as(sql).bind(workflow_id).fetch_all(pool).await)?;
        rows.into_iter().map(JobRecord::try_from).collect()
    }

    /// A project's job by build number.
    pub async fn job_by_num(
        &self,
        project_id: i64,
        build_num: i64,
    ) -> Result<Option<JobRecord>, StoreError> {
        let sql = concat!(
            "SELECT ",
            job_cols!(),
            " FROM jobs WHERE project_id = $1 AND build_num = $2"
        );
        let row: Option<JobRow> = on_pool!(self.0, pool => sqlx::query_as(sql).bind(project_id).bind(build_num).fetch_optional(pool).await)?;
        row.map(JobRecord::try_from).transpose()
    }

    /// The project's job with the largest build number below `build_num` on `branch`
    /// (CircleCI's `CIRCLE_PREVIOUS_BUILD_NUM`): its number and revision.
    pub async fn previous_on_branch(
        &self,
        project_id: i64,
        branch: &str,
        build_num: i64,
    ) -> Result<Option<(i64, String)>, StoreError> {
        let sql = "SELECT build_num, revision FROM jobs WHERE project_id = $1 AND branch = $2 \
                   AND build_num < $3 ORDER BY build_num DESC LIMIT 1";
        Ok(
            on_pool!(self.0, pool => sqlx::query_as(sql).bind(project_id).bind(branch)
            .bind(build_num).fetch_optional(pool).await)?,
        )
    }

    /// The job with this store id.
    pub async fn job_by_id(&self, id: i64) -> Result<Option<JobRecord>, StoreError> {
        let sql = concat!("SELECT ", job_cols!(), " FROM jobs WHERE id = $1");
        let row: Option<JobRow> =
            on_pool!(self.0, pool => sqlx::query_as(sql).bind(id).fetch_optional(pool).await)?;
        row.map(JobRecord::try_from).transpose()
    }

    /// A project's jobs, newest first, optionally on one branch and filtered.
    pub async fn jobs(
        &self,
        project_id: i64,
        branch: Option<&str>,
        filter: JobFilter,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<JobRecord>, StoreError> {
        let sql = format!(
            "SELECT {} FROM jobs WHERE project_id = $1 AND ($2 IS NULL OR branch = $2){} ORDER BY build_num DESC LIMIT $3 OFFSET $4",
            job_cols!(),
            filter.sql()
        );
        let rows: Vec<JobRow> = on_pool!(self.0, pool => {
            sqlx::query_as(&sql).bind(project_id).bind(branch).bind(limit).bind(offset).fetch_all(pool).await
        })?;
        rows.into_iter().map(JobRecord::try_from).collect()
    }

    /// The latest finished job of a project on a branch (the badge's subject).
    pub async fn latest_finished(
        &self,
        project_id: i64,
        branch: &str,
    ) -> Result<Option<JobRecord>, StoreError> {
        let mut jobs = self
            .jobs(project_id, Some(branch), JobFilter::Completed, 1, 0)
            .await?;
        Ok(jobs.pop())
    }
}

/// `$1, $2, …, $n`, for an `IN` list (the callers bound n by their page size).
fn placeholders(n: usize) -> String {
    (1..=n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}
