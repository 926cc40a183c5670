//! Issue 15 end to end: a forge's webhook for a forked pull request reaches `circlet serve`, the
//! embedded runner checks the fork's commit out from `refs/pull/N/head` (on no branch) in its
//! sandbox, the job gets CircleCI's fork variables and none of the project's secrets; the
//! webhook secret, made in the web UI, survives `admin rotate-env-key`.

use crate::builds::{Api, PASSWORD, setup};
use crate::{Browser, Server};
use circlet_core::forge::{Forge, signature};
use circlet_store::BackendKind;
use circlet_testkit::GitRepo;
use serde_json::{Value, json};

const FORK_CONFIG: &str = r#"
version: 2.1
jobs:
  build:
    docker: [{image: cimg/base:stable}]
    steps:
      - checkout
      - run: test -f fork.txt && echo "fork=$CIRCLE_PR_NUMBER branch=$CIRCLE_BRANCH key=${DEPLOY_KEY:-none}"
workflows:
  main:
    jobs: [build]
"#;

/// A commit only at `refs/pull/{n}/head`, as GitHub keeps a fork's head in the base repository.
fn fork_commit(repo: &GitRepo, n: u64, text: &str) -> String {
    let sha = repo.commit_on("fork-work", &[("fork.txt", text)], "from a fork");
    for args in [
        vec![
            "update-ref".to_owned(),
            format!("refs/pull/{n}/head"),
            sha.clone(),
        ],
        vec!["branch".into(), "-D".into(), "fork-work".into()],
    ] {
        let ok = std::process::Command::new("git")
            .arg("-C")
            .arg(repo.path())
            .args(&args)
            .status()
            .unwrap()
            .success();
        assert!(ok, "git {args:?}");
    }
    sha
}

/// Makes the project's webhook secret in Project settings → Webhooks, as its admin would.
async fn secret_from_the_ui(server: &Server) -> String {
    let b = Browser::new(server);
    assert_eq!(b.log_in("alice", PASSWORD).await.status(), 303);
    let page = b.get("/projects/gh/acme/widget/settings/webhooks").await;
    let html = page.text().await.unwrap();
    let csrf = circlet_testkit::csrf_in(&html).expect("a csrf field");
    let made = b
        .http
        .post(format!(
            "{}/projects/gh/acme/widget/settings/webhooks/secret",
            b.base
        ))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(made.status(), 200);
    let html = made.text().await.unwrap();
    let start = html
        .find("id=\"secret-value\">")
        .expect("the secret is shown")
        + 18;
    html[start..start + 64].to_owned()
}

/// Delivers GitHub's forked pull request payload for head `sha`, signed with `secret`.
async fn deliver(server: &Server, secret: &str, id: &str, action: &str, sha: &str) -> (u16, Value) {
    let path = format!(
        "{}/../core/tests/forge_payloads/github_pull_request_fork.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut body: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    body["action"] = json!(action);
    body["number"] = json!(5);
    body["pull_request"]["number"] = json!(5);
    body["pull_request"]["head"]["sha"] = json!(sha);
    let raw = serde_json::to_vec(&body).unwrap();
    let r = reqwest::Client::new()
        .post(server.url("/api/hooks/github/gh/acme/widget"))
        .header("X-GitHub-Event", "pull_request")
        .header("X-GitHub-Delivery", id)
        .header(
            "X-Hub-Signature-256",
            signature::sign(Forge::GitHub, secret.as_bytes(), &raw),
        )
        .body(raw)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_forked_pull_request_is_checked_out_from_its_pull_ref_without_the_project_s_secrets() {
    let repo = GitRepo::with_config(FORK_CONFIG);
    let (inst, token) = setup(BackendKind::Sqlite, &repo).await;
    let server = inst.serve();
    let api = Api::new(&server, &token);
    let (status, body) = api
        .post(
            "/api/v2/project/gh/acme/widget/envvar",
            json!({"name": "DEPLOY_KEY", "value": "very-secret-deploy-key-42"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = api
        .put(
            "/api/v1.1/project/gh/acme/widget/settings",
            json!({"feature_flags": {"build-fork-prs": true}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let secret = secret_from_the_ui(&server).await;

    let sha = fork_commit(&repo, 5, "one");
    let (status, body) = deliver(&server, &secret, "fork-1", "opened", &sha).await;
    assert_eq!(status, 202, "{body}\n{}", server.log());
    let build = api.finished(1).await;
    assert_eq!(
        build["status"],
        "success",
        "{build}\n{}",
        api.output(&build).await
    );
    let output = api.output(&build).await;
    assert!(output.contains("fork=5 branch=pull/5 key=none"), "{output}");
    assert!(output.contains("refs/pull/5/head"), "{output}");

    // The secret is sealed like env vars: rotating the key keeps it working.
    inst.admin(&["rotate-env-key"], None).ok();
    let next = fork_commit(&repo, 5, "two");
    let (status, body) = deliver(&server, &secret, "fork-2", "synchronize", &next).await;
    assert_eq!(status, 202, "{body}");
    let build = api.finished(2).await;
    assert_eq!(build["vcs_revision"], next.as_str());
    let (stopped, log) = server.stop();
    assert!(stopped.success());
    assert!(
        !log.contains(&secret),
        "the webhook secret reached the server log"
    );
}
