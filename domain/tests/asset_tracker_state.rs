//! The tracker state kept on the asset row (migration 0018: `tracker_id`, `tracker_seen_at`,
//! `tracker_offline_cause`, `fence_exit_at`, `fence_exit_site_id`), which the alert lists read
//! instead of the asset's devices: each path that changes a device keeps it equal to what the
//! devices say (ingest, the status topic, the silence watch, registration, unbinding when the
//! asset is deleted), and the migration backfills it. Runs on SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use domain::alerts::{self, AlertPageRequest};
use domain::events::EventBus;
use domain::telemetry::{IngestOptions, Ingestor, Message, MessageKind};
use domain::testing::TestDb;
use domain::{assets, sites, Actor, Backend};
use mobile_shared::telemetry::{DeviceStatus, Reading};
use mobile_shared::wire::{Geofence, LatLon, NewAsset, NewSite, SiteKind};
use uuid::Uuid;

const DEPOT: (f64, f64) = (48.0, 11.0);
const OUTSIDE: (f64, f64) = (48.05, 11.0);

type TrackerState = (Option<Uuid>, Option<DateTime<Utc>>, Option<String>);

/// What the asset rows hold.
async fn kept(db: &TestDb) -> BTreeMap<Uuid, TrackerState> {
    db.rows::<(Uuid, Option<Uuid>, Option<DateTime<Utc>>, Option<String>)>(
        "SELECT id, tracker_id, tracker_seen_at, tracker_offline_cause FROM assets",
    )
    .await
    .into_iter()
    .map(|(id, t, seen, cause)| (id, (t, seen, cause)))
    .collect()
}

/// What the devices say: each asset's most recently seen bound device (never-seen last, ties
/// to the larger id), as the alerts computed it before migration 0018.
async fn truth(db: &TestDb) -> BTreeMap<Uuid, TrackerState> {
    let pick = |col: &str| {
        format!(
            "(SELECT d.{col} FROM devices d WHERE d.asset_id = a.id \
             ORDER BY d.last_seen_at DESC NULLS LAST, d.id DESC LIMIT 1)"
        )
    };
    let sql = format!(
        "SELECT a.id, {}, {}, {} FROM assets a",
        pick("id"),
        pick("last_seen_at"),
        pick("offline_cause")
    );
    db.rows::<(Uuid, Option<Uuid>, Option<DateTime<Utc>>, Option<String>)>(&sql)
        .await
        .into_iter()
        .map(|(id, t, seen, cause)| (id, (t, seen, cause)))
        .collect()
}

async fn assert_consistent(db: &TestDb, step: &str) {
    assert_eq!(kept(db).await, truth(db).await, "after {step}");
}

async fn state_of(db: &TestDb, asset: Uuid) -> TrackerState {
    kept(db).await.remove(&asset).expect("the asset")
}

async fn device_uuid(db: &TestDb, device_id: &str) -> Uuid {
    db.scalar(&format!(
        "SELECT id FROM devices WHERE device_id = '{device_id}'"
    ))
    .await
}

async fn asset(db: &TestDb, code: &str, site: Uuid) -> Uuid {
    let new = NewAsset {
        code: code.into(),
        name: format!("Machine {code}"),
        site_id: Some(site),
        ..NewAsset::default()
    };
    assets::create(&db.store, &Actor::system(), new)
        .await
        .unwrap()
        .id
}

fn reading(device: &str, ts: DateTime<Utc>, at: (f64, f64)) -> Message {
    let mut r = Reading::at(ts);
    r.lat = Some(at.0);
    r.lon = Some(at.1);
    Message {
        topic: format!("fieldops/v1/{device}/telemetry"),
        received_at: ts,
        kind: MessageKind::Readings {
            device_id: device.into(),
            readings: vec![r],
        },
    }
}

