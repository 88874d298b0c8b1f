//! Printable asset labels: a QR code that encodes `<public_url>/a/<CODE>`, the asset code in
//! large type, the asset name and the company name, on a 70 × 37 mm label — the size of the
//! common A4 sheets of 3 × 8 self-adhesive labels.
//!
//! Everything here is pure (no I/O, no database): the server's label routes (`api`) load the
//! assets, build a [`Label`] from plain strings and call [`label_svg`], [`label_png`] or
//! [`sheet_svg`]. It must stay a plain library — no HTTP framework, no async runtime, no
//! database, no server types — so that anything (a CLI, a print service) can draw the same label.
//!
//! Choices that matter on a machine in a yard:
//! - Error correction level Q (25 % of the symbol may be lost): labels get scratched, painted
//!   over and partly torn; Q still keeps the symbol small enough for long label URLs.
//! - A quiet zone of four modules, the minimum the QR standard asks for, inside the label, so
//!   the symbol scans even when labels on a sheet touch each other.
//! - SVG is drawn in millimetres (`width="70mm"`), so it prints at its true size; the QR
//!   modules are one `<path>` with `shape-rendering="crispEdges"` so printers do not blur them.
//! - PNG text is drawn with a small built-in bitmap font (the `font` submodule), black on
//!   white with no grey: label printers are 1-bit, and the workspace has no font rasteriser.
//!
//! The QR symbols in an SVG can be read back with [`qr_matrices_in_svg`], which is how the tests
//! prove that what is printed is what was encoded.
#![forbid(unsafe_code)]

mod font;
mod layout;
mod png;
mod qr;
mod svg;

use std::fmt::Write as _;

use image::{GrayImage, Luma};
use qrcode::{EcLevel, QrCode};

/// Label width on paper.
pub const LABEL_WIDTH_MM: f64 = 70.0;
/// Label height on paper.
pub const LABEL_HEIGHT_MM: f64 = 37.0;
/// Columns of labels on an A4 sheet.
pub const SHEET_COLUMNS: usize = 3;
/// Rows of labels on an A4 sheet.
pub const SHEET_ROWS: usize = 8;
/// Labels on one A4 sheet.
pub const LABELS_PER_SHEET: usize = SHEET_COLUMNS * SHEET_ROWS;
/// A4 width.
pub const SHEET_WIDTH_MM: f64 = 210.0;
/// A4 height.
pub const SHEET_HEIGHT_MM: f64 = 297.0;
/// Light modules around the symbol, on every side (the QR standard's minimum).
pub const QUIET_ZONE: usize = 4;
/// Smallest PNG width accepted, in pixels.
pub const PNG_MIN_WIDTH: u32 = 200;
/// Largest PNG width accepted, in pixels (about 725 dpi on a 70 mm label; more is waste).
pub const PNG_MAX_WIDTH: u32 = 2000;
/// PNG width when none is asked for: 10 px/mm, about 254 dpi, sharp on a 203 or 300 dpi
/// label printer.
pub const PNG_DEFAULT_WIDTH: u32 = 700;

/// White space between the label's edge and anything printed: sheet labels are die-cut with
/// some tolerance, and printers shift the page by a millimetre or so.
const MARGIN_MM: f64 = 2.0;
/// Side of the square that holds the QR symbol and its quiet zone.
const QR_BOX_MM: f64 = LABEL_HEIGHT_MM - 2.0 * MARGIN_MM;
/// Left edge of the text column, right of the QR square.
const TEXT_X_MM: f64 = MARGIN_MM + QR_BOX_MM + 1.0;
/// Width of the text column.
const TEXT_W_MM: f64 = LABEL_WIDTH_MM - MARGIN_MM - TEXT_X_MM;
/// Largest font size of the asset code; codes shrink (and then wrap) to fit the column.
const CODE_MAX_FONT_MM: f64 = 8.0;
/// Below this the code wraps onto another line rather than shrinking further (3 mm is about
/// 8.5 pt: a 17-character code still fits on one line).
const CODE_MIN_FONT_MM: f64 = 3.0;
/// Most lines the code may take.
const CODE_MAX_LINES: usize = 3;
const NAME_FONT_MM: f64 = 3.6;
const NAME_MAX_LINES: usize = 3;
const COMPANY_FONT_MM: f64 = 2.6;
/// Cap height as a share of the font size (about 0.72 for Helvetica and DejaVu Sans Mono):
/// places the first baseline so capitals start at the intended top.
const CAP_HEIGHT_EM: f64 = 0.75;
/// Advance of a monospace character in em (DejaVu Sans Mono, Menlo, Consolas: 0.60–0.602).
const MONO_ADVANCE_EM: f64 = 0.61;
// The QR square, quiet zone included, ends before the text column starts.
const _: () = assert!(MARGIN_MM + QR_BOX_MM < TEXT_X_MM && TEXT_W_MM > 0.0);

