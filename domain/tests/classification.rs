//! Customer classification on SQLite and PostgreSQL: quintiles over a known population and the
//! tiers they give, the credit grade's inputs, the breakdown's contents, the nightly rule (once a
//! night, once after a catch-up), the on-demand recompute against the nightly edges, the sales
//! scope, and the settings (defaults, 422 naming fields, stale versions).
//!
//! Customers and contracts are seeded with plain multi-row inserts (`domain::seed_office`),
//! dated relative to today: the on-demand recompute classifies as of now.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use domain::classification::rule::ClassificationRule;
use domain::classification::{self, settings};
use domain::schedule::Scheduler;
use domain::seed::{self, FleetSeed};
use domain::seed_office::{self, ComplaintRow, ContractRow, CustomerRow, LineRow};
use domain::testing::{assert_conflict, assert_not_found, TestDb};
use domain::{users, Actor, DomainError, Entity};
use mobile_shared::classification::{
    ClassificationMode, ClassificationSettings, ClassificationSettingsUpdate, CreditGrade,
    CustomerClassification, InputStatus, LifecycleStage,
};
use mobile_shared::wire::{AuditSource, NewUser};
use mobile_shared::{ErrorCode, Role};
use uuid::Uuid;

domain::backend_matrix!(
    TestDb:
    quintiles_and_tiers_over_a_known_population,
    credit_grade_inputs_limits_and_auto_renewal,
    breakdown_says_what_counted,
    nightly_run_is_idempotent_and_audits_changes_only,
    the_rule_runs_once_a_night_and_once_after_a_catch_up,
    on_demand_recompute_uses_the_nightly_edges,
    sales_see_only_their_customers,
    settings_default_validate_and_version,
);

/// Two categories and three assets of the first.
struct Fleet {
    assets: Vec<Uuid>,
    cat_a: Uuid,
    cat_b: Uuid,
}

async fn fleet(db: &TestDb) -> Fleet {
    let mut seeded = Vec::new();
    for prefix in ["CLA", "CLB"] {
        let f = seed::seed_fleet(
            &db.store,
            &Actor::system(),
            &FleetSeed {
                assets: 3,
                code_prefix: prefix.into(),
                device_prefix: format!("{}-", prefix.to_lowercase()),
                password_hash: "x".into(),
                depots: vec![],
            },
        )
        .await
        .unwrap();
        seeded.push(f);
    }
    Fleet {
        assets: seeded[0].devices.iter().map(|(_, a)| *a).collect(),
        cat_a: seeded[0].category_id,
        cat_b: seeded[1].category_id,
    }
}

fn today() -> NaiveDate {
    Utc::now().date_naive()
}

fn day(offset: i64) -> NaiveDate {
    today() + Duration::days(offset)
}

fn customer(name: &str) -> CustomerRow {
    CustomerRow {
        id: Uuid::now_v7(),
        legal_name: name.into(),
        industry: Some("construction".into()),
        account_manager_id: None,
        currency: "EUR".into(),
    }
}

fn line(category: Uuid, rate_cents: i64, period: &'static str) -> LineRow {
    LineRow {
        asset_id: None,
        category_id: Some(category),
        quantity: 1,
        rate_cents,
        rate_period: period,
    }
}

/// A contract of `c` from `start` for `days` days (both ends included).
fn contract(c: &CustomerRow, start: i64, days: i64, lines: Vec<LineRow>) -> ContractRow {
    ContractRow {
        id: Uuid::now_v7(),
        customer_id: c.id,
        status: if start + days - 1 < 0 {
            "ended"
        } else {
            "active"
        },
        starts_on: day(start),
        ends_on: day(start + days - 1),
        currency: "EUR".into(),
        lines,
    }
}

/// The population of the module docs: c1 new, c2 champion, c3 loyal, c4 at risk, c5
/// hibernating, c6 and c7 (a draft only) prospects.
struct Population {
    fleet: Fleet,
    c: Vec<CustomerRow>,
}

