//! A branch's status as badges and the cc.xml feed show it: how its latest finished pipeline
//! ended (all of its workflows, as CircleCI's badges follow) and whether anything on it is
//! still to finish. Kept apart from `builds.rs` (the job life-cycle) because it only reads.

use crate::builds::{Builds, JobRecord};
use crate::{StoreError, on_pool};
use circlet_core::build_state::{JobState, pipeline_result};
use time::OffsetDateTime;

/// What a status badge or a cc.xml entry needs to know about one branch of a project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BranchStatus {
    /// The newest pipeline on the branch whose jobs have all ended, if any.
    pub latest_finished: Option<FinishedPipeline>,
    /// Whether a job on the branch is queued, blocked on its requirements, or running.
    pub building: bool,
}

/// How a finished pipeline ended, as a badge or a cc.xml entry shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinishedPipeline {
    /// The result of all its workflows together ([`pipeline_result`]).
    pub state: JobState,
    /// The highest build number among its jobs (cc.xml's `lastBuildLabel`).
    pub build_num: i64,
    /// When its last job ended.
    pub finished_at: OffsetDateTime,
}

/// The id of the newest pipeline of project `$project` on branch `$branch` (SQL expressions)
/// none of whose jobs is still to finish. Walks the branch's jobs newest first
/// (`jobs_project_branch`) and stops at the first whose pipeline is done; the probe goes through
/// `workflows_pipeline` and `jobs_workflow`.
macro_rules! latest_finished_pipeline {
    ($project:literal, $branch:literal) => {
        concat!(
            "SELECT j.pipeline_id FROM jobs j WHERE j.project_id = ",
            $project,
            " AND j.branch = ",
            $branch,
            " AND NOT EXISTS (SELECT 1 FROM workflows w JOIN jobs u ON u.workflow_id = w.id ",
            "WHERE w.pipeline_id = j.pipeline_id AND u.state IN ('blocked','queued','running','on_hold')) ",
            "ORDER BY j.build_num DESC LIMIT 1"
        )
    };
}
pub(crate) use latest_finished_pipeline;

impl Builds<'_> {
    /// Whether a job of `project_id` on `branch` has yet to finish (queued, blocked or running).
    pub async fn building(&self, project_id: i64, branch: &str) -> Result<bool, StoreError> {
        // `jobs_project_branch` serves this; LIMIT 1 stops at the first unfinished job.
        let sql = "SELECT id FROM jobs WHERE project_id = $1 AND branch = $2 \
                   AND state IN ('queued','blocked','running') LIMIT 1";
        let found: Option<i64> = on_pool!(self.0, pool => {
            sqlx::query_scalar(sql).bind(project_id).bind(branch).fetch_optional(pool).await
        })?;
        Ok(found.is_some())
    }

    /// The status of `branch` in `project_id`: its latest finished pipeline and whether it is
    /// building.
    pub async fn branch_status(
        &self,
        project_id: i64,
        branch: &str,
    ) -> Result<BranchStatus, StoreError> {
        Ok(BranchStatus {
            latest_finished: self.latest_finished_pipeline(project_id, branch).await?,
            building: self.building(project_id, branch).await?,
        })
    }

    /// The newest pipeline of `project_id` on `branch` whose jobs have all ended, and how.
    pub async fn latest_finished_pipeline(
        &self,
        project_id: i64,
        branch: &str,
    ) -> Result<Option<FinishedPipeline>, StoreError> {
        let sql = latest_finished_pipeline!("$1", "$2");
        let id: Option<i64> = on_pool!(self.0, pool => {
            sqlx::query_scalar(sql).bind(project_id).bind(branch).fetch_optional(pool).await
        })?;
        match id {
            Some(id) => self.pipeline_outcome(id).await,
            None => Ok(None),
        }
    }

    /// How pipeline `pipeline_id` ended; `None` while a job of it has not. A rerun workflow
    /// (a newer one of the same name) stands for the ones it reran.
    pub async fn pipeline_outcome(
        &self,
        pipeline_id: i64,
    ) -> Result<Option<FinishedPipeline>, StoreError> {
        let workflows = self.workflows(pipeline_id).await?;
        let mut canceled = false;
        let mut jobs = Vec::new();
        for w in &workflows {
            let rerun = workflows.iter().any(|n| n.name == w.name && n.id > w.id);
            if rerun {
                continue;
            }
            canceled |= w.canceled;
            jobs.extend(self.jobs_of_workflow(w.id).await?);
        }
        Ok(outcome(&jobs, canceled))
    }
}

/// How a pipeline with `jobs` (every attempt) ended. A job that was retried counts by its
/// latest attempt only: the retry is the answer to the failure it replaces.
fn outcome(jobs: &[JobRecord], canceled: bool) -> Option<FinishedPipeline> {
    let retried = |j: &JobRecord| {
        jobs.iter()
            .any(|r| r.workflow_id == j.workflow_id && r.retry_of == Some(j.build_num))
    };
    let states: Vec<JobState> = jobs
        .iter()
        .filter(|j| !retried(j))
        .map(|j| j.state)
        .collect();
    Some(FinishedPipeline {
        state: pipeline_result(&states, canceled)?,
        build_num: jobs.iter().map(|j| j.build_num).max()?,
        finished_at: jobs
            .iter()
            .map(|j| j.stopped_at.unwrap_or(j.queued_at))
            .max()?,
    })
}
