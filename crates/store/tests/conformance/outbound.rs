//! Conformance cases for [`circlet_store::outbound`]: projects' commit-status targets and
//! outbound webhooks (their secrets sealed, and resealed only while unchanged), and the outbox:
//! messages queued, taken by one sender for an attempt (compare-and-set), settled, logged per
//! webhook or as commit statuses, and pruned beyond [`KEPT_MESSAGES`] except pending ones.
//! Also what `builds::notify` keeps of what was told: which jobs' and workflows' changes are
//! still to be told to a listened-to project, each claimed by compare-and-set so it is told once.

use super::builds::{job, pipeline, runner};
use super::{assert_whole_second_utc, create_project, create_user, now_s, run};
use circlet_core::build_state::JobState;
use circlet_store::builds::{JobRecord, NewJob};
use circlet_store::outbound::{
    KEPT_MESSAGES, MessageRecord, NewMessage, NewWebhook, StatusTargetRecord, WebhookRecord,
};
use circlet_store::{Project, Store, User};
use circlet_testkit::both_backends;
use std::collections::BTreeSet;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

both_backends!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    run = run;
    outbound_a_status_target_is_set_replaced_and_removed,
    outbound_webhooks_are_created_updated_listed_and_deleted_with_their_log,
    outbound_secrets_are_resealed_only_while_unchanged,
    outbound_a_message_is_due_until_taken_and_then_at_its_lease,
    outbound_concurrent_takes_of_a_message_give_it_to_one_sender,
    outbound_settling_delivers_retries_or_gives_up,
    outbound_the_log_is_per_webhook_or_commit_statuses_newest_first,
    outbound_a_project_keeps_its_newest_messages_and_every_pending_one,
    outbound_a_changed_target_drops_only_the_projects_unsent_statuses,
    notify_jobs_to_tell_are_changed_jobs_of_listened_projects,
    notify_workflows_to_tell_have_ended_and_are_told_once,
    notify_mark_told_marks_the_projects_past_not_what_still_runs,
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

fn webhook<'a>(project_id: i64, name: &'a str, sealed: &'a [u8]) -> NewWebhook<'a> {
    NewWebhook {
        project_id,
        name,
        url: "https://hooks.example.com/circlet",
        verify_tls: true,
        events: "workflow-completed,job-completed",
        key_id: "k1",
        sealed,
    }
}

async fn create_webhook(store: &Store, new: &NewWebhook<'_>) -> WebhookRecord {
    store
        .outbound()
        .create_webhook(Uuid::new_v4(), new)
        .await
        .expect("create webhook")
}

/// A commit status of `project_id`.
fn status(project_id: i64, event: &str) -> NewMessage<'_> {
    NewMessage {
        project_id,
        webhook_id: None,
        kind: "status",
        event,
        url: "https://api.github.com/repos/acme/widgets/statuses/0123",
        body: r#"{"state":"success","context":"ci/circlet: build"}"#,
    }
}

/// A webhook event for `hook`.
fn event<'a>(hook: &WebhookRecord, event: &'a str) -> NewMessage<'a> {
    NewMessage {
        project_id: hook.project_id,
        webhook_id: Some(hook.id),
        kind: "webhook",
        event,
        url: "https://hooks.example.com/circlet",
        body: r#"{"type":"job-completed","job":{"name":"ünïcode ✓"}}"#,
    }
}

/// Queues `m` and returns it as stored: the project's newest message.
async fn enqueue(store: &Store, m: &NewMessage<'_>) -> MessageRecord {
    store.outbound().enqueue(m).await.expect("enqueue");
    let newest = store
        .outbound()
        .log(m.project_id, m.webhook_id, 1)
        .await
        .unwrap();
    newest.into_iter().next().expect("queued")
}

/// The message `id` as the log has it.
async fn message(store: &Store, m: &MessageRecord) -> MessageRecord {
    store
        .outbound()
        .log(m.project_id, m.webhook_id, 10_000)
        .await
        .unwrap()
        .into_iter()
        .find(|x| x.id == m.id)
        .expect("still logged")
}

async fn due_ids(store: &Store, at: OffsetDateTime) -> Vec<i64> {
    store
        .outbound()
        .due(at, 1000)
        .await
        .unwrap()
        .iter()
        .map(|m| m.id)
        .collect()
}

fn ids(list: &[MessageRecord]) -> Vec<i64> {
    list.iter().map(|m| m.id).collect()
}

// ---------------------------------------------------------------------------------------------
// Status targets and webhooks

