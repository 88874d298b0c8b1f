//! GS1 Application Identifiers (GS1 General Specifications, section 3): the AI table we
//! need, check digits, the character set, and the two textual element-string syntaxes
//! (FNC1/GS-separated as barcode scanners report it, and the parenthesised human-readable
//! interpretation printed under the symbol).

use serde::Serialize;

use super::TagError;

/// ASCII GS (group separator): how scanners report FNC1 in the middle of GS1 data.
pub(crate) const GS: char = '\u{1d}';

/// What characters a value may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Charset {
    /// Digits only.
    Numeric,
    /// GS1 AI encodable character set 82.
    Cset82,
}

/// Extra validation beyond length and character set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rule {
    None,
    /// Whole value is digits whose last digit is the GS1 mod-10 check digit of the rest.
    CheckDigit(&'static str),
    /// YYMMDD; DD may be 00 ("end of month").
    Date,
    /// GRAI: "0" filler + 13 digits with check digit + optional serial (X..16).
    Grai,
    /// GIAI: GS1 Company Prefix (digits) + individual asset reference.
    Giai,
}

/// One row of the AI table.
#[derive(Debug, Clone, Copy)]
struct AiSpec {
    ai: &'static str,
    title: &'static str,
    min: usize,
    max: usize,
    charset: Charset,
    rule: Rule,
}

impl AiSpec {
    const fn new(
        ai: &'static str,
        title: &'static str,
        min: usize,
        max: usize,
        charset: Charset,
        rule: Rule,
    ) -> Self {
        AiSpec {
            ai,
            title,
            min,
            max,
            charset,
            rule,
        }
    }

    fn fixed_len(&self) -> Option<usize> {
        (self.min == self.max).then_some(self.max)
    }
}

use Charset::{Cset82 as X, Numeric as N};

/// The AIs this module understands. Others are still split (by the GS1 rule that an AI's
/// first two digits fix its length) but not validated, and never drive detection.
const AI_TABLE: &[AiSpec] = &[
    AiSpec::new("00", "SSCC", 18, 18, N, Rule::CheckDigit("SSCC")),
    AiSpec::new("01", "GTIN", 14, 14, N, Rule::CheckDigit("GTIN")),
    AiSpec::new("02", "CONTENT", 14, 14, N, Rule::CheckDigit("GTIN")),
    AiSpec::new("10", "BATCH/LOT", 1, 20, X, Rule::None),
    AiSpec::new("11", "PROD DATE", 6, 6, N, Rule::Date),
    AiSpec::new("12", "DUE DATE", 6, 6, N, Rule::Date),
    AiSpec::new("13", "PACK DATE", 6, 6, N, Rule::Date),
    AiSpec::new("15", "BEST BEFORE or BEST BY", 6, 6, N, Rule::Date),
    AiSpec::new("16", "SELL BY", 6, 6, N, Rule::Date),
    AiSpec::new("17", "USE BY OR EXPIRY", 6, 6, N, Rule::Date),
    AiSpec::new("20", "VARIANT", 2, 2, N, Rule::None),
    AiSpec::new("21", "SERIAL", 1, 20, X, Rule::None),
    AiSpec::new("22", "CPV", 1, 20, X, Rule::None),
    AiSpec::new("240", "ADDITIONAL ID", 1, 30, X, Rule::None),
    AiSpec::new("241", "CUST. PART No.", 1, 30, X, Rule::None),
    AiSpec::new("250", "SECONDARY SERIAL", 1, 30, X, Rule::None),
    AiSpec::new("251", "REF. TO SOURCE", 1, 30, X, Rule::None),
    AiSpec::new("254", "GLN EXTENSION COMPONENT", 1, 20, X, Rule::None),
    AiSpec::new("30", "VAR. COUNT", 1, 8, N, Rule::None),
    AiSpec::new("37", "COUNT", 1, 8, N, Rule::None),
    AiSpec::new("400", "ORDER NUMBER", 1, 30, X, Rule::None),
    AiSpec::new("410", "SHIP TO LOC", 13, 13, N, Rule::CheckDigit("GLN")),
    AiSpec::new("411", "BILL TO", 13, 13, N, Rule::CheckDigit("GLN")),
    AiSpec::new("412", "PURCHASE FROM", 13, 13, N, Rule::CheckDigit("GLN")),
    AiSpec::new("413", "SHIP FOR LOC", 13, 13, N, Rule::CheckDigit("GLN")),
    AiSpec::new("414", "LOC No.", 13, 13, N, Rule::CheckDigit("GLN")),
    AiSpec::new("415", "PAY TO", 13, 13, N, Rule::CheckDigit("GLN")),
    AiSpec::new("416", "PROD/SERV LOC", 13, 13, N, Rule::CheckDigit("GLN")),
    AiSpec::new("417", "PARTY", 13, 13, N, Rule::CheckDigit("GLN")),
    AiSpec::new("8003", "GRAI", 14, 30, X, Rule::Grai),
    AiSpec::new("8004", "GIAI", 1, 30, X, Rule::Giai),
    AiSpec::new(
        "8017",
        "GSRN - PROVIDER",
        18,
        18,
        N,
        Rule::CheckDigit("GSRN"),
    ),
    AiSpec::new(
        "8018",
        "GSRN - RECIPIENT",
        18,
        18,
        N,
        Rule::CheckDigit("GSRN"),
    ),
    AiSpec::new("90", "INTERNAL", 1, 30, X, Rule::None),
    AiSpec::new("91", "INTERNAL", 1, 90, X, Rule::None),
    AiSpec::new("92", "INTERNAL", 1, 90, X, Rule::None),
    AiSpec::new("93", "INTERNAL", 1, 90, X, Rule::None),
    AiSpec::new("94", "INTERNAL", 1, 90, X, Rule::None),
    AiSpec::new("95", "INTERNAL", 1, 90, X, Rule::None),
    AiSpec::new("96", "INTERNAL", 1, 90, X, Rule::None),
    AiSpec::new("97", "INTERNAL", 1, 90, X, Rule::None),
    AiSpec::new("98", "INTERNAL", 1, 90, X, Rule::None),
    AiSpec::new("99", "INTERNAL", 1, 90, X, Rule::None),
];

