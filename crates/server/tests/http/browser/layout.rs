//! Layout as the user sees it (issue 17 items 4 and 11), measured in a real Chromium: the
//! settings pages' one content column, the trigger form's controls, tables that scroll with a
//! cue, a 375 px wide phone, and page titles.

use super::Browser;
use crate::app::{PASSWORD, TestApp};
use anyhow::ensure;
use circlet_store::BackendKind;
use serde_json::Value;

/// Runs `js` (a function body that returns a value) on the current page.
async fn js(b: &Browser, js: &str) -> anyhow::Result<Value> {
    Ok(b.client.execute(js, vec![]).await?)
}

/// `[left, right, width]` of each element matching `selector`, in page order.
async fn boxes(b: &Browser, selector: &str) -> anyhow::Result<Vec<[f64; 3]>> {
    let v = js(
        b,
        &format!(
            "return [...document.querySelectorAll({selector:?})].map(e => {{ \
               const r = e.getBoundingClientRect(); return [r.left, r.right, r.width]; }});"
        ),
    )
    .await?;
    Ok(serde_json::from_value(v)?)
}

/// Whether the page scrolls sideways.
async fn overflows(b: &Browser) -> anyhow::Result<(f64, f64)> {
    let v = js(
        b,
        "return [document.documentElement.scrollWidth, document.documentElement.clientWidth];",
    )
    .await?;
    Ok(serde_json::from_value(v)?)
}

/// Item 4: every card of a settings page stands in the one content column right of the menu,
/// however many cards it has; the Status Badges page with a new token, its preview and
/// snippets stays a page of ordinary height.
#[tokio::test]
async fn settings_cards_share_one_content_column() {
    let app = TestApp::spawn(BackendKind::Sqlite).await;
    let owner = app.user("owner", false).await;
    app.project(&owner, "gh/acme/widgets", false).await;
    let b = Browser::start("settings_cards_share_one_content_column").await;
    b.step("log-in", b.log_in(&app, "owner", PASSWORD)).await;

    b.step("badges-with-a-new-token", async {
        b.goto(&app.at("/projects/gh/acme/widgets/settings/badges"))
            .await?;
        b.click("badge-create-token").await?;
        b.element("badge-result").await?;
        let menu = boxes(&b, ".settings > .tabs").await?;
        let cards = boxes(&b, ".settings > .card").await?;
        ensure!(
            cards.len() == 3,
            "three cards: form, token, preview: {cards:?}"
        );
        let [_, menu_right, _] = menu[0];
        let [first_left, first_right, _] = cards[0];
        for [left, right, width] in &cards {
            ensure!(
                *left >= menu_right && (*left - first_left).abs() < 1.0,
                "a card at x={left} is not in the content column (menu ends at {menu_right}, \
                 the first card starts at {first_left}): {cards:?}"
            );
            ensure!(
                (*right - first_right).abs() < 1.0 && *width > 600.0,
                "a card is {width}px wide, ending at {right}: {cards:?}"
            );
        }
        let title = b.client.title().await?;
        ensure!(
            title == "Status Badges · gh/acme/widgets · circlet",
            "title {title:?}"
        );
        let height = js(&b, "return document.documentElement.scrollHeight;").await?;
        ensure!(
            height.as_f64().unwrap_or(f64::MAX) < 2000.0,
            "the page is {height}px high"
        );
        b.no_server_error().await
    })
    .await;
    b.step("titles-name-the-page", async {
        for (path, want) in [
            (
                "/projects/gh/acme/widgets/settings/members",
                "Members · Settings · gh/acme/widgets · circlet",
            ),
            (
                "/projects/gh/acme/widgets/settings",
                "General · Settings · gh/acme/widgets · circlet",
            ),
            ("/account/tokens", "Personal API Tokens · circlet"),
        ] {
            b.goto(&app.at(path)).await?;
            let title = b.client.title().await?;
            ensure!(title == want, "{path}: title {title:?}");
        }
        Ok(())
    })
    .await;
    b.finish().await;
}

/// Item 11: the trigger form's radios are radio-sized, its labels hold on one line, the
/// parameters box is under its label and as wide as the form; the page's title names it.
#[tokio::test]
async fn the_trigger_form_is_drawn_as_a_form() {
    let app = TestApp::spawn(BackendKind::Sqlite).await;
    let owner = app.user("owner", false).await;
    app.project(&owner, "gh/acme/widgets", false).await;
    let b = Browser::start("the_trigger_form_is_drawn_as_a_form").await;
    b.step("log-in", b.log_in(&app, "owner", PASSWORD)).await;

    b.step("measure", async {
        b.goto(&app.at("/projects/gh/acme/widgets/trigger")).await?;
        let title = b.client.title().await?;
        ensure!(
            title == "Trigger pipeline · gh/acme/widgets · circlet",
            "title {title:?}"
        );
        for radio in boxes(&b, "input[type=radio]").await? {
            ensure!(radio[2] <= 20.0, "a radio is {}px wide", radio[2]);
        }
        let v = js(
            &b,
            "const l = document.getElementById('parameters-label').getBoundingClientRect(); \
             const t = document.getElementById('parameters').getBoundingClientRect(); \
             const n = document.getElementById('name').getBoundingClientRect(); \
             const line = parseFloat(getComputedStyle(document.getElementById('parameters-label')).lineHeight); \
             return [l.height, line, l.bottom, t.top, t.width, n.width, t.height];",
        )
        .await?;
        let [label_h, line, label_bottom, area_top, area_w, input_w, area_h]: [f64; 7] =
            serde_json::from_value(v)?;
        ensure!(label_h < line * 1.5, "the label takes {label_h}px (line {line}px)");
        ensure!(area_top >= label_bottom, "the textarea starts beside its label");
        ensure!(
            (area_w - input_w).abs() < 2.0 && area_h >= 90.0,
            "the textarea is {area_w}×{area_h}, the name field {input_w} wide"
        );
        b.no_server_error().await
    })
    .await;
    b.finish().await;
}

