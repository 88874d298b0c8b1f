//! Image operations used by the preprocessing ladder.
//!
//! Everything works on 8-bit grey images and is written as plain loops over
//! the raw buffer (no per-pixel trait calls), so that one pass over a
//! megapixel image costs a few milliseconds at most.
//!
//! Binarizers return a [`Bitmap`] (`1` = dark module, `0` = light) that is
//! handed to rqrr without its own thresholding.

use image::{imageops::FilterType, GrayImage};

/// A binarized image: one byte per pixel, `1` = black.
#[derive(Debug, Clone)]
pub(crate) struct Bitmap {
    pub w: usize,
    pub h: usize,
    pub bits: Vec<u8>,
}

impl Bitmap {
    /// True if the pixel at (`x`, `y`) is black; both must be in range.
    pub(crate) fn black(&self, x: usize, y: usize) -> bool {
        self.bits[y * self.w + x] != 0
    }

    fn from_fn(img: &GrayImage, mut black: impl FnMut(usize, usize, u8) -> bool) -> Self {
        let (w, h) = dims(img);
        let src = img.as_raw();
        let mut bits = vec![0u8; w * h];
        for y in 0..h {
            let row = &src[y * w..(y + 1) * w];
            let out = &mut bits[y * w..(y + 1) * w];
            for (x, (&p, o)) in row.iter().zip(out.iter_mut()).enumerate() {
                *o = u8::from(black(x, y, p));
            }
        }
        Self { w, h, bits }
    }
}

fn dims(img: &GrayImage) -> (usize, usize) {
    (img.width() as usize, img.height() as usize)
}

/// Long side of an image.
pub(crate) fn long_side(img: &GrayImage) -> u32 {
    img.width().max(img.height())
}

/// Downscales so that the long side is at most `target`, by averaging each
/// source area (a box filter). This is both fast (one pass, integer maths)
/// and the right filter for shrinking: every source pixel contributes, so
/// thin QR modules are not skipped the way nearest-neighbour would skip them.
pub(crate) fn downscale_to(img: &GrayImage, target: u32) -> GrayImage {
    let (w, h) = dims(img);
    let long = w.max(h);
    let target = target.max(1) as usize;
    if long <= target {
        return img.clone();
    }
    let nw = ((w * target).div_ceil(long)).max(1);
    let nh = ((h * target).div_ceil(long)).max(1);
    let src = img.as_raw();
    // Column boundaries of each output pixel.
    let xb: Vec<usize> = (0..=nw).map(|i| i * w / nw).collect();
    let mut out = vec![0u8; nw * nh];
    let mut acc = vec![0u32; nw];
    for oy in 0..nh {
        let y0 = oy * h / nh;
        let y1 = ((oy + 1) * h / nh).max(y0 + 1);
        acc.fill(0);
        for y in y0..y1 {
            let row = &src[y * w..(y + 1) * w];
            for (ox, a) in acc.iter_mut().enumerate() {
                let (x0, x1) = (xb[ox], xb[ox + 1].max(xb[ox] + 1));
                *a += row[x0..x1].iter().map(|&p| u32::from(p)).sum::<u32>();
            }
        }
        for (ox, &a) in acc.iter().enumerate() {
            let cols = (xb[ox + 1].max(xb[ox] + 1) - xb[ox]) as u32;
            let n = cols * (y1 - y0) as u32;
            out[oy * nw + ox] = ((a + n / 2) / n) as u8;
        }
    }
    GrayImage::from_raw(nw as u32, nh as u32, out).unwrap_or_else(|| img.clone())
}

/// Upscales by `factor` with bilinear interpolation. Small codes (modules of
/// one or two pixels) are below what rqrr's finder-pattern scan can resolve;
/// interpolating gives it sub-module edges to threshold against.
pub(crate) fn upscale(img: &GrayImage, factor: f32) -> GrayImage {
    let nw = ((img.width() as f32 * factor).round() as u32).max(1);
    let nh = ((img.height() as f32 * factor).round() as u32).max(1);
    image::imageops::resize(img, nw, nh, FilterType::Triangle)
}

