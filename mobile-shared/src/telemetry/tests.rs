//! Cross-format tests through the public API: every format, every reject code, and a
//! deterministic mutation loop proving decode + validate never panic.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;

use chrono::{DateTime, TimeDelta, Utc};

use super::*;

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// A fixed "now" a few minutes after the contract example's timestamp.
fn now() -> DateTime<Utc> {
    at("2026-11-23T08:20:00Z")
}

fn topic(s: &str) -> Topic {
    parse_topic(s).unwrap()
}

fn tele() -> Topic {
    topic("fieldops/v1/trk-1/telemetry")
}

fn senml() -> Topic {
    topic("fieldops/v1/trk-1/senml")
}

fn owntracks() -> Topic {
    topic("owntracks/jane/phone")
}

fn status() -> Topic {
    topic("fieldops/v1/trk-1/status")
}

fn readings(t: &Topic, payload: &str) -> Vec<Reading> {
    match decode(t, payload.as_bytes(), now()) {
        Ok(Decoded::Readings(r)) => r,
        other => panic!("{payload}: expected readings, got {other:?}"),
    }
}

fn close(a: Option<f64>, b: f64) -> bool {
    a.is_some_and(|a| (a - b).abs() < 1e-9)
}

const CONTRACT_EXAMPLE: &str = r#"{"ts":"2026-11-23T08:15:02Z","lat":48.1371,"lon":11.5754,"speed_kmh":12.5,"heading_deg":270,"hdop":0.9,"engine_hours":1532.4,"odometer_km":8412.2,"ignition":true,"battery_v":12.6}"#;

fn contract_reading() -> Reading {
    Reading {
        ts: at("2026-11-23T08:15:02Z"),
        lat: Some(48.1371),
        lon: Some(11.5754),
        accuracy_m: None,
        speed_kmh: Some(12.5),
        heading_deg: Some(270.0),
        altitude_m: None,
        hdop: Some(0.9),
        engine_hours: Some(1532.4),
        odometer_km: Some(8412.2),
        ignition: Some(true),
        battery_v: Some(12.6),
        battery_pct: None,
    }
}

// ---------------------------------------------------------------- native

#[test]
fn native_contract_example() {
    let r = readings(&tele(), CONTRACT_EXAMPLE);
    assert_eq!(r, vec![contract_reading()]);
    assert_eq!(validate(&r[0], now(), &Limits::default()), Ok(()));
}

#[test]
fn native_array_with_every_timestamp_form() {
    let payload = r#"[
        {"ts":"2026-11-23T08:15:02Z","lat":48.1,"lon":11.5},
        {"ts":1795421703,"lat":48.2,"lon":11.6},
        {"ts":1795421704250,"lat":48.3,"lon":11.7},
        {"ts":1795421705.5,"battery_v":12.1}
    ]"#;
    let r = readings(&tele(), payload);
    let ts: Vec<_> = r.iter().map(|r| r.ts).collect();
    assert_eq!(
        ts,
        vec![
            at("2026-11-23T08:15:02Z"),
            at("2026-11-23T08:15:03Z"),
            at("2026-11-23T08:15:04.250Z"),
            at("2026-11-23T08:15:05.500Z"),
        ]
    );
    assert_eq!(r[3].lat, None);
    assert_eq!(r[3].battery_v, Some(12.1));
}

#[test]
fn native_optional_and_unknown_fields() {
    let r = readings(
        &tele(),
        r#"{"ts":1795421702,"lat":null,"lon":null,"firmware":"1.2.3","extra":{"x":[1,2]},"accuracy_m":4,"altitude_m":512,"battery_pct":77}"#,
    );
    let mut want = Reading::at(at("2026-11-23T08:15:02Z"));
    want.accuracy_m = Some(4.0);
    want.altitude_m = Some(512.0);
    want.battery_pct = Some(77.0);
    assert_eq!(r, vec![want]);
}

#[test]
fn empty_things_are_ignored() {
    for t in [tele(), senml(), owntracks(), status()] {
        for payload in ["", "  \n\t", "\r\n"] {
            assert_eq!(
                decode(&t, payload.as_bytes(), now()),
                Ok(Decoded::Ignored),
                "{t}"
            );
        }
    }
    assert_eq!(decode(&tele(), b"[]", now()), Ok(Decoded::Ignored));
    assert_eq!(decode(&senml(), b"[]", now()), Ok(Decoded::Ignored));
}

#[test]
fn bom_is_tolerated() {
    let mut payload = b"\xEF\xBB\xBF".to_vec();
    payload.extend_from_slice(CONTRACT_EXAMPLE.as_bytes());
    assert_eq!(
        decode(&tele(), &payload, now()),
        Ok(Decoded::Readings(vec![contract_reading()]))
    );
}

