//! RFID EPCs per the GS1 EPC Tag Data Standard (TDS 1.13 / 2.x): binary decoding of the
//! schemes an equipment fleet meets (GIAI-96, GIAI-202, SGTIN-96), encoding from tag URIs,
//! and the pure-identity / tag URI text forms.

use serde::{Deserialize, Serialize};

use super::gs1::{self, gs1_check_digit, Gs1Key};
use super::uri::{percent_decode, percent_encode_component};
use super::TagError;

/// A binary EPC scheme this module decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum EpcScheme {
    /// Serialised GTIN, 96 bits, numeric serial (header 0x30).
    #[serde(rename = "sgtin-96")]
    Sgtin96,
    /// Individual asset, 96 bits, numeric asset reference (header 0x34).
    #[serde(rename = "giai-96")]
    Giai96,
    /// Individual asset, 202 bits, alphanumeric asset reference (header 0x38).
    #[serde(rename = "giai-202")]
    Giai202,
}

impl EpcScheme {
    const ALL: [EpcScheme; 3] = [EpcScheme::Sgtin96, EpcScheme::Giai96, EpcScheme::Giai202];

    /// The 8-bit EPC header that announces this scheme.
    pub fn header(self) -> u8 {
        match self {
            EpcScheme::Sgtin96 => 0x30,
            EpcScheme::Giai96 => 0x34,
            EpcScheme::Giai202 => 0x38,
        }
    }

    /// Encoded length in bits (before padding to a whole 16-bit word).
    pub fn bits(self) -> usize {
        match self {
            EpcScheme::Sgtin96 | EpcScheme::Giai96 => 96,
            EpcScheme::Giai202 => 202,
        }
    }

    /// Name used in tag URIs, e.g. `giai-96`.
    pub fn as_str(self) -> &'static str {
        match self {
            EpcScheme::Sgtin96 => "sgtin-96",
            EpcScheme::Giai96 => "giai-96",
            EpcScheme::Giai202 => "giai-202",
        }
    }

    /// The scheme an EPC header announces, if this module decodes it.
    pub fn from_header(header: u8) -> Option<EpcScheme> {
        Self::ALL.into_iter().find(|s| s.header() == header)
    }

    fn from_name(name: &str) -> Option<EpcScheme> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// Hex digits of the EPC padded to whole 16-bit words, as readers report it.
    fn hex_len(self) -> usize {
        self.bits().div_ceil(16) * 4
    }
}

/// One row of a TDS partition table: how the bits after the partition value are split.
#[derive(Debug, Clone, Copy)]
struct Partition {
    cp_bits: usize,
    cp_digits: usize,
    ref_bits: usize,
    /// SGTIN: digits of indicator + item reference. GIAI: unused.
    ref_digits: usize,
}

const fn p(cp_bits: usize, cp_digits: usize, ref_bits: usize, ref_digits: usize) -> Partition {
    Partition {
        cp_bits,
        cp_digits,
        ref_bits,
        ref_digits,
    }
}

/// TDS table 14-2 (SGTIN partition table), partition values 0-6.
const SGTIN_PARTITIONS: [Partition; 7] = [
    p(40, 12, 4, 1),
    p(37, 11, 7, 2),
    p(34, 10, 10, 3),
    p(30, 9, 14, 4),
    p(27, 8, 17, 5),
    p(24, 7, 20, 6),
    p(20, 6, 24, 7),
];

/// TDS GIAI-96 partition table: asset reference is an integer in the remaining bits.
const GIAI96_PARTITIONS: [Partition; 7] = [
    p(40, 12, 42, 13),
    p(37, 11, 45, 14),
    p(34, 10, 48, 15),
    p(30, 9, 52, 16),
    p(27, 8, 55, 17),
    p(24, 7, 58, 18),
    p(20, 6, 62, 19),
];

/// TDS GIAI-202 partition table: asset reference is 7-bit characters (`ref_digits` chars).
const GIAI202_PARTITIONS: [Partition; 7] = [
    p(40, 12, 148, 18),
    p(37, 11, 151, 19),
    p(34, 10, 154, 20),
    p(30, 9, 158, 21),
    p(27, 8, 161, 22),
    p(24, 7, 164, 23),
    p(20, 6, 168, 24),
];

fn partitions(scheme: EpcScheme) -> &'static [Partition; 7] {
    match scheme {
        EpcScheme::Sgtin96 => &SGTIN_PARTITIONS,
        EpcScheme::Giai96 => &GIAI96_PARTITIONS,
        EpcScheme::Giai202 => &GIAI202_PARTITIONS,
    }
}

