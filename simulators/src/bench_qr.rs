//! `fieldops-sim bench-qr`: the QR decoding benchmark (BENCHMARKS.md, "QR decoding").
//!
//! One run decodes every sample image with
//! 1. the project's decoder, in this process, through `qr_decode::decode_image_bytes_report` with
//!    default options (the code path of `fieldops qr decode` and of photo scans), timed per image
//!    from the encoded bytes in memory to the decoded codes;
//! 2. reference decoders from outside the project, on the same files: zxing-cpp's Python
//!    package (one `python3` process for all images, timed per image inside it, from opening the
//!    file to the decoded codes) and ZBar's `zbarimg` (one process per image, so its time
//!    includes process start).
//!
//! Sample layout (see the sample folder's README.md): `<folder>/<name>.<webp|png|jpg>` with
//! `<name>.txt` (expected text) or `<name>.bin` (expected bytes); folders named
//! `falsepositives*` hold images without a code. An image counts as decoded when any returned
//! code equals the expected payload exactly, as wrong when codes came back but none matched.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Write};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use qr_decode::{DecodeLimits, LadderOptions};

#[derive(Debug, Args)]
pub struct BenchQrArgs {
    /// Sample folder: `<folder>/<name>.<webp|png|jpg>` plus `<name>.txt` or `<name>.bin`;
    /// folders named `falsepositives*` hold images without a code.
    #[arg(long, default_value = "../shared/qr-samples")]
    samples: PathBuf,
    /// Reference decoders to run in the same run (comma-separated), or `none`.
    #[arg(long, value_delimiter = ',', default_value = "zxing-cpp,zbar")]
    reference: Vec<Reference>,
    /// Python interpreter with the `zxingcpp` and `PIL` modules (`pip install zxing-cpp pillow`).
    #[arg(long, default_value = "python3")]
    python: String,
    /// ZBar's command-line decoder (Debian package zbar-tools).
    #[arg(long, default_value = "zbarimg")]
    zbarimg: String,
    /// Only images whose path (relative to --samples) contains one of these texts
    /// (comma-separated).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Print one line per image and decoder on stderr.
    #[arg(long)]
    verbose: bool,
    /// Instead of the benchmark: run every ladder step the project knows alone on every image
    /// and write `image,kind,step,result,ms,panics` rows to this CSV file (for choosing the
    /// ladder's order; slow: hundreds of steps per image).
    #[arg(long)]
    step_matrix: Option<PathBuf>,
    /// With --step-matrix: only steps whose name contains one of these texts (comma-separated),
    /// plus the default ladder's steps.
    #[arg(long, value_delimiter = ',')]
    steps: Vec<String>,
    /// Instead of the default ladder, run these steps (comma-separated names as in
    /// --step-matrix) for the project decoder; for trying orderings without rebuilding.
    #[arg(long, value_delimiter = ',')]
    ladder: Option<Vec<String>>,
    /// Time budget per image for the project decoder in ms (default: the project's default).
    #[arg(long)]
    budget_ms: Option<u64>,
}

/// A decoder from outside the project.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Reference {
    /// zxing-cpp through its Python package.
    ZxingCpp,
    /// ZBar's `zbarimg`, one process per image.
    Zbar,
    /// No reference decoder.
    None,
}

/// What an image should decode to.
#[derive(Debug, Clone)]
enum Expected {
    /// No code in the image.
    Nothing,
    /// This text (UTF-8 bytes of the `.txt` file).
    Text(Vec<u8>),
    /// These payload bytes (`.bin` file).
    Bytes(Vec<u8>),
}

#[derive(Debug)]
struct Sample {
    path: PathBuf,
    /// Path relative to the sample folder, for reports.
    name: String,
    expected: Expected,
}

/// One code as a decoder returned it: its text and/or its raw payload bytes.
#[derive(Debug, Clone, Default)]
struct Code {
    text: Option<String>,
    bytes: Option<Vec<u8>>,
}

/// A decoder's answer for one image.
#[derive(Debug, Default)]
struct Outcome {
    codes: Vec<Code>,
    ms: f64,
    /// The decoder failed on the image (unreadable file, crash, …).
    error: Option<String>,
    /// rqrr panics caught inside the project decoder.
    panics_caught: u32,
    /// A panic that escaped the project decoder (caught here).
    panic_escaped: bool,
    /// Which ladder step found the code (project decoder only).
    attempt: Option<&'static str>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Decoded,
    Wrong,
    Missed,
    FalsePositive,
    Clean,
}

