//! Conformance cases for the two generations (`auth_generation`, `project_generation`): a write
//! that revokes moves the auth generation, a write that changes a project (its builds, settings,
//! members or variables) moves the project generation, and another process on the database sees
//! it before the write returns. Reads, and writes that change nothing, move neither.
//!
//! Each case opens two handles on one database: `a` writes and never called
//! `watch_revocations` (as the admin CLI), `b` listens as a server does. On PostgreSQL, `b`
//! having moved when `a`'s write returns is `a` having waited for `b`'s acknowledgement. On
//! SQLite only the writing process sees project changes (the server makes them; the store's
//! `generations` docs say why and name the exception), so there `b` is asked about the auth
//! generation alone.

use super::builds::{job, pipeline, runner};
use super::run_with_db;
use super::{create_project, create_user, login, new_personal_token, new_project, new_user};
use circlet_core::build_state::JobState;
use circlet_core::{BranchName, RepoUrl, Role};
use circlet_store::builds::NodeEnd;
use circlet_store::testkit::TestDb;
use circlet_store::{BackendKind, NewEnvVar, ProjectGeneration, Store, TokenRecord, User};
use circlet_testkit::both_backends;
use std::future::Future;
use std::time::{Duration, Instant};

both_backends!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    run = run_with_db;
    generations_revoking_writes_move_the_auth_generation_everywhere_before_they_return,
    generations_project_writes_move_the_project_generation_before_they_return,
    generations_reads_and_writes_that_change_nothing_move_neither,
);

/// Both generations as one handle reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Seen {
    auth: Option<u64>,
    project: Option<ProjectGeneration>,
}

fn seen(store: &Store) -> Seen {
    Seen {
        auth: store.auth_generation(),
        project: store.project_generation(),
    }
}

/// Which generation a write must move; the other must stay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Moves {
    Auth,
    Project,
    Neither,
}

/// A clone URL and default branch unlike [`new_project`]'s.
fn other_settings() -> (RepoUrl, BranchName) {
    (
        RepoUrl::parse("https://git.example.com/acme/other.git").unwrap(),
        BranchName::parse("trunk").unwrap(),
    )
}

/// A new personal token of `owner`'s.
async fn token_of(store: &Store, owner: &User) -> TokenRecord {
    let new = new_personal_token(owner);
    store
        .tokens()
        .create(&new, None)
        .await
        .expect("create a token")
}

