//! Personal, project and runner tokens: created, shown once, used over HTTP, removed or revoked
//! through the confirmation window, then refused.

use super::{Browser, open_remove_dialog, read_shown_token};
use crate::app::{PASSWORD, TestApp};
use anyhow::ensure;
use circlet_store::BackendKind;
use fantoccini::Locator;

/// Calls `path` with `token` in the `Circle-Token` header; the status and the JSON message.
pub(super) async fn call_api(
    app: &TestApp,
    token: &str,
    path: &str,
) -> anyhow::Result<(u16, serde_json::Value)> {
    let r = reqwest::Client::new()
        .get(app.at(path))
        .header("Circle-Token", token)
        .send()
        .await?;
    let status = r.status().as_u16();
    Ok((status, r.json().await?))
}

/// Dismisses the confirmation window with Cancel, then removes the token through it.
async fn cancel_then_remove(
    b: &Browser,
    name: &str,
    list_path: &str,
    impact: &[&str],
) -> anyhow::Result<()> {
    let text = open_remove_dialog(b, name, list_path).await?;
    ensure!(
        text.contains(name),
        "the window does not name {name}: {text:?}"
    );
    for fact in impact {
        ensure!(text.contains(fact), "the window lacks {fact:?}: {text:?}");
    }
    b.click("cancel-remove").await?;
    b.until("the confirmation window to close", || async {
        Ok(b.client
            .find(Locator::Css("dialog#confirm-dialog[open]"))
            .await
            .is_err()
            .then_some(()))
    })
    .await?;
    ensure!(
        b.text("tokens").await?.contains(name),
        "cancel removed {name}"
    );

    open_remove_dialog(b, name, list_path).await?;
    b.click("confirm-remove").await?;
    b.element("no-tokens").await?;
    b.at_path(list_path).await?;
    b.no_server_error().await
}

/// Issue item 15, personal tokens: create one in User settings, copy the value shown once, use
/// it over HTTP, remove it through the confirmation window, and see it refused.
#[tokio::test]
async fn a_personal_token_is_created_used_and_removed() {
    let app = TestApp::spawn(BackendKind::Sqlite).await;
    app.user("alice", false).await;
    let b = Browser::start("a_personal_token_is_created_used_and_removed").await;
    b.step("log-in", b.log_in(&app, "alice", PASSWORD)).await;

    b.step("open-tokens-tab", async {
        b.click("nav-account").await?;
        b.at_path("/account").await?;
        b.click("tab-tokens").await?;
        b.at_path("/account/tokens").await?;
        b.element("no-tokens").await?;
        b.no_server_error().await
    })
    .await;

    b.step("create", async {
        b.click("create-token").await?;
        b.at_path("/account/tokens/new").await?;
        b.fill("name", "ci-bot").await?;
        b.element("expiry")
            .await?
            .select_by(Locator::Css("option[value='never']"))
            .await?;
        b.click("submit").await?;
        b.element("token-value").await?;
        b.no_server_error().await
    })
    .await;
    let token = b.step("read-value", read_shown_token(&b, "CCIPAT_")).await;

    b.step("use-it", async {
        let (status, me) = call_api(&app, &token, "/api/v2/me").await?;
        ensure!(
            status == 200 && me["login"] == "alice",
            "GET /api/v2/me: {status} {me}"
        );
        app.state.app.usage.flush(&app.state.app).await;
        Ok(())
    })
    .await;

    b.step("listed-masked", async {
        b.click("done").await?;
        b.at_path("/account/tokens").await?;
        let table = b.text("tokens").await?;
        let last4 = &token[token.len() - 4..];
        ensure!(
            table.contains("ci-bot") && table.contains(&format!("…{last4}")),
            "the table reads {table:?}"
        );
        ensure!(!table.contains(&token), "the list shows the whole token");
        Ok(())
    })
    .await;

    b.step(
        "remove-through-the-window",
        cancel_then_remove(&b, "ci-bot", "/account/tokens", &["127.0.0.1", "me"]),
    )
    .await;

    b.step("refused-after-removal", async {
        let (status, body) = call_api(&app, &token, "/api/v2/me").await?;
        ensure!(
            status == 401 && body["message"] == "Invalid token provided.",
            "GET /api/v2/me after removal: {status} {body}"
        );
        Ok(())
    })
    .await;

    b.finish().await;
}

