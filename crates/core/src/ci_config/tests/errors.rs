//! What a config's author reads when something is wrong: each problem once, where it is, in
//! words, and nothing that only follows from another problem.

use crate::ci_config::{
    ConfigErrors, MAX_LISTED, MemoryOrbs, OrbVersion, PipelineContext, compile,
};

fn errors(text: &str) -> Vec<String> {
    errors_with(text, &MemoryOrbs::default())
}

fn errors_with(text: &str, orbs: &MemoryOrbs) -> Vec<String> {
    match compile(text, &PipelineContext::default(), orbs) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(ConfigErrors(e)) => e,
    }
}

#[test]
fn a_misnamed_job_is_one_problem_not_a_cycle() {
    let e = errors(
        "version: 2.1\njobs:\n  build: {docker: [{image: x}], steps: [checkout]}\n  test: {docker: [{image: x}], steps: [checkout]}\nworkflows:\n  w:\n    jobs:\n      - biuld\n      - test: {requires: [build]}\n",
    );
    assert_eq!(e.len(), 2, "{e:?}");
    assert!(e[0].starts_with("workflow 'w', job 'biuld': job 'biuld' is not defined under `jobs` or in an orb (defined: build, test)"), "{e:?}");
    assert!(e[0].ends_with("(line 8, column 9)"), "{e:?}");
    assert!(
        e[1].contains("job 'test' requires 'build', which is not a job of this workflow"),
        "{e:?}"
    );
    assert!(!e.iter().any(|m| m.contains("cycle")), "{e:?}");
}

#[test]
fn an_orb_not_published_is_named_once_with_how_to_publish_it() {
    let text = "version: 2.1\norbs:\n  node: circleci/node@5.1\njobs:\n  build:\n    executor: node/default\n    steps: [node/install-packages, {node/run: {script: x}}]\nworkflows:\n  w:\n    jobs: [build, node/test]\n";
    let e = errors(text);
    assert_eq!(
        e,
        [
            "orb circleci/node@5.1 is not published in this circlet; publish it with `circlet admin orb publish circleci/node@X.Y.Z orb.yml` (orb.yml: the orb's packed YAML, as `circleci orb pack` makes it) (line 3, column 9)"
        ]
    );
    // Published, the same config compiles; a version outside the range is not picked.
    let mut orbs = MemoryOrbs::default();
    let orb = "version: 2.1\nexecutors:\n  default:\n    docker: [{image: cimg/node:lts}]\ncommands:\n  install-packages:\n    steps: [{run: npm ci}]\n  run:\n    parameters: {script: {type: string}}\n    steps: [{run: npm run << parameters.script >>}]\njobs:\n  test:\n    executor: default\n    steps: [checkout, install-packages, {run: npm test}]\n";
    orbs.publish("circleci/node", OrbVersion(5, 1, 3), orb);
    orbs.publish(
        "circleci/node",
        OrbVersion(5, 2, 0),
        "version: 2.1\nbroken: [",
    );
    let c = compile(text, &PipelineContext::default(), &orbs).unwrap();
    assert!(c.processed.contains("npm run x"), "{}", c.processed);
    assert!(c.config.job("node/test").is_some(), "{:?}", c.config.jobs);
}

#[test]
fn parameters_are_checked_by_name_and_type() {
    let base = "version: 2.1\njobs:\n  test:\n    parameters:\n      n: {type: integer}\n      mode: {type: enum, enum: [fast, full], default: fast}\n    docker: [{image: x}]\n    steps: [{run: 'echo << parameters.n >> << parameters.mode >>'}]\nworkflows:\n  w:\n    jobs:\n";
    let e = errors(&format!("{base}      - test: {{n: 1, mdoe: full}}\n"));
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].contains("job 'test' has no parameter 'mdoe' (its parameters are n, mode)"),
        "{e:?}"
    );
    let e = errors(&format!("{base}      - test: {{mode: full}}\n"));
    assert!(
        e[0].contains("job 'test' needs a value for its parameter 'n' (it has no default)"),
        "{e:?}"
    );
    let e = errors(&format!("{base}      - test: {{n: many, mode: slow}}\n"));
    assert_eq!(e.len(), 2, "{e:?}");
    assert!(
        e[0].contains("parameter 'n' is given 'many', but it must be an integer"),
        "{e:?}"
    );
    assert!(
        e[1].contains("parameter 'mode' is given 'slow', but it must be one of: fast, full"),
        "{e:?}"
    );
}

#[test]
fn recursive_commands_end_in_a_problem() {
    let e = errors(
        "version: 2.1\ncommands:\n  a: {steps: [b]}\n  b: {steps: [a]}\njobs:\n  build: {docker: [{image: x}], steps: [a]}\nworkflows:\n  w: {jobs: [build]}\n",
    );
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].contains("command 'a' invokes itself (command 'a' → command 'b' → command 'a')"),
        "{e:?}"
    );
}

