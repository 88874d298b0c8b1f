//! Field scans linked to contracts over HTTP: the delivery lookup a technician reads, a delivery
//! under a named line and its return, the contract's on-hire view and damages, refusals as
//! problems (single command) and as batch items, and who may read what. Contracts are written
//! with plain SQL (`domain::on_hire::fixtures`): their service is not this module's.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use domain::on_hire::fixtures::{self, Rents};
use mobile_shared::Role;
use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

domain::backend_matrix!(
    TestApp:
    a_delivery_under_a_line_shows_on_the_contract_until_returned,
    refused_lines_answer_their_code_alone_and_in_a_batch,
    sales_and_technicians_see_only_what_they_need,
);

fn id(v: &Value) -> Uuid {
    s(v, "id").parse().unwrap()
}

/// Acme, the owner of the fixture's customer site, and an active contract of Acme's for that
/// site renting `asset`; returns (customer, contract, line).
async fn acme_renting(app: &TestApp, sf: &ScanFixture, asset: &Value) -> (Uuid, Uuid, Uuid) {
    let store = &app.db.store;
    let acme = fixtures::customer(store, "Acme Construction Ltd", None)
        .await
        .unwrap();
    fixtures::site_of(store, sf.customer.parse().unwrap(), acme)
        .await
        .unwrap();
    let contract = fixtures::contract(store, acme, Some(sf.customer.parse().unwrap()), "active")
        .await
        .unwrap();
    let line = fixtures::line(store, contract.id, Rents::Asset(id(asset)))
        .await
        .unwrap();
    (acme, contract.id, line)
}

