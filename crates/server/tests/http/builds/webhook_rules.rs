//! CircleCI's project settings that decide what a webhook builds (issue 15, item 2), and the
//! other forges' payloads: forked pull requests and their secrets, `[ci skip]`, "Only build
//! pull requests", "Auto-cancel redundant workflows", v1.1's `feature_flags`; Gitea, GitLab
//! and Bitbucket deliveries.

use super::webhooks::{Hooked, payload};
use super::{SLUG, env_of, id_of};
use circlet_store::BackendKind::Sqlite;
use serde_json::{Value, json};

async fn hooked() -> Hooked {
    super::webhooks::hooked(Sqlite).await
}

/// Sets v1.1 feature flags as the project admin; fails unless 200.
async fn set_flags(h: &Hooked, flags: Value) -> Value {
    let r =
        h.fx.send_json(
            reqwest::Method::PUT,
            &format!("/api/v1.1/project/{SLUG}/settings"),
            &json!({ "feature_flags": flags }),
        )
        .await;
    r.status_is(200);
    r.body
}

/// A commit on no branch, only at `refs/pull/{n}/head`, as GitHub keeps a fork's head.
fn fork_commit(h: &Hooked, n: u64, text: &str) -> String {
    let sha =
        h.fx.repo
            .commit_on("fork-work", &[("fork.txt", text)], "from a fork");
    let git = |args: &[&str]| {
        let ok = std::process::Command::new("git")
            .arg("-C")
            .arg(h.fx.repo.path())
            .args(args)
            .status()
            .unwrap()
            .success();
        assert!(ok, "git {args:?}");
    };
    git(&["update-ref", &format!("refs/pull/{n}/head"), &sha]);
    git(&["branch", "-D", "fork-work"]);
    sha
}

fn fork_pr(action: &str, sha: &str) -> Value {
    let mut p = payload("github_pull_request_fork");
    p["action"] = json!(action);
    p["pull_request"]["head"]["sha"] = json!(sha);
    p
}

#[tokio::test]
async fn forked_pull_requests_build_only_when_allowed_and_without_secrets_unless_allowed() {
    let h = hooked().await;
    let runner = h.fx.runner("r").await;
    h.fx.post_json(
        &format!("/api/v2/project/{SLUG}/envvar"),
        &json!({"name": "DEPLOY_KEY", "value": "s3cret-value-123"}),
    )
    .await
    .status_is(201);
    let sha = fork_commit(&h, 3, "1");

    // Off by default, as on CircleCI.
    let a = h
        .deliver("github", "pull_request", "f1", &fork_pr("opened", &sha))
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(
        a.body["message"]
            .as_str()
            .unwrap()
            .contains("Build forked pull requests"),
        "{}",
        a.body
    );
    assert!(h.pipelines().await.is_empty());

    let flags = set_flags(&h, json!({"build-fork-prs": true})).await;
    assert_eq!(flags["feature_flags"]["build-fork-prs"], true);
    assert_eq!(
        flags["feature_flags"]["forks-receive-secret-env-vars"],
        false
    );
    // The same delivery redelivered from Project settings builds now.
    let redelivered = h.redeliver_newest().await;
    assert_eq!(
        redelivered.pipelines.len(),
        1,
        "{}",
        redelivered.delivery.detail
    );

    let job = runner.claim_some().await;
    let env = env_of(&job);
    assert_eq!(env["CIRCLE_BRANCH"], "pull/3");
    assert_eq!(env["CIRCLE_SHA1"], sha);
    assert_eq!(env["CIRCLE_PR_NUMBER"], "3");
    assert_eq!(env["CIRCLE_PR_USERNAME"], "Codertocat");
    assert_eq!(env["CIRCLE_PR_REPONAME"], "Hello-World");
    assert!(env["CIRCLE_PULL_REQUEST"].ends_with("/pull/3"));
    assert!(
        !env.contains_key("DEPLOY_KEY"),
        "a fork got the project's secret"
    );
    for id_token in ["CIRCLE_OIDC_TOKEN", "CIRCLE_OIDC_TOKEN_V2"] {
        assert!(!env.contains_key(id_token), "a fork got {id_token}");
    }
    assert_eq!(job["fetch_ref"], "refs/pull/3/head");
    let messages = job["messages"].to_string();
    assert!(messages.contains("forked pull request"), "{messages}");
    // The job's page says so, and links the pull request.
    let page =
        h.fx.app
            .logged_in("ada")
            .await
            .get(
                h.fx.app
                    .at(&format!("/projects/{SLUG}/jobs/{}", job["build_num"])),
            )
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
    assert!(page.contains("id=\"secrets-withheld\""), "{page}");
    assert!(page.contains("<a href=\"https://github.com/Codertocat/Hello-World/pull/3\">#3</a>"));
    runner.finish(id_of(&job), "failed").await;
    // The fork's commit is in circlet's mirror now, but is no branch's: a trigger of main at
    // that revision is refused rather than built as main with the project's secrets.
    let r =
        h.fx.post_json(
            &format!("/api/v1.1/project/{SLUG}/tree/main"),
            &json!({"revision": sha}),
        )
        .await;
    r.status_is(400);
    assert!(
        r.body["message"]
            .as_str()
            .unwrap()
            .contains("does not exist"),
        "{}",
        r.body
    );

    // Allowed: the next head gets them.
    set_flags(&h, json!({"forks-receive-secret-env-vars": true})).await;
    let next = fork_commit(&h, 3, "2");
    let a = h
        .deliver(
            "github",
            "pull_request",
            "f2",
            &fork_pr("synchronize", &next),
        )
        .await;
    assert_eq!(a.status, 202, "{}", a.body);
    let job = runner.claim_some().await;
    assert_eq!(env_of(&job)["DEPLOY_KEY"], "s3cret-value-123");
    let v2 = &env_of(&job)["CIRCLE_OIDC_TOKEN_V2"];
    assert_eq!(v2.split('.').count(), 3, "{v2}");
    assert!(
        job["masks"].to_string().contains(v2.as_str()),
        "the ID token is masked"
    );
    assert!(!job["messages"].to_string().contains("forked pull request"));
}

