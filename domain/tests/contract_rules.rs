//! The contracts' clock rules on SQLite and PostgreSQL: `contract_lifecycle` (signed → active on
//! the start day, → expiring in the warning window, → ended after the end day, renewed ones
//! kept; idempotent, catching up after downtime) and `contract_renewals` (one task per step
//! before the end, for the right person, once, notified, none while the customer is frozen).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod contracts_common;

use chrono::{Duration, Utc};
use contracts_common::*;
use domain::contracts::lifecycle::{LifecycleRule, WARNING_DAYS};
use domain::contracts::renewals::{self, RenewalsRule};
use domain::contracts::{self, lifecycle};
use domain::customers::Scope;
use domain::schedule::Scheduler;
use domain::testing::TestDb;
use mobile_shared::contracts::{ContractStatus, RenewContract};
use mobile_shared::Role;
use uuid::Uuid;

domain::backend_matrix!(
    TestDb:
    lifecycle_follows_the_calendar_and_catches_up,
    renewal_reminders_come_once_per_step_to_their_owner,
    frozen_customers_get_reminders_once_unfrozen,
);

async fn status(db: &TestDb, id: Uuid) -> ContractStatus {
    contracts::get(&db.store, Scope::All, id)
        .await
        .unwrap()
        .status
}

async fn lifecycle_follows_the_calendar_and_catches_up(db: TestDb) {
    let actor = add_user(&db, "office", Role::RentalOffice).await;
    let customer = add_customer(&db, "Acme", None, None).await;
    let a = add_asset(&db, "A-1", None).await;
    let b = add_asset(&db, "A-2", None).await;
    let c = signed(&db, &actor, customer, a, 2, 40).await;
    assert_eq!(c.status, ContractStatus::Signed);
    // A renewed contract is not ended by the clock.
    let renewed = signed(&db, &actor, customer, b, 0, 50).await;
    let next = renewals::renew(
        &db.store,
        &actor,
        renewed.id,
        RenewContract {
            ends_on: day(120),
            rate_changes: vec![],
        },
    )
    .await
    .unwrap();
    lifecycle::sign(&db.store, &actor, next.id).await.unwrap();
    assert_eq!(status(&db, renewed.id).await, ContractStatus::Renewed);

    let now = Utc::now();
    let clock = Scheduler::new(db.store.clone(), "test").with_rule(LifecycleRule);
    // The first tick starts the rule's mark; nothing is due yet.
    clock.tick(now).await;
    assert_eq!(status(&db, c.id).await, ContractStatus::Signed);
    // Down for three days: the catch-up activates it on its start day.
    let report = clock.tick(now + Duration::days(3)).await;
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert!(
        report.runs.len() >= 3,
        "one window per day: {:?}",
        report.runs
    );
    assert_eq!(status(&db, c.id).await, ContractStatus::Active);
    let activations = "SELECT COUNT(*) FROM audit_log WHERE action = 'contract.activate'";
    db.assert_counts(&[(activations, 1)]).await;
    // 30 days before its end (day 40) it enters the warning window, once.
    clock
        .tick(now + Duration::days(40 - WARNING_DAYS - 1))
        .await;
    assert_eq!(status(&db, c.id).await, ContractStatus::Active);
    clock.tick(now + Duration::days(40 - WARNING_DAYS)).await;
    assert_eq!(status(&db, c.id).await, ContractStatus::Expiring);
    clock.tick(now + Duration::days(40)).await;
    assert_eq!(
        status(&db, c.id).await,
        ContractStatus::Expiring,
        "its last day"
    );
    clock.tick(now + Duration::days(41)).await;
    assert_eq!(status(&db, c.id).await, ContractStatus::Ended);
    clock.tick(now + Duration::days(60)).await;
    assert_eq!(status(&db, renewed.id).await, ContractStatus::Renewed);
    db.assert_counts(&[
        (activations, 2),
        (
            "SELECT COUNT(*) FROM audit_log WHERE action = 'contract.expiring'",
            1,
        ),
        (
            "SELECT COUNT(*) FROM audit_log WHERE action = 'contract.end'",
            1,
        ),
    ])
    .await;
    // The successor started on day 51: the clock activated it (the second activation).
    assert_ne!(status(&db, next.id).await, ContractStatus::Signed);
}

