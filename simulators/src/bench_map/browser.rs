//! The console in headless Chromium, driven through chromedriver (WebDriver, `fantoccini`) as
//! api/tests/console_browser.rs drives it: software WebGL (SwiftShader) for MapLibre, a
//! 1280×800 window. Timings come from the page's own Performance API; the frame rate from a
//! `requestAnimationFrame` counter and long tasks from a `PerformanceObserver`, both injected.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use fantoccini::wd::Capabilities;
use fantoccini::{Client, ClientBuilder, Locator};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::process::{Child, Command};

use super::progress;

/// How long the console may take to get somewhere: 100,000 assets drawn with software WebGL on
/// a shared 2-core machine.
const PAGE_WAIT: Duration = Duration::from_secs(600);
/// The page's size in CSS pixels: what the screenshots show.
const VIEWPORT: (u32, u32) = (1280, 800);
/// Where the map screenshots look (lat, lon): the middle of the seeded country at zoom 5.
const FLEET_CENTER: (f64, f64) = (51.2, 10.4);
/// Interval of the `data-assets-loaded` poll (the fallback for the map-data mark).
const POLL: Duration = Duration::from_millis(20);

/// chromedriver on a free port, killed when dropped.
pub(super) struct Driver {
    url: String,
    chromium: PathBuf,
    _child: Child,
}

impl Driver {
    pub(super) async fn start(chromium: &Path, chromedriver: &Path) -> Result<Driver> {
        // chromedriver wants the browser as a path, not a name to look up.
        let chromium = on_path(chromium).with_context(|| {
            format!(
                "{} not found (apt-get install -y chromium chromium-driver)",
                chromium.display()
            )
        })?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .context("finding a free port for chromedriver")?
            .port();
        let child = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| {
                format!(
                    "starting {} (apt-get install -y chromium chromium-driver)",
                    chromedriver.display()
                )
            })?;
        let url = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        for _ in 0..100 {
            if let Ok(resp) = http.get(format!("{url}/status")).send().await {
                if resp.status().is_success() {
                    return Ok(Driver {
                        url,
                        chromium,
                        _child: child,
                    });
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!("chromedriver did not answer on {url} within 10 s")
    }

    /// A new headless Chromium session, 1280×800, English.
    pub(super) async fn session(&self) -> Result<Client> {
        let mut caps = Capabilities::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": self.chromium,
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    // Software WebGL for MapLibre (no GPU here).
                    "--use-angle=swiftshader",
                    "--enable-unsafe-swiftshader",
                    "--window-size=1280,800",
                    "--lang=en-US",
                ],
                "prefs": {"intl.accept_languages": "en-US"},
            }),
        );
        let c = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&self.url)
            .await
            .map_err(|e| anyhow!("starting a chromium session: {e}"))?;
        // `--window-size` sizes the window, whose frame takes part of it even headless: grow the
        // window by that frame so the page itself (and each screenshot) is 1280×800.
        let frame = c
            .execute(
                "return [window.outerWidth - window.innerWidth, window.outerHeight - window.innerHeight]",
                vec![],
            )
            .await
            .map_err(|e| anyhow!("reading the window frame: {e}"))?;
        let dim = |i: usize| {
            frame
                .get(i)
                .and_then(Value::as_u64)
                .and_then(|v| u32::try_from(v).ok())
                .unwrap_or(0)
        };
        c.set_window_size(VIEWPORT.0 + dim(0), VIEWPORT.1 + dim(1))
            .await
            .map_err(|e| anyhow!("sizing the window: {e}"))?;
        Ok(c)
    }
}

/// `exe` itself when it names a path, else the first file of that name on `PATH`.
fn on_path(exe: &Path) -> Option<PathBuf> {
    if exe.components().count() > 1 {
        return exe.is_file().then(|| exe.to_owned());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(exe))
        .find(|p| p.is_file())
}

