//! Reading back: job lists and filters, steps and output, pipelines, workflows, scoping.

use super::*;

both_backends!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    run = run;
    builds_jobs_filters_branch_and_paging,
    builds_latest_finished_is_per_project_and_branch,
    builds_steps_and_output,
    builds_pipelines_listing_paging_and_lookups,
    builds_workflows_and_their_jobs,
    builds_project_scoped_lookups_never_return_another_projects_job,
    builds_timestamps_are_whole_seconds_utc,
    builds_test_counts_per_job_of_a_pipeline,
);

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
    assert!(b.steps(j.id, 0).await.unwrap().is_empty());

    let from = now_s();
    b.start_step(j.id, 0, 0, "Checkout code").await.unwrap();
    b.start_step(j.id, 0, 1, "make test").await.unwrap();
    b.start_step(j.id, 0, 0, "resent start").await.unwrap();
    b.finish_step(j.id, 0, 0, "success", Some(0)).await.unwrap();
    b.finish_step(j.id, 0, 1, "failed", Some(2)).await.unwrap();
    b.start_step(j.id, 0, 2, "upload").await.unwrap();
    let to = now_s();
    let steps = b.steps(j.id, 0).await.unwrap();
    let view: Vec<_> = steps
        .iter()
        .map(|s| {
            (
                s.node_index,
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
            (0, 0, "Checkout code", "success", Some(0), true),
            (0, 1, "make test", "failed", Some(2), true),
            (0, 2, "upload", "running", None, false),
        ]
    );
    for s in &steps {
        assert_millisecond_utc("step started_at", s.started_at, from, to);
        if let Some(t) = s.stopped_at {
            assert_millisecond_utc("step stopped_at", t, from, to);
        }
    }
    let err = b
        .finish_step(j.id, 0, 7, "success", Some(0))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::NotFound(_)),
        "unknown step: {err:?}"
    );
    let err = b.start_step(j.id + 1000, 0, 0, "x").await.unwrap_err();
    assert!(
        matches!(err, StoreError::NotFound(_)),
        "unknown job: {err:?}"
    );

    // Output: ordered by seq whatever the arrival order; a resent chunk changes nothing.
    b.append_output(j.id, 0, 1, 2, "third\n").await.unwrap();
    b.append_output(j.id, 0, 1, 0, "first\n").await.unwrap();
    b.append_output(j.id, 0, 1, 1, "second\n").await.unwrap();
    b.append_output(j.id, 0, 1, 1, "resent, different\n")
        .await
        .unwrap();
    b.append_output(j.id, 0, 0, 0, "cloning\n").await.unwrap();
    b.append_output(other.id, 0, 1, 0, "another job\n")
        .await
        .unwrap();
    let b = &b;
    let out = |idx, after| async move { b.output(j.id, 0, idx, after).await.unwrap() };
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
    // The running total counts each stored chunk's bytes once (the resent one not at all).
    assert_eq!(b.output_bytes(j.id, 0, 1).await.unwrap(), 19);
    assert_eq!(b.output_bytes(j.id, 0, 0).await.unwrap(), 8);
    assert_eq!(
        b.output_bytes(j.id, 0, 9).await.unwrap(),
        0,
        "a step never started"
    );
    let err = b
        .append_output(j.id + 1000, 0, 0, 0, "x")
        .await
        .unwrap_err();
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
        b.finish_node(jobs[0].id, 0, NodeEnd::by(r, JobState::Success))
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
    let node = &b.nodes(j.id).await.unwrap()[0];
    for (what, t) in [
        ("queued_at", Some(j.queued_at)),
        ("started_at", j.started_at),
        ("stopped_at", j.stopped_at),
        ("node.started_at", Some(node.started_at)),
        ("node.stopped_at", node.stopped_at),
        ("node.heartbeat_at", Some(node.heartbeat_at)),
    ] {
        // Starts and ends make durations: milliseconds; the rest whole seconds.
        if what.ends_with("started_at") || what.ends_with("stopped_at") {
            assert_millisecond_utc(what, t.expect(what), from, to);
        } else {
            assert_whole_second_utc(what, t.expect(what), from, to);
        }
    }
    assert!(j.queued_at <= j.started_at.unwrap() && j.started_at <= j.stopped_at);
}

async fn builds_test_counts_per_job_of_a_pipeline(store: Store) {
    use circlet_store::{TestCounts, TestRecord};
    let fx = fx(store).await;
    let b = fx.store.builds();
    let jobs = create(
        &fx.store,
        pipeline(
            fx.project.id,
            "main",
            vec![(
                "wf",
                vec![job("unit", &[]), job("lint", &[]), job("e2e", &[])],
            )],
        ),
    )
    .await;
    let other = one_job(&fx.store, fx.project.id, "main").await;
    let case = |name: &str, result: &str| TestRecord {
        classname: "suite".into(),
        name: name.into(),
        file: None,
        result: result.into(),
        message: None,
        run_time: 0.5,
        node_index: 0,
    };
    let results = ["success", "failure", "error", "skipped", "success"];
    let unit: Vec<_> = results.iter().map(|r| case(r, r)).collect();
    b.add_tests(jobs[0].id, &unit).await.unwrap();
    b.add_tests(jobs[2].id, &[case("ok", "success")])
        .await
        .unwrap();
    // Another pipeline's tests are not counted.
    b.add_tests(other.id, &[case("x", "failure")])
        .await
        .unwrap();
    let counts = b
        .test_counts_of_pipeline(jobs[0].pipeline_id)
        .await
        .unwrap();
    assert_eq!(
        counts,
        vec![
            (
                jobs[0].id,
                TestCounts {
                    total: 5,
                    failed: 2
                }
            ),
            (
                jobs[2].id,
                TestCounts {
                    total: 1,
                    failed: 0
                }
            ),
        ],
        "jobs without tests are left out"
    );
    assert!(b.test_counts_of_pipeline(-1).await.unwrap().is_empty());
}
