//! `fieldops demo`: `serve` plus a demo fleet and simulated trackers, so a newcomer sees assets
//! move on the map, hours advance and geofences fire within seconds of starting.

use std::future::Future;
use std::path::Path;

use anyhow::Context;
use domain::seed::{self, FleetSeed};
use domain::{Actor, Store};
use tracing::Instrument;
use tracker_sim::{run_fleet, DeviceCreds, FleetConfig};

/// Depots around Munich; the simulated machines drive between them.
const DEPOTS: [(&str, f64, f64); 4] = [
    ("Demo depot City", 48.1371, 11.5754),
    ("Demo depot Garching", 48.2489, 11.6532),
    ("Demo depot Planegg", 48.0840, 11.4300),
    ("Demo depot Allach", 48.1800, 11.4600),
];
const DEVICE_PREFIX: &str = "demo-";

fn device_id(i: usize) -> String {
    format!("{DEVICE_PREFIX}{i:06}")
}

/// The demo trackers' shared MQTT password: generated on first seeding and kept (mode 0600) in
/// the data dir, because the database holds only its hash and later runs must log in again.
fn demo_password(data_dir: &Path) -> anyhow::Result<(String, bool)> {
    let path = data_dir.join("demo-tracker-password");
    if let Ok(p) = std::fs::read_to_string(&path) {
        return Ok((p.trim().to_owned(), false));
    }
    let p = domain::secrets::random_token(18);
    std::fs::write(&path, &p).with_context(|| format!("writing {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok((p, true))
}

/// The demo's engine plan: 250 h with nested 500 h / 1000 h services, told 10 h ahead.
const DEMO_EVERY_HOURS: u32 = 250;

/// Two plans on the demo fleet's category: the engine service (returned) and a monthly safety
/// check on a fixed calendar grid that started 25 days ago (so every machine is inside its lead).
async fn demo_plans(store: &Store, category: uuid::Uuid) -> anyhow::Result<uuid::Uuid> {
    use mobile_shared::maintenance::{Anchor, Interval, Metric, NewPlan, PlanService};
    let engine = NewPlan {
        name: "Engine service".into(),
        category_id: Some(category),
        asset_id: None,
        intervals: vec![Interval {
            metric: Metric::EngineHours,
            every: DEMO_EVERY_HOURS,
        }],
        lead_days: None,
        lead_hours: Some(10),
        anchor: None,
        services: Some(PlanService::nested(&[
            ("250 h service", 1),
            ("500 h service", 2),
            ("1000 h service", 4),
        ])),
        starts_on: None,
    };
    let check = NewPlan {
        name: "Monthly safety check".into(),
        category_id: Some(category),
        asset_id: None,
        intervals: vec![Interval {
            metric: Metric::Days,
            every: 30,
        }],
        lead_days: Some(7),
        lead_hours: None,
        anchor: Some(Anchor::Fixed),
        services: None,
        starts_on: Some(domain::clock::now().date_naive() - chrono::Days::new(25)),
    };
    let actor = Actor::system();
    let engine = domain::maintenance::plans::create(store, &actor, engine).await?;
    domain::maintenance::plans::create(store, &actor, check).await?;
    Ok(engine.id)
}

/// Waits (up to a minute) until the demo trackers with an hour meter have reported it (the
/// count of assets with hours has stopped growing for 10 s, each tracker reporting about every
/// 5 s), then staggers the engine plan's baselines and opens the orders now due.
async fn stagger_when_reported(store: &Store, plan: uuid::Uuid) -> anyhow::Result<()> {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(2));
    let (mut last, mut stable) = (0, 0);
    for _ in 0..30 {
        tick.tick().await;
        let now = seed::assets_with_hours(store).await?;
        stable = if now > 0 && now == last {
            stable + 1
        } else {
            0
        };
        last = now;
        if stable >= 5 {
            break;
        }
    }
    let staggered = seed::stagger_baselines(store, plan, DEMO_EVERY_HOURS).await?;
    let mut tx = store.begin().await?;
    let opened =
        domain::maintenance::orders::open_due(store, &mut tx, domain::clock::now()).await?;
    tx.commit().await?;
    println!("fieldops demo: maintenance plans on {staggered} machines; {opened} work orders open");
    Ok(())
}

/// Seeds the demo fleet on an empty registry, then drives `trackers` simulated trackers through
/// the broker at `host:port` until `shutdown`.
pub async fn run(
    store: Store,
    data_dir: &Path,
    (host, port): (String, u16),
    trackers: usize,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let (password, fresh) = demo_password(data_dir)?;
    if !seed::has_assets(&store).await? {
        if !fresh {
            // The registry was emptied but the password file survived: a new hash for it.
            tracing::info!("re-seeding the demo fleet");
        }
        let seeded = seed::seed_fleet(
            &store,
            &Actor::system(),
            &FleetSeed {
                assets: trackers,
                code_prefix: "DEMO".into(),
                device_prefix: DEVICE_PREFIX.into(),
                password_hash: domain::secrets::hash_device_password(&password),
                depots: DEPOTS
                    .iter()
                    .map(|(n, lat, lon)| ((*n).to_owned(), *lat, *lon))
                    .collect(),
            },
        )
        .await
        .context("seeding the demo fleet")?;
        println!(
            "fieldops demo: created {} assets with trackers at {} depots",
            seeded.devices.len(),
            seeded.site_ids.len()
        );
        let assets: Vec<uuid::Uuid> = seeded.devices.iter().map(|(_, a)| *a).collect();
        let (customers, contracts) = crate::demo_office::seed(&store, &assets)
            .await
            .context("seeding the demo office")?;
        println!("fieldops demo: created {customers} customers and {contracts} contracts");
        let plan = demo_plans(&store, seeded.category_id).await?;
        // Once the trackers have reported their hour meters, spread the fleet over the engine
        // plan's interval so every urgency shows, and open the orders at once instead of at the
        // clock's next hourly sweep.
        let store = store.clone();
        tokio::spawn(
            async move {
                if let Err(e) = stagger_when_reported(&store, plan).await {
                    tracing::warn!(error = %e, "demo maintenance setup failed");
                }
            }
            .instrument(tracing::info_span!("demo_maintenance")),
        );
    }
    let devices: Vec<DeviceCreds> = (1..=trackers)
        .map(|i| DeviceCreds {
            device_id: device_id(i),
            username: Some(device_id(i)),
            password: Some(password.clone()),
        })
        .collect();
    let mut config = FleetConfig::new(host.clone(), port, devices);
    // Each tracker reports about every 5 s; a few go offline and flush their buffer later, and
    // a few messages are malformed so the reject table has something to show.
    config.rate_per_sec = (trackers as f64 / 5.0).max(1.0);
    config.sites = DEPOTS.iter().map(|(_, lat, lon)| (*lat, *lon)).collect();
    config.offline_share = 0.1;
    config.malformed_share = 0.01;
    config.random_order = true;
    println!("fieldops demo: {trackers} simulated trackers publishing to mqtt://{host}:{port}");
    let summary = run_fleet(config, shutdown).await?;
    tracing::info!(%summary, "demo fleet stopped");
    Ok(())
}
