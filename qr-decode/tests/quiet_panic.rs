//! The decoder's panic hook, in a process of its own (the hook is process-wide): a panic inside
//! rqrr that the decoder catches prints nothing, and every other panic still reaches the hook
//! that was installed before.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use qr_decode::{decode_image_bytes_report, DecodeLimits, LadderOptions};

/// A photo on which rqrr 0.11 panics (`assertion failed: x <= i32::MAX as f64`), from the
/// sample folder beside the repository checkout (`QR_SAMPLES_DIR` overrides it).
const PANICKING_SAMPLE: &str = "qrcode-6/7.png";

/// Messages that reached the hook installed before the decoder's.
static SEEN: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn seen() -> Vec<String> {
    SEEN.lock().unwrap_or_else(PoisonError::into_inner).clone()
}

#[test]
fn caught_rqrr_panics_are_silent_and_other_panics_are_not() {
    let dir = std::env::var_os("QR_SAMPLES_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/qr-samples")
        });
    let Ok(data) = std::fs::read(dir.join(PANICKING_SAMPLE)) else {
        println!(
            "skipping: {PANICKING_SAMPLE} not found in {}",
            dir.display()
        );
        return;
    };
    std::panic::set_hook(Box::new(|info| {
        SEEN.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(info.to_string());
    }));

    // No time budget: a loaded machine must not stop the ladder before the panicking step.
    let unbounded = LadderOptions {
        time_budget: Duration::from_secs(3600),
    };
    let report = decode_image_bytes_report(&data, &DecodeLimits::default(), &unbounded).unwrap();
    assert!(
        report.panics_caught > 0,
        "rqrr no longer panics on {PANICKING_SAMPLE}: pick another sample for this test"
    );
    assert_eq!(
        seen(),
        Vec::<String>::new(),
        "a caught panic reached the hook"
    );

    // Decoding on one thread while another panics: only the other one is reported.
    let decoder = std::thread::spawn(move || {
        decode_image_bytes_report(&data, &DecodeLimits::default(), &unbounded).unwrap()
    });
    let outside = std::thread::spawn(|| panic!("outside the decoder")).join();
    assert!(outside.is_err());
    assert!(decoder.join().unwrap().panics_caught > 0);
    let seen = seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert!(seen[0].contains("outside the decoder"), "{seen:?}");
}
