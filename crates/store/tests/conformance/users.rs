//! Users: creating and finding them, the first admin (also when calls race), disabling.

use super::{create_user, login, logins, new_user, now_s, run};
use circlet_core::{DisplayName, Email};
use circlet_store::testkit::TestDb;
use circlet_store::{Conflict, Missing, Store, StoreError, User};
use circlet_testkit::both_backends;
use time::Duration;

both_backends!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    run = run;
    users_create_and_look_up,
    users_duplicate_login_is_a_conflict_naming_the_login,
    users_list_by_login_and_count,
    users_first_admin_only_when_there_are_no_users,
    users_first_admin_refused_when_a_user_exists,
    users_first_admin_concurrent_calls_never_both_succeed,
    users_set_disabled_flags_and_ends_sessions,
    users_set_disabled_unknown_login_is_not_found,
    users_the_last_active_site_admin_keeps_the_flag_and_stays_enabled,
    users_concurrent_demotions_leave_an_admin,
    users_edit_and_set_password,
    users_reset_links_work_once_before_they_expire,
);

async fn users_create_and_look_up(store: Store) {
    let mut input = new_user("Alice");
    input.site_admin = true;
    let alice = store.users().create(&input).await.expect("create alice");
    assert_eq!(alice.login.as_str(), "alice");
    assert_eq!(alice.name, "User Alice");
    assert_eq!(alice.email, "Alice@example.com");
    assert!(alice.site_admin);
    assert!(!alice.disabled, "new users are enabled");
    assert!(!alice.uuid.is_nil());

    let bob = create_user(&store, "bob").await;
    assert!(!bob.site_admin);
    assert_ne!(bob.id, alice.id);
    assert_ne!(bob.uuid, alice.uuid);

    let users = store.users();
    assert_eq!(users.by_id(alice.id).await.unwrap().as_ref(), Some(&alice));
    assert_eq!(users.by_id(bob.id).await.unwrap().as_ref(), Some(&bob));
    assert_eq!(
        users.by_id(alice.id.max(bob.id) + 1000).await.unwrap(),
        None
    );
    assert_eq!(
        users.by_login(&login("alice")).await.unwrap().as_ref(),
        Some(&alice)
    );
    assert_eq!(
        users.by_login(&login("ALICE")).await.unwrap().as_ref(),
        Some(&alice)
    );
    assert_eq!(users.by_login(&login("carol")).await.unwrap(), None);

    let (found, hash) = users
        .credentials(&login("alice"))
        .await
        .unwrap()
        .expect("credentials of alice");
    assert_eq!(found, alice);
    assert_eq!(hash, input.password_hash);
    let (_, bob_hash) = users
        .credentials(&login("bob"))
        .await
        .unwrap()
        .expect("bob");
    assert_eq!(bob_hash, new_user("bob").password_hash);
    assert!(users.credentials(&login("carol")).await.unwrap().is_none());
}

async fn users_duplicate_login_is_a_conflict_naming_the_login(store: Store) {
    let alice = create_user(&store, "alice").await;
    let mut again = new_user("ALICE");
    again.email = Email::parse("other@example.com").unwrap();
    let err = store
        .users()
        .create(&again)
        .await
        .expect_err("duplicate login must fail");
    match err {
        StoreError::Conflict(Conflict::Login(login)) => {
            assert!(
                login.contains("alice"),
                "the conflict names the login: {login:?}"
            )
        }
        other => panic!("expected Conflict, got {other:?}"),
    }
    assert_eq!(store.users().count().await.unwrap(), 1);
    assert_eq!(
        store.users().by_login(&alice.login).await.unwrap(),
        Some(alice)
    );
}

async fn users_list_by_login_and_count(store: Store) {
    assert_eq!(store.users().count().await.unwrap(), 0);
    assert!(store.users().list().await.unwrap().is_empty());
    // Created out of order; `-` sorts before letters bytewise.
    for l in ["carol", "ab", "a-c", "bob", "9lives"] {
        create_user(&store, l).await;
    }
    let list = store.users().list().await.unwrap();
    assert_eq!(logins(&list), ["9lives", "a-c", "ab", "bob", "carol"]);
    assert_eq!(store.users().count().await.unwrap(), 5);
    for u in &list {
        assert_eq!(store.users().by_id(u.id).await.unwrap().as_ref(), Some(u));
    }
}

