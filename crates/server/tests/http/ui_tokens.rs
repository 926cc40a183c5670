//! The token pages of the web UI over HTTP (issue 3, items 12–14, 19, 22): User settings →
//! Personal API Tokens and Project settings → API Permissions. A token value appears in the one
//! response that created it (marked `no-store`), works over the API, and stops working once it
//! is removed through the confirmation page or replaced.

use crate::app::TestApp;
use circlet_app::tokens::{Actor, issue_personal, issue_project};
use circlet_core::scope::ProjectScope;
use circlet_core::token::TokenName;
use circlet_core::{BranchName, ProjectSlug, RepoUrl, Role};
use circlet_store::{AuditScope, NewProject, Project, TokenRecord, User};
use circlet_testkit::both_backends;
use std::net::{IpAddr, Ipv4Addr};

const INVALID: &str = "Invalid token provided.";
const PROJECT: &str = "gh/acme/widgets";
const API_TAB: &str = "/projects/gh/acme/widgets/settings/api";

/// A form's fields, as posted.
type Fields<'a> = &'a [(&'a str, &'a str)];

/// A page's status and HTML; fails on anything but HTML and on a server error.
async fn page(r: reqwest::Response) -> (u16, String) {
    let status = r.status().as_u16();
    let ct = header(&r, "content-type").unwrap_or_default();
    let html = r.text().await.unwrap();
    assert!(status < 500, "server error {status}: {html}");
    assert!(
        ct.starts_with("text/html"),
        "status {status} has content type {ct:?}"
    );
    (status, html)
}

fn header(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
}

/// The token value on a "shown once" page.
fn shown_value(html: &str) -> String {
    let start = html
        .find("id=\"token-value\">")
        .expect("a token value on the page")
        + "id=\"token-value\">".len();
    html[start..].split('<').next().unwrap().trim().to_owned()
}

/// Posts a form on `path`, reading the CSRF token from `path` itself, and reads the page it
/// shows (following a redirect, as a browser does).
async fn post_page(
    app: &TestApp,
    b: &reqwest::Client,
    from: &str,
    to: &str,
    fields: &[(&str, &str)],
) -> (u16, String, Option<String>) {
    let r = app.post_form(b, from, to, fields).await;
    let r = app.follow(b, r).await;
    let cache = header(&r, "cache-control");
    let (status, html) = page(r).await;
    (status, html, cache)
}

/// Calls the API with `token` in the `Circle-Token` header: status and JSON body.
async fn api(app: &TestApp, token: &str, path: &str) -> (u16, serde_json::Value) {
    let r = reqwest::Client::new()
        .get(app.at(path))
        .header("Circle-Token", token)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap())
}

/// Creates a personal token through the form; returns the value shown once.
async fn create_personal(app: &TestApp, b: &reqwest::Client, name: &str, expiry: &str) -> String {
    let (status, html, cache) = post_page(
        app,
        b,
        "/account/tokens/new",
        "/account/tokens",
        &[("name", name), ("expiry", expiry), ("expires_on", "")],
    )
    .await;
    assert_eq!(status, 200, "{html}");
    assert_eq!(cache.as_deref(), Some("no-store"));
    shown_value(&html)
}

/// Creates a project token through the form; returns the value shown once.
async fn create_project_token(
    app: &TestApp,
    b: &reqwest::Client,
    scope: &str,
    label: &str,
) -> String {
    let (status, html, cache) = post_page(
        app,
        b,
        &format!("{API_TAB}/new"),
        API_TAB,
        &[("scope", scope), ("label", label), ("expiry", "never")],
    )
    .await;
    assert_eq!(status, 200, "{html}");
    assert_eq!(cache.as_deref(), Some("no-store"));
    shown_value(&html)
}

async fn widgets(app: &TestApp, owner: &User) -> Project {
    let new = NewProject {
        slug: ProjectSlug::parse(PROJECT).unwrap(),
        repo_url: RepoUrl::parse("file:///srv/git/widgets.git").unwrap(),
        default_branch: BranchName::parse("main").unwrap(),
        public: false,
    };
    app.store.projects().create(&new, owner.id).await.unwrap()
}

