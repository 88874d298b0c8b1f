//! The alert lists and the per-site table over HTTP: `/api/v1/alerts/stale`,
//! `/api/v1/alerts/off-site`, `/api/v1/map/sites`. The fleet is registered through the API;
//! telemetry goes through the real ingest path (`domain::telemetry::Ingestor`), as the gateway
//! would feed it. Runs on SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use chrono::{DateTime, Duration, Utc};
use common::*;
use domain::events::EventBus;
use domain::telemetry::{IngestOptions, Ingestor, Message, MessageKind};
use domain::testing::Fixture;
use domain::Backend;
use mobile_shared::telemetry::Reading;
use reqwest::StatusCode;
use serde_json::{json, Value};

/// A server whose default stale threshold is 2 hours (`--stale-after-hours 2`).
struct ShortStaleApp(TestApp);

impl Fixture for ShortStaleApp {
    async fn open(backend: Backend) -> Option<ShortStaleApp> {
        let config = api::ApiConfig {
            stale_after_hours: 2,
            ..Default::default()
        };
        TestApp::start(backend, config).await.map(ShortStaleApp)
    }
}

domain::backend_matrix!(
    ShortStaleApp:
    stale_list_orders_flags_and_respects_the_threshold,
    off_site_and_the_site_table,
    bad_parameters_are_422_naming_them,
    one_asset_carries_its_tracker,
);

const DEPOT: (f64, f64) = (52.0, 4.0);
/// About 5.5 km north: inside no fence.
const OUTSIDE: (f64, f64) = (52.05, 4.0);

fn reading(device: &str, ts: DateTime<Utc>, at: (f64, f64), received_at: DateTime<Utc>) -> Message {
    let mut r = Reading::at(ts);
    r.lat = Some(at.0);
    r.lon = Some(at.1);
    Message {
        topic: format!("fieldops/v1/{device}/telemetry"),
        received_at,
        kind: MessageKind::Readings {
            device_id: device.into(),
            readings: vec![r],
        },
    }
}

/// A fenced depot and five machines with trackers: FRESH (10 min), SILENT (position 1 h old,
/// tracker quiet since: the silence watch marks it), OLD (3 h), LEFT (left the fence 50 min ago),
/// RENTED (left too, but on rent). Returns the depot.
async fn fleet(app: &TestApp) -> Value {
    let depot = app
        .create_site(json!({
            "name": "Depot A", "kind": "depot",
            "location": {"lat": DEPOT.0, "lon": DEPOT.1},
            "geofence": {"type": "circle", "center": {"lat": DEPOT.0, "lon": DEPOT.1}, "radius_m": 400.0}
        }))
        .await;
    let site_id = s(&depot, "id");
    for (code, status) in [
        ("FRESH", "available"),
        ("SILENT", "available"),
        ("OLD", "available"),
        ("LEFT", "available"),
        ("RENTED", "on_rent"),
    ] {
        let asset = app
            .create_asset(json!({"code": code, "name": format!("Machine {code}"),
                "status": status, "site_id": site_id}))
            .await;
        let id = s(&asset, "id").parse().unwrap();
        app.db
            .add_device(&format!("trk-{}", code.to_lowercase()), Some(id))
            .await;
    }
    let now = domain::clock::now();
    let ago = |m: i64| now - Duration::minutes(m);
    let ingestor = Ingestor::new(
        app.db.store.clone(),
        EventBus::new(64),
        IngestOptions::default(),
    );
    ingestor
        .ingest(&[reading("trk-silent", ago(60), DEPOT, ago(60))])
        .await
        .unwrap();
    assert_eq!(
        ingestor.mark_silent(Duration::minutes(30)).await.unwrap(),
        1
    );
    ingestor
        .ingest(&[
            reading("trk-fresh", ago(10), DEPOT, now),
            reading("trk-old", ago(180), DEPOT, now),
            reading("trk-left", ago(120), DEPOT, now),
            reading("trk-rented", ago(120), DEPOT, now),
        ])
        .await
        .unwrap();
    ingestor
        .ingest(&[
            reading("trk-left", ago(50), OUTSIDE, now),
            reading("trk-rented", ago(50), OUTSIDE, now),
        ])
        .await
        .unwrap();
    depot
}

