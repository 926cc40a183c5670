//! The API token format: what a token looks like, how one is made, and how a string is checked
//! before anything is looked up.
//!
//! ```text
//! CCIPAT_ 4ZJ2kqgWf1Ku9Vv1oMT7AB _ 6a3f…(32 hex random)… 1c9e0d2a
//! prefix  22 base62, random        40 lowercase hex: 32 random + 8 checksum
//! ```
//!
//! The shape matches what public secret scanners already flag as CircleCI tokens. 22 base62
//! characters (≈131 bits) and 32 hex characters (128 bits) come from the OS CSPRNG. The last 8
//! hex characters are the first 4 bytes of SHA-256 over everything before them, so a mistyped or
//! made-up token is refused without a store lookup (a random string passes with odds 2⁻³²).
//! Prefixes are part of every issued token: never change one.

use crate::secret::random_bytes;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use std::fmt;

/// What a token belongs to, told by its prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenKind {
    /// A personal API token: acts as its user.
    Personal,
    /// A project API token: read-only, one project, one scope.
    Project,
    /// A runner token: claims and runs jobs.
    Runner,
}

impl TokenKind {
    /// Every kind.
    pub const ALL: [TokenKind; 3] = [TokenKind::Personal, TokenKind::Project, TokenKind::Runner];

    /// The prefix every token of this kind starts with.
    pub fn prefix(self) -> &'static str {
        match self {
            TokenKind::Personal => "CCIPAT_",
            TokenKind::Project => "CCIPRJ_",
            TokenKind::Runner => "CCIRUN_",
        }
    }

    /// The stored name of the kind.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenKind::Personal => "personal",
            TokenKind::Project => "project",
            TokenKind::Runner => "runner",
        }
    }

    /// The kind named `raw` as stored.
    pub fn parse(raw: &str) -> Option<TokenKind> {
        TokenKind::ALL.into_iter().find(|k| k.as_str() == raw)
    }
}

const ID_LEN: usize = 22;
const HEX_LEN: usize = 40;
const CHECK_HEX: usize = 8;
const PREFIX_LEN: usize = 7;
/// The length of every token.
pub const TOKEN_LEN: usize = PREFIX_LEN + ID_LEN + 1 + HEX_LEN;
const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A token's name (personal) or label (project): 1–100 characters after trimming, no control
/// characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenName(String);

impl TokenName {
    /// Validates `raw`; `what` names the field in the error ("name" or "label").
    pub fn parse(raw: &str, what: &str) -> Result<Self, crate::Invalid> {
        let name = raw.trim();
        let n = name.chars().count();
        if n == 0 || n > 100 {
            return Err(crate::Invalid::new(format!(
                "{what} must be 1 to 100 characters"
            )));
        }
        if name.chars().any(char::is_control) {
            return Err(crate::Invalid::new(format!(
                "{what} must not contain control characters"
            )));
        }
        Ok(TokenName(name.to_owned()))
    }

    /// The name, trimmed.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// SHA-256 of a token: the only form in which a token is stored.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenDigest(pub [u8; 32]);

impl TokenDigest {
    /// The digest as 64 lowercase hex characters.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Debug for TokenDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenDigest({}…)", &self.to_hex()[..8])
    }
}

/// A token value, as handed to its owner once. `Debug` prints nothing of it.
pub struct NewToken {
    value: SecretString,
    kind: TokenKind,
}

impl NewToken {
    /// Makes a fresh token of `kind` from the OS CSPRNG.
    pub fn generate(kind: TokenKind) -> NewToken {
        let mut s = String::with_capacity(TOKEN_LEN);
        s.push_str(kind.prefix());
        // Rejection sampling keeps every base62 character uniformly likely.
        while s.len() < PREFIX_LEN + ID_LEN {
            for b in random_bytes::<32>() {
                if b < 248 && s.len() < PREFIX_LEN + ID_LEN {
                    s.push(BASE62[(b % 62) as usize] as char);
                }
            }
        }
        s.push('_');
        s.push_str(&hex::encode(random_bytes::<16>()));
        let check = checksum(&s);
        s.push_str(&check);
        NewToken {
            value: SecretString::from(s),
            kind,
        }
    }

