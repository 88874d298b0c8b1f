//! Assets, their tags, resolving scanned text, and the audit trail of it all.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashSet;

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

domain::backend_matrix!(
    TestApp:
    create_and_get_an_asset,
    list_pages_without_gaps_or_duplicates,
    list_filters,
    patch_with_optimistic_concurrency,
    duplicate_code_is_a_conflict,
    invalid_fields_are_all_named,
    illegal_status_transition_is_a_conflict,
    delete_frees_the_code,
    identifiers_are_normalised_unique_and_movable,
    resolve_scanned_text,
    audit_log_records_asset_changes,
    concurrent_writers_get_one_winner,
);

async fn create_and_get_an_asset(app: TestApp) {
    let site = app
        .create_site(json!({"name": "Depot North", "kind": "depot"}))
        .await;
    app.create_category("Excavator").await;
    let created = app
        .create_asset(json!({
            "code": "  ex-0042 ",
            "name": "CAT 320 excavator",
            "category": "Excavator",
            "make": "Caterpillar",
            "serial": "CAT0320X123",
            "home_site_id": site["id"],
            "engine_hours": 1532.5,
            "purchase_price_cents": 12_500_000
        }))
        .await;
    assert_eq!(created["code"], "EX-0042");
    assert_eq!(created["version"], 1);
    assert_eq!(created["status"], "available");
    assert_eq!(created["category"], "Excavator");
    assert_eq!(created["home_site_id"], site["id"]);
    assert_eq!(
        created["site_id"], site["id"],
        "site defaults to the home site"
    );
    assert_eq!(created["engine_hours"], 1532.5);
    assert_eq!(created["position"], Value::Null);
    assert_eq!(created["depreciation_method"], "none");

    let path = format!("/api/v1/assets/{}", s(&created, "id"));
    let got = app.get_ok(&path, app.admin()).await;
    assert_eq!(got, created);

    let missing = format!("/api/v1/assets/{}", uuid::Uuid::now_v7());
    expect_not_found(app.get(&missing, app.admin()).await).await;
    // An id that is not a UUID is simply not found.
    expect_not_found(app.get("/api/v1/assets/not-a-uuid", app.admin()).await).await;
}

async fn list_pages_without_gaps_or_duplicates(app: TestApp) {
    let mut created = HashSet::new();
    for i in 0..7 {
        let a = app.asset(&format!("PG-{i}")).await;
        created.insert(s(&a, "id").to_owned());
    }
    let mut seen = Vec::new();
    let mut sizes = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/assets?limit=3&cursor={c}"),
            None => "/api/v1/assets?limit=3".to_owned(),
        };
        let page = app.get_ok(&path, app.admin()).await;
        let items = page["items"].as_array().unwrap();
        sizes.push(items.len());
        seen.extend(items.iter().map(|a| s(a, "id").to_owned()));
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
        assert!(sizes.len() < 10, "paging does not end");
    }
    assert_eq!(sizes, [3, 3, 1]);
    let unique: HashSet<String> = seen.iter().cloned().collect();
    assert_eq!(
        unique.len(),
        seen.len(),
        "duplicates across pages: {seen:?}"
    );
    assert_eq!(unique, created, "gaps across pages");

    // The whole list in one page has no cursor.
    let all = app.get_ok("/api/v1/assets?limit=7", app.admin()).await;
    assert_eq!(all["items"].as_array().unwrap().len(), 7);
    assert_eq!(all["next_cursor"], Value::Null);

    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("cursor=bogus", "cursor"),
    ] {
        app.get_invalid(&format!("/api/v1/assets?{query}"), &[field])
            .await;
    }
}

/// The codes of the assets a list query returns, sorted.
async fn codes(app: &TestApp, query: &[(&str, &str)]) -> Vec<String> {
    let resp = app
        .request(Method::GET, "/api/v1/assets", app.admin())
        .query(query)
        .send()
        .await
        .unwrap();
    let page = expect_json(resp, StatusCode::OK).await;
    let mut out: Vec<String> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| s(a, "code").to_owned())
        .collect();
    out.sort();
    out
}

