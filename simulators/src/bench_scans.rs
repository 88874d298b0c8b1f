//! `fieldops-sim bench-scans`: the scan-API benchmark (BENCHMARKS.md, "Scan API").
//!
//! One run, one backend:
//!
//! 1. seeds a fresh database with N assets (`domain::seed::seed_fleet`: four depots, codes
//!    `BS-000001…`), one customer site and a technician with a random password;
//! 2. starts the real `fieldops api` binary on a free port (children killed on error/Ctrl-C);
//! 3. for each client count (default 16 and 64), measures, each client sending its next request
//!    as soon as the previous one was answered:
//!    - `GET /healthz` — the HTTP stack's ceiling (no auth, no database),
//!    - `GET /api/v1/sites/{id}` — a trivial authenticated GET (token lookup + one row),
//!    - lookups: `POST /api/v1/scans` `lookup` of random asset codes,
//!    - deliver/return: each client takes the next asset of a shuffled list and delivers it
//!      to the customer site, then returns it to a depot (two commands, each timed);
//! 4. offline batches: K clients send `POST /api/v1/scans/batch` of 1,000 queued commands
//!    (500 assets × deliver + return, device times in the past);
//! 5. prints one markdown table: requests/s, scans/s, p50/p99 latency per request, errors, and
//!    the server's CPU per scan — per request for the baselines — (`/proc/<pid>/stat` delta);
//!    writes JSON with `--json-out`.
//!
//! Latencies are measured at the client (send → whole body read), on the same machine as the
//! server: the clients' own CPU competes with it, which the healthz baseline shows.

use std::fmt::Write as _;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use chrono::{DateTime, Utc};
use clap::Args;
use mobile_shared::scan::{BatchResults, CommandBatch, CommandStatus, FieldAction, FieldCommand};
use mobile_shared::wire::{LoginResponse, NewSite, NewUser, SiteKind};
use mobile_shared::Role;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde_json::json;
use tokio::process::Command;
use uuid::Uuid;

use crate::bench::{
    backend_of, clock_ticks_per_sec, loadavg, postgres_cpu_secs, proc_cpu_secs, start_fieldops,
    vm_hwm_kb, ChildProc,
};

/// The benchmark's technician.
const USERNAME: &str = "bench-scans";
/// Bound on one request (a batch of 1,000 on a loaded SQLite server included).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);
/// Unmeasured requests before the first phase: connections opened, caches warm.
const WARMUP: usize = 500;

#[derive(Debug, Args)]
pub struct BenchScansArgs {
    /// The release `fieldops` binary to benchmark.
    #[arg(long)]
    fieldops: PathBuf,
    /// Database: `sqlite://PATH` or `postgres://…/DB`; must be fresh (it is seeded here).
    #[arg(long)]
    database: String,
    /// Assets to seed.
    #[arg(long, default_value_t = 100_000)]
    assets: usize,
    /// Concurrent clients; each count is one set of rows.
    #[arg(long, value_delimiter = ',', default_value = "16,64")]
    clients: Vec<usize>,
    /// Requests per phase (baselines and lookups; deliver/return sends this many commands).
    #[arg(long, default_value_t = 10_000)]
    requests: usize,
    /// Offline batches to send.
    #[arg(long, default_value_t = 20)]
    batches: usize,
    /// Commands per batch (even: deliver + return per asset; at most 1,000).
    #[arg(long, default_value_t = 1000)]
    batch_size: usize,
    /// Clients sending batches concurrently.
    #[arg(long, default_value_t = 4)]
    batch_clients: usize,
    /// Asset codes are <prefix>-<6-digit number>.
    #[arg(long, default_value = "BS")]
    code_prefix: String,
    /// Random seed (asset order, lookup codes).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Print the table rows without the header (to build one table from several runs).
    #[arg(long)]
    no_header: bool,
    /// Also write the results as JSON to this file.
    #[arg(long)]
    json_out: Option<PathBuf>,
}

fn progress(msg: impl AsRef<str>) {
    eprintln!("bench-scans: {}", msg.as_ref());
}

