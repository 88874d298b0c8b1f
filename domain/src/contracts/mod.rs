//! Contracts: reads and the list (the renewal pipeline filters by status and end date), and the
//! loaders every change goes through. `drafts` creates and changes drafts and their lines
//! (re-exported here: [`create`], [`update`], [`add_line`]); [`lifecycle`] signs, ends and
//! terminates a contract and runs the clock rule of its statuses, [`renewals`] renews it (approvals,
//! reminders), [`availability`] keeps an asset off two overlapping bookings, [`numbering`]
//! gives the gapless number.
//!
//! A sales user sees and touches only the contracts of the customers they manage
//! ([`Scope`]): outside the scope a contract is "not found".

pub mod availability;
mod drafts;
pub mod lifecycle;
pub mod numbering;
pub mod renewals;

use chrono::{DateTime, NaiveDate, Utc};
use mobile_shared::contracts::{
    BillingCycle, Contract, ContractFilter, ContractLine, ContractStatus, RatePeriod,
};
use mobile_shared::wire::Page;
use mobile_shared::ErrorCode;
use serde_json::json;
use uuid::Uuid;

pub(crate) use drafts::create_in;
pub use drafts::{add_line, create, update};

use crate::clock;
use crate::customers::Scope;
use crate::entity::Entity;
use crate::error::DomainError;
use crate::pagination::PageRequest;
use crate::store::{on_read, on_tx, RowLock, Store, Tx};

const COLUMNS: &str = "id, number, customer_id, site_id, status, starts_on, ends_on, currency, \
     deposit_cents, billing_cycle, auto_renew, predecessor_id, notes, signed_at, signed_by, \
     ended_at, terminated_at, termination_reason, version, created_at, updated_at";

const LINE_COLUMNS: &str = "id, contract_id, line_no, asset_id, category_id, quantity, \
     rate_cents, rate_period, on_hire_at, off_hire_at";

/// The scope condition on a contract row, `$n` binding [`Scope::manager`].
fn in_scope(n: usize) -> String {
    format!(
        "(${n} IS NULL OR customer_id IN \
         (SELECT id FROM customers WHERE account_manager_id = ${n}))"
    )
}

#[derive(sqlx::FromRow)]
struct ContractRow {
    id: Uuid,
    number: String,
    customer_id: Uuid,
    site_id: Option<Uuid>,
    status: String,
    starts_on: NaiveDate,
    ends_on: NaiveDate,
    currency: String,
    deposit_cents: i64,
    billing_cycle: String,
    auto_renew: bool,
    predecessor_id: Option<Uuid>,
    notes: Option<String>,
    signed_at: Option<DateTime<Utc>>,
    signed_by: Option<Uuid>,
    ended_at: Option<DateTime<Utc>>,
    terminated_at: Option<DateTime<Utc>>,
    termination_reason: Option<String>,
    version: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct LineRow {
    id: Uuid,
    contract_id: Uuid,
    line_no: i32,
    asset_id: Option<Uuid>,
    category_id: Option<Uuid>,
    quantity: i32,
    rate_cents: i64,
    rate_period: String,
    on_hire_at: Option<DateTime<Utc>>,
    off_hire_at: Option<DateTime<Utc>>,
}

fn unreadable(id: Uuid, what: &str, v: &str) -> DomainError {
    DomainError::Internal(format!("contract {id}: unreadable {what} `{v}`"))
}

impl LineRow {
    fn into_line(self) -> Result<ContractLine, DomainError> {
        Ok(ContractLine {
            rate_period: RatePeriod::parse(&self.rate_period)
                .ok_or_else(|| unreadable(self.contract_id, "rate period", &self.rate_period))?,
            id: self.id,
            line_no: self.line_no,
            asset_id: self.asset_id,
            category_id: self.category_id,
            quantity: self.quantity,
            rate_cents: self.rate_cents,
            on_hire_at: self.on_hire_at,
            off_hire_at: self.off_hire_at,
        })
    }
}

impl ContractRow {
    fn into_contract(self, lines: Vec<ContractLine>) -> Result<Contract, DomainError> {
        Ok(Contract {
            status: ContractStatus::parse(&self.status)
                .ok_or_else(|| unreadable(self.id, "status", &self.status))?,
            billing_cycle: BillingCycle::parse(&self.billing_cycle)
                .ok_or_else(|| unreadable(self.id, "billing cycle", &self.billing_cycle))?,
            id: self.id,
            number: self.number,
            customer_id: self.customer_id,
            site_id: self.site_id,
            starts_on: self.starts_on,
            ends_on: self.ends_on,
            currency: self.currency,
            deposit_cents: self.deposit_cents,
            auto_renew: self.auto_renew,
            predecessor_id: self.predecessor_id,
            notes: self.notes,
            signed_at: self.signed_at,
            signed_by: self.signed_by,
            ended_at: self.ended_at,
            terminated_at: self.terminated_at,
            termination_reason: self.termination_reason,
            version: self.version,
            created_at: self.created_at,
            updated_at: self.updated_at,
            lines,
        })
    }
}

/// Today, in UTC: the day the lifecycle compares contract days with.
pub(crate) fn today() -> NaiveDate {
    clock::now().date_naive()
}

/// Loads a contract in `scope` inside the caller's transaction; `lock` holds it until the
/// transaction ends (every change to a contract locks it first).
pub(crate) async fn load_in(
    tx: &mut Tx,
    scope: Scope,
    id: Uuid,
    lock: bool,
) -> Result<Contract, DomainError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM contracts WHERE id = $1 AND {}{}",
        in_scope(2),
        if lock {
            tx.row_lock(RowLock::Update)
        } else {
            ""
        }
    );
    let row: Option<ContractRow> = on_tx!(tx, |c| sqlx::query_as(&sql)
        .bind(id)
        .bind(scope.manager())
        .fetch_optional(c)
        .await)?;
    let row = row.ok_or(DomainError::not_found(Entity::Contract))?;
    let sql = format!(
        "SELECT {LINE_COLUMNS} FROM contract_lines WHERE contract_id = $1 ORDER BY line_no"
    );
    let lines: Vec<LineRow> = on_tx!(tx, |c| sqlx::query_as(&sql).bind(id).fetch_all(c).await)?;
    let lines = lines
        .into_iter()
        .map(LineRow::into_line)
        .collect::<Result<_, _>>()?;
    row.into_contract(lines)
}

