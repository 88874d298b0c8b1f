//! Availability, enforced by the database: every period an asset is taken — a signed contract's
//! asset line, or a maintenance block — is a live row of `asset_bookings` (inclusive days), and
//! two live rows of one asset never overlap.
//!
//! On PostgreSQL the exclusion constraint `asset_bookings_no_overlap` is the guarantee: a
//! booking is checked first (so the usual refusal names the conflicting booking at once), then
//! inserted under a savepoint; a concurrent writer that got there first makes the insert wait
//! for its commit and fail with SQLSTATE 23P01, and the savepoint lets the same transaction read
//! the winner's booking for the 409. On SQLite the check inside the writing transaction is the
//! guarantee: the single writer connection makes check-then-insert atomic.
//!
//! The availability query is one statement per backend, walking the gist index on PostgreSQL
//! and `asset_bookings_live` on SQLite.

use chrono::{DateTime, NaiveDate, Utc};
use mobile_shared::contracts::{
    Availability, Booking, BookingKind, FreeAsset, NewBlock, MAX_NOTE_LEN,
};
use mobile_shared::ErrorCode;
use serde_json::json;
use uuid::Uuid;

use crate::actor::Actor;
use crate::audit::{self, Change};
use crate::entity::Entity;
use crate::error::{DomainError, Validator};
use crate::store::{on_read, on_tx, Backend, RowLock, Store, Tx};
use crate::{clock, refs};

/// Longest period the availability query answers for.
pub const MAX_QUERY_DAYS: i64 = 366 * 3;

/// A booking to insert.
pub(crate) struct NewBooking {
    pub asset_id: Uuid,
    pub kind: BookingKind,
    pub contract_line_id: Option<Uuid>,
    /// The work order whose window a maintenance booking holds (see [`hold_for_work_order`]).
    pub work_order_id: Option<Uuid>,
    pub starts_on: NaiveDate,
    pub ends_on: NaiveDate,
    pub reason: Option<String>,
}

const COLUMNS: &str = "b.id, b.asset_id, b.kind, l.contract_id, b.contract_line_id, \
     b.work_order_id, b.starts_on, b.ends_on, b.reason, b.released_at, b.created_at";
const FROM: &str = "asset_bookings b LEFT JOIN contract_lines l ON l.id = b.contract_line_id";

#[derive(sqlx::FromRow)]
struct BookingRow {
    id: Uuid,
    asset_id: Uuid,
    kind: String,
    contract_id: Option<Uuid>,
    contract_line_id: Option<Uuid>,
    work_order_id: Option<Uuid>,
    starts_on: NaiveDate,
    ends_on: NaiveDate,
    reason: Option<String>,
    released_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
}

impl BookingRow {
    fn into_booking(self) -> Booking {
        Booking {
            id: self.id,
            asset_id: self.asset_id,
            // Only these two kinds pass the table's CHECK.
            kind: BookingKind::parse(&self.kind).unwrap_or(BookingKind::Maintenance),
            contract_id: self.contract_id,
            contract_line_id: self.contract_line_id,
            work_order_id: self.work_order_id,
            starts_on: self.starts_on,
            ends_on: self.ends_on,
            reason: self.reason,
            released_at: self.released_at,
            created_at: self.created_at,
        }
    }
}

/// The overlap of booking `b` with the inclusive days `$2..=$3`, written so each backend walks
/// its index: the gist expression of the exclusion constraint on PostgreSQL, the
/// `(asset_id, starts_on, ends_on)` partial index on SQLite.
fn overlaps(backend: Backend) -> &'static str {
    match backend {
        Backend::Postgres => "daterange(b.starts_on, b.ends_on, '[]') && daterange($2, $3, '[]')",
        Backend::Sqlite => "b.starts_on <= $3 AND b.ends_on >= $2",
    }
}

