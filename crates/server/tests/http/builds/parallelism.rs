//! `parallelism: N` (issue 14) over the runner protocol, played by the test: each node is
//! claimed separately (by any runner) with its own `CIRCLE_NODE_INDEX`, output, test results
//! and artifacts; the job runs until its last node ends and takes the nodes' combined result;
//! v1.1 shows one action per node, v2 `parallel_runs`; the build page has a tab per node;
//! a cancel stops the nodes not yet claimed.

use super::{Fx, env_of, id_of};
use crate::app::TestApp;
use circlet_testkit::both_backends;
use serde_json::{Value, json};

const PARALLEL: &str = r#"version: 2.1
jobs:
  test:
    parallelism: 3
    steps:
      - run: ./run-tests
  deploy:
    steps:
      - run: ./deploy
workflows:
  main:
    jobs:
      - test
      - deploy:
          requires: [test]
"#;

/// The fixture with [`PARALLEL`] on `main`.
async fn parallel_fx(app: TestApp) -> Fx {
    let fx = Fx::new(app).await;
    fx.repo
        .commit(&[(".circleci/config.yml", PARALLEL)], "three nodes");
    fx
}

/// A node's run: its step 1 printing `text`, then its end.
async fn run_node(runner: &super::PlayedRunner, node: &Value, text: &str, outcome: &str) {
    let id = id_of(node);
    runner
        .start_step(id, 1, "./run-tests", Some("./run-tests"))
        .await;
    runner.output(id, 1, text).await;
    let code = if outcome == "success" { 0 } else { 1 };
    runner.finish_step(id, 1, outcome, Some(code)).await;
    runner.finish(id, outcome).await;
}

