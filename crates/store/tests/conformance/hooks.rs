//! Conformance cases for [`circlet_store::hooks`] and what forges' webhooks add elsewhere:
//! deliveries recorded once per forge's delivery id, settled and pruned; sealed webhook
//! secrets and their rotation; pull requests as last heard of; a pipeline's origin (its pull
//! request, fetch ref, withheld secrets, delivery); projects' build settings; and the
//! workflows "Auto-cancel redundant workflows" cancels.

use super::builds::{job, pipeline, runner};
use super::{assert_whole_second_utc, create_project, create_user, now_s, run};
use circlet_core::build_state::JobState;
use circlet_core::forge::decide::{BuildSettings, KnownPr, PrRef};
use circlet_store::builds::{NewJob, PipelineOrigin};
use circlet_store::hooks::{DeliveryRecord, KEPT_DELIVERIES, NewDelivery, PrUpdate, Recorded};
use circlet_store::{Missing, Project, Store, StoreError, User};
use circlet_testkit::both_backends;
use uuid::Uuid;

both_backends!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    run = run;
    hooks_a_delivery_is_recorded_once_per_project_forge_and_id,
    hooks_settle_and_the_newest_deliveries_come_first,
    hooks_a_project_keeps_only_its_newest_deliveries,
    hooks_secrets_are_set_replaced_and_resealed_only_while_unchanged,
    hooks_pull_requests_are_upserted_and_only_own_open_ones_name_a_branch,
    hooks_redundant_workflows_are_the_unfinished_older_ones_of_the_branch,
    hooks_a_pipeline_keeps_its_origin,
    hooks_build_settings_round_trip,
);

// ---------------------------------------------------------------------------------------------
// Inputs

/// A store's owner and two projects.
async fn projects(store: &Store) -> (User, Project, Project) {
    let owner = create_user(store, "owner").await;
    let p = create_project(store, "gh/acme/widgets", &owner).await;
    let q = create_project(store, "gh/acme/gadgets", &owner).await;
    (owner, p, q)
}

fn delivery<'a>(project_id: i64, forge: &'a str, id: &'a str, body: &'a [u8]) -> NewDelivery<'a> {
    NewDelivery {
        project_id,
        forge,
        delivery: id,
        event: "push",
        body,
        redelivery_of: None,
    }
}

async fn record_new(store: &Store, new: &NewDelivery<'_>) -> DeliveryRecord {
    match store.hooks().record(new).await.expect("record") {
        Recorded::New(r) => r,
        Recorded::Seen(r) => panic!("{} was new, yet seen as {r:?}", new.delivery),
    }
}

fn pr<'a>(
    number: u64,
    head_branch: &'a str,
    head_sha: &'a str,
    fork: bool,
    open: bool,
) -> PrUpdate<'a> {
    PrUpdate {
        number,
        head_branch,
        head_sha,
        fork,
        open,
    }
}

fn known(number: u64, head_sha: &str, open: bool) -> KnownPr {
    KnownPr {
        number,
        head_sha: head_sha.into(),
        open,
    }
}

// ---------------------------------------------------------------------------------------------
// Deliveries

