//! Issue 17, items 3 and 10: the token pages as a new user meets them. A refresh or Back on
//! the "copy it now" page never mints or kills a token; the narrower-scope hint is a warning
//! with a one-step replacement; Replace may choose a new expiry; choices and lists say exact
//! dates and relative times; creation switched off hides the Create button and says why.

use super::tokens::call_api;
use super::{Browser, read_shown_token};
use crate::app::{PASSWORD, TestApp};
use anyhow::{Context, ensure};
use circlet_app::tokens::{Actor, set_creation_disabled};
use circlet_core::scope::ProjectScope;
use circlet_store::BackendKind;
use fantoccini::Locator;
use time::{Duration, OffsetDateTime};

/// `YYYY-MM-DD` of the day `days` from today (UTC).
fn day_in(days: i64) -> String {
    let d = OffsetDateTime::now_utc().date() + Duration::days(days);
    let f = time::macros::format_description!("[year]-[month]-[day]");
    d.format(&f).unwrap()
}

/// Accepts the confirmation window a `data-confirm` form opens.
async fn confirm(b: &Browser) -> anyhow::Result<()> {
    b.dialog().await?;
    b.client.accept_alert().await?;
    Ok(())
}

/// The current page's HTML.
async fn source(b: &Browser) -> anyhow::Result<String> {
    Ok(b.client.source().await?)
}

/// The `class` attribute of the element with `id`.
async fn class_of(b: &Browser, id: &str) -> anyhow::Result<String> {
    Ok(b.element(id)
        .await?
        .attr("class")
        .await?
        .unwrap_or_default())
}

/// Item 3: Create and Replace answer with a redirect to a one-time page; a refresh or Back
/// shows that the value was shown, never a second token or a 404.
#[tokio::test]
async fn a_refresh_or_back_on_the_shown_once_page_never_mints_or_kills_a_token() {
    let app = TestApp::spawn(BackendKind::Sqlite).await;
    let alice = app.user("alice", false).await;
    let project = app.project(&alice, "gh/acme/widgets", false).await;
    let personal_count = || async {
        app.store
            .tokens()
            .list_personal(alice.id)
            .await
            .unwrap()
            .len()
    };
    let b = Browser::start("a_refresh_or_back_on_the_shown_once_page_never_mints_or_kills_a_token")
        .await;
    b.step("log-in", b.log_in(&app, "alice", PASSWORD)).await;

    b.step("create", async {
        b.goto(&app.at("/account/tokens")).await?;
        b.click("create-token").await?;
        b.at_path("/account/tokens/new").await?;
        b.fill("name", "deploy").await?;
        b.click("submit").await?;
        b.element("token-value").await?;
        Ok(())
    })
    .await;
    let first = b.step("read-value", read_shown_token(&b, "CCIPAT_")).await;
    let created_path = b.step("at-the-one-time-page", b.path()).await;

    b.step("refresh-shows-it-was-shown", async {
        ensure!(
            created_path.starts_with("/account/tokens/") && created_path.ends_with("/created"),
            "the form redirected to {created_path}"
        );
        b.client.refresh().await?;
        b.element("token-shown").await?;
        ensure!(b.status().await? == 200, "the refreshed page's status");
        ensure!(
            !source(&b).await?.contains(&first),
            "the value is shown again"
        );
        ensure!(personal_count().await == 1, "a refresh minted a token");
        Ok(())
    })
    .await;

    b.step("back-goes-to-the-form", async {
        b.client.back().await?;
        b.at_path("/account/tokens/new").await?;
        ensure!(personal_count().await == 1, "Back minted a token");
        let (status, _) = call_api(&app, &first, "/api/v2/me").await?;
        ensure!(status == 200, "the token works: {status}");
        Ok(())
    })
    .await;

    let second = b
        .step("replace", async {
            b.goto(&app.at(&created_path.replace("/created", "")))
                .await?;
            b.click("replace-token").await?;
            confirm(&b).await?;
            b.element("token-value").await?;
            read_shown_token(&b, "CCIPAT_").await
        })
        .await;

    b.step("refresh-after-replace", async {
        ensure!(second != first, "the replacement has a new value");
        let replaced_path = b.path().await?;
        ensure!(
            replaced_path.ends_with("/created"),
            "Replace redirected to {replaced_path}"
        );
        b.client.refresh().await?;
        b.element("token-shown").await?;
        ensure!(
            b.status().await? == 200,
            "a refresh after Replace is not a 404"
        );
        ensure!(
            !source(&b).await?.contains(&second),
            "the new value is shown again"
        );
        ensure!(
            personal_count().await == 1,
            "a refresh after Replace minted a token"
        );
        let (old, _) = call_api(&app, &first, "/api/v2/me").await?;
        let (new, _) = call_api(&app, &second, "/api/v2/me").await?;
        ensure!((old, new) == (401, 200), "old {old}, new {new}");
        b.click("token-page").await?;
        b.element("token-detail").await?;
        b.no_server_error().await
    })
    .await;

    b.step("project-token-refresh", async {
        b.goto(&app.at("/projects/gh/acme/widgets/settings/api/new"))
            .await?;
        b.element("scope")
            .await?
            .select_by(Locator::Css("option[value='status']"))
            .await?;
        b.fill("label", "badge").await?;
        b.click("submit").await?;
        let value = read_shown_token(&b, "CCIPRJ_").await?;
        b.client.refresh().await?;
        b.element("token-shown").await?;
        ensure!(
            !source(&b).await?.contains(&value),
            "the project token is shown again"
        );
        let listed = app.store.tokens().list_project(project.id).await?;
        ensure!(
            listed.len() == 1,
            "{} project tokens after a refresh",
            listed.len()
        );
        Ok(())
    })
    .await;

    b.finish().await;
}

