//! The leak guard: a circlet token that shows up in a job's output is revoked on the spot, its
//! owner (or the project's admins) learn of it from the audit log and a banner, and the stored
//! output shows it masked. Only strings with a token's shape *and* checksum count, so ordinary
//! output costs a substring search and nothing else.

use crate::error::ApiError;
use crate::state::AppState;
use circlet_core::token::{self, TokenKind};
use circlet_store::{JobRecord, NewAuditEntry, Project};

/// What masked secrets look like in stored output.
pub const MASK: &str = "********";

/// The audit event of a token revoked because a job printed it.
pub const LEAKED: &str = "token.leaked";

/// `text` with every circlet token masked; every live one among them is revoked and audited.
pub async fn scrub(
    state: &AppState,
    project: &Project,
    job: &JobRecord,
    text: &str,
) -> Result<String, ApiError> {
    let found = token::find_in(text);
    if found.is_empty() {
        return Ok(text.to_owned());
    }
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for (range, checked) in &found {
        out.push_str(&text[last..range.start]);
        out.push_str(MASK);
        last = range.end;
        let Some(record) = state.store.tokens().by_digest(&checked.digest).await? else {
            continue;
        };
        if state.store.tokens().delete(record.uuid).await?.is_none() {
            continue;
        }
        let kind = match record.kind {
            TokenKind::Personal => "personal API token",
            TokenKind::Project => "project API token",
            TokenKind::Runner => "runner token",
        };
        tracing::warn!(
            token = %record.uuid,
            project = %project.slug,
            build_num = job.build_num,
            "revoked a {kind} printed in a job's output"
        );
        let entry = NewAuditEntry {
            event: LEAKED.into(),
            actor_login: "leak-guard".into(),
            owner_id: record.user_id,
            project_id: record.project_id.or(Some(project.id)),
            token_uuid: Some(record.uuid),
            address: String::new(),
            detail: format!(
                "{kind} '{}' (…{}) was printed in the output of build #{} of {} and has been revoked",
                record.name, record.last4, job.build_num, project.slug
            ),
            ..Default::default()
        };
        state.store.audit().append(&entry).await?;
    }
    out.push_str(&text[last..]);
    Ok(out)
}