impl Expected {
    fn matches(&self, code: &Code) -> bool {
        match self {
            Expected::Nothing => false,
            Expected::Text(t) => code.text.as_deref().map(str::as_bytes) == Some(t.as_slice()),
            Expected::Bytes(b) => code.bytes.as_deref() == Some(b.as_slice()),
        }
    }

    fn verdict(&self, outcome: &Outcome) -> Verdict {
        match (self, outcome.codes.is_empty()) {
            (Expected::Nothing, true) => Verdict::Clean,
            (Expected::Nothing, false) => Verdict::FalsePositive,
            (_, true) => Verdict::Missed,
            (_, false) if outcome.codes.iter().any(|c| self.matches(c)) => Verdict::Decoded,
            (_, false) => Verdict::Wrong,
        }
    }
}

/// Totals for one decoder.
struct Summary {
    label: String,
    timing_note: &'static str,
    verdicts: Vec<Verdict>,
    ms: Vec<f64>,
    panics_caught: Option<u32>,
    panics_escaped: Option<u32>,
    errors: usize,
}

impl Summary {
    fn new(label: &str, timing_note: &'static str, samples: &[Sample], outs: &[Outcome]) -> Self {
        let project = label.starts_with("fieldops");
        Self {
            label: label.to_owned(),
            timing_note,
            verdicts: samples
                .iter()
                .zip(outs)
                .map(|(s, o)| s.expected.verdict(o))
                .collect(),
            ms: outs.iter().map(|o| o.ms).collect(),
            panics_caught: project.then(|| outs.iter().map(|o| o.panics_caught).sum()),
            panics_escaped: project.then(|| outs.iter().filter(|o| o.panic_escaped).count() as u32),
            errors: outs.iter().filter(|o| o.error.is_some()).count(),
        }
    }

    fn count(&self, v: Verdict) -> usize {
        self.verdicts.iter().filter(|&&x| x == v).count()
    }
}

/// Nearest-rank percentile of unsorted values.
fn percentile(values: &[f64], p: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
    v[rank.clamp(1, v.len()) - 1]
}

pub fn run(args: BenchQrArgs) -> Result<ExitCode> {
    let samples = load_samples(&args.samples, &args.only)?;
    let positives = samples
        .iter()
        .filter(|s| !matches!(s.expected, Expected::Nothing))
        .count();
    let negatives = samples.len() - positives;
    eprintln!(
        "bench-qr: {} images ({positives} with a code, {negatives} without) from {}",
        samples.len(),
        args.samples.display()
    );
    if let Some(csv) = &args.step_matrix {
        return step_matrix(&samples, csv, &args.steps);
    }

    let mut options = LadderOptions::default();
    if let Some(ms) = args.budget_ms {
        options.time_budget = Duration::from_millis(ms);
    }
    let ladder: Option<Vec<&str>> = args
        .ladder
        .as_ref()
        .map(|v| v.iter().map(String::as_str).collect());
    if let Some(names) = &ladder {
        let known = qr_decode::bench_support::step_names();
        if let Some(bad) = names.iter().find(|n| !known.contains(n)) {
            bail!("--ladder: unknown step {bad:?} (see --step-matrix for the names)");
        }
    }

    // rqrr panics are caught, counted and kept off stderr by the decoder itself.
    let project: Vec<Outcome> = samples
        .iter()
        .map(|s| decode_project(&s.path, &options, ladder.as_deref()))
        .collect();
    let project_label = if ladder.is_some() || args.budget_ms.is_some() {
        "fieldops (image + rqrr ladder, custom options)"
    } else {
        "fieldops (image + rqrr ladder)"
    };
    let mut results = vec![(
        Summary::new(
            project_label,
            "in process, encoded bytes → codes",
            &samples,
            &project,
        ),
        project,
    )];

    let mut refs: Vec<Reference> = args
        .reference
        .iter()
        .copied()
        .filter(|r| *r != Reference::None)
        .collect();
    refs.dedup();
    for r in refs {
        let (label, note, outs) = match r {
            Reference::ZxingCpp => {
                let (version, outs) = decode_zxing(&args.python, &samples)?;
                (
                    format!("zxing-cpp {version} (Python)"),
                    "in one python3 process, file → codes",
                    outs,
                )
            }
            Reference::Zbar => {
                let (version, outs) = decode_zbar(&args.zbarimg, &samples)?;
                (
                    format!("ZBar zbarimg {version}"),
                    "one process per image, includes process start",
                    outs,
                )
            }
            Reference::None => continue,
        };
        results.push((Summary::new(&label, note, &samples, &outs), outs));
    }

    if args.verbose {
        for (i, s) in samples.iter().enumerate() {
            for (summary, outs) in &results {
                let o = &outs[i];
                eprintln!(
                    "{:<28} {:<40} {:>14?} {:>8.1} ms{}{}",
                    s.name,
                    summary.label,
                    summary.verdicts[i],
                    o.ms,
                    o.attempt.map(|a| format!(" [{a}]")).unwrap_or_default(),
                    o.error
                        .as_ref()
                        .map(|e| format!(" error: {e}"))
                        .unwrap_or_default()
                );
            }
        }
    }

    print!("{}", table(&results, positives, negatives));
    println!();
    print!("{}", missed_list(&samples, &results));
    Ok(ExitCode::SUCCESS)
}

