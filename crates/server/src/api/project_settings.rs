//! API v1.1's project settings: `GET/PUT /api/v1.1/project/{vcs}/{org}/{repo}/settings`, whose
//! `feature_flags` carry CircleCI's "Advanced" switches that decide what webhooks build. Project
//! admins only; the rules are `circlet_app::hooks`'.

use super::ApiBody;
use super::openapi::ProjectPath;
use crate::error::{ApiError, MessageBody};
use crate::route::RouteParams;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use circlet_app::Caller;
use circlet_core::forge::decide::BuildSettings;
use circlet_store::Project;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// CircleCI's feature flags circlet keeps, by their v1.1 names.
#[derive(Serialize, Deserialize, Default, utoipa::ToSchema)]
pub struct FeatureFlags {
    /// Whether anyone may read the project (`oss`: read-only here; Project settings → General).
    #[serde(skip_serializing_if = "Option::is_none")]
    oss: Option<bool>,
    /// "Only build pull requests".
    #[serde(rename = "build-prs-only", skip_serializing_if = "Option::is_none")]
    build_prs_only: Option<bool>,
    /// "Auto-cancel redundant workflows".
    #[serde(rename = "autocancel-builds", skip_serializing_if = "Option::is_none")]
    autocancel_builds: Option<bool>,
    /// "Build forked pull requests".
    #[serde(rename = "build-fork-prs", skip_serializing_if = "Option::is_none")]
    build_fork_prs: Option<bool>,
    /// "Pass secrets to builds from forked pull requests".
    #[serde(
        rename = "forks-receive-secret-env-vars",
        skip_serializing_if = "Option::is_none"
    )]
    forks_receive_secret_env_vars: Option<bool>,
    /// Any other flag: refused by name.
    #[serde(flatten, skip_serializing)]
    #[schema(ignore)]
    other: BTreeMap<String, serde_json::Value>,
}

impl FeatureFlags {
    /// A project's flags as v1.1 shows them (also in `GET /projects`).
    pub fn of(project: &Project) -> FeatureFlags {
        let b = project.builds;
        FeatureFlags {
            oss: Some(project.public),
            build_prs_only: Some(b.build_prs_only),
            autocancel_builds: Some(b.autocancel_builds),
            build_fork_prs: Some(b.build_fork_prs),
            forks_receive_secret_env_vars: Some(b.forks_receive_secrets),
            other: BTreeMap::new(),
        }
    }
}

/// A project's settings as v1.1 shows them.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ProjectSettings {
    vcs_url: String,
    vcs_type: String,
    username: String,
    reponame: String,
    default_branch: String,
    feature_flags: FeatureFlags,
}

/// `{"feature_flags": {…}}`: the flags to change; the others keep their values.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct SettingsChange {
    feature_flags: Option<FeatureFlags>,
}

fn shown(p: &Project) -> ProjectSettings {
    ProjectSettings {
        vcs_url: super::build_json::vcs_url(p),
        vcs_type: p.slug.vcs().long().to_owned(),
        username: p.slug.org().to_owned(),
        reponame: p.slug.repo().to_owned(),
        default_branch: p.default_branch.as_str().to_owned(),
        feature_flags: FeatureFlags::of(p),
    }
}

/// v1.1 `GET …/settings`.
#[utoipa::path(get, path = "/api/v1.1/project/{vcs}/{org}/{repo}/settings", operation_id = "get_project_settings_v1", tag = "projects",
    params(ProjectPath),
    responses((status = 200, description = "The settings", body = ProjectSettings), (status = "4XX", description = "Refused", body = MessageBody)))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    params: RouteParams,
) -> Result<Json<ProjectSettings>, ApiError> {
    let hooks = state.app.webhooks(&caller, &params.project()?).await?;
    Ok(Json(shown(&hooks.project)))
}

/// v1.1 `PUT …/settings` with `{"feature_flags": {"build-prs-only": true, …}}` → the settings.
#[utoipa::path(put, path = "/api/v1.1/project/{vcs}/{org}/{repo}/settings", operation_id = "set_project_settings_v1", tag = "projects",
    params(ProjectPath),
    request_body(content = SettingsChange, content_type = "application/json"),
    responses((status = 200, description = "The settings as changed", body = ProjectSettings), (status = "4XX", description = "Refused", body = MessageBody)))]
pub async fn put(
    State(state): State<AppState>,
    caller: Caller,
    params: RouteParams,
    ApiBody(change): ApiBody<SettingsChange>,
) -> Result<Json<ProjectSettings>, ApiError> {
    let hooks = state.app.webhooks(&caller, &params.project()?).await?;
    let flags = change.feature_flags.unwrap_or_default();
    if let Some(name) = flags.other.keys().next() {
        return Err(ApiError::Invalid(format!(
            "Unknown feature flag '{}': circlet keeps build-prs-only, autocancel-builds, build-fork-prs and forks-receive-secret-env-vars",
            name.escape_debug()
        )));
    }
    if flags.oss.is_some_and(|oss| oss != hooks.project.public) {
        return Err(ApiError::Invalid(
            "oss is changed in Project settings → General (visibility), not here".into(),
        ));
    }
    let was = hooks.project.builds;
    let now = BuildSettings {
        build_prs_only: flags.build_prs_only.unwrap_or(was.build_prs_only),
        autocancel_builds: flags.autocancel_builds.unwrap_or(was.autocancel_builds),
        build_fork_prs: flags.build_fork_prs.unwrap_or(was.build_fork_prs),
        forks_receive_secrets: flags
            .forks_receive_secret_env_vars
            .unwrap_or(was.forks_receive_secrets),
    };
    hooks.set_build_settings(now).await?;
    let mut project = hooks.project.clone();
    project.builds = now;
    Ok(Json(shown(&project)))
}
