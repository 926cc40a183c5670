//! Leak reports from secret scanners, in the format of GitHub's secret-scanning partner
//! program: the document of public keys a scanner signs with, the signature over a report's raw
//! body, the report itself, and the label circlet answers each reported string with.
//!
//! ```text
//! POST …   Github-Public-Key-Identifier: <key_identifier>
//!          Github-Public-Key-Signature:  base64(DER ECDSA P-256 SHA-256 signature of the body)
//! [{"token": "CCIPAT_…", "type": "…", "url": "https://github.com/…", "source": "content"}]
//! ```
//!
//! Pure: fetching the keys and revoking what is reported happen in `circlet-app`. Nothing in a
//! body is read before its signature holds.

use crate::Invalid;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1, ParsedPublicKey};
use base64::Engine;
use rustls_pki_types::SubjectPublicKeyInfoDer;
use rustls_pki_types::pem::PemObject;
use serde::Deserialize;
use std::fmt;

/// The header naming the key a report is signed with (a `key_identifier` of the keys document).
pub const KEY_ID_HEADER: &str = "Github-Public-Key-Identifier";

/// The header carrying the report's signature.
pub const SIGNATURE_HEADER: &str = "Github-Public-Key-Signature";

/// Where GitHub publishes the keys it signs leak reports with.
pub const GITHUB_KEYS_URL: &str = "https://api.github.com/meta/public_keys/secret_scanning";

/// The largest report body read. GitHub may batch many matches in one report; 1 MiB holds
/// thousands.
pub const MAX_REPORT_BYTES: usize = 1024 * 1024;

/// The largest keys document read (GitHub's holds a handful of keys, well under 4 KiB).
pub const MAX_KEYS_BYTES: usize = 256 * 1024;

/// The regular expression circlet tokens match, as published for secret scanners (README,
/// "Leaked tokens"). A match is a token only when its checksum holds too: the last 8 hex
/// characters are the first 4 bytes of SHA-256 over the 62 characters before them.
pub const TOKEN_PATTERN: &str = "CCI(?:PAT|PRJ|RUN)_[0-9A-Za-z]{22}_[0-9a-f]{40}";

/// A reported string longer than this cannot be a circlet token and is not kept whole.
const MAX_FIELD_CHARS: usize = 512;

/// One public key a scanner signs reports with: ECDSA P-256, parsed and checked when the
/// document is read, so a broken key is noticed then and not at the first report.
#[derive(Clone)]
pub struct ScannerKey {
    id: String,
    key: ParsedPublicKey,
    current: bool,
}

impl ScannerKey {
    /// The key's identifier, as the key-identifier header names it.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Whether the scanner says it signs with this key now (older keys stay valid).
    pub fn is_current(&self) -> bool {
        self.current
    }
}

impl fmt::Debug for ScannerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ScannerKey({}, current: {})", self.id, self.current)
    }
}

/// The keys a scanner publishes, read from its keys document.
#[derive(Debug, Clone, Default)]
pub struct ScannerKeys(Vec<ScannerKey>);

#[derive(Deserialize)]
struct KeysDocument {
    public_keys: Vec<KeyEntry>,
}

#[derive(Deserialize)]
struct KeyEntry {
    key_identifier: String,
    key: String,
    #[serde(default)]
    is_current: bool,
}

