//! Turns whatever text a phone reads from a label or tag into a typed, normalised result and
//! the ordered lookup candidates the server tries to find the asset.
//!
//! Technicians scan what is on the equipment: our own QR labels (a code or a URL), a
//! manufacturer's GS1 DataMatrix or Digital Link, an RFID tag's EPC, an NFC tag's UID. The
//! same asset may carry several of these, so every form is reduced to the identifiers the
//! registry stores (asset code, or identifier kind + normalised value), most specific first.
//!
//! Pure code: no I/O, never panics on any input.

#![forbid(unsafe_code)]

mod digital_link;
mod epc;
mod gs1;
mod uri;

#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};

use crate::identifier::{
    normalize_asset_code, normalize_identifier, IdentifierError, IdentifierKind, MAX_IDENTIFIER_LEN,
};

pub use epc::{encode_giai96, EpcScheme};
pub use gs1::{gs1_check_digit, gs1_check_digit_valid, Gs1Element, Gs1Key};

/// The result of reading one scan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Scanned {
    /// The text exactly as the phone reported it.
    pub raw: String,
    /// AIM symbology identifier the scanner prefixed (`]Q3`, `]d2`, `]C1`...), if any: it says
    /// whether the symbol was GS1 data and whether it was a 1D barcode.
    pub symbology: Option<String>,
    /// What the text was recognised as.
    pub form: TagForm,
    /// Lookups for the server to try, in order, first hit wins. Values are already
    /// normalised (`normalize_asset_code` / [`normalize_tag_value`]) and deduplicated.
    pub candidates: Vec<Candidate>,
}

impl Scanned {
    /// The GS1 key the scan carries, whatever its form.
    pub fn gs1_key(&self) -> Option<&Gs1Key> {
        match &self.form {
            TagForm::DigitalLink { key, .. }
            | TagForm::Gs1ElementString { key, .. }
            | TagForm::Epc { key, .. }
            | TagForm::EpcUri { key, .. } => key.as_ref(),
            _ => None,
        }
    }
}

/// The recognised form of a scan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "form", rename_all = "snake_case")]
pub enum TagForm {
    /// One of our asset codes ("EX-0042"), normalised.
    AssetCode { code: String },
    /// An http(s) URL that is not a GS1 Digital Link, e.g. our own label URL. `segment` is
    /// the `code` query parameter if present, else the last path segment, percent-decoded.
    Url {
        url: String,
        segment: Option<String>,
    },
    /// A GS1 Digital Link URI.
    DigitalLink {
        url: String,
        key: Option<Gs1Key>,
        /// Primary key and key qualifiers from the path.
        elements: Vec<Gs1Element>,
        /// Data attributes from the query string.
        attributes: Vec<Gs1Element>,
        /// Everything as a human-readable element string.
        element_string: String,
    },
    /// GS1 element string: barcode data (FNC1 as GS) or the parenthesised printed form.
    Gs1ElementString {
        key: Option<Gs1Key>,
        elements: Vec<Gs1Element>,
        element_string: String,
    },
    /// Binary EPC from an RFID read, as upper-case hex. `scheme` is `None` for headers this
    /// module does not decode; the hex is still the tag's identity.
    Epc {
        hex: String,
        scheme: Option<EpcScheme>,
        filter: Option<u8>,
        /// Pure-identity URI, e.g. `urn:epc:id:giai:0614141.5678`.
        uri: Option<String>,
        /// Tag URI, e.g. `urn:epc:tag:giai-96:3.0614141.5678`.
        tag_uri: Option<String>,
        key: Option<Gs1Key>,
        element_string: Option<String>,
    },
    /// An EPC pure-identity or tag URI given as text. `hex` is the tag binary when a tag URI
    /// fixed it; `key` is `None` for schemes this module does not decode.
    EpcUri {
        /// Canonical pure-identity URI (the text itself for undecoded schemes).
        uri: String,
        scheme: String,
        tag_uri: Option<String>,
        filter: Option<u8>,
        hex: Option<String>,
        key: Option<Gs1Key>,
        element_string: Option<String>,
    },
    /// An NFC tag UID (4, 7 or 10 bytes), upper-case hex without separators.
    NfcUid { hex: String },
    /// Anything else; only its exact text can match (as a `qr` identifier).
    Text { text: String },
}

