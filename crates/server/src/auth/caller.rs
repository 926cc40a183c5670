//! Who is calling an API: the one extractor every JSON endpoint uses, making a
//! [`circlet_app::Caller`].
//!
//! A token may come in any of four forms: the `Circle-Token` header (any case), `Authorization:
//! Bearer`, HTTP Basic with the token as username (password ignored, colon optional), or the
//! `circle-token` query parameter. Several forms carrying the same token are normal; two
//! different tokens are refused with 400. Without a token, a browser session cookie identifies
//! the user, except on a `POST` another site could forge (see [`forgeable`]). A string that
//! fails the token checksum is refused without a store lookup.

use super::session;
use super::throttle::FailureThrottle;
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue};
use base64::Engine;
use circlet_app::Caller;
use circlet_core::token::{self, TokenKind};
use std::net::IpAddr;

/// The message for every token that does not work.
pub const INVALID_TOKEN: &str = "Invalid token provided.";
/// The message when a credential is needed and none came.
pub const LOGIN_REQUIRED: &str = circlet_app::error::LOGIN_REQUIRED;

/// The one authentication of the JSON APIs: the [`Caller`] of every API handler.
impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let ip = super::client::client_ip(parts, state);
        match presented(&parts.headers, parts.uri.query()) {
            Ok(None) => Ok(match session::lookup(parts, state).await? {
                Some(user) if !forgeable(parts) => Caller::Session(user),
                Some(_) | None => Caller::Anonymous,
            }),
            Ok(Some(raw)) => {
                let caller = verify(state, ip, &raw).await?;
                if let Some(at) = caller.token().and_then(|t| t.expires_at) {
                    super::expiry::note(parts, at);
                }
                Ok(caller)
            }
            Err(Presented::Malformed) => {
                throttle(&state.auth_throttle, ip)?;
                Err(failure(state, &state.auth_throttle, ip))
            }
            Err(Presented::Conflicting) => Err(ApiError::Invalid(
                "Several different API tokens were sent in one request; send one.".into(),
            )),
        }
    }
}

/// Whether a browser could have been made to send this request from another site, carrying
/// the session cookie without the user knowing: a `POST` that is not JSON (forms and
/// `text/plain` need no CORS preflight, and the API's token creation accepts forms). The JSON
/// APIs have no CSRF field, so such a request does not count the session: only a token
/// authenticates it. Other writes (`DELETE`, `PUT`, JSON) need a preflight circlet never grants.
fn forgeable(parts: &Parts) -> bool {
    parts.method == axum::http::Method::POST
        && !parts
            .headers
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| {
                ct.trim_start()
                    .to_ascii_lowercase()
                    .starts_with("application/json")
            })
}

/// Why the presented credentials could not be read.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Presented {
    /// Unreadable: not ASCII, bad base64, empty.
    Malformed,
    /// Two different tokens.
    Conflicting,
}

fn text(v: &HeaderValue) -> Result<&str, Presented> {
    v.to_str().map(str::trim).map_err(|_| Presented::Malformed)
}

/// The one token the request carries, in any of the four forms, if any.
pub(super) fn presented(
    headers: &HeaderMap,
    query: Option<&str>,
) -> Result<Option<String>, Presented> {
    let mut found: Vec<String> = Vec::new();
    for v in headers.get_all("circle-token") {
        found.push(text(v)?.to_owned());
    }
    for v in headers.get_all(AUTHORIZATION) {
        let v = text(v)?;
        let (scheme, rest) = v.split_once(' ').unwrap_or((v, ""));
        if scheme.eq_ignore_ascii_case("bearer") {
            found.push(rest.trim().to_owned());
        } else if scheme.eq_ignore_ascii_case("basic") {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(rest.trim())
                .map_err(|_| Presented::Malformed)?;
            let decoded = String::from_utf8(decoded).map_err(|_| Presented::Malformed)?;
            let user = decoded.split_once(':').map_or(decoded.as_str(), |(u, _)| u);
            found.push(user.trim().to_owned());
        }
    }
    if let Some(q) = query {
        for (k, v) in form_urlencoded::parse(q.as_bytes()) {
            if k == "circle-token" {
                found.push(v.trim().to_owned());
            }
        }
    }
    if found.iter().any(String::is_empty) {
        return Err(Presented::Malformed);
    }
    found.dedup();
    found.sort_unstable();
    found.dedup();
    match found.len() {
        0 => Ok(None),
        1 => Ok(found.pop()),
        _ => Err(Presented::Conflicting),
    }
}