impl ScannerKeys {
    /// Reads a keys document: `{"public_keys": [{"key_identifier", "key" (SPKI PEM),
    /// "is_current"}]}`. Every key must be an ECDSA P-256 public key.
    pub fn parse(document: &[u8]) -> Result<ScannerKeys, Invalid> {
        if document.len() > MAX_KEYS_BYTES {
            return Err(Invalid::new(format!(
                "the keys document is larger than {MAX_KEYS_BYTES} bytes"
            )));
        }
        let doc: KeysDocument = serde_json::from_slice(document).map_err(|e| {
            Invalid::new(format!(
                "the keys document is not {{\"public_keys\": [{{\"key_identifier\", \"key\"}}]}}: {e}"
            ))
        })?;
        let mut keys = Vec::with_capacity(doc.public_keys.len());
        for entry in doc.public_keys {
            let id = entry.key_identifier.trim();
            if id.is_empty() || id.len() > 200 {
                return Err(Invalid::new(
                    "a key in the keys document has no (or an overlong) key_identifier",
                ));
            }
            let der = SubjectPublicKeyInfoDer::from_pem_slice(entry.key.as_bytes())
                .map_err(|e| Invalid::new(format!("key {id} is not a PEM public key: {e}")))?;
            let key = ParsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, der.as_ref())
                .map_err(|e| Invalid::new(format!("key {id} is not an ECDSA P-256 key: {e}")))?;
            keys.push(ScannerKey {
                id: id.to_owned(),
                key,
                current: entry.is_current,
            });
        }
        Ok(ScannerKeys(keys))
    }

    /// The key named `id`.
    pub fn get(&self, id: &str) -> Option<&ScannerKey> {
        self.0.iter().find(|k| k.id == id.trim())
    }

    /// How many keys there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Why a report's signature does not hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The signature header is not base64.
    #[error("The {SIGNATURE_HEADER} header is not base64")]
    NotBase64,
    /// The signature is not a DER ECDSA signature of this body by this key.
    #[error("The {SIGNATURE_HEADER} header is not a signature of this body by the named key")]
    Mismatch,
}

/// Checks `signature` (the header's base64 of a DER-encoded ECDSA P-256 SHA-256 signature) over
/// the raw `body` with `key`.
pub fn verify(key: &ScannerKey, signature: &str, body: &[u8]) -> Result<(), SignatureError> {
    let signature = base64::engine::general_purpose::STANDARD
        .decode(signature.trim())
        .map_err(|_| SignatureError::NotBase64)?;
    key.key
        .verify_sig(body, &signature)
        .map_err(|_| SignatureError::Mismatch)
}

/// One match in a report: the string found, the scanner's name for the pattern it matched,
/// and where it was found.
#[derive(Clone, PartialEq, Eq)]
pub struct ReportedSecret {
    /// The string found (a leaked token, or something that only looks like one).
    pub token: String,
    /// The scanner's name for the pattern that matched (`type`), as sent.
    pub kind: String,
    /// The public URL where it was found; may be empty.
    pub url: String,
    /// What it was found in (`content`, `commit`, `issue_comment`, …).
    pub source: String,
}

impl fmt::Debug for ReportedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The string may be a live token: never printed.
        f.debug_struct("ReportedSecret")
            .field("token", &"[redacted]")
            .field("kind", &self.kind)
            .field("url", &self.url)
            .field("source", &self.source)
            .finish()
    }
}

#[derive(Deserialize)]
struct Entry {
    token: String,
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    source: Option<String>,
}

/// Reads a report's body: a JSON array of `{"token", "type", "url", "source"}` (`token`
/// required). Only call this once the signature holds.
pub fn parse_report(body: &[u8]) -> Result<Vec<ReportedSecret>, Invalid> {
    let entries: Vec<Entry> = serde_json::from_slice(body).map_err(|e| {
        Invalid::new(format!(
            "A leak report is a JSON array of {{\"token\", \"type\", \"url\", \"source\"}}: {e}"
        ))
    })?;
    Ok(entries
        .into_iter()
        .map(|e| ReportedSecret {
            token: e.token,
            kind: bounded(e.kind.as_deref().unwrap_or_default()),
            url: bounded(e.url.as_deref().unwrap_or_default()),
            source: bounded(e.source.as_deref().unwrap_or_default()),
        })
        .collect())
}

impl ReportedSecret {
    /// Where the scanner found it, for its owner to read in the audit log and the leak banner:
    /// `in content at https://github.com/…`. Only plain characters of the source are kept.
    pub fn whereabouts(&self) -> String {
        let source: String = self
            .source
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | ' '))
            .take(40)
            .collect::<String>()
            .to_lowercase()
            .replace('_', " ");
        let source = source.trim();
        let what = if source.is_empty() {
            "a public place".to_owned()
        } else {
            source.to_owned()
        };
        if self.url.is_empty() {
            format!("in {what}")
        } else {
            format!("in {what} at {}", self.url)
        }
    }
}

