//! MQTT topic names: which format a message is in and which device sent it.
//!
//! The broker only lets a device publish under its own id, so the id in the topic is the
//! authenticated sender; ids inside payloads (SenML `bn`, OwnTracks `tid`) are never trusted.

use std::fmt;

use super::reject::{clip, RejectReason};

/// Longest device id, including the `/` of the OwnTracks form.
pub const MAX_DEVICE_ID_LEN: usize = 64;

/// Topics longer than this are refused before being split, so parsing work stays bounded.
const MAX_TOPIC_LEN: usize = 256;

const FIELDOPS_PREFIX: &str = "fieldops/v1/";
const OWNTRACKS_PREFIX: &str = "owntracks/";

/// The topic filters a gateway subscribes to, one per supported topic shape.
const SUBSCRIPTIONS: &[&str] = &[
    "fieldops/v1/+/telemetry",
    "fieldops/v1/+/senml",
    "fieldops/v1/+/status",
    "owntracks/+/+",
];

/// Shared-subscription group, so N gateway processes split one stream instead of each getting all.
pub const SHARE_GROUP: &str = "fieldops";

/// A parsed telemetry topic: the payload format and the sending device.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Topic {
    /// `fieldops/v1/<device_id>/telemetry`: native JSON object or array.
    Telemetry { device_id: String },
    /// `owntracks/<user>/<device>`: OwnTracks JSON; the id is `<user>/<device>`.
    OwnTracks { device_id: String },
    /// `fieldops/v1/<device_id>/senml`: RFC 8428 SenML JSON pack.
    Senml { device_id: String },
    /// `fieldops/v1/<device_id>/status`: `online` / `offline` (the tracker's last will).
    Status { device_id: String },
}

impl Topic {
    /// The device that published, as authenticated by the broker.
    pub fn device_id(&self) -> &str {
        match self {
            Topic::Telemetry { device_id }
            | Topic::OwnTracks { device_id }
            | Topic::Senml { device_id }
            | Topic::Status { device_id } => device_id,
        }
    }
}

/// Renders the MQTT topic name, so simulators publish to exactly what [`parse_topic`] accepts.
impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Topic::Telemetry { device_id } => write!(f, "{FIELDOPS_PREFIX}{device_id}/telemetry"),
            Topic::Senml { device_id } => write!(f, "{FIELDOPS_PREFIX}{device_id}/senml"),
            Topic::Status { device_id } => write!(f, "{FIELDOPS_PREFIX}{device_id}/status"),
            Topic::OwnTracks { device_id } => write!(f, "{OWNTRACKS_PREFIX}{device_id}"),
        }
    }
}

/// Splits a topic name into format and device id; anything not exactly one of our shapes is
/// rejected, including MQTT wildcards and `$`-prefixed system topics.
pub fn parse_topic(topic: &str) -> Result<Topic, RejectReason> {
    let bad = || RejectReason::BadTopic { topic: clip(topic) };
    if topic.len() > MAX_TOPIC_LEN {
        return Err(bad());
    }
    if let Some(rest) = topic.strip_prefix(FIELDOPS_PREFIX) {
        let (id, kind) = rest.split_once('/').ok_or_else(bad)?;
        if !is_valid_segment(id) {
            return Err(bad());
        }
        let device_id = id.to_owned();
        return match kind {
            "telemetry" => Ok(Topic::Telemetry { device_id }),
            "senml" => Ok(Topic::Senml { device_id }),
            "status" => Ok(Topic::Status { device_id }),
            _ => Err(bad()),
        };
    }
    if let Some(rest) = topic.strip_prefix(OWNTRACKS_PREFIX) {
        // `owntracks/<user>/<device>/event` etc. carry no locations; they fail the id check here.
        if is_valid_owntracks_id(rest) {
            return Ok(Topic::OwnTracks {
                device_id: rest.to_owned(),
            });
        }
    }
    Err(bad())
}

/// The topic filters a gateway subscribes to.
pub fn subscriptions() -> &'static [&'static str] {
    SUBSCRIPTIONS
}

/// [`subscriptions`] wrapped as MQTT 5 / broker shared subscriptions (`$share/fieldops/…`), for
/// scale-out gateways.
pub fn shared_subscriptions() -> Vec<String> {
    SUBSCRIPTIONS
        .iter()
        .map(|filter| format!("$share/{SHARE_GROUP}/{filter}"))
        .collect()
}