/// Lists the sample images: every image file, with its expected payload.
fn load_samples(dir: &Path, only: &[String]) -> Result<Vec<Sample>> {
    let mut folders: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading sample folder {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    folders.sort();
    let mut samples = Vec::new();
    for folder in folders {
        let folder_name = folder
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let negative = folder_name.starts_with("falsepositives");
        let mut images: Vec<PathBuf> = std::fs::read_dir(&folder)
            .with_context(|| format!("reading {}", folder.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.extension()
                    .and_then(|e| e.to_str())
                    .is_some_and(|e| matches!(e, "webp" | "png" | "jpg" | "jpeg"))
            })
            .collect();
        images.sort();
        for path in images {
            let name = format!(
                "{folder_name}/{}",
                path.file_name()
                    .map(|n| n.to_string_lossy())
                    .unwrap_or_default()
            );
            if !only.is_empty() && !only.iter().any(|o| name.contains(o.as_str())) {
                continue;
            }
            let expected = if negative {
                Expected::Nothing
            } else if let Ok(text) = std::fs::read(path.with_extension("txt")) {
                Expected::Text(text)
            } else if let Ok(bytes) = std::fs::read(path.with_extension("bin")) {
                Expected::Bytes(bytes)
            } else {
                bail!("{name}: no {0}.txt or {0}.bin beside it", path.display());
            };
            samples.push(Sample {
                path,
                name,
                expected,
            });
        }
    }
    if samples.is_empty() {
        bail!("no sample images under {}", dir.display());
    }
    Ok(samples)
}

/// The project decoder on one file. The file is read before the clock starts; a panic that
/// escaped the decoder is caught here and reported, never hidden.
fn decode_project(path: &Path, options: &LadderOptions, ladder: Option<&[&str]>) -> Outcome {
    let data = match std::fs::read(path) {
        Ok(d) => d,
        Err(e) => {
            return Outcome {
                error: Some(e.to_string()),
                ..Outcome::default()
            }
        }
    };
    let limits = DecodeLimits::default();
    let start = Instant::now();
    let result = catch_unwind(AssertUnwindSafe(|| match ladder {
        None => qr_decode::decode_image_bytes_report(&data, &limits, options),
        Some(names) => qr_decode::bench_support::load(&data).map(|img| {
            qr_decode::bench_support::decode_with_steps(&img, names, options.time_budget)
        }),
    }));
    let ms = start.elapsed().as_secs_f64() * 1000.0;
    match result {
        Ok(Ok(report)) => Outcome {
            attempt: report.codes.first().map(|c| c.attempt),
            codes: report
                .codes
                .into_iter()
                .map(|c| Code {
                    text: Some(c.text),
                    bytes: Some(c.bytes),
                })
                .collect(),
            ms,
            panics_caught: report.panics_caught,
            ..Outcome::default()
        },
        Ok(Err(e)) => Outcome {
            ms,
            error: Some(e.to_string()),
            ..Outcome::default()
        },
        Err(_) => Outcome {
            ms,
            error: Some("panic escaped the decoder".into()),
            panic_escaped: true,
            ..Outcome::default()
        },
    }
}

/// Reads paths (one per line) on stdin, answers one JSON line per path. Images are converted to
/// 8-bit grey by Pillow; zxing-cpp runs with its defaults (try rotate, downscale, invert),
/// restricted to QR codes, with plain text (its default "HRI" text would escape control
/// characters and reformat GS1 data, which the expected payloads hold verbatim). The time
/// covers opening the file to the decoded codes.
const ZXING_SCRIPT: &str = r#"
import json, sys, time
import zxingcpp
from PIL import Image
try:
    from importlib.metadata import version
    ver = version("zxing-cpp")
except Exception:
    ver = "?"
print(json.dumps({"version": ver}), flush=True)
fmt = zxingcpp.BarcodeFormat.QRCode
plain = zxingcpp.TextMode.Plain
for line in sys.stdin:
    path = line.rstrip("\n")
    t0 = time.perf_counter()
    try:
        with Image.open(path) as im:
            grey = im.convert("L")
        found = zxingcpp.read_barcodes(grey, formats=fmt, text_mode=plain)
        ms = (time.perf_counter() - t0) * 1000.0
        codes = [{"text": r.text, "bytes": bytes(r.bytes).hex()} for r in found]
        out = {"ms": ms, "codes": codes}
    except Exception as e:
        out = {"ms": (time.perf_counter() - t0) * 1000.0, "codes": [], "error": repr(e)}
    print(json.dumps(out), flush=True)
"#;

/// A child process that is killed if the run ends early.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn decode_zxing(python: &str, samples: &[Sample]) -> Result<(String, Vec<Outcome>)> {
    let mut child = KillOnDrop(
        Command::new(python)
            .args(["-c", ZXING_SCRIPT])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("starting {python} for zxing-cpp"))?,
    );
    let (Some(mut stdin), Some(stdout)) = (child.0.stdin.take(), child.0.stdout.take()) else {
        bail!("no pipes to {python}");
    };
    let mut lines = BufReader::new(stdout).lines();
    let hello = lines.next().transpose()?.with_context(|| {
        format!("{python} could not load zxing-cpp (pip install zxing-cpp pillow)")
    })?;
    let hello: serde_json::Value = serde_json::from_str(&hello)?;
    let version = hello["version"].as_str().unwrap_or("?").to_owned();
    let mut outs = Vec::with_capacity(samples.len());
    for s in samples {
        outs.push(zxing_one(&mut stdin, &mut lines, &s.path)?);
    }
    drop(stdin);
    let _ = child.0.wait();
    Ok((version, outs))
}

