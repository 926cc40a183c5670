//! Artifacts (issue 5 items 1–3) at the level a client sees: a runner played over HTTP uploads
//! through the runner protocol; clients list them (v1.1, v2) and download them with every
//! credential form, ranges and validators; bad paths and oversized uploads are refused and leave
//! nothing behind, on disk or in the store.

use crate::app::TestApp;
use crate::builds::{Fx, PlayedRunner, SLUG, id_of};
use crate::tokens::{Reply, send};
use base64::Engine;
use circlet_core::scope::ProjectScope;
use circlet_testkit::both_backends;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::path::Path;

mod s3;

/// A build of `job build` on `main`, claimed by a fresh runner: the runner and the job id.
async fn claimed(fx: &Fx) -> (PlayedRunner, String, i64) {
    let runner = fx.runner("uploader").await;
    let made = fx
        .v1_trigger(
            "main",
            &json!({"build_parameters": {"CIRCLE_JOB": "build"}}),
        )
        .await;
    let job = runner.claim_some().await;
    assert_eq!(job["build_num"], made["build_num"]);
    let num = job["build_num"].as_i64().unwrap();
    (runner, id_of(&job).to_owned(), num)
}

/// A finished build whose runner uploaded `files` (path as sent in the URL, contents).
async fn built_with(fx: &Fx, files: &[(&str, &[u8])]) -> i64 {
    let (runner, id, num) = claimed(fx).await;
    for (path, bytes) in files {
        let r = runner
            .put_artifact(&id, path, reqwest::Body::from(bytes.to_vec()))
            .await;
        assert_eq!(r.status, 204, "upload {path}: {}", r.text);
    }
    runner.finish(&id, "success").await;
    num
}

/// Every file below `dir`, as paths relative to it.
fn files_under(dir: &Path) -> BTreeSet<String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeSet<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries {
            let e = e.unwrap();
            let p = e.path();
            if e.file_type().unwrap().is_dir() {
                walk(root, &p, out);
            } else {
                out.insert(p.strip_prefix(root).unwrap().display().to_string());
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(dir, dir, &mut out);
    out
}

/// A raw download: status, headers, body bytes.
struct Got {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Vec<u8>,
}

impl Got {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }
}

async fn fetch(rb: reqwest::RequestBuilder) -> Got {
    let r = rb.send().await.unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let body = r.bytes().await.unwrap().to_vec();
    assert!(status < 500, "server error {status}");
    Got {
        status,
        headers,
        body,
    }
}

