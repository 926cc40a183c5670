//! What circlet tells others (issue 15, items 5 and 6): commit statuses posted to a forge's
//! status API and CircleCI's outbound webhooks, received by a server the test starts on
//! loopback, which checks method, path, headers, body and signature; a receiver that fails is
//! tried again with backoff.

use super::{Fx, SLUG, id_of};
use crate::app::TestApp;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

/// One request the receiver got.
#[derive(Clone, Debug)]
struct Got {
    method: Method,
    path: String,
    headers: HeaderMap,
    body: Value,
    raw: Vec<u8>,
}

#[derive(Clone, Default)]
struct Receiver {
    got: Arc<Mutex<Vec<Got>>>,
    /// How many more requests to answer 500.
    failures: Arc<Mutex<u32>>,
}

impl Receiver {
    async fn start() -> (Receiver, String) {
        let r = Receiver::default();
        let app = axum::Router::new()
            .fallback(
                |State(r): State<Receiver>,
                 method: Method,
                 uri: Uri,
                 headers: HeaderMap,
                 body: Bytes| async move {
                    r.got.lock().unwrap().push(Got {
                        method,
                        path: uri.path().to_owned(),
                        headers,
                        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
                        raw: body.to_vec(),
                    });
                    let mut left = r.failures.lock().unwrap();
                    if *left > 0 {
                        *left -= 1;
                        StatusCode::INTERNAL_SERVER_ERROR
                    } else {
                        StatusCode::CREATED
                    }
                },
            )
            .with_state(r.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (r, url)
    }

    fn got(&self) -> Vec<Got> {
        self.got.lock().unwrap().clone()
    }

    /// Waits until `enough` holds of what was received.
    async fn wait(&self, what: &str, enough: impl Fn(&[Got]) -> bool) -> Vec<Got> {
        super::eventually(what, || async {
            let got = self.got();
            if enough(&got) {
                Ok(got)
            } else {
                Err(format!(
                    "{} requests so far: {:#?}",
                    got.len(),
                    got.iter().map(|g| (&g.path, &g.body)).collect::<Vec<_>>()
                ))
            }
        })
        .await
    }
}

fn signature_of(secret: &str, raw: &[u8]) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(raw);
    format!("v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// Runs the fixture's workflow to its end: build, then test (deploy runs on main).
async fn run_all(fx: &Fx) {
    let runner = fx.runner("r").await;
    for _ in 0..3 {
        let job = runner.claim_some().await;
        runner.finish(id_of(&job), "success").await;
    }
}

#[tokio::test]
async fn statuses_and_webhook_events_reach_their_receivers_signed() {
    let fx = Fx::new(TestApp::spawn(circlet_store::BackendKind::Sqlite).await).await;
    let (receiver, url) = Receiver::start().await;
    let caller = circlet_app::Caller::Session(fx.user.clone());
    let door = fx
        .app
        .state
        .app
        .outbound(&caller, &fx.project.slug)
        .await
        .unwrap();
    door.set_status_target("github", &url, "", &"ghp_test_token".to_owned().into())
        .await
        .unwrap();
    let made = fx
        .post_json(
            "/api/v2/webhook",
            &json!({
                "name": "ci events",
                "url": format!("{url}/circle"),
                "events": ["workflow-completed", "job-completed"],
                "verify-tls": true,
                "signing-secret": "whsec-test",
                "scope": {"id": fx.project.uuid, "type": "project"},
            }),
        )
        .await;
    made.status_is(201);
    assert_eq!(made.body["signing-secret"], "****");
    assert_eq!(made.body["scope"]["type"], "project");

    let pipeline = fx.v2_trigger(&json!({"branch": "main"})).await;
    // A queued job is told as pending before anything runs.
    receiver
        .wait("build's pending status", |g| {
            g.iter()
                .any(|r| r.body["context"] == "ci/circlet: build" && r.body["state"] == "pending")
        })
        .await;
    run_all(&fx).await;
    let sha = fx.repo.head();
    let got = receiver
        .wait(
            "three jobs' ends, their final statuses and the workflow's end",
            |g| {
                // A post that failed is tried again within seconds: wait for all of them.
                g.iter().any(|r| r.body["type"] == "workflow-completed")
                    && g.iter()
                        .filter(|r| r.body["type"] == "job-completed")
                        .count()
                        >= 3
                    && g.iter().filter(|r| r.body["state"] == "success").count() >= 4
            },
        )
        .await;

    let statuses: Vec<&Got> = got
        .iter()
        .filter(|g| g.path.contains("/statuses/"))
        .collect();
    for s in &statuses {
        assert_eq!(s.method, Method::POST);
        assert_eq!(s.path, format!("/repos/acme/widget/statuses/{sha}"));
        assert_eq!(s.headers["authorization"], "Bearer ghp_test_token");
        assert_eq!(s.headers["content-type"], "application/json");
    }
    let of = |context: &str| -> Vec<String> {
        statuses
            .iter()
            .filter(|s| s.body["context"] == context)
            .map(|s| s.body["state"].as_str().unwrap().to_owned())
            .collect()
    };
    // Changes closer together than the notifier's half-second pass are told as the latest.
    let build = of("ci/circlet: build");
    assert_eq!(
        build.first().map(String::as_str),
        Some("pending"),
        "{build:?}"
    );
    assert_eq!(
        build.last().map(String::as_str),
        Some("success"),
        "{build:?}"
    );
    assert_eq!(
        build.iter().filter(|s| *s == "success").count(),
        1,
        "{build:?}"
    );
    assert_eq!(
        of("ci/circlet: deploy").last().map(String::as_str),
        Some("success")
    );
    assert_eq!(of("ci/circlet: workflow main"), ["success"]);
    let one = statuses
        .iter()
        .find(|s| s.body["context"] == "ci/circlet: build")
        .unwrap();
    assert!(
        one.body["target_url"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{}/{SLUG}/", fx.app.url))
    );

    let events: Vec<&Got> = got.iter().filter(|g| g.path == "/circle").collect();
    for e in &events {
        assert_eq!(
            e.headers["circleci-signature"],
            signature_of("whsec-test", &e.raw).as_str()
        );
        assert_eq!(
            e.headers["circleci-event-type"],
            e.body["type"].as_str().unwrap()
        );
        assert_eq!(e.body["webhook"]["name"], "ci events");
        assert_eq!(e.body["project"]["slug"], SLUG);
        assert_eq!(e.body["pipeline"]["id"], pipeline["id"]);
        assert_eq!(e.body["pipeline"]["vcs"]["revision"], sha.as_str());
        assert_eq!(e.body["workflow"]["name"], "main");
    }
    let jobs: Vec<&str> = events
        .iter()
        .filter(|e| e.body["type"] == "job-completed")
        .map(|e| e.body["job"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(jobs.len(), 3, "each job's end once: {jobs:?}");
    let done = events
        .iter()
        .find(|e| e.body["type"] == "workflow-completed")
        .unwrap();
    assert_eq!(done.body["workflow"]["status"], "success");
    assert!(done.body["workflow"]["stopped_at"].is_string());

    // The delivery log shows them delivered (a delivery is recorded just after its receiver
    // answers, so wait for the last one); the token appears nowhere in it.
    let log = super::eventually("every delivery recorded as delivered", || async {
        let log = door.log(None).await.unwrap();
        if !log.is_empty() && log.iter().all(|m| m.state == "delivered") {
            Ok(log)
        } else {
            Err(format!(
                "{:?}",
                log.iter().map(|m| &m.state).collect::<Vec<_>>()
            ))
        }
    })
    .await;
    assert!(log.iter().all(|m| !m.body.contains("ghp_test_token")));
}

#[tokio::test]
async fn a_failing_receiver_is_tried_again_with_backoff_and_webhooks_are_managed_by_admins() {
    let fx = Fx::new(TestApp::spawn(circlet_store::BackendKind::Sqlite).await).await;
    let (receiver, url) = Receiver::start().await;
    *receiver.failures.lock().unwrap() = 2;
    let made = fx
        .post_json(
            "/api/v2/webhook",
            &json!({
                "name": "flaky", "url": url, "events": ["workflow-completed"],
                "verify-tls": false, "signing-secret": "s",
                "scope": {"id": fx.project.uuid, "type": "project"},
            }),
        )
        .await;
    made.status_is(201);
    let id = made.body["id"].as_str().unwrap().to_owned();
    fx.repo.commit_on("feature", &[("f", "1")], "feature");
    fx.v2_trigger(&json!({"branch": "feature"})).await;
    // `build` fails, so `test` never runs: the workflow ends failed.
    let runner = fx.runner("r").await;
    let job = runner.claim_some().await;
    runner.finish(id_of(&job), "failed").await;
    // The first attempt fails; later ones are due after 5 s, then 10 s: the test turns the clock.
    receiver.wait("a first attempt", |g| !g.is_empty()).await;
    let now = time::OffsetDateTime::now_utc();
    for hours in [2, 4] {
        fx.app
            .state
            .app
            .send_due(now + time::Duration::hours(hours))
            .await
            .unwrap();
    }
    let got = receiver.wait("three attempts", |g| g.len() >= 3).await;
    assert_eq!(got.len(), 3, "delivered on the third attempt, not after");
    assert!(
        got.iter().all(|g| g.raw == got[0].raw),
        "the same event each time"
    );
    assert_eq!(got[0].body["workflow"]["status"], "failed");
    let caller = circlet_app::Caller::Session(fx.user.clone());
    let (door, hook) = fx
        .app
        .state
        .app
        .outbound_webhook(&caller, id.parse().unwrap())
        .await
        .unwrap();
    let log = door.log(Some(&hook)).await.unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!((log[0].state.as_str(), log[0].attempts), ("delivered", 3));

    // Read, changed (the secret kept), refused for bad input and for non-admins, removed.
    let r = fx
        .get(&format!(
            "/api/v2/webhook?scope-id={}&scope-type=project",
            fx.project.uuid
        ))
        .await;
    r.status_is(200);
    assert_eq!(r.body["items"][0]["name"], "flaky");
    let changed = fx
        .send_json(
            reqwest::Method::PUT,
            &format!("/api/v2/webhook/{id}"),
            &json!({"name": "steady"}),
        )
        .await;
    changed.status_is(200);
    assert_eq!(changed.body["name"], "steady");
    assert_eq!(
        door.signing_secret(&hook)
            .map(|s| secrecy::ExposeSecret::expose_secret(&s).to_owned())
            .unwrap(),
        "s"
    );
    for body in [
        json!({"name": "x", "url": "ftp://x", "events": ["job-completed"], "verify-tls": true, "signing-secret": "s", "scope": {"id": fx.project.uuid, "type": "project"}}),
        json!({"name": "x", "url": "http://x", "events": ["push"], "verify-tls": true, "signing-secret": "s", "scope": {"id": fx.project.uuid, "type": "project"}}),
        json!({"name": "x", "url": "http://x", "events": ["job-completed"], "verify-tls": true, "scope": {"id": fx.project.uuid, "type": "project"}}),
        json!({"name": "x", "url": "http://x", "events": ["job-completed"], "verify-tls": true, "signing-secret": "s", "scope": {"id": fx.project.uuid, "type": "organization"}}),
    ] {
        fx.post_json("/api/v2/webhook", &body).await.status_is(400);
    }
    let writer = fx.app.user("wes", false).await;
    fx.app
        .store
        .projects()
        .set_member(fx.project.id, writer.id, circlet_core::Role::Write)
        .await
        .unwrap();
    let wes = fx.app.personal_token(&writer).await;
    // Seen but not allowed: 403, as everywhere.
    fx.get_as(&wes, &format!("/api/v2/webhook/{id}"))
        .await
        .status_is(403);
    fx.send_json(
        reqwest::Method::DELETE,
        &format!("/api/v2/webhook/{id}"),
        &json!({}),
    )
    .await
    .status_is(200);
    fx.get(&format!("/api/v2/webhook/{id}"))
        .await
        .status_is(404);
}
