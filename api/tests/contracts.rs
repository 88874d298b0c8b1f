//! Contracts over HTTP, on SQLite and PostgreSQL: the wire shapes (create → 201 draft,
//! sign, `GET` with `customer_id`, `status`, `lines[].asset_id`, lists as `{items,
//! next_cursor}` filtered by `status`), 409s with their codes and the conflicting booking
//! (also when signings race), 422s naming fields, renewals and approvals, maintenance blocks
//! and the availability query, and the sales scope.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use domain::Backend;
use mobile_shared::Role;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;

domain::backend_matrix!(
    TestApp:
    contracts_follow_the_wire_contract,
    racing_signings_have_one_winner,
    renewals_and_approvals,
    blocks_and_availability,
    sales_reach_only_their_customers,
);

fn day(days: i64) -> String {
    (chrono::Utc::now().date_naive() + chrono::Duration::days(days)).to_string()
}

/// Inserts a customer in EUR (the customers service is written in parallel: SQL keeps these
/// tests independent of it).
async fn customer(app: &TestApp, name: &str, manager: Option<Uuid>, frozen: Option<&str>) -> Uuid {
    let id = Uuid::now_v7();
    let name = name.replace('\'', "''");
    let lit = |id: Uuid| match app.backend {
        Backend::Sqlite => format!("X'{}'", id.simple()),
        Backend::Postgres => format!("'{id}'"),
    };
    let manager = manager.map_or("NULL".to_owned(), lit);
    let (at, reason) = match frozen {
        Some(r) => ("'2026-01-01T00:00:00Z'".to_owned(), format!("'{r}'")),
        None => ("NULL".to_owned(), "NULL".to_owned()),
    };
    app.db
        .execute(&format!(
            "INSERT INTO customers (id, legal_name, kind, status, currency, account_manager_id, \
             renewals_frozen_at, renewals_frozen_reason, created_at, updated_at) VALUES ({}, \
             '{name}', 'company', 'active', 'EUR', {manager}, {at}, {reason}, \
             '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')",
            lit(id)
        ))
        .await;
    id
}

fn new_contract(customer: Uuid, asset: &Value, from: i64, to: i64) -> Value {
    json!({"customer_id": customer, "starts_on": day(from), "ends_on": day(to),
           "lines": [{"asset_id": asset["id"], "rate_cents": 12000, "rate_period": "day"}],
           "deposit_cents": 50000, "billing_cycle": "weekly"})
}

async fn create(app: &TestApp, token: &str, body: &Value) -> Value {
    expect_json(
        app.post("/api/v1/contracts", token, body).await,
        StatusCode::CREATED,
    )
    .await
}

async fn sign(app: &TestApp, token: &str, contract: &Value) -> reqwest::Response {
    let path = format!("/api/v1/contracts/{}/sign", s(contract, "id"));
    app.send(Method::POST, &path, token, None).await
}

