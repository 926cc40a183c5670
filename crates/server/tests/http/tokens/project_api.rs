//! The v1.1 project token API as CircleCI's own UI calls it, and rights computed per request.

use super::{DENIED, INVALID, NO_PROJECT, Reply, get_with, send};
use crate::app::TestApp;
use circlet_core::Login;
use circlet_core::Role;
use circlet_core::scope::ProjectScope;
use circlet_testkit::both_backends;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

const BASE: &str = "/api/v1.1/project/gh/acme/widgets/token";
const IMMUTABLE: &str = "API tokens cannot be modified. Delete the token and create a new one.";

/// Checks one token object of the API and returns its id.
#[track_caller]
fn check_shape(t: &Value, with_value: bool) -> String {
    let mut keys: Vec<&str> = t
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "expires_at",
            "id",
            "label",
            "last_used_at",
            "scope",
            "time",
            "token"
        ],
        "{t}"
    );
    let id = t["id"].as_str().expect("id is a string");
    assert!(uuid::Uuid::parse_str(id).is_ok(), "{t}");
    assert!(t["label"].as_str().is_some_and(|l| !l.is_empty()), "{t}");
    assert!(
        ["status", "view-builds", "all"].contains(&t["scope"].as_str().unwrap_or_default()),
        "{t}"
    );
    let time = t["time"].as_str().expect("time is a string, never null");
    assert!(
        OffsetDateTime::parse(time, &Rfc3339).is_ok(),
        "time {time:?} is not RFC 3339"
    );
    for field in ["last_used_at", "expires_at"] {
        assert!(
            t[field].is_null()
                || OffsetDateTime::parse(t[field].as_str().unwrap_or(""), &Rfc3339).is_ok(),
            "{field} is neither null nor RFC 3339: {t}"
        );
    }
    if with_value {
        assert!(
            t["token"]
                .as_str()
                .is_some_and(|v| v.starts_with("CCIPRJ_")),
            "{t}"
        );
    } else {
        assert!(t["token"].is_null(), "a list never shows a value: {t}");
    }
    id.to_owned()
}

