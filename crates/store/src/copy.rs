//! Copying a whole store into another, empty one: what `circlet admin migrate-store` runs to
//! move an installation from SQLite to PostgreSQL (or back).
//!
//! Every row of every table is copied with its ids, uuids, token digests, sealed env var values
//! and timestamps unchanged, so references between rows, API tokens, env vars (sealed with the
//! project's uuid as associated data), artifact keys and the audit trail all stay valid.
//! Browser sessions are copied too: they are keyed with the data dir's session key, which the
//! server on the new database keeps using.
//!
//! The source is read in one snapshot (a read transaction), in key order, [`ROWS_PER_BATCH`]
//! rows at a time, so a store of any size is copied in bounded memory. The target is written
//! in one transaction: a failure leaves it as empty as it was. Each identity sequence of the
//! target is then moved past the highest id the source ever handed out, so new rows never
//! collide with copied ones.
//!
//! [`TABLES`] names every column of every table. Before copying, both schemas are checked
//! against it: a column a later migration adds but this module does not know about refuses the
//! copy instead of being dropped silently.

mod tables;

use crate::error::Conflict;
use crate::{Backend, Store, StoreError};
use sqlx::Row;
use std::collections::BTreeSet;
use tables::{Kind, TABLES, Table};
use time::OffsetDateTime;
use uuid::Uuid;

/// Rows read and written per statement. 500 rows of the widest table (22 columns) bind 11,000
/// parameters, well under SQLite's 32,766 and PostgreSQL's 65,535.
pub const ROWS_PER_BATCH: usize = 500;

/// What a copy moved: rows per table, in the order they were copied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyReport {
    /// One entry per table, parents before children.
    pub tables: Vec<CopiedTable>,
    /// Text values that held NUL characters, which PostgreSQL text cannot store (SQLite can,
    /// e.g. in a job's output): each NUL was replaced by U+FFFD. Always 0 into SQLite.
    pub nul_replaced: u64,
}

impl CopyReport {
    /// Rows copied in all tables together.
    pub fn total_rows(&self) -> u64 {
        self.tables.iter().map(|t| t.rows).sum()
    }

    /// Rows copied in `table` (0 for a table the copy does not know).
    pub fn rows_in(&self, table: &str) -> u64 {
        self.tables
            .iter()
            .find(|t| t.name == table)
            .map_or(0, |t| t.rows)
    }
}

/// How many rows of one table were copied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopiedTable {
    /// The table's name.
    pub name: &'static str,
    /// Rows copied.
    pub rows: u64,
}

/// One column's value in transit, typed so a NULL is bound with its column's type.
#[derive(Debug, Clone)]
enum Value {
    Int(Option<i64>),
    Int4(Option<i32>),
    Real(Option<f64>),
    Text(Option<String>),
    Bool(Option<bool>),
    Uuid(Option<Uuid>),
    Bytes(Option<Vec<u8>>),
    Time(Option<OffsetDateTime>),
}