async fn hooks_a_delivery_is_recorded_once_per_project_forge_and_id(store: Store) {
    let (_, p, q) = projects(&store).await;
    let hooks = store.hooks();
    let body = b"{\"ref\":\"refs/heads/main\"}\0\xff";
    let from = now_s();
    let first = record_new(&store, &delivery(p.id, "github", "abc-1", body)).await;
    assert_whole_second_utc("received_at", first.received_at, from, now_s());
    assert_eq!(first.project_id, p.id);
    assert_eq!(
        (
            first.forge.as_str(),
            first.delivery.as_str(),
            first.event.as_str()
        ),
        ("github", "abc-1", "push")
    );
    assert_eq!(first.body, body, "the body is kept byte for byte");
    assert_eq!(
        (first.outcome.as_str(), first.detail.as_str()),
        ("received", "")
    );
    assert_eq!(first.redelivery_of, None);

    // The forge sends it again (its own redelivery): the earlier record, untouched.
    let again = hooks
        .record(&delivery(p.id, "github", "abc-1", b"another body"))
        .await
        .unwrap();
    assert_eq!(again, Recorded::Seen(first.clone()));

    // The same id from another forge, in another project, or differing in case is new.
    let gitea = record_new(&store, &delivery(p.id, "gitea", "abc-1", body)).await;
    let elsewhere = record_new(&store, &delivery(q.id, "github", "abc-1", body)).await;
    let upper = record_new(&store, &delivery(p.id, "github", "ABC-1", body)).await;
    let ids = [first.id, gitea.id, elsewhere.id, upper.id];
    let uuids = [first.uuid, gitea.uuid, elsewhere.uuid, upper.uuid];
    assert_eq!(
        ids.iter().collect::<std::collections::BTreeSet<_>>().len(),
        4
    );
    assert_eq!(
        uuids
            .iter()
            .collect::<std::collections::BTreeSet<_>>()
            .len(),
        4
    );
    assert!(first.id < gitea.id && gitea.id < elsewhere.id && elsewhere.id < upper.id);

    // "Redeliver" records a new delivery naming the one it redelivers.
    let mut redelivery = delivery(p.id, "github", "redeliver-1", body);
    redelivery.redelivery_of = Some(first.id);
    let redelivered = record_new(&store, &redelivery).await;
    assert_eq!(redelivered.redelivery_of, Some(first.id));
    assert_eq!(
        hooks.delivery(p.id, redelivered.uuid).await.unwrap(),
        Some(redelivered)
    );

    // Seen again after others arrived: still the first record.
    let seen = hooks
        .record(&delivery(p.id, "github", "abc-1", body))
        .await
        .unwrap();
    assert_eq!(seen, Recorded::Seen(first));
    assert_eq!(hooks.deliveries(p.id, 100).await.unwrap().len(), 4);
    assert_eq!(hooks.deliveries(q.id, 100).await.unwrap(), [elsewhere]);
}

async fn hooks_settle_and_the_newest_deliveries_come_first(store: Store) {
    let (_, p, q) = projects(&store).await;
    let hooks = store.hooks();
    let a = record_new(&store, &delivery(p.id, "github", "a", b"a")).await;
    let b = record_new(&store, &delivery(p.id, "github", "b", b"b")).await;
    let c = record_new(&store, &delivery(p.id, "gitlab", "c", b"c")).await;

    hooks.settle(a.id, "built", "pipeline 1").await.unwrap();
    hooks
        .settle(b.id, "skipped", "[ci skip] in the commit message")
        .await
        .unwrap();
    let listed = hooks.deliveries(p.id, 10).await.unwrap();
    let names: Vec<&str> = listed.iter().map(|d| d.delivery.as_str()).collect();
    assert_eq!(names, ["c", "b", "a"], "newest first");
    let outcomes: Vec<(&str, &str)> = listed
        .iter()
        .map(|d| (d.outcome.as_str(), d.detail.as_str()))
        .collect();
    assert_eq!(
        outcomes,
        [
            ("received", ""),
            ("skipped", "[ci skip] in the commit message"),
            ("built", "pipeline 1"),
        ]
    );
    // Settling changes the outcome and detail only.
    let settled_a = &listed[2];
    assert_eq!(
        (
            settled_a.id,
            settled_a.uuid,
            settled_a.received_at,
            &settled_a.body
        ),
        (a.id, a.uuid, a.received_at, &a.body)
    );
    // Settled again (a handling that failed after all): the last word stands.
    hooks
        .settle(a.id, "failed", "the forge did not answer")
        .await
        .unwrap();
    let a_now = hooks.delivery(p.id, a.uuid).await.unwrap().expect("found");
    assert_eq!(
        (a_now.outcome.as_str(), a_now.detail.as_str()),
        ("failed", "the forge did not answer")
    );
    // Outcomes are one of four.
    assert!(hooks.settle(c.id, "exploded", "").await.is_err());
    assert_eq!(
        hooks.delivery(p.id, c.uuid).await.unwrap().unwrap().outcome,
        "received"
    );

    let limited = hooks.deliveries(p.id, 2).await.unwrap();
    assert_eq!(
        limited.iter().map(|d| d.id).collect::<Vec<_>>(),
        [c.id, b.id]
    );
    // Found by uuid in its own project only.
    assert_eq!(
        hooks.delivery(p.id, b.uuid).await.unwrap().map(|d| d.id),
        Some(b.id)
    );
    assert_eq!(hooks.delivery(q.id, b.uuid).await.unwrap(), None);
    assert_eq!(hooks.delivery(p.id, Uuid::new_v4()).await.unwrap(), None);
    assert!(hooks.deliveries(q.id, 10).await.unwrap().is_empty());
}