/// Runs `script` (a function body) until it returns something truthy; that value. Fails with
/// `what` and the page's recorded errors after [`PAGE_WAIT`].
async fn wait_for(c: &Client, what: &str, script: &str) -> Result<Value> {
    let deadline = tokio::time::Instant::now() + PAGE_WAIT;
    loop {
        // A navigation in progress can make a script fail; try again.
        if let Ok(v) = c.execute(script, vec![]).await {
            let truthy = !(v.is_null() || v == json!(false) || v == json!("") || v == json!(0));
            if truthy {
                return Ok(v);
            }
        }
        if tokio::time::Instant::now() > deadline {
            let errors = c
                .execute(
                    "return document.body && document.body.dataset.errors || ''",
                    vec![],
                )
                .await
                .unwrap_or_default();
            bail!(
                "timed out after {} s waiting for {what}; page errors: {errors}",
                PAGE_WAIT.as_secs()
            );
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Logs in through the login form; returns when the console page has loaded (not yet its map
/// data).
pub(super) async fn login(c: &Client, base: &str, username: &str, password: &str) -> Result<()> {
    c.goto(&format!("{base}/"))
        .await
        .map_err(|e| anyhow!("opening the login page: {e}"))?;
    wait_for(
        c,
        "the login form",
        "return document.body.dataset.ready === '1'",
    )
    .await?;
    for (css, value) in [("#username", username), ("#password", password)] {
        c.find(Locator::Css(css))
            .await
            .map_err(|e| anyhow!("{css}: {e}"))?
            .send_keys(value)
            .await
            .map_err(|e| anyhow!("{css}: {e}"))?;
    }
    c.find(Locator::Css("#login-submit"))
        .await
        .map_err(|e| anyhow!("#login-submit: {e}"))?
        .click()
        .await
        .map_err(|e| anyhow!("#login-submit: {e}"))?;
    wait_for(
        c,
        "the console",
        "return location.pathname === '/console' && document.body.dataset.ready === '1'",
    )
    .await?;
    Ok(())
}

/// First paint and first map data of the console page, in ms since its navigation started.
#[derive(Debug, Clone, Deserialize)]
pub(super) struct LoadTimes {
    pub fcp_ms: Option<f64>,
    pub map_data_ms: f64,
    /// `mark` (`performance.mark('fieldops:map-data')`) or `poll` (`body[data-assets-loaded]`
    /// seen by a poll every 20 ms: an upper bound, late by up to the poll interval and one
    /// WebDriver round trip).
    pub map_data_source: String,
    /// What `data-assets-loaded` said: the assets the console holds.
    pub assets_loaded: Option<String>,
}

/// Opens `path` of the console in the logged-in session and measures its load.
pub(super) async fn load_times(c: &Client, base: &str, path: &str) -> Result<LoadTimes> {
    c.goto(&format!("{base}{path}"))
        .await
        .map_err(|e| anyhow!("opening {path}: {e}"))?;
    let v = wait_for(
        c,
        "the first map data (mark fieldops:map-data or body[data-assets-loaded])",
        "if (location.pathname !== '/console' || !document.body) return null;
         const fcp = performance.getEntriesByType('paint')
           .find(e => e.name === 'first-contentful-paint');
         const base = {fcp_ms: fcp ? fcp.startTime : null,
                       assets_loaded: document.body.dataset.assetsLoaded ?? null};
         const mark = performance.getEntriesByName('fieldops:map-data', 'mark')[0];
         if (mark) return {...base, map_data_ms: mark.startTime, map_data_source: 'mark'};
         if (document.body.dataset.assetsLoaded !== undefined)
           return {...base, map_data_ms: performance.now(), map_data_source: 'poll'};
         return null;",
    )
    .await?;
    let mut times: LoadTimes = serde_json::from_value(v).context("the page's load times")?;
    if times.fcp_ms.is_none() {
        // The paint entry can follow the data on a slow machine: read it once more.
        times.fcp_ms = c
            .execute(
                "const e = performance.getEntriesByType('paint')
                   .find(e => e.name === 'first-contentful-paint');
                 return e ? e.startTime : null;",
                vec![],
            )
            .await
            .ok()
            .and_then(|v| v.as_f64());
    }
    wait_for(c, "the map", "return document.body.dataset.map === 'ready'").await?;
    Ok(times)
}

/// Frames and long tasks over a window.
#[derive(Debug, Clone, Deserialize)]
pub(super) struct Frames {
    pub frames: u64,
    pub secs: f64,
    pub long_tasks: u64,
    pub long_task_ms: f64,
    pub longest_task_ms: f64,
}

impl Frames {
    pub(super) fn fps(&self) -> f64 {
        if self.secs > 0.0 {
            self.frames as f64 / self.secs
        } else {
            0.0
        }
    }
}

/// Counts animation frames and long tasks for `window`.
pub(super) async fn frames(c: &Client, window: Duration) -> Result<Frames> {
    c.execute(
        "const b = {frames: 0, tasks: [], t0: performance.now(), running: true};
         window.__fieldopsBench = b;
         const tick = () => { if (!b.running) return; b.frames++; requestAnimationFrame(tick); };
         requestAnimationFrame(tick);
         b.observer = new PerformanceObserver(list => {
           for (const e of list.getEntries()) b.tasks.push(e.duration);
         });
         b.observer.observe({type: 'longtask'});
         return true;",
        vec![],
    )
    .await
    .map_err(|e| anyhow!("injecting the frame counter: {e}"))?;
    tokio::time::sleep(window).await;
    let v = c
        .execute(
            "const b = window.__fieldopsBench;
             b.running = false;
             b.observer.disconnect();
             return {frames: b.frames, secs: (performance.now() - b.t0) / 1000,
                     long_tasks: b.tasks.length,
                     long_task_ms: b.tasks.reduce((a, d) => a + d, 0),
                     longest_task_ms: b.tasks.reduce((a, d) => Math.max(a, d), 0)};",
            vec![],
        )
        .await
        .map_err(|e| anyhow!("reading the frame counter: {e}"))?;
    serde_json::from_value(v).context("the frame counter")
}

/// Saves PNGs of the console: the map, the heat map (`heat=count`) and the drawer of `asset`.
/// Each page is given until its map has rendered and stopped moving, plus a second for tiles
/// and labels.
pub(super) async fn screenshots(
    c: &Client,
    base: &str,
    out: &Path,
    asset: Option<uuid::Uuid>,
) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let mut shots = vec![("console-map.png", "/console".to_owned(), None)];
    shots.push((
        "console-heat-count.png",
        "/console?heat=count".to_owned(),
        None,
    ));
    if let Some(id) = asset {
        shots.push((
            "console-asset-drawer.png",
            format!("/console?asset={id}"),
            Some(format!(
                "const d = document.getElementById('drawer');
                 return !!d && !d.hidden && d.dataset.assetId === '{id}';"
            )),
        ));
    }
    let mut saved = Vec::new();
    for (file, path, extra) in shots {
        c.goto(&format!("{base}{path}"))
            .await
            .map_err(|e| anyhow!("opening {path}: {e}"))?;
        wait_for(
            c,
            &format!("{path} to render"),
            "const m = window.fieldopsConsole && window.fieldopsConsole.map;
             return document.body.dataset.ready === '1' && document.body.dataset.map === 'ready'
               && document.body.dataset.assetsLoaded !== undefined
               && !!m && m.loaded() && !m.isMoving();",
        )
        .await?;
        if let Some(script) = extra {
            wait_for(c, &format!("{path}: the drawer"), &script).await?;
        } else {
            // The console opens on its default view; show the seeded country instead.
            c.execute(
                &format!(
                    "window.fieldopsConsole.map.jumpTo({{center: [{}, {}], zoom: 5}}); return true;",
                    FLEET_CENTER.1, FLEET_CENTER.0
                ),
                vec![],
            )
            .await
            .map_err(|e| anyhow!("moving the map of {path}: {e}"))?;
            wait_for(
                c,
                &format!("{path} to render the fleet"),
                "const m = window.fieldopsConsole.map; return m.loaded() && !m.isMoving();",
            )
            .await?;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        let png = c
            .screenshot()
            .await
            .map_err(|e| anyhow!("screenshot of {path}: {e}"))?;
        let file = out.join(file);
        std::fs::write(&file, png).with_context(|| format!("writing {}", file.display()))?;
        progress(format!("saved {} ({path})", file.display()));
        saved.push(file);
    }
    Ok(saved)
}
