//! The scan side of on-hire periods, run inside a field command's transaction (after `scans`
//! checked the asset's status and device time, with the asset's row locked):
//!
//! - A delivery goes out under the line it names (`contract_line_id`), or else under the
//!   customer's open line for the asset: a line of a signed, active or expiring contract of the
//!   customer the delivery site belongs to (or, for a site of no customer, a contract for that
//!   site), for this very asset, or for its category with quantity left. Asset lines come before
//!   category lines, contracts for this site before the customer's others, then the earliest
//!   contract start, number and line. No such line: the delivery applies as before, linked to
//!   nothing (its free-text `contract_ref` is stored as sent).
//! - A named line is refused (the command's stored result carries the code): a contract not
//!   open (`contract_not_open`), another customer than the site's (`contract_customer_mismatch`),
//!   a category line already all on hire (`contract_line_full`), a line for another asset or
//!   category (422 on `contract_line_id`), a category line whose unit is booked by someone else
//!   on the days it would go out (`booking_conflict`, naming the booking).
//! - A unit allocated to a category line at delivery is booked for the line from the delivery
//!   day to the contract's end, so no other contract takes it meanwhile (asset lines were booked
//!   at signing); its return ends that booking on the day before the return, so a machine
//!   returned in the morning can go out again the same day.
//! - The delivery opens a period at its device time; the return closes the asset's open period
//!   at its device time. A late command never reaches here: `scans` supersedes it first, so a
//!   stale return cannot close a newer delivery's period.
//! - A failed return inspection (or a failed inspection scan within
//!   [`RETURN_INSPECTION_WINDOW_HOURS`] of the return) records the damage against the contract.
//!
//! Each period or damage written has its audit entry (`contract.on_hire`, `contract.off_hire`,
//! `contract.damage`) in the same transaction.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use mobile_shared::contracts::BookingKind;
use mobile_shared::on_hire::{ContractDamage, OnHirePeriod};
use mobile_shared::scan::{Condition, FieldAction, FieldCommand};
use mobile_shared::wire::Asset;
use mobile_shared::ErrorCode;
use serde_json::json;
use sqlx::types::Json;
use uuid::Uuid;

use super::{PeriodRow, OPEN_STATUSES, OPEN_STATUSES_SQL, PERIOD_SELECT};
use crate::actor::Actor;
use crate::audit::{self, Change};
use crate::clock;
use crate::contracts::availability::{self, Held, NewBooking};
use crate::entity::Entity;
use crate::error::DomainError;
use crate::store::{on_tx, RowLock, Tx};

/// How long after a return a failed inspection scan still counts as its return inspection (the
/// machine checked in the yard the next day).
pub const RETURN_INSPECTION_WINDOW_HOURS: i64 = 48;

/// Candidate lines looked at when the delivery names none; more than one only matters when
/// concurrent deliveries fill a category line between the pick and its lock.
const MAX_CANDIDATES: i64 = 10;

/// Whether an inspect or return command reports damage: a failed inspection or the `damaged`
/// grade (the same rule sends a returned machine to maintenance).
pub(crate) fn inspection_failed(cmd: &FieldCommand) -> bool {
    cmd.inspection_passed == Some(false) || cmd.condition == Some(Condition::Damaged)
}

#[derive(sqlx::FromRow)]
struct LineRow {
    id: Uuid,
    contract_id: Uuid,
    asset_id: Option<Uuid>,
    category_id: Option<Uuid>,
    quantity: i32,
    status: String,
    customer_id: Uuid,
    starts_on: NaiveDate,
    ends_on: NaiveDate,
}

impl LineRow {
    /// The days a unit delivered on `day` under this category line holds: from the delivery
    /// (or the contract's start, if delivered early) to the contract's end. `None` for an asset
    /// line (booked at signing) or a delivery after the end.
    fn allocation_days(&self, day: NaiveDate) -> Option<(NaiveDate, NaiveDate)> {
        let from = day.max(self.starts_on);
        (self.asset_id.is_none() && from <= self.ends_on).then_some((from, self.ends_on))
    }
}

