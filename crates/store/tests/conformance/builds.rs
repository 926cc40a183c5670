//! Conformance cases for [`circlet_store::builds`]: numbering, the runner queue, settling a
//! workflow when a job ends, cancellation, reaping, retries, listings, steps and output.

use super::{assert_whole_second_utc, create_project, create_user, now_s, run};
use circlet_core::build_state::JobState;
use circlet_core::token::{NewToken, TokenKind};
use circlet_store::builds::{JobFilter, JobRecord, NewJob, NewPipeline, NewWorkflow};
use circlet_store::testkit::TestDb;
use circlet_store::{BackendKind, NewTokenRecord, Project, Store, StoreError};
use std::collections::BTreeSet;
use std::future::Future;
use time::Duration;

conformance!(
    builds_numbers_count_per_project_from_one,
    builds_numbers_never_repeat_when_pipelines_are_created_concurrently,
    builds_jobs_without_requires_are_queued_with_requires_blocked,
    builds_errored_pipeline_has_no_workflows_and_uses_no_build_numbers,
    builds_create_pipeline_for_unknown_project_is_not_found,
    builds_names_and_errors_with_any_characters_round_trip,
    builds_claim_next_hands_out_the_oldest_queued_job,
    builds_two_concurrent_claimers_never_get_the_same_job,
    builds_ten_concurrent_claimers_never_get_the_same_job,
    builds_heartbeat_only_from_the_runner_holding_the_job,
    builds_finish_releases_dependents_when_all_requirements_succeeded,
    builds_finish_failure_gives_up_dependents_transitively,
    builds_finish_is_refused_when_not_held_or_already_finished,
    builds_concurrent_finishes_release_a_shared_dependent,
    builds_request_cancel_ends_waiting_jobs_and_flags_running_ones,
    builds_cancel_workflow_ends_everything_not_yet_running,
    builds_reap_stale_ends_silent_jobs_and_settles_their_workflow,
    builds_retry_adds_a_queued_job_with_a_new_number,
    builds_jobs_filters_branch_and_paging,
    builds_latest_finished_is_per_project_and_branch,
    builds_steps_and_output,
    builds_pipelines_listing_paging_and_lookups,
    builds_workflows_and_their_jobs,
    builds_project_scoped_lookups_never_return_another_projects_job,
    builds_timestamps_are_whole_seconds_utc,
);