async fn list_filters(app: TestApp) {
    let north = app
        .create_site(json!({"name": "North", "kind": "depot"}))
        .await;
    let south = app
        .create_site(json!({"name": "South", "kind": "depot"}))
        .await;
    let lifts = app.create_category("Lift").await;
    app.create_category("Generator").await;
    app.create_asset(
        json!({"code": "LF-1", "name": "Scissor lift", "category": "Lift",
        "site_id": north["id"], "serial": "SN-AAA-111"}),
    )
    .await;
    app.create_asset(
        json!({"code": "LF-2", "name": "Boom lift", "category": lifts["id"],
        "site_id": south["id"], "status": "in_maintenance"}),
    )
    .await;
    app.create_asset(
        json!({"code": "GN-1", "name": "100% diesel generator", "category": "Generator",
        "site_id": north["id"], "serial": "sn-bbb-222"}),
    )
    .await;
    app.create_asset(json!({"code": "GN-2", "name": "100 kVA generator", "status": "on_rent"}))
        .await;

    let (north, lifts) = (s(&north, "id"), s(&lifts, "id"));
    // (query, the codes it lists)
    type Case<'a> = (Vec<(&'a str, &'a str)>, &'a [&'a str]);
    let cases: Vec<Case> = vec![
        (vec![], &["GN-1", "GN-2", "LF-1", "LF-2"]),
        (vec![("status", "in_maintenance")], &["LF-2"]),
        (vec![("status", "on_rent")], &["GN-2"]),
        (vec![("status", "retired")], &[]),
        (vec![("site_id", north)], &["GN-1", "LF-1"]),
        (vec![("category", "Lift")], &["LF-1", "LF-2"]),
        (vec![("category", lifts)], &["LF-1", "LF-2"]),
        // An unknown category matches nothing; it is not an error.
        (vec![("category", "Crane")], &[]),
        // Free text: code, name and serial, case-insensitively.
        (vec![("q", "lf-")], &["LF-1", "LF-2"]),
        (vec![("q", "GENERATOR")], &["GN-1", "GN-2"]),
        (vec![("q", "Boom")], &["LF-2"]),
        (vec![("q", "SN-BBB")], &["GN-1"]),
        (vec![("q", "aaa-111")], &["LF-1"]),
        // LIKE wildcards in the text match literally.
        (vec![("q", "100%")], &["GN-1"]),
        (vec![("q", "%")], &["GN-1"]),
        (vec![("q", "lf_")], &[]),
        // Filters combine with AND.
        (
            vec![("site_id", north), ("category", "Generator")],
            &["GN-1"],
        ),
        (vec![("status", "available"), ("q", "lift")], &["LF-1"]),
    ];
    for (query, want) in cases {
        assert_eq!(codes(&app, &query).await, want, "{query:?}");
    }
    // A filter value of the wrong type names the query.
    for query in ["status=broken", "site_id=nope"] {
        app.get_invalid(&format!("/api/v1/assets?{query}"), &["query"])
            .await;
    }
}

async fn patch_with_optimistic_concurrency(app: TestApp) {
    let a = app.asset("PT-1").await;
    let path = format!("/api/v1/assets/{}", s(&a, "id"));
    let resp = app
        .patch(
            &path,
            app.admin(),
            &json!({"version": 1, "name": "Renamed", "engine_hours": 10.5, "make": "Volvo"}),
        )
        .await;
    let v2 = expect_json(resp, StatusCode::OK).await;
    assert_eq!(v2["version"], 2);
    assert_eq!(v2["name"], "Renamed");
    assert_eq!(v2["engine_hours"], 10.5);
    assert_eq!(v2["make"], "Volvo");
    assert_eq!(v2["code"], "PT-1", "absent fields are unchanged");

    // `null` clears a nullable field.
    let resp = app
        .patch(&path, app.admin(), &json!({"version": 2, "make": null}))
        .await;
    let v3 = expect_json(resp, StatusCode::OK).await;
    assert_eq!(v3["version"], 3);
    assert_eq!(v3["make"], Value::Null);

    // A stale version is refused with the current one.
    let stale = app
        .patch(
            &path,
            app.admin(),
            &json!({"version": 1, "name": "Lost update"}),
        )
        .await;
    let body = expect_problem(stale, StatusCode::CONFLICT, "version_conflict").await;
    assert_eq!(body["detail"]["current_version"], 3, "{body}");
    assert_eq!(body["detail"]["asset"]["name"], "Renamed", "{body}");
    let now = app.get_ok(&path, app.admin()).await;
    assert_eq!(now, v3, "a refused patch changes nothing");

    // The version is required.
    expect_fields(
        app.patch(&path, app.admin(), &json!({"name": "x"})).await,
        &["version"],
    )
    .await;

    let missing = format!("/api/v1/assets/{}", uuid::Uuid::now_v7());
    expect_not_found(
        app.patch(&missing, app.admin(), &json!({"version": 1}))
            .await,
    )
    .await;
}

async fn duplicate_code_is_a_conflict(app: TestApp) {
    let first = app.asset("DUP-1").await;
    // Codes are compared after normalisation.
    let resp = app
        .post(
            "/api/v1/assets",
            app.admin(),
            &json!({"code": " dup-1", "name": "again"}),
        )
        .await;
    expect_problem(resp, StatusCode::CONFLICT, "duplicate_code").await;
    // Renaming another asset to a taken code is the same conflict.
    let other = app.asset("DUP-2").await;
    let resp = app
        .patch(
            &format!("/api/v1/assets/{}", s(&other, "id")),
            app.admin(),
            &json!({"version": 1, "code": "dup-1"}),
        )
        .await;
    expect_problem(resp, StatusCode::CONFLICT, "duplicate_code").await;
    let page = app.get_ok("/api/v1/assets", app.admin()).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    assert_eq!(page["items"][0]["id"], first["id"]);
}

async fn invalid_fields_are_all_named(app: TestApp) {
    // Each problem on its own names just its field...
    let cases: [(Value, &str); 6] = [
        (json!({"code": "X-1", "name": "  "}), "name"),
        (json!({"code": "EX 42!", "name": "x"}), "code"),
        (json!({"code": "", "name": "x"}), "code"),
        (
            json!({"code": "X-1", "name": "x", "engine_hours": -1}),
            "engine_hours",
        ),
        (
            json!({"code": "X-1", "name": "x", "category": "No such thing"}),
            "category",
        ),
        (
            json!({"code": "X-1", "name": "x", "site_id": uuid::Uuid::now_v7()}),
            "site_id",
        ),
    ];
    for (body, field) in cases {
        let resp = app.post("/api/v1/assets", app.admin(), &body).await;
        expect_only_field(resp, field).await;
    }
    // ...and every problem of one request is reported at once.
    let resp = app
        .post(
            "/api/v1/assets",
            app.admin(),
            &json!({
                "code": "bad code!",
                "name": "",
                "engine_hours": -0.5,
                "category": "No such thing",
                "site_id": uuid::Uuid::now_v7(),
                "home_site_id": uuid::Uuid::now_v7(),
            }),
        )
        .await;
    expect_fields(
        resp,
        &[
            "code",
            "name",
            "engine_hours",
            "category",
            "site_id",
            "home_site_id",
        ],
    )
    .await;
    // Nothing was created.
    let page = app.get_ok("/api/v1/assets", app.admin()).await;
    assert_eq!(page["items"], json!([]));

    // The same checks on PATCH.
    let a = app.asset("VAL-1").await;
    let resp = app
        .patch(
            &format!("/api/v1/assets/{}", s(&a, "id")),
            app.admin(),
            &json!({"version": 1, "name": "", "engine_hours": -3, "site_id": uuid::Uuid::now_v7(),
                    "category": "nope", "code": "a b"}),
        )
        .await;
    expect_fields(
        resp,
        &["name", "engine_hours", "site_id", "category", "code"],
    )
    .await;
}

async fn illegal_status_transition_is_a_conflict(app: TestApp) {
    let a = app.asset("RT-1").await;
    let path = format!("/api/v1/assets/{}", s(&a, "id"));
    let resp = app
        .patch(
            &path,
            app.admin(),
            &json!({"version": 1, "status": "retired"}),
        )
        .await;
    let retired = expect_json(resp, StatusCode::OK).await;
    assert_eq!(retired["status"], "retired");
    let resp = app
        .patch(
            &path,
            app.admin(),
            &json!({"version": 2, "status": "available"}),
        )
        .await;
    let body = expect_problem(resp, StatusCode::CONFLICT, "illegal_transition").await;
    assert_eq!(body["detail"]["current_status"], "retired", "{body}");
    let now = app.get_ok(&path, app.admin()).await;
    assert_eq!(now["status"], "retired");
    assert_eq!(now["version"], 2);
}

async fn delete_frees_the_code(app: TestApp) {
    let a = app.asset("DEL-1").await;
    let path = format!("/api/v1/assets/{}", s(&a, "id"));
    let tag = app
        .post(
            &format!("{path}/identifiers"),
            app.admin(),
            &json!({"kind": "qr", "value": "del-tag"}),
        )
        .await;
    assert_eq!(tag.status(), StatusCode::CREATED);

    let resp = app.delete(&path, app.admin()).await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert!(resp.bytes().await.unwrap().is_empty());
    expect_not_found(app.get(&path, app.admin()).await).await;
    expect_not_found(app.delete(&path, app.admin()).await).await;
    let page = app.get_ok("/api/v1/assets", app.admin()).await;
    assert_eq!(page["items"], json!([]));

    // Its code and its tags are free again.
    let again = app.asset("del-1").await;
    assert_eq!(again["code"], "DEL-1");
    assert_ne!(again["id"], a["id"]);
    let tag = app
        .post(
            &format!("/api/v1/assets/{}/identifiers", s(&again, "id")),
            app.admin(),
            &json!({"kind": "qr", "value": "del-tag"}),
        )
        .await;
    assert_eq!(tag.status(), StatusCode::CREATED);
}

async fn add_tag(app: &TestApp, asset: &Value, kind: &str, value: &str) -> reqwest::Response {
    app.post(
        &format!("/api/v1/assets/{}/identifiers", s(asset, "id")),
        app.admin(),
        &json!({"kind": kind, "value": value}),
    )
    .await
}

async fn identifiers_are_normalised_unique_and_movable(app: TestApp) {
    let a = app.asset("ID-1").await;
    let b = app.asset("ID-2").await;

    let qr = expect_json(
        add_tag(&app, &a, "qr", " https://fleet.example.com/a/ID-1 ").await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(qr["kind"], "qr");
    assert_eq!(qr["value"], "https://fleet.example.com/a/ID-1");
    assert_eq!(qr["asset_id"], a["id"]);
    assert_eq!(qr["active"], true);
    assert_eq!(qr["removed_at"], Value::Null);

    let nfc = expect_json(
        add_tag(&app, &a, "nfc_uid", "04:a2:24:1b:c3:5e:80").await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(nfc["value"], "04A2241BC35E80");
    let epc = expect_json(
        add_tag(&app, &a, "rfid_epc", "3034 257b f719 4e40 0000 1a85").await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(epc["value"], "3034257BF7194E4000001A85");
    let imei = expect_json(
        add_tag(&app, &a, "imei", "49-015420-323751-8").await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(imei["value"], "490154203237518");

    // Bad values name the value.
    expect_fields(
        add_tag(&app, &a, "imei", "490154203237519").await,
        &["value"],
    )
    .await;
    expect_fields(add_tag(&app, &a, "nfc_uid", "04:a2:24").await, &["value"]).await;
    expect_fields(add_tag(&app, &a, "rfid_epc", "not hex").await, &["value"]).await;
    expect_fields(add_tag(&app, &a, "qr", "   ").await, &["value"]).await;
    // An unknown kind is a shape error on `kind`.
    expect_fields(add_tag(&app, &a, "bluetooth", "x").await, &["kind"]).await;

    // The same tag, however it is typed, cannot be active on two assets.
    let taken = add_tag(&app, &b, "nfc_uid", "04A2241B-C35E80").await;
    let body = expect_problem(taken, StatusCode::CONFLICT, "identifier_in_use").await;
    assert_eq!(body["detail"]["asset_id"], a["id"], "{body}");
    // Nor twice on the same asset.
    expect_problem(
        add_tag(&app, &a, "qr", "https://fleet.example.com/a/ID-1").await,
        StatusCode::CONFLICT,
        "identifier_in_use",
    )
    .await;
    // The same value under another kind is another tag.
    assert_eq!(
        add_tag(&app, &b, "barcode", "04A2241BC35E80")
            .await
            .status(),
        StatusCode::CREATED
    );

    let list_path = format!("/api/v1/assets/{}/identifiers", s(&a, "id"));
    let active = app.get_ok(&list_path, app.admin()).await;
    assert_eq!(active.as_array().unwrap().len(), 4, "{active}");

    // Remove the NFC tag.
    let remove_path = format!("{list_path}/{}", s(&nfc, "id"));
    let resp = app.delete(&remove_path, app.admin()).await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    expect_not_found(app.delete(&remove_path, app.admin()).await).await;
    // Removing through another asset's path is not found either.
    let wrong_asset = format!(
        "/api/v1/assets/{}/identifiers/{}",
        s(&b, "id"),
        s(&qr, "id")
    );
    expect_not_found(app.delete(&wrong_asset, app.admin()).await).await;

    let active = app.get_ok(&list_path, app.admin()).await;
    let active = active.as_array().unwrap();
    assert_eq!(active.len(), 3);
    assert!(active
        .iter()
        .all(|i| i["active"] == true && i["id"] != nfc["id"]));
    assert!(!active.iter().any(|i| i["kind"] == "nfc_uid"));

    let history = app
        .get_ok(&format!("{list_path}?include_removed=true"), app.admin())
        .await;
    let history = history.as_array().unwrap();
    assert_eq!(history.len(), 4);
    let removed: Vec<&Value> = history.iter().filter(|i| i["active"] == false).collect();
    assert_eq!(removed.len(), 1);
    assert_eq!(removed[0]["id"], nfc["id"]);
    assert_eq!(removed[0]["value"], "04A2241BC35E80");
    assert!(removed[0]["removed_at"].is_string());
    // Active tags come first.
    assert_eq!(history.last().unwrap()["id"], nfc["id"]);

    // Moving a tag: removed from A, it can go on B.
    let moved = expect_json(
        add_tag(&app, &b, "nfc_uid", "04:A2:24:1B:C3:5E:80").await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(moved["asset_id"], b["id"]);
    assert_ne!(moved["id"], nfc["id"]);
    // ... and now it is B's, so it cannot come back to A without being removed from B.
    expect_problem(
        add_tag(&app, &a, "nfc_uid", "04A2241BC35E80").await,
        StatusCode::CONFLICT,
        "identifier_in_use",
    )
    .await;

    // Tags of an asset that does not exist.
    let ghost = json!({"id": uuid::Uuid::now_v7().to_string()});
    expect_not_found(add_tag(&app, &ghost, "qr", "x").await).await;
    expect_not_found(
        app.get(
            &format!("/api/v1/assets/{}/identifiers", s(&ghost, "id")),
            app.admin(),
        )
        .await,
    )
    .await;
}

async fn resolve(app: &TestApp, text: &str) -> reqwest::Response {
    app.resolve(app.admin(), text).await
}

async fn resolve_scanned_text(app: TestApp) {
    let ex = app.asset("EX-0042").await;
    let other = app.asset("GN-7").await;
    assert_eq!(
        add_tag(&app, &ex, "nfc_uid", "04:a2:24:1b:c3:5e:80")
            .await
            .status(),
        StatusCode::CREATED
    );
    assert_eq!(
        add_tag(&app, &other, "rfid_epc", "3034257BF7194E4000001A85")
            .await
            .status(),
        StatusCode::CREATED
    );
    assert_eq!(
        add_tag(&app, &other, "qr", "LABEL-7781").await.status(),
        StatusCode::CREATED
    );

    // By code, typed any which way.
    let r = expect_json(resolve(&app, "ex-0042").await, StatusCode::OK).await;
    assert_eq!(r["asset"]["id"], ex["id"]);
    assert_eq!(r["matched"], json!({"kind": "code", "value": "EX-0042"}));
    // By tag value, in any spelling of that tag.
    let r = expect_json(resolve(&app, "04:A2:24:1B:C3:5E:80").await, StatusCode::OK).await;
    assert_eq!(r["asset"]["id"], ex["id"]);
    assert_eq!(
        r["matched"],
        json!({"kind": "nfc_uid", "value": "04A2241BC35E80"})
    );
    let r = expect_json(
        resolve(&app, "3034257bf7194e4000001a85").await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(r["asset"]["id"], other["id"]);
    assert_eq!(r["matched"]["kind"], "rfid_epc");
    let r = expect_json(resolve(&app, "LABEL-7781").await, StatusCode::OK).await;
    assert_eq!(r["asset"]["id"], other["id"]);
    assert_eq!(r["matched"], json!({"kind": "qr", "value": "LABEL-7781"}));
    // By a label URL ending in the code.
    let r = expect_json(
        resolve(&app, "https://fleet.example.com/a/EX-0042").await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(r["asset"]["id"], ex["id"]);
    assert_eq!(r["matched"]["kind"], "code");
    assert_eq!(r["asset"]["code"], "EX-0042");

    // Nothing matches: 404 in the problem format.
    expect_not_found(resolve(&app, "EX-9999").await).await;
    expect_not_found(resolve(&app, "https://fleet.example.com/a/NOPE-1").await).await;
    // No text at all.
    app.get_invalid("/api/v1/resolve", &["query"]).await;
    expect_fields(resolve(&app, "   ").await, &["code"]).await;

    // A deleted asset no longer resolves, by code or by tag.
    assert_eq!(
        app.delete(&format!("/api/v1/assets/{}", s(&ex, "id")), app.admin())
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    expect_not_found(resolve(&app, "EX-0042").await).await;
    expect_not_found(resolve(&app, "04A2241BC35E80").await).await;

    // An asset code wins over a tag with the same text.
    let coded = app.asset("CODE-1").await;
    assert_eq!(
        add_tag(&app, &other, "qr", "CODE-1").await.status(),
        StatusCode::CREATED
    );
    let r = expect_json(resolve(&app, "code-1").await, StatusCode::OK).await;
    assert_eq!(r["asset"]["id"], coded["id"]);
    assert_eq!(r["matched"]["kind"], "code");

    // Text that is a tag on two assets (as a QR on one, a barcode on another) is ambiguous.
    let third = app.asset("GN-8").await;
    assert_eq!(
        add_tag(&app, &other, "qr", "shared label").await.status(),
        StatusCode::CREATED
    );
    assert_eq!(
        add_tag(&app, &third, "barcode", "shared label")
            .await
            .status(),
        StatusCode::CREATED
    );
    let body = expect_problem(
        resolve(&app, "shared label").await,
        StatusCode::CONFLICT,
        "ambiguous_code",
    )
    .await;
    let ids = body["detail"]["asset_ids"].as_array().unwrap();
    assert_eq!(ids.len(), 2, "{body}");
    assert!(
        ids.contains(&other["id"]) && ids.contains(&third["id"]),
        "{body}"
    );
}

async fn audit(app: &TestApp, query: &[(&str, &str)]) -> Vec<Value> {
    let resp = app
        .request(Method::GET, "/api/v1/audit-log", app.admin())
        .query(query)
        .send()
        .await
        .unwrap();
    let page = expect_json(resp, StatusCode::OK).await;
    page["items"].as_array().unwrap().clone()
}

async fn audit_log_records_asset_changes(app: TestApp) {
    let a = app.asset("AU-1").await;
    let other = app.asset("AU-2").await;
    let id = s(&a, "id");
    let path = format!("/api/v1/assets/{id}");
    let resp = app
        .patch(
            &path,
            app.admin(),
            &json!({"version": 1, "name": "Audited"}),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        app.delete(&path, app.admin()).await.status(),
        StatusCode::NO_CONTENT
    );

    let entries = audit(&app, &[("entity", "asset"), ("entity_id", id)]).await;
    let actions: Vec<&str> = entries.iter().map(|e| s(e, "action")).collect();
    assert_eq!(
        actions,
        ["asset.delete", "asset.update", "asset.create"],
        "newest first"
    );
    for e in &entries {
        assert_eq!(e["actor"], "admin");
        assert_eq!(e["source"], "api");
        assert_eq!(e["entity"], "asset");
        assert_eq!(e["entity_id"], a["id"]);
        assert!(e["actor_user_id"].is_string());
    }
    let at: Vec<chrono::DateTime<chrono::Utc>> = entries
        .iter()
        .map(|e| s(e, "at").parse().unwrap())
        .collect();
    assert!(at.windows(2).all(|w| w[0] >= w[1]), "newest first: {at:?}");

    let (delete, update, create) = (&entries[0], &entries[1], &entries[2]);
    assert_eq!(create["before"], Value::Null);
    assert_eq!(create["after"]["code"], "AU-1");
    assert_eq!(create["after"]["version"], 1);
    assert_eq!(update["before"]["version"], 1);
    assert_eq!(update["after"]["version"], 2);
    assert_eq!(update["before"]["name"], "Machine AU-1");
    assert_eq!(update["after"]["name"], "Audited");
    assert_eq!(delete["before"]["version"], 2);
    assert_eq!(delete["after"], Value::Null);

    // The action filter, alone and combined.
    let updates = audit(&app, &[("action", "asset.update")]).await;
    assert_eq!(updates.len(), 1);
    assert_eq!(updates[0]["entity_id"], a["id"]);
    let creates = audit(&app, &[("action", "asset.create"), ("entity", "asset")]).await;
    let created: Vec<&Value> = creates.iter().map(|e| &e["entity_id"]).collect();
    assert_eq!(created, [&other["id"], &a["id"]], "newest first");
    // Other entities and actors.
    assert!(audit(&app, &[("entity", "site")]).await.is_empty());
    assert_eq!(
        audit(&app, &[("actor", "admin"), ("entity", "asset")])
            .await
            .len(),
        4
    );
    assert!(audit(&app, &[("actor", "someone-else")]).await.is_empty());

    // Time window: entries are `at >= from` and `at < to`.
    let first_at = s(&entries[2], "at");
    let last_at = s(&entries[0], "at");
    assert_eq!(
        audit(&app, &[("entity_id", id), ("from", first_at)])
            .await
            .len(),
        3
    );
    assert_eq!(
        audit(&app, &[("entity_id", id), ("to", first_at)])
            .await
            .len(),
        0
    );
    assert_eq!(
        audit(&app, &[("entity_id", id), ("from", "2999-01-01T00:00:00Z")])
            .await
            .len(),
        0
    );
    let upto_last = audit(&app, &[("entity_id", id), ("to", last_at)]).await;
    assert_eq!(upto_last.len(), 2, "{upto_last:?}");
    app.get_invalid("/api/v1/audit-log?from=yesterday", &["query"])
        .await;

    // Paging the log newest first with a cursor.
    let resp = app
        .get("/api/v1/audit-log?entity=asset&limit=2", app.admin())
        .await;
    let first = expect_json(resp, StatusCode::OK).await;
    let cursor = s(&first, "next_cursor");
    let resp = app
        .get(
            &format!("/api/v1/audit-log?entity=asset&limit=2&cursor={cursor}"),
            app.admin(),
        )
        .await;
    let second = expect_json(resp, StatusCode::OK).await;
    let mut ids: Vec<&Value> = first["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["id"])
        .collect();
    ids.extend(second["items"].as_array().unwrap().iter().map(|e| &e["id"]));
    let all: Vec<Value> = audit(&app, &[("entity", "asset")])
        .await
        .into_iter()
        .map(|e| e["id"].clone())
        .collect();
    assert_eq!(ids, all.iter().collect::<Vec<_>>());
    assert_eq!(second["next_cursor"], Value::Null);
}

/// Racing writers: exactly one wins, every other gets the conflict it would get one after the
/// other, never a 500 or a database-busy error.
async fn concurrent_writers_get_one_winner(app: TestApp) {
    const N: usize = 6;
    let statuses = |resps: Vec<reqwest::Response>| async move {
        let mut won = 0;
        let mut lost = Vec::new();
        for r in resps {
            if r.status().is_success() {
                won += 1;
            } else {
                lost.push(problem(r).await);
            }
        }
        (won, lost)
    };

    // Same stale-free version from N clients at once.
    let a = app.asset("RACE-1").await;
    let path = format!("/api/v1/assets/{}", s(&a, "id"));
    let bodies: Vec<serde_json::Value> = (0..N)
        .map(|i| json!({"version": 1, "name": format!("writer {i}")}))
        .collect();
    let resps = futures_join(bodies.iter().map(|b| app.patch(&path, app.admin(), b))).await;
    let (won, lost) = statuses(resps).await;
    assert_eq!(won, 1, "{lost:?}");
    for (status, body) in &lost {
        assert_eq!(*status, StatusCode::CONFLICT, "{body}");
        assert_eq!(body["error"], "version_conflict", "{body}");
        assert_eq!(body["detail"]["current_version"], 2, "{body}");
    }
    let now = app.get_ok(&path, app.admin()).await;
    assert_eq!(now["version"], 2);

    // The same new code from N clients at once.
    let bodies: Vec<serde_json::Value> = (0..N)
        .map(|i| json!({"code": "RACE-2", "name": format!("creator {i}")}))
        .collect();
    let resps = futures_join(
        bodies
            .iter()
            .map(|b| app.post("/api/v1/assets", app.admin(), b)),
    )
    .await;
    let (won, lost) = statuses(resps).await;
    assert_eq!(won, 1, "{lost:?}");
    assert!(
        lost.iter()
            .all(|(st, b)| *st == StatusCode::CONFLICT && b["error"] == "duplicate_code"),
        "{lost:?}"
    );

    // The same tag onto N different assets at once.
    let mut assets = Vec::new();
    for i in 0..N {
        assets.push(app.asset(&format!("RACE-T{i}")).await);
    }
    let resps = futures_join(
        assets
            .iter()
            .map(|a| add_tag(&app, a, "nfc_uid", "04:11:22:33")),
    )
    .await;
    let (won, lost) = statuses(resps).await;
    assert_eq!(won, 1, "{lost:?}");
    assert!(
        lost.iter()
            .all(|(st, b)| *st == StatusCode::CONFLICT && b["error"] == "identifier_in_use"),
        "{lost:?}"
    );
    let page = app.get_ok("/api/v1/assets?q=race", app.admin()).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 2 + N);
}

/// Runs the futures concurrently and returns their outputs in order.
async fn futures_join<F: std::future::Future>(futs: impl Iterator<Item = F>) -> Vec<F::Output> {
    futures::future::join_all(futs).await
}
