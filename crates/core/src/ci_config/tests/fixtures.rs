//! The config-language fixtures in `tests/config_fixtures/`: each `NAME.yml` must compile, and
//! expand to `NAME.processed.yml` (compared as YAML values: key order and quoting aside).

use crate::ci_config::{MemoryOrbs, Node, PipelineContext, Value, compile, load};
use std::path::PathBuf;

fn ctx() -> PipelineContext {
    PipelineContext {
        id: "00000000-0000-4000-8000-000000000007".into(),
        branch: Some("main".into()),
        revision: "abc123".into(),
        number: 7,
        project_git_url: "https://github.com/acme/widget".into(),
        project_type: "github".into(),
        project_slug: "gh/acme/widget".into(),
        trigger_source: "api".into(),
        ..Default::default()
    }
}

/// A YAML value with mappings compared whatever their order, scalars by their text.
fn canonical(node: &Node) -> serde_json::Value {
    match &node.value {
        Value::Scalar(s) => match s.kind {
            crate::ci_config::Kind::Null => serde_json::Value::Null,
            crate::ci_config::Kind::Bool(b) => serde_json::Value::Bool(b),
            crate::ci_config::Kind::Int(i) => serde_json::Value::from(i),
            _ => serde_json::Value::String(s.text.clone()),
        },
        Value::Seq(items) => serde_json::Value::Array(items.iter().map(canonical).collect()),
        Value::Map(m) => serde_json::Value::Object(
            m.iter()
                .map(|e| (e.key.clone(), canonical(&e.value)))
                .collect(),
        ),
    }
}

fn yaml(text: &str) -> serde_json::Value {
    let docs = load(text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    canonical(&docs[0].root)
}

#[test]
fn every_fixture_expands_to_its_processed_form() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/config_fixtures");
    let mut seen = 0;
    let mut names: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.extension().is_some_and(|x| x == "yml")
                && !p.to_string_lossy().ends_with(".processed.yml")
        })
        .collect();
    names.sort();
    for input in names {
        let name = input.file_stem().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&input).unwrap();
        let expected = std::fs::read_to_string(dir.join(format!("{name}.processed.yml")))
            .unwrap_or_else(|_| panic!("{name} has no {name}.processed.yml"));
        let compiled = compile(&text, &ctx(), &MemoryOrbs::default())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            yaml(&compiled.processed),
            yaml(&expected),
            "{name}: got\n{}",
            compiled.processed
        );
        seen += 1;
    }
    assert!(seen >= 10, "only {seen} fixtures");
}

#[test]
fn every_step_and_job_key_is_read_into_the_plan() {
    use crate::ci_config::{RunStep, Step, When};
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/config_fixtures");
    let text = std::fs::read_to_string(dir.join("steps_and_job_keys.yml")).unwrap();
    let c = compile(&text, &ctx(), &MemoryOrbs::default())
        .unwrap()
        .config;
    let job = c.job("everything").unwrap();
    assert_eq!(
        (
            job.parallelism,
            job.resource_class.as_deref(),
            job.shell.as_deref()
        ),
        (4, Some("large"), Some("/bin/bash -eo pipefail"))
    );
    assert_eq!(
        job.environment,
        [
            ("A".to_owned(), "1".to_owned()),
            ("B".to_owned(), "two".to_owned())
        ]
    );
    let key = "v1-deps-{{ checksum \"lock\" }}".to_owned();
    assert_eq!(
        job.steps,
        [
            Step::CheckoutInto {
                path: "~/src".into()
            },
            Step::RestoreCache {
                keys: vec![key.clone(), "v1-deps-".into()],
                name: None
            },
            Step::Run(RunStep {
                name: "Build".into(),
                command: "make".into(),
                environment: vec![("MODE".into(), "ci".into())],
                working_directory: Some("~/src".into()),
                no_output_timeout: Some(std::time::Duration::from_secs(1200)),
                when: When::Always,
                shell: Some("/bin/sh".into()),
                background: true,
            }),
            Step::SaveCache {
                key,
                paths: vec!["~/.cache".into()],
                name: None,
                when: When::OnSuccess
            },
            Step::PersistToWorkspace {
                root: ".".into(),
                paths: vec!["dist".into()]
            },
            Step::AttachWorkspace {
                at: "/tmp/ws".into()
            },
            Step::AddSshKeys {
                fingerprints: vec!["SO:ME:FI:NG:ER:PR:IN:T".into()]
            },
            Step::SetupRemoteDocker {
                version: Some("20.10.24".into())
            },
            Step::StoreArtifacts {
                path: "dist".into(),
                destination: Some("build".into())
            },
            Step::StoreTestResults {
                path: "results".into()
            },
            Step::Run(RunStep {
                name: "./deploy.sh".into(),
                command: "./deploy.sh".into(),
                environment: vec![],
                working_directory: None,
                no_output_timeout: None,
                when: When::OnSuccess,
                shell: None,
                background: false,
            }),
        ]
    );
}

