//! Leak reports from secret scanners (issue 16), as GitHub's secret-scanning partner program
//! sends them, signed with ECDSA P-256 keys each test makes: a live token reported is revoked,
//! audited and shown in its owner's leak banner with where it was found; every string is
//! answered `true_positive` or `false_positive`; a bad signature, an unknown key, a replay or a
//! malformed body changes nothing. The keys come from a file or from a URL served on loopback.

use super::{INVALID, Reply, get_with, one_char_changed, send};
use crate::app::TestApp;
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine;
use circlet_app::tokens::leak_reports::{NOT_CONFIGURED, REPLAYED, UNKNOWN_KEY, UNSIGNED};
use circlet_app::tokens::scanner_keys::{KeySource, KeysConfig};
use circlet_core::scope::ProjectScope;
use circlet_core::token::{NewToken, TokenKind};
use circlet_store::{AuditEntry, AuditScope, BackendKind, User};
use circlet_testkit::both_backends;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const PATH: &str = "/api/secret-scanning/github";
const PROJECT: &str = "/api/v1.1/project/gh/acme/widgets";
const WHERE: &str = "https://github.com/octocat/hello/blob/0123abc/deploy.sh";

/// A scanner's signing key, published under `id`.
struct ScannerKey {
    id: String,
    pair: EcdsaKeyPair,
}

impl ScannerKey {
    fn new(id: &str) -> Self {
        ScannerKey {
            id: id.to_owned(),
            pair: EcdsaKeyPair::generate(&ECDSA_P256_SHA256_ASN1_SIGNING).unwrap(),
        }
    }

    /// The key's entry in a keys document: SPKI in PEM, as GitHub publishes it.
    fn published(&self) -> Value {
        let der = self.pair.public_key().as_der().unwrap();
        let b64 = base64::engine::general_purpose::STANDARD.encode(der.as_ref());
        let lines: Vec<&str> = b64
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect();
        let pem = format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
            lines.join("\n")
        );
        json!({"key_identifier": self.id, "key": pem, "is_current": true})
    }

    /// Base64 of the DER signature of `body`.
    fn sign(&self, body: &[u8]) -> String {
        let sig = self.pair.sign(&SystemRandom::new(), body).unwrap();
        base64::engine::general_purpose::STANDARD.encode(sig.as_ref())
    }
}

/// A keys document publishing `keys`.
fn document(keys: &[&ScannerKey]) -> String {
    let keys: Vec<Value> = keys.iter().map(|k| k.published()).collect();
    json!({ "public_keys": keys }).to_string()
}

/// A report body of `tokens`, each found at [`WHERE`].
fn body_of(tokens: &[&str]) -> Vec<u8> {
    let entries: Vec<Value> = tokens
        .iter()
        .map(
            |t| json!({"token": t, "type": "circlet_api_token", "url": WHERE, "source": "content"}),
        )
        .collect();
    serde_json::to_vec(&entries).unwrap()
}

/// `POST` of `body` with the two headers as given.
async fn post(app: &TestApp, key_id: Option<&str>, signature: Option<&str>, body: &[u8]) -> Reply {
    let mut r = reqwest::Client::new()
        .post(app.at(PATH))
        .header("content-type", "application/json")
        .body(body.to_vec());
    if let Some(id) = key_id {
        r = r.header("Github-Public-Key-Identifier", id);
    }
    if let Some(sig) = signature {
        r = r.header("Github-Public-Key-Signature", sig);
    }
    send(r).await
}

/// `body`, signed by `key`.
async fn report(app: &TestApp, key: &ScannerKey, body: &[u8]) -> Reply {
    post(app, Some(&key.id), Some(&key.sign(body)), body).await
}

fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

