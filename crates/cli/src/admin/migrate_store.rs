//! `circlet admin migrate-store`: copies a whole database into another, empty one (SQLite to
//! PostgreSQL when an installation outgrows the embedded default). The copy itself is
//! `Store::copy_into`; this prints what it did and what to do next.

use anyhow::{Context, bail};
use circlet_store::{BackendKind, Store};
use std::path::Path;

/// Copies the database at `from` into the empty one at `to` and prints rows per table. The
/// URLs are never printed: they may hold a password.
pub async fn run(from: &str, to: &str) -> anyhow::Result<()> {
    refuse_missing_sqlite(from)?;
    let source = Store::connect(from)
        .await
        .context("cannot open the --from database")?;
    // The copy checks that it knows every column; an older source gets this version's columns.
    let migrated = source.migrate().await;
    if let Err(e) = migrated {
        source.close().await;
        return Err(e).context("cannot migrate the --from database");
    }
    let target = match Store::connect(to).await {
        Ok(target) => target,
        Err(e) => {
            source.close().await;
            return Err(e).context("cannot open the --to database");
        }
    };
    let copied = source.copy_into(&target).await;
    source.close().await;
    target.close().await;
    let report = copied.context("nothing was copied")?;

    println!(
        "copied {} row(s) from {} to {}:",
        report.total_rows(),
        name(source.kind()),
        name(target.kind())
    );
    let width = report
        .tables
        .iter()
        .map(|t| t.name.len())
        .max()
        .unwrap_or(0);
    for table in &report.tables {
        println!("  {:<width$}  {}", table.name, table.rows);
    }
    if report.nul_replaced > 0 {
        println!(
            "note: {} text value(s) (job output, most likely) held NUL characters, which \
             PostgreSQL cannot store; each NUL became U+FFFD",
            report.nul_replaced
        );
    }
    println!(
        "next: start circlet with --database-url set to the new database and the same data dir \
         (its env.key opens the env vars, session.key keeps sessions, artifacts/ holds the \
         artifact files)"
    );
    Ok(())
}

/// Opening a SQLite URL creates a missing file: a mistyped `--from` would copy an empty
/// database. Refuse instead.
fn refuse_missing_sqlite(url: &str) -> anyhow::Result<()> {
    let Some(rest) = url.strip_prefix("sqlite:") else {
        return Ok(());
    };
    let path = rest.strip_prefix("//").unwrap_or(rest);
    let path = path.split('?').next().unwrap_or_default();
    if path.is_empty() || path == ":memory:" || Path::new(path).exists() {
        return Ok(());
    }
    bail!("there is no SQLite database at {path} (--from)")
}

/// A backend's name as people say it.
fn name(kind: BackendKind) -> &'static str {
    match kind {
        BackendKind::Sqlite => "SQLite",
        BackendKind::Postgres => "PostgreSQL",
    }
}
