//! Serving an artifact at `GET|HEAD /artifacts/{vcs}/{org}/{repo}/{build_num}/{node}/{*path}`:
//! the URL the artifact lists give out. Any credential form works (it is the API's `Caller`),
//! including `?circle-token=` appended by clients; the project's `ReadArtifacts` rule decides.
//!
//! The body is streamed from the object store. `Range` (one range) answers 206, an
//! unsatisfiable one 416; `ETag` (the SHA-256 of the bytes) and `Last-Modified` allow 304s.
//! Artifacts are whatever a build wrote, so nothing they contain may run on circlet's origin:
//! every response carries `X-Content-Type-Options: nosniff` and a sandboxing
//! `Content-Security-Policy`, and only passive types (plain text, images, JSON, media) are shown
//! inline; HTML, SVG, XML, scripts and everything else are attachments.

use crate::error::ApiError;
use crate::route::RouteParams;
use crate::state::AppState;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use circlet_app::Caller;
use circlet_app::artifacts::object_key;
use circlet_core::artifact_path::ArtifactPath;
use circlet_core::scope::Action;
use circlet_store::ArtifactRecord;
use futures_util::TryStreamExt;
use object_store::{GetOptions, GetRange};
use std::time::SystemTime;

/// Every artifact response's policy: no script, no plugins, no forms, same-origin sub-resources
/// for the passive types shown inline, as if the file came from an origin of its own.
const CSP: &str = "sandbox; default-src 'none'; img-src 'self' data:; media-src 'self'; style-src 'unsafe-inline'";

/// `GET`/`HEAD` of one artifact.
pub async fn serve(
    State(state): State<AppState>,
    caller: Caller,
    method: Method,
    params: Result<RouteParams, ApiError>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let params = params?;
    let (project, job) =
        crate::api::v1_builds::project_job(&state, &caller, &params, Action::ReadArtifacts).await?;
    let not_found = || ApiError::NotFound("Artifact not found".into());
    let node = params
        .get("node")
        .and_then(|n| n.parse::<i64>().ok())
        .filter(|n| *n >= 0)
        .ok_or_else(not_found)?;
    let path = ArtifactPath::parse(params.get("path").unwrap_or(""))?;
    let record = state
        .app
        .store
        .artifacts()
        .get(job.id, node, &path)
        .await?
        .ok_or_else(not_found)?;

    let etag = format!("\"{}\"", record.sha256);
    let modified: SystemTime = record.created_at.into();
    let mut response_headers = base_headers(&record, &etag, modified);
    if not_modified(&headers, &etag, modified) {
        return Ok((StatusCode::NOT_MODIFIED, response_headers).into_response());
    }
    let size = u64::try_from(record.size).unwrap_or(0);
    let range = match requested_range(&headers, &etag, modified, size) {
        Ranged::Whole => None,
        Ranged::Part(start, end) => Some((start, end)),
        Ranged::Unsatisfiable => {
            response_headers.insert(
                header::CONTENT_RANGE,
                HeaderValue::from_str(&format!("bytes */{size}")).expect("ASCII"),
            );
            let mut r = ApiError::Rejected(
                StatusCode::RANGE_NOT_SATISFIABLE,
                format!("The range asked for lies outside the artifact's {size} bytes"),
            )
            .into_response();
            for (k, v) in [header::CONTENT_RANGE, header::ACCEPT_RANGES]
                .iter()
                .filter_map(|k| response_headers.get(k).map(|v| (k.clone(), v.clone())))
            {
                r.headers_mut().insert(k, v);
            }
            return Ok(r);
        }
    };
    let (status, length) = match range {
        Some((start, end)) => {
            response_headers.insert(
                header::CONTENT_RANGE,
                HeaderValue::from_str(&format!("bytes {start}-{end}/{size}")).expect("ASCII"),
            );
            (StatusCode::PARTIAL_CONTENT, end - start + 1)
        }
        None => (StatusCode::OK, size),
    };
    response_headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    if method == Method::HEAD || length == 0 {
        return Ok((status, response_headers).into_response());
    }

    let key = object_key(&project, job.build_num, node, &record.path);
    let body = object_body(&state, &key, range, length).await?;
    Ok((status, response_headers, body).into_response())
}

/// The bytes of the object `key` (an artifact or an archive), all of them or `range` (first and
/// last byte), `length` bytes in all, streamed from the object store.
pub(crate) async fn object_body(
    state: &AppState,
    key: &object_store::path::Path,
    range: Option<(u64, u64)>,
    length: u64,
) -> Result<Body, ApiError> {
    if let Some(local) = &state.app.config.artifacts.local {
        let start = range.map_or(0, |(start, _)| start);
        return local_file(local, key, start, length).await;
    }
    let options = GetOptions {
        range: range.map(|(start, end)| GetRange::Bounded(start..end + 1)),
        ..GetOptions::default()
    };
    let got = match state
        .app
        .config
        .artifacts
        .store
        .get_opts(key, options)
        .await
    {
        Ok(got) => got,
        Err(object_store::Error::NotFound { .. }) => {
            tracing::warn!(%key, "an object is recorded but missing from the store");
            return Err(ApiError::NotFound("Not found in the artifact store".into()));
        }
        Err(e) => {
            return Err(ApiError::Internal(
                anyhow::Error::new(e).context("could not read from the artifact store"),
            ));
        }
    };
    let stream = got.into_stream().map_err(std::io::Error::other);
    Ok(Body::from_stream(stream))
}

