//! Build pages: retry, cancel and approve, rerunning a workflow, a pipeline's config, and the
//! "Trigger pipeline" form. One build's own page is `build_page.rs`, the project page's list of
//! pipelines `pipeline_list.rs`.

use super::projects::{SlugPath, project_url};
use super::{Chrome, UiForm, render, render_with};
use crate::auth::csrf::CsrfToken;
use crate::auth::session::{CurrentUser, MaybeUser};
use crate::error::PageError;
use crate::state::AppState;
use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use circlet_app::Caller;
use circlet_app::access::ProjectAccess;
use circlet_app::builds::git::Target;
use circlet_app::builds::rerun::RerunRequest;
use circlet_app::builds::trigger::{self, Pipelines, TriggerRequest};
use circlet_core::ProjectSlug;
use circlet_core::ci_config::ParamValue;
use circlet_core::scope::Action;
use circlet_store::{JobRecord, Project, User};
use serde::Deserialize;
use std::collections::BTreeMap;

/// The build number in a page path.
#[derive(Deserialize)]
pub struct JobPath {
    vcs: String,
    org: String,
    repo: String,
    num: String,
}

impl JobPath {
    fn slug(&self) -> Result<ProjectSlug, PageError> {
        Ok(ProjectSlug::from_parts(&self.vcs, &self.org, &self.repo)?)
    }

    fn num(&self) -> Result<i64, PageError> {
        self.num
            .parse::<i64>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| PageError::not_found("There is no such build."))
    }
}

/// The URL of a build's page.
pub fn job_url(slug: &ProjectSlug, build_num: i64) -> String {
    format!("/projects/{slug}/jobs/{build_num}")
}

pub(super) async fn load_job(
    state: &AppState,
    user: Option<&User>,
    path: &JobPath,
    action: Action,
) -> Result<(ProjectAccess, JobRecord), PageError> {
    let slug = path.slug()?;
    let num = path.num()?;
    let a = super::projects::access(state, user, &slug, action, &job_url(&slug, num)).await?;
    let job = state
        .app
        .store
        .builds()
        .job_by_num(a.project.id, num)
        .await?
        .ok_or_else(|| PageError::not_found("There is no such build."))?;
    Ok((a, job))
}

/// The build a page's path names, for a user who may start pipelines in its project.
async fn writable_job<'a>(
    state: &'a AppState,
    user: &User,
    path: &JobPath,
) -> Result<(Pipelines<'a>, JobRecord), PageError> {
    let caller = Caller::visitor(Some(user));
    let pipelines = state.app.pipelines(&caller, &path.slug()?).await?;
    let job = pipelines
        .job(path.num()?, "There is no such build.")
        .await?;
    Ok((pipelines, job))
}

/// `POST …/jobs/{num}/retry`: a new build of the same job; goes to its page.
pub async fn retry(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(path): Path<JobPath>,
) -> Result<Response, PageError> {
    let (pipelines, job) = writable_job(&state, &user, &path).await?;
    let new = pipelines.retry(&job).await?;
    Ok(Redirect::to(&job_url(&pipelines.project.slug, new.build_num)).into_response())
}

/// The rerun buttons' form: from start, or (`from_failed` set) from the failed jobs.
#[derive(Deserialize)]
pub struct RerunForm {
    from_failed: Option<String>,
}

/// `POST /workflows/{uuid}/rerun`: reruns a finished workflow as a new one of its pipeline
/// (from start, or from its failed jobs); goes to its project's page.
pub async fn rerun_workflow(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    params: crate::route::RouteParams,
    UiForm(form): UiForm<RerunForm>,
) -> Result<Response, PageError> {
    let missing = || PageError::not_found("There is no such workflow.");
    let uuid = params
        .get("uuid")
        .and_then(|u| uuid::Uuid::parse_str(u).ok())
        .ok_or_else(missing)?;
    let req = RerunRequest {
        from_failed: form.from_failed.is_some(),
        ..RerunRequest::default()
    };
    let (project, _) = state
        .app
        .rerun_workflow(&Caller::visitor(Some(&user)), uuid, &req)
        .await?;
    Ok(Redirect::to(&project_url(&project.slug)).into_response())
}

#[derive(Template)]
#[template(path = "pipeline_config.html")]
struct PipelineConfigPage {
    chrome: Chrome,
    project: Project,
    number: i64,
    target: String,
    errors: Vec<Vec<String>>,
    source: Option<String>,
    compiled: String,
}

