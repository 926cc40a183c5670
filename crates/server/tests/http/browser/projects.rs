//! Project pages: removing a member (after a confirmation), triggering a pipeline and watching
//! it finish, and badge snippets with a live preview.

use super::{Browser, read_shown_token};
use crate::app::{PASSWORD, TestApp};
use anyhow::{bail, ensure};
use circlet_core::Role;
use circlet_store::BackendKind;
use fantoccini::Locator;

/// Removing a member asks first: dismissing the dialog keeps them, accepting removes them.
#[tokio::test]
async fn removing_a_member_asks_for_confirmation() {
    let app = TestApp::spawn(BackendKind::Sqlite).await;
    let owner = app.user("owner", false).await;
    let bob = app.user("bob", false).await;
    let project = app
        .project_with_repo(
            &owner,
            "gh/acme/widgets",
            "file:///srv/git/widgets.git",
            false,
        )
        .await;
    app.store
        .projects()
        .set_member(project.id, bob.id, Role::Write)
        .await
        .unwrap();
    let members = || async {
        let all = app.store.projects().members(project.id).await?;
        anyhow::Ok(
            all.into_iter()
                .map(|m| m.user.login.as_str().to_owned())
                .collect::<Vec<_>>(),
        )
    };
    let remove_bob = Locator::Css("form[data-confirm] button[title='Remove bob']");
    let b = Browser::start("removing_a_member_asks_for_confirmation").await;

    b.step("log-in", b.log_in(&app, "owner", PASSWORD)).await;

    b.step("open-members", async {
        b.goto(&app.at("/projects/gh/acme/widgets/settings/members"))
            .await?;
        let table = b.text("members").await?;
        ensure!(table.contains("bob"), "bob is not listed: {table:?}");
        b.client.find(remove_bob).await?;
        b.no_server_error().await
    })
    .await;

    b.step("dismiss-confirm", async {
        // A marker that disappears if the page is replaced by a form submission.
        b.client
            .execute("window.circletMarker = 'still here'; return null;", vec![])
            .await?;
        b.client.find(remove_bob).await?.click().await?;
        let question = b.dialog().await?;
        ensure!(
            question == "Remove bob from gh/acme/widgets?",
            "the dialog asks {question:?}"
        );
        b.client.dismiss_alert().await?;
        let marker = b
            .client
            .execute("return window.circletMarker || null;", vec![])
            .await?;
        ensure!(
            marker == "still here",
            "the page was submitted despite the dismissed dialog"
        );
        b.client.find(remove_bob).await?;
        let now = members().await?;
        ensure!(now == ["bob", "owner"], "members after dismissing: {now:?}");
        Ok(())
    })
    .await;

    b.step("accept-confirm", async {
        b.client.find(remove_bob).await?.click().await?;
        let question = b.dialog().await?;
        ensure!(question == "Remove bob from gh/acme/widgets?");
        b.client.accept_alert().await?;
        b.until("the members page without bob", || async {
            let replaced = b
                .client
                .execute("return window.circletMarker === undefined;", vec![])
                .await?
                == true;
            Ok((replaced && b.client.find(remove_bob).await.is_err()).then_some(()))
        })
        .await?;
        b.at_path("/projects/gh/acme/widgets/settings/members")
            .await?;
        let table = b.text("members").await?;
        if table.contains("bob") {
            bail!("bob is still listed: {table:?}");
        }
        b.no_server_error().await?;
        let now = members().await?;
        ensure!(now == ["owner"], "members after accepting: {now:?}");
        Ok(())
    })
    .await;

    b.finish().await;
}

