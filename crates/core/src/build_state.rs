//! A job's state and how CircleCI's two APIs spell it.
//!
//! The store keeps one canonical state per job; API v1.1's `lifecycle`/`status`/`outcome` and
//! API v2's `status` are derived here, so the two views of a build can never disagree.

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobState {
    /// Waiting for jobs it requires.
    Blocked,
    /// Ready for a runner.
    Queued,
    /// A runner is running it.
    Running,
    /// Finished: every step passed.
    Success,
    /// Finished: a step failed.
    Failed,
    /// Stopped by a user.
    Canceled,
    /// Its runner vanished or circlet could not run it.
    InfrastructureFail,
    /// A step ran out of time.
    Timedout,
    /// Never ran: a job it required did not succeed, or its workflow was canceled first.
    NotRun,
    /// An approval job waiting for someone to approve it (the jobs it required have ended).
    OnHold,
    /// Never ran: the user who started the pipeline may not use one of its contexts.
    Unauthorized,
}

impl JobState {
    /// Every state.
    pub const ALL: [JobState; 11] = [
        JobState::Blocked,
        JobState::Queued,
        JobState::Running,
        JobState::Success,
        JobState::Failed,
        JobState::Canceled,
        JobState::InfrastructureFail,
        JobState::Timedout,
        JobState::NotRun,
        JobState::OnHold,
        JobState::Unauthorized,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Blocked => "blocked",
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Success => "success",
            JobState::Failed => "failed",
            JobState::Canceled => "canceled",
            JobState::InfrastructureFail => "infrastructure_fail",
            JobState::Timedout => "timedout",
            JobState::NotRun => "not_run",
            JobState::OnHold => "on_hold",
            JobState::Unauthorized => "unauthorized",
        }
    }

    /// The state with this stored name.
    pub fn parse(raw: &str) -> Option<JobState> {
        JobState::ALL.into_iter().find(|s| s.as_str() == raw)
    }

    /// Whether the job is over (it will not change again unless retried as a new job).
    pub fn is_final(self) -> bool {
        !matches!(
            self,
            JobState::Blocked | JobState::Queued | JobState::Running | JobState::OnHold
        )
    }

    /// API v1.1 `lifecycle`: queued, not_running, running, finished, not_run.
    pub fn lifecycle(self) -> &'static str {
        match self {
            JobState::Blocked | JobState::OnHold => "not_running",
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::NotRun => "not_run",
            _ => "finished",
        }
    }

    /// API v1.1 `status`.
    pub fn v1_status(self) -> &'static str {
        match self {
            JobState::Blocked => "not_running",
            other => other.as_str(),
        }
    }

    /// API v1.1 `outcome`: set only once finished.
    pub fn outcome(self) -> Option<&'static str> {
        match self {
            JobState::Success
            | JobState::Failed
            | JobState::Canceled
            | JobState::InfrastructureFail
            | JobState::Timedout => Some(self.as_str()),
            // v1.1's outcomes have no word for it: it did not succeed.
            JobState::Unauthorized => Some("failed"),
            _ => None,
        }
    }

    /// API v2 job `status`.
    pub fn v2_status(self) -> &'static str {
        self.as_str()
    }
}

/// A parallel job's state once its nodes have ended: `nodes` are the final states of the nodes
/// that ran; `all_ran` is false when a cancel stopped some from being claimed. One node's
/// failure fails the job, as on CircleCI; of several ways to fail, the one that says most about
/// why wins: canceled, then an infrastructure failure, then a timeout, then a failed step.
pub fn nodes_result(nodes: &[JobState], all_ran: bool) -> JobState {
    let rank = |s: &JobState| match s {
        JobState::Canceled => 4,
        JobState::InfrastructureFail => 3,
        JobState::Timedout => 2,
        JobState::Success => 0,
        // Any other state is no node's end: it counts as a failure rather than a success.
        _ => 1,
    };
    if !all_ran {
        return JobState::Canceled;
    }
    match nodes.iter().max_by_key(|s| rank(s)) {
        Some(s) if rank(s) == 1 => JobState::Failed,
        Some(s) => *s,
        None => JobState::Canceled,
    }
}