const SGTIN96_SERIAL_BITS: usize = 38;

/// Reads big-endian bit fields.
struct BitReader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> BitReader<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        BitReader { bytes, pos: 0 }
    }

    /// Next `n` (at most 64) bits as an integer; `None` past the end.
    fn take(&mut self, n: usize) -> Option<u64> {
        if n > 64 {
            return None;
        }
        let mut v = 0u64;
        for _ in 0..n {
            let byte = self.bytes.get(self.pos / 8)?;
            let bit = (byte >> (7 - self.pos % 8)) & 1;
            v = (v << 1) | u64::from(bit);
            self.pos += 1;
        }
        Some(v)
    }
}

/// Writes big-endian bit fields and renders them as word-padded hex.
#[derive(Default)]
struct BitWriter {
    bits: Vec<bool>,
}

impl BitWriter {
    fn put(&mut self, value: u64, n: usize) {
        for i in (0..n).rev() {
            self.bits.push(i < 64 && (value >> i) & 1 == 1);
        }
    }

    fn into_hex(mut self) -> String {
        while self.bits.len() % 16 != 0 {
            self.bits.push(false);
        }
        self.bits
            .chunks(4)
            .map(|nibble| {
                let v = nibble
                    .iter()
                    .fold(0u32, |acc, &b| (acc << 1) | u32::from(b));
                char::from_digit(v, 16).map_or('0', |c| c.to_ascii_uppercase())
            })
            .collect()
    }
}

fn hex_to_bytes(hex: &str) -> Result<Vec<u8>, TagError> {
    let digits: Vec<u8> = hex
        .chars()
        .map(|c| c.to_digit(16).and_then(|d| u8::try_from(d).ok()))
        .collect::<Option<_>>()
        .ok_or(TagError::Epc("is not hexadecimal"))?;
    Ok(digits
        .chunks(2)
        .map(|pair| match pair {
            [hi, lo] => hi << 4 | lo,
            [hi] => hi << 4,
            _ => 0,
        })
        .collect())
}

fn pow10(n: usize) -> u64 {
    u32::try_from(n)
        .ok()
        .and_then(|n| 10u64.checked_pow(n))
        .unwrap_or(u64::MAX)
}

/// A decoded binary EPC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Decoded {
    pub(crate) scheme: EpcScheme,
    pub(crate) filter: u8,
    pub(crate) key: Gs1Key,
    pub(crate) pure_uri: String,
    pub(crate) tag_uri: String,
    /// The EPC's own hex digits when the input carried more (zero) words after it.
    pub(crate) exact_hex: Option<String>,
}

/// Decodes normalised EPC hex. `Ok(None)` for a header this module does not know: still a
/// valid EPC, just not one we can look inside.
pub(crate) fn decode_hex(hex: &str) -> Result<Option<Decoded>, TagError> {
    let bytes = hex_to_bytes(hex)?;
    let Some(&header) = bytes.first() else {
        return Err(TagError::Epc("is empty"));
    };
    let Some(scheme) = EpcScheme::from_header(header) else {
        return Ok(None);
    };
    let got = hex.len() * 4;
    if got < scheme.bits() {
        return Err(TagError::EpcTooShort {
            header,
            needed: scheme.bits(),
            got,
        });
    }
    let mut r = BitReader::new(&bytes);
    let short = TagError::Epc("ends early");
    r.take(8).ok_or(short.clone())?;
    // Both fields are 3 bits wide, so they fit in u8.
    let filter = u8::try_from(r.take(3).ok_or(short.clone())?).unwrap_or(0);
    let partition = u8::try_from(r.take(3).ok_or(short.clone())?).unwrap_or(7);
    let part = *partitions(scheme)
        .get(usize::from(partition))
        .ok_or(TagError::EpcPartition(partition))?;
    let cp = r.take(part.cp_bits).ok_or(short.clone())?;
    if cp >= pow10(part.cp_digits) {
        return Err(TagError::Epc(
            "the company prefix is too large for its partition",
        ));
    }
    let cp = format!("{cp:0width$}", width = part.cp_digits);
    let (key, id_body, tag_body) = match scheme {
        EpcScheme::Sgtin96 => {
            let item = r.take(part.ref_bits).ok_or(short.clone())?;
            if item >= pow10(part.ref_digits) {
                return Err(TagError::Epc(
                    "the item reference is too large for its partition",
                ));
            }
            let item = format!("{item:0width$}", width = part.ref_digits);
            let serial = r.take(SGTIN96_SERIAL_BITS).ok_or(short)?.to_string();
            let gtin = gtin_from_parts(&cp, &item)?;
            let body = format!("{cp}.{item}.{serial}");
            (Gs1Key::Sgtin { gtin, serial }, body.clone(), body)
        }
        EpcScheme::Giai96 => {
            let asset = r.take(part.ref_bits).ok_or(short)?.to_string();
            let body = format!("{cp}.{asset}");
            let giai = format!("{cp}{asset}");
            (Gs1Key::Giai { giai }, body.clone(), body)
        }
        EpcScheme::Giai202 => {
            let asset = read_string(&mut r, part.ref_bits / 7)?;
            let body = format!("{cp}.{}", percent_encode_component(&asset));
            let giai = format!("{cp}{asset}");
            gs1::validate("8004", &giai)?;
            (Gs1Key::Giai { giai }, body.clone(), body)
        }
    };
    let pure_uri = format!("urn:epc:id:{}:{id_body}", scheme_family(scheme));
    let tag_uri = format!("urn:epc:tag:{}:{filter}.{tag_body}", scheme.as_str());
    let exact = scheme.hex_len();
    let exact_hex = match (hex.get(..exact), hex.get(exact..)) {
        (Some(head), Some(tail)) if !tail.is_empty() && tail.bytes().all(|b| b == b'0') => {
            Some(head.to_owned())
        }
        _ => None,
    };
    Ok(Some(Decoded {
        scheme,
        filter,
        key,
        pure_uri,
        tag_uri,
        exact_hex,
    }))
}

