//! RFID tags given as EPC URIs: stored in one form per tag, found by a scan or a stocktake burst
//! in any form, and malformed URIs refused as such.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use mobile_shared::tag::encode_giai96;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

domain::backend_matrix!(TestApp: epc_forms_store_once_and_resolve, bursts_find_uri_tags);

/// The tag of these tests: GIAI-96, filter 3, company prefix 0614141, asset reference 1234.
const PURE: &str = "urn:epc:id:giai:0614141.1234";
const TAG_URI: &str = "urn:epc:tag:giai-96:3.0614141.1234";

fn giai96_hex() -> String {
    encode_giai96(3, "0614141", 1234).unwrap()
}

async fn add_epc(app: &TestApp, asset: &Value, value: &str) -> reqwest::Response {
    app.post(
        &format!("/api/v1/assets/{}/identifiers", s(asset, "id")),
        app.admin(),
        &json!({"kind": "rfid_epc", "value": value}),
    )
    .await
}

async fn resolve_code(app: &TestApp, text: &str) -> reqwest::Response {
    app.request(Method::GET, "/api/v1/resolve", app.admin())
        .query(&[("code", text)])
        .send()
        .await
        .unwrap()
}

async fn epc_forms_store_once_and_resolve(app: TestApp) {
    let a = app.asset("EPC-A").await;
    let b = app.asset("EPC-B").await;
    let hex = giai96_hex();

    // A pure identity fixes no binary, so it is stored as its canonical URI.
    let tag = expect_json(
        add_epc(&app, &a, " URN:EPC:ID:GIAI:0614141.1234 ").await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(tag["kind"], "rfid_epc");
    assert_eq!(tag["value"], PURE);

    // Found from the binary a reader reports and from every URI of the tag.
    let raw = format!("urn:epc:raw:96.x{hex}");
    for text in [hex.as_str(), &hex.to_lowercase(), TAG_URI, PURE, &raw] {
        let r = expect_json(resolve_code(&app, text).await, StatusCode::OK).await;
        assert_eq!(r["asset"]["id"], a["id"], "{text}: {r}");
        assert_eq!(
            r["matched"],
            json!({"kind": "rfid_epc", "value": PURE}),
            "{text}"
        );
    }

    // The same identity, spelt another way, is the same stored value: a conflict.
    let body = expect_problem(
        add_epc(&app, &b, "urn:epc:id:giai:0614141.12%334").await,
        StatusCode::CONFLICT,
        "identifier_in_use",
    )
    .await;
    assert_eq!(body["detail"]["asset_id"], a["id"], "{body}");

    // A tag URI fixes the binary and is stored as its hex: a different stored value from the
    // pure URI by design, so registering it elsewhere is not refused here. Scans of the tag
    // then match both assets, and resolving says so.
    let by_binary = expect_json(add_epc(&app, &b, TAG_URI).await, StatusCode::CREATED).await;
    assert_eq!(by_binary["value"], hex.as_str());
    for text in [hex.as_str(), TAG_URI, PURE] {
        let body = expect_problem(
            resolve_code(&app, text).await,
            StatusCode::CONFLICT,
            "ambiguous_code",
        )
        .await;
        let ids = body["detail"]["asset_ids"].as_array().unwrap();
        assert!(
            ids.len() == 2 && ids.contains(&a["id"]) && ids.contains(&b["id"]),
            "{text}: {body}"
        );
    }

    // Malformed URIs name the value and say what is wrong with the URI.
    for bad in [
        "urn:epc:id:giai:",
        "urn:epc:tag:giai-96:9.0614141.1234",
        "urn:epc:id:sscc:0614141.1234567890",
    ] {
        let body = expect_fields(add_epc(&app, &a, bad).await, &["value"]).await;
        let message = s(&body["fields"], "value");
        assert!(message.contains("EPC URI"), "{bad}: {body}");
    }
    // Hex stays as it was.
    let body = expect_fields(add_epc(&app, &a, "not hex").await, &["value"]).await;
    assert!(
        s(&body["fields"], "value").contains("hexadecimal"),
        "{body}"
    );
}

async fn bursts_find_uri_tags(app: TestApp) {
    let site = app
        .create_site(json!({"name": "Yard", "kind": "depot"}))
        .await;
    let a = app
        .create_asset(json!({"code": "EPC-S", "name": "Tagged by URI", "site_id": site["id"]}))
        .await;
    expect_json(add_epc(&app, &a, PURE).await, StatusCode::CREATED).await;

    let st = expect_json(
        app.post(
            "/api/v1/stocktakes",
            app.admin(),
            &json!({"site_id": site["id"]}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let hex = giai96_hex();
    let burst = json!({"codes": [hex, hex.to_lowercase(), TAG_URI]});
    let result = expect_json(
        app.post(
            &format!("/api/v1/stocktakes/{}/scans", s(&st, "id")),
            app.admin(),
            &burst,
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(result["new_assets"], 1, "{result}");
    assert_eq!(result["unknown"], json!([]), "{result}");
}
