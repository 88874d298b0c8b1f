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

/// A QR symbol as a square of modules, without its quiet zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QrMatrix {
    width: usize,
    dark: Vec<bool>,
}

impl QrMatrix {
    /// Encodes `payload` at error correction level Q, in the smallest version that holds it.
    pub fn encode(payload: &str) -> Result<QrMatrix, LabelError> {
        let code = QrCode::with_error_correction_level(payload.as_bytes(), EcLevel::Q)
            .map_err(|_| LabelError::TooLong(payload.len()))?;
        Ok(QrMatrix {
            width: code.width(),
            dark: code
                .to_colors()
                .into_iter()
                .map(|c| c == qrcode::Color::Dark)
                .collect(),
        })
    }

    /// A matrix from its modules, row by row; `None` unless there are `width²` of them.
    pub fn from_modules(width: usize, dark: Vec<bool>) -> Option<QrMatrix> {
        (width > 0 && width.checked_mul(width) == Some(dark.len()))
            .then_some(QrMatrix { width, dark })
    }

    /// Modules per side (21 for version 1, 4 more per version).
    pub fn width(&self) -> usize {
        self.width
    }

    /// Whether the module in column `x`, row `y` is dark; outside the symbol is light.
    pub fn is_dark(&self, x: usize, y: usize) -> bool {
        x < self.width && y < self.width && self.dark.get(y * self.width + x) == Some(&true)
    }

    /// The symbol as a grey image, `module_px` pixels per module, with its quiet zone.
    pub fn to_luma(&self, module_px: u32) -> GrayImage {
        let m = module_px.max(1);
        let side = (self.width + 2 * QUIET_ZONE) as u32 * m;
        GrayImage::from_fn(side, side, |px, py| {
            let x = (px / m) as usize;
            let y = (py / m) as usize;
            let dark =
                x >= QUIET_ZONE && y >= QUIET_ZONE && self.is_dark(x - QUIET_ZONE, y - QUIET_ZONE);
            Luma([if dark { 0 } else { 255 }])
        })
    }

    /// The dark modules as one SVG path in module units: a rectangle per horizontal run.
    fn svg_path(&self) -> String {
        let mut d = String::new();
        for y in 0..self.width {
            let mut x = 0;
            while x < self.width {
                if !self.is_dark(x, y) {
                    x += 1;
                    continue;
                }
                let start = x;
                while x < self.width && self.is_dark(x, y) {
                    x += 1;
                }
                let run = x - start;
                let _ = write!(d, "M{start} {y}h{run}v1h-{run}z");
            }
        }
        d
    }
}

/// Reads back the QR symbols of an SVG made by [`label_svg`] or [`sheet_svg`], in document
/// order. Lets tests (or a print pipeline's self-check) compare what is printed with what was
/// encoded, without rasterising the SVG.
pub fn qr_matrices_in_svg(svg: &str) -> Vec<QrMatrix> {
    const MARK: &str = "<path class=\"qr\" data-modules=\"";
    let mut out = Vec::new();
    let mut rest = svg;
    while let Some(i) = rest.find(MARK) {
        rest = &rest[i + MARK.len()..];
        if let Some(m) = parse_qr_path(rest) {
            out.push(m);
        }
    }
    out
}

/// Parses `N" d="M…z…"` as written by [`QrMatrix::svg_path`].
fn parse_qr_path(s: &str) -> Option<QrMatrix> {
    let (n, rest) = s.split_once('"')?;
    let width: usize = n.parse().ok()?;
    let rest = rest.trim_start().strip_prefix("d=\"")?;
    let (d, _) = rest.split_once('"')?;
    let mut dark = vec![false; width.checked_mul(width)?];
    for cmd in d.split('M').filter(|c| !c.is_empty()) {
        // `x y` `h` run `v1h-` run `z`
        let (x, rest) = cmd.split_once(' ')?;
        let (y, rest) = rest.split_once('h')?;
        let (run, rest) = rest.split_once("v1h-")?;
        let (back, tail) = rest.split_once('z')?;
        if run != back || !tail.is_empty() {
            return None;
        }
        let (x, y, run): (usize, usize, usize) =
            (x.parse().ok()?, y.parse().ok()?, run.parse().ok()?);
        if y >= width || x.checked_add(run)? > width {
            return None;
        }
        for cell in &mut dark[y * width + x..y * width + x + run] {
            *cell = true;
        }
    }
    QrMatrix::from_modules(width, dark)
}

