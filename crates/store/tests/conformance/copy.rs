//! [`Store::copy_into`] (`circlet admin migrate-store`): a store filled through the normal
//! use-cases is copied into a fresh database of the other backend, and everything reads back
//! the same there, found by the same ids, uuids and token digests; new rows then get fresh ids.
//! A target that holds data is refused untouched, and a copy that fails half-way leaves the
//! target empty.

use super::{create_project, create_user, new_personal_token, new_user, now_s, runner};
use circlet_core::Login;
use circlet_core::build_state::JobState;
use circlet_core::forge::decide::{BuildSettings, KnownPr, PrRef};
use circlet_core::token::{NewToken, TokenDigest, TokenKind};
use circlet_core::{BranchName, RepoUrl, Role};
use circlet_store::audit::AuditScope;
use circlet_store::builds::{
    NewJob, NewPipeline, NewWorkflow, NodeEnd, NodeRecord, PipelineOrigin, StepRecord,
    WorkflowRecord,
};
use circlet_store::copy::ROWS_PER_BATCH;
use circlet_store::hooks::{DeliveryRecord, NewDelivery, PrUpdate, Recorded, SealedHookSecret};
use circlet_store::outbound::{
    MessageRecord, NewMessage, NewWebhook, StatusTargetRecord, WebhookRecord,
};
use circlet_store::schedules::{NewSchedule, ScheduleRecord};
use circlet_store::settings::TOKEN_CREATION_DISABLED;
use circlet_store::testkit::TestDb;
use circlet_store::{
    ArtifactRecord, AuditEntry, BackendKind, Conflict, EnvVarRecord, JobRecord, NewArtifact,
    NewAuditEntry, NewEnvVar, NewTokenRecord, PipelineRecord, Project, Store, StoreError,
    TestRecord, TokenRecord, UsageByKind, UsageUpdate, User,
};
use std::collections::BTreeSet;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_into_postgres_keeps_every_row() {
    copy_keeps_every_row(BackendKind::Sqlite, BackendKind::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_into_sqlite_keeps_every_row() {
    copy_keeps_every_row(BackendKind::Postgres, BackendKind::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_store_copies_and_the_target_starts_its_ids_at_one() {
    let (from, to) = (TestDb::sqlite(), TestDb::postgres().await);
    let (source, target) = (from.store().await, connect(&to).await);
    let report = source.copy_into(&target).await.expect("copy");
    assert_eq!(report.total_rows(), 0, "{report:?}");
    assert!(report.tables.iter().any(|t| t.name == "api_tokens"));
    let first = create_user(&target, "first").await;
    assert_eq!(first.id, 1);
    source.close().await;
    target.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_holding_data_is_refused_and_left_unchanged() {
    let from = TestDb::sqlite();
    let source = from.store().await;
    let alice = create_user(&source, "alice").await;
    create_project(&source, "gh/acme/widgets", &alice).await;

    // A user of its own…
    let to = TestDb::postgres().await;
    let target = to.store().await;
    let someone = create_user(&target, "someone").await;
    let err = source.copy_into(&target).await.expect_err("refused");
    let StoreError::Conflict(Conflict::TargetNotEmpty(tables)) = &err else {
        panic!("a non-empty target is a conflict, not {err:?}");
    };
    assert!(
        tables.iter().any(|t| t == "users"),
        "names the table: {tables:?}"
    );
    assert_eq!(target.users().list().await.unwrap(), vec![someone]);
    assert!(target.projects().list_all().await.unwrap().is_empty());
    assert!(target.tokens().inventory().await.unwrap().is_empty());
    assert!(
        target
            .audit()
            .list(AuditScope::All, 10)
            .await
            .unwrap()
            .is_empty()
    );
    target.close().await;

    // …or only the runner token a `circlet serve` started on it made.
    let to = TestDb::postgres().await;
    let target = to.store().await;
    let runner_id = runner(&target).await;
    let err = source.copy_into(&target).await.expect_err("refused");
    assert!(
        matches!(&err, StoreError::Conflict(Conflict::TargetNotEmpty(t)) if t.iter().any(|t| t == "api_tokens")),
        "{err:?}"
    );
    let tokens = target.tokens().inventory().await.unwrap();
    assert_eq!(tokens.len(), 1);
    assert_eq!(tokens[0].token.id, runner_id);
    assert!(target.users().list().await.unwrap().is_empty());
    target.close().await;

    // The source is only read.
    assert_eq!(source.users().list().await.unwrap(), vec![alice]);
    source.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_failing_half_way_leaves_the_target_empty() {
    let from = TestDb::sqlite();
    let source = from.store().await;
    let fx = fill(&source).await;
    // The last table copied holds a row no reader accepts: every other table has been written
    // into the target's transaction by the time the copy fails.
    let raw = sqlx::SqlitePool::connect(&from.url).await.unwrap();
    sqlx::query("UPDATE env_vars SET created_at = 'not a time'")
        .execute(&raw)
        .await
        .unwrap();
    raw.close().await;

    let to = TestDb::postgres().await;
    let target = connect(&to).await;
    let err = source.copy_into(&target).await.expect_err("the copy fails");
    assert!(
        matches!(
            &err,
            StoreError::Copy {
                table: "env_vars",
                ..
            }
        ),
        "the error names the table: {err:?}"
    );
    assert!(target.users().list().await.unwrap().is_empty());
    assert!(target.projects().list_all().await.unwrap().is_empty());
    assert!(target.tokens().inventory().await.unwrap().is_empty());
    assert!(
        target
            .audit()
            .list(AuditScope::All, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        target
            .builds()
            .job_by_id(fx.jobs[0])
            .await
            .unwrap()
            .is_none()
    );
    // Still empty, so a second attempt is not refused as "holding data": it fails the same way.
    let again = source.copy_into(&target).await.expect_err("fails again");
    assert!(
        matches!(
            &again,
            StoreError::Copy {
                table: "env_vars",
                ..
            }
        ),
        "{again:?}"
    );
    source.close().await;
    target.close().await;
}

/// Fills a `from` store, copies it into a fresh `to` store, and compares everything.
async fn copy_keeps_every_row(from: BackendKind, to: BackendKind) {
    let (from_db, to_db) = (TestDb::new(from).await, TestDb::new(to).await);
    let source = from_db.store().await;
    let fx = fill(&source).await;
    let before = dump(&source, &fx).await;

    // Not migrated: the copy migrates the target itself.
    let target = connect(&to_db).await;
    let report = source.copy_into(&target).await.expect("copy");

    assert_eq!(report.rows_in("users"), 3, "{report:?}");
    assert_eq!(report.rows_in("sessions"), 1);
    assert_eq!(report.rows_in("projects"), 2);
    assert_eq!(report.rows_in("project_members"), 3);
    // Two personal, two project, one runner (the revoked one is gone).
    assert_eq!(report.rows_in("api_tokens"), 5);
    assert_eq!(report.rows_in("api_token_usage"), USAGE_KINDS as u64);
    assert_eq!(report.rows_in("api_token_projects"), 1);
    assert_eq!(report.rows_in("api_token_project_usage"), 1);
    assert_eq!(report.rows_in("job_tests"), TESTS as u64);
    assert_eq!(report.rows_in("env_vars"), 2);
    assert_eq!(report.rows_in("instance_settings"), 1);
    assert_eq!(report.rows_in("orbs"), 1);
    assert!(report.rows_in("pipeline_configs") > 0, "{report:?}");
    assert!(report.rows_in("pipeline_setups") > 0, "{report:?}");
    assert_eq!(report.rows_in("continuation_keys"), 1);
    assert_eq!(report.rows_in("job_artifacts"), 2);
    assert!(report.rows_in("audit_log") >= 3);
    assert_eq!(report.rows_in("hook_deliveries"), 3);
    assert_eq!(report.rows_in("project_hook_secrets"), 1);
    assert_eq!(report.rows_in("pull_requests"), PULL_REQUESTS.len() as u64);
    assert_eq!(report.rows_in("schedules"), 4);
    assert_eq!(report.rows_in("poll_heads"), 2);
    assert_eq!(report.rows_in("project_status_targets"), 1);
    assert_eq!(report.rows_in("outbound_webhooks"), 2);
    assert_eq!(report.rows_in("outbox"), 4);
    assert_eq!(report.rows_in("organizations"), 2);
    assert_eq!(report.rows_in("oidc_keys"), 1);
    assert_eq!(report.rows_in("contexts"), 1);
    assert_eq!(report.rows_in("context_env_vars"), 1);
    assert_eq!(report.rows_in("context_restrictions"), 1);
    assert_eq!(
        report.total_rows(),
        report.tables.iter().map(|t| t.rows).sum::<u64>()
    );

    let mut after = dump(&target, &fx).await;
    if from == BackendKind::Sqlite && to == BackendKind::Postgres {
        // PostgreSQL text cannot hold NUL: the one chunk that had one says so, and only it.
        assert_eq!(report.nul_replaced, 1);
        let chunk = &mut after.outputs[0].1[0].1;
        assert_eq!(chunk, "nul:\u{FFFD}.");
        *chunk = "nul:\0.".into();
    } else {
        assert_eq!(report.nul_replaced, 0);
    }
    assert_eq!(before.users, after.users);
    assert!(
        before.organizations.len() >= 2,
        "{:?}",
        before.organizations
    );
    assert_eq!(before.organizations, after.organizations);
    assert_eq!(before.oidc_keys.len(), 1);
    assert_eq!(before.oidc_keys, after.oidc_keys);
    assert_eq!(before.contexts.len(), 1);
    assert_eq!(before.contexts, after.contexts);
    assert_eq!(before.passwords, after.passwords);
    assert_eq!(before.session_user, after.session_user);
    assert_eq!(before.projects, after.projects);
    assert_eq!(before.members, after.members);
    assert_eq!(before.tokens, after.tokens);
    assert_eq!(before.by_digest, after.by_digest);
    assert_eq!(before.usage, after.usage);
    assert_eq!(before.audit, after.audit);
    assert_eq!(before.setting, after.setting);
    assert_eq!(before.pipelines, after.pipelines);
    assert_eq!(before.configs, after.configs);
    assert_eq!(before.setups, after.setups);
    assert_eq!(before.keyed, after.keyed);
    assert!(
        before.keyed.iter().any(Option::is_some),
        "a continuation key is copied"
    );
    assert!(
        before.configs.iter().any(Option::is_some),
        "a pipeline config is copied"
    );
    assert_eq!(before.workflows, after.workflows);
    assert_eq!(before.jobs, after.jobs);
    assert!(
        before.nodes.iter().any(|n| !n.is_empty()),
        "claimed nodes are copied"
    );
    assert_eq!(before.nodes, after.nodes);
    assert_eq!(before.steps, after.steps);
    assert_eq!(before.outputs, after.outputs);
    assert_eq!(before.tests, after.tests);
    assert_eq!(before.artifacts, after.artifacts);
    assert_eq!(before.env_vars, after.env_vars);
    assert!(
        before
            .projects
            .iter()
            .any(|p| p.builds != BuildSettings::default()),
        "a project's build settings are copied"
    );
    assert!(
        before.pipelines.iter().any(|p| {
            p.pull_request().is_some_and(|pr| pr.fork)
                && p.fetch_ref.is_some()
                && p.secrets_withheld
                && p.delivery_id.is_some()
        }),
        "a forked pull request's pipeline is copied"
    );
    assert!(before.hook_secrets.iter().any(Option::is_some));
    assert_eq!(before.hook_secrets, after.hook_secrets);
    assert!(
        before
            .deliveries
            .iter()
            .flatten()
            .any(|d| d.redelivery_of.is_some() && d.outcome != "received"),
        "settled deliveries and redeliveries are copied"
    );
    assert_eq!(before.deliveries, after.deliveries);
    assert!(
        before
            .pull_requests
            .iter()
            .any(|(pr, open)| pr.is_some() && open.is_some())
            && before
                .pull_requests
                .iter()
                .any(|(pr, open)| pr.is_some() && open.is_none()),
        "open and closed or forked pull requests are copied: {:?}",
        before.pull_requests
    );
    assert_eq!(before.pull_requests, after.pull_requests);
    let all_schedules = || before.schedules.iter().flat_map(|(a, c)| a.iter().chain(c));
    assert!(
        all_schedules().any(|s| s.source == "api" && s.last_run_at.is_some())
            && all_schedules().any(|s| s.source == "api" && s.next_run_at.is_none())
            && all_schedules().any(|s| s.source == "config" && s.workflow.is_some()),
        "fired, finished and config schedules are copied: {:?}",
        before.schedules
    );
    assert_eq!(before.schedules, after.schedules);
    assert_eq!(before.schedules_due, after.schedules_due);
    assert!(
        before
            .projects
            .iter()
            .any(|p| p.poll_interval_secs == Some(300)),
        "a polled project is copied"
    );
    assert_eq!(before.polls_due.len(), 1, "its next poll is copied");
    assert_eq!(before.polls_due, after.polls_due);
    assert_eq!(before.poll_heads, after.poll_heads);
    assert!(before.status_targets.iter().any(Option::is_some));
    assert_eq!(before.status_targets, after.status_targets);
    assert!(
        before.webhooks.iter().flatten().any(|w| w.verify_tls)
            && before.webhooks.iter().flatten().any(|w| !w.verify_tls),
        "webhooks with and without certificate checks are copied"
    );
    assert_eq!(before.webhooks, after.webhooks);
    let states: BTreeSet<(&str, bool, bool)> = before
        .messages
        .iter()
        .flatten()
        .map(|m| {
            (
                m.state.as_str(),
                m.delivered_at.is_some(),
                m.last_status.is_some(),
            )
        })
        .collect();
    assert_eq!(
        states,
        BTreeSet::from([
            ("delivered", true, true),
            ("failed", false, false),
            ("pending", false, false),
            ("pending", false, true),
        ]),
        "messages in every state are copied"
    );
    assert_eq!(before.messages, after.messages);
    assert_eq!(before.outbox_due.len(), 2);
    assert_eq!(before.outbox_due, after.outbox_due);
    assert!(
        before.notified_states.iter().any(Option::is_some)
            && before.notified_states.iter().any(Option::is_none),
        "{:?}",
        before.notified_states
    );
    assert_eq!(before.notified_states, after.notified_states);
    assert_eq!(before.jobs_to_notify, after.jobs_to_notify);
    assert_eq!(before.workflows_to_notify, after.workflows_to_notify);
    assert_eq!(before, after);

    // The revoked token stays revoked; the others are found by their digest.
    assert!(
        target
            .tokens()
            .by_digest(&fx.revoked_digest)
            .await
            .unwrap()
            .is_none()
    );
    new_rows_get_fresh_ids(&target, &fx, &before).await;
    source.close().await;
    target.close().await;
}

/// Connects to a test database without migrating it.
async fn connect(db: &TestDb) -> Store {
    Store::connect(&db.url).await.expect("connect")
}

/// Kinds of request recorded for one token: more than a batch, so the copy of a table with a
/// two-column key resumes across batches.
const USAGE_KINDS: usize = ROWS_PER_BATCH + 7;
/// Test results of one job: more than two batches of a table with generated ids.
const TESTS: usize = 2 * ROWS_PER_BATCH + 3;

/// The pull requests [`fill`] notes: (project index, number, head branch, fork, open).
const PULL_REQUESTS: [(usize, u64, &str, bool, bool); 4] = [
    (0, 40, "topic", false, true),
    (0, 41, "fix", false, false),
    (0, 42, "feature", true, true),
    (1, 1, "trunk-fix", false, true),
];

/// What [`fill`] made, to look it up again after the copy.
struct Fixture {
    logins: Vec<Login>,
    session: String,
    projects: Vec<i64>,
    digests: Vec<TokenDigest>,
    revoked_digest: TokenDigest,
    revoked_id: i64,
    jobs: Vec<i64>,
}

/// Fills `store` through its use-cases: every table gets rows, with NULLs and non-NULLs,
/// booleans both ways, binary values, and a job's whole life.
async fn fill(store: &Store) -> Fixture {
    let alice = store
        .users()
        .create_first_admin(&new_user("alice"))
        .await
        .unwrap()
        .expect("first admin");
    let bob = create_user(store, "bob").await;
    let carol = create_user(store, "carol").await;
    store
        .users()
        .set_disabled(&carol.login, true)
        .await
        .unwrap();
    let session = "session-digest-of-alice".to_owned();
    store
        .sessions()
        .create(&session, alice.id, now_s() + Duration::days(1))
        .await
        .unwrap();

    let widgets = create_project(store, "gh/acme/widgets", &alice).await;
    let gadgets = create_project(store, "bb/acme/Gadgets", &bob).await;
    store
        .projects()
        .update_settings(
            gadgets.id,
            &RepoUrl::parse("file:///srv/git/gadgets").unwrap(),
            &BranchName::parse("trunk").unwrap(),
            true,
        )
        .await
        .unwrap();
    store
        .projects()
        .set_member(widgets.id, bob.id, Role::Write)
        .await
        .unwrap();

    // Tokens of every kind, with and without expiry, used and unused.
    let mut digests = Vec::new();
    let mut personal = new_personal_token(&alice);
    personal.expires_at = Some(now_s() + Duration::days(30));
    // Fine-grained: limited to an organization; Bob's below to a project and a role.
    let acme = store
        .organizations()
        .by_name(circlet_core::Vcs::GitHub, "acme")
        .await
        .unwrap()
        .unwrap();
    personal.limits = circlet_core::token_limits::TokenLimits {
        reach: circlet_core::token_limits::Reach::Organization(
            circlet_core::token_limits::LimitOrganization {
                id: acme.id,
                vcs: acme.vcs,
                name: acme.name,
            },
        ),
        ceiling: None,
    };
    let alice_token = store.tokens().create(&personal, Some(10)).await.unwrap();
    digests.push(personal.digest);
    let mut bobs = new_personal_token(&bob);
    bobs.limits = circlet_core::token_limits::TokenLimits {
        reach: circlet_core::token_limits::Reach::Projects(vec![
            circlet_core::token_limits::LimitProject {
                id: widgets.id,
                slug: widgets.slug.clone(),
            },
        ]),
        ceiling: Some(Role::Read),
    };
    store.tokens().create(&bobs, None).await.unwrap();
    digests.push(bobs.digest);
    for (scope, expires_at) in [
        (circlet_core::scope::ProjectScope::Status, None),
        (
            circlet_core::scope::ProjectScope::All,
            Some(now_s() + Duration::days(7)),
        ),
    ] {
        let value = NewToken::generate(TokenKind::Project);
        let new = NewTokenRecord {
            limits: Default::default(),
            kind: TokenKind::Project,
            digest: value.digest(),
            last4: value.last4(),
            name: format!("{} token", scope.as_str()),
            user_id: None,
            project_id: Some(widgets.id),
            scope: Some(scope),
            created_by: Some(alice.id),
            expires_at,
        };
        store.tokens().create(&new, None).await.unwrap();
        digests.push(new.digest);
    }
    let runner_id = runner(store).await;
    let kinds = (0..USAGE_KINDS)
        .map(|i| (format!("kind-{i:04}"), i as i64 + 1))
        .collect();
    store
        .tokens()
        .record_usage(&[UsageUpdate {
            token_id: alice_token.id,
            at: Some(now_s()),
            addresses: vec!["10.0.0.2".into(), "10.0.0.1".into()],
            kinds,
            projects: vec![widgets.id],
        }])
        .await
        .unwrap();
    // Made last and deleted: its id was handed out, so the target must not hand it out again.
    let revoked = new_personal_token(&bob);
    let revoked_id = store.tokens().create(&revoked, None).await.unwrap().id;
    let gone = store
        .tokens()
        .by_digest(&revoked.digest)
        .await
        .unwrap()
        .unwrap();
    store.tokens().delete(gone.uuid).await.unwrap();

    for (event, token_uuid) in [
        ("token.created", Some(alice_token.uuid)),
        ("token.revoked", Some(gone.uuid)),
        ("auth.failed", None),
    ] {
        store
            .audit()
            .append(&NewAuditEntry {
                event: event.into(),
                actor_id: Some(alice.id),
                actor_login: "alice".into(),
                owner_id: token_uuid.map(|_| bob.id),
                project_id: Some(widgets.id),
                token_uuid,
                address: "10.0.0.1".into(),
                detail: format!("{event} detail"),
            })
            .await
            .unwrap();
    }
    store
        .settings()
        .set(TOKEN_CREATION_DISABLED, "true")
        .await
        .unwrap();
    let acme = store
        .organizations()
        .by_name(circlet_core::Vcs::GitHub, "acme")
        .await
        .unwrap()
        .unwrap();
    let deploy = store.contexts().create(acme.id, "deploy").await.unwrap();
    store
        .contexts()
        .set_var(
            deploy.id,
            &circlet_store::NewEnvVar {
                name: "DEPLOY_TOKEN".into(),
                key_id: "env-1".into(),
                sealed: b"sealed\0value".to_vec(),
                masked: "xxxx9876".into(),
            },
        )
        .await
        .unwrap();
    store
        .contexts()
        .restrict(
            deploy.id,
            circlet_core::context::RestrictionKind::Project,
            &widgets.uuid.to_string(),
        )
        .await
        .unwrap();
    store
        .oidc_keys()
        .create_first(&circlet_store::NewOidcKey {
            kid: "kid-1",
            algorithm: "ES256",
            public_jwk: "{\"kty\":\"EC\"}",
            sealed_private: b"sealed\0bytes",
            seal_key_id: "env-1",
        })
        .await
        .unwrap();
    store
        .orbs()
        .publish(&circlet_store::NewOrb {
            namespace: "acme",
            name: "tools",
            version: (1, 2, 3),
            source: "version: 2.1\ncommands: {hi: {steps: [{run: echo hi}]}}\n",
            digest: "d",
            published_by: "admin-cli",
        })
        .await
        .unwrap();

    // A job's whole life: claimed, steps with output and exit codes, tests, artifacts, failed;
    // the job that required it not run; a retry running with a cancel requested.
    let (pipeline, jobs) = store
        .builds()
        .create_pipeline(&new_pipeline(widgets.id, &[("a", &[]), ("b", &["a"])]))
        .await
        .unwrap();
    store
        .builds()
        .add_continuation_key(pipeline.id, "continuation-digest")
        .await
        .unwrap();
    let builds = store.builds();
    let (a, _) = builds.claim_next(runner_id, None).await.unwrap().unwrap();
    assert_eq!(a.id, jobs[0].id);
    builds.heartbeat(a.id, 0, runner_id).await.unwrap();
    builds.start_step(a.id, 0, 0, "Checkout").await.unwrap();
    // SQLite text holds a NUL (a job printed one); PostgreSQL text cannot.
    let first_chunk = match store.kind() {
        BackendKind::Sqlite => "nul:\0.",
        BackendKind::Postgres => "nul:.",
    };
    builds
        .append_output(a.id, 0, 0, 1, first_chunk)
        .await
        .unwrap();
    builds
        .append_output(a.id, 0, 0, 2, "cloned\n")
        .await
        .unwrap();
    builds
        .finish_step(a.id, 0, 0, "success", Some(0))
        .await
        .unwrap();
    builds.start_step(a.id, 0, 1, "Tests").await.unwrap();
    builds
        .append_output(a.id, 0, 1, 1, "ünïcode ✓\n")
        .await
        .unwrap();
    builds
        .finish_step(a.id, 0, 1, "failed", Some(1))
        .await
        .unwrap();
    builds.start_step(a.id, 0, 2, "Never ends").await.unwrap();
    let tests: Vec<TestRecord> = (0..TESTS)
        .map(|i| TestRecord {
            classname: format!("suite{}", i % 7),
            name: format!("test {i}"),
            file: (i % 2 == 0).then(|| format!("tests/t{i}.rs")),
            result: if i % 5 == 0 { "failure" } else { "success" }.into(),
            message: (i % 5 == 0).then(|| "assertion failed".into()),
            run_time: i as f64 / 8.0,
            node_index: 0,
        })
        .collect();
    builds.add_tests(a.id, &tests).await.unwrap();
    for path in ["report.html", "dir/log.txt"] {
        store
            .artifacts()
            .record(&NewArtifact {
                job_id: a.id,
                node_index: 0,
                path: circlet_core::artifact_path::ArtifactPath::parse(path).unwrap(),
                size: 1234,
                content_type: "text/plain".into(),
                sha256: "ab".repeat(32),
                store_etag: (path == "dir/log.txt").then(|| "\"etag\"".into()),
            })
            .await
            .unwrap();
    }
    assert!(
        builds
            .finish_node(a.id, 0, NodeEnd::by(runner_id, JobState::Failed))
            .await
            .unwrap()
    );
    let stored_a = builds.job_by_id(a.id).await.unwrap().unwrap();
    let retry = builds.retry(&stored_a).await.unwrap();
    let (claimed, _) = builds.claim_next(runner_id, None).await.unwrap().unwrap();
    assert_eq!(claimed.id, retry.id);
    assert!(builds.request_cancel(retry.id).await.unwrap());

    // An errored pipeline and a canceled workflow on the other project.
    let mut errored = new_pipeline(gadgets.id, &[]);
    errored.errors = vec!["config: \"jobs\" is missing".into()];
    errored.workflows.clear();
    builds.create_pipeline(&errored).await.unwrap();
    let (other, other_jobs) = builds
        .create_pipeline(&new_pipeline(gadgets.id, &[("deploy", &[])]))
        .await
        .unwrap();
    builds
        .cancel_workflow(other_jobs[0].workflow_id)
        .await
        .unwrap();
    assert_ne!(other.id, pipeline.id);

    store
        .env_vars()
        .set(
            widgets.id,
            &NewEnvVar {
                name: "DEPLOY_KEY".into(),
                key_id: "k1".into(),
                sealed: vec![0, 159, 255, 1, 0],
                masked: "xxxxe-42".into(),
            },
        )
        .await
        .unwrap();
    store
        .env_vars()
        .set(
            gadgets.id,
            &NewEnvVar {
                name: "A".into(),
                key_id: "k2".into(),
                sealed: b"sealed".to_vec(),
                masked: "xxxx".into(),
            },
        )
        .await
        .unwrap();

    // What forges' webhooks leave: build settings, a secret, deliveries (settled, one
    // redelivering another), pull requests open, closed and forked, and a forked pull
    // request's pipeline started by a delivery.
    store
        .projects()
        .set_build_settings(
            gadgets.id,
            BuildSettings {
                build_prs_only: true,
                autocancel_builds: true,
                build_fork_prs: false,
                forks_receive_secrets: true,
            },
        )
        .await
        .unwrap();
    let hooks = store.hooks();
    hooks
        .set_secret(widgets.id, "k1", &[0, 200, 255, 7])
        .await
        .unwrap();
    let delivered = record_delivery(store, widgets.id, "delivery-1", None).await;
    hooks
        .settle(delivered.id, "built", "pipeline 2")
        .await
        .unwrap();
    let redelivered = record_delivery(store, widgets.id, "redelivery-1", Some(delivered.id)).await;
    hooks
        .settle(redelivered.id, "skipped", "already built")
        .await
        .unwrap();
    record_delivery(store, gadgets.id, "delivery-1", None).await;
    for (project, number, head_branch, fork, open) in PULL_REQUESTS {
        let project_id = [widgets.id, gadgets.id][project];
        let head_sha = format!("{number:040}");
        let pr = PrUpdate {
            number,
            head_branch,
            head_sha: &head_sha,
            fork,
            open,
        };
        hooks.note_pull_request(project_id, &pr).await.unwrap();
    }
    let mut forked = new_pipeline(widgets.id, &[("pr", &[])]);
    forked.trigger_type = "webhook".into();
    forked.origin = PipelineOrigin {
        pull_request: Some(PrRef {
            number: 42,
            url: "https://github.com/acme/widgets/pull/42".into(),
            head_repo: "someone/widgets".into(),
            author: "someone".into(),
            fork: true,
        }),
        fetch_ref: Some("refs/pull/42/head".into()),
        secrets_withheld: true,
        delivery_id: Some(delivered.id),
    };
    let (_, forked_jobs) = builds.create_pipeline(&forked).await.unwrap();

    fill_outbound(store, &alice, &widgets, &gadgets).await;
    // Told: a failed job as failed, a running one as queued (so still to be told), and all of
    // gadgets' past (its canceled workflow, which a copy that lost that would tell again).
    assert!(
        builds
            .claim_job_notice(jobs[0].id, None, JobState::Failed)
            .await
            .unwrap()
    );
    assert!(
        builds
            .claim_job_notice(retry.id, None, JobState::Queued)
            .await
            .unwrap()
    );
    let untold = builds.workflows_to_notify(100).await.unwrap();
    assert!(
        untold.iter().any(|w| w.id == other_jobs[0].workflow_id),
        "gadgets' canceled workflow is to be told: {untold:?}"
    );
    builds.mark_told(gadgets.id).await.unwrap();

    Fixture {
        logins: vec![alice.login, bob.login, carol.login],
        session,
        projects: vec![widgets.id, gadgets.id],
        digests,
        revoked_digest: revoked.digest,
        revoked_id,
        jobs: vec![
            jobs[0].id,
            jobs[1].id,
            retry.id,
            other_jobs[0].id,
            forked_jobs[0].id,
        ],
    }
}

/// Fills what schedules and what circlet tells others keep: API schedules (one fired, one
/// never due again), a config's cron triggers, a polled project and the heads it saw, a
/// status target, webhooks (certificates checked and not) and messages in every state.
async fn fill_outbound(store: &Store, alice: &User, widgets: &Project, gadgets: &Project) {
    let schedules = store.schedules();
    let nightly = schedules
        .create(&NewSchedule {
            project_id: widgets.id,
            source: "api",
            name: "nightly",
            description: "every night",
            timetable: r#"{"per-hour":1,"hours-of-day":[3],"days-of-week":["MON"]}"#,
            parameters: r#"{"deploy":true}"#,
            branch: Some("main"),
            tag: None,
            workflow: None,
            actor_id: Some(alice.id),
            actor_login: "alice",
            next_run_at: Some(now_s() + Duration::hours(1)),
        })
        .await
        .unwrap();
    assert!(
        schedules
            .advance(
                nightly.id,
                nightly.next_run_at.unwrap(),
                Some(now_s() + Duration::days(1)),
                Some(now_s()),
            )
            .await
            .unwrap()
    );
    schedules
        .create(&NewSchedule {
            project_id: widgets.id,
            source: "api",
            name: "release",
            description: "",
            timetable: r#"{"per-hour":1}"#,
            parameters: "{}",
            branch: None,
            tag: Some("v1.0"),
            workflow: None,
            actor_id: None,
            actor_login: "system",
            next_run_at: None,
        })
        .await
        .unwrap();
    let triggers = [
        (
            "build".to_owned(),
            "0 * * * *".to_owned(),
            Some(now_s() + Duration::minutes(30)),
        ),
        ("deploy".to_owned(), "0 0 * * 1".to_owned(), None),
    ];
    schedules
        .set_config_schedules(gadgets.id, "trunk", &triggers, "bob")
        .await
        .unwrap();

    let polls = store.polls();
    polls.set_interval(widgets.id, Some(300)).await.unwrap();
    let due = polls.due(now_s() + Duration::days(1), 10).await.unwrap();
    assert_eq!(due.len(), 1);
    assert!(
        polls
            .advance(widgets.id, due[0].1, now_s() + Duration::minutes(5))
            .await
            .unwrap()
    );
    let heads = [
        ("refs/heads/main".to_owned(), "a".repeat(40)),
        ("refs/tags/v1.0".to_owned(), "b".repeat(40)),
    ];
    polls.set_heads(widgets.id, &heads).await.unwrap();

    let outbound = store.outbound();
    outbound
        .set_status_target(
            widgets.id,
            "gitea",
            "https://gitea.example.com/api/v1",
            "acme/widgets",
            "k1",
            &[0, 1, 255],
        )
        .await
        .unwrap();
    let checked = outbound
        .create_webhook(
            Uuid::new_v4(),
            &NewWebhook {
                project_id: widgets.id,
                name: "chat",
                url: "https://hooks.example.com/chat",
                verify_tls: true,
                events: "workflow-completed,job-completed",
                key_id: "k1",
                sealed: &[9, 0, 255],
            },
        )
        .await
        .unwrap();
    let unchecked = outbound
        .create_webhook(
            Uuid::new_v4(),
            &NewWebhook {
                project_id: gadgets.id,
                name: "self-signed",
                url: "https://10.0.0.9/hook",
                verify_tls: false,
                events: "job-completed",
                key_id: "k2",
                sealed: b"sealed",
            },
        )
        .await
        .unwrap();
    // Delivered, to be retried after a first attempt, given up, and pending.
    for (project_id, webhook, event, state) in [
        (
            widgets.id,
            None,
            "status: ci/circlet: a failed",
            "delivered",
        ),
        (widgets.id, Some(&checked), "job-completed", "pending"),
        (gadgets.id, Some(&unchecked), "job-completed", "failed"),
        (widgets.id, Some(&checked), "workflow-completed", "new"),
    ] {
        outbound
            .enqueue(&message(project_id, webhook, event))
            .await
            .unwrap();
        let queued = outbound
            .log(project_id, webhook.map(|w| w.id), 1)
            .await
            .unwrap()
            .remove(0);
        match state {
            "new" => {}
            "pending" => {
                assert!(
                    outbound
                        .take(&queued, now_s() + Duration::minutes(1))
                        .await
                        .unwrap()
                );
                let retry_at = now_s() + Duration::minutes(10);
                outbound
                    .settle(
                        queued.id,
                        state,
                        Some(503),
                        "503 Service Unavailable",
                        retry_at,
                    )
                    .await
                    .unwrap();
            }
            _ => {
                let status = (state == "delivered").then_some(201);
                outbound
                    .settle(queued.id, state, status, "", now_s())
                    .await
                    .unwrap();
            }
        }
    }
}

/// A message for `webhook`, or a commit status when `None`.
fn message<'a>(
    project_id: i64,
    webhook: Option<&'a WebhookRecord>,
    event: &'a str,
) -> NewMessage<'a> {
    NewMessage {
        project_id,
        webhook_id: webhook.map(|w| w.id),
        kind: if webhook.is_some() {
            "webhook"
        } else {
            "status"
        },
        event,
        url: webhook.map_or("https://gitea.example.com/api/v1/statuses", |w| &w.url),
        body: r#"{"state":"success","description":"ünïcode ✓"}"#,
    }
}

/// Records a delivery of `id` to `project_id` (as a new one).
async fn record_delivery(
    store: &Store,
    project_id: i64,
    id: &str,
    redelivery_of: Option<i64>,
) -> DeliveryRecord {
    let new = NewDelivery {
        project_id,
        forge: "github",
        delivery: id,
        event: "pull_request",
        body: b"{\"number\":42}\0\xff",
        redelivery_of,
    };
    match store.hooks().record(&new).await.unwrap() {
        Recorded::New(d) => d,
        Recorded::Seen(d) => panic!("{id} was seen before: {d:?}"),
    }
}

/// A pipeline on `main` with one workflow of `jobs` (name, requires).
fn new_pipeline(project_id: i64, jobs: &[(&str, &[&str])]) -> NewPipeline {
    NewPipeline {
        actor_role_ceiling: None,
        id: None,
        project_id,
        number: None,
        commit_json: r#"{"subject":"Fix \"it\""}"#.into(),
        trigger_type: "api".into(),
        actor_id: None,
        actor_login: "alice".into(),
        branch: Some("main".into()),
        tag: None,
        revision: "0123456789abcdef0123456789abcdef01234567".into(),
        parameters_json: r#"{"deploy":true}"#.into(),
        errors: vec![],
        why: "api".into(),
        config: Some((
            "version: 2.1\n# source\n".into(),
            "version: 2\n# compiled\n".into(),
        )),
        // A setup pipeline, so its row is copied too.
        setup: true,
        origin: Default::default(),
        workflows: vec![NewWorkflow {
            name: "build".into(),
            jobs: jobs
                .iter()
                .map(|(name, requires)| NewJob {
                    name: (*name).into(),
                    requires: requires.iter().map(|r| (*r).to_owned()).collect(),
                    accepts: vec![],
                    approval: false,
                    spec_json: r#"{"steps":[]}"#.into(),
                    build_parameters_json: "{}".into(),
                    resource_class: None,
                    parallelism: 1,
                })
                .collect(),
        }],
    }
}

/// Everything a store answers about the fixture, through its use-cases.
#[derive(Debug, PartialEq)]
struct Dump {
    users: Vec<User>,
    passwords: Vec<String>,
    session_user: Option<User>,
    projects: Vec<Project>,
    members: Vec<Vec<(String, Role)>>,
    tokens: Vec<(TokenRecord, Option<String>, Option<String>)>,
    by_digest: Vec<Option<TokenRecord>>,
    usage: Vec<Vec<UsageByKind>>,
    audit: Vec<AuditEntry>,
    setting: Option<String>,
    pipelines: Vec<PipelineRecord>,
    configs: Vec<Option<(String, String)>>,
    setups: Vec<Option<circlet_store::builds::SetupState>>,
    keyed: Vec<Option<i64>>,
    workflows: Vec<WorkflowRecord>,
    jobs: Vec<JobRecord>,
    /// Each job's claimed nodes: who ran them, their heartbeats.
    nodes: Vec<Vec<NodeRecord>>,
    steps: Vec<Vec<StepRecord>>,
    /// Per step of each job: its output chunks and its byte count.
    outputs: Vec<(i64, Vec<(i64, String)>)>,
    tests: Vec<Vec<TestRecord>>,
    artifacts: Vec<Vec<ArtifactRecord>>,
    env_vars: Vec<Vec<EnvVarRecord>>,
    orbs: Vec<circlet_store::OrbRecord>,
    orb_source: Option<String>,
    /// The organizations of alice's and bob's projects.
    organizations: Vec<circlet_store::Organization>,
    /// The OIDC keys published.
    oidc_keys: Vec<circlet_store::OidcKeyRecord>,
    /// Every organization's contexts, with their variables and restrictions.
    contexts: Vec<(
        circlet_store::Context,
        Vec<circlet_store::ContextVar>,
        Vec<circlet_store::Restriction>,
    )>,
    /// Each project's webhook secret.
    hook_secrets: Vec<Option<SealedHookSecret>>,
    /// Each project's deliveries.
    deliveries: Vec<Vec<DeliveryRecord>>,
    /// Each of [`PULL_REQUESTS`] by its number, and the open one of the project's own
    /// repository on its head branch.
    pull_requests: Vec<(Option<KnownPr>, Option<KnownPr>)>,
    /// Each project's API and config schedules.
    schedules: Vec<(Vec<ScheduleRecord>, Vec<ScheduleRecord>)>,
    /// Every schedule that is ever due, when due.
    schedules_due: Vec<ScheduleRecord>,
    /// The projects polled, with when each is next due.
    polls_due: Vec<(Project, OffsetDateTime)>,
    /// Each project's heads as last polled.
    poll_heads: Vec<Vec<(String, String)>>,
    /// Each project's commit-status target.
    status_targets: Vec<Option<StatusTargetRecord>>,
    /// Each project's outbound webhooks.
    webhooks: Vec<Vec<WebhookRecord>>,
    /// Each project's log: its commit statuses, then each webhook's messages.
    messages: Vec<Vec<MessageRecord>>,
    /// Every message still to be sent, when due.
    outbox_due: Vec<MessageRecord>,
    /// What each job was last told as.
    notified_states: Vec<Option<String>>,
    /// The jobs and workflows still to be told.
    jobs_to_notify: Vec<JobRecord>,
    workflows_to_notify: Vec<WorkflowRecord>,
}

async fn dump(store: &Store, fx: &Fixture) -> Dump {
    let users = store.users().list().await.unwrap();
    let mut organizations = Vec::new();
    for user in &users {
        organizations.extend(store.organizations().of_member(user.id).await.unwrap());
    }
    let mut contexts = Vec::new();
    let mut org_ids: Vec<i64> = organizations.iter().map(|o| o.id).collect();
    org_ids.sort_unstable();
    org_ids.dedup();
    for &org in &org_ids {
        for c in store.contexts().list(org).await.unwrap() {
            let vars = store.contexts().vars(c.id).await.unwrap();
            let restrictions = store.contexts().restrictions(c.id).await.unwrap();
            contexts.push((c, vars, restrictions));
        }
    }
    let mut passwords = Vec::new();
    for login in &fx.logins {
        passwords.push(store.users().credentials(login).await.unwrap().unwrap().1);
    }
    let session_user = store
        .sessions()
        .user_for(&fx.session, now_s())
        .await
        .unwrap();
    let projects = store.projects().list_all().await.unwrap();
    let mut members = Vec::new();
    let mut pipelines = Vec::new();
    let mut env_vars = Vec::new();
    let (mut hook_secrets, mut deliveries) = (Vec::new(), Vec::new());
    let (mut schedules, mut poll_heads) = (Vec::new(), Vec::new());
    let (mut status_targets, mut webhooks, mut messages) = (Vec::new(), Vec::new(), Vec::new());
    for &id in &fx.projects {
        schedules.push((
            store
                .schedules()
                .of_project(id, "api", 0, 1000)
                .await
                .unwrap(),
            store
                .schedules()
                .of_project(id, "config", 0, 1000)
                .await
                .unwrap(),
        ));
        poll_heads.push(store.polls().heads(id).await.unwrap());
        status_targets.push(store.outbound().status_target(id).await.unwrap());
        let hooks = store.outbound().webhooks(id).await.unwrap();
        let mut log = store.outbound().log(id, None, 1000).await.unwrap();
        for hook in &hooks {
            log.extend(store.outbound().log(id, Some(hook.id), 1000).await.unwrap());
        }
        messages.push(log);
        webhooks.push(hooks);
        hook_secrets.push(store.hooks().secret(id).await.unwrap());
        deliveries.push(store.hooks().deliveries(id, 1000).await.unwrap());
        let list = store.projects().members(id).await.unwrap();
        members.push(
            list.into_iter()
                .map(|m| (m.user.login.to_string(), m.role))
                .collect(),
        );
        let page = store.builds().pipelines(id, None, None, 100).await.unwrap();
        pipelines.extend(page.pipelines);
        env_vars.push(store.env_vars().list(id).await.unwrap());
    }
    let tokens: Vec<_> = store
        .tokens()
        .inventory()
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.token, e.user_login, e.project_slug))
        .collect();
    let mut by_digest = Vec::new();
    for digest in &fx.digests {
        by_digest.push(store.tokens().by_digest(digest).await.unwrap());
    }
    let mut usage = Vec::new();
    for (token, _, _) in &tokens {
        usage.push(
            store
                .tokens()
                .usage(token.id, OffsetDateTime::UNIX_EPOCH)
                .await
                .unwrap(),
        );
        usage.push(
            store
                .tokens()
                .projects_used(token.id, OffsetDateTime::UNIX_EPOCH)
                .await
                .unwrap()
                .into_iter()
                .map(|id| circlet_store::UsageByKind {
                    request_kind: format!("project {id}"),
                    count: 0,
                    last_at: OffsetDateTime::UNIX_EPOCH,
                })
                .collect(),
        );
    }
    let mut workflows = Vec::new();
    let mut configs = Vec::new();
    let (mut setups, mut keyed) = (Vec::new(), Vec::new());
    for p in &pipelines {
        workflows.extend(store.builds().workflows(p.id).await.unwrap());
        configs.push(store.builds().pipeline_config(p.id).await.unwrap());
        setups.push(store.builds().setup_state(p.id).await.unwrap());
        keyed.push(
            store
                .builds()
                .pipeline_by_continuation_key("continuation-digest")
                .await
                .unwrap()
                .map(|k| k.id),
        );
    }
    let (mut jobs, mut nodes, mut steps, mut outputs, mut tests, mut artifacts) = (
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
    );
    for &id in &fx.jobs {
        jobs.push(store.builds().job_by_id(id).await.unwrap().expect("job"));
        nodes.push(store.builds().nodes(id).await.unwrap());
        let job_steps = store.builds().steps_of_all_nodes(id).await.unwrap();
        for step in &job_steps {
            let (node, idx) = (step.node_index, step.idx);
            outputs.push((
                store.builds().output_bytes(id, node, idx).await.unwrap(),
                store.builds().output(id, node, idx, 0).await.unwrap(),
            ));
        }
        steps.push(job_steps);
        tests.push(store.builds().tests(id).await.unwrap());
        artifacts.push(store.artifacts().of_job(id).await.unwrap());
    }
    let mut notified_states = Vec::new();
    for &id in &fx.jobs {
        notified_states.push(store.builds().job_notified_state(id).await.unwrap());
    }
    let far = now_s() + Duration::days(3650);
    let mut pull_requests = Vec::new();
    for (project, number, head_branch, _, _) in PULL_REQUESTS {
        let id = fx.projects[project];
        pull_requests.push((
            store.hooks().pull_request(id, number).await.unwrap(),
            store
                .hooks()
                .open_pull_request_of(id, head_branch)
                .await
                .unwrap(),
        ));
    }
    Dump {
        users,
        passwords,
        session_user,
        projects,
        members,
        tokens,
        by_digest,
        usage,
        audit: store.audit().list(AuditScope::All, 10_000).await.unwrap(),
        setting: store.settings().get(TOKEN_CREATION_DISABLED).await.unwrap(),
        orbs: store.orbs().versions("acme", "tools").await.unwrap(),
        orb_source: store
            .orbs()
            .source("acme", "tools", (1, 2, 3))
            .await
            .unwrap(),
        contexts,
        organizations,
        oidc_keys: store
            .oidc_keys()
            .published(OffsetDateTime::now_utc() - time::Duration::days(1))
            .await
            .unwrap(),
        pipelines,
        configs,
        setups,
        keyed,
        workflows,
        jobs,
        nodes,
        steps,
        outputs,
        tests,
        artifacts,
        env_vars,
        hook_secrets,
        deliveries,
        pull_requests,
        schedules,
        schedules_due: store.schedules().due(far, 1000).await.unwrap(),
        polls_due: store.polls().due(far, 1000).await.unwrap(),
        poll_heads,
        status_targets,
        webhooks,
        messages,
        outbox_due: store.outbound().due(far, 1000).await.unwrap(),
        notified_states,
        jobs_to_notify: store.builds().jobs_to_notify(1000).await.unwrap(),
        workflows_to_notify: store.builds().workflows_to_notify(1000).await.unwrap(),
    }
}

/// After a copy, new rows of every kind are accepted and never reuse an id the source handed
/// out (the deleted token's included); per-project numbers continue where they were.
async fn new_rows_get_fresh_ids(target: &Store, fx: &Fixture, before: &Dump) {
    let max_user = before.users.iter().map(|u| u.id).max().unwrap();
    let dave = create_user(target, "dave").await;
    assert!(dave.id > max_user, "user id {} reused", dave.id);
    let max_project = before.projects.iter().map(|p| p.id).max().unwrap();
    let tools = create_project(target, "gh/acme/tools", &dave).await;
    assert!(tools.id > max_project);
    let token = target
        .tokens()
        .create(&new_personal_token(&dave), None)
        .await
        .unwrap();
    assert!(
        token.id > fx.revoked_id,
        "token id {} is not past the deleted token's {}",
        token.id,
        fx.revoked_id
    );
    let max_pipeline = before.pipelines.iter().map(|p| p.id).max().unwrap();
    let max_job = before.jobs.iter().map(|j| j.id).max().unwrap();
    let max_workflow = before.workflows.iter().map(|w| w.id).max().unwrap();
    let widgets = fx.projects[0];
    let last_number = before
        .pipelines
        .iter()
        .filter(|p| p.project_id == widgets)
        .map(|p| p.number)
        .max()
        .unwrap();
    let last_build = before
        .jobs
        .iter()
        .filter(|j| j.project_id == widgets)
        .map(|j| j.build_num)
        .max()
        .unwrap();
    let (pipeline, jobs) = target
        .builds()
        .create_pipeline(&new_pipeline(widgets, &[("again", &[])]))
        .await
        .unwrap();
    assert!(pipeline.id > max_pipeline);
    assert_eq!(pipeline.number, last_number + 1);
    assert!(jobs[0].id > max_job);
    assert!(jobs[0].workflow_id > max_workflow);
    assert_eq!(jobs[0].build_num, last_build + 1);
    let old_test_count = before.tests[0].len();
    target
        .builds()
        .add_tests(jobs[0].id, &before.tests[0][..1])
        .await
        .unwrap();
    assert_eq!(target.builds().tests(jobs[0].id).await.unwrap().len(), 1);
    assert_eq!(
        target.builds().test_count(fx.jobs[0]).await.unwrap(),
        old_test_count as i64
    );
    let artifact = target
        .artifacts()
        .record(&NewArtifact {
            job_id: jobs[0].id,
            node_index: 0,
            path: circlet_core::artifact_path::ArtifactPath::parse("new.txt").unwrap(),
            size: 1,
            content_type: "text/plain".into(),
            sha256: "cd".repeat(32),
            store_etag: None,
        })
        .await
        .unwrap();
    let max_artifact = before.artifacts[0].iter().map(|a| a.id).max().unwrap();
    assert!(artifact.id > max_artifact);
    target
        .audit()
        .append(&NewAuditEntry {
            event: "token.created".into(),
            ..NewAuditEntry::default()
        })
        .await
        .unwrap();
    let newest = &target.audit().list(AuditScope::All, 1).await.unwrap()[0];
    assert!(newest.id > before.audit[0].id);

    // A delivery received before is still known by its id; a new one gets a fresh id.
    let first = before.deliveries[0]
        .iter()
        .find(|d| d.delivery == "delivery-1")
        .expect("copied");
    let again = NewDelivery {
        project_id: widgets,
        forge: "github",
        delivery: "delivery-1",
        event: "pull_request",
        body: b"{}",
        redelivery_of: None,
    };
    assert_eq!(
        target.hooks().record(&again).await.unwrap(),
        Recorded::Seen(first.clone())
    );
    let max_delivery = before
        .deliveries
        .iter()
        .flatten()
        .map(|d| d.id)
        .max()
        .unwrap();
    let fresh = record_delivery(target, widgets, "delivery-2", None).await;
    assert!(fresh.id > max_delivery, "delivery id {} reused", fresh.id);

    // Schedules, webhooks and messages: found by their public ids, new ones get fresh ids.
    let nightly = &before.schedules[0].0[0];
    assert_eq!(
        target
            .schedules()
            .by_uuid(nightly.uuid)
            .await
            .unwrap()
            .as_ref(),
        Some(nightly)
    );
    let max_schedule = before
        .schedules
        .iter()
        .flat_map(|(a, c)| a.iter().chain(c))
        .map(|s| s.id)
        .max()
        .unwrap();
    let schedule = target
        .schedules()
        .create(&NewSchedule {
            project_id: widgets,
            source: "api",
            name: "hourly",
            description: "",
            timetable: "{}",
            parameters: "{}",
            branch: Some("main"),
            tag: None,
            workflow: None,
            actor_id: None,
            actor_login: "system",
            next_run_at: None,
        })
        .await
        .unwrap();
    assert!(
        schedule.id > max_schedule,
        "schedule id {} reused",
        schedule.id
    );
    let hook = &before.webhooks[0][0];
    assert_eq!(
        target.outbound().webhook(hook.uuid).await.unwrap().as_ref(),
        Some(hook)
    );
    let max_hook = before
        .webhooks
        .iter()
        .flatten()
        .map(|w| w.id)
        .max()
        .unwrap();
    let new_hook = target
        .outbound()
        .create_webhook(
            Uuid::new_v4(),
            &NewWebhook {
                project_id: widgets,
                name: "new",
                url: "https://hooks.example.com/new",
                verify_tls: true,
                events: "job-completed",
                key_id: "k1",
                sealed: b"s",
            },
        )
        .await
        .unwrap();
    assert!(new_hook.id > max_hook, "webhook id {} reused", new_hook.id);
    let max_message = before
        .messages
        .iter()
        .flatten()
        .map(|m| m.id)
        .max()
        .unwrap();
    target
        .outbound()
        .enqueue(&NewMessage {
            project_id: widgets,
            webhook_id: Some(new_hook.id),
            kind: "webhook",
            event: "job-completed",
            url: "https://hooks.example.com/new",
            body: "{}",
        })
        .await
        .unwrap();
    let queued = &target
        .outbound()
        .log(widgets, Some(new_hook.id), 1)
        .await
        .unwrap()[0];
    assert!(queued.id > max_message, "message id {} reused", queued.id);
}
