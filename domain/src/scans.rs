//! Field commands from technicians' phones: lookup, deliver, return, inspect, transfer, meter,
//! audit (stocktake count), start_work and complete_work (work orders,
//! `maintenance::field`). Each command is applied exactly once, in its own transaction,
//! recording who, when (device time and server time), where (phone position), and what changed.
//!
//! Rules (ARCHITECTURE.md, "Field commands and offline sync"):
//! - The command id is the idempotency key: a replay returns the stored answer as `duplicate`.
//!   Rejected commands are stored too, so a replay of a rejected command is answered the same.
//! - Batches are applied in device-time order; answers come back in the order given.
//! - A state-changing command (deliver, return, transfer) whose device time is older than the
//!   asset's last applied one (`assets.field_at`) is kept as history and answered
//!   `rejected: superseded` with the current state: a stale "deliver" never undoes a newer
//!   "return". On a tie the server's arrival order decides: phones that send whole seconds, or a
//!   technician correcting a mistake within the second, still get the second action applied.
//! - Device times are bounded on both sides ([`Policy`]): a little ahead of the server clock
//!   (phone clocks drift) and at most `max_age` behind (a phone whose clock reset to 1970, or
//!   a queue far older than any real offline shift, is refused rather than written as history
//!   at an absurd time).
//! - The phone's position moves the asset only if it is newer than the asset's position.
//! - An engine-hour reading applies only if newer than the applied one and not lower.
//! - A refused command changes nothing but its own record: its transaction is rolled back and
//!   the refusal recorded in a fresh one.
//! - A return whose inspection failed also opens (or joins) the asset's repair work order, in
//!   the same transaction.
//! - A delivery opens the asset's on-hire period under a contract line (named, or the
//!   customer's open one) and a return closes it; a failed return inspection records the damage
//!   against the contract (`on_hire`, same transaction). A refused line refuses the delivery.

use chrono::{DateTime, Utc};
use mobile_shared::maintenance::WorkOrder;
use mobile_shared::on_hire::OnHirePeriod;
use mobile_shared::scan::{
    CommandError, CommandResult, CommandStatus, FieldAction, FieldCommand, MAX_BATCH, MAX_NOTES,
    MAX_PHOTOS,
};
use mobile_shared::wire::{Asset, SiteKind};
use mobile_shared::{AssetStatus, ErrorCode};
use serde_json::json;
use sqlx::types::Json;
use uuid::Uuid;

use crate::actor::Actor;
use crate::audit::{self, Change};
use crate::entity::Entity;
use crate::error::{DomainError, FieldErrors, Validator};
use crate::maintenance::field;
use crate::store::{on_read, on_tx, RowLock, Store, Tx};
use crate::{assets, clock, identifiers, on_hire, photos, sites, stocktake};

/// The bounds on a command's device time.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// How far ahead of the server clock a phone's clock may be.
    pub max_clock_skew: chrono::Duration,
    /// How old a command may be when it arrives: the longest offline shift the operator expects
    /// (`--scan-max-age-days`).
    pub max_age: chrono::Duration,
}

/// A quarter of a year: longer than any offline shift seen in the field, short enough that a
/// phone whose clock reset (1970, 2000, year 3) is caught.
pub const DEFAULT_MAX_AGE_DAYS: u32 = 90;

impl Policy {
    /// The default skew with the operator's `max_age_days`.
    pub fn with_max_age_days(max_age_days: u32) -> Policy {
        Policy {
            max_clock_skew: chrono::Duration::minutes(10),
            max_age: chrono::Duration::days(i64::from(max_age_days)),
        }
    }
}

impl Default for Policy {
    fn default() -> Self {
        Policy::with_max_age_days(DEFAULT_MAX_AGE_DAYS)
    }
}

/// A rejection that becomes part of the stored answer (not an infrastructure failure). Its code
/// is what both the single-command route and a batch answer with.
struct Refusal {
    code: ErrorCode,
    message: String,
    fields: Option<FieldErrors>,
    detail: Option<serde_json::Value>,
}

impl Refusal {
    fn new(code: ErrorCode, message: impl Into<String>) -> Refusal {
        Refusal {
            code,
            message: message.into(),
            fields: None,
            detail: None,
        }
    }
}

