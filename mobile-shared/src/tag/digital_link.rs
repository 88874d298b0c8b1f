//! GS1 Digital Link URIs (GS1 Digital Link Standard: URI Syntax, 1.x), uncompressed form:
//! `https://any.domain/optional/prefix/<primary AI>/<value>[/<qualifier AI>/<value>...]
//! [?<attribute AI>=<value>&...]`.

use super::gs1::{self, Gs1Element};
use super::uri::{percent_decode, UrlParts};
use super::TagError;

/// Primary keys we resolve, with their key qualifiers in the order the standard requires.
const PRIMARY_KEYS: &[(&str, &[&str])] = &[
    ("01", &["22", "10", "21"]),
    ("00", &[]),
    ("414", &["254"]),
    ("417", &[]),
    ("8003", &[]),
    ("8004", &[]),
    ("8017", &[]),
    ("8018", &[]),
];

/// Digital Link 1.0 "convenience alphas" (e.g. `/gtin/...`); later versions dropped them but
/// labels printed with them are still around.
fn ai_for(segment: &str) -> &str {
    match segment {
        "gtin" => "01",
        "cpv" => "22",
        "lot" => "10",
        "ser" => "21",
        "sscc" => "00",
        "gln" => "414",
        "glnx" => "254",
        "party" => "417",
        "grai" => "8003",
        "giai" => "8004",
        "gsrnp" => "8017",
        "gsrn" => "8018",
        "exp" => "17",
        other => other,
    }
}

fn qualifiers_of(ai: &str) -> Option<&'static [&'static str]> {
    PRIMARY_KEYS.iter().find(|(k, _)| *k == ai).map(|(_, q)| *q)
}

/// A decoded Digital Link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DigitalLink {
    /// Primary key then key qualifiers, in path order.
    pub(crate) elements: Vec<Gs1Element>,
    /// Data attributes from the query string.
    pub(crate) attributes: Vec<Gs1Element>,
}

/// Whether the path from `tail` on has the shape primary-key/value[/qualifier/value...]
/// with qualifiers allowed for that key and in the standard's order.
fn shape_matches(tail: &[&str]) -> bool {
    let Some(first) = tail.first() else {
        return false;
    };
    let Some(qualifiers) = qualifiers_of(ai_for(first)) else {
        return false;
    };
    if tail.len() < 2 || tail.len() % 2 != 0 {
        return false;
    }
    let mut next = 0;
    for pair in tail.chunks(2).skip(1) {
        let Some(ai) = pair.first().map(|s| ai_for(s)) else {
            return false;
        };
        match qualifiers.iter().skip(next).position(|q| *q == ai) {
            Some(p) => next += p + 1,
            None => return false,
        }
    }
    true
}

/// Whether the primary key's value could be one (digits where the key is numeric). Only a
/// plausible key makes a URL a Digital Link; a check-digit error after that is reported.
fn plausible_key(ai: &str, raw_value: &str) -> bool {
    let Some(value) = percent_decode(raw_value) else {
        return true; // DL-shaped with a broken escape: report it as a DL error.
    };
    let digits = value.bytes().all(|b| b.is_ascii_digit());
    match ai {
        "01" => digits && matches!(value.len(), 8 | 12 | 13 | 14),
        "8003" => value.bytes().take(14).all(|b| b.is_ascii_digit()),
        "8004" => value.bytes().next().is_some_and(|b| b.is_ascii_digit()),
        _ => digits,
    }
}

fn decode_value(ai: &str, raw: &str) -> Result<String, TagError> {
    let value = percent_decode(raw).ok_or_else(|| {
        TagError::DigitalLink(format!("the value of AI ({ai}) has a bad %-escape"))
    })?;
    // The standard allows GTIN-8/12/13 in the path; the element string wants GTIN-14.
    if ai == "01" && matches!(value.len(), 8 | 12 | 13) {
        return Ok(format!("{value:0>14}"));
    }
    Ok(value)
}

