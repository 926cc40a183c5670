//! Site administration of API tokens over HTTP: the inventory, revoking any token, the switch
//! that disables token creation, and the audit log pages (the admin's and each user's own).

use crate::app::TestApp;
use circlet_app::tokens::{self, Actor};
use circlet_store::User;
use circlet_store::settings::TOKEN_CREATION_DISABLED;
use circlet_testkit::both_backends;
use serde_json::{Value, json};

async fn page(r: reqwest::Response) -> (u16, String) {
    let status = r.status().as_u16();
    let ct = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    assert!(
        ct.starts_with("text/html"),
        "status {status} has content type {ct:?}"
    );
    (status, r.text().await.unwrap())
}

async fn get_page(b: &reqwest::Client, app: &TestApp, path: &str) -> (u16, String) {
    page(b.get(app.at(path)).send().await.unwrap()).await
}

async fn json_of(r: reqwest::Response) -> (u16, Value) {
    (r.status().as_u16(), r.json().await.unwrap())
}

/// Issues a personal token for `owner` as if they made it in their settings.
async fn personal_token(app: &TestApp, owner: &User, name: &str) -> (String, uuid::Uuid) {
    let (value, record) = tokens::issue_personal(
        &app.store,
        &app.state.app.config.token_policy(),
        owner,
        &circlet_core::token::TokenName::parse(name, "name").unwrap(),
        None,
        &Default::default(),
        &Actor::user(owner, "127.0.0.1"),
    )
    .await
    .unwrap();
    (value.expose().to_owned(), record.uuid)
}

/// `GET /api/v2/me` with `token` in the `Circle-Token` header.
async fn me(app: &TestApp, token: &str) -> (u16, Value) {
    json_of(
        reqwest::Client::new()
            .get(app.at("/api/v2/me"))
            .header("Circle-Token", token)
            .send()
            .await
            .unwrap(),
    )
    .await
}

