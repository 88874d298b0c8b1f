//! `fieldops demo`: `serve` plus a demo fleet and simulated trackers, so a newcomer sees assets
//! move on the map, hours advance and geofences fire within seconds of starting.

use std::future::Future;
use std::path::Path;

use anyhow::Context;
use domain::seed::{self, FleetSeed};
use domain::{Actor, Store};
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