async fn only_personal(app: &TestApp, user: &User) -> TokenRecord {
    let mut all = app.store.tokens().list_personal(user.id).await.unwrap();
    assert_eq!(all.len(), 1, "{all:?}");
    all.pop().unwrap()
}

async fn only_project(app: &TestApp, project: &Project) -> TokenRecord {
    let mut all = app.store.tokens().list_project(project.id).await.unwrap();
    assert_eq!(all.len(), 1, "{all:?}");
    all.pop().unwrap()
}

/// Records use of `token` as the server does for requests, and writes it now.
async fn used(app: &TestApp, token: &TokenRecord, from: [u8; 4], kinds: &[&str]) {
    let ip = IpAddr::V4(Ipv4Addr::from(from));
    app.state.app.usage.note_use(token.id, Some(ip));
    for kind in kinds {
        app.state.app.usage.note_kind(token.id, kind);
    }
    app.state.app.usage.flush(&app.state.app).await;
}

fn setup_actor() -> Actor {
    Actor {
        user_id: None,
        login: "test-setup".into(),
        address: String::new(),
    }
}

async fn events(app: &TestApp) -> Vec<String> {
    let all = app.store.audit().list(AuditScope::All, 100).await.unwrap();
    all.into_iter().map(|e| e.event).collect()
}

