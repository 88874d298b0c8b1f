//! Pure decoders for tracker telemetry arriving over MQTT (DESIGN.md §4 "MQTT").
//!
//! Topic + payload bytes in, typed [`Reading`]s or a typed [`RejectReason`] out. No I/O, no
//! clock (callers pass `now`), no MQTT client, so the same code runs in the gateway, in tracker
//! simulators and in phone apps, and every decision is unit-testable.
//!
//! Flow: [`parse_topic`] → [`decode`] (shape and units) → [`validate()`] per reading (plausibility
//! against `now` and [`Limits`]). A decode error refuses the whole message; validation is per
//! reading so one bad fix in a flushed offline buffer does not drop the rest. Engine hours going
//! backwards is stateful and left to the server.
//!
//! # Canonical units
//!
//! Every [`Reading`] is in one unit system whatever the wire format:
//!
//! | field | unit | conversions |
//! |---|---|---|
//! | `lat`, `lon` | WGS 84 decimal degrees | none |
//! | `speed_kmh` | km/h | SenML `m/s` × 3.6; OwnTracks `vel` is already km/h |
//! | `heading_deg` | degrees clockwise from north, 0–360 | SenML `rad` × 180/π |
//! | `engine_hours` | hours | SenML `s` ÷ 3600 |
//! | `odometer_km` | km | SenML `m` ÷ 1000 |
//! | `accuracy_m`, `altitude_m` | metres | none |
//! | `battery_v` | volts | SenML `V` |
//! | `battery_pct` | percent 0–100 | SenML `%EL`; OwnTracks `batt` |
//! | `ts` | UTC | RFC 3339, or Unix s / ms (see [`MILLIS_THRESHOLD`]); SenML relative times from `now` |
//!
//! An empty (or whitespace-only) payload decodes to [`Decoded::Ignored`] on every topic: that is
//! how MQTT clears a retained message, not a broken tracker.
#![forbid(unsafe_code)]

mod json;
mod native;
mod owntracks;
mod reject;
mod senml;
mod status;
mod time;
mod topic;
mod validate;

#[cfg(test)]
mod tests;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

pub use native::{encode_native, NativeMessage};
pub use reject::RejectReason;
pub use senml::RELATIVE_TIME_LIMIT;
pub use time::MILLIS_THRESHOLD;
pub use topic::{
    is_valid_device_id, parse_topic, shared_subscriptions, subscriptions, Topic, MAX_DEVICE_ID_LEN,
    SHARE_GROUP,
};
pub use validate::validate;

/// One timestamped observation from a tracker, in canonical units (see the module docs).
///
/// Every field but `ts` is optional because trackers report what they have: a heartbeat may carry
/// only battery, a phone has no engine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reading {
    pub ts: DateTime<Utc>,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    pub accuracy_m: Option<f64>,
    pub speed_kmh: Option<f64>,
    pub heading_deg: Option<f64>,
    pub altitude_m: Option<f64>,
    pub hdop: Option<f64>,
    pub engine_hours: Option<f64>,
    pub odometer_km: Option<f64>,
    pub ignition: Option<bool>,
    pub battery_v: Option<f64>,
    pub battery_pct: Option<f64>,
}

impl Reading {
    /// A reading at `ts` with nothing measured yet; decoders fill in what the payload has.
    pub fn at(ts: DateTime<Utc>) -> Self {
        Reading {
            ts,
            lat: None,
            lon: None,
            accuracy_m: None,
            speed_kmh: None,
            heading_deg: None,
            altitude_m: None,
            hdop: None,
            engine_hours: None,
            odometer_km: None,
            ignition: None,
            battery_v: None,
            battery_pct: None,
        }
    }

    /// The numeric fields with their wire names, so checks cannot forget one.
    pub(crate) fn numeric_fields(&self) -> [(&'static str, Option<f64>); 11] {
        [
            ("lat", self.lat),
            ("lon", self.lon),
            ("accuracy_m", self.accuracy_m),
            ("speed_kmh", self.speed_kmh),
            ("heading_deg", self.heading_deg),
            ("altitude_m", self.altitude_m),
            ("hdop", self.hdop),
            ("engine_hours", self.engine_hours),
            ("odometer_km", self.odometer_km),
            ("battery_v", self.battery_v),
            ("battery_pct", self.battery_pct),
        ]
    }
}

/// A tracker's connection state, from its status topic (normally its MQTT last will).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceStatus {
    Online,
    Offline,
}

/// What a message turned out to be.
#[derive(Debug, Clone, PartialEq)]
pub enum Decoded {
    /// One or more readings, in payload order (SenML: in time order). Never empty.
    Readings(Vec<Reading>),
    /// A connection-state change.
    Status(DeviceStatus),
    /// Well-formed but carries nothing for us (another OwnTracks `_type`, an empty batch, a
    /// retained-message clear); not an error, so it must not count as a reject.
    Ignored,
}

/// Bounds that keep a hostile or broken tracker from costing much or polluting history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Payloads above this are refused before parsing. Default 64 KiB.
    pub max_payload_bytes: usize,
    /// Longest native array / SenML pack. Default 1000.
    pub max_batch: usize,
    /// How far ahead of `now` a reading may be (tracker clock skew). Default 5 minutes.
    pub max_future: TimeDelta,
    /// How far behind `now` a reading may be (offline buffers). Default 30 days.
    pub max_age: TimeDelta,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_payload_bytes: 64 * 1024,
            max_batch: 1000,
            max_future: TimeDelta::minutes(5),
            max_age: TimeDelta::days(30),
        }
    }
}

/// Decodes one message with [`Limits::default`]. `now` resolves SenML relative times.
pub fn decode(topic: &Topic, payload: &[u8], now: DateTime<Utc>) -> Result<Decoded, RejectReason> {
    decode_with_limits(topic, payload, now, &Limits::default())
}

/// Decodes one message. Never panics; work is bounded by `limits.max_payload_bytes`, checked
/// before anything is parsed. Readings are not validated here, call [`validate()`] on each.
pub fn decode_with_limits(
    topic: &Topic,
    payload: &[u8],
    now: DateTime<Utc>,
    limits: &Limits,
) -> Result<Decoded, RejectReason> {
    if payload.len() > limits.max_payload_bytes {
        return Err(RejectReason::PayloadTooLarge {
            size: payload.len(),
            max: limits.max_payload_bytes,
        });
    }
    if payload.iter().all(u8::is_ascii_whitespace) {
        return Ok(Decoded::Ignored);
    }
    let decoded = match topic {
        Topic::Telemetry { .. } => native::decode(payload, limits)?,
        Topic::OwnTracks { .. } => owntracks::decode(payload)?,
        Topic::Senml { .. } => senml::decode(payload, now, limits)?,
        Topic::Status { .. } => return status::decode(payload).map(Decoded::Status),
    };
    Ok(if decoded.is_empty() {
        Decoded::Ignored
    } else {
        Decoded::Readings(decoded)
    })
}
