//! Build status for README badges and CCTray clients, at CircleCI's root-level URLs:
//! `/{vcs}/{org}/{repo}.svg|.png|.cc.xml`, the same under `/tree/{branch}`, and `/cc.xml`.
//!
//! These URLs share their space with pages: a path without a known suffix is a link a person
//! followed (CircleCI's `/{vcs}/{org}/{repo}` and `/{vcs}/{org}/{repo}/{build_num}`) and is
//! redirected to circlet's project or job page, so nothing here is left as a stub.
//!
//! Routing works on the raw path, so a branch written `feature%2Fx` stays one segment; the
//! branch is also accepted with a literal `/` (`/tree/feature/x.svg`), as the segments after
//! `tree/` are all branch.

pub mod badges;
pub mod cctray;

use crate::error::{ApiError, PageError};
use crate::state::AppState;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use circlet_app::Caller;
use circlet_core::ProjectSlug;
use circlet_core::badge::BadgeStyle;

/// The first path segments under which status URLs live: the VCS names a slug accepts
/// (lowercase; routes are case-sensitive).
pub const VCS_PREFIXES: [&str; 4] = ["gh", "github", "bb", "bitbucket"];

/// The VCS segment of a status URL (the first), as routed.
fn vcs_of(uri: &Uri) -> &str {
    uri.path()
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or_default()
}

/// What a status URL asks for, by its suffix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Svg,
    Png,
    CcXml,
}

/// `name` without its status suffix, and which format the suffix asks for (`None`: no suffix).
fn split_suffix(name: &str) -> (&str, Option<Format>) {
    for (suffix, format) in [
        (".cc.xml", Format::CcXml),
        (".svg", Format::Svg),
        (".png", Format::Png),
    ] {
        if let Some(stem) = name.strip_suffix(suffix).filter(|s| !s.is_empty()) {
            return (stem, Some(format));
        }
    }
    (name, None)
}

