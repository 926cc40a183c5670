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
async fn all_output(api: &Api<'_>, build: &Value) -> String {
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
