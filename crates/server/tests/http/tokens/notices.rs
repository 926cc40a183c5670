//! Expiry you can't miss: the notice sweep (its clock turned by the test, never waited for)
//! tells a token's owners 7 days and 1 day before it expires, once each, on their dashboard
//! (dismissable, newest first) and by email to a real SMTP server on loopback (`aiosmtpd`); a
//! failed email is tried again at the next sweep; every token list marks a token without
//! expiry, with when it was last used.

use crate::app::TestApp;
use circlet_app::notices::mail::{MailSettings, Mailer};
use circlet_core::Role;
use circlet_core::notice::{MailState, NoticeKind};
use circlet_core::scope::ProjectScope;
use circlet_store::{BackendKind, NoticeRecord, User};
use circlet_testkit::{SmtpSink, both_backends, csrf_in, free_port};
use std::sync::Arc;
use time::{Duration, OffsetDateTime};

/// Emails go to the SMTP server at `url`.
fn mailing_to(url: String) -> impl FnOnce(&mut crate::app::Config) {
    move |c| {
        let settings = MailSettings {
            smtp_url: url.into(),
            from: "circlet <ci@example.test>".into(),
        };
        c.app.mailer = Some(Arc::new(Mailer::new(&settings).unwrap()));
    }
}

/// The dashboard of `browser`, and its notices' kinds in order.
async fn dashboard(app: &TestApp, browser: &reqwest::Client) -> (String, Vec<String>) {
    let r = browser.get(app.at("/")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    let kinds = html
        .split("data-kind=\"")
        .skip(1)
        .map(|s| s.split('"').next().unwrap().to_owned())
        .collect();
    (html, kinds)
}

/// Every notice of `user`, as stored.
async fn notices_of(app: &TestApp, user: &User) -> Vec<NoticeRecord> {
    app.store.notices().unread(user.id, 100).await.unwrap()
}

/// A dismiss form's action on `html`, for the notice of `kind`.
fn dismiss_path(html: &str, kind: &str) -> String {
    let at = html
        .find(&format!("data-kind=\"{kind}\""))
        .unwrap_or_else(|| panic!("no {kind} notice: {html}"));
    let rest = &html[at..];
    let start = rest.find("action=\"").unwrap() + "action=\"".len();
    rest[start..].split('"').next().unwrap().to_owned()
}

both_backends!(
    notices_expiring_tokens_are_emailed_and_shown_once,
    notices_failed_emails_are_tried_again_at_the_next_sweep,
    notices_are_dismissed_from_the_dashboard_by_their_recipient_only,
    notices_every_token_list_marks_tokens_without_expiry,
);

async fn notices_expiring_tokens_are_emailed_and_shown_once(kind: BackendKind) {
    let sink = SmtpSink::start();
    let app = TestApp::spawn_with(kind, mailing_to(sink.url())).await;
    let ada = app.user("ada", false).await;
    let now = OffsetDateTime::now_utc();
    let (week, _) = app
        .personal_token_expiring(&ada, Some(now + Duration::days(6)))
        .await;
    let (day, _) = app
        .personal_token_expiring(&ada, Some(now + Duration::hours(20)))
        .await;
    let (later, _) = app
        .personal_token_expiring(&ada, Some(now + Duration::days(30)))
        .await;
    let (never, _) = app.personal_token_expiring(&ada, None).await;
    let values = [&week, &day, &later, &never];

    let swept = app.state.app.sweep_notices(now).await.unwrap();
    assert_eq!(
        (swept.made, swept.sent, swept.failed),
        (2, 2, 0),
        "{swept:?}"
    );
    let mails = sink.messages();
    assert_eq!(mails.len(), 2, "{mails:#?}");
    for m in &mails {
        assert_eq!(m.rcpt_to, "ada@example.test");
        assert_eq!(m.mail_from, "ci@example.test");
        assert!(m.from.contains("ci@example.test"), "{}", m.from);
        assert!(
            m.body.contains(&app.at("/account/tokens")),
            "the settings page: {}",
            m.body
        );
        assert!(
            m.subject.contains("personal API token 'ada test token'"),
            "{}",
            m.subject
        );
        for v in values {
            assert!(
                !m.raw.contains(v.as_str()) && !m.body.contains(v.as_str()),
                "a token value in {m:#?}"
            );
        }
    }
    let subjects: Vec<&str> = mails.iter().map(|m| m.subject.as_str()).collect();
    assert!(
        subjects.iter().any(|s| s.ends_with("expires in 6 days")),
        "{subjects:?}"
    );
    assert!(
        subjects.iter().any(|s| s.ends_with("expires in 20 hours")),
        "{subjects:?}"
    );
    assert!(mails.iter().any(|m| {
        m.body
            .contains("After that, requests made with it are refused")
    }));

    // The same sweep again, here or on another replica: nothing new is made or sent.
    let replica = app.replica().await;
    for a in [&app, &replica] {
        let swept = a
            .state
            .app
            .sweep_notices(now + Duration::minutes(10))
            .await
            .unwrap();
        assert_eq!((swept.made, swept.sent), (0, 0), "{swept:?}");
    }
    assert_eq!(sink.messages().len(), 2);

    // Five days on, the 6-day token is a day from expiry: one more notice and email; the
    // 20-hour token has expired and is told nothing more.
    let swept = app
        .state
        .app
        .sweep_notices(now + Duration::days(5) + Duration::hours(1))
        .await
        .unwrap();
    assert_eq!((swept.made, swept.sent), (1, 1), "{swept:?}");
    let mails = sink.messages();
    assert_eq!(mails.len(), 3);
    assert!(
        mails[2].subject.ends_with("expires in 23 hours"),
        "{}",
        mails[2].subject
    );
    let stored = notices_of(&app, &ada).await;
    assert_eq!(stored.len(), 3);
    assert!(
        stored
            .iter()
            .all(|n| n.mail_state == MailState::Sent && n.mail_attempts == 1),
        "{stored:#?}"
    );
}

async fn notices_failed_emails_are_tried_again_at_the_next_sweep(kind: BackendKind) {
    let port = free_port();
    let app = TestApp::spawn_with(kind, mailing_to(format!("smtp://127.0.0.1:{port}"))).await;
    let ada = app.user("ada", false).await;
    let now = OffsetDateTime::now_utc();
    app.personal_token_expiring(&ada, Some(now + Duration::days(3)))
        .await;
    // Nobody listens: the notice is made and shown; its email waits, and why is kept.
    let swept = app.state.app.sweep_notices(now).await.unwrap();
    assert_eq!(
        (swept.made, swept.sent, swept.failed),
        (1, 0, 1),
        "{swept:?}"
    );
    let stored = notices_of(&app, &ada).await;
    assert_eq!(stored[0].mail_state, MailState::Pending);
    assert!(!stored[0].mail_error.is_empty());
    let (_, kinds) = dashboard(&app, &app.logged_in("ada").await).await;
    assert_eq!(kinds, ["expires-7d"]);

    // The server is up by the next sweep: the email goes, once.
    let sink = SmtpSink::start_on(port);
    let swept = app
        .state
        .app
        .sweep_notices(now + Duration::minutes(10))
        .await
        .unwrap();
    assert_eq!(
        (swept.made, swept.sent, swept.failed),
        (0, 1, 0),
        "{swept:?}"
    );
    let swept = app
        .state
        .app
        .sweep_notices(now + Duration::minutes(20))
        .await
        .unwrap();
    assert_eq!(swept.sent, 0);
    let mails = sink.messages();
    assert_eq!(mails.len(), 1);
    assert!(
        mails[0].subject.ends_with("expires in 3 days"),
        "{}",
        mails[0].subject
    );
    let stored = notices_of(&app, &ada).await;
    assert_eq!(
        (stored[0].mail_state, stored[0].mail_attempts),
        (MailState::Sent, 2)
    );
}

async fn notices_are_dismissed_from_the_dashboard_by_their_recipient_only(kind: BackendKind) {
    let app = TestApp::spawn(kind).await;
    let ada = app.user("ada", false).await;
    let bob = app.user("bob", false).await;
    let carol = app.user("carol", false).await;
    let project = app.project(&ada, "gh/acme/widgets", false).await;
    app.store
        .projects()
        .set_member(project.id, bob.id, Role::Admin)
        .await
        .unwrap();
    app.store
        .projects()
        .set_member(project.id, carol.id, Role::Read)
        .await
        .unwrap();
    let now = OffsetDateTime::now_utc();
    app.personal_token_expiring(&ada, Some(now + Duration::days(6)))
        .await;
    let (_, project_token) = app.project_token_record(&project, ProjectScope::All).await;
    let runner = app.runner_token("r1").await;
    assert!(!runner.is_empty());
    // A project token expiring in a day: its project's admins hear of it.
    let expiring_project_token = {
        let name = circlet_core::token::TokenName::parse("deploy", "label").unwrap();
        let actor = circlet_app::tokens::Actor {
            user_id: None,
            login: "t".into(),
            address: String::new(),
        };
        circlet_app::tokens::issue_project(
            &app.store,
            &project,
            ProjectScope::Status,
            &name,
            Some(now + Duration::hours(10)),
            &actor,
        )
        .await
        .unwrap()
        .1
    };
    assert_eq!(project_token.expires_at, None);

    // No SMTP server: notices go to dashboards only.
    let swept = app.state.app.sweep_notices(now).await.unwrap();
    assert_eq!(
        (swept.made, swept.sent),
        (3, 0),
        "ada's own, and the project's to ada and bob: {swept:?}"
    );
    assert!(
        notices_of(&app, &ada)
            .await
            .iter()
            .all(|n| n.mail_state == MailState::Off)
    );
    assert!(
        notices_of(&app, &carol).await.is_empty(),
        "a reader is not told"
    );

    let b = app.logged_in("ada").await;
    let (html, kinds) = dashboard(&app, &b).await;
    assert!(html.contains("id=\"notices\""), "{html}");
    assert_eq!(kinds.len(), 2, "{kinds:?}");
    assert!(
        html.contains("project API token &#x27;deploy&#x27;")
            || html.contains("project API token &#39;deploy&#39;"),
        "{html}"
    );
    assert!(
        html.contains("of gh/acme/widgets expires in 10 hours"),
        "{html}"
    );
    assert!(
        html.contains("href=\"/projects/gh/acme/widgets/settings/api\""),
        "{html}"
    );
    assert!(html.contains("expires in 6 days"), "{html}");
    assert!(html.contains("href=\"/account/tokens\""));

    // Newest first: the project's notice was made after ada's own.
    let mine = notices_of(&app, &ada).await;
    assert_eq!(
        mine.iter().map(|n| n.kind).collect::<Vec<_>>(),
        kinds
            .iter()
            .map(|k| NoticeKind::parse(k).unwrap())
            .collect::<Vec<_>>()
    );

    // Dismissing needs the CSRF field, and only ada's own notices are hers to dismiss.
    let path = dismiss_path(&html, "expires-7d");
    let r = b
        .post(app.at(&path))
        .form(&[("x", "y")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let bobs = app.logged_in("bob").await;
    let (bob_html, bob_kinds) = dashboard(&app, &bobs).await;
    assert_eq!(bob_kinds, ["expires-1d"]);
    let csrf = csrf_in(&bob_html).unwrap();
    let r = bobs
        .post(app.at(&path))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "bob cannot dismiss ada's notice");
    let r = bobs
        .post(app.at("/notices/not-a-uuid/dismiss"))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert!(r.text().await.unwrap().contains("There is no such notice."));

    let csrf = csrf_in(&html).unwrap();
    let r = b
        .post(app.at(&path))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/");
    let (html, kinds) = dashboard(&app, &b).await;
    assert_eq!(kinds, ["expires-1d"], "{html}");
    let r = b
        .post(app.at(&path))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "dismissed already");
    // Bob's copy of the project's notice is his own.
    assert_eq!(dashboard(&app, &bobs).await.1, ["expires-1d"]);

    // A token deleted takes its expiry notices off the dashboard.
    circlet_app::tokens::delete(
        &app.store,
        &expiring_project_token,
        "token.deleted",
        &circlet_app::tokens::Actor {
            user_id: None,
            login: "t".into(),
            address: String::new(),
        },
    )
    .await
    .unwrap();
    let (html, kinds) = dashboard(&app, &b).await;
    assert!(
        kinds.is_empty() && !html.contains("id=\"notices\""),
        "{html}"
    );
}

async fn notices_every_token_list_marks_tokens_without_expiry(kind: BackendKind) {
    let app = TestApp::spawn(kind).await;
    let ada = app.user("ada", true).await;
    let project = app.project(&ada, "gh/acme/widgets", false).await;
    let now = OffsetDateTime::now_utc();
    let (_, expiring) = app
        .personal_token_expiring(&ada, Some(now + Duration::days(30)))
        .await;
    let (_, unused) = app.personal_token_expiring(&ada, None).await;
    let (_, project_token) = app.project_token_record(&project, ProjectScope::All).await;
    // Used once, and the use written.
    for t in [&unused, &project_token] {
        assert_eq!(t.expires_at, None);
    }
    app.state.app.usage.note_use(project_token.id, None);
    app.state.app.usage.flush(&app.state.app).await;
    let used_at = app
        .store
        .tokens()
        .by_uuid(project_token.uuid)
        .await
        .unwrap()
        .unwrap()
        .last_used_at
        .unwrap();
    let used_text = format!(
        "last used {}",
        used_at
            .format(&time::macros::format_description!(
                "[year]-[month]-[day] [hour]:[minute] UTC"
            ))
            .unwrap()
    );

    let b = app.logged_in("ada").await;
    let page = |path: &'static str| {
        let b = b.clone();
        let url = app.at(path);
        async move { b.get(url).send().await.unwrap().text().await.unwrap() }
    };
    let row = |html: &str, uuid: &uuid::Uuid| {
        let at = html
            .find(&uuid.to_string())
            .unwrap_or_else(|| panic!("{uuid} not listed: {html}"));
        let end = html[at..].find("</tr>").unwrap();
        html[at..at + end].to_owned()
    };

    let personal = page("/account/tokens").await;
    let r = row(&personal, &unused.uuid);
    assert!(
        r.contains("class=\"badge no-expiry\"")
            && r.contains(">no expiry<")
            && r.contains("never used"),
        "{r}"
    );
    let r = row(&personal, &expiring.uuid);
    assert!(!r.contains("no expiry"), "{r}");

    let project_page = page("/projects/gh/acme/widgets/settings/api").await;
    let r = row(&project_page, &project_token.uuid);
    assert!(r.contains(">no expiry<") && r.contains(&used_text), "{r}");

    let admin = page("/admin/tokens").await;
    for (t, note) in [
        (&unused, "never used"),
        (&project_token, used_text.as_str()),
    ] {
        let r = row(&admin, &t.uuid);
        assert!(r.contains(">no expiry<") && r.contains(note), "{r}");
    }
    assert!(!row(&admin, &expiring.uuid).contains("no expiry"));

    // The API's list keeps CircleCI's shape: no expiry is `expires_at: null`, beside
    // `last_used_at`.
    let token = app.personal_token(&ada).await;
    let list: serde_json::Value = reqwest::Client::new()
        .get(app.at("/api/v1.1/project/gh/acme/widgets/token"))
        .header("Circle-Token", token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let listed = list
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == project_token.uuid.to_string())
        .unwrap();
    assert!(listed["expires_at"].is_null(), "{listed}");
    assert!(listed["last_used_at"].is_string(), "{listed}");
}
