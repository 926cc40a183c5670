//! Properties of compiling 2.1 configs, over generated ones: commands invoking commands (and
//! sometimes themselves), parameters of every kind, matrices and conditions. Compiling never
//! panics, ends within the expansion bounds, is deterministic, and an accepted config's
//! processed form compiles to the same jobs and workflows.

use crate::ci_config::{MemoryOrbs, PipelineContext, compile};
use proptest::prelude::*;

/// A generated config: `commands` commands (each invoking up to two others by index, which
/// may make cycles), `jobs` jobs with a boolean and a string parameter, a workflow invoking
/// each job once plainly and once over a matrix.
fn config() -> impl Strategy<Value = String> {
    let command = (
        proptest::collection::vec(0usize..6, 0..3),
        any::<bool>(),
        "[a-z]{1,8}",
    );
    let job = (
        proptest::collection::vec(0usize..6, 1..4),
        any::<bool>(),
        1usize..4,
    );
    (
        proptest::collection::vec(command, 1..6),
        proptest::collection::vec(job, 1..4),
        any::<bool>(),
    )
        .prop_map(|(commands, jobs, release)| {
            let mut text = format!(
                "version: 2.1\nparameters:\n  release: {{type: boolean, default: {release}}}\ncommands:\n"
            );
            let n = commands.len();
            for (i, (calls, loud, word)) in commands.iter().enumerate() {
                text.push_str(&format!(
                    "  c{i}:\n    parameters:\n      what: {{type: string, default: {word}}}\n      loud: {{type: boolean, default: {loud}}}\n    steps:\n      - run: echo << parameters.what >>\n      - when:\n          condition: << parameters.loud >>\n          steps: [{{run: 'echo LOUD'}}]\n"
                ));
                for c in calls {
                    text.push_str(&format!("      - c{}: {{what: from-c{i}}}\n", c % n));
                }
            }
            text.push_str("jobs:\n");
            for (j, (calls, flag, width)) in jobs.iter().enumerate() {
                text.push_str(&format!(
                    "  j{j}:\n    parameters:\n      flag: {{type: boolean, default: {flag}}}\n      tag: {{type: string, default: x}}\n    docker: [{{image: 'cimg/base:<< parameters.tag >>'}}]\n    steps:\n      - checkout\n      - unless:\n          condition: {{and: [<< parameters.flag >>, << pipeline.parameters.release >>]}}\n          steps:\n"
                ));
                for c in calls {
                    text.push_str(&format!("            - c{}\n", c % n));
                }
                let _ = width;
            }
            text.push_str("workflows:\n  w:\n    jobs:\n");
            for (j, (_, _, width)) in jobs.iter().enumerate() {
                let tags: Vec<String> = (0..*width).map(|t| format!("t{t}")).collect();
                text.push_str(&format!(
                    "      - j{j}\n      - j{j}:\n          requires: [j{j}]\n          matrix: {{parameters: {{tag: [{}], flag: [true, false]}}}}\n",
                    tags.join(", ")
                ));
            }
            text
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn generated_configs_compile_deterministically_and_round_trip(text in config()) {
        let ctx = PipelineContext::default();
        let first = compile(&text, &ctx, &MemoryOrbs::default());
        let again = compile(&text, &ctx, &MemoryOrbs::default());
        prop_assert_eq!(&first, &again, "deterministic");
        match first {
            Ok(c) => {
                let back = compile(&c.processed, &ctx, &MemoryOrbs::default())
                    .map_err(|e| TestCaseError::fail(format!("{e}\n{}", c.processed)))?;
                prop_assert_eq!(back.config.jobs, c.config.jobs);
                prop_assert_eq!(back.config.workflows, c.config.workflows);
            }
            // The only way these configs fail: a command invoking itself, said so.
            Err(e) => prop_assert!(
                e.0.iter().all(|m| m.contains("invokes itself") || m.starts_with("and ")),
                "{e}\n{text}"
            ),
        }
    }
}