async fn contracts_follow_the_wire_contract(app: TestApp) {
    let office = app.user_with_role(Role::RentalOffice).await;
    let acme = customer(&app, "Acme", None, None).await;
    let asset = app.asset("W-1").await;
    let category = app.create_category("Dumpers").await;
    let mut body = new_contract(acme, &asset, 0, 60);
    body["lines"]
        .as_array_mut()
        .unwrap()
        .push(json!({"category_id": category["id"], "quantity": 2, "rate_cents": 0, "rate_period": "month"}));
    body["auto_renew"] = json!(false);
    let draft = create(&app, &office, &body).await;
    assert_eq!(draft["status"], "draft");
    assert_eq!(draft["currency"], "EUR");
    assert_eq!(draft["billing_cycle"], "weekly");
    assert!(s(&draft, "number").starts_with("C-"), "{draft}");
    let path = format!("/api/v1/contracts/{}", s(&draft, "id"));
    let got = app.get_ok(&path, office.as_str()).await;
    assert_eq!(got["customer_id"], acme.to_string());
    assert_eq!(got["lines"][0]["asset_id"], asset["id"]);
    assert_eq!(got["lines"][1]["quantity"], 2);
    let lines = app.get_ok(&format!("{path}/lines"), office.as_str()).await;
    assert_eq!(lines.as_array().unwrap().len(), 2);
    let list = app
        .get_ok("/api/v1/contracts?status=draft", office.as_str())
        .await;
    assert_eq!(items(&list).len(), 1);
    assert!(list.get("next_cursor").is_some(), "{list}");

    // A draft changes with its version; a stale one is a 409.
    let patched = app
        .patch(
            &path,
            office.as_str(),
            &json!({"version": 1, "notes": "gate code 1234"}),
        )
        .await;
    let patched = expect_json(patched, StatusCode::OK).await;
    assert_eq!(patched["version"], 2);
    let stale = app
        .patch(&path, office.as_str(), &json!({"version": 1}))
        .await;
    expect_problem(stale, StatusCode::CONFLICT, "version_conflict").await;

    let signed = expect_json(sign(&app, &office, &draft).await, StatusCode::OK).await;
    assert_eq!(signed["status"], "active");
    expect_problem(
        sign(&app, &office, &draft).await,
        StatusCode::CONFLICT,
        "illegal_transition",
    )
    .await;
    let list = app
        .get_ok("/api/v1/contracts?status=draft", office.as_str())
        .await;
    assert!(items(&list).is_empty());

    // Overlap: refused at creation with the booking in the way.
    let resp = app
        .post(
            "/api/v1/contracts",
            office.as_str(),
            &new_contract(acme, &asset, 30, 90),
        )
        .await;
    let problem = expect_problem(resp, StatusCode::CONFLICT, "booking_conflict").await;
    assert_eq!(problem["detail"]["booking"]["contract_id"], draft["id"]);

    // Bad input names its fields, and writes nothing.
    let mut bad = new_contract(acme, &asset, 10, 5);
    bad["lines"][0]["rate_period"] = json!("fortnight");
    expect_fields(
        app.post("/api/v1/contracts", office.as_str(), &bad).await,
        &["lines[0].rate_period"],
    )
    .await;
    let bad = new_contract(acme, &asset, 100, 95);
    expect_fields(
        app.post("/api/v1/contracts", office.as_str(), &bad).await,
        &["ends_on"],
    )
    .await;
    let bad = new_contract(Uuid::now_v7(), &asset, 100, 110);
    expect_fields(
        app.post("/api/v1/contracts", office.as_str(), &bad).await,
        &["customer_id"],
    )
    .await;
    assert_eq!(app.db.count("SELECT COUNT(*) FROM contracts").await, 1);

    // End early: released from the next day; the asset rents again after.
    let end = app
        .post(
            &format!("{path}/end"),
            office.as_str(),
            &json!({"ends_on": day(10)}),
        )
        .await;
    assert_eq!(expect_json(end, StatusCode::OK).await["status"], "ended");
    let next = create(&app, &office, &new_contract(acme, &asset, 11, 20)).await;
    let terminated = app
        .post(
            &format!("/api/v1/contracts/{}/terminate", s(&next, "id")),
            office.as_str(),
            &json!({"reason": "site closed"}),
        )
        .await;
    assert_eq!(
        expect_json(terminated, StatusCode::OK).await["status"],
        "terminated"
    );
    let audit = app.audit(&[("entity", "contract")]).await;
    let actions: Vec<&str> = audit.iter().map(|e| s(e, "action")).collect();
    for action in [
        "contract.create",
        "contract.update",
        "contract.sign",
        "contract.end",
        "contract.terminate",
    ] {
        assert!(actions.contains(&action), "{action}: {actions:?}");
    }
}