#[tokio::test]
async fn ci_skip_only_pull_requests_and_auto_cancel() {
    let h = hooked().await;
    let push = |branch: &str, sha: &str| {
        let mut p = payload("github_push");
        p["ref"] = json!(format!("refs/heads/{branch}"));
        p["after"] = json!(sha);
        p
    };

    // [ci skip] in the head commit: nothing; the same commit tagged is still released.
    let skipped =
        h.fx.repo
            .commit(&[("README", "typo")], "docs: typo\n\n[skip ci]");
    let a = h
        .deliver("github", "push", "s1", &push("main", &skipped))
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(
        a.body["message"]
            .as_str()
            .unwrap()
            .contains("asks not to be built"),
        "{}",
        a.body
    );
    assert!(h.pipelines().await.is_empty());
    h.fx.repo.tag("v2.0.0");
    let mut tag = payload("github_push_tag");
    tag["ref"] = json!("refs/tags/v2.0.0");
    tag["after"] = json!(skipped);
    assert_eq!(h.deliver("github", "push", "s2", &tag).await.status, 202);

    // Only build pull requests: a branch without one is not built; the default branch is.
    set_flags(&h, json!({"build-prs-only": true})).await;
    let f = h.fx.repo.commit_on("feature", &[("f", "1")], "feature");
    let a = h
        .deliver("github", "push", "s3", &push("feature", &f))
        .await;
    assert!(
        a.body["message"]
            .as_str()
            .unwrap()
            .contains("Only build pull requests"),
        "{}",
        a.body
    );
    let m = h.fx.repo.commit(&[("m", "1")], "main moves");
    assert_eq!(
        h.deliver("github", "push", "s4", &push("main", &m))
            .await
            .status,
        202
    );
    assert_eq!(h.pipelines().await.len(), 2);

    // Auto-cancel: a newer push of a branch cancels its unfinished workflows, not main's.
    set_flags(
        &h,
        json!({"build-prs-only": false, "autocancel-builds": true}),
    )
    .await;
    let f1 = h.fx.repo.commit_on("feature", &[("f", "2")], "one");
    assert_eq!(
        h.deliver("github", "push", "s5", &push("feature", &f1))
            .await
            .status,
        202
    );
    let m2 = h.fx.repo.commit(&[("m", "2")], "main again");
    assert_eq!(
        h.deliver("github", "push", "s6", &push("main", &m2))
            .await
            .status,
        202
    );
    let f2 = h.fx.repo.commit_on("feature", &[("f", "3")], "two");
    assert_eq!(
        h.deliver("github", "push", "s7", &push("feature", &f2))
            .await
            .status,
        202
    );
    let status_of = |pipeline: &Value| {
        let id = pipeline["id"].as_str().unwrap().to_owned();
        let fx = &h.fx;
        async move {
            let r = fx.get(&format!("/api/v2/pipeline/{id}/workflow")).await;
            r.status_is(200);
            r.body["items"][0]["status"].as_str().unwrap().to_owned()
        }
    };
    let pipelines = h.pipelines().await;
    let by_revision = |sha: &str| {
        pipelines
            .iter()
            .find(|p| p["vcs"]["revision"] == sha)
            .unwrap()
            .clone()
    };
    assert_eq!(status_of(&by_revision(&f1)).await, "canceled");
    assert_ne!(status_of(&by_revision(&m2)).await, "canceled");
    assert_ne!(status_of(&by_revision(&f2)).await, "canceled");
}

