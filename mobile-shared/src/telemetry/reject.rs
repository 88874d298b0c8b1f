//! Why a message or a reading was refused.
//!
//! The code ([`RejectReason::as_str`]) is a stable contract: it is a Prometheus label and a column
//! in the reject table, so codes are never renamed, only added. The human message (`Display`) may
//! change freely and carries the offending value where that helps someone fix a tracker.

use chrono::{DateTime, SecondsFormat, Utc};

/// Longest slice of device-supplied text copied into a reject detail, so a hostile payload cannot
/// bloat logs or the reject table.
const MAX_DETAIL_CHARS: usize = 64;

/// Why a topic, payload or reading was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RejectReason {
    /// The topic is not one of ours, or its device id breaks the id rules.
    #[error("topic `{topic}` is not a fieldops telemetry topic or has an invalid device id")]
    BadTopic { topic: String },
    /// Refused before parsing, so a huge payload costs nothing.
    #[error("payload is {size} bytes, limit is {max}")]
    PayloadTooLarge { size: usize, max: usize },
    /// Not JSON (or not UTF-8 JSON) at all.
    #[error("payload is not valid JSON: {detail}")]
    MalformedJson { detail: String },
    /// Valid JSON, but not the object/array layout the format requires.
    #[error("unexpected JSON shape: {detail}")]
    UnexpectedShape { detail: String },
    /// A known field holds the wrong JSON type.
    #[error("field `{field}` must be {expected}")]
    BadField {
        field: &'static str,
        expected: &'static str,
    },
    /// A field the format requires (other than the timestamp) is absent.
    #[error("required field `{field}` is missing")]
    MissingField { field: &'static str },
    /// A timestamp that cannot be read or lies outside the representable range.
    #[error("timestamp {value} is not RFC 3339 or Unix seconds/milliseconds in range")]
    BadTimestamp { value: String },
    /// No timestamp at all; we never invent one for native or OwnTracks data.
    #[error("timestamp is missing")]
    MissingTimestamp,
    /// An array longer than the configured batch limit.
    #[error("batch holds {len} entries, limit is {max}")]
    BatchTooLarge { len: usize, max: usize },
    /// A SenML measurement in a unit we do not convert (empty unit = none given where one is needed).
    #[error("SenML record `{name}` has unsupported unit `{unit}`")]
    UnsupportedUnit { name: String, unit: String },
    /// A SenML pack that breaks RFC 8428 (must-understand field, newer version, several values…).
    #[error("invalid SenML pack: {detail}")]
    InvalidSenml { detail: String },
    /// A status payload that is neither `online` nor `offline`.
    #[error("status `{value}` is neither `online` nor `offline`")]
    BadStatus { value: String },
    /// NaN or infinity in a numeric field (possible after unit conversion or from non-JSON sources).
    #[error("field `{field}` is not a finite number")]
    NotFinite { field: &'static str },
    /// Exactly one of `lat`/`lon` was given; half a position is no position.
    #[error("lat and lon must be given together")]
    LatWithoutLon,
    /// Latitude outside ±90 or longitude outside ±180.
    #[error("position ({lat}, {lon}) is outside lat ±90 / lon ±180")]
    LatLonOutOfRange { lat: f64, lon: f64 },
    /// Exactly (0, 0): what GPS modules emit before their first fix, never a real site.
    #[error("position is exactly (0, 0), a GPS module without a fix")]
    NullIsland,
    /// Later than `now + max_future`: a tracker clock that is wrong, not a reading from the future.
    #[error("timestamp {} is too far in the future", rfc3339(ts))]
    FutureTimestamp { ts: DateTime<Utc> },
    /// Earlier than `now - max_age`: usually an unset RTC (1970, 2000) or a stale buffer.
    #[error("timestamp {} is too old", rfc3339(ts))]
    TooOld { ts: DateTime<Utc> },
    /// A negative engine-hour or odometer reading.
    #[error("meter `{field}` is negative ({value})")]
    NegativeMeter { field: &'static str, value: f64 },
    /// Any other numeric field outside its physical domain (negative speed, heading > 360, …).
    #[error("field `{field}` value {value} is out of range")]
    ValueOutOfRange { field: &'static str, value: f64 },
}

impl RejectReason {
    /// Every code [`RejectReason::as_str`] can return, so metrics can pre-register their labels.
    pub const ALL_CODES: &'static [&'static str] = &[
        "bad_topic",
        "payload_too_large",
        "malformed_json",
        "unexpected_shape",
        "bad_field",
        "missing_field",
        "bad_timestamp",
        "missing_timestamp",
        "batch_too_large",
        "unsupported_unit",
        "invalid_senml",
        "bad_status",
        "not_finite",
        "lat_without_lon",
        "lat_lon_out_of_range",
        "null_island",
        "future_timestamp",
        "too_old",
        "negative_meter",
        "value_out_of_range",
    ];

    /// Stable snake_case code: a Prometheus label and the reject table's `reason` column.
    pub fn as_str(&self) -> &'static str {
        match self {
            RejectReason::BadTopic { .. } => "bad_topic",
            RejectReason::PayloadTooLarge { .. } => "payload_too_large",
            RejectReason::MalformedJson { .. } => "malformed_json",
            RejectReason::UnexpectedShape { .. } => "unexpected_shape",
            RejectReason::BadField { .. } => "bad_field",
            RejectReason::MissingField { .. } => "missing_field",
            RejectReason::BadTimestamp { .. } => "bad_timestamp",
            RejectReason::MissingTimestamp => "missing_timestamp",
            RejectReason::BatchTooLarge { .. } => "batch_too_large",
            RejectReason::UnsupportedUnit { .. } => "unsupported_unit",
            RejectReason::InvalidSenml { .. } => "invalid_senml",
            RejectReason::BadStatus { .. } => "bad_status",
            RejectReason::NotFinite { .. } => "not_finite",
            RejectReason::LatWithoutLon => "lat_without_lon",
            RejectReason::LatLonOutOfRange { .. } => "lat_lon_out_of_range",
            RejectReason::NullIsland => "null_island",
            RejectReason::FutureTimestamp { .. } => "future_timestamp",
            RejectReason::TooOld { .. } => "too_old",
            RejectReason::NegativeMeter { .. } => "negative_meter",
            RejectReason::ValueOutOfRange { .. } => "value_out_of_range",
        }
    }
}

fn rfc3339(ts: &DateTime<Utc>) -> String {
    ts.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// Copies at most [`MAX_DETAIL_CHARS`] characters of device-supplied text into a reject detail.
pub(crate) fn clip(text: &str) -> String {
    match text.char_indices().nth(MAX_DETAIL_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn clip_is_char_safe_and_bounded() {
        assert_eq!(clip("short"), "short");
        let long = "é".repeat(200);
        let clipped = clip(&long);
        assert_eq!(clipped.chars().count(), MAX_DETAIL_CHARS + 1);
        assert!(clipped.ends_with('…'));
    }

    #[test]
    fn codes_are_unique_snake_case() {
        let mut seen = std::collections::BTreeSet::new();
        for code in RejectReason::ALL_CODES {
            assert!(seen.insert(*code), "duplicate code {code}");
            assert!(code.chars().all(|c| c.is_ascii_lowercase() || c == '_'));
        }
    }
}
