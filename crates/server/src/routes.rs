//! Every URL circlet answers, grouped by audience. Start here to find a handler.

use crate::auth::csrf;
use crate::state::AppState;
use crate::{api, request_log, status, ui};
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::routing::{delete, get, post};

/// The whole application.
pub fn router(state: AppState) -> Router {
    // Probes and static files: no session, no CSRF.
    let infra = Router::new()
        .route("/healthz", get(api::health::healthz))
        .route("/readyz", get(api::health::readyz))
        .route("/static/{file}", get(ui::assets::serve));

    // JSON APIs (CircleCI v1.1 and v2 shapes). Errors are JSON, unknown paths a JSON 404.
    let api = Router::new()
        .route("/v1.1/me", get(api::me::v1))
        .route("/v1/me", get(api::me::v1))
        .route("/v2/me", get(api::me::v2))
        .route(
            "/v1.1/project/{vcs}/{org}/{repo}/token",
            get(api::tokens::list)
                .post(api::tokens::create)
                .put(api::tokens::immutable)
                .patch(api::tokens::immutable),
        )
        .route(
            "/v1.1/project/{vcs}/{org}/{repo}/token/{id}",
            delete(api::tokens::delete)
                .put(api::tokens::immutable)
                .patch(api::tokens::immutable),
        )
        .route("/v2/project/{slug}", get(api::projects::get_one))
        .route(
            "/v2/project/{vcs}/{org}/{repo}",
            get(api::projects::get_one).post(api::projects::create),
        )
        .fallback(api::not_found)
        .method_not_allowed_fallback(api::method_not_allowed);

    // The web UI for people in browsers. Every non-GET request passes the CSRF guard.
    let ui = Router::new()
        .route("/", get(ui::dashboard::show))
        .route("/login", get(ui::login::form).post(ui::login::submit))
        .route("/logout", post(ui::login::logout))
        .route("/setup", get(ui::setup::form).post(ui::setup::submit))
        .route("/account", get(ui::account::show))
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
        .route("/projects/new", get(ui::projects::new_form))
        .route("/projects", post(ui::projects::create))
        .route("/projects/{vcs}/{org}/{repo}", get(ui::projects::show))
        .route(
            "/projects/{vcs}/{org}/{repo}/settings",
            get(ui::projects::settings).post(ui::projects::update_settings),
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
            "/admin/users",
            get(ui::admin::users).post(ui::admin::create_user),
        )
        .route(
            "/admin/users/{login}/disabled",
            post(ui::admin::set_disabled),
        )
        .route("/admin/tokens", get(ui::admin::tokens))
        .route("/admin/tokens/{uuid}/revoke", post(ui::admin::revoke_token))
        .route(
            "/admin/settings/token-creation",
            post(ui::admin::set_token_creation),
        )
        .route("/admin/audit", get(ui::audit::admin))
        .route("/account/audit", get(ui::audit::account))
        .fallback(ui::not_found)
        .method_not_allowed_fallback(ui::method_not_allowed)
        .layer(from_fn_with_state(state.clone(), csrf::guard));

    // Build status at CircleCI's root-level URLs (README badges, CCTray), GET only, no CSRF:
    // the handlers dispatch on the suffix (`.svg`, `.png`, `.cc.xml`) and redirect a path
    // without one to the project or job page. The first segment is spelled out per VCS name so
    // these patterns never catch `/api/…` or a mistyped page, which keep their own 404s.
    let mut status = Router::new().route("/cc.xml", get(status::cctray::all));
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

    let max_body = state.config.max_body_bytes;
    Router::new()
        .merge(infra)
        .nest("/api", api)
        .merge(ui)
        .merge(status)
        .layer(DefaultBodyLimit::max(max_body))
        .layer(from_fn(request_log::log))
        .with_state(state)
}
