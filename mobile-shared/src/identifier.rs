//! Asset codes and tag identifiers: what kinds exist and how a raw value is normalised, so that
//! the same physical tag always produces the same stored value whoever typed or scanned it.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The kind of a machine-readable identifier attached to an asset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum IdentifierKind {
    /// Text of a QR code label.
    Qr,
    /// Text of a 1D barcode label.
    Barcode,
    /// UID of an NFC tag, as upper-case hex without separators.
    NfcUid,
    /// RFID EPC: upper-case hex (the EPC memory bank), or the canonical pure-identity URI
    /// (`urn:epc:id:…`) of a tag registered by its identity alone; see
    /// `tag::normalize_tag_value`, which takes every EPC form.
    RfidEpc,
    /// IMEI of a tracker or telematics box, 15 digits with a valid Luhn check digit.
    Imei,
}

impl IdentifierKind {
    pub const ALL: [IdentifierKind; 5] = [
        IdentifierKind::Qr,
        IdentifierKind::Barcode,
        IdentifierKind::NfcUid,
        IdentifierKind::RfidEpc,
        IdentifierKind::Imei,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            IdentifierKind::Qr => "qr",
            IdentifierKind::Barcode => "barcode",
            IdentifierKind::NfcUid => "nfc_uid",
            IdentifierKind::RfidEpc => "rfid_epc",
            IdentifierKind::Imei => "imei",
        }
    }
}

impl fmt::Display for IdentifierKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for IdentifierKind {
    type Err = IdentifierError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        IdentifierKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| IdentifierError::UnknownKind(s.to_owned()))
    }
}

/// Why a raw identifier or asset code was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentifierError {
    #[error("unknown identifier kind `{0}` (expected qr, barcode, nfc_uid, rfid_epc or imei)")]
    UnknownKind(String),
    #[error("must not be empty")]
    Empty,
    #[error("is longer than {max} characters")]
    TooLong { max: usize },
    #[error("contains a control character")]
    ControlCharacter,
    #[error("must be hexadecimal ({0})")]
    NotHex(&'static str),
    #[error("{0}")]
    Invalid(&'static str),
}

/// Longest identifier value we store; EPCs of 496 bits are 124 hex digits, URLs on labels are short.
pub const MAX_IDENTIFIER_LEN: usize = 512;
/// Longest asset code ("EX-0042" style human codes).
pub const MAX_ASSET_CODE_LEN: usize = 64;

/// Normalises an asset code: trimmed, upper-case; letters, digits and `- _ . /` only.
/// Codes are compared case-insensitively because people type them.
pub fn normalize_asset_code(raw: &str) -> Result<String, IdentifierError> {
    let code = raw.trim();
    if code.is_empty() {
        return Err(IdentifierError::Empty);
    }
    if code.chars().count() > MAX_ASSET_CODE_LEN {
        return Err(IdentifierError::TooLong {
            max: MAX_ASSET_CODE_LEN,
        });
    }
    if !code
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
    {
        return Err(IdentifierError::Invalid(
            "may contain only letters, digits and - _ . /",
        ));
    }
    Ok(code.to_ascii_uppercase())
}

/// Normalises a raw identifier value of the given kind to its stored form. An `rfid_epc` is
/// taken as hex only here; input that may be an EPC URI goes through
/// `tag::normalize_tag_value`, which builds on this (the tag module depends on this one, not
/// the reverse).
pub fn normalize_identifier(kind: IdentifierKind, raw: &str) -> Result<String, IdentifierError> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err(IdentifierError::Empty);
    }
    if trimmed.chars().count() > MAX_IDENTIFIER_LEN {
        return Err(IdentifierError::TooLong {
            max: MAX_IDENTIFIER_LEN,
        });
    }
    match kind {
        IdentifierKind::Qr | IdentifierKind::Barcode => {
            // GS1 payloads carry FNC1 as ASCII GS (0x1D); every other control character is noise.
            if trimmed.chars().any(|c| c.is_control() && c != '\u{1d}') {
                return Err(IdentifierError::ControlCharacter);
            }
            Ok(trimmed.to_owned())
        }
        IdentifierKind::NfcUid => {
            let hex = strip_hex_separators(trimmed);
            check_hex(&hex, "NFC UIDs are 4, 7 or 10 bytes of hex")?;
            if !matches!(hex.len(), 8 | 14 | 20) {
                return Err(IdentifierError::Invalid(
                    "NFC UIDs are 4, 7 or 10 bytes (8, 14 or 20 hex digits)",
                ));
            }
            Ok(hex)
        }
        IdentifierKind::RfidEpc => {
            let hex = strip_hex_separators(trimmed);
            check_hex(&hex, "an EPC is hex digits")?;
            if hex.len() < 8 || hex.len() % 4 != 0 {
                return Err(IdentifierError::Invalid(
                    "an EPC is a whole number of 16-bit words (a multiple of 4 hex digits, at least 8)",
                ));
            }
            Ok(hex)
        }
        IdentifierKind::Imei => {
            let digits: String = trimmed
                .chars()
                .filter(|c| !matches!(c, ' ' | '-'))
                .collect();
            if digits.len() != 15 || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(IdentifierError::Invalid("an IMEI is 15 digits"));
            }
            if !luhn_valid(&digits) {
                return Err(IdentifierError::Invalid("IMEI check digit is wrong"));
            }
            Ok(digits)
        }
    }
}

