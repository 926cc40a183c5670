//! The artifacts directory full: a job uploads an artifact larger than the space left. The
//! upload gets a clear 507 whose message the job's output shows, the upload step and the build
//! fail, the partial file is removed, and the server goes on serving, artifacts included. A
//! cache that does not fit fails its `save_cache` step the same way and leaves nothing to restore.
//!
//! The server runs in a private mount namespace (`unshare`) with a 2 MiB tmpfs on
//! `<data dir>/artifacts`: nothing is mounted on the host, and the mount goes with the process.

use super::{files_under, in_private_mounts};
use crate::builds::{Api, setup, v1_trigger};
use crate::{Server, circlet_wrapped};
use circlet_store::BackendKind;
use circlet_testkit::GitRepo;
use serde_json::Value;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The size of the artifacts filesystem.
const TMPFS: &str = "2m";

/// The artifact that does not fit: 8 MB, more than one 5 MiB part of the server's streamed
/// write, so the disk fills while the body is still arriving.
const BIG_BYTES: u64 = 8_000_000;

fn config() -> String {
    format!(
        r#"
version: 2
jobs:
  build:
    steps:
      - run: |
          mkdir -p out
          head -c {BIG_BYTES} /dev/urandom > out/big.bin
          printf 'small\n' > out/small.txt
      - store_artifacts:
          path: out
  after:
    steps:
      - run: mkdir -p out && printf 'after\n' > out/after.txt
      - store_artifacts:
          path: out
workflows:
  main:
    jobs: [build]
"#
    )
}

