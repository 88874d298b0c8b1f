//! The rental office's customers over HTTP, on SQLite and PostgreSQL: the record's life
//! (create, read with contacts and sites, patch with a version, delete), bad input as 4xx with
//! a code and nothing written, a sales user who cannot see or change another's customer (404),
//! contacts, the contact log, complaints, picklists (admin only) and the summary and KPI.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use mobile_shared::Role;
use reqwest::StatusCode;
use serde_json::{json, Value};

domain::backend_matrix!(
    TestApp:
    a_customer_lives_and_dies_over_http,
    bad_customer_input_is_refused_with_codes,
    sales_a_cannot_see_or_change_sales_bs_customer,
    complaints_open_close_and_count,
    picklists_are_extended_by_admins,
);

fn customer_body(name: &str) -> Value {
    json!({"legal_name": name, "kind": "company", "currency": "EUR",
           "industry": "construction", "source": "web", "credit_limit_cents": 250000,
           "payment_terms_days": 30, "tags": ["north"]})
}

async fn user_id(app: &TestApp, token: &str) -> String {
    let me = app.get_ok("/api/v1/auth/session", token).await;
    s(&me, "id").to_owned()
}

async fn a_customer_lives_and_dies_over_http(app: TestApp) {
    let office = app.user_with_role(Role::RentalOffice).await;
    let created = app
        .post_expect(
            "/api/v1/customers",
            office.as_str(),
            &customer_body("Bau Meier GmbH"),
            StatusCode::CREATED,
        )
        .await;
    assert_eq!(created["status"], "lead");
    assert_eq!(created["value_tier"], Value::Null);
    assert_eq!(created["credit_grade"], Value::Null);
    let id = s(&created, "id").to_owned();
    let path = format!("/api/v1/customers/{id}");

    let contact = app
        .post_expect(
            &format!("{path}/contacts"),
            office.as_str(),
            &json!({"name": "Petra", "phone": "+49 89 1234", "preferred_channel": "phone"}),
            StatusCode::CREATED,
        )
        .await;
    let site = app
        .create_site(json!({"name": "Building site", "kind": "customer_site", "customer_id": id}))
        .await;
    assert_eq!(site["customer_id"], id.as_str());
    let detail = app.get_ok(&path, office.as_str()).await;
    assert_eq!(detail["legal_name"], "Bau Meier GmbH");
    assert_eq!(detail["contacts"][0]["id"], contact["id"]);
    assert_eq!(detail["sites"][0]["id"], site["id"]);

    let changed = expect_json(
        app.patch(
            &path,
            office.as_str(),
            &json!({"version": 1, "status": "active", "notes": "Good payer", "region": null}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        (changed["version"].as_i64(), &changed["status"]),
        (Some(2), &json!("active"))
    );
    // A stale version: 409 with the current record.
    let stale = expect_problem(
        app.patch(&path, office.as_str(), &json!({"version": 1, "notes": "x"}))
            .await,
        StatusCode::CONFLICT,
        "version_conflict",
    )
    .await;
    assert_eq!(stale["detail"]["current_version"], 2);
    expect_problem(
        app.patch(
            &path,
            office.as_str(),
            &json!({"version": 2, "status": "lead"}),
        )
        .await,
        StatusCode::CONFLICT,
        "illegal_transition",
    )
    .await;

    let follow_up = app
        .post_expect(
            &format!("{path}/follow-ups"),
            office.as_str(),
            &json!({"channel": "visit", "outcome": "Wants two more excavators",
                    "next_step": "quote", "next_step_on": "2099-01-01"}),
            StatusCode::CREATED,
        )
        .await;
    let log = app
        .get_ok(&format!("{path}/follow-ups"), office.as_str())
        .await;
    assert_eq!(items(&log)[0]["id"], follow_up["id"]);

    let listed = app
        .get_ok(
            "/api/v1/customers?status=active&tag=north&q=meier",
            office.as_str(),
        )
        .await;
    assert_eq!(items(&listed).len(), 1);
    let none = app
        .get_ok(
            "/api/v1/customers?status=lead&sort=value_tier",
            office.as_str(),
        )
        .await;
    assert!(items(&none).is_empty());
    let summary = app
        .get_ok("/api/v1/customers/summary", office.as_str())
        .await;
    assert_eq!(summary["total"], 1);
    assert_eq!(summary["by_value_tier"][0]["value"], Value::Null);

    let contact_path = format!("{path}/contacts/{}", s(&contact, "id"));
    expect_json(
        app.patch(&contact_path, office.as_str(), &json!({"role": "buyer"}))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        app.delete(&contact_path, office.as_str()).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.delete(&path, office.as_str()).await.status(),
        StatusCode::NO_CONTENT
    );
    expect_not_found(app.get(&path, office.as_str()).await).await;
    let audit = app.audit(&[("entity", "customer")]).await;
    assert_eq!(audit.len(), 3, "{audit:?}");
}

async fn bad_customer_input_is_refused_with_codes(app: TestApp) {
    let office = app.user_with_role(Role::RentalOffice).await;
    let mut bad = customer_body("X");
    bad["industry"] = json!("space_mining");
    bad["currency"] = json!("euro");
    bad["credit_limit_cents"] = json!(-5);
    bad["account_manager_id"] = json!(uuid::Uuid::now_v7());
    expect_fields(
        app.post("/api/v1/customers", office.as_str(), &bad).await,
        &[
            "industry",
            "currency",
            "credit_limit_cents",
            "account_manager_id",
        ],
    )
    .await;
    // A wrong type is a 422 naming the field, an unknown field too.
    let mut wrong = customer_body("X");
    wrong["credit_limit_cents"] = json!(12.5);
    expect_fields(
        app.post("/api/v1/customers", office.as_str(), &wrong).await,
        &["credit_limit_cents"],
    )
    .await;
    let created = app
        .post_expect(
            "/api/v1/customers",
            office.as_str(),
            &customer_body("Good"),
            StatusCode::CREATED,
        )
        .await;
    let path = format!("/api/v1/customers/{}", s(&created, "id"));
    expect_only_field(
        app.post(
            &format!("{path}/contacts"),
            office.as_str(),
            &json!({"name": "Nobody reachable"}),
        )
        .await,
        "phone",
    )
    .await;
    // The query extractor names the parameter in its message.
    let bogus = expect_fields(
        app.get("/api/v1/customers?status=bogus", office.as_str())
            .await,
        &["query"],
    )
    .await;
    assert!(
        bogus["fields"]["query"]
            .as_str()
            .unwrap()
            .starts_with("status"),
        "{bogus}"
    );
    expect_fields(
        app.get("/api/v1/customers?limit=0", office.as_str()).await,
        &["limit"],
    )
    .await;
    // Nothing of the refused writes was kept.
    let all = app.get_ok("/api/v1/customers", office.as_str()).await;
    assert_eq!(items(&all).len(), 1);
    let detail = app.get_ok(&path, office.as_str()).await;
    assert!(detail["contacts"].as_array().unwrap().is_empty());
    // A site of another kind cannot belong to a customer.
    expect_only_field(
        app.post(
            "/api/v1/sites",
            office.as_str(),
            &json!({"name": "Depot", "kind": "depot", "customer_id": created["id"]}),
        )
        .await,
        "customer_id",
    )
    .await;
}

async fn sales_a_cannot_see_or_change_sales_bs_customer(app: TestApp) {
    let a = app.user_with_role(Role::Sales).await;
    let b = app.user_with_role(Role::Sales).await;
    let finance = app.user_with_role(Role::Finance).await;
    let theirs = app
        .post_expect(
            "/api/v1/customers",
            b.as_str(),
            &customer_body("B's customer"),
            StatusCode::CREATED,
        )
        .await;
    assert_eq!(
        theirs["account_manager_id"],
        user_id(&app, &b).await.as_str()
    );
    let mine = app
        .post_expect(
            "/api/v1/customers",
            a.as_str(),
            &customer_body("A's customer"),
            StatusCode::CREATED,
        )
        .await;
    let path = format!("/api/v1/customers/{}", s(&theirs, "id"));
    expect_not_found(app.get(&path, a.as_str()).await).await;
    expect_not_found(
        app.patch(&path, a.as_str(), &json!({"version": 1, "notes": "mine"}))
            .await,
    )
    .await;
    expect_not_found(app.delete(&path, a.as_str()).await).await;
    expect_not_found(app.get(&format!("{path}/contacts"), a.as_str()).await).await;
    expect_not_found(
        app.post(
            &format!("{path}/follow-ups"),
            a.as_str(),
            &json!({"channel": "phone", "outcome": "poached"}),
        )
        .await,
    )
    .await;
    expect_only_field(
        app.post(
            "/api/v1/complaints",
            a.as_str(),
            &json!({"customer_id": theirs["id"], "category": "service"}),
        )
        .await,
        "customer_id",
    )
    .await;
    let listed = app.get_ok("/api/v1/customers", a.as_str()).await;
    let names: Vec<&str> = items(&listed).iter().map(|c| s(c, "legal_name")).collect();
    assert_eq!(names, ["A's customer"]);
    // B's customer is untouched; finance reads both and changes neither.
    let still = app.get_ok(&path, b.as_str()).await;
    assert_eq!(still["version"], 1);
    let all = app.get_ok("/api/v1/customers", finance.as_str()).await;
    assert_eq!(items(&all).len(), 2);
    expect_forbidden(
        app.patch(
            &format!("/api/v1/customers/{}", s(&mine, "id")),
            finance.as_str(),
            &json!({"version": 1, "notes": "x"}),
        )
        .await,
    )
    .await;
}

async fn complaints_open_close_and_count(app: TestApp) {
    let office = app.user_with_role(Role::RentalOffice).await;
    let mut body = customer_body("Grumpy");
    body["status"] = json!("active");
    let grumpy = app
        .post_expect(
            "/api/v1/customers",
            office.as_str(),
            &body,
            StatusCode::CREATED,
        )
        .await;
    expect_only_field(
        app.post(
            "/api/v1/complaints",
            office.as_str(),
            &json!({"customer_id": grumpy["id"], "category": "weather"}),
        )
        .await,
        "category",
    )
    .await;
    let complaint = app
        .post_expect(
            "/api/v1/complaints",
            office.as_str(),
            &json!({"customer_id": grumpy["id"], "category": "late_delivery",
                    "description": "Two hours late"}),
            StatusCode::CREATED,
        )
        .await;
    let path = format!("/api/v1/complaints/{}", s(&complaint, "id"));
    let closed = expect_json(
        app.patch(
            &path,
            office.as_str(),
            &json!({"version": 1, "resolution": "Apologised"}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert!(closed["closed_at"].is_string());
    expect_problem(
        app.patch(
            &path,
            office.as_str(),
            &json!({"version": 2, "resolution": "Again"}),
        )
        .await,
        StatusCode::CONFLICT,
        "complaint_closed",
    )
    .await;
    let open = app
        .get_ok("/api/v1/complaints?state=open", office.as_str())
        .await;
    assert!(items(&open).is_empty());
    let by_customer = app
        .get_ok(
            &format!("/api/v1/complaints?customer_id={}", s(&grumpy, "id")),
            office.as_str(),
        )
        .await;
    assert_eq!(items(&by_customer).len(), 1);
    let rate = app.get_ok("/api/v1/kpis/complaints", office.as_str()).await;
    assert_eq!(rate["customers_with_complaints"], 1);
    assert_eq!(rate["active_customers"], 1);
    assert_eq!(rate["rate"], 1.0);
}

async fn picklists_are_extended_by_admins(app: TestApp) {
    let office = app.user_with_role(Role::RentalOffice).await;
    let regions = app
        .get_ok("/api/v1/picklists/region", office.as_str())
        .await;
    assert_eq!(regions, json!([]));
    expect_forbidden(
        app.post(
            "/api/v1/picklists/region",
            office.as_str(),
            &json!({"value": "south", "label": "South"}),
        )
        .await,
    )
    .await;
    let south = app
        .create(
            "/api/v1/picklists/region",
            &json!({"value": "south", "label": "South"}),
        )
        .await;
    assert_eq!(south["list"], "region");
    expect_problem(
        app.post(
            "/api/v1/picklists/region",
            app.admin(),
            &json!({"value": "south", "label": "South again"}),
        )
        .await,
        StatusCode::CONFLICT,
        "picklist_value_exists",
    )
    .await;
    expect_not_found(app.get("/api/v1/picklists/colours", office.as_str()).await).await;
    let mut body = customer_body("Southern");
    body["region"] = json!("south");
    app.post_expect(
        "/api/v1/customers",
        office.as_str(),
        &body,
        StatusCode::CREATED,
    )
    .await;
    let retired = expect_json(
        app.patch(
            "/api/v1/picklists/region/south",
            app.admin(),
            &json!({"retired": true}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert!(retired["retired_at"].is_string());
    body["legal_name"] = json!("Southern two");
    expect_only_field(
        app.post("/api/v1/customers", office.as_str(), &body).await,
        "region",
    )
    .await;
    let all = app
        .get_ok(
            "/api/v1/picklists/region?include_retired=true",
            office.as_str(),
        )
        .await;
    assert_eq!(all.as_array().unwrap().len(), 1);
}