#[test]
fn encoder_round_trips() {
    let one = contract_reading();
    let encoded = encode_native(std::slice::from_ref(&one));
    assert!(encoded.starts_with(b"{"));
    let text = String::from_utf8(encoded.clone()).unwrap();
    assert!(text.contains(r#""ts":"2026-11-23T08:15:02Z""#), "{text}");
    assert!(
        !text.contains("accuracy_m"),
        "absent fields are omitted: {text}"
    );
    assert_eq!(readings(&tele(), &text), vec![one.clone()]);

    let mut two = Reading::at(at("2026-11-23T08:16:00.125Z"));
    two.battery_pct = Some(50.0);
    two.ignition = Some(false);
    let encoded = encode_native(&[one.clone(), two.clone()]);
    assert!(encoded.starts_with(b"["));
    let text = String::from_utf8(encoded).unwrap();
    assert_eq!(readings(&tele(), &text), vec![one, two]);

    assert_eq!(encode_native(&[]), b"[]");
}

#[test]
fn native_message_matches_decoder() {
    let msg: NativeMessage = serde_json::from_str(CONTRACT_EXAMPLE).unwrap();
    assert_eq!(Reading::from(&msg), contract_reading());
    assert_eq!(NativeMessage::from(&contract_reading()), msg);
    // The serde impl uses the same ts rule as the decoder.
    let ms: NativeMessage = serde_json::from_str(r#"{"ts":1795421702123}"#).unwrap();
    assert_eq!(ms.ts, at("2026-11-23T08:15:02.123Z"));
    assert!(serde_json::from_str::<NativeMessage>(r#"{"lat":1}"#).is_err());
    assert!(serde_json::from_str::<NativeMessage>(r#"{"ts":"soon"}"#).is_err());
}

#[test]
fn encoder_writes_non_finite_as_absent() {
    let mut r = Reading::at(now());
    r.speed_kmh = Some(f64::NAN);
    let text = String::from_utf8(encode_native(&[r])).unwrap();
    assert_eq!(readings(&tele(), &text)[0].speed_kmh, None);
}

// ---------------------------------------------------------------- owntracks

#[test]
fn owntracks_through_public_api() {
    let payload = r#"{"_type":"location","acc":12,"alt":520,"batt":81,"bs":1,"cog":90,"conn":"m","lat":48.1371,"lon":11.5754,"t":"u","tid":"jp","tst":1795421702,"vac":3,"vel":18}"#;
    let r = readings(&owntracks(), payload);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].ts, at("2026-11-23T08:15:02Z"));
    assert_eq!(r[0].speed_kmh, Some(18.0));
    assert_eq!(r[0].battery_pct, Some(81.0));
    assert_eq!(validate(&r[0], now(), &Limits::default()), Ok(()));
    assert_eq!(owntracks().device_id(), "jane/phone");

    let transition = r#"{"_type":"transition","acc":10,"desc":"Depot","event":"enter","lat":48.1,"lon":11.5,"tid":"jp","tst":1795421702,"wtst":1700000000,"t":"c"}"#;
    assert_eq!(
        decode(&owntracks(), transition.as_bytes(), now()),
        Ok(Decoded::Ignored)
    );
    let lwt = r#"{"_type":"lwt","tst":1795421702}"#;
    assert_eq!(
        decode(&owntracks(), lwt.as_bytes(), now()),
        Ok(Decoded::Ignored)
    );
}

// ---------------------------------------------------------------- senml

#[test]
fn senml_base_name_time_and_units() {
    // Modelled on RFC 8428 §5.1.2: base name, base time with millisecond fraction, base unit,
    // bver, relative offsets from the base time.
    let payload = r#"[
        {"bn":"urn:dev:imei:490154203237518:","bt":1.276020076001e+09,"bu":"km/h","bver":5,
         "n":"speed","v":12.5},
        {"n":"lat","u":"lat","v":48.1371},
        {"n":"lon","u":"lon","v":11.5754},
        {"n":"ignition","vb":true},
        {"n":"speed","t":-5,"v":10},
        {"n":"lat","t":-5,"u":"lat","v":48.1370},
        {"n":"lon","t":-5,"u":"lon","v":11.5750}
    ]"#;
    let r = readings(&senml(), payload);
    assert_eq!(r.len(), 2);
    assert_eq!(r[0].ts, at("2010-06-08T18:01:11.001Z"));
    assert_eq!(r[1].ts, at("2010-06-08T18:01:16.001Z"));
    assert_eq!(
        (r[0].lat, r[0].lon, r[0].speed_kmh),
        (Some(48.1370), Some(11.5750), Some(10.0))
    );
    assert_eq!(r[1].ignition, Some(true));
    assert_eq!(r[0].ignition, None);
    assert_eq!(
        (r[1].lat, r[1].lon, r[1].speed_kmh),
        (Some(48.1371), Some(11.5754), Some(12.5))
    );
}

#[test]
fn senml_rfc_5_1_3_positions_by_unit() {
    // RFC 8428 §5.1.3 verbatim: humidity (ignored), position named only by unit, and a battery
    // level at its own time.
    let payload = r#"[
        {"bn":"urn:dev:ow:10e2073a01080063","bt":1.320067464e+09,"bu":"%RH","v":20},
        {"u":"lon","v":24.30621},
        {"u":"lat","v":60.07965},
        {"t":60,"v":20.3},
        {"u":"lon","t":60,"v":24.30622},
        {"u":"lat","t":60,"v":60.07965},
        {"t":120,"v":20.7},
        {"u":"lon","t":120,"v":24.30623},
        {"u":"lat","t":120,"v":60.07966},
        {"u":"%EL","t":150,"v":98},
        {"t":180,"v":21.2},
        {"u":"lon","t":180,"v":24.30628},
        {"u":"lat","t":180,"v":60.07967}
    ]"#;
    let r = readings(&senml(), payload);
    let offsets: Vec<i64> = r
        .iter()
        .map(|r| (r.ts - at("2011-10-31T13:24:24Z")).num_seconds())
        .collect();
    assert_eq!(offsets, vec![0, 60, 120, 150, 180]);
    assert_eq!((r[0].lat, r[0].lon), (Some(60.07965), Some(24.30621)));
    assert_eq!((r[4].lat, r[4].lon), (Some(60.07967), Some(24.30628)));
    assert_eq!(r[3].battery_pct, Some(98.0));
    assert_eq!(r[3].lat, None);
}

#[test]
fn senml_relative_times_use_now() {
    let payload = r#"[
        {"bn":"trk-1/","n":"lat","v":48.1},{"n":"lon","v":11.5},
        {"n":"lat","t":-10,"v":48.2},{"n":"lon","t":-10,"v":11.6},
        {"bt":-60,"n":"battery","u":"V","v":12.4,"t":-0.5}
    ]"#;
    let r = readings(&senml(), payload);
    let ts: Vec<_> = r.iter().map(|r| r.ts).collect();
    assert_eq!(
        ts,
        vec![
            now() - TimeDelta::milliseconds(60_500),
            now() - TimeDelta::seconds(10),
            now()
        ]
    );
    assert_eq!(r[0].battery_v, Some(12.4));
    assert_eq!(r[2].lat, Some(48.1));
    // Exactly 2^28 is absolute (RFC 8428 §4.5.3), one below is relative.
    let abs = readings(&senml(), r#"[{"n":"hdop","bt":268435456,"v":1}]"#);
    assert_eq!(abs[0].ts, at("1978-07-04T21:24:16Z"));
    let rel = readings(&senml(), r#"[{"n":"hdop","bt":268435455,"v":1}]"#);
    assert_eq!(rel[0].ts, now() + TimeDelta::seconds(268_435_455));
}

#[test]
fn senml_unit_conversions() {
    type Getter = fn(&Reading) -> Option<f64>;
    let cases: &[(&str, Getter, f64)] = &[
        (
            r#"{"n":"engine_hours","u":"h","v":1532.4}"#,
            |r| r.engine_hours,
            1532.4,
        ),
        (r#"{"n":"engine_hours","v":12}"#, |r| r.engine_hours, 12.0),
        (r#"{"n":"hours","u":"s","v":7200}"#, |r| r.engine_hours, 2.0),
        (
            r#"{"n":"odometer","u":"m","v":8412200}"#,
            |r| r.odometer_km,
            8412.2,
        ),
        (
            r#"{"n":"odometer","u":"km","v":8412.2}"#,
            |r| r.odometer_km,
            8412.2,
        ),
        (r#"{"n":"speed","u":"m/s","v":10}"#, |r| r.speed_kmh, 36.0),
        (r#"{"n":"speed","u":"km/h","v":36}"#, |r| r.speed_kmh, 36.0),
        (r#"{"n":"battery","u":"V","v":12.6}"#, |r| r.battery_v, 12.6),
        (
            r#"{"n":"battery","u":"%EL","v":64}"#,
            |r| r.battery_pct,
            64.0,
        ),
        (
            r#"{"n":"heading","u":"rad","v":3.141592653589793}"#,
            |r| r.heading_deg,
            180.0,
        ),
        (
            r#"{"n":"heading","u":"deg","v":90}"#,
            |r| r.heading_deg,
            90.0,
        ),
        (
            r#"{"n":"altitude","u":"m","v":512}"#,
            |r| r.altitude_m,
            512.0,
        ),
        (r#"{"n":"alt","v":-3}"#, |r| r.altitude_m, -3.0),
        (r#"{"n":"accuracy","u":"m","v":4}"#, |r| r.accuracy_m, 4.0),
        (r#"{"n":"hdop","v":0.9}"#, |r| r.hdop, 0.9),
        (
            r#"{"bv":1500,"n":"engine_hours","u":"h","v":32.4}"#,
            |r| r.engine_hours,
            1532.4,
        ),
        (
            r#"{"bu":"s","n":"engine_hours","v":3600}"#,
            |r| r.engine_hours,
            1.0,
        ),
        (
            r#"{"bn":"urn:dev:mac:0024befffe804ff1:","n":"speed","u":"km/h","v":5}"#,
            |r| r.speed_kmh,
            5.0,
        ),
        (
            r#"{"bn":"urn:dev:mac:0024befffe804ff1","n":":odometer","u":"km","v":5}"#,
            |r| r.odometer_km,
            5.0,
        ),
    ];
    for (record, get, want) in cases {
        let r = readings(&senml(), &format!("[{record}]"));
        assert_eq!(r.len(), 1, "{record}");
        assert!(close(get(&r[0]), *want), "{record}: got {:?}", get(&r[0]));
    }
    let r = readings(&senml(), r#"[{"n":"ignition","vb":false}]"#);
    assert_eq!(r[0].ignition, Some(false));
}

#[test]
fn senml_unknown_and_valueless_records_are_ignored() {
    for payload in [
        r#"[{"n":"temperature","u":"Cel","v":23.1}]"#,
        r#"[{"bn":"urn:dev:ow:10e2073a01080063","u":"Cel","v":23.1}]"#,
        r#"[{"bn":"trk-1:","bt":1795421702,"bver":10}]"#,
        r#"[{"n":"firmware","vs":"1.2.3"},{"n":"blob","vd":"AAEC"},{"n":"energy","u":"J","s":5}]"#,
        // Concatenation, not a path join: without a separator `lat` is no longer the last segment.
        r#"[{"bn":"urn:dev:ow:10e2073a01080063","n":"lat","v":48.1}]"#,
    ] {
        assert_eq!(
            decode(&senml(), payload.as_bytes(), now()),
            Ok(Decoded::Ignored),
            "{payload}"
        );
    }
}

#[test]
fn senml_same_time_later_record_wins() {
    let r = readings(
        &senml(),
        r#"[{"n":"battery","u":"V","v":12.0},{"n":"battery","u":"V","v":12.5}]"#,
    );
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].battery_v, Some(12.5));
}

// ---------------------------------------------------------------- status

#[test]
fn status_through_public_api() {
    assert_eq!(
        decode(&status(), b"offline", now()),
        Ok(Decoded::Status(DeviceStatus::Offline))
    );
    assert_eq!(
        decode(&status(), br#"{"status":"online"}"#, now()),
        Ok(Decoded::Status(DeviceStatus::Online))
    );
}

// ---------------------------------------------------------------- rejects

/// Decode-level rejects: (topic, payload, code).
fn decode_reject_cases() -> Vec<(Topic, String, &'static str)> {
    let many_native = format!("[{}]", vec![r#"{"ts":0}"#; 1001].join(","));
    let many_senml = format!("[{}]", vec![r#"{"n":"x","v":1}"#; 1001].join(","));
    let deep = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
    let t = |s: &str| s.to_owned();
    vec![
        (tele(), "x".repeat(64 * 1024 + 1), "payload_too_large"),
        (status(), "o".repeat(64 * 1024 + 1), "payload_too_large"),
        (tele(), t("{"), "malformed_json"),
        (tele(), t("not json"), "malformed_json"),
        (tele(), t(r#"{"ts":1,"lat":1e400}"#), "malformed_json"),
        (tele(), t(r#"{"ts":1,"lat":NaN}"#), "malformed_json"),
        (tele(), deep.clone(), "malformed_json"),
        (senml(), deep, "malformed_json"),
        (owntracks(), t("{'_type':'location'}"), "malformed_json"),
        (tele(), t("42"), "unexpected_shape"),
        (tele(), t(r#""2026-11-23T08:15:02Z""#), "unexpected_shape"),
        (tele(), t(r#"[{"ts":1},2]"#), "unexpected_shape"),
        (senml(), t(r#"{"n":"lat","v":1}"#), "unexpected_shape"),
        (senml(), t(r#"[[]]"#), "unexpected_shape"),
        (
            owntracks(),
            t(r#"[{"_type":"location"}]"#),
            "unexpected_shape",
        ),
        (tele(), t(r#"{"ts":1,"lat":"48.1"}"#), "bad_field"),
        (tele(), t(r#"{"ts":1,"ignition":"yes"}"#), "bad_field"),
        (tele(), t(r#"{"ts":1,"ignition":1}"#), "bad_field"),
        (senml(), t(r#"[{"bn":5,"n":"lat","v":1}]"#), "bad_field"),
        (senml(), t(r#"[{"n":"lat","v":"1"}]"#), "bad_field"),
        (senml(), t(r#"[{"n":"lat","t":"now","v":1}]"#), "bad_field"),
        (owntracks(), t(r#"{"_type":5}"#), "bad_field"),
        (
            owntracks(),
            t(r#"{"_type":"location","tst":1,"lat":"1","lon":2}"#),
            "bad_field",
        ),
        (
            owntracks(),
            t(r#"{"_type":"location","tst":1,"lon":2}"#),
            "missing_field",
        ),
        (
            owntracks(),
            t(r#"{"_type":"location","tst":1,"lat":2}"#),
            "missing_field",
        ),
        (
            owntracks(),
            t(r#"{"tst":1,"lat":1,"lon":2}"#),
            "missing_field",
        ),
        (tele(), t(r#"{"ts":"yesterday"}"#), "bad_timestamp"),
        (tele(), t(r#"{"ts":-5}"#), "bad_timestamp"),
        (tele(), t(r#"[{"ts":1},{"ts":true}]"#), "bad_timestamp"),
        (
            owntracks(),
            t(r#"{"_type":"location","tst":"1","lat":1,"lon":2}"#),
            "bad_timestamp",
        ),
        (
            owntracks(),
            t(r#"{"_type":"location","tst":1e300,"lat":1,"lon":2}"#),
            "bad_timestamp",
        ),
        (
            senml(),
            t(r#"[{"bt":1e300,"n":"lat","v":1}]"#),
            "bad_timestamp",
        ),
        (
            senml(),
            t(r#"[{"bt":1e308,"t":1e308,"n":"lat","v":1}]"#),
            "bad_timestamp",
        ),
        (
            senml(),
            t(r#"[{"t":-1e200,"n":"lat","v":1}]"#),
            "bad_timestamp",
        ),
        (tele(), t(r#"{"lat":48.1,"lon":11.5}"#), "missing_timestamp"),
        (tele(), t(r#"{"ts":null}"#), "missing_timestamp"),
        (tele(), t(r#"[{"ts":1},{}]"#), "missing_timestamp"),
        (
            owntracks(),
            t(r#"{"_type":"location","lat":1,"lon":2}"#),
            "missing_timestamp",
        ),
        (tele(), many_native, "batch_too_large"),
        (senml(), many_senml, "batch_too_large"),
        (
            senml(),
            t(r#"[{"n":"speed","u":"mph","v":3}]"#),
            "unsupported_unit",
        ),
        (
            senml(),
            t(r#"[{"n":"odometer","v":3}]"#),
            "unsupported_unit",
        ),
        (senml(), t(r#"[{"n":"battery","v":3}]"#), "unsupported_unit"),
        (
            senml(),
            t(r#"[{"n":"lat","u":"rad","v":0.8}]"#),
            "unsupported_unit",
        ),
        (
            senml(),
            t(r#"[{"bu":"A","n":"lat","v":48.1}]"#),
            "unsupported_unit",
        ),
        (
            senml(),
            t(r#"[{"n":"engine_hours","u":"min","v":3}]"#),
            "unsupported_unit",
        ),
        (
            senml(),
            t(r#"[{"n":"lat","v":1,"foo_":1}]"#),
            "invalid_senml",
        ),
        (
            senml(),
            t(r#"[{"bver":11,"n":"lat","v":1}]"#),
            "invalid_senml",
        ),
        (
            senml(),
            t(r#"[{"bver":0,"n":"lat","v":1}]"#),
            "invalid_senml",
        ),
        (
            senml(),
            t(r#"[{"n":"lat","v":1},{"bver":5,"n":"lon","v":1}]"#),
            "invalid_senml",
        ),
        (
            senml(),
            t(r#"[{"n":"lat","v":1,"vs":"1"}]"#),
            "invalid_senml",
        ),
        (senml(), t(r#"[{"n":"lat","vs":"48.1"}]"#), "invalid_senml"),
        (senml(), t(r#"[{"n":"ignition","v":1}]"#), "invalid_senml"),
        (senml(), t(r#"[{"n":"-lat","v":1}]"#), "invalid_senml"),
        (senml(), t(r#"[{"n":"trk 1/lat","v":1}]"#), "invalid_senml"),
        (status(), t("maybe"), "bad_status"),
        (status(), t(r#"{"status":true}"#), "bad_status"),
    ]
}

/// Validation rejects: (description, reading, code).
fn validate_reject_cases() -> Vec<(&'static str, Reading, &'static str)> {
    let base = || {
        let mut r = Reading::at(now());
        r.lat = Some(48.1);
        r.lon = Some(11.5);
        r
    };
    let with = |f: fn(&mut Reading)| {
        let mut r = base();
        f(&mut r);
        r
    };
    vec![
        ("lat NaN", with(|r| r.lat = Some(f64::NAN)), "not_finite"),
        (
            "speed inf",
            with(|r| r.speed_kmh = Some(f64::INFINITY)),
            "not_finite",
        ),
        (
            "battery -inf",
            with(|r| r.battery_pct = Some(f64::NEG_INFINITY)),
            "not_finite",
        ),
        ("lat only", with(|r| r.lon = None), "lat_without_lon"),
        ("lon only", with(|r| r.lat = None), "lat_without_lon"),
        (
            "lat 91",
            with(|r| r.lat = Some(91.0)),
            "lat_lon_out_of_range",
        ),
        (
            "lon -180.5",
            with(|r| r.lon = Some(-180.5)),
            "lat_lon_out_of_range",
        ),
        (
            "0,0",
            with(|r| (r.lat, r.lon) = (Some(0.0), Some(0.0))),
            "null_island",
        ),
        (
            "-0,0",
            with(|r| (r.lat, r.lon) = (Some(-0.0), Some(0.0))),
            "null_island",
        ),
        (
            "6 min ahead",
            with(|r| r.ts = now() + TimeDelta::minutes(6)),
            "future_timestamp",
        ),
        (
            "31 days old",
            with(|r| r.ts = now() - TimeDelta::days(31)),
            "too_old",
        ),
        (
            "unset RTC",
            with(|r| r.ts = at("1970-01-01T00:00:00Z")),
            "too_old",
        ),
        (
            "hours -1",
            with(|r| r.engine_hours = Some(-1.0)),
            "negative_meter",
        ),
        (
            "odo -0.1",
            with(|r| r.odometer_km = Some(-0.1)),
            "negative_meter",
        ),
        (
            "heading 361",
            with(|r| r.heading_deg = Some(361.0)),
            "value_out_of_range",
        ),
        (
            "heading -1",
            with(|r| r.heading_deg = Some(-1.0)),
            "value_out_of_range",
        ),
        (
            "battery 101%",
            with(|r| r.battery_pct = Some(101.0)),
            "value_out_of_range",
        ),
        (
            "speed -1",
            with(|r| r.speed_kmh = Some(-1.0)),
            "value_out_of_range",
        ),
        (
            "hdop -1",
            with(|r| r.hdop = Some(-1.0)),
            "value_out_of_range",
        ),
        (
            "accuracy -1",
            with(|r| r.accuracy_m = Some(-1.0)),
            "value_out_of_range",
        ),
        (
            "battery -1 V",
            with(|r| r.battery_v = Some(-1.0)),
            "value_out_of_range",
        ),
    ]
}

#[test]
fn decode_rejects() {
    for (t, payload, code) in decode_reject_cases() {
        let got = decode(&t, payload.as_bytes(), now());
        let shown: String = payload.chars().take(80).collect();
        match got {
            Err(e) => {
                assert_eq!(e.as_str(), code, "{t} {shown}: {e}");
                assert!(!e.to_string().is_empty());
            }
            Ok(d) => panic!("{t} {shown}: expected {code}, got {d:?}"),
        }
    }
}

#[test]
fn validate_rejects() {
    let limits = Limits::default();
    for (what, reading, code) in validate_reject_cases() {
        let got = validate(&reading, now(), &limits).map_err(|e| e.as_str());
        assert_eq!(got, Err(code), "{what}");
    }
}

#[test]
fn validate_accepts_the_edges() {
    let limits = Limits::default();
    let ok = |f: fn(&mut Reading)| {
        let mut r = Reading::at(now());
        f(&mut r);
        assert_eq!(validate(&r, now(), &limits), Ok(()), "{r:?}");
    };
    ok(|_| {});
    ok(|r| r.ts = now() + TimeDelta::minutes(5));
    ok(|r| r.ts = now() - TimeDelta::days(30));
    ok(|r| (r.lat, r.lon) = (Some(90.0), Some(-180.0)));
    ok(|r| (r.lat, r.lon) = (Some(0.0), Some(0.000001)));
    ok(|r| r.heading_deg = Some(360.0));
    ok(|r| r.battery_pct = Some(0.0));
    ok(|r| r.engine_hours = Some(0.0));
    ok(|r| r.altitude_m = Some(-400.0));
    // Huge limits must not overflow.
    let r = Reading::at(now());
    let wide = Limits {
        max_future: TimeDelta::MAX,
        max_age: TimeDelta::MAX,
        ..Limits::default()
    };
    assert_eq!(validate(&r, now(), &wide), Ok(()));
}

#[test]
fn senml_conversion_overflow_is_not_finite() {
    let r = readings(&senml(), r#"[{"n":"speed","u":"m/s","v":1e308}]"#);
    assert_eq!(
        validate(&r[0], now(), &Limits::default()).map_err(|e| e.as_str()),
        Err("not_finite")
    );
}

#[test]
fn limits_are_configurable() {
    let limits = Limits {
        max_payload_bytes: 10,
        max_batch: 1,
        ..Limits::default()
    };
    let err = decode_with_limits(&tele(), CONTRACT_EXAMPLE.as_bytes(), now(), &limits).unwrap_err();
    assert_eq!(
        err,
        RejectReason::PayloadTooLarge {
            size: CONTRACT_EXAMPLE.len(),
            max: 10
        }
    );
    let limits = Limits {
        max_batch: 1,
        ..Limits::default()
    };
    let two = br#"[{"ts":1},{"ts":2}]"#;
    assert_eq!(
        decode_with_limits(&tele(), two, now(), &limits),
        Err(RejectReason::BatchTooLarge { len: 2, max: 1 })
    );
}

#[test]
fn every_reject_code_is_tested() {
    let mut seen: BTreeSet<&str> = BTreeSet::new();
    seen.insert(parse_topic("nope").unwrap_err().as_str());
    seen.extend(decode_reject_cases().into_iter().map(|(_, _, c)| c));
    seen.extend(validate_reject_cases().into_iter().map(|(_, _, c)| c));
    let all: BTreeSet<&str> = RejectReason::ALL_CODES.iter().copied().collect();
    assert_eq!(seen, all);
}

#[test]
fn display_includes_offending_values() {
    let e = validate(
        &Reading {
            lat: Some(91.5),
            lon: Some(10.0),
            ..Reading::at(now())
        },
        now(),
        &Limits::default(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("91.5"), "{e}");
    let e = decode(&senml(), br#"[{"n":"speed","u":"mph","v":3}]"#, now()).unwrap_err();
    assert!(e.to_string().contains("mph"), "{e}");
    let e = parse_topic("fieldops/v1/a b/telemetry").unwrap_err();
    assert!(e.to_string().contains("a b"), "{e}");
}

// ---------------------------------------------------------------- robustness

/// Tiny deterministic PRNG so the mutation loop needs no dependency and failures reproduce.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const TOKENS: &[&[u8]] = &[
    b"null",
    b"true",
    b"false",
    b"0",
    b"-0",
    b"-1",
    b"1e308",
    b"-1e308",
    b"1e-320",
    b"268435456",
    b"9223372036854775808",
    b"18446744073709551616",
    b"1795421702123",
    b"\"\"",
    b"[]",
    b"{}",
    b"\"2026-11-23T08:15:02Z\"",
    b"\"lat\"",
    b"\"lon\"",
    b"\"%EL\"",
    b"\"m/s\"",
    b"\"s\"",
    b"\"foo_\"",
    b"\"bver\"",
    b"\"_type\"",
    b"\"location\"",
    b"{",
    b"}",
    b"[",
    b"]",
    b",",
    b":",
    b"\"",
    b"\\",
    b"\\u0000",
    b"\\ud800",
    b"\xff",
    b"\xc3",
    b"\xEF\xBB\xBF",
];

fn corpus() -> Vec<(Topic, Vec<u8>)> {
    let mut c = vec![
        (tele(), CONTRACT_EXAMPLE.as_bytes().to_vec()),
        (
            tele(),
            br#"[{"ts":1795421702,"lat":48.1,"lon":11.5,"ignition":false},{"ts":1795421702123,"battery_v":12}]"#.to_vec(),
        ),
        (
            owntracks(),
            br#"{"_type":"location","acc":12,"alt":520,"batt":81,"cog":90,"lat":48.1371,"lon":11.5754,"tst":1795421702,"vel":18}"#.to_vec(),
        ),
        (owntracks(), br#"{"_type":"transition","event":"enter","tst":1795421702}"#.to_vec()),
        (
            senml(),
            br#"[{"bn":"urn:dev:imei:4901542:","bt":1.7954217e9,"bu":"km/h","bver":10,"n":"speed","v":12.5},{"n":"lat","u":"lat","t":-5,"v":48.1},{"n":"lon","u":"lon","t":-5,"v":11.5},{"n":"hours","u":"s","v":7200},{"n":"odometer","u":"m","v":8412200},{"n":"ignition","vb":true},{"n":"battery","u":"%EL","v":80}]"#.to_vec(),
        ),
        (
            senml(),
            br#"[{"bn":"urn:dev:ow:10e2073a01080063","bt":1.320067464e+09,"bu":"%RH","v":20},{"u":"lon","v":24.30621},{"u":"lat","v":60.07965},{"u":"%EL","t":150,"v":98}]"#.to_vec(),
        ),
        (status(), b"offline".to_vec()),
        (status(), br#"{"status":"online"}"#.to_vec()),
    ];
    c.push((
        tele(),
        encode_native(&[contract_reading(), contract_reading()]),
    ));
    c
}

fn mutate(rng: &mut XorShift, input: &[u8]) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..=rng.below(4) {
        let len = out.len();
        match rng.below(7) {
            0 if len > 0 => {
                let i = rng.below(len);
                out[i] ^= 1 << rng.below(8);
            }
            1 => {
                let i = rng.below(len + 1);
                out.insert(i, rng.next() as u8);
            }
            2 if len > 0 => {
                let i = rng.below(len);
                let n = rng.below(8).min(len - i);
                out.drain(i..i + n);
            }
            3 => {
                let i = rng.below(len + 1);
                let tok = TOKENS[rng.below(TOKENS.len())];
                out.splice(i..i, tok.iter().copied());
            }
            4 if len > 0 => {
                // Duplicate a slice: grows arrays, repeats keys.
                let i = rng.below(len);
                let n = rng.below(64).min(len - i);
                let chunk: Vec<u8> = out[i..i + n].to_vec();
                let j = rng.below(out.len() + 1);
                out.splice(j..j, chunk);
            }
            5 => out.truncate(rng.below(len + 1)),
            _ if len > 0 => {
                // Replace a digit run start with a random digit or sign to skew numbers.
                let i = rng.below(len);
                out[i] = b"0123456789-.eE"[rng.below(14)];
            }
            _ => {}
        }
    }
    out
}

/// Decodes and validates, asserting only invariants; returns whether readings came out, so the
/// loops can prove they exercise the success paths and not just early rejects.
fn check_no_panic(t: &Topic, payload: &[u8], limits: &Limits) -> bool {
    let codes: BTreeSet<&str> = RejectReason::ALL_CODES.iter().copied().collect();
    match decode_with_limits(t, payload, now(), limits) {
        Ok(Decoded::Readings(rs)) => {
            assert!(!rs.is_empty() && rs.len() <= limits.max_batch);
            for r in &rs {
                if let Err(e) = validate(r, now(), limits) {
                    assert!(codes.contains(e.as_str()));
                    assert!(!e.to_string().is_empty());
                }
            }
            // The encoder must cope with anything the decoders produce.
            let _ = encode_native(&rs);
            true
        }
        Ok(_) => false,
        Err(e) => {
            assert!(codes.contains(e.as_str()), "{e:?}");
            assert!(!e.to_string().is_empty());
            false
        }
    }
}

#[test]
fn mutation_loop_never_panics() {
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let corpus = corpus();
    let topics = [tele(), senml(), owntracks(), status()];
    let limits = Limits::default();
    let small = Limits {
        max_payload_bytes: 200,
        max_batch: 2,
        ..Limits::default()
    };
    let mut decoded = 0;
    for round in 0..20_000 {
        let (own_topic, seed) = &corpus[rng.below(corpus.len())];
        let mutated = mutate(&mut rng, seed);
        decoded += usize::from(check_no_panic(own_topic, &mutated, &limits));
        // Every format's payload through every decoder, too.
        check_no_panic(&topics[round % topics.len()], &mutated, &limits);
        if round % 10 == 0 {
            check_no_panic(own_topic, &mutated, &small);
        }
    }
    assert!(decoded > 1000, "only {decoded} mutants decoded to readings");
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = XorShift(0xDEAD_BEEF_CAFE_F00D);
    let topics = [tele(), senml(), owntracks(), status()];
    let limits = Limits::default();
    let alphabet = b"{}[]\":,0123456789.-eE+ truefalsnl\\u_typebvnt";
    for round in 0..4000 {
        let len = rng.below(300);
        let json_ish = round % 2 == 0;
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                if json_ish {
                    alphabet[rng.below(alphabet.len())]
                } else {
                    rng.next() as u8
                }
            })
            .collect();
        for t in &topics {
            let _ = check_no_panic(t, &bytes, &limits);
        }
        let s = String::from_utf8_lossy(&bytes);
        if let Ok(t) = parse_topic(&s) {
            assert!(is_valid_device_id(t.device_id()));
        }
    }
}

#[test]
fn senml_names_concatenate_without_copying_long_base_names() {
    // `bn + n` is plain concatenation, so the segment may straddle the two.
    let r = readings(&senml(), r#"[{"bn":"trk-1:la","n":"t","v":48.1}]"#);
    assert_eq!(r[0].lat, Some(48.1));
    let records = vec![r#"{"n":"lat","v":48.1},{"n":"lon","v":11.5}"#; 200].join(",");
    let with_sep = format!(r#"[{{"bn":"{}:","v":0}},{records}]"#, "x".repeat(50_000));
    let r = readings(&senml(), &with_sep);
    assert_eq!((r.len(), r[0].lat, r[0].lon), (1, Some(48.1), Some(11.5)));
    let without_sep = format!(r#"[{{"bn":"{}","v":0}},{records}]"#, "x".repeat(50_000));
    assert_eq!(
        decode(&senml(), without_sep.as_bytes(), now()),
        Ok(Decoded::Ignored)
    );
    let bad_base = format!(r#"[{{"bn":"{} ","v":0}},{records}]"#, "x".repeat(50_000));
    let e = decode(&senml(), bad_base.as_bytes(), now()).unwrap_err();
    assert_eq!(e.as_str(), "invalid_senml");
    assert!(e.to_string().len() < 200, "details stay short: {e}");
}
