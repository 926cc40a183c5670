//! Artifacts in an S3 bucket: the same upload, list and download against moto's S3-compatible
//! server on loopback (`moto_server`, from PyPI `moto[server]`; `scripts/test` installs it).
//! Uploads larger than one part go through S3's multipart API; an aborted upload leaves no object.

use super::*;
use circlet_app::artifacts::{ArtifactStorage, S3Credentials};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `moto_server` on a free loopback port, stopped when dropped.
struct Moto {
    child: Child,
    endpoint: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Moto {
    async fn start() -> Moto {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let bin = std::env::var("CIRCLET_MOTO_SERVER").unwrap_or_else(|_| "moto_server".into());
        let child = Command::new(&bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start {bin} ({e}); install it with: pip install 'moto[server]' (scripts/test does)")
            });
        let moto = Moto {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        let c = reqwest::Client::new();
        loop {
            if c.get(&moto.endpoint).send().await.is_ok() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "moto_server did not answer within 30 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        moto
    }

    /// Creates `bucket` (moto accepts unsigned requests).
    async fn bucket(&self, bucket: &str) {
        let r = reqwest::Client::new()
            .put(format!("{}/{bucket}", self.endpoint))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "create bucket: {}", r.status());
    }

    /// Every object key in `bucket`.
    async fn keys(&self, bucket: &str) -> Vec<String> {
        let xml = reqwest::Client::new()
            .get(format!("{}/{bucket}?list-type=2", self.endpoint))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        xml.split("<Key>")
            .skip(1)
            .map(|s| s.split("</Key>").next().unwrap().to_owned())
            .collect()
    }
}

async fn s3_round_trip(kind: circlet_store::BackendKind) {
    let moto = Moto::start().await;
    moto.bucket("circlet-test").await;
    let storage = ArtifactStorage::s3(
        "s3://circlet-test/pre/fix",
        Some(&moto.endpoint),
        Some(S3Credentials {
            access_key_id: "testing".into(),
            secret_access_key: "testing".to_owned().into(),
        }),
    )
    .unwrap()
    .with_limits(20 * 1024 * 1024, 40 * 1024 * 1024);
    assert_eq!(storage.location, "s3://circlet-test/pre/fix");
    let app = TestApp::spawn_with(kind, move |c| c.app.artifacts = storage).await;
    let fx = Fx::new(app).await;
    let (runner, id, num) = claimed(&fx).await;
    // 12 MiB: three parts of a multipart upload.
    let big: Vec<u8> = (0..12 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    let r = runner
        .put_artifact(&id, "out/big.bin", reqwest::Body::from(big.clone()))
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let r = runner
        .put_artifact(
            &id,
            "out/too-big.bin",
            reqwest::Body::from(vec![0u8; 21 * 1024 * 1024]),
        )
        .await;
    assert_eq!(r.status, 413, "{}", r.text);
    runner.finish(&id, "success").await;

    let keys = moto.keys("circlet-test").await;
    assert_eq!(
        keys,
        [format!("pre/fix/{}/{num}/0/out/big.bin", fx.project.uuid)],
        "only the completed upload, under the prefix"
    );
    let url = urls(&fx, num).await["out/big.bin"].clone();
    let c = reqwest::Client::new();
    let got = fetch(c.get(&url).header("Circle-Token", &fx.token)).await;
    assert_eq!(got.status, 200);
    assert!(got.body == big, "the download matches the upload");
    let part = fetch(
        c.get(&url)
            .header("Circle-Token", &fx.token)
            .header("range", "bytes=10485760-10485769"),
    )
    .await;
    assert_eq!(part.status, 206);
    assert_eq!(part.body, big[10_485_760..10_485_770]);
}

#[tokio::test]
async fn artifacts_in_s3_round_trip_sqlite() {
    s3_round_trip(circlet_store::BackendKind::Sqlite).await;
}

#[tokio::test]
async fn artifacts_in_s3_round_trip_postgres() {
    s3_round_trip(circlet_store::BackendKind::Postgres).await;
}