/// A label as a standalone SVG document, 70 × 37 mm.
pub fn label_svg(label: &Label) -> Result<String, LabelError> {
    let body = label_body(label)?;
    let mut svg = String::with_capacity(body.len() + 512);
    svg.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        svg,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"{w}mm\" height=\"{h}mm\" viewBox=\"0 0 {w} {h}\">",
        w = num(LABEL_WIDTH_MM),
        h = num(LABEL_HEIGHT_MM),
    );
    let _ = writeln!(
        svg,
        "<title>{} {}</title>",
        escape_xml(&label.code),
        escape_xml(&clean_text(&label.name))
    );
    svg.push_str(&body);
    svg.push_str("</svg>\n");
    Ok(svg)
}

/// One A4 page (210 × 297 mm) with up to [`LABELS_PER_SHEET`] labels, filled row by row from
/// the top left. The 3 × 8 grid of 70 × 37 mm labels is 296 mm tall, centred with 0.5 mm above
/// and below, as on the die-cut sheets.
pub fn sheet_svg(labels: &[Label]) -> Result<String, LabelError> {
    if labels.len() > LABELS_PER_SHEET {
        return Err(LabelError::SheetFull(labels.len()));
    }
    let top = (SHEET_HEIGHT_MM - SHEET_ROWS as f64 * LABEL_HEIGHT_MM) / 2.0;
    let left = (SHEET_WIDTH_MM - SHEET_COLUMNS as f64 * LABEL_WIDTH_MM) / 2.0;
    let mut svg = String::with_capacity(labels.len() * 16 * 1024 + 512);
    svg.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        svg,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"{w}mm\" height=\"{h}mm\" viewBox=\"0 0 {w} {h}\">",
        w = num(SHEET_WIDTH_MM),
        h = num(SHEET_HEIGHT_MM),
    );
    let _ = writeln!(svg, "<title>Asset labels ({})</title>", labels.len());
    let _ = writeln!(
        svg,
        "<rect width=\"{}\" height=\"{}\" fill=\"#fff\"/>",
        num(SHEET_WIDTH_MM),
        num(SHEET_HEIGHT_MM)
    );
    for (i, label) in labels.iter().enumerate() {
        let col = i % SHEET_COLUMNS;
        let row = i / SHEET_COLUMNS;
        let _ = writeln!(
            svg,
            "<svg class=\"label\" x=\"{}\" y=\"{}\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\">",
            num(left + col as f64 * LABEL_WIDTH_MM),
            num(top + row as f64 * LABEL_HEIGHT_MM),
            w = num(LABEL_WIDTH_MM),
            h = num(LABEL_HEIGHT_MM),
        );
        svg.push_str(&label_body(label)?);
        svg.push_str("</svg>\n");
    }
    svg.push_str("</svg>\n");
    Ok(svg)
}

