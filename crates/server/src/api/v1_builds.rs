//! API v1.1 builds: triggering (`POST …/tree/:branch`, `POST …/project`, `POST …/build`), retry,
//! cancel, and reading builds (lists, one build, its tests, `/recent-builds`, `/projects`).
//! A v1.1 "build" is a job; the JSON is made in [`super::build_json`].

use super::RawBody;
use super::build_json::{self, Cache};
use super::projects::slug_from;
use crate::auth::access::authorize;
use crate::auth::caller::Caller;
use crate::builds::trigger::{self, TriggerRequest, Triggered};
use crate::error::ApiError;
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use circlet_core::build_state::JobState;
use circlet_core::scope::Action;
use circlet_store::{JobFilter, JobRecord, Project};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;

type Params = Path<Vec<(String, String)>>;

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn build_num(params: &[(String, String)]) -> Result<i64, ApiError> {
    param(params, "build_num")
        .and_then(|n| n.parse::<i64>().ok())
        .filter(|n| *n > 0)
        .ok_or_else(|| ApiError::NotFound("Build not found".into()))
}

/// `limit`, `offset`, `filter`, `shallow` of a build list, read leniently: `filter=None` means
/// no filter, `shallow=True` is true, a limit above 100 is 100.
#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    limit: Option<String>,
    offset: Option<String>,
    filter: Option<String>,
    shallow: Option<String>,
}

impl ListQuery {
    fn limit(&self) -> Result<i64, ApiError> {
        match self.limit.as_deref().map(str::trim) {
            None | Some("") => Ok(30),
            Some(raw) => raw
                .parse::<i64>()
                .ok()
                .filter(|n| *n >= 0)
                .map(|n| n.min(100))
                .ok_or_else(|| ApiError::Invalid("limit must be a number from 0 to 100".into())),
        }
    }

    fn offset(&self) -> Result<i64, ApiError> {
        match self.offset.as_deref().map(str::trim) {
            None | Some("") => Ok(0),
            Some(raw) => raw
                .parse::<i64>()
                .ok()
                .filter(|n| *n >= 0)
                .ok_or_else(|| ApiError::Invalid("offset must be a number of 0 or more".into())),
        }
    }

    fn filter(&self) -> JobFilter {
        match self
            .filter
            .as_deref()
            .map(str::trim)
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("completed") => JobFilter::Completed,
            Some("successful") => JobFilter::Successful,
            Some("failed") => JobFilter::Failed,
            Some("running") => JobFilter::Running,
            _ => JobFilter::All,
        }
    }

    fn shallow(&self) -> bool {
        self.shallow
            .as_deref()
            .is_some_and(|s| matches!(s.trim().to_ascii_lowercase().as_str(), "true" | "1" | "yes"))
    }
}

/// `GET /project/:vcs/:org/:repo` and `…/tree/:branch`: the project's builds, newest first.
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(params): Params,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let slug = slug_from(&params)?;
    let access = authorize(&state, &caller, &slug, Action::ReadBuilds).await?;
    let branch = param(&params, "branch");
    let jobs = state
        .store
        .builds()
        .jobs(
            access.project.id,
            branch,
            q.filter(),
            q.limit()?,
            q.offset()?,
        )
        .await?;
    let mut cache = Cache::default();
    let mut out = Vec::with_capacity(jobs.len());
    for job in &jobs {
        out.push(
            build_json::v1(&state, &mut cache, &access.project, job, false, q.shallow()).await?,
        );
    }
    Ok(Json(Value::Array(out)))
}

/// `GET /project/:vcs/:org/:repo/:build_num`: one build, with its steps.
pub async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(params): Params,
) -> Result<Json<Value>, ApiError> {
    let (project, job) = project_job(&state, &caller, &params, Action::ReadBuilds).await?;
    let mut cache = Cache::default();
    Ok(Json(
        build_json::v1(&state, &mut cache, &project, &job, true, false).await?,
    ))
}

/// `GET …/:build_num/output/:step/:index`: a step's output (the actions' `output_url`).
pub async fn output(
    State(state): State<AppState>,
    caller: Caller,
    Path(params): Params,
) -> Result<Json<Value>, ApiError> {
    let (_, job) = project_job(&state, &caller, &params, Action::ReadBuilds).await?;
    let step = param(&params, "step")
        .and_then(|n| n.parse::<i64>().ok())
        .ok_or_else(|| ApiError::NotFound("Step not found".into()))?;
    Ok(Json(build_json::output_json(&state, &job, step).await?))
}