/// A workflow's status (API v2), from its jobs' states.
pub fn workflow_status(jobs: &[JobState], canceled: bool) -> &'static str {
    if jobs.iter().any(|s| !s.is_final()) {
        // A canceled workflow is `canceled` at once, as on CircleCI, even while a running job
        // is still stopping: API v2's status enum has no "canceling", and strict clients
        // reject values outside it.
        return if canceled {
            "canceled"
        } else if jobs.contains(&JobState::OnHold)
            && !jobs
                .iter()
                .any(|s| matches!(s, JobState::Queued | JobState::Running))
        {
            // Nothing runs until someone approves.
            "on_hold"
        } else if jobs.iter().any(|s| {
            matches!(
                s,
                JobState::Failed
                    | JobState::Timedout
                    | JobState::InfrastructureFail
                    | JobState::Unauthorized
            )
        }) {
            "failing"
        } else {
            "running"
        };
    }
    if canceled || jobs.contains(&JobState::Canceled) {
        "canceled"
    } else if jobs
        .iter()
        .any(|s| matches!(s, JobState::InfrastructureFail))
    {
        "error"
    } else if jobs.contains(&JobState::Unauthorized) {
        "unauthorized"
    } else if jobs
        .iter()
        .any(|s| matches!(s, JobState::Failed | JobState::Timedout | JobState::NotRun))
    {
        "failed"
    } else {
        "success"
    }
}

/// What a finished pipeline's badge and cc.xml entry show: the one state that says most about
/// all of its workflows together, from the final states of their jobs' latest attempts and
/// whether a user canceled any of them. As on CircleCI, a pipeline passes only when every job
/// did: a failed `lint` fails it however many jobs passed after. Of several ways to fail, a
/// failed step says most, then a timeout, a refused context and an infrastructure failure;
/// then a cancel. `None` when a job has not ended (the pipeline is not finished) or there is
/// none.
pub fn pipeline_result(jobs: &[JobState], canceled: bool) -> Option<JobState> {
    if jobs.is_empty() || jobs.iter().any(|s| !s.is_final()) {
        return None;
    }
    let rank = |s: JobState| match s {
        JobState::Failed => 6,
        JobState::Timedout => 5,
        JobState::Unauthorized => 4,
        JobState::InfrastructureFail => 3,
        JobState::Canceled => 2,
        JobState::NotRun => 1,
        _ => 0,
    };
    let worst = jobs.iter().copied().max_by_key(|s| rank(*s))?;
    Some(match worst {
        // Jobs left unrun without a failure: their workflow was canceled.
        JobState::NotRun => JobState::Canceled,
        JobState::Success if canceled => JobState::Canceled,
        s => s,
    })
}

