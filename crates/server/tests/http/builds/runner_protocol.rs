//! The runner protocol played over HTTP: what a claimed job carries, long-poll claims, one job
//! per claimer, dependents released or given up, 409 for a job not held, and the reaper.

use super::{Fx, SLUG, env_of, id_of};
use crate::app::TestApp;
use circlet_testkit::both_backends;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

both_backends! {
    setup = TestApp::spawn;
    async fn runner_claim_carries_the_job_and_its_environment(app) {
        let fx = Fx::new(app).await;
        let runner = fx.runner("r1").await;
        let head = fx.repo.head();
        fx.v1_trigger("main", &json!({"build_parameters": {
            "CIRCLE_BRANCH": "evil", "CIRCLE_SHA1": "0000", "CI": "false", "CIRCLE_JOB": "build",
            "FROM_JOB": "from-a-parameter", "EXTRA": 7,
        }})).await;
        let job = runner.claim_some().await;
        uuid::Uuid::parse_str(id_of(&job)).expect("the job id is a uuid");
        assert_eq!(job["build_num"], json!(1));
        assert_eq!(job["job_name"], "build");
        assert_eq!(job["project_slug"], SLUG);
        assert_eq!(job["org"], "acme");
        assert_eq!(job["repo"], "widget");
        assert_eq!(job["repo_url"], fx.repo.url());
        assert_eq!(job["revision"], head.as_str());
        assert_eq!(job["branch"], "main");
        assert_eq!(job["tag"], Value::Null);
        assert_eq!(job["build_url"], fx.app.at("/gh/acme/widget/1"));
        assert_eq!(job["working_directory"], "~/project");
        assert_eq!(job["steps"][0], "checkout");
        assert_eq!(job["steps"][1]["run"]["command"], "echo hello");
        let env = env_of(&job);
        let want = [
            ("CI", "true"),
            ("CIRCLECI", "true"),
            ("CIRCLE_BRANCH", "main"),
            ("CIRCLE_SHA1", head.as_str()),
            ("CIRCLE_BUILD_NUM", "1"),
            ("CIRCLE_JOB", "build"),
            ("CIRCLE_PROJECT_USERNAME", "acme"),
            ("CIRCLE_PROJECT_REPONAME", "widget"),
            ("CIRCLE_BUILD_URL", &fx.app.at("/gh/acme/widget/1")),
            ("EXTRA", "7"),
            ("FROM_JOB", "job-value"),
        ];
        for (name, value) in want {
            assert_eq!(env.get(name).map(String::as_str), Some(value), "{name} in {:?}", job["env"]);
        }
        let b = fx.build(1).await;
        assert_eq!(b["lifecycle"], "running");
    }

    async fn runner_claim_waits_then_answers_204_or_the_work_that_came(app) {
        let fx = Fx::new(app).await;
        let runner = fx.runner("r1").await;
        let started = Instant::now();
        assert_eq!(runner.claim_wait(1).await, None);
        assert!(started.elapsed() >= Duration::from_millis(900), "waited {:?}", started.elapsed());

        let claim = {
            let runner = runner.clone();
            tokio::spawn(async move {
                let started = Instant::now();
                (runner.claim_wait(30).await, started.elapsed())
            })
        };
        // Let the claim start waiting, then trigger.
        tokio::time::sleep(Duration::from_millis(300)).await;
        fx.v1_trigger("main", &json!({"build_parameters": {"CIRCLE_JOB": "build"}})).await;
        let (job, took) = claim.await.unwrap();
        assert_eq!(job.expect("the triggered job")["build_num"], json!(1));
        assert!(took < Duration::from_secs(10), "a waiting claim answers promptly, took {took:?}");
    }

    async fn runner_concurrent_claimers_never_share_a_job(app) {
        let fx = Fx::new(app).await;
        let a = fx.runner("a").await;
        let b = fx.runner("b").await;
        for _ in 0..3 {
            fx.v1_trigger("main", &json!({"build_parameters": {"CIRCLE_JOB": "build"}})).await;
        }
        let mut set = tokio::task::JoinSet::new();
        for i in 0..8 {
            let r = if i % 2 == 0 { a.clone() } else { b.clone() };
            set.spawn(async move { r.claim().await });
        }
        let mut got: Vec<i64> = Vec::new();
        while let Some(claimed) = set.join_next().await {
            if let Some(job) = claimed.unwrap() {
                got.push(job["build_num"].as_i64().unwrap());
            }
        }
        got.sort();
        assert_eq!(got, [1, 2, 3], "each queued job handed out exactly once");
    }

    async fn runner_finishing_releases_dependents_and_failure_gives_them_up(app) {
        let fx = Fx::new(app).await;
        let runner = fx.runner("r1").await;
        let made = fx.v2_trigger(&json!({"branch": "main"})).await;
        let build = runner.claim_some().await;
        assert_eq!(build["job_name"], "build");
        assert_eq!(runner.claim().await, None, "test waits for build");
        runner.finish(id_of(&build), "success").await;
        let test = runner.claim().await.expect("test is released when build succeeds");
        assert_eq!(test["job_name"], "test");
        assert_eq!(runner.claim().await, None, "deploy waits for test");
        runner.finish(id_of(&test), "failed").await;
        assert_eq!(runner.claim().await, None, "deploy never runs");

        let ws = fx.get(&format!("/api/v2/pipeline/{}/workflow", made["id"].as_str().unwrap())).await;
        let w = &ws.body["items"][0];
        assert_eq!(w["status"], "failed", "{w}");
        let jobs = fx.get(&format!("/api/v2/workflow/{}/job", w["id"].as_str().unwrap())).await;
        let statuses: Vec<&str> = jobs.body["items"].as_array().unwrap().iter().map(|j| j["status"].as_str().unwrap()).collect();
        assert_eq!(statuses, ["success", "failed", "not_run"]);
        let deploy = fx.build(3).await;
        assert_eq!((deploy["lifecycle"].as_str(), deploy["status"].as_str(), deploy["outcome"].as_str()), (Some("not_run"), Some("not_run"), None));
    }

    async fn runner_calls_on_a_job_not_held_answer_409(app) {
        let fx = Fx::new(app).await;
        let a = fx.runner("a").await;
        let b = fx.runner("b").await;
        fx.v1_trigger("main", &json!({"build_parameters": {"CIRCLE_JOB": "build"}})).await;
        let job = a.claim_some().await;
        let id = id_of(&job);
        let hb = a.heartbeat(id).await;
        assert_eq!((hb.status, hb.json()), (200, json!({"cancel": false})));
        for r in [
            b.heartbeat(id).await,
            b.post(&format!("/jobs/{id}/steps"), Some(&json!({"index": 0, "name": "x", "command": null})), None).await,
            b.post(&format!("/jobs/{id}/steps/0/output"), None, Some("stolen")).await,
            b.finish_raw(id, "success").await,
        ] {
            assert_eq!(r.status, 409, "{}", r.text);
            assert!(r.json()["message"].as_str().is_some_and(|m| !m.is_empty()), "{}", r.text);
        }
        a.finish(id, "success").await;
        assert_eq!(a.heartbeat(id).await.status, 409, "a finished job is no longer held");
        assert_eq!(a.finish_raw(id, "failed").await.status, 409);
        assert_eq!(fx.build(1).await["status"], "success", "the second finish changed nothing");
        let missing = a.heartbeat(&uuid::Uuid::new_v4().to_string()).await;
        assert_eq!(missing.status, 404, "{}", missing.text);
    }
}