/// Fonts of the SVG text: a monospace face for the code (0/O and 1/I stay apart), a common
/// sans-serif face for the rest.
const MONO_FONTS: &str = "'DejaVu Sans Mono', Menlo, Consolas, 'Liberation Mono', monospace";
const SANS_FONTS: &str = "Helvetica, Arial, 'Liberation Sans', 'DejaVu Sans', sans-serif";

/// Why a label could not be rendered.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LabelError {
    /// The URL does not fit in a QR symbol (only with an absurdly long `public_url`).
    #[error("the label URL is too long for a QR code ({0} bytes)")]
    TooLong(usize),
    /// The requested PNG is too narrow to give every QR module two pixels.
    #[error("the PNG must be at least {min_width} px wide for this label")]
    TooSmall { min_width: u32 },
    /// More labels than fit on one sheet were passed to [`sheet_svg`].
    #[error("a sheet holds at most {LABELS_PER_SHEET} labels, got {0}")]
    SheetFull(usize),
    /// PNG encoding failed (in memory, so practically never).
    #[error("PNG encoding failed: {0}")]
    Png(String),
}

/// What one label shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label {
    /// The asset code, printed large.
    pub code: String,
    /// The asset name, wrapped under the code.
    pub name: String,
    /// The owner, printed small at the bottom ("property of").
    pub company: String,
    /// What the QR code encodes.
    pub url: String,
}

impl Label {
    /// The label of the asset `code` named `name`, for a server reachable at `public_url`.
    pub fn new(public_url: &str, company: &str, code: &str, name: &str) -> Label {
        Label {
            code: code.to_owned(),
            name: name.to_owned(),
            company: company.to_owned(),
            url: label_url(public_url, code),
        }
    }
}

/// `<public_url>/a/<CODE>`, the code percent-encoded so that a `/` in it (allowed in asset
/// codes) stays inside the last path segment, which is what `/api/v1/resolve` reads back.
pub fn label_url(public_url: &str, code: &str) -> String {
    let mut url = public_url.trim().trim_end_matches('/').to_owned();
    url.push_str("/a/");
    for b in code.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            url.push(char::from(b));
        } else {
            // Writing to a String cannot fail.
            let _ = write!(url, "%{b:02X}");
        }
    }
    url
}

/// Pages a sheet of `labels` labels needs.
pub fn sheet_pages(labels: usize) -> usize {
    labels.div_ceil(LABELS_PER_SHEET)
}

