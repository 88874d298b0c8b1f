//! Small JSON helpers shared by the decoders: parse once, then read typed optional fields.

use serde_json::{Map, Value};

use super::reject::{clip, RejectReason};

/// Parses a payload whose size the caller has already bounded. A leading UTF-8 BOM is tolerated
/// because some embedded JSON writers emit one.
pub(crate) fn parse(payload: &[u8]) -> Result<Value, RejectReason> {
    let body = payload.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(payload);
    serde_json::from_slice(body).map_err(|e| RejectReason::MalformedJson {
        detail: clip(&e.to_string()),
    })
}

/// An optional number: absent or `null` is `None`, anything but a number is a reject.
pub(crate) fn opt_f64(
    obj: &Map<String, Value>,
    field: &'static str,
) -> Result<Option<f64>, RejectReason> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n.as_f64().map(Some).ok_or(RejectReason::BadField {
            field,
            expected: "a number",
        }),
        Some(_) => Err(RejectReason::BadField {
            field,
            expected: "a number",
        }),
    }
}

/// An optional boolean: absent or `null` is `None`, anything but `true`/`false` is a reject.
pub(crate) fn opt_bool(
    obj: &Map<String, Value>,
    field: &'static str,
) -> Result<Option<bool>, RejectReason> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(RejectReason::BadField {
            field,
            expected: "true or false",
        }),
    }
}

/// An optional string: absent or `null` is `None`, anything but a string is a reject.
pub(crate) fn opt_str<'a>(
    obj: &'a Map<String, Value>,
    field: &'static str,
) -> Result<Option<&'a str>, RejectReason> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(RejectReason::BadField {
            field,
            expected: "a string",
        }),
    }
}
