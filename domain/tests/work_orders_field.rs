//! Work orders from the field: `start_work` / `complete_work` scans (exactly once, the order
//! picked or refused with the choices), parts and photos on orders (validated, 422 naming the
//! field), and the order a failed return inspection opens or joins. Runs on SQLite and
//! PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{Duration, Utc};
use domain::maintenance::{orders, plans};
use domain::photos::{self, FsBlobStore};
use domain::scans::{self, Policy};
use domain::testing::{assert_conflict, TestDb};
use domain::{assets, sites, users, Actor, DomainError};
use mobile_shared::maintenance::{
    CompleteWorkOrder, Interval, Metric, NewPlan, NewWorkOrder, WorkOrder, WorkOrderPart,
    WorkOrderPatch, WorkOrderState,
};
use mobile_shared::scan::{CommandResult, CommandStatus, Condition, FieldAction, FieldCommand};
use mobile_shared::wire::{AuditSource, NewAsset, NewSite, NewUser, SiteKind};
use mobile_shared::{AssetStatus, ErrorCode, Money, Role};
use uuid::Uuid;

domain::backend_matrix!(
    TestDb:
    a_technician_starts_and_completes_an_order_by_scanning_exactly_once,
    without_a_single_active_order_the_scan_is_refused_with_the_choices,
    parts_and_photos_are_validated_and_kept,
    a_failed_return_opens_a_linked_order_once_and_completing_it_frees_the_asset,
    a_failed_return_joins_an_active_repair_order_instead_of_opening_another,
);

/// A real user behind the actor: tasks record who closed them.
async fn technician(db: &TestDb) -> Actor {
    let new = NewUser {
        username: format!("tech-{}", &Uuid::now_v7().simple().to_string()[20..]),
        password: "correct horse battery".into(),
        role: Role::Technician,
        email: None,
    };
    let user = users::create(&db.store, &Actor::system(), new)
        .await
        .unwrap();
    Actor::user(user.id, user.username, Role::Technician, AuditSource::Api)
}

async fn machine(db: &TestDb, code: &str) -> Uuid {
    let new = NewAsset {
        code: code.into(),
        name: format!("Machine {code}"),
        engine_hours: Some(240.0),
        ..NewAsset::default()
    };
    assets::create(&db.store, &Actor::system(), new)
        .await
        .unwrap()
        .id
}

async fn site(db: &TestDb, name: &str, kind: SiteKind) -> Uuid {
    let new = NewSite {
        name: name.into(),
        kind,
        customer_id: None,
        address: None,
        location: None,
        geofence: None,
    };
    sites::create(&db.store, &Actor::system(), new)
        .await
        .unwrap()
        .id
}

