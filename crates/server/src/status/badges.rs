//! Status badges (`.svg`, `.png`): the latest finished job of a branch as an image.
//!
//! Every answer is an image, refusals included, so an `<img>` always renders something:
//! - 200: the branch's look (passed, failed, canceled, no builds), with an `ETag`;
//!   `If-None-Match` with that tag gets 304 and no body.
//! - 404: a grey "unknown" badge, byte for byte the same for a project that does not exist and
//!   for one the caller may not see (a slug cannot be probed through its badge).
//! - 401 (invalid or expired token), 403 (a token whose scope does not cover status), 400 (two
//!   different tokens) and 429 (throttled): a grey "no access" badge with that status. Saying
//!   so reveals nothing: a 401 comes before any project lookup, and a 403 only goes to callers
//!   who can see the project anyway.
//! - 503/500: the grey "unknown" badge with that status.
//!
//! All carry `Cache-Control: no-cache`: GitHub's image proxy caches badges otherwise.

use crate::auth::access::authorize_project;
use crate::auth::caller::Caller;
use crate::error::ApiError;
use crate::state::AppState;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, ETAG, IF_NONE_MATCH, RETRY_AFTER};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use circlet_core::ProjectSlug;
use circlet_core::badge::{self, BadgeLook, BadgeStyle};
use circlet_core::scope::Action;
use resvg::{tiny_skia, usvg};
use sha2::{Digest, Sha256};
use std::sync::{Arc, LazyLock};

/// The fonts PNG badges are drawn with: the embedded DejaVu Sans subset and nothing from the
/// host, so a PNG is the same on every machine, fonts installed or not.
static FONTS: LazyLock<Arc<usvg::fontdb::Database>> = LazyLock::new(|| {
    let mut db = usvg::fontdb::Database::new();
    db.load_font_data(include_bytes!("../../assets/fonts/DejaVuSans-ascii.ttf").to_vec());
    db.load_font_data(include_bytes!("../../assets/fonts/DejaVuSans-Bold-ascii.ttf").to_vec());
    Arc::new(db)
});

