//! `fieldops-sim`: command-line front end to the simulators (see the `simulators` crate docs).
#![forbid(unsafe_code)]

mod bench;
mod bench_qr;
mod bench_scans;
mod phone_cli;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use rumqttc::QoS;
use simulators::tracker::{progress_bar_callback, run_fleet_with_progress};
use simulators::{measure_raw_qos1, numbered_devices, parse_broker_url, DeviceCreds, FleetConfig};

/// Tracker-fleet simulator and MQTT load generator for fieldops.
#[derive(Debug, Parser)]
#[command(name = "fieldops-sim", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Simulate GPS trackers publishing telemetry to an MQTT broker.
    Trackers(TrackerArgs),
    /// Measure the broker's raw QoS 1 delivery rate to one plain subscriber.
    RawRate(RawRateArgs),
    /// The MQTT-ingest benchmark: seeds a database, starts a broker and the gateway, measures
    /// the raw QoS 1 ceiling, the committed rate, latency at half that rate, CPU and memory
    /// (BENCHMARKS.md, "MQTT ingest"; scripts/bench-ingest runs all combinations).
    BenchIngest(bench::BenchIngestArgs),
    /// The QR decoding benchmark: the project's decoder and reference decoders (zxing-cpp,
    /// zbarimg) on the same sample photos, in one run (BENCHMARKS.md, "QR decoding";
    /// scripts/bench-qr).
    BenchQr(bench_qr::BenchQrArgs),
    /// Simulate technicians' phones against a running server: deliveries and returns (some
    /// with label photos), inspections, offline queues flushed with duplicates, a stocktake with
    /// RFID bursts; prints applied / duplicate / rejected per action.
    Phone(phone_cli::PhoneArgs),
    /// The scan-API benchmark: seeds 100,000 assets, starts `fieldops api`, measures lookups,
    /// deliver/return commands and offline batches against an authenticated-GET baseline
    /// (BENCHMARKS.md, "Scan API"; scripts/bench-scans runs both databases).
    BenchScans(bench_scans::BenchScansArgs),
}

#[derive(Debug, Args)]
struct TrackerArgs {
    /// Broker URL.
    #[arg(
        long,
        env = "FIELDOPS_SIM_BROKER",
        default_value = "mqtt://127.0.0.1:1883"
    )]
    broker: String,
    /// Number of simulated devices (ignored with --credentials).
    #[arg(long, default_value_t = 10)]
    devices: usize,
    /// Device ids are <prefix><zero-padded number from 1>.
    #[arg(long, default_value = "sim-")]
    device_prefix: String,
    /// One MQTT password for every device; the username is then the device id.
    #[arg(long, env = "FIELDOPS_SIM_PASSWORD", hide_env_values = true)]
    password: Option<String>,
    /// File with one `device_id password` per line (from `fieldops device add`); replaces
    /// --devices, --device-prefix and --password.
    #[arg(long)]
    credentials: Option<PathBuf>,
    /// Share K MQTT connections among all devices instead of one connection per device.
    #[arg(long)]
    connections: Option<usize>,
    /// Messages per second across the fleet; 0 = as fast as the broker accepts.
    #[arg(long, default_value_t = 10.0)]
    rate: f64,
    /// Stop after this many messages.
    #[arg(long, conflicts_with = "duration")]
    messages: Option<u64>,
    /// Stop after this many seconds.
    #[arg(long)]
    duration: Option<f64>,
    /// Fraction of devices that go offline now and then and flush their buffer as an array.
    #[arg(long, default_value_t = 0.0)]
    offline_share: f64,
    /// Fraction of messages deliberately malformed.
    #[arg(long, default_value_t = 0.0)]
    malformed_share: f64,
    /// Fraction of devices reporting engine hours (the rest only ignition).
    #[arg(long, default_value_t = 0.7)]
    hour_meter_share: f64,
    /// Shuffle which device publishes next.
    #[arg(long)]
    random_order: bool,
    /// Random seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// MQTT QoS (0, 1 or 2).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(0..=2))]
    qos: u8,
    /// No progress bar (e.g. in CI logs).
    #[arg(long)]
    no_progress: bool,
}

