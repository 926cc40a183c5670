//! Typed route parameters: each path is parsed once, here, into what it names, and a bad one is
//! the same 4xx everywhere (a JSON `{"message"}` on the APIs, the error page in the web UI).
//!
//! - [`ProjectRoute`]: the project of a path, in every spelling CircleCI's APIs use;
//! - [`RouteParams`]: a project-scoped path's other named segments (`build_num`, `number`,
//!   `name`, …), read through one accessor each.

use crate::error::ApiError;
use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use circlet_core::ProjectSlug;

/// The named segments of a route, as matched.
pub struct RouteParams(Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for RouteParams {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(segments) = Path::<Vec<(String, String)>>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::Invalid(e.body_text()))?;
        Ok(RouteParams(segments))
    }
}

impl RouteParams {
    /// Parameters from `(name, value)` pairs (an alias route rewriting another's).
    pub fn new(pairs: Vec<(String, String)>) -> Self {
        RouteParams(pairs)
    }

    /// The segment called `name`, if the route has one.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The project the route names: `slug` (one segment, `%2F`-encoded), or `vcs`, `org` and
    /// `repo`, or (the `/api/v1/` aliases) `org` and `repo` on GitHub.
    pub fn project(&self) -> Result<ProjectSlug, ApiError> {
        Ok(
            match (
                self.get("slug"),
                self.get("vcs"),
                self.get("org"),
                self.get("repo"),
            ) {
                (Some(slug), ..) => ProjectSlug::parse(slug)?,
                (None, Some(vcs), Some(org), Some(repo)) => {
                    ProjectSlug::from_parts(vcs, org, repo)?
                }
                (None, None, Some(org), Some(repo)) => {
                    ProjectSlug::from_parts("github", org, repo)?
                }
                _ => return Err(ApiError::Invalid("project slug missing".into())),
            },
        )
    }

    /// [`RouteParams::project`], also understanding CircleCI's `circleci/<org-id>/<project-id>`
    /// slugs (API v2's spelling for projects named by ids), which cost a lookup; every other
    /// spelling costs none.
    pub async fn v2_project(&self, app: &circlet_app::App) -> Result<ProjectSlug, ApiError> {
        let parts: Vec<&str> = match (self.get("slug"), self.get("vcs")) {
            (Some(slug), _) => slug.trim().split('/').collect(),
            (None, Some(vcs)) => vec![
                vcs,
                self.get("org").unwrap_or_default(),
                self.get("repo").unwrap_or_default(),
            ],
            _ => Vec::new(),
        };
        match parts.as_slice() {
            [vcs, org, project] if vcs.eq_ignore_ascii_case("circleci") => {
                Ok(app.project_slug_by_ids(org, project).await?)
            }
            _ => self.project(),
        }
    }

    /// For `/v2/project/{slug}/{number}/<last>` (a job's list), which also catches the project
    /// `/v2/project/{vcs}/{org}/<last>` because its literal wins over `{repo}`: that project's
    /// parameters when the slug is not one `%2F`-encoded segment.
    pub fn project_named_like_a_job_list(&self, last: &str) -> Option<RouteParams> {
        let (slug, number) = (self.get("slug")?, self.get("number")?);
        (!slug.contains('/')).then(|| {
            RouteParams::new(vec![
                ("vcs".to_owned(), slug.to_owned()),
                ("org".to_owned(), number.to_owned()),
                ("repo".to_owned(), last.to_owned()),
            ])
        })
    }

    /// The positive number in segment `name` (a v1.1 `build_num`, a v2 pipeline or job
    /// `number`); anything else names nothing, so it is `not_found`.
    pub fn number(&self, name: &str, not_found: &str) -> Result<i64, ApiError> {
        self.get(name)
            .and_then(|n| n.parse::<i64>().ok())
            .filter(|n| *n > 0)
            .ok_or_else(|| ApiError::NotFound(not_found.into()))
    }
}

/// The project a route names (see [`RouteParams::project`]).
pub struct ProjectRoute(pub ProjectSlug);

impl<S: Send + Sync> FromRequestParts<S> for ProjectRoute {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let params = RouteParams::from_request_parts(parts, state).await?;
        Ok(ProjectRoute(params.project()?))
    }
}