async fn users_first_admin_only_when_there_are_no_users(store: Store) {
    // site_admin: false in the input; the first user is made admin regardless.
    let first = store
        .users()
        .create_first_admin(&new_user("root"))
        .await
        .unwrap()
        .expect("the first admin is created on an empty store");
    assert!(first.site_admin);
    assert!(!first.disabled);
    assert_eq!(first.login.as_str(), "root");
    let (stored, hash) = store
        .users()
        .credentials(&first.login)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored, first);
    assert_eq!(hash, new_user("root").password_hash);

    let second = store
        .users()
        .create_first_admin(&new_user("mallory"))
        .await
        .unwrap();
    assert_eq!(second, None, "a second first admin must not be created");
    assert_eq!(store.users().count().await.unwrap(), 1);
    assert_eq!(
        store.users().by_login(&login("mallory")).await.unwrap(),
        None
    );
}

async fn users_first_admin_refused_when_a_user_exists(store: Store) {
    create_user(&store, "alice").await;
    let made = store
        .users()
        .create_first_admin(&new_user("root"))
        .await
        .unwrap();
    assert_eq!(made, None);
    assert_eq!(store.users().count().await.unwrap(), 1);
    assert_eq!(store.users().by_login(&login("root")).await.unwrap(), None);
}

async fn users_first_admin_concurrent_calls_never_both_succeed(store: Store) {
    // A race shows only sometimes: run it on this database and on a few more fresh ones.
    race_for_first_admin(&store).await;
    for _ in 0..3 {
        let db = TestDb::new(store.kind()).await;
        let fresh = db.store().await;
        race_for_first_admin(&fresh).await;
        fresh.close().await;
    }
}

/// Six concurrent `create_first_admin` calls on an empty store: exactly one wins.
async fn race_for_first_admin(store: &Store) {
    // Open several connections first so the calls below really overlap in the database.
    let pings = tokio::join!(
        store.ping(),
        store.ping(),
        store.ping(),
        store.ping(),
        store.ping(),
        store.ping()
    );
    for r in <[_; 6]>::from(pings) {
        r.expect("ping");
    }
    let contenders = ["one", "two", "three", "four", "five", "six"].map(new_user);
    let users = store.users();
    let results = tokio::join!(
        users.create_first_admin(&contenders[0]),
        users.create_first_admin(&contenders[1]),
        users.create_first_admin(&contenders[2]),
        users.create_first_admin(&contenders[3]),
        users.create_first_admin(&contenders[4]),
        users.create_first_admin(&contenders[5]),
    );
    let made: Vec<User> = <[_; 6]>::from(results)
        .into_iter()
        .filter_map(|r| r.expect("a losing call returns None, not an error"))
        .collect();
    assert_eq!(made.len(), 1, "exactly one first admin, got {made:?}");
    assert!(made[0].site_admin);
    assert_eq!(store.users().count().await.unwrap(), 1);
    assert_eq!(store.users().list().await.unwrap(), made);
}

async fn users_set_disabled_flags_and_ends_sessions(store: Store) {
    let alice = create_user(&store, "alice").await;
    let bob = create_user(&store, "bob").await;
    let now = now_s();
    let later = now + Duration::hours(1);
    store
        .sessions()
        .create("alice-1", alice.id, later)
        .await
        .unwrap();
    store
        .sessions()
        .create("alice-2", alice.id, later)
        .await
        .unwrap();
    store
        .sessions()
        .create("bob-1", bob.id, later)
        .await
        .unwrap();

    let disabled = store
        .users()
        .set_disabled(&alice.login, true)
        .await
        .unwrap();
    assert!(disabled.disabled);
    assert_eq!(disabled.id, alice.id);
    assert_eq!(disabled.created_at, alice.created_at);
    assert_eq!(
        store.users().by_login(&alice.login).await.unwrap(),
        Some(disabled.clone())
    );
    let (cred_user, _) = store
        .users()
        .credentials(&alice.login)
        .await
        .unwrap()
        .unwrap();
    assert!(cred_user.disabled, "credentials report the disabled flag");
    assert!(!store.users().by_id(bob.id).await.unwrap().unwrap().disabled);

    // Disabling twice is fine and reports the same state.
    assert!(
        store
            .users()
            .set_disabled(&alice.login, true)
            .await
            .unwrap()
            .disabled
    );

    let enabled = store
        .users()
        .set_disabled(&alice.login, false)
        .await
        .unwrap();
    assert!(!enabled.disabled);
    assert_eq!(enabled, alice);
    // Re-enabling does not bring old sessions back: disabling ended them.
    for digest in ["alice-1", "alice-2"] {
        assert_eq!(
            store.sessions().user_for(digest, now).await.unwrap(),
            None,
            "{digest}"
        );
    }
    assert_eq!(
        store.sessions().user_for("bob-1", now).await.unwrap(),
        Some(bob)
    );
    // Nothing of alice's is left for the sweeper either.
    assert_eq!(
        store
            .sessions()
            .delete_expired(later + Duration::hours(1))
            .await
            .unwrap(),
        1
    );
    // A new session after re-enabling works.
    store
        .sessions()
        .create("alice-3", alice.id, later)
        .await
        .unwrap();
    assert_eq!(
        store.sessions().user_for("alice-3", now).await.unwrap(),
        Some(alice)
    );
}