/// `GET /project/:vcs/:org/:repo/:build_num/tests`: `{"tests": [...]}` from `store_test_results`.
pub async fn tests(
    State(state): State<AppState>,
    caller: Caller,
    Path(params): Params,
) -> Result<Json<Value>, ApiError> {
    let (_, job) = project_job(&state, &caller, &params, Action::ReadBuilds).await?;
    let tests = state.store.builds().tests(job.id).await?;
    let tests: Vec<Value> = tests
        .iter()
        .map(|t| {
            json!({
                "classname": t.classname,
                "name": t.name,
                "file": t.file,
                "result": t.result,
                "message": t.message,
                "run_time": t.run_time,
                "source": "unknown",
                "source_type": "unknown",
            })
        })
        .collect();
    Ok(Json(json!({ "tests": tests })))
}

async fn project_job(
    state: &AppState,
    caller: &Caller,
    params: &[(String, String)],
    action: Action,
) -> Result<(Project, JobRecord), ApiError> {
    let slug = slug_from(params)?;
    let access = authorize(state, caller, &slug, action).await?;
    let num = build_num(params)?;
    let job = state
        .store
        .builds()
        .job_by_num(access.project.id, num)
        .await?
        .ok_or_else(|| ApiError::NotFound("Build not found".into()))?;
    Ok((access.project, job))
}

/// `POST …/:build_num/retry`: a new build of the same job, `why: retry`.
pub async fn retry(
    State(state): State<AppState>,
    caller: Caller,
    Path(params): Params,
) -> Result<Response, ApiError> {
    let (project, job) = project_job(&state, &caller, &params, Action::Trigger).await?;
    if !job.state.is_final() {
        return Err(ApiError::Invalid(format!(
            "Build #{} has not finished; cancel it first or wait for it",
            job.build_num
        )));
    }
    let new = state.store.builds().retry(&job).await?;
    state.work_available.notify_waiters();
    let mut cache = Cache::default();
    let body = build_json::v1(&state, &mut cache, &project, &new, false, false).await?;
    Ok(created(&state, &project, &new, body))
}

/// `POST …/:build_num/cancel`: a queued build ends at once, a running one at its runner's next
/// heartbeat (within seconds). Answers the build as it stands.
pub async fn cancel(
    State(state): State<AppState>,
    caller: Caller,
    Path(params): Params,
) -> Result<Json<Value>, ApiError> {
    let (project, job) = project_job(&state, &caller, &params, Action::Trigger).await?;
    state.store.builds().request_cancel(job.id).await?;
    let job = state.store.builds().job_by_id(job.id).await?.unwrap_or(job);
    let mut cache = Cache::default();
    let mut body = build_json::v1(&state, &mut cache, &project, &job, false, false).await?;
    if job.state == JobState::Running
        && let Some(obj) = body.as_object_mut()
    {
        // The runner stops it within a heartbeat; say so now, as CircleCI's reply does.
        obj.insert("canceled".into(), Value::Bool(true));
    }
    Ok(Json(body))
}

/// A v1.1 trigger body, JSON or form-encoded (`build_parameters[X]=…`), explicit nulls allowed.
#[derive(Debug, Default)]
struct TriggerBody {
    revision: Option<String>,
    tag: Option<String>,
    branch: Option<String>,
    job: Option<String>,
    build_parameters: BTreeMap<String, String>,
}

fn read_trigger_body(headers: &HeaderMap, body: &[u8]) -> Result<TriggerBody, ApiError> {
    let mut out = TriggerBody::default();
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(out);
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let json_first = !content_type.starts_with("application/x-www-form-urlencoded")
        && (content_type.contains("json") || body.first() == Some(&b'{'));
    if json_first {
        let value: Value = serde_json::from_slice(body)
            .map_err(|e| ApiError::Invalid(format!("Request body is not valid JSON: {e}")))?;
        let Value::Object(map) = value else {
            return Err(ApiError::Invalid(
                "Request body must be a JSON object".into(),
            ));
        };
        let text = |key: &str| -> Result<Option<String>, ApiError> {
            match map.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(Value::Number(n)) => Ok(Some(n.to_string())),
                Some(_) => Err(ApiError::Invalid(format!("{key} must be a string"))),
            }
        };
        out.revision = text("revision")?;
        out.tag = text("tag")?;
        out.branch = text("branch")?;
        out.job = text("job")?;
        match map.get("build_parameters") {
            None | Some(Value::Null) => {}
            Some(Value::Object(params)) => {
                for (k, v) in params {
                    if !v.is_null() {
                        out.build_parameters
                            .insert(k.clone(), trigger::build_parameter_text(v));
                    }
                }
            }
            Some(_) => {
                return Err(ApiError::Invalid(
                    "build_parameters must be an object of names to values".into(),
                ));
            }
        }
    } else {
        for (k, v) in form_urlencoded::parse(body) {
            let v = v.into_owned();
            match k.as_ref() {
                "revision" => out.revision = Some(v),
                "tag" => out.tag = Some(v),
                "branch" => out.branch = Some(v),
                "job" => out.job = Some(v),
                key => {
                    if let Some(name) = key
                        .strip_prefix("build_parameters[")
                        .and_then(|r| r.strip_suffix(']'))
                    {
                        out.build_parameters.insert(name.to_owned(), v);
                    }
                }
            }
        }
    }
    let blank = |o: &mut Option<String>| {
        if o.as_deref().is_some_and(|s| s.trim().is_empty()) {
            *o = None;
        }
    };
    blank(&mut out.revision);
    blank(&mut out.tag);
    blank(&mut out.branch);
    blank(&mut out.job);
    Ok(out)
}

