//! Bulk fleet creation for `fieldops demo` and the ingest benchmark: sites with geofences, a
//! category, and N assets each with a bound tracker, written with set-based statements (100,000
//! assets in seconds, not one transaction per asset). Every row written is audited like any other
//! business write.

use mobile_shared::wire::{Geofence, LatLon, SiteKind};
use mobile_shared::ErrorCode;
use serde_json::json;
use sqlx::types::Json;
use uuid::Uuid;

use crate::actor::Actor;
use crate::entity::Entity;
use crate::error::DomainError;
use crate::store::{on_read, on_tx, Store};
use crate::{audit, clock};

/// Rows per multi-row INSERT (10 columns × 1000 stays far below both backends' bind limits).
const CHUNK: usize = 1000;

#[derive(Debug, Clone)]
pub struct FleetSeed {
    /// How many assets (each with one tracker).
    pub assets: usize,
    /// Asset codes are `<code_prefix>-000001`…
    pub code_prefix: String,
    /// Tracker ids are `<device_prefix>000001`…
    pub device_prefix: String,
    /// Stored hash of the trackers' shared MQTT password (from `devices::hash_device_password`
    /// or an equivalent); a seeded fleet shares one credential so seeding does not hash N times.
    pub password_hash: String,
    /// Depots to create and spread the assets over, as (name, lat, lon). Each gets a 300 m
    /// circular geofence.
    pub depots: Vec<(String, f64, f64)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SeededFleet {
    pub site_ids: Vec<Uuid>,
    /// The fleet's category (`<code_prefix> fleet`).
    pub category_id: Uuid,
    /// (device id, asset id) in creation order.
    pub devices: Vec<(String, Uuid)>,
}

/// Whether the database already holds assets (demo seeding runs only on an empty registry).
pub async fn has_assets(store: &Store) -> Result<bool, DomainError> {
    let n: i64 = on_read!(store, |p| sqlx::query_scalar(
        "SELECT COUNT(*) FROM assets WHERE deleted_at IS NULL"
    )
    .fetch_one(p)
    .await)?;
    Ok(n > 0)
}

/// Creates the sites, a category and `seed.assets` assets with bound trackers.
pub async fn seed_fleet(
    store: &Store,
    actor: &Actor,
    seed: &FleetSeed,
) -> Result<SeededFleet, DomainError> {
    let now = clock::now();
    let mut tx = store.begin().await?;
    let mut site_ids = Vec::new();
    for (name, lat, lon) in &seed.depots {
        let id = clock::new_id();
        let fence = Geofence::Circle {
            center: LatLon {
                lat: *lat,
                lon: *lon,
            },
            radius_m: 300.0,
        };
        on_tx!(
            &mut tx,
            execute(
                sqlx::query(
                    "INSERT INTO sites (id, name, kind, address, lat, lon, geofence, version, \
                     created_at, updated_at) VALUES ($1, $2, $3, NULL, $4, $5, $6, 1, $7, $7)"
                )
                .bind(id)
                .bind(name)
                .bind(SiteKind::Depot.as_str())
                .bind(*lat)
                .bind(*lon)
                .bind(Json(&fence))
                .bind(now)
            )
        )?;
        audit::record_created(&mut tx, actor, Entity::Site, &[(id, json!({"name": name}))]).await?;
        site_ids.push(id);
    }
    let category = clock::new_id();
    let category_name = format!("{} fleet", seed.code_prefix);
    on_tx!(
        &mut tx,
        execute(
            sqlx::query(
                "INSERT INTO categories (id, name, description, created_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (name) DO NOTHING"
            )
            .bind(category)
            .bind(&category_name)
            .bind("seeded fleet")
            .bind(now)
        )
    )?;
    let category: Uuid = on_tx!(&mut tx, |c| sqlx::query_scalar(
        "SELECT id FROM categories WHERE name = $1"
    )
    .bind(&category_name)
    .fetch_one(&mut *c)
    .await)?;

    let mut devices = Vec::with_capacity(seed.assets);
    let indices: Vec<usize> = (1..=seed.assets).collect();
    for chunk in indices.chunks(CHUNK) {
        let rows: Vec<(Uuid, String, String, Option<Uuid>, Uuid, String)> = chunk
            .iter()
            .map(|i| {
                let site = (!site_ids.is_empty()).then(|| site_ids[i % site_ids.len()]);
                (
                    clock::new_id(),
                    format!("{}-{:06}", seed.code_prefix, i),
                    format!("Machine {i}"),
                    site,
                    clock::new_id(),
                    format!("{}{:06}", seed.device_prefix, i),
                )
            })
            .collect();
        on_tx!(
            &mut tx,
            insert_values(
                "INSERT INTO assets (id, code, name, status, category_id, home_site_id, site_id, \
                 depreciation_method, version, created_at, updated_at, tracker_id) ",
                &rows,
                |b, r| b
                    .push_bind(r.0)
                    .push_bind(r.1.clone())
                    .push_bind(r.2.clone())
                    .push_bind("available")
                    .push_bind(category)
                    .push_bind(r.3)
                    .push_bind(r.3)
                    .push_bind("none")
                    .push_bind(1_i64)
                    .push_bind(now)
                    .push_bind(now)
                    // Its tracker (bound below, never seen): the state the alerts read from
                    // the asset row (migration 0018), written with the row.
                    .push_bind(r.4)
            )
        )
        .map_err(|e| {
            e.unique_as(ErrorCode::DuplicateCode, || {
                format!(
                    "assets with the prefix `{}` already exist",
                    seed.code_prefix
                )
            })
        })?;
        on_tx!(
            &mut tx,
            insert_values(
                "INSERT INTO devices (id, device_id, asset_id, mqtt_password_hash, created_at, \
                 updated_at) ",
                &rows,
                |b, r| b
                    .push_bind(r.4)
                    .push_bind(r.5.clone())
                    .push_bind(r.0)
                    .push_bind(seed.password_hash.clone())
                    .push_bind(now)
                    .push_bind(now)
            )
        )?;
        on_tx!(
            &mut tx,
            insert_values(
                "INSERT INTO device_bindings (id, device_id, asset_id, bound_at) ",
                &rows,
                |b, r| b
                    .push_bind(clock::new_id())
                    .push_bind(r.4)
                    .push_bind(r.0)
                    .push_bind(now)
            )
        )?;
        let asset_audit: Vec<(Uuid, serde_json::Value)> = rows
            .iter()
            .map(|r| (r.0, json!({"code": r.1, "name": r.2, "site_id": r.3})))
            .collect();
        audit::record_created(&mut tx, actor, Entity::Asset, &asset_audit).await?;
        let device_audit: Vec<(Uuid, serde_json::Value)> = rows
            .iter()
            .map(|r| (r.4, json!({"device_id": r.5, "asset_id": r.0})))
            .collect();
        audit::record_created(&mut tx, actor, Entity::Device, &device_audit).await?;
        devices.extend(rows.into_iter().map(|r| (r.5, r.0)));
    }
    tx.commit().await?;
    Ok(SeededFleet {
        site_ids,
        category_id: category,
        devices,
    })
}

/// Moves every live asset's meters forward by a random amount, up to `max_hours` engine hours
/// and `max_km` km (assets without a meter start from 0): one statement, for benchmarks that
/// need a fleet spread across its service intervals. Not audited: it stands for the meters
/// ingest would have applied, which are not business edits either.
pub async fn advance_meters(
    store: &Store,
    max_hours: u32,
    max_km: u32,
) -> Result<u64, DomainError> {
    let mut tx = store.begin().await?;
    // Each backend's own random(): SQLite's is a 64-bit integer, PostgreSQL's a float in [0, 1).
    let sql = match tx.backend() {
        crate::Backend::Sqlite => {
            "UPDATE assets SET engine_hours = COALESCE(engine_hours, 0) + abs(random() % $1), \
             odometer_km = COALESCE(odometer_km, 0) + abs(random() % $2) WHERE deleted_at IS NULL"
        }
        crate::Backend::Postgres => {
            "UPDATE assets SET engine_hours = COALESCE(engine_hours, 0) + floor(random() * $1), \
             odometer_km = COALESCE(odometer_km, 0) + floor(random() * $2) WHERE deleted_at IS NULL"
        }
    };
    let n = on_tx!(
        &mut tx,
        execute(
            sqlx::query(sql)
                .bind(i64::from(max_hours.max(1)))
                .bind(i64::from(max_km.max(1)))
        )
    )?;
    tx.commit().await?;
    Ok(n)
}

/// For `fieldops demo`: starts the counting of every asset with an hour meter under a category's
/// engine-hour plan at staggered points of its interval, so that within minutes of starting the
/// demo shows every urgency: a quarter overdue (5 % past), a quarter due within the next
/// quarter-hour of running, a quarter inside the lead (3 % left), a quarter fine (half left).
/// Assets that already have a baseline under the plan keep it. Returns the baselines written.
pub async fn stagger_baselines(
    store: &Store,
    plan_id: Uuid,
    every_hours: u32,
) -> Result<u64, DomainError> {
    let mut tx = store.begin().await?;
    let sql = "INSERT INTO maintenance_history \
                   (asset_id, plan_id, occurrence, at, engine_hours, odometer_km, recorded_at) \
               SELECT id, $1, 0, $2, engine_hours - $3 * (CASE n % 4 WHEN 0 THEN 1.05 \
                   WHEN 1 THEN 0.999 WHEN 2 THEN 0.97 ELSE 0.5 END), odometer_km, $2 \
               FROM (SELECT id, engine_hours, odometer_km, \
                       ROW_NUMBER() OVER (ORDER BY id) AS n \
                     FROM assets WHERE deleted_at IS NULL AND engine_hours IS NOT NULL \
                       AND category_id = (SELECT category_id FROM maintenance_plans \
                                          WHERE id = $1)) AS a \
               WHERE true ON CONFLICT DO NOTHING";
    let n = on_tx!(
        &mut tx,
        execute(
            sqlx::query(sql)
                .bind(plan_id)
                .bind(clock::now())
                .bind(f64::from(every_hours))
        )
    )?;
    tx.commit().await?;
    Ok(n)
}

/// How many live assets have an engine-hour reading (the demo waits for its trackers).
pub async fn assets_with_hours(store: &Store) -> Result<u64, DomainError> {
    let sql = "SELECT COUNT(*) FROM assets WHERE deleted_at IS NULL AND engine_hours IS NOT NULL";
    let n: i64 = on_read!(store, |p| sqlx::query_scalar(sql).fetch_one(p).await)?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// A benchmark fleet under service plans, as a rental company runs it: an engine-hour, an
/// odometer and a calendar plan on every asset of `category`, and one pass of the clock's sweep,
/// which leaves each meter service's threshold that ingest compares new meters with. The
/// intervals (20,000 h, 500,000 km) lie beyond any simulated meter, so no order opens while a
/// benchmark runs: what ingest then pays is the steady state's evaluation. Returns the
/// thresholds laid.
pub async fn service_plans(
    store: &Store,
    actor: &Actor,
    category: Uuid,
) -> Result<i64, DomainError> {
    use crate::maintenance::{orders, plans, triggers};
    use mobile_shared::maintenance::{Interval, Metric, NewPlan};
    for (name, metric, every) in [
        ("Engine overhaul", Metric::EngineHours, 20_000),
        ("Chassis service", Metric::OdometerKm, 500_000),
        ("Yearly inspection", Metric::Days, 365),
    ] {
        let plan = NewPlan {
            name: name.into(),
            category_id: Some(category),
            asset_id: None,
            intervals: vec![Interval { metric, every }],
            lead_days: None,
            lead_hours: None,
            anchor: None,
            services: None,
            starts_on: None,
        };
        plans::create(store, actor, plan).await?;
    }
    let mut tx = store.begin().await?;
    orders::open_due(store, &mut tx, clock::now()).await?;
    tx.commit().await?;
    triggers::count(store).await
}

/// Where one seeded asset is and what state it is in, for [`place_fleet`].
#[derive(Debug, Clone, PartialEq)]
pub struct Placement {
    pub asset_id: Uuid,
    pub status: mobile_shared::AssetStatus,
    /// The site the asset is recorded at (a depot, or the customer site of a rental).
    pub site_id: Option<Uuid>,
    pub lat: f64,
    pub lon: f64,
    /// When the position was taken (and the tracker last heard from).
    pub pos_at: chrono::DateTime<chrono::Utc>,
    /// The fence the position lies in, as ingest would have found it; `None` outside every fence.
    pub geofence_site_id: Option<Uuid>,
    /// The tracker went quiet and the silence watch marked it offline.
    pub tracker_silent: bool,
}

/// Moves a freshly seeded fleet (every asset `available` at its home depot, no position) into a
/// working state, for the map benchmark and screenshots: positions, statuses, recorded sites and
/// tracker freshness, set-based (one `UPDATE … FROM (VALUES …)` per 1000 assets and table).
/// Status and site changes are business edits and audited as `asset.update`; positions and
/// tracker state stand for what ingest would have applied, which is not audited either.
/// Returns the assets updated.
pub async fn place_fleet(
    store: &Store,
    actor: &Actor,
    placements: &[Placement],
) -> Result<u64, DomainError> {
    // 8 columns × 1000 rows: far below both backends' bind limits.
    let mut tx = store.begin().await?;
    let mut updated = 0;
    for chunk in placements.chunks(CHUNK) {
        // Both backends name the columns of a bare VALUES list column1, column2, …
        updated += on_tx!(
            &mut tx,
            insert_values(
                "UPDATE assets SET status = v.column2, site_id = v.column3, pos_lat = v.column4, \
                 pos_lon = v.column5, pos_at = v.column6, pos_source = 'gps', \
                 last_seen_at = v.column6, geofence_site_id = v.column7, map_cell = v.column8 \
                 FROM (",
                chunk,
                |b, p| b
                    .push_bind(p.asset_id)
                    .push_bind(p.status.as_str())
                    .push_bind(p.site_id)
                    .push_bind(p.lat)
                    .push_bind(p.lon)
                    .push_bind(p.pos_at)
                    .push_bind(p.geofence_site_id)
                    // The map's cell key, as ingest keeps it (mobile_shared::geo_cell).
                    .push_bind(mobile_shared::geo_cell::cell_of(p.lat, p.lon)),
                ") AS v WHERE assets.id = v.column1 AND assets.deleted_at IS NULL"
            )
        )?;
        on_tx!(
            &mut tx,
            insert_values(
                "UPDATE devices SET online = v.column2, offline_cause = v.column3, \
                 last_seen_at = v.column4, last_ts = v.column4, status_at = v.column4 FROM (",
                chunk,
                |b, p| b
                    .push_bind(p.asset_id)
                    .push_bind(!p.tracker_silent)
                    .push_bind(p.tracker_silent.then_some("silence"))
                    .push_bind(p.pos_at),
                ") AS v WHERE devices.asset_id = v.column1"
            )
        )?;
        // The tracker state the alert lists read from the asset row, as ingest keeps it.
        let ids: Vec<Uuid> = chunk.iter().map(|p| p.asset_id).collect();
        crate::devices::refresh_trackers(&mut tx, &ids).await?;
        let audit_rows: Vec<(Uuid, serde_json::Value, serde_json::Value)> = chunk
            .iter()
            .filter(|p| p.status != mobile_shared::AssetStatus::Available)
            .map(|p| {
                (
                    p.asset_id,
                    json!({"status": "available"}),
                    json!({"status": p.status.as_str(), "site_id": p.site_id}),
                )
            })
            .collect();
        if !audit_rows.is_empty() {
            audit::record_updated(&mut tx, actor, Entity::Asset, &audit_rows).await?;
        }
    }
    tx.commit().await?;
    Ok(updated)
}