/// Longest value any AI may carry (AIs 91-99); bounds values of AIs we do not know.
const MAX_UNKNOWN_VALUE: usize = 90;

fn spec(ai: &str) -> Option<&'static AiSpec> {
    AI_TABLE.iter().find(|s| s.ai == ai)
}

/// Length of an AI from its first two digits (GS1 General Specifications 3.2: the AI
/// ranges are prefix-free), for AIs not in our table.
fn ai_len_by_prefix(p: u8) -> Option<usize> {
    match p {
        0..=4 | 10..=22 | 30 | 37 | 90..=99 => Some(2),
        23..=25 | 40..=43 | 71 => Some(3),
        31..=36 | 39 | 70 | 72 | 80..=82 => Some(4),
        _ => None,
    }
}

/// Total element length (AI + value) for the AI prefixes the GS1 General Specifications
/// declare "predefined length": these never need an FNC1 after them.
fn predefined_len(p: u8) -> Option<usize> {
    match p {
        0 => Some(20),
        1..=3 => Some(16),
        4 => Some(18),
        11..=19 => Some(8),
        20 => Some(4),
        31..=36 => Some(10),
        41 => Some(16),
        _ => None,
    }
}

fn two_digit_prefix(s: &str) -> Option<u8> {
    let b = s.as_bytes();
    match (b.first(), b.get(1)) {
        (Some(a), Some(c)) if a.is_ascii_digit() && c.is_ascii_digit() => {
            Some((a - b'0') * 10 + (c - b'0'))
        }
        _ => None,
    }
}

/// How the AI at the start of `s` is to be read.
struct AiAt<'a> {
    ai: &'a str,
    /// Value length when it is fixed (no FNC1 needed after it).
    fixed: Option<usize>,
}

