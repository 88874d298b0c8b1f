//! The preprocessing ladder: a fixed, ordered list of (scale, filter,
//! binarizer, locator) steps, stopping at the first step that yields a valid
//! code.
//!
//! Why a ladder: rqrr alone reads ~41% of real photos. Its detector needs
//! crisp finder patterns at a workable size, and photos fail in different
//! ways (too large, too small, low contrast, shadows, noise, inverted,
//! styled or cropped codes). Each step fixes one failure mode; most photos
//! decode on the first or second step, so cheap-and-likely steps come first
//! and the expensive ones only run for the hard cases, within a per-image
//! time budget. A step locates codes either with rqrr's detector or with the
//! finder-pattern locator in [`super::finder`], which fails differently.
//!
//! Only codes that rqrr decoded with valid Reed–Solomon ECC are returned:
//! preprocessing and locating change which module grid rqrr sees, never what
//! counts as a valid decode.

use std::time::{Duration, Instant};

use image::GrayImage;
use rqrr::PreparedImage;

use super::finder;
use super::preprocess::{self as pp, Bitmap};
use super::quiet_panic;

/// Images whose long side exceeds this are downscaled before the first
/// step: rqrr's cost grows with pixel count (and with the number of finder
/// candidates), and a QR label rarely needs more than ~1300 px to resolve.
pub(crate) const WORK_LONG_SIDE: u32 = 1280;

/// Upscaling never produces an image whose long side exceeds this.
const MAX_UPSCALED_LONG_SIDE: u32 = 1600;

/// Size at which a step runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Scale {
    /// The working image (native size, capped at [`WORK_LONG_SIDE`]).
    Work,
    /// Downscaled so the long side is this many pixels; skipped if the
    /// working image is not at least 15% larger.
    Long(u32),
    /// Upscaled by this factor; skipped if the result would exceed
    /// [`MAX_UPSCALED_LONG_SIDE`].
    Up(f32),
    /// Upscaled by this integer factor, replicating pixels; skipped like
    /// `Up`.
    Nearest(u32),
    /// The full-resolution decoded image; only differs from `Work` for large
    /// photos, where a small code may need every pixel.
    Full,
}

/// A transform applied (in order) before binarization.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Pre {
    /// Contrast stretch (1st–99th percentile).
    Stretch,
    /// 3×3 box blur.
    Blur,
    /// Light-on-dark → dark-on-light.
    Invert,
    /// Rotate by degrees.
    Rotate(i16),
    /// Add a light border of `long side / divisor` pixels (min 8).
    Pad(u32),
    /// 3×3 minimum filter (grow dark).
    Erode,
    /// 3×3 maximum filter (grow light).
    Dilate,
}

/// How the (pre-processed) grey image becomes black and white.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Bin {
    /// rqrr's own row-wise moving-average threshold.
    Rqrr,
    /// Global Otsu threshold.
    Otsu,
    /// zxing-style block ("hybrid") threshold.
    Hybrid,
    /// Local mean, window radius = long side / divisor.
    Mean(u32),
    /// Sauvola, window radius = long side / divisor.
    Sauvola(u32),
}

/// How codes are located in the binarized image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Locate {
    /// rqrr's own detector (connected-region finder patterns, timing
    /// pattern walk, alignment region).
    Rqrr,
    /// Our finder-pattern search and module sampling ([`super::finder`]),
    /// rqrr decoding the sampled grid.
    Finder,
}

/// One ladder step.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StepSpec {
    pub name: &'static str,
    pub scale: Scale,
    pub pre: &'static [Pre],
    pub bin: Bin,
    pub locate: Locate,
}

const fn step(name: &'static str, scale: Scale, pre: &'static [Pre], bin: Bin) -> StepSpec {
    StepSpec {
        name,
        scale,
        pre,
        bin,
        locate: Locate::Rqrr,
    }
}

/// A step located by [`Locate::Finder`].
const fn finder_step(name: &'static str, scale: Scale, pre: &'static [Pre], bin: Bin) -> StepSpec {
    StepSpec {
        name,
        scale,
        pre,
        bin,
        locate: Locate::Finder,
    }
}

