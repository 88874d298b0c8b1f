//! The console in a real browser: Debian's headless Chromium driven through chromedriver
//! (WebDriver, `fantoccini`) against a real server on port 0. Without `chromium` and
//! `chromedriver` on PATH these tests are SKIPPED (they fail with `CI` set; `.ci/run` installs
//! both).
//!
//! WebGL: headless Chromium has no GPU here; `--use-angle=swiftshader --enable-unsafe-swiftshader`
//! gives MapLibre a software WebGL context, so the map really renders (the test asserts it did).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use common::*;
use domain::testing::{skip_or_fail, Fixture};
use domain::Backend;
use fantoccini::wd::Capabilities;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};
use tokio::process::{Child, Command};

domain::backend_matrix!(
    BrowserApp:
    login_shows_the_console_with_the_seeded_assets,
    a_wrong_password_stays_on_the_login_page,
    the_console_without_a_session_is_the_login_page,
    a_chinese_browser_gets_the_chinese_catalogue,
    a_configured_style_url_replaces_the_offline_basemap,
    an_ingested_position_moves_the_marker_without_a_reload,
    a_pmtiles_basemap_loads_by_range_requests,
);

/// How long a page may take to get somewhere (software WebGL on a shared 2-core machine).
const PAGE_WAIT: Duration = Duration::from_secs(30);

/// A server, chromedriver on a free port, and three seeded assets (two with positions).
struct BrowserApp {
    app: TestApp,
    chromium: PathBuf,
    driver_url: String,
    /// Killed when the fixture is dropped (`kill_on_drop`).
    _driver: Child,
    seeded: Vec<Value>,
}

fn on_path(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
        .find(|p| p.is_file())
}

