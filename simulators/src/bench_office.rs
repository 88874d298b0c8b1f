//! `fieldops-sim bench-office`: the rental office at scale (BENCHMARKS.md, "Rental office"):
//! the nightly customer classification and the availability query at 10,000 customers and
//! 100,000 contracts.
//!
//! One run, one backend, in process (both are domain functions):
//!
//! 1. seeds a fresh database with a fleet in 4 categories (`domain::seed::seed_fleet`);
//! 2. baseline: seeds a tenth of the office (1,000 customers, 10,000 contracts over a tenth of
//!    the fleet, `domain::seed_office::office`) and times the nightly run over it;
//! 3. seeds the rest (over the rest of the fleet: each asset's contracts follow each other, so
//!    the bookings never overlap), refreshes the planner's statistics (`ANALYZE`, as autovacuum
//!    would on a live database) and times the nightly run at full size — each run is the whole
//!    classification in one transaction, as the clock runs it (reads, scoring, writes, audit);
//! 4. times the availability query (`contracts::availability::query`, what
//!    `GET /api/v1/availability` answers: the assets of a category
//!    with no live booking overlapping two weeks from today) next to its baseline, the same
//!    category's assets read without the booking test;
//! 5. prints one markdown table: p50 / p99 / max over the repetitions.

use std::time::Instant;

use anyhow::{Context, Result};
use chrono::{Duration, Utc};
use clap::Args;
use domain::seed::{self, FleetSeed};
use domain::seed_office::{self, OfficeSeed};
use domain::{classification, Actor, Store, StoreOptions};

#[derive(Debug, Args)]
pub struct BenchOfficeArgs {
    /// Database: `sqlite://PATH` or `postgres://…/DB`; must be fresh (it is seeded here).
    #[arg(long)]
    database: String,
    /// Customers at full size (a tenth of them, and of the contracts, is the baseline).
    #[arg(long, default_value_t = 10_000)]
    customers: usize,
    /// Contracts at full size.
    #[arg(long, default_value_t = 100_000)]
    contracts: usize,
    /// Assets (in 4 categories).
    #[arg(long, default_value_t = 20_000)]
    assets: usize,
    /// Nightly runs timed at each size.
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Availability queries timed (and as many baseline reads).
    #[arg(long, default_value_t = 50)]
    queries: usize,
}

/// p50, p99 and max of `secs`, in milliseconds (nearest rank).
fn quantiles(mut secs: Vec<f64>) -> (f64, f64, f64) {
    secs.sort_by(f64::total_cmp);
    let at = |q: f64| {
        let i = ((q * secs.len() as f64).ceil() as usize).clamp(1, secs.len()) - 1;
        secs[i] * 1e3
    };
    (at(0.5), at(0.99), secs[secs.len() - 1] * 1e3)
}

async fn time_runs(store: &Store, runs: usize) -> Result<(Vec<f64>, u64)> {
    let mut secs = Vec::with_capacity(runs);
    let mut customers = 0;
    for _ in 0..runs {
        let start = Instant::now();
        let summary = classification::run(store, &Actor::system(), Utc::now()).await?;
        secs.push(start.elapsed().as_secs_f64());
        customers = summary.customers;
    }
    Ok((secs, customers))
}

