//! Instance-wide settings that site admins change at run time (not start-up configuration).

use crate::{Store, StoreError, on_pool};

/// The setting that, when `"true"`, refuses creating new API tokens instance-wide.
pub const TOKEN_CREATION_DISABLED: &str = "token_creation_disabled";

/// Instance-wide settings changed at run time by site admins.
pub struct Settings<'s>(pub(crate) &'s Store);

impl Settings<'_> {
    /// The value of `name`, if set.
    pub async fn get(&self, name: &str) -> Result<Option<String>, StoreError> {
        let sql = "SELECT value FROM instance_settings WHERE name = $1";
        Ok(on_pool!(self.0, pool => sqlx::query_scalar(sql).bind(name).fetch_optional(pool).await)?)
    }

    /// Sets `name` to `value`.
    pub async fn set(&self, name: &str, value: &str) -> Result<(), StoreError> {
        let sql = "INSERT INTO instance_settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET value = excluded.value";
        on_pool!(self.0, pool => sqlx::query(sql).bind(name).bind(value).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(())
    }
}
