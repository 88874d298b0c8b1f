//! The rental office's console view (`#office`: web/js/office.mjs, web/js/contracts.mjs) in a
//! real browser, on both databases, with data created through the HTTP API: the customer list
//! and its filters, the customer 360° panel, the contract detail, the renewal pipeline, and
//! the entry hidden from roles that may not read customers. SKIPPED without chromium and
//! chromedriver unless `CI` is set (the harness is tests/browser/).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod browser;
mod common;

use browser::*;
use common::*;
use domain::testing::Fixture;
use domain::Backend;
use fantoccini::{Client, Locator};
use serde_json::{json, Value};

domain::backend_matrix!(
    OfficeApp:
    the_office_lists_filters_and_opens_a_customer,
    the_renewal_pipeline_groups_live_contracts_by_days_to_the_end,
    a_technician_has_no_office_entry,
);

/// A server, chromedriver, and the office's data: two customers (one with two signed contracts
/// ending in 10 and 70 days, a contact and two follow-ups; one lead without contracts), both
/// classified; a rental-office and a technician user.
struct OfficeApp {
    app: TestApp,
    driver: Driver,
    office: Seeded,
    _data_dir: tempfile::TempDir,
}

struct Seeded {
    customer: Value,
    lead: Value,
    soon: Value,
    later: Value,
    draft: Value,
}

impl Fixture for OfficeApp {
    async fn open(backend: Backend) -> Option<OfficeApp> {
        let driver = Driver::start("office browser tests").await?;
        let data_dir = tempfile::tempdir().expect("data dir");
        let app = TestApp::start(
            backend,
            api::ApiConfig {
                data_dir: data_dir.path().to_owned(),
                ..Default::default()
            },
        )
        .await?;
        let office = seed(&app).await;
        Some(OfficeApp {
            app,
            driver,
            office,
            _data_dir: data_dir,
        })
    }
}

fn day(days: i64) -> String {
    (chrono::Utc::now().date_naive() + chrono::Duration::days(days)).to_string()
}

fn ago(hours: i64) -> String {
    (chrono::Utc::now() - chrono::Duration::hours(hours)).to_rfc3339()
}

async fn user(app: &TestApp, username: &str, role: &str) {
    app.create(
        "/api/v1/users",
        &json!({"username": username, "password": USER_PASSWORD, "role": role}),
    )
    .await;
}

async fn signed_contract(app: &TestApp, customer: &Value, mut body: Value) -> Value {
    body["customer_id"] = customer["id"].clone();
    let contract = app.create("/api/v1/contracts", &body).await;
    let path = format!("/api/v1/contracts/{}/sign", s(&contract, "id"));
    expect_json(
        app.send(reqwest::Method::POST, &path, app.admin(), None)
            .await,
        reqwest::StatusCode::OK,
    )
    .await
}

async fn seed(app: &TestApp) -> Seeded {
    user(app, "office-1", "rental_office").await;
    user(app, "tech-1", "technician").await;
    let customer = app
        .create(
            "/api/v1/customers",
            &json!({"legal_name": "Acme Cranes", "kind": "company", "currency": "EUR",
                    "status": "active", "payment_terms_days": 30}),
        )
        .await;
    let lead = app
        .create(
            "/api/v1/customers",
            &json!({"legal_name": "Birch Builders", "kind": "company", "currency": "EUR"}),
        )
        .await;
    let id = s(&customer, "id").to_owned();
    app.create(
        &format!("/api/v1/customers/{id}/contacts"),
        &json!({"name": "Mia Chen", "role": "Site manager", "phone": "+86 21 5555 0101"}),
    )
    .await;
    for (hours, channel, outcome) in [
        (48, "phone", "Asked for a quote"),
        (1, "visit", "Walked the site"),
    ] {
        app.create(
            &format!("/api/v1/customers/{id}/follow-ups"),
            &json!({"at": ago(hours), "channel": channel, "outcome": outcome}),
        )
        .await;
    }
    let a1 = app.asset("OF-1").await;
    let a2 = app.asset("OF-2").await;
    let a3 = app.asset("OF-3").await;
    let soon = signed_contract(
        app,
        &customer,
        json!({"starts_on": day(0), "ends_on": day(10), "deposit_cents": 50_000,
               "lines": [{"asset_id": a1["id"], "rate_cents": 12_050, "rate_period": "day"}]}),
    )
    .await;
    let later = signed_contract(
        app,
        &customer,
        json!({"starts_on": day(0), "ends_on": day(70), "deposit_cents": 25_000,
               "lines": [{"asset_id": a2["id"], "rate_cents": 60_000, "rate_period": "week"}]}),
    )
    .await;
    // A draft is not live: neither in the pipeline nor in the deposits.
    let mut draft_body = json!({"starts_on": day(0), "ends_on": day(20), "deposit_cents": 99_999,
        "lines": [{"asset_id": a3["id"], "rate_cents": 1_000, "rate_period": "day"}]});
    draft_body["customer_id"] = customer["id"].clone();
    let draft = app.create("/api/v1/contracts", &draft_body).await;
    for c in [&customer, &lead] {
        let path = format!("/api/v1/customers/{}/classification", s(c, "id"));
        expect_json(
            app.send(reqwest::Method::POST, &path, app.admin(), None)
                .await,
            reqwest::StatusCode::OK,
        )
        .await;
    }
    // The list rows carry the stored classification.
    let customer = app
        .get_ok(&format!("/api/v1/customers/{id}"), app.admin())
        .await;
    let lead = app
        .get_ok(
            &format!("/api/v1/customers/{}", s(&lead, "id")),
            app.admin(),
        )
        .await;
    Seeded {
        customer,
        lead,
        soon,
        later,
        draft,
    }
}

