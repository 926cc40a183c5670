//! A `circlet runner` SIGKILLed in the middle of a job, as a crashed machine would leave it: the
//! job stops heartbeating, the server ends it `infrastructure_fail` once the runner timeout
//! passes, and the next job runs on a new runner.

use crate::builds::{Api, setup, v1_trigger};
use crate::{DEADLINE, Server, circlet};
use circlet_store::BackendKind;
use circlet_testkit::GitRepo;
use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The runner timeout the server gets: the lowest `runner_timeout_secs` allows.
const TIMEOUT_SECS: u64 = 10;

/// A `circlet runner` in a process group of its own, so that the test can kill it and whatever
/// it started in one go.
struct RunnerGroup {
    child: Child,
}

impl RunnerGroup {
    fn start(server: &Server, token: &str, work: &Path) -> RunnerGroup {
        let mut cmd = circlet(work);
        cmd.args(["runner", "--server", &server.url(""), "--work-dir"])
            .arg(work)
            .env("CIRCLET_RUNNER_TOKEN", token)
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        RunnerGroup {
            child: cmd.spawn().expect("start circlet runner"),
        }
    }

    /// SIGKILLs the runner's process group and reaps the runner.
    fn kill_9(&mut self) {
        kill("-KILL", &format!("-{}", self.child.id()));
        self.child.wait().expect("reap the runner");
    }

    /// SIGTERM, and waits for a clean exit.
    fn stop(&mut self) -> std::process::ExitStatus {
        kill("-TERM", &self.child.id().to_string());
        let deadline = Instant::now() + DEADLINE;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "the runner did not stop");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for RunnerGroup {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// `kill <signal> -- <target>`; the target is a pid, or `-pgid` for a whole group.
fn kill(signal: &str, target: &str) {
    let status = Command::new("kill")
        .args([signal, "--", target])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill {signal} {target} failed");
}

/// The ids of processes whose command line contains `pattern`.
fn pids_running(pattern: &str) -> Vec<String> {
    let out = Command::new("pgrep")
        .args(["-f", pattern])
        .output()
        .expect("run pgrep");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn a_runner_killed_mid_job_ends_it_infrastructure_fail_and_the_next_job_runs() {
    // A sleep no other test runs, to find the step's process by.
    let sleep = format!("sleep 3{:03}.5", std::process::id() % 1000);
    let config = format!(
        r#"
version: 2
jobs:
  build:
    steps:
      - run: echo fine
  slow:
    steps:
      - run: {sleep}
workflows:
  main:
    jobs: [build]
"#
    );
    let repo = GitRepo::with_config(&config);
    let (inst, token) = setup(BackendKind::Sqlite, &repo).await;
    let mut args = inst.args();
    args.extend(["--listen".into(), "127.0.0.1:0".into()]);
    args.extend(["--runners".into(), "0".into()]);
    args.extend([
        "--runner-timeout-secs".into(),
        TIMEOUT_SECS.to_string().into(),
    ]);
    let server = Server::start(inst.db.dir(), &args);
    let api = Api::new(&server, &token);
    let runner_token = inst
        .admin(&["runner-token", "create", "worker"], None)
        .ok()
        .trim()
        .to_owned();
    let work = tempfile::tempdir().unwrap();
    let mut runner = RunnerGroup::start(&server, &runner_token, work.path());

    let num = v1_trigger(&api, &[("build_parameters[CIRCLE_JOB]", "slow")]).await;
    api.wait_build(num, "start its sleep", |b| {
        b["lifecycle"] == "running"
            && b["steps"]
                .as_array()
                .is_some_and(|s| s.iter().any(|s| s["name"] == sleep.as_str()))
    })
    .await;
    let deadline = Instant::now() + DEADLINE;
    let mut step = pids_running(&sleep);
    while step.is_empty() {
        assert!(Instant::now() < deadline, "the step's {sleep} never ran");
        tokio::time::sleep(Duration::from_millis(50)).await;
        step = pids_running(&sleep);
    }
    runner.kill_9();
    let killed = Instant::now();
    // The step runs in a process group of its own, which the runner would have ended; with the
    // runner gone it is the test's to end, as a crash would have ended it with the machine.
    for pid in &step {
        let _ = Command::new("kill").args(["-KILL", pid]).status();
    }

    let build = api
        .wait_build(num, "be given up", |b| b["lifecycle"] == "finished")
        .await;
    let took = killed.elapsed();
    assert_eq!(build["status"], "infrastructure_fail", "{build}");
    assert_eq!(build["infrastructure_fail"], true, "{build}");
    assert!(
        took < Duration::from_secs(TIMEOUT_SECS + 10),
        "the job was given up {took:?} after its runner died (timeout {TIMEOUT_SECS} s)"
    );
    eprintln!("runner killed: the job ended infrastructure_fail {took:?} later");

    let work = tempfile::tempdir().unwrap();
    let mut runner = RunnerGroup::start(&server, &runner_token, work.path());
    let next = v1_trigger(&api, &[("build_parameters[CIRCLE_JOB]", "build")]).await;
    let build = api.finished(next).await;
    assert_eq!(build["status"], "success", "{build}");
    assert!(runner.stop().success(), "the new runner exits 0 on SIGTERM");
    let (status, log) = server.stop();
    assert!(status.success(), "{log}");
}