/// `raw` without control characters, at most [`MAX_FIELD_CHARS`] characters (`…` marks a cut).
fn bounded(raw: &str) -> String {
    let clean: String = raw.trim().chars().filter(|c| !c.is_control()).collect();
    if clean.chars().count() <= MAX_FIELD_CHARS {
        return clean;
    }
    let mut cut: String = clean.chars().take(MAX_FIELD_CHARS - 1).collect();
    cut.push('…');
    cut
}

/// What circlet answers about one reported string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Label {
    /// A token this instance issued: revoked now, or revoked earlier as leaked.
    TruePositive,
    /// Not a token of this instance: the wrong shape or checksum, or never issued here (or
    /// deleted by its owner before it was reported).
    FalsePositive,
}

impl Label {
    /// As the scanner's feedback format spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Label::TruePositive => "true_positive",
            Label::FalsePositive => "false_positive",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::encoding::AsDer;
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair};

    /// A fresh signing key and the keys document entry publishing it as `id`.
    fn key_pair(id: &str) -> (EcdsaKeyPair, serde_json::Value) {
        let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_ASN1_SIGNING).unwrap();
        let der = pair.public_key().as_der().unwrap();
        let b64 = base64::engine::general_purpose::STANDARD.encode(der.as_ref());
        let lines: Vec<&str> = b64
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect();
        let pem = format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
            lines.join("\n")
        );
        let entry = serde_json::json!({"key_identifier": id, "key": pem, "is_current": true});
        (pair, entry)
    }

    fn sign(pair: &EcdsaKeyPair, body: &[u8]) -> String {
        let sig = pair.sign(&SystemRandom::new(), body).unwrap();
        base64::engine::general_purpose::STANDARD.encode(sig.as_ref())
    }

    fn document(entries: &[&serde_json::Value]) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({ "public_keys": entries })).unwrap()
    }

    const BODY: &[u8] = br#"[{"token":"CCIPAT_x","type":"circlet_personal_token","url":"https://github.com/o/r/blob/abc/x.txt","source":"content"}]"#;

    #[test]
    fn leak_report_signature_holds_for_the_signed_body_and_named_key() {
        let (a, entry_a) = key_pair("aaa");
        let (_, entry_b) = key_pair("bbb");
        let keys = ScannerKeys::parse(&document(&[&entry_a, &entry_b])).unwrap();
        assert_eq!(keys.len(), 2);
        let key = keys.get("aaa").expect("key aaa");
        assert!(key.is_current());
        assert_eq!(verify(key, &sign(&a, BODY), BODY), Ok(()));
        assert!(keys.get("ccc").is_none());
    }

    #[test]
    fn leak_report_signature_fails_for_a_tampered_body() {
        let (a, entry) = key_pair("aaa");
        let keys = ScannerKeys::parse(&document(&[&entry])).unwrap();
        let sig = sign(&a, BODY);
        let mut tampered = BODY.to_vec();
        tampered[12] ^= 1;
        let key = keys.get("aaa").unwrap();
        assert_eq!(verify(key, &sig, &tampered), Err(SignatureError::Mismatch));
        // Trailing whitespace is a different body too: the raw bytes are what is signed.
        let mut spaced = BODY.to_vec();
        spaced.push(b'\n');
        assert_eq!(verify(key, &sig, &spaced), Err(SignatureError::Mismatch));
    }

    /// A P-256 key and a signature made by OpenSSL 3.0, not by the library circlet verifies
    /// with: `openssl ecparam -name prime256v1 -genkey -noout -out k.pem`,
    /// `openssl ec -in k.pem -pubout`, `openssl dgst -sha256 -sign k.pem body.json | base64`.
    const OPENSSL_PEM: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEr2ENfS+Unv2l8bDbF93lm5wyQbFA