/// Issue item 15, project tokens: create one under API Permissions, copy the value shown once,
/// use it over HTTP, remove it through the confirmation window, and see it refused.
#[tokio::test]
async fn a_project_token_is_created_used_and_removed() {
    let app = TestApp::spawn(BackendKind::Sqlite).await;
    let owner = app.user("owner", false).await;
    app.project_with_repo(
        &owner,
        "gh/acme/widgets",
        "file:///srv/git/widgets.git",
        false,
    )
    .await;
    let list = "/projects/gh/acme/widgets/settings/api";
    let tokens_api = "/api/v1.1/project/gh/acme/widgets/token";
    let b = Browser::start("a_project_token_is_created_used_and_removed").await;
    b.step("log-in", b.log_in(&app, "owner", PASSWORD)).await;

    b.step("open-api-permissions", async {
        b.goto(&app.at("/projects/gh/acme/widgets/settings"))
            .await?;
        b.click("tab-api").await?;
        b.at_path(list).await?;
        b.element("no-tokens").await?;
        b.no_server_error().await
    })
    .await;

    b.step("create", async {
        b.click("create-token").await?;
        b.element("scope")
            .await?
            .select_by(Locator::Css("option[value='all']"))
            .await?;
        b.fill("label", "README badge").await?;
        b.element("expiry")
            .await?
            .select_by(Locator::Css("option[value='never']"))
            .await?;
        b.click("submit").await?;
        b.element("token-value").await?;
        b.no_server_error().await
    })
    .await;
    let token = b.step("read-value", read_shown_token(&b, "CCIPRJ_")).await;

    b.step("use-it", async {
        // The token is recognised: it reaches the authorization check, which refuses project
        // tokens the management of tokens (403, not 401).
        let (status, body) = call_api(&app, &token, tokens_api).await?;
        ensure!(
            status == 403 && body["message"] == "Permission denied",
            "GET {tokens_api}: {status} {body}"
        );
        app.state.app.usage.flush(&app.state.app).await;
        Ok(())
    })
    .await;

    b.step("listed-masked", async {
        b.click("done").await?;
        b.at_path(list).await?;
        let table = b.text("tokens").await?;
        ensure!(
            table.contains("README badge") && table.contains("All"),
            "the table reads {table:?}"
        );
        ensure!(!table.contains(&token), "the list shows the whole token");
        Ok(())
    })
    .await;

    b.step(
        "remove-through-the-window",
        cancel_then_remove(&b, "README badge", list, &["127.0.0.1"]),
    )
    .await;

    b.step("refused-after-removal", async {
        let (status, body) = call_api(&app, &token, tokens_api).await?;
        ensure!(
            status == 401 && body["message"] == "Invalid token provided.",
            "GET {tokens_api} after removal: {status} {body}"
        );
        Ok(())
    })
    .await;

    b.finish().await;
}

