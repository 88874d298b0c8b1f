//! Field commands over HTTP (`POST /api/v1/scans`, `/scans/batch`, field history): every
//! action and what it records, illegal transitions, exactly-once replays, device-time order in
//! batches, superseded stale commands, concurrent replays, and who may send commands.
//! Photos and QR decoding are in `scans_photos.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use chrono::{DateTime, Utc};
use common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

domain::backend_matrix!(
    ScanApp:
    lookup_changes_nothing,
    deliver_and_return_record_device_time_server_time_and_position,
    failed_return_inspection_sends_the_asset_to_maintenance,
    inspect_records_condition_and_newer_engine_hours,
    transfer_moves_between_depot_and_workshop,
    meter_applies_only_newer_not_lower_readings,
    audit_counts_in_an_open_stocktake_only,
    phone_position_moves_the_asset_only_when_newer,
    illegal_transitions_are_409_with_the_current_asset,
    replayed_command_answers_duplicate_with_the_original_result,
    replayed_rejection_is_the_same_http_error,
    batch_applies_in_device_time_order_and_answers_in_given_order,
    batch_replay_is_all_duplicate_and_changes_nothing,
    stale_deliver_is_superseded,
    batch_size_is_bounded,
    batch_answers_mixed_items_one_by_one,
    concurrent_identical_commands_apply_once,
    concurrent_different_commands_do_not_lose_updates,
    concurrent_code_scans_do_not_starve_the_pool,
    viewer_is_forbidden_and_no_token_is_unauthenticated,
);

fn time(v: &Value) -> DateTime<Utc> {
    v.as_str()
        .unwrap_or_else(|| panic!("not a time: {v}"))
        .parse()
        .unwrap_or_else(|e| panic!("{v}: {e}"))
}

fn version(asset: &Value) -> i64 {
    asset["version"].as_i64().expect("version")
}

/// The result inside a rejected single command's error (`detail` is the `CommandResult`).
fn rejected_detail<'v>(problem: &'v Value, id: &Value, error: &str) -> &'v Value {
    let detail = &problem["detail"];
    assert_eq!(detail["id"], *id, "{problem}");
    assert_eq!(detail["status"], "rejected", "{problem}");
    assert_eq!(detail["error"]["error"], error, "{problem}");
    detail
}

#[track_caller]
fn assert_all_applied(results: &[Value]) {
    assert!(
        results.iter().all(|r| r["status"] == "applied"),
        "{results:?}"
    );
}

/// Total audit entries, straight from the database.
async fn audit_total(app: &ScanApp) -> i64 {
    app.db.count("SELECT COUNT(*) FROM audit_log").await
}

async fn lookup_changes_nothing(app: ScanApp) {
    let fx = ScanFixture::new(&app).await;
    let asset = fx.asset(&app, "LK-1").await;
    let audit_before = audit_total(&app).await;

    // By the code as a person types it, and by id.
    let by_code =
        json!({"id": Uuid::now_v7(), "action": "lookup", "code": " lk-1 ", "device_time": fx.t(1)});
    let r = app.scan_ok(&fx.tech, &by_code).await;
    assert_eq!(r["asset"], asset, "a lookup answers the asset as it is");
    assert!(
        r.get("error").is_none() && r.get("decoded").is_none(),
        "{r}"
    );
    let r = app
        .scan_ok(&fx.tech, &fx.cmd("lookup", &asset, 2, json!({})))
        .await;
    assert_eq!(r["asset"], asset);

    assert_eq!(app.asset_now(&asset).await, asset, "nothing changed");
    assert_eq!(audit_total(&app).await, audit_before, "no audit entry");
    let history = app.field_history(&asset).await;
    assert_eq!(history.len(), 2, "both lookups are history: {history:?}");
    assert!(history
        .iter()
        .all(|h| h["command"]["action"] == "lookup" && h["status"] == "applied"));

    // An unknown code is 404 and still answers with the command's result.
    let unknown =
        json!({"id": Uuid::now_v7(), "action": "lookup", "code": "NOPE-1", "device_time": fx.t(3)});
    let p = app
        .scan_refused(&fx.tech, &unknown, StatusCode::NOT_FOUND, "asset_not_found")
        .await;
    rejected_detail(&p, &unknown["id"], "asset_not_found");
}

