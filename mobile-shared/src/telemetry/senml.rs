//! SenML JSON packs (RFC 8428) on `fieldops/v1/<device_id>/senml`, for off-the-shelf sensors and
//! LwM2M-style firmwares that already speak SenML.
//!
//! Resolution follows RFC 8428 §4: base fields (`bn`, `bt`, `bu`, `bv`, `bver`) apply to their
//! record and every later one until replaced; the name is `bn + n`, the time `bt + t`, the value
//! `bv + v`. Resolved times below 2^28 are relative to `now` (§4.5.3). Records sharing a resolved
//! time become one [`Reading`]; readings come out in time order.
//!
//! A record is recognised by the last `:`/`/` segment of its resolved name:
//!
//! | name | value | units (→ canonical) |
//! |---|---|---|
//! | `lat`, `lon` | `v` | `lat` / `lon` or none |
//! | `engine_hours`, `hours` | `v` | `h` or none; `s` (÷ 3600) |
//! | `odometer` | `v` | `km`; `m` (÷ 1000) |
//! | `speed` | `v` | `km/h`; `m/s` (× 3.6) |
//! | `battery` | `v` | `V` → `battery_v`; `%EL` → `battery_pct` |
//! | `ignition` | `vb` | none |
//! | `heading` | `v` | `deg` or none; `rad` (→ degrees) |
//! | `alt`, `altitude`, `accuracy` | `v` | `m` or none |
//! | `hdop` | `v` | none |
//!
//! Names that already say their unit (hours, degrees, metres) default to it; `odometer`, `speed`
//! and `battery` are ambiguous without one, so a missing unit is a reject rather than a guess.
//! As in the RFC's §5.1.3 example, a record with any other name but unit `lat`, `lon` or `%EL` is
//! read by its unit. Everything else is ignored, as are records without a value (pure base-field
//! headers) and the sum/update-time fields. The name in `bn` is not checked against the topic:
//! the broker already authenticated the sender.

use std::borrow::Cow;
use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::json::{opt_bool, opt_f64, opt_str, parse};
use super::reject::{clip, RejectReason};
use super::time::{from_unix_seconds, offset_from};
use super::{Limits, Reading};

/// RFC 8428 §4.5.3: resolved times below 2^28 s (1978-07-04) are relative to "now".
pub const RELATIVE_TIME_LIMIT: f64 = 268_435_456.0;

/// The SenML version defined by RFC 8428; newer packs MUST NOT be used (§4.4).
const SUPPORTED_VERSION: i64 = 10;

/// What a record measures, decided by name (or unit) before the unit is checked.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Lat,
    Lon,
    EngineHours,
    Odometer,
    Speed,
    Battery,
    Ignition,
    Heading,
    Altitude,
    Accuracy,
    Hdop,
}

/// The [`Reading`] field a numeric record fills.
#[derive(Debug, Clone, Copy)]
enum Slot {
    Lat,
    Lon,
    EngineHours,
    OdometerKm,
    SpeedKmh,
    BatteryV,
    BatteryPct,
    HeadingDeg,
    AltitudeM,
    AccuracyM,
    Hdop,
}

/// Base fields in force for the current record.
struct Base {
    name: String,
    /// `name` after its last `:`/`/`, kept so records never copy a long base name: a 60 KB `bn`
    /// followed by hundreds of tiny records would otherwise cost hundreds of 60 KB copies.
    name_tail: String,
    /// Whether `name` alone obeys the RFC 8428 name rules, checked once when `bn` is set.
    name_valid: bool,
    time: f64,
    unit: Option<String>,
    value: f64,
    version: i64,
}

pub(crate) fn decode(
    payload: &[u8],
    now: DateTime<Utc>,
    limits: &Limits,
) -> Result<Vec<Reading>, RejectReason> {
    let Value::Array(records) = parse(payload)? else {
        return Err(RejectReason::UnexpectedShape {
            detail: "a SenML pack must be a JSON array of records".into(),
        });
    };
    if records.len() > limits.max_batch {
        return Err(RejectReason::BatchTooLarge {
            len: records.len(),
            max: limits.max_batch,
        });
    }
    let mut base = Base {
        name: String::new(),
        name_tail: String::new(),
        name_valid: true,
        time: 0.0,
        unit: None,
        value: 0.0,
        version: SUPPORTED_VERSION,
    };
    let mut readings: BTreeMap<DateTime<Utc>, Reading> = BTreeMap::new();
    for (i, record) in records.iter().enumerate() {
        let Value::Object(record) = record else {
            return Err(RejectReason::UnexpectedShape {
                detail: format!("SenML record {i} is not an object"),
            });
        };
        apply_record(i, record, &mut base, now, &mut readings)?;
    }
    Ok(readings.into_values().collect())
}

