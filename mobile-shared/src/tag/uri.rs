//! Just enough of RFC 3986 for label URLs: split an http(s) URL into its parts and
//! percent-decode. Hand-written because labels only carry simple absolute URLs and the phone
//! build should not pull in a full URL parser for that.

/// An absolute http(s) URL cut into its parts; all slices of the original text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UrlParts<'a> {
    pub(crate) authority: &'a str,
    /// Path including its leading `/`, possibly empty.
    pub(crate) path: &'a str,
    pub(crate) query: Option<&'a str>,
}

impl<'a> UrlParts<'a> {
    /// Non-empty path segments, still percent-encoded.
    pub(crate) fn segments(&self) -> Vec<&'a str> {
        self.path.split('/').filter(|s| !s.is_empty()).collect()
    }

    /// Query parameters as (name, value), percent-decoded (`+` is a space, as forms send
    /// it). Parameters that do not decode are skipped.
    pub(crate) fn query_pairs(&self) -> Vec<(String, String)> {
        let Some(q) = self.query else {
            return Vec::new();
        };
        q.split('&')
            .filter(|p| !p.is_empty())
            .filter_map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                let k = percent_decode(&k.replace('+', " "))?;
                let v = percent_decode(&v.replace('+', " "))?;
                Some((k, v))
            })
            .collect()
    }
}

/// Splits `text` if it is an absolute `http://` or `https://` URL (scheme in any case) with a
/// host and no whitespace or control characters.
pub(crate) fn split_http_url(text: &str) -> Option<UrlParts<'_>> {
    let (scheme, rest) = text.split_once("://")?;
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return None;
    }
    if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return None;
    }
    // The fragment is for the browser; drop it.
    let rest = rest.split('#').next().unwrap_or("");
    let (before_query, query) = match rest.split_once('?') {
        Some((a, q)) => (a, Some(q)),
        None => (rest, None),
    };
    let (authority, path) = match before_query.find('/') {
        Some(i) => before_query.split_at(i),
        None => (before_query, ""),
    };
    if authority.is_empty() {
        return None;
    }
    Some(UrlParts {
        authority,
        path,
        query,
    })
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Decodes `%XX` escapes. `None` for a malformed escape or bytes that are not UTF-8, so that
/// callers can decide between refusing and keeping the text as it was.
pub(crate) fn percent_decode(s: &str) -> Option<String> {
    if !s.contains('%') {
        return Some(s.to_owned());
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hi = bytes.get(i + 1).copied().and_then(hex_val)?;
            let lo = bytes.get(i + 2).copied().and_then(hex_val)?;
            out.push(hi << 4 | lo);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Escapes the characters that cannot appear literally in a URI path segment or in the
/// EPC URI syntax (TDS section 6.4 plus `#`, space and non-ASCII).
pub(crate) fn percent_encode_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_graphic()
            && !matches!(b, b'"' | b'%' | b'&' | b'/' | b'<' | b'>' | b'?' | b'#')
        {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn splits_label_urls() {
        let u = split_http_url("HTTPS://fleet.example.com/a/EX-0042?x=1#frag").unwrap();
        assert_eq!(u.authority, "fleet.example.com");
        assert_eq!(u.segments(), ["a", "EX-0042"]);
        assert_eq!(u.query_pairs(), [("x".to_owned(), "1".to_owned())]);
        let u = split_http_url("http://h").unwrap();
        assert_eq!(u.path, "");
        assert!(split_http_url("ftp://h/x").is_none());
        assert!(split_http_url("https:///x").is_none());
        assert!(split_http_url("https://h/a b").is_none());
        assert!(split_http_url("EX-0042").is_none());
    }

    #[test]
    fn percent_decoding_is_strict() {
        assert_eq!(percent_decode("EX%2d0042").unwrap(), "EX-0042");
        assert_eq!(percent_decode("%C3%A9").unwrap(), "é");
        assert!(percent_decode("%zz").is_none());
        assert!(percent_decode("%4").is_none());
        assert!(percent_decode("%FF").is_none());
        assert_eq!(percent_encode_component("A/B%C é"), "A%2FB%25C%20%C3%A9");
    }
}