/// Candidate pool for benchmarking step orderings: every scale crossed with
/// every filter chain below. Built once; names are leaked once per process.
pub(crate) fn all_steps() -> &'static [StepSpec] {
    use std::sync::OnceLock;
    static ALL: OnceLock<Vec<StepSpec>> = OnceLock::new();
    ALL.get_or_init(|| {
        let scales: &[(&str, Scale)] = &[
            ("work", Scale::Work),
            ("l1024", Scale::Long(1024)),
            ("l640", Scale::Long(640)),
            ("l400", Scale::Long(400)),
            ("up1.5", Scale::Up(1.5)),
            ("up2", Scale::Up(2.0)),
            ("up3", Scale::Up(3.0)),
            ("nn2", Scale::Nearest(2)),
            ("nn3", Scale::Nearest(3)),
            ("nn4", Scale::Nearest(4)),
            ("full", Scale::Full),
        ];
        let chains: &[(&str, &'static [Pre], Bin)] = &[
            ("rqrr", &[], Bin::Rqrr),
            ("stretch", &[Pre::Stretch], Bin::Rqrr),
            ("otsu", &[], Bin::Otsu),
            ("hybrid", &[], Bin::Hybrid),
            ("mean16", &[], Bin::Mean(16)),
            ("mean40", &[], Bin::Mean(40)),
            ("sauvola8", &[], Bin::Sauvola(8)),
            ("sauvola24", &[], Bin::Sauvola(24)),
            ("blur-rqrr", &[Pre::Blur], Bin::Rqrr),
            ("blur-otsu", &[Pre::Blur], Bin::Otsu),
            ("blur-hybrid", &[Pre::Blur], Bin::Hybrid),
            ("inv-rqrr", &[Pre::Invert], Bin::Rqrr),
            ("inv-hybrid", &[Pre::Invert], Bin::Hybrid),
            ("inv-otsu", &[Pre::Invert], Bin::Otsu),
            ("rot30-rqrr", &[Pre::Rotate(30)], Bin::Rqrr),
            ("rot30-hybrid", &[Pre::Rotate(30)], Bin::Hybrid),
            ("rot45-rqrr", &[Pre::Rotate(45)], Bin::Rqrr),
            ("pad-rqrr", &[Pre::Pad(8)], Bin::Rqrr),
            ("pad-otsu", &[Pre::Pad(8)], Bin::Otsu),
            ("pad-hybrid", &[Pre::Pad(8)], Bin::Hybrid),
            ("erode-rqrr", &[Pre::Erode], Bin::Rqrr),
            ("erode-otsu", &[Pre::Erode], Bin::Otsu),
            ("erode-hybrid", &[Pre::Erode], Bin::Hybrid),
            ("blur-erode-otsu", &[Pre::Blur, Pre::Erode], Bin::Otsu),
            ("dilate-otsu", &[Pre::Dilate], Bin::Otsu),
            ("dilate-hybrid", &[Pre::Dilate], Bin::Hybrid),
            ("inv-pad-hybrid", &[Pre::Invert, Pre::Pad(8)], Bin::Hybrid),
            ("inv-stretch-rqrr", &[Pre::Invert, Pre::Stretch], Bin::Rqrr),
            ("inv-sauvola8", &[Pre::Invert], Bin::Sauvola(8)),
        ];
        // The same binarizations with the finder-pattern locator.
        let finder_chains: &[(&str, &'static [Pre], Bin)] = &[
            ("find-otsu", &[], Bin::Otsu),
            ("find-hybrid", &[], Bin::Hybrid),
            ("find-mean40", &[], Bin::Mean(40)),
            ("find-mean16", &[], Bin::Mean(16)),
            ("find-sauvola8", &[], Bin::Sauvola(8)),
            ("find-blur-otsu", &[Pre::Blur], Bin::Otsu),
            ("find-blur-hybrid", &[Pre::Blur], Bin::Hybrid),
            ("find-blur-mean40", &[Pre::Blur], Bin::Mean(40)),
            ("find-inv-otsu", &[Pre::Invert], Bin::Otsu),
            ("find-inv-hybrid", &[Pre::Invert], Bin::Hybrid),
            ("find-inv-mean40", &[Pre::Invert], Bin::Mean(40)),
        ];
        let mut v = Vec::new();
        for (sn, scale) in scales {
            for (cn, pre, bin) in chains {
                let name: &'static str = Box::leak(format!("{sn}:{cn}").into_boxed_str());
                v.push(step(name, *scale, pre, *bin));
            }
            for (cn, pre, bin) in finder_chains {
                let name: &'static str = Box::leak(format!("{sn}:{cn}").into_boxed_str());
                v.push(finder_step(name, *scale, pre, *bin));
            }
        }
        v
    })
}

/// The default ladder, in order. Chosen from a benchmark of every step in
/// [`all_steps`] on the zxing-cpp sample photos (`fieldops-sim bench-qr
/// --step-matrix`): greedily by new decodes per millisecond spent on the
/// images still undecoded and on photos without a code, keeping only steps
/// that address a recognisable failure mode. Each step is annotated with why
/// it exists.
pub(crate) const DEFAULT_LADDER: &[StepSpec] = &[
    // Local-mean threshold with a large window (radius = 1/40 of the long
    // side) at working size (≤ 1280 px), rqrr's detector. Decodes most photos
    // on its own: it follows gradual lighting changes yet is wide enough that
    // finder patterns (7 modules) stay solid. rqrr also finds every code of a
    // photo with several, which the finder-pattern locator does not try to.
    step("work:mean40", Scale::Work, &[], Bin::Mean(40)),
    // The finder-pattern locator (see `finder.rs`) on a 3×3 blur and zxing's
    // block threshold: reads what rqrr's detector cannot locate (finder
    // patterns touching the frame or each other, codes at 1–2 px per module,
    // round finder patterns, dot modules, covered alignment patterns) and
    // samples modules by area, which tolerates noise and blur.
    finder_step(
        "work:find-blur-hybrid",
        Scale::Work,
        &[Pre::Blur],
        Bin::Hybrid,
    ),
    // The same locator under a global Otsu threshold: screenshots, prints
    // and flash photos under even light, where block thresholds break up
    // large dark modules.
    finder_step("work:find-otsu", Scale::Work, &[], Bin::Otsu),
    // Small light-on-dark codes (dark-mode screens, engraved plates): invert,
    // 4× pixel replication so that 1-px modules have edges, global threshold.
    finder_step(
        "nn4:find-inv-otsu",
        Scale::Nearest(4),
        &[Pre::Invert],
        Bin::Otsu,
    ),
    // Thin or faded print (thermal labels): grow dark modules by one pixel
    // so that finder-pattern rings close, then threshold globally.
    step("work:erode-otsu", Scale::Work, &[Pre::Erode], Bin::Otsu),
    // Small, blurred codes: 4× pixel replication after a blur, so that the
    // locator's run-length test has whole pixels to count.
    finder_step(
        "nn4:find-blur-otsu",
        Scale::Nearest(4),
        &[Pre::Blur],
        Bin::Otsu,
    ),
    // Blurred photos under uneven light: blur, then the large local mean.
    finder_step(
        "work:find-blur-mean40",
        Scale::Work,
        &[Pre::Blur],
        Bin::Mean(40),
    ),
    // Light-on-dark codes under uneven light (a lit screen in a dark room).
    finder_step(
        "work:find-inv-mean40",
        Scale::Work,
        &[Pre::Invert],
        Bin::Mean(40),
    ),
    // 3×3 blur, then zxing's block threshold, with rqrr's detector: for
    // sensor noise, JPEG artefacts and halftone print.
    step("work:blur-hybrid", Scale::Work, &[Pre::Blur], Bin::Hybrid),
    // Local mean with a smaller window, for strong shadows across the code.
    step("work:mean16", Scale::Work, &[], Bin::Mean(16)),
    // Rotated 30°: rqrr's finder scan is row-based, and codes at some angles
    // alias badly against the pixel grid; a rotated copy samples them anew.
    step(
        "work:rot30-hybrid",
        Scale::Work,
        &[Pre::Rotate(30)],
        Bin::Hybrid,
    ),
    // Blurred low-resolution photos: mild upscale, blur, global threshold.
    step("up1.5:blur-otsu", Scale::Up(1.5), &[Pre::Blur], Bin::Otsu),
    // Small codes (long side ≤ 533 px) on crumpled or curved labels: 3×
    // bilinear upscale and a smaller mean window, so the locator sees
    // sub-module edges and a threshold that follows folds.
    finder_step("up3:find-mean16", Scale::Up(3.0), &[], Bin::Mean(16)),
    // Small codes with rqrr's detector: 3× bilinear upscale so that modules
    // of 1–3 px become wide enough for its finder scan.
    step("up3:mean40", Scale::Up(3.0), &[], Bin::Mean(40)),
];

/// After a step decodes something while other detected grids failed,
/// this many further steps are tried to pick up the remaining codes.
const EXTRA_STEPS_FOR_MULTI: u32 = 2;

/// A raw decode: payload bytes plus metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawCode {
    pub bytes: Vec<u8>,
    pub version: usize,
    pub ecc_level: u16,
}