/// How much of a local artifact file is read at a time.
const LOCAL_CHUNK: usize = 1 << 20;

/// `length` bytes from `start` of the local file holding `key`, streamed in [`LOCAL_CHUNK`]s.
async fn local_file(
    local: &object_store::local::LocalFileSystem,
    key: &object_store::path::Path,
    start: u64,
    length: u64,
) -> Result<Body, ApiError> {
    use tokio::io::{AsyncReadExt, AsyncSeekExt};
    let path = local.path_to_filesystem(key).map_err(|e| {
        ApiError::Internal(anyhow::Error::new(e).context("an artifact key has no file path"))
    })?;
    let mut file = match tokio::fs::File::open(&path).await {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            tracing::warn!(key = %key, "an object is recorded but its file is missing");
            return Err(ApiError::NotFound("Not found in the artifact store".into()));
        }
        Err(e) => {
            return Err(ApiError::Internal(
                anyhow::Error::new(e).context("could not open an artifact"),
            ));
        }
    };
    if start > 0 {
        file.seek(std::io::SeekFrom::Start(start))
            .await
            .map_err(|e| {
                ApiError::Internal(anyhow::Error::new(e).context("seek in an artifact"))
            })?;
    }
    let reader = file.take(length);
    Ok(Body::from_stream(
        tokio_util::io::ReaderStream::with_capacity(reader, LOCAL_CHUNK),
    ))
}

/// The headers every answer about this artifact carries (200, 206, 304, HEAD).
fn base_headers(record: &ArtifactRecord, etag: &str, modified: SystemTime) -> HeaderMap {
    let mut h = HeaderMap::new();
    let (content_type, inline) = presentation(&record.content_type);
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(&content_type)
            .unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    h.insert(
        header::CONTENT_DISPOSITION,
        disposition(inline, record.path.file_name()),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Ok(v) = HeaderValue::from_str(etag) {
        h.insert(header::ETAG, v);
    }
    if let Ok(v) = HeaderValue::from_str(&httpdate::fmt_http_date(modified)) {
        h.insert(header::LAST_MODIFIED, v);
    }
    // Private projects' artifacts must not sit in shared caches; clients revalidate with the ETag.
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-cache"),
    );
    h
}

/// The `Content-Type` to send and whether a browser may show it inline. Only types that cannot
/// carry script are inline; text is sent as UTF-8 plain text whatever its flavour.
fn presentation(stored: &str) -> (String, bool) {
    let essence = stored
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let passive_image = matches!(
        essence.as_str(),
        "image/png" | "image/jpeg" | "image/gif" | "image/webp" | "image/avif" | "image/bmp"
    );
    match essence.as_str() {
        "text/plain" | "text/csv" | "text/markdown" | "text/x-log" => {
            (format!("{essence}; charset=utf-8"), true)
        }
        "application/json" => (essence, true),
        _ if passive_image => (essence, true),
        _ if essence.starts_with("audio/") || essence.starts_with("video/") => (essence, true),
        // HTML, XHTML, SVG, XML, JavaScript, PDF, and anything unknown: a download.
        _ if essence.is_empty() => ("application/octet-stream".into(), false),
        _ => (essence, false),
    }
}

/// `inline` or `attachment`, with the file name (ASCII fallback and RFC 8187 UTF-8 form).
fn disposition(inline: bool, name: &str) -> HeaderValue {
    let kind = if inline { "inline" } else { "attachment" };
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut encoded = String::new();
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            encoded.push(b as char);
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    HeaderValue::from_str(&format!(
        "{kind}; filename=\"{ascii}\"; filename*=UTF-8''{encoded}"
    ))
    .unwrap_or(HeaderValue::from_static("attachment"))
}

/// Whether the client's copy is current: `If-None-Match` when sent (weak comparison, `*`),
/// otherwise `If-Modified-Since` at one-second resolution.
fn not_modified(headers: &HeaderMap, etag: &str, modified: SystemTime) -> bool {
    if let Some(inm) = headers.get(header::IF_NONE_MATCH) {
        let Ok(inm) = inm.to_str() else { return false };
        return inm
            .split(',')
            .map(str::trim)
            .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == etag);
    }
    headers
        .get(header::IF_MODIFIED_SINCE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| httpdate::parse_http_date(v).ok())
        .is_some_and(|since| modified <= since)
}

/// What a `Range` header asks for.
#[derive(Debug, PartialEq, Eq)]
enum Ranged {
    /// No usable range (none, several, not bytes, a stale `If-Range`): the whole artifact.
    Whole,
    /// Bytes `start..=end`.
    Part(u64, u64),
    /// A single range that lies wholly outside the artifact.
    Unsatisfiable,
}