conformance_with_db!(builds_queued_jobs_survive_a_restart);

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
async fn runner(store: &Store, created_by: i64, i: usize) -> i64 {
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

fn job(name: &str, requires: &[&str]) -> NewJob {
    NewJob {
        name: name.to_owned(),
        requires: requires.iter().map(|s| (*s).to_owned()).collect(),
        spec_json: format!("{{\"job\":\"{name}\"}}"),
        build_parameters_json: "{\"X\":\"1\"}".to_owned(),
    }
}

fn pipeline(project_id: i64, branch: &str, workflows: Vec<(&str, Vec<NewJob>)>) -> NewPipeline {
    NewPipeline {
        project_id,
        trigger_type: "api".into(),
        actor_id: None,
        actor_login: "owner".into(),
        branch: Some(branch.to_owned()),
        tag: None,
        revision: "0123456789abcdef0123456789abcdef01234567".into(),
        parameters_json: "{\"p\":1}".into(),
        errors: vec![],
        why: "api".into(),
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
        .claim_next(runner)
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

/// Runs a case that needs the database itself (to reopen it), on a fresh database of `kind`.
async fn run_with_db<F, Fut>(kind: BackendKind, case: F)
where
    F: FnOnce(TestDb) -> Fut,
    Fut: Future<Output = ()>,
{
    case(TestDb::new(kind).await).await;
}

// ---------------------------------------------------------------------------------------------
// Creating pipelines

async fn builds_numbers_count_per_project_from_one(store: Store) {
    let fx = fx(store).await;
    let (p1, j1) = fx
        .store
        .builds()
        .create_pipeline(&pipeline(
            fx.project.id,
            "main",
            vec![
                ("a", vec![job("build", &[]), job("test", &["build"])]),
                ("b", vec![job("lint", &[])]),
            ],
        ))
        .await
        .unwrap();
    assert_eq!(p1.number, 1);
    assert_eq!(nums(&j1), [1, 2, 3]);
    let (o1, oj) = fx
        .store
        .builds()
        .create_pipeline(&pipeline(
            fx.other.id,
            "main",
            vec![("a", vec![job("x", &[])])],
        ))
        .await
        .unwrap();
    assert_eq!(
        (o1.number, nums(&oj)),
        (1, vec![1]),
        "the other project counts on its own"
    );
    let (p2, j2) = fx
        .store
        .builds()
        .create_pipeline(&pipeline(
            fx.project.id,
            "main",
            vec![("a", vec![job("build", &[]), job("test", &["build"])])],
        ))
        .await
        .unwrap();
    assert_eq!((p2.number, nums(&j2)), (2, vec![4, 5]));
    let (o2, oj) = fx
        .store
        .builds()
        .create_pipeline(&pipeline(
            fx.other.id,
            "main",
            vec![("a", vec![job("x", &[])])],
        ))
        .await
        .unwrap();
    assert_eq!((o2.number, nums(&oj)), (2, vec![2]));
    assert_ne!(p1.uuid, p2.uuid);
    assert_eq!(p1.project_id, fx.project.id);
    assert_eq!(o1.project_id, fx.other.id);
}

async fn builds_numbers_never_repeat_when_pipelines_are_created_concurrently(store: Store) {
    let fx = fx(store).await;
    let tasks: Vec<_> = (0..10)
        .map(|i| {
            let store = fx.store.clone();
            let project_id = if i % 2 == 0 {
                fx.project.id
            } else {
                fx.other.id
            };
            tokio::spawn(async move {
                let new = pipeline(
                    project_id,
                    "main",
                    vec![("wf", vec![job("a", &[]), job("b", &["a"])])],
                );
                store.builds().create_pipeline(&new).await
            })
        })
        .collect();
    let mut numbers = [BTreeSet::new(), BTreeSet::new()];
    let mut builds = [BTreeSet::new(), BTreeSet::new()];
    for t in tasks {
        let (p, jobs) = t.await.unwrap().expect("a concurrent creation succeeds");
        let side = usize::from(p.project_id == fx.other.id);
        assert!(
            numbers[side].insert(p.number),
            "pipeline number {} twice",
            p.number
        );
        for j in jobs {
            assert!(
                builds[side].insert(j.build_num),
                "build {} twice",
                j.build_num
            );
        }
    }
    for side in 0..2 {
        assert_eq!(numbers[side], (1..=5).collect::<BTreeSet<i64>>());
        assert_eq!(builds[side], (1..=10).collect::<BTreeSet<i64>>());
    }
}

async fn builds_jobs_without_requires_are_queued_with_requires_blocked(store: Store) {
    let fx = fx(store).await;
    let from = now_s();
    let (p, jobs) = fx
        .store
        .builds()
        .create_pipeline(&pipeline(
            fx.project.id,
            "feature/x",
            vec![("wf", vec![job("build", &[]), job("test", &["build"])])],
        ))
        .await
        .unwrap();
    let to = now_s();
    assert_eq!(p.state, "created");
    assert_eq!(p.errors, "[]");
    assert_eq!(p.branch.as_deref(), Some("feature/x"));
    assert_eq!(p.parameters, "{\"p\":1}");
    assert_eq!(
        (p.trigger_type.as_str(), p.actor_login.as_str()),
        ("api", "owner")
    );
    let (build, test) = (&jobs[0], &jobs[1]);
    assert_eq!(
        (build.name.as_str(), build.state),
        ("build", JobState::Queued)
    );
    assert_eq!(
        (test.name.as_str(), test.state),
        ("test", JobState::Blocked)
    );
    assert_eq!(test.requires, ["build"]);
    assert!(build.requires.is_empty());
    for j in &jobs {
        assert_eq!(j.project_id, fx.project.id);
        assert_eq!(j.pipeline_id, p.id);
        assert_eq!(j.why, "api");
        assert_eq!(j.retry_of, None);
        assert_eq!(j.branch.as_deref(), Some("feature/x"));
        assert_eq!(j.revision, p.revision);
        assert_eq!(j.build_parameters, "{\"X\":\"1\"}");
        assert_eq!(j.spec, format!("{{\"job\":\"{}\"}}", j.name));
        assert_eq!(
            (j.started_at, j.stopped_at, j.runner_id),
            (None, None, None)
        );
        assert!(!j.cancel_requested);
        assert_whole_second_utc("job.queued_at", j.queued_at, from, to);
        assert_eq!(&reload(&fx.store, j).await, j, "read back as created");
    }
    assert_eq!(build.workflow_id, test.workflow_id);
}

async fn builds_errored_pipeline_has_no_workflows_and_uses_no_build_numbers(store: Store) {
    let fx = fx(store).await;
    let mut new = pipeline(fx.project.id, "main", vec![("wf", vec![job("a", &[])])]);
    new.errors = vec!["line 3: bad \"key\"".into(), "tab\there\nnewline\\".into()];
    let (p, jobs) = fx.store.builds().create_pipeline(&new).await.unwrap();
    assert_eq!(p.state, "errored");
    assert_eq!(
        p.errors, r#"["line 3: bad \"key\"","tab\there\nnewline\\"]"#,
        "errors are a JSON array of strings"
    );
    assert!(jobs.is_empty());
    assert!(fx.store.builds().workflows(p.id).await.unwrap().is_empty());
    let next = one_job(&fx.store, fx.project.id, "main").await;
    assert_eq!(
        next.build_num, 1,
        "an errored pipeline uses no build numbers"
    );
    let (p2, _) = fx
        .store
        .builds()
        .create_pipeline(&pipeline(fx.project.id, "main", vec![]))
        .await
        .unwrap();
    assert_eq!(p2.number, 3, "but it does use a pipeline number");
}

async fn builds_create_pipeline_for_unknown_project_is_not_found(store: Store) {
    let fx = fx(store).await;
    let new = pipeline(
        fx.project.id + fx.other.id + 100,
        "main",
        vec![("wf", vec![job("a", &[])])],
    );
    let err = fx.store.builds().create_pipeline(&new).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "got {err:?}");
}

async fn builds_names_and_errors_with_any_characters_round_trip(store: Store) {
    let fx = fx(store).await;
    let odd = ["build, test", "say \"hi\"", "back\\slash", "[x]", "ünï"];
    let mut jobs: Vec<NewJob> = odd.iter().map(|n| job(n, &[])).collect();
    jobs.push(job("after", &odd));
    let created = create(
        &fx.store,
        pipeline(fx.project.id, "main", vec![("wf", jobs)]),
    )
    .await;
    let after = reload(&fx.store, &created[5]).await;
    assert_eq!(after.requires, odd, "requires come back as given");
    assert_eq!(after.state, JobState::Blocked);
    for (i, name) in odd.iter().enumerate() {
        assert_eq!(created[i].name, *name);
        let j = claim(&fx.store, fx.runners[0], &created[i]).await;
        assert!(
            fx.store
                .builds()
                .finish(j.id, Some(fx.runners[0]), JobState::Success)
                .await
                .unwrap()
        );
    }
    assert_eq!(
        state(&fx.store, &after).await,
        JobState::Queued,
        "released by name"
    );
}

// ---------------------------------------------------------------------------------------------
// The queue

async fn builds_claim_next_hands_out_the_oldest_queued_job(store: Store) {
    let fx = fx(store).await;
    let b = fx.store.builds();
    assert_eq!(
        b.claim_next(fx.runners[0]).await.unwrap(),
        None,
        "nothing queued"
    );
    let first = create(
        &fx.store,
        pipeline(
            fx.project.id,
            "main",
            vec![("wf", vec![job("a", &[]), job("b", &["a"])])],
        ),
    )
    .await;
    let second = one_job(&fx.store, fx.other.id, "main").await;
    let third = one_job(&fx.store, fx.project.id, "main").await;

    let from = now_s();
    let got = claim(&fx.store, fx.runners[0], &first[0]).await;
    let to = now_s();
    assert_eq!(got.state, JobState::Running);
    assert_eq!(got.runner_id, Some(fx.runners[0]));
    let started = got.started_at.expect("started_at");
    assert_whole_second_utc("started_at", started, from, to);
    assert_eq!(got.heartbeat_at, Some(started));
    assert_eq!(reload(&fx.store, &first[0]).await, got);

    claim(&fx.store, fx.runners[1], &second).await;
    claim(&fx.store, fx.runners[0], &third).await;
    assert_eq!(
        b.claim_next(fx.runners[1]).await.unwrap(),
        None,
        "a blocked job is never handed out"
    );
    assert_eq!(state(&fx.store, &first[1]).await, JobState::Blocked);
}

/// `claimers` tasks claim until the queue is empty; every job is handed out exactly once.
async fn claim_race(store: Store, claimers: usize, jobs: usize) {
    let fx = fx(store).await;
    let owner = create_user(&fx.store, "racer").await;
    let mut runners = Vec::new();
    for i in 0..claimers {
        runners.push(runner(&fx.store, owner.id, 10 + i).await);
    }
    let wanted: Vec<JobRecord> = create(
        &fx.store,
        pipeline(
            fx.project.id,
            "main",
            vec![(
                "wf",
                (0..jobs).map(|i| job(&format!("j{i}"), &[])).collect(),
            )],
        ),
    )
    .await;
    let start = std::sync::Arc::new(tokio::sync::Barrier::new(claimers));
    let tasks: Vec<_> = runners
        .iter()
        .map(|&r| {
            let (store, start) = (fx.store.clone(), start.clone());
            tokio::spawn(async move {
                start.wait().await;
                let mut got = Vec::new();
                while let Some(j) = store.builds().claim_next(r).await.expect("claim") {
                    assert_eq!(j.runner_id, Some(r));
                    got.push(j.id);
                }
                got
            })
        })
        .collect();
    let mut seen = BTreeSet::new();
    for t in tasks {
        for id in t.await.unwrap() {
            assert!(seen.insert(id), "job {id} was handed out twice");
        }
    }
    let all: BTreeSet<i64> = wanted.iter().map(|j| j.id).collect();
    assert_eq!(seen, all, "every queued job was handed out");
    for j in &wanted {
        let j = reload(&fx.store, j).await;
        assert_eq!(j.state, JobState::Running);
        assert!(runners.contains(&j.runner_id.unwrap()));
    }
}

async fn builds_two_concurrent_claimers_never_get_the_same_job(store: Store) {
    claim_race(store, 2, 20).await;
}

async fn builds_ten_concurrent_claimers_never_get_the_same_job(store: Store) {
    claim_race(store, 10, 40).await;
}

async fn builds_heartbeat_only_from_the_runner_holding_the_job(store: Store) {
    let fx = fx(store).await;
    let b = fx.store.builds();
    let (mine, theirs) = (fx.runners[0], fx.runners[1]);
    let j = one_job(&fx.store, fx.project.id, "main").await;
    assert_eq!(
        b.heartbeat(j.id, mine).await.unwrap(),
        None,
        "a queued job has no runner"
    );
    claim(&fx.store, mine, &j).await;
    assert_eq!(
        b.heartbeat(j.id, theirs).await.unwrap(),
        None,
        "wrong runner"
    );
    assert_eq!(
        b.heartbeat(j.id + 1000, mine).await.unwrap(),
        None,
        "unknown job"
    );
    let from = now_s();
    assert_eq!(b.heartbeat(j.id, mine).await.unwrap(), Some(false));
    let hb = reload(&fx.store, &j).await.heartbeat_at.unwrap();
    assert_whole_second_utc("heartbeat_at", hb, from, now_s());
    assert!(b.finish(j.id, Some(mine), JobState::Success).await.unwrap());
    assert_eq!(
        b.heartbeat(j.id, mine).await.unwrap(),
        None,
        "the job has ended"
    );
}

// ---------------------------------------------------------------------------------------------
// Ending jobs

async fn builds_finish_releases_dependents_when_all_requirements_succeeded(store: Store) {
    let fx = fx(store).await;
    let b = fx.store.builds();
    let r = fx.runners[0];
    let jobs = create(
        &fx.store,
        pipeline(
            fx.project.id,
            "main",
            vec![(
                "wf",
                vec![
                    job("a", &[]),
                    job("b", &[]),
                    job("c", &["a", "b"]),
                    job("d", &["c"]),
                ],
            )],
        ),
    )
    .await;
    let (a, bb, c, d) = (&jobs[0], &jobs[1], &jobs[2], &jobs[3]);
    claim(&fx.store, r, a).await;
    claim(&fx.store, r, bb).await;
    let from = now_s();
    assert!(b.finish(a.id, Some(r), JobState::Success).await.unwrap());
    let a2 = reload(&fx.store, a).await;
    assert_eq!(a2.state, JobState::Success);
    assert_whole_second_utc("stopped_at", a2.stopped_at.unwrap(), from, now_s());
    assert_eq!(a2.runner_id, Some(r), "the runner that ran it is kept");
    assert_eq!(
        state(&fx.store, c).await,
        JobState::Blocked,
        "b has not finished"
    );
    assert!(b.finish(bb.id, Some(r), JobState::Success).await.unwrap());
    let c2 = reload(&fx.store, c).await;
    assert_eq!((c2.state, c2.stopped_at), (JobState::Queued, None));
    assert_eq!(
        state(&fx.store, d).await,
        JobState::Blocked,
        "d waits for c"
    );
    claim(&fx.store, r, c).await;
    assert!(b.finish(c.id, Some(r), JobState::Success).await.unwrap());
    assert_eq!(state(&fx.store, d).await, JobState::Queued);
}

async fn builds_finish_failure_gives_up_dependents_transitively(store: Store) {
    let fx = fx(store).await;
    let b = fx.store.builds();
    let r = fx.runners[0];
    let jobs = create(
        &fx.store,
        pipeline(
            fx.project.id,
            "main",
            vec![
                (
                    "wf",
                    vec![
                        job("a", &[]),
                        job("side", &[]),
                        job("b", &["a"]),
                        job("c", &["b", "side"]),
                        job("other", &["side"]),
                    ],
                ),
                ("wf2", vec![job("a", &[]), job("b", &["a"])]),
            ],
        ),
    )
    .await;
    claim(&fx.store, r, &jobs[0]).await;
    let from = now_s();
    assert!(
        b.finish(jobs[0].id, Some(r), JobState::Failed)
            .await
            .unwrap()
    );
    let to = now_s();
    for (i, want) in [
        (0, JobState::Failed),
        (1, JobState::Queued),
        (2, JobState::NotRun),
        (3, JobState::NotRun),
        (4, JobState::Blocked),
        (5, JobState::Queued),
        (6, JobState::Blocked),
    ] {
        let j = reload(&fx.store, &jobs[i]).await;
        assert_eq!(j.state, want, "{} of workflow {}", j.name, j.workflow_id);
        if want == JobState::NotRun {
            assert_whole_second_utc("not_run stopped_at", j.stopped_at.unwrap(), from, to);
            assert_eq!((j.started_at, j.runner_id), (None, None));
        }
    }
}

async fn builds_finish_is_refused_when_not_held_or_already_finished(store: Store) {
    let fx = fx(store).await;
    let b = fx.store.builds();
    let (mine, theirs) = (fx.runners[0], fx.runners[1]);
    let jobs = create(
        &fx.store,
        pipeline(
            fx.project.id,
            "main",
            vec![("wf", vec![job("a", &[]), job("b", &["a"])])],
        ),
    )
    .await;
    let (a, dep) = (&jobs[0], &jobs[1]);
    assert!(
        !b.finish(a.id, Some(mine), JobState::Success).await.unwrap(),
        "queued, not held"
    );
    assert!(
        !b.finish(a.id, None, JobState::Success).await.unwrap(),
        "queued, not running"
    );
    assert_eq!(state(&fx.store, a).await, JobState::Queued);
    claim(&fx.store, mine, a).await;
    assert!(
        !b.finish(a.id, Some(theirs), JobState::Failed)
            .await
            .unwrap(),
        "wrong runner"
    );
    assert_eq!(state(&fx.store, a).await, JobState::Running);
    let err = b
        .finish(a.id, Some(mine), JobState::Queued)
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Invalid(_)),
        "not a final state: {err:?}"
    );
    assert_eq!(state(&fx.store, a).await, JobState::Running);
    assert!(b.finish(a.id, Some(mine), JobState::Success).await.unwrap());
    let done = reload(&fx.store, a).await;
    assert!(
        !b.finish(a.id, Some(mine), JobState::Failed).await.unwrap(),
        "already finished"
    );
    assert!(
        !b.finish(a.id, None, JobState::Canceled).await.unwrap(),
        "already finished"
    );
    assert_eq!(
        reload(&fx.store, a).await,
        done,
        "a second finish changes nothing"
    );
    assert_eq!(state(&fx.store, dep).await, JobState::Queued);
    assert!(
        !b.finish(a.id + 1000, None, JobState::Success)
            .await
            .unwrap(),
        "unknown job"
    );
    // The server may end a running job without naming its runner.
    claim(&fx.store, theirs, dep).await;
    assert!(b.finish(dep.id, None, JobState::Timedout).await.unwrap());
    assert_eq!(state(&fx.store, dep).await, JobState::Timedout);
}

