//! A second way to locate a code in a binarized image: zxing-style finder
//! pattern search, our own module sampling through a perspective transform,
//! and rqrr for everything after the bits (format info, Reed–Solomon, payload).
//!
//! Why: rqrr's locator needs each finder pattern as a solid connected ring
//! around a connected centre, locates the grid size by walking the timing
//! pattern pixel by pixel and the fourth corner by finding the alignment
//! pattern as one connected region of the expected size. That fails on codes
//! whose finder patterns are drawn as circles or whose modules are dots, on
//! codes whose alignment pattern is covered by a logo, and on codes at one
//! or two pixels per module. This locator instead
//!
//! - finds finder patterns by their 1:1:3:1:1 run-length signature across
//!   and down the pattern (true for circles too), merging hits row by row;
//! - takes the module size from the patterns and the version from the
//!   distance between them (trying the neighbouring versions as well);
//! - models perspective from the patterns' relative sizes, finds the
//!   alignment pattern by template matching around its predicted place, and
//!   falls back to the modelled fourth corner when there is none (version 1,
//!   or covered by a logo);
//! - reads each module as the share of dark pixels around its centre,
//!   thresholded per grid, which also reads dot-style modules.
//!
//! Only a grid that rqrr decodes with valid format information and
//! Reed–Solomon blocks counts, as for every other ladder step.

use super::preprocess::Bitmap;
use super::quiet_panic;

/// A finder-pattern candidate: centre in pixels, module size, and how many
/// scan rows confirmed it.
#[derive(Debug, Clone, Copy)]
struct Finder {
    x: f64,
    y: f64,
    module: f64,
    hits: u32,
}

/// Candidates beyond this many (most-confirmed first) are ignored: a photo
/// full of texture produces many 1:1:3:1:1 hits, and triples grow cubically.
const MAX_FINDERS: usize = 12;
/// At most this many triples get a sampling attempt per image.
const MAX_TRIPLES: usize = 24;

/// One decoded grid: payload bytes and rqrr's metadata.
pub(crate) struct FinderCode {
    pub bytes: Vec<u8>,
    pub version: usize,
    pub ecc_level: u16,
}

/// What one run of this locator produced.
#[derive(Default)]
pub(crate) struct FinderOutcome {
    pub codes: Vec<FinderCode>,
    /// Panics caught inside rqrr's decoder.
    pub panics: u32,
    /// Plausible grids (timing patterns in place) that did not decode.
    pub grids_failed: u32,
}

/// What became of one triple of finder patterns.
enum Triple {
    Decoded(FinderCode),
    /// A plausible grid (timing patterns in place) that did not decode.
    Failed,
    /// No sampled grid looked like a code.
    NoGrid,
}

/// Locates codes by their finder patterns in `bm` and decodes them.
pub(crate) fn locate_and_decode(bm: &Bitmap) -> FinderOutcome {
    let mut out = FinderOutcome::default();
    let mut finders = find_finders(bm);
    finders.sort_by_key(|f| std::cmp::Reverse(f.hits));
    finders.truncate(MAX_FINDERS);
    let mut used = vec![false; finders.len()];
    let mut failed = Vec::new();
    for t in ranked_triples(&finders).into_iter().take(MAX_TRIPLES) {
        let (i, j, k) = t;
        if used[i] || used[j] || used[k] {
            continue;
        }
        match decode_triple(bm, finders[i], finders[j], finders[k], &mut out.panics) {
            Triple::Decoded(code) => {
                used[i] = true;
                used[j] = true;
                used[k] = true;
                if !code.bytes.is_empty() && !out.codes.iter().any(|c| c.bytes == code.bytes) {
                    out.codes.push(code);
                }
            }
            Triple::Failed => failed.push(t),
            Triple::NoGrid => {}
        }
    }
    // A failed triple sharing a pattern with a decoded code was a wrong
    // pairing, not a missed code.
    out.grids_failed = failed
        .iter()
        .filter(|&&(i, j, k)| !(used[i] || used[j] || used[k]))
        .count() as u32;
    out
}

