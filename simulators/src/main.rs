//! `fieldops-sim`: command-line front end to the simulators (see the `simulators` crate docs).
#![forbid(unsafe_code)]

mod bench;
mod bench_maintenance;
mod bench_map;
mod bench_office;
mod bench_qr;
mod bench_scans;
mod phone_cli;
mod tracker_cli;

use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, Parser, Subcommand};
use simulators::{measure_raw_qos1, parse_broker_url};

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
    Trackers(tracker_cli::TrackerArgs),
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
    /// The clock's maintenance sweeps at fleet scale: meter snapshots and opening work orders
    /// for 100,000 assets with 3 plans each, next to reading the fleet (BENCHMARKS.md,
    /// "Maintenance sweep"; scripts/bench-maintenance).
    BenchMaintenance(bench_maintenance::BenchMaintenanceArgs),
    /// The rental office at scale: the nightly customer classification and the availability
    /// query at 10,000 customers / 100,000 contracts, each next to a baseline (BENCHMARKS.md,
    /// "Rental office"; scripts/bench-office).
    BenchOffice(bench_office::BenchOfficeArgs),
    /// The dispatcher-map benchmark: seeds 100,000 assets over a country, starts `fieldops
    /// serve`, times the map and alert routes (p50/p99/max) and measures the console in headless
    /// Chromium: first paint, first map data, frame rate while trackers publish 1,000 readings/s
    /// (BENCHMARKS.md, "Dispatcher map"; scripts/bench-map runs both databases).
    BenchMap(bench_map::BenchMapArgs),
    /// PNGs of the console (map, heat map, asset drawer) at 1280x800 against a seeded fleet, in
    /// headless Chromium.
    Screenshots(bench_map::ScreenshotsArgs),
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
        Command::Trackers(args) => tracker_cli::run(args).await,
        Command::RawRate(args) => raw_rate(args).await,
        Command::BenchIngest(args) => bench::run(args).await,
        Command::BenchQr(args) => bench_qr::run(args),
        Command::Phone(args) => phone_cli::run(args).await,
        Command::BenchScans(args) => bench_scans::run(args).await,
        Command::BenchMaintenance(args) => bench_maintenance::run(args).await,
        Command::BenchOffice(args) => bench_office::run(args).await,
        Command::BenchMap(args) => bench_map::run(args).await,
        Command::Screenshots(args) => bench_map::screenshots(args).await,
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
pub(crate) async fn ctrl_c() {
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
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
