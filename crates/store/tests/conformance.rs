//! The store's conformance suite: every use-case of [`Store`], written once and run against
//! both SQLite and PostgreSQL, plus a check that the two migration folders stay in step.
//!
//! Each case is an `async fn(Store)`; [`conformance!`] turns the list of cases into
//! `sqlite::<case>` and `postgres::<case>` tests, each on a fresh, migrated database.

use circlet_core::build_state::JobState;
use circlet_core::token::{NewToken, TokenKind};
use circlet_core::{BranchName, DisplayName, Email, Login, ProjectSlug, RepoUrl, Role, Vcs};
use circlet_store::builds::{JobRecord, NewJob, NewPipeline, NewWorkflow};
use circlet_store::testkit::TestDb;
use circlet_store::{
    BackendKind, BranchStatus, Member, NewProject, NewTokenRecord, NewUser, OrgStanding, Project,
    Store, StoreError, UsageUpdate, User,
};
use std::future::Future;
use time::{Duration, OffsetDateTime, UtcOffset};

/// Generates one `#[tokio::test]` per case and backend, in `mod sqlite` and `mod postgres`.
macro_rules! conformance {
    ($($case:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::run(circlet_store::BackendKind::Sqlite, super::$case).await;
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::run(circlet_store::BackendKind::Postgres, super::$case).await;
                }
            )+
        }
    };
}

/// Like [`conformance!`] for cases that need the [`TestDb`] itself (to reopen the database):
/// each case is an `async fn(TestDb)` run through `super::run_with_db`.
macro_rules! conformance_with_db {
    ($($case:ident),+ $(,)?) => {
        mod sqlite_db {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::run_with_db(circlet_store::BackendKind::Sqlite, super::$case).await;
                }
            )+
        }
        mod postgres_db {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::run_with_db(circlet_store::BackendKind::Postgres, super::$case).await;
                }
            )+
        }
    };
}

/// Pipelines, workflows, jobs, the runner queue, steps and output.
#[path = "conformance/builds.rs"]
mod builds;
/// Copying a whole store into the other backend (`circlet admin migrate-store`).
#[path = "conformance/copy.rs"]
mod copy;
/// Project environment variables (sealed values only).
#[path = "conformance/env_vars.rs"]
mod env_vars;
#[path = "conformance/generations.rs"]
mod generations;

conformance!(
    store_pings_and_reports_its_kind,
    store_refuses_work_after_close,
    migrations_can_run_twice,
    users_create_and_look_up,
    users_duplicate_login_is_a_conflict_naming_the_login,
    users_list_by_login_and_count,
    users_first_admin_only_when_there_are_no_users,
    users_first_admin_refused_when_a_user_exists,
    users_first_admin_concurrent_calls_never_both_succeed,
    users_set_disabled_flags_and_ends_sessions,
    users_set_disabled_unknown_login_is_not_found,
    sessions_live_session_finds_its_user,
    sessions_unknown_or_expired_find_nobody,
    sessions_of_a_disabled_user_find_nobody,
    sessions_expiry_is_compared_in_utc,
    sessions_duplicate_digest_is_a_conflict,
    sessions_delete_ends_one_session,
    sessions_delete_expired_removes_only_expired,
    projects_create_makes_the_creator_admin,
    projects_duplicate_slug_is_a_conflict,
    projects_duplicate_slug_conflict_names_the_slug,
    projects_by_slug_accepts_any_spelling_and_case,
    projects_list_all_and_for_member,
    projects_set_member_inserts_and_changes_role,
    projects_remove_member,
    projects_org_standing_counts_projects_and_admin_roles,
    projects_update_settings,
    projects_update_settings_unknown_project_is_not_found,
    timestamps_are_whole_seconds_utc,
    tokens_personal_cap_holds_when_creations_race,
    tokens_usage_is_recorded_while_others_write,
    build_status_follows_the_latest_finished_job_per_branch,
    build_status_is_building_while_any_job_is_unfinished,
);

