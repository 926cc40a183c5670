//! `--secret-scanning-keys` end to end: `serve` checks a keys file before it makes anything,
//! and takes leak reports signed with its keys (here a key and signature made by OpenSSL 3.0,
//! an implementation other than the one circlet verifies with); without the setting the
//! endpoint is off.

use crate::{Instance, Run, circlet};
use circlet_store::BackendKind;
use serde_json::{Value, json};
use std::ffi::OsString;
use std::fs;

/// `openssl ecparam -name prime256v1 -genkey -noout -out k.pem; openssl ec -in k.pem -pubout`.
const PEM: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEr2ENfS+Unv2l8bDbF93lm5wyQbFA
yH8MS1L87Y2FjMHG26gKmlsqXNzXhig4kX5j731Jm6CXgJztst+H+uB8Vg==
-----END PUBLIC KEY-----
";
/// `printf '[]' | openssl dgst -sha256 -sign k.pem | base64 -w0`.
const SIGNATURE_OF_EMPTY: &str = "MEQCIFr/m8d9/OxYB3vPTBz9WTmMAEvZlfjT5iPYLjuetx+qAiBUD7Wb57+hXOvRX8EvuELAaWCvUy6yDGrhWAjlnyZfpA==";

const PATH: &str = "/api/secret-scanning/github";

async fn post(url: &str, signature: Option<&str>) -> (u16, Value) {
    let mut r = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .body("[]");
    if let Some(sig) = signature {
        r = r
            .header("Github-Public-Key-Identifier", "openssl-test")
            .header("Github-Public-Key-Signature", sig);
    }
    let r = r.send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn leak_reports_are_taken_with_scanner_keys_and_off_without() {
    let inst = Instance::new(BackendKind::Sqlite).await;
    let keys = inst.data_dir.join("..").join("scanner-keys.json");
    let doc = json!({"public_keys": [{"key_identifier": "openssl-test", "key": PEM, "is_current": true}]});
    fs::write(&keys, doc.to_string()).unwrap();

    let off = inst.serve();
    let (status, body) = post(&off.url(PATH), Some(SIGNATURE_OF_EMPTY)).await;
    assert_eq!(status, 404, "{body}");
    drop(off);

    let mut args = inst.args();
    args.extend([
        OsString::from("--secret-scanning-keys"),
        keys.clone().into(),
        "--listen".into(),
        "127.0.0.1:0".into(),
    ]);
    let on = crate::Server::start(inst.db.dir(), &args);
    assert!(
        on.log()
            .contains("leak reports from secret scanners on, 1 key(s)"),
        "{}",
        on.log()
    );
    let (status, body) = post(&on.url(PATH), Some(SIGNATURE_OF_EMPTY)).await;
    assert_eq!((status, &body), (200, &json!([])));
    let (status, body) = post(&on.url(PATH), Some(SIGNATURE_OF_EMPTY)).await;
    assert_eq!(status, 409, "a replay: {body}");
    let (status, body) = post(&on.url(PATH), None).await;
    assert_eq!(status, 401, "{body}");
}

#[test]
fn a_keys_file_that_cannot_be_used_stops_serve_before_it_makes_anything() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    fs::write(dir.join("not-keys.json"), "{\"keys\": []}").unwrap();
    for (file, fragments) in [
        (
            "not-keys.json",
            &["secret-scanning keys", "not-keys.json", "public_keys"][..],
        ),
        (
            "missing.json",
            &["secret-scanning keys", "missing.json"][..],
        ),
    ] {
        let mut cmd = circlet(dir);
        cmd.args([
            "--data-dir",
            "data",
            "--listen",
            "127.0.0.1:0",
            "--secret-scanning-keys",
            file,
            "serve",
        ]);
        Run::of(cmd, None).fails_with(fragments);
        assert!(!dir.join("data").exists(), "{file}: nothing made");
    }
}