async fn users_set_disabled_unknown_login_is_not_found(store: Store) {
    create_user(&store, "alice").await;
    for disabled in [true, false] {
        let err = store
            .users()
            .set_disabled(&login("ghost"), disabled)
            .await
            .expect_err("unknown login");
        match err {
            StoreError::NotFound(Missing::User(login)) => {
                assert!(login.contains("ghost"), "{login:?}")
            }
            other => panic!("expected NotFound, got {other:?}"),
        }
    }
    assert!(
        !store
            .users()
            .by_login(&login("alice"))
            .await
            .unwrap()
            .unwrap()
            .disabled
    );
}

async fn admin(store: &Store, raw: &str) -> User {
    let mut input = new_user(raw);
    input.site_admin = true;
    store.users().create(&input).await.unwrap()
}

fn is_last_admin(r: Result<User, StoreError>) -> bool {
    matches!(r, Err(StoreError::Conflict(Conflict::LastAdmin)))
}

async fn users_the_last_active_site_admin_keeps_the_flag_and_stays_enabled(store: Store) {
    let root = admin(&store, "root").await;
    let alice = create_user(&store, "alice").await;
    let name = DisplayName::parse("Root").unwrap();
    let email = Email::parse("root@example.com").unwrap();
    let users = store.users();
    assert!(is_last_admin(
        users.edit(&root.login, &name, &email, false).await
    ));
    assert!(is_last_admin(users.set_disabled(&root.login, true).await));
    let kept = users.by_id(root.id).await.unwrap().unwrap();
    assert!(
        kept.site_admin && !kept.disabled && kept.name == root.name,
        "nothing changed: {kept:?}"
    );
    // Editing the last admin while keeping the flag is fine; non-admins are not concerned.
    assert_eq!(
        users
            .edit(&root.login, &name, &email, true)
            .await
            .unwrap()
            .name,
        "Root"
    );
    assert!(
        users
            .set_disabled(&alice.login, true)
            .await
            .unwrap()
            .disabled
    );
    // A disabled admin does not count as the other admin.
    let ops = admin(&store, "ops").await;
    users.set_disabled(&ops.login, true).await.unwrap();
    assert!(is_last_admin(
        users.edit(&root.login, &name, &email, false).await
    ));
    // An enabled one does.
    users.set_disabled(&ops.login, false).await.unwrap();
    assert!(
        !users
            .edit(&root.login, &name, &email, false)
            .await
            .unwrap()
            .site_admin
    );
    assert!(is_last_admin(users.set_disabled(&ops.login, true).await));
    let missing = users.edit(&login("ghost"), &name, &email, false).await;
    assert!(
        matches!(missing, Err(StoreError::NotFound(Missing::User(_)))),
        "{missing:?}"
    );
}

async fn users_concurrent_demotions_leave_an_admin(store: Store) {
    for round in 0..5 {
        let a = admin(&store, &format!("a{round}")).await;
        let b = admin(&store, &format!("b{round}")).await;
        // Only these two are active admins this round.
        for u in store.users().list().await.unwrap() {
            if u.site_admin && u.id != a.id && u.id != b.id {
                store
                    .users()
                    .edit(
                        &u.login,
                        &DisplayName::parse("x").unwrap(),
                        &Email::parse("x@example.com").unwrap(),
                        false,
                    )
                    .await
                    .unwrap();
            }
        }
        let name = DisplayName::parse("n").unwrap();
        let email = Email::parse("n@example.com").unwrap();
        let users = store.users();
        let (ra, rb) = tokio::join!(
            users.edit(&a.login, &name, &email, false),
            users.set_disabled(&b.login, true),
        );
        let ok = [ra.is_ok(), rb.is_ok()];
        assert_eq!(
            ok.iter().filter(|o| **o).count(),
            1,
            "round {round}: {ra:?} {rb:?}"
        );
        let active = store
            .users()
            .list()
            .await
            .unwrap()
            .into_iter()
            .filter(|u| u.site_admin && !u.disabled)
            .count();
        assert_eq!(active, 1, "round {round}");
    }
}

