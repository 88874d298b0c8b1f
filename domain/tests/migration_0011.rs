//! Migration 0011 on a SQLite database that already holds field commands: `scan_events` and
//! `scan_event_photos` are rebuilt (SQLite cannot alter a CHECK), so this proves the rows, the
//! photo links and the foreign keys survive, and that the new actions are accepted afterwards.
//! (PostgreSQL alters the constraint in place; every PostgreSQL test runs the migration.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use sqlx::Row;

const SCAN: &str = "INSERT INTO scan_events (id, action, asset_id, status, actor, device_time, \
     server_time, command, result) VALUES (?, ?, NULL, 'applied', 'tech', '2026-01-01T00:00:00Z', \
     '2026-01-01T00:00:00Z', '{}', '{}')";

#[tokio::test]
async fn scan_history_survives_the_rebuild_and_takes_the_new_actions() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations/sqlite");
    // The migrations before 0011, as a database created before it has them.
    let prefix = |below: &str| {
        let dir = tempfile::tempdir().unwrap();
        for entry in std::fs::read_dir(&root).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if name.as_str() < below {
                std::fs::copy(&path, dir.path().join(&name)).unwrap();
            }
        }
        dir
    };
    let before = prefix("0011");
    let dir = tempfile::tempdir().unwrap();
    let opts = SqliteConnectOptions::new()
        .filename(dir.path().join("old.db"))
        .create_if_missing(true)
        .foreign_keys(true);
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(opts)
        .await
        .unwrap();
    Migrator::new(before.path())
        .await
        .unwrap()
        .run(&pool)
        .await
        .unwrap();

    let scans: Vec<Vec<u8>> = (1u8..=3).map(|i| vec![i; 16]).collect();
    for (i, id) in scans.iter().enumerate() {
        let action = ["deliver", "return", "inspect"][i];
        sqlx::query(SCAN)
            .bind(id)
            .bind(action)
            .execute(&pool)
            .await
            .unwrap();
    }
    sqlx::query(
        "INSERT INTO photos (sha256, size_bytes, content_type, uploaded_by, uploaded_at) \
         VALUES ('p1', 1, 'image/png', 'tech', '2026-01-01T00:00:00Z')",
    )
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query("INSERT INTO scan_event_photos (scan_id, sha256) VALUES (?, 'p1')")
        .bind(&scans[1])
        .execute(&pool)
        .await
        .unwrap();
    // The old CHECK refuses the new action: the rebuild is needed.
    assert!(sqlx::query(SCAN)
        .bind(vec![9u8; 16])
        .bind("start_work")
        .execute(&pool)
        .await
        .is_err());

    // 0011 itself, on the pool as the release after it ran it (0012 and later need
    // `Store::migrate`, which turns foreign keys off around SQLite table rebuilds).
    let through = prefix("0012");
    Migrator::new(through.path())
        .await
        .unwrap()
        .run(&pool)
        .await
        .unwrap();

    let rows = sqlx::query("SELECT id, action FROM scan_events ORDER BY id")
        .fetch_all(&pool)
        .await
        .unwrap();
    let kept: Vec<(Vec<u8>, String)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(
        kept,
        vec![
            (scans[0].clone(), "deliver".to_owned()),
            (scans[1].clone(), "return".to_owned()),
            (scans[2].clone(), "inspect".to_owned()),
        ]
    );
    let linked: Vec<u8> = sqlx::query_scalar("SELECT scan_id FROM scan_event_photos")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(linked, scans[1]);
    let broken = sqlx::query("PRAGMA foreign_key_check")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert!(broken.is_empty(), "{} foreign key violations", broken.len());
    // The child still refers to the parent: a photo link to a missing scan is refused.
    assert!(
        sqlx::query("INSERT INTO scan_event_photos (scan_id, sha256) VALUES (?, 'p1')")
            .bind(vec![7u8; 16])
            .execute(&pool)
            .await
            .is_err()
    );
    let sql: String =
        sqlx::query_scalar("SELECT sql FROM sqlite_master WHERE name = 'scan_event_photos'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(
        sql.contains("REFERENCES \"scan_events\"") || sql.contains("REFERENCES scan_events"),
        "{sql}"
    );
    for action in ["start_work", "complete_work"] {
        sqlx::query(SCAN)
            .bind(uuid::Uuid::now_v7().as_bytes().to_vec())
            .bind(action)
            .execute(&pool)
            .await
            .unwrap();
    }
    let index: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name = 'scan_events_asset'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(index, 1);
}