fn invalid(detail: String) -> RejectReason {
    RejectReason::InvalidSenml { detail }
}

fn apply_record(
    i: usize,
    record: &Map<String, Value>,
    base: &mut Base,
    now: DateTime<Utc>,
    readings: &mut BTreeMap<DateTime<Utc>, Reading>,
) -> Result<(), RejectReason> {
    // §4.4: an unknown label ending in '_' is must-understand; we understand none of them.
    if let Some(label) = record.keys().find(|k| k.ends_with('_')) {
        return Err(invalid(format!(
            "record {i}: must-understand field `{}` is not supported",
            clip(label)
        )));
    }
    if let Some(v) = record.get("bver") {
        let version = v
            .as_i64()
            .filter(|v| *v >= 1)
            .ok_or_else(|| invalid(format!("record {i}: bver must be a positive integer")))?;
        if version > SUPPORTED_VERSION {
            return Err(invalid(format!(
                "version {version} is newer than {SUPPORTED_VERSION}"
            )));
        }
        if i > 0 && version != base.version {
            return Err(invalid(format!("record {i}: records mix SenML versions")));
        }
        base.version = version;
    }
    if let Some(bn) = opt_str(record, "bn")? {
        bn.clone_into(&mut base.name);
        last_segment(bn).clone_into(&mut base.name_tail);
        base.name_valid = is_valid_name(bn);
    }
    if let Some(bt) = opt_f64(record, "bt")? {
        base.time = bt;
    }
    if let Some(bu) = opt_str(record, "bu")? {
        base.unit = Some(bu.to_owned());
    }
    if let Some(bv) = opt_f64(record, "bv")? {
        base.value = bv;
    }
    let n = opt_str(record, "n")?.unwrap_or("");
    let unit = opt_str(record, "u")?.or(base.unit.as_deref());
    let t = opt_f64(record, "t")?.unwrap_or(0.0);
    let v = opt_f64(record, "v")?;
    let vb = opt_bool(record, "vb")?;
    let has_vs = opt_str(record, "vs")?.is_some();
    let has_vd = opt_str(record, "vd")?.is_some();
    // Type-checked only: a sum or update time says nothing a Reading can hold.
    opt_f64(record, "s")?;
    opt_f64(record, "ut")?;
    opt_f64(record, "bs")?;

    let values = [v.is_some(), vb.is_some(), has_vs, has_vd]
        .into_iter()
        .filter(|present| *present)
        .count();
    if values > 1 {
        return Err(invalid(format!("record {i} has more than one value field")));
    }
    if values == 0 {
        return Ok(());
    }

    let full_name = || format!("{}{}", base.name, n);
    let name_valid = if base.name.is_empty() {
        is_valid_name(n)
    } else {
        base.name_valid && n.bytes().all(is_name_byte)
    };
    if !name_valid {
        return Err(invalid(format!(
            "record {i}: name `{}` breaks the RFC 8428 character rules",
            clip(&full_name())
        )));
    }
    let local = local_name(&base.name_tail, n);
    let Some(kind) = kind_by_name(&local).or_else(|| unit.and_then(kind_by_unit)) else {
        return Ok(());
    };

    let time = base.time + t;
    let ts = if time < RELATIVE_TIME_LIMIT {
        offset_from(now, time)
    } else {
        from_unix_seconds(time)
    }
    .ok_or_else(|| RejectReason::BadTimestamp {
        value: format!("{time} (SenML record {i})"),
    })?;

    if let Kind::Ignition = kind {
        let on =
            vb.ok_or_else(|| invalid(format!("record {i}: `{local}` needs a boolean `vb`")))?;
        readings
            .entry(ts)
            .or_insert_with(|| Reading::at(ts))
            .ignition = Some(on);
        return Ok(());
    }
    let raw = v.ok_or_else(|| invalid(format!("record {i}: `{local}` needs a numeric `v`")))?;
    let (slot, convert) =
        numeric_target(kind, unit).ok_or_else(|| RejectReason::UnsupportedUnit {
            name: clip(&full_name()),
            unit: clip(unit.unwrap_or("")),
        })?;
    let value = convert(base.value + raw);
    let reading = readings.entry(ts).or_insert_with(|| Reading::at(ts));
    let field = match slot {
        Slot::Lat => &mut reading.lat,
        Slot::Lon => &mut reading.lon,
        Slot::EngineHours => &mut reading.engine_hours,
        Slot::OdometerKm => &mut reading.odometer_km,
        Slot::SpeedKmh => &mut reading.speed_kmh,
        Slot::BatteryV => &mut reading.battery_v,
        Slot::BatteryPct => &mut reading.battery_pct,
        Slot::HeadingDeg => &mut reading.heading_deg,
        Slot::AltitudeM => &mut reading.altitude_m,
        Slot::AccuracyM => &mut reading.accuracy_m,
        Slot::Hdop => &mut reading.hdop,
    };
    // A repeated measurement at the same instant: the later record wins, as in a resolved pack.
    *field = Some(value);
    Ok(())
}