async fn outbound_a_status_target_is_set_replaced_and_removed(store: Store) {
    let (_, p, q) = projects(&store).await;
    let outbound = store.outbound();
    assert_eq!(outbound.status_target(p.id).await.unwrap(), None);

    let from = now_s();
    outbound
        .set_status_target(
            p.id,
            "github",
            "https://api.github.com",
            "",
            "k1",
            b"\0sealed\xff",
        )
        .await
        .unwrap();
    let set = outbound.status_target(p.id).await.unwrap().expect("set");
    assert_whole_second_utc("created_at", set.created_at, from, now_s());
    assert_eq!(
        set,
        StatusTargetRecord {
            project_id: p.id,
            forge: "github".into(),
            api_url: "https://api.github.com".into(),
            repository: String::new(),
            key_id: "k1".into(),
            sealed: b"\0sealed\xff".to_vec(),
            created_at: set.created_at,
        }
    );
    assert_eq!(
        outbound.status_target(q.id).await.unwrap(),
        None,
        "per project"
    );

    outbound
        .set_status_target(
            p.id,
            "gitlab",
            "https://gitlab.example.com/api/v4",
            "acme/widgets-mirror",
            "k2",
            b"other",
        )
        .await
        .unwrap();
    let replaced = outbound.status_target(p.id).await.unwrap().expect("set");
    assert_eq!(
        (
            replaced.forge.as_str(),
            replaced.api_url.as_str(),
            replaced.repository.as_str(),
            replaced.key_id.as_str(),
            replaced.sealed.as_slice(),
        ),
        (
            "gitlab",
            "https://gitlab.example.com/api/v4",
            "acme/widgets-mirror",
            "k2",
            &b"other"[..]
        )
    );
    outbound
        .set_status_target(
            q.id,
            "gitea",
            "https://gitea.example.com/api/v1",
            "",
            "k1",
            b"q",
        )
        .await
        .unwrap();
    // Only the three forges.
    let err = outbound
        .set_status_target(
            q.id,
            "bitbucket",
            "https://api.bitbucket.org",
            "",
            "k1",
            b"q",
        )
        .await;
    assert!(err.is_err(), "an unknown forge is refused");
    assert_eq!(
        outbound.status_target(q.id).await.unwrap().unwrap().forge,
        "gitea"
    );

    assert!(outbound.remove_status_target(p.id).await.unwrap());
    assert!(!outbound.remove_status_target(p.id).await.unwrap());
    assert_eq!(outbound.status_target(p.id).await.unwrap(), None);
    assert!(outbound.status_target(q.id).await.unwrap().is_some());
}

