//! Rerunning a workflow: a new workflow of the same pipeline and name, whose jobs either run
//! again or keep the result an earlier attempt ended with (which is which is the caller's
//! rule: `circlet_app::builds::rerun`).

use super::queue::{SIBLINGS, Sibling, settle};
use super::*;
use crate::error::Missing;

/// One job of a workflow being rerun.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RerunJob {
    /// The job whose definition is copied (name, `requires`, accepts, spec, parameters, class,
    /// parallelism, approval): the first attempt of its name, since a retry requires nothing.
    pub definition: i64,
    /// The newest attempt of its name: the build a rerun retries (`retry_of`), or whose result
    /// a kept job carries (`kept_from`).
    pub previous: i64,
    /// `true`: not run again; the new job is `previous`'s result (state and times).
    pub keep: bool,
}

/// A new job that runs: its definition's, queued (on hold for an approval) or blocked until
/// what it requires ends.
const INSERT_RERUN: &str = concat!(
    "INSERT INTO jobs (uuid, project_id, pipeline_id, workflow_id, build_num, name, requires, spec, state, why, ",
    "retry_of, build_parameters, branch, tag, revision, queued_at, approval, accepts, resource_class, parallelism) ",
    "SELECT $1, d.project_id, d.pipeline_id, $2, $3, d.name, d.requires, d.spec, ",
    "CASE WHEN d.requires <> '[]' THEN 'blocked' WHEN d.approval THEN 'on_hold' ELSE 'queued' END, ",
    "'retry', p.build_num, d.build_parameters, d.branch, d.tag, d.revision, $4, d.approval, d.accepts, ",
    "d.resource_class, d.parallelism FROM jobs d, jobs p WHERE d.id = $5 AND p.id = $6"
);

/// A new job that keeps `previous`'s result; already told (nothing new happened to tell).
const INSERT_KEPT: &str = concat!(
    "INSERT INTO jobs (uuid, project_id, pipeline_id, workflow_id, build_num, name, requires, spec, state, why, ",
    "kept_from, build_parameters, branch, tag, revision, queued_at, started_at, stopped_at, approval, accepts, ",
    "approved_by, resource_class, parallelism, nodes_claimed, notified_state) ",
    "SELECT $1, d.project_id, d.pipeline_id, $2, $3, d.name, d.requires, d.spec, p.state, 'retry', ",
    "p.build_num, d.build_parameters, d.branch, d.tag, d.revision, p.queued_at, p.started_at, p.stopped_at, ",
    "d.approval, d.accepts, p.approved_by, d.resource_class, d.parallelism, p.nodes_claimed, p.state ",
    "FROM jobs d, jobs p WHERE d.id = $4 AND p.id = $5"
);

impl Builds<'_> {
    /// Reruns workflow `workflow_id` as a new workflow of its pipeline with the same name, in one
    /// transaction: one new job per entry of `jobs` (new build numbers, in that order), each
    /// run again or keeping its previous result; jobs whose requirements the kept ones already
    /// satisfy are released at once. `NotFound` when there is no such workflow.
    pub async fn rerun_workflow(
        &self,
        workflow_id: i64,
        jobs: &[RerunJob],
    ) -> Result<(WorkflowRecord, Vec<JobRecord>), StoreError> {
        // The old workflow's row first, as `end` and `retry` lock it.
        let lock =
            "UPDATE workflows SET canceled = canceled WHERE id = $1 RETURNING pipeline_id, name";
        let project = "SELECT project_id FROM pipelines WHERE id = $1";
        let bump = "UPDATE projects SET next_build_num = next_build_num + $2 WHERE id = $1 \
                    RETURNING next_build_num - $2";
        let release =
            "UPDATE jobs SET state = $2, stopped_at = $3 WHERE id = $1 AND state = 'blocked'";
        let at = now();
        let made: Option<i64> = announcing!(self.0, Change::Project, tx => async {
            let Some((pipeline_id, name)): Option<(i64, String)> =
                sqlx::query_as(lock).bind(workflow_id).fetch_optional(&mut *tx).await?
            else {
                return Ok(None);
            };
            let project_id: i64 = sqlx::query_scalar(project).bind(pipeline_id).fetch_one(&mut *tx).await?;
            let first: i64 = sqlx::query_scalar(bump).bind(project_id).bind(jobs.len() as i64).fetch_one(&mut *tx).await?;
            let wid: i64 = sqlx::query_scalar(creating::INSERT_WORKFLOW)
                .bind(Uuid::new_v4()).bind(pipeline_id).bind(&name).bind(at)
                .fetch_one(&mut *tx).await?;
            for (i, j) in jobs.iter().enumerate() {
                let num = first + i as i64;
                let insert = if j.keep {
                    sqlx::query(INSERT_KEPT).bind(Uuid::new_v4()).bind(wid).bind(num)
                } else {
                    sqlx::query(INSERT_RERUN).bind(Uuid::new_v4()).bind(wid).bind(num).bind(at)
                };
                insert.bind(j.definition).bind(j.previous).execute(&mut *tx).await?;
            }
            let rows: Vec<Sibling> = sqlx::query_as(SIBLINGS).bind(wid).fetch_all(&mut *tx).await?;
            for (id, next) in settle(&rows) {
                let stopped = (next == JobState::NotRun).then_some(at);
                sqlx::query(release).bind(id).bind(next.as_str()).bind(stopped).execute(&mut *tx).await?;
            }
            Ok::<_, sqlx::Error>(Some(wid))
        })?;
        let wid = made.ok_or(StoreError::NotFound(Missing::Workflow(workflow_id)))?;
        let sql = format!("{WORKFLOW_SELECT} WHERE w.id = $1");
        let workflow: WorkflowRecord =
            on_pool!(self.0, pool => sqlx::query_as(&sql).bind(wid).fetch_one(pool).await)?;
        let jobs = self.jobs_of_workflow(wid).await?;
        Ok((workflow, jobs))
    }
}
