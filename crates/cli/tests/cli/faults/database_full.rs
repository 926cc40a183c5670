//! The database's disk full (SQLite on a small tmpfs, filled by the test while a job runs):
//! login, trigger and the runner's heartbeat, output and finish answer 507 with a message
//! saying so (JSON on the API, a page in the UI), `/readyz` answers 503 while `/healthz` stays
//! 200; once space is freed, readiness comes back by itself, the job that lost writes ends
//! `infrastructure_fail` with a note in its output (it does not stay `running`), and logins
//! and triggers work again, without a restart.
//!
//! The server runs in a private mount namespace (`unshare`) with a tmpfs on a directory of the
//! data dir into which the database is copied just before `circlet serve` starts. The test
//! reaches that tmpfs through `/proc/<server pid>/root`.

use super::{RunnerClient, in_private_mounts};
use crate::builds::{Api, PASSWORD, setup};
use crate::{Browser, DEADLINE, Server, circlet_wrapped};
use circlet_store::BackendKind;
use circlet_testkit::GitRepo;
use reqwest::Method;
use serde_json::{Value, json};
use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The size of the database's filesystem: room for the database, less than a checkpoint's
/// worth of WAL (so every commit appends to the WAL, and a full disk refuses it at once).
const TMPFS: &str = "3m";

const CONFIG: &str = r#"
version: 2
jobs:
  build:
    steps:
      - run: echo building
workflows:
  main:
    jobs: [build]
"#;

/// `unshare … sh -c 'mount a tmpfs on DIR; copy DB into it; exec "$@"' DIR DB`.
/// The write-ahead log goes along: what the admin CLI wrote before it may not be in the database
/// file yet (the runner token was missing from the copy now and then).
fn database_on_tiny_fs(dir: &Path, db: &Path) -> Vec<OsString> {
    in_private_mounts(
        &format!(
            r#"mount -t tmpfs -o size={TMPFS},mode=0700 circlet-db "$0" && cp "$1" "$0/circlet.db" && {{ test ! -f "$1-wal" || cp "$1-wal" "$0/circlet.db-wal"; }} && shift && exec "$@""#
        ),
        &[dir, db],
    )
}

/// Writes zeros to `path` until the filesystem refuses more.
fn fill(path: &Path) {
    let mut file = std::fs::File::create(path).expect("create the filler file");
    let chunk = vec![0u8; 64 * 1024];
    loop {
        if let Err(e) = file.write_all(&chunk) {
            assert_eq!(e.raw_os_error(), Some(28), "filling the disk: {e}");
            return;
        }
    }
}

/// A runner protocol request's status and body.
async fn runner_call(runner: &RunnerClient, path: &str, body: Option<Value>) -> (u16, String) {
    let mut request = runner.request(Method::POST, path);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let r = request.send().await.expect("a runner request");
    (r.status().as_u16(), r.text().await.unwrap())
}

/// Asserts a 507 whose JSON message says the database's storage is full.
fn says_full(what: &str, (status, body): &(u16, String)) {
    assert_eq!(*status, 507, "{what}: {body}");
    let v: Value =
        serde_json::from_str(body).unwrap_or_else(|_| panic!("{what}: not JSON: {body}"));
    assert!(
        v["message"]
            .as_str()
            .is_some_and(|m| m.contains("database storage is full")),
        "{what}: {body}"
    );
}

