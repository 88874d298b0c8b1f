//! Ingest: a batch of decoded MQTT messages becomes history rows and current asset
//! state in ONE transaction, with set-based statements (a handful per batch, never one per
//! message).
//!
//! Semantics, per batch:
//! - readings are appended to `telemetry`, deduplicated on (device, time): redelivered or
//!   replayed messages insert nothing and change nothing;
//! - an asset's current position moves only to a newer fix (only the newest fix of the batch is
//!   considered), so out-of-order data never moves it back in time;
//! - engine hours come from the device's hour meter; for a device without one they accumulate
//!   from ignition-on intervals, where a gap longer than `max_ignition_gap` (the device was
//!   offline) is not counted;
//! - a meter that goes backwards is kept in history and flagged once (`meter_anomalies`), never
//!   applied as a rollback;
//! - a position that crosses a site's geofence records enter/exit events;
//! - a meter that crosses a service's threshold opens its work order
//!   (`maintenance::triggers`);
//! - devices get last-seen, online state, and the state ignition accounting needs;
//! - rejects (decoder rejects, unknown devices) are stored with the raw payload, bounded
//!   ([`super::rejects`]).
//!
//! Telemetry-driven state is machine data with its own history tables (`telemetry`,
//! `meter_anomalies`, `geofence_events`), so it is not copied into the audit log, and it does not
//! bump an asset's `version` (which guards edits by people).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, SubsecRound, Utc};
use mobile_shared::telemetry::{DeviceStatus, Reading};
use mobile_shared::wire::Geofence;
use sqlx::types::Json;
use tokio::sync::{oneshot, Mutex};
use uuid::Uuid;

use super::rejects::{write_rejects, RejectRow};
use crate::clock;
use crate::error::DomainError;
use crate::events::{self, EventBus, FleetEvent};
use crate::geofence::Geofences;
use crate::maintenance::triggers;
use crate::store::{on_read, on_tx, Conn, Store, Tx};

mod postgres;
mod sqlite;

/// Rows per multi-row INSERT: 16 columns × 1000 stays under SQLite's 32766 bound parameters.
const CHUNK: usize = 1000;
/// Meter drops smaller than this are rounding noise, not a rollback.
const METER_EPSILON: f64 = 1e-6;

/// One MQTT message after decoding and stateless validation by the gateway.
#[derive(Debug, Clone)]
pub struct Message {
    pub topic: String,
    pub received_at: DateTime<Utc>,
    pub kind: MessageKind,
}

#[derive(Debug, Clone)]
pub enum MessageKind {
    /// Valid readings of one device (a single object or a flushed offline buffer).
    Readings {
        device_id: String,
        readings: Vec<Reading>,
    },
    Status {
        device_id: String,
        status: DeviceStatus,
    },
    /// Refused before reaching the database (bad topic, malformed payload, implausible value).
    Rejected {
        device_id: Option<String>,
        reason: &'static str,
        detail: String,
        payload: Vec<u8>,
    },
}

#[derive(Debug, Clone)]
pub struct IngestOptions {
    /// Longest interval between two ignition-on readings that still counts as running time.
    pub max_ignition_gap: chrono::Duration,
    /// How many rejects to keep for inspection; older ones are pruned.
    pub max_rejects_kept: i64,
    /// How long geofences are cached between reloads.
    pub geofence_refresh: Duration,
}

impl Default for IngestOptions {
    fn default() -> Self {
        IngestOptions {
            max_ignition_gap: chrono::Duration::minutes(5),
            max_rejects_kept: 100_000,
            geofence_refresh: Duration::from_secs(10),
        }
    }
}

/// What one batch did.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct IngestReport {
    /// Readings stored for the first time.
    pub applied: usize,
    /// Readings already stored (redelivery, replay) or repeated within the batch.
    pub duplicates: usize,
    pub statuses: usize,
    /// Work orders opened because a reading crossed a service's threshold.
    pub orders_opened: u64,
    /// Rejects by reason code.
    pub rejected: BTreeMap<&'static str, u64>,
}

