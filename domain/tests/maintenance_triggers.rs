//! Hour and odometer services evaluated inside the ingest transaction: the clock's sweep leaves
//! each service's threshold, a reading that crosses it opens the order in its own batch, once,
//! however many batches and sweeps race; stale thresholds open nothing. Runs on SQLite and
//! PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{Days, Duration, Utc};
use domain::events::EventBus;
use domain::maintenance::{orders, plans};
use domain::telemetry::{IngestOptions, Ingestor, Message, MessageKind};
use domain::testing::TestDb;
use domain::{assets, categories, Actor, PageRequest};
use mobile_shared::maintenance::{
    CompleteWorkOrder, Interval, Metric, NewPlan, PlanPatch, WorkOrder, WorkOrderState,
};
use mobile_shared::telemetry::Reading;
use mobile_shared::wire::{AuditSource, NewAsset, NewCategory};
use mobile_shared::Role;
use uuid::Uuid;

domain::backend_matrix!(
    TestDb:
    a_reading_that_crosses_the_threshold_opens_the_order_in_its_batch,
    concurrent_batches_and_sweeps_open_one_order,
    stale_thresholds_open_nothing,
    odometer_services_open_from_ingest_too,
);

fn actor() -> Actor {
    Actor::user(Uuid::now_v7(), "tester", Role::Admin, AuditSource::Api)
}

async fn asset(db: &TestDb, code: &str, category: Option<&str>) -> Uuid {
    let new = NewAsset {
        code: code.into(),
        name: format!("Machine {code}"),
        engine_hours: Some(0.0),
        category: category.map(Into::into),
        ..NewAsset::default()
    };
    assets::create(&db.store, &actor(), new).await.unwrap().id
}

fn plan(asset_id: Option<Uuid>, category_id: Option<Uuid>, metric: Metric, every: u32) -> NewPlan {
    NewPlan {
        name: format!("{every} {} service", metric.as_str()),
        category_id,
        asset_id,
        intervals: vec![Interval { metric, every }],
        lead_days: None,
        lead_hours: None,
        anchor: None,
        services: None,
        starts_on: None,
    }
}

fn reading(device: &str, seconds_ago: i64, hours: Option<f64>, km: Option<f64>) -> Message {
    let mut r = Reading::at(Utc::now() - Duration::seconds(seconds_ago));
    r.engine_hours = hours;
    r.odometer_km = km;
    Message {
        topic: format!("fieldops/v1/{device}/telemetry"),
        received_at: Utc::now(),
        kind: MessageKind::Readings {
            device_id: device.into(),
            readings: vec![r],
        },
    }
}

fn ingestor(db: &TestDb) -> Ingestor {
    Ingestor::new(
        db.store.clone(),
        EventBus::new(64),
        IngestOptions::default(),
    )
}

/// One whole pass of the clock's sweep; returns the orders it opened.
async fn sweep(db: &TestDb) -> u64 {
    let mut tx = db.store.begin().await.unwrap();
    let n = orders::open_due(&db.store, &mut tx, Utc::now())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    n
}

async fn all_orders(db: &TestDb) -> Vec<WorkOrder> {
    orders::list(&db.store, None, None, PageRequest::new(None, None).unwrap())
        .await
        .unwrap()
        .items
}

