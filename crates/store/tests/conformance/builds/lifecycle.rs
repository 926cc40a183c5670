//! Cancelling, reaping, restarting and retrying.

use super::*;

both_backends!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    run = run;
    builds_request_cancel_ends_waiting_jobs_and_flags_running_ones,
    builds_cancel_workflow_ends_everything_not_yet_running,
    builds_reap_stale_ends_silent_jobs_and_settles_their_workflow,
    builds_retry_adds_a_queued_job_with_a_new_number,
    builds_rerun_workflow_keeps_results_and_releases_what_they_satisfy,
);

/// The cases that reopen the database, so take the [`TestDb`] itself.
mod reopened {
    use super::*;

    both_backends!(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        run = run_with_db;
        builds_queued_jobs_survive_a_restart,
    );
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
    assert_millisecond_utc("canceled stopped_at", q.stopped_at.unwrap(), from, now_s());
    assert!(!q.cancel_requested);
    assert_eq!(state(&fx.store, blocked).await, JobState::NotRun);

    // Running: only flagged; its runner learns at the next heartbeat and ends it.
    assert!(b.request_cancel(running.id).await.unwrap());
    let run = reload(&fx.store, running).await;
    assert_eq!((run.state, run.cancel_requested), (JobState::Running, true));
    assert_eq!(b.heartbeat(running.id, 0, r).await.unwrap(), Some(true));
    assert!(
        b.finish_node(running.id, 0, NodeEnd::by(r, JobState::Canceled))
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
        b.finish_node(jobs[1].id, 0, NodeEnd::by(r, JobState::Success))
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
        b.finish_node(jobs[0].id, 0, NodeEnd::by(r, JobState::Success))
            .await
            .unwrap()
    );
    assert_eq!(state(&fx.store, &jobs[3]).await, JobState::NotRun);
    let (next, _) = b.claim_next(r, None).await.unwrap().unwrap();
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
    let (_, node) = claim(&fx.store, r, &jobs[0]).await;
    let hb = node.heartbeat_at;
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
    assert_millisecond_utc("reaped stopped_at", a.stopped_at.unwrap(), from, now_s());
    assert_eq!(state(&fx.store, &jobs[1]).await, JobState::NotRun);
    assert_eq!(state(&fx.store, &jobs[2]).await, JobState::NotRun);
    assert_eq!(
        state(&fx.store, &queued).await,
        JobState::Queued,
        "only running jobs are reaped"
    );
    assert_eq!(
        b.heartbeat(a.id, 0, r).await.unwrap(),
        None,
        "the runner lost it"
    );
    assert!(
        !b.finish_node(a.id, 0, NodeEnd::by(r, JobState::Success))
            .await
            .unwrap(),
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
    let (a, _) = store
        .builds()
        .claim_next(r, None)
        .await
        .unwrap()
        .expect("still queued");
    assert_eq!(a.id, jobs[0].id);
    assert!(
        store
            .builds()
            .finish_node(a.id, 0, NodeEnd::by(r, JobState::Success))
            .await
            .unwrap()
    );
    store.close().await;

    let store = db.store().await;
    let (b, _) = store
        .builds()
        .claim_next(r, None)
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
    let (a, _) = claim(&fx.store, r, &jobs[0]).await;

    let err = b.retry(&a).await.unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict(_)),
        "a running job is not retried: {err:?}"
    );
    assert!(
        b.finish_node(a.id, 0, NodeEnd::by(r, JobState::Failed))
            .await
            .unwrap()
    );
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
    assert_eq!((again.started_at, again.stopped_at), (None, None));
    assert!(
        b.nodes(again.id).await.unwrap().is_empty(),
        "no node claimed yet"
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

async fn builds_rerun_workflow_keeps_results_and_releases_what_they_satisfy(store: Store) {
    use circlet_store::builds::RerunJob;
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
    claim(&fx.store, r, &jobs[0]).await;
    assert!(
        b.finish_node(jobs[0].id, 0, NodeEnd::by(r, JobState::Success))
            .await
            .unwrap()
    );
    claim(&fx.store, r, &jobs[1]).await;
    assert!(
        b.finish_node(jobs[1].id, 0, NodeEnd::by(r, JobState::Failed))
            .await
            .unwrap()
    );
    assert_eq!(state(&fx.store, &jobs[2]).await, JobState::NotRun);
    let a = reload(&fx.store, &jobs[0]).await;
    let step = |i: usize, keep: bool| RerunJob {
        definition: jobs[i].id,
        previous: jobs[i].id,
        keep,
    };
    let (w, new) = b
        .rerun_workflow(
            jobs[0].workflow_id,
            &[step(0, true), step(1, false), step(2, false)],
        )
        .await
        .unwrap();
    assert_ne!(w.id, jobs[0].workflow_id);
    assert_eq!(
        (w.name.as_str(), w.pipeline_id, w.canceled),
        ("wf", jobs[0].pipeline_id, false)
    );
    let got: Vec<_> = new
        .iter()
        .map(|j| {
            (
                j.name.as_str(),
                j.state,
                j.build_num,
                j.kept_from,
                j.retry_of,
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("a", JobState::Success, 4, Some(1), None),
            ("b", JobState::Queued, 5, None, Some(2)),
            ("c", JobState::Blocked, 6, None, Some(3)),
        ],
        "a keeps its result, b is released by it at once, c waits for b"
    );
    assert_eq!(
        (new[0].started_at, new[0].stopped_at),
        (a.started_at, a.stopped_at)
    );
    assert_eq!(new[1].requires, ["a"]);
    assert!(
        new.iter()
            .all(|j| j.workflow_id == w.id && j.pipeline_id == jobs[0].pipeline_id)
    );
    // The old workflow is as it was; the queue hands out the rerun b, and then c.
    assert_eq!(state(&fx.store, &jobs[1]).await, JobState::Failed);
    claim(&fx.store, r, &new[1]).await;
    assert!(
        b.finish_node(new[1].id, 0, NodeEnd::by(r, JobState::Success))
            .await
            .unwrap()
    );
    assert_eq!(state(&fx.store, &new[2]).await, JobState::Queued);
    // The next new job takes the next number; an unknown workflow is not found.
    assert_eq!(one_job(&fx.store, fx.project.id, "main").await.build_num, 7);
    let err = b
        .rerun_workflow(w.id + 1000, &[step(0, false)])
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "got {err:?}");
}