/// Orders the lock-taking of concurrent batches (see [`Ingestor::ingest_in_turn`]).
#[derive(Debug, Default)]
pub struct LockTurn {
    /// Resolves when the previous batch holds its locks (or gave up).
    pub wait: Option<oneshot::Receiver<()>>,
    /// Signalled when this batch holds its locks.
    pub taken: Option<oneshot::Sender<()>>,
}

/// Holds what ingest caches between batches (geofences). One per gateway process.
pub struct Ingestor {
    store: Store,
    bus: EventBus,
    options: IngestOptions,
    fences: Mutex<Option<(Instant, Arc<Geofences>)>>,
}

#[derive(sqlx::FromRow)]
struct DeviceRow {
    id: Uuid,
    device_id: String,
    asset_id: Option<Uuid>,
    last_ts: Option<DateTime<Utc>>,
    last_ignition: Option<bool>,
    has_hour_meter: bool,
    status_at: Option<DateTime<Utc>>,
}

#[derive(sqlx::FromRow)]
struct AssetState {
    id: Uuid,
    site_id: Option<Uuid>,
    pos_lat: Option<f64>,
    pos_lon: Option<f64>,
    pos_at: Option<DateTime<Utc>>,
    pos_source: Option<String>,
    engine_hours: Option<f64>,
    hours_at: Option<DateTime<Utc>>,
    odometer_km: Option<f64>,
    odometer_at: Option<DateTime<Utc>>,
    last_seen_at: Option<DateTime<Utc>>,
    geofence_site_id: Option<Uuid>,
    /// The position's map cell (`mobile_shared::geo_cell`), kept with the position.
    map_cell: Option<i64>,
    /// When the meters last rose (the heat map's idle rule).
    used_at: Option<DateTime<Utc>>,
    hours_flagged: bool,
    odometer_flagged: bool,
    /// The lowest meter values at which one of the asset's services enters its lead window
    /// (`maintenance_thresholds`, left by the clock's sweep); read, never written, by ingest.
    hours_opens_at: Option<f64>,
    km_opens_at: Option<f64>,
    /// The tracker state the alerts read from the asset row (migration 0018): its most recently
    /// seen tracker, that tracker's last contact and why it is offline.
    tracker_id: Option<Uuid>,
    tracker_seen_at: Option<DateTime<Utc>>,
    tracker_offline_cause: Option<String>,
    /// The latest fence exit, next to its `geofence_events` row (the off-site list's order).
    fence_exit_at: Option<DateTime<Utc>>,
    fence_exit_site_id: Option<Uuid>,
}

impl AssetState {
    /// Device `id`, bound to this asset, sent readings last received at `seen` and is online
    /// now. It becomes the asset's tracker when it is the most recently seen of the asset's
    /// devices — the order of `devices::refresh_trackers` (latest `last_seen_at`, then larger
    /// id), decided against the current tracker alone since every other device of the asset
    /// was seen no later than it. A device that already is the tracker stays it.
    fn see_tracker(&mut self, id: Uuid, seen: DateTime<Utc>) {
        let newer = match (self.tracker_id, self.tracker_seen_at) {
            (Some(current), _) if current == id => true,
            (Some(current), Some(at)) => (seen, id) > (at, current),
            _ => true,
        };
        if newer {
            self.tracker_id = Some(id);
            self.tracker_seen_at = Some(seen);
            // Readings mean online: `write_devices` clears the device's `offline_cause` too.
            self.tracker_offline_cause = None;
        }
    }

    /// Whether the (new) meters reach a maintenance threshold.
    fn crosses_threshold(&self) -> bool {
        let reaches = |value: Option<f64>, at: Option<f64>| matches!((value, at), (Some(v), Some(t)) if v >= t);
        reaches(self.engine_hours, self.hours_opens_at)
            || reaches(self.odometer_km, self.km_opens_at)
    }
}

/// A reading ready to store.
struct Row<'a> {
    device: Uuid,
    asset: Option<Uuid>,
    ts: DateTime<Utc>,
    r: &'a Reading,
    received_at: DateTime<Utc>,
}

struct Anomaly {
    asset: Uuid,
    device: Uuid,
    ts: DateTime<Utc>,
    meter: &'static str,
    previous: f64,
    reading: f64,
}

