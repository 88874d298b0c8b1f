//! Ingest's set-based statements for PostgreSQL: one statement per step and batch, with the
//! batch passed as arrays (`= ANY($1)`, `UNNEST(...)`). The SQL text is the same for every batch
//! size, so each statement is prepared once per connection; a multi-row `VALUES` list has a new
//! text (and a fresh parse and plan of thousands of parameters) for every batch size.
//!
//! Rows are locked in one global order — devices by `device_id` bytes, then assets by id — so two
//! gateways on a shared subscription never deadlock and never both compute from the same state.
//! Assets are locked `FOR NO KEY UPDATE` (what an UPDATE of non-key columns takes): it still
//! excludes every other writer of the row, but not an insert elsewhere that merely references
//! the asset (`FOR KEY SHARE`, e.g. the clock's sweep opening a work order), which would
//! otherwise wait for the batch while the batch waits for the sweep's order of the same
//! occurrence.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use super::{AssetState, DeviceRow, DeviceUpdate, Row, Usage};
use crate::error::DomainError;

pub(super) async fn load_devices(
    c: &mut PgConnection,
    names: &[&str],
) -> Result<Vec<DeviceRow>, DomainError> {
    // Ignition hours and `last_ts` are computed from this row: two gateways holding readings of
    // the same device must not both start from the same state (the interval would count twice,
    // `last_ts` could go back).
    let rows = sqlx::query_as(
        r#"SELECT id, device_id, asset_id, last_ts, last_ignition, has_hour_meter, status_at
           FROM devices WHERE device_id = ANY($1)
           ORDER BY device_id COLLATE "C" FOR UPDATE"#,
    )
    .bind(names)
    .fetch_all(&mut *c)
    .await?;
    Ok(rows)
}

pub(super) async fn load_assets(
    c: &mut PgConnection,
    ids: &[Uuid],
) -> Result<Vec<AssetState>, DomainError> {
    // Locked before any reading is inserted, in id order: the same lock order in every
    // transaction.
    let rows = sqlx::query_as(
        "SELECT a.id, a.site_id, a.pos_lat, a.pos_lon, a.pos_at, a.pos_source, a.engine_hours, \
         a.hours_at, a.odometer_km, a.odometer_at, a.last_seen_at, a.geofence_site_id, \
         a.map_cell, a.used_at, a.hours_flagged, a.odometer_flagged, t.hours_opens_at, \
         t.km_opens_at, a.tracker_id, a.tracker_seen_at, a.tracker_offline_cause, \
         a.fence_exit_at, a.fence_exit_site_id FROM assets a \
         LEFT JOIN maintenance_thresholds t ON t.asset_id = a.id \
         WHERE a.id = ANY($1) ORDER BY a.id FOR NO KEY UPDATE OF a",
    )
    .bind(ids)
    .fetch_all(&mut *c)
    .await?;
    Ok(rows)
}

pub(super) async fn insert_readings(
    c: &mut PgConnection,
    rows: &[Row<'_>],
) -> Result<HashSet<(Uuid, DateTime<Utc>)>, DomainError> {
    if rows.is_empty() {
        return Ok(HashSet::new());
    }
    let col = |f: fn(&Row<'_>) -> Option<f64>| rows.iter().map(f).collect::<Vec<_>>();
    let keys: Vec<(Uuid, DateTime<Utc>)> = sqlx::query_as(
        "INSERT INTO telemetry (device_id, ts, asset_id, lat, lon, accuracy_m, speed_kmh, \
         heading_deg, altitude_m, hdop, engine_hours, odometer_km, ignition, battery_v, \
         battery_pct, received_at) \
         SELECT * FROM UNNEST($1::uuid[], $2::timestamptz[], $3::uuid[], $4::float8[], \
         $5::float8[], $6::float8[], $7::float8[], $8::float8[], $9::float8[], $10::float8[], \
         $11::float8[], $12::float8[], $13::bool[], $14::float8[], $15::float8[], \
         $16::timestamptz[]) \
         ON CONFLICT (device_id, ts) DO NOTHING RETURNING device_id, ts",
    )
    .bind(rows.iter().map(|r| r.device).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.ts).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.asset).collect::<Vec<_>>())
    .bind(col(|r| r.r.lat))
    .bind(col(|r| r.r.lon))
    .bind(col(|r| r.r.accuracy_m))
    .bind(col(|r| r.r.speed_kmh))
    .bind(col(|r| r.r.heading_deg))
    .bind(col(|r| r.r.altitude_m))
    .bind(col(|r| r.r.hdop))
    .bind(col(|r| r.r.engine_hours))
    .bind(col(|r| r.r.odometer_km))
    .bind(rows.iter().map(|r| r.r.ignition).collect::<Vec<_>>())
    .bind(col(|r| r.r.battery_v))
    .bind(col(|r| r.r.battery_pct))
    .bind(rows.iter().map(|r| r.received_at).collect::<Vec<_>>())
    .fetch_all(&mut *c)
    .await?;
    Ok(keys.into_iter().collect())
}