async fn renewal_reminders_come_once_per_step_to_their_owner(db: TestDb) {
    let actor = add_user(&db, "office", Role::RentalOffice).await;
    let manager = add_user(&db, "sam", Role::Sales).await;
    let customer = add_customer(&db, "Acme", manager.user_id, None).await;
    let late = add_customer(&db, "Latecomer", None, None).await;
    let a = add_asset(&db, "R-1", None).await;
    let b = add_asset(&db, "R-2", None).await;
    let c = signed(&db, &actor, customer, a, 0, 95).await;

    let now = Utc::now();
    let clock = Scheduler::new(db.store.clone(), "test").with_rule(RenewalsRule);
    clock.tick(now).await;
    let tasks = "SELECT COUNT(*) FROM tasks WHERE source = 'contract_renewals'";
    db.assert_counts(&[(tasks, 0)]).await;
    // 89 days before the end: the office prepares the renewal plan.
    clock.tick(now + Duration::days(6)).await;
    clock.tick(now + Duration::days(7)).await;
    let rows: Vec<(String, Option<String>)> = db
        .rows("SELECT kind, assignee_role FROM tasks WHERE source = 'contract_renewals'")
        .await;
    assert_eq!(
        rows,
        [("renewal_plan".to_owned(), Some("rental_office".to_owned()))]
    );
    let key = renewals::reminder_key(c.id, 90);
    let keyed: Vec<String> = db
        .rows::<(String,)>("SELECT dedupe_key FROM tasks WHERE source = 'contract_renewals'")
        .await
        .into_iter()
        .map(|(k,)| k)
        .collect();
    assert_eq!(keyed, [key]);
    // 60 days before: the account manager opens talks; 30: the quote; 15: signing.
    clock.tick(now + Duration::days(36)).await;
    clock.tick(now + Duration::days(66)).await;
    clock.tick(now + Duration::days(81)).await;
    let sql = format!(
        "SELECT COUNT(*) FROM tasks WHERE source = 'contract_renewals' AND assignee_user_id = {}",
        lit(&db, manager.user_id.unwrap())
    );
    db.assert_counts(&[(tasks, 4), (sql.as_str(), 3)]).await;
    // Each task was notified.
    db.assert_counts(&[(
        "SELECT COUNT(*) FROM notifications WHERE kind = 'contract.renewal_due'",
        4,
    )])
    .await;
    // A contract first seen 20 days before its end gets the step it is in, not the missed ones;
    // one without an account manager goes to the office.
    let d = signed(&db, &actor, late, b, 0, 102).await;
    clock.tick(now + Duration::days(83)).await;
    let rows: Vec<(String, Option<String>)> = db
        .rows(&format!(
            "SELECT kind, assignee_role FROM tasks WHERE subject_id = {}",
            lit(&db, d.id)
        ))
        .await;
    assert_eq!(
        rows,
        [("renewal_quote".to_owned(), Some("rental_office".to_owned()))]
    );
}

async fn frozen_customers_get_reminders_once_unfrozen(db: TestDb) {
    let actor = add_user(&db, "office", Role::RentalOffice).await;
    let frozen = add_customer(&db, "Slow Payer", None, Some("overdue invoices")).await;
    let a = add_asset(&db, "F-1", None).await;
    let c = signed(&db, &actor, frozen, a, 0, 70).await;
    let now = Utc::now();
    let clock = Scheduler::new(db.store.clone(), "test").with_rule(RenewalsRule);
    clock.tick(now).await;
    clock.tick(now + Duration::days(1)).await;
    let tasks = "SELECT COUNT(*) FROM tasks WHERE source = 'contract_renewals'";
    db.assert_counts(&[(tasks, 0)]).await;
    // Unfrozen, the next midnight raises the step the contract is in (69 days left: the plan).
    db.execute(&format!(
        "UPDATE customers SET renewals_frozen_at = NULL, renewals_frozen_reason = NULL \
         WHERE id = {}",
        lit(&db, frozen)
    ))
    .await;
    clock.tick(now + Duration::days(2)).await;
    let rows: Vec<(String, String)> = db
        .rows("SELECT kind, dedupe_key FROM tasks WHERE source = 'contract_renewals'")
        .await;
    assert_eq!(
        rows,
        [("renewal_plan".to_owned(), renewals::reminder_key(c.id, 90))]
    );
}
