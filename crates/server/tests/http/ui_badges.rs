//! Project settings → Status Badges: admins get the image URL and the embed snippets for a
//! branch, style and token; "Create a Status token" makes a `status` token that the snippets
//! carry and that really fetches the badge.

use crate::app::TestApp;
use circlet_core::scope::ProjectScope;
use circlet_testkit::both_backends;

const TAB: &str = "/projects/gh/acme/widgets/settings/badges";

both_backends! {
    setup = TestApp::spawn;
    async fn the_badges_tab_makes_snippets_with_a_status_token(app) {
        let owner = app.user("owner", false).await;
        let reader = app.user("reader", false).await;
        let project = app.project(&owner, "gh/acme/widgets", false).await;
        app.store.projects().set_member(project.id, reader.id, circlet_core::Role::Read).await.unwrap();
        let browser = app.logged_in("owner").await;
        let page = browser.get(app.at(TAB)).send().await.unwrap();
        assert_eq!(page.status(), 200);
        assert!(page.text().await.unwrap().contains("Create a Status token"));

        // A private project needs a token; garbage is refused with a readable error.
        let none = app.post_form(&browser, TAB, TAB, &[("branch", "main"), ("style", "svg"), ("token", "")]).await;
        assert_eq!(none.status(), 400);
        let junk = app.post_form(&browser, TAB, TAB, &[("branch", "main"), ("style", "svg"), ("token", "hello")]).await;
        assert_eq!(junk.status(), 400);
        assert!(junk.text().await.unwrap().contains("not a circlet API token"));

        // Create one here: it is a Status token, shown once, and the snippets carry it.
        let made = app
            .post_form(&browser, TAB, TAB, &[("branch", "feature/x"), ("style", "shield"), ("token", ""), ("action", "create")])
            .await;
        assert_eq!(made.status(), 200);
        assert_eq!(made.headers()["cache-control"], "no-store");
        let html = made.text().await.unwrap();
        let start = html.find("CCIPRJ_").expect("the new token is shown");
        let token = &html[start..start + 70];
        let listed = app.store.tokens().list_project(project.id).await.unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].scope, Some(ProjectScope::Status));
        assert_eq!(listed[0].name, "Status badge");
        let image = format!("{}/gh/acme/widgets/tree/feature%2Fx.svg?style=shield&#38;circle-token={token}", app.url);
        assert!(html.contains(&image), "no image URL {image} in the page (HTML-escaped)");
        assert!(html.contains("[![CircleCI]("), "Markdown snippet");
        assert!(html.contains(".. image:: "), "reStructuredText snippet");
        assert!(html.contains("=for HTML"), "pod snippet");
        // The URL works: the badge answers with the token in it.
        let badge = reqwest::get(app.at(&format!("/gh/acme/widgets/tree/feature%2Fx.svg?style=shield&circle-token={token}"))).await.unwrap();
        assert_eq!(badge.status(), 200);
        assert_eq!(badge.headers()["content-type"], "image/svg+xml");

        // A pasted token must be a live Status token of this project.
        let all = app.project_token(&project, ProjectScope::All).await;
        let wide = app.post_form(&browser, TAB, TAB, &[("branch", "main"), ("style", "svg"), ("token", &all)]).await;
        assert_eq!(wide.status(), 400);
        assert!(wide.text().await.unwrap().contains("Status scope"));
        let personal = app.personal_token(&owner).await;
        let mine = app.post_form(&browser, TAB, TAB, &[("branch", "main"), ("style", "svg"), ("token", &personal)]).await;
        assert_eq!(mine.status(), 400);
        let pasted = app.post_form(&browser, TAB, TAB, &[("branch", "main"), ("style", "png"), ("token", token)]).await;
        assert_eq!(pasted.status(), 200);
        let html = pasted.text().await.unwrap();
        assert!(html.contains(&format!("{}/gh/acme/widgets.png?style=svg&#38;circle-token={token}", app.url)));

        // Readers may not use the tab.
        let reader_browser = app.logged_in("reader").await;
        assert_eq!(reader_browser.get(app.at(TAB)).send().await.unwrap().status(), 403);
    }
}