/// A pipeline's status as lists and the dashboard show it: `error` when its config could not
/// run, else the status of its workflows (API v2's names) that most needs attention: one still
/// going first, then the ways to fail, then `canceled`, then `success`. A pipeline whose
/// filters left no workflow is `not_run`.
pub fn pipeline_status(errored: bool, workflows: &[&str]) -> &'static str {
    const ORDER: [&str; 9] = [
        "running",
        "on_hold",
        "failing",
        "failed",
        "error",
        "unauthorized",
        "canceled",
        "not_run",
        "success",
    ];
    if errored {
        return "error";
    }
    ORDER
        .iter()
        .find(|s| workflows.contains(s))
        .copied()
        .unwrap_or("not_run")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pipeline_shows_its_most_pressing_workflow() {
        assert_eq!(pipeline_status(true, &[]), "error");
        assert_eq!(pipeline_status(false, &[]), "not_run");
        assert_eq!(pipeline_status(false, &["success", "failed"]), "failed");
        assert_eq!(pipeline_status(false, &["failed", "running"]), "running");
        assert_eq!(pipeline_status(false, &["success", "canceled"]), "canceled");
        assert_eq!(pipeline_status(false, &["success", "success"]), "success");
    }

    #[test]
    fn names_round_trip_and_views_agree() {
        for s in JobState::ALL {
            assert_eq!(JobState::parse(s.as_str()), Some(s));
            assert_eq!(s.outcome().is_some(), s.lifecycle() == "finished", "{s:?}");
        }
        assert_eq!(JobState::Blocked.v1_status(), "not_running");
        assert_eq!(JobState::Running.outcome(), None);
    }

    #[test]
    fn a_parallel_job_fails_when_one_node_fails() {
        use JobState::*;
        assert_eq!(nodes_result(&[Success, Success, Success], true), Success);
        assert_eq!(nodes_result(&[Success, Failed, Success], true), Failed);
        assert_eq!(nodes_result(&[Failed, Timedout], true), Timedout);
        assert_eq!(
            nodes_result(&[Timedout, InfrastructureFail], true),
            InfrastructureFail
        );
        assert_eq!(
            nodes_result(&[InfrastructureFail, Canceled], true),
            Canceled
        );
        assert_eq!(
            nodes_result(&[Success, Running], true),
            Failed,
            "not an end: no success"
        );
        assert_eq!(
            nodes_result(&[Success, Success], false),
            Canceled,
            "a node never ran"
        );
        assert_eq!(nodes_result(&[], false), Canceled);
    }

    #[test]
    fn workflow_status_follows_its_jobs() {
        use JobState::*;
        assert_eq!(workflow_status(&[Success, Running], false), "running");
        assert_eq!(workflow_status(&[Failed, Running], false), "failing");
        assert_eq!(workflow_status(&[Success, Success], false), "success");
        assert_eq!(workflow_status(&[Failed, NotRun], false), "failed");
        assert_eq!(workflow_status(&[Canceled, NotRun], true), "canceled");
        assert_eq!(workflow_status(&[Running], true), "canceled");
        assert_eq!(
            workflow_status(&[Success, InfrastructureFail], false),
            "error"
        );
        assert_eq!(
            workflow_status(&[Success, OnHold, Blocked], false),
            "on_hold"
        );
        assert_eq!(workflow_status(&[Running, OnHold], false), "running");
        assert_eq!(JobState::OnHold.v1_status(), "on_hold");
        assert_eq!(
            workflow_status(&[Success, Unauthorized, NotRun], false),
            "unauthorized"
        );
        assert_eq!(workflow_status(&[Unauthorized, Running], false), "failing");
        assert_eq!(Unauthorized.v2_status(), "unauthorized");
    }

    #[test]
    fn a_pipeline_fails_when_any_job_failed_whatever_ended_last() {
        use JobState::*;
        assert_eq!(pipeline_result(&[Failed, Success], false), Some(Failed));
        assert_eq!(pipeline_result(&[Success, Success], false), Some(Success));
        assert_eq!(pipeline_result(&[Success, Running], false), None);
        assert_eq!(pipeline_result(&[Failed, OnHold], false), None);
        assert_eq!(pipeline_result(&[], false), None);
        assert_eq!(
            pipeline_result(&[InfrastructureFail, Timedout, Success], false),
            Some(Timedout)
        );
        assert_eq!(
            pipeline_result(&[Canceled, Failed, NotRun], true),
            Some(Failed)
        );
        assert_eq!(pipeline_result(&[Success, NotRun], true), Some(Canceled));
        assert_eq!(pipeline_result(&[Success], true), Some(Canceled));
        assert_eq!(
            pipeline_result(&[Unauthorized, NotRun], false),
            Some(Unauthorized)
        );
    }
}
