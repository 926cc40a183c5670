//! Creating pipelines: numbering, initial states, what is stored.

use super::*;

both_backends!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    run = run;
    builds_numbers_count_per_project_from_one,
    builds_numbers_never_repeat_when_pipelines_are_created_concurrently,
    builds_jobs_without_requires_are_queued_with_requires_blocked,
    builds_errored_pipeline_has_no_workflows_and_uses_no_build_numbers,
    builds_create_pipeline_for_unknown_project_is_not_found,
    builds_names_and_errors_with_any_characters_round_trip,
    builds_reserved_numbers_and_commit_info_are_kept,
);

/// A number reserved before the pipeline exists (the config may use it) is the pipeline's,
/// the next plain creation takes the one after, and the commit info comes back as stored.
async fn builds_reserved_numbers_and_commit_info_are_kept(store: Store) {
    let fx = fx(store).await;
    let builds = fx.store.builds();
    let reserved = builds.reserve_pipeline_number(fx.project.id).await.unwrap();
    assert_eq!(reserved, 1);
    let mut new = pipeline(fx.project.id, "main", vec![("a", vec![job("build", &[])])]);
    new.number = Some(reserved);
    new.commit_json = r#"{"subject":"Fix it"}"#.into();
    let (p, _) = builds.create_pipeline(&new).await.unwrap();
    assert_eq!(p.number, 1);
    assert_eq!(p.commit_info, r#"{"subject":"Fix it"}"#);
    let (next, _) = builds
        .create_pipeline(&pipeline(
            fx.project.id,
            "main",
            vec![("a", vec![job("b", &[])])],
        ))
        .await
        .unwrap();
    assert_eq!(next.number, 2);
    assert_eq!(next.commit_info, "{}");
    assert!(matches!(
        builds.reserve_pipeline_number(i64::MAX).await,
        Err(StoreError::NotFound(_))
    ));
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
        assert_eq!((j.started_at, j.stopped_at), (None, None));
        assert!(
            fx.store.builds().nodes(j.id).await.unwrap().is_empty(),
            "no node claimed"
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
        let (j, _) = claim(&fx.store, fx.runners[0], &created[i]).await;
        assert!(
            fx.store
                .builds()
                .finish_node(j.id, 0, NodeEnd::by(fx.runners[0], JobState::Success))
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
