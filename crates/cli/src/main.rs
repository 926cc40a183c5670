//! The `circlet` binary: argument parsing, configuration, logging, `serve`, the admin CLI and
//! `runner`.
//!
//! Everything that touches the database goes through `circlet-store`, the same code the server
//! uses; everything HTTP lives in `circlet-server`.

mod admin;
mod ci_config;
mod circleci;
mod datadir;
mod logging;
mod runner;
mod serve;
mod settings;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use settings::{Overrides, Settings};
use std::process::ExitCode;

/// circlet: a self-hosted CI server that speaks CircleCI's API.
#[derive(Parser)]
#[command(name = "circlet", version, about)]
struct Cli {
    #[command(flatten)]
    overrides: Overrides,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve,
    /// Administer users and projects directly in the store.
    #[command(subcommand)]
    Admin(admin::AdminCommand),
    /// Inspect circlet's settings, or check and expand a CircleCI config.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Run jobs for a circlet server on this host.
    Runner(runner::RunnerArgs),
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Print circlet's effective settings, secrets masked.
    Check,
    /// Check a CircleCI config (`.circleci/config.yml`) as a pipeline would compile it.
    Validate(ci_config::ConfigFileArgs),
    /// Print a CircleCI config expanded to 2.0 (orbs, commands, executors, parameters and
    /// matrices filled in), like `circleci config process`.
    Process(ci_config::ConfigFileArgs),
}

fn main() -> ExitCode {
    // Linked into jobs as `circleci` / `circleci-agent` by the runner.
    if circleci::invoked_as_circleci() {
        return circleci::main();
    }
    let cli = match parse_args() {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    logging::init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(anyhow::anyhow!("cannot start the async runtime: {e}")),
    };
    let outcome = runtime.block_on(async move {
        // The runner has settings of its own and no use for the server's; a CircleCI config
        // is checked without any.
        match cli.command {
            Command::Runner(args) => return runner::run(args, cli.overrides.sandbox()?).await,
            Command::Config(ConfigCommand::Validate(args)) => return ci_config::validate(&args),
            Command::Config(ConfigCommand::Process(args)) => return ci_config::process(&args),
            _ => {}
        }
        let settings = Settings::load(&cli.overrides)?;
        match cli.command {
            Command::Serve => serve::run(settings).await,
            Command::Admin(cmd) => admin::run(settings, cmd).await,
            Command::Config(ConfigCommand::Check) => {
                print!("{}", settings.describe());
                Ok(())
            }
            Command::Runner(_)
            | Command::Config(ConfigCommand::Validate(_) | ConfigCommand::Process(_)) => {
                unreachable!("handled above")
            }
        }
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(e),
    }
}

/// The flags `circlet runner` shares with the server: the sandbox is the only one it reads.
const RUNNER_READS: [&str; 1] = ["sandbox"];

/// Parses the command line. The server's flags are global (`circlet --data-dir D serve` and
/// `circlet serve --data-dir D` both work), so clap would hand them to `runner` too. `runner`
/// gets hidden copies of them instead (clap propagates a global flag only to a command without
/// one of that name), kept out of `circlet runner --help` and refused when given on the command
/// line, since the runner reads none of them (a `CIRCLET_*` variable in the environment is left
/// alone: a host may run both).
fn parse_args() -> Result<Cli, clap::Error> {
    let command = Cli::command();
    let server_flags: Vec<clap::Arg> = command
        .get_arguments()
        .filter(|a| a.is_global_set() && !RUNNER_READS.contains(&a.get_id().as_str()))
        .cloned()
        .collect();
    let mut command = command.mut_subcommand("runner", |runner| {
        runner.args(
            server_flags
                .iter()
                .map(|a| a.clone().global(false).hide(true)),
        )
    });
    let matches = command.try_get_matches_from_mut(std::env::args_os())?;
    if let Some(("runner", runner)) = matches.subcommand() {
        for flag in &server_flags {
            let id = flag.get_id().as_str();
            if runner.value_source(id) == Some(clap::parser::ValueSource::CommandLine) {
                let long = flag.get_long().unwrap_or(id);
                return Err(command.error(
                    clap::error::ErrorKind::ArgumentConflict,
                    format!(
                        "--{long} is a setting of the server (`circlet serve`, `circlet admin`), not of `circlet runner`; see `circlet runner --help`"
                    ),
                ));
            }
        }
    }
    Cli::from_arg_matches(&matches).map_err(|e| e.format(&mut command))
}

/// Prints one clear line and returns a failure exit code; never a backtrace.
fn fail(e: anyhow::Error) -> ExitCode {
    // Store errors that reach here without passing a use case are worded as the use cases word
    // them (`circlet_app::error`), whatever context was added around them.
    let text = e
        .chain()
        .map(
            |cause| match cause.downcast_ref::<circlet_store::StoreError>() {
                Some(store) => circlet_app::error::store_error_text(store),
                None => cause.to_string(),
            },
        )
        .collect::<Vec<_>>()
        .join(": ");
    let line = logging::escape(&text.replace('\n', " "));
    eprintln!("circlet: error: {line}");
    ExitCode::FAILURE
}
