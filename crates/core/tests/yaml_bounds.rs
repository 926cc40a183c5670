//! No config text up to 1 MiB makes `ci_config::parse` use more than [`MAX_HEAP`] of heap or
//! more than [`MAX_TIME`] (issue 11: a 1 KB config of aliases, or a 10 KB one nested 5,000
//! levels, took the server down).
//!
//! One test in its own binary, because dhat counts the heap of the whole process: nothing may
//! run beside it. Each input is parsed twice: once timed with the profiler off (dhat takes a
//! backtrace per allocation, which would swamp the time), once measured with it on. The worst
//! figures are printed at the end (`--nocapture`); `YAML_BOUNDS_VERBOSE=1` prints every input's.

use circlet_core::ci_config::{PipelineContext, parse};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use std::cell::RefCell;
use std::time::{Duration, Instant};

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

/// The most heap one parse may use at its peak. The loader's bounds allow about 25 MiB of tree
/// (250,000 nodes) and 8 MiB of text; what dominates is yaml-rust2's scanner, which holds every
/// token of a flow collection (`[…]`, `{…}`) before the parser sees the first: up to about 200
/// bytes per byte of input, so a 1 MiB config of `[a: ,a: ,…]` peaks near 200 MiB. The server
/// parses a few configs at a time for that reason.
const MAX_HEAP: usize = 256 * 1024 * 1024;

/// The longest one parse may take, in a debug build on a 2-core machine shared with other
/// builds (the worst input takes about 2.5 s there): a bound that catches super-linear work
/// (checking `requires` for cycles took minutes), not a benchmark.
const MAX_TIME: Duration = Duration::from_secs(10);

/// The largest input tried: the config size limit, and a little past it.
const MAX_INPUT: usize = 1024 * 1024 + 16;

fn ctx() -> PipelineContext {
    PipelineContext {
        branch: Some("main".into()),
        revision: "0123abcd".into(),
        number: 1,
        ..Default::default()
    }
}

/// What one parse of `text` cost: peak heap in bytes, and time.
fn measure(text: &str) -> (usize, Duration) {
    let ctx = ctx();
    let started = Instant::now();
    drop(parse(text, &ctx));
    let elapsed = started.elapsed();
    let profiler = dhat::Profiler::builder().testing().build();
    drop(parse(text, &ctx));
    let peak = dhat::HeapStats::get().max_bytes;
    drop(profiler);
    (peak, elapsed)
}

/// The worst seen so far, for the summary printed at the end.
#[derive(Default)]
struct Worst {
    heap: (usize, String),
    time: (Duration, String),
    inputs: usize,
}

impl Worst {
    /// Measures one parse of `text`, described as `what`, against the bounds.
    fn check(&mut self, what: &str, text: &str) -> Result<(), String> {
        let (peak, elapsed) = measure(text);
        self.inputs += 1;
        if std::env::var_os("YAML_BOUNDS_VERBOSE").is_some() {
            eprintln!(
                "{what} ({} bytes): {:.1} MiB, {elapsed:?}",
                text.len(),
                peak as f64 / 1048576.0
            );
        }
        let label = || format!("{what} ({} bytes)", text.len());
        if peak > self.heap.0 {
            self.heap = (peak, label());
        }
        if elapsed > self.time.0 {
            self.time = (elapsed, label());
        }
        if peak > MAX_HEAP {
            return Err(format!("{} peaked at {peak} bytes of heap", label()));
        }
        if elapsed > MAX_TIME {
            return Err(format!("{} took {elapsed:?}", label()));
        }
        Ok(())
    }
}