async fn population(db: &TestDb) -> Population {
    let fleet = fleet(db).await;
    let c: Vec<CustomerRow> = (1..=7).map(|i| customer(&format!("c{i}"))).collect();
    let a = fleet.cat_a;
    let mut contracts = vec![contract(&c[0], -12, 10, vec![line(a, 10_000, "day")])];
    // The last one runs today.
    for (start, days) in [(-700, 30), (-560, 30), (-420, 30), (-280, 30), (-31, 60)] {
        contracts.push(contract(&c[1], start, days, vec![line(a, 20_000, "day")]));
    }
    let mut usd = contract(&c[1], -100, 11, vec![line(a, 1_000_000, "day")]);
    usd.currency = "USD".into();
    contracts.push(usd);
    for (i, start) in [-500, -400, -300, -182].into_iter().enumerate() {
        let asset = LineRow {
            asset_id: Some(fleet.assets[i % fleet.assets.len()]),
            category_id: None,
            quantity: 1,
            rate_cents: 70_000,
            rate_period: "week",
        };
        let mut extra = line(fleet.cat_b, 0, "week");
        extra.quantity = 2;
        contracts.push(contract(&c[2], start, 14, vec![asset, extra]));
    }
    for start in [-610, -480, -365] {
        contracts.push(contract(&c[3], start, 28, vec![line(a, 50_000, "month")]));
    }
    contracts.push(contract(&c[4], -1247, 10, vec![line(a, 10_000, "day")]));
    let mut draft = contract(&c[6], -5, 11, vec![line(a, 99_000, "day")]);
    draft.status = "draft";
    contracts.push(draft);
    let now = Utc::now();
    let complaints: Vec<ComplaintRow> = [10, 100, 400]
        .into_iter()
        .map(|days| ComplaintRow {
            customer_id: c[3].id,
            opened_at: now - Duration::days(days),
            category: "machine_fault",
        })
        .collect();
    seed_office::insert(&db.store, &Actor::system(), &c, &contracts, &complaints)
        .await
        .unwrap();
    Population { fleet, c }
}

async fn classification_of(db: &TestDb, id: Uuid) -> CustomerClassification {
    classification::get(&db.store, &Actor::system(), id)
        .await
        .unwrap()
}

async fn all(db: &TestDb, p: &Population) -> Vec<CustomerClassification> {
    let mut out = Vec::new();
    for c in &p.c {
        out.push(classification_of(db, c.id).await);
    }
    out
}

async fn quintiles_and_tiers_over_a_known_population(db: TestDb) {
    let p = population(&db).await;
    let summary = classification::run(&db.store, &Actor::system(), Utc::now())
        .await
        .unwrap();
    assert_eq!(summary.customers, 7);
    assert_eq!(
        summary.edges.population, 5,
        "c6 and c7 have no counted contract"
    );
    assert_eq!(
        summary.edges.recency_days,
        [Some(365), Some(182), Some(31), Some(12)]
    );
    assert_eq!(
        summary.edges.frequency,
        [Some(1), Some(3), Some(4), Some(6)]
    );
    assert_eq!(
        summary.edges.monetary_cents,
        [Some(100_000), Some(150_000), Some(560_000), Some(3_600_000)]
    );

    let got = all(&db, &p).await;
    // (recency days, score, frequency, score, monetary, score)
    type Rfm = (i64, u8, i64, u8, i64, u8);
    let scores: Vec<Option<Rfm>> = got
        .iter()
        .map(|c| {
            c.breakdown.rfm.as_ref().map(|r| {
                (
                    r.recency_days.value,
                    r.recency_days.score,
                    r.frequency.value,
                    r.frequency.score,
                    r.monetary_cents.value,
                    r.monetary_cents.score,
                )
            })
        })
        .collect();
    assert_eq!(
        scores,
        [
            Some((12, 5, 1, 2, 100_000, 2)),
            Some((31, 4, 6, 5, 3_600_000, 5)),
            Some((182, 3, 4, 4, 560_000, 4)),
            Some((365, 2, 3, 3, 150_000, 3)),
            Some((1247, 1, 0, 1, 0, 1)),
            None,
            None,
        ]
    );
    let tiers: Vec<&str> = got.iter().map(|c| c.value_tier.as_str()).collect();
    assert_eq!(
        tiers,
        [
            "new",
            "champion",
            "loyal",
            "at_risk",
            "hibernating",
            "prospect",
            "prospect"
        ]
    );
    let rules: Vec<Option<u32>> = got
        .iter()
        .map(|c| c.breakdown.rfm.as_ref().and_then(|r| r.matched_rule))
        .collect();
    assert_eq!(
        rules,
        [Some(1), Some(0), Some(2), Some(4), Some(5), None, None]
    );

    // The customer list's copies.
    let copied: Vec<(String, Option<String>, Option<String>)> = db
        .rows("SELECT legal_name, value_tier, credit_grade FROM customers ORDER BY legal_name")
        .await;
    for ((name, tier, grade), c) in copied.iter().zip(&got) {
        assert_eq!(tier.as_deref(), Some(c.value_tier.as_str()), "{name}");
        assert_eq!(grade.as_deref(), Some(c.credit_grade.as_str()), "{name}");
    }
    assert_eq!(
        db.count("SELECT COUNT(*) FROM customers WHERE classified_at IS NULL OR version <> 1")
            .await,
        0,
        "classified, and the copy does not move the version"
    );

    // Other thresholds, other tiers: one rule for everyone with contracts.
    let mut s = ClassificationSettings::default();
    s.rfm.tiers.truncate(0);
    s.rfm.fallback_tier = "customer".into();
    settings::put(
        &db.store,
        &Actor::system(),
        ClassificationSettingsUpdate {
            version: 1,
            settings: s,
        },
    )
    .await
    .unwrap();
    classification::run(&db.store, &Actor::system(), Utc::now())
        .await
        .unwrap();
    let tiers: Vec<String> = all(&db, &p)
        .await
        .into_iter()
        .map(|c| c.value_tier)
        .collect();
    assert_eq!(
        tiers,
        ["customer", "customer", "customer", "customer", "customer", "prospect", "prospect"]
    );
}

