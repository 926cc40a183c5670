//! Issue 17 item 15: CircleCI's built-in variables in a real job. The real runner (sandboxed)
//! runs jobs that print their environment; each variable is checked against what the APIs say
//! of the same pipeline, workflow and job: ids from API v2, numbers and URLs from v1.1, the
//! previous build on the branch from the branch's build list, a tag pipeline's `CIRCLE_TAG`.

use super::runner_storage::{finished, jobs_of, num, run_of};
use super::{Fx, SLUG};
use crate::app::TestApp;
use circlet_testkit::both_backends;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// Two jobs printing their environment (and whether the task data directory exists), on
/// branches and tags alike.
const PRINT_ENV: &str = r#"version: 2.1
jobs:
  build:
    steps:
      - run:
          name: environment
          command: env | sort
      - run:
          name: task data
          command: test -d "$CIRCLE_INTERNAL_TASK_DATA" && test -w "$CIRCLE_INTERNAL_TASK_DATA" && echo TASK_DATA_OK
  after:
    parallelism: 2
    steps:
      - run:
          name: environment
          command: env | sort
workflows:
  main:
    jobs:
      - build:
          filters: {tags: {only: /.*/}}
      - after:
          requires: [build]
          filters: {tags: {only: /.*/}}
"#;

/// The `NAME=value` lines of a job's "environment" step.
fn env_in(output: &str) -> BTreeMap<String, String> {
    let step = output
        .split("== environment ==\n")
        .nth(1)
        .unwrap_or_else(|| panic!("no environment step: {output}"));
    let step = step.split("\n== ").next().unwrap();
    step.lines()
        .filter_map(|l| l.split_once('='))
        .filter(|(k, _)| !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// The job `n`'s printed environment, once it ended successfully, and its whole output.
async fn env_of(fx: &Fx, n: i64) -> (BTreeMap<String, String>, String) {
    let (status, out) = run_of(fx, n).await;
    assert_eq!(status, "success", "{out}");
    (env_in(&out), out)
}

/// Asserts `env` holds `name` = `want`.
fn has(env: &BTreeMap<String, String>, name: &str, want: &str) {
    assert_eq!(
        env.get(name).map(String::as_str),
        Some(want),
        "{name} in {env:#?}"
    );
}

/// A string field of a JSON reply.
fn text<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no string at {pointer} in {v}"))
}

both_backends! {
    setup = TestApp::spawn;

    async fn job_env_every_meaningful_builtin_variable_matches_the_api(app) {
        let fx = Fx::new(app).await;
        let first = fx.repo.commit(&[(".circleci/config.yml", PRINT_ENV)], "print the environment");
        let _runner = fx.app.start_runner().await;
        let project = fx.get(&format!("/api/v2/project/{SLUG}")).await.body;

        // 1. A branch pipeline: ids, numbers and URLs as the APIs report them.
        let pipeline = fx.v2_trigger(&json!({"branch": "main"})).await;
        let pipeline_id = text(&pipeline, "/id");
        let jobs = jobs_of(&fx, &pipeline).await;
        let (build, after) = (num(&jobs, "build"), num(&jobs, "after"));
        let (env, out) = env_of(&fx, build).await;
        assert!(out.contains("TASK_DATA_OK"), "{out}");
        finished(&fx, after).await;

        let p = fx.get(&format!("/api/v2/pipeline/{pipeline_id}")).await.body;
        let workflows = fx.get(&format!("/api/v2/pipeline/{pipeline_id}/workflow")).await.body;
        let workflow_id = text(&workflows, "/items/0/id");
        let wf_jobs = fx.get(&format!("/api/v2/workflow/{workflow_id}/job")).await.body;
        let job_id = wf_jobs["items"].as_array().unwrap().iter()
            .find(|j| j["name"] == "build").map(|j| text(j, "/id")).unwrap();
        let v1 = fx.build(build).await;
        let orgs = fx.get("/api/v2/me/collaborations").await.body;
        let org_id = orgs.as_array().unwrap().iter()
            .find(|o| o["name"] == "acme").map(|o| text(o, "/id")).expect("the organization");

        for (name, want) in [
            ("CI", "true"),
            ("CIRCLECI", "true"),
            ("CIRCLE_BRANCH", text(&p, "/vcs/branch")),
            ("CIRCLE_SHA1", text(&p, "/vcs/revision")),
            ("CIRCLE_SHA1", first.as_str()),
            ("CIRCLE_BUILD_NUM", &build.to_string()),
            ("CIRCLE_BUILD_URL", text(&v1, "/build_url")),
            ("CIRCLE_JOB", "build"),
            ("CIRCLE_NODE_INDEX", "0"),
            ("CIRCLE_NODE_TOTAL", "1"),
            ("CIRCLE_PROJECT_USERNAME", text(&v1, "/username")),
            ("CIRCLE_PROJECT_REPONAME", text(&v1, "/reponame")),
            ("CIRCLE_REPOSITORY_URL", text(&project, "/vcs_info/vcs_url")),
            ("CIRCLE_PROJECT_ID", text(&project, "/id")),
            ("CIRCLE_ORGANIZATION_ID", org_id),
            ("CIRCLE_USERNAME", text(&p, "/trigger/actor/login")),
            ("CIRCLE_USERNAME", "ada"),
            ("CIRCLE_PIPELINE_ID", pipeline_id),
            ("CIRCLE_PIPELINE_NUMBER", &p["number"].to_string()),
            ("CIRCLE_WORKFLOW_ID", workflow_id),
            ("CIRCLE_WORKFLOW_JOB_ID", job_id),
            ("CIRCLE_WORKFLOW_WORKSPACE_ID", text(&v1, "/workflows/workspace_id")),
            ("CIRCLE_WORKFLOW_WORKSPACE_ID", workflow_id),
        ] {
            has(&env, name, want);
        }
        let home = env.get("HOME").expect("HOME");
        assert!(home.starts_with('/'), "{home}");
        has(&env, "CIRCLE_WORKING_DIRECTORY", &format!("{home}/project"));
        has(&env, "CIRCLE_INTERNAL_TASK_DATA", &format!("{home}/.circlet/task-data"));
        // The first job on its branch has no previous one, nor anything to compare with; a
        // branch build has no tag, and nothing here is a pull request.
        for absent in ["CIRCLE_PREVIOUS_BUILD_NUM", "CIRCLE_COMPARE_URL", "CIRCLE_TAG", "CIRCLE_PULL_REQUEST", "CIRCLE_PR_NUMBER"] {
            assert!(!env.contains_key(absent), "{absent} in {env:#?}");
        }
        assert!(!env.keys().any(|k| k.starts_with("CIRCLET_")), "no CIRCLET_ variable reaches a job: {env:#?}");

        // A parallel job's (first) node: its job's name and size, the same workflow.
        let (node_env, _) = env_of(&fx, after).await;
        has(&node_env, "CIRCLE_JOB", "after");
        has(&node_env, "CIRCLE_NODE_TOTAL", "2");
        has(&node_env, "CIRCLE_WORKFLOW_ID", workflow_id);
        has(&node_env, "CIRCLE_WORKFLOW_WORKSPACE_ID", workflow_id);
        // Within the workflow, `after` comes after `build` on the branch.
        has(&node_env, "CIRCLE_PREVIOUS_BUILD_NUM", &build.to_string());

        // 2. The next pipeline on the branch: the previous build is the branch's latest before
        // it, as the branch's build list says, and the compare URL spans the two revisions.
        let second = fx.repo.commit(&[("README", "two\n")], "second");
        let pipeline2 = fx.v2_trigger(&json!({"branch": "main"})).await;
        let jobs2 = jobs_of(&fx, &pipeline2).await;
        let build2 = num(&jobs2, "build");
        let (env2, _) = env_of(&fx, build2).await;
        let list = fx.get(&format!("/api/v1.1/project/{SLUG}/tree/main?limit=100")).await.body;
        let previous = list.as_array().unwrap().iter()
            .filter_map(|b| b["build_num"].as_i64())
            .filter(|n| *n < build2)
            .max()
            .expect("an earlier build on main");
        let previous_build = fx.build(previous).await;
        has(&env2, "CIRCLE_PREVIOUS_BUILD_NUM", &previous.to_string());
        has(&env2, "CIRCLE_COMPARE_URL", &format!(
            "{}/compare/{}...{second}",
            text(&previous_build, "/vcs_url"),
            text(&previous_build, "/vcs_revision"),
        ));
        has(&env2, "CIRCLE_SHA1", &second);
        assert_ne!(env2["CIRCLE_WORKFLOW_ID"], workflow_id, "a new workflow");
        assert_ne!(env2["CIRCLE_PIPELINE_ID"], pipeline_id, "a new pipeline");
        has(&env2, "CIRCLE_PIPELINE_NUMBER", &(p["number"].as_i64().unwrap() + 1).to_string());

        // 3. A tag pipeline: CIRCLE_TAG, and no branch to have a previous build on.
        fx.repo.tag("v1.0");
        let tagged = fx.v2_trigger(&json!({"tag": "v1.0"})).await;
        let tag_jobs = jobs_of(&fx, &tagged).await;
        let (tag_env, _) = env_of(&fx, num(&tag_jobs, "build")).await;
        let tp = fx.get(&format!("/api/v2/pipeline/{}", text(&tagged, "/id"))).await.body;
        has(&tag_env, "CIRCLE_TAG", text(&tp, "/vcs/tag"));
        has(&tag_env, "CIRCLE_TAG", "v1.0");
        has(&tag_env, "CIRCLE_SHA1", &second);
        for absent in ["CIRCLE_BRANCH", "CIRCLE_PREVIOUS_BUILD_NUM", "CIRCLE_COMPARE_URL"] {
            assert!(!tag_env.contains_key(absent), "{absent} in {tag_env:#?}");
        }
    }
}
