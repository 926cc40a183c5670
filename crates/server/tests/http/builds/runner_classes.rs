//! Self-hosted resource classes (issue 14): a job whose `resource_class` names a class is
//! claimed only by that class's runners, and the default pool keeps the rest; a job waiting for
//! a class with no runner online says so on its page; CircleCI's `/api/v3/runner` lists who is
//! online and what waits; Admin → Runners makes classes and class tokens; revoking a runner
//! token ends its waiting claim at once.

use super::{Fx, PlayedRunner, SLUG};
use crate::app::TestApp;
use circlet_core::runner_class::RunnerClass;
use circlet_core::token::TokenName;
use circlet_testkit::both_backends;
use serde_json::json;
use std::time::{Duration, Instant};

const CONFIG: &str = "version: 2.1
jobs:
  train:
    resource_class: acme/gpu
    steps: [{run: nvidia-smi}]
  lint:
    resource_class: large
    steps: [{run: make lint}]
workflows:
  main:
    jobs: [train, lint]
";

fn actor() -> circlet_app::tokens::Actor {
    circlet_app::tokens::Actor {
        user_id: None,
        login: "test".into(),
        address: String::new(),
    }
}

/// A runner played by the test whose token serves `class`.
async fn class_runner(fx: &Fx, class: &str) -> PlayedRunner {
    let class = RunnerClass::parse(class).unwrap();
    let name = TokenName::parse("gpu-1", "name").unwrap();
    let (value, _) =
        circlet_app::tokens::issue_runner(&fx.app.store, &name, Some(&class), &actor())
            .await
            .unwrap();
    PlayedRunner {
        token: value.expose().to_owned(),
        ..fx.runner("template").await
    }
}

