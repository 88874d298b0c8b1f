//! Store-level ingest benchmark: `Ingestor::ingest` alone (no broker, no decoding) on random
//! readings from a seeded fleet, to measure what one ingest design costs the database.
//!
//!   cargo run --release -p domain --example ingest_store
//!
//! Environment: URL (default: a fresh SQLite file in a temporary directory; a PostgreSQL URL
//! must name an empty database, or one this example seeded before, which is reused), and the
//! positive counts ASSETS (100000), MSGS (200000) and BATCH (1000); PLANS=1 puts the fresh fleet
//! under three service plans first (`domain::seed::service_plans`), so ingest evaluates the
//! maintenance thresholds of every asset it touches (the cost the variable isolates). Results are
//! in BENCHMARKS.md ("Store-level ingest").
use std::error::Error;
use std::time::Instant;

use chrono::{Duration, Utc};
use domain::telemetry::{IngestOptions, Ingestor, Message, MessageKind};
use mobile_shared::telemetry::Reading;
use rand::Rng;

/// CPU seconds (user + system) this process used so far.
fn cpu() -> Result<f64, Box<dyn Error>> {
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    // Fields after the command name (which may hold spaces): utime and stime are the 12th and
    // 13th, in clock ticks (100 per second on Linux).
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks = |i: usize| -> Result<f64, Box<dyn Error>> {
        Ok(fields
            .get(i)
            .ok_or("short /proc/self/stat")?
            .parse::<f64>()?)
    };
    Ok((ticks(11)? + ticks(12)?) / 100.0)
}

/// A positive count from the environment, or `default` when unset.
fn env_count(name: &str, default: usize) -> Result<usize, Box<dyn Error>> {
    match std::env::var(name) {
        Err(_) => Ok(default),
        Ok(v) => match v.parse::<usize>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(format!("{name} must be a positive whole number, not `{v}`").into()),
        },
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn Error>> {
    let dir = tempfile::tempdir()?;
    let url = std::env::var("URL")
        .unwrap_or_else(|_| format!("sqlite://{}", dir.path().join("ingest.db").display()));
    let assets: usize = env_count("ASSETS", 100_000)?;
    let msgs: usize = env_count("MSGS", 200_000)?;
    let batch: usize = env_count("BATCH", 1000)?;
    let store = domain::Store::connect(&url, &domain::StoreOptions::default()).await?;
    store.migrate().await?;
    if !domain::seed::has_assets(&store).await? {
        let t = Instant::now();
        let fleet = domain::seed::seed_fleet(
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
        .await?;
        eprintln!(
            "seeded {assets} assets in {:.1} s",
            t.elapsed().as_secs_f64()
        );
        if std::env::var("PLANS").is_ok_and(|v| v == "1") {
            let laid =
                domain::seed::service_plans(&store, &domain::Actor::cli(), fleet.category_id)
                    .await?;
            eprintln!("3 service plans, {laid} maintenance thresholds");
        }
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
    let (t, c) = (Instant::now(), cpu()?);
    let mut applied = 0;
    for b in all.chunks(batch) {
        applied += ing.ingest(b).await?.applied;
    }
    let (wall, cp) = (t.elapsed().as_secs_f64(), cpu()? - c);
    println!(
        "{} readings in batches of {batch}: {applied} applied in {wall:.2} s = {:.0} readings/s, \
         {:.1} µs CPU per reading (this process; a PostgreSQL server's CPU is not included)",
        all.len(),
        applied as f64 / wall,
        cp * 1e6 / applied as f64
    );
    store.close().await;
    Ok(())
}