both_backends! {
    setup = TestApp::spawn;
    async fn the_project_token_api(app) {
        let ada = app.user("ada", false).await;
        app.project(&ada, "gh/acme/widgets", false).await;
        let other = app.project(&ada, "gh/acme/other", false).await;
        let admin = app.personal_token(&ada).await;
        let c = reqwest::Client::new();
        let url = app.at(BASE);
        let list = || async { send(c.get(&url).header("Circle-Token", &admin)).await };
        let r = list().await;
        assert_eq!((r.status, &r.body), (200, &json!([])));

        // Create, as JSON and as a form; the value comes back once, never cached.
        let in_30_days = (OffsetDateTime::now_utc() + time::Duration::days(30)).replace_nanosecond(0).unwrap();
        let mut created = Vec::new();
        let json_bodies = [
            json!({"scope": "view-builds", "label": "artifact fetcher"}),
            json!({"scope": "all", "label": "short-lived", "expires_at": in_30_days.format(&Rfc3339).unwrap()}),
            json!({"scope": "status", "label": "x".repeat(100)}),
            json!({"scope": "status", "label": "  trimmed\t", "expires_at": null, "unknown": "ignored"}),
        ];
        for body in &json_bodies {
            let r = send(c.post(&url).header("Circle-Token", &admin).json(body)).await;
            assert_eq!(r.status, 201, "{body}: {}", r.text);
            assert_eq!(r.headers.get("cache-control").map(|v| v.to_str().unwrap()), Some("no-store"));
            check_shape(&r.body, true);
            assert_eq!(&r.body["scope"], &body["scope"]);
            assert_eq!(r.body["label"].as_str(), body["label"].as_str().map(str::trim));
            created.push(r.body);
        }
        assert_eq!(created[1]["expires_at"].as_str().map(|t| OffsetDateTime::parse(t, &Rfc3339).unwrap()), Some(in_30_days));
        let forms: [&[(&str, &str)]; 2] = [
            &[("scope", "status"), ("label", "badge")],
            &[("scope", "all"), ("label", "form with expiry"), ("expires_at", "2099-01-01T00:00:00Z")],
        ];
        for form in forms {
            let r = send(c.post(&url).header("Circle-Token", &admin).form(form)).await;
            assert_eq!(r.status, 201, "{form:?}: {}", r.text);
            assert_eq!(r.headers.get("cache-control").map(|v| v.to_str().unwrap()), Some("no-store"));
            check_shape(&r.body, true);
            assert_eq!(r.body["label"], form[1].1);
            created.push(r.body);
        }
        assert_eq!(created[5]["expires_at"], "2099-01-01T00:00:00Z");
        let values: Vec<String> = created.iter().map(|t| t["token"].as_str().unwrap().to_owned()).collect();
        // The values work as what they are: project tokens of this project (403 here, not 404).
        for v in &values {
            get_with(&app, v, BASE).await.is(403, DENIED);
        }

        // The list: every token, the same shape, newest first, and no value anywhere in it.
        let r = list().await;
        r.status_is(200);
        let listed = r.body.as_array().unwrap();
        assert_eq!(listed.len(), created.len());
        let listed_ids: Vec<String> = listed.iter().map(|t| check_shape(t, false)).collect();
        let mut created_ids: Vec<String> = created.iter().map(|t| t["id"].as_str().unwrap().to_owned()).collect();
        created_ids.reverse();
        assert_eq!(listed_ids, created_ids, "newest first");
        for v in &values {
            assert!(!r.text.contains(v.as_str()), "the list shows a token value");
            assert!(!r.text.contains(&v[7..29]), "the list shows part of a token value");
        }

        // Bad input: 400 naming the field, and nothing created.
        let past = (OffsetDateTime::now_utc() - time::Duration::hours(1)).format(&Rfc3339).unwrap();
        let bad = [
            (json!({"scope": "admin", "label": "x"}), "scope"),
            (json!({"scope": "", "label": "x"}), "scope"),
            (json!({"label": "x"}), "scope"),
            (json!({"scope": "all", "label": ""}), "label"),
            (json!({"scope": "all", "label": "   "}), "label"),
            (json!({"scope": "all"}), "label"),
            (json!({"scope": "all", "label": "x".repeat(101)}), "label"),
            (json!({"scope": "all", "label": "a\u{7}b"}), "label"),
            (json!({"scope": "all", "label": "x", "expires_at": past}), "expires_at"),
            (json!({"scope": "all", "label": "x", "expires_at": "tomorrow"}), "expires_at"),
            // The last second of 9999 west of UTC is past what the calendar holds in UTC.
            (json!({"scope": "all", "label": "x", "expires_at": "9999-12-31T23:59:59-10:00"}), "expires_at"),
            (json!({"scope": 7, "label": "x"}), "scope"),
        ];
        for body in ["[]", "\"all\"", "{\"scope\": \"all\", \"label\": "] {
            let r = send(c.post(&url).header("Circle-Token", &admin).header("content-type", "application/json").body(body)).await;
            assert_eq!(r.status, 400, "{body}: {}", r.text);
        }
        for (body, field) in &bad {
            let r = send(c.post(&url).header("Circle-Token", &admin).json(body)).await;
            assert_eq!(r.status, 400, "{body}: {}", r.text);
            assert!(r.message().contains(field), "{body}: the message should name {field}: {}", r.text);
        }
        let bad_forms: [(&[(&str, &str)], &str); 5] = [
            (&[("scope", "bogus"), ("label", "x")], "scope"),
            (&[("label", "x")], "scope"),
            (&[("scope", "all"), ("label", "")], "label"),
            (&[("scope", "all"), ("label", "x"), ("expires_at", "next week")], "expires_at"),
            (&[("scope", "all"), ("label", "x"), ("expires_at", "2001-01-01T00:00:00Z")], "expires_at"),
        ];
        for (form, field) in bad_forms {
            let r = send(c.post(&url).header("Circle-Token", &admin).form(form)).await;
            assert_eq!(r.status, 400, "{form:?}: {}", r.text);
            assert!(r.message().contains(field), "{form:?}: the message should name {field}: {}", r.text);
        }
        assert_eq!(list().await.body.as_array().unwrap().len(), created.len(), "no failed request created a token");

        // Tokens cannot be modified.
        let one = format!("{url}/{}", created_ids[0]);
        for target in [&url, &one] {
            for method in [reqwest::Method::PUT, reqwest::Method::PATCH] {
                let r = send(c.request(method.clone(), target.as_str()).header("Circle-Token", &admin).json(&json!({"label": "renamed"}))).await;
                assert_eq!((r.status, &r.body), (405, &json!({"message": IMMUTABLE})), "{method} {target}");
            }
        }

        // Delete by id and by value; each is gone at once.
        let ok = json!({"message": "ok"});
        let by_id = &created[0];
        let r = send(c.delete(format!("{url}/{}", by_id["id"].as_str().unwrap())).header("Circle-Token", &admin)).await;
        assert_eq!((r.status, &r.body), (200, &ok));
        get_with(&app, &values[0], BASE).await.is(401, INVALID);
        let r = send(c.delete(format!("{url}/{}", values[1])).header("Circle-Token", &admin)).await;
        assert_eq!((r.status, &r.body), (200, &ok));
        get_with(&app, &values[1], BASE).await.is(401, INVALID);
        let r = send(c.delete(format!("{url}/{}", by_id["id"].as_str().unwrap())).header("Circle-Token", &admin)).await;
        assert_eq!(r.status, 404, "deleting twice: {}", r.text);
        let remaining: Vec<String> = list().await.body.as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap().to_owned()).collect();
        assert_eq!(remaining.len(), created.len() - 2);
        assert!(!remaining.contains(&by_id["id"].as_str().unwrap().to_owned()));

        // Another project's token, a personal token, nonsense: not found here, and untouched.
        let (_, foreign) = app.project_token_record(&other, ProjectScope::All).await;
        let (_, personal) = app.personal_token_expiring(&ada, None).await;
        for (what, id) in [("another project's token", foreign.uuid.to_string()), ("a personal token", personal.uuid.to_string()),
                           ("a made-up id", uuid::Uuid::new_v4().to_string()), ("nonsense", "not-a-token".to_owned())] {
            let r = send(c.delete(format!("{url}/{id}")).header("Circle-Token", &admin)).await;
            assert_eq!(r.status, 404, "{what}: {}", r.text);
        }
        assert!(app.store.tokens().by_uuid(foreign.uuid).await.unwrap().is_some());
        assert!(app.store.tokens().by_uuid(personal.uuid).await.unwrap().is_some());

        // An empty expiry field, as an HTML form sends when none is chosen, means no expiry.
        let r = send(c.post(&url).header("Circle-Token", &admin).form(&[("scope", "all"), ("label", "x"), ("expires_at", "")])).await;
        assert_eq!(r.status, 201, "{}", r.text);
        assert_eq!(r.body["expires_at"], serde_json::Value::Null, "{}", r.text);
    }

    async fn a_browser_session_creates_project_tokens_only_with_json(app) {
        let ada = app.user("ada", false).await;
        let project = app.project(&ada, "gh/acme/widgets", false).await;
        let b = app.logged_in("ada").await;
        let url = app.at(BASE);
        // What a page on another site can make a browser send, the session cookie riding along.
        // A form is read, but the session does not count for it (404 as for a stranger); the
        // other kinds are not bodies the API reads at all (415).
        let forged = [
            (b.post(&url).form(&[("scope", "all"), ("label", "forged")]), 404),
            (b.post(&url).header("content-type", "text/plain").body(r#"{"scope": "all", "label": "forged"}"#), 415),
            (b.post(&url).header("content-type", "multipart/form-data; boundary=x").body("--x--"), 415),
        ];
        for (request, status) in forged {
            let r = send(request).await;
            assert_eq!(r.status, status, "{}", r.text);
        }
        assert!(app.store.tokens().list_project(project.id).await.unwrap().is_empty());
        // JSON needs a CORS preflight, which circlet never grants: the session counts.
        let r = send(b.post(&url).json(&json!({"scope": "status", "label": "from the browser"}))).await;
        assert_eq!(r.status, 201, "{}", r.text);
        send(b.get(&url)).await.status_is(200);
    }

    async fn rights_are_computed_on_every_request(app) {
        let owner = app.user("olaf", false).await;
        let ada = app.user("ada", false).await;
        let project = app.project(&owner, "gh/acme/widgets", false).await;
        let projects = app.store.projects();
        projects.set_member(project.id, ada.id, Role::Admin).await.unwrap();
        let token = app.personal_token(&ada).await;
        let list = || get_with(&app, &token, BASE);
        list().await.status_is(200);
        // Asked again, the project and the role come from memory; every change below still
        // shows on the very next request.
        list().await.status_is(200);
        assert!(!app.state.app.projects.is_empty(), "the project and role are remembered");

        projects.set_member(project.id, ada.id, Role::Read).await.unwrap();
        list().await.is(403, DENIED);
        projects.set_member(project.id, ada.id, Role::Write).await.unwrap();
        list().await.is(403, DENIED);
        projects.set_member(project.id, ada.id, Role::Admin).await.unwrap();
        list().await.status_is(200);
        projects.remove_member(project.id, ada.id).await.unwrap();
        list().await.is(404, NO_PROJECT);
        projects.set_member(project.id, ada.id, Role::Admin).await.unwrap();
        list().await.status_is(200);

        let login = Login::parse("ada").unwrap();
        app.store.users().set_disabled(&login, true).await.unwrap();
        list().await.is(401, INVALID);
        get_with(&app, &token, "/api/v2/me").await.is(401, INVALID);
        app.store.users().set_disabled(&login, false).await.unwrap();
        list().await.status_is(200);
        let r: Reply = get_with(&app, &token, "/api/v2/me").await;
        assert_eq!(r.body["login"], "ada");
    }
}
