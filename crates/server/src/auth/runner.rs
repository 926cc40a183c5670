//! Who is calling the runner protocol: a runner token (`CCIRUN_…`), in any of the forms API
//! tokens may take. Runner tokens work nowhere else, and no other token works here.

use super::caller::{Presented, failure, presented, throttle};
use super::client::client_ip;
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
        Ok(
            circlet_app::tokens::verified::resolve(&state.app, &self.digest)
                .await?
                .is_some_and(|v| !v.record.expired_at(time::OffsetDateTime::now_utc())),
        )
    }
}

impl<S> FromRequestParts<S> for Runner
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    /// Failures count against the address in a limit of their own (`runner_auth_throttle`),
    /// apart from API tokens', and a valid runner token is accepted even from an address over
    /// that limit: the embedded runner shares 127.0.0.1 with anyone on the host (or behind a
    /// local proxy), and nobody's bad tokens may stop builds. Only a token with a valid
    /// checksum costs a lookup, so the limit still answers floods of guesses with 429.
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let state = AppState::from_ref(state);
        let ip = client_ip(parts, &state);
        let limit = &state.runner_auth_throttle;
        match authenticate(&state, parts).await {
            Ok(runner) => {
                state.app.usage.note_use(runner.token.id, ip);
                Ok(runner)
            }
            Err(Refused::Invalid) => {
                throttle(limit, ip)?;
                Err(failure(&state, limit, ip))
            }
            Err(Refused::Other(e)) => Err(e),
        }
    }
}

/// Why a request is not from a runner.
enum Refused {
    /// A credential that is not a live runner token: counted as a failure.
    Invalid,
    /// No credential, two of them, or the store failed: not the caller's guess.
    Other(ApiError),
}

async fn authenticate(state: &AppState, parts: &Parts) -> Result<Runner, Refused> {
    let raw = match presented(&parts.headers, parts.uri.query()) {
        Ok(Some(raw)) => raw,
        Ok(None) => {
            return Err(Refused::Other(ApiError::Unauthorized(
                "A runner token is required (Authorization: Bearer CCIRUN_…).".into(),
            )));
        }
        Err(Presented::Malformed) => return Err(Refused::Invalid),
        Err(Presented::Conflicting) => {
            return Err(Refused::Other(ApiError::Invalid(
                "Several different tokens were sent in one request; send one.".into(),
            )));
        }
    };
    let checked = token::check(&raw).ok_or(Refused::Invalid)?;
    if checked.kind != TokenKind::Runner {
        return Err(Refused::Invalid);
    }
    let Some(circlet_app::tokens::verified::Verified { record, .. }) =
        circlet_app::tokens::verified::resolve(&state.app, &checked.digest)
            .await
            .map_err(|e| Refused::Other(e.into()))?
    else {
        return Err(Refused::Invalid);
    };
    if record.kind != TokenKind::Runner || record.expired_at(time::OffsetDateTime::now_utc()) {
        return Err(Refused::Invalid);
    }
    Ok(Runner {
        token: record,
        digest: checked.digest,
    })
}