async fn hooks_a_project_keeps_only_its_newest_deliveries(store: Store) {
    let (_, p, q) = projects(&store).await;
    let hooks = store.hooks();
    let mut theirs = Vec::new();
    for i in 0..3 {
        let id = format!("q-{i}");
        theirs.push(record_new(&store, &delivery(q.id, "github", &id, b"q")).await);
    }
    theirs.reverse();

    let total = KEPT_DELIVERIES + 5;
    let mut ours: Vec<DeliveryRecord> = Vec::new();
    for i in 0..total {
        let id = format!("d-{i:03}");
        let mut new = delivery(p.id, "github", &id, b"p");
        // The sixth redelivers the first: it outlives what it names.
        if i == 5 {
            new.redelivery_of = Some(ours[0].id);
        }
        let made = record_new(&store, &new).await;
        // Handled: only a handled delivery may be pruned.
        hooks.settle(made.id, "built", "").await.unwrap();
        ours.push(made);
    }

    let kept = hooks.deliveries(p.id, 1000).await.unwrap();
    assert_eq!(kept.len() as i64, KEPT_DELIVERIES);
    let expected: Vec<String> = (5..total).rev().map(|i| format!("d-{i:03}")).collect();
    let names: Vec<String> = kept.iter().map(|d| d.delivery.clone()).collect();
    assert_eq!(names, expected, "the newest are kept, newest first");
    for gone in &ours[..5] {
        assert_eq!(
            hooks.delivery(p.id, gone.uuid).await.unwrap(),
            None,
            "{} is gone",
            gone.delivery
        );
    }
    let redelivery = hooks
        .delivery(p.id, ours[5].uuid)
        .await
        .unwrap()
        .expect("kept");
    assert_eq!(
        redelivery.redelivery_of, None,
        "the delivery it redelivered was pruned"
    );
    assert_eq!(
        hooks.deliveries(q.id, 1000).await.unwrap(),
        theirs,
        "another project's deliveries are untouched"
    );
    // One still being handled outlives the window: its pipeline is about to name it.
    let busy = record_new(&store, &delivery(p.id, "github", "busy", b"p")).await;
    for i in 0..KEPT_DELIVERIES {
        let later = record_new(&store, &delivery(p.id, "github", &format!("z-{i}"), b"p")).await;
        hooks.settle(later.id, "skipped", "").await.unwrap();
    }
    let now_kept = hooks.deliveries(p.id, 1000).await.unwrap();
    assert!(
        now_kept.iter().any(|d| d.id == busy.id),
        "a delivery being handled was pruned"
    );
    assert_eq!(now_kept.len() as i64, KEPT_DELIVERIES + 1);
    hooks.settle(busy.id, "built", "").await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// Secrets

async fn hooks_secrets_are_set_replaced_and_resealed_only_while_unchanged(store: Store) {
    let (owner, p, q) = projects(&store).await;
    let r = create_project(&store, "gh/acme/gizmos", &owner).await;
    let hooks = store.hooks();
    assert_eq!(hooks.secret(p.id).await.unwrap(), None);
    assert!(
        hooks
            .secrets_sealed_by_other_keys("k1", 10)
            .await
            .unwrap()
            .is_empty()
    );

    let from = now_s();
    hooks
        .set_secret(p.id, "k1", b"\0sealed-1\xff")
        .await
        .unwrap();
    let first = hooks.secret(p.id).await.unwrap().expect("set");
    assert_eq!(
        (first.key_id.as_str(), first.sealed.as_slice()),
        ("k1", &b"\0sealed-1\xff"[..])
    );
    assert_whole_second_utc("created_at", first.created_at, from, now_s());
    assert_eq!(hooks.secret(q.id).await.unwrap(), None, "per project");

    hooks.set_secret(p.id, "k2", b"sealed-2").await.unwrap();
    let replaced = hooks.secret(p.id).await.unwrap().expect("set");
    assert_eq!(
        (replaced.key_id.as_str(), replaced.sealed.as_slice()),
        ("k2", &b"sealed-2"[..])
    );

    hooks.set_secret(q.id, "k1", b"q-old").await.unwrap();
    hooks.set_secret(r.id, "k0", b"r-old").await.unwrap();
    let stale = hooks.secrets_sealed_by_other_keys("k2", 10).await.unwrap();
    let listed: Vec<(i64, &str, &[u8])> = stale
        .iter()
        .map(|(id, s)| (*id, s.key_id.as_str(), s.sealed.as_slice()))
        .collect();
    assert_eq!(
        listed,
        [(q.id, "k1", &b"q-old"[..]), (r.id, "k0", &b"r-old"[..])],
        "by project, the current key's aside"
    );
    let one = hooks.secrets_sealed_by_other_keys("k2", 1).await.unwrap();
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].0, q.id);

    let (_, q_old) = stale[0].clone();
    assert!(
        hooks
            .reseal_secret(q.id, &q_old, "k2", b"q-new")
            .await
            .unwrap()
    );
    let q_now = hooks.secret(q.id).await.unwrap().expect("set");
    assert_eq!(
        (q_now.key_id.as_str(), q_now.sealed.as_slice()),
        ("k2", &b"q-new"[..])
    );
    assert_eq!(
        q_now.created_at, q_old.created_at,
        "resealing keeps its age"
    );
    // The old value no longer matches: a second rotation (or a reseal racing a new secret)
    // changes nothing.
    assert!(
        !hooks
            .reseal_secret(q.id, &q_old, "k3", b"q-newer")
            .await
            .unwrap()
    );
    assert_eq!(hooks.secret(q.id).await.unwrap(), Some(q_now));
    // Another project's secret under the same old value is not touched by the wrong id.
    let (_, r_old) = stale[1].clone();
    assert!(
        !hooks
            .reseal_secret(p.id, &r_old, "k2", b"wrong")
            .await
            .unwrap()
    );
    assert_eq!(hooks.secret(p.id).await.unwrap(), Some(replaced));
    // A secret replaced after it was read is not resealed over.
    hooks.set_secret(r.id, "k0", b"r-newer").await.unwrap();
    assert!(
        !hooks
            .reseal_secret(r.id, &r_old, "k2", b"r-resealed")
            .await
            .unwrap()
    );
    assert_eq!(
        hooks.secret(r.id).await.unwrap().unwrap().sealed,
        b"r-newer"
    );
    let left = hooks.secrets_sealed_by_other_keys("k2", 10).await.unwrap();
    assert_eq!(left.iter().map(|(id, _)| *id).collect::<Vec<_>>(), [r.id]);
}

