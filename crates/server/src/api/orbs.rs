//! The orb registry, read-only: `GET /api/v2/orbs` (every orb, newest version) and
//! `GET /api/v2/orbs/{namespace}/{name}` (its versions). circlet's own endpoints: CircleCI's
//! registry is read through GraphQL. Publishing is the operator's (`circlet admin orb publish`).

use crate::error::ApiError;
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, State};
use circlet_app::Caller;
use circlet_store::OrbRecord;
use serde::Serialize;
use time::format_description::well_known::Rfc3339;

/// One published version.
#[derive(Serialize, utoipa::ToSchema)]
pub struct OrbJson {
    /// `namespace/name`.
    name: String,
    /// `X.Y.Z`.
    version: String,
    /// Hex SHA-256 of its packed YAML.
    digest: String,
    /// Who published it.
    published_by: String,
    /// RFC 3339.
    published_at: String,
}

impl From<&OrbRecord> for OrbJson {
    fn from(r: &OrbRecord) -> Self {
        OrbJson {
            name: format!("{}/{}", r.namespace, r.name),
            version: format!("{}.{}.{}", r.major, r.minor, r.patch),
            digest: r.digest.clone(),
            published_by: r.published_by.clone(),
            published_at: r.published_at.format(&Rfc3339).unwrap_or_default(),
        }
    }
}

/// A list of versions.
#[derive(Serialize, utoipa::ToSchema)]
pub struct OrbListJson {
    items: Vec<OrbJson>,
    /// Always `null`: one page.
    next_page_token: Option<String>,
}

/// `GET /api/v2/orbs`: every published orb at its newest version.
#[utoipa::path(
    get,
    path = "/api/v2/orbs",
    operation_id = "list_orbs",
    tag = "config",
    responses(
        (status = 200, description = "Every orb at its newest version", body = OrbListJson),
        (status = "4XX", description = "Not a user's credentials", body = crate::error::MessageBody),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<OrbListJson>, ApiError> {
    let orbs = state.app.orbs(&caller).await?;
    Ok(Json(OrbListJson {
        items: orbs.iter().map(OrbJson::from).collect(),
        next_page_token: None,
    }))
}

/// `GET /api/v2/orbs/{namespace}/{name}`: every version of one orb, newest first.
#[utoipa::path(
    get,
    path = "/api/v2/orbs/{namespace}/{name}",
    operation_id = "orb_versions",
    tag = "config",
    params(
        ("namespace" = String, Path, description = "The orb's namespace"),
        ("name" = String, Path, description = "The orb's name"),
    ),
    responses(
        (status = 200, description = "Its versions, newest first", body = OrbListJson),
        (status = "4XX", description = "No such orb, or not a user's credentials", body = crate::error::MessageBody),
    )
)]
pub async fn versions(
    State(state): State<AppState>,
    caller: Caller,
    Path((namespace, name)): Path<(String, String)>,
) -> Result<Json<OrbListJson>, ApiError> {
    let versions = state.app.orb_versions(&caller, &namespace, &name).await?;
    Ok(Json(OrbListJson {
        items: versions.iter().map(OrbJson::from).collect(),
        next_page_token: None,
    }))
}