async fn a_reading_that_crosses_the_threshold_opens_the_order_in_its_batch(db: TestDb) {
    // 250 h, the default 10-day lead, no history: the 0.5 h/day floor. The service enters its
    // window with fewer than 11 days of use left: from 244.5 h.
    let a = asset(&db, "TRG-1", None).await;
    db.add_device("trk-trg", Some(a)).await;
    let p = plans::create(
        &db.store,
        &actor(),
        plan(Some(a), None, Metric::EngineHours, 250),
    )
    .await
    .unwrap();
    let ingest = ingestor(&db);
    assert_eq!(sweep(&db).await, 0);
    let threshold = "SELECT COUNT(*) FROM maintenance_triggers WHERE opens_at > 244.49 \
                     AND opens_at < 244.51 AND metric = 'engine_hours'";
    assert_eq!(
        db.count(threshold).await,
        1,
        "the sweep leaves the threshold"
    );
    assert_eq!(
        db.count(
            "SELECT COUNT(*) FROM maintenance_thresholds WHERE hours_opens_at > 244.49 \
             AND hours_opens_at < 244.51 AND km_opens_at IS NULL"
        )
        .await,
        1,
        "and the asset's lowest one, which ingest reads with the asset row"
    );

    let r = ingest
        .ingest(&[reading("trk-trg", 60, Some(244.4), None)])
        .await
        .unwrap();
    assert_eq!(r.orders_opened, 0, "just below");
    let r = ingest
        .ingest(&[reading("trk-trg", 50, Some(246.0), None)])
        .await
        .unwrap();
    assert_eq!(
        r.orders_opened, 1,
        "crossed: opened in the batch, no sweep in between"
    );
    let orders = all_orders(&db).await;
    assert_eq!(orders.len(), 1);
    let o = &orders[0];
    assert_eq!(
        (o.asset_id, o.plan_id, o.occurrence, o.automatic, o.state),
        (a, Some(p.id), Some(1), true, WorkOrderState::Open)
    );
    // 4 h left at 0.5 h/day: due in 8 days.
    assert_eq!(o.due_at, Some(Utc::now().date_naive() + Days::new(8)));
    assert_eq!(
        db.count("SELECT COUNT(*) FROM audit_log WHERE entity = 'work_order' AND source = 'mqtt'")
            .await,
        1,
        "audited as ingest's"
    );
    assert_eq!(
        db.count("SELECT COUNT(*) FROM notifications WHERE kind = 'work_order.opened'")
            .await,
        1
    );
    assert_eq!(
        db.count("SELECT COUNT(*) FROM maintenance_triggers").await,
        0,
        "spent"
    );
    assert_eq!(
        db.count("SELECT COUNT(*) FROM maintenance_thresholds")
            .await,
        0,
        "no threshold left to send later batches to the triggers"
    );

    // More readings, and the sweep, open nothing more; the sweep leaves no threshold for a
    // service with an active order.
    let r = ingest
        .ingest(&[reading("trk-trg", 40, Some(247.0), None)])
        .await
        .unwrap();
    assert_eq!(r.orders_opened, 0);
    assert_eq!(sweep(&db).await, 0);
    assert_eq!(
        db.count("SELECT COUNT(*) FROM maintenance_triggers").await,
        0
    );

    // Completing the order re-anchors the plan at 247 h: the next threshold is 497 − 5.5.
    orders::complete(
        &db.store,
        &Actor::system(),
        o.id,
        CompleteWorkOrder::default(),
    )
    .await
    .unwrap();
    sweep(&db).await;
    assert_eq!(
        db.count(
            "SELECT COUNT(*) FROM maintenance_triggers WHERE occurrence = 2 \
             AND opens_at > 491.49 AND opens_at < 491.51"
        )
        .await,
        1
    );
    let r = ingest
        .ingest(&[reading("trk-trg", 30, Some(492.0), None)])
        .await
        .unwrap();
    assert_eq!(r.orders_opened, 1);
    assert_eq!(all_orders(&db).await.len(), 2);
}

async fn concurrent_batches_and_sweeps_open_one_order(db: TestDb) {
    let a = asset(&db, "TRG-2", None).await;
    db.add_device("trk-race", Some(a)).await;
    plans::create(
        &db.store,
        &actor(),
        plan(Some(a), None, Metric::EngineHours, 250),
    )
    .await
    .unwrap();
    sweep(&db).await;
    // Eight batches crossing the threshold at once (different instants, so none is a
    // duplicate), and two sweeps: the asset's row lock orders the batches, the unique index
    // on (asset, plan, occurrence) decides between a batch and a sweep.
    let ingest = std::sync::Arc::new(ingestor(&db));
    let mut set = tokio::task::JoinSet::new();
    for i in 0..8 {
        let ingest = ingest.clone();
        set.spawn(async move {
            let r = ingest
                .ingest(&[reading(
                    "trk-race",
                    100 - i,
                    Some(245.0 + i as f64 / 10.0),
                    None,
                )])
                .await
                .unwrap();
            r.orders_opened
        });
    }
    for _ in 0..2 {
        let store = db.store.clone();
        set.spawn(async move {
            let mut tx = store.begin().await.unwrap();
            let n = orders::open_due(&store, &mut tx, Utc::now()).await.unwrap();
            tx.commit().await.unwrap();
            n
        });
    }
    let opened: u64 = set.join_all().await.into_iter().sum();
    assert_eq!(opened, 1, "one order, whoever opened it");
    assert_eq!(db.count("SELECT COUNT(*) FROM work_orders").await, 1);
    assert_eq!(
        db.count("SELECT COUNT(*) FROM tasks WHERE kind = 'work_order'")
            .await,
        1
    );
}

