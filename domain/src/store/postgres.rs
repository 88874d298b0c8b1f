//! PostgreSQL backend.

use std::str::FromStr;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use super::{Pools, StoreOptions};
use crate::error::DomainError;

pub(super) static MIGRATOR: Migrator = sqlx::migrate!("../migrations/postgres");

pub(super) async fn connect(url: &str, options: &StoreOptions) -> Result<Pools, DomainError> {
    let connect = PgConnectOptions::from_str(url)?.application_name("fieldops");
    let pool = PgPoolOptions::new()
        .max_connections(options.max_connections.max(2))
        .acquire_timeout(options.acquire_timeout)
        .connect_with(connect)
        .await?;
    Ok(Pools::Postgres(pool))
}