/// An open transaction on either backend.
enum Tx {
    Sqlite(sqlx::Transaction<'static, sqlx::Sqlite>),
    Postgres(sqlx::Transaction<'static, sqlx::Postgres>),
}

/// Runs `$body` with `$tx` bound to the transaction's connection, compiled once per backend
/// (like `on_pool!`), so the SQL text must be valid in both dialects.
macro_rules! on_tx {
    ($tx_enum:expr, $conn:ident => $body:expr) => {
        match $tx_enum {
            Tx::Sqlite(tx) => {
                let $conn = &mut **tx;
                $body
            }
            Tx::Postgres(tx) => {
                let $conn = &mut **tx;
                $body
            }
        }
    };
}

/// Binds `$value` (a `&Value`) to `$query` with its column's type.
macro_rules! bind_value {
    ($query:expr, $value:expr) => {
        match $value {
            Value::Int(v) => $query.bind(*v),
            Value::Int4(v) => $query.bind(*v),
            Value::Real(v) => $query.bind(*v),
            Value::Text(v) => $query.bind(v.as_deref()),
            Value::Bool(v) => $query.bind(*v),
            Value::Uuid(v) => $query.bind(*v),
            Value::Bytes(v) => $query.bind(v.as_deref()),
            Value::Time(v) => $query.bind(*v),
        }
    };
}

/// Decodes every column of `$table` from `$row`, in order.
macro_rules! decode_row {
    ($row:expr, $table:expr) => {{
        let mut values = Vec::with_capacity($table.columns.len());
        for (i, (_, kind)) in $table.columns.iter().enumerate() {
            values.push(match kind {
                Kind::Int => Value::Int($row.try_get(i)?),
                Kind::Int4 => Value::Int4($row.try_get(i)?),
                Kind::Real => Value::Real($row.try_get(i)?),
                Kind::Text => Value::Text($row.try_get(i)?),
                Kind::Bool => Value::Bool($row.try_get(i)?),
                Kind::Uuid => Value::Uuid($row.try_get(i)?),
                Kind::Bytes => Value::Bytes($row.try_get(i)?),
                Kind::Time => Value::Time($row.try_get(i)?),
            });
        }
        values
    }};
}

impl Store {
    /// Copies every row of this store into `target`, which is migrated first and must hold no
    /// rows at all (`Conflict` otherwise, and nothing is written). Ids and uuids are kept, so
    /// tokens, links and references work unchanged on the target. This store should be
    /// migrated and not in use: what a running server writes after the copy starts is not
    /// copied. On any error the target is left as it was.
    pub async fn copy_into(&self, target: &Store) -> Result<CopyReport, StoreError> {
        target.migrate().await?;
        check_schema(self, "source").await?;
        check_schema(target, "target").await?;
        let mut dest = Tx::begin(target).await?;
        dest.refuse_unless_empty().await?;
        let mut source = Tx::snapshot(self).await?;
        let mut report = CopyReport {
            tables: Vec::new(),
            nul_replaced: 0,
        };
        for table in TABLES {
            let rows = copy_table(&mut source, &mut dest, table, &mut report.nul_replaced)
                .await
                .map_err(|e| match e {
                    StoreError::Unavailable(_) => e,
                    other => StoreError::Copy {
                        table: table.name,
                        cause: Box::new(other),
                    },
                })?;
            tracing::info!("copied {rows} row(s) of {}", table.name);
            report.tables.push(CopiedTable {
                name: table.name,
                rows,
            });
        }
        // The snapshot ends first: once the target commits, the copy has happened.
        source.commit().await?;
        dest.commit().await?;
        Ok(report)
    }
}

/// Copies one table in batches and, for a table with generated ids, moves the target's
/// sequence past every id the source handed out. Returns how many rows were copied; adds the
/// text values whose NULs it replaced to `nul_replaced`.
async fn copy_table(
    source: &mut Tx,
    dest: &mut Tx,
    table: &Table,
    nul_replaced: &mut u64,
) -> Result<u64, StoreError> {
    let mut copied = 0u64;
    let mut after: Option<Vec<Value>> = None;
    loop {
        let mut rows = source.read_batch(table, after.as_deref()).await?;
        if matches!(dest, Tx::Postgres(_)) {
            *nul_replaced += replace_nul(&mut rows, table.key);
        }
        let Some(last) = rows.last() else { break };
        dest.insert_batch(table, &rows).await?;
        copied += rows.len() as u64;
        if rows.len() < ROWS_PER_BATCH {
            break;
        }
        after = Some(last[..table.key].to_vec());
    }
    if table.identity {
        let high_water = source.ids_handed_out(table).await?;
        dest.continue_ids_after(table, high_water).await?;
    }
    Ok(copied)
}

/// Refuses a store whose tables or columns differ from [`TABLES`]: copying would drop a column
/// this module does not know, or fail on one the store lacks.
async fn check_schema(store: &Store, which: &str) -> Result<(), StoreError> {
    let actual: Vec<(String, String)> = match &store.backend {
        Backend::Sqlite(pool) => {
            let sql = "SELECT m.name, p.name FROM sqlite_master m, pragma_table_info(m.name) p \
                       WHERE m.type = 'table'";
            sqlx::query_as(sql).fetch_all(pool).await?
        }
        Backend::Postgres(pool) => {
            let sql = "SELECT CAST(table_name AS TEXT), CAST(column_name AS TEXT) \
                       FROM information_schema.columns WHERE table_schema = current_schema()";
            sqlx::query_as(sql).fetch_all(pool).await?
        }
    };
    // sqlx's migration bookkeeping and SQLite's internal tables are no circlet data: each
    // database keeps its own.
    let actual: BTreeSet<(String, String)> = actual
        .into_iter()
        .filter(|(t, _)| !t.starts_with("_sqlx") && !t.starts_with("sqlite_"))
        .collect();
    let known: BTreeSet<(String, String)> = TABLES
        .iter()
        .flat_map(|t| {
            t.columns
                .iter()
                .map(|(c, _)| (t.name.to_owned(), (*c).to_owned()))
        })
        .collect();
    let describe = |cols: Vec<&(String, String)>| {
        cols.iter()
            .map(|(t, c)| format!("{t}.{c}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let unknown: Vec<_> = actual.difference(&known).collect();
    if !unknown.is_empty() {
        return Err(StoreError::Invalid(format!(
            "the {which} database has columns this version of circlet cannot copy ({})",
            describe(unknown)
        )));
    }
    let missing: Vec<_> = known.difference(&actual).collect();
    if !missing.is_empty() {
        return Err(StoreError::Invalid(format!(
            "the {which} database lacks columns every circlet database has ({}); is it \
             migrated?",
            describe(missing)
        )));
    }
    Ok(())
}

impl Tx {
    /// A read-only snapshot of `store`: every batch read in it sees the same moment, even if
    /// something writes meanwhile.
    async fn snapshot(store: &Store) -> Result<Tx, StoreError> {
        Ok(match &store.backend {
            // A SQLite read transaction in WAL mode sees the database as of its first read.
            Backend::Sqlite(pool) => Tx::Sqlite(pool.begin().await?),
            Backend::Postgres(pool) => Tx::Postgres(
                pool.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                    .await?,
            ),
        })
    }

    /// A write transaction on `store`.
    async fn begin(store: &Store) -> Result<Tx, StoreError> {
        Ok(match &store.backend {
            // IMMEDIATE takes the write lock at once: the emptiness check and the copy see no
            // other writer, and no read-to-write upgrade can fail half-way with SQLITE_BUSY.
            Backend::Sqlite(pool) => Tx::Sqlite(pool.begin_with("BEGIN IMMEDIATE").await?),
            Backend::Postgres(pool) => Tx::Postgres(pool.begin().await?),
        })
    }

    /// `Conflict` naming the tables that hold rows, when any does.
    async fn refuse_unless_empty(&mut self) -> Result<(), StoreError> {
        let mut occupied = Vec::new();
        for table in TABLES {
            let sql = format!(
                "SELECT COUNT(*) FROM (SELECT 1 FROM {} LIMIT 1) AS probe",
                table.name
            );
            let n: i64 = on_tx!(self, conn => sqlx::query_scalar(&sql).fetch_one(conn).await)?;
            if n > 0 {
                occupied.push(table.name);
            }
        }
        if occupied.is_empty() {
            return Ok(());
        }
        Err(StoreError::Conflict(Conflict::TargetNotEmpty(
            occupied.into_iter().map(str::to_owned).collect(),
        )))
    }

    /// Up to [`ROWS_PER_BATCH`] rows of `table` in key order, after the key `after`.
    async fn read_batch(
        &mut self,
        table: &Table,
        after: Option<&[Value]>,
    ) -> Result<Vec<Vec<Value>>, StoreError> {
        let names =
            |cols: &[(&str, Kind)]| cols.iter().map(|(c, _)| *c).collect::<Vec<_>>().join(", ");
        let key = names(&table.columns[..table.key]);
        let resume = match after {
            Some(_) => format!(" WHERE ({key}) > ({})", placeholders(1, table.key)),
            None => String::new(),
        };
        let sql = format!(
            "SELECT {} FROM {}{resume} ORDER BY {key} LIMIT {ROWS_PER_BATCH}",
            names(table.columns),
            table.name
        );
        let rows = on_tx!(self, conn => async {
            let mut query = sqlx::query(&sql);
            for value in after.unwrap_or_default() {
                query = bind_value!(query, value);
            }
            let mut out = Vec::new();
            for row in query.fetch_all(conn).await? {
                out.push(decode_row!(row, table));
            }
            Ok::<_, sqlx::Error>(out)
        }.await)?;
        Ok(rows)
    }

    /// Inserts `rows` of `table` as they are, ids included.
    async fn insert_batch(&mut self, table: &Table, rows: &[Vec<Value>]) -> Result<(), StoreError> {
        let width = table.columns.len();
        let values = (0..rows.len())
            .map(|r| format!("({})", placeholders(r * width + 1, width)))
            .collect::<Vec<_>>()
            .join(", ");
        // PostgreSQL refuses a value for a GENERATED ALWAYS column unless told to take it.
        let overriding = match self {
            Tx::Postgres(_) if table.identity => " OVERRIDING SYSTEM VALUE",
            _ => "",
        };
        let sql = format!(
            "INSERT INTO {} ({}){overriding} VALUES {values}",
            table.name,
            table
                .columns
                .iter()
                .map(|(c, _)| *c)
                .collect::<Vec<_>>()
                .join(", ")
        );
        on_tx!(self, conn => async {
            let mut query = sqlx::query(&sql);
            for value in rows.iter().flatten() {
                query = bind_value!(query, value);
            }
            query.execute(conn).await?;
            Ok::<_, sqlx::Error>(())
        }.await)?;
        Ok(())
    }

    /// The highest id `table` has handed out, deleted rows included (0 if none).
    async fn ids_handed_out(&mut self, table: &Table) -> Result<i64, StoreError> {
        let max_sql = format!("SELECT COALESCE(MAX(id), 0) FROM {}", table.name);
        let max: i64 = on_tx!(self, conn => sqlx::query_scalar(&max_sql).fetch_one(conn).await)?;
        let sequence: i64 = match self {
            Tx::Sqlite(tx) => sqlx::query_scalar("SELECT seq FROM sqlite_sequence WHERE name = $1")
                .bind(table.name)
                .fetch_optional(&mut **tx)
                .await?
                .unwrap_or(0),
            Tx::Postgres(tx) => {
                let name: Option<String> =
                    sqlx::query_scalar("SELECT pg_get_serial_sequence($1, 'id')")
                        .bind(table.name)
                        .fetch_one(&mut **tx)
                        .await?;
                match name {
                    // The name comes from the catalog, quoted as needed, so it is safe to inline.
                    Some(name) => {
                        let sql = format!(
                            "SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END FROM {name}"
                        );
                        sqlx::query_scalar(&sql).fetch_one(&mut **tx).await?
                    }
                    None => 0,
                }
            }
        };
        Ok(max.max(sequence))
    }

    /// Makes the next generated id of `table` greater than both `high_water` and every id in it.
    async fn continue_ids_after(
        &mut self,
        table: &Table,
        high_water: i64,
    ) -> Result<(), StoreError> {
        let max_sql = format!("SELECT COALESCE(MAX(id), 0) FROM {}", table.name);
        let max: i64 = on_tx!(self, conn => sqlx::query_scalar(&max_sql).fetch_one(conn).await)?;
        let last = max.max(high_water);
        match self {
            Tx::Sqlite(tx) => {
                sqlx::query("DELETE FROM sqlite_sequence WHERE name = $1")
                    .bind(table.name)
                    .execute(&mut **tx)
                    .await?;
                if last > 0 {
                    sqlx::query("INSERT INTO sqlite_sequence (name, seq) VALUES ($1, $2)")
                        .bind(table.name)
                        .bind(last)
                        .execute(&mut **tx)
                        .await?;
                }
            }
            Tx::Postgres(tx) => {
                sqlx::query("SELECT setval(pg_get_serial_sequence($1, 'id'), $2, false)")
                    .bind(table.name)
                    .bind(last + 1)
                    .execute(&mut **tx)
                    .await?;
            }
        }
        Ok(())
    }

    /// Commits; on a snapshot, simply ends it.
    async fn commit(self) -> Result<(), StoreError> {
        match self {
            Tx::Sqlite(tx) => tx.commit().await?,
            Tx::Postgres(tx) => tx.commit().await?,
        }
        Ok(())
    }
}

/// Replaces each NUL in the text values of `rows` by U+FFFD (PostgreSQL refuses NUL in text);
/// returns how many values changed. The first `key` columns are left alone, so batches still
/// resume after the source's own key (no circlet key holds a NUL; one would fail the copy).
fn replace_nul(rows: &mut [Vec<Value>], key: usize) -> u64 {
    let mut changed = 0;
    for value in rows.iter_mut().flat_map(|row| row.iter_mut().skip(key)) {
        if let Value::Text(Some(text)) = value
            && text.contains('\0')
        {
            *text = text.replace('\0', "\u{FFFD}");
            changed += 1;
        }
    }
    changed
}

/// `$first, $first+1, …` (`count` of them).
fn placeholders(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_lead_and_batches_fit_both_parameter_limits() {
        for t in TABLES {
            assert!(t.key >= 1 && t.key <= t.columns.len(), "{}", t.name);
            if t.identity {
                assert_eq!(t.columns[0].0, "id", "{}: id leads", t.name);
                assert_eq!(t.key, 1, "{}", t.name);
            }
            assert!(
                t.columns.len() * ROWS_PER_BATCH <= 32_766,
                "{}: a batch binds too many parameters",
                t.name
            );
        }
    }

    #[test]
    fn nul_becomes_the_replacement_character() {
        let mut rows = vec![vec![
            Value::Text(Some("key\0".into())),
            Value::Text(Some("a\0b\0".into())),
            Value::Text(Some("clean".into())),
            Value::Text(None),
        ]];
        assert_eq!(replace_nul(&mut rows, 1), 1);
        assert!(matches!(&rows[0][1], Value::Text(Some(t)) if t == "a\u{FFFD}b\u{FFFD}"));
        assert!(matches!(&rows[0][2], Value::Text(Some(t)) if t == "clean"));
        assert!(matches!(&rows[0][0], Value::Text(Some(t)) if t == "key\0"));
    }

    #[test]
    fn placeholders_are_numbered_from_first() {
        assert_eq!(placeholders(1, 3), "$1, $2, $3");
        assert_eq!(placeholders(4, 1), "$4");
    }
}