async fn racing_signings_have_one_winner(app: TestApp) {
    const N: usize = 8;
    let office = app.user_with_role(Role::RentalOffice).await;
    let acme = customer(&app, "Acme", None, None).await;
    let asset = app.asset("RACE-1").await;
    let mut drafts = Vec::new();
    for i in 0..N as i64 {
        drafts.push(create(&app, &office, &new_contract(acme, &asset, 1 + i, 20 + i)).await);
    }
    let answers = futures::future::join_all(drafts.iter().map(|d| async {
        let resp = sign(&app, &office, d).await;
        (d["id"].clone(), json_body(resp).await)
    }))
    .await;
    let winners: Vec<&Value> = answers
        .iter()
        .filter(|(_, (status, _))| *status == StatusCode::OK)
        .map(|(id, _)| id)
        .collect();
    assert_eq!(winners.len(), 1, "{answers:?}");
    for (_, (status, body)) in answers.iter().filter(|(_, (st, _))| *st != StatusCode::OK) {
        assert_eq!(*status, StatusCode::CONFLICT, "{body}");
        assert_eq!(body["error"], "booking_conflict", "{body}");
        assert_eq!(
            &body["detail"]["booking"]["contract_id"], winners[0],
            "{body}"
        );
    }
    assert_eq!(
        app.db
            .count("SELECT COUNT(*) FROM asset_bookings WHERE released_at IS NULL")
            .await,
        1
    );
}