// ---------------------------------------------------------------------------
// Finder patterns

/// True if five run lengths look like 1:1:3:1:1 (each within half a module,
/// as in zxing).
fn is_finder_ratio(c: &[usize; 5]) -> bool {
    let total: usize = c.iter().sum();
    if total < 7 || c.contains(&0) {
        return false;
    }
    let m = total as f64 / 7.0;
    let tol = m / 2.0;
    let near = |v: usize, n: f64| (v as f64 - n * m).abs() < n * tol;
    near(c[0], 1.0) && near(c[1], 1.0) && near(c[2], 3.0) && near(c[3], 1.0) && near(c[4], 1.0)
}

/// Centre of the middle run, from the position just past the last run.
fn centre_from_end(c: &[usize; 5], end: usize) -> f64 {
    end as f64 - c[4] as f64 - c[3] as f64 - c[2] as f64 / 2.0
}

/// Scans every row for 1:1:3:1:1 runs and confirms each hit down the column
/// and across the row through its centre.
fn find_finders(bm: &Bitmap) -> Vec<Finder> {
    let mut found: Vec<Finder> = Vec::new();
    for y in 0..bm.h {
        let mut c = [0usize; 5];
        let mut state = 0usize;
        for x in 0..bm.w {
            if bm.black(x, y) {
                if state & 1 == 1 {
                    state += 1;
                }
                c[state] += 1;
            } else if state & 1 == 1 {
                c[state] += 1;
            } else if state == 4 {
                if is_finder_ratio(&c) {
                    confirm_candidate(bm, &c, x, y, &mut found);
                }
                // Keep the last black-white pair as the start of the next try.
                c = [c[2], c[3], c[4], 1, 0];
                state = 3;
            } else {
                state += 1;
                c[state] += 1;
            }
        }
        if state == 4 && is_finder_ratio(&c) {
            confirm_candidate(bm, &c, bm.w, y, &mut found);
        }
    }
    found
}

fn confirm_candidate(bm: &Bitmap, c: &[usize; 5], end: usize, y: usize, found: &mut Vec<Finder>) {
    let total: usize = c.iter().sum();
    let cx = centre_from_end(c, end);
    let Some((cy, vtotal)) = cross_check(bm, cx as usize, y, c[2], total, true) else {
        return;
    };
    let Some((cx, htotal)) = cross_check(bm, cx as usize, cy as usize, c[2], total, false) else {
        return;
    };
    let module = (total + vtotal + htotal) as f64 / 21.0;
    for f in found.iter_mut() {
        if (f.x - cx).abs() <= module
            && (f.y - cy).abs() <= module
            && (f.module - module).abs() <= module.max(f.module) * 0.5
        {
            let n = f64::from(f.hits);
            f.x = (f.x * n + cx) / (n + 1.0);
            f.y = (f.y * n + cy) / (n + 1.0);
            f.module = (f.module * n + module) / (n + 1.0);
            f.hits += 1;
            return;
        }
    }
    found.push(Finder {
        x: cx,
        y: cy,
        module,
        hits: 1,
    });
}

