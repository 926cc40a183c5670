//! The store's conformance suite: every use-case of [`Store`], written once and run against
//! both SQLite and PostgreSQL, plus a check that the two migration folders stay in step.
//!
//! Each case is an `async fn(Store)` (or `async fn(TestDb)` where it reopens the database);
//! `circlet_testkit::both_backends!` with [`run`] (or [`run_with_db`]) turns each module's
//! list of cases into `sqlite::<case>` and `postgres::<case>` tests, each on a fresh, migrated
//! database. This file holds those runners and the inputs the modules share.

use circlet_core::token::{NewToken, TokenKind};
use circlet_core::{BranchName, DisplayName, Email, Login, ProjectSlug, RepoUrl};
use circlet_store::testkit::TestDb;
use circlet_store::{BackendKind, NewProject, NewTokenRecord, NewUser, Project, Store, User};
use std::future::Future;
use time::{OffsetDateTime, UtcOffset};

/// Branch status (badges and cc.xml).
#[path = "conformance/build_status.rs"]
mod build_status;
/// Pipelines, workflows, jobs, the runner queue, steps and output.
#[path = "conformance/builds.rs"]
mod builds;
/// Contexts: their variables and restrictions.
#[path = "conformance/contexts.rs"]
mod contexts;
/// Copying a whole store into the other backend (`circlet admin migrate-store`).
#[path = "conformance/copy.rs"]
mod copy;
/// Project environment variables (sealed values only).
#[path = "conformance/env_vars.rs"]
mod env_vars;
/// The auth and project generations: which writes move them, and when.
#[path = "conformance/generations.rs"]
mod generations;
/// Forges' webhooks: deliveries, secrets, pull requests, pipelines' origins, build settings.
#[path = "conformance/hooks.rs"]
mod hooks;
/// Leaks: scanners' reports handled, tokens revoked because they leaked.
#[path = "conformance/leaks.rs"]
mod leaks;
/// Project members and organization standing.
#[path = "conformance/members.rs"]
mod members;
/// Notices to tokens' owners and their emails; tokens expiring within a window.
#[path = "conformance/notices.rs"]
mod notices;
/// Organizations and the OIDC signing keys.
#[path = "conformance/oidc.rs"]
mod oidc;
/// The orb registry.
#[path = "conformance/orbs.rs"]
mod orbs;
/// Commit-status targets, outbound webhooks, the outbox, and which changes are still to be told.
#[path = "conformance/outbound.rs"]
mod outbound;
/// Polling repositories: intervals, due polls, the heads last seen.
#[path = "conformance/polls.rs"]
mod polls;
/// Projects: creation, slugs, listings, settings.
#[path = "conformance/projects.rs"]
mod projects;
/// Scheduled pipelines: API v2 schedules and a config's cron triggers.
#[path = "conformance/schedules.rs"]
mod schedules;
/// Sessions.
#[path = "conformance/sessions.rs"]
mod sessions;
/// The store itself: ping, close, migrations, timestamps.
#[path = "conformance/store.rs"]
mod store;
/// API tokens under concurrent writes.
#[path = "conformance/tokens.rs"]
mod tokens;
/// Users and the first admin.
#[path = "conformance/users.rs"]
mod users;

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

/// Runs a case that needs the database itself (to reopen it), on a fresh database of `kind`.
pub(crate) async fn run_with_db<F, Fut>(kind: BackendKind, case: F)
where
    F: FnOnce(TestDb) -> Fut,
    Fut: Future<Output = ()>,
{
    case(TestDb::new(kind).await).await;
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

/// A time the store keeps to the millisecond (when a job, a node or a step started and
/// stopped: durations): UTC, no finer than a millisecond, within [`from`, `to`], `to` read in
/// whole seconds so up to a second past it counts.
fn assert_millisecond_utc(what: &str, t: OffsetDateTime, from: OffsetDateTime, to: OffsetDateTime) {
    assert_eq!(t.offset(), UtcOffset::UTC, "{what}: {t} is not UTC");
    assert_eq!(
        t.nanosecond() % 1_000_000,
        0,
        "{what}: {t} is finer than a millisecond"
    );
    assert!(
        from <= t && t < to + time::Duration::seconds(1),
        "{what}: {t} is not within [{from}, {to}]"
    );
}

/// A new personal token record for `owner` (any value: the store sees only its digest).
fn new_personal_token(owner: &User) -> NewTokenRecord {
    let value = NewToken::generate(TokenKind::Personal);
    NewTokenRecord {
        limits: Default::default(),
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

/// A runner's token, so jobs can be claimed.
async fn runner(store: &Store) -> i64 {
    let value = NewToken::generate(TokenKind::Runner);
    let new = NewTokenRecord {
        limits: Default::default(),
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