/// Turns domain errors that describe the command (not the system) into refusals.
fn refusal(e: DomainError) -> Result<Refusal, DomainError> {
    Ok(match e {
        DomainError::Validation(fields) => Refusal {
            code: ErrorCode::ValidationFailed,
            message: "the command has invalid fields".into(),
            fields: Some(fields),
            detail: None,
        },
        // A conflict keeps its context (the current state, the work orders to choose from).
        DomainError::Conflict {
            code,
            message,
            detail,
        } => Refusal {
            detail,
            ..Refusal::new(code, message)
        },
        // The asset a command is about gets its own code: the phone offers to register it.
        DomainError::NotFound {
            entity: Entity::Asset,
        } => Refusal::new(ErrorCode::AssetNotFound, "asset not found"),
        e @ (DomainError::NotFound { .. } | DomainError::InvalidReference { .. }) => {
            Refusal::new(e.code(), e.to_string())
        }
        other => return Err(other),
    })
}

fn validate(cmd: &FieldCommand, policy: &Policy, now: DateTime<Utc>) -> Result<(), DomainError> {
    let mut v = Validator::new();
    if cmd.device_time > now + policy.max_clock_skew {
        v.add("device_time", "is in the future (check the phone's clock)");
    } else if cmd.device_time < now - policy.max_age {
        v.add(
            "device_time",
            format!(
                "is more than {days} days old (check the phone's clock; commands queued offline \
                 are accepted for {days} days)",
                days = policy.max_age.num_days()
            ),
        );
    }
    if cmd
        .notes
        .as_ref()
        .is_some_and(|n| n.chars().count() > MAX_NOTES)
    {
        v.add("notes", format!("must be at most {MAX_NOTES} characters"));
    }
    if cmd.photos.len() > MAX_PHOTOS {
        v.add("photos", format!("at most {MAX_PHOTOS} photos"));
    } else if !cmd.photos.iter().all(|p| photos::is_photo_key(p)) {
        v.add(
            "photos",
            "each photo is a lower-case hex SHA-256 from POST /api/v1/photos",
        );
    }
    if let Some(h) = cmd.engine_hours {
        if !h.is_finite() || h < 0.0 {
            v.add("engine_hours", "must be a finite number ≥ 0");
        }
    }
    if let Some(f) = cmd.fuel_pct {
        if !(0.0..=100.0).contains(&f) {
            v.add("fuel_pct", "must be 0-100");
        }
    }
    if let Some(p) = &cmd.position {
        let ll = mobile_shared::wire::LatLon {
            lat: p.lat,
            lon: p.lon,
        };
        if !sites::valid_lat_lon(&ll) {
            v.add(
                "position",
                "latitude must be in [-90, 90] and longitude in [-180, 180]",
            );
        }
        if p.accuracy_m.is_some_and(|a| !a.is_finite() || a < 0.0) {
            v.add("position.accuracy_m", "must be ≥ 0");
        }
    }
    for (field, text) in [
        ("contact", &cmd.contact),
        ("contract_ref", &cmd.contract_ref),
    ] {
        if text.as_ref().is_some_and(|t| t.chars().count() > 200) {
            v.add(field, "must be at most 200 characters");
        }
    }
    match cmd.action {
        FieldAction::Deliver | FieldAction::Return | FieldAction::Transfer
            if cmd.site_id.is_none() =>
        {
            v.add(
                "site_id",
                format!("{} needs a destination site", cmd.action.as_str()),
            );
        }
        FieldAction::Meter if cmd.engine_hours.is_none() => {
            v.add("engine_hours", "a meter reading needs engine_hours");
        }
        FieldAction::Audit if cmd.stocktake_id.is_none() => {
            v.add("stocktake_id", "a stocktake count needs stocktake_id");
        }
        _ => {}
    }
    if cmd.contract_line_id.is_some() && cmd.action != FieldAction::Deliver {
        v.add("contract_line_id", "only a delivery names a contract line");
    }
    if cmd.work_order_id.is_some() && !is_work_order_action(cmd.action) {
        v.add(
            "work_order_id",
            "only start_work and complete_work name a work order",
        );
    }
    v.finish()
}

fn is_work_order_action(action: FieldAction) -> bool {
    matches!(action, FieldAction::StartWork | FieldAction::CompleteWork)
}

/// Current state the rules need that the wire `Asset` does not carry.
#[derive(sqlx::FromRow)]
struct FieldState {
    field_at: Option<DateTime<Utc>>,
    hours_at: Option<DateTime<Utc>>,
}

