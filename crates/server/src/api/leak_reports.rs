//! `POST /api/secret-scanning/github`: where secret scanners report leaked circlet tokens, in
//! the format of GitHub's secret-scanning partner program. No credential but the report's
//! ECDSA signature, which `circlet_app::tokens::leak_reports` checks on the raw body before
//! reading anything in it. The rules are the app's; this edge reads the headers and answers.

use super::RawBody;
use crate::auth::client::ClientIp;
use crate::error::{ApiError, MessageBody};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use circlet_app::tokens::leak_reports::{SignedReport, Verdict};
use circlet_core::leak_report::{KEY_ID_HEADER, SIGNATURE_HEADER};
use serde::Serialize;

/// What circlet says about one reported string, in GitHub's feedback format.
#[derive(Serialize, utoipa::ToSchema)]
pub struct LeakVerdict {
    /// SHA-256 of the reported string, lowercase hex: the reply never echoes a secret.
    #[schema(example = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08")]
    token_hash: String,
    /// The scanner's `type` for the match, as it sent it.
    #[schema(example = "circlet_personal_api_token")]
    token_type: String,
    /// `true_positive`: a token of this instance (revoked now, or revoked before because it
    /// leaked); `false_positive`: anything else.
    #[schema(example = "true_positive")]
    label: &'static str,
}

fn reply(v: Verdict) -> LeakVerdict {
    LeakVerdict {
        token_hash: v.token_hash,
        token_type: v.token_type,
        label: v.label.as_str(),
    }
}

/// One match of a leak report, as a scanner sends it (for the document only).
#[derive(utoipa::ToSchema)]
#[expect(dead_code, reason = "describes the request body for the document only")]
pub struct ReportedMatch {
    /// The string found.
    token: String,
    /// The scanner's name for the pattern that matched.
    #[schema(rename = "type")]
    kind: Option<String>,
    /// The public URL where it was found (may be empty).
    url: Option<String>,
    /// What it was found in: `content`, `commit`, `issue_comment`, …
    source: Option<String>,
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name)?.to_str().ok()
}

/// A leak report → 200 with one verdict per reported string, in order; every live token in it
/// is revoked and its owner told. 401 when the signature does not hold (nothing changes), 409
/// for a report handled before (nothing changes), 404 while no scanner keys are configured.
#[utoipa::path(post, path = "/api/secret-scanning/github", operation_id = "receive_leak_report", tag = "secret-scanning",
    params(
        ("Github-Public-Key-Identifier" = String, Header, description = "Which configured key signed the body"),
        ("Github-Public-Key-Signature" = String, Header, description = "Base64 of the DER ECDSA P-256 SHA-256 signature of the raw body"),
    ),
    request_body(content = Vec<ReportedMatch>, description = "The matches, as the scanner sends them", content_type = "application/json"),
    responses(
        (status = 200, description = "One verdict per reported string", body = Vec<LeakVerdict>),
        (status = 401, description = "The signature does not hold, or names an unknown key", body = MessageBody),
        (status = 409, description = "This report was handled before", body = MessageBody),
        (status = "4XX", description = "Leak reports are off, or the body is not a report", body = MessageBody)))]
pub async fn github(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<Json<Vec<LeakVerdict>>, ApiError> {
    let address = ip.to_string();
    let report = SignedReport {
        key_id: header(&headers, KEY_ID_HEADER),
        signature: header(&headers, SIGNATURE_HEADER),
        body: &body,
        address: &address,
    };
    let verdicts = state.app.receive_leak_report(report).await?;
    Ok(Json(verdicts.into_iter().map(reply).collect()))
}
