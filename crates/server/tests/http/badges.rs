//! Status badges and the cc.xml feed (issue 4 items 10 and 11), as an `<img>` tag, a README
//! fetcher or CCMenu sees them. Builds are made through the store, as a runner would leave them.

use crate::app::TestApp;
use circlet_core::badge::{self, BadgeLook, BadgeStyle};
use circlet_core::build_state::JobState;
use circlet_core::scope::ProjectScope;
use circlet_core::token::{NewToken, TokenKind};
use circlet_store::builds::{JobRecord, NewJob, NewPipeline, NewWorkflow};
use circlet_store::{NewTokenRecord, Project};
use circlet_testkit::both_backends;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;

/// A reply as an image or feed reader sees it: status, headers, raw bytes.
struct Got {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Got {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    fn text(&self) -> String {
        String::from_utf8(self.body.clone()).expect("a text body")
    }

    /// Fails unless this is an SVG badge with `status` saying `text`.
    #[track_caller]
    fn is_svg_badge(&self, status: u16, text: &str) {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.text());
        assert_eq!(self.header("content-type"), "image/svg+xml");
        assert_eq!(self.header("cache-control"), "no-cache");
        let svg = self.text();
        assert!(svg.starts_with("<svg"), "{svg}");
        assert!(
            svg.contains(&format!(">{text}</text>")),
            "want {text}: {svg}"
        );
    }
}

async fn get(app: &TestApp, path: &str, token: Option<&str>) -> Got {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut request = client.get(app.at(path));
    if let Some(t) = token {
        request = request.header("Circle-Token", t);
    }
    let r = request.send().await.unwrap();
    Got {
        status: r.status(),
        headers: r.headers().clone(),
        body: r.bytes().await.unwrap().to_vec(),
    }
}

/// A runner's token id, for claiming jobs.
async fn runner(app: &TestApp) -> i64 {
    let value = NewToken::generate(TokenKind::Runner);
    let new = NewTokenRecord {
        limits: Default::default(),
        kind: TokenKind::Runner,
        digest: value.digest(),
        last4: value.last4(),
        name: "test runner".into(),
        user_id: None,
        project_id: None,
        scope: None,
        created_by: None,
        expires_at: None,
    };
    app.store.tokens().create(&new, None).await.unwrap().id
}

/// A one-job pipeline on `branch`, its job waiting for a runner.
async fn queued_job(app: &TestApp, project: &Project, branch: &str) -> JobRecord {
    pipeline_of(app, project, branch, &["build"])
        .await
        .remove(0)
}

/// A pipeline on `branch` with one workflow of independent jobs named `names`, all queued.
async fn pipeline_of(
    app: &TestApp,
    project: &Project,
    branch: &str,
    names: &[&str],
) -> Vec<JobRecord> {
    let new = NewPipeline {
        actor_role_ceiling: None,
        id: None,
        project_id: project.id,
        number: None,
        commit_json: String::new(),
        trigger_type: "api".into(),
        actor_id: None,
        actor_login: "tester".into(),
        branch: Some(branch.into()),
        tag: None,
        revision: "0123456789abcdef0123456789abcdef01234567".into(),
        parameters_json: "{}".into(),
        errors: vec![],
        why: "api".into(),
        config: None,
        setup: false,
        origin: Default::default(),
        workflows: vec![NewWorkflow {
            name: "build".into(),
            jobs: names
                .iter()
                .map(|name| NewJob {
                    name: (*name).into(),
                    requires: vec![],
                    accepts: vec![],
                    approval: false,
                    spec_json: "{}".into(),
                    build_parameters_json: "{}".into(),
                    resource_class: None,
                    parallelism: 1,
                })
                .collect(),
        }],
    };
    app.store.builds().create_pipeline(&new).await.unwrap().1
}

/// A one-job pipeline on `branch`, its job claimed by a runner (so: running).
async fn running_job(app: &TestApp, project: &Project, branch: &str) -> JobRecord {
    let queued = queued_job(app, project, branch).await;
    claim(app, &queued).await
}

