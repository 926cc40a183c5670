//! The leak guard: a live token printed by a job, passed as a build or pipeline parameter or
//! written in a step's command is revoked, masked where it is shown and audited; a string that
//! only looks like a token is left alone. Parameters, step names and commands are shown with
//! the project's env var values masked too.

use super::{Fx, SLUG, env_of, id_of};
use crate::app::TestApp;
use crate::tokens::{INVALID, one_char_changed};
use circlet_core::mask::MASK;
use circlet_store::AuditScope;
use circlet_testkit::both_backends;
use serde_json::json;

both_backends! {
    setup = TestApp::spawn;
    async fn builds_leak_guard_revokes_and_masks_a_printed_token(app) {
        let fx = Fx::new(app).await;
        let runner = fx.runner("r1").await;
        let (leaked, record) = fx.app.personal_token_expiring(&fx.user, None).await;
        fx.get_as(&leaked, "/api/v1.1/me").await.status_is(200);
        // Same shape, wrong checksum: not a token, so neither masked nor looked up.
        let fake = one_char_changed(&leaked, leaked.len() - 1);
        assert_ne!(fake, leaked);

        fx.v1_trigger("main", &json!({"build_parameters": {"CIRCLE_JOB": "build"}})).await;
        let job = runner.claim_some().await;
        let id = id_of(&job);
        runner.start_step(id, 0, "print", Some("env")).await;
        runner.output(id, 0, &format!("TOKEN={leaked}\nFAKE={fake}\n")).await;
        runner.finish_step(id, 0, "success", Some(0)).await;
        runner.finish(id, "success").await;

        fx.get_as(&leaked, "/api/v1.1/me").await.is(401, INVALID);
        fx.get("/api/v1.1/me").await.status_is(200);

        let b = fx.build(1).await;
        let url = b["steps"][0]["actions"][0]["output_url"].as_str().unwrap();
        let out = fx.get(url.strip_prefix(&fx.app.url).unwrap()).await;
        let message = out.body[0]["message"].as_str().unwrap();
        assert_eq!(message, format!("TOKEN=********\nFAKE={fake}\n"));
        assert!(!out.text.contains(&leaked));

        let log = fx.app.store.audit().list(AuditScope::All, 100).await.unwrap();
        let entry = log.iter().find(|e| e.event == "token.leaked").expect("a token.leaked entry");
        assert_eq!(entry.token_uuid, Some(record.uuid));
        assert_eq!(entry.owner_id, Some(fx.user.id));
        assert_eq!(entry.project_id, Some(fx.project.id));
        assert!(entry.detail.contains(SLUG) && entry.detail.contains("#1"), "{}", entry.detail);
        assert!(!entry.detail.contains(&leaked));
        assert_eq!(log.iter().filter(|e| e.event == "token.leaked").count(), 1);

        // The owner sees a banner on the dashboard and on their tokens page; others do not.
        let owner = fx.app.logged_in("ada").await;
        for page in ["/", "/account/tokens"] {
            let html = owner.get(fx.app.at(page)).send().await.unwrap().text().await.unwrap();
            assert!(html.contains("leak-banner"), "no banner on {page}");
            assert!(html.contains("was printed in the output of build #1"), "{page}");
        }
        // …and a notice, until dismissed.
        let html = owner.get(fx.app.at("/")).send().await.unwrap().text().await.unwrap();
        assert_eq!(html.matches("data-kind=\"revoked\"").count(), 1, "{html}");
        assert!(html.contains("was printed in the output of build #1 of gh/acme/widget and has been revoked."), "{html}");
        fx.app.user("zed", false).await;
        let other = fx.app.logged_in("zed").await;
        let html = other.get(fx.app.at("/")).send().await.unwrap().text().await.unwrap();
        assert!(!html.contains("leak-banner"));
    }

    async fn builds_leak_guard_catches_a_token_split_across_chunks(app) {
        let fx = Fx::new(app).await;
        let runner = fx.runner("r1").await;
        let (leaked, _) = fx.app.personal_token_expiring(&fx.user, None).await;
        fx.v1_trigger("main", &json!({"build_parameters": {"CIRCLE_JOB": "build"}})).await;
        let job = runner.claim_some().await;
        let id = id_of(&job);
        runner.start_step(id, 0, "print", None).await;
        let (head, tail) = leaked.split_at(31);
        runner.output(id, 0, &format!("one\nTOKEN={head}")).await;
        runner.output(id, 0, &format!("{tail}x and more\n")).await;
        runner.finish_step(id, 0, "success", Some(0)).await;
        runner.finish(id, "success").await;

        fx.get_as(&leaked, "/api/v1.1/me").await.is(401, INVALID);
        let b = fx.build(1).await;
        let url = b["steps"][0]["actions"][0]["output_url"].as_str().unwrap();
        let out = fx.get(url.strip_prefix(&fx.app.url).unwrap()).await;
        let message = out.body[0]["message"].as_str().unwrap();
        assert_eq!(message, "one\nTOKEN=********x and more\n");
        assert!(!out.text.contains(head) && !out.text.contains(tail));
    }

    async fn builds_a_token_passed_as_a_pipeline_parameter_is_revoked_and_shown_masked(app) {
        let fx = Fx::new(app).await;
        let (leaked, record) = fx.app.personal_token_expiring(&fx.user, None).await;
        fx.get_as(&leaked, "/api/v2/me").await.status_is(200);
        set_env_var(&fx, "DEPLOY_PASSWORD", SECRET).await;

        let made = fx.v2_trigger(&json!({"parameters": {"greeting": leaked}})).await;
        fx.get_as(&leaked, "/api/v2/me").await.is(401, INVALID);
        let id = made["id"].as_str().unwrap();
        let p = fx.get(&format!("/api/v2/pipeline/{id}")).await;
        p.status_is(200);
        assert_eq!(p.body["trigger_parameters"]["parameters"], json!({"greeting": MASK}), "{}", p.text);
        assert!(!p.text.contains(&leaked));
        audited_once(&fx, record.uuid, "was passed as a parameter of pipeline #1").await;

        // A parameter holding (or containing) an env var's value is masked too, in every read.
        fx.v2_trigger(&json!({"parameters": {"greeting": format!("pw={SECRET}")}})).await;
        let list = fx.get(&format!("/api/v2/project/{SLUG}/pipeline")).await;
        assert_eq!(list.body["items"][0]["trigger_parameters"]["parameters"], json!({"greeting": "pw=********"}));
        let p = fx.get(&format!("/api/v2/project/{SLUG}/pipeline/2")).await;
        assert_eq!(p.body["trigger_parameters"]["parameters"], json!({"greeting": "pw=********"}));
        for r in [&list, &p] {
            assert!(!r.text.contains(SECRET) && !r.text.contains(&leaked), "{}", r.text);
        }
    }

    async fn builds_a_token_passed_as_a_build_parameter_is_revoked_and_shown_masked(app) {
        let fx = Fx::new(app).await;
        let (leaked, record) = fx.app.personal_token_expiring(&fx.user, None).await;
        fx.get_as(&leaked, "/api/v1.1/me").await.status_is(200);
        set_env_var(&fx, "DEPLOY_PASSWORD", SECRET).await;
        let params = json!({"build_parameters": {"CIRCLE_JOB": "build", "API_TOKEN": leaked, "DB_URL": format!("postgres://ci:{SECRET}@db/ci")}});
        let made = fx.v1_trigger("main", &params).await;
        let masked = json!({"CIRCLE_JOB": "build", "API_TOKEN": MASK, "DB_URL": "postgres://ci:********@db/ci"});
        assert_eq!(made["build_parameters"], masked, "the trigger's reply");
        fx.get_as(&leaked, "/api/v1.1/me").await.is(401, INVALID);
        audited_once(&fx, record.uuid, "was passed as a parameter of pipeline #1").await;

        let b = fx.build(1).await;
        assert_eq!(b["build_parameters"], masked);
        let list = fx.get(&format!("/api/v1.1/project/{SLUG}")).await;
        assert_eq!(list.body[0]["build_parameters"], masked);
        let recent = fx.get("/api/v1.1/recent-builds").await;
        assert_eq!(recent.body[0]["build_parameters"], masked);
        for text in [&list.text, &recent.text] {
            assert!(!text.contains(SECRET) && !text.contains(&leaked));
        }

        // The job gets them in clear: they are its environment.
        let runner = fx.runner("r1").await;
        let job = runner.claim_some().await;
        let env = env_of(&job);
        assert_eq!(env["API_TOKEN"], leaked);
        assert_eq!(env["DB_URL"], format!("postgres://ci:{SECRET}@db/ci"));

        // An env var set later masks the builds shown from then on (lists are not kept stale).
        set_env_var(&fx, "DB_SCHEME", "postgres").await;
        let list = fx.get(&format!("/api/v1.1/project/{SLUG}")).await;
        assert_eq!(list.body[0]["build_parameters"]["DB_URL"], "********://ci:********@db/ci", "{}", list.text);
    }

    async fn builds_a_step_named_after_a_command_with_a_token_is_masked_and_revokes_it(app) {
        let fx = Fx::new(app).await;
        let (leaked, record) = fx.app.personal_token_expiring(&fx.user, None).await;
        set_env_var(&fx, "DEPLOY_PASSWORD", SECRET).await;
        let command = format!("curl -H 'Circle-Token: {leaked}' https://ci.example/api/v2/me");
        let config = format!("version: 2\njobs:\n  build:\n    steps:\n      - run: \"{command}\"\n      - run: echo {SECRET}\n");
        fx.repo.commit_on("leaky", &[(".circleci/config.yml", &config)], "a token in a command");
        fx.v1_trigger("leaky", &json!({})).await;

        // What the real runner does: a `run` without `name` is named after its command.
        let runner = fx.runner("r1").await;
        let job = runner.claim_some().await;
        let id = id_of(&job);
        // Index 0 is the runner's own first step; the config's steps follow.
        runner.start_step(id, 1, &command, Some(&command)).await;
        runner.finish_step(id, 1, "success", Some(0)).await;
        fx.get_as(&leaked, "/api/v1.1/me").await.is(401, INVALID);
        audited_once(&fx, record.uuid, "in a step's name or command in build #1").await;
        runner.start_step(id, 2, &format!("echo {SECRET}"), Some(&format!("echo {SECRET}"))).await;

        let b = fx.build(1).await;
        let shown = "curl -H 'Circle-Token: ********' https://ci.example/api/v2/me";
        assert_eq!(b["steps"][0]["name"], shown);
        assert_eq!(b["steps"][0]["actions"][0]["name"], shown);
        assert_eq!(b["steps"][0]["actions"][0]["bash_command"], shown);
        assert_eq!(b["steps"][1]["name"], "echo ********");
        assert_eq!(b["steps"][1]["actions"][0]["bash_command"], "echo ********");
        let text = b.to_string();
        assert!(!text.contains(&leaked) && !text.contains(SECRET), "{text}");

        // The build page and its live updates say the same.
        let browser = fx.app.logged_in("ada").await;
        let page = format!("/projects/{SLUG}/jobs/1");
        for path in [page.clone(), format!("{page}/live")] {
            let r = browser.get(fx.app.at(&path)).send().await.unwrap();
            assert_eq!(r.status(), 200, "{path}");
            let body = r.text().await.unwrap();
            assert!(!body.contains(&leaked) && !body.contains(SECRET), "{path}: {body}");
            assert!(body.contains("Circle-Token: ********"), "{path}: {body}");
        }
    }
}

