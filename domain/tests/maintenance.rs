//! Maintenance forecasts fed by real ingest, meter snapshots, and services recorded
//! concurrently. Runs on SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{Duration, Utc};
use domain::events::EventBus;
use domain::maintenance::{forecast, history, plans};
use domain::telemetry::{IngestOptions, Ingestor, Message, MessageKind};
use domain::testing::TestDb;
use domain::{assets, Actor};
use mobile_shared::maintenance::{Interval, Metric, NewPlan, NewServiceRecord, Urgency};
use mobile_shared::telemetry::Reading;
use mobile_shared::wire::{AuditSource, NewAsset};
use mobile_shared::Role;
use uuid::Uuid;

domain::backend_matrix!(
    TestDb:
    a_meter_that_goes_backwards_never_makes_a_service_due,
    snapshots_keep_the_first_look_of_the_day_and_prune_old_ones,
    the_daily_sweep_runs_once_a_day,
    the_clock_takes_the_snapshots_and_catches_up_missed_days,
    racing_sweeps_open_one_order_per_service_and_never_reopen_a_cancelled_one,
    a_meter_plan_waits_for_the_first_reading,
    the_clock_opens_orders_every_tick_from_where_it_left_off,
    concurrent_service_records_each_get_their_own_occurrence,
);

fn actor() -> Actor {
    Actor::user(Uuid::now_v7(), "tester", Role::Admin, AuditSource::Api)
}

async fn asset(db: &TestDb, code: &str, hours: Option<f64>) -> Uuid {
    let new = NewAsset {
        code: code.into(),
        name: format!("Machine {code}"),
        engine_hours: hours,
        ..NewAsset::default()
    };
    assets::create(&db.store, &actor(), new).await.unwrap().id
}

async fn hour_plan(db: &TestDb, asset_id: Uuid, every: u32) -> Uuid {
    let new = NewPlan {
        name: format!("{every} h service"),
        category_id: None,
        asset_id: Some(asset_id),
        intervals: vec![Interval {
            metric: Metric::EngineHours,
            every,
        }],
        lead_days: None,
        lead_hours: None,
        anchor: None,
        services: None,
        starts_on: None,
    };
    plans::create(&db.store, &actor(), new).await.unwrap().id
}

fn hours_reading(device: &str, minutes_ago: i64, hours: f64) -> Message {
    let mut r = Reading::at(Utc::now() - Duration::minutes(minutes_ago));
    r.engine_hours = Some(hours);
    Message {
        topic: format!("fieldops/v1/{device}/telemetry"),
        received_at: Utc::now(),
        kind: MessageKind::Readings {
            device_id: device.into(),
            readings: vec![r],
        },
    }
}

async fn a_meter_that_goes_backwards_never_makes_a_service_due(db: TestDb) {
    let a = asset(&db, "MTR-1", Some(0.0)).await;
    db.add_device("trk-mtr", Some(a)).await;
    let plan = hour_plan(&db, a, 250).await;
    let ingestor = Ingestor::new(
        db.store.clone(),
        EventBus::new(64),
        IngestOptions::default(),
    );
    ingestor
        .ingest(&[hours_reading("trk-mtr", 30, 240.0)])
        .await
        .unwrap();
    // The meter is replaced: the new one starts near zero. Ingest flags it and keeps 240 h.
    ingestor
        .ingest(&[
            hours_reading("trk-mtr", 20, 3.0),
            hours_reading("trk-mtr", 10, 4.5),
        ])
        .await
        .unwrap();
    let m = forecast::for_asset(&db.store, a, Utc::now()).await.unwrap();
    assert_eq!(m.engine_hours, Some(240.0));
    let next = m.next_service.unwrap();
    assert_eq!(next.plan_id, plan);
    assert!(next.meter_flagged);
    assert_eq!(next.due_at_hours, Some(250.0));
    assert_ne!(next.urgency, Urgency::Overdue);
    let remaining = next.metrics[0].remaining.unwrap();
    assert!(remaining > 0.0, "{remaining}");
    assert!(next.forecast_date.unwrap() >= Utc::now().date_naive());
    // Utilisation from a snapshot taken before the replacement is not negative either.
    let mut tx = db.store.begin().await.unwrap();
    forecast::snapshot_meters(&mut tx, Utc::now() - Duration::days(2))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    ingestor
        .ingest(&[hours_reading("trk-mtr", 5, 5.0)])
        .await
        .unwrap();
    let m = forecast::for_asset(&db.store, a, Utc::now()).await.unwrap();
    assert_eq!(m.hours_per_day, Some(0.0));
    assert!(m.next_service.unwrap().metrics[0].remaining.unwrap() > 0.0);
}

