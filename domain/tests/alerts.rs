//! The dispatcher's alert lists and the per-site table (`domain::alerts`) over a fleet brought
//! into each state by the real ingest path: readings, a tracker's `offline` status, the silence
//! watch, geofence crossings. Runs on SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use domain::alerts::{self, AlertPageRequest, StaleFilter, StaleThreshold};
use domain::events::EventBus;
use domain::telemetry::{IngestOptions, Ingestor, Message, MessageKind};
use domain::testing::TestDb;
use domain::{assets, categories, sites, Actor, DomainError};
use mobile_shared::alerts::{StaleAsset, StaleReason};
use mobile_shared::telemetry::{DeviceStatus, Reading};
use mobile_shared::wire::{Geofence, LatLon, NewAsset, NewCategory, NewSite, SiteKind};
use mobile_shared::AssetStatus;
use uuid::Uuid;

use StaleReason::*;

/// The north depot's fence: 500 m around this point.
const DEPOT: (f64, f64) = (48.0, 11.0);
/// About 5 km north of it: inside no fence.
const OUTSIDE: (f64, f64) = (48.05, 11.0);

struct Fleet {
    north: Uuid,
    south: Uuid,
    empty: Uuid,
    now: DateTime<Utc>,
    ids: HashMap<&'static str, Uuid>,
}

impl Fleet {
    fn code_of(&self, id: Uuid) -> &'static str {
        self.ids
            .iter()
            .find(|(_, v)| **v == id)
            .map(|(k, _)| *k)
            .unwrap_or("?")
    }
}

async fn site(db: &TestDb, name: &str, fence: bool) -> Uuid {
    let center = LatLon {
        lat: DEPOT.0,
        lon: DEPOT.1,
    };
    let new = NewSite {
        name: name.into(),
        kind: SiteKind::Depot,
        customer_id: None,
        address: None,
        location: Some(center),
        geofence: fence.then_some(Geofence::Circle {
            center,
            radius_m: 500.0,
        }),
    };
    sites::create(&db.store, &Actor::system(), new)
        .await
        .unwrap()
        .id
}

fn reading(device: &str, ts: DateTime<Utc>, at: (f64, f64), received_at: DateTime<Utc>) -> Message {
    let mut r = Reading::at(ts);
    r.lat = Some(at.0);
    r.lon = Some(at.1);
    Message {
        topic: format!("fieldops/v1/{device}/telemetry"),
        received_at,
        kind: MessageKind::Readings {
            device_id: device.into(),
            readings: vec![r],
        },
    }
}

