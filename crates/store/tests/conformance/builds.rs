//! Conformance cases for [`circlet_store::builds`]: numbering, the runner queue, settling a
//! workflow when a job ends, cancellation, reaping, retries, listings, steps and output, and
//! parallel jobs' nodes.

use super::{
    assert_millisecond_utc, assert_whole_second_utc, create_project, create_user, now_s, run,
    run_with_db,
};
use circlet_core::build_state::JobState;
use circlet_core::token::{NewToken, TokenKind};
use circlet_store::builds::{
    JobFilter, JobRecord, NewJob, NewPipeline, NewWorkflow, NodeEnd, NodeRecord,
};
use circlet_store::testkit::TestDb;
use circlet_store::{NewTokenRecord, Project, Store, StoreError};
use circlet_testkit::both_backends;
use std::collections::BTreeSet;
use time::Duration;

#[path = "builds/across.rs"]
mod across;
#[path = "builds/artifacts.rs"]
mod artifacts;
#[path = "builds/caches.rs"]
mod caches;
#[path = "builds/creating.rs"]
mod creating;
#[path = "builds/lifecycle.rs"]
mod lifecycle;
#[path = "builds/node_ends.rs"]
mod node_ends;
#[path = "builds/node_output.rs"]
mod node_output;
#[path = "builds/nodes.rs"]
mod nodes;
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
        limits: Default::default(),
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
        parallelism: 1,
    }
}

pub(super) fn pipeline(
    project_id: i64,
    branch: &str,
    workflows: Vec<(&str, Vec<NewJob>)>,
) -> NewPipeline {
    NewPipeline {
        actor_role_ceiling: None,
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
        origin: Default::default(),
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

/// Claims the next node of `job` (which must be the oldest job with a node to hand out) for
/// `runner`.
async fn claim(store: &Store, runner: i64, job: &JobRecord) -> (JobRecord, NodeRecord) {
    let (got, node) = store
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
    assert_eq!(node.job_id, job.id, "the node is the job's");
    (got, node)
}

/// A job of its own pipeline on `branch`, run by `runner` to `end`.
async fn ended(store: &Store, project_id: i64, runner: i64, branch: &str, end: JobState) -> i64 {
    let j = one_job(store, project_id, branch).await;
    claim(store, runner, &j).await;
    assert!(
        store
            .builds()
            .finish_node(j.id, 0, NodeEnd::by(runner, end))
            .await
            .unwrap()
    );
    j.build_num
}

// ---------------------------------------------------------------------------------------------
// Parallel jobs

/// A job run by `n` nodes.
fn par(name: &str, requires: &[&str], n: u32) -> NewJob {
    NewJob {
        parallelism: n,
        ..job(name, requires)
    }
}

/// A pipeline on `main` of one job, `name`, running as `n` nodes.
async fn parallel_job(fx: &Fx, name: &str, n: u32) -> JobRecord {
    let made = pipeline(fx.project.id, "main", vec![("wf", vec![par(name, &[], n)])]);
    create(&fx.store, made).await.remove(0)
}

/// `n` runners of their own (the fixture has two), so each node can have a different one.
async fn more_runners(fx: &Fx, n: usize) -> Vec<i64> {
    let owner = create_user(&fx.store, "pool").await;
    let mut out = Vec::new();
    for i in 0..n {
        out.push(runner(&fx.store, owner.id, 100 + i).await);
    }
    out
}

/// Claims the next node for `runner`; it must be node `index` of `job`.
async fn claim_node(store: &Store, runner: i64, job: &JobRecord, index: i64) -> NodeRecord {
    let (got, node) = claim(store, runner, job).await;
    assert_eq!(got.parallelism, job.parallelism);
    assert_eq!(
        (node.index, node.runner_id, node.state),
        (index, Some(runner), JobState::Running),
        "the node handed out"
    );
    node
}

/// The nodes of `job` claimed so far, by index.
async fn nodes(store: &Store, job: &JobRecord) -> Vec<NodeRecord> {
    store.builds().nodes(job.id).await.unwrap()
}

/// The runner holding node `index` of `job` ends it as `end`.
async fn end_node(store: &Store, runner: i64, job: &JobRecord, index: i64, end: JobState) -> bool {
    store
        .builds()
        .finish_node(job.id, index, NodeEnd::by(runner, end))
        .await
        .unwrap()
}

fn nums(jobs: &[JobRecord]) -> Vec<i64> {
    jobs.iter().map(|j| j.build_num).collect()
}
