//! The runner protocol's caches and workspaces (`/api/runner/v1/jobs/{id}/caches…` and
//! `…/workspace…`, see `circlet_core::runner_protocol`): archives streamed into and out of the
//! artifact object store. Which cache a key finds, which layers a job attaches and that a key
//! is saved once are `circlet_app::caches`' rules; here the bytes flow.
//!
//! An upload becomes visible only when it completed: it is written to a fresh object, and the
//! row that lists it is written after the object store confirmed the whole of it. An upload
//! that breaks off (the runner died, the archive could not be made) leaves nothing a later job
//! could restore.

use super::ApiJson;
use super::runner::{held, project_of};
use crate::artifacts::download::object_body;
use crate::artifacts::upload::{Streamed, stream_into, write_failed};
use crate::auth::runner::Runner;
use crate::error::ApiError;
use crate::state::AppState;
use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use circlet_app::caches::{check_key, new_cache_object, new_layer_object};
use circlet_core::runner_protocol::{CacheLookup, CacheSaved, Workspace};
use serde::Deserialize;

/// `POST /jobs/{id}/caches/lookup`: the cache the keys find (200), or 204.
pub async fn lookup(
    State(state): State<AppState>,
    runner: Runner,
    Path(id): Path<String>,
    ApiJson(lookup): ApiJson<CacheLookup>,
) -> Result<Response, ApiError> {
    let job = held(&state, &runner, &id).await?.job;
    match state.app.find_cache(&job, &lookup).await? {
        Some(found) => Ok(Json(found).into_response()),
        None => Ok(StatusCode::NO_CONTENT.into_response()),
    }
}

/// `GET /jobs/{id}/caches/{cache}`: a cache archive of the job's project.
pub async fn download(
    State(state): State<AppState>,
    runner: Runner,
    Path((id, cache)): Path<(String, i64)>,
) -> Result<Response, ApiError> {
    let job = held(&state, &runner, &id).await?.job;
    let record = state.app.cache_for_job(&job, cache).await?;
    archive(&state, &record.object, record.size).await
}

/// `?key=` of a cache upload.
#[derive(Debug, Deserialize)]
pub struct KeyQuery {
    key: String,
}

/// `PUT /jobs/{id}/caches?key=KEY`: a cache archive; 201 when kept, 200 `stored: false` when
/// the key was saved already (the upload is dropped: a saved key is never replaced).
pub async fn upload(
    State(state): State<AppState>,
    runner: Runner,
    Path(id): Path<String>,
    query: Result<Query<KeyQuery>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let Query(KeyQuery { key }) =
        query.map_err(|_| ApiError::Invalid("A cache upload needs ?key=".into()))?;
    let job = held(&state, &runner, &id).await?.job;
    check_key(&key)?;
    let project = project_of(&state, &job).await?;
    let object = new_cache_object(&project);
    let size = receive(&state, &object, &headers, body, "Cache archive").await?;
    let stored = state.app.record_cache(&job, &key, &object, size).await?;
    let status = if stored {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(CacheSaved { stored })).into_response())
}

/// `GET /jobs/{id}/workspace`: the layers the job's `attach_workspace` applies, in order.
pub async fn workspace(
    State(state): State<AppState>,
    runner: Runner,
    Path(id): Path<String>,
) -> Result<Json<Workspace>, ApiError> {
    let job = held(&state, &runner, &id).await?.job;
    let layers = state.app.workspace_of(&job).await?;
    Ok(Json(Workspace {
        layers: layers.into_iter().map(|(_, layer)| layer).collect(),
    }))
}

/// `GET /jobs/{id}/workspace/{layer}`: one layer's archive, if the job attaches it.
pub async fn layer(
    State(state): State<AppState>,
    runner: Runner,
    Path((id, layer)): Path<(String, i64)>,
) -> Result<Response, ApiError> {
    let job = held(&state, &runner, &id).await?.job;
    let record = state.app.layer_for_job(&job, layer).await?;
    archive(&state, &record.object, record.size).await
}

/// `PUT /jobs/{id}/workspace`: a layer persisted by the job.
pub async fn persist(
    State(state): State<AppState>,
    runner: Runner,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<StatusCode, ApiError> {
    let job = held(&state, &runner, &id).await?.job;
    let project = project_of(&state, &job).await?;
    let object = new_layer_object(&project);
    let size = receive(&state, &object, &headers, body, "Workspace layer").await?;
    state.app.record_layer(&job, &object, size).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Streams an archive upload into `object`, up to the per-file artifact limit.
async fn receive(
    state: &AppState,
    object: &object_store::path::Path,
    headers: &HeaderMap,
    body: Body,
    what: &str,
) -> Result<u64, ApiError> {
    let storage = &state.app.config.artifacts;
    let allowed = storage.max_file_bytes;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let too_large = || {
        ApiError::Rejected(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("A {} may be at most {allowed} bytes", what.to_lowercase()),
        )
    };
    if declared.is_some_and(|len| len > allowed) {
        return Err(too_large());
    }
    match stream_into(storage, object, body, allowed, declared).await {
        Ok(written) => Ok(written.size),
        Err(Streamed::TooLarge) => Err(too_large()),
        Err(Streamed::BrokeOff(e)) => Err(ApiError::Invalid(format!(
            "The upload of the {} broke off: {e}; nothing was kept",
            what.to_lowercase()
        ))),
        Err(Streamed::Short(size)) => Err(ApiError::Invalid(format!(
            "The {} ended after {size} bytes, not the announced length; nothing was kept",
            what.to_lowercase()
        ))),
        Err(Streamed::Store(doing, e)) => Err(write_failed(doing, &what, e)),
    }
}

/// An archive's bytes, as `application/zstd`.
async fn archive(state: &AppState, object: &str, size: i64) -> Result<Response, ApiError> {
    let length = u64::try_from(size).unwrap_or(0);
    let key = object_store::path::Path::from(object);
    let body = if length == 0 {
        Body::empty()
    } else {
        object_body(state, &key, None, length).await?
    };
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/zstd"),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    Ok((StatusCode::OK, headers, body).into_response())
}