/// The first live booking of `asset_id` overlapping `starts_on..=ends_on`, if any.
pub(crate) async fn overlapping(
    tx: &mut Tx,
    asset_id: Uuid,
    starts_on: NaiveDate,
    ends_on: NaiveDate,
) -> Result<Option<Booking>, DomainError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM {FROM} WHERE b.asset_id = $1 AND b.released_at IS NULL AND {} \
         ORDER BY b.starts_on LIMIT 1",
        overlaps(tx.backend())
    );
    let row: Option<BookingRow> = on_tx!(tx, |c| sqlx::query_as(&sql)
        .bind(asset_id)
        .bind(starts_on)
        .bind(ends_on)
        .fetch_optional(c)
        .await)?;
    Ok(row.map(BookingRow::into_booking))
}

/// The 409 of a refused booking, with the booking in the way.
pub(crate) fn conflict(asset_id: Uuid, booking: Option<&Booking>) -> DomainError {
    let message = match booking {
        Some(b) => format!(
            "the asset is booked ({}) from {} to {}",
            b.kind.as_str(),
            b.starts_on,
            b.ends_on
        ),
        None => "the asset is booked on overlapping days".to_owned(),
    };
    DomainError::conflict_with(
        ErrorCode::BookingConflict,
        message,
        json!({ "asset_id": asset_id, "booking": booking }),
    )
}

/// Refuses (409 `booking_conflict`) when `asset_id` has a live booking overlapping the days.
pub(crate) async fn ensure_free(
    tx: &mut Tx,
    asset_id: Uuid,
    starts_on: NaiveDate,
    ends_on: NaiveDate,
) -> Result<(), DomainError> {
    match overlapping(tx, asset_id, starts_on, ends_on).await? {
        Some(b) => Err(conflict(asset_id, Some(&b))),
        None => Ok(()),
    }
}

/// Books an asset in the caller's transaction, or refuses with 409 `booking_conflict` naming
/// the booking in the way (module doc: how each backend keeps this true under concurrency).
pub(crate) async fn book_in(
    tx: &mut Tx,
    actor: &Actor,
    new: NewBooking,
) -> Result<Booking, DomainError> {
    // The asset row first, as every writer of an asset's state takes it (maintenance::orders'
    // lock order): a signing and a work order's rescheduling of one asset then queue instead
    // of deadlocking (the booking's foreign key would otherwise wait for the order's asset
    // lock while the order's booking waits for the signing's).
    tx.lock_row("assets", new.asset_id).await?;
    ensure_free(tx, new.asset_id, new.starts_on, new.ends_on).await?;
    let id = clock::new_id();
    let savepoint = tx.backend() == Backend::Postgres;
    if savepoint {
        on_tx!(tx, execute(sqlx::query("SAVEPOINT asset_booking")))?;
    }
    let sql = "INSERT INTO asset_bookings (id, asset_id, kind, contract_line_id, work_order_id, \
               starts_on, ends_on, reason, created_by, created_at) \
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";
    let inserted: Result<u64, sqlx::Error> = on_tx!(tx, |c| sqlx::query(sql)
        .bind(id)
        .bind(new.asset_id)
        .bind(new.kind.as_str())
        .bind(new.contract_line_id)
        .bind(new.work_order_id)
        .bind(new.starts_on)
        .bind(new.ends_on)
        .bind(&new.reason)
        .bind(actor.user_id)
        .bind(clock::now())
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected()));
    match inserted {
        Ok(_) if savepoint => {
            on_tx!(tx, execute(sqlx::query("RELEASE SAVEPOINT asset_booking")))?;
        }
        Ok(_) => {}
        Err(sqlx::Error::Database(db)) if db.code().as_deref() == Some("23P01") => {
            on_tx!(
                tx,
                execute(sqlx::query("ROLLBACK TO SAVEPOINT asset_booking"))
            )?;
            // The constraint waited for the other writer to commit, so a fresh statement sees
            // the booking that won.
            let winner = overlapping(tx, new.asset_id, new.starts_on, new.ends_on).await?;
            return Err(conflict(new.asset_id, winner.as_ref()));
        }
        Err(e) => return Err(e.into()),
    }
    load(tx, id).await
}