/// Runs the benchmark; Ctrl-C stops it and the server.
pub async fn run(args: BenchScansArgs) -> Result<ExitCode> {
    let report = crate::bench::unless_interrupted(bench(&args)).await?;
    if let Some(path) = &args.json_out {
        let text = serde_json::to_string_pretty(&report.to_json())?;
        std::fs::write(path, format!("{text}\n"))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if !args.no_header {
        println!("{}", Row::header());
    }
    for row in &report.rows {
        println!("{}", row.markdown(report.backend));
    }
    let errors: u64 = report.rows.iter().map(|r| r.errors).sum();
    if errors > 0 {
        eprintln!("bench-scans: {errors} requests failed (see the errors column)");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// The run in a temporary directory (the server's data dir and log), kept when it fails.
async fn bench(args: &BenchScansArgs) -> Result<Report> {
    let work = tempfile::Builder::new()
        .prefix("fieldops-bench-scans-")
        .tempdir()
        .context("creating a temporary directory")?;
    let result = bench_in(args, work.path()).await;
    if result.is_err() {
        progress(format!("server log kept in {}", work.keep().display()));
    }
    result
}

fn check_args(args: &BenchScansArgs) -> Result<()> {
    if args.assets == 0 || args.requests == 0 || args.clients.contains(&0) {
        bail!("--assets, --requests and every --clients value must be positive");
    }
    if args.batch_size == 0 || args.batch_size % 2 != 0 || args.batch_size > 1000 {
        bail!("--batch-size must be even, between 2 and 1000");
    }
    let consumed = args.clients.len() * args.requests.div_ceil(2)
        + args.batches * args.batch_size / 2
        + WARMUP;
    if consumed > args.assets {
        bail!(
            "the deliver/return phases and the batches need {consumed} distinct assets; seed more \
             (--assets) or send fewer requests"
        );
    }
    Ok(())
}

async fn bench_in(args: &BenchScansArgs, work: &Path) -> Result<Report> {
    check_args(args)?;
    let backend = backend_of(&args.database)?;
    let started_at = Utc::now();
    let load_start = loadavg();
    let password = domain::secrets::random_token(18);
    let fixture = seed(args, &password).await?;

    let mut cmd = Command::new(&args.fieldops);
    cmd.arg("api")
        .arg("--database-url")
        .arg(&args.database)
        .arg("--listen")
        .arg("127.0.0.1:0")
        .arg("--data-dir")
        .arg(work.join("data"));
    let (server, http, _) = start_fieldops(cmd, "api", work).await?;
    progress(format!(
        "fieldops api (pid {}) on http://{http}",
        server.pid
    ));
    let base = format!("http://{http}");
    let client = reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .build()
        .context("building the HTTP client")?;
    let token = login(&client, &base, &password).await?;
    let ctx = Arc::new(Ctx {
        client,
        base,
        token,
        fixture,
        codes: shuffled_codes(args),
        next_asset: AtomicUsize::new(0),
        code_prefix: args.code_prefix.clone(),
        seed: args.seed,
    });
    let rows = phases(args, &ctx, &server).await;
    let peak_rss_kb = vm_hwm_kb(server.pid).unwrap_or(0);
    server.stop().await;
    Ok(Report {
        backend,
        assets: args.assets,
        rows: rows?,
        peak_rss_kb,
        load_start,
        load_end: loadavg(),
        started_at,
    })
}

// ---------------------------------------------------------------------------------------------
// Seeding

/// What the seeding made that the requests refer to.
#[derive(Debug, Clone)]
struct Fixture {
    customer: Uuid,
    depots: Vec<Uuid>,
}

async fn seed(args: &BenchScansArgs, password: &str) -> Result<Fixture> {
    let redacted = domain::store::redact_url(&args.database);
    let store = domain::Store::connect(&args.database, &domain::StoreOptions::default())
        .await
        .with_context(|| format!("opening {redacted}"))?;
    let result = seed_on(&store, args, password).await;
    store.close().await;
    result.with_context(|| format!("seeding {redacted}"))
}

async fn seed_on(store: &domain::Store, args: &BenchScansArgs, password: &str) -> Result<Fixture> {
    store.migrate().await?;
    if domain::seed::has_assets(store).await? {
        bail!("the database already holds assets: bench-scans needs a fresh one");
    }
    let started = Instant::now();
    let actor = domain::Actor::cli();
    let fleet = domain::seed::FleetSeed {
        assets: args.assets,
        code_prefix: args.code_prefix.clone(),
        device_prefix: "bs-".into(),
        // Trackers are not used here; they share one throwaway credential.
        password_hash: domain::secrets::hash_device_password(&domain::secrets::random_token(18)),
        depots: vec![
            ("Scan bench depot north".to_owned(), 48.2082, 11.5755),
            ("Scan bench depot east".to_owned(), 48.1351, 11.6520),
            ("Scan bench depot south".to_owned(), 48.0833, 11.5404),
            ("Scan bench depot west".to_owned(), 48.1458, 11.4600),
        ],
    };
    let seeded = domain::seed::seed_fleet(store, &actor, &fleet).await?;
    let customer = domain::sites::create(
        store,
        &actor,
        NewSite {
            name: "Scan bench customer".into(),
            kind: SiteKind::CustomerSite,
            customer_id: None,
            address: None,
            location: Some(mobile_shared::wire::LatLon {
                lat: 48.1500,
                lon: 11.5800,
            }),
            geofence: None,
        },
    )
    .await?;
    let user = NewUser {
        username: USERNAME.into(),
        password: password.to_owned(),
        role: Role::Technician,
        email: None,
    };
    domain::users::create(store, &actor, user).await?;
    progress(format!(
        "seeded {} assets, a customer site and a technician in {:.1} s",
        seeded.devices.len(),
        started.elapsed().as_secs_f64()
    ));
    Ok(Fixture {
        customer: customer.id,
        depots: seeded.site_ids,
    })
}

async fn login(client: &reqwest::Client, base: &str, password: &str) -> Result<String> {
    let resp = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"username": USERNAME, "password": password}))
        .send()
        .await
        .context("logging in")?;
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    if !status.is_success() {
        bail!("login answered {status}: {text}");
    }
    let login: LoginResponse = serde_json::from_str(&text).context("login answer")?;
    Ok(login.token)
}

