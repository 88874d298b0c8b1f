//! Sites with geofences, categories, and GPS tracker registration.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

domain::backend_matrix!(
    TestApp:
    sites_with_geofences,
    invalid_geofences_name_the_field,
    sites_filter_by_kind,
    categories_are_unique,
    device_registration_shows_the_password_once,
    device_conflicts_and_validation,
);

async fn sites_with_geofences(app: TestApp) {
    let circle =
        json!({"type": "circle", "center": {"lat": 48.137, "lon": 11.575}, "radius_m": 250.0});
    let depot = app
        .create_site(json!({
            "name": " Depot Munich ",
            "kind": "depot",
            "address": "Landsberger Str. 1",
            "location": {"lat": 48.137, "lon": 11.575},
            "geofence": circle,
        }))
        .await;
    assert_eq!(depot["name"], "Depot Munich");
    assert_eq!(depot["kind"], "depot");
    assert_eq!(depot["geofence"], circle);
    assert_eq!(depot["location"], json!({"lat": 48.137, "lon": 11.575}));
    assert_eq!(depot["version"], 1);

    let polygon = json!({"type": "polygon", "points": [
        {"lat": 48.10, "lon": 11.50}, {"lat": 48.10, "lon": 11.52},
        {"lat": 48.12, "lon": 11.52}, {"lat": 48.12, "lon": 11.50}
    ]});
    let yard = app
        .create_site(json!({"name": "Customer yard", "kind": "customer_site", "geofence": polygon}))
        .await;
    assert_eq!(yard["geofence"], polygon);
    assert_eq!(yard["location"], Value::Null);

    for site in [&depot, &yard] {
        let got = app
            .get_ok(&format!("/api/v1/sites/{}", s(site, "id")), app.admin())
            .await;
        assert_eq!(&got, site);
    }
    let missing = format!("/api/v1/sites/{}", uuid::Uuid::now_v7());
    expect_not_found(app.get(&missing, app.admin()).await).await;

    // Writing a site is audited.
    let resp = app
        .request(Method::GET, "/api/v1/audit-log", app.admin())
        .query(&[("entity", "site"), ("entity_id", s(&depot, "id"))])
        .send()
        .await
        .unwrap();
    let log = expect_json(resp, StatusCode::OK).await;
    assert_eq!(log["items"][0]["action"], "site.create");
    assert_eq!(log["items"][0]["after"]["geofence"], circle);
}

async fn invalid_geofences_name_the_field(app: TestApp) {
    let site = |geofence: Value| json!({"name": "Bad", "kind": "depot", "geofence": geofence});
    let cases = [
        (
            site(json!({"type": "circle", "center": {"lat": 48.0, "lon": 11.0}, "radius_m": 0})),
            "geofence.radius_m",
        ),
        (
            site(json!({"type": "circle", "center": {"lat": 48.0, "lon": 11.0}, "radius_m": -5})),
            "geofence.radius_m",
        ),
        (
            site(
                json!({"type": "circle", "center": {"lat": 48.0, "lon": 11.0}, "radius_m": 1.0e9}),
            ),
            "geofence.radius_m",
        ),
        (
            site(json!({"type": "circle", "center": {"lat": 91.0, "lon": 11.0}, "radius_m": 100})),
            "geofence.center",
        ),
        (
            site(
                json!({"type": "polygon", "points": [{"lat": 48.0, "lon": 11.0}, {"lat": 48.1, "lon": 11.1}]}),
            ),
            "geofence.points",
        ),
        (
            // Three points, but only two distinct ones.
            site(json!({"type": "polygon", "points": [
                {"lat": 48.0, "lon": 11.0}, {"lat": 48.1, "lon": 11.1}, {"lat": 48.0, "lon": 11.0}]})),
            "geofence.points",
        ),
        (
            site(json!({"type": "polygon", "points": [
                {"lat": 91.0, "lon": 11.0}, {"lat": 48.1, "lon": 11.1}, {"lat": 48.2, "lon": 11.0}]})),
            "geofence.points",
        ),
        (
            json!({"name": "Bad", "kind": "depot", "location": {"lat": 91.0, "lon": 0.0}}),
            "location",
        ),
        (json!({"name": "  ", "kind": "depot"}), "name"),
    ];
    for (body, field) in cases {
        let resp = app.post("/api/v1/sites", app.admin(), &body).await;
        expect_only_field(resp, field).await;
    }
    // All at once.
    let resp = app
        .post(
            "/api/v1/sites",
            app.admin(),
            &json!({"name": "", "kind": "depot",
                    "geofence": {"type": "circle", "center": {"lat": -91.0, "lon": 181.0}, "radius_m": 0}}),
        )
        .await;
    expect_fields(resp, &["name", "geofence.center", "geofence.radius_m"]).await;
    // Shapes the server does not know are refused as such.
    let resp = app
        .post(
            "/api/v1/sites",
            app.admin(),
            &site(json!({"type": "hexagon", "points": []})),
        )
        .await;
    expect_problem(resp, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    let resp = app
        .post(
            "/api/v1/sites",
            app.admin(),
            &json!({"name": "x", "kind": "warehouse"}),
        )
        .await;
    expect_fields(resp, &["kind"]).await;

    let page = app.get_ok("/api/v1/sites", app.admin()).await;
    assert_eq!(page["items"], json!([]), "nothing was created");
}

async fn site_names(app: &TestApp, query: &str) -> Vec<String> {
    let page = app
        .get_ok(&format!("/api/v1/sites{query}"), app.admin())
        .await;
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_owned())
        .collect()
}

