//! The map read models over HTTP: `/api/v1/map/assets` (points, filters, stale flags, the
//! switch to server-side clusters above 2,000 assets, bbox edges) and `/api/v1/map/heat`
//! (count, status share, utilisation from ingested telemetry), and their 422s. Telemetry goes
//! through the real ingest path (`domain::telemetry::Ingestor`). Runs on SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use chrono::{DateTime, Duration, Utc};
use common::*;
use domain::events::EventBus;
use domain::telemetry::{IngestOptions, Ingestor, Message, MessageKind};
use mobile_shared::telemetry::Reading;
use serde_json::{json, Value};

domain::backend_matrix!(
    TestApp:
    assets_in_a_bbox_with_filters_stale_flags_and_edges,
    heat_cells_count_status_and_utilisation,
    above_the_limit_the_server_clusters,
    bad_parameters_are_422_naming_them,
);

const AMSTERDAM: (f64, f64) = (52.37, 4.89);
const SYDNEY: (f64, f64) = (-33.87, 151.21);
/// Fiji, east of the antimeridian's west side (lon 179.5).
const FIJI: (f64, f64) = (-17.0, 179.5);
const NL_BBOX: &str = "4,52,5,53";

fn reading(device: &str, ts: DateTime<Utc>, at: (f64, f64), hours: Option<f64>) -> Message {
    let mut r = Reading::at(ts);
    r.lat = Some(at.0);
    r.lon = Some(at.1);
    r.engine_hours = hours;
    Message {
        topic: format!("fieldops/v1/{device}/telemetry"),
        received_at: Utc::now(),
        kind: MessageKind::Readings {
            device_id: device.into(),
            readings: vec![r],
        },
    }
}

fn ingestor(app: &TestApp) -> Ingestor {
    Ingestor::new(
        app.db.store.clone(),
        EventBus::new(64),
        IngestOptions::default(),
    )
}

/// A depot; FRESH (available, Excavators, at the depot, positioned 10 min ago), OLD (on rent,
/// positioned 3 h ago), FAR (Sydney), DATELINE (Fiji), NOWHERE (no tracker, no position).
async fn fleet(app: &TestApp) -> (Value, Value) {
    let depot = app
        .create_site(json!({"name": "Depot NL", "kind": "depot",
            "location": {"lat": AMSTERDAM.0, "lon": AMSTERDAM.1}}))
        .await;
    let cat = app.create_category("Excavators").await;
    for (code, status, category) in [
        ("FRESH", "available", Some("Excavators")),
        ("OLD", "on_rent", None),
        ("FAR", "available", None),
        ("DATELINE", "in_maintenance", None),
        ("NOWHERE", "available", None),
    ] {
        let mut body = json!({"code": code, "name": format!("Machine {code}"),
            "status": status, "site_id": s(&depot, "id")});
        if let Some(c) = category {
            body["category"] = json!(c);
        }
        let asset = app.create_asset(body).await;
        if code != "NOWHERE" {
            let id = s(&asset, "id").parse().unwrap();
            app.db
                .add_device(&format!("trk-{}", code.to_lowercase()), Some(id))
                .await;
        }
    }
    let now = Utc::now();
    ingestor(app)
        .ingest(&[
            reading("trk-fresh", now - Duration::minutes(10), AMSTERDAM, None),
            reading("trk-old", now - Duration::hours(3), (52.45, 4.7), None),
            reading("trk-far", now - Duration::minutes(5), SYDNEY, None),
            reading("trk-dateline", now - Duration::minutes(5), FIJI, None),
        ])
        .await
        .unwrap();
    (depot, cat)
}

fn features(fc: &Value) -> &Vec<Value> {
    fc["features"].as_array().unwrap()
}

fn codes(fc: &Value) -> Vec<&str> {
    let mut c: Vec<&str> = features(fc)
        .iter()
        .map(|f| s(&f["properties"], "code"))
        .collect();
    c.sort_unstable();
    c
}