/// Identifies the AI at the start of `s` (ASCII), known or by the prefix rule.
fn ai_at(s: &str) -> Result<AiAt<'_>, TagError> {
    let prefix = two_digit_prefix(s).ok_or(TagError::Gs1Syntax("expected an AI (digits)"))?;
    for len in 2..=4 {
        if let Some(ai) = s.get(..len) {
            if let Some(sp) = spec(ai) {
                return Ok(AiAt {
                    ai,
                    fixed: sp.fixed_len(),
                });
            }
        }
    }
    let unknown = || TagError::UnknownAi {
        ai: s.chars().take(4).collect(),
    };
    let len = ai_len_by_prefix(prefix).ok_or_else(unknown)?;
    let ai = s
        .get(..len)
        .filter(|a| a.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(unknown)?;
    Ok(AiAt {
        ai,
        fixed: predefined_len(prefix).and_then(|total| total.checked_sub(len)),
    })
}

/// One AI and its value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Gs1Element {
    /// Application Identifier, e.g. "8004".
    pub ai: String,
    /// GS1 data title ("GIAI", "SERIAL"), absent for AIs this module does not know.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// The value, exactly as encoded.
    pub value: String,
}

impl Gs1Element {
    pub(crate) fn new(ai: &str, value: &str) -> Self {
        Gs1Element {
            ai: ai.to_owned(),
            title: spec(ai).map(|s| s.title.to_owned()),
            value: value.to_owned(),
        }
    }

    /// Whether this AI is in our table (only those drive detection of bare digit strings).
    pub(crate) fn is_known(&self) -> bool {
        spec(&self.ai).is_some()
    }
}

/// The GS1 key a scan identifies, whatever form it came in. Lookups go by its canonical
/// element string so that a DataMatrix, a Digital Link and an RFID tag for the same asset
/// all meet on one stored value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Gs1Key {
    /// Global Individual Asset Identifier (AI 8004): company prefix + asset reference.
    Giai { giai: String },
    /// Serialised trade item (AI 01 + AI 21), what an SGTIN EPC carries.
    Sgtin { gtin: String, serial: String },
    /// Global Returnable Asset Identifier (AI 8003), with its optional serial.
    Grai { grai: String },
    /// Serial Shipping Container Code (AI 00).
    Sscc { sscc: String },
    /// A trade item without a serial (AI 01): identifies a product, not one asset.
    Gtin { gtin: String },
    /// Global Location Number (AI 414) with optional extension (AI 254).
    Gln {
        gln: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        extension: Option<String>,
    },
}

impl Gs1Key {
    /// The key in human-readable element-string form, e.g. `(8004)0614141ABC123`.
    pub fn element_string(&self) -> String {
        match self {
            Gs1Key::Giai { giai } => format!("(8004){giai}"),
            Gs1Key::Sgtin { gtin, serial } => format!("(01){gtin}(21){serial}"),
            Gs1Key::Grai { grai } => format!("(8003){grai}"),
            Gs1Key::Sscc { sscc } => format!("(00){sscc}"),
            Gs1Key::Gtin { gtin } => format!("(01){gtin}"),
            Gs1Key::Gln {
                gln,
                extension: Some(ext),
            } => format!("(414){gln}(254){ext}"),
            Gs1Key::Gln {
                gln,
                extension: None,
            } => format!("(414){gln}"),
        }
    }

    /// Picks the most specific key among the elements: an individual asset first.
    pub(crate) fn from_elements(elements: &[Gs1Element]) -> Option<Gs1Key> {
        let get = |ai: &str| {
            elements
                .iter()
                .find(|e| e.ai == ai)
                .map(|e| e.value.clone())
        };
        if let Some(giai) = get("8004") {
            return Some(Gs1Key::Giai { giai });
        }
        if let (Some(gtin), Some(serial)) = (get("01"), get("21")) {
            return Some(Gs1Key::Sgtin { gtin, serial });
        }
        if let Some(grai) = get("8003") {
            return Some(Gs1Key::Grai { grai });
        }
        if let Some(sscc) = get("00") {
            return Some(Gs1Key::Sscc { sscc });
        }
        if let Some(gtin) = get("01") {
            return Some(Gs1Key::Gtin { gtin });
        }
        get("414").map(|gln| Gs1Key::Gln {
            gln,
            extension: get("254"),
        })
    }
}

