//! The OpenAPI document of circlet's JSON API, served at `GET /api/v2/openapi.json`.
//!
//! Generated, never written by hand: every operation comes from the `#[utoipa::path]` attribute
//! on its handler, every schema from a `ToSchema` type. Most reply types are the ones the
//! handlers serialize; where a handler assembles `serde_json::Value` (the build shapes in
//! `build_json.rs`, `/me` of v1.1, `/projects`) a type in [`super::build_schema`] or next to
//! the handler describes it for the document only (its comment says so).
//!
//! Each handler documents one path; the router's aliases (`/api/v1/…` beside `/api/v1.1/…`, and
//! v2's `/project/{vcs}/{org}/{repo}/…` beside `/project/{slug}/…`) are derived from it here,
//! so one attribute covers both spellings. The test `http::openapi` compares the document with
//! the router: a JSON route without documentation fails it.

use super::{
    artifacts, compile_config, contexts, env_vars, follows, health, hooks, insights, leak_reports,
    me, oidc, orbs, organizations, pipeline_definitions, private_output, project_settings,
    projects, runners_v3, schedules, ssh_keys, tokens, users, v1_builds, v2_jobs,
    v2_pipeline_lists, v2_pipelines, v2_rerun, webhooks,
};
use axum::Json;
use utoipa::openapi::path::{Operation, Parameter, ParameterIn, PathItem};
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, Http, HttpAuthScheme, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{OpenApi as Document, RefOr};
use utoipa::{IntoParams, OpenApi};

/// The path of the document itself.
pub const PATH: &str = "/api/v2/openapi.json";

/// `{vcs}/{org}/{repo}`: a project named by its three path segments.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[expect(dead_code, reason = "describes path parameters for the document only")]
pub struct ProjectPath {
    /// The VCS: `github` (or `gh`) or `bitbucket` (or `bb`).
    #[param(example = "gh")]
    vcs: String,
    /// The organization (user or team) owning the repository.
    #[param(example = "acme")]
    org: String,
    /// The repository's name.
    #[param(example = "widgets")]
    repo: String,
}

/// `{slug}`: a project slug, `vcs/org/repo` in one `%2F`-encoded segment.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[expect(dead_code, reason = "describes path parameters for the document only")]
pub struct SlugParam {
    /// `vcs/org/repo`, e.g. `gh/acme/widgets`, with its slashes encoded as `%2F`.
    #[param(example = "gh/acme/widgets")]
    slug: String,
}

/// `{build_num}`: a v1.1 build (a job) by its number in the project.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[expect(dead_code, reason = "describes path parameters for the document only")]
pub struct BuildNumPath {
    /// The build's number, from 1.
    #[param(example = 1, minimum = 1)]
    build_num: i64,
}

/// `{number}`: a v2 pipeline or job by its number in the project.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[expect(dead_code, reason = "describes path parameters for the document only")]
pub struct NumberPath {
    /// The pipeline's or job's number, from 1.
    #[param(example = 1, minimum = 1)]
    number: i64,
}

/// `{id}`: a pipeline or workflow by its id.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[expect(dead_code, reason = "describes path parameters for the document only")]
pub struct IdPath {
    /// The id (a UUID).
    id: uuid::Uuid,
}

/// `{fingerprint}`: an SSH key by its MD5 (`aa:bb:…`) or SHA-256 (`SHA256:…`) fingerprint.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[expect(dead_code, reason = "describes path parameters for the document only")]
pub struct FingerprintPath {
    /// The key's fingerprint.
    #[param(example = "c9:0b:1c:4f:d5:65:56:b9:ad:88:f9:81:2b:37:74:2f")]
    fingerprint: String,
}

/// `{name}`: an environment variable by name.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[expect(dead_code, reason = "describes path parameters for the document only")]
pub struct EnvVarNamePath {
    /// The variable's name.
    #[param(example = "DEPLOY_KEY")]
    name: String,
}

/// The document's text for people, in Markdown.
const DESCRIPTION: &str = "\
circlet's CircleCI-compatible JSON API: API v1.1 (and its `/api/v1/` aliases), API v2, \
project API tokens, environment variables, artifact lists, `/me`, and the health probes.

Authenticate with an API token in any of the four forms CircleCI clients use: the \
`Circle-Token` header, the `circle-token` query parameter, HTTP Basic with the token as the \
username (no password), or `Authorization: Bearer`. v1.1 reads of public projects need none; \
API v2 and `/me` need a personal token (or a browser session). Every error is JSON \
`{\"message\": …}` with a 4xx status (503 when the database is unreachable).

Not covered here: the runner protocol under `/api/runner/v1/` (circlet's own server-to-runner \
protocol, versioned with the binary and typed in `circlet_core::runner_protocol`; not a \
CircleCI API), the HTML web UI, status badges and `cc.xml`, and artifact downloads (the files \
the artifact lists' `url`s point to).";

