//! A branch's status as badges and the cc.xml feed show it: its latest finished job and whether
//! anything on it is still to finish. Kept apart from `builds.rs` (the job life-cycle) because
//! it only reads.

use crate::builds::{Builds, JobRecord};
use crate::{StoreError, on_pool};

/// What a status badge or a cc.xml entry needs to know about one branch of a project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BranchStatus {
    /// The finished job with the highest build number on the branch, if any.
    pub latest_finished: Option<JobRecord>,
    /// Whether a job on the branch is queued, blocked on its requirements, or running.
    pub building: bool,
}

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

    /// The status of `branch` in `project_id`: its latest finished job and whether it is building.
    pub async fn branch_status(
        &self,
        project_id: i64,
        branch: &str,
    ) -> Result<BranchStatus, StoreError> {
        Ok(BranchStatus {
            latest_finished: self.latest_finished(project_id, branch).await?,
            building: self.building(project_id, branch).await?,
        })
    }
}