async fn assets_in_a_bbox_with_filters_stale_flags_and_edges(app: TestApp) {
    let (depot, cat) = fleet(&app).await;
    let viewer = app.user_with_role(mobile_shared::Role::Viewer).await;
    let url = |q: &str| format!("/api/v1/map/assets?bbox={NL_BBOX}&zoom=9{q}");

    let fc = app
        .get_ok(&url("&threshold_hours=2"), viewer.as_str())
        .await;
    assert_eq!(fc["type"], "FeatureCollection");
    assert_eq!(fc["total"], 2, "{fc}");
    assert_eq!(fc["clustered"], false);
    assert_eq!(fc["threshold_hours"], 2);
    assert_eq!(codes(&fc), ["FRESH", "OLD"]);
    for f in features(&fc) {
        assert_eq!(f["type"], "Feature");
        assert_eq!(f["geometry"]["type"], "Point");
        let p = &f["properties"];
        assert_eq!(p["kind"], "asset");
        assert_eq!(p["site_id"], depot["id"]);
        let stale = p["code"] == "OLD";
        assert_eq!(p["stale"], stale, "{f}");
        if p["code"] == "FRESH" {
            assert_eq!(
                f["geometry"]["coordinates"],
                json!([AMSTERDAM.1, AMSTERDAM.0])
            );
            assert_eq!(p["category_id"], cat["id"]);
            assert_eq!(p["status"], "available");
            assert!(p["pos_at"].is_string());
        }
    }
    // The server's default threshold (24 h): nothing stale.
    let fc = app.get_ok(&url(""), app.admin()).await;
    assert!(features(&fc)
        .iter()
        .all(|f| f["properties"]["stale"] == false));

    // Filters as in /api/v1/assets.
    for (q, want) in [
        ("&status=on_rent", vec!["OLD"]),
        ("&category=Excavators", vec!["FRESH"]),
        (
            &format!("&category={}", s(&cat, "id")) as &str,
            vec!["FRESH"],
        ),
        ("&category=Cranes", vec![]),
        ("&q=fre", vec!["FRESH"]),
        ("&q=%25", vec![]),
        (
            &format!("&site_id={}", s(&depot, "id")) as &str,
            vec!["FRESH", "OLD"],
        ),
        (
            &format!("&site_id={}", uuid::Uuid::now_v7()) as &str,
            vec![],
        ),
    ] {
        let fc = app.get_ok(&url(q), app.admin()).await;
        assert_eq!(codes(&fc), want, "{q}: {fc}");
        assert_eq!(fc["total"], want.len(), "{q}");
    }

    // Edges: a box that holds only the south-east corner; the whole world; across the
    // antimeridian (west > east) from either side; a box over the ocean.
    let fc = app
        .get_ok("/api/v1/map/assets?bbox=4.8,52,5,52.42&zoom=9", app.admin())
        .await;
    assert_eq!(codes(&fc), ["FRESH"]);
    let fc = app
        .get_ok(
            "/api/v1/map/assets?bbox=-180,-90,180,90&zoom=0",
            app.admin(),
        )
        .await;
    assert_eq!(codes(&fc), ["DATELINE", "FAR", "FRESH", "OLD"]);
    let fc = app
        .get_ok("/api/v1/map/assets?bbox=170,-30,-170,0&zoom=4", app.admin())
        .await;
    assert_eq!(codes(&fc), ["DATELINE"], "{fc}");
    let fc = app
        .get_ok("/api/v1/map/assets?bbox=150,-40,-170,0&zoom=3", app.admin())
        .await;
    assert_eq!(codes(&fc), ["DATELINE", "FAR"], "{fc}");
    let fc = app
        .get_ok("/api/v1/map/assets?bbox=-40,-10,-20,10&zoom=5", app.admin())
        .await;
    assert_eq!(fc["total"], 0);
    assert!(features(&fc).is_empty());

    // A field command that moves an asset moves it on the map (the key is kept with the
    // position outside ingest too).
    let list = app.get_ok("/api/v1/assets?q=FAR", app.admin()).await;
    let far = items(&list)[0].clone();
    let scan = command(
        "inspect",
        &far,
        &Utc::now().to_rfc3339(),
        json!({"position": {"lat": 52.6, "lon": 4.7}}),
    );
    app.scan_ok(app.admin(), &scan).await;
    let fc = app.get_ok(&url(""), app.admin()).await;
    assert_eq!(codes(&fc), ["FAR", "FRESH", "OLD"], "{fc}");

    expect_unauthenticated(app.get(&url(""), None).await).await;
}