#[test]
fn workflow_settings_are_carried_to_the_plan() {
    use crate::ci_config::{GitRef, RequiredStatus, Selection, plan};
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/config_fixtures");
    let text = std::fs::read_to_string(dir.join("workflow_settings.yml")).unwrap();
    let c = compile(&text, &ctx(), &MemoryOrbs::default())
        .unwrap()
        .config;
    let on_tag = plan(&c, GitRef::Tag("v1.0"), Selection::Workflows).unwrap();
    assert_eq!(
        on_tag.len(),
        1,
        "the scheduled workflow does not run on a push"
    );
    let jobs: Vec<(&str, bool, Vec<&str>)> = on_tag[0]
        .jobs
        .iter()
        .map(|j| {
            (
                j.job.name.as_str(),
                j.approval,
                j.context.iter().map(String::as_str).collect(),
            )
        })
        .collect();
    assert_eq!(
        jobs,
        [
            ("build", false, vec![]),
            ("hold", true, vec![]),
            ("deploy", false, vec!["aws", "slack"])
        ],
        "cleanup has no tag filter"
    );
    let on_main = plan(&c, GitRef::Branch("main"), Selection::Workflows).unwrap();
    // Only `build` and `cleanup` run on branches, and cleanup requires deploy: build alone.
    let names: Vec<&str> = on_main[0]
        .jobs
        .iter()
        .map(|j| j.job.name.as_str())
        .collect();
    assert_eq!(names, ["build"]);
    let cleanup = &c.workflows[0].jobs[3];
    assert_eq!(
        cleanup.requires[0].statuses,
        [RequiredStatus::Success, RequiredStatus::Failed]
    );
    assert_eq!(cleanup.context, ["aws"]);
    assert_eq!(c.workflows[1].schedules[0].cron, "0 4 * * 1-5");
}

#[test]
fn published_orbs_import_published_orbs_and_resolve_their_ranges() {
    use crate::ci_config::OrbVersion;
    let mut orbs = MemoryOrbs::default();
    // `acme/base` 1.0.0 and 1.4.2; `acme/tools` imports `acme/base@1` and uses its command and
    // executor in its own job.
    orbs.publish(
        "acme/base",
        OrbVersion(1, 0, 0),
        "version: 2.1\ncommands:\n  hello: {steps: [{run: echo old}]}\nexecutors:\n  small: {docker: [{image: 'cimg/base:1.0'}]}\n",
    );
    orbs.publish(
        "acme/base",
        OrbVersion(1, 4, 2),
        "version: 2.1\ncommands:\n  hello:\n    parameters: {to: {type: string, default: world}}\n    steps: [{run: echo hello << parameters.to >>}]\nexecutors:\n  small: {docker: [{image: 'cimg/base:1.4'}]}\n",
    );
    orbs.publish(
        "acme/tools",
        OrbVersion(2, 0, 0),
        "version: 2.1\norbs:\n  base: acme/base@1\njobs:\n  greet:\n    executor: base/small\n    steps: [checkout, {base/hello: {to: orbs}}]\n",
    );
    let config = "version: 2.1\norbs:\n  tools: acme/tools@volatile\nworkflows:\n  w:\n    jobs: [tools/greet]\n";
    let c = compile(config, &ctx(), &orbs).unwrap();
    let expected = "version: 2\njobs:\n  tools/greet:\n    docker: [{image: 'cimg/base:1.4'}]\n    steps: [checkout, {run: echo hello orbs}]\nworkflows:\n  version: 2\n  w:\n    jobs: [tools/greet]\n";
    assert_eq!(yaml(&c.processed), yaml(expected), "{}", c.processed);
    // An orb importing itself is one problem, not a loop.
    let mut looped = MemoryOrbs::default();
    looped.publish(
        "acme/loop",
        OrbVersion(1, 0, 0),
        "version: 2.1\norbs:\n  me: acme/loop@1.0.0\n",
    );
    let e = compile("version: 2.1\norbs:\n  l: acme/loop@1\njobs:\n  b: {steps: [checkout]}\nworkflows:\n  w: {jobs: [b]}\n", &ctx(), &looped)
        .unwrap_err();
    assert_eq!(e.0.len(), 1, "{e}");
    assert!(e.0[0].contains("orb acme/loop@1.0.0 imports itself"), "{e}");
}
