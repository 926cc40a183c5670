//! End to end: a real git repository in a temp dir, `circlet serve` with its embedded runner (or
//! a separate `circlet runner` process), triggers over the HTTP API, and what a user then sees:
//! statuses, step output, the badge, canceled sleeps, revoked leaked tokens.

use crate::{DEADLINE, Instance, Run, Server, circlet};
use circlet_store::BackendKind;
use circlet_testkit::{GitRepo, both_backends};
use serde_json::Value;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

both_backends!(
    the_badge_goes_from_no_builds_to_passed_to_failed,
    a_separate_runner_process_runs_the_jobs,
);

/// The password of `setup`'s user `alice`.
pub(crate) const PASSWORD: &str = "correct horse battery";

/// An installation with a site admin `alice`, project `gh/acme/widget` cloning `repo`, and a
/// personal token of alice's.
pub(crate) async fn setup(kind: BackendKind, repo: &GitRepo) -> (Instance, String) {
    let inst = Instance::new(kind).await;
    let token = populate(|command, stdin| inst.admin(command, stdin), repo);
    (inst, token)
}

/// Through `admin` (which runs `circlet … admin <command>`): site admin `alice`, project
/// `gh/acme/widget` cloning `repo`; returns a personal token of alice's.
pub(crate) fn populate(admin: impl Fn(&[&str], Option<&str>) -> Run, repo: &GitRepo) -> String {
    admin(
        &["user", "create", "alice", "--admin", "--password-stdin"],
        Some(PASSWORD),
    )
    .ok();
    admin(
        &[
            "project",
            "create",
            "gh/acme/widget",
            "--owner",
            "alice",
            "--repo-url",
            &repo.url(),
        ],
        None,
    )
    .ok();
    admin(
        &["token", "create", "--user", "alice", "--name", "e2e"],
        None,
    )
    .ok()
    .trim()
    .to_owned()
}

/// A small API client for one server and token.
pub(crate) struct Api<'a> {
    server: &'a Server,
    token: String,
    http: reqwest::Client,
}

impl<'a> Api<'a> {
    pub(crate) fn new(server: &'a Server, token: &str) -> Self {
        Api {
            server,
            token: token.to_owned(),
            http: reqwest::Client::new(),
        }
    }

    pub(crate) async fn get(&self, path: &str) -> (u16, String) {
        let r = self
            .http
            .get(self.server.url(path))
            .header("Circle-Token", &self.token)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    pub(crate) async fn json(&self, path: &str) -> Value {
        let (status, body) = self.get(path).await;
        assert_eq!(status, 200, "GET {path}: {body}");
        serde_json::from_str(&body).unwrap()
    }

    pub(crate) async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(reqwest::Method::POST, path, body).await
    }

    pub(crate) async fn put(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(reqwest::Method::PUT, path, body).await
    }

