//! `POST /api/v2/compile-config-with-defaults`: CircleCI's config compiler, for the clients that
//! check a config before pushing it (`circleci config validate` pointed at this server). The
//! request and answer are CircleCI's: `{config_yaml, options}` in, `{valid, errors,
//! source-yaml, output-yaml}` out. User-level: a personal token or a session.

use crate::error::ApiError;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use circlet_app::Caller;
use circlet_app::builds::trigger::pipeline_parameters;
use circlet_core::ci_config::PipelineContext;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What to compile.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct CompileRequest {
    /// The config's text.
    config_yaml: String,
    /// The pipeline to compile it for.
    #[serde(default)]
    options: CompileOptions,
}

/// The pipeline a config is compiled for; every part optional.
#[derive(Deserialize, Default, utoipa::ToSchema)]
pub struct CompileOptions {
    /// CircleCI's organization id: accepted, not needed (orbs come from this instance).
    #[serde(default)]
    #[expect(dead_code, reason = "accepted as CircleCI's clients send it")]
    owner_id: Option<String>,
    /// Pipeline parameters: strings, integers or booleans.
    #[serde(default)]
    pipeline_parameters: BTreeMap<String, serde_json::Value>,
    /// Pipeline values by name, with or without `pipeline.` (`git.branch`, `number`, …).
    #[serde(default)]
    pipeline_values: BTreeMap<String, serde_json::Value>,
}

/// One problem.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CompileError {
    /// What is wrong, and where.
    message: String,
}

/// What the config compiled to.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CompileResponse {
    /// Whether it compiled.
    valid: bool,
    /// Each problem, when it did not.
    errors: Vec<CompileError>,
    /// The config as given.
    #[serde(rename = "source-yaml")]
    source_yaml: String,
    /// The config expanded to 2.0 (empty when it did not compile).
    #[serde(rename = "output-yaml")]
    output_yaml: String,
}

/// `POST /api/v2/compile-config-with-defaults`.
#[utoipa::path(
    post,
    path = "/api/v2/compile-config-with-defaults",
    operation_id = "compile_config",
    tag = "config",
    request_body = CompileRequest,
    responses(
        (status = 200, description = "The compiled config, or its problems", body = CompileResponse),
        (status = "4XX", description = "Not a user's credentials, or not a request", body = crate::error::MessageBody),
    )
)]
pub async fn compile(
    State(state): State<AppState>,
    caller: Caller,
    crate::api::ApiJson(req): crate::api::ApiJson<CompileRequest>,
) -> Result<Json<CompileResponse>, ApiError> {
    caller.require_user()?;
    caller.note_kind(&state.app, "config");
    let mut ctx = PipelineContext {
        branch: Some("main".into()),
        revision: "0".repeat(40),
        number: 1,
        trigger_source: "api".into(),
        ..PipelineContext::default()
    };
    ctx.parameters = pipeline_parameters(&req.options.pipeline_parameters)?;
    for (name, value) in &req.options.pipeline_values {
        let text = match value {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        set_value(
            &mut ctx,
            name.strip_prefix("pipeline.").unwrap_or(name),
            text,
        );
    }
    let compiled = state
        .app
        .compile_config(req.config_yaml.clone(), ctx)
        .await?;
    Ok(Json(match compiled {
        Ok(c) => CompileResponse {
            valid: true,
            errors: Vec::new(),
            source_yaml: req.config_yaml,
            output_yaml: c.processed,
        },
        Err(errors) => CompileResponse {
            valid: false,
            errors: errors
                .into_iter()
                .map(|message| CompileError { message })
                .collect(),
            source_yaml: req.config_yaml,
            output_yaml: String::new(),
        },
    }))
}

/// Sets the pipeline value `name` (without `pipeline.`); unknown names are ignored, as
/// CircleCI ignores values its compiler does not use.
fn set_value(ctx: &mut PipelineContext, name: &str, text: String) {
    match name {
        "id" => ctx.id = text,
        "number" => ctx.number = text.parse().unwrap_or(ctx.number),
        "git.branch" => ctx.branch = Some(text),
        "git.tag" => ctx.tag = Some(text),
        "git.revision" => ctx.revision = text,
        "git.base_revision" => ctx.base_revision = Some(text),
        "project.git_url" => ctx.project_git_url = text,
        "project.type" => ctx.project_type = text,
        "project.slug" => ctx.project_slug = text,
        "trigger_source" => ctx.trigger_source = text,
        _ => {
            if let Some(p) = name.strip_prefix("trigger_parameters.") {
                ctx.trigger_parameters.insert(p.to_owned(), text);
            }
        }
    }
}