/// Issue 11's attacks, the largest inputs each bound still lets through, and the input that
/// makes the scanner hold the most. (Each 1 MiB input measured takes dhat seconds: one
/// backtrace per allocation.)
fn named_inputs() -> Vec<(&'static str, String)> {
    let laughs = |levels: usize| {
        let mut text = String::from("a0: &a0 [x,x,x,x,x,x,x,x,x,x]\n");
        for i in 1..levels {
            let aliases = vec![format!("*a{}", i - 1); 10].join(",");
            text.push_str(&format!("a{i}: &a{i} [{aliases}]\n"));
        }
        text
    };
    // Copies of `item` joined by `sep`, `room` bytes short of the largest input.
    let fill = |item: &str, sep: &str, room: usize| {
        let n = (MAX_INPUT - room) / (item.len() + sep.len());
        vec![item; n].join(sep)
    };
    let jobs = |n: usize| {
        let mut text = String::from("version: 2\njobs:\n");
        for i in 0..n {
            text.push_str(&format!("  j{i}: {{steps: [checkout]}}\n"));
        }
        text.push_str("workflows:\n  w:\n    jobs:\n      - j0\n");
        for i in 1..n {
            text.push_str(&format!("      - j{i}: {{requires: [j{}]}}\n", i - 1));
        }
        text
    };
    vec![
        // Every key checked against the ones before it once took 13 s here.
        (
            "a mapping of 60,000 distinct keys",
            (0..60_000).map(|i| format!("s{i}: v\n")).collect(),
        ),
        ("billion laughs, 6 levels", laughs(6)),
        ("billion laughs, 10 levels", laughs(10)),
        (
            "5,000 nested block sequences",
            format!("{}x", "- ".repeat(5_000)),
        ),
        (
            "5,000 nested flow sequences",
            format!("{}x{}", "[".repeat(5_000), "]".repeat(5_000)),
        ),
        (
            "5,000 nested flow mappings",
            format!("{}x{}", "{a: ".repeat(5_000), "}".repeat(5_000)),
        ),
        (
            "a flat list just under the node limit",
            format!(
                "[{}]",
                vec!["x"; circlet_core::ci_config::MAX_NODES - 1].join(",")
            ),
        ),
        (
            "1 MiB of `[a: ,a: ,…]`, the most the scanner holds",
            format!("[{}]", fill("a: ", ",", 32)),
        ),
        (
            "one string of 1 MiB, aliased",
            format!(
                "a: &a '{}'\nb: [*a, *a, *a, *a]\n",
                "x".repeat(MAX_INPUT - 64)
            ),
        ),
        (
            "a long string aliased many times",
            format!(
                "a: &a '{}'\nb: [{}]\n",
                "x".repeat(500_000),
                vec!["*a"; 10_000].join(",")
            ),
        ),
        (
            "63 nested anchors around a list",
            format!(
                "{}{}{}",
                (0..63).map(|i| format!("&a{i} [")).collect::<String>(),
                vec!["x"; 50_000].join(","),
                "]".repeat(63)
            ),
        ),
        (
            "a long parameter used many times",
            format!(
                "version: 2.1\nparameters: {{p: {{type: string, default: '{}'}}}}\njobs: {{build: {{steps: [{}]}}}}\n",
                "x".repeat(500_000),
                vec!["{run: '<< pipeline.parameters.p >>'}"; 10_000].join(","),
            ),
        ),
        ("15,000 chained jobs", jobs(15_000)),
        (
            "1 MiB of bad steps",
            format!(
                "version: 2\njobs:\n  build:\n    steps:\n      - {}",
                fill("nope", "\n      - ", 64)
            ),
        ),
    ]
}

/// A count, mostly small: big inputs take dhat seconds each.
fn count(max: usize) -> impl Strategy<Value = usize> {
    prop_oneof![
        3 => 1..(max / 1000).max(2),
        2 => 1..(max / 20).max(2),
        1 => 1..max,
    ]
}

/// Definitions that nest and alias one another, each a line `dN: &dN [...]`, then as many
/// lines aliasing the last one as `repeat` asks: laughs of every shape.
fn aliased_structures() -> impl Strategy<Value = String> {
    let item = (
        0usize..4,
        0usize..2_000,
        0usize..30,
        any::<prop::sample::Index>(),
    );
    let def = prop::collection::vec(item, 1..40);
    (prop::collection::vec(def, 1..16), count(100_000)).prop_map(|(defs, repeat)| {
        let mut text = String::new();
        for (i, items) in defs.iter().enumerate() {
            let items: Vec<String> = items
                .iter()
                .map(|&(kind, len, depth, pick)| match kind {
                    0 => "x".repeat(len % 64 + 1),
                    1 if i > 0 => format!("*d{}", pick.index(i)),
                    2 if i > 0 => format!(
                        "{}*d{}{}",
                        "[".repeat(depth),
                        pick.index(i),
                        "]".repeat(depth)
                    ),
                    3 => format!("{{k: '{}'}}", "y".repeat(len % 200)),
                    _ => "z".into(),
                })
                .collect();
            text.push_str(&format!("d{i}: &d{i} [{}]\n", items.join(", ")));
        }
        let last = defs.len() - 1;
        for r in 0..repeat {
            if text.len() > MAX_INPUT {
                break;
            }
            text.push_str(&format!("r{r}: *d{last}\n"));
        }
        text
    })
}