async fn deliver_and_return_record_device_time_server_time_and_position(app: ScanApp) {
    let fx = ScanFixture::new(&app).await;
    let asset = fx.asset(&app, "DL-1").await;
    assert_eq!(asset["status"], "available");
    assert_eq!(asset["site_id"], fx.depot.as_str());
    let server_before = Utc::now();

    let deliver = fx.cmd(
        "deliver",
        &asset,
        10,
        json!({"site_id": fx.customer, "position": {"lat": 52.37, "lon": 4.89, "accuracy_m": 8.0},
               "contact": "Site foreman", "contract_ref": "RC-2026-17"}),
    );
    let r = app.scan_ok(&fx.tech, &deliver).await;
    let after = &r["asset"];
    assert_eq!(after["status"], "on_rent", "{r}");
    assert_eq!(after["site_id"], fx.customer.as_str(), "{r}");
    assert_eq!(version(after), version(&asset) + 1);
    assert_eq!(after["position"]["lat"], 52.37);
    assert_eq!(after["position"]["lon"], 4.89);
    assert_eq!(after["position"]["source"], "scan");
    assert_eq!(time(&after["position"]["at"]), time(&json!(fx.t(10))));
    assert_eq!(
        app.asset_now(&asset).await,
        *after,
        "the answer is the stored state"
    );

    let audit = app.asset_audit(&asset, Some("scan.deliver")).await;
    assert_eq!(audit.len(), 1, "{audit:?}");
    assert_eq!(audit[0]["before"]["status"], "available");
    assert_eq!(audit[0]["after"]["status"], "on_rent");
    assert_eq!(audit[0]["after"]["site_id"], fx.customer.as_str());
    assert!(
        s(&audit[0], "actor").starts_with("technician-"),
        "{audit:?}"
    );

    let ret = fx.cmd(
        "return",
        &asset,
        20,
        json!({"site_id": fx.depot, "position": {"lat": 52.30, "lon": 4.95}, "condition": "good",
               "inspection_passed": true}),
    );
    let r = app.scan_ok(&fx.tech, &ret).await;
    assert_eq!(r["asset"]["status"], "available", "{r}");
    assert_eq!(r["asset"]["site_id"], fx.depot.as_str());
    assert_eq!(r["asset"]["position"]["lat"], 52.30);
    assert_eq!(version(&r["asset"]), version(&asset) + 2);
    assert_eq!(app.asset_audit(&asset, Some("scan.return")).await.len(), 1);
    let server_after = Utc::now();

    // History, newest device time first: device time, server time, phone position, who.
    let history = app.field_history(&asset).await;
    assert_eq!(history.len(), 2, "{history:?}");
    let (h_ret, h_del) = (&history[0], &history[1]);
    assert_eq!(h_ret["command"]["id"], ret["id"]);
    assert_eq!(h_del["command"]["id"], deliver["id"]);
    for (h, cmd) in [(h_ret, &ret), (h_del, &deliver)] {
        assert_eq!(h["status"], "applied");
        assert!(h["error"].is_null(), "{h}");
        assert_eq!(
            time(&h["command"]["device_time"]),
            time(&cmd["device_time"])
        );
        let server = time(&h["server_time"]);
        assert!(
            server >= server_before - chrono::Duration::seconds(1)
                && server <= server_after + chrono::Duration::seconds(1),
            "server time {server} outside the test run: {h}"
        );
        assert_eq!(h["command"]["position"]["lat"], cmd["position"]["lat"]);
        assert_eq!(h["command"]["position"]["lon"], cmd["position"]["lon"]);
        assert!(s(h, "actor").starts_with("technician-"), "{h}");
    }
    assert_eq!(h_del["command"]["position"]["accuracy_m"], 8.0);
    assert_eq!(h_del["command"]["contract_ref"], "RC-2026-17");
    assert_eq!(h_del["command"]["site_id"], fx.customer.as_str());
    assert!(time(&h_ret["server_time"]) >= time(&h_del["server_time"]));
}

async fn failed_return_inspection_sends_the_asset_to_maintenance(app: ScanApp) {
    let fx = ScanFixture::new(&app).await;
    for (code, extra, expected) in [
        (
            "RT-1",
            json!({"inspection_passed": false}),
            "in_maintenance",
        ),
        ("RT-2", json!({"condition": "damaged"}), "in_maintenance"),
        (
            "RT-3",
            json!({"condition": "fair", "inspection_passed": true}),
            "available",
        ),
    ] {
        let asset = fx.asset(&app, code).await;
        fx.deliver(&app, &asset, 1).await;
        let mut extra = extra;
        extra["site_id"] = json!(fx.workshop);
        let r = app
            .scan_ok(&fx.tech, &fx.cmd("return", &asset, 2, extra))
            .await;
        assert_eq!(r["asset"]["status"], expected, "{code}: {r}");
        assert_eq!(r["asset"]["site_id"], fx.workshop.as_str(), "{code}: {r}");
        let audit = app.asset_audit(&asset, Some("scan.return")).await;
        assert_eq!(audit.len(), 1);
        assert_eq!(audit[0]["after"]["status"], expected);
    }
}

