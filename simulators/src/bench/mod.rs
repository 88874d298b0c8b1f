//! `fieldops-sim bench-ingest`: the MQTT-ingest benchmark (BENCHMARKS.md, "MQTT ingest").
//!
//! One run, one table row:
//!
//! 1. seeds the database with N assets, each with a bound tracker sharing one password
//!    (`domain::seed::seed_fleet`), unless that fleet is already there;
//! 2. starts the broker and the gateway as child processes: a private, tuned Mosquitto plus
//!    `fieldops gateway`, or `fieldops serve` with its embedded MQTT endpoint (then the trackers
//!    connect to the gateway process itself);
//! 3. Mosquitto only: measures the broker's raw QoS 1 delivery rate to a do-nothing subscriber
//!    — the ceiling — against that same broker, on a topic the gateway does not subscribe to.
//!    The embedded endpoint delivers to no subscriber, so it has no raw rate of its own: its
//!    baseline is the Mosquitto row of the same backend in the same `scripts/bench-ingest` run;
//! 4. max-rate phase: the trackers publish M readings in random order as fast as they are
//!    acknowledged. Through Mosquitto, K shared connections publish for all N trackers; the
//!    embedded endpoint lets a device publish only under its own id after logging in as it, so
//!    there the first `--embedded-trackers` trackers each publish on a connection of their own,
//!    logged in with the seeded password. The committed rate is the gateway's `applied` counter delta
//!    over the time from the first publish to the moment that counter reached its final value
//!    (found by polling `/metrics` every 50 ms); gateway CPU per message comes from
//!    `/proc/<pid>/stat`;
//! 5. half-rate phase: the fleet publishes at half the committed rate for a while; latency
//!    percentiles come from the delta of the gateway's `fieldops_ingest_lag_seconds` histogram
//!    (commit time − reading timestamp; the publishers stamp `ts` with this machine's clock at
//!    publish time, so that is publish → committed), interpolated linearly inside a bucket;
//!    skipped when the max-rate phase did not get every reading committed;
//! 6. prints the row (or JSON) and stops the children. Children are killed on error and on
//!    Ctrl-C too (`kill_on_drop`).
//!
//! Linux only: CPU and peak RSS are read from `/proc`.
//!
//! Modules: `seed` (the fleet in the database), `children` (Mosquitto and `fieldops` as child
//! processes), `scrape` (`/readyz`, `/metrics`, histogram quantiles), `procfs` (CPU, RSS, load
//! from `/proc`), `phase` (one publishing phase against the gateway's counter), `report` (table
//! row and JSON). `bench-scans` reuses the child
//! process and `/proc` helpers.

mod children;
mod phase;
mod procfs;
mod report;
mod scrape;
mod seed;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use simulators::{measure_raw_qos1, DeviceCreds, FleetConfig};
use tokio::process::Command;

use children::start_mosquitto;
use phase::run_phase;
use procfs::Pids;
use report::Report;
use scrape::{wait_ready, Scraper};
use seed::seed;

// What `bench-scans` reuses.
pub(crate) use children::{start_fieldops, ChildProc};
pub(crate) use procfs::{
    clock_ticks_per_sec, loadavg, postgres_cpu_secs, proc_cpu_secs, vm_hwm_kb,
};

/// MQTT client id of the gateway under test.
const GATEWAY_CLIENT_ID: &str = "bench-gw";
/// Payload of the raw-rate baseline: about the size of a native reading.
const RAW_PAYLOAD_BYTES: usize = 200;
/// Bound on the gateway becoming ready (migrations on a fresh database included).
const STARTUP_TIMEOUT: Duration = Duration::from_secs(120);

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BrokerKind {
    /// A private Mosquitto child process plus `fieldops gateway`.
    Mosquitto,
    /// `fieldops serve` with its embedded MQTT endpoint: trackers connect to the gateway
    /// process, each logged in as itself.
    Embedded,
}

impl BrokerKind {
    fn as_str(self) -> &'static str {
        match self {
            BrokerKind::Mosquitto => "mosquitto",
            BrokerKind::Embedded => "embedded",
        }
    }
}

