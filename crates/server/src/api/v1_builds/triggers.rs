//! API v1.1 triggers (`tree/:branch`, the project form, `/build`), retry and cancel.

use super::*;
use crate::route::RouteParams;

/// The build the path names, for a user who may start pipelines in its project.
async fn writable_job<'a>(
    state: &'a AppState,
    caller: &Caller,
    params: &RouteParams,
) -> Result<(Pipelines<'a>, JobRecord), ApiError> {
    let pipelines = state.app.pipelines(caller, &params.project()?).await?;
    let num = params.number("build_num", "Build not found")?;
    let job = pipelines.job(num, "Build not found").await?;
    Ok((pipelines, job))
}

/// `POST …/:build_num/retry`: a new build of the same job, `why: retry`.
#[utoipa::path(
    post,
    path = "/api/v1.1/project/{vcs}/{org}/{repo}/{build_num}/retry",
    operation_id = "retry_build_v1",
    tag = "builds",
    params(ProjectPath, BuildNumPath),
    responses(
        (status = 201, description = "The new build", body = V1BuildJson),
        (status = "4XX", description = "Refused, invalid or not found", body = MessageBody),
    )
)]
pub async fn retry(
    State(state): State<AppState>,
    caller: Caller,
    params: RouteParams,
) -> Result<Response, ApiError> {
    let (pipelines, job) = writable_job(&state, &caller, &params).await?;
    let new = pipelines.retry(&job).await?;
    let project = &pipelines.project;
    let mut cache = Cache::default();
    let body = build_json::v1(&state, &mut cache, project, &new, false, false).await?;
    Ok(created(&state, project, &new, body))
}

/// `POST …/:build_num/cancel`: a queued build ends at once, a running one at its runner's next
/// heartbeat (within seconds). Answers the build as it stands.
#[utoipa::path(
    post,
    path = "/api/v1.1/project/{vcs}/{org}/{repo}/{build_num}/cancel",
    operation_id = "cancel_build_v1",
    tag = "builds",
    params(ProjectPath, BuildNumPath),
    responses(
        (status = 200, description = "The build as it stands", body = V1BuildJson),
        (status = "4XX", description = "Refused, invalid or not found", body = MessageBody),
    )
)]
pub async fn cancel(
    State(state): State<AppState>,
    caller: Caller,
    params: RouteParams,
) -> Result<Json<Value>, ApiError> {
    let (pipelines, job) = writable_job(&state, &caller, &params).await?;
    pipelines.cancel(&job).await?;
    let project = pipelines.project;
    let job = state
        .app
        .store
        .builds()
        .job_by_id(job.id)
        .await?
        .unwrap_or(job);
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

/// The v1.1 trigger body as the OpenAPI document shows it; [`read_trigger_body`] reads it by hand
/// (JSON or form, numbers for strings, explicit nulls) into [`TriggerBody`].
#[derive(utoipa::ToSchema)]
#[expect(dead_code, reason = "describes the body for the OpenAPI document only")]
pub struct TriggerBodyJson {
    /// The commit to build [default: the branch's head].
    revision: Option<String>,
    /// A tag to build instead of a branch.
    tag: Option<String>,
    /// The branch (`…/build` only; `tree/{branch}` names it in the path).
    branch: Option<String>,
    /// Only this job (the project form; `build_parameters.CIRCLE_JOB` elsewhere).
    job: Option<String>,
    /// Environment variables for the build (a form spells them `build_parameters[NAME]=…`).
    build_parameters: Option<BTreeMap<String, String>>,
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
#[utoipa::path(
    post,
    path = "/api/v1.1/project/{vcs}/{org}/{repo}/tree/{branch}",
    operation_id = "trigger_branch_v1",
    tag = "builds",
    params(ProjectPath, ("branch" = String, Path, description = "The branch to build (slashes allowed)", example = "main")),
    request_body(content((TriggerBodyJson = "application/json"), (TriggerBodyJson = "application/x-www-form-urlencoded"))),
    responses(
        (status = 201, description = "The first new build", body = V1BuildJson),
        (status = "4XX", description = "Refused, invalid or not found", body = MessageBody),
    )
)]
pub async fn trigger_branch(
    State(state): State<AppState>,
    caller: Caller,
    params: RouteParams,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    let body = read_trigger_body(&headers, &body)?;
    let branch = params.get("branch").map(str::to_owned);
    run_v1_trigger(&state, &caller, &params, body, branch, false).await
}

/// `POST /project/:vcs/:org/:repo`: the older form: default branch unless `tag`; `job` (or
/// `CIRCLE_JOB`) selects a job.
#[utoipa::path(
    post,
    path = "/api/v1.1/project/{vcs}/{org}/{repo}",
    operation_id = "trigger_project_v1",
    tag = "builds",
    params(ProjectPath),
    request_body(content((TriggerBodyJson = "application/json"), (TriggerBodyJson = "application/x-www-form-urlencoded"))),
    responses(
        (status = 201, description = "The first new build", body = V1BuildJson),
        (status = "4XX", description = "Refused, invalid or not found", body = MessageBody),
    )
)]
pub async fn trigger_project(
    State(state): State<AppState>,
    caller: Caller,
    params: RouteParams,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    let body = read_trigger_body(&headers, &body)?;
    run_v1_trigger(&state, &caller, &params, body, None, true).await
}

async fn run_v1_trigger(
    state: &AppState,
    caller: &Caller,
    params: &RouteParams,
    mut body: TriggerBody,
    branch: Option<String>,
    job_field: bool,
) -> Result<Response, ApiError> {
    let pipelines = state.app.pipelines(caller, &params.project()?).await?;
    let project = &pipelines.project;
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
    let Triggered { pipeline, jobs } = pipelines.trigger(req).await?;
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
    let body = build_json::v1(state, &mut cache, project, first, false, false).await?;
    Ok(created(state, project, first, body))
}

/// `POST /project/:vcs/:org/:repo/build`: a pipeline for `branch` (default), `revision` or
/// `tag`; answers exactly `{"status": 200, "body": "Build created"}` as clients check it.
#[utoipa::path(
    post,
    path = "/api/v1.1/project/{vcs}/{org}/{repo}/build",
    operation_id = "trigger_pipeline_v1",
    tag = "builds",
    params(ProjectPath),
    request_body(content((TriggerBodyJson = "application/json"), (TriggerBodyJson = "application/x-www-form-urlencoded"))),
    responses(
        (status = 200, description = "`{\"status\": 200, \"body\": \"Build created\"}`", body = BuildCreatedJson),
        (status = "4XX", description = "Refused, invalid or not found", body = MessageBody),
    )
)]
pub async fn trigger_pipeline(
    State(state): State<AppState>,
    caller: Caller,
    params: RouteParams,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<Json<Value>, ApiError> {
    let body = read_trigger_body(&headers, &body)?;
    let pipelines = state.app.pipelines(&caller, &params.project()?).await?;
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
                    .unwrap_or(pipelines.project.default_branch.as_str()),
            ),
            None,
        )?,
    }
    .expect("a branch or a tag was given");
    let req = TriggerRequest {
        revision: body.revision,
        ..TriggerRequest::new(target)
    };
    pipelines.trigger(req).await?;
    Ok(Json(json!({"status": 200, "body": "Build created"})))
}
