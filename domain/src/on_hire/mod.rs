//! Field scans linked to contracts (issue 14, item 7): the on-hire periods field commands
//! record against contract lines, the contract's physical state derived from them, and the
//! damage found at return inspections.
//!
//! - `contract_line_assets` (migration 0024) is the one record of on-hire periods: a delivery
//!   scan opens one (asset, line, device time), the asset's return scan closes it. Category
//!   lines allocate one row per asset that went out; asset lines use the same rows.
//!   `contract_lines.on_hire_at` / `off_hire_at` are a summary of them, rewritten in the same
//!   transaction (`field.rs`).
//! - The physical state (`not_delivered` / `out` / `partly_returned` / `all_returned`) is never
//!   stored: [`PhysicalState::derive`] over each line's quantity and open and closed periods,
//!   read by one query ([`physical_state`]).
//! - Sales users read only the contracts of customers they manage ([`Scope`]): a
//!   contract outside their scope is not found, as if it did not exist.
//!
//! The scan side (which line a delivery goes out under, the refusals, the damage) is in
//! `field.rs`, called from `scans`; the technicians' lookup of open lines in [`lookup`].

mod field;
#[cfg(feature = "testing")]
pub mod fixtures;
pub mod lookup;

pub use field::RETURN_INSPECTION_WINDOW_HOURS;
pub(crate) use field::{end_on_return, inspection_damage, inspection_failed, start_on_delivery};

use chrono::{DateTime, Utc};
use mobile_shared::on_hire::{
    ContractDamage, ContractOnHire, LineCounts, OnHirePeriod, PhysicalState,
};
use mobile_shared::wire::Page;
use mobile_shared::Money;
use sqlx::types::Json;
use tracing::Instrument;
use uuid::Uuid;

use crate::customers::Scope;
use crate::entity::Entity;
use crate::error::DomainError;
use crate::pagination::PageRequest;
use crate::store::{on_read, on_tx, Store, Tx};

/// The contract statuses under which a line may go out: signed, active, and active in its
/// warning window before the end (`expiring`). Drafts have not been agreed; renewed, ended and
/// terminated contracts are over.
pub const OPEN_STATUSES: [&str; 3] = ["signed", "active", "expiring"];

/// [`OPEN_STATUSES`] as an SQL list, for `status IN …`.
pub(crate) const OPEN_STATUSES_SQL: &str = "('signed','active','expiring')";

/// The contract's number if `scope` may see it; not found otherwise.
async fn visible(store: &Store, id: Uuid, scope: Scope) -> Result<String, DomainError> {
    let row: Option<(String, Option<Uuid>)> = on_read!(store, |p| sqlx::query_as(
        "SELECT c.number, cu.account_manager_id FROM contracts c \
         JOIN customers cu ON cu.id = c.customer_id WHERE c.id = $1"
    )
    .bind(id)
    .fetch_optional(p)
    .await)?;
    match row {
        Some((number, manager)) if scope.covers(manager) => Ok(number),
        _ => Err(DomainError::not_found(Entity::Contract)),
    }
}

/// Each line's quantity and open and closed periods; one row with no line (NULL quantity) for
/// a contract without lines, none when there is no such contract.
const LINE_COUNTS_SQL: &str = "SELECT l.quantity, \
     (SELECT COUNT(*) FROM contract_line_assets p WHERE p.contract_line_id = l.id \
      AND p.off_hire_at IS NULL), \
     (SELECT COUNT(*) FROM contract_line_assets p WHERE p.contract_line_id = l.id \
      AND p.off_hire_at IS NOT NULL) \
     FROM contracts c LEFT JOIN contract_lines l ON l.contract_id = c.id WHERE c.id = $1";

type LineCountRow = (Option<i32>, i64, i64);

fn line_counts(rows: Vec<LineCountRow>) -> Result<Vec<LineCounts>, DomainError> {
    if rows.is_empty() {
        return Err(DomainError::not_found(Entity::Contract));
    }
    Ok(rows
        .into_iter()
        .filter_map(|(quantity, open, closed)| {
            Some(LineCounts {
                quantity: u32::try_from(quantity?).unwrap_or(0),
                on_hire: u64::try_from(open).unwrap_or(0),
                returned: u64::try_from(closed).unwrap_or(0),
            })
        })
        .collect())
}

/// The contract's physical state, derived from its lines' on-hire periods (one query).
pub async fn physical_state(
    store: &Store,
    contract_id: Uuid,
) -> Result<PhysicalState, DomainError> {
    let rows: Vec<LineCountRow> = on_read!(store, |p| sqlx::query_as(LINE_COUNTS_SQL)
        .bind(contract_id)
        .fetch_all(p)
        .await)?;
    Ok(PhysicalState::derive(&line_counts(rows)?))
}

/// [`physical_state`] inside the caller's transaction (it sees the transaction's own scans).
pub async fn physical_state_in(
    tx: &mut Tx,
    contract_id: Uuid,
) -> Result<PhysicalState, DomainError> {
    let rows: Vec<LineCountRow> = on_tx!(tx, |c| sqlx::query_as(LINE_COUNTS_SQL)
        .bind(contract_id)
        .fetch_all(&mut *c)
        .await)?;
    Ok(PhysicalState::derive(&line_counts(rows)?))
}