#[derive(Debug, Args)]
pub struct BenchIngestArgs {
    /// The release `fieldops` binary to benchmark.
    #[arg(long)]
    fieldops: PathBuf,
    /// Database: `sqlite://PATH` or `postgres://…/DB` (use a fresh one; it is seeded here).
    #[arg(long)]
    database: String,
    /// Which broker the trackers and the gateway use.
    #[arg(long, value_enum)]
    broker: BrokerKind,
    /// Assets (each with one tracker) to seed and report in random order.
    #[arg(long, default_value_t = 100_000)]
    assets: usize,
    /// Readings published in the max-rate phase.
    #[arg(long, default_value_t = 200_000)]
    messages: u64,
    /// MQTT connections the trackers share through Mosquitto (and publishers of the raw
    /// baseline).
    #[arg(long, default_value_t = 4)]
    publishers: usize,
    /// Trackers that publish against the embedded endpoint, each on its own connection logged
    /// in as itself (the endpoint confines a device to its own topics, so connections cannot be
    /// shared; one socket per seeded tracker would be 100,000 on each side of this machine).
    /// At most `--assets`.
    #[arg(long, default_value_t = 2_000)]
    embedded_trackers: usize,
    /// Messages of the raw QoS 1 baseline.
    #[arg(long, default_value_t = 100_000)]
    raw_messages: u64,
    /// Length of the half-rate (latency) phase, in seconds.
    #[arg(long, default_value_t = 10.0)]
    half_rate_secs: f64,
    /// Mosquitto executable (for --broker mosquitto).
    #[arg(long, default_value = "mosquitto")]
    mosquitto: PathBuf,
    /// Tracker ids are <prefix><6-digit number> (as `seed_fleet` makes them).
    #[arg(long, default_value = "bn-")]
    device_prefix: String,
    /// Asset codes are <prefix>-<6-digit number>.
    #[arg(long, default_value = "BN")]
    code_prefix: String,
    /// The seeded trackers' shared MQTT password (a throwaway benchmark credential).
    #[arg(
        long,
        env = "FIELDOPS_BENCH_DEVICE_PASSWORD",
        hide_env_values = true,
        default_value = "fieldops-bench-shared-tracker-password"
    )]
    device_password: String,
    /// Random seed of the simulated fleet.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    json: bool,
    /// Print the table row without its header (to build one table from several runs).
    #[arg(long)]
    no_header: bool,
    /// Also write the JSON object to this file.
    #[arg(long)]
    json_out: Option<PathBuf>,
}

/// Runs `work` until it finishes or Ctrl-C arrives (then an error; children are killed as
/// their handles drop).
pub(crate) async fn unless_interrupted<T>(
    work: impl std::future::Future<Output = Result<T>>,
) -> Result<T> {
    tokio::select! {
        r = work => r,
        () = crate::ctrl_c() => bail!("interrupted"),
    }
}

