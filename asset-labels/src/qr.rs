//! QR symbols: encoding a label URL, and reading the symbols back out of an SVG (tests prove
//! that what is printed is what was encoded).

use super::*;

/// A QR symbol as a square of modules, without its quiet zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QrMatrix {
    pub(crate) width: usize,
    pub(crate) dark: Vec<bool>,
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
    pub(crate) fn svg_path(&self) -> String {
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
pub(crate) fn parse_qr_path(s: &str) -> Option<QrMatrix> {
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