/// Item 11: at 375 px the project page does not scroll sideways; a table too wide for the
/// screen scrolls inside its frame, with a hint and a faded edge saying so.
#[tokio::test]
async fn a_phone_sees_pages_without_sideways_scrolling_and_tables_with_a_cue() {
    let app = TestApp::spawn(BackendKind::Sqlite).await;
    let owner = app.user("owner", false).await;
    let repo = circlet_testkit::GitRepo::with_config(
        "version: 2.1\njobs:\n  build:\n    steps:\n      - run: echo hi\n  test-with-a-rather-long-name:\n    steps:\n      - run: echo hi\nworkflows:\n  main:\n    jobs: [build, {test-with-a-rather-long-name: {requires: [build]}}]\n",
    );
    app.project_with_repo(
        &owner,
        "gh/acme-corporation/widgets-and-gadgets",
        &repo.url(),
        false,
    )
    .await;
    let b =
        Browser::start("a_phone_sees_pages_without_sideways_scrolling_and_tables_with_a_cue").await;
    b.step("log-in", b.log_in(&app, "owner", PASSWORD)).await;
    let long = "feature/a-branch-name-far-too-long-to-fit-on-any-phone-screen-at-all";
    repo.commit_on(long, &[("README", "more")], "a feature with a long name");
    b.step("trigger", async {
        for (n, branch) in [(1, "main"), (2, long)] {
            b.goto(&app.at("/projects/gh/acme-corporation/widgets-and-gadgets/trigger"))
                .await?;
            js(
                &b,
                &format!("document.getElementById('name').value = {branch:?}; return null;"),
            )
            .await?;
            b.click("submit").await?;
            b.element(&format!("pipeline-{n}")).await?;
        }
        b.no_server_error().await
    })
    .await;
    b.client
        .set_window_size(375, 800)
        .await
        .expect("a phone's width");

    b.step("project-page", async {
        b.goto(&app.at("/projects/gh/acme-corporation/widgets-and-gadgets"))
            .await?;
        b.element("pipeline-2").await?;
        let (scroll, client) = overflows(&b).await?;
        ensure!(
            scroll <= client,
            "the page is {scroll}px wide in a {client}px window"
        );
        let filtered = format!(
            "/projects/gh/acme-corporation/widgets-and-gadgets?branch={}",
            long.replace('/', "%2F")
        );
        b.goto(&app.at(&filtered)).await?;
        b.element("pipeline-2").await?;
        let (scroll, client) = overflows(&b).await?;
        ensure!(
            scroll <= client,
            "one branch's page is {scroll}px wide in a {client}px window"
        );
        b.no_server_error().await
    })
    .await;

    b.step("wide-table", async {
        b.goto(&app.at("/")).await?;
        b.element("projects").await?;
        let (scroll, client) = overflows(&b).await?;
        ensure!(scroll <= client, "the dashboard is {scroll}px wide in a {client}px window");
        let v = js(
            &b,
            "const w = document.querySelector('#projects').closest('.table-wrap'); \
             const hint = w.previousElementSibling; \
             return [w.scrollWidth > w.clientWidth, w.classList.contains('more-right'), \
                     !!hint && hint.classList.contains('scroll-hint') && !hint.hidden && hint.offsetHeight > 0];",
        )
        .await?;
        ensure!(
            v == serde_json::json!([true, true, true]),
            "[wider than the screen, right edge faded, hint shown] = {v}"
        );
        // Names and dates stay on one line each.
        let lines = js(
            &b,
            "return [...document.querySelectorAll('#projects td a, #projects td .meta')]                .map(e => e.getClientRects().length);",
        )
        .await?;
        ensure!(
            lines.as_array().is_some_and(|l| !l.is_empty() && l.iter().all(|n| n == 1)),
            "line boxes per name or date: {lines}"
        );
        // Scrolled to its end, the right edge no longer fades.
        let v = js(
            &b,
            "const w = document.querySelector('#projects').closest('.table-wrap'); \
             w.scrollLeft = w.scrollWidth; w.dispatchEvent(new Event('scroll')); \
             return [w.classList.contains('more-right'), w.classList.contains('more-left')];",
        )
        .await?;
        ensure!(v == serde_json::json!([false, true]), "after scrolling: {v}");
        b.no_server_error().await
    })
    .await;
    b.finish().await;
}
