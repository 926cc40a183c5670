//! Parallel jobs (`parallelism: N`), read back: each node's steps, output and test results
//! kept apart, and all of it copied into the other backend.

use super::*;
use circlet_store::BackendKind;

both_backends!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    run = run;
    builds_parallel_steps_and_output_are_kept_per_node,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_into_postgres_keeps_a_parallel_jobs_nodes() {
    copy_keeps_a_parallel_job(BackendKind::Sqlite, BackendKind::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_into_sqlite_keeps_a_parallel_jobs_nodes() {
    copy_keeps_a_parallel_job(BackendKind::Postgres, BackendKind::Sqlite).await;
}

// ---------------------------------------------------------------------------------------------
// Steps, output and tests

async fn builds_parallel_steps_and_output_are_kept_per_node(store: Store) {
    let fx = fx(store).await;
    let b = fx.store.builds();
    let (r0, r1) = (fx.runners[0], fx.runners[1]);
    let split = parallel_job(&fx, "split", 2).await;
    claim_node(&fx.store, r0, &split, 0).await;
    claim_node(&fx.store, r1, &split, 1).await;

    b.start_step(split.id, 0, 0, "Checkout code").await.unwrap();
    b.start_step(split.id, 1, 0, "Checkout code").await.unwrap();
    b.start_step(split.id, 1, 1, "make test").await.unwrap();
    b.start_step(split.id, 1, 0, "resent start").await.unwrap();
    b.finish_step(split.id, 0, 0, "success", Some(0))
        .await
        .unwrap();
    b.finish_step(split.id, 1, 0, "failed", Some(3))
        .await
        .unwrap();
    let view = |steps: Vec<circlet_store::builds::StepRecord>| {
        steps
            .into_iter()
            .map(|s| (s.node_index, s.idx, s.name, s.state, s.exit_code))
            .collect::<Vec<_>>()
    };
    let step = |node: i64, idx: i64, name: &str, state: &str, exit: Option<i32>| {
        (node, idx, name.to_owned(), state.to_owned(), exit)
    };
    assert_eq!(
        view(b.steps(split.id, 0).await.unwrap()),
        [step(0, 0, "Checkout code", "success", Some(0))]
    );
    assert_eq!(
        view(b.steps(split.id, 1).await.unwrap()),
        [
            step(1, 0, "Checkout code", "failed", Some(3)),
            step(1, 1, "make test", "running", None),
        ]
    );
    assert_eq!(
        view(b.steps_of_all_nodes(split.id).await.unwrap()),
        [
            step(0, 0, "Checkout code", "success", Some(0)),
            step(1, 0, "Checkout code", "failed", Some(3)),
            step(1, 1, "make test", "running", None),
        ],
        "by step, then node"
    );
    assert!(b.steps(split.id, 2).await.unwrap().is_empty());
    let err = b
        .finish_step(split.id, 0, 1, "success", Some(0))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::NotFound(_)),
        "step 1 was started on node 1 only: {err:?}"
    );

    // The same step and sequence number on two nodes: two chunks.
    b.append_output(split.id, 0, 0, 0, "node zero\n")
        .await
        .unwrap();
    b.append_output(split.id, 1, 0, 0, "node one\n")
        .await
        .unwrap();
    b.append_output(split.id, 1, 0, 1, "more\n").await.unwrap();
    b.append_output(split.id, 1, 0, 0, "resent\n")
        .await
        .unwrap();
    let b = &b;
    let text = |node: i64, idx: i64| async move {
        b.output(split.id, node, idx, -1)
            .await
            .unwrap()
            .into_iter()
            .map(|(s, t)| format!("{s}:{t}"))
            .collect::<String>()
    };
    assert_eq!(text(0, 0).await, "0:node zero\n");
    assert_eq!(text(1, 0).await, "0:node one\n1:more\n");
    assert_eq!(text(1, 1).await, "");
    assert_eq!(b.output_bytes(split.id, 0, 0).await.unwrap(), 10);
    assert_eq!(b.output_bytes(split.id, 1, 0).await.unwrap(), 14);
    assert_eq!(b.next_output_seq(split.id, 0, 0).await.unwrap(), 1);
    assert_eq!(b.next_output_seq(split.id, 1, 0).await.unwrap(), 2);
    assert_eq!(b.next_output_seq(split.id, 1, 1).await.unwrap(), 1);
    assert_eq!(
        b.output_chunk(split.id, 1, 0, 0).await.unwrap().as_deref(),
        Some("node one\n")
    );
    assert_eq!(b.output_chunk(split.id, 0, 0, 1).await.unwrap(), None);
    b.replace_output_chunk(split.id, 1, 0, 0, "node ****\n")
        .await
        .unwrap();
    assert_eq!(text(1, 0).await, "0:node ****\n1:more\n");
    assert_eq!(
        text(0, 0).await,
        "0:node zero\n",
        "the other node's chunk is left"
    );

    // Test results say which node ran them.
    let test = |name: &str, node_index: i64| circlet_store::TestRecord {
        classname: "suite".into(),
        name: name.into(),
        file: None,
        result: "success".into(),
        message: None,
        run_time: 0.5,
        node_index,
    };
    let results = [test("a", 0), test("b", 1), test("c", 1)];
    b.add_tests(split.id, &results[..1]).await.unwrap();
    b.add_tests(split.id, &results[1..]).await.unwrap();
    assert_eq!(b.tests(split.id).await.unwrap(), results);
}