/// One asset's usage in a batch, for the daily rollup (`asset_usage_daily`): its meters
/// before and after, on the UTC day of its newest reading, in its cell at the end.
struct Usage {
    asset: Uuid,
    day: chrono::NaiveDate,
    map_cell: Option<i64>,
    hours_lo: Option<f64>,
    hours_hi: Option<f64>,
    km_lo: Option<f64>,
    km_hi: Option<f64>,
}

struct Crossing {
    asset: Uuid,
    site: Uuid,
    kind: &'static str,
    ts: DateTime<Utc>,
}

impl Ingestor {
    pub fn new(store: Store, bus: EventBus, options: IngestOptions) -> Ingestor {
        Ingestor {
            store,
            bus,
            options,
            fences: Mutex::new(None),
        }
    }

    pub fn bus(&self) -> &EventBus {
        &self.bus
    }

    async fn geofences(&self) -> Result<Arc<Geofences>, DomainError> {
        let mut cached = self.fences.lock().await;
        if let Some((at, f)) = cached.as_ref() {
            if at.elapsed() < self.options.geofence_refresh {
                return Ok(f.clone());
            }
        }
        let rows: Vec<(Uuid, Json<Geofence>)> = on_read!(&self.store, |p| sqlx::query_as(
            "SELECT id, geofence FROM sites WHERE geofence IS NOT NULL"
        )
        .fetch_all(p)
        .await)?;
        let fences = Arc::new(Geofences::new(rows.into_iter().map(|(id, g)| (id, g.0))));
        *cached = Some((Instant::now(), fences.clone()));
        Ok(fences)
    }

    /// Applies one batch in one transaction; events are published after the commit.
    pub async fn ingest(&self, batch: &[Message]) -> Result<IngestReport, DomainError> {
        self.ingest_in_turn(batch, LockTurn::default()).await
    }

