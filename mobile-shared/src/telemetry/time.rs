//! Timestamp conversions shared by the decoders.

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::Value;

use super::reject::{clip, RejectReason};

/// Numeric native timestamps at or above this are Unix **milliseconds**, below it Unix seconds.
///
/// 10^11 seconds is the year 5138 and 10^11 milliseconds is 3 March 1973, so no plausible reading
/// is ambiguous: real seconds stay far below it and real milliseconds far above it.
pub const MILLIS_THRESHOLD: f64 = 1e11;

/// Beyond ±10^14 s chrono cannot represent the instant anyway; checking first keeps casts exact.
const MAX_ABS_SECONDS: f64 = 1e14;

/// Splits float seconds into whole seconds and nanoseconds, rounded to the microsecond: an f64
/// holding a current epoch time has no meaningful digits below that, and rounding makes
/// `1276020076.001` come out as exactly `.001`.
fn split_seconds(secs: f64) -> Option<(i64, u32)> {
    if !secs.is_finite() || secs.abs() > MAX_ABS_SECONDS {
        return None;
    }
    let whole = secs.floor();
    let mut micros = ((secs - whole) * 1e6).round() as u32;
    let mut whole = whole as i64;
    if micros >= 1_000_000 {
        whole += 1;
        micros -= 1_000_000;
    }
    Some((whole, micros * 1_000))
}

/// Unix seconds (possibly fractional) to an instant, `None` when not representable.
pub(crate) fn from_unix_seconds(secs: f64) -> Option<DateTime<Utc>> {
    let (s, ns) = split_seconds(secs)?;
    DateTime::from_timestamp(s, ns)
}

/// `now` shifted by (possibly fractional, possibly negative) seconds, `None` on overflow.
pub(crate) fn offset_from(now: DateTime<Utc>, secs: f64) -> Option<DateTime<Utc>> {
    let (s, ns) = split_seconds(secs)?;
    now.checked_add_signed(TimeDelta::new(s, ns)?)
}

/// Reads a native `ts`: an RFC 3339 string, or a non-negative number of Unix seconds or
/// milliseconds told apart by [`MILLIS_THRESHOLD`].
pub(crate) fn parse_native_ts(value: &Value) -> Result<DateTime<Utc>, RejectReason> {
    let bad = || RejectReason::BadTimestamp {
        value: clip(&value.to_string()),
    };
    match value {
        Value::String(s) => DateTime::parse_from_rfc3339(s)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|_| bad()),
        Value::Number(n) => {
            // Integers take an exact path so millisecond values keep every digit.
            if let Some(i) = n.as_i64() {
                if i < 0 {
                    return Err(bad());
                }
                let t = if (i as f64) >= MILLIS_THRESHOLD {
                    DateTime::from_timestamp_millis(i)
                } else {
                    DateTime::from_timestamp(i, 0)
                };
                return t.ok_or_else(bad);
            }
            let x = n.as_f64().ok_or_else(bad)?;
            if x < 0.0 {
                return Err(bad());
            }
            let secs = if x >= MILLIS_THRESHOLD { x / 1000.0 } else { x };
            from_unix_seconds(secs).ok_or_else(bad)
        }
        _ => Err(bad()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn native_ts_table() {
        let ok = [
            (json!("2026-11-23T08:15:02Z"), "2026-11-23T08:15:02Z"),
            (json!("2026-11-23T09:15:02+01:00"), "2026-11-23T08:15:02Z"),
            (
                json!("2026-11-23T08:15:02.250Z"),
                "2026-11-23T08:15:02.250Z",
            ),
            (json!(1_795_421_702), "2026-11-23T08:15:02Z"),
            (json!(1_795_421_702.5), "2026-11-23T08:15:02.500Z"),
            (json!(1_795_421_702_123_i64), "2026-11-23T08:15:02.123Z"),
            (json!(1_795_421_702_123.0), "2026-11-23T08:15:02.123Z"),
            (json!(0), "1970-01-01T00:00:00Z"),
            // Just below the threshold is seconds (year 5138), just above is ms (1973).
            (json!(99_999_999_999_i64), "5138-11-16T09:46:39Z"),
            (json!(100_000_000_000_i64), "1973-03-03T09:46:40Z"),
        ];
        for (v, want) in ok {
            assert_eq!(parse_native_ts(&v), Ok(at(want)), "{v}");
        }
        let bad = [
            json!("yesterday"),
            json!("2026-11-23 08:15:02"),
            json!("1795421702"),
            json!(-1),
            json!(-0.5),
            json!(u64::MAX),
            json!(1e300),
            json!(true),
            json!({"ts": 1}),
            json!([1]),
        ];
        for v in bad {
            assert_eq!(
                parse_native_ts(&v).map_err(|e| e.as_str()),
                Err("bad_timestamp"),
                "{v}"
            );
        }
    }

    #[test]
    fn fractional_seconds_round_to_micros() {
        assert_eq!(
            from_unix_seconds(1.276020076001e9),
            Some(at("2010-06-08T18:01:16.001Z"))
        );
        assert_eq!(
            from_unix_seconds(1.9999999999),
            Some(at("1970-01-01T00:00:02Z"))
        );
        assert_eq!(from_unix_seconds(f64::NAN), None);
        assert_eq!(from_unix_seconds(f64::INFINITY), None);
        assert_eq!(from_unix_seconds(1e20), None);
        let now = at("2026-01-01T00:00:00Z");
        assert_eq!(offset_from(now, -1.5), Some(at("2025-12-31T23:59:58.500Z")));
        assert_eq!(offset_from(now, -1e300), None);
    }
}
