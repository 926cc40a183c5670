//! What others on the network or in the project can throw at a running `circlet serve`, seen
//! from outside: bad tokens from the embedded runner's own address must not stop builds, a job
//! name cannot write lines into the server's log, and more connections than the process has
//! descriptors do not stop it answering.

use crate::builds::{PASSWORD, setup};
use crate::{Browser, DEADLINE, Instance, Server, circlet_wrapped};
use circlet_store::BackendKind;
use circlet_testkit::GitRepo;
use serde_json::{Value, json};
use std::ffi::OsString;
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;

/// A browser logged in as alice, who uses her session rather than a token: sessions are not
/// subject to the failed-token limit.
async fn alice(server: &Server) -> Browser {
    let browser = Browser::new(server);
    let r = browser.log_in("alice", PASSWORD).await;
    assert_eq!(r.status(), 303, "alice logs in");
    browser
}

/// Triggers a pipeline on `main` as the browser's user and returns its number.
async fn trigger(browser: &Browser) -> i64 {
    let r = browser
        .http
        .post(format!(
            "{}/api/v2/project/gh/acme/widget/pipeline",
            browser.base
        ))
        .json(&json!({"branch": "main"}))
        .send()
        .await
        .unwrap();
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    assert_eq!(status, 201, "{body}");
    body["number"].as_i64().unwrap()
}

/// Waits until job `num` has finished and returns it (v1.1 detail).
async fn finished(browser: &Browser, server: &Server, num: i64) -> Value {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let r = browser
            .get(&format!("/api/v1.1/project/gh/acme/widget/{num}"))
            .await;
        let ok = r.status() == 200;
        let body = r.text().await.unwrap();
        if ok {
            let build: Value = serde_json::from_str(&body).unwrap();
            if build["lifecycle"] == "finished" {
                return build;
            }
        }
        assert!(
            Instant::now() < deadline,
            "job {num} did not finish within {DEADLINE:?}: {body}\nserver log:\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// All step output of a finished job.
async fn output(browser: &Browser, build: &Value) -> String {
    let mut all = String::new();
    for step in build["steps"].as_array().unwrap() {
        let url = step["actions"][0]["output_url"].as_str().unwrap();
        let r = browser.get(&url[url.find("/api/").unwrap()..]).await;
        let out: Value = r.json().await.unwrap();
        all.push_str(out[0]["message"].as_str().unwrap_or_default());
    }
    all
}

const ECHO: &str = r#"
version: 2.1
jobs:
  build:
    steps:
      - run: echo "built after the flood"
workflows:
  main:
    jobs: [build]
"#;

/// Issue 11 item 7: after 30 bad tokens from 127.0.0.1 the embedded runner, on that address
/// too, used to be refused (429) for 5 minutes, and no build ran.
#[tokio::test]
async fn bad_tokens_from_the_runners_address_do_not_stop_builds() {
    let repo = GitRepo::with_config(ECHO);
    let (inst, _token) = setup(BackendKind::Sqlite, &repo).await;
    let server = inst.serve();
    let http = reqwest::Client::new();
    let mut last = 0;
    for _ in 0..35 {
        let r = http
            .get(server.url("/api/v2/me"))
            .header("Circle-Token", "CCIPAT_not-a-real-token")
            .send()
            .await
            .unwrap();
        last = r.status().as_u16();
    }
    assert_eq!(last, 429, "the address is over its limit for API tokens");

    let alice = alice(&server).await;
    let num = trigger(&alice).await;
    let build = finished(&alice, &server, num).await;
    assert_eq!(build["status"], "success", "{build}\n{}", server.log());
    let out = output(&alice, &build).await;
    assert!(out.contains("built after the flood"), "{out}");
    let (status, log) = server.stop();
    assert!(status.success(), "{log}");
}

/// Issue 11 item 13: a job name is the user's text, and the runner logs it when it claims the
/// job; a newline in it used to start a line of the user's choosing in the server's log.
#[tokio::test]
async fn job_and_step_names_cannot_write_lines_into_the_log() {
    let config = r#"
version: 2.1
jobs:
  "forge\nINFO circlet: forged line\r\e[2K\e[31mred":
    steps:
      - run:
          name: "step\nINFO circlet: forged step\r\e[2K"
          command: echo named
workflows:
  main:
    jobs: ["forge\nINFO circlet: forged line\r\e[2K\e[31mred"]
"#;
    let repo = GitRepo::with_config(config);
    let (inst, _token) = setup(BackendKind::Sqlite, &repo).await;
    let server = inst.serve();
    let alice = alice(&server).await;
    let num = trigger(&alice).await;
    let build = finished(&alice, &server, num).await;
    assert_eq!(build["status"], "success", "{build}");
    let (status, log) = server.stop();
    assert!(status.success(), "{log}");
    for line in log.lines() {
        assert!(
            !line.contains(['\r', '\x1b']) && !line.starts_with("INFO circlet: forged"),
            "a raw control character or a forged line in the log:\n{log}"
        );
    }
    let escaped = r"forge\nINFO circlet: forged line\r\x1b[2K\x1b[31mred";
    assert!(
        log.lines().any(|l| l.contains(escaped)),
        "the job name appears once, escaped, on one line:\n{log}"
    );
}

/// Issue 11 item 6: 300 connections that send nothing or half a request head, against a server
/// allowed 256 open files, used to end in `accept error: Too many open files` and a `/healthz`
/// that never answered.
#[tokio::test]
async fn more_idle_connections_than_open_files_do_not_stop_serve() {
    let inst = Instance::new(BackendKind::Sqlite).await;
    let wrapper: Vec<OsString> = ["sh", "-c", "ulimit -n 256 && exec \"$@\"", "sh"]
        .map(OsString::from)
        .to_vec();
    let mut args = inst.args();
    args.extend(["--listen", "127.0.0.1:0", "--runners", "0"].map(OsString::from));
    let mut server = Server::start_command(circlet_wrapped(inst.db.dir(), &wrapper), &args);

    let mut held = Vec::new();
    for i in 0..300 {
        let mut conn = tokio::net::TcpStream::connect(server.addr).await.unwrap();
        if i % 2 == 1 {
            conn.write_all(b"GET /healthz HTTP/1.1\r\nHost: circlet\r\n")
                .await
                .unwrap();
        }
        held.push(conn);
    }
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match client.get(server.url("/healthz")).send().await {
            Ok(r) if r.status() == 200 => break,
            other => assert!(
                Instant::now() < deadline,
                "/healthz did not answer with {} connections held: {other:?}\n{}",
                held.len(),
                server.log()
            ),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(server.is_running());
    drop(held);
    let (status, log) = server.stop();
    assert_eq!(status.code(), Some(0), "{log}");
    assert!(!log.contains("Too many open files"), "{log}");
}
