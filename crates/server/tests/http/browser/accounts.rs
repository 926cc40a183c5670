//! Issue 17 item 8, in a browser: a user changes their own password (the current one asked
//! for, their other sessions ended); a site admin sets a new password for a user, and with an
//! SMTP server emails them a reset link, received by a real SMTP server (`aiosmtpd`), which
//! works once, and not once expired; the last site admin cannot remove their own flag.

use super::Browser;
use crate::app::{PASSWORD, TestApp};
use anyhow::{Context, ensure};
use circlet_app::notices::mail::{MailSettings, Mailer};
use circlet_core::Login;
use circlet_store::BackendKind;
use circlet_testkit::SmtpSink;
use std::sync::Arc;

const NEW_PASSWORD: &str = "a brand new passphrase";

/// Emails go to `sink`; reset links live `lifetime`.
fn mailing_to(
    sink: &SmtpSink,
    lifetime: std::time::Duration,
) -> impl FnOnce(&mut crate::app::Config) + use<> {
    let url = sink.url();
    move |c| {
        let settings = MailSettings {
            smtp_url: url.into(),
            from: "circlet <ci@example.test>".into(),
        };
        c.app.mailer = Some(Arc::new(Mailer::new(&settings).unwrap()));
        c.app.reset_link_lifetime = lifetime;
    }
}

/// The reset link in the newest email to `to`.
fn link_in(sink: &SmtpSink, n: usize, to: &str) -> anyhow::Result<String> {
    let mails = sink.wait_for(n);
    let mail = mails.last().context("no email")?;
    ensure!(
        mail.rcpt_to.contains(to),
        "the email went to {}",
        mail.rcpt_to
    );
    ensure!(
        mail.subject.contains("new circlet password"),
        "{}",
        mail.subject
    );
    let link = mail
        .body
        .split_whitespace()
        .find(|w| w.contains("/password-reset?token="))
        .with_context(|| format!("no link in {}", mail.body))?;
    Ok(link.to_owned())
}

/// Whether `login`'s password is `password`, asked of the store as the login page would.
async fn password_is(app: &TestApp, login: &str, password: &str) -> bool {
    let (_, phc) = app
        .store
        .users()
        .credentials(&Login::parse(login).unwrap())
        .await
        .unwrap()
        .unwrap();
    circlet_app::password::verify(password.into(), Some(phc)).await
}

#[tokio::test]
async fn a_user_changes_their_own_password_and_their_other_sessions_end() {
    let app = TestApp::spawn(BackendKind::Sqlite).await;
    app.user("alice", false).await;
    // Another browser of alice's, logged in before the change.
    let elsewhere = app.logged_in("alice").await;
    let b = Browser::start("a_user_changes_their_own_password").await;
    b.step("log-in", b.log_in(&app, "alice", PASSWORD)).await;

    b.step("wrong-current-password", async {
        b.goto(&app.at("/account")).await?;
        b.fill("current_password", "not my password at all").await?;
        b.fill("new_password", NEW_PASSWORD).await?;
        b.fill("new_password_confirm", NEW_PASSWORD).await?;
        b.click("change-password-submit").await?;
        let error = b.text("error-message").await?;
        ensure!(error.contains("current password is not right"), "{error}");
        ensure!(b.status().await? == 400, "a 400 page");
        ensure!(password_is(&app, "alice", PASSWORD).await, "unchanged");
        Ok(())
    })
    .await;

    b.step("change-password", async {
        b.fill("current_password", PASSWORD).await?;
        b.fill("new_password", NEW_PASSWORD).await?;
        b.fill("new_password_confirm", NEW_PASSWORD).await?;
        b.click("change-password-submit").await?;
        let notice = b.text("password-changed").await?;
        ensure!(notice.contains("Your password was changed"), "{notice}");
        // Still logged in here, with a fresh session.
        ensure!(b.text("nav-account").await? == "alice");
        ensure!(password_is(&app, "alice", NEW_PASSWORD).await, "changed");
        b.no_server_error().await
    })
    .await;

    b.step("other-session-ended", async {
        let r = elsewhere.get(app.at("/account")).send().await?;
        ensure!(
            r.status() == 303,
            "the other browser is sent to log in, got {}",
            r.status()
        );
        let audit = app
            .store
            .audit()
            .list(circlet_store::AuditScope::All, 10)
            .await?;
        ensure!(
            audit
                .iter()
                .any(|e| e.event == "user.password_changed" && e.actor_login == "alice"),
            "{audit:?}"
        );
        Ok(())
    })
    .await;

    b.step("log-in-with-the-new-password", async {
        b.log_out().await?;
        b.log_in(&app, "alice", NEW_PASSWORD).await
    })
    .await;
    b.finish().await;
}

