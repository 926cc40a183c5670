//! Reading across pipelines: several projects' pipelines (and one starter's), a window's
//! workflow runs with their jobs, and test results with the job and commit they came from.

use super::*;
use circlet_store::job_results::TestRecord;

both_backends!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    run = run;
    builds_pipelines_of_projects_pages_newest_first_and_by_starter,
    builds_workflow_runs_of_a_window_carry_their_jobs_and_branch,
    builds_test_runs_name_their_job_and_commit,
);

async fn builds_pipelines_of_projects_pages_newest_first_and_by_starter(store: Store) {
    let fx = fx(store).await;
    let b = fx.store.builds();
    let starter = create_user(&fx.store, "starter").await;
    let mut mine = pipeline(fx.project.id, "main", vec![("wf", vec![job("a", &[])])]);
    mine.actor_id = Some(starter.id);
    create(
        &fx.store,
        pipeline(fx.project.id, "main", vec![("wf", vec![job("a", &[])])]),
    )
    .await;
    create(&fx.store, mine).await;
    create(
        &fx.store,
        pipeline(fx.other.id, "main", vec![("wf", vec![job("a", &[])])]),
    )
    .await;
    let both = [fx.project.id, fx.other.id];
    let all = b
        .pipelines_of_projects(&both, None, None, 10)
        .await
        .unwrap();
    let projects: Vec<i64> = all.pipelines.iter().map(|p| p.project_id).collect();
    assert_eq!(
        projects,
        [fx.other.id, fx.project.id, fx.project.id],
        "newest first"
    );
    assert_eq!(all.next_before, None);
    let page = b.pipelines_of_projects(&both, None, None, 2).await.unwrap();
    assert_eq!(page.pipelines.len(), 2);
    let rest = b
        .pipelines_of_projects(&both, None, page.next_before, 2)
        .await
        .unwrap();
    assert_eq!(rest.pipelines.len(), 1);
    assert_eq!(rest.pipelines[0].id, all.pipelines[2].id);
    assert_eq!(rest.next_before, None);
    let theirs = b
        .pipelines_of_projects(&both, Some(starter.id), None, 10)
        .await
        .unwrap();
    assert_eq!(theirs.pipelines.len(), 1);
    assert_eq!(theirs.pipelines[0].actor_id, Some(starter.id));
    let one = b
        .pipelines_of_projects(&[fx.other.id], None, None, 10)
        .await
        .unwrap();
    assert_eq!(one.pipelines.len(), 1);
    assert!(
        b.pipelines_of_projects(&[], None, None, 10)
            .await
            .unwrap()
            .pipelines
            .is_empty()
    );
}

async fn builds_workflow_runs_of_a_window_carry_their_jobs_and_branch(store: Store) {
    let fx = fx(store).await;
    let b = fx.store.builds();
    let since = now_s();
    create(
        &fx.store,
        pipeline(
            fx.project.id,
            "main",
            vec![
                ("wf", vec![job("a", &[]), job("b", &["a"])]),
                ("lint", vec![job("l", &[])]),
            ],
        ),
    )
    .await;
    create(
        &fx.store,
        pipeline(fx.project.id, "feature", vec![("wf", vec![job("a", &[])])]),
    )
    .await;
    create(
        &fx.store,
        pipeline(fx.other.id, "main", vec![("wf", vec![job("a", &[])])]),
    )
    .await;
    let runs = b.workflow_runs(fx.project.id, since).await.unwrap();
    let seen: Vec<(&str, Option<&str>, i64, Vec<&str>)> = runs
        .iter()
        .map(|r| {
            (
                r.workflow.name.as_str(),
                r.branch.as_deref(),
                r.pipeline_number,
                r.jobs.iter().map(|j| j.name.as_str()).collect(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("wf", Some("main"), 1, vec!["a", "b"]),
            ("lint", Some("main"), 1, vec!["l"]),
            ("wf", Some("feature"), 2, vec!["a"]),
        ]
    );
    let later = b
        .workflow_runs(fx.project.id, since + Duration::days(1))
        .await
        .unwrap();
    assert!(later.is_empty(), "nothing made after the window's start");
}

async fn builds_test_runs_name_their_job_and_commit(store: Store) {
    let fx = fx(store).await;
    let b = fx.store.builds();
    let since = now_s();
    let jobs = create(
        &fx.store,
        pipeline(fx.project.id, "main", vec![("wf", vec![job("unit", &[])])]),
    )
    .await;
    let test = |name: &str, result: &str| TestRecord {
        classname: "suite".into(),
        name: name.into(),
        file: Some("a_test.rs".into()),
        result: result.into(),
        message: None,
        run_time: 0.5,
        node_index: 0,
    };
    b.add_tests(
        jobs[0].id,
        &[test("one", "success"), test("two", "failure")],
    )
    .await
    .unwrap();
    let other = create(
        &fx.store,
        pipeline(fx.other.id, "main", vec![("wf", vec![job("unit", &[])])]),
    )
    .await;
    b.add_tests(other[0].id, &[test("elsewhere", "success")])
        .await
        .unwrap();
    let runs = b.test_runs(fx.project.id, since).await.unwrap();
    assert_eq!(runs.len(), 2, "{runs:?}");
    assert_eq!(runs[0].test, test("one", "success"));
    assert_eq!(
        (runs[1].test.name.as_str(), runs[1].test.result.as_str()),
        ("two", "failure")
    );
    assert_eq!(
        (runs[0].job_name.as_str(), runs[0].build_num),
        ("unit", jobs[0].build_num)
    );
    assert_eq!(runs[0].revision, jobs[0].revision);
    assert_eq!(runs[0].workflow_id, jobs[0].workflow_id);
    assert!(
        b.test_runs(fx.project.id, since + Duration::days(1))
            .await
            .unwrap()
            .is_empty()
    );
}
