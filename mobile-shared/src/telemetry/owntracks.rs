//! OwnTracks JSON (<https://owntracks.org/booklet/tech/json/>), so a phone running the OwnTracks
//! app is a tracker without any fieldops software on it.
//!
//! Only `_type: "location"` carries a position; every other `_type` (`transition`, `waypoint`,
//! `card`, `lwt`, `encrypted`, …) is [`Decoded::Ignored`](super::Decoded::Ignored). Units already
//! match ours: `vel` km/h, `acc`/`alt` metres, `cog` degrees, `batt` percent, `tst` Unix seconds.

use serde_json::Value;

use super::json::{opt_f64, opt_str, parse};
use super::reject::{clip, RejectReason};
use super::time::from_unix_seconds;
use super::Reading;

pub(crate) fn decode(payload: &[u8]) -> Result<Vec<Reading>, RejectReason> {
    let value = parse(payload)?;
    let Value::Object(obj) = value else {
        return Err(RejectReason::UnexpectedShape {
            detail: "OwnTracks message must be a JSON object".into(),
        });
    };
    match opt_str(&obj, "_type")? {
        None => return Err(RejectReason::MissingField { field: "_type" }),
        Some("location") => {}
        Some(_) => return Ok(Vec::new()),
    }
    let ts = match obj.get("tst") {
        None | Some(Value::Null) => return Err(RejectReason::MissingTimestamp),
        Some(v) => v
            .as_f64()
            .filter(|secs| *secs >= 0.0)
            .and_then(from_unix_seconds)
            .ok_or_else(|| RejectReason::BadTimestamp {
                value: clip(&v.to_string()),
            })?,
    };
    let lat = opt_f64(&obj, "lat")?.ok_or(RejectReason::MissingField { field: "lat" })?;
    let lon = opt_f64(&obj, "lon")?.ok_or(RejectReason::MissingField { field: "lon" })?;
    let mut reading = Reading::at(ts);
    reading.lat = Some(lat);
    reading.lon = Some(lon);
    // Apps report -1 (or omit the field) when the OS has no estimate; that means "unknown".
    reading.accuracy_m = opt_f64(&obj, "acc")?.filter(|v| *v >= 0.0);
    reading.speed_kmh = opt_f64(&obj, "vel")?.filter(|v| *v >= 0.0);
    reading.heading_deg = opt_f64(&obj, "cog")?.filter(|v| *v >= 0.0);
    reading.battery_pct = opt_f64(&obj, "batt")?.filter(|v| *v >= 0.0);
    reading.altitude_m = opt_f64(&obj, "alt")?;
    Ok(vec![reading])
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// The `_type=location` example from the OwnTracks booklet, with its placeholders filled in.
    const BOOKLET: &str = r#"{
        "_type": "location", "acc": 75, "alt": 13, "batt": 88, "cog": 270,
        "desc": "sssss", "event": "sssss", "lat": 48.856826, "lon": 2.292713,
        "rad": 100, "t": "u", "tid": "YY", "tst": 1376715317, "vac": 10, "vel": 54,
        "p": 101.3, "conn": "w", "bs": 1, "topic": "owntracks/jane/phone"
    }"#;

    #[test]
    fn booklet_location() {
        let r = decode(BOOKLET.as_bytes()).unwrap();
        assert_eq!(r.len(), 1);
        let r = &r[0];
        assert_eq!(r.ts.to_rfc3339(), "2013-08-17T04:55:17+00:00");
        assert_eq!((r.lat, r.lon), (Some(48.856826), Some(2.292713)));
        assert_eq!(r.accuracy_m, Some(75.0));
        assert_eq!(r.altitude_m, Some(13.0));
        assert_eq!(r.battery_pct, Some(88.0));
        assert_eq!(r.heading_deg, Some(270.0));
        assert_eq!(r.speed_kmh, Some(54.0));
        assert_eq!(r.battery_v, None);
        assert_eq!(r.engine_hours, None);
    }

    #[test]
    fn unknown_estimates_become_none() {
        let p = br#"{"_type":"location","tst":1700000000,"lat":1,"lon":2,"acc":-1,"vel":-1,"cog":-1,"alt":-20}"#;
        let r = &decode(p).unwrap()[0];
        assert_eq!(
            (r.accuracy_m, r.speed_kmh, r.heading_deg),
            (None, None, None)
        );
        // Below sea level is real (Dead Sea, mines), so altitude is kept.
        assert_eq!(r.altitude_m, Some(-20.0));
    }

    #[test]
    fn other_types_are_ignored() {
        for t in [
            "transition",
            "waypoint",
            "waypoints",
            "card",
            "lwt",
            "encrypted",
            "cmd",
            "beacon",
            "steps",
            "status",
            "configuration",
            "request",
        ] {
            let p = format!(r#"{{"_type":"{t}","tst":1,"data":"x"}}"#);
            assert_eq!(decode(p.as_bytes()), Ok(vec![]), "{t}");
        }
    }
}