fn scheme_family(scheme: EpcScheme) -> &'static str {
    match scheme {
        EpcScheme::Sgtin96 => "sgtin",
        EpcScheme::Giai96 | EpcScheme::Giai202 => "giai",
    }
}

/// TDS "String" decoding: 7-bit ASCII characters ended by an all-zero character, after
/// which everything must be zero.
fn read_string(r: &mut BitReader<'_>, max_chars: usize) -> Result<String, TagError> {
    let mut out = String::new();
    let mut ended = false;
    for _ in 0..max_chars {
        let c = r.take(7).ok_or(TagError::Epc("ends early"))?;
        if c == 0 {
            ended = true;
            continue;
        }
        if ended {
            return Err(TagError::Epc("the asset reference has data after its end"));
        }
        let ch = u8::try_from(c).map(char::from).unwrap_or('\u{0}');
        if !gs1::is_cset82(ch) {
            return Err(TagError::Epc(
                "the asset reference has a character GS1 does not allow",
            ));
        }
        out.push(ch);
    }
    if out.is_empty() {
        return Err(TagError::Epc("the asset reference is empty"));
    }
    Ok(out)
}

/// GTIN-14 from an SGTIN's company prefix and indicator+item reference (TDS 7.1).
fn gtin_from_parts(cp: &str, item: &str) -> Result<String, TagError> {
    let (indicator, rest) = item.split_at_checked(1).ok_or(TagError::Epc(
        "the item reference needs its indicator digit",
    ))?;
    let body = format!("{indicator}{cp}{rest}");
    let check = gs1_check_digit(&body).ok_or(TagError::Epc("the GTIN is not numeric"))?;
    Ok(format!("{body}{check}"))
}

fn digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// An integer EPC field as TDS writes it in URIs: digits, no leading zeros, below 2^bits.
fn integer_field(s: &str, bits: usize, what: &'static str) -> Result<u64, TagError> {
    if !digits(s) || (s.len() > 1 && s.starts_with('0')) {
        return Err(TagError::EpcUri(format!(
            "the {what} must be a number without leading zeros"
        )));
    }
    s.parse::<u64>()
        .ok()
        .filter(|v| bits >= 64 || *v < (1u64 << bits))
        .ok_or_else(|| TagError::EpcUri(format!("the {what} does not fit in {bits} bits")))
}

fn company_prefix(cp: &str, range: std::ops::RangeInclusive<usize>) -> Result<(), TagError> {
    if digits(cp) && range.contains(&cp.len()) {
        Ok(())
    } else {
        Err(TagError::EpcUri(format!(
            "the company prefix must be {} to {} digits",
            range.start(),
            range.end()
        )))
    }
}