/// The elements of one label in a 70 × 37 mm user space.
fn label_body(label: &Label) -> Result<String, LabelError> {
    let qr = QrMatrix::encode(&label.url)?;
    let mut out = String::with_capacity(8 * 1024);
    let _ = writeln!(
        out,
        "<rect width=\"{}\" height=\"{}\" fill=\"#fff\"/>",
        num(LABEL_WIDTH_MM),
        num(LABEL_HEIGHT_MM)
    );
    let module = QR_BOX_MM / (qr.width() + 2 * QUIET_ZONE) as f64;
    let origin = MARGIN_MM + QUIET_ZONE as f64 * module;
    let _ = writeln!(
        out,
        "<g transform=\"translate({o} {o}) scale({m})\"><path class=\"qr\" data-modules=\"{n}\" d=\"{d}\" fill=\"#000\" shape-rendering=\"crispEdges\"/></g>",
        o = num(origin),
        m = num6(module),
        n = qr.width(),
        d = qr.svg_path(),
    );

    let layout = TextLayout::svg(label);
    for line in &layout.code {
        let _ = writeln!(
            out,
            "<text x=\"{}\" y=\"{}\" font-family=\"{MONO_FONTS}\" font-weight=\"bold\" font-size=\"{}\" fill=\"#000\">{}</text>",
            num(TEXT_X_MM),
            num(line.baseline),
            num(layout.code_font),
            escape_xml(&line.text)
        );
    }
    for line in &layout.name {
        let _ = writeln!(
            out,
            "<text x=\"{}\" y=\"{}\" font-family=\"{SANS_FONTS}\" font-size=\"{}\" fill=\"#000\">{}</text>",
            num(TEXT_X_MM),
            num(line.baseline),
            num(NAME_FONT_MM),
            escape_xml(&line.text)
        );
    }
    if let Some(line) = &layout.company {
        let _ = writeln!(
            out,
            "<text x=\"{}\" y=\"{}\" font-family=\"{SANS_FONTS}\" font-size=\"{}\" fill=\"#000\">{}</text>",
            num(TEXT_X_MM),
            num(line.baseline),
            num(COMPANY_FONT_MM),
            escape_xml(&line.text)
        );
    }
    Ok(out)
}

/// One line of text and where its baseline goes (mm).
#[derive(Debug, Clone, PartialEq)]
struct Line {
    text: String,
    baseline: f64,
}

/// Where the texts of an SVG label go. SVG cannot measure text, so widths are estimated from
/// typical glyph advances, erring wide so nothing runs off the label.
#[derive(Debug, Clone, PartialEq)]
struct TextLayout {
    code_font: f64,
    code: Vec<Line>,
    name: Vec<Line>,
    company: Option<Line>,
}

impl TextLayout {
    fn svg(label: &Label) -> TextLayout {
        let code = clean_text(&label.code);
        let font_for = |chars: usize| {
            CODE_MAX_FONT_MM.min(TEXT_W_MM / (MONO_ADVANCE_EM * chars.max(1) as f64))
        };
        let (code_lines, font) = code_lines(&code, |cap| {
            Some(font_for(cap)).filter(|f| *f >= CODE_MIN_FONT_MM)
        })
        .unwrap_or_else(|| {
            // Only codes near the 64-character limit: smaller type, never cut.
            let cap = code.chars().count().div_ceil(CODE_MAX_LINES);
            (break_code(&code, cap, false), font_for(cap))
        });
        let top = MARGIN_MM + 0.5;
        let code: Vec<Line> = code_lines
            .into_iter()
            .enumerate()
            .map(|(i, text)| Line {
                text,
                baseline: top + CAP_HEIGHT_EM * font + i as f64 * font,
            })
            .collect();
        let code_bottom = top + code.len() as f64 * font;

        let company_baseline = LABEL_HEIGHT_MM - MARGIN_MM - 0.6;
        let company_text = clean_text(&label.company);
        let company = (!company_text.is_empty()).then(|| Line {
            text: fit(
                &company_text,
                TEXT_W_MM,
                |s| sans_width(s, COMPANY_FONT_MM),
                "…",
            ),
            baseline: company_baseline,
        });
        let company_top = company_baseline - CAP_HEIGHT_EM * COMPANY_FONT_MM;

        // Name lines between the code and the company, as many as fit (at most three).
        let first = code_bottom + 0.8 + CAP_HEIGHT_EM * NAME_FONT_MM;
        let step = 1.2 * NAME_FONT_MM;
        let descent = 0.25 * NAME_FONT_MM;
        let mut room = 0;
        while room < NAME_MAX_LINES && first + room as f64 * step + descent <= company_top - 0.8 {
            room += 1;
        }
        let name = wrap(
            &clean_text(&label.name),
            TEXT_W_MM,
            room,
            |s| sans_width(s, NAME_FONT_MM),
            "…",
        )
        .into_iter()
        .enumerate()
        .map(|(i, text)| Line {
            text,
            baseline: first + i as f64 * step,
        })
        .collect();
        TextLayout {
            code_font: font,
            code,
            name,
            company,
        }
    }
}

