//! SSH keys of a project, as CircleCI keeps them: checkout keys (`deploy-key`, `user-key`) the
//! server makes, additional keys a user pastes for a host; each shown by its fingerprints,
//! SHA-256 (`SHA256:…`, as OpenSSH prints it) and MD5 (`aa:bb:…`, as CircleCI's APIs and
//! `add_ssh_keys` name keys). Private halves only ever leave here as [`SecretString`]s.

use md5::Md5;
use secrecy::SecretString;
use sha2::{Digest, Sha256};
use ssh_key::{HashAlg, LineEnding, PrivateKey, PublicKey};

/// The largest private key accepted, in bytes (an RSA key of 16,384 bits is about 12 KiB).
pub const MAX_PRIVATE_KEY: usize = 16 * 1024;

/// A key's two fingerprints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprints {
    /// `SHA256:` and the unpadded base64 of the SHA-256 of the public key blob.
    pub sha256: String,
    /// The MD5 of the public key blob, as colon-separated lowercase hex.
    pub md5: String,
}

impl Fingerprints {
    /// Whether `given` names this key, in either form (`SHA256:…`, or MD5 with or without
    /// colons, any case).
    pub fn matches(&self, given: &str) -> bool {
        let given = given.trim();
        if given.starts_with("SHA256:") {
            return given == self.sha256;
        }
        let bare = |s: &str| s.replace(':', "").to_ascii_lowercase();
        let given = given.strip_prefix("MD5:").unwrap_or(given);
        !given.is_empty() && bare(given) == bare(&self.md5)
    }
}

/// A key pair made here.
pub struct NewKeyPair {
    /// The public half, one OpenSSH line (`ssh-ed25519 AAAA… comment`).
    pub public: String,
    /// The private half, OpenSSH PEM.
    pub private: SecretString,
    /// Its fingerprints.
    pub fingerprints: Fingerprints,
}

/// A pasted private key, understood (its public half only: nothing secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedKey {
    /// Its public half, one OpenSSH line.
    pub public: String,
    /// Its fingerprints.
    pub fingerprints: Fingerprints,
}

/// Fingerprints of a public key blob.
fn of_blob(blob: &[u8]) -> Fingerprints {
    use base64::Engine as _;
    let sha = Sha256::digest(blob);
    let md5 = Md5::digest(blob);
    Fingerprints {
        sha256: format!(
            "SHA256:{}",
            base64::engine::general_purpose::STANDARD_NO_PAD.encode(sha)
        ),
        md5: md5
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(":"),
    }
}

fn fingerprints_of(public: &PublicKey) -> Result<Fingerprints, String> {
    let blob = public
        .to_bytes()
        .map_err(|e| format!("the public key cannot be encoded: {e}"))?;
    let fp = of_blob(&blob);
    debug_assert_eq!(fp.sha256, public.fingerprint(HashAlg::Sha256).to_string());
    Ok(fp)
}

/// Makes an Ed25519 key pair commented `comment`.
pub fn generate(comment: &str) -> Result<NewKeyPair, String> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| format!("no randomness: {e}"))?;
    let keypair = ssh_key::private::Ed25519Keypair::from_seed(&seed);
    let mut private = PrivateKey::from(keypair);
    private.set_comment(comment);
    let public = private.public_key().clone();
    let fingerprints = fingerprints_of(&public)?;
    let pem = private
        .to_openssh(LineEnding::LF)
        .map_err(|e| format!("the key cannot be encoded: {e}"))?;
    Ok(NewKeyPair {
        public: public
            .to_openssh()
            .map_err(|e| format!("the key cannot be encoded: {e}"))?,
        private: SecretString::from(pem.to_string()),
        fingerprints,
    })
}

/// Reads a pasted private key: OpenSSH's format (`BEGIN OPENSSH PRIVATE KEY`), or an RSA key
/// in PEM (`BEGIN RSA PRIVATE KEY`, which CircleCI's documentation has people make with
/// `ssh-keygen -m PEM`). An encrypted key is refused: a job has nobody to type its passphrase.
/// Errors never repeat the key.
pub fn parse_private(text: &str) -> Result<ParsedKey, String> {
    let text = text.trim();
    if text.len() > MAX_PRIVATE_KEY {
        return Err(format!(
            "a private key may be at most {MAX_PRIVATE_KEY} bytes"
        ));
    }
    let public = if text.starts_with("-----BEGIN OPENSSH PRIVATE KEY-----") {
        let key = PrivateKey::from_openssh(text)
            .map_err(|_| "the private key is not a valid OpenSSH key".to_owned())?;
        if key.is_encrypted() {
            return Err(
                "the private key is encrypted: remove its passphrase (ssh-keygen -p) first, since jobs cannot type it"
                    .into(),
            );
        }
        key.public_key().clone()
    } else if text.starts_with("-----BEGIN RSA PRIVATE KEY-----") {
        if text.contains("ENCRYPTED") {
            return Err(
                "the private key is encrypted: remove its passphrase (ssh-keygen -p) first, since jobs cannot type it"
                    .into(),
            );
        }
        use rsa::pkcs1::DecodeRsaPrivateKey;
        let key = rsa::RsaPrivateKey::from_pkcs1_pem(text)
            .map_err(|_| "the private key is not a valid RSA key".to_owned())?;
        let public = ssh_key::public::RsaPublicKey::try_from(key.to_public_key())
            .map_err(|_| "the RSA key cannot be used for SSH".to_owned())?;
        PublicKey::from(public)
    } else {
        return Err(
            "paste a private key in OpenSSH format (BEGIN OPENSSH PRIVATE KEY) or an RSA key in PEM (BEGIN RSA PRIVATE KEY)"
                .into(),
        );
    };
    Ok(ParsedKey {
        fingerprints: fingerprints_of(&public)?,
        public: public
            .to_openssh()
            .map_err(|e| format!("the public key cannot be encoded: {e}"))?,
    })
}

