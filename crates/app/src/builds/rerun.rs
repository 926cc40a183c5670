//! Rerunning a finished workflow, as CircleCI's "Rerun workflow from start" and "Rerun
//! workflow from failed" do (API v2 `POST /workflow/{id}/rerun` and the pages' buttons).
//!
//! A rerun is a new workflow of the same pipeline, with the same name and jobs. From start,
//! every job runs again. From failed, the jobs whose newest attempt did not succeed run again,
//! and so does every job that requires one of them, directly or not; every other job is not
//! run but keeps its result (its copy in the new workflow says which build it kept). Naming
//! `jobs` reruns those jobs and what requires them the same way.

use crate::{App, AppError, Caller};
use circlet_core::build_state::JobState;
use circlet_store::builds::RerunJob;
use circlet_store::{JobRecord, Project, WorkflowRecord};
use std::collections::{BTreeSet, HashMap};
use uuid::Uuid;

/// What a missing workflow (or one the caller may not see) is called.
pub const WORKFLOW_NOT_FOUND: &str = "Workflow not found";

/// What to rerun: CircleCI's body of `POST /workflow/{id}/rerun`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RerunRequest {
    /// Only the jobs that did not succeed, and what requires them.
    pub from_failed: bool,
    /// Only these jobs (by id), and what requires them.
    pub jobs: Vec<Uuid>,
    /// SSH into the rerun jobs: circlet has no SSH access to jobs, so this is refused.
    pub enable_ssh: bool,
}

/// Which jobs a rerun starts from.
enum Selection<'a> {
    All,
    FromFailed,
    Jobs(&'a [Uuid]),
}

impl App {
    /// Reruns the finished workflow `workflow` as a new workflow of its pipeline; `caller`
    /// must be a user allowed to start pipelines in its project. Returns the project and the
    /// new workflow.
    pub async fn rerun_workflow(
        &self,
        caller: &Caller,
        workflow: Uuid,
        req: &RerunRequest,
    ) -> Result<(Project, WorkflowRecord), AppError> {
        let missing = || AppError::NotFound(WORKFLOW_NOT_FOUND.into());
        let builds = self.store.builds();
        let w = builds
            .workflow_by_uuid(workflow)
            .await?
            .ok_or_else(missing)?;
        let project = self
            .store
            .projects()
            .by_id(w.project_id)
            .await?
            .ok_or_else(missing)?;
        // The one door to starting pipelines decides (write role, users only); a workflow the
        // caller may not see is absent, like its project.
        let pipelines = self
            .pipelines(caller, &project.slug)
            .await
            .map_err(|e| match e {
                AppError::NotFound(_) => missing(),
                other => other,
            })?;
        if req.enable_ssh {
            return Err(AppError::Invalid(
                "circlet cannot open SSH access to jobs: rerun without enable_ssh".into(),
            ));
        }
        let selection = match (req.from_failed, req.jobs.as_slice()) {
            (true, []) => Selection::FromFailed,
            (false, []) => Selection::All,
            (false, ids) => Selection::Jobs(ids),
            (true, _) => {
                return Err(AppError::Invalid(
                    "from_failed and jobs cannot be used together".into(),
                ));
            }
        };
        let jobs = builds.jobs_of_workflow(w.id).await?;
        if let Some(j) = jobs.iter().find(|j| !j.state.is_final()) {
            return Err(AppError::Invalid(format!(
                "Workflow '{}' has not finished (job '{}' is {}); cancel it first or wait for it",
                w.name,
                j.name,
                j.state.as_str()
            )));
        }
        let plan = plan(&jobs, &selection)?;
        let (new, _) = builds.rerun_workflow(w.id, &plan).await?;
        self.work_available.notify_waiters();
        Ok((pipelines.project, new))
    }
}

