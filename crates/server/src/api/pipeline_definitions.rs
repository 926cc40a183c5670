//! CircleCI's pipeline definitions and `POST /project/{slug}/pipeline/run`, which newer clients
//! use instead of `POST …/pipeline`. A circlet project has exactly one definition: its
//! repository's `.circleci/config.yml`, read at the commit each pipeline builds, so a run's
//! `config` and `checkout` must name the same branch or tag.

use super::ApiJson;
use super::build_json::iso;
use super::openapi::SlugParam;
use super::v2_pipelines::PipelineCreatedJson;
use crate::error::{ApiError, MessageBody};
use crate::route::RouteParams;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use circlet_app::Caller;
use circlet_core::scope::Action;
use circlet_store::Project;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// Where the one definition's config lives in the repository.
const CONFIG_PATH: &str = ".circleci/config.yml";

/// What an unknown definition is called.
const NOT_FOUND: &str = "Pipeline definition not found";

/// The id of `project`'s one definition: the same every time, derived from the project's id.
fn definition_id(project: &Project) -> Uuid {
    Uuid::new_v5(&project.uuid, b"pipeline-definition")
}

/// A repository a definition reads.
#[derive(Serialize, ToSchema)]
pub struct DefinitionRepoJson {
    /// `org/repo`.
    full_name: String,
    /// The project's id.
    external_id: String,
}

/// Where a definition's config, or its checkout, comes from.
#[derive(Serialize, ToSchema)]
pub struct DefinitionSourceJson {
    /// `github` or `bitbucket`.
    provider: String,
    repo: DefinitionRepoJson,
    /// The config file (config source only).
    #[serde(skip_serializing_if = "Option::is_none")]
    file_path: Option<String>,
}

/// A pipeline definition.
#[derive(Serialize, ToSchema)]
pub struct DefinitionJson {
    id: Uuid,
    name: String,
    description: String,
    created_at: String,
    config_source: DefinitionSourceJson,
    checkout_source: DefinitionSourceJson,
}

fn definition(project: &Project) -> DefinitionJson {
    let source = |file_path: Option<&str>| DefinitionSourceJson {
        provider: project.slug.vcs().long().to_owned(),
        repo: DefinitionRepoJson {
            full_name: format!("{}/{}", project.slug.org(), project.slug.repo()),
            external_id: project.uuid.to_string(),
        },
        file_path: file_path.map(str::to_owned),
    };
    DefinitionJson {
        id: definition_id(project),
        name: "default".into(),
        description: format!(
            "The repository's {CONFIG_PATH}, read at the commit each pipeline builds"
        ),
        created_at: iso(project.created_at),
        config_source: source(Some(CONFIG_PATH)),
        checkout_source: source(None),
    }
}

/// `{project_id}`: a project's id, as `GET /project/{slug}` gives it.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[expect(dead_code, reason = "describes path parameters for the document only")]
pub struct ProjectIdPath {
    /// The project's id (a UUID).
    project_id: Uuid,
}

/// `{definition_id}`: a pipeline definition's id.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[expect(dead_code, reason = "describes path parameters for the document only")]
pub struct DefinitionIdPath {
    /// The definition's id (a UUID).
    definition_id: Uuid,
}

/// The project `projects/{project_id}` names, for someone who may see it.
async fn project_by_id(
    state: &AppState,
    caller: &Caller,
    params: &RouteParams,
) -> Result<Project, ApiError> {
    caller.require_user_unless_read(Action::ViewProject)?;
    let slug = state
        .app
        .project_slug_by_id(params.get("project_id").unwrap_or_default())
        .await?;
    Ok(state
        .app
        .authorize(caller, &slug, Action::ViewProject)
        .await?
        .project)
}

