//! The runner queue and ending jobs: claiming, heartbeats, finishing and settling.

use super::*;

both_backends!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    run = run;
    builds_claim_next_hands_out_the_oldest_queued_job,
    builds_two_concurrent_claimers_never_get_the_same_job,
    builds_ten_concurrent_claimers_never_get_the_same_job,
    builds_heartbeat_only_from_the_runner_holding_the_job,
    builds_finish_releases_dependents_when_all_requirements_succeeded,
    builds_finish_failure_gives_up_dependents_transitively,
    builds_finish_is_refused_when_not_held_or_already_finished,
    builds_concurrent_finishes_release_a_shared_dependent,
    builds_approvals_hold_until_approved_and_requirements_accept_their_ends,
    builds_claims_keep_to_resource_classes,
);

// ---------------------------------------------------------------------------------------------
// The queue

async fn builds_claim_next_hands_out_the_oldest_queued_job(store: Store) {
    let fx = fx(store).await;
    let b = fx.store.builds();
    assert_eq!(
        b.claim_next(fx.runners[0], None).await.unwrap(),
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
    let (got, node) = claim(&fx.store, fx.runners[0], &first[0]).await;
    let to = now_s();
    assert_eq!(got.state, JobState::Running);
    assert_eq!(node.runner_id, Some(fx.runners[0]));
    let started = got.started_at.expect("started_at");
    assert_millisecond_utc("started_at", started, from, to);
    assert_eq!(node.heartbeat_at, started.replace_millisecond(0).unwrap());
    assert_eq!(reload(&fx.store, &first[0]).await, got);
    assert_eq!(b.nodes(first[0].id).await.unwrap(), [node]);

    claim(&fx.store, fx.runners[1], &second).await;
    claim(&fx.store, fx.runners[0], &third).await;
    assert_eq!(
        b.claim_next(fx.runners[1], None).await.unwrap(),
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
                while let Some((j, node)) = store.builds().claim_next(r, None).await.expect("claim")
                {
                    assert_eq!(node.runner_id, Some(r));
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
        let nodes = fx.store.builds().nodes(j.id).await.unwrap();
        assert_eq!(nodes.len(), 1, "one node per job");
        assert!(runners.contains(&nodes[0].runner_id.unwrap()));
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
        b.heartbeat(j.id, 0, mine).await.unwrap(),
        None,
        "a queued job has no runner"
    );
    claim(&fx.store, mine, &j).await;
    assert_eq!(
        b.heartbeat(j.id, 0, theirs).await.unwrap(),
        None,
        "wrong runner"
    );
    assert_eq!(
        b.heartbeat(j.id + 1000, 0, mine).await.unwrap(),
        None,
        "unknown job"
    );
    let from = now_s();
    assert_eq!(b.heartbeat(j.id, 0, mine).await.unwrap(), Some(false));
    let hb = b.nodes(j.id).await.unwrap()[0].heartbeat_at;
    assert_whole_second_utc("heartbeat_at", hb, from, now_s());
    assert!(
        b.finish_node(j.id, 0, NodeEnd::by(mine, JobState::Success))
            .await
            .unwrap()
    );
    assert_eq!(
        b.heartbeat(j.id, 0, mine).await.unwrap(),
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
    assert!(
        b.finish_node(a.id, 0, NodeEnd::by(r, JobState::Success))
            .await
            .unwrap()
    );
    let a2 = reload(&fx.store, a).await;
    assert_eq!(a2.state, JobState::Success);
    assert_millisecond_utc("stopped_at", a2.stopped_at.unwrap(), from, now_s());
    assert_eq!(
        b.nodes(a.id).await.unwrap()[0].runner_id,
        Some(r),
        "the runner that ran it is kept"
    );
    assert_eq!(
        state(&fx.store, c).await,
        JobState::Blocked,
        "b has not finished"
    );
    assert!(
        b.finish_node(bb.id, 0, NodeEnd::by(r, JobState::Success))
            .await
            .unwrap()
    );
    let c2 = reload(&fx.store, c).await;
    assert_eq!((c2.state, c2.stopped_at), (JobState::Queued, None));
    assert_eq!(
        state(&fx.store, d).await,
        JobState::Blocked,
        "d waits for c"
    );
    claim(&fx.store, r, c).await;
    assert!(
        b.finish_node(c.id, 0, NodeEnd::by(r, JobState::Success))
            .await
            .unwrap()
    );
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
        b.finish_node(jobs[0].id, 0, NodeEnd::by(r, JobState::Failed))
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
            assert_millisecond_utc("not_run stopped_at", j.stopped_at.unwrap(), from, to);
            assert_eq!(j.started_at, None);
            assert!(b.nodes(j.id).await.unwrap().is_empty(), "no node ran it");
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
        !b.finish_node(a.id, 0, NodeEnd::by(mine, JobState::Success))
            .await
            .unwrap(),
        "queued, not held"
    );
    assert!(
        !b.finish(a.id, JobState::Success).await.unwrap(),
        "queued, not running"
    );
    assert_eq!(state(&fx.store, a).await, JobState::Queued);
    claim(&fx.store, mine, a).await;
    assert!(
        !b.finish_node(a.id, 0, NodeEnd::by(theirs, JobState::Failed))
            .await
            .unwrap(),
        "wrong runner"
    );
    assert_eq!(state(&fx.store, a).await, JobState::Running);
    let err = b
        .finish_node(a.id, 0, NodeEnd::by(mine, JobState::Queued))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Invalid(_)),
        "not a final state: {err:?}"
    );
    assert_eq!(state(&fx.store, a).await, JobState::Running);
    assert!(
        b.finish_node(a.id, 0, NodeEnd::by(mine, JobState::Success))
            .await
            .unwrap()
    );
    let done = reload(&fx.store, a).await;
    assert!(
        !b.finish_node(a.id, 0, NodeEnd::by(mine, JobState::Failed))
            .await
            .unwrap(),
        "already finished"
    );
    assert!(
        !b.finish(a.id, JobState::Canceled).await.unwrap(),
        "already finished"
    );
    assert_eq!(
        reload(&fx.store, a).await,
        done,
        "a second finish changes nothing"
    );
    assert_eq!(state(&fx.store, dep).await, JobState::Queued);
    assert!(
        !b.finish(a.id + 1000, JobState::Success).await.unwrap(),
        "unknown job"
    );
    // The server may end a running job without naming its runner.
    claim(&fx.store, theirs, dep).await;
    assert!(b.finish(dep.id, JobState::Timedout).await.unwrap());
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
                tokio::spawn(async move {
                    let end = NodeEnd::by(r, JobState::Success);
                    store.builds().finish_node(id, 0, end).await
                })
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
                .finish(jobs[2].id, JobState::Success)
                .await
                .unwrap()
        );
    }
}

