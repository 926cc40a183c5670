//! API conventions: JSON everywhere, `{"message": …}` errors with the right status.

use crate::app::TestApp;
use circlet_testkit::both_backends;
use serde_json::{Value, json};

async fn json_of(r: reqwest::Response) -> (u16, Value) {
    let status = r.status().as_u16();
    let ct = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    assert!(
        ct.starts_with("application/json"),
        "status {status} has content type {ct:?}"
    );
    (status, r.json().await.unwrap())
}

async fn create_project(
    app: &TestApp,
    browser: &reqwest::Client,
    slug: &str,
    body: Value,
) -> (u16, Value) {
    json_of(
        browser
            .post(app.at(&format!("/api/v2/project/{slug}")))
            .json(&body)
            .send()
            .await
            .unwrap(),
    )
    .await
}

both_backends! {
    setup = TestApp::spawn;
    async fn probes_answer_json(app) {
        let (s, v) = json_of(reqwest::get(app.at("/healthz")).await.unwrap()).await;
        assert_eq!((s, v), (200, json!({"status": "ok"})));
        let (s, v) = json_of(reqwest::get(app.at("/readyz")).await.unwrap()).await;
        assert_eq!((s, v), (200, json!({"status": "ready"})));
        app.store.close().await;
        let (s, v) = json_of(reqwest::get(app.at("/readyz")).await.unwrap()).await;
        assert_eq!(s, 503);
        assert!(v["message"].as_str().unwrap().contains("unavailable"));
        let (s, _) = json_of(reqwest::get(app.at("/healthz")).await.unwrap()).await;
        assert_eq!(s, 200, "liveness does not depend on the store");
    }

    async fn unknown_routes_and_methods_are_json(app) {
        let (s, v) = json_of(reqwest::get(app.at("/api/v2/nothing/here")).await.unwrap()).await;
        assert_eq!((s, v), (404, json!({"message": "Not found"})));
        let (s, v) = json_of(reqwest::Client::new().delete(app.at("/api/v2/project/gh/a/b")).send().await.unwrap()).await;
        assert_eq!(s, 405);
        assert_eq!(v["message"], "Method not allowed");
    }

    async fn creating_a_project_needs_a_login(app) {
        let (s, v) = create_project(&app, &reqwest::Client::new(), "gh/acme/w", json!({"repo_url": "file:///tmp/r"})).await;
        assert_eq!((s, v), (401, json!({"message": "You must log in first."})));
        assert!(app.store.projects().list_all().await.unwrap().is_empty());
    }

    async fn a_project_is_created_and_read_back_in_every_spelling(app) {
        app.user("alice", false).await;
        let b = app.logged_in("alice").await;
        let (s, v) = create_project(&app, &b, "github/Acme/Widgets", json!({"repo_url": "file:///srv/git/w", "default_branch": "trunk"})).await;
        assert_eq!(s, 201, "{v}");
        assert_eq!(v["slug"], "gh/Acme/Widgets");
        assert_eq!(v["name"], "Widgets");
        assert_eq!(v["organization_name"], "Acme");
        assert_eq!(v["organization_slug"], "gh/Acme");
        assert_eq!(v["vcs_info"], json!({"vcs_url": "file:///srv/git/w", "provider": "GitHub", "default_branch": "trunk"}));
        let id = v["id"].as_str().unwrap();
        assert!(uuid::Uuid::parse_str(id).is_ok());
        assert!(uuid::Uuid::parse_str(v["organization_id"].as_str().unwrap()).is_ok());
        for path in ["/api/v2/project/gh/acme/widgets", "/api/v2/project/gh%2Facme%2Fwidgets", "/api/v2/project/github%2FACME%2FWIDGETS"] {
            let (s, again) = json_of(b.get(app.at(path)).send().await.unwrap()).await;
            assert_eq!(s, 200, "{path}");
            assert_eq!(again["id"], id, "{path}");
        }
        let role = app.store.projects().role_of(
            app.store.projects().list_all().await.unwrap()[0].id,
            app.store.users().by_login(&circlet_core::Login::parse("alice").unwrap()).await.unwrap().unwrap().id,
        ).await.unwrap();
        assert_eq!(role, Some(circlet_core::Role::Admin), "the creator is the project's admin");
    }

    async fn bad_input_gets_a_clear_4xx(app) {
        app.user("alice", false).await;
        let b = app.logged_in("alice").await;
        let ok = json!({"repo_url": "file:///srv/git/w"});
        assert_eq!(create_project(&app, &b, "gh/acme/w", ok.clone()).await.0, 201);

        let (s, v) = create_project(&app, &b, "gh/ACME/w", ok.clone()).await;
        assert_eq!(s, 409);
        assert!(v["message"].as_str().unwrap().contains("already exists"), "{v}");

        let (s, v) = create_project(&app, &b, "svn/acme/w", ok.clone()).await;
        assert_eq!(s, 400);
        assert!(v["message"].as_str().unwrap().contains("unknown VCS"), "{v}");

        let (s, v) = create_project(&app, &b, "gh/acme/x", json!({"repo_url": "ftp://nope"})).await;
        assert_eq!(s, 400);
        assert!(v["message"].as_str().unwrap().contains("scheme"), "{v}");

        let (s, v) = create_project(&app, &b, "gh/acme/x", json!({"repo_url": "file:///r", "public": "yes"})).await;
        assert_eq!(s, 400);
        assert!(v["message"].as_str().unwrap().contains("expected a boolean"), "{v}");

        let (s, v) = create_project(&app, &b, "gh/acme/x", json!({"repo_url": "file:///r", "colour": "red"})).await;
        assert_eq!(s, 400);
        assert!(v["message"].as_str().unwrap().contains("colour"), "{v}");

        let r = b.post(app.at("/api/v2/project/gh/acme/x")).header("content-type", "application/json").body("{\"repo_url\": ").send().await.unwrap();
        let (s, v) = json_of(r).await;
        assert_eq!(s, 400);
        assert!(v["message"].as_str().unwrap().contains("JSON"), "{v}");

        // The body is optional, as on CircleCI (so no Content-Type is required), but one that
        // is there must be JSON. A browser session counts only on JSON requests (a cross-site
        // form cannot send one), so a form body from a session is not the user at all.
        let r = b.post(app.at("/api/v2/project/gh/acme/x")).body("repo_url=x").send().await.unwrap();
        assert_eq!(json_of(r).await, (401, json!({"message": "You must log in first."})));
        let alice_user = app.store.users().by_login(&circlet_core::Login::parse("alice").unwrap()).await.unwrap().unwrap();
        let token = app.personal_token(&alice_user).await;
        let r = reqwest::Client::new().post(app.at("/api/v2/project/gh/acme/x")).header("Circle-Token", &token).body("repo_url=x").send().await.unwrap();
        let (s, v) = json_of(r).await;
        assert_eq!(s, 400);
        assert!(v["message"].as_str().unwrap().contains("not valid JSON for a project"), "{v}");

        let huge = json!({"repo_url": format!("file:///{}", "a".repeat(2 * 1024 * 1024))});
        let (s, v) = create_project(&app, &b, "gh/acme/x", huge).await;
        assert_eq!(s, 413);
        assert!(v["message"].as_str().unwrap().contains("too large"), "{v}");

        let (s, v) = json_of(b.get(app.at("/api/v2/project/gh/nobody/nothing")).send().await.unwrap()).await;
        assert_eq!((s, v), (404, json!({"message": "Project not found"})));
        let (s, _) = json_of(b.get(app.at("/api/v2/project/gh%2Fonly-two")).send().await.unwrap()).await;
        assert_eq!(s, 400);
        assert_eq!(app.store.projects().list_all().await.unwrap().len(), 1, "no failed request wrote anything");
    }

    async fn the_clone_url_defaults_to_the_vcs_host(app) {
        app.user("alice", false).await;
        let b = app.logged_in("alice").await;
        let (s, v) = create_project(&app, &b, "bb/acme/tool", json!({})).await;
        assert_eq!(s, 201, "{v}");
        assert_eq!(v["vcs_info"]["vcs_url"], "https://bitbucket.org/acme/tool.git");
        assert_eq!(v["vcs_info"]["provider"], "Bitbucket");
        assert_eq!(v["vcs_info"]["default_branch"], "main");
    }

    async fn private_projects_look_absent_to_outsiders(app) {
        app.user("alice", false).await;
        app.user("mallory", false).await;
        let alice = app.logged_in("alice").await;
        assert_eq!(create_project(&app, &alice, "gh/acme/secret", json!({"repo_url": "file:///r"})).await.0, 201);
        assert_eq!(create_project(&app, &alice, "gh/acme/open", json!({"repo_url": "file:///r", "public": true})).await.0, 201);
        let mallory = app.logged_in("mallory").await;
        let (s, v) = json_of(mallory.get(app.at("/api/v2/project/gh/acme/secret")).send().await.unwrap()).await;
        assert_eq!((s, v), (404, json!({"message": "Project not found"})));
        let (s, v) = json_of(mallory.get(app.at("/api/v2/project/gh/acme/open")).send().await.unwrap()).await;
        assert_eq!(s, 200);
        assert_eq!(v["slug"], "gh/acme/open");
        // Reads of a public project need no token, as on CircleCI and v1.1 (issue 17 item 14);
        // a private one looks absent to anonymous callers too.
        let (s, v) = json_of(reqwest::get(app.at("/api/v2/project/gh/acme/open")).await.unwrap()).await;
        assert_eq!((s, &v["slug"]), (200, &json!("gh/acme/open")));
        let (s, hidden) = json_of(reqwest::get(app.at("/api/v2/project/gh/acme/secret")).await.unwrap()).await;
        let (_, absent) = json_of(reqwest::get(app.at("/api/v2/project/gh/acme/nowhere")).await.unwrap()).await;
        assert!((400..500).contains(&s) && hidden == absent, "{s} {hidden} vs {absent}");
    }

    async fn a_project_under_someone_elses_organization_is_refused_alike_whether_it_exists_or_not(app) {
        app.user("alice", false).await;
        let bob_user = app.user("bob", false).await;
        app.user("root", true).await;
        let alice = app.logged_in("alice").await;
        let bob = app.logged_in("bob").await;
        let root = app.logged_in("root").await;
        let r = json!({"repo_url": "file:///r"});
        assert_eq!(create_project(&app, &alice, "gh/acme/secret", r.clone()).await.0, 201);
        assert_eq!(create_project(&app, &alice, "gh/acme/open", json!({"repo_url": "file:///r", "public": true})).await.0, 201);

        // Bob is no admin of any of acme's projects: the existing private project, the public
        // one and an absent one all get the same 403, so nothing tells them apart.
        let refused = json!({"message": "You cannot add a project under gh/acme: that organization belongs to other users. An admin of one of its projects, or a site admin, can add it."});
        for slug in ["gh/acme/secret", "gh/acme/SECRET", "github/acme/absent", "gh/acme/open"] {
            let (s, v) = create_project(&app, &bob, slug, r.clone()).await;
            assert_eq!((s, &v), (403, &refused), "{slug}");
        }
        // Reading a project of it does not make bob one of its admins.
        let open = app.store.projects().by_slug(&circlet_core::ProjectSlug::parse("gh/acme/open").unwrap()).await.unwrap().unwrap();
        app.store.projects().set_member(open.id, bob_user.id, circlet_core::Role::Write).await.unwrap();
        assert_eq!(create_project(&app, &bob, "gh/acme/absent", r.clone()).await.0, 403);

        // Organizations nobody has yet are free: the first project's owner is their first admin.
        assert_eq!(create_project(&app, &bob, "gh/bobco/tool", r.clone()).await.0, 201);
        assert_eq!(create_project(&app, &bob, "bb/acme/tool", r.clone()).await.0, 201, "another VCS, another organization");
        let (s, v) = create_project(&app, &alice, "gh/BobCo/other", r.clone()).await;
        assert_eq!(s, 403, "{v}");

        // An admin of one of acme's projects belongs to it: absent slugs are added, taken ones are
        // a 409 even when the caller cannot see that project.
        app.store.projects().set_member(open.id, bob_user.id, circlet_core::Role::Admin).await.unwrap();
        let (s, v) = create_project(&app, &bob, "gh/acme/secret", r.clone()).await;
        assert_eq!(s, 409, "{v}");
        assert!(v["message"].as_str().unwrap().contains("already exists"), "{v}");
        assert_eq!(create_project(&app, &bob, "gh/acme/bobs", r.clone()).await.0, 201);
        // Site admins add projects anywhere.
        assert_eq!(create_project(&app, &root, "gh/bobco/roots", r.clone()).await.0, 201);
        let (s, _) = create_project(&app, &root, "gh/acme/secret", r.clone()).await;
        assert_eq!(s, 409);
        assert_eq!(app.store.projects().list_all().await.unwrap().len(), 6, "no refused request added a project");
    }
}
