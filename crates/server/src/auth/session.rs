//! Browser sessions: the cookie holds a random secret; the store holds only its keyed digest.

use super::cookies::{self, SESSION_COOKIE};
use crate::error::{ApiError, PageError};
use crate::state::AppState;
use axum::extract::{FromRef, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use circlet_store::User;
use secrecy::ExposeSecret;

/// The logged-in user; pages that take it send anonymous visitors to the login page.
pub struct CurrentUser(pub User);

/// The logged-in user, if any.
pub struct MaybeUser(pub Option<User>);

/// The session digest stored for a cookie value.
pub(crate) fn digest(state: &AppState, raw: &str) -> String {
    super::keyed_digest(
        state.config.session_key.bytes(),
        &[b"session", raw.as_bytes()],
    )
}

/// Looks the session up once per request; later extractions reuse the answer.
pub(crate) async fn lookup(parts: &mut Parts, state: &AppState) -> Result<Option<User>, ApiError> {
    #[derive(Clone)]
    struct Looked(Option<User>);
    if let Some(Looked(user)) = parts.extensions.get::<Looked>() {
        return Ok(user.clone());
    }
    let user = match cookies::get(&parts.headers, SESSION_COOKIE) {
        Some(raw) => {
            let now = time::OffsetDateTime::now_utc();
            state
                .app
                .store
                .sessions()
                .user_for(&digest(state, &raw), now)
                .await?
        }
        None => None,
    };
    parts.extensions.insert(Looked(user.clone()));
    Ok(user)
}

impl<S> FromRequestParts<S> for MaybeUser
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, PageError> {
        Ok(MaybeUser(lookup(parts, &AppState::from_ref(state)).await?))
    }
}

impl<S> FromRequestParts<S> for CurrentUser
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, PageError> {
        match lookup(parts, &AppState::from_ref(state)).await? {
            Some(user) => Ok(CurrentUser(user)),
            None => Err(PageError::LoginRequired {
                next: parts
                    .uri
                    .path_and_query()
                    .map_or("/".into(), |p| p.as_str().to_owned()),
            }),
        }
    }
}

/// Starts a session for `user_id`; returns the `Set-Cookie` value.
pub async fn start(state: &AppState, user_id: i64) -> Result<String, PageError> {
    let raw = circlet_core::secret::random_hex_secret();
    let lifetime = state.config.session_lifetime;
    let expires = time::OffsetDateTime::now_utc() + lifetime;
    state
        .app
        .store
        .sessions()
        .create(&digest(state, raw.expose_secret()), user_id, expires)
        .await?;
    Ok(cookies::set(
        SESSION_COOKIE,
        raw.expose_secret(),
        Some(lifetime.whole_seconds()),
        state.secure_cookies(),
    ))
}

/// Ends the request's session, if any; returns the `Set-Cookie` value that clears the cookie.
pub async fn end(state: &AppState, headers: &HeaderMap) -> Result<String, PageError> {
    if let Some(raw) = cookies::get(headers, SESSION_COOKIE) {
        state
            .app
            .store
            .sessions()
            .delete(&digest(state, &raw))
            .await?;
    }
    Ok(cookies::set(
        SESSION_COOKIE,
        "",
        Some(0),
        state.secure_cookies(),
    ))
}
