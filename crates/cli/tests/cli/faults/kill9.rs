//! The server SIGKILLed in the middle of a burst of writes (project tokens, env vars, step output
//! and artifact uploads, all at once), then restarted on the same data: every write that was
//! acknowledged with a 2xx is there, and nothing that was cut short shows half written (an env
//! var with a garbled value, output with a torn chunk, an artifact listed whose bytes are short).

use super::{RunnerClient, files_under};
use crate::builds::{Api, setup};
use crate::{DEADLINE, Server};
use circlet_core::runner_protocol::ClaimedJob;
use circlet_store::BackendKind;
use circlet_testkit::GitRepo;
use circlet_testkit::both_backends;
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

both_backends!(acknowledged_writes_survive_a_kill_9);

const CONFIG: &str = r#"
version: 2.1
jobs:
  build:
    steps:
      - run: echo hi
workflows:
  main:
    jobs: [build]
"#;

/// Jobs held open (claimed over the runner protocol) for output and artifacts.
const JOBS: usize = 2;

/// Concurrent writers of tokens, and of env vars.
const WRITERS: usize = 2;

/// How much of each kind the burst must have had acknowledged before the kill, so that the kill
/// lands while every kind of write is under way.
const MIN_TOKENS: usize = 6;
const MIN_ENV_VARS: usize = 6;
const MIN_CHUNKS: u64 = 6;
const MIN_ARTIFACTS: usize = 3;

/// The writes the server acknowledged before it died.
#[derive(Default)]
struct Acked {
    /// Project tokens: (label, value).
    tokens: Vec<(String, String)>,
    /// Env var names (each value is [`env_value`] of its name).
    env_vars: Vec<String>,
    /// Per job, the last output chunk acknowledged (chunks go one at a time, from seq 1).
    chunks: [u64; JOBS],
    /// Per job, the artifacts acknowledged (`burst/<i>.bin` holding [`artifact_bytes`]).
    artifacts: [Vec<usize>; JOBS],
    /// Answers other than the expected 2xx before the kill: there must be none.
    refused: Vec<String>,
}

impl Acked {
    fn enough(&self) -> bool {
        self.tokens.len() >= MIN_TOKENS
            && self.env_vars.len() >= MIN_ENV_VARS
            && self.chunks.iter().all(|&n| n >= MIN_CHUNKS)
            && self.artifacts.iter().all(|a| a.len() >= MIN_ARTIFACTS)
    }

    fn summary(&self) -> String {
        format!(
            "{} tokens, {} env vars, output chunks {:?}, artifacts {:?}",
            self.tokens.len(),
            self.env_vars.len(),
            self.chunks,
            self.artifacts.iter().map(Vec::len).collect::<Vec<_>>()
        )
    }
}

type Ledger = Arc<Mutex<Acked>>;

/// The value the burst gives env var `name`: derived from the name, so a value read back can be
/// checked whether or not its write was acknowledged.
fn env_value(name: &str) -> String {
    format!("{name}={}.end", "s".repeat(20 + name.len() * 3))
}

/// Output chunk `seq` of job `job`.
fn chunk(job: usize, seq: u64) -> String {
    format!("job {job} chunk {seq:05} {}\n", "o".repeat(2000))
}

/// The bytes of artifact `burst/<i>.bin` of job `job`: 20 kB to 420 kB of noise, different for
/// every (job, i), so a short, torn or swapped file cannot pass for it.
fn artifact_bytes(job: usize, i: usize) -> Vec<u8> {
    let len = 20_000 + (i * 104_729 + job * 7_919) % 400_000;
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15 ^ ((job as u64) << 32 | i as u64);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x.to_le_bytes()[0]
        })
        .collect()
}

/// An API client that can move into a task.
#[derive(Clone)]
struct Http {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Http {
    fn new(server: &Server, token: &str) -> Http {
        Http {
            http: reqwest::Client::builder()
                .timeout(DEADLINE)
                .build()
                .expect("build an HTTP client"),
            base: server.url("/api"),
            token: token.to_owned(),
        }
    }