/// One lookup for the server.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Candidate {
    /// `None`: match against asset codes. Otherwise: an active identifier of this kind.
    pub kind: Option<IdentifierKind>,
    /// Normalised value.
    pub value: String,
}

/// What the phone read the text from, when it knows. Bare hex is ambiguous (asset code,
/// NFC UID, EPC), so only a hint, or an unmistakable shape, makes it a UID or an EPC.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ScanSource {
    /// Not known: recognise by shape alone.
    #[default]
    Unknown,
    /// The camera read a barcode or QR code (recognised by shape, like `Unknown`).
    Camera,
    /// NFC: a UID is taken as one; other text (an NDEF record) is recognised by shape.
    Nfc,
    /// RFID reader: hex is taken as an EPC; other text is recognised by shape.
    Rfid,
}

/// Why a scan could not be read. Only text that claims a form (a GS1 symbology identifier,
/// a Digital Link path, an EPC header...) and breaks its rules is refused; anything else
/// falls back to plain text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TagError {
    #[error("nothing was scanned")]
    Empty,
    #[error("scanned text is longer than {max} characters")]
    TooLong { max: usize },
    #[error("scanned text {0}")]
    Text(IdentifierError),
    #[error("not a valid {kind} value: {source}")]
    Identifier {
        kind: IdentifierKind,
        source: IdentifierError,
    },
    #[error("{what} check digit is wrong")]
    CheckDigit { what: &'static str },
    #[error("unknown GS1 Application Identifier ({ai})")]
    UnknownAi { ai: String },
    #[error("GS1 AI ({ai}) {problem}")]
    AiValue { ai: String, problem: String },
    #[error("invalid GS1 element string: {0}")]
    Gs1Syntax(&'static str),
    #[error("invalid GS1 Digital Link: {0}")]
    DigitalLink(String),
    #[error("EPC header 0x{header:02X} needs {needed} bits, got {got}")]
    EpcTooShort {
        header: u8,
        needed: usize,
        got: usize,
    },
    #[error("EPC partition value {0} is not valid (0 to 6)")]
    EpcPartition(u8),
    #[error("invalid EPC: {0}")]
    Epc(&'static str),
    #[error("invalid EPC URI: {0}")]
    EpcUri(String),
    /// A tag value given with its kind that does not normalise; worded as the value's own
    /// problem, since the caller already names the kind.
    #[error(transparent)]
    Value(IdentifierError),
}

/// Normalises a tag value of `kind` to the form the registry stores: the one function that
/// turns input into a stored tag value, used for registering tags and for every candidate
/// [`parse`] offers, so that the two always agree.
///
/// Every kind but `rfid_epc` is [`normalize_identifier`]. An `rfid_epc` may also be an EPC URI,
/// and is stored as:
/// - hex, `urn:epc:raw:…` or `urn:epc:tag:…` — forms that fix the tag's binary: the
///   upper-case hex, exactly as hex has always been stored (older rows stay valid);
/// - `urn:epc:id:…` — a pure identity, which leaves the filter value and the binary scheme
///   open, so no hex follows from it: its canonical pure-identity URI (lower-case prefix,
///   GS1 characters %-escaped as the EPC Tag Data Standard writes them).
///
/// So one tag has two possible stored values, depending on how it was registered, and the
/// registry's uniqueness (per kind and stored value) cannot see that they are one tag: the
/// same tag registered by its pure URI on one asset and by its hex or tag URI on another is
/// not refused when added. Scans bridge the forms instead: a decoded binary also offers its
/// pure URI, and a pure URI offers every binary it can be encoded as (each filter value of
/// each scheme this module encodes), so such a tag is found whichever way it was registered,
/// and the double registration shows up as an ambiguous scan.
///
/// Only URIs of schemes this module decodes are accepted (identities `giai`, `grai`, `sgtin`;
/// tags `giai-96`, `giai-202`, `sgtin-96`): another scheme's tag could never be matched to its
/// reads. Any `rfid_epc` text starting `urn:` is taken for a URI, so a mistyped one is refused
/// as an invalid EPC URI rather than as bad hex.
pub fn normalize_tag_value(kind: IdentifierKind, raw: &str) -> Result<String, TagError> {
    let text = raw.trim();
    let is_urn = text
        .get(..4)
        .is_some_and(|p| p.eq_ignore_ascii_case("urn:"));
    if kind != IdentifierKind::RfidEpc || !is_urn {
        return normalize_identifier(kind, raw).map_err(TagError::Value);
    }
    if text.chars().count() > MAX_IDENTIFIER_LEN {
        return Err(TagError::Value(IdentifierError::TooLong {
            max: MAX_IDENTIFIER_LEN,
        }));
    }
    let hex = match epc::parse_urn(text) {
        Ok(epc::Urn::RawHex(hex) | epc::Urn::Uri(epc::EpcUri { hex: Some(hex), .. })) => hex,
        Ok(epc::Urn::Uri(u)) if u.key.is_some() => return Ok(u.uri),
        Ok(epc::Urn::Uri(_)) => {
            return Err(TagError::EpcUri(
                "only urn:epc:id: (giai, grai, sgtin), urn:epc:tag: (giai-96, giai-202, \
                 sgtin-96) and urn:epc:raw: are read; give other tags as EPC hex"
                    .into(),
            ))
        }
        Err(e @ TagError::EpcUri(_)) => return Err(e),
        // Errors of the fields inside (a GS1 rule, an EPC that does not encode) still say
        // that the URI is what was wrong.
        Err(e) => return Err(TagError::EpcUri(e.to_string())),
    };
    normalize_identifier(IdentifierKind::RfidEpc, &hex).map_err(|e| TagError::EpcUri(e.to_string()))
}

/// Reads scanned text of unknown origin. See [`parse_from`].
pub fn parse(text: &str) -> Result<Scanned, TagError> {
    parse_from(text, ScanSource::Unknown)
}

/// Reads scanned text, using what the phone knows about where it came from.
pub fn parse_from(text: &str, source: ScanSource) -> Result<Scanned, TagError> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(TagError::Empty);
    }
    // Byte length first so that huge inputs are not walked char by char.
    if trimmed.len() > MAX_IDENTIFIER_LEN * 4 || trimmed.chars().count() > MAX_IDENTIFIER_LEN {
        return Err(TagError::TooLong {
            max: MAX_IDENTIFIER_LEN,
        });
    }
    // The raw text is always a `qr` candidate, so it must be storable as one.
    normalize_identifier(IdentifierKind::Qr, trimmed).map_err(TagError::Text)?;

    let hinted = match source {
        ScanSource::Nfc => normalize_identifier(IdentifierKind::NfcUid, trimmed)
            .ok()
            .map(|hex| Ok(nfc_form(hex))),
        ScanSource::Rfid => hex_digits(trimmed).map(|_| {
            normalize_identifier(IdentifierKind::RfidEpc, trimmed)
                .map_err(|source| TagError::Identifier {
                    kind: IdentifierKind::RfidEpc,
                    source,
                })
                .and_then(epc_form)
        }),
        ScanSource::Unknown | ScanSource::Camera => None,
    };

    let (symbology, content) = split_symbology(trimmed);
    let detected = match hinted {
        Some(d) => d?,
        None => match symbology {
            Some(sym) if GS1_SYMBOLOGIES.contains(&sym) => {
                gs1_form(gs1::parse_element_string(content)?, None)
            }
            Some("]E0") | Some("]E4") if matches!(content.len(), 8 | 13) => ean_form(content)?,
            _ => detect(content)?,
        },
    };

    let mut list = Candidates::default();
    for (kind, value) in &detected.before {
        list.push(*kind, value);
    }
    list.push(Some(IdentifierKind::Qr), trimmed);
    if symbology.is_some() {
        list.push(Some(IdentifierKind::Qr), content);
    }
    if symbology.is_some_and(is_linear) {
        list.push(Some(IdentifierKind::Barcode), content);
    }
    for (kind, value) in &detected.after {
        list.push(*kind, value);
    }
    Ok(Scanned {
        raw: text.to_owned(),
        symbology: symbology.map(str::to_owned),
        form: detected.form,
        candidates: list.0,
    })
}