/// The code in lines for the largest type: the fewest lines (at most [`CODE_MAX_LINES`]) for
/// which `size_for` (the type size at which a line of that many characters fills the column)
/// gives a size, with the size. `None` when even the most lines give none.
fn code_lines<S>(code: &str, size_for: impl Fn(usize) -> Option<S>) -> Option<(Vec<String>, S)> {
    let n = code.chars().count().max(1);
    for lines in 1..=CODE_MAX_LINES {
        // Breaking at separators may need a little more room per line than an even split.
        let mut cap = n.div_ceil(lines);
        while break_code(code, cap, true).len() > lines {
            cap += 1;
        }
        if let Some(size) = size_for(cap) {
            return Some((break_code(code, cap, true), size));
        }
    }
    None
}

/// `code` in lines of at most `cap` characters. With `at_separators`, a line ends after the
/// last `-`, `/`, `.` or `_` that fits, if that is at least half a line in: `GENERATOR-` /
/// `SET-0042` reads better than `GENERATOR-S` / `ET-0042`.
fn break_code(code: &str, cap: usize, at_separators: bool) -> Vec<String> {
    let chars: Vec<char> = code.chars().collect();
    let cap = cap.max(1);
    let mut lines = Vec::new();
    let mut start = 0;
    while chars.len() - start > cap {
        let window = &chars[start..start + cap];
        let cut = window
            .iter()
            .rposition(|c| at_separators && matches!(c, '-' | '/' | '.' | '_'))
            .map(|i| i + 1)
            .filter(|&cut| cut * 2 >= cap)
            .unwrap_or(cap);
        lines.push(chars[start..start + cut].iter().collect());
        start += cut;
    }
    lines.push(chars[start..].iter().collect());
    lines
}

/// Estimated width (mm) of `s` in a Helvetica-like face at `font` mm.
fn sans_width(s: &str, font: f64) -> f64 {
    s.chars()
        .map(|c| match c {
            'i' | 'j' | 'l' | '.' | ',' | '\'' | '|' | '!' | ':' | ';' | 'I' => 0.28,
            ' ' | 'f' | 't' | 'r' | '(' | ')' | '[' | ']' | '-' | '/' => 0.36,
            'm' | 'w' => 0.84,
            'M' | 'W' => 0.92,
            '0'..='9' => 0.56,
            c if (c as u32) >= 0x2E80 => 1.0,
            c if c.is_uppercase() => 0.72,
            _ => 0.58,
        })
        .sum::<f64>()
        * font
}

/// Greedy word wrap into at most `max_lines` lines no wider than `max` by `measure`; words
/// longer than a line are broken. When the text does not fit, the last line ends in `ellipsis`.
fn wrap(
    text: &str,
    max: f64,
    max_lines: usize,
    measure: impl Fn(&str) -> f64,
    ellipsis: &str,
) -> Vec<String> {
    // Float estimates that are equal on paper must not spill a line over.
    let fits = |s: &str| measure(s) <= max + 1e-9;
    let mut lines: Vec<String> = Vec::new();
    let mut current = String::new();
    for word in text.split(' ').filter(|w| !w.is_empty()) {
        let candidate = if current.is_empty() {
            word.to_owned()
        } else {
            format!("{current} {word}")
        };
        if fits(&candidate) {
            current = candidate;
            continue;
        }
        if !current.is_empty() {
            lines.push(std::mem::take(&mut current));
        }
        current = word.to_owned();
        while !fits(&current) {
            // The longest prefix that fits, at least one character.
            let chars: Vec<char> = current.chars().collect();
            let mut take = 1;
            while take < chars.len() && fits(&chars[..=take].iter().collect::<String>()) {
                take += 1;
            }
            lines.push(chars[..take].iter().collect());
            current = chars[take..].iter().collect();
        }
    }
    if !current.is_empty() {
        lines.push(current);
    }
    if lines.len() > max_lines {
        lines.truncate(max_lines);
        if let Some(last) = lines.last_mut() {
            *last = fit(&format!("{last}{ellipsis}"), max, &measure, ellipsis);
        }
    }
    lines
}

