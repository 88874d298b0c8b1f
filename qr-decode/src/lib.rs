//! QR code decoding from photos.
//!
//! Technicians photograph QR labels on machines; this crate turns such a
//! photo (JPEG/PNG/WebP bytes) into the decoded payload(s). It is pure and
//! synchronous (CPU-bound, tens of milliseconds per photo): callers in async
//! code should run it on a bounded blocking pool. The server's photo scans
//! (`api`), `fieldops qr decode` and the `bench-qr` benchmark all call it.
//!
//! It must stay a plain library: no HTTP framework, no async runtime, no
//! database. It depends on image decoding, rqrr, a charset decoder, thiserror
//! and tracing only; mapping [`QrError`] to an HTTP status is the caller's
//! business.
//!
//! Pipeline:
//! 1. `limits`: reject oversized uploads and decompression bombs from the
//!    header alone, decode pixels, apply EXIF orientation, convert to grey.
//! 2. `ladder`: try a sequence of preprocessing steps (see that module),
//!    each followed by a locator — rqrr's own detector, or `finder`'s
//!    finder-pattern search and module sampling — and rqrr's decoding
//!    (format, Reed–Solomon, payload), stopping at the first step that
//!    decodes.
//! 3. `charset`: turn payload bytes into text (UTF-8, Shift_JIS or
//!    ISO-8859-1).
//!
//! rqrr can panic on unusual inputs; every call into it (detection, and the
//! decoding of each grid from either locator) goes through
//! `quiet_panic::catch`, so a panic only fails that attempt (counted in
//! [`DecodeReport::panics_caught`], logged at debug level) and prints
//! nothing. This relies on the default `panic = "unwind"` profile setting.
#![forbid(unsafe_code)]

mod charset;
mod finder;
mod ladder;
mod limits;
mod preprocess;
mod quiet_panic;

use std::time::Duration;

pub use limits::DecodeLimits;

/// Validates an image upload without decoding pixels; returns its MIME type.
pub fn probe(data: &[u8], limits: &DecodeLimits) -> Result<&'static str, QrError> {
    limits::probe(data, limits)
}

/// Errors for inputs that cannot be decoded as an image at all. "Image
/// decoded but contains no QR code" is not an error: it is `Ok(vec![])`.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum QrError {
    /// The upload is larger than [`DecodeLimits::max_bytes`].
    #[error("image is {size} bytes, limit is {max}")]
    TooLarge { size: usize, max: usize },
    /// The header declares more pixels (or a longer side) than allowed.
    #[error("image is {width}x{height} pixels, limit is {max} pixels")]
    TooManyPixels { width: u32, height: u32, max: u64 },
    /// Not a JPEG, PNG or WebP image.
    #[error("unsupported image format (expected JPEG, PNG or WebP)")]
    UnsupportedFormat,
    /// Recognised format but truncated or malformed data.
    #[error("corrupt image: {0}")]
    Corrupt(String),
}

/// One decoded QR code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedCode {
    /// Payload as text (see the `charset` module for how bytes become text).
    pub text: String,
    /// Raw payload bytes as decoded (segments concatenated, ECI dropped).
    pub bytes: Vec<u8>,
    /// Name of the ladder step that found it, e.g. `"work:rqrr"`.
    pub attempt: &'static str,
    /// QR version (1–40).
    pub version: usize,
    /// Error-correction level as encoded in the format bits
    /// (0 = M, 1 = L, 2 = H, 3 = Q).
    pub ecc_level: u16,
}

/// Tuning for the ladder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LadderOptions {
    /// Stop starting new steps once this much time has been spent on one
    /// image. A running step is not interrupted.
    pub time_budget: Duration,
}

impl Default for LadderOptions {
    fn default() -> Self {
        Self {
            time_budget: Duration::from_millis(250),
        }
    }
}

/// Codes plus diagnostics from one decode.
#[derive(Debug, Clone, Default)]
pub struct DecodeReport {
    /// Decoded codes, deduplicated by payload bytes.
    pub codes: Vec<DecodedCode>,
    /// Panics inside rqrr that were caught (each failed one attempt).
    pub panics_caught: u32,
    /// Ladder steps that actually ran.
    pub steps_run: u32,
    /// True if the time budget stopped the ladder before it finished.
    pub budget_exhausted: bool,
}

/// Decodes all QR codes in an encoded image (JPEG, PNG or WebP).
///
/// Returns `Ok(vec![])` when the image is valid but no code was found.
pub fn decode_image_bytes(data: &[u8], limits: &DecodeLimits) -> Result<Vec<DecodedCode>, QrError> {
    decode_image_bytes_report(data, limits, &LadderOptions::default()).map(|r| r.codes)
}

