//! Conformance cases for [`circlet_store::polls`]: a project's polling interval (on the
//! project), which projects' polls are due, moving a poll on by compare-and-set so one replica
//! polls, and the heads the last poll saw.

use super::{assert_whole_second_utc, create_project, create_user, now_s, run};
use circlet_store::{Missing, Project, Store, StoreError};
use circlet_testkit::both_backends;
use time::{Duration, OffsetDateTime};

both_backends!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    run = run;
    polls_an_interval_is_set_on_the_project_and_cleared,
    polls_due_lists_only_projects_with_an_interval_whose_poll_is_due,
    polls_advance_moves_on_only_from_the_due_time_read,
    polls_concurrent_advances_from_one_due_time_poll_once,
    polls_heads_are_replaced_as_a_set,
);

/// A store's three projects.
async fn projects(store: &Store) -> (Project, Project, Project) {
    let owner = create_user(store, "owner").await;
    let p = create_project(store, "gh/acme/widgets", &owner).await;
    let q = create_project(store, "gh/acme/gadgets", &owner).await;
    let r = create_project(store, "gh/acme/gizmos", &owner).await;
    (p, q, r)
}

async fn reload(store: &Store, p: &Project) -> Project {
    store
        .projects()
        .by_id(p.id)
        .await
        .unwrap()
        .expect("project exists")
}

/// The ids of the projects due at `at`, with when each was due.
async fn due(store: &Store, at: OffsetDateTime) -> Vec<(i64, OffsetDateTime)> {
    store
        .polls()
        .due(at, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|(p, due)| (p.id, due))
        .collect()
}

/// Sets `p`'s interval and returns when its first poll is due, as read.
async fn set_due(store: &Store, p: &Project, secs: i64) -> OffsetDateTime {
    store.polls().set_interval(p.id, Some(secs)).await.unwrap();
    let due = store
        .polls()
        .due(now_s() + Duration::days(1), 100)
        .await
        .unwrap();
    due.into_iter()
        .find(|(q, _)| q.id == p.id)
        .map(|(_, due)| due)
        .expect("a project with an interval is due")
}

async fn polls_an_interval_is_set_on_the_project_and_cleared(store: Store) {
    let (p, q, _) = projects(&store).await;
    assert_eq!(p.poll_interval_secs, None, "never polled at first");
    assert!(due(&store, now_s() + Duration::days(1)).await.is_empty());

    let from = now_s();
    store.polls().set_interval(p.id, Some(300)).await.unwrap();
    let set = reload(&store, &p).await;
    assert_eq!(set.poll_interval_secs, Some(300));
    assert_eq!(
        Project {
            poll_interval_secs: None,
            ..set.clone()
        },
        p,
        "only the interval changes"
    );
    let by_slug = store.projects().by_slug(&p.slug).await.unwrap().unwrap();
    assert_eq!(by_slug.poll_interval_secs, Some(300));
    assert!(
        store
            .projects()
            .list_all()
            .await
            .unwrap()
            .iter()
            .any(|x| x.id == p.id && x.poll_interval_secs == Some(300))
    );
    assert_eq!(reload(&store, &q).await.poll_interval_secs, None);
    // A set interval polls soon: due now.
    let listed = store.polls().due(now_s(), 10).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].0, set, "the whole project");
    assert_whole_second_utc("poll_next_at", listed[0].1, from, now_s());

    // A new interval.
    store.polls().set_interval(p.id, Some(60)).await.unwrap();
    assert_eq!(reload(&store, &p).await.poll_interval_secs, Some(60));
    // Cleared: never polled again, whatever its next poll was.
    store.polls().set_interval(p.id, None).await.unwrap();
    assert_eq!(reload(&store, &p).await, p);
    assert!(due(&store, now_s() + Duration::days(1)).await.is_empty());

    let err = store.polls().set_interval(p.id + 1000, Some(60)).await;
    assert!(
        matches!(err, Err(StoreError::NotFound(Missing::Project))),
        "got {err:?}"
    );
    let err = store.polls().set_interval(p.id + 1000, None).await;
    assert!(
        matches!(err, Err(StoreError::NotFound(Missing::Project))),
        "got {err:?}"
    );
}

async fn polls_due_lists_only_projects_with_an_interval_whose_poll_is_due(store: Store) {
    let (p, q, r) = projects(&store).await;
    let p_due = set_due(&store, &p, 60).await;
    let q_due = set_due(&store, &q, 60).await;
    // q's next poll is in an hour; r is never polled.
    let later = q_due + Duration::hours(1);
    assert!(store.polls().advance(q.id, q_due, later).await.unwrap());
    let now = now_s();
    assert_eq!(due(&store, now).await, [(p.id, p_due)]);
    assert!(due(&store, p_due - Duration::seconds(1)).await.is_empty());
    assert_eq!(
        due(&store, p_due).await,
        [(p.id, p_due)],
        "due at the second itself"
    );
    assert_eq!(
        due(&store, later).await,
        [(p.id, p_due), (q.id, later)],
        "longest due first"
    );
    let one = store.polls().due(later, 1).await.unwrap();
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].0.id, p.id);
    assert!(
        !due(&store, later + Duration::days(365))
            .await
            .iter()
            .any(|(id, _)| *id == r.id),
        "a project without an interval is never due"
    );
    // q's interval cleared: not due even when its next poll was.
    store.polls().set_interval(q.id, None).await.unwrap();
    assert_eq!(due(&store, later).await, [(p.id, p_due)]);
    // Set again: due soon, not at the later time it had.
    store.polls().set_interval(q.id, Some(60)).await.unwrap();
    let again = due(&store, now_s()).await;
    assert_eq!(again.len(), 2, "{again:?}");
    assert!(again.iter().any(|(id, at)| *id == q.id && *at < later));
}

