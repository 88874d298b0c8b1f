//! Maintenance plans, forecasts and services done, over HTTP, on SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use chrono::{Days, Duration, NaiveDate, Utc};
use common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

domain::backend_matrix!(
    TestApp:
    plans_are_created_read_changed_and_retired_with_an_audit_trail,
    bad_plans_name_the_field,
    the_forecast_says_when_the_next_service_is_due_and_how_urgent_it_is,
    whichever_comes_first_decides,
    nested_services_follow_the_occurrences_recorded,
    a_fixed_grid_skips_missed_services_and_counts_them,
    an_assets_own_plans_replace_its_categorys,
    an_asset_that_joins_a_category_later_counts_from_when_it_joined,
    a_work_order_opens_in_the_lead_is_worked_and_completed_once,
    work_orders_opened_by_hand_are_validated_and_one_per_plan,
    the_service_due_list_ranks_the_fleet_and_shows_each_asset_live,
);

fn today() -> NaiveDate {
    Utc::now().date_naive()
}

fn date(v: &Value) -> NaiveDate {
    v.as_str()
        .unwrap_or_else(|| panic!("not a date: {v}"))
        .parse()
        .unwrap()
}

async fn machine(app: &TestApp, code: &str, category: Option<&str>, hours: f64) -> Value {
    app.create_asset(json!({
        "code": code, "name": format!("Machine {code}"),
        "category": category, "engine_hours": hours,
    }))
    .await
}

async fn set_hours(app: &TestApp, asset: &Value, hours: f64) {
    let path = format!("/api/v1/assets/{}", s(asset, "id"));
    let current = app.get_ok(&path, app.admin()).await;
    let resp = app
        .patch(
            &path,
            app.admin(),
            &json!({"version": current["version"], "engine_hours": hours}),
        )
        .await;
    expect_json(resp, StatusCode::OK).await;
}

async fn plan(app: &TestApp, body: Value) -> Value {
    app.create("/api/v1/maintenance/plans", &body).await
}

async fn maintenance(app: &TestApp, asset: &Value) -> Value {
    app.get_ok(
        &format!("/api/v1/assets/{}/maintenance", s(asset, "id")),
        app.admin(),
    )
    .await
}

async fn record(app: &TestApp, asset: &Value, body: Value) -> Value {
    app.create(
        &format!("/api/v1/assets/{}/maintenance/services", s(asset, "id")),
        &body,
    )
    .await
}

/// The asset's meters as they stand now become a snapshot dated `days_ago` (what the clock's
/// daily snapshot would have taken then), so utilisation can be measured without waiting days.
async fn snapshot_days_ago(app: &TestApp, days_ago: i64) {
    let mut tx = app.db.store.begin().await.unwrap();
    domain::maintenance::forecast::snapshot_meters(&mut tx, Utc::now() - Duration::days(days_ago))
        .await
        .unwrap();
    tx.commit().await.unwrap();
}

fn service<'a>(m: &'a Value, plan: &Value) -> &'a Value {
    m["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["plan_id"] == plan["id"])
        .unwrap_or_else(|| panic!("no forecast for plan {}: {m}", plan["id"]))
}