fn strip_hex_separators(s: &str) -> String {
    let s = s
        .strip_prefix("0x")
        .or_else(|| s.strip_prefix("0X"))
        .unwrap_or(s);
    s.chars()
        .filter(|c| !matches!(c, ':' | ' ' | '-'))
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

fn check_hex(s: &str, what: &'static str) -> Result<(), IdentifierError> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(IdentifierError::NotHex(what));
    }
    Ok(())
}

/// Luhn check over a string of ASCII digits (IMEI check digit).
pub fn luhn_valid(digits: &str) -> bool {
    let mut sum = 0u32;
    for (i, b) in digits.bytes().rev().enumerate() {
        let mut d = u32::from(b - b'0');
        if i % 2 == 1 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    sum % 10 == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asset_codes_are_trimmed_and_upper_cased() {
        assert_eq!(normalize_asset_code("  ex-0042 ").unwrap(), "EX-0042");
        assert_eq!(normalize_asset_code(""), Err(IdentifierError::Empty));
        assert!(normalize_asset_code("EX 42").is_err());
        assert!(normalize_asset_code(&"A".repeat(65)).is_err());
    }

    #[test]
    fn nfc_uids_lose_separators_and_case() {
        assert_eq!(
            normalize_identifier(IdentifierKind::NfcUid, "04:a2:24:1b:c3:5e:80").unwrap(),
            "04A2241BC35E80"
        );
        assert!(normalize_identifier(IdentifierKind::NfcUid, "04A2").is_err());
        assert!(normalize_identifier(IdentifierKind::NfcUid, "ZZZZZZZZ").is_err());
    }

    #[test]
    fn epcs_are_whole_words_of_hex() {
        assert_eq!(
            normalize_identifier(IdentifierKind::RfidEpc, "3034 257b f400 b780 0000 0001").unwrap(),
            "3034257BF400B78000000001"
        );
        assert!(normalize_identifier(IdentifierKind::RfidEpc, "30342").is_err());
    }

    #[test]
    fn imei_needs_luhn() {
        assert_eq!(
            normalize_identifier(IdentifierKind::Imei, "49-015420-323751-8").unwrap(),
            "490154203237518"
        );
        assert!(normalize_identifier(IdentifierKind::Imei, "490154203237517").is_err());
    }

    #[test]
    fn qr_text_rejects_control_characters_but_keeps_gs() {
        assert!(normalize_identifier(IdentifierKind::Qr, "A\u{0}B").is_err());
        assert_eq!(
            normalize_identifier(IdentifierKind::Qr, "]Q3\u{1d}8004X").unwrap(),
            "]Q3\u{1d}8004X"
        );
    }

    #[test]
    fn kinds_round_trip_through_strings() {
        for k in IdentifierKind::ALL {
            assert_eq!(k.as_str().parse::<IdentifierKind>().unwrap(), k);
        }
        assert!("rfid".parse::<IdentifierKind>().is_err());
    }
}
