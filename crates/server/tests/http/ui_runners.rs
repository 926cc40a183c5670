//! Admin → Runners: site admins list runners, create a runner token (shown once, with the
//! command that uses it) and revoke one; the token works on the runner protocol at once and
//! stops working when revoked.

use crate::app::TestApp;
use circlet_testkit::both_backends;

async fn claim(app: &TestApp, token: &str) -> u16 {
    reqwest::Client::new()
        .post(app.at("/api/runner/v1/claim"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

fn token_in(html: &str) -> Option<String> {
    let start = html.find("CCIRUN_")?;
    Some(html[start..start + 70].to_owned())
}

both_backends! {
    setup = TestApp::spawn;
    async fn site_admins_create_see_and_revoke_runner_tokens(app) {
        app.user("root", true).await;
        app.user("bob", false).await;
        let root = app.logged_in("root").await;
        let page = root.get(app.at("/admin/runners")).send().await.unwrap();
        assert_eq!(page.status(), 200);
        assert!(page.text().await.unwrap().contains("There are no runners"));

        let made = app
            .post_form(&root, "/admin/runners", "/admin/runners", &[("name", "build-box-1")])
            .await;
        assert_eq!(made.status(), 201);
        assert_eq!(made.headers()["cache-control"], "no-store");
        let html = made.text().await.unwrap();
        let token = token_in(&html).expect("the page shows the new token");
        assert!(html.contains(&format!("CIRCLET_RUNNER_TOKEN={token} circlet runner --server {}", app.url)));
        assert_eq!(claim(&app, &token).await, 204, "the token works at once");

        // Use is written in batches; write this one now.
        app.state.app.usage.flush(&app.state.app).await;
        let again = root.get(app.at("/admin/runners")).send().await.unwrap().text().await.unwrap();
        assert!(again.contains("build-box-1"));
        assert!(!again.contains(&token), "shown once only");
        assert!(!again.contains("Never"), "last seen is recorded after use");

        let record = app
            .store
            .tokens()
            .inventory()
            .await
            .unwrap()
            .into_iter()
            .find(|e| e.token.name == "build-box-1")
            .unwrap()
            .token;
        let path = format!("/admin/runners/{}/revoke", record.uuid);
        let revoked = app.post_form(&root, "/admin/runners", &path, &[]).await;
        assert!(revoked.status().is_success() || revoked.status().is_redirection());
        assert_eq!(claim(&app, &token).await, 401, "refused from its next request");

        let bad = app.post_form(&root, "/admin/runners", "/admin/runners", &[("name", "  ")]).await;
        assert_eq!(bad.status(), 400);

        let bob = app.logged_in("bob").await;
        assert_eq!(bob.get(app.at("/admin/runners")).send().await.unwrap().status(), 403);
    }
}
