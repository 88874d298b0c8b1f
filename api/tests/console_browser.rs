//! The console in a real browser: headless Chromium through chromedriver (the harness is
//! tests/browser/) against a real server on port 0; SKIPPED without chromium and chromedriver
//! unless `CI` is set. The map really renders with software WebGL (the test asserts it did).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod browser;
mod common;

use std::time::Duration;

use browser::*;
use common::*;
use domain::testing::Fixture;
use domain::Backend;
use fantoccini::{Client, Locator};
use serde_json::{json, Value};

domain::backend_matrix!(
    BrowserApp:
    login_shows_the_console_with_the_seeded_assets,
    a_wrong_password_stays_on_the_login_page,
    the_console_without_a_session_is_the_login_page,
    a_chinese_browser_gets_the_chinese_catalogue,
    a_configured_style_url_replaces_the_offline_basemap,
    an_ingested_position_moves_the_marker_without_a_reload,
    the_drawer_shows_service_orders_scans_and_the_day_track,
    lists_search_and_the_site_table,
    the_user_language_setting_chooses_the_catalogue,
    a_pmtiles_basemap_loads_by_range_requests,
);

/// A server, chromedriver on a free port, and three seeded assets (two with positions).
struct BrowserApp {
    app: TestApp,
    driver: Driver,
    seeded: Vec<Value>,
    /// The server's data dir (uploaded photos), removed with the fixture; the default
    /// `./data` would write into the checkout.
    _data_dir: tempfile::TempDir,
}