/// Upscales by an integer factor, replicating pixels. For synthetic or
/// screenshot codes at one or two pixels per module, this keeps module edges
/// perfectly sharp where interpolation would blur them into grey.
pub(crate) fn upscale_nearest(img: &GrayImage, factor: u32) -> GrayImage {
    let f = factor.max(1);
    let (w, h) = dims(img);
    let fu = f as usize;
    let src = img.as_raw();
    let nw = w * fu;
    let mut out = Vec::with_capacity(nw * h * fu);
    let mut row = Vec::with_capacity(nw);
    for y in 0..h {
        row.clear();
        for &p in &src[y * w..(y + 1) * w] {
            row.extend(std::iter::repeat_n(p, fu));
        }
        for _ in 0..fu {
            out.extend_from_slice(&row);
        }
    }
    GrayImage::from_raw(img.width() * f, img.height() * f, out).unwrap_or_else(|| img.clone())
}

/// Surrounds the image with a light border `border` pixels wide, using the
/// 95th-percentile grey as the border colour. Cropped screenshots often cut
/// the quiet zone off; rqrr's finder scan needs light around the finder
/// patterns to recognise them.
pub(crate) fn pad(img: &GrayImage, border: u32) -> GrayImage {
    let hist = histogram(img);
    let total: u64 = hist.iter().map(|&c| u64::from(c)).sum();
    let mut acc = 0u64;
    let mut light = 255u8;
    for (i, &c) in hist.iter().enumerate() {
        acc += u64::from(c);
        if acc * 100 >= total * 95 {
            light = i as u8;
            break;
        }
    }
    let (w, h) = (img.width(), img.height());
    let mut out = GrayImage::from_pixel(w + 2 * border, h + 2 * border, image::Luma([light]));
    image::imageops::replace(&mut out, img, i64::from(border), i64::from(border));
    out
}

/// 3×3 minimum (`darken = true`, grows dark areas) or maximum filter.
/// Growing dark areas joins dotted or thin modules (stylised "dot" codes,
/// faint thermal prints) into the solid blocks the detector expects;
/// shrinking them separates modules that ink bleed has merged.
pub(crate) fn morph3(img: &GrayImage, darken: bool) -> GrayImage {
    let (w, h) = dims(img);
    if w < 3 || h < 3 {
        return img.clone();
    }
    let pick = |a: u8, b: u8| if darken { a.min(b) } else { a.max(b) };
    let src = img.as_raw();
    let mut tmp = vec![0u8; w * h];
    for y in 0..h {
        let row = &src[y * w..(y + 1) * w];
        for x in 0..w {
            let l = row[x.saturating_sub(1)];
            let r = row[(x + 1).min(w - 1)];
            tmp[y * w + x] = pick(pick(l, row[x]), r);
        }
    }
    let mut out = vec![0u8; w * h];
    for y in 0..h {
        let (ya, yb) = (y.saturating_sub(1), (y + 1).min(h - 1));
        for x in 0..w {
            out[y * w + x] = pick(pick(tmp[ya * w + x], tmp[y * w + x]), tmp[yb * w + x]);
        }
    }
    GrayImage::from_raw(w as u32, h as u32, out).unwrap_or_else(|| img.clone())
}

/// Rotates by `degrees` about the centre (bilinear, white fill), growing the
/// canvas so nothing is cut off.
pub(crate) fn rotate(img: &GrayImage, degrees: f32) -> GrayImage {
    let (w, h) = (img.width() as f32, img.height() as f32);
    let (s, c) = degrees.to_radians().sin_cos();
    let nw = (w * c.abs() + h * s.abs()).ceil() as u32;
    let nh = (w * s.abs() + h * c.abs()).ceil() as u32;
    let (cx, cy) = (w / 2.0, h / 2.0);
    let (ncx, ncy) = (nw as f32 / 2.0, nh as f32 / 2.0);
    let (iw, ih) = (img.width() as i64, img.height() as i64);
    let src = img.as_raw();
    let px = |x: i64, y: i64| -> f32 {
        if x < 0 || y < 0 || x >= iw || y >= ih {
            255.0
        } else {
            f32::from(src[(y * iw + x) as usize])
        }
    };
    GrayImage::from_fn(nw, nh, |x, y| {
        let dx = x as f32 + 0.5 - ncx;
        let dy = y as f32 + 0.5 - ncy;
        let sx = c * dx + s * dy + cx - 0.5;
        let sy = -s * dx + c * dy + cy - 0.5;
        let (x0, y0) = (sx.floor(), sy.floor());
        let (fx, fy) = (sx - x0, sy - y0);
        let (x0, y0) = (x0 as i64, y0 as i64);
        let top = px(x0, y0) * (1.0 - fx) + px(x0 + 1, y0) * fx;
        let bot = px(x0, y0 + 1) * (1.0 - fx) + px(x0 + 1, y0 + 1) * fx;
        image::Luma([(top * (1.0 - fy) + bot * fy).round().clamp(0.0, 255.0) as u8])
    })
}

