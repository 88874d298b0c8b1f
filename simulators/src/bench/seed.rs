//! Seeding: the benchmark fleet (assets with bound trackers sharing one password), created once
//! per database and recognised on later runs.

use std::time::Instant;

use anyhow::{bail, Context, Result};

use super::{progress, BenchIngestArgs};

/// Seeds the benchmark fleet unless this database already holds it; refuses a database holding
/// other assets.
pub(super) async fn seed(args: &BenchIngestArgs, device_ids: &[String]) -> Result<()> {
    let redacted = domain::store::redact_url(&args.database);
    let store = domain::Store::connect(&args.database, &domain::StoreOptions::default())
        .await
        .with_context(|| format!("opening {redacted}"))?;
    let result = seed_on(&store, args, device_ids).await;
    store.close().await;
    result.with_context(|| format!("seeding {redacted}"))
}

async fn seed_on(
    store: &domain::Store,
    args: &BenchIngestArgs,
    device_ids: &[String],
) -> Result<()> {
    store.migrate().await?;
    let last = device_ids.last().context("no devices")?;
    if domain::devices::verify_credentials(store, last, &args.device_password).await? {
        progress(format!(
            "database already holds the fleet (tracker {last} with the bench password); not seeding"
        ));
        return Ok(());
    }
    if domain::seed::has_assets(store).await? {
        bail!(
            "the database holds assets but not this benchmark's fleet (no tracker {last} with \
             the bench password): use a fresh database"
        );
    }
    let started = Instant::now();
    let seed = domain::seed::FleetSeed {
        assets: args.assets,
        code_prefix: args.code_prefix.clone(),
        device_prefix: args.device_prefix.clone(),
        // One hash for the whole fleet, in the format trackers are stored in (Mosquitto `$7$`).
        password_hash: domain::secrets::hash_device_password(&args.device_password),
        depots: vec![
            ("Bench depot north".to_owned(), 48.2082, 11.5755),
            ("Bench depot east".to_owned(), 48.1351, 11.6520),
            ("Bench depot south".to_owned(), 48.0833, 11.5404),
            ("Bench depot west".to_owned(), 48.1458, 11.4600),
        ],
    };
    let seeded = domain::seed::seed_fleet(store, &domain::Actor::cli(), &seed).await?;
    if seeded.devices.last().map(|(id, _)| id) != Some(last) {
        bail!("seed_fleet did not create the expected tracker ids (last should be {last})");
    }
    progress(format!(
        "seeded {} assets with trackers in {:.1} s",
        seeded.devices.len(),
        started.elapsed().as_secs_f64()
    ));
    let started = Instant::now();
    let thresholds =
        domain::seed::service_plans(store, &domain::Actor::cli(), seeded.category_id).await?;
    progress(format!(
        "3 service plans over the fleet, {thresholds} ingest thresholds laid in {:.1} s",
        started.elapsed().as_secs_f64()
    ));
    Ok(())
}