async fn heat_cells_count_status_and_utilisation(app: TestApp) {
    fleet(&app).await;
    let tech = app.user_with_role(mobile_shared::Role::Technician).await;
    // Zoom 5 → cells at zoom 8 (1.4°): both Dutch assets share one.
    let heat = |m: &str| format!("/api/v1/map/heat?bbox={NL_BBOX}&zoom=5&metric={m}");
    let fc = app.get_ok(&heat("count"), tech.as_str()).await;
    assert_eq!(fc["metric"], "count");
    assert_eq!(fc["level"], 8);
    assert_eq!(fc["max_count"], 2);
    assert_eq!(features(&fc).len(), 1, "{fc}");
    let cell = &features(&fc)[0];
    assert_eq!(cell["geometry"]["type"], "Polygon");
    assert_eq!(cell["properties"]["count"], 2);
    assert!(cell["properties"].get("by_status").is_none());
    let ring = cell["geometry"]["coordinates"][0].as_array().unwrap();
    assert_eq!(ring.len(), 5);
    assert_eq!(ring[0], ring[4]);
    // Default metric is count; a finer zoom splits the two assets (30 km apart).
    let fine = app
        .get_ok(
            &format!("/api/v1/map/heat?bbox={NL_BBOX}&zoom=9"),
            app.admin(),
        )
        .await;
    assert_eq!(fine["metric"], "count");
    assert_eq!(features(&fine).len(), 2, "{fine}");

    // Status share: OLD rented, FRESH available but never used → idle.
    let fc = app.get_ok(&heat("status"), app.admin()).await;
    assert_eq!(fc["idle_after_days"], 7);
    assert_eq!(
        features(&fc)[0]["properties"]["by_status"],
        json!({"rented": 1, "available": 0, "in_maintenance": 0, "idle": 1})
    );

    // FRESH works 3.5 engine hours: no longer idle, and the utilisation map has it.
    let now = Utc::now();
    let ing = ingestor(&app);
    ing.ingest(&[reading(
        "trk-fresh",
        now - Duration::minutes(9),
        AMSTERDAM,
        Some(100.0),
    )])
    .await
    .unwrap();
    ing.ingest(&[reading(
        "trk-fresh",
        now - Duration::minutes(2),
        AMSTERDAM,
        Some(103.5),
    )])
    .await
    .unwrap();
    let fc = app.get_ok(&heat("status"), app.admin()).await;
    assert_eq!(
        features(&fc)[0]["properties"]["by_status"],
        json!({"rented": 1, "available": 1, "in_maintenance": 0, "idle": 0})
    );
    let fc = app.get_ok(&heat("utilisation"), app.admin()).await;
    assert_eq!(fc["metric"], "utilisation");
    assert_eq!(features(&fc).len(), 1, "{fc}");
    let p = &features(&fc)[0]["properties"];
    assert_eq!(p["count"], 1);
    assert!(
        (p["engine_hours"].as_f64().unwrap() - 3.5).abs() < 1e-9,
        "{p}"
    );
    assert_eq!(p["km"], 0.0);
    assert!(fc["from_day"].is_string() && fc["to_day"].is_string());
    // A period that ended before the work: nothing.
    let past = app
        .get_ok(
            &format!(
                "{}&from=2020-01-01T00:00:00Z&to=2020-01-08T00:00:00Z",
                heat("utilisation")
            ),
            app.admin(),
        )
        .await;
    assert!(features(&past).is_empty(), "{past}");
    // Elsewhere: nothing.
    let fc = app
        .get_ok(
            "/api/v1/map/heat?bbox=-40,-10,-20,10&zoom=5&metric=utilisation",
            app.admin(),
        )
        .await;
    assert!(features(&fc).is_empty());

    expect_unauthenticated(app.get(&heat("count"), None).await).await;
}

