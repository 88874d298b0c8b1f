//! Work orders: the maintenance kind of task. One opens when a planned service enters its lead
//! window: in the ingest transaction when a reading crosses the service's threshold
//! ([`super::triggers`]), or on the clock's rolling sweep over the fleet ([`OrdersRule`]: calendar
//! services, and any meter service ingest did not open); people open them by hand for breakdowns
//! and failed inspections. Each order has a task (`tasks::create_in`, kind `work_order`) that carries the
//! assignee and due time into "my tasks" and the on-time KPI, and closes with the order.
//!
//! Exactly one active order per asset and plan is the database's rule (a partial unique index),
//! and an automatic order is opened at most once per occurrence of a plan (another), so sweeps
//! racing in two processes open one order, and a cancelled automatic order is not re-opened by
//! the next sweep.
//!
//! LOCK ORDER: a transaction that locks both an asset row and a work order locks the ASSET
//! FIRST. Ingest locks its batch's asset rows and then opens orders; a transaction taking them
//! the other way round could deadlock with it on PostgreSQL. So [`update_in`] and
//! [`complete_in`] read the order's `asset_id` without a lock (it never changes), lock the
//! asset row, and only then load the order `FOR UPDATE` ([`lock_order`]); field commands lock
//! the asset before they touch its orders.

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use mobile_shared::maintenance::{
    ChecklistItem, CompleteWorkOrder, NewServiceRecord, NewWorkOrder, Plan, Urgency, WorkOrder,
    WorkOrderPart, WorkOrderPatch, WorkOrderState, MAX_ORDER_PHOTOS, MAX_PARTS, MAX_PART_QUANTITY,
};
use mobile_shared::tasks::TaskState;
use mobile_shared::wire::Page;
use mobile_shared::{AssetStatus, ErrorCode, Role};
use serde_json::json;
use sqlx::types::Json;
use uuid::Uuid;

use crate::actor::Actor;
use crate::audit::{self, Change};
use crate::contracts::availability;
use crate::entity::Entity;
use crate::error::{DomainError, Validator};
use crate::notifications::{self, NewNotification, Recipient};
use crate::pagination::PageRequest;
use crate::store::{on_read, on_tx, RowLock, Store, Tx};
use crate::tasks::{self, NewTask, Scope, WORK_ORDER_KIND};
use crate::{assets, clock, photos, refs};

use super::{due, forecast, history, plans, triggers};

/// Assets per slice of the sweep: what one clock tick evaluates.
pub const SWEEP_SLICE: usize = 2_000;
/// Longest checklist and notes.
const MAX_CHECKLIST: usize = 100;
const MAX_NOTES: usize = 10_000;

#[derive(sqlx::FromRow)]
struct OrderRow {
    id: Uuid,
    asset_id: Uuid,
    plan_id: Option<Uuid>,
    occurrence: Option<i32>,
    service: Option<String>,
    title: String,
    state: String,
    assignee_user_id: Option<Uuid>,
    due_on: Option<NaiveDate>,
    scheduled_for: Option<DateTime<Utc>>,
    checklist: Json<Vec<ChecklistItem>>,
    notes: Option<String>,
    automatic: bool,
    task_id: Option<Uuid>,
    status_before: Option<String>,
    started_at: Option<DateTime<Utc>>,
    completed_at: Option<DateTime<Utc>>,
    cancelled_at: Option<DateTime<Utc>>,
    engine_hours: Option<f64>,
    odometer_km: Option<f64>,
    version: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    parts: Json<Vec<WorkOrderPart>>,
    photos: Json<Vec<String>>,
    scan_event_id: Option<Uuid>,
}

impl OrderRow {
    fn into_order(self) -> (WorkOrder, Option<AssetStatus>) {
        let order = WorkOrder {
            id: self.id,
            asset_id: self.asset_id,
            plan_id: self.plan_id,
            service: self.service,
            occurrence: self.occurrence.and_then(|o| u32::try_from(o).ok()),
            title: self.title,
            state: WorkOrderState::parse(&self.state).unwrap_or(WorkOrderState::Open),
            assignee: self.assignee_user_id,
            due_at: self.due_on,
            scheduled_for: self.scheduled_for,
            checklist: self.checklist.0,
            notes: self.notes,
            automatic: self.automatic,
            task_id: self.task_id,
            started_at: self.started_at,
            completed_at: self.completed_at,
            cancelled_at: self.cancelled_at,
            engine_hours: self.engine_hours,
            odometer_km: self.odometer_km,
            parts: self.parts.0,
            photos: self.photos.0,
            scan_event_id: self.scan_event_id,
            version: self.version,
            created_at: self.created_at,
            updated_at: self.updated_at,
        };
        let before = self.status_before.and_then(|s| s.parse().ok());
        (order, before)
    }
}

