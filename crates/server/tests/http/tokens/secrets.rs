//! Token values never reach the database: after a flow that issues, uses, replaces and deletes
//! tokens of every kind through every path, neither the SQLite files nor a dump of the PostgreSQL
//! database contain any issued value, nor either random part of one.

use super::{DENIED, INVALID, basic, get_with, one_char_changed, send};
use crate::app::TestApp;
use circlet_app::tokens::{Actor, delete, replace};
use circlet_core::scope::ProjectScope;
use circlet_core::token::digest;
use circlet_store::BackendKind;
use circlet_testkit::both_backends;
use serde_json::json;

const BASE: &str = "/api/v1.1/project/gh/acme/widgets/token";

/// Everything the database holds, as bytes: the SQLite files (database, WAL, shared memory), or
/// a `pg_dump` of the PostgreSQL database.
fn database_bytes(app: &TestApp) -> Vec<(String, Vec<u8>)> {
    match app.db().kind {
        BackendKind::Sqlite => std::fs::read_dir(app.db().dir())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_file())
            .map(|p| (p.display().to_string(), std::fs::read(&p).unwrap()))
            .collect(),
        BackendKind::Postgres => {
            let out = std::process::Command::new("pg_dump")
                .arg("--no-owner")
                .arg("--dbname")
                .arg(&app.db().url)
                .output()
                .expect("run pg_dump");
            assert!(
                out.status.success(),
                "pg_dump failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            vec![("pg_dump".to_owned(), out.stdout)]
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

both_backends! {
    setup = TestApp::spawn;
    async fn no_token_value_is_ever_stored(app) {
        let ada = app.user("ada", false).await;
        let bob = app.user("bob", false).await;
        let root = app.user("root", true).await;
        let project = app.project(&ada, "gh/acme/widgets", false).await;
        let open = app.project(&root, "gh/acme/open", true).await;
        let mut issued: Vec<String> = Vec::new();

        // Through the service, as the CLI and the web UI do.
        let (ada_token, _) = app.personal_token_expiring(&ada, None).await;
        let in_a_week = time::OffsetDateTime::now_utc() + time::Duration::days(7);
        let (expiring, _) = app.personal_token_expiring(&ada, Some(in_a_week)).await;
        let (bob_token, bob_record) = app.personal_token_expiring(&bob, None).await;
        let root_token = app.personal_token(&root).await;
        let (status_token, status_record) = app.project_token_record(&project, ProjectScope::Status).await;
        let view_token = app.project_token(&project, ProjectScope::ViewBuilds).await;
        let open_token = app.project_token(&open, ProjectScope::All).await;
        issued.extend([ada_token.clone(), expiring.clone(), bob_token.clone(), root_token.clone(),
                       status_token.clone(), view_token.clone(), open_token.clone()]);

        // Through the API, as JSON and as a form.
        let c = reqwest::Client::new();
        let r = send(c.post(app.at(BASE)).header("Circle-Token", &ada_token).json(&json!({"scope": "all", "label": "via the API as JSON"}))).await;
        r.status_is(201);
        let api_json = r.body["token"].as_str().unwrap().to_owned();
        let r = send(c.post(app.at(BASE)).header("Authorization", format!("Bearer {root_token}")).form(&[("scope", "view-builds"), ("label", "via the API as a form")])).await;
        r.status_is(201);
        let api_form = r.body["token"].as_str().unwrap().to_owned();
        issued.extend([api_json.clone(), api_form.clone()]);

        // Replaced: the old value and the new one.
        let actor = Actor { login: "test".into(), ..Default::default() };
        let (replacement, _) = replace(&app.store, &app.state.app.config.token_policy(), &status_record, Default::default(), &actor).await.unwrap();
        issued.push(replacement.expose().to_owned());

        // Use every live one, in every form (the query string too).
        for t in [&ada_token, &expiring, &bob_token, &root_token] {
            get_with(&app, t, "/api/v2/me").await.status_is(200);
            send(c.get(app.at("/api/v1.1/me")).header("Authorization", basic(&format!("{t}:")))).await.status_is(200);
            send(c.get(format!("{}?circle-token={t}", app.at("/api/v2/me")))).await.status_is(200);
        }
        for t in [&view_token, &api_json, &api_form, &issued[9]] {
            send(c.get(format!("{}?circle-token={t}", app.at(BASE)))).await.is(403, DENIED);
        }
        get_with(&app, &status_token, BASE).await.is(401, INVALID);
        for t in &issued {
            send(c.get(app.at("/api/v2/me")).header("Circle-Token", one_char_changed(t, 50))).await.is(401, INVALID);
        }

        // Delete through the API by value (the value in the URL path), revoke through the service.
        let r = send(c.delete(app.at(&format!("{BASE}/{api_form}"))).header("Circle-Token", &ada_token)).await;
        r.status_is(200);
        delete(&app.store, &bob_record, "token.revoked", &actor).await.unwrap();
        app.state.app.usage.flush(&app.state.app).await;

        let files = database_bytes(&app);
        let all: Vec<u8> = files.iter().flat_map(|(_, b)| b.iter().copied()).collect();
        // The search sees the data: labels, and the digests that are stored in place of values.
        assert!(contains(&all, b"via the API as JSON"), "the database bytes hold no data: {:?}", files.iter().map(|f| &f.0).collect::<Vec<_>>());
        let stored_digest = digest(&api_json);
        let digest_found = contains(&all, &stored_digest.0) || contains(&all, stored_digest.to_hex().as_bytes());
        assert!(digest_found, "the stored digest of a live token is not in the database bytes");
        for (i, value) in issued.iter().enumerate() {
            for (what, needle) in [("value", value.as_str()), ("random part", &value[7..29]), ("random hex", &value[30..62])] {
                for (file, bytes) in &files {
                    assert!(!contains(bytes, needle.as_bytes()), "issued token {i}: its {what} is in {file}");
                }
            }
        }
    }
}