// ---------------------------------------------------------------------------------------------
// Pull requests

async fn hooks_pull_requests_are_upserted_and_only_own_open_ones_name_a_branch(store: Store) {
    let (_, p, q) = projects(&store).await;
    let hooks = store.hooks();
    assert_eq!(hooks.pull_request(p.id, 7).await.unwrap(), None);
    assert_eq!(
        hooks.open_pull_request_of(p.id, "feature").await.unwrap(),
        None
    );

    hooks
        .note_pull_request(p.id, &pr(7, "feature", "sha-1", false, true))
        .await
        .unwrap();
    assert_eq!(
        hooks.pull_request(p.id, 7).await.unwrap(),
        Some(known(7, "sha-1", true))
    );
    assert_eq!(
        hooks.open_pull_request_of(p.id, "feature").await.unwrap(),
        Some(known(7, "sha-1", true))
    );
    assert_eq!(
        hooks.pull_request(q.id, 7).await.unwrap(),
        None,
        "per project"
    );
    assert_eq!(
        hooks.open_pull_request_of(q.id, "feature").await.unwrap(),
        None
    );
    assert_eq!(
        hooks.open_pull_request_of(p.id, "Feature").await.unwrap(),
        None,
        "branches are compared exactly"
    );

    // A new head commit.
    hooks
        .note_pull_request(p.id, &pr(7, "feature", "sha-2", false, true))
        .await
        .unwrap();
    assert_eq!(
        hooks.pull_request(p.id, 7).await.unwrap(),
        Some(known(7, "sha-2", true))
    );

    // A fork's pull request whose head branch has the same name (higher number, so it would
    // come first) names nothing of the project's own branch.
    hooks
        .note_pull_request(p.id, &pr(9, "feature", "fork-sha", true, true))
        .await
        .unwrap();
    assert_eq!(
        hooks.pull_request(p.id, 9).await.unwrap(),
        Some(known(9, "fork-sha", true))
    );
    assert_eq!(
        hooks.open_pull_request_of(p.id, "feature").await.unwrap(),
        Some(known(7, "sha-2", true))
    );
    hooks
        .note_pull_request(p.id, &pr(8, "patch-1", "fork-2", true, true))
        .await
        .unwrap();
    assert_eq!(
        hooks.open_pull_request_of(p.id, "patch-1").await.unwrap(),
        None
    );

    // Closed: still known, no longer open.
    hooks
        .note_pull_request(p.id, &pr(7, "feature", "sha-2", false, false))
        .await
        .unwrap();
    assert_eq!(
        hooks.pull_request(p.id, 7).await.unwrap(),
        Some(known(7, "sha-2", false))
    );
    assert_eq!(
        hooks.open_pull_request_of(p.id, "feature").await.unwrap(),
        None
    );

    // Reopened from another branch: the upsert moves it.
    hooks
        .note_pull_request(p.id, &pr(7, "renamed", "sha-3", false, true))
        .await
        .unwrap();
    assert_eq!(
        hooks.open_pull_request_of(p.id, "feature").await.unwrap(),
        None
    );
    assert_eq!(
        hooks.open_pull_request_of(p.id, "renamed").await.unwrap(),
        Some(known(7, "sha-3", true))
    );
    // Another project's pull request of the same number and branch is its own.
    hooks
        .note_pull_request(q.id, &pr(7, "feature", "q-sha", false, true))
        .await
        .unwrap();
    assert_eq!(
        hooks.open_pull_request_of(q.id, "feature").await.unwrap(),
        Some(known(7, "q-sha", true))
    );
    assert_eq!(
        hooks.pull_request(p.id, 7).await.unwrap(),
        Some(known(7, "sha-3", true))
    );
}