/// Issue 4 item 12: Admin → Runners: create a runner token (shown once, with the command that
/// starts a runner), see it listed masked, revoke it through the confirmation.
#[tokio::test]
async fn a_runner_token_is_created_and_revoked_in_admin_runners() {
    let app = TestApp::spawn(BackendKind::Sqlite).await;
    app.user("root", true).await;
    let b = Browser::start("a_runner_token_is_created_and_revoked_in_admin_runners").await;
    b.step("log-in", b.log_in(&app, "root", PASSWORD)).await;

    b.step("open-runners", async {
        b.goto(&app.at("/admin/users")).await?;
        b.click("admin-tab-runners").await?;
        b.at_path("/admin/runners").await?;
        b.element("no-runners").await?;
        b.no_server_error().await
    })
    .await;

    b.step("create", async {
        b.fill("runner-name", "build-host-1").await?;
        b.click("create-runner").await?;
        b.element("runner-created").await?;
        b.no_server_error().await
    })
    .await;
    let token = b.step("read-value", read_shown_token(&b, "CCIRUN_")).await;

    b.step("use-it", async {
        let command = b.text("runner-command").await?;
        ensure!(
            command.contains(&token) && command.contains("circlet runner --server"),
            "the command reads {command:?}"
        );
        let r = reqwest::Client::new()
            .post(app.at("/api/runner/v1/claim"))
            .bearer_auth(&token)
            .send()
            .await?;
        ensure!(
            r.status() == 204,
            "claim with the new token: {}",
            r.status()
        );
        Ok(())
    })
    .await;

    b.step("listed-once", async {
        b.goto(&app.at("/admin/runners")).await?;
        let table = b.text("runners").await?;
        ensure!(
            table.contains("build-host-1") && table.contains(&format!("…{}", &token[66..])),
            "the table reads {table:?}"
        );
        ensure!(!b.client.source().await?.contains(&token), "shown twice");
        Ok(())
    })
    .await;

    b.step("revoke", async {
        b.client
            .find(Locator::Css("#runners button.danger-text"))
            .await?
            .click()
            .await?;
        let question = b.dialog().await?;
        ensure!(
            question.contains("build-host-1"),
            "the dialog reads {question:?}"
        );
        b.client.accept_alert().await?;
        b.element("no-runners").await?;
        let r = reqwest::Client::new()
            .post(app.at("/api/runner/v1/claim"))
            .bearer_auth(&token)
            .send()
            .await?;
        ensure!(r.status() == 401, "claim after revoking: {}", r.status());
        b.no_server_error().await
    })
    .await;
    b.finish().await;
}

/// Issue 16, fine-grained personal tokens: the New Token form limits a token to a project and
/// the read role; its pages show the limits, and over HTTP it acts within them only.
#[tokio::test]
async fn a_personal_token_is_limited_in_the_form_and_shows_its_limits() {
    let app = TestApp::spawn(BackendKind::Sqlite).await;
    let alice = app.user("alice", false).await;
    app.project(&alice, "gh/acme/api", false).await;
    app.project(&alice, "gh/acme/web", false).await;
    let b = Browser::start("a_personal_token_is_limited_in_the_form_and_shows_its_limits").await;
    b.step("log-in", b.log_in(&app, "alice", PASSWORD)).await;

    b.step("create-limited", async {
        b.goto(&app.at("/account/tokens/new")).await?;
        b.fill("name", "api-reader").await?;
        let limits = b.text("limits").await?;
        ensure!(
            limits.contains("gh/acme/api") && limits.contains("gh/acme/web"),
            "the form offers the user's projects: {limits:?}"
        );
        b.client
            .find(Locator::Css("input[name='project'][value='gh/acme/api']"))
            .await?
            .click()
            .await?;
        b.element("limit-ceiling")
            .await?
            .select_by(Locator::Css("option[value='read']"))
            .await?;
        b.click("submit").await?;
        b.element("token-value").await?;
        b.no_server_error().await?;
        let shown = b.text("token-limits").await?;
        ensure!(
            shown == "read on gh/acme/api",
            "the new token's page reads {shown:?}"
        );
        Ok(())
    })
    .await;
    let token = b.step("read-value", read_shown_token(&b, "CCIPAT_")).await;

    b.step("acts-within-its-limits", async {
        let (status, _) = call_api(&app, &token, "/api/v1.1/project/gh/acme/api").await?;
        ensure!(status == 200, "its project: {status}");
        let (status, body) = call_api(&app, &token, "/api/v1.1/project/gh/acme/web").await?;
        ensure!(status == 404, "another project of alice's: {status} {body}");
        Ok(())
    })
    .await;

    b.step("list-and-detail-show-the-limits", async {
        b.click("done").await?;
        b.at_path("/account/tokens").await?;
        let table = b.text("tokens").await?;
        ensure!(
            table.contains("api-reader") && table.contains("read on gh/acme/api"),
            "the list reads {table:?}"
        );
        b.client
            .find(Locator::LinkText("api-reader"))
            .await?
            .click()
            .await?;
        let shown = b
            .text_when("token-limits", |t| t.contains("read on"))
            .await?;
        ensure!(
            shown == "read on gh/acme/api",
            "the token's page reads {shown:?}"
        );
        b.no_server_error().await
    })
    .await;
    b.finish().await;
}
