//! Whether a delivery comes from the forge that knows the project's webhook secret. Checked on
//! the raw body before anything in it is read, in time that does not depend on where a forged
//! signature first differs.

use super::Forge;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Whether `given` (the value of the forge's [`Forge::signature_header`], if any) proves that
/// `body` was sent by someone holding `secret`:
/// - GitHub: `sha256=` and the hex HMAC-SHA256 of the body;
/// - Gitea / Forgejo: the hex HMAC-SHA256 of the body;
/// - Bitbucket: `sha256=` and the hex HMAC-SHA256 of the body (in `X-Hub-Signature`);
/// - GitLab: the secret itself (GitLab sends its "secret token" as is).
pub fn verify(forge: Forge, secret: &[u8], given: Option<&str>, body: &[u8]) -> bool {
    let Some(given) = given.map(str::trim) else {
        return false;
    };
    match forge {
        Forge::GitLab => crate::secret::constant_time_eq(given.as_bytes(), secret),
        Forge::Gitea => hmac_matches(secret, given, body),
        Forge::GitHub | Forge::Bitbucket => given
            .strip_prefix("sha256=")
            .is_some_and(|hex| hmac_matches(secret, hex, body)),
    }
}

/// The signature a forge would send for `body` (tests sign their deliveries with it; the
/// outbound webhooks sign with the same function).
pub fn sign(forge: Forge, secret: &[u8], body: &[u8]) -> String {
    let hex = hex::encode(hmac_of(secret, body));
    match forge {
        Forge::GitLab => String::from_utf8_lossy(secret).into_owned(),
        Forge::Gitea => hex,
        Forge::GitHub | Forge::Bitbucket => format!("sha256={hex}"),
    }
}

/// HMAC-SHA256 of `body` under `secret`.
pub fn hmac_of(secret: &[u8], body: &[u8]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(body);
    mac.finalize().into_bytes().into()
}

fn hmac_matches(secret: &[u8], hex_given: &str, body: &[u8]) -> bool {
    let Ok(given) = hex::decode(hex_given) else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(body);
    // `verify_slice` compares in constant time.
    mac.verify_slice(&given).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_made_with_the_secret_verifies_and_any_change_fails() {
        let body = br#"{"ref":"refs/heads/main"}"#;
        for forge in Forge::ALL {
            let sig = sign(forge, b"s3cret", body);
            assert!(verify(forge, b"s3cret", Some(&sig), body), "{forge:?}");
            assert!(
                !verify(forge, b"other", Some(&sig), body),
                "{forge:?} other secret"
            );
            assert!(!verify(forge, b"s3cret", None, body), "{forge:?} missing");
            assert!(!verify(forge, b"s3cret", Some(""), body), "{forge:?} empty");
            if forge != Forge::GitLab {
                assert!(
                    !verify(forge, b"s3cret", Some(&sig), b"{}"),
                    "{forge:?} body"
                );
                assert!(
                    !verify(forge, b"s3cret", Some("sha256=zz"), body),
                    "{forge:?}"
                );
            }
        }
    }

    #[test]
    fn github_matches_its_documented_example() {
        // GitHub's "Validating webhook deliveries" example: secret "It's a Secret to Everybody",
        // payload "Hello, World!".
        let sig = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        assert!(verify(
            Forge::GitHub,
            b"It's a Secret to Everybody",
            Some(sig),
            b"Hello, World!"
        ));
    }

    #[test]
    fn a_prefixless_github_signature_is_refused() {
        let hex = hex::encode(hmac_of(b"k", b"x"));
        assert!(!verify(Forge::GitHub, b"k", Some(&hex), b"x"));
        assert!(verify(Forge::Gitea, b"k", Some(&hex), b"x"));
    }
}
