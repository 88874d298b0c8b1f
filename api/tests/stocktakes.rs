//! Stocktakes over HTTP: starting a count, scan bursts (RFID repeats, replays, unknown codes,
//! concurrent technicians), completion, the report, resolutions and who may do what.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;

use common::*;
use mobile_shared::Role;
use reqwest::StatusCode;
use serde_json::{json, Value};

domain::backend_matrix!(
    TestApp:
    start_get_and_list,
    rfid_burst_is_deduplicated_and_replay_is_idempotent,
    concurrent_technicians_count_each_asset_once,
    completed_stocktake_refuses_scans,
    report_classifies_and_resolutions_fix_the_registry,
    readers_may_read_and_only_counters_may_write,
    invalid_requests_name_the_field,
    routes_are_documented,
);

fn epc(i: usize) -> String {
    format!("E280{i:020X}")
}

/// Creates a site and returns its id.
async fn site(app: &TestApp, name: &str) -> String {
    let site = app
        .create_site(json!({"name": name, "kind": "depot"}))
        .await;
    s(&site, "id").to_owned()
}

/// Creates an asset recorded at `site_id` (or at no site).
async fn asset_at(app: &TestApp, code: &str, site_id: Option<&str>) -> Value {
    app.create_asset(json!({"code": code, "name": format!("Machine {code}"), "site_id": site_id}))
        .await
}

async fn start(app: &TestApp, token: &str, site_id: &str) -> Value {
    expect_json(
        app.post("/api/v1/stocktakes", token, &json!({"site_id": site_id}))
            .await,
        StatusCode::CREATED,
    )
    .await
}

async fn scan(app: &TestApp, token: &str, id: &str, codes: &[String]) -> Value {
    expect_json(
        app.post(
            &format!("/api/v1/stocktakes/{id}/scans"),
            token,
            &json!({"codes": codes}),
        )
        .await,
        StatusCode::OK,
    )
    .await
}

/// The report of stocktake `id`, read with `token`.
async fn get_report(app: &TestApp, token: &str, id: &str) -> Value {
    app.get_ok(&format!("/api/v1/stocktakes/{id}/report"), token)
        .await
}

/// Completes stocktake `id` with `token`; returns the final report.
async fn complete_stocktake(app: &TestApp, token: &str, id: &str) -> Value {
    let path = format!("/api/v1/stocktakes/{id}/complete");
    app.post_expect(&path, token, &json!({}), StatusCode::OK)
        .await
}

/// Assets `code(0)`, `code(1)`, … at `site`, asset `i` tagged with the RFID EPC `epc(i)`.
async fn rfid_assets(app: &TestApp, site: &str, n: usize, code: impl Fn(usize) -> String) {
    for i in 0..n {
        let a = asset_at(app, &code(i), Some(site)).await;
        app.tag(&a, "rfid_epc", &epc(i)).await;
    }
}

fn strings(values: &[&str]) -> Vec<String> {
    values.iter().map(|v| (*v).to_owned()).collect()
}

/// The codes of a list of assets in a report.
fn codes_of(list: &Value) -> BTreeSet<String> {
    list.as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|a| s(a, "code").to_owned())
        .collect()
}

fn set(codes: &[&str]) -> BTreeSet<String> {
    codes.iter().map(|c| (*c).to_owned()).collect()
}