    /// A value made and shown before, to show on the page a creation form redirected to (the
    /// value travels there sealed, never stored); `None` when `value` is not a token's shape
    /// and checksum.
    pub fn from_value(value: String) -> Option<NewToken> {
        let kind = check(&value)?.kind;
        Some(NewToken {
            value: SecretString::from(value),
            kind,
        })
    }

    /// The token value, to show once.
    pub fn expose(&self) -> &str {
        self.value.expose_secret()
    }

    /// The kind.
    pub fn kind(&self) -> TokenKind {
        self.kind
    }

    /// What is stored.
    pub fn digest(&self) -> TokenDigest {
        digest(self.expose())
    }

    /// The last 4 characters, stored for display.
    pub fn last4(&self) -> String {
        last4(self.expose())
    }
}

impl fmt::Debug for NewToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NewToken({:?}, [redacted])", self.kind)
    }
}

/// A string that has the shape and checksum of a token: worth a store lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckedToken {
    /// The kind its prefix names.
    pub kind: TokenKind,
    /// Its digest, to look up.
    pub digest: TokenDigest,
}

/// Checks `raw` without any lookup: prefix, length, alphabet, checksum.
/// `None` for anything that cannot be a token circlet issued.
pub fn check(raw: &str) -> Option<CheckedToken> {
    let bytes = raw.as_bytes();
    if bytes.len() != TOKEN_LEN {
        return None;
    }
    let kind = TokenKind::ALL
        .into_iter()
        .find(|k| raw.starts_with(k.prefix()))?;
    let id = &bytes[PREFIX_LEN..PREFIX_LEN + ID_LEN];
    let sep = bytes[PREFIX_LEN + ID_LEN];
    let tail = &bytes[PREFIX_LEN + ID_LEN + 1..];
    let hex_ok = |b: &u8| b.is_ascii_digit() || (b'a'..=b'f').contains(b);
    if sep != b'_' || !id.iter().all(u8::is_ascii_alphanumeric) || !tail.iter().all(hex_ok) {
        return None;
    }
    let (body, check) = raw.split_at(TOKEN_LEN - CHECK_HEX);
    if !crate::secret::constant_time_eq(checksum(body).as_bytes(), check.as_bytes()) {
        return None;
    }
    Some(CheckedToken {
        kind,
        digest: digest(raw),
    })
}

/// The longest a token is, in bytes: how much of earlier text a scan of a stream must keep.
pub const MAX_TOKEN_LEN: usize = TOKEN_LEN;

/// Every token circlet could have issued inside `text` (shape and checksum hold), with its byte
/// range: what the leak guard looks up and what output masking hides. Strings that merely
/// start like a token but fail the checksum are not reported.
pub fn find_in(text: &str) -> Vec<(std::ops::Range<usize>, CheckedToken)> {
    let mut found = Vec::new();
    let bytes = text.as_bytes();
    let mut at = 0;
    while at + TOKEN_LEN <= bytes.len() {
        let Some(offset) = text[at..].find("CCI") else {
            break;
        };
        let start = at + offset;
        let end = start + TOKEN_LEN;
        // No word-boundary rule: the checksum already rules out chance matches, and a token
        // glued to other text (`echo ${T}x`) must be caught all the same.
        if end <= bytes.len()
            && text.is_char_boundary(end)
            && let Some(checked) = check(&text[start..end])
        {
            found.push((start..end, checked));
            at = end;
            continue;
        }
        at = start + 3;
    }
    found
}

/// SHA-256 of a token value.
pub fn digest(raw: &str) -> TokenDigest {
    TokenDigest(Sha256::digest(raw.as_bytes()).into())
}

/// The last 4 characters of a token value.
pub fn last4(raw: &str) -> String {
    raw[raw.len().saturating_sub(4)..].to_owned()
}