impl Fixture for BrowserApp {
    async fn open(backend: Backend) -> Option<BrowserApp> {
        let (Some(chromium), Some(chromedriver)) = (
            on_path(&["chromium", "chromium-browser"]),
            on_path(&["chromedriver"]),
        ) else {
            skip_or_fail(
                "console browser tests",
                "needs `chromium` and `chromedriver` on PATH: apt-get install -y chromium chromium-driver",
            );
            return None;
        };
        // Stale after one hour: the seeded positions (a day old) are flagged red.
        let app = TestApp::start(
            backend,
            api::ApiConfig {
                stale_after_hours: 1,
                ..Default::default()
            },
        )
        .await?;
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let driver = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start chromedriver");
        let driver_url = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let mut up = false;
        for _ in 0..100 {
            if let Ok(resp) = http.get(format!("{driver_url}/status")).send().await {
                if resp.status().is_success() {
                    up = true;
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(up, "chromedriver did not answer on {driver_url}");
        let seeded = seed(&app).await;
        Some(BrowserApp {
            app,
            chromium,
            driver_url,
            _driver: driver,
            seeded,
        })
    }
}

/// Two delivered assets with phone positions a day old (Shanghai, Beijing: on rent) and one at
/// the depot without a position (and no tracker, so not stale).
async fn seed(app: &TestApp) -> Vec<Value> {
    let fx = ScanFixture::new(app).await;
    let mut assets = fx.assets(app, "BR", 3).await;
    for (i, (lat, lon)) in [(31.23, 121.47), (39.90, 116.40)].into_iter().enumerate() {
        let cmd = fx.cmd(
            "deliver",
            &assets[i],
            10,
            json!({"site_id": fx.customer, "position": {"lat": lat, "lon": lon}}),
        );
        assets[i] = app.scan_ok(&fx.tech, &cmd).await["asset"].clone();
    }
    assets
}

impl BrowserApp {
    /// A new browser session whose preferred language is `lang`.
    async fn browser(&self, lang: &str) -> Client {
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
            .connect(&self.driver_url)
            .await
            .expect("start a chromium session")
    }
}

/// Waits until `script` (a function body returning a value) returns something truthy; returns
/// it. Fails with `what` and the page's recorded errors after [`PAGE_WAIT`].
async fn wait_for(c: &Client, what: &str, script: &str) -> Value {
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
async fn page_errors(c: &Client) -> String {
    c.execute(
        "return document.body && document.body.dataset.errors || ''",
        vec![],
    )
    .await
    .ok()
    .and_then(|v| v.as_str().map(str::to_owned))
    .unwrap_or_default()
}

async fn fill_login(c: &Client, username: &str, password: &str) {
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

async fn text(c: &Client, css: &str) -> String {
    c.find(Locator::Css(css))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

fn catalogue(lang: &str) -> Value {
    let path = format!("{}/../web/i18n/{lang}.json", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

async fn login_shows_the_console_with_the_seeded_assets(app: BrowserApp) {
    let c = app.browser("en-US").await;
    c.goto(&app.app.url("/")).await.unwrap();
    fill_login(&c, "admin", ADMIN_PASSWORD).await;
    wait_for(
        &c,
        "the console",
        "return location.pathname === '/console' && document.body.dataset.ready === '1'",
    )
    .await;
    // The session is an HttpOnly cookie: page scripts cannot see it.
    let visible = c.execute("return document.cookie", vec![]).await.unwrap();
    assert_eq!(
        visible,
        json!(""),
        "the session cookie is readable by scripts"
    );
    let cookie = c.get_named_cookie("fieldops_session").await.unwrap();
    assert_eq!(cookie.http_only(), Some(true));

    wait_for(
        &c,
        "the map",
        "return document.body.dataset.map === 'ready'",
    )
    .await;
    assert_eq!(
        c.execute("return document.body.dataset.assetsLoaded", vec![])
            .await
            .unwrap(),
        json!("2")
    );
    // The map's own source holds exactly the positioned assets, with their statuses.
    let codes = c
        .execute(
            "return window.fieldopsConsole.map.getSource('assets').getData()
               .then(d => d.features.map(f => [f.properties.code, f.properties.status, f.properties.stale].join(':')).sort())",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(codes, json!(["BR-0:on_rent:true", "BR-1:on_rent:true"]));
    // The basemap is the offline one and has drawn: its layers are there and a frame rendered.
    let basemap = wait_for(
        &c,
        "the map to render",
        "const m = window.fieldopsConsole.map;
         return m.loaded() && m.getLayer('land') && m.getLayer('asset-points') && m.isStyleLoaded()
           && document.querySelector('#map canvas').width > 0",
    )
    .await;
    assert_eq!(basemap, json!(true));
    // For a look at what the browser drew: FIELDOPS_TEST_SCREENSHOT=/tmp/console.png.
    if let Ok(path) = std::env::var("FIELDOPS_TEST_SCREENSHOT") {
        std::fs::write(path, c.screenshot().await.unwrap()).unwrap();
    }
    // Zoomed out to the whole world, Shanghai and Beijing are one cluster of two; zoomed in, two
    // points again (what is drawn, not only what the source holds).
    let rendered = |zoom: u32| {
        format!(
            "const m = window.fieldopsConsole.map;
             if (!window.zoomed{zoom}) {{ window.zoomed{zoom} = true; m.jumpTo({{center: [118, 35], zoom: {zoom}}}); return false; }}
             if (!m.loaded() || m.isMoving()) return false;
             const clusters = m.queryRenderedFeatures({{layers: ['asset-clusters']}}).map(f => f.properties.point_count);
             const points = m.queryRenderedFeatures({{layers: ['asset-points']}}).map(f => f.properties.code).sort();
             return (clusters.length + points.length) ? [clusters, points] : false;"
        )
    };
    assert_eq!(
        wait_for(&c, "a cluster", &rendered(0)).await,
        json!([[2], []])
    );
    assert_eq!(
        wait_for(&c, "two points", &rendered(5)).await,
        json!([[], ["BR-0", "BR-1"]])
    );
    // The header counts the whole (filtered) fleet, including the asset without a position.
    let counts = text(&c, "#counts").await;
    assert!(
        counts.contains("Assets: 3") && counts.contains("With a position: 2"),
        "{counts}"
    );
    assert!(
        counts.contains("On rent: 2")
            && counts.contains("Available: 1")
            && counts.contains("Possibly lost: 2")
            && counts.contains("Off site: 0"),
        "{counts}"
    );
    assert!(text(&c, "#whoami").await.starts_with("admin"));

    // Selecting an asset opens the drawer and puts the selection in the URL.
    let id = s(&app.seeded[1], "id").to_owned();
    c.find(Locator::Css(&format!("button[data-asset-id='{id}']")))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for(
        &c,
        "the drawer",
        &format!("return !document.getElementById('drawer').hidden && document.getElementById('drawer').dataset.assetId === '{id}'"),
    )
    .await;
    assert_eq!(text(&c, "#drawer-title").await, "BR-1 · Machine BR-1");
    assert_eq!(
        text(&c, "dd[data-field='asset.stale']").await,
        catalogue("en")["asset.stale.yes"].as_str().unwrap()
    );
    assert!(c
        .current_url()
        .await
        .unwrap()
        .query()
        .unwrap_or("")
        .contains(&format!("asset={id}")));

    // A filter in the URL is applied on load (a pasted link shows the same thing).
    c.goto(&app.app.url("/console?status=available"))
        .await
        .unwrap();
    wait_for(
        &c,
        "the filtered console",
        "return document.body.dataset.ready === '1'",
    )
    .await;
    assert_eq!(
        c.execute("return [document.body.dataset.assetsLoaded, document.getElementById('filter-status').value]", vec![])
            .await
            .unwrap(),
        json!(["0", "available"])
    );
    assert!(text(&c, "#counts").await.contains("Assets: 1"));
    assert_eq!(page_errors(&c).await, "", "the page recorded errors");

    // Signing out ends the session server-side and returns to the login page.
    c.find(Locator::Css("#logout"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for(
        &c,
        "the login page",
        "return location.pathname === '/' && !!document.getElementById('login-form')",
    )
    .await;
    c.goto(&app.app.url("/console")).await.unwrap();
    wait_for(
        &c,
        "the login page again",
        "return !!document.getElementById('login-form')",
    )
    .await;
    c.close().await.unwrap();
}

async fn a_wrong_password_stays_on_the_login_page(app: BrowserApp) {
    let c = app.browser("en-US").await;
    c.goto(&app.app.url("/")).await.unwrap();
    fill_login(&c, "admin", "not-the-password").await;
    wait_for(
        &c,
        "the error",
        "return !document.getElementById('login-error').hidden",
    )
    .await;
    assert_eq!(
        text(&c, "#login-error").await,
        catalogue("en")["login.error.credentials"].as_str().unwrap()
    );
    assert_eq!(c.current_url().await.unwrap().path(), "/");
    assert!(
        c.get_named_cookie("fieldops_session").await.is_err(),
        "no session after a wrong password"
    );
    // The password field is emptied for the next try; nothing else happened.
    assert_eq!(
        c.execute("return document.getElementById('password').value", vec![])
            .await
            .unwrap(),
        json!("")
    );
    assert_eq!(page_errors(&c).await, "");
    c.close().await.unwrap();
}

async fn the_console_without_a_session_is_the_login_page(app: BrowserApp) {
    let c = app.browser("en-US").await;
    c.goto(&app.app.url("/console?status=on_rent"))
        .await
        .unwrap();
    wait_for(
        &c,
        "the login form",
        "return document.body.dataset.ready === '1'",
    )
    .await;
    let page = c
        .execute(
            "return [!!document.getElementById('login-form'), !!document.getElementById('map'), document.body.innerText.includes('BR-')]",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        page,
        json!([true, false, false]),
        "login page, no map, no data"
    );
    // Signing in right there opens the console the link pointed at, filter included.
    fill_login(&c, "admin", ADMIN_PASSWORD).await;
    wait_for(
        &c,
        "the console",
        "return !!document.getElementById('map') && document.body.dataset.ready === '1'",
    )
    .await;
    let url = c.current_url().await.unwrap();
    assert_eq!(
        (url.path(), url.query()),
        ("/console", Some("status=on_rent"))
    );
    assert_eq!(
        c.execute("return document.body.dataset.assetsLoaded", vec![])
            .await
            .unwrap(),
        json!("2")
    );
    c.close().await.unwrap();
}

async fn a_chinese_browser_gets_the_chinese_catalogue(app: BrowserApp) {
    let zh = catalogue("zh-CN");
    let c = app.browser("zh-CN").await;
    c.goto(&app.app.url("/")).await.unwrap();
    wait_for(
        &c,
        "the login form",
        "return document.body.dataset.ready === '1'",
    )
    .await;
    assert_eq!(
        c.execute("return document.documentElement.lang", vec![])
            .await
            .unwrap(),
        json!("zh-CN")
    );
    assert_eq!(
        text(&c, "#login-submit").await,
        zh["login.submit"].as_str().unwrap()
    );
    fill_login(&c, "admin", ADMIN_PASSWORD).await;
    wait_for(
        &c,
        "the console",
        "return location.pathname === '/console' && document.body.dataset.ready === '1'",
    )
    .await;
    assert_eq!(
        text(&c, "#logout").await,
        zh["console.logout"].as_str().unwrap()
    );
    let counts = text(&c, "#counts").await;
    assert!(counts.contains("共 3 台设备"), "{counts}");
    // `?lang=` in a link wins over the browser.
    c.goto(&app.app.url("/console?lang=en")).await.unwrap();
    wait_for(
        &c,
        "the English console",
        "return document.documentElement.lang === 'en' && document.body.dataset.ready === '1'",
    )
    .await;
    assert_eq!(
        text(&c, "#logout").await,
        catalogue("en")["console.logout"].as_str().unwrap()
    );
    c.close().await.unwrap();
}

/// `--map-style-url`: the page loads that style (here from a second local server, another
/// origin, which the CSP must then allow) instead of the offline basemap, and still adds the
/// assets on top.
async fn a_configured_style_url_replaces_the_offline_basemap(app: BrowserApp) {
    use axum::response::IntoResponse;
    let style = json!({
        "version": 8,
        "sources": {},
        "layers": [{"id": "hosted-background", "type": "background",
                    "paint": {"background-color": "#223344"}}],
    });
    let router =
        axum::Router::new().route(
            "/style.json",
            axum::routing::get(move || {
                let style = style.clone();
                async move {
                    ([("access-control-allow-origin", "*")], axum::Json(style)).into_response()
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let style_url = format!("http://{}/style.json", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    let styled = TestApp::start(
        app.app.backend,
        api::ApiConfig {
            map_style_url: Some(style_url),
            ..Default::default()
        },
    )
    .await
    .unwrap();

    let c = app.browser("en-US").await;
    c.goto(&styled.url("/")).await.unwrap();
    fill_login(&c, "admin", ADMIN_PASSWORD).await;
    wait_for(
        &c,
        "the console",
        "return location.pathname === '/console' && document.body.dataset.map === 'ready'",
    )
    .await;
    let layers = wait_for(
        &c,
        "the hosted style",
        "const m = window.fieldopsConsole.map;
         return m && m.isStyleLoaded() && m.getStyle().layers.map(l => l.id)",
    )
    .await;
    assert_eq!(
        layers,
        json!(["hosted-background", "asset-clusters", "asset-points"]),
        "errors: {}",
        page_errors(&c).await
    );
    assert_eq!(page_errors(&c).await, "");
    c.close().await.unwrap();
}

/// A tracker's position ingested while the console is open reaches the map over SSE: the asset
/// that had no position appears, within the 2 s (plus the test's polling), and the page
/// was not reloaded.
async fn an_ingested_position_moves_the_marker_without_a_reload(app: BrowserApp) {
    use domain::telemetry::{IngestOptions, Ingestor, Message, MessageKind};
    let asset = &app.seeded[2];
    let asset_id: uuid::Uuid = s(asset, "id").parse().unwrap();
    app.app.db.add_device("trk-br-2", Some(asset_id)).await;

    let c = app.browser("en-US").await;
    c.goto(&app.app.url("/")).await.unwrap();
    fill_login(&c, "admin", ADMIN_PASSWORD).await;
    wait_for(
        &c,
        "the live console",
        "return document.body.dataset.map === 'ready' && document.body.dataset.live === 'open'",
    )
    .await;
    assert_eq!(
        c.execute(
            "window.notReloaded = true; return document.body.dataset.assetsLoaded",
            vec![]
        )
        .await
        .unwrap(),
        json!("2")
    );

    let mut reading = mobile_shared::telemetry::Reading::at(chrono::Utc::now());
    reading.lat = Some(22.54);
    reading.lon = Some(114.06);
    let report = Ingestor::new(
        app.app.db.store.clone(),
        app.app.events.clone(),
        IngestOptions::default(),
    )
    .ingest(&[Message {
        topic: "fieldops/v1/trk-br-2/telemetry".into(),
        received_at: chrono::Utc::now(),
        kind: MessageKind::Readings {
            device_id: "trk-br-2".into(),
            readings: vec![reading],
        },
    }])
    .await
    .unwrap();
    assert_eq!(report.applied, 1);

    let started = std::time::Instant::now();
    wait_for(
        &c,
        "the new marker",
        "return document.body.dataset.assetsLoaded === '3'",
    )
    .await;
    let took = started.elapsed();
    assert!(took < Duration::from_secs(5), "took {took:?}");
    let moved = c
        .execute(
            "return window.fieldopsConsole.map.getSource('assets').getData().then(d => [window.notReloaded,
               d.features.filter(f => f.properties.code === 'BR-2').map(f => f.geometry.coordinates)])",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(moved, json!([true, [[114.06, 22.54]]]));
    assert!(text(&c, "#counts").await.contains("With a position: 3"));
    assert_eq!(page_errors(&c).await, "");
    c.close().await.unwrap();
}

/// An operator's offline basemap: a PMTiles archive and its style in `<data_dir>/maps/`, the
/// style configured as `/maps/style.json`. MapLibre reads the archive through the vendored
/// `pmtiles://` protocol, which sends range requests and refuses a server that answers them
/// with the whole file, so a loaded source proves the ranges were served.
async fn a_pmtiles_basemap_loads_by_range_requests(app: BrowserApp) {
    use pmtiles::{PmTilesWriter, TileCoord, TileType};
    let data_dir = tempfile::tempdir().unwrap();
    let maps = data_dir.path().join(api::console::MAP_FILES_DIR);
    std::fs::create_dir_all(&maps).unwrap();
    // One 256 px tile of the whole world at zoom 0, a flat colour.
    let mut png = Vec::new();
    image::RgbImage::from_pixel(256, 256, image::Rgb([40, 120, 90]))
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    let file = std::fs::File::create(maps.join("region.pmtiles")).unwrap();
    let mut writer = PmTilesWriter::new(TileType::Png)
        .max_zoom(0)
        .create(file)
        .unwrap();
    writer
        .add_tile(TileCoord::new(0, 0, 0).unwrap(), &png)
        .unwrap();
    writer.finalize().unwrap();
    let style = json!({
        "version": 8,
        "sources": {"base": {"type": "raster", "url": "pmtiles:///maps/region.pmtiles",
                             "tileSize": 256}},
        "layers": [{"id": "pmtiles-base", "type": "raster", "source": "base"}],
    });
    std::fs::write(maps.join("style.json"), style.to_string()).unwrap();
    let served = TestApp::start(
        app.app.backend,
        api::ApiConfig {
            map_style_url: Some("/maps/style.json".into()),
            data_dir: data_dir.path().to_owned(),
            ..Default::default()
        },
    )
    .await
    .unwrap();

    let c = app.browser("en-US").await;
    c.goto(&served.url("/")).await.unwrap();
    fill_login(&c, "admin", ADMIN_PASSWORD).await;
    let loaded = wait_for(
        &c,
        "the PMTiles basemap",
        "const m = window.fieldopsConsole.map;
         return m && m.isStyleLoaded() && m.getStyle().layers[0].id === 'pmtiles-base'
           && m.isSourceLoaded('base') && m.areTilesLoaded()
           && performance.getEntriesByType('resource')
                .filter(r => r.name.endsWith('/maps/region.pmtiles')).length",
    )
    .await;
    assert!(loaded.as_u64().unwrap() >= 1, "{loaded}");
    assert_eq!(page_errors(&c).await, "");
    c.close().await.unwrap();
}
