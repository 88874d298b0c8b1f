//! Migration 0016's backfill: assets positioned before it (here: positions written past every
//! service, so `map_cell` is NULL as on a database migrated from 0015) get their cell keys from
//! `Store::migrate` (in batches); unpositioned assets get none, and a second migrate has
//! nothing to do. (`TestDb::open_before(…, 16)` cannot be used on SQLite: the harness runs
//! migration 0012 with foreign keys on, which 0012 refuses.) Runs on SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use domain::testing::TestDb;
use mobile_shared::geo_cell;
use uuid::Uuid;

/// (id, lat, lon, map_cell) of an asset row.
type CellRow = (Uuid, Option<f64>, Option<f64>, Option<i64>);

domain::backend_matrix!(TestDb: migrate_backfills_the_cells_of_positioned_assets);

async fn migrate_backfills_the_cells_of_positioned_assets(db: TestDb) {
    // More than one backfill batch (1,000).
    let n = 1_500;
    domain::seed::seed_fleet(
        &db.store,
        &domain::Actor::cli(),
        &domain::seed::FleetSeed {
            assets: n,
            code_prefix: "BF".into(),
            device_prefix: "bf".into(),
            password_hash: "x".into(),
            depots: vec![],
        },
    )
    .await
    .unwrap();
    // Spread positions over the world; one asset stays unpositioned.
    db.execute(
        "UPDATE assets SET pos_lat = 48.0 + (CAST(substr(code, 4) AS INTEGER) % 40) * 0.5, \
         pos_lon = -170.0 + (CAST(substr(code, 4) AS INTEGER) % 340), \
         pos_at = created_at WHERE code <> 'BF-000001'",
    )
    .await;
    db.store.migrate().await.unwrap();

    let rows: Vec<CellRow> = db
        .rows("SELECT id, pos_lat, pos_lon, map_cell FROM assets")
        .await;
    assert_eq!(rows.len(), n);
    for (id, lat, lon, cell) in rows {
        match (lat, lon) {
            (Some(lat), Some(lon)) => {
                assert_eq!(cell, Some(geo_cell::cell_of(lat, lon)), "{id}")
            }
            _ => assert_eq!(cell, None, "{id}"),
        }
    }
    // Idempotent: nothing left to fill.
    db.store.migrate().await.unwrap();
    assert_eq!(
        db.count("SELECT COUNT(*) FROM assets WHERE map_cell IS NULL")
            .await,
        1
    );
}
