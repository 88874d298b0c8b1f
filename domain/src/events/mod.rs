//! What changed in the fleet, for live views (map, SSE) and for rules that react to telemetry
//! (maintenance).
//!
//! - [`EventBus`]: the in-process bus. Events are published after their transaction commits, so
//!   a subscriber never sees a change that was rolled back. A subscriber that falls behind loses
//!   the oldest events (broadcast semantics) and should re-read current state from the API.
//! - [`fanout`]: the same events numbered in commit order, for every process of a database.
//!   On PostgreSQL the publishing transaction NOTIFYs them (delivered only if it commits) and
//!   every API process LISTENs; on SQLite (one process) the bus numbers them itself.
//! - [`live`]: what `GET /api/v1/events` reads — the numbered events coalesced per asset and
//!   kind every 250 ms, a bounded ring of recent frames for `Last-Event-ID` resume, and a
//!   bounded queue per client.

pub mod fanout;
pub mod live;

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::broadcast;
use uuid::Uuid;

pub use fanout::{stage, Staged};
pub use live::{LiveHub, LiveSettings};

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FleetEvent {
    /// An asset's current position moved to a newer fix.
    Position {
        asset_id: Uuid,
        lat: f64,
        lon: f64,
        at: DateTime<Utc>,
        speed_kmh: Option<f64>,
    },
    /// An asset's engine hours or odometer advanced.
    Meters {
        asset_id: Uuid,
        engine_hours: Option<f64>,
        odometer_km: Option<f64>,
        at: DateTime<Utc>,
    },
    /// A meter reading went backwards (meter replaced or faulty); kept, not applied.
    MeterAnomaly {
        asset_id: Uuid,
        meter: &'static str,
        previous: f64,
        reading: f64,
        at: DateTime<Utc>,
    },
    GeofenceEnter {
        asset_id: Uuid,
        site_id: Uuid,
        at: DateTime<Utc>,
    },
    GeofenceExit {
        asset_id: Uuid,
        site_id: Uuid,
        at: DateTime<Utc>,
    },
    /// A tracker said it is online/offline (its status topic or last will).
    DeviceStatus {
        device_id: String,
        asset_id: Option<Uuid>,
        online: bool,
        at: DateTime<Utc>,
    },
    /// A tracker has been silent longer than the configured limit: its asset is stale.
    DeviceSilent {
        device_id: String,
        asset_id: Option<Uuid>,
        last_seen_at: Option<DateTime<Utc>>,
    },
}

impl FleetEvent {
    /// The SSE `event:` name, equal to the JSON `type` tag.
    pub fn kind(&self) -> &'static str {
        match self {
            FleetEvent::Position { .. } => "position",
            FleetEvent::Meters { .. } => "meters",
            FleetEvent::MeterAnomaly { .. } => "meter_anomaly",
            FleetEvent::GeofenceEnter { .. } => "geofence_enter",
            FleetEvent::GeofenceExit { .. } => "geofence_exit",
            FleetEvent::DeviceStatus { .. } => "device_status",
            FleetEvent::DeviceSilent { .. } => "device_silent",
        }
    }
}

/// One live event as it travels between processes and into the SSE stream: its kind, the
/// JSON of the [`FleetEvent`] (serialised once, where it was published) and the key under
/// which newer events replace it when coalescing.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveItem {
    pub kind: String,
    pub key: String,
    pub data: Arc<str>,
}

impl LiveItem {
    pub fn of(event: &FleetEvent) -> Result<LiveItem, serde_json::Error> {
        Ok(LiveItem::from_json(serde_json::to_string(event)?))
    }

