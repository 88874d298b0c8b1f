//! Position history reads through device bindings (migrations 0005): an asset's history holds
//! the readings of every tracker bound to it, and nothing of other assets' or unbound trackers'.
//! Runs on SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{DateTime, Duration, TimeZone, Utc};
use domain::events::EventBus;
use domain::telemetry::{positions, IngestOptions, Ingestor, Message, MessageKind};
use domain::testing::TestDb;
use domain::{assets, Actor};
use mobile_shared::telemetry::Reading;
use mobile_shared::wire::{AuditSource, NewAsset};
use mobile_shared::Role;
use uuid::Uuid;

fn actor() -> Actor {
    Actor::user(Uuid::now_v7(), "tester", Role::Admin, AuditSource::Api)
}

async fn asset(db: &TestDb, code: &str) -> Uuid {
    let new = NewAsset {
        code: code.into(),
        name: format!("Machine {code}"),
        ..NewAsset::default()
    };
    assets::create(&db.store, &actor(), new).await.unwrap().id
}

async fn tracker(db: &TestDb, id: &str, asset_id: Option<Uuid>) {
    db.add_device(id, asset_id).await;
}

fn reading(device: &str, ts: DateTime<Utc>, lat: f64) -> Message {
    let mut r = Reading::at(ts);
    r.lat = Some(lat);
    r.lon = Some(11.5);
    Message {
        topic: format!("fieldops/v1/{device}/telemetry"),
        received_at: Utc::now(),
        kind: MessageKind::Readings {
            device_id: device.into(),
            readings: vec![r],
        },
    }
}

async fn history_holds_every_bound_tracker_and_nothing_else(db: TestDb) {
    let (a, b) = (asset(&db, "H-1").await, asset(&db, "H-2").await);
    tracker(&db, "trk-a1", Some(a)).await;
    tracker(&db, "trk-a2", Some(a)).await; // a second tracker on the same machine
    tracker(&db, "trk-b", Some(b)).await;
    tracker(&db, "trk-loose", None).await;
    let t0 = Utc.with_ymd_and_hms(2026, 11, 20, 8, 0, 0).unwrap();
    let ingestor = Ingestor::new(
        db.store.clone(),
        EventBus::new(64),
        IngestOptions::default(),
    );
    let batch = vec![
        reading("trk-a1", t0, 48.01),
        reading("trk-b", t0 + Duration::seconds(1), 48.50),
        reading("trk-a2", t0 + Duration::seconds(2), 48.02),
        reading("trk-loose", t0 + Duration::seconds(3), 48.90),
        reading("trk-a1", t0 + Duration::seconds(4), 48.03),
    ];
    let report = ingestor.ingest(&batch).await.unwrap();
    assert_eq!(report.applied, 5);

    let window = |from: i64, to: i64| (t0 + Duration::seconds(from), t0 + Duration::seconds(to));
    let (from, to) = window(-60, 60);
    let of_a = positions(&db.store, a, from, to, 100).await.unwrap();
    let lats: Vec<f64> = of_a.iter().map(|p| p.lat).collect();
    assert_eq!(lats, [48.01, 48.02, 48.03], "both trackers, oldest first");
    let of_b = positions(&db.store, b, from, to, 100).await.unwrap();
    assert_eq!(of_b.iter().map(|p| p.lat).collect::<Vec<_>>(), [48.50]);

    // The window is half-open and the limit keeps the oldest points.
    let (from, to) = window(2, 4);
    let mid = positions(&db.store, a, from, to, 100).await.unwrap();
    assert_eq!(mid.iter().map(|p| p.lat).collect::<Vec<_>>(), [48.02]);
    let (from, to) = window(-60, 60);
    let first = positions(&db.store, a, from, to, 2).await.unwrap();
    assert_eq!(
        first.iter().map(|p| p.lat).collect::<Vec<_>>(),
        [48.01, 48.02]
    );

    // A replay inserts nothing: the unique (device, time) index still dedupes.
    let again = ingestor.ingest(&batch).await.unwrap();
    assert_eq!((again.applied, again.duplicates), (0, 5));
    assert_eq!(
        positions(&db.store, a, from, to, 100).await.unwrap().len(),
        3
    );
}

domain::backend_matrix!(TestDb: history_holds_every_bound_tracker_and_nothing_else);
