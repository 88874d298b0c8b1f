//! Work orders from the field: what the field commands `start_work`, `complete_work` and a
//! `return` whose inspection failed do to work orders. Called by [`crate::scans`] inside the
//! command's transaction, after it locked the asset row (the lock order of [`super::orders`]:
//! asset first, then the order), so the command's record, the order's change and their audit
//! entries commit together, exactly once per command id.
//!
//! The work itself is [`orders::update_in`] and [`orders::complete_in`]: a scan does what the
//! API does, not a copy of it.

use mobile_shared::maintenance::{CompleteWorkOrder, WorkOrder, WorkOrderPatch, WorkOrderState};
use mobile_shared::scan::{Condition, FieldAction, FieldCommand};
use mobile_shared::{AssetStatus, ErrorCode};
use serde_json::json;
use uuid::Uuid;

use crate::actor::Actor;
use crate::audit::{self, Change};
use crate::clock;
use crate::entity::Entity;
use crate::error::DomainError;
use crate::store::{on_tx, Tx};

use super::orders::{self, Opening};

/// The order a work-order command is about: the one it names, or the asset's single active
/// order. No active order, or several without a choice, is a 409 whose `detail.work_order_ids`
/// lists the choices (empty for none), so the phone can offer them.
async fn pick(tx: &mut Tx, cmd: &FieldCommand, asset_id: Uuid) -> Result<Uuid, DomainError> {
    if let Some(id) = cmd.work_order_id {
        let owner: Option<Uuid> = on_tx!(tx, |c| sqlx::query_scalar(
            "SELECT asset_id FROM work_orders WHERE id = $1"
        )
        .bind(id)
        .fetch_optional(c)
        .await)?;
        return match owner {
            Some(owner) if owner == asset_id => Ok(id),
            Some(_) => Err(DomainError::field(
                "work_order_id",
                "is a work order of another asset than the one scanned",
            )),
            None => Err(DomainError::field("work_order_id", "no such work order")),
        };
    }
    let active = active_orders(tx, asset_id, false).await?;
    match active.as_slice() {
        [one] => Ok(*one),
        [] => Err(DomainError::conflict_with(
            ErrorCode::NoActiveWorkOrder,
            "the asset has no active work order; open one first",
            json!({ "work_order_ids": active }),
        )),
        _ => Err(DomainError::conflict_with(
            ErrorCode::AmbiguousWorkOrder,
            format!(
                "the asset has {} active work orders; send the one meant as work_order_id",
                active.len()
            ),
            json!({ "work_order_ids": active }),
        )),
    }
}

/// The asset's active orders, oldest first; only those without a plan when `unplanned_only`.
async fn active_orders(
    tx: &mut Tx,
    asset_id: Uuid,
    unplanned_only: bool,
) -> Result<Vec<Uuid>, DomainError> {
    let sql = "SELECT id FROM work_orders WHERE asset_id = $1 \
               AND state IN ('open', 'scheduled', 'in_progress') \
               AND ($2 = FALSE OR plan_id IS NULL) ORDER BY id";
    Ok(on_tx!(tx, |c| sqlx::query_scalar(sql)
        .bind(asset_id)
        .bind(unplanned_only)
        .fetch_all(c)
        .await)?)
}

/// `start_work` / `complete_work` on the scanned asset, whose row the caller has locked.
/// `photos` are the command's (checked to exist by the caller); they go on the order. Returns
/// the order after.
pub(crate) async fn work_in(
    tx: &mut Tx,
    actor: &Actor,
    cmd: &FieldCommand,
    asset_id: Uuid,
    photos: &[String],
) -> Result<WorkOrder, DomainError> {
    let id = pick(tx, cmd, asset_id).await?;
    let (before, after, action) = match cmd.action {
        FieldAction::StartWork => {
            let (current, _) = orders::lock_order(tx, id).await?;
            // Already in progress (a second technician, or a start sent twice under two ids):
            // nothing to move, and the photos still join the order.
            let patch = WorkOrderPatch {
                version: current.version,
                state: Some(WorkOrderState::InProgress),
                photos: (!photos.is_empty()).then(|| orders::with_photos(&current.photos, photos)),
                ..WorkOrderPatch::default()
            };
            let (before, after) = orders::update_in(tx, actor, id, patch).await?;
            (before, after, "work_order.start")
        }
        FieldAction::CompleteWork => {
            let done = CompleteWorkOrder {
                engine_hours: cmd.engine_hours,
                odometer_km: None,
                notes: cmd.notes.clone(),
                parts: None,
                photos: photos.to_vec(),
            };
            let (before, after) = orders::complete_in(tx, actor, id, done).await?;
            (before, after, "work_order.complete")
        }
        other => {
            return Err(DomainError::Internal(format!(
                "{} is not a work-order action",
                other.as_str()
            )))
        }
    };
    audit::record(
        tx,
        actor,
        Change::action(action, Entity::WorkOrder, id)
            .before(&before)
            .after(&after),
    )
    .await?;
    Ok(after)
}

