//! Labels and A4 sheets as SVG, drawn in millimetres so they print at their true size.

use super::*;

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

/// A QR symbol of `payload` alone (level Q, with its quiet zone) as a standalone SVG document
/// for a screen, `size_px` pixels square (at least one pixel per module): for example an
/// authenticator app's enrolment code. The symbol is the same `<path class="qr">` as on
/// labels, so [`qr_matrices_in_svg`] reads it back.
pub fn qr_svg(payload: &str, size_px: u32) -> Result<String, LabelError> {
    let qr = QrMatrix::encode(payload)?;
    let side = qr.width() + 2 * QUIET_ZONE;
    let size = size_px.max(side as u32);
    let mut svg = String::with_capacity(4 * 1024);
    let _ = writeln!(
        svg,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"{size}\" height=\"{size}\" viewBox=\"0 0 {side} {side}\">"
    );
    let _ = writeln!(
        svg,
        "<rect width=\"{side}\" height=\"{side}\" fill=\"#fff\"/>"
    );
    let _ = writeln!(
        svg,
        "<g transform=\"translate({q} {q})\"><path class=\"qr\" data-modules=\"{n}\" d=\"{d}\" fill=\"#000\" shape-rendering=\"crispEdges\"/></g>",
        q = QUIET_ZONE,
        n = qr.width(),
        d = qr.svg_path(),
    );
    svg.push_str("</svg>\n");
    Ok(svg)
}

/// The elements of one label in a 70 × 37 mm user space.
pub(crate) fn label_body(label: &Label) -> Result<String, LabelError> {
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
pub(crate) fn num(x: f64) -> String {
    trim_decimals(format!("{x:.3}"))
}

/// Like [`num`] with six decimals, for the module scale, whose rounding error is multiplied by
/// the width of the symbol.
pub(crate) fn num6(x: f64) -> String {
    trim_decimals(format!("{x:.6}"))
}

pub(crate) fn trim_decimals(s: String) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s
    }
}