async fn sites_filter_by_kind(app: TestApp) {
    app.create_site(json!({"name": "Depot A", "kind": "depot"}))
        .await;
    app.create_site(json!({"name": "Yard B", "kind": "customer_site"}))
        .await;
    app.create_site(json!({"name": "Depot C", "kind": "depot"}))
        .await;
    app.create_site(json!({"name": "Shop D", "kind": "workshop"}))
        .await;

    assert_eq!(
        site_names(&app, "").await,
        ["Depot A", "Yard B", "Depot C", "Shop D"]
    );
    assert_eq!(
        site_names(&app, "?kind=depot").await,
        ["Depot A", "Depot C"]
    );
    assert_eq!(site_names(&app, "?kind=customer_site").await, ["Yard B"]);
    assert_eq!(site_names(&app, "?kind=workshop").await, ["Shop D"]);
    assert_eq!(site_names(&app, "?kind=depot&limit=1").await, ["Depot A"]);
    app.get_invalid("/api/v1/sites?kind=warehouse", &["query"])
        .await;

    // Paging within a kind.
    let first = app
        .get_ok("/api/v1/sites?kind=depot&limit=1", app.admin())
        .await;
    let cursor = s(&first, "next_cursor");
    let second = app
        .get_ok(
            &format!("/api/v1/sites?kind=depot&limit=1&cursor={cursor}"),
            app.admin(),
        )
        .await;
    assert_eq!(second["items"][0]["name"], "Depot C");
    assert_eq!(second["next_cursor"], Value::Null);
}

async fn categories_are_unique(app: TestApp) {
    let cat = expect_json(
        app.post(
            "/api/v1/categories",
            app.admin(),
            &json!({"name": " Excavator ", "description": "Tracked and wheeled"}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(cat["name"], "Excavator");
    assert_eq!(cat["description"], "Tracked and wheeled");
    let dup = app
        .post(
            "/api/v1/categories",
            app.admin(),
            &json!({"name": "Excavator"}),
        )
        .await;
    expect_problem(dup, StatusCode::CONFLICT, "category_exists").await;
    expect_fields(
        app.post("/api/v1/categories", app.admin(), &json!({"name": " "}))
            .await,
        &["name"],
    )
    .await;
    app.create_category("Generator").await;
    let page = app.get_ok("/api/v1/categories", app.admin()).await;
    let names: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| s(c, "name"))
        .collect();
    assert_eq!(names, ["Excavator", "Generator"]);
}

/// `POST /api/v1/devices` as admin.
async fn register(app: &TestApp, body: &Value) -> reqwest::Response {
    app.post("/api/v1/devices", app.admin(), body).await
}

async fn device_registration_shows_the_password_once(app: TestApp) {
    let asset = app.asset("TRK-HOST-1").await;
    let resp = register(
        &app,
        &json!({"device_id": "trk-001", "asset_id": asset["id"]}),
    )
    .await;
    let created = expect_json(resp, StatusCode::CREATED).await;
    let password = s(&created, "mqtt_password").to_owned();
    assert!(password.chars().count() >= 20, "{created}");
    assert_eq!(created["mqtt_username"], "trk-001");
    assert_eq!(created["topic_prefix"], "fieldops/v1/trk-001/");
    assert_eq!(created["device"]["device_id"], "trk-001");
    assert_eq!(created["device"]["asset_id"], asset["id"]);

    // A second device gets another password.
    let other = expect_json(
        register(&app, &json!({"device_id": "trk-002"})).await,
        StatusCode::CREATED,
    )
    .await;
    assert_ne!(s(&other, "mqtt_password"), password);
    assert_eq!(other["device"]["asset_id"], Value::Null);

    // Listing never shows it again, nor anything derived from it.
    let text = app.get_text("/api/v1/devices", app.admin()).await;
    assert!(!text.contains(&password), "{text}");
    assert!(!text.contains("password"), "{text}");
    let page: Value = serde_json::from_str(&text).unwrap();
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0], created["device"]);
    // Nor does the audit log.
    let log = app
        .get_text("/api/v1/audit-log?entity=device", app.admin())
        .await;
    assert!(log.contains("device.create"), "{log}");
    assert!(!log.contains(&password), "{log}");

    // Deleting the asset unbinds the tracker.
    assert_eq!(
        app.delete(&format!("/api/v1/assets/{}", s(&asset, "id")), app.admin())
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    let page = app.get_ok("/api/v1/devices", app.admin()).await;
    assert_eq!(page["items"][0]["device_id"], "trk-001");
    assert_eq!(page["items"][0]["asset_id"], Value::Null);
}

async fn device_conflicts_and_validation(app: TestApp) {
    let resp = register(&app, &json!({"device_id": "trk-9"})).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    for again in ["trk-9", " trk-9 "] {
        let dup = register(&app, &json!({"device_id": again})).await;
        expect_problem(dup, StatusCode::CONFLICT, "device_exists").await;
    }

    // A device id becomes an MQTT username and a topic level: no spaces or wildcards, and at
    // most one slash (OwnTracks `user/device`).
    let too_long = "x".repeat(65);
    for bad in [
        "trk 1",
        "trk+",
        "trk#",
        "a/b/c",
        "/trk",
        "trk/",
        "",
        too_long.as_str(),
    ] {
        let resp = register(&app, &json!({"device_id": bad})).await;
        expect_fields(resp, &["device_id"]).await;
    }
    let resp = register(
        &app,
        &json!({"device_id": "trk-10", "asset_id": uuid::Uuid::now_v7()}),
    )
    .await;
    expect_fields(resp, &["asset_id"]).await;
    // The one slashed form is an OwnTracks `user/device`.
    let resp = register(&app, &json!({"device_id": "jane/phone"})).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    expect_fields(register(&app, &json!({})).await, &["device_id"]).await;

    let page = app.get_ok("/api/v1/devices", app.admin()).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
}
