//! A scheduled work order's day is a window its asset is not rented in, on SQLite and
//! PostgreSQL: the order books the day (a `maintenance` booking linked to it), contracts over it
//! are refused at creation and at signing with that booking, rescheduling moves it, finishing
//! or cancelling frees it, an order on a day the asset is on hire is serviced on hire and books
//! nothing, and a signing racing a scheduling leaves exactly one booking of the day.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod contracts_common;

use chrono::{NaiveTime, TimeZone, Utc};
use contracts_common::*;
use domain::contracts::{self, availability, lifecycle};
use domain::maintenance::orders;
use domain::testing::{assert_conflict, TestDb};
use domain::Actor;
use mobile_shared::maintenance::{
    CompleteWorkOrder, NewWorkOrder, WorkOrder, WorkOrderPatch, WorkOrderState,
};
use mobile_shared::{ErrorCode, Role};
use uuid::Uuid;

domain::backend_matrix!(
    TestDb:
    a_scheduled_work_order_keeps_contracts_off_its_day,
    a_work_order_on_a_rented_day_is_serviced_on_hire,
    finishing_cancelling_or_unscheduling_frees_the_day,
    a_signing_racing_a_scheduling_books_the_day_once,
    work_started_unscheduled_holds_its_start_day,
);

/// Today plus `days`, at 09:30 UTC.
fn at(days: i64) -> chrono::DateTime<Utc> {
    Utc.from_utc_datetime(&day(days).and_time(NaiveTime::from_hms_opt(9, 30, 0).unwrap()))
}

async fn open_order(db: &TestDb, asset: Uuid, title: &str) -> WorkOrder {
    let new = NewWorkOrder {
        asset_id: asset,
        title: title.into(),
        plan_id: None,
        assignee: None,
        due_at: None,
        checklist: vec![],
        notes: None,
    };
    orders::create(&db.store, &Actor::system(), new)
        .await
        .unwrap()
}

async fn schedule(db: &TestDb, planner: &Actor, order: &WorkOrder, days: Option<i64>) -> WorkOrder {
    let patch = WorkOrderPatch {
        version: order.version,
        state: days.map(|_| WorkOrderState::Scheduled),
        scheduled_for: Some(days.map(at)),
        ..WorkOrderPatch::default()
    };
    orders::update(&db.store, planner, order.id, patch)
        .await
        .unwrap()
}

/// Live bookings holding `order`'s window.
async fn held(db: &TestDb, order: Uuid) -> i64 {
    db.count(&format!(
        "SELECT COUNT(*) FROM asset_bookings WHERE work_order_id = {} AND released_at IS NULL",
        lit(db, order)
    ))
    .await
}