async fn inspect_records_condition_and_newer_engine_hours(app: ScanApp) {
    let fx = ScanFixture::new(&app).await;
    let asset = fx.asset(&app, "IN-1").await;
    let checklist = json!({"tyres": "ok", "leaks": false, "hydraulics": 3});
    let inspect = fx.cmd(
        "inspect",
        &asset,
        5,
        json!({"condition": "fair", "checklist": checklist, "notes": "Scratched boom",
               "fuel_pct": 62.5, "engine_hours": 120.5}),
    );
    let r = app.scan_ok(&fx.tech, &inspect).await;
    assert_eq!(r["asset"]["engine_hours"], 120.5, "{r}");
    assert_eq!(
        r["asset"]["status"], "available",
        "an inspection moves nothing"
    );
    assert_eq!(r["asset"]["site_id"], fx.depot.as_str());
    assert_eq!(version(&r["asset"]), version(&asset) + 1);
    assert_eq!(app.asset_audit(&asset, Some("scan.inspect")).await.len(), 1);

    let h = &app.field_history(&asset).await[0];
    assert_eq!(h["command"]["condition"], "fair");
    assert_eq!(h["command"]["checklist"], checklist);
    assert_eq!(h["command"]["notes"], "Scratched boom");
    assert_eq!(h["command"]["fuel_pct"], 62.5);
    assert_eq!(h["command"]["engine_hours"], 120.5);

    // A higher reading taken earlier (synced late) is history only.
    let older = fx.cmd("inspect", &asset, 3, json!({"engine_hours": 130.0}));
    let r = app.scan_ok(&fx.tech, &older).await;
    assert_eq!(r["asset"]["engine_hours"], 120.5, "{r}");
    assert_eq!(version(&r["asset"]), version(&asset) + 1, "no write");

    // A newer one applies; one without a reading changes nothing.
    let newer = fx.cmd("inspect", &asset, 8, json!({"engine_hours": 140.0}));
    let r = app.scan_ok(&fx.tech, &newer).await;
    assert_eq!(r["asset"]["engine_hours"], 140.0);
    let plain = fx.cmd("inspect", &asset, 9, json!({"condition": "good"}));
    let r = app.scan_ok(&fx.tech, &plain).await;
    assert_eq!(version(&r["asset"]), version(&asset) + 2, "{r}");
    assert_eq!(app.asset_audit(&asset, Some("scan.inspect")).await.len(), 2);
    assert_eq!(app.field_history(&asset).await.len(), 4);

    // Invalid fields are all named.
    let bad = fx.cmd(
        "inspect",
        &asset,
        10,
        json!({"fuel_pct": 150, "engine_hours": -1, "notes": "x".repeat(4001)}),
    );
    let p = app
        .scan_invalid(&fx.tech, &bad, &["fuel_pct", "engine_hours", "notes"])
        .await;
    rejected_detail(&p, &bad["id"], "validation_failed");
    assert_eq!(p["detail"]["asset"]["engine_hours"], 140.0, "{p}");
}

async fn transfer_moves_between_depot_and_workshop(app: ScanApp) {
    let fx = ScanFixture::new(&app).await;
    let asset = fx.asset(&app, "TR-1").await;
    let r = app
        .scan_ok(
            &fx.tech,
            &fx.cmd("transfer", &asset, 1, json!({"site_id": fx.workshop})),
        )
        .await;
    assert_eq!(r["asset"]["site_id"], fx.workshop.as_str(), "{r}");
    assert_eq!(r["asset"]["status"], "available");
    let audit = app.asset_audit(&asset, Some("scan.transfer")).await;
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0]["before"]["site_id"], fx.depot.as_str());
    assert_eq!(audit[0]["after"]["site_id"], fx.workshop.as_str());

    // Customers are delivered to, not transferred to.
    let to_customer = fx.cmd("transfer", &asset, 2, json!({"site_id": fx.customer}));
    let p = app.scan_invalid(&fx.tech, &to_customer, &["site_id"]).await;
    assert_eq!(p["detail"]["asset"]["site_id"], fx.workshop.as_str(), "{p}");
    // A transfer needs a destination, and it must exist.
    let nowhere = fx.cmd("transfer", &asset, 3, json!({}));
    app.scan_invalid(&fx.tech, &nowhere, &["site_id"]).await;
    let unknown = fx.cmd("transfer", &asset, 4, json!({"site_id": Uuid::now_v7()}));
    app.scan_invalid(&fx.tech, &unknown, &["site_id"]).await;

    let r = app
        .scan_ok(
            &fx.tech,
            &fx.cmd("transfer", &asset, 5, json!({"site_id": fx.depot})),
        )
        .await;
    assert_eq!(r["asset"]["site_id"], fx.depot.as_str());
    assert_eq!(
        app.asset_audit(&asset, Some("scan.transfer")).await.len(),
        2
    );
}

async fn meter_applies_only_newer_not_lower_readings(app: ScanApp) {
    let fx = ScanFixture::new(&app).await;
    let asset = fx.asset(&app, "MT-1").await;
    let mut expected = Vec::new();
    for (minute, hours, applied) in [
        (10, 100.0, 100.0),
        (11, 90.0, 100.0),  // newer but lower: not applied
        (12, 110.0, 110.0), // newer and higher
        (5, 200.0, 110.0),  // higher but older: not applied
        (13, 110.0, 110.0), // the same reading again
    ] {
        let r = app
            .scan_ok(
                &fx.tech,
                &fx.cmd("meter", &asset, minute, json!({"engine_hours": hours})),
            )
            .await;
        assert_eq!(
            r["asset"]["engine_hours"], applied,
            "t{minute} {hours}: {r}"
        );
        expected.push(applied);
    }
    assert_eq!(app.asset_now(&asset).await["engine_hours"], 110.0);
    // Only the two readings that changed something were written.
    assert_eq!(app.asset_audit(&asset, Some("scan.meter")).await.len(), 2);
    assert_eq!(version(&app.asset_now(&asset).await), version(&asset) + 2);
    assert_eq!(app.field_history(&asset).await.len(), expected.len());

    let no_reading = fx.cmd("meter", &asset, 20, json!({}));
    let p = app
        .scan_invalid(&fx.tech, &no_reading, &["engine_hours"])
        .await;
    rejected_detail(&p, &no_reading["id"], "validation_failed");
}