/// Asset numbers 1..=N in random order: deliver/return and batches take distinct ones from it.
fn shuffled_codes(args: &BenchScansArgs) -> Vec<u32> {
    let mut v: Vec<u32> = (1..=u32::try_from(args.assets).unwrap_or(u32::MAX)).collect();
    v.shuffle(&mut rand::rngs::StdRng::seed_from_u64(args.seed));
    v
}

// ---------------------------------------------------------------------------------------------
// Requests

/// What every client shares.
struct Ctx {
    client: reqwest::Client,
    base: String,
    token: String,
    fixture: Fixture,
    codes: Vec<u32>,
    /// Next unused position in `codes`.
    next_asset: AtomicUsize,
    code_prefix: String,
    seed: u64,
}

/// One timed request.
#[derive(Debug, Clone, Copy)]
struct Sample {
    latency: Duration,
    scans: u64,
    ok: bool,
}

type OpFuture = Pin<Box<dyn Future<Output = Vec<Sample>> + Send>>;
type Op = Arc<dyn Fn(Arc<Ctx>, usize) -> OpFuture + Send + Sync>;

impl Ctx {
    fn code(&self, n: u32) -> String {
        format!("{}-{n:06}", self.code_prefix)
    }

    /// A code chosen by hashing the request number: random, reproducible, no shared RNG.
    fn random_code(&self, i: usize) -> String {
        let n = splitmix64(self.seed ^ (i as u64)) % self.codes.len() as u64;
        self.code(u32::try_from(n).unwrap_or(0) + 1)
    }

    /// The next asset nobody has delivered yet.
    fn fresh_asset(&self) -> Option<u32> {
        let k = self.next_asset.fetch_add(1, Ordering::Relaxed);
        self.codes.get(k).copied()
    }