#[tokio::test]
async fn an_admin_resets_a_password_by_email_link_once_and_never_after_it_expired() {
    let sink = SmtpSink::start();
    let app = TestApp::spawn_with(
        BackendKind::Sqlite,
        mailing_to(&sink, std::time::Duration::from_secs(3600)),
    )
    .await;
    app.user("root", true).await;
    app.user("alice", false).await;
    let alice_browser = app.logged_in("alice").await;
    let b = Browser::start("an_admin_resets_a_password_by_email_link").await;
    b.step("log-in-as-admin", b.log_in(&app, "root", PASSWORD))
        .await;

    b.step("last-admin-keeps-the-flag", async {
        b.goto(&app.at("/admin/users")).await?;
        b.click("user-root").await?;
        b.at_path("/admin/users/root").await?;
        b.click("user-site-admin").await?;
        b.click("save-user").await?;
        let error = b.text("error-message").await?;
        ensure!(error.contains("last active site admin"), "{error}");
        ensure!(b.status().await? == 409, "a 409 page");
        let root = app
            .store
            .users()
            .by_login(&Login::parse("root")?)
            .await?
            .unwrap();
        ensure!(root.site_admin, "root is still a site admin");
        Ok(())
    })
    .await;

    b.step("edit-a-user", async {
        b.goto(&app.at("/admin/users/alice")).await?;
        b.fill("user-name", "Alice Liddell").await?;
        b.click("save-user").await?;
        let notice = b.text("notice").await?;
        ensure!(notice.contains("Saved"), "{notice}");
        let alice = app
            .store
            .users()
            .by_login(&Login::parse("alice")?)
            .await?
            .unwrap();
        ensure!(alice.name == "Alice Liddell", "{alice:?}");
        b.no_server_error().await
    })
    .await;

    let link = b
        .step("email-a-reset-link", async {
            b.click("email-reset-link").await?;
            let notice = b.text("notice").await?;
            ensure!(notice.contains("alice@example.test"), "{notice}");
            link_in(&sink, 1, "alice@example.test")
        })
        .await;

    b.step("the-link-is-nowhere-else", async {
        let secret = link.split("token=").nth(1).context("a token")?;
        let audit = app
            .store
            .audit()
            .list(circlet_store::AuditScope::All, 20)
            .await?;
        ensure!(
            audit.iter().any(|e| e.event == "user.password_reset_sent"),
            "{audit:?}"
        );
        ensure!(
            !format!("{audit:?}").contains(secret),
            "the link is not in the audit log"
        );
        ensure!(
            !b.client.source().await?.contains(secret),
            "nor on the admin's page"
        );
        Ok(())
    })
    .await;

    b.step("use-the-link", async {
        b.log_out().await?;
        b.goto(&link).await?;
        ensure!(b.text("reset-login").await? == "alice");
        b.fill("new_password", NEW_PASSWORD).await?;
        b.fill("new_password_confirm", NEW_PASSWORD).await?;
        b.click("submit").await?;
        let done = b.text("reset-done").await?;
        ensure!(done.contains("was set"), "{done}");
        ensure!(
            password_is(&app, "alice", NEW_PASSWORD).await,
            "the new password holds"
        );
        let r = alice_browser.get(app.at("/account")).send().await?;
        ensure!(
            r.status() == 303,
            "alice's session ended, got {}",
            r.status()
        );
        b.no_server_error().await
    })
    .await;

    b.step("a-second-use-is-refused", async {
        b.goto(&link).await?;
        let error = b.text("error-message").await?;
        ensure!(error.contains("cannot be used"), "{error}");
        ensure!(b.status().await? == 410, "a 410 page");
        ensure!(
            b.client
                .find(fantoccini::Locator::Id("new_password"))
                .await
                .is_err(),
            "no form"
        );
        b.log_in(&app, "alice", NEW_PASSWORD).await
    })
    .await;
    b.finish().await;

    // A link that expired: this instance's links live no time at all.
    let sink = SmtpSink::start();
    let app = TestApp::spawn_with(
        BackendKind::Sqlite,
        mailing_to(&sink, std::time::Duration::ZERO),
    )
    .await;
    app.user("root", true).await;
    app.user("alice", false).await;
    let b = Browser::start("an_expired_reset_link_is_refused").await;
    b.step("log-in-as-admin", b.log_in(&app, "root", PASSWORD))
        .await;
    let link = b
        .step("email-a-reset-link", async {
            b.goto(&app.at("/admin/users/alice")).await?;
            b.click("email-reset-link").await?;
            b.text("notice").await?;
            link_in(&sink, 1, "alice@example.test")
        })
        .await;
    b.step("the-expired-link-is-refused", async {
        b.log_out().await?;
        b.goto(&link).await?;
        let error = b.text("error-message").await?;
        ensure!(error.contains("expired"), "{error}");
        ensure!(b.status().await? == 410, "a 410 page");
        ensure!(password_is(&app, "alice", PASSWORD).await, "unchanged");
        Ok(())
    })
    .await;
    b.finish().await;
}

#[tokio::test]
async fn without_smtp_an_admin_sets_a_new_password() {
    let app = TestApp::spawn(BackendKind::Sqlite).await;
    app.user("root", true).await;
    app.user("alice", false).await;
    let alice_browser = app.logged_in("alice").await;
    let b = Browser::start("without_smtp_an_admin_sets_a_new_password").await;
    b.step("log-in-as-admin", b.log_in(&app, "root", PASSWORD))
        .await;
    b.step("set-a-password", async {
        b.goto(&app.at("/admin/users/alice")).await?;
        let no_smtp = b.text("no-smtp").await?;
        ensure!(no_smtp.contains("No SMTP server"), "{no_smtp}");
        ensure!(
            b.client
                .find(fantoccini::Locator::Id("email-reset-link"))
                .await
                .is_err()
        );
        b.fill("admin-new-password", NEW_PASSWORD).await?;
        b.click("set-password").await?;
        let question = b.dialog().await?;
        ensure!(
            question.contains("Every session of theirs ends"),
            "{question}"
        );
        b.client.accept_alert().await?;
        let notice = b.text("notice").await?;
        ensure!(
            notice.contains("A new password was set for alice"),
            "{notice}"
        );
        ensure!(password_is(&app, "alice", NEW_PASSWORD).await);
        let r = alice_browser.get(app.at("/account")).send().await?;
        ensure!(
            r.status() == 303,
            "alice's session ended, got {}",
            r.status()
        );
        b.no_server_error().await
    })
    .await;
    b.finish().await;
}