/// Locks the line (deliveries under one line queue here, so two cannot both take its last
/// unit) and reads it with its contract.
async fn lock_line(tx: &mut Tx, id: Uuid) -> Result<Option<LineRow>, DomainError> {
    tx.lock_row("contract_lines", id).await?;
    Ok(on_tx!(tx, |c| sqlx::query_as(
        "SELECT l.id, l.contract_id, l.asset_id, l.category_id, l.quantity, c.status, \
         c.customer_id, c.starts_on, c.ends_on FROM contract_lines l \
         JOIN contracts c ON c.id = l.contract_id WHERE l.id = $1"
    )
    .bind(id)
    .fetch_optional(&mut *c)
    .await)?)
}

async fn open_on_line(tx: &mut Tx, line_id: Uuid) -> Result<i64, DomainError> {
    Ok(on_tx!(tx, |c| sqlx::query_scalar(
        "SELECT COUNT(*) FROM contract_line_assets WHERE contract_line_id = $1 \
         AND off_hire_at IS NULL"
    )
    .bind(line_id)
    .fetch_one(&mut *c)
    .await)?)
}

async fn site_customer(tx: &mut Tx, site_id: Uuid) -> Result<Option<Uuid>, DomainError> {
    let row: Option<Option<Uuid>> = on_tx!(tx, |c| sqlx::query_scalar(
        "SELECT customer_id FROM sites WHERE id = $1"
    )
    .bind(site_id)
    .fetch_optional(&mut *c)
    .await)?;
    Ok(row.flatten())
}

/// Why the named line cannot take this delivery, if it cannot; `None` when it can.
async fn refusal(
    tx: &mut Tx,
    line: &LineRow,
    asset: &Asset,
    site_customer: Option<Uuid>,
    day: NaiveDate,
) -> Result<Option<DomainError>, DomainError> {
    if !OPEN_STATUSES.contains(&line.status.as_str()) {
        return Ok(Some(DomainError::conflict_with(
            ErrorCode::ContractNotOpen,
            format!(
                "the contract is {}: only a signed or active contract's lines go out",
                line.status
            ),
            json!({ "contract_id": line.contract_id, "status": line.status }),
        )));
    }
    if site_customer.is_some_and(|c| c != line.customer_id) {
        return Ok(Some(DomainError::conflict_with(
            ErrorCode::ContractCustomerMismatch,
            "the contract line belongs to another customer than the delivery site",
            json!({
                "contract_id": line.contract_id,
                "contract_customer_id": line.customer_id,
                "site_customer_id": site_customer,
            }),
        )));
    }
    match line.asset_id {
        Some(a) if a != asset.id => {
            return Ok(Some(DomainError::field(
                "contract_line_id",
                "this contract line rents another asset",
            )))
        }
        None if line.category_id != asset.category_id => {
            return Ok(Some(DomainError::field(
                "contract_line_id",
                "this contract line rents another category than the asset's",
            )))
        }
        _ => {}
    }
    let on_hire = open_on_line(tx, line.id).await?;
    if line.asset_id.is_none() && on_hire >= i64::from(line.quantity) {
        return Ok(Some(DomainError::conflict_with(
            ErrorCode::ContractLineFull,
            format!(
                "all {} of this contract line are on hire already",
                line.quantity
            ),
            json!({ "contract_line_id": line.id, "quantity": line.quantity, "on_hire": on_hire }),
        )));
    }
    if let Some((from, to)) = line.allocation_days(day) {
        if let Some(b) = availability::overlapping(tx, asset.id, from, to).await? {
            return Ok(Some(availability::conflict(asset.id, Some(&b))));
        }
    }
    Ok(None)
}

