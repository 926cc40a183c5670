//! Leak reports from secret scanners (GitHub's secret-scanning partner program format, see
//! [`circlet_core::leak_report`]): the signature is checked on the raw body against the keys
//! the admin configured ([`super::scanner_keys`]) before anything in it is read; a report is
//! handled once (a replay is refused and changes nothing); every live circlet token in it is
//! revoked through the leak guard's own path ([`super::leaked`]), so its owner sees where it
//! was found in the audit log and the dashboard's leak banner.
//!
//! Each reported string is answered with a label:
//! - `true_positive`: a token this instance issued, revoked now or revoked earlier because it
//!   leaked (a scanner finding it again, or in a second place, is still right);
//! - `false_positive`: anything else: the wrong shape or checksum, or a digest no token here
//!   has. A token its owner deleted before it was reported is not remembered and so answers
//!   `false_positive` too; it can do no harm any more.

use super::leaked::{self, Revocation, Sighting};
use crate::{App, AppError};
use circlet_core::leak_report::{self, Label, ReportedSecret};
use circlet_core::token;
use sha2::{Digest, Sha256};

/// What the endpoint answers while no scanner keys are configured.
pub const NOT_CONFIGURED: &str = "Secret-scanning leak reports are not enabled on this \
instance: an admin sets secret_scanning_keys to turn them on";

/// What a report without both signature headers is told.
pub const UNSIGNED: &str = "A leak report must carry the Github-Public-Key-Identifier and \
Github-Public-Key-Signature headers";

/// What a report signed with a key the configured document lacks is told.
pub const UNKNOWN_KEY: &str =
    "The key named in Github-Public-Key-Identifier is not one of the configured scanner keys";

/// What a replayed report is told.
pub const REPLAYED: &str = "This leak report was received and handled before; nothing was \
done again";

/// The audit log's actor for what scanners report.
const FINDER: &str = "secret-scanning";

/// A report as the edge read it.
#[derive(Debug, Clone, Copy)]
pub struct SignedReport<'a> {
    /// The key-identifier header.
    pub key_id: Option<&'a str>,
    /// The signature header.
    pub signature: Option<&'a str>,
    /// The raw body, exactly as received.
    pub body: &'a [u8],
    /// The address the report came from, for the audit log.
    pub address: &'a str,
}

/// The answer about one reported string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// SHA-256 of the reported string, lowercase hex (the reply never echoes a secret).
    pub token_hash: String,
    /// The scanner's `type`, echoed.
    pub token_type: String,
    /// Whether it was a token of this instance.
    pub label: Label,
}

impl App {
    /// Handles a signed leak report: revokes every live token in it and answers each string,
    /// in order. `NotFound` while no keys are configured; `Unauthenticated` (nothing read or
    /// changed) when the signature does not hold; `Invalid` for a body that is not a report;
    /// `Conflict` for a report handled before.
    pub async fn receive_leak_report(
        &self,
        report: SignedReport<'_>,
    ) -> Result<Vec<Verdict>, AppError> {
        let keyring = self
            .scanner_keys
            .as_ref()
            .ok_or_else(|| AppError::NotFound(NOT_CONFIGURED.into()))?;
        let (Some(key_id), Some(signature)) = (report.key_id, report.signature) else {
            return Err(AppError::Unauthenticated(UNSIGNED.into()));
        };
        let Some(key) = keyring.key(key_id).await? else {
            tracing::warn!(
                address = report.address,
                "leak report refused: unknown key identifier"
            );
            return Err(AppError::Unauthenticated(UNKNOWN_KEY.into()));
        };
        if let Err(e) = leak_report::verify(&key, signature, report.body) {
            tracing::warn!(address = report.address, "leak report refused: {e}");
            return Err(AppError::Unauthenticated(e.to_string()));
        }
        let found = leak_report::parse_report(report.body)?;
        let digest: [u8; 32] = Sha256::digest(report.body).into();
        if self.store.leaks().report_seen(&digest).await? {
            return Err(AppError::Conflict(REPLAYED.into()));
        }
        // Handled in a task of its own: a scanner that stops waiting does not cancel it half
        // way, leaving tokens it reported live and the report unrecorded.
        let app = self.clone();
        let address = report.address.to_owned();
        tokio::spawn(async move { handle(&app, found, digest, address).await })
            .await
            .map_err(|e| AppError::Internal(anyhow::anyhow!("handling a leak report: {e}")))?
    }
}

async fn handle(
    app: &App,
    found: Vec<ReportedSecret>,
    digest: [u8; 32],
    address: String,
) -> Result<Vec<Verdict>, AppError> {
    let mut verdicts = Vec::with_capacity(found.len());
    let mut revoked = 0;
    for secret in &found {
        let label = match token::check(&secret.token) {
            None => Label::FalsePositive,
            Some(checked) => {
                let sighting = Sighting {
                    finder: FINDER,
                    whereabouts: format!("was found by secret scanning {}", secret.whereabouts()),
                    project_id: None,
                    address: address.clone(),
                };
                match leaked::revoke(app, &checked, &sighting).await? {
                    Revocation::Revoked(_) => {
                        revoked += 1;
                        Label::TruePositive
                    }
                    Revocation::NotLive
                        if app.store.leaks().was_leaked(&checked.digest).await? =>
                    {
                        Label::TruePositive
                    }
                    Revocation::NotLive => Label::FalsePositive,
                }
            }
        };
        verdicts.push(Verdict {
            token_hash: hex::encode(Sha256::digest(secret.token.as_bytes())),
            token_type: secret.kind.clone(),
            label,
        });
    }
    app.store
        .leaks()
        .record_report(&digest, found.len(), revoked)
        .await?;
    tracing::info!(
        entries = found.len(),
        revoked,
        "handled a secret scanner's leak report"
    );
    Ok(verdicts)
}