/// An env var value the masking tests hide.
const SECRET: &str = "s3cr3t-value-0123456789";

async fn set_env_var(fx: &Fx, name: &str, value: &str) {
    fx.post_json(
        &format!("/api/v2/project/{SLUG}/envvar"),
        &json!({"name": name, "value": value}),
    )
    .await
    .status_is(201);
}

/// Exactly one `token.leaked` entry, for `token`, saying where it was found, and one notice to
/// its owner that it was revoked.
async fn audited_once(fx: &Fx, token: uuid::Uuid, place: &str) {
    let notices = fx
        .app
        .store
        .notices()
        .unread(fx.user.id, 100)
        .await
        .unwrap();
    let revoked: Vec<_> = notices
        .iter()
        .filter(|n| n.token_uuid == token && n.kind == circlet_core::notice::NoticeKind::Revoked)
        .collect();
    assert_eq!(revoked.len(), 1, "the owner is told once: {notices:?}");
    let log = fx
        .app
        .store
        .audit()
        .list(AuditScope::All, 100)
        .await
        .unwrap();
    let leaked: Vec<_> = log.iter().filter(|e| e.event == "token.leaked").collect();
    assert_eq!(leaked.len(), 1, "{leaked:?}");
    assert_eq!(leaked[0].token_uuid, Some(token));
    assert_eq!(leaked[0].owner_id, Some(fx.user.id));
    assert!(
        leaked[0].detail.contains(place) && leaked[0].detail.contains(SLUG),
        "{}",
        leaked[0].detail
    );
}
