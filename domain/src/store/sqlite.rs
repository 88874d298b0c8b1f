//! SQLite backend: WAL, foreign keys, busy timeout, file created if missing.

use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};

use super::{Pools, StoreOptions};
use crate::error::DomainError;

/// Page cache of the writer connection, in KiB (negative `cache_size` = KiB).
const WRITER_CACHE_KIB: u32 = 16 * 1024;
/// WAL pages between automatic checkpoints (SQLite's default is 1000, i.e. ~4 MiB).
const WAL_AUTOCHECKPOINT_PAGES: u32 = 10_000;

pub(super) static MIGRATOR: Migrator = sqlx::migrate!("../migrations/sqlite");

pub(super) async fn connect(url: &str, options: &StoreOptions) -> Result<Pools, DomainError> {
    let base = SqliteConnectOptions::from_str(url)?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        // NORMAL is durable across application crashes in WAL mode; only a power loss can
        // lose the last transactions, which is the usual trade-off for SQLite servers.
        .synchronous(SqliteSynchronous::Normal)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(10));
    // The writer touches a few random pages per telemetry reading (asset, device, history
    // index) across a fleet-sized working set. Fewer, larger checkpoints copy a page rewritten
    // by several commits back once. A page cache above 16 MiB did not speed ingest up (measured
    // with 64 and 128 MiB, 100,000 assets: the OS page cache holds the file) and only adds to
    // the resident size. Readers keep the default cache.
    let write_opts = base
        .clone()
        .pragma("cache_size", format!("-{}", WRITER_CACHE_KIB))
        .pragma("wal_autocheckpoint", WAL_AUTOCHECKPOINT_PAGES.to_string());
    let write = SqlitePoolOptions::new()
        .max_connections(1)
        .acquire_timeout(options.acquire_timeout)
        .connect_with(write_opts)
        .await?;
    let read = SqlitePoolOptions::new()
        .max_connections(options.max_connections.max(1))
        .acquire_timeout(options.acquire_timeout)
        .connect_with(base)
        .await?;
    Ok(Pools::Sqlite { write, read })
}

/// Applies the pending migrations on the writer connection with foreign keys off, then checks
/// them, as SQLite's procedure for schema changes it cannot `ALTER` requires
/// (<https://www.sqlite.org/lang_altertable.html#otheralter>): such a migration rebuilds a
/// table (create, copy, drop, rename), and with foreign keys on, dropping a table that others
/// reference deletes its rows first — cascading to theirs (`users` → `sessions`, 0012).
///
/// The switch has to be made here: `PRAGMA foreign_keys` is a no-op inside a transaction and
/// sqlx's SQLite driver runs every migration file in one (it ignores `-- no-transaction`).
/// A rebuilding migration checks its own references before it commits (0012 does); the check
/// here covers every migration of the run, and runs only when one was applied, so a start with
/// nothing to migrate does not scan the database. The one writer connection is held
/// throughout, so no other write runs with foreign keys off; on any failure it is closed rather
/// than returned to the pool, so a new one comes with the pool's settings (foreign keys on).
pub(super) async fn migrate(write: &SqlitePool) -> Result<(), DomainError> {
    let mut conn = write.acquire().await?;
    let result = migrate_without_foreign_keys(&mut conn).await;
    if result.is_err() {
        conn.close_on_drop();
    }
    result
}

async fn migrate_without_foreign_keys(conn: &mut SqliteConnection) -> Result<(), DomainError> {
    sqlx::query("PRAGMA foreign_keys = OFF")
        .execute(&mut *conn)
        .await?;
    let before = schema_version(conn).await?;
    MIGRATOR.run(&mut *conn).await?;
    if schema_version(conn).await? != before {
        let violations: Vec<(String, Option<i64>, String)> =
            sqlx::query_as("SELECT \"table\", rowid, parent FROM pragma_foreign_key_check")
                .fetch_all(&mut *conn)
                .await?;
        if let Some((table, rowid, parent)) = violations.first() {
            return Err(DomainError::Internal(format!(
                "after migrating, {} row(s) reference missing rows; first: {table} row {} \
                 references {parent}",
                violations.len(),
                rowid.map_or_else(|| "?".to_owned(), |r| r.to_string()),
            )));
        }
    }
    sqlx::query("PRAGMA foreign_keys = ON")
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// The highest migration applied to the database on `conn` (0 before the first): what a
/// migration run changed, and which schema a backup holds.
pub(crate) async fn schema_version(conn: &mut SqliteConnection) -> Result<i64, DomainError> {
    let exists: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM sqlite_schema WHERE type = 'table' \
         AND name = '_sqlx_migrations')",
    )
    .fetch_one(&mut *conn)
    .await?;
    if !exists {
        return Ok(0);
    }
    Ok(
        sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM _sqlx_migrations WHERE success")
            .fetch_one(&mut *conn)
            .await?,
    )
}
