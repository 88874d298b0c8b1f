//! Backups and restore (`domain::backup`) on a real SQLite file database and a real data
//! directory: a backup taken while telemetry ingest, field scans with photos and new assets are
//! being committed restores everything committed before it started; a damaged, truncated,
//! tampered or foreign archive is refused and writes nothing; a non-empty target needs
//! `force`; the daily rule takes one backup a day, catches up once and keeps N. On PostgreSQL
//! each is refused with the way to do it there (pg_dump / pg_restore).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, TimeZone, Utc};
use domain::backup::schedule::{archive_name, DailyBackups, Outcome};
use domain::backup::{self, Manifest, Restore};
use domain::events::EventBus;
use domain::photos::{self, FsBlobStore};
use domain::scans::{self, Policy};
use domain::schedule::Scheduler;
use domain::telemetry::{positions, IngestOptions, Ingestor, Message, MessageKind};
use domain::testing::TestDb;
use domain::{assets, Actor, Backend, DomainError, Store, StoreOptions};
use mobile_shared::scan::{CommandStatus, FieldAction, FieldCommand};
use mobile_shared::telemetry::Reading;
use mobile_shared::wire::NewAsset;
use uuid::Uuid;

domain::backend_matrix!(
    TestDb:
    a_backup_taken_during_ingest_and_scans_restores_everything_committed_before_it,
    a_damaged_or_foreign_archive_is_refused_and_writes_nothing,
    a_target_in_use_needs_force_and_keeps_what_is_not_restored,
    daily_backups_run_once_a_day_catch_up_once_and_keep_n,
);

fn is_postgres(db: &TestDb) -> bool {
    db.store.backend() == Backend::Postgres
}

/// PostgreSQL is refused with the commands to use instead.
async fn refused_on_postgres(db: &TestDb, dir: &Path) {
    let err = backup::create(&db.store, &dir.join("data"), &dir.join("b.tar.gz"))
        .await
        .unwrap_err();
    let DomainError::Config(text) = &err else {
        panic!("{err:?}")
    };
    assert!(text.contains("pg_dump --format=custom"), "{text}");
    assert!(text.contains("pg_basebackup"), "{text}");
    assert!(!dir.join("b.tar.gz").exists());
}

async fn machine(store: &Store, code: &str) -> Uuid {
    let new = NewAsset {
        code: code.into(),
        name: format!("Machine {code}"),
        ..NewAsset::default()
    };
    assets::create(store, &Actor::system(), new)
        .await
        .unwrap()
        .id
}

/// Bytes that do not compress, so the archive has real work to do.
fn noise(len: usize) -> Vec<u8> {
    (0..len).map(|_| rand::random::<u8>()).collect()
}