both_backends! {
    setup = TestApp::spawn;
    async fn a_personal_token_is_shown_once_works_and_is_removed_after_confirmation(app) {
        let alice = app.user("alice", false).await;
        let b = app.logged_in("alice").await;

        let (s, html) = page(b.get(app.at("/account")).send().await.unwrap()).await;
        assert_eq!(s, 200);
        assert!(html.contains("href=\"/account/tokens\""), "the Account page links the tab");
        let (s, html) = page(b.get(app.at("/account/tokens")).send().await.unwrap()).await;
        assert_eq!(s, 200);
        assert!(html.contains("Personal API Tokens") && html.contains("Create New Token"));
        assert!(html.contains("You have no personal API tokens."));
        let (s, html) = page(b.get(app.at("/account/tokens/new")).send().await.unwrap()).await;
        assert_eq!(s, 200);
        for text in ["Token name", "Add API Token", "30 days", "60 days", "90 days", "365 days", "Custom date", "No expiry"] {
            assert!(html.contains(text), "the form lacks {text:?}");
        }

        let (s, html, cache) = post_page(&app, &b, "/account/tokens/new", "/account/tokens",
            &[("name", "  laptop CLI  "), ("expiry", "never")]).await;
        assert_eq!(s, 200, "{html}");
        assert_eq!(cache.as_deref(), Some("no-store"), "a page with a token value must not be cached");
        let value = shown_value(&html);
        assert!(value.starts_with("CCIPAT_") && value.len() == 70, "{value}");
        assert!(html.contains("will not be shown again"), "the warning is missing");
        assert!(html.contains("data-copy=\"#token-value\""), "the copy button is missing");

        let token = only_personal(&app, &alice).await;
        assert_eq!(token.name, "laptop CLI", "the name is trimmed");
        assert_eq!(token.expires_at, None);
        let masked = format!("…{}", &value[value.len() - 4..]);
        let (s, list) = page(b.get(app.at("/account/tokens")).send().await.unwrap()).await;
        assert_eq!(s, 200);
        for column in ["Name", "Token", "Created", "Last used", "Expires", "Remove"] {
            assert!(list.contains(&format!("<th>{column}</th>")), "no {column} column");
        }
        assert!(list.contains("laptop CLI") && list.contains(&masked), "{list}");
        assert!(list.contains("Never"), "last used and expires read Never");
        assert!(list.contains(&format!("/account/tokens/{}/remove", token.uuid)));

        // The value works over the API, as its user.
        let (s, me) = api(&app, &value, "/api/v2/me").await;
        assert_eq!(s, 200, "{me}");
        assert_eq!(me["login"], "alice");
        app.state.app.usage.flush(&app.state.app).await;

        // Only the creation page ever carried the value.
        let detail_url = format!("/account/tokens/{}", token.uuid);
        let remove_url = format!("{detail_url}/remove");
        for path in ["/account/tokens", detail_url.as_str(), remove_url.as_str()] {
            let r = b.get(app.at(path)).send().await.unwrap();
            let (s, html) = page(r).await;
            assert_eq!(s, 200, "{path}");
            assert!(!html.contains(&value), "{path} shows the token value");
        }

        // The confirmation names the token and shows its impact.
        let (_, confirm) = page(b.get(app.at(&remove_url)).send().await.unwrap()).await;
        assert!(confirm.contains("laptop CLI") && confirm.contains(&masked));
        assert!(confirm.contains("127.0.0.1"), "the address it was used from: {confirm}");
        assert!(confirm.contains("<code>me</code>"), "the kind of request it made: {confirm}");
        assert!(!confirm.contains("id=\"last-used\">Never<"), "it was used: {confirm}");
        assert!(confirm.contains("id=\"confirm-remove\"") && confirm.contains("id=\"cancel-remove\""));

        let r = app.post_form(&b, &remove_url, &remove_url, &[]).await;
        assert_eq!(r.status(), 303);
        assert_eq!(header(&r, "location").as_deref(), Some("/account/tokens"));
        let (_, list) = page(b.get(app.at("/account/tokens")).send().await.unwrap()).await;
        assert!(!list.contains("laptop CLI"), "still listed after removal");
        assert!(app.store.tokens().list_personal(alice.id).await.unwrap().is_empty());

        let (s, body) = api(&app, &value, "/api/v2/me").await;
        assert_eq!((s, body["message"].as_str()), (401, Some(INVALID)));
        let events = events(&app).await;
        assert!(events.contains(&"token.created".to_owned()) && events.contains(&"token.deleted".to_owned()), "{events:?}");
        let (s, _) = page(b.get(app.at(&remove_url)).send().await.unwrap()).await;
        assert_eq!(s, 404, "a removed token has no pages");
    }

    async fn bad_personal_token_forms_are_shown_again_with_the_reason(app) {
        let alice = app.user("alice", false).await;
        let b = app.logged_in("alice").await;
        let long = "x".repeat(101);
        let cases: [(Fields, u16, &str); 7] = [
            (&[("name", "   "), ("expiry", "never")], 400, "Token name must be 1 to 100 characters"),
            (&[("name", "n"), ("expiry", "4000000000")], 400, "expiry is too far in the future"),
            (&[("name", &long), ("expiry", "never")], 400, "Token name must be 1 to 100 characters"),
            (&[("name", "n"), ("expiry", "custom"), ("expires_on", "2001-01-01")], 400, "The expiry date must be after today."),
            (&[("name", "n"), ("expiry", "custom"), ("expires_on", "soon")], 400, "Choose an expiry date"),
            (&[("name", "n"), ("expiry", "0")], 400, "Choose when the token expires."),
            (&[("name", "n")], 400, "Choose when the token expires."),
        ];
        for (fields, status, message) in cases {
            let (s, html, cache) = post_page(&app, &b, "/account/tokens/new", "/account/tokens", fields).await;
            assert_eq!(s, status, "{fields:?}: {html}");
            assert!(html.contains(message), "{fields:?} should say {message:?}: {html}");
            assert!(html.contains("Add API Token"), "the form is shown again");
            assert!(!html.contains("token-value") && cache.is_none());
        }
        // What was typed is kept.
        let (_, html, _) = post_page(&app, &b, "/account/tokens/new", "/account/tokens",
            &[("name", "kept name"), ("expiry", "custom"), ("expires_on", "2001-01-01")]).await;
        assert!(html.contains("value=\"kept name\"") && html.contains("value=\"2001-01-01\""));
        assert!(app.store.tokens().list_personal(alice.id).await.unwrap().is_empty());

        // A custom date in the future works and fixes the expiry.
        let tomorrow = (time::OffsetDateTime::now_utc() + time::Duration::days(2)).date();
        let f = time::macros::format_description!("[year]-[month]-[day]");
        let date = tomorrow.format(&f).unwrap();
        let (s, html, _) = post_page(&app, &b, "/account/tokens/new", "/account/tokens",
            &[("name", "dated"), ("expiry", "custom"), ("expires_on", &date)]).await;
        assert_eq!(s, 200, "{html}");
        let token = only_personal(&app, &alice).await;
        assert_eq!(token.expires_at, Some(tomorrow.midnight().assume_utc()));
        let (_, list) = page(b.get(app.at("/account/tokens")).send().await.unwrap()).await;
        assert!(list.contains(&format!("{date} 00:00 UTC")), "the expiry date is listed: {list}");

        // A preset counts days from now.
        create_personal(&app, &b, "monthly", "30").await;
        let all = app.store.tokens().list_personal(alice.id).await.unwrap();
        let monthly = all.iter().find(|t| t.name == "monthly").unwrap();
        let left = monthly.expires_at.unwrap() - time::OffsetDateTime::now_utc();
        assert!(left > time::Duration::days(29) && left <= time::Duration::days(30), "{left}");

        // A site admin's switch: creation is refused with the admin's reason, not a 500; the
        // form itself is not offered (a 403 page that says why).
        app.store.settings().set(circlet_store::settings::TOKEN_CREATION_DISABLED, "true").await.unwrap();
        let (s, html) = page(b.get(app.at("/account/tokens/new")).send().await.unwrap()).await;
        assert_eq!(s, 403);
        assert!(html.contains("disabled API token creation") && !html.contains("Add API Token"), "{html}");
        let (s, html, _) = post_page(&app, &b, "/account/tokens", "/account/tokens",
            &[("name", "n"), ("expiry", "never")]).await;
        assert_eq!(s, 403);
        assert!(html.contains("disabled API token creation"), "{html}");
        assert!(html.contains("Add API Token"), "the form is shown again");
        assert_eq!(app.store.tokens().list_personal(alice.id).await.unwrap().len(), 2);
    }

    async fn personal_tokens_are_seen_and_removed_by_their_owner_only(app) {
        let alice = app.user("alice", false).await;
        app.user("bob", false).await;
        app.user("root", true).await;
        let a = app.logged_in("alice").await;
        let value = create_personal(&app, &a, "alice's", "never").await;
        let token = only_personal(&app, &alice).await;
        let detail = format!("/account/tokens/{}", token.uuid);
        for login in ["bob", "root"] {
            let other = app.logged_in(login).await;
            let (_, list) = page(other.get(app.at("/account/tokens")).send().await.unwrap()).await;
            assert!(!list.contains("alice"), "{login} sees alice's token: {list}");
            for path in [detail.clone(), format!("{detail}/remove")] {
                let (s, _) = page(other.get(app.at(&path)).send().await.unwrap()).await;
                assert_eq!(s, 404, "{login} GET {path}");
            }
            for path in [format!("{detail}/remove"), format!("{detail}/replace")] {
                let (s, _, _) = post_page(&app, &other, "/account/tokens", &path, &[]).await;
                assert_eq!(s, 404, "{login} POST {path}");
            }
        }
        let (s, me) = api(&app, &value, "/api/v2/me").await;
        assert_eq!((s, me["login"].as_str()), (200, Some("alice")), "the token survived");

        // Not logged in: to the login page, and back afterwards.
        let r = app.browser().get(app.at(&detail)).send().await.unwrap();
        assert_eq!(r.status(), 303);
        assert!(header(&r, "location").unwrap().starts_with("/login?next=%2Faccount%2Ftokens%2F"));
        // Not a token id at all.
        let (s, _) = page(a.get(app.at("/account/tokens/not-a-uuid")).send().await.unwrap()).await;
        assert_eq!(s, 404);
        // A form without its CSRF field changes nothing.
        let r = a.post(app.at(&format!("{detail}/remove"))).form(&[("x", "y")]).send().await.unwrap();
        assert_eq!(r.status(), 403);
        assert_eq!(only_personal(&app, &alice).await.uuid, token.uuid);
    }

    async fn replacing_a_personal_token_shows_a_new_value_once_and_stops_the_old(app) {
        let alice = app.user("alice", false).await;
        let b = app.logged_in("alice").await;
        let old = create_personal(&app, &b, "deploys", "90").await;
        let before = only_personal(&app, &alice).await;
        let detail = format!("/account/tokens/{}", before.uuid);
        let (s, html) = page(b.get(app.at(&detail)).send().await.unwrap()).await;
        assert_eq!(s, 200);
        assert!(html.contains("deploys") && html.contains("Replace") && html.contains(&format!("{detail}/replace")));
        assert!(!html.contains("id=\"hint\""), "no scope hint for personal tokens");

        let (s, html, cache) = post_page(&app, &b, &detail, &format!("{detail}/replace"), &[]).await;
        assert_eq!(s, 200, "{html}");
        assert_eq!(cache.as_deref(), Some("no-store"));
        assert!(html.contains("will not be shown again") && html.contains("Replaced"));
        let new = shown_value(&html);
        assert_ne!(new, old);
        let after = only_personal(&app, &alice).await;
        assert_ne!(after.uuid, before.uuid);
        assert_eq!(after.name, "deploys");
        let lifetime = after.expires_at.unwrap() - after.created_at;
        assert!((lifetime - time::Duration::days(90)).abs() < time::Duration::minutes(1), "{lifetime}");

        let (s, body) = api(&app, &old, "/api/v2/me").await;
        assert_eq!((s, body["message"].as_str()), (401, Some(INVALID)));
        let (s, _) = api(&app, &new, "/api/v2/me").await;
        assert_eq!(s, 200);
        let (s, _) = page(b.get(app.at(&detail)).send().await.unwrap()).await;
        assert_eq!(s, 404, "the old id is gone");
        assert!(events(&app).await.contains(&"token.replaced".to_owned()));
        // The old token leaves no entry of its own, so the replacement's names it.
        let log = app.store.audit().list(AuditScope::All, 100).await.unwrap();
        let replaced = log.iter().find(|e| e.event == "token.replaced").unwrap();
        assert_eq!(replaced.token_uuid, Some(after.uuid));
        assert!(
            replaced.detail.contains(&format!("…{}", before.last4)) && replaced.detail.contains(&before.uuid.to_string()),
            "{}", replaced.detail
        );
    }

    async fn replacing_a_token_that_expires_at_the_end_of_the_calendar_is_no_server_error(app) {
        let owner = app.user("owner", false).await;
        let project = widgets(&app, &owner).await;
        let last = time::macros::datetime!(9999-12-31 23:59:59 UTC);
        let label = TokenName::parse("far", "label").unwrap();
        issue_project(&app.store, &project, ProjectScope::Status, &label, Some(last), &setup_actor()).await.unwrap();
        let old = only_project(&app, &project).await;
        let b = app.logged_in("owner").await;
        let detail = format!("{API_TAB}/{}", old.uuid);
        let (s, html, _) = post_page(&app, &b, &detail, &format!("{detail}/replace"), &[]).await;
        assert_eq!(s, 200, "{html}");
        let new = only_project(&app, &project).await;
        assert_ne!(new.uuid, old.uuid);
        assert_eq!(new.expires_at, Some(last), "as far as the calendar goes");
    }

    async fn a_project_token_is_made_shown_once_and_removed_from_api_permissions(app) {
        let owner = app.user("owner", false).await;
        let project = widgets(&app, &owner).await;
        let b = app.logged_in("owner").await;

        let (_, settings) = page(b.get(app.at("/projects/gh/acme/widgets/settings")).send().await.unwrap()).await;
        assert!(settings.contains(&format!("href=\"{API_TAB}\"")) && settings.contains("API Permissions"));
        let (s, html) = page(b.get(app.at(API_TAB)).send().await.unwrap()).await;
        assert_eq!(s, 200);
        assert!(html.contains("Create New Token") && html.contains("This project has no API tokens."));
        let (s, form) = page(b.get(app.at(&format!("{API_TAB}/new"))).send().await.unwrap()).await;
        assert_eq!(s, 200);
        for text in ["<option value=\"status\"", ">Status<", "<option value=\"view-builds\"", ">Build Artifacts<",
                     "<option value=\"all\"", ">All<", "Token Label", "Add API Token", "No expiry"] {
            assert!(form.contains(text), "the form lacks {text:?}");
        }

        let value = create_project_token(&app, &b, "all", "README badge").await;
        assert!(value.starts_with("CCIPRJ_"), "{value}");
        let token = only_project(&app, &project).await;
        assert_eq!((token.name.as_str(), token.scope), ("README badge", Some(ProjectScope::All)));
        let (_, list) = page(b.get(app.at(API_TAB)).send().await.unwrap()).await;
        for column in ["Scope", "Label", "Token", "Created", "Last used", "Remove"] {
            assert!(list.contains(&format!("<th>{column}</th>")), "no {column} column");
        }
        assert!(list.contains("README badge") && list.contains(&format!("…{}", token.last4)));
        assert!(!list.contains(&value));

        // Project tokens are read-only: they cannot manage tokens.
        let (s, body) = api(&app, &value, "/api/v1.1/project/gh/acme/widgets/token").await;
        assert_eq!((s, body["message"].as_str()), (403, Some("Permission denied")));

        let remove = format!("{API_TAB}/{}/remove", token.uuid);
        let (s, confirm) = page(b.get(app.at(&remove)).send().await.unwrap()).await;
        assert_eq!(s, 200);
        assert!(confirm.contains("README badge") && confirm.contains("All") && !confirm.contains(&value));
        let r = app.post_form(&b, &remove, &remove, &[]).await;
        assert_eq!(r.status(), 303);
        assert_eq!(header(&r, "location").as_deref(), Some(API_TAB));
        assert!(app.store.tokens().list_project(project.id).await.unwrap().is_empty());
        let (s, body) = api(&app, &value, "/api/v1.1/project/gh/acme/widgets/token").await;
        assert_eq!((s, body["message"].as_str()), (401, Some(INVALID)));
    }

    async fn a_project_tokens_detail_shows_its_use_and_the_least_privilege_hint(app) {
        let owner = app.user("owner", false).await;
        let project = widgets(&app, &owner).await;
        let b = app.logged_in("owner").await;
        let label = |s: &str| TokenName::parse(s, "label").unwrap();
        let issue = |scope, name: &'static str| {
            let (app, project) = (&app, &project);
            async move {
                issue_project(&app.store, project, scope, &label(name), None, &setup_actor()).await.unwrap().1
            }
        };
        let statuses = issue(ProjectScope::All, "only statuses").await;
        let artifacts = issue(ProjectScope::All, "only artifacts").await;
        let mixed = issue(ProjectScope::All, "mixed").await;
        let narrow = issue(ProjectScope::Status, "already narrow").await;
        let unused = issue(ProjectScope::All, "unused").await;
        used(&app, &statuses, [10, 1, 2, 3], &["status", "status"]).await;
        used(&app, &artifacts, [10, 1, 2, 4], &["artifacts"]).await;
        used(&app, &mixed, [10, 1, 2, 5], &["status", "builds"]).await;
        used(&app, &narrow, [10, 1, 2, 6], &["status"]).await;

        let detail = |t: &TokenRecord| format!("{API_TAB}/{}", t.uuid);
        let (s, html) = page(b.get(app.at(&detail(&statuses))).send().await.unwrap()).await;
        assert_eq!(s, 200);
        assert!(html.contains("This All token only read statuses in the last 30 days, yet it can do more: replace it with a Status token."), "{html}");
        assert!(html.contains("10.1.2.3") && html.contains("<code>status</code>") && html.contains(": 2 (last"), "{html}");
        assert!(!html.contains("id=\"last-used\">Never<"), "it was used");
        let (_, html) = page(b.get(app.at(&detail(&artifacts))).send().await.unwrap()).await;
        assert!(html.contains("This All token only read build artifacts in the last 30 days, yet it can do more: replace it with a Build Artifacts token."), "{html}");
        for t in [&mixed, &narrow, &unused] {
            let (s, html) = page(b.get(app.at(&detail(t))).send().await.unwrap()).await;
            assert_eq!(s, 200);
            assert!(!html.contains("id=\"hint\""), "{}: no hint expected: {html}", t.name);
        }
        let (_, html) = page(b.get(app.at(&detail(&unused))).send().await.unwrap()).await;
        assert!(html.contains("id=\"last-used\">Never<") && html.contains("No address recorded"));

        // Replace keeps scope and label, and shows the new value once.
        let (s, html, cache) = post_page(&app, &b, &detail(&statuses), &format!("{}/replace", detail(&statuses)), &[]).await;
        assert_eq!(s, 200, "{html}");
        assert_eq!(cache.as_deref(), Some("no-store"));
        let value = shown_value(&html);
        assert!(value.starts_with("CCIPRJ_"));
        let all = app.store.tokens().list_project(project.id).await.unwrap();
        assert_eq!(all.len(), 5);
        let replaced = all.iter().find(|t| t.name == "only statuses").unwrap();
        assert_ne!(replaced.uuid, statuses.uuid);
        assert_eq!(replaced.scope, Some(ProjectScope::All));
        assert_eq!(replaced.expires_at, None);
        let (s, _) = page(b.get(app.at(&detail(&statuses))).send().await.unwrap()).await;
        assert_eq!(s, 404);
    }

    async fn api_permissions_are_for_project_admins_and_site_admins(app) {
        let owner = app.user("owner", false).await;
        let bob = app.user("bob", false).await;
        app.user("carol", false).await;
        app.user("root", true).await;
        let project = widgets(&app, &owner).await;
        app.store.projects().set_member(project.id, bob.id, Role::Write).await.unwrap();
        let (_, token) = issue_project(&app.store, &project, ProjectScope::Status,
            &TokenName::parse("badge", "label").unwrap(), None, &setup_actor()).await.unwrap();
        let detail = format!("{API_TAB}/{}", token.uuid);
        let gets = [API_TAB.to_owned(), format!("{API_TAB}/new"), detail.clone(), format!("{detail}/remove")];
        let posts = [API_TAB.to_owned(), format!("{detail}/remove"), format!("{detail}/replace")];

        for (login, want) in [("bob", 403), ("carol", 404)] {
            let b = app.logged_in(login).await;
            for path in &gets {
                let (s, _) = page(b.get(app.at(path)).send().await.unwrap()).await;
                assert_eq!(s, want, "{login} GET {path}");
            }
            for path in &posts {
                let (s, _, _) = post_page(&app, &b, "/", path, &[("scope", "all"), ("label", "x"), ("expiry", "never")]).await;
                assert_eq!(s, want, "{login} POST {path}");
            }
        }
        assert_eq!(only_project(&app, &project).await.uuid, token.uuid, "nothing changed");

        let root = app.logged_in("root").await;
        for path in &gets {
            let (s, _) = page(root.get(app.at(path)).send().await.unwrap()).await;
            assert_eq!(s, 200, "root GET {path}");
        }
        let value = create_project_token(&app, &root, "view-builds", "by root").await;
        assert!(value.starts_with("CCIPRJ_"));

        // Another project's token is not found through this project's pages.
        let other = app.store.projects().create(&NewProject {
            slug: ProjectSlug::parse("gh/acme/gadgets").unwrap(),
            repo_url: RepoUrl::parse("file:///srv/git/gadgets.git").unwrap(),
            default_branch: BranchName::parse("main").unwrap(),
            public: false,
        }, owner.id).await.unwrap();
        let (_, foreign) = issue_project(&app.store, &other, ProjectScope::All,
            &TokenName::parse("gadgets", "label").unwrap(), None, &setup_actor()).await.unwrap();
        let o = app.logged_in("owner").await;
        let path = format!("{API_TAB}/{}/remove", foreign.uuid);
        let (s, _) = page(o.get(app.at(&path)).send().await.unwrap()).await;
        assert_eq!(s, 404);
        let (s, _, _) = post_page(&app, &o, API_TAB, &path, &[]).await;
        assert_eq!(s, 404);
        assert_eq!(app.store.tokens().list_project(other.id).await.unwrap().len(), 1);
        // A personal token's id is not a project token either.
        let (_, personal) = issue_personal(&app.store, &app.state.app.config.token_policy(), &owner,
            &TokenName::parse("mine", "name").unwrap(), None, &Default::default(), &setup_actor()).await.unwrap();
        let (s, _) = page(o.get(app.at(&format!("{API_TAB}/{}", personal.uuid))).send().await.unwrap()).await;
        assert_eq!(s, 404);
    }

    async fn bad_project_token_forms_are_shown_again_with_the_reason(app) {
        let owner = app.user("owner", false).await;
        let project = widgets(&app, &owner).await;
        let b = app.logged_in("owner").await;
        let new = format!("{API_TAB}/new");
        let cases: [(Fields, &str); 4] = [
            (&[("scope", "admin"), ("label", "x"), ("expiry", "never")], "Choose a scope"),
            (&[("label", "x"), ("expiry", "never")], "Choose a scope"),
            (&[("scope", "status"), ("label", ""), ("expiry", "never")], "Token Label must be 1 to 100 characters"),
            (&[("scope", "status"), ("label", "x"), ("expiry", "custom"), ("expires_on", "1999-12-31")], "The expiry date must be after today."),
        ];
        for (fields, message) in cases {
            let (s, html, _) = post_page(&app, &b, &new, API_TAB, fields).await;
            assert_eq!(s, 400, "{fields:?}: {html}");
            assert!(html.contains(message), "{fields:?} should say {message:?}: {html}");
            assert!(html.contains("Add API Token"), "the form is shown again");
        }
        let (_, html, _) = post_page(&app, &b, &new, API_TAB, &[("scope", "view-builds"), ("label", ""), ("expiry", "never")]).await;
        assert!(html.contains("<option value=\"view-builds\" selected"), "the chosen scope is kept");
        assert!(app.store.tokens().list_project(project.id).await.unwrap().is_empty());
    }
}

