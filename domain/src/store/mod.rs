//! The Store: one handle over either backend, chosen once from the database URL scheme.
//!
//! Services write each query once and run it on whichever backend is behind the store through
//! the [`on_tx!`](crate::on_tx) and [`on_read!`](crate::on_read) macros, which expand the same
//! body once per backend so each expansion type-checks against its concrete sqlx driver. SQL
//! sticks to the dialect both share (`$N` parameters, `RETURNING`, partial indexes,
//! `ON CONFLICT`); where the two differ a service matches on [`Backend`].

mod postgres;
pub(crate) mod sqlite;

use std::time::Duration;

use sqlx::{PgPool, Postgres, Sqlite, SqlitePool, Transaction};
use uuid::Uuid;

use crate::error::DomainError;

/// Which database is behind a [`Store`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// Pool settings that an operator may tune.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Connections for PostgreSQL, and readers for SQLite (SQLite always has one writer).
    pub max_connections: u32,
    pub acquire_timeout: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            max_connections: 8,
            acquire_timeout: Duration::from_secs(10),
        }
    }
}

/// The database handle every service takes. Cheap to clone.
///
/// The backends are private: outside this crate nothing can reach a sqlx pool, which is what
/// keeps "only `domain` names SQL" true (ARCHITECTURE.md, invariants).
#[derive(Clone, Debug)]
pub struct Store(pub(crate) Pools);

#[derive(Clone, Debug)]
pub(crate) enum Pools {
    /// SQLite keeps ONE writer connection: SQLite serialises writers anyway, and a single
    /// connection turns lock contention (SQLITE_BUSY mid-transaction) into a fair queue.
    /// Readers use their own pool and, in WAL mode, never block the writer.
    Sqlite {
        write: SqlitePool,
        read: SqlitePool,
    },
    Postgres(PgPool),
}

/// A write transaction on either backend. Dropping it without [`Tx::commit`] rolls back.
/// Services finish one with [`Tx::commit_audited`](crate::audit) when it changed business data.
/// The flag is set when the transaction enqueued a notification delivery: committing it wakes
/// the channel workers of this process ([`crate::notifications::wakeup`]).
pub struct Tx(pub(crate) Conn, pub(crate) bool);

pub(crate) enum Conn {
    Sqlite(Transaction<'static, Sqlite>),
    Postgres(Transaction<'static, Postgres>),
}

/// Runs a query body on a write transaction, expanded once per backend so each expansion
/// type-checks against its concrete sqlx driver. Three forms, each written like a call so that
/// rustfmt formats it:
///
/// - `on_tx!(tx, |c| body)`: `c` is `&mut SqliteConnection` or `&mut PgConnection`; the body's
///   value must have one type on both backends (rows decoded with `FromRow`, scalars).
/// - `on_tx!(tx, execute(query))`: runs `query` (a `sqlx::query(…).bind(…)…` expression) and
///   gives `Result<u64, DomainError>`, the rows affected. The two drivers' result types differ
///   and this is what every write needs, so no body converts them by hand.
/// - `on_tx!(tx, insert_values(head, rows, |b, row| b.push_bind(…).push_bind(…)))`, optionally
///   with a fifth argument appended after the values (`" ON CONFLICT …"`): one multi-row
///   `INSERT … VALUES (…), (…)` (sqlx's `QueryBuilder::push_values`) for a slice of rows, giving
///   the rows affected. Callers chunk `rows` under the backends' bind limits (SQLite: 32,766
///   parameters; PostgreSQL: 65,535).
macro_rules! on_tx {
    ($tx:expr, insert_values($head:expr, $rows:expr, |$b:ident, $row:pat_param| $push:expr $(,)?)) => {
        $crate::store::on_tx!($tx, insert_values($head, $rows, |$b, $row| $push, ""))
    };
    (
        $tx:expr,
        insert_values($head:expr, $rows:expr, |$b:ident, $row:pat_param| $push:expr, $suffix:expr $(,)?)
    ) => {
        $crate::store::on_tx!($tx, |c| {
            let mut qb = sqlx::QueryBuilder::new($head);
            qb.push_values($rows, |mut $b, $row| {
                $push;
            });
            qb.push($suffix);
            qb.build().execute(&mut *c).await.map(|r| r.rows_affected())
        })
        .map_err($crate::error::DomainError::from)
    };
    ($tx:expr, execute($query:expr $(,)?)) => {
        $crate::store::on_tx!($tx, |c| $query
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected()))
        .map_err($crate::error::DomainError::from)
    };
    ($tx:expr, |$c:ident| $body:expr) => {
        match &mut ($tx).0 {
            $crate::store::Conn::Sqlite(t) => {
                let $c = &mut **t;
                $body
            }
            $crate::store::Conn::Postgres(t) => {
                let $c = &mut **t;
                $body
            }
        }
    };
}

/// Runs `$body` with `$p` bound to a read pool (`&SqlitePool` or `&PgPool`); the same
/// `|p| body` and `execute(query)` forms as [`on_tx!`] (the latter runs a statement outside a
/// transaction).
macro_rules! on_read {
    ($store:expr, execute($query:expr $(,)?)) => {
        $crate::store::on_read!($store, |p| $query
            .execute(p)
            .await
            .map(|r| r.rows_affected()))
        .map_err($crate::error::DomainError::from)
    };
    ($store:expr, |$p:ident| $body:expr) => {
        match &($store).0 {
            $crate::store::Pools::Sqlite { read, .. } => {
                let $p = read;
                $body
            }
            $crate::store::Pools::Postgres(pool) => {
                let $p = pool;
                $body
            }
        }
    };
}

pub(crate) use {on_read, on_tx};

impl Store {
    /// Connects to the database named by `url` (`sqlite:…` or `postgres:`/`postgresql:…`).
    /// A SQLite file is created if missing. Does not run migrations: see [`Store::migrate`].
    pub async fn connect(url: &str, options: &StoreOptions) -> Result<Store, DomainError> {
        match scheme_of(url) {
            Some(Backend::Sqlite) => sqlite::connect(url, options).await.map(Store),
            Some(Backend::Postgres) => postgres::connect(url, options).await.map(Store),
            None => Err(DomainError::Config(format!(
                "unsupported database URL scheme in `{}`: use sqlite://PATH or postgres://…",
                redact_url(url)
            ))),
        }
    }