const COLUMNS: &str = "id, asset_id, plan_id, occurrence, service, title, state, \
     assignee_user_id, due_on, scheduled_for, checklist, notes, automatic, task_id, status_before, \
     started_at, completed_at, cancelled_at, engine_hours, odometer_km, version, created_at, \
     updated_at, parts, photos, scan_event_id";

/// An order to open: by hand, by the sweep, by ingest, or by a failed return inspection.
pub(super) struct Opening {
    pub(super) asset_id: Uuid,
    pub(super) plan_id: Option<Uuid>,
    pub(super) service: Option<String>,
    pub(super) occurrence: Option<u32>,
    pub(super) title: String,
    pub(super) assignee: Option<Uuid>,
    pub(super) due_on: NaiveDate,
    pub(super) checklist: Vec<ChecklistItem>,
    pub(super) notes: Option<String>,
    pub(super) automatic: bool,
}

/// Inserts an order and its task; `None` when the database already holds the active order of
/// this asset and plan (or, automatic, this occurrence's).
pub(super) async fn open_in(
    tx: &mut Tx,
    actor: &Actor,
    o: Opening,
) -> Result<Option<WorkOrder>, DomainError> {
    let now = clock::now();
    let id = clock::new_id();
    let sql = format!(
        "INSERT INTO work_orders ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, NULL, \
         $10, $11, $12, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 1, $13, $13, '[]', '[]', \
         NULL) ON CONFLICT DO NOTHING"
    );
    let inserted = on_tx!(
        tx,
        execute(
            sqlx::query(&sql)
                .bind(id)
                .bind(o.asset_id)
                .bind(o.plan_id)
                .bind(o.occurrence.and_then(|n| i32::try_from(n).ok()))
                .bind(&o.service)
                .bind(&o.title)
                .bind(WorkOrderState::Open.as_str())
                .bind(o.assignee)
                .bind(o.due_on)
                .bind(Json(&o.checklist))
                .bind(&o.notes)
                .bind(o.automatic)
                .bind(now)
        )
    )?;
    if inserted == 0 {
        return Ok(None);
    }
    let (task, _) = tasks::create_in(
        tx,
        actor,
        NewTask {
            kind: WORK_ORDER_KIND.into(),
            title: o.title.clone(),
            subject: Some((Entity::WorkOrder.as_str().into(), id)),
            assignee_user_id: o.assignee,
            // Nobody named: any technician may take it.
            assignee_role: o.assignee.is_none().then_some(Role::Technician),
            due_at: o.due_on.and_time(NaiveTime::MIN).and_utc(),
            dedupe_key: Some(format!("work_order:{id}")),
            source: if o.automatic {
                "maintenance_orders".into()
            } else {
                tasks::MANUAL.into()
            },
        },
    )
    .await?;
    on_tx!(
        tx,
        execute(
            sqlx::query("UPDATE work_orders SET task_id = $1 WHERE id = $2")
                .bind(task.id)
                .bind(id)
        )
    )?;
    // The maintenance team is told, in the order's transaction (the outbox rule): inbox, e-mail
    // and `work_order.opened` webhooks.
    notifications::enqueue(
        tx,
        NewNotification {
            kind: "work_order.opened".into(),
            title: format!("Work order: {}", o.title),
            body: format!(
                "Due {}. Open it in fieldops to schedule the work.",
                o.due_on
            ),
            data: json!({
                "work_order_id": id, "asset_id": o.asset_id, "plan_id": o.plan_id,
                "service": o.service, "due_at": o.due_on, "automatic": o.automatic,
            }),
            subject: Some((Entity::WorkOrder, id)),
            recipients: vec![match o.assignee {
                Some(user) => Recipient::User(user),
                None => Recipient::Role(Role::Technician),
            }],
        },
    )
    .await?;
    Ok(Some(load(tx, id).await?.0))
}

