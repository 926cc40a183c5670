//! Handing jobs to runners: the long-poll claim, what a claimed job carries (its environment in
//! CircleCI's precedence), and the reaper that ends jobs whose runner went silent.

use crate::error::ApiError;
use crate::state::AppState;
use circlet_core::ci_config::Job;
use circlet_core::runner_protocol::ClaimedJob;
use circlet_store::{JobRecord, Project};
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::time::Instant;

/// How often a waiting claim looks at the queue even without a local wake-up (another replica
/// may have queued the work).
const POLL_EVERY: Duration = Duration::from_millis(500);

/// Waits up to `wait` for a queued job and hands it to runner `runner_id`.
pub async fn claim(
    state: &AppState,
    runner: &crate::auth::runner::Runner,
    wait: Duration,
) -> Result<Option<ClaimedJob>, ApiError> {
    let deadline = Instant::now() + wait;
    let mut stopping = state.stopping.subscribe();
    let mut first = true;
    loop {
        let notified = state.work_available.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        // A token revoked while its claim waited gets no job (a leaked one above all).
        if !std::mem::take(&mut first) && !runner.still_valid(state).await? {
            return Err(ApiError::Unauthorized("Invalid token provided.".into()));
        }
        if let Some(job) = state.store.builds().claim_next(runner.token.id).await? {
            return Ok(Some(claimed(state, job).await?));
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || *stopping.borrow() {
            return Ok(None);
        }
        tokio::select! {
            _ = notified => {}
            _ = stopping.changed() => {}
            _ = tokio::time::sleep(left.min(POLL_EVERY)) => {}
        }
    }
}

/// What a runner needs to run `job`.
async fn claimed(state: &AppState, job: JobRecord) -> Result<ClaimedJob, ApiError> {
    let project = state
        .store
        .projects()
        .by_id(job.project_id)
        .await?
        .ok_or_else(|| ApiError::NotFound("Project not found".into()))?;
    let definition: Job = serde_json::from_str(&job.spec)
        .map_err(|e| ApiError::Invalid(format!("stored job definition is unreadable: {e}")))?;
    let build_parameters: BTreeMap<String, String> =
        serde_json::from_str(&job.build_parameters).unwrap_or_default();
    let mut messages: Vec<String> = definition
        .executor_notes
        .iter()
        .map(|note| format!("The config asks for {note}; circlet does not provide it."))
        .collect();
    messages.push("circlet runs this job's steps in a shell on the runner's host.".into());
    let project_env =
        crate::envvars::open_all(&state.store, &state.config.env_keys, &project).await?;
    let masks = project_env
        .iter()
        .filter(|(_, v)| circlet_core::envvar::masked_in_output(v))
        .map(|(_, v)| v.clone())
        .collect();
    let env = job_env(
        state,
        &project,
        &job,
        &build_parameters,
        &project_env,
        &definition,
    );
    Ok(ClaimedJob {
        id: job.uuid.to_string(),
        build_num: job.build_num,
        job_name: job.name.clone(),
        project_slug: project.slug.to_string(),
        org: project.slug.org().to_owned(),
        repo: project.slug.repo().to_owned(),
        repo_url: project.repo_url.as_str().to_owned(),
        revision: job.revision.clone(),
        branch: job.branch.clone(),
        tag: job.tag.clone(),
        build_url: build_url(state, &project, job.build_num),
        working_directory: definition
            .working_directory
            .clone()
            .unwrap_or_else(|| "~/project".into()),
        steps: definition.steps,
        env,
        masks,
        messages,
        step_timeout_secs: state.config.step_timeout.as_secs(),
    })
}

/// The build's page, as CircleCI spells it: `<public-url>/gh/org/repo/7`.
pub fn build_url(state: &AppState, project: &Project, build_num: i64) -> String {
    format!("{}/{}/{}", state.config.public_url, project.slug, build_num)
}

/// The job's environment, later entries winning (CircleCI's precedence): its built-in
/// variables, then build parameters (which never replace a built-in), then the project's env
/// vars, then the job's `environment` from the config.
fn job_env(
    state: &AppState,
    project: &Project,
    job: &JobRecord,
    build_parameters: &BTreeMap<String, String>,
    project_env: &[(String, String)],
    definition: &Job,
) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = vec![
        ("CI".into(), "true".into()),
        ("CIRCLECI".into(), "true".into()),
        ("CIRCLE_SHA1".into(), job.revision.clone()),
        ("CIRCLE_BUILD_NUM".into(), job.build_num.to_string()),
        ("CIRCLE_JOB".into(), job.name.clone()),
        (
            "CIRCLE_PROJECT_USERNAME".into(),
            project.slug.org().to_owned(),
        ),
        (
            "CIRCLE_PROJECT_REPONAME".into(),
            project.slug.repo().to_owned(),
        ),
        (
            "CIRCLE_BUILD_URL".into(),
            build_url(state, project, job.build_num),
        ),
        (
            "CIRCLE_REPOSITORY_URL".into(),
            project.repo_url.as_str().to_owned(),
        ),
        ("CIRCLE_WORKFLOW_JOB_ID".into(), job.uuid.to_string()),
    ];
    if let Some(b) = &job.branch {
        env.push(("CIRCLE_BRANCH".into(), b.clone()));
    }
    if let Some(t) = &job.tag {
        env.push(("CIRCLE_TAG".into(), t.clone()));
    }
    let builtin: Vec<String> = env.iter().map(|(k, _)| k.clone()).collect();
    for (k, v) in build_parameters {
        if !builtin.contains(k) {
            env.push((k.clone(), v.clone()));
        }
    }
    env.extend(project_env.iter().cloned());
    env.extend(definition.environment.iter().cloned());
    env
}

/// Every few seconds, ends running jobs whose runner stopped heartbeating.
pub async fn reap_every(state: AppState) {
    let timeout = state.config.runner_timeout;
    let period = (timeout / 4).clamp(Duration::from_millis(200), Duration::from_secs(10));
    let mut ticker = tokio::time::interval(period);
    loop {
        ticker.tick().await;
        crate::store_full::end_jobs_that_lost_writes(&state).await;
        let deadline = time::OffsetDateTime::now_utc()
            - time::Duration::try_from(timeout).unwrap_or(time::Duration::MINUTE);
        match state.store.builds().reap_stale(deadline).await {
            Ok(0) => {}
            Ok(n) => {
                tracing::warn!(jobs = n, "ended jobs whose runner stopped heartbeating");
                state.work_available.notify_waiters();
            }
            Err(e) => tracing::warn!(error = %e, "could not reap stale jobs"),
        }
    }
}