/// `queued`, claimed by a new runner (it must be the next job in the queue).
async fn claim(app: &TestApp, queued: &JobRecord) -> JobRecord {
    let runner_id = runner(app).await;
    let claimed = app
        .store
        .builds()
        .claim_next(runner_id, None)
        .await
        .unwrap();
    let (claimed, _node) = claimed.expect("the new job is queued");
    assert_eq!(claimed.id, queued.id, "the only queued job is the new one");
    claimed
}

/// A job on `branch` that finished as `state`.
async fn finished_job(
    app: &TestApp,
    project: &Project,
    branch: &str,
    state: JobState,
) -> JobRecord {
    let job = running_job(app, project, branch).await;
    finish(app, &job, state).await;
    job
}

/// Ends the running `job` as `state`, through `app`'s store, as its runner would.
async fn finish(app: &TestApp, job: &JobRecord, state: JobState) {
    let builds = app.store.builds();
    let ended = builds.finish(job.id, state).await.unwrap();
    assert!(ended, "{job:?} was running");
}

/// The pixels of a PNG as RGBA, with its size.
fn decode_png(bytes: &[u8]) -> (u32, u32, Vec<[u8; 4]>) {
    let mut decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    decoder.set_transformations(png::Transformations::EXPAND);
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!(
        info.color_type,
        png::ColorType::Rgba,
        "badges have transparent corners"
    );
    let pixels = buf[..info.buffer_size()]
        .chunks_exact(4)
        .map(|p| [p[0], p[1], p[2], p[3]])
        .collect();
    (info.width, info.height, pixels)
}

fn rgb(hex: &str) -> [u8; 4] {
    let v = u32::from_str_radix(hex.trim_start_matches('#'), 16).unwrap();
    [(v >> 16) as u8, (v >> 8) as u8, v as u8, 255]
}

async fn owner_and_project(app: &TestApp, public: bool) -> (circlet_store::User, Project) {
    let owner = app.user("ada", false).await;
    let project = app.project(&owner, "gh/acme/widget", public).await;
    (owner, project)
}