/// Eight machines, each in one state (codes say which); see the assertions for what each
/// should show.
async fn fleet(db: &TestDb) -> Fleet {
    let north = site(db, "North depot", true).await;
    let south = site(db, "South yard", false).await;
    let empty = site(db, "Empty workshop", false).await;
    for name in ["Excavators", "Lifts"] {
        let new = NewCategory {
            name: name.into(),
            description: None,
        };
        categories::create(&db.store, &Actor::system(), new)
            .await
            .unwrap();
    }
    let mut ids = HashMap::new();
    for (code, status, site_id, category, tracker) in [
        ("FRESH", AssetStatus::Available, north, "Excavators", true),
        ("OLD", AssetStatus::Available, north, "Lifts", true),
        ("NOPOS", AssetStatus::Available, south, "Excavators", true),
        ("BARE", AssetStatus::Available, north, "Excavators", false),
        ("SILENT", AssetStatus::Available, north, "Excavators", true),
        (
            "OFFLINE",
            AssetStatus::InMaintenance,
            north,
            "Excavators",
            true,
        ),
        ("LEFT", AssetStatus::Available, north, "Excavators", true),
        ("RENTED", AssetStatus::OnRent, north, "Excavators", true),
    ] {
        let new = NewAsset {
            code: code.into(),
            name: format!("Machine {code}"),
            status: Some(status),
            site_id: Some(site_id),
            category: Some(category.into()),
            ..NewAsset::default()
        };
        let id = assets::create(&db.store, &Actor::system(), new)
            .await
            .unwrap()
            .id;
        if tracker {
            db.add_device(&format!("trk-{}", code.to_lowercase()), Some(id))
                .await;
        }
        ids.insert(code, id);
    }

    let now = domain::clock::now();
    let ago = |m: i64| now - Duration::minutes(m);
    let ingestor = Ingestor::new(
        db.store.clone(),
        EventBus::new(64),
        IngestOptions::default(),
    );
    // Trackers that went quiet: received when taken, long ago.
    let quiet = vec![
        reading("trk-old", ago(3 * 24 * 60), DEPOT, ago(3 * 24 * 60)),
        reading("trk-silent", ago(120), DEPOT, ago(120)),
    ];
    ingestor.ingest(&quiet).await.unwrap();
    assert_eq!(
        ingestor.mark_silent(Duration::hours(1)).await.unwrap(),
        2,
        "the silence watch takes the two quiet trackers"
    );
    // The rest arrive now. LEFT and RENTED were inside the fence, then drove out; two batches,
    // because ingest applies only a batch's newest fix to an asset (and its fences).
    let recent = vec![
        reading("trk-fresh", ago(10), DEPOT, now),
        reading("trk-offline", ago(30), DEPOT, now),
        reading("trk-left", ago(300), DEPOT, now),
        reading("trk-rented", ago(300), DEPOT, now),
    ];
    ingestor.ingest(&recent).await.unwrap();
    let out = vec![
        reading("trk-left", ago(240), OUTSIDE, now),
        reading("trk-rented", ago(240), OUTSIDE, now),
    ];
    ingestor.ingest(&out).await.unwrap();
    // Its last will.
    let will = Message {
        topic: "fieldops/v1/trk-offline/status".into(),
        received_at: domain::clock::now(),
        kind: MessageKind::Status {
            device_id: "trk-offline".into(),
            status: DeviceStatus::Offline,
        },
    };
    assert_eq!(ingestor.ingest(&[will]).await.unwrap().statuses, 1);
    Fleet {
        north,
        south,
        empty,
        now,
        ids,
    }
}

async fn stale_list(
    db: &TestDb,
    hours: i64,
    filter: &StaleFilter,
    limit: u32,
) -> (Vec<StaleAsset>, u64) {
    let threshold = StaleThreshold::new(Some(hours), 24).unwrap();
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    let mut total = None;
    loop {
        let page = AlertPageRequest::new(Some(limit), cursor.as_deref()).unwrap();
        let got = alerts::stale(&db.store, threshold, filter, page)
            .await
            .unwrap();
        assert!(got.items.len() <= limit as usize);
        // The count is the same on every page.
        assert_eq!(*total.get_or_insert(got.total), got.total);
        all.extend(got.items);
        match got.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    (all, total.unwrap_or(0))
}

fn codes_and_reasons<'f>(
    fleet: &'f Fleet,
    items: &[StaleAsset],
) -> Vec<(&'f str, Vec<StaleReason>)> {
    items
        .iter()
        .map(|a| (fleet.code_of(a.asset_id), a.reasons.clone()))
        .collect()
}