/// Walks from (`x`, `y`) along a column (`vertical`) or row both ways and
/// checks the runs are 1:1:3:1:1 of a similar total. Returns the centre
/// coordinate along that line and the total length.
fn cross_check(
    bm: &Bitmap,
    x: usize,
    y: usize,
    max_count: usize,
    original_total: usize,
    vertical: bool,
) -> Option<(f64, usize)> {
    let (len, pos) = if vertical { (bm.h, y) } else { (bm.w, x) };
    if x >= bm.w || y >= bm.h {
        return None;
    }
    let at = |i: usize| {
        if vertical {
            bm.black(x, i)
        } else {
            bm.black(i, y)
        }
    };
    let max_count = max_count * 2;
    let mut c = [0usize; 5];
    // Backwards: centre, white ring, black ring.
    let mut i = pos as isize;
    while i >= 0 && at(i as usize) {
        c[2] += 1;
        i -= 1;
    }
    if i < 0 {
        return None;
    }
    while i >= 0 && !at(i as usize) && c[1] <= max_count {
        c[1] += 1;
        i -= 1;
    }
    if i < 0 || c[1] > max_count {
        return None;
    }
    while i >= 0 && at(i as usize) && c[0] <= max_count {
        c[0] += 1;
        i -= 1;
    }
    if c[0] > max_count {
        return None;
    }
    // Forwards.
    let mut j = pos + 1;
    while j < len && at(j) {
        c[2] += 1;
        j += 1;
    }
    if j == len {
        return None;
    }
    while j < len && !at(j) && c[3] <= max_count {
        c[3] += 1;
        j += 1;
    }
    if j == len || c[3] > max_count {
        return None;
    }
    while j < len && at(j) && c[4] <= max_count {
        c[4] += 1;
        j += 1;
    }
    if c[4] > max_count {
        return None;
    }
    let total: usize = c.iter().sum();
    if 5 * total.abs_diff(original_total) >= 2 * original_total {
        return None;
    }
    is_finder_ratio(&c).then(|| (centre_from_end(&c, j), total))
}

// ---------------------------------------------------------------------------
// Triples

/// Plausible (top-left, top-right, bottom-left) triples, best-shaped first:
/// similar module sizes, two legs of similar length at roughly a right angle.
fn ranked_triples(f: &[Finder]) -> Vec<(usize, usize, usize)> {
    let mut out: Vec<(f64, (usize, usize, usize))> = Vec::new();
    let n = f.len();
    for a in 0..n {
        for b in a + 1..n {
            for c in b + 1..n {
                let [p, q, r] = [f[a], f[b], f[c]];
                let ms = [p.module, q.module, r.module];
                let (mn, mx) = ms
                    .iter()
                    .fold((f64::MAX, 0.0f64), |(lo, hi), &m| (lo.min(m), hi.max(m)));
                if mx > mn * 1.6 {
                    continue;
                }
                // The corner (top-left) is opposite the longest side.
                let d = |u: Finder, v: Finder| ((u.x - v.x).powi(2) + (u.y - v.y).powi(2)).sqrt();
                let (dab, dbc, dac) = (d(p, q), d(q, r), d(p, r));
                let (tl, o1, o2) = if dbc >= dab && dbc >= dac {
                    (a, b, c)
                } else if dac >= dab && dac >= dbc {
                    (b, a, c)
                } else {
                    (c, a, b)
                };
                let t = f[tl];
                let (u, v) = (f[o1], f[o2]);
                let (ux, uy, vx, vy) = (u.x - t.x, u.y - t.y, v.x - t.x, v.y - t.y);
                let (lu, lv) = (ux.hypot(uy), vx.hypot(vy));
                if lu.max(lv) > lu.min(lv) * 1.6 {
                    continue;
                }
                let cos = (ux * vx + uy * vy) / (lu * lv);
                if cos.abs() > 0.5 {
                    continue;
                }
                let module = (mn + mx) / 2.0;
                if lu.min(lv) / module < 9.0 {
                    continue;
                }
                // Top-right is clockwise from top-left (y grows downwards).
                let (tr, bl) = if ux * vy - uy * vx > 0.0 {
                    (o1, o2)
                } else {
                    (o2, o1)
                };
                let score = (lu / lv).ln().abs() + cos.abs() + (mx / mn).ln();
                out.push((score, (tl, tr, bl)));
            }
        }
    }
    out.sort_by(|a, b| a.0.total_cmp(&b.0));
    out.into_iter().map(|(_, t)| t).collect()
}

// ---------------------------------------------------------------------------
// Geometry

/// A projective map, `[x y w]ᵀ = M [u v 1]ᵀ`.
#[derive(Debug, Clone, Copy)]
struct Homography([f64; 9]);