/// Symbology identifiers whose data is a GS1 element string (FNC1 in first position):
/// GS1-128, GS1 DataBar, GS1 DataMatrix, GS1 QR Code, GS1 DotCode.
const GS1_SYMBOLOGIES: [&str; 5] = ["]C1", "]e0", "]d2", "]Q3", "]J1"];

/// Splits off an AIM symbology identifier (`]` + letter + modifier), which scanners may put
/// in front of the data.
fn split_symbology(s: &str) -> (Option<&str>, &str) {
    let b = s.as_bytes();
    let is_id = b.first() == Some(&b']')
        && b.get(1).is_some_and(u8::is_ascii_alphabetic)
        && b.get(2).is_some_and(u8::is_ascii_alphanumeric);
    match (is_id, s.get(..3), s.get(3..)) {
        (true, Some(id), Some(rest)) => (Some(id), rest),
        _ => (None, s),
    }
}

/// Whether the symbology is a 1D barcode (its text is then also a `barcode` identifier).
fn is_linear(symbology: &str) -> bool {
    matches!(
        symbology.as_bytes().get(1),
        Some(b'A' | b'C' | b'E' | b'e' | b'F' | b'G' | b'H' | b'I')
    )
}

type RawCandidate = (Option<IdentifierKind>, String);

