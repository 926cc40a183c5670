//! Redaction of secrets in a URL before it reaches a log line: secret-looking query parameters,
//! and anything shaped like an API token wherever it sits (a path segment, another parameter).

/// The value written in place of a redacted parameter.
pub const REDACTED: &str = "[redacted]";

/// Whether a query parameter name looks like it carries a secret (`circle-token`, `password`,
/// `api_key`, the setup `code`, …). Errs on the side of redacting.
pub fn is_secret_param(name: &str) -> bool {
    let name = percent_decode(name).to_ascii_lowercase();
    const NEEDLES: [&str; 9] = [
        "token",
        "password",
        "passwd",
        "secret",
        "key",
        "code",
        "signature",
        "auth",
        "session",
    ];
    NEEDLES.iter().any(|n| name.contains(n))
}

/// Whether `raw`, percent-decoded, holds something that starts like a circlet API token (a
/// token prefix, in any case): a whole token, a mistyped one, or one nested in another value
/// such as the login page's `next`.
pub fn holds_token(raw: &str) -> bool {
    let decoded = percent_decode(raw).to_ascii_uppercase();
    crate::token::TokenKind::ALL
        .iter()
        .any(|k| decoded.contains(k.prefix()))
}

/// Returns `query` (without the leading `?`) with the value of every secret-looking parameter,
/// and of every parameter holding a token, replaced by [`REDACTED`]. Names, order and other
/// values are kept as they came.
pub fn redact_query(query: &str) -> String {
    query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, value)) if is_secret_param(name) || holds_token(value) => {
                format!("{name}={REDACTED}")
            }
            _ if holds_token(pair) => REDACTED.to_owned(),
            _ => pair.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// Returns `path` with every segment that holds a token replaced by [`REDACTED`]: the v1.1 API
/// accepts a project token's value in place of its id (`DELETE …/token/:token`).
pub fn redact_path(path: &str) -> String {
    path.split('/')
        .map(|segment| {
            if holds_token(segment) {
                REDACTED
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Minimal `%XX` and `+` decoding, enough to see through `circle%2Dtoken`.
fn percent_decode(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                match std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn secret_values_are_redacted_and_the_rest_kept() {
        assert_eq!(
            redact_query("branch=main&circle-token=CCIPAT_abc&limit=5"),
            "branch=main&circle-token=[redacted]&limit=5"
        );
        assert_eq!(
            redact_query("Circle%2DToken=x"),
            "Circle%2DToken=[redacted]"
        );
        assert_eq!(
            redact_query("code=123&api_key=9&password=p"),
            "code=[redacted]&api_key=[redacted]&password=[redacted]"
        );
        assert_eq!(redact_query("flag&x=1"), "flag&x=1");
        assert_eq!(redact_query(""), "");
    }

    #[test]
    fn token_shaped_values_are_redacted_wherever_they_sit() {
        let t = crate::token::NewToken::generate(crate::token::TokenKind::Project);
        let t = t.expose();
        assert_eq!(
            redact_path(&format!("/api/v1.1/project/gh/a/b/token/{t}")),
            "/api/v1.1/project/gh/a/b/token/[redacted]"
        );
        let encoded = t.replace('_', "%5F").to_ascii_lowercase();
        assert_eq!(redact_path(&format!("/x/{encoded}/y")), "/x/[redacted]/y");
        assert_eq!(redact_path("/projects/gh/a/b"), "/projects/gh/a/b");
        assert_eq!(
            redact_query(&format!("next=%2Faccount%3Fcircle-token%3D{t}&x=1")),
            "next=[redacted]&x=1"
        );
        assert_eq!(redact_query(&format!("{t}&x=1")), "[redacted]&x=1");
    }

    proptest! {
        #[test]
        fn a_token_value_never_survives(prefix in "[a-z=&]{0,20}", value in "[A-Za-z0-9_]{8,40}") {
            let q = format!("{prefix}&circle-token={value}");
            let needle = format!("={}", value);
            prop_assert!(!redact_query(&q).contains(&needle));
        }

        #[test]
        fn decoding_never_panics(raw in "\\PC{0,40}") {
            let _ = redact_query(&raw);
            let _ = redact_path(&raw);
        }
    }
}