#[derive(Debug, Args)]
struct RawRateArgs {
    /// Broker URL.
    #[arg(
        long,
        env = "FIELDOPS_SIM_BROKER",
        default_value = "mqtt://127.0.0.1:1883"
    )]
    broker: String,
    /// Publishing clients.
    #[arg(long, default_value_t = 4)]
    publishers: usize,
    /// Messages in total.
    #[arg(long, default_value_t = 100_000)]
    messages: u64,
    /// Payload size in bytes (a native reading is about 200).
    #[arg(long, default_value_t = 200)]
    payload_bytes: usize,
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,rumqttc=error")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Trackers(args) => trackers(args).await,
        Command::RawRate(args) => raw_rate(args).await,
        Command::BenchIngest(args) => bench::run(args).await,
        Command::BenchQr(args) => bench_qr::run(args),
        Command::Phone(args) => phone_cli::run(args).await,
        Command::BenchScans(args) => bench_scans::run(args).await,
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("fieldops-sim: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Completes on Ctrl-C; never, if the signal handler cannot be installed (rather than at once,
/// which would end the run before it started).
async fn ctrl_c() {
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
}

async fn trackers(args: TrackerArgs) -> Result<ExitCode> {
    let (host, port) = parse_broker_url(&args.broker)?;
    let devices = match &args.credentials {
        Some(path) => read_credentials(path)?,
        None => numbered_devices(&args.device_prefix, args.devices, args.password.as_deref()),
    };
    let duration = match args.duration {
        Some(s) if s.is_finite() && s > 0.0 => Some(Duration::from_secs_f64(s)),
        Some(s) => bail!("--duration must be a positive number of seconds, got {s}"),
        None => None,
    };
    let mut config = FleetConfig::new(host, port, devices);
    config.connections = args.connections;
    config.rate_per_sec = args.rate;
    config.total_messages = args.messages;
    config.duration = duration;
    config.offline_share = args.offline_share;
    config.malformed_share = args.malformed_share;
    config.hour_meter_share = args.hour_meter_share;
    config.random_order = args.random_order;
    config.seed = args.seed;
    config.qos = match args.qos {
        0 => QoS::AtMostOnce,
        2 => QoS::ExactlyOnce,
        _ => QoS::AtLeastOnce,
    };
    let qos = config.qos;

    let bar = (!args.no_progress).then(|| {
        let bar = match config.total_messages {
            Some(total) => ProgressBar::new(total),
            None => ProgressBar::new_spinner(),
        };
        let template = if config.total_messages.is_some() {
            "[{elapsed_precise}] {bar:30} {pos}/{len} {msg}"
        } else {
            "{spinner} [{elapsed_precise}] {pos} messages {msg}"
        };
        bar.set_style(
            ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar
    });
    let summary =
        run_fleet_with_progress(config, ctrl_c(), bar.clone().map(progress_bar_callback)).await?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    println!("{summary}");
    if qos != QoS::AtMostOnce && summary.unacked() > 0 {
        eprintln!(
            "fieldops-sim: {} messages were not acknowledged by the broker",
            summary.unacked()
        );
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// Reads `device_id password` lines; blank lines and `#` comments are skipped.
fn read_credentials(path: &Path) -> Result<Vec<DeviceCreds>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading credentials from {}", path.display()))?;
    let mut devices = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut parts = line.split_whitespace();
        let (Some(id), password, None) = (parts.next(), parts.next(), parts.next()) else {
            bail!(
                "{}:{}: expected `device_id [password]`",
                path.display(),
                i + 1
            );
        };
        devices.push(DeviceCreds {
            device_id: id.to_owned(),
            username: password.map(|_| id.to_owned()),
            password: password.map(str::to_owned),
        });
    }
    if devices.is_empty() {
        bail!("{} lists no devices", path.display());
    }
    Ok(devices)
}

async fn raw_rate(args: RawRateArgs) -> Result<ExitCode> {
    let (host, port) = parse_broker_url(&args.broker)?;
    let rate = measure_raw_qos1(
        &host,
        port,
        args.publishers,
        args.messages,
        args.payload_bytes,
    )
    .await?;
    println!(
        "raw QoS 1 rate: {:.0} msg/s ({} of {} delivered in {:.3} s; {} publishers, {}-byte payloads, broker {}:{})",
        rate.msgs_per_sec,
        rate.received,
        args.messages,
        rate.elapsed.as_secs_f64(),
        args.publishers,
        args.payload_bytes,
        host,
        port
    );
    if rate.received < args.messages {
        eprintln!(
            "fieldops-sim: the broker dropped {} messages for the subscriber (queue limit?)",
            args.messages - rate.received
        );
    }
    Ok(ExitCode::SUCCESS)
}
