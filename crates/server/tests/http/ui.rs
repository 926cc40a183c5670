//! The web UI over HTTP: setup, sessions, CSRF, throttling, projects, members, admin.

use crate::app::{PASSWORD, TestApp};
use circlet_store::BackendKind;
use circlet_testkit::both_backends;
use circlet_testkit::csrf_in;

fn set_cookie(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with(&format!("{name}=")))
}

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

fn location(r: &reqwest::Response) -> String {
    r.headers()
        .get("location")
        .expect("a redirect")
        .to_str()
        .unwrap()
        .to_owned()
}

both_backends! {
    setup = TestApp::spawn;
    async fn first_start_setup_creates_the_admin_once(app) {
        let setup_url = app.state.setup_url();
        let b = app.browser();
        let (s, html) = page(b.get(&setup_url).send().await.unwrap()).await;
        assert_eq!(s, 200);
        let csrf = csrf_in(&html).unwrap();
        let code = setup_url.split("code=").nth(1).unwrap().to_owned();
        let form = |code: &str, pw2: &str| vec![
            ("csrf".to_owned(), csrf.clone()), ("code".into(), code.into()), ("login".into(), "root-admin".into()),
            ("name".into(), "Ada Admin".into()), ("email".into(), "ada@example.test".into()),
            ("password".into(), PASSWORD.into()), ("password_confirm".into(), pw2.into()),
        ];
        let (s, html) = page(b.post(app.at("/setup")).form(&form("0000", PASSWORD)).send().await.unwrap()).await;
        assert_eq!(s, 403);
        assert!(html.contains("not valid"));
        let (s, html) = page(b.post(app.at("/setup")).form(&form(&code, "something else entirely")).send().await.unwrap()).await;
        assert_eq!(s, 400);
        assert!(html.contains("the two passwords differ"));
        assert_eq!(app.store.users().count().await.unwrap(), 0);

        let r = b.post(app.at("/setup")).form(&form(&code, PASSWORD)).send().await.unwrap();
        assert_eq!(r.status(), 303);
        assert_eq!(location(&r), "/");
        let admin = app.store.users().list().await.unwrap();
        assert_eq!(admin.len(), 1);
        assert!(admin[0].site_admin);
        let (s, html) = page(b.get(app.at("/")).send().await.unwrap()).await;
        assert_eq!(s, 200);
        assert!(html.contains("root-admin"), "logged in after setup");

        let other = app.browser();
        let mut again = form(&code, PASSWORD);
        again[0].1 = app.csrf(&other, "/login").await;
        let (s, _) = page(other.post(app.at("/setup")).form(&again).send().await.unwrap()).await;
        assert_eq!(s, 410, "the code is single-use");
        let (s, _) = page(app.browser().get(app.state.setup_url()).send().await.unwrap()).await;
        assert_eq!(s, 410, "no setup once an admin exists");
    }

    async fn login_and_logout_manage_a_server_side_session(app) {
        app.user("alice", false).await;
        let b = app.browser();
        let r = b.get(app.at("/")).send().await.unwrap();
        assert_eq!(r.status(), 303);
        assert_eq!(location(&r), "/login?next=%2F");

        let csrf = app.csrf(&b, "/login").await;
        let (s, html) = page(b.post(app.at("/login")).form(&[("login", "alice"), ("password", "wrong password!"), ("csrf", &csrf)]).send().await.unwrap()).await;
        assert_eq!(s, 401);
        assert!(html.contains("Incorrect login or password."));
        let (s, html) = page(b.post(app.at("/login")).form(&[("login", "nobody"), ("password", PASSWORD), ("csrf", &csrf)]).send().await.unwrap()).await;
        assert_eq!(s, 401);
        assert!(html.contains("Incorrect login or password."));

        let r = b.post(app.at("/login")).form(&[("login", "ALICE"), ("password", PASSWORD), ("csrf", &csrf), ("next", "/account")]).send().await.unwrap();
        assert_eq!(r.status(), 303);
        assert_eq!(location(&r), "/account");
        let cookie = set_cookie(&r, "circlet_session").unwrap();
        assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && !cookie.contains("Secure"), "{cookie}");
        let raw = cookie.split(';').next().unwrap().to_owned();

        let (s, html) = page(b.get(app.at("/account")).send().await.unwrap()).await;
        assert_eq!(s, 200);
        assert!(html.contains("alice@example.test"));

        let r = app.post_form(&b, "/", "/logout", &[]).await;
        assert_eq!(r.status(), 303);
        assert_eq!(location(&r), "/login");
        // Replaying the old cookie after logout: the server-side record is gone.
        let replay = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let r = replay.get(app.at("/account")).header("cookie", &raw).send().await.unwrap();
        assert_eq!(r.status(), 303, "a logged-out session must not work again");
    }

    async fn login_refuses_offsite_next_and_disabled_users(app) {
        app.user("alice", false).await;
        let b = app.browser();
        let csrf = app.csrf(&b, "/login").await;
        let r = b.post(app.at("/login")).form(&[("login", "alice"), ("password", PASSWORD), ("csrf", &csrf), ("next", "//evil.example/x")]).send().await.unwrap();
        assert_eq!(location(&r), "/");

        app.store.users().set_disabled(&circlet_core::Login::parse("alice").unwrap(), true).await.unwrap();
        let b = app.browser();
        let csrf = app.csrf(&b, "/login").await;
        let (s, html) = page(b.post(app.at("/login")).form(&[("login", "alice"), ("password", PASSWORD), ("csrf", &csrf)]).send().await.unwrap()).await;
        assert_eq!(s, 401);
        assert!(html.contains("disabled"));
    }

    async fn disabling_a_user_ends_their_session_at_once(app) {
        app.user("root", true).await;
        app.user("alice", false).await;
        let alice = app.logged_in("alice").await;
        assert_eq!(alice.get(app.at("/")).send().await.unwrap().status(), 200);
        let root = app.logged_in("root").await;
        let r = app.post_form(&root, "/admin/users", "/admin/users/alice/disabled", &[("disabled", "true")]).await;
        assert_eq!(r.status(), 303);
        assert_eq!(alice.get(app.at("/")).send().await.unwrap().status(), 303, "alice is sent to the login page");
        let (_, html) = page(root.get(app.at("/admin/users")).send().await.unwrap()).await;
        assert!(html.contains("disabled"));
    }

    async fn forms_without_a_valid_csrf_token_are_refused(app) {
        app.user("alice", false).await;
        let b = app.logged_in("alice").await;
        let (s, html) = page(b.post(app.at("/logout")).form(&[("x", "y")]).send().await.unwrap()).await;
        assert_eq!(s, 403);
        assert!(html.contains("expired"));
        let (s, _) = page(b.post(app.at("/projects")).form(&[("csrf", "0123"), ("vcs", "gh"), ("org", "a"), ("repo", "b"), ("repo_url", "file:///r"), ("default_branch", "main")]).send().await.unwrap()).await;
        assert_eq!(s, 403);
        assert!(app.store.projects().list_all().await.unwrap().is_empty());
        // A browser with no cookies at all cannot post the login form either.
        let fresh = reqwest::Client::new();
        let (s, _) = page(fresh.post(app.at("/login")).form(&[("login", "alice"), ("password", PASSWORD), ("csrf", "x")]).send().await.unwrap()).await;
        assert_eq!(s, 403);
        // Still logged in: the refused logout did nothing.
        assert_eq!(b.get(app.at("/")).send().await.unwrap().status(), 200);
    }

    async fn the_add_project_form_refuses_someone_elses_organization(app) {
        app.user("alice", false).await;
        app.user("bob", false).await;
        let alice = app.logged_in("alice").await;
        let bob = app.logged_in("bob").await;
        let fields = |repo: &'static str| vec![("vcs", "gh"), ("org", "acme"), ("repo", repo), ("repo_url", "file:///srv/git/widgets"), ("default_branch", "main")];
        let r = app.post_form(&alice, "/projects/new", "/projects", &fields("widgets")).await;
        assert_eq!(r.status(), 303);
        for repo in ["widgets", "gadgets"] {
            let (s, html) = page(app.post_form(&bob, "/projects/new", "/projects", &fields(repo)).await).await;
            assert_eq!(s, 403, "{repo}");
            assert!(html.contains("that organization belongs to other users"), "{html}");
            assert!(!html.contains("already exists"), "{html}");
        }
        assert_eq!(app.store.projects().list_all().await.unwrap().len(), 1);
    }

    async fn projects_are_added_listed_and_guarded(app) {
        app.user("alice", false).await;
        app.user("bob", false).await;
        let alice = app.logged_in("alice").await;
        let fields = |org: &'static str, vcs: &'static str| vec![("vcs", vcs), ("org", org), ("repo", "widgets"), ("repo_url", "file:///srv/git/widgets"), ("default_branch", "main")];
        let r = app.post_form(&alice, "/projects/new", "/projects", &fields("acme", "gh")).await;
        assert_eq!(r.status(), 303);
        assert_eq!(location(&r), "/projects/gh/acme/widgets");
        let (_, html) = page(alice.get(app.at("/")).send().await.unwrap()).await;
        assert!(html.contains("gh/acme/widgets"));

        let (s, html) = page(app.post_form(&alice, "/projects/new", "/projects", &fields("ACME", "gh")).await).await;
        assert_eq!(s, 409);
        assert!(html.contains("already exists"));
        let (s, html) = page(app.post_form(&alice, "/projects/new", "/projects", &fields("acme", "svn")).await).await;
        assert_eq!(s, 400);
        assert!(html.contains("unknown VCS"));

        for path in ["/projects/gh/acme/widgets", "/projects/github/ACME/Widgets"] {
            let (s, html) = page(alice.get(app.at(path)).send().await.unwrap()).await;
            assert_eq!(s, 200, "{path}");
            assert!(html.contains("No builds yet"));
        }
        let (s, _) = page(alice.get(app.at("/projects/svn/acme/widgets")).send().await.unwrap()).await;
        assert_eq!(s, 400);
        let (s, _) = page(alice.get(app.at("/projects/gh/acme/nothing")).send().await.unwrap()).await;
        assert_eq!(s, 404);

        // Private: bob sees a 404, anonymous visitors are asked to log in.
        let bob = app.logged_in("bob").await;
        let (s, _) = page(bob.get(app.at("/projects/gh/acme/widgets")).send().await.unwrap()).await;
        assert_eq!(s, 404);
        let r = app.browser().get(app.at("/projects/gh/acme/widgets")).send().await.unwrap();
        assert_eq!(r.status(), 303);

        // Members: bob as reader sees it but cannot open settings; removed, he cannot see it.
        let r = app.post_form(&alice, "/projects/gh/acme/widgets/settings/members", "/projects/gh/acme/widgets/settings/members", &[("login", "bob"), ("role", "read")]).await;
        assert_eq!(r.status(), 303);
        let (s, html) = page(bob.get(app.at("/")).send().await.unwrap()).await;
        assert_eq!(s, 200);
        assert!(html.contains("gh/acme/widgets"));
        let (s, _) = page(bob.get(app.at("/projects/gh/acme/widgets/settings")).send().await.unwrap()).await;
        assert_eq!(s, 403);
        let (s, html) = page(app.post_form(&alice, "/projects/gh/acme/widgets/settings/members", "/projects/gh/acme/widgets/settings/members", &[("login", "nobody"), ("role", "read")]).await).await;
        assert_eq!(s, 400);
        assert!(html.contains("no user with login"));
        let (s, html) = page(app.post_form(&alice, "/projects/gh/acme/widgets/settings/members", "/projects/gh/acme/widgets/settings/members", &[("login", "bob"), ("role", "owner")]).await).await;
        assert_eq!(s, 400);
        assert!(html.contains("unknown role"));
        let r = app.post_form(&alice, "/projects/gh/acme/widgets/settings/members", "/projects/gh/acme/widgets/settings/members/bob/remove", &[]).await;
        assert_eq!(r.status(), 303);
        let (s, _) = page(bob.get(app.at("/projects/gh/acme/widgets")).send().await.unwrap()).await;
        assert_eq!(s, 404, "removal takes effect at once");

        // General settings: make it public; then anyone can read the page.
        let r = app.post_form(&alice, "/projects/gh/acme/widgets/settings", "/projects/gh/acme/widgets/settings", &[("repo_url", "https://git.example/acme/widgets.git"), ("default_branch", "trunk"), ("public", "on")]).await;
        let (s, html) = page(r).await;
        assert_eq!(s, 200);
        assert!(html.contains("Settings saved."));
        let (s, html) = page(app.browser().get(app.at("/projects/gh/acme/widgets")).send().await.unwrap()).await;
        assert_eq!(s, 200);
        assert!(html.contains("trunk"));
        let (s, _) = page(app.post_form(&alice, "/projects/gh/acme/widgets/settings", "/projects/gh/acme/widgets/settings", &[("repo_url", "nope"), ("default_branch", "trunk")]).await).await;
        assert_eq!(s, 400);
    }

    async fn site_admins_manage_users_and_others_cannot(app) {
        app.user("root", true).await;
        app.user("alice", false).await;
        let alice = app.logged_in("alice").await;
        let (s, _) = page(alice.get(app.at("/admin/users")).send().await.unwrap()).await;
        assert_eq!(s, 403);
        let root = app.logged_in("root").await;
        let new = [("login", "carol"), ("name", "Carol"), ("email", "carol@example.test"), ("password", PASSWORD)];
        let r = app.post_form(&root, "/admin/users", "/admin/users", &new).await;
        assert_eq!(r.status(), 303);
        let (s, html) = page(app.post_form(&root, "/admin/users", "/admin/users", &new).await).await;
        assert_eq!(s, 409);
        assert!(html.contains("already taken"));
        let (s, html) = page(app.post_form(&root, "/admin/users", "/admin/users", &[("login", "Bad Login!"), ("name", "x"), ("email", "x@y"), ("password", PASSWORD)]).await).await;
        assert_eq!(s, 400);
        assert!(html.contains("login may contain only"));
        app.logged_in("carol").await;
        // Site admins see every project on their dashboard and can open any project's settings.
        let r = app.post_form(&alice, "/projects/new", "/projects", &[("vcs", "gh"), ("org", "a"), ("repo", "b"), ("repo_url", "file:///r"), ("default_branch", "main")]).await;
        assert_eq!(r.status(), 303);
        let (_, html) = page(root.get(app.at("/")).send().await.unwrap()).await;
        assert!(html.contains("gh/a/b"));
        assert_eq!(root.get(app.at("/projects/gh/a/b/settings")).send().await.unwrap().status(), 200);
    }

    async fn errors_are_readable_pages(app) {
        let (s, html) = page(reqwest::get(app.at("/no/such/page")).await.unwrap()).await;
        assert_eq!(s, 404);
        assert!(html.contains("There is no page at this address."));
        app.user("alice", false).await;
        let b = app.logged_in("alice").await;
        let (s, _) = page(app.post_form(&b, "/account", "/account", &[]).await).await;
        assert_eq!(s, 405);
        let csrf = app.csrf(&b, "/projects/new").await;
        let big = "a".repeat(2 * 1024 * 1024);
        let (s, _) = page(b.post(app.at("/projects")).form(&[("csrf", csrf.as_str()), ("org", &big)]).send().await.unwrap()).await;
        assert_eq!(s, 413);
        let (s, html) = page(b.post(app.at("/projects")).form(&[("csrf", csrf.as_str()), ("org", "x")]).send().await.unwrap()).await;
        assert_eq!(s, 422, "{html}");
        assert!(html.contains("missing field"));
    }
}