/// The badge of `branch` (`None`: the default branch) of the project at `slug` (`None`: a
/// path that is no slug, answered like an unknown project).
pub(super) async fn serve(
    state: &AppState,
    caller: Result<Caller, ApiError>,
    slug: Option<ProjectSlug>,
    branch: Option<String>,
    png: bool,
    style: BadgeStyle,
    headers: &HeaderMap,
) -> Response {
    let (status, look, retry_after) = match look_of(state, caller, slug, branch).await {
        Ok(look) => (StatusCode::OK, look, None),
        Err(e) => refusal(e),
    };
    let badge = badge::render(look, style);
    let mut response = if status == StatusCode::OK {
        let tag = etag(&badge.svg, png);
        let mut r = if if_none_match(headers, &tag) {
            StatusCode::NOT_MODIFIED.into_response()
        } else {
            image(&badge.svg, png)
        };
        if let Ok(v) = HeaderValue::from_str(&tag) {
            r.headers_mut().insert(ETAG, v);
        }
        r
    } else {
        let mut r = image(&badge.svg, png);
        *r.status_mut() = status;
        r
    };
    let h = response.headers_mut();
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Some(secs) = retry_after {
        h.insert(RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}

/// What the caller may know about the branch: its look, or why not.
async fn look_of(
    state: &AppState,
    caller: Result<Caller, ApiError>,
    slug: Option<ProjectSlug>,
    branch: Option<String>,
) -> Result<BadgeLook, ApiError> {
    let caller = caller?;
    let slug = slug.ok_or_else(|| ApiError::NotFound("Project not found".into()))?;
    // One query for the project and its status: a badge is the most requested URL there is.
    let (project, latest) = state
        .store
        .projects()
        .by_slug_with_badge_state(&slug, branch.as_deref())
        .await?
        .ok_or_else(|| ApiError::NotFound("Project not found".into()))?;
    authorize_project(state, &caller, project, Action::ReadStatus).await?;
    Ok(BadgeLook::of(latest))
}

/// The status and look of a refusal (see the module's documentation), and a `Retry-After`.
fn refusal(e: ApiError) -> (StatusCode, BadgeLook, Option<u64>) {
    let status = e.status();
    match e {
        ApiError::NotFound(_) | ApiError::Unavailable => (status, BadgeLook::Unknown, None),
        ApiError::Internal(cause) => {
            tracing::error!("internal error: {cause:#}");
            (status, BadgeLook::Unknown, None)
        }
        ApiError::TooManyRequests {
            retry_after_secs, ..
        } => (status, BadgeLook::NoAccess, Some(retry_after_secs)),
        _ => (status, BadgeLook::NoAccess, None),
    }
}

/// The entity tag of a badge: a digest of its SVG and format, so a PNG's tag is known before
/// it is drawn and a 304 costs no rasterizing.
fn etag(svg: &str, png: bool) -> String {
    let mut h = Sha256::new();
    h.update(if png { b"png\n" } else { b"svg\n" });
    h.update(svg.as_bytes());
    format!("\"{}\"", &hex::encode(h.finalize())[..24])
}

/// Whether `If-None-Match` names `tag` (weak or strong, in a list, or `*`).
fn if_none_match(headers: &HeaderMap, tag: &str) -> bool {
    headers
        .get_all(IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim())
        .any(|t| t == "*" || t.strip_prefix("W/").unwrap_or(t) == tag)
}

/// A 200 response with the badge as SVG or, drawn, as PNG.
fn image(svg: &str, png: bool) -> Response {
    if !png {
        return ([(CONTENT_TYPE, "image/svg+xml")], svg.to_owned()).into_response();
    }
    match rasterize(svg) {
        Ok(bytes) => ([(CONTENT_TYPE, "image/png")], bytes).into_response(),
        Err(e) => {
            // The SVGs are circlet's own; failing to draw one is a bug.
            tracing::error!("cannot draw a badge as PNG: {e}");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                [(CONTENT_TYPE, "image/svg+xml")],
                svg.to_owned(),
            )
                .into_response()
        }
    }
}

/// Draws `svg` at its own size (one pixel per SVG unit) and encodes it as PNG.
pub fn rasterize(svg: &str) -> Result<Vec<u8>, String> {
    let options = usvg::Options {
        fontdb: FONTS.clone(),
        font_family: badge::FONT_FAMILY.to_owned(),
        ..usvg::Options::default()
    };
    let tree = usvg::Tree::from_str(svg, &options).map_err(|e| e.to_string())?;
    let size = tree.size().to_int_size();
    let mut pixmap = tiny_skia::Pixmap::new(size.width(), size.height())
        .ok_or_else(|| "the badge has no area".to_owned())?;
    resvg::render(&tree, tiny_skia::Transform::default(), &mut pixmap.as_mut());
    pixmap.encode_png().map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_none_match_accepts_lists_weak_tags_and_star() {
        let tag = "\"abc\"";
        let with = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(IF_NONE_MATCH, HeaderValue::from_str(v).unwrap());
            h
        };
        assert!(if_none_match(&with("\"abc\""), tag));
        assert!(if_none_match(&with("\"x\", W/\"abc\""), tag));
        assert!(if_none_match(&with("*"), tag));
        assert!(!if_none_match(&with("\"abcd\""), tag));
        assert!(!if_none_match(&HeaderMap::new(), tag));
    }

    #[test]
    fn tags_differ_by_format_and_content() {
        let a = badge::render(BadgeLook::Passed, BadgeStyle::Svg).svg;
        let b = badge::render(BadgeLook::Failed, BadgeStyle::Svg).svg;
        assert_ne!(etag(&a, false), etag(&a, true));
        assert_ne!(etag(&a, false), etag(&b, false));
        assert_eq!(etag(&a, false), etag(&a, false));
    }

    #[test]
    fn the_embedded_fonts_draw_text() {
        // Text drawn in white over the green pill: some pixels right of the logo are white-ish.
        let b = badge::render(BadgeLook::Passed, BadgeStyle::Svg);
        let png = rasterize(&b.svg).unwrap();
        assert_eq!(&png[1..4], b"PNG");
        let fonts = FONTS.clone();
        let families: Vec<String> = fonts
            .faces()
            .flat_map(|f| f.families.iter().map(|(n, _)| n.clone()))
            .collect();
        assert!(
            families.iter().all(|f| f == badge::FONT_FAMILY),
            "{families:?}"
        );
        assert_eq!(fonts.len(), 2);
    }
}