/// Issue 4 item 12: trigger a pipeline from the project page and watch its build finish on the
/// build page, live, with a real runner and a real git repository.
#[tokio::test]
async fn a_pipeline_is_triggered_and_watched_until_it_finishes() {
    let app = TestApp::spawn(BackendKind::Sqlite).await;
    let owner = app.user("owner", false).await;
    let repo = circlet_testkit::GitRepo::with_config(
        "version: 2.1\njobs:\n  build:\n    steps:\n      - run:\n          name: Say hello\n          command: echo hello from the runner; sleep 2; echo done\nworkflows:\n  main:\n    jobs: [build]\n",
    );
    app.project_with_repo(&owner, "gh/acme/widgets", &repo.url(), false)
        .await;
    let _runner = app.start_runner().await;
    let b = Browser::start("a_pipeline_is_triggered_and_watched_until_it_finishes").await;
    b.step("log-in", b.log_in(&app, "owner", PASSWORD)).await;

    b.step("trigger", async {
        b.goto(&app.at("/projects/gh/acme/widgets")).await?;
        b.element("builds-empty").await?;
        b.click("trigger-pipeline").await?;
        b.at_path("/projects/gh/acme/widgets/trigger").await?;
        ensure!(b.element("name").await?.prop("value").await?.as_deref() == Some("main"));
        b.click("submit").await?;
        b.at_path("/projects/gh/acme/widgets").await?;
        b.element("pipeline-1").await?;
        b.no_server_error().await
    })
    .await;

    b.step("watch", async {
        b.client
            .find(Locator::Css("#pipeline-1 a.job"))
            .await?
            .click()
            .await?;
        b.at_path("/projects/gh/acme/widgets/jobs/1").await?;
        // The page follows the build live: its output appears, then its status turns success.
        b.until("the step output to stream in", || async {
            let steps = b.text("steps").await.unwrap_or_default();
            Ok(steps.contains("hello from the runner").then_some(()))
        })
        .await?;
        b.until("the build to succeed", || async {
            let status = b.text("job-status").await.unwrap_or_default();
            Ok((status == "success").then_some(()))
        })
        .await?;
        // Finished steps fold away; their output is still on the page.
        let source = b.client.source().await?;
        ensure!(
            source.contains("hello from the runner\ndone"),
            "the whole output is not on the page"
        );
        b.element("retry").await?;
        b.no_server_error().await
    })
    .await;
    b.finish().await;
}

/// Issue 4 item 12: Project settings → Status Badges: create a Status token there and get
/// snippets carrying it, with a preview image that really loads.
#[tokio::test]
async fn badge_snippets_come_with_a_new_status_token_and_a_live_preview() {
    let app = TestApp::spawn(BackendKind::Sqlite).await;
    let owner = app.user("owner", false).await;
    app.project(&owner, "gh/acme/widgets", false).await;
    let b = Browser::start("badge_snippets_come_with_a_new_status_token_and_a_live_preview").await;
    b.step("log-in", b.log_in(&app, "owner", PASSWORD)).await;

    b.step("open-tab", async {
        b.goto(&app.at("/projects/gh/acme/widgets/settings"))
            .await?;
        b.click("tab-badges").await?;
        b.at_path("/projects/gh/acme/widgets/settings/badges")
            .await?;
        b.no_server_error().await
    })
    .await;

    b.step("create-token", async {
        b.element("badge-style")
            .await?
            .select_by(Locator::Css("option[value='shield']"))
            .await?;
        b.click("badge-create-token").await?;
        b.element("badge-result").await?;
        b.no_server_error().await
    })
    .await;
    let token = b.step("read-value", read_shown_token(&b, "CCIPRJ_")).await;

    b.step("snippets-and-preview", async {
        let markdown = b.text("snippet-markdown").await?;
        ensure!(
            markdown.starts_with("[![CircleCI](")
                && markdown.contains(&format!("style=shield&circle-token={token}")),
            "the Markdown reads {markdown:?}"
        );
        b.until("the preview image to load", || async {
            let width = b
                .client
                .execute(
                    "return document.getElementById('badge-preview').naturalWidth",
                    vec![],
                )
                .await?;
            Ok((width.as_u64().unwrap_or(0) > 0).then_some(()))
        })
        .await?;
        b.no_server_error().await
    })
    .await;
    b.finish().await;
}