/// The artifact URLs of build `num`, by path, from the v1.1 list.
async fn urls(fx: &Fx, num: i64) -> std::collections::BTreeMap<String, String> {
    let r = fx
        .get(&format!("/api/v1.1/project/{SLUG}/{num}/artifacts"))
        .await;
    r.status_is(200);
    r.body
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["path"].as_str().unwrap().to_owned(),
                a["url"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

const REPORT: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";

both_backends! {
    setup = TestApp::spawn;
    async fn artifacts_are_listed_by_v1_1_and_v2(app) {
        let fx = Fx::new(app).await;
        let num = built_with(&fx, &[
            ("out/report.txt", REPORT),
            ("out/deep/er/page.html", b"<script>alert(1)</script>"),
            ("test%20results/a%3Fb%23c.xml", b"<x/>"),
        ]).await;
        let base = format!("{}/artifacts/gh/acme/widget/{num}/0", fx.app.url);
        let want = [
            ("out/deep/er/page.html", format!("{base}/out/deep/er/page.html")),
            ("out/report.txt", format!("{base}/out/report.txt")),
            ("test results/a?b#c.xml", format!("{base}/test%20results/a%3Fb%23c.xml")),
        ];

        for path in [
            format!("/api/v1.1/project/{SLUG}/{num}/artifacts"),
            format!("/api/v1.1/project/github/acme/widget/{num}/artifacts"),
            format!("/api/v1/project/acme/widget/{num}/artifacts"),
        ] {
            let r = fx.get(&path).await;
            r.status_is(200);
            let items = r.body.as_array().unwrap();
            assert_eq!(items.len(), 3, "{path}: {}", r.body);
            for (item, (p, url)) in items.iter().zip(&want) {
                assert_eq!(item, &json!({"path": p, "pretty_path": p, "node_index": 0, "url": url}), "{path}");
            }
        }

        for path in [
            format!("/api/v2/project/{SLUG}/{num}/artifacts"),
            format!("/api/v2/project/gh%2Facme%2Fwidget/{num}/artifacts"),
        ] {
            let r = fx.get(&path).await;
            r.status_is(200);
            assert_eq!(r.body["next_page_token"], Value::Null);
            let items = r.body["items"].as_array().unwrap();
            let got: BTreeSet<(String, String)> = items.iter().map(|i| {
                assert_eq!(i.as_object().unwrap().len(), 3, "v2 items have path, node_index, url: {i}");
                assert_eq!(i["node_index"], 0);
                (i["path"].as_str().unwrap().to_owned(), i["url"].as_str().unwrap().to_owned())
            }).collect();
            let want: BTreeSet<(String, String)> = want.iter().map(|(p, u)| ((*p).to_owned(), u.clone())).collect();
            assert_eq!(got, want, "{path}");
        }

        // Every listed URL downloads, as given plus `?circle-token=`.
        for (path, url) in urls(&fx, num).await {
            let got = fetch(reqwest::Client::new().get(format!("{url}?circle-token={}", fx.token))).await;
            assert_eq!(got.status, 200, "{path}");
        }
    }

    async fn artifacts_latest_follows_branch_and_filter(app) {
        let fx = Fx::new(app).await;
        let first = built_with(&fx, &[("a.txt", b"one")]).await;
        // A failed build on main with its own artifact, then one still running.
        let (runner, id, failed) = claimed(&fx).await;
        let r = runner.put_artifact(&id, "b.txt", reqwest::Body::from("two")).await;
        assert_eq!(r.status, 204, "{}", r.text);
        runner.finish(&id, "failed").await;
        let (runner, id, running) = claimed(&fx).await;
        let r = runner.put_artifact(&id, "c.txt", reqwest::Body::from("three")).await;
        assert_eq!(r.status, 204, "{}", r.text);
        assert!(first < failed && failed < running);

        let latest = |q: &str| {
            let path = format!("/api/v1.1/project/{SLUG}/latest/artifacts{q}");
            let fx = &fx;
            async move {
                let r = fx.get(&path).await;
                (r.status, r.body.as_array().map(|a| a.iter().map(|i| i["path"].as_str().unwrap().to_owned()).collect::<Vec<_>>()))
            }
        };
        // Default filter: completed, so the running build is skipped.
        assert_eq!(latest("").await, (200, Some(vec!["b.txt".to_owned()])));
        assert_eq!(latest("?branch=main").await, (200, Some(vec!["b.txt".to_owned()])));
        assert_eq!(latest("?branch=main&filter=successful").await, (200, Some(vec!["a.txt".to_owned()])));
        assert_eq!(latest("?filter=running").await, (200, Some(vec!["c.txt".to_owned()])));
        assert_eq!(latest("?filter=failed").await, (200, Some(vec!["b.txt".to_owned()])));
        assert_eq!(latest("?branch=nope").await.0, 404);
        let r = fx.get(&format!("/api/v1.1/project/{SLUG}/latest/artifacts?filter=bogus")).await;
        r.status_is(400);
        assert!(r.message().contains("filter"), "{}", r.text);
        let r = fx.get("/api/v1/project/acme/widget/latest/artifacts").await;
        r.status_is(200);
    }

    async fn artifacts_download_with_every_credential_form(app) {
        let fx = Fx::new(app).await;
        let num = built_with(&fx, &[("out/report.txt", REPORT)]).await;
        let url = urls(&fx, num).await["out/report.txt"].clone();
        assert!(!url.contains('?'), "{url}");
        let c = reqwest::Client::new();
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("{}:", fx.token));
        for (form, rb) in [
            ("Circle-Token", c.get(&url).header("Circle-Token", &fx.token)),
            ("Bearer", c.get(&url).bearer_auth(&fx.token)),
            ("Basic", c.get(&url).header("authorization", format!("Basic {basic}"))),
            ("query", c.get(format!("{url}?circle-token={}", fx.token))),
        ] {
            let got = fetch(rb).await;
            assert_eq!(got.status, 200, "{form}");
            assert_eq!(got.body, REPORT, "{form}");
            assert_eq!(got.header("content-length"), REPORT.len().to_string(), "{form}");
        }
        // A browser session works too (the build page links here).
        let browser = fx.app.logged_in("ada").await;
        assert_eq!(fetch(browser.get(&url)).await.body, REPORT);
        // Nobody, on a private project: exactly like a project that does not exist.
        let anon = Reply::of(c.get(&url).send().await.unwrap()).await;
        anon.status_is(404);
        assert_eq!(anon.message(), "Project not found");
        let bad = Reply::of(c.get(&url).header("Circle-Token", "CCIPAT_nope").send().await.unwrap()).await;
        bad.status_is(401);
    }

    async fn artifacts_head_ranges_and_validators(app) {
        let fx = Fx::new(app).await;
        let num = built_with(&fx, &[("r.txt", REPORT)]).await;
        let url = urls(&fx, num).await["r.txt"].clone();
        let c = reqwest::Client::new();
        let get = || c.get(&url).header("Circle-Token", &fx.token);
        let size = REPORT.len();

        let head = fetch(c.head(&url).header("Circle-Token", &fx.token)).await;
        assert_eq!(head.status, 200);
        assert!(head.body.is_empty());
        assert_eq!(head.header("content-length"), size.to_string());
        assert_eq!(head.header("accept-ranges"), "bytes");

        let part = fetch(get().header("range", "bytes=2-5")).await;
        assert_eq!(part.status, 206);
        assert_eq!(part.body, b"2345");
        assert_eq!(part.header("content-range"), format!("bytes 2-5/{size}"));
        assert_eq!(part.header("content-length"), "4");
        let tail = fetch(get().header("range", "bytes=-3")).await;
        assert_eq!((tail.status, tail.body.as_slice()), (206, &b"xyz"[..]));
        let open = fetch(get().header("range", "bytes=30-")).await;
        assert_eq!((open.status, open.body.as_slice()), (206, &b"uvwxyz"[..]));

        let past = fetch(get().header("range", format!("bytes={size}-"))).await;
        assert_eq!(past.status, 416);
        assert_eq!(past.header("content-range"), format!("bytes */{size}"));
        let past: Value = serde_json::from_slice(&past.body).unwrap();
        assert!(past["message"].as_str().unwrap().contains("range"), "{past}");

        let whole = fetch(get()).await;
        let etag = whole.header("etag").to_owned();
        let modified = whole.header("last-modified").to_owned();
        assert!(etag.starts_with('"') && etag.len() == 66, "{etag}");
        assert!(!modified.is_empty());
        let again = fetch(get().header("if-none-match", &etag)).await;
        assert_eq!(again.status, 304);
        assert!(again.body.is_empty());
        assert_eq!(again.header("etag"), etag);
        assert_eq!(fetch(get().header("if-modified-since", &modified)).await.status, 304);
        assert_eq!(fetch(get().header("if-none-match", "\"other\"")).await.status, 200);
        // A stale If-Range gets the whole file.
        let stale = fetch(get().header("range", "bytes=0-1").header("if-range", "\"other\"")).await;
        assert_eq!((stale.status, stale.body.len()), (200, size));
        let fresh = fetch(get().header("range", "bytes=0-1").header("if-range", &etag)).await;
        assert_eq!(fresh.status, 206);
    }

    async fn artifacts_are_served_so_they_cannot_script_circlet(app) {
        let fx = Fx::new(app).await;
        let num = built_with(&fx, &[
            ("page.html", b"<script>alert(document.cookie)</script>"),
            ("logo.svg", b"<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'/>"),
            ("app.js", b"alert(1)"),
            ("notes.txt", b"hello"),
            ("shot.png", b"\x89PNG\r\n\x1a\n"),
            ("blob", b"\x00\x01"),
        ]).await;
        let all = urls(&fx, num).await;
        let c = reqwest::Client::new();
        for (path, ctype, attachment) in [
            ("page.html", "text/html", true),
            ("logo.svg", "image/svg+xml", true),
            ("app.js", "text/javascript", true),
            ("notes.txt", "text/plain; charset=utf-8", false),
            ("shot.png", "image/png", false),
            ("blob", "application/octet-stream", true),
        ] {
            let got = fetch(c.get(&all[path]).header("Circle-Token", &fx.token)).await;
            assert_eq!(got.status, 200, "{path}");
            assert_eq!(got.header("content-type"), ctype, "{path}");
            assert_eq!(got.header("x-content-type-options"), "nosniff", "{path}");
            let csp = got.header("content-security-policy");
            assert!(csp.starts_with("sandbox; default-src 'none'"), "{path}: {csp}");
            assert!(csp.ends_with("; frame-ancestors 'none'"), "{path}: {csp}");
            assert_eq!(got.header("x-frame-options"), "DENY", "{path}");
            let disposition = got.header("content-disposition");
            assert_eq!(disposition.starts_with("attachment"), attachment, "{path}: {disposition}");
            assert!(disposition.contains(&format!("filename=\"{path}\"")), "{path}: {disposition}");
        }
    }

    async fn artifacts_status_tokens_are_refused_and_build_artifacts_tokens_allowed(app) {
        let fx = Fx::new(app).await;
        let num = built_with(&fx, &[("r.txt", REPORT)]).await;
        let url = urls(&fx, num).await["r.txt"].clone();
        let status = fx.app.project_token(&fx.project, ProjectScope::Status).await;
        let artifacts = fx.app.project_token(&fx.project, ProjectScope::ViewBuilds).await;
        let all = fx.app.project_token(&fx.project, ProjectScope::All).await;
        let c = reqwest::Client::new();
        let as_ = |t: &str| c.get(format!("{url}?circle-token={t}"));
        let refused = Reply::of(as_(&status).send().await.unwrap()).await;
        refused.status_is(403);
        assert_eq!(refused.message(), "Permission denied");
        assert_eq!(fetch(as_(&artifacts)).await.body, REPORT);
        assert_eq!(fetch(as_(&all)).await.body, REPORT);
        let list = fx.get_as(&artifacts, &format!("/api/v1.1/project/{SLUG}/{num}/artifacts")).await;
        list.status_is(200);
        let list = fx.get_as(&status, &format!("/api/v1.1/project/{SLUG}/{num}/artifacts")).await;
        list.status_is(403);
    }

    async fn artifacts_of_unknown_builds_and_paths_are_404(app) {
        let fx = Fx::new(app).await;
        let num = built_with(&fx, &[("r.txt", REPORT)]).await;
        let base = "/artifacts/gh/acme/widget";
        for (path, message) in [
            (format!("{base}/99/0/r.txt"), "Build not found"),
            (format!("{base}/x/0/r.txt"), "Build not found"),
            (format!("{base}/{num}/0/other.txt"), "Artifact not found"),
            (format!("{base}/{num}/1/r.txt"), "Artifact not found"),
            ("/artifacts/gh/acme/missing/1/0/r.txt".to_owned(), "Project not found"),
            (format!("/api/v1.1/project/{SLUG}/99/artifacts"), "Build not found"),
            (format!("/api/v2/project/{SLUG}/99/artifacts"), "Job not found"),
        ] {
            let r = fx.get(&path).await;
            r.status_is(404);
            assert_eq!(r.message(), message, "{path}");
        }
        let r = fx.get(&format!("{base}/{num}/0/a%2F..%2Fr.txt")).await;
        r.status_is(400);
        let r = send(reqwest::Client::new().post(fx.app.at(&format!("{base}/{num}/0/r.txt"))).header("Circle-Token", &fx.token)).await;
        r.status_is(405);
    }

    async fn artifacts_with_climbing_or_odd_paths_are_refused_and_nothing_escapes(app) {
        let fx = Fx::new(app).await;
        let (runner, id, num) = claimed(&fx).await;
        let before = files_under(fx.app.artifacts_dir());
        for raw in [
            "..%2F..%2Fetc%2Fpasswd",
            "a%2F..%2F..%2F..%2F..%2Fx",
            "%2Fetc%2Fpasswd",
            "a%5C..%5C..%5Cx",
            "a%00b",
            "a//b",
            "a/",
            "x%0Ay",
        ] {
            let r = runner.put_artifact(&id, raw, reqwest::Body::from("pwned")).await;
            assert_eq!(r.status, 400, "{raw}: {}", r.text);
            assert!(r.json()["message"].as_str().unwrap().contains("artifact path"), "{raw}: {}", r.text);
        }
        // Dot segments, literal or `%2E`-encoded, which URL libraries resolve away before
        // sending: a raw request.
        for raw in [
            "../../../../../../tmp/circlet-escape",
            "a/../../../../../x",
            "./x",
            "a/./b",
            "%2E%2E/%2E%2E/%2E%2E/%2E%2E/%2E%2E/etc/passwd",
            "a/%2e%2E/%2E%2e/%2E%2E/%2E%2E/x",
        ] {
            let status = raw_put(&fx.app, &runner, &id, raw).await;
            assert_eq!(status, 400, "{raw}");
        }
        assert!(!Path::new("/tmp/circlet-escape").exists());
        assert_eq!(files_under(fx.app.artifacts_dir()), before, "nothing was written");
        let listed = fx.get(&format!("/api/v1.1/project/{SLUG}/{num}/artifacts")).await;
        assert_eq!(listed.body, json!([]));
        // A good path still works, and lands under the build's prefix only.
        let ok = runner.put_artifact(&id, "ok/file.txt", reqwest::Body::from("fine")).await;
        assert_eq!(ok.status, 204, "{}", ok.text);
        let want = format!("store/{}/{num}/0/ok/file.txt", fx.project.uuid);
        assert_eq!(files_under(fx.app.artifacts_dir()), BTreeSet::from([want]));
        // A file cannot also be a directory, on any backend.
        let clash = runner.put_artifact(&id, "ok/file.txt/inner", reqwest::Body::from("x")).await;
        assert_eq!(clash.status, 409, "{}", clash.text);
    }

    async fn artifacts_upload_only_while_the_runner_holds_the_job(app) {
        let fx = Fx::new(app).await;
        let (runner, id, _) = claimed(&fx).await;
        let other = fx.runner("other").await;
        let r = other.put_artifact(&id, "x.txt", reqwest::Body::from("x")).await;
        assert_eq!(r.status, 409, "{}", r.text);
        runner.finish(&id, "success").await;
        let r = runner.put_artifact(&id, "x.txt", reqwest::Body::from("x")).await;
        assert_eq!(r.status, 409, "{}", r.text);
        let r = runner.put_artifact(&uuid::Uuid::new_v4().to_string(), "x.txt", reqwest::Body::from("x")).await;
        assert_eq!(r.status, 404, "{}", r.text);
        assert!(files_under(&fx.app.artifacts_dir().join("store")).is_empty());
    }
}

/// Sends a `PUT` with `raw` as the literal artifact path (no client-side normalization) and
/// returns the status.
async fn raw_put(app: &TestApp, runner: &PlayedRunner, id: &str, raw: &str) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = app.url.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "PUT /api/runner/v1/jobs/{id}/artifacts/{raw} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\nContent-Length: 5\r\nConnection: close\r\n\r\npwned",
        runner.token
    );
    s.write_all(request.as_bytes()).await.unwrap();
    let mut reply = String::new();
    s.read_to_string(&mut reply).await.unwrap();
    reply
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status in {reply:?}"))
}