fn zxing_one(
    stdin: &mut ChildStdin,
    lines: &mut std::io::Lines<BufReader<ChildStdout>>,
    path: &Path,
) -> Result<Outcome> {
    let abs = std::fs::canonicalize(path)?;
    let Some(p) = abs.to_str().filter(|p| !p.contains('\n')) else {
        bail!(
            "{}: path not usable for the zxing-cpp script",
            path.display()
        );
    };
    writeln!(stdin, "{p}")?;
    stdin.flush()?;
    let line = lines
        .next()
        .transpose()?
        .context("the zxing-cpp process ended early")?;
    let v: serde_json::Value = serde_json::from_str(&line)?;
    let codes = v["codes"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|c| Code {
                    text: c["text"].as_str().map(str::to_owned),
                    bytes: c["bytes"].as_str().and_then(hex_decode),
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(Outcome {
        codes,
        ms: v["ms"].as_f64().unwrap_or(f64::NAN),
        error: v["error"].as_str().map(str::to_owned),
        ..Outcome::default()
    })
}

fn hex_decode(h: &str) -> Option<Vec<u8>> {
    if h.len() % 2 != 0 {
        return None;
    }
    (0..h.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(h.get(i..i + 2)?, 16).ok())
        .collect()
}

fn decode_zbar(zbarimg: &str, samples: &[Sample]) -> Result<(String, Vec<Outcome>)> {
    let version = Command::new(zbarimg)
        .arg("--version")
        .stderr(Stdio::null())
        .output()
        .with_context(|| format!("running {zbarimg} (apt-get install zbar-tools)"))?;
    let version = String::from_utf8_lossy(&version.stdout).trim().to_owned();
    let outs = samples
        .iter()
        .map(|s| zbar_one(zbarimg, s))
        .collect::<Result<Vec<_>>>()?;
    Ok((version, outs))
}

/// One `zbarimg` process, QR only. Text payloads come from its default output, one
/// `QR-Code:<text>` per symbol (text as ZBar converts it; its `--xml` output garbles Shift_JIS
/// text, so it is not used); a `.bin` payload is read with `-Sbinary`, where the whole output is
/// the payload.
fn zbar_one(zbarimg: &str, s: &Sample) -> Result<Outcome> {
    let binary = matches!(s.expected, Expected::Bytes(_));
    let mut cmd = Command::new(zbarimg);
    cmd.args(["--quiet", "-Sdisable", "-Sqrcode.enable"]);
    if binary {
        cmd.arg("-Sbinary");
    }
    cmd.arg(&s.path).stdin(Stdio::null()).stderr(Stdio::piped());
    let start = Instant::now();
    let out = cmd.output().with_context(|| format!("running {zbarimg}"))?;
    let ms = start.elapsed().as_secs_f64() * 1000.0;
    // 0 = found, 4 = no symbol found.
    let error = match out.status.code() {
        Some(0 | 4) => None,
        _ => Some(format!(
            "{}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )),
    };
    let codes = if out.status.code() != Some(0) {
        Vec::new()
    } else if binary {
        vec![Code {
            text: None,
            bytes: Some(out.stdout),
        }]
    } else {
        zbar_text_codes(&String::from_utf8_lossy(&out.stdout))
    };
    Ok(Outcome {
        codes,
        ms,
        error,
        ..Outcome::default()
    })
}

/// Splits zbarimg's default output into symbols: each starts with `QR-Code:` and ends with a
/// line break (payloads may hold line breaks themselves).
fn zbar_text_codes(out: &str) -> Vec<Code> {
    const PREFIX: &str = "QR-Code:";
    let out = out.strip_suffix('\n').unwrap_or(out);
    let Some(body) = out.strip_prefix(PREFIX) else {
        return Vec::new();
    };
    body.split(&format!("\n{PREFIX}"))
        .map(|t| Code {
            text: Some(t.to_owned()),
            bytes: Some(t.as_bytes().to_vec()),
        })
        .collect()
}

fn table(results: &[(Summary, Vec<Outcome>)], positives: usize, negatives: usize) -> String {
    let mut t = String::new();
    let _ = writeln!(
        t,
        "| decoder | decoded / {positives} | wrong | false positives / {negatives} | panics caught / escaped | median ms | p95 ms | timing |"
    );
    let _ = writeln!(t, "|---|---:|---:|---:|---:|---:|---:|---|");
    for (s, _) in results {
        let decoded = s.count(Verdict::Decoded);
        let panics = match (s.panics_caught, s.panics_escaped) {
            (Some(c), Some(e)) => format!("{c} / {e}"),
            _ => "—".into(),
        };
        let errors = if s.errors > 0 {
            format!(" ({} images failed)", s.errors)
        } else {
            String::new()
        };
        let _ = writeln!(
            t,
            "| {} | {decoded} ({:.1} %) | {} | {} | {panics} | {:.1} | {:.1} | {}{errors} |",
            s.label,
            100.0 * decoded as f64 / positives.max(1) as f64,
            s.count(Verdict::Wrong),
            s.count(Verdict::FalsePositive),
            percentile(&s.ms, 50.0),
            percentile(&s.ms, 95.0),
            s.timing_note,
        );
    }
    t
}

/// The images the project decoder did not decode (or got wrong, or found a code in), with what
/// the references made of them.
fn missed_list(samples: &[Sample], results: &[(Summary, Vec<Outcome>)]) -> String {
    let Some((project, _)) = results.first() else {
        return String::new();
    };
    let mut t = String::new();
    for (i, s) in samples.iter().enumerate() {
        let v = project.verdicts[i];
        if matches!(v, Verdict::Decoded | Verdict::Clean) {
            continue;
        }
        let others: Vec<String> = results[1..]
            .iter()
            .map(|(r, _)| format!("{}: {:?}", short_label(&r.label), r.verdicts[i]))
            .collect();
        let others = if others.is_empty() {
            String::new()
        } else {
            format!(" ({})", others.join(", "))
        };
        let _ = writeln!(t, "- {}: {v:?}{others}", s.name);
    }
    if !t.is_empty() {
        t.insert_str(0, "Not decoded correctly by fieldops:\n");
    }
    t
}

fn short_label(label: &str) -> &str {
    label.split_whitespace().next().unwrap_or(label)
}

/// Every step alone on every image: which steps decode which images, and their cost.
fn step_matrix(samples: &[Sample], csv: &Path, filter: &[String]) -> Result<ExitCode> {
    use qr_decode::bench_support as bs;
    let default = bs::default_ladder();
    let steps: Vec<&str> = bs::step_names()
        .into_iter()
        .filter(|s| {
            filter.is_empty()
                || default.contains(s)
                || filter.iter().any(|f| s.contains(f.as_str()))
        })
        .collect();
    let mut out = std::io::BufWriter::new(
        std::fs::File::create(csv).with_context(|| format!("creating {}", csv.display()))?,
    );
    writeln!(out, "image,kind,step,result,ms,panics")?;
    std::panic::set_hook(Box::new(|_| {}));
    for (n, s) in samples.iter().enumerate() {
        eprintln!("step matrix: {}/{} {}", n + 1, samples.len(), s.name);
        let data = std::fs::read(&s.path)?;
        let Ok(img) = bs::load(&data) else {
            continue;
        };
        let kind = if matches!(s.expected, Expected::Nothing) {
            "neg"
        } else {
            "pos"
        };
        for step in &steps {
            let start = Instant::now();
            let res = catch_unwind(AssertUnwindSafe(|| bs::run_step(&img, step)));
            let ms = start.elapsed().as_secs_f64() * 1000.0;
            let (result, panics) = match res {
                Err(_) => ("escaped", 1),
                Ok(None) => ("n/a", 0),
                Ok(Some((codes, panics))) => {
                    let outcome = Outcome {
                        codes: codes
                            .into_iter()
                            .map(|c| Code {
                                text: Some(c.text),
                                bytes: Some(c.bytes),
                            })
                            .collect(),
                        ..Outcome::default()
                    };
                    let r = match s.expected.verdict(&outcome) {
                        Verdict::Decoded => "decoded",
                        Verdict::Wrong => "wrong",
                        Verdict::FalsePositive => "fp",
                        Verdict::Missed | Verdict::Clean => "none",
                    };
                    (r, panics)
                }
            };
            writeln!(out, "{},{kind},{step},{result},{ms:.2},{panics}", s.name)?;
        }
    }
    let _ = std::panic::take_hook();
    out.flush()?;
    eprintln!("step matrix written to {}", csv.display());
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn percentile_is_nearest_rank() {
        let v: Vec<f64> = (1..=20).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), 10.0);
        assert_eq!(percentile(&v, 95.0), 19.0);
        assert_eq!(percentile(&[3.0], 95.0), 3.0);
    }

    #[test]
    fn zbar_output_splits_into_symbols() {
        let codes = zbar_text_codes("QR-Code:Google\r\nhttp://g.jp\nQR-Code:second\n");
        let texts: Vec<_> = codes.iter().map(|c| c.text.as_deref()).collect();
        assert_eq!(texts, [Some("Google\r\nhttp://g.jp"), Some("second")]);
        assert!(zbar_text_codes("").is_empty());
    }

    #[test]
    fn verdicts() {
        let text = Expected::Text(b"abc".to_vec());
        let code = |t: &str| Code {
            text: Some(t.into()),
            bytes: Some(t.as_bytes().to_vec()),
        };
        let out = |codes| Outcome {
            codes,
            ..Outcome::default()
        };
        assert_eq!(
            text.verdict(&out(vec![code("x"), code("abc")])),
            Verdict::Decoded
        );
        assert_eq!(text.verdict(&out(vec![code("x")])), Verdict::Wrong);
        assert_eq!(text.verdict(&out(vec![])), Verdict::Missed);
        assert_eq!(
            Expected::Nothing.verdict(&out(vec![code("x")])),
            Verdict::FalsePositive
        );
        let bin = Expected::Bytes(vec![0, 1]);
        let b = Code {
            text: None,
            bytes: Some(vec![0, 1]),
        };
        assert_eq!(bin.verdict(&out(vec![b])), Verdict::Decoded);
    }
}