async fn load(tx: &mut Tx, id: Uuid) -> Result<Booking, DomainError> {
    let sql = format!("SELECT {COLUMNS} FROM {FROM} WHERE b.id = $1");
    let row: Option<BookingRow> = on_tx!(tx, |c| sqlx::query_as(&sql)
        .bind(id)
        .fetch_optional(c)
        .await)?;
    row.map(BookingRow::into_booking)
        .ok_or(DomainError::not_found(Entity::AssetBooking))
}

/// Whose bookings [`release_from`] releases.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Held {
    /// Every booking of the contract's lines.
    Contract(Uuid),
    /// The booking of one unit a category line allocated at delivery (`on_hire`).
    LineAsset { line: Uuid, asset: Uuid },
}

/// Releases bookings from `from_day` on: bookings starting then or later are released, longer
/// ones are cut to end the day before. Answers how many rows changed.
pub(crate) async fn release_from(
    tx: &mut Tx,
    held: Held,
    from_day: NaiveDate,
) -> Result<u64, DomainError> {
    // `$1` and `$2` are each statement's values; the target's ids follow.
    let (which, id, asset) = match held {
        Held::Contract(id) => (
            "contract_line_id IN (SELECT id FROM contract_lines WHERE contract_id = $3)",
            id,
            None,
        ),
        Held::LineAsset { line, asset } => {
            ("contract_line_id = $3 AND asset_id = $4", line, Some(asset))
        }
    };
    let released = format!(
        "UPDATE asset_bookings SET released_at = $1 \
         WHERE released_at IS NULL AND starts_on >= $2 AND {which}"
    );
    let mut changed = run_on_target(tx, &released, clock::now(), from_day, id, asset).await?;
    if let Some(last) = from_day.pred_opt() {
        // Shrinking never creates an overlap, so the constraint cannot refuse it.
        let cut = format!(
            "UPDATE asset_bookings SET ends_on = $1 \
             WHERE released_at IS NULL AND ends_on > $2 AND {which}"
        );
        changed += run_on_target(tx, &cut, last, last, id, asset).await?;
    }
    Ok(changed)
}

/// Runs one of [`release_from`]'s statements with its two values and the target's ids.
async fn run_on_target<V>(
    tx: &mut Tx,
    sql: &str,
    value: V,
    day: NaiveDate,
    id: Uuid,
    asset: Option<Uuid>,
) -> Result<u64, DomainError>
where
    V: for<'q> sqlx::Encode<'q, sqlx::Postgres>
        + for<'q> sqlx::Encode<'q, sqlx::Sqlite>
        + sqlx::Type<sqlx::Postgres>
        + sqlx::Type<sqlx::Sqlite>
        + Send
        + Clone,
{
    Ok(on_tx!(tx, |c| {
        let mut q = sqlx::query(sql).bind(value.clone()).bind(day).bind(id);
        if let Some(asset) = asset {
            q = q.bind(asset);
        }
        q.execute(&mut *c).await.map(|r| r.rows_affected())
    })?)
}

