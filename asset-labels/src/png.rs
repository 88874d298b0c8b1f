//! Labels as 1-bit PNG images for label printers, with the built-in bitmap font.

use super::*;

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
pub(crate) fn ascii_text(s: &str) -> String {
    s.chars().map(font::ascii_fallback).collect()
}

/// A white image to draw black on, clipping at its edges.
pub(crate) struct Canvas {
    pub(crate) img: GrayImage,
}

impl Canvas {
    pub(crate) fn new(width: u32, height: u32) -> Canvas {
        Canvas {
            img: GrayImage::from_pixel(width, height, Luma([255])),
        }
    }

    pub(crate) fn fill(&mut self, x: u32, y: u32, w: u32, h: u32) {
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
    pub(crate) fn text(&mut self, x: u32, y: u32, scale: u32, text: &str) {
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
