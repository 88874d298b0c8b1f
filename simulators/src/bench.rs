//! `fieldops-sim bench-ingest`: the MQTT-ingest benchmark (BENCHMARKS.md, "MQTT ingest").
//!
//! One run, one table row:
//!
//! 1. seeds the database with N assets, each with a bound tracker sharing one password
//!    (`domain::seed::seed_fleet`), unless that fleet is already there;
//! 2. starts the broker and the gateway as child processes: a private, tuned Mosquitto plus
//!    `fieldops gateway`, or `fieldops serve` with its embedded broker (then the broker runs
//!    inside the gateway process and its CPU and memory are included in the gateway's);
//! 3. measures the broker's raw QoS 1 delivery rate to a do-nothing subscriber — the ceiling —
//!    against that same broker, on a topic the gateway does not subscribe to;
//! 4. max-rate phase: K connections publish M readings for the N trackers in random order as
//!    fast as the broker takes them; the committed rate is the gateway's `applied` counter delta
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

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, ValueEnum};
use rumqttc::{AsyncClient, ConnectionError, Event, MqttOptions, Outgoing, Packet, QoS};
use serde_json::json;
use simulators::{measure_raw_qos1, run_fleet, DeviceCreds, FleetConfig, FleetSummary, RawRate};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::{mpsc, oneshot, watch};

/// MQTT client id of the gateway under test.
const GATEWAY_CLIENT_ID: &str = "bench-gw";
/// Payload of the raw-rate baseline: about the size of a native reading.
const RAW_PAYLOAD_BYTES: usize = 200;
/// How often the committed counter is sampled.
const POLL_EVERY: Duration = Duration::from_millis(50);
/// After the publishers are done, the gateway is considered finished once its `applied`
/// counter has not moved for this long (normally it ends earlier: when it reaches the number of
/// readings sent).
const DRAIN_IDLE: Duration = Duration::from_secs(15);
/// Bound on the gateway becoming ready (migrations on a fresh database included).
const STARTUP_TIMEOUT: Duration = Duration::from_secs(120);
/// The private Mosquitto's in-flight window towards each subscriber: larger than the gateway's
/// batch (up to 4000), so the next batch keeps arriving while one commits (the gateway
/// acknowledges only after commit). What deploy/mosquitto/fieldops.conf recommends.
const MOSQUITTO_MAX_INFLIGHT: u32 = 5_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BrokerKind {
    /// A private Mosquitto child process plus `fieldops gateway`.
    Mosquitto,
    /// `fieldops serve` with its embedded broker (rumqttd) in the gateway process.
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
    /// MQTT connections the trackers share (and publishers of the raw baseline).
    #[arg(long, default_value_t = 4)]
    publishers: usize,
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
    let interrupted = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        r = work => r,
        () = interrupted => bail!("interrupted"),
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
    if !(args.half_rate_secs.is_finite() && args.half_rate_secs > 0.0) {
        bail!("--half-rate-secs must be a positive number");
    }
    let backend = domain::store::scheme_of(&args.database)
        .with_context(|| {
            format!(
                "unsupported --database {} (sqlite://PATH or postgres://…)",
                domain::store::redact_url(&args.database)
            )
        })?
        .as_str();
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
    let (gateway, http, mqtt) = match args.broker {
        BrokerKind::Mosquitto => {
            let (proc_, port) = start_mosquitto(&args.mosquitto, work).await?;
            broker_proc = Some(proc_);
            let url = format!("mqtt://127.0.0.1:{port}");
            let mut cmd = Command::new(&args.fieldops);
            cmd.arg("gateway")
                .arg("--database-url")
                .arg(&args.database)
                .arg("--mqtt-url")
                .arg(&url)
                .arg("--mqtt-client-id")
                .arg(GATEWAY_CLIENT_ID)
                .arg("--listen")
                .arg("127.0.0.1:0")
                // Through the environment: kept out of `ps`, and a base64url token starting with
                // `-` would be taken for a flag.
                .env("FIELDOPS_METRICS_TOKEN", &metrics_token)
                .arg("--data-dir")
                .arg(work.join("data"));
            let (gw, http, _) = start_fieldops(cmd, "gateway", work).await?;
            (gw, http, SocketAddr::from(([127, 0, 0, 1], port)))
        }
        BrokerKind::Embedded => {
            let mut cmd = Command::new(&args.fieldops);
            cmd.arg("serve")
                .arg("--database-url")
                .arg(&args.database)
                .arg("--mqtt-listen")
                .arg("127.0.0.1:0")
                .arg("--mqtt-client-id")
                .arg(GATEWAY_CLIENT_ID)
                .arg("--listen")
                .arg("127.0.0.1:0")
                // Through the environment: kept out of `ps`, and a base64url token starting with
                // `-` would be taken for a flag.
                .env("FIELDOPS_METRICS_TOKEN", &metrics_token)
                .arg("--data-dir")
                .arg(work.join("data"));
            let (gw, http, mqtt) = start_fieldops(cmd, "serve", work).await?;
            let mqtt =
                mqtt.context("`fieldops serve` did not print its embedded broker address")?;
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
            BrokerKind::Embedded => " (embedded broker: its CPU and memory count as the gateway's)",
        }
    ));

    let host = mqtt.ip().to_string();
    let port = mqtt.port();
    // The embedded broker admits only registered trackers: log in as one (it has no topic ACL).
    let login = (args.broker == BrokerKind::Embedded)
        .then(|| (device_ids[0].clone(), args.device_password.clone()));
    let devices: Vec<DeviceCreds> = device_ids
        .iter()
        .map(|id| DeviceCreds {
            device_id: id.clone(),
            username: login.as_ref().map(|_| id.clone()),
            password: login.as_ref().map(|(_, p)| p.clone()),
        })
        .collect();

    // 3. Raw baseline, against the same broker, while the gateway idles.
    progress(format!(
        "raw QoS 1 baseline: {} messages from {} publishers to one plain subscriber",
        args.raw_messages, args.publishers
    ));
    let raw = match &login {
        None => {
            measure_raw_qos1(
                &host,
                port,
                args.publishers,
                args.raw_messages,
                RAW_PAYLOAD_BYTES,
            )
            .await?
        }
        Some(login) => {
            raw_qos1_with_login(
                &host,
                port,
                login,
                args.publishers,
                args.raw_messages,
                RAW_PAYLOAD_BYTES,
            )
            .await?
        }
    };
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

    let pids = Pids {
        gateway: gateway.pid,
        broker: broker_proc.as_ref().map(|b| b.pid),
    };

    // 4. Max rate.
    progress(format!(
        "max-rate phase: {} readings for {} trackers over {} connections, random order",
        args.messages, args.assets, args.publishers
    ));
    let mut config = FleetConfig::new(host.clone(), port, devices.clone());
    config.connections = Some(args.publishers);
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
        let mut config = FleetConfig::new(host, port, devices);
        config.connections = Some(args.publishers);
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
        publishers: args.publishers,
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