async fn upload(store: &Store, data_dir: &Path, bytes: Vec<u8>) -> String {
    let blobs = FsBlobStore::new(data_dir.join(photos::DATA_SUBDIR));
    photos::store(store, &blobs, &Actor::system(), bytes, "image/jpeg")
        .await
        .unwrap()
        .sha256
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

/// What the writers committed, each pushed only after its commit returned.
#[derive(Default, Clone)]
struct Committed {
    assets: Vec<Uuid>,
    /// Scan id → (photo key, the photo's bytes).
    scans: Vec<(Uuid, String, Vec<u8>)>,
    /// Asset → reading times.
    readings: BTreeMap<Uuid, Vec<DateTime<Utc>>>,
}

async fn a_backup_taken_during_ingest_and_scans_restores_everything_committed_before_it(
    db: TestDb,
) {
    let dir = tempfile::tempdir().unwrap();
    if is_postgres(&db) {
        return refused_on_postgres(&db, dir.path()).await;
    }
    let data_dir = dir.path().join("data");
    let store = db.store.clone();
    let mut fleet = Vec::new();
    for i in 0..6 {
        let asset = machine(&store, &format!("BK-{i}")).await;
        db.add_device(&format!("trk-bk-{i}"), Some(asset)).await;
        fleet.push((asset, format!("trk-bk-{i}")));
    }
    // Photos already there: blobs to copy while the writers go on.
    for _ in 0..60 {
        upload(&store, &data_dir, noise(48 * 1024)).await;
    }

    let committed = Arc::new(Mutex::new(Committed::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    {
        // Telemetry: a batch with one reading per tracker, a second apart, as fast as it goes.
        let (store, committed, stop, fleet) = (
            store.clone(),
            committed.clone(),
            stop.clone(),
            fleet.clone(),
        );
        writers.push(tokio::spawn(async move {
            let ingestor = Ingestor::new(store, EventBus::new(64), IngestOptions::default());
            // Whole seconds: stored times have microseconds.
            let t0 = Utc.timestamp_opt(Utc::now().timestamp() - 3600, 0).unwrap();
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let ts = t0 + Duration::seconds(i);
                let lat = 48.0 + (i as f64) * 1e-5;
                let batch: Vec<Message> = fleet.iter().map(|(_, d)| reading(d, ts, lat)).collect();
                let report = ingestor.ingest(&batch).await.unwrap();
                assert_eq!(report.applied, fleet.len());
                let mut c = committed.lock().unwrap();
                for (asset, _) in &fleet {
                    c.readings.entry(*asset).or_default().push(ts);
                }
                i += 1;
            }
        }));
    }
    {
        // Field scans, each with a photo uploaded first (bytes, then the row, then the scan).
        let (store, committed, stop, fleet, data_dir) = (
            store.clone(),
            committed.clone(),
            stop.clone(),
            fleet.clone(),
            data_dir.clone(),
        );
        writers.push(tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let bytes = noise(8 * 1024);
                let key = upload(&store, &data_dir, bytes.clone()).await;
                let mut cmd = FieldCommand::new(
                    FieldAction::Inspect,
                    None,
                    Utc::now() - Duration::seconds(5),
                );
                cmd.asset_id = Some(fleet[i % fleet.len()].0);
                cmd.notes = Some(format!("walk-around {i}"));
                cmd.photos = vec![key.clone()];
                let result = scans::apply(
                    &store,
                    &Policy::default(),
                    &Actor::system(),
                    &cmd,
                    None,
                    vec![],
                )
                .await
                .unwrap();
                assert_eq!(result.status, CommandStatus::Applied, "{result:?}");
                committed.lock().unwrap().scans.push((cmd.id, key, bytes));
                i += 1;
            }
        }));
    }
    {
        // The registry grows too.
        let (store, committed, stop) = (store.clone(), committed.clone(), stop.clone());
        writers.push(tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let id = machine(&store, &format!("LIVE-{i}")).await;
                committed.lock().unwrap().assets.push(id);
                i += 1;
            }
        }));
    }
    // Let every writer commit something, then back up while they go on.
    loop {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        let c = committed.lock().unwrap();
        if !c.assets.is_empty() && c.scans.len() >= 3 && !c.readings.is_empty() {
            break;
        }
    }
    let before = committed.lock().unwrap().clone();
    let archive = dir.path().join("backups").join("online.tar.gz");
    let created = backup::create(&store, &data_dir, &archive).await.unwrap();
    let during = committed.lock().unwrap().clone();
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.await.unwrap();
    }
    let readings = |c: &Committed| c.readings.values().map(Vec::len).sum::<usize>();
    assert!(
        during.scans.len() > before.scans.len() && readings(&during) > readings(&before),
        "the writers went on during the backup (scans {} → {}, readings {} → {})",
        before.scans.len(),
        during.scans.len(),
        readings(&before),
        readings(&during)
    );
    assert!(
        created.missing_blobs.is_empty(),
        "{:?}",
        created.missing_blobs
    );
    let latest = domain::store::migration_versions(Backend::Sqlite)
        .into_iter()
        .max()
        .unwrap();
    assert_eq!(created.manifest.schema_version, latest);
    assert!(created.manifest.members.len() > 60 + before.scans.len());
    let leftovers: Vec<_> = std::fs::read_dir(archive.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers, ["online.tar.gz"], "no staging files left behind");

    // Restore into a new database and data directory.
    let target = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", target.path().join("restored.db").display());
    let restored_data = target.path().join("data");
    let restored = backup::restore(&Restore {
        from: archive.clone(),
        database_url: url.clone(),
        data_dir: restored_data.clone(),
        force: false,
    })
    .await
    .unwrap();
    assert_eq!(restored.manifest, created.manifest);
    assert_eq!(restored.schema_version, latest);

    let copy = Store::connect(&url, &StoreOptions::default())
        .await
        .unwrap();
    let blobs = FsBlobStore::new(restored_data.join(photos::DATA_SUBDIR));
    for id in &before.assets {
        assets::get(&copy, *id).await.unwrap();
    }
    for (id, key, bytes) in &before.scans {
        let stored = scans::stored(&copy, *id).await.unwrap().expect("the scan");
        assert_eq!(stored.photos, std::slice::from_ref(key), "{id}");
        let photo = photos::get(&copy, &blobs, key).await.unwrap();
        assert_eq!(&photo.bytes, bytes, "{key}");
    }
    let far = (
        Utc::now() - Duration::days(1),
        Utc::now() + Duration::days(1),
    );
    for (asset, times) in &before.readings {
        let history = positions(&copy, *asset, far.0, far.1, 100_000)
            .await
            .unwrap();
        let kept: std::collections::HashSet<_> = history.iter().map(|p| p.ts).collect();
        for t in times {
            assert!(kept.contains(t), "{asset}: the reading at {t}");
        }
    }
    // And the snapshot is consistent on its own: every photo it records is there to serve,
    // including those of scans committed while the backup ran.
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let keys: Vec<String> = sqlx::query_scalar("SELECT sha256 FROM photos")
        .fetch_all(&pool)
        .await
        .unwrap();
    pool.close().await;
    assert!(keys.len() >= 60 + before.scans.len());
    for key in &keys {
        photos::get(&copy, &blobs, key).await.unwrap();
    }
    copy.close().await;
}