async fn stale_thresholds_open_nothing(db: TestDb) {
    let cat = categories::create(
        &db.store,
        &actor(),
        NewCategory {
            name: "Excavator".into(),
            description: None,
        },
    )
    .await
    .unwrap();
    let a = asset(&db, "TRG-3", Some("Excavator")).await;
    let b = asset(&db, "TRG-4", Some("Excavator")).await;
    db.add_device("trk-a", Some(a)).await;
    db.add_device("trk-b", Some(b)).await;
    let p = plans::create(
        &db.store,
        &actor(),
        plan(None, Some(cat.id), Metric::EngineHours, 250),
    )
    .await
    .unwrap();
    sweep(&db).await;
    assert_eq!(
        db.count("SELECT COUNT(*) FROM maintenance_triggers").await,
        2
    );
    let ingest = ingestor(&db);

    // The plan changes (a longer interval): the old threshold no longer holds.
    let p = plans::update(
        &db.store,
        &actor(),
        p.id,
        PlanPatch {
            version: p.version,
            intervals: Some(vec![Interval {
                metric: Metric::EngineHours,
                every: 500,
            }]),
            ..PlanPatch::default()
        },
    )
    .await
    .unwrap();
    let r = ingest
        .ingest(&[reading("trk-a", 60, Some(246.0), None)])
        .await
        .unwrap();
    assert_eq!(r.orders_opened, 0, "a changed plan's threshold is ignored");
    assert_eq!(
        db.count(
            "SELECT COUNT(*) FROM maintenance_triggers t JOIN assets a ON a.id = t.asset_id \
             WHERE a.code = 'TRG-3'"
        )
        .await,
        0,
        "and dropped: it would send every later batch of the asset to the triggers"
    );

    // The asset gets its own plan, which replaces the category's: its thresholds are gone.
    sweep(&db).await;
    plans::create(&db.store, &actor(), plan(Some(b), None, Metric::Days, 365))
        .await
        .unwrap();
    let r = ingest
        .ingest(&[reading("trk-b", 50, Some(499.0), None)])
        .await
        .unwrap();
    assert_eq!(
        r.orders_opened, 0,
        "a replaced category plan opens nothing for the asset"
    );

    // A retired plan opens nothing.
    plans::delete(&db.store, &actor(), p.id).await.unwrap();
    let r = ingest
        .ingest(&[reading("trk-a", 40, Some(499.0), None)])
        .await
        .unwrap();
    assert_eq!(r.orders_opened, 0, "a retired plan's threshold is ignored");
    assert_eq!(db.count("SELECT COUNT(*) FROM work_orders").await, 0);
}

async fn odometer_services_open_from_ingest_too(db: TestDb) {
    let a = asset(&db, "TRG-5", None).await;
    db.add_device("trk-km", Some(a)).await;
    let ingest = ingestor(&db);
    ingest
        .ingest(&[reading("trk-km", 120, None, Some(100.0))])
        .await
        .unwrap();
    plans::create(
        &db.store,
        &actor(),
        plan(Some(a), None, Metric::OdometerKm, 10_000),
    )
    .await
    .unwrap();
    sweep(&db).await;
    // Counting from 100 km at the 5 km/day floor: the window opens 55 km before 10,100.
    let r = ingest
        .ingest(&[reading("trk-km", 60, None, Some(10_040.0))])
        .await
        .unwrap();
    assert_eq!(r.orders_opened, 0);
    let r = ingest
        .ingest(&[reading("trk-km", 30, None, Some(10_046.0))])
        .await
        .unwrap();
    assert_eq!(r.orders_opened, 1);
}