mod pages {
    use super::*;

    both_backends! {
        setup = TestApp::spawn;
        async fn artifacts_show_on_the_build_and_project_pages(app) {
            let fx = Fx::new(app).await;
            let num = built_with(&fx, &[("out/report.txt", REPORT), ("big.bin", &[0u8; 1500])]).await;
            let browser = fx.app.logged_in("ada").await;
            let page = browser.get(fx.app.at(&format!("/projects/{SLUG}/jobs/{num}"))).send().await.unwrap().text().await.unwrap();
            let link = format!("href=\"/artifacts/gh/acme/widget/{num}/0/out/report.txt\"");
            assert!(page.contains(&link), "{page}");
            assert!(page.contains(">out/report.txt</a>"), "{page}");
            assert!(page.contains("36 B") && page.contains("1.5 kB"), "{page}");
            let project = browser.get(fx.app.at(&format!("/projects/{SLUG}"))).send().await.unwrap().text().await.unwrap();
            assert!(project.contains("Latest artifacts"), "{project}");
            assert!(project.contains(&link), "{project}");
            assert!(project.contains(&format!("/projects/{SLUG}/jobs/{num}\">#{num}</a>")), "{project}");
            // The link works with the page's session.
            let got = fetch(browser.get(fx.app.at(&format!("/artifacts/gh/acme/widget/{num}/0/out/report.txt")))).await;
            assert_eq!(got.body, REPORT);
        }
    }
}

