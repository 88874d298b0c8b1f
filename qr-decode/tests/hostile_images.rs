//! Hostile image uploads to the QR decoder, as property tests: bytes behind each format's
//! magic number, headers declaring absurd sizes, and real sample photos cut short or with
//! bytes flipped. Each answers codes or a typed error without a panic (a panic inside rqrr is
//! caught and counted, never raised) and without decoding past the limits.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use proptest::prelude::*;
use qr_decode::{decode_image_bytes, decode_image_bytes_report, DecodeLimits, LadderOptions};

const MAGIC: &[&[u8]] = &[
    b"\x89PNG\r\n\x1a\n",
    b"\xff\xd8\xff\xe0",
    b"RIFF\x00\x00\x00\x00WEBPVP8 ",
    b"GIF89a",
    b"",
];

/// Small limits so a case that slips past the header checks still costs little.
fn limits() -> DecodeLimits {
    DecodeLimits {
        max_bytes: 64 * 1024,
        max_pixels: 200_000,
        ..DecodeLimits::default()
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn garbage_behind_a_magic_number_is_an_error_not_a_panic(
        magic in prop::sample::select(MAGIC),
        rest in prop::collection::vec(any::<u8>(), 0..2048),
    ) {
        let mut data = magic.to_vec();
        data.extend(rest);
        let _ = decode_image_bytes(&data, &limits());
    }

    #[test]
    fn a_png_header_declaring_any_size_is_checked_before_decoding(
        width in any::<u32>(),
        height in any::<u32>(),
    ) {
        // Signature, then an IHDR chunk (its CRC left wrong: the size check comes first).
        let mut data = b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR".to_vec();
        data.extend(width.to_be_bytes());
        data.extend(height.to_be_bytes());
        data.extend([8, 0, 0, 0, 0, 0, 0, 0, 0]);
        let pixels = u64::from(width) * u64::from(height);
        let result = decode_image_bytes(&data, &limits());
        if pixels > limits().max_pixels {
            prop_assert!(result.is_err(), "{width}x{height} was not refused");
        }
    }
}

/// The sample folder beside the checkout (`QR_SAMPLES_DIR` overrides it); `None` when absent
/// outside CI.
fn sample(name: &str) -> Option<Vec<u8>> {
    let dir = std::env::var_os("QR_SAMPLES_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/qr-samples")
        });
    match std::fs::read(dir.join(name)) {
        Ok(data) => Some(data),
        Err(e) if std::env::var_os("CI").is_some() => panic!("CI needs {name}: {e}"),
        Err(_) => {
            eprintln!("SKIPPED: QR sample {name} not found");
            None
        }
    }
}

#[test]
fn real_photos_cut_short_or_corrupted_never_panic() {
    let Some(photo) = sample("qrcode-1/1.webp") else {
        return;
    };
    let limits = DecodeLimits::default();
    let options = LadderOptions::default();
    // Cut at a spread of lengths, and with one byte flipped at a spread of offsets.
    let step = (photo.len() / 24).max(1);
    for cut in (0..photo.len()).step_by(step) {
        let _ = decode_image_bytes_report(&photo[..cut], &limits, &options);
    }
    for at in (0..photo.len()).step_by(step) {
        let mut bad = photo.clone();
        bad[at] ^= 0xa5;
        let _ = decode_image_bytes_report(&bad, &limits, &options);
    }
}