/// The customer's open line for the asset (module doc: which one), locked; `None` when there
/// is none.
async fn pick(
    tx: &mut Tx,
    asset: &Asset,
    site_id: Uuid,
    site_customer: Option<Uuid>,
    day: NaiveDate,
) -> Result<Option<LineRow>, DomainError> {
    let sql = format!(
        "SELECT l.id FROM contract_lines l JOIN contracts c ON c.id = l.contract_id \
         WHERE c.status IN {OPEN_STATUSES_SQL} \
         AND (c.customer_id = $1 OR ($1 IS NULL AND c.site_id = $2)) \
         AND (l.asset_id = $3 OR (l.asset_id IS NULL AND l.category_id = $4 \
              AND (SELECT COUNT(*) FROM contract_line_assets p WHERE p.contract_line_id = l.id \
                   AND p.off_hire_at IS NULL) < l.quantity)) \
         ORDER BY CASE WHEN l.asset_id IS NULL THEN 1 ELSE 0 END, \
                  CASE WHEN c.site_id = $2 THEN 0 ELSE 1 END, \
                  c.starts_on, c.number, l.line_no \
         LIMIT $5"
    );
    let candidates: Vec<Uuid> = on_tx!(tx, |c| sqlx::query_scalar(&sql)
        .bind(site_customer)
        .bind(site_id)
        .bind(asset.id)
        .bind(asset.category_id)
        .bind(MAX_CANDIDATES)
        .fetch_all(&mut *c)
        .await)?;
    for id in candidates {
        // Re-checked under the line's lock: on PostgreSQL another delivery may have taken the
        // last unit, or the contract may have ended, since the candidates were read.
        if let Some(line) = lock_line(tx, id).await? {
            if refusal(tx, &line, asset, site_customer, day)
                .await?
                .is_none()
            {
                return Ok(Some(line));
            }
        }
    }
    Ok(None)
}

async fn load_period(tx: &mut Tx, id: Uuid) -> Result<OnHirePeriod, DomainError> {
    let sql = format!("{PERIOD_SELECT} WHERE p.id = $1");
    let row: PeriodRow = on_tx!(tx, |c| sqlx::query_as(&sql)
        .bind(id)
        .fetch_one(&mut *c)
        .await)?;
    Ok(row.into())
}

/// The line's on-hire summary from its periods: on hire since the first went out; off hire
/// when the last came back, and only once none is out.
pub(crate) fn line_summary(
    periods: &[(DateTime<Utc>, Option<DateTime<Utc>>)],
) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
    let on = periods.iter().map(|(on, _)| *on).min();
    let off = if periods.iter().any(|(_, off)| off.is_none()) {
        None
    } else {
        periods.iter().filter_map(|(_, off)| *off).max()
    };
    (on, off)
}

/// Rewrites `contract_lines.on_hire_at` / `off_hire_at` from the line's periods.
async fn refresh_line(tx: &mut Tx, line_id: Uuid) -> Result<(), DomainError> {
    let periods: Vec<(DateTime<Utc>, Option<DateTime<Utc>>)> = on_tx!(tx, |c| sqlx::query_as(
        "SELECT on_hire_at, off_hire_at FROM contract_line_assets WHERE contract_line_id = $1"
    )
    .bind(line_id)
    .fetch_all(&mut *c)
    .await)?;
    let (on, off) = line_summary(&periods);
    on_tx!(
        tx,
        execute(
            sqlx::query(
                "UPDATE contract_lines SET on_hire_at = $1, off_hire_at = $2 WHERE id = $3"
            )
            .bind(on)
            .bind(off)
            .bind(line_id)
        )
    )?;
    Ok(())
}