/// `GET /api/v2/projects/{project_id}/pipeline-definitions`: the project's one definition.
#[utoipa::path(get, path = "/api/v2/projects/{project_id}/pipeline-definitions", operation_id = "list_pipeline_definitions", tag = "pipelines",
    params(ProjectIdPath),
    responses(
        (status = 200, description = "The project's definitions: one", body = DefinitionsJson),
        (status = "4XX", description = "Refused, or not found", body = MessageBody)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    params: RouteParams,
) -> Result<Json<DefinitionsJson>, ApiError> {
    let project = project_by_id(&state, &caller, &params).await?;
    Ok(Json(DefinitionsJson {
        items: vec![definition(&project)],
    }))
}

/// A project's definitions.
#[derive(Serialize, ToSchema)]
pub struct DefinitionsJson {
    items: Vec<DefinitionJson>,
}

/// `GET /api/v2/projects/{project_id}/pipeline-definitions/{definition_id}`.
#[utoipa::path(get, path = "/api/v2/projects/{project_id}/pipeline-definitions/{definition_id}", operation_id = "get_pipeline_definition", tag = "pipelines",
    params(ProjectIdPath, DefinitionIdPath),
    responses(
        (status = 200, description = "The definition", body = DefinitionJson),
        (status = "4XX", description = "Refused, or not found", body = MessageBody)))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    params: RouteParams,
) -> Result<Json<DefinitionJson>, ApiError> {
    let project = project_by_id(&state, &caller, &params).await?;
    let asked = params.get("definition_id").unwrap_or_default();
    if Uuid::parse_str(asked).ok() != Some(definition_id(&project)) {
        return Err(ApiError::NotFound(NOT_FOUND.into()));
    }
    Ok(Json(definition(&project)))
}

/// A branch or a tag (`config` or `checkout` of a run).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefBody {
    branch: Option<String>,
    tag: Option<String>,
}

/// The body of `POST /project/{slug}/pipeline/run` (all optional).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RunBody {
    /// The definition to run [default: the project's one].
    definition_id: Option<Uuid>,
    /// Where the config is read: must name what `checkout` names.
    #[serde(default)]
    config: RefBody,
    /// What is built [default: `config`'s branch or tag, else the default branch].
    #[serde(default)]
    checkout: RefBody,
    /// Pipeline parameters: names to strings, numbers or booleans.
    #[schema(value_type = Option<BTreeMap<String, Object>>)]
    #[serde(default)]
    parameters: BTreeMap<String, Value>,
}

/// `POST /api/v2/project/{slug}/pipeline/run` → 201 `{id, state, number, created_at}`.
#[utoipa::path(post, path = "/api/v2/project/{slug}/pipeline/run", operation_id = "trigger_pipeline_run", tag = "pipelines",
    params(SlugParam),
    request_body = RunBody,
    responses(
        (status = 201, description = "The new pipeline", body = PipelineCreatedJson),
        (status = "4XX", description = "Refused, invalid, or not found", body = MessageBody)))]
pub async fn run(
    State(state): State<AppState>,
    caller: Caller,
    params: RouteParams,
    ApiJson(body): ApiJson<RunBody>,
) -> Result<(StatusCode, Json<PipelineCreatedJson>), ApiError> {
    if let Some(asked) = body.definition_id {
        caller.require_user()?;
        let slug = params.v2_project(&state.app).await?;
        let project = state
            .app
            .authorize(&caller, &slug, Action::Trigger)
            .await?
            .project;
        if asked != definition_id(&project) {
            return Err(ApiError::NotFound(NOT_FOUND.into()));
        }
    }
    let named = |r: &RefBody| (r.branch.clone(), r.tag.clone());
    let (config, checkout) = (named(&body.config), named(&body.checkout));
    let (branch, tag) = match (config, checkout) {
        ((None, None), target) | (target, (None, None)) => target,
        (config, checkout) if config == checkout => checkout,
        _ => {
            return Err(ApiError::Invalid(
                "circlet reads the config at the commit it checks out: `config` and `checkout` \
                 must name the same branch or tag"
                    .into(),
            ));
        }
    };
    super::v2_pipelines::start(
        &state,
        &caller,
        &params,
        branch.as_deref(),
        tag.as_deref(),
        &body.parameters,
    )
    .await
}