async fn builds_concurrent_finishes_release_a_shared_dependent(store: Store) {
    let fx = fx(store).await;
    for round in 0..15 {
        let jobs = create(
            &fx.store,
            pipeline(
                fx.project.id,
                "main",
                vec![(
                    "wf",
                    vec![job("a", &[]), job("b", &[]), job("c", &["a", "b"])],
                )],
            ),
        )
        .await;
        claim(&fx.store, fx.runners[0], &jobs[0]).await;
        claim(&fx.store, fx.runners[1], &jobs[1]).await;
        let tasks: Vec<_> = [(0, fx.runners[0]), (1, fx.runners[1])]
            .into_iter()
            .map(|(i, r)| {
                let (store, id) = (fx.store.clone(), jobs[i].id);
                tokio::spawn(
                    async move { store.builds().finish(id, Some(r), JobState::Success).await },
                )
            })
            .collect();
        for t in tasks {
            assert!(t.await.unwrap().expect("finish"), "round {round}");
        }
        assert_eq!(
            state(&fx.store, &jobs[2]).await,
            JobState::Queued,
            "round {round}: c must be released once both requirements succeeded"
        );
        claim(&fx.store, fx.runners[0], &jobs[2]).await;
        assert!(
            fx.store
                .builds()
                .finish(jobs[2].id, None, JobState::Success)
                .await
                .unwrap()
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Cancelling and reaping

async fn builds_request_cancel_ends_waiting_jobs_and_flags_running_ones(store: Store) {
    let fx = fx(store).await;
    let b = fx.store.builds();
    let r = fx.runners[0];
    let jobs = create(
        &fx.store,
        pipeline(
            fx.project.id,
            "main",
            vec![(
                "wf",
                vec![
                    job("run", &[]),
                    job("wait", &[]),
                    job("after", &["wait"]),
                    job("x", &["run"]),
                ],
            )],
        ),
    )
    .await;
    let (running, queued, blocked, x) = (&jobs[0], &jobs[1], &jobs[2], &jobs[3]);
    claim(&fx.store, r, running).await;

    // Not yet running: canceled at once, and what required it will never run.
    let from = now_s();
    assert!(b.request_cancel(queued.id).await.unwrap());
    let q = reload(&fx.store, queued).await;
    assert_eq!(q.state, JobState::Canceled);
    assert_whole_second_utc("canceled stopped_at", q.stopped_at.unwrap(), from, now_s());
    assert!(!q.cancel_requested);
    assert_eq!(state(&fx.store, blocked).await, JobState::NotRun);

    // Running: only flagged; its runner learns at the next heartbeat and ends it.
    assert!(b.request_cancel(running.id).await.unwrap());
    let run = reload(&fx.store, running).await;
    assert_eq!((run.state, run.cancel_requested), (JobState::Running, true));
    assert_eq!(b.heartbeat(running.id, r).await.unwrap(), Some(true));
    assert!(
        b.finish(running.id, Some(r), JobState::Canceled)
            .await
            .unwrap()
    );
    let run = reload(&fx.store, running).await;
    assert_eq!(
        (run.state, run.cancel_requested),
        (JobState::Canceled, false)
    );
    assert_eq!(state(&fx.store, x).await, JobState::NotRun);

    // Already ended or unknown: nothing to do.
    assert!(!b.request_cancel(running.id).await.unwrap());
    assert!(!b.request_cancel(queued.id).await.unwrap());
    assert!(!b.request_cancel(x.id).await.unwrap(), "not_run is final");
    assert!(!b.request_cancel(x.id + 1000).await.unwrap());
    assert_eq!(state(&fx.store, x).await, JobState::NotRun);

    // A blocked job can be canceled directly as well.
    let more = create(
        &fx.store,
        pipeline(
            fx.project.id,
            "main",
            vec![("wf", vec![job("a", &[]), job("b", &["a"])])],
        ),
    )
    .await;
    assert!(b.request_cancel(more[1].id).await.unwrap());
    assert_eq!(state(&fx.store, &more[1]).await, JobState::Canceled);
    assert_eq!(
        state(&fx.store, &more[0]).await,
        JobState::Queued,
        "its requirement still runs"
    );
}

async fn builds_cancel_workflow_ends_everything_not_yet_running(store: Store) {
    let fx = fx(store).await;
    let b = fx.store.builds();
    let r = fx.runners[0];
    let (p, jobs) = b
        .create_pipeline(&pipeline(
            fx.project.id,
            "main",
            vec![
                (
                    "wf",
                    vec![
                        job("run", &[]),
                        job("done", &[]),
                        job("wait", &[]),
                        job("after_run", &["run"]),
                        job("after_wait", &["wait"]),
                    ],
                ),
                ("keep", vec![job("k", &[])]),
            ],
        ))
        .await
        .unwrap();
    claim(&fx.store, r, &jobs[0]).await;
    claim(&fx.store, r, &jobs[1]).await;
    assert!(
        b.finish(jobs[1].id, Some(r), JobState::Success)
            .await
            .unwrap()
    );
    let wf = jobs[0].workflow_id;

    b.cancel_workflow(wf).await.unwrap();
    let workflows = b.workflows(p.id).await.unwrap();
    assert_eq!(
        workflows
            .iter()
            .map(|w| (w.name.as_str(), w.canceled))
            .collect::<Vec<_>>(),
        [("wf", true), ("keep", false)]
    );
    let got: Vec<(String, JobState, bool)> = b
        .jobs_of_workflow(wf)
        .await
        .unwrap()
        .into_iter()
        .map(|j| (j.name, j.state, j.cancel_requested))
        .collect();
    let want = [
        ("run", JobState::Running, true),
        ("done", JobState::Success, false),
        ("wait", JobState::Canceled, false),
        ("after_run", JobState::NotRun, false),
        ("after_wait", JobState::NotRun, false),
    ];
    assert_eq!(
        got,
        want.map(|(n, s, c)| (n.to_owned(), s, c)),
        "queued jobs are canceled, waiting ones never run, running ones are told"
    );
    assert_eq!(
        state(&fx.store, &jobs[5]).await,
        JobState::Queued,
        "other workflow untouched"
    );

    // The running job ends successfully anyway: nothing of the canceled workflow starts.
    assert!(
        b.finish(jobs[0].id, Some(r), JobState::Success)
            .await
            .unwrap()
    );
    assert_eq!(state(&fx.store, &jobs[3]).await, JobState::NotRun);
    let next = b.claim_next(r).await.unwrap().unwrap();
    assert_eq!(
        next.id, jobs[5].id,
        "only the other workflow's job is handed out"
    );

    // Again, or unknown.
    b.cancel_workflow(wf).await.unwrap();
    let err = b.cancel_workflow(wf + 1000).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "got {err:?}");
}

async fn builds_reap_stale_ends_silent_jobs_and_settles_their_workflow(store: Store) {
    let fx = fx(store).await;
    let b = fx.store.builds();
    let r = fx.runners[0];
    let jobs = create(
        &fx.store,
        pipeline(
            fx.project.id,
            "main",
            vec![(
                "wf",
                vec![job("a", &[]), job("b", &["a"]), job("c", &["b"])],
            )],
        ),
    )
    .await;
    let queued = one_job(&fx.store, fx.project.id, "main").await;
    let a = claim(&fx.store, r, &jobs[0]).await;
    let hb = a.heartbeat_at.unwrap();
    assert_eq!(b.reap_stale(hb - Duration::hours(1)).await.unwrap(), 0);
    assert_eq!(
        b.reap_stale(hb).await.unwrap(),
        0,
        "a heartbeat at the deadline is in time"
    );
    assert_eq!(state(&fx.store, &jobs[0]).await, JobState::Running);

    let from = now_s();
    assert_eq!(
        b.reap_stale(now_s() + Duration::seconds(2)).await.unwrap(),
        1
    );
    let a = reload(&fx.store, &jobs[0]).await;
    assert_eq!(a.state, JobState::InfrastructureFail);
    assert_whole_second_utc("reaped stopped_at", a.stopped_at.unwrap(), from, now_s());
    assert_eq!(state(&fx.store, &jobs[1]).await, JobState::NotRun);
    assert_eq!(state(&fx.store, &jobs[2]).await, JobState::NotRun);
    assert_eq!(
        state(&fx.store, &queued).await,
        JobState::Queued,
        "only running jobs are reaped"
    );
    assert_eq!(
        b.heartbeat(a.id, r).await.unwrap(),
        None,
        "the runner lost it"
    );
    assert!(
        !b.finish(a.id, Some(r), JobState::Success).await.unwrap(),
        "too late to finish"
    );
    assert_eq!(
        b.reap_stale(now_s() + Duration::hours(1)).await.unwrap(),
        0,
        "nothing left"
    );

    // A job with no dependents is reaped the same way.
    claim(&fx.store, r, &queued).await;
    assert_eq!(
        b.reap_stale(now_s() + Duration::seconds(2)).await.unwrap(),
        1
    );
    assert_eq!(
        state(&fx.store, &queued).await,
        JobState::InfrastructureFail
    );
}

async fn builds_queued_jobs_survive_a_restart(db: TestDb) {
    let store = db.store().await;
    let fx = fx(store).await;
    let jobs = create(
        &fx.store,
        pipeline(
            fx.project.id,
            "main",
            vec![("wf", vec![job("a", &[]), job("b", &["a"])])],
        ),
    )
    .await;
    let r = fx.runners[0];
    fx.store.close().await;

    let store = db.store().await;
    let a = store
        .builds()
        .claim_next(r)
        .await
        .unwrap()
        .expect("still queued");
    assert_eq!(a.id, jobs[0].id);
    assert!(
        store
            .builds()
            .finish(a.id, Some(r), JobState::Success)
            .await
            .unwrap()
    );
    store.close().await;

    let store = db.store().await;
    let b = store
        .builds()
        .claim_next(r)
        .await
        .unwrap()
        .expect("released before the restart");
    assert_eq!((b.id, b.build_num), (jobs[1].id, 2));
    assert_eq!(
        store.builds().job_by_id(a.id).await.unwrap().unwrap().state,
        JobState::Success
    );
    let next = one_job(&store, fx.project.id, "main").await;
    assert_eq!(next.build_num, 3, "numbering carries on");
    store.close().await;
}

// ---------------------------------------------------------------------------------------------
// Retries

async fn builds_retry_adds_a_queued_job_with_a_new_number(store: Store) {
    let fx = fx(store).await;
    let b = fx.store.builds();
    let r = fx.runners[0];
    let jobs = create(
        &fx.store,
        pipeline(
            fx.project.id,
            "main",
            vec![("wf", vec![job("a", &[]), job("b", &["a"])])],
        ),
    )
    .await;
    let later = one_job(&fx.store, fx.project.id, "main").await;
    assert_eq!(later.build_num, 3);
    let a = claim(&fx.store, r, &jobs[0]).await;

    let err = b.retry(&a).await.unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict(_)),
        "a running job is not retried: {err:?}"
    );
    assert!(b.finish(a.id, Some(r), JobState::Failed).await.unwrap());
    let a = reload(&fx.store, &a).await;
    let from = now_s();
    let again = b.retry(&a).await.unwrap();
    assert_eq!(again.build_num, 4, "a new build number");
    assert_ne!(again.id, a.id);
    assert_ne!(again.uuid, a.uuid);
    assert_eq!(again.why, "retry");
    assert_eq!(again.retry_of, Some(a.build_num));
    assert_eq!(again.state, JobState::Queued);
    assert_eq!(
        (again.workflow_id, again.pipeline_id, again.project_id),
        (a.workflow_id, a.pipeline_id, a.project_id)
    );
    assert_eq!(
        (
            &again.name,
            &again.spec,
            &again.build_parameters,
            &again.branch,
            &again.revision
        ),
        (
            &a.name,
            &a.spec,
            &a.build_parameters,
            &a.branch,
            &a.revision
        )
    );
    assert_eq!(
        (again.started_at, again.stopped_at, again.runner_id),
        (None, None, None)
    );
    assert_whole_second_utc("retry queued_at", again.queued_at, from, now_s());
    assert_eq!(reload(&fx.store, &again).await, again);
    assert_eq!(
        state(&fx.store, &a).await,
        JobState::Failed,
        "the original stays as it ended"
    );
    assert_eq!(
        nums(&b.jobs_of_workflow(a.workflow_id).await.unwrap()),
        [1, 2, 4]
    );
    claim(&fx.store, r, &later).await;
    claim(&fx.store, r, &again).await;
    let next = one_job(&fx.store, fx.project.id, "main").await;
    assert_eq!(next.build_num, 5);
}