impl Fixture for BrowserApp {
    async fn open(backend: Backend) -> Option<BrowserApp> {
        let driver = Driver::start("console browser tests").await?;
        // Stale after one hour: the seeded positions (a day old) are flagged red.
        let data_dir = tempfile::tempdir().expect("data dir");
        let app = TestApp::start(
            backend,
            api::ApiConfig {
                stale_after_hours: 1,
                data_dir: data_dir.path().to_owned(),
                ..Default::default()
            },
        )
        .await?;
        let seeded = seed(&app).await;
        Some(BrowserApp {
            app,
            driver,
            seeded,
            _data_dir: data_dir,
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
        self.driver.browser(lang).await
    }
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
    // Clusters are the server's (above its 2,000-asset limit: api/tests/map.rs); two assets are
    // drawn as two points at any zoom (what is drawn, not only what the source holds).
    let rendered = |zoom: u32| {
        format!(
            "const m = window.fieldopsConsole.map;
             if (!window.zoomed{zoom}) {{ window.zoomed{zoom} = true; m.jumpTo({{center: [118, 35], zoom: {zoom}}}); return false; }}
             if (!m.loaded() || m.isMoving()) return false;
             const clusters = m.queryRenderedFeatures({{layers: ['asset-clusters']}}).map(f => f.properties.count);
             const points = m.queryRenderedFeatures({{layers: ['asset-points']}}).map(f => f.properties.code).sort();
             return (clusters.length + points.length) ? [clusters, points] : false;"
        )
    };
    assert_eq!(
        wait_for(&c, "the world view", &rendered(0)).await,
        json!([[], ["BR-0", "BR-1"]])
    );
    assert_eq!(
        wait_for(&c, "two points", &rendered(5)).await,
        json!([[], ["BR-0", "BR-1"]])
    );
    // The header counts the positioned fleet by status on the server (one aggregated read, not
    // the fleet downloaded) and the alert lists' totals.
    let counts = text(&c, "#counts").await;
    assert!(
        counts.contains("With a position: 2")
            && counts.contains("On rent: 2")
            && counts.contains("Possibly lost: 2")
            && counts.contains("Off site: 0"),
        "{counts}"
    );
    // The heat layer: density of assets per cell, from GET /api/v1/map/heat, under the assets;
    // the metric goes into the URL.
    c.execute(
        "const h = document.getElementById('heat-mode'); h.value = 'count';
         h.dispatchEvent(new Event('change'));",
        vec![],
    )
    .await
    .unwrap();
    let heat = wait_for(
        &c,
        "the heat layer",
        "const m = window.fieldopsConsole.map;
         if (!m.getLayer('heat-cells') || !document.body.dataset.heatCells) return false;
         return [Number(document.body.dataset.heatCells), location.search.includes('heat=count'),
                 m.getStyle().layers.findIndex(l => l.id === 'heat-cells')
                   < m.getStyle().layers.findIndex(l => l.id === 'asset-points')];",
    )
    .await;
    assert_eq!(heat, json!([2, true, true]), "{}", page_errors(&c).await);
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
        "return document.body.dataset.ready === '1' && document.body.dataset.assetsLoaded !== undefined",
    )
    .await;
    assert_eq!(
        c.execute("return [document.body.dataset.assetsLoaded, document.getElementById('filter-status').value]", vec![])
            .await
            .unwrap(),
        json!(["0", "available"])
    );
    // Counted with the filter: the available asset has no position.
    assert!(text(&c, "#counts").await.contains("With a position: 0"));
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
        "return !!document.getElementById('map') && document.body.dataset.ready === '1'
           && document.body.dataset.assetsLoaded !== undefined",
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
    assert!(counts.contains("2 台有位置"), "{counts}");
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
        json!([
            "hosted-background",
            "heat-cells",
            "asset-clusters",
            "asset-points"
        ]),
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

    // Nanjing: inside the view the console opened on (framed on the fleet, Shanghai to
    // Beijing), so the new asset belongs on the map.
    let mut reading = mobile_shared::telemetry::Reading::at(chrono::Utc::now());
    reading.lat = Some(32.06);
    reading.lon = Some(118.79);
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
    assert_eq!(moved, json!([true, [[118.79, 32.06]]]));
    // The header's counts follow (refreshed from the server a few seconds after live changes).
    wait_for(
        &c,
        "the counts",
        "return document.getElementById('counts').textContent.includes('With a position: 3')",
    )
    .await;
    assert_eq!(page_errors(&c).await, "");
    c.close().await.unwrap();
}

/// Ingests tracker fixes (lat, lon, at) for `device` as the MQTT gateway would.
async fn ingest(
    app: &BrowserApp,
    device: &str,
    fixes: &[(f64, f64, chrono::DateTime<chrono::Utc>)],
) {
    use domain::telemetry::{IngestOptions, Ingestor, Message, MessageKind};
    let readings = fixes
        .iter()
        .map(|&(lat, lon, at)| {
            let mut r = mobile_shared::telemetry::Reading::at(at);
            r.lat = Some(lat);
            r.lon = Some(lon);
            r
        })
        .collect();
    let report = Ingestor::new(
        app.app.db.store.clone(),
        app.app.events.clone(),
        IngestOptions::default(),
    )
    .ingest(&[Message {
        topic: format!("fieldops/v1/{device}/telemetry"),
        received_at: chrono::Utc::now(),
        kind: MessageKind::Readings {
            device_id: device.into(),
            readings,
        },
    }])
    .await
    .unwrap();
    assert_eq!(report.applied, fixes.len(), "{report:?}");
}

async fn signed_in(app: &BrowserApp, lang: &str, path: &str) -> Client {
    let c = app.browser(lang).await;
    c.goto(&app.app.url(path)).await.unwrap();
    fill_login(&c, "admin", ADMIN_PASSWORD).await;
    wait_for(
        &c,
        "the console",
        "return !!document.getElementById('map') && document.body.dataset.ready === '1'
           && document.body.dataset.assetsLoaded !== undefined",
    )
    .await;
    c
}

/// The drawer of an asset with a service plan, an open work order, an inspection with a photo
/// and a day of tracker positions: every section shows it, the photo thumbnail loads (through
/// `GET /api/v1/photos/{sha256}`), the tracker shows, and the day's track is a line layer.
async fn the_drawer_shows_service_orders_scans_and_the_day_track(app: BrowserApp) {
    let asset = &app.seeded[1];
    let id = s(asset, "id").to_owned();
    let admin = app.app.admin().to_owned();
    app.app
        .create(
            "/api/v1/maintenance/plans",
            &json!({"name": "Half-year service", "asset_id": id,
                    "intervals": [{"metric": "days", "every": 180}]}),
        )
        .await;
    app.app
        .create(
            "/api/v1/work-orders",
            &json!({"asset_id": id, "title": "Hydraulic leak"}),
        )
        .await;
    let png = tiny_png();
    let stored = expect_json(
        app.app.upload_photo(admin.as_str(), "image/png", png).await,
        reqwest::StatusCode::CREATED,
    )
    .await;
    let sha = s(&stored, "sha256").to_owned();
    let at = (chrono::Utc::now() - chrono::Duration::minutes(30))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    app.app
        .scan_ok(
            &admin,
            &command(
                "inspect",
                asset,
                &at,
                json!({"condition": "good", "photos": [sha]}),
            ),
        )
        .await;
    // Yesterday 10:00-11:00 UTC: in the past whenever the test runs, and on yesterday's date
    // in any browser time zone within ±10 h.
    let asset_id: uuid::Uuid = id.parse().unwrap();
    app.app.db.add_device("trk-br-1", Some(asset_id)).await;
    let day = (chrono::Utc::now() - chrono::Duration::days(1)).date_naive();
    let at = |h: u32, m: u32| day.and_hms_opt(h, m, 0).unwrap().and_utc();
    ingest(
        &app,
        "trk-br-1",
        &[
            (39.90, 116.40, at(10, 0)),
            (39.95, 116.45, at(10, 30)),
            (40.0, 116.5, at(11, 0)),
        ],
    )
    .await;

    let c = signed_in(&app, "en-US", &format!("/console?asset={id}&day={day}")).await;
    wait_for(
        &c,
        "the drawer's sections",
        &format!("return document.getElementById('drawer').dataset.loaded === '{id}'"),
    )
    .await;
    let section = |name: &str| format!("[data-section='{name}'] .section-body");
    let service = text(&c, &section("service")).await;
    assert!(service.contains("Half-year service"), "{service}");
    let orders = text(&c, &section("work-orders")).await;
    assert!(orders.contains("Hydraulic leak"), "{orders}");
    let scans = text(&c, &section("scans")).await;
    assert!(scans.contains("Inspected by admin"), "{scans}");
    let thumb = wait_for(
        &c,
        "the photo thumbnail",
        "const img = document.querySelector(\"[data-section='scans'] img.thumb\");
         return img && img.complete && img.naturalWidth > 0 && img.getAttribute('src')",
    )
    .await;
    assert_eq!(thumb, json!(format!("/api/v1/photos/{sha}")));
    let tracker = text(&c, "dd[data-field='drawer.tracker']").await;
    assert!(tracker.contains("trk-br-1"), "{tracker}");
    assert_eq!(
        c.execute("return document.getElementById('track-day').value", vec![])
            .await
            .unwrap(),
        json!(day.to_string())
    );
    let track = wait_for(
        &c,
        "the track layer",
        "const m = window.fieldopsConsole.map;
         const layer = m && m.getLayer('track');
         if (!layer) return false;
         return m.getSource('track').getData().then(d => [layer.type, d.geometry.coordinates.length]);",
    )
    .await;
    assert_eq!(track, json!(["line", 3]));
    // Another day without positions removes the line.
    c.execute(
        "const i = document.getElementById('track-day');
         i.value = '2020-01-01'; i.dispatchEvent(new Event('change'));",
        vec![],
    )
    .await
    .unwrap();
    wait_for(
        &c,
        "the track to go",
        "return document.getElementById('track-summary').dataset.points === '0'
           && !window.fieldopsConsole.map.getLayer('track') && location.search.includes('day=2020-01-01')",
    )
    .await;
    assert_eq!(page_errors(&c).await, "");
    c.close().await.unwrap();
}

/// The stale list (opened from the header count) puts the silent asset (a tracker that never
/// reported) first, in red with its reason; the site table renders and a row filters the site;
/// the search finds a code, and a scanned label URL + Enter opens its asset.
async fn lists_search_and_the_site_table(app: BrowserApp) {
    let silent = &app.seeded[2];
    let silent_id: uuid::Uuid = s(silent, "id").parse().unwrap();
    app.app.db.add_device("trk-br-2", Some(silent_id)).await;
    let c = signed_in(&app, "en-US", "/console").await;

    c.find(Locator::Css("#counts li[data-count='stale']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for(
        &c,
        "the stale list",
        "const p = document.getElementById('list-panel'); return p.dataset.loaded === 'stale'",
    )
    .await;
    assert!(c
        .current_url()
        .await
        .unwrap()
        .query()
        .unwrap_or("")
        .contains("list=stale"));
    let rows = c
        .execute(
            "return [...document.querySelectorAll('#list-body button[data-asset-id]')]
               .map(b => [b.querySelector('.row-title').textContent, b.classList.contains('stale'), b.innerText])",
            vec![],
        )
        .await
        .unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 3, "{rows:?}");
    assert_eq!(rows[0][0], "BR-2 · Machine BR-2", "{rows:?}");
    assert_eq!(rows[0][1], true);
    assert!(
        rows[0][2].as_str().unwrap().contains("no position yet"),
        "{rows:?}"
    );

    // `5` opens the site table: one row per site of GET /api/v1/map/sites.
    c.execute(
        "document.body.dispatchEvent(new KeyboardEvent('keydown', {key: '5', bubbles: true}))",
        vec![],
    )
    .await
    .unwrap();
    wait_for(
        &c,
        "the site table",
        "return document.getElementById('list-panel').dataset.loaded === 'sites'",
    )
    .await;
    let table = app.app.get_ok("/api/v1/map/sites", app.app.admin()).await;
    let sites = table["sites"].as_array().unwrap();
    let rendered = c
        .execute(
            "return [...document.querySelectorAll('table.sites tbody tr')].map(r => [r.dataset.siteId, r.cells[1].textContent])",
            vec![],
        )
        .await
        .unwrap();
    let expected: Vec<Value> = sites
        .iter()
        .map(|s| json!([s["site_id"], s["total"].to_string()]))
        .collect();
    assert_eq!(rendered, json!(expected));
    let customer = sites.iter().find(|s| s["total"] == 2).unwrap();
    let site_id = s(customer, "site_id").to_owned();
    c.find(Locator::Css(&format!("tr[data-site-id='{site_id}']")))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for(
        &c,
        "the site's assets",
        &format!(
            "return location.search.includes('site_id={site_id}')
               && document.getElementById('list-panel').dataset.loaded === 'assets'
               && document.querySelectorAll('#list-body button[data-asset-id]').length === 2"
        ),
    )
    .await;
    c.execute(
        "document.body.dispatchEvent(new KeyboardEvent('keydown', {key: 'Escape', bubbles: true}));
         history.replaceState(null, '', '/console'); document.getElementById('filter-site').value = '';",
        vec![],
    )
    .await
    .unwrap();

    // `/` focuses the search; a code finds its asset, one page from the server.
    c.execute(
        "document.body.dispatchEvent(new KeyboardEvent('keydown', {key: '/', bubbles: true}))",
        vec![],
    )
    .await
    .unwrap();
    assert_eq!(
        c.execute("return document.activeElement.id", vec![])
            .await
            .unwrap(),
        json!("search")
    );
    let search = c.find(Locator::Css("#search")).await.unwrap();
    search.send_keys("br-1").await.unwrap();
    let found = wait_for(
        &c,
        "the search result",
        "const rows = [...document.querySelectorAll('#list-body button[data-asset-id]')];
         return location.search.includes('q=br-1') && rows.length === 1 && rows[0].querySelector('.row-title').textContent",
    )
    .await;
    assert_eq!(found, json!("BR-1 · Machine BR-1"));
    // A scanned label's URL is its code; Enter on the one match opens it.
    search.clear().await.unwrap();
    search
        .send_keys("https://fieldops.example/a/BR-2\u{E007}")
        .await
        .unwrap();
    wait_for(
        &c,
        "the scanned asset's drawer",
        &format!(
            "return document.getElementById('drawer').dataset.assetId === '{silent_id}'
               && document.getElementById('search').value === 'BR-2'"
        ),
    )
    .await;
    assert_eq!(page_errors(&c).await, "");
    c.close().await.unwrap();
}

/// A user's language setting beats the browser's: an English browser signed in as a user who
/// chose Chinese sees Chinese; the header's picker saves another choice. Without a session,
/// a link into the console (a list, an asset) is the login page and shows no data.
async fn the_user_language_setting_chooses_the_catalogue(app: BrowserApp) {
    let zh = catalogue("zh-CN");
    let en = catalogue("en");
    let anonymous = app.browser("en-US").await;
    anonymous
        .goto(&app.app.url(&format!(
            "/console?list=stale&asset={}",
            s(&app.seeded[0], "id")
        )))
        .await
        .unwrap();
    wait_for(
        &anonymous,
        "the login form",
        "return document.body.dataset.ready === '1'",
    )
    .await;
    assert_eq!(
        anonymous
            .execute(
                "return [!!document.getElementById('login-form'), !!document.getElementById('drawer'), document.body.innerText.includes('BR-')]",
                vec![],
            )
            .await
            .unwrap(),
        json!([true, false, false])
    );
    anonymous.close().await.unwrap();

    let set = app
        .app
        .patch(
            "/api/v1/auth/session",
            app.app.admin(),
            &json!({"locale": "zh-CN"}),
        )
        .await;
    assert_eq!(set.status(), reqwest::StatusCode::OK);
    let c = signed_in(&app, "en-US", "/").await;
    assert_eq!(
        c.execute("return document.documentElement.lang", vec![])
            .await
            .unwrap(),
        json!("zh-CN")
    );
    assert_eq!(
        text(&c, "#logout").await,
        zh["console.logout"].as_str().unwrap()
    );
    assert_eq!(
        text(&c, "#tab-stale").await,
        zh["list.stale"].as_str().unwrap()
    );
    // The picker saves English and the page follows.
    c.execute(
        "const p = document.getElementById('lang-picker'); p.value = 'en'; p.dispatchEvent(new Event('change'));",
        vec![],
    )
    .await
    .unwrap();
    wait_for(
        &c,
        "the English console",
        "return document.documentElement.lang === 'en' && document.body.dataset.ready === '1'",
    )
    .await;
    assert_eq!(
        text(&c, "#logout").await,
        en["console.logout"].as_str().unwrap()
    );
    let me = app
        .app
        .get_ok("/api/v1/auth/session", app.app.admin())
        .await;
    assert_eq!(me["locale"], "en");
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