/// Item 10: the hint is a warning with a one-step "Replace with a Status token"; Replace may
/// choose a new expiry, each choice saying its date; times read relatively with the exact time
/// on hover; usage is said to be recorded within a minute; with creation switched off there is
/// no Create button, and the page says why; both kinds of token use the same button words.
#[tokio::test]
async fn token_pages_warn_of_wide_scopes_say_dates_plainly_and_why_creation_is_off() {
    let app = TestApp::spawn(BackendKind::Sqlite).await;
    let owner = app.user("owner", false).await;
    let project = app.project(&owner, "gh/acme/widgets", false).await;
    let wide = app.project_token(&project, ProjectScope::All).await;
    let list = "/projects/gh/acme/widgets/settings/api";
    let b =
        Browser::start("token_pages_warn_of_wide_scopes_say_dates_plainly_and_why_creation_is_off")
            .await;
    b.step("log-in", b.log_in(&app, "owner", PASSWORD)).await;

    b.step("use-it-for-status-only", async {
        let r = reqwest::Client::new()
            .get(app.at("/gh/acme/widgets.svg"))
            .header("Circle-Token", &wide)
            .send()
            .await?;
        ensure!(r.status() == 200, "the badge: {}", r.status());
        app.state.app.usage.flush(&app.state.app).await;
        Ok(())
    })
    .await;

    b.step("list-reads-relatively", async {
        b.goto(&app.at(list)).await?;
        let row = b.text("tokens").await?;
        ensure!(row.contains("just now"), "the list reads {row:?}");
        let note = b.text("usage-note").await?;
        ensure!(note.contains("within a minute"), "the note reads {note:?}");
        let created = b
            .client
            .find(Locator::Css("#tokens td time"))
            .await
            .context("no <time> in the list")?;
        let title = created.attr("title").await?.unwrap_or_default();
        ensure!(
            title.starts_with(&day_in(0)) && title.ends_with("UTC"),
            "the exact time on hover is {title:?}"
        );
        let create = b.text("create-token").await?;
        ensure!(
            create == "Create New Token",
            "the project's button reads {create:?}"
        );
        Ok(())
    })
    .await;

    b.step("hint-is-a-warning-with-one-step", async {
        let record = app.store.tokens().list_project(project.id).await?.remove(0);
        b.goto(&app.at(&format!("{list}/{}", record.uuid))).await?;
        let class = class_of(&b, "hint").await?;
        ensure!(
            class.contains("warning") && !class.contains("notice"),
            "the hint's class is {class:?}"
        );
        let hint = b.text("hint").await?;
        ensure!(hint.contains("Status"), "the hint reads {hint:?}");
        let button = b.text("replace-narrower").await?;
        ensure!(
            button == "Replace with a Status token",
            "the button reads {button:?}"
        );
        b.click("replace-narrower").await?;
        confirm(&b).await?;
        let narrowed = read_shown_token(&b, "CCIPRJ_").await?;
        let tokens = app.store.tokens().list_project(project.id).await?;
        ensure!(
            tokens.len() == 1 && tokens[0].scope == Some(ProjectScope::Status),
            "after the one step: {:?}",
            tokens.iter().map(|t| t.scope).collect::<Vec<_>>()
        );
        let (status, _) = call_api(&app, &wide, "/api/v1.1/project/gh/acme/widgets").await?;
        ensure!(status == 401, "the wide value still works: {status}");
        let r = reqwest::Client::new()
            .get(app.at("/gh/acme/widgets.svg"))
            .header("Circle-Token", &narrowed)
            .send()
            .await?;
        ensure!(
            r.status() == 200,
            "the Status token reads the badge: {}",
            r.status()
        );
        Ok(())
    })
    .await;

    b.step("replace-with-a-new-expiry", async {
        let record = app.store.tokens().list_project(project.id).await?.remove(0);
        b.goto(&app.at(&format!("{list}/{}", record.uuid))).await?;
        let kept = b.text("expiry").await?;
        ensure!(
            kept.contains("As now: no expiry"),
            "the choices read {kept:?}"
        );
        let thirty = b
            .element("expiry")
            .await?
            .find(Locator::Css("option[value='30']"))
            .await?;
        let label = thirty.text().await?;
        ensure!(
            label == format!("30 days · until {}", day_in(30)),
            "the 30-day choice reads {label:?}"
        );
        thirty.click().await?;
        b.click("replace-token").await?;
        confirm(&b).await?;
        b.element("token-value").await?;
        let expires = b.text("token-expires").await?;
        ensure!(expires == "in 29 days", "the new token expires {expires:?}");
        let exact = b
            .client
            .find(Locator::Css("#token-expires time"))
            .await?
            .attr("title")
            .await?
            .unwrap_or_default();
        ensure!(
            exact.starts_with(&day_in(30)),
            "its exact expiry is {exact:?}"
        );
        let now = app.store.tokens().list_project(project.id).await?.remove(0);
        let at = now.expires_at.context("the replacement has no expiry")?;
        let days = (at - OffsetDateTime::now_utc()).whole_days();
        ensure!(days == 29, "stored expiry is {days} whole days away");
        Ok(())
    })
    .await;

    b.step("one-wording-for-creating", async {
        b.goto(&app.at("/account/tokens")).await?;
        let personal = b.text("create-token").await?;
        ensure!(
            personal == "Create New Token",
            "the personal button reads {personal:?}"
        );
        b.click("create-token").await?;
        let submit = b.text("submit").await?;
        b.goto(&app.at(&format!("{list}/new"))).await?;
        let project_submit = b.text("submit").await?;
        ensure!(
            submit == "Add API Token" && project_submit == submit,
            "the forms' buttons read {submit:?} and {project_submit:?}"
        );
        Ok(())
    })
    .await;

    b.step("creation-switched-off", async {
        let admin = Actor {
            user_id: None,
            login: "site-admin".into(),
            address: String::new(),
        };
        set_creation_disabled(&app.store, true, &admin).await?;
        for page in ["/account/tokens", list] {
            b.goto(&app.at(page)).await?;
            let why = b.text("creation-closed").await?;
            ensure!(
                why.contains("disabled API token creation"),
                "{page} says {why:?}"
            );
            ensure!(
                b.client.find(Locator::Id("create-token")).await.is_err(),
                "{page} still offers Create New Token"
            );
        }
        let record = app.store.tokens().list_project(project.id).await?.remove(0);
        b.goto(&app.at(&format!("{list}/{}", record.uuid))).await?;
        b.element("creation-disabled").await?;
        ensure!(
            b.client.find(Locator::Id("replace-token")).await.is_err(),
            "Replace is offered while creation is off"
        );
        b.goto(&app.at("/account/tokens/new")).await?;
        ensure!(b.status().await? == 403, "the form while creation is off");
        ensure!(
            source(&b).await?.contains("disabled API token creation"),
            "the form's page does not say why"
        );
        Ok(())
    })
    .await;

    b.finish().await;
}
