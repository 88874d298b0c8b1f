//! SQLite backend: WAL, foreign keys, busy timeout, file created if missing.

use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

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
