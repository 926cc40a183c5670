//! "Last used" without a write per request: use is gathered in memory and written in batches,
//! and failed authentications are written as one audit entry per address per batch.

use super::{INVALID, client_from, eventually, one_char_changed, send};
use crate::app::TestApp;
use circlet_core::scope::ProjectScope;
use circlet_store::{AuditEntry, AuditScope, Store, TokenRecord};
use circlet_testkit::both_backends;
use std::time::Duration;
use time::OffsetDateTime;

const BASE: &str = "/api/v1.1/project/gh/acme/widgets/token";

/// `kind → count` of a token's recorded use.
async fn usage_counts(store: &Store, token: &TokenRecord) -> Vec<(String, i64)> {
    let since = OffsetDateTime::now_utc() - time::Duration::days(1);
    let mut counts: Vec<(String, i64)> = store
        .tokens()
        .usage(token.id, since)
        .await
        .unwrap()
        .into_iter()
        .map(|u| (u.request_kind, u.count))
        .collect();
    counts.sort();
    counts
}

async fn failures(store: &Store) -> Vec<AuditEntry> {
    let mut entries = store.audit().list(AuditScope::All, 100).await.unwrap();
    entries.retain(|e| e.event == "auth.failed");
    entries.sort_by(|a, b| a.address.cmp(&b.address));
    entries
}

/// The count an `auth.failed` entry's detail states ("3 failed authentications").
fn failure_count(e: &AuditEntry) -> u64 {
    e.detail
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count in {:?}", e.detail))
}

mod tuned {
    use super::*;

