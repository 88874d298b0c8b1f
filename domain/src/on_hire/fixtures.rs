//! Customers, customer sites and contracts written with plain SQL for tests of what field
//! scans record against contracts (feature `testing`). The customers and contracts services are
//! written in parallel; these inserts fill only the columns migration 0020 requires, bypassing
//! their rules on purpose, so a test can set up any status directly.

use chrono::{DateTime, Datelike, Utc};
use uuid::Uuid;

use crate::clock;
use crate::error::DomainError;
use crate::store::{on_read, on_tx, Store};

/// What a test contract line rents.
#[derive(Debug, Clone, Copy)]
pub enum Rents {
    /// One specific asset.
    Asset(Uuid),
    /// A quantity of a category, allocated at delivery.
    Category(Uuid, i32),
}

/// A contract as the tests need it: its id and number.
#[derive(Debug, Clone)]
pub struct TestContract {
    pub id: Uuid,
    pub number: String,
}

/// Runs one statement (a `sqlx::query(…).bind(…)` expression) in its own committed transaction.
macro_rules! commit {
    ($store:expr, $query:expr) => {{
        let mut tx = $store.begin().await?;
        on_tx!(&mut tx, execute($query))?;
        tx.commit().await
    }};
}

/// An active company customer named `legal_name`, managed by `account_manager` if given.
pub async fn customer(
    store: &Store,
    legal_name: &str,
    account_manager: Option<Uuid>,
) -> Result<Uuid, DomainError> {
    let id = clock::new_id();
    let now = clock::now();
    commit!(
        store,
        sqlx::query(
            "INSERT INTO customers (id, legal_name, kind, status, currency, account_manager_id, \
             created_at, updated_at) VALUES ($1, $2, 'company', 'active', 'EUR', $3, $4, $4)"
        )
        .bind(id)
        .bind(legal_name)
        .bind(account_manager)
        .bind(now)
    )?;
    Ok(id)
}

/// Makes `site_id` a site of `customer_id`.
pub async fn site_of(store: &Store, site_id: Uuid, customer_id: Uuid) -> Result<(), DomainError> {
    commit!(
        store,
        sqlx::query("UPDATE sites SET customer_id = $1 WHERE id = $2")
            .bind(customer_id)
            .bind(site_id)
    )
}

/// A contract of `customer_id` for `site_id` in `status`, running from today for 30 days, with
/// a number unique in the database (`T-<year>-<seq>`).
pub async fn contract(
    store: &Store,
    customer_id: Uuid,
    site_id: Option<Uuid>,
    status: &str,
) -> Result<TestContract, DomainError> {
    let id = clock::new_id();
    let now = clock::now();
    let today = now.date_naive();
    let year = today.year();
    let mut tx = store.begin().await?;
    let seq: i64 = on_tx!(&mut tx, |c| sqlx::query_scalar(
        "SELECT COUNT(*) + 1 FROM contracts WHERE series = 'T'"
    )
    .fetch_one(&mut *c)
    .await)?;
    let number = format!("T-{year}-{seq:04}");
    on_tx!(
        &mut tx,
        execute(
            sqlx::query(
                "INSERT INTO contracts (id, number, series, year, seq, customer_id, site_id, \
                 status, starts_on, ends_on, currency, billing_cycle, created_at, updated_at) \
                 VALUES ($1, $2, 'T', $3, $4, $5, $6, $7, $8, $9, 'EUR', 'monthly', $10, $10)"
            )
            .bind(id)
            .bind(&number)
            .bind(year)
            .bind(i32::try_from(seq).unwrap_or(i32::MAX))
            .bind(customer_id)
            .bind(site_id)
            .bind(status)
            .bind(today)
            .bind(today + chrono::Duration::days(30))
            .bind(now)
        )
    )?;
    tx.commit().await?;
    Ok(TestContract { id, number })
}

/// Sets the contract's status, past every rule.
pub async fn set_status(store: &Store, contract_id: Uuid, status: &str) -> Result<(), DomainError> {
    commit!(
        store,
        sqlx::query("UPDATE contracts SET status = $1 WHERE id = $2")
            .bind(status)
            .bind(contract_id)
    )
}

/// Adds a line renting `rents` at 10.00 a day to the contract; returns its id.
pub async fn line(store: &Store, contract_id: Uuid, rents: Rents) -> Result<Uuid, DomainError> {
    let id = clock::new_id();
    let (asset_id, category_id, quantity) = match rents {
        Rents::Asset(a) => (Some(a), None, 1),
        Rents::Category(c, q) => (None, Some(c), q),
    };
    commit!(
        store,
        sqlx::query(
            "INSERT INTO contract_lines (id, contract_id, line_no, asset_id, category_id, \
             quantity, rate_cents, rate_period, created_at) \
             VALUES ($1, $2, (SELECT COUNT(*) + 1 FROM contract_lines WHERE contract_id = $2), \
             $3, $4, $5, 1000, 'day', $6)"
        )
        .bind(id)
        .bind(contract_id)
        .bind(asset_id)
        .bind(category_id)
        .bind(quantity)
        .bind(clock::now())
    )?;
    Ok(id)
}

/// The line's on-hire summary as stored: `(on_hire_at, off_hire_at)`.
pub async fn line_hire_times(
    store: &Store,
    line_id: Uuid,
) -> Result<(Option<DateTime<Utc>>, Option<DateTime<Utc>>), DomainError> {
    Ok(on_read!(store, |p| sqlx::query_as(
        "SELECT on_hire_at, off_hire_at FROM contract_lines WHERE id = $1"
    )
    .bind(line_id)
    .fetch_one(p)
    .await)?)
}
