//! `fieldops-sim bench-map`: the dispatcher-map benchmark (BENCHMARKS.md, "Dispatcher map"),
//! and `fieldops-sim screenshots`, which drives the same console for PNGs.
//!
//! One run, one backend:
//!
//! 1. seeds a fresh database with N assets over a country (`seed`: city clusters, fenced depots,
//!    rentals, off-site, stale and silent assets, three service plans) and a console user;
//! 2. starts `fieldops serve` (HTTP and the embedded MQTT endpoint on free ports) as a child
//!    process, killed on error and Ctrl-C;
//! 3. server timings (`server`): each route of `server::ROUTES` K times over one keep-alive
//!    connection after a warm-up, p50/p99/max at the client; `/healthz` is the baseline; a
//!    route answering 404 is reported as not available in this build;
//! 4. browser (`browser`): headless Chromium logs in and opens the console; the Performance API
//!    gives first-contentful-paint and the first map data; then the frame rate and long tasks
//!    over a window with no telemetry (the baseline) and over one while trackers publish at a
//!    set rate (default 1,000 readings/s) to the server's MQTT endpoint;
//! 5. optionally screenshots (`--screenshots DIR`);
//! 6. prints markdown tables with the machine, revision, database and command.

mod browser;
mod seed;
mod server;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Args;
use serde_json::json;
use simulators::{run_fleet, DeviceCreds, FleetConfig};
use tokio::process::Command;

use crate::bench::{backend_of, loadavg, start_fieldops, ChildProc};
use server::RouteResult;

fn progress(msg: impl AsRef<str>) {
    eprintln!("bench-map: {}", msg.as_ref());
}

/// Where chromium and chromedriver are and how the browser part runs.
#[derive(Debug, Args)]
pub struct BrowserArgs {
    /// Chromium executable.
    #[arg(long, default_value = "chromium")]
    chromium: PathBuf,
    /// chromedriver executable (Debian: chromium-driver).
    #[arg(long, default_value = "chromedriver")]
    chromedriver: PathBuf,
}