async fn stale_assets_are_listed_by_age_with_their_reasons(db: TestDb) {
    let fleet = fleet(&db).await;
    let everything = StaleFilter::default();
    let (items, total) = stale_list(&db, 24, &everything, 50).await;
    assert_eq!(
        codes_and_reasons(&fleet, &items),
        [
            ("NOPOS", vec![NoPosition]),
            ("OLD", vec![PositionOld, TrackerSilent]),
            ("SILENT", vec![TrackerSilent]),
            ("OFFLINE", vec![TrackerOffline]),
        ],
        "never positioned first, then oldest position first; FRESH, LEFT, RENTED (fresh) \
         and BARE (no tracker, no position) are not stale"
    );
    assert_eq!(total, 4);

    let old = &items[1];
    assert_eq!(old.code, "OLD");
    assert_eq!(old.site.as_ref().map(|s| s.id), Some(fleet.north));
    assert_eq!(
        old.site.as_ref().map(|s| s.name.as_str()),
        Some("North depot")
    );
    assert_eq!(
        old.category.as_ref().map(|c| c.name.as_str()),
        Some("Lifts")
    );
    let pos = old.last_position.as_ref().expect("a position");
    assert_eq!((pos.lat, pos.lon), DEPOT);
    let age = old.age_seconds.expect("an age");
    assert!(
        (3 * 86_400..3 * 86_400 + 120).contains(&age),
        "three days old: {age}"
    );
    let trk = old.tracker.as_ref().expect("its tracker");
    assert_eq!(trk.device_id, "trk-old");
    assert!(!trk.online);
    assert!(trk.last_seen_at.is_some());
    let nopos = &items[0];
    assert_eq!(
        (nopos.last_position.clone(), nopos.age_seconds),
        (None, None)
    );
    assert_eq!(nopos.status, AssetStatus::Available);
    let offline = &items[3];
    assert_eq!(offline.status, AssetStatus::InMaintenance);
    assert!(!offline.tracker.as_ref().unwrap().online);

    // A one-hour threshold takes LEFT and RENTED too (positions four hours old), between OLD
    // and SILENT; pages of two give the same list as one page.
    let (items, total) = stale_list(&db, 1, &everything, 2).await;
    let codes: Vec<&str> = items.iter().map(|a| fleet.code_of(a.asset_id)).collect();
    assert_eq!(total, 6);
    assert_eq!(codes.len(), 6);
    assert_eq!(&codes[..2], ["NOPOS", "OLD"]);
    assert_eq!(&codes[4..], ["SILENT", "OFFLINE"]);
    let mut middle = codes[2..4].to_vec();
    middle.sort();
    assert_eq!(middle, ["LEFT", "RENTED"]);
    let (one_page, _) = stale_list(&db, 1, &everything, 500).await;
    assert_eq!(items, one_page);

    // A long threshold: OLD stays for its silent tracker, no longer for its position.
    let (items, total) = stale_list(&db, 24 * 7, &everything, 50).await;
    assert_eq!(total, 4);
    assert_eq!(
        codes_and_reasons(&fleet, &items)[1],
        ("OLD", vec![TrackerSilent])
    );

    // Filters.
    let south = StaleFilter {
        site_id: Some(fleet.south),
        category: None,
    };
    let (items, total) = stale_list(&db, 24, &south, 50).await;
    assert_eq!(
        (codes_and_reasons(&fleet, &items), total),
        (vec![("NOPOS", vec![NoPosition])], 1)
    );
    let lifts = StaleFilter {
        site_id: None,
        category: Some("Lifts".into()),
    };
    let (items, _) = stale_list(&db, 24, &lifts, 50).await;
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].code, "OLD");
    let empty = StaleFilter {
        site_id: Some(fleet.empty),
        category: None,
    };
    assert_eq!(stale_list(&db, 24, &empty, 50).await.1, 0);

    // A fresh reading clears a silent tracker and its asset leaves the list.
    let ingestor = Ingestor::new(db.store.clone(), EventBus::new(8), IngestOptions::default());
    let now = domain::clock::now();
    ingestor
        .ingest(&[reading("trk-silent", now, DEPOT, now)])
        .await
        .unwrap();
    let (items, total) = stale_list(&db, 24, &everything, 50).await;
    assert_eq!(total, 3);
    assert!(items.iter().all(|a| a.code != "SILENT"));
    assert!(fleet.now <= now);
}

fn field_of(e: DomainError) -> String {
    match e {
        DomainError::Validation(f) => f.keys().cloned().collect::<Vec<_>>().join(","),
        other => panic!("not a validation error: {other}"),
    }
}

async fn bad_parameters_name_the_field(db: TestDb) {
    let fleet = fleet(&db).await;
    let ok = StaleThreshold::new(None, 24).unwrap();
    let page = AlertPageRequest::new(None, None).unwrap();
    let unknown_site = StaleFilter {
        site_id: Some(Uuid::now_v7()),
        category: None,
    };
    let e = alerts::stale(&db.store, ok, &unknown_site, page)
        .await
        .unwrap_err();
    assert_eq!(field_of(e), "site_id");
    let unknown_category = StaleFilter {
        site_id: Some(fleet.north),
        category: Some("Cranes".into()),
    };
    let e = alerts::stale(&db.store, ok, &unknown_category, page)
        .await
        .unwrap_err();
    assert_eq!(field_of(e), "category");
    assert_eq!(
        field_of(StaleThreshold::new(Some(-1), 24).unwrap_err()),
        "threshold_hours"
    );
    assert_eq!(
        field_of(StaleThreshold::new(Some(0), 24).unwrap_err()),
        "threshold_hours"
    );
    assert_eq!(
        field_of(StaleThreshold::new(Some(100_000), 24).unwrap_err()),
        "threshold_hours"
    );
    let bad_cursor = AlertPageRequest::new(None, Some(&Uuid::now_v7().to_string()));
    assert_eq!(field_of(bad_cursor.unwrap_err()), "cursor");
    assert_eq!(
        field_of(AlertPageRequest::new(Some(0), None).unwrap_err()),
        "limit"
    );
}