/// Opens an automatic order (the sweep's, or ingest's when a reading crosses a threshold) and
/// audits it; `false` when the database already holds it.
pub(super) async fn open_automatic_in(
    tx: &mut Tx,
    actor: &Actor,
    opening: Opening,
) -> Result<bool, DomainError> {
    let Some(order) = open_in(tx, actor, opening).await? else {
        return Ok(false);
    };
    audit::record(
        tx,
        actor,
        Change::created(Entity::WorkOrder, order.id, &order),
    )
    .await?;
    Ok(true)
}

/// Loads an order `FOR UPDATE`. Lock its asset first ([`lock_order`]) when the transaction will
/// touch the asset too.
pub(super) async fn load(
    tx: &mut Tx,
    id: Uuid,
) -> Result<(WorkOrder, Option<AssetStatus>), DomainError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM work_orders WHERE id = $1{}",
        tx.row_lock(RowLock::Update)
    );
    let row: Option<OrderRow> = on_tx!(tx, |c| sqlx::query_as(&sql)
        .bind(id)
        .fetch_optional(c)
        .await)?;
    Ok(row
        .ok_or(DomainError::not_found(Entity::WorkOrder))?
        .into_order())
}

/// Locks an order's asset row, then loads the order `FOR UPDATE`: the lock order of the module
/// doc. The asset id is read without a lock; an order never changes its asset.
pub(super) async fn lock_order(
    tx: &mut Tx,
    id: Uuid,
) -> Result<(WorkOrder, Option<AssetStatus>), DomainError> {
    let asset_id: Option<Uuid> = on_tx!(tx, |c| sqlx::query_scalar(
        "SELECT asset_id FROM work_orders WHERE id = $1"
    )
    .bind(id)
    .fetch_optional(c)
    .await)?;
    let asset_id = asset_id.ok_or(DomainError::not_found(Entity::WorkOrder))?;
    tx.lock_row("assets", asset_id).await?;
    load(tx, id).await
}

/// Checks a part list: 422 naming `parts[i].<field>`. Trims the texts.
fn check_parts(v: &mut Validator, parts: &mut [WorkOrderPart]) {
    if parts.len() > MAX_PARTS {
        v.add("parts", format!("at most {MAX_PARTS} parts"));
    }
    for (i, p) in parts.iter_mut().enumerate() {
        p.description = p.description.trim().to_owned();
        if p.description.is_empty() || p.description.chars().count() > 200 {
            v.add(
                &format!("parts[{i}].description"),
                "must be 1-200 characters",
            );
        }
        p.part_no = p
            .part_no
            .take()
            .map(|n| n.trim().to_owned())
            .filter(|n| !n.is_empty());
        if p.part_no.as_ref().is_some_and(|n| n.chars().count() > 64) {
            v.add(&format!("parts[{i}].part_no"), "at most 64 characters");
        }
        if !(1..=MAX_PART_QUANTITY).contains(&p.quantity) {
            v.add(
                &format!("parts[{i}].quantity"),
                format!("must be a whole number 1-{MAX_PART_QUANTITY}"),
            );
        }
        if let Some(cost) = &p.unit_cost {
            for (field, message) in cost.problems() {
                v.add(&format!("parts[{i}].unit_cost.{field}"), message);
            }
        }
    }
}

/// Checks a photo list against the uploaded photos, in the caller's transaction: 422 naming
/// `photos[i]` (the same check field commands make). Duplicates are dropped.
async fn check_photos(
    tx: &mut Tx,
    v: &mut Validator,
    list: &mut Vec<String>,
) -> Result<(), DomainError> {
    let mut seen = std::collections::HashSet::new();
    list.retain(|p| seen.insert(p.clone()));
    if list.len() > MAX_ORDER_PHOTOS {
        v.add("photos", format!("at most {MAX_ORDER_PHOTOS} photos"));
        return Ok(());
    }
    let missing = photos::missing(tx, list).await?;
    for (i, p) in list.iter().enumerate() {
        if !photos::is_photo_key(p) {
            v.add(
                &format!("photos[{i}]"),
                "a lower-case hex SHA-256 from POST /api/v1/photos",
            );
        } else if missing.contains(p) {
            v.add(
                &format!("photos[{i}]"),
                "no such photo: upload it with POST /api/v1/photos first",
            );
        }
    }
    Ok(())
}

