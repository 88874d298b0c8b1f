//! `domain::seed::place_fleet` (the map benchmark's fleet): a seeded fleet moved into a working
//! state reads back through the asset record and the dispatcher's alert lists as ingest would
//! have left it, and every status change is audited. Runs on SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{Duration, Utc};
use domain::alerts::{self, AlertPageRequest, StaleFilter, StaleThreshold};
use domain::pagination::PageRequest;
use domain::seed::{FleetSeed, Placement};
use domain::testing::TestDb;
use domain::{assets, audit, Actor};
use mobile_shared::wire::AuditFilter;
use mobile_shared::AssetStatus;

domain::backend_matrix!(
    TestDb:
    placed_assets_read_back_and_feed_the_alert_lists,
);

async fn placed_assets_read_back_and_feed_the_alert_lists(db: TestDb) {
    let actor = Actor::cli();
    let seeded = domain::seed::seed_fleet(
        &db.store,
        &actor,
        &FleetSeed {
            assets: 4,
            code_prefix: "PL".into(),
            device_prefix: "pl-".into(),
            password_hash: domain::secrets::hash_device_password("pl-password"),
            depots: vec![("Depot PL".into(), 48.0, 11.0)],
        },
    )
    .await
    .unwrap();
    let depot = seeded.site_ids[0];
    let ids: Vec<_> = seeded.devices.iter().map(|(_, id)| *id).collect();
    let now = Utc::now();
    let place = |i: usize, status, fence: bool, age: Duration, silent: bool| Placement {
        asset_id: ids[i],
        status,
        site_id: Some(depot),
        lat: 48.0 + i as f64 * 0.1,
        lon: 11.0,
        pos_at: now - age,
        geofence_site_id: fence.then_some(depot),
        tracker_silent: silent,
    };
    let placements = vec![
        // In the depot's fence, fresh.
        place(0, AssetStatus::Available, true, Duration::minutes(5), false),
        // Out of every fence without a delivery: off-site.
        place(
            1,
            AssetStatus::Available,
            false,
            Duration::minutes(5),
            false,
        ),
        // A three-day-old position: stale.
        place(
            2,
            AssetStatus::InMaintenance,
            true,
            Duration::days(3),
            false,
        ),
        // On rent, tracker silent: stale, not off-site.
        place(3, AssetStatus::OnRent, false, Duration::hours(6), true),
    ];
    let n = domain::seed::place_fleet(&db.store, &actor, &placements)
        .await
        .unwrap();
    assert_eq!(n, 4);

    let a = assets::get(&db.store, ids[1]).await.unwrap();
    assert_eq!(a.status, AssetStatus::Available);
    let pos = a.position.expect("a position");
    assert!((pos.lat - 48.1).abs() < 1e-9 && (pos.lon - 11.0).abs() < 1e-9);
    assert!((pos.at - placements[1].pos_at).num_milliseconds().abs() < 1_000);
    assert_eq!(
        assets::get(&db.store, ids[3]).await.unwrap().status,
        AssetStatus::OnRent
    );

    let page = || AlertPageRequest::new(None, None).unwrap();
    let threshold = StaleThreshold::new(None, 24).unwrap();
    let stale = alerts::stale(&db.store, threshold, &StaleFilter::default(), page())
        .await
        .unwrap();
    let mut stale_ids: Vec<_> = stale.items.iter().map(|s| s.asset_id).collect();
    stale_ids.sort();
    let mut want = vec![ids[2], ids[3]];
    want.sort();
    assert_eq!(stale_ids, want);
    let off = alerts::off_site(&db.store, page()).await.unwrap();
    assert_eq!(
        off.items.iter().map(|o| o.asset_id).collect::<Vec<_>>(),
        vec![ids[1]]
    );

    // The two status changes are audited (the positions stand for ingest's, which is not).
    let entries = audit::list(
        &db.store,
        &AuditFilter {
            entity: Some("asset".into()),
            action: Some("asset.update".into()),
            ..Default::default()
        },
        PageRequest::new(None, None).unwrap(),
    )
    .await
    .unwrap();
    let mut audited: Vec<_> = entries.items.iter().map(|e| e.entity_id).collect();
    audited.sort();
    let mut want = vec![ids[2], ids[3]];
    want.sort();
    assert_eq!(audited, want);
    let on_rent = entries
        .items
        .iter()
        .find(|e| e.entity_id == ids[3])
        .unwrap();
    assert_eq!(on_rent.after.as_ref().unwrap()["status"], "on_rent");
}