/// The GS1 mod-10 check digit for `body` (digits without the check digit): weights 3,1,3,...
/// from the right. `None` if `body` has a non-digit.
pub fn gs1_check_digit(body: &str) -> Option<u8> {
    let mut sum = 0u32;
    for (i, b) in body.bytes().rev().enumerate() {
        if !b.is_ascii_digit() {
            return None;
        }
        let d = u32::from(b - b'0');
        sum += if i % 2 == 0 { d * 3 } else { d };
    }
    // sum % 10 < 10, so the cast cannot truncate.
    Some(((10 - sum % 10) % 10) as u8)
}

/// Whether the last digit of `digits` is the GS1 check digit of the others.
pub fn gs1_check_digit_valid(digits: &str) -> bool {
    match digits.as_bytes().split_last() {
        Some((last, body)) if last.is_ascii_digit() && !body.is_empty() => {
            let body = std::str::from_utf8(body).unwrap_or("x");
            gs1_check_digit(body) == Some(last - b'0')
        }
        _ => false,
    }
}

/// GS1 AI encodable character set 82 (GS1 General Specifications figure 7.11-1).
pub(crate) fn is_cset82(c: char) -> bool {
    c.is_ascii_alphanumeric()
        || matches!(
            c,
            '!' | '"'
                | '%'
                | '&'
                | '\''
                | '('
                | ')'
                | '*'
                | '+'
                | ','
                | '-'
                | '.'
                | '/'
                | ':'
                | ';'
                | '<'
                | '='
                | '>'
                | '?'
                | '_'
        )
}

fn value_err(ai: &str, problem: impl Into<String>) -> TagError {
    TagError::AiValue {
        ai: ai.to_owned(),
        problem: problem.into(),
    }
}

/// Checks a value against its AI's format; unknown AIs only against CSET 82 and length.
pub(crate) fn validate(ai: &str, value: &str) -> Result<(), TagError> {
    if value.is_empty() {
        return Err(value_err(ai, "has no value"));
    }
    let Some(sp) = spec(ai) else {
        if value.len() > MAX_UNKNOWN_VALUE {
            return Err(value_err(
                ai,
                format!("is longer than {MAX_UNKNOWN_VALUE} characters"),
            ));
        }
        if !value.chars().all(is_cset82) {
            return Err(value_err(ai, "contains a character GS1 does not allow"));
        }
        return Ok(());
    };
    let len = value.chars().count();
    let digits_only = value.bytes().all(|b| b.is_ascii_digit());
    if sp.charset == Charset::Numeric && !digits_only {
        return Err(value_err(ai, "must be digits only"));
    }
    if !value.chars().all(is_cset82) {
        return Err(value_err(ai, "contains a character GS1 does not allow"));
    }
    if sp.min == sp.max && len != sp.max {
        return Err(value_err(ai, format!("must be {} characters", sp.max)));
    }
    if len < sp.min {
        return Err(value_err(
            ai,
            format!("must be at least {} characters", sp.min),
        ));
    }
    if len > sp.max {
        return Err(value_err(
            ai,
            format!("is longer than {} characters", sp.max),
        ));
    }
    match sp.rule {
        Rule::None => Ok(()),
        Rule::CheckDigit(what) => {
            if gs1_check_digit_valid(value) {
                Ok(())
            } else {
                Err(TagError::CheckDigit { what })
            }
        }
        Rule::Date => validate_date(ai, value),
        Rule::Grai => {
            // Bytes 0..14 exist (len >= 14) and, if digits, are ASCII.
            let head = value.get(..14).unwrap_or("");
            if !head.bytes().all(|b| b.is_ascii_digit()) {
                return Err(value_err(ai, "must start with 14 digits"));
            }
            if !head.starts_with('0') {
                return Err(value_err(ai, "must start with the filler digit 0"));
            }
            if !gs1_check_digit_valid(head) {
                return Err(TagError::CheckDigit { what: "GRAI" });
            }
            Ok(())
        }
        Rule::Giai => {
            let leading = value.bytes().take_while(u8::is_ascii_digit).count();
            if leading < 4 {
                return Err(value_err(
                    ai,
                    "must start with a GS1 Company Prefix (at least 4 digits)",
                ));
            }
            Ok(())
        }
    }
}

