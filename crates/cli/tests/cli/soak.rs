//! A bounded soak (issue 6, item 8): 60 s of mixed load at 64 connections against one
//! `circlet serve` (SQLite) whose embedded runner is kept busy with builds that store artifacts.
//! Every response must be the expected one (zero errors), and the server's resident memory
//! after the load may exceed what it was after a warm-up by at most [`RSS_GROWTH_BOUND`].

use crate::builds::{Api, setup};
use circlet_store::BackendKind;
use circlet_testkit::GitRepo;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// How long the load runs.
const LOAD: Duration = Duration::from_secs(60);
/// Memory is first measured after this much load (caches, pools and allocator arenas fill up).
const WARM_UP: Duration = Duration::from_secs(15);
/// Concurrent clients.
const CONNECTIONS: usize = 64;
/// The most the server's resident set may grow between the warm-up and the end.
const RSS_GROWTH_BOUND: u64 = 24 * 1024 * 1024;

const CONFIG: &str = r#"
version: 2.1
jobs:
  build:
    steps:
      - checkout
      - run: sleep 0.2; mkdir -p out; echo soak > out/result.txt
      - store_artifacts:
          path: out
workflows:
  main:
    jobs: [build]
"#;

/// The server's resident set size, from `/proc`.
fn rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc");
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS in /proc/PID/status");
    kb * 1024
}

#[tokio::test]
async fn sixty_seconds_of_mixed_load_with_the_runner_busy() {
    let repo = GitRepo::with_config(CONFIG);
    let (inst, personal) = setup(BackendKind::Sqlite, &repo).await;
    let server = inst.serve();
    let pid = server.child.id();
    let api = Api::new(&server, &personal);
    let slug = "gh/acme/widget";
    // A first build, so that there is an artifact to download and a badge to draw.
    let first = api.trigger().await;
    let build = api.finished(first).await;
    assert_eq!(build["outcome"], "success", "{build}");
    let artifacts = api
        .json(&format!("/api/v1.1/project/{slug}/{first}/artifacts"))
        .await;
    let artifact = artifacts[0]["url"].as_str().unwrap().to_owned();
    let (status, body) = api
        .post(
            &format!("/api/v1.1/project/{slug}/token"),
            json!({"scope": "status", "label": "badge"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let status_token = body["token"].as_str().unwrap().to_owned();
    let (status, body) = api
        .post(
            &format!("/api/v2/project/{slug}/envvar"),
            json!({"name": "SOAK", "value": "value"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");

    let base = server.url("");
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(CONNECTIONS)
        .build()
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let requests = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut clients = Vec::new();
    for client in 0..CONNECTIONS {
        let (http, base, stop, requests, errors) = (
            http.clone(),
            base.clone(),
            stop.clone(),
            requests.clone(),
            errors.clone(),
        );
        let (personal, status_token, artifact) =
            (personal.clone(), status_token.clone(), artifact.clone());
        clients.push(tokio::spawn(async move {
            let mut n = client;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let (req, expect) = match n % 10 {
                    0..=3 => (
                        http.get(format!("{base}/{slug}.svg"))
                            .header("Circle-Token", &status_token),
                        200,
                    ),
                    4 => (
                        http.get(format!("{base}/api/v1.1/project/{slug}"))
                            .header("Circle-Token", &personal),
                        200,
                    ),
                    5 => (
                        http.get(format!("{base}/api/v2/me"))
                            .header("Circle-Token", &personal),
                        200,
                    ),
                    6 => (
                        http.get(format!("{base}/api/v2/project/{slug}/envvar"))
                            .header("Circle-Token", &personal),
                        200,
                    ),
                    7 => (http.get(&artifact).header("Circle-Token", &personal), 200),
                    // Failed authentications are left out: 30 from one address within five
                    // minutes lock that address out (429), by design.
                    8 => (
                        http.get(format!("{base}/api/v1.1/project/{slug}/{first}"))
                            .header("Circle-Token", &personal),
                        200,
                    ),
                    _ => (
                        http.post(format!("{base}/api/v2/project/{slug}/envvar"))
                            .header("Circle-Token", &personal)
                            .json(&json!({"name": format!("SOAK_{}", client), "value": n.to_string()})),
                        201,
                    ),
                };
                requests.fetch_add(1, Ordering::Relaxed);
                let got = match req.send().await {
                    Ok(r) => {
                        let status = r.status().as_u16();
                        match r.bytes().await {
                            Ok(_) if status == expect => continue,
                            Ok(body) => format!(
                                "{status} (expected {expect}): {}",
                                String::from_utf8_lossy(&body[..body.len().min(200)])
                            ),
                            Err(e) => format!("body: {e}"),
                        }
                    }
                    Err(e) => format!("request: {e}"),
                };
                errors.lock().await.push(got);
            }
        }));
    }
    // The runner stays busy: a new pipeline whenever fewer than two are waiting.
    let started = Instant::now();
    let mut triggered = 1;
    let mut warm_rss = None;
    while started.elapsed() < LOAD {
        if warm_rss.is_none() && started.elapsed() >= WARM_UP {
            warm_rss = Some(rss(pid));
        }
        let recent = api.json(&format!("/api/v1.1/project/{slug}?limit=5")).await;
        let waiting = recent
            .as_array()
            .unwrap()
            .iter()
            .filter(|b| b["lifecycle"] != "finished")
            .count();
        if waiting < 2 {
            api.trigger().await;
            triggered += 1;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.await.unwrap();
    }
    let end_rss = rss(pid);
    let warm_rss = warm_rss.expect("measured after the warm-up");
    let errors = errors.lock().await;
    let total = requests.load(Ordering::Relaxed);
    let finished = api
        .json(&format!("/api/v1.1/project/{slug}?limit=100"))
        .await
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["outcome"] == "success")
        .count();
    println!(
        "soak: {total} requests in {:?} ({:.0}/s), {} errors; {triggered} pipelines, {finished} \
         succeeded; RSS {:.1} MiB after warm-up, {:.1} MiB at the end",
        LOAD,
        total as f64 / LOAD.as_secs_f64(),
        errors.len(),
        warm_rss as f64 / 1048576.0,
        end_rss as f64 / 1048576.0
    );
    assert!(
        errors.is_empty(),
        "{} of {total} requests failed; first few: {:#?}",
        errors.len(),
        &errors[..errors.len().min(5)]
    );
    assert!(
        triggered >= 5 && finished >= 5,
        "the runner was not kept busy: {triggered} triggered, {finished} succeeded"
    );
    assert!(
        end_rss <= warm_rss + RSS_GROWTH_BOUND,
        "resident memory grew from {warm_rss} to {end_rss} bytes (bound {RSS_GROWTH_BOUND})"
    );
    let (status, log) = server.stop();
    assert_eq!(status.code(), Some(0), "{log}");
    assert!(!log.contains("panicked"), "{log}");
}