#[test]
fn commands_that_multiply_end_at_the_expansion_bound() {
    // Each command runs the one below twice: 2^30 steps from a 2 KB config.
    let mut text = String::from("version: 2.1\ncommands:\n  c0: {steps: [{run: 'echo x'}]}\n");
    for i in 1..=30 {
        text.push_str(&format!("  c{i}: {{steps: [c{j}, c{j}]}}\n", j = i - 1));
    }
    text.push_str(
        "jobs:\n  build: {docker: [{image: x}], steps: [c30]}\nworkflows:\n  w: {jobs: [build]}\n",
    );
    let started = std::time::Instant::now();
    let e = errors(&text);
    assert!(e[0].starts_with("the config expands to more than"), "{e:?}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn a_config_with_many_mistakes_gets_a_screenful() {
    let steps: String = (0..200).map(|i| format!("      - nope{i}\n")).collect();
    let e = errors(&format!(
        "version: 2.1\njobs:\n  build:\n    docker: [{{image: x}}]\n    steps:\n{steps}workflows:\n  w: {{jobs: [build]}}\n"
    ));
    assert_eq!(e.len(), MAX_LISTED + 1);
    assert_eq!(e[MAX_LISTED], "and 180 more problems");
}

#[test]
fn yaml_mistakes_read_as_sentences_with_their_place() {
    let e = errors(
        "version: 2.1\njobs:\n  build: {docker: [{image: x}], steps: [checkout]}\n  build: {steps: []}\n",
    );
    assert_eq!(
        e,
        ["config is not valid YAML: key 'build' appears twice in one mapping (line 4, column 3)"]
    );
}

#[test]
fn a_long_pattern_repeated_by_a_matrix_or_commands_is_compiled_once() {
    // A 30 KB regular expression, as a branch filter of a 300-job matrix and as the `matches`
    // of a command run 128 times: compiled each time, it held a core for seconds (over 8 s in a
    // debug build); compiled once, it takes a fraction of one.
    let alternatives: Vec<String> = (0..3000).map(|i| format!("b{i}x")).collect();
    let pattern = alternatives.join("|");
    let values: Vec<String> = (0..300).map(|i| format!("v{i}")).collect();
    let mut text = format!(
        "version: 2.1\ncommands:\n  c0:\n    steps:\n      - when:\n          condition: {{matches: {{pattern: '{pattern}', value: b7x}}}}\n          steps: [{{run: echo matched}}]\n"
    );
    for i in 1..=7 {
        text.push_str(&format!("  c{i}: {{steps: [c{j}, c{j}]}}\n", j = i - 1));
    }
    text.push_str(&format!(
        "jobs:\n  b: {{docker: [{{image: x}}], steps: [c7]}}\n  t:\n    parameters: {{p: {{type: string}}}}\n    docker: [{{image: x}}]\n    steps: [checkout]\nworkflows:\n  w:\n    jobs:\n      - b\n      - t:\n          filters: {{branches: {{only: '/{pattern}/'}}}}\n          matrix: {{parameters: {{p: [{}]}}}}\n",
        values.join(", ")
    ));
    let started = std::time::Instant::now();
    let c = compile(&text, &PipelineContext::default(), &MemoryOrbs::default()).unwrap();
    let elapsed = started.elapsed();
    assert_eq!(c.config.jobs.len(), 301);
    assert_eq!(
        c.config.job("b").unwrap().steps.len(),
        128,
        "every `matches` held"
    );
    assert!(
        elapsed < std::time::Duration::from_secs(3),
        "{elapsed:?} for {} bytes",
        text.len()
    );
}

#[test]
fn values_passed_down_through_commands_cannot_nest_past_the_depth_bound() {
    // Each command wraps the steps it was given 55 lists deeper and passes them on, 31 times:
    // a 7 KB config made a 1,700-level tree, and walking it overflowed the 2 MiB stack of the
    // thread configs compile on (the process aborted).
    let open = "[".repeat(55);
    let close = "]".repeat(55);
    let mut text = String::from(
        "version: 2.1\ncommands:\n  c0:\n    parameters: {body: {type: steps}}\n    steps: [<< parameters.body >>]\n",
    );
    for i in 1..=31 {
        text.push_str(&format!(
            "  c{i}:\n    parameters: {{body: {{type: steps}}}}\n    steps:\n      - c{j}: {{body: [{open}<< parameters.body >>{close}]}}\n",
            j = i - 1
        ));
    }
    text.push_str("jobs:\n  b: {docker: [{image: x}], steps: [{c31: {body: [{run: x}]}}]}\nworkflows:\n  w: {jobs: [b]}\n");
    let outcome = std::thread::Builder::new()
        .stack_size(2 * 1024 * 1024)
        .spawn(move || errors(&text))
        .unwrap()
        .join()
        .expect("compiling ends without overflowing its stack");
    assert!(
        outcome
            .iter()
            .any(|m| m
                .contains("the values passed down through parameters nest deeper than 64 levels")),
        "{outcome:?}"
    );
}