async fn outbound_webhooks_are_created_updated_listed_and_deleted_with_their_log(store: Store) {
    let (_, p, q) = projects(&store).await;
    let outbound = store.outbound();
    assert!(outbound.webhooks(p.id).await.unwrap().is_empty());

    // The caller picks the public id (the sealed secret is bound to it).
    let uuid = Uuid::new_v4();
    let from = now_s();
    let first = outbound
        .create_webhook(uuid, &webhook(p.id, "first", b"\0s1\xff"))
        .await
        .unwrap();
    assert_whole_second_utc("created_at", first.created_at, from, now_s());
    assert_eq!(
        first,
        WebhookRecord {
            id: first.id,
            uuid,
            project_id: p.id,
            name: "first".into(),
            url: "https://hooks.example.com/circlet".into(),
            verify_tls: true,
            events: "workflow-completed,job-completed".into(),
            key_id: "k1".into(),
            sealed: b"\0s1\xff".to_vec(),
            created_at: first.created_at,
            updated_at: first.created_at,
        }
    );
    let second = create_webhook(
        &store,
        &NewWebhook {
            verify_tls: false,
            events: "job-completed",
            ..webhook(p.id, "second", b"s2")
        },
    )
    .await;
    assert!(!second.verify_tls);
    // Names need not be unique.
    let theirs = create_webhook(&store, &webhook(q.id, "first", b"s3")).await;
    assert!(first.id < second.id && second.id < theirs.id);
    assert_eq!(
        [first.uuid, second.uuid, theirs.uuid]
            .iter()
            .collect::<BTreeSet<_>>()
            .len(),
        3
    );
    assert_eq!(
        outbound.webhook(first.uuid).await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(outbound.webhook(Uuid::new_v4()).await.unwrap(), None);
    assert_eq!(
        outbound.webhooks(p.id).await.unwrap(),
        [first.clone(), second.clone()],
        "the project's, oldest first"
    );
    assert_eq!(
        outbound.webhooks(q.id).await.unwrap(),
        std::slice::from_ref(&theirs)
    );
    let taken = outbound
        .create_webhook(uuid, &webhook(q.id, "again", b"s4"))
        .await;
    assert!(taken.is_err(), "a public id is unique: {taken:?}");
    assert_eq!(
        outbound.webhooks(q.id).await.unwrap(),
        std::slice::from_ref(&theirs)
    );

    let new = NewWebhook {
        project_id: p.id,
        name: "renamed",
        url: "http://plain.example.com/",
        verify_tls: false,
        events: "workflow-completed",
        key_id: "k2",
        sealed: b"new",
    };
    let updated = outbound
        .update_webhook(first.id, &new)
        .await
        .unwrap()
        .expect("updated");
    assert!(updated.updated_at >= first.updated_at);
    assert_eq!(
        updated,
        WebhookRecord {
            name: "renamed".into(),
            url: "http://plain.example.com/".into(),
            verify_tls: false,
            events: "workflow-completed".into(),
            key_id: "k2".into(),
            sealed: b"new".to_vec(),
            updated_at: updated.updated_at,
            ..first.clone()
        }
    );
    assert_eq!(
        outbound.webhook(first.uuid).await.unwrap(),
        Some(updated.clone())
    );
    assert_eq!(
        outbound
            .update_webhook(theirs.id + 1000, &new)
            .await
            .unwrap(),
        None
    );

    // Deleting a webhook deletes its messages, and nothing else.
    let mine = enqueue(&store, &event(&updated, "job-completed")).await;
    let kept = enqueue(&store, &event(&second, "job-completed")).await;
    let statuses = enqueue(&store, &status(p.id, "status: ci/circlet: build success")).await;
    let other = enqueue(&store, &event(&theirs, "workflow-completed")).await;
    assert_eq!(
        due_ids(&store, now_s()).await,
        [mine.id, kept.id, statuses.id, other.id]
    );
    assert!(outbound.delete_webhook(first.id).await.unwrap());
    assert!(!outbound.delete_webhook(first.id).await.unwrap());
    assert_eq!(outbound.webhook(first.uuid).await.unwrap(), None);
    assert_eq!(
        outbound.webhooks(p.id).await.unwrap(),
        std::slice::from_ref(&second)
    );
    assert!(
        outbound
            .log(p.id, Some(first.id), 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        due_ids(&store, now_s()).await,
        [kept.id, statuses.id, other.id],
        "its pending messages are not sent"
    );
    assert_eq!(
        ids(&outbound.log(p.id, Some(second.id), 10).await.unwrap()),
        [kept.id]
    );
    assert_eq!(
        ids(&outbound.log(p.id, None, 10).await.unwrap()),
        [statuses.id]
    );
    assert_eq!(
        ids(&outbound.log(q.id, Some(theirs.id), 10).await.unwrap()),
        [other.id]
    );
}

async fn outbound_secrets_are_resealed_only_while_unchanged(store: Store) {
    let (owner, p, q) = projects(&store).await;
    let r = create_project(&store, "gh/acme/gizmos", &owner).await;
    let outbound = store.outbound();
    assert!(
        outbound
            .sealed_by_other_keys("k2", 10)
            .await
            .unwrap()
            .is_empty()
    );

    outbound
        .set_status_target(p.id, "github", "https://api.github.com", "", "k1", b"t-p")
        .await
        .unwrap();
    outbound
        .set_status_target(q.id, "github", "https://api.github.com", "", "k2", b"t-q")
        .await
        .unwrap();
    outbound
        .set_status_target(r.id, "gitea", "https://gitea.example.com", "", "k0", b"t-r")
        .await
        .unwrap();
    let w1 = create_webhook(
        &store,
        &NewWebhook {
            key_id: "k1",
            ..webhook(p.id, "w1", b"w-1")
        },
    )
    .await;
    let w2 = create_webhook(
        &store,
        &NewWebhook {
            key_id: "k2",
            ..webhook(p.id, "w2", b"w-2")
        },
    )
    .await;
    let w3 = create_webhook(
        &store,
        &NewWebhook {
            key_id: "k0",
            ..webhook(q.id, "w3", b"w-3")
        },
    )
    .await;

    let stale: BTreeSet<(String, i64, String, Vec<u8>)> = outbound
        .sealed_by_other_keys("k2", 10)
        .await
        .unwrap()
        .into_iter()
        .collect();
    let row = |tag: String, project: i64, key: &str, sealed: &[u8]| {
        (tag, project, key.to_owned(), sealed.to_vec())
    };
    assert_eq!(
        stale,
        BTreeSet::from([
            row(format!("target:{}", p.id), p.id, "k1", b"t-p"),
            row(format!("target:{}", r.id), r.id, "k0", b"t-r"),
            row(format!("webhook:{}", w1.id), p.id, "k1", b"w-1"),
            row(format!("webhook:{}", w3.id), q.id, "k0", b"w-3"),
        ]),
        "targets and webhooks sealed by other keys, the current key's aside"
    );
    assert_eq!(
        outbound.sealed_by_other_keys("k2", 3).await.unwrap().len(),
        3
    );

    // A target resealed, once.
    let p_tag = format!("target:{}", p.id);
    let before = outbound.status_target(p.id).await.unwrap().unwrap();
    assert!(
        outbound
            .reseal(&p_tag, b"t-p", "k2", b"t-p2")
            .await
            .unwrap()
    );
    let after = outbound.status_target(p.id).await.unwrap().unwrap();
    assert_eq!(
        after,
        StatusTargetRecord {
            key_id: "k2".into(),
            sealed: b"t-p2".to_vec(),
            ..before
        },
        "only the key and the sealed value change"
    );
    assert!(
        !outbound
            .reseal(&p_tag, b"t-p", "k3", b"t-p3")
            .await
            .unwrap()
    );
    assert_eq!(outbound.status_target(p.id).await.unwrap(), Some(after));

    // A webhook resealed, once.
    let w1_tag = format!("webhook:{}", w1.id);
    assert!(
        outbound
            .reseal(&w1_tag, b"w-1", "k2", b"w-1b")
            .await
            .unwrap()
    );
    let w1_now = outbound.webhook(w1.uuid).await.unwrap().unwrap();
    assert_eq!(
        w1_now,
        WebhookRecord {
            key_id: "k2".into(),
            sealed: b"w-1b".to_vec(),
            ..w1.clone()
        }
    );
    assert!(
        !outbound
            .reseal(&w1_tag, b"w-1", "k3", b"w-1c")
            .await
            .unwrap()
    );
    assert_eq!(outbound.webhook(w1.uuid).await.unwrap(), Some(w1_now));

    // Changed after it was read (a new secret): not resealed over.
    let r_tag = format!("target:{}", r.id);
    outbound
        .set_status_target(
            r.id,
            "gitea",
            "https://gitea.example.com",
            "",
            "k0",
            b"t-r-new",
        )
        .await
        .unwrap();
    assert!(!outbound.reseal(&r_tag, b"t-r", "k2", b"x").await.unwrap());
    assert_eq!(
        outbound.status_target(r.id).await.unwrap().unwrap().sealed,
        b"t-r-new"
    );
    let w3_tag = format!("webhook:{}", w3.id);
    outbound
        .update_webhook(
            w3.id,
            &NewWebhook {
                key_id: "k0",
                ..webhook(q.id, "w3", b"w-3-new")
            },
        )
        .await
        .unwrap()
        .unwrap();
    assert!(!outbound.reseal(&w3_tag, b"w-3", "k2", b"x").await.unwrap());
    assert_eq!(
        outbound.webhook(w3.uuid).await.unwrap().unwrap().sealed,
        b"w-3-new"
    );

    // The tag names the row: another row's value, a kind swapped, or nonsense change nothing.
    assert!(
        !outbound
            .reseal(&format!("webhook:{}", w2.id), b"w-1b", "k9", b"x")
            .await
            .unwrap()
    );
    assert!(
        !outbound
            .reseal(&format!("webhook:{}", p.id), b"t-p2", "k9", b"x")
            .await
            .unwrap()
    );
    for tag in [
        "",
        "target",
        "target:",
        "target:abc",
        "other:1",
        "webhook:-1",
    ] {
        assert!(
            !outbound.reseal(tag, b"w-2", "k9", b"x").await.unwrap(),
            "{tag:?}"
        );
    }
    assert_eq!(outbound.webhook(w2.uuid).await.unwrap(), Some(w2));
    let left: BTreeSet<String> = outbound
        .sealed_by_other_keys("k2", 10)
        .await
        .unwrap()
        .into_iter()
        .map(|(tag, ..)| tag)
        .collect();
    assert_eq!(left, BTreeSet::from([r_tag, w3_tag]));
}

// ---------------------------------------------------------------------------------------------
// The outbox

async fn outbound_a_message_is_due_until_taken_and_then_at_its_lease(store: Store) {
    let (_, p, q) = projects(&store).await;
    let hook = create_webhook(&store, &webhook(p.id, "w", b"s")).await;
    let outbound = store.outbound();
    let from = now_s();
    let m = enqueue(&store, &event(&hook, "job-completed")).await;
    let to = now_s();
    assert_whole_second_utc("created_at", m.created_at, from, to);
    assert_eq!(
        m,
        MessageRecord {
            id: m.id,
            project_id: p.id,
            webhook_id: Some(hook.id),
            kind: "webhook".into(),
            event: "job-completed".into(),
            url: "https://hooks.example.com/circlet".into(),
            body: r#"{"type":"job-completed","job":{"name":"ünïcode ✓"}}"#.into(),
            state: "pending".into(),
            attempts: 0,
            next_attempt_at: m.created_at,
            last_status: None,
            last_error: String::new(),
            created_at: m.created_at,
            delivered_at: None,
        },
        "queued pending, due at once"
    );
    let s = enqueue(&store, &status(q.id, "status: ci/circlet: build running")).await;
    assert_eq!((s.kind.as_str(), s.webhook_id), ("status", None));

    assert!(
        due_ids(&store, m.created_at - Duration::seconds(1))
            .await
            .is_empty()
    );
    let due = outbound.due(now_s(), 10).await.unwrap();
    assert_eq!(
        due,
        [m.clone(), s.clone()],
        "every project's, oldest due first"
    );
    assert_eq!(ids(&outbound.due(now_s(), 1).await.unwrap()), [m.id]);

    // Taken for an attempt: not due again until its lease ends.
    let lease = to + Duration::seconds(60);
    assert!(outbound.take(&m, lease).await.unwrap());
    let taken = message(&store, &m).await;
    assert_eq!(
        taken,
        MessageRecord {
            attempts: 1,
            next_attempt_at: lease,
            ..m.clone()
        }
    );
    assert_eq!(due_ids(&store, now_s()).await, [s.id]);
    assert_eq!(due_ids(&store, lease - Duration::seconds(1)).await, [s.id]);
    assert_eq!(
        due_ids(&store, lease).await,
        [s.id, m.id],
        "due again at its lease's end"
    );
    // The copy read before it was taken takes it no more.
    assert!(
        !outbound
            .take(&m, lease + Duration::seconds(60))
            .await
            .unwrap()
    );
    assert_eq!(message(&store, &m).await, taken);
    // The sender died: another takes it once the lease is over.
    assert!(
        outbound
            .take(&taken, lease + Duration::seconds(60))
            .await
            .unwrap()
    );
    assert_eq!(message(&store, &m).await.attempts, 2);
    // A settled message is not taken.
    outbound
        .settle(s.id, "delivered", Some(201), "", now_s())
        .await
        .unwrap();
    assert!(!outbound.take(&s, lease).await.unwrap());
    assert_eq!(message(&store, &s).await.attempts, 0);
}

async fn outbound_concurrent_takes_of_a_message_give_it_to_one_sender(store: Store) {
    let (_, p, _) = projects(&store).await;
    let outbound = store.outbound();
    let mut m = enqueue(&store, &status(p.id, "status: ci/circlet: build success")).await;
    for round in 0..10 {
        let lease = m.next_attempt_at + Duration::seconds(30);
        let (a, b, c) = tokio::join!(
            outbound.take(&m, lease),
            outbound.take(&m, lease),
            outbound.take(&m, lease),
        );
        let won = [a.unwrap(), b.unwrap(), c.unwrap()];
        assert_eq!(
            won.iter().filter(|w| **w).count(),
            1,
            "round {round}: exactly one sender takes it: {won:?}"
        );
        m = message(&store, &m).await;
        assert_eq!((m.attempts, m.next_attempt_at), (round + 1, lease));
    }
}

async fn outbound_settling_delivers_retries_or_gives_up(store: Store) {
    let (_, p, _) = projects(&store).await;
    let hook = create_webhook(&store, &webhook(p.id, "w", b"s")).await;
    let outbound = store.outbound();
    let delivered = enqueue(&store, &event(&hook, "job-completed")).await;
    let retried = enqueue(&store, &event(&hook, "workflow-completed")).await;
    let failed = enqueue(&store, &status(p.id, "status: ci/circlet: build failed")).await;
    let far = now_s() + Duration::days(365);
    for m in [&delivered, &retried, &failed] {
        assert!(
            outbound
                .take(m, now_s() + Duration::seconds(60))
                .await
                .unwrap()
        );
    }

    let from = now_s();
    outbound
        .settle(delivered.id, "delivered", Some(200), "", now_s())
        .await
        .unwrap();
    let d = message(&store, &delivered).await;
    assert_eq!(
        (d.state.as_str(), d.last_status, d.last_error.as_str()),
        ("delivered", Some(200), "")
    );
    assert_whole_second_utc(
        "delivered_at",
        d.delivered_at.expect("delivered"),
        from,
        now_s(),
    );
    assert_eq!(d.attempts, 1);

    let retry_at = now_s() + Duration::minutes(5) + Duration::milliseconds(300);
    outbound
        .settle(
            retried.id,
            "pending",
            Some(503),
            "503 Service Unavailable",
            retry_at,
        )
        .await
        .unwrap();
    let r = message(&store, &retried).await;
    assert_eq!(
        (
            r.state.as_str(),
            r.last_status,
            r.last_error.as_str(),
            r.delivered_at
        ),
        ("pending", Some(503), "503 Service Unavailable", None)
    );
    let retry_s = retry_at.replace_nanosecond(0).unwrap();
    assert_eq!(r.next_attempt_at, retry_s, "whole seconds");

    outbound
        .settle(failed.id, "failed", None, "connection refused", now_s())
        .await
        .unwrap();
    let f = message(&store, &failed).await;
    assert_eq!(
        (
            f.state.as_str(),
            f.last_status,
            f.last_error.as_str(),
            f.delivered_at
        ),
        ("failed", None, "connection refused", None)
    );

    // Only the one to retry is ever due again, at its time.
    assert!(
        due_ids(&store, retry_s - Duration::seconds(1))
            .await
            .is_empty()
    );
    assert_eq!(due_ids(&store, retry_s).await, [retried.id]);
    assert_eq!(due_ids(&store, far).await, [retried.id]);
    // The second attempt delivers it.
    let r = message(&store, &retried).await;
    assert!(
        outbound
            .take(&r, retry_s + Duration::seconds(60))
            .await
            .unwrap()
    );
    outbound
        .settle(retried.id, "delivered", Some(204), "", now_s())
        .await
        .unwrap();
    let r = message(&store, &retried).await;
    assert_eq!(
        (r.state.as_str(), r.attempts, r.last_status),
        ("delivered", 2, Some(204))
    );
    assert!(r.delivered_at.is_some());
    assert!(due_ids(&store, far).await.is_empty());
    // A state is one of three.
    assert!(
        outbound
            .settle(failed.id, "lost", None, "", now_s())
            .await
            .is_err()
    );
    assert_eq!(message(&store, &failed).await.state, "failed");
}

async fn outbound_the_log_is_per_webhook_or_commit_statuses_newest_first(store: Store) {
    let (_, p, q) = projects(&store).await;
    let w1 = create_webhook(&store, &webhook(p.id, "w1", b"s")).await;
    let w2 = create_webhook(&store, &webhook(p.id, "w2", b"s")).await;
    let wq = create_webhook(&store, &webhook(q.id, "wq", b"s")).await;
    let outbound = store.outbound();
    let s1 = enqueue(&store, &status(p.id, "status: a")).await;
    let a1 = enqueue(&store, &event(&w1, "job-completed")).await;
    let b1 = enqueue(&store, &event(&w2, "job-completed")).await;
    let theirs = enqueue(&store, &status(q.id, "status: q")).await;
    let theirs_hook = enqueue(&store, &event(&wq, "job-completed")).await;
    let a2 = enqueue(&store, &event(&w1, "workflow-completed")).await;
    let s2 = enqueue(&store, &status(p.id, "status: b")).await;

    assert_eq!(
        ids(&outbound.log(p.id, None, 10).await.unwrap()),
        [s2.id, s1.id]
    );
    assert_eq!(ids(&outbound.log(p.id, None, 1).await.unwrap()), [s2.id]);
    assert_eq!(
        ids(&outbound.log(p.id, Some(w1.id), 10).await.unwrap()),
        [a2.id, a1.id]
    );
    assert_eq!(
        ids(&outbound.log(p.id, Some(w2.id), 10).await.unwrap()),
        [b1.id]
    );
    assert_eq!(
        ids(&outbound.log(q.id, None, 10).await.unwrap()),
        [theirs.id]
    );
    assert_eq!(
        ids(&outbound.log(q.id, Some(wq.id), 10).await.unwrap()),
        [theirs_hook.id]
    );
    // Per project: another project's webhook id shows nothing here.
    assert!(
        outbound
            .log(q.id, Some(w1.id), 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        outbound
            .log(p.id, Some(wq.id), 10)
            .await
            .unwrap()
            .is_empty()
    );
    // The whole record, settled or not.
    outbound
        .settle(a1.id, "failed", Some(410), "410 Gone", now_s())
        .await
        .unwrap();
    let logged = outbound.log(p.id, Some(w1.id), 10).await.unwrap();
    assert_eq!(logged[0], a2);
    assert_eq!(
        (
            logged[1].state.as_str(),
            logged[1].last_status,
            logged[1].event.as_str()
        ),
        ("failed", Some(410), "job-completed")
    );
}

async fn outbound_a_project_keeps_its_newest_messages_and_every_pending_one(store: Store) {
    let (_, p, q) = projects(&store).await;
    let outbound = store.outbound();
    let theirs = enqueue(&store, &status(q.id, "status: q")).await;
    outbound
        .settle(theirs.id, "delivered", Some(200), "", now_s())
        .await
        .unwrap();

    // The six oldest: delivered, failed, pending, delivered, pending, delivered.
    let mut first = Vec::new();
    for (i, state) in [
        "delivered",
        "failed",
        "pending",
        "delivered",
        "pending",
        "delivered",
    ]
    .into_iter()
    .enumerate()
    {
        let event = format!("status: {i}");
        let m = enqueue(&store, &status(p.id, &event)).await;
        if state != "pending" {
            outbound
                .settle(m.id, state, Some(200), "", now_s())
                .await
                .unwrap();
        }
        first.push(m);
    }
    // Then enough that the first four are beyond the newest KEPT_MESSAGES.
    let total = KEPT_MESSAGES as usize + 4;
    for i in first.len()..total {
        let event = format!("status: {i}");
        outbound.enqueue(&status(p.id, &event)).await.unwrap();
    }

    let log = outbound.log(p.id, None, 10_000).await.unwrap();
    let kept: Vec<String> = log.iter().map(|m| m.event.clone()).collect();
    // The newest KEPT_MESSAGES (4 to the last), and the pending one (2) older than them.
    let mut expected: Vec<String> = (4..total).rev().map(|i| format!("status: {i}")).collect();
    expected.push("status: 2".into());
    assert_eq!(kept.len() as i64, KEPT_MESSAGES + 1);
    assert_eq!(kept, expected, "newest first");
    for gone in [&first[0], &first[1], &first[3]] {
        assert!(
            !log.iter().any(|m| m.id == gone.id),
            "{} is pruned",
            gone.event
        );
    }
    assert_eq!(
        message(&store, &first[5]).await.state,
        "delivered",
        "kept while new"
    );
    // Pending ones, pruned or not, are still sent.
    let due = due_ids(&store, now_s()).await;
    assert!(due.contains(&first[2].id) && due.contains(&first[4].id));
    assert_eq!(
        outbound.log(q.id, None, 10).await.unwrap(),
        [message(&store, &theirs).await],
        "another project's log is untouched"
    );
}

async fn outbound_a_changed_target_drops_only_the_projects_unsent_statuses(store: Store) {
    let (_, p, q) = projects(&store).await;
    let hook = create_webhook(&store, &webhook(p.id, "w", b"s")).await;
    let outbound = store.outbound();
    let sent = enqueue(&store, &status(p.id, "status: sent")).await;
    outbound
        .settle(sent.id, "delivered", Some(201), "", now_s())
        .await
        .unwrap();
    let gave_up = enqueue(&store, &status(p.id, "status: gave up")).await;
    outbound
        .settle(gave_up.id, "failed", Some(401), "401 Unauthorized", now_s())
        .await
        .unwrap();
    let unsent = enqueue(&store, &status(p.id, "status: unsent")).await;
    let retrying = enqueue(&store, &status(p.id, "status: retrying")).await;
    outbound
        .settle(
            retrying.id,
            "pending",
            Some(502),
            "502",
            now_s() + Duration::minutes(1),
        )
        .await
        .unwrap();
    let hooked = enqueue(&store, &event(&hook, "job-completed")).await;
    let theirs = enqueue(&store, &status(q.id, "status: theirs")).await;

    outbound.drop_pending_statuses(p.id).await.unwrap();
    let log = outbound.log(p.id, None, 10).await.unwrap();
    assert_eq!(
        ids(&log),
        [gave_up.id, sent.id],
        "the sent and given up stay in the log"
    );
    assert!(!log.iter().any(|m| m.id == unsent.id || m.id == retrying.id));
    assert_eq!(
        due_ids(&store, now_s() + Duration::days(1)).await,
        [hooked.id, theirs.id],
        "webhook events and other projects' statuses are still sent"
    );
    // Nothing left to drop.
    outbound.drop_pending_statuses(p.id).await.unwrap();
    assert_eq!(
        ids(&outbound.log(p.id, None, 10).await.unwrap()),
        [gave_up.id, sent.id]
    );
}

// ---------------------------------------------------------------------------------------------
// What is still to be told (`builds::notify`)

/// Creates a pipeline of `workflows` on `main` and returns its jobs in creation order.
async fn jobs_of(
    store: &Store,
    project_id: i64,
    workflows: Vec<(&str, Vec<NewJob>)>,
) -> Vec<JobRecord> {
    store
        .builds()
        .create_pipeline(&pipeline(project_id, "main", workflows))
        .await
        .expect("create pipeline")
        .1
}

/// One pipeline of one single-job workflow.
async fn one_job(store: &Store, project_id: i64) -> JobRecord {
    jobs_of(store, project_id, vec![("wf", vec![job("build", &[])])])
        .await
        .remove(0)
}

/// Claims the oldest queued job, which must be `job`.
async fn claim(store: &Store, runner_id: i64, job: &JobRecord) {
    let (got, _) = store
        .builds()
        .claim_next(runner_id, None)
        .await
        .unwrap()
        .expect("a queued job");
    assert_eq!(
        got.id, job.id,
        "claimed {} instead of {}",
        got.name, job.name
    );
}

async fn to_notify(store: &Store) -> Vec<i64> {
    store
        .builds()
        .jobs_to_notify(100)
        .await
        .unwrap()
        .iter()
        .map(|j| j.id)
        .collect()
}

async fn workflows_to_notify(store: &Store) -> Vec<i64> {
    store
        .builds()
        .workflows_to_notify(100)
        .await
        .unwrap()
        .iter()
        .map(|w| w.id)
        .collect()
}

async fn listen_by_status(store: &Store, project_id: i64) {
    store
        .outbound()
        .set_status_target(
            project_id,
            "github",
            "https://api.github.com",
            "",
            "k1",
            b"t",
        )
        .await
        .unwrap();
}

async fn notify_jobs_to_tell_are_changed_jobs_of_listened_projects(store: Store) {
    let (owner, p, q) = projects(&store).await;
    let r = create_project(&store, "gh/acme/gizmos", &owner).await;
    let s = create_project(&store, "gh/acme/gears", &owner).await;
    let runner_id = runner(&store, owner.id, 0).await;
    let builds = store.builds();
    let pj = one_job(&store, p.id).await;
    let qj = one_job(&store, q.id).await;
    let rj = one_job(&store, r.id).await;
    let sj = one_job(&store, s.id).await;
    assert!(to_notify(&store).await.is_empty(), "nobody listens yet");

    // p has a status target, q a webhook, s both; r nothing.
    listen_by_status(&store, p.id).await;
    let q_hook = create_webhook(&store, &webhook(q.id, "w", b"s")).await;
    listen_by_status(&store, s.id).await;
    create_webhook(&store, &webhook(s.id, "w", b"s")).await;
    assert_eq!(
        to_notify(&store).await,
        [pj.id, qj.id, sj.id],
        "each job once"
    );
    let listed = builds.jobs_to_notify(2).await.unwrap();
    assert_eq!(
        listed,
        [pj.clone(), qj.clone()],
        "whole records, by id, at most the limit"
    );

    // Told as queued, once.
    assert_eq!(builds.job_notified_state(pj.id).await.unwrap(), None);
    assert!(
        builds
            .claim_job_notice(pj.id, None, JobState::Queued)
            .await
            .unwrap()
    );
    assert!(
        !builds
            .claim_job_notice(pj.id, None, JobState::Queued)
            .await
            .unwrap()
    );
    assert_eq!(
        builds.job_notified_state(pj.id).await.unwrap().as_deref(),
        Some("queued")
    );
    assert_eq!(to_notify(&store).await, [qj.id, sj.id]);
    // A claim from a state it was never told as fails, also on a job never told.
    assert!(
        !builds
            .claim_job_notice(qj.id, Some("queued"), JobState::Queued)
            .await
            .unwrap()
    );
    assert_eq!(builds.job_notified_state(qj.id).await.unwrap(), None);

    // It runs: to be told again, from what it was told as.
    claim(&store, runner_id, &pj).await;
    assert_eq!(to_notify(&store).await, [pj.id, qj.id, sj.id]);
    assert!(
        !builds
            .claim_job_notice(pj.id, None, JobState::Running)
            .await
            .unwrap()
    );
    assert!(
        !builds
            .claim_job_notice(pj.id, Some("success"), JobState::Running)
            .await
            .unwrap()
    );
    assert!(
        builds
            .claim_job_notice(pj.id, Some("queued"), JobState::Running)
            .await
            .unwrap()
    );
    assert!(
        !builds
            .claim_job_notice(pj.id, Some("queued"), JobState::Running)
            .await
            .unwrap(),
        "a stale told fails"
    );
    assert_eq!(to_notify(&store).await, [qj.id, sj.id]);

    // It ends; of three notifiers that read it as running, one tells it.
    assert!(builds.finish(pj.id, JobState::Success).await.unwrap());
    assert_eq!(to_notify(&store).await, [pj.id, qj.id, sj.id]);
    let (a, b, c) = tokio::join!(
        builds.claim_job_notice(pj.id, Some("running"), JobState::Success),
        builds.claim_job_notice(pj.id, Some("running"), JobState::Success),
        builds.claim_job_notice(pj.id, Some("running"), JobState::Success),
    );
    let won = [a.unwrap(), b.unwrap(), c.unwrap()];
    assert_eq!(won.iter().filter(|w| **w).count(), 1, "{won:?}");
    assert_eq!(
        builds.job_notified_state(pj.id).await.unwrap().as_deref(),
        Some("success")
    );
    assert_eq!(to_notify(&store).await, [qj.id, sj.id]);

    // Nobody listens to q any more; s still has its webhook when its target goes.
    assert!(store.outbound().delete_webhook(q_hook.id).await.unwrap());
    assert!(store.outbound().remove_status_target(s.id).await.unwrap());
    assert_eq!(to_notify(&store).await, [sj.id]);
    assert_eq!(builds.job_notified_state(rj.id).await.unwrap(), None);
    assert_eq!(builds.job_notified_state(rj.id + 1000).await.unwrap(), None);
}

async fn notify_workflows_to_tell_have_ended_and_are_told_once(store: Store) {
    let (owner, p, q) = projects(&store).await;
    let runner_id = runner(&store, owner.id, 0).await;
    let builds = store.builds();
    listen_by_status(&store, p.id).await;
    let jobs = jobs_of(
        &store,
        p.id,
        vec![
            ("a", vec![job("a1", &[]), job("a2", &["a1"])]),
            ("b", vec![job("b1", &[])]),
        ],
    )
    .await;
    let (a1, a2, b1) = (&jobs[0], &jobs[1], &jobs[2]);
    let (wf_a, wf_b) = (a1.workflow_id, b1.workflow_id);
    let held = jobs_of(
        &store,
        p.id,
        vec![(
            "held",
            vec![NewJob {
                approval: true,
                ..job("hold", &[])
            }],
        )],
    )
    .await
    .remove(0);
    assert_eq!(
        builds.job_by_id(held.id).await.unwrap().unwrap().state,
        JobState::OnHold
    );
    // Ended, but nobody listens to q.
    let unheard = one_job(&store, q.id).await;
    assert!(builds.request_cancel(unheard.id).await.unwrap());
    assert!(workflows_to_notify(&store).await.is_empty());

    claim(&store, runner_id, a1).await;
    assert!(builds.finish(a1.id, JobState::Success).await.unwrap());
    assert!(
        workflows_to_notify(&store).await.is_empty(),
        "a2 is queued now"
    );
    assert!(builds.request_cancel(b1.id).await.unwrap());
    assert_eq!(workflows_to_notify(&store).await, [wf_b]);
    claim(&store, runner_id, a2).await;
    assert_eq!(workflows_to_notify(&store).await, [wf_b], "a2 is running");
    assert!(builds.finish(a2.id, JobState::Failed).await.unwrap());
    assert_eq!(workflows_to_notify(&store).await, [wf_a, wf_b]);
    let first = builds.workflows_to_notify(1).await.unwrap();
    assert_eq!(first, builds.workflows(a1.pipeline_id).await.unwrap()[..1]);

    assert!(
        builds
            .claim_workflow_notice(wf_b, "canceled")
            .await
            .unwrap()
    );
    assert!(
        !builds
            .claim_workflow_notice(wf_b, "canceled")
            .await
            .unwrap()
    );
    assert_eq!(workflows_to_notify(&store).await, [wf_a]);
    let (x, y, z) = tokio::join!(
        builds.claim_workflow_notice(wf_a, "failed"),
        builds.claim_workflow_notice(wf_a, "failed"),
        builds.claim_workflow_notice(wf_a, "failed"),
    );
    let won = [x.unwrap(), y.unwrap(), z.unwrap()];
    assert_eq!(won.iter().filter(|w| **w).count(), 1, "{won:?}");
    assert!(workflows_to_notify(&store).await.is_empty());

    // The approval on hold was not over; canceled, it is.
    assert!(builds.request_cancel(held.id).await.unwrap());
    assert_eq!(workflows_to_notify(&store).await, [held.workflow_id]);

    let by_id = builds.workflow_by_id(wf_a).await.unwrap().expect("found");
    assert_eq!(by_id, builds.workflows(a1.pipeline_id).await.unwrap()[0]);
    assert_eq!((by_id.name.as_str(), by_id.project_id), ("a", p.id));
    assert_eq!(
        builds
            .workflow_by_id(held.workflow_id + 1000)
            .await
            .unwrap(),
        None
    );
}

async fn notify_mark_told_marks_the_projects_past_not_what_still_runs(store: Store) {
    let (owner, p, q) = projects(&store).await;
    let runner_id = runner(&store, owner.id, 0).await;
    let builds = store.builds();
    // p: a workflow that ended, one running, one queued.
    let ended = one_job(&store, p.id).await;
    claim(&store, runner_id, &ended).await;
    assert!(builds.finish(ended.id, JobState::Success).await.unwrap());
    let running = one_job(&store, p.id).await;
    claim(&store, runner_id, &running).await;
    let queued = one_job(&store, p.id).await;
    // q: a workflow that ended and one queued.
    let q_ended = one_job(&store, q.id).await;
    assert!(builds.request_cancel(q_ended.id).await.unwrap());
    let q_queued = one_job(&store, q.id).await;

    // Listeners are added: all of it would be told.
    listen_by_status(&store, p.id).await;
    create_webhook(&store, &webhook(q.id, "w", b"s")).await;
    let all_jobs = [ended.id, running.id, queued.id, q_ended.id, q_queued.id];
    assert_eq!(to_notify(&store).await, all_jobs);
    assert_eq!(
        workflows_to_notify(&store).await,
        [ended.workflow_id, q_ended.workflow_id]
    );

    builds.mark_told(p.id).await.unwrap();
    assert_eq!(
        to_notify(&store).await,
        [q_ended.id, q_queued.id],
        "q's are untouched"
    );
    assert_eq!(workflows_to_notify(&store).await, [q_ended.workflow_id]);
    for (j, state) in [
        (&ended, "success"),
        (&running, "running"),
        (&queued, "queued"),
    ] {
        assert_eq!(
            builds.job_notified_state(j.id).await.unwrap().as_deref(),
            Some(state),
            "{} is told as it is",
            j.id
        );
    }
    assert_eq!(builds.job_notified_state(q_queued.id).await.unwrap(), None);
    assert!(
        !builds
            .claim_workflow_notice(ended.workflow_id, "success")
            .await
            .unwrap(),
        "an ended workflow is told already"
    );

    // What happens from now on is told: the running job ends, the queued one is canceled.
    assert!(builds.finish(running.id, JobState::Failed).await.unwrap());
    assert!(builds.request_cancel(queued.id).await.unwrap());
    assert_eq!(
        to_notify(&store).await,
        [running.id, queued.id, q_ended.id, q_queued.id]
    );
    assert_eq!(
        workflows_to_notify(&store).await,
        [running.workflow_id, queued.workflow_id, q_ended.workflow_id],
        "workflows that had not ended were not marked"
    );
    assert!(
        builds
            .claim_job_notice(running.id, Some("running"), JobState::Failed)
            .await
            .unwrap()
    );
    assert!(
        builds
            .claim_workflow_notice(running.workflow_id, "failed")
            .await
            .unwrap()
    );
}