/// A return whose inspection failed has just sent the asset (row locked by the caller) from
/// on rent into maintenance: the same transaction gives it a work order, linked to the scan
/// event `cmd.id`, with the scan's notes and photos. The order records that the asset was
/// available before, so completing (or cancelling) it puts the asset back to available, and its
/// downtime starts now, when the asset went into maintenance.
///
/// If the asset already has an active order without a plan (a breakdown reported earlier, a
/// previous failed inspection), the return joins it instead: one unplanned repair per machine
/// is what the workshop works from, and a second order for the same damage would count twice
/// in the failures behind MTBF. A planned service order is different work and does not absorb it.
pub(crate) async fn failed_return_in(
    tx: &mut Tx,
    actor: &Actor,
    cmd: &FieldCommand,
    asset_id: Uuid,
    photos: &[String],
) -> Result<WorkOrder, DomainError> {
    let now = clock::now();
    let joined = active_orders(tx, asset_id, true).await?.first().copied();
    let (id, created) = match joined {
        Some(id) => (id, false),
        None => {
            let opening = Opening {
                asset_id,
                plan_id: None,
                service: None,
                occurrence: None,
                title: failed_title(cmd.condition),
                assignee: None,
                due_on: now.date_naive(),
                checklist: Vec::new(),
                notes: None,
                automatic: false,
            };
            let order = orders::open_in(tx, actor, opening).await?.ok_or_else(|| {
                // Only plan orders have a uniqueness rule; an unplanned one always inserts.
                DomainError::Internal("an unplanned work order was not inserted".into())
            })?;
            (order.id, true)
        }
    };
    let (before, status_before) = orders::load(tx, id).await?;
    let mut next = before.clone();
    next.notes = match (before.notes.as_deref(), cmd.notes.as_deref()) {
        (Some(old), Some(new)) => Some(format!("{old}\n\n{new}")),
        (old, new) => new.or(old).map(str::to_owned),
    };
    next.photos = orders::with_photos(&before.photos, photos);
    // A joined order that is nearly full keeps its first photos; the scan event keeps all of
    // its own either way.
    next.photos
        .truncate(mobile_shared::maintenance::MAX_ORDER_PHOTOS);
    next.started_at.get_or_insert(now);
    // The scan moved the asset from on rent to in maintenance, but it goes back to the yard as
    // available once repaired, not back on rent.
    let status_before = status_before.or(Some(AssetStatus::Available));
    orders::store_order(tx, actor, &next, status_before).await?;
    // The first scan that sent the asset here is the order's origin; later ones are in the
    // asset's field history.
    let sql = "UPDATE work_orders SET scan_event_id = COALESCE(scan_event_id, $1) WHERE id = $2";
    on_tx!(tx, execute(sqlx::query(sql).bind(cmd.id).bind(id)))?;
    let (after, _) = orders::load(tx, id).await?;
    let change = if created {
        Change::created(Entity::WorkOrder, id, &after)
    } else {
        Change::updated(Entity::WorkOrder, id, &before, &after)
    };
    audit::record(tx, actor, change).await?;
    Ok(after)
}

fn failed_title(condition: Option<Condition>) -> String {
    match condition {
        Some(c) => format!("Failed return inspection: {}", c.as_str()),
        None => "Failed return inspection".to_owned(),
    }
}