async fn credit_grade_inputs_limits_and_auto_renewal(db: TestDb) {
    let p = population(&db).await;
    classification::run(&db.store, &Actor::system(), Utc::now())
        .await
        .unwrap();
    let got = all(&db, &p).await;
    let grades: Vec<CreditGrade> = got.iter().map(|c| c.credit_grade).collect();
    use CreditGrade::*;
    assert_eq!(grades, [C, A, B, C, A, C, C]);
    let limits: Vec<i64> = got.iter().map(|c| c.credit_limit_cents).collect();
    assert_eq!(
        limits,
        [500_000, 5_000_000, 2_000_000, 500_000, 5_000_000, 500_000, 500_000]
    );
    let renew: Vec<bool> = got.iter().map(|c| c.auto_renew_allowed).collect();
    assert_eq!(renew, [false, true, true, false, true, false, false]);

    // c4: two complaints in the last 12 months (the one 400 days ago is out), 20 points lost.
    let c4 = &got[3].breakdown.credit;
    let by_name: HashMap<&str, _> = c4.inputs.iter().map(|i| (i.input.as_str(), i)).collect();
    assert_eq!(by_name["complaints"].value, Some(2));
    assert_eq!(by_name["complaints"].points, 0);
    assert_eq!(by_name["payment_history"].status, InputStatus::Unknown);
    assert_eq!(by_name["payment_history"].points, 20);
    assert_eq!(by_name["current_overdue"].status, InputStatus::Unknown);
    assert_eq!(by_name["current_overdue"].points, 10);
    let tenure = by_name["tenure"];
    assert!(
        (19..=20).contains(&tenure.value.unwrap()),
        "about 20 months: {tenure:?}"
    );
    assert_eq!(c4.score, c4.inputs.iter().map(|i| i.points).sum::<u32>());
    assert_eq!(c4.first_contract_on, Some(day(-610)));
    // c5: tenure capped at its maximum.
    let c5 = &got[4].breakdown.credit;
    assert_eq!(c5.inputs[1].points, 30);
    assert_eq!(c5.score, 80);
    // A prospect: no tenure.
    assert_eq!(got[5].breakdown.credit.inputs[1].value, Some(0));
    assert_eq!(got[5].breakdown.credit.score, 50);

    // Stricter cut-offs move grades and limits.
    let mut s = ClassificationSettings::default();
    s.credit.grade_a_min = 81;
    s.credit.credit_limit_b_cents = 1_234_500;
    settings::put(
        &db.store,
        &Actor::system(),
        ClassificationSettingsUpdate {
            version: 1,
            settings: s,
        },
    )
    .await
    .unwrap();
    classification::run(&db.store, &Actor::system(), Utc::now())
        .await
        .unwrap();
    let c5 = classification_of(&db, p.c[4].id).await;
    assert_eq!((c5.credit_grade, c5.credit_limit_cents), (B, 1_234_500));
    assert!(c5.auto_renew_allowed);
    assert_eq!(c5.breakdown.settings_version, 2);
}

