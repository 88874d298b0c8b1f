//! GPS trackers: registration (the MQTT password is shown once and stored only as a hash),
//! binding to assets (with history), and credential checks for the broker.

use chrono::{DateTime, Utc};
use mobile_shared::wire::{Device, DeviceCreated, NewDevice, Page};
use uuid::Uuid;

use crate::actor::Actor;
use crate::error::DomainError;
use crate::pagination::PageRequest;
use crate::store::{Store, Tx};
use crate::{assets, audit, clock, on_read, on_tx, secrets};

#[derive(sqlx::FromRow)]
struct DeviceRow {
    id: Uuid,
    device_id: String,
    asset_id: Option<Uuid>,
    last_seen_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
}

impl From<DeviceRow> for Device {
    fn from(r: DeviceRow) -> Self {
        Device {
            id: r.id,
            device_id: r.device_id,
            asset_id: r.asset_id,
            last_seen_at: r.last_seen_at,
            created_at: r.created_at,
        }
    }
}

const DEVICE_COLUMNS: &str = "id, device_id, asset_id, last_seen_at, created_at";

/// A device id is its MQTT username and its topic level(s): the same rule as the topic parser
/// (`<user>/<device>` is allowed for OwnTracks phones).
pub fn valid_device_id(id: &str) -> bool {
    mobile_shared::telemetry::is_valid_device_id(id)
}

/// Registers a tracker, optionally bound to an asset, and returns its MQTT password once.
pub async fn create(
    store: &Store,
    actor: &Actor,
    new: NewDevice,
) -> Result<DeviceCreated, DomainError> {
    let device_id = new.device_id.trim().to_owned();
    if !valid_device_id(&device_id) {
        return Err(DomainError::field(
            "device_id",
            "must be 1-64 characters: letters, digits and . _ : - (and one / for OwnTracks `user/device`)",
        ));
    }
    let password = secrets::random_token(24);
    let hash = secrets::hash_password(password.clone()).await?;
    let now = clock::now();
    let device = Device {
        id: clock::new_id(),
        device_id,
        asset_id: new.asset_id,
        last_seen_at: None,
        created_at: now,
    };
    let mut tx = store.begin().await?;
    if let Some(asset_id) = new.asset_id {
        assets::load(&mut tx, asset_id).await.map_err(|e| match e {
            DomainError::NotFound { .. } => DomainError::field("asset_id", "no such asset"),
            other => other,
        })?;
    }
    let sql = "INSERT INTO devices (id, device_id, asset_id, mqtt_password_hash, created_at, updated_at) \
               VALUES ($1, $2, $3, $4, $5, $5)";
    on_tx!(&mut tx, |c| sqlx::query(sql)
        .bind(device.id)
        .bind(&device.device_id)
        .bind(device.asset_id)
        .bind(&hash)
        .bind(now)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))
    .map_err(|e| match DomainError::from(e) {
        DomainError::Conflict { .. } => DomainError::Conflict {
            code: "device_exists",
            message: format!("a device `{}` is already registered", device.device_id),
            detail: None,
        },
        other => other,
    })?;
    if let Some(asset_id) = device.asset_id {
        open_binding(&mut tx, device.id, asset_id, now).await?;
    }
    audit::record(
        &mut tx,
        actor,
        "device.create",
        "device",
        device.id,
        None::<&()>,
        Some(&device),
    )
    .await?;
    tx.commit().await?;
    Ok(DeviceCreated {
        mqtt_username: device.device_id.clone(),
        topic_prefix: format!("fieldops/v1/{}/", device.device_id),
        mqtt_password: password,
        device,
    })
}

async fn open_binding(
    tx: &mut Tx,
    device: Uuid,
    asset: Uuid,
    at: DateTime<Utc>,
) -> Result<(), DomainError> {
    on_tx!(tx, |c| sqlx::query(
        "INSERT INTO device_bindings (id, device_id, asset_id, bound_at) VALUES ($1, $2, $3, $4)"
    )
    .bind(clock::new_id())
    .bind(device)
    .bind(asset)
    .bind(at)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Unbinds every device bound to an asset (the asset is being deleted). Bindings are closed,
/// not removed, so history shows which tracker was on the machine.
pub(crate) async fn unbind_asset(
    tx: &mut Tx,
    actor: &Actor,
    asset_id: Uuid,
    at: DateTime<Utc>,
) -> Result<(), DomainError> {
    let sql = format!("SELECT {DEVICE_COLUMNS} FROM devices WHERE asset_id = $1");
    let bound: Vec<DeviceRow> = on_tx!(tx, |c| sqlx::query_as(&sql)
        .bind(asset_id)
        .fetch_all(c)
        .await)?;
    for row in bound {
        let before = Device::from(row);
        on_tx!(tx, |c| {
            sqlx::query(
            "UPDATE device_bindings SET unbound_at = $1 WHERE device_id = $2 AND unbound_at IS NULL"
        )
        .bind(at)
        .bind(before.id)
        .execute(c)
        .await
        .map(|r| r.rows_affected())
        })?;
        on_tx!(tx, |c| sqlx::query(
            "UPDATE devices SET asset_id = NULL, updated_at = $1 WHERE id = $2"
        )
        .bind(at)
        .bind(before.id)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
        let after = Device {
            asset_id: None,
            ..before.clone()
        };
        audit::record(
            tx,
            actor,
            "device.unbind",
            "device",
            before.id,
            Some(&before),
            Some(&after),
        )
        .await?;
    }
    Ok(())
}

pub async fn list(store: &Store, page: PageRequest) -> Result<Page<Device>, DomainError> {
    let sql = format!(
        "SELECT {DEVICE_COLUMNS} FROM devices WHERE ($1 IS NULL OR id > $1) ORDER BY id LIMIT $2"
    );
    let rows: Vec<DeviceRow> = on_read!(store, |p| sqlx::query_as(&sql)
        .bind(page.after)
        .bind(page.fetch())
        .fetch_all(p)
        .await)?;
    let (rows, next_cursor) = page.finish(rows, |r| r.id);
    Ok(Page {
        items: rows.into_iter().map(Device::from).collect(),
        next_cursor,
    })
}

/// Checks a tracker's MQTT credentials (used by the embedded broker).
pub async fn verify_credentials(
    store: &Store,
    device_id: &str,
    password: &str,
) -> Result<bool, DomainError> {
    let hash: Option<String> = on_read!(store, |p| sqlx::query_scalar(
        "SELECT mqtt_password_hash FROM devices WHERE device_id = $1"
    )
    .bind(device_id)
    .fetch_optional(p)
    .await)?;
    Ok(secrets::verify_password(password.to_owned(), hash).await)
}
