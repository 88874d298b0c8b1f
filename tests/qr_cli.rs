//! `fieldops qr decode` as a child process: a panic inside rqrr that the decoder catches is one
//! failed attempt, not a message and a backtrace on stderr.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_fieldops");

/// Photos on which rqrr 0.11 panics inside the decoding ladder (the only one in the sample set).
const PANICKING_SAMPLES: &[&str] = &["qrcode-6/7.png"];

#[test]
fn caught_rqrr_panics_print_nothing() {
    let dir = std::env::var_os("QR_SAMPLES_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/qr-samples"));
    let files: Vec<PathBuf> = PANICKING_SAMPLES.iter().map(|f| dir.join(f)).collect();
    if let Some(missing) = files.iter().find(|f| !f.is_file()) {
        println!("skipping: {} not found", missing.display());
        return;
    }
    let out = Command::new(BIN)
        .args(["qr", "decode"])
        .args(&files)
        // Would add a backtrace to a panic message if one were printed.
        .env("RUST_BACKTRACE", "1")
        .env("RUST_LOG", "info")
        .output()
        .expect("run fieldops qr decode");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "exit {:?}, stderr: {stderr}",
        out.status
    );
    assert!(
        !stderr.contains("panicked") && !stderr.contains("backtrace"),
        "stderr: {stderr}"
    );
}