// ---------------------------------------------------------------------------------------------
// Auto-cancel

/// Creates a pipeline of `workflows` (each a list of jobs) and returns each workflow's id
/// with its jobs' ids.
async fn create(
    store: &Store,
    project_id: i64,
    branch: &str,
    trigger_type: &str,
    workflows: Vec<Vec<NewJob>>,
) -> (i64, Vec<(i64, Vec<i64>)>) {
    let mut new = pipeline(
        project_id,
        branch,
        workflows.into_iter().map(|jobs| ("wf", jobs)).collect(),
    );
    new.trigger_type = trigger_type.into();
    let (record, jobs) = store.builds().create_pipeline(&new).await.unwrap();
    let mut by_workflow: Vec<(i64, Vec<i64>)> = Vec::new();
    for j in jobs {
        match by_workflow.last_mut() {
            Some((w, ids)) if *w == j.workflow_id => ids.push(j.id),
            _ => by_workflow.push((j.workflow_id, vec![j.id])),
        }
    }
    (record.id, by_workflow)
}

/// Claims the oldest queued job, which must be `job_id`.
async fn claim(store: &Store, runner_id: i64, job_id: i64) {
    let (got, _) = store
        .builds()
        .claim_next(runner_id, None)
        .await
        .unwrap()
        .expect("a queued job");
    assert_eq!(got.id, job_id);
}