/// `POST /project/:vcs/:org/:repo/tree/:branch`: builds the branch (`CIRCLE_JOB`: only that
/// job) and answers 201 with the first new build and its `Location`.
pub async fn trigger_branch(
    State(state): State<AppState>,
    caller: Caller,
    Path(params): Params,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    let body = read_trigger_body(&headers, &body)?;
    let branch = param(&params, "branch").map(str::to_owned);
    run_v1_trigger(&state, &caller, &params, body, branch, false).await
}

/// `POST /project/:vcs/:org/:repo`: the older form: default branch unless `tag`; `job` (or
/// `CIRCLE_JOB`) selects a job.
pub async fn trigger_project(
    State(state): State<AppState>,
    caller: Caller,
    Path(params): Params,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    let body = read_trigger_body(&headers, &body)?;
    run_v1_trigger(&state, &caller, &params, body, None, true).await
}

async fn run_v1_trigger(
    state: &AppState,
    caller: &Caller,
    params: &[(String, String)],
    mut body: TriggerBody,
    branch: Option<String>,
    job_field: bool,
) -> Result<Response, ApiError> {
    let slug = slug_from(params)?;
    let access = authorize(state, caller, &slug, Action::Trigger).await?;
    let user = caller.require_user()?;
    let project = access.project;
    trigger::check_build_parameters(&body.build_parameters)?;
    let only_job = body
        .build_parameters
        .get("CIRCLE_JOB")
        .cloned()
        .or(if job_field { body.job.take() } else { None });
    if let Some(job) = &only_job {
        body.build_parameters
            .insert("CIRCLE_JOB".into(), job.clone());
    }
    let target = if body.tag.is_some() && branch.is_none() {
        if body.revision.is_some() {
            return Err(ApiError::Invalid(
                "Give either a revision or a tag, not both".into(),
            ));
        }
        trigger::target(None, body.tag.as_deref())?
    } else {
        let b = branch.unwrap_or_else(|| project.default_branch.as_str().to_owned());
        trigger::target(Some(&b), None)?
    }
    .expect("a branch or a tag was given");
    let req = TriggerRequest {
        revision: body.revision,
        build_parameters: body.build_parameters,
        only_job,
        ..TriggerRequest::new(target)
    };
    let Triggered { pipeline, jobs } = trigger::trigger(state, &project, user, req).await?;
    let Some(first) = jobs.first() else {
        let errors: Vec<String> = serde_json::from_str(&pipeline.errors).unwrap_or_default();
        return Err(ApiError::Invalid(if errors.is_empty() {
            format!(
                "Nothing to build: every job's branch filters exclude this {}",
                if pipeline.tag.is_some() {
                    "tag"
                } else {
                    "branch"
                }
            )
        } else {
            format!("Config error: {}", errors.join("; "))
        }));
    };
    let mut cache = Cache::default();
    let body = build_json::v1(state, &mut cache, &project, first, false, false).await?;
    Ok(created(state, &project, first, body))
}

