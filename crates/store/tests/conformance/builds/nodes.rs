//! Parallel jobs (`parallelism: N`), handed out: each node claimed exactly once, by a runner
//! of its own, with its own uuid and heartbeat.

use super::*;
use std::collections::BTreeMap;

both_backends!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    run = run;
    builds_parallel_job_hands_out_each_node_once,
    builds_parallel_heartbeats_are_per_node,
    builds_concurrent_claimers_hand_out_each_node_exactly_once,
);

// ---------------------------------------------------------------------------------------------
// Claiming

async fn builds_parallel_job_hands_out_each_node_once(store: Store) {
    let fx = fx(store).await;
    let b = fx.store.builds();
    let rs = more_runners(&fx, 3).await;
    let split = parallel_job(&fx, "split", 3).await;
    assert_eq!((split.parallelism, split.state), (3, JobState::Queued));
    assert_eq!(
        reload(&fx.store, &split).await,
        split,
        "read back as created"
    );
    assert!(nodes(&fx.store, &split).await.is_empty());
    assert_eq!(
        fx.store.runners().task_counts(None).await.unwrap(),
        (3, 0),
        "three nodes wait for a runner"
    );

    let from = now_s();
    let first = claim_node(&fx.store, rs[0], &split, 0).await;
    let to = now_s();
    let running = reload(&fx.store, &split).await;
    assert_eq!(
        running.state,
        JobState::Running,
        "running from its first claim"
    );
    assert!(!running.cancel_requested);
    let started = running.started_at.expect("started_at");
    assert_millisecond_utc("started_at", started, from, to);
    assert_eq!(first.uuid, split.uuid, "node 0 has its job's uuid");
    assert_eq!(first.started_at, started);
    assert_eq!(
        first.heartbeat_at,
        started.replace_millisecond(0).unwrap(),
        "heartbeats in whole seconds"
    );
    assert_eq!(first.stopped_at, None);
    assert_eq!(fx.store.runners().task_counts(None).await.unwrap(), (2, 1));

    let second = claim_node(&fx.store, rs[1], &split, 1).await;
    let third = claim_node(&fx.store, rs[2], &split, 2).await;
    let uuids: BTreeSet<_> = [first.uuid, second.uuid, third.uuid].into();
    assert_eq!(uuids.len(), 3, "every node has a uuid of its own");
    assert_eq!(
        reload(&fx.store, &split).await.started_at,
        Some(started),
        "the job started with its first node"
    );
    assert_eq!(
        nodes(&fx.store, &split).await,
        [first.clone(), second.clone(), third.clone()]
    );
    for n in [&first, &second, &third] {
        assert_eq!(b.node_by_uuid(n.uuid).await.unwrap().as_ref(), Some(n));
    }
    assert_eq!(b.node_by_uuid(uuid::Uuid::new_v4()).await.unwrap(), None);
    assert_eq!(fx.store.runners().task_counts(None).await.unwrap(), (0, 3));
    let mut per_runner = b.running_per_runner().await.unwrap();
    per_runner.sort();
    assert_eq!(per_runner, [(rs[0], 1), (rs[1], 1), (rs[2], 1)]);

    assert_eq!(
        b.claim_next(rs[0], None).await.unwrap(),
        None,
        "every node is out"
    );
    let next = one_job(&fx.store, fx.project.id, "main").await;
    let (_, node) = claim(&fx.store, rs[0], &next).await;
    assert_eq!((node.index, node.uuid), (0, next.uuid));
    assert_eq!(reload(&fx.store, &split).await, running, "unchanged");

    // A retry runs on as many nodes.
    assert!(b.finish(split.id, JobState::Failed).await.unwrap());
    let again = b.retry(&reload(&fx.store, &split).await).await.unwrap();
    assert_eq!((again.parallelism, again.state), (3, JobState::Queued));
}