impl Homography {
    /// The map taking the unit square's corners (0,0), (1,0), (1,1), (0,1)
    /// to `q` (zxing's `squareToQuadrilateral`).
    fn square_to_quad(q: [(f64, f64); 4]) -> Option<Self> {
        let [(x0, y0), (x1, y1), (x2, y2), (x3, y3)] = q;
        let dx3 = x0 - x1 + x2 - x3;
        let dy3 = y0 - y1 + y2 - y3;
        if dx3.abs() < 1e-9 && dy3.abs() < 1e-9 {
            return Some(Self([
                x1 - x0,
                x3 - x0,
                x0,
                y1 - y0,
                y3 - y0,
                y0,
                0.0,
                0.0,
                1.0,
            ]));
        }
        let (dx1, dx2, dy1, dy2) = (x1 - x2, x3 - x2, y1 - y2, y3 - y2);
        let den = dx1 * dy2 - dx2 * dy1;
        if den.abs() < 1e-12 {
            return None;
        }
        let g = (dx3 * dy2 - dx2 * dy3) / den;
        let h = (dx1 * dy3 - dx3 * dy1) / den;
        Some(Self([
            x1 - x0 + g * x1,
            x3 - x0 + h * x3,
            x0,
            y1 - y0 + g * y1,
            y3 - y0 + h * y3,
            y0,
            g,
            h,
            1.0,
        ]))
    }

    /// The adjugate: the inverse up to scale, which a projective map ignores.
    fn adjugate(&self) -> Self {
        let [a, b, c, d, e, f, g, h, i] = self.0;
        Self([
            e * i - f * h,
            c * h - b * i,
            b * f - c * e,
            f * g - d * i,
            a * i - c * g,
            c * d - a * f,
            d * h - e * g,
            b * g - a * h,
            a * e - b * d,
        ])
    }

    fn then(&self, next: &Self) -> Self {
        let (a, b) = (next.0, self.0);
        let mut m = [0.0; 9];
        for r in 0..3 {
            for c in 0..3 {
                m[r * 3 + c] = (0..3).map(|k| a[r * 3 + k] * b[k * 3 + c]).sum();
            }
        }
        Self(m)
    }

    /// The map taking quadrilateral `from` to quadrilateral `to`.
    fn quad_to_quad(from: [(f64, f64); 4], to: [(f64, f64); 4]) -> Option<Self> {
        let s = Self::square_to_quad(from)?.adjugate();
        let t = Self::square_to_quad(to)?;
        Some(s.then(&t))
    }

    fn map(&self, u: f64, v: f64) -> (f64, f64) {
        let m = &self.0;
        let w = m[6] * u + m[7] * v + m[8];
        (
            (m[0] * u + m[1] * v + m[2]) / w,
            (m[3] * u + m[4] * v + m[5]) / w,
        )
    }
}

/// Bit at a point: black inside the image, white outside.
fn sample(bm: &Bitmap, (x, y): (f64, f64)) -> bool {
    if !(x.is_finite() && y.is_finite()) || x < 0.0 || y < 0.0 {
        return false;
    }
    let (xi, yi) = (x as usize, y as usize);
    xi < bm.w && yi < bm.h && bm.black(xi, yi)
}

/// The QR grid sizes worth trying for a finder distance of `modules`
/// (centre to centre): the nearest valid size first, then its neighbours.
fn candidate_sizes(modules: f64) -> Vec<usize> {
    let raw = modules.round() as i64 + 7;
    let nearest = ((raw - 17) as f64 / 4.0).round() as i64 * 4 + 17;
    let mut v = Vec::new();
    for d in [nearest, nearest - 4, nearest + 4] {
        if (21..=177).contains(&d) {
            v.push(d as usize);
        }
    }
    v
}

/// Where three finder patterns put module coordinates, allowing for
/// perspective: each pattern's module size gives the local scale, which in a
/// projective map falls with the homogeneous `w` (linear size ∝ w^-1.5). So
/// `w` is 1 at the top-left pattern and changes linearly (in module
/// coordinates) towards the others; the rest follows from
/// `p · w = P0 + Δu·a + Δv·b`.
#[derive(Debug, Clone, Copy)]
struct ScaleModel {
    p0: (f64, f64),
    a: (f64, f64),
    b: (f64, f64),
    gu: f64,
    gv: f64,
}

