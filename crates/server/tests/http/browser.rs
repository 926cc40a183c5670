//! The web UI in a real browser: headless Chromium driven through chromedriver (WebDriver).
//!
//! Each test starts its own chromedriver on a free port with a fresh Chromium profile. Tests are
//! written as named steps; a failing step saves a screenshot to
//! `target/browser-screenshots/<test>-<step>.png` before panicking. A missing chromedriver or
//! Chromium fails the test (set `CIRCLET_CHROMEDRIVER` / `CIRCLET_CHROMIUM` to point elsewhere).
//!
//! `driver` holds the plumbing; each other module is one part of the UI, with the pages that
//! several of them use (a token shown once, the confirmation window) read by the helpers here.

mod accounts;
mod contexts;
mod driver;
mod env_vars;
mod layout;
mod login;
mod projects;
mod ssh_keys;
mod token_pages;
mod tokens;
mod webhooks;

use anyhow::{Context, ensure};
use driver::{Browser, POLL, WAIT};
use fantoccini::Locator;

/// Reads a token value from the "shown once" page: the value, the warning and the copy button.
async fn read_shown_token(b: &Browser, prefix: &str) -> anyhow::Result<String> {
    let value = b.text("token-value").await?;
    ensure!(
        value.starts_with(prefix) && value.len() == 70,
        "the page shows {value:?} as the token"
    );
    let warning = b.text("token-warning").await?;
    ensure!(
        warning.contains("will not be shown again"),
        "the warning reads {warning:?}"
    );
    b.click("copy-token").await?;
    b.until("the copy button to report the copy", || async {
        let label = b.text("copy-token").await?;
        Ok((label == "Copied").then_some(()))
    })
    .await?;
    b.no_server_error().await?;
    Ok(value)
}

/// Clicks the ✕ of the token named `name`, waits for the confirmation window, and returns its
/// text; the list page stays where it is underneath.
async fn open_remove_dialog(b: &Browser, name: &str, list_path: &str) -> anyhow::Result<String> {
    b.client
        .find(Locator::Css(&format!(
            "a[data-dialog][title='Remove {name}']"
        )))
        .await
        .with_context(|| format!("no ✕ for {name}"))?
        .click()
        .await?;
    let dialog = b
        .client
        .wait()
        .at_most(WAIT)
        .every(POLL)
        .for_element(Locator::Css("dialog#confirm-dialog[open]"))
        .await
        .context("no open confirmation window")?;
    b.at_path(list_path).await?;
    Ok(dialog.text().await?)
}