async fn builds_parallel_heartbeats_are_per_node(store: Store) {
    let fx = fx(store).await;
    let b = fx.store.builds();
    let (r0, r1) = (fx.runners[0], fx.runners[1]);
    let split = parallel_job(&fx, "split", 3).await;
    claim_node(&fx.store, r0, &split, 0).await;
    claim_node(&fx.store, r1, &split, 1).await;

    let from = now_s();
    assert_eq!(b.heartbeat(split.id, 0, r0).await.unwrap(), Some(false));
    assert_eq!(b.heartbeat(split.id, 1, r1).await.unwrap(), Some(false));
    for n in nodes(&fx.store, &split).await {
        assert_whole_second_utc("node heartbeat_at", n.heartbeat_at, from, now_s());
    }
    assert_eq!(
        b.heartbeat(split.id, 0, r1).await.unwrap(),
        None,
        "another runner's node"
    );
    assert_eq!(
        b.heartbeat(split.id, 1, r0).await.unwrap(),
        None,
        "another runner's node"
    );
    assert_eq!(
        b.heartbeat(split.id, 2, r0).await.unwrap(),
        None,
        "a node nobody claimed"
    );
    assert_eq!(
        b.heartbeat(split.id + 1000, 0, r0).await.unwrap(),
        None,
        "unknown job"
    );

    assert!(b.request_cancel(split.id).await.unwrap());
    assert_eq!(b.heartbeat(split.id, 0, r0).await.unwrap(), Some(true));
    assert_eq!(b.heartbeat(split.id, 1, r1).await.unwrap(), Some(true));
    assert_eq!(b.heartbeat(split.id, 0, r1).await.unwrap(), None);
    assert!(end_node(&fx.store, r0, &split, 0, JobState::Canceled).await);
    assert_eq!(
        b.heartbeat(split.id, 0, r0).await.unwrap(),
        None,
        "its node has ended"
    );
    assert_eq!(
        b.heartbeat(split.id, 1, r1).await.unwrap(),
        Some(true),
        "the other node still runs"
    );
}

// ---------------------------------------------------------------------------------------------
// Concurrency

async fn builds_concurrent_claimers_hand_out_each_node_exactly_once(store: Store) {
    let fx = fx(store).await;
    let claimers = more_runners(&fx, 4).await;
    for round in 0..3 {
        let mut new = vec![job("before", &[]), par("eight", &[], 8)];
        new.extend((0..6).map(|i| job(&format!("j{i}"), &[])));
        new.push(par("three", &[], 3));
        let created = create(
            &fx.store,
            pipeline(fx.project.id, "main", vec![("wf", new)]),
        )
        .await;
        let start = std::sync::Arc::new(tokio::sync::Barrier::new(claimers.len()));
        let tasks: Vec<_> = claimers
            .iter()
            .map(|&r| {
                let (store, start) = (fx.store.clone(), start.clone());
                tokio::spawn(async move {
                    start.wait().await;
                    let mut got = Vec::new();
                    while let Some((j, node)) =
                        store.builds().claim_next(r, None).await.expect("claim")
                    {
                        assert_eq!(node.job_id, j.id);
                        assert_eq!(node.runner_id, Some(r));
                        assert_eq!(j.state, JobState::Running);
                        got.push(node);
                    }
                    got
                })
            })
            .collect();
        let mut seen: BTreeMap<(i64, i64), NodeRecord> = BTreeMap::new();
        for t in tasks {
            for node in t.await.unwrap() {
                let key = (node.job_id, node.index);
                assert!(
                    seen.insert(key, node).is_none(),
                    "round {round}: node {key:?} was handed out twice"
                );
            }
        }
        let want: BTreeSet<(i64, i64)> = created
            .iter()
            .flat_map(|j| (0..j.parallelism).map(move |i| (j.id, i)))
            .collect();
        assert_eq!(want.len(), 18);
        assert_eq!(
            seen.keys().copied().collect::<BTreeSet<_>>(),
            want,
            "round {round}: every node was handed out"
        );
        let uuids: BTreeSet<_> = seen.values().map(|n| n.uuid).collect();
        assert_eq!(uuids.len(), seen.len(), "round {round}: uuids are distinct");
        for j in &created {
            let stored = nodes(&fx.store, j).await;
            let handed: Vec<NodeRecord> = seen
                .range((j.id, 0)..(j.id + 1, 0))
                .map(|(_, n)| n.clone())
                .collect();
            assert_eq!(stored, handed, "round {round}: {} as handed out", j.name);
            assert_eq!(stored[0].uuid, j.uuid, "node 0 has its job's uuid");
            assert_eq!(state(&fx.store, j).await, JobState::Running);
        }
        assert_eq!(
            fx.store
                .builds()
                .claim_next(claimers[0], None)
                .await
                .unwrap(),
            None
        );
        // Ended, so the next round starts from an empty queue.
        for j in &created {
            assert!(
                fx.store
                    .builds()
                    .finish(j.id, JobState::Success)
                    .await
                    .unwrap()
            );
        }
    }
}
