//! The `circleci` command inside jobs (issue 14): `circleci tests glob` (globs, `**`, braces),
//! `circleci tests split` by name and by timings taken from the project's stored test results,
//! and `circleci-agent step halt` ending the job successfully, with the embedded runner of a
//! real `circlet serve` (the binary links itself into each job as `circleci`).

use crate::builds::{Api, setup};
use circlet_store::BackendKind;
use circlet_testkit::GitRepo;
use serde_json::Value;

const CONFIG: &str = r#"version: 2.1
jobs:
  test:
    steps:
      - checkout
      - run:
          name: glob and split
          command: |
            circleci tests glob "tests/**/*_test.py" "tests/*.{txt,md}" > all.txt
            sed 's/^/glob:/' all.txt
            echo "node $CIRCLE_NODE_INDEX of $CIRCLE_NODE_TOTAL"
            CIRCLE_NODE_TOTAL=2 CIRCLE_NODE_INDEX=1 circleci tests split --split-by=name all.txt | sed 's/^/name1:/'
            CIRCLE_NODE_TOTAL=2 CIRCLE_NODE_INDEX=0 circleci tests split --split-by=timings all.txt | sed 's/^/time0:/'
      - run: mkdir -p results && cp junit.xml results/
      - store_test_results: {path: results}
      - run: circleci-agent step halt
      - run:
          name: never
          command: exit 1
workflows:
  main:
    jobs: [test]
"#;

const JUNIT: &str = r#"<testsuite name="s">
<testcase classname="a" name="t1" file="tests/a_test.py" time="10"/>
<testcase classname="b" name="t2" file="tests/sub/b_test.py" time="1"/>
<testcase classname="c" name="t3" file="tests/c.txt" time="1"/>
</testsuite>
"#;

/// Every output chunk of every step of `build`.
pub(crate) async fn all_output(api: &Api<'_>, build: &Value) -> String {
    let mut all = String::new();
    for step in build["steps"].as_array().unwrap() {
        let url = step["actions"][0]["output_url"].as_str().unwrap();
        let out = api.json(&url[url.find("/api/").unwrap()..]).await;
        for chunk in out.as_array().unwrap() {
            all.push_str(chunk["message"].as_str().unwrap_or_default());
        }
    }
    all
}

