//! Pipelines, workflows and jobs: creating them, the runner queue, and reading them back.
//!
//! A job's life: `blocked` (waiting on `requires`) or `queued` → `running` (claimed by exactly one
//! runner) → a final state. When a job ends, the jobs of its workflow that required it are
//! released (`queued`) or given up (`not_run`) in the same transaction.

use crate::{Store, StoreError, now, on_pool, ts};
use circlet_core::build_state::JobState;
use time::OffsetDateTime;
use uuid::Uuid;

/// What it takes to create a pipeline with its workflows and jobs.
#[derive(Debug, Clone, Default)]
pub struct NewPipeline {
    /// The project.
    pub project_id: i64,
    /// A number taken earlier with [`Builds::reserve_pipeline_number`] (the config may use
    /// `<< pipeline.number >>` before the pipeline exists), or `None` to take the next one now.
    pub number: Option<i64>,
    /// What the commit says about itself, as a JSON object.
    pub commit_json: String,
    /// `api`, `webhook`, `explicit`.
    pub trigger_type: String,
    /// The triggering user, if any.
    pub actor_id: Option<i64>,
    /// Their login.
    pub actor_login: String,
    /// The branch built, or `None` for a tag.
    pub branch: Option<String>,
    /// The tag built, if any.
    pub tag: Option<String>,
    /// The revision built.
    pub revision: String,
    /// Pipeline parameters as given, as a JSON object.
    pub parameters_json: String,
    /// Config errors; a pipeline with errors is `errored` and has no workflows.
    pub errors: Vec<String>,
    /// Why its jobs run (v1.1 `why`): `api`, `retry`, …
    pub why: String,
    /// The workflows to create.
    pub workflows: Vec<NewWorkflow>,
}

/// A workflow to create.
#[derive(Debug, Clone)]
pub struct NewWorkflow {
    /// Its name.
    pub name: String,
    /// Its jobs.
    pub jobs: Vec<NewJob>,
}

/// A job to create.
#[derive(Debug, Clone)]
pub struct NewJob {
    /// The job's name in the config.
    pub name: String,
    /// Names of jobs of the same workflow that must succeed first.
    pub requires: Vec<String>,
    /// What the runner needs to run it, as JSON.
    pub spec_json: String,
    /// Build parameters given by the trigger, as a JSON object.
    pub build_parameters_json: String,
}

/// A stored pipeline.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct PipelineRecord {
    /// Store id.
    pub id: i64,
    /// Public id.
    pub uuid: Uuid,
    /// The project.
    pub project_id: i64,
    /// Per-project number.
    pub number: i64,
    /// How it was triggered.
    pub trigger_type: String,
    /// Who triggered it.
    pub actor_login: String,
    /// Branch, if a branch build.
    pub branch: Option<String>,
    /// Tag, if a tag build.
    pub tag: Option<String>,
    /// Revision.
    pub revision: String,
    /// Parameters, JSON object.
    pub parameters: String,
    /// `created` or `errored`.
    pub state: String,
    /// Config errors, JSON array of strings.
    pub errors: String,
    /// What the commit says about itself, a JSON object.
    pub commit_info: String,
    /// When created.
    pub created_at: OffsetDateTime,
    /// When last changed.
    pub updated_at: OffsetDateTime,
}

/// One page of a project's pipelines; see [`Builds::pipelines`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipelinePage {
    /// The pipelines, newest first.
    pub pipelines: Vec<PipelineRecord>,
    /// Pass as `before` for the next page; `None` when this page is the last.
    pub next_before: Option<i64>,
}

/// A stored workflow.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct WorkflowRecord {
    /// Store id.
    pub id: i64,
    /// Public id.
    pub uuid: Uuid,
    /// Its pipeline.
    pub pipeline_id: i64,
    /// Its pipeline's project.
    pub project_id: i64,
    /// Its name.
    pub name: String,
    /// Whether a user canceled it.
    pub canceled: bool,
    /// When created.
    pub created_at: OffsetDateTime,
}

