//! GPS trackers: registration (the MQTT password is shown once and stored only as a hash),
//! binding to assets (with history), credential checks for the embedded broker, and the export
//! of those credentials to an external Mosquitto.
//!
//! The stored hash is in Mosquitto's own `$7$` PBKDF2-SHA512 format (see [`secrets`] for why that
//! and not argon2), so one stored value serves both brokers.

use chrono::{DateTime, Utc};
use mobile_shared::wire::{Device, DeviceCreated, NewDevice, Page};
use mobile_shared::ErrorCode;
use uuid::Uuid;

use crate::actor::Actor;
use crate::audit::{self, Change};
use crate::entity::Entity;
use crate::error::DomainError;
use crate::pagination::PageRequest;
use crate::store::{on_read, on_tx, Store, Tx};
use crate::{clock, refs, secrets};

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
    // 24 random bytes: high entropy, which is what makes the fast `$7$` hash safe.
    let password = secrets::random_token(24);
    let hash = secrets::hash_device_password(&password);
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
        if !refs::asset_exists(&mut tx, asset_id).await? {
            return Err(DomainError::field("asset_id", "no such asset"));
        }
    }
    let sql = "INSERT INTO devices (id, device_id, asset_id, mqtt_password_hash, created_at, updated_at) \
               VALUES ($1, $2, $3, $4, $5, $5)";
    on_tx!(
        &mut tx,
        execute(
            sqlx::query(sql)
                .bind(device.id)
                .bind(&device.device_id)
                .bind(device.asset_id)
                .bind(&hash)
                .bind(now)
        )
    )
    .map_err(|e| {
        e.unique_as(ErrorCode::DeviceExists, || {
            format!("a device `{}` is already registered", device.device_id)
        })
    })?;
    if let Some(asset_id) = device.asset_id {
        open_binding(&mut tx, device.id, asset_id, now).await?;
        refresh_trackers(&mut tx, &[asset_id]).await?;
    }
    tx.commit_audited(actor, Change::created(Entity::Device, device.id, &device))
        .await?;
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
    on_tx!(
        tx,
        execute(
            sqlx::query(
                "INSERT INTO device_bindings (id, device_id, asset_id, bound_at) \
         VALUES ($1, $2, $3, $4)"
            )
            .bind(clock::new_id())
            .bind(device)
            .bind(asset)
            .bind(at)
        )
    )?;
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
        on_tx!(
            tx,
            execute(
                sqlx::query(
                    "UPDATE device_bindings SET unbound_at = $1 \
             WHERE device_id = $2 AND unbound_at IS NULL"
                )
                .bind(at)
                .bind(before.id)
            )
        )?;
        on_tx!(
            tx,
            execute(
                sqlx::query("UPDATE devices SET asset_id = NULL, updated_at = $1 WHERE id = $2")
                    .bind(at)
                    .bind(before.id)
            )
        )?;
        let after = Device {
            asset_id: None,
            ..before.clone()
        };
        audit::record(
            tx,
            actor,
            Change::action("device.unbind", Entity::Device, before.id)
                .before(&before)
                .after(&after),
        )
        .await?;
    }
    refresh_trackers(tx, &[asset_id]).await
}

/// Which of an asset's bound devices is its tracker (the one the alerts show and judge): the
/// most recently seen, never-seen ones last, ties to the larger id. Migration 0018's backfill
/// applies the same order, and ingest the same choice in Rust (`AssetState::see_tracker`).
const ASSET_TRACKER: &str = "SELECT d.id, d.last_seen_at, d.offline_cause FROM devices d \
     WHERE d.asset_id = assets.id ORDER BY d.last_seen_at DESC NULLS LAST, d.id DESC LIMIT 1";