// ---------------------------------------------------------------------------------------------
// Seeding

async fn seed(args: &BenchIngestArgs, device_ids: &[String]) -> Result<()> {
    let redacted = domain::store::redact_url(&args.database);
    let store = domain::Store::connect(&args.database, &domain::StoreOptions::default())
        .await
        .with_context(|| format!("opening {redacted}"))?;
    let result = seed_on(&store, args, device_ids).await;
    store.close().await;
    result.with_context(|| format!("seeding {redacted}"))
}

async fn seed_on(
    store: &domain::Store,
    args: &BenchIngestArgs,
    device_ids: &[String],
) -> Result<()> {
    store.migrate().await?;
    let last = device_ids.last().context("no devices")?;
    if domain::devices::verify_credentials(store, last, &args.device_password).await? {
        progress(format!(
            "database already holds the fleet (tracker {last} with the bench password); not seeding"
        ));
        return Ok(());
    }
    if domain::seed::has_assets(store).await? {
        bail!(
            "the database holds assets but not this benchmark's fleet (no tracker {last} with \
             the bench password): use a fresh database"
        );
    }
    let started = Instant::now();
    let seed = domain::seed::FleetSeed {
        assets: args.assets,
        code_prefix: args.code_prefix.clone(),
        device_prefix: args.device_prefix.clone(),
        // One hash for the whole fleet, in the format trackers are stored in (Mosquitto `$7$`).
        password_hash: domain::secrets::hash_device_password(&args.device_password),
        depots: vec![
            ("Bench depot north".to_owned(), 48.2082, 11.5755),
            ("Bench depot east".to_owned(), 48.1351, 11.6520),
            ("Bench depot south".to_owned(), 48.0833, 11.5404),
            ("Bench depot west".to_owned(), 48.1458, 11.4600),
        ],
    };
    let seeded = domain::seed::seed_fleet(store, &domain::Actor::cli(), &seed).await?;
    if seeded.devices.last().map(|(id, _)| id) != Some(last) {
        bail!("seed_fleet did not create the expected tracker ids (last should be {last})");
    }
    progress(format!(
        "seeded {} assets with trackers in {:.1} s",
        seeded.devices.len(),
        started.elapsed().as_secs_f64()
    ));
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Child processes

/// A child process that is killed if dropped (error paths, Ctrl-C) and stopped with SIGTERM by
/// [`ChildProc::stop`].
pub(crate) struct ChildProc {
    name: &'static str,
    child: Child,
    pub(crate) pid: u32,
    pub(crate) log: PathBuf,
}

impl ChildProc {
    fn spawn(mut cmd: Command, name: &'static str, log: PathBuf, stdout: Stdio) -> Result<Self> {
        let log_file =
            std::fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        cmd.stdin(Stdio::null())
            .stdout(stdout)
            .stderr(Stdio::from(log_file))
            .kill_on_drop(true);
        let child = cmd
            .spawn()
            .with_context(|| format!("starting {name} ({:?})", cmd.as_std().get_program()))?;
        let pid = child.id().with_context(|| format!("{name} has no pid"))?;
        Ok(ChildProc {
            name,
            child,
            pid,
            log,
        })
    }

    /// Fails if the child has exited, with the end of its log.
    pub(crate) fn check_alive(&mut self) -> Result<()> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => Err(anyhow!(
                "{} exited ({status}); end of its log {}:\n{}",
                self.name,
                self.log.display(),
                tail(&self.log, 20)
            )),
            Err(e) => Err(anyhow!("{}: {e}", self.name)),
        }
    }

    /// SIGTERM (through kill(1): no unsafe code here), then SIGKILL if it takes over 10 s.
    pub(crate) async fn stop(mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.pid.to_string())
            .status()
            .await;
        if tokio::time::timeout(Duration::from_secs(10), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}

pub(crate) fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// A free TCP port on 127.0.0.1 (bound, read, released).
fn free_port() -> Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(l.local_addr()?.port())
}

