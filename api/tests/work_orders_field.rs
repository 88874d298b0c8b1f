//! Work orders from the field over HTTP: a technician starts and completes an order by scanning
//! the asset (replays answered as `duplicate`, ambiguity refused with the choices), parts and
//! photos on `PATCH` (422 naming `parts[i].…` and `photos[i]`), and a damaged return that opens
//! a linked order whose completion frees the asset.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};

domain::backend_matrix!(
    ScanApp:
    a_technician_works_an_order_from_the_phone,
    parts_and_photos_on_patch_are_validated_by_field,
    a_damaged_return_opens_an_order_that_frees_the_asset_when_done,
);

async fn order(app: &TestApp, asset: &Value, title: &str) -> Value {
    app.create(
        "/api/v1/work-orders",
        &json!({"asset_id": asset["id"], "title": title}),
    )
    .await
}

async fn upload(app: &ScanApp, token: &str) -> String {
    let stored = expect_json(
        app.upload_photo(token, "image/png", tiny_png()).await,
        StatusCode::CREATED,
    )
    .await;
    s(&stored, "sha256").to_owned()
}

async fn a_technician_works_an_order_from_the_phone(app: ScanApp) {
    let fx = ScanFixture::new(&app).await;
    let asset = fx.asset(&app, "FW-1").await;
    let first = order(&app, &asset, "Hydraulic leak").await;

    // By the scanned code, like any other command.
    let start = json!({"id": uuid::Uuid::now_v7(), "action": "start_work", "code": "FW-1",
        "device_time": fx.t(1)});
    let r = app.scan_ok(&fx.tech, &start).await;
    assert_eq!(r["work_order"]["id"], first["id"]);
    assert_eq!(r["work_order"]["state"], "in_progress");
    assert_eq!(r["asset"]["status"], "in_maintenance");
    let replay = expect_json(app.scan(fx.tech.as_str(), &start).await, StatusCode::OK).await;
    assert_eq!(replay["status"], "duplicate");
    assert_eq!(replay["work_order"]["id"], first["id"]);

    // A second active order makes the plain scan ambiguous: 409 with the ids to choose from.
    let second = order(&app, &asset, "Broken mirror").await;
    let complete = fx.cmd("complete_work", &asset, 2, json!({"engine_hours": 812.5}));
    let problem = app
        .scan_refused(
            &fx.tech,
            &complete,
            StatusCode::CONFLICT,
            "ambiguous_work_order",
        )
        .await;
    assert_eq!(
        problem["detail"]["error"]["detail"]["work_order_ids"],
        json!([first["id"], second["id"]]),
        "{problem}"
    );
    // The refusal is stored: a replay is the same 409.
    app.scan_refused(
        &fx.tech,
        &complete,
        StatusCode::CONFLICT,
        "ambiguous_work_order",
    )
    .await;

    let shot = upload(&app, &fx.tech).await;
    let complete = fx.cmd(
        "complete_work",
        &asset,
        3,
        json!({"work_order_id": first["id"], "engine_hours": 812.5,
               "notes": "Hose replaced.", "photos": [shot]}),
    );
    let r = app.scan_ok(&fx.tech, &complete).await;
    assert_eq!(r["work_order"]["state"], "done");
    assert_eq!(r["work_order"]["engine_hours"], 812.5);
    assert_eq!(r["work_order"]["photos"], json!([shot]));
    assert_eq!(r["asset"]["status"], "available");
    let read = app
        .get_ok(
            &format!("/api/v1/work-orders/{}", s(&first, "id")),
            app.admin(),
        )
        .await;
    assert_eq!(read["notes"], "Hose replaced.");

    // Completing it again by another command: the typed 409 the API gives.
    let again = fx.cmd(
        "complete_work",
        &asset,
        4,
        json!({"work_order_id": first["id"]}),
    );
    let problem = app
        .scan_refused(&fx.tech, &again, StatusCode::CONFLICT, "work_order_closed")
        .await;
    assert_eq!(problem["detail"]["error"]["detail"]["state"], "done");
    // A viewer may not scan at all.
    let viewer = fx.cmd(
        "start_work",
        &asset,
        5,
        json!({"work_order_id": second["id"]}),
    );
    expect_forbidden(app.scan(fx.viewer.as_str(), &viewer).await).await;
}

async fn parts_and_photos_on_patch_are_validated_by_field(app: ScanApp) {
    let fx = ScanFixture::new(&app).await;
    let asset = fx.asset(&app, "FW-2").await;
    let wo = order(&app, &asset, "Filters").await;
    let path = format!("/api/v1/work-orders/{}", s(&wo, "id"));
    let shot = upload(&app, &fx.tech).await;

    let bad = json!({"version": wo["version"], "parts": [
            {"description": "Hydraulic filter", "quantity": 2,
             "unit_cost": {"amount_minor": 1999, "currency": "EUR"}},
            {"description": "Oil", "quantity": 0,
             "unit_cost": {"amount_minor": 500, "currency": "euro"}}],
        "photos": [shot, "cd".repeat(32)]});
    expect_fields(
        app.patch(&path, fx.tech.as_str(), &bad).await,
        &[
            "parts[1].quantity",
            "parts[1].unit_cost.currency",
            "photos[1]",
        ],
    )
    .await;
    // Money is never a float.
    let float = json!({"version": wo["version"], "parts": [
        {"description": "Oil", "quantity": 1, "unit_cost": {"amount_minor": 4.5, "currency": "EUR"}}]});
    let resp = app.patch(&path, fx.tech.as_str(), &float).await;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);

    let good = json!({"version": wo["version"], "parts": [
            {"part_no": "HF-6553", "description": "Hydraulic filter", "quantity": 2,
             "unit_cost": {"amount_minor": 1999, "currency": "EUR"}}],
        "photos": [shot]});
    let after = expect_json(
        app.patch(&path, fx.tech.as_str(), &good).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(after["parts"][0]["unit_cost"]["amount_minor"], 1999);
    assert_eq!(after["parts"][0]["quantity"], 2);
    assert_eq!(after["photos"], json!([shot]));
    assert_eq!(app.get_ok(&path, app.admin()).await, after);
}

async fn a_damaged_return_opens_an_order_that_frees_the_asset_when_done(app: ScanApp) {
    let fx = ScanFixture::new(&app).await;
    let asset = fx.asset(&app, "FW-3").await;
    fx.deliver(&app, &asset, 1).await;
    let ret = fx.cmd(
        "return",
        &asset,
        2,
        json!({"site_id": fx.workshop, "condition": "damaged", "notes": "Cracked boom."}),
    );
    let r = app.scan_ok(&fx.tech, &ret).await;
    assert_eq!(r["asset"]["status"], "in_maintenance");
    let wo = &r["work_order"];
    assert_eq!(wo["scan_event_id"], ret["id"]);
    assert_eq!(wo["title"], "Failed return inspection: damaged");
    assert_eq!(wo["plan_id"], Value::Null);
    let listed = app
        .get_ok(
            &format!("/api/v1/work-orders?asset_id={}", s(&asset, "id")),
            app.admin(),
        )
        .await;
    assert_eq!(items(&listed).len(), 1);

    // The technician finishes the repair from the phone: the asset is available again.
    let done = fx.cmd("complete_work", &asset, 3, json!({}));
    let r = app.scan_ok(&fx.tech, &done).await;
    assert_eq!(r["work_order"]["id"], wo["id"]);
    assert_eq!(r["asset"]["status"], "available");
}