fn requested_range(headers: &HeaderMap, etag: &str, modified: SystemTime, size: u64) -> Ranged {
    let Some(raw) = headers.get(header::RANGE).and_then(|v| v.to_str().ok()) else {
        return Ranged::Whole;
    };
    if let Some(if_range) = headers.get(header::IF_RANGE).and_then(|v| v.to_str().ok()) {
        let current = if if_range.trim().starts_with('"') {
            if_range.trim() == etag
        } else {
            httpdate::parse_http_date(if_range).is_ok_and(|d| modified <= d)
        };
        if !current {
            return Ranged::Whole;
        }
    }
    parse_range(raw, size)
}

/// One `bytes=` range against an artifact of `size` bytes (RFC 9110 §14.1.2). Several ranges
/// are answered with the whole artifact, as the RFC allows.
fn parse_range(raw: &str, size: u64) -> Ranged {
    let Some(spec) = raw.trim().strip_prefix("bytes=") else {
        return Ranged::Whole;
    };
    if spec.contains(',') {
        return Ranged::Whole;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return Ranged::Whole;
    };
    let (first, last) = (first.trim(), last.trim());
    let num = |s: &str| {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<u64>().ok())
            .flatten()
    };
    if first.is_empty() {
        // A suffix: the last N bytes.
        return match num(last) {
            Some(0) => Ranged::Unsatisfiable,
            Some(_) if size == 0 => Ranged::Unsatisfiable,
            Some(n) => Ranged::Part(size.saturating_sub(n), size - 1),
            None => Ranged::Whole,
        };
    }
    let Some(start) = num(first) else {
        return Ranged::Whole;
    };
    let end = if last.is_empty() {
        None
    } else {
        match num(last) {
            Some(end) if end >= start => Some(end),
            _ => return Ranged::Whole,
        }
    };
    if start >= size {
        return Ranged::Unsatisfiable;
    }
    Ranged::Part(start, end.map_or(size - 1, |e| e.min(size - 1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_follow_rfc_9110() {
        use Ranged::*;
        assert_eq!(parse_range("bytes=0-9", 100), Part(0, 9));
        assert_eq!(parse_range("bytes=90-", 100), Part(90, 99));
        assert_eq!(parse_range("bytes=90-500", 100), Part(90, 99));
        assert_eq!(parse_range("bytes=-10", 100), Part(90, 99));
        assert_eq!(parse_range("bytes=-500", 100), Part(0, 99));
        assert_eq!(parse_range("bytes=100-", 100), Unsatisfiable);
        assert_eq!(parse_range("bytes=100-200", 100), Unsatisfiable);
        assert_eq!(parse_range("bytes=-0", 100), Unsatisfiable);
        assert_eq!(parse_range("bytes=0-", 0), Unsatisfiable);
        assert_eq!(parse_range("bytes=5-1", 100), Whole);
        assert_eq!(parse_range("bytes=0-1,5-6", 100), Whole);
        assert_eq!(parse_range("items=0-1", 100), Whole);
        assert_eq!(parse_range("bytes=x-1", 100), Whole);
        assert_eq!(parse_range("bytes=+1-2", 100), Whole);
    }

    #[test]
    fn only_passive_types_are_inline() {
        for (stored, sent, inline) in [
            ("text/plain", "text/plain; charset=utf-8", true),
            ("image/png", "image/png", true),
            ("application/json", "application/json", true),
            ("text/html", "text/html", false),
            ("image/svg+xml", "image/svg+xml", false),
            ("application/xhtml+xml", "application/xhtml+xml", false),
            ("text/xml", "text/xml", false),
            ("text/javascript", "text/javascript", false),
            ("application/pdf", "application/pdf", false),
            (
                "application/octet-stream",
                "application/octet-stream",
                false,
            ),
            ("", "application/octet-stream", false),
        ] {
            assert_eq!(presentation(stored), (sent.to_owned(), inline), "{stored}");
        }
    }

    #[test]
    fn file_names_are_quoted_safely() {
        let v = disposition(false, "a \"b\"\\ü.html");
        assert_eq!(
            v.to_str().unwrap(),
            "attachment; filename=\"a _b___.html\"; filename*=UTF-8''a%20%22b%22%5C%C3%BC.html"
        );
    }

    #[test]
    fn validators_match_weakly_and_by_date() {
        let etag = "\"abc\"";
        let t = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        let h = |k: header::HeaderName, v: &str| {
            let mut m = HeaderMap::new();
            m.insert(k, HeaderValue::from_str(v).unwrap());
            m
        };
        assert!(not_modified(
            &h(header::IF_NONE_MATCH, "\"x\", W/\"abc\""),
            etag,
            t
        ));
        assert!(not_modified(&h(header::IF_NONE_MATCH, "*"), etag, t));
        assert!(!not_modified(&h(header::IF_NONE_MATCH, "\"x\""), etag, t));
        let date = httpdate::fmt_http_date(t);
        assert!(not_modified(&h(header::IF_MODIFIED_SINCE, &date), etag, t));
        let earlier = httpdate::fmt_http_date(t - std::time::Duration::from_secs(1));
        assert!(!not_modified(
            &h(header::IF_MODIFIED_SINCE, &earlier),
            etag,
            t
        ));
    }
}