fn validate_date(ai: &str, value: &str) -> Result<(), TagError> {
    let num = |r: std::ops::Range<usize>| value.get(r).and_then(|s| s.parse::<u32>().ok());
    let (Some(yy), Some(mm), Some(dd)) = (num(0..2), num(2..4), num(4..6)) else {
        return Err(value_err(ai, "must be a date YYMMDD"));
    };
    // GS1 resolves the century within a sliding window around today; for validity only
    // leap years matter, and 2000+YY agrees with that window for every current year.
    let year = 2000 + i32::try_from(yy).unwrap_or(0);
    let ok = if dd == 0 {
        (1..=12).contains(&mm)
    } else {
        chrono::NaiveDate::from_ymd_opt(year, mm, dd).is_some()
    };
    if ok {
        Ok(())
    } else {
        Err(value_err(ai, "is not a valid date YYMMDD"))
    }
}

/// Parses barcode-style GS1 data (what follows the symbology identifier): AIs and values
/// run together, with GS where a variable-length value ends early. Without GS only
/// fixed-length values can be split, so a variable-length value runs to the end.
pub(crate) fn parse_element_string(data: &str) -> Result<Vec<Gs1Element>, TagError> {
    if !data.is_ascii() {
        return Err(TagError::Gs1Syntax(
            "contains characters outside the GS1 character set",
        ));
    }
    let mut out = Vec::new();
    let mut rest = data;
    loop {
        rest = rest.trim_start_matches(GS);
        if rest.is_empty() {
            break;
        }
        let at = ai_at(rest)?;
        let ai = at.ai.to_owned();
        let after = rest.get(ai.len()..).unwrap_or("");
        let (value, next) = match at.fixed {
            Some(n) => match (after.get(..n), after.get(n..)) {
                (Some(v), Some(next)) if !v.contains(GS) => (v, next),
                _ => {
                    return Err(value_err(
                        &ai,
                        format!("must be {n} characters (data ends early)"),
                    ))
                }
            },
            None => match after.find(GS) {
                Some(i) => (after.get(..i).unwrap_or(""), after.get(i..).unwrap_or("")),
                None => (after, ""),
            },
        };
        validate(&ai, value)?;
        out.push(Gs1Element::new(&ai, value));
        rest = next;
    }
    if out.is_empty() {
        return Err(TagError::Gs1Syntax("holds no AI"));
    }
    Ok(out)
}

/// If `s` starts with `(AI)` for a plausible AI, the AI and the rest after `)`.
fn paren_ai(s: &str) -> Option<(&str, &str)> {
    let inner = s.strip_prefix('(')?;
    let close = inner.find(')')?;
    let ai = inner.get(..close)?;
    if !(2..=4).contains(&ai.len()) || !ai.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let plausible = spec(ai).is_some()
        || two_digit_prefix(ai)
            .and_then(ai_len_by_prefix)
            .is_some_and(|n| n == ai.len());
    plausible.then(|| (ai, inner.get(close + 1..).unwrap_or("")))
}

/// Whether `s` begins like a human-readable element string, `(AI)value...`.
pub(crate) fn looks_like_hri(s: &str) -> bool {
    paren_ai(s).is_some()
}

/// Parses the human-readable interpretation `(01)09506000134352(21)ABC`. A value ends where
/// the next `(AI)` starts; spaces around values (common on printed labels) are dropped.
pub(crate) fn parse_hri(text: &str) -> Result<Vec<Gs1Element>, TagError> {
    if !text.is_ascii() {
        return Err(TagError::Gs1Syntax(
            "contains characters outside the GS1 character set",
        ));
    }
    let mut out = Vec::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        let (ai, after) =
            paren_ai(rest).ok_or(TagError::Gs1Syntax("expected an AI in parentheses"))?;
        // The value runs to the next "(" that opens a plausible AI.
        let mut end = after.len();
        for (i, _) in after.match_indices('(') {
            if after.get(i..).and_then(paren_ai).is_some() {
                end = i;
                break;
            }
        }
        let value = after.get(..end).unwrap_or("").trim();
        validate(ai, value)?;
        out.push(Gs1Element::new(ai, value));
        rest = after.get(end..).unwrap_or("").trim_start();
    }
    if out.is_empty() {
        return Err(TagError::Gs1Syntax("holds no AI"));
    }
    Ok(out)
}