async fn builds_approvals_hold_until_approved_and_requirements_accept_their_ends(store: Store) {
    let fx = fx(store).await;
    let b = fx.store.builds();
    let r = fx.runners[0];
    let approval = |name: &str, requires: &[&str]| NewJob {
        approval: true,
        ..job(name, requires)
    };
    let cleanup = NewJob {
        accepts: vec!["success,failed".into()],
        ..job("cleanup", &["build"])
    };
    let jobs = create(
        &fx.store,
        pipeline(
            fx.project.id,
            "main",
            vec![(
                "wf",
                vec![
                    job("build", &[]),
                    approval("hold", &["build"]),
                    job("deploy", &["hold"]),
                    cleanup,
                    approval("first", &[]),
                ],
            )],
        ),
    )
    .await;
    let (build, hold, deploy, cleanup, first) = (&jobs[0], &jobs[1], &jobs[2], &jobs[3], &jobs[4]);
    assert!(hold.approval && !build.approval);
    assert_eq!(cleanup.accepts, ["success,failed"]);
    assert_eq!(
        first.state,
        JobState::OnHold,
        "an approval requiring nothing holds at once"
    );
    assert!(
        !b.approve(build.id, "ada").await.unwrap(),
        "not an approval"
    );
    assert!(!b.approve(hold.id, "ada").await.unwrap(), "not on hold yet");
    claim(&fx.store, r, build).await;
    assert!(
        b.finish_node(build.id, 0, NodeEnd::by(r, JobState::Success))
            .await
            .unwrap()
    );
    assert_eq!(state(&fx.store, hold).await, JobState::OnHold);
    assert_eq!(state(&fx.store, cleanup).await, JobState::Queued);
    assert_eq!(state(&fx.store, deploy).await, JobState::Blocked);
    assert!(b.approve(hold.id, "ada").await.unwrap());
    let approved = reload(&fx.store, hold).await;
    assert_eq!(
        (approved.state, approved.approved_by.as_deref()),
        (JobState::Success, Some("ada"))
    );
    assert!(approved.stopped_at.is_some());
    assert_eq!(state(&fx.store, deploy).await, JobState::Queued);
    assert!(!b.approve(hold.id, "bob").await.unwrap(), "approved once");
    // Canceling the workflow cancels an approval still on hold.
    b.cancel_workflow(first.workflow_id).await.unwrap();
    assert_eq!(state(&fx.store, first).await, JobState::Canceled);
}

