//! Refusals: bad trigger input is a 4xx `{"message"}` that says what is wrong; a config that
//! cannot run is an errored pipeline (v2) or a 400 (v1.1) and queues nothing, however hostile;
//! a repository that cannot be read says only that; tokens of one audience do not work for the
//! other.

use super::{BROKEN_CONFIG, Fx, SLUG};
use crate::app::TestApp;
use crate::tokens::{INVALID, NO_PROJECT};
use circlet_core::scope::ProjectScope;
use circlet_testkit::both_backends;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// What a trigger answers for any repository that cannot be read: git's own words name hosts,
/// ports, paths and how connecting failed, which made `repo_url` a scanner (issue 11, item 16).
const UNREADABLE: &str = "could not read the repository";

/// Triggers `main` of `slug` over v2 and v1.1.
async fn trigger_both(fx: &Fx, slug: &str) -> [crate::tokens::Reply; 2] {
    [
        fx.post_json(
            &format!("/api/v2/project/{slug}/pipeline"),
            &json!({"branch": "main"}),
        )
        .await,
        fx.post_empty(&format!("/api/v1.1/project/{slug}/tree/main"))
            .await,
    ]
}

/// A `git://` server that accepts connections and never answers, held open until dropped.
#[tokio::test]
async fn builds_a_silent_git_server_is_given_up_on_in_seconds() {
    // The fetch's time-out does not depend on the store: one backend is enough.
    let app = crate::app::TestApp::spawn(circlet_store::BackendKind::Sqlite).await;
    let fx = Fx::new(app).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let silent = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((conn, _)) = listener.accept().await {
            held.push(conn);
        }
    });
    let url = format!("git://127.0.0.1:{port}/secret/repo.git");
    fx.app
        .project_with_repo(&fx.user, "gh/acme/silent", &url, false)
        .await;
    let started = Instant::now();
    let r = fx
        .post_json(
            "/api/v2/project/gh/acme/silent/pipeline",
            &json!({"branch": "main"}),
        )
        .await;
    let took = started.elapsed();
    r.is(400, UNREADABLE);
    // The fetch gives up after 30 s (it held the request 120 s before).
    assert!(took < Duration::from_secs(45), "the trigger took {took:?}");
    silent.abort();
}