#[tokio::test]
async fn v1_settings_are_for_admins_and_refuse_flags_circlet_does_not_keep() {
    let h = hooked().await;
    let r =
        h.fx.get(&format!("/api/v1.1/project/{SLUG}/settings"))
            .await;
    r.status_is(200);
    assert_eq!(r.body["feature_flags"]["build-prs-only"], false);
    assert_eq!(r.body["default_branch"], "main");
    let unknown =
        h.fx.send_json(
            reqwest::Method::PUT,
            &format!("/api/v1.1/project/{SLUG}/settings"),
            &json!({"feature_flags": {"set-github-status": true}}),
        )
        .await;
    unknown.status_is(400);
    assert!(
        unknown.body["message"]
            .as_str()
            .unwrap()
            .contains("set-github-status")
    );
    // /projects shows the same flags.
    let projects = h.fx.get("/api/v1.1/projects").await;
    assert_eq!(
        projects.body[0]["feature_flags"]["autocancel-builds"],
        false
    );

    let reader = h.fx.app.user("rita", false).await;
    h.fx.app
        .store
        .projects()
        .set_member(h.fx.project.id, reader.id, circlet_core::Role::Write)
        .await
        .unwrap();
    let token = h.fx.app.personal_token(&reader).await;
    let r =
        h.fx.get_as(&token, &format!("/api/v1.1/project/{SLUG}/settings"))
            .await;
    r.status_is(403);
}

#[tokio::test]
async fn gitea_gitlab_and_bitbucket_deliveries_start_pipelines() {
    let h = hooked().await;
    let sha = h.fx.repo.commit_on("feature", &[("x", "1")], "x");

    let mut gitea = payload("gitea_push");
    gitea["ref"] = json!("refs/heads/feature");
    gitea["after"] = json!(sha);
    let a = h.deliver("gitea", "push", "g1", &gitea).await;
    assert_eq!(a.status, 202, "{}", a.body);
    assert_eq!(h.fx.build(1).await["why"], "gitea");

    let mut gitlab = payload("gitlab_push");
    gitlab["ref"] = json!("refs/heads/main");
    gitlab["after"] = json!(h.fx.repo.head());
    gitlab["checkout_sha"] = json!(h.fx.repo.head());
    assert_eq!(
        h.deliver("gitlab", "Push Hook", "l1", &gitlab).await.status,
        202
    );
    // GitLab sends its secret token as is: anything else is refused.
    let wrong = h
        .deliver_signed("gitlab", "Push Hook", "l2", &gitlab, "guess")
        .await;
    assert_eq!(wrong.status, 401);

    // Bitbucket names a pull request's head by 12 characters; the build has the full id.
    let other = h.fx.repo.commit_on("bb-work", &[("y", "1")], "y");
    let mut bb = payload("bitbucket_pullrequest_created");
    bb["pullrequest"]["source"]["branch"]["name"] = json!("bb-work");
    bb["pullrequest"]["source"]["commit"]["hash"] = json!(&other[..12]);
    let a = h
        .deliver("bitbucket", "pullrequest:created", "b1", &bb)
        .await;
    assert_eq!(a.status, 202, "{}", a.body);
    let p = &h.pipelines().await[0];
    assert_eq!(p["vcs"]["revision"], other.as_str());
    assert_eq!(p["vcs"]["branch"], "bb-work");
    assert_eq!(
        p["vcs"]["review_url"],
        bb["pullrequest"]["links"]["html"]["href"]
    );
    let mut bb_push = payload("bitbucket_push");
    bb_push["push"]["changes"][0]["new"]["name"] = json!("main");
    bb_push["push"]["changes"][0]["new"]["target"]["hash"] = json!(h.fx.repo.head());
    let a = h.deliver("bitbucket", "repo:push", "b2", &bb_push).await;
    assert_eq!(a.status, 202, "{}", a.body);
    assert_eq!(h.pipelines().await.len(), 4);
}

#[tokio::test]
async fn one_delivery_naming_many_refs_builds_a_bounded_number() {
    let h = hooked().await;
    let head = h.fx.repo.head();
    let mut push = payload("bitbucket_push");
    let change = push["push"]["changes"][0].clone();
    let changes: Vec<Value> = (0..25)
        .map(|i| {
            let name = format!("t{i}");
            h.fx.repo.tag(&name);
            let mut c = change.clone();
            c["new"]["type"] = json!("tag");
            c["new"]["name"] = json!(name);
            c["new"]["target"]["hash"] = json!(head);
            c
        })
        .collect();
    push["push"]["changes"] = json!(changes);
    let a = h.deliver("bitbucket", "repo:push", "many", &push).await;
    assert_eq!(a.status, 202, "{}", a.body);
    assert!(
        a.body["message"]
            .as_str()
            .unwrap()
            .contains("25 refs moved"),
        "{}",
        a.body
    );
    assert_eq!(a.body["pipelines"].as_array().unwrap().len(), 20);
}