/// A small backup: two assets, two photos. Returns the archive's bytes.
async fn small_backup(db: &TestDb, dir: &Path) -> (PathBuf, Vec<u8>) {
    let data_dir = dir.join("data");
    machine(&db.store, "S-1").await;
    machine(&db.store, "S-2").await;
    upload(&db.store, &data_dir, noise(4096)).await;
    upload(&db.store, &data_dir, noise(4096)).await;
    let archive = dir.join("small.tar.gz");
    backup::create(&db.store, &data_dir, &archive)
        .await
        .unwrap();
    let bytes = std::fs::read(&archive).unwrap();
    (archive, bytes)
}

/// The members of an archive, in order.
fn unpack(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(bytes));
    tar.entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let name = e.path().unwrap().to_string_lossy().into_owned();
            let mut data = Vec::new();
            e.read_to_end(&mut data).unwrap();
            (name, data)
        })
        .collect()
}

/// A well-formed tar.gz of `members`: what a tamperer (or a bug) would write.
fn pack(members: &[(String, Vec<u8>)]) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut tar = tar::Builder::new(gz);
    for (name, data) in members {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o600);
        tar.append_data(&mut h, name, data.as_slice()).unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap()
}

fn with_manifest(
    members: &[(String, Vec<u8>)],
    change: impl FnOnce(&mut Manifest),
) -> Vec<(String, Vec<u8>)> {
    let mut out = members.to_vec();
    let mut manifest: Manifest = serde_json::from_slice(&out[0].1).unwrap();
    change(&mut manifest);
    out[0].1 = serde_json::to_vec(&manifest).unwrap();
    out
}