async fn polls_advance_moves_on_only_from_the_due_time_read(store: Store) {
    let (p, q, r) = projects(&store).await;
    let d = set_due(&store, &p, 60).await;
    let q_due = set_due(&store, &q, 60).await;
    let polls = store.polls();
    assert!(
        !polls
            .advance(p.id, d - Duration::seconds(1), d + Duration::seconds(60))
            .await
            .unwrap()
    );
    assert!(
        polls
            .advance(p.id, d, d + Duration::seconds(60))
            .await
            .unwrap()
    );
    assert!(
        !polls
            .advance(p.id, d, d + Duration::seconds(120))
            .await
            .unwrap(),
        "a replica that read the old due time is too late"
    );
    assert_eq!(
        due(&store, d + Duration::seconds(59)).await,
        [(q.id, q_due)],
        "moved on, p is not due yet"
    );
    assert_eq!(
        due(&store, d + Duration::seconds(60)).await,
        [(q.id, q_due), (p.id, d + Duration::seconds(60))]
    );
    // The interval and the project stay as they were.
    assert_eq!(reload(&store, &p).await.poll_interval_secs, Some(60));
    // Times are stored in whole seconds: a fraction moves it to the second.
    let fraction = d + Duration::seconds(120) + Duration::milliseconds(700);
    assert!(
        polls
            .advance(p.id, d + Duration::seconds(60), fraction)
            .await
            .unwrap()
    );
    let (_, next) = polls
        .due(fraction + Duration::days(1), 10)
        .await
        .unwrap()
        .remove(1);
    assert_eq!(next, d + Duration::seconds(120));
    assert_eq!(next.nanosecond(), 0);
    // A project without an interval has nothing to move on.
    assert!(
        !polls
            .advance(r.id, d, d + Duration::seconds(60))
            .await
            .unwrap()
    );
    assert!(
        due(&store, d + Duration::days(1))
            .await
            .iter()
            .all(|(id, _)| *id != r.id)
    );
}

async fn polls_concurrent_advances_from_one_due_time_poll_once(store: Store) {
    let (p, _, _) = projects(&store).await;
    let mut d = set_due(&store, &p, 60).await;
    let polls = store.polls();
    for round in 0..10 {
        let next = d + Duration::seconds(60);
        let (a, b, c) = tokio::join!(
            polls.advance(p.id, d, next),
            polls.advance(p.id, d, next),
            polls.advance(p.id, d, next),
        );
        let won = [a.unwrap(), b.unwrap(), c.unwrap()];
        assert_eq!(
            won.iter().filter(|w| **w).count(),
            1,
            "round {round}: exactly one replica polls: {won:?}"
        );
        assert_eq!(due(&store, next + Duration::days(1)).await, [(p.id, next)]);
        d = next;
    }
}

async fn polls_heads_are_replaced_as_a_set(store: Store) {
    let (p, q, _) = projects(&store).await;
    let polls = store.polls();
    assert!(polls.heads(p.id).await.unwrap().is_empty());
    let heads = |list: &[(&str, &str)]| -> Vec<(String, String)> {
        list.iter()
            .map(|(r, s)| ((*r).to_owned(), (*s).to_owned()))
            .collect()
    };
    let sha = |c: char| c.to_string().repeat(40);
    let (a, b, c, d) = (sha('a'), sha('b'), sha('c'), sha('d'));

    polls
        .set_heads(
            p.id,
            &heads(&[
                ("refs/tags/v1.0", &a),
                ("refs/heads/main", &b),
                ("refs/heads/Zeta", &c),
                ("refs/heads/alpha", &d),
            ]),
        )
        .await
        .unwrap();
    polls
        .set_heads(q.id, &heads(&[("refs/heads/main", &a)]))
        .await
        .unwrap();
    assert_eq!(
        polls.heads(p.id).await.unwrap(),
        heads(&[
            ("refs/heads/Zeta", &c),
            ("refs/heads/alpha", &d),
            ("refs/heads/main", &b),
            ("refs/tags/v1.0", &a),
        ]),
        "by ref, byte order"
    );

    // The next poll: main moved, a branch and the tag gone, a branch new.
    polls
        .set_heads(
            p.id,
            &heads(&[("refs/heads/main", &c), ("refs/heads/feature", &a)]),
        )
        .await
        .unwrap();
    assert_eq!(
        polls.heads(p.id).await.unwrap(),
        heads(&[("refs/heads/feature", &a), ("refs/heads/main", &c)])
    );
    assert_eq!(
        polls.heads(q.id).await.unwrap(),
        heads(&[("refs/heads/main", &a)]),
        "another project's heads stay"
    );
    // An empty repository.
    polls.set_heads(p.id, &[]).await.unwrap();
    assert!(polls.heads(p.id).await.unwrap().is_empty());
    assert_eq!(polls.heads(q.id).await.unwrap().len(), 1);
}
