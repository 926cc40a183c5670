//! Creating pipelines (numbered per project) with their workflows and jobs, and retries.

use super::*;
use crate::error::{Conflict, Missing};

pub(super) const INSERT_WORKFLOW: &str = "INSERT INTO workflows (uuid, pipeline_id, name, created_at) VALUES ($1, $2, $3, $4) RETURNING id";

pub(super) const INSERT_JOB: &str = concat!(
    "INSERT INTO jobs (uuid, project_id, pipeline_id, workflow_id, build_num, name, requires, spec, state, why, ",
    "build_parameters, branch, tag, revision, queued_at, approval, accepts, resource_class, parallelism) ",
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19) ",
    "RETURNING ",
    job_cols!()
);

/// The state a new job starts in: queued, on hold (an approval requiring nothing), or blocked
/// until what it requires ends.
pub(super) fn initial_state(j: &NewJob) -> JobState {
    match (j.requires.is_empty(), j.approval) {
        (false, _) => JobState::Blocked,
        (true, true) => JobState::OnHold,
        (true, false) => JobState::Queued,
    }
}

/// Inserts `$workflows` and their jobs (numbered from `$build_num`) into pipeline
/// `$pipeline_id` in transaction `$tx`; evaluates to the jobs' rows. A macro, not a function:
/// each backend's transaction is its own type.
macro_rules! insert_workflows {
    ($tx:ident, $project_id:expr, $pipeline_id:expr, $workflows:expr, $build_num:expr, $why:expr,
     $branch:expr, $tag:expr, $revision:expr, $at:expr) => {{
        let mut build_num: i64 = $build_num;
        let mut rows: Vec<JobRow> = Vec::new();
        for w in $workflows {
            let wid: i64 = sqlx::query_scalar(INSERT_WORKFLOW)
                .bind(Uuid::new_v4())
                .bind($pipeline_id)
                .bind(&w.name)
                .bind($at)
                .fetch_one(&mut *$tx)
                .await?;
            for j in &w.jobs {
                let row: JobRow = sqlx::query_as(INSERT_JOB)
                    .bind(Uuid::new_v4())
                    .bind($project_id)
                    .bind($pipeline_id)
                    .bind(wid)
                    .bind(build_num)
                    .bind(&j.name)
                    .bind(names_json(&j.requires))
                    .bind(&j.spec_json)
                    .bind(initial_state(j).as_str())
                    .bind($why)
                    .bind(&j.build_parameters_json)
                    .bind($branch)
                    .bind($tag)
                    .bind($revision)
                    .bind($at)
                    .bind(j.approval)
                    .bind(names_json(&j.accepts))
                    .bind(&j.resource_class)
                    .bind(i64::from(j.parallelism.clamp(1, 256)))
                    .fetch_one(&mut *$tx)
                    .await?;
                rows.push(row);
                build_num += 1;
            }
        }
        rows
    }};
}
pub(super) use insert_workflows;