// ---------------------------------------------------------------------------------------------
// Copying

/// A parallel job's nodes, their steps, output and tests, copied into the other backend,
/// read back the same, and the node still running there goes on.
async fn copy_keeps_a_parallel_job(from: BackendKind, to: BackendKind) {
    let (from_db, to_db) = (TestDb::new(from).await, TestDb::new(to).await);
    let fx = fx(from_db.store().await).await;
    let (r0, r1) = (fx.runners[0], fx.runners[1]);
    let b = fx.store.builds();
    let split = parallel_job(&fx, "split", 3).await;
    for (i, r) in [r0, r1, r0].into_iter().enumerate() {
        let node = i as i64;
        claim_node(&fx.store, r, &split, node).await;
        b.start_step(split.id, node, 0, "Checkout").await.unwrap();
        b.append_output(split.id, node, 0, 0, &format!("node {node}\n"))
            .await
            .unwrap();
        b.finish_step(split.id, node, 0, "success", Some(0))
            .await
            .unwrap();
        b.add_tests(
            split.id,
            &[circlet_store::TestRecord {
                classname: "suite".into(),
                name: format!("test on {node}"),
                file: None,
                result: "success".into(),
                message: None,
                run_time: 1.0,
                node_index: node,
            }],
        )
        .await
        .unwrap();
    }
    b.start_step(split.id, 1, 1, "Tests").await.unwrap();
    b.append_output(split.id, 1, 1, 0, "1 failed\n")
        .await
        .unwrap();
    b.finish_step(split.id, 1, 1, "failed", Some(1))
        .await
        .unwrap();
    assert!(end_node(&fx.store, r0, &split, 0, JobState::Success).await);
    assert!(end_node(&fx.store, r1, &split, 1, JobState::Failed).await);

    async fn read(store: &Store, job_id: i64) -> impl PartialEq + std::fmt::Debug + use<> {
        let b = store.builds();
        let steps = b.steps_of_all_nodes(job_id).await.unwrap();
        let mut outputs = Vec::new();
        for s in &steps {
            outputs.push((
                b.output(job_id, s.node_index, s.idx, -1).await.unwrap(),
                b.output_bytes(job_id, s.node_index, s.idx).await.unwrap(),
                b.next_output_seq(job_id, s.node_index, s.idx)
                    .await
                    .unwrap(),
            ));
        }
        (
            b.job_by_id(job_id).await.unwrap(),
            b.nodes(job_id).await.unwrap(),
            steps,
            outputs,
            b.tests(job_id).await.unwrap(),
        )
    }
    let before = read(&fx.store, split.id).await;
    let target = Store::connect(&to_db.url).await.expect("connect");
    fx.store.copy_into(&target).await.expect("copy");
    assert_eq!(read(&target, split.id).await, before);
    let copied = target.builds().nodes(split.id).await.unwrap();
    assert_eq!(copied.len(), 3);
    assert_eq!(
        target.builds().node_by_uuid(copied[1].uuid).await.unwrap(),
        Some(copied[1].clone())
    );

    // The node still running goes on on the target; the job ends with it.
    assert_eq!(
        target.builds().heartbeat(split.id, 2, r0).await.unwrap(),
        Some(false)
    );
    assert_eq!(target.builds().claim_next(r1, None).await.unwrap(), None);
    assert!(end_node(&target, r0, &split, 2, JobState::Success).await);
    assert_eq!(state(&target, &split).await, JobState::Failed);
    fx.store.close().await;
    target.close().await;
}
