//! `fieldops-sim bench-maintenance`: the clock's maintenance sweeps at fleet scale (BENCHMARKS.md,
//! "Maintenance sweep").
//!
//! One run, one backend, in process (the sweeps are domain functions the clock calls):
//!
//! 1. seeds a fresh database with N assets in one category (`domain::seed::seed_fleet`), moves
//!    their meters forward at random (0–5,000 h, 0–80,000 km), and creates three category plans
//!    — 250 h with nested 500 h / 1000 h services, a yearly inspection, 10,000 km — so every
//!    asset has 3 plans (their creation writes 3 × N baselines: timed);
//! 2. moves the meters forward again (0–260 h, 0–11,000 km), so part of the fleet enters a lead
//!    window or passes a due point;
//! 3. times, each in its own transaction as the clock runs it:
//!    - baseline: reading the whole fleet through the asset list (pages of 500), the least any
//!      sweep over the fleet must do;
//!    - the daily sweep (`forecast::daily_sweep`: N meter snapshots, baseline check);
//!    - the orders sweep over the whole fleet (`orders::open_due`) when it opens the orders of
//!      everything in its lead, then again when there is nothing new to open;
//!    - one clock tick of the orders rule: the slice of the rolling sweep the clock runs each
//!      minute (median of 5 ticks);
//! 4. prints one markdown table.

use std::time::Instant;

use anyhow::{Context, Result};
use chrono::Utc;
use clap::Args;
use domain::maintenance::{forecast, orders, plans};
use domain::seed::{self, FleetSeed};
use domain::{Actor, PageRequest, Store, StoreOptions};
use mobile_shared::maintenance::{Interval, Metric, NewPlan, PlanService};

#[derive(Debug, Args)]
pub struct BenchMaintenanceArgs {
    /// Database: `sqlite://PATH` or `postgres://…/DB`; must be fresh (it is seeded here).
    #[arg(long)]
    database: String,
    /// Assets to seed.
    #[arg(long, default_value_t = 100_000)]
    assets: usize,
}

fn plan(name: &str, category: uuid::Uuid, metric: Metric, every: u32) -> NewPlan {
    NewPlan {
        name: name.into(),
        category_id: Some(category),
        asset_id: None,
        intervals: vec![Interval { metric, every }],
        lead_days: None,
        lead_hours: (metric == Metric::EngineHours).then_some(25),
        anchor: None,
        services: (metric == Metric::EngineHours).then(|| {
            PlanService::nested(&[
                ("250 h service", 1),
                ("500 h service", 2),
                ("1000 h service", 4),
            ])
        }),
        starts_on: None,
    }
}

/// Runs `f` and answers its value with the seconds it took.
async fn timed<T>(f: impl std::future::Future<Output = Result<T>>) -> Result<(T, f64)> {
    let start = Instant::now();
    let value = f.await?;
    Ok((value, start.elapsed().as_secs_f64()))
}

pub async fn run(args: BenchMaintenanceArgs) -> Result<std::process::ExitCode> {
    let store = Store::connect(&args.database, &StoreOptions::default())
        .await
        .context("opening the database")?;
    store.migrate().await?;
    let backend = store.backend().as_str();
    let actor = Actor::system();
    eprintln!("seeding {} assets on {backend}…", args.assets);
    let fleet = seed::seed_fleet(
        &store,
        &actor,
        &FleetSeed {
            assets: args.assets,
            code_prefix: "BM".into(),
            device_prefix: "bm-".into(),
            password_hash: domain::secrets::hash_device_password("bench-maintenance"),
            depots: vec![("Bench depot".into(), 48.1, 11.5)],
        },
    )
    .await?;
    seed::advance_meters(&store, 5_000, 80_000).await?;
    let category = fleet.category_id;
    let (_, plans_secs) = timed(async {
        for (name, metric, every) in [
            ("Engine service", Metric::EngineHours, 250),
            ("Yearly inspection", Metric::Days, 365),
            ("Chassis 10,000 km", Metric::OdometerKm, 10_000),
        ] {
            plans::create(&store, &actor, plan(name, category, metric, every)).await?;
        }
        Ok(())
    })
    .await?;
    seed::advance_meters(&store, 260, 11_000).await?;

    let (read, read_secs) = timed(async {
        let mut n = 0usize;
        let mut cursor: Option<String> = None;
        loop {
            let page = PageRequest::new(Some(500), cursor.as_deref())?;
            let got =
                domain::assets::list(&store, &domain::assets::AssetFilter::default(), page).await?;
            n += got.items.len();
            match got.next_cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        Ok(n)
    })
    .await?;
    let now = Utc::now();
    let sweep = |open: bool| {
        let store = store.clone();
        async move {
            let mut tx = store.begin().await?;
            let n = if open {
                orders::open_due(&store, &mut tx, now).await?
            } else {
                forecast::daily_sweep(&mut tx, now).await?
            };
            tx.commit().await?;
            anyhow::Ok(n)
        }
    };
    let (snapshots, daily_secs) = timed(sweep(false)).await?;
    let (opened, first_secs) = timed(sweep(true)).await?;
    let (again, steady_secs) = timed(sweep(true)).await?;
    // What the clock really runs each minute: one slice of the rolling sweep, through the
    // scheduler (mark, run log and the slice's transaction included).
    let clock =
        domain::schedule::Scheduler::new(store.clone(), "bench").with_rule(orders::OrdersRule {
            store: store.clone(),
        });
    clock.tick(now).await;
    let mut tick_secs = Vec::new();
    for minute in 1..=5 {
        let at = now + chrono::Duration::minutes(minute);
        let ((), secs) = timed(async {
            let report = clock.tick(at).await;
            anyhow::ensure!(report.errors.is_empty(), "{:?}", report.errors);
            Ok(())
        })
        .await?;
        tick_secs.push(secs);
    }
    tick_secs.sort_by(f64::total_cmp);
    let tick_median = tick_secs[tick_secs.len() / 2];

    let per = |secs: f64| secs * 1e6 / args.assets as f64;
    println!(
        "| backend | phase | rows written | seconds | µs per asset |\n|---|---|---:|---:|---:|"
    );
    let rows = [
        (
            "3 category plans created (baselines)",
            (3 * args.assets) as u64,
            plans_secs,
        ),
        (
            "baseline: read the fleet (asset list, pages of 500)",
            0,
            read_secs,
        ),
        ("daily sweep (meter snapshots)", snapshots, daily_secs),
        ("orders sweep, opening the due orders", opened, first_secs),
        ("orders sweep, whole fleet, nothing new", again, steady_secs),
    ];
    for (phase, written, secs) in rows {
        println!(
            "| {backend} | {phase} | {written} | {secs:.2} | {:.1} |",
            per(secs)
        );
    }
    let slice = orders::SWEEP_SLICE.min(args.assets);
    println!(
        "| {backend} | one clock tick of the orders rule ({slice} assets; median of 5) | 0 | \
         {tick_median:.2} | {:.1} |",
        tick_median * 1e6 / slice as f64
    );
    eprintln!(
        "read {read} assets; {opened} orders opened of {} asset-plans",
        3 * args.assets
    );
    Ok(std::process::ExitCode::SUCCESS)
}
