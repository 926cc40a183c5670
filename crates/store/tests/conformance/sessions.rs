//! Sessions: finding the user of a live one, expiry (compared in UTC), deleting them.

use super::{create_user, now_s, run};
use circlet_store::{Store, StoreError};
use circlet_testkit::both_backends;
use time::{Duration, UtcOffset};

both_backends!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    run = run;
    sessions_live_session_finds_its_user,
    sessions_unknown_or_expired_find_nobody,
    sessions_of_a_disabled_user_find_nobody,
    sessions_expiry_is_compared_in_utc,
    sessions_duplicate_digest_is_a_conflict,
    sessions_delete_ends_one_session,
    sessions_delete_expired_removes_only_expired,
);

async fn sessions_live_session_finds_its_user(store: Store) {
    let alice = create_user(&store, "alice").await;
    let bob = create_user(&store, "bob").await;
    let now = now_s();
    store
        .sessions()
        .create("d-alice", alice.id, now + Duration::hours(8))
        .await
        .unwrap();
    store
        .sessions()
        .create("d-bob", bob.id, now + Duration::hours(8))
        .await
        .unwrap();
    assert_eq!(
        store.sessions().user_for("d-alice", now).await.unwrap(),
        Some(alice.clone())
    );
    assert_eq!(
        store.sessions().user_for("d-bob", now).await.unwrap(),
        Some(bob)
    );
    // One second before expiry the session still works.
    let last = now + Duration::hours(8) - Duration::seconds(1);
    assert_eq!(
        store.sessions().user_for("d-alice", last).await.unwrap(),
        Some(alice)
    );
}

async fn sessions_unknown_or_expired_find_nobody(store: Store) {
    let alice = create_user(&store, "alice").await;
    let now = now_s();
    let expires = now + Duration::minutes(30);
    store
        .sessions()
        .create("d", alice.id, expires)
        .await
        .unwrap();
    assert_eq!(
        store.sessions().user_for("unknown", now).await.unwrap(),
        None
    );
    assert_eq!(store.sessions().user_for("", now).await.unwrap(), None);
    // Digests are compared exactly.
    assert_eq!(store.sessions().user_for("D", now).await.unwrap(), None);
    // At the expiry instant and after, the session is dead.
    assert_eq!(store.sessions().user_for("d", expires).await.unwrap(), None);
    assert_eq!(
        store
            .sessions()
            .user_for("d", expires + Duration::days(1))
            .await
            .unwrap(),
        None
    );
    // A session created already expired never works.
    store
        .sessions()
        .create("old", alice.id, now - Duration::seconds(1))
        .await
        .unwrap();
    assert_eq!(store.sessions().user_for("old", now).await.unwrap(), None);
}

async fn sessions_of_a_disabled_user_find_nobody(store: Store) {
    let alice = create_user(&store, "alice").await;
    store
        .users()
        .set_disabled(&alice.login, true)
        .await
        .unwrap();
    let now = now_s();
    // A session recorded for an already-disabled user (disabling ended the earlier ones, so
    // only this checks that user_for itself refuses disabled users).
    store
        .sessions()
        .create("d", alice.id, now + Duration::hours(1))
        .await
        .unwrap();
    assert_eq!(store.sessions().user_for("d", now).await.unwrap(), None);
    // Once re-enabled, that same session works: it was only the flag that refused it.
    store
        .users()
        .set_disabled(&alice.login, false)
        .await
        .unwrap();
    assert_eq!(
        store.sessions().user_for("d", now).await.unwrap(),
        Some(alice)
    );
}