/// Whether a repository URL is reached over SSH (`ssh://…`, or scp's `user@host:path`), and so
/// needs a checkout key.
pub fn is_ssh_url(url: &str) -> bool {
    if url.starts_with("ssh://") || url.starts_with("git+ssh://") {
        return true;
    }
    // scp-like: `user@host:path`, with no scheme.
    !url.contains("://")
        && url
            .split_once(':')
            .is_some_and(|(host, _)| host.contains('@') && !host.contains('/'))
}

/// Whether `host` can name an SSH host for an additional key: a host name or address, without
/// spaces or control characters (empty: every host).
pub fn check_hostname(host: &str) -> Result<(), String> {
    if host.len() > 253
        || !host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':' | '[' | ']'))
    {
        return Err(format!("'{host}' is not a host name"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn a_generated_key_reads_back_with_the_same_fingerprints() {
        let made = generate("circlet deploy key").unwrap();
        assert!(made.public.starts_with("ssh-ed25519 "), "{}", made.public);
        assert!(made.public.ends_with(" circlet deploy key"));
        assert!(made.fingerprints.sha256.starts_with("SHA256:"));
        assert_eq!(made.fingerprints.md5.split(':').count(), 16);
        let back = parse_private(made.private.expose_secret()).unwrap();
        assert_eq!(back.fingerprints, made.fingerprints);
        assert_eq!(back.public, made.public);
        assert_ne!(generate("x").unwrap().fingerprints, made.fingerprints);
    }

    #[test]
    fn pasted_keys_get_the_fingerprints_openssh_gives_them() {
        // Keys and fingerprints from OpenSSH's ssh-keygen (see tests/ssh_keys/README.md).
        let cases = [
            (
                include_str!("../tests/ssh_keys/rsa_pem"),
                include_str!("../tests/ssh_keys/rsa_pem.pub"),
                "SHA256:HgUO66ajtCgdIBHGcY/WhHw5O3hpKdi/+W2JffuiMBU",
                "3c:82:b6:d8:fe:5a:4a:8a:8f:69:6a:0b:1f:f4:3f:f0",
            ),
            (
                include_str!("../tests/ssh_keys/ed25519"),
                include_str!("../tests/ssh_keys/ed25519.pub"),
                "SHA256:tFp0lwuBnT8AWJV0Cul2rELqeQGJY67CQFI57I31pdU",
                "05:23:bc:4a:d4:5f:81:71:73:d4:f6:e3:d9:5c:d3:a5",
            ),
        ];
        for (private, public, sha256, md5) in cases {
            let parsed = parse_private(private).unwrap();
            assert_eq!(parsed.fingerprints.sha256, sha256);
            assert_eq!(parsed.fingerprints.md5, md5);
            // The same key material as ssh-keygen's public file (the comment may differ).
            let body = |line: &str| {
                line.split_whitespace()
                    .take(2)
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            assert_eq!(body(&parsed.public), body(public));
        }
    }

    #[test]
    fn ssh_urls_are_told_apart() {
        for yes in [
            "git@github.com:acme/widget.git",
            "ssh://git@host:2222/r.git",
            "git+ssh://h/r",
        ] {
            assert!(is_ssh_url(yes), "{yes}");
        }
        for no in [
            "https://github.com/acme/widget.git",
            "file:///tmp/r",
            "/tmp/r",
            "https://u:p@h/r",
        ] {
            assert!(!is_ssh_url(no), "{no}");
        }
    }

    #[test]
    fn fingerprints_match_in_either_form() {
        let fp = Fingerprints {
            sha256: "SHA256:abc".into(),
            md5: "0a:1b:2c".into(),
        };
        for yes in [
            "SHA256:abc",
            "0a:1b:2c",
            "0A:1B:2C",
            "0a1b2c",
            "MD5:0a:1b:2c",
        ] {
            assert!(fp.matches(yes), "{yes}");
        }
        for no in ["SHA256:abd", "0a:1b", "", "sha256:abc"] {
            assert!(!fp.matches(no), "{no}");
        }
    }

    #[test]
    fn what_is_not_a_usable_key_says_why_without_repeating_it() {
        let e = parse_private("hunter2 not a key").unwrap_err();
        assert!(
            e.contains("OpenSSH format") && !e.contains("hunter2"),
            "{e}"
        );
        let e = parse_private(
            "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----",
        )
        .unwrap_err();
        assert!(e.contains("not a valid OpenSSH key"), "{e}");
        let e = parse_private(&"x".repeat(MAX_PRIVATE_KEY + 1)).unwrap_err();
        assert!(e.contains("at most"), "{e}");
        assert!(check_hostname("github.com").is_ok());
        assert!(check_hostname("").is_ok());
        assert!(check_hostname("a b").is_err());
    }
}