/// `list` with `added` appended, each photo once, in order.
pub(super) fn with_photos(list: &[String], added: &[String]) -> Vec<String> {
    let mut out = list.to_vec();
    for p in added {
        if !out.contains(p) {
            out.push(p.clone());
        }
    }
    out
}

fn check_text(v: &mut Validator, checklist: &mut [ChecklistItem], notes: &mut Option<String>) {
    if checklist.len() > MAX_CHECKLIST {
        v.add("checklist", format!("at most {MAX_CHECKLIST} items"));
    }
    for (i, c) in checklist.iter_mut().enumerate() {
        c.item = c.item.trim().to_owned();
        if c.item.is_empty() || c.item.chars().count() > 200 {
            v.add(&format!("checklist[{i}].item"), "must be 1-200 characters");
        }
    }
    *notes = notes
        .take()
        .map(|n| n.trim().to_owned())
        .filter(|n| !n.is_empty());
    if notes
        .as_ref()
        .is_some_and(|n| n.chars().count() > MAX_NOTES)
    {
        v.add("notes", format!("at most {MAX_NOTES} characters"));
    }
}

/// Opens a work order by hand.
pub async fn create(
    store: &Store,
    actor: &Actor,
    new: NewWorkOrder,
) -> Result<WorkOrder, DomainError> {
    let mut v = Validator::new();
    let title = new.title.trim().to_owned();
    if title.is_empty() || title.chars().count() > 200 {
        v.add("title", "must be 1-200 characters");
    }
    let mut checklist = new.checklist;
    let mut notes = new.notes;
    check_text(&mut v, &mut checklist, &mut notes);
    let mut tx = store.begin().await?;
    if !refs::asset_exists(&mut tx, new.asset_id).await? {
        v.add("asset_id", "no such asset");
    }
    if let Some(user) = new.assignee {
        if !refs::user_exists(&mut tx, user).await? {
            v.add("assignee", "no such user");
        }
    }
    let mut service = None;
    if let Some(plan_id) = new.plan_id {
        match plans::load(&mut tx, plan_id).await {
            Ok(plan) if plans::applies(&mut tx, &plan, new.asset_id).await? => {
                service = plan.services.last().map(|s| s.name.clone());
            }
            Ok(_) | Err(DomainError::NotFound { .. }) => {
                v.add("plan_id", "no plan of this asset's");
            }
            Err(e) => return Err(e),
        }
    }
    v.finish()?;
    let opening = Opening {
        asset_id: new.asset_id,
        plan_id: new.plan_id,
        service,
        occurrence: None,
        title,
        assignee: new.assignee,
        due_on: new.due_at.unwrap_or_else(|| clock::now().date_naive()),
        checklist,
        notes,
        automatic: false,
    };
    let Some(order) = open_in(&mut tx, actor, opening).await? else {
        return Err(DomainError::conflict(
            ErrorCode::WorkOrderOpen,
            "the asset already has an active work order for this plan",
        ));
    };
    tx.commit_audited(actor, Change::created(Entity::WorkOrder, order.id, &order))
        .await?;
    Ok(order)
}

pub async fn get(store: &Store, id: Uuid) -> Result<WorkOrder, DomainError> {
    let sql = format!("SELECT {COLUMNS} FROM work_orders WHERE id = $1");
    let row: Option<OrderRow> = on_read!(store, |p| sqlx::query_as(&sql)
        .bind(id)
        .fetch_optional(p)
        .await)?;
    Ok(row
        .ok_or(DomainError::not_found(Entity::WorkOrder))?
        .into_order()
        .0)
}

