//! HTTPS (issue 14): `circlet serve --tls-cert --tls-key` with a certificate from a certificate
//! authority the test makes, a `circlet runner` reaching it over https with `--ca-file` (and
//! refusing it without), the embedded runner reaching it over its loopback listener, and links
//! that say https.

use crate::builds::{RunnerProcess, setup};
use crate::{DEADLINE, Server};
use circlet_store::BackendKind;
use circlet_testkit::GitRepo;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant};

/// Writes `ca.pem`, `cert.pem` (for `localhost` and 127.0.0.1, signed by the CA) and `key.pem`
/// into `dir`.
fn make_certificates(dir: &Path) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "circlet test CA");
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    std::fs::write(dir.join("ca.pem"), ca_cert.pem()).unwrap();
    std::fs::write(dir.join("cert.pem"), leaf.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), key.serialize_pem()).unwrap();
}

fn https_client(ca: Option<&Path>) -> reqwest_tls::Client {
    let mut b = reqwest_tls::Client::builder();
    if let Some(ca) = ca {
        let pem = std::fs::read(ca).unwrap();
        b = b.tls_certs_only(reqwest_tls::Certificate::from_pem_bundle(&pem).unwrap());
    }
    b.build().unwrap()
}

/// Build `n`'s v1.1 JSON once it finished.
async fn finished(http: &reqwest_tls::Client, base: &str, token: &str, n: i64) -> Value {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let r = http
            .get(format!("{base}/api/v1.1/project/gh/acme/widget/{n}"))
            .header("Circle-Token", token)
            .send()
            .await
            .unwrap();
        let body: Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap_or_default();
        if body["lifecycle"] == "finished" {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "build {n} did not finish: {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn trigger(http: &reqwest_tls::Client, base: &str, token: &str) -> i64 {
    let r = http
        .post(format!("{base}/api/v2/project/gh/acme/widget/pipeline"))
        .header("Circle-Token", token)
        .header("content-type", "application/json")
        .body(r#"{"branch": "main"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let body: Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
    body["number"].as_i64().unwrap()
}

#[tokio::test]
async fn https_serves_runners_with_a_private_ca_and_the_embedded_runner() {
    let repo = GitRepo::with_config(
        "version: 2.1\njobs:\n  build:\n    steps:\n      - checkout\n      - run: echo over tls\nworkflows:\n  main:\n    jobs: [build]\n",
    );
    let (inst, token) = setup(BackendKind::Sqlite, &repo).await;
    let certs = tempfile::tempdir().unwrap();
    make_certificates(certs.path());
    let tls_args = |runners: &str| {
        let mut args = inst.args();
        args.extend([
            "--listen".into(),
            "127.0.0.1:0".into(),
            "--runners".into(),
            runners.into(),
            "--tls-cert".into(),
            certs.path().join("cert.pem").into(),
            "--tls-key".into(),
            certs.path().join("key.pem").into(),
        ]);
        args
    };

    // A server without a runner of its own; the one runner is a process of its own.
    let server = Server::start(inst.db.dir(), &tls_args("0"));
    let base = server.url("");
    assert!(base.starts_with("https://"), "{base}");
    let ca = certs.path().join("ca.pem");
    let trusted = https_client(Some(&ca));
    let health = trusted.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    // The system's roots do not know the test's CA; plain HTTP gets no answer.
    let untrusted = https_client(None)
        .get(format!("{base}/healthz"))
        .send()
        .await;
    assert!(
        untrusted.is_err(),
        "a certificate from an unknown CA is refused"
    );
    let plain = reqwest::get(format!("http://{}/healthz", server.addr)).await;
    assert!(plain.is_err() || !plain.unwrap().status().is_success());

    let n = trigger(&trusted, &base, &token).await;
    let runner_token = inst
        .admin(&["runner-token", "create", "tls-worker"], None)
        .ok()
        .trim()
        .to_owned();
    let work = tempfile::tempdir().unwrap();
    let mut runner = RunnerProcess::start_with(&server, &runner_token, work.path(), Some(&ca));
    let build = finished(&trusted, &base, &token, n).await;
    assert_eq!(build["status"], "success", "{build}");
    assert!(
        build["build_url"].as_str().unwrap().starts_with("https://"),
        "links say https: {build}"
    );
    assert!(runner.stop().success());

    // A runner that does not trust the CA cannot claim; it says why and keeps trying.
    let (status, log) = {
        let mut lost = RunnerProcess::start_logged(&server, &runner_token, work.path());
        let log = lost.wait_for_log("cannot claim work");
        (lost.stop(), log)
    };
    assert!(status.success());
    assert!(log.contains("https://"), "{log}");
    let (_, server_log) = server.stop();
    assert!(!server_log.contains(&runner_token));

    // The embedded runner reaches an HTTPS server over its own loopback listener.
    let server = Server::start(inst.db.dir(), &tls_args("1"));
    let base = server.url("");
    let n = trigger(&trusted, &base, &token).await;
    let build = finished(&trusted, &base, &token, n).await;
    assert_eq!(build["status"], "success", "{build}");
}

#[test]
fn a_certificate_without_its_key_or_a_wrong_key_is_refused_at_start() {
    let certs = tempfile::tempdir().unwrap();
    make_certificates(certs.path());
    let other = tempfile::tempdir().unwrap();
    make_certificates(other.path());
    let cert = certs.path().join("cert.pem");
    let cases: [(Vec<std::ffi::OsString>, &[&str]); 3] = [
        (vec!["--tls-cert".into(), cert.clone().into()], &["no key"]),
        (
            vec![
                "--tls-cert".into(),
                cert.clone().into(),
                "--tls-key".into(),
                other.path().join("key.pem").into(),
            ],
            &["does not fit the certificate"],
        ),
        (
            vec![
                "--tls-cert".into(),
                certs.path().join("missing.pem").into(),
                "--tls-key".into(),
                certs.path().join("key.pem").into(),
            ],
            &["cannot read the TLS certificate"],
        ),
    ];
    for (args, says) in cases {
        let data = tempfile::tempdir().unwrap();
        let mut cmd = crate::circlet(data.path());
        cmd.args(["--data-dir"])
            .arg(data.path())
            .args(["--listen", "127.0.0.1:0", "--runners", "0"])
            .args(&args)
            .arg("serve");
        crate::Run::of(cmd, None).fails_with(says);
    }
}
