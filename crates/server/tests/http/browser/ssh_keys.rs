//! Project settings → SSH Keys in a real browser: add a deploy key and see its fingerprints,
//! paste an additional key, remove a key after the confirmation dialog.

use super::Browser;
use crate::app::{PASSWORD, TestApp};
use anyhow::ensure;
use circlet_store::BackendKind;
use fantoccini::Locator;

const RSA_PEM: &str = include_str!("../../../../core/tests/ssh_keys/rsa_pem");
const RSA_SHA256: &str = "SHA256:HgUO66ajtCgdIBHGcY/WhHw5O3hpKdi/+W2JffuiMBU";

#[tokio::test]
async fn ssh_keys_are_added_shown_by_fingerprint_and_removed_after_confirming() {
    let app = TestApp::spawn(BackendKind::Sqlite).await;
    let owner = app.user("owner", false).await;
    let project = app.project(&owner, "gh/acme/widgets", false).await;
    let b = Browser::start("ssh_keys_are_added_shown_by_fingerprint_and_removed_after_confirming")
        .await;
    b.step("log-in", b.log_in(&app, "owner", PASSWORD)).await;

    b.step("add-deploy-key", async {
        b.goto(&app.at("/projects/gh/acme/widgets/settings"))
            .await?;
        b.click("tab-ssh").await?;
        b.at_path("/projects/gh/acme/widgets/settings/ssh").await?;
        b.element("checkout-empty").await?;
        b.click("add-deploy-key").await?;
        b.element("checkout-keys").await?;
        let keys = app.store.ssh_keys().of_project(project.id).await?;
        ensure!(keys.len() == 1, "{} keys", keys.len());
        let table = b.text("checkout-keys").await?;
        ensure!(
            table.contains(&keys[0].fingerprint_sha256) && table.contains(&keys[0].fingerprint_md5),
            "the fingerprints are not shown: {table:?}"
        );
        b.no_server_error().await
    })
    .await;

    b.step("add-additional-key", async {
        b.fill("ssh-hostname", "git.example.com").await?;
        b.fill("ssh-private-key", RSA_PEM).await?;
        b.click("add-ssh-key").await?;
        b.element("additional-keys").await?;
        let table = b.text("additional-keys").await?;
        ensure!(
            table.contains("git.example.com") && table.contains(RSA_SHA256),
            "{table:?}"
        );
        let source = b.client.source().await?;
        ensure!(
            !source.contains(RSA_PEM.lines().nth(5).unwrap_or("-")),
            "the private key is on the page"
        );
        b.no_server_error().await
    })
    .await;

    b.step("remove-after-confirming", async {
        let remove = Locator::Css("#additional-keys button.remove");
        b.client.find(remove).await?.click().await?;
        let question = b.dialog().await?;
        ensure!(
            question.contains("git.example.com"),
            "the dialog asks {question:?}"
        );
        b.client.accept_alert().await?;
        b.element("additional-empty").await?;
        let left = app.store.ssh_keys().of_project(project.id).await?;
        ensure!(left.len() == 1 && left[0].kind == "deploy-key", "{left:?}");
        b.no_server_error().await
    })
    .await;
    b.finish().await;
}