/// A stored job (a v1.1 "build").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRecord {
    /// Store id.
    pub id: i64,
    /// Public id.
    pub uuid: Uuid,
    /// The project.
    pub project_id: i64,
    /// The pipeline.
    pub pipeline_id: i64,
    /// The workflow.
    pub workflow_id: i64,
    /// Per-project build number.
    pub build_num: i64,
    /// The job's name.
    pub name: String,
    /// Jobs it requires (JSON array of names).
    pub requires: Vec<String>,
    /// What the runner needs (JSON).
    pub spec: String,
    /// Where it is in its life.
    pub state: JobState,
    /// v1.1 `why`.
    pub why: String,
    /// The build number this one retries.
    pub retry_of: Option<i64>,
    /// Build parameters (JSON object).
    pub build_parameters: String,
    /// Branch.
    pub branch: Option<String>,
    /// Tag.
    pub tag: Option<String>,
    /// Revision.
    pub revision: String,
    /// When it was queued (created).
    pub queued_at: OffsetDateTime,
    /// When a runner started it.
    pub started_at: Option<OffsetDateTime>,
    /// When it ended.
    pub stopped_at: Option<OffsetDateTime>,
    /// The runner (its token id) running or having run it.
    pub runner_id: Option<i64>,
    /// Its runner's last heartbeat.
    pub heartbeat_at: Option<OffsetDateTime>,
    /// A user asked to cancel it while it runs.
    pub cancel_requested: bool,
}

#[derive(sqlx::FromRow)]
struct JobRow {
    id: i64,
    uuid: Uuid,
    project_id: i64,
    pipeline_id: i64,
    workflow_id: i64,
    build_num: i64,
    name: String,
    requires: String,
    spec: String,
    state: String,
    why: String,
    retry_of: Option<i64>,
    build_parameters: String,
    branch: Option<String>,
    tag: Option<String>,
    revision: String,
    queued_at: OffsetDateTime,
    started_at: Option<OffsetDateTime>,
    stopped_at: Option<OffsetDateTime>,
    runner_id: Option<i64>,
    heartbeat_at: Option<OffsetDateTime>,
    cancel_requested: bool,
}

/// A foreign-key violation on a job's rows means the job does not exist.
fn no_such_job(e: sqlx::Error, job_id: i64) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
            StoreError::NotFound(format!("job {job_id} does not exist"))
        }
        _ => e.into(),
    }
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Database(sqlx::Error::Decode(format!("bad stored {what}").into()))
}

impl TryFrom<JobRow> for JobRecord {
    type Error = StoreError;
    fn try_from(r: JobRow) -> Result<Self, StoreError> {
        Ok(JobRecord {
            id: r.id,
            uuid: r.uuid,
            project_id: r.project_id,
            pipeline_id: r.pipeline_id,
            workflow_id: r.workflow_id,
            build_num: r.build_num,
            name: r.name,
            requires: parse_names(&r.requires).ok_or_else(|| corrupt("requires"))?,
            spec: r.spec,
            state: JobState::parse(&r.state).ok_or_else(|| corrupt("job state"))?,
            why: r.why,
            retry_of: r.retry_of,
            build_parameters: r.build_parameters,
            branch: r.branch,
            tag: r.tag,
            revision: r.revision,
            queued_at: r.queued_at,
            started_at: r.started_at,
            stopped_at: r.stopped_at,
            runner_id: r.runner_id,
            heartbeat_at: r.heartbeat_at,
            cancel_requested: r.cancel_requested,
        })
    }
}

