//! The `circleci` command jobs find on their `PATH` (the runner links it, and `circleci-agent`,
//! to this very binary): `circleci tests glob`, `circleci tests split`, `circleci step halt`
//! (also as `circleci-agent step halt`) and `circleci run oidc get`, as CircleCI's own agent
//! offers them inside a job.
//!
//! It reads only the job's environment and files: `CIRCLE_NODE_INDEX` / `CIRCLE_NODE_TOTAL`,
//! and the timings the runner wrote for this job (`~/.circlet/timings.json`, from the project's
//! earlier test results). The split itself is `circlet_core::test_split`.

use circlet_core::runner_protocol::{HALT_FILE, TIMINGS_FILE, TestTimings};
use circlet_core::test_split::{self, SplitBy};
use clap::{Parser, Subcommand, ValueEnum};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

/// Whether this process was started as `circleci` or `circleci-agent`.
pub fn invoked_as_circleci() -> bool {
    std::env::args_os()
        .next()
        .map(PathBuf::from)
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .is_some_and(|n| n == "circleci" || n == "circleci-agent")
}

/// CircleCI's in-job command, as circlet's runner provides it.
#[derive(Parser)]
#[command(
    name = "circleci",
    about = "CircleCI's in-job commands, as circlet provides them"
)]
struct Circleci {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Find and split tests.
    #[command(subcommand)]
    Tests(Tests),
    /// Control the job's steps.
    #[command(subcommand)]
    Step(Step),
    /// Ask the server for things the job may have.
    #[command(subcommand)]
    Run(Run),
}

#[derive(Subcommand)]
enum Run {
    /// OIDC ID tokens.
    #[command(subcommand)]
    Oidc(Oidc),
}

#[derive(Subcommand)]
enum Oidc {
    /// Print an ID token like $CIRCLE_OIDC_TOKEN_V2 with the claims given (only `aud`).
    Get {
        /// The claims, as JSON: `{"aud": "my-service"}` or `{"aud": ["a", "b"]}`.
        #[arg(long)]
        claims: String,
    },
}