/// Work orders, newest last, optionally of one state or one asset.
pub async fn list(
    store: &Store,
    state: Option<WorkOrderState>,
    asset_id: Option<Uuid>,
    page: PageRequest,
) -> Result<Page<WorkOrder>, DomainError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM work_orders WHERE ($1 IS NULL OR state = $1) \
         AND ($2 IS NULL OR asset_id = $2) AND ($3 IS NULL OR id > $3) ORDER BY id LIMIT $4"
    );
    let rows: Vec<OrderRow> = on_read!(store, |p| sqlx::query_as(&sql)
        .bind(state.map(|s| s.as_str()))
        .bind(asset_id)
        .bind(page.after)
        .bind(page.fetch())
        .fetch_all(p)
        .await)?;
    Ok(page.page(rows, |r| r.id, |r| r.into_order().0))
}

fn stale(current: &WorkOrder) -> DomainError {
    DomainError::conflict_with(
        ErrorCode::VersionConflict,
        format!(
            "the work order was changed by someone else (current version {})",
            current.version
        ),
        json!({ "current_version": current.version, "work_order": current }),
    )
}

fn closed(current: &WorkOrder) -> DomainError {
    DomainError::conflict_with(
        ErrorCode::WorkOrderClosed,
        format!("the work order is {} already", current.state.as_str()),
        json!({ "state": current.state, "work_order": current }),
    )
}

/// Writes an order's changed fields, its task's assignee and due time, and the booking that
/// holds its scheduled day.
pub(super) async fn store_order(
    tx: &mut Tx,
    actor: &Actor,
    order: &WorkOrder,
    status_before: Option<AssetStatus>,
) -> Result<(), DomainError> {
    let sql = "UPDATE work_orders SET state = $1, assignee_user_id = $2, due_on = $3, \
               scheduled_for = $4, checklist = $5, notes = $6, status_before = $7, \
               started_at = $8, completed_at = $9, cancelled_at = $10, engine_hours = $11, \
               odometer_km = $12, version = version + 1, updated_at = $13, parts = $14, \
               photos = $15 WHERE id = $16";
    on_tx!(
        tx,
        execute(
            sqlx::query(sql)
                .bind(order.state.as_str())
                .bind(order.assignee)
                .bind(order.due_at)
                .bind(order.scheduled_for)
                .bind(Json(&order.checklist))
                .bind(&order.notes)
                .bind(status_before.map(|s| s.as_str()))
                .bind(order.started_at)
                .bind(order.completed_at)
                .bind(order.cancelled_at)
                .bind(order.engine_hours)
                .bind(order.odometer_km)
                .bind(clock::now())
                .bind(Json(&order.parts))
                .bind(Json(&order.photos))
                .bind(order.id)
        )
    )?;
    if let Some(task) = order.task_id {
        let sql = "UPDATE tasks SET assignee_user_id = $1, \
                   assignee_role = CASE WHEN $1 IS NULL THEN $2 ELSE NULL END, due_at = $3 \
                   WHERE id = $4 AND state = 'open'";
        on_tx!(
            tx,
            execute(
                sqlx::query(sql)
                    .bind(order.assignee)
                    .bind(Role::Technician.as_str())
                    .bind(order.due_at.map(|d| d.and_time(NaiveTime::MIN).and_utc()))
                    .bind(task)
            )
        )?;
    }
    // An active order's window is its scheduled day, or, for work started unscheduled, the day
    // it started: the asset is not rented then.
    let started = order
        .started_at
        .filter(|_| order.state == WorkOrderState::InProgress);
    let window = order
        .scheduled_for
        .or(started)
        .filter(|_| order.state.is_active())
        .map(|at| (at.date_naive(), at.date_naive()));
    let reason = format!("work order: {}", order.title);
    availability::hold_for_work_order(tx, actor, order.id, order.asset_id, window, &reason).await?;
    Ok(())
}

/// The asset goes into maintenance when work starts, and back to where it was when the order
/// ends, if nothing else moved it meanwhile. An asset that is not available (on rent: serviced
/// at the customer's site) keeps its status; the order's start and end still record downtime.
pub(super) async fn start_work(
    tx: &mut Tx,
    actor: &Actor,
    order: &mut WorkOrder,
    status_before: &mut Option<AssetStatus>,
) -> Result<(), DomainError> {
    order.started_at.get_or_insert_with(clock::now);
    let asset = assets::load(tx, order.asset_id).await?;
    if asset.status == AssetStatus::Available {
        assets::set_status_in(tx, actor, order.asset_id, AssetStatus::InMaintenance).await?;
        *status_before = Some(AssetStatus::Available);
    }
    Ok(())
}

