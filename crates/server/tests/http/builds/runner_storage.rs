//! Caches and workspaces (issue 14) with the real runner, sandboxed, against the real server:
//! a cache saved by one build restored by the next (and by a prefix once its exact key misses),
//! a saved key never replaced; workspace layers flowing down a workflow in the graph's order, a
//! clash between concurrent jobs, a retry seeing the original's workspace; bad paths and keys
//! failing their step with the reason; uploads that break off leaving nothing to restore.

use super::{Fx, SLUG};
use crate::app::TestApp;
use circlet_testkit::both_backends;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// Waits until build `n` has ended; its v1.1 JSON.
pub(super) async fn finished(fx: &Fx, n: i64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let r = fx.get(&format!("/api/v1.1/project/{SLUG}/{n}")).await;
        if r.status == 200 && r.body["lifecycle"] == "finished" {
            return r.body;
        }
        assert!(
            Instant::now() < deadline,
            "build {n} did not finish: {}",
            r.text
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Build `n`'s status once ended, and every step's output, `== name ==` before each.
pub(super) async fn run_of(fx: &Fx, n: i64) -> (String, String) {
    let b = finished(fx, n).await;
    let mut text = String::new();
    for step in b["steps"].as_array().unwrap() {
        let action = &step["actions"][0];
        text.push_str(&format!(
            "== {} ==\n",
            action["name"].as_str().unwrap_or("")
        ));
        if let Some(url) = action["output_url"].as_str() {
            let out = fx.get(url.strip_prefix(&fx.app.url).unwrap()).await;
            for m in out.body.as_array().into_iter().flatten() {
                text.push_str(m["message"].as_str().unwrap_or(""));
            }
        }
    }
    (b["status"].as_str().unwrap().to_owned(), text)
}

/// The builds of the pipeline `trigger` answered, by job name.
pub(super) async fn jobs_of(fx: &Fx, pipeline: &Value) -> Vec<(String, i64)> {
    let id = pipeline["id"].as_str().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let wf = fx.get(&format!("/api/v2/pipeline/{id}/workflow")).await;
        if let Some(items) = wf.body["items"].as_array()
            && !items.is_empty()
        {
            let mut all = Vec::new();
            for w in items {
                let jobs = fx
                    .get(&format!(
                        "/api/v2/workflow/{}/job",
                        w["id"].as_str().unwrap()
                    ))
                    .await;
                for j in jobs.body["items"].as_array().unwrap() {
                    all.push((
                        j["name"].as_str().unwrap().to_owned(),
                        j["job_number"].as_i64().unwrap(),
                    ));
                }
            }
            return all;
        }
        assert!(Instant::now() < deadline, "no workflows: {}", wf.text);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub(super) fn num(jobs: &[(String, i64)], name: &str) -> i64 {
    jobs.iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("no job {name}: {jobs:?}"))
        .1
}

const CACHING: &str = r#"version: 2.1
jobs:
  build:
    steps:
      - checkout
      - restore_cache:
          keys:
            - deps-{{ .Branch }}-{{ checksum "deps.txt" }}
            - deps-{{ .Branch }}-
      - run:
          name: install
          command: |
            if [ -f ~/.deps/installed ]; then
              echo "from cache: $(cat ~/.deps/installed) $(cat vendor/lib.txt)"
            else
              mkdir -p ~/.deps vendor
              echo "built-$CIRCLE_BUILD_NUM" > ~/.deps/installed
              echo "vendored" > vendor/lib.txt
              echo "installed afresh"
            fi
      - save_cache:
          key: deps-{{ .Branch }}-{{ checksum "deps.txt" }}
          paths: [~/.deps, vendor]
workflows:
  main:
    jobs: [build]
"#;

both_backends! {
    setup = TestApp::spawn;

    async fn a_cache_saved_by_one_build_is_restored_by_the_next(app) {
        let fx = Fx::new(app).await;
        fx.repo.commit(&[(".circleci/config.yml", CACHING), ("deps.txt", "serde 1\n")], "cache deps");
        let _runner = fx.app.start_runner().await;

        fx.v2_trigger(&json!({"branch": "main"})).await;
        let (status, out) = run_of(&fx, 1).await;
        assert_eq!(status, "success", "{out}");
        assert!(out.contains("No cache is found for key: deps-main-"), "{out}");
        assert!(out.contains("installed afresh"), "{out}");
        assert!(out.contains("Stored cache deps-main-"), "{out}");
        assert!(out.contains("2 files"), "{out}");

        // The same key again: restored exactly, and not saved a second time.
        fx.v2_trigger(&json!({"branch": "main"})).await;
        let (status, out) = run_of(&fx, 2).await;
        assert_eq!(status, "success", "{out}");
        assert!(out.contains("Found a cache from build 1 at deps-main-"), "{out}");
        assert!(out.contains("from cache: built-1 vendored"), "{out}");
        assert!(out.contains("Skipping cache generation, cache already exists for key: deps-main-"), "{out}");

        // A new lock file: the exact key misses, the prefix finds build 1's cache, and the new
        // key is saved.
        fx.repo.commit(&[("deps.txt", "serde 2\n")], "bump");
        fx.v2_trigger(&json!({"branch": "main"})).await;
        let (status, out) = run_of(&fx, 3).await;
        assert_eq!(status, "success", "{out}");
        assert!(out.contains("Found a cache from build 1"), "{out}");
        assert!(out.contains("Stored cache deps-main-"), "{out}");
        let use_now = fx.app.store.caches().usage(fx.project.id).await.unwrap();
        assert_eq!(use_now.caches, 2, "{use_now:?}");
        assert!(use_now.cache_bytes > 0);

        // The newest cache matching a prefix wins: build 3's (it restores "built-1", as it
        // restored that before saving).
        fx.repo.commit(&[("deps.txt", "serde 3\n")], "bump again");
        fx.v2_trigger(&json!({"branch": "main"})).await;
        let (_, out) = run_of(&fx, 4).await;
        assert!(out.contains("Found a cache from build 3"), "{out}");
    }

    async fn workspaces_flow_down_the_graph_and_concurrent_clashes_fail(app) {
        let fx = Fx::new(app).await;
        let config = r#"version: 2.1
jobs:
  make:
    steps:
      - run: mkdir -p out && echo a > out/a.txt && echo from-make > out/shared.txt
      - persist_to_workspace: {root: out, paths: [a.txt, shared.txt]}
  left:
    steps:
      - run: mkdir -p out && echo from-left > out/shared.txt && echo l > out/left.txt
      - persist_to_workspace: {root: out, paths: ["*.txt"]}
  right:
    steps:
      - run: mkdir -p ~/w/sub && echo r > ~/w/sub/right.txt
      - persist_to_workspace: {root: ~/w, paths: [sub]}
  use:
    steps:
      - attach_workspace: {at: /tmp/ws}
      - run: cat /tmp/ws/a.txt /tmp/ws/shared.txt /tmp/ws/left.txt /tmp/ws/sub/right.txt
  clash-a:
    steps:
      - run: mkdir -p out && echo one > out/same.txt
      - persist_to_workspace: {root: out, paths: [same.txt]}
  clash-b:
    steps:
      - run: mkdir -p out && echo two > out/same.txt
      - persist_to_workspace: {root: out, paths: [same.txt]}
  clash-use:
    steps:
      - attach_workspace: {at: ws}
workflows:
  flow:
    jobs:
      - make
      - left: {requires: [make]}
      - right: {requires: [make]}
      - use: {requires: [left, right]}
  clash:
    jobs:
      - clash-a
      - clash-b
      - clash-use: {requires: [clash-a, clash-b]}
"#;
        fx.repo.commit(&[(".circleci/config.yml", config)], "workspaces");
        let _runner = fx.app.start_runner().await;
        let pipeline = fx.v2_trigger(&json!({"branch": "main"})).await;
        let jobs = jobs_of(&fx, &pipeline).await;

        let (status, out) = run_of(&fx, num(&jobs, "use")).await;
        assert_eq!(status, "success", "{out}");
        // `left` ran after `make`, so its shared.txt replaces make's.
        assert!(out.contains("a\nfrom-left\nl\nr\n"), "{out}");
        assert!(out.contains("Attached 3 layers"), "{out}");

        let (status, out) = run_of(&fx, num(&jobs, "clash-use")).await;
        assert_eq!(status, "failed", "{out}");
        assert!(out.contains("same.txt was persisted by both clash-"), "{out}");
        assert!(out.contains("which ran concurrently"), "{out}");

        // A retry of `use` attaches the same workspace.
        let n = num(&jobs, "use");
        let r = fx.post_empty(&format!("/api/v1.1/project/{SLUG}/{n}/retry")).await;
        r.status_is(201);
        let retry = r.body["build_num"].as_i64().unwrap();
        let (status, out) = run_of(&fx, retry).await;
        assert_eq!(status, "success", "{out}");
        assert!(out.contains("a\nfrom-left\nl\nr\n"), "{out}");
    }

    async fn bad_paths_and_keys_fail_their_step_with_the_reason(app) {
        let fx = Fx::new(app).await;
        let config = r#"version: 2.1
jobs:
  outside:
    steps:
      - save_cache: {key: k1, paths: [/etc]}
  template:
    steps:
      - restore_cache: {keys: ["v1-{{ .Brunch }}"]}
  escape:
    steps:
      - run: mkdir -p out
      - persist_to_workspace: {root: out, paths: [../secret]}
  missing:
    steps:
      - run: mkdir -p out
      - persist_to_workspace: {root: out, paths: [nothing-here]}
workflows:
  main:
    jobs: [outside, template, escape, missing]
"#;
        fx.repo.commit(&[(".circleci/config.yml", config)], "bad input");
        let _runner = fx.app.start_runner().await;
        let pipeline = fx.v2_trigger(&json!({"branch": "main"})).await;
        let jobs = jobs_of(&fx, &pipeline).await;
        for (job, says) in [
            ("outside", "/etc (/etc) is outside the job's directories"),
            ("template", "uses {{ .Brunch }}; the templates are"),
            ("escape", "'../secret' leaves the workspace root"),
            ("missing", "'nothing-here' matches no files"),
        ] {
            let (status, out) = run_of(&fx, num(&jobs, job)).await;
            assert_eq!(status, "failed", "{job}: {out}");
            assert!(out.contains(says), "{job}: {out}");
        }
        assert_eq!(fx.app.store.caches().usage(fx.project.id).await.unwrap().caches, 0);
    }

    async fn an_upload_that_breaks_off_leaves_nothing_to_restore(app) {
        let fx = Fx::new(app).await;
        let runner = fx.runner("played").await;
        fx.v1_trigger("main", &json!({"build_parameters": {"CIRCLE_JOB": "build"}})).await;
        let job = runner.claim_some().await;
        let id = job["id"].as_str().unwrap();
        let http = reqwest::Client::new();
        let base = fx.app.at(circlet_core::runner_protocol::BASE_PATH);
        let put = |key: &str| {
            http.put(format!("{base}/jobs/{id}/caches"))
                .query(&[("key", key)])
                .bearer_auth(&runner.token)
        };
        // A body that fails mid-way, as when the runner cannot finish the archive.
        let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
            vec![Ok(vec![1u8; 4096]), Err(std::io::Error::other("disk gone"))];
        let broken = put("k")
            .body(reqwest::Body::wrap_stream(futures_util::stream::iter(chunks)))
            .send()
            .await;
        if let Ok(r) = broken {
            assert!(r.status().is_client_error(), "{}", r.status());
        }
        let lookup = http
            .post(format!("{base}/jobs/{id}/caches/lookup"))
            .bearer_auth(&runner.token)
            .json(&json!({"keys": ["k"]}))
            .send()
            .await
            .unwrap();
        assert_eq!(lookup.status(), 204, "nothing was kept");
        assert_eq!(fx.app.store.caches().usage(fx.project.id).await.unwrap().caches, 0);

        // A whole upload is kept once; the second is refused politely; bad keys are 400s.
        let first = put("k").body(vec![7u8; 100]).send().await.unwrap();
        assert_eq!(first.status(), 201);
        assert_eq!(first.json::<Value>().await.unwrap(), json!({"stored": true}));
        let again = put("k").body(vec![8u8; 100]).send().await.unwrap();
        assert_eq!(again.status(), 200);
        assert_eq!(again.json::<Value>().await.unwrap(), json!({"stored": false}));
        for bad in ["", &"x".repeat(901), "a\nb"] {
            let r = put(bad).body(vec![1u8]).send().await.unwrap();
            assert_eq!(r.status(), 400, "{bad:?}");
            let body: Value = r.json().await.unwrap();
            assert!(body["message"].as_str().unwrap().contains("cache key"), "{body}");
        }
        let found: Value = http
            .post(format!("{base}/jobs/{id}/caches/lookup"))
            .bearer_auth(&runner.token)
            .json(&json!({"keys": ["nope", "k"]}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(found["key"], "k");
        assert_eq!(found["size_bytes"], 100);
        let got = http
            .get(format!("{base}/jobs/{id}/caches/{}", found["id"]))
            .bearer_auth(&runner.token)
            .send()
            .await
            .unwrap();
        assert_eq!(got.status(), 200);
        assert_eq!(got.bytes().await.unwrap().as_ref(), &[7u8; 100][..]);
        // Another project's cache, or none, is not found.
        let elsewhere = fx.app.project(&fx.user, "gh/acme/other", false).await;
        let caches = fx.app.store.caches();
        let new = circlet_store::NewCache {
            project_id: elsewhere.id,
            cache_key: "k",
            object: "caches/elsewhere/x",
            size: 1,
            build_num: 1,
        };
        let epoch = time::OffsetDateTime::UNIX_EPOCH;
        caches.record(&new, epoch).await.unwrap();
        let theirs = caches.find(elsewhere.id, &["k".into()], epoch).await.unwrap().unwrap();
        for cache in [theirs.id, 999_999] {
            let other = http
                .get(format!("{base}/jobs/{id}/caches/{cache}"))
                .bearer_auth(&runner.token)
                .send()
                .await
                .unwrap();
            assert_eq!(other.status(), 404);
        }
    }

    async fn project_settings_show_the_space_and_set_the_retention(app) {
        let fx = Fx::new(app).await;
        let caches = fx.app.store.caches();
        let epoch = time::OffsetDateTime::UNIX_EPOCH;
        for (key, size) in [("a", 1536), ("b", 2 * 1024 * 1024)] {
            let new = circlet_store::NewCache {
                project_id: fx.project.id,
                cache_key: key,
                object: key,
                size,
                build_num: 1,
            };
            caches.record(&new, epoch).await.unwrap();
        }
        let page = format!("/projects/{SLUG}/settings/storage");
        let admin = fx.app.logged_in("ada").await;
        let html = admin.get(fx.app.at(&page)).send().await.unwrap().text().await.unwrap();
        assert!(html.contains(r#"<td id="cache-count">2</td>"#), "{html}");
        assert!(html.contains(r#"<td id="cache-size">2.0 MiB</td>"#), "{html}");
        assert!(html.contains(r#"value="15""#), "the default retention: {html}");

        for bad in ["0", "366", "soon"] {
            let r = fx.app.post_form(&admin, &page, &page, &[("days", bad)]).await;
            assert_eq!(r.status(), 400, "{bad}");
            let html = r.text().await.unwrap();
            assert!(html.contains("id=\"error-message\""), "{bad}: {html}");
        }
        let r = fx.app.post_form(&admin, &page, &page, &[("days", "30")]).await;
        assert_eq!(r.status(), 200);
        assert!(r.text().await.unwrap().contains("now kept for 30 days"));
        assert_eq!(caches.retention_days(fx.project.id).await.unwrap(), 30);

        // A reader of the project may not see or change it.
        let reader = fx.app.user("rita", false).await;
        fx.app.store.projects().set_member(fx.project.id, reader.id, circlet_core::Role::Read).await.unwrap();
        let rita = fx.app.logged_in("rita").await;
        let r = rita.get(fx.app.at(&page)).send().await.unwrap();
        assert_eq!(r.status(), 403);
        let r = rita.post(fx.app.at(&page)).form(&[("days", "1")]).send().await.unwrap();
        assert!(r.status().is_client_error());
        assert_eq!(caches.retention_days(fx.project.id).await.unwrap(), 30);
    }
}
