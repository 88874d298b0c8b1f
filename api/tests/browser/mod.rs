//! Harness for the browser tests (console_browser.rs, office_browser.rs): Debian's headless
//! Chromium driven through chromedriver (WebDriver, `fantoccini`). Without `chromium` and
//! `chromedriver` on PATH the tests are SKIPPED (they fail with `CI` set; `.ci/run` installs
//! both).
//!
//! WebGL: headless Chromium has no GPU here; `--use-angle=swiftshader --enable-unsafe-swiftshader`
//! gives MapLibre a software WebGL context, so the map really renders.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use domain::testing::skip_or_fail;
use fantoccini::wd::Capabilities;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};
use tokio::process::{Child, Command};

/// How long a page may take to get somewhere (software WebGL on a shared 2-core machine).
pub const PAGE_WAIT: Duration = Duration::from_secs(30);

/// chromedriver on a free port, killed when dropped (`kill_on_drop`).
pub struct Driver {
    chromium: PathBuf,
    url: String,
    _process: Child,
}

fn on_path(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
        .find(|p| p.is_file())
}

impl Driver {
    /// Starts chromedriver; `None` (the test skips) without chromium or chromedriver.
    pub async fn start(what: &str) -> Option<Driver> {
        let (Some(chromium), Some(chromedriver)) = (
            on_path(&["chromium", "chromium-browser"]),
            on_path(&["chromedriver"]),
        ) else {
            skip_or_fail(
                what,
                "needs `chromium` and `chromedriver` on PATH: apt-get install -y chromium chromium-driver",
            );
            return None;
        };
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let process = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start chromedriver");
        let url = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let mut up = false;
        for _ in 0..100 {
            if let Ok(resp) = http.get(format!("{url}/status")).send().await {
                if resp.status().is_success() {
                    up = true;
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(up, "chromedriver did not answer on {url}");
        Some(Driver {
            chromium,
            url,
            _process: process,
        })
    }

    /// A new browser session whose preferred language is `lang`.
    pub async fn browser(&self, lang: &str) -> Client {
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
                    // Software WebGL for MapLibre (no GPU in CI).
                    "--use-angle=swiftshader",
                    "--enable-unsafe-swiftshader",
                    "--window-size=1280,800",
                    format!("--lang={lang}"),
                ],
                "prefs": {"intl.accept_languages": lang},
            }),
        );
        ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&self.url)
            .await
            .expect("start a chromium session")
    }
}

/// Waits until `script` (a function body returning a value) returns something truthy; returns
/// it. Fails with `what` and the page's recorded errors after [`PAGE_WAIT`].
pub async fn wait_for(c: &Client, what: &str, script: &str) -> Value {
    let deadline = tokio::time::Instant::now() + PAGE_WAIT;
    loop {
        // A navigation in progress can make a script fail; try again.
        if let Ok(v) = c.execute(script, vec![]).await {
            let truthy = !(v.is_null() || v == json!(false) || v == json!("") || v == json!(0));
            if truthy {
                return v;
            }
        }
        if tokio::time::Instant::now() > deadline {
            let errors = page_errors(c).await;
            let url = c
                .current_url()
                .await
                .map(|u| u.to_string())
                .unwrap_or_default();
            panic!("timed out waiting for {what} at {url}; page errors: {errors:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// What errors.mjs recorded (uncaught errors, rejections, CSP violations, map errors).
pub async fn page_errors(c: &Client) -> String {
    c.execute(
        "return document.body && document.body.dataset.errors || ''",
        vec![],
    )
    .await
    .ok()
    .and_then(|v| v.as_str().map(str::to_owned))
    .unwrap_or_default()
}

/// Fills the login page's form and submits it.
pub async fn fill_login(c: &Client, username: &str, password: &str) {
    wait_for(
        c,
        "the login form",
        "return document.body.dataset.ready === '1'",
    )
    .await;
    c.find(Locator::Css("#username"))
        .await
        .unwrap()
        .send_keys(username)
        .await
        .unwrap();
    c.find(Locator::Css("#password"))
        .await
        .unwrap()
        .send_keys(password)
        .await
        .unwrap();
    c.find(Locator::Css("#login-submit"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

/// The text of the first element matching `css`.
pub async fn text(c: &Client, css: &str) -> String {
    c.find(Locator::Css(css))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// A page catalogue (web/i18n/<lang>.json).
pub fn catalogue(lang: &str) -> Value {
    let path = format!("{}/../web/i18n/{lang}.json", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}