/// A recognised form with its form-specific candidates, which go before and after the raw
/// text's own `qr` candidate.
struct Detected {
    form: TagForm,
    before: Vec<RawCandidate>,
    after: Vec<RawCandidate>,
}

/// Ordered, deduplicated, normalised candidates; values that do not normalise are dropped.
#[derive(Default)]
struct Candidates(Vec<Candidate>);

impl Candidates {
    fn push(&mut self, kind: Option<IdentifierKind>, raw: &str) {
        let value = match kind {
            None => normalize_asset_code(raw).ok(),
            Some(k) => normalize_tag_value(k, raw).ok(),
        };
        if let Some(value) = value {
            let c = Candidate { kind, value };
            if !self.0.contains(&c) {
                self.0.push(c);
            }
        }
    }
}

fn code(v: &str) -> RawCandidate {
    (None, v.to_owned())
}

fn id(kind: IdentifierKind, v: &str) -> RawCandidate {
    (Some(kind), v.to_owned())
}

/// An asset's GS1 key as lookups: the canonical element string as a `qr` identifier (so a
/// DataMatrix, a Digital Link and an RFID tag all meet), and for individual assets (GIAI,
/// GRAI) the key itself as an asset code, since fleets often use the GIAI as their code.
fn key_candidates(key: &Gs1Key) -> Vec<RawCandidate> {
    let es = key.element_string();
    match key {
        Gs1Key::Giai { giai: v } | Gs1Key::Grai { grai: v } => {
            vec![code(v), id(IdentifierKind::Qr, &es)]
        }
        _ => vec![id(IdentifierKind::Qr, &es)],
    }
}

/// Recognises text that carries no (or a non-GS1) symbology identifier.
fn detect(content: &str) -> Result<Detected, TagError> {
    if content.contains(gs1::GS) {
        return Ok(gs1_form(gs1::parse_element_string(content)?, None));
    }
    if gs1::looks_like_hri(content) {
        return Ok(gs1_form(gs1::parse_hri(content)?, None));
    }
    if let Some(url) = uri::split_http_url(content) {
        return match digital_link::parse(&url) {
            Some(dl) => Ok(dl_form(content, dl?)),
            None => Ok(url_form(content, &url)),
        };
    }
    if epc::is_epc_urn(content) {
        return match epc::parse_urn(content)? {
            epc::Urn::RawHex(hex) => {
                let hex =
                    normalize_identifier(IdentifierKind::RfidEpc, &hex).map_err(|source| {
                        TagError::Identifier {
                            kind: IdentifierKind::RfidEpc,
                            source,
                        }
                    })?;
                epc_form(hex)
            }
            epc::Urn::Uri(u) => Ok(epc_uri_form(u)),
        };
    }
    if let Some(hex) = nfc_colon_form(content) {
        return Ok(nfc_form(hex));
    }
    if let Some(elements) = bare_gs1(content) {
        return Ok(gs1_form(elements, Some(content)));
    }
    if let Some(hex) = auto_epc_hex(content) {
        // Recognised by shape alone: the text is also tried as an asset code, last.
        return epc_form(hex).map(|mut d| {
            d.after.push(code(content));
            d
        });
    }
    if let Ok(c) = normalize_asset_code(content) {
        return Ok(Detected {
            before: vec![code(&c)],
            form: TagForm::AssetCode { code: c },
            after: Vec::new(),
        });
    }
    Ok(Detected {
        form: TagForm::Text {
            text: content.to_owned(),
        },
        before: Vec::new(),
        after: Vec::new(),
    })
}

