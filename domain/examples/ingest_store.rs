//! Store-level ingest benchmark: `Ingestor::ingest` alone (no broker, no decoding) on random
//! readings from a seeded fleet, to measure what one ingest design costs the database.
//!
//!   cargo run --release -p domain --example ingest_store
//!
//! Environment: URL (default: a fresh SQLite file in a temporary directory; a PostgreSQL URL
//! must name an empty database; one this example seeded before is reused), ASSETS (100000), MSGS (200000), BATCH (1000). Results are in
//! BENCHMARKS.md ("Store-level ingest").
#![allow(clippy::unwrap_used, clippy::expect_used)]
use std::time::Instant;

use chrono::{Duration, Utc};
use domain::telemetry::{IngestOptions, Ingestor, Message, MessageKind};
use mobile_shared::telemetry::Reading;
use rand::Rng;

/// CPU seconds (user + system) this process used so far.
fn cpu() -> f64 {
    let s = std::fs::read_to_string("/proc/self/stat").unwrap();
    let f: Vec<&str> = s.rsplit(')').next().unwrap().split_whitespace().collect();
    (f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap()) / 100.0
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    let url = std::env::var("URL")
        .unwrap_or_else(|_| format!("sqlite://{}", dir.path().join("ingest.db").display()));
    let assets: usize = std::env::var("ASSETS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let msgs: usize = std::env::var("MSGS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let batch: usize = std::env::var("BATCH")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let store = domain::Store::connect(&url, &domain::StoreOptions::default())
        .await
        .unwrap();
    store.migrate().await.unwrap();
    if !domain::seed::has_assets(&store).await.unwrap() {
        let t = Instant::now();
        domain::seed::seed_fleet(
            &store,
            &domain::Actor::cli(),
            &domain::seed::FleetSeed {
                assets,
                code_prefix: "P".into(),
                device_prefix: "trk".into(),
                password_hash: domain::secrets::hash_device_password("pw"),
                depots: vec![("d".into(), 48.2, 11.5)],
            },
        )
        .await
        .unwrap();
        eprintln!(
            "seeded {assets} assets in {:.1} s",
            t.elapsed().as_secs_f64()
        );
    }
    let ing = Ingestor::new(
        store.clone(),
        domain::events::EventBus::new(16),
        IngestOptions::default(),
    );
    let mut rng = rand::thread_rng();
    let base = Utc::now() - Duration::hours(1);
    let mut all = Vec::with_capacity(msgs);
    for i in 0..msgs {
        let d = rng.gen_range(1..=assets);
        let mut r = Reading::at(base + Duration::microseconds(i as i64 * 10));
        r.lat = Some(48.0 + rng.gen::<f64>() * 0.3);
        r.lon = Some(11.4 + rng.gen::<f64>() * 0.3);
        r.speed_kmh = Some(rng.gen::<f64>() * 50.0);
        r.heading_deg = Some(rng.gen::<f64>() * 360.0);
        r.engine_hours = Some(100.0 + i as f64 * 0.001);
        r.odometer_km = Some(1000.0 + i as f64 * 0.01);
        r.ignition = Some(true);
        r.battery_v = Some(12.6);
        all.push(Message {
            topic: format!("fieldops/v1/trk{d:06}/telemetry"),
            received_at: Utc::now(),
            kind: MessageKind::Readings {
                device_id: format!("trk{d:06}"),
                readings: vec![r],
            },
        });
    }
    let (t, c) = (Instant::now(), cpu());
    let mut applied = 0;
    for b in all.chunks(batch) {
        applied += ing.ingest(b).await.unwrap().applied;
    }
    let (wall, cp) = (t.elapsed().as_secs_f64(), cpu() - c);
    println!(
        "{} readings in batches of {batch}: {applied} applied in {wall:.2} s = {:.0} readings/s, \
         {:.1} µs CPU per reading (this process; a PostgreSQL server's CPU is not included)",
        all.len(),
        applied as f64 / wall,
        cp * 1e6 / applied as f64
    );
}
