//! Issue 17 items 12 and 16: the reads (and the one trigger) CircleCI's own clients, CLIs and
//! libraries call that circlet lacked: a job's tests, pipelines across projects and "mine", a
//! pipeline's config, paged workflow jobs, users by id, following projects, a step's raw
//! output, pipeline definitions and `pipeline/run`, insights, and the badge URL CircleCI's UI
//! generates.

use super::{Fx, SLUG};
use crate::app::TestApp;
use crate::tokens::{NO_PROJECT, Reply, send};
use circlet_core::Role;
use circlet_testkit::{GitRepo, both_backends};
use serde_json::{Value, json};

fn items(r: &Reply) -> &Vec<Value> {
    r.body["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items: {}", r.text))
}

fn numbers(r: &Reply) -> Vec<i64> {
    items(r)
        .iter()
        .map(|p| p["number"].as_i64().unwrap())
        .collect()
}

/// A config whose one workflow has `n` independent jobs `j01`…
fn many_jobs(n: usize) -> String {
    let mut config = String::from("version: 2.1\njobs:\n");
    for i in 1..=n {
        config.push_str(&format!("  j{i:02}:\n    steps: [checkout]\n"));
    }
    config.push_str("workflows:\n  main:\n    jobs:\n");
    for i in 1..=n {
        config.push_str(&format!("      - j{i:02}\n"));
    }
    config
}