async fn lock_state(tx: &mut Tx, asset_id: Uuid) -> Result<FieldState, DomainError> {
    let sql = format!(
        "SELECT field_at, hours_at FROM assets WHERE id = $1{}",
        tx.row_lock(RowLock::Update)
    );
    Ok(on_tx!(tx, |c| sqlx::query_as(&sql)
        .bind(asset_id)
        .fetch_one(&mut *c)
        .await)?)
}

async fn site_kind(tx: &mut Tx, site_id: Uuid) -> Result<Option<SiteKind>, DomainError> {
    let kind: Option<String> = on_tx!(tx, |c| sqlx::query_scalar(
        "SELECT kind FROM sites WHERE id = $1"
    )
    .bind(site_id)
    .fetch_optional(&mut *c)
    .await)?;
    Ok(kind.as_deref().and_then(SiteKind::parse))
}

/// The stored answer for a command id, if it was seen before (as `duplicate`).
pub async fn stored(store: &Store, id: Uuid) -> Result<Option<CommandResult>, DomainError> {
    let row: Option<Json<CommandResult>> = on_read!(store, |p| sqlx::query_scalar(
        "SELECT result FROM scan_events WHERE id = $1"
    )
    .bind(id)
    .fetch_optional(p)
    .await)?;
    Ok(row.map(|j| CommandResult {
        status: CommandStatus::Duplicate,
        ..j.0
    }))
}

