//! The leak guard: a circlet token that shows up in a job's output, in a build or pipeline
//! parameter or in a step's name or command is revoked on the spot (by the path secret
//! scanners' reports take too, `crate::tokens::leaked`), its owner (or the project's admins)
//! learn of it from the audit log and a banner, and what is stored shows it masked. Only
//! strings with a token's shape *and* checksum count, so ordinary text costs a substring search
//! and nothing else.

use crate::App;
use crate::AppError;
use crate::tokens::leaked::{self, Sighting};
use circlet_core::token;
use circlet_store::{NewAuditEntry, Project};

/// What masked secrets look like in stored output.
pub const MASK: &str = circlet_core::mask::MASK;

/// The audit event of a token revoked because a job printed it (or a scanner reported it).
pub use crate::tokens::leaked::LEAKED;

/// Where a token was found: said in the audit entry and the owner's banner.
#[derive(Debug, Clone, Copy)]
pub enum Place {
    /// In the output of build (job) `n`.
    Output(i64),
    /// In the name or command of a step of build `n`.
    Step(i64),
    /// In a build or pipeline parameter of pipeline `n`.
    Parameter(i64),
}

impl Place {
    fn describe(self) -> String {
        match self {
            Place::Output(n) => format!("was printed in the output of build #{n}"),
            Place::Step(n) => format!("was in a step's name or command in build #{n}"),
            Place::Parameter(n) => format!("was passed as a parameter of pipeline #{n}"),
        }
    }
}

/// `text` with every circlet token masked; every live one among them is revoked and audited as
/// found at `place`.
pub async fn scrub(
    app: &App,
    project: &Project,
    place: Place,
    text: &str,
) -> Result<String, AppError> {
    Ok(scrub_after(app, project, place, None, text).await?.1)
}

/// Like [`scrub`] for the next piece of a stream: `before` is the previous piece as stored, so
/// a token split between the two is still found. Returns the previous piece re-masked when a
/// token began in it (`None` when it needs no change) and this piece masked. Continuation keys
/// are masked and forgotten too (a job's own is masked by its runner before it gets here).
pub async fn scrub_after(
    app: &App,
    project: &Project,
    place: Place,
    before: Option<&str>,
    text: &str,
) -> Result<(Option<String>, String), AppError> {
    let (before, text) = scrub_tokens_after(app, project, place, before, text).await?;
    Ok((before, continuation_keys(app, project, place, text).await?))
}

/// The audit event of a continuation key forgotten because it showed up where it should not.
pub const KEY_LEAKED: &str = "continuation_key.leaked";

/// `text` with every continuation key masked; each live one is forgotten (its pipeline can no
/// longer be continued with it) and audited as found at `place`.
async fn continuation_keys(
    app: &App,
    project: &Project,
    place: Place,
    text: String,
) -> Result<String, AppError> {
    use super::job_env::{CONTINUATION_KEY_PREFIX as PREFIX, continuation_digest};
    if !text.contains(PREFIX) {
        return Ok(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while let Some(at) = rest.find(PREFIX) {
        let after = &rest[at + PREFIX.len()..];
        let digits = after.bytes().take_while(u8::is_ascii_hexdigit).count();
        if digits != 64 {
            out.push_str(&rest[..at + PREFIX.len()]);
            rest = after;
            continue;
        }
        let key = &rest[at..at + PREFIX.len() + 64];
        out.push_str(&rest[..at]);
        out.push_str(MASK);
        if app
            .store
            .builds()
            .revoke_continuation_key(&continuation_digest(key))
            .await?
        {
            let how = place.describe();
            tracing::warn!(project = %project.slug, "forgot a continuation key that {how}");
            let entry = NewAuditEntry {
                event: KEY_LEAKED.into(),
                actor_login: "leak-guard".into(),
                project_id: Some(project.id),
                address: String::new(),
                detail: format!(
                    "a continuation key {how} of {} and can no longer continue its pipeline",
                    project.slug
                ),
                ..Default::default()
            };
            app.store.audit().append(&entry).await?;
        }
        rest = &after[64..];
    }
    out.push_str(rest);
    Ok(out)
}

/// [`scrub_after`] for circlet's tokens.
async fn scrub_tokens_after(
    app: &App,
    project: &Project,
    place: Place,
    before: Option<&str>,
    text: &str,
) -> Result<(Option<String>, String), AppError> {
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
        revoke(app, project, place, checked).await?;
    }
    out.push_str(&text[last..]);
    Ok((new_before, out))
}

async fn revoke(
    app: &App,
    project: &Project,
    place: Place,
    checked: &token::CheckedToken,
) -> Result<(), AppError> {
    let sighting = Sighting {
        finder: "leak-guard",
        whereabouts: format!("{} of {}", place.describe(), project.slug),
        project_id: Some(project.id),
        address: String::new(),
    };
    leaked::revoke(app, checked, &sighting).await?;
    Ok(())
}
