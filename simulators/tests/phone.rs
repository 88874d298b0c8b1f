#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The phone simulator against a real server (in process, on 127.0.0.1:0, SQLite — and
//! PostgreSQL when `FIELDOPS_TEST_POSTGRES_URL` is set), started with the API tests' own
//! harness. The simulator's summary must agree with what the server stored: every command
//! recorded once, re-sends answered `duplicate`, assets where the last applied deliver or return
//! left them, a replayed offline queue changing nothing, and a stocktake report that adds up.

#[path = "../../api/tests/common/mod.rs"]
mod common;

use std::collections::BTreeMap;

use common::*;
use mobile_shared::scan::{FieldAction, MAX_BATCH};
use reqwest::StatusCode;
use serde_json::{json, Value};
use simulators::phone::{run_phones, PhoneConfig, PhoneRun, StocktakeChoice};

domain::backend_matrix!(ScanApp: phone_simulation_agrees_with_the_server);

const TECH: &str = "sim-tech";

/// Two depots (the first with `n` available assets), a customer site, and a technician.
async fn registry(app: &TestApp, n: usize) {
    let site = |name: &str, kind: &str, lat: f64| json!({"name": name, "kind": kind, "location": {"lat": lat, "lon": 11.57}});
    let depot = app.create_site(site("Depot A", "depot", 48.10)).await;
    app.create_site(site("Depot B", "depot", 48.20)).await;
    app.create_site(site("Customer yard", "customer_site", 48.15))
        .await;
    for i in 1..=n {
        app.create_asset(json!({
            "code": format!("SIM-{i:03}"),
            "name": format!("Excavator {i}"),
            "site_id": depot["id"],
            "home_site_id": depot["id"],
        }))
        .await;
    }
    let user = json!({"username": TECH, "password": USER_PASSWORD, "role": "technician"});
    expect_json(
        app.post("/api/v1/users", app.admin(), &user).await,
        StatusCode::CREATED,
    )
    .await;
}

async fn simulate(app: &TestApp) -> PhoneRun {
    let mut config = PhoneConfig::new(&app.base, TECH, USER_PASSWORD);
    config.phones = 3;
    config.rounds = 5;
    config.photo_share = 0.4;
    config.offline_share = 0.5;
    config.duplicate_share = 0.3;
    config.stocktake = StocktakeChoice::Site("depot a".into());
    config.seed = 7;
    run_phones(config, None).await.expect("simulation starts")
}

async fn phone_simulation_agrees_with_the_server(app: ScanApp) {
    registry(&app, 24).await;
    let run = simulate(&app).await;
    let s = &run.summary;
    println!("{s}");
    assert!(!s.failed(), "{s}");
    assert_eq!(s.actions.unexpected_rejections(), 0, "{s}");

    check_tallies(&run);
    check_recorded(&app, &run).await;
    check_assets(&app, &run).await;
    check_offline_replay(&app, &run).await;
    check_stocktake(&app, &run).await;
}

/// Every first send has one outcome; every re-send was answered `duplicate`; the run exercised
/// what it is for.
fn check_tallies(run: &PhoneRun) {
    let s = &run.summary;
    for (action, t) in &s.actions.0 {
        assert_eq!(
            t.applied + t.rejected_total() + t.failed,
            t.sent,
            "{action}: {t:?}"
        );
        assert_eq!(
            t.duplicate, t.resent,
            "{action}: every re-send is a duplicate"
        );
        assert_eq!(t.failed, 0, "{action}");
    }
    let total = s.actions.total();
    assert!(total.resent > 0, "no duplicates were sent: {s}");
    assert!(s.offline_commands > 0 && s.batches > 0, "{s}");
    assert!(s.photos_with_commands > 0 && s.photos_uploaded > 0, "{s}");
    assert_eq!(s.photos_decoded, s.photos_with_commands, "{s}");
    let superseded = s.actions.0["deliver"].rejected.get("superseded").copied();
    assert!(
        superseded.unwrap_or(0) > 0,
        "no stale offline delivery: {s}"
    );
    assert_eq!(s.http_errors, BTreeMap::new());
}

/// The server recorded each first send exactly once, rejected ones included.
async fn check_recorded(app: &TestApp, run: &PhoneRun) {
    let total = run.summary.actions.total();
    let db = &app.db;
    assert_eq!(
        db.count("SELECT COUNT(*) FROM scan_events").await as u64,
        total.applied + total.rejected_total()
    );
    assert_eq!(
        db.count("SELECT COUNT(*) FROM scan_events WHERE status = 'rejected'")
            .await as u64,
        total.rejected_total()
    );
    let superseded = run.summary.actions.0["deliver"].rejected["superseded"];
    assert_eq!(
        db.count("SELECT COUNT(*) FROM scan_events WHERE error = 'superseded'")
            .await as u64,
        superseded
    );
}