// ---------------------------------------------------------------------------------------------
// Reading back

async fn builds_jobs_filters_branch_and_paging(store: Store) {
    let fx = fx(store).await;
    let b = fx.store.builds();
    let (r, p) = (fx.runners[0], fx.project.id);
    // Build numbers 1..=8 in these states; one job of another project in between.
    let ok = ended(&fx.store, p, r, "main", JobState::Success).await;
    let failed = ended(&fx.store, p, r, "feature", JobState::Failed).await;
    let _other = ended(&fx.store, fx.other.id, r, "main", JobState::Success).await;
    let canceled = ended(&fx.store, p, r, "main", JobState::Canceled).await;
    let infra = ended(&fx.store, p, r, "main", JobState::InfrastructureFail).await;
    let timedout = ended(&fx.store, p, r, "feature", JobState::Timedout).await;
    let running = one_job(&fx.store, p, "main").await;
    claim(&fx.store, r, &running).await;
    let chain = create(
        &fx.store,
        pipeline(
            p,
            "main",
            vec![("wf", vec![job("q", &[]), job("w", &["q"])])],
        ),
    )
    .await;
    let (queued, blocked) = (chain[0].build_num, chain[1].build_num);
    assert_eq!(
        [
            ok,
            failed,
            canceled,
            infra,
            timedout,
            running.build_num,
            queued,
            blocked
        ],
        [1, 2, 3, 4, 5, 6, 7, 8]
    );
    let b = &b;
    let list = |branch: Option<&'static str>, filter, limit, offset| async move {
        nums(&b.jobs(p, branch, filter, limit, offset).await.unwrap())
    };
    assert_eq!(
        list(None, JobFilter::All, 30, 0).await,
        [8, 7, 6, 5, 4, 3, 2, 1]
    );
    assert_eq!(
        list(None, JobFilter::Completed, 30, 0).await,
        [5, 4, 3, 2, 1]
    );
    assert_eq!(list(None, JobFilter::Successful, 30, 0).await, [1]);
    assert_eq!(list(None, JobFilter::Failed, 30, 0).await, [5, 4, 2]);
    assert_eq!(list(None, JobFilter::Running, 30, 0).await, [8, 7, 6]);
    assert_eq!(list(Some("feature"), JobFilter::All, 30, 0).await, [5, 2]);
    assert_eq!(list(Some("main"), JobFilter::Failed, 30, 0).await, [4]);
    assert_eq!(
        list(Some("nope"), JobFilter::All, 30, 0).await,
        Vec::<i64>::new()
    );
    assert_eq!(list(None, JobFilter::All, 3, 0).await, [8, 7, 6]);
    assert_eq!(list(None, JobFilter::All, 3, 3).await, [5, 4, 3]);
    assert_eq!(list(None, JobFilter::All, 3, 6).await, [2, 1]);
    assert_eq!(list(None, JobFilter::All, 3, 9).await, Vec::<i64>::new());
    assert_eq!(list(Some("main"), JobFilter::Completed, 2, 1).await, [3, 1]);
}

