//! API v1.1 triggers (`tree/:branch`, the project form, `…/build`), retry and cancel.

use super::{Fx, Req, SLUG, Ty, check_schema, env_of, id_of};
use crate::app::TestApp;
use circlet_testkit::both_backends;
use serde_json::{Value, json};

use Req::{Is, OrNull};

/// The v1.1 build summary as typed clients decode it (Go bools never null).
pub const BUILD: &[(&str, Req)] = &[
    ("vcs_url", Is(Ty::Str)),
    ("build_url", Is(Ty::Str)),
    ("build_num", Is(Ty::Int)),
    ("branch", OrNull(Ty::Str)),
    ("vcs_revision", Is(Ty::Str)),
    ("committer_name", OrNull(Ty::Str)),
    ("committer_email", OrNull(Ty::Str)),
    ("subject", OrNull(Ty::Str)),
    ("body", OrNull(Ty::Str)),
    ("why", Is(Ty::Str)),
    ("dont_build", OrNull(Ty::Str)),
    ("queued_at", Is(Ty::Time)),
    ("start_time", OrNull(Ty::Time)),
    ("stop_time", OrNull(Ty::Time)),
    ("build_time_millis", OrNull(Ty::Int)),
    ("username", Is(Ty::Str)),
    ("reponame", Is(Ty::Str)),
    ("lifecycle", Is(Ty::Str)),
    ("outcome", OrNull(Ty::Str)),
    ("status", Is(Ty::Str)),
    ("retry_of", OrNull(Ty::Int)),
    ("vcs_type", Is(Ty::Str)),
    ("vcs_tag", OrNull(Ty::Str)),
    ("user", Is(Ty::Obj)),
    ("user/is_user", Is(Ty::Bool)),
    ("user/login", Is(Ty::Str)),
    ("canceled", Is(Ty::Bool)),
    ("timedout", Is(Ty::Bool)),
    ("infrastructure_fail", Is(Ty::Bool)),
    ("is_first_green_build", Is(Ty::Bool)),
    ("oss", Is(Ty::Bool)),
    ("no_dependency_cache", Is(Ty::Bool)),
    ("ssh_disabled", Is(Ty::Bool)),
    ("parallel", Is(Ty::Int)),
    ("build_parameters", Is(Ty::Obj)),
    ("job_name", Is(Ty::Str)),
    ("workflows", Is(Ty::Obj)),
    ("workflows/job_id", Is(Ty::Uuid)),
    ("workflows/workflow_id", Is(Ty::Uuid)),
    ("workflows/workflow_name", Is(Ty::Str)),
    ("all_commit_details", Is(Ty::Arr)),
    ("pull_requests", Is(Ty::Arr)),
    ("platform", Is(Ty::Str)),
    ("messages", Is(Ty::Arr)),
];

/// The names of the jobs of the project's newest pipeline (over API v2).
async fn newest_pipeline_jobs(fx: &Fx) -> Vec<String> {
    let list = fx.get(&format!("/api/v2/project/{SLUG}/pipeline")).await;
    let pid = list.body["items"][0]["id"].as_str().unwrap().to_owned();
    let ws = fx.get(&format!("/api/v2/pipeline/{pid}/workflow")).await;
    let mut names = Vec::new();
    for w in ws.body["items"].as_array().unwrap() {
        let jobs = fx
            .get(&format!(
                "/api/v2/workflow/{}/job",
                w["id"].as_str().unwrap()
            ))
            .await;
        for j in jobs.body["items"].as_array().unwrap() {
            names.push(j["name"].as_str().unwrap().to_owned());
        }
    }
    names
}

