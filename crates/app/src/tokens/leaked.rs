//! Revoking a token found where it must not be: the one path the leak guard (a job's output,
//! parameters and steps, [`crate::builds::leak_guard`]) and secret scanners' leak reports
//! ([`super::leak_reports`]) share. The token is remembered as leaked, deleted, and its owner
//! told ([`tell_owner`]): the audit entry ([`LEAKED`]) that the owner's dashboard banner shows,
//! saying where it was found, and a notice on their dashboard and by email
//! ([`crate::notices`]).

use crate::{App, AppError};
use circlet_core::token::{CheckedToken, TokenKind};
use circlet_store::{NewAuditEntry, TokenRecord};

/// The audit event of a token revoked because it leaked; its `detail` is the banner's text.
pub const LEAKED: &str = "token.leaked";

/// Who found a token, and where.
#[derive(Debug, Clone)]
pub struct Sighting {
    /// Who found it, as the audit log's actor (`leak-guard`, `secret-scanning`).
    pub finder: &'static str,
    /// Where, completing "personal API token 'ci' (…1c9e) …": `was printed in the output of
    /// build #3 of gh/acme/widgets`.
    pub whereabouts: String,
    /// The project it was found in, if any: its admins are told too.
    pub project_id: Option<i64>,
    /// The address the finding came from (a scanner's request), or empty.
    pub address: String,
}

/// What became of a token reported as leaked.
#[derive(Debug, Clone)]
pub enum Revocation {
    /// It was live and is revoked now.
    Revoked(Box<TokenRecord>),
    /// No live token has that digest (never issued here, or gone already).
    NotLive,
}

/// Revokes the live token `checked` names, found as `sighting` says; nothing happens for a
/// digest no live token has.
pub async fn revoke(
    app: &App,
    checked: &CheckedToken,
    sighting: &Sighting,
) -> Result<Revocation, AppError> {
    let Some(record) = app.store.tokens().by_digest(&checked.digest).await? else {
        return Ok(Revocation::NotLive);
    };
    // Remembered before the delete: a failure between the two leaves the token live, to be
    // revoked by the next report, never gone without a trace of having leaked.
    app.store
        .leaks()
        .remember(&checked.digest, record.kind)
        .await?;
    let Some(record) = app.store.tokens().delete(record.uuid).await? else {
        return Ok(Revocation::NotLive);
    };
    let kind = match record.kind {
        TokenKind::Personal => "personal API token",
        TokenKind::Project => "project API token",
        TokenKind::Runner => "runner token",
    };
    let whereabouts = &sighting.whereabouts;
    tracing::warn!(
        token = %record.uuid,
        finder = sighting.finder,
        "revoked a {kind} that {whereabouts}"
    );
    let entry = NewAuditEntry {
        event: LEAKED.into(),
        actor_login: sighting.finder.into(),
        owner_id: record.user_id,
        project_id: record.project_id.or(sighting.project_id),
        token_uuid: Some(record.uuid),
        address: sighting.address.clone(),
        detail: format!(
            "{kind} '{}' (…{}) {whereabouts} and has been revoked",
            record.name, record.last4
        ),
        ..Default::default()
    };
    tell_owner(app, &record, &entry, whereabouts).await?;
    Ok(Revocation::Revoked(Box::new(record)))
}

/// Tells a leaked token's owner (and, for a project's token, the project's admins) what
/// happened: the audit entry, which the dashboard's leak banner shows for a week, and a notice
/// on their dashboards and by email ([`crate::notices`]).
async fn tell_owner(
    app: &App,
    record: &TokenRecord,
    entry: &NewAuditEntry,
    whereabouts: &str,
) -> Result<(), AppError> {
    app.store.audit().append(entry).await?;
    app.notice_revocation(record, whereabouts).await;
    Ok(())
}