/// Starts a private Mosquitto with a configuration tuned for throughput; returns it and its port.
async fn start_mosquitto(exe: &Path, dir: &Path) -> Result<(ChildProc, u16)> {
    let port = free_port()?;
    let conf = dir.join("mosquitto.conf");
    let text = mosquitto_config(port);
    std::fs::write(&conf, &text).with_context(|| format!("writing {}", conf.display()))?;
    let mut cmd = Command::new(exe);
    cmd.arg("-c").arg(&conf);
    let mut proc_ = ChildProc::spawn(cmd, "mosquitto", dir.join("mosquitto.log"), Stdio::null())?;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        proc_.check_alive()?;
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            break;
        }
        if Instant::now() > deadline {
            bail!("mosquitto did not listen on 127.0.0.1:{port} within 10 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    progress(format!(
        "private mosquitto (pid {}) on 127.0.0.1:{port}: {}",
        proc_.pid,
        text.lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .collect::<Vec<_>>()
            .join("; ")
    ));
    Ok((proc_, port))
}

/// The private broker's configuration: the delivery settings deploy/mosquitto/fieldops.conf
/// recommends (in-flight window 5000, queue 1,000,000), anonymous on 127.0.0.1 instead of the
/// password and ACL files, and persistence off: the benchmark measures the ingest path, and a
/// persistent Mosquitto writes its state only every `autosave_interval`, not per message, so it
/// would change little but leave files behind.
fn mosquitto_config(port: u16) -> String {
    format!(
        "# fieldops bench-ingest: private broker\n\
         listener {port} 127.0.0.1\n\
         allow_anonymous true\n\
         persistence false\n\
         max_inflight_messages {MOSQUITTO_MAX_INFLIGHT}\n\
         max_queued_messages 1000000\n\
         message_size_limit 262144\n\
         log_dest stderr\n\
         log_type error\n\
         log_type warning\n"
    )
}

/// Starts `fieldops serve|gateway`, waits for its `HTTP listening` line (and, for `serve`, its
/// embedded broker line) and keeps draining its stdout (which may hold the first-run admin
/// password: it is read and dropped, never shown).
pub(crate) async fn start_fieldops(
    cmd: Command,
    name: &'static str,
    dir: &Path,
) -> Result<(ChildProc, SocketAddr, Option<SocketAddr>)> {
    let mut proc_ = ChildProc::spawn(cmd, name, dir.join(format!("{name}.log")), Stdio::piped())?;
    let stdout = proc_
        .child
        .stdout
        .take()
        .context("child stdout not captured")?;
    let (tx, mut rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut lines = BufReader::new(stdout).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(addr) = line.strip_prefix("fieldops: HTTP listening on http://") {
                let _ = tx.send((true, addr.trim().to_owned()));
            } else if let Some(addr) =
                line.strip_prefix("fieldops: embedded MQTT broker on mqtt://")
            {
                let _ = tx.send((false, addr.trim().to_owned()));
            }
        }
    });
    let deadline = Instant::now() + STARTUP_TIMEOUT;
    let mut mqtt = None;
    loop {
        proc_.check_alive()?;
        if Instant::now() > deadline {
            bail!(
                "{name} printed no `fieldops: HTTP listening on` line within {} s; end of its log:\n{}",
                STARTUP_TIMEOUT.as_secs(),
                tail(&proc_.log, 20)
            );
        }
        match tokio::time::timeout(Duration::from_millis(100), rx.recv()).await {
            Ok(Some((true, addr))) => {
                let http: SocketAddr = addr
                    .parse()
                    .with_context(|| format!("{name} printed a bad HTTP address {addr:?}"))?;
                return Ok((proc_, http, mqtt));
            }
            Ok(Some((false, addr))) => {
                mqtt =
                    Some(addr.parse::<SocketAddr>().with_context(|| {
                        format!("{name} printed a bad broker address {addr:?}")
                    })?);
            }
            Ok(None) => {
                proc_.check_alive()?;
                bail!("{name} closed its stdout before saying where it listens");
            }
            Err(_) => {}
        }
    }
}

// ---------------------------------------------------------------------------------------------
// HTTP: readiness and metrics

struct Scraper {
    client: reqwest::Client,
    base: String,
    token: String,
}

impl Scraper {
    fn new(http: SocketAddr, token: String) -> Result<Self> {
        Ok(Scraper {
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()?,
            base: format!("http://{http}"),
            token,
        })
    }

    async fn readiness(&self) -> Result<serde_json::Value> {
        let body = self
            .client
            .get(format!("{}/readyz", self.base))
            .send()
            .await?
            .text()
            .await?;
        Ok(serde_json::from_str(&body)?)
    }