/// Finds which asset a command is about: by id, by scanned code, or by texts decoded from a
/// photo. Runs before the command's transaction opens: resolving reads through the pool, and a
/// transaction that holds one connection while waiting for another starves the pool once as
/// many commands run at once as it has connections (measured on PostgreSQL: 16 concurrent scans
/// against a pool of 8 all timed out).
async fn locate(
    store: &Store,
    cmd: &FieldCommand,
    decoded: &[String],
) -> Result<Uuid, DomainError> {
    if let Some(id) = cmd.asset_id {
        return Ok(id);
    }
    let texts: Vec<&str> = match &cmd.code {
        Some(code) => vec![code.as_str()],
        None => decoded.iter().map(String::as_str).collect(),
    };
    if texts.is_empty() {
        return Err(DomainError::field(
            "code",
            "give the scanned code, the asset_id, or a photo of the label",
        ));
    }
    let mut last = DomainError::not_found(Entity::Asset);
    for t in texts {
        match identifiers::resolve(store, t).await {
            Ok(r) => return Ok(r.asset.id),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// Loads the located asset inside the command's transaction.
async fn load_target(tx: &mut Tx, target: Result<Uuid, DomainError>) -> Result<Asset, DomainError> {
    assets::load(tx, target?).await
}

/// Applies one command. `decoded` are texts read from an uploaded photo (used when the command
/// has no code and no asset id); `extra_photos` are photos uploaded with the command.
pub async fn apply(
    store: &Store,
    policy: &Policy,
    actor: &Actor,
    cmd: &FieldCommand,
    decoded: Option<Vec<String>>,
    extra_photos: Vec<String>,
) -> Result<CommandResult, DomainError> {
    if let Some(prev) = stored(store, cmd.id).await? {
        return Ok(prev);
    }
    let now = clock::now();
    let decoded_list = decoded.clone().unwrap_or_default();
    let mut photo_keys = cmd.photos.clone();
    for p in extra_photos {
        if !photo_keys.contains(&p) {
            photo_keys.push(p);
        }
    }
    let target = locate(store, cmd, &decoded_list).await;
    let located = target.as_ref().ok().copied();
    let mut tx = store.begin().await?;
    let mut work_order = None;
    let mut on_hire = None;
    // The asset the command turned out to be about (also when found from a decoded photo).
    let mut found: Option<Uuid> = None;
    let outcome = match validate(cmd, policy, now) {
        Err(e) => Err(refusal(e)?),
        Ok(()) => match load_target(&mut tx, target).await {
            Err(e) => Err(refusal(e)?),
            Ok(asset) => {
                found = Some(asset.id);
                let missing = photos::missing(&mut tx, &photo_keys).await?;
                if !missing.is_empty() {
                    Err(Refusal::new(
                        ErrorCode::UnknownPhoto,
                        format!("upload these photos first: {}", missing.join(", ")),
                    ))
                } else {
                    match act(&mut tx, actor, cmd, &asset, &photo_keys, now).await {
                        Ok(acted) => {
                            work_order = acted.work_order;
                            on_hire = acted.on_hire;
                            Ok(acted.asset)
                        }
                        Err(e) => Err(refusal(e)?),
                    }
                }
            }
        },
    };
    let (result, asset_id) = match outcome {
        Ok(asset) => (
            CommandResult {
                id: cmd.id,
                status: CommandStatus::Applied,
                asset: Some(asset.clone()),
                error: None,
                decoded: decoded.clone(),
                photos: photo_keys.clone(),
                work_order,
                on_hire,
            },
            Some(asset.id),
        ),
        Err(r) => {
            // Whatever the action wrote before it was refused is undone (a work-order action
            // may refuse after its first writes): only the record of the refusal is kept.
            drop(tx);
            tx = store.begin().await?;
            // A refused command still answers with the asset's current state when known.
            let current = match found.or(cmd.asset_id).or(located) {
                Some(id) => assets::load(&mut tx, id).await.ok(),
                None => None,
            };
            (
                CommandResult {
                    id: cmd.id,
                    status: CommandStatus::Rejected,
                    asset: current.clone(),
                    error: Some(CommandError {
                        error: r.code,
                        message: r.message,
                        fields: r.fields,
                        detail: r.detail,
                    }),
                    decoded: decoded.clone(),
                    photos: vec![],
                    work_order: None,
                    on_hire: None,
                },
                current.map(|a| a.id),
            )
        }
    };
    let inserted = record_event(&mut tx, actor, cmd, &result, asset_id, now).await;
    match inserted {
        Ok(()) => {}
        Err(e) if e.code() == ErrorCode::AlreadyExists => {
            // Another request with the same id committed first: answer with its result.
            drop(tx);
            return stored(store, cmd.id)
                .await?
                .ok_or_else(|| DomainError::Internal("command vanished".into()));
        }
        Err(e) => return Err(e),
    }
    if result.status == CommandStatus::Applied {
        for key in &photo_keys {
            on_tx!(
                &mut tx,
                execute(
                    sqlx::query(
                        "INSERT INTO scan_event_photos (scan_id, sha256) VALUES ($1, $2) \
                 ON CONFLICT DO NOTHING"
                    )
                    .bind(cmd.id)
                    .bind(key)
                )
            )?;
        }
    }
    tx.commit().await?;
    Ok(result)
}

async fn record_event(
    tx: &mut Tx,
    actor: &Actor,
    cmd: &FieldCommand,
    result: &CommandResult,
    asset_id: Option<Uuid>,
    now: DateTime<Utc>,
) -> Result<(), DomainError> {
    let status = match result.status {
        CommandStatus::Rejected => "rejected",
        _ => "applied",
    };
    let sql =
        "INSERT INTO scan_events (id, action, asset_id, status, error, actor_user_id, actor, \
               device_time, server_time, lat, lon, accuracy_m, site_id, command, result) \
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)";
    // The site column records only sites that exist (a refused command may name a bad one).
    let site_id = match cmd.site_id {
        Some(s) if site_kind(tx, s).await?.is_some() => Some(s),
        _ => None,
    };
    on_tx!(
        tx,
        execute(
            sqlx::query(sql)
                .bind(cmd.id)
                .bind(cmd.action.as_str())
                .bind(asset_id)
                .bind(status)
                .bind(result.error.as_ref().map(|e| e.error.as_str()))
                .bind(actor.user_id)
                .bind(&actor.name)
                .bind(cmd.device_time)
                .bind(now)
                .bind(cmd.position.map(|p| p.lat))
                .bind(cmd.position.map(|p| p.lon))
                .bind(cmd.position.and_then(|p| p.accuracy_m))
                .bind(site_id)
                .bind(Json(cmd))
                .bind(Json(result))
        )
    )?;
    Ok(())
}

/// What an applied action leaves: the asset after it, the work order it worked on or opened,
/// the on-hire period it opened or closed.
struct Acted {
    asset: Asset,
    work_order: Option<WorkOrder>,
    on_hire: Option<OnHirePeriod>,
}

/// The action itself. `photos` are the command's, known to be uploaded.
async fn act(
    tx: &mut Tx,
    actor: &Actor,
    cmd: &FieldCommand,
    before: &Asset,
    photos: &[String],
    now: DateTime<Utc>,
) -> Result<Acted, DomainError> {
    // The asset row first, then any work order (the lock order in `maintenance::orders`).
    let state = lock_state(tx, before.id).await?;
    // The work order moves the asset's status itself (into maintenance, or back), so it goes
    // first and the re-read below sees its result.
    let mut work_order = None;
    if is_work_order_action(cmd.action) {
        work_order = Some(field::work_in(tx, actor, cmd, before.id, photos).await?);
    }
    // `before` was read before the row lock: on PostgreSQL another command on this asset may
    // have committed since. Re-read it under the lock, or the UPDATE below would write back the
    // stale status, site, hours and position (a lost update) and the rules would check them.
    let before = &assets::load(tx, before.id).await?;
    let mut next = before.clone();
    let mut field_at = state.field_at;
    let mut hours_at = state.hours_at;
    let mut period = None;

    if cmd.action.changes_state() {
        if let Some(at) = state.field_at {
            // Strictly older only: equal device times are applied in arrival order.
            if cmd.device_time < at {
                return Err(DomainError::conflict(
                    ErrorCode::Superseded,
                    format!(
                        "a newer field action ({at}) already changed this asset; this {} from {} is kept as history only",
                        cmd.action.as_str(),
                        cmd.device_time
                    ),
                ));
            }
        }
        let site = cmd.site_id.unwrap_or_default();
        let kind = site_kind(tx, site)
            .await?
            .ok_or_else(|| DomainError::field("site_id", "no such site"))?;
        match cmd.action {
            FieldAction::Deliver => {
                if kind != SiteKind::CustomerSite {
                    return Err(DomainError::field("site_id", "deliver to a customer site"));
                }
                require_status(before, &[AssetStatus::Available], AssetStatus::OnRent)?;
                next.status = AssetStatus::OnRent;
                period = on_hire::start_on_delivery(tx, actor, cmd, before, site).await?;
            }
            FieldAction::Return => {
                if kind == SiteKind::CustomerSite {
                    return Err(DomainError::field(
                        "site_id",
                        "return to a depot or workshop",
                    ));
                }
                let failed = on_hire::inspection_failed(cmd);
                let target = if failed {
                    AssetStatus::InMaintenance
                } else {
                    AssetStatus::Available
                };
                require_status(before, &[AssetStatus::OnRent], target)?;
                next.status = target;
                period = on_hire::end_on_return(tx, actor, cmd, before.id, photos).await?;
            }
            FieldAction::Transfer => {
                if kind == SiteKind::CustomerSite {
                    return Err(DomainError::field(
                        "site_id",
                        "a transfer goes to a depot or workshop; use deliver for customers",
                    ));
                }
                require_status(
                    before,
                    &[
                        AssetStatus::Available,
                        AssetStatus::InMaintenance,
                        AssetStatus::OutOfService,
                    ],
                    before.status,
                )?;
            }
            _ => {}
        }
        next.site_id = Some(site);
        field_at = Some(cmd.device_time);
    }

    if let Some(h) = cmd.engine_hours {
        let newer = hours_at.is_none_or(|at| cmd.device_time > at);
        let not_lower = before.engine_hours.is_none_or(|cur| h >= cur);
        if newer && not_lower {
            next.engine_hours = Some(h);
            hours_at = Some(cmd.device_time);
        }
    }
    if let Some(p) = cmd.position {
        if before
            .position
            .as_ref()
            .is_none_or(|pos| cmd.device_time > pos.at)
        {
            next.position = Some(mobile_shared::wire::Position {
                lat: p.lat,
                lon: p.lon,
                at: cmd.device_time,
                source: mobile_shared::wire::PositionSource::Scan,
            });
        }
    }
    if cmd.action == FieldAction::Audit {
        let st = cmd.stocktake_id.unwrap_or_default();
        stocktake::record_seen_in_tx(tx, st, before.id, &actor.name, cmd.device_time).await?;
    }
    on_hire::inspection_damage(tx, actor, cmd, before.id, photos).await?;

    let changed = next.status != before.status
        || next.site_id != before.site_id
        || next.engine_hours != before.engine_hours
        || next.position != before.position;
    if !changed && field_at == state.field_at {
        return Ok(Acted {
            asset: next,
            work_order,
            on_hire: period,
        });
    }
    // The map cell goes with the position; a meter reading that rose is use (the heat map's
    // idle rule), as it is when a tracker reports it.
    let sql = "UPDATE assets SET status = $1, site_id = $2, engine_hours = $3, hours_at = $4, \
               pos_lat = $5, pos_lon = $6, pos_at = $7, pos_source = $8, field_at = $9, \
               version = version + 1, updated_at = $10, map_cell = $12, \
               used_at = COALESCE($13, used_at) WHERE id = $11";
    let pos = next.position.as_ref();
    let used_at = matches!((before.engine_hours, next.engine_hours), (Some(b), Some(a)) if a > b)
        .then_some(cmd.device_time);
    on_tx!(
        tx,
        execute(
            sqlx::query(sql)
                .bind(next.status.as_str())
                .bind(next.site_id)
                .bind(next.engine_hours)
                .bind(hours_at)
                .bind(pos.map(|p| p.lat))
                .bind(pos.map(|p| p.lon))
                .bind(pos.map(|p| p.at))
                .bind(pos.map(|p| p.source.as_str()))
                .bind(field_at)
                .bind(now)
                .bind(before.id)
                .bind(pos.map(|p| mobile_shared::geo_cell::cell_of(p.lat, p.lon)))
                .bind(used_at)
        )
    )?;
    let after = assets::load(tx, before.id).await?;
    let change = Change::action(
        format!("scan.{}", cmd.action.as_str()),
        Entity::Asset,
        before.id,
    )
    .before(before)
    .after(&after);
    audit::record(tx, actor, change).await?;
    if cmd.action == FieldAction::Return && after.status == AssetStatus::InMaintenance {
        work_order = Some(field::failed_return_in(tx, actor, cmd, after.id, photos).await?);
    }
    Ok(Acted {
        asset: after,
        work_order,
        on_hire: period,
    })
}

/// 409 with the current state unless the asset is in one of `from` (and may become `to`).
fn require_status(asset: &Asset, from: &[AssetStatus], to: AssetStatus) -> Result<(), DomainError> {
    if from.contains(&asset.status) && asset.status.can_become(to) {
        return Ok(());
    }
    Err(DomainError::conflict_with(
        ErrorCode::IllegalTransition,
        format!(
            "the asset is {}; this action needs it to be {}",
            asset.status,
            from.iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(" or ")
        ),
        json!({ "current_status": asset.status }),
    ))
}

/// Applies a batch of queued commands in device-time order and answers in the order given.
pub async fn apply_batch(
    store: &Store,
    policy: &Policy,
    actor: &Actor,
    commands: &[FieldCommand],
) -> Result<Vec<CommandResult>, DomainError> {
    if commands.is_empty() || commands.len() > MAX_BATCH {
        return Err(DomainError::field(
            "commands",
            format!("send 1-{MAX_BATCH} commands"),
        ));
    }
    let mut order: Vec<usize> = (0..commands.len()).collect();
    // Stable: commands with equal device times keep the phone's order.
    order.sort_by_key(|&i| commands[i].device_time);
    let mut results: Vec<Option<CommandResult>> = vec![None; commands.len()];
    for i in order {
        results[i] = Some(apply(store, policy, actor, &commands[i], None, vec![]).await?);
    }
    Ok(results.into_iter().flatten().collect())
}

/// (command, result, actor, server time) of one recorded command.
type HistoryRow = (
    Json<FieldCommand>,
    Json<CommandResult>,
    String,
    DateTime<Utc>,
);

/// Field history of an asset, newest first.
pub async fn history(
    store: &Store,
    asset_id: Uuid,
    limit: u32,
) -> Result<Vec<serde_json::Value>, DomainError> {
    assets::get(store, asset_id).await?;
    let rows: Vec<HistoryRow> = on_read!(store, |p| sqlx::query_as(
        "SELECT command, result, actor, server_time FROM scan_events WHERE asset_id = $1 \
             ORDER BY device_time DESC LIMIT $2"
    )
    .bind(asset_id)
    .bind(i64::from(limit.clamp(1, 1000)))
    .fetch_all(p)
    .await)?;
    Ok(rows
        .into_iter()
        .map(|(c, r, actor, server_time)| {
            json!({
                "command": c.0,
                "status": r.0.status,
                "error": r.0.error,
                "actor": actor,
                "server_time": server_time,
            })
        })
        .collect())
}