    /// [`Ingestor::ingest`] for a caller that runs several batches at once: this batch takes
    /// its row locks only after the previous batch took its own (`turn.wait`), and signals
    /// `turn.taken` once it holds them. Batches therefore apply in arrival order wherever they
    /// touch the same device (which ignition-hour accounting relies on), while batches over
    /// different devices still commit in parallel.
    pub async fn ingest_in_turn(
        &self,
        batch: &[Message],
        turn: LockTurn,
    ) -> Result<IngestReport, DomainError> {
        let fences = self.geofences().await?;
        let now = clock::now();
        let mut report = IngestReport::default();
        let mut rejects: Vec<RejectRow> = Vec::new();

        let mut names: Vec<&str> = batch
            .iter()
            .filter_map(|m| match &m.kind {
                MessageKind::Readings { device_id, .. } | MessageKind::Status { device_id, .. } => {
                    Some(device_id.as_str())
                }
                MessageKind::Rejected { .. } => None,
            })
            .collect();
        names.sort_unstable();
        names.dedup();

        if let Some(previous) = turn.wait {
            // An error only means the previous batch ended without signalling (it failed).
            let _ = previous.await;
        }
        let mut tx = self.store.begin().await?;
        let devices = load_devices(&mut tx, &names).await?;
        if let Some(taken) = turn.taken {
            let _ = taken.send(());
        }

        let mut rows: Vec<Row> = Vec::new();
        let mut seen: HashSet<(Uuid, DateTime<Utc>)> = HashSet::new();
        let mut statuses: Vec<(&DeviceRow, DeviceStatus, DateTime<Utc>)> = Vec::new();
        for m in batch {
            match &m.kind {
                MessageKind::Rejected {
                    device_id,
                    reason,
                    detail,
                    payload,
                } => rejects.push(RejectRow {
                    topic: m.topic.clone(),
                    device_id: device_id.clone(),
                    reason,
                    detail: detail.clone(),
                    payload: payload.clone(),
                    received_at: m.received_at,
                }),
                MessageKind::Readings {
                    device_id,
                    readings,
                } => match devices.get(device_id.as_str()) {
                    None => rejects.push(unknown_device(m, device_id, readings)),
                    Some(d) => {
                        for r in readings {
                            // Both backends keep microseconds; normalising first makes the
                            // dedupe key equal to what the database returns.
                            let ts = r.ts.trunc_subsecs(6);
                            if seen.insert((d.id, ts)) {
                                rows.push(Row {
                                    device: d.id,
                                    asset: d.asset_id,
                                    ts,
                                    r,
                                    received_at: m.received_at,
                                });
                            } else {
                                report.duplicates += 1;
                            }
                        }
                    }
                },
                MessageKind::Status { device_id, status } => {
                    match devices.get(device_id.as_str()) {
                        None => rejects.push(RejectRow {
                            topic: m.topic.clone(),
                            device_id: Some(device_id.clone()),
                            reason: "unknown_device",
                            detail: format!("no registered device `{device_id}`"),
                            payload: status_payload(*status),
                            received_at: m.received_at,
                        }),
                        Some(d) => statuses.push((d, *status, m.received_at)),
                    }
                }
            }
        }

        // Lock the touched assets (after their devices, before anything is written): one lock
        // order in every transaction, so concurrent batches and gateways never deadlock, and
        // the rows the readings refer to cannot change under them (telemetry has no foreign
        // keys on PostgreSQL: migrations/postgres/0004).
        let mut asset_ids: Vec<Uuid> = rows.iter().filter_map(|r| r.asset).collect();
        asset_ids.sort_unstable();
        asset_ids.dedup();
        let states = load_assets(&mut tx, &asset_ids).await?;
        let inserted = insert_readings(&mut tx, &rows).await?;
        let new_rows: Vec<&Row> = rows
            .iter()
            .filter(|r| inserted.contains(&(r.device, r.ts)))
            .collect();
        report.applied = new_rows.len();
        report.duplicates += rows.len() - new_rows.len();

        let mut events = Vec::new();
        let device_updates = device_updates(&devices, &new_rows, &self.options);
        let (asset_updates, anomalies, crossings, usage) =
            self.asset_updates(states, &new_rows, &device_updates, &fences, &mut events);

        write_assets(&mut tx, &asset_updates).await?;
        write_usage(&mut tx, &usage).await?;
        // Hour and odometer services, where the data arrives: the assets whose meters moved
        // past the lowest threshold the clock's sweep left for them (read with the asset rows
        // above); only those cost a statement, which opens their orders.
        let metered: HashSet<Uuid> = events
            .iter()
            .filter_map(|e| match e {
                FleetEvent::Meters { asset_id, .. } => Some(*asset_id),
                _ => None,
            })
            .collect();
        let crossed: Vec<Uuid> = asset_updates
            .iter()
            .filter(|s| metered.contains(&s.id) && s.crosses_threshold())
            .map(|s| s.id)
            .collect();
        report.orders_opened = triggers::fire_in(&mut tx, &crossed, now).await?;
        write_devices(&mut tx, &device_updates).await?;
        write_anomalies(&mut tx, &anomalies, now).await?;
        write_crossings(&mut tx, &crossings).await?;
        report.statuses = write_statuses(&mut tx, &statuses, &mut events).await?;
        for r in &rejects {
            *report.rejected.entry(r.reason).or_default() += 1;
        }
        write_rejects(&mut tx, &rejects, self.options.max_rejects_kept).await?;
        let staged = events::stage(&mut tx, &events).await?;
        tx.commit().await?;
        self.bus.publish_staged(staged, events);
        Ok(report)
    }