/// The handlers the document lists, each with its one documented path.
#[derive(OpenApi)]
#[openapi(
    paths(
        health::healthz,
        health::readyz,
        serve,
        me::v1,
        me::v2,
        organizations::collaborations,
        oidc::job_token,
        tokens::list,
        tokens::create,
        tokens::delete,
        tokens::put_all,
        tokens::patch_all,
        tokens::put_one,
        tokens::patch_one,
        v1_builds::list,
        v1_builds::list_branch,
        v1_builds::trigger_project,
        v1_builds::trigger_branch,
        v1_builds::trigger_pipeline,
        v1_builds::show,
        v1_builds::tests,
        v1_builds::output,
        v1_builds::retry,
        v1_builds::cancel,
        v1_builds::recent,
        v1_builds::projects,
        env_vars::v1_list,
        env_vars::v1_create,
        env_vars::v1_get,
        env_vars::v1_delete,
        env_vars::v2_list,
        env_vars::v2_create,
        env_vars::v2_get,
        env_vars::v2_delete,
        ssh_keys::v1_list,
        ssh_keys::v1_create,
        ssh_keys::v1_get,
        ssh_keys::v1_delete,
        ssh_keys::v1_add_ssh_key,
        ssh_keys::v1_delete_ssh_key,
        ssh_keys::v2_list,
        ssh_keys::v2_create,
        ssh_keys::v2_get,
        ssh_keys::v2_delete,
        artifacts::v1_build,
        artifacts::v1_latest,
        artifacts::v2_job,
        projects::get_one,
        projects::create,
        project_settings::get,
        project_settings::put,
        hooks::receive,
        leak_reports::github,
        organizations::get,
        organizations::get_by_slug,
        contexts::list,
        contexts::create,
        contexts::get,
        contexts::delete,
        contexts::vars,
        contexts::set_var,
        contexts::delete_var,
        contexts::restrictions,
        contexts::restrict,
        contexts::unrestrict,
        schedules::list,
        schedules::create,
        schedules::get,
        schedules::update,
        schedules::delete,
        webhooks::list,
        webhooks::create,
        webhooks::get,
        webhooks::update,
        webhooks::delete,
        v2_pipelines::trigger_pipeline,
        v2_pipelines::list_pipelines,
        v2_pipelines::pipeline_by_number,
        v2_pipelines::pipeline,
        v2_pipelines::pipeline_workflows,
        v2_pipelines::workflow,
        v2_jobs::workflow_jobs,
        v2_pipelines::cancel_workflow,
        v2_rerun::rerun_workflow,
        v2_pipelines::approve,
        v2_pipelines::continue_pipeline,
        v2_jobs::job,
        v2_jobs::cancel_job,
        v2_jobs::tests,
        compile_config::compile,
        orbs::list,
        orbs::versions,
        runners_v3::list,
        runners_v3::tasks,
        runners_v3::running,
        v2_pipeline_lists::list,
        v2_pipeline_lists::mine,
        v2_pipeline_lists::config,
        users::get,
        follows::follow,
        follows::unfollow,
        follows::followed,
        private_output::output,
        private_output::error,
        pipeline_definitions::list,
        pipeline_definitions::get,
        pipeline_definitions::run,
        insights::workflows,
        insights::workflow_runs,
        insights::workflow_jobs,
        insights::flaky_tests,
    ),
    tags(
        (name = "health", description = "Liveness and readiness probes"),
        (name = "meta", description = "This document"),
        (name = "user", description = "The calling user"),
        (name = "tokens", description = "Project API tokens (API v1.1)"),
        (name = "builds", description = "Builds: API v1.1"),
        (name = "env-vars", description = "Project environment variables"),
        (name = "ssh-keys", description = "Project SSH keys: checkout keys and additional keys"),
        (name = "artifacts", description = "Artifact lists"),
        (name = "projects", description = "Projects (API v2) and their v1.1 settings"),
        (name = "outbound-webhooks", description = "Outbound webhooks: workflow-completed and job-completed events (API v2)"),
        (name = "schedules", description = "Scheduled pipelines (API v2)"),
        (name = "webhooks", description = "Where forges (GitHub, Gitea/Forgejo, GitLab, Bitbucket) deliver webhooks"),
        (name = "secret-scanning", description = "Where secret scanners report leaked circlet tokens (GitHub's partner program format)"),
        (name = "pipelines", description = "Pipelines, workflows and jobs (API v2)"),
        (name = "config", description = "Compiling configs, and the orbs they use"),
        (name = "runners", description = "Self-hosted runners and their resource classes (API v3)"),
        (name = "oidc", description = "OIDC ID tokens for jobs"),
        (name = "contexts", description = "Contexts: organizations' shared environment variables (API v2)"),
        (name = "insights", description = "Insights: workflows' and jobs' metrics, flaky tests (API v2)"),
    )
)]
struct ApiDoc;

/// The names of the security schemes, one per way a token may be sent.
const SCHEMES: [&str; 4] = [
    "circle_token_header",
    "circle_token_query",
    "basic",
    "bearer",
];

