//! Customer classification over HTTP: read, recompute, settings (422 naming fields, 409 when
//! stale). The rules themselves are tested in domain/tests/classification.rs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use chrono::{Duration, Utc};
use common::*;
use domain::seed_office::{self, ContractRow, CustomerRow, LineRow};
use domain::Actor;
use mobile_shared::Role;
use reqwest::{Method, StatusCode};
use serde_json::json;

domain::backend_matrix!(
    TestApp:
    classification_is_read_and_recomputed,
    settings_are_validated_and_versioned,
);

async fn classification_is_read_and_recomputed(app: TestApp) {
    let category = app.create_category("Excavators").await;
    let customer = CustomerRow {
        id: uuid::Uuid::now_v7(),
        legal_name: "Acme Build".into(),
        industry: Some("construction".into()),
        account_manager_id: None,
        currency: "EUR".into(),
    };
    let today = Utc::now().date_naive();
    let contract = ContractRow {
        id: uuid::Uuid::now_v7(),
        customer_id: customer.id,
        status: "active",
        starts_on: today - Duration::days(3),
        ends_on: today + Duration::days(10),
        currency: "EUR".into(),
        lines: vec![LineRow {
            asset_id: None,
            category_id: Some(s(&category, "id").parse().unwrap()),
            quantity: 2,
            rate_cents: 5_000,
            rate_period: "day",
        }],
    };
    seed_office::insert(
        &app.db.store,
        &Actor::system(),
        std::slice::from_ref(&customer),
        &[contract],
        &[],
    )
    .await
    .unwrap();
    let path = format!("/api/v1/customers/{}/classification", customer.id);
    let office = app.user_with_role(Role::RentalOffice).await;
    expect_not_found(app.get(&path, office.as_str()).await).await;

    let resp = app.send(Method::POST, &path, office.as_str(), None).await;
    let got = expect_json(resp, StatusCode::OK).await;
    assert_eq!(got["value_tier"], "new", "{got}");
    assert_eq!(got["credit_grade"], "C");
    assert_eq!(got["auto_renew_allowed"], false);
    assert_eq!(got["lifecycle_stage"], "new");
    let rfm = &got["breakdown"]["rfm"];
    // 2 × 50.00 a day for 14 days.
    assert_eq!(rfm["monetary_cents"]["value"], 140_000, "{got}");
    assert_eq!(rfm["recency_days"]["value"], 3);
    assert_eq!(got["breakdown"]["mode"], "on_demand");
    assert_eq!(got["breakdown"]["product_lines"][0]["name"], "Excavators");

    let finance = app.user_with_role(Role::Finance).await;
    let read = app.get_ok(&path, finance.as_str()).await;
    assert_eq!(read, got);
}

async fn settings_are_validated_and_versioned(app: TestApp) {
    let path = "/api/v1/classification/settings";
    let doc = app.get_ok(path, app.admin()).await;
    assert_eq!(doc["version"], 1);
    let settings = doc["settings"].clone();

    let mut bad = settings.clone();
    bad["rfm"]["window_months"] = json!(0);
    bad["rfm"]["tiers"][0]["monetary"] = json!({"min": 5, "max": 1});
    let resp = app
        .send(
            Method::PUT,
            path,
            app.admin(),
            Some(&json!({"version": 1, "settings": bad})),
        )
        .await;
    expect_fields(
        resp,
        &[
            "settings.rfm.window_months",
            "settings.rfm.tiers[0].monetary",
        ],
    )
    .await;
    let mut typo = settings.clone();
    typo["credit"]["grade_z_min"] = json!(1);
    let resp = app
        .send(
            Method::PUT,
            path,
            app.admin(),
            Some(&json!({"version": 1, "settings": typo})),
        )
        .await;
    expect_problem(resp, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(app.get_ok(path, app.admin()).await, doc, "nothing written");

    let mut good = settings.clone();
    good["credit"]["credit_limit_a_cents"] = json!(9_000_000);
    let body = json!({"version": 1, "settings": good});
    let resp = app.send(Method::PUT, path, app.admin(), Some(&body)).await;
    let after = expect_json(resp, StatusCode::OK).await;
    assert_eq!(after["version"], 2);
    assert_eq!(
        after["settings"]["credit"]["credit_limit_a_cents"],
        9_000_000
    );
    let resp = app.send(Method::PUT, path, app.admin(), Some(&body)).await;
    let stale = expect_problem(resp, StatusCode::CONFLICT, "version_conflict").await;
    assert_eq!(stale["detail"]["version"], 2, "{stale}");
}
