//! API v1.1 reads: build lists (limit, offset, lenient filters, shallow), one branch, the
//! detail with steps after a played runner reported them, output, tests, `/recent-builds`,
//! `/projects`, and the `/api/v1` alias.

use super::v1_triggers::BUILD;
use super::{Fx, Req, SLUG, Ty, check_schema, id_of};
use crate::app::TestApp;
use circlet_testkit::GitRepo;
use circlet_testkit::both_backends;
use serde_json::{Value, json};

use Req::{Is, OrNull};

/// An action of a step in the build detail.
const ACTION: &[(&str, Req)] = &[
    ("name", Is(Ty::Str)),
    ("index", Is(Ty::Int)),
    ("step", Is(Ty::Int)),
    ("type", Is(Ty::Str)),
    ("status", Is(Ty::Str)),
    ("bash_command", OrNull(Ty::Str)),
    ("exit_code", OrNull(Ty::Int)),
    ("start_time", Is(Ty::Time)),
    ("end_time", OrNull(Ty::Time)),
    ("run_time_millis", OrNull(Ty::Int)),
    ("messages", Is(Ty::Arr)),
    ("has_output", Is(Ty::Bool)),
    ("output_url", Is(Ty::Str)),
    ("parallel", Is(Ty::Bool)),
    ("background", Is(Ty::Bool)),
];

fn nums(v: &Value) -> Vec<i64> {
    v.as_array()
        .unwrap_or_else(|| panic!("a list of builds: {v}"))
        .iter()
        .map(|b| b["build_num"].as_i64().unwrap())
        .collect()
}

/// A config of one workflow with `n` independent jobs.
fn wide_config(n: usize) -> String {
    let mut c = String::from("version: 2\njobs:\n");
    for i in 0..n {
        c.push_str(&format!("  j{i}:\n    steps: [checkout]\n"));
    }
    c.push_str("workflows:\n  wide:\n    jobs:\n");
    for i in 0..n {
        c.push_str(&format!("      - j{i}\n"));
    }
    c
}

