//! Scale-out (issue 6): three `circlet serve` replicas on one PostgreSQL database and one S3
//! bucket (moto on loopback), two `circlet runner` processes, no sticky sessions. The scenario
//! lives in `scripts/scale-out`, so that an operator can run exactly what this test runs; see
//! its documentation for what it checks. Here it runs against the binary under test and a
//! fresh test database, and must end with status 0.

use super::BIN;
use circlet_store::testkit::TestDb;
use std::process::Command;
use std::time::Duration;

/// The whole scenario (start-ups, six builds, downloads) takes well under this.
const SCENARIO_DEADLINE: Duration = Duration::from_secs(300);

#[tokio::test]
async fn three_replicas_on_one_postgres_and_one_bucket_act_as_one() {
    let db = TestDb::postgres().await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/scale-out");
    let mut cmd = Command::new("python3");
    cmd.args([script, "--bin", BIN, "--database-url", &db.url]);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("CIRCLET_") && key != "CIRCLET_MOTO_SERVER" {
            cmd.env_remove(&key);
        }
    }
    let output = tokio::task::spawn_blocking(move || {
        let child = cmd
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start python3 scripts/scale-out");
        let pid = child.id();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(child.wait_with_output());
        });
        match rx.recv_timeout(SCENARIO_DEADLINE) {
            Ok(output) => output.expect("wait for scripts/scale-out"),
            Err(_) => {
                // The script stops what it started when terminated.
                let _ = Command::new("kill")
                    .args(["-TERM", &pid.to_string()])
                    .status();
                panic!("scripts/scale-out did not finish within {SCENARIO_DEADLINE:?}");
            }
        }
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "scripts/scale-out failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    for claim in [
        "a session made on one replica works on all three",
        "ran exactly once each",
        "downloads through every replica with the same bytes",
        "refused by the others on the next request",
        "all held",
    ] {
        assert!(stdout.contains(claim), "missing {claim:?} in:\n{stdout}");
    }
}
