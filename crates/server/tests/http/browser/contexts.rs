//! Organization settings → Contexts: reached from a project's settings, a context created, a
//! variable added (listed masked, never shown again), restricted to a project and a role, a bad
//! variable name refused readably; a member who is not an admin sees it but no forms.

use super::Browser;
use crate::app::{PASSWORD, TestApp};
use anyhow::ensure;
use circlet_store::BackendKind;

/// Issue 16 item 2: the contexts UI under Organization settings → Contexts.
#[tokio::test]
async fn a_context_is_made_filled_and_restricted_in_the_browser() {
    let app = TestApp::spawn(BackendKind::Sqlite).await;
    let owner = app.user("owner", false).await;
    app.project_with_repo(
        &owner,
        "gh/acme/widgets",
        "file:///srv/git/widgets.git",
        false,
    )
    .await;
    let reader = app.user("reader", false).await;
    let project = app
        .store
        .projects()
        .by_slug(&circlet_core::ProjectSlug::parse("gh/acme/widgets").unwrap())
        .await
        .unwrap()
        .unwrap();
    app.store
        .projects()
        .set_member(project.id, reader.id, circlet_core::Role::Read)
        .await
        .unwrap();
    let b = Browser::start("a_context_is_made_filled_and_restricted_in_the_browser").await;
    b.step("log-in", b.log_in(&app, "owner", PASSWORD)).await;

    b.step("open", async {
        b.goto(&app.at("/projects/gh/acme/widgets/settings"))
            .await?;
        b.click("tab-contexts").await?;
        b.at_path("/organizations/gh/acme/contexts").await?;
        b.element("contexts-empty").await?;
        b.no_server_error().await
    })
    .await;

    b.step("create", async {
        b.fill("context-name", "deploy").await?;
        b.click("context-create").await?;
        let title = b.text("context-title").await?;
        ensure!(title == "deploy", "the page is titled {title:?}");
        b.element("vars-empty").await?;
        b.element("restrictions-empty").await?;
        b.no_server_error().await
    })
    .await;

    b.step("bad-name", async {
        b.client
            .execute(
                "document.getElementById('var-name').removeAttribute('pattern')",
                vec![],
            )
            .await?;
        b.fill("var-name", "MY-VAR").await?;
        b.fill("var-value", "whatever").await?;
        b.click("var-add").await?;
        let error = b.text("error-message").await?;
        ensure!(error.contains("MY-VAR"), "the error reads {error:?}");
        b.no_server_error().await
    })
    .await;

    b.step("add-var", async {
        b.fill("var-name", "DEPLOY_KEY").await?;
        b.fill("var-value", "context-secret-4321").await?;
        b.click("var-add").await?;
        let table = b.text("context-vars").await?;
        ensure!(
            table.contains("DEPLOY_KEY") && table.contains("xxxx4321"),
            "the list reads {table:?}"
        );
        ensure!(
            !b.client.source().await?.contains("context-secret"),
            "the page shows the value"
        );
        b.no_server_error().await
    })
    .await;

    b.step("restrict", async {
        b.click("restrict-project-add").await?;
        b.element("restrictions").await?;
        b.click("restrict-role-add").await?;
        let table = b
            .text_when("restrictions", |t: &str| t.contains("read or higher"))
            .await?;
        ensure!(
            table.contains("gh/acme/widgets"),
            "the restrictions read {table:?}"
        );
        b.no_server_error().await
    })
    .await;

    let context = app
        .store
        .contexts()
        .list(
            app.store
                .organizations()
                .by_name(circlet_core::Vcs::GitHub, "acme")
                .await
                .unwrap()
                .unwrap()
                .id,
        )
        .await
        .unwrap();
    assert_eq!(context.len(), 1);
    let restrictions = app
        .store
        .contexts()
        .restrictions(context[0].id)
        .await
        .unwrap();
    assert_eq!(restrictions.len(), 2);

    b.step("reader-sees-no-forms", async {
        b.log_out().await?;
        b.log_in(&app, "reader", PASSWORD).await?;
        b.goto(&app.at(&format!(
            "/organizations/gh/acme/contexts/{}",
            context[0].uuid
        )))
        .await?;
        let table = b.text("context-vars").await?;
        ensure!(table.contains("DEPLOY_KEY"), "a member reads {table:?}");
        ensure!(
            b.client
                .find(fantoccini::Locator::Id("var-add"))
                .await
                .is_err(),
            "a reader gets the add form"
        );
        b.goto(&app.at("/organizations/gh/acme/contexts")).await?;
        b.element("contexts-admins-only").await?;
        b.no_server_error().await
    })
    .await;
    b.finish().await;
}