async fn above_the_limit_the_server_clusters(app: TestApp) {
    // 2,100 trackers: 1,200 around Amsterdam, 900 around Munich.
    let n = domain::map::ASSET_LIMIT as usize + 100;
    let fleet = domain::seed::seed_fleet(
        &app.db.store,
        &domain::Actor::cli(),
        &domain::seed::FleetSeed {
            assets: n,
            code_prefix: "CL".into(),
            device_prefix: "cl".into(),
            password_hash: "x".into(),
            depots: vec![],
        },
    )
    .await
    .unwrap();
    let now = Utc::now();
    let batch: Vec<Message> = fleet
        .devices
        .iter()
        .enumerate()
        .map(|(i, (device, _))| {
            let jitter = (i % 30) as f64 * 0.002;
            let at = if i < 1_200 {
                (AMSTERDAM.0 + jitter, AMSTERDAM.1 + (i / 30) as f64 * 0.002)
            } else {
                (48.14 + jitter, 11.58 + (i / 30) as f64 * 0.001)
            };
            reading(device, now - Duration::minutes(1), at, None)
        })
        .collect();
    ingestor(&app).ingest(&batch).await.unwrap();

    let fc = app
        .get_ok("/api/v1/map/assets?bbox=-10,40,20,60&zoom=4", app.admin())
        .await;
    assert_eq!(fc["total"], n);
    assert_eq!(fc["clustered"], true);
    assert_eq!(fc["level"], 6);
    let clusters = features(&fc);
    assert!(clusters.len() >= 2 && clusters.len() < 10, "{fc}");
    let mut sum = 0;
    for c in clusters {
        let p = &c["properties"];
        assert_eq!(p["kind"], "cluster");
        assert_eq!(p["stale"], 0);
        assert_eq!(p["by_status"]["available"], p["count"]);
        assert!(p["expansion_zoom"].as_u64().unwrap() >= 5, "{p}");
        let [lon, lat] = [
            c["geometry"]["coordinates"][0].as_f64().unwrap(),
            c["geometry"]["coordinates"][1].as_f64().unwrap(),
        ];
        assert!(
            (47.0..54.0).contains(&lat) && (4.0..13.0).contains(&lon),
            "{c}"
        );
        sum += p["count"].as_u64().unwrap();
    }
    assert_eq!(sum, n as u64);
    // Filters apply to clusters too: a status nobody has.
    let fc = app
        .get_ok(
            "/api/v1/map/assets?bbox=-10,40,20,60&zoom=4&status=on_rent",
            app.admin(),
        )
        .await;
    assert_eq!(fc["total"], 0);
    // Zoomed to Amsterdam: under the limit again, one by one.
    let fc = app
        .get_ok("/api/v1/map/assets?bbox=4,52,6,53&zoom=9", app.admin())
        .await;
    assert_eq!(fc["total"], 1_200);
    assert_eq!(fc["clustered"], false);
    assert_eq!(features(&fc).len(), 1_200);
}

async fn bad_parameters_are_422_naming_them(app: TestApp) {
    let a = "/api/v1/map/assets";
    let h = "/api/v1/map/heat";
    let ok = "bbox=4,52,5,53&zoom=9";
    for (path, field) in [
        (format!("{a}?zoom=9"), "bbox"),
        (format!("{a}?bbox=4,52,5&zoom=9"), "bbox"),
        (format!("{a}?bbox=4,53,5,52&zoom=9"), "bbox"),
        (format!("{a}?bbox=4,52,4,53&zoom=9"), "bbox"),
        (format!("{a}?bbox=-190,52,5,53&zoom=9"), "bbox"),
        (format!("{a}?bbox=4,52,5,95&zoom=9"), "bbox"),
        (format!("{a}?bbox=a,b,c,d&zoom=9"), "bbox"),
        (format!("{a}?bbox=4,52,5,53"), "zoom"),
        (format!("{a}?bbox=4,52,5,53&zoom=23"), "zoom"),
        (format!("{a}?bbox=4,52,5,53&zoom=-1"), "zoom"),
        (format!("{a}?bbox=4,52,5,53&zoom=close"), "zoom"),
        (format!("{a}?{ok}&status=flying"), "status"),
        (format!("{a}?{ok}&site_id=depot"), "site_id"),
        (format!("{a}?{ok}&threshold_hours=0"), "threshold_hours"),
        (format!("{h}?zoom=3"), "bbox"),
        (format!("{h}?bbox=4,52,5,53&zoom=99"), "zoom"),
        (format!("{h}?{ok}&metric=heat"), "metric"),
        (
            format!("{h}?{ok}&metric=utilisation&from=yesterday"),
            "from",
        ),
        (format!("{h}?{ok}&metric=utilisation&to=soon"), "to"),
        (
            format!(
                "{h}?{ok}&metric=utilisation&from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z"
            ),
            "from",
        ),
        (
            format!(
                "{h}?{ok}&metric=utilisation&from=2024-01-01T00:00:00Z&to=2026-01-01T00:00:00Z"
            ),
            "from",
        ),
    ] {
        expect_only_field(app.get(&path, app.admin()).await, field).await;
    }
    // Fractional zooms (MapLibre's) are fine.
    app.get_ok(&format!("{a}?bbox=4,52,5,53&zoom=9.73"), app.admin())
        .await;
}