/// A stored JSON array of strings (`requires`, pipeline `errors`) → the strings. A small reader
/// for the one JSON shape stored here, so the store needs no JSON library. Job names are any
/// YAML key and errors any text, so every JSON string escape is understood.
fn parse_names(raw: &str) -> Option<Vec<String>> {
    let mut chars = raw.trim().chars().peekable();
    let skip_ws = |c: &mut std::iter::Peekable<std::str::Chars<'_>>| {
        while c.next_if(|c| c.is_ascii_whitespace()).is_some() {}
    };
    if chars.next()? != '[' {
        return None;
    }
    let mut names = Vec::new();
    skip_ws(&mut chars);
    if chars.next_if_eq(&']').is_some() {
        return chars.next().is_none().then_some(names);
    }
    loop {
        skip_ws(&mut chars);
        if chars.next()? != '"' {
            return None;
        }
        let mut name = String::new();
        loop {
            match chars.next()? {
                '"' => break,
                '\\' => match chars.next()? {
                    '"' => name.push('"'),
                    '\\' => name.push('\\'),
                    '/' => name.push('/'),
                    'b' => name.push('\u{8}'),
                    'f' => name.push('\u{c}'),
                    'n' => name.push('\n'),
                    'r' => name.push('\r'),
                    't' => name.push('\t'),
                    'u' => {
                        let high = hex4(&mut chars)?;
                        let code = if (0xD800..0xDC00).contains(&high) {
                            if chars.next()? != '\\' || chars.next()? != 'u' {
                                return None;
                            }
                            let low = hex4(&mut chars)?;
                            0x10000 + ((high - 0xD800) << 10) + low.checked_sub(0xDC00)?
                        } else {
                            high
                        };
                        name.push(char::from_u32(code)?);
                    }
                    _ => return None,
                },
                c => name.push(c),
            }
        }
        names.push(name);
        skip_ws(&mut chars);
        match chars.next()? {
            ',' => continue,
            ']' => return chars.next().is_none().then_some(names),
            _ => return None,
        }
    }
}

/// The four hex digits of a `\\uXXXX` escape.
fn hex4(chars: &mut impl Iterator<Item = char>) -> Option<u32> {
    let hex: String = chars.take(4).collect();
    if hex.len() != 4 {
        return None;
    }
    u32::from_str_radix(&hex, 16).ok()
}

/// Strings → a JSON array of strings, escaped so that any JSON reader (the API's, this
/// module's [`parse_names`]) reads back exactly the same strings.
fn names_json(names: &[String]) -> String {
    let mut out = String::from("[");
    for (i, name) in names.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push('"');
        for c in name.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
                c => out.push(c),
            }
        }
        out.push('"');
    }
    out.push(']');
    out
}

macro_rules! job_cols {
    () => {
        "jobs.id, jobs.uuid, jobs.project_id, jobs.pipeline_id, jobs.workflow_id, jobs.build_num, jobs.name, \
         jobs.requires, jobs.spec, jobs.state, jobs.why, jobs.retry_of, jobs.build_parameters, jobs.branch, \
         jobs.tag, jobs.revision, jobs.queued_at, jobs.started_at, jobs.stopped_at, jobs.runner_id, \
         jobs.heartbeat_at, jobs.cancel_requested"
    };
}

const PIPELINE_COLS: &str = "id, uuid, project_id, number, trigger_type, actor_login, branch, tag, revision, \
                             parameters, state, errors, commit_info, created_at, updated_at";
/// A workflow with its project (from its pipeline), so callers can check access in one lookup.
const WORKFLOW_SELECT: &str = "SELECT w.id, w.uuid, w.pipeline_id, p.project_id, w.name, w.canceled, w.created_at \
                               FROM workflows w JOIN pipelines p ON p.id = w.pipeline_id";

/// Which jobs a v1.1 build list shows (`filter=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum JobFilter {
    /// Every job.
    #[default]
    All,
    /// Finished jobs.
    Completed,
    /// Successful jobs.
    Successful,
    /// Failed jobs (failed, timed out, infrastructure failure).
    Failed,
    /// Queued or running jobs.
    Running,
}

impl JobFilter {
    fn sql(self) -> &'static str {
        match self {
            JobFilter::All => "",
            JobFilter::Completed => {
                " AND jobs.state IN ('success','failed','canceled','infrastructure_fail','timedout')"
            }
            JobFilter::Successful => " AND jobs.state = 'success'",
            JobFilter::Failed => " AND jobs.state IN ('failed','infrastructure_fail','timedout')",
            JobFilter::Running => " AND jobs.state IN ('queued','running','blocked')",
        }
    }
}

