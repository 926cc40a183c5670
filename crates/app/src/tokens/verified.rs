//! Tokens verified recently, kept in memory so an authenticated request costs no database read.
//!
//! An entry holds what the store said about a digest (the token record and, for a personal
//! token, its user) together with the store's *auth generation* read before that store read.
//! It is used only while the generation is unchanged, so a token deleted or replaced, or a user
//! disabled, in this process or any other on the same database, is refused on the next request
//! (see `circlet_store`'s generations module for how other processes' changes arrive). Expiry is
//! checked by the caller on every use, from the record. Unknown digests are not remembered:
//! a token created a moment ago must work at once, and guesses must not fill memory.

use crate::App;
use crate::AppError;
use crate::memo::GenerationMemo;
use circlet_core::token::{TokenDigest, TokenKind};
use circlet_store::{TokenRecord, User};
use std::time::Duration;

/// An entry older than this is read again, whatever the generation says: a bound on staleness
/// of display fields (last used) and a second line of defence.
const TTL: Duration = Duration::from_secs(60);
/// At most this many entries.
const CAPACITY: usize = 50_000;

/// What the store says about a token.
#[derive(Debug, Clone)]
pub struct Verified {
    /// The token.
    pub record: TokenRecord,
    /// The owner of a personal token, as they are now; `None` for other kinds, or when the
    /// owner is gone.
    pub user: Option<User>,
}

/// The cache itself, one per server process: digest → what the store said, by auth generation.
pub struct VerifiedTokens(GenerationMemo<[u8; 32], Verified, u64>);

impl Default for VerifiedTokens {
    fn default() -> Self {
        VerifiedTokens(GenerationMemo::new(TTL, CAPACITY))
    }
}

impl VerifiedTokens {
    /// How many tokens are remembered.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether no token is remembered.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The stored token with this digest and, for a personal token, its user: from memory when
/// still valid, else from the store.
pub async fn resolve(app: &App, digest: &TokenDigest) -> Result<Option<Verified>, AppError> {
    // Read before the store, so that a revocation committed during the read changes it.
    let generation = app.store.auth_generation();
    app.verified
        .0
        .get_or_read(digest.0, generation, || async {
            let Some(record) = app.store.tokens().by_digest(digest).await? else {
                return Ok(None);
            };
            let user = match (record.kind, record.user_id) {
                (TokenKind::Personal, Some(id)) => app.store.users().by_id(id).await?,
                _ => None,
            };
            Ok(Some(Verified { record, user }))
        })
        .await
}