#[derive(Debug, Args)]
pub struct BenchMapArgs {
    /// The `fieldops` binary to benchmark (release for published numbers).
    #[arg(long)]
    fieldops: PathBuf,
    /// Database: `sqlite://PATH` or `postgres://…/DB`; must be fresh (it is seeded here).
    #[arg(long, alias = "database-url")]
    database: String,
    /// Assets to seed.
    #[arg(long, default_value_t = 100_000)]
    assets: usize,
    /// Timed requests per route.
    #[arg(long, default_value_t = 200)]
    requests: usize,
    /// Unmeasured requests per route before the timed ones.
    #[arg(long, default_value_t = 10)]
    warmup: usize,
    /// Skip the browser part (server timings only).
    #[arg(long)]
    no_browser: bool,
    /// Length of each frame-rate window, in seconds.
    #[arg(long, default_value_t = 10.0)]
    fps_secs: f64,
    /// Telemetry readings per second published during the second frame-rate window.
    #[arg(long, default_value_t = 1000.0)]
    publish_rate: f64,
    /// Trackers publishing them, each on its own connection logged in as itself (at most
    /// `--assets`).
    #[arg(long, default_value_t = 200)]
    publishers: usize,
    #[command(flatten)]
    browser: BrowserArgs,
    /// Also save the console screenshots (map, heat map, drawer) in this directory.
    #[arg(long)]
    screenshots: Option<PathBuf>,
    /// The revision to print in the report (default: `git rev-parse --short HEAD` here).
    #[arg(long)]
    revision: Option<String>,
    /// The command line to print in the report (scripts/bench-map passes its own).
    #[arg(long)]
    command_line: Option<String>,
    /// Random seed of the fleet's placement.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Also write the results as JSON to this file.
    #[arg(long)]
    json_out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ScreenshotsArgs {
    /// The `fieldops` binary whose console is shown.
    #[arg(long)]
    fieldops: PathBuf,
    /// Directory for the PNGs.
    #[arg(long, default_value = "docs/screenshots")]
    out: PathBuf,
    /// A fresh database to seed (default: a new SQLite file in a temporary directory).
    #[arg(long, alias = "database-url")]
    database: Option<String>,
    /// Assets to seed.
    #[arg(long, default_value_t = 5_000)]
    assets: usize,
    #[command(flatten)]
    browser: BrowserArgs,
    /// Random seed of the fleet's placement.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

/// A throwaway credential every seeded tracker shares (the publisher logs in with it).
const DEVICE_PASSWORD: &str = "fieldops-bench-map-shared-tracker-password";

/// A seeded database with `fieldops serve` running on it.
struct Running {
    server: ChildProc,
    base: String,
    mqtt: std::net::SocketAddr,
    password: String,
    seeded: seed::Seeded,
}

async fn start(
    fieldops: &Path,
    database: &str,
    assets: usize,
    rng_seed: u64,
    work: &Path,
) -> Result<Running> {
    if assets == 0 {
        bail!("--assets must be positive");
    }
    let password = domain::secrets::random_token(18);
    let seeded = seed::seed(database, assets, &password, DEVICE_PASSWORD, rng_seed).await?;
    let mut cmd = Command::new(fieldops);
    cmd.arg("serve")
        .arg("--database-url")
        .arg(database)
        .arg("--listen")
        .arg("127.0.0.1:0")
        .arg("--mqtt-listen")
        .arg("127.0.0.1:0")
        .arg("--data-dir")
        .arg(work.join("data"))
        // The benchmark's admin logs in with its password alone.
        .arg("--require-2fa-roles")
        .arg("none");
    let (server, http, mqtt) = start_fieldops(cmd, "serve", work).await?;
    let mqtt = mqtt.context("`fieldops serve` did not print its MQTT endpoint address")?;
    progress(format!(
        "fieldops serve (pid {}) on http://{http}, MQTT {mqtt}",
        server.pid
    ));
    Ok(Running {
        server,
        base: format!("http://{http}"),
        mqtt,
        password,
        seeded,
    })
}

/// Runs `f` in a temporary directory (the server's data dir and log), kept when it fails.
async fn in_workdir<T>(prefix: &str, f: impl AsyncFnOnce(&Path) -> Result<T>) -> Result<T> {
    let work = tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .context("creating a temporary directory")?;
    let result = f(work.path()).await;
    if result.is_err() {
        progress(format!("server log kept in {}", work.keep().display()));
    }
    result
}

/// `fieldops-sim screenshots`.
pub async fn screenshots(args: ScreenshotsArgs) -> Result<ExitCode> {
    crate::bench::unless_interrupted(in_workdir("fieldops-screenshots-", async |work| {
        let database = match &args.database {
            Some(d) => d.clone(),
            None => format!("sqlite://{}", work.join("screenshots.db").display()),
        };
        let run = start(&args.fieldops, &database, args.assets, args.seed, work).await?;
        let driver =
            browser::Driver::start(&args.browser.chromium, &args.browser.chromedriver).await?;
        let c = driver.session().await?;
        let result = async {
            browser::login(&c, &run.base, seed::USERNAME, &run.password).await?;
            browser::screenshots(&c, &run.base, &args.out, run.seeded.drawer_asset).await
        }
        .await;
        let _ = c.close().await;
        run.server.stop().await;
        result.map(|_| ExitCode::SUCCESS)
    }))
    .await
}

/// Browser measurements of one run.
#[derive(Debug, Clone)]
struct BrowserReport {
    load: browser::LoadTimes,
    idle: browser::Frames,
    busy: browser::Frames,
    /// Readings the publisher produced per second during the busy window.
    published_per_sec: f64,
}

/// `fieldops-sim bench-map`.
pub async fn run(args: BenchMapArgs) -> Result<ExitCode> {
    let backend = backend_of(&args.database)?;
    if args.requests == 0 || args.publishers == 0 || args.publishers > args.assets {
        bail!("--requests must be positive and --publishers between 1 and --assets");
    }
    if !(args.fps_secs.is_finite() && args.fps_secs > 0.0 && args.publish_rate > 0.0) {
        bail!("--fps-secs and --publish-rate must be positive numbers");
    }
    let started_at = chrono::Utc::now();
    let load_start = loadavg();
    let (routes, browser_report, seeded_summary) =
        crate::bench::unless_interrupted(in_workdir("fieldops-bench-map-", async |work| {
            let run = start(&args.fieldops, &args.database, args.assets, args.seed, work).await?;
            let result = measure_all(&args, &run).await;
            run.server.stop().await;
            result.map(|(r, b)| (r, b, run.seeded.summary.clone()))
        }))
        .await?;
    let report = Report {
        backend,
        assets: args.assets,
        requests: args.requests,
        routes,
        browser: browser_report,
        fps_secs: args.fps_secs,
        publish_rate: args.publish_rate,
        publishers: args.publishers,
        seeded: seeded_summary,
        revision: args.revision.clone().unwrap_or_else(git_revision),
        command: args
            .command_line
            .clone()
            .unwrap_or_else(|| std::env::args().collect::<Vec<_>>().join(" ")),
        machine: machine(),
        load: (load_start[0], loadavg()[0]),
        started_at,
    };
    println!("{}", report.markdown());
    if let Some(path) = &args.json_out {
        let text = serde_json::to_string_pretty(&report.json())?;
        std::fs::write(path, format!("{text}\n"))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    let errors: usize = report
        .routes
        .iter()
        .map(|(_, r)| match r {
            RouteResult::Measured(t) => t.errors,
            RouteResult::NotAvailable => 0,
        })
        .sum();
    if errors > 0 {
        eprintln!("bench-map: {errors} requests failed (see the errors column)");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

type RouteRows = Vec<(&'static str, RouteResult)>;

async fn measure_all(
    args: &BenchMapArgs,
    run: &Running,
) -> Result<(RouteRows, Option<BrowserReport>)> {
    let client = server::client()?;
    let token = server::login(&client, &run.base, seed::USERNAME, &run.password).await?;
    let mut routes = Vec::new();
    for route in server::ROUTES {
        let r = server::measure(
            &client,
            &run.base,
            &token,
            route,
            args.warmup,
            args.requests,
        )
        .await?;
        match &r {
            RouteResult::NotAvailable => {
                progress(format!("{}: not available in this build (404)", route.name));
            }
            RouteResult::Measured(t) => progress(format!(
                "{}: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms, {:.1} KB{}",
                route.name,
                ms(t.p50),
                ms(t.p99),
                ms(t.max),
                t.mean_bytes / 1024.0,
                t.first_error
                    .as_ref()
                    .map(|e| format!(", {} errors, first: {e}", t.errors))
                    .unwrap_or_default()
            )),
        }
        routes.push((route.name, r));
    }
    if args.no_browser {
        return Ok((routes, None));
    }
    let driver = browser::Driver::start(&args.browser.chromium, &args.browser.chromedriver).await?;
    let c = driver.session().await?;
    let result = measure_browser(args, run, &c).await;
    let _ = c.close().await;
    Ok((routes, Some(result?)))
}

async fn measure_browser(
    args: &BenchMapArgs,
    run: &Running,
    c: &fantoccini::Client,
) -> Result<BrowserReport> {
    browser::login(c, &run.base, seed::USERNAME, &run.password).await?;
    // A fresh navigation: the console page's own timeline, not the login form's.
    let load = browser::load_times(c, &run.base, "/console").await?;
    progress(format!(
        "console: first-contentful-paint {} ms, first map data {:.0} ms ({}), {} assets loaded",
        load.fcp_ms.map_or("?".into(), |v| format!("{v:.0}")),
        load.map_data_ms,
        load.map_data_source,
        load.assets_loaded.as_deref().unwrap_or("?")
    ));
    let window = Duration::from_secs_f64(args.fps_secs);
    let idle = browser::frames(c, window).await?;
    progress(format!(
        "no telemetry: {:.1} fps, {} long tasks",
        idle.fps(),
        idle.long_tasks
    ));
    // The busy window: trackers publish for a second before it and until it ends.
    let devices: Vec<DeviceCreds> = run
        .seeded
        .device_ids
        .iter()
        .take(args.publishers)
        .map(|id| DeviceCreds {
            device_id: id.clone(),
            username: Some(id.clone()),
            password: Some(DEVICE_PASSWORD.to_owned()),
        })
        .collect();
    let mut config = FleetConfig::new(run.mqtt.ip().to_string(), run.mqtt.port(), devices);
    config.rate_per_sec = args.publish_rate;
    config.duration = Some(window + Duration::from_secs(2));
    config.sites = seed::CITIES
        .iter()
        .map(|(_, lat, lon)| (*lat, *lon))
        .collect();
    config.offline_share = 0.0;
    config.malformed_share = 0.0;
    config.seed = args.seed;
    let fleet = tokio::spawn(run_fleet(config, std::future::pending::<()>()));
    tokio::time::sleep(Duration::from_secs(1)).await;
    let busy = browser::frames(c, window).await;
    let summary = fleet
        .await
        .context("the publisher task")?
        .context("publishing telemetry")?;
    let busy = busy?;
    progress(format!(
        "{:.0} readings/s published: {:.1} fps, {} long tasks",
        summary.messages_per_sec(),
        busy.fps(),
        busy.long_tasks
    ));
    if let Some(dir) = &args.screenshots {
        browser::screenshots(c, &run.base, dir, run.seeded.drawer_asset).await?;
    }
    Ok(BrowserReport {
        load,
        idle,
        busy,
        published_per_sec: summary.messages_per_sec(),
    })
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// `git rev-parse --short HEAD` in the working directory, or `unknown`.
fn git_revision() -> String {
    std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|| "unknown".into())
}

/// Cores and memory of this machine.
fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem_gib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0 / 1024.0);
    format!("{cores} cores, {mem_gib:.0} GiB")
}

struct Report {
    backend: &'static str,
    assets: usize,
    requests: usize,
    routes: RouteRows,
    browser: Option<BrowserReport>,
    fps_secs: f64,
    publish_rate: f64,
    publishers: usize,
    seeded: String,
    revision: String,
    command: String,
    machine: String,
    /// 1-minute load average at the start and the end.
    load: (f64, f64),
    started_at: chrono::DateTime<chrono::Utc>,
}

impl Report {
    fn markdown(&self) -> String {
        use std::fmt::Write as _;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "Dispatcher map, {} assets on {} ({}); revision {}; {}; load {:.1} → {:.1}; {}\n\n```sh\n{}\n```\n",
            self.assets,
            self.backend,
            self.seeded,
            self.revision,
            self.machine,
            self.load.0,
            self.load.1,
            self.started_at.format("%Y-%m-%d %H:%M UTC"),
            self.command
        );
        let _ = writeln!(
            s,
            "| backend | route | requests | p50 ms | p99 ms | max ms | body KB | errors |\n|---|---|---:|---:|---:|---:|---:|---:|"
        );
        for (name, r) in &self.routes {
            match r {
                RouteResult::NotAvailable => {
                    let _ = writeln!(
                        s,
                        "| {} | {name} | – | not available in this build | | | | |",
                        self.backend
                    );
                }
                RouteResult::Measured(t) => {
                    let _ = writeln!(
                        s,
                        "| {} | {name} | {} | {:.2} | {:.2} | {:.2} | {:.1} | {} |",
                        self.backend,
                        t.requests,
                        ms(t.p50),
                        ms(t.p99),
                        ms(t.max),
                        t.mean_bytes / 1024.0,
                        t.errors
                    );
                }
            }
        }
        if let Some(b) = &self.browser {
            let _ = writeln!(
                s,
                "\n| backend | assets loaded | first-contentful-paint ms | first map data ms | fps, no telemetry (baseline) | fps, {:.0} readings/s ({} trackers) | long tasks (count / total ms / longest ms), baseline → with telemetry |\n|---|---:|---:|---:|---:|---:|---|",
                self.publish_rate, self.publishers
            );
            let _ = writeln!(
                s,
                "| {} | {} | {} | {:.0} ({}) | {:.1} | {:.1} (published {:.0}/s) | {} / {:.0} / {:.0} → {} / {:.0} / {:.0} |",
                self.backend,
                b.load.assets_loaded.as_deref().unwrap_or("?"),
                b.load.fcp_ms.map_or("?".into(), |v| format!("{v:.0}")),
                b.load.map_data_ms,
                if b.load.map_data_source == "mark" {
                    "mark fieldops:map-data"
                } else {
                    "poll of data-assets-loaded, 20 ms"
                },
                b.idle.fps(),
                b.busy.fps(),
                b.published_per_sec,
                b.idle.long_tasks,
                b.idle.long_task_ms,
                b.idle.longest_task_ms,
                b.busy.long_tasks,
                b.busy.long_task_ms,
                b.busy.longest_task_ms
            );
            let _ = writeln!(
                s,
                "\nFrame-rate windows: {:.0} s each, headless Chromium with software WebGL (SwiftShader), 1280×800.",
                self.fps_secs
            );
        }
        s
    }

    fn json(&self) -> serde_json::Value {
        let routes: Vec<_> = self
            .routes
            .iter()
            .map(|(name, r)| match r {
                RouteResult::NotAvailable => json!({"route": name, "available": false}),
                RouteResult::Measured(t) => json!({
                    "route": name, "available": true, "requests": t.requests,
                    "p50_ms": ms(t.p50), "p99_ms": ms(t.p99), "max_ms": ms(t.max),
                    "mean_bytes": t.mean_bytes, "errors": t.errors,
                }),
            })
            .collect();
        let browser = self.browser.as_ref().map(|b| {
            json!({
                "assets_loaded": b.load.assets_loaded,
                "fcp_ms": b.load.fcp_ms,
                "map_data_ms": b.load.map_data_ms,
                "map_data_source": b.load.map_data_source,
                "fps_idle": b.idle.fps(),
                "fps_busy": b.busy.fps(),
                "published_per_sec": b.published_per_sec,
                "long_tasks_idle": b.idle.long_tasks,
                "long_task_ms_idle": b.idle.long_task_ms,
                "long_tasks_busy": b.busy.long_tasks,
                "long_task_ms_busy": b.busy.long_task_ms,
                "longest_task_ms_busy": b.busy.longest_task_ms,
            })
        });
        json!({
            "backend": self.backend, "assets": self.assets, "requests": self.requests,
            "revision": self.revision, "machine": self.machine, "command": self.command,
            "started_at": self.started_at, "routes": routes, "browser": browser,
        })
    }
}
