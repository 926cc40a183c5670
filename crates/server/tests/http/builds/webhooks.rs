//! Forges' webhooks (issue 15): real payloads as each forge documents them
//! (`crates/core/tests/forge_payloads/`, sources in its `SOURCES.md`), pointed at the test's
//! repository, signed by the test with its own HMAC, delivered over HTTP; the pipelines, the
//! jobs' environment and the skipped builds that result.

use super::{Fx, SLUG, env_of, id_of};
use crate::app::TestApp;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};

/// A webhook payload from the fixtures.
pub fn payload(name: &str) -> Value {
    let path = format!(
        "{}/../core/tests/forge_payloads/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// Hex HMAC-SHA256, computed here rather than with circlet's own signing code.
fn hmac_hex(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// The fixture project with a webhook secret.
pub struct Hooked {
    pub fx: Fx,
    pub secret: String,
    client: reqwest::Client,
}

/// A delivery's answer.
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

impl Hooked {
    pub async fn new(app: TestApp) -> Hooked {
        let fx = Fx::new(app).await;
        let secret = new_secret(&fx).await;
        Hooked {
            fx,
            secret,
            client: reqwest::Client::new(),
        }
    }

    /// Delivers `body` as `forge`'s `event` with delivery id `id`, signed with `secret`.
    pub async fn deliver_signed(
        &self,
        forge: &str,
        event: &str,
        id: &str,
        body: &Value,
        secret: &str,
    ) -> Answer {
        let raw = serde_json::to_vec(body).unwrap();
        let sig = hmac_hex(secret, &raw);
        let (event_h, id_h, sig_h, sig_v) = match forge {
            "github" => (
                "X-GitHub-Event",
                "X-GitHub-Delivery",
                "X-Hub-Signature-256",
                format!("sha256={sig}"),
            ),
            "gitea" => (
                "X-Gitea-Event",
                "X-Gitea-Delivery",
                "X-Gitea-Signature",
                sig,
            ),
            "gitlab" => (
                "X-Gitlab-Event",
                "X-Gitlab-Event-UUID",
                "X-Gitlab-Token",
                secret.to_owned(),
            ),
            "bitbucket" => (
                "X-Event-Key",
                "X-Request-UUID",
                "X-Hub-Signature",
                format!("sha256={sig}"),
            ),
            other => panic!("no forge {other}"),
        };
        let r = self
            .client
            .post(self.fx.app.at(&format!("/api/hooks/{forge}/{SLUG}")))
            .header("Content-Type", "application/json")
            .header(event_h, event)
            .header(id_h, id)
            .header(sig_h, sig_v)
            .body(raw)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let body = r.json().await.unwrap_or(Value::Null);
        Answer { status, body }
    }

    /// Delivers `body` signed with the project's secret.
    pub async fn deliver(&self, forge: &str, event: &str, id: &str, body: &Value) -> Answer {
        self.deliver_signed(forge, event, id, body, &self.secret.clone())
            .await
    }

    /// The v2 pipelines of the project, newest first.
    pub async fn pipelines(&self) -> Vec<Value> {
        self.fx.pipelines().await
    }

    /// Redelivers the newest delivery, as the settings page's Redeliver does.
    pub async fn redeliver_newest(&self) -> circlet_app::hooks::Received {
        let newest = self.deliveries().await[0].uuid;
        let caller = circlet_app::Caller::Session(self.fx.user.clone());
        self.fx
            .app
            .state
            .app
            .webhooks(&caller, &self.fx.project.slug)
            .await
            .unwrap()
            .redeliver(newest)
            .await
            .unwrap()
    }

    /// The deliveries the project recorded, newest first.
    pub async fn deliveries(&self) -> Vec<circlet_store::hooks::DeliveryRecord> {
        self.fx
            .app
            .store
            .hooks()
            .deliveries(self.fx.project.id, 100)
            .await
            .unwrap()
    }
}

/// A new webhook secret for the fixture's project, made by its admin.
pub async fn new_secret(fx: &Fx) -> String {
    use secrecy::ExposeSecret;
    let caller = circlet_app::Caller::Session(fx.user.clone());
    let hooks = fx
        .app
        .state
        .app
        .webhooks(&caller, &fx.project.slug)
        .await
        .unwrap();
    hooks.new_secret().await.unwrap().expose_secret().to_owned()
}

/// GitHub's push payload moved to `branch` at `sha`.
fn github_push(branch: &str, sha: &str) -> Value {
    let mut p = payload("github_push");
    p["ref"] = json!(format!("refs/heads/{branch}"));
    p["after"] = json!(sha);
    p["head_commit"]["id"] = json!(sha);
    p
}

/// GitHub's pull request payload (`fixture`) with head `branch` at `sha`.
fn github_pr(fixture: &str, action: &str, branch: &str, sha: &str) -> Value {
    let mut p = payload(fixture);
    p["action"] = json!(action);
    p["pull_request"]["head"]["ref"] = json!(branch);
    p["pull_request"]["head"]["sha"] = json!(sha);
    p
}

/// The fixture on a fresh server of `kind`.
pub async fn hooked(kind: circlet_store::BackendKind) -> Hooked {
    Hooked::new(TestApp::spawn(kind).await).await
}

circlet_testkit::both_backends! {
    setup = hooked;

    async fn a_signed_push_starts_one_pipeline_and_a_bad_signature_stores_nothing(h) {
        let sha = h.fx.repo.commit_on("feature", &[("a.txt", "1")], "work on a feature");
        let push = github_push("feature", &sha);

        // Forged, missing or made with another secret: 401, and nothing is recorded.
        let forged = h.deliver_signed("github", "push", "d-1", &push, "not-the-secret").await;
        assert_eq!(forged.status, 401, "{}", forged.body);
        assert!(forged.body["message"].as_str().unwrap().contains("signature"));
        let unsigned = h.client
            .post(h.fx.app.at(&format!("/api/hooks/github/{SLUG}")))
            .header("X-GitHub-Event", "push")
            .body(serde_json::to_vec(&push).unwrap())
            .send().await.unwrap();
        assert_eq!(unsigned.status(), 401);
        assert!(h.deliveries().await.is_empty());
        assert!(h.pipelines().await.is_empty());

        let a = h.deliver("github", "push", "d-1", &push).await;
        assert_eq!(a.status, 202, "{}", a.body);
        assert_eq!(a.body["outcome"], "built");
        assert_eq!(a.body["pipelines"].as_array().unwrap().len(), 1);
        let pipelines = h.pipelines().await;
        assert_eq!(pipelines.len(), 1);
        let p = &pipelines[0];
        assert_eq!(p["trigger"]["type"], "webhook");
        assert_eq!(p["trigger"]["actor"]["login"], "Codertocat");
        assert_eq!(p["vcs"]["branch"], "feature");
        assert_eq!(p["vcs"]["revision"], sha.as_str());
        assert_eq!(p["id"], a.body["pipelines"][0]["id"]);
        // v1.1 says who started it the way CircleCI does for GitHub.
        assert_eq!(h.fx.build(1).await["why"], "github");

        // GitHub's "Redeliver" sends the same delivery id: nothing is built twice.
        let again = h.deliver("github", "push", "d-1", &push).await;
        assert_eq!(again.status, 200, "{}", again.body);
        assert!(again.body["message"].as_str().unwrap().contains("received before"));
        assert_eq!(h.pipelines().await.len(), 1);
        let recorded = h.deliveries().await;
        assert_eq!(recorded.len(), 1);
        assert_eq!(recorded[0].outcome, "built");
        assert_eq!(recorded[0].event, "push");
    }

    async fn pings_deletions_and_tags_do_what_circleci_does(h) {
        let ping = h.deliver("github", "ping", "p-1", &payload("github_ping")).await;
        assert_eq!(ping.status, 200, "{}", ping.body);
        assert_eq!(ping.body["outcome"], "skipped");

        let mut deleted = payload("github_push_delete");
        deleted["ref"] = json!("refs/heads/feature");
        let d = h.deliver("github", "push", "p-2", &deleted).await;
        assert_eq!(d.status, 200, "{}", d.body);
        assert!(d.body["message"].as_str().unwrap().contains("was deleted"), "{}", d.body);

        h.fx.repo.tag("v1.0.0");
        let sha = h.fx.repo.head();
        let mut tag = payload("github_push_tag");
        tag["ref"] = json!("refs/tags/v1.0.0");
        tag["after"] = json!(sha);
        let t = h.deliver("github", "push", "p-3", &tag).await;
        assert_eq!(t.status, 202, "{}", t.body);
        let pipelines = h.pipelines().await;
        assert_eq!(pipelines.len(), 1);
        assert_eq!(pipelines[0]["vcs"]["tag"], "v1.0.0");
    }
}

#[tokio::test]
async fn an_unknown_project_a_project_without_a_secret_and_an_unknown_forge_are_404() {
    let h = hooked(circlet_store::BackendKind::Sqlite).await;
    let other = h.fx.app.project(&h.fx.user, "gh/acme/plain", false).await;
    let c = reqwest::Client::new();
    let mut messages = Vec::new();
    for path in [
        "/api/hooks/github/gh/acme/nothing-here".to_owned(),
        format!("/api/hooks/github/{}", other.slug),
    ] {
        let r = c
            .post(h.fx.app.at(&path))
            .header("X-GitHub-Event", "push")
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{path}");
        messages.push(r.json::<Value>().await.unwrap()["message"].clone());
    }
    // Alike, so private slugs cannot be probed.
    assert_eq!(messages[0], messages[1]);
    let r = c
        .post(h.fx.app.at(&format!("/api/hooks/sourcehut/{SLUG}")))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    // Too large a payload is refused before anything is read.
    let big = vec![b' '; circlet_core::forge::MAX_PAYLOAD_BYTES + 1];
    let r = c
        .post(h.fx.app.at(&format!("/api/hooks/github/{SLUG}")))
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    assert!(r.json::<Value>().await.unwrap()["message"].is_string());
    // A signed payload that is not what its event carries: 400, recorded as failed.
    let bad = h
        .deliver("github", "push", "bad-1", &json!({"zen": "no ref"}))
        .await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert_eq!(h.deliveries().await[0].outcome, "failed");
}

#[tokio::test]
async fn a_pull_request_builds_its_head_with_circleci_s_pull_request_fields() {
    let h = hooked(circlet_store::BackendKind::Sqlite).await;
    let runner = h.fx.runner("r").await;
    let first = h.fx.repo.commit_on("changes", &[("a.txt", "1")], "start");

    // The branch's push builds it before any pull request exists.
    assert_eq!(
        h.deliver("github", "push", "1", &github_push("changes", &first))
            .await
            .status,
        202
    );
    let job = runner.claim_some().await;
    assert!(!env_of(&job).contains_key("CIRCLE_PULL_REQUEST"));
    runner.finish(id_of(&job), "failed").await;

    // Opening the pull request builds its head again, now knowing its pull request.
    let opened = github_pr("github_pull_request_opened", "opened", "changes", &first);
    let a = h.deliver("github", "pull_request", "2", &opened).await;
    assert_eq!(a.status, 202, "{}", a.body);
    let job = runner.claim_some().await;
    let env = env_of(&job);
    let url = "https://github.com/Codertocat/Hello-World/pull/2";
    assert_eq!(env["CIRCLE_PULL_REQUEST"], url);
    assert_eq!(env["CIRCLE_PULL_REQUESTS"], url);
    assert_eq!(env["CIRCLE_BRANCH"], "changes");
    // Not a fork: CircleCI sets CIRCLE_PR_* for forks only.
    assert!(!env.contains_key("CIRCLE_PR_NUMBER"));
    let num = job["build_num"].as_i64().unwrap();
    assert_eq!(
        h.fx.build(num).await["pull_requests"],
        json!([{"head_sha": first, "url": url}])
    );
    let p = &h.pipelines().await[0];
    assert_eq!(p["vcs"]["review_id"], "2");
    assert_eq!(p["vcs"]["review_url"], url);
    runner.finish(id_of(&job), "failed").await;

    // A new commit: GitHub sends a push and a synchronize; the pull request builds it, once.
    let second = h.fx.repo.commit_on("changes", &[("a.txt", "2")], "more");
    let push = h
        .deliver("github", "push", "3", &github_push("changes", &second))
        .await;
    assert_eq!(push.status, 200, "{}", push.body);
    assert!(
        push.body["message"]
            .as_str()
            .unwrap()
            .contains("open pull request (#2)"),
        "{}",
        push.body
    );
    let sync = github_pr(
        "github_pull_request_synchronize",
        "synchronize",
        "changes",
        &second,
    );
    assert_eq!(
        h.deliver("github", "pull_request", "4", &sync).await.status,
        202
    );
    // The same head again (an edited title on Bitbucket, a label on GitHub): built already.
    let again = h.deliver("github", "pull_request", "5", &sync).await;
    assert_eq!(again.status, 200);
    assert!(
        again.body["message"]
            .as_str()
            .unwrap()
            .contains("already built"),
        "{}",
        again.body
    );
    assert_eq!(h.pipelines().await.len(), 3);

    // Closed: its branch's pushes build again.
    let closed = github_pr("github_pull_request_closed", "closed", "changes", &second);
    assert_eq!(
        h.deliver("github", "pull_request", "6", &closed)
            .await
            .status,
        200
    );
    let third = h.fx.repo.commit_on("changes", &[("a.txt", "3")], "after");
    assert_eq!(
        h.deliver("github", "push", "7", &github_push("changes", &third))
            .await
            .status,
        202
    );
    assert_eq!(h.pipelines().await.len(), 4);
}