async fn hooks_redundant_workflows_are_the_unfinished_older_ones_of_the_branch(store: Store) {
    let (owner, p, q) = projects(&store).await;
    let runner_id = runner(&store, owner.id, 0).await;
    let builds = store.builds();
    let one = || vec![vec![job("build", &[])]];
    let approval = || {
        vec![vec![NewJob {
            approval: true,
            ..job("hold", &[])
        }]]
    };

    // Finished: its one job succeeded.
    let (_, finished) = create(&store, p.id, "feature", "webhook", one()).await;
    claim(&store, runner_id, finished[0].1[0]).await;
    assert!(
        builds
            .finish(finished[0].1[0], JobState::Success)
            .await
            .unwrap()
    );
    // Running.
    let (_, running) = create(&store, p.id, "feature", "webhook", one()).await;
    claim(&store, runner_id, running[0].1[0]).await;
    // Queued with a blocked job after it, beside a canceled workflow and one whose only job
    // was canceled by itself (the workflow has finished).
    let (_, mixed) = create(
        &store,
        p.id,
        "feature",
        "api",
        vec![
            vec![job("a", &[]), job("b", &["a"])],
            vec![job("c", &[])],
            vec![job("d", &[])],
        ],
    )
    .await;
    builds.cancel_workflow(mixed[1].0).await.unwrap();
    assert!(builds.request_cancel(mixed[2].1[0]).await.unwrap());
    // Waiting for an approval.
    let (held_pipeline, held) = create(&store, p.id, "feature", "webhook", approval()).await;
    // Scheduled pipelines are never auto-canceled.
    create(&store, p.id, "feature", "scheduled_pipeline", one()).await;
    // Other branches, and the same branch of another project.
    create(&store, p.id, "main", "webhook", one()).await;
    create(&store, p.id, "feature-2", "webhook", one()).await;
    create(&store, p.id, "Feature", "webhook", one()).await;
    create(&store, q.id, "feature", "webhook", one()).await;
    // The new pipeline, and one newer still.
    let (newest, own) = create(&store, p.id, "feature", "webhook", one()).await;
    create(&store, p.id, "feature", "webhook", one()).await;

    let mut expected = vec![running[0].0, mixed[0].0, held[0].0];
    expected.sort_unstable();
    let found = builds
        .redundant_workflows(p.id, "feature", newest)
        .await
        .unwrap();
    assert_eq!(found, expected);
    assert!(!found.contains(&own[0].0), "not the new pipeline's own");

    // Once canceled, a workflow is not listed again.
    builds.cancel_workflow(mixed[0].0).await.unwrap();
    let found = builds
        .redundant_workflows(p.id, "feature", newest)
        .await
        .unwrap();
    assert_eq!(found, [running[0].0, held[0].0]);
    // Older than an earlier pipeline: only what came before it.
    let found = builds
        .redundant_workflows(p.id, "feature", held_pipeline)
        .await
        .unwrap();
    assert_eq!(found, [running[0].0]);
    assert!(
        builds
            .redundant_workflows(p.id, "nowhere", newest)
            .await
            .unwrap()
            .is_empty()
    );
}

// ---------------------------------------------------------------------------------------------
// A pipeline's origin