pub async fn run(args: BenchOfficeArgs) -> Result<std::process::ExitCode> {
    anyhow::ensure!(
        args.runs > 0 && args.queries > 0,
        "--runs and --queries must be positive"
    );
    anyhow::ensure!(args.assets >= 40, "--assets must be at least 40");
    let store = Store::connect(&args.database, &StoreOptions::default())
        .await
        .context("opening the database")?;
    store.migrate().await?;
    let backend = store.backend().as_str();
    let actor = Actor::system();
    eprintln!(
        "seeding {} assets in 4 categories on {backend}…",
        args.assets
    );
    let mut assets = Vec::with_capacity(args.assets);
    let mut categories = Vec::new();
    for (i, prefix) in ["OA", "OB", "OC", "OD"].into_iter().enumerate() {
        let n = args.assets / 4 + usize::from(i < args.assets % 4);
        let fleet = seed::seed_fleet(
            &store,
            &actor,
            &FleetSeed {
                assets: n,
                code_prefix: prefix.into(),
                device_prefix: format!("{}-", prefix.to_lowercase()),
                password_hash: domain::secrets::hash_device_password("bench-office"),
                depots: vec![("Office depot".into(), 48.1, 11.5)],
            },
        )
        .await?;
        categories.push(fleet.category_id);
        // Interleaved, so both parts of the office rent every category.
        assets.push(
            fleet
                .devices
                .into_iter()
                .map(|(_, a)| a)
                .collect::<Vec<_>>(),
        );
    }
    let assets: Vec<uuid::Uuid> = (0..assets.iter().map(Vec::len).max().unwrap_or(0))
        .flat_map(|i| assets.iter().filter_map(move |c| c.get(i).copied()))
        .collect();
    let today = Utc::now().date_naive();
    let tenth = |n: usize| n / 10;
    let (base_assets, rest_assets) = assets.split_at(tenth(assets.len()).max(4));

    eprintln!(
        "seeding the baseline office: {} customers, {} contracts…",
        tenth(args.customers),
        tenth(args.contracts)
    );
    let seed_start = Instant::now();
    seed_office::office(
        &store,
        &actor,
        &OfficeSeed {
            customers: tenth(args.customers),
            contracts: tenth(args.contracts),
            assets: base_assets.to_vec(),
            categories: categories.clone(),
            today,
            rng_seed: 1,
        },
    )
    .await?;
    seed_office::analyze(&store).await?;
    let base_seed_secs = seed_start.elapsed().as_secs_f64();
    eprintln!("timing {} nightly runs…", args.runs);
    let (base_runs, base_customers) = time_runs(&store, args.runs).await?;

    let rest_customers = args.customers - tenth(args.customers);
    let rest_contracts = args.contracts - tenth(args.contracts);
    eprintln!("seeding the rest: {rest_customers} customers, {rest_contracts} contracts…");
    let seed_start = Instant::now();
    seed_office::office(
        &store,
        &actor,
        &OfficeSeed {
            customers: rest_customers,
            contracts: rest_contracts,
            assets: rest_assets.to_vec(),
            categories: categories.clone(),
            today,
            rng_seed: 2,
        },
    )
    .await?;
    // Statistics as a live database has them (autovacuum has not run on a fresh bulk load).
    seed_office::analyze(&store).await?;
    let rest_seed_secs = seed_start.elapsed().as_secs_f64();
    eprintln!("timing {} nightly runs…", args.runs);
    let (full_runs, full_customers) = time_runs(&store, args.runs).await?;

    let category = categories[0];
    let (from, to) = (today, today + Duration::days(14));
    let mut avail = Vec::with_capacity(args.queries);
    let mut base = Vec::with_capacity(args.queries);
    let (mut free, mut total) = (0, 0);
    for _ in 0..args.queries {
        let start = Instant::now();
        free = domain::contracts::availability::query(&store, category, from, to)
            .await?
            .assets
            .len();
        avail.push(start.elapsed().as_secs_f64());
        let start = Instant::now();
        total = seed_office::category_assets(&store, category).await?.len();
        base.push(start.elapsed().as_secs_f64());
    }

    println!("| backend | measurement | rows | runs | p50 ms | p99 ms | max ms |");
    println!("|---|---|---:|---:|---:|---:|---:|");
    let rows = [
        (
            format!(
                "baseline: nightly classification, {} customers / {} contracts",
                tenth(args.customers),
                tenth(args.contracts)
            ),
            base_customers as usize,
            base_runs,
        ),
        (
            format!(
                "nightly classification, {} customers / {} contracts",
                args.customers, args.contracts
            ),
            full_customers as usize,
            full_runs,
        ),
        (
            format!("baseline: the category's assets ({total}), no booking test"),
            total,
            base,
        ),
        (
            "availability: free assets of a category for 14 days".to_owned(),
            free,
            avail,
        ),
    ];
    for (what, n, secs) in rows {
        let runs = secs.len();
        let (p50, p99, max) = quantiles(secs);
        println!("| {backend} | {what} | {n} | {runs} | {p50:.1} | {p99:.1} | {max:.1} |");
    }
    eprintln!(
        "seeding took {base_seed_secs:.1} s (baseline) and {rest_seed_secs:.1} s (the rest); \
         p99 over {} runs is their maximum",
        args.runs
    );
    Ok(std::process::ExitCode::SUCCESS)
}