    /// Computes each touched asset's new state from its current (locked) row.
    fn asset_updates(
        &self,
        mut states: Vec<AssetState>,
        rows: &[&Row<'_>],
        devices: &[DeviceUpdate],
        fences: &Geofences,
        events: &mut Vec<FleetEvent>,
    ) -> (Vec<AssetState>, Vec<Anomaly>, Vec<Crossing>, Vec<Usage>) {
        let mut by_asset: BTreeMap<Uuid, Vec<&Row>> = BTreeMap::new();
        for r in rows {
            if let Some(a) = r.asset {
                by_asset.entry(a).or_default().push(r);
            }
        }
        let mut ignition_hours: HashMap<Uuid, (f64, DateTime<Utc>)> = HashMap::new();
        for d in devices {
            if let (Some(a), Some(at)) = (d.asset, d.last_ts) {
                if d.ignition_hours > 0.0 {
                    let e = ignition_hours.entry(a).or_insert((0.0, at));
                    e.0 += d.ignition_hours;
                    e.1 = e.1.max(at);
                }
            }
        }
        // Assets without a new reading (all duplicates) stay as they are.
        states.retain(|s| by_asset.contains_key(&s.id));
        // The devices that sent new readings, by asset: each may become its asset's tracker.
        let mut seen_by_asset: HashMap<Uuid, Vec<&DeviceUpdate>> = HashMap::new();
        for d in devices {
            if let Some(a) = d.asset {
                seen_by_asset.entry(a).or_default().push(d);
            }
        }
        let mut anomalies = Vec::new();
        let mut crossings = Vec::new();
        let mut usage = Vec::new();
        for state in &mut states {
            let Some(rows) = by_asset.get_mut(&state.id) else {
                continue;
            };
            rows.sort_by_key(|r| r.ts);
            for d in seen_by_asset.get(&state.id).into_iter().flatten() {
                state.see_tracker(d.id, d.last_seen_at);
            }
            if let Some(seen) = rows.iter().map(|r| r.received_at).max() {
                state.last_seen_at = Some(state.last_seen_at.map_or(seen, |s| s.max(seen)));
            }
            // Position: the newest fix, only if newer than what the asset has.
            if let Some(fix) = rows
                .iter()
                .rev()
                .find(|r| r.r.lat.is_some() && r.r.lon.is_some())
            {
                if state.pos_at.is_none_or(|at| fix.ts > at) {
                    let (lat, lon) = (fix.r.lat.unwrap_or_default(), fix.r.lon.unwrap_or_default());
                    state.pos_lat = Some(lat);
                    state.pos_lon = Some(lon);
                    state.pos_at = Some(fix.ts);
                    state.pos_source = Some("gps".into());
                    state.map_cell = Some(mobile_shared::geo_cell::cell_of(lat, lon));
                    events.push(FleetEvent::Position {
                        asset_id: state.id,
                        lat,
                        lon,
                        at: fix.ts,
                        speed_kmh: fix.r.speed_kmh,
                    });
                    if !fences.is_empty() {
                        let inside = fences.site_at(lat, lon, state.site_id);
                        if inside != state.geofence_site_id {
                            if let Some(old) = state.geofence_site_id {
                                state.fence_exit_at = Some(fix.ts);
                                state.fence_exit_site_id = Some(old);
                                crossings.push(Crossing {
                                    asset: state.id,
                                    site: old,
                                    kind: "exit",
                                    ts: fix.ts,
                                });
                                events.push(FleetEvent::GeofenceExit {
                                    asset_id: state.id,
                                    site_id: old,
                                    at: fix.ts,
                                });
                            }
                            if let Some(new) = inside {
                                crossings.push(Crossing {
                                    asset: state.id,
                                    site: new,
                                    kind: "enter",
                                    ts: fix.ts,
                                });
                                events.push(FleetEvent::GeofenceEnter {
                                    asset_id: state.id,
                                    site_id: new,
                                    at: fix.ts,
                                });
                            }
                            state.geofence_site_id = inside;
                        }
                    }
                }
            }
            // Meters: readings newer than the applied one, in time order.
            let before = (state.engine_hours, state.odometer_km);
            let mut meter = |name: &'static str,
                             value: &mut Option<f64>,
                             at: &mut Option<DateTime<Utc>>,
                             flagged: &mut bool,
                             pick: fn(&Reading) -> Option<f64>| {
                for r in rows.iter() {
                    let Some(v) = pick(r.r) else { continue };
                    if at.is_some_and(|a| r.ts <= a) {
                        continue; // history only: an older reading never changes the asset
                    }
                    match *value {
                        Some(cur) if v + METER_EPSILON < cur => {
                            if !*flagged {
                                *flagged = true;
                                anomalies.push(Anomaly {
                                    asset: state.id,
                                    device: r.device,
                                    ts: r.ts,
                                    meter: name,
                                    previous: cur,
                                    reading: v,
                                });
                                events.push(FleetEvent::MeterAnomaly {
                                    asset_id: state.id,
                                    meter: name,
                                    previous: cur,
                                    reading: v,
                                    at: r.ts,
                                });
                            }
                        }
                        _ => {
                            *value = Some(v);
                            *at = Some(r.ts);
                            *flagged = false;
                        }
                    }
                }
            };
            meter(
                "engine_hours",
                &mut state.engine_hours,
                &mut state.hours_at,
                &mut state.hours_flagged,
                |r| r.engine_hours,
            );
            meter(
                "odometer_km",
                &mut state.odometer_km,
                &mut state.odometer_at,
                &mut state.odometer_flagged,
                |r| r.odometer_km,
            );
            if let Some((hours, at)) = ignition_hours.get(&state.id) {
                state.engine_hours = Some(state.engine_hours.unwrap_or(0.0) + hours);
                state.hours_at = Some(state.hours_at.map_or(*at, |h| h.max(*at)));
            }
            if (state.engine_hours, state.odometer_km) != before {
                let rose = |b: Option<f64>, a: Option<f64>| matches!((b, a), (Some(b), Some(a)) if a > b + METER_EPSILON);
                if let Some(last) = rows.last() {
                    if rose(before.0, state.engine_hours) || rose(before.1, state.odometer_km) {
                        state.used_at = Some(state.used_at.map_or(last.ts, |u| u.max(last.ts)));
                    }
                    // The day's low mark starts from the value before the batch, so hours run
                    // across midnight count on the day they were reported.
                    usage.push(Usage {
                        asset: state.id,
                        day: last.ts.date_naive(),
                        map_cell: state.map_cell,
                        hours_lo: before.0.or(state.engine_hours),
                        hours_hi: state.engine_hours,
                        km_lo: before.1.or(state.odometer_km),
                        km_hi: state.odometer_km,
                    });
                }
                events.push(FleetEvent::Meters {
                    asset_id: state.id,
                    engine_hours: state.engine_hours,
                    odometer_km: state.odometer_km,
                    at: state
                        .hours_at
                        .or(state.odometer_at)
                        .unwrap_or_else(clock::now),
                });
            }
        }
        (states, anomalies, crossings, usage)
    }

    /// Marks devices silent for longer than `silent_after` offline; returns how many. Their
    /// assets are stale from then on (no fresh position).
    pub async fn mark_silent(&self, silent_after: chrono::Duration) -> Result<usize, DomainError> {
        let now = clock::now();
        let cutoff = now - silent_after;
        let mut tx = self.store.begin().await?;
        let sql = "UPDATE devices SET online = $1, status_at = $2, offline_cause = 'silence' \
                   WHERE online = $3 AND (last_seen_at IS NULL OR last_seen_at < $4) \
                   RETURNING device_id, asset_id, last_seen_at";
        let rows: Vec<(String, Option<Uuid>, Option<DateTime<Utc>>)> = on_tx!(&mut tx, |c| {
            sqlx::query_as(sql)
                .bind(false)
                .bind(now)
                .bind(true)
                .bind(cutoff)
                .fetch_all(c)
                .await
        })?;
        let n = rows.len();
        // Their assets' tracker state, in the same transaction (alerts read it from the asset).
        let assets: Vec<Uuid> = rows.iter().filter_map(|r| r.1).collect();
        crate::devices::refresh_trackers(&mut tx, &assets).await?;
        let events: Vec<FleetEvent> = rows
            .into_iter()
            .map(
                |(device_id, asset_id, last_seen_at)| FleetEvent::DeviceSilent {
                    device_id,
                    asset_id,
                    last_seen_at,
                },
            )
            .collect();
        let staged = events::stage(&mut tx, &events).await?;
        tx.commit().await?;
        self.bus.publish_staged(staged, events);
        Ok(n)
    }
}

fn unknown_device(m: &Message, device_id: &str, readings: &[Reading]) -> RejectRow {
    RejectRow {
        topic: m.topic.clone(),
        device_id: Some(device_id.to_owned()),
        reason: "unknown_device",
        detail: format!(
            "no registered device `{device_id}` ({} reading(s) refused)",
            readings.len()
        ),
        // The decoded readings, re-encoded: the original bytes are gone by now, and this keeps
        // everything the device sent in a form an operator can replay after registering it.
        payload: mobile_shared::telemetry::encode_native(readings),
        received_at: m.received_at,
    }
}

fn status_payload(s: DeviceStatus) -> Vec<u8> {
    match s {
        DeviceStatus::Online => b"online".to_vec(),
        DeviceStatus::Offline => b"offline".to_vec(),
    }
}

/// Locks and loads the named devices (devices before assets: one global lock order).
async fn load_devices(
    tx: &mut Tx,
    names: &[&str],
) -> Result<HashMap<String, DeviceRow>, DomainError> {
    let rows = match &mut tx.0 {
        Conn::Sqlite(t) => sqlite::load_devices(t, names).await?,
        Conn::Postgres(t) => postgres::load_devices(t, names).await?,
    };
    Ok(rows.into_iter().map(|r| (r.device_id.clone(), r)).collect())
}

/// Inserts readings, skipping (device, ts) pairs already stored; returns the pairs inserted.
async fn insert_readings(
    tx: &mut Tx,
    rows: &[Row<'_>],
) -> Result<HashSet<(Uuid, DateTime<Utc>)>, DomainError> {
    match &mut tx.0 {
        Conn::Sqlite(t) => sqlite::insert_readings(t, rows).await,
        Conn::Postgres(t) => postgres::insert_readings(t, rows).await,
    }
}

struct DeviceUpdate {
    id: Uuid,
    asset: Option<Uuid>,
    last_seen_at: DateTime<Utc>,
    last_ts: Option<DateTime<Utc>>,
    last_ignition: Option<bool>,
    has_hour_meter: bool,
    /// Running hours accumulated from ignition in this batch (devices without an hour meter).
    ignition_hours: f64,
}

/// Per device: last seen, newest reading time and ignition state, and — for devices without an
/// hour meter — the ignition-on time in the new readings after the last known one.
fn device_updates(
    devices: &HashMap<String, DeviceRow>,
    rows: &[&Row],
    options: &IngestOptions,
) -> Vec<DeviceUpdate> {
    let mut by_device: BTreeMap<Uuid, Vec<&Row>> = BTreeMap::new();
    for r in rows {
        by_device.entry(r.device).or_default().push(r);
    }
    let state: HashMap<Uuid, &DeviceRow> = devices.values().map(|d| (d.id, d)).collect();
    let mut out = Vec::with_capacity(by_device.len());
    for (id, mut rows) in by_device {
        let Some(d) = state.get(&id) else { continue };
        rows.sort_by_key(|r| r.ts);
        let has_hour_meter = d.has_hour_meter || rows.iter().any(|r| r.r.engine_hours.is_some());
        let mut prev_ts = d.last_ts;
        let mut prev_ign = d.last_ignition;
        let mut hours = 0.0;
        for r in rows.iter().filter(|r| d.last_ts.is_none_or(|t| r.ts > t)) {
            if let (Some(true), Some(p)) = (prev_ign, prev_ts) {
                let gap = r.ts - p;
                if gap <= options.max_ignition_gap {
                    hours += gap.num_milliseconds() as f64 / 3_600_000.0;
                }
            }
            if r.r.ignition.is_some() {
                prev_ign = r.r.ignition;
            }
            prev_ts = Some(r.ts);
        }
        let last_seen_at = rows
            .iter()
            .map(|r| r.received_at)
            .max()
            .unwrap_or_else(clock::now);
        out.push(DeviceUpdate {
            id,
            asset: d.asset_id,
            last_seen_at,
            last_ts: prev_ts,
            last_ignition: prev_ign,
            has_hour_meter,
            ignition_hours: if has_hour_meter { 0.0 } else { hours },
        });
    }
    out
}

/// Loads (and on PostgreSQL locks, in id order) the touched assets.
async fn load_assets(tx: &mut Tx, ids: &[Uuid]) -> Result<Vec<AssetState>, DomainError> {
    match &mut tx.0 {
        Conn::Sqlite(t) => sqlite::load_assets(t, ids).await,
        Conn::Postgres(t) => postgres::load_assets(t, ids).await,
    }
}

async fn write_assets(tx: &mut Tx, states: &[AssetState]) -> Result<(), DomainError> {
    match &mut tx.0 {
        Conn::Sqlite(t) => sqlite::write_assets(t, states).await,
        Conn::Postgres(t) => postgres::write_assets(t, states).await,
    }
}

/// Upserts the batch's usage into the daily rollup: one statement (per chunk on SQLite).
async fn write_usage(tx: &mut Tx, usage: &[Usage]) -> Result<(), DomainError> {
    match &mut tx.0 {
        Conn::Sqlite(t) => sqlite::write_usage(t, usage).await,
        Conn::Postgres(t) => postgres::write_usage(t, usage).await,
    }
}

async fn write_devices(tx: &mut Tx, updates: &[DeviceUpdate]) -> Result<(), DomainError> {
    match &mut tx.0 {
        Conn::Sqlite(t) => sqlite::write_devices(t, updates).await,
        Conn::Postgres(t) => postgres::write_devices(t, updates).await,
    }
}

async fn write_anomalies(
    tx: &mut Tx,
    anomalies: &[Anomaly],
    now: DateTime<Utc>,
) -> Result<(), DomainError> {
    for chunk in anomalies.chunks(CHUNK) {
        on_tx!(
            tx,
            insert_values(
                "INSERT INTO meter_anomalies (id, asset_id, device_id, ts, meter, previous, \
            reading, detected_at) ",
                chunk,
                |b, a| b
                    .push_bind(clock::new_id())
                    .push_bind(a.asset)
                    .push_bind(a.device)
                    .push_bind(a.ts)
                    .push_bind(a.meter)
                    .push_bind(a.previous)
                    .push_bind(a.reading)
                    .push_bind(now)
            )
        )?;
    }
    Ok(())
}

async fn write_crossings(tx: &mut Tx, crossings: &[Crossing]) -> Result<(), DomainError> {
    for chunk in crossings.chunks(CHUNK) {
        on_tx!(
            tx,
            insert_values(
                "INSERT INTO geofence_events (id, asset_id, site_id, kind, ts) ",
                chunk,
                |b, x| b
                    .push_bind(clock::new_id())
                    .push_bind(x.asset)
                    .push_bind(x.site)
                    .push_bind(x.kind)
                    .push_bind(x.ts)
            )
        )?;
    }
    Ok(())
}

/// Applies status messages in arrival order; a status older than the device's last one is
/// ignored. Returns how many were applied.
async fn write_statuses(
    tx: &mut Tx,
    statuses: &[(&DeviceRow, DeviceStatus, DateTime<Utc>)],
    events: &mut Vec<FleetEvent>,
) -> Result<usize, DomainError> {
    let mut applied = 0;
    let mut assets = Vec::new();
    for (d, status, at) in statuses {
        if d.status_at.is_some_and(|s| s > *at) {
            continue;
        }
        let online = *status == DeviceStatus::Online;
        on_tx!(
            tx,
            execute(
                sqlx::query(
                    "UPDATE devices SET online = $1, status_at = $2, \
                     last_seen_at = CASE WHEN $1 THEN $2 ELSE last_seen_at END, \
                     offline_cause = CASE WHEN $1 THEN NULL ELSE 'status' END WHERE id = $3"
                )
                .bind(online)
                .bind(*at)
                .bind(d.id)
            )
        )?;
        events.push(FleetEvent::DeviceStatus {
            device_id: d.device_id.clone(),
            asset_id: d.asset_id,
            online,
            at: *at,
        });
        assets.extend(d.asset_id);
        applied += 1;
    }
    // The assets' tracker state (online, last contact, which tracker is newest), once for the
    // batch's statuses and in its transaction.
    crate::devices::refresh_trackers(tx, &assets).await?;
    Ok(applied)
}