/// `bare`: text that had no symbology identifier, GS or parentheses and was only taken for
/// GS1 by its shape; it is tried as an asset code before the GS1 key.
fn gs1_form(elements: Vec<Gs1Element>, bare: Option<&str>) -> Detected {
    let key = Gs1Key::from_elements(&elements);
    let element_string = gs1::to_hri(&elements);
    let mut after = Vec::new();
    if let Some(text) = bare {
        after.push(code(text));
    }
    after.extend(key.iter().flat_map(key_candidates));
    after.push(id(IdentifierKind::Qr, &element_string));
    Detected {
        form: TagForm::Gs1ElementString {
            key,
            elements,
            element_string,
        },
        before: Vec::new(),
        after,
    }
}

/// EAN-13 / UPC-A (`]E0`) or EAN-8 (`]E4`): a GTIN, checked like AI (01).
fn ean_form(content: &str) -> Result<Detected, TagError> {
    let gtin = format!("{content:0>14}");
    gs1::validate("01", &gtin)?;
    Ok(gs1_form(vec![Gs1Element::new("01", &gtin)], None))
}

/// Bare digits that parse completely as GS1 data starting with a key we resolve. The check
/// digits (and, for a GIAI, a plausible company prefix) make a mistaken match unlikely.
fn bare_gs1(content: &str) -> Option<Vec<Gs1Element>> {
    const KEYS: [&str; 5] = ["00", "01", "414", "8003", "8004"];
    if !KEYS.iter().any(|k| content.starts_with(k)) {
        return None;
    }
    let elements = gs1::parse_element_string(content).ok()?;
    let first = elements.first()?;
    let plausible = KEYS.contains(&first.ai.as_str())
        && (first.ai != "8004" || first.value.bytes().take_while(u8::is_ascii_digit).count() >= 6);
    (plausible && elements.iter().all(Gs1Element::is_known)).then_some(elements)
}

fn dl_form(content: &str, dl: digital_link::DigitalLink) -> Detected {
    let key = Gs1Key::from_elements(&dl.elements);
    let all: Vec<Gs1Element> = dl.elements.iter().chain(&dl.attributes).cloned().collect();
    let element_string = gs1::to_hri(&all);
    let mut after: Vec<RawCandidate> = key.iter().flat_map(key_candidates).collect();
    after.push(id(IdentifierKind::Qr, &gs1::to_hri(&dl.elements)));
    Detected {
        form: TagForm::DigitalLink {
            url: content.to_owned(),
            key,
            elements: dl.elements,
            attributes: dl.attributes,
            element_string,
        },
        before: Vec::new(),
        after,
    }
}

fn url_form(content: &str, url: &uri::UrlParts<'_>) -> Detected {
    let from_query = url
        .query_pairs()
        .into_iter()
        .find(|(k, v)| k == "code" && !v.trim().is_empty())
        .map(|(_, v)| v);
    let from_path = || {
        url.segments()
            .last()
            .map(|s| uri::percent_decode(s).unwrap_or_else(|| (*s).to_owned()))
    };
    let segment = from_query
        .or_else(from_path)
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty());
    let after = segment
        .iter()
        .flat_map(|s| [code(s), id(IdentifierKind::Qr, s)])
        .collect();
    Detected {
        form: TagForm::Url {
            url: content.to_owned(),
            segment,
        },
        before: Vec::new(),
        after,
    }
}