impl OfficeApp {
    /// A browser signed in as `username` at `path` (the console answers the login page there and
    /// reloads into the console, hash kept), once the console is ready.
    async fn signed_in(&self, username: &str, path: &str) -> Client {
        let c = self.driver.browser("en-US").await;
        c.goto(&self.app.url(path)).await.unwrap();
        fill_login(&c, username, USER_PASSWORD).await;
        wait_for(
            &c,
            "the console",
            "return location.pathname === '/console' && !!document.getElementById('map')
               && document.body.dataset.ready === '1'",
        )
        .await;
        c
    }
}

/// Rows of the customer table once it has answered: names in order.
const CUSTOMER_ROWS: &str = "const t = document.getElementById('customer-table');
    if (t.dataset.loaded === undefined) return false;
    return [...t.querySelectorAll('tbody tr[data-customer-id]')].map(r => r.cells[0].textContent);";

async fn pick(c: &Client, select: &str, value: &str) {
    c.execute(
        "const s = document.getElementById(arguments[0]); s.value = arguments[1];
         s.dispatchEvent(new Event('change'));",
        vec![json!(select), json!(value)],
    )
    .await
    .unwrap();
}

async fn section_items(c: &Client, name: &str) -> Value {
    c.execute(
        "return [...document.querySelectorAll(`#office-panel section[data-section='${arguments[0]}'] li`)]
           .map(li => li.textContent)",
        vec![json!(name)],
    )
    .await
    .unwrap()
}

