//! Server time of the alert lists and the site table at fleet scale (issue 13: p99 < 20 ms per
//! page at 100,000 assets). Ignored by default: it seeds a whole fleet. Run with
//!
//! ```text
//! FIELDOPS_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test \
//! ALERTS_BENCH_ASSETS=100000 cargo test -p domain --test alerts_bench -- --ignored --nocapture
//! ```
//!
//! The fleet is brought into its state by the real ingest path (readings, the silence watch,
//! status messages), per 100 assets: 1 tracker never positioned, 5 with a position days old
//! (then silenced), 1 fresh outside every fence, 1 fresh then offline by its status topic, the
//! rest fresh inside their depot. Prints p50/p99 of each domain call.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::time::{Duration as StdDuration, Instant};

use chrono::{Duration, Utc};
use domain::alerts::{self, AlertPageRequest, StaleFilter, StaleThreshold};
use domain::events::EventBus;
use domain::seed::{seed_fleet, FleetSeed};
use domain::telemetry::{IngestOptions, Ingestor, Message, MessageKind};
use domain::testing::TestDb;
use domain::Actor;
use mobile_shared::telemetry::{DeviceStatus, Reading};

fn assets() -> usize {
    std::env::var("ALERTS_BENCH_ASSETS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000)
}

fn report(name: &str, mut samples: Vec<StdDuration>) {
    samples.sort_unstable();
    let at = |q: f64| {
        let i = ((samples.len() as f64 - 1.0) * q).round() as usize;
        samples[i].as_secs_f64() * 1000.0
    };
    println!(
        "{name:<28} n={:<4} p50={:>8.2} ms  p99={:>8.2} ms  max={:>8.2} ms",
        samples.len(),
        at(0.5),
        at(0.99),
        at(1.0)
    );
}

async fn seed(db: &TestDb, n: usize) -> Vec<(String, f64, f64)> {
    let depots: Vec<(String, f64, f64)> = (0..20)
        .map(|i| {
            (
                format!("Depot {i:02}"),
                45.0 + f64::from(i) * 0.5,
                5.0 + f64::from(i) * 0.7,
            )
        })
        .collect();
    let seed = FleetSeed {
        assets: n,
        code_prefix: "BENCH".into(),
        device_prefix: "bench-".into(),
        password_hash: "$7$bench".into(),
        depots: depots.clone(),
    };
    let started = Instant::now();
    let fleet = seed_fleet(&db.store, &Actor::system(), &seed)
        .await
        .unwrap();
    println!("seeded {n} assets in {:?}", started.elapsed());

    let now = domain::clock::now();
    let ingestor = Ingestor::new(
        db.store.clone(),
        EventBus::new(16),
        IngestOptions::default(),
    );
    let started = Instant::now();
    let mut batch = Vec::new();
    let mut offline = Vec::new();
    for (i, (device, _asset)) in fleet.devices.iter().enumerate() {
        let kind = i % 100;
        if kind == 0 {
            continue; // a tracker that never sent a position
        }
        // Seeded assets are spread over the depots by their 1-based index.
        let (_, lat, lon) = &depots[(i + 1) % depots.len()];
        let (ts, at) = match kind {
            1..=5 => (now - Duration::hours(48 + (i % 200) as i64), (*lat, *lon)),
            6 => (now - Duration::minutes((i % 600) as i64), (lat + 1.0, *lon)),
            _ => (now - Duration::minutes((i % 600) as i64), (*lat, *lon)),
        };
        if kind == 7 {
            offline.push(device.clone());
        }
        let mut r = Reading::at(ts);
        r.lat = Some(at.0);
        r.lon = Some(at.1);
        batch.push(Message {
            topic: format!("fieldops/v1/{device}/telemetry"),
            received_at: ts,
            kind: MessageKind::Readings {
                device_id: device.clone(),
                readings: vec![r],
            },
        });
        if batch.len() == 1000 {
            ingestor.ingest(&batch).await.unwrap();
            batch.clear();
        }
    }
    ingestor.ingest(&batch).await.unwrap();
    let silenced = ingestor.mark_silent(Duration::hours(12)).await.unwrap();
    let statuses: Vec<Message> = offline
        .iter()
        .map(|device| Message {
            topic: format!("fieldops/v1/{device}/status"),
            received_at: Utc::now(),
            kind: MessageKind::Status {
                device_id: device.clone(),
                status: DeviceStatus::Offline,
            },
        })
        .collect();
    for chunk in statuses.chunks(1000) {
        ingestor.ingest(chunk).await.unwrap();
    }
    println!(
        "ingested the fleet's state in {:?} ({silenced} silenced, {} offline)",
        started.elapsed(),
        offline.len()
    );
    // Fresh statistics, as a running server's autovacuum / `PRAGMA optimize` would have.
    db.execute("ANALYZE").await;
    depots
}

async fn measure(db: TestDb) {
    let n = assets();
    seed(&db, n).await;
    let threshold = StaleThreshold::new(None, 24).unwrap();
    let everything = StaleFilter::default();

    // Warm up caches and prepared statements.
    for _ in 0..3 {
        let page = AlertPageRequest::new(Some(50), None).unwrap();
        alerts::stale(&db.store, threshold, &everything, page)
            .await
            .unwrap();
    }

    // Every page of the stale list, in order.
    let mut samples = Vec::new();
    let mut cursor: Option<String> = None;
    let mut listed = 0;
    let mut total;
    loop {
        let page = AlertPageRequest::new(Some(50), cursor.as_deref()).unwrap();
        let t = Instant::now();
        let got = alerts::stale(&db.store, threshold, &everything, page)
            .await
            .unwrap();
        samples.push(t.elapsed());
        listed += got.items.len();
        total = got.total;
        match got.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    println!("stale: {listed} listed, total {total}");
    report("stale (every page of 50)", samples);

    // The first page again, repeatedly, and filtered by a site.
    let mut samples = Vec::new();
    for _ in 0..50 {
        let page = AlertPageRequest::new(Some(50), None).unwrap();
        let t = Instant::now();
        alerts::stale(&db.store, threshold, &everything, page)
            .await
            .unwrap();
        samples.push(t.elapsed());
    }
    report("stale (first page)", samples);
    let site: uuid::Uuid = db
        .scalar("SELECT id FROM sites ORDER BY name LIMIT 1")
        .await;
    let by_site = StaleFilter {
        site_id: Some(site),
        category: None,
    };
    let mut samples = Vec::new();
    for _ in 0..50 {
        let page = AlertPageRequest::new(Some(50), None).unwrap();
        let t = Instant::now();
        alerts::stale(&db.store, threshold, &by_site, page)
            .await
            .unwrap();
        samples.push(t.elapsed());
    }
    report("stale (site, first page)", samples);

    let mut samples = Vec::new();
    let mut cursor: Option<String> = None;
    let mut listed = 0;
    let mut total;
    loop {
        let page = AlertPageRequest::new(Some(50), cursor.as_deref()).unwrap();
        let t = Instant::now();
        let got = alerts::off_site(&db.store, page).await.unwrap();
        samples.push(t.elapsed());
        listed += got.items.len();
        total = got.total;
        match got.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    println!("off-site: {listed} listed, total {total}");
    for _ in 0..30 {
        let page = AlertPageRequest::new(Some(50), None).unwrap();
        let t = Instant::now();
        alerts::off_site(&db.store, page).await.unwrap();
        samples.push(t.elapsed());
    }
    report("off-site (pages of 50)", samples);

    let mut samples = Vec::new();
    let mut stale = 0;
    for _ in 0..50 {
        let t = Instant::now();
        let table = alerts::site_table(&db.store, threshold).await.unwrap();
        samples.push(t.elapsed());
        stale = table.sites.iter().map(|s| s.stale).sum();
    }
    println!("site table: {stale} stale");
    report("site table", samples);

    // To time other SQL against the seeded fleet (psql's `\timing`) before it is dropped.
    if let Some(secs) = std::env::var("ALERTS_BENCH_PAUSE_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        println!("pausing {secs} s; database: {}", db.url);
        tokio::time::sleep(StdDuration::from_secs(secs)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "seeds 100,000 assets; run by hand for BENCHMARKS.md"]
async fn alerts_at_fleet_scale_sqlite() {
    println!("--- sqlite");
    measure(TestDb::sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "seeds 100,000 assets; run by hand for BENCHMARKS.md"]
async fn alerts_at_fleet_scale_postgres() {
    if let Some(db) = TestDb::postgres().await {
        println!("--- postgres");
        measure(db).await;
    }
}