fn epc_form(hex: String) -> Result<Detected, TagError> {
    let decoded = epc::decode_hex(&hex)?;
    let mut before = vec![id(IdentifierKind::RfidEpc, &hex)];
    let form = match decoded {
        Some(d) => {
            if let Some(exact) = &d.exact_hex {
                before.push(id(IdentifierKind::RfidEpc, exact));
            }
            // The tag may have been registered by its pure identity (see `normalize_tag_value`).
            before.push(id(IdentifierKind::RfidEpc, &d.pure_uri));
            before.extend(key_candidates(&d.key));
            TagForm::Epc {
                hex,
                scheme: Some(d.scheme),
                filter: Some(d.filter),
                uri: Some(d.pure_uri),
                tag_uri: Some(d.tag_uri),
                element_string: Some(d.key.element_string()),
                key: Some(d.key),
            }
        }
        None => TagForm::Epc {
            hex,
            scheme: None,
            filter: None,
            uri: None,
            tag_uri: None,
            key: None,
            element_string: None,
        },
    };
    Ok(Detected {
        form,
        before,
        after: Vec::new(),
    })
}

/// A tag URI offers its binary, then its pure identity; a pure identity offers itself, then
/// every binary it could have been registered as (see `normalize_tag_value`). URIs of schemes
/// not decoded here are no `rfid_epc` value: only their text can match.
fn epc_uri_form(u: epc::EpcUri) -> Detected {
    let mut after = Vec::new();
    if let Some(hex) = &u.hex {
        after.push(id(IdentifierKind::RfidEpc, hex));
    }
    if let Some(key) = &u.key {
        after.push(id(IdentifierKind::RfidEpc, &u.uri));
        if u.hex.is_none() {
            after.extend(
                epc::binaries_of(&u.uri)
                    .iter()
                    .map(|hex| id(IdentifierKind::RfidEpc, hex)),
            );
        }
        after.extend(key_candidates(key));
    }
    Detected {
        form: TagForm::EpcUri {
            element_string: u.key.as_ref().map(Gs1Key::element_string),
            uri: u.uri,
            scheme: u.scheme,
            tag_uri: u.tag_uri,
            filter: u.filter,
            hex: u.hex,
            key: u.key,
        },
        before: Vec::new(),
        after,
    }
}

fn nfc_form(hex: String) -> Detected {
    Detected {
        before: vec![id(IdentifierKind::NfcUid, &hex)],
        form: TagForm::NfcUid { hex },
        after: Vec::new(),
    }
}

/// `04:A2:24:1B:C3:5E:80`: how phones print NFC UIDs. Asset codes cannot contain `:`, so
/// this shape is unambiguous.
fn nfc_colon_form(content: &str) -> Option<String> {
    let parts: Vec<&str> = content.split(':').collect();
    let bytes_ok = parts
        .iter()
        .all(|p| p.len() == 2 && p.bytes().all(|b| b.is_ascii_hexdigit()));
    (matches!(parts.len(), 4 | 7 | 10) && bytes_ok)
        .then(|| normalize_identifier(IdentifierKind::NfcUid, content).ok())
        .flatten()
}

/// Hex digits of `s` if it is hex with optional `0x` and space or `:` separators.
fn hex_digits(s: &str) -> Option<String> {
    let body = s
        .strip_prefix("0x")
        .or_else(|| s.strip_prefix("0X"))
        .unwrap_or(s);
    let digits: String = body.chars().filter(|c| !matches!(c, ' ' | ':')).collect();
    (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| digits.to_ascii_uppercase())
}

/// Hex long enough to be an EPC (96 bits or more, whole 16-bit words). All-decimal text
/// with a header we do not know is more likely a numeric code, so it is left alone.
fn auto_epc_hex(content: &str) -> Option<String> {
    let hex = hex_digits(content)?;
    if hex.len() < 24 || hex.len() % 4 != 0 {
        return None;
    }
    let known_header = hex
        .get(..2)
        .and_then(|h| u8::from_str_radix(h, 16).ok())
        .and_then(EpcScheme::from_header)
        .is_some();
    let has_letter = hex.bytes().any(|b| b.is_ascii_alphabetic());
    (known_header || has_letter).then_some(hex)
}