async fn builds_latest_finished_is_per_project_and_branch(store: Store) {
    let fx = fx(store).await;
    let b = fx.store.builds();
    let (r, p) = (fx.runners[0], fx.project.id);
    assert_eq!(b.latest_finished(p, "main").await.unwrap(), None);
    let first = ended(&fx.store, p, r, "main", JobState::Success).await;
    let second = ended(&fx.store, p, r, "main", JobState::Failed).await;
    let feature = ended(&fx.store, p, r, "feature", JobState::Success).await;
    let running = one_job(&fx.store, p, "main").await;
    claim(&fx.store, r, &running).await;
    let other = ended(&fx.store, fx.other.id, r, "main", JobState::Success).await;
    let _queued = one_job(&fx.store, p, "main").await;
    assert_eq!((first, second, feature, other), (1, 2, 3, 1));
    let b = &b;
    let latest = |branch: &'static str| async move {
        b.latest_finished(p, branch)
            .await
            .unwrap()
            .map(|j| (j.build_num, j.state))
    };
    assert_eq!(
        latest("main").await,
        Some((2, JobState::Failed)),
        "running/queued are skipped"
    );
    assert_eq!(latest("feature").await, Some((3, JobState::Success)));
    assert_eq!(latest("gone").await, None);
    let o = b
        .latest_finished(fx.other.id, "main")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((o.project_id, o.build_num), (fx.other.id, 1));
}