#[tokio::test]
async fn session_cookies_are_secure_behind_https() {
    let app = TestApp::spawn_with(BackendKind::Sqlite, |c| {
        c.app.public_url = "https://ci.example".into()
    })
    .await;
    app.user("alice", false).await;
    let b = app.browser();
    let csrf = app.csrf(&b, "/login").await;
    let r = b
        .post(app.at("/login"))
        .form(&[("login", "alice"), ("password", PASSWORD), ("csrf", &csrf)])
        .send()
        .await
        .unwrap();
    assert!(
        set_cookie(&r, "circlet_session")
            .unwrap()
            .contains("; Secure")
    );
}

#[tokio::test]
async fn failed_logins_are_throttled_per_address_without_locking_the_owner_out() {
    let app = TestApp::spawn_with(BackendKind::Sqlite, |c| {
        c.http.login_failures_per_window = 3
    })
    .await;
    app.user("alice", false).await;
    let attacker = app.browser();
    let csrf = app.csrf(&attacker, "/login").await;
    let attempt = |pw: &'static str| {
        attacker
            .post(app.at("/login"))
            .form(&[("login", "alice"), ("password", pw), ("csrf", &csrf)])
            .send()
    };
    for _ in 0..3 {
        assert_eq!(attempt("wrong password!").await.unwrap().status(), 401);
    }
    let r = attempt("wrong password!").await.unwrap();
    assert_eq!(r.status(), 429);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry > 0);
    assert!(r.text().await.unwrap().contains("Too many failed logins"));
    assert_eq!(
        attempt(PASSWORD).await.unwrap().status(),
        429,
        "the blocked address stays blocked"
    );

    // The owner, from another address, logs in normally.
    let owner = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .local_address(std::net::IpAddr::from([127, 0, 0, 2]))
        .build()
        .unwrap();
    let csrf = app.csrf(&owner, "/login").await;
    let r = owner
        .post(app.at("/login"))
        .form(&[("login", "alice"), ("password", PASSWORD), ("csrf", &csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
}

#[tokio::test]
async fn login_next_only_ever_leads_to_a_page_of_this_site() {
    let app = TestApp::spawn(BackendKind::Sqlite).await;
    app.user("alice", false).await;
    let alice = app.logged_in("alice").await;
    let stranger = app.browser();
    // Browsers drop tabs and newlines from URLs and read `\` as `/`: each of these would lead
    // to evil.example, and the control characters used to make a 500.
    let attacks = [
        "/%09/evil.example/path",
        "/%0a/evil.example",
        "/%0d%0a/evil.example",
        "%09//evil.example",
        "/%00",
        "/x%0d%0aSet-Cookie:%20a=b",
        "/%5cevil.example",
        "/%5c%5cevil.example",
        "//evil.example/x",
        "/%2F/evil.example",
        "https:%2F%2Fevil.example",
        "javascript:alert(1)",
        "%E2%80%A8/evil.example",
    ];
    for attack in attacks {
        let query = format!("/login?next={attack}");
        let r = alice.get(app.at(&query)).send().await.unwrap();
        assert_eq!(r.status(), 303, "{attack}");
        assert_eq!(location(&r), "/", "{attack}");

        let (s, html) = page(stranger.get(app.at(&query)).send().await.unwrap()).await;
        assert_eq!(s, 200, "{attack}: {html}");
        assert!(
            html.contains(r#"name="next" value="/""#),
            "{attack}: {html}"
        );

        let decoded: String = form_urlencoded::parse(format!("next={attack}").as_bytes())
            .map(|(_, v)| v.into_owned())
            .collect();
        let b = app.browser();
        let csrf = app.csrf(&b, "/login").await;
        let r = b
            .post(app.at("/login"))
            .form(&[
                ("login", "alice"),
                ("password", PASSWORD),
                ("csrf", &csrf),
                ("next", &decoded),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303, "{attack}");
        assert_eq!(location(&r), "/", "{attack}");
    }
    // A page of this site is where login goes on to.
    let r = alice
        .get(app.at("/login?next=%2Fprojects%2Fgh%2Facme%2Fw%3Fbranch%3Dfeature%252Fx"))
        .send()
        .await
        .unwrap();
    assert_eq!(location(&r), "/projects/gh/acme/w?branch=feature%2Fx");
}

#[tokio::test]
async fn no_response_can_be_shown_in_another_sites_frame() {
    let app = TestApp::spawn(BackendKind::Sqlite).await;
    app.user("root", true).await;
    let admin = app.logged_in("root").await;
    for path in [
        "/",
        "/login",
        "/admin/users",
        "/admin/runners",
        "/account/tokens",
        "/no/such/page",
        "/api/v2/me",
        "/api/v2/nothing",
        "/healthz",
        "/gh/acme/none.svg",
        "/static/app.js",
    ] {
        let r = admin.get(app.at(path)).send().await.unwrap();
        let header = |name: &str| {
            r.headers()
                .get(name)
                .unwrap_or_else(|| panic!("{path} has no {name}"))
                .to_str()
                .unwrap()
                .to_owned()
        };
        assert_eq!(header("x-frame-options"), "DENY", "{path}");
        assert_eq!(
            header("content-security-policy"),
            "frame-ancestors 'none'",
            "{path}"
        );
    }
}

/// Error pages inside the site's frame.
mod error_pages {
    use super::*;

    both_backends! {
        setup = TestApp::spawn;
        async fn error_pages_keep_the_top_navigation_and_name_the_role_needed(app) {
            let ada = app.user("ada", false).await;
            let project = app.project(&ada, "gh/acme/widgets", false).await;
            let rita = app.user("rita", false).await;
            app.store.projects().set_member(project.id, rita.id, circlet_core::Role::Read).await.unwrap();
            let reader = app.logged_in("rita").await;
            for path in ["/projects/gh/acme/widgets/settings/env", "/projects/gh/acme/widgets/settings/api"] {
                let (s, html) = page(reader.get(app.at(path)).send().await.unwrap()).await;
                assert_eq!(s, 403, "{path}");
                assert!(html.contains("it needs the admin role in this project"), "{path}: {html}");
                assert!(html.contains(r#"id="nav-account""#) && html.contains(">rita</a>"), "{path}: {html}");
            }
            let (s, html) = page(reader.get(app.at("/projects/gh/acme/widgets/jobs/99")).send().await.unwrap()).await;
            assert_eq!(s, 404);
            assert!(html.contains(">rita</a>"), "{html}");
            // An anonymous visitor's error page offers the login.
            let (s, html) = page(app.browser().get(app.at("/no/such/page")).send().await.unwrap()).await;
            assert_eq!(s, 404);
            assert!(html.contains(r#"<a href="/login">Log in</a>"#), "{html}");
        }
    }
}
