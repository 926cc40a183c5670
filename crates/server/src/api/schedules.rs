//! API v2's scheduled pipelines: `GET/POST /project/{slug}/schedule`, `GET/PATCH/DELETE
//! /schedule/{id}`, in CircleCI's shapes (`timetable`, `attribution-actor`, `parameters` with
//! `branch` or `tag`). Users only; reading needs the read role, changing the write role. The
//! rules, and the scheduler, are `circlet_app::schedules`'.

use super::build_json::iso;
use super::openapi::SlugParam;
use super::{ApiJson, ApiQuery, Page};
use crate::error::{ApiError, MessageBody};
use crate::route::RouteParams;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use circlet_app::Caller;
use circlet_app::schedules::{ProjectSchedules, ScheduleSpec, spec_of, timetable_of};
use circlet_core::schedule::Timetable;
use circlet_store::schedules::ScheduleRecord;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// `{id}`: a schedule.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[expect(dead_code, reason = "describes path parameters for the document only")]
pub struct ScheduleIdPath {
    /// The schedule's id.
    id: String,
}

/// A schedule as API v2 shows it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ScheduleJson {
    id: String,
    name: String,
    description: String,
    #[serde(rename = "project-slug")]
    project_slug: String,
    #[schema(value_type = Object)]
    timetable: Option<Timetable>,
    /// `branch` or `tag`, and pipeline parameters.
    #[schema(value_type = Object)]
    parameters: BTreeMap<String, Value>,
    actor: ActorJson,
    #[serde(rename = "created-at")]
    created_at: String,
    #[serde(rename = "updated-at")]
    updated_at: String,
}

/// Who a schedule's pipelines are attributed to.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ActorJson {
    id: Option<String>,
    login: String,
    name: String,
}

/// A new schedule.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct NewScheduleBody {
    name: Option<String>,
    #[serde(default)]
    description: String,
    #[serde(rename = "attribution-actor")]
    attribution_actor: Option<String>,
    #[serde(default)]
    #[schema(value_type = Object)]
    parameters: BTreeMap<String, Value>,
    #[schema(value_type = Object)]
    timetable: Option<Timetable>,
}

/// A change to a schedule: what is given replaces what it had.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct ScheduleChange {
    name: Option<String>,
    description: Option<String>,
    #[serde(rename = "attribution-actor")]
    attribution_actor: Option<String>,
    #[schema(value_type = Object)]
    parameters: Option<BTreeMap<String, Value>>,
    #[schema(value_type = Object)]
    timetable: Option<Timetable>,
}

/// `?page-token=`.
#[derive(Deserialize)]
pub struct ListQuery {
    #[serde(rename = "page-token")]
    page_token: Option<String>,
}

const PAGE: i64 = 50;

async fn json(state: &AppState, s: &ScheduleRecord, slug: &str) -> Result<ScheduleJson, ApiError> {
    let actor = match s.actor_id {
        Some(id) => {
            let user = state.app.store.users().by_id(id).await?;
            ActorJson {
                id: user.as_ref().map(|u| u.uuid.to_string()),
                login: s.actor_login.clone(),
                name: user
                    .map(|u| u.name.as_str().to_owned())
                    .unwrap_or_else(|| s.actor_login.clone()),
            }
        }
        None => ActorJson {
            id: None,
            login: s.actor_login.clone(),
            name: "Scheduled".into(),
        },
    };
    Ok(ScheduleJson {
        id: s.uuid.to_string(),
        name: s.name.clone(),
        description: s.description.clone(),
        project_slug: slug.to_owned(),
        timetable: timetable_of(s),
        parameters: spec_of(s).parameters,
        actor,
        created_at: iso(s.created_at),
        updated_at: iso(s.updated_at),
    })
}

async fn door<'a>(
    state: &'a AppState,
    caller: &Caller,
    params: &RouteParams,
    write: bool,
) -> Result<ProjectSchedules<'a>, ApiError> {
    Ok(state
        .app
        .schedules(caller, &params.project()?, write)
        .await?)
}

fn id_of(params: &RouteParams) -> Result<uuid::Uuid, ApiError> {
    uuid::Uuid::parse_str(params.get("id").unwrap_or_default())
        .map_err(|_| ApiError::NotFound(circlet_app::schedules::SCHEDULE_NOT_FOUND.into()))
}