/// Use-cases on builds; see [`Store::builds`].
pub struct Builds<'s>(pub(crate) &'s Store);

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
             parameters, state, errors, commit_info, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $14, $13, $13) \
             RETURNING {PIPELINE_COLS}"
        );
        let insert_workflow = "INSERT INTO workflows (uuid, pipeline_id, name, created_at) VALUES ($1, $2, $3, $4) RETURNING id";
        let insert_job = concat!(
            "INSERT INTO jobs (uuid, project_id, pipeline_id, workflow_id, build_num, name, requires, spec, state, why, ",
            "build_parameters, branch, tag, revision, queued_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) ",
            "RETURNING ",
            job_cols!()
        );
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
        let created: Option<(PipelineRecord, Vec<JobRow>)> = on_pool!(self.0, pool => async {
            let mut tx = pool.begin().await?;
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
            let mut build_num: i64 = sqlx::query_scalar(bump_builds).bind(new.project_id).bind(job_count).fetch_one(&mut *tx).await?;
            let pipeline: PipelineRecord = sqlx::query_as(&insert_pipeline)
                .bind(Uuid::new_v4()).bind(new.project_id).bind(number).bind(&new.trigger_type).bind(new.actor_id)
                .bind(&new.actor_login).bind(&new.branch).bind(&new.tag).bind(&new.revision).bind(&new.parameters_json)
                .bind(state).bind(&errors).bind(at).bind(commit_json)
                .fetch_one(&mut *tx).await?;
            let mut rows = Vec::new();
            if new.errors.is_empty() {
                for w in &new.workflows {
                    let wid: i64 = sqlx::query_scalar(insert_workflow).bind(Uuid::new_v4()).bind(pipeline.id).bind(&w.name).bind(at)
                        .fetch_one(&mut *tx).await?;
                    for j in &w.jobs {
                        let state = if j.requires.is_empty() { JobState::Queued } else { JobState::Blocked };
                        let row: JobRow = sqlx::query_as(insert_job)
                            .bind(Uuid::new_v4()).bind(new.project_id).bind(pipeline.id).bind(wid).bind(build_num)
                            .bind(&j.name).bind(names_json(&j.requires)).bind(&j.spec_json).bind(state.as_str()).bind(&new.why)
                            .bind(&j.build_parameters_json).bind(&new.branch).bind(&new.tag).bind(&new.revision).bind(at)
                            .fetch_one(&mut *tx).await?;
                        rows.push(row);
                        build_num += 1;
                    }
                }
            }
            tx.commit().await?;
            Ok::<_, sqlx::Error>(Some((pipeline, rows)))
        }.await)?;
        let Some((pipeline, rows)) = created else {
            return Err(StoreError::NotFound(format!(
                "project {} does not exist",
                new.project_id
            )));
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
        on_pool!(self.0, pool => sqlx::query_scalar(sql).bind(project_id).fetch_optional(pool).await)?
            .ok_or_else(|| StoreError::NotFound("project not found".into()))
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
            "retry_of, build_parameters, branch, tag, revision, queued_at) ",
            "SELECT $1, project_id, pipeline_id, workflow_id, $2, name, '[]', spec, 'queued', 'retry', build_num, ",
            "build_parameters, branch, tag, revision, $3 FROM jobs WHERE id = $4 RETURNING ",
            job_cols!()
        );
        let outcome: Result<JobRow, Option<String>> = on_pool!(self.0, pool => async {
            let mut tx = pool.begin().await?;
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
            tx.commit().await?;
            Ok::<_, sqlx::Error>(Ok(row))
        }.await)?;
        match outcome {
            Ok(row) => row.try_into(),
            Err(None) => Err(StoreError::NotFound(format!(
                "job {} does not exist",
                job.id
            ))),
            Err(Some(state)) => Err(StoreError::Conflict(format!(
                "build {} is {state}; only a finished job can be retried",
                job.build_num
            ))),
        }
    }

    /// The pipeline with this public id.
    pub async fn pipeline_by_uuid(&self, uuid: Uuid) -> Result<Option<PipelineRecord>, StoreError> {
        let sql = format!("SELECT {PIPELINE_COLS} FROM pipelines WHERE uuid = $1");
        Ok(on_pool!(self.0, pool => sqlx::query_as(&sql).bind(uuid).fetch_optional(pool).await)?)
    }

    /// The pipeline with this store id.
    pub async fn pipeline_by_id(&self, id: i64) -> Result<Option<PipelineRecord>, StoreError> {
        let sql = format!("SELECT {PIPELINE_COLS} FROM pipelines WHERE id = $1");
        Ok(on_pool!(self.0, pool => sqlx::query_as(&sql).bind(id).fetch_optional(pool).await)?)
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

    /// Atomically hands the oldest queued job to runner `runner_id`; two runners never get one job.
    pub async fn claim_next(&self, runner_id: i64) -> Result<Option<JobRecord>, StoreError> {
        let at = now();
        let row: Option<JobRow> = match &self.0.backend {
            crate::Backend::Postgres(pool) => {
                let sql = concat!(
                    "UPDATE jobs SET state = 'running', runner_id = $1, started_at = $2, heartbeat_at = $2 ",
                    "WHERE id = (SELECT id FROM jobs WHERE state = 'queued' ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED) ",
                    "RETURNING ",
                    job_cols!()
                );
                sqlx::query_as(sql)
                    .bind(runner_id)
                    .bind(at)
                    .fetch_optional(pool)
                    .await?
            }
            crate::Backend::Sqlite(pool) => {
                // One statement is one write transaction in SQLite: nobody can claim in between.
                let sql = concat!(
                    "UPDATE jobs SET state = 'running', runner_id = $1, started_at = $2, heartbeat_at = $2 ",
                    "WHERE id = (SELECT id FROM jobs WHERE state = 'queued' ORDER BY id LIMIT 1) AND state = 'queued' ",
                    "RETURNING ",
                    job_cols!()
                );
                sqlx::query_as(sql)
                    .bind(runner_id)
                    .bind(at)
                    .fetch_optional(pool)
                    .await?
            }
        };
        row.map(JobRecord::try_from).transpose()
    }

    /// Records a heartbeat from the runner running `job_id`. `None` when that runner no longer
    /// holds the job (it ended or was taken away); otherwise whether cancellation was requested.
    pub async fn heartbeat(&self, job_id: i64, runner_id: i64) -> Result<Option<bool>, StoreError> {
        let sql = "UPDATE jobs SET heartbeat_at = $3 WHERE id = $1 AND runner_id = $2 AND state = 'running' RETURNING cancel_requested";
        Ok(
            on_pool!(self.0, pool => sqlx::query_scalar(sql).bind(job_id).bind(runner_id).bind(now()).fetch_optional(pool).await)?,
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
        self.end(job_id, &["running"], runner_id, None, state).await
    }

    /// Asks to cancel a job: one not yet running ends `canceled` at once (and what required it
    /// will not run); a running one is flagged, and its runner learns at its next heartbeat.
    /// `false` when the job had already ended (or does not exist).
    pub async fn request_cancel(&self, job_id: i64) -> Result<bool, StoreError> {
        if self
            .end(
                job_id,
                &["queued", "blocked"],
                None,
                None,
                JobState::Canceled,
            )
            .await?
        {
            return Ok(true);
        }
        let sql = "UPDATE jobs SET cancel_requested = TRUE WHERE id = $1 AND state = 'running'";
        let n = on_pool!(self.0, pool => sqlx::query(sql).bind(job_id).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(n > 0)
    }

    /// Cancels a workflow in one transaction: queued jobs end `canceled`, blocked ones
    /// `not_run`, running ones are flagged for their runners; later, nothing of it is released.
    /// `NotFound` when there is no such workflow.
    pub async fn cancel_workflow(&self, workflow_id: i64) -> Result<(), StoreError> {
        let mark = "UPDATE workflows SET canceled = TRUE WHERE id = $1 RETURNING id";
        let end =
            "UPDATE jobs SET state = $2, stopped_at = $3 WHERE workflow_id = $1 AND state = $4";
        let flag =
            "UPDATE jobs SET cancel_requested = TRUE WHERE workflow_id = $1 AND state = 'running'";
        let at = now();
        let found: bool = on_pool!(self.0, pool => async {
            let mut tx = pool.begin().await?;
            if sqlx::query_scalar::<_, i64>(mark).bind(workflow_id).fetch_optional(&mut *tx).await?.is_none() {
                return Ok(false);
            }
            for (from, to) in [(JobState::Blocked, JobState::NotRun), (JobState::Queued, JobState::Canceled)] {
                sqlx::query(end).bind(workflow_id).bind(to.as_str()).bind(at).bind(from.as_str()).execute(&mut *tx).await?;
            }
            // After the queued ones: a job claimed meanwhile is running by now, and flagged here.
            sqlx::query(flag).bind(workflow_id).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>(true)
        }.await)?;
        if found {
            Ok(())
        } else {
            Err(StoreError::NotFound(format!(
                "workflow {workflow_id} does not exist"
            )))
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
            "UPDATE jobs SET state = $2, stopped_at = $3, cancel_requested = FALSE WHERE id = $1 AND state IN ({allowed}) \
             AND ($4 IS NULL OR runner_id = $4) AND ($5 IS NULL OR heartbeat_at < $5)"
        );
        let siblings = "SELECT id, name, requires, state FROM jobs WHERE workflow_id = $1";
        let release =
            "UPDATE jobs SET state = $2, stopped_at = $3 WHERE id = $1 AND state = 'blocked'";
        let at = now();
        let ended: bool = on_pool!(self.0, pool => async {
            let mut tx = pool.begin().await?;
            let Some((workflow_id, canceled)): Option<(i64, bool)> = sqlx::query_as(lock)
                .bind(job_id).fetch_optional(&mut *tx).await?
            else {
                return Ok(false);
            };
            let n = sqlx::query(&update)
                .bind(job_id).bind(state.as_str()).bind(at).bind(runner_id).bind(silent_before)
                .execute(&mut *tx).await?.rows_affected();
            if n == 0 {
                return Ok(false);
            }
            let rows: Vec<(i64, String, String, String)> = sqlx::query_as(siblings).bind(workflow_id).fetch_all(&mut *tx).await?;
            for (id, next) in settle(&rows) {
                // Nothing of a canceled workflow starts any more.
                let next = if canceled { JobState::NotRun } else { next };
                let stopped = (next == JobState::NotRun).then_some(at);
                sqlx::query(release).bind(id).bind(next.as_str()).bind(stopped).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok::<_, sqlx::Error>(true)
        }.await)?;
        Ok(ended)
    }

    /// Starts step `idx` of a job; starting it again changes nothing (a resent request).
    /// `NotFound` when there is no such job.
    pub async fn start_step(&self, job_id: i64, idx: i64, name: &str) -> Result<(), StoreError> {
        let sql = "INSERT INTO job_steps (job_id, idx, name, state, started_at) VALUES ($1, $2, $3, 'running', $4) \
                   ON CONFLICT (job_id, idx) DO NOTHING";
        on_pool!(self.0, pool => sqlx::query(sql).bind(job_id).bind(idx).bind(name).bind(now()).execute(pool).await.map(|r| r.rows_affected()))
            .map_err(|e| no_such_job(e, job_id))?;
        Ok(())
    }

    /// Ends step `idx` with a state (`success`, `failed`, `canceled`, `timedout`) and exit code.
    /// `NotFound` when the step was never started.
    pub async fn finish_step(
        &self,
        job_id: i64,
        idx: i64,
        state: &str,
        exit_code: Option<i32>,
    ) -> Result<(), StoreError> {
        let sql = "UPDATE job_steps SET state = $3, exit_code = $4, stopped_at = $5 WHERE job_id = $1 AND idx = $2";
        let n = on_pool!(self.0, pool => {
            sqlx::query(sql).bind(job_id).bind(idx).bind(state).bind(exit_code).bind(now()).execute(pool).await.map(|r| r.rows_affected())
        })?;
        if n == 0 {
            return Err(StoreError::NotFound(format!(
                "step {idx} of job {job_id} was not started"
            )));
        }
        Ok(())
    }

    /// Appends a chunk of (already masked) output to step `idx`; `seq` orders chunks and makes
    /// a resent chunk harmless (the first text sent with a `seq` is kept). `NotFound` when
    /// there is no such job.
    pub async fn append_output(
        &self,
        job_id: i64,
        idx: i64,
        seq: i64,
        text: &str,
    ) -> Result<(), StoreError> {
        let sql = "INSERT INTO job_output (job_id, step_idx, seq, at, text) VALUES ($1, $2, $3, $4, $5) \
                   ON CONFLICT (job_id, step_idx, seq) DO NOTHING";
        on_pool!(self.0, pool => {
            sqlx::query(sql).bind(job_id).bind(idx).bind(seq).bind(now()).bind(text).execute(pool).await.map(|r| r.rows_affected())
        })
        .map_err(|e| no_such_job(e, job_id))?;
        Ok(())
    }

    /// A job's steps: (index, name, state, exit code, started, stopped).
    pub async fn steps(&self, job_id: i64) -> Result<Vec<StepRecord>, StoreError> {
        // `idx` and `seq` (below) are INTEGER columns: PostgreSQL answers INT4, read here as i64.
        let sql = "SELECT CAST(idx AS BIGINT) AS idx, name, state, exit_code, started_at, stopped_at FROM job_steps \
                   WHERE job_id = $1 ORDER BY idx";
        Ok(on_pool!(self.0, pool => sqlx::query_as(sql).bind(job_id).fetch_all(pool).await)?)
    }

    /// A step's output chunks after `after_seq`, in order.
    pub async fn output(
        &self,
        job_id: i64,
        idx: i64,
        after_seq: i64,
    ) -> Result<Vec<(i64, String)>, StoreError> {
        let sql = "SELECT CAST(seq AS BIGINT), text FROM job_output WHERE job_id = $1 AND step_idx = $2 AND seq > $3 \
                   ORDER BY seq";
        Ok(
            on_pool!(self.0, pool => sqlx::query_as(sql).bind(job_id).bind(idx).bind(after_seq).fetch_all(pool).await)?,
        )
    }
}

/// A stored step.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct StepRecord {
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

/// Which blocked jobs of a workflow change state, given every job's (id, name, requires, state):
/// a job whose requirements all succeeded is queued; one with a requirement that ended any other
/// way will never run. Applied until nothing changes, so "not run" travels down the chain.
fn settle(rows: &[(i64, String, String, String)]) -> Vec<(i64, JobState)> {
    let mut states: Vec<(i64, &str, Vec<String>, JobState)> = rows
        .iter()
        .map(|(id, name, req, st)| {
            (
                *id,
                name.as_str(),
                parse_names(req).unwrap_or_default(),
                JobState::parse(st).unwrap_or(JobState::NotRun),
            )
        })
        .collect();
    let mut changes = Vec::new();
    loop {
        let mut changed = false;
        for i in 0..states.len() {
            if states[i].3 != JobState::Blocked {
                continue;
            }
            let reqs: Vec<JobState> = states[i]
                .2
                .iter()
                .map(|r| {
                    states
                        .iter()
                        .filter(|s| s.1 == r)
                        .map(|s| s.3)
                        .next_back()
                        .unwrap_or(JobState::NotRun)
                })
                .collect();
            let next = if reqs.iter().all(|s| *s == JobState::Success) {
                Some(JobState::Queued)
            } else if reqs.iter().any(|s| s.is_final() && *s != JobState::Success) {
                Some(JobState::NotRun)
            } else {
                None
            };
            if let Some(next) = next {
                states[i].3 = next;
                changes.push((states[i].0, next));
                changed = true;
            }
        }
        if !changed {
            return changes;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        let names = vec!["build".to_owned(), "test-1".to_owned()];
        assert_eq!(parse_names(&names_json(&names)), Some(names));
        assert_eq!(parse_names("[]"), Some(vec![]));
        assert_eq!(parse_names("nope"), None);
    }

    #[test]
    fn settling_releases_and_gives_up_down_the_chain() {
        let row = |id: i64, name: &str, req: &str, st: &str| {
            (id, name.to_owned(), req.to_owned(), st.to_owned())
        };
        let ok = [
            row(1, "a", "[]", "success"),
            row(2, "b", "[\"a\"]", "blocked"),
            row(3, "c", "[\"b\"]", "blocked"),
        ];
        assert_eq!(settle(&ok), vec![(2, JobState::Queued)]);
        let bad = [
            row(1, "a", "[]", "failed"),
            row(2, "b", "[\"a\"]", "blocked"),
            row(3, "c", "[\"b\"]", "blocked"),
        ];
        assert_eq!(
            settle(&bad),
            vec![(2, JobState::NotRun), (3, JobState::NotRun)]
        );
        let waiting = [
            row(1, "a", "[]", "running"),
            row(2, "b", "[\"a\"]", "blocked"),
        ];
        assert!(settle(&waiting).is_empty());
    }
}