/// Keeps the booking that holds a work order's window in step with the order: `window` is
/// the days the order holds (its scheduled day, or the day unscheduled work started; `None`
/// once it is unscheduled, done or cancelled).
///
/// A work order on a free day books it (kind `maintenance`, linked by `work_order_id`), so the
/// database refuses a contract over it exactly as it refuses one over a maintenance block, on
/// both backends and under concurrency. A work order on a day the asset is already taken does
/// not refuse the schedule and books nothing: on a contract's day the machine is serviced on
/// hire at the customer's site (the usual field service, which must stay schedulable), and on a
/// block's day it is blocked already. Rescheduling releases the old booking and books the new
/// day; the released rows stay as history. Answers the live booking, if any; each change is
/// audited in the caller's transaction.
pub(crate) async fn hold_for_work_order(
    tx: &mut Tx,
    actor: &Actor,
    work_order_id: Uuid,
    asset_id: Uuid,
    window: Option<(NaiveDate, NaiveDate)>,
    reason: &str,
) -> Result<Option<Booking>, DomainError> {
    // The row alone is locked (PostgreSQL locks no outer join's nullable side).
    let sql = format!(
        "SELECT id FROM asset_bookings WHERE work_order_id = $1 AND released_at IS NULL{}",
        tx.row_lock(RowLock::Update)
    );
    let held: Option<Uuid> = on_tx!(tx, |c| sqlx::query_scalar(&sql)
        .bind(work_order_id)
        .fetch_optional(c)
        .await)?;
    let held = match held {
        Some(id) => Some(load(tx, id).await?),
        None => None,
    };
    if let Some(b) = &held {
        if window == Some((b.starts_on, b.ends_on)) {
            return Ok(held);
        }
        let sql = "UPDATE asset_bookings SET released_at = $1 WHERE id = $2";
        on_tx!(tx, execute(sqlx::query(sql).bind(clock::now()).bind(b.id)))?;
        let after = load(tx, b.id).await?;
        let change = Change::action("asset_booking.release", Entity::AssetBooking, b.id)
            .before(b)
            .after(&after);
        audit::record(tx, actor, change).await?;
    }
    let Some((starts_on, ends_on)) = window else {
        return Ok(None);
    };
    let new = NewBooking {
        asset_id,
        kind: BookingKind::Maintenance,
        contract_line_id: None,
        work_order_id: Some(work_order_id),
        starts_on,
        ends_on,
        reason: Some(reason.chars().take(MAX_NOTE_LEN).collect()),
    };
    match book_in(tx, actor, new).await {
        Ok(booking) => {
            let change = Change::created(Entity::AssetBooking, booking.id, &booking);
            audit::record(tx, actor, change).await?;
            Ok(Some(booking))
        }
        Err(e) if e.code() == ErrorCode::BookingConflict => Ok(None),
        Err(e) => Err(e),
    }
}

fn check_days(v: &mut Validator, starts_on: NaiveDate, ends_on: NaiveDate, to: &str) {
    if ends_on < starts_on {
        v.add(to, "must not be before the first day");
    }
}

/// Blocks an asset for maintenance on `starts_on..=ends_on`; 409 `booking_conflict` when a
/// contract or another block holds any of those days.
pub async fn create_block(
    store: &Store,
    actor: &Actor,
    asset_id: Uuid,
    new: NewBlock,
) -> Result<Booking, DomainError> {
    let mut v = Validator::new();
    check_days(&mut v, new.starts_on, new.ends_on, "ends_on");
    let reason = new.reason.trim().to_owned();
    if reason.is_empty() || reason.chars().count() > MAX_NOTE_LEN {
        v.add("reason", format!("must be 1-{MAX_NOTE_LEN} characters"));
    }
    v.finish()?;
    let mut tx = store.begin().await?;
    if !refs::asset_exists(&mut tx, asset_id).await? {
        return Err(DomainError::not_found(Entity::Asset));
    }
    let booking = book_in(
        &mut tx,
        actor,
        NewBooking {
            asset_id,
            kind: BookingKind::Maintenance,
            contract_line_id: None,
            work_order_id: None,
            starts_on: new.starts_on,
            ends_on: new.ends_on,
            reason: Some(reason),
        },
    )
    .await?;
    tx.commit_audited(
        actor,
        Change::created(Entity::AssetBooking, booking.id, &booking),
    )
    .await?;
    Ok(booking)
}

/// An asset's maintenance bookings (live and released), in day order.
pub async fn blocks(store: &Store, asset_id: Uuid) -> Result<Vec<Booking>, DomainError> {
    let known: Option<i32> = on_read!(store, |p| sqlx::query_scalar(
        "SELECT 1 FROM assets WHERE id = $1 AND deleted_at IS NULL"
    )
    .bind(asset_id)
    .fetch_optional(p)
    .await)?;
    if known.is_none() {
        return Err(DomainError::not_found(Entity::Asset));
    }
    let sql = format!(
        "SELECT {COLUMNS} FROM {FROM} WHERE b.asset_id = $1 AND b.kind = 'maintenance' \
         ORDER BY b.starts_on, b.id"
    );
    let rows: Vec<BookingRow> = on_read!(store, |p| sqlx::query_as(&sql)
        .bind(asset_id)
        .fetch_all(p)
        .await)?;
    Ok(rows.into_iter().map(BookingRow::into_booking).collect())
}

