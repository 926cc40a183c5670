//! API v1.1 builds: triggering (`POST …/tree/:branch`, `POST …/project`, `POST …/build`), retry,
//! cancel, and reading builds (lists, one build, its tests, `/recent-builds`, `/projects`).
//! A v1.1 "build" is a job; the JSON is made in [`super::build_json`].
//!
//! [`reads`] answers the build lists and details, [`triggers`] makes builds (and retries and
//! cancels them).

mod reads;
mod triggers;

pub use reads::*;
pub use triggers::*;

use crate::api::build_json::{self, Cache};
use crate::api::build_schema::{
    BuildCreatedJson, OutputJson, TestsJson, V1BuildJson, V1ProjectJson,
};
use crate::api::openapi::{BuildNumPath, ProjectPath};
use crate::api::{ApiQuery, RawBody};
use crate::error::{ApiError, MessageBody};
use crate::route::RouteParams;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use circlet_app::Caller;
use circlet_app::builds::trigger::{self, Pipelines, TriggerRequest, Triggered};
use circlet_core::build_state::JobState;
use circlet_core::scope::Action;
use circlet_store::{JobFilter, JobRecord, Project};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use utoipa::IntoParams;

/// The v1.1 build (a job) the path names, if `caller` may do `action` in its project.
pub(crate) async fn project_job(
    state: &AppState,
    caller: &Caller,
    params: &RouteParams,
    action: Action,
) -> Result<(Project, JobRecord), ApiError> {
    crate::api::project_job(
        state,
        caller,
        params,
        action,
        "build_num",
        "Build not found",
    )
    .await
}

fn created(state: &AppState, project: &Project, job: &JobRecord, body: Value) -> Response {
    let location = format!(
        "{}/api/v1.1/project/{}/{}/{}/{}",
        state.app.config.public_url,
        project.slug.vcs().long(),
        project.slug.org(),
        project.slug.repo(),
        job.build_num
    );
    let mut response = (StatusCode::CREATED, Json(body)).into_response();
    if let Ok(v) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    response
}