    /// POSTs `body` to `/api<path>`; the status and body, or `None` when the exchange broke off
    /// (the server is gone), which acknowledges nothing.
    async fn post(&self, path: &str, body: Value) -> Option<(u16, String)> {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .header("Circle-Token", &self.token)
            .json(&body)
            .send()
            .await
            .ok()?;
        let status = r.status().as_u16();
        Some((status, r.text().await.ok()?))
    }
}

/// Sends `request` and returns its status, or `None` when the exchange broke off.
async fn status_of(request: reqwest::RequestBuilder) -> Option<(u16, String)> {
    let r = request.send().await.ok()?;
    let status = r.status().as_u16();
    Some((status, r.text().await.ok()?))
}

async fn create_tokens(api: Http, writer: usize, ledger: Ledger) {
    for i in 0.. {
        let label = format!("burst-{writer}-{i}");
        let path = "/v1.1/project/gh/acme/widget/token";
        let Some((status, body)) = api
            .post(path, json!({"scope": "all", "label": label}))
            .await
        else {
            return;
        };
        let mut acked = ledger.lock().unwrap();
        if status != 201 {
            acked.refused.push(format!("POST {path}: {status} {body}"));
            return;
        }
        let created: Value = serde_json::from_str(&body).expect("token JSON");
        let value = created["token"].as_str().expect("the token's value");
        acked.tokens.push((label, value.to_owned()));
    }
}

async fn write_env_vars(api: Http, writer: usize, ledger: Ledger) {
    for i in 0.. {
        let name = format!("BURST_{writer}_{i}");
        let path = "/v2/project/gh/acme/widget/envvar";
        let Some((status, body)) = api
            .post(path, json!({"name": name, "value": env_value(&name)}))
            .await
        else {
            return;
        };
        let mut acked = ledger.lock().unwrap();
        if status != 201 {
            acked.refused.push(format!("POST {path}: {status} {body}"));
            return;
        }
        acked.env_vars.push(name);
    }
}

async fn push_output(runner: RunnerClient, job: ClaimedJob, j: usize, ledger: Ledger) {
    for seq in 1.. {
        let path = format!("/jobs/{}/steps/0/output?seq={seq}", job.id);
        let request = runner.request(Method::POST, &path).body(chunk(j, seq));
        let Some((status, body)) = status_of(request).await else {
            return;
        };
        let mut acked = ledger.lock().unwrap();
        if status != 204 {
            acked.refused.push(format!("POST {path}: {status} {body}"));
            return;
        }
        acked.chunks[j] = seq;
    }
}

async fn upload_artifacts(runner: RunnerClient, job: ClaimedJob, j: usize, ledger: Ledger) {
    for i in 0.. {
        let path = format!("/jobs/{}/artifacts/burst/{i}.bin", job.id);
        let request = runner
            .request(Method::PUT, &path)
            .body(artifact_bytes(j, i));
        let Some((status, body)) = status_of(request).await else {
            return;
        };
        let mut acked = ledger.lock().unwrap();
        if status != 204 {
            acked.refused.push(format!("PUT {path}: {status} {body}"));
            return;
        }
        acked.artifacts[j].push(i);
    }
}

async fn acknowledged_writes_survive_a_kill_9(kind: BackendKind) {
    let repo = GitRepo::with_config(CONFIG);
    let (inst, token) = setup(kind, &repo).await;
    let runner_token = inst
        .admin(&["runner-token", "create", "burst"], None)
        .ok()
        .trim()
        .to_owned();
    // No embedded runner: the test holds the jobs itself, over the runner protocol.
    let mut args = inst.args();
    args.extend(["--listen".into(), "127.0.0.1:0".into()]);
    args.extend(["--runners".into(), "0".into()]);
    let server = Server::start(inst.db.dir(), &args);
    let api = Api::new(&server, &token);
    let runner = RunnerClient::new(&server, &runner_token);
    let mut jobs = Vec::new();
    for _ in 0..JOBS {
        api.trigger().await;
        let job = runner.claim().await;
        runner.step_started(&job, 0, "burst").await;
        jobs.push(job);
    }

    let ledger = Ledger::default();
    let http = Http::new(&server, &token);
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        writers.push(tokio::spawn(create_tokens(http.clone(), w, ledger.clone())));
        writers.push(tokio::spawn(write_env_vars(
            http.clone(),
            w,
            ledger.clone(),
        )));
    }
    for (j, job) in jobs.iter().enumerate() {
        writers.push(tokio::spawn(push_output(
            runner.clone(),
            job.clone(),
            j,
            ledger.clone(),
        )));
        writers.push(tokio::spawn(upload_artifacts(
            runner.clone(),
            job.clone(),
            j,
            ledger.clone(),
        )));
    }
    let burst = Instant::now();
    let deadline = burst + DEADLINE;
    loop {
        {
            let acked = ledger.lock().unwrap();
            assert!(
                acked.refused.is_empty(),
                "writes were refused during the burst: {:#?}\nserver log:\n{}",
                acked.refused,
                server.log()
            );
            if acked.enough() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the burst got only {} acknowledged within {DEADLINE:?}",
                acked.summary()
            );
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Every writer has a request in flight at this point: they all wait on the server.
    let (status, log) = server.stop_with("-KILL");
    let burst_took = burst.elapsed();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(9),
        "{log}"
    );
    for writer in writers {
        tokio::time::timeout(DEADLINE, writer)
            .await
            .expect("a writer noticed the server is gone")
            .expect("a writer finished without panicking");
    }
    let acked = Arc::try_unwrap(ledger)
        .ok()
        .expect("the writers are done")
        .into_inner()
        .unwrap();
    assert!(acked.refused.is_empty(), "{:#?}", acked.refused);
    eprintln!(
        "kill -9 ({kind:?}) after {burst_took:?} of burst with {} acknowledged",
        acked.summary()
    );

