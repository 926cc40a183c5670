//! Faults (the items 4 and 5): what circlet does when the ground moves under it, with the
//! real binary over real HTTP. One module per fault:
//!
//! - `kill9`: the server SIGKILLed in the middle of a burst of token creations, env var writes,
//!   step output and artifact uploads, then restarted on the same data (both backends);
//! - `database_down`: a PostgreSQL cluster of the test's own stopped and started again under a
//!   running server;
//! - `runner_killed`: a `circlet runner` SIGKILLed mid-job;
//! - `disk_full`: the artifacts directory on a tmpfs too small for an upload;
//! - `database_full`: the SQLite database on a tmpfs the test fills while a job runs.
//!
//! `database_down` needs PostgreSQL's server binaries (`initdb`, `pg_ctl`) and, as root, the
//! `postgres` user and `runuser`; `disk_full` and `database_full` need `unshare` and `mount` and the right to mount a
//! tmpfs in a private mount namespace (root, or unprivileged user namespaces). `scripts/test`
//! makes sure of the tools; a test that cannot get what it needs fails and says why.

mod database_down;
mod database_full;
mod disk_full;
mod kill9;
mod runner_killed;

use crate::{DEADLINE, Server};
use circlet_core::runner_protocol::{BASE_PATH, ClaimedJob, StepStarted};
use reqwest::{Method, RequestBuilder};
use std::ffi::OsString;
use std::path::Path;

/// `unshare … sh -c SCRIPT ARGS…`: runs `script` (which ends by `exec`ing what follows the
/// returned words) in a mount namespace of its own, where it may mount a small tmpfs. As root
/// that takes CAP_SYS_ADMIN; otherwise a user namespace maps the caller to root in it.
fn in_private_mounts(script: &str, args: &[&Path]) -> Vec<OsString> {
    let root = std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0");
    let mut wrapper: Vec<OsString> = vec!["unshare".into()];
    if !root {
        wrapper.extend(["--user".into(), "--map-root-user".into()]);
    }
    wrapper.extend([
        "--mount".into(),
        "--propagation".into(),
        "private".into(),
        "--".into(),
        "sh".into(),
        "-c".into(),
        script.into(),
    ]);
    wrapper.extend(args.iter().map(OsString::from));
    wrapper
}

/// A runner's side of the runner protocol, spoken directly, for tests that need to hold a job
/// and write to it at a pace of their own.
#[derive(Clone)]
struct RunnerClient {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl RunnerClient {
    fn new(server: &Server, token: &str) -> RunnerClient {
        RunnerClient {
            http: reqwest::Client::builder()
                .timeout(DEADLINE)
                .build()
                .expect("build an HTTP client"),
            base: server.url(BASE_PATH),
            token: token.to_owned(),
        }
    }

    /// A request to `path` under the protocol's base, with the runner token.
    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token)
    }

    /// Claims the next queued job, waiting for one if need be.
    async fn claim(&self) -> ClaimedJob {
        let r = self
            .request(Method::POST, "/claim?wait=10")
            .send()
            .await
            .expect("claim a job");
        assert_eq!(r.status(), 200, "claim: {}", r.text().await.unwrap());
        r.json().await.expect("a claimed job")
    }

    /// Reports that step `index` of `job` began.
    async fn step_started(&self, job: &ClaimedJob, index: u32, name: &str) {
        let step = StepStarted {
            index,
            name: name.to_owned(),
            command: None,
        };
        let r = self
            .request(Method::POST, &format!("/jobs/{}/steps", job.id))
            .json(&step)
            .send()
            .await
            .expect("report a step");
        assert_eq!(r.status(), 204, "step started: {}", r.text().await.unwrap());
    }
}

/// Every file under `dir`, as paths relative to it.
fn files_under(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        for entry in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                found.push(path.strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    found.sort();
    found
}