fn uri_component(s: &str, what: &str) -> Result<String, TagError> {
    let v = percent_decode(s)
        .ok_or_else(|| TagError::EpcUri(format!("the {what} has a bad %-escape")))?;
    if v.is_empty() || !v.chars().all(gs1::is_cset82) {
        return Err(TagError::EpcUri(format!(
            "the {what} must be non-empty GS1 characters"
        )));
    }
    Ok(v)
}

/// What an `urn:epc:` text decodes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Urn {
    /// A pure-identity or tag URI.
    Uri(EpcUri),
    /// `urn:epc:raw:<bits>.x<hex>`: the tag's binary, as hex.
    RawHex(String),
}

/// A pure-identity or tag URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EpcUri {
    /// Scheme as written after `id:` / `tag:`, lower-cased (`giai`, `giai-96`, `sscc`).
    pub(crate) scheme: String,
    /// Canonical pure-identity URI, or the text itself for schemes we do not decode.
    pub(crate) uri: String,
    pub(crate) tag_uri: Option<String>,
    pub(crate) filter: Option<u8>,
    pub(crate) key: Option<Gs1Key>,
    /// Tag binary, for tag URIs (which say everything the tag holds).
    pub(crate) hex: Option<String>,
}

/// Whether `text` is an EPC URN (`urn:epc:...`, prefix in any case).
pub(crate) fn is_epc_urn(text: &str) -> bool {
    text.get(..8)
        .is_some_and(|p| p.eq_ignore_ascii_case("urn:epc:"))
}

/// Parses `urn:epc:id:...`, `urn:epc:tag:...` and `urn:epc:raw:...`.
pub(crate) fn parse_urn(text: &str) -> Result<Urn, TagError> {
    let rest = text
        .get(8..)
        .filter(|_| is_epc_urn(text))
        .ok_or_else(|| TagError::EpcUri("must start with urn:epc:".into()))?;
    let mut parts = rest.splitn(3, ':');
    let kind = parts.next().unwrap_or("").to_ascii_lowercase();
    let scheme = parts.next().unwrap_or("").to_ascii_lowercase();
    if kind == "raw" {
        return parse_raw(&scheme).map(Urn::RawHex);
    }
    let body = parts
        .next()
        .ok_or_else(|| TagError::EpcUri("has no value after the scheme".into()))?;
    if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(TagError::EpcUri("must not contain spaces".into()));
    }
    let unsupported = || EpcUri {
        scheme: scheme.clone(),
        uri: text.to_owned(),
        tag_uri: None,
        filter: None,
        key: None,
        hex: None,
    };
    let parsed = match kind.as_str() {
        "id" => match scheme.as_str() {
            "giai" => id_giai(body)?,
            "sgtin" => id_sgtin(body)?,
            "grai" => id_grai(body)?,
            _ => unsupported(),
        },
        "tag" => match EpcScheme::from_name(&scheme) {
            Some(s) => tag_uri(s, body)?,
            None => unsupported(),
        },
        _ => unsupported(),
    };
    Ok(Urn::Uri(parsed))
}

fn parse_raw(body: &str) -> Result<String, TagError> {
    let bad = || TagError::EpcUri("raw URIs are written urn:epc:raw:<bits>.x<hex>".into());
    let (len, hex) = body.split_once('.').ok_or_else(bad)?;
    let hex = hex
        .strip_prefix('x')
        .or_else(|| hex.strip_prefix('X'))
        .ok_or_else(bad)?;
    let len: usize = len.parse().map_err(|_| bad())?;
    if hex.is_empty() || !hex.bytes().all(|b| b.is_ascii_hexdigit()) || hex.len() * 4 < len {
        return Err(bad());
    }
    Ok(hex.to_ascii_uppercase())
}

fn id_giai(body: &str) -> Result<EpcUri, TagError> {
    let (cp, asset) = body
        .split_once('.')
        .ok_or_else(|| TagError::EpcUri("GIAI is written <company prefix>.<asset>".into()))?;
    company_prefix(cp, 4..=12)?;
    let asset = uri_component(asset, "asset reference")?;
    let giai = format!("{cp}{asset}");
    gs1::validate("8004", &giai)?;
    Ok(EpcUri {
        scheme: "giai".into(),
        uri: format!("urn:epc:id:giai:{cp}.{}", percent_encode_component(&asset)),
        tag_uri: None,
        filter: None,
        key: Some(Gs1Key::Giai { giai }),
        hex: None,
    })
}