/// Reads a Digital Link from an http(s) URL. `None` if the path has no Digital Link shape
/// (an ordinary URL); `Some(Err)` if it has one but a value is invalid.
pub(crate) fn parse(url: &UrlParts<'_>) -> Option<Result<DigitalLink, TagError>> {
    let segments = url.segments();
    let start = (0..segments.len()).find(|&i| {
        let tail = segments.get(i..).unwrap_or(&[]);
        shape_matches(tail)
            && match (tail.first(), tail.get(1)) {
                (Some(ai), Some(v)) => plausible_key(ai_for(ai), v),
                _ => false,
            }
    })?;
    Some(parse_from(url, segments.get(start..).unwrap_or(&[])))
}

fn parse_from(url: &UrlParts<'_>, tail: &[&str]) -> Result<DigitalLink, TagError> {
    let mut elements = Vec::new();
    for pair in tail.chunks(2) {
        if let [ai, raw] = pair {
            let ai = ai_for(ai);
            let value = decode_value(ai, raw)?;
            gs1::validate(ai, &value)?;
            elements.push(Gs1Element::new(ai, &value));
        }
    }
    let mut attributes: Vec<Gs1Element> = Vec::new();
    for (key, value) in url.query_pairs() {
        let ai = ai_for(&key);
        let numeric = (2..=4).contains(&ai.len()) && ai.bytes().all(|b| b.is_ascii_digit());
        if !numeric || elements.iter().chain(&attributes).any(|e| e.ai == ai) {
            // Not an AI (linkType, tracking parameters) or a repeat: not ours to judge.
            continue;
        }
        let element = Gs1Element::new(ai, &value);
        if element.is_known() {
            gs1::validate(ai, &value)?;
            attributes.push(element);
        } else if gs1::validate(ai, &value).is_ok() {
            attributes.push(element);
        }
    }
    Ok(DigitalLink {
        elements,
        attributes,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::uri::split_http_url;
    use super::*;

    fn dl(text: &str) -> Option<Result<DigitalLink, TagError>> {
        parse(&split_http_url(text).unwrap())
    }

    #[test]
    fn reads_the_standards_examples() {
        // GS1 Digital Link standard examples use GTIN 09506000134352.
        let d = dl("https://id.gs1.org/01/09506000134352/10/ABC1/21/12345?17=261231")
            .unwrap()
            .unwrap();
        let ais: Vec<_> = d.elements.iter().map(|e| e.ai.as_str()).collect();
        assert_eq!(ais, ["01", "10", "21"]);
        assert_eq!(d.attributes[0].ai, "17");
        // GTIN-13 in the path is padded to GTIN-14.
        let d = dl("https://example.com/shop/01/9506000134352")
            .unwrap()
            .unwrap();
        assert_eq!(d.elements[0].value, "09506000134352");
        // Convenience alphas of Digital Link 1.0.
        let d = dl("https://example.com/gtin/09506000134352/ser/ABC")
            .unwrap()
            .unwrap();
        assert_eq!(d.elements[1].ai, "21");
    }

    #[test]
    fn ordinary_urls_are_not_digital_links() {
        assert!(dl("https://fleet.example.com/a/EX-0042").is_none());
        assert!(dl("https://fleet.example.com/00/EX-0042").is_none());
        assert!(dl("https://fleet.example.com/01/09506000134352/99/x").is_none());
        // Qualifiers out of order (21 before 10) are not a Digital Link path.
        assert!(dl("https://x.example/01/09506000134352/21/A/10/B").is_none());
    }

    #[test]
    fn invalid_values_are_errors() {
        assert!(matches!(
            dl("https://id.gs1.org/01/09506000134353"),
            Some(Err(TagError::CheckDigit { what: "GTIN" }))
        ));
        assert!(matches!(
            dl("https://id.gs1.org/8004/0614141%zz"),
            Some(Err(TagError::DigitalLink(_)))
        ));
        assert!(matches!(
            dl("https://id.gs1.org/01/09506000134352?17=261399"),
            Some(Err(TagError::AiValue { .. }))
        ));
    }
}