fn created(state: &AppState, project: &Project, job: &JobRecord, body: Value) -> Response {
    let location = format!(
        "{}/api/v1.1/project/{}/{}/{}/{}",
        state.config.public_url,
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

/// `POST /project/:vcs/:org/:repo/build`: a pipeline for `branch` (default), `revision` or
/// `tag`; answers exactly `{"status": 200, "body": "Build created"}` as clients check it.
pub async fn trigger_pipeline(
    State(state): State<AppState>,
    caller: Caller,
    Path(params): Params,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<Json<Value>, ApiError> {
    let body = read_trigger_body(&headers, &body)?;
    let slug = slug_from(&params)?;
    let access = authorize(&state, &caller, &slug, Action::Trigger).await?;
    let user = caller.require_user()?;
    if body.tag.is_some() && (body.branch.is_some() || body.revision.is_some()) {
        return Err(ApiError::Invalid(
            "Give a tag alone, or a branch and/or a revision".into(),
        ));
    }
    let target = match &body.tag {
        Some(tag) => trigger::target(None, Some(tag))?,
        None => trigger::target(
            Some(
                body.branch
                    .as_deref()
                    .unwrap_or(access.project.default_branch.as_str()),
            ),
            None,
        )?,
    }
    .expect("a branch or a tag was given");
    let req = TriggerRequest {
        revision: body.revision,
        ..TriggerRequest::new(target)
    };
    trigger::trigger(&state, &access.project, user, req).await?;
    Ok(Json(json!({"status": 200, "body": "Build created"})))
}

/// `GET /recent-builds`: the newest builds across the caller's projects.
pub async fn recent(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let user = caller.require_user()?;
    caller.note_kind(&state, "builds");
    let projects = visible_projects(&state, user).await?;
    let (limit, offset) = (q.limit()?, q.offset()?);
    let mut all: Vec<(Project, JobRecord)> = Vec::new();
    for p in projects {
        for j in state
            .store
            .builds()
            .jobs(p.id, None, JobFilter::All, limit + offset, 0)
            .await?
        {
            all.push((p.clone(), j));
        }
    }
    all.sort_by(|a, b| b.1.queued_at.cmp(&a.1.queued_at).then(b.1.id.cmp(&a.1.id)));
    let mut cache = Cache::default();
    let mut out = Vec::new();
    for (p, j) in all.iter().skip(offset as usize).take(limit as usize) {
        out.push(build_json::v1(&state, &mut cache, p, j, false, q.shallow()).await?);
    }
    Ok(Json(Value::Array(out)))
}

async fn visible_projects(
    state: &AppState,
    user: &circlet_store::User,
) -> Result<Vec<Project>, ApiError> {
    Ok(if user.site_admin {
        state.store.projects().list_all().await?
    } else {
        state
            .store
            .projects()
            .list_for_member(user.id)
            .await?
            .into_iter()
            .map(|(p, _)| p)
            .collect()
    })
}

/// `GET /projects`: the caller's projects with, per branch, recent, running, last successful
/// and last failed builds.
pub async fn projects(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Value>, ApiError> {
    let user = caller.require_user()?;
    caller.note_kind(&state, "projects");
    let mut out = Vec::new();
    for p in visible_projects(&state, user).await? {
        let jobs = state
            .store
            .builds()
            .jobs(p.id, None, JobFilter::All, 100, 0)
            .await?;
        let mut branches = serde_json::Map::new();
        for job in &jobs {
            let Some(branch) = &job.branch else { continue };
            let entry = branches.entry(branch.clone()).or_insert_with(|| {
                json!({
                    "pusher_logins": [],
                    "last_non_success": null,
                    "last_success": null,
                    "recent_builds": [],
                    "running_builds": [],
                })
            });
            let r = build_json::build_ref(job);
            if let Some(recent) = entry["recent_builds"].as_array_mut()
                && recent.len() < 5
            {
                recent.push(r.clone());
            }
            if matches!(job.state, JobState::Running | JobState::Queued)
                && let Some(running) = entry["running_builds"].as_array_mut()
            {
                running.push(r.clone());
            }
            if job.state == JobState::Success && entry["last_success"].is_null() {
                entry["last_success"] = r.clone();
            }
            if job.state.is_final()
                && job.state != JobState::Success
                && entry["last_non_success"].is_null()
            {
                entry["last_non_success"] = r;
            }
        }
        out.push(json!({
            "vcs_url": build_json::vcs_url(&p),
            "vcs_type": p.slug.vcs().long(),
            "username": p.slug.org(),
            "reponame": p.slug.repo(),
            "default_branch": p.default_branch.as_str(),
            "followed": true,
            "oss": p.public,
            "parallel": 1,
            "has_usable_key": true,
            "feature_flags": {"oss": p.public},
            "scopes": ["read-settings", "view-builds"],
            "branches": branches,
        }));
    }
    Ok(Json(Value::Array(out)))
}