    async fn metrics(&self) -> Result<Metrics> {
        let resp = self
            .client
            .get(format!("{}/metrics", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .context("scraping /metrics")?;
        if !resp.status().is_success() {
            bail!("/metrics answered {}", resp.status());
        }
        Ok(Metrics::parse(&resp.text().await?))
    }
}

/// Waits until `/readyz` says the database is reachable and the broker connected (the gateway
/// sets that after its SUBACK, so nothing published afterwards is missed).
async fn wait_ready(scraper: &Scraper, gateway: &ChildProc) -> Result<()> {
    let deadline = Instant::now() + STARTUP_TIMEOUT;
    let mut last = String::new();
    while Instant::now() < deadline {
        match scraper.readiness().await {
            Ok(v) if v["status"] == "ready" && v["broker"] == "connected" => return Ok(()),
            Ok(v) => last = v.to_string(),
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!(
        "{} not ready with a connected broker within {} s (last /readyz: {last}); end of its log:\n{}",
        gateway.name,
        STARTUP_TIMEOUT.as_secs(),
        tail(&gateway.log, 20)
    )
}

/// One scrape of Prometheus/OpenMetrics text: series (`name{labels}`) → value.
#[derive(Debug, Clone, Default)]
struct Metrics(HashMap<String, f64>);

const APPLIED: &str = "fieldops_ingest_readings_total{result=\"applied\"}";
const LAG_BUCKET: &str = "fieldops_ingest_lag_seconds_bucket{le=\"";

impl Metrics {
    fn parse(text: &str) -> Metrics {
        let mut map = HashMap::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let key_end = match (line.find('{'), line.find('}')) {
                (Some(open), Some(close)) if open < close => close + 1,
                _ => match line.find(' ') {
                    Some(i) => i,
                    None => continue,
                },
            };
            let (key, rest) = line.split_at(key_end);
            if let Some(v) = rest.split_whitespace().next().and_then(parse_float) {
                map.insert(key.to_owned(), v);
            }
        }
        Metrics(map)
    }

    fn get(&self, series: &str) -> f64 {
        self.0.get(series).copied().unwrap_or(0.0)
    }

    fn applied(&self) -> f64 {
        self.get(APPLIED)
    }

    /// Sum of every `fieldops_ingest_readings_total` outcome other than `applied`.
    fn not_applied(&self) -> f64 {
        self.0
            .iter()
            .filter(|(k, _)| k.starts_with("fieldops_ingest_readings_total{") && *k != APPLIED)
            .map(|(_, v)| v)
            .sum()
    }

    /// Lag histogram as (upper bound, cumulative count), sorted, `+Inf` last.
    fn lag_buckets(&self) -> Vec<(f64, f64)> {
        let mut b: Vec<(f64, f64)> = self
            .0
            .iter()
            .filter_map(|(k, v)| {
                let le = k.strip_prefix(LAG_BUCKET)?.strip_suffix("\"}")?;
                Some((parse_float(le)?, *v))
            })
            .collect();
        b.sort_by(|x, y| x.0.total_cmp(&y.0));
        b
    }
}

fn parse_float(s: &str) -> Option<f64> {
    match s {
        "+Inf" | "Inf" | "inf" | "+inf" => Some(f64::INFINITY),
        "-Inf" | "-inf" => Some(f64::NEG_INFINITY),
        _ => s.parse().ok(),
    }
}

/// Per-bucket delta of two cumulative histograms with the same bounds.
fn bucket_delta(before: &[(f64, f64)], after: &[(f64, f64)]) -> Vec<(f64, f64)> {
    after
        .iter()
        .map(|(le, n)| {
            let was = before
                .iter()
                .find(|(b, _)| b == le)
                .map_or(0.0, |(_, v)| *v);
            (*le, n - was)
        })
        .collect()
}

/// A quantile of a cumulative histogram, linearly interpolated inside its bucket (the first
/// bucket's lower bound is 0). `Above(b)` when it falls in the `+Inf` bucket: only "> b" is known.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Quantile {
    Value(f64),
    Above(f64),
}

impl Quantile {
    fn ms(self) -> String {
        match self {
            Quantile::Value(s) => format!("{:.0}", s * 1000.0),
            Quantile::Above(s) => format!("> {:.0}", s * 1000.0),
        }
    }

    fn to_json(self) -> serde_json::Value {
        match self {
            Quantile::Value(s) => json!(s * 1000.0),
            Quantile::Above(s) => json!(format!("> {}", s * 1000.0)),
        }
    }
}

fn quantile(cumulative: &[(f64, f64)], q: f64) -> Option<Quantile> {
    let total = cumulative.last()?.1;
    if total <= 0.0 {
        return None;
    }
    let rank = q * total;
    let mut lower = 0.0;
    let mut below = 0.0;
    for &(le, n) in cumulative {
        if n >= rank && n > below {
            if le.is_infinite() {
                return Some(Quantile::Above(lower));
            }
            let frac = (rank - below) / (n - below);
            return Some(Quantile::Value(lower + (le - lower) * frac));
        }
        lower = le;
        below = n;
    }
    None
}

// ---------------------------------------------------------------------------------------------
// /proc sampling

struct Pids {
    gateway: u32,
    broker: Option<u32>,
}

/// CPU seconds used so far by each party, and the machine's CPU ticks.
#[derive(Debug, Clone, Copy)]
struct CpuSample {
    gateway: f64,
    broker: f64,
    simulator: f64,
    postgres: f64,
    machine_busy: u64,
    machine_total: u64,
    /// Bytes the gateway process read and wrote through system calls (`rchar`, `wchar` of
    /// `/proc/<pid>/io`: SQLite's page reads and WAL writes; sockets too).
    gateway_rchar: f64,
    gateway_wchar: f64,
}

impl CpuSample {
    fn take(pids: &Pids, clk_tck: f64) -> Result<CpuSample> {
        let (machine_busy, machine_total) = machine_ticks()?;
        let (gateway_rchar, gateway_wchar) = proc_io(pids.gateway);
        Ok(CpuSample {
            gateway: proc_cpu_secs(pids.gateway, clk_tck)?,
            broker: match pids.broker {
                Some(p) => proc_cpu_secs(p, clk_tck)?,
                None => 0.0,
            },
            simulator: proc_cpu_secs(std::process::id(), clk_tck)?,
            postgres: postgres_cpu_secs(clk_tck),
            machine_busy,
            machine_total,
            gateway_rchar,
            gateway_wchar,
        })
    }
}

/// `rchar` and `wchar` of `/proc/<pid>/io` (0 when unreadable).
fn proc_io(pid: u32) -> (f64, f64) {
    let text = std::fs::read_to_string(format!("/proc/{pid}/io")).unwrap_or_default();
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (field("rchar:"), field("wchar:"))
}

pub(crate) fn clock_ticks_per_sec() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|t| *t > 0.0)
        .unwrap_or(100.0)
}