/// One kind of nesting, `depth` levels, a 100,000 levels at most.
fn deep() -> impl Strategy<Value = String> {
    (0usize..5, count(100_000)).prop_map(|(kind, depth)| match kind {
        0 => format!("{}x", "- ".repeat(depth)),
        1 => format!("{}x{}", "[".repeat(depth), "]".repeat(depth)),
        2 => format!("{}x{}", "{a: ".repeat(depth), "}".repeat(depth)),
        3 => (0..depth.min(1_400))
            .map(|i| format!("{}a:\n", " ".repeat(i)))
            .collect(),
        _ => format!("{}x", "? ".repeat(depth)),
    })
}

/// One flat collection of `n` scalars of `len` bytes, in block or flow style.
fn wide() -> impl Strategy<Value = String> {
    (0usize..3, count(400_000), 1usize..64).prop_map(|(style, n, len)| {
        let n = n.min(MAX_INPUT / (len + 12));
        let scalar = "s".repeat(len);
        match style {
            0 => format!("[{}]", vec![scalar.as_str(); n].join(",")),
            1 => format!("- {}\n", vec![scalar.as_str(); n].join("\n- ")),
            _ => (0..n).map(|i| format!("{scalar}{i}: v\n")).collect(),
        }
    })
}

/// YAML-ish tokens, a short run of them repeated to up to 1 MiB.
fn token_soup() -> impl Strategy<Value = String> {
    let token = prop::sample::select(vec![
        "- ",
        ": ",
        "\n",
        "  ",
        "[",
        "]",
        "{",
        "}",
        ", ",
        "? ",
        "&a ",
        "&b ",
        "*a",
        "*b",
        "!!str ",
        "'q'",
        "\"d\"",
        "|\n  text\n",
        "---\n",
        "a",
        "b",
        "1",
        "~",
        "<< pipeline.number >>",
    ]);
    (prop::collection::vec(token, 1..60), count(50_000)).prop_map(|(tokens, times)| {
        let unit = tokens.concat();
        unit.repeat(times.min(MAX_INPUT / unit.len().max(1)))
    })
}

/// Configs circlet accepts in shape: jobs, steps, parameters and workflows, in numbers.
fn configs() -> impl Strategy<Value = String> {
    (count(5_000), 1usize..20, 0usize..200, 0usize..1_000).prop_map(
        |(jobs, steps, param_len, refs)| {
            let mut text = format!(
                "version: 2.1\nparameters: {{p: {{type: string, default: '{}'}}}}\njobs:\n",
                "p".repeat(param_len)
            );
            let step = format!(
                "{{run: 'echo {}'}}",
                "<< pipeline.parameters.p >>".repeat(refs.min(200))
            );
            for j in 0..jobs {
                let line = format!(
                    "  j{j}: {{steps: [{}]}}\n",
                    vec![step.as_str(); steps].join(",")
                );
                if text.len() + line.len() > MAX_INPUT - 100 {
                    break;
                }
                text.push_str(&line);
            }
            text + "workflows:\n  w:\n    jobs: [j0]\n"
        },
    )
}

#[test]
fn no_input_makes_parsing_exceed_its_heap_or_time() {
    let worst = RefCell::new(Worst::default());
    for (what, text) in named_inputs() {
        assert!(text.len() <= MAX_INPUT, "{what}: {} bytes", text.len());
        let checked = worst.borrow_mut().check(what, &text);
        checked.unwrap_or_else(|e| panic!("{e}"));
    }
    let hostile = prop_oneof![
        aliased_structures().prop_map(|t| ("aliased structures", t)),
        deep().prop_map(|t| ("deep nesting", t)),
        wide().prop_map(|t| ("a wide collection", t)),
        token_soup().prop_map(|t| ("token soup", t)),
        configs().prop_map(|t| ("a config", t)),
    ];
    let mut runner = TestRunner::new(Config {
        cases: 40,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&hostile, |(what, text)| {
        let checked = worst.borrow_mut().check(what, &text);
        checked.map_err(TestCaseError::fail)
    });
    let worst = worst.into_inner();
    eprintln!(
        "{} inputs; peak heap {:.1} MiB ({}); longest {:?} ({})",
        worst.inputs,
        worst.heap.0 as f64 / (1024.0 * 1024.0),
        worst.heap.1,
        worst.time.0,
        worst.time.1
    );
    result.unwrap_or_else(|e| panic!("{e}"));
}