/// v2 `GET /project/{slug}/schedule`: the project's schedules, 50 a page.
#[utoipa::path(get, path = "/api/v2/project/{slug}/schedule", operation_id = "list_schedules", tag = "schedules",
    params(SlugParam),
    responses((status = 200, description = "The schedules", body = Page<ScheduleJson>), (status = "4XX", description = "Refused", body = MessageBody)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    params: RouteParams,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<Page<ScheduleJson>>, ApiError> {
    let schedules = door(&state, &caller, &params, false).await?;
    let after = super::page_token::decode("schedule", q.page_token.as_deref())?.unwrap_or(0);
    let rows = schedules.list(after, PAGE + 1).await?;
    let more = rows.len() as i64 > PAGE;
    let slug = schedules.project.slug.to_string();
    let mut items = Vec::new();
    for s in rows.iter().take(PAGE as usize) {
        items.push(json(&state, s, &slug).await?);
    }
    Ok(Json(Page {
        next_page_token: more
            .then(|| {
                rows.get(PAGE as usize - 1)
                    .map(|s| super::page_token::encode("schedule", s.id))
            })
            .flatten(),
        items,
    }))
}

/// v2 `POST /project/{slug}/schedule` → 201, the schedule.
#[utoipa::path(post, path = "/api/v2/project/{slug}/schedule", operation_id = "create_schedule", tag = "schedules",
    params(SlugParam),
    request_body(content = NewScheduleBody, content_type = "application/json"),
    responses((status = 201, description = "Made", body = ScheduleJson), (status = "4XX", description = "Refused", body = MessageBody)))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    params: RouteParams,
    ApiJson(body): ApiJson<NewScheduleBody>,
) -> Result<(StatusCode, Json<ScheduleJson>), ApiError> {
    let schedules = door(&state, &caller, &params, true).await?;
    let spec = ScheduleSpec {
        name: body
            .name
            .ok_or_else(|| ApiError::Invalid("name is required".into()))?,
        description: body.description,
        attribution_actor: body.attribution_actor.ok_or_else(|| {
            ApiError::Invalid("attribution-actor is required: current or system".into())
        })?,
        parameters: body.parameters,
        timetable: body
            .timetable
            .ok_or_else(|| ApiError::Invalid("timetable is required".into()))?,
    };
    let made = schedules.create(&spec).await?;
    let slug = schedules.project.slug.to_string();
    Ok((StatusCode::CREATED, Json(json(&state, &made, &slug).await?)))
}

/// v2 `GET /schedule/{schedule-id}`.
#[utoipa::path(get, path = "/api/v2/schedule/{id}", operation_id = "get_schedule", tag = "schedules",
    params(ScheduleIdPath),
    responses((status = 200, description = "The schedule", body = ScheduleJson), (status = "4XX", description = "Refused or not found", body = MessageBody)))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    params: RouteParams,
) -> Result<Json<ScheduleJson>, ApiError> {
    let (schedules, s) = state.app.schedule(&caller, id_of(&params)?, false).await?;
    Ok(Json(
        json(&state, &s, &schedules.project.slug.to_string()).await?,
    ))
}

/// v2 `PATCH /schedule/{schedule-id}`: what is given replaces what the schedule had.
#[utoipa::path(patch, path = "/api/v2/schedule/{id}", operation_id = "update_schedule", tag = "schedules",
    params(ScheduleIdPath),
    request_body(content = ScheduleChange, content_type = "application/json"),
    responses((status = 200, description = "Changed", body = ScheduleJson), (status = "4XX", description = "Refused or not found", body = MessageBody)))]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    params: RouteParams,
    ApiJson(change): ApiJson<ScheduleChange>,
) -> Result<Json<ScheduleJson>, ApiError> {
    let (schedules, s) = state.app.schedule(&caller, id_of(&params)?, true).await?;
    let mut spec = spec_of(&s);
    if let Some(v) = change.name {
        spec.name = v;
    }
    if let Some(v) = change.description {
        spec.description = v;
    }
    if let Some(v) = change.attribution_actor {
        spec.attribution_actor = v;
    }
    if let Some(v) = change.parameters {
        spec.parameters = v;
    }
    if let Some(v) = change.timetable {
        spec.timetable = v;
    }
    let changed = schedules.update(&s, &spec).await?;
    Ok(Json(
        json(&state, &changed, &schedules.project.slug.to_string()).await?,
    ))
}

/// v2 `DELETE /schedule/{schedule-id}` → `{"message": "Schedule deleted."}`.
#[utoipa::path(delete, path = "/api/v2/schedule/{id}", operation_id = "delete_schedule", tag = "schedules",
    params(ScheduleIdPath),
    responses((status = 200, description = "Deleted", body = MessageBody), (status = "4XX", description = "Refused or not found", body = MessageBody)))]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    params: RouteParams,
) -> Result<Json<MessageBody>, ApiError> {
    let (schedules, s) = state.app.schedule(&caller, id_of(&params)?, true).await?;
    schedules.delete(&s).await?;
    Ok(Json(MessageBody::new("Schedule deleted.")))
}