/// Closes the asset's open period at `at` by the scan `scan_id`, if it has one.
async fn close_open_period(
    tx: &mut Tx,
    actor: &Actor,
    asset_id: Uuid,
    at: DateTime<Utc>,
    scan_id: Uuid,
) -> Result<Option<OnHirePeriod>, DomainError> {
    let sql = format!(
        "SELECT id FROM contract_line_assets WHERE asset_id = $1 AND off_hire_at IS NULL{}",
        tx.row_lock(RowLock::Update)
    );
    let open: Option<Uuid> = on_tx!(tx, |c| sqlx::query_scalar(&sql)
        .bind(asset_id)
        .fetch_optional(&mut *c)
        .await)?;
    let Some(id) = open else {
        return Ok(None);
    };
    let before = load_period(tx, id).await?;
    on_tx!(
        tx,
        execute(
            sqlx::query(
                "UPDATE contract_line_assets SET off_hire_at = $1, return_scan_id = $2 \
                 WHERE id = $3"
            )
            .bind(at)
            .bind(scan_id)
            .bind(id)
        )
    )?;
    refresh_line(tx, before.contract_line_id).await?;
    // A category line's unit is free again from the return day (asset lines stay booked to the
    // contract's end: ending the contract releases them).
    let held = Held::LineAsset {
        line: before.contract_line_id,
        asset: asset_id,
    };
    availability::release_from(tx, held, at.date_naive()).await?;
    let after = load_period(tx, id).await?;
    let change = Change::action("contract.off_hire", Entity::Contract, after.contract_id)
        .before(&before)
        .after(&after);
    audit::record(tx, actor, change).await?;
    Ok(Some(after))
}

/// A delivery of `asset` to `site_id`: opens its on-hire period under the named or picked
/// contract line. `None` when no line applies (the delivery is linked to no contract).
pub(crate) async fn start_on_delivery(
    tx: &mut Tx,
    actor: &Actor,
    cmd: &FieldCommand,
    asset: &Asset,
    site_id: Uuid,
) -> Result<Option<OnHirePeriod>, DomainError> {
    let site_customer = site_customer(tx, site_id).await?;
    let day = cmd.device_time.date_naive();
    let line = match cmd.contract_line_id {
        Some(id) => {
            let line = lock_line(tx, id)
                .await?
                .ok_or_else(|| DomainError::field("contract_line_id", "no such contract line"))?;
            if let Some(refused) = refusal(tx, &line, asset, site_customer, day).await? {
                return Err(refused);
            }
            line
        }
        None => match pick(tx, asset, site_id, site_customer, day).await? {
            Some(line) => line,
            None => return Ok(None),
        },
    };
    // The asset is available, so a period still open is one whose return was never scanned
    // (its status was set by hand): it ended no later than this delivery.
    close_open_period(tx, actor, asset.id, cmd.device_time, cmd.id).await?;
    let id = clock::new_id();
    on_tx!(
        tx,
        execute(
            sqlx::query(
                "INSERT INTO contract_line_assets (id, contract_id, contract_line_id, asset_id, \
                 on_hire_at, delivery_scan_id, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)"
            )
            .bind(id)
            .bind(line.contract_id)
            .bind(line.id)
            .bind(asset.id)
            .bind(cmd.device_time)
            .bind(cmd.id)
            .bind(clock::now())
        )
    )?;
    refresh_line(tx, line.id).await?;
    if let Some((starts_on, ends_on)) = line.allocation_days(day) {
        let new = NewBooking {
            asset_id: asset.id,
            kind: BookingKind::Contract,
            contract_line_id: Some(line.id),
            work_order_id: None,
            starts_on,
            ends_on,
            reason: None,
        };
        availability::book_in(tx, actor, new).await?;
    }
    let period = load_period(tx, id).await?;
    let change =
        Change::action("contract.on_hire", Entity::Contract, line.contract_id).after(&period);
    audit::record(tx, actor, change).await?;
    Ok(Some(period))
}

/// A return of the asset: closes its open period at the command's device time and, when the
/// return inspection failed, records the damage against the contract.
pub(crate) async fn end_on_return(
    tx: &mut Tx,
    actor: &Actor,
    cmd: &FieldCommand,
    asset_id: Uuid,
    photos: &[String],
) -> Result<Option<OnHirePeriod>, DomainError> {
    let closed = close_open_period(tx, actor, asset_id, cmd.device_time, cmd.id).await?;
    if let Some(period) = &closed {
        if inspection_failed(cmd) {
            record_damage(tx, actor, cmd, period, photos).await?;
        }
    }
    Ok(closed)
}

