//! Ingest's set-based statements for SQLite: multi-row `VALUES` lists, chunked below SQLite's
//! bound-parameter limit. SQLite has one writer (`BEGIN IMMEDIATE`), so nothing is locked row by
//! row here.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use sqlx::{QueryBuilder, Sqlite, SqliteConnection};
use uuid::Uuid;

use super::{AssetState, DeviceRow, DeviceUpdate, Row, Usage, CHUNK};
use crate::error::DomainError;

pub(super) async fn load_devices(
    c: &mut SqliteConnection,
    names: &[&str],
) -> Result<Vec<DeviceRow>, DomainError> {
    let mut out = Vec::with_capacity(names.len());
    for chunk in names.chunks(CHUNK) {
        let mut qb = QueryBuilder::<Sqlite>::new(
            "SELECT id, device_id, asset_id, last_ts, last_ignition, has_hour_meter, status_at \
             FROM devices WHERE device_id IN (",
        );
        let mut sep = qb.separated(", ");
        for n in chunk {
            sep.push_bind(*n);
        }
        qb.push(")");
        out.extend(qb.build_query_as().fetch_all(&mut *c).await?);
    }
    Ok(out)
}

pub(super) async fn load_assets(
    c: &mut SqliteConnection,
    ids: &[Uuid],
) -> Result<Vec<AssetState>, DomainError> {
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(CHUNK) {
        let mut qb = QueryBuilder::<Sqlite>::new(
            "SELECT a.id, a.site_id, a.pos_lat, a.pos_lon, a.pos_at, a.pos_source, \
             a.engine_hours, a.hours_at, a.odometer_km, a.odometer_at, a.last_seen_at, \
             a.geofence_site_id, a.map_cell, a.used_at, a.hours_flagged, a.odometer_flagged, \
             t.hours_opens_at, t.km_opens_at, a.tracker_id, a.tracker_seen_at, \
             a.tracker_offline_cause, a.fence_exit_at, a.fence_exit_site_id FROM assets a \
             LEFT JOIN maintenance_thresholds t ON t.asset_id = a.id WHERE a.id IN (",
        );
        let mut sep = qb.separated(", ");
        for id in chunk {
            sep.push_bind(*id);
        }
        qb.push(") ORDER BY a.id");
        out.extend(qb.build_query_as().fetch_all(&mut *c).await?);
    }
    Ok(out)
}

