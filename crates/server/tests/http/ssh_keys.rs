//! A project's SSH keys over CircleCI's APIs (issue 14 item 4, the keys themselves): checkout
//! keys over v1.1 and v2 (create, list with the preferred one, get and delete by either
//! fingerprint), additional keys over v1.1 (`ssh-key`, an RSA key in PEM as CircleCI's docs make
//! them), private halves sealed at rest and never shown, bad input as 4xx with a message, and
//! only project admins allowed.

use crate::app::TestApp;
use crate::builds::{Fx, SLUG};
use crate::tokens::send;
use circlet_testkit::both_backends;
use serde_json::{Value, json};

/// A throwaway RSA key in PEM (`ssh-keygen -m PEM -t rsa -b 2048`), and its fingerprints as
/// `ssh-keygen -l` printed them.
const RSA_PEM: &str = include_str!("../../../core/tests/ssh_keys/rsa_pem");
const RSA_MD5: &str = "3c:82:b6:d8:fe:5a:4a:8a:8f:69:6a:0b:1f:f4:3f:f0";
const RSA_SHA256: &str = "SHA256:HgUO66ajtCgdIBHGcY/WhHw5O3hpKdi/+W2JffuiMBU";

async fn delete(fx: &Fx, path: &str, body: Option<&Value>) -> crate::tokens::Reply {
    let mut rb = reqwest::Client::new()
        .delete(fx.app.at(path))
        .header("Circle-Token", &fx.token);
    if let Some(b) = body {
        rb = rb.json(b);
    }
    send(rb).await
}

both_backends! {
    setup = TestApp::spawn;

    async fn checkout_keys_over_v1_and_v2(app) {
        let fx = Fx::new(app).await;
        let v1 = format!("/api/v1.1/project/{SLUG}/checkout-key");
        let v2 = format!("/api/v2/project/{SLUG}/checkout-key");
        let listed = fx.get(&v1).await;
        listed.status_is(200);
        assert_eq!(listed.body, json!([]));

        let made = fx.post_json(&v1, &json!({"type": "deploy-key"})).await;
        made.status_is(201);
        let first = made.body.clone();
        assert_eq!(first["type"], "deploy-key");
        assert_eq!(first["preferred"], json!(true));
        assert!(first["public_key"].as_str().unwrap().starts_with("ssh-ed25519 "), "{first}");
        let fp1 = first["fingerprint"].as_str().unwrap().to_owned();
        assert_eq!(fp1.split(':').count(), 16, "MD5, as CircleCI shows it: {fp1}");
        assert!(first["time"].is_string());

        let made = fx.post_json(&v2, &json!({"type": "user-key"})).await;
        made.status_is(201);
        assert_eq!(made.body["type"], "user-key");
        assert!(made.body["public-key"].is_string() && made.body["created-at"].is_string(), "{}", made.body);
        let fp2 = made.body["fingerprint"].as_str().unwrap().to_owned();

        // v1.1 calls the user key github-user-key; the newest key is the preferred one.
        let listed = fx.get(&v1).await.body;
        let kinds: Vec<(&str, bool)> = listed.as_array().unwrap().iter()
            .map(|k| (k["type"].as_str().unwrap(), k["preferred"].as_bool().unwrap())).collect();
        assert_eq!(kinds, [("deploy-key", false), ("github-user-key", true)]);
        let page = fx.get(&v2).await.body;
        assert_eq!(page["items"].as_array().unwrap().len(), 2);
        assert_eq!(page["next_page_token"], Value::Null);

        let got = fx.get(&format!("{v1}/{fp1}")).await;
        got.status_is(200);
        assert_eq!(got.body["fingerprint"], fp1.as_str());
        fx.get(&format!("{v2}/{fp2}")).await.status_is(200);
        fx.get(&format!("{v2}/00:11")).await.status_is(404);

        // Bad input is a 400 with a message.
        for body in [json!({}), json!({"type": "root-key"})] {
            let r = fx.post_json(&v2, &body).await;
            r.status_is(400);
            assert!(r.body["message"].is_string());
        }

        delete(&fx, &format!("{v1}/{fp1}"), None).await.status_is(200);
        delete(&fx, &format!("{v2}/{fp2}"), None).await.status_is(200);
        delete(&fx, &format!("{v2}/{fp2}"), None).await.status_is(404);
        assert_eq!(fx.get(&v1).await.body, json!([]));

        // A reader of the project may not manage its keys.
        let reader = fx.app.user("rita", false).await;
        fx.app.store.projects().set_member(fx.project.id, reader.id, circlet_core::Role::Read).await.unwrap();
        let token = fx.app.personal_token(&reader).await;
        fx.get_as(&token, &v1).await.status_is(403);
    }

    async fn additional_keys_are_sealed_and_never_shown(app) {
        let fx = Fx::new(app).await;
        let path = format!("/api/v1.1/project/{SLUG}/ssh-key");
        let added = fx.post_json(&path, &json!({"hostname": "git.example.com", "private_key": RSA_PEM})).await;
        added.status_is(201);
        assert_eq!(added.body["fingerprint"], RSA_MD5);
        assert_eq!(added.body["fingerprint_sha256"], RSA_SHA256);
        assert!(added.body["public_key"].as_str().unwrap().starts_with("ssh-rsa "));
        assert!(!added.text.contains("PRIVATE KEY"));
        // The same key for the same host again is a conflict; for another host it is fine.
        fx.post_json(&path, &json!({"hostname": "git.example.com", "private_key": RSA_PEM})).await.status_is(409);
        fx.post_json(&path, &json!({"hostname": "", "private_key": RSA_PEM})).await.status_is(201);
        for bad in [
            json!({"hostname": "x"}),
            json!({"hostname": "x", "private_key": "not a key"}),
            json!({"hostname": "bad host", "private_key": RSA_PEM}),
        ] {
            let r = fx.post_json(&path, &bad).await;
            r.status_is(400);
            // The key itself is never repeated in an answer.
            assert!(!r.text.contains(RSA_PEM.lines().nth(5).unwrap()), "{}", r.text);
        }
        // Sealed at rest: the database holds no line of the private key.
        let stored = fx.app.store.ssh_keys().of_project(fx.project.id).await.unwrap();
        assert_eq!(stored.len(), 2);
        let secret_line = RSA_PEM.lines().nth(5).unwrap();
        for k in &stored {
            assert!(!String::from_utf8_lossy(&k.sealed).contains(secret_line));
        }
        // Deleted by fingerprint (either form) and host.
        delete(&fx, &path, Some(&json!({"fingerprint": RSA_SHA256, "hostname": "git.example.com"}))).await.status_is(200);
        delete(&fx, &path, Some(&json!({"fingerprint": RSA_MD5, "hostname": "git.example.com"}))).await.status_is(404);
        delete(&fx, &path, Some(&json!({"fingerprint": RSA_MD5}))).await.status_is(200);
        assert!(fx.app.store.ssh_keys().of_project(fx.project.id).await.unwrap().is_empty());
    }
}
