//! Every URL circlet answers, grouped by audience. Start here to find a handler.

use crate::auth::csrf;
use crate::state::AppState;
use crate::{api, artifacts, no_framing, request_log, status, ui};
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::routing::{delete, get, post, put};

/// The whole application.
pub fn router(state: AppState) -> Router {
    // Probes and static files: no session, no CSRF.
    let infra = Router::new()
        .route("/healthz", get(api::health::healthz))
        .route("/readyz", get(api::health::readyz))
        .route("/static/{file}", get(ui::assets::serve));

    // JSON APIs (CircleCI v1.1 and v2 shapes). Errors are JSON, unknown paths a JSON 404. Each
    // handler's `#[utoipa::path]` documents it in the OpenAPI document (`api::openapi`).
    let api = Router::new()
        .route("/v2/openapi.json", get(api::openapi::serve))
        .route("/v1.1/me", get(api::me::v1))
        .route("/v1/me", get(api::me::v1))
        .route("/v2/me", get(api::me::v2))
        .route(
            "/v2/me/collaborations",
            get(api::organizations::collaborations),
        )
        // A running job's own ID token is the credential (`circleci run oidc get`).
        .route("/oidc/job-token", post(api::oidc::job_token))
        .route(
            "/v2/compile-config-with-defaults",
            post(api::compile_config::compile),
        )
        .route("/v3/runner", get(api::runners_v3::list))
        .route("/v3/runner/tasks", get(api::runners_v3::tasks))
        .route("/v3/runner/tasks/running", get(api::runners_v3::running))
        .route("/v2/orbs", get(api::orbs::list))
        .route("/v2/orbs/{namespace}/{name}", get(api::orbs::versions))
        .route(
            "/v1.1/project/{vcs}/{org}/{repo}/token",
            get(api::tokens::list)
                .post(api::tokens::create)
                .put(api::tokens::put_all)
                .patch(api::tokens::patch_all),
        )
        .route(
            "/v1.1/project/{vcs}/{org}/{repo}/token/{id}",
            delete(api::tokens::delete)
                .put(api::tokens::put_one)
                .patch(api::tokens::patch_one),
        )
        .route(
            "/v1.1/project/{vcs}/{org}/{repo}/settings",
            get(api::project_settings::get).put(api::project_settings::put),
        )
        .route(
            "/v1/project/{org}/{repo}/settings",
            get(api::project_settings::get).put(api::project_settings::put),
        )
        // Forges' webhooks: the delivery's signature is the credential; payloads up to the
        // forge format's own bound.
        .route(
            "/hooks/{forge}/{vcs}/{org}/{repo}",
            post(api::hooks::receive).layer(DefaultBodyLimit::max(
                circlet_core::forge::MAX_PAYLOAD_BYTES,
            )),
        )
        // Secret scanners' leak reports: the report's ECDSA signature is the credential.
        .route(
            "/secret-scanning/github",
            post(api::leak_reports::github).layer(DefaultBodyLimit::max(
                circlet_core::leak_report::MAX_REPORT_BYTES,
            )),
        )
        .merge(v1_builds("/v1.1/project/{vcs}/{org}/{repo}"))
        .merge(v1_builds("/v1/project/{org}/{repo}"))
        .route("/v1.1/recent-builds", get(api::v1_builds::recent))
        .route("/v1/recent-builds", get(api::v1_builds::recent))
        .route("/v1.1/projects", get(api::v1_builds::projects))
        .route("/v1/projects", get(api::v1_builds::projects))
        .merge(v2_project_builds("/v2/project/{slug}"))
        .merge(v2_project_builds("/v2/project/{vcs}/{org}/{repo}"))
        .merge(v2_insights("/v2/insights/{slug}"))
        .merge(v2_insights("/v2/insights/{vcs}/{org}/{repo}"))
        .route("/v2/pipeline", get(api::v2_pipeline_lists::list))
        .route("/v2/user/{id}", get(api::users::get))
        .route(
            "/v2/projects/{project_id}/pipeline-definitions",
            get(api::pipeline_definitions::list),
        )
        .route(
            "/v2/projects/{project_id}/pipeline-definitions/{definition_id}",
            get(api::pipeline_definitions::get),
        )
        // CircleCI's private API, which its own tools call.
        .route("/private/me/followed-projects", get(api::follows::followed))
        .route(
            "/private/output/raw/{vcs}/{org}/{repo}/{build_num}/output/{index}/{step}",
            get(api::private_output::output),
        )
        .route(
            "/private/output/raw/{vcs}/{org}/{repo}/{build_num}/error/{index}/{step}",
            get(api::private_output::error),
        )
        .route("/v2/pipeline/{id}", get(api::v2_pipelines::pipeline))
        .route(
            "/v2/pipeline/{id}/config",
            get(api::v2_pipeline_lists::config),
        )
        .route(
            "/v2/pipeline/continue",
            post(api::v2_pipelines::continue_pipeline),
        )
        .route(
            "/v2/pipeline/{id}/workflow",
            get(api::v2_pipelines::pipeline_workflows),
        )
        .route(
            "/v2/webhook",
            get(api::webhooks::list).post(api::webhooks::create),
        )
        .route(
            "/v2/webhook/{id}",
            get(api::webhooks::get)
                .put(api::webhooks::update)
                .delete(api::webhooks::delete),
        )
        .route("/v2/organization/{org}", get(api::organizations::get))
        .route(
            "/v2/organization/{vcs}/{org}",
            get(api::organizations::get_by_slug),
        )
        .route(
            "/v2/context",
            get(api::contexts::list).post(api::contexts::create),
        )
        .route(
            "/v2/context/{id}",
            get(api::contexts::get).delete(api::contexts::delete),
        )
        .route(
            "/v2/context/{id}/environment-variable",
            get(api::contexts::vars),
        )
        .route(
            "/v2/context/{id}/environment-variable/{name}",
            put(api::contexts::set_var).delete(api::contexts::delete_var),
        )
        .route(
            "/v2/context/{id}/restrictions",
            get(api::contexts::restrictions).post(api::contexts::restrict),
        )
        .route(
            "/v2/context/{id}/restrictions/{restriction_id}",
            delete(api::contexts::unrestrict),
        )
        .route(
            "/v2/schedule/{id}",
            get(api::schedules::get)
                .patch(api::schedules::update)
                .delete(api::schedules::delete),
        )
        .route("/v2/workflow/{id}", get(api::v2_pipelines::workflow))
        .route(
            "/v2/workflow/{id}/approve/{approval_request_id}",
            post(api::v2_pipelines::approve),
        )
        .route("/v2/workflow/{id}/job", get(api::v2_jobs::workflow_jobs))
        .route(
            "/v2/workflow/{id}/cancel",
            post(api::v2_pipelines::cancel_workflow),
        )
        .route(
            "/v2/workflow/{id}/rerun",
            post(api::v2_rerun::rerun_workflow),
        )
        .route("/v2/project/{slug}", get(api::projects::get_one))
        .route(
            "/v2/project/{vcs}/{org}/{repo}",
            get(api::projects::get_one).post(api::projects::create),
        )
        .fallback(api::not_found)
        .method_not_allowed_fallback(api::method_not_allowed)
        // Browsers on other origins may call it with a token, never with cookies (`cors`).
        .layer(from_fn(crate::cors::allow_any_origin));

    // The runner protocol (circlet_core::runner_protocol): runner tokens only.
    let runner = Router::new()
        .route("/claim", post(api::runner::claim))
        .route("/jobs/{id}/heartbeat", post(api::runner::heartbeat))
        .route("/jobs/{id}/steps", post(api::runner::step_started))
        .route("/jobs/{id}/steps/{index}/output", post(api::runner::output))
        .route(
            "/jobs/{id}/steps/{index}/finish",
            post(api::runner::step_finished),
        )
        .route("/jobs/{id}/tests", post(api::runner::tests))
        .route("/jobs/{id}/timings", get(api::runner::timings))
        // Artifacts stream in whatever their size: the per-file and per-build artifact limits
        // apply instead of the API's body limit.
        .route(
            "/jobs/{id}/artifacts/{*path}",
            put(api::runner::artifact).layer(DefaultBodyLimit::disable()),
        )
        // Caches and workspaces: archives, streamed like artifacts.
        .route(
            "/jobs/{id}/caches/lookup",
            post(api::runner_storage::lookup),
        )
        .route(
            "/jobs/{id}/caches",
            put(api::runner_storage::upload).layer(DefaultBodyLimit::disable()),
        )
        .route(
            "/jobs/{id}/caches/{cache}",
            get(api::runner_storage::download),
        )
        .route(
            "/jobs/{id}/workspace",
            get(api::runner_storage::workspace)
                .put(api::runner_storage::persist)
                .layer(DefaultBodyLimit::disable()),
        )
        .route(
            "/jobs/{id}/workspace/{layer}",
            get(api::runner_storage::layer),
        )
        .route("/jobs/{id}/finish", post(api::runner::finish))
        .fallback(api::not_found)
        .method_not_allowed_fallback(api::method_not_allowed);

    // The web UI for people in browsers. Every non-GET request passes the CSRF guard.
    let ui = Router::new()
        .route("/", get(ui::dashboard::show))
        .route("/notices/{uuid}/dismiss", post(ui::dashboard::dismiss))
        .route("/workflows/{uuid}/rerun", post(ui::builds::rerun_workflow))
        .route("/login", get(ui::login::form).post(ui::login::submit))
        .route("/logout", post(ui::login::logout))
        .route("/setup", get(ui::setup::form).post(ui::setup::submit))
        .route("/account", get(ui::account::show))
        .route("/account/password", post(ui::account::change_password))
        .route(
            "/password-reset",
            get(ui::account::reset_form).post(ui::account::reset),
        )
        .route(
            "/account/tokens",
            get(ui::tokens::list).post(ui::tokens::create),
        )
        .route("/account/tokens/new", get(ui::tokens::new_form))
        .route("/account/tokens/{uuid}", get(ui::tokens::show))
        .route(
            "/account/tokens/{uuid}/remove",
            get(ui::tokens::remove_form).post(ui::tokens::remove),
        )
        .route("/account/tokens/{uuid}/replace", post(ui::tokens::replace))
        .route("/account/tokens/{uuid}/created", get(ui::tokens::created))
        .route("/orbs", get(ui::orbs::list))
        .route("/orbs/{namespace}/{name}", get(ui::orbs::show))
        .route("/projects/new", get(ui::projects::new_form))
        .route("/projects", post(ui::projects::create))
        .route("/projects/{vcs}/{org}/{repo}", get(ui::projects::show))
        .route(
            "/projects/{vcs}/{org}/{repo}/trigger",
            get(ui::builds::trigger_form).post(ui::builds::trigger_submit),
        )
        .route(
            "/projects/{vcs}/{org}/{repo}/jobs/{num}",
            get(ui::build_page::show),
        )
        .route(
            "/projects/{vcs}/{org}/{repo}/jobs/{num}/live",
            get(ui::build_page::live),
        )
        .route(
            "/projects/{vcs}/{org}/{repo}/jobs/{num}/retry",
            post(ui::builds::retry),
        )
        .route(
            "/projects/{vcs}/{org}/{repo}/jobs/{num}/cancel",
            post(ui::builds::cancel),
        )
        .route(
            "/projects/{vcs}/{org}/{repo}/jobs/{num}/approve",
            post(ui::builds::approve),
        )
        .route(
            "/projects/{vcs}/{org}/{repo}/pipelines/{num}/config",
            get(ui::builds::pipeline_config),
        )
        .route(
            "/projects/{vcs}/{org}/{repo}/settings",
            get(ui::projects::settings).post(ui::projects::update_settings),
        )
        .route(
            "/projects/{vcs}/{org}/{repo}/settings/badges",
            get(ui::badges::show).post(ui::badges::generate),
        )
        .route(
            "/projects/{vcs}/{org}/{repo}/settings/ssh",
            get(ui::ssh_keys::show),
        )
        .route(
            "/projects/{vcs}/{org}/{repo}/settings/ssh/checkout",
            post(ui::ssh_keys::add_checkout),
        )
        .route(
            "/projects/{vcs}/{org}/{repo}/settings/ssh/additional",
            post(ui::ssh_keys::add_additional),
        )
        .route(
            "/projects/{vcs}/{org}/{repo}/settings/ssh/{id}/remove",
            post(ui::ssh_keys::remove),
        )
        .route(
            "/projects/{vcs}/{org}/{repo}/settings/webhooks",
            get(ui::webhooks::show),
        )
        .route(
            "/projects/{vcs}/{org}/{repo}/settings/webhooks/secret",
            post(ui::webhooks::new_secret),
        )
        .route(
            "/projects/{vcs}/{org}/{repo}/settings/webhooks/deliveries/{uuid}/redeliver",
            post(ui::webhooks::redeliver),
        )
        .route(
            "/projects/{vcs}/{org}/{repo}/settings/notifications",
            get(ui::notifications::show),
        )
        .route(
            "/projects/{vcs}/{org}/{repo}/settings/notifications/statuses",
            post(ui::notifications::set_target),
        )
        .route(
            "/projects/{vcs}/{org}/{repo}/settings/notifications/statuses/remove",
            post(ui::notifications::remove_target),
        )
        .route(
            "/projects/{vcs}/{org}/{repo}/settings/notifications/webhooks",
            post(ui::notifications::add_webhook),
        )
        .route(
            "/projects/{vcs}/{org}/{repo}/settings/notifications/webhooks/{uuid}/remove",
            post(ui::notifications::remove_webhook),
        )
        .route(
            "/projects/{vcs}/{org}/{repo}/settings/schedules",
            get(ui::schedules::show).post(ui::schedules::create),
        )
        .route(
            "/projects/{vcs}/{org}/{repo}/settings/schedules/{uuid}/remove",
            post(ui::schedules::remove),
        )
        .route(
            "/projects/{vcs}/{org}/{repo}/settings/advanced",
            get(ui::webhooks::advanced).post(ui::webhooks::save_advanced),
        )
        .route(
            "/projects/{vcs}/{org}/{repo}/settings/storage",
            get(ui::storage::show).post(ui::storage::set_retention),
        )
        .route(
            "/projects/{vcs}/{org}/{repo}/settings/env",
            get(ui::env_vars::list).post(ui::env_vars::add),
        )
        // Organization settings → Contexts.
        .route("/organizations", get(ui::contexts::organizations))
        .route(
            "/organizations/{vcs}/{org}/contexts",
            get(ui::contexts::list).post(ui::contexts::create),
        )
        .route(
            "/organizations/{vcs}/{org}/contexts/{id}",
            get(ui::contexts::show),
        )
        .route(
            "/organizations/{vcs}/{org}/contexts/{id}/vars",
            post(ui::contexts::add_var),
        )
        .route(
            "/organizations/{vcs}/{org}/contexts/{id}/vars/{item}/remove",
            post(ui::contexts::remove_var),
        )
        .route(
            "/organizations/{vcs}/{org}/contexts/{id}/restrictions",
            post(ui::contexts::restrict),
        )
        .route(
            "/organizations/{vcs}/{org}/contexts/{id}/restrictions/{item}/remove",
            post(ui::contexts::unrestrict),
        )
        .route(
            "/organizations/{vcs}/{org}/contexts/{id}/remove",
            post(ui::contexts::remove),
        )
        .route(
            "/projects/{vcs}/{org}/{repo}/settings/env/{name}/remove",
            get(ui::env_vars::remove_form).post(ui::env_vars::remove),
        )
        .route(
            "/projects/{vcs}/{org}/{repo}/settings/members",
            get(ui::projects::members).post(ui::projects::set_member),
        )
        .route(
            "/projects/{vcs}/{org}/{repo}/settings/members/{login}/remove",
            post(ui::projects::remove_member),
        )
        .route(
            "/projects/{vcs}/{org}/{repo}/settings/api",
            get(ui::project_tokens::list).post(ui::project_tokens::create),
        )
        .route(
            "/projects/{vcs}/{org}/{repo}/settings/api/new",
            get(ui::project_tokens::new_form),
        )
        .route(
            "/projects/{vcs}/{org}/{repo}/settings/api/{uuid}",
            get(ui::project_tokens::show),
        )
        .route(
            "/projects/{vcs}/{org}/{repo}/settings/api/{uuid}/remove",
            get(ui::project_tokens::remove_form).post(ui::project_tokens::remove),
        )
        .route(
            "/projects/{vcs}/{org}/{repo}/settings/api/{uuid}/replace",
            post(ui::project_tokens::replace),
        )
        .route(
            "/projects/{vcs}/{org}/{repo}/settings/api/{uuid}/created",
            get(ui::project_tokens::created),
        )
        .route(
            "/admin/users",
            get(ui::admin::users).post(ui::admin::create_user),
        )
        .route(
            "/admin/users/{login}/disabled",
            post(ui::admin::set_disabled),
        )
        .route(
            "/admin/users/{login}",
            get(ui::admin_user::show).post(ui::admin_user::edit),
        )
        .route(
            "/admin/users/{login}/password",
            post(ui::admin_user::set_password),
        )
        .route(
            "/admin/users/{login}/reset-link",
            post(ui::admin_user::email_reset_link),
        )
        .route("/admin/tokens", get(ui::admin::tokens))
        .route("/admin/tokens/{uuid}/revoke", post(ui::admin::revoke_token))
        .route(
            "/admin/settings/token-creation",
            post(ui::admin::set_token_creation),
        )
        .route(
            "/admin/runners",
            get(ui::runners::list).post(ui::runners::create),
        )
        .route("/admin/runners/{uuid}/revoke", post(ui::runners::revoke))
        .route("/admin/runners/classes", post(ui::runners::create_class))
        .route("/admin/audit", get(ui::audit::admin))
        .route("/account/audit", get(ui::audit::account))
        .fallback(ui::not_found)
        .method_not_allowed_fallback(ui::method_not_allowed)
        .layer(from_fn_with_state(state.clone(), csrf::guard))
        .layer(from_fn_with_state(
            state.clone(),
            ui::error_page::with_navigation,
        ));

    // Build status at CircleCI's root-level URLs (README badges, CCTray), GET only, no CSRF:
    // the handlers dispatch on the suffix (`.svg`, `.png`, `.cc.xml`) and redirect a path
    // without one to the project or job page. The first segment is spelled out per VCS name so
    // these patterns never catch `/api/…` or a mistyped page, which keep their own 404s.
    let mut status = Router::new()
        .route("/cc.xml", get(status::cctray::all))
        .route(
            "/status-badge/img/{vcs}/{org}/{repo}/tree/{*branch}",
            get(status::status_badge),
        );
    for vcs in status::VCS_PREFIXES {
        status = status
            .route(&format!("/{vcs}/{{org}}/{{repo}}"), get(status::project))
            .route(
                &format!("/{vcs}/{{org}}/{{repo}}/{{build_num}}"),
                get(status::build),
            )
            .route(
                &format!("/{vcs}/{{org}}/{{repo}}/tree/{{*branch}}"),
                get(status::branch),
            );
    }
    let status = status.method_not_allowed_fallback(ui::method_not_allowed);

    // Artifact downloads: the URLs the artifact lists give out (under the public URL, no query of
    // their own, so `?circle-token=` can be appended). GET and HEAD; any API credential form or
    // a session; JSON errors like the API.
    let artifacts = Router::new()
        .route(
            "/artifacts/{vcs}/{org}/{repo}/{build_num}/{node}/{*path}",
            get(artifacts::download::serve),
        )
        .method_not_allowed_fallback(api::method_not_allowed);

    // What OIDC verifiers fetch for jobs' ID tokens: per organization, no credential, JSON.
    let oidc = Router::new()
        .route(
            "/oidc/org/{org}/.well-known/openid-configuration",
            get(api::oidc::discovery),
        )
        .route(
            "/oidc/org/{org}/.well-known/jwks-pub.json",
            get(api::oidc::jwks),
        )
        .method_not_allowed_fallback(api::method_not_allowed);

    let max_body = state.config.max_body_bytes;
    Router::new()
        .merge(infra)
        .nest(circlet_core::runner_protocol::BASE_PATH, runner)
        .nest("/api", api)
        .merge(ui)
        .merge(status)
        .merge(artifacts)
        .merge(oidc)
        .layer(from_fn_with_state(state.clone(), crate::store_full::watch))
        .layer(from_fn_with_state(
            state.clone(),
            crate::body_deadline::limit,
        ))
        .layer(DefaultBodyLimit::max(max_body))
        .layer(from_fn(crate::auth::expiry::announce))
        .layer(from_fn(no_framing::deny))
        .layer(from_fn(request_log::log))
        .with_state(state)
}

