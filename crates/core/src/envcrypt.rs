//! Sealing environment variable values at rest: XChaCha20-Poly1305 under a 256-bit instance key,
//! a fresh random nonce per value, and the project and variable name bound in as associated
//! data (a ciphertext copied to another row does not open). Each sealed value names its key by
//! [`key_id`], so keys can be rotated while old values stay readable.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use sha2::{Digest, Sha256};

const NONCE_LEN: usize = 24;

/// A short public name for a key: the first 16 hex digits of a hash of it. It says which key
/// sealed a value without saying anything usable about the key.
pub fn key_id(key: &[u8; 32]) -> String {
    let mut h = Sha256::new();
    h.update(b"circlet env key id\0");
    h.update(key);
    hex::encode(&h.finalize()[..8])
}

fn aad(project: &str, name: &str) -> Vec<u8> {
    let mut a = Vec::with_capacity(project.len() + name.len() + 1);
    a.extend_from_slice(project.as_bytes());
    a.push(0);
    a.extend_from_slice(name.as_bytes());
    a
}

/// `value` sealed under `key` for variable `name` of `project` (any stable project id):
/// nonce followed by ciphertext and tag.
pub fn seal(key: &[u8; 32], project: &str, name: &str, value: &str) -> Vec<u8> {
    let cipher = XChaCha20Poly1305::new(key.into());
    let nonce_bytes = crate::secret::random_bytes::<NONCE_LEN>();
    let nonce = XNonce::from_slice(&nonce_bytes);
    let sealed = cipher
        .encrypt(
            nonce,
            Payload {
                msg: value.as_bytes(),
                aad: &aad(project, name),
            },
        )
        .expect("XChaCha20-Poly1305 encrypts any message that fits in memory");
    let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
    out.extend_from_slice(&nonce_bytes);
    out.extend_from_slice(&sealed);
    out
}

/// The value [`seal`] sealed, or `None` when `sealed` was not made by `key` for this project
/// and name (or was altered).
pub fn open(key: &[u8; 32], project: &str, name: &str, sealed: &[u8]) -> Option<String> {
    if sealed.len() < NONCE_LEN {
        return None;
    }
    let (nonce, body) = sealed.split_at(NONCE_LEN);
    let cipher = XChaCha20Poly1305::new(key.into());
    let clear = cipher
        .decrypt(
            XNonce::from_slice(nonce),
            Payload {
                msg: body,
                aad: &aad(project, name),
            },
        )
        .ok()?;
    String::from_utf8(clear).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const K1: [u8; 32] = [7; 32];
    const K2: [u8; 32] = [8; 32];

    #[test]
    fn sealed_values_open_only_with_their_key_project_and_name() {
        let s = seal(&K1, "p1", "API_KEY", "hunter2hunter2");
        assert_eq!(
            open(&K1, "p1", "API_KEY", &s).as_deref(),
            Some("hunter2hunter2")
        );
        assert_eq!(open(&K2, "p1", "API_KEY", &s), None);
        assert_eq!(open(&K1, "p2", "API_KEY", &s), None);
        assert_eq!(open(&K1, "p1", "OTHER", &s), None);
        let mut tampered = s.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert_eq!(open(&K1, "p1", "API_KEY", &tampered), None);
        assert_eq!(open(&K1, "p1", "API_KEY", &s[..10]), None);
        // A fresh nonce each time: the same value never seals the same way twice.
        assert_ne!(s, seal(&K1, "p1", "API_KEY", "hunter2hunter2"));
        assert!(!s.windows(7).any(|w| w == b"hunter2"));
    }

    #[test]
    fn key_ids_differ_per_key_and_do_not_contain_it() {
        assert_ne!(key_id(&K1), key_id(&K2));
        assert_eq!(key_id(&K1).len(), 16);
        assert!(!hex::encode(K1).contains(&key_id(&K1)));
    }

    proptest! {
        #[test]
        fn any_value_round_trips(value in ".{0,300}", name in "[A-Z_][A-Z0-9_]{0,20}") {
            let s = seal(&K1, "proj", &name, &value);
            prop_assert_eq!(open(&K1, "proj", &name, &s), Some(value));
        }
    }
}
