//! Field-command rules at their edges: a refusal carries the same typed code whether the command
//! was sent alone or in an offline batch; equal device times apply in arrival order; absurd
//! device times are refused.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

domain::backend_matrix!(
    ScanApp:
    a_refusal_has_the_same_code_alone_and_in_a_batch,
    equal_device_times_apply_in_arrival_order,
    device_times_outside_the_policy_are_refused,
);

/// The same command content under a fresh id (a replay would answer `duplicate`).
fn fresh(cmd: &Value) -> Value {
    let mut c = cmd.clone();
    c["id"] = json!(Uuid::now_v7());
    c
}

async fn a_refusal_has_the_same_code_alone_and_in_a_batch(app: ScanApp) {
    let fx = ScanFixture::new(&app).await;
    let available = fx.asset(&app, "RC-1").await;
    let moved = fx.asset(&app, "RC-2").await;
    app.scan_ok(
        &fx.tech,
        &command(
            "deliver",
            &moved,
            &fx.t(10),
            json!({"site_id": fx.customer}),
        ),
    )
    .await;
    app.scan_ok(
        &fx.tech,
        &command("return", &moved, &fx.t(20), json!({"site_id": fx.depot})),
    )
    .await;
    let unknown_photo = "ab".repeat(32);

    // (what, command, HTTP status alone, code)
    let cases = [
        (
            "unknown code",
            json!({"id": Uuid::now_v7(), "action": "lookup", "code": "NOPE-404", "device_time": fx.t(1)}),
            StatusCode::NOT_FOUND,
            "asset_not_found",
        ),
        (
            "return of an available asset",
            command("return", &available, &fx.t(1), json!({"site_id": fx.depot})),
            StatusCode::CONFLICT,
            "illegal_transition",
        ),
        (
            "deliver older than the applied return",
            command(
                "deliver",
                &moved,
                &fx.t(15),
                json!({"site_id": fx.customer}),
            ),
            StatusCode::CONFLICT,
            "superseded",
        ),
        (
            "deliver without a site",
            command("deliver", &available, &fx.t(1), json!({})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            "photo never uploaded",
            command(
                "inspect",
                &available,
                &fx.t(1),
                json!({"photos": [unknown_photo]}),
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_photo",
        ),
        (
            "count in a stocktake that does not exist",
            command(
                "audit",
                &available,
                &fx.t(1),
                json!({"stocktake_id": Uuid::now_v7()}),
            ),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
    ];
    for (what, cmd, status, code) in cases {
        let alone = expect_problem(app.scan(fx.tech.as_str(), &cmd).await, status, code).await;
        assert_eq!(alone["detail"]["error"]["error"], code, "{what}: {alone}");

        let in_batch = fresh(&cmd);
        let body = expect_json(
            app.scan_batch(fx.tech.as_str(), std::slice::from_ref(&in_batch))
                .await,
            StatusCode::OK,
        )
        .await;
        let item = &body["results"][0];
        assert_eq!(item["status"], "rejected", "{what}: {body}");
        assert_eq!(item["error"]["error"], code, "{what}: {body}");
        assert_eq!(
            item["error"]["message"], alone["message"],
            "{what}: the same refusal reads the same"
        );
    }
}

async fn equal_device_times_apply_in_arrival_order(app: ScanApp) {
    let fx = ScanFixture::new(&app).await;

    // One command at a time: a phone that sends whole seconds delivers and, within the same
    // second, returns (a technician correcting a mistake). Both apply; the asset is back.
    let asset = fx.asset(&app, "EQ-1").await;
    let at = fx.t(5);
    app.scan_ok(
        &fx.tech,
        &command("deliver", &asset, &at, json!({"site_id": fx.customer})),
    )
    .await;
    let back = app
        .scan_ok(
            &fx.tech,
            &command("return", &asset, &at, json!({"site_id": fx.depot})),
        )
        .await;
    assert_eq!(back["asset"]["status"], "available", "{back}");
    assert_eq!(app.asset_now(&asset).await["status"], "available");

    // In a batch, equal device times keep the phone's order.
    let other = fx.asset(&app, "EQ-2").await;
    let batch = [
        command("deliver", &other, &at, json!({"site_id": fx.customer})),
        command("return", &other, &at, json!({"site_id": fx.depot})),
        command("deliver", &other, &at, json!({"site_id": fx.customer})),
    ];
    let body = expect_json(
        app.scan_batch(fx.tech.as_str(), &batch).await,
        StatusCode::OK,
    )
    .await;
    for (i, r) in body["results"]
        .as_array()
        .expect("results")
        .iter()
        .enumerate()
    {
        assert_eq!(r["status"], "applied", "item {i}: {body}");
    }
    assert_eq!(app.asset_now(&other).await["status"], "on_rent");

    // Strictly older is still superseded.
    let older = command("return", &other, &fx.t(4), json!({"site_id": fx.depot}));
    expect_problem(
        app.scan(fx.tech.as_str(), &older).await,
        StatusCode::CONFLICT,
        "superseded",
    )
    .await;
}

async fn device_times_outside_the_policy_are_refused(app: ScanApp) {
    let fx = ScanFixture::new(&app).await;
    let asset = fx.asset(&app, "DT-1").await;
    let now = chrono::Utc::now();
    let rfc =
        |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let events_before = app.db.count("SELECT COUNT(*) FROM scan_events").await;

    // (device time, refused?, what the message names)
    let cases = [
        ("0003-01-04T00:00:00Z".to_owned(), true, "days old"),
        ("1970-01-01T00:00:00Z".to_owned(), true, "days old"),
        (rfc(now - chrono::Duration::days(91)), true, "days old"),
        (rfc(now + chrono::Duration::hours(1)), true, "future"),
        (rfc(now - chrono::Duration::days(89)), false, ""),
        (rfc(now + chrono::Duration::minutes(5)), false, ""),
    ];
    let mut refused = 0;
    for (at, is_refused, says) in &cases {
        let cmd = command("meter", &asset, at, json!({"engine_hours": 1.0}));
        if *is_refused {
            refused += 2;
            let p = expect_fields(app.scan(fx.tech.as_str(), &cmd).await, &["device_time"]).await;
            assert!(s(&p["fields"], "device_time").contains(says), "{at}: {p}");
            let body = expect_json(
                app.scan_batch(fx.tech.as_str(), &[fresh(&cmd)]).await,
                StatusCode::OK,
            )
            .await;
            let item = &body["results"][0];
            assert_eq!(item["status"], "rejected", "{at}: {body}");
            assert_eq!(item["error"]["error"], "validation_failed", "{at}: {body}");
        } else {
            app.scan_ok(&fx.tech, &cmd).await;
        }
    }
    // Refused commands are kept (a replay gets the same answer), applied ones too.
    assert_eq!(
        app.db.count("SELECT COUNT(*) FROM scan_events").await,
        events_before + refused + 2
    );
}
