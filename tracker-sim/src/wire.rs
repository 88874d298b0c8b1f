//! Native payloads as a tracker writes them, good and deliberately bad.
//!
//! Good readings are written by hand rather than through `mobile_shared::telemetry::encode_native`
//! for two reasons: `ts` always carries milliseconds (real trackers do, and it makes per-device
//! ordering visible on the wire), and an offline flush is always an array, even of one reading,
//! because that is what a buffering tracker sends. Tests check both decode exactly like
//! `encode_native` output.

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use mobile_shared::telemetry::Reading;
use serde_json::{Map, Number, Value};

/// Largest array flush in readings, well under the gateway's default `max_batch` (1000).
pub const MAX_FLUSH_READINGS: usize = 200;
/// Largest array flush in bytes, under the gateway's default 64 KiB payload limit so a flush is
/// never refused as a whole.
pub const MAX_FLUSH_BYTES: usize = 60_000;

/// One reading as a native JSON object (`ts` RFC 3339 UTC with milliseconds, absent fields
/// omitted, non-finite numbers omitted because JSON cannot carry them).
pub fn reading_object(r: &Reading) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert(
        "ts".into(),
        Value::String(r.ts.to_rfc3339_opts(SecondsFormat::Millis, true)),
    );
    let numbers = [
        ("lat", r.lat),
        ("lon", r.lon),
        ("speed_kmh", r.speed_kmh),
        ("heading_deg", r.heading_deg),
        ("hdop", r.hdop),
        ("engine_hours", r.engine_hours),
        ("odometer_km", r.odometer_km),
        ("battery_v", r.battery_v),
        ("accuracy_m", r.accuracy_m),
        ("altitude_m", r.altitude_m),
        ("battery_pct", r.battery_pct),
    ];
    for (field, value) in numbers {
        if let Some(n) = value.and_then(Number::from_f64) {
            m.insert(field.into(), Value::Number(n));
        }
    }
    if let Some(ignition) = r.ignition {
        m.insert("ignition".into(), Value::Bool(ignition));
    }
    m
}

/// A single-reading payload: one JSON object.
pub fn encode_reading(r: &Reading) -> Vec<u8> {
    Value::Object(reading_object(r)).to_string().into_bytes()
}

/// Offline-buffer flush payloads: JSON arrays in time order, split so that none exceeds
/// [`MAX_FLUSH_READINGS`] or [`MAX_FLUSH_BYTES`]. Usually one array; a long outage gives several.
pub fn encode_flush<'a>(readings: impl IntoIterator<Item = &'a Reading>) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut current: Vec<u8> = Vec::new();
    let mut count = 0;
    for r in readings {
        let item = Value::Object(reading_object(r)).to_string();
        // +2 for the separator and the closing bracket.
        if count > 0
            && (count >= MAX_FLUSH_READINGS || current.len() + item.len() + 2 > MAX_FLUSH_BYTES)
        {
            current.push(b']');
            out.push(std::mem::take(&mut current));
            count = 0;
        }
        current.push(if count == 0 { b'[' } else { b',' });
        current.extend_from_slice(item.as_bytes());
        count += 1;
    }
    if count > 0 {
        current.push(b']');
        out.push(current);
    }
    out
}

/// The ways a simulated tracker gets a message wrong, each named after the reject code the
/// gateway must give it (`mobile_shared::telemetry::RejectReason::as_str`), so a load test can
/// compare what it sent with what the gateway refused, kind by kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MalformedKind {
    /// Truncated JSON, as from a tracker that lost power mid-write.
    TruncatedJson,
    /// An array with a non-object element.
    NotAnObject,
    /// Above the gateway's 64 KiB payload limit (a runaway buffer flush).
    Oversized,
    /// A reading without `ts`.
    MissingTimestamp,
    /// A `ts` that is neither RFC 3339 nor a Unix number.
    UnparsableTimestamp,
    /// `lat` sent as a string, as some firmwares format numbers.
    WrongFieldType,
    /// `lat` 95.
    LatitudeOutOfRange,
    /// Exactly (0, 0): a GPS module without a fix.
    NullIsland,
    /// `lat` without `lon`.
    LatWithoutLon,
    /// A timestamp a year ahead: a tracker clock set wrong.
    FarFutureTimestamp,
    /// 2000-01-01: an RTC that lost its time.
    AncientTimestamp,
    /// A negative odometer.
    NegativeMeter,
    /// A heading of 400°.
    HeadingOutOfRange,
}