async fn sessions_expiry_is_compared_in_utc(store: Store) {
    let alice = create_user(&store, "alice").await;
    let now = now_s();
    let east = UtcOffset::from_hms(5, 30, 0).unwrap();
    let west = UtcOffset::from_hms(-7, 0, 0).unwrap();
    // Expires in an hour, written with a +05:30 offset: as text it looks later than it is.
    let expires = (now + Duration::hours(1)).to_offset(east);
    store
        .sessions()
        .create("d", alice.id, expires)
        .await
        .unwrap();
    assert_eq!(
        store.sessions().user_for("d", now).await.unwrap(),
        Some(alice.clone())
    );
    let in_half_an_hour_west = (now + Duration::minutes(30)).to_offset(west);
    assert_eq!(
        store
            .sessions()
            .user_for("d", in_half_an_hour_west)
            .await
            .unwrap(),
        Some(alice)
    );
    let in_two_hours_east = (now + Duration::hours(2)).to_offset(east);
    assert_eq!(
        store
            .sessions()
            .user_for("d", in_two_hours_east)
            .await
            .unwrap(),
        None
    );
    let in_two_hours_west = (now + Duration::hours(2)).to_offset(west);
    assert_eq!(
        store
            .sessions()
            .user_for("d", in_two_hours_west)
            .await
            .unwrap(),
        None
    );
    // The sweeper agrees, whatever offset `now` is given in.
    assert_eq!(
        store
            .sessions()
            .delete_expired(now.to_offset(west))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        store
            .sessions()
            .delete_expired(in_two_hours_east)
            .await
            .unwrap(),
        1
    );
}

async fn sessions_duplicate_digest_is_a_conflict(store: Store) {
    let alice = create_user(&store, "alice").await;
    let bob = create_user(&store, "bob").await;
    let later = now_s() + Duration::hours(1);
    store
        .sessions()
        .create("same", alice.id, later)
        .await
        .unwrap();
    let err = store
        .sessions()
        .create("same", bob.id, later)
        .await
        .expect_err("a digest is one session");
    assert!(matches!(err, StoreError::Conflict(_)), "got {err:?}");
    assert_eq!(
        store.sessions().user_for("same", now_s()).await.unwrap(),
        Some(alice)
    );
}

async fn sessions_delete_ends_one_session(store: Store) {
    let alice = create_user(&store, "alice").await;
    let now = now_s();
    let later = now + Duration::hours(1);
    store
        .sessions()
        .create("one", alice.id, later)
        .await
        .unwrap();
    store
        .sessions()
        .create("two", alice.id, later)
        .await
        .unwrap();
    store.sessions().delete("one").await.unwrap();
    assert_eq!(store.sessions().user_for("one", now).await.unwrap(), None);
    assert_eq!(
        store.sessions().user_for("two", now).await.unwrap(),
        Some(alice.clone())
    );
    // Deleting again, or deleting something unknown, is not an error.
    store.sessions().delete("one").await.unwrap();
    store.sessions().delete("never-existed").await.unwrap();
    // The digest can be used again once deleted.
    store
        .sessions()
        .create("one", alice.id, later)
        .await
        .unwrap();
}

async fn sessions_delete_expired_removes_only_expired(store: Store) {
    let alice = create_user(&store, "alice").await;
    let now = now_s();
    assert_eq!(store.sessions().delete_expired(now).await.unwrap(), 0);
    store
        .sessions()
        .create("long-gone", alice.id, now - Duration::days(2))
        .await
        .unwrap();
    store
        .sessions()
        .create("just-gone", alice.id, now - Duration::seconds(1))
        .await
        .unwrap();
    store
        .sessions()
        .create("at-now", alice.id, now)
        .await
        .unwrap();
    store
        .sessions()
        .create("live", alice.id, now + Duration::seconds(1))
        .await
        .unwrap();
    store
        .sessions()
        .create("long-live", alice.id, now + Duration::days(2))
        .await
        .unwrap();

    assert_eq!(store.sessions().delete_expired(now).await.unwrap(), 3);
    assert_eq!(
        store.sessions().delete_expired(now).await.unwrap(),
        0,
        "already swept"
    );
    assert_eq!(
        store.sessions().user_for("live", now).await.unwrap(),
        Some(alice.clone())
    );
    assert_eq!(
        store.sessions().user_for("long-live", now).await.unwrap(),
        Some(alice.clone())
    );
    // The swept digests are gone (not merely expired): they can be created afresh.
    for digest in ["long-gone", "just-gone", "at-now"] {
        store
            .sessions()
            .create(digest, alice.id, now + Duration::hours(1))
            .await
            .unwrap();
    }
    assert_eq!(
        store
            .sessions()
            .delete_expired(now + Duration::days(3))
            .await
            .unwrap(),
        5
    );
}