async fn start_get_and_list(app: TestApp) {
    let here = site(&app, "Yard").await;
    let there = site(&app, "Other").await;
    asset_at(&app, "EX-1", Some(&here)).await;
    asset_at(&app, "EX-2", Some(&here)).await;
    asset_at(&app, "EX-3", Some(&there)).await;

    let st = start(&app, app.admin(), &here).await;
    assert_eq!(st["site_id"], here.as_str());
    assert_eq!(st["status"], "open");
    assert_eq!(st["started_by"], "admin");
    assert!(st["started_at"].is_string());
    assert_eq!(st["expected_count"], 2);
    assert_eq!(st["seen_count"], 0);
    assert_eq!(st["unknown_count"], 0);
    assert_eq!(st["completed_at"], Value::Null);
    let path = format!("/api/v1/stocktakes/{}", s(&st, "id"));
    assert_eq!(app.get_ok(&path, app.admin()).await, st);

    let second = start(&app, app.admin(), &there).await;
    let third = start(&app, app.admin(), &here).await;
    complete_stocktake(&app, app.admin(), s(&st, "id")).await;

    // Pages of one, oldest first, without gaps or repeats.
    let mut seen = Vec::new();
    let mut url = "/api/v1/stocktakes?limit=1".to_owned();
    loop {
        let page = app.get_ok(&url, app.admin()).await;
        for item in page["items"].as_array().unwrap() {
            seen.push(s(item, "id").to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(c) => url = format!("/api/v1/stocktakes?limit=1&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(
        seen,
        vec![
            s(&st, "id").to_owned(),
            s(&second, "id").to_owned(),
            s(&third, "id").to_owned()
        ]
    );
    let open_here = app
        .get_ok(
            &format!("/api/v1/stocktakes?site_id={here}&status=open"),
            app.admin(),
        )
        .await;
    let items = open_here["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["id"], third["id"]);
    let completed = app
        .get_ok("/api/v1/stocktakes?status=completed", app.admin())
        .await;
    assert_eq!(completed["items"].as_array().unwrap().len(), 1);
    assert_eq!(completed["items"][0]["status"], "completed");
    assert!(completed["items"][0]["completed_at"].is_string());

    let log = app
        .audit(&[("action", "stocktake.start"), ("entity_id", s(&st, "id"))])
        .await;
    assert_eq!(log.len(), 1);
    assert_eq!(log[0]["after"]["expected_count"], 2);

    let missing = format!("/api/v1/stocktakes/{}", uuid::Uuid::now_v7());
    expect_not_found(app.get(&missing, app.admin()).await).await;
    expect_not_found(app.get("/api/v1/stocktakes/not-a-uuid", app.admin()).await).await;
}

async fn rfid_burst_is_deduplicated_and_replay_is_idempotent(app: TestApp) {
    let here = site(&app, "Yard").await;
    rfid_assets(&app, &here, 100, |i| format!("RF-{i:03}")).await;
    let tech = app.user_with_role(Role::Technician).await;
    let st = start(&app, tech.as_str(), &here).await;
    let id = s(&st, "id").to_owned();
    // 500 reads: 95 tags read 5 times (some in lower case), plus 25 reads of 5 foreign tags.
    let mut burst = Vec::new();
    for round in 0..5 {
        for i in 0..95 {
            let e = epc((i * 3 + round) % 95);
            burst.push(if round == 2 { e.to_lowercase() } else { e });
        }
    }
    for i in 0..25 {
        burst.push(format!("ABCD{:020X}", i % 5));
    }
    assert_eq!(burst.len(), 500);
    let first = scan(&app, tech.as_str(), &id, &burst).await;
    assert_eq!(first["accepted"], 500);
    assert_eq!(first["new_assets"], 95);
    assert_eq!(first["repeats"], 475 - 95);
    let unknown: Vec<String> = first["unknown"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        unknown,
        (0..5).map(|i| format!("ABCD{i:020X}")).collect::<Vec<_>>()
    );

    let replay = scan(&app, tech.as_str(), &id, &burst).await;
    assert_eq!(replay["accepted"], 500);
    assert_eq!(replay["new_assets"], 0);
    assert_eq!(replay["repeats"], 475);
    assert_eq!(replay["unknown"], first["unknown"]);

    let got = app
        .get_ok(&format!("/api/v1/stocktakes/{id}"), tech.as_str())
        .await;
    assert_eq!(got["expected_count"], 100);
    assert_eq!(got["seen_count"], 95);
    assert_eq!(got["unknown_count"], 5);
    let report = get_report(&app, tech.as_str(), &id).await;
    assert_eq!(report["found"].as_array().unwrap().len(), 95);
    assert_eq!(
        codes_of(&report["missing"]),
        (95..100).map(|i| format!("RF-{i:03}")).collect()
    );
    for u in report["unknown_codes"].as_array().unwrap() {
        assert_eq!(u["reads"], 10, "5 reads per burst, two bursts: {u}");
    }
    // One audit entry per burst, with its counts.
    let log = app
        .audit(&[("action", "stocktake.scan"), ("entity_id", &id)])
        .await;
    assert_eq!(log.len(), 2);
    assert!(log.iter().any(|e| e["after"]["new_assets"] == 95));
    assert!(log.iter().all(|e| e["after"]["unknown"] == 5));
}

async fn concurrent_technicians_count_each_asset_once(app: TestApp) {
    let here = site(&app, "Yard").await;
    rfid_assets(&app, &here, 80, |i| format!("CC-{i:02}")).await;
    let st = start(&app, app.admin(), &here).await;
    let url = app.url(&format!("/api/v1/stocktakes/{}/scans", s(&st, "id")));
    let mut tokens = Vec::new();
    for _ in 0..4 {
        tokens.push(app.user_with_role(Role::Technician).await);
    }
    let mut total_new = 0;
    for round in 0..3usize {
        let mut tasks = Vec::new();
        for (k, token) in tokens.iter().enumerate() {
            // Four technicians walking overlapping rows; each reader reports every tag 3 times.
            let mut burst: Vec<String> = (0..40).map(|j| epc((k * 15 + j + round) % 80)).collect();
            let once = burst.clone();
            burst.extend(once.iter().rev().cloned());
            burst.extend(once);
            let client = app.client.clone();
            let url = url.clone();
            let token = token.clone();
            tasks.push(tokio::spawn(async move {
                let resp = client
                    .post(&url)
                    .bearer_auth(token)
                    .json(&json!({"codes": burst}))
                    .send()
                    .await
                    .unwrap();
                expect_json(resp, StatusCode::OK).await
            }));
        }
        for t in tasks {
            let r = t.await.unwrap();
            assert_eq!(r["accepted"], 120);
            assert_eq!(
                r["new_assets"].as_u64().unwrap() + r["repeats"].as_u64().unwrap(),
                120
            );
            assert_eq!(r["unknown"], json!([]));
            total_new += r["new_assets"].as_u64().unwrap();
        }
    }
    assert_eq!(total_new, 80, "each asset is new to exactly one burst");
    let report = get_report(&app, app.admin(), s(&st, "id")).await;
    assert_eq!(report["stocktake"]["seen_count"], 80);
    assert_eq!(report["found"].as_array().unwrap().len(), 80);
    assert_eq!(report["missing"], json!([]));
    assert_eq!(
        app.db
            .count("SELECT CAST(SUM(reads) AS BIGINT) FROM stocktake_seen")
            .await,
        3 * 4 * 120
    );
}

async fn completed_stocktake_refuses_scans(app: TestApp) {
    let here = site(&app, "Yard").await;
    asset_at(&app, "EX-1", Some(&here)).await;
    asset_at(&app, "EX-2", Some(&here)).await;
    let tech = app.user_with_role(Role::Technician).await;
    let st = start(&app, tech.as_str(), &here).await;
    let id = s(&st, "id").to_owned();
    scan(&app, tech.as_str(), &id, &strings(&["EX-1"])).await;

    let report = complete_stocktake(&app, tech.as_str(), &id).await;
    assert_eq!(report["stocktake"]["status"], "completed");
    assert!(report["stocktake"]["completed_at"].is_string());
    assert_eq!(codes_of(&report["found"]), set(&["EX-1"]));
    assert_eq!(codes_of(&report["missing"]), set(&["EX-2"]));

    let body = expect_problem(
        app.post(
            &format!("/api/v1/stocktakes/{id}/scans"),
            tech.as_str(),
            &json!({"codes": ["EX-2"]}),
        )
        .await,
        StatusCode::CONFLICT,
        "stocktake_closed",
    )
    .await;
    assert_eq!(body["detail"]["status"], "completed");
    // Completing again is harmless and answers the same report.
    let again = complete_stocktake(&app, tech.as_str(), &id).await;
    assert_eq!(again, report);
    let got = get_report(&app, tech.as_str(), &id).await;
    assert_eq!(got, report);
    expect_not_found(
        app.post(
            &format!("/api/v1/stocktakes/{}/complete", uuid::Uuid::now_v7()),
            tech.as_str(),
            &json!({}),
        )
        .await,
    )
    .await;
}

async fn report_classifies_and_resolutions_fix_the_registry(app: TestApp) {
    let here = site(&app, "Yard").await;
    let there = site(&app, "Other").await;
    let e1 = asset_at(&app, "EX-1", Some(&here)).await;
    let e2 = asset_at(&app, "EX-2", Some(&here)).await;
    let e3 = asset_at(&app, "EX-3", Some(&here)).await;
    let w = asset_at(&app, "WL-1", Some(&there)).await;
    let u = asset_at(&app, "UN-1", None).await;
    // EX-3 is in the workshop: it cannot become lost.
    let e3 = expect_json(
        app.patch(
            &format!("/api/v1/assets/{}", s(&e3, "id")),
            app.admin(),
            &json!({"version": e3["version"], "status": "in_maintenance"}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let tech = app.user_with_role(Role::Technician).await;
    let dispatcher = app.user_with_role(Role::Dispatcher).await;
    let st = start(&app, tech.as_str(), &here).await;
    let id = s(&st, "id").to_owned();
    let r = scan(
        &app,
        tech.as_str(),
        &id,
        &strings(&[
            "EX-1",
            "http://127.0.0.1:8080/a/WL-1",
            "un-1",
            "EX-1",
            "MYSTERY-7",
        ]),
    )
    .await;
    assert_eq!(
        r,
        json!({"accepted": 5, "new_assets": 3, "repeats": 1, "unknown": ["MYSTERY-7"]})
    );

    let report = complete_stocktake(&app, tech.as_str(), &id).await;
    assert_eq!(codes_of(&report["found"]), set(&["EX-1"]));
    assert_eq!(codes_of(&report["missing"]), set(&["EX-2", "EX-3"]));
    assert_eq!(codes_of(&report["unexpected"]), set(&["UN-1"]));
    let wrong = report["wrong_location"].as_array().unwrap();
    assert_eq!(wrong.len(), 1);
    assert_eq!(wrong[0]["asset"]["id"], w["id"]);
    assert_eq!(wrong[0]["recorded_site_id"], there.as_str());
    assert_eq!(
        report["unknown_codes"],
        json!([{"value": "MYSTERY-7", "reads": 1}])
    );
    // Assets in the report are the registry's own representation.
    let e1_now = app
        .get_ok(&format!("/api/v1/assets/{}", s(&e1, "id")), app.admin())
        .await;
    assert_eq!(report["found"][0], e1_now);

    let path = format!("/api/v1/stocktakes/{id}/resolve");
    let resolve = async |asset: &Value, resolution: &str| {
        let body = json!({"asset_id": asset["id"], "resolution": resolution});
        app.post(&path, dispatcher.as_str(), &body).await
    };
    // move_here: the machine at the wrong site, and the one recorded nowhere.
    for a in [&w, &u] {
        let moved = expect_json(resolve(a, "move_here").await, StatusCode::OK).await;
        assert_eq!(moved["site_id"], here.as_str());
        assert_eq!(moved["version"], a["version"].as_i64().unwrap() + 1);
    }
    // mark_lost: the missing machine.
    let lost = expect_json(resolve(&e2, "mark_lost").await, StatusCode::OK).await;
    assert_eq!(lost["status"], "lost");
    assert_eq!(lost["version"], e2["version"].as_i64().unwrap() + 1);
    // in_maintenance -> lost is not allowed: 409 with the current state. A seen machine is not
    // lost; an unseen one cannot be moved here.
    // (asset, resolution, error, the asset's current status in the answer)
    for (asset, resolution, code, current) in [
        (
            &e3,
            "mark_lost",
            "illegal_transition",
            Some("in_maintenance"),
        ),
        (&e1, "mark_lost", "resolution_not_applicable", None),
        (&e2, "move_here", "resolution_not_applicable", None),
    ] {
        let resp = resolve(asset, resolution).await;
        let body = expect_problem(resp, StatusCode::CONFLICT, code).await;
        if let Some(status) = current {
            let case = format!("{resolution} {}", s(asset, "code"));
            assert_eq!(body["detail"]["current_status"], status, "{case}: {body}");
        }
    }

    let after = get_report(&app, tech.as_str(), &id).await;
    assert_eq!(codes_of(&after["found"]), set(&["EX-1", "UN-1", "WL-1"]));
    assert_eq!(after["unexpected"], json!([]));
    assert_eq!(after["wrong_location"], json!([]));
    assert_eq!(codes_of(&after["missing"]), set(&["EX-2", "EX-3"]));

    // Each resolution wrote the asset change and the resolution to the audit log.
    let log = app
        .audit(&[("action", "stocktake.resolve"), ("entity_id", &id)])
        .await;
    let resolutions: BTreeSet<(String, String)> = log
        .iter()
        .map(|e| {
            (
                s(&e["after"], "asset_id").to_owned(),
                s(&e["after"], "resolution").to_owned(),
            )
        })
        .collect();
    assert_eq!(
        resolutions,
        BTreeSet::from([
            (s(&w, "id").to_owned(), "move_here".to_owned()),
            (s(&u, "id").to_owned(), "move_here".to_owned()),
            (s(&e2, "id").to_owned(), "mark_lost".to_owned()),
        ])
    );
    let e2_log = app
        .audit(&[("action", "asset.update"), ("entity_id", s(&e2, "id"))])
        .await;
    assert_eq!(e2_log.len(), 1);
    assert_eq!(e2_log[0]["before"]["status"], "available");
    assert_eq!(e2_log[0]["after"]["status"], "lost");
    let w_log = app
        .audit(&[("action", "asset.update"), ("entity_id", s(&w, "id"))])
        .await;
    assert_eq!(w_log[0]["before"]["site_id"], there.as_str());
    assert_eq!(w_log[0]["after"]["site_id"], here.as_str());
}

async fn readers_may_read_and_only_counters_may_write(app: TestApp) {
    let here = site(&app, "Yard").await;
    let a = asset_at(&app, "EX-1", Some(&here)).await;
    let st = start(&app, app.admin(), &here).await;
    let id = s(&st, "id").to_owned();
    let scans = format!("/api/v1/stocktakes/{id}/scans");
    let complete = format!("/api/v1/stocktakes/{id}/complete");
    let resolve = format!("/api/v1/stocktakes/{id}/resolve");
    let lost = json!({"asset_id": a["id"], "resolution": "mark_lost"});

    for role in [Role::Viewer, Role::RentalOffice] {
        let token = app.user_with_role(role).await;
        for path in [
            format!("/api/v1/stocktakes/{id}"),
            format!("/api/v1/stocktakes/{id}/report"),
            "/api/v1/stocktakes".to_owned(),
        ] {
            app.get_ok(&path, token.as_str()).await;
        }
        for (path, body) in [
            ("/api/v1/stocktakes", json!({"site_id": here})),
            (scans.as_str(), json!({"codes": ["EX-1"]})),
            (complete.as_str(), json!({})),
            (resolve.as_str(), lost.clone()),
        ] {
            expect_forbidden(app.post(path, token.as_str(), &body).await).await;
        }
    }
    expect_unauthenticated(app.get("/api/v1/stocktakes", None).await).await;
    expect_unauthenticated(app.post(&scans, None, &json!({"codes": ["EX-1"]})).await).await;

    // Technicians count; resolving changes the asset record, which is a dispatcher's call.
    let tech = app.user_with_role(Role::Technician).await;
    start(&app, tech.as_str(), &here).await;
    scan(&app, tech.as_str(), &id, &strings(&["nothing-here"])).await;
    expect_forbidden(app.post(&resolve, tech.as_str(), &lost).await).await;
    let dispatcher = app.user_with_role(Role::Dispatcher).await;
    let marked = expect_json(
        app.post(&resolve, dispatcher.as_str(), &lost).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(marked["status"], "lost");
    // Nothing a refused caller sent was recorded.
    assert_eq!(app.db.count("SELECT COUNT(*) FROM stocktake_seen").await, 0);
    assert_eq!(
        app.db
            .count("SELECT COUNT(*) FROM stocktakes WHERE status = 'completed'")
            .await,
        0
    );
}

async fn invalid_requests_name_the_field(app: TestApp) {
    let here = site(&app, "Yard").await;
    expect_fields(
        app.post(
            "/api/v1/stocktakes",
            app.admin(),
            &json!({"site_id": uuid::Uuid::now_v7()}),
        )
        .await,
        &["site_id"],
    )
    .await;
    expect_fields(
        app.post("/api/v1/stocktakes", app.admin(), &json!({}))
            .await,
        &["site_id"],
    )
    .await;
    expect_fields(
        app.post(
            "/api/v1/stocktakes",
            app.admin(),
            &json!({"site_id": here, "extra": 1}),
        )
        .await,
        &["extra"],
    )
    .await;
    let st = start(&app, app.admin(), &here).await;
    let scans = format!("/api/v1/stocktakes/{}/scans", s(&st, "id"));
    for (body, field) in [
        (json!({"codes": []}), "codes"),
        (json!({"codes": vec!["EX-1"; 2001]}), "codes"),
        (json!({}), "codes"),
        (json!({"codes": "EX-1"}), "codes"),
        (json!({"codes": ["EX-1", "  "]}), "codes[1]"),
        (json!({"codes": ["EX-1", 7]}), "codes[1]"),
    ] {
        expect_fields(app.post(&scans, app.admin(), &body).await, &[field]).await;
    }
    app.get_invalid("/api/v1/stocktakes?status=closed", &["query"])
        .await;
    expect_fields(
        app.post(
            &format!("/api/v1/stocktakes/{}/resolve", s(&st, "id")),
            app.admin(),
            &json!({"asset_id": uuid::Uuid::now_v7(), "resolution": "burn_it"}),
        )
        .await,
        &["resolution"],
    )
    .await;
    expect_not_found(
        app.post(
            &format!("/api/v1/stocktakes/{}/scans", uuid::Uuid::now_v7()),
            app.admin(),
            &json!({"codes": ["EX-1"]}),
        )
        .await,
    )
    .await;
    assert_eq!(
        app.db.count("SELECT COUNT(*) FROM stocktake_unknown").await,
        0
    );
}

async fn routes_are_documented(app: TestApp) {
    let doc = app.get_ok("/api/openapi.json", None).await;
    let paths = &doc["paths"];
    for (path, method) in [
        ("/api/v1/stocktakes", "get"),
        ("/api/v1/stocktakes", "post"),
        ("/api/v1/stocktakes/{id}", "get"),
        ("/api/v1/stocktakes/{id}/scans", "post"),
        ("/api/v1/stocktakes/{id}/complete", "post"),
        ("/api/v1/stocktakes/{id}/report", "get"),
        ("/api/v1/stocktakes/{id}/resolve", "post"),
    ] {
        assert!(
            paths[path][method].is_object(),
            "{method} {path} is not in the OpenAPI document"
        );
    }
    let schemas = &doc["components"]["schemas"];
    for name in [
        "Stocktake",
        "StocktakeReport",
        "ScanBurstResult",
        "ResolveFinding",
    ] {
        assert!(schemas[name].is_object(), "schema {name} missing");
    }
}