/// Runs one case on a fresh database of `kind`. The [`TestDb`] outlives the store.
async fn run<F, Fut>(kind: BackendKind, case: F)
where
    F: FnOnce(Store) -> Fut,
    Fut: Future<Output = ()>,
{
    let db = TestDb::new(kind).await;
    let store = db.store().await;
    assert_eq!(
        store.kind(),
        kind,
        "the test database has the wrong backend"
    );
    case(store.clone()).await;
    store.close().await;
    drop(db);
}

// ---------------------------------------------------------------------------------------------
// Inputs

fn login(raw: &str) -> Login {
    Login::parse(raw).expect("valid login")
}

fn slug(raw: &str) -> ProjectSlug {
    ProjectSlug::parse(raw).expect("valid slug")
}

fn new_user(raw_login: &str) -> NewUser {
    NewUser {
        login: login(raw_login),
        name: DisplayName::parse(&format!("User {raw_login}")).expect("valid name"),
        email: Email::parse(&format!("{raw_login}@example.com")).expect("valid email"),
        password_hash: format!("$argon2id$v=19$m=19456,t=2,p=1$hash-of-{raw_login}"),
        site_admin: false,
    }
}

fn new_project(raw_slug: &str) -> NewProject {
    NewProject {
        slug: slug(raw_slug),
        repo_url: RepoUrl::parse("https://git.example.com/acme/widgets.git").expect("valid URL"),
        default_branch: BranchName::parse("main").expect("valid branch"),
        public: false,
    }
}

async fn create_user(store: &Store, raw_login: &str) -> User {
    store
        .users()
        .create(&new_user(raw_login))
        .await
        .expect("create user")
}

async fn create_project(store: &Store, raw_slug: &str, owner: &User) -> Project {
    store
        .projects()
        .create(&new_project(raw_slug), owner.id)
        .await
        .expect("create project")
}

/// The current time truncated to whole seconds, as the store keeps it.
fn now_s() -> OffsetDateTime {
    circlet_store::now()
}

fn logins(users: &[User]) -> Vec<&str> {
    users.iter().map(|u| u.login.as_str()).collect()
}

fn keys(projects: &[Project]) -> Vec<String> {
    projects.iter().map(|p| p.slug.key()).collect()
}

// ---------------------------------------------------------------------------------------------
// Store

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