both_backends! {
    setup = TestApp::spawn;
    async fn badge_shows_no_builds_then_each_finished_state(app) {
        let (_, project) = owner_and_project(&app, true).await;
        get(&app, "/gh/acme/widget.svg", None).await.is_svg_badge(200, "NO BUILDS");
        get(&app, "/gh/acme/widget.svg?style=shield", None).await.is_svg_badge(200, "no builds");
        // A running job is not finished: still no builds.
        let running = running_job(&app, &project, "main").await;
        get(&app, "/gh/acme/widget.svg", None).await.is_svg_badge(200, "NO BUILDS");
        app.store.builds().finish(running.id, JobState::Success).await.unwrap();
        get(&app, "/gh/acme/widget.svg", None).await.is_svg_badge(200, "PASSED");
        get(&app, "/gh/acme/widget.svg?style=svg", None).await.is_svg_badge(200, "PASSED");
        let shield = get(&app, "/gh/acme/widget.svg?style=shield", None).await;
        shield.is_svg_badge(200, "passing");
        assert!(shield.text().contains(">circleci</text>"));
        for (state, pill, shield) in [
            (JobState::Failed, "FAILED", "failing"),
            (JobState::Timedout, "FAILED", "failing"),
            (JobState::InfrastructureFail, "FAILED", "failing"),
            (JobState::Canceled, "CANCELED", "canceled"),
            (JobState::Success, "PASSED", "passing"),
        ] {
            finished_job(&app, &project, "main", state).await;
            get(&app, "/gh/acme/widget.svg", None).await.is_svg_badge(200, pill);
            get(&app, "/gh/acme/widget.svg?style=shield", None).await.is_svg_badge(200, shield);
        }
        // The slug matches whatever its spelling, like every other URL.
        get(&app, "/github/ACME/Widget.svg", None).await.is_svg_badge(200, "PASSED");
    }

    async fn badge_per_branch_and_the_default_branch_ignores_others(app) {
        let (_, project) = owner_and_project(&app, true).await;
        finished_job(&app, &project, "main", JobState::Success).await;
        finished_job(&app, &project, "feature/x", JobState::Failed).await;
        finished_job(&app, &project, "other", JobState::Canceled).await;
        // The newest build overall is on `other`; the default branch's badge does not care.
        get(&app, "/gh/acme/widget.svg", None).await.is_svg_badge(200, "PASSED");
        get(&app, "/gh/acme/widget/tree/main.svg", None).await.is_svg_badge(200, "PASSED");
        get(&app, "/gh/acme/widget/tree/feature%2Fx.svg", None).await.is_svg_badge(200, "FAILED");
        get(&app, "/gh/acme/widget/tree/feature%2fx.svg?style=shield", None).await.is_svg_badge(200, "failing");
        // A literal slash works too: everything after `tree/` is the branch.
        get(&app, "/gh/acme/widget/tree/feature/x.svg", None).await.is_svg_badge(200, "FAILED");
        get(&app, "/gh/acme/widget/tree/other.svg", None).await.is_svg_badge(200, "CANCELED");
        get(&app, "/gh/acme/widget/tree/feature.svg", None).await.is_svg_badge(200, "NO BUILDS");
    }

    async fn badge_and_cc_xml_follow_the_whole_pipeline_not_its_last_job(app) {
        let (_, project) = owner_and_project(&app, true).await;
        finished_job(&app, &project, "main", JobState::Success).await;
        // `lint` fails first, `build` passes last: CircleCI's badge shows the pipeline failed.
        let jobs = pipeline_of(&app, &project, "main", &["lint", "build"]).await;
        let lint = claim(&app, &jobs[0]).await;
        finish(&app, &lint, JobState::Failed).await;
        // While `build` has not run, the previous pipeline's result stays.
        get(&app, "/gh/acme/widget.svg", None).await.is_svg_badge(200, "PASSED");
        let build = claim(&app, &jobs[1]).await;
        finish(&app, &build, JobState::Success).await;
        get(&app, "/gh/acme/widget.svg", None).await.is_svg_badge(200, "FAILED");
        get(&app, "/gh/acme/widget.svg?style=shield", None).await.is_svg_badge(200, "failing");
        let xml = get(&app, "/gh/acme/widget.cc.xml", None).await.text();
        assert!(xml.contains("lastBuildStatus=\"Failure\""), "{xml}");
        assert!(xml.contains(&format!("lastBuildLabel=\"{}\"", build.build_num)), "{xml}");

        // A retry of `lint` that passes is the pipeline's answer: passed.
        let retry = app.store.builds().retry(&lint).await.unwrap();
        let retry = claim(&app, &retry).await;
        finish(&app, &retry, JobState::Success).await;
        get(&app, "/gh/acme/widget.svg", None).await.is_svg_badge(200, "PASSED");
        let xml = get(&app, "/gh/acme/widget.cc.xml", None).await.text();
        assert!(xml.contains("lastBuildStatus=\"Success\""), "{xml}");
    }

    async fn badge_png_is_drawn_at_the_svg_size_in_the_status_colour(app) {
        let (_, project) = owner_and_project(&app, true).await;
        finished_job(&app, &project, "main", JobState::Success).await;
        finished_job(&app, &project, "broken", JobState::Failed).await;
        for (path, look) in [
            ("/gh/acme/widget.png", BadgeLook::Passed),
            ("/gh/acme/widget/tree/broken.png", BadgeLook::Failed),
        ] {
            let got = get(&app, path, None).await;
            assert_eq!(got.status, 200);
            assert_eq!(got.header("content-type"), "image/png");
            assert_eq!(got.header("cache-control"), "no-cache");
            let (w, h, pixels) = decode_png(&got.body);
            let want = badge::render(look, BadgeStyle::Svg);
            assert_eq!((w, h), (want.width, want.height), "{path}");
            let colour = rgb(look.colour(BadgeStyle::Svg));
            let n = pixels.iter().filter(|p| **p == colour).count();
            assert!(n > pixels.len() / 3, "{path}: {n} of {} pixels are {colour:?}", pixels.len());
            // The text is drawn (white glyphs over the colour): embedded fonts, not system ones.
            let white = pixels.iter().filter(|p| p[0] > 240 && p[1] > 240 && p[2] > 240 && p[3] == 255).count();
            assert!(white > 30, "{path}: only {white} white pixels, is the text missing?");
        }
        let shield = get(&app, "/gh/acme/widget.png?style=shield", None).await;
        let (w, _, _) = decode_png(&shield.body);
        assert_eq!(w, badge::render(BadgeLook::Passed, BadgeStyle::Shield).width);
    }

    async fn badge_etag_answers_304_until_the_status_changes(app) {
        let (_, project) = owner_and_project(&app, true).await;
        finished_job(&app, &project, "main", JobState::Success).await;
        let first = get(&app, "/gh/acme/widget.svg", None).await;
        let tag = first.header("etag").to_owned();
        assert!(tag.starts_with('"') && tag.len() > 10, "{tag:?}");
        let client = reqwest::Client::new();
        let again = client.get(app.at("/gh/acme/widget.svg")).header("If-None-Match", &tag).send().await.unwrap();
        assert_eq!(again.status(), 304);
        assert_eq!(again.headers()["etag"], tag.as_str());
        assert_eq!(again.headers()["cache-control"], "no-cache");
        assert!(again.bytes().await.unwrap().is_empty());
        // The PNG has its own tag.
        let png = get(&app, "/gh/acme/widget.png", None).await;
        assert_ne!(png.header("etag"), tag);
        let png_again = client.get(app.at("/gh/acme/widget.png")).header("If-None-Match", png.header("etag")).send().await.unwrap();
        assert_eq!(png_again.status(), 304);
        // A new result is a new tag: the old one gets the full badge.
        finished_job(&app, &project, "main", JobState::Failed).await;
        let changed = client.get(app.at("/gh/acme/widget.svg")).header("If-None-Match", &tag).send().await.unwrap();
        assert_eq!(changed.status(), 200);
        assert_ne!(changed.headers()["etag"], tag.as_str());
    }

    async fn badge_of_a_private_project_needs_a_status_credential(app) {
        let (owner, project) = owner_and_project(&app, false).await;
        finished_job(&app, &project, "main", JobState::Success).await;
        for (path, text) in [("/gh/acme/widget.svg", "UNKNOWN"), ("/gh/acme/widget.svg?style=shield", "unknown")] {
            let hidden = get(&app, path, None).await;
            hidden.is_svg_badge(404, text);
            let missing = get(&app, &path.replace("widget", "missing"), None).await;
            assert_eq!((missing.status, &missing.body), (hidden.status, &hidden.body), "{path}");
            assert_eq!(missing.comparable_headers(), hidden.comparable_headers());
        }
        let hidden_png = get(&app, "/gh/acme/widget.png", None).await;
        let missing_png = get(&app, "/gh/acme/missing.png", None).await;
        assert_eq!(hidden_png.status, 404);
        assert_eq!(hidden_png.header("content-type"), "image/png");
        assert_eq!(hidden_png.body, missing_png.body);

        let status = app.project_token(&project, ProjectScope::Status).await;
        get(&app, "/gh/acme/widget.svg", Some(&status)).await.is_svg_badge(200, "PASSED");
        get(&app, &format!("/gh/acme/widget.svg?style=svg&circle-token={status}"), None).await.is_svg_badge(200, "PASSED");
        get(&app, &format!("/gh/acme/widget/tree/main.png?circle-token={status}"), None).await.status.as_u16().eq(&200).then_some(()).expect("png with a status token");
        let all = app.project_token(&project, ProjectScope::All).await;
        get(&app, "/gh/acme/widget.svg", Some(&all)).await.is_svg_badge(200, "PASSED");
        let personal = app.personal_token(&owner).await;
        get(&app, "/gh/acme/widget.svg", Some(&personal)).await.is_svg_badge(200, "PASSED");
        // A logged-in browser sees its own private projects' badges, as on CircleCI.
        let browser = app.logged_in("ada").await;
        let r = browser.get(app.at("/gh/acme/widget.svg")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert!(r.text().await.unwrap().contains(">PASSED<"));

        // Refusals are images too, with their status.
        let view_builds = app.project_token(&project, ProjectScope::ViewBuilds).await;
        get(&app, "/gh/acme/widget.svg", Some(&view_builds)).await.is_svg_badge(403, "NO ACCESS");
        let other = app.project(&owner, "gh/acme/other", false).await;
        let other_status = app.project_token(&other, ProjectScope::Status).await;
        get(&app, "/gh/acme/widget.svg", Some(&other_status)).await.is_svg_badge(404, "UNKNOWN");
        let invalid = status.replace(&status[10..14], "zzzz");
        get(&app, "/gh/acme/widget.svg", Some(&invalid)).await.is_svg_badge(401, "NO ACCESS");
        get(&app, "/gh/acme/widget.svg?circle-token=nonsense", None).await.is_svg_badge(401, "NO ACCESS");
    }

    async fn a_remembered_badge_follows_every_change_on_the_next_request(app) {
        let (owner, project) = owner_and_project(&app, true).await;
        finished_job(&app, &project, "main", JobState::Success).await;
        get(&app, "/gh/acme/widget.svg", None).await.is_svg_badge(200, "PASSED");
        get(&app, "/gh/acme/widget.svg", None).await.is_svg_badge(200, "PASSED");
        assert!(!app.state.badge_states.is_empty(), "the badge state is remembered");
        // Made private: the anonymous badge is refused at once.
        let store = &app.store;
        store.projects().update_settings(project.id, &project.repo_url, &project.default_branch, false).await.unwrap();
        get(&app, "/gh/acme/widget.svg", None).await.is_svg_badge(404, "UNKNOWN");
        // Public again, with another default branch: that branch's status at once.
        let other = circlet_core::BranchName::parse("other").unwrap();
        store.projects().update_settings(project.id, &project.repo_url, &other, true).await.unwrap();
        get(&app, "/gh/acme/widget.svg", None).await.is_svg_badge(200, "NO BUILDS");
        // A queued job canceled with its workflow ends the branch canceled.
        let queued = queued_job(&app, &project, "other").await;
        get(&app, "/gh/acme/widget.svg", None).await.is_svg_badge(200, "NO BUILDS");
        store.builds().cancel_workflow(queued.workflow_id).await.unwrap();
        get(&app, "/gh/acme/widget.svg", None).await.is_svg_badge(200, "CANCELED");
        // A running job whose runner went silent is reaped as an infrastructure failure.
        let running = running_job(&app, &project, "other").await;
        get(&app, "/gh/acme/widget.svg", None).await.is_svg_badge(200, "CANCELED");
        let later = time::OffsetDateTime::now_utc() + time::Duration::hours(1);
        assert_eq!(store.builds().reap_stale(later).await.unwrap(), 1, "{running:?}");
        get(&app, "/gh/acme/widget.svg", None).await.is_svg_badge(200, "FAILED");
        // An unknown project is not remembered: created, its badge shows at once.
        get(&app, "/gh/acme/later.svg", None).await.is_svg_badge(404, "UNKNOWN");
        app.project(&owner, "gh/acme/later", true).await;
        get(&app, "/gh/acme/later.svg", None).await.is_svg_badge(200, "NO BUILDS");
    }

    async fn cc_xml_per_project_and_branch(app) {
        let (_, project) = owner_and_project(&app, false).await;
        let status = app.project_token(&project, ProjectScope::Status).await;
        let ok = finished_job(&app, &project, "main", JobState::Success).await;
        let bad = finished_job(&app, &project, "feature/x", JobState::Failed).await;

        let feed = get(&app, &format!("/gh/acme/widget.cc.xml?circle-token={status}&ccmenu=cc.xml"), None).await;
        assert_eq!(feed.status, 200, "{}", feed.text());
        assert!(feed.header("content-type").starts_with("application/xml"));
        let xml = feed.text();
        assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>"), "{xml}");
        assert_eq!(xml.matches("<Project ").count(), 1, "{xml}");
        assert!(xml.contains("name=\"acme/widget\""), "{xml}");
        assert!(xml.contains("activity=\"Sleeping\""), "{xml}");
        assert!(xml.contains("lastBuildStatus=\"Success\""), "{xml}");
        assert!(xml.contains(&format!("lastBuildLabel=\"{}\"", ok.build_num)), "{xml}");
        assert!(xml.contains(&format!("webUrl=\"{}/gh/acme/widget/tree/main\"", app.url)), "{xml}");
        assert!(xml.contains("lastBuildTime=\"20"), "{xml}");

        let branch = get(&app, "/gh/acme/widget/tree/feature%2Fx.cc.xml", Some(&status)).await;
        let xml = branch.text();
        assert!(xml.contains("lastBuildStatus=\"Failure\""), "{xml}");
        assert!(xml.contains(&format!("lastBuildLabel=\"{}\"", bad.build_num)), "{xml}");
        assert!(xml.contains("/tree/feature%2Fx\""), "{xml}");

        // Building while a job on the branch runs; the last finished build still shows.
        running_job(&app, &project, "main").await;
        let xml = get(&app, "/gh/acme/widget.cc.xml", Some(&status)).await.text();
        assert!(xml.contains("activity=\"Building\""), "{xml}");
        assert!(xml.contains("lastBuildStatus=\"Success\""), "{xml}");

        // No builds yet: Unknown, no label.
        let xml = get(&app, "/gh/acme/widget/tree/new.cc.xml", Some(&status)).await.text();
        assert!(xml.contains("lastBuildStatus=\"Unknown\"") && !xml.contains("lastBuildLabel"), "{xml}");

        // Private without a credential answers exactly like absent.
        let hidden = get(&app, "/gh/acme/widget.cc.xml", None).await;
        let missing = get(&app, "/gh/acme/missing.cc.xml", None).await;
        assert_eq!(hidden.status, 404);
        assert_eq!((hidden.status, &hidden.body), (missing.status, &missing.body));
        let view_builds = app.project_token(&project, ProjectScope::ViewBuilds).await;
        assert_eq!(get(&app, "/gh/acme/widget.cc.xml", Some(&view_builds)).await.status, 403);
    }

    async fn cc_xml_for_a_user_lists_only_their_projects(app) {
        let (owner, project) = owner_and_project(&app, false).await;
        let other_owner = app.user("bob", false).await;
        app.project(&other_owner, "gh/acme/secret", false).await;
        app.project(&other_owner, "gh/acme/open", true).await;
        let second = app.project(&owner, "gh/acme/gadget", true).await;
        finished_job(&app, &project, "main", JobState::Success).await;
        finished_job(&app, &project, "feature", JobState::Failed).await;
        finished_job(&app, &second, "main", JobState::InfrastructureFail).await;
        let token = app.personal_token(&owner).await;
        let feed = get(&app, "/cc.xml?ccmenu=cc.xml", Some(&token)).await;
        assert_eq!(feed.status, 200, "{}", feed.text());
        assert!(feed.header("content-type").starts_with("application/xml"));
        let xml = feed.text();
        assert_eq!(xml.matches("<Project ").count(), 2, "{xml}");
        assert!(xml.contains("name=\"acme/widget\" activity=\"Sleeping\" lastBuildStatus=\"Success\""), "{xml}");
        assert!(xml.contains("name=\"acme/gadget\" activity=\"Sleeping\" lastBuildStatus=\"Exception\""), "{xml}");
        assert!(!xml.contains("secret") && !xml.contains("acme/open"), "{xml}");
        // The query form works as well.
        let by_query = get(&app, &format!("/cc.xml?circle-token={token}"), None).await;
        assert_eq!(by_query.text(), xml);
        // A browser session too.
        let browser = app.logged_in("ada").await;
        let r = browser.get(app.at("/cc.xml")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        // Not for project tokens or nobody.
        let status = app.project_token(&project, ProjectScope::Status).await;
        assert_eq!(get(&app, "/cc.xml", Some(&status)).await.status, 401);
        assert_eq!(get(&app, "/cc.xml", None).await.status, 401);
    }

    async fn badge_urls_without_a_suffix_lead_to_pages(app) {
        owner_and_project(&app, true).await;
        let cases = [
            ("/gh/acme/widget", "/projects/gh/acme/widget"),
            ("/github/acme/widget", "/projects/gh/acme/widget"),
            ("/gh/acme/widget/tree/feature%2Fx", "/projects/gh/acme/widget?branch=feature%2Fx"),
            ("/gh/acme/widget/42", "/projects/gh/acme/widget/jobs/42"),
        ];
        for (path, to) in cases {
            let got = get(&app, path, None).await;
            assert_eq!(got.status, 307, "{path}: {}", String::from_utf8_lossy(&got.body));
            assert_eq!(got.header("location"), to, "{path}");
        }
        for path in ["/gh/acme/widget/abc", "/nope/acme/widget", "/nope/acme/widget/tree/x"] {
            let got = get(&app, path, None).await;
            assert_eq!(got.status, 404, "{path}");
            assert!(got.header("content-type").starts_with("text/html"), "{path}");
        }
        // Other methods get the UI's 405 page.
        let post = reqwest::Client::new().post(app.at("/gh/acme/widget.svg")).send().await.unwrap();
        assert_eq!(post.status(), 405);
        assert!(post.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
        // The UI's own pages keep their paths.
        let page = get(&app, "/projects/gh/acme/widget", None).await;
        assert_ne!(page.status, 307);
        assert_eq!(get(&app, "/account/tokens/new", None).await.status, 303);
    }
}

impl Got {
    /// This reply's headers less those that differ between any two replies (`Date`, the
    /// request id).
    fn comparable_headers(&self) -> HeaderMap {
        let mut h = self.headers.clone();
        h.remove("date");
        h.remove("x-request-id");
        h
    }
}

/// The scale-out case: a badge remembered by one replica shows a job that ended through
/// another on the very next request.
#[tokio::test]
async fn a_replica_shows_a_job_ended_through_another_on_the_next_request() {
    let a = TestApp::spawn(circlet_store::BackendKind::Postgres).await;
    let b = a.replica().await;
    crate::tokens::revocation::listening(&a.store, 2).await;
    crate::tokens::revocation::listening(&b.store, 2).await;
    let (_, project) = owner_and_project(&a, true).await;
    for (round, (state, pill)) in [(JobState::Success, "PASSED"), (JobState::Failed, "FAILED")]
        .into_iter()
        .cycle()
        .take(10)
        .enumerate()
    {
        let (via, then) = if round % 2 == 0 { (&a, &b) } else { (&b, &a) };
        let job = running_job(via, &project, "main").await;
        // Both remember the badge as it was...
        let before = get(then, "/gh/acme/widget.svg", None).await;
        assert_eq!(before, get(then, "/gh/acme/widget.svg", None).await);
        assert!(!then.state.badge_states.is_empty());
        // ...and the job ends through one store: the other replica shows it at once.
        finish(via, &job, state).await;
        get(then, "/gh/acme/widget.svg", None)
            .await
            .is_svg_badge(200, pill);
        get(via, "/gh/acme/widget.svg", None)
            .await
            .is_svg_badge(200, pill);
    }
}

impl PartialEq for Got {
    fn eq(&self, other: &Got) -> bool {
        (self.status, &self.body) == (other.status, &other.body)
    }
}

impl std::fmt::Debug for Got {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status, String::from_utf8_lossy(&self.body))
    }
}
