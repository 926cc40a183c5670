//! What can go wrong in the store, as outcomes callers can act on.

/// A store failure. `Conflict` and `NotFound` are the caller's to explain; `Unavailable` means
/// the database could not be reached (HTTP 503); the rest are bugs or broken databases.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Something already exists or stands in the way (what, not how to say it to a person:
    /// `circlet_app::error` words it).
    #[error("conflict: {0:?}")]
    Conflict(Conflict),
    /// A row the operation needs does not exist (which, for the use cases to word).
    #[error("not found: {0:?}")]
    NotFound(Missing),
    /// The caller asked for something the store never does (a bug in the caller), such as
    /// ending a job with a state that is not final.
    #[error("{0}")]
    Invalid(String),
    /// The database did not answer in time or refused the connection.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The database's disk (or quota) is full: the write was not made. SQLite `SQLITE_FULL`,
    /// PostgreSQL `53100 disk_full`, or an I/O error saying "no space left" or "quota exceeded".
    #[error("database storage is full: {0}")]
    StorageFull(String),
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

/// What collided or stands in the way of a write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Conflict {
    /// This login is in use.
    Login(String),
    /// This project slug is in use (in some spelling).
    Project(String),
    /// The owner already holds this many personal tokens, the most allowed.
    TokenCap(i64),
    /// Build `build_num` is in `state`, not finished, so it cannot be retried.
    Unfinished {
        /// The build's number.
        build_num: i64,
        /// Its state's name.
        state: String,
    },
    /// This orb version (`namespace/name@X.Y.Z`) is published already.
    OrbVersion(String),
    /// A resource class of this name exists already.
    ResourceClass(String),
    /// A copy's target already holds rows, in these tables.
    TargetNotEmpty(Vec<String>),
    /// The organization has a context of this name already.
    Context(String),
    /// The context has this restriction already.
    Restriction,
    /// The change would leave the instance without an active site admin.
    LastAdmin,
    /// Some other unique value already exists.
    Duplicate,
}

/// What a write or a lookup needed and did not find.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Missing {
    /// No user with this login.
    User(String),
    /// The user is not a member of the project.
    Member,
    /// No such project.
    Project,
    /// No such token.
    Token,
    /// No job with this id.
    Job(i64),
    /// No workflow with this id.
    Workflow(i64),
    /// No such schedule.
    Schedule,
    /// No such organization.
    Organization,
    /// No such context.
    Context,
    /// Step `idx` of job `job` was never started.
    Step {
        /// The job's id.
        job: i64,
        /// The step's index.
        idx: i64,
    },
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        if is_storage_full(&e) {
            return StoreError::StorageFull(e.to_string());
        }
        match &e {
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
                StoreError::Unavailable(e.to_string())
            }
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                StoreError::Conflict(Conflict::Duplicate)
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

/// Whether `e` says the database's disk is full.
fn is_storage_full(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(io) => io_storage_full(io),
        sqlx::Error::Database(db) => {
            let Some(code) = db.code() else {
                return false;
            };
            if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
                code.parse::<i32>().is_ok_and(sqlite_full)
            } else {
                postgres_full(&code)
            }
        }
        _ => false,
    }
}

/// `ENOSPC` or `EDQUOT`, however the platform spells them.
fn io_storage_full(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
    ) || matches!(e.raw_os_error(), Some(28 | 122))
}

/// SQLite's `SQLITE_FULL` (13), whatever extended code rides on it.
fn sqlite_full(extended_code: i32) -> bool {
    extended_code & 0xff == 13
}

/// PostgreSQL's `disk_full` (53100).
fn postgres_full(sqlstate: &str) -> bool {
    sqlstate == "53100"
}

impl StoreError {
    /// Says what collided, in place of a unique violation's [`Conflict::Duplicate`].
    pub(crate) fn conflict_as(self, what: Conflict) -> Self {
        match self {
            StoreError::Conflict(_) => StoreError::Conflict(what),
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::TestDb;
    use crate::{Backend, BackendKind};

    #[test]
    fn disk_full_codes_are_recognised_and_nothing_else() {
        assert!(sqlite_full(13));
        assert!(!sqlite_full(14) && !sqlite_full(2067) && !sqlite_full(5));
        assert!(postgres_full("53100"));
        assert!(!postgres_full("53200") && !postgres_full("23505"));
        for kind in [
            std::io::ErrorKind::StorageFull,
            std::io::ErrorKind::QuotaExceeded,
        ] {
            assert!(io_storage_full(&std::io::Error::from(kind)));
        }
        assert!(io_storage_full(&std::io::Error::from_raw_os_error(28)));
        assert!(!io_storage_full(&std::io::Error::from(
            std::io::ErrorKind::ConnectionRefused
        )));
        let full = StoreError::from(sqlx::Error::Io(std::io::Error::from_raw_os_error(28)));
        assert!(matches!(full, StoreError::StorageFull(_)), "{full:?}");
        let away = StoreError::from(sqlx::Error::Io(std::io::ErrorKind::ConnectionReset.into()));
        assert!(matches!(away, StoreError::Unavailable(_)), "{away:?}");
    }

    /// A real "disk full" from each backend: SQLite past `max_page_count` says `SQLITE_FULL`
    /// exactly as on a full disk; PostgreSQL raises `disk_full` on demand.
    #[tokio::test]
    async fn each_backend_reports_a_full_disk_as_storage_full() {
        for kind in [BackendKind::Sqlite, BackendKind::Postgres] {
            let db = TestDb::new(kind).await;
            let store = db.store().await;
            let err: sqlx::Error = match &store.backend {
                Backend::Sqlite(pool) => {
                    let mut conn = pool.acquire().await.unwrap();
                    sqlx::query("CREATE TABLE filler (b BLOB)").execute(&mut *conn).await.unwrap();
                    let pages: i64 = sqlx::query_scalar("PRAGMA page_count").fetch_one(&mut *conn).await.unwrap();
                    sqlx::query(&format!("PRAGMA max_page_count = {pages}")).execute(&mut *conn).await.unwrap();
                    sqlx::query("INSERT INTO filler VALUES (zeroblob(100000))")
                        .execute(&mut *conn)
                        .await
                        .unwrap_err()
                }
                Backend::Postgres(pool) => sqlx::query(
                    "DO $$ BEGIN RAISE EXCEPTION 'no space left' USING ERRCODE = 'disk_full'; END $$",
                )
                .execute(pool)
                .await
                .unwrap_err(),
            };
            let e = StoreError::from(err);
            assert!(matches!(e, StoreError::StorageFull(_)), "{kind:?}: {e:?}");
        }
    }
}