both_backends! {
    setup = TestApp::spawn;
    async fn v1_tree_trigger_accepts_explicit_nulls_and_answers_201_with_location(app) {
        let fx = Fx::new(app).await;
        let body = json!({
            "revision": null, "tag": null, "parallel": null,
            "build_parameters": {"FOO": "bar", "NUM": 5, "OBJ": {"quux": 1}, "FLAG": true},
        });
        let r = fx.post_json(&format!("/api/v1.1/project/{SLUG}/tree/main"), &body).await;
        r.status_is(201);
        check_schema("v1.1 build", &r.body, BUILD);
        let b = &r.body;
        assert_eq!(b["build_num"], json!(1));
        assert_eq!(b["why"], "api");
        assert_eq!(b["lifecycle"], "queued");
        assert_eq!(b["status"], "queued");
        assert_eq!(b["outcome"], Value::Null);
        assert_eq!(b["job_name"], "build");
        assert_eq!(b["branch"], "main");
        assert_eq!(b["vcs_revision"], fx.repo.head().as_str());
        assert_eq!(b["subject"], "first commit");
        assert_eq!(b["username"], "acme");
        assert_eq!(b["reponame"], "widget");
        assert_eq!(b["vcs_url"], "https://github.com/acme/widget");
        assert_eq!(b["build_url"], fx.app.at("/gh/acme/widget/1"));
        assert_eq!(b["canceled"], json!(false));
        let params = b["build_parameters"].as_object().unwrap();
        assert!(params.values().all(Value::is_string), "values are strings for Go clients: {params:?}");
        assert_eq!(params["FOO"], "bar");
        assert_eq!(params["NUM"], "5");
        assert_eq!(params["FLAG"], "true");
        let obj: Value = serde_json::from_str(params["OBJ"].as_str().unwrap()).unwrap();
        assert_eq!(obj, json!({"quux": 1}));

        let location = r.headers.get("location").expect("a Location header").to_str().unwrap();
        assert_eq!(location, fx.app.at("/api/v1.1/project/github/acme/widget/1"));
        let there = fx.get(location.strip_prefix(&fx.app.url).unwrap()).await;
        there.status_is(200);
        assert_eq!(there.body["build_num"], json!(1));

        // `gh` and `github` are the same project; an empty body builds the branch head.
        let r = fx.post_empty("/api/v1.1/project/github/acme/widget/tree/main").await;
        r.status_is(201);
        assert_eq!(r.body["build_num"], json!(4), "the first pipeline took builds 1 to 3");
        assert_eq!(r.body["build_parameters"], json!({}));
    }

    async fn v1_form_encoded_circle_job_runs_only_that_job(app) {
        let fx = Fx::new(app).await;
        let runner = fx.runner("r1").await;
        fx.repo.commit_on("feature", &[("f", "1")], "feature");
        let r = fx.post_form(
            &format!("/api/v1.1/project/{SLUG}/tree/feature"),
            &[("build_parameters[CIRCLE_JOB]", "deploy"), ("build_parameters[EXTRA]", "x y")],
        ).await;
        r.status_is(201);
        assert_eq!(r.body["job_name"], "deploy");
        assert_eq!(r.body["branch"], "feature");
        assert_eq!(r.body["build_parameters"], json!({"CIRCLE_JOB": "deploy", "EXTRA": "x y"}));
        assert_eq!(newest_pipeline_jobs(&fx).await, ["deploy"], "one job in the pipeline");
        let job = runner.claim_some().await;
        assert_eq!(job["job_name"], "deploy");
        let env = env_of(&job);
        assert_eq!(env["CIRCLE_JOB"], "deploy");
        assert_eq!(env["EXTRA"], "x y");
        assert_eq!(runner.claim().await, None, "nothing else was queued");

        // CIRCLE_JOB in JSON, naming a job the config lacks: 400 naming it.
        let r = fx.post_json(
            &format!("/api/v1.1/project/{SLUG}/tree/main"),
            &json!({"build_parameters": {"CIRCLE_JOB": "nope"}}),
        ).await;
        r.status_is(400);
        assert!(r.message().contains("'nope'"), "{}", r.text);
    }

    async fn v1_branch_with_a_slash_and_a_pinned_revision(app) {
        let fx = Fx::new(app).await;
        let first = fx.repo.head();
        let slashed = fx.repo.commit_on("feature/x", &[("x", "1")], "on feature/x");
        let r = fx.post_empty(&format!("/api/v1.1/project/{SLUG}/tree/feature%2Fx")).await;
        r.status_is(201);
        assert_eq!(r.body["branch"], "feature/x");
        assert_eq!(r.body["vcs_revision"], slashed.as_str());
        let listed = fx.get(&format!("/api/v1.1/project/{SLUG}/tree/feature%2Fx")).await;
        listed.status_is(200);
        let nums: Vec<i64> = listed.body.as_array().unwrap().iter().map(|b| b["build_num"].as_i64().unwrap()).collect();
        assert_eq!(nums, [2, 1], "build and test of feature/x, newest first");

        let second = fx.repo.commit(&[("README", "two\n")], "second commit");
        let r = fx.v1_trigger("main", &json!({"revision": first})).await;
        assert_eq!(r["vcs_revision"], first.as_str());
        assert_eq!(r["subject"], "first commit");
        let r = fx.v1_trigger("main", &json!({"revision": &first[..12]})).await;
        assert_eq!(r["vcs_revision"], first.as_str(), "a short id resolves to the full one");
        let r = fx.v1_trigger("main", &json!({})).await;
        assert_eq!(r["vcs_revision"], second.as_str());
        assert_eq!(r["subject"], "second commit");
        let r = fx.post_json(&format!("/api/v1.1/project/{SLUG}/tree/main"), &json!({"revision": "0123456789abcdef"})).await;
        r.is(400, "revision '0123456789abcdef' does not exist in the repository");
    }

    async fn v1_pipeline_trigger_answers_exactly_build_created(app) {
        let fx = Fx::new(app).await;
        let r = fx.post_empty(&format!("/api/v1.1/project/{SLUG}/build")).await;
        r.status_is(200);
        assert_eq!(r.body, json!({"status": 200, "body": "Build created"}));
        assert_eq!(newest_pipeline_jobs(&fx).await, ["build", "test", "deploy"]);
        let sha = fx.repo.commit_on("feature", &[("f", "1")], "feature");
        fx.repo.tag("v2");
        let r = fx.post_json(&format!("/api/v1.1/project/{SLUG}/build"), &json!({"branch": "feature", "revision": sha})).await;
        assert_eq!(r.body, json!({"status": 200, "body": "Build created"}));
        let list = fx.get(&format!("/api/v2/project/{SLUG}/pipeline")).await;
        assert_eq!(list.body["items"][0]["vcs"]["branch"], "feature");
        assert_eq!(list.body["items"][0]["vcs"]["revision"], sha.as_str());
        let r = fx.post_form(&format!("/api/v1.1/project/{SLUG}/build"), &[("tag", "v2")]).await;
        assert_eq!(r.body, json!({"status": 200, "body": "Build created"}));
        let list = fx.get(&format!("/api/v2/project/{SLUG}/pipeline")).await;
        assert_eq!(list.body["items"][0]["vcs"]["tag"], "v2");
        let r = fx.post_json(&format!("/api/v1.1/project/{SLUG}/build"), &json!({"tag": "v2", "branch": "main"})).await;
        r.status_is(400);
    }

    async fn v1_project_trigger_builds_the_default_branch_and_selects_a_job(app) {
        let fx = Fx::new(app).await;
        let r = fx.post_json(&format!("/api/v1.1/project/{SLUG}"), &json!({"job": "test"})).await;
        r.status_is(201);
        assert_eq!(r.body["job_name"], "test");
        assert_eq!(r.body["branch"], "main");
        assert_eq!(r.body["lifecycle"], "queued", "a selected job runs alone, not blocked");
        assert_eq!(newest_pipeline_jobs(&fx).await, ["test"]);
        // The /api/v1 alias (GitHub implied) triggers the same project.
        let r = fx.post_json("/api/v1/project/acme/widget", &json!({"job": "deploy"})).await;
        r.status_is(201);
        assert_eq!(r.body["job_name"], "deploy");
        assert_eq!(r.body["build_num"], json!(2));
        let r = fx.post_empty(&format!("/api/v1.1/project/{SLUG}")).await;
        r.status_is(201);
        assert_eq!(r.body["job_name"], "build");
    }

    async fn v1_cancel_and_retry(app) {
        let fx = Fx::new(app).await;
        let runner = fx.runner("r1").await;
        let only_build = json!({"build_parameters": {"CIRCLE_JOB": "build"}});
        fx.v1_trigger("main", &only_build).await;
        // Queued: canceled at once.
        let r = fx.post_empty(&format!("/api/v1.1/project/{SLUG}/1/cancel")).await;
        r.status_is(200);
        check_schema("canceled build", &r.body, BUILD);
        assert_eq!(r.body["status"], "canceled");
        assert_eq!(r.body["outcome"], "canceled");
        assert_eq!(r.body["lifecycle"], "finished");
        assert_eq!(r.body["canceled"], json!(true));
        assert_eq!(runner.claim().await, None, "a canceled build is not handed out");

        // Retry: a new build, why retry, queued.
        let r = fx.post_empty(&format!("/api/v1.1/project/{SLUG}/1/retry")).await;
        assert!(r.status == 200 || r.status == 201, "{}", r.text);
        check_schema("retried build", &r.body, BUILD);
        assert_eq!(r.body["build_num"], json!(2));
        assert_eq!(r.body["why"], "retry");
        assert_eq!(r.body["retry_of"], json!(1));
        assert_eq!(r.body["lifecycle"], "queued");
        assert_eq!(r.body["status"], "queued");
        assert_eq!(r.body["job_name"], "build");
        assert_eq!(fx.build(1).await["status"], "canceled", "the original is unchanged");

        // Running: the next heartbeat says cancel; the runner ends it canceled.
        let job = runner.claim_some().await;
        assert_eq!(job["build_num"], json!(2));
        let r = fx.post_empty(&format!("/api/v1.1/project/{SLUG}/2/retry")).await;
        r.status_is(400);
        let r = fx.post_empty(&format!("/api/v1.1/project/{SLUG}/2/cancel")).await;
        r.status_is(200);
        assert_eq!(r.body["canceled"], json!(true));
        let hb = runner.heartbeat(id_of(&job)).await;
        assert_eq!(hb.status, 200, "{}", hb.text);
        assert_eq!(hb.json(), json!({"cancel": true}));
        runner.finish(id_of(&job), "canceled").await;
        let b = fx.build(2).await;
        assert_eq!((b["status"].as_str(), b["outcome"].as_str()), (Some("canceled"), Some("canceled")));
        assert_eq!(b["canceled"], json!(true));
        assert!(b["stop_time"].is_string());

        fx.post_empty(&format!("/api/v1.1/project/{SLUG}/99/cancel")).await.is(404, "Build not found");
        fx.post_empty(&format!("/api/v1.1/project/{SLUG}/99/retry")).await.is(404, "Build not found");
    }
}
