//! Presenting a token: the four forms, several forms at once, bad credentials of every sort,
//! expiry, deletion, and throttling of failed authentications per client address.

use super::{
    DENIED, INVALID, LOGIN_REQUIRED, Reply, basic, client_from, eventually, get_with,
    one_char_changed, send,
};
use crate::app::TestApp;
use base64::Engine;
use circlet_core::scope::ProjectScope;
use circlet_core::token::{NewToken, TOKEN_LEN, TokenKind};
use circlet_store::NewTokenRecord;
use circlet_testkit::both_backends;
use reqwest::header::HeaderValue;
use std::time::{Duration, Instant};
use time::OffsetDateTime;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One way of presenting a token.
#[derive(Debug, Clone, Copy)]
enum Form {
    /// `Circle-Token: …`, with that exact capitalisation on the wire.
    Header,
    /// `circle-token: …`.
    LowercaseHeader,
    /// `Authorization: Bearer …`.
    Bearer,
    /// `Authorization: Basic base64(token:)` (curl `-u token:`).
    BasicWithColon,
    /// `Authorization: Basic base64(token)`.
    BasicBare,
    /// `?circle-token=…`.
    Query,
}

const FORMS: [Form; 6] = [
    Form::Header,
    Form::LowercaseHeader,
    Form::Bearer,
    Form::BasicWithColon,
    Form::BasicBare,
    Form::Query,
];

/// Clients for every form: hyper writes header names in lowercase unless told otherwise.
struct Clients {
    title_case: reqwest::Client,
    plain: reqwest::Client,
}

impl Clients {
    fn new() -> Clients {
        Clients {
            title_case: reqwest::Client::builder()
                .http1_title_case_headers()
                .build()
                .unwrap(),
            plain: reqwest::Client::new(),
        }
    }

    /// `GET url` with `token` presented in `form`.
    fn get(&self, form: Form, url: &str, token: &str) -> reqwest::RequestBuilder {
        match form {
            Form::Header => self.title_case.get(url).header("Circle-Token", token),
            Form::LowercaseHeader => self.plain.get(url).header("circle-token", token),
            Form::Bearer => self
                .plain
                .get(url)
                .header("Authorization", format!("Bearer {token}")),
            Form::BasicWithColon => self
                .plain
                .get(url)
                .header("Authorization", basic(&format!("{token}:"))),
            Form::BasicBare => self.plain.get(url).header("Authorization", basic(token)),
            Form::Query => self.plain.get(format!("{url}?circle-token={token}")),
        }
    }
}

