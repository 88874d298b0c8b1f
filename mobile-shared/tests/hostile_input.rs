//! Hostile input to every decoder of outside bytes in this crate, as property tests: scanned
//! tag text (QR, barcode, NFC, RFID EPC in every form), MQTT topics and telemetry payloads in
//! every format, map bounding boxes, asset codes and identifiers. Each must answer (a value or
//! a typed error) without panicking, within the work its limits promise; normalisation must be
//! idempotent, so a value stored once matches the same scan forever.
//!
//! Generators mix pure noise with text built from the prefixes each decoder looks for, so
//! cases reach past the first check. Fuzzing proper (cargo-fuzz) needs a nightly toolchain;
//! these run in the ordinary suite.

use chrono::{TimeZone, Utc};
use mobile_shared::geo_cell::Bbox;
use mobile_shared::tag::{normalize_tag_value, parse};
use mobile_shared::telemetry::{decode, decode_with_limits, parse_topic, Decoded, Limits};
use mobile_shared::{normalize_asset_code, normalize_identifier, IdentifierKind};
use proptest::prelude::*;

/// Prefixes the tag parser branches on.
const TAG_PREFIXES: &[&str] = &[
    "",
    "]Q3",
    "]d2",
    "]C1",
    "]e0",
    "urn:epc:tag:giai-96:",
    "urn:epc:id:giai:",
    "urn:epc:tag:sgtin-96:",
    "urn:epc:id:sgtin:",
    "urn:epc:raw:96.x",
    "https://id.gs1.org/8004/",
    "https://id.gs1.org/01/",
    "http://example.com/a?code=",
    "(8004)",
    "(01)",
    "\u{1d}8004",
    "3414",
    "3034",
    "E2",
];

/// Text a scanner could report: a known prefix, then noise of scanner-ish or any characters.
fn scanned_text() -> impl Strategy<Value = String> {
    (
        prop::sample::select(TAG_PREFIXES),
        prop_oneof![
            "[0-9A-Fa-f]{0,64}",
            "[0-9().%/?=&:.\u{1d} -]{0,80}",
            "[ -~]{0,120}",
            any::<String>(),
        ],
    )
        .prop_map(|(p, rest)| format!("{p}{rest}"))
}

/// JSON-shaped text: objects and arrays of the fields the formats read, with values of the
/// wrong types, out-of-range numbers and nesting mixed in.
fn json_like() -> impl Strategy<Value = String> {
    let key = prop::sample::select(vec![
        "ts",
        "t",
        "lat",
        "lon",
        "engine_hours",
        "speed",
        "_type",
        "tst",
        "bn",
        "bt",
        "n",
        "v",
        "u",
        "state",
        "seq",
        "acc",
        "batt",
        "x",
    ]);
    let leaf = prop_oneof![
        Just("null".to_owned()),
        Just("true".to_owned()),
        any::<f64>().prop_map(|f| format!("{f}")),
        any::<i64>().prop_map(|i| i.to_string()),
        Just("1e400".to_owned()),
        Just("-0".to_owned()),
        "\"[ -~]{0,20}\"",
    ];
    leaf.prop_recursive(4, 64, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(|v| format!("[{}]", v.join(","))),
            prop::collection::vec((key.clone(), inner), 0..8).prop_map(|kv| {
                let fields: Vec<String> = kv
                    .into_iter()
                    .map(|(k, v)| format!("\"{k}\":{v}"))
                    .collect();
                format!("{{{}}}", fields.join(","))
            }),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn tag_text_never_panics_and_candidates_are_normalised(text in scanned_text()) {
        if let Ok(scanned) = parse(&text) {
            prop_assert_eq!(&scanned.raw, &text);
            for c in &scanned.candidates {
                // Candidates are looked up as stored values: normalising them again changes
                // nothing.
                let again = match c.kind {
                    Some(kind) => normalize_tag_value(kind, &c.value).ok(),
                    None => normalize_asset_code(&c.value).ok(),
                };
                prop_assert_eq!(again.as_deref(), Some(c.value.as_str()), "{:?}", c);
            }
        }
    }

    #[test]
    fn identifier_normalisation_is_idempotent(
        kind in prop::sample::select(IdentifierKind::ALL.to_vec()),
        text in scanned_text(),
    ) {
        if let Ok(once) = normalize_tag_value(kind, &text) {
            prop_assert_eq!(normalize_tag_value(kind, &once).ok(), Some(once.clone()));
        }
        if let Ok(once) = normalize_identifier(kind, &text) {
            prop_assert_eq!(normalize_identifier(kind, &once).ok(), Some(once.clone()));
        }
        if let Ok(code) = normalize_asset_code(&text) {
            prop_assert_eq!(normalize_asset_code(&code).ok(), Some(code.clone()));
        }
    }

    #[test]
    fn topics_never_panic(topic in prop_oneof![
        "fieldops/v1/[ -~]{0,40}/(telemetry|senml|status|x)",
        "owntracks/[ -~]{0,40}",
        any::<String>(),
    ]) {
        if let Ok(t) = parse_topic(&topic) {
            // What parses prints back as itself: no two spellings of one device.
            prop_assert_eq!(t.to_string(), topic);
        }
    }

    #[test]
    fn telemetry_payloads_never_panic(
        kind in prop::sample::select(vec!["telemetry", "senml", "status"]),
        payload in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..512),
            json_like().prop_map(String::into_bytes),
        ],
    ) {
        let topic = parse_topic(&format!("fieldops/v1/trk-1/{kind}")).expect("a valid topic");
        let now = Utc.with_ymd_and_hms(2026, 6, 1, 12, 0, 0).single().expect("a time");
        if let Ok(Decoded::Readings(r)) = decode(&topic, &payload, now) {
            prop_assert!(!r.is_empty() && r.len() <= Limits::default().max_batch);
        }
        let owntracks = parse_topic("owntracks/fleet/trk-1").expect("a valid topic");
        let _ = decode(&owntracks, &payload, now);
    }

    #[test]
    fn bounding_boxes_never_panic(text in prop_oneof![
        "(-?[0-9]{1,4}(\\.[0-9]{0,8})?,){3}-?[0-9]{1,4}(\\.[0-9]{0,8})?",
        "[-0-9.,eE+ a-z]{0,60}",
        any::<String>(),
    ]) {
        let _ = Bbox::parse(&text);
    }
}

#[test]
fn oversized_payloads_are_refused_before_parsing() {
    let topic = parse_topic("fieldops/v1/trk-1/telemetry").expect("a valid topic");
    // A megabyte of nested arrays would be deep recursion if it were parsed.
    let huge = "[".repeat(1 << 20);
    let refused = decode_with_limits(&topic, huge.as_bytes(), Utc::now(), &Limits::default());
    assert!(refused.is_err());
}
