//! Fine-grained personal tokens (issue 16) beyond the matrix: lists of several projects cut to a
//! token's limits, a limited token that cannot widen itself, creation refusals that change
//! nothing, the limits on the token's pages, and the narrower-scope hint that suggests a limit.

use super::{DENIED, NO_PROJECT, eventually, get_with, send};
use crate::app::TestApp;
use circlet_app::tokens::AskedLimits;
use circlet_core::slug::parse_organization;
use circlet_core::{ProjectSlug, Role};
use circlet_testkit::both_backends;
use serde_json::json;
use std::time::Duration;

fn limits(projects: &[&str], org: Option<&str>, ceiling: Option<Role>) -> AskedLimits {
    AskedLimits {
        projects: projects
            .iter()
            .map(|p| ProjectSlug::parse(p).unwrap())
            .collect(),
        organization: org.map(|o| parse_organization(o).unwrap()),
        ceiling,
    }
}

/// The `username/reponame` of each project `/api/v1.1/projects` lists, sorted.
async fn v1_projects(app: &TestApp, token: &str) -> Vec<String> {
    let r = get_with(app, token, "/api/v1.1/projects").await;
    r.status_is(200);
    let mut out: Vec<String> = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            format!(
                "{}/{}",
                p["username"].as_str().unwrap(),
                p["reponame"].as_str().unwrap()
            )
        })
        .collect();
    out.sort();
    out
}

/// The repository URLs `/api/v1.1/me` lists as the user's projects, as `org/repo`, sorted.
async fn me_projects(app: &TestApp, token: &str) -> Vec<String> {
    let r = get_with(app, token, "/api/v1.1/me").await;
    r.status_is(200);
    let mut out: Vec<String> = r.body["projects"]
        .as_object()
        .unwrap()
        .keys()
        .map(|url| {
            let parts: Vec<&str> = url.trim_end_matches(".git").rsplit('/').take(2).collect();
            format!("{}/{}", parts[1], parts[0])
        })
        .collect();
    out.sort();
    out
}

/// The organizations `/api/v2/me/collaborations` lists, as slugs.
async fn collaborations(app: &TestApp, token: &str) -> Vec<String> {
    let r = get_with(app, token, "/api/v2/me/collaborations").await;
    r.status_is(200);
    r.body
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["slug"].as_str().unwrap().to_owned())
        .collect()
}