/// The jobs of the new workflow, one per job name of `jobs` (a workflow's jobs, retries
/// included, in creation order): each run again or kept, as `selection` says.
fn plan(jobs: &[JobRecord], selection: &Selection<'_>) -> Result<Vec<RerunJob>, AppError> {
    let mut names: Vec<&str> = Vec::new();
    let mut first: HashMap<&str, &JobRecord> = HashMap::new();
    let mut latest: HashMap<&str, &JobRecord> = HashMap::new();
    for j in jobs {
        if !first.contains_key(j.name.as_str()) {
            names.push(&j.name);
            first.insert(&j.name, j);
        }
        latest.insert(&j.name, j);
    }
    let mut rerun: BTreeSet<&str> = match selection {
        Selection::All => names.iter().copied().collect(),
        Selection::FromFailed => names
            .iter()
            .copied()
            .filter(|n| latest[n].state != JobState::Success)
            .collect(),
        Selection::Jobs(ids) => ids
            .iter()
            .map(|id| {
                jobs.iter()
                    .find(|j| j.uuid == *id)
                    .map(|j| j.name.as_str())
                    .ok_or_else(|| {
                        AppError::Invalid(format!("Job {id} is not a job of this workflow"))
                    })
            })
            .collect::<Result<_, _>>()?,
    };
    if rerun.is_empty() {
        return Err(AppError::Invalid(
            "Every job of this workflow succeeded: there is no failed job to rerun from".into(),
        ));
    }
    // What requires a rerun job runs again too, down the whole chain.
    loop {
        let more: Vec<&str> = names
            .iter()
            .copied()
            .filter(|n| !rerun.contains(n))
            .filter(|n| first[n].requires.iter().any(|r| rerun.contains(r.as_str())))
            .collect();
        if more.is_empty() {
            break;
        }
        rerun.extend(more);
    }
    Ok(names
        .iter()
        .map(|n| RerunJob {
            definition: first[n].id,
            previous: latest[n].id,
            keep: !rerun.contains(n),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::OffsetDateTime;

    fn job(id: i64, name: &str, requires: &[&str], state: JobState) -> JobRecord {
        JobRecord {
            id,
            uuid: Uuid::from_u128(id as u128),
            project_id: 1,
            pipeline_id: 1,
            workflow_id: 1,
            build_num: id,
            name: name.into(),
            requires: requires.iter().map(|r| (*r).to_owned()).collect(),
            spec: String::new(),
            state,
            why: String::new(),
            retry_of: None,
            build_parameters: String::new(),
            branch: None,
            tag: None,
            revision: String::new(),
            queued_at: OffsetDateTime::UNIX_EPOCH,
            started_at: None,
            stopped_at: None,
            parallelism: 1,
            cancel_requested: false,
            approval: false,
            accepts: vec![],
            approved_by: None,
            resource_class: None,
            kept_from: None,
        }
    }

    fn kept(plan: &[RerunJob]) -> Vec<(i64, bool)> {
        plan.iter().map(|j| (j.definition, j.keep)).collect()
    }

    #[test]
    fn from_failed_reruns_the_failed_and_what_requires_them() {
        use JobState::*;
        // lint fails; build passes; test (requires build) passes; deploy requires lint+test.
        let jobs = [
            job(1, "lint", &[], Failed),
            job(2, "build", &[], Success),
            job(3, "test", &["build"], Success),
            job(4, "deploy", &["lint", "test"], NotRun),
            job(5, "notify", &["deploy"], NotRun),
        ];
        let p = plan(&jobs, &Selection::FromFailed).unwrap();
        assert_eq!(
            kept(&p),
            [(1, false), (2, true), (3, true), (4, false), (5, false)]
        );
        // From start, everything runs.
        let p = plan(&jobs, &Selection::All).unwrap();
        assert!(p.iter().all(|j| !j.keep));
        // Named jobs rerun with what requires them.
        let p = plan(&jobs, &Selection::Jobs(&[Uuid::from_u128(2)])).unwrap();
        assert_eq!(
            kept(&p),
            [(1, true), (2, false), (3, false), (4, false), (5, false)]
        );
        assert!(plan(&jobs, &Selection::Jobs(&[Uuid::from_u128(99)])).is_err());
    }

    #[test]
    fn a_retry_that_passed_counts_and_keeps_its_first_attempts_requires() {
        use JobState::*;
        // build failed, was retried (#3, requires nothing of its own) and passed.
        let jobs = [
            job(1, "build", &[], Failed),
            job(2, "test", &["build"], NotRun),
            job(3, "build", &[], Success),
        ];
        let p = plan(&jobs, &Selection::FromFailed).unwrap();
        assert_eq!(
            p,
            [
                RerunJob {
                    definition: 1,
                    previous: 3,
                    keep: true
                },
                RerunJob {
                    definition: 2,
                    previous: 2,
                    keep: false
                },
            ]
        );
        let all_passed = [job(1, "build", &[], Success)];
        assert!(plan(&all_passed, &Selection::FromFailed).is_err());
    }
}