/// The human-readable form of a list of elements.
pub(crate) fn to_hri(elements: &[Gs1Element]) -> String {
    elements
        .iter()
        .map(|e| format!("({}){}", e.ai, e.value))
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn check_digits_follow_gs1_mod10() {
        // GS1 General Specifications example GTIN and the GS1 Digital Link examples' GTIN.
        assert_eq!(gs1_check_digit("0950600013435"), Some(2));
        assert!(gs1_check_digit_valid("09506000134352"));
        assert!(!gs1_check_digit_valid("09506000134353"));
        // SSCC example from the GS1 Digital Link standard: (00)106141411234567897.
        assert!(gs1_check_digit_valid("106141411234567897"));
        assert!(!gs1_check_digit_valid("7"));
        assert!(!gs1_check_digit_valid(""));
        assert_eq!(gs1_check_digit("12a"), None);
    }

    #[test]
    fn gs_separated_strings_split_on_fixed_lengths_and_gs() {
        let els = parse_element_string("0109506000134352\u{1d}10ABC\u{1d}21XYZ").unwrap();
        let pairs: Vec<_> = els
            .iter()
            .map(|e| (e.ai.as_str(), e.value.as_str()))
            .collect();
        assert_eq!(
            pairs,
            [("01", "09506000134352"), ("10", "ABC"), ("21", "XYZ")]
        );
        // Fixed-length AIs need no separator; the last variable one runs to the end.
        let els = parse_element_string("010950600013435217261231" /* (01)(17) */).unwrap();
        assert_eq!(els[1].ai, "17");
        assert_eq!(els[1].value, "261231");
        assert!(matches!(
            parse_element_string("0109506000134353"),
            Err(TagError::CheckDigit { what: "GTIN" })
        ));
        assert!(parse_element_string("01095060").is_err());
        assert!(matches!(
            parse_element_string("5512"),
            Err(TagError::UnknownAi { .. })
        ));
        assert!(parse_element_string("17261332").is_err());
        assert!(parse_element_string("17240229").is_ok());
        assert!(parse_element_string("17250229").is_err());
        assert!(parse_element_string("17250200").is_ok());
    }

    #[test]
    fn unknown_ais_are_split_by_their_prefix() {
        // AI 7240 (protocol ID) is not in our table; its length comes from the prefix rule.
        let els = parse_element_string("8004061414112345\u{1d}7240ABC").unwrap();
        assert_eq!(els[1].ai, "7240");
        assert_eq!(els[1].title, None);
        assert!(!els[1].is_known());
    }

    #[test]
    fn hri_is_split_at_parenthesised_ais() {
        let els = parse_hri("(01) 09506000134352 (21)AB(C").unwrap();
        assert_eq!(els[0].value, "09506000134352");
        assert_eq!(els[1].value, "AB(C");
        assert_eq!(to_hri(&els), "(01)09506000134352(21)AB(C");
        assert!(parse_hri("(01").is_err());
        assert!(parse_hri("(8004)").is_err());
        assert!(parse_hri("(5555)x").is_err());
    }

    #[test]
    fn grai_and_giai_rules() {
        assert!(validate("8003", "00614141123452ABC").is_ok());
        assert!(matches!(
            validate("8003", "00614141123453"),
            Err(TagError::CheckDigit { what: "GRAI" })
        ));
        assert!(validate("8003", "10614141123452").is_err());
        assert!(validate("8004", "0614141ABC123").is_ok());
        assert!(validate("8004", "ABC").is_err());
        assert!(validate("8004", &"1".repeat(31)).is_err());
        assert!(validate("8004", "0614141 AB").is_err());
    }
}