fn codes(page: &Value) -> Vec<&str> {
    items(page).iter().map(|a| s(a, "code")).collect()
}

async fn stale_list_orders_flags_and_respects_the_threshold(app: ShortStaleApp) {
    let app = app.0;
    let depot = fleet(&app).await;
    let viewer = app.user_with_role(mobile_shared::Role::Viewer).await;

    // The server's default threshold (2 h): OLD for its position, SILENT for its tracker.
    let page = app.get_ok("/api/v1/alerts/stale", viewer.as_str()).await;
    assert_eq!(codes(&page), ["OLD", "SILENT"], "{page}");
    assert_eq!(page["total"], 2);
    assert!(page["next_cursor"].is_null());
    let old = &items(&page)[0];
    assert_eq!(old["reasons"], json!(["position_old"]));
    assert_eq!(old["site"]["id"], depot["id"]);
    assert_eq!(old["site"]["name"], "Depot A");
    assert_eq!(old["status"], "available");
    assert_eq!(old["last_position"]["lat"], DEPOT.0);
    assert_eq!(old["tracker"]["device_id"], "trk-old");
    assert_eq!(old["tracker"]["online"], true);
    let age = old["age_seconds"].as_i64().unwrap();
    assert!((180 * 60..181 * 60).contains(&age), "{age}");
    let silent = &items(&page)[1];
    assert_eq!(silent["reasons"], json!(["tracker_silent"]));
    assert_eq!(silent["tracker"]["online"], false);

    // A request's own threshold wins over the server's.
    let page = app
        .get_ok("/api/v1/alerts/stale?threshold_hours=24", app.admin())
        .await;
    assert_eq!(codes(&page), ["SILENT"], "24 h: only the silent tracker");
    assert_eq!(page["total"], 1);

    // Pages of one, resumed by cursor, give the whole list.
    let first = app
        .get_ok("/api/v1/alerts/stale?limit=1", app.admin())
        .await;
    assert_eq!(codes(&first), ["OLD"]);
    assert_eq!(first["total"], 2);
    let cursor = s(&first, "next_cursor").to_owned();
    let second = app
        .get_ok(
            &format!("/api/v1/alerts/stale?limit=1&cursor={cursor}"),
            app.admin(),
        )
        .await;
    assert_eq!(codes(&second), ["SILENT"]);
    assert!(second["next_cursor"].is_null(), "{second}");

    // Filters: this depot has both; a category nobody has is refused, not empty.
    let page = app
        .get_ok(
            &format!("/api/v1/alerts/stale?site_id={}", s(&depot, "id")),
            app.admin(),
        )
        .await;
    assert_eq!(page["total"], 2);

    expect_unauthenticated(app.get("/api/v1/alerts/stale", None).await).await;
}

async fn off_site_and_the_site_table(app: ShortStaleApp) {
    let app = app.0;
    let depot = fleet(&app).await;
    let tech = app.user_with_role(mobile_shared::Role::Technician).await;

    let page = app.get_ok("/api/v1/alerts/off-site", tech.as_str()).await;
    assert_eq!(codes(&page), ["LEFT"], "RENTED left on rent: {page}");
    assert_eq!(page["total"], 1);
    let left = &items(&page)[0];
    assert_eq!(left["left_site"]["id"], depot["id"]);
    assert_eq!(left["position"]["lat"], OUTSIDE.0);
    let left_at: DateTime<Utc> = s(left, "left_at").parse().unwrap();
    let minutes = (Utc::now() - left_at).num_minutes();
    assert!((49..=51).contains(&minutes), "{left_at}");

    let table = app.get_ok("/api/v1/map/sites", tech.as_str()).await;
    assert_eq!(table["threshold_hours"], 2, "the server's default");
    let sites = table["sites"].as_array().unwrap();
    assert_eq!(sites.len(), 1, "{table}");
    let row = &sites[0];
    assert_eq!(row["site_id"], depot["id"]);
    assert_eq!(row["kind"], "depot");
    assert_eq!(row["location"]["lat"], DEPOT.0);
    assert_eq!(row["total"], 5);
    assert_eq!(row["stale"], 2, "OLD and SILENT, as the list");
    let by_status: Vec<(String, u64)> = row["by_status"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (s(c, "status").to_owned(), c["count"].as_u64().unwrap()))
        .collect();
    let expected: Vec<(String, u64)> = mobile_shared::AssetStatus::ALL
        .iter()
        .map(|st| {
            let n = match st.as_str() {
                "available" => 4,
                "on_rent" => 1,
                _ => 0,
            };
            (st.as_str().to_owned(), n)
        })
        .collect();
    assert_eq!(by_status, expected);
    let longer = app
        .get_ok("/api/v1/map/sites?threshold_hours=24", app.admin())
        .await;
    assert_eq!(longer["sites"][0]["stale"], 1, "only the silent tracker");
}