async fn a_damaged_or_foreign_archive_is_refused_and_writes_nothing(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    if is_postgres(&db) {
        refused_on_postgres(&db, dir.path()).await;
        // Nor does a restore go into PostgreSQL: that is pg_restore's job.
        std::fs::write(dir.path().join("x.tar.gz"), b"whatever").unwrap();
        let err = backup::restore(&Restore {
            from: dir.path().join("x.tar.gz"),
            database_url: db.url.clone(),
            data_dir: dir.path().join("restored"),
            force: true,
        })
        .await
        .unwrap_err();
        assert!(err.to_string().contains("pg_restore"), "{err}");
        assert!(!dir.path().join("restored").exists());
        return;
    }
    let (_, good) = small_backup(&db, dir.path()).await;
    let members = unpack(&good);
    assert_eq!(members[0].0, "manifest.json");
    assert_eq!(members[1].0, "database.sqlite");
    let blob = members
        .iter()
        .position(|(n, _)| n.starts_with("data/photos/"))
        .unwrap();

    let mut tampered = members.clone();
    tampered[blob].1[100] ^= 0x01;
    let mut extra = members.clone();
    extra.push((
        format!("data/photos/ab/ab{}", "0".repeat(62)),
        b"not in the manifest".to_vec(),
    ));
    let mut missing = members.clone();
    missing.remove(blob);
    const CUT: &[&str] = &["damaged or truncated"];
    let cases: Vec<(&str, Vec<u8>, &[&str])> = vec![
        ("cut in half", good[..good.len() / 2].to_vec(), CUT),
        ("cut short", good[..good.len() - 600].to_vec(), CUT),
        // Past the last member: only the gzip trailer (CRC-32, length) is cut off.
        (
            "trailer cut",
            good[..good.len() - 4].to_vec(),
            &["damaged or truncated"],
        ),
        ("empty file", Vec::new(), &["empty", "damaged or truncated"]),
        (
            "not gzip",
            b"PK\x03\x04 a zip file, say".to_vec(),
            &["damaged or truncated"],
        ),
        (
            "a photo changed",
            pack(&tampered),
            &["does not match its checksum"],
        ),
        ("a member added", pack(&extra), &["unexpected member"]),
        ("a member dropped", pack(&missing), &["is missing"]),
        (
            "a path outside the data dir",
            pack(&with_manifest(&members, |m| {
                m.members[1].path = "../../etc/cron.d/evil".into()
            })),
            &["the manifest names `../../etc/cron.d/evil`"],
        ),
        (
            "no manifest first",
            pack(&members[1..]),
            &["not a fieldops backup"],
        ),
        (
            "a newer schema",
            pack(&with_manifest(&members, |m| m.schema_version = 99_999)),
            &["newer than this fieldops"],
        ),
        (
            "another format",
            pack(&with_manifest(&members, |m| m.format = 2)),
            &["archive format 2"],
        ),
    ];
    for (what, bytes, says) in cases {
        let from = dir.path().join("bad.tar.gz");
        std::fs::write(&from, &bytes).unwrap();
        let target = tempfile::tempdir().unwrap();
        let db_file = target.path().join("db").join("restored.db");
        let err = backup::restore(&Restore {
            from,
            database_url: format!("sqlite://{}", db_file.display()),
            data_dir: target.path().join("data"),
            force: false,
        })
        .await
        .unwrap_err();
        let DomainError::Validation(fields) = &err else {
            panic!("{what}: {err:?}")
        };
        let text = &fields["archive"];
        assert!(says.iter().any(|s| text.contains(s)), "{what}: {text}");
        assert!(text.contains("nothing restored"), "{what}: {text}");
        let written: Vec<_> = std::fs::read_dir(target.path()).unwrap().collect();
        assert!(
            written.is_empty(),
            "{what}: nothing written, found {written:?}"
        );
    }
    // The untouched archive restores (the cases above failed for what was done to them).
    let from = dir.path().join("good.tar.gz");
    std::fs::write(&from, &good).unwrap();
    let target = tempfile::tempdir().unwrap();
    backup::restore(&Restore {
        from,
        database_url: format!("sqlite://{}", target.path().join("ok.db").display()),
        data_dir: target.path().join("data"),
        force: false,
    })
    .await
    .unwrap();
}

