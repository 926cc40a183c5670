//! The store as a whole: it answers, it refuses work once closed, its migrations can run twice
//! and the two backends' migration folders list the same files, and every timestamp it keeps is
//! whole-second UTC.

use super::{assert_whole_second_utc, create_project, create_user, new_user, now_s, run};
use circlet_store::{Store, StoreError};
use circlet_testkit::both_backends;
use time::{OffsetDateTime, UtcOffset};

both_backends!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    run = run;
    store_pings_and_reports_its_kind,
    store_refuses_work_after_close,
    migrations_can_run_twice,
    timestamps_are_whole_seconds_utc,
);

async fn store_pings_and_reports_its_kind(store: Store) {
    store.ping().await.expect("a fresh store answers ping");
    // A clone shares the pool and works as well.
    store.clone().ping().await.expect("a clone answers ping");
}

async fn store_refuses_work_after_close(store: Store) {
    store.close().await;
    let err = store.ping().await.expect_err("ping after close must fail");
    assert!(matches!(err, StoreError::Unavailable(_)), "got {err:?}");
}

async fn migrations_can_run_twice(store: Store) {
    let alice = create_user(&store, "alice").await;
    store
        .migrate()
        .await
        .expect("migrating an up-to-date database is a no-op");
    assert_eq!(store.users().by_id(alice.id).await.unwrap(), Some(alice));
}

async fn timestamps_are_whole_seconds_utc(store: Store) {
    let from = now_s();
    let alice = create_user(&store, "alice").await;
    let root = store
        .users()
        .create_first_admin(&new_user("root"))
        .await
        .unwrap();
    assert_eq!(root, None);
    let p = create_project(&store, "gh/acme/widgets", &alice).await;
    let to = OffsetDateTime::now_utc();
    assert_whole_second_utc("user.created_at", alice.created_at, from, to);
    assert_whole_second_utc("project.created_at", p.created_at, from, to);

    // Read back, they are the same instants and still UTC, whole seconds.
    let again = store.users().by_id(alice.id).await.unwrap().unwrap();
    assert_eq!(again.created_at, alice.created_at);
    assert_whole_second_utc("user.created_at read back", again.created_at, from, to);
    let listed = store.users().list().await.unwrap();
    assert_whole_second_utc("user.created_at listed", listed[0].created_at, from, to);
    let members = store.projects().members(p.id).await.unwrap();
    assert_whole_second_utc("member.created_at", members[0].user.created_at, from, to);
    let back = store.projects().by_slug(&p.slug).await.unwrap().unwrap();
    assert_whole_second_utc("project.created_at read back", back.created_at, from, to);
    assert_eq!(back.created_at, p.created_at);
    let (for_member, _) = &store.projects().list_for_member(alice.id).await.unwrap()[0];
    assert_whole_second_utc("listed project.created_at", for_member.created_at, from, to);

    // The store's clock is whole-second UTC as well.
    let n = circlet_store::now();
    assert_eq!((n.offset(), n.nanosecond()), (UtcOffset::UTC, 0));
}

/// The `.sql` file names in one backend's migrations folder, sorted.
fn migration_names(backend: &str) -> Vec<String> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(backend);
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|entry| {
            let entry = entry.expect("read a directory entry");
            entry.file_name().into_string().expect("UTF-8 file name")
        })
        .collect();
    names.sort();
    names
}

#[test]
fn migration_folders_list_the_same_files() {
    let sqlite = migration_names("sqlite");
    let postgres = migration_names("postgres");
    assert!(!sqlite.is_empty(), "no SQLite migrations found");
    assert_eq!(
        sqlite, postgres,
        "migrations/sqlite and migrations/postgres differ"
    );
    for name in &sqlite {
        let (number, rest) = name.split_once('_').unwrap_or(("", ""));
        assert!(
            number.len() == 4
                && number.bytes().all(|b| b.is_ascii_digit())
                && rest.ends_with(".sql"),
            "migration {name:?} should be named NNNN_description.sql"
        );
    }
    // sqlx orders and records migrations by number, so a number may be used only once.
    let mut numbers: Vec<&str> = sqlite.iter().map(|n| &n[..4]).collect();
    numbers.dedup();
    assert_eq!(
        numbers.len(),
        sqlite.len(),
        "two migrations share a number: {sqlite:?}"
    );
}