mod limits {
    use super::*;

    fn small(config: &mut crate::app::Config) {
        let storage = std::mem::replace(
            &mut config.app.artifacts,
            circlet_app::artifacts::ArtifactStorage::in_memory(),
        );
        config.app.artifacts = storage.with_limits(1000, 1500);
    }

    both_backends! {
        setup = TestApp::spawn_with;
        async fn artifacts_over_the_limits_are_refused_with_413_and_nothing_kept(app, small) {
            let fx = Fx::new(app).await;
            let (runner, id, num) = claimed(&fx).await;
            // Announced too large: refused before reading.
            let r = runner.put_artifact(&id, "big.bin", reqwest::Body::from(vec![7u8; 5000])).await;
            assert_eq!(r.status, 413, "{}", r.text);
            assert!(r.json()["message"].as_str().unwrap().contains("1000 bytes allowed per file"), "{}", r.text);
            // Streamed without a length: refused once the limit is passed.
            let chunks: Vec<Result<Vec<u8>, std::io::Error>> = (0..20).map(|_| Ok(vec![1u8; 100])).collect();
            let body = reqwest::Body::wrap_stream(futures_util::stream::iter(chunks));
            let r = runner.put_artifact(&id, "stream.bin", body).await;
            assert_eq!(r.status, 413, "{}", r.text);
            assert!(files_under(fx.app.artifacts_dir()).is_empty(), "{:?}", files_under(fx.app.artifacts_dir()));
            // Within the file limit, then past the build's total.
            let r = runner.put_artifact(&id, "one.bin", reqwest::Body::from(vec![1u8; 900])).await;
            assert_eq!(r.status, 204, "{}", r.text);
            let r = runner.put_artifact(&id, "two.bin", reqwest::Body::from(vec![2u8; 900])).await;
            assert_eq!(r.status, 413, "{}", r.text);
            assert!(r.json()["message"].as_str().unwrap().contains("600 bytes are left"), "{}", r.text);
            // Replacing a file counts its new size, not both.
            let r = runner.put_artifact(&id, "one.bin", reqwest::Body::from(vec![3u8; 1000])).await;
            assert_eq!(r.status, 204, "{}", r.text);
            let files = files_under(fx.app.artifacts_dir());
            assert_eq!(files, BTreeSet::from([format!("store/{}/{num}/0/one.bin", fx.project.uuid)]));
            let listed = fx.get(&format!("/api/v1.1/project/{SLUG}/{num}/artifacts")).await;
            let paths: Vec<&str> = listed.body.as_array().unwrap().iter().map(|a| a["path"].as_str().unwrap()).collect();
            assert_eq!(paths, ["one.bin"]);
            let url = listed.body[0]["url"].as_str().unwrap();
            let got = fetch(reqwest::Client::new().get(url).header("Circle-Token", &fx.token)).await;
            assert_eq!(got.body, vec![3u8; 1000]);
        }
    }
}