/// Histogram of an image.
fn histogram(img: &GrayImage) -> [u32; 256] {
    let mut hist = [0u32; 256];
    for &p in img.as_raw() {
        hist[usize::from(p)] += 1;
    }
    hist
}

/// Linear contrast stretch between the 1st and 99th percentile. Photos of
/// faded or dusty labels often span only a narrow grey band; stretching it
/// restores the dark/light separation that thresholds rely on.
pub(crate) fn stretch_contrast(img: &GrayImage) -> GrayImage {
    let hist = histogram(img);
    let total: u64 = hist.iter().map(|&c| u64::from(c)).sum();
    let cut = total / 100;
    let (mut lo, mut hi) = (0usize, 255usize);
    let mut acc = 0u64;
    for (i, &c) in hist.iter().enumerate() {
        acc += u64::from(c);
        if acc > cut {
            lo = i;
            break;
        }
    }
    acc = 0;
    for (i, &c) in hist.iter().enumerate().rev() {
        acc += u64::from(c);
        if acc > cut {
            hi = i;
            break;
        }
    }
    if hi <= lo + 1 {
        return img.clone();
    }
    let span = (hi - lo) as u32;
    let lut: Vec<u8> = (0..256usize)
        .map(|v| {
            let v = v.clamp(lo, hi) - lo;
            ((v as u32 * 255 + span / 2) / span) as u8
        })
        .collect();
    map_lut(img, &lut)
}

fn map_lut(img: &GrayImage, lut: &[u8]) -> GrayImage {
    let data = img.as_raw().iter().map(|&p| lut[usize::from(p)]).collect();
    GrayImage::from_raw(img.width(), img.height(), data).unwrap_or_else(|| img.clone())
}

/// Inverts an image. QR codes printed light-on-dark (engraved metal plates,
/// dark-mode screens) have light finder patterns that rqrr cannot see.
pub(crate) fn invert(img: &GrayImage) -> GrayImage {
    let data = img.as_raw().iter().map(|&p| 255 - p).collect();
    GrayImage::from_raw(img.width(), img.height(), data).unwrap_or_else(|| img.clone())
}

/// 3×3 box blur (separable). Sensor noise, JPEG ringing and dust speckles
/// break finder patterns into fragments after thresholding; a light blur
/// merges them back without moving module edges much.
pub(crate) fn box_blur3(img: &GrayImage) -> GrayImage {
    let (w, h) = dims(img);
    if w < 3 || h < 3 {
        return img.clone();
    }
    let src = img.as_raw();
    let mut tmp = vec![0u16; w * h];
    for y in 0..h {
        let row = &src[y * w..(y + 1) * w];
        for x in 0..w {
            let l = row[x.saturating_sub(1)];
            let r = row[(x + 1).min(w - 1)];
            tmp[y * w + x] = u16::from(l) + u16::from(row[x]) + u16::from(r);
        }
    }
    let mut out = vec![0u8; w * h];
    for y in 0..h {
        let (ya, yb) = (y.saturating_sub(1), (y + 1).min(h - 1));
        for x in 0..w {
            let s = tmp[ya * w + x] + tmp[y * w + x] + tmp[yb * w + x];
            out[y * w + x] = ((s + 4) / 9) as u8;
        }
    }
    GrayImage::from_raw(w as u32, h as u32, out).unwrap_or_else(|| img.clone())
}