pub(super) async fn write_assets(
    c: &mut PgConnection,
    states: &[AssetState],
) -> Result<(), DomainError> {
    if states.is_empty() {
        return Ok(());
    }
    let f = |g: fn(&AssetState) -> Option<f64>| states.iter().map(g).collect::<Vec<_>>();
    let t = |g: fn(&AssetState) -> Option<DateTime<Utc>>| states.iter().map(g).collect::<Vec<_>>();
    sqlx::query(
        "UPDATE assets SET pos_lat = v.pos_lat, pos_lon = v.pos_lon, pos_at = v.pos_at, \
         pos_source = v.pos_source, engine_hours = v.engine_hours, hours_at = v.hours_at, \
         odometer_km = v.odometer_km, odometer_at = v.odometer_at, \
         last_seen_at = v.last_seen_at, geofence_site_id = v.geofence_site_id, \
         hours_flagged = v.hours_flagged, odometer_flagged = v.odometer_flagged, \
         map_cell = v.map_cell, used_at = v.used_at, \
         tracker_id = v.tracker_id, tracker_seen_at = v.tracker_seen_at, \
         tracker_offline_cause = v.tracker_offline_cause, fence_exit_at = v.fence_exit_at, \
         fence_exit_site_id = v.fence_exit_site_id \
         FROM UNNEST($1::uuid[], $2::float8[], $3::float8[], $4::timestamptz[], $5::text[], \
         $6::float8[], $7::timestamptz[], $8::float8[], $9::timestamptz[], $10::timestamptz[], \
         $11::uuid[], $12::bool[], $13::bool[], $14::int8[], $15::timestamptz[], $16::uuid[], \
         $17::timestamptz[], $18::text[], $19::timestamptz[], $20::uuid[]) \
         AS v(id, pos_lat, pos_lon, pos_at, pos_source, engine_hours, hours_at, odometer_km, \
         odometer_at, last_seen_at, geofence_site_id, hours_flagged, odometer_flagged, \
         map_cell, used_at, tracker_id, tracker_seen_at, tracker_offline_cause, fence_exit_at, \
         fence_exit_site_id) \
         WHERE assets.id = v.id",
    )
    .bind(states.iter().map(|s| s.id).collect::<Vec<_>>())
    .bind(f(|s| s.pos_lat))
    .bind(f(|s| s.pos_lon))
    .bind(t(|s| s.pos_at))
    .bind(
        states
            .iter()
            .map(|s| s.pos_source.clone())
            .collect::<Vec<_>>(),
    )
    .bind(f(|s| s.engine_hours))
    .bind(t(|s| s.hours_at))
    .bind(f(|s| s.odometer_km))
    .bind(t(|s| s.odometer_at))
    .bind(t(|s| s.last_seen_at))
    .bind(
        states
            .iter()
            .map(|s| s.geofence_site_id)
            .collect::<Vec<_>>(),
    )
    .bind(states.iter().map(|s| s.hours_flagged).collect::<Vec<_>>())
    .bind(
        states
            .iter()
            .map(|s| s.odometer_flagged)
            .collect::<Vec<_>>(),
    )
    .bind(states.iter().map(|s| s.map_cell).collect::<Vec<_>>())
    .bind(t(|s| s.used_at))
    .bind(states.iter().map(|s| s.tracker_id).collect::<Vec<_>>())
    .bind(t(|s| s.tracker_seen_at))
    .bind(
        states
            .iter()
            .map(|s| s.tracker_offline_cause.clone())
            .collect::<Vec<_>>(),
    )
    .bind(t(|s| s.fence_exit_at))
    .bind(
        states
            .iter()
            .map(|s| s.fence_exit_site_id)
            .collect::<Vec<_>>(),
    )
    .execute(&mut *c)
    .await?;
    Ok(())
}