    fn depot(&self, n: u32) -> Option<Uuid> {
        let d = &self.fixture.depots;
        (!d.is_empty()).then(|| d[n as usize % d.len()])
    }

    /// Sends and reads the whole answer; `ok` = the expected status and, for commands, every
    /// result as expected.
    async fn timed(&self, rb: reqwest::RequestBuilder, scans: u64, check: Check) -> Sample {
        let t0 = Instant::now();
        let outcome = async {
            let resp = rb.send().await?;
            let status = resp.status();
            let body = resp.bytes().await?;
            Ok::<_, reqwest::Error>((status, body))
        }
        .await;
        let latency = t0.elapsed();
        let ok = match outcome {
            Ok((status, body)) => status.is_success() && check.passes(&body),
            Err(e) => {
                tracing::warn!(error = %e, "request failed");
                false
            }
        };
        Sample { latency, scans, ok }
    }

    fn get(&self, path: &str, auth: bool) -> reqwest::RequestBuilder {
        let rb = self.client.get(format!("{}{path}", self.base));
        if auth {
            rb.bearer_auth(&self.token)
        } else {
            rb
        }
    }

    fn post<B: serde::Serialize>(&self, path: &str, body: &B) -> reqwest::RequestBuilder {
        self.client
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .json(body)
    }
}

/// What a 2xx answer must also say to count as a success.
#[derive(Debug, Clone, Copy)]
enum Check {
    Any,
    /// One command result with status `applied`.
    Applied,
    /// A batch whose every result is `applied`.
    AllApplied,
}

impl Check {
    fn passes(self, body: &[u8]) -> bool {
        match self {
            Check::Any => true,
            Check::Applied => serde_json::from_slice::<mobile_shared::scan::CommandResult>(body)
                .is_ok_and(|r| r.status == CommandStatus::Applied),
            Check::AllApplied => serde_json::from_slice::<BatchResults>(body)
                .is_ok_and(|b| b.results.iter().all(|r| r.status == CommandStatus::Applied)),
        }
    }
}

/// Asset `n` delivered to the customer site at `t`, then returned to its depot 1 ms later.
fn deliver_and_return(ctx: &Ctx, n: u32, t: DateTime<Utc>) -> [FieldCommand; 2] {
    let mut deliver = command(FieldAction::Deliver, ctx.code(n), t);
    deliver.site_id = Some(ctx.fixture.customer);
    let mut ret = command(
        FieldAction::Return,
        ctx.code(n),
        t + chrono::Duration::milliseconds(1),
    );
    ret.site_id = ctx.depot(n);
    [deliver, ret]
}

fn command(action: FieldAction, code: String, at: DateTime<Utc>) -> FieldCommand {
    FieldCommand::new(action, Some(code), at)
}

fn op_healthz() -> Op {
    Arc::new(|ctx: Arc<Ctx>, _| {
        Box::pin(async move { vec![ctx.timed(ctx.get("/healthz", false), 0, Check::Any).await] })
    })
}

fn op_auth_get() -> Op {
    Arc::new(|ctx: Arc<Ctx>, _| {
        Box::pin(async move {
            let path = format!("/api/v1/sites/{}", ctx.fixture.customer);
            vec![ctx.timed(ctx.get(&path, true), 0, Check::Any).await]
        })
    })
}

fn op_lookup() -> Op {
    Arc::new(|ctx: Arc<Ctx>, i| {
        Box::pin(async move {
            let cmd = command(FieldAction::Lookup, ctx.random_code(i), Utc::now());
            let rb = ctx.post("/api/v1/scans", &cmd);
            vec![ctx.timed(rb, 1, Check::Applied).await]
        })
    })
}

/// Deliver the next fresh asset to the customer, then return it to a depot: two timed commands.
fn op_deliver_return() -> Op {
    Arc::new(|ctx: Arc<Ctx>, _| {
        Box::pin(async move {
            let Some(n) = ctx.fresh_asset() else {
                return vec![];
            };
            let t = Utc::now();
            let [deliver, ret] = deliver_and_return(&ctx, n, t);
            let a = ctx
                .timed(ctx.post("/api/v1/scans", &deliver), 1, Check::Applied)
                .await;
            let b = ctx
                .timed(ctx.post("/api/v1/scans", &ret), 1, Check::Applied)
                .await;
            vec![a, b]
        })
    })
}