// ---------------------------------------------------------------------------------------------
// Users

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
        StoreError::Conflict(message) => {
            assert!(
                message.contains("alice"),
                "message should name the login: {message:?}"
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
            StoreError::NotFound(message) => assert!(message.contains("ghost"), "{message:?}"),
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

// ---------------------------------------------------------------------------------------------
// Sessions

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

// ---------------------------------------------------------------------------------------------
// Projects

async fn projects_create_makes_the_creator_admin(store: Store) {
    let alice = create_user(&store, "alice").await;
    let bob = create_user(&store, "bob").await;
    let mut input = new_project("github/Acme/Widgets");
    input.public = true;
    input.default_branch = BranchName::parse("trunk").unwrap();
    input.repo_url = RepoUrl::parse("git@github.com:Acme/Widgets.git").unwrap();
    let p = store
        .projects()
        .create(&input, alice.id)
        .await
        .expect("create project");
    assert_eq!(p.slug, slug("gh/acme/widgets"));
    assert_eq!(
        p.slug.to_string(),
        "gh/Acme/Widgets",
        "org and repo keep their spelling"
    );
    assert_eq!(p.repo_url.as_str(), "git@github.com:Acme/Widgets.git");
    assert_eq!(p.default_branch.as_str(), "trunk");
    assert!(p.public);
    assert!(!p.uuid.is_nil());

    assert_eq!(
        store.projects().role_of(p.id, alice.id).await.unwrap(),
        Some(Role::Admin)
    );
    assert_eq!(store.projects().role_of(p.id, bob.id).await.unwrap(), None);
    assert_eq!(
        store.projects().members(p.id).await.unwrap(),
        [Member {
            user: alice.clone(),
            role: Role::Admin
        }]
    );
    assert_eq!(
        store.projects().list_for_member(alice.id).await.unwrap(),
        [(p.clone(), Role::Admin)]
    );
    assert!(
        store
            .projects()
            .list_for_member(bob.id)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.projects().list_all().await.unwrap(), [p]);
}

async fn projects_duplicate_slug_is_a_conflict(store: Store) {
    let alice = create_user(&store, "alice").await;
    let bob = create_user(&store, "bob").await;
    let original = create_project(&store, "github/ACME/w", &alice).await;
    for dup in ["gh/acme/w", "github/ACME/w", "GH/Acme/W", "GitHub/acme/W"] {
        let err = store
            .projects()
            .create(&new_project(dup), bob.id)
            .await
            .expect_err(dup);
        assert!(matches!(err, StoreError::Conflict(_)), "{dup}: got {err:?}");
    }
    // The failed attempts left nothing behind: no project, no membership for bob.
    assert_eq!(
        store.projects().list_all().await.unwrap(),
        std::slice::from_ref(&original)
    );
    assert!(
        store
            .projects()
            .list_for_member(bob.id)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store.projects().role_of(original.id, bob.id).await.unwrap(),
        None
    );
    // The same org/repo on another VCS, or another repo, is a different project.
    let on_bb = create_project(&store, "bitbucket/ACME/w", &bob).await;
    assert_eq!(on_bb.slug.to_string(), "bb/ACME/w");
    let other = create_project(&store, "gh/acme/w2", &bob).await;
    assert_eq!(
        store.projects().list_all().await.unwrap(),
        [on_bb, original, other]
    );
}

async fn projects_duplicate_slug_conflict_names_the_slug(store: Store) {
    let alice = create_user(&store, "alice").await;
    create_project(&store, "github/ACME/w", &alice).await;
    let err = store
        .projects()
        .create(&new_project("gh/acme/w"), alice.id)
        .await
        .expect_err("duplicate slug");
    match err {
        // The message is shown to the user as is: it must say which project collided.
        StoreError::Conflict(message) => assert!(
            message.contains("gh/acme/w"),
            "message should name the project: {message:?}"
        ),
        other => panic!("expected Conflict, got {other:?}"),
    }
}

async fn projects_by_slug_accepts_any_spelling_and_case(store: Store) {
    let alice = create_user(&store, "alice").await;
    let p = create_project(&store, "github/Acme/Widgets", &alice).await;
    let bb = create_project(&store, "bb/acme/widgets", &alice).await;
    for spelling in [
        "gh/Acme/Widgets",
        "github/Acme/Widgets",
        "gh/acme/widgets",
        "GITHUB/ACME/WIDGETS",
        "Gh/aCmE/wIdGeTs",
    ] {
        let found = store.projects().by_slug(&slug(spelling)).await.unwrap();
        assert_eq!(found.as_ref(), Some(&p), "{spelling}");
        let found = found.unwrap();
        assert_eq!(
            found.slug.org(),
            "Acme",
            "{spelling}: org keeps its creation spelling"
        );
        assert_eq!(found.slug.repo(), "Widgets");
    }
    for spelling in ["bitbucket/ACME/Widgets", "BB/acme/widgets"] {
        let found = store.projects().by_slug(&slug(spelling)).await.unwrap();
        assert_eq!(found.as_ref(), Some(&bb), "{spelling}");
    }
    for missing in ["gh/acme/gadgets", "gh/other/widgets", "gh/acme/widgets.git"] {
        assert_eq!(
            store.projects().by_slug(&slug(missing)).await.unwrap(),
            None,
            "{missing}"
        );
    }
}

async fn projects_list_all_and_for_member(store: Store) {
    assert!(store.projects().list_all().await.unwrap().is_empty());
    let alice = create_user(&store, "alice").await;
    let bob = create_user(&store, "bob").await;
    let carol = create_user(&store, "carol").await;
    // Created out of slug order, by two owners.
    let zeta = create_project(&store, "gh/zeta/app", &alice).await;
    let beta = create_project(&store, "gh/Beta/app", &bob).await;
    let alpha = create_project(&store, "github/alpha/app", &alice).await;
    let bbk = create_project(&store, "bb/zeta/app", &bob).await;

    assert_eq!(
        keys(&store.projects().list_all().await.unwrap()),
        ["bb/zeta/app", "gh/alpha/app", "gh/beta/app", "gh/zeta/app"]
    );
    assert_eq!(
        store.projects().list_for_member(alice.id).await.unwrap(),
        [(alpha.clone(), Role::Admin), (zeta.clone(), Role::Admin)]
    );
    assert_eq!(
        store.projects().list_for_member(bob.id).await.unwrap(),
        [(bbk, Role::Admin), (beta.clone(), Role::Admin)]
    );
    assert!(
        store
            .projects()
            .list_for_member(carol.id)
            .await
            .unwrap()
            .is_empty()
    );

    store
        .projects()
        .set_member(beta.id, alice.id, Role::Read)
        .await
        .unwrap();
    store
        .projects()
        .set_member(zeta.id, carol.id, Role::Write)
        .await
        .unwrap();
    assert_eq!(
        store.projects().list_for_member(alice.id).await.unwrap(),
        [
            (alpha, Role::Admin),
            (beta, Role::Read),
            (zeta.clone(), Role::Admin)
        ]
    );
    assert_eq!(
        store.projects().list_for_member(carol.id).await.unwrap(),
        [(zeta, Role::Write)]
    );
    assert_eq!(store.projects().list_all().await.unwrap().len(), 4);
}

async fn projects_set_member_inserts_and_changes_role(store: Store) {
    let owner = create_user(&store, "owner").await;
    let zed = create_user(&store, "zed").await;
    let amy = create_user(&store, "amy").await;
    let p = create_project(&store, "gh/acme/widgets", &owner).await;
    let q = create_project(&store, "gh/acme/gadgets", &owner).await;

    store
        .projects()
        .set_member(p.id, zed.id, Role::Write)
        .await
        .unwrap();
    store
        .projects()
        .set_member(p.id, amy.id, Role::Read)
        .await
        .unwrap();
    assert_eq!(
        store.projects().role_of(p.id, zed.id).await.unwrap(),
        Some(Role::Write)
    );
    assert_eq!(
        store.projects().role_of(p.id, amy.id).await.unwrap(),
        Some(Role::Read)
    );
    // Membership is per project.
    assert_eq!(store.projects().role_of(q.id, zed.id).await.unwrap(), None);
    assert_eq!(
        store.projects().members(p.id).await.unwrap(),
        [
            Member {
                user: amy.clone(),
                role: Role::Read
            },
            Member {
                user: owner.clone(),
                role: Role::Admin
            },
            Member {
                user: zed.clone(),
                role: Role::Write
            },
        ]
    );

    // Setting again changes the role instead of adding a second membership.
    store
        .projects()
        .set_member(p.id, zed.id, Role::Admin)
        .await
        .unwrap();
    store
        .projects()
        .set_member(p.id, owner.id, Role::Read)
        .await
        .unwrap();
    assert_eq!(
        store.projects().role_of(p.id, zed.id).await.unwrap(),
        Some(Role::Admin)
    );
    assert_eq!(
        store.projects().role_of(p.id, owner.id).await.unwrap(),
        Some(Role::Read)
    );
    assert_eq!(
        store.projects().members(p.id).await.unwrap(),
        [
            Member {
                user: amy,
                role: Role::Read
            },
            Member {
                user: owner.clone(),
                role: Role::Read
            },
            Member {
                user: zed.clone(),
                role: Role::Admin
            },
        ]
    );
    assert_eq!(
        store.projects().members(q.id).await.unwrap(),
        [Member {
            user: owner,
            role: Role::Admin
        }]
    );
    assert_eq!(
        store.projects().list_for_member(zed.id).await.unwrap(),
        [(p, Role::Admin)]
    );
}

async fn projects_org_standing_counts_projects_and_admin_roles(store: Store) {
    let owner = create_user(&store, "owner").await;
    let bob = create_user(&store, "bob").await;
    let standing = |org: &'static str, vcs: Vcs, user: i64| {
        let store = &store;
        async move { store.projects().org_standing(vcs, org, user).await.unwrap() }
    };
    let none = OrgStanding {
        projects: 0,
        admin_of: 0,
    };
    assert_eq!(standing("acme", Vcs::GitHub, bob.id).await, none);
    let p = create_project(&store, "gh/Acme/widgets", &owner).await;
    create_project(&store, "gh/acme/gadgets", &owner).await;
    create_project(&store, "bb/acme/tools", &owner).await;
    create_project(&store, "gh/acme-two/x", &owner).await;
    assert_eq!(
        standing("ACME", Vcs::GitHub, owner.id).await,
        OrgStanding {
            projects: 2,
            admin_of: 2
        }
    );
    assert_eq!(
        standing("acme", Vcs::GitHub, bob.id).await,
        OrgStanding {
            projects: 2,
            admin_of: 0
        }
    );
    assert_eq!(
        standing("acme", Vcs::Bitbucket, bob.id).await,
        OrgStanding {
            projects: 1,
            admin_of: 0
        }
    );
    store
        .projects()
        .set_member(p.id, bob.id, Role::Write)
        .await
        .unwrap();
    assert_eq!(
        standing("acme", Vcs::GitHub, bob.id).await.admin_of,
        0,
        "only admins count"
    );
    store
        .projects()
        .set_member(p.id, bob.id, Role::Admin)
        .await
        .unwrap();
    assert_eq!(
        standing("acme", Vcs::GitHub, bob.id).await,
        OrgStanding {
            projects: 2,
            admin_of: 1
        }
    );
    assert_eq!(
        standing("acm", Vcs::GitHub, bob.id).await,
        none,
        "no prefix matching"
    );
}

async fn projects_remove_member(store: Store) {
    let owner = create_user(&store, "owner").await;
    let bob = create_user(&store, "bob").await;
    let p = create_project(&store, "gh/acme/widgets", &owner).await;
    let q = create_project(&store, "gh/acme/gadgets", &owner).await;
    store
        .projects()
        .set_member(p.id, bob.id, Role::Write)
        .await
        .unwrap();
    store
        .projects()
        .set_member(q.id, bob.id, Role::Read)
        .await
        .unwrap();

    store
        .projects()
        .remove_member(p.id, bob.id)
        .await
        .expect("remove bob from p");
    assert_eq!(store.projects().role_of(p.id, bob.id).await.unwrap(), None);
    assert_eq!(
        store.projects().members(p.id).await.unwrap(),
        [Member {
            user: owner.clone(),
            role: Role::Admin
        }]
    );
    // Only that one membership went.
    assert_eq!(
        store.projects().role_of(q.id, bob.id).await.unwrap(),
        Some(Role::Read)
    );
    assert_eq!(
        store.projects().list_for_member(bob.id).await.unwrap(),
        [(q.clone(), Role::Read)]
    );

    let again = store.projects().remove_member(p.id, bob.id).await;
    assert!(
        matches!(again, Err(StoreError::NotFound(_))),
        "got {again:?}"
    );
    let stranger = create_user(&store, "stranger").await;
    let never = store.projects().remove_member(q.id, stranger.id).await;
    assert!(
        matches!(never, Err(StoreError::NotFound(_))),
        "got {never:?}"
    );
    let no_project = store
        .projects()
        .remove_member(p.id.max(q.id) + 1000, owner.id)
        .await;
    assert!(
        matches!(no_project, Err(StoreError::NotFound(_))),
        "got {no_project:?}"
    );

    // A removed member can be added back.
    store
        .projects()
        .set_member(p.id, bob.id, Role::Read)
        .await
        .unwrap();
    assert_eq!(
        store.projects().role_of(p.id, bob.id).await.unwrap(),
        Some(Role::Read)
    );
}

async fn projects_update_settings(store: Store) {
    let owner = create_user(&store, "owner").await;
    let p = create_project(&store, "gh/Acme/Widgets", &owner).await;
    let other = create_project(&store, "gh/acme/gadgets", &owner).await;
    assert!(!p.public);

    let url = RepoUrl::parse("ssh://git@git.example.com/acme/widgets.git").unwrap();
    let branch = BranchName::parse("release/2024").unwrap();
    store
        .projects()
        .update_settings(p.id, &url, &branch, true)
        .await
        .unwrap();
    let updated = store
        .projects()
        .by_slug(&p.slug)
        .await
        .unwrap()
        .expect("still there");
    assert_eq!(
        updated,
        Project {
            repo_url: url.clone(),
            default_branch: branch.clone(),
            public: true,
            ..p.clone()
        }
    );
    assert_eq!(updated.slug.to_string(), "gh/Acme/Widgets");
    // The other project is untouched.
    assert_eq!(
        store.projects().by_slug(&other.slug).await.unwrap(),
        Some(other)
    );

    // And back to private.
    store
        .projects()
        .update_settings(p.id, &url, &branch, false)
        .await
        .unwrap();
    assert!(
        !store
            .projects()
            .by_slug(&p.slug)
            .await
            .unwrap()
            .unwrap()
            .public
    );
    assert_eq!(
        store.projects().role_of(p.id, owner.id).await.unwrap(),
        Some(Role::Admin)
    );
}

async fn projects_update_settings_unknown_project_is_not_found(store: Store) {
    let owner = create_user(&store, "owner").await;
    let p = create_project(&store, "gh/acme/widgets", &owner).await;
    let url = RepoUrl::parse("https://example.com/x.git").unwrap();
    let branch = BranchName::parse("dev").unwrap();
    let err = store
        .projects()
        .update_settings(p.id + 1000, &url, &branch, true)
        .await;
    assert!(matches!(err, Err(StoreError::NotFound(_))), "got {err:?}");
    assert_eq!(store.projects().by_slug(&p.slug).await.unwrap(), Some(p));
}

// ---------------------------------------------------------------------------------------------
// Timestamps

fn assert_whole_second_utc(
    what: &str,
    t: OffsetDateTime,
    from: OffsetDateTime,
    to: OffsetDateTime,
) {
    assert_eq!(t.offset(), UtcOffset::UTC, "{what}: {t} is not UTC");
    assert_eq!(t.nanosecond(), 0, "{what}: {t} has a fraction of a second");
    assert!(
        from <= t && t <= to,
        "{what}: {t} is not within [{from}, {to}]"
    );
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

// ---------------------------------------------------------------------------------------------
// Tokens

/// A new personal token record for `owner` (any value: the store sees only its digest).
fn new_personal_token(owner: &User) -> NewTokenRecord {
    let value = NewToken::generate(TokenKind::Personal);
    NewTokenRecord {
        kind: TokenKind::Personal,
        digest: value.digest(),
        last4: value.last4(),
        name: "race".into(),
        user_id: Some(owner.id),
        project_id: None,
        scope: None,
        created_by: Some(owner.id),
        expires_at: None,
    }
}

async fn tokens_personal_cap_holds_when_creations_race(store: Store) {
    let alice = create_user(&store, "alice").await;
    let racers: Vec<_> = (0..12)
        .map(|_| {
            let (store, new) = (store.clone(), new_personal_token(&alice));
            tokio::spawn(async move { store.tokens().create(&new, Some(5)).await })
        })
        .collect();
    let mut made = 0;
    for racer in racers {
        match racer.await.unwrap() {
            Ok(_) => made += 1,
            Err(StoreError::Conflict(m)) => assert!(m.contains("the most allowed"), "{m}"),
            Err(e) => panic!("a creation over the cap is a conflict, not {e:?}"),
        }
    }
    assert_eq!(made, 5, "exactly the cap is created");
    let tokens = store.tokens().list_personal(alice.id).await.unwrap();
    assert_eq!(tokens.len(), 5);
}

async fn tokens_usage_is_recorded_while_others_write(store: Store) {
    let alice = create_user(&store, "alice").await;
    let used = store
        .tokens()
        .create(&new_personal_token(&alice), None)
        .await
        .unwrap();
    for round in 0..20 {
        let batch = [UsageUpdate {
            token_id: used.id,
            at: Some(now_s()),
            addresses: vec![format!("10.0.0.{round}")],
            kinds: vec![("me".into(), 1)],
        }];
        let writers: Vec<_> = (0..3)
            .map(|_| {
                let (store, new) = (store.clone(), new_personal_token(&alice));
                tokio::spawn(async move { store.tokens().create(&new, None).await })
            })
            .collect();
        store
            .tokens()
            .record_usage(&batch)
            .await
            .unwrap_or_else(|e| panic!("round {round}: use lost to a concurrent write: {e:?}"));
        for w in writers {
            w.await.unwrap().unwrap();
        }
    }
    let usage = store
        .tokens()
        .usage(used.id, now_s() - Duration::hours(1))
        .await
        .unwrap();
    assert_eq!(usage.len(), 1);
    assert_eq!(usage[0].count, 20, "every round's use was written");
}

// ---------------------------------------------------------------------------------------------
// Build status (badges and cc.xml)

/// A runner's token, so jobs can be claimed.
async fn runner(store: &Store) -> i64 {
    let value = NewToken::generate(TokenKind::Runner);
    let new = NewTokenRecord {
        kind: TokenKind::Runner,
        digest: value.digest(),
        last4: value.last4(),
        name: "runner".into(),
        user_id: None,
        project_id: None,
        scope: None,
        created_by: None,
        expires_at: None,
    };
    store
        .tokens()
        .create(&new, None)
        .await
        .expect("create runner token")
        .id
}

/// A pipeline on `branch` with one workflow of `jobs` (name, requires), returning its jobs.
async fn pipeline_on(
    store: &Store,
    project: &Project,
    branch: &str,
    jobs: &[(&str, &[&str])],
) -> Vec<JobRecord> {
    let new = NewPipeline {
        project_id: project.id,
        number: None,
        commit_json: String::new(),
        trigger_type: "api".into(),
        actor_id: None,
        actor_login: "tester".into(),
        branch: Some(branch.into()),
        tag: None,
        revision: "0123456789abcdef0123456789abcdef01234567".into(),
        parameters_json: "{}".into(),
        errors: vec![],
        why: "api".into(),
        workflows: vec![NewWorkflow {
            name: "build".into(),
            jobs: jobs
                .iter()
                .map(|(name, requires)| NewJob {
                    name: (*name).into(),
                    requires: requires.iter().map(|r| (*r).to_owned()).collect(),
                    spec_json: "{}".into(),
                    build_parameters_json: "{}".into(),
                })
                .collect(),
        }],
    };
    store
        .builds()
        .create_pipeline(&new)
        .await
        .expect("create pipeline")
        .1
}

/// Claims the next queued job (it must be `job`) and ends it as `state`.
async fn run_job(store: &Store, runner_id: i64, job: &JobRecord, state: JobState) {
    let claimed = store
        .builds()
        .claim_next(runner_id)
        .await
        .unwrap()
        .expect("a queued job");
    assert_eq!(claimed.id, job.id, "claimed another job than expected");
    assert!(
        store
            .builds()
            .finish(job.id, Some(runner_id), state)
            .await
            .unwrap()
    );
}

async fn build_status_follows_the_latest_finished_job_per_branch(store: Store) {
    let owner = create_user(&store, "owner").await;
    let project = create_project(&store, "gh/acme/widgets", &owner).await;
    let other = create_project(&store, "gh/acme/other", &owner).await;
    let runner_id = runner(&store).await;
    let builds = store.builds();
    let none = BranchStatus {
        latest_finished: None,
        building: false,
    };
    assert_eq!(
        builds.branch_status(project.id, "main").await.unwrap(),
        none
    );

    let main1 = pipeline_on(&store, &project, "main", &[("build", &[])]).await;
    run_job(&store, runner_id, &main1[0], JobState::Success).await;
    let feature = pipeline_on(&store, &project, "feature/x", &[("build", &[])]).await;
    run_job(&store, runner_id, &feature[0], JobState::Failed).await;
    let elsewhere = pipeline_on(&store, &other, "main", &[("build", &[])]).await;
    run_job(&store, runner_id, &elsewhere[0], JobState::Canceled).await;

    let latest = |status: BranchStatus| status.latest_finished.map(|j| (j.build_num, j.state));
    let main = builds.branch_status(project.id, "main").await.unwrap();
    assert!(!main.building);
    assert_eq!(latest(main), Some((main1[0].build_num, JobState::Success)));
    let feature_status = builds.branch_status(project.id, "feature/x").await.unwrap();
    assert_eq!(
        latest(feature_status),
        Some((feature[0].build_num, JobState::Failed))
    );
    let other_status = builds.branch_status(other.id, "main").await.unwrap();
    assert_eq!(
        latest(other_status),
        Some((elsewhere[0].build_num, JobState::Canceled))
    );

    // A job that never ran (its requirement failed) is not "finished": the failure shows.
    let chain = pipeline_on(&store, &project, "main", &[("a", &[]), ("b", &["a"])]).await;
    run_job(&store, runner_id, &chain[0], JobState::Timedout).await;
    let main = builds.branch_status(project.id, "main").await.unwrap();
    assert_eq!(
        builds.job_by_id(chain[1].id).await.unwrap().unwrap().state,
        JobState::NotRun
    );
    assert_eq!(latest(main), Some((chain[0].build_num, JobState::Timedout)));
}

async fn build_status_is_building_while_any_job_is_unfinished(store: Store) {
    let owner = create_user(&store, "owner").await;
    let project = create_project(&store, "gh/acme/widgets", &owner).await;
    let runner_id = runner(&store).await;
    let builds = store.builds();
    let jobs = pipeline_on(&store, &project, "main", &[("a", &[]), ("b", &["a"])]).await;
    // Queued (a) and blocked (b).
    assert!(builds.building(project.id, "main").await.unwrap());
    assert!(!builds.building(project.id, "other").await.unwrap());
    let claimed = builds.claim_next(runner_id).await.unwrap().unwrap();
    assert_eq!(claimed.id, jobs[0].id);
    // Running (a), blocked (b).
    assert!(
        builds
            .branch_status(project.id, "main")
            .await
            .unwrap()
            .building
    );
    builds
        .finish(jobs[0].id, Some(runner_id), JobState::Success)
        .await
        .unwrap();
    // a passed, b released to the queue: still building, and a shows as the latest finished.
    let status = builds.branch_status(project.id, "main").await.unwrap();
    assert!(status.building);
    assert_eq!(status.latest_finished.map(|j| j.id), Some(jobs[0].id));
    run_job(&store, runner_id, &jobs[1], JobState::Success).await;
    let status = builds.branch_status(project.id, "main").await.unwrap();
    assert!(!status.building);
    assert_eq!(status.latest_finished.map(|j| j.id), Some(jobs[1].id));
}

// ---------------------------------------------------------------------------------------------
// Migrations

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