    let server = Server::start(inst.db.dir(), &args);
    let api = Api::new(&server, &token);
    check_tokens(&server, &api, &acked).await;
    check_env_vars(&server, &api, &runner_token, &acked).await;
    check_output(&api, &jobs, &acked).await;
    check_artifacts(&api, &token, &jobs, &acked).await;
    check_no_partial_files(&inst.data_dir.join("artifacts")).await;
    // And the restarted server takes writes as before.
    let (status, body) = api
        .post(
            "/api/v2/project/gh/acme/widget/envvar",
            json!({"name": "AFTER_RESTART", "value": "x"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, log) = server.stop();
    assert!(status.success(), "{log}");
}

/// Every acknowledged token authenticates, and is listed.
async fn check_tokens(server: &Server, api: &Api<'_>, acked: &Acked) {
    for (label, value) in &acked.tokens {
        let (status, body) = Api::new(server, value)
            .get("/api/v1.1/project/gh/acme/widget")
            .await;
        assert_eq!(
            status, 200,
            "token {label} was acknowledged before the kill but does not work after it: {body}"
        );
    }
    let listed = api.json("/api/v1.1/project/gh/acme/widget/token").await;
    let labels: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["label"].as_str().unwrap())
        .collect();
    for (label, _) in &acked.tokens {
        assert!(
            labels.contains(&label.as_str()),
            "{label} not in {labels:?}"
        );
    }
}

/// Every acknowledged env var is listed, and a job claimed now gets its exact value; no env var
/// of the burst, acknowledged or not, has any other value.
async fn check_env_vars(server: &Server, api: &Api<'_>, runner_token: &str, acked: &Acked) {
    let listed = api.json("/api/v2/project/gh/acme/widget/envvar").await;
    let names: Vec<&str> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    for name in &acked.env_vars {
        assert!(names.contains(&name.as_str()), "{name} not in {names:?}");
    }
    api.trigger().await;
    let job = RunnerClient::new(server, runner_token).claim().await;
    let env: BTreeMap<&str, &str> = job
        .env
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    for name in &acked.env_vars {
        assert!(env.contains_key(name.as_str()), "{name} missing from a job");
    }
    for (name, value) in env.iter().filter(|(k, _)| k.starts_with("BURST_")) {
        assert_eq!(*value, env_value(name), "{name} came back garbled");
    }
}

/// Each job's output is its chunks in order: every acknowledged one, at most the one in flight
/// after them, and no torn chunk.
async fn check_output(api: &Api<'_>, jobs: &[ClaimedJob], acked: &Acked) {
    for (j, job) in jobs.iter().enumerate() {
        let out = api
            .json(&format!(
                "/api/v1.1/project/gh/acme/widget/{}/output/0/0",
                job.build_num
            ))
            .await;
        let text = out[0]["message"].as_str().unwrap();
        let upto = |n: u64| (1..=n).map(|seq| chunk(j, seq)).collect::<String>();
        let n = acked.chunks[j];
        assert!(
            text == upto(n) || text == upto(n + 1),
            "job {j}: {n} chunks were acknowledged, but the output holds {} bytes ({} \
             chunks' worth), ending {:?}",
            text.len(),
            text.len() as f64 / chunk(j, 1).len() as f64,
            &text[text.len().saturating_sub(80)..]
        );
    }
}

/// The partial files of uploads the kill cut short are gone from the disk once the restarted
/// server has cleared them (it does so in the background).
async fn check_no_partial_files(dir: &Path) {
    let partial = || -> Vec<String> {
        files_under(dir)
            .into_iter()
            .filter(|f| f.contains('#'))
            .collect()
    };
    let deadline = Instant::now() + DEADLINE;
    loop {
        let left = partial();
        if left.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "partial uploads are still on disk: {left:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every acknowledged artifact is listed, and every listed artifact downloads whole: the bytes
/// that were sent, not a prefix of them.
async fn check_artifacts(api: &Api<'_>, token: &str, jobs: &[ClaimedJob], acked: &Acked) {
    let http = reqwest::Client::new();
    for (j, job) in jobs.iter().enumerate() {
        let listed = api
            .json(&format!(
                "/api/v1.1/project/gh/acme/widget/{}/artifacts",
                job.build_num
            ))
            .await;
        let mut found = Vec::new();
        for artifact in listed.as_array().unwrap() {
            let path = artifact["path"].as_str().unwrap();
            let i: usize = path
                .strip_prefix("burst/")
                .and_then(|p| p.strip_suffix(".bin"))
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("an artifact nobody uploaded: {path}"));
            let r = http
                .get(artifact["url"].as_str().unwrap())
                .header("Circle-Token", token)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200, "{path}");
            let bytes = r.bytes().await.unwrap();
            let sent = artifact_bytes(j, i);
            assert_eq!(
                bytes.len(),
                sent.len(),
                "job {j}: {path} is listed but holds {} of its {} bytes",
                bytes.len(),
                sent.len()
            );
            assert!(bytes[..] == sent[..], "job {j}: {path} has other bytes");
            found.push(i);
        }
        for i in &acked.artifacts[j] {
            assert!(
                found.contains(i),
                "job {j}: burst/{i}.bin was acknowledged but is not listed: {found:?}"
            );
        }
    }
}