/// Each asset is where its newest applied deliver or return left it: on rent at the customer,
/// or back at a depot (available, or in maintenance after a damaged return).
async fn check_assets(app: &TestApp, run: &PhoneRun) {
    assert!(!run.last_state_change.is_empty());
    let mut on_rent = 0;
    for (id, change) in &run.last_state_change {
        let asset = app.asset_now(&json!({"id": id})).await;
        assert_eq!(asset["site_id"], change.site_id.to_string(), "{asset}");
        let status = asset["status"].as_str().unwrap();
        match change.action {
            FieldAction::Deliver => {
                assert_eq!(status, "on_rent", "{asset}");
                on_rent += 1;
            }
            FieldAction::Return => {
                assert!(matches!(status, "available" | "in_maintenance"), "{asset}");
                assert_eq!(status, change.status.as_str(), "{asset}");
            }
            other => panic!("{other:?} is no state change"),
        }
    }
    // Each phone's last delivery stays on rent; nothing else is left out there.
    let listed = app
        .get("/api/v1/assets?status=on_rent&limit=500", app.admin())
        .await;
    let listed = expect_json(listed, StatusCode::OK).await;
    assert_eq!(listed["items"].as_array().unwrap().len(), on_rent);
    assert!(on_rent > 0 && on_rent <= 3, "{on_rent}");
}

/// Sending the whole offline queue again answers every command `duplicate` and changes nothing.
async fn check_offline_replay(app: &TestApp, run: &PhoneRun) {
    let before = snapshot(app, run).await;
    let events = app.db.count("SELECT COUNT(*) FROM scan_events").await;
    for chunk in run.offline_commands.chunks(MAX_BATCH) {
        let commands: Vec<Value> = chunk
            .iter()
            .map(|c| serde_json::to_value(c).unwrap())
            .collect();
        let body = expect_json(app.scan_batch(app.admin(), &commands).await, StatusCode::OK).await;
        for (c, r) in chunk.iter().zip(body["results"].as_array().unwrap()) {
            assert_eq!(r["id"], c.id.to_string());
            assert_eq!(r["status"], "duplicate", "{r}");
        }
    }
    assert_eq!(
        app.db.count("SELECT COUNT(*) FROM scan_events").await,
        events
    );
    assert_eq!(snapshot(app, run).await, before, "a replay changed assets");
}

/// (status, site, version) of every asset the phones moved.
async fn snapshot(app: &TestApp, run: &PhoneRun) -> Vec<(Value, Value, Value)> {
    let mut out = Vec::new();
    for id in run.last_state_change.keys() {
        let a = app.asset_now(&json!({"id": id})).await;
        out.push((
            a["status"].clone(),
            a["site_id"].clone(),
            a["version"].clone(),
        ));
    }
    out
}

/// The stocktake's counts add up, and the server's report says the same.
async fn check_stocktake(app: &TestApp, run: &PhoneRun) {
    let st = run.summary.stocktake.as_ref().expect("a stocktake ran");
    assert_eq!(st.site, "Depot A");
    assert!(
        st.tags_attached > 0 && st.bursts > 0 && st.replay_added_nothing,
        "{st:?}"
    );
    assert!(st.reads > st.new_assets, "RFID reads repeat: {st:?}");
    assert_eq!(st.found, st.planned_seen_here, "{st:?}");
    assert_eq!(st.found + st.missing, st.expected, "{st:?}");
    assert!(st.missing > 0, "{st:?}");
    assert_eq!(
        st.unexpected + st.wrong_location,
        st.planned_elsewhere,
        "{st:?}"
    );
    assert!(st.wrong_location > 0, "{st:?}");
    assert_eq!(st.unknown_codes, st.planned_unknown, "{st:?}");
    let path = format!("/api/v1/stocktakes/{}/report", st.stocktake_id);
    let report = expect_json(app.get(&path, app.admin()).await, StatusCode::OK).await;
    assert_eq!(report["stocktake"]["status"], "completed");
    let len = |k: &str| report[k].as_array().unwrap().len() as u64;
    assert_eq!(len("found"), st.found);
    assert_eq!(len("missing"), st.missing);
    assert_eq!(len("wrong_location"), st.wrong_location);
    assert_eq!(len("unknown_codes"), st.unknown_codes);
    let tagged = app
        .db
        .count(
            "SELECT COUNT(*) FROM asset_identifiers WHERE kind = 'rfid_epc' AND removed_at IS NULL",
        )
        .await as u64;
    assert_eq!(tagged, st.tags_attached);
}