fn sgtin_parts(body: &str) -> Result<(&str, &str, String), TagError> {
    let mut it = body.splitn(3, '.');
    let (Some(cp), Some(item), Some(serial)) = (it.next(), it.next(), it.next()) else {
        return Err(TagError::EpcUri(
            "SGTIN is written <company prefix>.<indicator+item>.<serial>".into(),
        ));
    };
    company_prefix(cp, 4..=12)?;
    if !digits(item) || cp.len() + item.len() != 13 {
        return Err(TagError::EpcUri(
            "company prefix and indicator+item reference must be 13 digits together".into(),
        ));
    }
    let serial = uri_component(serial, "serial")?;
    gs1::validate("21", &serial)?;
    Ok((cp, item, serial))
}

fn id_sgtin(body: &str) -> Result<EpcUri, TagError> {
    let (cp, item, serial) = sgtin_parts(body)?;
    let gtin = gtin_from_parts(cp, item)?;
    Ok(EpcUri {
        scheme: "sgtin".into(),
        uri: format!(
            "urn:epc:id:sgtin:{cp}.{item}.{}",
            percent_encode_component(&serial)
        ),
        tag_uri: None,
        filter: None,
        key: Some(Gs1Key::Sgtin { gtin, serial }),
        hex: None,
    })
}

fn id_grai(body: &str) -> Result<EpcUri, TagError> {
    let mut it = body.splitn(3, '.');
    let (Some(cp), Some(asset_type), Some(serial)) = (it.next(), it.next(), it.next()) else {
        return Err(TagError::EpcUri(
            "GRAI is written <company prefix>.<asset type>.<serial>".into(),
        ));
    };
    company_prefix(cp, 4..=12)?;
    if !(asset_type.is_empty() || digits(asset_type)) || cp.len() + asset_type.len() != 12 {
        return Err(TagError::EpcUri(
            "company prefix and asset type must be 12 digits together".into(),
        ));
    }
    let serial = uri_component(serial, "serial")?;
    let body = format!("0{cp}{asset_type}");
    let check = gs1_check_digit(&body).ok_or(TagError::EpcUri("GRAI is not numeric".into()))?;
    let grai = format!("{body}{check}{serial}");
    gs1::validate("8003", &grai)?;
    Ok(EpcUri {
        scheme: "grai".into(),
        uri: format!(
            "urn:epc:id:grai:{cp}.{asset_type}.{}",
            percent_encode_component(&serial)
        ),
        tag_uri: None,
        filter: None,
        key: Some(Gs1Key::Grai { grai }),
        hex: None,
    })
}

/// Encodes a GIAI-96 EPC — what an RFID asset tag holds — as the upper-case hex a reader
/// reports: `filter` 0 to 7, a GS1 company prefix of 6 to 12 digits, and a numeric asset
/// reference that fits the partition the prefix length selects (below 2^42 for a 12-digit
/// prefix, 2^58 for a 7-digit one, 2^62 for a 6-digit one). Goes through the tag URI, so the
/// result is exactly what parsing `urn:epc:tag:giai-96:<filter>.<prefix>.<reference>` gives.
pub fn encode_giai96(
    filter: u8,
    company_prefix: &str,
    asset_reference: u64,
) -> Result<String, TagError> {
    let body = format!("{filter}.{company_prefix}.{asset_reference}");
    tag_uri(EpcScheme::Giai96, &body)?
        .hex
        .ok_or(TagError::Epc("GIAI-96 did not encode"))
}

/// Every binary a decoded pure identity can be encoded as: each filter value (0 to 7) of each
/// tag scheme of its family that this module encodes (GIAI-96 and GIAI-202 for a GIAI,
/// SGTIN-96 for an SGTIN) and that can hold the identity. Empty for other URIs. At most 16.
pub(crate) fn binaries_of(pure_uri: &str) -> Vec<String> {
    let Some((family, body)) = pure_uri
        .strip_prefix("urn:epc:id:")
        .and_then(|rest| rest.split_once(':'))
    else {
        return Vec::new();
    };
    EpcScheme::ALL
        .into_iter()
        .filter(|s| scheme_family(*s) == family)
        .flat_map(|s| (0..=7u8).filter_map(move |f| tag_uri(s, &format!("{f}.{body}")).ok()?.hex))
        .collect()
}