/// The value of query parameter `name`, if present; other parameters (`ccmenu=cc.xml`,
/// `circle-token`, which the [`Caller`] extractor reads) are ignored here.
fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    form_urlencoded::parse(query?.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// The status of a branch (`None`: the default branch) in `format`.
async fn serve(
    state: &AppState,
    caller: Result<Caller, ApiError>,
    slug: Option<ProjectSlug>,
    branch: Option<String>,
    format: Format,
    query: Option<&str>,
    headers: &HeaderMap,
) -> Response {
    match format {
        Format::CcXml => cctray::one(state, caller, slug, branch).await,
        Format::Svg | Format::Png => {
            let style = BadgeStyle::parse(query_param(query, "style").as_deref());
            badges::serve(
                state,
                caller,
                slug,
                branch,
                format == Format::Png,
                style,
                headers,
            )
            .await
        }
    }
}

/// `GET /{vcs}/{org}/{repo}[.svg|.png|.cc.xml]`: the default branch's status, or (no suffix)
/// a redirect to the project page.
pub async fn project(
    State(state): State<AppState>,
    caller: Result<Caller, ApiError>,
    uri: Uri,
    Path((org, repo)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let (repo, format) = split_suffix(&repo);
    let slug = ProjectSlug::from_parts(vcs_of(&uri), &org, repo).ok();
    match format {
        Some(format) => {
            serve(
                &state,
                caller,
                slug,
                None,
                format,
                query.as_deref(),
                &headers,
            )
            .await
        }
        None => redirect(slug, "", None),
    }
}

/// `GET /{vcs}/{org}/{repo}/tree/{branch}[.svg|.png|.cc.xml]`: one branch's status, or (no
/// suffix) a redirect to the project page showing that branch.
pub async fn branch(
    State(state): State<AppState>,
    caller: Result<Caller, ApiError>,
    uri: Uri,
    Path((org, repo, branch)): Path<(String, String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let slug = ProjectSlug::from_parts(vcs_of(&uri), &org, &repo).ok();
    let (branch, format) = split_suffix(&branch);
    match format {
        Some(format) => {
            let branch = Some(branch.to_owned());
            serve(
                &state,
                caller,
                slug,
                branch,
                format,
                query.as_deref(),
                &headers,
            )
            .await
        }
        None => redirect(slug, "", Some(branch)),
    }
}

/// `GET /{vcs}/{org}/{repo}/{build_num}`: CircleCI's build link, redirected to the job page.
pub async fn build(uri: Uri, Path((org, repo, num)): Path<(String, String, String)>) -> Response {
    let slug = ProjectSlug::from_parts(vcs_of(&uri), &org, &repo).ok();
    match num.parse::<u64>() {
        Ok(n) => redirect(slug, &format!("/jobs/{n}"), None),
        Err(_) => no_page(),
    }
}

/// A temporary redirect to `/projects/{slug}{rest}[?branch=…]`, or the UI's 404 page when the
/// path is not a project slug at all (so `/foo/bar/baz` is not sent anywhere). Whether the
/// project exists and may be seen is the page's to decide, like any other page.
fn redirect(slug: Option<ProjectSlug>, rest: &str, branch: Option<&str>) -> Response {
    let Some(slug) = slug else {
        return no_page();
    };
    // Org and repo are letters, digits, `-`, `_` and `.` (see `ProjectSlug`): safe in a path.
    let mut to = format!(
        "/projects/{}/{}/{}{rest}",
        slug.vcs().short(),
        slug.org(),
        slug.repo()
    );
    if let Some(b) = branch {
        to.push_str("?branch=");
        to.extend(form_urlencoded::byte_serialize(b.as_bytes()));
    }
    Redirect::temporary(&to).into_response()
}

/// The UI's 404 page, for paths in the status URL space that name nothing.
fn no_page() -> Response {
    PageError::not_found("There is no page at this address.").into_response()
}

/// `GET /status-badge/img/{vcs}/{org}/{repo}/tree/{branch}.svg` (or `.png`): the badge URL
/// CircleCI's UI generates today, answered like `/{vcs}/{org}/{repo}/tree/{branch}.svg`.
/// `{vcs}` may also be `circleci`, with the organization's and the project's ids.
pub async fn status_badge(
    State(state): State<AppState>,
    caller: Result<Caller, ApiError>,
    Path((vcs, org, repo, branch)): Path<(String, String, String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let slug = if vcs.eq_ignore_ascii_case("circleci") {
        state.app.project_slug_by_ids(&org, &repo).await.ok()
    } else {
        ProjectSlug::from_parts(&vcs, &org, &repo).ok()
    };
    match split_suffix(&branch) {
        (branch, Some(format @ (Format::Svg | Format::Png))) => {
            let branch = Some(branch.to_owned());
            serve(
                &state,
                caller,
                slug,
                branch,
                format,
                query.as_deref(),
                &headers,
            )
            .await
        }
        _ => no_page(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffixes_choose_the_format() {
        assert_eq!(split_suffix("widget.svg"), ("widget", Some(Format::Svg)));
        assert_eq!(split_suffix("widget.png"), ("widget", Some(Format::Png)));
        assert_eq!(
            split_suffix("widget.cc.xml"),
            ("widget", Some(Format::CcXml))
        );
        assert_eq!(
            split_suffix("widget.js.svg"),
            ("widget.js", Some(Format::Svg))
        );
        assert_eq!(split_suffix("widget.js"), ("widget.js", None));
        assert_eq!(split_suffix("widget.xml"), ("widget.xml", None));
        assert_eq!(split_suffix(".svg"), (".svg", None));
    }

    #[test]
    fn only_the_named_query_parameter_counts() {
        let q = Some("circle-token=x&style=shield&ccmenu=cc.xml");
        assert_eq!(query_param(q, "style").as_deref(), Some("shield"));
        assert_eq!(query_param(q, "nope"), None);
        assert_eq!(query_param(None, "style"), None);
    }

    proptest::proptest! {
        /// A branch or repository name followed by a status suffix splits back into both, even
        /// when the name has dots, slashes or a suffix-like part of its own.
        #[test]
        fn a_name_and_a_suffix_split_back(
            name in "[a-z0-9][a-z0-9./_-]{0,20}",
            which in 0usize..3,
        ) {
            let (suffix, format) = [(".svg", Format::Svg), (".png", Format::Png), (".cc.xml", Format::CcXml)][which];
            let path = format!("{name}{suffix}");
            proptest::prop_assert_eq!(split_suffix(&path), (name.as_str(), Some(format)));
        }
    }
}