use layout::*;
pub use png::{label_image, label_png};
pub use qr::{qr_matrices_in_svg, QrMatrix};
pub use svg::{escape_xml, label_svg, qr_svg, sheet_svg};

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::png::Canvas;
    use crate::svg::num;

    fn label(code: &str, name: &str) -> Label {
        Label::new("https://fleet.example.com/", "Acme Rental", code, name)
    }

    #[test]
    fn urls_percent_encode_the_code() {
        assert_eq!(
            label_url("https://fleet.example.com/", "EX-0042"),
            "https://fleet.example.com/a/EX-0042"
        );
        assert_eq!(
            label_url("http://h.example:8080", "EX/42.A_1~"),
            "http://h.example:8080/a/EX%2F42.A_1~"
        );
        assert_eq!(label_url("http://h", "A B&"), "http://h/a/A%20B%26");
    }

    #[test]
    fn sheet_pages_round_up() {
        assert_eq!(sheet_pages(0), 0);
        assert_eq!(sheet_pages(1), 1);
        assert_eq!(sheet_pages(24), 1);
        assert_eq!(sheet_pages(25), 2);
        assert_eq!(sheet_pages(240), 10);
    }

    #[test]
    fn a_standalone_qr_svg_reads_back_as_its_payload() {
        let uri = "otpauth://totp/Acme:alice?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=Acme";
        let svg = qr_svg(uri, 240).unwrap();
        assert!(
            svg.starts_with("<svg ") && svg.contains("width=\"240\""),
            "{svg}"
        );
        assert_eq!(qr_matrices_in_svg(&svg), [QrMatrix::encode(uri).unwrap()]);
        // Never smaller than a pixel per module.
        let tiny = qr_svg(uri, 1).unwrap();
        let side = QrMatrix::encode(uri).unwrap().width() + 2 * QUIET_ZONE;
        assert!(tiny.contains(&format!("width=\"{side}\"")), "{tiny}");
        assert_eq!(
            qr_svg(&"x".repeat(5000), 200),
            Err(LabelError::TooLong(5000))
        );
    }

    #[test]
    fn svg_modules_equal_the_encoders_matrix() {
        let l = label("EX-0042", "CAT 320 excavator");
        let svg = label_svg(&l).unwrap();
        let expected = QrCode::with_error_correction_level(l.url.as_bytes(), EcLevel::Q).unwrap();
        let found = qr_matrices_in_svg(&svg);
        assert_eq!(found.len(), 1);
        let m = &found[0];
        assert_eq!(m.width(), expected.width());
        let colors = expected.to_colors();
        for y in 0..m.width() {
            for x in 0..m.width() {
                assert_eq!(
                    m.is_dark(x, y),
                    colors[y * expected.width() + x] == qrcode::Color::Dark,
                    "module {x},{y}"
                );
            }
        }
        assert_eq!(expected.error_correction_level(), EcLevel::Q);
    }

    #[test]
    fn svg_is_sized_in_millimetres_with_a_quiet_zone() {
        let svg = label_svg(&label("EX-0042", "x")).unwrap();
        assert!(
            svg.contains("width=\"70mm\" height=\"37mm\" viewBox=\"0 0 70 37\""),
            "{svg}"
        );
        // The symbol starts four modules in from the QR square's edge.
        let m = QrMatrix::encode(&label_url("https://fleet.example.com", "EX-0042")).unwrap();
        let module = QR_BOX_MM / (m.width() + 8) as f64;
        let origin = num(MARGIN_MM + 4.0 * module);
        assert!(
            svg.contains(&format!("translate({origin} {origin})")),
            "{svg}"
        );
    }

    #[test]
    fn encoded_matrix_decodes_to_the_url() {
        let l = label("EX/42.A", "x");
        let m = QrMatrix::encode(&l.url).unwrap();
        let codes = qr_decode::decode_luma(&m.to_luma(4));
        assert_eq!(codes.len(), 1, "{codes:?}");
        assert_eq!(codes[0].text, "https://fleet.example.com/a/EX%2F42.A");
        assert_eq!(codes[0].ecc_level, 3, "level Q");
    }

    #[test]
    fn text_is_escaped_and_control_characters_dropped() {
        let svg = label_svg(&Label::new(
            "http://h",
            "Tom & Jerry's <Rentals>",
            "EX/42.A",
            "Drill <&\"> \u{1}\u{7}bit",
        ))
        .unwrap();
        assert!(svg.contains("Drill &lt;&amp;&quot;&gt; bit"), "{svg}");
        assert!(
            svg.contains("Tom &amp; Jerry&apos;s &lt;Rentals&gt;"),
            "{svg}"
        );
        assert!(!svg.contains('\u{1}') && !svg.contains('\u{7}'));
        assert!(svg.contains(">EX/42.A</text>"), "{svg}");
        assert_eq!(escape_xml("a\u{FFFE}\tb\u{0}"), "a b");
    }

    #[test]
    fn long_codes_shrink_then_wrap_and_are_never_cut() {
        let short = TextLayout::svg(&label("EX-1", "n"));
        assert_eq!(short.code.len(), 1);
        assert_eq!(short.code_font, CODE_MAX_FONT_MM);
        let medium = TextLayout::svg(&label("EXCAVATOR-000042", "n"));
        assert_eq!(medium.code.len(), 1);
        assert!(medium.code_font < CODE_MAX_FONT_MM && medium.code_font >= CODE_MIN_FONT_MM);
        // Too long for one line: wraps after a separator rather than mid-word.
        let two = TextLayout::svg(&label("GENERATOR-SET-000042-B", "n"));
        let lines: Vec<&str> = two.code.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(lines, ["GENERATOR-", "SET-000042-B"]);
        assert!(two.code_font >= CODE_MIN_FONT_MM);
        let code = "A".repeat(64);
        let long = TextLayout::svg(&label(&code, "n"));
        assert!(long.code.len() > 1);
        let joined: String = long.code.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(joined, code);
        for line in &long.code {
            let w = line.text.chars().count() as f64 * MONO_ADVANCE_EM * long.code_font;
            assert!(w <= TEXT_W_MM + 1e-6, "{w}");
        }
    }

    #[test]
    fn long_names_wrap_and_end_in_an_ellipsis() {
        let name = "Hydraulic breaker attachment for the big excavator with quick coupler and \
                    spare chisel and a second spare chisel";
        let layout = TextLayout::svg(&label("EX-1", name));
        assert_eq!(layout.name.len(), NAME_MAX_LINES);
        assert!(
            layout.name.last().unwrap().text.ends_with('…'),
            "{layout:?}"
        );
        for line in &layout.name {
            assert!(
                sans_width(&line.text, NAME_FONT_MM) <= TEXT_W_MM + 1e-6,
                "{line:?}"
            );
        }
        // Lines stay above the company line.
        let company = layout.company.as_ref().unwrap();
        let last = layout.name.last().unwrap();
        assert!(last.baseline < company.baseline - COMPANY_FONT_MM);
        // And the code above the name.
        assert!(layout.code[0].baseline < layout.name[0].baseline);
    }

    #[test]
    fn codes_break_after_separators_when_that_is_not_wasteful() {
        assert_eq!(break_code("AB-CDEFGH", 5, true), ["AB-", "CDEFG", "H"]);
        assert_eq!(break_code("ABCD-EFGH", 6, true), ["ABCD-", "EFGH"]);
        assert_eq!(
            break_code("A-BCDEFGH", 6, true),
            ["A-BCDE", "FGH"],
            "too early"
        );
        assert_eq!(break_code("ABCD-EFGH", 6, false), ["ABCD-E", "FGH"]);
        assert_eq!(break_code("ABC", 5, true), ["ABC"]);
    }

    #[test]
    fn wrap_breaks_words_longer_than_a_line() {
        let count = |s: &str| s.chars().count() as f64;
        assert_eq!(wrap("abcdefgh", 3.0, 5, count, "…"), ["abc", "def", "gh"]);
        assert_eq!(wrap("ab cd ef", 5.0, 5, count, "…"), ["ab cd", "ef"]);
        assert_eq!(wrap("ab cd ef gh", 5.0, 1, count, "…"), ["ab c…"]);
        assert_eq!(wrap("", 5.0, 2, count, "…"), Vec::<String>::new());
        assert_eq!(wrap("abc", 5.0, 0, count, "…"), Vec::<String>::new());
    }

    #[test]
    fn sheet_places_up_to_24_labels_in_a_3_by_8_grid() {
        let labels: Vec<Label> = (0..24).map(|i| label(&format!("EX-{i:04}"), "n")).collect();
        let svg = sheet_svg(&labels).unwrap();
        assert!(svg.contains("width=\"210mm\" height=\"297mm\""));
        assert_eq!(svg.matches("<svg class=\"label\"").count(), 24);
        assert!(svg.contains("<svg class=\"label\" x=\"0\" y=\"0.5\""));
        assert!(
            svg.contains("<svg class=\"label\" x=\"140\" y=\"259.5\""),
            "last label"
        );
        let matrices = qr_matrices_in_svg(&svg);
        assert_eq!(matrices.len(), 24);
        for (m, l) in matrices.iter().zip(&labels) {
            assert_eq!(m, &QrMatrix::encode(&l.url).unwrap());
        }
        let too_many: Vec<Label> = (0..25).map(|i| label(&format!("EX-{i}"), "n")).collect();
        assert_eq!(sheet_svg(&too_many), Err(LabelError::SheetFull(25)));
    }

    #[test]
    fn png_decodes_and_has_the_label_aspect() {
        let l = label("EX-0042", "CAT 320 excavator");
        let img = label_image(&l, PNG_DEFAULT_WIDTH).unwrap();
        assert_eq!((img.width(), img.height()), (700, 370));
        assert!(
            img.pixels().all(|p| p.0[0] == 0 || p.0[0] == 255),
            "black and white only"
        );
        let codes = qr_decode::decode_luma(&img);
        assert_eq!(codes.len(), 1);
        assert_eq!(codes[0].text, l.url);
        // Text was drawn right of the QR square.
        let text_x = (TEXT_X_MM * 10.0) as u32;
        assert!(img
            .enumerate_pixels()
            .any(|(x, _, p)| x >= text_x && p.0[0] == 0));

        let small = label_image(&l, PNG_MIN_WIDTH).unwrap();
        assert_eq!(qr_decode::decode_luma(&small)[0].text, l.url);
        let png = label_png(&l, PNG_MAX_WIDTH).unwrap();
        assert!(png.starts_with(b"\x89PNG"));
    }

    #[test]
    fn png_too_narrow_for_the_symbol_says_how_wide() {
        let long = Label::new(
            &format!("https://{}.example", "x".repeat(150)),
            "c",
            "EX-1",
            "n",
        );
        match label_image(&long, PNG_MIN_WIDTH) {
            Err(LabelError::TooSmall { min_width }) => {
                assert!(min_width > PNG_MIN_WIDTH);
                assert!(label_image(&long, min_width).is_ok());
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn bitmap_text_draws_glyphs() {
        let mut c = Canvas::new(20, 12);
        c.text(1, 1, 1, "I");
        // `I` has a full-width top bar (columns 1-3 of the glyph) and a stem in column 2.
        assert_eq!(c.img.get_pixel(2, 1).0[0], 0);
        assert_eq!(c.img.get_pixel(3, 4).0[0], 0);
        assert_eq!(c.img.get_pixel(1, 4).0[0], 255);
    }
}