    async fn send(&self, method: reqwest::Method, path: &str, body: Value) -> (u16, Value) {
        let r = self
            .http
            .request(method, self.server.url(path))
            .header("Circle-Token", &self.token)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn post_form(&self, path: &str, form: &[(&str, &str)]) -> (u16, Value) {
        let r = self
            .http
            .post(self.server.url(path))
            .header("Circle-Token", &self.token)
            .form(form)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// Triggers a v2 pipeline on `main` and returns its number.
    pub(crate) async fn trigger(&self) -> i64 {
        let (status, body) = self
            .post(
                "/api/v2/project/gh/acme/widget/pipeline",
                serde_json::json!({"branch": "main"}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        body["number"].as_i64().unwrap()
    }

    /// Waits until build `num` has finished and returns it (v1.1 detail).
    pub(crate) async fn finished(&self, num: i64) -> Value {
        self.wait_build(num, "finish", |b| b["lifecycle"] == "finished")
            .await
    }

    pub(crate) async fn wait_build(
        &self,
        num: i64,
        what: &str,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let (status, body) = self
                .get(&format!("/api/v1.1/project/gh/acme/widget/{num}"))
                .await;
            if status == 200 {
                let build: Value = serde_json::from_str(&body).unwrap();
                if done(&build) {
                    return build;
                }
            }
            assert!(
                Instant::now() < deadline,
                "build {num} did not {what} within {DEADLINE:?}: {body}\nserver log:\n{}",
                self.server_log()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    pub(crate) fn server_log(&self) -> String {
        self.server.log()
    }

    /// All step output of a build, via each action's `output_url`.
    pub(crate) async fn output(&self, build: &Value) -> String {
        let mut all = String::new();
        for step in build["steps"].as_array().unwrap() {
            let url = step["actions"][0]["output_url"].as_str().unwrap();
            let path = &url[url.find("/api/").unwrap()..];
            let out = self.json(path).await;
            all.push_str(out[0]["message"].as_str().unwrap_or_default());
        }
        all
    }

    async fn badge(&self) -> String {
        let (status, body) = self
            .get(&format!("/gh/acme/widget.svg?circle-token={}", self.token))
            .await;
        assert_eq!(status, 200, "{body}");
        body
    }
}

const PASS_OR_FAIL: &str = r#"
version: 2.1
jobs:
  build:
    docker: [{image: cimg/base:stable}]
    steps:
      - checkout
      - run: echo "building $CIRCLE_PROJECT_REPONAME on $CIRCLE_BRANCH"
      - run:
          name: Fails when FAIL exists
          command: test ! -f FAIL
workflows:
  main:
    jobs: [build]
"#;

/// The issue's "done when": trigger → the embedded runner runs → statuses move → the badge goes
/// from "no builds" to PASSED, then FAILED after a failing commit.
async fn the_badge_goes_from_no_builds_to_passed_to_failed(kind: BackendKind) {
    let repo = GitRepo::with_config(PASS_OR_FAIL);
    let (inst, token) = setup(kind, &repo).await;
    let server = inst.serve();
    let api = Api::new(&server, &token);
    assert!(api.badge().await.contains("NO BUILDS"));

    let first = api.trigger().await;
    assert_eq!(first, 1);
    let build = api.finished(1).await;
    assert_eq!(build["status"], "success", "{build}");
    assert_eq!(build["outcome"], "success");
    let output = api.output(&build).await;
    assert!(
        output.contains("building widget on main"),
        "the job ran with CircleCI's variables: {output}"
    );
    assert!(
        output.contains("cimg/base"),
        "executor note shown: {output}"
    );
    assert!(api.badge().await.contains("PASSED"));

    repo.commit(&[("FAIL", "x")], "break the build");
    api.trigger().await;
    let build = api.finished(2).await;
    assert_eq!(build["status"], "failed", "{build}");
    let steps = build["steps"].as_array().unwrap();
    let last = &steps.last().unwrap()["actions"][0];
    assert_eq!(last["name"], "Fails when FAIL exists");
    assert_eq!(last["exit_code"], 1);
    assert!(api.badge().await.contains("FAILED"));
    let (status, log) = server.stop();
    assert!(status.success(), "{log}");
    assert!(!log.contains(&token), "the token reached the server log");
}

/// `--runners 0` and a `circlet runner` process with a token from `admin runner-token create`.
async fn a_separate_runner_process_runs_the_jobs(kind: BackendKind) {
    let repo = GitRepo::with_config(PASS_OR_FAIL);
    let (inst, token) = setup(kind, &repo).await;
    let mut args = inst.args();
    args.extend([
        "--listen".into(),
        "127.0.0.1:0".into(),
        "--runners".into(),
        "0".into(),
    ]);
    let server = Server::start(inst.db.dir(), &args);
    let api = Api::new(&server, &token);
    api.trigger().await;
    // Nothing runs it yet: there is no runner.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let queued = api.json("/api/v1.1/project/gh/acme/widget/1").await;
    assert_eq!(queued["lifecycle"], "queued", "{queued}");

    let runner_token = inst
        .admin(&["runner-token", "create", "worker-1"], None)
        .ok()
        .trim()
        .to_owned();
    assert!(runner_token.starts_with("CCIRUN_"));
    let work = tempfile::tempdir().unwrap();
    let mut runner = RunnerProcess::start(&server, &runner_token, work.path());
    let build = api.finished(1).await;
    assert_eq!(build["status"], "success", "{build}");
    let status = runner.stop();
    assert!(status.success(), "the runner exits 0 on SIGTERM: {status}");
    // A runner token is no API token.
    let runner_api = Api::new(&server, &runner_token);
    let (status, _) = runner_api.get("/api/v1.1/me").await;
    assert_eq!(status, 401);
}

/// A `circlet runner` child process.
pub(crate) struct RunnerProcess {
    child: Child,
    /// Its stderr, line by line, when kept.
    lines: Option<std::sync::mpsc::Receiver<String>>,
}

impl RunnerProcess {
    fn start(server: &Server, token: &str, work: &Path) -> RunnerProcess {
        RunnerProcess::start_with(server, token, work, None)
    }

    /// The `circlet runner` command for `server`, trusting only the CAs in `ca_file` when given.
    fn command(server: &Server, token: &str, work: &Path, ca_file: Option<&Path>) -> Command {
        let mut cmd = circlet(work);
        cmd.args(["runner", "--server", &server.url(""), "--work-dir"])
            .arg(work)
            .env("CIRCLET_RUNNER_TOKEN", token)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(ca) = ca_file {
            cmd.arg("--ca-file").arg(ca);
        }
        cmd
    }

    /// Starts a runner for `server`, trusting only the CAs in `ca_file` when given.
    pub(crate) fn start_with(
        server: &Server,
        token: &str,
        work: &Path,
        ca_file: Option<&Path>,
    ) -> RunnerProcess {
        let mut cmd = RunnerProcess::command(server, token, work, ca_file);
        RunnerProcess {
            child: cmd.spawn().expect("start circlet runner"),
            lines: None,
        }
    }

    /// Starts a runner for `server` whose log the test reads.
    pub(crate) fn start_logged(server: &Server, token: &str, work: &Path) -> RunnerProcess {
        let mut cmd = RunnerProcess::command(server, token, work, None);
        cmd.stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("start circlet runner");
        let stderr = child.stderr.take().expect("piped");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                let _ = tx.send(line);
            }
        });
        RunnerProcess {
            child,
            lines: Some(rx),
        }
    }

    /// Reads the log until a line contains `wanted`; the log so far.
    pub(crate) fn wait_for_log(&mut self, wanted: &str) -> String {
        let rx = self.lines.as_ref().expect("started with start_logged");
        let deadline = Instant::now() + DEADLINE;
        let mut log = String::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    log.push_str(&line);
                    log.push('\n');
                    if line.contains(wanted) {
                        return log;
                    }
                }
                Err(_) => panic!("the runner never logged {wanted:?}:\n{log}"),
            }
        }
    }

