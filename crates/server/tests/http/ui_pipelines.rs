//! The project page's pipelines and the build page over HTTP (issue 17): test results, config
//! errors, statuses, durations, the workflow graph, the branch filter, the dashboard's last run,
//! and rerunning a workflow from the API and from the page's buttons.

use crate::app::TestApp;
use crate::builds::{BROKEN_CONFIG, Fx, PlayedRunner, SLUG, id_of};
use circlet_testkit::{both_backends, csrf_in};
use serde_json::{Value, json};

/// `GET path` in `browser`: status and HTML.
async fn html(browser: &reqwest::Client, app: &TestApp, path: &str) -> (u16, String) {
    let r = browser.get(app.at(path)).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// The HTML of the element whose `id` is given, up to the end of the first `</{tag}>` after it.
fn section<'a>(html: &'a str, id: &str, tag: &str) -> &'a str {
    from(html, &format!("id=\"{id}\""), tag)
}

/// The HTML from `needle` up to the end of the first `</{tag}>` after it.
fn from<'a>(html: &'a str, needle: &str, tag: &str) -> &'a str {
    let start = html
        .find(needle)
        .unwrap_or_else(|| panic!("no {needle} in {html}"));
    let end = html[start..]
        .find(&format!("</{tag}>"))
        .map_or(html.len(), |e| start + e);
    &html[start..end]
}

/// The HTML of pipeline `n` in a project page's list, to the next pipeline (or the page's end).
fn pipeline(html: &str, n: i64) -> &str {
    let start = html
        .find(&format!("id=\"pipeline-{n}\""))
        .unwrap_or_else(|| panic!("no pipeline {n} in {html}"));
    let end = html[start + 1..]
        .find("<li class=\"pipeline\"")
        .map_or(html.len(), |e| start + 1 + e);
    &html[start..end]
}

/// The `data-status` of each job link in `html`, in page order, as `name:status`.
fn job_statuses(html: &str) -> Vec<String> {
    html.split("<a class=\"job ")
        .skip(1)
        .map(|a| {
            let attr = |name: &str| {
                let from = a.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
                a[from..from + a[from..].find('"').unwrap()].to_owned()
            };
            format!("{}:{}", attr("data-job"), attr("data-status"))
        })
        .collect()
}

/// The job names of each column of the first workflow graph in `html`.
fn stages(html: &str) -> Vec<Vec<String>> {
    let graph = &html[html.find("<ol class=\"graph").expect("a workflow graph")..];
    let graph = &graph[..graph.find("</ol>").unwrap()];
    graph
        .split("<li class=\"stage\"")
        .skip(1)
        .map(|stage| {
            stage
                .split("data-job=\"")
                .skip(1)
                .map(|a| a[..a.find('"').unwrap()].to_owned())
                .collect()
        })
        .collect()
}

/// Runs the next job: claims it and ends it with `outcome`; its claimed JSON.
async fn run(runner: &PlayedRunner, outcome: &str) -> Value {
    runner.run_next(outcome).await
}

/// The first workflow id of the pipeline `made` (a v2 trigger's reply).
async fn workflow_of(fx: &Fx, made: &Value) -> String {
    let pid = made["id"].as_str().unwrap();
    let ws = fx.get(&format!("/api/v2/pipeline/{pid}/workflow")).await;
    ws.body["items"][0]["id"].as_str().unwrap().to_owned()
}

