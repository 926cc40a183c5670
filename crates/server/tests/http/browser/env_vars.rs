//! Project settings → Environment Variables: add, list masked, refuse a bad name, remove.

use super::{Browser, open_remove_dialog};
use crate::app::{PASSWORD, TestApp};
use anyhow::ensure;
use circlet_core::ProjectSlug;
use circlet_store::BackendKind;

/// Issue 5 item 9: Project settings → Environment Variables: add one (the value never shows
/// again, only its mask), a bad name gets a readable error, remove through the confirmation
/// window.
#[tokio::test]
async fn an_env_var_is_added_listed_masked_and_removed() {
    let app = TestApp::spawn(BackendKind::Sqlite).await;
    let owner = app.user("owner", false).await;
    app.project_with_repo(
        &owner,
        "gh/acme/widgets",
        "file:///srv/git/widgets.git",
        false,
    )
    .await;
    let list = "/projects/gh/acme/widgets/settings/env";
    let b = Browser::start("an_env_var_is_added_listed_masked_and_removed").await;
    b.step("log-in", b.log_in(&app, "owner", PASSWORD)).await;

    b.step("open-tab", async {
        b.goto(&app.at("/projects/gh/acme/widgets/settings"))
            .await?;
        b.click("tab-env").await?;
        b.at_path(list).await?;
        b.element("env-empty").await?;
        b.no_server_error().await
    })
    .await;

    b.step("bad-name", async {
        // The browser's own pattern check would stop the form; a user without it gets ours.
        b.client
            .execute(
                "document.getElementById('env-name').removeAttribute('pattern')",
                vec![],
            )
            .await?;
        b.fill("env-name", "MY-VAR").await?;
        b.fill("env-value", "whatever").await?;
        b.click("env-add").await?;
        let error = b.text("error-message").await?;
        ensure!(error.contains("MY-VAR"), "the error reads {error:?}");
        b.no_server_error().await
    })
    .await;

    b.step("add", async {
        b.fill("env-name", "DEPLOY_KEY").await?;
        b.fill("env-value", "super-secret-9876").await?;
        b.click("env-add").await?;
        let table = b.text("env-vars").await?;
        ensure!(table.contains("DEPLOY_KEY"), "the list reads {table:?}");
        ensure!(table.contains("xxxx9876"), "no mask in {table:?}");
        let html = b.client.source().await?;
        ensure!(!html.contains("super-secret"), "the page shows the value");
        b.no_server_error().await
    })
    .await;

    b.step("remove", async {
        let text = open_remove_dialog(&b, "DEPLOY_KEY", list).await?;
        ensure!(text.contains("DEPLOY_KEY"), "the window reads {text:?}");
        b.click("confirm-remove").await?;
        b.element("env-empty").await?;
        b.at_path(list).await?;
        b.no_server_error().await
    })
    .await;
    ensure_env_vars_gone(&app).await;
    b.finish().await;
}

async fn ensure_env_vars_gone(app: &TestApp) {
    let project = app
        .store
        .projects()
        .by_slug(&ProjectSlug::parse("gh/acme/widgets").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(
        app.store
            .env_vars()
            .list(project.id)
            .await
            .unwrap()
            .is_empty()
    );
}
