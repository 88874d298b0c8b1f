//! The office's follow-up rules on the clock, on SQLite and PostgreSQL, driven with explicit
//! `now` values: a stale lead raises one task per staleness episode for its account manager (or
//! the office), a delivery to a customer's site one revisit, a high-value customer one visit a
//! quarter; each task notifies its assignee, and a tick covering days of downtime creates each
//! task once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{DateTime, Duration, NaiveTime, SubsecRound, Utc};
use domain::customers::{self, follow_ups, rules};
use domain::scans::{self, Policy};
use domain::schedule::Scheduler;
use domain::testing::TestDb;
use domain::{assets, sites, users, Actor};
use mobile_shared::customers::{
    CustomerKind, CustomerStatus, FollowUpChannel, NewCustomer, NewFollowUp,
};
use mobile_shared::scan::{CommandStatus, FieldAction, FieldCommand};
use mobile_shared::wire::{AuditSource, NewAsset, NewSite, NewUser, SiteKind};
use mobile_shared::Role;
use uuid::Uuid;

domain::backend_matrix!(
    TestDb:
    a_stale_lead_raises_one_task_per_episode,
    a_delivery_to_a_customer_site_raises_one_revisit_after_downtime_too,
    high_value_customers_get_one_visit_a_quarter,
);

async fn user(db: &TestDb, name: &str, role: Role) -> Actor {
    let new = NewUser {
        username: name.into(),
        password: "long-enough-pw".into(),
        role,
        email: None,
    };
    let user = users::create(&db.store, &Actor::system(), new)
        .await
        .unwrap();
    Actor::user(user.id, name, role, AuditSource::Api)
}

async fn customer(db: &TestDb, name: &str, manager: Option<Uuid>, status: CustomerStatus) -> Uuid {
    let new = NewCustomer {
        legal_name: name.into(),
        kind: CustomerKind::Company,
        industry: None,
        region: None,
        source: None,
        account_manager_id: manager,
        status: Some(status),
        currency: "EUR".into(),
        credit_limit_cents: None,
        payment_terms_days: None,
        tags: vec![],
        notes: None,
    };
    customers::create(&db.store, &Actor::system(), new)
        .await
        .unwrap()
        .id
}

/// (title, assignee user, assignee role, due) of a quarterly visit.
type QuarterlyTask = (String, Option<Uuid>, Option<String>, DateTime<Utc>);

fn clock(db: &TestDb) -> Scheduler {
    rules::register(Scheduler::new(db.store.clone(), "test"))
}

/// (kind, title, assignee user, assignee role) of every task, in creation order.
async fn tasks(db: &TestDb) -> Vec<(String, String, Option<Uuid>, Option<String>)> {
    db.rows("SELECT kind, title, assignee_user_id, assignee_role FROM tasks ORDER BY id")
        .await
}

async fn a_stale_lead_raises_one_task_per_episode(db: TestDb) {
    let start = Utc::now();
    let sam = user(&db, "sam", Role::Sales).await;
    let clock = clock(&db);
    clock.tick(start - Duration::hours(1)).await;
    let lead = customer(&db, "Lead Ltd", sam.user_id, CustomerStatus::Lead).await;
    customer(&db, "Orphan Lead", None, CustomerStatus::Lead).await;
    customer(&db, "Active Co", sam.user_id, CustomerStatus::Active).await;

    // Not stale yet two days on.
    clock.tick(start + Duration::days(2)).await;
    assert!(tasks(&db).await.is_empty());
    // Three days without a follow-up: one task each, to the manager or the office.
    let report = clock
        .tick(start + Duration::days(3) + Duration::minutes(1))
        .await;
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let raised = tasks(&db).await;
    assert_eq!(
        raised,
        [
            (
                rules::STALE_LEAD_KIND.to_owned(),
                "Stale lead: Lead Ltd".to_owned(),
                sam.user_id,
                None
            ),
            (
                rules::STALE_LEAD_KIND.to_owned(),
                "Stale lead: Orphan Lead".to_owned(),
                None,
                Some("rental_office".to_owned())
            ),
        ]
    );
    // Ticking on creates nothing more for the same episode.
    clock.tick(start + Duration::days(5)).await;
    assert_eq!(tasks(&db).await.len(), 2);

    // A follow-up starts a new episode (the clock here runs days ahead of the follow-up's
    // time, so the episode is stale at the next tick): one more task, once.
    follow_ups::create(
        &db.store,
        &sam,
        lead,
        NewFollowUp {
            at: None,
            channel: FollowUpChannel::Phone,
            outcome: "Interested, call back".into(),
            next_step: None,
            next_step_on: None,
        },
    )
    .await
    .unwrap();
    clock
        .tick(start + Duration::days(5) + Duration::minutes(1))
        .await;
    clock.tick(start + Duration::days(9)).await;
    let raised = tasks(&db).await;
    assert_eq!(raised.len(), 3, "{raised:?}");
    assert_eq!(raised[2].1, "Stale lead: Lead Ltd");
    db.assert_counts(&[
        (
            "SELECT COUNT(*) FROM notifications WHERE kind = 'customer.stale_lead'",
            3,
        ),
        (
            "SELECT COUNT(*) FROM tasks WHERE source = 'customer_stale_leads' AND automated",
            3,
        ),
    ])
    .await;
}

