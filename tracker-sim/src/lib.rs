//! A fleet of simulated GPS trackers on rental machinery, publishing native telemetry over MQTT
//! (DESIGN.md §4).
//!
//! Used by `fieldops demo` (a few devices, gentle rate, so a newcomer sees machines move), by
//! `fieldops-sim trackers` and by the ingest benchmark (up to 100 000 devices over a handful of
//! connections, as fast as the broker takes them). Every message goes through a real broker so
//! the gateway sees exactly what a real fleet would send, including the awkward parts: offline
//! buffers flushed as arrays, malformed payloads of every reject kind, devices without an hour
//! meter. It counts what it did, so a test or benchmark can compare the gateway's counters with
//! the truth.
//!
//! The server binary links this crate for `fieldops demo`, so it must stay small: it depends on
//! `mobile-shared` (topics, readings), rumqttc, tokio, chrono, rand and serde_json only — never on
//! `domain`, `api` or the `simulators` crate (load generators and benchmarks), and nothing here
//! draws progress bars.
//!
//! - `model`: the route and physics model of one machine (drives between sites, idles with the
//!   ignition cycling, hour meter and odometer advancing plausibly); pure and clock-free.
//! - `wire`: native payloads as a tracker writes them, good and deliberately bad.
//! - `config`: [`DeviceCreds`] and [`FleetConfig`]; `summary`: [`FleetSummary`],
//!   [`FleetProgress`].
//! - `fleet`: [`run_fleet`] — one scheduler decides *which* device speaks next and *when* (a
//!   token bucket from `pacer` for the fleet-wide rate, optionally shuffled order); each MQTT
//!   connection (`connection`) is a task owning the state of its devices (`device`), producing
//!   payloads and publishing them; a second task per connection drives the rumqttc event loop and
//!   counts acknowledgements. Shared counters feed progress and the summary.
#![forbid(unsafe_code)]

mod config;
mod connection;
mod device;
mod fleet;
mod model;
mod pacer;
mod summary;
mod wire;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

pub use config::{numbered_devices, DeviceCreds, FleetConfig};
pub use device::OFFLINE_BUFFER_CAP;
pub use fleet::{run_fleet, run_fleet_with_progress};
pub use model::{
    default_sites, distance_bearing, next_ts, usable_sites, MachineModel, Phase, MAX_BATTERY_V,
    MAX_DRIVE_KMH, MIN_BATTERY_V, MIN_DRIVE_KMH,
};
pub use pacer::TokenBucket;
pub use summary::{FleetProgress, FleetSummary, ProgressFn};
pub use wire::{
    encode_flush, encode_reading, reading_object, MalformedKind, MAX_FLUSH_BYTES,
    MAX_FLUSH_READINGS,
};

/// Why a fleet did not run. Problems during a run (dropped connections, missing acks) are not
/// errors: they are counted in the [`FleetSummary`], because a load test wants numbers.
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    /// The configuration is refused before anything connects (the message says which setting).
    #[error("{0}")]
    Config(String),
    /// Not one connection to the broker could be established.
    #[error("could not connect to the MQTT broker at {host}:{port} ({failures} failed attempts)")]
    Unreachable {
        host: String,
        port: u16,
        failures: u64,
    },
}

/// A string unique to this process and call, for MQTT client ids and topic prefixes that must not
/// collide with earlier runs (persistent sessions) or parallel ones (tests).
pub fn unique_run_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{}-{:x}-{n}", std::process::id(), nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_are_unique() {
        assert_ne!(unique_run_id(), unique_run_id());
    }
}