/// What one rqrr invocation produced.
#[derive(Debug, Default)]
pub(crate) struct AttemptOutcome {
    pub codes: Vec<RawCode>,
    /// Panics caught inside rqrr (detection or per-grid decoding).
    pub panics: u32,
    /// Grids rqrr located but could not decode.
    pub grids_failed: u32,
}

/// Input to rqrr: grey (rqrr thresholds it) or already binarized.
pub(crate) enum Input {
    Gray(GrayImage),
    Bits(Bitmap),
}

/// Runs rqrr on one input. Panics are caught and counted, never propagated:
/// detection is wrapped as a whole, and each grid's decode separately so
/// one bad grid does not lose the others.
pub(crate) fn run_rqrr(input: &Input) -> AttemptOutcome {
    let result = quiet_panic::catch("rqrr detection", || {
        let mut prepared = match input {
            Input::Gray(g) => {
                let w = g.width() as usize;
                let raw = g.as_raw();
                PreparedImage::prepare_from_greyscale(w, g.height() as usize, |x, y| raw[y * w + x])
            }
            Input::Bits(b) => {
                PreparedImage::prepare_from_bitmap(b.w, b.h, |x, y| b.bits[y * b.w + x] != 0)
            }
        };
        let grids = prepared.detect_grids();
        let mut out = AttemptOutcome::default();
        for grid in &grids {
            let decoded = quiet_panic::catch("rqrr grid decoding", || {
                let mut buf = Vec::new();
                grid.decode_to(&mut buf).map(|meta| (meta, buf))
            });
            match decoded {
                Some(Ok((meta, bytes))) => {
                    // An empty payload carries nothing to act on and is the
                    // likeliest shape of a spurious grid; drop it.
                    if !bytes.is_empty() && !out.codes.iter().any(|c| c.bytes == bytes) {
                        out.codes.push(RawCode {
                            bytes,
                            version: meta.version.0,
                            ecc_level: meta.ecc_level,
                        });
                    }
                }
                Some(Err(_)) => out.grids_failed += 1,
                None => {
                    out.panics += 1;
                    out.grids_failed += 1;
                }
            }
        }
        out
    });
    result.unwrap_or_else(|| AttemptOutcome {
        codes: Vec::new(),
        panics: 1,
        grids_failed: 0,
    })
}