async fn end_work(
    tx: &mut Tx,
    actor: &Actor,
    order: &WorkOrder,
    status_before: Option<AssetStatus>,
) -> Result<(), DomainError> {
    if let Some(back) = status_before {
        let asset = assets::load(tx, order.asset_id).await?;
        if asset.status == AssetStatus::InMaintenance {
            assets::set_status_in(tx, actor, order.asset_id, back).await?;
        }
    }
    Ok(())
}

/// Changes a work order: assignee, dates, checklist, notes, parts, photos, and its state along
/// `WorkOrderState::can_become` (not to `done`: [`complete`] records the service).
pub async fn update(
    store: &Store,
    actor: &Actor,
    id: Uuid,
    patch: WorkOrderPatch,
) -> Result<WorkOrder, DomainError> {
    let mut tx = store.begin().await?;
    let (before, after) = update_in(&mut tx, actor, id, patch).await?;
    tx.commit_audited(
        actor,
        Change::updated(Entity::WorkOrder, id, &before, &after),
    )
    .await?;
    Ok(after)
}

/// [`update`] inside the caller's transaction (which audits): the order before and after.
pub(super) async fn update_in(
    tx: &mut Tx,
    actor: &Actor,
    id: Uuid,
    patch: WorkOrderPatch,
) -> Result<(WorkOrder, WorkOrder), DomainError> {
    let (before, mut status_before) = lock_order(tx, id).await?;
    if patch.version != before.version {
        return Err(stale(&before));
    }
    if !before.state.is_active() {
        return Err(closed(&before));
    }
    let mut next = before.clone();
    let mut v = Validator::new();
    if let Some(assignee) = patch.assignee {
        if let Some(user) = assignee {
            if !refs::user_exists(tx, user).await? {
                v.add("assignee", "no such user");
            }
        }
        next.assignee = assignee;
    }
    if let Some(due) = patch.due_at {
        next.due_at = Some(due);
    }
    if let Some(at) = patch.scheduled_for {
        next.scheduled_for = at;
    }
    if let Some(checklist) = patch.checklist {
        next.checklist = checklist;
    }
    if patch.notes.is_some() {
        next.notes = patch.notes;
    }
    check_text(&mut v, &mut next.checklist, &mut next.notes);
    if let Some(parts) = patch.parts {
        next.parts = parts;
    }
    check_parts(&mut v, &mut next.parts);
    if let Some(list) = patch.photos {
        next.photos = list;
        check_photos(tx, &mut v, &mut next.photos).await?;
    }
    if let Some(state) = patch.state {
        if state == WorkOrderState::Done {
            v.add(
                "state",
                "complete the order with POST /work-orders/{id}/complete",
            );
        } else if state != before.state && !before.state.can_become(state) {
            return Err(DomainError::conflict_with(
                ErrorCode::IllegalTransition,
                format!(
                    "a work order cannot go from {} to {}",
                    before.state.as_str(),
                    state.as_str()
                ),
                json!({ "state": before.state, "work_order": before }),
            ));
        }
        next.state = state;
    }
    v.finish()?;
    let now = clock::now();
    match next.state {
        WorkOrderState::InProgress if before.state != WorkOrderState::InProgress => {
            start_work(tx, actor, &mut next, &mut status_before).await?;
        }
        WorkOrderState::Cancelled => {
            next.cancelled_at = Some(now);
            end_work(tx, actor, &next, status_before).await?;
            if let Some(task) = next.task_id {
                tasks::close_in(tx, Scope::All, task, TaskState::Cancelled, actor, true).await?;
            }
        }
        _ => {}
    }
    store_order(tx, actor, &next, status_before).await?;
    let (after, _) = load(tx, id).await?;
    Ok((before, after))
}

/// Completes a work order: the meters at completion, parts and photos, the service recorded
/// under its plan (re-anchoring the plan), its task done, the asset out of maintenance.
/// Completing a closed order is a 409 with its current state.
pub async fn complete(
    store: &Store,
    actor: &Actor,
    id: Uuid,
    done: CompleteWorkOrder,
) -> Result<WorkOrder, DomainError> {
    let mut tx = store.begin().await?;
    let (before, after) = complete_in(&mut tx, actor, id, done).await?;
    audit::record(
        &mut tx,
        actor,
        Change::action("work_order.complete", Entity::WorkOrder, id)
            .before(&before)
            .after(&after),
    )
    .await?;
    tx.commit().await?;
    Ok(after)
}