async fn audit_counts_in_an_open_stocktake_only(app: ScanApp) {
    let fx = ScanFixture::new(&app).await;
    let asset = fx.asset(&app, "AU-1").await;
    let cmd = fx.cmd("audit", &asset, 1, json!({}));
    let p = app.scan_invalid(&fx.tech, &cmd, &["stocktake_id"]).await;
    let detail = rejected_detail(&p, &cmd["id"], "validation_failed");
    assert_eq!(detail["asset"]["id"], asset["id"], "{p}");
    assert!(detail["error"]["fields"]["stocktake_id"].is_string(), "{p}");
    assert_eq!(app.asset_now(&asset).await, asset);
    // The refusal is history.
    let history = app.field_history(&asset).await;
    assert_eq!(history.len(), 1);
    assert_eq!(history[0]["status"], "rejected");
    assert_eq!(history[0]["error"]["error"], "validation_failed");

    // With an open stocktake the count is recorded; an unknown one is 404, a completed one 409.
    let st = expect_json(
        app.post(
            "/api/v1/stocktakes",
            app.admin(),
            &json!({"site_id": fx.depot}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let st_path = format!("/api/v1/stocktakes/{}", s(&st, "id"));
    let count = fx.cmd("audit", &asset, 2, json!({"stocktake_id": st["id"]}));
    let r = app.scan_ok(&fx.tech, &count).await;
    assert_eq!(r["asset"], asset, "a count changes nothing on the asset");
    let st_now = app.get_ok(&st_path, app.admin()).await;
    assert_eq!(st_now["seen_count"], 1, "{st_now}");

    let unknown = fx.cmd("audit", &asset, 3, json!({"stocktake_id": Uuid::now_v7()}));
    let p = app
        .scan_refused(&fx.tech, &unknown, StatusCode::NOT_FOUND, "not_found")
        .await;
    rejected_detail(&p, &unknown["id"], "not_found");

    expect_json(
        app.post(&format!("{st_path}/complete"), app.admin(), &json!({}))
            .await,
        StatusCode::OK,
    )
    .await;
    let late = fx.cmd("audit", &asset, 4, json!({"stocktake_id": st["id"]}));
    let p = app
        .scan_refused(&fx.tech, &late, StatusCode::CONFLICT, "stocktake_closed")
        .await;
    let detail = rejected_detail(&p, &late["id"], "stocktake_closed");
    assert_eq!(detail["asset"], asset);
    assert_eq!(app.field_history(&asset).await.len(), 4);
}

async fn phone_position_moves_the_asset_only_when_newer(app: ScanApp) {
    let fx = ScanFixture::new(&app).await;
    let asset = fx.asset(&app, "PS-1").await;
    assert!(asset["position"].is_null());
    let at = |lat: f64, lon: f64| json!({"position": {"lat": lat, "lon": lon, "accuracy_m": 5.0}});

    let r = app
        .scan_ok(&fx.tech, &fx.cmd("inspect", &asset, 10, at(51.5, -0.12)))
        .await;
    let pos = &r["asset"]["position"];
    assert_eq!(
        (pos["lat"].clone(), pos["lon"].clone()),
        (json!(51.5), json!(-0.12))
    );
    assert_eq!(pos["source"], "scan");
    assert_eq!(time(&pos["at"]), time(&json!(fx.t(10))));
    let v1 = version(&r["asset"]);

    // An older fix is kept in history but does not move the asset.
    let old = fx.cmd(
        "meter",
        &asset,
        5,
        json!({"engine_hours": 1.0, "position": {"lat": 48.85, "lon": 2.35}}),
    );
    let r = app.scan_ok(&fx.tech, &old).await;
    assert_eq!(r["asset"]["position"], *pos, "{r}");
    let h = app.field_history(&asset).await;
    assert_eq!(h.last().unwrap()["command"]["position"]["lat"], 48.85);

    // A newer one does.
    let r = app
        .scan_ok(&fx.tech, &fx.cmd("inspect", &asset, 20, at(40.71, -74.0)))
        .await;
    assert_eq!(r["asset"]["position"]["lat"], 40.71);
    assert_eq!(time(&r["asset"]["position"]["at"]), time(&json!(fx.t(20))));
    assert!(version(&r["asset"]) > v1);
    assert_eq!(
        app.asset_now(&asset).await["position"],
        r["asset"]["position"]
    );

    // An impossible position is refused.
    let bad = fx.cmd("inspect", &asset, 21, at(91.0, 0.0));
    app.scan_invalid(&fx.tech, &bad, &["position"]).await;
}

async fn illegal_transitions_are_409_with_the_current_asset(app: ScanApp) {
    let fx = ScanFixture::new(&app).await;
    let broken = app
        .create_asset(
            json!({"code": "IL-1", "name": "Broken", "status": "in_maintenance",
                             "home_site_id": fx.workshop}),
        )
        .await;
    let idle = fx.asset(&app, "IL-2").await;
    let rented = fx.asset(&app, "IL-3").await;
    fx.deliver(&app, &rented, 1).await;

    // (what, command, the asset's status and site in the answer)
    let cases = [
        (
            "deliver a machine that is in maintenance",
            fx.cmd("deliver", &broken, 1, json!({"site_id": fx.customer})),
            "in_maintenance",
            Some(&fx.workshop),
        ),
        (
            "return a machine that is not on rent",
            fx.cmd("return", &idle, 1, json!({"site_id": fx.depot})),
            "available",
            None,
        ),
        (
            "transfer a machine that is on rent",
            fx.cmd("transfer", &rented, 2, json!({"site_id": fx.workshop})),
            "on_rent",
            Some(&fx.customer),
        ),
    ];
    for (what, cmd, status, site) in &cases {
        let p = app
            .scan_refused(&fx.tech, cmd, StatusCode::CONFLICT, "illegal_transition")
            .await;
        let detail = rejected_detail(&p, &cmd["id"], "illegal_transition");
        assert_eq!(detail["asset"]["status"], *status, "{what}: {p}");
        if let Some(site) = site {
            assert_eq!(detail["asset"]["site_id"], site.as_str(), "{what}: {p}");
        }
    }

    // Deliver to a depot: the destination is wrong, not the state.
    let cmd = fx.cmd("deliver", &idle, 2, json!({"site_id": fx.depot}));
    let p = app.scan_invalid(&fx.tech, &cmd, &["site_id"]).await;
    let detail = rejected_detail(&p, &cmd["id"], "validation_failed");
    assert_eq!(detail["asset"]["status"], "available");

    // None of them changed anything.
    assert_eq!(app.asset_now(&broken).await, broken);
    assert_eq!(app.asset_now(&idle).await, idle);
    assert_eq!(app.asset_now(&rented).await["status"], "on_rent");
    assert_eq!(
        app.asset_audit(&rented, Some("scan.transfer")).await.len(),
        0
    );
    let h = app.field_history(&rented).await;
    assert_eq!(h[0]["status"], "rejected");
    assert_eq!(h[0]["error"]["error"], "illegal_transition");
}

async fn replayed_command_answers_duplicate_with_the_original_result(app: ScanApp) {
    let fx = ScanFixture::new(&app).await;
    let asset = fx.asset(&app, "ID-1").await;
    let cmd = fx.cmd("deliver", &asset, 1, json!({"site_id": fx.customer}));
    let first = app.scan_ok(&fx.tech, &cmd).await;
    let audit_before = audit_total(&app).await;

    let again = expect_json(app.scan(fx.tech.as_str(), &cmd).await, StatusCode::OK).await;
    assert_eq!(again["status"], "duplicate", "{again}");
    let mut as_first = again.clone();
    as_first["status"] = json!("applied");
    assert_eq!(as_first, first, "the original answer");

    // The id is the key: even a different command under the same id is the same answer, and
    // so is a replay by another user (the admin).
    let mut other = fx.cmd("inspect", &asset, 2, json!({"engine_hours": 5.0}));
    other["id"] = cmd["id"].clone();
    for (who, token, sent) in [
        ("another command", fx.tech.as_str(), &other),
        ("the admin", app.admin(), &cmd),
    ] {
        let answer = expect_json(app.scan(token, sent).await, StatusCode::OK).await;
        assert_eq!(answer, again, "{who}");
    }

    assert_eq!(app.asset_now(&asset).await, first["asset"]);
    assert_eq!(audit_total(&app).await, audit_before);
    assert_eq!(app.field_history(&asset).await.len(), 1);
}

async fn replayed_rejection_is_the_same_http_error(app: ScanApp) {
    let fx = ScanFixture::new(&app).await;
    let asset = fx.asset(&app, "ID-2").await;
    let cmd = fx.cmd("return", &asset, 1, json!({"site_id": fx.depot}));
    let first = app
        .scan_refused(&fx.tech, &cmd, StatusCode::CONFLICT, "illegal_transition")
        .await;
    rejected_detail(&first, &cmd["id"], "illegal_transition");

    // The asset becomes rentable-and-returnable since; the replay is still the stored answer.
    fx.deliver(&app, &asset, 2).await;
    let again = app
        .scan_refused(&fx.tech, &cmd, StatusCode::CONFLICT, "illegal_transition")
        .await;
    assert_eq!(again["message"], first["message"]);
    assert_eq!(again["detail"]["id"], cmd["id"]);
    assert_eq!(again["detail"]["status"], "duplicate", "a replay: {again}");
    assert_eq!(again["detail"]["error"], first["detail"]["error"]);
    assert_eq!(
        again["detail"]["asset"], first["detail"]["asset"],
        "the original answer"
    );
    assert_eq!(
        app.asset_now(&asset).await["status"],
        "on_rent",
        "not applied now"
    );

    // A rejected validation is replayed the same way.
    let bad = fx.cmd("meter", &asset, 3, json!({}));
    let p1 = app.scan_invalid(&fx.tech, &bad, &["engine_hours"]).await;
    let p2 = app.scan_invalid(&fx.tech, &bad, &["engine_hours"]).await;
    assert_eq!(p1["fields"], p2["fields"]);
    assert_eq!(app.field_history(&asset).await.len(), 3);
}

async fn batch_applies_in_device_time_order_and_answers_in_given_order(app: ScanApp) {
    let fx = ScanFixture::new(&app).await;
    let asset = fx.asset(&app, "BA-1").await;
    let c1 = fx.cmd("deliver", &asset, 1, json!({"site_id": fx.customer}));
    let c2 = fx.cmd(
        "return",
        &asset,
        2,
        json!({"site_id": fx.depot, "inspection_passed": true}),
    );
    let c3 = fx.cmd(
        "inspect",
        &asset,
        3,
        json!({"condition": "good", "notes": "after return"}),
    );
    let results = app
        .scan_batch_ok(&fx.tech, &[c3.clone(), c1.clone(), c2.clone()])
        .await;
    assert_eq!(results.len(), 3);
    for (r, c) in results.iter().zip([&c3, &c1, &c2]) {
        assert_eq!(r["id"], c["id"], "answers in the order given: {results:?}");
        assert_eq!(r["status"], "applied", "{results:?}");
    }
    let (r3, r1, r2) = (&results[0], &results[1], &results[2]);
    // Applied t1, t2, t3: each answer shows the state right after its own command.
    assert_eq!(r1["asset"]["status"], "on_rent");
    assert_eq!(version(&r1["asset"]), version(&asset) + 1);
    assert_eq!(r2["asset"]["status"], "available");
    assert_eq!(r2["asset"]["site_id"], fx.depot.as_str());
    assert_eq!(version(&r2["asset"]), version(&asset) + 2);
    assert_eq!(
        r3["asset"], r2["asset"],
        "the inspection came last and changed nothing"
    );
    assert_eq!(app.asset_now(&asset).await, r2["asset"]);

    let deliveries = app.asset_audit(&asset, Some("scan.deliver")).await;
    let returns = app.asset_audit(&asset, Some("scan.return")).await;
    assert_eq!((deliveries.len(), returns.len()), (1, 1));
    assert!(time(&deliveries[0]["at"]) <= time(&returns[0]["at"]));
    let ids: Vec<Value> = app
        .field_history(&asset)
        .await
        .iter()
        .map(|h| h["command"]["id"].clone())
        .collect();
    assert_eq!(
        ids,
        vec![c3["id"].clone(), c2["id"].clone(), c1["id"].clone()]
    );
}

async fn batch_replay_is_all_duplicate_and_changes_nothing(app: ScanApp) {
    let fx = ScanFixture::new(&app).await;
    let asset = fx.asset(&app, "BA-2").await;
    let batch = vec![
        fx.cmd("inspect", &asset, 3, json!({"engine_hours": 50.0})),
        fx.cmd("deliver", &asset, 1, json!({"site_id": fx.customer})),
        fx.cmd("return", &asset, 2, json!({"site_id": fx.depot})),
    ];
    let firsts = app.scan_batch_ok(&fx.tech, &batch).await;
    assert_all_applied(&firsts);
    let asset_before = app.asset_now(&asset).await;
    let audit_before = audit_total(&app).await;
    let asset_audit_before = app.asset_audit(&asset, None).await.len();
    let events_before = app.db.count("SELECT COUNT(*) FROM scan_events").await;

    let agains = app.scan_batch_ok(&fx.tech, &batch).await;
    assert_eq!(agains.len(), 3);
    for (a, f) in agains.iter().zip(&firsts) {
        assert_eq!(a["status"], "duplicate", "{agains:?}");
        let mut as_first = a.clone();
        as_first["status"] = json!("applied");
        assert_eq!(as_first, *f, "the original answer");
    }
    let asset_after = app.asset_now(&asset).await;
    assert_eq!(version(&asset_after), version(&asset_before));
    assert_eq!(asset_after, asset_before);
    assert_eq!(audit_total(&app).await, audit_before);
    assert_eq!(
        app.asset_audit(&asset, None).await.len(),
        asset_audit_before
    );
    assert_eq!(
        app.db.count("SELECT COUNT(*) FROM scan_events").await,
        events_before
    );

    // Replayed one by one, the commands are duplicates too.
    let single = expect_json(app.scan(fx.tech.as_str(), &batch[1]).await, StatusCode::OK).await;
    assert_eq!(single["status"], "duplicate");
    assert_eq!(single["asset"], firsts[1]["asset"]);
}

async fn stale_deliver_is_superseded(app: ScanApp) {
    let fx = ScanFixture::new(&app).await;
    let asset = fx.asset(&app, "SU-1").await;
    fx.deliver(&app, &asset, 10).await;
    let returned = app
        .scan_ok(
            &fx.tech,
            &fx.cmd("return", &asset, 20, json!({"site_id": fx.depot})),
        )
        .await;
    let current = returned["asset"].clone();
    assert_eq!(current["status"], "available");
    let audit_before = audit_total(&app).await;

    // A phone that was offline syncs a deliver it scanned before that return.
    let stale = fx.cmd("deliver", &asset, 15, json!({"site_id": fx.customer}));
    let results = app
        .scan_batch_ok(&fx.tech, std::slice::from_ref(&stale))
        .await;
    let r = &results[0];
    assert_eq!(r["id"], stale["id"]);
    assert_eq!(r["status"], "rejected", "{r}");
    assert_eq!(r["error"]["error"], "superseded", "{r}");
    assert!(s(&r["error"], "message").contains("newer"), "{r}");
    assert_eq!(r["asset"], current, "the current state: {r}");
    assert_eq!(app.asset_now(&asset).await, current);
    assert_eq!(audit_total(&app).await, audit_before);

    // It is kept as history, in device-time order.
    let history = app.field_history(&asset).await;
    assert_eq!(history.len(), 3);
    assert_eq!(history[1]["command"]["id"], stale["id"]);
    assert_eq!(history[1]["status"], "rejected");
    assert_eq!(history[1]["error"]["error"], "superseded");

    // Sent alone, a stale command is a 409 with the current state. (An EQUAL device time is
    // not stale: it applies in arrival order, see scan_rules.rs.)
    let same = fx.cmd("deliver", &asset, 19, json!({"site_id": fx.customer}));
    let p = app
        .scan_refused(&fx.tech, &same, StatusCode::CONFLICT, "superseded")
        .await;
    let detail = rejected_detail(&p, &same["id"], "superseded");
    assert_eq!(detail["asset"], current);

    // Commands that do not change state are not superseded: an old meter reading is history.
    let old_meter = fx.cmd("meter", &asset, 12, json!({"engine_hours": 7.0}));
    let r = app.scan_ok(&fx.tech, &old_meter).await;
    assert_eq!(
        r["asset"]["engine_hours"], 7.0,
        "no reading yet, so it applies: {r}"
    );
}

async fn batch_size_is_bounded(app: ScanApp) {
    let fx = ScanFixture::new(&app).await;
    let asset = fx.asset(&app, "BS-1").await;
    let events_before = app.db.count("SELECT COUNT(*) FROM scan_events").await;

    let too_many: Vec<Value> = (0..1001)
        .map(|i| fx.cmd("lookup", &asset, i % 60, json!({})))
        .collect();
    let p = expect_fields(
        app.scan_batch(fx.tech.as_str(), &too_many).await,
        &["commands"],
    )
    .await;
    assert!(s(&p["fields"], "commands").contains("1000"), "{p}");
    expect_fields(app.scan_batch(fx.tech.as_str(), &[]).await, &["commands"]).await;
    assert_eq!(
        app.db.count("SELECT COUNT(*) FROM scan_events").await,
        events_before,
        "nothing of a refused batch is applied"
    );

    // Exactly 1000 is fine.
    let max: Vec<Value> = too_many[..1000].to_vec();
    let results = app.scan_batch_ok(&fx.tech, &max).await;
    assert_eq!(results.len(), 1000);
    assert!(results
        .iter()
        .zip(&max)
        .all(|(r, c)| r["id"] == c["id"] && r["status"] == "applied"));

    // A command of the wrong shape refuses the whole batch, naming it.
    let mut shapeless = vec![fx.cmd("lookup", &asset, 1, json!({}))];
    shapeless.push(json!({"id": Uuid::now_v7(), "action": "teleport", "device_time": fx.t(1)}));
    expect_fields(
        app.scan_batch(fx.tech.as_str(), &shapeless).await,
        &["commands[1].action"],
    )
    .await;
}

async fn batch_answers_mixed_items_one_by_one(app: ScanApp) {
    let fx = ScanFixture::new(&app).await;
    let a = fx.asset(&app, "MX-1").await;
    let b = fx.asset(&app, "MX-2").await;
    let future = (Utc::now() + chrono::Duration::hours(2))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let batch = [
        fx.cmd("deliver", &a, 1, json!({"site_id": fx.customer})),
        json!({"id": Uuid::now_v7(), "action": "lookup", "code": "NO-SUCH-9", "device_time": fx.t(2)}),
        fx.cmd("deliver", &b, 3, json!({})),
        fx.cmd("return", &b, 4, json!({"site_id": fx.depot})),
        command("inspect", &b, &future, json!({})),
    ];
    let batch = &batch[..];
    let r = app.scan_batch_ok(&fx.tech, batch).await;
    assert_eq!(r.len(), 5);
    for (result, cmd) in r.iter().zip(batch) {
        assert_eq!(result["id"], cmd["id"]);
    }
    assert_eq!(r[0]["status"], "applied");
    assert_eq!(r[0]["asset"]["status"], "on_rent");
    let expect = [
        (1, "asset_not_found", None),
        (2, "validation_failed", Some("site_id")),
        (3, "illegal_transition", None),
        (4, "validation_failed", Some("device_time")),
    ];
    for (i, error, field) in expect {
        assert_eq!(r[i]["status"], "rejected", "#{i}: {r:?}");
        assert_eq!(r[i]["error"]["error"], error, "#{i}: {r:?}");
        if let Some(f) = field {
            assert!(r[i]["error"]["fields"][f].is_string(), "#{i}: {r:?}");
        }
    }
    assert!(r[1].get("asset").is_none(), "no asset for an unknown code");
    assert_eq!(r[3]["asset"]["status"], "available", "the current state");
    assert_eq!(app.asset_now(&a).await["status"], "on_rent");
    assert_eq!(app.asset_now(&b).await, b);
    // Rejections are stored: the batch replayed answers the same, as duplicates.
    let again = app.scan_batch_ok(&fx.tech, batch).await;
    for (x, y) in again.iter().zip(&r) {
        assert_eq!(x["status"], "duplicate");
        assert_eq!(x["error"], y["error"]);
    }

    // The same command twice in one batch (a phone that queued it twice) applies once.
    let c = fx.asset(&app, "MX-3").await;
    let twice = fx.cmd("deliver", &c, 6, json!({"site_id": fx.customer}));
    let r = app.scan_batch_ok(&fx.tech, &[twice.clone(), twice]).await;
    assert_eq!(
        (&r[0]["status"], &r[1]["status"]),
        (&json!("applied"), &json!("duplicate"))
    );
    assert_eq!(r[0]["asset"], r[1]["asset"]);
    assert_eq!(app.asset_audit(&c, Some("scan.deliver")).await.len(), 1);
}

async fn concurrent_identical_commands_apply_once(app: ScanApp) {
    let fx = ScanFixture::new(&app).await;
    let asset = fx.asset(&app, "CC-1").await;
    let cmd = fx.cmd(
        "deliver",
        &asset,
        1,
        json!({"site_id": fx.customer, "engine_hours": 12.0}),
    );
    let results = app.scan_all(&fx.tech, &vec![cmd; 8]).await;
    let applied: Vec<&Value> = results
        .iter()
        .filter(|r| r["status"] == "applied")
        .collect();
    let duplicates = results
        .iter()
        .filter(|r| r["status"] == "duplicate")
        .count();
    assert_eq!(applied.len(), 1, "{results:?}");
    assert_eq!(duplicates, 7, "{results:?}");
    for r in &results {
        assert_eq!(
            r["asset"], applied[0]["asset"],
            "every answer is the original: {r}"
        );
    }
    let now = app.asset_now(&asset).await;
    assert_eq!(now["status"], "on_rent");
    assert_eq!(version(&now), version(&asset) + 1);
    assert_eq!(app.asset_audit(&asset, Some("scan.deliver")).await.len(), 1);
    assert_eq!(app.field_history(&asset).await.len(), 1);
}

async fn viewer_is_forbidden_and_no_token_is_unauthenticated(app: ScanApp) {
    let fx = ScanFixture::new(&app).await;
    let asset = fx.asset(&app, "AZ-1").await;
    let cmd = fx.cmd("deliver", &asset, 1, json!({"site_id": fx.customer}));
    let photo = tiny_png();

    expect_forbidden(app.scan(fx.viewer.as_str(), &cmd).await).await;
    expect_forbidden(
        app.scan_batch(fx.viewer.as_str(), std::slice::from_ref(&cmd))
            .await,
    )
    .await;
    expect_forbidden(
        app.upload_photo(fx.viewer.as_str(), "image/png", photo.clone())
            .await,
    )
    .await;
    expect_forbidden(
        app.scan_with_photo(fx.viewer.as_str(), &cmd, photo.clone(), "image/png")
            .await,
    )
    .await;

    expect_unauthenticated(app.scan(None, &cmd).await).await;
    expect_unauthenticated(app.scan_batch(None, std::slice::from_ref(&cmd)).await).await;
    expect_unauthenticated(app.upload_photo(None, "image/png", photo.clone()).await).await;
    expect_unauthenticated(app.scan_with_photo(None, &cmd, photo, "image/png").await).await;

    // Nothing was recorded, and a viewer may still read the history.
    assert_eq!(app.db.count("SELECT COUNT(*) FROM scan_events").await, 0);
    assert_eq!(app.db.count("SELECT COUNT(*) FROM photos").await, 0);
    assert_eq!(app.asset_now(&asset).await, asset);
    let path = format!("/api/v1/assets/{}/field-history", s(&asset, "id"));
    let history = app.get_ok(&path, fx.viewer.as_str()).await;
    assert_eq!(history, json!([]));
    expect_unauthenticated(app.get(&path, None).await).await;
    // The technician's own command goes through.
    app.scan_ok(&fx.tech, &cmd).await;
}

async fn concurrent_different_commands_do_not_lose_updates(app: ScanApp) {
    let fx = ScanFixture::new(&app).await;
    let assets = fx.assets(&app, "LU", 12).await;
    // Per asset, at once: a meter reading and a transfer (newer device time). Whatever order
    // they are applied in, both apply, and neither undoes the other's change.
    let commands: Vec<Value> = assets
        .iter()
        .flat_map(|a| {
            [
                fx.cmd("meter", a, 5, json!({"engine_hours": 200.0})),
                fx.cmd("transfer", a, 6, json!({"site_id": fx.workshop})),
            ]
        })
        .collect();
    assert_all_applied(&app.scan_all(&fx.tech, &commands).await);
    for a in &assets {
        let now = app.asset_now(a).await;
        assert_eq!(now["engine_hours"], 200.0, "{now}");
        assert_eq!(now["site_id"], fx.workshop.as_str(), "{now}");
        assert_eq!(version(&now), version(a) + 2, "{now}");
    }
}

/// More commands at once than the database pool has connections (8), each found by its scanned
/// code: resolving the code must not wait for a second connection while the command's
/// transaction holds one (it did, and on PostgreSQL every command then timed out with 503).
async fn concurrent_code_scans_do_not_starve_the_pool(app: ScanApp) {
    let fx = ScanFixture::new(&app).await;
    let assets = fx.assets(&app, "PS", 6).await;
    let commands: Vec<Value> = (0..24)
        .map(|k| {
            let a = &assets[k % assets.len()];
            let mut c = fx.cmd("lookup", a, 1, json!({}));
            c["code"] = a["code"].clone();
            c.as_object_mut().unwrap().remove("asset_id");
            c
        })
        .collect();
    // A starved request waits out the pool's acquire timeout and is answered 503.
    assert_all_applied(&app.scan_all(&fx.tech, &commands).await);
}
