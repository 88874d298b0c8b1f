//! Position history: an asset's track, read from the readings of every tracker ever bound to it.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::error::DomainError;
use crate::store::{on_read, Store};

/// One point of an asset's position history.
#[derive(Debug, Clone, PartialEq, serde::Serialize, sqlx::FromRow)]
#[cfg_attr(test, derive(serde::Deserialize))]
pub struct PositionPoint {
    pub ts: DateTime<Utc>,
    pub lat: f64,
    pub lon: f64,
    pub speed_kmh: Option<f64>,
    pub heading_deg: Option<f64>,
    pub accuracy_m: Option<f64>,
}

/// Position history of an asset between two times, oldest first, at most `limit` points.
pub async fn positions(
    store: &Store,
    asset_id: Uuid,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    limit: u32,
) -> Result<Vec<PositionPoint>, DomainError> {
    crate::assets::get(store, asset_id).await?;
    // History is indexed by (device, time) only (migrations 0005): read it for each device
    // ever bound to the asset, keeping the readings taken while bound to it.
    let sql = "SELECT ts, lat, lon, speed_kmh, heading_deg, accuracy_m FROM telemetry \
               WHERE device_id IN (SELECT device_id FROM device_bindings WHERE asset_id = $1) \
               AND asset_id = $1 AND ts >= $2 AND ts < $3 AND lat IS NOT NULL AND lon IS NOT NULL \
               ORDER BY ts LIMIT $4";
    let rows = on_read!(store, |p| sqlx::query_as(sql)
        .bind(asset_id)
        .bind(from)
        .bind(to)
        .bind(i64::from(limit))
        .fetch_all(p)
        .await)?;
    Ok(rows)
}