/// One contract with its lines, if `scope` covers it.
pub async fn get(store: &Store, scope: Scope, id: Uuid) -> Result<Contract, DomainError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM contracts WHERE id = $1 AND {}",
        in_scope(2)
    );
    let row: Option<ContractRow> = on_read!(store, |p| sqlx::query_as(&sql)
        .bind(id)
        .bind(scope.manager())
        .fetch_optional(p)
        .await)?;
    let row = row.ok_or(DomainError::not_found(Entity::Contract))?;
    let mut lines = lines_of(store, &[id]).await?;
    row.into_contract(lines.remove(&id).unwrap_or_default())
}

/// The lines of `ids`, by contract, in line order (one statement).
async fn lines_of(
    store: &Store,
    ids: &[Uuid],
) -> Result<std::collections::HashMap<Uuid, Vec<ContractLine>>, DomainError> {
    let mut out: std::collections::HashMap<Uuid, Vec<ContractLine>> = Default::default();
    if ids.is_empty() {
        return Ok(out);
    }
    let head = format!("SELECT {LINE_COLUMNS} FROM contract_lines WHERE contract_id IN (");
    let rows: Vec<LineRow> = on_read!(store, |p| {
        let mut qb = sqlx::QueryBuilder::new(head.as_str());
        let mut list = qb.separated(", ");
        for id in ids {
            list.push_bind(*id);
        }
        qb.push(") ORDER BY contract_id, line_no");
        qb.build_query_as().fetch_all(p).await
    })?;
    for row in rows {
        out.entry(row.contract_id)
            .or_default()
            .push(row.into_line()?);
    }
    Ok(out)
}

/// Contracts in creation order, filtered (status, customer, end date window) within `scope`.
pub async fn list(
    store: &Store,
    scope: Scope,
    filter: &ContractFilter,
    page: PageRequest,
) -> Result<Page<Contract>, DomainError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM contracts WHERE {} AND ($2 IS NULL OR status = $2) \
         AND ($3 IS NULL OR customer_id = $3) AND ($4 IS NULL OR ends_on <= $4) \
         AND ($5 IS NULL OR ends_on >= $5) AND ($6 IS NULL OR id > $6) ORDER BY id LIMIT $7",
        in_scope(1)
    );
    let rows: Vec<ContractRow> = on_read!(store, |p| sqlx::query_as(&sql)
        .bind(scope.manager())
        .bind(filter.status.map(ContractStatus::as_str))
        .bind(filter.customer_id)
        .bind(filter.ends_before)
        .bind(filter.ends_after)
        .bind(page.after)
        .bind(page.fetch())
        .fetch_all(p)
        .await)?;
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let mut lines = lines_of(store, &ids).await?;
    page.try_page(
        rows,
        |r| r.id,
        |r| {
            let l = lines.remove(&r.id).unwrap_or_default();
            r.into_contract(l)
        },
    )
}

/// The 409 for a change only a draft allows.
pub(crate) fn not_in(contract: &Contract, what: &str) -> DomainError {
    DomainError::conflict_with(
        ErrorCode::IllegalTransition,
        format!("a {} contract cannot be {what}", contract.status.as_str()),
        json!({ "status": contract.status, "contract": contract }),
    )
}

/// Bumps the version after a change of the contract or its lines.
pub(crate) async fn touch(tx: &mut Tx, id: Uuid) -> Result<(), DomainError> {
    let sql = "UPDATE contracts SET version = version + 1, updated_at = $1 WHERE id = $2";
    on_tx!(tx, execute(sqlx::query(sql).bind(clock::now()).bind(id)))?;
    Ok(())
}