async fn bad_parameters_are_422_naming_them(app: ShortStaleApp) {
    let app = app.0;
    fleet(&app).await;
    let unknown = uuid::Uuid::now_v7();
    for (query, field) in [
        ("threshold_hours=-1", "threshold_hours"),
        ("threshold_hours=0", "threshold_hours"),
        ("threshold_hours=100000", "threshold_hours"),
        ("site_id=depot-a", "site_id"),
        (&format!("site_id={unknown}") as &str, "site_id"),
        ("category=Cranes", "category"),
        ("cursor=garbage", "cursor"),
        (&format!("cursor={unknown}") as &str, "cursor"),
        ("limit=0", "limit"),
        ("limit=501", "limit"),
    ] {
        let resp = app
            .get(&format!("/api/v1/alerts/stale?{query}"), app.admin())
            .await;
        expect_only_field(resp, field).await;
    }
    for (path, field) in [
        ("/api/v1/alerts/off-site?cursor=n.zz", "cursor"),
        ("/api/v1/map/sites?threshold_hours=-3", "threshold_hours"),
        ("/api/v1/map/sites?threshold_hours=9000", "threshold_hours"),
    ] {
        expect_only_field(app.get(path, app.admin()).await, field).await;
    }
    // Not a number at all: the query extractor's 422.
    let resp = app
        .get("/api/v1/alerts/stale?threshold_hours=lots", app.admin())
        .await;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

/// `GET /api/v1/assets/{id}` carries the asset's tracker as the alert lists show it (the
/// console's drawer reads it); an asset without one has no `tracker`, and lists never do.
async fn one_asset_carries_its_tracker(app: ShortStaleApp) {
    let app = app.0;
    fleet(&app).await;
    let viewer = app.user_with_role(mobile_shared::Role::Viewer).await;
    let one = |code: &'static str| {
        let app = &app;
        let viewer = viewer.clone();
        async move {
            let found = app
                .get_ok(&format!("/api/v1/assets?q={code}"), viewer.as_str())
                .await;
            let id = items(&found)
                .iter()
                .find(|a| a["code"] == code)
                .map(|a| s(a, "id").to_owned())
                .unwrap();
            app.get_ok(&format!("/api/v1/assets/{id}"), viewer.as_str())
                .await
        }
    };
    let silent = one("SILENT").await;
    assert_eq!(silent["tracker"]["device_id"], "trk-silent", "{silent}");
    assert_eq!(
        silent["tracker"]["online"], false,
        "the silence watch: {silent}"
    );
    let fresh = one("FRESH").await;
    assert_eq!(fresh["tracker"]["device_id"], "trk-fresh", "{fresh}");
    let seen: DateTime<Utc> = s(&fresh["tracker"], "last_seen_at").parse().unwrap();
    assert!(Utc::now() - seen < Duration::minutes(30), "{fresh}");
    let bare = app
        .create_asset(json!({"code": "BARE", "name": "No tracker"}))
        .await;
    let bare = app
        .get_ok(
            &format!("/api/v1/assets/{}", s(&bare, "id")),
            viewer.as_str(),
        )
        .await;
    assert!(bare.get("tracker").is_none(), "{bare}");
    let list = app
        .get_ok("/api/v1/assets?limit=500", viewer.as_str())
        .await;
    assert!(items(&list).iter().all(|a| a.get("tracker").is_none()));
}
