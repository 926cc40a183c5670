//! `Circlet-Token-Expiration`: every response to a request authenticated by an API token that
//! expires says when (`2027-01-31 12:00:00 UTC`, the form GitHub's header uses), so scripts and
//! their logs notice a token running out before it does. A token without an expiry sends none.
//!
//! The layer puts an empty slot in each request; the [`circlet_app::Caller`] extractor fills it
//! when a token authenticates; the layer copies it into the response, whatever its status.

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::Response;
use std::sync::{Arc, OnceLock};
use time::OffsetDateTime;

/// The header's name.
pub const HEADER: &str = "circlet-token-expiration";

/// Where the extractor leaves the authenticating token's expiry.
#[derive(Clone, Default)]
struct Slot(Arc<OnceLock<OffsetDateTime>>);

/// The layer: a slot in, the header out.
pub async fn announce(mut request: Request, next: Next) -> Response {
    let slot = Slot::default();
    request.extensions_mut().insert(slot.clone());
    let mut response = next.run(request).await;
    if let Some(at) = slot.0.get()
        && let Ok(value) = HeaderValue::from_str(&format(*at))
    {
        response.headers_mut().insert(HEADER, value);
    }
    response
}

/// Records that the request was authenticated by a token expiring at `expires_at`.
pub(crate) fn note(parts: &Parts, expires_at: OffsetDateTime) {
    if let Some(slot) = parts.extensions.get::<Slot>() {
        let _ = slot.0.set(expires_at);
    }
}

/// `2027-01-31 12:00:00 UTC`.
pub fn format(at: OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_expiry_reads_as_github_writes_it() {
        let at = time::macros::datetime!(2027-01-31 12:00:05 +02:00);
        assert_eq!(format(at), "2027-01-31 10:00:05 UTC");
        let at = time::macros::datetime!(2026-03-04 05:06:07 UTC);
        assert_eq!(format(at), "2026-03-04 05:06:07 UTC");
    }
}