/// Releases a maintenance block (the asset is free on its days again). A block of another
/// asset, or a contract's booking, is not found; a released one, or one holding a work order's
/// window, is a 409.
pub async fn release_block(
    store: &Store,
    actor: &Actor,
    asset_id: Uuid,
    block_id: Uuid,
) -> Result<Booking, DomainError> {
    let mut tx = store.begin().await?;
    let sql = format!(
        "SELECT id FROM asset_bookings WHERE id = $1 AND asset_id = $2 AND kind = 'maintenance'{}",
        tx.row_lock(RowLock::Update)
    );
    let found: Option<Uuid> = on_tx!(&mut tx, |c| sqlx::query_scalar(&sql)
        .bind(block_id)
        .bind(asset_id)
        .fetch_optional(c)
        .await)?;
    if found.is_none() {
        return Err(DomainError::not_found(Entity::AssetBooking));
    }
    let before = load(&mut tx, block_id).await?;
    if before.released_at.is_some() {
        return Err(DomainError::conflict_with(
            ErrorCode::IllegalTransition,
            "the block is released already",
            json!({ "booking": before }),
        ));
    }
    if let Some(order) = before.work_order_id {
        // Released by hand, the order would still say the asset is serviced that day.
        return Err(DomainError::conflict_with(
            ErrorCode::IllegalTransition,
            format!(
                "the block holds work order {order}'s window: reschedule or cancel the work order"
            ),
            json!({ "booking": before, "work_order_id": order }),
        ));
    }
    let sql = "UPDATE asset_bookings SET released_at = $1 WHERE id = $2";
    on_tx!(
        &mut tx,
        execute(sqlx::query(sql).bind(clock::now()).bind(block_id))
    )?;
    let after = load(&mut tx, block_id).await?;
    let change = Change::action("asset_booking.release", Entity::AssetBooking, block_id)
        .before(&before)
        .after(&after);
    tx.commit_audited(actor, change).await?;
    Ok(after)
}

/// The assets of `category_id` free on every day of `from..=to`: not deleted, not retired, and
/// no live booking (contract or maintenance) overlapping. One statement.
pub async fn query(
    store: &Store,
    category_id: Uuid,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Availability, DomainError> {
    let mut v = Validator::new();
    check_days(&mut v, from, to, "to");
    if (to - from).num_days() > MAX_QUERY_DAYS {
        v.add("to", format!("the period is at most {MAX_QUERY_DAYS} days"));
    }
    v.finish()?;
    let known: Option<i32> = on_read!(store, |p| sqlx::query_scalar(
        "SELECT 1 FROM categories WHERE id = $1"
    )
    .bind(category_id)
    .fetch_optional(p)
    .await)?;
    if known.is_none() {
        return Err(DomainError::field("category", "no such category"));
    }
    let sql = format!(
        "SELECT a.id, a.code, a.name FROM assets a \
         WHERE a.category_id = $1 AND a.deleted_at IS NULL AND a.status <> 'retired' \
         AND NOT EXISTS (SELECT 1 FROM asset_bookings b WHERE b.asset_id = a.id \
             AND b.released_at IS NULL AND {}) \
         ORDER BY a.code",
        overlaps(store.backend())
    );
    let rows: Vec<(Uuid, String, String)> = on_read!(store, |p| sqlx::query_as(&sql)
        .bind(category_id)
        .bind(from)
        .bind(to)
        .fetch_all(p)
        .await)?;
    let assets: Vec<FreeAsset> = rows
        .into_iter()
        .map(|(id, code, name)| FreeAsset { id, code, name })
        .collect();
    Ok(Availability {
        category_id,
        from,
        to,
        free: i64::try_from(assets.len()).unwrap_or(i64::MAX),
        assets,
    })
}