    pub fn backend(&self) -> Backend {
        match self.0 {
            Pools::Sqlite { .. } => Backend::Sqlite,
            Pools::Postgres(_) => Backend::Postgres,
        }
    }

    /// Applies the pending migrations of this backend's tree.
    pub async fn migrate(&self) -> Result<(), DomainError> {
        match &self.0 {
            Pools::Sqlite { write, .. } => sqlite::migrate(write).await?,
            Pools::Postgres(pool) => postgres::MIGRATOR.run(pool).await?,
        }
        // Data a migration cannot compute in SQL (migration 0016's cell keys).
        crate::map::backfill_after_migrate(self).await
    }

    /// Begins a write transaction.
    pub async fn begin(&self) -> Result<Tx, DomainError> {
        Ok(Tx(
            match &self.0 {
                // IMMEDIATE takes the write lock up front: a deferred transaction that reads first
                // fails with SQLITE_BUSY (no busy-timeout retry) when another process wrote since.
                Pools::Sqlite { write, .. } => {
                    Conn::Sqlite(write.begin_with("BEGIN IMMEDIATE").await?)
                }
                Pools::Postgres(pool) => Conn::Postgres(pool.begin().await?),
            },
            false,
        ))
    }

    /// Checks that the database answers (for `/readyz`).
    pub async fn ping(&self) -> Result<(), DomainError> {
        on_read!(self, execute(sqlx::query("SELECT 1")))?;
        Ok(())
    }

    /// Whether [`Store::close`] was called.
    pub(crate) fn is_closed(&self) -> bool {
        match &self.0 {
            Pools::Sqlite { write, .. } => write.is_closed(),
            Pools::Postgres(pool) => pool.is_closed(),
        }
    }

    pub async fn close(&self) {
        match &self.0 {
            Pools::Sqlite { write, read } => {
                read.close().await;
                write.close().await;
            }
            Pools::Postgres(pool) => pool.close().await,
        }
    }
}

impl Tx {
    pub async fn commit(self) -> Result<(), DomainError> {
        match self.0 {
            Conn::Sqlite(t) => t.commit().await?,
            Conn::Postgres(t) => t.commit().await?,
        }
        if self.1 {
            crate::notifications::wakeup().notify_waiters();
        }
        Ok(())
    }

    /// Ends the transaction without writing, now. Dropping a `Tx` rolls back too, but sqlx
    /// sends that rollback only when the connection is next used or returned to the pool, in
    /// the background: until then the connection keeps its row locks, and a `SKIP LOCKED` read
    /// on another connection (the clock's mark) sees the row as taken.
    pub async fn rollback(self) -> Result<(), DomainError> {
        match self.0 {
            Conn::Sqlite(t) => t.rollback().await?,
            Conn::Postgres(t) => t.rollback().await?,
        }
        Ok(())
    }

    /// Wake the notification workers when this transaction commits (it wrote deliveries);
    /// waking them earlier would let them look before the rows are visible.
    pub(crate) fn wake_outbox_on_commit(&mut self) {
        self.1 = true;
    }

    pub fn backend(&self) -> Backend {
        match self.0 {
            Conn::Sqlite(_) => Backend::Sqlite,
            Conn::Postgres(_) => Backend::Postgres,
        }
    }

