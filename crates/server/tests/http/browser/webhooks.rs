//! Project settings → Webhooks and → Advanced in a real browser: the address for each forge,
//! a secret made and shown once (then replaced after confirming), a signed delivery listed with
//! its outcome, Redeliver, and the Advanced switches saved.

use super::Browser;
use crate::app::{PASSWORD, TestApp};
use anyhow::ensure;
use circlet_store::BackendKind;
use circlet_testkit::GitRepo;
use fantoccini::Locator;
use hmac::{Hmac, Mac};

/// A GitHub push of `main` at `sha`, signed with `secret`, as GitHub sends it.
async fn push(app: &TestApp, secret: &str, id: &str, sha: &str) -> u16 {
    let path = format!(
        "{}/../core/tests/forge_payloads/github_push.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut body: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    body["ref"] = "refs/heads/main".into();
    body["after"] = sha.into();
    let raw = serde_json::to_vec(&body).unwrap();
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(&raw);
    let sig = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    reqwest::Client::new()
        .post(app.at("/api/hooks/github/gh/acme/widgets"))
        .header("X-GitHub-Event", "push")
        .header("X-GitHub-Delivery", id)
        .header("X-Hub-Signature-256", sig)
        .body(raw)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn webhooks_are_set_up_listed_redelivered_and_advanced_settings_saved() {
    let app = TestApp::spawn(BackendKind::Sqlite).await;
    let owner = app.user("owner", false).await;
    let repo = GitRepo::with_config(super::super::builds::CONFIG);
    let project = app
        .project_with_repo(&owner, "gh/acme/widgets", &repo.url(), false)
        .await;
    let b =
        Browser::start("webhooks_are_set_up_listed_redelivered_and_advanced_settings_saved").await;
    b.step("log-in", b.log_in(&app, "owner", PASSWORD)).await;

    let secret = b
        .step("make-a-secret", async {
            b.goto(&app.at("/projects/gh/acme/widgets/settings"))
                .await?;
            b.click("tab-webhooks").await?;
            b.at_path("/projects/gh/acme/widgets/settings/webhooks")
                .await?;
            let urls = b.text("hook-urls").await?;
            for forge in ["github", "gitea", "gitlab", "bitbucket"] {
                let url = app.at(&format!("/api/hooks/{forge}/gh/acme/widgets"));
                ensure!(urls.contains(&url), "no {url} in {urls:?}");
            }
            ensure!(b.text("secret-state").await?.contains("No secret yet"));
            b.element("deliveries-empty").await?;
            b.click("new-secret").await?;
            let secret = b.text("secret-value").await?;
            ensure!(secret.len() == 64, "the page shows {secret:?}");
            ensure!(
                b.text("secret-warning")
                    .await?
                    .contains("not be shown again")
            );
            b.click("copy-secret").await?;
            b.no_server_error().await?;
            // Reloaded, the page no longer shows it.
            b.goto(&app.at("/projects/gh/acme/widgets/settings/webhooks"))
                .await?;
            ensure!(!b.client.source().await?.contains(&secret), "shown twice");
            Ok(secret)
        })
        .await;

    b.step("a-delivery-is-listed-and-redelivered", async {
        ensure!(push(&app, &secret, "gh-1", &repo.head()).await == 202);
        ensure!(push(&app, "wrong", "gh-2", &repo.head()).await == 401);
        b.goto(&app.at("/projects/gh/acme/widgets/settings/webhooks"))
            .await?;
        let table = b.text("deliveries").await?;
        ensure!(
            table.contains("built") && table.contains("gh-1"),
            "{table:?}"
        );
        ensure!(
            !table.contains("gh-2"),
            "a refused delivery is listed: {table:?}"
        );
        b.client
            .find(Locator::Css("#deliveries button.redeliver"))
            .await?
            .click()
            .await?;
        let notice = b.text("notice").await?;
        ensure!(notice.starts_with("Redelivered: built"), "{notice:?}");
        let pipelines = app
            .store
            .builds()
            .pipelines(project.id, None, None, 10)
            .await?;
        ensure!(
            pipelines.pipelines.len() == 2,
            "{} pipelines",
            pipelines.pipelines.len()
        );
        ensure!(b.text("deliveries").await?.contains("redelivered"));
        b.no_server_error().await
    })
    .await;

    b.step("replace-the-secret-after-confirming", async {
        b.click("new-secret").await?;
        let question = b.dialog().await?;
        ensure!(
            question.contains("Replace the webhook secret"),
            "{question:?}"
        );
        b.client.accept_alert().await?;
        let replaced = b.text("secret-value").await?;
        ensure!(replaced != secret && replaced.len() == 64);
        ensure!(push(&app, &secret, "gh-3", &repo.head()).await == 401);
        ensure!(push(&app, &replaced, "gh-4", &repo.head()).await == 202);
        b.no_server_error().await
    })
    .await;

    b.step("advanced-settings", async {
        b.click("tab-advanced").await?;
        b.at_path("/projects/gh/acme/widgets/settings/advanced")
            .await?;
        b.click("build-prs-only").await?;
        b.click("autocancel-builds").await?;
        b.click("save-advanced").await?;
        ensure!(b.text("notice").await? == "Settings saved.");
        let saved = app
            .store
            .projects()
            .by_id(project.id)
            .await?
            .unwrap()
            .builds;
        ensure!(saved.build_prs_only && saved.autocancel_builds, "{saved:?}");
        ensure!(
            !saved.build_fork_prs && !saved.forks_receive_secrets,
            "{saved:?}"
        );
        let checked = b.element("build-prs-only").await?.prop("checked").await?;
        ensure!(checked.as_deref() == Some("true"), "{checked:?}");
        b.no_server_error().await
    })
    .await;
    b.finish().await;
}

#[tokio::test]
async fn schedules_and_notifications_are_set_up_in_the_browser() {
    let app = TestApp::spawn(BackendKind::Sqlite).await;
    let owner = app.user("owner", false).await;
    let project = app.project(&owner, "gh/acme/widgets", false).await;
    let b = Browser::start("schedules_and_notifications_are_set_up_in_the_browser").await;
    b.step("log-in", b.log_in(&app, "owner", PASSWORD)).await;

    b.step("add-a-schedule", async {
        b.goto(&app.at("/projects/gh/acme/widgets/settings"))
            .await?;
        b.click("tab-schedules").await?;
        b.at_path("/projects/gh/acme/widgets/settings/schedules")
            .await?;
        b.element("schedules-empty").await?;
        b.fill("schedule-name", "nightly").await?;
        b.fill("schedule-per-hour", "2").await?;
        b.fill("schedule-hours", "25").await?;
        b.click("add-schedule").await?;
        let error = b.text("error-message").await?;
        ensure!(error.contains("hour 25"), "{error:?}");
        b.fill("schedule-name", "nightly").await?;
        b.fill("schedule-per-hour", "2").await?;
        b.fill("schedule-hours", "3, 15").await?;
        b.click("schedule-day-SUN").await?;
        b.click("add-schedule").await?;
        let table = b.text("schedules").await?;
        ensure!(
            table.contains("nightly") && table.contains("2× an hour at 03, 15 UTC"),
            "{table:?}"
        );
        ensure!(!table.contains("SUN") && table.contains("MON"), "{table:?}");
        let stored = app
            .store
            .schedules()
            .of_project(project.id, "api", 0, 10)
            .await?;
        ensure!(
            stored.len() == 1
                && stored[0].next_run_at.is_some()
                && stored[0].actor_login == "owner"
        );
        b.no_server_error().await
    })
    .await;

    b.step("remove-the-schedule", async {
        b.client
            .find(Locator::Css("#schedules button.remove"))
            .await?
            .click()
            .await?;
        ensure!(b.dialog().await?.contains("nightly"));
        b.client.accept_alert().await?;
        b.element("schedules-empty").await?;
        b.no_server_error().await
    })
    .await;

    b.step("commit-statuses-and-an-outbound-webhook", async {
        b.click("tab-notifications").await?;
        b.at_path("/projects/gh/acme/widgets/settings/notifications")
            .await?;
        b.fill("status-api-url", "http://127.0.0.1:9/api/v1")
            .await?;
        b.fill("status-token", "gitea-token-secret-1").await?;
        b.client
            .find(Locator::Css("#status-forge option[value='gitea']"))
            .await?
            .click()
            .await?;
        b.click("set-status-target").await?;
        // The page before the form was sent has a #status-target too.
        b.text_when("status-target", |t| {
            t.contains("gitea") && t.contains("acme/widgets")
        })
        .await?;
        b.fill("webhook-name", "slack bridge").await?;
        b.fill("webhook-url", "https://hooks.example.test/circle")
            .await?;
        b.fill("webhook-secret", "signing-secret-2").await?;
        b.click("add-webhook").await?;
        b.until("the webhook to be listed", || async {
            let source = b.client.source().await?;
            Ok(source.contains("slack bridge").then_some(()))
        })
        .await?;
        let source = b.client.source().await?;
        ensure!(source.contains("hooks.example.test"));
        ensure!(
            !source.contains("gitea-token-secret-1") && !source.contains("signing-secret-2"),
            "a secret is on the page"
        );
        ensure!(app.store.outbound().webhooks(project.id).await?.len() == 1);
        b.no_server_error().await
    })
    .await;
    b.finish().await;
}