async fn a_target_in_use_needs_force_and_keeps_what_is_not_restored(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    if is_postgres(&db) {
        let err = DailyBackups::new(db.store.clone(), dir.path(), dir.path(), 7).unwrap_err();
        assert!(err.to_string().contains("pg_dump"), "{err}");
        return refused_on_postgres(&db, dir.path()).await;
    }
    let (archive, _) = small_backup(&db, dir.path()).await;
    // A backup pointed at the wrong data directory says which blobs it could not find.
    let wrong = backup::create(
        &db.store,
        &dir.path().join("elsewhere"),
        &dir.path().join("w.tar.gz"),
    )
    .await
    .unwrap();
    assert_eq!(wrong.missing_blobs.len(), 2, "{:?}", wrong.missing_blobs);
    assert!(wrong.missing_blobs.iter().all(|p| p.starts_with("photos/")));
    let target = tempfile::tempdir().unwrap();
    let db_file = target.path().join("restored.db");
    let data_dir = target.path().join("data");
    let what = Restore {
        from: archive,
        database_url: format!("sqlite://{}", db_file.display()),
        data_dir: data_dir.clone(),
        force: false,
    };
    backup::restore(&what).await.unwrap();
    // The restored server went on: a new asset and a stray photo, and the operator's basemap.
    let copy = Store::connect(&what.database_url, &StoreOptions::default())
        .await
        .unwrap();
    let after = machine(&copy, "AFTER-1").await;
    let stray = upload(&copy, &data_dir, noise(1000)).await;
    copy.close().await;
    std::fs::create_dir_all(data_dir.join("maps")).unwrap();
    std::fs::write(data_dir.join("maps/style.json"), b"{}").unwrap();

    let err = backup::restore(&what).await.unwrap_err();
    assert!(
        matches!(&err, DomainError::Conflict { code, .. } if *code == mobile_shared::ErrorCode::AlreadyExists),
        "{err:?}"
    );
    assert!(err.to_string().contains("--force"), "{err}");
    assert!(err.to_string().contains("restored.db"), "{err}");

    backup::restore(&Restore {
        force: true,
        ..what.clone()
    })
    .await
    .unwrap();
    let copy = Store::connect(&what.database_url, &StoreOptions::default())
        .await
        .unwrap();
    assert!(
        assets::get(&copy, after).await.is_err(),
        "the database is the backup's again"
    );
    let blobs = FsBlobStore::new(data_dir.join(photos::DATA_SUBDIR));
    assert!(photos::get(&copy, &blobs, &stray).await.is_err());
    assert!(
        !data_dir
            .join(photos::DATA_SUBDIR)
            .join(&stray[..2])
            .join(&stray)
            .exists(),
        "the photos tree is the backup's"
    );
    assert_eq!(
        std::fs::read(data_dir.join("maps/style.json")).unwrap(),
        b"{}",
        "what a backup does not hold is left alone"
    );
    copy.close().await;
}

