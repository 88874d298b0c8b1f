//! The Store: one handle over either backend, chosen once from the database URL scheme.
//!
//! Services write each query once and run it on whichever backend is behind the store through
//! the [`on_tx!`](crate::on_tx) and [`on_read!`](crate::on_read) macros, which expand the same
//! body once per backend so each expansion type-checks against its concrete sqlx driver. SQL
//! sticks to the dialect both share (`$N` parameters, `RETURNING`, partial indexes,
//! `ON CONFLICT`); where the two differ a service matches on [`Backend`].

mod postgres;
mod sqlite;

use std::time::Duration;

use sqlx::{PgPool, Postgres, Sqlite, SqlitePool, Transaction};

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
#[derive(Clone, Debug)]
pub enum Store {
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
pub enum Tx {
    Sqlite(Transaction<'static, Sqlite>),
    Postgres(Transaction<'static, Postgres>),
}

/// Runs `$body` with `$c` bound to the transaction's connection (`&mut SqliteConnection` or
/// `&mut PgConnection`). The body is expanded once per backend.
#[macro_export]
macro_rules! on_tx {
    ($tx:expr, |$c:ident| $body:expr) => {
        match $tx {
            $crate::store::Tx::Sqlite(t) => {
                let $c = &mut **t;
                $body
            }
            $crate::store::Tx::Postgres(t) => {
                let $c = &mut **t;
                $body
            }
        }
    };
}

/// Runs `$body` with `$p` bound to a read pool (`&SqlitePool` or `&PgPool`).
#[macro_export]
macro_rules! on_read {
    ($store:expr, |$p:ident| $body:expr) => {
        match $store {
            $crate::store::Store::Sqlite { read, .. } => {
                let $p = read;
                $body
            }
            $crate::store::Store::Postgres(pool) => {
                let $p = pool;
                $body
            }
        }
    };
}

impl Store {
    /// Connects to the database named by `url` (`sqlite:…` or `postgres:`/`postgresql:…`).
    /// A SQLite file is created if missing. Does not run migrations: see [`Store::migrate`].
    pub async fn connect(url: &str, options: &StoreOptions) -> Result<Store, DomainError> {
        match scheme_of(url) {
            Some(Backend::Sqlite) => sqlite::connect(url, options).await,
            Some(Backend::Postgres) => postgres::connect(url, options).await,
            None => Err(DomainError::Config(format!(
                "unsupported database URL scheme in `{}`: use sqlite://PATH or postgres://…",
                redact_url(url)
            ))),
        }
    }

    pub fn backend(&self) -> Backend {
        match self {
            Store::Sqlite { .. } => Backend::Sqlite,
            Store::Postgres(_) => Backend::Postgres,
        }
    }

    /// Applies the pending migrations of this backend's tree.
    pub async fn migrate(&self) -> Result<(), DomainError> {
        match self {
            Store::Sqlite { write, .. } => sqlite::MIGRATOR.run(write).await?,
            Store::Postgres(pool) => postgres::MIGRATOR.run(pool).await?,
        }
        Ok(())
    }

    /// Begins a write transaction.
    pub async fn begin(&self) -> Result<Tx, DomainError> {
        Ok(match self {
            // IMMEDIATE takes the write lock up front: a deferred transaction that reads first
            // fails with SQLITE_BUSY (no busy-timeout retry) when another process wrote since.
            Store::Sqlite { write, .. } => Tx::Sqlite(write.begin_with("BEGIN IMMEDIATE").await?),
            Store::Postgres(pool) => Tx::Postgres(pool.begin().await?),
        })
    }

    /// Checks that the database answers (for `/readyz`).
    pub async fn ping(&self) -> Result<(), DomainError> {
        on_read!(self, |p| sqlx::query("SELECT 1")
            .execute(p)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(())
    }

    pub async fn close(&self) {
        match self {
            Store::Sqlite { write, read } => {
                read.close().await;
                write.close().await;
            }
            Store::Postgres(pool) => pool.close().await,
        }
    }
}

impl Tx {
    pub async fn commit(self) -> Result<(), DomainError> {
        match self {
            Tx::Sqlite(t) => t.commit().await?,
            Tx::Postgres(t) => t.commit().await?,
        }
        Ok(())
    }
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
