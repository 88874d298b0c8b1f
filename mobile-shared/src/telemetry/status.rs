//! `fieldops/v1/<device_id>/status`: the tracker's MQTT last will (`offline`) and its
//! counterpart published on connect (`online`).
//!
//! Plain text is the contract because a last will is set once at connect time and many firmwares
//! only allow a fixed string there; a JSON string or `{"status": "…"}` is accepted too since some
//! MQTT libraries always wrap payloads in JSON.

use serde_json::Value;

use super::reject::{clip, RejectReason};
use super::DeviceStatus;

pub(crate) fn decode(payload: &[u8]) -> Result<DeviceStatus, RejectReason> {
    let text = String::from_utf8_lossy(payload);
    let text = text.trim();
    if let Some(status) = word(text) {
        return Ok(status);
    }
    let inner = match serde_json::from_str::<Value>(text) {
        Ok(Value::String(s)) => word(s.trim()),
        Ok(Value::Object(obj)) => match obj.get("status") {
            Some(Value::String(s)) => word(s.trim()),
            _ => None,
        },
        _ => None,
    };
    inner.ok_or_else(|| RejectReason::BadStatus { value: clip(text) })
}

/// Case-insensitive because firmware authors write `ONLINE` as often as `online`.
fn word(s: &str) -> Option<DeviceStatus> {
    if s.eq_ignore_ascii_case("online") {
        Some(DeviceStatus::Online)
    } else if s.eq_ignore_ascii_case("offline") {
        Some(DeviceStatus::Offline)
    } else {
        None
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn status_table() {
        let cases: &[(&[u8], Option<DeviceStatus>)] = &[
            (b"online", Some(DeviceStatus::Online)),
            (b"offline", Some(DeviceStatus::Offline)),
            (b"OFFLINE\n", Some(DeviceStatus::Offline)),
            (b"\"online\"", Some(DeviceStatus::Online)),
            (
                br#"{"status":"offline","reason":"lwt"}"#,
                Some(DeviceStatus::Offline),
            ),
            (br#"{"status":" online "}"#, Some(DeviceStatus::Online)),
            (b"on line", None),
            (b"1", None),
            (b"true", None),
            (br#"{"state":"online"}"#, None),
            (br#"{"status":1}"#, None),
            (b"[\"online\"]", None),
            (b"\xff\xfe", None),
        ];
        for (payload, want) in cases {
            let got = decode(payload);
            match want {
                Some(s) => assert_eq!(got, Ok(*s), "{payload:?}"),
                None => assert_eq!(
                    got.map_err(|e| e.as_str()),
                    Err("bad_status"),
                    "{payload:?}"
                ),
            }
        }
    }
}