/// Two handles on `db`: `a`, which has never listened, and `b`, listening already.
async fn handles(db: &TestDb) -> (Store, Store) {
    let a = db.store().await;
    let b = Store::connect(&db.url)
        .await
        .expect("connect a second handle");
    b.watch_revocations();
    let deadline = Instant::now() + Duration::from_secs(10);
    while b.auth_generation().is_none() {
        assert!(
            Instant::now() < deadline,
            "the second handle never listened"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    (a, b)
}

/// Runs `write` (made through `a`) and, the moment it returned, checks what moved on `b` and on
/// `a`. `a` is compared only once it hears others (on PostgreSQL: from its first announcement).
async fn check<T>(
    a: &Store,
    b: &Store,
    moves: Moves,
    what: &str,
    write: impl Future<Output = T>,
) -> T {
    let (a0, b0) = (seen(a), seen(b));
    let out = write.await;
    let (a1, b1) = (seen(a), seen(b));
    // On SQLite project changes are not told to other processes (see the module docs).
    let postgres = a.kind() == BackendKind::Postgres;
    let auth = moves == Moves::Auth;
    let project = moves == Moves::Project;
    assert_eq!(
        b1.auth != b0.auth,
        auth,
        "{what}: the other handle's auth generation ({b0:?} → {b1:?})"
    );
    if postgres {
        assert_eq!(
            b1.project != b0.project,
            project,
            "{what}: the other handle's project generation ({b0:?} → {b1:?})"
        );
    }
    if a0.auth.is_some() {
        assert_eq!(
            a1.auth != a0.auth,
            auth,
            "{what}: the writer's auth generation ({a0:?} → {a1:?})"
        );
        assert_eq!(
            a1.project != a0.project,
            project,
            "{what}: the writer's project generation ({a0:?} → {a1:?})"
        );
    } else {
        assert!(
            a1.auth.is_some() || moves == Moves::Neither,
            "{what}: the writer hears others after announcing"
        );
    }
    out
}

async fn generations_revoking_writes_move_the_auth_generation_everywhere_before_they_return(
    db: TestDb,
) {
    let (a, b) = handles(&db).await;
    let ada = create_user(&a, "ada").await;
    // Round after round: a write that returned before the other handle acknowledged would be
    // caught by one of them.
    for round in 0..5 {
        let token = token_of(&a, &ada).await;
        check(
            &a,
            &b,
            Moves::Auth,
            &format!("deleting a token (round {round})"),
            async {
                assert!(a.tokens().delete(token.uuid).await.unwrap().is_some());
            },
        )
        .await;
    }
    let old = token_of(&a, &ada).await;
    check(&a, &b, Moves::Auth, "replacing a token", async {
        a.tokens()
            .replace(old.uuid, &new_personal_token(&ada))
            .await
            .unwrap();
    })
    .await;
    check(&a, &b, Moves::Auth, "disabling a user", async {
        assert!(
            a.users()
                .set_disabled(&ada.login, true)
                .await
                .unwrap()
                .disabled
        );
    })
    .await;
    // A remembered token's owner must not stay disabled either.
    check(&a, &b, Moves::Auth, "enabling a user", async {
        assert!(
            !a.users()
                .set_disabled(&ada.login, false)
                .await
                .unwrap()
                .disabled
        );
    })
    .await;
    a.close().await;
    b.close().await;
}

async fn generations_project_writes_move_the_project_generation_before_they_return(db: TestDb) {
    let (a, b) = handles(&db).await;
    let (owner, bob) = (create_user(&a, "owner").await, create_user(&a, "bob").await);
    let project = create_project(&a, "gh/acme/widgets", &owner).await;
    let r = runner(&a, owner.id, 0).await;
    let builds = a.builds();
    let two = pipeline(
        project.id,
        "main",
        vec![("wf", vec![job("build", &[]), job("deploy", &["build"])])],
    );
    let jobs = check(&a, &b, Moves::Project, "creating a pipeline", async {
        builds.create_pipeline(&two).await.unwrap().1
    })
    .await;
    let (build, _) = check(&a, &b, Moves::Project, "claiming a job", async {
        builds
            .claim_next(r, None)
            .await
            .unwrap()
            .expect("a queued job")
    })
    .await;
    check(&a, &b, Moves::Project, "finishing a job", async {
        assert!(
            builds
                .finish_node(build.id, 0, NodeEnd::by(r, JobState::Success))
                .await
                .unwrap()
        );
    })
    .await;
    check(&a, &b, Moves::Project, "retrying a job", async {
        builds.retry(&build).await.unwrap();
    })
    .await;
    check(&a, &b, Moves::Project, "canceling a workflow", async {
        builds.cancel_workflow(jobs[0].workflow_id).await.unwrap();
    })
    .await;
    let one = pipeline(project.id, "main", vec![("wf", vec![job("build", &[])])]);
    let queued = builds.create_pipeline(&one).await.unwrap().1.remove(0);
    check(&a, &b, Moves::Project, "canceling a queued job", async {
        assert!(builds.request_cancel(queued.id).await.unwrap());
    })
    .await;
    builds.create_pipeline(&one).await.unwrap();
    builds
        .claim_next(r, None)
        .await
        .unwrap()
        .expect("a queued job");
    check(&a, &b, Moves::Project, "reaping a silent job", async {
        let later = circlet_store::now() + time::Duration::hours(1);
        assert_eq!(builds.reap_stale(later).await.unwrap(), 1);
    })
    .await;
    let var = NewEnvVar {
        name: "TOKEN".into(),
        key_id: "k1".into(),
        sealed: b"sealed".to_vec(),
        masked: "xxxxTOKEN".into(),
    };
    check(&a, &b, Moves::Project, "setting a variable", async {
        a.env_vars().set(project.id, &var).await.unwrap();
    })
    .await;
    check(&a, &b, Moves::Project, "deleting a variable", async {
        assert!(a.env_vars().delete(project.id, "TOKEN").await.unwrap());
    })
    .await;
    let projects = a.projects();
    for (what, role) in [
        ("adding a member", Role::Write),
        ("changing a member's role", Role::Read),
    ] {
        check(&a, &b, Moves::Project, what, async {
            projects.set_member(project.id, bob.id, role).await.unwrap();
        })
        .await;
    }
    check(&a, &b, Moves::Project, "removing a member", async {
        projects.remove_member(project.id, bob.id).await.unwrap();
    })
    .await;
    let (url, branch) = other_settings();
    check(&a, &b, Moves::Project, "changing settings", async {
        projects
            .update_settings(project.id, &url, &branch, true)
            .await
            .unwrap();
    })
    .await;
    a.close().await;
    b.close().await;
}

async fn generations_reads_and_writes_that_change_nothing_move_neither(db: TestDb) {
    let (a, b) = handles(&db).await;
    let ada = create_user(&a, "ada").await;
    let project = create_project(&a, "gh/acme/widgets", &ada).await;
    let r = runner(&a, ada.id, 0).await;
    let token = token_of(&a, &ada).await;
    // One announcement of each kind first, so that `a` hears others and is compared too.
    a.tokens().delete(token.uuid).await.unwrap();
    let one = pipeline(project.id, "main", vec![("wf", vec![job("build", &[])])]);
    let queued = a.builds().create_pipeline(&one).await.unwrap().1.remove(0);
    let token = token_of(&a, &ada).await;

    check(&a, &b, Moves::Neither, "reading", async {
        a.ping().await.unwrap();
        a.tokens()
            .by_uuid(token.uuid)
            .await
            .unwrap()
            .expect("the token");
        a.tokens()
            .by_digest(&new_personal_token(&ada).digest)
            .await
            .unwrap();
        a.tokens().list_personal(ada.id).await.unwrap();
        a.tokens().inventory().await.unwrap();
        a.users().by_login(&ada.login).await.unwrap().expect("ada");
        a.users().list().await.unwrap();
        a.projects()
            .by_slug(&project.slug)
            .await
            .unwrap()
            .expect("the project");
        a.projects().members(project.id).await.unwrap();
        a.projects().role_of(project.id, ada.id).await.unwrap();
        a.env_vars().list(project.id).await.unwrap();
        a.builds()
            .job_by_id(queued.id)
            .await
            .unwrap()
            .expect("the job");
    })
    .await;
    // Adding what nobody can have remembered.
    check(
        &a,
        &b,
        Moves::Neither,
        "creating a user, a project and a token",
        async {
            let bob = a.users().create(&new_user("bob")).await.unwrap();
            a.projects()
                .create(&new_project("gh/acme/gadgets"), bob.id)
                .await
                .unwrap();
            a.tokens()
                .create(&new_personal_token(&bob), None)
                .await
                .unwrap();
        },
    )
    .await;
    let gone = uuid::Uuid::new_v4();
    check(&a, &b, Moves::Neither, "deleting no token", async {
        assert!(a.tokens().delete(gone).await.unwrap().is_none());
    })
    .await;
    check(&a, &b, Moves::Neither, "replacing no token", async {
        a.tokens()
            .replace(gone, &new_personal_token(&ada))
            .await
            .unwrap_err();
    })
    .await;
    check(&a, &b, Moves::Neither, "disabling nobody", async {
        a.users()
            .set_disabled(&login("nobody"), true)
            .await
            .unwrap_err();
    })
    .await;
    let builds = a.builds();
    check(
        &a,
        &b,
        Moves::Neither,
        "retrying a job that has not ended",
        async {
            builds.retry(&queued).await.unwrap_err();
        },
    )
    .await;
    check(
        &a,
        &b,
        Moves::Neither,
        "finishing a job that is not running",
        async {
            assert!(
                !builds
                    .finish_node(queued.id, 0, NodeEnd::by(r, JobState::Success))
                    .await
                    .unwrap()
            );
        },
    )
    .await;
    check(&a, &b, Moves::Neither, "canceling no workflow", async {
        builds
            .cancel_workflow(queued.workflow_id + 1000)
            .await
            .unwrap_err();
    })
    .await;
    builds
        .claim_next(r, None)
        .await
        .unwrap()
        .expect("the queued job");
    // What a waiting runner does twice a second.
    check(
        &a,
        &b,
        Moves::Neither,
        "claiming from an empty queue",
        async {
            assert!(builds.claim_next(r, None).await.unwrap().is_none());
        },
    )
    .await;
    check(&a, &b, Moves::Neither, "deleting no variable", async {
        assert!(!a.env_vars().delete(project.id, "NONE").await.unwrap());
    })
    .await;
    let projects = a.projects();
    let carol = create_user(&a, "carol").await;
    check(&a, &b, Moves::Neither, "removing a non-member", async {
        projects
            .remove_member(project.id, carol.id)
            .await
            .unwrap_err();
    })
    .await;
    let (url, branch) = other_settings();
    check(&a, &b, Moves::Neither, "changing no settings", async {
        projects
            .update_settings(project.id + 1000, &url, &branch, true)
            .await
            .unwrap_err();
    })
    .await;
    a.close().await;
    b.close().await;
}