impl Builds<'_> {
    /// Creates a pipeline, its workflows and jobs in one transaction, numbering the pipeline and
    /// its jobs from the project's counters. Jobs without `requires` are queued at once.
    pub async fn create_pipeline(
        &self,
        new: &NewPipeline,
    ) -> Result<(PipelineRecord, Vec<JobRecord>), StoreError> {
        let bump_pipeline = "UPDATE projects SET next_pipeline_number = next_pipeline_number + 1 WHERE id = $1 \
                             RETURNING next_pipeline_number - 1";
        let bump_builds = "UPDATE projects SET next_build_num = next_build_num + $2 WHERE id = $1 \
                           RETURNING next_build_num - $2";
        let insert_pipeline = format!(
            "INSERT INTO pipelines (uuid, project_id, number, trigger_type, actor_id, actor_login, branch, tag, revision, \
             parameters, state, errors, commit_info, created_at, updated_at, pr_number, pr_url, pr_head_repo, pr_author, \
             pr_fork, fetch_ref, secrets_withheld, delivery_id, actor_role_ceiling) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $14, $13, $13, $15, $16, $17, $18, $19, $20, $21, $22, $23) \
             RETURNING {PIPELINE_COLS}"
        );
        let insert_config =
            "INSERT INTO pipeline_configs (pipeline_id, source, compiled) VALUES ($1, $2, $3)";
        // An errored pipeline gets no jobs, so it takes no build numbers.
        let job_count: i64 = if new.errors.is_empty() {
            new.workflows.iter().map(|w| w.jobs.len() as i64).sum()
        } else {
            0
        };
        let state = if new.errors.is_empty() {
            "created"
        } else {
            "errored"
        };
        let errors = names_json(&new.errors);
        let commit_json = if new.commit_json.is_empty() {
            "{}"
        } else {
            new.commit_json.as_str()
        };
        let at = now();
        let pr = new.origin.pull_request.as_ref();
        let created: Option<(PipelineRecord, Vec<JobRow>)> = announcing!(self.0, Change::Project, tx => async {
            // The first statement writes: SQLite takes its write lock now (no stale read to
            // upgrade later), PostgreSQL locks the project's row, so numbers are handed out
            // one creation at a time. A number reserved earlier is used as is.
            let number: Option<i64> = match new.number {
                // Reserved earlier: lock the project's row all the same (and learn it exists).
                Some(n) => sqlx::query_scalar::<_, i64>("UPDATE projects SET next_pipeline_number = next_pipeline_number WHERE id = $1 RETURNING id")
                    .bind(new.project_id).fetch_optional(&mut *tx).await?.map(|_| n),
                None => sqlx::query_scalar(bump_pipeline).bind(new.project_id).fetch_optional(&mut *tx).await?,
            };
            let Some(number) = number else {
                return Ok(None);
            };
            let build_num: i64 = sqlx::query_scalar(bump_builds).bind(new.project_id).bind(job_count).fetch_one(&mut *tx).await?;
            let pipeline: PipelineRecord = sqlx::query_as(&insert_pipeline)
                .bind(new.id.unwrap_or_else(Uuid::new_v4)).bind(new.project_id).bind(number).bind(&new.trigger_type).bind(new.actor_id)
                .bind(&new.actor_login).bind(&new.branch).bind(&new.tag).bind(&new.revision).bind(&new.parameters_json)
                .bind(state).bind(&errors).bind(at).bind(commit_json)
                .bind(pr.map(|p| p.number as i64)).bind(pr.map(|p| p.url.as_str())).bind(pr.map(|p| p.head_repo.as_str()))
                .bind(pr.map(|p| p.author.as_str())).bind(pr.is_some_and(|p| p.fork)).bind(&new.origin.fetch_ref)
                .bind(new.origin.secrets_withheld).bind(new.origin.delivery_id)
                .bind(new.actor_role_ceiling.map(circlet_core::Role::as_str))
                .fetch_one(&mut *tx).await?;
            if let Some((source, compiled)) = &new.config {
                sqlx::query(insert_config).bind(pipeline.id).bind(source).bind(compiled).execute(&mut *tx).await?;
            }
            if new.setup {
                sqlx::query("INSERT INTO pipeline_setups (pipeline_id) VALUES ($1)").bind(pipeline.id).execute(&mut *tx).await?;
            }
            let rows = if new.errors.is_empty() {
                insert_workflows!(tx, new.project_id, pipeline.id, &new.workflows, build_num, &new.why, &new.branch, &new.tag, &new.revision, at)
            } else {
                Vec::new()
            };
            Ok::<_, sqlx::Error>(Some((pipeline, rows)))
        })?;
        let Some((pipeline, rows)) = created else {
            return Err(StoreError::NotFound(Missing::Project));
        };
        let jobs = rows
            .into_iter()
            .map(JobRecord::try_from)
            .collect::<Result<_, _>>()?;
        Ok((pipeline, jobs))
    }

    /// Takes the project's next pipeline number for a pipeline about to be created with it.
    pub async fn reserve_pipeline_number(&self, project_id: i64) -> Result<i64, StoreError> {
        let sql = "UPDATE projects SET next_pipeline_number = next_pipeline_number + 1 WHERE id = $1 \
                   RETURNING next_pipeline_number - 1";
        on_pool!(self.0, pool => sqlx::query_scalar(sql).bind(project_id).fetch_all(pool).await.map(crate::first))?
            .ok_or_else(|| StoreError::NotFound(Missing::Project))
    }

    /// Adds a retry of `job` to its workflow, queued at once, with a new build number, `why`
    /// `retry` and `retry_of` the original's number. Only a job that has ended is retried
    /// (`Conflict` otherwise). A retry clears the workflow's canceled mark: a user ran it again.
    pub async fn retry(&self, job: &JobRecord) -> Result<JobRecord, StoreError> {
        // The workflow's row first, as in `end`, so the two never wait on each other.
        let lock = "UPDATE workflows SET canceled = FALSE WHERE id = (SELECT workflow_id FROM jobs WHERE id = $1) RETURNING id";
        let current = "SELECT state FROM jobs WHERE id = $1";
        let bump = "UPDATE projects SET next_build_num = next_build_num + 1 WHERE id = $1 RETURNING next_build_num - 1";
        // Copied from the stored original, not from the caller's possibly stale record.
        let insert = concat!(
            "INSERT INTO jobs (uuid, project_id, pipeline_id, workflow_id, build_num, name, requires, spec, state, why, ",
            "retry_of, build_parameters, branch, tag, revision, queued_at, resource_class, parallelism) ",
            "SELECT $1, project_id, pipeline_id, workflow_id, $2, name, '[]', spec, 'queued', 'retry', build_num, ",
            "build_parameters, branch, tag, revision, $3, resource_class, parallelism FROM jobs WHERE id = $4 RETURNING ",
            job_cols!()
        );
        let outcome: Result<JobRow, Option<String>> = announcing!(self.0, Change::Project, tx => async {
            if sqlx::query_scalar::<_, i64>(lock).bind(job.id).fetch_optional(&mut *tx).await?.is_none() {
                return Ok(Err(None));
            }
            let state: String = sqlx::query_scalar(current).bind(job.id).fetch_one(&mut *tx).await?;
            if !JobState::parse(&state).is_some_and(JobState::is_final) {
                return Ok(Err(Some(state)));
            }
            let num: i64 = sqlx::query_scalar(bump).bind(job.project_id).fetch_one(&mut *tx).await?;
            let row = sqlx::query_as(insert)
                .bind(Uuid::new_v4()).bind(num).bind(now()).bind(job.id)
                .fetch_one(&mut *tx).await?;
            Ok::<_, sqlx::Error>(Ok(row))
        })?;
        match outcome {
            Ok(row) => row.try_into(),
            Err(None) => Err(StoreError::NotFound(Missing::Job(job.id))),
            Err(Some(state)) => Err(StoreError::Conflict(Conflict::Unfinished {
                build_num: job.build_num,
                state: state.to_string(),
            })),
        }
    }
}