/// Sends `GET path` with exactly these header lines over a plain TCP connection.
async fn raw_get(app: &TestApp, path: &str, header_lines: &[String]) -> (u16, serde_json::Value) {
    let host = app.url.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(host).await.unwrap();
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    for line in header_lines {
        request.push_str(line);
        request.push_str("\r\n");
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let response = String::from_utf8(response).unwrap();
    let status = response[9..12].parse().unwrap();
    let (_, body) = response.split_once("\r\n\r\n").unwrap();
    (status, serde_json::from_str(body).unwrap())
}

/// Header lines to add to a request.
type Headers = Vec<(&'static str, HeaderValue)>;

const PROJECT_TOKENS: &str = "/api/v1.1/project/gh/acme/widgets/token";

both_backends! {
    setup = TestApp::spawn;
    async fn every_form_of_presenting_a_token_works_alike(app) {
        let ada = app.user("ada", false).await;
        let project = app.project(&ada, "gh/acme/widgets", false).await;
        let personal = app.personal_token(&ada).await;
        let project_token = app.project_token(&project, ProjectScope::All).await;
        let forged = one_char_changed(&personal, TOKEN_LEN - 10);
        let clients = Clients::new();
        for form in FORMS {
            for path in ["/api/v1.1/me", "/api/v2/me"] {
                let r = send(clients.get(form, &app.at(path), &personal)).await;
                assert_eq!((r.status, r.body["login"].as_str()), (200, Some("ada")), "{form:?} on {path}: {}", r.text);
            }
            let r = send(clients.get(form, &app.at(PROJECT_TOKENS), &personal)).await;
            assert_eq!(r.status, 200, "{form:?}: {}", r.text);
            assert!(r.body.is_array(), "{form:?}: {}", r.text);
            // The project token is read too: it sees its project (403, not 404) but may not manage it.
            send(clients.get(form, &app.at(PROJECT_TOKENS), &project_token)).await.is(403, DENIED);
            send(clients.get(form, &app.at("/api/v2/me"), &project_token)).await.is(401, LOGIN_REQUIRED);
            send(clients.get(form, &app.at("/api/v2/me"), &forged)).await.is(401, INVALID);
            send(clients.get(form, &app.at(PROJECT_TOKENS), &forged)).await.is(401, INVALID);
        }
        // Header names are case-insensitive whatever the client sends.
        for name in ["CIRCLE-TOKEN", "Circle-token", "cIrClE-tOkEn"] {
            let (status, body) = raw_get(&app, "/api/v2/me", &[format!("{name}: {personal}")]).await;
            assert_eq!((status, body["login"].as_str()), (200, Some("ada")), "{name}");
        }
        let (status, _) = raw_get(&app, "/api/v2/me", &[format!("authorization: bearer {personal}")]).await;
        assert_eq!(status, 200, "the scheme name is case-insensitive too");
    }

    async fn the_same_token_in_several_forms_is_fine_two_different_are_not(app) {
        let ada = app.user("ada", false).await;
        let bob = app.user("bob", false).await;
        let ada_token = app.personal_token(&ada).await;
        let bob_token = app.personal_token(&bob).await;
        let c = reqwest::Client::new();
        let me = app.at("/api/v2/me");
        // What pycircleci sends: the header and Basic, same token.
        let r = send(c.get(&me).header("Circle-Token", &ada_token).header("Authorization", basic(&format!("{ada_token}:")))).await;
        assert_eq!((r.status, r.body["login"].as_str()), (200, Some("ada")), "{}", r.text);
        let r = send(c.get(format!("{me}?circle-token={ada_token}")).header("Circle-Token", &ada_token).header("Authorization", format!("Bearer {ada_token}"))).await;
        r.status_is(200);

        let conflicts = [
            c.get(&me).header("Circle-Token", &ada_token).header("Authorization", format!("Bearer {bob_token}")),
            c.get(&me).header("Circle-Token", &ada_token).header("Authorization", basic(&format!("{bob_token}:"))),
            c.get(format!("{me}?circle-token={bob_token}")).header("Circle-Token", &ada_token),
            c.get(format!("{me}?circle-token={ada_token}&circle-token={bob_token}")),
            c.get(&me).header("Circle-Token", &ada_token).header("Circle-Token", &bob_token),
            // A valid token next to a forged one is still two different tokens.
            c.get(&me).header("Circle-Token", &ada_token).header("Authorization", format!("Bearer {}", one_char_changed(&ada_token, 40))),
        ];
        for (i, request) in conflicts.into_iter().enumerate() {
            let r = send(request).await;
            assert_eq!(r.status, 400, "case {i}: {}", r.text);
            assert!(r.message().contains("different"), "case {i}: {}", r.text);
        }
    }

    async fn a_deleted_token_stops_working_on_the_next_request(app) {
        let ada = app.user("ada", false).await;
        let (token, record) = app.personal_token_expiring(&ada, None).await;
        get_with(&app, &token, "/api/v2/me").await.status_is(200);
        let actor = circlet_app::tokens::Actor { login: "admin-cli".into(), ..Default::default() };
        circlet_app::tokens::delete(&app.store, &record, "token.revoked", &actor).await.unwrap();
        get_with(&app, &token, "/api/v2/me").await.is(401, INVALID);
        get_with(&app, &token, "/api/v1.1/me").await.is(401, INVALID);
    }
}

mod tuned {
    use super::*;

    both_backends! {
        setup = TestApp::spawn_with;
        async fn bad_credentials_get_a_clear_4xx(app, |c| c.http.auth_failures_per_window = 10_000) {
            let ada = app.user("ada", false).await;
            let project = app.project(&ada, "gh/acme/widgets", false).await;
            app.project(&ada, "gh/acme/open", true).await;
            let personal = app.personal_token(&ada).await;
            let project_token = app.project_token(&project, ProjectScope::All).await;
            let paths = ["/api/v2/me", "/api/v1.1/me", PROJECT_TOKENS, "/api/v1.1/project/gh/acme/open/token", "/api/v2/project/gh/acme/widgets"];

            // Tokens that fail: every one is 401 "Invalid token provided.", on every endpoint,
            // private and public projects alike (a bad token is not read as anonymous).
            let runner = NewToken::generate(TokenKind::Runner);
            app.store.tokens().create(&NewTokenRecord {
                limits: Default::default(),
                kind: TokenKind::Runner, digest: runner.digest(), last4: runner.last4(), name: "runner".into(),
                user_id: None, project_id: None, scope: None, created_by: None, expires_at: None,
            }, None).await.unwrap();
            let mut bad: Vec<(String, String)> = [0, 3, 7, 20, 30, 50, TOKEN_LEN - 1]
                .into_iter()
                .map(|pos| (format!("one character changed at {pos}"), one_char_changed(&personal, pos)))
                .collect();
            bad.extend([
                ("project token with one character changed".into(), one_char_changed(&project_token, 12)),
                ("personal prefix on a project token".into(), project_token.replacen("CCIPRJ_", "CCIPAT_", 1)),
                ("never issued personal token".into(), NewToken::generate(TokenKind::Personal).expose().to_owned()),
                ("never issued project token".into(), NewToken::generate(TokenKind::Project).expose().to_owned()),
                ("a stored runner token".into(), runner.expose().to_owned()),
                ("uppercased".into(), personal.to_uppercase()),
                ("truncated".into(), personal[..TOKEN_LEN - 1].to_owned()),
                ("legacy 40-hex token".into(), "3cc80b12ab3627373c76e13735b8bc00a1259b9e".into()),
                ("10 KB".into(), "A".repeat(10 * 1024)),
                ("10 KB after a real token".into(), format!("{personal}{}", "0".repeat(10 * 1024))),
            ]);
            let c = reqwest::Client::new();
            for (what, token) in &bad {
                for path in paths {
                    let r = send(c.get(app.at(path)).header("Circle-Token", token)).await;
                    assert_eq!((r.status, r.message()), (401, INVALID), "{what} on {path}: {}", r.text);
                }
            }

            // Credentials that cannot even be read.
            let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
            let unreadable: Vec<(&str, Headers, &str)> = vec![
                ("non-ASCII (UTF-8) in Circle-Token", vec![("circle-token", HeaderValue::from_bytes("CCIPAT_café".as_bytes()).unwrap())], ""),
                ("Latin-1 byte in Circle-Token", vec![("circle-token", HeaderValue::from_bytes(b"CCIPAT_caf\xe9").unwrap())], ""),
                ("non-ASCII next to a real token", vec![("circle-token", HeaderValue::from_str(&personal).unwrap()), ("authorization", HeaderValue::from_bytes(b"Bearer \xff").unwrap())], ""),
                ("Basic with garbage base64", vec![("authorization", HeaderValue::from_static("Basic %%%not-base64%%%"))], ""),
                ("Basic with base64 of non-UTF-8", vec![("authorization", HeaderValue::from_str(&format!("Basic {}", b64(b"\xff\xfe:"))).unwrap())], ""),
                ("Basic with nothing", vec![("authorization", HeaderValue::from_static("Basic"))], ""),
                ("Basic with an empty user", vec![("authorization", HeaderValue::from_str(&basic(":password")).unwrap())], ""),
                ("Bearer with nothing", vec![("authorization", HeaderValue::from_static("Bearer "))], ""),
                ("empty Circle-Token", vec![("circle-token", HeaderValue::from_static(""))], ""),
                ("empty circle-token parameter", vec![], "?circle-token="),
                ("circle-token parameter of spaces", vec![], "?circle-token=%20%20"),
                ("bad percent-encoding", vec![], "?circle-token=%ZZ%"),
            ];
            for (what, headers, query) in &unreadable {
                for path in paths {
                    let mut request = c.get(format!("{}{query}", app.at(path)));
                    for (name, value) in headers {
                        request = request.header(*name, value.clone());
                    }
                    let r = send(request).await;
                    assert_eq!((r.status, r.message()), (401, INVALID), "{what} on {path}: {}", r.text);
                }
            }

            // A project token is the wrong kind for user-level endpoints; its own project it
            // reads through v2 as through v1.1 (issue 17 item 14).
            for path in ["/api/v1.1/me", "/api/v2/me"] {
                get_with(&app, &project_token, path).await.is(401, LOGIN_REQUIRED);
            }
            get_with(&app, &project_token, "/api/v2/project/gh/acme/widgets").await.status_is(200);
            // An authorization scheme circlet does not know is no credential at all.
            let r = send(c.get(app.at("/api/v2/me")).header("Authorization", "Digest username=\"ada\"")).await;
            r.is(401, LOGIN_REQUIRED);
            // Whitespace around a good token is forgiven.
            let r = send(c.get(app.at("/api/v2/me")).header("Circle-Token", format!("  {personal}\t"))).await;
            r.status_is(200);
            let r = send(c.get(format!("{}?circle-token=%20{personal}%20", app.at("/api/v2/me")))).await;
            r.status_is(200);
        }

        async fn an_expired_token_is_refused_once_its_time_has_come(app, |c| c.app.usage_flush_interval = Duration::from_millis(50)) {
            let ada = app.user("ada", false).await;
            app.project(&ada, "gh/acme/widgets", false).await;
            let asked = OffsetDateTime::now_utc() + time::Duration::seconds(4);
            let (token, record) = app.personal_token_expiring(&ada, Some(asked)).await;
            let expires = record.expires_at.expect("an expiry was set");
            assert!(expires <= asked && asked - expires < time::Duration::seconds(1), "stored to the second");
            // Poll until refused. The server's clock is ours, so each answer can be checked against
            // the moment the request left and the moment the answer came: accepted only if sent
            // before the expiry, refused only if answered after it. (Whether any request is early
            // enough to be accepted depends on the machine's speed, so that is not asserted.)
            let deadline = Instant::now() + Duration::from_secs(20);
            let refusal = loop {
                let sent = OffsetDateTime::now_utc();
                let r = get_with(&app, &token, "/api/v2/me").await;
                let answered = OffsetDateTime::now_utc();
                match r.status {
                    200 => {
                        assert!(sent < expires, "accepted at {sent}, after expiring at {expires}");
                    }
                    401 => {
                        assert!(answered >= expires, "refused at {answered}, before expiring at {expires}");
                        break r;
                    }
                    _ => panic!("unexpected answer: {}", r.text),
                }
                assert!(Instant::now() < deadline, "still accepted long after {expires}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            };
            assert!(refusal.message() == INVALID || refusal.message().contains("expired"), "{}", refusal.text);
            let r = get_with(&app, &token, PROJECT_TOKENS).await;
            assert_eq!(r.status, 401, "{}", r.text);
            // The use of an expired token is audited.
            let (store, uuid) = (&app.store, record.uuid);
            let entry = eventually("the expired use in the audit log", || async move {
                let entries = store.audit().list(circlet_store::AuditScope::All, 100).await.unwrap();
                let found = entries.iter().find(|e| e.event == "token.expired_use" && e.token_uuid == Some(uuid)).cloned();
                found.ok_or_else(|| format!("{entries:?}"))
            }).await;
            assert_eq!((entry.address.as_str(), entry.owner_id), ("127.0.0.1", Some(ada.id)));
        }

        async fn failed_authentications_are_throttled_per_address(app, |c| c.http.auth_failures_per_window = 5) {
            let ada = app.user("ada", false).await;
            let token = app.personal_token(&ada).await;
            let local = client_from([127, 0, 0, 1]);
            let me = app.at("/api/v2/me");
            let forged = one_char_changed(&token, 33);
            for i in 0..5 {
                let r = send(local.get(&me).header("Circle-Token", &forged)).await;
                assert_eq!((r.status, r.message()), (401, INVALID), "failure {i}");
            }
            for request in [
                local.get(&me).header("Circle-Token", &forged),
                local.get(&me).header("Authorization", "Basic %%%"),
                local.get(format!("{me}?circle-token=nope")),
            ] {
                let r = send(request).await;
                assert_eq!(r.status, 429, "{}", r.text);
                let retry: u64 = r.headers.get("retry-after").expect("Retry-After").to_str().unwrap().parse().unwrap();
                assert!((1..=5 * 60).contains(&retry), "Retry-After: {retry}");
                assert!(!r.message().is_empty() && r.message().contains("failed authentications"), "{}", r.text);
            }
            // The same user's good token keeps working from another address.
            let elsewhere = client_from([127, 0, 0, 2]);
            let r = send(elsewhere.get(&me).header("Circle-Token", &token)).await;
            assert_eq!((r.status, r.body["login"].as_str()), (200, Some("ada")), "{}", r.text);
            // And that address has its own count.
            send(elsewhere.get(&me).header("Circle-Token", &forged)).await.is(401, INVALID);
            // Requests without credentials are not failures and are not throttled.
            send(local.get(&me)).await.is(401, LOGIN_REQUIRED);
            let r = Reply::of(local.get(app.at("/api/v2/nothing")).send().await.unwrap()).await;
            r.status_is(404);
        }
    }
}