async fn manual_order(db: &TestDb, asset_id: Uuid, title: &str) -> WorkOrder {
    let new = NewWorkOrder {
        asset_id,
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

fn cmd(action: FieldAction, asset_id: Uuid) -> FieldCommand {
    let mut c = FieldCommand::new(action, None, Utc::now() - Duration::seconds(5));
    c.asset_id = Some(asset_id);
    c
}

async fn scan(db: &TestDb, actor: &Actor, c: &FieldCommand) -> CommandResult {
    scans::apply(&db.store, &Policy::default(), actor, c, None, vec![])
        .await
        .unwrap()
}

fn refused(r: &CommandResult, code: ErrorCode) {
    assert_eq!(r.status, CommandStatus::Rejected, "{r:?}");
    assert_eq!(r.error.as_ref().unwrap().error, code, "{r:?}");
}

/// Uploads a photo (real bytes into a real blob store) and returns its key.
async fn photo(db: &TestDb, dir: &std::path::Path, bytes: &[u8]) -> String {
    let blobs = FsBlobStore::new(dir);
    photos::store(
        &db.store,
        &blobs,
        &Actor::system(),
        bytes.to_vec(),
        "image/png",
    )
    .await
    .unwrap()
    .sha256
}

async fn status(db: &TestDb, id: Uuid) -> AssetStatus {
    assets::get(&db.store, id).await.unwrap().status
}

async fn a_technician_starts_and_completes_an_order_by_scanning_exactly_once(db: TestDb) {
    let tech = technician(&db).await;
    let a = machine(&db, "WO-1").await;
    let plan = plans::create(
        &db.store,
        &Actor::system(),
        NewPlan {
            name: "250 h service".into(),
            category_id: None,
            asset_id: Some(a),
            intervals: vec![Interval {
                metric: Metric::EngineHours,
                every: 250,
            }],
            lead_days: None,
            lead_hours: None,
            anchor: None,
            services: None,
            starts_on: None,
        },
    )
    .await
    .unwrap();
    let order = orders::create(
        &db.store,
        &Actor::system(),
        NewWorkOrder {
            asset_id: a,
            title: "250 h service".into(),
            plan_id: Some(plan.id),
            assignee: None,
            due_at: None,
            checklist: vec![],
            notes: None,
        },
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let before_photo = photo(&db, dir.path(), b"oil leak, before").await;

    // Start by scanning the asset: the order is the asset's only active one.
    let mut start = cmd(FieldAction::StartWork, a);
    start.photos = vec![before_photo.clone()];
    let r = scan(&db, &tech, &start).await;
    assert_eq!(r.status, CommandStatus::Applied, "{r:?}");
    let wo = r.work_order.clone().unwrap();
    assert_eq!(wo.id, order.id);
    assert_eq!(wo.state, WorkOrderState::InProgress);
    assert!(wo.started_at.is_some());
    assert_eq!(wo.photos, vec![before_photo.clone()]);
    assert_eq!(r.asset.as_ref().unwrap().status, AssetStatus::InMaintenance);
    assert_eq!(status(&db, a).await, AssetStatus::InMaintenance);

    // A replay answers the original result and changes nothing.
    let version = orders::get(&db.store, order.id).await.unwrap().version;
    let again = scan(&db, &tech, &start).await;
    assert_eq!(again.status, CommandStatus::Duplicate);
    assert_eq!(again.work_order.as_ref().unwrap().id, order.id);
    assert_eq!(
        orders::get(&db.store, order.id).await.unwrap().version,
        version
    );

    // Complete with the meter, notes and a photo: the service is recorded under the plan.
    let after_photo = photo(&db, dir.path(), b"oil leak, fixed").await;
    let mut done = cmd(FieldAction::CompleteWork, a);
    done.engine_hours = Some(251.5);
    done.notes = Some("Replaced the seal.".into());
    done.photos = vec![after_photo.clone()];
    let r = scan(&db, &tech, &done).await;
    assert_eq!(r.status, CommandStatus::Applied, "{r:?}");
    let wo = r.work_order.clone().unwrap();
    assert_eq!(wo.state, WorkOrderState::Done);
    assert_eq!(wo.engine_hours, Some(251.5));
    assert_eq!(wo.notes.as_deref(), Some("Replaced the seal."));
    assert_eq!(wo.photos, vec![before_photo, after_photo]);
    assert_eq!(
        wo.occurrence,
        Some(1),
        "the plan is re-anchored at its first service"
    );
    assert_eq!(r.asset.as_ref().unwrap().status, AssetStatus::Available);
    assert_eq!(r.asset.as_ref().unwrap().engine_hours, Some(251.5));
    let history: i64 = db
        .count("SELECT COUNT(*) FROM maintenance_history WHERE occurrence = 1")
        .await;
    assert_eq!(history, 1);

    // Completing again under a new command id: the order is closed, the API's typed 409.
    let mut twice = cmd(FieldAction::CompleteWork, a);
    twice.work_order_id = Some(order.id);
    let r = scan(&db, &tech, &twice).await;
    refused(&r, ErrorCode::WorkOrderClosed);
    assert_eq!(
        r.error.as_ref().unwrap().detail.as_ref().unwrap()["state"],
        "done"
    );
    // Without the id there is no active order left.
    let r = scan(&db, &tech, &cmd(FieldAction::CompleteWork, a)).await;
    refused(&r, ErrorCode::NoActiveWorkOrder);
    assert_eq!(
        db.count("SELECT COUNT(*) FROM maintenance_history WHERE occurrence = 1")
            .await,
        1
    );
    assert_eq!(
        db.count("SELECT COUNT(*) FROM tasks WHERE state = 'done'")
            .await,
        1
    );
}

async fn without_a_single_active_order_the_scan_is_refused_with_the_choices(db: TestDb) {
    let tech = technician(&db).await;
    let a = machine(&db, "WO-2").await;
    let other = machine(&db, "WO-3").await;

    let r = scan(&db, &tech, &cmd(FieldAction::StartWork, a)).await;
    refused(&r, ErrorCode::NoActiveWorkOrder);
    let detail = r.error.as_ref().unwrap().detail.clone().unwrap();
    assert_eq!(detail["work_order_ids"], serde_json::json!([]));

    let first = manual_order(&db, a, "Hydraulic leak").await;
    let second = manual_order(&db, a, "Broken mirror").await;
    let r = scan(&db, &tech, &cmd(FieldAction::StartWork, a)).await;
    refused(&r, ErrorCode::AmbiguousWorkOrder);
    let detail = r.error.as_ref().unwrap().detail.clone().unwrap();
    assert_eq!(
        detail["work_order_ids"],
        serde_json::json!([first.id, second.id])
    );
    // A refusal writes nothing but its record.
    assert_eq!(status(&db, a).await, AssetStatus::Available);
    assert_eq!(
        db.count("SELECT COUNT(*) FROM work_orders WHERE state = 'in_progress'")
            .await,
        0
    );

    // An order of another asset is named as the bad field.
    let foreign = manual_order(&db, other, "Flat tyre").await;
    let mut wrong = cmd(FieldAction::StartWork, a);
    wrong.work_order_id = Some(foreign.id);
    let r = scan(&db, &tech, &wrong).await;
    refused(&r, ErrorCode::ValidationFailed);
    assert!(r
        .error
        .as_ref()
        .unwrap()
        .fields
        .as_ref()
        .unwrap()
        .contains_key("work_order_id"));
    // work_order_id on another action is refused too.
    let mut lookup = cmd(FieldAction::Lookup, a);
    lookup.work_order_id = Some(first.id);
    refused(
        &scan(&db, &tech, &lookup).await,
        ErrorCode::ValidationFailed,
    );

    // Naming one picks it.
    let mut pick = cmd(FieldAction::StartWork, a);
    pick.work_order_id = Some(second.id);
    let r = scan(&db, &tech, &pick).await;
    assert_eq!(r.status, CommandStatus::Applied, "{r:?}");
    assert_eq!(r.work_order.unwrap().id, second.id);
    assert_eq!(
        orders::get(&db.store, first.id).await.unwrap().state,
        WorkOrderState::Open
    );
    assert_eq!(status(&db, a).await, AssetStatus::InMaintenance);
}

fn part(description: &str, quantity: u32, cost: Option<(i64, &str)>) -> WorkOrderPart {
    WorkOrderPart {
        part_no: Some(" HF-6553 ".into()),
        description: description.into(),
        quantity,
        unit_cost: cost.map(|(amount_minor, currency)| Money {
            amount_minor,
            currency: currency.into(),
        }),
    }
}

fn fields(e: DomainError) -> Vec<String> {
    match e {
        DomainError::Validation(f) => f.into_keys().collect(),
        other => panic!("expected a validation error, got {other:?}"),
    }
}

async fn parts_and_photos_are_validated_and_kept(db: TestDb) {
    let admin = technician(&db).await;
    let a = machine(&db, "WO-4").await;
    let order = manual_order(&db, a, "Replace filters").await;
    let dir = tempfile::tempdir().unwrap();
    let shot = photo(&db, dir.path(), b"filters").await;
    let unknown = "ab".repeat(32);

    let bad = WorkOrderPatch {
        version: order.version,
        parts: Some(vec![
            part("Hydraulic filter", 2, Some((1999, "EUR"))),
            part("  ", 0, Some((-1, "eur"))),
            part("Grease", 100_001, None),
        ]),
        photos: Some(vec![shot.clone(), unknown.clone(), "not-a-hash".into()]),
        ..WorkOrderPatch::default()
    };
    let e = orders::update(&db.store, &admin, order.id, bad)
        .await
        .unwrap_err();
    assert_eq!(
        fields(e),
        [
            "parts[1].description",
            "parts[1].quantity",
            "parts[1].unit_cost.amount_minor",
            "parts[1].unit_cost.currency",
            "parts[2].quantity",
            "photos[1]",
            "photos[2]",
        ]
    );
    let unchanged = orders::get(&db.store, order.id).await.unwrap();
    assert!(unchanged.parts.is_empty() && unchanged.photos.is_empty());

    let good = WorkOrderPatch {
        version: order.version,
        parts: Some(vec![part("Hydraulic filter", 2, Some((1999, "EUR")))]),
        photos: Some(vec![shot.clone(), shot.clone()]),
        ..WorkOrderPatch::default()
    };
    let after = orders::update(&db.store, &admin, order.id, good)
        .await
        .unwrap();
    assert_eq!(after.parts.len(), 1);
    assert_eq!(
        after.parts[0].part_no.as_deref(),
        Some("HF-6553"),
        "trimmed"
    );
    assert_eq!(
        after.parts[0].unit_cost.as_ref().unwrap().amount_minor,
        1999
    );
    assert_eq!(after.photos, vec![shot.clone()], "each photo once");
    // Read back from the database, not just echoed.
    assert_eq!(orders::get(&db.store, order.id).await.unwrap(), after);

    // Completing: an unknown photo names its index; parts replace, photos add.
    let e = orders::complete(
        &db.store,
        &admin,
        order.id,
        CompleteWorkOrder {
            photos: vec![unknown],
            ..CompleteWorkOrder::default()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(fields(e), ["photos[0]"]);
    let second = photo(&db, dir.path(), b"done").await;
    let done = orders::complete(
        &db.store,
        &admin,
        order.id,
        CompleteWorkOrder {
            parts: Some(vec![
                part("Hydraulic filter", 2, Some((1999, "EUR"))),
                part("Grease cartridge", 1, None),
            ]),
            photos: vec![second.clone()],
            ..CompleteWorkOrder::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(done.state, WorkOrderState::Done);
    assert_eq!(done.parts.len(), 2);
    assert_eq!(done.photos, vec![shot, second]);
}

async fn a_failed_return_opens_a_linked_order_once_and_completing_it_frees_the_asset(db: TestDb) {
    let tech = technician(&db).await;
    let a = machine(&db, "WO-5").await;
    let customer = site(&db, "Building site", SiteKind::CustomerSite).await;
    let depot = site(&db, "Main depot", SiteKind::Depot).await;
    let dir = tempfile::tempdir().unwrap();
    let dent = photo(&db, dir.path(), b"dented bucket").await;

    let mut deliver = cmd(FieldAction::Deliver, a);
    deliver.site_id = Some(customer);
    deliver.device_time = Utc::now() - Duration::minutes(10);
    assert_eq!(
        scan(&db, &tech, &deliver).await.status,
        CommandStatus::Applied
    );
    // A good return opens nothing.
    assert_eq!(db.count("SELECT COUNT(*) FROM work_orders").await, 0);

    let mut ret = cmd(FieldAction::Return, a);
    ret.site_id = Some(depot);
    ret.condition = Some(Condition::Damaged);
    ret.notes = Some("Bucket teeth bent.".into());
    ret.photos = vec![dent.clone()];
    let r = scan(&db, &tech, &ret).await;
    assert_eq!(r.status, CommandStatus::Applied, "{r:?}");
    assert_eq!(r.asset.as_ref().unwrap().status, AssetStatus::InMaintenance);
    let wo = r.work_order.clone().unwrap();
    assert_eq!(wo.title, "Failed return inspection: damaged");
    assert_eq!(wo.plan_id, None);
    assert!(!wo.automatic);
    assert_eq!(wo.state, WorkOrderState::Open);
    assert_eq!(wo.scan_event_id, Some(ret.id));
    assert_eq!(wo.notes.as_deref(), Some("Bucket teeth bent."));
    assert_eq!(wo.photos, vec![dent]);
    assert!(wo.started_at.is_some(), "downtime starts with the return");
    assert!(wo.task_id.is_some());
    assert_eq!(orders::get(&db.store, wo.id).await.unwrap(), wo);

    // Exactly once with the scan.
    let again = scan(&db, &tech, &ret).await;
    assert_eq!(again.status, CommandStatus::Duplicate);
    assert_eq!(again.work_order.unwrap().id, wo.id);
    assert_eq!(db.count("SELECT COUNT(*) FROM work_orders").await, 1);

    // Completing the order puts the asset back to available, not back on rent.
    let done = orders::complete(&db.store, &tech, wo.id, CompleteWorkOrder::default())
        .await
        .unwrap();
    assert_eq!(done.state, WorkOrderState::Done);
    assert_eq!(status(&db, a).await, AssetStatus::Available);

    // A failed inspection without a condition grade has the plain title.
    let mut deliver = cmd(FieldAction::Deliver, a);
    deliver.site_id = Some(customer);
    assert_eq!(
        scan(&db, &tech, &deliver).await.status,
        CommandStatus::Applied
    );
    let mut ret = cmd(FieldAction::Return, a);
    ret.site_id = Some(depot);
    ret.inspection_passed = Some(false);
    let r = scan(&db, &tech, &ret).await;
    assert_eq!(r.work_order.unwrap().title, "Failed return inspection");
    assert_eq!(db.count("SELECT COUNT(*) FROM work_orders").await, 2);
}

async fn a_failed_return_joins_an_active_repair_order_instead_of_opening_another(db: TestDb) {
    let tech = technician(&db).await;
    let a = machine(&db, "WO-6").await;
    let customer = site(&db, "Building site", SiteKind::CustomerSite).await;
    let depot = site(&db, "Main depot", SiteKind::Depot).await;
    let mut deliver = cmd(FieldAction::Deliver, a);
    deliver.site_id = Some(customer);
    deliver.device_time = Utc::now() - Duration::minutes(10);
    scan(&db, &tech, &deliver).await;
    // The customer phoned in a breakdown while on rent: an order exists already.
    let breakdown = manual_order(&db, a, "Customer reports hydraulic leak").await;

    let mut ret = cmd(FieldAction::Return, a);
    ret.site_id = Some(depot);
    ret.inspection_passed = Some(false);
    ret.notes = Some("Leak confirmed.".into());
    let r = scan(&db, &tech, &ret).await;
    let wo = r.work_order.unwrap();
    assert_eq!(wo.id, breakdown.id, "joined, not a second order");
    assert_eq!(wo.scan_event_id, Some(ret.id));
    assert_eq!(wo.notes.as_deref(), Some("Leak confirmed."));
    assert_eq!(db.count("SELECT COUNT(*) FROM work_orders").await, 1);

    // The joined order now frees the asset when it is done.
    orders::complete(&db.store, &tech, wo.id, CompleteWorkOrder::default())
        .await
        .unwrap();
    assert_eq!(status(&db, a).await, AssetStatus::Available);
    let e = orders::complete(&db.store, &tech, wo.id, CompleteWorkOrder::default())
        .await
        .unwrap_err();
    assert_conflict(&e, ErrorCode::WorkOrderClosed, "completed twice");
}
