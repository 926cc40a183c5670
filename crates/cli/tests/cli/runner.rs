//! `circlet runner`: its start-up checks and its shutdown, without a server to talk to (the
//! runner against a real server is the end-to-end suite's business).

use crate::{DEADLINE, Run, circlet};
use circlet_core::token::{NewToken, TokenKind};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Instant;

#[test]
fn a_token_that_is_not_a_runner_token_is_refused_without_echoing_it() {
    let tmp = tempfile::tempdir().unwrap();
    let project = NewToken::generate(TokenKind::Project);
    let mut cmd = circlet(tmp.path());
    cmd.env("CIRCLET_RUNNER_TOKEN", project.expose()).args([
        "runner",
        "--server",
        "http://127.0.0.1:1",
    ]);
    let run = Run::of(cmd, None);
    run.fails_with(&["not a circlet runner token"]);
    assert!(!run.stderr.contains(project.expose()), "{}", run.stderr);
    assert!(!tmp.path().join("circlet-runner-work").exists());
}

#[test]
fn sigterm_stops_a_runner_that_cannot_reach_its_server() {
    let tmp = tempfile::tempdir().unwrap();
    let token = NewToken::generate(TokenKind::Runner);
    let mut cmd = circlet(tmp.path());
    cmd.env("CIRCLET_RUNNER_TOKEN", token.expose())
        .args(["runner", "--server", "http://127.0.0.1:1", "--name", "r1"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("start circlet runner");
    let stderr = child.stderr.take().expect("stderr is piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut log = String::new();
    let until = Instant::now() + DEADLINE;
    while !log.contains("cannot claim work") {
        let left = until.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                log.push_str(&line);
                log.push('\n');
            }
            Err(_) => {
                let _ = child.kill();
                panic!("the runner never tried to claim work:\n{log}");
            }
        }
    }
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("send SIGTERM");
    let status = child.wait().expect("wait for the runner");
    log.extend(rx.iter().map(|l| l + "\n"));
    assert!(status.success(), "{status}:\n{log}");
    assert!(log.contains("runner r1"), "{log}");
    assert!(log.contains("runner stopped"), "{log}");
    assert!(!log.contains(token.expose()), "{log}");
    assert!(tmp.path().join("circlet-runner-work").is_dir());
}

/// Issue 17 item 17: `circlet runner --help` listed every flag of the server (`--listen`,
/// `--database-url`, `--smtp-url`, …), none of which the runner reads. It lists its own (and
/// `--sandbox`, which it does read); a server flag given to it is refused by name, while the
/// server's commands keep accepting those flags before or after their name.
#[test]
fn runner_help_lists_only_the_runner_s_flags() {
    let tmp = tempfile::tempdir().unwrap();
    let mut cmd = circlet(tmp.path());
    cmd.args(["runner", "--help"]);
    let help = Run::of(cmd, None).ok().to_owned();
    for own in [
        "--server",
        "--token",
        "--work-dir",
        "--concurrency",
        "--hide",
        "--sandbox",
    ] {
        assert!(help.contains(own), "{own} is the runner's:\n{help}");
    }
    for server in [
        "--listen",
        "--data-dir",
        "--database-url",
        "--smtp-url",
        "--max-token-lifetime-days",
        "--trusted-proxy",
        "--config",
    ] {
        assert!(
            !help.contains(server),
            "{server} is not the runner's:\n{help}"
        );
    }

    let token = NewToken::generate(TokenKind::Runner);
    let mut cmd = circlet(tmp.path());
    cmd.env("CIRCLET_RUNNER_TOKEN", token.expose()).args([
        "runner",
        "--server",
        "http://127.0.0.1:1",
        "--listen",
        "127.0.0.1:9",
    ]);
    let run = Run::of(cmd, None);
    assert!(!run.status.success(), "{}", run.stderr);
    assert!(
        run.stderr.contains("--listen is a setting of the server"),
        "{}",
        run.stderr
    );

    let mut cmd = circlet(tmp.path());
    cmd.args(["serve", "--help"]);
    let help = Run::of(cmd, None).ok().to_owned();
    assert!(
        help.contains("--listen") && help.contains("--database-url"),
        "{help}"
    );
}