    /// The clause that locks the rows a `SELECT` reads until this transaction ends, to append to
    /// the statement. On PostgreSQL writers run concurrently, so a read-then-write must lock
    /// what it read or lose a concurrent update; on SQLite it is empty: the one writer
    /// connection already holds the database's write lock (`BEGIN IMMEDIATE`), and SQLite has
    /// no such clause. The one place a service decides how to lock, instead of matching on the
    /// backend.
    pub(crate) fn row_lock(&self, mode: RowLock) -> &'static str {
        match (&self.0, mode) {
            (Conn::Sqlite(_), _) => "",
            (Conn::Postgres(_), RowLock::Share) => " FOR SHARE",
            (Conn::Postgres(_), RowLock::Update) => " FOR UPDATE",
            (Conn::Postgres(_), RowLock::SkipLocked) => " FOR UPDATE SKIP LOCKED",
        }
    }

    /// Soft-deletes one row of a versioned `table` (assets, maintenance plans): the row stays for
    /// the history that refers to it, `deleted_at` hides it from the live views, and the version
    /// moves so a client holding the old one gets a conflict. Returns the rows affected.
    pub(crate) async fn soft_delete(
        &mut self,
        table: &'static str,
        id: Uuid,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<u64, DomainError> {
        let sql = format!(
            "UPDATE {table} SET deleted_at = $1, updated_at = $1, version = version + 1 \
             WHERE id = $2"
        );
        on_tx!(self, execute(sqlx::query(&sql).bind(at).bind(id)))
    }

    /// Locks one row of `table` by id for the rest of the transaction: for a read-modify-write
    /// whose read goes through a shared loader that does not lock.
    pub(crate) async fn lock_row(
        &mut self,
        table: &'static str,
        id: Uuid,
    ) -> Result<(), DomainError> {
        let sql = format!(
            "SELECT id FROM {table} WHERE id = $1{}",
            self.row_lock(RowLock::Update)
        );
        on_tx!(self, execute(sqlx::query(&sql).bind(id)))?;
        Ok(())
    }
}

/// How [`Tx::row_lock`] holds a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RowLock {
    /// Many transactions may hold it at once; a [`RowLock::Update`] waits for all of them.
    Share,
    /// One transaction holds it; others wait to read it with a lock or write it.
    Update,
    /// Like [`RowLock::Update`], but rows another transaction holds are left out instead of
    /// waited for: concurrent workers claiming from one queue each take different rows, and a
    /// clock rule another process is evaluating is skipped.
    SkipLocked,
}

/// The backend a URL names, from its scheme alone.
pub fn scheme_of(url: &str) -> Option<Backend> {
    let scheme = url.split(':').next()?.to_ascii_lowercase();
    match scheme.as_str() {
        "sqlite" => Some(Backend::Sqlite),
        "postgres" | "postgresql" => Some(Backend::Postgres),
        _ => None,
    }
}

/// The URL with any password replaced by `***`, for logs and error messages.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, tail) = match rest.find(['/', '?']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or("");
            if userinfo.contains(':') {
                format!("{scheme}://{user}:***@{host}{tail}")
            } else {
                url.to_owned()
            }
        }
        None => url.to_owned(),
    }
}

/// The versions of the embedded migrations of each backend (the pairing test compares them).
pub fn migration_versions(backend: Backend) -> Vec<i64> {
    let migrator = match backend {
        Backend::Sqlite => &sqlite::MIGRATOR,
        Backend::Postgres => &postgres::MIGRATOR,
    };
    migrator.iter().map(|m| m.version).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemes_pick_backends() {
        assert_eq!(scheme_of("sqlite://fieldops.db"), Some(Backend::Sqlite));
        assert_eq!(scheme_of("sqlite::memory:"), Some(Backend::Sqlite));
        assert_eq!(scheme_of("postgres://u@h/db"), Some(Backend::Postgres));
        assert_eq!(scheme_of("postgresql://u@h/db"), Some(Backend::Postgres));
        assert_eq!(scheme_of("mysql://u@h/db"), None);
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_url("postgres://app:s3cret@db:5432/fieldops?sslmode=require"),
            "postgres://app:***@db:5432/fieldops?sslmode=require"
        );
        assert_eq!(redact_url("postgres://app@db/x"), "postgres://app@db/x");
        assert_eq!(redact_url("sqlite://fieldops.db"), "sqlite://fieldops.db");
    }

    #[test]
    fn migration_trees_are_paired() {
        let sqlite = migration_versions(Backend::Sqlite);
        let pg = migration_versions(Backend::Postgres);
        assert!(!sqlite.is_empty());
        assert_eq!(
            sqlite, pg,
            "migrations/sqlite and migrations/postgres must list the same versions"
        );
    }
}