async fn snapshots_keep_the_first_look_of_the_day_and_prune_old_ones(db: TestDb) {
    let a = asset(&db, "SNP-1", Some(10.0)).await;
    let _no_meter = asset(&db, "SNP-2", None).await;
    let now = Utc::now();
    let take = |at| {
        let store = db.store.clone();
        async move {
            let mut tx = store.begin().await.unwrap();
            let n = forecast::snapshot_meters(&mut tx, at).await.unwrap();
            tx.commit().await.unwrap();
            n
        }
    };
    assert_eq!(
        take(now - Duration::days(100)).await,
        1,
        "only assets with a meter"
    );
    assert_eq!(take(now - Duration::days(3)).await, 1);
    assert_eq!(
        take(now - Duration::days(3)).await,
        0,
        "a day keeps its first snapshot"
    );
    // Day -100 was pruned; day -3 of the one asset with a meter is all that is left.
    assert_eq!(
        db.count("SELECT COUNT(*) FROM asset_meter_snapshots").await,
        1
    );
    let m = forecast::for_asset(&db.store, a, now).await.unwrap();
    assert_eq!(m.hours_per_day, Some(0.0), "measured over the 3 days since");
}

async fn concurrent_service_records_each_get_their_own_occurrence(db: TestDb) {
    let a = asset(&db, "CON-1", Some(100.0)).await;
    let plan = hour_plan(&db, a, 250).await;
    let record = |i: i64| {
        let store = db.store.clone();
        async move {
            let new = NewServiceRecord {
                plan_id: plan,
                done_at: Some(Utc::now() - Duration::seconds(60 - i)),
                engine_hours: None,
                odometer_km: None,
            };
            history::record_service(&store, &actor(), a, new).await
        }
    };
    let mut set = tokio::task::JoinSet::new();
    for i in 0..6 {
        set.spawn(record(i));
    }
    let results = set.join_all().await;
    // Each record either got its own occurrence, or (when its stated time was before one that
    // committed first) was refused naming `done_at`; none was lost or doubled.
    let mut occurrences: Vec<u32> = results
        .iter()
        .filter_map(|r| r.as_ref().ok().map(|r| r.occurrence))
        .collect();
    occurrences.sort_unstable();
    let n = occurrences.len() as u32;
    assert!(n >= 1);
    assert_eq!(occurrences, (1..=n).collect::<Vec<_>>());
    for r in results.iter().filter_map(|r| r.as_ref().err()) {
        assert_eq!(r.code(), mobile_shared::ErrorCode::ValidationFailed, "{r}");
    }
    let stored = db
        .count("SELECT COUNT(*) FROM maintenance_history WHERE occurrence > 0")
        .await;
    assert_eq!(stored, i64::from(n));
}

async fn the_daily_sweep_runs_once_a_day(db: TestDb) {
    let a = asset(&db, "SWP-1", Some(10.0)).await;
    hour_plan(&db, a, 250).await;
    let sweep = |at| {
        let store = db.store.clone();
        async move {
            let mut tx = store.begin().await.unwrap();
            let n = forecast::daily_sweep(&mut tx, at).await.unwrap();
            tx.commit().await.unwrap();
            n
        }
    };
    let now = Utc::now();
    // The plan's baseline exists already: only the snapshot is new.
    assert_eq!(sweep(now).await, 1);
    assert_eq!(sweep(now + Duration::seconds(60)).await, 0, "once a day");
    let b = asset(&db, "SWP-2", Some(20.0)).await;
    let _ = b;
    assert_eq!(
        sweep(now + Duration::seconds(120)).await,
        0,
        "still the same day"
    );
    // The next day: two snapshots, and no baseline for SWP-2 (the plan is SWP-1's own).
    assert_eq!(sweep(now + Duration::days(1)).await, 2);
}

async fn the_clock_takes_the_snapshots_and_catches_up_missed_days(db: TestDb) {
    asset(&db, "CLK-1", Some(10.0)).await;
    let clock = domain::schedule::Scheduler::new(db.store.clone(), "test").with_builtin_rules();
    assert!(clock.rule_names().contains(&"maintenance_daily"));
    let snapshots = || db.count("SELECT COUNT(*) FROM asset_meter_snapshots");
    let t0 = Utc::now();
    // The clock last ran three days ago; the server was down since.
    clock.tick(t0 - Duration::days(3)).await;
    let report = clock.tick(t0).await;
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert!(
        report.runs.len() > 3,
        "caught up in chunks: {:?}",
        report.runs
    );
    assert_eq!(
        snapshots().await,
        1,
        "today's values are not dated on the missed days; today's snapshot is taken"
    );
    clock.tick(t0 + Duration::minutes(1)).await;
    assert_eq!(snapshots().await, 1, "once a day");
    let report = clock
        .tick(t0 + Duration::days(1) + Duration::minutes(1))
        .await;
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(
        snapshots().await,
        2,
        "the next day's first tick takes the next"
    );
}