/// Instances that cap token lifetimes, or the number of personal tokens.
mod capped {
    use super::*;

    both_backends! {
        setup = TestApp::spawn_with;
        async fn a_lifetime_cap_removes_no_expiry_and_refuses_longer_lifetimes(app, |c: &mut crate::app::Config| c.app.max_token_lifetime_days = Some(90)) {
            let owner = app.user("owner", false).await;
            widgets(&app, &owner).await;
            let b = app.logged_in("owner").await;
            for form in ["/account/tokens/new".to_owned(), format!("{API_TAB}/new")] {
                let (s, html) = page(b.get(app.at(&form)).send().await.unwrap()).await;
                assert_eq!(s, 200);
                assert!(!html.contains("No expiry") && !html.contains("365 days"), "{form}: {html}");
                assert!(html.contains("90 days"));
            }
            for expiry in ["never", "365"] {
                let (s, html, _) = post_page(&app, &b, "/account/tokens/new", "/account/tokens",
                    &[("name", "n"), ("expiry", expiry)]).await;
                assert_eq!(s, 400, "{expiry}");
                assert!(html.contains("must expire within 90 days"), "{html}");
            }
            create_personal(&app, &b, "ok", "90").await;
        }

        async fn a_token_from_before_the_cap_is_replaced_within_it(app, |c: &mut crate::app::Config| c.app.max_token_lifetime_days = Some(90)) {
            let alice = app.user("alice", false).await;
            // Issued while the instance allowed tokens that never expire.
            let name = TokenName::parse("old", "name").unwrap();
            let open = circlet_app::tokens::TokenPolicy { max_lifetime_days: None, personal_cap: 500 };
            issue_personal(&app.store, &open, &alice, &name, None, &Default::default(), &setup_actor()).await.unwrap();
            let old = only_personal(&app, &alice).await;
            let b = app.logged_in("alice").await;
            let detail = format!("/account/tokens/{}", old.uuid);
            let (s, html, _) = post_page(&app, &b, &detail, &format!("{detail}/replace"), &[]).await;
            assert_eq!(s, 200, "{html}");
            let new = only_personal(&app, &alice).await;
            assert_ne!(new.uuid, old.uuid);
            let lifetime = new.expires_at.expect("the cap applies to the replacement") - new.created_at;
            assert!((lifetime - time::Duration::days(90)).abs() < time::Duration::minutes(1), "{lifetime}");
        }

        async fn the_personal_token_cap_is_a_readable_error(app, |c: &mut crate::app::Config| c.app.personal_token_cap = 2) {
            let alice = app.user("alice", false).await;
            let b = app.logged_in("alice").await;
            create_personal(&app, &b, "one", "never").await;
            create_personal(&app, &b, "two", "never").await;
            let (s, html, _) = post_page(&app, &b, "/account/tokens/new", "/account/tokens",
                &[("name", "three"), ("expiry", "never")]).await;
            assert_eq!(s, 409);
            assert!(html.contains("the most allowed") && html.contains("Add API Token"), "{html}");
            assert_eq!(app.store.tokens().list_personal(alice.id).await.unwrap().len(), 2);
        }
    }
}