fn kind_by_name(local: &str) -> Option<Kind> {
    Some(match local {
        "lat" => Kind::Lat,
        "lon" => Kind::Lon,
        "engine_hours" | "hours" => Kind::EngineHours,
        "odometer" => Kind::Odometer,
        "speed" => Kind::Speed,
        "battery" => Kind::Battery,
        "ignition" => Kind::Ignition,
        "heading" => Kind::Heading,
        "alt" | "altitude" => Kind::Altitude,
        "accuracy" => Kind::Accuracy,
        "hdop" => Kind::Hdop,
        _ => return None,
    })
}

/// Units that identify the quantity on their own (RFC 8428 §5.1.3 names position records only
/// by unit).
fn kind_by_unit(unit: &str) -> Option<Kind> {
    match unit {
        "lat" => Some(Kind::Lat),
        "lon" => Some(Kind::Lon),
        "%EL" => Some(Kind::Battery),
        _ => None,
    }
}

/// Converts a wire value to the canonical unit.
type Convert = fn(f64) -> f64;

/// Where a numeric measurement goes and how it becomes canonical; `None` = unsupported unit.
fn numeric_target(kind: Kind, unit: Option<&str>) -> Option<(Slot, Convert)> {
    let same: Convert = |x| x;
    Some(match (kind, unit) {
        (Kind::Lat, None | Some("lat")) => (Slot::Lat, same),
        (Kind::Lon, None | Some("lon")) => (Slot::Lon, same),
        (Kind::EngineHours, None | Some("h")) => (Slot::EngineHours, same),
        (Kind::EngineHours, Some("s")) => (Slot::EngineHours, |x| x / 3600.0),
        (Kind::Odometer, Some("km")) => (Slot::OdometerKm, same),
        (Kind::Odometer, Some("m")) => (Slot::OdometerKm, |x| x / 1000.0),
        (Kind::Speed, Some("km/h")) => (Slot::SpeedKmh, same),
        (Kind::Speed, Some("m/s")) => (Slot::SpeedKmh, |x| x * 3.6),
        (Kind::Battery, Some("V")) => (Slot::BatteryV, same),
        (Kind::Battery, Some("%EL")) => (Slot::BatteryPct, same),
        (Kind::Heading, None | Some("deg")) => (Slot::HeadingDeg, same),
        (Kind::Heading, Some("rad")) => (Slot::HeadingDeg, f64::to_degrees),
        (Kind::Altitude, None | Some("m")) => (Slot::AltitudeM, same),
        (Kind::Accuracy, None | Some("m")) => (Slot::AccuracyM, same),
        (Kind::Hdop, None) => (Slot::Hdop, same),
        _ => return None,
    })
}

/// The part of `s` after its last `:` or `/` (all of it when there is none).
fn last_segment(s: &str) -> &str {
    s.rfind([':', '/']).map_or(s, |at| &s[at + 1..])
}

/// Last `:`/`/` segment of `bn + n` without building the whole name; a tail too long to be one
/// of our names comes back empty (unknown).
fn local_name<'a>(base_tail: &str, n: &'a str) -> Cow<'a, str> {
    const LONGEST_KNOWN: usize = "engine_hours".len();
    if n.contains([':', '/']) {
        Cow::Borrowed(last_segment(n))
    } else if base_tail.is_empty() {
        Cow::Borrowed(n)
    } else if base_tail.len() + n.len() <= LONGEST_KNOWN {
        Cow::Owned(format!("{base_tail}{n}"))
    } else {
        Cow::Borrowed("")
    }
}

/// RFC 8428 §4.5.1: `[A-Za-z0-9]` first, then also `-:./_`. An empty name is tolerated: the
/// topic already identifies the device.
fn is_valid_name(name: &str) -> bool {
    name.bytes()
        .next()
        .is_none_or(|b| b.is_ascii_alphanumeric())
        && name.bytes().all(is_name_byte)
}

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b':' | b'.' | b'/' | b'_')
}