#[derive(Subcommand)]
enum Tests {
    /// Print the files matching the patterns (`*`, `?`, `[…]`, `**`, `{a,b}`), one per line.
    Glob {
        /// The patterns.
        #[arg(required = true)]
        patterns: Vec<String>,
    },
    /// Print this node's share of the tests named on standard input (or in FILE).
    Split {
        /// How to weigh the tests.
        #[arg(long, value_enum, default_value_t = By::Name)]
        split_by: By,
        /// What the names are, for `--split-by=timings`.
        #[arg(long, value_enum, default_value_t = TimingsType::Autodetect)]
        timings_type: TimingsType,
        /// This node [default: $CIRCLE_NODE_INDEX, or 0].
        #[arg(long)]
        index: Option<usize>,
        /// How many nodes [default: $CIRCLE_NODE_TOTAL, or 1].
        #[arg(long)]
        total: Option<usize>,
        /// A file listing the tests [default: standard input].
        file: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum Step {
    /// End the job now, successfully, after the current step.
    Halt,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum By {
    Name,
    Filesize,
    Timings,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum TimingsType {
    Filename,
    Classname,
    Testname,
    Autodetect,
}

/// Runs the command; its own exit status.
pub fn main() -> ExitCode {
    let cli = Circleci::parse();
    let result = match cli.command {
        Command::Tests(Tests::Glob { patterns }) => glob(&patterns),
        Command::Tests(Tests::Split {
            split_by,
            timings_type,
            index,
            total,
            file,
        }) => split(split_by, timings_type, index, total, file),
        Command::Step(Step::Halt) => halt(),
        Command::Run(Run::Oidc(Oidc::Get { claims })) => oidc_get(&claims),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("circleci: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `{a,b}` alternatives expanded (not nested), as CircleCI's glob understands them.
fn braces(pattern: &str) -> Vec<String> {
    let (Some(open), Some(close)) = (pattern.find('{'), pattern.find('}')) else {
        return vec![pattern.to_owned()];
    };
    if close < open {
        return vec![pattern.to_owned()];
    }
    let (head, tail) = (&pattern[..open], &pattern[close + 1..]);
    pattern[open + 1..close]
        .split(',')
        .flat_map(|alt| braces(&format!("{head}{alt}{tail}")))
        .collect()
}

fn glob(patterns: &[String]) -> Result<(), String> {
    let mut found = std::collections::BTreeSet::new();
    for pattern in patterns.iter().flat_map(|p| braces(p)) {
        let matches =
            ::glob::glob(&pattern).map_err(|e| format!("'{pattern}' is not a pattern: {e}"))?;
        for path in matches.flatten() {
            if path.is_file() {
                found.insert(path.to_string_lossy().into_owned());
            }
        }
    }
    let mut out = std::io::stdout().lock();
    for f in found {
        writeln!(out, "{f}").map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn node_setting(given: Option<usize>, variable: &str, default: usize) -> Result<usize, String> {
    match given {
        Some(n) => Ok(n),
        None => match std::env::var(variable) {
            Ok(v) => v
                .trim()
                .parse()
                .map_err(|_| format!("{variable}={v} is not a number")),
            Err(_) => Ok(default),
        },
    }
}

fn split(
    by: By,
    timings_type: TimingsType,
    index: Option<usize>,
    total: Option<usize>,
    file: Option<PathBuf>,
) -> Result<(), String> {
    let index = node_setting(index, "CIRCLE_NODE_INDEX", 0)?;
    let total = node_setting(total, "CIRCLE_NODE_TOTAL", 1)?;
    if total == 0 || index >= total {
        return Err(format!(
            "node {index} of {total} does not exist: the index counts from 0 and must be below the total"
        ));
    }
    let mut text = String::new();
    match &file {
        Some(f) => {
            text = std::fs::read_to_string(f)
                .map_err(|e| format!("cannot read {}: {e}", f.display()))?;
        }
        None => {
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|e| format!("cannot read standard input: {e}"))?;
        }
    }
    let tests: Vec<String> = text.split_whitespace().map(str::to_owned).collect();
    let weights = match by {
        By::Name => None,
        By::Filesize => Some(
            tests
                .iter()
                .filter_map(|t| Some((t.clone(), std::fs::metadata(t).ok()?.len() as f64)))
                .collect::<BTreeMap<_, _>>(),
        ),
        By::Timings => {
            let known = timings(timings_type, &tests);
            if known.is_empty() {
                eprintln!(
                    "circleci: no timings found in this project's earlier test results; splitting by name"
                );
                None
            } else {
                Some(known)
            }
        }
    };
    let shared = match &weights {
        None => test_split::share(&tests, index, total, &SplitBy::Name),
        Some(w) => test_split::share(
            &tests,
            index,
            total,
            &SplitBy::Weight {
                weights: w,
                default: test_split::average(w),
            },
        ),
    };
    let mut out = std::io::stdout().lock();
    for t in shared {
        writeln!(out, "{t}").map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// The timings the runner left for this job, by the kind of name asked for (autodetect: by
/// file name if any test matches one, else by class name).
fn timings(kind: TimingsType, tests: &[String]) -> BTreeMap<String, f64> {
    let Some(home) = std::env::var_os("HOME") else {
        return BTreeMap::new();
    };
    let path = PathBuf::from(home).join(TIMINGS_FILE);
    let Some(stored) = std::fs::read(&path)
        .ok()
        .and_then(|b| serde_json::from_slice::<TestTimings>(&b).ok())
    else {
        return BTreeMap::new();
    };
    let by_file = || {
        stored
            .files
            .iter()
            .map(|(f, s)| (f.trim_start_matches("./").to_owned(), *s))
            .collect::<BTreeMap<_, _>>()
    };
    match kind {
        TimingsType::Filename => by_file(),
        TimingsType::Classname => stored.classnames,
        TimingsType::Testname => stored.tests,
        TimingsType::Autodetect => {
            let files = by_file();
            if tests
                .iter()
                .any(|t| files.contains_key(t.trim_start_matches("./")))
            {
                files
            } else {
                stored.classnames
            }
        }
    }
    .into_iter()
    // Tests may be named `./a.py` or `a.py`: both find the timing.
    .flat_map(|(k, v)| [(format!("./{k}"), v), (k, v)])
    .collect()
}

fn halt() -> Result<(), String> {
    let home = std::env::var_os("HOME").ok_or("HOME is not set: not inside a job")?;
    let marker = PathBuf::from(home).join(HALT_FILE);
    if let Some(dir) = marker.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    std::fs::write(&marker, b"halt\n")
        .map_err(|e| format!("cannot write {}: {e}", marker.display()))?;
    eprintln!("circleci: the job ends, successfully, when this step does");
    Ok(())
}

/// `circleci run oidc get --claims '{…}'`: the server makes the token; the job's own ID token
/// (`CIRCLE_OIDC_TOKEN_V2`, else `CIRCLE_OIDC_TOKEN`) says which job asks.
fn oidc_get(claims: &str) -> Result<(), String> {
    let claims: serde_json::Value = serde_json::from_str(claims).map_err(|e| {
        format!("--claims is not JSON ({e}); write it like '{{\"aud\": \"my-service\"}}'")
    })?;
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let url = var(circlet_app::builds::job_env::OIDC_TOKEN_URL_VAR)
        .ok_or("CIRCLE_OIDC_TOKEN_URL is not set: run this inside a circlet job")?;
    let own = var("CIRCLE_OIDC_TOKEN_V2")
        .or_else(|| var("CIRCLE_OIDC_TOKEN"))
        .ok_or("this job has no ID token (a forked pull request's job gets none while the project keeps its secrets from forks)")?;
    let body = serde_json::json!({ "claims": claims }).to_string();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start: {e}"))?;
    let (status, text) = runtime.block_on(async {
        let response = reqwest_tls::Client::new()
            .post(&url)
            .bearer_auth(own)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| format!("cannot reach {url}: {e}"))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| format!("reading the answer of {url}: {e}"))?;
        Ok::<_, String>((status, text))
    })?;
    let reply: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    if !status.is_success() {
        let message = reply["message"].as_str().unwrap_or(text.as_str());
        return Err(format!("the server refused ({status}): {message}"));
    }
    let token = reply["token"]
        .as_str()
        .ok_or_else(|| format!("the server's answer has no token: {text}"))?;
    println!("{token}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn braces_expand_each_alternative() {
        assert_eq!(braces("src/**/*.{js,ts}"), ["src/**/*.js", "src/**/*.ts"]);
        assert_eq!(braces("{a,b}/{c,d}"), ["a/c", "a/d", "b/c", "b/d"]);
        assert_eq!(braces("plain"), ["plain"]);
    }
}
