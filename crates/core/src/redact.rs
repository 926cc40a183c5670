//! Redaction of secret-looking query parameters before a URL reaches a log line.

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

/// Returns `query` (without the leading `?`) with the value of every secret-looking parameter
/// replaced by [`REDACTED`]. Names, order and other values are kept as they came.
pub fn redact_query(query: &str) -> String {
    query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, _)) if is_secret_param(name) => format!("{name}={REDACTED}"),
            _ => pair.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("&")
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
        }
    }
}