/// utime + stime of a process, in seconds (`/proc/<pid>/stat` fields 14 and 15).
pub(crate) fn proc_cpu_secs(pid: u32, clk_tck: f64) -> Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    stat_cpu_secs(&stat, clk_tck).with_context(|| format!("parsing /proc/{pid}/stat"))
}

fn stat_cpu_secs(stat: &str, clk_tck: f64) -> Option<f64> {
    // The command name (field 2) may contain spaces; fields after it start at field 3.
    let after = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / clk_tck)
}

/// CPU of every process named `postgres` (server and backends; on a shared machine that includes
/// other users' queries, so it is an upper bound).
pub(crate) fn postgres_cpu_secs(clk_tck: f64) -> f64 {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0.0;
    };
    dir.filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
        .filter(|s| s.contains("(postgres)"))
        .filter_map(|s| stat_cpu_secs(&s, clk_tck))
        .sum()
}

/// (busy, total) jiffies of all CPUs from the first line of `/proc/stat`.
fn machine_ticks() -> Result<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").context("reading /proc/stat")?;
    let line = stat.lines().next().context("empty /proc/stat")?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is already in user).
    let total: u64 = v.iter().take(8).sum();
    let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
    Ok((total.saturating_sub(idle), total))
}

/// Peak resident set size (`VmHWM`) in kB.
pub(crate) fn vm_hwm_kb(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .with_context(|| format!("no VmHWM in /proc/{pid}/status"))
}

/// The 1-, 5- and 15-minute load averages.
pub(crate) fn loadavg() -> [f64; 3] {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let mut v = text
        .split_whitespace()
        .filter_map(|x| x.parse::<f64>().ok());
    [
        v.next().unwrap_or(f64::NAN),
        v.next().unwrap_or(f64::NAN),
        v.next().unwrap_or(f64::NAN),
    ]
}

// ---------------------------------------------------------------------------------------------
// Phases

/// What one publishing phase did, seen from the publishers and from the gateway.
#[derive(Debug, Clone)]
struct Phase {
    fleet: FleetSummary,
    /// `applied` delta.
    applied: u64,
    /// Readings that ended as anything but `applied` (duplicate, rejected).
    not_applied: u64,
    /// First publish → `applied` reached its final value.
    commit_elapsed: Duration,
    cpu_before: CpuSample,
    cpu_after: CpuSample,
    /// Lag histogram delta (cumulative).
    lag: Vec<(f64, f64)>,
}

impl Phase {
    /// Every well-formed reading sent was committed as new.
    fn complete(&self) -> bool {
        self.applied >= self.fleet.readings_sent
    }

    fn committed_per_sec(&self) -> f64 {
        let s = self.commit_elapsed.as_secs_f64();
        if s > 0.0 {
            self.applied as f64 / s
        } else {
            0.0
        }
    }

    /// CPU microseconds per applied reading of one party.
    fn us_per_msg(&self, pick: impl Fn(&CpuSample) -> f64) -> f64 {
        self.per_msg(pick) * 1e6
    }

    /// Growth of a sampled quantity per applied reading.
    fn per_msg(&self, pick: impl Fn(&CpuSample) -> f64) -> f64 {
        if self.applied == 0 {
            return 0.0;
        }
        (pick(&self.cpu_after) - pick(&self.cpu_before)) / self.applied as f64
    }

    /// Share of the whole machine (all cores) that was busy, in percent.
    fn machine_busy_pct(&self) -> f64 {
        let busy = self
            .cpu_after
            .machine_busy
            .saturating_sub(self.cpu_before.machine_busy);
        let total = self
            .cpu_after
            .machine_total
            .saturating_sub(self.cpu_before.machine_total);
        if total == 0 {
            0.0
        } else {
            busy as f64 * 100.0 / total as f64
        }
    }

    fn p(&self, q: f64) -> Option<Quantile> {
        quantile(&self.lag, q)
    }
}