/// `text` cut so it fits `max`, ending in `ellipsis` when cut.
fn fit(text: &str, max: f64, measure: impl Fn(&str) -> f64, ellipsis: &str) -> String {
    if measure(text) <= max + 1e-9 {
        return text.to_owned();
    }
    let mut chars: Vec<char> = text.chars().collect();
    loop {
        let head: String = chars.iter().collect::<String>().trim_end().to_owned();
        let candidate = format!("{head}{ellipsis}");
        if measure(&candidate) <= max + 1e-9 || chars.is_empty() {
            return if chars.is_empty() {
                String::new()
            } else {
                candidate
            };
        }
        chars.pop();
    }
}

/// Text as it can be printed: control characters dropped, runs of whitespace made one space.
fn clean_text(s: &str) -> String {
    s.split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// `s` escaped for XML text and attribute values. Characters XML 1.0 does not allow at all
/// (most control characters) are dropped rather than escaped: `&#1;` is not well-formed either.
pub fn escape_xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(' '),
            '\u{FFFE}' | '\u{FFFF}' => {}
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// A length in mm with at most three decimals, no trailing zeros (0.001 mm is far below any
/// printer's resolution, and shorter numbers keep a 24-label sheet small).
fn num(x: f64) -> String {
    trim_decimals(format!("{x:.3}"))
}

/// Like [`num`] with six decimals, for the module scale, whose rounding error is multiplied by
/// the width of the symbol.
fn num6(x: f64) -> String {
    trim_decimals(format!("{x:.6}"))
}

fn trim_decimals(s: String) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s
    }
}

/// A label as a PNG image `width_px` wide (the height follows the 70 × 37 aspect ratio), 8-bit
/// grey but only black and white.
pub fn label_png(label: &Label, width_px: u32) -> Result<Vec<u8>, LabelError> {
    let img = label_image(label, width_px)?;
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png)
        .map_err(|e| LabelError::Png(e.to_string()))?;
    Ok(out.into_inner())
}