/// Runs one step's locator on its input: rqrr's detector, or the
/// finder-pattern locator (which needs black and white; a grey input gets a
/// global Otsu threshold).
pub(crate) fn run_locator(input: &Input, locate: Locate) -> AttemptOutcome {
    match (locate, input) {
        (Locate::Rqrr, _) => run_rqrr(input),
        (Locate::Finder, Input::Bits(b)) => run_finder(b),
        (Locate::Finder, Input::Gray(g)) => run_finder(&pp::threshold(g, pp::otsu_level(g))),
    }
}

fn run_finder(bm: &Bitmap) -> AttemptOutcome {
    let out = finder::locate_and_decode(bm);
    AttemptOutcome {
        codes: out
            .codes
            .into_iter()
            .map(|c| RawCode {
                bytes: c.bytes,
                version: c.version,
                ecc_level: c.ecc_level,
            })
            .collect(),
        panics: out.panics,
        grids_failed: out.grids_failed,
    }
}

/// Lazily built, cached scaled versions of the input image.
pub(crate) struct Context<'a> {
    full: &'a GrayImage,
    work: Option<GrayImage>,
    cache: Vec<(u32, GrayImage)>,
}

impl<'a> Context<'a> {
    pub(crate) fn new(full: &'a GrayImage) -> Self {
        Self {
            full,
            work: None,
            cache: Vec::new(),
        }
    }

    fn work(&mut self) -> &GrayImage {
        let full = self.full;
        self.work.get_or_insert_with(|| {
            if pp::long_side(full) > WORK_LONG_SIDE {
                pp::downscale_to(full, WORK_LONG_SIDE)
            } else {
                full.clone()
            }
        })
    }

    /// Returns the image at `scale`, or `None` when the scale does not apply
    /// to this image (it would duplicate another step or exceed the caps).
    fn scaled(&mut self, scale: Scale) -> Option<GrayImage> {
        match scale {
            Scale::Work => Some(self.work().clone()),
            Scale::Full => {
                if pp::long_side(self.full) > WORK_LONG_SIDE {
                    Some(self.full.clone())
                } else {
                    None
                }
            }
            Scale::Long(target) => {
                let work_long = pp::long_side(self.work());
                if u64::from(work_long) * 100 < u64::from(target) * 115 {
                    return None;
                }
                let key = target;
                if let Some((_, img)) = self.cache.iter().find(|(k, _)| *k == key) {
                    return Some(img.clone());
                }
                let img = pp::downscale_to(self.full, target);
                self.cache.push((key, img.clone()));
                Some(img)
            }
            Scale::Up(f) => {
                let long = pp::long_side(self.work()) as f32 * f;
                if long > MAX_UPSCALED_LONG_SIDE as f32 {
                    return None;
                }
                let key = 1_000_000 + (f * 100.0) as u32;
                if let Some((_, img)) = self.cache.iter().find(|(k, _)| *k == key) {
                    return Some(img.clone());
                }
                let img = pp::upscale(self.work(), f);
                self.cache.push((key, img.clone()));
                Some(img)
            }
            Scale::Nearest(f) => {
                let long = pp::long_side(self.work()).saturating_mul(f);
                if long > MAX_UPSCALED_LONG_SIDE {
                    return None;
                }
                let key = 2_000_000 + f;
                if let Some((_, img)) = self.cache.iter().find(|(k, _)| *k == key) {
                    return Some(img.clone());
                }
                let img = pp::upscale_nearest(self.work(), f);
                self.cache.push((key, img.clone()));
                Some(img)
            }
        }
    }