fn status(device: &str, at: DateTime<Utc>, status: DeviceStatus) -> Message {
    Message {
        topic: format!("fieldops/v1/{device}/status"),
        received_at: at,
        kind: MessageKind::Status {
            device_id: device.into(),
            status,
        },
    }
}

async fn every_path_keeps_the_asset_tracker_state(db: TestDb) {
    let center = LatLon {
        lat: DEPOT.0,
        lon: DEPOT.1,
    };
    let depot = sites::create(
        &db.store,
        &Actor::system(),
        NewSite {
            name: "Depot".into(),
            kind: SiteKind::Depot,
            customer_id: None,
            address: None,
            location: Some(center),
            geofence: Some(Geofence::Circle {
                center,
                radius_m: 500.0,
            }),
        },
    )
    .await
    .unwrap()
    .id;
    let a = asset(&db, "A", depot).await;
    let b = asset(&db, "B", depot).await;
    let c = asset(&db, "C", depot).await;

    // Registration: never-seen trackers, the later (larger id) first; none for C.
    db.add_device("ta1", Some(a)).await;
    db.add_device("ta2", Some(a)).await;
    db.add_device("tb", Some(b)).await;
    let (ta1, ta2, tb) = (
        device_uuid(&db, "ta1").await,
        device_uuid(&db, "ta2").await,
        device_uuid(&db, "tb").await,
    );
    assert_consistent(&db, "registration").await;
    assert_eq!(state_of(&db, a).await, (Some(ta2), None, None));
    assert_eq!(state_of(&db, c).await, (None, None, None));

    // Ingest: the tracker that reports becomes the asset's, online.
    let ingestor = Ingestor::new(
        db.store.clone(),
        EventBus::new(64),
        IngestOptions::default(),
    );
    let now = domain::clock::now();
    let t1 = now - Duration::minutes(50);
    ingestor
        .ingest(&[reading("ta1", t1, DEPOT), reading("tb", t1, DEPOT)])
        .await
        .unwrap();
    assert_consistent(&db, "ta1's first reading").await;
    assert_eq!(state_of(&db, a).await.0, Some(ta1));
    let t2 = now - Duration::minutes(40);
    ingestor.ingest(&[reading("ta2", t2, DEPOT)]).await.unwrap();
    assert_consistent(&db, "ta2's reading").await;
    assert_eq!(state_of(&db, a).await.0, Some(ta2));
    // A reading received earlier than the current tracker's last contact changes nothing.
    ingestor
        .ingest(&[reading("ta1", t1 + Duration::minutes(1), DEPOT)])
        .await
        .unwrap();
    assert_consistent(&db, "ta1's late reading").await;
    assert_eq!(state_of(&db, a).await.0, Some(ta2));

    // The status topic: offline keeps the tracker and records why; online is a contact.
    let t3 = now - Duration::minutes(30);
    ingestor
        .ingest(&[status("ta2", t3, DeviceStatus::Offline)])
        .await
        .unwrap();
    assert_consistent(&db, "ta2 offline").await;
    assert_eq!(
        state_of(&db, a).await,
        (Some(ta2), Some(t2), Some("status".into()))
    );
    let stale = alerts::stale(
        &db.store,
        alerts::StaleThreshold::new(None, 24).unwrap(),
        &alerts::StaleFilter::default(),
        AlertPageRequest::new(None, None).unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(
        stale.items.iter().map(|s| s.asset_id).collect::<Vec<_>>(),
        [a]
    );
    let t4 = now - Duration::minutes(20);
    ingestor
        .ingest(&[status("ta1", t4, DeviceStatus::Online)])
        .await
        .unwrap();
    assert_consistent(&db, "ta1 online").await;
    assert_eq!(state_of(&db, a).await, (Some(ta1), Some(t4), None));

    // The silence watch.
    let silenced = ingestor.mark_silent(Duration::minutes(10)).await.unwrap();
    assert_eq!(silenced, 2, "ta1 and tb were online and quiet");
    assert_consistent(&db, "the silence watch").await;
    assert_eq!(state_of(&db, a).await.2.as_deref(), Some("silence"));
    assert_eq!(state_of(&db, b).await.2.as_deref(), Some("silence"));
    // A reading brings it back.
    ingestor
        .ingest(&[reading("tb", now - Duration::minutes(5), OUTSIDE)])
        .await
        .unwrap();
    assert_consistent(&db, "tb's reading after silence").await;
    assert_eq!(
        state_of(&db, b).await,
        (Some(tb), Some(now - Duration::minutes(5)), None)
    );

    // The fence exit is kept on the asset with its geofence event.
    let exit: (Option<DateTime<Utc>>, Option<Uuid>) = db
        .rows("SELECT fence_exit_at, fence_exit_site_id FROM assets WHERE code = 'B'")
        .await
        .remove(0);
    assert_eq!(exit, (Some(now - Duration::minutes(5)), Some(depot)));
    let off = alerts::off_site(&db.store, AlertPageRequest::new(None, None).unwrap())
        .await
        .unwrap();
    assert_eq!(off.items.len(), 1);
    assert_eq!(off.items[0].left_at, Some(now - Duration::minutes(5)));
    ingestor
        .ingest(&[reading("tb", now - Duration::minutes(4), DEPOT)])
        .await
        .unwrap();
    let exit_after: (Option<DateTime<Utc>>, Option<Uuid>) = db
        .rows("SELECT fence_exit_at, fence_exit_site_id FROM assets WHERE code = 'B'")
        .await
        .remove(0);
    assert_eq!(exit_after, exit, "entering keeps the last exit");

    // Registration next to a seen tracker: the seen one stays; on C the new one is it.
    db.add_device("tb2", Some(b)).await;
    db.add_device("tc", Some(c)).await;
    assert_consistent(&db, "registration next to a seen tracker").await;
    assert_eq!(state_of(&db, b).await.0, Some(tb));
    assert_eq!(state_of(&db, c).await.0, Some(device_uuid(&db, "tc").await));

    // Deleting an asset unbinds its trackers: no tracker left on it.
    assets::delete(&db.store, &Actor::system(), a)
        .await
        .unwrap();
    assert_consistent(&db, "deleting A").await;
    assert_eq!(state_of(&db, a).await, (None, None, None));
    // Its trackers report on, unbound: nothing on any asset changes.
    let before = kept(&db).await;
    ingestor
        .ingest(&[reading("ta1", now, DEPOT)])
        .await
        .unwrap();
    assert_eq!(kept(&db).await, before);
    assert_consistent(&db, "an unbound tracker's reading").await;
}

/// A hex literal of a UUID as each backend stores it.
fn uuid_lit(backend: Backend, id: Uuid) -> String {
    match backend {
        Backend::Sqlite => format!("X'{}'", id.simple()),
        Backend::Postgres => format!("'{id}'"),
    }
}

async fn the_migration_backfills_from_devices_and_fence_events(backend: Backend) {
    let Some(db) = TestDb::open_before(backend, 18).await else {
        return;
    };
    let u = |id| uuid_lit(backend, id);
    // Past the service: it writes columns of today (0020's `customer_id`) that a database
    // before 0018 does not have.
    let add_site = |name: &'static str| {
        let db = &db;
        async move {
            let id = Uuid::now_v7();
            db.execute(&format!(
                "INSERT INTO sites (id, name, kind, version, created_at, updated_at) VALUES \
                 ({}, '{name}', 'depot', 1, '2026-12-01T00:00:00+00:00', \
                 '2026-12-01T00:00:00+00:00')",
                uuid_lit(backend, id)
            ))
            .await;
            id
        }
    };
    let site = add_site("Depot").await;
    let other = add_site("Yard").await;
    let ids: Vec<Uuid> = (0..4).map(|_| Uuid::now_v7()).collect();
    for (i, id) in ids.iter().enumerate() {
        db.execute(&format!(
            "INSERT INTO assets (id, code, name, status, site_id, depreciation_method, version, \
             created_at, updated_at) VALUES ({}, 'M{i}', 'Machine {i}', 'available', {}, 'none', \
             1, '2026-12-01T00:00:00+00:00', '2026-12-01T00:00:00+00:00')",
            u(*id),
            u(site)
        ))
        .await;
    }
    let t = |h: u32| format!("'2026-12-01T{h:02}:00:00+00:00'");
    // (device, asset, last seen, online, offline cause)
    let d: Vec<Uuid> = (0..5).map(|_| Uuid::now_v7()).collect();
    let devices = [
        (d[0], ids[0], Some(t(1)), false, Some("'silence'")),
        (d[1], ids[0], Some(t(2)), true, None),
        (d[2], ids[1], None, false, None),
        (d[3], ids[2], Some(t(1)), false, Some("'status'")),
        (d[4], ids[2], None, false, None),
    ];
    let online = |b: bool| match (backend, b) {
        (Backend::Sqlite, b) => i32::from(b).to_string(),
        (Backend::Postgres, b) => b.to_string(),
    };
    for (i, (dev, asset, seen, on, cause)) in devices.iter().enumerate() {
        db.execute(&format!(
            "INSERT INTO devices (id, device_id, asset_id, mqtt_password_hash, last_seen_at, \
             online, offline_cause, created_at, updated_at) VALUES ({}, 'dev{i}', {}, 'x', {}, \
             {}, {}, '2026-12-01T00:00:00+00:00', '2026-12-01T00:00:00+00:00')",
            u(*dev),
            u(*asset),
            seen.clone().unwrap_or("NULL".into()),
            online(*on),
            cause.unwrap_or("NULL"),
        ))
        .await;
    }
    // M0 left the depot, came back, left the yard; M1 only entered.
    for (asset, s, kind, h) in [
        (ids[0], site, "exit", 1),
        (ids[0], site, "enter", 2),
        (ids[0], other, "exit", 3),
        (ids[1], site, "enter", 1),
    ] {
        db.execute(&format!(
            "INSERT INTO geofence_events (id, asset_id, site_id, kind, ts) \
             VALUES ({}, {}, {}, '{kind}', {})",
            u(Uuid::now_v7()),
            u(asset),
            u(s),
            t(h)
        ))
        .await;
    }

    db.store.migrate().await.unwrap();
    assert_consistent(&db, "the backfill").await;
    let at = |h: u32| {
        DateTime::parse_from_rfc3339(&format!("2026-12-01T{h:02}:00:00+00:00"))
            .unwrap()
            .with_timezone(&Utc)
    };
    let state = kept(&db).await;
    assert_eq!(state[&ids[0]], (Some(d[1]), Some(at(2)), None));
    assert_eq!(state[&ids[1]], (Some(d[2]), None, None));
    assert_eq!(
        state[&ids[2]],
        (Some(d[3]), Some(at(1)), Some("status".into()))
    );
    assert_eq!(state[&ids[3]], (None, None, None));
    let exits: BTreeMap<Uuid, (Option<DateTime<Utc>>, Option<Uuid>)> = db
        .rows::<(Uuid, Option<DateTime<Utc>>, Option<Uuid>)>(
            "SELECT id, fence_exit_at, fence_exit_site_id FROM assets",
        )
        .await
        .into_iter()
        .map(|(id, at, s)| (id, (at, s)))
        .collect();
    assert_eq!(exits[&ids[0]], (Some(at(3)), Some(other)));
    for id in &ids[1..] {
        assert_eq!(exits[id], (None, None));
    }
}

domain::backend_matrix!(TestDb: every_path_keeps_the_asset_tracker_state);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migration_0018_backfills_sqlite() {
    the_migration_backfills_from_devices_and_fence_events(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migration_0018_backfills_postgres() {
    the_migration_backfills_from_devices_and_fence_events(Backend::Postgres).await;
}