both_backends! {
    setup = TestApp::spawn;

    async fn the_build_page_lists_failed_tests_first_and_the_pipeline_list_counts_them(app) {
        let fx = Fx::new(app).await;
        let runner = fx.runner("r1").await;
        fx.v2_trigger(&json!({"branch": "main"})).await;
        let job = runner.claim_some().await;
        let id = id_of(&job);
        runner.tests(id, &json!({"tests": [
            {"classname": "widget.Spec", "name": "adds", "file": "spec.rb", "result": "success", "message": null, "run_time": 0.25},
            {"classname": "widget.Spec", "name": "subtracts", "file": null, "result": "failure", "message": "expected: 1\n     got: 2", "run_time": 1.5},
            {"classname": "widget.Spec", "name": "skips", "file": null, "result": "skipped", "message": null, "run_time": 0.0},
            {"classname": "widget.Spec", "name": "divides", "file": null, "result": "error", "message": "ZeroDivisionError", "run_time": 0.1},
        ]})).await;
        let r = runner.put_artifact(id, "coverage/index.html", reqwest::Body::from("<html>")).await;
        assert!(r.status < 300, "{r:?}");
        // The step passed: the job is a success, as on CircleCI, whatever its tests say.
        runner.finish(id, "success").await;
        let browser = fx.app.logged_in("ada").await;
        let (s, page) = html(&browser, &fx.app, &format!("/projects/{SLUG}/jobs/1")).await;
        assert_eq!(s, 200);
        assert!(page.contains(r#"id="job-status">success<"#), "{page}");
        assert!(section(&page, "tests-failed-label", "a").contains("2 tests failed"), "{page}");
        let tests = section(&page, "tests", "section");
        assert!(tests.contains("4 tests: 2 failed, 1 skipped, 1 passed."), "{tests}");
        let at = |name: &str| tests.find(name).unwrap_or_else(|| panic!("{name} missing: {tests}"));
        assert!(
            at("subtracts") < at("divides") && at("divides") < at("skips") && at("skips") < at("adds"),
            "failures first, in the order reported, then skipped, then passed: {tests}"
        );
        assert!(tests.contains("<pre class=\"test-message\">expected: 1\n     got: 2</pre>"), "the message as written: {tests}");
        assert!(tests.contains("ZeroDivisionError"), "{tests}");

        // Its artifacts are a table drawn like every other list.
        let artifacts = section(&page, "artifacts", "section");
        assert!(artifacts.contains(r#"<table class="list" id="artifact-list">"#) && artifacts.contains("coverage/index.html"), "{artifacts}");

        let (_, list) = html(&browser, &fx.app, &format!("/projects/{SLUG}")).await;
        let pipeline = pipeline(&list, 1);
        assert!(pipeline.contains("2 of 4 tests failed"), "{pipeline}");
    }

    async fn config_errors_are_a_readable_list_and_their_pipeline_is_labelled_error(app) {
        let fx = Fx::new(app).await;
        let two_problems = "version: 2.1\njobs:\n  build:\n    environment: {A: b}\n  lint:\n    docker: [{image: \"a\\\"b\"}]\nworkflows:\n  main:\n    jobs: [build, lint]\n";
        fx.repo.commit_on("broken", &[(".circleci/config.yml", two_problems)], "break the config");
        let made = fx.v2_trigger(&json!({"branch": "broken"})).await;
        assert_eq!(made["state"], "errored");
        let id = made["id"].as_str().unwrap();
        let api = fx.get(&format!("/api/v2/pipeline/{id}")).await;
        let messages: Vec<String> = api.body["errors"].as_array().unwrap().iter()
            .map(|e| e["message"].as_str().unwrap().to_owned()).collect();
        assert!(messages.len() >= 2, "{messages:?}");
        let browser = fx.app.logged_in("ada").await;
        let (_, page) = html(&browser, &fx.app, &format!("/projects/{SLUG}")).await;
        assert!(section(&page, "pipeline-1-status", "span").contains(">error"), "{page}");
        let errors = section(&page, "config-errors-1", "div");
        assert_eq!(errors.matches("<li class=\"config-error\">").count(), messages.len(), "one item per problem: {errors}");
        assert!(!errors.contains("\\n") && !errors.contains("\\\""), "nothing shown escaped: {errors}");
        for m in &messages {
            let first = m.lines().next().unwrap();
            let shown = first.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&#34;").replace('\'', "&#39;");
            assert!(errors.contains(&shown), "{first:?} is shown as written: {errors}");
        }
        // The same list on the pipeline's config page.
        let (_, config) = html(&browser, &fx.app, &format!("/projects/{SLUG}/pipelines/1/config")).await;
        assert_eq!(section(&config, "config-errors", "div").matches("<li class=\"config-error\">").count(), messages.len());
        // A pipeline that ran is labelled with its workflows' status, not `error`.
        fx.v2_trigger(&json!({"branch": "main"})).await;
        let (_, page) = html(&browser, &fx.app, &format!("/projects/{SLUG}")).await;
        assert!(section(&page, "pipeline-2-status", "span").contains(">running"), "{page}");
        let _ = BROKEN_CONFIG;
    }

    async fn pipelines_show_durations_a_workflow_graph_a_branch_filter_and_the_last_run(app) {
        let fx = Fx::new(app).await;
        let runner = fx.runner("r1").await;
        fx.repo.commit_on("feature", &[("README", "more")], "a feature");
        fx.v2_trigger(&json!({"branch": "main"})).await;
        let job = runner.claim_some().await;
        let id = id_of(&job);
        runner.start_step(id, 0, "greet", Some("echo hello")).await;
        runner.finish_step(id, 0, "success", Some(0)).await;
        runner.finish(id, "success").await;
        fx.v2_trigger(&json!({"branch": "feature"})).await;
        let browser = fx.app.logged_in("ada").await;

        let (_, page) = html(&browser, &fx.app, &format!("/projects/{SLUG}")).await;
        let first = pipeline(&page, 1);
        assert_eq!(stages(first), [vec!["build"], vec!["test"], vec!["deploy"]], "one column per step of requires: {first}");
        assert!(first.contains(r#"data-job="test" data-requires="build" title="requires build""#), "{first}");
        assert!(first.contains("id=\"pipeline-1-duration\""), "a pipeline that started has a duration: {first}");
        assert_eq!(first.matches("<small class=\"duration\">").count(), 1, "only build ran: {first}");
        let second = pipeline(&page, 2);
        assert_eq!(stages(second), [vec!["build"], vec!["test"]], "{second}");
        assert!(!second.contains("pipeline-2-duration"), "nothing of it started: {second}");
        let (_, build) = html(&browser, &fx.app, &format!("/projects/{SLUG}/jobs/1")).await;
        assert!(section(&build, "job-duration", "span").contains("took 0s") || section(&build, "job-duration", "span").contains("took 1s"), "{build}");
        assert!(section(&build, "step-0", "summary").contains("class=\"meta duration\""), "{build}");

        // The branch filter: every branch with builds, the chosen one selected, its pipelines only.
        let filter = section(&page, "branch-filter", "form");
        assert!(filter.contains(r#"<option value="main">main</option>"#) && filter.contains(r#"<option value="feature">feature</option>"#), "{filter}");
        let (_, only) = html(&browser, &fx.app, &format!("/projects/{SLUG}?branch=feature")).await;
        assert!(only.contains("id=\"pipeline-2\"") && !only.contains("id=\"pipeline-1\""), "{only}");
        assert!(section(&only, "branch-filter", "form").contains(r#"<option value="feature" selected>"#), "{only}");
        let (_, none) = html(&browser, &fx.app, &format!("/projects/{SLUG}?branch=nowhere")).await;
        assert!(none.contains("No builds yet on <code>nowhere</code>."), "{none}");

        // The dashboard: each project's newest pipeline, its status and when.
        let other = fx.app.project(&fx.user, "gh/acme/empty", false).await;
        let (_, home) = html(&browser, &fx.app, "/").await;
        let row = from(&home, &format!("data-project=\"{SLUG}\""), "tr");
        assert!(row.contains("data-latest-status=\"running\"") && row.contains("#2</a>"), "{row}");
        assert!(row.contains("feature ·"), "{row}");
        let empty = from(&home, &format!("data-project=\"{}\"", other.slug), "tr");
        assert!(empty.contains("no builds"), "{empty}");
    }

    async fn a_canceled_workflows_unstarted_jobs_show_as_canceled(app) {
        let fx = Fx::new(app).await;
        let made = fx.v2_trigger(&json!({"branch": "main"})).await;
        let wid = workflow_of(&fx, &made).await;
        fx.post_empty(&format!("/api/v2/workflow/{wid}/cancel")).await.status_is(202);
        let browser = fx.app.logged_in("ada").await;
        let (_, page) = html(&browser, &fx.app, &format!("/projects/{SLUG}")).await;
        assert_eq!(
            job_statuses(pipeline(&page, 1)),
            ["build:canceled", "test:canceled", "deploy:canceled"],
            "{page}"
        );
        let (_, job) = html(&browser, &fx.app, &format!("/projects/{SLUG}/jobs/3")).await;
        assert!(job.contains(r#"id="job-status">canceled<"#), "{job}");
    }
}

/// `(name, status)` of each job of workflow `wid` (v2), in build-number order.
async fn v2_jobs(fx: &Fx, wid: &str) -> Vec<(String, String)> {
    let r = fx.get(&format!("/api/v2/workflow/{wid}/job")).await;
    r.status_is(200);
    r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| {
            (
                j["name"].as_str().unwrap().to_owned(),
                j["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn pairs(want: &[(&str, &str)]) -> Vec<(String, String)> {
    want.iter()
        .map(|(n, s)| ((*n).to_owned(), (*s).to_owned()))
        .collect()
}

/// Workflow reruns (CircleCI's `POST /workflow/{id}/rerun`).
mod reruns {
    use super::*;
    use crate::tokens::{DENIED, LOGIN_REQUIRED};

    both_backends! {
        setup = TestApp::spawn;

        async fn rerun_from_failed_keeps_what_passed_and_reruns_the_rest(app) {
            let fx = Fx::new(app).await;
            let runner = fx.runner("r1").await;
            let made = fx.v2_trigger(&json!({"branch": "main"})).await;
            let wid = workflow_of(&fx, &made).await;
            let rerun = |body: Value, wid: String| {
                let fx = &fx;
                async move { fx.post_json(&format!("/api/v2/workflow/{wid}/rerun"), &body).await }
            };
            rerun(json!({}), wid.clone()).await.is(400, "Workflow 'main' has not finished (job 'build' is queued); cancel it first or wait for it");
            assert_eq!(run(&runner, "success").await["job_name"], "build");
            assert_eq!(run(&runner, "failed").await["job_name"], "test");
            assert_eq!(v2_jobs(&fx, &wid).await, pairs(&[("build", "success"), ("test", "failed"), ("deploy", "not_run")]));

            let r = rerun(json!({"from_failed": true}), wid.clone()).await;
            r.status_is(202);
            let new = r.body["workflow_id"].as_str().unwrap().to_owned();
            assert_ne!(new, wid);
            assert_eq!(r.body.as_object().unwrap().len(), 1, "{}", r.text);
            let w = fx.get(&format!("/api/v2/workflow/{new}")).await;
            w.status_is(200);
            assert_eq!((w.body["name"].as_str(), &w.body["pipeline_id"]), (Some("main"), &made["id"]));
            assert_eq!(v2_jobs(&fx, &new).await, pairs(&[("build", "success"), ("test", "queued"), ("deploy", "blocked")]),
                "build keeps its result; test runs again, and deploy after it");
            let old = fx.get(&format!("/api/v2/workflow/{wid}")).await;
            assert_eq!(old.body["status"], "failed", "the first workflow stays as it ended");
            let test = run(&runner, "success").await;
            assert_eq!(test["job_name"], "test");
            assert_eq!(fx.build(test["build_num"].as_i64().unwrap()).await["retry_of"], 2);
            assert_eq!(run(&runner, "success").await["job_name"], "deploy");
            assert_eq!(runner.claim().await, None, "build was not run again");
            assert_eq!(fx.get(&format!("/api/v2/workflow/{new}")).await.body["status"], "success");
            rerun(json!({"from_failed": true}), new.clone()).await.is(400, "Every job of this workflow succeeded: there is no failed job to rerun from");

            // From start: every job again, in a third workflow; an empty body is allowed.
            let r = fx.post_empty(&format!("/api/v2/workflow/{new}/rerun")).await;
            r.status_is(202);
            let third = r.body["workflow_id"].as_str().unwrap().to_owned();
            assert_eq!(v2_jobs(&fx, &third).await, pairs(&[("build", "queued"), ("test", "blocked"), ("deploy", "blocked")]));
            let ws = fx.get(&format!("/api/v2/pipeline/{}/workflow", made["id"].as_str().unwrap())).await;
            assert_eq!(ws.body["items"].as_array().unwrap().len(), 3, "{}", ws.text);
        }

        async fn rerun_refuses_what_it_cannot_do_with_clear_messages(app) {
            let fx = Fx::new(app).await;
            let runner = fx.runner("r1").await;
            let made = fx.v2_trigger(&json!({"branch": "main"})).await;
            let wid = workflow_of(&fx, &made).await;
            run(&runner, "failed").await;
            let path = format!("/api/v2/workflow/{wid}/rerun");
            let jobs = fx.get(&format!("/api/v2/workflow/{wid}/job")).await;
            let build_id = jobs.body["items"][0]["id"].as_str().unwrap().to_owned();
            fx.post_json(&path, &json!({"from_failed": true, "jobs": [build_id]})).await.is(400, "from_failed and jobs cannot be used together");
            fx.post_json(&path, &json!({"enable_ssh": true})).await.is(400, "circlet cannot open SSH access to jobs: rerun without enable_ssh");
            let stranger = "00000000-0000-4000-8000-000000000000";
            fx.post_json(&path, &json!({"jobs": [stranger]})).await.is(400, &format!("Job {stranger} is not a job of this workflow"));
            let r = fx.post_json(&path, &json!({"jobs": ["not-a-uuid"]})).await;
            r.status_is(400);
            let r = fx.post_json(&path, &json!({"from_failed": "yes"})).await;
            r.status_is(400);
            fx.post_json(&format!("/api/v2/workflow/{stranger}/rerun"), &json!({})).await.is(404, "Workflow not found");
            fx.post_json("/api/v2/workflow/nope/rerun", &json!({})).await.is(404, "Workflow not found");
            // No credential; a reader; someone else.
            let anonymous = crate::tokens::send(reqwest::Client::new().post(fx.app.at(&path))).await;
            anonymous.is(401, LOGIN_REQUIRED);
            let rita = fx.app.user("rita", false).await;
            fx.app.store.projects().set_member(fx.project.id, rita.id, circlet_core::Role::Read).await.unwrap();
            let reader = fx.app.personal_token(&rita).await;
            let r = crate::tokens::send(reqwest::Client::new().post(fx.app.at(&path)).header("Circle-Token", &reader)).await;
            r.is(403, DENIED);
            let eve = fx.app.user("eve", false).await;
            let outsider = fx.app.personal_token(&eve).await;
            let r = crate::tokens::send(reqwest::Client::new().post(fx.app.at(&path)).header("Circle-Token", &outsider)).await;
            r.is(404, "Workflow not found");
            // Naming a job reruns it and what requires it; nothing was created by the refusals.
            let r = fx.post_json(&path, &json!({"jobs": [build_id]})).await;
            r.status_is(202);
            let ws = fx.get(&format!("/api/v2/pipeline/{}/workflow", made["id"].as_str().unwrap())).await;
            assert_eq!(ws.body["items"].as_array().unwrap().len(), 2, "{}", ws.text);
        }

        async fn the_project_page_reruns_a_workflow_with_its_buttons(app) {
            let fx = Fx::new(app).await;
            let runner = fx.runner("r1").await;
            let made = fx.v2_trigger(&json!({"branch": "main"})).await;
            let wid = workflow_of(&fx, &made).await;
            let browser = fx.app.logged_in("ada").await;
            let (_, page) = html(&browser, &fx.app, &format!("/projects/{SLUG}")).await;
            assert!(!page.contains("data-rerun"), "no rerun while it runs: {page}");
            run(&runner, "success").await;
            run(&runner, "failed").await;
            let (_, page) = html(&browser, &fx.app, &format!("/projects/{SLUG}")).await;
            let workflow = section(&page, &format!("workflow-{wid}"), "ol");
            assert!(workflow.contains("data-rerun=\"all\"") && workflow.contains("data-rerun=\"failed\""), "{workflow}");
            let csrf = csrf_in(&page).expect("a CSRF field");
            // Without the CSRF field: refused, nothing rerun.
            let r = browser.post(fx.app.at(&format!("/workflows/{wid}/rerun"))).form(&[("from_failed", "true")]).send().await.unwrap();
            assert_eq!(r.status(), 403);
            let r = browser.post(fx.app.at(&format!("/workflows/{wid}/rerun")))
                .form(&[("csrf", csrf.as_str()), ("from_failed", "true")]).send().await.unwrap();
            assert_eq!(r.status(), 303);
            assert_eq!(r.headers()["location"], format!("/projects/{SLUG}"));
            let (_, page) = html(&browser, &fx.app, &format!("/projects/{SLUG}")).await;
            assert_eq!(job_statuses(pipeline(&page, 1)),
                ["build:success", "test:failed", "deploy:not_run", "build:success", "test:queued", "deploy:blocked"],
                "the rerun follows the first workflow and keeps its build: {page}");
            assert!(page.contains("<small class=\"kept\">kept</small>"), "{page}");
            // A reader sees no buttons, and may not post the form.
            let rita = fx.app.user("rita", false).await;
            fx.app.store.projects().set_member(fx.project.id, rita.id, circlet_core::Role::Read).await.unwrap();
            let reader = fx.app.logged_in("rita").await;
            let (_, page) = html(&reader, &fx.app, &format!("/projects/{SLUG}")).await;
            assert!(!page.contains("data-rerun"), "{page}");
            let r = reader.post(fx.app.at(&format!("/workflows/{wid}/rerun")))
                .form(&[("csrf", csrf_in(&page).expect("a CSRF field").as_str())]).send().await.unwrap();
            assert_eq!(r.status(), 403);
        }
    }
}