/// `unshare … sh -c 'mount a tmpfs on DIR; exec "$@"' DIR`: runs what follows with a small
/// tmpfs on `dir`, in a mount namespace of its own. As root that takes CAP_SYS_ADMIN; otherwise
/// a user namespace maps the caller to root in it.
fn tiny_fs(dir: &Path) -> Vec<OsString> {
    in_private_mounts(
        &format!(r#"mount -t tmpfs -o size={TMPFS},mode=0700 circlet-artifacts "$0" && exec "$@""#),
        &[dir],
    )
}

#[tokio::test]
async fn a_full_artifacts_disk_fails_the_upload_clearly_and_the_server_goes_on() {
    let repo = GitRepo::with_config(&config());
    let (inst, token) = setup(BackendKind::Sqlite, &repo).await;
    let artifacts = inst.data_dir.join("artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let wrapper = tiny_fs(&artifacts);
    let probe = Command::new(&wrapper[0])
        .args(&wrapper[1..])
        .arg("true")
        .output()
        .expect("run unshare (util-linux) and mount");
    assert!(
        probe.status.success(),
        "cannot mount a tmpfs in a private mount namespace ({:?}): {}\nThis test needs root \
         (or unprivileged user namespaces) and util-linux's unshare and mount.",
        wrapper,
        String::from_utf8_lossy(&probe.stderr)
    );
    let mut args = inst.args();
    args.extend(["--listen".into(), "127.0.0.1:0".into()]);
    let mut server = Server::start_command(circlet_wrapped(inst.db.dir(), &wrapper), &args);
    // The server's own view of the directory: the tmpfs is mounted in its namespace only.
    let seen: PathBuf = Path::new(&format!("/proc/{}/root", server.child.id()))
        .join(artifacts.strip_prefix("/").unwrap());
    let api = Api::new(&server, &token);

    let num = api.trigger().await;
    let build = api.finished(num).await;
    assert_eq!(build["status"], "failed", "{build}");
    let steps = build["steps"].as_array().unwrap();
    let upload = steps
        .iter()
        .map(|s| &s["actions"][0])
        .find(|a| a["name"] == "Uploading artifacts")
        .unwrap_or_else(|| panic!("no upload step: {build}"));
    assert_eq!(upload["status"], "failed", "{upload}");
    let url = upload["output_url"].as_str().unwrap();
    let output = api.json(&url[url.find("/api/").unwrap()..]).await;
    let output = output[0]["message"].as_str().unwrap();
    assert!(
        output.contains("Could not upload out/big.bin: the server answered 507")
            && output.contains("storage is full"),
        "the job's output says why the upload failed:\n{output}\nserver log:\n{}",
        server.log()
    );
    eprintln!("disk full, as the job shows it:\n{output}");
    let listed = api
        .json(&format!("/api/v1.1/project/gh/acme/widget/{num}/artifacts"))
        .await;
    let paths: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, ["out/small.txt"], "{listed}");

    // The partial file is gone: only the stored artifact is on the disk.
    let files = files_under(&seen);
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(files[0].ends_with("/out/small.txt"), "{files:?}");

    // The server goes on serving: the API, readiness, and artifacts that fit.
    assert_eq!(api.get("/api/v2/me").await.0, 200);
    assert_eq!(api.get("/readyz").await.0, 200);
    let next = v1_trigger(&api, &[("build_parameters[CIRCLE_JOB]", "after")]).await;
    let build = api.finished(next).await;
    assert_eq!(build["status"], "success", "{build}");
    let listed: Value = api
        .json(&format!(
            "/api/v1.1/project/gh/acme/widget/{next}/artifacts"
        ))
        .await;
    assert_eq!(listed[0]["path"], "out/after.txt", "{listed}");
    // The operator is told too.
    server.wait_for("a log line about the full disk", |l| {
        l.contains("artifact storage is full")
    });
    assert!(server.is_running());
    let (status, log) = server.stop();
    assert!(status.success(), "{log}");
}

/// Caches on the full disk: a `save_cache` whose archive does not fit fails its step with the
/// server's reason, and leaves no cache behind that a later job could restore.
const CACHE_CONFIG: &str = r#"
version: 2
jobs:
  save:
    steps:
      - run: mkdir -p ~/deps && head -c 8000000 /dev/urandom > ~/deps/big.bin
      - save_cache:
          key: deps-v1
          paths: [~/deps]
  restore:
    steps:
      - restore_cache:
          keys: [deps-]
      - run: test ! -e ~/deps/big.bin
workflows:
  main:
    jobs: [save]
"#;

#[tokio::test]
async fn a_cache_that_does_not_fit_fails_its_step_and_leaves_nothing_to_restore() {
    let repo = GitRepo::with_config(CACHE_CONFIG);
    let (inst, token) = setup(BackendKind::Sqlite, &repo).await;
    let artifacts = inst.data_dir.join("artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let wrapper = tiny_fs(&artifacts);
    let mut args = inst.args();
    args.extend(["--listen".into(), "127.0.0.1:0".into()]);
    let server = Server::start_command(circlet_wrapped(inst.db.dir(), &wrapper), &args);
    let seen: PathBuf = Path::new(&format!("/proc/{}/root", server.child.id()))
        .join(artifacts.strip_prefix("/").unwrap());
    let api = Api::new(&server, &token);

    let num = api.trigger().await;
    let build = api.finished(num).await;
    assert_eq!(build["status"], "failed", "{build}");
    let save = build["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| &s["actions"][0])
        .find(|a| {
            a["name"]
                .as_str()
                .is_some_and(|n| n.starts_with("Saving cache"))
        })
        .unwrap_or_else(|| panic!("no save_cache step: {build}"));
    assert_eq!(save["status"], "failed", "{save}");
    let url = save["output_url"].as_str().unwrap();
    let output = api.json(&url[url.find("/api/").unwrap()..]).await;
    let output = output[0]["message"].as_str().unwrap();
    assert!(
        output.contains("storage is full") && output.contains("No cache was saved"),
        "the step says why:\n{output}\nserver log:\n{}",
        server.log()
    );
    assert!(files_under(&seen).is_empty(), "no partial archive stays");

    let next = v1_trigger(&api, &[("build_parameters[CIRCLE_JOB]", "restore")]).await;
    let build = api.finished(next).await;
    assert_eq!(build["status"], "success", "nothing to restore: {build}");
}