/// A tag URI names the scheme, filter and every field, so it is encoded to the binary the
/// tag holds and decoded back: the result is the same as reading that tag.
fn tag_uri(scheme: EpcScheme, body: &str) -> Result<EpcUri, TagError> {
    let (filter, rest) = body
        .split_once('.')
        .ok_or_else(|| TagError::EpcUri("a tag URI starts with the filter value".into()))?;
    let filter = match filter.as_bytes() {
        [d @ b'0'..=b'7'] => d - b'0',
        _ => return Err(TagError::EpcUri("the filter value must be 0 to 7".into())),
    };
    let mut w = BitWriter::default();
    w.put(u64::from(scheme.header()), 8);
    w.put(u64::from(filter), 3);
    let partition_of = |cp: &str| -> Result<Partition, TagError> {
        company_prefix(cp, 6..=12)?;
        partitions(scheme)
            .get(12 - cp.len())
            .copied()
            .ok_or_else(|| TagError::EpcUri("no partition fits the company prefix".into()))
    };
    let cp_value = |cp: &str| cp.parse::<u64>().unwrap_or(0);
    match scheme {
        EpcScheme::Sgtin96 => {
            let (cp, item, serial) = sgtin_parts(rest)?;
            let part = partition_of(cp)?;
            let serial = integer_field(&serial, SGTIN96_SERIAL_BITS, "SGTIN-96 serial")?;
            w.put(12 - cp.len() as u64, 3);
            w.put(cp_value(cp), part.cp_bits);
            w.put(item.parse::<u64>().unwrap_or(0), part.ref_bits);
            w.put(serial, SGTIN96_SERIAL_BITS);
        }
        EpcScheme::Giai96 | EpcScheme::Giai202 => {
            let (cp, asset) = rest.split_once('.').ok_or_else(|| {
                TagError::EpcUri("GIAI is written <filter>.<company prefix>.<asset>".into())
            })?;
            let part = partition_of(cp)?;
            w.put(12 - cp.len() as u64, 3);
            w.put(cp_value(cp), part.cp_bits);
            if scheme == EpcScheme::Giai96 {
                let asset = integer_field(asset, part.ref_bits, "GIAI-96 asset reference")?;
                w.put(asset, part.ref_bits);
            } else {
                let asset = uri_component(asset, "asset reference")?;
                let max = part.ref_bits / 7;
                if asset.len() > max {
                    return Err(TagError::EpcUri(format!(
                        "a GIAI-202 asset reference with this company prefix holds at most {max} characters"
                    )));
                }
                for b in asset.bytes() {
                    w.put(u64::from(b), 7);
                }
                w.put(0, part.ref_bits - asset.len() * 7);
            }
        }
    }
    let hex = w.into_hex();
    let decoded = decode_hex(&hex)?.ok_or(TagError::Epc("did not round-trip"))?;
    Ok(EpcUri {
        scheme: scheme.as_str().into(),
        uri: decoded.pure_uri,
        tag_uri: Some(decoded.tag_uri),
        filter: Some(decoded.filter),
        key: Some(decoded.key),
        hex: Some(hex),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn uri(text: &str) -> EpcUri {
        match parse_urn(text).unwrap() {
            Urn::Uri(u) => u,
            Urn::RawHex(h) => panic!("raw {h}"),
        }
    }

    #[test]
    fn sgtin96_decodes_the_tds_example() {
        // EPC Tag Data Standard worked example (SGTIN-96, filter 3, 7-digit company prefix).
        let d = decode_hex("3074257BF7194E4000001A85").unwrap().unwrap();
        assert_eq!(d.scheme, EpcScheme::Sgtin96);
        assert_eq!(d.filter, 3);
        assert_eq!(d.pure_uri, "urn:epc:id:sgtin:0614141.812345.6789");
        assert_eq!(d.tag_uri, "urn:epc:tag:sgtin-96:3.0614141.812345.6789");
        // TDS gives the element string (01)80614141123458(21)6789 for this EPC.
        assert_eq!(
            d.key,
            Gs1Key::Sgtin {
                gtin: "80614141123458".into(),
                serial: "6789".into()
            }
        );
        assert_eq!(
            uri("urn:epc:tag:sgtin-96:3.0614141.812345.6789")
                .hex
                .as_deref(),
            Some("3074257BF7194E4000001A85")
        );
    }

    #[test]
    fn giai96_decodes_and_encodes() {
        // Computed by hand from the TDS GIAI-96 layout: header 0x34, filter 3 (011),
        // partition 5 (101: 24-bit company prefix, 7 digits), company prefix 0614141
        // (0x095EFD), asset reference 5678 (0x162E) in 58 bits.
        let d = decode_hex("3474257BF40000000000162E").unwrap().unwrap();
        assert_eq!(d.pure_uri, "urn:epc:id:giai:0614141.5678");
        assert_eq!(d.tag_uri, "urn:epc:tag:giai-96:3.0614141.5678");
        assert_eq!(
            d.key,
            Gs1Key::Giai {
                giai: "06141415678".into()
            }
        );
        let u = uri("urn:epc:tag:giai-96:3.0614141.5678");
        assert_eq!(u.hex.as_deref(), Some("3474257BF40000000000162E"));
        assert_eq!(u.uri, "urn:epc:id:giai:0614141.5678");
        // The 12-digit-prefix partition (0) and the 6-digit one (6) both round-trip.
        for t in [
            "urn:epc:tag:giai-96:0.061414112345.4398046511103",
            "urn:epc:tag:giai-96:1.000001.4611686018427387903",
        ] {
            let u = uri(t);
            let d = decode_hex(u.hex.as_deref().unwrap()).unwrap().unwrap();
            assert_eq!(d.tag_uri, t);
        }
        // 2^42 does not fit in partition 0's 42 bits.
        assert!(parse_urn("urn:epc:tag:giai-96:0.061414112345.4398046511104").is_err());
        assert!(parse_urn("urn:epc:tag:giai-96:0.0614141.0123").is_err());
    }

    #[test]
    fn giai96_encoder_round_trips_and_checks_its_fields() {
        // The hand-computed TDS vector of `giai96_decodes_and_encodes`.
        assert_eq!(
            encode_giai96(3, "0614141", 5678).unwrap(),
            "3474257BF40000000000162E"
        );
        for (filter, cp, reference) in [
            (0, "0614141", 0),
            (1, "0614141", (1 << 58) - 1),
            (0, "061414112345", (1 << 42) - 1),
            (7, "000001", (1 << 62) - 1),
        ] {
            let hex = encode_giai96(filter, cp, reference).unwrap();
            assert_eq!(hex.len(), 24, "{hex}");
            let d = decode_hex(&hex).unwrap().unwrap();
            assert_eq!(d.scheme, EpcScheme::Giai96);
            assert_eq!(d.filter, filter);
            assert_eq!(
                d.tag_uri,
                format!("urn:epc:tag:giai-96:{filter}.{cp}.{reference}")
            );
        }
        // Filter beyond 3 bits, a reference beyond the partition, malformed prefixes.
        assert!(encode_giai96(8, "0614141", 1).is_err());
        assert!(encode_giai96(0, "0614141", 1 << 58).is_err());
        assert!(encode_giai96(0, "061414112345", 1 << 42).is_err());
        assert!(encode_giai96(0, "06141", 1).is_err());
        assert!(encode_giai96(0, "0614141234567", 1).is_err());
        assert!(encode_giai96(0, "06A4141", 1).is_err());
    }

    #[test]
    fn giai202_decodes_characters() {
        // Hand-checked against the TDS GIAI-202 layout: header 0x38, filter 0, partition 6
        // (20-bit prefix 023456 = 0x05BA0), then 7-bit ASCII "65557" and zero padding.
        let hex = "381816E81B356AD5B80000000000000000000000000000000000";
        let d = decode_hex(hex).unwrap().unwrap();
        assert_eq!(d.scheme, EpcScheme::Giai202);
        assert_eq!(d.tag_uri, "urn:epc:tag:giai-202:0.023456.65557");
        assert_eq!(
            uri("urn:epc:tag:giai-202:0.023456.65557").hex.as_deref(),
            Some(hex)
        );
        // Characters that the URI syntax escapes round-trip through the binary.
        let u = uri("urn:epc:tag:giai-202:1.0614141.AB%2FC-12%25");
        assert_eq!(u.uri, "urn:epc:id:giai:0614141.AB%2FC-12%25");
        assert_eq!(
            u.key,
            Some(Gs1Key::Giai {
                giai: "0614141AB/C-12%".into()
            })
        );
        assert!(parse_urn("urn:epc:tag:giai-202:1.0614141.ABCDEFGHIJKLMNOPQRSTUVWXYZ").is_err());
    }

    #[test]
    fn truncated_and_malformed_binaries_are_refused() {
        assert_eq!(
            decode_hex("3474257BF400000000").unwrap_err(),
            TagError::EpcTooShort {
                header: 0x34,
                needed: 96,
                got: 72
            }
        );
        assert!(matches!(
            decode_hex(&"3074257BF7194E4000001A85"[..20]),
            Err(TagError::EpcTooShort { header: 0x30, .. })
        ));
        assert!(decode_hex("381816E81B356AD5B800").is_err());
        // Partition 7 does not exist.
        assert_eq!(
            decode_hex("341C00000000000000000000").unwrap_err(),
            TagError::EpcPartition(7)
        );
        // Company prefix field larger than its digits allow (partition 6: 0xFFFFF > 999999).
        assert!(decode_hex("341BFFFFC000000000000001").is_err());
        // Unknown header: valid EPC, nothing to decode.
        assert_eq!(decode_hex("E2801160600002054CC2096F").unwrap(), None);
        // A GIAI-202 with a non-zero character after the terminator.
        assert!(decode_hex("381816E81B356AD5B80100000000000000000000000000000000").is_err());
    }

    #[test]
    fn zero_padded_reads_keep_the_exact_epc() {
        let d = decode_hex("3474257BF40000000000162E00000000")
            .unwrap()
            .unwrap();
        assert_eq!(d.exact_hex.as_deref(), Some("3474257BF40000000000162E"));
        let d = decode_hex("3474257BF40000000000162E0000ABCD")
            .unwrap()
            .unwrap();
        assert_eq!(d.exact_hex, None);
    }

    #[test]
    fn pure_identity_uris() {
        let u = uri("urn:epc:id:giai:0614141.12345400");
        assert_eq!(
            u.key,
            Some(Gs1Key::Giai {
                giai: "061414112345400".into()
            })
        );
        let u = uri("URN:EPC:ID:SGTIN:0614141.812345.6789");
        assert_eq!(u.uri, "urn:epc:id:sgtin:0614141.812345.6789");
        assert_eq!(
            u.key,
            Some(Gs1Key::Sgtin {
                gtin: "80614141123458".into(),
                serial: "6789".into()
            })
        );
        // GRAI: TDS example company prefix 0614141, asset type 12345, serial 400.
        let u = uri("urn:epc:id:grai:0614141.12345.400");
        assert_eq!(
            u.key,
            Some(Gs1Key::Grai {
                grai: "00614141123452400".into()
            })
        );
        let u = uri("urn:epc:id:sscc:0614141.1234567890");
        assert_eq!(u.key, None);
        assert!(parse_urn("urn:epc:id:giai:0614141").is_err());
        assert!(parse_urn("urn:epc:id:giai:06A4141.1").is_err());
        assert!(parse_urn("urn:epc:id:sgtin:0614141.81234.6789").is_err());
        assert!(parse_urn("urn:epc:id:sgtin:0614141.812345.67 89").is_err());
        assert!(parse_urn("urn:epc:id:giai:0614141.%ZZ").is_err());
        assert!(parse_urn("urn:epc:tag:sgtin-96:8.0614141.812345.6789").is_err());
        assert!(parse_urn("urn:epc:tag:sgtin-96:3.0614141.812345.06789").is_err());
        assert!(parse_urn("urn:epc:tag:sgtin-96:3.0614141.812345.274877906944").is_err());
        assert!(parse_urn("urn:epc:tag:sgtin-96:3.0614141.812345.274877906943").is_ok());
    }

    #[test]
    fn pure_identities_list_every_binary_they_encode_as() {
        let uri = "urn:epc:id:giai:0614141.5678";
        let all = binaries_of(uri);
        // GIAI-96 and GIAI-202, eight filter values each.
        assert_eq!(all.len(), 16, "{all:?}");
        assert!(all.contains(&"3474257BF40000000000162E".to_owned()));
        for hex in &all {
            assert_eq!(decode_hex(hex).unwrap().unwrap().pure_uri, uri, "{hex}");
        }
        // A reference with a leading zero is no GIAI-96 integer: GIAI-202 only.
        assert_eq!(binaries_of("urn:epc:id:giai:0614141.0123").len(), 8);
        assert_eq!(binaries_of("urn:epc:id:sgtin:0614141.812345.6789").len(), 8);
        // No GRAI binary is encoded here; tag URIs and other text are not identities.
        assert!(binaries_of("urn:epc:id:grai:0614141.12345.400").is_empty());
        assert!(binaries_of("urn:epc:tag:giai-96:3.0614141.5678").is_empty());
        assert!(binaries_of("").is_empty());
    }

    #[test]
    fn raw_uris_give_hex() {
        assert_eq!(
            parse_urn("urn:epc:raw:96.x3074257BF7194E4000001A85").unwrap(),
            Urn::RawHex("3074257BF7194E4000001A85".into())
        );
        assert!(parse_urn("urn:epc:raw:96.3074").is_err());
        assert!(parse_urn("urn:epc:raw:128.x3074257BF7194E4000001A85").is_err());
    }
}
