//! No page of circlet's may be shown inside another site's frame (clickjacking: a button of an
//! admin page under a decoy): every response says so twice, with `X-Frame-Options: DENY` for
//! older browsers and CSP `frame-ancestors 'none'` for the rest.
//!
//! A response that already has a Content-Security-Policy (artifact downloads sandbox theirs)
//! keeps it whole, with `frame-ancestors 'none'` added unless it names its own.

use axum::extract::Request;
use axum::http::header::{CONTENT_SECURITY_POLICY, X_FRAME_OPTIONS};
use axum::http::{HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;

const FRAME_ANCESTORS: &str = "frame-ancestors 'none'";

/// Middleware: adds the two headers to every response.
pub async fn deny(req: Request, next: Next) -> Response {
    let mut response = next.run(req).await;
    add_headers(response.headers_mut());
    response
}

fn add_headers(headers: &mut HeaderMap) {
    headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    let policy = match headers
        .get(CONTENT_SECURITY_POLICY)
        .map(HeaderValue::to_str)
    {
        None => HeaderValue::from_static(FRAME_ANCESTORS),
        Some(Ok(own)) if own.to_ascii_lowercase().contains("frame-ancestors") => return,
        Some(Ok(own)) => {
            let own = own.trim().trim_end_matches(';').trim_end();
            match HeaderValue::from_str(&format!("{own}; {FRAME_ANCESTORS}")) {
                Ok(v) => v,
                Err(_) => return,
            }
        }
        // A policy that is not text is left as it is; X-Frame-Options still applies.
        Some(Err(_)) => return,
    };
    headers.insert(CONTENT_SECURITY_POLICY, policy);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn after(csp: Option<&'static str>) -> (String, Option<String>) {
        let mut h = HeaderMap::new();
        if let Some(csp) = csp {
            h.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(csp));
        }
        add_headers(&mut h);
        (
            h[X_FRAME_OPTIONS].to_str().unwrap().to_owned(),
            h.get(CONTENT_SECURITY_POLICY)
                .map(|v| v.to_str().unwrap().to_owned()),
        )
    }

    #[test]
    fn policies_are_merged_not_replaced() {
        let cases = [
            (None, "frame-ancestors 'none'"),
            (
                Some("sandbox; default-src 'none';"),
                "sandbox; default-src 'none'; frame-ancestors 'none'",
            ),
            (
                Some("default-src 'self'; frame-ancestors 'self'"),
                "default-src 'self'; frame-ancestors 'self'",
            ),
        ];
        for (own, merged) in cases {
            assert_eq!(after(own), ("DENY".into(), Some(merged.into())), "{own:?}");
        }
    }
}