/// [`complete`] inside the caller's transaction (which audits): the order before and after.
/// `done.parts` replaces the part list; `done.photos` are added to the order's.
pub(super) async fn complete_in(
    tx: &mut Tx,
    actor: &Actor,
    id: Uuid,
    done: CompleteWorkOrder,
) -> Result<(WorkOrder, WorkOrder), DomainError> {
    let (before, status_before) = lock_order(tx, id).await?;
    if !before.state.is_active() {
        return Err(closed(&before));
    }
    let now = clock::now();
    let mut next = before.clone();
    let mut v = Validator::new();
    for (field, value) in [
        ("engine_hours", done.engine_hours),
        ("odometer_km", done.odometer_km),
    ] {
        if value.is_some_and(|x| !x.is_finite() || x < 0.0) {
            v.add(field, "must be a number ≥ 0");
        }
    }
    if done.notes.is_some() {
        next.notes = done.notes;
    }
    check_text(&mut v, &mut next.checklist, &mut next.notes);
    if let Some(parts) = done.parts {
        next.parts = parts;
    }
    check_parts(&mut v, &mut next.parts);
    if !done.photos.is_empty() {
        // Only the added photos are checked: those already on the order were checked then.
        let mut added = done.photos;
        check_photos(tx, &mut v, &mut added).await?;
        next.photos = with_photos(&next.photos, &added);
        if next.photos.len() > MAX_ORDER_PHOTOS {
            v.add(
                "photos",
                format!("at most {MAX_ORDER_PHOTOS} photos on an order"),
            );
        }
    }
    v.finish()?;
    let asset = assets::load(tx, before.asset_id).await?;
    next.engine_hours = done.engine_hours.or(asset.engine_hours);
    next.odometer_km = done.odometer_km.or(asset.odometer_km);
    if let Some(plan_id) = before.plan_id {
        let record = history::record_service_in(
            tx,
            before.asset_id,
            NewServiceRecord {
                plan_id,
                done_at: Some(now),
                engine_hours: next.engine_hours,
                odometer_km: next.odometer_km,
            },
            now,
        )
        .await?;
        next.service = Some(record.service);
        next.occurrence = Some(record.occurrence);
    }
    next.state = WorkOrderState::Done;
    next.started_at.get_or_insert(now);
    next.completed_at = Some(now);
    end_work(tx, actor, &next, status_before).await?;
    if let Some(task) = next.task_id {
        tasks::close_in(tx, Scope::All, task, TaskState::Done, actor, true).await?;
    }
    store_order(tx, actor, &next, status_before).await?;
    let sql = "UPDATE work_orders SET service = $1, occurrence = $2 WHERE id = $3";
    on_tx!(
        tx,
        execute(
            sqlx::query(sql)
                .bind(&next.service)
                .bind(next.occurrence.and_then(|n| i32::try_from(n).ok()))
                .bind(id)
        )
    )?;
    let (after, _) = load(tx, id).await?;
    Ok((before, after))
}

/// The whole sweep at once: opens an order for every service of the fleet that has entered its
/// lead window (urgency `soon` or worse) and has none yet, slice after slice, writing in `tx`.
/// Returns the orders opened. The clock does the same a slice per tick ([`OrdersRule`]); this
/// is for `fieldops demo` and tests.
pub async fn open_due(store: &Store, tx: &mut Tx, now: DateTime<Utc>) -> Result<u64, DomainError> {
    let plans = plans::all(store).await?;
    let mut opened = 0;
    let mut after: Option<Uuid> = None;
    loop {
        let (n, next) = open_due_slice(store, tx, &plans, after, now).await?;
        opened += n;
        match next {
            Some(next) => after = Some(next),
            None => return Ok(opened),
        }
    }
}