/// Runs the fleet while sampling the gateway's `applied` counter every [`POLL_EVERY`], then waits
/// until the gateway has committed what was sent.
async fn run_phase(
    scraper: &Scraper,
    gateway: &ChildProc,
    pids: &Pids,
    config: FleetConfig,
    clk_tck: f64,
) -> Result<Phase> {
    let before = scraper.metrics().await?;
    let base = before.applied();
    let (target_tx, target_rx) = watch::channel(None::<f64>);
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let poller = tokio::spawn(poll_applied(
        scraper.client.clone(),
        scraper.base.clone(),
        scraper.token.clone(),
        target_rx,
        stop_rx,
    ));
    let cpu_before = CpuSample::take(pids, clk_tck)?;
    let fleet = run_fleet(config, std::future::pending()).await;
    let returned = Instant::now();
    let fleet = match fleet {
        Ok(f) => f,
        Err(e) => {
            let _ = stop_tx.send(());
            return Err(e.context("running the tracker fleet"));
        }
    };
    let first_publish = returned.checked_sub(fleet.elapsed).unwrap_or(returned);
    if fleet.unacked() > 0 {
        progress(format!(
            "warning: {} publishes were not acknowledged by the broker",
            fleet.unacked()
        ));
    }
    target_tx.send_replace(Some(base + fleet.readings_sent as f64));
    let samples = poller.await.context("metrics poller failed")??;
    let cpu_after = CpuSample::take(pids, clk_tck)?;
    drop(stop_tx);
    let after = scraper.metrics().await?;

    let final_value = samples.last().map_or(base, |s| s.1);
    let reached = samples
        .iter()
        .find(|s| s.1 >= final_value)
        .map_or(returned, |s| s.0);
    let applied = (after.applied() - base).max(0.0) as u64;
    let not_applied = (after.not_applied() - before.not_applied()).max(0.0) as u64;
    if applied < fleet.readings_sent {
        progress(format!(
            "warning: {} readings sent, {applied} applied, {not_applied} duplicate/rejected{}",
            fleet.readings_sent,
            if applied + not_applied < fleet.readings_sent {
                " — the gateway stopped committing before all arrived"
            } else {
                ""
            }
        ));
    }
    ensure_running(gateway)?;
    Ok(Phase {
        commit_elapsed: reached.saturating_duration_since(first_publish),
        fleet,
        applied,
        not_applied,
        cpu_before,
        cpu_after,
        lag: bucket_delta(&before.lag_buckets(), &after.lag_buckets()),
    })
}

/// Fails if a child we only borrow has gone (its `/proc` entry disappears once it is reaped;
/// a zombie still counts as there, which the next phase's scrape then reports).
fn ensure_running(p: &ChildProc) -> Result<()> {
    if Path::new(&format!("/proc/{}", p.pid)).exists() {
        Ok(())
    } else {
        bail!("{} is gone; end of its log:\n{}", p.name, tail(&p.log, 20))
    }
}