async fn off_site_lists_what_left_a_fence_without_a_delivery(db: TestDb) {
    let fleet = fleet(&db).await;
    let page = AlertPageRequest::new(None, None).unwrap();
    let got = alerts::off_site(&db.store, page).await.unwrap();
    let codes: Vec<&str> = got.items.iter().map(|a| a.code.as_str()).collect();
    assert_eq!(
        codes,
        ["LEFT"],
        "RENTED left on a delivery; the others are inside the fence or never positioned"
    );
    assert_eq!(got.total, 1);
    assert_eq!(got.next_cursor, None);
    let left = &got.items[0];
    assert_eq!(left.left_site.as_ref().map(|s| s.id), Some(fleet.north));
    let left_at = left.left_at.expect("when it left");
    let expected = fleet.now - Duration::minutes(240);
    assert!(
        (left_at - expected).num_milliseconds().abs() < 1000,
        "{left_at} vs {expected}"
    );
    assert_eq!((left.position.lat, left.position.lon), OUTSIDE);
    assert_eq!(left.status, AssetStatus::Available);
    assert_eq!(
        left.site.as_ref().map(|s| s.name.as_str()),
        Some("North depot")
    );

    // Back inside the fence: no longer off-site.
    let ingestor = Ingestor::new(db.store.clone(), EventBus::new(8), IngestOptions::default());
    let now = domain::clock::now();
    ingestor
        .ingest(&[reading("trk-left", now, DEPOT, now)])
        .await
        .unwrap();
    let got = alerts::off_site(&db.store, page).await.unwrap();
    assert_eq!((got.items.len(), got.total), (0, 0));
}

async fn the_site_table_counts_by_status_and_stale(db: TestDb) {
    let fleet = fleet(&db).await;
    let table = alerts::site_table(&db.store, StaleThreshold::new(None, 24).unwrap())
        .await
        .unwrap();
    assert_eq!(table.threshold_hours, 24);
    let names: Vec<&str> = table.sites.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        ["Empty workshop", "North depot", "South yard"],
        "by name"
    );
    let count = |row: usize, status: AssetStatus| {
        table.sites[row]
            .by_status
            .iter()
            .find(|c| c.status == status)
            .map(|c| c.count)
    };
    for row in &table.sites {
        let listed: Vec<AssetStatus> = row.by_status.iter().map(|c| c.status).collect();
        assert_eq!(listed, AssetStatus::ALL, "every status, in order");
    }
    let (empty, north, south) = (&table.sites[0], &table.sites[1], &table.sites[2]);
    assert_eq!(
        (empty.site_id, empty.total, empty.stale),
        (fleet.empty, 0, 0)
    );
    assert_eq!(north.site_id, fleet.north);
    assert_eq!(
        (north.total, north.stale),
        (7, 3),
        "OLD, SILENT, OFFLINE are stale"
    );
    assert_eq!(count(1, AssetStatus::Available), Some(5));
    assert_eq!(count(1, AssetStatus::InMaintenance), Some(1));
    assert_eq!(count(1, AssetStatus::OnRent), Some(1));
    assert_eq!(count(1, AssetStatus::Lost), Some(0));
    assert_eq!(north.location.as_ref().map(|l| (l.lat, l.lon)), Some(DEPOT));
    assert_eq!(
        (south.site_id, south.total, south.stale),
        (fleet.south, 1, 1)
    );

    // The table and the list agree, threshold for threshold.
    let one_hour = alerts::site_table(&db.store, StaleThreshold::new(Some(1), 24).unwrap())
        .await
        .unwrap();
    assert_eq!(one_hour.sites[1].stale, 5, "LEFT and RENTED too");
}

domain::backend_matrix!(
    TestDb:
    stale_assets_are_listed_by_age_with_their_reasons,
    bad_parameters_name_the_field,
    off_site_lists_what_left_a_fence_without_a_delivery,
    the_site_table_counts_by_status_and_stale,
);