#[tokio::test]
async fn the_circleci_command_globs_splits_by_timings_and_halts() {
    let repo = GitRepo::with_config(CONFIG);
    repo.commit(
        &[
            ("tests/a_test.py", "a"),
            ("tests/sub/b_test.py", "b"),
            ("tests/c.txt", "c"),
            ("tests/skip.rs", "not matched"),
            ("junit.xml", JUNIT),
        ],
        "tests",
    );
    let (inst, token) = setup(BackendKind::Sqlite, &repo).await;
    let server = inst.serve();
    let api = Api::new(&server, &token);

    let n = api.trigger().await;
    let build = api.finished(n).await;
    let out = all_output(&api, &build).await;
    assert_eq!(
        build["status"], "success",
        "the halt skips the failing step: {out}"
    );
    assert!(
        out.contains("glob:tests/a_test.py\nglob:tests/c.txt\nglob:tests/sub/b_test.py\n"),
        "{out}"
    );
    assert!(out.contains("node 0 of 1"), "{out}");
    // Sorted and dealt round-robin: a_test, c, b_test → node 1 gets c.
    assert!(
        out.contains("name1:tests/c.txt\n") && !out.contains("name1:tests/a_test.py"),
        "{out}"
    );
    // No earlier results yet: by name, and it says so.
    assert!(out.contains("no timings found"), "{out}");
    assert!(!out.contains("never"), "{out}");
    let steps: Vec<&str> = build["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert!(!steps.contains(&"never"), "{steps:?}");
    // v1.1's `bash_command` is the real runner's step's own command.
    let glob_step = build["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "glob and split")
        .unwrap();
    let command = glob_step["actions"][0]["bash_command"]
        .as_str()
        .unwrap_or_default();
    assert!(command.starts_with("circleci tests glob"), "{glob_step}");
    assert_eq!(build["steps"][0]["actions"][0]["bash_command"], Value::Null);

    // The second run splits by the first run's timings: a_test (10 s) alone on node 0.
    let n = api.trigger().await;
    let build = api.finished(n).await;
    let out = all_output(&api, &build).await;
    assert_eq!(build["status"], "success", "{out}");
    assert!(out.contains("time0:tests/a_test.py\n"), "{out}");
    assert!(
        !out.contains("time0:tests/c.txt") && !out.contains("time0:tests/sub"),
        "{out}"
    );
    assert!(!out.contains("no timings found"), "{out}");
}

const PARALLEL: &str = r#"version: 2.1
jobs:
  test:
    parallelism: 3
    steps:
      - checkout
      - run:
          name: split
          command: |
            echo "node $CIRCLE_NODE_INDEX of $CIRCLE_NODE_TOTAL"
            circleci tests glob "tests/*.py" | circleci tests split | sed 's/^/mine:/'
            mkdir -p out && echo "from node $CIRCLE_NODE_INDEX" > out/node.txt
      - store_artifacts: {path: out}
      - run:
          name: node 2 stops here
          command: if [ "$CIRCLE_NODE_INDEX" = 2 ]; then circleci-agent step halt; fi
      - run:
          name: node 1 fails
          command: test "$CIRCLE_NODE_INDEX" != 1
workflows:
  main:
    jobs: [test]
"#;

/// Each node's output: every step's output on that node, in order.
async fn node_output(api: &Api<'_>, build: &Value, node: u64) -> String {
    let mut all = String::new();
    for step in build["steps"].as_array().unwrap() {
        for action in step["actions"].as_array().unwrap() {
            if action["index"] != node {
                continue;
            }
            let url = action["output_url"].as_str().unwrap();
            let out = api.json(&url[url.find("/api/").unwrap()..]).await;
            for chunk in out.as_array().unwrap() {
                all.push_str(chunk["message"].as_str().unwrap_or_default());
            }
        }
    }
    all
}

#[tokio::test]
async fn parallel_nodes_split_the_tests_and_fail_the_job_together() {
    let repo = GitRepo::with_config(PARALLEL);
    let files = [
        "tests/a.py",
        "tests/b.py",
        "tests/c.py",
        "tests/d.py",
        "tests/e.py",
    ];
    repo.commit(&files.map(|f| (f, "x")), "tests");
    let (inst, token) = setup(BackendKind::Sqlite, &repo).await;
    let server = inst.serve();
    let api = Api::new(&server, &token);

    let n = api.trigger().await;
    let build = api.finished(n).await;
    assert_eq!(build["parallel"], 3, "{build}");
    assert_eq!(build["status"], "failed", "node 1 failed: {build}");
    let mut dealt: Vec<String> = Vec::new();
    for node in 0..3u64 {
        let out = node_output(&api, &build, node).await;
        assert!(
            out.contains(&format!("node {node} of 3")),
            "node {node}: {out}"
        );
        let mine: Vec<String> = out
            .lines()
            .filter_map(|l| l.strip_prefix("mine:"))
            .map(str::to_owned)
            .collect();
        assert!(!mine.is_empty(), "node {node} got some tests: {out}");
        dealt.extend(mine);
    }
    dealt.sort();
    assert_eq!(dealt, files, "every test once, across the nodes");

    // Each node's steps: node 2 halted before the last step, node 1 failed it.
    let last = build["steps"].as_array().unwrap().last().unwrap();
    assert_eq!(last["name"], "node 1 fails", "{build}");
    let ran: Vec<(u64, &str)> = last["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["index"].as_u64().unwrap(), a["status"].as_str().unwrap()))
        .collect();
    assert_eq!(ran, [(0, "success"), (1, "failed")], "{last}");

    let job = api
        .json(&format!("/api/v2/project/gh/acme/widget/job/{n}"))
        .await;
    assert_eq!(job["parallelism"], 3, "{job}");
    assert_eq!(
        job["parallel_runs"],
        serde_json::json!([
            {"index": 0, "status": "success"},
            {"index": 1, "status": "failed"},
            {"index": 2, "status": "success"}
        ])
    );
    // Every node stored its own `node.txt`.
    let artifacts = api
        .json(&format!("/api/v1.1/project/gh/acme/widget/{n}/artifacts"))
        .await;
    let mut nodes: Vec<u64> = artifacts
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["path"].as_str().unwrap().ends_with("node.txt"))
        .map(|a| a["node_index"].as_u64().unwrap())
        .collect();
    nodes.sort_unstable();
    assert_eq!(nodes, [0, 1, 2], "{artifacts}");
}