async fn breakdown_says_what_counted(db: TestDb) {
    let p = population(&db).await;
    let run = classification::run(&db.store, &Actor::system(), Utc::now())
        .await
        .unwrap();
    let got = all(&db, &p).await;
    let stages: Vec<LifecycleStage> = got.iter().map(|c| c.lifecycle_stage).collect();
    use LifecycleStage::*;
    assert_eq!(
        stages,
        [New, Active, Dormant, Dormant, Lapsed, Prospect, Prospect]
    );
    let c2 = &got[1].breakdown;
    assert_eq!(c2.mode, ClassificationMode::Nightly);
    assert_eq!(c2.run_id, Some(run.run_id));
    assert_eq!(c2.as_of, today());
    assert_eq!(c2.industry.as_deref(), Some("construction"));
    let rfm = c2.rfm.as_ref().unwrap();
    assert_eq!(rfm.other_currency_contracts, 1, "the USD contract");
    assert_eq!(rfm.monetary_cents.value, 3_600_000, "and not its value");
    assert_eq!(rfm.currency, "EUR");
    assert_eq!(rfm.last_contract_start, day(-31));
    assert_eq!(rfm.population, 5);
    assert_eq!(rfm.recency_days.edges, run.edges.recency_days);
    assert_eq!(c2.last_contract_end, Some(day(28)));
    // c3 rents assets of category A (through the asset) and category B (by category).
    let lines: Vec<Uuid> = got[2]
        .breakdown
        .product_lines
        .iter()
        .map(|l| l.category_id)
        .collect();
    let mut want = vec![p.fleet.cat_a, p.fleet.cat_b];
    want.sort();
    let mut lines_sorted = lines.clone();
    lines_sorted.sort();
    assert_eq!(lines_sorted, want);
    assert!(got[2].breakdown.product_lines[0].name.ends_with("fleet"));
    // A draft counts for nothing.
    assert!(got[6].breakdown.product_lines.is_empty());
    assert!(got[6].breakdown.rfm.is_none());
    // What is stored is what was computed.
    let stored: String = db
        .scalar("SELECT value_tier FROM customer_classifications WHERE lifecycle_stage = 'lapsed'")
        .await;
    assert_eq!(stored, "hibernating");
}

async fn nightly_run_is_idempotent_and_audits_changes_only(db: TestDb) {
    let p = population(&db).await;
    let at = Utc::now();
    let first = classification::run(&db.store, &Actor::system(), at)
        .await
        .unwrap();
    assert_eq!(first.changed, 7, "from nothing");
    let audited = || db.count("SELECT COUNT(*) FROM audit_log WHERE action = 'customer.classify'");
    assert_eq!(audited().await, 7);
    let second = classification::run(&db.store, &Actor::system(), at)
        .await
        .unwrap();
    assert_eq!((second.customers, second.changed), (7, 0));
    assert_eq!(audited().await, 7, "nothing changed, nothing audited");
    db.assert_counts(&[
        ("SELECT COUNT(*) FROM customer_classifications", 7),
        ("SELECT COUNT(*) FROM classification_runs", 2),
    ])
    .await;
    let entries = db
        .audit(domain::audit::AuditFilter {
            entity_id: Some(p.c[1].id),
            action: Some("customer.classify".into()),
            ..Default::default()
        })
        .await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].entity, "customer");
    assert_eq!(
        entries[0].before,
        Some(serde_json::json!({"value_tier": null, "credit_grade": null}))
    );
    assert_eq!(
        entries[0].after,
        Some(serde_json::json!({"value_tier": "champion", "credit_grade": "A"}))
    );
}

fn utc(d: u32, h: u32, m: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2030, 6, d, h, m, 0).unwrap()
}

