//! The config language through HTTP (issue 13): pipelines from 2.1 configs with commands,
//! matrices and orbs from the registry; tag filters; approvals and `requires` on other ends;
//! `POST /api/v2/compile-config-with-defaults`; the orb registry's API and pages.

use super::{Fx, SLUG};
use crate::app::TestApp;
use crate::tokens::send;
use circlet_testkit::both_backends;
use serde_json::{Value, json};

const ORB: &str = "version: 2.1
description: Tools for tests
commands:
  greet:
    parameters: {who: {type: string, default: world}}
    steps: [{run: echo hello << parameters.who >>}]
executors:
  default:
    docker: [{image: cimg/base:stable}]
";

const CONFIG: &str = "version: 2.1
orbs:
  tools: acme/tools@1.2
jobs:
  test:
    parameters: {os: {type: string}}
    executor: tools/default
    steps:
      - checkout
      - tools/greet: {who: << parameters.os >>}
workflows:
  main:
    jobs:
      - test:
          matrix: {parameters: {os: [linux, mac]}}
";

async fn publish(app: &TestApp, reference: &str, source: &str) {
    circlet_app::orbs::publish(&app.store, reference, source, "admin-cli")
        .await
        .unwrap();
}

fn names(jobs: &Value) -> Vec<&str> {
    jobs["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["name"].as_str().unwrap())
        .collect()
}

/// The fixture, its repository's `main` holding `config`.
async fn with_config(app: TestApp, config: &str) -> Fx {
    let fx = Fx::new(app).await;
    fx.repo
        .commit(&[(".circleci/config.yml", config)], "the config under test");
    fx
}

async fn jobs_of(fx: &Fx, pipeline: &Value) -> Value {
    let id = pipeline["id"].as_str().unwrap();
    let ws = fx.get(&format!("/api/v2/pipeline/{id}/workflow")).await;
    let wid = ws.body["items"][0]["id"].as_str().unwrap().to_owned();
    fx.get(&format!("/api/v2/workflow/{wid}/job")).await.body
}

/// A setup config: one setup job, which would generate the rest.
const SETUP_CONFIG: &str = "version: 2.1
setup: true
jobs:
  generate: {steps: [{run: ./generate-config}]}
workflows:
  setup:
    jobs: [generate]
";

/// The `CIRCLE_CONTINUATION_KEY` a claimed job was given, if any.
fn continuation_key(claimed: &Value) -> Option<String> {
    claimed["env"]
        .as_array()?
        .iter()
        .find(|kv| kv[0] == "CIRCLE_CONTINUATION_KEY")
        .map(|kv| kv[1].as_str().unwrap_or_default().to_owned())
}

both_backends! {
    setup = TestApp::spawn;
    async fn a_pipeline_runs_matrix_jobs_with_commands_from_a_published_orb(app) {
        let fx = Fx::new(app).await;
        fx.repo.commit(&[(".circleci/config.yml", CONFIG)], "use an orb");
        // Not published yet: the pipeline errors, saying which orb and how to publish it.
        let made = fx.v2_trigger(&json!({})).await;
        let p = fx.get(&format!("/api/v2/pipeline/{}", made["id"].as_str().unwrap())).await.body;
        assert_eq!(p["state"], "errored", "{p}");
        let message = p["errors"][0]["message"].as_str().unwrap();
        assert!(
            message.starts_with("orb acme/tools@1.2 is not published in this circlet; publish it with `circlet admin orb publish acme/tools@X.Y.Z orb.yml`"),
            "{message}"
        );
        assert_eq!(p["errors"].as_array().unwrap().len(), 1, "{p}");
        // Published (1.2.0 and 1.2.7; 1.3.0 is outside @1.2), the newest 1.2.x is used.
        publish(&fx.app, "acme/tools@1.2.0", &ORB.replace("hello", "old")).await;
        publish(&fx.app, "acme/tools@1.2.7", ORB).await;
        publish(&fx.app, "acme/tools@1.3.0", &ORB.replace("hello", "new")).await;
        let made = fx.v2_trigger(&json!({})).await;
        assert_eq!(made["state"], "created", "{made}");
        let jobs = jobs_of(&fx, &made).await;
        assert_eq!(names(&jobs), ["test-linux", "test-mac"]);
        let runner = fx.runner("r1").await;
        let job = runner.claim_some().await;
        let commands: Vec<&str> = job["steps"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|s| s["run"]["command"].as_str())
            .collect();
        assert!(
            commands == ["echo hello linux"] || commands == ["echo hello mac"],
            "{job}"
        );
    }

    async fn a_tag_runs_only_jobs_whose_tag_filter_matches(app) {
        let fx = with_config(app, "version: 2.1
jobs:
  build: {steps: [checkout]}
  publish: {steps: [{run: ./publish}]}
workflows:
  release:
    jobs:
      - build: {filters: {tags: {only: /^v.*/}}}
      - publish:
          requires: [build]
          filters: {tags: {only: /^v.*/}, branches: {ignore: /.*/}}
").await;
        fx.repo.tag("v2.0");
        fx.repo.tag("nightly-1");
        let made = fx.v2_trigger(&json!({"tag": "v2.0"})).await;
        assert_eq!(names(&jobs_of(&fx, &made).await), ["build", "publish"]);
        let made = fx.v2_trigger(&json!({"branch": "main"})).await;
        assert_eq!(names(&jobs_of(&fx, &made).await), ["build"]);
        // A tag no filter matches runs nothing: no workflow at all.
        let made = fx.v2_trigger(&json!({"tag": "nightly-1"})).await;
        let id = made["id"].as_str().unwrap();
        let ws = fx.get(&format!("/api/v2/pipeline/{id}/workflow")).await;
        assert_eq!(ws.body["items"], json!([]), "{}", ws.text);
    }

    async fn the_compile_endpoint_answers_as_circleci_does(app) {
        let fx = Fx::new(app).await;
        let path = "/api/v2/compile-config-with-defaults";
        let ok = fx
            .post_json(
                path,
                &json!({
                    "config_yaml": "version: 2.1\nparameters: {who: {type: string, default: x}}\ncommands:\n  hi: {steps: [{run: 'echo << pipeline.parameters.who >> << pipeline.git.branch >>'}]}\njobs:\n  build: {docker: [{image: cimg/base:stable}], steps: [hi]}\nworkflows:\n  w: {jobs: [build]}\n",
                    "options": {
                        "owner_id": "c5c3c6a7-0000-4000-8000-000000000000",
                        "pipeline_parameters": {"who": "ada"},
                        "pipeline_values": {"git.branch": "feature"}
                    }
                }),
            )
            .await;
        ok.status_is(200);
        assert_eq!(ok.body["valid"], true, "{}", ok.text);
        assert_eq!(ok.body["errors"], json!([]));
        let output = ok.body["output-yaml"].as_str().unwrap();
        assert!(output.contains("run: echo ada feature"), "{output}");
        assert!(ok.body["source-yaml"].as_str().unwrap().contains("commands:"));

        let bad = fx
            .post_json(path, &json!({"config_yaml": "version: 2.1\njobs:\n  build: {steps: [nope]}\n"}))
            .await;
        bad.status_is(200);
        assert_eq!(bad.body["valid"], false);
        assert_eq!(bad.body["output-yaml"], "");
        let message = bad.body["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains("'nope' is neither a built-in step"), "{message}");
        assert!(message.ends_with("(line 3, column 19)"), "{message}");

        // Not JSON of the right shape: a 400 with a message. No credentials: 401.
        // Parameters are held to the trigger's limits.
        let r = fx
            .post_json(
                path,
                &json!({"config_yaml": "version: 2.1", "options": {"pipeline_parameters": {"who": "a\u{0}b"}}}),
            )
            .await;
        r.status_is(400);
        assert!(r.body["message"].as_str().unwrap().contains("must not contain a NUL"), "{}", r.text);
        let r = fx.post_json(path, &json!({"config": 1})).await;
        r.status_is(400);
        assert!(r.body["message"].is_string(), "{}", r.text);
        let anonymous = reqwest::Client::new()
            .post(fx.app.at(path))
            .json(&json!({"config_yaml": "version: 2.1"}))
            .send()
            .await
            .unwrap();
        assert_eq!(anonymous.status(), 401);
    }

    async fn the_orb_registry_lists_what_is_published(app) {
        let fx = Fx::new(app).await;
        let listed = fx.get("/api/v2/orbs").await;
        listed.status_is(200);
        assert_eq!(listed.body["items"], json!([]));
        publish(&fx.app, "acme/tools@1.0.0", ORB).await;
        publish(&fx.app, "acme/tools@1.10.0", ORB).await;
        // An orb that is not an orb, and a version twice, are refused with reasons.
        let bad = circlet_app::orbs::publish(&fx.app.store, "acme/tools@2.0.0", "jobs: [1]\n", "admin-cli").await;
        assert!(bad.unwrap_err().to_string().contains("is not a valid orb"));
        let twice = circlet_app::orbs::publish(&fx.app.store, "acme/tools@1.0.0", ORB, "admin-cli").await;
        assert!(twice.unwrap_err().to_string().contains("acme/tools@1.0.0 is published already"));
        let listed = fx.get("/api/v2/orbs").await;
        assert_eq!(listed.body["items"][0]["name"], "acme/tools");
        assert_eq!(listed.body["items"][0]["version"], "1.10.0");
        let versions = fx.get("/api/v2/orbs/acme/tools").await;
        let v: Vec<&str> = versions.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["version"].as_str().unwrap())
            .collect();
        assert_eq!(v, ["1.10.0", "1.0.0"]);
        let missing = fx.get("/api/v2/orbs/acme/nope").await;
        missing.status_is(404);
        assert_eq!(missing.body["message"], "Orb not found");

        // The pages: the list, one orb with its YAML; a missing one is a readable 404 page.
        let browser = fx.app.logged_in("ada").await;
        let page = browser.get(fx.app.at("/orbs")).send().await.unwrap().text().await.unwrap();
        assert!(page.contains("href=\"/orbs/acme/tools\"") && page.contains("1.10.0"), "{page}");
        let page = browser
            .get(fx.app.at("/orbs/acme/tools?version=1.0.0"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(page.contains("acme/tools@1.0.0") && page.contains("description: Tools for tests"), "{page}");
        let missing = browser.get(fx.app.at("/orbs/acme/tools?version=9.9.9")).send().await.unwrap();
        assert_eq!(missing.status(), 404);
        assert!(missing.text().await.unwrap().contains("Orb not found"));
        let _ = SLUG;
    }

    async fn an_approval_holds_its_workflow_until_someone_with_write_access_approves(app) {
        let fx = with_config(app, "version: 2.1
jobs:
  build: {steps: [{run: make}]}
  deploy: {steps: [{run: ./deploy}]}
  report: {steps: [{run: ./report}]}
workflows:
  main:
    jobs:
      - build
      - hold: {type: approval, requires: [build]}
      - deploy: {requires: [hold]}
      - report:
          requires:
            - build: [success, failed]
").await;
        let runner = fx.runner("r1").await;
        let made = fx.v2_trigger(&json!({})).await;
        assert_eq!(made["state"], "created", "{made}");
        let id = made["id"].as_str().unwrap();
        let ws = fx.get(&format!("/api/v2/pipeline/{id}/workflow")).await;
        let wid = ws.body["items"][0]["id"].as_str().unwrap().to_owned();
        let job = runner.claim_some().await;
        assert_eq!(job["job_name"], "build", "{job}");
        // Build fails: report (which accepts a failure) runs; hold is never reached.
        runner.finish(crate::builds::id_of(&job), "failed").await;
        let jobs = fx.get(&format!("/api/v2/workflow/{wid}/job")).await.body;
        let states: Vec<(&str, &str)> = jobs["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|j| (j["name"].as_str().unwrap(), j["status"].as_str().unwrap()))
            .collect();
        assert_eq!(
            states,
            [("build", "failed"), ("hold", "not_run"), ("deploy", "not_run"), ("report", "queued")]
        );
        let report = runner.claim_some().await;
        assert_eq!(report["job_name"], "report");
        runner.finish(crate::builds::id_of(&report), "success").await;

        // Again, build succeeding: the workflow waits on hold.
        let made = fx.v2_trigger(&json!({})).await;
        let id = made["id"].as_str().unwrap();
        let ws = fx.get(&format!("/api/v2/pipeline/{id}/workflow")).await;
        let wid = ws.body["items"][0]["id"].as_str().unwrap().to_owned();
        let job = runner.claim_some().await;
        runner.finish(crate::builds::id_of(&job), "success").await;
        let report = runner.claim_some().await;
        runner.finish(crate::builds::id_of(&report), "success").await;
        let w = fx.get(&format!("/api/v2/workflow/{wid}")).await.body;
        assert_eq!(w["status"], "on_hold", "{w}");
        let jobs = fx.get(&format!("/api/v2/workflow/{wid}/job")).await.body;
        let hold = jobs["items"][1].clone();
        assert_eq!((hold["name"].as_str(), hold["type"].as_str(), hold["status"].as_str()), (Some("hold"), Some("approval"), Some("on_hold")), "{hold}");
        let request = hold["approval_request_id"].as_str().unwrap().to_owned();

        // A reader may not approve; a wrong request id is a 404; the writer approves once.
        let reader = fx.app.user("rita", false).await;
        fx.app.store.projects().set_member(fx.project.id, reader.id, circlet_core::Role::Read).await.unwrap();
        let reader_token = fx.app.personal_token(&reader).await;
        let path = format!("/api/v2/workflow/{wid}/approve/{request}");
        let r = send(reqwest::Client::new().post(fx.app.at(&path)).header("Circle-Token", &reader_token)).await;
        r.status_is(403);
        let r = fx.post_empty(&format!("/api/v2/workflow/{wid}/approve/{}", uuid::Uuid::new_v4())).await;
        r.status_is(404);
        assert_eq!(r.body["message"], "Approval request not found");
        let r = fx.post_empty(&path).await;
        r.status_is(202);
        let r = fx.post_empty(&path).await;
        r.status_is(400);
        assert!(r.body["message"].as_str().unwrap().contains("is not waiting for an approval"), "{}", r.text);
        let jobs = fx.get(&format!("/api/v2/workflow/{wid}/job")).await.body;
        assert_eq!(jobs["items"][1]["status"], "success");
        assert_eq!(jobs["items"][1]["approved_by"], "ada");
        let deploy = runner.claim_some().await;
        assert_eq!(deploy["job_name"], "deploy", "{deploy}");
    }

    async fn an_approval_is_approved_from_its_build_page(app) {
        let fx = with_config(app, "version: 2.1
jobs:
  deploy: {steps: [{run: ./deploy}]}
workflows:
  main:
    jobs:
      - hold: {type: approval}
      - deploy: {requires: [hold]}
").await;
        let made = fx.v2_trigger(&json!({})).await;
        let jobs = jobs_of(&fx, &made).await;
        let hold = &jobs["items"][0];
        assert_eq!(hold["status"], "on_hold", "{jobs}");
        let num = hold["job_number"].as_i64().unwrap();
        let page_path = format!("/projects/{SLUG}/jobs/{num}");
        let browser = fx.app.logged_in("ada").await;
        let page = browser.get(fx.app.at(&page_path)).send().await.unwrap().text().await.unwrap();
        assert!(page.contains("id=\"approve\""), "{page}");
        assert!(!page.contains("id=\"retry\""), "an approval is not rerun");
        let csrf = fx.app.csrf(&browser, &page_path).await;
        let r = browser
            .post(fx.app.at(&format!("{page_path}/approve")))
            .form(&[("csrf", csrf.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303);
        assert_eq!(r.headers()["location"], page_path.as_str());
        let page = browser.get(fx.app.at(&page_path)).send().await.unwrap().text().await.unwrap();
        assert!(!page.contains("id=\"approve\""), "{page}");
        let jobs = jobs_of(&fx, &made).await;
        assert_eq!(jobs["items"][0]["status"], "success");
        assert_eq!(jobs["items"][1]["status"], "queued");
    }

    async fn a_pipelines_config_page_shows_its_source_next_to_what_it_compiled_to(app) {
        let fx = Fx::new(app).await;
        let config = "version: 2.1
commands:
  greet: {steps: [{run: echo compiled-greeting}]}
jobs:
  build: {steps: [greet]}
workflows:
  main: {jobs: [build]}
";
        fx.repo.commit(&[(".circleci/config.yml", config)], "a command");
        let made = fx.v2_trigger(&json!({})).await;
        let number = made["number"].as_i64().unwrap();
        let browser = fx.app.logged_in("ada").await;
        let list = browser.get(fx.app.at(&format!("/projects/{SLUG}"))).send().await.unwrap().text().await.unwrap();
        let link = format!("/projects/{SLUG}/pipelines/{number}/config");
        assert!(list.contains(&format!("href=\"{link}\"")), "{list}");
        let page = browser.get(fx.app.at(&link)).send().await.unwrap().text().await.unwrap();
        let source = page.split("id=\"config-source\">").nth(1).unwrap();
        assert!(source.starts_with("version: 2.1\ncommands:"), "{page}");
        let compiled = page.split("id=\"config-compiled\">").nth(1).unwrap();
        assert!(compiled.starts_with("version: 2\n") && compiled.contains("run: echo compiled-greeting"), "{page}");
        assert!(!compiled.split("</pre>").next().unwrap().contains("commands:"), "{page}");

        // A config that does not compile: its source and its problems.
        fx.repo.commit(&[(".circleci/config.yml", "version: 2.1\njobs:\n  build: {steps: [nope]}\n")], "broken");
        let made = fx.v2_trigger(&json!({})).await;
        let number = made["number"].as_i64().unwrap();
        let page = browser
            .get(fx.app.at(&format!("/projects/{SLUG}/pipelines/{number}/config")))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(page.contains("id=\"config-not-compiled\""), "{page}");
        assert!(page.contains("&#39;nope&#39; is neither a built-in step") || page.contains("'nope' is neither a built-in step"), "{page}");
        // No such pipeline, and a project the visitor may not read: readable 404 pages.
        let missing = browser.get(fx.app.at(&format!("/projects/{SLUG}/pipelines/999/config"))).send().await.unwrap();
        assert_eq!(missing.status(), 404);
        let anonymous = fx.app.browser().get(fx.app.at(&format!("/projects/{SLUG}/pipelines/1/config"))).send().await.unwrap();
        assert_eq!(anonymous.status(), 404, "a private project is not shown to anonymous visitors");
    }

    async fn a_setup_job_continues_its_pipeline_once_with_a_generated_config(app) {
        let fx = with_config(app, SETUP_CONFIG).await;
        let runner = fx.runner("r1").await;
        let made = fx.v2_trigger(&json!({})).await;
        assert_eq!(made["state"], "created", "{made}");
        let id = made["id"].as_str().unwrap().to_owned();
        let setup = runner.claim_some().await;
        assert_eq!(setup["job_name"], "generate");
        let key = continuation_key(&setup)
            .expect("the setup job has a continuation key");
        assert!(setup["masks"].as_array().unwrap().iter().any(|m| m == key.as_str()), "the key is masked: {setup}");

        let generated = "version: 2.1
parameters:
  module: {type: string, default: none}
jobs:
  build-module:
    steps: [{run: 'make << pipeline.parameters.module >> on << pipeline.git.branch >>'}]
workflows:
  modules:
    jobs: [build-module]
";
        let path = "/api/v2/pipeline/continue";
        let anonymous = reqwest::Client::new();
        let post = |body: Value| {
            let c = anonymous.clone();
            let url = fx.app.at(path);
            async move { send(c.post(url).json(&body)).await }
        };
        // A configuration that does not compile is refused; the key stays good.
        let r = post(json!({"continuation-key": key, "configuration": "version: 2.1\njobs: {}\n"})).await;
        r.status_is(400);
        assert!(r.body["message"].as_str().unwrap().starts_with("The configuration is not valid"), "{}", r.text);
        let r = post(json!({"continuation-key": "nope", "configuration": generated})).await;
        r.status_is(400);
        assert!(r.body["message"].as_str().unwrap().starts_with("Continuation key is not valid"), "{}", r.text);
        // No token needed: the key is the credential.
        let r = post(json!({"continuation-key": key, "configuration": generated, "parameters": {"module": "api"}})).await;
        r.status_is(200);
        let r = post(json!({"continuation-key": key, "configuration": generated})).await;
        r.status_is(400);
        assert!(r.body["message"].as_str().unwrap().contains("continued already"), "{}", r.text);

        let ws = fx.get(&format!("/api/v2/pipeline/{id}/workflow")).await;
        let names: Vec<&str> = ws.body["items"].as_array().unwrap().iter().map(|w| w["name"].as_str().unwrap()).collect();
        assert_eq!(names.len(), 2, "{}", ws.text);
        assert!(names.contains(&"setup") && names.contains(&"modules"), "{names:?}");
        runner.finish(crate::builds::id_of(&setup), "success").await;
        let built = runner.claim_some().await;
        assert_eq!(built["job_name"], "build-module");
        assert_eq!(built["steps"][0]["run"]["command"], "make api on main", "{built}");
        assert!(
            !built["env"].as_array().unwrap().iter().any(|kv| kv[0] == "CIRCLE_CONTINUATION_KEY"),
            "a continued pipeline hands out no more keys"
        );
    }

    async fn a_continuation_key_that_leaks_is_forgotten(app) {
        let fx = with_config(app, SETUP_CONFIG).await;
        let runner = fx.runner("r1").await;
        fx.v2_trigger(&json!({})).await;
        let setup = runner.claim_some().await;
        let key = continuation_key(&setup)
            .unwrap();
        assert!(key.starts_with("CCICK_") && key.len() == 6 + 64, "{key}");
        // Passed on as a build parameter of another build: the leak guard forgets it.
        fx.v1_trigger("main", &json!({"build_parameters": {"KEY": format!("key={key}")}})).await;
        let r = send(
            reqwest::Client::new()
                .post(fx.app.at("/api/v2/pipeline/continue"))
                .json(&json!({"continuation-key": key, "configuration": "version: 2.1\njobs: {b: {steps: [checkout]}}\nworkflows: {w: {jobs: [b]}}\n"})),
        )
        .await;
        r.status_is(400);
        assert!(r.body["message"].as_str().unwrap().starts_with("Continuation key is not valid"), "{}", r.text);
        let audit = fx.app.store.audit().list(circlet_store::AuditScope::All, 50).await.unwrap();
        assert!(
            audit.iter().any(|e| e.event == "continuation_key.leaked"
                && e.detail.contains("was passed as a parameter of pipeline #2")),
            "{audit:?}"
        );
    }
}