async fn a_scheduled_work_order_keeps_contracts_off_its_day(db: TestDb) {
    let planner = add_user(&db, "planner", Role::MaintenancePlanner).await;
    let office = add_user(&db, "office", Role::RentalOffice).await;
    let customer = add_customer(&db, "Acme", None, None).await;
    let asset = add_asset(&db, "W-1", None).await;
    let order = open_order(&db, asset, "Hydraulic hoses").await;
    let order = schedule(&db, &planner, &order, Some(5)).await;
    assert_eq!(held(&db, order.id).await, 1);

    // Renting over the day: refused at creation, naming the work order's booking.
    let err = contracts::create(
        &db.store,
        &office,
        draft(customer, 3, 6, vec![asset_line(asset, 1)]),
    )
    .await
    .unwrap_err();
    let booking = conflicting(&err);
    assert_eq!(booking["kind"], "maintenance");
    assert_eq!(booking["work_order_id"], order.id.to_string());
    assert_eq!(booking["starts_on"], day(5).to_string());
    assert_eq!(booking["ends_on"], day(5).to_string());
    // The days either side are free.
    contracts::create(
        &db.store,
        &office,
        draft(customer, 0, 4, vec![asset_line(asset, 1)]),
    )
    .await
    .unwrap();

    // A draft made before the order was scheduled is refused at signing.
    let early = contracts::create(
        &db.store,
        &office,
        draft(customer, 10, 12, vec![asset_line(asset, 1)]),
    )
    .await
    .unwrap();
    let order = schedule(&db, &planner, &order, Some(11)).await;
    let err = lifecycle::sign(&db.store, &office, early.id)
        .await
        .unwrap_err();
    assert_eq!(conflicting(&err)["work_order_id"], order.id.to_string());
    // Rescheduling released day 5 (kept as history) and booked day 11.
    contracts::create(
        &db.store,
        &office,
        draft(customer, 5, 5, vec![asset_line(asset, 1)]),
    )
    .await
    .unwrap();
    db.assert_counts(&[(
        &format!(
            "SELECT COUNT(*) FROM asset_bookings WHERE work_order_id = {} AND released_at IS NOT NULL",
            lit(&db, order.id)
        ),
        1,
    )])
    .await;

    // The window is the order's, not a block to release by hand.
    let blocks = availability::blocks(&db.store, asset).await.unwrap();
    let live = blocks.iter().find(|b| b.released_at.is_none()).unwrap();
    assert_eq!(live.work_order_id, Some(order.id));
    let err = availability::release_block(&db.store, &planner, asset, live.id)
        .await
        .unwrap_err();
    assert_conflict(&err, ErrorCode::IllegalTransition, "the order's window");
    assert_eq!(held(&db, order.id).await, 1);

    let audited = db
        .count("SELECT COUNT(*) FROM audit_log WHERE entity = 'asset_booking'")
        .await;
    assert_eq!(audited, 3, "booked day 5, released it, booked day 11");
}

async fn a_work_order_on_a_rented_day_is_serviced_on_hire(db: TestDb) {
    let planner = add_user(&db, "planner", Role::MaintenancePlanner).await;
    let office = add_user(&db, "office", Role::RentalOffice).await;
    let customer = add_customer(&db, "Acme", None, None).await;
    let asset = add_asset(&db, "W-2", None).await;
    signed(&db, &office, customer, asset, 2, 8).await;
    // Scheduling on a rented day is not refused: the machine is serviced at the customer's site.
    let order = open_order(&db, asset, "On-site service").await;
    let order = schedule(&db, &planner, &order, Some(4)).await;
    assert_eq!(order.state, WorkOrderState::Scheduled);
    assert_eq!(held(&db, order.id).await, 0);
    // Moved to a free day, it holds that day.
    let order = schedule(&db, &planner, &order, Some(9)).await;
    assert_eq!(held(&db, order.id).await, 1);
    let err = contracts::create(
        &db.store,
        &office,
        draft(customer, 9, 9, vec![asset_line(asset, 1)]),
    )
    .await
    .unwrap_err();
    assert_eq!(conflicting(&err)["work_order_id"], order.id.to_string());
    // The contract's own booking is untouched.
    db.assert_counts(&[(
        "SELECT COUNT(*) FROM asset_bookings WHERE kind = 'contract' AND released_at IS NULL",
        1,
    )])
    .await;
}

async fn finishing_cancelling_or_unscheduling_frees_the_day(db: TestDb) {
    let planner = add_user(&db, "planner", Role::MaintenancePlanner).await;
    let office = add_user(&db, "office", Role::RentalOffice).await;
    let customer = add_customer(&db, "Acme", None, None).await;
    let asset = add_asset(&db, "W-3", None).await;
    let rent = |from, to| draft(customer, from, to, vec![asset_line(asset, 1)]);

    let done = open_order(&db, asset, "Done early").await;
    let done = schedule(&db, &planner, &done, Some(3)).await;
    let cancelled = open_order(&db, asset, "Cancelled").await;
    let cancelled = schedule(&db, &planner, &cancelled, Some(5)).await;
    let unscheduled = open_order(&db, asset, "Unscheduled").await;
    let unscheduled = schedule(&db, &planner, &unscheduled, Some(7)).await;
    for d in [3, 5, 7] {
        let err = contracts::create(&db.store, &office, rent(d, d))
            .await
            .unwrap_err();
        conflicting(&err);
    }

    orders::complete(&db.store, &planner, done.id, CompleteWorkOrder::default())
        .await
        .unwrap();
    let patch = WorkOrderPatch {
        version: cancelled.version,
        state: Some(WorkOrderState::Cancelled),
        ..WorkOrderPatch::default()
    };
    orders::update(&db.store, &planner, cancelled.id, patch)
        .await
        .unwrap();
    schedule(&db, &planner, &unscheduled, None).await;

    for order in [done.id, cancelled.id, unscheduled.id] {
        assert_eq!(held(&db, order).await, 0);
    }
    let c = contracts::create(&db.store, &office, rent(3, 7))
        .await
        .unwrap();
    lifecycle::sign(&db.store, &office, c.id).await.unwrap();
}

