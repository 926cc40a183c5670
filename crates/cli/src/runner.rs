//! `circlet runner`: runs jobs for a circlet server on this host. Its settings are flags (each
//! also read from a `CIRCLET_*` variable); it touches no data dir and no store.

use anyhow::bail;
use circlet_core::token::{self, TokenKind};
use circlet_runner::{RunnerConfig, Sandbox, SandboxMode};
use clap::Args;
use secrecy::{ExposeSecret, SecretString};
use std::path::PathBuf;

/// `circlet runner`'s flags.
#[derive(Args)]
pub struct RunnerArgs {
    /// The server's base URL, e.g. http://ci.example:8080 or https://ci.example.
    #[arg(long, env = "CIRCLET_RUNNER_SERVER")]
    server: String,
    /// A PEM file of the certificate authorities an https:// server's certificate must come
    /// from (a private CA), instead of the system's [default: the system's roots].
    #[arg(long, env = "CIRCLET_RUNNER_CA_FILE")]
    ca_file: Option<PathBuf>,
    /// The runner token (CCIRUN_…); prefer the environment variable, which `ps` does not show.
    #[arg(long, env = "CIRCLET_RUNNER_TOKEN", hide_env_values = true, value_parser = secret)]
    token: SecretString,
    /// Where jobs' directories are made [default: ./circlet-runner-work].
    #[arg(long, env = "CIRCLET_RUNNER_WORK_DIR")]
    work_dir: Option<PathBuf>,
    /// How many jobs run at once.
    #[arg(long, env = "CIRCLET_RUNNER_CONCURRENCY", default_value_t = 1)]
    concurrency: usize,
    /// This runner's name, shown in its jobs [default: the host name].
    #[arg(long, env = "CIRCLET_RUNNER_NAME")]
    name: Option<String>,
    /// More files or directories jobs must not see (repeatable; `:`-separated in the
    /// variable): secrets of this host. The work dir and the usual credentials in this user's
    /// home (`~/.ssh`, `~/.aws`, …) are always hidden.
    #[arg(long = "hide", env = "CIRCLET_RUNNER_HIDE", value_delimiter = ':')]
    hide: Vec<PathBuf>,
}

fn secret(raw: &str) -> Result<SecretString, String> {
    Ok(SecretString::from(raw.to_owned()))
}

impl RunnerArgs {
    /// The validated runner settings; fails when the sandbox cannot be made.
    fn config(self, sandbox: SandboxMode) -> anyhow::Result<RunnerConfig> {
        // A mistyped or wrong kind of token is refused here rather than by the server, and the
        // message never repeats it.
        if token::check(self.token.expose_secret()).map(|t| t.kind) != Some(TokenKind::Runner) {
            bail!("the token is not a circlet runner token (they start with CCIRUN_)");
        }
        if self.concurrency == 0 {
            bail!("concurrency must be at least 1");
        }
        let name = self
            .name
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(circlet_runner::default_name);
        let sandbox = Sandbox::new(sandbox, self.hide)?;
        Ok(RunnerConfig {
            sandbox,
            server: self.server,
            token: self.token,
            work_dir: self
                .work_dir
                .unwrap_or_else(|| PathBuf::from("circlet-runner-work")),
            concurrency: self.concurrency,
            name,
            ca_file: self.ca_file,
            // This binary answers to `circleci` in jobs.
            tools: std::env::current_exe().ok(),
        })
    }
}

/// Runs jobs until SIGINT or SIGTERM; fails (exit status 1) when the server refuses the token.
pub async fn run(args: RunnerArgs, sandbox: SandboxMode) -> anyhow::Result<()> {
    let config = args.config(sandbox)?;
    Ok(circlet_runner::run(config, shutdown_signal()).await?)
}

/// Resolves on the first SIGINT or SIGTERM.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
    tracing::info!("shutting down: stopping running jobs");
}

#[cfg(test)]
mod tests {
    use super::*;
    use circlet_core::token::NewToken;

    fn args(token: &str) -> RunnerArgs {
        RunnerArgs {
            server: "http://127.0.0.1:8080".into(),
            token: SecretString::from(token.to_owned()),
            work_dir: None,
            concurrency: 1,
            name: None,
            hide: vec![],
            ca_file: None,
        }
    }

    #[test]
    fn only_runner_tokens_are_accepted_and_never_echoed() {
        let runner = NewToken::generate(TokenKind::Runner);
        let config = args(runner.expose()).config(SandboxMode::None).unwrap();
        assert_eq!(config.work_dir, PathBuf::from("circlet-runner-work"));
        assert!(!config.name.is_empty());
        assert!(!format!("{config:?}").contains(runner.expose()));

        let other = TokenKind::ALL
            .into_iter()
            .find(|k| *k != TokenKind::Runner)
            .unwrap();
        for bad in [
            NewToken::generate(other).expose().to_owned(),
            format!("{}x", &runner.expose()[..runner.expose().len() - 1]),
            "CCIRUN_short".to_owned(),
        ] {
            let e = args(&bad)
                .config(SandboxMode::None)
                .unwrap_err()
                .to_string();
            assert!(e.contains("not a circlet runner token"), "{e}");
            assert!(!e.contains(&bad), "{e}");
        }
    }

    #[test]
    fn zero_concurrency_is_refused() {
        let runner = NewToken::generate(TokenKind::Runner);
        let mut a = args(runner.expose());
        a.concurrency = 0;
        assert!(args_error(a).contains("at least 1"));
    }

    fn args_error(a: RunnerArgs) -> String {
        a.config(SandboxMode::None).unwrap_err().to_string()
    }
}