async fn the_rule_runs_once_a_night_and_once_after_a_catch_up(db: TestDb) {
    population(&db).await;
    let now = Arc::new(Mutex::new(utc(1, 0, 30)));
    let clock_now = now.clone();
    let rule = ClassificationRule::with_clock(Arc::new(move || *clock_now.lock().unwrap()));
    let clock = Scheduler::new(db.store.clone(), "test").with_rule(rule);
    let runs = || db.count("SELECT COUNT(*) FROM classification_runs");
    let tick = |t: DateTime<Utc>| {
        *now.lock().unwrap() = t;
        let clock = &clock;
        async move {
            let report = clock.tick(t).await;
            assert!(report.errors.is_empty(), "{:?}", report.errors);
            report
        }
    };
    tick(utc(1, 0, 30)).await;
    assert_eq!(runs().await, 0, "a rule's first tick starts its mark");
    tick(utc(1, 1, 0)).await;
    assert_eq!(runs().await, 1, "never classified: classified at once");
    tick(utc(1, 1, 30)).await;
    assert_eq!(runs().await, 1);
    tick(utc(1, 2, 1)).await;
    assert_eq!(
        runs().await,
        2,
        "the night of the 1st, at its first tick after 02:00"
    );
    for (h, m) in [(3, 0), (12, 0), (23, 59)] {
        tick(utc(1, h, m)).await;
    }
    tick(utc(2, 1, 59)).await;
    assert_eq!(runs().await, 2, "once a night");
    tick(utc(2, 2, 0)).await;
    assert_eq!(runs().await, 3);

    // Down from the 2nd to the 5th at noon: the clock catches up in daily chunks, and only the
    // window that reaches the present classifies.
    let report = tick(utc(5, 12, 0)).await;
    assert!(report.runs.len() >= 3, "{:?}", report.runs);
    assert_eq!(runs().await, 4, "once, not once per missed night");
    let due: Vec<(DateTime<Utc>,)> = db
        .rows("SELECT due_at FROM classification_runs ORDER BY due_at")
        .await;
    let due: Vec<DateTime<Utc>> = due.into_iter().map(|(d,)| d).collect();
    assert_eq!(
        due,
        [
            Utc.with_ymd_and_hms(2030, 5, 31, 2, 0, 0).unwrap(),
            utc(1, 2, 0),
            utc(2, 2, 0),
            utc(5, 2, 0)
        ]
    );
    tick(utc(5, 12, 1)).await;
    assert_eq!(runs().await, 4);
    // Every run classified every customer, as of its window.
    let classified_at: DateTime<Utc> = db
        .scalar("SELECT MAX(computed_at) FROM customer_classifications")
        .await;
    assert_eq!(classified_at, utc(5, 12, 0));
}

async fn on_demand_recompute_uses_the_nightly_edges(db: TestDb) {
    let p = population(&db).await;
    let actor = Actor::system();
    let err = classification::get(&db.store, &actor, p.c[3].id)
        .await
        .unwrap_err();
    assert_not_found(&err, Entity::CustomerClassification);

    // Before any nightly run, the edges are computed on the spot.
    let early = classification::recompute(&db.store, &actor, p.c[3].id)
        .await
        .unwrap();
    assert_eq!(early.breakdown.run_id, None);
    assert_eq!(early.value_tier, "at_risk");

    let run = classification::run(&db.store, &actor, Utc::now())
        .await
        .unwrap();
    // c4 signs a large contract today: recency 0, four contracts, 6.55 M.
    let c4 = &p.c[3];
    let big = contract(c4, 0, 32, vec![line(p.fleet.cat_a, 200_000, "day")]);
    seed_office::insert(&db.store, &actor, &[], &[big], &[])
        .await
        .unwrap();
    assert_eq!(
        classification_of(&db, c4.id).await.value_tier,
        "at_risk",
        "stored until recomputed"
    );
    let got = classification::recompute(&db.store, &actor, c4.id)
        .await
        .unwrap();
    assert_eq!(got.value_tier, "champion");
    assert_eq!(got.breakdown.mode, ClassificationMode::OnDemand);
    assert_eq!(got.breakdown.run_id, Some(run.run_id));
    let rfm = got.breakdown.rfm.as_ref().unwrap();
    assert_eq!(
        (
            rfm.recency_days.value,
            rfm.frequency.value,
            rfm.monetary_cents.value
        ),
        (0, 4, 6_550_000)
    );
    assert_eq!(
        (
            rfm.recency_days.score,
            rfm.frequency.score,
            rfm.monetary_cents.score
        ),
        (5, 4, 5),
        "scored against the nightly edges, not a population of one"
    );
    assert_eq!(rfm.frequency.edges, run.edges.frequency);
    assert_eq!(classification_of(&db, c4.id).await, got, "stored");
    let tier: String = db
        .scalar("SELECT value_tier FROM customers WHERE legal_name = 'c4'")
        .await;
    assert_eq!(tier, "champion");
    let entries = db
        .audit(domain::audit::AuditFilter {
            entity_id: Some(c4.id),
            action: Some("customer.classify".into()),
            ..Default::default()
        })
        .await;
    assert_eq!(entries[0].after.as_ref().unwrap()["value_tier"], "champion");
    assert_eq!(entries[0].before.as_ref().unwrap()["value_tier"], "at_risk");

    let missing = classification::recompute(&db.store, &actor, Uuid::now_v7())
        .await
        .unwrap_err();
    assert_not_found(&missing, Entity::Customer);
}