/// API v1.1's build endpoints under `base` (`/v1.1/project/{vcs}/{org}/{repo}`, or the `/v1/`
/// alias without the vcs segment, meaning GitHub).
fn v1_builds(base: &str) -> Router<AppState> {
    use api::v1_builds as b;
    Router::new()
        .route(base, get(b::list).post(b::trigger_project))
        .route(
            &format!("{base}/tree/{{*branch}}"),
            get(b::list_branch).post(b::trigger_branch),
        )
        .route(&format!("{base}/build"), post(b::trigger_pipeline))
        .route(&format!("{base}/follow"), post(api::follows::follow))
        .route(&format!("{base}/unfollow"), post(api::follows::unfollow))
        .route(
            &format!("{base}/envvar"),
            get(api::env_vars::v1_list).post(api::env_vars::v1_create),
        )
        .route(
            &format!("{base}/envvar/{{name}}"),
            get(api::env_vars::v1_get).delete(api::env_vars::v1_delete),
        )
        .route(
            &format!("{base}/checkout-key"),
            get(api::ssh_keys::v1_list).post(api::ssh_keys::v1_create),
        )
        .route(
            &format!("{base}/checkout-key/{{fingerprint}}"),
            get(api::ssh_keys::v1_get).delete(api::ssh_keys::v1_delete),
        )
        .route(
            &format!("{base}/ssh-key"),
            post(api::ssh_keys::v1_add_ssh_key).delete(api::ssh_keys::v1_delete_ssh_key),
        )
        .route(&format!("{base}/{{build_num}}"), get(b::show))
        .route(&format!("{base}/{{build_num}}/tests"), get(b::tests))
        .route(
            &format!("{base}/{{build_num}}/artifacts"),
            get(api::artifacts::v1_build),
        )
        // A literal `latest` wins over `{build_num}`.
        .route(
            &format!("{base}/latest/artifacts"),
            get(api::artifacts::v1_latest),
        )
        .route(&format!("{base}/{{build_num}}/retry"), post(b::retry))
        .route(&format!("{base}/{{build_num}}/cancel"), post(b::cancel))
        .route(
            &format!("{base}/{{build_num}}/output/{{step}}/{{index}}"),
            get(b::output),
        )
}

