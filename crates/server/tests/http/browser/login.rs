//! Signing up the first admin, logging in and out, and a wrong password.

use super::Browser;
use crate::app::{PASSWORD, TestApp};
use anyhow::{Context, ensure};
use circlet_core::ProjectSlug;
use circlet_store::BackendKind;
use fantoccini::Locator;

/// The walk-through: set up the first admin, log out and in, add a project, find it on
/// the dashboard, log out, and be sent to the login page.
#[tokio::test]
async fn setup_login_add_project_logout() {
    let app = TestApp::spawn(BackendKind::Sqlite).await;
    let b = Browser::start("setup_login_add_project_logout").await;

    b.step("open-setup", async {
        b.goto(&app.state.setup_url()).await?;
        b.element("password_confirm").await?;
        b.no_server_error().await
    })
    .await;

    b.step("create-admin", async {
        b.fill("login", "ada").await?;
        b.fill("name", "Ada Lovelace").await?;
        b.fill("email", "ada@example.test").await?;
        b.fill("password", PASSWORD).await?;
        b.fill("password_confirm", PASSWORD).await?;
        b.click("submit").await?;
        let nav = b.text("nav-account").await?;
        ensure!(
            nav == "ada",
            "the navigation shows {nav:?}, not the admin's login"
        );
        b.at_path("/").await?;
        b.element("add-project").await?;
        b.no_server_error().await
    })
    .await;

    b.step("log-out", b.log_out()).await;
    b.step("log-in", b.log_in(&app, "ada", PASSWORD)).await;

    b.step("open-add-project", async {
        b.click("add-project").await?;
        b.at_path("/projects/new").await?;
        b.element("repo_url").await?;
        b.no_server_error().await
    })
    .await;

    b.step("add-project", async {
        b.element("vcs")
            .await?
            .select_by(Locator::Css("option[value='gh']"))
            .await?;
        b.fill("org", "acme").await?;
        b.fill("repo", "widgets").await?;
        b.fill("repo_url", "file:///srv/git/widgets.git").await?;
        b.fill("default_branch", "trunk").await?;
        b.click("submit").await?;
        let slug = b.text("project-slug").await?;
        ensure!(slug == "gh/acme/widgets", "the project page shows {slug:?}");
        b.at_path("/projects/gh/acme/widgets").await?;
        b.no_server_error().await
    })
    .await;

    b.step("project-stored", async {
        let slug = ProjectSlug::parse("gh/acme/widgets")?;
        let project = app
            .store
            .projects()
            .by_slug(&slug)
            .await?
            .context("the project is not in the store")?;
        ensure!(project.repo_url.as_str() == "file:///srv/git/widgets.git");
        ensure!(project.default_branch.as_str() == "trunk");
        ensure!(!project.public, "the project should be private");
        Ok(())
    })
    .await;

    b.step("dashboard-lists-project", async {
        b.client
            .find(Locator::LinkText("Projects"))
            .await?
            .click()
            .await?;
        b.at_path("/").await?;
        let projects = b.text("projects").await?;
        ensure!(
            projects.contains("gh/acme/widgets"),
            "the dashboard's projects table reads {projects:?}"
        );
        b.no_server_error().await
    })
    .await;

    b.step("log-out-again", b.log_out()).await;

    b.step("dashboard-needs-login", async {
        b.goto(&app.at("/")).await?;
        b.at_path("/login").await?;
        b.element("password").await?;
        b.no_server_error().await
    })
    .await;

    b.finish().await;
}

/// A wrong password shows the login page again with the error message, not a server error.
#[tokio::test]
async fn wrong_password_shows_the_error() {
    let app = TestApp::spawn(BackendKind::Sqlite).await;
    app.user("alice", false).await;
    let b = Browser::start("wrong_password_shows_the_error").await;

    b.step("submit-wrong-password", async {
        b.goto(&app.at("/login")).await?;
        b.fill("login", "alice").await?;
        b.fill("password", "not the right password").await?;
        b.click("submit").await?;
        let message = b.text("error-message").await?;
        ensure!(
            message.contains("Incorrect login or password."),
            "the error message reads {message:?}"
        );
        let status = b.status().await?;
        ensure!(status == 401, "the error page came with HTTP {status}");
        Ok(())
    })
    .await;

    b.step("still-logged-out", async {
        ensure!(
            b.client.find(Locator::Id("nav-account")).await.is_err(),
            "signed in despite the wrong password"
        );
        let login = b.element("login").await?.prop("value").await?;
        ensure!(
            login.as_deref() == Some("alice"),
            "the login field should keep what was typed, has {login:?}"
        );
        Ok(())
    })
    .await;

    b.finish().await;
}
