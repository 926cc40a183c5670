//! Whose address a request counts against: runners apart from API callers, and a client behind
//! a trusted proxy by its `X-Forwarded-For` entry (never a client's own say-so).

use crate::app::TestApp;
use circlet_core::forwarded::TrustedProxies;
use circlet_store::{AuditScope, BackendKind};
use serde_json::json;
use std::net::IpAddr;

/// Fails the token checksum: a failed authentication without any lookup.
const BAD: &str = "not-a-token";

fn client_from(local: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(local.parse::<IpAddr>().unwrap())
        .build()
        .unwrap()
}

#[tokio::test]
async fn runner_tokens_are_not_held_up_by_anyone_elses_failures() {
    let app = TestApp::spawn(BackendKind::Sqlite).await;
    let runner = app.runner_token("on the same host").await;
    let http = reqwest::Client::new();
    let claim = |token: &str| {
        http.post(app.at("/api/runner/v1/claim?wait=0"))
            .bearer_auth(token)
            .send()
    };
    let me = |token: &str| {
        http.get(app.at("/api/v2/me"))
            .header("Circle-Token", token)
            .send()
    };

    // Thirty bad API tokens from 127.0.0.1 use up that address's API limit…
    for _ in 0..30 {
        assert_eq!(me(BAD).await.unwrap().status(), 401);
    }
    assert_eq!(me(BAD).await.unwrap().status(), 429);
    // …and the runner on the same address claims as before.
    assert_eq!(claim(&runner).await.unwrap().status(), 204);

    // Bad runner tokens count against the runners' own limit…
    for _ in 0..30 {
        assert_eq!(claim(BAD).await.unwrap().status(), 401);
    }
    let refused = claim(BAD).await.unwrap();
    assert_eq!(refused.status(), 429);
    assert!(refused.headers().contains_key("retry-after"));
    // …which never refuses a valid runner token.
    assert_eq!(claim(&runner).await.unwrap().status(), 204);
}

#[tokio::test]
async fn x_forwarded_for_is_believed_only_from_a_trusted_proxy() {
    let app = TestApp::spawn_with(BackendKind::Sqlite, |c| {
        c.http.trusted_proxies = TrustedProxies::parse(["127.0.0.2"]).unwrap();
    })
    .await;
    let proxy = client_from("127.0.0.2");
    let direct = client_from("127.0.0.1");
    let bad = |client: &reqwest::Client, forwarded: &str| {
        client
            .get(app.at("/api/v2/me"))
            .header("Circle-Token", BAD)
            .header("X-Forwarded-For", forwarded)
            .send()
    };

    // Behind the proxy, each client has a limit of its own.
    for _ in 0..30 {
        assert_eq!(bad(&proxy, "198.51.100.7").await.unwrap().status(), 401);
    }
    assert_eq!(bad(&proxy, "198.51.100.7").await.unwrap().status(), 429);
    assert_eq!(
        bad(&proxy, "198.51.100.8").await.unwrap().status(),
        401,
        "another client behind the same proxy is not held up"
    );
    assert_eq!(
        bad(&proxy, "198.51.100.8, 198.51.100.7")
            .await
            .unwrap()
            .status(),
        429,
        "what a client wrote itself, left of the proxy's entry, changes nothing"
    );

    // The audit log and a token's last use name the client, not the proxy.
    let alice = app.user("alice", false).await;
    app.project(&alice, "gh/acme/widget", false).await;
    let token = app.personal_token(&alice).await;
    let created = proxy
        .post(app.at("/api/v1.1/project/gh/acme/widget/token"))
        .header("Circle-Token", &token)
        .header("X-Forwarded-For", "203.0.113.5")
        .json(&json!({"scope": "status", "label": "badge"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    app.state.app.usage.flush(&app.state.app).await;
    let log = app.store.audit().list(AuditScope::All, 100).await.unwrap();
    let created = log
        .iter()
        .find(|e| e.actor_login == "alice")
        .unwrap_or_else(|| panic!("alice's token creation is in the log: {log:?}"));
    assert_eq!(created.address, "203.0.113.5");
    let failed: Vec<&str> = log
        .iter()
        .filter(|e| e.event == "auth.failed")
        .map(|e| e.address.as_str())
        .collect();
    assert!(
        failed.contains(&"198.51.100.7") && failed.contains(&"198.51.100.8"),
        "{failed:?}"
    );
    assert!(!failed.contains(&"127.0.0.2"), "{failed:?}");
    let used = app
        .store
        .tokens()
        .list_personal(alice.id)
        .await
        .unwrap()
        .remove(0);
    assert_eq!(used.last_used_from, ["203.0.113.5"]);

    // From a peer that is not a trusted proxy the header is ignored: every failure counts
    // against 127.0.0.1, whatever address each claims.
    for i in 0..30 {
        let claimed = format!("192.0.2.{i}");
        assert_eq!(bad(&direct, &claimed).await.unwrap().status(), 401);
    }
    assert_eq!(bad(&direct, "192.0.2.200").await.unwrap().status(), 429);
}
