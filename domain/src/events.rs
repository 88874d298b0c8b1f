//! The in-process event bus: what changed in the fleet, for live views (map, SSE) and for rules
//! that react to telemetry (maintenance). Events are published after their transaction commits,
//! so a subscriber never sees a change that was rolled back. A subscriber that falls behind
//! loses the oldest events (broadcast semantics) and should re-read current state from the API.

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::broadcast;
use uuid::Uuid;

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

/// Cheap to clone; every clone publishes to the same subscribers.
#[derive(Debug, Clone)]
pub struct EventBus {
    tx: broadcast::Sender<FleetEvent>,
}

impl Default for EventBus {
    fn default() -> Self {
        EventBus::new(4096)
    }
}

impl EventBus {
    pub fn new(capacity: usize) -> EventBus {
        let (tx, _) = broadcast::channel(capacity.max(1));
        EventBus { tx }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<FleetEvent> {
        self.tx.subscribe()
    }

    /// Publishes events; having no subscriber is normal and not an error.
    pub fn publish(&self, events: impl IntoIterator<Item = FleetEvent>) {
        for e in events {
            let _ = self.tx.send(e);
        }
    }
}