yH8MS1L87Y2FjMHG26gKmlsqXNzXhig4kX5j731Jm6CXgJztst+H+uB8Vg==
-----END PUBLIC KEY-----
";
    const OPENSSL_BODY: &[u8] = br#"[{"token":"CCIPAT_example","type":"circlet_api_token","url":"https://github.com/octocat/hello/blob/0123abc/deploy.sh","source":"content"}]"#;
    const OPENSSL_SIGNATURE: &str = "MEYCIQDF0/rnPlnVjjYbVS+R7jWD92sHhwyoJO5gVhlclZ9mbwIhAObVu+3Hbla9UOd8UuybeQ3b3g3b9jM4ZdNJArBjtAKc";

    #[test]
    fn leak_report_a_signature_made_by_openssl_holds() {
        let entry = serde_json::json!({"key_identifier": "openssl", "key": OPENSSL_PEM});
        let keys = ScannerKeys::parse(&document(&[&entry])).unwrap();
        let key = keys.get("openssl").unwrap();
        assert!(!key.is_current(), "is_current defaults to false");
        assert_eq!(verify(key, OPENSSL_SIGNATURE, OPENSSL_BODY), Ok(()));
        assert_eq!(
            verify(key, OPENSSL_SIGNATURE, &OPENSSL_BODY[1..]),
            Err(SignatureError::Mismatch)
        );
        // A P-384 key (OpenSSL's secp384r1) is refused when the document is read.
        let p384 = "-----BEGIN PUBLIC KEY-----
MHYwEAYHKoZIzj0CAQYFK4EEACIDYgAEsBAoTpXbWBnCAVrkn7cyP4/BAtdXnPPV
ri9bkQW0LTBijUrwCqzjQcwLoxJrjMkrvJ2/saOq4asj5IRvr2NyoRHIl9vI6VWR
OJnM4Hc5Uy/tWr8jQVpdPpWSnUVn1RD2
-----END PUBLIC KEY-----
";
        let entry = serde_json::json!({"key_identifier": "p384", "key": p384});
        let e = ScannerKeys::parse(&document(&[&entry])).unwrap_err();
        assert!(e.0.contains("not an ECDSA P-256 key"), "{e}");
    }

    #[test]
    fn leak_report_signature_by_another_key_fails() {
        let (_, entry_a) = key_pair("aaa");
        let (b, _) = key_pair("bbb");
        let keys = ScannerKeys::parse(&document(&[&entry_a])).unwrap();
        assert_eq!(
            verify(keys.get("aaa").unwrap(), &sign(&b, BODY), BODY),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn leak_report_signature_that_is_not_base64_or_not_der_fails() {
        let (a, entry) = key_pair("aaa");
        let keys = ScannerKeys::parse(&document(&[&entry])).unwrap();
        let key = keys.get("aaa").unwrap();
        assert_eq!(
            verify(key, "not base64!!", BODY),
            Err(SignatureError::NotBase64)
        );
        assert_eq!(verify(key, "", BODY), Err(SignatureError::Mismatch));
        // The same signature as fixed-width r‖s instead of DER: refused.
        let fixed = EcdsaKeyPair::from_private_key_der(
            &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            a.private_key().as_der().unwrap().as_ref(),
        )
        .unwrap();
        let raw = fixed.sign(&SystemRandom::new(), BODY).unwrap();
        assert_eq!(raw.as_ref().len(), 64);
        let raw = base64::engine::general_purpose::STANDARD.encode(raw.as_ref());
        assert_eq!(verify(key, &raw, BODY), Err(SignatureError::Mismatch));
        // Bytes that are DER-ish but cut short: refused.
        let good = base64::engine::general_purpose::STANDARD
            .decode(sign(&a, BODY))
            .unwrap();
        let cut = base64::engine::general_purpose::STANDARD.encode(&good[..good.len() - 1]);
        assert_eq!(verify(key, &cut, BODY), Err(SignatureError::Mismatch));
    }

    #[test]
    fn leak_report_keys_documents_that_are_not_p256_keys_are_refused() {
        let (_, good) = key_pair("aaa");
        for (doc, fragment) in [
            (b"{}".to_vec(), "public_keys"),
            (b"not json".to_vec(), "public_keys"),
            (
                document(&[&serde_json::json!({"key_identifier": "x", "key": "hello"})]),
                "not a PEM public key",
            ),
            (
                document(&[&serde_json::json!({"key_identifier": "", "key": good["key"]})]),
                "key_identifier",
            ),
            (
                // A PEM block of the right kind holding something that is not a P-256 key.
                document(&[&serde_json::json!({"key_identifier": "x",
                    "key": "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"})]),
                "not an ECDSA P-256 key",
            ),
        ] {
            let e = ScannerKeys::parse(&doc).unwrap_err();
            assert!(e.0.contains(fragment), "{fragment}: {e}");
        }
        assert!(ScannerKeys::parse(&document(&[])).unwrap().is_empty());
    }

    #[test]
    fn leak_report_bodies_are_read_as_arrays_of_matches() {
        let found = parse_report(BODY).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].token, "CCIPAT_x");
        assert_eq!(found[0].kind, "circlet_personal_token");
        assert_eq!(
            found[0].whereabouts(),
            "in content at https://github.com/o/r/blob/abc/x.txt"
        );
        assert!(!format!("{:?}", found[0]).contains("CCIPAT_x"));

        // Only the token is required; nulls and missing fields are empty.
        let found = parse_report(
            br#"[{"token":"t","url":null},{"token":"u","source":"Issue_comment\u0007"}]"#,
        )
        .unwrap();
        assert_eq!(found[0].whereabouts(), "in a public place");
        assert_eq!(found[1].whereabouts(), "in issue comment");
        assert!(parse_report(b"[]").unwrap().is_empty());

        // An overlong URL is cut, control characters go.
        let long = format!(
            r#"[{{"token":"t","url":"https://x/{}\n"}}]"#,
            "a".repeat(2000)
        );
        let found = parse_report(long.as_bytes()).unwrap();
        assert_eq!(found[0].url.chars().count(), MAX_FIELD_CHARS);
        assert!(found[0].url.ends_with('…') && !found[0].url.contains('\n'));

        for bad in [
            &b"{\"token\":\"t\"}"[..],
            b"[{\"type\":\"x\"}]",
            b"[{\"token\":5}]",
            b"[",
            b"",
        ] {
            let e = parse_report(bad).unwrap_err();
            assert!(e.0.starts_with("A leak report is a JSON array"), "{e}");
        }
    }

    #[test]
    fn leak_report_published_pattern_and_checksum_recipe_match_every_token() {
        use crate::token::{NewToken, TokenKind, check};
        use sha2::{Digest, Sha256};
        let pattern = regex::Regex::new(&format!("^{TOKEN_PATTERN}$")).unwrap();
        for kind in TokenKind::ALL {
            for _ in 0..50 {
                let t = NewToken::generate(kind);
                let v = t.expose();
                assert!(pattern.is_match(v), "{kind:?} token does not match");
                // The recipe the README gives scanners.
                let sum = hex::encode(&Sha256::digest(&v.as_bytes()[..62])[..4]);
                assert_eq!(&v[62..], sum);
                // One checksum character changed: still the pattern, no longer a token.
                let mut bad = v.to_owned();
                bad.replace_range(69..70, if &v[69..] == "0" { "1" } else { "0" });
                assert!(pattern.is_match(&bad) && check(&bad).is_none());
            }
        }
        let readme = include_str!("../../../README.md");
        assert!(
            readme.contains(&format!("`{TOKEN_PATTERN}`")),
            "README publishes the pattern scanners use"
        );
    }

    #[test]
    fn leak_report_labels_are_spelled_as_scanners_expect() {
        assert_eq!(Label::TruePositive.as_str(), "true_positive");
        assert_eq!(Label::FalsePositive.as_str(), "false_positive");
    }
}