mod paging {
    use super::*;

    both_backends! {
        setup = TestApp::spawn;
        async fn artifacts_v2_list_pages(app) {
            let fx = Fx::new(app).await;
            let (runner, id, num) = claimed(&fx).await;
            let page = 50;
            for i in 0..page + 3 {
                let r = runner.put_artifact(&id, &format!("f/{i:03}.txt"), reqwest::Body::from("x")).await;
                assert_eq!(r.status, 204, "{}", r.text);
            }
            let first = fx.get(&format!("/api/v2/project/{SLUG}/{num}/artifacts")).await;
            first.status_is(200);
            assert_eq!(first.body["items"].as_array().unwrap().len(), page);
            let token = first.body["next_page_token"].as_str().expect("a next page").to_owned();
            let second = fx.get(&format!("/api/v2/project/{SLUG}/{num}/artifacts?page-token={token}")).await;
            second.status_is(200);
            let rest: Vec<&str> = second.body["items"].as_array().unwrap().iter().map(|i| i["path"].as_str().unwrap()).collect();
            assert_eq!(rest, ["f/050.txt", "f/051.txt", "f/052.txt"]);
            assert_eq!(second.body["next_page_token"], Value::Null);
            let bad = fx.get(&format!("/api/v2/project/{SLUG}/{num}/artifacts?page-token=zzz")).await;
            bad.status_is(400);
            // A project literally named `artifacts` is still a project on v2.
            let r = fx.get("/api/v2/project/gh/acme/artifacts").await;
            r.status_is(404);
            assert_eq!(r.message(), "Project not found");
        }
    }
}