impl ScaleModel {
    fn new(tl: Finder, tr: Finder, bl: Finder, d: f64, use_scale: bool) -> Self {
        let span = d - 7.0;
        let (wtr, wbl) = if use_scale {
            // Area scales as w⁻³ under a homography, so linear size as w^-1.5.
            (
                (tl.module / tr.module).powf(2.0 / 3.0),
                (tl.module / bl.module).powf(2.0 / 3.0),
            )
        } else {
            (1.0, 1.0)
        };
        Self {
            p0: (tl.x, tl.y),
            a: ((tr.x * wtr - tl.x) / span, (tr.y * wtr - tl.y) / span),
            b: ((bl.x * wbl - tl.x) / span, (bl.y * wbl - tl.y) / span),
            gu: (wtr - 1.0) / span,
            gv: (wbl - 1.0) / span,
        }
    }

    /// Image position of module coordinates (`u`, `v`) (top-left pattern
    /// centre at 3.5, 3.5).
    fn map(&self, u: f64, v: f64) -> (f64, f64) {
        let (du, dv) = (u - 3.5, v - 3.5);
        let w = 1.0 + self.gu * du + self.gv * dv;
        (
            (self.p0.0 + du * self.a.0 + dv * self.b.0) / w,
            (self.p0.1 + du * self.a.1 + dv * self.b.1) / w,
        )
    }
}

/// Share of the timing-pattern modules a sampled grid must get right before
/// rqrr is asked to decode it. A grid of the wrong size or from unrelated
/// patterns scores about 0.5; a decodable grid in the sample photos at
/// least 0.65 (dot-style codes), mostly over 0.8. Decoding a large grid costs
/// about a millisecond, so this keeps photos full of finder-like texture
/// cheap.
const MIN_TIMING_SCORE: f64 = 0.6;

/// Share of the timing-pattern modules (row and column 6 between the finder
/// patterns: dark at even indices) that a sampled grid has right.
fn timing_score(bits: &[bool], n: usize) -> f64 {
    let (mut ok, mut total) = (0u32, 0u32);
    for i in 8..n.saturating_sub(8) {
        let dark = i % 2 == 0;
        ok += u32::from(bits[6 * n + i] == dark) + u32::from(bits[i * n + 6] == dark);
        total += 2;
    }
    f64::from(ok) / f64::from(total.max(1))
}

/// Tries to decode the code cornered by three finder patterns: for each
/// plausible grid size, with and without the perspective implied by the
/// patterns' sizes, through the alignment pattern if one is found and
/// through the modelled fourth corner.
fn decode_triple(bm: &Bitmap, tl: Finder, tr: Finder, bl: Finder, panics: &mut u32) -> Triple {
    let mut plausible = false;
    let module = (tl.module + tr.module + bl.module) / 3.0;
    let dist = |a: Finder, b: Finder| (a.x - b.x).hypot(a.y - b.y);
    let modules = (dist(tl, tr) + dist(tl, bl)) / (2.0 * module);
    let pts = |p: (f64, f64)| [(tl.x, tl.y), (tr.x, tr.y), p, (bl.x, bl.y)];
    for size in candidate_sizes(modules) {
        let d = size as f64;
        let corner = [
            (3.5, 3.5),
            (d - 3.5, 3.5),
            (d - 3.5, d - 3.5),
            (3.5, d - 3.5),
        ];
        let align = [
            (3.5, 3.5),
            (d - 3.5, 3.5),
            (d - 6.5, d - 6.5),
            (3.5, d - 3.5),
        ];
        for use_scale in [true, false] {
            let model = ScaleModel::new(tl, tr, bl, d, use_scale);
            let mut maps = Vec::with_capacity(2);
            if size > 21 {
                if let Some(al) = find_alignment(bm, &model, d) {
                    maps.extend(Homography::quad_to_quad(align, pts(al)));
                }
            }
            maps.extend(Homography::quad_to_quad(
                corner,
                pts(model.map(d - 3.5, d - 3.5)),
            ));
            for h in maps {
                let n = size;
                let bits = sample_grid(bm, &h, n, module);
                if timing_score(&bits, n) < MIN_TIMING_SCORE {
                    continue;
                }
                plausible = true;
                let grid = rqrr::SimpleGrid::from_func(n, |x, y| bits[y * n + x]);
                if let Some(code) = decode_bit_grid(grid, panics) {
                    return Triple::Decoded(code);
                }
            }
        }
    }
    if plausible {
        Triple::Failed
    } else {
        Triple::NoGrid
    }
}