/// One slice of the sweep: the next [`SWEEP_SLICE`] assets after `after` that some plan applies
/// to, read through the one forecast loader (the read side), their due orders opened in `tx`.
/// Returns the orders opened and where the next slice starts (`None`: the fleet is done).
async fn open_due_slice(
    store: &Store,
    tx: &mut Tx,
    plans: &[Plan],
    after: Option<Uuid>,
    now: DateTime<Utc>,
) -> Result<(u64, Option<Uuid>), DomainError> {
    if plans.is_empty() {
        return Ok((0, None));
    }
    let ids = assets_with_plans(store, after).await?;
    let next = (ids.len() == SWEEP_SLICE)
        .then(|| ids.last().copied())
        .flatten();
    let actor = Actor::clock();
    let mut opened = 0;
    let views = forecast::for_assets(store, plans, &ids, now).await?;
    for view in &views {
        for f in view.services.iter().filter(|f| f.urgency >= Urgency::Soon) {
            let Some(plan) = plans.iter().find(|p| p.id == f.plan_id) else {
                continue;
            };
            let opening = Opening {
                asset_id: view.asset_id,
                plan_id: Some(plan.id),
                service: Some(f.service.clone()),
                occurrence: Some(f.occurrence),
                title: title(plan, &f.service),
                assignee: None,
                due_on: f.forecast_date.unwrap_or_else(|| now.date_naive()),
                checklist: Vec::new(),
                notes: None,
                automatic: true,
            };
            opened += u64::from(open_automatic_in(tx, &actor, opening).await?);
        }
    }
    // What ingest compares the slice's next readings with.
    triggers::refresh_in(tx, plans, &views, &ids, now).await?;
    // And what the "due for service" list ranks by.
    due::refresh_in(tx, &views, &ids, now).await?;
    Ok((opened, next))
}

/// An automatic order's title: the service, and its plan when the names differ.
pub(super) fn title(plan: &Plan, service: &str) -> String {
    if plan.name == service {
        service.to_owned()
    } else {
        format!("{service} ({})", plan.name)
    }
}

/// The next chunk of live assets that some plan applies to, in id order.
async fn assets_with_plans(store: &Store, after: Option<Uuid>) -> Result<Vec<Uuid>, DomainError> {
    let sql = "SELECT a.id FROM assets a WHERE a.deleted_at IS NULL AND ($1 IS NULL OR a.id > $1) \
               AND EXISTS (SELECT 1 FROM maintenance_plans p WHERE p.deleted_at IS NULL \
                 AND (p.asset_id = a.id OR p.category_id = a.category_id)) \
               ORDER BY a.id LIMIT $2";
    let ids: Vec<Uuid> = on_read!(store, |p| sqlx::query_scalar(sql)
        .bind(after)
        .bind(SWEEP_SLICE as i64)
        .fetch_all(p)
        .await)?;
    Ok(ids)
}

/// The clock rule `maintenance_orders`: a rolling sweep, one slice of [`SWEEP_SLICE`] assets per
/// tick, continuing from a cursor kept in the database (`maintenance_sweep`), so a fleet of
/// 100,000 is covered about every 50 minutes and a small one every minute. A slice keeps each
/// tick's transaction short — on SQLite it holds the one writer, which ingest needs too — where
/// a whole-fleet pass would hold it for seconds (BENCHMARKS.md, "Maintenance sweep").
pub struct OrdersRule {
    pub store: Store,
}

impl crate::schedule::Rule for OrdersRule {
    fn name(&self) -> &'static str {
        "maintenance_orders"
    }

    fn evaluate<'a>(
        &'a self,
        tx: &'a mut Tx,
        window: crate::schedule::Window,
    ) -> crate::schedule::RuleFuture<'a> {
        Box::pin(async move {
            let sql = "SELECT after_asset FROM maintenance_sweep WHERE id = 1";
            let after: Option<Option<Uuid>> =
                on_tx!(tx, |c| sqlx::query_scalar(sql).fetch_optional(c).await)?;
            let plans = plans::all(&self.store).await?;
            let (opened, next) =
                open_due_slice(&self.store, tx, &plans, after.flatten(), window.to).await?;
            let sql = "INSERT INTO maintenance_sweep (id, after_asset) VALUES (1, $1) \
                       ON CONFLICT (id) DO UPDATE SET after_asset = excluded.after_asset";
            on_tx!(tx, execute(sqlx::query(sql).bind(next)))?;
            Ok(opened)
        })
    }
}