    /// Reads the kind and coalescing key back from an event's JSON (what a listener gets).
    pub fn from_json(data: String) -> LiveItem {
        #[derive(serde::Deserialize, Default)]
        #[serde(default)]
        struct Head {
            #[serde(rename = "type")]
            kind: String,
            asset_id: Option<Uuid>,
            device_id: Option<String>,
            meter: Option<String>,
        }
        let head: Head = serde_json::from_str(&data).unwrap_or_default();
        // Enter and exit of a fence describe one state (where the asset is), so the newer one
        // replaces the older; an anomaly is per meter; device events are per device.
        let group = match head.kind.as_str() {
            "geofence_enter" | "geofence_exit" => "geofence".to_owned(),
            "meter_anomaly" => format!("meter_anomaly:{}", head.meter.unwrap_or_default()),
            other => other.to_owned(),
        };
        let subject = match (
            head.kind.starts_with("device_"),
            head.asset_id,
            head.device_id,
        ) {
            (true, _, Some(d)) => format!("device:{d}"),
            (_, Some(a), _) => format!("asset:{a}"),
            (_, None, Some(d)) => format!("device:{d}"),
            (_, None, None) => String::new(),
        };
        LiveItem {
            kind: head.kind,
            key: format!("{group}/{subject}"),
            data: data.into(),
        }
    }
}

/// Events of one committed transaction, numbered: `seq` is the transaction's place in commit
/// order (a database counter on PostgreSQL, this process's counter on SQLite) and `first` the
/// index of `items[0]` among its events (a large batch travels in several NOTIFY parts).
#[derive(Debug, Clone)]
pub struct Numbered {
    pub seq: u64,
    pub first: u32,
    pub items: Arc<[LiveItem]>,
}

/// Cheap to clone; every clone publishes to the same subscribers.
#[derive(Debug, Clone)]
pub struct EventBus {
    tx: broadcast::Sender<FleetEvent>,
    /// Numbered batches that did not leave the process (SQLite): [`fanout`] reads them.
    local: broadcast::Sender<Numbered>,
    /// The last local `seq`; the lock is held while sending, so sends are in `seq` order.
    local_seq: Arc<Mutex<u64>>,
}

impl Default for EventBus {
    fn default() -> Self {
        EventBus::new(4096)
    }
}

impl EventBus {
    pub fn new(capacity: usize) -> EventBus {
        let (tx, _) = broadcast::channel(capacity.max(1));
        let (local, _) = broadcast::channel(1024);
        // A restarted process must not reuse the numbers of the one before (a browser resumes
        // with an id it was given): start from the clock, in milliseconds, far below the
        // ids' capacity (`live::event_id`) and above any earlier run at a few batches a second.
        let start = u64::try_from(Utc::now().timestamp_millis()).unwrap_or(0);
        EventBus {
            tx,
            local,
            local_seq: Arc::new(Mutex::new(start)),
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<FleetEvent> {
        self.tx.subscribe()
    }

    /// Publishes events to this process's subscribers only; having none is normal. Live
    /// streams (SSE) see only events of a transaction that [`stage`]d them and was then
    /// published with [`EventBus::publish_staged`].
    pub fn publish(&self, events: impl IntoIterator<Item = FleetEvent>) {
        for e in events {
            let _ = self.tx.send(e);
        }
    }

    /// Publishes the events of a committed transaction that went through [`stage`]: to this
    /// process's subscribers, and to live streams unless the database already fans them out.
    pub fn publish_staged(&self, staged: Staged, events: Vec<FleetEvent>) {
        if events.is_empty() {
            return;
        }
        if staged == Staged::Local {
            self.number_locally(&events);
        }
        for e in events {
            let _ = self.tx.send(e);
        }
    }

    fn number_locally(&self, events: &[FleetEvent]) {
        let items: Vec<LiveItem> = events
            .iter()
            .filter_map(|e| match LiveItem::of(e) {
                Ok(item) => Some(item),
                Err(err) => {
                    tracing::error!(kind = e.kind(), "live event not serialisable: {err}");
                    None
                }
            })
            .collect();
        let mut seq = match self.local_seq.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        *seq += 1;
        let _ = self.local.send(Numbered {
            seq: *seq,
            first: 0,
            items: items.into(),
        });
    }

    /// Numbered batches published in this process (SQLite's live source).
    pub(crate) fn subscribe_local(&self) -> broadcast::Receiver<Numbered> {
        self.local.subscribe()
    }
}