async fn renewals_and_approvals(app: TestApp) {
    let office = app.user_with_role(Role::RentalOffice).await;
    let finance = app.user_with_role(Role::Finance).await;
    let legal = app.user_with_role(Role::Legal).await;
    let acme = customer(&app, "Acme", None, None).await;
    let frozen = customer(&app, "Frozen", None, Some("collection ladder step 3")).await;
    let asset = app.asset("REN-1").await;
    let other = app.asset("REN-2").await;

    let cold = create(&app, &office, &new_contract(frozen, &other, 0, 40)).await;
    expect_json(sign(&app, &office, &cold).await, StatusCode::OK).await;
    let renew = |c: &Value| format!("/api/v1/contracts/{}/renew", s(c, "id"));
    let resp = app
        .post(&renew(&cold), office.as_str(), &json!({"ends_on": day(80)}))
        .await;
    let problem = expect_problem(resp, StatusCode::CONFLICT, "renewals_frozen").await;
    assert_eq!(problem["detail"]["reason"], "collection ladder step 3");

    let mut body = new_contract(acme, &asset, 0, 40);
    body["auto_renew"] = json!(true);
    let c = create(&app, &office, &body).await;
    expect_json(sign(&app, &office, &c).await, StatusCode::OK).await;
    let resp = app
        .post(&renew(&c), office.as_str(), &json!({"ends_on": day(80)}))
        .await;
    let problem = expect_problem(resp, StatusCode::CONFLICT, "approvals_missing").await;
    assert_eq!(problem["detail"]["missing"], json!(["finance", "legal"]));

    let approvals = format!("/api/v1/contracts/{}/approvals", s(&c, "id"));
    let given = expect_json(
        app.post(&approvals, finance.as_str(), &json!({})).await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(given["kind"], "finance");
    let twice = app.post(&approvals, finance.as_str(), &json!({})).await;
    expect_problem(twice, StatusCode::CONFLICT, "already_approved").await;
    expect_forbidden(app.post(&approvals, office.as_str(), &json!({})).await).await;
    expect_only_field(app.post(&approvals, app.admin(), &json!({})).await, "kind").await;
    expect_json(
        app.post(&approvals, legal.as_str(), &json!({"note": "clause 7 ok"}))
            .await,
        StatusCode::CREATED,
    )
    .await;
    let listed = app.get_ok(&approvals, finance.as_str()).await;
    assert_eq!(listed.as_array().unwrap().len(), 2);

    let body = json!({"ends_on": day(80), "rate_changes": [{"line_no": 1, "rate_cents": 13000}]});
    let successor = expect_json(
        app.post(&renew(&c), office.as_str(), &body).await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(successor["predecessor_id"], c["id"]);
    assert_eq!(successor["status"], "draft");
    assert_eq!(successor["starts_on"], day(41));
    assert_eq!(successor["lines"][0]["rate_cents"], 13000);
    expect_json(sign(&app, &office, &successor).await, StatusCode::OK).await;
    let before = app
        .get_ok(
            &format!("/api/v1/contracts/{}", s(&c, "id")),
            office.as_str(),
        )
        .await;
    assert_eq!(before["status"], "renewed");
}

async fn blocks_and_availability(app: TestApp) {
    let office = app.user_with_role(Role::RentalOffice).await;
    let dispatcher = app.user_with_role(Role::Dispatcher).await;
    let acme = customer(&app, "Acme", None, None).await;
    let category = app.create_category("Compactors").await;
    let a = app
        .create_asset(json!({"code": "AV-1", "name": "a", "category": category["id"]}))
        .await;
    let b = app
        .create_asset(json!({"code": "AV-2", "name": "b", "category": category["id"]}))
        .await;
    let blocks = format!("/api/v1/assets/{}/blocks", s(&a, "id"));
    let block = json!({"starts_on": day(5), "ends_on": day(7), "reason": "hydraulics"});
    expect_forbidden(app.post(&blocks, office.as_str(), &block).await).await;
    let made = expect_json(
        app.post(&blocks, dispatcher.as_str(), &block).await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(made["kind"], "maintenance");
    let resp = app
        .post(
            "/api/v1/contracts",
            office.as_str(),
            &new_contract(acme, &a, 0, 5),
        )
        .await;
    let problem = expect_problem(resp, StatusCode::CONFLICT, "booking_conflict").await;
    assert_eq!(problem["detail"]["booking"]["id"], made["id"]);

    let query = format!(
        "/api/v1/availability?category={}&from={}&to={}",
        s(&category, "id"),
        day(4),
        day(6)
    );
    let free = app.get_ok(&query, office.as_str()).await;
    assert_eq!(free["free"], 1);
    assert_eq!(free["assets"][0]["id"], b["id"]);
    assert_eq!(free["assets"][0]["code"], "AV-2");
    let bad = format!(
        "/api/v1/availability?category={}&from={}&to={}",
        s(&category, "id"),
        day(6),
        day(4)
    );
    expect_only_field(app.get(&bad, office.as_str()).await, "to").await;

    let listed = app.get_ok(&blocks, office.as_str()).await;
    assert_eq!(listed.as_array().unwrap().len(), 1);
    let one = format!("{blocks}/{}", s(&made, "id"));
    assert_eq!(
        app.delete(&one, dispatcher.as_str()).await.status(),
        StatusCode::NO_CONTENT
    );
    expect_problem(
        app.delete(&one, dispatcher.as_str()).await,
        StatusCode::CONFLICT,
        "illegal_transition",
    )
    .await;
    let free = app.get_ok(&query, office.as_str()).await;
    assert_eq!(free["free"], 2);
}

async fn sales_reach_only_their_customers(app: TestApp) {
    let office = app.user_with_role(Role::RentalOffice).await;
    let sales = app.user_with_role(Role::Sales).await;
    let sales_id: Uuid = app
        .db
        .scalar("SELECT id FROM users WHERE role = 'sales'")
        .await;
    let theirs = customer(&app, "Theirs", Some(sales_id), None).await;
    let others = customer(&app, "Others", None, None).await;
    let mine = create(
        &app,
        &office,
        &json!({"customer_id": theirs, "starts_on": day(1), "ends_on": day(2)}),
    )
    .await;
    let not = create(
        &app,
        &office,
        &json!({"customer_id": others, "starts_on": day(1), "ends_on": day(2)}),
    )
    .await;
    app.get_ok(
        &format!("/api/v1/contracts/{}", s(&mine, "id")),
        sales.as_str(),
    )
    .await;
    expect_not_found(
        app.get(
            &format!("/api/v1/contracts/{}", s(&not, "id")),
            sales.as_str(),
        )
        .await,
    )
    .await;
    let list = app.get_ok("/api/v1/contracts", sales.as_str()).await;
    assert_eq!(items(&list).len(), 1);
    assert_eq!(items(&list)[0]["id"], mine["id"]);
    // Sales read; they do not write contracts.
    let body = json!({"customer_id": theirs, "starts_on": day(1), "ends_on": day(2)});
    expect_forbidden(app.post("/api/v1/contracts", sales.as_str(), &body).await).await;
}