/// A phone's offline queue: deliver + return for `size / 2` fresh assets, device times in the
/// last hour.
fn op_batch(size: usize) -> Op {
    Arc::new(move |ctx: Arc<Ctx>, _| {
        Box::pin(async move {
            let start = Utc::now() - chrono::Duration::hours(1);
            let mut commands = Vec::with_capacity(size);
            for k in 0..size / 2 {
                let Some(n) = ctx.fresh_asset() else {
                    break;
                };
                let t = start + chrono::Duration::milliseconds(2 * k as i64);
                let [deliver, ret] = deliver_and_return(&ctx, n, t);
                commands.push(deliver);
                commands.push(ret);
            }
            let scans = commands.len() as u64;
            let rb = ctx.post("/api/v1/scans/batch", &CommandBatch { commands });
            vec![ctx.timed(rb, scans, Check::AllApplied).await]
        })
    })
}

fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

// ---------------------------------------------------------------------------------------------
// Phases

/// `clients` tasks run `op` until `ops` have been started; every request's sample is kept.
async fn drive(ctx: &Arc<Ctx>, op: &Op, clients: usize, ops: usize) -> (Vec<Sample>, Duration) {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..clients {
        let (ctx, op, next) = (ctx.clone(), op.clone(), next.clone());
        tasks.spawn(async move {
            let mut samples = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= ops {
                    return samples;
                }
                samples.extend(op(ctx.clone(), i).await);
            }
        });
    }
    let mut all = Vec::with_capacity(ops);
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok(s) => all.extend(s),
            Err(e) => tracing::error!(error = %e, "a client task failed"),
        }
    }
    (all, started.elapsed())
}

/// Runs every phase and returns the table rows.
async fn phases(args: &BenchScansArgs, ctx: &Arc<Ctx>, server: &ChildProc) -> Result<Vec<Row>> {
    let clk_tck = clock_ticks_per_sec();
    let measure = |name: &'static str, op: Op, clients: usize, ops: usize| {
        let ctx = ctx.clone();
        async move {
            let cpu0 = proc_cpu_secs(server.pid, clk_tck)?;
            let pg0 = postgres_cpu_secs(clk_tck);
            let (samples, elapsed) = drive(&ctx, &op, clients, ops).await;
            let server_cpu = proc_cpu_secs(server.pid, clk_tck)? - cpu0;
            let postgres_cpu = postgres_cpu_secs(clk_tck) - pg0;
            let row = Row::new(name, clients, &samples, elapsed, server_cpu, postgres_cpu);
            progress(row.markdown("…"));
            Ok::<Row, anyhow::Error>(row)
        }
    };
    // Warm-up, not reported: connections, prepared statements, page cache.
    measure("warm-up", op_lookup(), 8, WARMUP).await?;
    measure("warm-up", op_deliver_return(), 8, WARMUP / 10).await?;
    let mut rows = Vec::new();
    for &c in &args.clients {
        rows.push(measure("GET /healthz (baseline)", op_healthz(), c, args.requests).await?);
        rows.push(
            measure(
                "GET /sites/{id} (auth baseline)",
                op_auth_get(),
                c,
                args.requests,
            )
            .await?,
        );
        rows.push(measure("lookup", op_lookup(), c, args.requests).await?);
        let pairs = args.requests.div_ceil(2);
        rows.push(measure("deliver + return", op_deliver_return(), c, pairs).await?);
    }
    rows.push(
        measure(
            "batch of 1,000 offline",
            op_batch(args.batch_size),
            args.batch_clients,
            args.batches,
        )
        .await?,
    );
    Ok(rows)
}

/// One line of the table.
#[derive(Debug, Clone)]
struct Row {
    phase: &'static str,
    clients: usize,
    requests: usize,
    errors: u64,
    scans: u64,
    elapsed: Duration,
    p50: Duration,
    p99: Duration,
    server_cpu_s: f64,
    postgres_cpu_s: f64,
}

