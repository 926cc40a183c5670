//! How long compiling a config takes (issue 13): the largest real config of the corpus and a
//! synthetic one of about 1 MB (many jobs with parameters, commands, executors and workflows).
//! Prints the median of many runs; targets: under 5 ms and under 100 ms in a release build.
//!
//!     cargo bench -p circlet-core --bench compile

use circlet_core::ci_config::{
    GitRef, MAX_CONFIG_BYTES, NoOrbs, PipelineContext, Selection, compile, load, plan,
};
use std::time::{Duration, Instant};

fn synthetic(target: usize) -> String {
    let mut text = String::from(
        "version: 2.1\nexecutors:\n  base:\n    parameters: {tag: {type: string, default: stable}}\n    docker: [{image: 'cimg/base:<< parameters.tag >>'}]\n    environment: {CI: 'true'}\ncommands:\n",
    );
    for c in 0..50 {
        text.push_str(&format!(
            "  c{c}:\n    parameters:\n      what: {{type: string, default: x}}\n      fast: {{type: boolean, default: false}}\n    steps:\n      - run:\n          name: step {c} << parameters.what >>\n          command: |\n            echo command {c} for << parameters.what >>\n            test -n \"$CI\" && echo ok\n      - when:\n          condition: << parameters.fast >>\n          steps: [{{run: echo fast}}]\n"
        ));
    }
    text.push_str("jobs:\n");
    let mut jobs = 0;
    let mut workflows = String::from("workflows:\n");
    while text.len() + workflows.len() < target - 2_000 {
        let j = jobs;
        text.push_str(&format!(
            "  j{j}:\n    parameters:\n      n: {{type: integer, default: {j}}}\n      tag: {{type: string, default: stable}}\n    executor: {{name: base, tag: << parameters.tag >>}}\n    environment:\n      JOB: j{j}\n      N: << parameters.n >>\n    steps:\n      - checkout\n      - c{c}: {{what: job-{j}, fast: true}}\n      - run:\n          name: build {j}\n          command: |\n            make build N=<< parameters.n >>\n            make test N=<< parameters.n >> # {pad}\n      - store_test_results: {{path: results}}\n",
            c = j % 50,
            pad = "x".repeat(120)
        ));
        if j % 50 == 0 {
            workflows.push_str(&format!("  w{}:\n    jobs:\n", j / 50));
        }
        if j % 50 == 0 {
            workflows.push_str(&format!("      - j{j}\n"));
        } else {
            workflows.push_str(&format!(
                "      - j{j}: {{requires: [j{}], tag: '2024.{}'}}\n",
                j - 1,
                j % 12
            ));
        }
        jobs += 1;
    }
    text.push_str(&workflows);
    assert!(text.len() <= MAX_CONFIG_BYTES, "{}", text.len());
    text
}

fn median_of(runs: usize, text: &str) -> (Duration, usize) {
    let ctx = PipelineContext {
        branch: Some("main".into()),
        revision: "0".repeat(40),
        number: 1,
        ..Default::default()
    };
    let mut times = Vec::with_capacity(runs);
    let mut jobs = 0;
    for _ in 0..runs {
        let started = Instant::now();
        let compiled = compile(text, &ctx, &NoOrbs).expect("the config compiles");
        jobs = compiled.config.jobs.len();
        // What a push plans too (per workflow, as a trigger does it).
        let _ = plan(
            &compiled.config,
            GitRef::Branch("main"),
            Selection::Workflows,
        );
        times.push(started.elapsed());
    }
    times.sort();
    (times[runs / 2], jobs)
}

fn main() {
    let corpus = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/real_configs/facebook__react.yml"
    );
    let largest = std::fs::read_to_string(corpus).expect("the corpus");
    let (t, jobs) = median_of(200, &largest);
    println!(
        "compile, largest real config (facebook/react, {} bytes, {jobs} jobs): median {:.2} ms (target < 5 ms)",
        largest.len(),
        t.as_secs_f64() * 1e3
    );
    let big = synthetic(MAX_CONFIG_BYTES);
    let (t, jobs) = median_of(15, &big);
    let mut loads: Vec<Duration> = (0..15)
        .map(|_| {
            let started = Instant::now();
            load(&big).expect("YAML");
            started.elapsed()
        })
        .collect();
    loads.sort();
    println!(
        "compile, synthetic config ({} bytes, {jobs} jobs): median {:.1} ms, of which reading the YAML {:.1} ms (target < 100 ms)",
        big.len(),
        t.as_secs_f64() * 1e3,
        loads[7].as_secs_f64() * 1e3
    );
}
