//! Organizations: the projects of one `vcs/org`, with an id of their own. A row is made with an
//! organization's first project (and by migration 0020 for the projects before it).

use crate::{Store, StoreError, now, on_pool};
use circlet_core::Vcs;
use time::OffsetDateTime;
use uuid::Uuid;

/// An organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Organization {
    /// Store id.
    pub id: i64,
    /// Public id: API v2's, and the `aud` of its jobs' OIDC tokens.
    pub uuid: Uuid,
    /// Its VCS.
    pub vcs: Vcs,
    /// Its name, as its first project spelled it.
    pub name: String,
    /// When it was first seen.
    pub created_at: OffsetDateTime,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    uuid: Uuid,
    vcs: String,
    name: String,
    created_at: OffsetDateTime,
}

impl TryFrom<Row> for Organization {
    type Error = StoreError;
    fn try_from(r: Row) -> Result<Self, StoreError> {
        Ok(Organization {
            id: r.id,
            uuid: r.uuid,
            vcs: Vcs::parse(&r.vcs)
                .map_err(|e| StoreError::Database(sqlx::Error::Decode(e.0.into())))?,
            name: r.name,
            created_at: r.created_at,
        })
    }
}

const COLS: &str = "organizations.id, organizations.uuid, organizations.vcs, organizations.name, organizations.created_at";

/// How an organization is looked up: `vcs/org`, lower case.
pub(crate) fn name_key(vcs: Vcs, org: &str) -> String {
    format!("{}/{}", vcs.short(), org.to_ascii_lowercase())
}

/// Makes an organization unless one of its `name_key` exists. Binds: uuid, vcs, name,
/// [`name_key`], created_at.
pub(crate) const ENSURE: &str = "INSERT INTO organizations (uuid, vcs, name, name_key, created_at) \
     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (name_key) DO NOTHING";

/// Use-cases on organizations; see [`Store::organizations`].
pub struct Organizations<'s>(pub(crate) &'s Store);

impl Organizations<'_> {
    /// The organization `org` of `vcs` (any case), made if it is not there yet. Read first:
    /// every job's ID tokens ask, and the organization is nearly always there (made with its
    /// first project), so the usual call writes nothing.
    pub async fn ensure(&self, vcs: Vcs, org: &str) -> Result<Organization, StoreError> {
        if let Some(found) = self.by_name(vcs, org).await? {
            return Ok(found);
        }
        on_pool!(self.0, pool => sqlx::query(ENSURE).bind(Uuid::new_v4()).bind(vcs.short()).bind(org)
            .bind(name_key(vcs, org)).bind(now()).execute(pool).await.map(|r| r.rows_affected()))?;
        self.by_name(vcs, org)
            .await?
            .ok_or(StoreError::NotFound(crate::error::Missing::Organization))
    }

    /// The organization `org` of `vcs` (any case).
    pub async fn by_name(&self, vcs: Vcs, org: &str) -> Result<Option<Organization>, StoreError> {
        let sql = format!("SELECT {COLS} FROM organizations WHERE name_key = $1");
        let row: Option<Row> = on_pool!(self.0, pool => sqlx::query_as(&sql).bind(name_key(vcs, org)).fetch_optional(pool).await)?;
        row.map(Organization::try_from).transpose()
    }

    /// The organization with this store id.
    pub async fn by_id(&self, id: i64) -> Result<Option<Organization>, StoreError> {
        let sql = format!("SELECT {COLS} FROM organizations WHERE id = $1");
        let row: Option<Row> =
            on_pool!(self.0, pool => sqlx::query_as(&sql).bind(id).fetch_optional(pool).await)?;
        row.map(Organization::try_from).transpose()
    }

    /// The organization with this public id.
    pub async fn by_uuid(&self, uuid: Uuid) -> Result<Option<Organization>, StoreError> {
        let sql = format!("SELECT {COLS} FROM organizations WHERE uuid = $1");
        let row: Option<Row> =
            on_pool!(self.0, pool => sqlx::query_as(&sql).bind(uuid).fetch_optional(pool).await)?;
        row.map(Organization::try_from).transpose()
    }

    /// The roles `user_id` holds in the projects of organization `org_id` (one per project).
    pub async fn member_roles(
        &self,
        org_id: i64,
        user_id: i64,
    ) -> Result<Vec<circlet_core::Role>, StoreError> {
        let sql = "SELECT project_members.role FROM project_members \
                   JOIN projects ON projects.id = project_members.project_id \
                   JOIN organizations ON projects.vcs || '/' || LOWER(projects.org) = organizations.name_key \
                   WHERE organizations.id = $1 AND project_members.user_id = $2";
        let roles: Vec<String> = on_pool!(self.0, pool => sqlx::query_scalar(sql).bind(org_id).bind(user_id).fetch_all(pool).await)?;
        Ok(roles
            .iter()
            .filter_map(|r| circlet_core::Role::parse(r).ok())
            .collect())
    }

    /// The projects of organization `org_id`: (store id, public id, slug), by name.
    pub async fn projects(&self, org_id: i64) -> Result<Vec<(i64, Uuid, String)>, StoreError> {
        let sql = "SELECT projects.id, projects.uuid, projects.vcs || '/' || projects.org || '/' || projects.repo \
                   FROM projects JOIN organizations ON projects.vcs || '/' || LOWER(projects.org) = organizations.name_key \
                   WHERE organizations.id = $1 ORDER BY LOWER(projects.repo)";
        Ok(on_pool!(self.0, pool => sqlx::query_as(sql).bind(org_id).fetch_all(pool).await)?)
    }

    /// The organizations `user_id` is a member of a project of, by name.
    pub async fn of_member(&self, user_id: i64) -> Result<Vec<Organization>, StoreError> {
        let sql = format!(
            "SELECT {COLS} FROM organizations WHERE EXISTS (SELECT 1 FROM projects \
             JOIN project_members ON project_members.project_id = projects.id \
             WHERE project_members.user_id = $1 \
             AND projects.vcs || '/' || LOWER(projects.org) = organizations.name_key) \
             ORDER BY organizations.name_key"
        );
        let rows: Vec<Row> =
            on_pool!(self.0, pool => sqlx::query_as(&sql).bind(user_id).fetch_all(pool).await)?;
        rows.into_iter().map(Organization::try_from).collect()
    }
}