/// Creates `slug` with `browser`'s user as its admin.
async fn create_project(app: &TestApp, browser: &reqwest::Client, slug: &str) {
    let r = browser
        .post(app.at(&format!("/api/v2/project/{slug}")))
        .json(&json!({"repo_url": "file:///srv/git/r"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "create {slug}");
}

/// Creates a project token through the API as `browser`'s user.
async fn create_project_token(
    app: &TestApp,
    browser: &reqwest::Client,
    slug: &str,
    scope: &str,
    label: &str,
) -> (u16, Value) {
    json_of(
        browser
            .post(app.at(&format!("/api/v1.1/project/{slug}/token")))
            .json(&json!({"scope": scope, "label": label}))
            .send()
            .await
            .unwrap(),
    )
    .await
}

both_backends! {
    setup = TestApp::spawn;
    async fn only_site_admins_reach_the_token_admin_pages(app) {
        let alice = app.user("alice", false).await;
        app.user("root", true).await;
        let (value, uuid) = personal_token(&app, &alice, "laptop").await;
        let b = app.logged_in("alice").await;

        for path in ["/admin/tokens", "/admin/audit"] {
            let (s, html) = get_page(&b, &app, path).await;
            assert_eq!(s, 403, "{path}");
            assert!(html.contains("You do not have permission"), "{path}: {html}");
        }
        let (s, _) = page(app.post_form(&b, "/account", &format!("/admin/tokens/{uuid}/revoke"), &[]).await).await;
        assert_eq!(s, 403);
        let (s, _) = page(app.post_form(&b, "/account", "/admin/settings/token-creation", &[("disabled", "true")]).await).await;
        assert_eq!(s, 403);
        assert_eq!(me(&app, &value).await.0, 200, "the token still works");
        assert_eq!(app.store.settings().get(TOKEN_CREATION_DISABLED).await.unwrap(), None);

        let anonymous = app.browser();
        let r = anonymous.get(app.at("/admin/tokens")).send().await.unwrap();
        assert_eq!(r.status(), 303, "anonymous visitors are sent to log in");
        assert!(r.headers()["location"].to_str().unwrap().starts_with("/login"));

        let root = app.logged_in("root").await;
        let (s, html) = get_page(&root, &app, "/admin/users").await;
        assert_eq!(s, 200);
        for link in ["href=\"/admin/tokens\"", "href=\"/admin/audit\""] {
            assert!(html.contains(link), "the admin navigation links {link}");
        }
    }

    async fn the_inventory_lists_every_token_and_revoking_one_stops_it_on_the_next_request(app) {
        let alice = app.user("alice", false).await;
        app.user("root", true).await;
        let alice_b = app.logged_in("alice").await;
        create_project(&app, &alice_b, "gh/o/r").await;
        let (personal, personal_id) = personal_token(&app, &alice, "alice laptop").await;
        let (s, v) = create_project_token(&app, &alice_b, "gh/o/r", "status", "badge reader").await;
        assert_eq!(s, 201, "{v}");
        let project_value = v["token"].as_str().unwrap().to_owned();

        let root = app.logged_in("root").await;
        let (s, html) = get_page(&root, &app, "/admin/tokens").await;
        assert_eq!(s, 200);
        for shown in ["alice laptop", "badge reader", "gh/o/r", "alice", "Status", "personal", "project", "Never"] {
            assert!(html.contains(shown), "the inventory shows {shown:?}: {html}");
        }
        for value in [&personal, &project_value] {
            assert!(html.contains(&format!("…{}", &value[value.len() - 4..])), "last 4 shown");
            assert!(!html.contains(value.as_str()), "a token value never appears in the inventory");
        }
        assert!(html.contains(&format!("/admin/tokens/{personal_id}/revoke")));

        let (s, v) = me(&app, &personal).await;
        assert_eq!((s, &v["login"]), (200, &json!("alice")), "{v}");
        let r = app.post_form(&root, "/admin/tokens", &format!("/admin/tokens/{personal_id}/revoke"), &[]).await;
        assert_eq!(r.status(), 303);
        assert_eq!(r.headers()["location"], "/admin/tokens");
        assert_eq!(me(&app, &personal).await, (401, json!({"message": "Invalid token provided."})));

        let (_, html) = get_page(&root, &app, "/admin/tokens").await;
        assert!(!html.contains("alice laptop"), "a revoked token leaves the inventory");
        assert!(html.contains("badge reader"));
        let (s, _) = page(app.post_form(&root, "/admin/tokens", &format!("/admin/tokens/{personal_id}/revoke"), &[]).await).await;
        assert_eq!(s, 404, "revoking twice finds nothing");
        let (s, _) = page(app.post_form(&root, "/admin/tokens", "/admin/tokens/not-a-uuid/revoke", &[]).await).await;
        assert_eq!(s, 404);
    }

    async fn disabling_token_creation_refuses_new_tokens_until_enabled_again(app) {
        let alice = app.user("alice", false).await;
        app.user("root", true).await;
        let alice_b = app.logged_in("alice").await;
        create_project(&app, &alice_b, "gh/o/r").await;
        let (s, _) = create_project_token(&app, &alice_b, "gh/o/r", "all", "before").await;
        assert_eq!(s, 201);
        let (personal, _) = personal_token(&app, &alice, "made before").await;
        let root = app.logged_in("root").await;
        let (_, html) = get_page(&root, &app, "/admin/tokens").await;
        assert!(!html.contains("id=\"creation-disabled\" checked"), "creation starts enabled");

        let r = app.post_form(&root, "/admin/tokens", "/admin/settings/token-creation", &[("disabled", "true")]).await;
        assert_eq!(r.status(), 303);
        assert_eq!(app.store.settings().get(TOKEN_CREATION_DISABLED).await.unwrap().as_deref(), Some("true"));
        let (_, html) = get_page(&root, &app, "/admin/tokens").await;
        assert!(html.contains("id=\"creation-disabled\" checked"), "{html}");

        let (s, v) = create_project_token(&app, &alice_b, "gh/o/r", "status", "after").await;
        assert_eq!(s, 403, "{v}");
        assert!(v["message"].as_str().unwrap().contains("disabled API token creation"), "{v}");
        let listed = alice_b.get(app.at("/api/v1.1/project/gh/o/r/token")).send().await.unwrap();
        let (_, listed) = json_of(listed).await;
        assert_eq!(listed.as_array().unwrap().len(), 1, "nothing was created: {listed}");
        assert_eq!(me(&app, &personal).await.0, 200, "existing tokens keep working");

        // An unchecked checkbox sends nothing: creation is allowed again.
        let r = app.post_form(&root, "/admin/tokens", "/admin/settings/token-creation", &[]).await;
        assert_eq!(r.status(), 303);
        assert_eq!(create_project_token(&app, &alice_b, "gh/o/r", "status", "again").await.0, 201);
        let (s, _) = page(app.post_form(&root, "/admin/tokens", "/admin/settings/token-creation", &[("disabled", "maybe")]).await).await;
        assert_eq!(s, 400);

        let (_, html) = get_page(&root, &app, "/admin/audit").await;
        assert!(html.contains("settings.changed"), "{html}");
        assert!(html.contains("API token creation disabled") && html.contains("API token creation enabled"), "{html}");
    }

    async fn audit_pages_show_who_did_what_from_where_to_those_allowed(app) {
        let alice = app.user("alice", false).await;
        let bob = app.user("bob", false).await;
        app.user("root", true).await;
        let alice_b = app.logged_in("alice").await;
        let bob_b = app.logged_in("bob").await;
        create_project(&app, &alice_b, "gh/o/r").await;
        let project = app.store.projects().list_all().await.unwrap().remove(0);
        // bob may write to alice's project but does not administer it.
        app.store.projects().set_member(project.id, bob.id, circlet_core::Role::Write).await.unwrap();
        let (s, v) = create_project_token(&app, &alice_b, "gh/o/r", "view-builds", "artifact fetcher").await;
        assert_eq!(s, 201, "{v}");
        let project_token = v["token"].as_str().unwrap().to_owned();
        let (personal, personal_id) = personal_token(&app, &alice, "alice cli").await;
        let (bob_token, _) = personal_token(&app, &bob, "bob cli").await;

        let root = app.logged_in("root").await;
        let r = app.post_form(&root, "/admin/tokens", &format!("/admin/tokens/{personal_id}/revoke"), &[]).await;
        assert_eq!(r.status(), 303);

        let (s, html) = get_page(&root, &app, "/admin/audit").await;
        assert_eq!(s, 200);
        for shown in ["token.created", "token.revoked", "artifact fetcher", "alice cli", "bob cli", "root", "127.0.0.1"] {
            assert!(html.contains(shown), "the admin audit shows {shown:?}: {html}");
        }
        let (s, html) = get_page(&alice_b, &app, "/account/audit").await;
        assert_eq!(s, 200);
        for shown in ["token.created", "token.revoked", "artifact fetcher", "alice cli", "root", "alice", "127.0.0.1"] {
            assert!(html.contains(shown), "alice's audit shows {shown:?}: {html}");
        }
        assert!(!html.contains("bob cli"), "alice does not see bob's tokens: {html}");

        let (s, html) = get_page(&bob_b, &app, "/account/audit").await;
        assert_eq!(s, 200);
        assert!(html.contains("bob cli"), "{html}");
        for hidden in ["alice cli", "artifact fetcher", "token.revoked"] {
            assert!(!html.contains(hidden), "bob does not see {hidden:?}: {html}");
        }

        let (_, account) = get_page(&alice_b, &app, "/account").await;
        assert!(account.contains("href=\"/account/audit\""), "the account page links the audit log");
        for (b, path) in [(&root, "/admin/audit"), (&alice_b, "/account/audit"), (&bob_b, "/account/audit")] {
            let (_, html) = get_page(b, &app, path).await;
            for value in [&project_token, &personal, &bob_token] {
                assert!(!html.contains(value.as_str()), "a token value never appears in {path}");
            }
        }
    }
}