/// The labels of a 200 reply, in order, each checked against its string's hash.
fn labels(r: &Reply, tokens: &[&str]) -> Vec<String> {
    r.status_is(200);
    let items = r.body.as_array().expect("an array");
    assert_eq!(items.len(), tokens.len(), "{}", r.text);
    for (item, token) in items.iter().zip(tokens) {
        assert_eq!(item["token_hash"], sha256_hex(token), "{}", r.text);
        assert_eq!(item["token_type"], "circlet_api_token");
        assert!(item.get("token_raw").is_none(), "no secret echoed");
    }
    for token in tokens {
        assert!(
            !r.text.contains(token),
            "the reply echoes a reported string"
        );
    }
    items
        .iter()
        .map(|i| i["label"].as_str().unwrap().to_owned())
        .collect()
}

async fn leaked_entries(app: &TestApp) -> Vec<AuditEntry> {
    let log = app.store.audit().list(AuditScope::All, 200).await.unwrap();
    log.into_iter()
        .filter(|e| e.event == "token.leaked")
        .collect()
}

/// A server with scanner keys in a file, a user with a project, and live tokens.
struct Fx {
    app: TestApp,
    key: ScannerKey,
    ada: User,
    personal: String,
    project_token: String,
    _keys_dir: tempfile::TempDir,
}

impl Fx {
    async fn new(kind: BackendKind) -> Fx {
        let key = ScannerKey::new("9f3e0c1d2a");
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("scanner-keys.json");
        std::fs::write(&file, document(&[&key])).unwrap();
        let app = TestApp::spawn_with(kind, |c| {
            c.app.secret_scanning = Some(KeysConfig::new(KeySource::File(file)));
        })
        .await;
        let ada = app.user("ada", false).await;
        let project = app.project(&ada, "gh/acme/widgets", false).await;
        let personal = app.personal_token(&ada).await;
        let project_token = app.project_token(&project, ProjectScope::All).await;
        get_with(&app, &personal, "/api/v1.1/me")
            .await
            .status_is(200);
        get_with(&app, &project_token, PROJECT).await.status_is(200);
        Fx {
            app,
            key,
            ada,
            personal,
            project_token,
            _keys_dir: dir,
        }
    }

    /// The tokens still work.
    async fn tokens_work(&self) {
        get_with(&self.app, &self.personal, "/api/v1.1/me")
            .await
            .status_is(200);
        get_with(&self.app, &self.project_token, PROJECT)
            .await
            .status_is(200);
    }
}

