//! End to end (issue 5, artifacts): a job of a real repository writes files, `store_artifacts`
//! in the real embedded runner uploads them to `circlet serve`, v1.1 and v2 list them, and they
//! download with every credential form, ranges included; a Status token is refused and a Build
//! Artifacts token allowed. The bytes land under `<data dir>/artifacts`.

use crate::builds::{Api, setup};
use base64::Engine;
use circlet_store::BackendKind;
use circlet_testkit::GitRepo;
use circlet_testkit::both_backends;
use serde_json::Value;

both_backends!(a_job_stores_artifacts_that_clients_list_and_download);

const CONFIG: &str = r#"
version: 2.1
jobs:
  build:
    steps:
      - checkout
      - run:
          name: write artifacts
          command: |
            mkdir -p /tmp/ignored out/deep
            printf 'hello artifacts\n' > out/report.txt
            printf '<h1>hi</h1>' > out/deep/index.html
            head -c 300000 /dev/zero | tr '\0' 'x' > out/big.log
      - store_artifacts:
          path: out
          destination: results
      - store_artifacts:
          path: out/report.txt
workflows:
  main:
    jobs: [build]
"#;

async fn a_job_stores_artifacts_that_clients_list_and_download(kind: BackendKind) {
    let repo = GitRepo::with_config(CONFIG);
    let (inst, token) = setup(kind, &repo).await;
    let server = inst.serve();
    let api = Api::new(&server, &token);
    let num = api.trigger().await;
    let build = api.finished(num).await;
    assert_eq!(
        build["status"],
        "success",
        "{build}\n{}",
        api.output(&build).await
    );

    let listed = api
        .json(&format!("/api/v1.1/project/gh/acme/widget/{num}/artifacts"))
        .await;
    let paths: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        [
            "out/report.txt",
            "results/big.log",
            "results/deep/index.html",
            "results/report.txt"
        ],
        "{listed}"
    );
    let v2 = api
        .json(&format!("/api/v2/project/gh/acme/widget/{num}/artifacts"))
        .await;
    assert_eq!(v2["items"].as_array().unwrap().len(), 4, "{v2}");
    assert_eq!(v2["next_page_token"], Value::Null);
    let url = |path: &str| -> String {
        listed
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["path"] == path)
            .unwrap()["url"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let report = url("results/report.txt");
    assert!(
        report.starts_with(&server.url("/artifacts/gh/acme/widget/")),
        "{report}"
    );

    let http = reqwest::Client::new();
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{token}:"));
    for (form, rb) in [
        ("header", http.get(&report).header("Circle-Token", &token)),
        ("bearer", http.get(&report).bearer_auth(&token)),
        (
            "basic",
            http.get(&report)
                .header("authorization", format!("Basic {basic}")),
        ),
        ("query", http.get(format!("{report}?circle-token={token}"))),
    ] {
        let r = rb.send().await.unwrap();
        assert_eq!(r.status(), 200, "{form}");
        assert_eq!(r.text().await.unwrap(), "hello artifacts\n", "{form}");
    }
    let big = url("results/big.log");
    let part = http
        .get(&big)
        .header("Circle-Token", &token)
        .header("range", "bytes=299990-")
        .send()
        .await
        .unwrap();
    assert_eq!(part.status(), 206);
    assert_eq!(
        part.headers()["content-range"],
        "bytes 299990-299999/300000"
    );
    assert_eq!(part.text().await.unwrap(), "x".repeat(10));
    let html = http
        .get(url("results/deep/index.html"))
        .header("Circle-Token", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(html.headers()["x-content-type-options"], "nosniff");
    assert!(
        html.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment")
    );

    // Project tokens: Status refused, Build Artifacts allowed.
    let project_token = async |scope: &str| {
        let (status, body) = api
            .post(
                "/api/v1.1/project/gh/acme/widget/token",
                serde_json::json!({"scope": scope, "label": scope}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        body["token"].as_str().unwrap().to_owned()
    };
    let status = project_token("status").await;
    let artifacts = project_token("view-builds").await;
    let r = http
        .get(format!("{report}?circle-token={status}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = http
        .get(format!("{report}?circle-token={artifacts}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // The bytes live in the data dir's artifact store.
    let stored = inst.data_dir.join("artifacts");
    assert!(stored.is_dir(), "{}", stored.display());
    let latest = api
        .json("/api/v1.1/project/gh/acme/widget/latest/artifacts?branch=main")
        .await;
    assert_eq!(latest, listed);
}
