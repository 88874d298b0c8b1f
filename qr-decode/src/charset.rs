//! Turning a decoded QR payload (bytes) into text.
//!
//! rqrr returns the concatenated segment bytes: numeric/alphanumeric segments
//! as ASCII, byte segments verbatim, Kanji segments as Shift_JIS byte pairs.
//! It skips ECI designators, so the character set has to be guessed from the
//! bytes, the way zxing's `StringUtils.guessEncoding` does it:
//!
//! 1. valid UTF-8 → UTF-8 (also covers pure ASCII);
//! 2. valid Shift_JIS with a clear Japanese signal (3+ consecutive half-width
//!    katakana or double-byte characters) → Shift_JIS;
//! 3. valid as both: Shift_JIS when the ISO-8859-1 reading would be full of
//!    rarely used high characters, else ISO-8859-1;
//! 4. otherwise whichever is valid; ISO-8859-1 decodes any byte string.

use encoding_rs::SHIFT_JIS;

/// Statistics about a byte string read as Shift_JIS, mirroring zxing.
struct SjisStats {
    valid: bool,
    max_katakana_run: usize,
    max_double_byte_run: usize,
    katakana_chars: usize,
}

fn sjis_stats(bytes: &[u8]) -> SjisStats {
    let mut stats = SjisStats {
        valid: true,
        max_katakana_run: 0,
        max_double_byte_run: 0,
        katakana_chars: 0,
    };
    let (mut kata_run, mut double_run) = (0usize, 0usize);
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            0x00..=0x7f => {
                kata_run = 0;
                double_run = 0;
                i += 1;
            }
            0xa1..=0xdf => {
                stats.katakana_chars += 1;
                kata_run += 1;
                double_run = 0;
                stats.max_katakana_run = stats.max_katakana_run.max(kata_run);
                i += 1;
            }
            0x81..=0x9f | 0xe0..=0xef => {
                let Some(&t) = bytes.get(i + 1) else {
                    stats.valid = false;
                    break;
                };
                if !(0x40..=0xfc).contains(&t) || t == 0x7f {
                    stats.valid = false;
                    break;
                }
                double_run += 1;
                kata_run = 0;
                stats.max_double_byte_run = stats.max_double_byte_run.max(double_run);
                i += 2;
            }
            _ => {
                stats.valid = false;
                break;
            }
        }
    }
    if stats.valid {
        // Final word: the codec must accept it too (unmapped pairs).
        let (_, had_errors) = SHIFT_JIS.decode_without_bom_handling(bytes);
        stats.valid = !had_errors;
    }
    stats
}

/// Counts bytes whose ISO-8859-1 reading is an unusual character
/// (C1 controls, symbols zxing's heuristic treats as "other").
fn iso_high_other(bytes: &[u8]) -> usize {
    bytes
        .iter()
        .filter(|&&b| (0x80..=0xbf).contains(&b) && b != 0xa0 || b == 0xd7 || b == 0xf7)
        .count()
}

fn latin1(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| char::from(b)).collect()
}

/// Converts a QR payload to text; see the module docs for the heuristic.
pub(crate) fn payload_to_text(bytes: &[u8]) -> String {
    if let Ok(s) = std::str::from_utf8(bytes) {
        return s.strip_prefix('\u{feff}').unwrap_or(s).to_owned();
    }
    let sjis = sjis_stats(bytes);
    let use_sjis = sjis.valid
        && (sjis.max_katakana_run >= 3
            || sjis.max_double_byte_run >= 3
            || (sjis.max_katakana_run == 2 && sjis.katakana_chars == 2)
            || iso_high_other(bytes) * 10 >= bytes.len());
    if use_sjis {
        let (text, _, _) = SHIFT_JIS.decode(bytes);
        return text.into_owned();
    }
    latin1(bytes)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::payload_to_text;

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(3_000))]

        /// Any payload bytes become text without a panic, UTF-8 passes through unchanged (less
        /// a BOM), and the text never grows past what the bytes can hold (a Latin-1 byte is at
        /// most two UTF-8 bytes, a Shift-JIS pair at most three).
        #[test]
        fn any_payload_becomes_bounded_text(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400),
        ) {
            let text = payload_to_text(&bytes);
            proptest::prop_assert!(text.len() <= bytes.len() * 3);
            if let Ok(s) = std::str::from_utf8(&bytes) {
                proptest::prop_assert_eq!(text.as_str(), s.strip_prefix('\u{feff}').unwrap_or(s));
            }
        }
    }

    #[test]
    fn utf8_passes_through() {
        assert_eq!(payload_to_text("héllo 測試".as_bytes()), "héllo 測試");
    }

    #[test]
    fn shift_jis_katakana() {
        let (bytes, _, _) = encoding_rs::SHIFT_JIS.encode("ﾃﾞｻﾞｲﾝQR");
        assert_eq!(payload_to_text(&bytes), "ﾃﾞｻﾞｲﾝQR");
    }

    #[test]
    fn shift_jis_kanji() {
        let (bytes, _, _) = encoding_rs::SHIFT_JIS.encode("今度のバージョン");
        assert_eq!(payload_to_text(&bytes), "今度のバージョン");
    }

    #[test]
    fn latin1_fallback() {
        assert_eq!(payload_to_text(b"caf\xe9 cr\xe8me"), "café crème");
    }
}