/// 429 when `ip` used up its failures in `limit`.
pub(super) fn throttle(limit: &FailureThrottle, ip: Option<IpAddr>) -> Result<(), ApiError> {
    match ip.map(|ip| limit.check(ip)) {
        Some(Err(secs)) => Err(ApiError::TooManyRequests {
            retry_after_secs: secs,
            message: "Rate limit exceeded: too many failed authentications from your address."
                .into(),
        }),
        _ => Ok(()),
    }
}

/// Counts a failed authentication from `ip` in `limit` (and for the audit log): 401.
pub(super) fn failure(state: &AppState, limit: &FailureThrottle, ip: Option<IpAddr>) -> ApiError {
    if let Some(ip) = ip {
        limit.record_failure(ip);
    }
    state.app.usage.note_failure(ip);
    ApiError::Unauthorized(INVALID_TOKEN.into())
}

/// Checks a presented token: shape and checksum first, then what the store says (remembered
/// while nothing was revoked, see `circlet_app::tokens::verified`).
async fn verify(state: &AppState, ip: Option<IpAddr>, raw: &str) -> Result<Caller, ApiError> {
    throttle(&state.auth_throttle, ip)?;
    let failure = |state: &AppState, ip| failure(state, &state.auth_throttle, ip);
    let Some(checked) = token::check(raw) else {
        return Err(failure(state, ip));
    };
    if checked.kind == TokenKind::Runner {
        return Err(failure(state, ip));
    }
    let Some(circlet_app::tokens::verified::Verified { record, user }) =
        circlet_app::tokens::verified::resolve(&state.app, &checked.digest).await?
    else {
        return Err(failure(state, ip));
    };
    if record.expired_at(time::OffsetDateTime::now_utc()) {
        state.app.usage.note_expired(&record, ip);
        failure(state, ip);
        return Err(ApiError::Unauthorized(
            "Token expired. Create a new one.".into(),
        ));
    }
    let caller = match record.kind {
        TokenKind::Personal => match user {
            Some(user) if !user.disabled => Caller::Personal {
                user,
                token: record,
            },
            _ => return Err(failure(state, ip)),
        },
        TokenKind::Project => Caller::Project { token: record },
        TokenKind::Runner => return Err(failure(state, ip)),
    };
    if let Some(t) = caller.token() {
        state.app.usage.note_use(t.id, ip);
    }
    Ok(caller)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn all_four_forms_are_read() {
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let cases = [
            (headers(&[("circle-token", " T1 ")]), None),
            (headers(&[("authorization", "Bearer T1")]), None),
            (
                headers(&[("authorization", &format!("Basic {}", b64("T1:")))]),
                None,
            ),
            (
                headers(&[("authorization", &format!("Basic {}", b64("T1")))]),
                None,
            ),
            (
                headers(&[("authorization", &format!("basic {}", b64("T1:ignored")))]),
                None,
            ),
            (HeaderMap::new(), Some("x=1&circle-token=T1")),
        ];
        for (h, q) in cases {
            assert_eq!(presented(&h, q), Ok(Some("T1".to_owned())), "{h:?} {q:?}");
        }
    }

    #[test]
    fn the_same_token_twice_is_fine_and_two_differ_is_not() {
        let b = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("T1:")
        );
        let h = headers(&[("circle-token", "T1"), ("authorization", &b)]);
        assert_eq!(
            presented(&h, Some("circle-token=T1")),
            Ok(Some("T1".into()))
        );
        let h = headers(&[("circle-token", "T1"), ("authorization", "Bearer T2")]);
        assert_eq!(presented(&h, None), Err(Presented::Conflicting));
    }

    #[test]
    fn unreadable_credentials_are_malformed() {
        assert_eq!(
            presented(&headers(&[("authorization", "Basic %%%")]), None),
            Err(Presented::Malformed)
        );
        assert_eq!(
            presented(&HeaderMap::new(), Some("circle-token=")),
            Err(Presented::Malformed)
        );
        let mut h = HeaderMap::new();
        h.insert(
            "circle-token",
            HeaderValue::from_bytes(b"caf\xc3\xa9").unwrap(),
        );
        assert_eq!(presented(&h, None), Err(Presented::Malformed));
        assert_eq!(presented(&HeaderMap::new(), None), Ok(None));
        assert_eq!(
            presented(&headers(&[("authorization", "Digest abc")]), None),
            Ok(None)
        );
    }
}
