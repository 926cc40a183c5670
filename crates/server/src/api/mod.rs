//! The JSON APIs. Every response is JSON, errors included (`{"message": …}`, see `error.rs`).

pub mod artifacts;
pub mod build_json;
pub mod build_schema;
pub mod compile_config;
pub mod contexts;
pub mod env_vars;
pub mod follows;
pub mod health;
pub mod hooks;
pub mod insights;
pub mod leak_reports;
pub mod me;
pub mod oidc;
pub mod openapi;
pub mod orbs;
pub mod organizations;
pub mod pipeline_definitions;
pub mod private_output;
pub mod project_settings;
pub mod projects;
pub mod runner;
pub mod runner_storage;
pub mod runners_v3;
pub mod schedules;
pub mod ssh_keys;
pub mod tokens;
pub mod users;
pub mod v1_builds;
pub mod v2_jobs;
pub mod v2_pipeline_lists;
pub mod v2_pipelines;
pub mod v2_rerun;
pub mod webhooks;

use crate::error::ApiError;
use crate::route::RouteParams;
use crate::state::AppState;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use circlet_app::Caller;
use circlet_core::scope::Action;
use circlet_store::{JobRecord, Project};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// One page of an API v2 list: `{"items": […], "next_page_token": …}`, the token `null` on the
/// last page.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Page<T> {
    /// This page's items.
    pub items: Vec<T>,
    /// Where the next page starts (pass it as `page-token`); `null` on the last page.
    pub next_page_token: Option<String>,
}

/// A JSON body whose rejections (malformed JSON, wrong content type, too large) come back as
/// `{"message": …}` with the right status.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(ApiJson(v)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

/// A query string whose rejections (a duplicate or malformed field) come back as a 400
/// `{"message": …}` like every other API error, not as axum's plain text.
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(v)| ApiQuery(v))
            .map_err(|r| ApiError::Invalid(r.body_text()))
    }
}

/// Path parameters whose rejections (a segment that is not UTF-8 once decoded) come back as a
/// 400 `{"message": …}`, not as axum's plain text.
pub struct ApiPath<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(v)| ApiPath(v))
            .map_err(|r| ApiError::Invalid(r.body_text()))
    }
}

/// A request body in JSON or `application/x-www-form-urlencoded` (CircleCI's v1.1 accepts both).
pub struct ApiBody<T>(pub T);

impl<S, T> FromRequest<S> for ApiBody<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let form = req
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
        if form {
            match axum::Form::<T>::from_request(req, state).await {
                Ok(axum::Form(v)) => Ok(ApiBody(v)),
                Err(r) if r.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(ApiError::Rejected(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "Request body is too large".into(),
                )),
                Err(r) => Err(ApiError::Invalid(r.body_text())),
            }
        } else {
            ApiJson::from_request(req, state)
                .await
                .map(|ApiJson(v)| ApiBody(v))
        }
    }
}

/// A raw request body (for handlers that read JSON or forms themselves) whose rejections come
/// back as `{"message": …}`: a body over the limit is a JSON 413, not axum's plain-text one.
pub struct RawBody(pub axum::body::Bytes);

impl<S> FromRequest<S> for RawBody
where
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match axum::body::Bytes::from_request(req, state).await {
            Ok(bytes) => Ok(RawBody(bytes)),
            Err(r) if r.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(ApiError::Rejected(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Request body is too large".into(),
            )),
            Err(r) => Err(ApiError::Invalid(r.body_text())),
        }
    }
}

impl RawBody {
    /// The body as JSON `T`, or `T`'s default when it is empty or blank: CircleCI's endpoints
    /// that take an optional body accept none at all (and so no `Content-Type`). `what` names
    /// `T` in the 400 for anything else that is not one.
    pub fn json_or_default<T: serde::de::DeserializeOwned + Default>(
        &self,
        what: &str,
    ) -> Result<T, ApiError> {
        if self.0.iter().all(u8::is_ascii_whitespace) {
            return Ok(T::default());
        }
        Ok(serde_json::from_slice::<Option<T>>(&self.0)
            .map_err(|e| {
                ApiError::Invalid(format!("Request body is not valid JSON for {what}: {e}"))
            })?
            .unwrap_or_default())
    }
}

/// API v2's opaque `page-token`s: `<label>:<position>` in URL-safe base64, so a client cannot
/// mistake them for anything it should build itself.
pub mod page_token {
    use crate::error::ApiError;
    use base64::Engine;

    /// The token for the page that continues at `position` (`label` names what the position
    /// counts, so one list's token is refused by another).
    pub fn encode(label: &str, position: i64) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{label}:{position}"))
    }

    /// The position in `raw`, `None` when there is none (the first page); 400 when `raw` is not
    /// a token this server gave for `label`.
    pub fn decode(label: &str, raw: Option<&str>) -> Result<Option<i64>, ApiError> {
        let Some(raw) = raw.filter(|r| !r.is_empty()) else {
            return Ok(None);
        };
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(raw)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| {
                s.strip_prefix(label)
                    .and_then(|r| r.strip_prefix(':'))
                    .and_then(|n| n.parse().ok())
            })
            .map(Some)
            .ok_or_else(|| ApiError::Invalid("page-token is not one this server gave".into()))
    }
}

/// Marks a response that carries a token value: no cache may keep it.
pub fn no_store(mut response: axum::response::Response) -> axum::response::Response {
    response.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    response
}

/// 413 and 415 keep their status; every other unreadable body (bad syntax, wrong shape) is a 400
/// that quotes the parser's reason.
fn json_rejection(rejection: JsonRejection) -> ApiError {
    match &rejection {
        JsonRejection::MissingJsonContentType(_) => ApiError::Rejected(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Expected a JSON body with Content-Type: application/json".to_owned(),
        ),
        _ if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => ApiError::Rejected(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Request body is too large".to_owned(),
        ),
        _ => ApiError::Invalid(rejection.body_text()),
    }
}

/// Any `/api/…` path no route matches.
pub async fn not_found() -> ApiError {
    ApiError::NotFound("Not found".into())
}

/// A known `/api/…` path called with a method it does not support.
pub async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed("Method not allowed".into())
}

/// The job the path numbers in `segment` (`build_num` on v1.1, `number` on v2) of the project the
/// path names, if `caller` may do `action` there; `missing` ("Build not found", "Job not found")
/// when the project has no such job.
pub(crate) async fn project_job(
    state: &AppState,
    caller: &Caller,
    params: &RouteParams,
    action: Action,
    segment: &str,
    missing: &str,
) -> Result<(Project, JobRecord), ApiError> {
    let slug = params.v2_project(&state.app).await?;
    let access = state.app.authorize(caller, &slug, action).await?;
    let num = params.number(segment, missing)?;
    let job = state
        .app
        .store
        .builds()
        .job_by_num(access.project.id, num)
        .await?
        .ok_or_else(|| ApiError::NotFound(missing.into()))?;
    Ok((access.project, job))
}