/// A failed inspection scan: the damage goes against the contract the asset last came back
/// from, when the inspection is its return inspection (within the window after the return, and
/// nothing went out since).
pub(crate) async fn inspection_damage(
    tx: &mut Tx,
    actor: &Actor,
    cmd: &FieldCommand,
    asset_id: Uuid,
    photos: &[String],
) -> Result<Option<ContractDamage>, DomainError> {
    if cmd.action != FieldAction::Inspect || !inspection_failed(cmd) {
        return Ok(None);
    }
    // Periods of one asset are applied in device-time order (`scans` supersedes older state
    // changes), so the newest id is the latest period.
    let sql = format!("{PERIOD_SELECT} WHERE p.asset_id = $1 ORDER BY p.id DESC LIMIT 1");
    let latest: Option<PeriodRow> = on_tx!(tx, |c| sqlx::query_as(&sql)
        .bind(asset_id)
        .fetch_optional(&mut *c)
        .await)?;
    let Some(period) = latest.map(OnHirePeriod::from) else {
        return Ok(None);
    };
    let window = Duration::hours(RETURN_INSPECTION_WINDOW_HOURS);
    match period.off_hire_at {
        Some(off) if cmd.device_time >= off && cmd.device_time - off <= window => {
            Ok(Some(record_damage(tx, actor, cmd, &period, photos).await?))
        }
        _ => Ok(None),
    }
}

async fn record_damage(
    tx: &mut Tx,
    actor: &Actor,
    cmd: &FieldCommand,
    period: &OnHirePeriod,
    photos: &[String],
) -> Result<ContractDamage, DomainError> {
    let description = match cmd.notes.as_deref().map(str::trim) {
        Some(notes) if !notes.is_empty() => notes.to_owned(),
        _ => match cmd.condition {
            Some(grade) => format!("return inspection: condition {}", grade.as_str()),
            None => "return inspection failed".to_owned(),
        },
    };
    let damage = ContractDamage {
        id: clock::new_id(),
        contract_id: period.contract_id,
        contract_line_id: period.contract_line_id,
        asset_id: period.asset_id,
        asset_code: period.asset_code.clone(),
        scan_event_id: cmd.id,
        description,
        photos: photos.to_vec(),
        recorded_at: cmd.device_time,
        estimated_cost: None,
    };
    on_tx!(
        tx,
        execute(
            sqlx::query(
                "INSERT INTO contract_damages (id, contract_id, contract_line_id, asset_id, \
                 scan_event_id, description, photos, recorded_at, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
            )
            .bind(damage.id)
            .bind(damage.contract_id)
            .bind(damage.contract_line_id)
            .bind(damage.asset_id)
            .bind(damage.scan_event_id)
            .bind(&damage.description)
            .bind(Json(&damage.photos))
            .bind(damage.recorded_at)
            .bind(clock::now())
        )
    )?;
    let change =
        Change::action("contract.damage", Entity::Contract, damage.contract_id).after(&damage);
    audit::record(tx, actor, change).await?;
    Ok(damage)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(minute: u32) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(&format!("2026-12-01T08:{minute:02}:00Z"))
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn a_line_is_off_hire_only_once_nothing_is_out() {
        assert_eq!(line_summary(&[]), (None, None));
        assert_eq!(line_summary(&[(at(5), None)]), (Some(at(5)), None));
        // Two out, one back: still on hire, since the first went out.
        assert_eq!(
            line_summary(&[(at(5), Some(at(30))), (at(3), None)]),
            (Some(at(3)), None)
        );
        // All back: off hire when the last came back.
        assert_eq!(
            line_summary(&[(at(5), Some(at(30))), (at(3), Some(at(20)))]),
            (Some(at(3)), Some(at(30)))
        );
    }
}