    pub(crate) fn stop(&mut self) -> std::process::ExitStatus {
        Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
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

impl Drop for RunnerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const JOBS: &str = r#"
version: 2
jobs:
  build:
    steps:
      - run: echo building
  deploy:
    environment:
      FROM_CONFIG: config-wins
    steps:
      - run: echo "deploying FOO=$FOO FROM_CONFIG=$FROM_CONFIG CIRCLE_BRANCH=$CIRCLE_BRANCH CIRCLE_JOB=$CIRCLE_JOB"
  slow:
    steps:
      - run: sleep 297
  leaky:
    steps:
      - run: echo "my token is $LEAK, oops"
workflows:
  main:
    jobs: [build]
"#;

pub(crate) async fn v1_trigger(api: &Api<'_>, form: &[(&str, &str)]) -> i64 {
    let (status, body) = api
        .post_form("/api/v1.1/project/github/acme/widget/tree/main", form)
        .await;
    assert_eq!(status, 201, "{body}");
    body["build_num"].as_i64().unwrap()
}

/// `CIRCLE_JOB` runs only that job; other build parameters reach it as environment variables
/// but override neither the config's `environment` nor CircleCI's own variables.
#[tokio::test]
async fn circle_job_runs_one_job_with_build_parameters() {
    let repo = GitRepo::with_config(JOBS);
    let (inst, token) = setup(BackendKind::Sqlite, &repo).await;
    let server = inst.serve();
    let api = Api::new(&server, &token);
    let num = v1_trigger(
        &api,
        &[
            ("build_parameters[CIRCLE_JOB]", "deploy"),
            ("build_parameters[FOO]", "bar baz"),
            ("build_parameters[FROM_CONFIG]", "parameter-loses"),
            ("build_parameters[CIRCLE_BRANCH]", "not-main"),
        ],
    )
    .await;
    let build = api.finished(num).await;
    assert_eq!(build["job_name"], "deploy");
    assert_eq!(build["status"], "success", "{build}");
    assert_eq!(build["build_parameters"]["FOO"], "bar baz");
    let output = api.output(&build).await;
    assert!(
        output.contains(
            "deploying FOO=bar baz FROM_CONFIG=config-wins CIRCLE_BRANCH=main CIRCLE_JOB=deploy"
        ),
        "{output}"
    );
    // Only that job ran: the pipeline has one workflow with one job.
    let pipelines = api.json("/api/v2/project/gh/acme/widget/pipeline").await;
    let id = pipelines["items"][0]["id"].as_str().unwrap().to_owned();
    let workflows = api.json(&format!("/api/v2/pipeline/{id}/workflow")).await;
    let items = workflows["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    let wid = items[0]["id"].as_str().unwrap();
    let jobs = api.json(&format!("/api/v2/workflow/{wid}/job")).await;
    let names: Vec<&str> = jobs["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["deploy"]);
    // Naming a job the config lacks is a clear 400.
    let (status, body) = api
        .post_form(
            "/api/v1.1/project/github/acme/widget/tree/main",
            &[("build_parameters[CIRCLE_JOB]", "nope")],
        )
        .await;
    assert_eq!(status, 400);
    assert!(
        body["message"].as_str().unwrap().contains("'nope'"),
        "{body}"
    );
}

/// Cancel stops a running `sleep` within seconds, and kills it.
#[tokio::test]
async fn cancel_stops_a_running_sleep_within_seconds() {
    let repo = GitRepo::with_config(JOBS);
    let (inst, token) = setup(BackendKind::Sqlite, &repo).await;
    let server = inst.serve();
    let api = Api::new(&server, &token);
    let num = v1_trigger(&api, &[("build_parameters[CIRCLE_JOB]", "slow")]).await;
    api.wait_build(num, "start its step", |b| {
        b["lifecycle"] == "running"
            && b["steps"]
                .as_array()
                .is_some_and(|s| s.iter().any(|s| s["name"] == "sleep 297"))
    })
    .await;
    let started = Instant::now();
    let (status, body) = api
        .post(
            &format!("/api/v1.1/project/gh/acme/widget/{num}/cancel"),
            Value::Null,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let build = api.finished(num).await;
    let took = started.elapsed();
    assert_eq!(build["status"], "canceled", "{build}");
    assert_eq!(build["canceled"], true);
    assert!(took < Duration::from_secs(15), "cancel took {took:?}");
    let left = Command::new("pgrep")
        .args(["-f", "sleep 297"])
        .output()
        .unwrap();
    assert!(
        left.stdout.is_empty(),
        "the sleep survived: {}",
        String::from_utf8_lossy(&left.stdout)
    );
}

/// A job that prints a live token: the token is revoked at once and the stored output masks it.
#[tokio::test]
async fn a_token_printed_by_a_job_is_revoked_and_masked() {
    let repo = GitRepo::with_config(JOBS);
    let (inst, token) = setup(BackendKind::Sqlite, &repo).await;
    let leaked = inst
        .admin(
            &["token", "create", "--user", "alice", "--name", "leaky"],
            None,
        )
        .ok()
        .trim()
        .to_owned();
    let server = inst.serve();
    let api = Api::new(&server, &token);
    let victim = Api::new(&server, &leaked);
    assert_eq!(victim.get("/api/v1.1/me").await.0, 200);
    let num = v1_trigger(
        &api,
        &[
            ("build_parameters[CIRCLE_JOB]", "leaky"),
            ("build_parameters[LEAK]", &leaked),
        ],
    )
    .await;
    let build = api.finished(num).await;
    let output = api.output(&build).await;
    assert!(output.contains("my token is ********, oops"), "{output}");
    assert!(!output.contains(&leaked));
    assert_eq!(victim.get("/api/v1.1/me").await.0, 401, "revoked at once");
    assert_eq!(
        api.get("/api/v1.1/me").await.0,
        200,
        "other tokens still work"
    );
    let audit = inst.admin(&["audit"], None);
    assert!(audit.ok().contains("token.leaked"), "{}", audit.stdout);
}

const ECHO_SECRET: &str = r#"
version: 2
jobs:
  build:
    steps:
      - run: echo "deploying with key=$DEPLOY_KEY"
workflows:
  main:
    jobs: [build]
"#;

/// The config of [`an_env_var_reaches_the_job_masked_and_survives_key_rotation`]'s second
/// build: the project's variable and the context `deploy`'s.
const ECHO_SECRETS_WITH_CONTEXT: &str = r#"
version: 2
jobs:
  build:
    steps:
      - run: echo "deploying with key=$DEPLOY_KEY"
      - run: echo "context key=$CONTEXT_KEY (${#CONTEXT_KEY} long)"
workflows:
  main:
    jobs:
      - build:
          context: deploy
"#;

/// Issue 5: an env var set through the API reaches the job, appears masked in its output, and
/// its clear value is in neither the database files nor the server's log; after
/// `admin rotate-env-key` (with the server running) it still reaches the next job. Issue 16:
/// so does a context's variable.
#[tokio::test]
async fn an_env_var_reaches_the_job_masked_and_survives_key_rotation() {
    const VALUE: &str = "very-secret-deploy-key-42";
    const CONTEXT_VALUE: &str = "context-secret-value-77";
    let repo = GitRepo::with_config(ECHO_SECRET);
    let (inst, token) = setup(BackendKind::Sqlite, &repo).await;
    let server = inst.serve();
    let api = Api::new(&server, &token);
    let (status, body) = api
        .post(
            "/api/v2/project/gh/acme/widget/envvar",
            serde_json::json!({"name": "DEPLOY_KEY", "value": VALUE}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["value"], "xxxxy-42");

    let first = api.trigger().await;
    let build = api.finished(first).await;
    assert_eq!(build["status"], "success", "{build}");
    let output = api.output(&build).await;
    assert!(output.contains("deploying with key=********"), "{output}");
    assert!(!output.contains(VALUE));

    // A context's variable is sealed the same way, and re-sealed with the rest.
    let (status, body) = api
        .post(
            "/api/v2/context",
            serde_json::json!({"name": "deploy", "owner": {"slug": "gh/acme"}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let context = body["id"].as_str().unwrap().to_owned();
    let (status, body) = api
        .put(
            &format!("/api/v2/context/{context}/environment-variable/CONTEXT_KEY"),
            serde_json::json!({"value": CONTEXT_VALUE}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    repo.commit(
        &[(".circleci/config.yml", ECHO_SECRETS_WITH_CONTEXT)],
        "use a context",
    );

    let rotated = inst.admin(&["rotate-env-key"], None);
    // The variable, the context's variable, and the OIDC key that signed the job's ID tokens.
    assert!(
        rotated.ok().contains("re-sealed 3 value"),
        "{}",
        rotated.stdout
    );
    let second = api.trigger().await;
    let build = api.finished(second).await;
    assert_eq!(build["status"], "success", "{build}");
    let output = api.output(&build).await;
    assert!(output.contains("key=********"), "{output}");
    assert!(
        output.contains(&format!(
            "context key=******** ({} long)",
            CONTEXT_VALUE.len()
        )),
        "the context's variable opens after the rotation: {output}"
    );

    let (status, log) = server.stop();
    assert!(status.success());
    assert!(!log.contains(VALUE), "the value reached the server log");
    assert!(
        !log.contains(CONTEXT_VALUE),
        "the context's value reached the server log"
    );
    for entry in std::fs::read_dir(inst.db.dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            let bytes = std::fs::read(&path).unwrap();
            for value in [VALUE, CONTEXT_VALUE] {
                assert!(
                    !bytes.windows(value.len()).any(|w| w == value.as_bytes()),
                    "the clear value is in {}",
                    path.display()
                );
            }
        }
    }
}