/// The project names of the cc.xml feed.
async fn feed(app: &TestApp, token: &str) -> Vec<String> {
    let r = reqwest::Client::new()
        .get(app.at("/cc.xml"))
        .header("Circle-Token", token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let xml = r.text().await.unwrap();
    let mut names: Vec<String> = xml
        .split("name=\"")
        .skip(1)
        .map(|s| s.split('"').next().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

/// A page's status and HTML.
async fn page(r: reqwest::Response) -> (u16, String) {
    let status = r.status().as_u16();
    let html = r.text().await.unwrap();
    assert!(status < 500, "server error {status}: {html}");
    (status, html)
}

both_backends! {
    setup = TestApp::spawn;
    async fn lists_of_several_projects_are_cut_to_a_tokens_limits(app) {
        let ada = app.user("ada", false).await;
        let root = app.user("root", true).await;
        app.project(&ada, "gh/acme/api", false).await;
        app.project(&ada, "gh/acme/web", false).await;
        app.project(&ada, "gh/beta/tool", false).await;
        let full = app.personal_token(&ada).await;
        let only_api = app.personal_token_limited(&ada, limits(&["gh/acme/api"], None, Some(Role::Read))).await.0;
        let acme = app.personal_token_limited(&ada, limits(&[], Some("gh/acme"), None)).await.0;
        let ceiling = app.personal_token_limited(&ada, limits(&[], None, Some(Role::Write))).await.0;

        assert_eq!(v1_projects(&app, &full).await, ["acme/api", "acme/web", "beta/tool"]);
        assert_eq!(v1_projects(&app, &only_api).await, ["acme/api"]);
        assert_eq!(v1_projects(&app, &acme).await, ["acme/api", "acme/web"]);
        assert_eq!(v1_projects(&app, &ceiling).await, ["acme/api", "acme/web", "beta/tool"], "a ceiling alone cuts no project");

        assert_eq!(me_projects(&app, &full).await.len(), 3);
        assert_eq!(me_projects(&app, &only_api).await, ["acme/api"]);
        assert_eq!(me_projects(&app, &acme).await, ["acme/api", "acme/web"]);

        assert_eq!(collaborations(&app, &full).await, ["gh/acme", "gh/beta"]);
        assert_eq!(collaborations(&app, &only_api).await, ["gh/acme"]);
        assert_eq!(collaborations(&app, &acme).await, ["gh/acme"]);

        assert_eq!(feed(&app, &full).await.len(), 3);
        assert_eq!(feed(&app, &only_api).await, ["acme/api"]);
        assert_eq!(feed(&app, &acme).await, ["acme/api", "acme/web"]);

        get_with(&app, &only_api, "/api/v1.1/recent-builds").await.status_is(200);

        // A site admin sees every project, but not through a limited token: its reach only,
        // and no site-wide view.
        let root_full = app.personal_token(&root).await;
        let root_beta = app.personal_token_limited(&root, limits(&[], Some("gh/beta"), Some(Role::Read))).await.0;
        assert_eq!(v1_projects(&app, &root_full).await.len(), 3);
        assert_eq!(v1_projects(&app, &root_beta).await, ["beta/tool"]);
        assert_eq!(get_with(&app, &root_full, "/api/v1.1/me").await.body["admin"], true);
        assert_eq!(get_with(&app, &root_beta, "/api/v1.1/me").await.body["admin"], false);
        get_with(&app, &root_beta, "/api/v1.1/project/gh/acme/api").await.is(404, NO_PROJECT);
        get_with(&app, &root_beta, "/api/v1.1/project/gh/beta/tool").await.status_is(200);
        let trigger = send(reqwest::Client::new().post(app.at("/api/v2/project/gh/beta/tool/pipeline"))
            .header("Circle-Token", &root_beta).json(&json!({}))).await;
        trigger.is(403, DENIED);
    }

    async fn a_limited_token_cannot_widen_itself(app) {
        let ada = app.user("ada", false).await;
        let root = app.user("root", true).await;
        app.project(&ada, "gh/acme/api", false).await;
        let full = app.personal_token(&ada).await;
        let admin_ceiling = app.personal_token_limited(&ada, limits(&[], Some("gh/acme"), Some(Role::Admin))).await.0;
        let body = json!({"repo_url": "file:///srv/git/new"});
        let create = |token: String, slug: &'static str| {
            let client = reqwest::Client::new();
            let body = body.clone();
            let url = app.at(&format!("/api/v2/project/{slug}"));
            async move { send(client.post(url).header("Circle-Token", token).json(&body)).await }
        };
        // Adding a project makes its user the admin of something outside the token's limits
        // (or, inside an organization limit, one it was not made for): refused, nothing added.
        let refused = create(admin_ceiling.clone(), "gh/acme/new").await;
        refused.status_is(403);
        assert!(refused.message().contains("limited (admin on every project of gh/acme)"), "{}", refused.text);
        assert!(refused.message().contains("cannot add projects"), "{}", refused.text);
        assert!(app.store.projects().by_slug(&ProjectSlug::parse("gh/acme/new").unwrap()).await.unwrap().is_none());
        create(full.clone(), "gh/acme/new").await.status_is(201);

        // A schedule fires later as its user, with their full role: not through a ceiling.
        let write_ceiling = app.personal_token_limited(&ada, limits(&[], None, Some(Role::Write))).await.0;
        let schedule = json!({"name": "nightly", "attribution-actor": "current", "timetable": {
            "per-hour": 1, "hours-of-day": [3], "days-of-week": ["MON"]}});
        let refused = send(reqwest::Client::new().post(app.at("/api/v2/project/gh/acme/api/schedule"))
            .header("Circle-Token", &write_ceiling).json(&schedule)).await;
        refused.status_is(403);
        assert!(refused.message().contains("cannot create or change schedules"), "{}", refused.text);
        let api = app.store.projects().by_slug(&ProjectSlug::parse("gh/acme/api").unwrap()).await.unwrap().unwrap();
        assert!(app.store.schedules().of_project(api.id, "api", 0, 10).await.unwrap().is_empty(), "nothing made");
        let made = send(reqwest::Client::new().post(app.at("/api/v2/project/gh/acme/api/schedule"))
            .header("Circle-Token", &admin_ceiling).json(&schedule)).await;
        made.status_is(201);

        // Account and site-admin pages never take a token, limited or not: no new token, no
        // user list, whatever the token's owner may do in a browser.
        let before = app.store.tokens().list_personal(root.id).await.unwrap().len();
        let root_limited = app.personal_token_limited(&root, limits(&["gh/acme/api"], None, None)).await.0;
        let client = app.browser();
        let made = client.post(app.at("/account/tokens")).header("Circle-Token", &root_limited)
            .form(&[("name", "wider"), ("expiry", "30")]).send().await.unwrap();
        assert!(made.status().is_client_error() || made.status().is_redirection(), "{}", made.status());
        assert_eq!(app.store.tokens().list_personal(root.id).await.unwrap().len(), before + 1, "only the limited token itself");
        let users = client.get(app.at("/admin/users")).header("Circle-Token", &root_limited).send().await.unwrap();
        let (status, html) = page(users).await;
        assert!(!html.contains("ada@example.test"), "{status}: the user list leaked through a token");
        // Reads of the account stay allowed.
        get_with(&app, &admin_ceiling, "/api/v2/me").await.status_is(200);
        get_with(&app, &admin_ceiling, "/api/v1.1/me").await.status_is(200);
    }

    async fn bad_limits_are_refused_and_change_nothing(app) {
        let ada = app.user("ada", false).await;
        let bob = app.user("bob", false).await;
        app.project(&ada, "gh/acme/api", false).await;
        app.project(&bob, "gh/bobco/secret", false).await;
        let browser = app.logged_in("ada").await;
        let cases: [(&[(&str, &str)], &str); 7] = [
            (&[("project", "gh/acme/missing")], "There is no project gh/acme/missing among your projects"),
            // Another user's private project answers exactly like an absent one.
            (&[("project", "gh/bobco/secret")], "There is no project gh/bobco/secret among your projects"),
            (&[("org", "gh/nowhere")], "There is no organization gh/nowhere among your organizations."),
            (&[("org", "gh/bobco")], "There is no organization gh/bobco among your organizations."),
            (&[("project", "gh/acme/api"), ("org", "gh/acme")], "Limit a token to listed projects or to one organization, not both."),
            (&[("ceiling", "owner")], "unknown role"),
            (&[("project", "not a slug")], "project slug must look like vcs/org/repo"),
        ];
        for (fields, message) in cases {
            let mut all = vec![("name", "limited"), ("expiry", "30")];
            all.extend_from_slice(fields);
            let r = app.post_form(&browser, "/account/tokens/new", "/account/tokens", &all).await;
            let (status, html) = page(r).await;
            assert_eq!(status, 400, "{fields:?}: {html}");
            assert!(html.contains(&message.replace('\'', "&#39;")) || html.contains(message), "{fields:?} should say {message:?}: {html}");
            assert!(html.contains("id=\"limits\""), "the form is shown again");
            assert!(app.store.tokens().list_personal(ada.id).await.unwrap().is_empty(), "{fields:?} created a token");
        }
        let audit = app.store.audit().list(circlet_store::AuditScope::All, 50).await.unwrap();
        assert!(!audit.iter().any(|e| e.event == "token.created"), "nothing audited as made");
    }

    async fn the_token_pages_show_its_limits_and_a_replacement_keeps_them(app) {
        let ada = app.user("ada", false).await;
        app.project(&ada, "gh/acme/api", false).await;
        app.project(&ada, "gh/acme/web", false).await;
        let browser = app.logged_in("ada").await;
        let (_, form) = page(browser.get(app.at("/account/tokens/new")).send().await.unwrap()).await;
        for offered in ["value=\"gh/acme/api\"", "value=\"gh/acme/web\"", "<option value=\"gh/acme\"", "<option value=\"read\""] {
            assert!(form.contains(offered), "the form offers {offered}: {form}");
        }
        let r = app.post_form(&browser, "/account/tokens/new", "/account/tokens", &[
            ("name", "ci reader"), ("expiry", "30"),
            ("project", "gh/acme/web"), ("project", "gh/acme/api"), ("ceiling", "read"),
        ]).await;
        let (status, created) = page(app.follow(&browser, r).await).await;
        assert_eq!(status, 200, "{created}");
        assert!(created.contains("read on gh/acme/api, gh/acme/web"), "{created}");
        let value = created.split("id=\"token-value\">").nth(1).unwrap().split('<').next().unwrap().trim().to_owned();
        let record = app.store.tokens().list_personal(ada.id).await.unwrap().remove(0);
        let (_, list) = page(browser.get(app.at("/account/tokens")).send().await.unwrap()).await;
        assert!(list.contains("read on gh/acme/api, gh/acme/web"), "{list}");
        let (_, detail) = page(browser.get(app.at(&format!("/account/tokens/{}", record.uuid))).send().await.unwrap()).await;
        assert!(detail.contains("<dd id=\"token-limits\">read on gh/acme/api, gh/acme/web</dd>"), "{detail}");

        // It acts limited: reads, no trigger.
        get_with(&app, &value, "/api/v1.1/project/gh/acme/api").await.status_is(200);
        let trigger = send(reqwest::Client::new().post(app.at("/api/v2/project/gh/acme/api/pipeline"))
            .header("Circle-Token", &value).json(&json!({}))).await;
        trigger.is(403, DENIED);

        // Replaced, the new value carries the same limits.
        let r = app.post_form(&browser, &format!("/account/tokens/{}", record.uuid), &format!("/account/tokens/{}/replace", record.uuid), &[]).await;
        let (status, replaced) = page(app.follow(&browser, r).await).await;
        assert_eq!(status, 200, "{replaced}");
        assert!(replaced.contains("read on gh/acme/api, gh/acme/web"), "{replaced}");
        let new_value = replaced.split("id=\"token-value\">").nth(1).unwrap().split('<').next().unwrap().trim().to_owned();
        let trigger = send(reqwest::Client::new().post(app.at("/api/v2/project/gh/acme/api/pipeline"))
            .header("Circle-Token", &new_value).json(&json!({}))).await;
        trigger.is(403, DENIED);
        let audit = app.store.audit().list(circlet_store::AuditScope::All, 50).await.unwrap();
        assert!(audit.iter().any(|e| e.event == "token.replaced" && e.detail.contains("limited to read on gh/acme/api, gh/acme/web")), "{audit:?}");

        // Removed, its audit entry still names the limits whole.
        let replacement = app.store.tokens().list_personal(ada.id).await.unwrap().remove(0);
        let r = app.post_form(&browser, &format!("/account/tokens/{}/remove", replacement.uuid), &format!("/account/tokens/{}/remove", replacement.uuid), &[]).await;
        assert!(r.status().is_redirection(), "{}", r.status());
        let audit = app.store.audit().list(circlet_store::AuditScope::All, 50).await.unwrap();
        assert!(audit.iter().any(|e| e.event == "token.deleted" && e.detail.contains("limited to read on gh/acme/api, gh/acme/web")), "{audit:?}");
        let (_, list) = page(browser.get(app.at("/account/tokens")).send().await.unwrap()).await;
        assert!(!list.contains("read on gh/acme/api"), "removed: {list}");
        // The site admins' inventory lists limits.
        app.personal_token_limited(&ada, limits(&["gh/acme/web"], None, Some(Role::Write))).await;
        app.user("root", true).await;
        let root = app.logged_in("root").await;
        let (_, inventory) = page(root.get(app.at("/admin/tokens")).send().await.unwrap()).await;
        assert!(inventory.contains("write on gh/acme/web"), "{inventory}");

        // An unlimited token says so.
        let full = app.personal_token_expiring(&ada, None).await.1;
        let (_, detail) = page(browser.get(app.at(&format!("/account/tokens/{}", full.uuid))).send().await.unwrap()).await;
        assert!(detail.contains("full rights of your account"), "{detail}");
    }
}

mod tuned {
    use super::*;

    both_backends! {
        setup = TestApp::spawn_with;
        async fn the_hint_suggests_a_limit_from_what_the_token_did(app, |c| c.app.usage_flush_interval = Duration::from_millis(50)) {
            let ada = app.user("ada", false).await;
            app.project(&ada, "gh/acme/api", false).await;
            app.project(&ada, "gh/acme/web", false).await;
            app.project(&ada, "gh/beta/tool", false).await;
            let (token, record) = app.personal_token_expiring(&ada, None).await;
            let browser = app.logged_in("ada").await;
            let detail = format!("/account/tokens/{}", record.uuid);
            let (_, html) = page(browser.get(app.at(&detail)).send().await.unwrap()).await;
            assert!(!html.contains("id=\"limit-hint\""), "no use, no hint");

            for path in ["/api/v2/me", "/api/v1.1/project/gh/acme/api", "/api/v2/project/gh/acme/web/pipeline"] {
                get_with(&app, &token, path).await.status_is(200);
            }
            let detail_url = app.at(&detail);
            let (b, at) = (&browser, &detail_url);
            let html = eventually("the hint to name read on the projects used", || async move {
                let (_, html) = page(b.get(at).send().await.unwrap()).await;
                if html.contains("id=\"limit-hint\"") && html.contains("gh/acme/web") { Ok(html) } else { Err("no hint yet".into()) }
            }).await;
            assert!(html.contains("needed at most the read role, on gh/acme/api, gh/acme/web only"), "{html}");
            assert!(!html.contains("gh/beta/tool"), "{html}");
            let href = "/account/tokens/new?ceiling=read&#38;project=gh%2Facme%2Fapi&#38;project=gh%2Facme%2Fweb";
            assert!(html.contains(href), "the hint links the form, filled in: {html}");
            // The link fills in the form.
            let (_, form) = page(browser.get(app.at(&href.replace("&#38;", "&"))).send().await.unwrap()).await;
            assert!(form.contains("value=\"gh/acme/api\" checked"), "{form}");
            assert!(!form.contains("value=\"gh/beta/tool\" checked"), "{form}");
            assert!(form.contains("<option value=\"read\" selected"), "{form}");

            // Triggering needs the write role: the suggestion follows.
            let made = send(reqwest::Client::new().post(app.at("/api/v2/project/gh/acme/api/pipeline"))
                .header("Circle-Token", &token).json(&json!({}))).await;
            assert!(made.status < 500);
            let (b, at) = (&browser, &detail_url);
            eventually("the hint to move to write", || async move {
                let (_, html) = page(b.get(at).send().await.unwrap()).await;
                if html.contains("needed at most the write role") { Ok(()) } else { Err("still read".into()) }
            }).await;

            // A limited token gets no such hint.
            let limited = app.personal_token_limited(&ada, limits(&["gh/acme/api"], None, None)).await;
            get_with(&app, &limited.0, "/api/v1.1/project/gh/acme/api").await.status_is(200);
            let at = app.at(&format!("/account/tokens/{}", limited.1.uuid));
            let store = &app.store;
            let id = limited.1.uuid;
            eventually("the limited token's use to be written", || async move {
                let t = store.tokens().by_uuid(id).await.unwrap().unwrap();
                if t.last_used_at.is_some() { Ok(()) } else { Err("unused".into()) }
            }).await;
            let (_, html) = page(browser.get(&at).send().await.unwrap()).await;
            assert!(!html.contains("id=\"limit-hint\""), "{html}");
        }
    }
}
