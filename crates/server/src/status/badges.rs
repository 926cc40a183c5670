//! Status badges (`.svg`, `.png`): how the latest finished pipeline of a branch ended, as an image.
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
//!
//! A badge is the most requested URL there is, so its answer costs no database read and no
//! drawing in the common case: what the store said about a project and branch is remembered
//! ([`BadgeStates`]) until a job starts or ends or a project's settings change anywhere (the
//! store's project generation), and each of the few possible images is drawn once per process.

use crate::error::ApiError;
use crate::state::AppState;
use axum::body::Bytes;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, ETAG, IF_NONE_MATCH, RETRY_AFTER};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use circlet_app::AppError;
use circlet_app::Caller;
use circlet_app::memo::GenerationMemo;
use circlet_core::ProjectSlug;
use circlet_core::badge::{self, BadgeLook, BadgeStyle};
use circlet_core::build_state::JobState;
use circlet_core::scope::Action;
use circlet_store::{Project, ProjectGeneration};
use resvg::{tiny_skia, usvg};
use sha2::{Digest, Sha256};
use std::sync::{Arc, LazyLock, OnceLock};
use std::time::Duration;

/// The fonts PNG badges are drawn with: the embedded DejaVu Sans subset and nothing from the
/// host, so a PNG is the same on every machine, fonts installed or not.
static FONTS: LazyLock<Arc<usvg::fontdb::Database>> = LazyLock::new(|| {
    let mut db = usvg::fontdb::Database::new();
    db.load_font_data(include_bytes!("../../assets/fonts/DejaVuSans-ascii.ttf").to_vec());
    db.load_font_data(include_bytes!("../../assets/fonts/DejaVuSans-Bold-ascii.ttf").to_vec());
    Arc::new(db)
});

/// A project and how the latest finished pipeline on one of its branches ended.
type BadgeState = (Project, Option<JobState>);

/// What the store said lately about (project slug key, branch), by project generation.
pub struct BadgeStates(GenerationMemo<(String, Option<String>), BadgeState, ProjectGeneration>);

impl Default for BadgeStates {
    fn default() -> Self {
        // The time to live bounds staleness should a change ever go unannounced.
        BadgeStates(GenerationMemo::new(Duration::from_secs(60), 20_000))
    }
}

impl BadgeStates {
    /// How many (project, branch) states are remembered.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

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
    let drawn = Drawn::of(look, style);
    let mut response = if status == StatusCode::OK {
        let tag = drawn.etag(png);
        let mut r = if if_none_match(headers, tag) {
            StatusCode::NOT_MODIFIED.into_response()
        } else {
            drawn.image(png)
        };
        r.headers_mut().insert(ETAG, tag.clone());
        r
    } else {
        let mut r = drawn.image(png);
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
    let slug = slug.ok_or_else(AppError::project_not_found)?;
    let (project, latest) = badge_state(state, &slug, branch)
        .await?
        .ok_or_else(AppError::project_not_found)?;
    state
        .app
        .authorize_project(&caller, project, Action::ReadStatus)
        .await?;
    Ok(BadgeLook::of(latest))
}

/// The project at `slug` and its branch's latest finished state: from memory while nothing
/// ended or changed since it was read, else in one query. An unknown project is not
/// remembered (it may be created any moment, and guessed slugs must not fill memory).
async fn badge_state(
    state: &AppState,
    slug: &ProjectSlug,
    branch: Option<String>,
) -> Result<Option<BadgeState>, ApiError> {
    // The generation is read before the store, so a change committed during the read counts.
    let generation = state.app.store.project_generation();
    let read_branch = branch.clone();
    state
        .badge_states
        .0
        .get_or_read((slug.key(), branch), generation, || async move {
            let projects = state.app.store.projects();
            Ok(projects
                .by_slug_with_badge_state(slug, read_branch.as_deref())
                .await?)
        })
        .await
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

/// One badge image, drawn once per process: its SVG, its tags, and its PNG when first asked for.
struct Drawn {
    svg: Bytes,
    svg_tag: HeaderValue,
    png_tag: HeaderValue,
    png: OnceLock<Result<Bytes, String>>,
}

/// Every look in every style; the match in [`Drawn::of`] keeps the count honest.
const LOOKS: usize = 6;
const STYLES: usize = 2;
static DRAWN: [[OnceLock<Drawn>; STYLES]; LOOKS] =
    [const { [const { OnceLock::new() }; STYLES] }; LOOKS];

impl Drawn {
    /// The image of `look` in `style`.
    fn of(look: BadgeLook, style: BadgeStyle) -> &'static Drawn {
        let l = match look {
            BadgeLook::Passed => 0,
            BadgeLook::Failed => 1,
            BadgeLook::Canceled => 2,
            BadgeLook::NoBuilds => 3,
            BadgeLook::Unknown => 4,
            BadgeLook::NoAccess => 5,
        };
        let s = match style {
            BadgeStyle::Svg => 0,
            BadgeStyle::Shield => 1,
        };
        DRAWN[l][s].get_or_init(|| {
            let svg = badge::render(look, style).svg;
            let tag = |png| {
                HeaderValue::from_str(&etag(&svg, png)).expect("a hex entity tag is a header value")
            };
            Drawn {
                svg_tag: tag(false),
                png_tag: tag(true),
                svg: Bytes::from(svg),
                png: OnceLock::new(),
            }
        })
    }

    fn etag(&self, png: bool) -> &HeaderValue {
        if png { &self.png_tag } else { &self.svg_tag }
    }

    /// A 200 response with the badge as SVG or as PNG.
    fn image(&self, png: bool) -> Response {
        if !png {
            return ([(CONTENT_TYPE, "image/svg+xml")], self.svg.clone()).into_response();
        }
        let drawn = self.png.get_or_init(|| {
            let svg = std::str::from_utf8(&self.svg).map_err(|e| e.to_string())?;
            rasterize(svg).map(Bytes::from)
        });
        match drawn {
            Ok(bytes) => ([(CONTENT_TYPE, "image/png")], bytes.clone()).into_response(),
            Err(e) => {
                // The SVGs are circlet's own; failing to draw one is a bug.
                tracing::error!("cannot draw a badge as PNG: {e}");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    [(CONTENT_TYPE, "image/svg+xml")],
                    self.svg.clone(),
                )
                    .into_response()
            }
        }
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
fn if_none_match(headers: &HeaderMap, tag: &HeaderValue) -> bool {
    let Ok(tag) = tag.to_str() else {
        return false;
    };
    headers
        .get_all(IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim())
        .any(|t| t == "*" || t.strip_prefix("W/").unwrap_or(t) == tag)
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
        let tag = &HeaderValue::from_static("\"abc\"");
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