both_backends! {
    setup = TestApp::spawn;

    async fn a_jobs_tests_in_v2(app) {
        let fx = Fx::new(app).await;
        let runner = fx.runner("r1").await;
        fx.v1_trigger("main", &json!({"build_parameters": {"CIRCLE_JOB": "build"}})).await;
        let job = runner.claim_some().await;
        let id = crate::builds::id_of(&job);
        runner.tests(id, &json!({"tests": [
            {"classname": "widget.Spec", "name": "adds", "file": "spec.rb", "result": "success", "message": null, "run_time": 0.25},
            {"classname": "widget.Spec", "name": "subtracts", "file": null, "result": "failure", "message": "expected 1, got 2", "run_time": 1.5},
        ]})).await;
        runner.finish(id, "failed").await;
        for path in [format!("/api/v2/project/{SLUG}/1/tests"), "/api/v2/project/gh%2Facme%2Fwidget/1/tests".to_owned()] {
            let r = fx.get(&path).await;
            r.status_is(200);
            assert_eq!(r.body["next_page_token"], Value::Null);
            let tests = items(&r);
            assert_eq!(tests.len(), 2, "{}", r.text);
            assert_eq!(tests[0]["message"], "", "a string when there is none: {}", r.text);
            assert_eq!(tests[0]["file"], "spec.rb");
            assert_eq!(tests[0]["result"], "success");
            assert_eq!(tests[0]["run_time"], json!(0.25));
            assert_eq!(tests[1]["message"], "expected 1, got 2");
            assert!(tests[1].get("file").is_none(), "absent, not null: {}", r.text);
            assert_eq!((tests[1]["name"].as_str(), tests[1]["classname"].as_str()), (Some("subtracts"), Some("widget.Spec")));
        }
        fx.get(&format!("/api/v2/project/{SLUG}/9/tests")).await.is(404, "Job not found");
        // A project named `tests` is still itself.
        let tests_project = fx.app.project(&fx.user, "gh/acme/tests", false).await;
        let r = fx.get("/api/v2/project/gh/acme/tests").await;
        r.status_is(200);
        assert_eq!(r.body["id"], tests_project.uuid.to_string());
    }

    async fn pipelines_across_projects_and_mine(app) {
        let fx = Fx::new(app).await;
        let bea = fx.app.user("bea", false).await;
        fx.app.store.projects().set_member(fx.project.id, bea.id, Role::Write).await.unwrap();
        let bea_token = fx.app.personal_token(&bea).await;
        let other_repo = GitRepo::with_config(crate::builds::CONFIG);
        fx.app.project_with_repo(&fx.user, "gh/other/gizmo", &other_repo.url(), false).await;
        fx.v2_trigger(&json!({})).await; // widget 1, ada
        send(reqwest::Client::new().post(fx.app.at(&format!("/api/v2/project/{SLUG}/pipeline"))).header("Circle-Token", &bea_token).json(&json!({}))).await.status_is(201); // widget 2, bea
        fx.post_json("/api/v2/project/gh/other/gizmo/pipeline", &json!({})).await.status_is(201); // gizmo 1, ada

        let mine = fx.get(&format!("/api/v2/project/{SLUG}/pipeline/mine")).await;
        mine.status_is(200);
        assert_eq!(numbers(&mine), [1], "{}", mine.text);
        assert_eq!(items(&mine)[0]["trigger"]["actor"]["login"], "ada");
        let beas = fx.get_as(&bea_token, &format!("/api/v2/project/{SLUG}/pipeline/mine")).await;
        assert_eq!(numbers(&beas), [2]);

        let all = fx.get("/api/v2/pipeline").await;
        all.status_is(200);
        let slugs: Vec<&str> = items(&all).iter().map(|p| p["project_slug"].as_str().unwrap()).collect();
        assert_eq!(slugs, ["gh/other/gizmo", SLUG, SLUG], "newest first: {}", all.text);
        let acme = fx.get("/api/v2/pipeline?org-slug=gh/acme").await;
        assert_eq!(numbers(&acme), [2, 1]);
        let acme_mine = fx.get("/api/v2/pipeline?org-slug=gh/acme&mine=true").await;
        assert_eq!(numbers(&acme_mine), [1]);
        // Bea sees only the project she belongs to.
        let hers = fx.get_as(&bea_token, "/api/v2/pipeline").await;
        assert_eq!(numbers(&hers), [2, 1]);
        fx.get("/api/v2/pipeline?org-slug=nonsense").await.status_is(400);
        fx.get("/api/v2/pipeline?page-token=not-ours").await.status_is(400);
        send(reqwest::Client::new().get(fx.app.at("/api/v2/pipeline"))).await.is(401, crate::tokens::LOGIN_REQUIRED);

        // Pages of 20, with a token to the next.
        for _ in 0..20 {
            fx.v2_trigger(&json!({})).await;
        }
        let first = fx.get("/api/v2/pipeline?org-slug=gh/acme").await;
        assert_eq!(items(&first).len(), 20);
        let token = first.body["next_page_token"].as_str().expect("a next page").to_owned();
        let second = fx.get(&format!("/api/v2/pipeline?org-slug=gh/acme&page-token={token}")).await;
        assert_eq!(numbers(&second), [2, 1]);
        assert_eq!(second.body["next_page_token"], Value::Null);
    }

    async fn a_pipelines_config(app) {
        let fx = Fx::new(app).await;
        let made = fx.v2_trigger(&json!({})).await;
        let id = made["id"].as_str().unwrap();
        let r = fx.get(&format!("/api/v2/pipeline/{id}/config")).await;
        r.status_is(200);
        assert_eq!(r.body["source"], crate::builds::CONFIG);
        let compiled = r.body["compiled"].as_str().unwrap();
        assert!(compiled.contains("echo hello"), "parameters expanded: {compiled}");
        fx.get(&format!("/api/v2/pipeline/{}/config", uuid::Uuid::new_v4())).await.is(404, "Pipeline not found");
        let outsider = fx.app.user("olga", false).await;
        let outsider = fx.app.personal_token(&outsider).await;
        fx.get_as(&outsider, &format!("/api/v2/pipeline/{id}/config")).await.is(404, "Pipeline not found");
    }

    async fn a_workflows_jobs_come_in_pages(app) {
        let repo = GitRepo::with_config(&many_jobs(23));
        let owner = app.user("ada", false).await;
        let token = app.personal_token(&owner).await;
        app.project_with_repo(&owner, "gh/acme/many", &repo.url(), false).await;
        let client = reqwest::Client::new();
        let get = async |path: String| send(client.get(app.at(&path)).header("Circle-Token", &token)).await;
        let made = send(client.post(app.at("/api/v2/project/gh/acme/many/pipeline")).header("Circle-Token", &token).json(&json!({}))).await;
        made.status_is(201);
        let ws = get(format!("/api/v2/pipeline/{}/workflow", made.body["id"].as_str().unwrap())).await;
        let wid = ws.body["items"][0]["id"].as_str().unwrap().to_owned();
        let first = get(format!("/api/v2/workflow/{wid}/job")).await;
        first.status_is(200);
        assert_eq!(items(&first).len(), 20);
        let token_2 = first.body["next_page_token"].as_str().expect("a next page").to_owned();
        let second = get(format!("/api/v2/workflow/{wid}/job?page-token={token_2}")).await;
        let names: Vec<&str> = items(&second).iter().map(|j| j["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["j21", "j22", "j23"]);
        assert_eq!(second.body["next_page_token"], Value::Null);
        get(format!("/api/v2/workflow/{wid}/job?page-token=bogus")).await.status_is(400);
    }

    async fn users_by_id_and_collaborations(app) {
        let fx = Fx::new(app).await;
        let bea = fx.app.user("bea", false).await;
        let olga = fx.app.user("olga", false).await;
        fx.app.store.projects().set_member(fx.project.id, bea.id, Role::Read).await.unwrap();
        let me = fx.get(&format!("/api/v2/user/{}", fx.user.uuid)).await;
        me.status_is(200);
        assert_eq!(me.body, fx.get("/api/v2/me").await.body, "one's own id reads like /me");
        let r = fx.get(&format!("/api/v2/user/{}", bea.uuid)).await;
        r.status_is(200);
        assert_eq!((r.body["login"].as_str(), r.body["id"].as_str()), (Some("bea"), Some(bea.uuid.to_string().as_str())));
        // Someone sharing no project reads like nobody.
        fx.get(&format!("/api/v2/user/{}", olga.uuid)).await.is(404, "User not found");
        fx.get(&format!("/api/v2/user/{}", uuid::Uuid::new_v4())).await.is(404, "User not found");
        fx.get("/api/v2/user/not-an-id").await.is(404, "User not found");
        let root = fx.app.user("root", true).await;
        let root = fx.app.personal_token(&root).await;
        fx.get_as(&root, &format!("/api/v2/user/{}", olga.uuid)).await.status_is(200);

        let orgs = fx.get("/api/v2/me/collaborations").await;
        orgs.status_is(200);
        let project = fx.get(&format!("/api/v2/project/{SLUG}")).await;
        assert_eq!(orgs.body.as_array().unwrap().len(), 1, "{}", orgs.text);
        assert_eq!(orgs.body[0]["id"], project.body["organization_id"]);
        assert_eq!(orgs.body[0]["slug"], "gh/acme");
    }

    async fn following_and_unfollowing_projects(app) {
        let fx = Fx::new(app).await;
        let open = fx.app.project(&fx.app.user("otto", false).await, "gh/open/source", true).await;
        let followed = async || -> Vec<String> {
            let r = fx.get("/api/private/me/followed-projects").await;
            r.status_is(200);
            items(&r).iter().map(|p| p["slug"].as_str().unwrap().to_owned()).collect()
        };
        assert_eq!(followed().await, [SLUG], "members follow their projects");
        let r = fx.post_empty(&format!("/api/v1.1/project/{SLUG}/unfollow")).await;
        r.status_is(200);
        assert_eq!(r.body["followed"], false);
        assert!(followed().await.is_empty());
        let projects = fx.get("/api/v1.1/projects").await;
        assert_eq!(projects.body[0]["followed"], false, "{}", projects.text);
        // Following a public project one is not a member of.
        let r = fx.post_empty("/api/v1.1/project/github/open/source/follow").await;
        r.status_is(200);
        assert_eq!(r.body["followed"], true);
        fx.post_empty(&format!("/api/v1.1/project/{SLUG}/follow")).await.status_is(200);
        let list = fx.get("/api/private/me/followed-projects").await;
        let slugs: Vec<&str> = items(&list).iter().map(|p| p["slug"].as_str().unwrap()).collect();
        assert_eq!(slugs, [SLUG, "gh/open/source"]);
        assert_eq!(items(&list)[1]["id"], open.uuid.to_string());
        let projects = fx.get("/api/v1.1/projects").await;
        assert_eq!(projects.body[0]["followed"], true);
        // A private project one may not see cannot be followed, and reads like a missing one.
        let hidden = fx.app.user("hugo", false).await;
        fx.app.project(&hidden, "gh/hugo/secret", false).await;
        fx.post_empty("/api/v1.1/project/gh/hugo/secret/follow").await.is(404, NO_PROJECT);
        fx.post_empty("/api/v1.1/project/gh/hugo/missing/follow").await.is(404, NO_PROJECT);
        send(reqwest::Client::new().get(fx.app.at("/api/private/me/followed-projects"))).await.is(401, crate::tokens::LOGIN_REQUIRED);
    }

    async fn a_steps_raw_output(app) {
        let fx = Fx::new(app).await;
        let runner = fx.runner("r1").await;
        fx.v1_trigger("main", &json!({"build_parameters": {"CIRCLE_JOB": "build"}})).await;
        let job = runner.claim_some().await;
        let id = crate::builds::id_of(&job);
        runner.start_step(id, 1, "greet", Some("echo hello")).await;
        runner.output(id, 1, "hello\n").await;
        runner.output(id, 1, "wörld\n").await;
        runner.finish_step(id, 1, "success", Some(0)).await;
        runner.finish(id, "success").await;
        let client = reqwest::Client::new();
        let raw = |stream: &str, index: u32, step: u32| client
            .get(fx.app.at(&format!("/api/private/output/raw/github/acme/widget/1/{stream}/{index}/{step}")))
            .header("Circle-Token", &fx.token).send();
        let r = raw("output", 0, 1).await.unwrap();
        assert_eq!(r.status(), 200);
        assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
        assert_eq!(r.text().await.unwrap(), "hello\nwörld\n");
        let r = raw("error", 0, 1).await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.text().await.unwrap(), "", "one stream: all of it is output");
        let r = Reply::of(raw("output", 0, 7).await.unwrap()).await;
        r.is(404, "Step not found");
        let r = Reply::of(raw("output", 3, 1).await.unwrap()).await;
        r.is(404, "Parallel run not found");
        let r = Reply::of(client.get(fx.app.at("/api/private/output/raw/github/acme/widget/1/output/0/1")).send().await.unwrap()).await;
        r.is(404, NO_PROJECT);
    }

    async fn the_one_pipeline_definition_and_pipeline_run(app) {
        let fx = Fx::new(app).await;
        let p = fx.get(&format!("/api/v2/project/{SLUG}")).await;
        let project_id = p.body["id"].as_str().unwrap().to_owned();
        let defs = fx.get(&format!("/api/v2/projects/{project_id}/pipeline-definitions")).await;
        defs.status_is(200);
        assert_eq!(items(&defs).len(), 1, "{}", defs.text);
        let def = &items(&defs)[0];
        assert_eq!(def["config_source"]["file_path"], ".circleci/config.yml");
        assert_eq!(def["config_source"]["repo"]["full_name"], "acme/widget");
        let def_id = def["id"].as_str().unwrap().to_owned();
        let one = fx.get(&format!("/api/v2/projects/{project_id}/pipeline-definitions/{def_id}")).await;
        one.status_is(200);
        assert_eq!(&one.body, def);
        fx.get(&format!("/api/v2/projects/{project_id}/pipeline-definitions/{}", uuid::Uuid::new_v4())).await.is(404, "Pipeline definition not found");
        fx.get(&format!("/api/v2/projects/{}/pipeline-definitions", uuid::Uuid::new_v4())).await.is(404, NO_PROJECT);

        let feature = fx.repo.commit_on("feature", &[("README", "x\n")], "feature work");
        let run = fx.post_json(&format!("/api/v2/project/{SLUG}/pipeline/run"), &json!({
            "definition_id": def_id, "config": {"branch": "feature"}, "checkout": {"branch": "feature"},
            "parameters": {"greeting": "hej"},
        })).await;
        run.status_is(201);
        assert_eq!(run.body["number"], json!(1));
        let made = fx.get(&format!("/api/v2/pipeline/{}", run.body["id"].as_str().unwrap())).await;
        assert_eq!(made.body["vcs"]["branch"], "feature");
        assert_eq!(made.body["vcs"]["revision"], feature.as_str());
        assert_eq!(made.body["trigger_parameters"]["parameters"], json!({"greeting": "hej"}));
        // Without anything: the default branch.
        let run = fx.post_json(&format!("/api/v2/project/{SLUG}/pipeline/run"), &json!({})).await;
        run.status_is(201);
        let made = fx.get(&format!("/api/v2/pipeline/{}", run.body["id"].as_str().unwrap())).await;
        assert_eq!(made.body["vcs"]["branch"], "main");
        let r = fx.post_json(&format!("/api/v2/project/{SLUG}/pipeline/run"), &json!({"config": {"branch": "main"}, "checkout": {"branch": "feature"}})).await;
        r.status_is(400);
        assert!(r.message().contains("same branch"), "{}", r.text);
        let r = fx.post_json(&format!("/api/v2/project/{SLUG}/pipeline/run"), &json!({"definition_id": uuid::Uuid::new_v4()})).await;
        r.is(404, "Pipeline definition not found");
    }

    async fn insights_and_flaky_tests_from_stored_runs(app) {
        let fx = Fx::new(app).await;
        let runner = fx.runner("r1").await;
        let test = |result: &str| json!({"tests": [
            {"classname": "widget.Spec", "name": "sometimes", "file": "spec.rb", "result": result, "message": null, "run_time": 2.0},
            {"classname": "widget.Spec", "name": "always", "file": "spec.rb", "result": "success", "message": null, "run_time": 1.0},
        ]});
        // The same commit twice: the test passes once and fails once.
        for (result, outcome) in [("failure", "failed"), ("success", "success")] {
            fx.v1_trigger("main", &json!({"build_parameters": {"CIRCLE_JOB": "build"}})).await;
            let job = runner.claim_some().await;
            let id = crate::builds::id_of(&job);
            runner.tests(id, &test(result)).await;
            runner.finish(id, outcome).await;
        }
        let flaky = fx.get(&format!("/api/v2/insights/{SLUG}/flaky-tests")).await;
        flaky.status_is(200);
        assert_eq!(flaky.body["total_flaky_tests"], json!(1), "{}", flaky.text);
        let f = &flaky.body["flaky_tests"][0];
        assert_eq!((f["test_name"].as_str(), f["classname"].as_str(), f["file"].as_str()), (Some("sometimes"), Some("widget.Spec"), Some("spec.rb")));
        assert_eq!(f["times_flaked"], json!(1));
        assert_eq!(f["job_name"], "build");
        assert_eq!(f["job_number"], json!(1));
        // A v1.1 build of one job (`CIRCLE_JOB`) is a workflow named after it.
        assert_eq!(f["workflow_name"], "build");
        assert_eq!(f["pipeline_number"], json!(1));

        let workflows = fx.get(&format!("/api/v2/insights/{SLUG}/workflows")).await;
        workflows.status_is(200);
        let main = &items(&workflows)[0];
        assert_eq!(main["name"], "build");
        let m = &main["metrics"];
        // Each pipeline ran `build` alone (CIRCLE_JOB): one failed, one succeeded.
        assert_eq!((m["total_runs"].as_i64(), m["successful_runs"].as_i64(), m["failed_runs"].as_i64()), (Some(2), Some(1), Some(1)), "{}", workflows.text);
        assert_eq!(m["success_rate"], json!(0.5));
        assert_eq!(m["total_recoveries"], json!(1));
        assert_eq!(main["project_id"], fx.project.uuid.to_string());
        // Another branch has no runs; all branches have them all.
        let other = fx.get(&format!("/api/v2/insights/{SLUG}/workflows?branch=nope")).await;
        assert!(items(&other).is_empty());
        let every = fx.get("/api/v2/insights/gh%2Facme%2Fwidget/workflows?all-branches=true").await;
        assert_eq!(items(&every)[0]["metrics"]["total_runs"], json!(2));

        let runs = fx.get(&format!("/api/v2/insights/{SLUG}/workflows/build")).await;
        runs.status_is(200);
        let statuses: Vec<&str> = items(&runs).iter().map(|r| r["status"].as_str().unwrap()).collect();
        assert_eq!(statuses, ["success", "failed"], "newest first: {}", runs.text);
        assert_eq!(items(&runs)[0]["branch"], "main");

        let jobs = fx.get(&format!("/api/v2/insights/{SLUG}/workflows/build/jobs")).await;
        jobs.status_is(200);
        let names: Vec<&str> = items(&jobs).iter().map(|j| j["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["build"], "{}", jobs.text);
        assert_eq!(items(&jobs)[0]["metrics"]["total_runs"], json!(2));

        let outsider = fx.app.user("olga", false).await;
        let outsider = fx.app.personal_token(&outsider).await;
        fx.get_as(&outsider, &format!("/api/v2/insights/{SLUG}/flaky-tests")).await.is(404, NO_PROJECT);
    }

    async fn the_badge_url_circleci_generates(app) {
        let fx = Fx::new(app).await;
        let public = fx.app.project(&fx.user, "gh/acme/open", true).await;
        let client = reqwest::Client::new();
        let svg = async |path: String| {
            let r = client.get(fx.app.at(&path)).send().await.unwrap();
            let status = r.status().as_u16();
            let ct = r.headers()["content-type"].to_str().unwrap().to_owned();
            (status, ct, r.text().await.unwrap())
        };
        let (status, ct, body) = svg("/status-badge/img/gh/acme/open/tree/main.svg?style=svg".into()).await;
        assert_eq!((status, ct.as_str()), (200, "image/svg+xml"));
        let (_, _, same) = svg("/gh/acme/open/tree/main.svg?style=svg".into()).await;
        assert_eq!(body, same, "the same badge as circlet's own URL");
        let p = fx.get("/api/v2/project/gh/acme/open").await;
        let org = p.body["organization_id"].as_str().unwrap();
        let (status, _, by_ids) = svg(format!("/status-badge/img/circleci/{org}/{}/tree/main.svg", public.uuid)).await;
        assert_eq!(status, 200);
        assert_eq!(by_ids, body);
        // A private project without a token is a not-found badge, as on circlet's own URL.
        let (status, ct, _) = svg(format!("/status-badge/img/{SLUG}/tree/main.svg")).await;
        assert_eq!((status, ct.as_str()), (404, "image/svg+xml"));
        let r = client.get(fx.app.at(&format!("/status-badge/img/{SLUG}/tree/main.svg?circle-token={}", fx.token))).send().await.unwrap();
        assert_eq!(r.status(), 200);
    }
}