/// Otsu's global threshold: the level that best separates the histogram
/// into two classes. Works when lighting is even (screenshots, scans, flash
/// photos) and is immune to the "large dark area" failure of local methods.
pub(crate) fn otsu_level(img: &GrayImage) -> u8 {
    let hist = histogram(img);
    let total: f64 = hist.iter().map(|&c| f64::from(c)).sum();
    let sum_all: f64 = hist
        .iter()
        .enumerate()
        .map(|(i, &c)| i as f64 * f64::from(c))
        .sum();
    let (mut w_b, mut sum_b, mut best, mut best_t) = (0.0f64, 0.0f64, -1.0f64, 128u8);
    for (t, &c) in hist.iter().enumerate() {
        w_b += f64::from(c);
        if w_b == 0.0 {
            continue;
        }
        let w_f = total - w_b;
        if w_f == 0.0 {
            break;
        }
        sum_b += t as f64 * f64::from(c);
        let m_b = sum_b / w_b;
        let m_f = (sum_all - sum_b) / w_f;
        let between = w_b * w_f * (m_b - m_f) * (m_b - m_f);
        if between > best {
            best = between;
            best_t = t as u8;
        }
    }
    best_t
}

/// Global threshold: pixels `<= level` are black.
pub(crate) fn threshold(img: &GrayImage, level: u8) -> Bitmap {
    Bitmap::from_fn(img, |_, _, p| p <= level)
}

/// Summed-area tables of values and squared values, `(w+1)*(h+1)`, so any
/// window mean/variance costs four lookups regardless of window size.
struct Integral {
    w1: usize,
    sum: Vec<u64>,
    sq: Vec<u64>,
}

impl Integral {
    fn new(img: &GrayImage, with_sq: bool) -> Self {
        let (w, h) = dims(img);
        let w1 = w + 1;
        let src = img.as_raw();
        let mut sum = vec![0u64; w1 * (h + 1)];
        let mut sq = if with_sq {
            vec![0u64; w1 * (h + 1)]
        } else {
            Vec::new()
        };
        for y in 0..h {
            let (mut rs, mut rq) = (0u64, 0u64);
            for x in 0..w {
                let p = u64::from(src[y * w + x]);
                rs += p;
                sum[(y + 1) * w1 + x + 1] = sum[y * w1 + x + 1] + rs;
                if with_sq {
                    rq += p * p;
                    sq[(y + 1) * w1 + x + 1] = sq[y * w1 + x + 1] + rq;
                }
            }
        }
        Self { w1, sum, sq }
    }

    fn rect(t: &[u64], w1: usize, x0: usize, y0: usize, x1: usize, y1: usize) -> u64 {
        t[y1 * w1 + x1] + t[y0 * w1 + x0] - t[y0 * w1 + x1] - t[y1 * w1 + x0]
    }
}

/// Window bounds clamped to the image.
fn window(c: usize, r: usize, n: usize) -> (usize, usize) {
    (c.saturating_sub(r), (c + r + 1).min(n))
}

/// Local-mean threshold: black if darker than `(100 - pct)%` of the mean of
/// a `2r+1` window. Handles shadows and gradients across the label that
/// defeat a global level.
pub(crate) fn adaptive_mean(img: &GrayImage, r: usize, pct: u64) -> Bitmap {
    let (w, h) = dims(img);
    let ii = Integral::new(img, false);
    Bitmap::from_fn(img, |x, y, p| {
        let (x0, x1) = window(x, r, w);
        let (y0, y1) = window(y, r, h);
        let n = ((x1 - x0) * (y1 - y0)) as u64;
        let s = Integral::rect(&ii.sum, ii.w1, x0, y0, x1, y1);
        u64::from(p) * n * 100 < s * (100 - pct)
    })
}

/// Sauvola threshold `T = m * (1 + k * (s / 128 - 1))`: like the local mean,
/// but in flat (low-variance) areas the threshold drops well below the mean,
/// so noise and dust on a white background stay white.
pub(crate) fn sauvola(img: &GrayImage, r: usize, k: f64) -> Bitmap {
    let (w, h) = dims(img);
    let ii = Integral::new(img, true);
    Bitmap::from_fn(img, |x, y, p| {
        let (x0, x1) = window(x, r, w);
        let (y0, y1) = window(y, r, h);
        let n = ((x1 - x0) * (y1 - y0)) as f64;
        let s = Integral::rect(&ii.sum, ii.w1, x0, y0, x1, y1) as f64;
        let q = Integral::rect(&ii.sq, ii.w1, x0, y0, x1, y1) as f64;
        let m = s / n;
        let sd = (q / n - m * m).max(0.0).sqrt();
        f64::from(p) < m * (1.0 + k * (sd / 128.0 - 1.0))
    })
}

