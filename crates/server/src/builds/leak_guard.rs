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
    Ok(scrub_after(state, project, job, None, text).await?.1)
}

/// Like [`scrub`] for the next piece of a stream: `before` is the previous piece as stored, so
/// a token split between the two is still found. Returns the previous piece re-masked when a
/// token began in it (`None` when it needs no change) and this piece masked.
pub async fn scrub_after(
    state: &AppState,
    project: &Project,
    job: &JobRecord,
    before: Option<&str>,
    text: &str,
) -> Result<(Option<String>, String), ApiError> {
    // Only the end of the previous piece can hold the start of a token.
    let before = before.unwrap_or("");
    let mut cut = before.len().saturating_sub(token::MAX_TOKEN_LEN - 1);
    while !before.is_char_boundary(cut) {
        cut += 1;
    }
    let tail = &before[cut..];
    let joined = format!("{tail}{text}");
    let found: Vec<_> = token::find_in(&joined)
        .into_iter()
        .filter(|(range, _)| range.end > tail.len())
        .collect();
    if found.is_empty() {
        return Ok((None, text.to_owned()));
    }
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    let mut new_before = None;
    for (range, checked) in &found {
        if range.start < tail.len() {
            // Began in the previous piece: mask it there, drop the rest here.
            new_before = Some(format!("{}{MASK}", &before[..cut + range.start]));
            last = range.end - tail.len();
        } else {
            out.push_str(&text[last..range.start - tail.len()]);
            out.push_str(MASK);
            last = range.end - tail.len();
        }
        revoke(state, project, job, checked).await?;
    }
    out.push_str(&text[last..]);
    Ok((new_before, out))
}

async fn revoke(
    state: &AppState,
    project: &Project,
    job: &JobRecord,
    checked: &token::CheckedToken,
) -> Result<(), ApiError> {
    let Some(record) = state.store.tokens().by_digest(&checked.digest).await? else {
        return Ok(());
    };
    if state.store.tokens().delete(record.uuid).await?.is_none() {
        return Ok(());
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
    Ok(())
}
