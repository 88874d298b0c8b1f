//! The native `fieldops/v1/<device_id>/telemetry` format: one JSON object, or an array of them
//! when a tracker flushes its offline buffer.
//!
//! Fields are exactly the [`Reading`] names in canonical units, so there is nothing to convert.
//! Beyond the contract's example fields, `accuracy_m`, `altitude_m` and `battery_pct` are also
//! read (optional, same names as [`Reading`]) so a native tracker loses nothing OwnTracks or SenML
//! could say. Unknown fields are ignored so trackers can add fields before the server knows them.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::json::{opt_bool, opt_f64, parse};
use super::reject::RejectReason;
use super::time::parse_native_ts;
use super::{Limits, Reading};

/// One native telemetry object, for simulators and phone apps that publish the native format.
///
/// Serializes `ts` as RFC 3339 UTC and omits absent fields; deserializes `ts` by the same rules
/// as the gateway (RFC 3339, Unix seconds or milliseconds).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NativeMessage {
    #[serde(with = "ts_format")]
    pub ts: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lat: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lon: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speed_kmh: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heading_deg: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hdop: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine_hours: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub odometer_km: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignition: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub battery_v: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accuracy_m: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub altitude_m: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub battery_pct: Option<f64>,
}

impl From<&Reading> for NativeMessage {
    fn from(r: &Reading) -> Self {
        NativeMessage {
            ts: r.ts,
            lat: r.lat,
            lon: r.lon,
            speed_kmh: r.speed_kmh,
            heading_deg: r.heading_deg,
            hdop: r.hdop,
            engine_hours: r.engine_hours,
            odometer_km: r.odometer_km,
            ignition: r.ignition,
            battery_v: r.battery_v,
            accuracy_m: r.accuracy_m,
            altitude_m: r.altitude_m,
            battery_pct: r.battery_pct,
        }
    }
}

impl From<&NativeMessage> for Reading {
    fn from(m: &NativeMessage) -> Self {
        Reading {
            ts: m.ts,
            lat: m.lat,
            lon: m.lon,
            accuracy_m: m.accuracy_m,
            speed_kmh: m.speed_kmh,
            heading_deg: m.heading_deg,
            altitude_m: m.altitude_m,
            hdop: m.hdop,
            engine_hours: m.engine_hours,
            odometer_km: m.odometer_km,
            ignition: m.ignition,
            battery_v: m.battery_v,
            battery_pct: m.battery_pct,
        }
    }
}

/// Encodes readings as a native payload: an object for one reading, an array otherwise.
///
/// No validation happens here (simulators deliberately send bad data); a non-finite number is
/// written as `null`, i.e. absent, because JSON has no NaN.
pub fn encode_native(readings: &[Reading]) -> Vec<u8> {
    let messages: Vec<NativeMessage> = readings.iter().map(NativeMessage::from).collect();
    let encoded = match messages.as_slice() {
        [one] => serde_json::to_vec(one),
        many => serde_json::to_vec(many),
    };
    // Serializing plain structs of numbers, bools and a string cannot fail.
    encoded.unwrap_or_default()
}

/// Serde adapter: RFC 3339 out, the full native `ts` rule in.
mod ts_format {
    use super::*;
    use serde::{de::Error as _, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(ts: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&ts.to_rfc3339_opts(SecondsFormat::AutoSi, true))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let value = Value::deserialize(d)?;
        parse_native_ts(&value).map_err(D::Error::custom)
    }
}

pub(crate) fn decode(payload: &[u8], limits: &Limits) -> Result<Vec<Reading>, RejectReason> {
    match parse(payload)? {
        Value::Object(obj) => Ok(vec![reading_from(&obj)?]),
        Value::Array(items) => {
            if items.len() > limits.max_batch {
                return Err(RejectReason::BatchTooLarge {
                    len: items.len(),
                    max: limits.max_batch,
                });
            }
            items
                .iter()
                .enumerate()
                .map(|(i, item)| match item {
                    Value::Object(obj) => reading_from(obj),
                    _ => Err(RejectReason::UnexpectedShape {
                        detail: format!("array element {i} is not an object"),
                    }),
                })
                .collect()
        }
        _ => Err(RejectReason::UnexpectedShape {
            detail: "native telemetry must be an object or an array of objects".into(),
        }),
    }
}

fn reading_from(obj: &Map<String, Value>) -> Result<Reading, RejectReason> {
    let ts = match obj.get("ts") {
        None | Some(Value::Null) => return Err(RejectReason::MissingTimestamp),
        Some(v) => parse_native_ts(v)?,
    };
    Ok(Reading {
        ts,
        lat: opt_f64(obj, "lat")?,
        lon: opt_f64(obj, "lon")?,
        accuracy_m: opt_f64(obj, "accuracy_m")?,
        speed_kmh: opt_f64(obj, "speed_kmh")?,
        heading_deg: opt_f64(obj, "heading_deg")?,
        altitude_m: opt_f64(obj, "altitude_m")?,
        hdop: opt_f64(obj, "hdop")?,
        engine_hours: opt_f64(obj, "engine_hours")?,
        odometer_km: opt_f64(obj, "odometer_km")?,
        ignition: opt_bool(obj, "ignition")?,
        battery_v: opt_f64(obj, "battery_v")?,
        battery_pct: opt_f64(obj, "battery_pct")?,
    })
}