both_backends! {
    setup = TestApp::spawn;
    async fn v1_lists_page_filter_leniently_and_go_shallow(app) {
        let fx = Fx::new(app).await;
        let runner = fx.runner("r1").await;
        let only_build = json!({"build_parameters": {"CIRCLE_JOB": "build"}});
        for _ in 0..4 {
            fx.v1_trigger("main", &only_build).await;
        }
        runner.run_next("success").await; // 1
        runner.run_next("failed").await; // 2
        let running = runner.claim_some().await; // 3 runs, 4 stays queued
        assert_eq!(running["build_num"], json!(3));

        let base = format!("/api/v1.1/project/{SLUG}");
        let list = fx.get(&base).await;
        list.status_is(200);
        assert_eq!(nums(&list.body), [4, 3, 2, 1]);
        for b in list.body.as_array().unwrap() {
            check_schema("v1.1 build in a list", b, BUILD);
        }
        assert_eq!(nums(&fx.get(&format!("{base}?limit=2")).await.body), [4, 3]);
        assert_eq!(nums(&fx.get(&format!("{base}?limit=2&offset=1")).await.body), [3, 2]);
        assert_eq!(nums(&fx.get(&format!("{base}?offset=3")).await.body), [1]);
        assert_eq!(nums(&fx.get(&format!("{base}?limit=1000")).await.body), [4, 3, 2, 1], "a large limit is capped, not refused");
        assert_eq!(nums(&fx.get(&format!("{base}?filter=completed")).await.body), [2, 1]);
        assert_eq!(nums(&fx.get(&format!("{base}?filter=successful")).await.body), [1]);
        assert_eq!(nums(&fx.get(&format!("{base}?filter=failed")).await.body), [2]);
        assert_eq!(nums(&fx.get(&format!("{base}?filter=running")).await.body), [4, 3]);
        assert_eq!(nums(&fx.get(&format!("{base}?filter=None")).await.body), [4, 3, 2, 1], "PyPI circleci sends filter=None");
        assert_eq!(nums(&fx.get(&format!("{base}?filter=completed&limit=1")).await.body), [2], "what shields.io asks");
        fx.get(&format!("{base}?limit=-1")).await.status_is(400);

        let shallow = fx.get(&format!("{base}?shallow=True&limit=1")).await;
        shallow.status_is(200);
        let b = &shallow.body[0];
        assert_eq!(b["build_num"], json!(4));
        for key in ["vcs_url", "build_url", "branch", "vcs_revision", "why", "lifecycle", "status", "outcome", "queued_at"] {
            assert!(b.get(key).is_some(), "shallow keeps {key}: {b}");
        }
        assert!(b.get("build_parameters").is_none() && b.get("workflows").is_none(), "shallow drops the rest: {b}");
        let full = &fx.get(&format!("{base}?shallow=false&limit=1")).await.body[0];
        assert!(full.get("build_parameters").is_some());

        let s = &fx.build(3).await;
        assert_eq!((s["lifecycle"].as_str(), s["status"].as_str()), (Some("running"), Some("running")));
        assert!(s["start_time"].is_string());
        let s = &fx.build(2).await;
        assert_eq!((s["lifecycle"].as_str(), s["status"].as_str(), s["outcome"].as_str()), (Some("finished"), Some("failed"), Some("failed")));
        assert_eq!(s["failed"], json!(true));
        assert!(s["build_time_millis"].is_i64());

        // One branch; the /api/v1 alias (GitHub implied) reads the same project.
        fx.repo.commit_on("feature", &[("f", "1")], "feature");
        fx.v1_trigger("feature", &only_build).await; // 5
        assert_eq!(nums(&fx.get(&format!("{base}/tree/feature")).await.body), [5]);
        assert_eq!(nums(&fx.get(&format!("{base}/tree/main")).await.body), [4, 3, 2, 1]);
        assert_eq!(nums(&fx.get(&format!("{base}/tree/nothing-here")).await.body), Vec::<i64>::new());
        assert_eq!(nums(&fx.get("/api/v1/project/acme/widget").await.body), [5, 4, 3, 2, 1]);
        assert_eq!(fx.get("/api/v1/project/acme/widget/5").await.body["branch"], "feature");
        runner.finish(id_of(&running), "success").await;
    }

    async fn v1_a_remembered_list_shows_every_change_on_the_next_request(app) {
        let fx = Fx::new(app).await;
        let runner = fx.runner("r1").await;
        let only_build = json!({"build_parameters": {"CIRCLE_JOB": "build"}});
        let base = format!("/api/v1.1/project/{SLUG}");
        let states = || async {
            let list = fx.get(&base).await;
            list.status_is(200);
            list.body.as_array().unwrap().iter()
                .map(|b| (b["build_num"].as_i64().unwrap(), b["status"].as_str().unwrap().to_owned()))
                .collect::<Vec<_>>()
        };
        let pair = |n: i64, s: &str| (n, s.to_owned());
        assert_eq!(states().await, []);
        assert_eq!(states().await, []);
        assert!(!fx.app.state.rendered_lists.is_empty(), "the rendered list is remembered");
        fx.v1_trigger("main", &only_build).await;
        assert_eq!(states().await, [pair(1, "queued")]);
        let job = runner.claim_some().await;
        assert_eq!(states().await, [pair(1, "running")]);
        runner.finish(id_of(&job), "success").await;
        assert_eq!(states().await, [pair(1, "success")]);
        let retried = fx.post_empty(&format!("{base}/1/retry")).await;
        retried.status_is(201);
        assert_eq!(states().await, [pair(2, "queued"), pair(1, "success")]);
        let canceled = fx.post_empty(&format!("{base}/2/cancel")).await;
        canceled.status_is(200);
        assert_eq!(states().await, [pair(2, "canceled"), pair(1, "success")]);
        // Made public: the list says so at once (`oss`).
        let p = &fx.project;
        fx.app.store.projects().update_settings(p.id, &p.repo_url, &p.default_branch, true).await.unwrap();
        assert_eq!(fx.get(&base).await.body[0]["oss"], json!(true));
    }

    async fn v1_build_list_limit_is_capped_at_100(app) {
        let fx = Fx::new(app).await;
        let repo = GitRepo::with_config(&wide_config(101));
        fx.app.project_with_repo(&fx.user, "gh/acme/wide", &repo.url(), false).await;
        let r = fx.post_empty("/api/v1.1/project/gh/acme/wide/build").await;
        r.status_is(200);
        let all = fx.get("/api/v1.1/project/gh/acme/wide?limit=500").await;
        assert_eq!(nums(&all.body), (2..=101).rev().collect::<Vec<_>>());
        assert_eq!(fx.get("/api/v1.1/project/gh/acme/wide").await.body.as_array().unwrap().len(), 30, "default limit");
        assert_eq!(nums(&fx.get("/api/v1.1/project/gh/acme/wide?limit=100&offset=100").await.body), [1]);
    }

    async fn v1_detail_shows_steps_output_and_tests_reported_by_the_runner(app) {
        let fx = Fx::new(app).await;
        let runner = fx.runner("r1").await;
        fx.v1_trigger("main", &json!({"build_parameters": {"CIRCLE_JOB": "build"}})).await;
        let job = runner.claim_some().await;
        let id = id_of(&job);
        // As the real runner numbers them: its own first step, then the config's steps.
        runner.start_step(id, 0, "Spin up environment", None).await;
        runner.finish_step(id, 0, "success", None).await;
        runner.start_step(id, 1, "Checkout code", None).await;
        runner.output(id, 1, "cloning\n").await;
        runner.finish_step(id, 1, "success", Some(0)).await;
        runner.start_step(id, 2, "greet", Some("echo hello")).await;
        runner.output(id, 2, "hello\n").await;
        runner.output(id, 2, "wörld\n").await;
        runner.finish_step(id, 2, "failed", Some(3)).await;
        let tests = json!({"tests": [
            {"classname": "widget.Spec", "name": "adds", "file": "spec.rb", "result": "success", "message": null, "run_time": 0.25},
            {"classname": "widget.Spec", "name": "subtracts", "file": null, "result": "failure", "message": "expected 1, got 2", "run_time": 1.5},
        ]});
        runner.tests(id, &tests).await;
        // While it runs, the detail shows what is known so far.
        let b = fx.build(1).await;
        assert_eq!(b["lifecycle"], "running");
        assert_eq!(b["steps"].as_array().unwrap().len(), 3);
        runner.finish(id, "failed").await;

        let b = fx.build(1).await;
        check_schema("v1.1 build detail", &b, BUILD);
        assert_eq!(b["status"], "failed");
        let steps = b["steps"].as_array().unwrap();
        assert_eq!(steps.len(), 3, "{b}");
        let names: Vec<&str> = steps.iter().map(|s| s["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["Spin up environment", "Checkout code", "greet"]);
        for (i, s) in steps.iter().enumerate() {
            let actions = s["actions"].as_array().unwrap();
            assert_eq!(actions.len(), 1);
            check_schema("action", &actions[0], ACTION);
            assert_eq!(actions[0]["step"], json!(i));
            assert_eq!(actions[0]["index"], json!(0));
        }
        assert_eq!(steps[0]["actions"][0]["bash_command"], Value::Null, "the runner's own step");
        let a0 = &steps[1]["actions"][0];
        let a1 = &steps[2]["actions"][0];
        assert_eq!((a0["status"].as_str(), a0["exit_code"].as_i64()), (Some("success"), Some(0)));
        assert_eq!((a1["status"].as_str(), a1["exit_code"].as_i64()), (Some("failed"), Some(3)));
        assert_eq!(a1["failed"], json!(true));
        assert_eq!(a1["bash_command"], "echo hello", "the run step's command");
        assert_eq!(a0["bash_command"], Value::Null, "checkout runs no command");

        let url = a1["output_url"].as_str().unwrap();
        let path = url.strip_prefix(&fx.app.url).unwrap_or_else(|| panic!("output_url on this server: {url}"));
        let out = fx.get(path).await;
        out.status_is(200);
        let chunks = out.body.as_array().unwrap();
        assert_eq!(chunks.len(), 1, "{}", out.text);
        assert_eq!(chunks[0]["type"], "out");
        assert_eq!(chunks[0]["message"], "hello\nwörld\n");
        let url0 = a0["output_url"].as_str().unwrap().strip_prefix(&fx.app.url).unwrap().to_owned();
        assert_eq!(fx.get(&url0).await.body[0]["message"], "cloning\n");

        let t = fx.get(&format!("/api/v1.1/project/{SLUG}/1/tests")).await;
        t.status_is(200);
        let got = t.body["tests"].as_array().unwrap();
        assert_eq!(got.len(), 2, "{}", t.text);
        assert_eq!(got[0]["name"], "adds");
        assert_eq!(got[0]["classname"], "widget.Spec");
        assert_eq!(got[0]["file"], "spec.rb");
        assert_eq!(got[0]["result"], "success");
        assert_eq!(got[0]["run_time"], json!(0.25));
        assert_eq!(got[1]["result"], "failure");
        assert_eq!(got[1]["message"], "expected 1, got 2");
        assert_eq!(got[1]["file"], Value::Null);
        fx.get(&format!("/api/v1.1/project/{SLUG}/9/tests")).await.is(404, "Build not found");
        fx.get(&format!("/api/v1.1/project/{SLUG}/9")).await.is(404, "Build not found");
    }

    async fn v1_output_of_a_step_build_or_run_that_does_not_exist_is_404(app) {
        let fx = Fx::new(app).await;
        let runner = fx.runner("r1").await;
        fx.v1_trigger("main", &json!({"build_parameters": {"CIRCLE_JOB": "build"}})).await;
        let job = runner.claim_some().await;
        let id = id_of(&job);
        runner.start_step(id, 0, "Checkout code", None).await;
        runner.output(id, 0, "cloning\n").await;
        let at = |path: &str| format!("/api/v1.1/project/{SLUG}/{path}");
        let r = fx.get(&at("1/output/0/0")).await;
        r.status_is(200);
        assert_eq!(r.body[0]["message"], "cloning\n");
        fx.get(&at("1/output/99999999999/0")).await.is(404, "Step not found");
        // A step of the config the runner has not reached (or skipped) has no output either.
        fx.get(&at("1/output/1/0")).await.is(404, "Step not found");
        fx.get(&at("1/output/-1/0")).await.is(404, "Step not found");
        fx.get(&at("1/output/x/0")).await.is(404, "Step not found");
        fx.get(&at("1/output/0/1")).await.status_is(404);
        fx.get(&at("1/output/0/99999999999")).await.status_is(404);
        fx.get(&at("99999999999/output/0/0")).await.is(404, "Build not found");
        fx.get(&at("2/output/0/0")).await.is(404, "Build not found");
    }

    async fn v1_recent_builds_and_projects_with_branches(app) {
        let fx = Fx::new(app).await;
        let runner = fx.runner("r1").await;
        let other_repo = GitRepo::with_config(crate::builds::CONFIG);
        fx.app.project_with_repo(&fx.user, "gh/acme/gadget", &other_repo.url(), false).await;
        let only_build = json!({"build_parameters": {"CIRCLE_JOB": "build"}});
        fx.v1_trigger("main", &only_build).await; // widget 1
        fx.v1_trigger("main", &only_build).await; // widget 2
        let r = fx.post_json("/api/v1.1/project/gh/acme/gadget/tree/main", &only_build).await; // gadget 1
        r.status_is(201);
        runner.run_next("success").await; // widget 1
        runner.run_next("failed").await; // widget 2

        let recent = fx.get("/api/v1.1/recent-builds").await;
        recent.status_is(200);
        let items = recent.body.as_array().unwrap();
        let seen: Vec<(String, i64)> = items.iter().map(|b| (b["reponame"].as_str().unwrap().to_owned(), b["build_num"].as_i64().unwrap())).collect();
        assert_eq!(seen, [("gadget".to_owned(), 1), ("widget".to_owned(), 2), ("widget".to_owned(), 1)], "newest first");
        let one = fx.get("/api/v1.1/recent-builds?limit=1&offset=1").await;
        assert_eq!(one.body.as_array().unwrap().len(), 1);
        assert_eq!((one.body[0]["reponame"].as_str(), one.body[0]["build_num"].as_i64()), (Some("widget"), Some(2)));

        let projects = fx.get("/api/v1.1/projects").await;
        projects.status_is(200);
        let widget = projects.body.as_array().unwrap().iter()
            .find(|p| p["reponame"] == "widget").expect("widget listed").clone();
        assert_eq!(widget["username"], "acme");
        assert_eq!(widget["vcs_url"], "https://github.com/acme/widget");
        assert_eq!(widget["followed"], json!(true));
        let main = &widget["branches"]["main"];
        assert_eq!(nums(&main["recent_builds"]), [2, 1]);
        assert_eq!(main["last_success"]["build_num"], json!(1));
        assert_eq!(main["last_non_success"]["build_num"], json!(2));
        assert_eq!(main["running_builds"], json!([]));
        assert_eq!(main["recent_builds"][0]["vcs_revision"], fx.repo.head().as_str());
        let gadget = projects.body.as_array().unwrap().iter()
            .find(|p| p["reponame"] == "gadget").expect("gadget listed").clone();
        assert_eq!(nums(&gadget["branches"]["main"]["running_builds"]), [1], "a queued build counts as running");
        assert_eq!(gadget["branches"]["main"]["last_success"], Value::Null);

        // Someone else's token sees neither project.
        let eve = fx.app.user("eve", false).await;
        let eve_token = fx.app.personal_token(&eve).await;
        assert_eq!(fx.get_as(&eve_token, "/api/v1.1/recent-builds").await.body, json!([]));
        assert_eq!(fx.get_as(&eve_token, "/api/v1.1/projects").await.body, json!([]));
    }
}