/// Searches for the alignment pattern (5×5 modules: dark ring, light ring,
/// dark centre) near where `model` puts it, by matching that template at
/// half-module steps. Returns its centre in pixels.
fn find_alignment(bm: &Bitmap, model: &ScaleModel, d: f64) -> Option<(f64, f64)> {
    let mut best: Option<(i32, f64, (f64, f64))> = None;
    for radius in [4i32, 8] {
        for j in -2 * radius..=2 * radius {
            for i in -2 * radius..=2 * radius {
                let (oi, oj) = (f64::from(i) / 2.0, f64::from(j) / 2.0);
                let (cu, cv) = (d - 6.5 + oi, d - 6.5 + oj);
                let mut score = 0;
                for b in -2i32..=2 {
                    for a in -2i32..=2 {
                        let dark = a.abs().max(b.abs()) != 1;
                        let p = model.map(cu + f64::from(a), cv + f64::from(b));
                        if sample(bm, p) == dark {
                            score += 1;
                        }
                    }
                }
                let dist = oi.hypot(oj);
                if best.is_none_or(|(s, bd, _)| score > s || (score == s && dist < bd)) {
                    best = Some((score, dist, model.map(cu, cv)));
                }
            }
        }
        if let Some((s, _, p)) = best {
            if s >= 23 {
                return Some(p);
            }
        }
    }
    None
}

/// Samples a `size`×`size` grid through `h`, row by row (`true` = dark).
///
/// Each module is read as the share of dark pixels in a small box around its
/// centre (a quarter module each way), and the grid is thresholded between
/// the two clusters of those shares. For solid modules this is a majority
/// vote (robust to specks); for dot-style modules, whose dots cover well under
/// half of the cell, the threshold drops to match.
fn sample_grid(bm: &Bitmap, h: &Homography, size: usize, module: f64) -> Vec<bool> {
    let r = (module / 4.0).floor().max(0.0) as isize;
    let mut share = Vec::with_capacity(size * size);
    for y in 0..size {
        for x in 0..size {
            share.push(box_share(bm, h.map(x as f64 + 0.5, y as f64 + 0.5), r));
        }
    }
    let t = two_means_threshold(&share);
    share.iter().map(|&s| s > t).collect()
}

/// Share of dark pixels in the (2r+1)² box around a point (outside = light).
fn box_share(bm: &Bitmap, (x, y): (f64, f64), r: isize) -> f32 {
    // Far outside (or not a number, where a degenerate map sends points):
    // light, and no integer overflow in the box bounds below.
    let margin = r as f64 + 1.0;
    let inside = |v: f64, len: usize| v > -margin && v < len as f64 + margin;
    if !(inside(x, bm.w) && inside(y, bm.h)) {
        return 0.0;
    }
    let (cx, cy) = (x.floor() as isize, y.floor() as isize);
    let (mut dark, mut n) = (0u32, 0u32);
    for yy in cy - r..=cy + r {
        for xx in cx - r..=cx + r {
            n += 1;
            if xx >= 0
                && yy >= 0
                && (xx as usize) < bm.w
                && (yy as usize) < bm.h
                && bm.black(xx as usize, yy as usize)
            {
                dark += 1;
            }
        }
    }
    dark as f32 / n.max(1) as f32
}

