//! API v2's other pipeline reads: the caller's pipelines across projects (`GET /pipeline`), a
//! project's pipelines the caller started (`GET /project/{slug}/pipeline/mine`), and a
//! pipeline's config (`GET /pipeline/{id}/config`).

use super::build_json::{self, v2_pipeline};
use super::build_schema::V2PipelineJson;
use super::openapi::{IdPath, SlugParam};
use super::{ApiPath, ApiQuery, Page};
use crate::error::{ApiError, MessageBody};
use crate::route::RouteParams;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use circlet_app::Caller;
use circlet_app::builds::lists::{PipelineFilter, PipelineList};
use circlet_core::scope::Action;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};

/// Items per page.
const PAGE: i64 = 20;

/// What these lists' page tokens count.
const LABEL: &str = "pipeline-id";

/// `?org-slug=&mine=&page-token=` of `GET /pipeline`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only this organization's projects (`gh/acme`) [default: all the caller may read].
    #[serde(rename = "org-slug")]
    org_slug: Option<String>,
    /// Only the pipelines the caller started.
    #[serde(default)]
    mine: bool,
    /// The previous page's `next_page_token`.
    #[serde(rename = "page-token")]
    page_token: Option<String>,
}

/// `?page-token=` of `GET /project/{slug}/pipeline/mine`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MineQuery {
    /// The previous page's `next_page_token`.
    #[serde(rename = "page-token")]
    page_token: Option<String>,
}

async fn render(state: &AppState, list: PipelineList) -> Result<Value, ApiError> {
    let mut cache = build_json::Cache::default();
    let mut items = Vec::with_capacity(list.pipelines.len());
    for (project, p) in &list.pipelines {
        let masks = cache.masks(state, project).await?;
        items.push(v2_pipeline(project, p, &masks));
    }
    let next = list
        .next_before
        .map(|id| super::page_token::encode(LABEL, id));
    Ok(json!({"items": items, "next_page_token": next}))
}

/// `GET /pipeline`: the pipelines of the projects the caller may read, newest first, 20 a
/// page; `org-slug` keeps one organization's, `mine` those the caller started.
#[utoipa::path(get, path = "/api/v2/pipeline", operation_id = "list_pipelines_across_projects", tag = "pipelines",
    params(ListQuery),
    responses(
        (status = 200, description = "One page of pipelines, newest first", body = Page<V2PipelineJson>),
        (status = "4XX", description = "Not a user, or an invalid query", body = MessageBody)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    caller.require_user()?;
    let organization = match q.org_slug.as_deref().filter(|s| !s.is_empty()) {
        Some(raw) => Some(circlet_core::slug::parse_organization(raw)?),
        None => None,
    };
    let before = super::page_token::decode(LABEL, q.page_token.as_deref())?;
    let filter = PipelineFilter {
        organization,
        project: None,
        mine: q.mine,
    };
    let list = state
        .app
        .pipeline_list(&caller, &filter, before, PAGE)
        .await?;
    Ok(Json(render(&state, list).await?))
}

/// `GET /project/{slug}/pipeline/mine`: the project's pipelines the caller started, newest
/// first, 20 a page.
#[utoipa::path(get, path = "/api/v2/project/{slug}/pipeline/mine", operation_id = "list_my_pipelines", tag = "pipelines",
    params(SlugParam, MineQuery),
    responses(
        (status = 200, description = "One page of the caller's pipelines, newest first", body = Page<V2PipelineJson>),
        (status = "4XX", description = "Not a user, refused, or not found", body = MessageBody)))]
pub async fn mine(
    State(state): State<AppState>,
    caller: Caller,
    params: RouteParams,
    ApiQuery(q): ApiQuery<MineQuery>,
) -> Result<Json<Value>, ApiError> {
    caller.require_user()?;
    let before = super::page_token::decode(LABEL, q.page_token.as_deref())?;
    let filter = PipelineFilter {
        organization: None,
        project: Some(params.v2_project(&state.app).await?),
        mine: true,
    };
    let list = state
        .app
        .pipeline_list(&caller, &filter, before, PAGE)
        .await?;
    Ok(Json(render(&state, list).await?))
}

/// A pipeline's config: as read at its revision, and as compiled.
#[derive(Serialize, ToSchema)]
pub struct PipelineConfigJson {
    /// The config as read from the repository.
    source: String,
    /// The config as compiled (2.0, orbs and parameters expanded); empty when it did not
    /// compile.
    compiled: String,
}

/// `GET /pipeline/{id}/config`: the config the pipeline was made from.
#[utoipa::path(get, path = "/api/v2/pipeline/{id}/config", operation_id = "get_pipeline_config", tag = "pipelines",
    params(IdPath),
    responses(
        (status = 200, description = "The pipeline's config, as read and as compiled", body = PipelineConfigJson),
        (status = "4XX", description = "Refused, or no such pipeline or config", body = MessageBody)))]
pub async fn config(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<PipelineConfigJson>, ApiError> {
    let (project, p) =
        super::v2_pipelines::pipeline_access(&state, &caller, &id, Action::ReadBuilds).await?;
    let (_, _, config) = state
        .app
        .pipeline_config(&caller, &project.slug, p.number)
        .await?;
    let (source, compiled) = config.ok_or_else(|| {
        ApiError::NotFound("This pipeline has no config: none was read for it".into())
    })?;
    Ok(Json(PipelineConfigJson { source, compiled }))
}