/// Recomputes the tracker state kept on each of `assets` (`tracker_id`, `tracker_seen_at`,
/// `tracker_offline_cause`, migration 0018) from their devices, in the caller's transaction:
/// every change of a device's binding, `online` or `last_seen_at` outside ingest's asset update
/// calls it after writing the device (devices before assets: the lock order ingest keeps).
/// One statement per 1,000 assets, each asset a probe of `devices_asset_seen`.
pub(crate) async fn refresh_trackers(tx: &mut Tx, assets: &[Uuid]) -> Result<(), DomainError> {
    let mut assets = assets.to_vec();
    // Id order: the order ingest locks assets in.
    assets.sort_unstable();
    assets.dedup();
    for chunk in assets.chunks(1000) {
        on_tx!(tx, |c| {
            let mut qb = sqlx::QueryBuilder::new(format!(
                "UPDATE assets SET (tracker_id, tracker_seen_at, tracker_offline_cause) = \
                 ({ASSET_TRACKER}) WHERE id IN ("
            ));
            let mut ids = qb.separated(", ");
            for id in chunk {
                ids.push_bind(*id);
            }
            qb.push(")");
            qb.build().execute(&mut *c).await.map(|r| r.rows_affected())
        })?;
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
    Ok(page.page(rows, |r| r.id, Device::from))
}

/// Checks a tracker's MQTT credentials (used by the embedded broker's auth handler).
///
/// Accepts both stored formats: `$7$` (Mosquitto PBKDF2-SHA512, written since trackers stopped
/// using argon2) and `$argon2id$` (rows written before). A legacy row that verifies is rewritten
/// as `$7$` on the spot: the password is at hand only now, this is the only way old rows become
/// cheap to check and exportable to Mosquitto, and it needs no migration or new credentials.
/// The rewrite is compare-and-set (a concurrent change wins) and best-effort: a failure is
/// logged, never turned into a refused login. It is not audited: the credential itself does not
/// change, only how it is stored.
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
    let legacy = hash
        .as_deref()
        .filter(|h| !secrets::is_mosquitto_hash(h))
        .map(str::to_owned);
    let ok = secrets::verify_device_password(password.to_owned(), hash).await;
    if let (true, Some(old)) = (ok, legacy) {
        if let Err(e) = upgrade_hash(store, device_id, &old, password).await {
            tracing::warn!(device_id, error = %e, "could not rewrite a legacy tracker password hash");
        }
    }
    Ok(ok)
}

async fn upgrade_hash(
    store: &Store,
    device_id: &str,
    old: &str,
    password: &str,
) -> Result<(), DomainError> {
    let new = secrets::hash_device_password(password);
    let mut tx = store.begin().await?;
    let changed = on_tx!(
        &mut tx,
        execute(
            sqlx::query(
                "UPDATE devices SET mqtt_password_hash = $1 \
         WHERE device_id = $2 AND mqtt_password_hash = $3"
            )
            .bind(&new)
            .bind(device_id)
            .bind(old)
        )
    )?;
    tx.commit().await?;
    if changed == 1 {
        tracing::info!(
            device_id,
            "tracker password hash rewritten from argon2id to $7$"
        );
    }
    Ok(())
}

/// The tracker part of a Mosquitto `password_file`, built from the database.
#[derive(Debug, Clone, Default)]
pub struct MosquittoPasswords {
    /// The file's text: `user:$7$…` lines, newline-terminated.
    pub text: String,
    /// Trackers written to `text`.
    pub exported: usize,
    /// Trackers left out because their stored hash is argon2id (registered before the `$7$`
    /// format; Mosquitto cannot check argon2). Each is rewritten to `$7$` the next time it logs
    /// in to the embedded broker (see [`verify_credentials`]), or it can be re-registered.
    pub legacy: Vec<String>,
    /// Trackers left out because Mosquitto's file format cannot hold their id: `:` separates
    /// the username from the hash and `mosquitto_passwd` refuses it too.
    pub unrepresentable: Vec<String>,
}