pub(super) async fn write_usage(c: &mut PgConnection, usage: &[Usage]) -> Result<(), DomainError> {
    if usage.is_empty() {
        return Ok(());
    }
    let f = |g: fn(&Usage) -> Option<f64>| usage.iter().map(g).collect::<Vec<_>>();
    // LEAST/GREATEST skip NULLs, so a day's first meter value stays until a lower one comes.
    sqlx::query(
        "INSERT INTO asset_usage_daily (asset_id, day, map_cell, hours_lo, hours_hi, km_lo, km_hi) \
         SELECT * FROM UNNEST($1::uuid[], $2::date[], $3::int8[], $4::float8[], $5::float8[], \
         $6::float8[], $7::float8[]) \
         ON CONFLICT (asset_id, day) DO UPDATE SET \
         map_cell = COALESCE(excluded.map_cell, asset_usage_daily.map_cell), \
         hours_lo = LEAST(asset_usage_daily.hours_lo, excluded.hours_lo), \
         hours_hi = GREATEST(asset_usage_daily.hours_hi, excluded.hours_hi), \
         km_lo = LEAST(asset_usage_daily.km_lo, excluded.km_lo), \
         km_hi = GREATEST(asset_usage_daily.km_hi, excluded.km_hi)",
    )
    .bind(usage.iter().map(|u| u.asset).collect::<Vec<_>>())
    .bind(usage.iter().map(|u| u.day).collect::<Vec<_>>())
    .bind(usage.iter().map(|u| u.map_cell).collect::<Vec<_>>())
    .bind(f(|u| u.hours_lo))
    .bind(f(|u| u.hours_hi))
    .bind(f(|u| u.km_lo))
    .bind(f(|u| u.km_hi))
    .execute(&mut *c)
    .await?;
    Ok(())
}

pub(super) async fn write_devices(
    c: &mut PgConnection,
    updates: &[DeviceUpdate],
) -> Result<(), DomainError> {
    if updates.is_empty() {
        return Ok(());
    }
    // Receiving telemetry means the device is online.
    sqlx::query(
        "UPDATE devices SET last_seen_at = v.last_seen_at, last_ts = v.last_ts, \
         last_ignition = v.last_ignition, has_hour_meter = v.has_hour_meter, online = true, \
         offline_cause = NULL FROM UNNEST($1::uuid[], $2::timestamptz[], $3::timestamptz[], $4::bool[], $5::bool[]) \
         AS v(id, last_seen_at, last_ts, last_ignition, has_hour_meter) \
         WHERE devices.id = v.id",
    )
    .bind(updates.iter().map(|d| d.id).collect::<Vec<_>>())
    .bind(updates.iter().map(|d| d.last_seen_at).collect::<Vec<_>>())
    .bind(updates.iter().map(|d| d.last_ts).collect::<Vec<_>>())
    .bind(updates.iter().map(|d| d.last_ignition).collect::<Vec<_>>())
    .bind(updates.iter().map(|d| d.has_hour_meter).collect::<Vec<_>>())
    .execute(&mut *c)
    .await?;
    Ok(())
}