impl Row {
    fn new(
        phase: &'static str,
        clients: usize,
        samples: &[Sample],
        elapsed: Duration,
        server_cpu_s: f64,
        postgres_cpu_s: f64,
    ) -> Row {
        let mut lat: Vec<Duration> = samples.iter().map(|s| s.latency).collect();
        lat.sort();
        Row {
            phase,
            clients,
            requests: samples.len(),
            errors: samples.iter().filter(|s| !s.ok).count() as u64,
            scans: samples.iter().filter(|s| s.ok).map(|s| s.scans).sum(),
            elapsed,
            p50: percentile(&lat, 0.50),
            p99: percentile(&lat, 0.99),
            server_cpu_s,
            postgres_cpu_s,
        }
    }

    fn per_sec(&self, n: f64) -> f64 {
        let s = self.elapsed.as_secs_f64();
        if s > 0.0 {
            n / s
        } else {
            0.0
        }
    }

    /// Server CPU per scan, or per request for the baselines (which carry no scans).
    fn server_cpu_us_per_unit(&self) -> f64 {
        let units = if self.scans > 0 {
            self.scans
        } else {
            self.requests as u64
        };
        self.server_cpu_s * 1e6 / units.max(1) as f64
    }

    fn header() -> String {
        "| backend | phase | clients | requests | req/s | scans/s | p50 ms | p99 ms | errors \
         | server CPU µs/scan |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
            .to_owned()
    }

    fn markdown(&self, backend: &str) -> String {
        let scans = if self.scans > 0 {
            format!("{:.0}", self.per_sec(self.scans as f64))
        } else {
            "–".to_owned()
        };
        let mut s = String::new();
        let _ = write!(
            s,
            "| {backend} | {} | {} | {} | {:.0} | {scans} | {:.1} | {:.1} | {} | {:.0} |",
            self.phase,
            self.clients,
            self.requests,
            self.per_sec(self.requests as f64),
            ms(self.p50),
            ms(self.p99),
            self.errors,
            self.server_cpu_us_per_unit(),
        );
        s
    }

    fn to_json(&self) -> serde_json::Value {
        json!({
            "phase": self.phase,
            "clients": self.clients,
            "requests": self.requests,
            "errors": self.errors,
            "scans": self.scans,
            "elapsed_s": self.elapsed.as_secs_f64(),
            "requests_per_sec": self.per_sec(self.requests as f64),
            "scans_per_sec": self.per_sec(self.scans as f64),
            "p50_ms": ms(self.p50),
            "p99_ms": ms(self.p99),
            "server_cpu_s": self.server_cpu_s,
            "postgres_cpu_s_all_processes": self.postgres_cpu_s,
        })
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

struct Report {
    backend: &'static str,
    assets: usize,
    rows: Vec<Row>,
    peak_rss_kb: u64,
    load_start: [f64; 3],
    load_end: [f64; 3],
    started_at: DateTime<Utc>,
}

impl Report {
    fn to_json(&self) -> serde_json::Value {
        json!({
            "date": self.started_at.to_rfc3339(),
            "backend": self.backend,
            "assets": self.assets,
            "rows": self.rows.iter().map(Row::to_json).collect::<Vec<_>>(),
            "server_peak_rss_mb": self.peak_rss_kb as f64 / 1024.0,
            "loadavg_start": self.load_start,
            "loadavg_end": self.load_end,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&v, 0.5), Duration::from_millis(50));
        assert_eq!(percentile(&v, 0.99), Duration::from_millis(99));
        assert_eq!(percentile(&v[..1], 0.99), Duration::from_millis(1));
        assert_eq!(percentile(&[], 0.5), Duration::ZERO);
    }

    #[test]
    fn batch_checks_need_every_result_applied() {
        assert!(!Check::Applied.passes(b"{}"));
        assert!(Check::AllApplied.passes(br#"{"results":[]}"#));
        assert!(Check::Any.passes(b""));
    }
}