/// The reaper, with a runner timeout short enough to watch.
mod reaper {
    use super::super::{Fx, eventually, id_of};
    use crate::app::TestApp;
    use circlet_testkit::both_backends;
    use serde_json::json;
    use std::time::Duration;

    both_backends! {
        setup = TestApp::spawn_with;
        async fn runner_a_silent_running_job_ends_infrastructure_fail(app, |c: &mut crate::app::Config| {
            c.app.runner_timeout = Duration::from_secs(1);
        }) {
            let fx = Fx::new(app).await;
            let runner = fx.runner("r1").await;
            fx.v2_trigger(&json!({"branch": "main"})).await;
            let job = runner.claim_some().await;
            assert_eq!(runner.heartbeat(id_of(&job)).await.status, 200);
            let b = eventually("the reaper to end build 1", || async {
                let b = fx.build(1).await;
                if b["status"] == "infrastructure_fail" { Ok(b) } else { Err(b["status"].to_string()) }
            }).await;
            assert_eq!(b["outcome"], "infrastructure_fail");
            assert_eq!(b["infrastructure_fail"], json!(true));
            assert_eq!(runner.heartbeat(id_of(&job)).await.status, 409, "the runner learns it lost the job");
            assert_eq!(fx.build(2).await["status"], "not_run", "its dependents never run");
            assert_eq!(runner.claim().await, None);
        }
    }
}