/// An on-hire period with what its wire form names (contract number, line number, asset code).
pub(crate) const PERIOD_SELECT: &str = "SELECT p.id, p.contract_id, c.number AS contract_number, \
     p.contract_line_id, l.line_no, p.asset_id, a.code AS asset_code, p.on_hire_at, \
     p.off_hire_at, p.delivery_scan_id, p.return_scan_id \
     FROM contract_line_assets p JOIN contracts c ON c.id = p.contract_id \
     JOIN contract_lines l ON l.id = p.contract_line_id JOIN assets a ON a.id = p.asset_id";

#[derive(sqlx::FromRow)]
pub(crate) struct PeriodRow {
    id: Uuid,
    contract_id: Uuid,
    contract_number: String,
    contract_line_id: Uuid,
    line_no: i32,
    asset_id: Uuid,
    asset_code: String,
    on_hire_at: DateTime<Utc>,
    off_hire_at: Option<DateTime<Utc>>,
    delivery_scan_id: Uuid,
    return_scan_id: Option<Uuid>,
}

impl From<PeriodRow> for OnHirePeriod {
    fn from(r: PeriodRow) -> OnHirePeriod {
        OnHirePeriod {
            id: r.id,
            contract_id: r.contract_id,
            contract_number: r.contract_number,
            contract_line_id: r.contract_line_id,
            line_no: r.line_no,
            asset_id: r.asset_id,
            asset_code: r.asset_code,
            on_hire_at: r.on_hire_at,
            off_hire_at: r.off_hire_at,
            delivery_scan_id: r.delivery_scan_id,
            return_scan_id: r.return_scan_id,
        }
    }
}

/// The contract's on-hire periods (oldest first) and its physical state.
pub async fn for_contract(
    store: &Store,
    contract_id: Uuid,
    scope: Scope,
) -> Result<ContractOnHire, DomainError> {
    async {
        let number = visible(store, contract_id, scope).await?;
        let sql = format!("{PERIOD_SELECT} WHERE p.contract_id = $1 ORDER BY p.id");
        let rows: Vec<PeriodRow> = on_read!(store, |p| sqlx::query_as(&sql)
            .bind(contract_id)
            .fetch_all(p)
            .await)?;
        let mut periods: Vec<OnHirePeriod> = rows.into_iter().map(OnHirePeriod::from).collect();
        // Ids are in the order the scans were applied; device time is when each happened.
        periods.sort_by_key(|p| p.on_hire_at);
        let counts: Vec<LineCountRow> = on_read!(store, |p| sqlx::query_as(LINE_COUNTS_SQL)
            .bind(contract_id)
            .fetch_all(p)
            .await)?;
        let lines = line_counts(counts)?;
        Ok::<_, DomainError>(ContractOnHire {
            contract_id,
            contract_number: number,
            physical_state: PhysicalState::derive(&lines),
            on_hire: lines.iter().map(|l| l.on_hire).sum(),
            returned: lines.iter().map(|l| l.returned).sum(),
            periods,
        })
    }
    .instrument(tracing::debug_span!("on_hire_for_contract", %contract_id))
    .await
}

#[derive(sqlx::FromRow)]
struct DamageRow {
    id: Uuid,
    contract_id: Uuid,
    contract_line_id: Uuid,
    asset_id: Uuid,
    asset_code: String,
    scan_event_id: Uuid,
    description: String,
    photos: Json<Vec<String>>,
    recorded_at: DateTime<Utc>,
    estimated_cost_cents: Option<i64>,
    currency: Option<String>,
}

impl From<DamageRow> for ContractDamage {
    fn from(r: DamageRow) -> ContractDamage {
        let estimated_cost = match (r.estimated_cost_cents, r.currency) {
            (Some(amount_minor), Some(currency)) => Some(Money {
                amount_minor,
                currency,
            }),
            _ => None,
        };
        ContractDamage {
            id: r.id,
            contract_id: r.contract_id,
            contract_line_id: r.contract_line_id,
            asset_id: r.asset_id,
            asset_code: r.asset_code,
            scan_event_id: r.scan_event_id,
            description: r.description,
            photos: r.photos.0,
            recorded_at: r.recorded_at,
            estimated_cost,
        }
    }
}

/// Damage recorded against the contract at return inspections, in the order recorded.
pub async fn damages(
    store: &Store,
    contract_id: Uuid,
    scope: Scope,
    page: PageRequest,
) -> Result<Page<ContractDamage>, DomainError> {
    visible(store, contract_id, scope).await?;
    let rows: Vec<DamageRow> = on_read!(store, |p| sqlx::query_as(
        "SELECT d.id, d.contract_id, d.contract_line_id, d.asset_id, a.code AS asset_code, \
         d.scan_event_id, d.description, d.photos, d.recorded_at, d.estimated_cost_cents, \
         d.currency FROM contract_damages d JOIN assets a ON a.id = d.asset_id \
         WHERE d.contract_id = $1 AND ($2 IS NULL OR d.id > $2) ORDER BY d.id LIMIT $3"
    )
    .bind(contract_id)
    .bind(page.after)
    .bind(page.fetch())
    .fetch_all(p)
    .await)?;
    Ok(page.page(rows, |r| r.id, ContractDamage::from))
}