async fn users_edit_and_set_password(store: Store) {
    let alice = create_user(&store, "alice").await;
    let later = now_s() + Duration::hours(1);
    store
        .sessions()
        .create("alice-1", alice.id, later)
        .await
        .unwrap();
    let name = DisplayName::parse("Alice L").unwrap();
    let email = Email::parse("al@example.com").unwrap();
    let edited = store
        .users()
        .edit(&alice.login, &name, &email, true)
        .await
        .unwrap();
    assert_eq!(
        (
            edited.name.as_str(),
            edited.email.as_str(),
            edited.site_admin
        ),
        ("Alice L", "al@example.com", true)
    );
    assert!(
        store
            .sessions()
            .user_for("alice-1", now_s())
            .await
            .unwrap()
            .is_some(),
        "an edit keeps sessions"
    );
    store
        .password_resets()
        .create("link-1", alice.id, "root", later)
        .await
        .unwrap();

    store
        .users()
        .set_password(alice.id, "$argon2id$new")
        .await
        .unwrap();
    let (_, phc) = store
        .users()
        .credentials(&alice.login)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(phc, "$argon2id$new");
    assert_eq!(
        store.sessions().user_for("alice-1", now_s()).await.unwrap(),
        None,
        "sessions end"
    );
    assert_eq!(
        store
            .password_resets()
            .user_for("link-1", now_s())
            .await
            .unwrap(),
        None,
        "links go"
    );
    assert!(matches!(
        store.users().set_password(9999, "x").await,
        Err(StoreError::NotFound(_))
    ));
}

async fn users_reset_links_work_once_before_they_expire(store: Store) {
    let alice = create_user(&store, "alice").await;
    let bob = create_user(&store, "bob").await;
    let now = now_s();
    let resets = store.password_resets();
    resets
        .create("a-1", alice.id, "root", now + Duration::hours(1))
        .await
        .unwrap();
    resets
        .create("a-2", alice.id, "root", now + Duration::hours(1))
        .await
        .unwrap();
    resets
        .create("a-old", alice.id, "root", now - Duration::seconds(1))
        .await
        .unwrap();
    resets
        .create("b-1", bob.id, "root", now + Duration::hours(1))
        .await
        .unwrap();
    store
        .sessions()
        .create("alice-1", alice.id, now + Duration::hours(1))
        .await
        .unwrap();

    assert_eq!(
        resets.user_for("a-1", now).await.unwrap().map(|u| u.id),
        Some(alice.id)
    );
    assert_eq!(
        resets.user_for("a-old", now).await.unwrap(),
        None,
        "expired"
    );
    assert_eq!(resets.user_for("nope", now).await.unwrap(), None);
    assert_eq!(
        resets.reset("a-old", "$argon2id$x", now).await.unwrap(),
        None,
        "expired"
    );

    let user = resets
        .reset("a-1", "$argon2id$reset", now)
        .await
        .unwrap()
        .expect("used");
    assert_eq!(user.id, alice.id);
    let (_, phc) = store
        .users()
        .credentials(&alice.login)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(phc, "$argon2id$reset");
    assert_eq!(
        store.sessions().user_for("alice-1", now).await.unwrap(),
        None,
        "sessions end"
    );
    assert_eq!(
        resets.reset("a-1", "$argon2id$again", now).await.unwrap(),
        None,
        "once"
    );
    assert_eq!(
        resets.user_for("a-2", now).await.unwrap(),
        None,
        "the user's other links go"
    );
    assert!(
        resets.user_for("b-1", now).await.unwrap().is_some(),
        "others' links stay"
    );
    // A disabled user's link does nothing.
    store.users().set_disabled(&bob.login, true).await.unwrap();
    assert_eq!(resets.reset("b-1", "$argon2id$b", now).await.unwrap(), None);

    // Two uses at once: one wins.
    store.users().set_disabled(&bob.login, false).await.unwrap();
    resets
        .create("b-2", bob.id, "root", now + Duration::hours(1))
        .await
        .unwrap();
    let (x, y) = tokio::join!(
        resets.reset("b-2", "$argon2id$x", now),
        resets.reset("b-2", "$argon2id$y", now)
    );
    assert_eq!(
        [x.unwrap().is_some(), y.unwrap().is_some()]
            .iter()
            .filter(|w| **w)
            .count(),
        1
    );
}
