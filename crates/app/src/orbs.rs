//! The orb registry: publishing a version (the operator, from the command line), listing what
//! is published (anyone signed in), and the [`OrbSource`] that configs compile against.

use crate::{App, AppError, Caller};
use circlet_core::ci_config::{
    self, MAX_CONFIG_BYTES, OrbRef, OrbSource, OrbVersion, PublishedOrb, VersionRange,
};
use circlet_store::{Conflict, NewOrb, OrbRecord, Store, StoreError};
use sha2::{Digest, Sha256};

/// A reference to publish: `namespace/name@X.Y.Z`, an exact version.
pub fn exact_version(reference: &str) -> Result<(OrbRef, OrbVersion), AppError> {
    let orb: OrbRef = reference.parse().map_err(AppError::Invalid)?;
    match orb.range {
        VersionRange::Exact(v) => Ok((orb, v)),
        _ => Err(AppError::Invalid(format!(
            "publish an exact version: {}@X.Y.Z, not {reference}",
            orb.full_name()
        ))),
    }
}

/// Publishes `source` (an orb's packed YAML) as `reference` (`namespace/name@X.Y.Z`), for
/// `published_by`. The orb must read as an orb (its keys, commands, executors and jobs) and
/// the orbs it imports must be published already; a published version is never replaced.
pub async fn publish(
    store: &Store,
    reference: &str,
    source: &str,
    published_by: &str,
) -> Result<OrbRecord, AppError> {
    let (orb, version) = exact_version(reference)?;
    if source.len() > MAX_CONFIG_BYTES {
        return Err(AppError::Invalid(format!(
            "the orb is larger than {MAX_CONFIG_BYTES} bytes"
        )));
    }
    let registry = StoreOrbs::new(store.clone());
    let text = source.to_owned();
    tokio::task::spawn_blocking(move || ci_config::check_orb(&text, &registry))
        .await
        .map_err(|e| AppError::Internal(anyhow::Error::new(e).context("checking an orb")))?
        .map_err(|e| AppError::Invalid(format!("{reference} is not a valid orb: {e}")))?;
    let digest = hex::encode(Sha256::digest(source.as_bytes()));
    let to_i64 = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    let new = NewOrb {
        namespace: &orb.namespace,
        name: &orb.name,
        version: (to_i64(version.0), to_i64(version.1), to_i64(version.2)),
        source,
        digest: &digest,
        published_by,
    };
    store.orbs().publish(&new).await.map_err(|e| match e {
        StoreError::Conflict(Conflict::OrbVersion(what)) => AppError::Conflict(format!(
            "{what} is published already; a published version is never replaced, so publish a new one"
        )),
        other => other.into(),
    })
}

/// `namespace/name@X.Y.Z` of a record.
pub fn reference(r: &OrbRecord) -> String {
    format!(
        "{}/{}@{}.{}.{}",
        r.namespace, r.name, r.major, r.minor, r.patch
    )
}

impl App {
    /// The newest version of every published orb.
    pub async fn orbs(&self, caller: &Caller) -> Result<Vec<OrbRecord>, AppError> {
        caller.require_user()?;
        Ok(self.store.orbs().latest().await?)
    }

    /// Every published version of `namespace/name`, newest first; not found when there is none.
    pub async fn orb_versions(
        &self,
        caller: &Caller,
        namespace: &str,
        name: &str,
    ) -> Result<Vec<OrbRecord>, AppError> {
        caller.require_user()?;
        let versions = self.store.orbs().versions(namespace, name).await?;
        if versions.is_empty() {
            return Err(AppError::NotFound(ORB_NOT_FOUND.into()));
        }
        Ok(versions)
    }

    /// The packed YAML of `namespace/name@X.Y.Z`.
    pub async fn orb_source(
        &self,
        caller: &Caller,
        namespace: &str,
        name: &str,
        version: &str,
    ) -> Result<String, AppError> {
        caller.require_user()?;
        let v: OrbVersion = version
            .parse()
            .map_err(|()| AppError::NotFound(ORB_NOT_FOUND.into()))?;
        let to_i64 = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        self.store
            .orbs()
            .source(namespace, name, (to_i64(v.0), to_i64(v.1), to_i64(v.2)))
            .await?
            .ok_or_else(|| AppError::NotFound(ORB_NOT_FOUND.into()))
    }

    /// Where configs find the orbs they name.
    pub fn orb_source_for_configs(&self) -> StoreOrbs {
        StoreOrbs::new(self.store.clone())
    }
}

/// What a missing orb or version is called.
pub const ORB_NOT_FOUND: &str = "Orb not found";

/// The registry as an [`OrbSource`]: each look-up reads the store. Only for blocking threads
/// (configs compile on one): it waits for the store on the runtime it was made in.
#[derive(Clone)]
pub struct StoreOrbs {
    store: Store,
    runtime: tokio::runtime::Handle,
}

impl StoreOrbs {
    /// The registry of `store`, read through the current runtime.
    pub fn new(store: Store) -> Self {
        StoreOrbs {
            store,
            runtime: tokio::runtime::Handle::current(),
        }
    }
}

impl OrbSource for StoreOrbs {
    fn find(&self, orb: &OrbRef) -> Result<Option<PublishedOrb>, String> {
        self.runtime.block_on(async {
            let versions = self
                .store
                .orbs()
                .versions(&orb.namespace, &orb.name)
                .await
                .map_err(|e| crate::error::store_error_text(&e))?;
            let as_version =
                |r: &OrbRecord| OrbVersion(r.major as u64, r.minor as u64, r.patch as u64);
            let Some(v) = orb.range.pick(versions.iter().map(as_version)) else {
                return Ok(None);
            };
            let to_i64 = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
            let source = self
                .store
                .orbs()
                .source(
                    &orb.namespace,
                    &orb.name,
                    (to_i64(v.0), to_i64(v.1), to_i64(v.2)),
                )
                .await
                .map_err(|e| crate::error::store_error_text(&e))?;
            Ok(source.map(|source| PublishedOrb { version: v, source }))
        })
    }
}