/// zxing's HybridBinarizer: 8×8 blocks, each thresholded at the average of
/// the 5×5 surrounding block means; low-contrast blocks assume a light
/// background. This is the binarizer behind zxing-cpp's decode rate and it
/// is robust to both gradients and large uniform areas.
pub(crate) fn hybrid(img: &GrayImage) -> Bitmap {
    const BS: usize = 8;
    const MIN_RANGE: u32 = 24;
    let (w, h) = dims(img);
    if w < BS * 5 || h < BS * 5 {
        return threshold(img, otsu_level(img));
    }
    let src = img.as_raw();
    let bw = w.div_ceil(BS);
    let bh = h.div_ceil(BS);
    let mut avg = vec![0u32; bw * bh];
    for by in 0..bh {
        let y0 = (by * BS).min(h - BS);
        for bx in 0..bw {
            let x0 = (bx * BS).min(w - BS);
            let (mut sum, mut mn, mut mx) = (0u32, 255u32, 0u32);
            for y in y0..y0 + BS {
                for &p in &src[y * w + x0..y * w + x0 + BS] {
                    let p = u32::from(p);
                    sum += p;
                    mn = mn.min(p);
                    mx = mx.max(p);
                }
            }
            let mut a = sum / (BS * BS) as u32;
            if mx - mn <= MIN_RANGE {
                a = mn / 2;
                if by > 0 && bx > 0 {
                    let nb = (avg[(by - 1) * bw + bx]
                        + 2 * avg[by * bw + bx - 1]
                        + avg[(by - 1) * bw + bx - 1])
                        / 4;
                    if mn < nb {
                        a = nb;
                    }
                }
            }
            avg[by * bw + bx] = a;
        }
    }
    let mut bits = vec![0u8; w * h];
    for by in 0..bh {
        let y0 = (by * BS).min(h - BS);
        let cy = by.clamp(2, bh.saturating_sub(3).max(2));
        for bx in 0..bw {
            let x0 = (bx * BS).min(w - BS);
            let cx = bx.clamp(2, bw.saturating_sub(3).max(2));
            let mut sum = 0u32;
            for yy in cy.saturating_sub(2)..(cy + 3).min(bh) {
                for xx in cx.saturating_sub(2)..(cx + 3).min(bw) {
                    sum += avg[yy * bw + xx];
                }
            }
            let t = sum / 25;
            for y in y0..y0 + BS {
                for x in x0..x0 + BS {
                    bits[y * w + x] = u8::from(u32::from(src[y * w + x]) <= t);
                }
            }
        }
    }
    Bitmap { w, h, bits }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn downscale_keeps_aspect_and_mean() {
        let img = GrayImage::from_fn(400, 200, |x, _| {
            image::Luma([if x < 200 { 0 } else { 200 }])
        });
        let small = downscale_to(&img, 100);
        assert_eq!((small.width(), small.height()), (100, 50));
        assert_eq!(small.get_pixel(10, 10).0[0], 0);
        assert_eq!(small.get_pixel(90, 10).0[0], 200);
    }

    #[test]
    fn otsu_splits_bimodal() {
        let img = GrayImage::from_fn(10, 10, |x, _| image::Luma([if x < 5 { 40 } else { 210 }]));
        let t = otsu_level(&img);
        assert!((40..210).contains(&t));
    }

    #[test]
    fn adaptive_binarizers_find_dark_square() {
        let img = GrayImage::from_fn(64, 64, |x, y| {
            let dark = (20..40).contains(&x) && (20..40).contains(&y);
            image::Luma([if dark { 30 } else { 220 }])
        });
        for bm in [
            adaptive_mean(&img, 15, 10),
            sauvola(&img, 15, 0.2),
            hybrid(&img),
        ] {
            assert_eq!(bm.bits[30 * 64 + 30], 1);
            assert_eq!(bm.bits[5 * 64 + 5], 0);
        }
    }
}
