//! Token use, gathered in memory and written in batches: "last used" without a write per request.
//!
//! Every authenticated request notes its token here; a background task ([`flush_every`]) writes
//! the batch at most once per interval, so a token costs at most one write per interval however
//! busy it is. Failed authentications are aggregated per address the same way and written as one
//! audit entry per address per interval.

use crate::App;
use circlet_store::{NewAuditEntry, UsageUpdate};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use time::OffsetDateTime;

#[derive(Default)]
struct Pending {
    tokens: HashMap<i64, UsageUpdate>,
    failures: HashMap<IpAddr, u64>,
    expired: HashMap<i64, (uuid::Uuid, Option<i64>, Option<i64>, String)>,
}

/// Token use and failed authentications waiting to be written.
#[derive(Default)]
pub struct UsageRecorder(Mutex<Pending>);

impl UsageRecorder {
    /// Notes that token `token_id` authenticated a request from `addr`.
    pub fn note_use(&self, token_id: i64, addr: Option<IpAddr>) {
        let mut p = self.0.lock().expect("usage lock");
        let u = p.tokens.entry(token_id).or_insert_with(|| UsageUpdate {
            token_id,
            ..Default::default()
        });
        u.at = Some(OffsetDateTime::now_utc());
        if let Some(a) = addr.map(|a| a.to_string()) {
            // The common case, the same address as last time, changes nothing.
            if u.addresses.first() == Some(&a) {
                return;
            }
            u.addresses.retain(|x| *x != a);
            u.addresses.insert(0, a);
            u.addresses
                .truncate(circlet_store::tokens::REMEMBERED_ADDRESSES);
        }
    }

    /// Notes what kind of request token `token_id` made (`status`, `builds`, `me`, …).
    pub fn note_kind(&self, token_id: i64, kind: &str) {
        self.note(token_id, kind, None);
    }

    /// Notes what kind of request personal token `token_id` made on project `project_id`: one
    /// lock for both, since every project request of a personal token notes both.
    pub fn note_kind_on(&self, token_id: i64, kind: &str, project_id: i64) {
        self.note(token_id, kind, Some(project_id));
    }

    fn note(&self, token_id: i64, kind: &str, project_id: Option<i64>) {
        let mut p = self.0.lock().expect("usage lock");
        let u = p.tokens.entry(token_id).or_insert_with(|| UsageUpdate {
            token_id,
            ..Default::default()
        });
        // A flush can fall between a request's authentication (`note_use`) and its handler's
        // `note_kind`; the store skips entries without a time, so the kind brings its own.
        u.at.get_or_insert_with(OffsetDateTime::now_utc);
        match u.kinds.iter_mut().find(|(k, _)| k == kind) {
            Some((_, n)) => *n += 1,
            None => u.kinds.push((kind.to_owned(), 1)),
        }
        // A handful of projects per token and interval: a scan beats a set.
        if let Some(id) = project_id
            && !u.projects.contains(&id)
        {
            u.projects.push(id);
        }
    }

    /// Notes a failed authentication from `addr`.
    pub fn note_failure(&self, addr: Option<IpAddr>) {
        if let Some(a) = addr {
            *self
                .0
                .lock()
                .expect("usage lock")
                .failures
                .entry(a)
                .or_default() += 1;
        }
    }

    /// Notes a use of an expired token (audited once per token per interval).
    pub fn note_expired(&self, token: &circlet_store::TokenRecord, addr: Option<IpAddr>) {
        let entry = (
            token.uuid,
            token.user_id,
            token.project_id,
            addr.map(|a| a.to_string()).unwrap_or_default(),
        );
        self.0
            .lock()
            .expect("usage lock")
            .expired
            .insert(token.id, entry);
    }

    /// Writes everything gathered so far.
    pub async fn flush(&self, app: &App) {
        let pending = std::mem::take(&mut *self.0.lock().expect("usage lock"));
        let batch: Vec<UsageUpdate> = pending.tokens.into_values().collect();
        if !batch.is_empty()
            && let Err(e) = app.store.tokens().record_usage(&batch).await
        {
            tracing::warn!("could not record token use: {e}");
        }
        for (addr, n) in pending.failures {
            let entry = NewAuditEntry {
                event: "auth.failed".into(),
                address: addr.to_string(),
                detail: format!("{n} failed authentication{}", if n == 1 { "" } else { "s" }),
                ..Default::default()
            };
            if let Err(e) = app.store.audit().append(&entry).await {
                tracing::warn!("could not record failed authentications: {e}");
            }
        }
        for (uuid, owner_id, project_id, address) in pending.expired.into_values() {
            let entry = NewAuditEntry {
                event: "token.expired_use".into(),
                owner_id,
                project_id,
                token_uuid: Some(uuid),
                address,
                ..Default::default()
            };
            if let Err(e) = app.store.audit().append(&entry).await {
                tracing::warn!("could not record an expired token's use: {e}");
            }
        }
    }
}

/// Flushes `app.usage` every `usage_flush_interval` until the server stops.
pub async fn flush_every(app: App) {
    let mut tick = tokio::time::interval(app.config.usage_flush_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        app.usage.flush(&app).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kind_noted_just_after_a_flush_is_not_lost() {
        let usage = UsageRecorder::default();
        usage.note_use(1, None);
        // What a flush takes, between the request's authentication and its handler.
        let taken = std::mem::take(&mut *usage.0.lock().unwrap());
        assert!(taken.tokens[&1].at.is_some());
        usage.note_kind(1, "me");
        let pending = usage.0.lock().unwrap();
        let left = &pending.tokens[&1];
        assert!(left.at.is_some(), "the store skips entries without a time");
        assert_eq!(left.kinds, [("me".to_owned(), 1)]);
    }

    #[test]
    fn projects_are_noted_once_each_per_interval() {
        let usage = UsageRecorder::default();
        for project in [3, 4, 3, 3] {
            usage.note_kind_on(1, "builds", project);
        }
        usage.note_kind(1, "me");
        let pending = usage.0.lock().unwrap();
        assert_eq!(pending.tokens[&1].projects, [3, 4]);
        assert_eq!(
            pending.tokens[&1].kinds,
            [("builds".to_owned(), 4), ("me".to_owned(), 1)]
        );
    }
}
