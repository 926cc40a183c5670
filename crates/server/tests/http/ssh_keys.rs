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

mod page {
    use super::*;

    both_backends! {
        setup = TestApp::spawn;

        async fn the_ssh_keys_page_adds_shows_and_removes_keys(app) {
            let fx = Fx::new(app).await;
            let page = format!("/projects/{SLUG}/settings/ssh");
            let admin = fx.app.logged_in("ada").await;
            let html = admin.get(fx.app.at(&page)).send().await.unwrap().text().await.unwrap();
            assert!(html.contains("id=\"checkout-empty\"") && html.contains("id=\"additional-empty\""), "{html}");

            let r = fx.app.post_form(&admin, &page, &format!("{page}/checkout"), &[("kind", "deploy-key")]).await;
            assert_eq!(r.status(), 303);
            let keys = fx.app.store.ssh_keys().of_project(fx.project.id).await.unwrap();
            assert_eq!(keys.len(), 1);
            let html = admin.get(fx.app.at(&page)).send().await.unwrap().text().await.unwrap();
            assert!(html.contains(&keys[0].fingerprint_sha256) && html.contains(&keys[0].fingerprint_md5), "{html}");
            assert!(html.contains("(preferred)"));

            // A bad key: the page says why, keeps the hostname, never echoes the key.
            let r = fx.app.post_form(&admin, &page, &format!("{page}/additional"), &[("hostname", "git.example.com"), ("private_key", "-----BEGIN RSA PRIVATE KEY-----\nsecretline\n")]).await;
            assert_eq!(r.status(), 400);
            let html = r.text().await.unwrap();
            assert!(html.contains("id=\"error-message\"") && html.contains("value=\"git.example.com\""), "{html}");
            assert!(!html.contains("secretline"));
            let r = fx.app.post_form(&admin, &page, &format!("{page}/additional"), &[("hostname", "git.example.com"), ("private_key", RSA_PEM)]).await;
            assert_eq!(r.status(), 303);
            let html = admin.get(fx.app.at(&page)).send().await.unwrap().text().await.unwrap();
            assert!(html.contains(RSA_SHA256) && html.contains(RSA_MD5) && html.contains("git.example.com"), "{html}");
            assert!(!html.contains(RSA_PEM.lines().nth(5).unwrap()));

            for k in fx.app.store.ssh_keys().of_project(fx.project.id).await.unwrap() {
                let r = fx.app.post_form(&admin, &page, &format!("{page}/{}/remove", k.id), &[]).await;
                assert_eq!(r.status(), 303);
            }
            assert!(fx.app.store.ssh_keys().of_project(fx.project.id).await.unwrap().is_empty());

            // A reader of the project may not see the page.
            let reader = fx.app.user("rita", false).await;
            fx.app.store.projects().set_member(fx.project.id, reader.id, circlet_core::Role::Read).await.unwrap();
            let rita = fx.app.logged_in("rita").await;
            assert_eq!(rita.get(fx.app.at(&page)).send().await.unwrap().status(), 403);
        }
    }
}

/// A repository served by a real `sshd`: the server's mirror and the runner's checkout reach it
/// with the project's checkout key, a job's `add_ssh_keys` installs the additional key it asks
/// for, and without the checkout key on the server nothing can be read.
mod over_ssh {
    use super::*;
    use circlet_testkit::{GitRepo, Sshd};

    const RSA_PUB: &str = include_str!("../../../core/tests/ssh_keys/rsa_pem.pub");

    async fn finished(fx: &Fx, slug: &str, n: i64) -> Value {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            let r = fx.get(&format!("/api/v1.1/project/{slug}/{n}")).await;
            if r.status == 200 && r.body["lifecycle"] == "finished" {
                return r.body;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "build {n} did not finish: {}",
                r.text
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }

    async fn output(fx: &Fx, build: &Value) -> String {
        let mut all = String::new();
        for step in build["steps"].as_array().unwrap() {
            let url = step["actions"][0]["output_url"].as_str().unwrap();
            let out = fx.get(url.strip_prefix(&fx.app.url).unwrap()).await;
            for m in out.body.as_array().into_iter().flatten() {
                all.push_str(m["message"].as_str().unwrap_or(""));
            }
        }
        all
    }

    both_backends! {
        setup = TestApp::spawn;

        async fn checkouts_and_add_ssh_keys_use_the_projects_keys(app) {
            let fx = Fx::new(app).await;
            let sshd = Sshd::start(&[]);
            let repo = GitRepo::with_config("version: 2.1\njobs: {}\n");
            let url = sshd.url(repo.path());
            let config = format!(
                "version: 2.1\njobs:\n  build:\n    steps:\n      - checkout\n      - add_ssh_keys:\n          fingerprints: [\"{RSA_MD5}\"]\n      - run: git ls-remote {url} refs/heads/main\n      - run: cat README.md\nworkflows:\n  main:\n    jobs: [build]\n"
            );
            repo.commit(&[(".circleci/config.yml", &config), ("README.md", "over ssh\n")], "ssh");
            let slug = "gh/acme/sshrepo";
            fx.app.project_with_repo(&fx.user, slug, &url, false).await;
            let v2 = format!("/api/v2/project/{slug}/checkout-key");
            let made = fx.post_json(&v2, &json!({"type": "deploy-key"})).await;
            made.status_is(201);
            let deploy = made.body["public-key"].as_str().unwrap().to_owned();
            fx.post_json(
                &format!("/api/v1.1/project/{slug}/ssh-key"),
                &json!({"hostname": "127.0.0.1", "private_key": RSA_PEM}),
            )
            .await
            .status_is(201);

            // Without the deploy key on the SSH server, the server cannot read the repository.
            sshd.authorize(&[RSA_PUB]);
            let refused = fx.post_json(&format!("/api/v2/project/{slug}/pipeline"), &json!({"branch": "main"})).await;
            refused.status_is(400);
            assert!(refused.text.contains("could not read the repository"), "{}", refused.text);

            sshd.authorize(&[&deploy, RSA_PUB]);
            let _runner = fx.app.start_runner().await;
            let p = fx.post_json(&format!("/api/v2/project/{slug}/pipeline"), &json!({"branch": "main"})).await;
            p.status_is(201);
            let build = finished(&fx, slug, 1).await;
            let out = output(&fx, &build).await;
            assert_eq!(build["status"], "success", "{out}");
            assert!(out.contains("Using the project's checkout key"), "{out}");
            assert!(out.contains(&format!("Added SSH key {RSA_MD5} ({RSA_SHA256}) for 127.0.0.1")), "{out}");
            assert!(out.contains("refs/heads/main"), "git ls-remote over ssh with the added key: {out}");
            assert!(out.contains("over ssh"), "{out}");
            // The private keys never show in the output.
            assert!(!out.contains(RSA_PEM.lines().nth(5).unwrap()), "{out}");

            // A fingerprint the project does not have fails the step, naming it.
            let config = config.replace(RSA_MD5, "00:11:22");
            repo.commit(&[(".circleci/config.yml", &config)], "unknown key");
            fx.post_json(&format!("/api/v2/project/{slug}/pipeline"), &json!({"branch": "main"})).await.status_is(201);
            let build = finished(&fx, slug, 2).await;
            let out = output(&fx, &build).await;
            assert_eq!(build["status"], "failed", "{out}");
            assert!(out.contains("no additional SSH key with the fingerprint 00:11:22"), "{out}");
        }
    }
}