/// API v2's per-project pipeline and job endpoints under `base` (`/v2/project/{slug}` with a
/// `%2F`-encoded slug, or `/v2/project/{vcs}/{org}/{repo}`).
fn v2_project_builds(base: &str) -> Router<AppState> {
    use api::v2_pipelines as v;
    Router::new()
        .route(
            &format!("{base}/pipeline"),
            get(v::list_pipelines).post(v::trigger_pipeline),
        )
        .route(
            &format!("{base}/pipeline/{{number}}"),
            get(v::pipeline_by_number),
        )
        // Literals (`mine`, `run`) win over `{number}`.
        .route(
            &format!("{base}/pipeline/mine"),
            get(api::v2_pipeline_lists::mine),
        )
        .route(
            &format!("{base}/pipeline/run"),
            post(api::pipeline_definitions::run),
        )
        .route(&format!("{base}/job/{{number}}"), get(api::v2_jobs::job))
        .route(
            &format!("{base}/envvar"),
            get(api::env_vars::v2_list).post(api::env_vars::v2_create),
        )
        .route(
            &format!("{base}/envvar/{{name}}"),
            get(api::env_vars::v2_get).delete(api::env_vars::v2_delete),
        )
        .route(
            &format!("{base}/checkout-key"),
            get(api::ssh_keys::v2_list).post(api::ssh_keys::v2_create),
        )
        .route(
            &format!("{base}/checkout-key/{{fingerprint}}"),
            get(api::ssh_keys::v2_get).delete(api::ssh_keys::v2_delete),
        )
        .route(
            &format!("{base}/{{number}}/artifacts"),
            get(api::artifacts::v2_job),
        )
        .route(
            &format!("{base}/job/{{number}}/cancel"),
            post(api::v2_jobs::cancel_job),
        )
        .route(
            &format!("{base}/{{number}}/tests"),
            get(api::v2_jobs::tests),
        )
        .route(
            &format!("{base}/schedule"),
            get(api::schedules::list).post(api::schedules::create),
        )
}

/// API v2's insights of one project under `base` (`/v2/insights/{slug}` or
/// `/v2/insights/{vcs}/{org}/{repo}`).
fn v2_insights(base: &str) -> Router<AppState> {
    use api::insights as i;
    Router::new()
        .route(&format!("{base}/workflows"), get(i::workflows))
        .route(&format!("{base}/workflows/{{name}}"), get(i::workflow_runs))
        .route(
            &format!("{base}/workflows/{{name}}/jobs"),
            get(i::workflow_jobs),
        )
        .route(&format!("{base}/flaky-tests"), get(i::flaky_tests))
}