    /// Builds rqrr's input for a step, or `None` if the step does not apply.
    pub(crate) fn prepare(&mut self, step: &StepSpec) -> Option<Input> {
        let mut img = self.scaled(step.scale)?;
        for pre in step.pre {
            img = match *pre {
                Pre::Stretch => pp::stretch_contrast(&img),
                Pre::Blur => pp::box_blur3(&img),
                Pre::Invert => pp::invert(&img),
                Pre::Rotate(deg) => pp::rotate(&img, f32::from(deg)),
                Pre::Pad(div) => {
                    let border = (pp::long_side(&img) / div.max(1)).max(8);
                    pp::pad(&img, border)
                }
                Pre::Erode => pp::morph3(&img, true),
                Pre::Dilate => pp::morph3(&img, false),
            };
        }
        let long = pp::long_side(&img) as usize;
        let radius = |div: u32| (long / div.max(1) as usize).max(4);
        Some(match step.bin {
            Bin::Rqrr => Input::Gray(img),
            Bin::Otsu => Input::Bits(pp::threshold(&img, pp::otsu_level(&img))),
            Bin::Hybrid => Input::Bits(pp::hybrid(&img)),
            Bin::Mean(div) => Input::Bits(pp::adaptive_mean(&img, radius(div), 5)),
            Bin::Sauvola(div) => Input::Bits(pp::sauvola(&img, radius(div), 0.2)),
        })
    }
}

/// Result of running the ladder on one image.
#[derive(Debug, Default)]
pub(crate) struct LadderRun {
    pub codes: Vec<(RawCode, &'static str)>,
    pub panics: u32,
    pub steps_run: u32,
    pub budget_exhausted: bool,
}

/// Runs `steps` in order until one yields a code or `budget` is spent. The
/// budget is checked between steps, so one step may overrun it.
///
/// Several codes in one photo: all codes decoded by the first successful step
/// are returned. If that step also located grids it could not decode, up to
/// [`EXTRA_STEPS_FOR_MULTI`] further steps run to pick up the rest (results
/// deduplicated by payload).
pub(crate) fn run_ladder(img: &GrayImage, steps: &[StepSpec], budget: Duration) -> LadderRun {
    let start = Instant::now();
    let mut ctx = Context::new(img);
    let mut run = LadderRun::default();
    let mut extra_left: Option<u32> = None;
    for step in steps {
        if extra_left == Some(0) {
            break;
        }
        if start.elapsed() >= budget {
            run.budget_exhausted = true;
            break;
        }
        let Some(input) = ctx.prepare(step) else {
            continue;
        };
        let outcome = run_locator(&input, step.locate);
        run.steps_run += 1;
        run.panics += outcome.panics;
        if let Some(n) = extra_left.as_mut() {
            *n -= 1;
        }
        let found = !outcome.codes.is_empty();
        for code in outcome.codes {
            if !run.codes.iter().any(|(c, _)| c.bytes == code.bytes) {
                run.codes.push((code, step.name));
            }
        }
        if found && extra_left.is_none() {
            if outcome.grids_failed == 0 {
                break;
            }
            extra_left = Some(EXTRA_STEPS_FOR_MULTI);
        }
    }
    run
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_ladder_steps_are_in_the_pool() {
        // The benchmark runs steps by name from the pool; a default step
        // must be the same step there.
        for s in DEFAULT_LADDER {
            let found = all_steps().iter().find(|p| p.name == s.name);
            assert!(
                found.is_some_and(|p| p.scale == s.scale
                    && p.pre == s.pre
                    && p.bin == s.bin
                    && p.locate == s.locate),
                "{} differs from the pool",
                s.name
            );
        }
    }
}
