//! The embedded runner's sandbox, proved from inside a job of `circlet serve`'s defaults: the
//! keys, the database and other jobs' files cannot be read, the server's process cannot be seen
//! or signalled, the runner's token is nowhere in reach, and nothing outside the job's
//! directories can be written. Also: `--sandbox none` is loud, a missing bubblewrap stops
//! `serve` with instructions, and a revoked embedded-runner token is replaced by itself.
//!
//! The data dir lives under `/var/tmp`, not `/tmp`: every job gets a private `/tmp`, which
//! would hide a data dir there without the sandbox's own hiding being tested.

use crate::builds::{Api, populate, v1_trigger};
use crate::{DEADLINE, Run, Server, circlet};
use circlet_testkit::GitRepo;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Where these tests keep what must be outside every job's private `/tmp`.
const OUTSIDE_TMP: &str = "/var/tmp";

/// An installation whose data dir is outside `/tmp`, with user alice, her token, and project
/// `gh/acme/widget` cloning `repo`.
struct Install {
    dir: tempfile::TempDir,
    token: String,
}

impl Install {
    fn new(repo: &GitRepo) -> Install {
        let mut install = Install {
            dir: tempfile::tempdir_in(OUTSIDE_TMP).unwrap(),
            token: String::new(),
        };
        install.token = populate(|command, stdin| install.admin(command, stdin), repo);
        install
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn args(&self) -> Vec<OsString> {
        vec!["--data-dir".into(), self.data_dir().into()]
    }

    fn admin(&self, command: &[&str], stdin: Option<&str>) -> Run {
        let mut cmd = circlet(self.dir.path());
        cmd.args(self.args()).arg("admin").args(command);
        Run::of(cmd, stdin)
    }

    fn serve(&self, extra: &[&str]) -> Server {
        let mut args = self.args();
        args.extend(["--listen".into(), "127.0.0.1:0".into()]);
        args.extend(extra.iter().map(OsString::from));
        Server::start(self.dir.path(), &args)
    }
}

/// One job that tries everything a job must not be able to do and prints what happened.
const PROBE: &str = r#"
version: 2
jobs:
  build:
    docker: [{image: cimg/base:stable}]
    steps:
      - run:
          name: probe
          command: |
            set +e
            for f in env.key session.key runner.token circlet.db; do
              if cat "$DATA/$f" >/dev/null 2>&1; then echo "READ $f"; else echo "UNREADABLE $f"; fi
            done
            echo "DATA LISTING [$(ls -A "$DATA" 2>&1 | tr '\n' ' ')]"
            if cat "$DATA/runner-work/other-job/secret.txt" 2>/dev/null; then echo "READ other job"; else echo "UNREADABLE other job"; fi
            if kill -0 "$SERVER_PID" 2>/dev/null; then echo "SIGNALLED server"; else echo "CANNOT SIGNAL server"; fi
            # The server's command line holds its listen address (spelled so this script's doesn't).
            listen="127.0.0.1"; listen="$listen:0"
            if grep -qsF -- "$listen" /proc/[0-9]*/cmdline; then echo "SEES the server"; else echo "SEES NO server"; fi
            echo "PROCESSES $(ls -d /proc/[0-9]* | wc -l)"
            if grep -aqs CCIRUN_ /proc/[0-9]*/environ; then echo "FOUND runner token"; else echo "NO runner token"; fi
            env | grep -q '^CIRCLET_' && echo "FOUND CIRCLET_ variables" || echo "NO CIRCLET_ variables"
            for f in "$DATA/planted" "$OUTSIDE/planted" /usr/local/circlet-planted; do
              if echo x > "$f" 2>/dev/null; then echo "WROTE $f"; else echo "CANNOT WRITE $f"; fi
            done
            echo x > "$HOME/mine" && echo "WROTE HOME"
            echo x > /tmp/mine && echo "WROTE TMP"
      - run:
          name: tmp lasts for the job
          command: cat /tmp/mine && echo "TMP KEPT"
"#;

/// From inside a job: no key, database, runner token or other job's file can be read; the
/// server cannot be seen or signalled; nothing outside the job's directories can be written.
#[tokio::test]
async fn a_job_cannot_reach_the_servers_secrets_processes_or_files() {
    let outside = tempfile::tempdir_in(OUTSIDE_TMP).unwrap();
    let repo = GitRepo::with_config(PROBE);
    let install = Install::new(&repo);
    let server = install.serve(&[]);
    let data = install.data_dir().canonicalize().unwrap();
    // Another job's directory, as a job running at the same time would have it.
    let other = data.join("runner-work/other-job");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(other.join("secret.txt"), "other job's file").unwrap();
    let deadline = Instant::now() + DEADLINE;
    for f in ["env.key", "session.key", "runner.token", "circlet.db"] {
        // The runner's token is written as the embedded runner starts, just after listening.
        while !data.join(f).is_file() {
            assert!(Instant::now() < deadline, "{f} exists for the job to try");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    let api = Api::new(&server, &install.token);
    let pid = server.pid().to_string();
    let data_s = data.display().to_string();
    let outside_s = outside.path().display().to_string();
    let num = v1_trigger(
        &api,
        &[
            ("build_parameters[DATA]", &data_s),
            ("build_parameters[SERVER_PID]", &pid),
            ("build_parameters[OUTSIDE]", &outside_s),
        ],
    )
    .await;
    let build = api.finished(num).await;
    let output = api.output(&build).await;
    assert_eq!(build["status"], "success", "{build}\n{output}");
    for expected in [
        "UNREADABLE env.key",
        "UNREADABLE session.key",
        "UNREADABLE runner.token",
        "UNREADABLE circlet.db",
        "UNREADABLE other job",
        "CANNOT SIGNAL server",
        "SEES NO server",
        "NO runner token",
        "NO CIRCLET_ variables",
        "WROTE HOME",
        "WROTE TMP",
        "TMP KEPT",
        "in a bubblewrap sandbox",
    ] {
        assert!(
            output.contains(expected),
            "{expected:?} missing from:\n{output}"
        );
    }
    let listing = output
        .lines()
        .find_map(|l| l.strip_prefix("DATA LISTING "))
        .unwrap_or_else(|| panic!("no listing in {output}"));
    for name in [
        "env.key",
        "session.key",
        "runner.token",
        "circlet.db",
        "repos",
        "artifacts",
    ] {
        assert!(
            !listing.contains(name),
            "the job sees {name} in the data dir: {listing}"
        );
    }
    for path in [data.join("planted"), outside.path().join("planted")] {
        assert!(
            output.contains(&format!("CANNOT WRITE {}", path.display())),
            "{output}"
        );
        assert!(!path.exists(), "{} was written", path.display());
    }
    assert!(
        output.contains("CANNOT WRITE /usr/local/circlet-planted"),
        "{output}"
    );
    assert!(!Path::new("/usr/local/circlet-planted").exists());
    // Only the job's own processes: bwrap's init, the shell, and what it runs.
    let processes: usize = output
        .lines()
        .find_map(|l| l.strip_prefix("PROCESSES "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no process count in {output}"));
    assert!(processes < 10, "a job sees {processes} processes: {output}");
    let (status, log) = server.stop();
    assert!(status.success(), "{log}");
}

/// `--sandbox none` is an explicit choice, and the log says what it means.
#[tokio::test]
async fn sandbox_none_is_loudly_logged_and_does_not_hide_the_data_dir() {
    let repo = GitRepo::with_config(
        "version: 2\njobs:\n  build:\n    docker: [{image: x}]\n    steps:\n      - run: test -f \"$DATA/env.key\" && echo SEES THE KEY FILE\n",
    );
    let install = Install::new(&repo);
    let server = install.serve(&["--sandbox", "none"]);
    let api = Api::new(&server, &install.token);
    let data = install
        .data_dir()
        .canonicalize()
        .unwrap()
        .display()
        .to_string();
    let num = v1_trigger(&api, &[("build_parameters[DATA]", &data)]).await;
    let build = api.finished(num).await;
    let output = api.output(&build).await;
    assert!(output.contains("SEES THE KEY FILE"), "{output}");
    assert!(output.contains("WITHOUT a sandbox"), "{output}");
    let (_, log) = server.stop();
    let warning = log
        .lines()
        .find(|l| l.contains("WITHOUT a sandbox"))
        .unwrap_or_else(|| panic!("no warning in the log:\n{log}"));
    assert!(warning.contains("WARN"), "{warning}");
}

/// Without bubblewrap, `serve` refuses to start and says how to install it.
#[test]
fn serve_without_bubblewrap_refuses_to_start_and_says_how_to_install_it() {
    let dir = tempfile::tempdir().unwrap();
    let empty_path = dir.path().join("bin");
    std::fs::create_dir_all(&empty_path).unwrap();
    let mut cmd = circlet(dir.path());
    cmd.env("PATH", &empty_path)
        .args(["--data-dir"])
        .arg(dir.path().join("data"))
        .args(["--listen", "127.0.0.1:0", "serve"]);
    let run = Run::of(cmd, None);
    run.fails_with(&["bubblewrap", "apt-get install bubblewrap", "--sandbox none"]);
    // With no embedded runner there is nothing to sandbox: it starts.
    let mut cmd = circlet(dir.path());
    cmd.env("PATH", &empty_path);
    let args: Vec<OsString> = vec![
        "--data-dir".into(),
        dir.path().join("data").into(),
        "--listen".into(),
        "127.0.0.1:0".into(),
        "--runners".into(),
        "0".into(),
    ];
    let server = Server::start_command(cmd, &args);
    let (status, log) = server.stop();
    assert!(status.success(), "{log}");
}

/// When the embedded runner's token is revoked (as the leak guard does when a job prints it),
/// the log says so loudly and the runner carries on with a new token: later jobs still run.
#[tokio::test]
async fn a_revoked_embedded_runner_token_is_replaced_and_jobs_keep_running() {
    let repo = GitRepo::with_config(
        "version: 2\njobs:\n  build:\n    docker: [{image: x}]\n    steps:\n      - run: echo RAN\n",
    );
    let install = Install::new(&repo);
    let mut server = install.serve(&[]);
    let api = Api::new(&server, &install.token);
    let first = api.trigger().await;
    assert_eq!(api.finished(first).await["status"], "success");

    let token_file = install.data_dir().join("runner.token");
    let old = std::fs::read_to_string(&token_file)
        .unwrap()
        .trim()
        .to_owned();
    install.admin(&["token", "revoke", &old], None).ok();

    let second = api.trigger().await;
    let build = api.finished(second).await;
    assert_eq!(build["status"], "success", "{build}");
    server.wait_for("the refused-token error", |l| {
        l.contains("ERROR") && l.contains("refused this runner's token")
    });
    server.wait_for("the replacement", |l| l.contains("created a runner token"));
    let deadline = Instant::now() + DEADLINE;
    let new = loop {
        let now = std::fs::read_to_string(&token_file)
            .unwrap()
            .trim()
            .to_owned();
        if now != old {
            break now;
        }
        assert!(Instant::now() < deadline, "runner.token was not replaced");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(new.starts_with("CCIRUN_"));
    let (status, log) = server.stop();
    assert!(status.success(), "{log}");
    assert!(
        !log.contains(&old) && !log.contains(&new),
        "a runner token reached the log"
    );
}