fn checksum(body: &str) -> String {
    hex::encode(&Sha256::digest(body.as_bytes())[..CHECK_HEX / 2])
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn tokens_are_found_in_surrounding_text() {
        let a = NewToken::generate(TokenKind::Personal);
        let b = NewToken::generate(TokenKind::Project);
        let text = format!(
            "export T={}\nCCIPAT_not_a_token and 'é{}' done",
            a.expose(),
            b.expose()
        );
        let found = find_in(&text);
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!(&text[found[0].0.clone()], a.expose());
        assert_eq!(found[0].1.digest, a.digest());
        assert_eq!(&text[found[1].0.clone()], b.expose());
        // One character changed: the checksum fails, nothing is reported.
        let mut typo = a.expose().to_owned();
        typo.replace_range(10..11, if &typo[10..11] == "a" { "b" } else { "a" });
        assert!(find_in(&typo).is_empty());
        // Glued to other text: still found.
        let glued = format!("x{}y", a.expose());
        assert_eq!(find_in(&glued).len(), 1);
        assert!(find_in("").is_empty());
    }

    #[test]
    fn generated_tokens_have_the_scanner_shape_and_check() {
        for kind in TokenKind::ALL {
            let t = NewToken::generate(kind);
            let v = t.expose();
            assert_eq!(v.len(), TOKEN_LEN);
            assert!(v.starts_with(kind.prefix()));
            let (id, hex) = v[7..].split_once('_').unwrap();
            assert_eq!(id.len(), 22);
            assert!(id.chars().all(|c| c.is_ascii_alphanumeric()));
            assert_eq!(hex.len(), 40);
            assert!(
                hex.chars()
                    .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
            );
            let checked = check(v).expect("a generated token checks");
            assert_eq!(checked.kind, kind);
            assert_eq!(checked.digest, t.digest());
            assert_eq!(t.last4(), &v[v.len() - 4..]);
            assert!(!format!("{t:?}").contains(v));
        }
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(TokenName::parse("  ci  ", "name").unwrap().as_str(), "ci");
        assert!(
            TokenName::parse(" ", "label")
                .unwrap_err()
                .0
                .starts_with("label")
        );
        assert!(TokenName::parse(&"x".repeat(101), "name").is_err());
        assert!(TokenName::parse(&"é".repeat(100), "name").is_ok());
        assert!(TokenName::parse("a\nb", "name").is_err());
    }

    #[test]
    fn tokens_are_distinct() {
        let a = NewToken::generate(TokenKind::Personal);
        let b = NewToken::generate(TokenKind::Personal);
        assert_ne!(a.expose(), b.expose());
    }

    #[test]
    fn malformed_strings_are_refused() {
        let good = NewToken::generate(TokenKind::Project).expose().to_owned();
        assert!(check(&good).is_some());
        for bad in [
            String::new(),
            good[..good.len() - 1].to_owned(),
            format!("{good}0"),
            good.replacen("CCIPRJ_", "CCIXXX_", 1),
            good.to_uppercase(),
            good.replacen('_', "-", 2),
            format!("{}é", &good[..good.len() - 2]),
        ] {
            assert!(check(&bad).is_none(), "{bad:?} passed");
        }
    }

    proptest! {
        #[test]
        fn any_single_character_change_is_caught(pos in 0usize..TOKEN_LEN, c in proptest::char::range('0', 'z')) {
            let good = NewToken::generate(TokenKind::Personal).expose().to_owned();
            let mut bytes = good.clone().into_bytes();
            prop_assume!(bytes[pos] != c as u8);
            bytes[pos] = c as u8;
            let changed = String::from_utf8(bytes).unwrap();
            // A change may turn the prefix into another kind's, never into a valid token.
            prop_assert!(check(&changed).is_none());
        }

        #[test]
        fn checking_never_panics(raw in "\\PC{0,80}") {
            let _ = check(&raw);
        }
    }
}