/// Whether `name` can be a Mosquitto username in both the `password_file` (no `:`) and the
/// ACL file (`user <name>` lines, and `%u` patterns, which Mosquitto refuses for `+` and `#`).
fn mosquitto_username_ok(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Builds a Mosquitto `password_file`: one `device_id:$7$…` line per registered tracker, plus
/// the gateway's account when given (`(username, password)`; hashed here with
/// [`secrets::OPERATOR_HASH_ITERATIONS`] because a person chose that password).
///
/// Device hashes are copied verbatim: the database already holds exactly what Mosquitto reads,
/// so no tracker password is needed (or known) to export.
pub async fn mosquitto_password_file(
    store: &Store,
    gateway: Option<(&str, &str)>,
) -> Result<MosquittoPasswords, DomainError> {
    let rows: Vec<(String, String)> = on_read!(store, |p| sqlx::query_as(
        "SELECT device_id, mqtt_password_hash FROM devices ORDER BY device_id"
    )
    .fetch_all(p)
    .await)?;
    let mut out = MosquittoPasswords::default();
    if let Some((user, password)) = gateway {
        if !mosquitto_username_ok(user) {
            return Err(DomainError::field(
                "gateway_user",
                "must be 1-64 characters: letters, digits and . _ -",
            ));
        }
        if rows.iter().any(|(id, _)| id == user) {
            return Err(DomainError::field(
                "gateway_user",
                format!("`{user}` is also a tracker's id; choose another name"),
            ));
        }
        if password.is_empty() {
            return Err(DomainError::field("gateway_password", "must not be empty"));
        }
        let password = password.to_owned();
        let hash = tokio::task::spawn_blocking(move || {
            secrets::mosquitto_hash(&password, secrets::OPERATOR_HASH_ITERATIONS)
        })
        .await
        .map_err(|e| DomainError::Internal(format!("hashing task: {e}")))?;
        out.text.push_str(&format!("{user}:{hash}\n"));
    }
    for (device_id, hash) in rows {
        if device_id.contains(':') {
            out.unrepresentable.push(device_id);
        } else if !secrets::is_mosquitto_hash(&hash) {
            out.legacy.push(device_id);
        } else {
            out.text.push_str(&format!("{device_id}:{hash}\n"));
            out.exported += 1;
        }
    }
    Ok(out)
}

/// A Mosquitto `acl_file` enforcing the MQTT contract: a tracker may publish only under its own
/// id, and the gateway (when named) may read every tracker topic.
///
/// `%u` is the connecting username, i.e. the device id; OwnTracks ids are `user/device`, so
/// `owntracks/%u/#` expands to `owntracks/user/device/#`, which (like every `…/#`) also matches
/// `owntracks/user/device` itself. Mosquitto 2.0 accepts a `/` in a `%u` substitution (it refuses
/// only `+` and `#`, which device ids cannot contain). Trackers get no read access: nothing in
/// the contract sends them messages, and it keeps one tracker from reading another's positions.
pub fn mosquitto_acl(gateway_user: Option<&str>) -> String {
    let group = mobile_shared::telemetry::SHARE_GROUP;
    let mut acl = String::from(
        "# Generated by `fieldops device export-mosquitto`; regenerate rather than edit.\n\n",
    );
    match gateway_user {
        Some(user) => acl.push_str(&format!(
            "# The gateway reads every tracker topic. Mosquitto 2.x checks a shared subscription\n\
             # ($share/<group>/<filter>) against <filter> and each delivered message against its\n\
             # real topic, so the first two lines cover shared subscriptions too; the $share line\n\
             # is for brokers that check the whole filter.\n\
             user {user}\n\
             topic read fieldops/v1/#\n\
             topic read owntracks/#\n\
             topic read $share/{group}/#\n\n"
        )),
        None => acl.push_str(
            "# No gateway user was given (--gateway-user): add a `user <name>` block with\n\
             # `topic read fieldops/v1/#` and `topic read owntracks/#` for the gateway's account.\n\n",
        ),
    }
    acl.push_str(
        "# Every other user is a tracker: it may publish only under its own id (%u).\n\
         pattern write fieldops/v1/%u/#\n\
         pattern write owntracks/%u/#\n",
    );
    acl
}