async fn sales_see_only_their_customers(db: TestDb) {
    let fleet = fleet(&db).await;
    let user = users::create(
        &db.store,
        &Actor::system(),
        NewUser {
            username: "sam.sales".into(),
            password: "long-enough-pw".into(),
            role: Role::Sales,
            email: None,
        },
    )
    .await
    .unwrap();
    let sam = Actor::user(user.id, "sam.sales", Role::Sales, AuditSource::Api);
    let mut mine = customer("mine");
    mine.account_manager_id = Some(user.id);
    let theirs = customer("theirs");
    let contracts = [contract(
        &mine,
        -40,
        10,
        vec![line(fleet.cat_a, 1_000, "day")],
    )];
    seed_office::insert(
        &db.store,
        &Actor::system(),
        &[mine.clone(), theirs.clone()],
        &contracts,
        &[],
    )
    .await
    .unwrap();
    classification::run(&db.store, &Actor::system(), Utc::now())
        .await
        .unwrap();
    assert!(classification::get(&db.store, &sam, mine.id).await.is_ok());
    assert!(classification::recompute(&db.store, &sam, mine.id)
        .await
        .is_ok());
    let err = classification::get(&db.store, &sam, theirs.id)
        .await
        .unwrap_err();
    assert_not_found(&err, Entity::Customer);
    let err = classification::recompute(&db.store, &sam, theirs.id)
        .await
        .unwrap_err();
    assert_not_found(&err, Entity::Customer);
    // The office sees both.
    let office = Actor::user(
        Uuid::now_v7(),
        "office",
        Role::RentalOffice,
        AuditSource::Api,
    );
    assert!(classification::get(&db.store, &office, theirs.id)
        .await
        .is_ok());
}

async fn settings_default_validate_and_version(db: TestDb) {
    let doc = settings::get(&db.store).await.unwrap();
    assert_eq!(doc.version, 1);
    assert_eq!(
        doc.settings,
        ClassificationSettings::default(),
        "migration 0023's defaults are the code's"
    );
    let actor = Actor::system();

    let mut bad = ClassificationSettings::default();
    bad.rfm.tiers[0].recency.min = 0;
    bad.credit.grade_b_min = 90;
    bad.currency = "euro".into();
    let err = settings::put(
        &db.store,
        &actor,
        ClassificationSettingsUpdate {
            version: 1,
            settings: bad,
        },
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), ErrorCode::ValidationFailed, "422");
    let DomainError::Validation(fields) = &err else {
        panic!("{err:?}")
    };
    let names: Vec<&str> = fields.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "settings.credit.grade_a_min",
            "settings.currency",
            "settings.rfm.tiers[0].recency"
        ]
    );
    assert_eq!(
        settings::get(&db.store).await.unwrap(),
        doc,
        "nothing written"
    );

    let mut good = ClassificationSettings::default();
    good.rfm.window_months = 12;
    let after = settings::put(
        &db.store,
        &actor,
        ClassificationSettingsUpdate {
            version: 1,
            settings: good.clone(),
        },
    )
    .await
    .unwrap();
    assert_eq!((after.version, &after.settings), (2, &good));
    assert_eq!(settings::get(&db.store).await.unwrap(), after);

    let stale = settings::put(
        &db.store,
        &actor,
        ClassificationSettingsUpdate {
            version: 1,
            settings: ClassificationSettings::default(),
        },
    )
    .await
    .unwrap_err();
    assert_conflict(&stale, ErrorCode::VersionConflict, "stale version");
    assert_eq!(settings::get(&db.store).await.unwrap().version, 2);
    db.assert_counts(&[(
        "SELECT COUNT(*) FROM audit_log WHERE action = 'classification_settings.update'",
        1,
    )])
    .await;
}