/// Whether `id` may be a device id: 1–64 chars of `[A-Za-z0-9._:-]`, or the OwnTracks form
/// `<user>/<device>` (both parts non-empty, 64 chars in total). The slashed form can only publish
/// through `owntracks/…` topics.
pub fn is_valid_device_id(id: &str) -> bool {
    is_valid_segment(id) || is_valid_owntracks_id(id)
}

fn is_valid_owntracks_id(id: &str) -> bool {
    match id.split_once('/') {
        Some((user, device)) => {
            id.len() <= MAX_DEVICE_ID_LEN && is_valid_segment(user) && is_valid_segment(device)
        }
        None => false,
    }
}

fn is_valid_segment(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_DEVICE_ID_LEN
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn tele(id: &str) -> Topic {
        Topic::Telemetry {
            device_id: id.into(),
        }
    }

    #[test]
    fn topic_table() {
        let long64 = "a".repeat(64);
        let long65 = "a".repeat(65);
        let cases: Vec<(String, Option<Topic>)> = vec![
            ("fieldops/v1/trk-1/telemetry".into(), Some(tele("trk-1"))),
            (
                "fieldops/v1/A.b_c:D-9/senml".into(),
                Some(Topic::Senml {
                    device_id: "A.b_c:D-9".into(),
                }),
            ),
            (
                "fieldops/v1/x/status".into(),
                Some(Topic::Status {
                    device_id: "x".into(),
                }),
            ),
            (
                "owntracks/jane/phone".into(),
                Some(Topic::OwnTracks {
                    device_id: "jane/phone".into(),
                }),
            ),
            (
                format!("fieldops/v1/{long64}/telemetry"),
                Some(tele(&long64)),
            ),
            (format!("fieldops/v1/{long65}/telemetry"), None),
            (
                format!("owntracks/{}/{}", "u".repeat(32), "d".repeat(31)),
                {
                    let id = format!("{}/{}", "u".repeat(32), "d".repeat(31));
                    Some(Topic::OwnTracks { device_id: id })
                },
            ),
            (
                format!("owntracks/{}/{}", "u".repeat(32), "d".repeat(32)),
                None,
            ),
            ("fieldops/v1//telemetry".into(), None),
            ("fieldops/v1/+/telemetry".into(), None),
            ("fieldops/v1/#".into(), None),
            ("fieldops/v1/a b/telemetry".into(), None),
            ("fieldops/v1/ä/telemetry".into(), None),
            ("fieldops/v1/x/telemetry/extra".into(), None),
            ("fieldops/v1/x/Telemetry".into(), None),
            ("fieldops/v1/x".into(), None),
            ("fieldops/v2/x/telemetry".into(), None),
            ("/fieldops/v1/x/telemetry".into(), None),
            ("$SYS/broker/uptime".into(), None),
            ("owntracks/jane".into(), None),
            ("owntracks/jane/phone/event".into(), None),
            ("owntracks//phone".into(), None),
            ("owntracks/jane/".into(), None),
            ("".into(), None),
            ("x".repeat(10_000), None),
        ];
        for (topic, want) in cases {
            match (parse_topic(&topic), want) {
                (Ok(got), Some(want)) => assert_eq!(got, want, "{topic}"),
                (Err(e), None) => assert_eq!(e.as_str(), "bad_topic", "{topic}"),
                (got, want) => panic!("{topic}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn display_round_trips() {
        for t in [
            tele("trk-1"),
            Topic::Senml {
                device_id: "s".into(),
            },
            Topic::Status {
                device_id: "s".into(),
            },
            Topic::OwnTracks {
                device_id: "u/d".into(),
            },
        ] {
            assert_eq!(parse_topic(&t.to_string()), Ok(t.clone()));
            assert!(!t.device_id().is_empty());
        }
    }

    #[test]
    fn subscriptions_match_every_topic_kind() {
        assert_eq!(subscriptions().len(), 4);
        let shared = shared_subscriptions();
        assert!(shared.iter().all(|s| s.starts_with("$share/fieldops/")));
        assert!(is_valid_device_id("jane/phone"));
        assert!(is_valid_device_id("trk-1"));
        assert!(!is_valid_device_id("a/b/c"));
        assert!(!is_valid_device_id(""));
    }
}