both_backends! {
    setup = TestApp::spawn;

    async fn jobs_of_a_class_go_only_to_its_runners(app) {
        let fx = Fx::new(app).await;
        fx.repo.commit(&[(".circleci/config.yml", CONFIG)], "classes");
        circlet_app::runners::create_class(&fx.app.store, "acme/gpu", "GPU boxes", &actor())
            .await
            .unwrap();
        fx.v2_trigger(&json!({"branch": "main"})).await;
        let pool = fx.runner("pool").await;
        // `large` is a size, not a class: the default pool runs `lint`, and nothing else.
        let lint = pool.claim_some().await;
        assert_eq!(lint["job_name"], "lint");
        assert!(pool.claim().await.is_none(), "the default pool never gets a class's job");

        // Nobody serves acme/gpu yet: the job's page says so.
        let browser = fx.app.logged_in("ada").await;
        let page = |n: i64| {
            let browser = browser.clone();
            let url = fx.app.at(&format!("/projects/{SLUG}/jobs/{n}"));
            async move { browser.get(url).send().await.unwrap().text().await.unwrap() }
        };
        let train_num = 1;
        let html = page(train_num).await;
        assert!(html.contains("id=\"runner-waiting\""), "{html}");
        assert!(html.contains("resource class acme/gpu, and no runner of that class is online"), "{html}");

        let gpu = class_runner(&fx, "acme/gpu").await;
        let tasks = fx.get("/api/v3/runner/tasks?resource-class=acme/gpu").await;
        tasks.status_is(200);
        assert_eq!(tasks.body, json!({"unclaimed_task_count": 1}));
        let train = gpu.claim_some().await;
        assert_eq!(train["job_name"], "train");
        let running = fx.get("/api/v3/runner/tasks/running?resource-class=acme/gpu").await;
        assert_eq!(running.body, json!({"running_runner_tasks": 1}));
        let tasks = fx.get("/api/v3/runner/tasks?resource-class=acme/gpu").await;
        assert_eq!(tasks.body, json!({"unclaimed_task_count": 0}));

        // Who is online, in CircleCI's shape.
        let listed = fx.get("/api/v3/runner?resource-class=acme/gpu").await;
        listed.status_is(200);
        let items = listed.body["items"].as_array().unwrap();
        assert_eq!(items.len(), 1, "{}", listed.text);
        let r = &items[0];
        assert_eq!(r["resource_class"], "acme/gpu");
        assert_eq!(r["name"], "gpu-1");
        for key in ["hostname", "first_connected", "last_connected", "version", "ip", "last_used"] {
            assert!(r[key].is_string(), "{key}: {r}");
        }
        let by_ns = fx.get("/api/v3/runner?namespace=acme").await;
        assert_eq!(by_ns.body["items"].as_array().unwrap().len(), 1);
        for bad in ["/api/v3/runner", "/api/v3/runner/tasks", "/api/v3/runner/tasks?resource-class=nope"] {
            let r = fx.get(bad).await;
            r.status_is(400);
            assert!(r.body["message"].is_string(), "{bad}: {}", r.text);
        }
        let anonymous = reqwest::get(fx.app.at("/api/v3/runner?resource-class=acme/gpu")).await.unwrap();
        assert_eq!(anonymous.status(), 401);
        // Once its runner has asked for work, the page no longer warns.
        let html = page(train_num).await;
        assert!(!html.contains("id=\"runner-waiting\""));
    }

    async fn a_job_for_a_class_that_does_not_exist_says_so(app) {
        let fx = Fx::new(app).await;
        fx.repo.commit(&[(".circleci/config.yml", CONFIG)], "classes");
        fx.v2_trigger(&json!({"branch": "main"})).await;
        let html = fx
            .app
            .logged_in("ada")
            .await
            .get(fx.app.at(&format!("/projects/{SLUG}/jobs/1")))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(html.contains("acme/gpu, which does not exist"), "{html}");
        // A token cannot be made for a class that does not exist.
        let class = RunnerClass::parse("acme/gpu").unwrap();
        let name = TokenName::parse("x", "name").unwrap();
        let e = circlet_app::tokens::issue_runner(&fx.app.store, &name, Some(&class), &actor())
            .await
            .unwrap_err();
        assert!(e.to_string().contains("There is no resource class acme/gpu"), "{e}");
        // A malformed class is a config error, before any job exists.
        fx.repo.commit(
            &[(".circleci/config.yml", &CONFIG.replace("acme/gpu", "acme/g pu"))],
            "bad class",
        );
        let p = fx.v2_trigger(&json!({"branch": "main"})).await;
        let got = fx.get(&format!("/api/v2/pipeline/{}", p["id"].as_str().unwrap())).await;
        let errors = got.body["errors"].to_string();
        assert!(errors.contains("is not a resource class"), "{errors}");
    }

    async fn admin_runners_makes_classes_and_class_tokens_and_revoking_ends_a_claim(app) {
        let fx = Fx::new(app).await;
        fx.app.user("root", true).await;
        let browser = fx.app.logged_in("root").await;
        let page = "/admin/runners";
        let r = fx.app.post_form(&browser, page, "/admin/runners/classes", &[("name", "acme/arm"), ("description", "Raspberry Pis")]).await;
        assert_eq!(r.status(), 303);
        for bad in ["acme", "acme/arm"] {
            let r = fx.app.post_form(&browser, page, "/admin/runners/classes", &[("name", bad)]).await;
            assert_eq!(r.status(), 400, "{bad}");
            let html = r.text().await.unwrap();
            assert!(html.contains("id=\"error-message\""), "{html}");
        }
        let r = fx.app.post_form(&browser, page, page, &[("name", "pi-1"), ("resource_class", "acme/arm")]).await;
        assert_eq!(r.status(), 201);
        let html = r.text().await.unwrap();
        assert!(html.contains("<td class=\"runner-class\">acme/arm</td>"), "{html}");
        let token = html
            .split("id=\"token-value\">")
            .nth(1)
            .and_then(|rest| rest.split('<').next())
            .unwrap()
            .to_owned();
        assert!(token.starts_with("CCIRUN_"));
        let r = fx.app.post_form(&browser, page, page, &[("name", "pi-2"), ("resource_class", "acme/none")]).await;
        assert_eq!(r.status(), 400);
        assert!(r.text().await.unwrap().contains("There is no resource class acme/none"));

        // The runner waits for work; revoking its token ends the wait at once.
        let pi = PlayedRunner { token: token.clone(), ..fx.runner("template").await };
        let waiting = tokio::spawn(async move {
            let started = Instant::now();
            let r = pi.post("/claim?wait=30", None, None).await;
            (r.status, started.elapsed())
        });
        // Let the claim arrive and start waiting.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let html = browser.get(fx.app.at(page)).send().await.unwrap().text().await.unwrap();
            if html.contains("id=\"online\"") && html.contains("<td>pi-1</td><td>pi-1</td><td>acme/arm</td>") {
                break;
            }
            assert!(Instant::now() < deadline, "the runner never showed as online: {html}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let record = fx
            .app
            .store
            .tokens()
            .inventory()
            .await
            .unwrap()
            .into_iter()
            .find(|e| e.token.name == "pi-1")
            .unwrap();
        let r = fx.app.post_form(&browser, page, &format!("/admin/runners/{}/revoke", record.token.uuid), &[]).await;
        assert_eq!(r.status(), 303);
        let (status, took) = waiting.await.unwrap();
        assert_eq!(status, 401);
        assert!(took < Duration::from_secs(5), "the claim ended {took:?} after it began");
    }
}