both_backends! {
    setup = TestApp::spawn;
    async fn builds_bad_v2_trigger_input_is_refused_with_a_reason(app) {
        let fx = Fx::new(app).await;
        let path = format!("/api/v2/project/{SLUG}/pipeline");
        fx.repo.tag("v1");
        let r = fx.post_json(&path, &json!({"branch": "main", "tag": "v1"})).await;
        r.status_is(400);
        assert!(r.message().contains("not both"), "{}", r.text);

        // It names the branch, and not the repository's URL (which may hold credentials).
        let r = fx.post_json(&path, &json!({"branch": "nope"})).await;
        r.is(400, "branch 'nope' does not exist in the repository");
        let r = fx.post_json(&path, &json!({"tag": "v9"})).await;
        r.is(400, "tag 'v9' does not exist in the repository");

        let many: serde_json::Map<String, Value> = (0..101).map(|i| (format!("p{i}"), json!(i))).collect();
        let r = fx.post_json(&path, &json!({"parameters": many})).await;
        r.status_is(400);
        assert!(r.message().contains("100"), "{}", r.text);
        let r = fx.post_json(&path, &json!({"parameters": {"greeting": "x".repeat(513)}})).await;
        r.status_is(400);
        let r = fx.post_json(&path, &json!({"parameters": {"greeting": [1]}})).await;
        r.status_is(400);
        let r = fx.post_json(&path, &json!({"nonsense": 1})).await;
        r.status_is(400);

        // Larger than the body limit: 413, still JSON with a message.
        let r = fx.post_json(&path, &json!({"parameters": {"big": "x".repeat(2 * 1024 * 1024)}})).await;
        r.status_is(413);
        assert!(!r.message().is_empty(), "{}", r.text);
        let r = fx.post_json(&format!("/api/v1.1/project/{SLUG}/tree/main"), &json!({"build_parameters": {"BIG": "x".repeat(2 * 1024 * 1024)}})).await;
        r.status_is(413);
        assert!(!r.message().is_empty(), "{}", r.text);

        // Build parameters may not steer the shell, the linker or git (they could leak secrets).
        for name in ["BASH_ENV", "PATH", "LD_PRELOAD", "GIT_SSH_COMMAND", "PS4"] {
            let r = fx.post_json(&format!("/api/v1.1/project/{SLUG}/tree/main"), &json!({"build_parameters": {name: "$(env)"}})).await;
            r.status_is(400);
            assert!(r.message().contains(name), "{}", r.text);
        }

        // A repository URL git would read as an option is refused when the project is made.
        let r = fx.post_json("/api/v2/project/gh/acme/evil", &json!({"repo_url": "--upload-pack=touch${IFS}/tmp/pwned"})).await;
        r.status_is(400);

        let r = fx.post_json("/api/v2/project/gh/acme/missing/pipeline", &json!({})).await;
        r.is(404, NO_PROJECT);
        let list = fx.get(&format!("/api/v2/project/{SLUG}/pipeline")).await;
        assert_eq!(list.body["items"], json!([]), "no refused trigger left a pipeline");
    }

    async fn builds_a_nul_in_a_parameter_is_refused_before_anything_is_stored(app) {
        let fx = Fx::new(app).await;
        let runner = fx.runner("r1").await;
        let v1 = format!("/api/v1.1/project/{SLUG}/tree/main");
        let r = fx.post_json(&v1, &json!({"build_parameters": {"CIRCLE_JOB": "build", "GREETING": "a\u{0}b"}})).await;
        r.status_is(400);
        assert!(r.message().contains("GREETING") && r.message().contains("NUL"), "{}", r.text);
        // The same as a form, the way `curl -d` sends it.
        let r = fx.post_form(&v1, &[("build_parameters[CIRCLE_JOB]", "build"), ("build_parameters[GREETING]", "a\0b")]).await;
        r.status_is(400);
        assert!(r.message().contains("NUL"), "{}", r.text);
        let r = fx.post_json(&v1, &json!({"build_parameters": {"A\u{0}B": "x"}})).await;
        r.status_is(400);

        let v2 = format!("/api/v2/project/{SLUG}/pipeline");
        let r = fx.post_json(&v2, &json!({"parameters": {"greeting": "a\u{0}b"}})).await;
        r.status_is(400);
        assert!(r.message().contains("greeting") && r.message().contains("NUL"), "{}", r.text);
        let r = fx.post_json(&v2, &json!({"parameters": {"gree\u{0}ting": "hi"}})).await;
        r.status_is(400);
        assert!(r.message().contains("NUL"), "{}", r.text);

        // Environment variables refuse it too, in the name and in the value.
        let envvar = format!("/api/v2/project/{SLUG}/envvar");
        fx.post_json(&envvar, &json!({"name": "A\u{0}B", "value": "x"})).await.status_is(400);
        fx.post_json(&envvar, &json!({"name": "AB", "value": "x\u{0}y"})).await.status_is(400);

        assert_eq!(runner.claim().await, None, "nothing was queued");
        let list = fx.get(&format!("/api/v2/project/{SLUG}/pipeline")).await;
        assert_eq!(list.body["items"], json!([]), "no refused trigger left a pipeline");
    }

    async fn builds_a_config_past_the_job_or_step_limits_errors_the_pipeline(app) {
        let fx = Fx::new(app).await;
        let runner = fx.runner("r1").await;
        let steps = "      - run: echo step\n".repeat(501);
        let long = format!("version: 2\njobs:\n  build:\n    steps:\n{steps}");
        fx.repo.commit_on("long", &[(".circleci/config.yml", &long)], "501 steps");
        let defs: String = (0..501).map(|i| format!("  j{i}: {{steps: [checkout]}}\n")).collect();
        let list: String = (0..501).map(|i| format!("      - j{i}\n")).collect();
        let wide = format!("version: 2\njobs:\n{defs}workflows:\n  w:\n    jobs:\n{list}");
        fx.repo.commit_on("wide", &[(".circleci/config.yml", &wide)], "501 jobs");

        for (branch, says) in [("long", "'build' has 501 steps; circlet runs at most 500 steps per job"), ("wide", "would run 501 jobs; circlet runs at most 500 jobs per pipeline")] {
            let made = fx.v2_trigger(&json!({"branch": branch})).await;
            assert_eq!(made["state"], "errored", "{branch}");
            let p = fx.get(&format!("/api/v2/pipeline/{}", made["id"].as_str().unwrap())).await;
            let message = p.body["errors"][0]["message"].as_str().unwrap_or_default();
            assert!(message.contains(says), "{branch}: {}", p.text);
            let r = fx.post_json(&format!("/api/v1.1/project/{SLUG}/tree/{branch}"), &json!({})).await;
            r.status_is(400);
            assert!(r.message().contains(says), "{branch}: {}", r.text);
        }
        assert_eq!(runner.claim().await, None, "nothing was queued");
    }

    async fn builds_an_invalid_config_errors_the_pipeline_and_queues_nothing(app) {
        let fx = Fx::new(app).await;
        let runner = fx.runner("r1").await;
        fx.repo.commit_on("broken", &[(".circleci/config.yml", BROKEN_CONFIG)], "break the config");
        let made = fx.v2_trigger(&json!({"branch": "broken"})).await;
        assert_eq!(made["state"], "errored");
        let id = made["id"].as_str().unwrap();
        let p = fx.get(&format!("/api/v2/pipeline/{id}")).await;
        assert_eq!(p.body["state"], "errored");
        let errors = p.body["errors"].as_array().unwrap();
        assert!(!errors.is_empty(), "{}", p.text);
        assert_eq!(errors[0]["type"], "config");
        assert!(errors[0]["message"].as_str().unwrap().contains("steps"), "{}", p.text);
        let ws = fx.get(&format!("/api/v2/pipeline/{id}/workflow")).await;
        assert_eq!(ws.body["items"], json!([]));
        assert_eq!(runner.claim().await, None, "nothing queued");

        // An undeclared pipeline parameter errors the pipeline too.
        let made = fx.v2_trigger(&json!({"parameters": {"nope": true}})).await;
        assert_eq!(made["state"], "errored");
        let p = fx.get(&format!("/api/v2/pipeline/{}", made["id"].as_str().unwrap())).await;
        assert!(p.body["errors"][0]["message"].as_str().unwrap().contains("'nope'"), "{}", p.text);
        let made = fx.v2_trigger(&json!({"parameters": {"greeting": 5}})).await;
        assert_eq!(made["state"], "errored", "a declared string given a number");
        assert_eq!(runner.claim().await, None);

        // v1.1 has no errored pipeline to show: 400 with the reason.
        let r = fx.post_empty(&format!("/api/v1.1/project/{SLUG}/tree/broken")).await;
        r.status_is(400);
        assert!(r.message().starts_with("Config error"), "{}", r.text);
        assert!(r.message().contains("steps"), "{}", r.text);
        let list = fx.get(&format!("/api/v1.1/project/{SLUG}")).await;
        assert_eq!(list.body, json!([]), "no build was made");

        // An empty config file.
        fx.repo.commit_on("bare", &[(".circleci/config.yml", "")], "empty config");
        let made = fx.v2_trigger(&json!({"branch": "bare"})).await;
        assert_eq!(made["state"], "errored");
    }

    async fn builds_runner_tokens_and_api_tokens_stay_apart(app) {
        let fx = Fx::new(app).await;
        let runner = fx.runner("r1").await;
        let public = fx.app.project_with_repo(&fx.user, "gh/acme/open", &fx.repo.url(), true).await;
        fx.get_as(&runner.token, "/api/v1.1/me").await.is(401, INVALID);
        fx.get_as(&runner.token, &format!("/api/v1.1/project/{SLUG}")).await.is(401, INVALID);
        fx.get_as(&runner.token, &format!("/api/v1.1/project/{}", public.slug)).await.is(401, INVALID);
        fx.get_as(&runner.token, "/api/v2/me").await.is(401, INVALID);

        let project_token = fx.app.project_token(&fx.project, ProjectScope::All).await;
        for token in [fx.token.as_str(), project_token.as_str()] {
            let r = reqwest::Client::new()
                .post(fx.app.at("/api/runner/v1/claim"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 401);
            let body: Value = r.json().await.unwrap();
            assert_eq!(body["message"], INVALID);
        }
        let r = reqwest::Client::new().post(fx.app.at("/api/runner/v1/claim")).send().await.unwrap();
        assert_eq!(r.status(), 401, "no token at all");

        // Project tokens read API v2 within their scope (circlet's extension, issue 17 item 14),
        // and never write through it.
        fx.get_as(&project_token, &format!("/api/v2/project/{SLUG}/pipeline")).await.status_is(200);
        let trigger = reqwest::Client::new()
            .post(fx.app.at(&format!("/api/v2/project/{SLUG}/pipeline")))
            .header("Circle-Token", &project_token)
            .send()
            .await
            .unwrap();
        assert!(matches!(trigger.status().as_u16(), 401 | 403), "a project token triggered: {}", trigger.status());
    }

    async fn builds_an_unreadable_repository_says_so_and_nothing_more(app) {
        let fx = Fx::new(app).await;
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let not_a_repo = tempfile::tempdir().unwrap();
        let cases = [
            ("gh/acme/nowhere", "file:///nonexistent/private-path.git".to_owned()),
            ("gh/acme/notgit", format!("file://{}", not_a_repo.path().display())),
            ("gh/acme/closed", format!("http://127.0.0.1:{closed}/internal.git")),
            ("gh/acme/refused", format!("git://127.0.0.1:{closed}/internal.git")),
        ];
        for (slug, url) in &cases {
            fx.app.project_with_repo(&fx.user, slug, url, false).await;
            for r in trigger_both(&fx, slug).await {
                // Exactly this: no path, host, port or git message gets through.
                r.is(400, UNREADABLE);
            }
        }
        let list = fx.get("/api/v2/project/gh/acme/nowhere/pipeline").await;
        assert_eq!(list.body["items"], json!([]), "no pipeline was made");
    }

    async fn builds_a_config_too_large_to_read_errors_the_pipeline(app) {
        let fx = Fx::new(app).await;
        // Compresses to a few KB in git, as the 400 MB config of issue 11 did to 2 MB.
        let big = format!("version: 2.1\n# {}\n", "x".repeat(2 * 1024 * 1024));
        fx.repo.commit_on("big", &[(".circleci/config.yml", &big)], "a config of 2 MiB");
        let made = fx.v2_trigger(&json!({"branch": "big"})).await;
        assert_eq!(made["state"], "errored");
        let p = fx.get(&format!("/api/v2/pipeline/{}", made["id"].as_str().unwrap())).await;
        assert_eq!(
            p.body["errors"][0]["message"],
            format!("config is larger than 1048576 bytes ({} bytes)", big.len()),
            "{}",
            p.text
        );
    }

    async fn builds_hostile_configs_error_the_pipeline_and_the_server_stays_up(app) {
        let fx = Fx::new(app).await;
        let runner = fx.runner("r1").await;
        // Issue 11: each of these took the whole server down.
        let mut laughs = String::from("version: 2.1\na0: &a0 [x,x,x,x,x,x,x,x,x,x]\n");
        for i in 1..10 {
            laughs.push_str(&format!("a{i}: &a{i} [{}]\n", vec![format!("*a{}", i - 1); 10].join(",")));
        }
        let cases = [
            ("laughs", laughs, "config expands to more than 250000 nodes through its aliases (YAML anchors)"),
            ("deep", format!("{}x\n", "- ".repeat(5_000)), "config nests deeper than 64 levels (line 1)"),
            ("deep-flow", format!("{}x{}\n", "[".repeat(5_000), "]".repeat(5_000)), "config nests deeper than 64 levels (line 1)"),
        ];
        for (branch, config, message) in &cases {
            fx.repo.commit_on(branch, &[(".circleci/config.yml", config)], "a hostile config");
            let made = fx.v2_trigger(&json!({"branch": branch})).await;
            assert_eq!(made["state"], "errored", "{branch}");
            let p = fx.get(&format!("/api/v2/pipeline/{}", made["id"].as_str().unwrap())).await;
            assert_eq!(p.body["errors"][0]["message"], *message, "{branch}: {}", p.text);
        }
        assert_eq!(runner.claim().await, None, "nothing queued");
        let made = fx.v2_trigger(&json!({"branch": "main"})).await;
        assert_eq!(made["state"], "created", "and the next pipeline runs");
    }
}