#[tokio::test]
async fn a_full_database_disk_answers_507_reports_not_ready_and_recovers() {
    let repo = GitRepo::with_config(CONFIG);
    let (inst, token) = setup(BackendKind::Sqlite, &repo).await;
    let runner_token = inst
        .admin(&["runner-token", "create", "held"], None)
        .ok()
        .trim()
        .to_owned();
    let disk = inst.data_dir.join("db-disk");
    std::fs::create_dir_all(&disk).unwrap();
    let wrapper = database_on_tiny_fs(&disk, &inst.data_dir.join("circlet.db"));
    let mut args = inst.args();
    args.extend([
        "--database-url".into(),
        format!("sqlite://{}/circlet.db", disk.display()).into(),
        "--listen".into(),
        "127.0.0.1:0".into(),
        "--runners".into(),
        "0".into(),
    ]);
    let mut server = Server::start_command(circlet_wrapped(inst.db.dir(), &wrapper), &args);
    // The server's own view of the directory: the tmpfs is mounted in its namespace only.
    let seen: PathBuf = Path::new(&format!("/proc/{}/root", server.child.id()))
        .join(disk.strip_prefix("/").unwrap());
    assert!(
        seen.join("circlet.db").is_file(),
        "the database is not on the tmpfs; server log:\n{}",
        server.log()
    );
    let api = Api::new(&server, &token);
    let runner = RunnerClient::new(&server, &runner_token);

    let num = api.trigger().await;
    let job = runner.claim().await;
    runner.step_started(&job, 0, "echo building").await;
    let output = format!("/jobs/{}/steps/0/output", job.id);
    let heartbeat = format!("/jobs/{}/heartbeat", job.id);
    let finish = format!("/jobs/{}/finish", job.id);
    let before = runner
        .request(Method::POST, &output)
        .body("written before the disk filled\n")
        .send()
        .await
        .unwrap();
    assert_eq!(before.status(), 204);
    assert_eq!(runner_call(&runner, &heartbeat, None).await.0, 200);
    assert_eq!(api.get("/readyz").await.0, 200);

    let filler = seen.join("filler");
    fill(&filler);

    // Heartbeats store whole seconds, and SQLite writes nothing for a row left as it was: a
    // heartbeat within the second of the last one needs no space. The next second's does.
    let deadline = Instant::now() + Duration::from_secs(10);
    let refused = loop {
        let reply = runner_call(&runner, &heartbeat, None).await;
        if reply.0 != 200 || Instant::now() > deadline {
            break reply;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    says_full("heartbeat", &refused);
    let lost = runner
        .request(Method::POST, &output)
        .body("written while the disk was full\n")
        .send()
        .await
        .unwrap();
    let lost = (lost.status().as_u16(), lost.text().await.unwrap());
    says_full("output", &lost);
    let (status, body) = api
        .post(
            "/api/v2/project/gh/acme/widget/pipeline",
            json!({"branch": "main"}),
        )
        .await;
    says_full("trigger", &(status, body.to_string()));
    let browser = Browser::new(&server);
    let login = browser.log_in("alice", PASSWORD).await;
    assert_eq!(login.status(), 507);
    let page = login.text().await.unwrap();
    assert!(
        page.contains("<html") && page.contains("database storage is full"),
        "the login page says why:\n{page}"
    );
    says_full(
        "finish",
        &runner_call(
            &runner,
            &finish,
            Some(json!({"outcome": "success", "message": null})),
        )
        .await,
    );
    let (status, body) = api.get("/readyz").await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("storage is full"), "{body}");
    assert_eq!(api.get("/healthz").await.0, 200);
    // Reads still work: the job is shown as it was.
    let build = api
        .json(&format!("/api/v1.1/project/gh/acme/widget/{num}"))
        .await;
    assert_eq!(build["lifecycle"], "running", "{build}");

    std::fs::remove_file(&filler).expect("free the space");
    let deadline = Instant::now() + DEADLINE;
    while api.get("/readyz").await.0 != 200 {
        assert!(
            Instant::now() < deadline,
            "/readyz did not come back within {DEADLINE:?} of freeing space:\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let build = api.finished(num).await;
    assert_eq!(build["status"], "infrastructure_fail", "{build}");
    let out = api.output(&build).await;
    assert!(
        out.contains("written before the disk filled")
            && out.contains("database storage was full while this job ran"),
        "the job's output says why it ended:\n{out}"
    );
    assert_eq!(runner_call(&runner, &heartbeat, None).await.0, 409);
    let login = Browser::new(&server).log_in("alice", PASSWORD).await;
    assert_eq!(login.status(), 303, "logins work again");
    let (status, body) = api
        .post(
            "/api/v2/project/gh/acme/widget/pipeline",
            serde_json::json!({"branch": "main"}),
        )
        .await;
    assert_eq!(status, 201, "triggers work again: {body}\n{}", server.log());
    assert_eq!(body["number"].as_i64(), Some(num + 1), "{body}");

    server.wait_for("a log line about the full disk", |l| {
        l.contains("the database's storage is full")
    });
    assert!(server.is_running());
    let (status, log) = server.stop();
    assert!(status.success(), "{log}");
}
