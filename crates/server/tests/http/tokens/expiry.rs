//! `Circlet-Token-Expiration` (issue 16): every response to a request an expiring token
//! authenticated says when it expires, whatever the response's status and wherever the token
//! is presented; a token without an expiry, a session or no credential sends none.

use super::get_with;
use crate::app::TestApp;
use circlet_core::scope::ProjectScope;
use circlet_store::BackendKind;
use time::OffsetDateTime;

#[tokio::test]
async fn responses_to_expiring_tokens_say_when_they_expire() {
    let app = TestApp::spawn(BackendKind::Sqlite).await;
    let owner = app.user("owner", false).await;
    let project = app.project(&owner, "gh/acme/widgets", false).await;
    let expires = time::macros::datetime!(2031-01-31 12:00:00 UTC);
    let (expiring, _) = app.personal_token_expiring(&owner, Some(expires)).await;
    let forever = app.personal_token(&owner).await;
    let header = |r: &super::Reply| {
        r.headers
            .get("circlet-token-expiration")
            .map(|v| v.to_str().unwrap().to_owned())
    };

    let me = get_with(&app, &expiring, "/api/v2/me").await;
    assert_eq!(me.status, 200);
    assert_eq!(header(&me).as_deref(), Some("2031-01-31 12:00:00 UTC"));
    // Authenticated, then refused or not found: the header still says it.
    let missing = get_with(&app, &expiring, "/api/v2/project/gh/acme/nothing").await;
    assert_eq!(missing.status, 404);
    assert_eq!(header(&missing).as_deref(), Some("2031-01-31 12:00:00 UTC"));
    // In the query string too (a badge URL, say).
    let r = reqwest::get(app.at(&format!("/api/v2/me?circle-token={expiring}")))
        .await
        .unwrap();
    assert_eq!(
        r.headers()
            .get("circlet-token-expiration")
            .map(|v| v.to_str().unwrap()),
        Some("2031-01-31 12:00:00 UTC")
    );

    assert_eq!(header(&get_with(&app, &forever, "/api/v2/me").await), None);
    let project_token = app.project_token(&project, ProjectScope::All).await;
    let builds = get_with(&app, &project_token, "/api/v1.1/project/gh/acme/widgets").await;
    assert_eq!(builds.status, 200);
    assert_eq!(header(&builds), None, "no expiry, no header");
    let anonymous = reqwest::get(app.at("/api/v2/me")).await.unwrap();
    assert_eq!(anonymous.status(), 401);
    assert!(
        anonymous
            .headers()
            .get("circlet-token-expiration")
            .is_none()
    );

    // An expired token is not authenticated: refused, and no header.
    let past = OffsetDateTime::now_utc() - time::Duration::days(1);
    let (expired, _) = app.personal_token_expiring(&owner, Some(past)).await;
    let refused = get_with(&app, &expired, "/api/v2/me").await;
    assert_eq!(refused.status, 401);
    assert_eq!(header(&refused), None);
}
