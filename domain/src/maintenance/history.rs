//! Services done: recording one re-anchors the asset's counting under the plan. The occurrence
//! (and with it the nested service performed, and the fixed-grid occurrences skipped) is what
//! the forecast said was next when the service was done, so a record and the forecast before it
//! always agree.

use chrono::{DateTime, Duration, SubsecRound, Utc};
use mobile_shared::maintenance::{forecast, Anchoring, NewServiceRecord, ServiceRecord, Usage};
use mobile_shared::ErrorCode;
use serde_json::json;
use uuid::Uuid;

use crate::actor::Actor;
use crate::audit::Change;
use crate::clock;
use crate::entity::Entity;
use crate::error::{DomainError, Validator};
use crate::store::{on_tx, Store, Tx};

use super::{plans, triggers};

/// How far ahead of the server clock a stated `done_at` may be (a phone's clock).
const MAX_CLOCK_SKEW: Duration = Duration::minutes(10);

#[derive(sqlx::FromRow)]
struct Latest {
    occurrence: i32,
    at: DateTime<Utc>,
    engine_hours: Option<f64>,
    odometer_km: Option<f64>,
}

#[derive(sqlx::FromRow)]
struct RecordRow {
    occurrence: i32,
    service: Option<String>,
    skipped: i32,
    at: DateTime<Utc>,
    engine_hours: Option<f64>,
    odometer_km: Option<f64>,
    recorded_at: DateTime<Utc>,
}

/// 409 `service_already_recorded` with the record that exists.
async fn already_recorded(
    tx: &mut Tx,
    asset_id: Uuid,
    plan_id: Uuid,
    occurrence: i32,
) -> Result<DomainError, DomainError> {
    let sql = "SELECT occurrence, service, skipped, at, engine_hours, odometer_km, recorded_at \
               FROM maintenance_history WHERE asset_id = $1 AND plan_id = $2 AND occurrence = $3";
    let row: Option<RecordRow> = on_tx!(tx, |c| sqlx::query_as(sql)
        .bind(asset_id)
        .bind(plan_id)
        .bind(occurrence)
        .fetch_optional(c)
        .await)?;
    let record = row.map(|r| ServiceRecord {
        asset_id,
        plan_id,
        occurrence: u32::try_from(r.occurrence).unwrap_or(0),
        service: r.service.unwrap_or_default(),
        skipped: u32::try_from(r.skipped).unwrap_or(0),
        done_at: r.at,
        engine_hours: r.engine_hours,
        odometer_km: r.odometer_km,
        recorded_at: r.recorded_at,
    });
    Ok(DomainError::conflict_with(
        ErrorCode::ServiceAlreadyRecorded,
        format!("occurrence {occurrence} of this plan is already recorded for the asset"),
        json!({ "record": record }),
    ))
}

#[derive(sqlx::FromRow)]
struct Meters {
    engine_hours: Option<f64>,
    odometer_km: Option<f64>,
}

/// Records a service done on `asset_id` under `new.plan_id`, in its own transaction.
pub async fn record_service(
    store: &Store,
    actor: &Actor,
    asset_id: Uuid,
    new: NewServiceRecord,
) -> Result<ServiceRecord, DomainError> {
    let mut tx = store.begin().await?;
    let record = record_service_in(&mut tx, asset_id, new, clock::now()).await?;
    tx.commit_audited(
        actor,
        Change::action(
            "maintenance_plan.service_done",
            Entity::MaintenancePlan,
            record.plan_id,
        )
        .after(&record),
    )
    .await?;
    Ok(record)
}

