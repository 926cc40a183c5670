//! CircleCI's self-hosted runner API, read side: `GET /api/v3/runner` (the runners online, of a
//! resource class or a namespace), `GET /api/v3/runner/tasks` (jobs of a class waiting) and
//! `GET /api/v3/runner/tasks/running` (jobs of a class running), in CircleCI's shapes. Who is
//! online and what waits are `circlet_app::runners`' answers.

use crate::error::ApiError;
use crate::state::AppState;
use axum::Json;
use axum::extract::{Query, State};
use circlet_app::Caller;
use circlet_core::runner_class::RunnerClass;
use circlet_store::RunnerContact;
use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;

/// `?resource-class=` / `?namespace=`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RunnerQuery {
    /// `namespace/name`.
    #[serde(rename = "resource-class")]
    resource_class: Option<String>,
    /// Every class of a namespace (`GET /api/v3/runner` only).
    namespace: Option<String>,
}

impl RunnerQuery {
    fn class(&self) -> Result<RunnerClass, ApiError> {
        let raw = self.resource_class.as_deref().ok_or_else(|| {
            ApiError::Invalid("resource-class is required (namespace/name)".into())
        })?;
        RunnerClass::parse(raw).map_err(ApiError::Invalid)
    }
}

/// One runner, as CircleCI describes it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct RunnerJson {
    /// Its class, `namespace/name` (empty for the default pool).
    resource_class: String,
    /// The host name it gave.
    hostname: String,
    /// Its token's name.
    name: String,
    /// RFC 3339.
    first_connected: String,
    /// RFC 3339.
    last_connected: String,
    /// When it last started a job (RFC 3339), if ever.
    last_used: Option<String>,
    /// Its version (`circlet-runner/X.Y.Z`).
    version: String,
    /// The address it connected from.
    ip: String,
}

impl From<RunnerContact> for RunnerJson {
    fn from(r: RunnerContact) -> Self {
        let at = |t: time::OffsetDateTime| t.format(&Rfc3339).unwrap_or_default();
        RunnerJson {
            resource_class: r.resource_class.unwrap_or_default(),
            hostname: r.name,
            name: r.token_name,
            first_connected: at(r.first_seen),
            last_connected: at(r.last_seen),
            last_used: r.last_used.map(at),
            version: r.version,
            ip: r.address,
        }
    }
}

/// The runners.
#[derive(Serialize, utoipa::ToSchema)]
pub struct RunnerListJson {
    items: Vec<RunnerJson>,
}

/// `GET /api/v3/runner`: the runners online of `resource-class`, or of every class of
/// `namespace`.
#[utoipa::path(
    get,
    path = "/api/v3/runner",
    operation_id = "list_runners",
    tag = "runners",
    params(RunnerQuery),
    responses(
        (status = 200, description = "The runners online", body = RunnerListJson),
        (status = "4XX", description = "No class or namespace, or not a user's credentials", body = crate::error::MessageBody),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<RunnerQuery>,
) -> Result<Json<RunnerListJson>, ApiError> {
    let runners = match (&q.resource_class, &q.namespace) {
        (Some(_), _) => {
            let class = q.class()?;
            state
                .app
                .runners_online(&caller, Some(Some(class.as_str())))
                .await?
        }
        (None, Some(ns)) => {
            let prefix = format!("{ns}/");
            state
                .app
                .runners_online(&caller, None)
                .await?
                .into_iter()
                .filter(|r| {
                    r.resource_class
                        .as_deref()
                        .is_some_and(|c| c.starts_with(&prefix))
                })
                .collect()
        }
        (None, None) => {
            return Err(ApiError::Invalid(
                "Give resource-class (namespace/name) or namespace".into(),
            ));
        }
    };
    Ok(Json(RunnerListJson {
        items: runners.into_iter().map(RunnerJson::from).collect(),
    }))
}

/// Jobs waiting for a class.
#[derive(Serialize, utoipa::ToSchema)]
pub struct UnclaimedJson {
    unclaimed_task_count: i64,
}

/// Jobs of a class running.
#[derive(Serialize, utoipa::ToSchema)]
pub struct RunningJson {
    running_runner_tasks: i64,
}

/// `GET /api/v3/runner/tasks`: how many jobs of `resource-class` wait for a runner.
#[utoipa::path(
    get,
    path = "/api/v3/runner/tasks",
    operation_id = "runner_unclaimed_tasks",
    tag = "runners",
    params(RunnerQuery),
    responses(
        (status = 200, description = "Jobs waiting", body = UnclaimedJson),
        (status = "4XX", description = "No class, or not a user's credentials", body = crate::error::MessageBody),
    )
)]
pub async fn tasks(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<RunnerQuery>,
) -> Result<Json<UnclaimedJson>, ApiError> {
    let (queued, _) = state.app.runner_tasks(&caller, &q.class()?).await?;
    Ok(Json(UnclaimedJson {
        unclaimed_task_count: queued,
    }))
}

/// `GET /api/v3/runner/tasks/running`: how many jobs of `resource-class` run now.
#[utoipa::path(
    get,
    path = "/api/v3/runner/tasks/running",
    operation_id = "runner_running_tasks",
    tag = "runners",
    params(RunnerQuery),
    responses(
        (status = 200, description = "Jobs running", body = RunningJson),
        (status = "4XX", description = "No class, or not a user's credentials", body = crate::error::MessageBody),
    )
)]
pub async fn running(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<RunnerQuery>,
) -> Result<Json<RunningJson>, ApiError> {
    let (_, running) = state.app.runner_tasks(&caller, &q.class()?).await?;
    Ok(Json(RunningJson {
        running_runner_tasks: running,
    }))
}
