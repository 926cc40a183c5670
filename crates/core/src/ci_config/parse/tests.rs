use super::*;
use crate::ci_config::{GitRef, MAX_LISTED, ParamValue};
use crate::ci_config::{RequiredStatus, Requirement, Step, When};
use proptest::prelude::*;
use std::time::Duration;

fn ctx() -> PipelineContext {
    PipelineContext {
        branch: Some("main".into()),
        revision: "abc123".into(),
        number: 3,
        ..Default::default()
    }
}

fn ok(text: &str) -> CiConfig {
    parse(text, &ctx()).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

fn errors(text: &str) -> String {
    parse(text, &ctx())
        .expect_err("should be refused")
        .to_string()
}

#[test]
fn a_full_config_parses() {
    let c = ok(r#"
version: 2.1
parameters:
  greeting: {type: string, default: hello}
  deploy: {type: boolean, default: false}
jobs:
  build:
    docker:
      - image: cimg/base:stable
    environment:
      FOO: bar
      N: 3
    working_directory: ~/project
    steps:
      - checkout
      - run: echo << pipeline.parameters.greeting >> on << pipeline.git.branch >> n<< pipeline.number >>
      - run:
          name: Test
          command: |
            make test
          environment: {MODE: ci}
          no_output_timeout: 10m
          when: always
      - store_artifacts: {path: out, destination: reports}
      - store_test_results: {path: results}
  deploy:
    steps: [{run: ./deploy.sh}]
workflows:
  main:
    jobs:
      - build
      - deploy:
          requires: [build]
          filters:
            branches:
              only: [main, /release-.*/]
              ignore: release-old
"#);
    assert_eq!(c.version, ConfigVersion::V2_1);
    let build = c.job("build").unwrap();
    assert_eq!(
        build.environment,
        vec![("FOO".into(), "bar".into()), ("N".into(), "3".into())]
    );
    assert_eq!(
        build.executor_notes,
        vec!["docker: cimg/base:stable".to_owned()]
    );
    assert_eq!(build.working_directory.as_deref(), Some("~/project"));
    assert_eq!(build.steps.len(), 5);
    assert_eq!(build.steps[0], Step::Checkout);
    let Step::Run(r) = &build.steps[1] else {
        panic!()
    };
    assert_eq!(r.command, "echo hello on main n3");
    let Step::Run(r) = &build.steps[2] else {
        panic!()
    };
    assert_eq!(
        (r.name.as_str(), r.when, r.no_output_timeout),
        ("Test", When::Always, Some(Duration::from_secs(600)))
    );
    assert_eq!(r.environment, vec![("MODE".into(), "ci".into())]);
    assert_eq!(
        build.steps[3],
        Step::StoreArtifacts {
            path: "out".into(),
            destination: Some("reports".into())
        }
    );
    let deploy = &c.workflows[0].jobs[1];
    assert_eq!(
        deploy.requires,
        vec![Requirement {
            job: "build".to_owned(),
            statuses: vec![RequiredStatus::Success]
        }]
    );
    let runs = |b| deploy.filters.runs_for(GitRef::Branch(b));
    assert!(runs("main"));
    assert!(runs("release-1.0"));
    assert!(!runs("release-old"));
    assert!(!runs("feature"));
    assert!(
        !deploy.filters.runs_for(GitRef::Tag("v1")),
        "no tag filter: no tag builds"
    );
}

#[test]
fn a_v2_config_without_workflows_runs_build() {
    let c = ok("version: 2\njobs:\n  build:\n    steps:\n      - run: make\n");
    assert_eq!(c.workflows.len(), 1);
    assert_eq!(c.workflows[0].jobs[0].job, "build");
    let Step::Run(r) = &c.jobs[0].steps[0] else {
        panic!()
    };
    assert_eq!(r.name, "make");
}

/// Job names are read as written, as mapping keys are: a job named `on`, `yes` or `1` (plain
/// scalars YAML 1.1 reads as a boolean or a number) can be listed and required by that name.
/// proptest found this one with a job named `on`.
#[test]
fn job_names_that_yaml_reads_as_booleans_or_numbers_are_names() {
    let c = ok(
        "version: 2.1\njobs:\n  on: {steps: [{run: a}]}\n  1: {steps: [{run: b}]}\n  yes: {steps: [{run: c}]}\nworkflows:\n  all:\n    jobs:\n      - on\n      - 1:\n          requires: [on]\n      - yes:\n          requires: 1\n",
    );
    let jobs = &c.workflows[0].jobs;
    let names: Vec<&str> = jobs.iter().map(|j| j.job.as_str()).collect();
    assert_eq!(names, ["on", "1", "yes"]);
    let requires: Vec<Vec<&str>> = jobs
        .iter()
        .map(|j| j.requires.iter().map(|r| r.job.as_str()).collect())
        .collect();
    assert_eq!(requires, [vec![], vec!["on"], vec!["1"]]);
}

#[test]
fn parameters_from_the_trigger_are_checked() {
    let text = "version: 2.1\nparameters:\n  n: {type: integer, default: 1}\njobs:\n  build:\n    steps: [{run: 'echo << pipeline.parameters.n >>'}]\n";
    let mut c = ctx();
    c.parameters.insert("n".into(), ParamValue::Int(42));
    let cfg = parse(text, &c).unwrap();
    let Step::Run(r) = &cfg.jobs[0].steps[0] else {
        panic!()
    };
    assert_eq!(r.command, "echo 42");
    c.parameters.insert("n".into(), ParamValue::Str("x".into()));
    assert!(
        parse(text, &c)
            .unwrap_err()
            .to_string()
            .contains("must be an integer")
    );
    c.parameters.clear();
    c.parameters.insert("other".into(), ParamValue::Int(1));
    assert!(
        parse(text, &c)
            .unwrap_err()
            .to_string()
            .contains("not declared")
    );
}

#[test]
fn unsupported_and_invalid_configs_are_named() {
    let cases: &[(&str, &str)] = &[
        ("", "empty"),
        ("a: [", "not valid YAML"),
        ("- 1\n- 2", "must be a mapping"),
        ("jobs: {}", "no version"),
        ("version: 3\njobs: {}", "version 3 is not supported"),
        (
            "version: 2.1\norbs: {node: circleci/node@5}\njobs: {build: {steps: [checkout]}}",
            "orb circleci/node@5 is not published in this circlet; publish it with `circlet admin orb publish circleci/node@X.Y.Z orb.yml`",
        ),
        (
            "version: 2\nbogus: 1\njobs: {build: {steps: [checkout]}}",
            "unknown top-level key `bogus`",
        ),
        (
            "version: 2\njobs: {build: {steps: [save_cache]}}",
            "job 'build', step 1: `key` is required",
        ),
        (
            "version: 2\njobs: {build: {steps: []}}",
            "non-empty list of `steps`",
        ),
        (
            "version: 2\njobs: {build: {steps: [{run: {name: x}}]}}",
            "`command` is required",
        ),
        (
            "version: 2\njobs: {build: {steps: [{run: {command: x, when: sometimes}}]}}",
            "on_success, on_fail or always",
        ),
        (
            "version: 2\njobs: {build: {steps: [{run: {command: x, no_output_timeout: soon}}]}}",
            "no_output_timeout",
        ),
        (
            "version: 2\njobs: {build: {parallelism: 0, steps: [checkout]}}",
            "parallelism",
        ),
        (
            "version: 2\njobs: {build: {environment: {1X: y}, steps: [checkout]}}",
            "not valid",
        ),
        (
            "version: 2\njobs: {test: {steps: [checkout]}}",
            "no job named `build`",
        ),
        (
            "version: 2\njobs: {a: {steps: [checkout]}}\nworkflows: {w: {jobs: [b]}}",
            "job 'b' is not defined",
        ),
        (
            "version: 2\njobs: {a: {steps: [checkout]}}\nworkflows: {w: {jobs: [{a: {requires: [z]}}]}}",
            "requires 'z'",
        ),
        (
            "version: 2\njobs: {a: {steps: [checkout]}, b: {steps: [checkout]}}\nworkflows: {w: {jobs: [{a: {requires: [b]}}, {b: {requires: [a]}}]}}",
            "cycle",
        ),
        (
            "version: 2\njobs: {a: {steps: [checkout]}}\nworkflows: {w: {jobs: [{a: {filters: {branches: {only: '/(/'}}}}]}}",
            "not a valid regular expression",
        ),
        (
            "version: 2.1\njobs: {build: {steps: [{run: 'echo << pipeline.nope >>'}]}}",
            "`<< pipeline.nope >>` is not a pipeline value",
        ),
        (
            "version: 2\nparameters: {x: {type: string}}\njobs: {build: {steps: [checkout]}}",
            "`parameters` needs `version: 2.1`",
        ),
    ];
    for (text, needle) in cases {
        let e = errors(text);
        assert!(
            e.contains(needle),
            "{text:?}\n  → {e}\n  (wanted {needle:?})"
        );
    }
}

/// The "billion laughs" of issue 11: `levels` anchors, each a list of ten aliases of the one
/// before (six levels left 2.3 GB resident, ten killed the server).
fn laughs(levels: usize) -> String {
    let mut text = String::from("version: 2.1\na0: &a0 [x,x,x,x,x,x,x,x,x,x]\n");
    for i in 1..levels {
        let aliases = vec![format!("*a{}", i - 1); 10].join(",");
        text.push_str(&format!("a{i}: &a{i} [{aliases}]\n"));
    }
    text + "jobs: {build: {steps: [checkout]}}\n"
}

#[test]
fn alias_bombs_end_in_a_config_error() {
    for levels in [6, 10] {
        let text = laughs(levels);
        assert!(text.len() < 1100, "{} bytes", text.len());
        assert_eq!(
            errors(&text),
            "config expands to more than 250000 nodes through its aliases (YAML anchors)",
            "{levels} levels"
        );
    }
}

/// Issue 11's 5,000 levels (a 10 KB config), each way YAML can nest on one line: each
/// overflowed a worker thread's stack and aborted the server.
#[test]
fn deep_nesting_ends_in_a_config_error() {
    for (kind, text) in [
        ("block sequences", format!("{}x\n", "- ".repeat(5_000))),
        (
            "flow sequences",
            format!("{}x{}\n", "[".repeat(5_000), "]".repeat(5_000)),
        ),
        (
            "flow mappings",
            format!("{}x{}\n", "{a: ".repeat(5_000), "}".repeat(5_000)),
        ),
    ] {
        assert_eq!(
            errors(&text),
            "config nests deeper than 64 levels (line 1)",
            "{kind}"
        );
    }
}

#[test]
fn a_long_parameter_used_many_times_ends_in_a_config_error() {
    // 200 KB of default, used 500 times: 100 MB of commands from a 210 KB config. Expansion
    // stops at the limit, before it has made it.
    let text = format!(
        "version: 2.1\nparameters: {{p: {{type: string, default: '{}'}}}}\njobs: {{build: {{steps: [{}]}}}}\n",
        "x".repeat(200_000),
        vec!["{run: '<< pipeline.parameters.p >>'}"; 500].join(","),
    );
    let e = errors(&text);
    assert!(
        e.starts_with("the config expands to more than 2000000 nodes or 16777216 bytes of text"),
        "{e}"
    );
}

#[test]
fn problems_past_a_screenful_are_counted_not_listed() {
    let steps = vec!["nope"; 1_000].join(",");
    let e = parse(
        &format!("version: 2\njobs: {{build: {{steps: [{steps}]}}}}"),
        &ctx(),
    )
    .unwrap_err();
    assert_eq!(e.0.len(), MAX_LISTED + 1);
    assert_eq!(e.0[MAX_LISTED], "and 980 more problems");
    let long = "y".repeat(10_000);
    let e = errors(&format!("version: 2\njobs: {{build: {{steps: [{long}]}}}}"));
    assert!(e.len() < 400 && e.contains("yyy…"), "{e}");
}

#[test]
fn thousands_of_chained_jobs_parse_and_plan_quickly() {
    // Each job requires the two before it: checking for cycles was cubic, and planning walked
    // every path of requirements recursively (exponential, and a stack frame per job).
    let chain = |n: usize| {
        let mut text = String::from("version: 2\njobs:\n");
        for i in 0..n {
            text.push_str(&format!("  j{i}: {{steps: [checkout]}}\n"));
        }
        text.push_str("workflows:\n  w:\n    jobs:\n");
        for i in (0..n).rev() {
            let requires: Vec<String> = (i.saturating_sub(2)..i).map(|r| format!("j{r}")).collect();
            text.push_str(&format!(
                "      - j{i}: {{requires: [{}]}}\n",
                requires.join(",")
            ));
        }
        text
    };
    let started = std::time::Instant::now();
    // 5,000 jobs parse, and planning them ends quickly in the pipeline's job limit.
    let config = ok(&chain(5_000));
    let refused = super::super::plan(
        &config,
        GitRef::Branch("main"),
        super::super::Selection::Workflows,
    )
    .expect_err("past the job limit");
    assert!(refused.contains("5000 jobs"), "{refused}");
    // As many as a pipeline may have are planned, in config order.
    let n = super::super::MAX_JOBS_PER_PIPELINE;
    let config = ok(&chain(n));
    let planned = super::super::plan(
        &config,
        GitRef::Branch("main"),
        super::super::Selection::Workflows,
    )
    .expect("plans");
    assert_eq!(planned[0].jobs.len(), n);
    assert_eq!(
        planned[0].jobs[0].job.name,
        format!("j{}", n - 1),
        "config order"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn durations_parse() {
    assert_eq!(parse_duration("90"), Some(Duration::from_secs(90)));
    assert_eq!(parse_duration("1h30m"), Some(Duration::from_secs(5400)));
    assert_eq!(parse_duration("10x"), None);
    assert_eq!(parse_duration("m"), None);
}

/// A generated config that is valid by construction, rendered as YAML.
fn arb_config() -> impl Strategy<Value = (Vec<(String, Vec<String>)>, String)> {
    let name = "[a-z][a-z0-9_-]{0,8}";
    let command = "[a-zA-Z0-9 ._=-]{1,30}";
    proptest::collection::btree_map(name, proptest::collection::vec(command, 1..4), 1..5).prop_map(
        |jobs| {
            let jobs: Vec<(String, Vec<String>)> = jobs.into_iter().collect();
            let mut y = String::from("version: 2.1\njobs:\n");
            for (n, cmds) in &jobs {
                y.push_str(&format!("  {n}:\n    steps:\n      - checkout\n"));
                for c in cmds {
                    y.push_str(&format!("      - run: {}\n", serde_quote(c)));
                }
            }
            y.push_str("workflows:\n  all:\n    jobs:\n");
            for (i, (n, _)) in jobs.iter().enumerate() {
                if i == 0 {
                    y.push_str(&format!("      - {n}\n"));
                } else {
                    y.push_str(&format!(
                        "      - {n}:\n          requires: [{}]\n",
                        jobs[i - 1].0
                    ));
                }
            }
            (jobs, y)
        },
    )
}

fn serde_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

proptest! {
    #[test]
    fn generated_configs_parse_to_what_was_written((jobs, yaml) in arb_config()) {
        let c = parse(&yaml, &ctx()).map_err(|e| TestCaseError::fail(format!("{e}\n{yaml}")))?;
        prop_assert_eq!(c.jobs.len(), jobs.len());
        for (job, (name, cmds)) in c.jobs.iter().zip(&jobs) {
            prop_assert_eq!(&job.name, name);
            let run: Vec<String> = job.steps.iter().filter_map(|s| match s { Step::Run(r) => Some(r.command.clone()), _ => None }).collect();
            prop_assert_eq!(&run, cmds);
        }
        prop_assert_eq!(c.workflows[0].jobs.len(), jobs.len());
    }

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
        let _ = parse(&text, &ctx());
    }

    #[test]
    fn yaml_shaped_noise_never_panics(text in "(version: (2|2\\.1)\n)?(jobs|workflows|steps|run|  |- |: |\\{|\\}|\\[|\\]|<<|>>|pipeline\\.|[a-z]{1,4}|\n){0,60}") {
        let _ = parse(&text, &ctx());
    }
}
