//! Migration 0026 on SQLite and PostgreSQL databases that already hold scheduled work orders:
//! each active order scheduled (or started) on a day its asset is free gets the booking that holds the day
//! (the earliest of several on one day), orders on a rented day or closed or unscheduled get
//! none, and afterwards the service moves the migrated bookings like its own.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod contracts_common;

use contracts_common::*;
use domain::contracts;
use domain::maintenance::orders;
use domain::testing::{assert_conflict, Fixture, TestDb};
use domain::Backend;
use mobile_shared::maintenance::WorkOrderPatch;
use mobile_shared::{ErrorCode, Role};
use uuid::Uuid;

/// A database at the release before migration 0026.
struct Before0026(TestDb);

impl Fixture for Before0026 {
    async fn open(backend: Backend) -> Option<Self> {
        let db = TestDb::open_before(backend, 26).await?;
        db.audit_columns_of_today(true).await;
        Some(Before0026(db))
    }
}

domain::backend_matrix!(Before0026: scheduled_orders_get_their_windows);

/// Inserts a work order as an older release wrote it (no booking), scheduled at `at` (UTC).
async fn order(db: &TestDb, asset: Uuid, state: &str, at: Option<String>) -> Uuid {
    let id = Uuid::now_v7();
    let at = at.map_or("NULL".to_owned(), |t| format!("'{t}'"));
    db.execute(&format!(
        "INSERT INTO work_orders (id, asset_id, title, state, scheduled_for, checklist, \
         automatic, created_at, updated_at) VALUES ({}, {}, 'Service', '{state}', {at}, '[]', \
         FALSE, '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')",
        lit(db, id),
        lit(db, asset)
    ))
    .await;
    id
}

fn at(days: i64, time: &str) -> Option<String> {
    Some(format!("{}T{time}Z", day(days)))
}

async fn scheduled_orders_get_their_windows(Before0026(db): Before0026) {
    let office = add_user(&db, "office", Role::RentalOffice).await;
    let planner = add_user(&db, "planner", Role::MaintenancePlanner).await;
    let customer = add_customer(&db, "Acme", None, None).await;
    let a = add_asset(&db, "A-1", None).await;
    let b = add_asset(&db, "B-1", None).await;
    signed(&db, &office, customer, a, 2, 4).await;

    let on_hire = order(&db, a, "scheduled", at(3, "10:00:00")).await;
    let first = order(&db, a, "scheduled", at(6, "09:30:00")).await;
    let second = order(&db, a, "open", at(6, "14:00:00")).await;
    let done = order(&db, b, "done", at(6, "09:00:00")).await;
    let unscheduled = order(&db, b, "open", None).await;
    let working = order(&db, b, "in_progress", at(6, "23:59:00")).await;
    // Work started without a schedule holds the day it started.
    let started = order(&db, b, "in_progress", None).await;
    db.execute(&format!(
        "UPDATE work_orders SET started_at = '{}' WHERE id = {}",
        at(8, "07:00:00").unwrap(),
        lit(&db, started)
    ))
    .await;

    db.audit_columns_of_today(false).await;
    db.store.migrate().await.unwrap();

    let held = |id: Uuid| {
        format!(
            "SELECT COUNT(*) FROM asset_bookings WHERE work_order_id = {} AND released_at IS NULL \
             AND kind = 'maintenance' AND starts_on = ends_on",
            lit(&db, id)
        )
    };
    db.assert_counts(&[
        (&held(first), 1),
        (&held(working), 1),
        (&held(on_hire), 0),
        (&held(second), 0),
        (&held(done), 0),
        (&held(unscheduled), 0),
        (&held(started), 1),
    ])
    .await;

    // Renting over the migrated window is refused with the order's booking.
    let err = contracts::create(
        &db.store,
        &office,
        draft(customer, 6, 6, vec![asset_line(b, 1)]),
    )
    .await
    .unwrap_err();
    let booking = conflicting(&err);
    assert_eq!(booking["work_order_id"], working.to_string());
    assert_eq!(booking["starts_on"], day(6).to_string());

    // The service moves a migrated booking like its own, and one live booking per order holds.
    let current = orders::get(&db.store, first).await.unwrap();
    let patch = WorkOrderPatch {
        version: current.version,
        scheduled_for: Some(Some(
            chrono::DateTime::parse_from_rfc3339(&at(9, "08:00:00").unwrap())
                .unwrap()
                .to_utc(),
        )),
        ..WorkOrderPatch::default()
    };
    orders::update(&db.store, &planner, first, patch)
        .await
        .unwrap();
    db.assert_counts(&[(&held(first), 1)]).await;
    contracts::create(
        &db.store,
        &office,
        draft(customer, 6, 6, vec![asset_line(a, 1)]),
    )
    .await
    .unwrap();
    let err = contracts::create(
        &db.store,
        &office,
        draft(customer, 9, 9, vec![asset_line(a, 1)]),
    )
    .await
    .unwrap_err();
    assert_conflict(&err, ErrorCode::BookingConflict, "moved window");
}