async fn hooks_a_pipeline_keeps_its_origin(store: Store) {
    let (_, p, _) = projects(&store).await;
    let d = record_new(&store, &delivery(p.id, "github", "pr-42", b"{}")).await;
    let pull = PrRef {
        number: 42,
        url: "https://github.com/acme/widgets/pull/42".into(),
        head_repo: "someone/widgets".into(),
        author: "someone".into(),
        fork: true,
    };
    let mut new = pipeline(p.id, "pull/42", vec![("wf", vec![job("build", &[])])]);
    new.trigger_type = "webhook".into();
    new.origin = PipelineOrigin {
        pull_request: Some(pull.clone()),
        fetch_ref: Some("refs/pull/42/head".into()),
        secrets_withheld: true,
        delivery_id: Some(d.id),
    };
    let (created, _) = store.builds().create_pipeline(&new).await.unwrap();
    let stored = store
        .builds()
        .pipeline_by_id(created.id)
        .await
        .unwrap()
        .expect("stored");
    assert_eq!(stored, created);
    assert_eq!(stored.pr_number, Some(42));
    assert_eq!(stored.pr_url.as_deref(), Some(pull.url.as_str()));
    assert_eq!(stored.pr_head_repo.as_deref(), Some("someone/widgets"));
    assert_eq!(stored.pr_author.as_deref(), Some("someone"));
    assert!(stored.pr_fork);
    assert_eq!(stored.pull_request(), Some(pull.clone()));
    assert_eq!(stored.fetch_ref.as_deref(), Some("refs/pull/42/head"));
    assert!(stored.secrets_withheld);
    assert_eq!(stored.delivery_id, Some(d.id));
    let by_uuid = store
        .builds()
        .pipeline_by_uuid(created.uuid)
        .await
        .unwrap()
        .expect("stored");
    assert_eq!(by_uuid, stored);

    // Not from a fork, secrets passed, no fetch ref.
    let own_pr = PrRef {
        number: 43,
        fork: false,
        head_repo: "acme/widgets".into(),
        ..pull
    };
    let mut new = pipeline(p.id, "feature", vec![("wf", vec![job("build", &[])])]);
    new.origin = PipelineOrigin {
        pull_request: Some(own_pr.clone()),
        ..PipelineOrigin::default()
    };
    let (own, _) = store.builds().create_pipeline(&new).await.unwrap();
    let own = store
        .builds()
        .pipeline_by_id(own.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(own.pull_request(), Some(own_pr));
    assert!(!own.pr_fork && !own.secrets_withheld);
    assert_eq!((own.fetch_ref, own.delivery_id), (None, None));

    // Without an origin: nothing of it.
    let (plain, _) = store
        .builds()
        .create_pipeline(&pipeline(
            p.id,
            "main",
            vec![("wf", vec![job("build", &[])])],
        ))
        .await
        .unwrap();
    let plain = store
        .builds()
        .pipeline_by_id(plain.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(plain.pull_request(), None);
    assert_eq!(
        (
            plain.pr_number,
            plain.pr_url.as_deref(),
            plain.pr_head_repo.as_deref(),
            plain.pr_author.as_deref(),
            plain.pr_fork,
            plain.fetch_ref.as_deref(),
            plain.secrets_withheld,
            plain.delivery_id,
        ),
        (None, None, None, None, false, None, false, None)
    );

    // The delivery pruned away once handled, the pipeline stays and forgets it.
    store
        .hooks()
        .settle(d.id, "built", "pipeline 1")
        .await
        .unwrap();
    for i in 0..KEPT_DELIVERIES {
        let id = format!("later-{i}");
        record_new(&store, &delivery(p.id, "github", &id, b"{}")).await;
    }
    assert_eq!(store.hooks().delivery(p.id, d.uuid).await.unwrap(), None);
    let after = store
        .builds()
        .pipeline_by_id(created.id)
        .await
        .unwrap()
        .expect("the pipeline outlives its delivery");
    assert_eq!(after.delivery_id, None);
    assert_eq!(after.pull_request(), stored.pull_request());
}

// ---------------------------------------------------------------------------------------------
// Build settings

async fn hooks_build_settings_round_trip(store: Store) {
    let (_, p, q) = projects(&store).await;
    assert_eq!(p.builds, BuildSettings::default(), "all off at first");
    let projects = store.projects();
    for settings in [
        BuildSettings {
            build_prs_only: true,
            autocancel_builds: false,
            build_fork_prs: true,
            forks_receive_secrets: false,
        },
        BuildSettings {
            build_prs_only: false,
            autocancel_builds: true,
            build_fork_prs: false,
            forks_receive_secrets: true,
        },
        BuildSettings::default(),
    ] {
        projects.set_build_settings(p.id, settings).await.unwrap();
        let by_id = projects.by_id(p.id).await.unwrap().expect("found");
        assert_eq!(by_id.builds, settings);
        let by_slug = projects.by_slug(&p.slug).await.unwrap().expect("found");
        assert_eq!(by_slug.builds, settings);
        // Only the build settings change.
        assert_eq!(
            Project {
                builds: p.builds,
                ..by_id
            },
            p
        );
        assert_eq!(
            projects.by_id(q.id).await.unwrap().unwrap().builds,
            BuildSettings::default(),
            "another project's settings stay"
        );
    }
    projects
        .set_build_settings(
            q.id,
            BuildSettings {
                forks_receive_secrets: true,
                ..BuildSettings::default()
            },
        )
        .await
        .unwrap();
    let listed: Vec<(i64, BuildSettings)> = projects
        .list_all()
        .await
        .unwrap()
        .into_iter()
        .map(|p| (p.id, p.builds))
        .collect();
    assert!(listed.contains(&(
        q.id,
        BuildSettings {
            forks_receive_secrets: true,
            ..BuildSettings::default()
        }
    )));
    let err = projects
        .set_build_settings(q.id + 1000, BuildSettings::default())
        .await;
    assert!(
        matches!(err, Err(StoreError::NotFound(Missing::Project))),
        "got {err:?}"
    );
}