both_backends! {
    setup = Fx::new;
    async fn leak_report_revokes_live_personal_and_project_tokens(fx) {
        let app = &fx.app;
        let fake = one_char_changed(&fx.personal, fx.personal.len() - 1);
        let unknown = NewToken::generate(TokenKind::Personal);
        let sent = [
            fx.personal.as_str(),
            fx.project_token.as_str(),
            &fake,
            "ghp_not_a_circlet_token",
            unknown.expose(),
        ];
        let r = report(app, &fx.key, &body_of(&sent)).await;
        assert_eq!(
            labels(&r, &sent),
            ["true_positive", "true_positive", "false_positive", "false_positive", "false_positive"]
        );
        get_with(app, &fx.personal, "/api/v1.1/me").await.is(401, INVALID);
        get_with(app, &fx.project_token, PROJECT).await.is(401, INVALID);

        // Audited once each, with where the scanner found it and who sent the report.
        let entries = leaked_entries(app).await;
        assert_eq!(entries.len(), 2, "{entries:#?}");
        let expected = format!("was found by secret scanning in content at {WHERE} and has been revoked");
        for e in &entries {
            assert_eq!(e.actor_login, "secret-scanning");
            assert_eq!(e.address, "127.0.0.1");
            assert!(e.detail.ends_with(&expected), "{}", e.detail);
            assert!(!e.detail.contains(&fx.personal) && !e.detail.contains(&fx.project_token));
        }
        let personal = entries.iter().find(|e| e.detail.starts_with("personal API token")).unwrap();
        assert_eq!(personal.owner_id, Some(fx.ada.id));
        let project = entries.iter().find(|e| e.detail.starts_with("project API token")).unwrap();
        assert!(project.project_id.is_some());

        // The owner (also the project's admin) sees both in the leak banner; others see none.
        let owner = app.logged_in("ada").await;
        let html = owner.get(app.at("/")).send().await.unwrap().text().await.unwrap();
        assert_eq!(html.matches("id=\"leak-banner\"").count(), 2, "{html}");
        assert!(html.contains(&format!("personal API token &#x27;ada test token&#x27; (…{})", &fx.personal[fx.personal.len() - 4..]))
            || html.contains(&format!("personal API token &#39;ada test token&#39; (…{})", &fx.personal[fx.personal.len() - 4..])), "{html}");
        assert!(html.contains("was found by secret scanning in content at https://github.com/octocat/hello/blob/0123abc/deploy.sh"), "{html}");
        assert!(html.contains("A live API token leaked"), "{html}");
        // The owner, the project's admin too, has a notice of each on the dashboard.
        assert_eq!(html.matches("data-kind=\"revoked\"").count(), 2, "{html}");
        app.user("zed", false).await;
        let other = app.logged_in("zed").await;
        let html = other.get(app.at("/")).send().await.unwrap().text().await.unwrap();
        assert!(!html.contains("leak-banner"));
    }

    async fn leak_report_of_a_token_revoked_before_is_still_true_positive(fx) {
        let app = &fx.app;
        let first = [fx.personal.as_str()];
        assert_eq!(labels(&report(app, &fx.key, &body_of(&first)).await, &first), ["true_positive"]);
        // Found again, elsewhere, in a new report (and twice in it): still real, nothing more
        // revoked or audited. The project token, reported for the first time, is revoked.
        let again = [fx.personal.as_str(), fx.project_token.as_str(), fx.personal.as_str()];
        let body = serde_json::to_vec(&json!([
            {"token": again[0], "type": "circlet_api_token", "url": "https://gist.github.com/x/1", "source": "gist_content"},
            {"token": again[1], "type": "circlet_api_token", "url": "", "source": "commit"},
            {"token": again[2], "type": "circlet_api_token"},
        ])).unwrap();
        let r = report(app, &fx.key, &body).await;
        assert_eq!(labels(&r, &again), ["true_positive", "true_positive", "true_positive"]);
        let entries = leaked_entries(app).await;
        assert_eq!(entries.len(), 2, "{entries:#?}");
        assert!(entries.iter().any(|e| e.detail.ends_with("was found by secret scanning in commit and has been revoked")), "{entries:#?}");
        get_with(app, &fx.project_token, PROJECT).await.is(401, INVALID);
    }

    async fn leak_report_with_a_bad_signature_is_401_and_changes_nothing(fx) {
        let app = &fx.app;
        let body = body_of(&[&fx.personal, &fx.project_token]);
        let signed = fx.key.sign(&body);
        let id = Some(fx.key.id.as_str());

        // The signature of another body.
        let other = body_of(&[&fx.personal]);
        post(app, id, Some(&fx.key.sign(&other)), &body).await.status_is(401);
        // The body with one byte changed (the same length), under the original signature.
        let mut tampered = body.clone();
        let at = tampered.len() - 3;
        tampered[at] = if tampered[at] == b'a' { b'b' } else { b'a' };
        post(app, id, Some(&signed), &tampered).await.status_is(401);
        // Signed by a key that is not the one named.
        let impostor = ScannerKey::new(&fx.key.id);
        let r = report(app, &impostor, &body).await;
        r.is(401, "The Github-Public-Key-Signature header is not a signature of this body by the named key");
        // Not base64; not a signature at all.
        post(app, id, Some("%%%"), &body).await.is(401, "The Github-Public-Key-Signature header is not base64");
        post(app, id, Some("c2lnbmF0dXJl"), &body).await.status_is(401);
        // Missing headers.
        post(app, None, Some(&signed), &body).await.is(401, UNSIGNED);
        post(app, id, None, &body).await.is(401, UNSIGNED);
        post(app, None, None, &body).await.is(401, UNSIGNED);

        fx.tokens_work().await;
        assert!(leaked_entries(app).await.is_empty());
        // The genuine report still works afterwards: nothing was recorded by the refusals.
        let r = post(app, id, Some(&signed), &body).await;
        assert_eq!(labels(&r, &[&fx.personal, &fx.project_token]), ["true_positive", "true_positive"]);
    }

    async fn leak_report_replayed_is_409_and_changes_nothing(fx) {
        let app = &fx.app;
        let body = body_of(&[&fx.personal]);
        let signed = fx.key.sign(&body);
        let first = post(app, Some(&fx.key.id), Some(&signed), &body).await;
        assert_eq!(labels(&first, &[&fx.personal]), ["true_positive"]);
        // The same request again, and the same body signed anew (ECDSA signatures differ each
        // time): both refused, nothing audited again.
        post(app, Some(&fx.key.id), Some(&signed), &body).await.is(409, REPLAYED);
        report(app, &fx.key, &body).await.is(409, REPLAYED);
        assert_eq!(leaked_entries(app).await.len(), 1);
        get_with(app, &fx.project_token, PROJECT).await.status_is(200);
    }
}