/// Samples `applied` every [`POLL_EVERY`] until it reaches the target (known once the fleet is
/// done) or stops moving for [`DRAIN_IDLE`] after that; returns (time, value) samples.
async fn poll_applied(
    client: reqwest::Client,
    base: String,
    token: String,
    mut target: watch::Receiver<Option<f64>>,
    mut stop: oneshot::Receiver<()>,
) -> Result<Vec<(Instant, f64)>> {
    let scraper = Scraper {
        client,
        base,
        token,
    };
    let mut samples: Vec<(Instant, f64)> = Vec::new();
    let mut last_change = Instant::now();
    let mut tick = tokio::time::interval(POLL_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = &mut stop => return Ok(samples),
        }
        let m = scraper.metrics().await?;
        let now = Instant::now();
        let v = m.applied();
        if samples.last().is_none_or(|s| s.1 != v) {
            last_change = now;
        }
        samples.push((now, v));
        if let Some(t) = *target.borrow_and_update() {
            if v >= t {
                return Ok(samples);
            }
            if now.duration_since(last_change) > DRAIN_IDLE {
                progress(format!(
                    "warning: the gateway's applied counter stopped at {v} (expected {t})"
                ));
                return Ok(samples);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Raw baseline with credentials

/// [`measure_raw_qos1`] for a broker that requires a login (the embedded one): the same
/// measurement — subscriber first, `publishers` clients with 200 messages in flight each,
/// deliveries counted from the first to the last — with every client logging in as `login`.
async fn raw_qos1_with_login(
    host: &str,
    port: u16,
    login: &(String, String),
    publishers: usize,
    messages: u64,
    payload_bytes: usize,
) -> Result<RawRate> {
    let run = format!(
        "{}-{:x}",
        std::process::id(),
        chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0)
    );
    let prefix = format!("fieldops-bench/raw/{run}");
    let max_packet = payload_bytes + prefix.len() + 1024;
    let options = |id: String| {
        let mut o = MqttOptions::new(id, host, port);
        o.set_clean_session(true)
            .set_keep_alive(Duration::from_secs(30))
            .set_max_packet_size(max_packet, max_packet)
            .set_credentials(login.0.clone(), login.1.clone());
        o
    };

    let (sub, mut sub_loop) = AsyncClient::new(options(format!("fieldops-raw-sub-{run}")), 16);
    sub.subscribe(format!("{prefix}/#"), QoS::AtLeastOnce)
        .await
        .context("queueing the subscription")?;
    let subscribed = async {
        loop {
            match sub_loop.poll().await {
                Ok(Event::Incoming(Packet::SubAck(_))) => return Ok(()),
                Ok(_) => {}
                Err(e) => return Err(anyhow!("raw-rate subscriber: {e}")),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(15), subscribed)
        .await
        .map_err(|_| anyhow!("raw-rate subscriber got no SUBACK from {host}:{port}"))??;
    let (count_tx, mut count_rx) = watch::channel(0u64);
    let (stop_tx, mut stop_rx) = oneshot::channel::<()>();
    let counter = {
        let prefix = prefix.clone();
        tokio::spawn(async move {
            let (mut n, mut first, mut last) = (0u64, None, None);
            loop {
                let event = tokio::select! {
                    e = sub_loop.poll() => e,
                    _ = &mut stop_rx => break,
                };
                match event {
                    Ok(Event::Incoming(Packet::Publish(p))) if p.topic.starts_with(&prefix) => {
                        let now = Instant::now();
                        first.get_or_insert(now);
                        last = Some(now);
                        n += 1;
                        count_tx.send_replace(n);
                        if n >= messages {
                            break;
                        }
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "raw-rate subscriber lost its connection");
                        break;
                    }
                }
            }
            (n, first, last)
        })
    };

    let payload = vec![b'x'; payload_bytes];
    let mut tasks = Vec::new();
    for p in 0..publishers {
        let count =
            messages / publishers as u64 + u64::from((p as u64) < messages % publishers as u64);
        if count == 0 {
            continue;
        }
        let mut o = options(format!("fieldops-raw-pub-{run}-{p}"));
        o.set_inflight(200);
        let topic = format!("{prefix}/{p}");
        let payload = payload.clone();
        tasks.push(tokio::spawn(async move {
            let (client, mut eventloop) = AsyncClient::new(o, 256);
            let driver = tokio::spawn(async move {
                let mut acked = 0u64;
                loop {
                    match eventloop.poll().await {
                        Ok(Event::Incoming(Packet::PubAck(_))) => {
                            acked += 1;
                            if acked >= count {
                                return Ok(());
                            }
                        }
                        Ok(Event::Outgoing(Outgoing::Disconnect))
                        | Err(ConnectionError::RequestsDone) => {
                            return Err(anyhow!("publisher stopped after {acked} acks"))
                        }
                        Ok(_) => {}
                        Err(e) => return Err(anyhow!("publisher connection failed: {e}")),
                    }
                }
            });
            for _ in 0..count {
                client
                    .publish(topic.as_str(), QoS::AtLeastOnce, false, payload.clone())
                    .await
                    .context("publishing")?;
            }
            let result = tokio::time::timeout(Duration::from_secs(300), driver)
                .await
                .map_err(|_| anyhow!("publisher timed out waiting for PUBACKs"))?
                .map_err(|e| anyhow!("publisher task: {e}"))?;
            let _ = client.disconnect().await;
            result
        }));
    }
    for t in tasks {
        t.await.map_err(|e| anyhow!("publisher task: {e}"))??;
    }
    loop {
        if *count_rx.borrow_and_update() >= messages {
            break;
        }
        match tokio::time::timeout(Duration::from_secs(2), count_rx.changed()).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) | Err(_) => break,
        }
    }
    let _ = stop_tx.send(());
    let (received, first, last) = counter.await.context("raw-rate subscriber task")?;
    let _ = sub.disconnect().await;
    let elapsed = match (first, last) {
        (Some(f), Some(l)) => l.duration_since(f),
        _ => Duration::ZERO,
    };
    Ok(RawRate {
        received,
        elapsed,
        msgs_per_sec: if received >= 2 && !elapsed.is_zero() {
            received as f64 / elapsed.as_secs_f64()
        } else {
            0.0
        },
    })
}

// ---------------------------------------------------------------------------------------------
// Report

struct Report {
    backend: &'static str,
    broker: BrokerKind,
    assets: usize,
    messages: u64,
    publishers: usize,
    raw_messages: u64,
    raw: RawRate,
    max: Phase,
    half_rate_target: f64,
    /// `None` when skipped (the max-rate phase did not complete).
    half: Option<Phase>,
    peak_rss_kb: u64,
    broker_peak_rss_kb: Option<u64>,
    load_start: [f64; 3],
    load_end: [f64; 3],
    started_at: chrono::DateTime<chrono::Utc>,
}

impl Report {
    /// Every reading of both phases committed, and a baseline measured.
    fn complete(&self) -> bool {
        self.max.complete()
            && self.half.as_ref().is_some_and(Phase::complete)
            && self.raw.msgs_per_sec > 0.0
    }

    fn pct_of_raw(&self) -> f64 {
        if self.raw.msgs_per_sec > 0.0 {
            self.max.committed_per_sec() * 100.0 / self.raw.msgs_per_sec
        } else {
            0.0
        }
    }

    fn table_header() -> String {
        "| backend | broker | assets | messages | raw QoS 1 msg/s | committed msg/s | % of raw \
         | p50 ms ½-rate | p99 ms ½-rate | gateway CPU µs/msg | peak RSS MB |\n\
         |---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
            .to_owned()
    }

    fn table_row(&self) -> String {
        let q = |p: Option<Quantile>| p.map_or_else(|| "–".to_owned(), Quantile::ms);
        let mut row = String::new();
        let _ = write!(
            row,
            "| {} | {}{} | {} | {} | {:.0} | {:.0}{} | {:.0} % | {} | {} | {:.1} | {:.0} |",
            self.backend,
            self.broker.as_str(),
            if self.broker == BrokerKind::Embedded {
                " (in-process)"
            } else {
                ""
            },
            self.assets,
            self.messages,
            self.raw.msgs_per_sec,
            self.max.committed_per_sec(),
            if self.max.complete() {
                String::new()
            } else {
                format!(
                    " (STALLED: {} of {} committed)",
                    self.max.applied, self.max.fleet.readings_sent
                )
            },
            self.pct_of_raw(),
            q(self.half.as_ref().and_then(|h| h.p(0.5))),
            q(self.half.as_ref().and_then(|h| h.p(0.99))),
            self.max.us_per_msg(|c| c.gateway),
            self.peak_rss_kb as f64 / 1024.0,
        );
        row
    }

    fn to_json(&self) -> serde_json::Value {
        let phase = |p: &Phase| {
            json!({
                "complete": p.complete(),
                "readings_sent": p.fleet.readings_sent,
                "published_msgs_per_sec": p.fleet.messages_per_sec(),
                "publish_elapsed_s": p.fleet.elapsed.as_secs_f64(),
                "unacked": p.fleet.unacked(),
                "applied": p.applied,
                "not_applied": p.not_applied,
                "commit_elapsed_s": p.commit_elapsed.as_secs_f64(),
                "committed_msgs_per_sec": p.committed_per_sec(),
                "cpu_us_per_msg": {
                    "gateway": p.us_per_msg(|c| c.gateway),
                    "broker_process": p.us_per_msg(|c| c.broker),
                    "simulator": p.us_per_msg(|c| c.simulator),
                    "postgres_all_processes": p.us_per_msg(|c| c.postgres),
                },
                "machine_busy_pct": p.machine_busy_pct(),
                "gateway_syscall_bytes_per_msg": {
                    "read": p.per_msg(|c| c.gateway_rchar),
                    "written": p.per_msg(|c| c.gateway_wchar),
                },
                "lag_ms_bucket_interpolated": {
                    "p50": p.p(0.5).map(Quantile::to_json),
                    "p99": p.p(0.99).map(Quantile::to_json),
                },
            })
        };
        json!({
            "date": self.started_at.to_rfc3339(),
            "backend": self.backend,
            "broker": self.broker.as_str(),
            "broker_in_gateway_process": self.broker == BrokerKind::Embedded,
            "assets": self.assets,
            "messages": self.messages,
            "publishers": self.publishers,
            "raw_qos1": {
                "messages": self.raw_messages,
                "received": self.raw.received,
                "elapsed_s": self.raw.elapsed.as_secs_f64(),
                "msgs_per_sec": self.raw.msgs_per_sec,
            },
            "committed_msgs_per_sec": self.max.committed_per_sec(),
            "pct_of_raw": self.pct_of_raw(),
            "max_rate": phase(&self.max),
            "half_rate": {
                "target_msgs_per_sec": self.half_rate_target,
                "phase": self.half.as_ref().map(phase),
            },
            "peak_rss_mb": self.peak_rss_kb as f64 / 1024.0,
            "broker_peak_rss_mb": self.broker_peak_rss_kb.map(|k| k as f64 / 1024.0),
            "loadavg_start": self.load_start,
            "loadavg_end": self.load_end,
            "complete": self.complete(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "# HELP fieldops_ingest_readings Readings by outcome.\n\
# TYPE fieldops_ingest_readings counter\n\
fieldops_ingest_readings_total{result=\"applied\"} 1500\n\
fieldops_ingest_readings_total{result=\"duplicate\"} 3\n\
fieldops_mqtt_messages_total 1503\n\
fieldops_ingest_lag_seconds_sum 12.5\n\
fieldops_ingest_lag_seconds_count 100\n\
fieldops_ingest_lag_seconds_bucket{le=\"0.01\"} 10\n\
fieldops_ingest_lag_seconds_bucket{le=\"0.02\"} 50\n\
fieldops_ingest_lag_seconds_bucket{le=\"0.05\"} 98\n\
fieldops_ingest_lag_seconds_bucket{le=\"+Inf\"} 100\n\
# EOF\n";

    #[test]
    fn parses_openmetrics() {
        let m = Metrics::parse(SAMPLE);
        assert_eq!(m.applied(), 1500.0);
        assert_eq!(m.not_applied(), 3.0);
        assert_eq!(m.get("fieldops_mqtt_messages_total"), 1503.0);
        let b = m.lag_buckets();
        assert_eq!(b.len(), 4);
        assert_eq!(b[0], (0.01, 10.0));
        assert!(b[3].0.is_infinite());
    }

    #[test]
    fn quantiles_interpolate_inside_buckets() {
        let b = Metrics::parse(SAMPLE).lag_buckets();
        // Median: rank 50 is the top of the (0.01, 0.02] bucket.
        assert_eq!(quantile(&b, 0.5), Some(Quantile::Value(0.02)));
        // Rank 30: halfway through that bucket's 40 observations.
        match quantile(&b, 0.3) {
            Some(Quantile::Value(v)) => assert!((v - 0.015).abs() < 1e-12),
            other => panic!("{other:?}"),
        }
        // Rank 5 lies in the first bucket, whose lower bound is 0.
        match quantile(&b, 0.05) {
            Some(Quantile::Value(v)) => assert!((v - 0.005).abs() < 1e-12),
            other => panic!("{other:?}"),
        }
        // Rank 99 is beyond the last finite bound.
        assert_eq!(quantile(&b, 0.99), Some(Quantile::Above(0.05)));
        assert_eq!(quantile(&[], 0.5), None);
        assert_eq!(quantile(&[(1.0, 0.0), (f64::INFINITY, 0.0)], 0.5), None);
    }

    #[test]
    fn bucket_deltas_subtract_per_bound() {
        let before = vec![(0.01, 5.0), (f64::INFINITY, 10.0)];
        let after = vec![(0.01, 15.0), (f64::INFINITY, 30.0)];
        assert_eq!(
            bucket_delta(&before, &after),
            vec![(0.01, 10.0), (f64::INFINITY, 20.0)]
        );
        assert_eq!(bucket_delta(&[], &after), after);
    }

    #[test]
    fn proc_stat_cpu() {
        let stat = "1234 (tokio runtime) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 8 0 100";
        assert_eq!(stat_cpu_secs(stat, 100.0), Some(3.0));
        assert_eq!(stat_cpu_secs("garbage", 100.0), None);
    }

    #[test]
    fn mosquitto_config_is_tuned_and_private() {
        let c = mosquitto_config(4242);
        assert!(c.contains("listener 4242 127.0.0.1"));
        assert!(c.contains("max_inflight_messages 5000"));
        assert!(c.contains("persistence false"));
    }
}