both_backends! {
    setup = TestApp::spawn;

    async fn parallel_nodes_are_claimed_apart_and_the_job_ends_with_the_last(app) {
        let fx = parallel_fx(app).await;
        let runners = [fx.runner("r0").await, fx.runner("r1").await, fx.runner("r2").await];
        fx.v2_trigger(&json!({"branch": "main"})).await;

        let mut nodes = Vec::new();
        for r in &runners {
            nodes.push(r.claim().await.expect("a node of `test` to claim"));
        }
        assert_eq!(runners[0].claim().await, None, "three nodes, all claimed; deploy waits");
        let ids: Vec<&str> = nodes.iter().map(id_of).collect();
        assert!(ids[0] != ids[1] && ids[1] != ids[2] && ids[0] != ids[2], "{ids:?}");
        for (i, node) in nodes.iter().enumerate() {
            assert_eq!(node["job_name"], "test");
            assert_eq!((node["node_index"].as_u64(), node["node_total"].as_u64()), (Some(i as u64), Some(3)));
            let env = env_of(node);
            assert_eq!(env["CIRCLE_NODE_INDEX"], i.to_string());
            assert_eq!(env["CIRCLE_NODE_TOTAL"], "3");
            assert_eq!(env["CIRCLE_BUILD_NUM"], "1", "one build, three nodes");
        }
        // Node 0 carries the job's own id, which v2 shows.
        let v2 = fx.get("/api/v2/project/gh/acme/widget/job/1").await;
        assert_eq!(v2.status, 200, "{}", v2.text);
        assert_eq!(env_of(&nodes[0])["CIRCLE_WORKFLOW_JOB_ID"], ids[0]);
        assert_eq!(v2.body["parallelism"], 3);
        assert_eq!(v2.body["status"], "running");

        // A node's runner may not act on another's node.
        let stolen = runners[0].heartbeat(ids[1]).await;
        assert_eq!(stolen.status, 409, "{}", stolen.text);
        assert_eq!(runners[1].heartbeat(ids[1]).await.json(), json!({"cancel": false}));

        // Output, tests and artifacts per node, the same step index and path on each.
        for (i, node) in nodes.iter().enumerate() {
            let id = id_of(node);
            runners[i].tests(id, &json!({"tests": [{"classname": "c", "name": format!("t{i}"), "file": null, "result": "success", "message": null, "run_time": 1.0}]})).await;
            let up = runners[i].put_artifact(id, "report.txt", format!("report of node {i}").into()).await;
            assert_eq!(up.status, 204, "{}", up.text);
        }
        run_node(&runners[0], &nodes[0], "node zero\n", "success").await;
        run_node(&runners[1], &nodes[1], "node one\n", "failed").await;
        let b = fx.build(1).await;
        assert_eq!((b["lifecycle"].as_str(), b["status"].as_str()), (Some("running"), Some("running")), "node 2 still runs");
        assert_eq!(runners[0].claim().await, None, "deploy waits for the whole job");
        let runs = fx.get("/api/v2/project/gh/acme/widget/job/1").await.body["parallel_runs"].clone();
        assert_eq!(runs, json!([{"index": 0, "status": "success"}, {"index": 1, "status": "failed"}, {"index": 2, "status": "running"}]));

        run_node(&runners[2], &nodes[2], "node two\n", "success").await;
        let b = fx.build(1).await;
        assert_eq!((b["status"].as_str(), b["outcome"].as_str()), (Some("failed"), Some("failed")), "one node failed: {b}");
        assert_eq!(b["parallel"], 3);
        assert_eq!(fx.build(2).await["status"], "not_run", "deploy required a successful test");
        assert_eq!(runners[2].heartbeat(ids[2]).await.status, 409, "the node ended");

        // v1.1: one action per node, each with its own output.
        let step = b["steps"].as_array().unwrap().iter().find(|s| s["name"] == "./run-tests").expect("the step");
        let actions = step["actions"].as_array().unwrap();
        assert_eq!(actions.iter().map(|a| a["index"].as_i64().unwrap()).collect::<Vec<_>>(), [0, 1, 2]);
        assert_eq!(actions.iter().map(|a| a["status"].as_str().unwrap()).collect::<Vec<_>>(), ["success", "failed", "success"]);
        assert!(actions.iter().all(|a| a["parallel"] == true));
        for (i, want) in ["node zero\n", "node one\n", "node two\n"].iter().enumerate() {
            let url = actions[i]["output_url"].as_str().unwrap();
            assert!(url.ends_with(&format!("/output/1/{i}")), "{url}");
            let out = fx.get(url.strip_prefix(&fx.app.url).unwrap()).await;
            assert_eq!(out.body[0]["message"], *want, "{}", out.text);
        }
        let none = fx.get("/api/v1.1/project/gh/acme/widget/1/output/1/3").await;
        assert_eq!(none.status, 404, "{}", none.text);
        assert!(none.body["message"].as_str().unwrap().contains("3 parallel run"), "{}", none.text);

        // Tests of every node; each node's artifact under its own index.
        let tests = fx.get("/api/v1.1/project/gh/acme/widget/1/tests").await;
        let mut names: Vec<&str> = tests.body["tests"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
        names.sort_unstable();
        assert_eq!(names, ["t0", "t1", "t2"], "{}", tests.text);
        let artifacts = fx.get("/api/v1.1/project/gh/acme/widget/1/artifacts").await;
        let mut found: Vec<(i64, String)> = Vec::new();
        for a in artifacts.body.as_array().unwrap() {
            let node = a["node_index"].as_i64().unwrap();
            let url = a["url"].as_str().unwrap();
            let body = fx.app.browser().get(url).header("Circle-Token", &fx.token).send().await.unwrap().text().await.unwrap();
            found.push((node, body));
        }
        found.sort();
        assert_eq!(found, [(0, "report of node 0".to_owned()), (1, "report of node 1".to_owned()), (2, "report of node 2".to_owned())], "{}", artifacts.text);
    }

    async fn the_build_page_shows_each_parallel_run(app) {
        let fx = parallel_fx(app).await;
        let runner = fx.runner("r").await;
        fx.v2_trigger(&json!({"branch": "main"})).await;
        let nodes = [runner.claim_some().await, runner.claim_some().await, runner.claim_some().await];
        run_node(&runner, &nodes[0], "output of zero\n", "success").await;
        run_node(&runner, &nodes[1], "output of one\n", "failed").await;
        let browser = fx.app.logged_in("ada").await;
        let page = |q: &'static str| {
            let browser = browser.clone();
            let url = fx.app.at(&format!("/projects/gh/acme/widget/jobs/1{q}"));
            async move {
                let r = browser.get(url).send().await.unwrap();
                (r.status().as_u16(), r.text().await.unwrap())
            }
        };
        // By default the first node that failed.
        let (s, html) = page("").await;
        assert_eq!(s, 200);
        assert!(html.contains(r#"id="parallel-runs""#) && html.contains("3 parallel runs"), "{html}");
        assert!(html.contains("output of one") && !html.contains("output of zero"), "{html}");
        assert!(html.contains(r#"id="run-1" class="run current""#), "{html}");
        assert!(html.contains("live?node=1"), "the live view follows the node shown");
        let (s, html) = page("?node=0").await;
        assert_eq!(s, 200);
        assert!(html.contains("output of zero") && !html.contains("output of one"), "{html}");
        let (s, html) = page("?node=2").await;
        assert_eq!(s, 200);
        assert!(html.contains(r#"id="run-2" class="run current""#) && html.contains("status-running"), "{html}");
        let (s, html) = page("?node=7").await;
        assert_eq!(s, 404);
        assert!(html.contains("no parallel run 7"), "{html}");
        let live = browser.get(fx.app.at("/projects/gh/acme/widget/jobs/1/live?node=1&after=")).send().await.unwrap();
        let live: Value = live.json().await.unwrap();
        assert_eq!(live["steps"][0]["text"], "output of one\n", "{live}");
    }

    async fn canceling_a_parallel_job_stops_the_nodes_not_yet_claimed(app) {
        let fx = parallel_fx(app).await;
        let runner = fx.runner("r").await;
        fx.v2_trigger(&json!({"branch": "main"})).await;
        let first = runner.claim_some().await;
        let cancel = fx.post_empty("/api/v1.1/project/gh/acme/widget/1/cancel").await;
        assert_eq!(cancel.status, 200, "{}", cancel.text);
        assert_eq!(runner.heartbeat(id_of(&first)).await.json(), json!({"cancel": true}));
        assert_eq!(runner.claim().await, None, "a canceled job hands out no more nodes");
        assert_eq!(fx.build(1).await["lifecycle"], "running", "node 0 is still stopping");
        runner.finish(id_of(&first), "canceled").await;
        let b = fx.build(1).await;
        assert_eq!(b["status"], "canceled", "{b}");
        let runs = fx.get("/api/v2/project/gh/acme/widget/job/1").await.body["parallel_runs"].clone();
        assert_eq!(runs, json!([{"index": 0, "status": "canceled"}, {"index": 1, "status": "canceled"}, {"index": 2, "status": "canceled"}]));

        // A job whose claimed nodes all ended, the rest waiting for a runner: canceled at once.
        fx.v2_trigger(&json!({"branch": "main"})).await;
        let node = runner.claim_some().await;
        assert_eq!(env_of(&node)["CIRCLE_BUILD_NUM"], "3");
        runner.finish(id_of(&node), "success").await;
        assert_eq!(fx.build(3).await["lifecycle"], "running", "two nodes wait for a runner");
        let cancel = fx.post_empty("/api/v1.1/project/gh/acme/widget/3/cancel").await;
        assert_eq!(cancel.status, 200, "{}", cancel.text);
        assert_eq!(fx.build(3).await["status"], "canceled");
        assert_eq!(runner.claim().await, None);
    }
}
