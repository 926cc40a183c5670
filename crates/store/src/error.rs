//! What can go wrong in the store, as outcomes callers can act on.

/// A store failure. `Conflict` and `NotFound` are the caller's to explain; `Unavailable` means
/// the database could not be reached (HTTP 503); the rest are bugs or broken databases.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique value already exists (duplicate login, duplicate project).
    #[error("{0}")]
    Conflict(String),
    /// A row the operation needs does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The caller asked for something the store never does (a bug in the caller), such as
    /// ending a job with a state that is not final.
    #[error("{0}")]
    Invalid(String),
    /// The database did not answer in time or refused the connection.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The database URL or options are wrong.
    #[error("{0}")]
    Config(String),
    /// A migration failed.
    #[error("migration failed: {0}")]
    Migration(String),
    /// Any other database error.
    #[error("database error: {0}")]
    Database(sqlx::Error),
    /// Copying one table into another store failed (see `Store::copy_into`); the target was
    /// left as it was.
    #[error("cannot copy table {table}: {cause}")]
    Copy {
        /// The table being copied.
        table: &'static str,
        /// What went wrong.
        cause: Box<StoreError>,
    },
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
                StoreError::Unavailable(e.to_string())
            }
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                StoreError::Conflict("already exists".into())
            }
            // PostgreSQL shutting down or restarting under a running query (57P01–57P03),
            // or the connection failing (class 08): the database is away, not the request wrong.
            sqlx::Error::Database(db)
                if db
                    .code()
                    .is_some_and(|c| c.starts_with("57P0") || c.starts_with("08")) =>
            {
                StoreError::Unavailable(e.to_string())
            }
            _ => StoreError::Database(e),
        }
    }
}

impl StoreError {
    /// Replaces the generic text of a `Conflict` with one naming what collided.
    pub(crate) fn conflict_as(self, text: impl Into<String>) -> Self {
        match self {
            StoreError::Conflict(_) => StoreError::Conflict(text.into()),
            other => other,
        }
    }
}
