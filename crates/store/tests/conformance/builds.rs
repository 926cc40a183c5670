//! Conformance cases for [`circlet_store::builds`]: numbering, the runner queue, settling a
//! workflow when a job ends, cancellation, reaping, retries, listings, steps and output.

use super::{assert_whole_second_utc, create_project, create_user, now_s, run, run_with_db};
use circlet_core::build_state::JobState;
use circlet_core::token::{NewToken, TokenKind};
use circlet_store::builds::{JobFilter, JobRecord, NewJob, NewPipeline, NewWorkflow};
use circlet_store::testkit::TestDb;
use circlet_store::{NewTokenRecord, Project, Store, StoreError};
use circlet_testkit::both_backends;
use std::collections::BTreeSet;
use time::Duration;

#[path = "builds/artifacts.rs"]
mod artifacts;
#[path = "builds/caches.rs"]
mod caches;
#[path = "builds/creating.rs"]
mod creating;
#[path = "builds/lifecycle.rs"]
mod lifecycle;
#[path = "builds/queue.rs"]
mod queue;
#[path = "builds/reading.rs"]
mod reading;

// ---------------------------------------------------------------------------------------------
// Inputs

/// A store with an owner, two projects and two runners.
struct Fx {
    store: Store,
    project: Project,
    other: Project,
    runners: Vec<i64>,
}

async fn fx(store: Store) -> Fx {
    let owner = create_user(&store, "owner").await;
    let project = create_project(&store, "gh/acme/widgets", &owner).await;
    let other = create_project(&store, "gh/acme/gadgets", &owner).await;
    let mut runners = Vec::new();
    for i in 0..2 {
        runners.push(runner(&store, owner.id, i).await);
    }
    Fx {
        store,
        project,
        other,
        runners,
    }
}

/// A runner token's id (jobs refer to the token that runs them).
pub(super) async fn runner(store: &Store, created_by: i64, i: usize) -> i64 {
    let value = NewToken::generate(TokenKind::Runner);
    let new = NewTokenRecord {
        kind: TokenKind::Runner,
        digest: value.digest(),
        last4: value.last4(),
        name: format!("runner-{i}"),
        user_id: None,
        project_id: None,
        scope: None,
        created_by: Some(created_by),
        expires_at: None,
    };
    store.tokens().create(&new, None).await.expect("runner").id
}

pub(super) fn job(name: &str, requires: &[&str]) -> NewJob {
    NewJob {
        name: name.to_owned(),
        requires: requires.iter().map(|s| (*s).to_owned()).collect(),
        accepts: vec![],
        approval: false,
        spec_json: format!("{{\"job\":\"{name}\"}}"),
        build_parameters_json: "{\"X\":\"1\"}".to_owned(),
        resource_class: None,
    }
}

pub(super) fn pipeline(
    project_id: i64,
    branch: &str,
    workflows: Vec<(&str, Vec<NewJob>)>,
) -> NewPipeline {
    NewPipeline {
        id: None,
        project_id,
        number: None,
        commit_json: String::new(),
        trigger_type: "api".into(),
        actor_id: None,
        actor_login: "owner".into(),
        branch: Some(branch.to_owned()),
        tag: None,
        revision: "0123456789abcdef0123456789abcdef01234567".into(),
        parameters_json: "{\"p\":1}".into(),
        errors: vec![],
        why: "api".into(),
        config: None,
        setup: false,
        workflows: workflows
            .into_iter()
            .map(|(name, jobs)| NewWorkflow {
                name: name.to_owned(),
                jobs,
            })
            .collect(),
    }
}

/// Creates a pipeline and returns its jobs, keyed by name in creation order.
async fn create(store: &Store, new: NewPipeline) -> Vec<JobRecord> {
    store
        .builds()
        .create_pipeline(&new)
        .await
        .expect("create pipeline")
        .1
}

/// One pipeline of one single-job workflow on `branch`.
async fn one_job(store: &Store, project_id: i64, branch: &str) -> JobRecord {
    let mut jobs = create(
        store,
        pipeline(project_id, branch, vec![("wf", vec![job("build", &[])])]),
    )
    .await;
    jobs.pop().unwrap()
}

async fn reload(store: &Store, job: &JobRecord) -> JobRecord {
    store
        .builds()
        .job_by_id(job.id)
        .await
        .unwrap()
        .expect("job exists")
}

async fn state(store: &Store, job: &JobRecord) -> JobState {
    reload(store, job).await.state
}

/// Claims `job` (which must be the oldest queued job) for `runner`.
async fn claim(store: &Store, runner: i64, job: &JobRecord) -> JobRecord {
    let got = store
        .builds()
        .claim_next(runner, None)
        .await
        .unwrap()
        .expect("a queued job");
    assert_eq!(
        got.id, job.id,
        "claimed {} instead of {}",
        got.name, job.name
    );
    got
}

/// A job of its own pipeline on `branch`, run by `runner` to `end`.
async fn ended(store: &Store, project_id: i64, runner: i64, branch: &str, end: JobState) -> i64 {
    let j = one_job(store, project_id, branch).await;
    claim(store, runner, &j).await;
    assert!(
        store
            .builds()
            .finish(j.id, Some(runner), end)
            .await
            .unwrap()
    );
    j.build_num
}

fn nums(jobs: &[JobRecord]) -> Vec<i64> {
    jobs.iter().map(|j| j.build_num).collect()
}
