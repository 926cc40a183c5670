//! Parallel jobs (`parallelism: N`), ended: a job ends when its last node does, with the
//! nodes' combined result, and only then settles its workflow; cancelling, finishing it as a
//! whole and reaping work node by node.

use super::*;

both_backends!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    run = run;
    builds_parallel_job_ends_with_its_last_node_and_then_releases_dependents,
    builds_canceling_a_parallel_job_stops_handing_out_nodes,
    builds_finishing_a_parallel_job_ends_its_running_nodes,
    builds_reap_stale_ends_only_the_silent_node,
    builds_nodes_ending_at_once_end_their_job_once,
);

/// Waits, polling with a deadline, until the store's clock (whole seconds) has passed `t`.
async fn until_after(t: time::OffsetDateTime) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while now_s() <= t {
        assert!(
            std::time::Instant::now() < deadline,
            "the clock did not pass {t}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Ending

async fn builds_parallel_job_ends_with_its_last_node_and_then_releases_dependents(store: Store) {
    let fx = fx(store).await;
    let rs = more_runners(&fx, 3).await;
    let two = || {
        pipeline(
            fx.project.id,
            "main",
            vec![("wf", vec![par("split", &[], 3), job("after", &["split"])])],
        )
    };

    // One node fails, two succeed: the job fails once the last has ended.
    let jobs = create(&fx.store, two()).await;
    let (split, after) = (&jobs[0], &jobs[1]);
    for (i, &r) in rs.iter().enumerate() {
        claim_node(&fx.store, r, split, i as i64).await;
    }
    let from = now_s();
    assert!(end_node(&fx.store, rs[0], split, 0, JobState::Success).await);
    let job = reload(&fx.store, split).await;
    assert_eq!((job.state, job.stopped_at), (JobState::Running, None));
    let n = &nodes(&fx.store, split).await[0];
    assert_eq!(n.state, JobState::Success);
    assert_millisecond_utc("node stopped_at", n.stopped_at.unwrap(), from, now_s());
    assert!(
        !end_node(&fx.store, rs[0], split, 0, JobState::Failed).await,
        "a node ends once"
    );
    assert!(
        !end_node(&fx.store, rs[0], split, 1, JobState::Success).await,
        "not that runner's node"
    );
    assert!(
        !end_node(&fx.store, rs[0], split, 3, JobState::Success).await,
        "no such node"
    );
    assert!(end_node(&fx.store, rs[1], split, 1, JobState::Failed).await);
    assert_eq!(state(&fx.store, split).await, JobState::Running);
    assert_eq!(
        state(&fx.store, after).await,
        JobState::Blocked,
        "a node still runs"
    );
    assert!(end_node(&fx.store, rs[2], split, 2, JobState::Success).await);
    let job = reload(&fx.store, split).await;
    assert_eq!(
        job.state,
        JobState::Failed,
        "one node's failure fails the job"
    );
    assert_millisecond_utc("job stopped_at", job.stopped_at.unwrap(), from, now_s());
    assert_eq!(
        nodes(&fx.store, split)
            .await
            .iter()
            .map(|n| n.state)
            .collect::<Vec<_>>(),
        [JobState::Success, JobState::Failed, JobState::Success],
        "each node keeps its own end"
    );
    assert_eq!(state(&fx.store, after).await, JobState::NotRun);

    // Every node succeeds, the last one claimed only after the others ended: the job waits
    // for it, then succeeds, and only then is what requires it released.
    let jobs = create(&fx.store, two()).await;
    let (split, after) = (&jobs[0], &jobs[1]);
    claim_node(&fx.store, rs[0], split, 0).await;
    claim_node(&fx.store, rs[1], split, 1).await;
    assert!(end_node(&fx.store, rs[1], split, 1, JobState::Success).await);
    assert!(end_node(&fx.store, rs[0], split, 0, JobState::Success).await);
    assert_eq!(
        state(&fx.store, split).await,
        JobState::Running,
        "node 2 was never claimed: the job waits for it"
    );
    assert_eq!(state(&fx.store, after).await, JobState::Blocked);
    claim_node(&fx.store, rs[2], split, 2).await;
    assert_eq!(state(&fx.store, after).await, JobState::Blocked);
    assert!(end_node(&fx.store, rs[2], split, 2, JobState::Success).await);
    assert_eq!(state(&fx.store, split).await, JobState::Success);
    assert_eq!(state(&fx.store, after).await, JobState::Queued);
    let (_, node) = claim(&fx.store, rs[0], after).await;
    assert_eq!(node.index, 0);
}

async fn builds_canceling_a_parallel_job_stops_handing_out_nodes(store: Store) {
    let fx = fx(store).await;
    let b = fx.store.builds();
    let (r0, r1) = (fx.runners[0], fx.runners[1]);
    let wf = || {
        pipeline(
            fx.project.id,
            "main",
            vec![("wf", vec![par("split", &[], 3), job("after", &["split"])])],
        )
    };

    // One node running, two never claimed: no more claims; the job ends with its node.
    let jobs = create(&fx.store, wf()).await;
    let (split, after) = (&jobs[0], &jobs[1]);
    let later = one_job(&fx.store, fx.other.id, "main").await;
    claim_node(&fx.store, r0, split, 0).await;
    assert!(b.request_cancel(split.id).await.unwrap());
    let job = reload(&fx.store, split).await;
    assert_eq!((job.state, job.cancel_requested), (JobState::Running, true));
    assert_eq!(
        fx.store.runners().task_counts(None).await.unwrap(),
        (1, 1),
        "only the other job waits for a runner"
    );
    let (got, _) = b.claim_next(r1, None).await.unwrap().expect("a queued job");
    assert_eq!(got.id, later.id, "the canceled job hands out no node");
    assert_eq!(b.claim_next(r1, None).await.unwrap(), None);
    assert_eq!(nodes(&fx.store, split).await.len(), 1);
    let from = now_s();
    assert!(end_node(&fx.store, r0, split, 0, JobState::Canceled).await);
    let job = reload(&fx.store, split).await;
    assert_eq!(
        (job.state, job.cancel_requested),
        (JobState::Canceled, false)
    );
    assert_millisecond_utc(
        "canceled stopped_at",
        job.stopped_at.unwrap(),
        from,
        now_s(),
    );
    assert_eq!(state(&fx.store, after).await, JobState::NotRun);
    assert_eq!(nodes(&fx.store, split).await.len(), 1, "no node was added");
    assert!(!b.request_cancel(split.id).await.unwrap(), "already ended");

    // A node that ends well after the cancel does not make the job a success: not every node ran.
    let jobs = create(&fx.store, wf()).await;
    let (split, after) = (&jobs[0], &jobs[1]);
    claim_node(&fx.store, r0, split, 0).await;
    claim_node(&fx.store, r1, split, 1).await;
    assert!(b.request_cancel(split.id).await.unwrap());
    assert!(end_node(&fx.store, r0, split, 0, JobState::Success).await);
    assert_eq!(state(&fx.store, split).await, JobState::Running);
    assert!(end_node(&fx.store, r1, split, 1, JobState::Success).await);
    assert_eq!(state(&fx.store, split).await, JobState::Canceled);
    assert_eq!(state(&fx.store, after).await, JobState::NotRun);

    // The claimed node already ended and the others were never claimed: no runner would ever
    // end the job, so the cancel ends it at once.
    let jobs = create(&fx.store, wf()).await;
    let (split, after) = (&jobs[0], &jobs[1]);
    claim_node(&fx.store, r0, split, 0).await;
    assert!(end_node(&fx.store, r0, split, 0, JobState::Success).await);
    assert_eq!(state(&fx.store, split).await, JobState::Running);
    let from = now_s();
    assert!(b.request_cancel(split.id).await.unwrap());
    let job = reload(&fx.store, split).await;
    assert_eq!(
        (job.state, job.cancel_requested),
        (JobState::Canceled, false)
    );
    assert_millisecond_utc(
        "canceled stopped_at",
        job.stopped_at.unwrap(),
        from,
        now_s(),
    );
    assert_eq!(state(&fx.store, after).await, JobState::NotRun);
    assert_eq!(b.claim_next(r1, None).await.unwrap(), None);
    assert_eq!(
        nodes(&fx.store, split)
            .await
            .iter()
            .map(|n| n.state)
            .collect::<Vec<_>>(),
        [JobState::Success],
        "the node that ran keeps its end"
    );
    assert!(!b.request_cancel(split.id).await.unwrap(), "already ended");

    // Canceling its workflow does the same.
    let jobs = create(&fx.store, wf()).await;
    let (split, after) = (&jobs[0], &jobs[1]);
    claim_node(&fx.store, r0, split, 0).await;
    assert!(end_node(&fx.store, r0, split, 0, JobState::Failed).await);
    b.cancel_workflow(split.workflow_id).await.unwrap();
    let job = reload(&fx.store, split).await;
    assert_eq!(
        (job.state, job.cancel_requested),
        (JobState::Canceled, false)
    );
    assert_eq!(state(&fx.store, after).await, JobState::NotRun);
    assert_eq!(b.claim_next(r1, None).await.unwrap(), None);
}

async fn builds_finishing_a_parallel_job_ends_its_running_nodes(store: Store) {
    let fx = fx(store).await;
    let b = fx.store.builds();
    let (r0, r1) = (fx.runners[0], fx.runners[1]);
    let jobs = create(
        &fx.store,
        pipeline(
            fx.project.id,
            "main",
            vec![("wf", vec![par("split", &[], 3), job("after", &["split"])])],
        ),
    )
    .await;
    let (split, after) = (&jobs[0], &jobs[1]);
    claim_node(&fx.store, r0, split, 0).await;
    claim_node(&fx.store, r1, split, 1).await;
    assert!(end_node(&fx.store, r0, split, 0, JobState::Success).await);

    let from = now_s();
    assert!(b.finish(split.id, JobState::Timedout).await.unwrap());
    let to = now_s();
    let job = reload(&fx.store, split).await;
    assert_eq!(job.state, JobState::Timedout);
    assert_millisecond_utc("job stopped_at", job.stopped_at.unwrap(), from, to);
    let ended = nodes(&fx.store, split).await;
    assert_eq!(
        ended.iter().map(|n| n.state).collect::<Vec<_>>(),
        [JobState::Success, JobState::Timedout],
        "the running node ends with the job; the ended one keeps its end"
    );
    assert_millisecond_utc("node stopped_at", ended[1].stopped_at.unwrap(), from, to);
    assert_eq!(state(&fx.store, after).await, JobState::NotRun);
    assert_eq!(b.heartbeat(split.id, 1, r1).await.unwrap(), None);
    assert!(!end_node(&fx.store, r1, split, 1, JobState::Success).await);
    assert_eq!(b.claim_next(r1, None).await.unwrap(), None);
    assert!(!b.finish(split.id, JobState::Failed).await.unwrap());
    assert_eq!(state(&fx.store, split).await, JobState::Timedout);
}

async fn builds_reap_stale_ends_only_the_silent_node(store: Store) {
    let fx = fx(store).await;
    let b = fx.store.builds();
    let rs = more_runners(&fx, 3).await;
    let jobs = create(
        &fx.store,
        pipeline(
            fx.project.id,
            "main",
            vec![("wf", vec![par("split", &[], 3), job("after", &["split"])])],
        ),
    )
    .await;
    let (split, after) = (&jobs[0], &jobs[1]);
    let mut claimed = Vec::new();
    for (i, &r) in rs.iter().enumerate() {
        claimed.push(claim_node(&fx.store, r, split, i as i64).await);
    }
    let last_claim = claimed.iter().map(|n| n.heartbeat_at).max().unwrap();

    // Nodes 1 and 2 keep beating after node 0 went silent.
    until_after(last_claim).await;
    assert_eq!(b.heartbeat(split.id, 1, rs[1]).await.unwrap(), Some(false));
    assert_eq!(b.heartbeat(split.id, 2, rs[2]).await.unwrap(), Some(false));
    let beats = nodes(&fx.store, split).await;
    let deadline = beats[1].heartbeat_at.min(beats[2].heartbeat_at);
    assert!(beats[0].heartbeat_at < deadline);
    assert_eq!(
        b.reap_stale(beats[0].heartbeat_at).await.unwrap(),
        0,
        "a heartbeat at the deadline is in time"
    );
    let from = now_s();
    assert_eq!(b.reap_stale(deadline).await.unwrap(), 1);
    let reaped = nodes(&fx.store, split).await;
    assert_eq!(
        reaped.iter().map(|n| n.state).collect::<Vec<_>>(),
        [
            JobState::InfrastructureFail,
            JobState::Running,
            JobState::Running
        ],
        "only the silent node is reaped"
    );
    assert_millisecond_utc(
        "reaped stopped_at",
        reaped[0].stopped_at.unwrap(),
        from,
        now_s(),
    );
    assert_eq!((reaped[1].stopped_at, reaped[2].stopped_at), (None, None));
    let job = reload(&fx.store, split).await;
    assert_eq!((job.state, job.stopped_at), (JobState::Running, None));
    assert_eq!(state(&fx.store, after).await, JobState::Blocked);
    assert_eq!(
        b.heartbeat(split.id, 0, rs[0]).await.unwrap(),
        None,
        "its runner lost it"
    );
    assert!(
        !end_node(&fx.store, rs[0], split, 0, JobState::Success).await,
        "too late to finish"
    );
    assert_eq!(b.reap_stale(deadline).await.unwrap(), 0, "reaped once");

    assert!(end_node(&fx.store, rs[1], split, 1, JobState::Success).await);
    assert_eq!(state(&fx.store, split).await, JobState::Running);
    assert!(end_node(&fx.store, rs[2], split, 2, JobState::Success).await);
    assert_eq!(state(&fx.store, split).await, JobState::InfrastructureFail);
    assert_eq!(state(&fx.store, after).await, JobState::NotRun);
}

// ---------------------------------------------------------------------------------------------
// Concurrency

async fn builds_nodes_ending_at_once_end_their_job_once(store: Store) {
    let fx = fx(store).await;
    let rs = more_runners(&fx, 3).await;
    for round in 0..15 {
        let jobs = create(
            &fx.store,
            pipeline(
                fx.project.id,
                "main",
                vec![("wf", vec![par("split", &[], 3), job("after", &["split"])])],
            ),
        )
        .await;
        let (split, after) = (&jobs[0], &jobs[1]);
        for (i, &r) in rs.iter().enumerate() {
            claim_node(&fx.store, r, split, i as i64).await;
        }
        let start = std::sync::Arc::new(tokio::sync::Barrier::new(rs.len()));
        let tasks: Vec<_> = rs
            .iter()
            .enumerate()
            .map(|(i, &r)| {
                let (store, start, id) = (fx.store.clone(), start.clone(), split.id);
                tokio::spawn(async move {
                    start.wait().await;
                    let end = NodeEnd::by(r, JobState::Success);
                    store.builds().finish_node(id, i as i64, end).await
                })
            })
            .collect();
        for t in tasks {
            assert!(t.await.unwrap().expect("finish_node"), "round {round}");
        }
        assert_eq!(
            state(&fx.store, split).await,
            JobState::Success,
            "round {round}: the last node to end ends the job"
        );
        assert_eq!(
            state(&fx.store, after).await,
            JobState::Queued,
            "round {round}: what requires it is released"
        );
        claim(&fx.store, rs[0], after).await;
        assert!(end_node(&fx.store, rs[0], after, 0, JobState::Success).await);
    }
}
