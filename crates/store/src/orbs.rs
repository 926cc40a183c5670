//! The orb registry: each published version of an orb (`namespace/name@X.Y.Z`) and its packed
//! YAML. A version, once published, is never replaced.

use crate::error::Conflict;
use crate::{Store, StoreError, now, on_pool};
use time::OffsetDateTime;

/// One published version of an orb.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct OrbRecord {
    /// The namespace (`circleci`).
    pub namespace: String,
    /// The orb's name (`node`).
    pub name: String,
    /// The version: major.
    pub major: i64,
    /// The version: minor.
    pub minor: i64,
    /// The version: patch.
    pub patch: i64,
    /// Hex SHA-256 of the source.
    pub digest: String,
    /// Who published it (a login, or `admin` from the command line).
    pub published_by: String,
    /// When.
    pub published_at: OffsetDateTime,
}

/// A version to publish.
#[derive(Debug, Clone)]
pub struct NewOrb<'a> {
    /// The namespace.
    pub namespace: &'a str,
    /// The orb's name.
    pub name: &'a str,
    /// `(major, minor, patch)`.
    pub version: (i64, i64, i64),
    /// The packed YAML.
    pub source: &'a str,
    /// Hex SHA-256 of the source.
    pub digest: &'a str,
    /// Who publishes it.
    pub published_by: &'a str,
}

/// Use-cases on the orb registry; see [`Store::orbs`].
pub struct Orbs<'s>(pub(crate) &'s Store);

const COLS: &str = "namespace, name, major, minor, patch, digest, published_by, published_at";

impl Orbs<'_> {
    /// Publishes a version; [`Conflict::OrbVersion`] if that version is published already.
    pub async fn publish(&self, new: &NewOrb<'_>) -> Result<OrbRecord, StoreError> {
        let sql = format!(
            "INSERT INTO orbs (namespace, name, major, minor, patch, source, digest, published_by, published_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING {COLS}"
        );
        let (major, minor, patch) = new.version;
        on_pool!(self.0, pool => sqlx::query_as(&sql)
            .bind(new.namespace).bind(new.name).bind(major).bind(minor).bind(patch)
            .bind(new.source).bind(new.digest).bind(new.published_by).bind(now())
            .fetch_one(pool).await)
        .map_err(|e| {
            StoreError::from(e).conflict_as(Conflict::OrbVersion(format!(
                "{}/{}@{major}.{minor}.{patch}",
                new.namespace, new.name
            )))
        })
    }

    /// Every published version of `namespace/name`, newest first.
    pub async fn versions(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Vec<OrbRecord>, StoreError> {
        let sql = format!(
            "SELECT {COLS} FROM orbs WHERE namespace = $1 AND name = $2 ORDER BY major DESC, minor DESC, patch DESC"
        );
        Ok(
            on_pool!(self.0, pool => sqlx::query_as(&sql).bind(namespace).bind(name).fetch_all(pool).await)?,
        )
    }

    /// The packed YAML of one version.
    pub async fn source(
        &self,
        namespace: &str,
        name: &str,
        version: (i64, i64, i64),
    ) -> Result<Option<String>, StoreError> {
        let sql = "SELECT source FROM orbs WHERE namespace = $1 AND name = $2 AND major = $3 AND minor = $4 AND patch = $5";
        let (major, minor, patch) = version;
        Ok(on_pool!(self.0, pool => sqlx::query_scalar(sql)
            .bind(namespace).bind(name).bind(major).bind(minor).bind(patch)
            .fetch_optional(pool).await)?)
    }

    /// The newest version of every orb, by namespace and name.
    pub async fn latest(&self) -> Result<Vec<OrbRecord>, StoreError> {
        let sql = format!(
            "SELECT {COLS} FROM orbs o WHERE NOT EXISTS (SELECT 1 FROM orbs n WHERE n.namespace = o.namespace AND n.name = o.name \
             AND (n.major, n.minor, n.patch) > (o.major, o.minor, o.patch)) ORDER BY namespace, name"
        );
        Ok(on_pool!(self.0, pool => sqlx::query_as(&sql).fetch_all(pool).await)?)
    }
}