async fn builds_steps_and_output(store: Store) {
    let fx = fx(store).await;
    let b = fx.store.builds();
    let r = fx.runners[0];
    let j = one_job(&fx.store, fx.project.id, "main").await;
    let other = one_job(&fx.store, fx.project.id, "main").await;
    claim(&fx.store, r, &j).await;
    assert!(b.steps(j.id).await.unwrap().is_empty());

    let from = now_s();
    b.start_step(j.id, 0, "Checkout code").await.unwrap();
    b.start_step(j.id, 1, "make test").await.unwrap();
    b.start_step(j.id, 0, "resent start").await.unwrap();
    b.finish_step(j.id, 0, "success", Some(0)).await.unwrap();
    b.finish_step(j.id, 1, "failed", Some(2)).await.unwrap();
    b.start_step(j.id, 2, "upload").await.unwrap();
    let to = now_s();
    let steps = b.steps(j.id).await.unwrap();
    let view: Vec<_> = steps
        .iter()
        .map(|s| {
            (
                s.idx,
                s.name.as_str(),
                s.state.as_str(),
                s.exit_code,
                s.stopped_at.is_some(),
            )
        })
        .collect();
    assert_eq!(
        view,
        [
            (0, "Checkout code", "success", Some(0), true),
            (1, "make test", "failed", Some(2), true),
            (2, "upload", "running", None, false),
        ]
    );
    for s in &steps {
        assert_whole_second_utc("step started_at", s.started_at, from, to);
        if let Some(t) = s.stopped_at {
            assert_whole_second_utc("step stopped_at", t, from, to);
        }
    }
    let err = b
        .finish_step(j.id, 7, "success", Some(0))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::NotFound(_)),
        "unknown step: {err:?}"
    );
    let err = b.start_step(j.id + 1000, 0, "x").await.unwrap_err();
    assert!(
        matches!(err, StoreError::NotFound(_)),
        "unknown job: {err:?}"
    );

    // Output: ordered by seq whatever the arrival order; a resent chunk changes nothing.
    b.append_output(j.id, 1, 2, "third\n").await.unwrap();
    b.append_output(j.id, 1, 0, "first\n").await.unwrap();
    b.append_output(j.id, 1, 1, "second\n").await.unwrap();
    b.append_output(j.id, 1, 1, "resent, different\n")
        .await
        .unwrap();
    b.append_output(j.id, 0, 0, "cloning\n").await.unwrap();
    b.append_output(other.id, 1, 0, "another job\n")
        .await
        .unwrap();
    let b = &b;
    let out = |idx, after| async move { b.output(j.id, idx, after).await.unwrap() };
    let text = |v: Vec<(i64, String)>| {
        v.into_iter()
            .map(|(s, t)| format!("{s}:{t}"))
            .collect::<String>()
    };
    assert_eq!(text(out(1, -1).await), "0:first\n1:second\n2:third\n");
    assert_eq!(text(out(1, 0).await), "1:second\n2:third\n");
    assert_eq!(text(out(1, 2).await), "");
    assert_eq!(text(out(0, -1).await), "0:cloning\n");
    assert_eq!(text(out(5, -1).await), "");
    let err = b.append_output(j.id + 1000, 0, 0, "x").await.unwrap_err();
    assert!(
        matches!(err, StoreError::NotFound(_)),
        "unknown job: {err:?}"
    );
}

