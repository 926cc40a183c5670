//! Verified tokens are remembered in memory (no database read per request), yet a revocation
//! anywhere is obeyed on the very next request: through this server, through another process
//! on the same SQLite file (the admin CLI), and through another replica on PostgreSQL.

use super::{DENIED, INVALID, get_with, send};
use crate::app::TestApp;
use circlet_core::scope::ProjectScope;
use circlet_store::{BackendKind, Store};
use circlet_testkit::both_backends;
use serde_json::json;

const PROJECT: &str = "/api/v1.1/project/gh/acme/widgets";

/// Connects to `app`'s database as another process would, listening for revocations the way a
/// replica does, and waits until it listens and knows of `app`.
async fn other_process(app: &TestApp) -> Store {
    let store = app.db().store().await;
    store.watch_revocations();
    listening(
        &store,
        if app.db().kind == BackendKind::Postgres {
            2
        } else {
            1
        },
    )
    .await;
    store
}

/// Waits until `store` trusts its caches and has heard from `peers` replicas (itself included).
pub(crate) async fn listening(store: &Store, peers: usize) {
    super::eventually("listening for revocations", || async {
        match (store.auth_generation(), store.auth_peers()) {
            (Some(_), n) if n >= peers => Ok(()),
            (g, n) => Err(format!("generation {g:?}, {n} replica(s) heard")),
        }
    })
    .await;
}

both_backends! {
    setup = TestApp::spawn;
    async fn a_remembered_token_is_refused_on_the_next_request_after_deletion(app) {
        let ada = app.user("ada", false).await;
        app.project(&ada, "gh/acme/widgets", false).await;
        let admin = app.personal_token(&ada).await;
        let c = reqwest::Client::new();
        for _ in 0..5 {
            let r = send(c.post(app.at(&format!("{PROJECT}/token"))).header("Circle-Token", &admin)
                .json(&json!({"scope": "status", "label": "badge"}))).await;
            r.status_is(201);
            let (id, value) = (r.body["id"].as_str().unwrap(), r.body["token"].as_str().unwrap());
            // Used twice: the second answer comes from memory.
            get_with(&app, value, PROJECT).await.is(403, DENIED);
            get_with(&app, value, PROJECT).await.is(403, DENIED);
            assert!(!app.state.app.verified.is_empty(), "the verified token is remembered");
            send(c.delete(app.at(&format!("{PROJECT}/token/{id}"))).header("Circle-Token", &admin)).await.status_is(200);
            get_with(&app, value, PROJECT).await.is(401, INVALID);
        }
        // A user disabled: their remembered personal token stops at once.
        get_with(&app, &admin, "/api/v1.1/me").await.status_is(200);
        app.store.users().set_disabled(&ada.login, true).await.unwrap();
        get_with(&app, &admin, "/api/v1.1/me").await.is(401, INVALID);
        app.store.users().set_disabled(&ada.login, false).await.unwrap();
        get_with(&app, &admin, "/api/v1.1/me").await.status_is(200);
    }

    async fn another_process_revoking_is_obeyed_on_the_next_request(app) {
        let ada = app.user("ada", false).await;
        let project = app.project(&ada, "gh/acme/widgets", false).await;
        let admin = app.personal_token(&ada).await;
        let other = other_process(&app).await;
        for _ in 0..10 {
            let (value, record) = app.project_token_record(&project, ProjectScope::Status).await;
            get_with(&app, &value, PROJECT).await.is(403, DENIED);
            get_with(&app, &value, PROJECT).await.is(403, DENIED);
            other.tokens().delete(record.uuid).await.unwrap().expect("deleted");
            get_with(&app, &value, PROJECT).await.is(401, INVALID);
        }
        get_with(&app, &admin, "/api/v1.1/me").await.status_is(200);
        other.users().set_disabled(&ada.login, true).await.unwrap();
        get_with(&app, &admin, "/api/v1.1/me").await.is(401, INVALID);
    }
}

/// The scale-out case: two servers on one PostgreSQL database, no sticky sessions. A token
/// deleted through one is refused by the other on the next request, every time.
#[tokio::test]
async fn a_replica_refuses_a_token_deleted_through_another_on_the_next_request() {
    let a = TestApp::spawn(BackendKind::Postgres).await;
    let b = a.replica().await;
    listening(&a.store, 2).await;
    listening(&b.store, 2).await;
    let ada = a.user("ada", false).await;
    a.project(&ada, "gh/acme/widgets", false).await;
    let admin = a.personal_token(&ada).await;
    let c = reqwest::Client::new();
    for round in 0..20 {
        let r = send(
            c.post(b.at(&format!("{PROJECT}/token")))
                .header("Circle-Token", &admin)
                .json(&json!({"scope": "status", "label": "badge"})),
        )
        .await;
        r.status_is(201);
        let (id, value) = (
            r.body["id"].as_str().unwrap(),
            r.body["token"].as_str().unwrap(),
        );
        for app in [&a, &b, &a, &b] {
            get_with(app, value, PROJECT).await.is(403, DENIED);
        }
        // Deleted through one replica, then asked at once of the other (alternating).
        let (via, then) = if round % 2 == 0 { (&a, &b) } else { (&b, &a) };
        send(
            c.delete(via.at(&format!("{PROJECT}/token/{id}")))
                .header("Circle-Token", &admin),
        )
        .await
        .status_is(200);
        get_with(then, value, PROJECT).await.is(401, INVALID);
        get_with(via, value, PROJECT).await.is(401, INVALID);
    }
}