#[tokio::test]
async fn leak_report_with_an_unknown_key_id_is_401() {
    let fx = Fx::new(BackendKind::Sqlite).await;
    let stranger = ScannerKey::new("not-published");
    let body = body_of(&[&fx.personal]);
    report(&fx.app, &stranger, &body).await.is(401, UNKNOWN_KEY);
    fx.tokens_work().await;
    assert!(leaked_entries(&fx.app).await.is_empty());
}

#[tokio::test]
async fn leak_report_that_is_not_a_report_is_400_once_signed() {
    let fx = Fx::new(BackendKind::Sqlite).await;
    let app = &fx.app;
    for body in [
        &b"[{\"token\": "[..],
        b"{\"token\": \"x\"}",
        b"[{\"type\": \"circlet_api_token\"}]",
        b"",
    ] {
        let r = report(app, &fx.key, body).await;
        r.status_is(400);
        assert!(
            r.message().starts_with("A leak report is a JSON array"),
            "{}",
            r.text
        );
        // Unsigned, the same body is a 401: nothing is read before the signature holds.
        post(app, Some(&fx.key.id), Some("AAAA"), body)
            .await
            .status_is(401);
    }
    // Over the size bound: refused before anything else.
    let huge = vec![b' '; circlet_core::leak_report::MAX_REPORT_BYTES + 1];
    post(app, Some(&fx.key.id), Some("AAAA"), &huge)
        .await
        .status_is(413);
    fx.tokens_work().await;
    // A well-formed empty report is answered with an empty list.
    let r = report(app, &fx.key, b"[]").await;
    assert_eq!(r.body, json!([]), "{}", r.text);
}

#[tokio::test]
async fn leak_report_endpoint_is_off_without_keys() {
    let app = TestApp::spawn(BackendKind::Sqlite).await;
    let key = ScannerKey::new("k");
    report(&app, &key, b"[]").await.is(404, NOT_CONFIGURED);
    post(&app, None, None, b"[]").await.is(404, NOT_CONFIGURED);
}

/// A keys document served on loopback, counting how often it is fetched; `doc` may change.
#[derive(Clone)]
struct KeysServer {
    doc: Arc<Mutex<Option<String>>>,
    fetches: Arc<Mutex<usize>>,
}