async fn builds_pipelines_listing_paging_and_lookups(store: Store) {
    let fx = fx(store).await;
    let b = fx.store.builds();
    let p = fx.project.id;
    let mut made = Vec::new();
    for branch in ["main", "feature", "main", "main", "feature"] {
        let (pl, _) = b
            .create_pipeline(&pipeline(p, branch, vec![("wf", vec![job("a", &[])])]))
            .await
            .unwrap();
        made.push(pl);
    }
    let (theirs, _) = b
        .create_pipeline(&pipeline(fx.other.id, "main", vec![]))
        .await
        .unwrap();
    let numbers = |page: &circlet_store::builds::PipelinePage| {
        page.pipelines.iter().map(|p| p.number).collect::<Vec<_>>()
    };
    let page = b.pipelines(p, None, None, 2).await.unwrap();
    assert_eq!((numbers(&page), page.next_before), (vec![5, 4], Some(4)));
    let page = b.pipelines(p, None, page.next_before, 2).await.unwrap();
    assert_eq!((numbers(&page), page.next_before), (vec![3, 2], Some(2)));
    let page = b.pipelines(p, None, page.next_before, 2).await.unwrap();
    assert_eq!((numbers(&page), page.next_before), (vec![1], None));
    let page = b.pipelines(p, None, None, 5).await.unwrap();
    assert_eq!(
        (numbers(&page), page.next_before),
        (vec![5, 4, 3, 2, 1], None),
        "exactly full"
    );
    let page = b.pipelines(p, Some("main"), None, 2).await.unwrap();
    assert_eq!((numbers(&page), page.next_before), (vec![4, 3], Some(3)));
    let page = b.pipelines(p, Some("main"), Some(3), 2).await.unwrap();
    assert_eq!((numbers(&page), page.next_before), (vec![1], None));
    assert_eq!(page.pipelines[0], made[0], "listed as created");
    let page = b.pipelines(fx.other.id, None, None, 10).await.unwrap();
    assert_eq!(page.pipelines, std::slice::from_ref(&theirs));

    assert_eq!(
        b.pipeline_by_uuid(made[2].uuid).await.unwrap().as_ref(),
        Some(&made[2])
    );
    assert_eq!(
        b.pipeline_by_id(made[3].id).await.unwrap().as_ref(),
        Some(&made[3])
    );
    assert_eq!(
        b.pipeline_by_number(p, 2).await.unwrap().as_ref(),
        Some(&made[1])
    );
    assert_eq!(
        b.pipeline_by_number(fx.other.id, 1).await.unwrap(),
        Some(theirs)
    );
    assert_eq!(
        b.pipeline_by_number(fx.other.id, 2).await.unwrap(),
        None,
        "not another project's"
    );
    assert_eq!(b.pipeline_by_number(p, 6).await.unwrap(), None);
    assert_eq!(
        b.pipeline_by_uuid(uuid::Uuid::new_v4()).await.unwrap(),
        None
    );
    assert_eq!(b.pipeline_by_id(made[4].id + 1000).await.unwrap(), None);
}

