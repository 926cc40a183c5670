//! Who is calling the runner protocol: a runner token (`CCIRUN_…`), in any of the forms API
//! tokens may take. Runner tokens work nowhere else, and no other token works here.

use super::caller::{Presented, client_ip, failure, presented, throttle};
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use circlet_core::token::{self, TokenKind};
use circlet_store::TokenRecord;

/// A runner, identified by its token.
#[derive(Debug, Clone)]
pub struct Runner {
    /// The runner's token (its id identifies the runner on the jobs it claims).
    pub token: TokenRecord,
    /// Its digest, to check again that it still stands (a claim waits up to 30 s).
    pub digest: circlet_core::token::TokenDigest,
}

impl Runner {
    /// Whether the token is still valid now (not revoked, deleted or expired since the request
    /// came in).
    pub async fn still_valid(&self, state: &AppState) -> Result<bool, ApiError> {
        Ok(super::verified::resolve(state, &self.digest)
            .await?
            .is_some_and(|v| !v.record.expired_at(time::OffsetDateTime::now_utc())))
    }
}

impl<S> FromRequestParts<S> for Runner
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let state = AppState::from_ref(state);
        let ip = client_ip(parts);
        throttle(&state, ip)?;
        let raw = match presented(&parts.headers, parts.uri.query()) {
            Ok(Some(raw)) => raw,
            Ok(None) => {
                return Err(ApiError::Unauthorized(
                    "A runner token is required (Authorization: Bearer CCIRUN_…).".into(),
                ));
            }
            Err(Presented::Malformed) => return Err(failure(&state, ip)),
            Err(Presented::Conflicting) => {
                return Err(ApiError::Invalid(
                    "Several different tokens were sent in one request; send one.".into(),
                ));
            }
        };
        let Some(checked) = token::check(&raw) else {
            return Err(failure(&state, ip));
        };
        if checked.kind != TokenKind::Runner {
            return Err(failure(&state, ip));
        }
        let Some(super::verified::Verified { record, .. }) =
            super::verified::resolve(&state, &checked.digest).await?
        else {
            return Err(failure(&state, ip));
        };
        if record.kind != TokenKind::Runner || record.expired_at(time::OffsetDateTime::now_utc()) {
            return Err(failure(&state, ip));
        }
        state.usage.note_use(record.id, ip);
        Ok(Runner {
            token: record,
            digest: checked.digest,
        })
    }
}