async fn plans_are_created_read_changed_and_retired_with_an_audit_trail(app: TestApp) {
    let cat = app.create_category("Excavators").await;
    let created = plan(
        &app,
        json!({
            "name": " Lubrication ", "category_id": cat["id"],
            "intervals": [{"metric": "engine_hours", "every": 500}, {"metric": "days", "every": 180}],
            "lead_hours": 25,
        }),
    )
    .await;
    assert_eq!(created["name"], "Lubrication", "names are trimmed");
    assert_eq!(created["lead_days"], 10, "the default lead");
    assert_eq!(created["anchor"], "completion");
    assert_eq!(
        created["services"],
        json!([{"name": "Lubrication", "multiple": 1}]),
        "one service named like the plan by default"
    );
    assert_eq!(date(&created["starts_on"]), today());
    assert_eq!(created["version"], 1);
    let path = format!("/api/v1/maintenance/plans/{}", s(&created, "id"));
    assert_eq!(app.get_ok(&path, app.admin()).await, created);

    let listed = app
        .get_ok(
            &format!("/api/v1/maintenance/plans?category_id={}", s(&cat, "id")),
            app.admin(),
        )
        .await;
    assert_eq!(items(&listed), &vec![created.clone()]);
    let other = app
        .get_ok(
            &format!("/api/v1/maintenance/plans?category_id={}", Uuid::now_v7()),
            app.admin(),
        )
        .await;
    assert!(items(&other).is_empty());

    let resp = app
        .patch(
            &path,
            app.admin(),
            &json!({"version": 1, "lead_days": 14, "lead_hours": null, "anchor": "fixed"}),
        )
        .await;
    let changed = expect_json(resp, StatusCode::OK).await;
    assert_eq!(
        (
            &changed["lead_days"],
            &changed["lead_hours"],
            &changed["anchor"],
            &changed["version"]
        ),
        (&json!(14), &Value::Null, &json!("fixed"), &json!(2))
    );
    let stale = app
        .patch(&path, app.admin(), &json!({"version": 1, "name": "x"}))
        .await;
    let body = expect_problem(stale, StatusCode::CONFLICT, "version_conflict").await;
    assert_eq!(body["detail"]["plan"], changed);

    assert_eq!(
        app.delete(&path, app.admin()).await.status(),
        StatusCode::NO_CONTENT
    );
    expect_not_found(app.get(&path, app.admin()).await).await;
    expect_not_found(app.delete(&path, app.admin()).await).await;

    let actions: Vec<Value> = app
        .audit(&[("entity_id", s(&created, "id"))])
        .await
        .into_iter()
        .map(|e| e["action"].clone())
        .collect();
    assert_eq!(
        actions,
        [
            "maintenance_plan.delete",
            "maintenance_plan.update",
            "maintenance_plan.create"
        ]
    );
}