async fn builds_workflows_and_their_jobs(store: Store) {
    let fx = fx(store).await;
    let b = fx.store.builds();
    let (p, jobs) = b
        .create_pipeline(&pipeline(
            fx.project.id,
            "main",
            vec![
                (
                    "build",
                    vec![job("compile", &[]), job("test", &["compile"])],
                ),
                ("lint", vec![job("fmt", &[])]),
            ],
        ))
        .await
        .unwrap();
    let (_, theirs) = b
        .create_pipeline(&pipeline(
            fx.other.id,
            "main",
            vec![("build", vec![job("compile", &[])])],
        ))
        .await
        .unwrap();
    let workflows = b.workflows(p.id).await.unwrap();
    assert_eq!(
        workflows
            .iter()
            .map(|w| (w.name.as_str(), w.pipeline_id, w.project_id, w.canceled))
            .collect::<Vec<_>>(),
        [
            ("build", p.id, fx.project.id, false),
            ("lint", p.id, fx.project.id, false)
        ]
    );
    assert_ne!(workflows[0].uuid, workflows[1].uuid);
    assert_eq!(
        b.workflow_by_uuid(workflows[1].uuid)
            .await
            .unwrap()
            .as_ref(),
        Some(&workflows[1])
    );
    assert_eq!(
        b.workflow_by_uuid(uuid::Uuid::new_v4()).await.unwrap(),
        None
    );
    assert_eq!(jobs[0].workflow_id, workflows[0].id);
    assert_eq!(jobs[2].workflow_id, workflows[1].id);
    assert_eq!(
        b.jobs_of_workflow(workflows[0].id).await.unwrap(),
        jobs[..2]
    );
    assert_eq!(
        b.jobs_of_workflow(workflows[1].id).await.unwrap(),
        jobs[2..]
    );
    assert_eq!(
        b.jobs_of_workflow(theirs[0].workflow_id).await.unwrap(),
        theirs
    );
    assert!(
        b.jobs_of_workflow(workflows[1].id + 1000)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn builds_project_scoped_lookups_never_return_another_projects_job(store: Store) {
    let fx = fx(store).await;
    let b = fx.store.builds();
    let r = fx.runners[0];
    let mine = ended(&fx.store, fx.project.id, r, "main", JobState::Success).await;
    let theirs_num = ended(&fx.store, fx.other.id, r, "only-theirs", JobState::Success).await;
    let theirs_2 = one_job(&fx.store, fx.other.id, "main").await;
    assert_eq!((mine, theirs_num, theirs_2.build_num), (1, 1, 2));
    let j = b.job_by_num(fx.project.id, 1).await.unwrap().unwrap();
    assert_eq!(j.project_id, fx.project.id);
    assert_eq!(
        b.job_by_num(fx.project.id, 2).await.unwrap(),
        None,
        "2 is the other's"
    );
    let t = b.job_by_num(fx.other.id, 2).await.unwrap().unwrap();
    assert_eq!(t.id, theirs_2.id);
    let all = b
        .jobs(fx.project.id, None, JobFilter::All, 100, 0)
        .await
        .unwrap();
    assert!(all.iter().all(|j| j.project_id == fx.project.id));
    assert_eq!(nums(&all), [1]);
    let on_theirs = b
        .jobs(fx.project.id, Some("only-theirs"), JobFilter::All, 100, 0)
        .await;
    assert!(on_theirs.unwrap().is_empty());
    assert_eq!(
        b.latest_finished(fx.project.id, "only-theirs")
            .await
            .unwrap(),
        None
    );
    let page = b
        .pipelines(fx.project.id, Some("only-theirs"), None, 10)
        .await
        .unwrap();
    assert!(page.pipelines.is_empty());
}

async fn builds_timestamps_are_whole_seconds_utc(store: Store) {
    let fx = fx(store).await;
    let b = fx.store.builds();
    let r = fx.runners[0];
    let from = now_s();
    let (p, jobs) = b
        .create_pipeline(&pipeline(
            fx.project.id,
            "main",
            vec![("wf", vec![job("a", &[])])],
        ))
        .await
        .unwrap();
    claim(&fx.store, r, &jobs[0]).await;
    assert!(
        b.finish(jobs[0].id, Some(r), JobState::Success)
            .await
            .unwrap()
    );
    let to = now_s();
    let p = b.pipeline_by_id(p.id).await.unwrap().unwrap();
    assert_whole_second_utc("pipeline.created_at", p.created_at, from, to);
    assert_whole_second_utc("pipeline.updated_at", p.updated_at, from, to);
    let w = &b.workflows(p.id).await.unwrap()[0];
    assert_whole_second_utc("workflow.created_at", w.created_at, from, to);
    let j = reload(&fx.store, &jobs[0]).await;
    for (what, t) in [
        ("queued_at", Some(j.queued_at)),
        ("started_at", j.started_at),
        ("stopped_at", j.stopped_at),
        ("heartbeat_at", j.heartbeat_at),
    ] {
        assert_whole_second_utc(what, t.expect(what), from, to);
    }
    assert!(j.queued_at <= j.started_at.unwrap() && j.started_at <= j.stopped_at);
}