/// [`record_service`] inside the caller's transaction (a work order completing), unaudited:
/// the caller's audit entry covers it.
pub(crate) async fn record_service_in(
    tx: &mut Tx,
    asset_id: Uuid,
    new: NewServiceRecord,
    now: DateTime<Utc>,
) -> Result<ServiceRecord, DomainError> {
    // The asset row is locked so two records for one asset are serialised (PostgreSQL; SQLite
    // has one writer): each sees the other's occurrence.
    tx.lock_row("assets", asset_id).await?;
    let sql = "SELECT engine_hours, odometer_km FROM assets \
               WHERE id = $1 AND deleted_at IS NULL";
    let asset: Meters = on_tx!(tx, |c| sqlx::query_as(sql)
        .bind(asset_id)
        .fetch_optional(c)
        .await)?
    .ok_or(DomainError::not_found(Entity::Asset))?;
    let plan = plans::load(tx, new.plan_id).await?;
    // The one rule of which plans apply (an asset's own replace its category's).
    let applies = plans::applies(tx, &plan, asset_id).await?;
    let mut v = Validator::new();
    if !applies {
        v.add("plan_id", "the plan does not apply to this asset");
    }
    // Microseconds, what PostgreSQL keeps: a retry's `done_at` must compare equal to the
    // stored one on both backends.
    let done_at = new.done_at.unwrap_or(now).trunc_subsecs(6);
    if done_at > now + MAX_CLOCK_SKEW {
        v.add("done_at", "is in the future");
    }
    for (field, value) in [
        ("engine_hours", new.engine_hours),
        ("odometer_km", new.odometer_km),
    ] {
        if value.is_some_and(|x| !x.is_finite() || x < 0.0) {
            v.add(field, "must be a number ≥ 0");
        }
    }
    let sql = "SELECT occurrence, at, engine_hours, odometer_km FROM maintenance_history \
               WHERE asset_id = $1 AND plan_id = $2 ORDER BY occurrence DESC LIMIT 1";
    let latest: Option<Latest> = on_tx!(tx, |c| sqlx::query_as(sql)
        .bind(asset_id)
        .bind(plan.id)
        .fetch_optional(c)
        .await)?;
    if let Some(latest) = &latest {
        // The same service sent again (a phone's retry) names the same instant: it is the
        // record that exists, not a second service.
        if done_at == latest.at && latest.occurrence > 0 {
            return Err(already_recorded(tx, asset_id, plan.id, latest.occurrence).await?);
        }
        // A service done before the plan's baseline (logged late) is fine: it becomes the
        // anchor. Before a service already recorded, it would rewrite history.
        if done_at < latest.at && latest.occurrence > 0 {
            v.add(
                "done_at",
                format!(
                    "is before the plan's previous service for this asset ({})",
                    latest.at
                ),
            );
        }
    }
    v.finish()?;
    // The plan counts from this service now: the threshold ingest held is the old count's.
    triggers::forget_in(tx, asset_id, Some(plan.id)).await?;

    let engine_hours = new.engine_hours.or(asset.engine_hours);
    let odometer_km = new.odometer_km.or(asset.odometer_km);
    let anchoring = latest
        .map(|l| Anchoring {
            at: l.at,
            engine_hours: l.engine_hours,
            odometer_km: l.odometer_km,
            occurrence: u32::try_from(l.occurrence).unwrap_or(0),
        })
        // No baseline yet (the asset joined the category since the plan was made): counting
        // starts here, as the forecast does.
        .unwrap_or(Anchoring {
            at: done_at,
            engine_hours,
            odometer_km,
            occurrence: 0,
        });
    let usage = Usage {
        engine_hours,
        odometer_km,
        ..Usage::default()
    };
    // What the forecast said was next, seen when the service was done.
    let next = forecast(&plan, &anchoring, &usage, done_at.date_naive());
    let record = ServiceRecord {
        asset_id,
        plan_id: plan.id,
        occurrence: next.occurrence,
        service: next.service,
        skipped: next.skipped,
        done_at,
        engine_hours,
        odometer_km,
        recorded_at: now,
    };
    let sql = "INSERT INTO maintenance_history \
               (asset_id, plan_id, occurrence, service, skipped, at, engine_hours, odometer_km, recorded_at) \
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";
    on_tx!(
        tx,
        execute(
            sqlx::query(sql)
                .bind(asset_id)
                .bind(plan.id)
                .bind(i32::try_from(record.occurrence).unwrap_or(i32::MAX))
                .bind(&record.service)
                .bind(i32::try_from(record.skipped).unwrap_or(i32::MAX))
                .bind(record.done_at)
                .bind(record.engine_hours)
                .bind(record.odometer_km)
                .bind(now)
        )
    )
    .map_err(|e| {
        e.unique_as(ErrorCode::ServiceAlreadyRecorded, || {
            format!(
                "occurrence {} of this plan is already recorded for the asset",
                record.occurrence
            )
        })
    })?;
    Ok(record)
}