async fn daily_backups_run_once_a_day_catch_up_once_and_keep_n(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let backups_dir = dir.path().join("backups");
    if is_postgres(&db) {
        let err = DailyBackups::new(db.store.clone(), dir.path(), &backups_dir, 2).unwrap_err();
        assert!(matches!(err, DomainError::Config(_)), "{err:?}");
        assert!(err.to_string().contains("pg_dump"), "{err}");
        return;
    }
    let data_dir = dir.path().join("data");
    upload(&db.store, &data_dir, noise(2048)).await;
    let t = |d: u32, h: u32, m: u32| Utc.with_ymd_and_hms(2030, 1, d, h, m, 0).unwrap();
    let now = Arc::new(Mutex::new(t(1, 4, 0)));
    let clock = now.clone();
    let outcomes = Arc::new(Mutex::new(Vec::new()));
    let observed = outcomes.clone();
    let backups = DailyBackups::new(db.store.clone(), &data_dir, &backups_dir, 2)
        .unwrap()
        .with_clock(Arc::new(move || *clock.lock().unwrap()))
        .with_observer(Arc::new(move |o: &Outcome| {
            observed.lock().unwrap().push(o.clone())
        }));
    let scheduler = Scheduler::new(db.store.clone(), "test").with_rule(backups.rule());
    std::fs::create_dir_all(&backups_dir).unwrap();
    std::fs::write(backups_dir.join("notes.txt"), b"operator's").unwrap();
    let names = || {
        let mut n: Vec<String> = std::fs::read_dir(&backups_dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        n.sort();
        n
    };
    let tick = |at: DateTime<Utc>| {
        *now.lock().unwrap() = at;
        let (scheduler, backups) = (&scheduler, &backups);
        async move {
            let report = scheduler.tick(at).await;
            assert!(report.errors.is_empty(), "{:?}", report.errors);
            backups.idle().await;
            report.runs.iter().map(|r| r.count).collect::<Vec<_>>()
        }
    };
    let day = |d: u32| archive_name(t(d, 3, 0));

    assert_eq!(
        tick(t(1, 4, 0)).await,
        Vec::<u64>::new(),
        "a new rule starts now"
    );
    assert_eq!(tick(t(1, 4, 1)).await, [1], "the day's backup starts");
    assert_eq!(names(), [day(1), "notes.txt".into()]);
    assert_eq!(tick(t(1, 4, 2)).await, [0], "and is not taken twice");
    assert_eq!(tick(t(2, 2, 59)).await, [0], "not due before 03:00");
    assert_eq!(tick(t(2, 3, 0)).await, [1]);
    assert_eq!(names(), [day(1), day(2), "notes.txt".into()]);
    // Three days down: the catch-up windows take nothing, the one reaching now takes one.
    assert_eq!(tick(t(5, 9, 0)).await, [0, 0, 0, 1]);
    assert_eq!(
        names(),
        [day(2), day(5), "notes.txt".into()],
        "the newest 2 kept, the operator's file left alone"
    );
    // A lost archive (deleted, or a backup that failed) is taken again at the next tick.
    std::fs::remove_file(backups_dir.join(day(5))).unwrap();
    assert_eq!(tick(t(5, 9, 1)).await, [1]);
    assert!(backups_dir.join(day(5)).exists());

    // A backup that fails (here: the directory is a file) is tried again, but not at every tick.
    let blocked = dir.path().join("not-a-directory");
    std::fs::write(&blocked, b"").unwrap();
    let observed = outcomes.clone();
    let failing = DailyBackups::new(db.store.clone(), &data_dir, blocked.join("sub"), 2)
        .unwrap()
        .with_clock({
            let clock = now.clone();
            Arc::new(move || *clock.lock().unwrap())
        })
        .with_observer(Arc::new(move |o: &Outcome| {
            observed.lock().unwrap().push(o.clone())
        }));
    let retrying = Scheduler::new(db.store.clone(), "retry").with_rule(failing.rule());
    let retry_tick = |at: DateTime<Utc>| {
        *now.lock().unwrap() = at;
        let (retrying, failing) = (&retrying, &failing);
        async move {
            let report = retrying.tick(at).await;
            failing.idle().await;
            report.runs.iter().map(|r| r.count).collect::<Vec<_>>()
        }
    };
    // The rule's mark is shared by name, so this scheduler's rule starts where the first left.
    assert_eq!(retry_tick(t(5, 9, 2)).await, [1], "tried");
    assert_eq!(retry_tick(t(5, 9, 3)).await, [0], "not again at once");
    assert_eq!(retry_tick(t(5, 9, 11)).await, [0]);
    assert_eq!(retry_tick(t(5, 9, 13)).await, [1], "again after 10 minutes");
    let outcomes = outcomes.lock().unwrap().clone();
    let written = outcomes
        .iter()
        .filter(|o| matches!(o, Outcome::Written { bytes, .. } if *bytes > 0))
        .count();
    assert_eq!(written, 4, "{outcomes:?}");
    assert_eq!(
        outcomes[4..],
        [Outcome::Failed, Outcome::Failed],
        "the observer hears both"
    );

    // The archive restores.
    let target = tempfile::tempdir().unwrap();
    let restored = backup::restore(&Restore {
        from: backups_dir.join(day(5)),
        database_url: format!("sqlite://{}", target.path().join("r.db").display()),
        data_dir: target.path().join("data"),
        force: false,
    })
    .await
    .unwrap();
    let blobs: HashMap<_, _> = restored
        .manifest
        .members
        .iter()
        .map(|m| (m.path.clone(), m.size))
        .collect();
    assert_eq!(blobs.len(), 2, "the database and the one photo: {blobs:?}");
}