async fn racing_sweeps_open_one_order_per_service_and_never_reopen_a_cancelled_one(db: TestDb) {
    use domain::maintenance::orders;
    use mobile_shared::maintenance::{WorkOrderPatch, WorkOrderState};
    // Due in 5 h of use: inside the 10-day lead at the 0.5 h/day floor.
    let soon = asset(&db, "WO-1", Some(0.0)).await;
    hour_plan(&db, soon, 250).await;
    let far = asset(&db, "WO-2", Some(0.0)).await;
    hour_plan(&db, far, 250).await;
    db.execute("UPDATE assets SET engine_hours = 245 WHERE code = 'WO-1'")
        .await;
    let sweep = || {
        let store = db.store.clone();
        async move {
            let mut tx = store.begin().await.unwrap();
            let n = orders::open_due(&store, &mut tx, Utc::now()).await.unwrap();
            tx.commit().await.unwrap();
            n
        }
    };
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..4 {
        set.spawn(sweep());
    }
    let opened: u64 = set.join_all().await.into_iter().sum();
    assert_eq!(opened, 1, "four racing sweeps, one order");
    let list = orders::list(
        &db.store,
        None,
        None,
        domain::PageRequest::new(None, None).unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(list.items.len(), 1);
    let order = &list.items[0];
    assert_eq!((order.asset_id, order.state), (soon, WorkOrderState::Open));
    assert!(order.automatic);
    assert_eq!(order.occurrence, Some(1));
    assert_eq!(
        db.count("SELECT COUNT(*) FROM tasks WHERE kind = 'work_order' AND state = 'open'")
            .await,
        1
    );
    assert_eq!(
        db.count("SELECT COUNT(*) FROM notifications WHERE kind = 'work_order.opened'")
            .await,
        1,
        "one notification, in the order's transaction"
    );
    // A planner cancels it (the service was done elsewhere and not recorded): the next sweep
    // does not open it again.
    orders::update(
        &db.store,
        &Actor::system(),
        order.id,
        WorkOrderPatch {
            version: order.version,
            state: Some(WorkOrderState::Cancelled),
            ..WorkOrderPatch::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(sweep().await, 0);
    assert_eq!(
        db.count("SELECT COUNT(*) FROM tasks WHERE kind = 'work_order' AND state = 'cancelled'")
            .await,
        1
    );
}

async fn a_meter_plan_waits_for_the_first_reading(db: TestDb) {
    // Registered without hours; the tracker later reports 3,000 h: not 2,750 h overdue.
    let a = asset(&db, "NEW-1", None).await;
    let plan = hour_plan(&db, a, 250).await;
    assert_eq!(
        db.count("SELECT COUNT(*) FROM maintenance_history").await,
        0
    );
    db.add_device("trk-new", Some(a)).await;
    let ingestor = Ingestor::new(
        db.store.clone(),
        EventBus::new(64),
        IngestOptions::default(),
    );
    ingestor
        .ingest(&[hours_reading("trk-new", 1, 3000.0)])
        .await
        .unwrap();
    let next = forecast::for_asset(&db.store, a, Utc::now())
        .await
        .unwrap()
        .next_service
        .unwrap();
    assert_eq!((next.plan_id, next.due_at_hours), (plan, Some(3250.0)));
    assert_eq!(next.urgency, Urgency::Ok);
    // The daily sweep then fixes the baseline where the meter stood.
    let mut tx = db.store.begin().await.unwrap();
    assert_eq!(forecast::daily_sweep(&mut tx, Utc::now()).await.unwrap(), 2);
    tx.commit().await.unwrap();
    let more = hours_reading("trk-new", 0, 3100.0);
    ingestor.ingest(&[more]).await.unwrap();
    let next = forecast::for_asset(&db.store, a, Utc::now())
        .await
        .unwrap()
        .next_service
        .unwrap();
    assert_eq!(next.due_at_hours, Some(3250.0), "anchored at 3,000 h");
}

async fn the_clock_opens_orders_every_tick_from_where_it_left_off(db: TestDb) {
    let a = asset(&db, "TCK-1", Some(0.0)).await;
    hour_plan(&db, a, 250).await;
    let clock = domain::schedule::Scheduler::new(db.store.clone(), "test").with_builtin_rules();
    let t0 = Utc::now();
    clock.tick(t0).await;
    let orders = || db.count("SELECT COUNT(*) FROM work_orders");
    clock.tick(t0 + Duration::minutes(1)).await;
    assert_eq!(orders().await, 0, "nothing due");
    db.execute("UPDATE assets SET engine_hours = 248 WHERE code = 'TCK-1'")
        .await;
    let report = clock.tick(t0 + Duration::minutes(2)).await;
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(orders().await, 1, "the next tick's slice opens it");
    clock.tick(t0 + Duration::minutes(3)).await;
    assert_eq!(orders().await, 1, "and only once");
}