    both_backends! {
        setup = TestApp::spawn_with;
        async fn last_used_is_written_in_the_background(app, |c| c.app.usage_flush_interval = Duration::from_millis(50)) {
            let ada = app.user("ada", false).await;
            let project = app.project(&ada, "gh/acme/widgets", false).await;
            let (token, record) = app.personal_token_expiring(&ada, None).await;
            let (project_token, project_record) = app.project_token_record(&project, ProjectScope::Status).await;
            assert_eq!((record.last_used_at, record.last_used_from.len()), (None, 0));
            let started = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
            let local = client_from([127, 0, 0, 1]);
            const N: i64 = 25;
            for _ in 0..N {
                send(local.get(app.at("/api/v2/me")).header("Circle-Token", &token)).await.status_is(200);
            }
            for _ in 0..3 {
                send(local.get(app.at(BASE)).header("Circle-Token", &token)).await.status_is(200);
            }
            // A refused request still counts as a use of the token (it authenticated), but not as
            // a kind of request it made.
            send(local.get(app.at(BASE)).header("Circle-Token", &project_token)).await.status_is(403);

            let (store, uuid) = (&app.store, record.uuid);
            let used = eventually("last used to be written", || async move {
                let t = store.tokens().by_uuid(uuid).await.unwrap().unwrap();
                if t.last_used_at.is_some() { Ok(t) } else { Err(format!("{t:?}")) }
            }).await;
            let at = used.last_used_at.unwrap();
            assert!(at >= started && at <= OffsetDateTime::now_utc(), "last used at {at}, started {started}");
            assert_eq!(used.last_used_from, ["127.0.0.1"]);
            let want = &vec![("me".to_owned(), N), ("project-tokens".to_owned(), 3)];
            let record_ref = &record;
            eventually("every request to be counted by kind", || async move {
                let counts = usage_counts(store, record_ref).await;
                if counts == *want { Ok(()) } else { Err(format!("{counts:?}")) }
            }).await;

            let (pid, project_uuid) = (&project_record, project_record.uuid);
            let project_used = eventually("the project token's use", || async move {
                let t = store.tokens().by_uuid(project_uuid).await.unwrap().unwrap();
                if t.last_used_at.is_some() { Ok(t) } else { Err(format!("{t:?}")) }
            }).await;
            assert_eq!(project_used.last_used_from, ["127.0.0.1"]);
            assert_eq!(usage_counts(store, pid).await, vec![]);

            // A use from another address goes first in the token's recent addresses.
            send(client_from([127, 0, 0, 2]).get(app.at("/api/v2/me")).header("Circle-Token", &token)).await.status_is(200);
            eventually("the second address", || async move {
                let t = store.tokens().by_uuid(uuid).await.unwrap().unwrap();
                if t.last_used_from == ["127.0.0.2", "127.0.0.1"] { Ok(()) } else { Err(format!("{t:?}")) }
            }).await;

            // Failures reach the audit log without anyone flushing by hand, aggregated per address.
            let forged = one_char_changed(&token, 40);
            for _ in 0..4 {
                send(local.get(app.at("/api/v2/me")).header("Circle-Token", &forged)).await.is(401, INVALID);
            }
            eventually("4 failures in the audit log", || async move {
                let entries = failures(store).await;
                assert!(entries.iter().all(|e| e.address == "127.0.0.1"), "{entries:?}");
                let n: u64 = entries.iter().map(failure_count).sum();
                if n == 4 { Ok(()) } else { Err(format!("{entries:?}")) }
            }).await;
        }

        async fn use_is_written_once_per_interval_off_the_request_path(app, |c| c.app.usage_flush_interval = Duration::from_secs(3600)) {
            let ada = app.user("ada", false).await;
            app.project(&ada, "gh/acme/widgets", false).await;
            let (token, record) = app.personal_token_expiring(&ada, None).await;
            let local = client_from([127, 0, 0, 1]);
            let elsewhere = client_from([127, 0, 0, 2]);
            const N: i64 = 40;
            for _ in 0..N {
                send(local.get(app.at("/api/v2/me")).header("Circle-Token", &token)).await.status_is(200);
            }
            send(local.get(app.at(BASE)).header("Circle-Token", &token)).await.status_is(200);
            let forged = one_char_changed(&token, 20);
            for _ in 0..7 {
                send(local.get(app.at("/api/v2/me")).header("Circle-Token", &forged)).await.is(401, INVALID);
            }
            for _ in 0..2 {
                send(elsewhere.get(app.at("/api/v2/me")).header("Authorization", "Basic %%%")).await.is(401, INVALID);
            }

            // Nothing was written while the requests were served.
            let now = app.store.tokens().by_uuid(record.uuid).await.unwrap().unwrap();
            assert_eq!((now.last_used_at, now.last_used_from.len()), (None, 0), "written on the request path");
            assert!(usage_counts(&app.store, &record).await.is_empty());
            assert!(failures(&app.store).await.is_empty(), "failures written on the request path");

            // One flush writes all of it: one update per token, one audit entry per address.
            app.state.app.usage.flush(&app.state.app).await;
            let now = app.store.tokens().by_uuid(record.uuid).await.unwrap().unwrap();
            assert!(now.last_used_at.is_some());
            assert_eq!(now.last_used_from, ["127.0.0.1"]);
            assert_eq!(usage_counts(&app.store, &record).await, vec![("me".to_owned(), N), ("project-tokens".to_owned(), 1)]);
            let entries = failures(&app.store).await;
            let summary: Vec<(&str, u64)> = entries.iter().map(|e| (e.address.as_str(), failure_count(e))).collect();
            assert_eq!(summary, [("127.0.0.1", 7), ("127.0.0.2", 2)], "{entries:?}");
            assert!(entries.iter().all(|e| e.token_uuid.is_none() && e.actor_id.is_none()));

            // An empty flush writes nothing more.
            app.state.app.usage.flush(&app.state.app).await;
            assert_eq!(failures(&app.store).await.len(), 2);
            assert_eq!(usage_counts(&app.store, &record).await, vec![("me".to_owned(), N), ("project-tokens".to_owned(), 1)]);
        }
    }
}