async fn a_signing_racing_a_scheduling_books_the_day_once(db: TestDb) {
    const ROUNDS: i64 = 6;
    let planner = add_user(&db, "planner", Role::MaintenancePlanner).await;
    let office = add_user(&db, "office", Role::RentalOffice).await;
    let customer = add_customer(&db, "Acme", None, None).await;
    for round in 0..ROUNDS {
        let asset = add_asset(&db, &format!("R-{round}"), None).await;
        let contract = contracts::create(
            &db.store,
            &office,
            draft(customer, 5, 7, vec![asset_line(asset, 1)]),
        )
        .await
        .unwrap();
        let order = open_order(&db, asset, "Racing").await;
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(2));
        let sign = {
            let (store, office, barrier) = (db.store.clone(), office.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                lifecycle::sign(&store, &office, contract.id).await
            })
        };
        let patch = WorkOrderPatch {
            version: order.version,
            state: Some(WorkOrderState::Scheduled),
            scheduled_for: Some(Some(at(6))),
            ..WorkOrderPatch::default()
        };
        let scheduling = {
            let (store, planner, barrier) = (db.store.clone(), planner.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                orders::update(&store, &planner, order.id, patch).await
            })
        };
        let signed = sign.await.unwrap();
        // Scheduling always succeeds: on hire, the order simply books nothing.
        scheduling.await.unwrap().unwrap();
        let order_holds = held(&db, order.id).await;
        match signed {
            Ok(_) => assert_eq!(order_holds, 0, "round {round}: signed, serviced on hire"),
            Err(e) => {
                assert_eq!(conflicting(&e)["work_order_id"], order.id.to_string());
                assert_eq!(order_holds, 1, "round {round}");
            }
        }
        let live = db
            .count(&format!(
                "SELECT COUNT(*) FROM asset_bookings WHERE asset_id = {} AND released_at IS NULL",
                lit(&db, asset)
            ))
            .await;
        assert_eq!(live, 1, "round {round}: exactly one booking holds the day");
    }
}

async fn work_started_unscheduled_holds_its_start_day(db: TestDb) {
    let planner = add_user(&db, "planner", Role::MaintenancePlanner).await;
    let office = add_user(&db, "office", Role::RentalOffice).await;
    let customer = add_customer(&db, "Acme", None, None).await;
    let asset = add_asset(&db, "W-4", None).await;
    let order = open_order(&db, asset, "Yard repair").await;
    assert_eq!(
        held(&db, order.id).await,
        0,
        "open and unscheduled: no window"
    );
    let patch = WorkOrderPatch {
        version: order.version,
        state: Some(WorkOrderState::InProgress),
        ..WorkOrderPatch::default()
    };
    let order = orders::update(&db.store, &planner, order.id, patch)
        .await
        .unwrap();
    assert_eq!(held(&db, order.id).await, 1);
    // A line for the asset in maintenance today is refused; tomorrow is free.
    let err = contracts::create(
        &db.store,
        &office,
        draft(customer, 0, 3, vec![asset_line(asset, 1)]),
    )
    .await
    .unwrap_err();
    assert_eq!(conflicting(&err)["work_order_id"], order.id.to_string());
    contracts::create(
        &db.store,
        &office,
        draft(customer, 1, 3, vec![asset_line(asset, 1)]),
    )
    .await
    .unwrap();
    orders::complete(&db.store, &planner, order.id, CompleteWorkOrder::default())
        .await
        .unwrap();
    assert_eq!(held(&db, order.id).await, 0);
}