async fn click(c: &Client, css: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

async fn the_office_lists_filters_and_opens_a_customer(app: OfficeApp) {
    let seeded = &app.office;
    let c = app.signed_in("office-1", "/console#office").await;
    wait_for(
        &c,
        "the office view",
        "const o = document.getElementById('office');
         return o && !o.hidden && o.dataset.view === 'customers'",
    )
    .await;
    assert_eq!(
        wait_for(&c, "the customers", CUSTOMER_ROWS).await,
        json!(["Acme Cranes", "Birch Builders"])
    );
    let tier = s(&seeded.customer, "value_tier").to_owned();
    let lead_tier = s(&seeded.lead, "value_tier").to_owned();
    assert_ne!(tier, lead_tier, "the seed should give two tiers");
    // The row shows status, tier and grade; the summary shares the two tiers.
    let row = text(
        &c,
        &format!("tr[data-customer-id='{}']", s(&seeded.customer, "id")),
    )
    .await;
    assert!(
        row.contains("Active")
            && row.contains(&tier)
            && row.contains(s(&seeded.customer, "credit_grade")),
        "{row}"
    );
    let summary = text(&c, "#customer-summary").await;
    assert!(
        summary.contains("2 customers") && summary.contains(&format!("{tier} 1 (50%)")),
        "{summary}"
    );

    // Filters: the tier, then the grade (what the API answers for that grade), then the status.
    pick(&c, "customer-tier", &tier).await;
    assert_eq!(
        wait_for(&c, "the tier filter", CUSTOMER_ROWS).await,
        json!(["Acme Cranes"])
    );
    // The filter is in the URL: a reload (or a pasted link) shows the same list.
    let fragment = c
        .current_url()
        .await
        .unwrap()
        .fragment()
        .unwrap_or("")
        .to_owned();
    assert!(fragment.contains(&format!("tier={tier}")), "{fragment}");
    c.refresh().await.unwrap();
    wait_for(
        &c,
        "the console again",
        "return document.body.dataset.ready === '1'",
    )
    .await;
    assert_eq!(
        wait_for(&c, "the tier filter after a reload", CUSTOMER_ROWS).await,
        json!(["Acme Cranes"])
    );
    assert_eq!(
        c.execute(
            "return document.getElementById('customer-tier').value",
            vec![]
        )
        .await
        .unwrap(),
        json!(tier)
    );
    pick(&c, "customer-tier", &lead_tier).await;
    assert_eq!(
        wait_for(&c, "the other tier", CUSTOMER_ROWS).await,
        json!(["Birch Builders"])
    );
    pick(&c, "customer-tier", "").await;
    for grade in ["A", "B", "C", "D"] {
        let expected: Vec<Value> = items(
            &app.app
                .get_ok(
                    &format!("/api/v1/customers?credit_grade={grade}"),
                    app.app.admin(),
                )
                .await,
        )
        .iter()
        .map(|c| c["legal_name"].clone())
        .collect();
        pick(&c, "customer-grade", grade).await;
        assert_eq!(
            wait_for(&c, "the grade filter", CUSTOMER_ROWS).await,
            json!(expected),
            "grade {grade}"
        );
    }
    pick(&c, "customer-grade", "").await;
    pick(&c, "customer-status", "lead").await;
    assert_eq!(
        wait_for(&c, "the status filter", CUSTOMER_ROWS).await,
        json!(["Birch Builders"])
    );
    pick(&c, "customer-status", "").await;
    wait_for(&c, "all customers again", CUSTOMER_ROWS).await;

    // The 360° panel: contacts, contracts, assets on hire, follow-ups newest first, complaints,
    // the classification, the live contracts' deposits (the draft's is not counted).
    let id = s(&seeded.customer, "id");
    click(&c, &format!("tr[data-customer-id='{id}']")).await;
    wait_for(
        &c,
        "the customer panel",
        &format!("return document.getElementById('office-panel').dataset.loaded === '{id}'"),
    )
    .await;
    assert!(c
        .current_url()
        .await
        .unwrap()
        .fragment()
        .unwrap_or("")
        .contains(&format!("customer={id}")));
    assert_eq!(text(&c, "#office-panel-title").await, "Acme Cranes");
    let contacts = section_items(&c, "contacts").await;
    assert!(
        contacts[0].as_str().unwrap().contains("Mia Chen"),
        "{contacts}"
    );
    let contracts = section_items(&c, "contracts").await;
    assert_eq!(contracts.as_array().unwrap().len(), 3, "{contracts}");
    for k in [&seeded.soon, &seeded.later, &seeded.draft] {
        assert!(
            contracts.to_string().contains(s(k, "number")),
            "{contracts} lacks {}",
            s(k, "number")
        );
    }
    let follow_ups = section_items(&c, "follow-ups").await;
    let follow_ups: Vec<&str> = follow_ups
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(follow_ups.len(), 2);
    assert!(
        follow_ups[0].contains("Walked the site") && follow_ups[1].contains("Asked for a quote"),
        "newest first: {follow_ups:?}"
    );
    let hire = c
        .execute(
            "return [...document.querySelectorAll(\"#office-panel section[data-section='on-hire'] li\")]
               .map(li => li.dataset.asset + ':' + li.dataset.hire).sort()",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(hire, json!(["OF-1:booked", "OF-2:booked"]));
    assert_eq!(
        c.execute(
            "return document.querySelector(\"#office-panel [data-deposits]\").dataset.deposits",
            vec![]
        )
        .await
        .unwrap(),
        json!("75000 EUR")
    );
    let deposits = text(&c, "#office-panel section[data-section='deposits']").await;
    assert!(deposits.contains("€750.00"), "{deposits}");
    let complaints = text(&c, "#office-panel section[data-section='complaints']").await;
    assert!(
        complaints.contains(catalogue("en")["office.complaints.none"].as_str().unwrap()),
        "{complaints}"
    );
    // For a look at the panel: FIELDOPS_TEST_SCREENSHOT=/tmp/office.png.
    if let Ok(path) = std::env::var("FIELDOPS_TEST_SCREENSHOT") {
        std::fs::write(path, c.screenshot().await.unwrap()).unwrap();
    }
    let classification = text(&c, "#office-panel section[data-section='classification']").await;
    assert!(
        classification.contains(&tier) && classification.contains("Recency"),
        "{classification}"
    );

    // A contract from the panel: its lines with asset codes and rates as money, its documents.
    let soon_id = s(&seeded.soon, "id");
    click(
        &c,
        &format!("#office-panel button[data-contract-id='{soon_id}']"),
    )
    .await;
    wait_for(
        &c,
        "the contract panel",
        &format!("return document.getElementById('office-panel').dataset.loaded === '{soon_id}'"),
    )
    .await;
    let lines = text(&c, "#office-panel section[data-section='lines']").await;
    assert!(
        lines.contains("OF-1") && lines.contains("€120.50 / day"),
        "{lines}"
    );
    let docs = text(&c, "#office-panel section[data-section='documents']").await;
    assert!(docs.contains("No documents"), "{docs}");
    assert!(text(&c, "#office-panel-head").await.contains("€500.00"));
    assert_eq!(page_errors(&c).await, "", "the page recorded errors");
}

/// Contract ids in a pipeline column.
async fn column(c: &Client, bucket: &str) -> Vec<String> {
    let ids = c
        .execute(
            "return [...document.querySelectorAll(`#pipeline [data-bucket='${arguments[0]}'] button[data-contract-id]`)]
               .map(b => b.dataset.contractId)",
            vec![json!(bucket)],
        )
        .await
        .unwrap();
    serde_json::from_value(ids).unwrap()
}

async fn the_renewal_pipeline_groups_live_contracts_by_days_to_the_end(app: OfficeApp) {
    let seeded = &app.office;
    let c = app.signed_in("office-1", "/console#office=contracts").await;
    let live = wait_for(
        &c,
        "the pipeline",
        "const p = document.getElementById('pipeline'); return p && p.dataset.loaded",
    )
    .await;
    assert_eq!(live, json!("2"), "two live contracts (the draft is not)");
    assert_eq!(
        column(&c, "15").await,
        vec![s(&seeded.soon, "id").to_owned()]
    );
    assert_eq!(
        column(&c, "90").await,
        vec![s(&seeded.later, "id").to_owned()]
    );
    for empty in ["30", "60", "later"] {
        assert!(column(&c, empty).await.is_empty(), "column {empty}");
    }
    // The list, then filtered by status.
    let rows = "const t = document.getElementById('contract-table');
        if (t.dataset.loaded === undefined) return false;
        return [...t.querySelectorAll('tbody tr[data-contract-id]')].map(r => r.dataset.contractId).sort();";
    let mut all = vec![
        s(&seeded.soon, "id").to_owned(),
        s(&seeded.later, "id").to_owned(),
        s(&seeded.draft, "id").to_owned(),
    ];
    all.sort();
    assert_eq!(wait_for(&c, "the contracts", rows).await, json!(all));
    pick(&c, "contract-status", "draft").await;
    assert_eq!(
        wait_for(&c, "the drafts", rows).await,
        json!([s(&seeded.draft, "id")])
    );
    assert!(c
        .current_url()
        .await
        .unwrap()
        .fragment()
        .unwrap_or("")
        .contains("kstatus=draft"));
    // A card opens the contract.
    let later = s(&seeded.later, "id");
    click(&c, &format!("#pipeline button[data-contract-id='{later}']")).await;
    wait_for(
        &c,
        "the contract panel",
        &format!("return document.getElementById('office-panel').dataset.loaded === '{later}'"),
    )
    .await;
    let lines = text(&c, "#office-panel section[data-section='lines']").await;
    assert!(
        lines.contains("OF-2") && lines.contains("€600.00 / week"),
        "{lines}"
    );
    assert_eq!(page_errors(&c).await, "", "the page recorded errors");
}

async fn a_technician_has_no_office_entry(app: OfficeApp) {
    let c = app.signed_in("tech-1", "/console#office").await;
    // The console itself works; the office entry and view are not in the page at all.
    assert_eq!(
        c.execute(
            "return [!!document.getElementById('office-link'), !!document.getElementById('office'),
                     !!document.getElementById('customer-table')]",
            vec![]
        )
        .await
        .unwrap(),
        json!([false, false, false])
    );
    // While the office user, in the same console, has the entry, and it opens the view.
    let office = app.signed_in("office-1", "/console").await;
    click(&office, "#office-link").await;
    wait_for(
        &office,
        "the office view",
        "const o = document.getElementById('office'); return o && !o.hidden && location.hash.includes('office')",
    )
    .await;
    assert_eq!(
        page_errors(&c).await,
        "",
        "the technician's page recorded errors"
    );
    assert_eq!(
        page_errors(&office).await,
        "",
        "the office page recorded errors"
    );
}