async fn a_delivery_to_a_customer_site_raises_one_revisit_after_downtime_too(db: TestDb) {
    let start = Utc::now();
    let sam = user(&db, "sam", Role::Sales).await;
    let tech = user(&db, "tess", Role::Technician).await;
    let clock = clock(&db);
    // The clock last ran three days ago; the process was down since.
    clock.tick(start - Duration::days(3)).await;
    let owner = customer(&db, "Owner", sam.user_id, CustomerStatus::Active).await;
    let site = |name: &str, customer_id| NewSite {
        name: name.into(),
        kind: SiteKind::CustomerSite,
        customer_id,
        address: None,
        location: None,
        geofence: None,
    };
    let theirs = sites::create(&db.store, &Actor::system(), site("Their yard", Some(owner)))
        .await
        .unwrap()
        .id;
    let anonymous = sites::create(&db.store, &Actor::system(), site("Some yard", None))
        .await
        .unwrap()
        .id;
    let mut delivered_at = Vec::new();
    for (code, to) in [("REV-1", theirs), ("REV-2", anonymous), ("REV-3", theirs)] {
        let asset = assets::create(
            &db.store,
            &Actor::system(),
            NewAsset {
                code: code.into(),
                name: code.into(),
                ..NewAsset::default()
            },
        )
        .await
        .unwrap()
        .id;
        // Whole milliseconds: what both databases store exactly.
        let mut c = FieldCommand::new(
            FieldAction::Deliver,
            None,
            (Utc::now() - Duration::minutes(10)).trunc_subsecs(3),
        );
        c.asset_id = Some(asset);
        c.site_id = Some(to);
        let r = scans::apply(&db.store, &Policy::default(), &tech, &c, None, vec![])
            .await
            .unwrap();
        assert_eq!(r.status, CommandStatus::Applied, "{r:?}");
        delivered_at.push(c.device_time);
    }
    // One tick catches up three days in daily windows: each delivery to the customer's site
    // gets its revisit once, due a week after the delivery.
    let report = clock.tick(Utc::now() + Duration::minutes(1)).await;
    let windows = report
        .runs
        .iter()
        .filter(|r| r.rule == "customer_delivery_revisits")
        .count();
    assert!(windows >= 3, "{:?}", report.runs);
    let due: Vec<(String, Option<Uuid>, DateTime<Utc>)> = db
        .rows("SELECT title, assignee_user_id, due_at FROM tasks ORDER BY due_at")
        .await;
    assert_eq!(
        due,
        [
            (
                "Revisit Owner at Their yard".to_owned(),
                sam.user_id,
                delivered_at[0] + rules::REVISIT_AFTER
            ),
            (
                "Revisit Owner at Their yard".to_owned(),
                sam.user_id,
                delivered_at[2] + rules::REVISIT_AFTER
            ),
        ]
    );
    clock.tick(Utc::now() + Duration::days(8)).await;
    db.assert_counts(&[
        ("SELECT COUNT(*) FROM tasks", 2),
        (
            "SELECT COUNT(*) FROM notifications WHERE kind = 'customer.revisit'",
            2,
        ),
    ])
    .await;
}

async fn high_value_customers_get_one_visit_a_quarter(db: TestDb) {
    let start = Utc::now();
    let sam = user(&db, "sam", Role::Sales).await;
    let clock = clock(&db);
    clock.tick(start).await;
    customer(&db, "Champ", sam.user_id, CustomerStatus::Active).await;
    customer(&db, "Faithful", None, CustomerStatus::Active).await;
    customer(&db, "Sleepy", sam.user_id, CustomerStatus::Active).await;
    customer(&db, "Gone", sam.user_id, CustomerStatus::Active).await;
    for (name, tier) in [
        ("Champ", "champion"),
        ("Faithful", "loyal"),
        ("Sleepy", "hibernating"),
        ("Gone", "champion"),
    ] {
        db.execute(&format!(
            "UPDATE customers SET value_tier = '{tier}' WHERE legal_name = '{name}'"
        ))
        .await;
    }
    db.execute("UPDATE customers SET status = 'churned' WHERE legal_name = 'Gone'")
        .await;
    clock.tick(start + Duration::minutes(1)).await;
    clock.tick(start + Duration::minutes(2)).await;
    let (_, next_quarter) = rules::quarter_of(start);
    let quarter_end = next_quarter.and_time(NaiveTime::MIN).and_utc();
    let raised: Vec<QuarterlyTask> = db
        .rows("SELECT title, assignee_user_id, assignee_role, due_at FROM tasks ORDER BY title")
        .await;
    assert_eq!(raised.len(), 2, "{raised:?}");
    assert!(
        raised[0].0.starts_with("Quarterly visit: Champ"),
        "{raised:?}"
    );
    assert_eq!((raised[0].1, raised[0].3), (sam.user_id, quarter_end));
    assert!(raised[1].0.starts_with("Quarterly visit: Faithful"));
    assert_eq!(raised[1].2.as_deref(), Some("rental_office"));

    // Down until a day into the next quarter: one catch-up tick gives each the next quarter's
    // visit, once.
    clock.tick(quarter_end + Duration::days(1)).await;
    clock
        .tick(quarter_end + Duration::days(1) + Duration::minutes(1))
        .await;
    db.assert_counts(&[
        ("SELECT COUNT(*) FROM tasks", 4),
        (
            "SELECT COUNT(*) FROM notifications WHERE kind = 'customer.quarterly_revisit'",
            4,
        ),
    ])
    .await;
}