/// The pixels of [`label_png`].
pub fn label_image(label: &Label, width_px: u32) -> Result<GrayImage, LabelError> {
    let qr = QrMatrix::encode(&label.url)?;
    let width = width_px.max(1);
    let ppm = f64::from(width) / LABEL_WIDTH_MM;
    let height = (LABEL_HEIGHT_MM * ppm).round().max(1.0) as u32;
    let px = |mm: f64| (mm * ppm).round() as u32;

    // Whole pixels per module keep every module the same size, which decoders like; two is
    // the least that survives printing and a phone camera.
    let total = (qr.width() + 2 * QUIET_ZONE) as u32;
    let box_px = (QR_BOX_MM * ppm).floor() as u32;
    let module = box_px / total;
    if module < 2 {
        let min_width = (2.0 * f64::from(total) * LABEL_WIDTH_MM / QR_BOX_MM).ceil() as u32;
        return Err(LabelError::TooSmall { min_width });
    }
    let mut canvas = Canvas::new(width, height);
    let qr_side = module * total;
    let qr_x = px(MARGIN_MM) + (box_px - qr_side) / 2 + QUIET_ZONE as u32 * module;
    let qr_y = px(MARGIN_MM) + (box_px - qr_side) / 2 + QUIET_ZONE as u32 * module;
    for y in 0..qr.width() {
        for x in 0..qr.width() {
            if qr.is_dark(x, y) {
                canvas.fill(
                    qr_x + x as u32 * module,
                    qr_y + y as u32 * module,
                    module,
                    module,
                );
            }
        }
    }

    let text_x = px(TEXT_X_MM);
    let text_w = px(TEXT_W_MM);
    // Scale (pixels per font pixel) that gives a font the cap height it has in the SVG.
    let scale_for =
        |font_mm: f64| -> u32 { ((CAP_HEIGHT_EM * font_mm * ppm / 7.0).round() as u32).max(1) };
    // Width of `n` characters at scale `s`, without the blank column after the last.
    let span = |n: usize, s: u32| (n as u32 * font::ADVANCE).saturating_sub(1) * s;

    // Code: the largest scale at which it fits on the fewest lines, as in the SVG.
    let code = ascii_text(&clean_text(&label.code));
    let max_scale = scale_for(CODE_MAX_FONT_MM);
    let min_scale = scale_for(CODE_MIN_FONT_MM);
    let (code_lines, scale) = code_lines(&code, |cap| {
        (min_scale..=max_scale)
            .rev()
            .find(|&s| span(cap, s) <= text_w)
    })
    .unwrap_or_else(|| {
        // A long code on a small PNG: the smallest type, as many lines as it takes.
        let cap = ((text_w + 1) / font::ADVANCE).max(1) as usize;
        (break_code(&code, cap, false), 1)
    });
    let mut y = px(MARGIN_MM + 0.5);
    for line in &code_lines {
        canvas.text(text_x, y, scale, line);
        y += (font::GLYPH_H + 1) * scale;
    }
    let code_bottom = y;

    // Company at the bottom; its descender row ends at the margin.
    let company = ascii_text(&clean_text(&label.company));
    let cs = scale_for(COMPANY_FONT_MM);
    let company_top = height.saturating_sub(px(MARGIN_MM) + font::GLYPH_H * cs);
    if !company.is_empty() {
        let line = fit(
            &company,
            f64::from(text_w),
            |t| f64::from(span(t.chars().count(), cs)),
            "...",
        );
        canvas.text(text_x, company_top, cs, &line);
    }

    // Name lines in between, as many as fit.
    let ns = scale_for(NAME_FONT_MM);
    let first = code_bottom + px(0.8);
    let step = (font::GLYPH_H + 2) * ns;
    let limit = company_top.saturating_sub(px(0.8));
    let mut room = 0;
    while room < NAME_MAX_LINES && first + room as u32 * step + font::GLYPH_H * ns <= limit {
        room += 1;
    }
    let name = ascii_text(&clean_text(&label.name));
    let name_lines = wrap(
        &name,
        f64::from(text_w),
        room,
        |t| f64::from(span(t.chars().count(), ns)),
        "...",
    );
    for (i, line) in name_lines.iter().enumerate() {
        canvas.text(text_x, first + i as u32 * step, ns, line);
    }
    Ok(canvas.img)
}

/// `s` in the characters the bitmap font has.
fn ascii_text(s: &str) -> String {
    s.chars().map(font::ascii_fallback).collect()
}

/// A white image to draw black on, clipping at its edges.
struct Canvas {
    img: GrayImage,
}

impl Canvas {
    fn new(width: u32, height: u32) -> Canvas {
        Canvas {
            img: GrayImage::from_pixel(width, height, Luma([255])),
        }
    }

    fn fill(&mut self, x: u32, y: u32, w: u32, h: u32) {
        let x_end = x.saturating_add(w).min(self.img.width());
        let y_end = y.saturating_add(h).min(self.img.height());
        for py in y..y_end {
            for px in x..x_end {
                self.img.put_pixel(px, py, Luma([0]));
            }
        }
    }

    /// Draws `text` (printable ASCII) with its top-left corner at `x`, `y`, each font pixel
    /// `scale` pixels square.
    fn text(&mut self, x: u32, y: u32, scale: u32, text: &str) {
        for (i, c) in text.chars().enumerate() {
            let gx = x + i as u32 * font::ADVANCE * scale;
            for (row, bits) in font::glyph(c).iter().enumerate() {
                for col in 0..font::GLYPH_W {
                    if bits & (1 << (font::GLYPH_W - 1 - col)) != 0 {
                        self.fill(gx + col * scale, y + row as u32 * scale, scale, scale);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

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