async fn builds_claims_keep_to_resource_classes(store: Store) {
    let fx = fx(store).await;
    let b = fx.store.builds();
    let runners = fx.store.runners();
    let gpu = NewJob {
        resource_class: Some("acme/gpu".into()),
        ..job("train", &[])
    };
    let jobs = create(
        &fx.store,
        pipeline(
            fx.project.id,
            "main",
            vec![("wf", vec![gpu, job("lint", &[])])],
        ),
    )
    .await;
    assert_eq!(jobs[0].resource_class.as_deref(), Some("acme/gpu"));
    assert_eq!(runners.task_counts(Some("acme/gpu")).await.unwrap(), (1, 0));
    assert_eq!(runners.task_counts(None).await.unwrap(), (1, 0));
    // The default pool gets the job without a class, though it was queued second.
    let (lint, _) = b.claim_next(fx.runners[0], None).await.unwrap().unwrap();
    assert_eq!(lint.name, "lint");
    assert_eq!(b.claim_next(fx.runners[0], None).await.unwrap(), None);
    assert_eq!(
        b.claim_next(fx.runners[1], Some("acme/other"))
            .await
            .unwrap(),
        None
    );
    let (train, _) = b
        .claim_next(fx.runners[1], Some("acme/gpu"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(train.name, "train");
    assert_eq!(runners.task_counts(Some("acme/gpu")).await.unwrap(), (0, 1));
    // A retry stays in its class.
    b.finish_node(train.id, 0, NodeEnd::by(fx.runners[1], JobState::Success))
        .await
        .unwrap();
    let again = b.retry(&reload(&fx.store, &train).await).await.unwrap();
    assert_eq!(again.resource_class.as_deref(), Some("acme/gpu"));

    // Classes, tokens bound to them, and runners' contacts.
    let class = runners.create_class("acme/gpu", "GPUs").await.unwrap();
    assert!(matches!(
        runners.create_class("acme/gpu", "again").await,
        Err(StoreError::Conflict(
            circlet_store::Conflict::ResourceClass(_)
        ))
    ));
    runners.bind(fx.runners[1], class.id).await.unwrap();
    assert_eq!(
        runners.class_of(fx.runners[1]).await.unwrap().as_deref(),
        Some("acme/gpu")
    );
    assert_eq!(runners.class_of(fx.runners[0]).await.unwrap(), None);
    assert_eq!(runners.classes().await.unwrap(), vec![class.clone()]);
    let before = now_s();
    runners
        .touch(
            fx.runners[1],
            "gpu-host",
            "circlet-runner/0.1.0",
            "10.0.0.7",
        )
        .await
        .unwrap();
    runners
        .touch(fx.runners[0], "laptop", "circlet-runner/0.1.0", "127.0.0.1")
        .await
        .unwrap();
    let seen = runners
        .seen_since(before - Duration::seconds(1), Some(Some("acme/gpu")))
        .await
        .unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        (seen[0].name.as_str(), seen[0].address.as_str()),
        ("gpu-host", "10.0.0.7")
    );
    assert_eq!(seen[0].resource_class.as_deref(), Some("acme/gpu"));
    assert!(seen[0].last_used.is_some(), "it ran a job");
    let pool = runners
        .seen_since(before - Duration::seconds(1), Some(None))
        .await
        .unwrap();
    assert_eq!(
        pool.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
        ["laptop"]
    );
    let later = time::OffsetDateTime::now_utc() + Duration::minutes(5);
    assert!(runners.seen_since(later, None).await.unwrap().is_empty());
}