impl MalformedKind {
    /// Every kind, in a fixed order so seeded runs are reproducible.
    pub const ALL: [MalformedKind; 13] = [
        MalformedKind::TruncatedJson,
        MalformedKind::NotAnObject,
        MalformedKind::Oversized,
        MalformedKind::MissingTimestamp,
        MalformedKind::UnparsableTimestamp,
        MalformedKind::WrongFieldType,
        MalformedKind::LatitudeOutOfRange,
        MalformedKind::NullIsland,
        MalformedKind::LatWithoutLon,
        MalformedKind::FarFutureTimestamp,
        MalformedKind::AncientTimestamp,
        MalformedKind::NegativeMeter,
        MalformedKind::HeadingOutOfRange,
    ];

    /// The gateway's reject code for this kind; also the key in `FleetSummary::malformed_by_kind`.
    pub fn code(self) -> &'static str {
        match self {
            MalformedKind::TruncatedJson => "malformed_json",
            MalformedKind::NotAnObject => "unexpected_shape",
            MalformedKind::Oversized => "payload_too_large",
            MalformedKind::MissingTimestamp => "missing_timestamp",
            MalformedKind::UnparsableTimestamp => "bad_timestamp",
            MalformedKind::WrongFieldType => "bad_field",
            MalformedKind::LatitudeOutOfRange => "lat_lon_out_of_range",
            MalformedKind::NullIsland => "null_island",
            MalformedKind::LatWithoutLon => "lat_without_lon",
            MalformedKind::FarFutureTimestamp => "future_timestamp",
            MalformedKind::AncientTimestamp => "too_old",
            MalformedKind::NegativeMeter => "negative_meter",
            MalformedKind::HeadingOutOfRange => "value_out_of_range",
        }
    }

    /// Index into [`MalformedKind::ALL`], for per-kind counters.
    pub fn index(self) -> usize {
        MalformedKind::ALL
            .iter()
            .position(|k| *k == self)
            .unwrap_or(0)
    }

    /// A payload with exactly this fault, built from an otherwise good reading so that nothing
    /// else about it would be rejected first. `now` places the far-future timestamp.
    pub fn payload(self, good: &Reading, now: DateTime<Utc>) -> Vec<u8> {
        let mut obj = reading_object(good);
        let set_ts = |obj: &mut Map<String, Value>, ts: DateTime<Utc>| {
            obj.insert(
                "ts".into(),
                Value::String(ts.to_rfc3339_opts(SecondsFormat::Millis, true)),
            );
        };
        match self {
            MalformedKind::TruncatedJson => {
                let mut bytes = Value::Object(obj).to_string().into_bytes();
                // Any proper prefix of an object lacks its closing brace, so is never valid JSON.
                bytes.truncate((bytes.len() / 2).max(1));
                return bytes;
            }
            MalformedKind::NotAnObject => {
                return Value::Array(vec![Value::Object(obj), Value::from(42)])
                    .to_string()
                    .into_bytes();
            }
            MalformedKind::Oversized => {
                let item = Value::Object(obj).to_string();
                let mut bytes = b"[".to_vec();
                // Repeats one reading until the array passes 64 KiB: valid JSON, just too big.
                while bytes.len() <= 64 * 1024 + 1 {
                    if bytes.len() > 1 {
                        bytes.push(b',');
                    }
                    bytes.extend_from_slice(item.as_bytes());
                }
                bytes.push(b']');
                return bytes;
            }
            MalformedKind::MissingTimestamp => {
                obj.remove("ts");
            }
            MalformedKind::UnparsableTimestamp => {
                obj.insert("ts".into(), Value::from("yesterday 08:15"));
            }
            MalformedKind::WrongFieldType => {
                let lat = good.lat.map(|l| format!("{l:.6}")).unwrap_or_default();
                obj.insert("lat".into(), Value::String(lat));
            }
            MalformedKind::LatitudeOutOfRange => {
                obj.insert("lat".into(), Value::from(95.0));
                obj.insert("lon".into(), Value::from(good.lon.unwrap_or(11.5754)));
            }
            MalformedKind::NullIsland => {
                obj.insert("lat".into(), Value::from(0.0));
                obj.insert("lon".into(), Value::from(0.0));
            }
            MalformedKind::LatWithoutLon => {
                obj.insert("lat".into(), Value::from(good.lat.unwrap_or(48.1371)));
                obj.remove("lon");
            }
            MalformedKind::FarFutureTimestamp => {
                set_ts(&mut obj, now + TimeDelta::days(365));
            }
            MalformedKind::AncientTimestamp => {
                set_ts(
                    &mut obj,
                    DateTime::<Utc>::UNIX_EPOCH + TimeDelta::days(10_957),
                );
            }
            MalformedKind::NegativeMeter => {
                obj.insert("odometer_km".into(), Value::from(-12.5));
            }
            MalformedKind::HeadingOutOfRange => {
                obj.insert("heading_deg".into(), Value::from(400.0));
            }
        }
        Value::Object(obj).to_string().into_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mobile_shared::telemetry::{decode, encode_native, validate, Decoded, Limits, Topic};

    fn topic() -> Topic {
        Topic::Telemetry {
            device_id: "sim-1".into(),
        }
    }

    fn good(ts: DateTime<Utc>) -> Reading {
        let mut r = Reading::at(ts);
        r.lat = Some(48.137_1);
        r.lon = Some(11.575_4);
        r.speed_kmh = Some(42.5);
        r.heading_deg = Some(270.0);
        r.hdop = Some(0.9);
        r.engine_hours = Some(1532.4);
        r.odometer_km = Some(8412.2);
        r.ignition = Some(true);
        r.battery_v = Some(13.9);
        r
    }

    fn readings(payload: &[u8], now: DateTime<Utc>) -> Vec<Reading> {
        match decode(&topic(), payload, now) {
            Ok(Decoded::Readings(r)) => r,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn good_payloads_decode_like_encode_native() {
        let now = DateTime::from_timestamp_millis(Utc::now().timestamp_millis()).unwrap();
        let r = good(now);
        let mine = encode_reading(&r);
        assert_eq!(
            readings(&mine, now),
            readings(&encode_native(std::slice::from_ref(&r)), now)
        );
        assert_eq!(readings(&mine, now), vec![r.clone()]);
        // ts always carries milliseconds, even on a whole second.
        let whole = DateTime::from_timestamp(1_795_421_702, 0).unwrap();
        let text = String::from_utf8(encode_reading(&good(whole))).unwrap();
        assert!(
            text.contains("\"ts\":\"2026-11-23T08:15:02.000Z\""),
            "{text}"
        );
    }

    #[test]
    fn flushes_are_arrays_and_split_under_the_limits() {
        let now = Utc::now();
        let one = encode_flush([&good(now)]);
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].first(), Some(&b'['));
        assert_eq!(readings(&one[0], now).len(), 1);

        let many: Vec<Reading> = (0..500)
            .map(|i| good(now + TimeDelta::milliseconds(i)))
            .collect();
        let chunks = encode_flush(&many);
        assert!(chunks.len() >= 3);
        let mut back = Vec::new();
        for c in &chunks {
            assert!(c.len() <= MAX_FLUSH_BYTES);
            let got = readings(c, now);
            assert!(got.len() <= MAX_FLUSH_READINGS);
            back.extend(got);
        }
        let want: Vec<Reading> = many
            .iter()
            .map(|r| {
                let mut r = r.clone();
                r.ts = DateTime::from_timestamp_millis(r.ts.timestamp_millis()).unwrap();
                r
            })
            .collect();
        assert_eq!(back, want);
        assert!(encode_flush(&[] as &[Reading]).is_empty());
    }

    #[test]
    fn every_malformed_kind_gets_its_reject_code() {
        let now = Utc::now();
        let limits = Limits::default();
        let mut codes = std::collections::BTreeSet::new();
        for kind in MalformedKind::ALL {
            assert!(codes.insert(kind.code()), "duplicate code {}", kind.code());
            assert_eq!(MalformedKind::ALL[kind.index()], kind);
            let payload = kind.payload(&good(now), now);
            let got = match decode(&topic(), &payload, now) {
                Err(e) => e.as_str(),
                Ok(Decoded::Readings(rs)) => rs
                    .iter()
                    .find_map(|r| validate(r, now, &limits).err())
                    .map(|e| e.as_str())
                    .unwrap_or("accepted"),
                Ok(other) => panic!("{kind:?}: {other:?}"),
            };
            assert_eq!(got, kind.code(), "{kind:?}");
            assert!(
                mobile_shared::telemetry::RejectReason::ALL_CODES.contains(&kind.code()),
                "{kind:?}"
            );
        }
    }
}