/// Runs the benchmark; Ctrl-C stops it and its children.
pub async fn run(args: BenchIngestArgs) -> Result<ExitCode> {
    let report = unless_interrupted(bench(&args)).await?;
    let json = serde_json::to_string_pretty(&report.to_json())?;
    if let Some(path) = &args.json_out {
        std::fs::write(path, format!("{json}\n"))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if args.json {
        println!("{json}");
    } else {
        if !args.no_header {
            println!("{}", Report::table_header());
        }
        println!("{}", report.table_row());
        if args.broker == BrokerKind::Embedded && !args.no_header {
            println!("\n{}", Report::EMBEDDED_NOTE);
        }
    }
    Ok(if report.complete() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn progress(msg: impl AsRef<str>) {
    eprintln!("bench-ingest: {}", msg.as_ref());
}

/// The backend (`sqlite`, `postgres`) a `--database` URL names.
pub(crate) fn backend_of(database: &str) -> Result<&'static str> {
    let scheme = domain::store::scheme_of(database).with_context(|| {
        format!(
            "unsupported --database {} (sqlite://PATH or postgres://…)",
            domain::store::redact_url(database)
        )
    })?;
    Ok(scheme.as_str())
}

/// Runs [`bench_in`] in a temporary directory (broker configuration, children's logs), which is
/// kept, and named, when the run fails or is incomplete.
async fn bench(args: &BenchIngestArgs) -> Result<Report> {
    let work = tempfile::Builder::new()
        .prefix("fieldops-bench-")
        .tempdir()
        .context("creating a temporary directory")?;
    let result = bench_in(args, work.path()).await;
    if !result.as_ref().is_ok_and(Report::complete) {
        progress(format!("children's logs kept in {}", work.keep().display()));
    }
    result
}

async fn bench_in(args: &BenchIngestArgs, work: &Path) -> Result<Report> {
    if args.assets == 0 || args.messages == 0 || args.publishers == 0 {
        bail!("--assets, --messages and --publishers must be positive");
    }
    if args.embedded_trackers == 0 {
        bail!("--embedded-trackers must be positive");
    }
    if !(args.half_rate_secs.is_finite() && args.half_rate_secs > 0.0) {
        bail!("--half-rate-secs must be a positive number");
    }
    let backend = backend_of(&args.database)?;
    let clk_tck = clock_ticks_per_sec();
    let load_start = loadavg();
    let started_at = chrono::Utc::now();

    // 1. Seed.
    let device_ids: Vec<String> = (1..=args.assets)
        .map(|i| format!("{}{i:06}", args.device_prefix))
        .collect();
    seed(args, &device_ids).await?;

    // 2. Broker and gateway.
    let metrics_token = domain::secrets::random_token(24);
    let mut broker_proc = None;
    // What `fieldops gateway` (with Mosquitto) and `fieldops serve` (embedded endpoint) share.
    let fieldops = |role: &str| {
        let mut cmd = Command::new(&args.fieldops);
        cmd.arg(role)
            .arg("--database-url")
            .arg(&args.database)
            .arg("--mqtt-client-id")
            .arg(GATEWAY_CLIENT_ID)
            .arg("--listen")
            .arg("127.0.0.1:0")
            // Through the environment: kept out of `ps`, and a base64url token starting with
            // `-` would be taken for a flag.
            .env("FIELDOPS_METRICS_TOKEN", &metrics_token)
            .arg("--data-dir")
            .arg(work.join("data"));
        cmd
    };
    let (gateway, http, mqtt) = match args.broker {
        BrokerKind::Mosquitto => {
            let (proc_, port) = start_mosquitto(&args.mosquitto, work).await?;
            broker_proc = Some(proc_);
            let mut cmd = fieldops("gateway");
            cmd.arg("--mqtt-url")
                .arg(format!("mqtt://127.0.0.1:{port}"));
            let (gw, http, _) = start_fieldops(cmd, "gateway", work).await?;
            (gw, http, SocketAddr::from(([127, 0, 0, 1], port)))
        }
        BrokerKind::Embedded => {
            let mut cmd = fieldops("serve");
            cmd.arg("--mqtt-listen").arg("127.0.0.1:0");
            let (gw, http, mqtt) = start_fieldops(cmd, "serve", work).await?;
            let mqtt = mqtt.context("`fieldops serve` did not print its MQTT endpoint address")?;
            (gw, http, mqtt)
        }
    };
    let scraper = Scraper::new(http, metrics_token)?;
    wait_ready(&scraper, &gateway).await?;
    progress(format!(
        "{} ready (pid {}), HTTP {http}, MQTT {mqtt}{}",
        gateway.name,
        gateway.pid,
        match args.broker {
            BrokerKind::Mosquitto => " (private Mosquitto)",
            BrokerKind::Embedded => " (embedded endpoint: trackers connect to the gateway itself)",
        }
    ));

    let host = mqtt.ip().to_string();
    let port = mqtt.port();
    let fleet = Fleet::of(args, &device_ids);

    // 3. Raw baseline, against the same broker, while the gateway idles (Mosquitto only: the
    // embedded endpoint delivers to no subscriber).
    let raw = match args.broker {
        BrokerKind::Mosquitto => {
            progress(format!(
                "raw QoS 1 baseline: {} messages from {} publishers to one plain subscriber",
                args.raw_messages, args.publishers
            ));
            let raw = measure_raw_qos1(
                &host,
                port,
                args.publishers,
                args.raw_messages,
                RAW_PAYLOAD_BYTES,
            )
            .await?;
            progress(format!(
                "raw QoS 1 rate: {:.0} msg/s ({} of {} delivered)",
                raw.msgs_per_sec, raw.received, args.raw_messages
            ));
            if raw.received < args.raw_messages {
                progress(format!(
                    "warning: the broker dropped {} raw-rate messages for the subscriber",
                    args.raw_messages - raw.received
                ));
            }
            Some(raw)
        }
        BrokerKind::Embedded => {
            progress("no raw QoS 1 baseline: the embedded endpoint delivers to no subscriber");
            None
        }
    };

    let pids = Pids {
        gateway: gateway.pid,
        broker: broker_proc.as_ref().map(|b| b.pid),
    };

    // 4. Max rate.
    progress(format!(
        "max-rate phase: {} readings for {} trackers over {} connections, random order",
        args.messages,
        fleet.devices.len(),
        fleet.connections.unwrap_or(fleet.devices.len())
    ));
    let mut config = FleetConfig::new(host.clone(), port, fleet.devices.clone());
    config.connections = fleet.connections;
    config.rate_per_sec = 0.0;
    config.total_messages = Some(args.messages);
    config.random_order = true;
    config.offline_share = 0.0;
    config.malformed_share = 0.0;
    config.seed = args.seed;
    let max = run_phase(&scraper, &gateway, &pids, config, clk_tck).await?;
    progress(format!(
        "committed {:.0} msg/s ({} applied in {:.2} s; publishers {:.0} msg/s)",
        max.committed_per_sec(),
        max.applied,
        max.commit_elapsed.as_secs_f64(),
        max.fleet.messages_per_sec()
    ));

    // 5. Half rate; pointless when the gateway stopped committing in the max-rate phase.
    let half_rate = (max.committed_per_sec() / 2.0).max(1.0);
    let half = if max.complete() {
        progress(format!(
            "half-rate phase: {half_rate:.0} msg/s for {} s",
            args.half_rate_secs
        ));
        let mut config = FleetConfig::new(host, port, fleet.devices.clone());
        config.connections = fleet.connections;
        config.rate_per_sec = half_rate;
        config.duration = Some(Duration::from_secs_f64(args.half_rate_secs));
        config.random_order = true;
        config.offline_share = 0.0;
        config.malformed_share = 0.0;
        config.seed = args.seed.wrapping_add(1);
        Some(run_phase(&scraper, &gateway, &pids, config, clk_tck).await?)
    } else {
        progress(
            "half-rate phase skipped: the gateway did not commit every reading of the max-rate phase",
        );
        None
    };

    // 6. Peak memory, then stop everything.
    let peak_rss_kb = vm_hwm_kb(gateway.pid)?;
    let broker_peak_rss_kb = match &broker_proc {
        Some(b) => Some(vm_hwm_kb(b.pid)?),
        None => None,
    };
    gateway.stop().await;
    if let Some(b) = broker_proc {
        b.stop().await;
    }

    Ok(Report {
        backend,
        broker: args.broker,
        assets: args.assets,
        messages: args.messages,
        trackers: fleet.devices.len(),
        connections: fleet.connections.unwrap_or(fleet.devices.len()),
        raw_messages: args.raw_messages,
        raw,
        max,
        half_rate_target: half_rate,
        half,
        peak_rss_kb,
        broker_peak_rss_kb,
        load_start,
        load_end: loadavg(),
        started_at,
    })
}

/// The trackers that publish in a run and how they connect.
struct Fleet {
    devices: Vec<DeviceCreds>,
    /// `Some(k)`: `k` shared connections (Mosquitto); `None`: one per tracker (the endpoint).
    connections: Option<usize>,
}

impl Fleet {
    fn of(args: &BenchIngestArgs, device_ids: &[String]) -> Fleet {
        match args.broker {
            // The private Mosquitto admits anyone; its shared connections publish for every
            // seeded tracker.
            BrokerKind::Mosquitto => Fleet {
                devices: device_ids.iter().map(DeviceCreds::anonymous).collect(),
                connections: Some(args.publishers),
            },
            // Each tracker logs in as itself with the password `seed` gave the whole fleet.
            BrokerKind::Embedded => Fleet {
                devices: device_ids
                    .iter()
                    .take(args.embedded_trackers)
                    .map(|id| DeviceCreds {
                        device_id: id.clone(),
                        username: Some(id.clone()),
                        password: Some(args.device_password.clone()),
                    })
                    .collect(),
                connections: None,
            },
        }
    }
}