impl KeysServer {
    async fn start(doc: Option<String>) -> (KeysServer, String) {
        use axum::extract::State;
        use axum::http::StatusCode;
        let s = KeysServer {
            doc: Arc::new(Mutex::new(doc)),
            fetches: Arc::new(Mutex::new(0)),
        };
        let app = axum::Router::new()
            .route(
                "/meta/public_keys/secret_scanning",
                axum::routing::get(|State(s): State<KeysServer>| async move {
                    *s.fetches.lock().unwrap() += 1;
                    match s.doc.lock().unwrap().clone() {
                        Some(doc) => (StatusCode::OK, doc),
                        None => (StatusCode::NOT_FOUND, "no".to_owned()),
                    }
                }),
            )
            .with_state(s.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!(
            "http://{}/meta/public_keys/secret_scanning",
            listener.local_addr().unwrap()
        );
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (s, url)
    }

    fn fetches(&self) -> usize {
        *self.fetches.lock().unwrap()
    }
}

#[tokio::test]
async fn leak_report_keys_are_fetched_from_a_url_and_refetched_boundedly() {
    let key = ScannerKey::new("github-1");
    let (keys, url) = KeysServer::start(Some(document(&[&key]))).await;
    let app = TestApp::spawn_with(BackendKind::Sqlite, |c| {
        c.app.secret_scanning = Some(KeysConfig::new(KeySource::Url(url)));
    })
    .await;
    let ada = app.user("ada", false).await;
    let token = app.personal_token(&ada).await;
    assert_eq!(keys.fetches(), 0, "nothing is fetched before a report");

    let r = report(&app, &key, &body_of(&[&token])).await;
    assert_eq!(labels(&r, &[&token]), ["true_positive"]);
    get_with(&app, &token, "/api/v1.1/me")
        .await
        .is(401, INVALID);
    assert_eq!(keys.fetches(), 1);
    // Kept: the next report fetches nothing.
    report(&app, &key, b"[]").await.status_is(200);
    assert_eq!(keys.fetches(), 1);

    // Unknown key ids make one refetch at most per interval (5 minutes by default), however
    // many reports name them.
    for n in 0..3 {
        let stranger = ScannerKey::new(&format!("made-up-{n}"));
        report(&app, &stranger, b"[]").await.is(401, UNKNOWN_KEY);
    }
    assert_eq!(keys.fetches(), 1);
}

#[tokio::test]
async fn leak_report_keys_rotated_at_the_url_are_picked_up() {
    let old = ScannerKey::new("github-old");
    let (keys, url) = KeysServer::start(Some(document(&[&old]))).await;
    let app = TestApp::spawn_with(BackendKind::Sqlite, |c| {
        let mut config = KeysConfig::new(KeySource::Url(url));
        config.refetch_after = Duration::ZERO;
        c.app.secret_scanning = Some(config);
    })
    .await;
    report(&app, &old, b"[]").await.status_is(200);
    // The scanner publishes a new key and signs with it: the report naming it makes circlet
    // read the document again.
    let new = ScannerKey::new("github-new");
    *keys.doc.lock().unwrap() = Some(document(&[&old, &new]));
    report(&app, &new, b"[ ]").await.status_is(200);
    assert_eq!(keys.fetches(), 2);
    // The document becomes unreachable: the keys read before stay in use.
    *keys.doc.lock().unwrap() = None;
    report(&app, &new, b"[  ]").await.status_is(200);
    report(&app, &ScannerKey::new("other"), b"[]")
        .await
        .is(401, UNKNOWN_KEY);
}

#[tokio::test]
async fn leak_report_keys_url_unreachable_at_first_is_503() {
    let (keys, url) = KeysServer::start(None).await;
    let app = TestApp::spawn_with(BackendKind::Sqlite, |c| {
        c.app.secret_scanning = Some(KeysConfig::new(KeySource::Url(url)));
    })
    .await;
    let key = ScannerKey::new("k");
    let signature = key.sign(b"[]");
    let r = reqwest::Client::new()
        .post(app.at(PATH))
        .header("Github-Public-Key-Identifier", "k")
        .header("Github-Public-Key-Signature", signature)
        .body("[]")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    let v: Value = r.json().await.unwrap();
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("temporarily unavailable")
    );
    assert_eq!(keys.fetches(), 1);
}
