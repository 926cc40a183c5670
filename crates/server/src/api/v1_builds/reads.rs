//! API v1.1 build reads: lists (lenient query values), one build, its tests and step output,
//! `/recent-builds` and `/projects`.

use super::*;
use crate::route::RouteParams;
use axum::body::Bytes;
use circlet_app::memo::GenerationMemo;
use circlet_store::ProjectGeneration;

/// What identifies a rendered build list: project id, branch, filter, limit, offset, shallow.
type ListKey = (i64, Option<String>, JobFilter, i64, i64, bool);

/// Build lists as rendered lately, by project generation: a list is a function of its project's
/// jobs, pipelines and settings only, and the generation changes whenever a pipeline is created
/// or a job starts or ends, anywhere. The caller is authorized on every request before this is
/// consulted; the list itself is the same for everyone allowed to read it.
pub struct RenderedLists(GenerationMemo<ListKey, Bytes, ProjectGeneration>);

impl Default for RenderedLists {
    fn default() -> Self {
        // Few entries: a list of 100 full builds is about 200 KB.
        RenderedLists(GenerationMemo::new(std::time::Duration::from_secs(60), 256))
    }
}

impl RenderedLists {
    /// How many lists are remembered.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// `limit`, `offset`, `filter`, `shallow` of a build list, read leniently: `filter=None` means
/// no filter, `shallow=True` is true, a limit above 100 is 100.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// How many builds (at most 100; default 30).
    #[param(value_type = Option<i64>, minimum = 0)]
    limit: Option<String>,
    /// How many of the newest builds to skip.
    #[param(value_type = Option<i64>, minimum = 0)]
    offset: Option<String>,
    /// `completed`, `successful`, `failed` or `running`; anything else means all builds.
    filter: Option<String>,
    /// `true` for the summary fields only.
    #[param(value_type = Option<bool>)]
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

/// `GET …/tree/:branch`: the branch's builds, newest first (see [`list`]).
#[utoipa::path(
    get,
    path = "/api/v1.1/project/{vcs}/{org}/{repo}/tree/{branch}",
    operation_id = "list_branch_builds_v1",
    tag = "builds",
    params(ProjectPath, ("branch" = String, Path, description = "The branch (slashes allowed)", example = "main"), ListQuery),
    responses(
        (status = 200, description = "The branch's builds, newest first", body = Vec<V1BuildJson>),
        (status = "4XX", description = "Refused, invalid or not found", body = MessageBody),
    )
)]
pub async fn list_branch(
    state: State<AppState>,
    caller: Caller,
    params: RouteParams,
    query: ApiQuery<ListQuery>,
) -> Result<Response, ApiError> {
    list(state, caller, params, query).await
}

/// `GET /project/:vcs/:org/:repo` and `…/tree/:branch`: the project's builds, newest first.
#[utoipa::path(
    get,
    path = "/api/v1.1/project/{vcs}/{org}/{repo}",
    operation_id = "list_builds_v1",
    tag = "builds",
    params(ProjectPath, ListQuery),
    responses(
        (status = 200, description = "The project's builds, newest first", body = Vec<V1BuildJson>),
        (status = "4XX", description = "Refused, invalid or not found", body = MessageBody),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    params: RouteParams,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Response, ApiError> {
    let slug = params.project()?;
    let access = state
        .app
        .authorize(&caller, &slug, Action::ReadBuilds)
        .await?;
    let branch = params.get("branch");
    let key: ListKey = (
        access.project.id,
        branch.map(str::to_owned),
        q.filter(),
        q.limit()?,
        q.offset()?,
        q.shallow(),
    );
    let (_, _, filter, limit, offset, shallow) = key;
    // The generation is read before the store, so a change committed during the reads counts.
    let generation = state.app.store.project_generation();
    let rendered = state
        .rendered_lists
        .0
        .get_or_read(key, generation, || async {
            let jobs = state
                .app
                .store
                .builds()
                .jobs(access.project.id, branch, filter, limit, offset)
                .await?;
            let mut cache = Cache::default();
            cache.prefetch(&state, &jobs).await?;
            let mut out = Vec::with_capacity(jobs.len());
            for job in &jobs {
                out.push(
                    build_json::v1(&state, &mut cache, &access.project, job, false, shallow)
                        .await?,
                );
            }
            let bytes = serde_json::to_vec(&Value::Array(out))
                .map_err(|e| ApiError::Internal(anyhow::Error::new(e)))?;
            Ok::<_, ApiError>(Some(Bytes::from(bytes)))
        })
        .await?
        // `read` always finds a list (maybe an empty one).
        .unwrap_or_default();
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        rendered,
    )
        .into_response())
}

/// `GET /project/:vcs/:org/:repo/:build_num`: one build, with its steps.
#[utoipa::path(
    get,
    path = "/api/v1.1/project/{vcs}/{org}/{repo}/{build_num}",
    operation_id = "get_build_v1",
    tag = "builds",
    params(ProjectPath, BuildNumPath),
    responses(
        (status = 200, description = "The build, with its steps", body = V1BuildJson),
        (status = "4XX", description = "Refused, invalid or not found", body = MessageBody),
    )
)]
pub async fn show(
    State(state): State<AppState>,
    caller: Caller,
    params: RouteParams,
) -> Result<Json<Value>, ApiError> {
    let (project, job) = project_job(&state, &caller, &params, Action::ReadBuilds).await?;
    let mut cache = Cache::default();
    Ok(Json(
        build_json::v1(&state, &mut cache, &project, &job, true, false).await?,
    ))
}