/// Like [`decode_image_bytes`], with ladder options and diagnostics.
pub fn decode_image_bytes_report(
    data: &[u8],
    limits: &DecodeLimits,
    options: &LadderOptions,
) -> Result<DecodeReport, QrError> {
    let img = limits::load_luma(data, limits)?;
    Ok(decode_luma_report(&img, options))
}

/// Decodes all QR codes in a grey image.
pub fn decode_luma(img: &image::GrayImage) -> Vec<DecodedCode> {
    decode_luma_report(img, &LadderOptions::default()).codes
}

/// Like [`decode_luma`], with ladder options and diagnostics.
pub fn decode_luma_report(img: &image::GrayImage, options: &LadderOptions) -> DecodeReport {
    if img.width() == 0 || img.height() == 0 {
        return DecodeReport::default();
    }
    let run = ladder::run_ladder(img, ladder::DEFAULT_LADDER, options.time_budget);
    to_report(run)
}

fn to_report(run: ladder::LadderRun) -> DecodeReport {
    DecodeReport {
        codes: run
            .codes
            .into_iter()
            .map(|(raw, attempt)| to_decoded(raw, attempt))
            .collect(),
        panics_caught: run.panics,
        steps_run: run.steps_run,
        budget_exhausted: run.budget_exhausted,
    }
}

fn to_decoded(raw: ladder::RawCode, attempt: &'static str) -> DecodedCode {
    DecodedCode {
        text: charset::payload_to_text(&raw.bytes),
        bytes: raw.bytes,
        attempt,
        version: raw.version,
        ecc_level: raw.ecc_level,
    }
}

/// Hooks for the benchmark that evaluates ladder orderings. Not part of the
/// supported API.
#[doc(hidden)]
pub mod bench_support {
    use super::{ladder, DecodedCode};