/// `GET /projects/{vcs}/{org}/{repo}/pipelines/{number}/config`: the pipeline's
/// `.circleci/config.yml` as read at its revision, next to what it compiled to.
pub async fn pipeline_config(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    csrf: CsrfToken,
    Path(path): Path<JobPath>,
) -> Result<Html<String>, PageError> {
    let caller = Caller::visitor(user.as_ref());
    let number = path
        .num
        .parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| PageError::not_found("There is no such pipeline."))?;
    let (project, pipeline, config) = state
        .app
        .pipeline_config(&caller, &path.slug()?, number)
        .await?;
    let target = match (&pipeline.branch, &pipeline.tag) {
        (_, Some(t)) => format!("tag {t}"),
        (Some(b), None) => format!("branch {b}"),
        (None, None) => String::new(),
    };
    let (source, compiled) = match config {
        Some((s, c)) => (Some(s), c),
        None => (None, String::new()),
    };
    render(&PipelineConfigPage {
        chrome: Chrome::new(user, csrf),
        project,
        number,
        target,
        errors: serde_json::from_str::<Vec<String>>(&pipeline.errors)
            .unwrap_or_default()
            .iter()
            .map(|e| super::pipeline_list::error_lines(e))
            .collect(),
        source,
        compiled,
    })
}

/// `POST …/jobs/{num}/approve`: approves an approval job on hold; its workflow goes on.
pub async fn approve(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(path): Path<JobPath>,
) -> Result<Response, PageError> {
    let (pipelines, job) = writable_job(&state, &user, &path).await?;
    pipelines
        .approve(std::slice::from_ref(&job), job.uuid)
        .await?;
    Ok(Redirect::to(&job_url(&pipelines.project.slug, job.build_num)).into_response())
}

/// `POST …/jobs/{num}/cancel`: stops the build (a running one within seconds).
pub async fn cancel(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(path): Path<JobPath>,
) -> Result<Response, PageError> {
    let (pipelines, job) = writable_job(&state, &user, &path).await?;
    pipelines.cancel(&job).await?;
    Ok(Redirect::to(&job_url(&pipelines.project.slug, job.build_num)).into_response())
}

#[derive(Template)]
#[template(path = "trigger.html")]
struct TriggerPage {
    chrome: Chrome,
    project: Project,
    form: TriggerForm,
    error: Option<String>,
}

/// The "Trigger pipeline" form.
#[derive(Deserialize, Default)]
pub struct TriggerForm {
    /// `branch` or `tag`.
    kind: String,
    /// The branch or tag name.
    name: String,
    /// `name=value` lines.
    parameters: String,
}

/// `GET /projects/{vcs}/{org}/{repo}/trigger`.
pub async fn trigger_form(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    csrf: CsrfToken,
    SlugPath(slug): SlugPath,
) -> Result<Html<String>, PageError> {
    let project = super::projects::for_user(&state, &user, &slug, Action::Trigger).await?;
    let form = TriggerForm {
        kind: "branch".into(),
        name: project.default_branch.as_str().to_owned(),
        parameters: String::new(),
    };
    render(&TriggerPage {
        chrome: Chrome::new(Some(user), csrf),
        project,
        form,
        error: None,
    })
}

/// Reads `name=value` lines: `true`/`false` are booleans, whole numbers integers, the rest text.
fn read_parameters(raw: &str) -> Result<BTreeMap<String, ParamValue>, String> {
    let mut out = BTreeMap::new();
    for (n, line) in raw.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let Some((name, value)) = line.split_once('=') else {
            return Err(format!(
                "Parameter line {} must look like name=value",
                n + 1
            ));
        };
        let value = value.trim();
        let v = match value {
            "true" => ParamValue::Bool(true),
            "false" => ParamValue::Bool(false),
            _ => value
                .parse::<i64>()
                .map(ParamValue::Int)
                .unwrap_or_else(|_| ParamValue::Str(value.to_owned())),
        };
        out.insert(name.trim().to_owned(), v);
    }
    Ok(out)
}

/// `POST /projects/{vcs}/{org}/{repo}/trigger`: runs a pipeline and shows the project page.
pub async fn trigger_submit(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    csrf: CsrfToken,
    SlugPath(slug): SlugPath,
    UiForm(form): UiForm<TriggerForm>,
) -> Result<Response, PageError> {
    let pipelines = state
        .app
        .pipelines(&Caller::visitor(Some(&user)), &slug)
        .await?;
    let project = &pipelines.project;
    let outcome = async {
        let parameters = read_parameters(&form.parameters).map_err(PageError::invalid)?;
        trigger::check_parameters(&parameters)?;
        let name = form.name.trim();
        let target = match form.kind.as_str() {
            "tag" => trigger::target(None, Some(name))?,
            _ => trigger::target(Some(name), None)?,
        }
        .unwrap_or(Target::Branch(project.default_branch.as_str().to_owned()));
        let req = TriggerRequest {
            parameters,
            trigger_type: "explicit",
            ..TriggerRequest::new(target)
        };
        Ok::<_, PageError>(pipelines.trigger(req).await?)
    }
    .await;
    match outcome {
        Ok(_) => Ok(Redirect::to(&project_url(&project.slug)).into_response()),
        Err(PageError::Page {
            status, message, ..
        }) if status.is_client_error() => {
            let page = TriggerPage {
                chrome: Chrome::new(Some(user), csrf),
                project: pipelines.project,
                form,
                error: Some(message),
            };
            Ok(render_with(StatusCode::BAD_REQUEST, &page)?.into_response())
        }
        Err(other) => Err(other),
    }
}