/// The whole document: the handlers' operations, their aliases, the security schemes.
pub fn document() -> Document {
    let mut doc = ApiDoc::openapi();
    doc.info.title = "circlet API".into();
    doc.info.version = env!("CARGO_PKG_VERSION").into();
    doc.info.description = Some(DESCRIPTION.into());
    doc.info.license = None;
    doc.info.contact = None;

    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        SCHEMES[0],
        SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
            "Circle-Token",
            "An API token in the Circle-Token header (any case).",
        ))),
    );
    components.add_security_scheme(
        SCHEMES[1],
        SecurityScheme::ApiKey(ApiKey::Query(ApiKeyValue::with_description(
            "circle-token",
            "An API token in the circle-token query parameter.",
        ))),
    );
    components.add_security_scheme(
        SCHEMES[2],
        SecurityScheme::Http(Http::new(HttpAuthScheme::Basic)),
    );
    components.add_security_scheme(
        SCHEMES[3],
        SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
    );
    // Any one of the four forms; operations that need none say `security: [{}]` themselves.
    doc.security = Some(
        SCHEMES
            .iter()
            .map(|s| SecurityRequirement::new(*s, Vec::<String>::new()))
            .collect(),
    );

    let mut aliases = Vec::new();
    for (path, item) in &doc.paths.paths {
        if let Some((alias, rewrite)) = alias_of(path) {
            aliases.push((alias, rewritten(item, rewrite)));
        }
    }
    for (path, item) in aliases {
        match doc.paths.paths.get_mut(&path) {
            Some(existing) => existing.merge_operations(item),
            None => {
                doc.paths.paths.insert(path, item);
            }
        }
    }
    doc
}

/// How an alias's parameters differ from its documented path's.
#[derive(Clone, Copy)]
enum Rewrite {
    /// The same parameters.
    Same,
    /// API v1's paths: no `{vcs}` (GitHub is meant).
    DropVcs,
    /// `{slug}` spelled as `{vcs}/{org}/{repo}`.
    SlugToParts,
}

/// The router's other spelling of a documented path, if it has one.
fn alias_of(path: &str) -> Option<(String, Rewrite)> {
    const V1_PROJECT: &str = "/api/v1.1/project/{vcs}/{org}/{repo}";
    const V2_SLUG: &str = "/api/v2/project/{slug}";
    if let Some(rest) = path.strip_prefix(V1_PROJECT) {
        // Project tokens have no `/api/v1/` spelling.
        return (!rest.starts_with("/token")).then(|| {
            (
                format!("/api/v1/project/{{org}}/{{repo}}{rest}"),
                Rewrite::DropVcs,
            )
        });
    }
    if let Some(rest) = path.strip_prefix(V2_SLUG) {
        return Some((
            format!("/api/v2/project/{{vcs}}/{{org}}/{{repo}}{rest}"),
            Rewrite::SlugToParts,
        ));
    }
    if let Some(rest) = path.strip_prefix("/api/v2/insights/{slug}") {
        return Some((
            format!("/api/v2/insights/{{vcs}}/{{org}}/{{repo}}{rest}"),
            Rewrite::SlugToParts,
        ));
    }
    if let Some(rest) = path.strip_prefix("/api/v1.1/")
        && matches!(rest, "me" | "recent-builds" | "projects")
    {
        return Some((format!("/api/v1/{rest}"), Rewrite::Same));
    }
    None
}

/// `item` with its operations renamed and their parameters adjusted for an alias.
fn rewritten(item: &PathItem, rewrite: Rewrite) -> PathItem {
    let suffix = match rewrite {
        Rewrite::Same | Rewrite::DropVcs => "_v1",
        Rewrite::SlugToParts => "_by_parts",
    };
    let mut item = item.clone();
    for op in [
        &mut item.get,
        &mut item.post,
        &mut item.put,
        &mut item.patch,
        &mut item.delete,
    ]
    .into_iter()
    .flatten()
    {
        rewrite_operation(op, rewrite, suffix);
    }
    item
}

fn rewrite_operation(op: &mut Operation, rewrite: Rewrite, suffix: &str) {
    if let Some(id) = &mut op.operation_id {
        id.push_str(suffix);
    }
    let Some(params) = &mut op.parameters else {
        return;
    };
    let named = |p: &RefOr<Parameter>, name: &str| matches!(p, RefOr::T(p) if p.name == name && p.parameter_in == ParameterIn::Path);
    match rewrite {
        Rewrite::Same => {}
        Rewrite::DropVcs => params.retain(|p| !named(p, "vcs")),
        Rewrite::SlugToParts => {
            if let Some(at) = params.iter().position(|p| named(p, "slug")) {
                params.splice(
                    at..=at,
                    ProjectPath::into_params(|| Some(ParameterIn::Path))
                        .into_iter()
                        .map(RefOr::T),
                );
            }
        }
    }
}

/// `GET /api/v2/openapi.json`: this document (no credentials needed).
#[utoipa::path(
    get,
    path = "/api/v2/openapi.json",
    operation_id = "openapi",
    tag = "meta",
    security(()),
    responses((status = 200, description = "This OpenAPI document", content_type = "application/json"))
)]
pub async fn serve() -> Json<Document> {
    Json(document())
}