    /// Names of every step the ladder knows.
    pub fn step_names() -> Vec<&'static str> {
        ladder::all_steps().iter().map(|s| s.name).collect()
    }

    /// Names of the default ladder, in order.
    pub fn default_ladder() -> Vec<&'static str> {
        ladder::DEFAULT_LADDER.iter().map(|s| s.name).collect()
    }

    /// Runs the named steps as the ladder (in this order, with this time budget) instead of
    /// the default one; unknown names are skipped. For trying orderings without rebuilding.
    pub fn decode_with_steps(
        img: &image::GrayImage,
        names: &[&str],
        budget: std::time::Duration,
    ) -> super::DecodeReport {
        let all = ladder::all_steps();
        let steps: Vec<ladder::StepSpec> = names
            .iter()
            .filter_map(|n| all.iter().find(|s| s.name == *n).copied())
            .collect();
        if img.width() == 0 || img.height() == 0 {
            return super::DecodeReport::default();
        }
        super::to_report(ladder::run_ladder(img, &steps, budget))
    }

    /// Runs one named step alone. `None` if the step does not apply to this
    /// image (or is unknown); otherwise the codes and caught panics.
    pub fn run_step(img: &image::GrayImage, name: &str) -> Option<(Vec<DecodedCode>, u32)> {
        let step = ladder::all_steps().iter().find(|s| s.name == name)?;
        let mut ctx = ladder::Context::new(img);
        let input = ctx.prepare(step)?;
        let out = ladder::run_locator(&input, step.locate);
        let codes = out
            .codes
            .into_iter()
            .map(|raw| super::to_decoded(raw, step.name))
            .collect();
        Some((codes, out.panics))
    }

    /// The image rqrr would see for a named step (binarized steps as 0/255).
    pub fn step_input(img: &image::GrayImage, name: &str) -> Option<image::GrayImage> {
        let step = ladder::all_steps().iter().find(|s| s.name == name)?;
        let mut ctx = ladder::Context::new(img);
        match ctx.prepare(step)? {
            ladder::Input::Gray(g) => Some(g),
            ladder::Input::Bits(b) => image::GrayImage::from_raw(
                b.w as u32,
                b.h as u32,
                b.bits
                    .iter()
                    .map(|&v| if v != 0 { 0 } else { 255 })
                    .collect(),
            ),
        }
    }

    /// Per-grid rqrr outcome for a named step (debugging).
    pub fn diagnose(img: &image::GrayImage, name: &str) -> Vec<String> {
        let Some(g) = step_input(img, name) else {
            return vec!["not applicable".into()];
        };
        let w = g.width() as usize;
        let raw = g.as_raw();
        let mut p = rqrr::PreparedImage::prepare_from_bitmap(w, g.height() as usize, |x, y| {
            raw[y * w + x] < 128
        });
        p.detect_grids()
            .iter()
            .map(|grid| {
                format!(
                    "{:?} -> {:?}",
                    grid.bounds,
                    grid.decode().map(|(m, _)| m.version)
                )
            })
            .collect()
    }

    /// Loads an image the way [`super::decode_image_bytes`] does.
    pub fn load(data: &[u8]) -> Result<image::GrayImage, super::QrError> {
        super::limits::load_luma(data, &super::DecodeLimits::default())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use std::io::Cursor;
    use std::path::PathBuf;

    /// Sample photos (zxing-cpp black-box set) live in the workplace's
    /// `shared/` folder, beside the repository checkout. Override with
    /// `QR_SAMPLES_DIR`.
    const SAMPLES_REL: &str = "../../shared/qr-samples";

    fn samples_dir() -> Option<PathBuf> {
        let dir = std::env::var_os("QR_SAMPLES_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(SAMPLES_REL));
        if dir.is_dir() {
            Some(dir)
        } else {
            println!("skipping: QR sample folder {} not found", dir.display());
            None
        }
    }

    fn encode(img: &image::GrayImage, format: image::ImageFormat) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, format).unwrap();
        out.into_inner()
    }

    #[test]
    fn real_photos_decode_to_expected_text() {
        let Some(dir) = samples_dir() else { return };
        for name in [
            "qrcode-1/1.webp",  // photo, found by the first step
            "qrcode-3/01.webp", // low-resolution photo
            "qrcode-2/17.webp", // Shift_JIS half-width katakana payload
            "qrcode-2/31.webp", // Shift_JIS kanji payload
            "qrcode-5/16.png",  // 1-bit synthetic image
            // Read by the finder-pattern locator (finder.rs):
            "qrcode-2/#1086.png",        // finder patterns touching the frame
            "qrcode-2/qr-circles-1.png", // round finder patterns, dot modules
            "qrcode-2/qr-inv-1.webp",    // light-on-dark screen, corners cut off
            "qrcode-3/25.webp",          // bent label
        ] {
            let path = dir.join(name);
            let data = std::fs::read(&path).unwrap();
            let expected = std::fs::read_to_string(path.with_extension("txt")).unwrap();
            // No time budget here: a loaded test machine must not turn a slow decode into a miss.
            let unbounded = LadderOptions {
                time_budget: Duration::from_secs(3600),
            };
            let codes = decode_image_bytes_report(&data, &DecodeLimits::default(), &unbounded)
                .unwrap()
                .codes;
            assert!(
                codes.iter().any(|c| c.text == expected),
                "{name}: expected {expected:?}, got {:?}",
                codes.iter().map(|c| &c.text).collect::<Vec<_>>()
            );
        }
    }

    #[test]
    fn false_positive_images_give_nothing() {
        let Some(dir) = samples_dir() else { return };
        for name in ["falsepositives-1/01.webp", "falsepositives-2/01.webp"] {
            let data = std::fs::read(dir.join(name)).unwrap();
            let codes = decode_image_bytes(&data, &DecodeLimits::default()).unwrap();
            assert!(codes.is_empty(), "{name}: {codes:?}");
        }
    }

    #[test]
    fn rqrr_panic_is_caught() {
        // rqrr 0.11 hits `assertion failed: x <= i32::MAX as f64` on this one.
        let Some(dir) = samples_dir() else { return };
        let data = std::fs::read(dir.join("qrcode-6/7.png")).unwrap();
        let report =
            decode_image_bytes_report(&data, &DecodeLimits::default(), &LadderOptions::default())
                .unwrap();
        assert!(report.panics_caught > 0 || !report.codes.is_empty());
    }

    #[test]
    fn truncated_jpeg_is_corrupt() {
        let img =
            image::GrayImage::from_fn(64, 64, |x, y| image::Luma([((x * 7 + y * 13) % 256) as u8]));
        let jpeg = encode(&img, image::ImageFormat::Jpeg);
        let truncated = &jpeg[..jpeg.len() / 2];
        let err = decode_image_bytes(truncated, &DecodeLimits::default()).unwrap_err();
        assert!(matches!(err, QrError::Corrupt(_)), "{err:?}");
    }

    #[test]
    fn random_bytes_are_rejected() {
        // Deterministic pseudo-random bytes (xorshift), not starting with
        // any image magic number.
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let data: Vec<u8> = (0..4096)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect();
        let err = decode_image_bytes(&data, &DecodeLimits::default()).unwrap_err();
        assert!(
            matches!(err, QrError::UnsupportedFormat | QrError::Corrupt(_)),
            "{err:?}"
        );
        let err = decode_image_bytes(b"", &DecodeLimits::default()).unwrap_err();
        assert!(matches!(err, QrError::Corrupt(_)), "{err:?}");
    }

    #[test]
    fn png_bomb_is_rejected_from_header() {
        // PNG signature + IHDR claiming 100000 x 100000 RGBA, no pixel data:
        // must fail on the header, before any allocation for pixels.
        let mut ihdr = b"IHDR".to_vec();
        ihdr.extend_from_slice(&100_000u32.to_be_bytes());
        ihdr.extend_from_slice(&100_000u32.to_be_bytes());
        ihdr.extend_from_slice(&[8, 6, 0, 0, 0]);
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        // A start of compressed data follows, as in a real bomb; the
        // decoder must never get to inflate it.
        let idat = b"IDAT\x78\x9c\x01\x00\x00\xff\xff".to_vec();
        for chunk in [ihdr, idat, b"IEND".to_vec()] {
            png.extend_from_slice(&((chunk.len() - 4) as u32).to_be_bytes());
            png.extend_from_slice(&chunk);
            png.extend_from_slice(&crc32fast::hash(&chunk).to_be_bytes());
        }
        let err = decode_image_bytes(&png, &DecodeLimits::default()).unwrap_err();
        assert_eq!(
            err,
            QrError::TooManyPixels {
                width: 100_000,
                height: 100_000,
                max: DecodeLimits::default().max_pixels
            }
        );
    }

    #[test]
    fn oversized_upload_is_rejected() {
        let limits = DecodeLimits {
            max_bytes: 10,
            ..DecodeLimits::default()
        };
        let err = decode_image_bytes(&[0u8; 11], &limits).unwrap_err();
        assert_eq!(err, QrError::TooLarge { size: 11, max: 10 });
    }

    #[test]
    fn long_side_limit_applies() {
        let img = image::GrayImage::new(300, 10);
        let png = encode(&img, image::ImageFormat::Png);
        let limits = DecodeLimits {
            max_dimension: 200,
            ..DecodeLimits::default()
        };
        let err = decode_image_bytes(&png, &limits).unwrap_err();
        assert!(
            matches!(err, QrError::TooManyPixels { width: 300, .. }),
            "{err:?}"
        );
    }

    #[test]
    fn image_without_code_gives_empty() {
        let img = image::GrayImage::from_fn(96, 64, |x, y| image::Luma([(x * 2 + y) as u8]));
        for format in [image::ImageFormat::Png, image::ImageFormat::Jpeg] {
            let data = encode(&img, format);
            assert_eq!(
                decode_image_bytes(&data, &DecodeLimits::default()),
                Ok(vec![])
            );
        }
        assert!(decode_luma(&image::GrayImage::new(1, 1)).is_empty());
        assert!(decode_luma(&image::GrayImage::new(0, 0)).is_empty());
    }

    /// Wraps a baseline JPEG with an EXIF APP1 segment carrying the given
    /// orientation tag.
    fn with_exif_orientation(jpeg: &[u8], orientation: u16) -> Vec<u8> {
        let mut tiff = b"MM\x00\x2a\x00\x00\x00\x08".to_vec();
        tiff.extend_from_slice(&1u16.to_be_bytes()); // one IFD entry
        tiff.extend_from_slice(&0x0112u16.to_be_bytes()); // Orientation
        tiff.extend_from_slice(&3u16.to_be_bytes()); // SHORT
        tiff.extend_from_slice(&1u32.to_be_bytes()); // count
        tiff.extend_from_slice(&orientation.to_be_bytes());
        tiff.extend_from_slice(&[0, 0]);
        tiff.extend_from_slice(&0u32.to_be_bytes()); // no next IFD
        let mut app1 = b"Exif\x00\x00".to_vec();
        app1.extend_from_slice(&tiff);
        let mut out = jpeg[..2].to_vec(); // SOI
        out.extend_from_slice(&[0xff, 0xe1]);
        out.extend_from_slice(&((app1.len() + 2) as u16).to_be_bytes());
        out.extend_from_slice(&app1);
        out.extend_from_slice(&jpeg[2..]);
        out
    }

    #[test]
    fn exif_orientation_is_applied() {
        let img =
            image::GrayImage::from_fn(40, 20, |x, _| image::Luma([if x < 20 { 0 } else { 255 }]));
        let jpeg = with_exif_orientation(&encode(&img, image::ImageFormat::Jpeg), 6);
        let loaded = limits::load_luma(&jpeg, &DecodeLimits::default()).unwrap();
        assert_eq!((loaded.width(), loaded.height()), (20, 40));
        // Orientation 6 = rotate 90° clockwise: the dark left half ends up on top.
        assert!(loaded.get_pixel(10, 5).0[0] < 64);
        assert!(loaded.get_pixel(10, 35).0[0] > 192);
    }
}