/// Threshold between the two clusters of values in 0..=1 (iterated 2-means
/// from 0.5); stays at 0.5 when the values do not split.
fn two_means_threshold(v: &[f32]) -> f32 {
    let mut t = 0.5f32;
    for _ in 0..8 {
        let (mut lo, mut nlo, mut hi, mut nhi) = (0.0f32, 0u32, 0.0f32, 0u32);
        for &s in v {
            if s > t {
                hi += s;
                nhi += 1;
            } else {
                lo += s;
                nlo += 1;
            }
        }
        if nlo == 0 || nhi == 0 {
            return 0.5;
        }
        let next = (lo / nlo as f32 + hi / nhi as f32) / 2.0;
        if (next - t).abs() < 1e-3 {
            break;
        }
        t = next;
    }
    t.clamp(0.1, 0.9)
}

/// rqrr's format, Reed–Solomon and payload decoding of a sampled grid; a
/// panic inside rqrr is caught and counted.
fn decode_bit_grid(grid: rqrr::SimpleGrid, panics: &mut u32) -> Option<FinderCode> {
    let result = quiet_panic::catch("finder grid decoding", || {
        let mut buf = Vec::new();
        rqrr::Grid::new(grid)
            .decode_to(&mut buf)
            .map(|meta| (meta, buf))
    });
    match result {
        Some(Ok((meta, bytes))) => Some(FinderCode {
            bytes,
            version: meta.version.0,
            ecc_level: meta.ecc_level,
        }),
        Some(Err(_)) => None,
        None => {
            *panics += 1;
            None
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::preprocess as pp;
    use image::GrayImage;

    const TEXT: &str = "https://fleet.example.com/a/EX-42";

    /// The module matrix of `text` (`true` = dark) and its width.
    fn modules(text: &str) -> (usize, Vec<bool>) {
        let code = qrcode::QrCode::new(text.as_bytes()).unwrap();
        let dark = code
            .to_colors()
            .into_iter()
            .map(|c| c == qrcode::Color::Dark)
            .collect();
        (code.width(), dark)
    }

    fn in_finder(w: usize, x: usize, y: usize) -> bool {
        (x < 7 || x + 7 >= w) && y < 7 || x < 7 && y + 7 >= w
    }

    /// Draws `text` at `px` pixels per module with `quiet` modules of margin;
    /// modules outside the finder patterns are centred squares of `dot` × the
    /// module (1.0 = solid, 0.5 = "dot style").
    fn render(text: &str, px: u32, quiet: u32, dot: f64) -> GrayImage {
        let (w, dark) = modules(text);
        let side = (w as u32 + 2 * quiet) * px;
        GrayImage::from_fn(side, side, |x, y| {
            let (mx, my) = (x / px, y / px);
            let (Some(u), Some(v)) = (mx.checked_sub(quiet), my.checked_sub(quiet)) else {
                return image::Luma([255]);
            };
            let (u, v) = (u as usize, v as usize);
            if u >= w || v >= w || !dark[v * w + u] {
                return image::Luma([255]);
            }
            let size = if in_finder(w, u, v) { 1.0 } else { dot };
            let off = |p: u32| ((p % px) as f64 + 0.5) / px as f64 - 0.5;
            let on = off(x).abs() <= size / 2.0 && off(y).abs() <= size / 2.0;
            image::Luma([if on { 0 } else { 255 }])
        })
    }

    fn decode(img: &GrayImage) -> Vec<String> {
        let bm = pp::threshold(img, pp::otsu_level(img));
        locate_and_decode(&bm)
            .codes
            .into_iter()
            .map(|c| String::from_utf8(c.bytes).unwrap())
            .collect()
    }

    #[test]
    fn reads_a_plain_code() {
        assert_eq!(decode(&render(TEXT, 4, 4, 1.0)), [TEXT]);
    }

    #[test]
    fn reads_a_code_touching_the_frame() {
        // No quiet zone: rqrr's detector needs light around the finder patterns.
        assert_eq!(decode(&render(TEXT, 3, 0, 1.0)), [TEXT]);
    }

    #[test]
    fn reads_one_pixel_per_module() {
        assert_eq!(decode(&render(TEXT, 1, 2, 1.0)), [TEXT]);
    }

    #[test]
    fn reads_dot_style_modules() {
        assert_eq!(decode(&render(TEXT, 8, 4, 0.45)), [TEXT]);
    }

    #[test]
    fn the_ladder_falls_back_to_this_locator() {
        let codes = crate::decode_luma(&render(TEXT, 8, 4, 0.45));
        assert_eq!(codes.len(), 1, "{codes:?}");
        assert_eq!(codes[0].text, TEXT);
        assert!(codes[0].attempt.contains(":find-"), "{}", codes[0].attempt);
    }

    #[test]
    fn reads_a_code_under_perspective() {
        let (w, dark) = modules(TEXT);
        let wf = w as f64;
        // Where the code's corners land in the photo: a trapezoid, nearer at
        // the bottom right.
        let quad = [(60.0, 50.0), (250.0, 70.0), (290.0, 300.0), (40.0, 270.0)];
        let to_modules =
            Homography::quad_to_quad(quad, [(0.0, 0.0), (wf, 0.0), (wf, wf), (0.0, wf)]).unwrap();
        let img = GrayImage::from_fn(340, 340, |x, y| {
            let (u, v) = to_modules.map(f64::from(x) + 0.5, f64::from(y) + 0.5);
            let inside = (0.0..wf).contains(&u) && (0.0..wf).contains(&v);
            let on = inside && dark[v as usize * w + u as usize];
            image::Luma([if on { 20 } else { 230 }])
        });
        assert_eq!(decode(&img), [TEXT]);
    }

    #[test]
    fn finds_nothing_in_noise() {
        let mut s = 0x2545_f491_4f6c_dd1du64;
        let bits = (0..400 * 300)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                u8::from(s % 3 == 0)
            })
            .collect();
        let out = locate_and_decode(&Bitmap {
            w: 400,
            h: 300,
            bits,
        });
        assert!(out.codes.is_empty());
        assert_eq!(out.panics, 0);
    }

    #[test]
    fn homography_maps_quad_corners() {
        let from = [(0.0, 0.0), (10.0, 0.0), (10.0, 10.0), (0.0, 10.0)];
        let to = [(3.0, 4.0), (50.0, 8.0), (45.0, 60.0), (1.0, 40.0)];
        let h = Homography::quad_to_quad(from, to).unwrap();
        for (f, t) in from.iter().zip(to) {
            let (x, y) = h.map(f.0, f.1);
            assert!(
                (x - t.0).abs() < 1e-6 && (y - t.1).abs() < 1e-6,
                "{f:?} -> {x},{y}"
            );
        }
    }

    #[test]
    fn triples_name_the_corner_and_turn_clockwise() {
        let f = |x, y| Finder {
            x,
            y,
            module: 4.0,
            hits: 5,
        };
        // Bottom-left, top-right, top-left, in no particular order.
        let finders = [f(10.0, 110.0), f(110.0, 10.0), f(10.0, 10.0)];
        assert_eq!(ranked_triples(&finders).first(), Some(&(2, 1, 0)));
        // Rotated by 180°: the corner is now at the bottom right.
        let finders = [f(110.0, 10.0), f(10.0, 110.0), f(110.0, 110.0)];
        assert_eq!(ranked_triples(&finders).first(), Some(&(2, 1, 0)));
    }

    #[test]
    fn timing_score_counts_alternating_modules() {
        let n = 21;
        let (w, dark) = modules("timing");
        assert_eq!(w, n);
        assert_eq!(timing_score(&dark, n), 1.0);
        let light = vec![false; n * n];
        assert_eq!(timing_score(&light, n), 0.4);
    }

    #[test]
    fn grid_sizes_are_valid_versions() {
        assert_eq!(candidate_sizes(14.0), [21, 25]);
        assert_eq!(candidate_sizes(22.4), [29, 25, 33]);
        assert!(candidate_sizes(400.0).is_empty());
    }
}
