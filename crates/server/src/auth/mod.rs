//! Who is calling: the API's one authentication extractor ([`caller`]), browser sessions, CSRF,
//! runner tokens, login throttling.
//!
//! A handler states what it needs in its signature: [`circlet_app::Caller`] for the APIs,
//! [`session::CurrentUser`] for pages that need a login, [`session::MaybeUser`] where anyone may
//! look. Whether the caller may do what it asks is decided by the use case it calls
//! (`circlet_app::access`), never here.

pub mod caller;
pub mod client;
pub mod cookies;
pub mod csrf;
pub mod expiry;
pub mod runner;
pub mod session;
pub mod throttle;

use hmac::{Hmac, Mac};
use sha2::Sha256;

pub use circlet_core::secret::constant_time_eq;

/// HMAC-SHA-256 of `parts` (joined by a 0 byte) under `key`, as lowercase hex.
pub(crate) fn keyed_digest(key: &[u8; 32], parts: &[&[u8]]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts any key length");
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            mac.update(&[0]);
        }
        mac.update(part);
    }
    hex::encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyed_digest_depends_on_key_and_parts() {
        let a = keyed_digest(&[1; 32], &[b"x", b"y"]);
        assert_eq!(a.len(), 64);
        assert_ne!(a, keyed_digest(&[2; 32], &[b"x", b"y"]));
        assert_ne!(a, keyed_digest(&[1; 32], &[b"xy"]));
    }
}
