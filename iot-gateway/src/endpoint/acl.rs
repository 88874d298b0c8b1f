//! Topic rules: a device publishes (and sets its last will, and subscribes) only inside its own
//! topic space, the same space the exported Mosquitto ACL grants
//! ([`domain::devices::mosquitto_acl`]: `fieldops/v1/%u/#` and `owntracks/%u/#`).
//!
//! Whether a publish is delivered is decided by [`mobile_shared::telemetry::parse_topic`], the
//! parser the pipeline uses, so the device id the ACL checked is the one ingest attributes the
//! message to.

use mobile_shared::telemetry;

/// What to do with a PUBLISH.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PublishRule {
    /// One of the ingest topics, under the device's own id: hand it to the pipeline.
    Deliver,
    /// Inside the device's own space but no ingest topic (an OwnTracks `…/event`, say):
    /// acknowledged and dropped, as a broker drops what no subscription matches (the gateway
    /// behind Mosquitto subscribes to the ingest topics only).
    Drop,
    /// Outside the device's space: never delivered.
    Refuse,
}

/// The rule for `device_id` publishing on `topic`.
pub(crate) fn publish_rule(device_id: &str, topic: &str) -> PublishRule {
    match telemetry::parse_topic(topic) {
        Ok(t) if t.device_id() == device_id => PublishRule::Deliver,
        // Parsed to another device: `fieldops/v1/jane/telemetry` is not inside `jane/phone`'s
        // space even though it shares a prefix.
        Ok(_) => PublishRule::Refuse,
        Err(_) if in_own_space(device_id, topic) => PublishRule::Drop,
        Err(_) => PublishRule::Refuse,
    }
}

/// Whether a last will on `topic` may be set: the same rule as a publish (a will is a publish
/// the endpoint makes later on the device's behalf). That admits the tracker's status topic and
/// OwnTracks' own will (`owntracks/<user>/<device>`, `_type: lwt`, which ingest ignores).
pub(crate) fn will_allowed(device_id: &str, topic: &str) -> bool {
    publish_rule(device_id, topic) != PublishRule::Refuse
}

/// Whether `device_id` may subscribe to `filter`: a valid filter inside its own space
/// (OwnTracks subscribes to its command topics). Nothing is ever delivered to it.
pub(crate) fn may_subscribe(device_id: &str, filter: &str) -> bool {
    rumqttc::mqttbytes::valid_filter(filter) && in_own_space(device_id, filter)
}

/// `fieldops/v1/<id>/…`, `owntracks/<id>` or `owntracks/<id>/…`.
fn in_own_space(device_id: &str, topic: &str) -> bool {
    let under = |prefix: &str| {
        topic
            .strip_prefix(prefix)
            .and_then(|rest| rest.strip_prefix(device_id))
    };
    let fieldops = under("fieldops/v1/").is_some_and(|rest| rest.starts_with('/'));
    let owntracks =
        under("owntracks/").is_some_and(|rest| rest.is_empty() || rest.starts_with('/'));
    fieldops || owntracks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publishes_are_confined_to_the_devices_own_topics() {
        use PublishRule::*;
        let cases = [
            ("trk-1", "fieldops/v1/trk-1/telemetry", Deliver),
            ("trk-1", "fieldops/v1/trk-1/senml", Deliver),
            ("trk-1", "fieldops/v1/trk-1/status", Deliver),
            ("trk-1", "fieldops/v1/trk-1/other", Drop),
            ("trk-1", "fieldops/v1/trk-1/telemetry/x", Drop),
            ("trk-1", "fieldops/v1/trk-2/telemetry", Refuse),
            ("trk-1", "fieldops/v1/trk-10/telemetry", Refuse),
            ("trk-1", "fieldops/v1/trk-1", Refuse),
            ("trk-1", "fieldops/v1/+/telemetry", Refuse),
            ("trk-1", "owntracks/trk-1/x", Refuse),
            ("trk-1", "elsewhere", Refuse),
            ("trk-1", "", Refuse),
            ("jane/phone", "owntracks/jane/phone", Deliver),
            ("jane/phone", "owntracks/jane/phone/event", Drop),
            ("jane/phone", "owntracks/jane/phoneX", Refuse),
            ("jane/phone", "owntracks/joe/phone", Refuse),
            ("jane/phone", "fieldops/v1/jane/telemetry", Refuse),
            ("jane/phone", "fieldops/v1/jane/phone/telemetry", Drop),
        ];
        for (device, topic, want) in cases {
            assert_eq!(publish_rule(device, topic), want, "{device} on {topic}");
        }
    }

    #[test]
    fn wills_follow_the_publish_rule() {
        assert!(will_allowed("trk-1", "fieldops/v1/trk-1/status"));
        assert!(will_allowed("jane/phone", "owntracks/jane/phone"));
        assert!(!will_allowed("trk-1", "fieldops/v1/trk-2/status"));
    }

    #[test]
    fn subscriptions_stay_inside_the_own_space() {
        assert!(may_subscribe("jane/phone", "owntracks/jane/phone/cmd"));
        assert!(may_subscribe("jane/phone", "owntracks/jane/phone/#"));
        assert!(may_subscribe("trk-1", "fieldops/v1/trk-1/#"));
        assert!(!may_subscribe("jane/phone", "owntracks/+/+"));
        assert!(!may_subscribe("trk-1", "fieldops/v1/#"));
        assert!(!may_subscribe("trk-1", "fieldops/v1/trk-1/#/x"));
        assert!(!may_subscribe("trk-1", "#"));
    }
}