pub(super) async fn insert_readings(
    c: &mut SqliteConnection,
    rows: &[Row<'_>],
) -> Result<HashSet<(Uuid, DateTime<Utc>)>, DomainError> {
    let mut inserted = HashSet::with_capacity(rows.len());
    for chunk in rows.chunks(CHUNK) {
        let mut qb = QueryBuilder::<Sqlite>::new(
            "INSERT INTO telemetry (device_id, ts, asset_id, lat, lon, accuracy_m, speed_kmh, \
             heading_deg, altitude_m, hdop, engine_hours, odometer_km, ignition, battery_v, \
             battery_pct, received_at) ",
        );
        qb.push_values(chunk, |mut b, row| {
            let r = row.r;
            b.push_bind(row.device)
                .push_bind(row.ts)
                .push_bind(row.asset)
                .push_bind(r.lat)
                .push_bind(r.lon)
                .push_bind(r.accuracy_m)
                .push_bind(r.speed_kmh)
                .push_bind(r.heading_deg)
                .push_bind(r.altitude_m)
                .push_bind(r.hdop)
                .push_bind(r.engine_hours)
                .push_bind(r.odometer_km)
                .push_bind(r.ignition)
                .push_bind(r.battery_v)
                .push_bind(r.battery_pct)
                .push_bind(row.received_at);
        });
        qb.push(" ON CONFLICT (device_id, ts) DO NOTHING RETURNING device_id, ts");
        let keys: Vec<(Uuid, DateTime<Utc>)> = qb.build_query_as().fetch_all(&mut *c).await?;
        inserted.extend(keys);
    }
    Ok(inserted)
}

pub(super) async fn write_assets(
    c: &mut SqliteConnection,
    states: &[AssetState],
) -> Result<(), DomainError> {
    for chunk in states.chunks(CHUNK / 2) {
        let mut qb = QueryBuilder::<Sqlite>::new(
            "WITH v(id, pos_lat, pos_lon, pos_at, pos_source, engine_hours, hours_at, odometer_km, \
             odometer_at, last_seen_at, geofence_site_id, map_cell, used_at, hours_flagged, \
             odometer_flagged, tracker_id, tracker_seen_at, tracker_offline_cause, fence_exit_at, \
             fence_exit_site_id) AS (",
        );
        qb.push_values(chunk, |mut b, s| {
            b.push_bind(s.id)
                .push_bind(s.pos_lat)
                .push_bind(s.pos_lon)
                .push_bind(s.pos_at)
                .push_bind(s.pos_source.clone())
                .push_bind(s.engine_hours)
                .push_bind(s.hours_at)
                .push_bind(s.odometer_km)
                .push_bind(s.odometer_at)
                .push_bind(s.last_seen_at)
                .push_bind(s.geofence_site_id)
                .push_bind(s.map_cell)
                .push_bind(s.used_at)
                .push_bind(s.hours_flagged)
                .push_bind(s.odometer_flagged)
                .push_bind(s.tracker_id)
                .push_bind(s.tracker_seen_at)
                .push_bind(s.tracker_offline_cause.clone())
                .push_bind(s.fence_exit_at)
                .push_bind(s.fence_exit_site_id);
        });
        qb.push(
            ") UPDATE assets SET pos_lat = v.pos_lat, pos_lon = v.pos_lon, pos_at = v.pos_at, \
             pos_source = v.pos_source, engine_hours = v.engine_hours, hours_at = v.hours_at, \
             odometer_km = v.odometer_km, odometer_at = v.odometer_at, \
             last_seen_at = v.last_seen_at, geofence_site_id = v.geofence_site_id, \
             map_cell = v.map_cell, used_at = v.used_at, \
             hours_flagged = v.hours_flagged, odometer_flagged = v.odometer_flagged, \
             tracker_id = v.tracker_id, tracker_seen_at = v.tracker_seen_at, \
             tracker_offline_cause = v.tracker_offline_cause, fence_exit_at = v.fence_exit_at, \
             fence_exit_site_id = v.fence_exit_site_id \
             FROM v WHERE assets.id = v.id AND assets.id IN (",
        );
        // Naming the ids lets the planner drive the update from the primary key.
        let mut ids = qb.separated(", ");
        for st in chunk {
            ids.push_bind(st.id);
        }
        qb.push(")");
        qb.build().execute(&mut *c).await?;
    }
    Ok(())
}

pub(super) async fn write_usage(
    c: &mut SqliteConnection,
    usage: &[Usage],
) -> Result<(), DomainError> {
    for chunk in usage.chunks(CHUNK) {
        let mut qb = QueryBuilder::<Sqlite>::new(
            "INSERT INTO asset_usage_daily (asset_id, day, map_cell, hours_lo, hours_hi, km_lo, \
             km_hi) ",
        );
        qb.push_values(chunk, |mut b, u| {
            b.push_bind(u.asset)
                .push_bind(u.day)
                .push_bind(u.map_cell)
                .push_bind(u.hours_lo)
                .push_bind(u.hours_hi)
                .push_bind(u.km_lo)
                .push_bind(u.km_hi);
        });
        // SQLite's two-argument min()/max() are NULL if either is: COALESCE keeps the known one.
        qb.push(
            " ON CONFLICT (asset_id, day) DO UPDATE SET \
             map_cell = COALESCE(excluded.map_cell, asset_usage_daily.map_cell), \
             hours_lo = min(COALESCE(asset_usage_daily.hours_lo, excluded.hours_lo), \
                            COALESCE(excluded.hours_lo, asset_usage_daily.hours_lo)), \
             hours_hi = max(COALESCE(asset_usage_daily.hours_hi, excluded.hours_hi), \
                            COALESCE(excluded.hours_hi, asset_usage_daily.hours_hi)), \
             km_lo = min(COALESCE(asset_usage_daily.km_lo, excluded.km_lo), \
                         COALESCE(excluded.km_lo, asset_usage_daily.km_lo)), \
             km_hi = max(COALESCE(asset_usage_daily.km_hi, excluded.km_hi), \
                         COALESCE(excluded.km_hi, asset_usage_daily.km_hi))",
        );
        qb.build().execute(&mut *c).await?;
    }
    Ok(())
}

pub(super) async fn write_devices(
    c: &mut SqliteConnection,
    updates: &[DeviceUpdate],
) -> Result<(), DomainError> {
    for chunk in updates.chunks(CHUNK / 2) {
        let mut qb = QueryBuilder::<Sqlite>::new(
            "WITH v(id, last_seen_at, last_ts, last_ignition, has_hour_meter) AS (",
        );
        qb.push_values(chunk, |mut b, d| {
            b.push_bind(d.id)
                .push_bind(d.last_seen_at)
                .push_bind(d.last_ts)
                .push_bind(d.last_ignition)
                .push_bind(d.has_hour_meter);
        });
        // Receiving telemetry means the device is online.
        qb.push(
            ") UPDATE devices SET last_seen_at = v.last_seen_at, last_ts = v.last_ts, \
             last_ignition = v.last_ignition, has_hour_meter = v.has_hour_meter, online = 1, \
             offline_cause = NULL FROM v WHERE devices.id = v.id AND devices.id IN (",
        );
        let mut ids = qb.separated(", ");
        for d in chunk {
            ids.push_bind(d.id);
        }
        qb.push(")");
        qb.build().execute(&mut *c).await?;
    }
    Ok(())
}