async fn a_delivery_under_a_line_shows_on_the_contract_until_returned(app: TestApp) {
    let sf = ScanFixture::new(&app).await;
    let office = app.user_with_role(Role::RentalOffice).await;
    let asset = sf.asset(&app, "HTTP-1").await;
    let (_, contract, line) = acme_renting(&app, &sf, &asset).await;

    // What the technician looks up before delivering: the line, and nothing about money.
    let lookup = app
        .get_ok(
            &format!("/api/v1/delivery/open-lines?asset_id={}", s(&asset, "id")),
            sf.tech.as_str(),
        )
        .await;
    let rows = items(&lookup);
    assert_eq!(rows.len(), 1, "{lookup}");
    assert_eq!(rows[0]["contract_line_id"], line.to_string());
    assert_eq!(rows[0]["customer_legal_name"], "Acme Construction Ltd");
    assert_eq!(rows[0]["on_hire"], 0);
    for key in ["rate_cents", "rate_period", "deposit_cents", "notes"] {
        assert!(rows[0].get(key).is_none(), "{key} in {lookup}");
    }

    let deliver = sf.cmd(
        "deliver",
        &asset,
        10,
        json!({"site_id": sf.customer, "contract_line_id": line}),
    );
    let result = app.scan_ok(&sf.tech, &deliver).await;
    assert_eq!(
        result["on_hire"]["contract_line_id"],
        line.to_string(),
        "{result}"
    );
    assert_eq!(result["on_hire"]["on_hire_at"], sf.t(10));

    let path = format!("/api/v1/contracts/{contract}/on-hire");
    let view = app.get_ok(&path, office.as_str()).await;
    assert_eq!(view["physical_state"], "out", "{view}");
    assert_eq!(view["periods"].as_array().unwrap().len(), 1, "{view}");
    assert_eq!(view["periods"][0]["asset_code"], "HTTP-1");

    let back = sf.cmd(
        "return",
        &asset,
        40,
        json!({"site_id": sf.depot, "inspection_passed": false, "notes": "Dented boom"}),
    );
    app.scan_ok(&sf.tech, &back).await;
    let view = app.get_ok(&path, office.as_str()).await;
    assert_eq!(view["physical_state"], "all_returned", "{view}");
    assert_eq!(view["returned"], 1, "{view}");
    let damages = app
        .get_ok(
            &format!("/api/v1/contracts/{contract}/damages"),
            office.as_str(),
        )
        .await;
    let found = items(&damages);
    assert_eq!(found.len(), 1, "{damages}");
    assert_eq!(found[0]["description"], "Dented boom");
    assert_eq!(found[0]["scan_event_id"], back["id"]);
    assert!(found[0].get("estimated_cost").is_none(), "{damages}");

    // A re-sent return is the stored answer; nothing more is recorded.
    let again = expect_json(app.scan(sf.tech.as_str(), &back).await, StatusCode::OK).await;
    assert_eq!(again["status"], "duplicate");
    let damages = app
        .get_ok(
            &format!("/api/v1/contracts/{contract}/damages"),
            office.as_str(),
        )
        .await;
    assert_eq!(items(&damages).len(), 1);

    // Unknown contracts are 404; the lookup needs a filter and valid ids.
    let missing = Uuid::now_v7();
    for route in ["on-hire", "damages"] {
        let resp = app
            .get(
                &format!("/api/v1/contracts/{missing}/{route}"),
                office.as_str(),
            )
            .await;
        expect_not_found(resp).await;
    }
    let resp = app
        .get("/api/v1/delivery/open-lines", sf.tech.as_str())
        .await;
    expect_only_field(resp, "asset_id").await;
    let resp = app
        .get("/api/v1/delivery/open-lines?site_id=nope", sf.tech.as_str())
        .await;
    expect_problem(resp, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
}

async fn refused_lines_answer_their_code_alone_and_in_a_batch(app: TestApp) {
    let sf = ScanFixture::new(&app).await;
    let asset = sf.asset(&app, "HTTP-R").await;
    let (acme, _, _) = acme_renting(&app, &sf, &asset).await;
    let store = &app.db.store;
    let draft = fixtures::contract(store, acme, None, "draft")
        .await
        .unwrap();
    let draft_line = fixtures::line(store, draft.id, Rents::Asset(id(&asset)))
        .await
        .unwrap();
    let other = fixtures::customer(store, "Other Works plc", None)
        .await
        .unwrap();
    let foreign = fixtures::contract(store, other, None, "active")
        .await
        .unwrap();
    let foreign_line = fixtures::line(store, foreign.id, Rents::Asset(id(&asset)))
        .await
        .unwrap();

    let deliver = |minutes, line: Uuid| {
        sf.cmd(
            "deliver",
            &asset,
            minutes,
            json!({"site_id": sf.customer, "contract_line_id": line}),
        )
    };
    let not_open = deliver(5, draft_line);
    let body = app
        .scan_refused(
            &sf.tech,
            &not_open,
            StatusCode::CONFLICT,
            "contract_not_open",
        )
        .await;
    assert_eq!(
        body["detail"]["error"]["detail"]["status"], "draft",
        "{body}"
    );
    let mismatch = deliver(6, foreign_line);
    app.scan_refused(
        &sf.tech,
        &mismatch,
        StatusCode::CONFLICT,
        "contract_customer_mismatch",
    )
    .await;
    let on_return = sf.cmd(
        "return",
        &asset,
        7,
        json!({"site_id": sf.depot, "contract_line_id": draft_line}),
    );
    app.scan_invalid(&sf.tech, &on_return, &["contract_line_id"])
        .await;

    // The same refusals inside an offline batch (fresh ids), next to one that applies.
    let batch = [
        deliver(8, draft_line),
        deliver(9, foreign_line),
        sf.cmd("deliver", &asset, 10, json!({"site_id": sf.customer})),
    ];
    let results = app.scan_batch_ok(&sf.tech, &batch).await;
    let codes: Vec<&Value> = results.iter().map(|r| &r["error"]["error"]).collect();
    assert_eq!(
        codes,
        [
            &json!("contract_not_open"),
            &json!("contract_customer_mismatch"),
            &Value::Null
        ],
        "{results:?}"
    );
    // Without a line named, the customer's open line was picked.
    assert_eq!(results[2]["status"], "applied");
    assert_eq!(
        results[2]["on_hire"]["contract_number"]
            .as_str()
            .map(|n| n.starts_with("T-")),
        Some(true)
    );
}

async fn sales_and_technicians_see_only_what_they_need(app: TestApp) {
    let sf = ScanFixture::new(&app).await;
    let asset = sf.asset(&app, "HTTP-S").await;
    let (_, contract, _) = acme_renting(&app, &sf, &asset).await;
    let sales = app.user_with_role(Role::Sales).await;
    let me = app.get_ok("/api/v1/auth/session", sales.as_str()).await;
    let managed = fixtures::customer(&app.db.store, "Sales' own", Some(id(&me)))
        .await
        .unwrap();
    let own = fixtures::contract(&app.db.store, managed, None, "active")
        .await
        .unwrap();

    for route in ["on-hire", "damages"] {
        let theirs = format!("/api/v1/contracts/{}/{route}", own.id);
        assert_eq!(
            app.get(&theirs, sales.as_str()).await.status(),
            StatusCode::OK,
            "{theirs}"
        );
        // Another customer's contract is not found for them, and not theirs to read for a
        // technician at all.
        let acme = format!("/api/v1/contracts/{contract}/{route}");
        expect_not_found(app.get(&acme, sales.as_str()).await).await;
        expect_forbidden(app.get(&acme, sf.tech.as_str()).await).await;
    }
    // The lookup is the technicians' (and the office's), not sales'.
    let lookup = format!("/api/v1/delivery/open-lines?asset_id={}", s(&asset, "id"));
    expect_forbidden(app.get(&lookup, sales.as_str()).await).await;
    expect_forbidden(app.get(&lookup, sf.viewer.as_str()).await).await;
}