/// `GET …/:build_num/output/:step/:index`: a step's output (the actions' `output_url`).
#[utoipa::path(
    get,
    path = "/api/v1.1/project/{vcs}/{org}/{repo}/{build_num}/output/{step}/{index}",
    operation_id = "get_step_output_v1",
    tag = "builds",
    params(ProjectPath, BuildNumPath, ("step" = i64, Path, description = "The step's position in the job", minimum = 0), ("index" = i64, Path, description = "The parallel run (node), from 0", minimum = 0)),
    responses(
        (status = 200, description = "The step's output", body = Vec<OutputJson>),
        (status = "4XX", description = "Refused, invalid or not found", body = MessageBody),
    )
)]
pub async fn output(
    State(state): State<AppState>,
    caller: Caller,
    params: RouteParams,
) -> Result<Json<Value>, ApiError> {
    let (_, job) = project_job(&state, &caller, &params, Action::ReadBuilds).await?;
    let step_not_found = || ApiError::NotFound("Step not found".into());
    let step = params
        .get("step")
        .and_then(|n| n.parse::<i64>().ok())
        .ok_or_else(step_not_found)?;
    // A job runs as `parallelism` runs (nodes), from 0; a node's steps are those its runner
    // reported.
    let node = params
        .get("index")
        .and_then(|n| n.parse::<i64>().ok())
        .filter(|n| (0..job.parallelism).contains(n))
        .ok_or_else(|| {
            ApiError::NotFound(format!(
                "Parallel run not found: this build runs as {} parallel run(s), from 0",
                job.parallelism
            ))
        })?;
    let steps = state.app.store.builds().steps(job.id, node).await?;
    if !steps.iter().any(|s| s.idx == step) {
        return Err(step_not_found());
    }
    Ok(Json(
        build_json::output_json(&state, &job, node, step).await?,
    ))
}

/// `GET /project/:vcs/:org/:repo/:build_num/tests`: `{"tests": [...]}` from `store_test_results`.
#[utoipa::path(
    get,
    path = "/api/v1.1/project/{vcs}/{org}/{repo}/{build_num}/tests",
    operation_id = "get_build_tests_v1",
    tag = "builds",
    params(ProjectPath, BuildNumPath),
    responses(
        (status = 200, description = "The build's test results", body = TestsJson),
        (status = "4XX", description = "Refused, invalid or not found", body = MessageBody),
    )
)]
pub async fn tests(
    State(state): State<AppState>,
    caller: Caller,
    params: RouteParams,
) -> Result<Json<Value>, ApiError> {
    let (_, job) = project_job(&state, &caller, &params, Action::ReadBuilds).await?;
    let tests = state.app.store.builds().tests(job.id).await?;
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

/// `GET /recent-builds`: the newest builds across the caller's projects.
#[utoipa::path(
    get,
    path = "/api/v1.1/recent-builds",
    operation_id = "recent_builds_v1",
    tag = "builds",
    params(("limit" = Option<i64>, Query, description = "How many builds (at most 100; default 30)", minimum = 0), ("offset" = Option<i64>, Query, description = "How many of the newest builds to skip", minimum = 0), ("shallow" = Option<bool>, Query, description = "`true` for the summary fields only")),
    responses(
        (status = 200, description = "The newest builds across the caller's projects", body = Vec<V1BuildJson>),
        (status = "4XX", description = "Refused, invalid or not found", body = MessageBody),
    )
)]
pub async fn recent(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    caller.require_user()?;
    caller.note_kind(&state.app, "builds");
    let projects = state.app.projects_of(&caller).await?;
    let (limit, offset) = (q.limit()?, q.offset()?);
    let mut all: Vec<(Project, JobRecord)> = Vec::new();
    for (p, _) in projects {
        for j in state
            .app
            .store
            .builds()
            // Saturating: an `offset` near i64::MAX must not overflow (a panic, a dropped reply).
            .jobs(p.id, None, JobFilter::All, limit.saturating_add(offset), 0)
            .await?
        {
            all.push((p.clone(), j));
        }
    }
    all.sort_by(|a, b| b.1.queued_at.cmp(&a.1.queued_at).then(b.1.id.cmp(&a.1.id)));
    let page: Vec<_> = all
        .iter()
        .skip(offset as usize)
        .take(limit as usize)
        .collect();
    let mut cache = Cache::default();
    let jobs: Vec<JobRecord> = page.iter().map(|(_, j)| j.clone()).collect();
    cache.prefetch(&state, &jobs).await?;
    let mut out = Vec::new();
    for (p, j) in page {
        out.push(build_json::v1(&state, &mut cache, p, j, false, q.shallow()).await?);
    }
    Ok(Json(Value::Array(out)))
}

/// `GET /projects`: the caller's projects with, per branch, recent, running, last successful
/// and last failed builds.
#[utoipa::path(
    get,
    path = "/api/v1.1/projects",
    operation_id = "projects_v1",
    tag = "builds",
    responses(
        (status = 200, description = "The caller's projects with their recent builds by branch", body = Vec<V1ProjectJson>),
        (status = "4XX", description = "Refused, invalid or not found", body = MessageBody),
    )
)]
pub async fn projects(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Value>, ApiError> {
    caller.require_user()?;
    caller.note_kind(&state.app, "projects");
    let followed: Vec<i64> = state
        .app
        .followed_projects(&caller)
        .await?
        .iter()
        .map(|p| p.id)
        .collect();
    let mut out = Vec::new();
    for (p, role) in state.app.projects_of(&caller).await? {
        let jobs = state
            .app
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
            "followed": followed.contains(&p.id),
            "oss": p.public,
            "parallel": 1,
            "has_usable_key": true,
            "feature_flags": super::super::project_settings::FeatureFlags::of(&p),
            "scopes": role.v1_scopes(),
            "branches": branches,
        }));
    }
    Ok(Json(Value::Array(out)))
}