async fn bad_plans_name_the_field(app: TestApp) {
    let cat = app.create_category("Generators").await;
    let asset = machine(&app, "GEN-1", Some("Generators"), 10.0).await;
    let hours = |every: u32| json!([{"metric": "engine_hours", "every": every}]);
    let base = |patch: Value| {
        let mut body =
            json!({"name": "Service", "category_id": cat["id"], "intervals": hours(250)});
        for (k, v) in patch.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };
    let cases = [
        (base(json!({"intervals": []})), "intervals"),
        (base(json!({"intervals": hours(0)})), "intervals[0].every"),
        (
            base(json!({"intervals": hours(100_001)})),
            "intervals[0].every",
        ),
        (
            base(json!({"intervals": [{"metric": "days", "every": 3651}]})),
            "intervals[0].every",
        ),
        (
            base(json!({"intervals": [
                {"metric": "engine_hours", "every": 250},
                {"metric": "engine_hours", "every": 500}]})),
            "intervals[1].metric",
        ),
        (
            base(json!({"intervals": [{"metric": "days", "every": 7}], "lead_days": 7})),
            "lead_days",
        ),
        (base(json!({"lead_days": 366})), "lead_days"),
        (base(json!({"lead_hours": 250})), "lead_hours"),
        (
            base(json!({"intervals": [{"metric": "days", "every": 30}], "lead_hours": 5})),
            "lead_hours",
        ),
        (base(json!({"name": "  "})), "name"),
        (base(json!({"asset_id": asset["id"]})), "category_id"),
        (
            json!({"name": "Service", "intervals": hours(250)}),
            "category_id",
        ),
        (base(json!({"category_id": Uuid::now_v7()})), "category_id"),
        (
            json!({"name": "S", "asset_id": Uuid::now_v7(), "intervals": hours(250)}),
            "asset_id",
        ),
        (
            base(json!({"services": [{"name": "500 h", "multiple": 2}]})),
            "services",
        ),
        (
            base(json!({"services": [{"name": "a", "multiple": 1}, {"name": "b", "multiple": 1}]})),
            "services",
        ),
        (
            base(
                json!({"services": [{"name": "a", "multiple": 1}, {"name": "b", "multiple": 101}]}),
            ),
            "services[1].multiple",
        ),
    ];
    for (body, field) in cases {
        let resp = app
            .post("/api/v1/maintenance/plans", app.admin(), &body)
            .await;
        let problem = expect_fields(resp, &[field]).await;
        assert!(problem["fields"].is_object(), "{body}: {problem}");
    }
    // Wrong types and unknown metrics are the JSON extractor's 422, naming the field.
    let resp = app
        .post(
            "/api/v1/maintenance/plans",
            app.admin(),
            &base(json!({"intervals": [{"metric": "furlongs", "every": 1}]})),
        )
        .await;
    expect_problem(resp, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    let resp = app
        .post(
            "/api/v1/maintenance/plans",
            app.admin(),
            &base(json!({"intervals": hours(250), "lead_days": -1})),
        )
        .await;
    expect_problem(resp, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    // Nothing was created, and a patch is checked the same way.
    let listed = app.get_ok("/api/v1/maintenance/plans", app.admin()).await;
    assert!(items(&listed).is_empty(), "{listed}");
    let good = plan(&app, base(json!({}))).await;
    let resp = app
        .patch(
            &format!("/api/v1/maintenance/plans/{}", s(&good, "id")),
            app.admin(),
            &json!({"version": 1, "lead_hours": 300}),
        )
        .await;
    expect_only_field(resp, "lead_hours").await;
}

async fn the_forecast_says_when_the_next_service_is_due_and_how_urgent_it_is(app: TestApp) {
    // The example: a 250 h service, counted from 0 h; 62 h in the last 10 days is
    // 6.2 h/day; at 200.4 h, 49.6 h remain: 8 days, inside the 10-day lead.
    let cat_id = app.create_category("Excavators").await["id"].clone();
    let exc = machine(&app, "EXC-1", Some("Excavators"), 0.0).await;
    let p = plan(
        &app,
        json!({"name": "250 h service", "category_id": cat_id,
               "intervals": [{"metric": "engine_hours", "every": 250}]}),
    )
    .await;
    set_hours(&app, &exc, 138.4).await;
    snapshot_days_ago(&app, 10).await;
    set_hours(&app, &exc, 200.4).await;

    let m = maintenance(&app, &exc).await;
    let hpd = m["hours_per_day"].as_f64().unwrap();
    assert!((hpd - 6.2).abs() < 0.01, "{m}");
    let next = &m["next_service"];
    assert_eq!(next["plan_id"], p["id"]);
    assert_eq!(next["service"], "250 h service");
    assert_eq!(next["metric"], "engine_hours");
    assert_eq!(next["due_at_hours"], 250.0);
    assert_eq!(date(&next["forecast_date"]), today() + Days::new(8), "{m}");
    assert_eq!(next["urgency"], "soon");
    assert_eq!(next["occurrence"], 1);
    assert_eq!(next["meter_flagged"], false);
    // The asset shows it too.
    let shown = app
        .get_ok(&format!("/api/v1/assets/{}", s(&exc, "id")), app.admin())
        .await;
    assert_eq!(&shown["next_service"], next);

    // Used harder: due today; past the point: overdue.
    set_hours(&app, &exc, 247.0).await;
    assert_eq!(
        maintenance(&app, &exc).await["next_service"]["urgency"],
        "due"
    );
    set_hours(&app, &exc, 251.0).await;
    let m = maintenance(&app, &exc).await;
    assert_eq!(m["next_service"]["urgency"], "overdue");
    assert_eq!(m["next_service"]["metrics"][0]["remaining"], -1.0);

    // A service done re-anchors the plan: the next is 250 h after it.
    let done = record(&app, &exc, json!({"plan_id": p["id"]})).await;
    assert_eq!(
        (&done["occurrence"], &done["engine_hours"]),
        (&json!(1), &json!(251.0))
    );
    let m = maintenance(&app, &exc).await;
    assert_eq!(m["next_service"]["due_at_hours"], 501.0);
    assert_eq!(m["next_service"]["occurrence"], 2);
    assert_eq!(m["next_service"]["urgency"], "ok");

    // Bad records name the field; an unknown asset is 404.
    let path = format!("/api/v1/assets/{}/maintenance/services", s(&exc, "id"));
    let future = (Utc::now() + Duration::hours(2)).to_rfc3339();
    let cases = [
        (json!({"plan_id": p["id"], "done_at": future}), "done_at"),
        (
            json!({"plan_id": p["id"], "done_at": (Utc::now() - Duration::days(400)).to_rfc3339()}),
            "done_at",
        ),
        (
            json!({"plan_id": p["id"], "engine_hours": -1.0}),
            "engine_hours",
        ),
    ];
    for (body, field) in cases {
        expect_only_field(app.post(&path, app.admin(), &body).await, field).await;
    }
    let other = app.create_category("Lifts").await;
    let lift_plan = plan(
        &app,
        json!({"name": "Lift check", "category_id": other["id"],
               "intervals": [{"metric": "days", "every": 90}]}),
    )
    .await;
    expect_only_field(
        app.post(&path, app.admin(), &json!({"plan_id": lift_plan["id"]}))
            .await,
        "plan_id",
    )
    .await;
    expect_not_found(
        app.get(
            &format!("/api/v1/assets/{}/maintenance", Uuid::now_v7()),
            app.admin(),
        )
        .await,
    )
    .await;
}

async fn whichever_comes_first_decides(app: TestApp) {
    let cat = app.create_category("Compressors").await;
    let busy = machine(&app, "CMP-1", Some("Compressors"), 100.0).await;
    let idle = machine(&app, "CMP-2", Some("Compressors"), 100.0).await;
    let p = plan(
        &app,
        json!({"name": "Annual or 500 h", "category_id": cat["id"], "lead_days": 30,
               "intervals": [{"metric": "engine_hours", "every": 500}, {"metric": "days", "every": 365}]}),
    )
    .await;
    // 10 days ago both stood at 100 h; since, one ran 12 h/day and the other 0.5 h/day.
    snapshot_days_ago(&app, 10).await;
    set_hours(&app, &busy, 220.0).await;
    set_hours(&app, &idle, 105.0).await;

    let b = maintenance(&app, &busy).await;
    let f = service(&b, &p);
    assert_eq!(f["metric"], "engine_hours", "{b}");
    // 380 h left at 12 h/day: 31 days, sooner than the year.
    assert_eq!(date(&f["forecast_date"]), today() + Days::new(31));
    assert_eq!(date(&f["due_date"]), today() + Days::new(365));
    assert_eq!(f["urgency"], "ok");
    let i = maintenance(&app, &idle).await;
    let f = service(&i, &p);
    assert_eq!(f["metric"], "days", "{i}");
    assert_eq!(date(&f["forecast_date"]), today() + Days::new(365));
    assert_eq!(f["metrics"].as_array().unwrap().len(), 2);
}

async fn nested_services_follow_the_occurrences_recorded(app: TestApp) {
    let cat = app.create_category("Loaders").await;
    let ldr = machine(&app, "LDR-1", Some("Loaders"), 0.0).await;
    let p = plan(
        &app,
        json!({"name": "Loader service", "category_id": cat["id"],
               "intervals": [{"metric": "engine_hours", "every": 250}],
               "services": [
                   {"name": "250 h service", "multiple": 1},
                   {"name": "1000 h service", "multiple": 4},
                   {"name": "500 h service", "multiple": 2}]}),
    )
    .await;
    assert_eq!(
        p["services"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["multiple"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        [4, 2, 1],
        "stored largest first"
    );
    let mut seen = Vec::new();
    for hours in [250.0, 505.0, 760.0, 1010.0, 1262.0] {
        set_hours(&app, &ldr, hours).await;
        let next = maintenance(&app, &ldr).await["next_service"].clone();
        let done = record(&app, &ldr, json!({"plan_id": p["id"]})).await;
        assert_eq!(
            done["service"], next["service"],
            "the record is what was forecast"
        );
        seen.push((
            done["occurrence"].as_u64().unwrap(),
            done["service"].as_str().unwrap().to_owned(),
        ));
    }
    let names: Vec<(u64, &str)> = seen.iter().map(|(n, s)| (*n, s.as_str())).collect();
    assert_eq!(
        names,
        [
            (1, "250 h service"),
            (2, "500 h service"),
            (3, "250 h service"),
            (4, "1000 h service"),
            (5, "250 h service"),
        ]
    );
    let m = maintenance(&app, &ldr).await;
    assert_eq!(m["next_service"]["service"], "500 h service");
    assert_eq!(m["next_service"]["due_at_hours"], 1512.0);
}

async fn a_fixed_grid_skips_missed_services_and_counts_them(app: TestApp) {
    let cat = app.create_category("Dumpers").await;
    // The plan starts to apply at 510 h: the next grid point is 750 h.
    let d = machine(&app, "DMP-1", Some("Dumpers"), 510.0).await;
    let p = plan(
        &app,
        json!({"name": "Grid service", "category_id": cat["id"], "anchor": "fixed",
               "intervals": [{"metric": "engine_hours", "every": 250}],
               "services": [{"name": "250 h", "multiple": 1}, {"name": "1000 h", "multiple": 4}]}),
    )
    .await;
    assert_eq!(
        maintenance(&app, &d).await["next_service"]["due_at_hours"],
        750.0
    );
    // Nobody serviced it at 750 h; at 1130 h the 1000 h point is the one due, 750 h skipped.
    set_hours(&app, &d, 1130.0).await;
    let next = maintenance(&app, &d).await["next_service"].clone();
    assert_eq!(
        (
            &next["due_at_hours"],
            &next["occurrence"],
            &next["skipped"],
            &next["service"],
            &next["urgency"]
        ),
        (
            &json!(1000.0),
            &json!(4),
            &json!(1),
            &json!("1000 h"),
            &json!("overdue")
        )
    );
    let body =
        json!({"plan_id": p["id"], "done_at": (Utc::now() - Duration::minutes(1)).to_rfc3339()});
    let done = record(&app, &d, body.clone()).await;
    assert_eq!(
        (&done["occurrence"], &done["skipped"]),
        (&json!(4), &json!(1))
    );
    // Late does not move the grid: next is 1250 h, not 1380 h.
    let m = maintenance(&app, &d).await;
    assert_eq!(m["next_service"]["due_at_hours"], 1250.0);
    assert_eq!(m["next_service"]["skipped"], 0);
    // The same record sent again (a retry) is a conflict, not a second service.
    let again = app
        .post(
            &format!("/api/v1/assets/{}/maintenance/services", s(&d, "id")),
            app.admin(),
            &body,
        )
        .await;
    let problem = expect_problem(again, StatusCode::CONFLICT, "service_already_recorded").await;
    assert_eq!(problem["detail"]["record"]["occurrence"], 4, "{problem}");
}

async fn an_assets_own_plans_replace_its_categorys(app: TestApp) {
    let cat = app.create_category("Cranes").await;
    let tough = machine(&app, "CRN-1", Some("Cranes"), 0.0).await;
    let normal = machine(&app, "CRN-2", Some("Cranes"), 0.0).await;
    let general = plan(
        &app,
        json!({"name": "Crane 250 h", "category_id": cat["id"],
               "intervals": [{"metric": "engine_hours", "every": 250}]}),
    )
    .await;
    let own = plan(
        &app,
        json!({"name": "Crane 200 h (harsh site)", "asset_id": tough["id"],
               "intervals": [{"metric": "engine_hours", "every": 200}]}),
    )
    .await;
    let plan_ids = |m: &Value| -> Vec<Value> {
        m["services"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["plan_id"].clone())
            .collect()
    };
    assert_eq!(
        plan_ids(&maintenance(&app, &tough).await),
        [own["id"].clone()]
    );
    assert_eq!(
        plan_ids(&maintenance(&app, &normal).await),
        [general["id"].clone()]
    );
    // A service cannot be logged under the plan its own replaced.
    let resp = app
        .post(
            &format!("/api/v1/assets/{}/maintenance/services", s(&tough, "id")),
            app.admin(),
            &json!({"plan_id": general["id"]}),
        )
        .await;
    expect_only_field(resp, "plan_id").await;
    // Retiring the asset's own plan gives it its category's again.
    app.delete(
        &format!("/api/v1/maintenance/plans/{}", s(&own, "id")),
        app.admin(),
    )
    .await;
    assert_eq!(
        plan_ids(&maintenance(&app, &tough).await),
        [general["id"].clone()]
    );
}

async fn an_asset_that_joins_a_category_later_counts_from_when_it_joined(app: TestApp) {
    let cat = app.create_category("Telehandlers").await;
    let p = plan(
        &app,
        json!({"name": "Telehandler 250 h", "category_id": cat["id"],
               "intervals": [{"metric": "engine_hours", "every": 250}]}),
    )
    .await;
    // Bought second-hand at 1,130 h after the plan was made: not 880 h overdue.
    let t = machine(&app, "TH-1", Some("Telehandlers"), 1130.0).await;
    let m = maintenance(&app, &t).await;
    assert_eq!(service(&m, &p)["due_at_hours"], 1380.0, "{m}");
    assert_eq!(service(&m, &p)["urgency"], "ok");
    // The sweep writes its baseline; the forecast is the same, and stays so as it runs.
    let mut tx = app.db.store.begin().await.unwrap();
    let written = domain::maintenance::plans::baselines(&mut tx, None, Utc::now())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(written, 1, "only the newcomer lacked a baseline");
    set_hours(&app, &t, 1200.0).await;
    let m = maintenance(&app, &t).await;
    assert_eq!(service(&m, &p)["due_at_hours"], 1380.0);
}

async fn sweep(app: &TestApp) -> u64 {
    let mut tx = app.db.store.begin().await.unwrap();
    let n = domain::maintenance::orders::open_due(&app.db.store, &mut tx, Utc::now())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    n
}

async fn a_work_order_opens_in_the_lead_is_worked_and_completed_once(app: TestApp) {
    let cat = app.create_category("Rollers").await;
    let r = machine(&app, "ROL-1", Some("Rollers"), 0.0).await;
    let p = plan(
        &app,
        json!({"name": "Roller 250 h", "category_id": cat["id"],
               "intervals": [{"metric": "engine_hours", "every": 250}]}),
    )
    .await;
    assert_eq!(sweep(&app).await, 0, "nothing in its lead yet");
    let tech = app.user_with_role(mobile_shared::Role::Technician).await;
    set_hours(&app, &r, 246.0).await;
    assert_eq!(sweep(&app).await, 1);
    // The technicians are told, in their inbox.
    let inbox = app.get_ok("/api/v1/notifications", tech.as_str()).await;
    let told = items(&inbox)
        .iter()
        .find(|n| n["kind"] == "work_order.opened")
        .unwrap_or_else(|| panic!("no work order notification: {inbox}"))
        .clone();
    assert_eq!(told["subject_entity"], "work_order");
    assert_eq!(sweep(&app).await, 0, "one order per service");
    let open = app
        .get_ok("/api/v1/work-orders?state=open", app.admin())
        .await;
    let order = items(&open)[0].clone();
    assert_eq!(order["plan_id"], p["id"]);
    assert_eq!(order["asset_id"], r["id"]);
    assert_eq!(order["automatic"], true);
    assert_eq!(order["service"], "Roller 250 h");

    assert_eq!(told["subject_id"], order["id"]);
    // A technician sees it in "my tasks" and works it from there.
    let mine = app.get_ok("/api/v1/tasks?assignee=me", tech.as_str()).await;
    let task = items(&mine)
        .iter()
        .find(|t| t["id"] == order["task_id"])
        .unwrap_or_else(|| panic!("the order's task is not in my tasks: {mine}"))
        .clone();
    assert_eq!(task["kind"], "work_order");
    let resp = app
        .post(
            &format!("/api/v1/tasks/{}/complete", s(&task, "id")),
            tech.as_str(),
            &json!({}),
        )
        .await;
    expect_problem(resp, StatusCode::CONFLICT, "illegal_transition").await;

    let path = format!("/api/v1/work-orders/{}", s(&order, "id"));
    let resp = app
        .patch(
            &path,
            tech.as_str(),
            &json!({"version": order["version"], "state": "in_progress",
                    "checklist": [{"item": "Grease pins", "done": true}]}),
        )
        .await;
    let started = expect_json(resp, StatusCode::OK).await;
    assert_eq!(started["state"], "in_progress");
    assert!(started["started_at"].is_string());
    let asset_path = format!("/api/v1/assets/{}", s(&r, "id"));
    assert_eq!(
        app.get_ok(&asset_path, app.admin()).await["status"],
        "in_maintenance"
    );
    let resp = app
        .patch(
            &path,
            tech.as_str(),
            &json!({"version": started["version"], "state": "done"}),
        )
        .await;
    expect_only_field(resp, "state").await;

    let resp = app
        .post(
            &format!("{path}/complete"),
            tech.as_str(),
            &json!({"engine_hours": 251.0, "notes": "Greased; filter fine"}),
        )
        .await;
    let done = expect_json(resp, StatusCode::OK).await;
    assert_eq!(done["state"], "done");
    assert_eq!(done["engine_hours"], 251.0);
    assert_eq!(done["occurrence"], 1);
    assert!(done["completed_at"].is_string());
    let asset = app.get_ok(&asset_path, app.admin()).await;
    assert_eq!(asset["status"], "available");
    assert_eq!(
        asset["next_service"]["due_at_hours"], 501.0,
        "re-anchored: {asset}"
    );
    let task = app
        .get_ok(&format!("/api/v1/tasks/{}", s(&task, "id")), app.admin())
        .await;
    assert_eq!(task["state"], "done");
    // Completing twice: 409 with the state it is in.
    let again = app
        .post(&format!("{path}/complete"), tech.as_str(), &json!({}))
        .await;
    let problem = expect_problem(again, StatusCode::CONFLICT, "work_order_closed").await;
    assert_eq!(problem["detail"]["state"], "done");
    // The audit trail holds the order's life.
    let actions: Vec<Value> = app
        .audit(&[("entity_id", s(&order, "id"))])
        .await
        .into_iter()
        .map(|e| e["action"].clone())
        .collect();
    assert_eq!(
        actions,
        [
            "work_order.complete",
            "work_order.update",
            "work_order.create"
        ]
    );
    // The KPIs count it: one service, on time, a little downtime, no failure.
    let k = app
        .get_ok(
            &format!("/api/v1/kpis/maintenance?asset_id={}", s(&r, "id")),
            tech.as_str(),
        )
        .await;
    assert_eq!(
        (
            &k["assets"],
            &k["in_maintenance"],
            &k["services_done"],
            &k["services_on_time"]
        ),
        (&json!(1), &json!(0), &json!(1), &json!(1)),
        "{k}"
    );
    assert_eq!(
        (&k["failures"], &k["mtbf_hours"]),
        (&json!(0), &Value::Null)
    );
    let down = k["downtime_hours"].as_f64().unwrap();
    assert!(down > 0.0 && down < 0.1, "{k}");
    assert_eq!(k["availability_now"], 1.0);
    let bad = app
        .get(
            "/api/v1/kpis/maintenance?from=2030-01-01T00:00:00Z",
            tech.as_str(),
        )
        .await;
    expect_only_field(bad, "from").await;
}

async fn work_orders_opened_by_hand_are_validated_and_one_per_plan(app: TestApp) {
    let cat = app.create_category("Pumps").await;
    let pump = machine(&app, "PMP-1", Some("Pumps"), 10.0).await;
    let p = plan(
        &app,
        json!({"name": "Pump check", "category_id": cat["id"],
               "intervals": [{"metric": "days", "every": 90}]}),
    )
    .await;
    let leak = app
        .create(
            "/api/v1/work-orders",
            &json!({"asset_id": pump["id"], "title": " Hydraulic leak ",
                    "checklist": [{"item": "Find the leak"}, {"item": "Replace the hose"}]}),
        )
        .await;
    assert_eq!(leak["title"], "Hydraulic leak");
    assert_eq!(leak["automatic"], false);
    assert_eq!(leak["state"], "open");
    assert_eq!(date(&leak["due_at"]), today());
    assert_eq!(
        leak["checklist"][1],
        json!({"item": "Replace the hose", "done": false})
    );
    // A planned service by hand, once while it is active.
    let body = json!({"asset_id": pump["id"], "title": "Early check", "plan_id": p["id"]});
    app.create("/api/v1/work-orders", &body).await;
    let again = app.post("/api/v1/work-orders", app.admin(), &body).await;
    expect_problem(again, StatusCode::CONFLICT, "work_order_open").await;
    let other = app.create_category("Other").await;
    let foreign = plan(
        &app,
        json!({"name": "Other check", "category_id": other["id"],
               "intervals": [{"metric": "days", "every": 30}]}),
    )
    .await;
    let cases = [
        (json!({"asset_id": pump["id"], "title": " "}), "title"),
        (
            json!({"asset_id": Uuid::now_v7(), "title": "x"}),
            "asset_id",
        ),
        (
            json!({"asset_id": pump["id"], "title": "x", "plan_id": foreign["id"]}),
            "plan_id",
        ),
        (
            json!({"asset_id": pump["id"], "title": "x", "assignee": Uuid::now_v7()}),
            "assignee",
        ),
        (
            json!({"asset_id": pump["id"], "title": "x", "checklist": [{"item": ""}]}),
            "checklist[0].item",
        ),
    ];
    for (body, field) in cases {
        expect_only_field(
            app.post("/api/v1/work-orders", app.admin(), &body).await,
            field,
        )
        .await;
    }
    // Cancelled: closed for good.
    let path = format!("/api/v1/work-orders/{}", s(&leak, "id"));
    let resp = app
        .patch(
            &path,
            app.admin(),
            &json!({"version": 1, "state": "cancelled"}),
        )
        .await;
    let cancelled = expect_json(resp, StatusCode::OK).await;
    assert!(cancelled["cancelled_at"].is_string());
    let resp = app
        .patch(
            &path,
            app.admin(),
            &json!({"version": cancelled["version"], "notes": "x"}),
        )
        .await;
    expect_problem(resp, StatusCode::CONFLICT, "work_order_closed").await;
    let listed = app
        .get_ok(
            &format!("/api/v1/work-orders?asset_id={}", s(&pump, "id")),
            app.admin(),
        )
        .await;
    assert_eq!(items(&listed).len(), 2);
}

async fn the_service_due_list_ranks_the_fleet_and_shows_each_asset_live(app: TestApp) {
    // Four machines under one 250 h category plan, at the 0.5 h/day floor: overdue (260 h),
    // due today (249.8 h), soon (247 h: 6 days), fine (100 h).
    let category = app
        .create("/api/v1/categories", &json!({"name": "Lift"}))
        .await["id"]
        .clone();
    let over = machine(&app, "DUE-1", Some("Lift"), 0.0).await;
    let today_ = machine(&app, "DUE-2", Some("Lift"), 0.0).await;
    let soon = machine(&app, "DUE-3", Some("Lift"), 0.0).await;
    let fine = machine(&app, "DUE-4", Some("Lift"), 0.0).await;
    plan(
        &app,
        json!({"name": "250 h service", "category_id": category,
               "intervals": [{"metric": "engine_hours", "every": 250}]}),
    )
    .await;
    for (m, h) in [
        (&over, 260.0),
        (&today_, 249.8),
        (&soon, 247.0),
        (&fine, 100.0),
    ] {
        set_hours(&app, m, h).await;
    }
    let list = |q: &'static str| {
        let app = &app;
        async move {
            app.get_ok(&format!("/api/v1/alerts/service-due{q}"), app.admin())
                .await
        }
    };
    assert_eq!(
        list("").await["total"],
        0,
        "nothing until the clock has looked"
    );
    sweep(&app).await;

    let due = list("").await;
    assert_eq!(
        codes(&due),
        ["DUE-1", "DUE-2"],
        "due or worse by default, most urgent first"
    );
    assert_eq!(due["total"], 2);
    assert_eq!(due["items"][0]["next_service"]["urgency"], "overdue");
    assert_eq!(due["items"][1]["next_service"]["urgency"], "due");
    // The sweep opened their orders; the list links them.
    assert!(due["items"][0]["work_order_id"].is_string());
    let with_soon = list("?urgency=soon").await;
    assert_eq!(codes(&with_soon), ["DUE-1", "DUE-2", "DUE-3"]);
    assert_eq!(
        date(&with_soon["items"][2]["next_service"]["forecast_date"]),
        today() + Days::new(6)
    );
    // Keyset pages of one.
    let first = list("?urgency=soon&limit=1").await;
    assert_eq!(codes(&first), ["DUE-1"]);
    let cursor = s(&first, "next_cursor");
    let second = app
        .get_ok(
            &format!("/api/v1/alerts/service-due?urgency=soon&limit=1&cursor={cursor}"),
            app.admin(),
        )
        .await;
    assert_eq!(codes(&second), ["DUE-2"]);
    // Serviced since the sweep: left out at once, though the sweep has not been back.
    record(
        &app,
        &over,
        json!({"plan_id": due["items"][0]["next_service"]["plan_id"]}),
    )
    .await;
    assert_eq!(codes(&list("").await), ["DUE-2"]);
    // Bad parameters name themselves.
    for (q, field) in [
        ("?urgency=ok", "urgency"),
        ("?urgency=later", "urgency"),
        ("?cursor=nope", "cursor"),
        ("?limit=0", "limit"),
    ] {
        let resp = app
            .get(&format!("/api/v1/alerts/service-due{q}"), app.admin())
            .await;
        let body = expect_json(resp, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert!(body.to_string().contains(field), "{q}: {body}");
    }
    let _ = fine;
}

fn codes(v: &Value) -> Vec<&str> {
    v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| s(i, "code"))
        .collect()
}
