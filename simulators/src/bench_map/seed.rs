//! The map benchmark's fleet: N assets with trackers over a country (Germany), clustered around
//! twelve cities, each city with a fenced depot and a customer site; most assets in their depot's
//! fence, many on rent around the city or out on rural job sites, a few off-site without a
//! delivery, some with stale positions or silent trackers; three service plans over the fleet.
//! Written set-based (`domain::seed::seed_fleet`, `domain::seed::place_fleet`): seconds at
//! 100,000 assets.

use std::time::Instant;

use anyhow::{bail, Context, Result};
use chrono::{DateTime, Duration, Utc};
use mobile_shared::wire::{LatLon, NewSite, NewUser, SiteKind};
use mobile_shared::{AssetStatus, Role};
use uuid::Uuid;

use super::progress;

/// The benchmark's console and API user (an admin: the service-due list needs maintenance read).
pub(super) const USERNAME: &str = "bench-map";
/// Asset codes are `BM-000001`…, trackers `bm-000001`….
const CODE_PREFIX: &str = "BM";
const DEVICE_PREFIX: &str = "bm-";

/// Cities the fleet clusters around (name, lat, lon).
pub(super) const CITIES: [(&str, f64, f64); 12] = [
    ("Berlin", 52.5200, 13.4050),
    ("Hamburg", 53.5511, 9.9937),
    ("Munich", 48.1374, 11.5755),
    ("Cologne", 50.9375, 6.9603),
    ("Frankfurt", 50.1109, 8.6821),
    ("Stuttgart", 48.7758, 9.1829),
    ("Dusseldorf", 51.2277, 6.7735),
    ("Leipzig", 51.3397, 12.3731),
    ("Dresden", 51.0504, 13.7373),
    ("Hanover", 52.3759, 9.7320),
    ("Nuremberg", 49.4521, 11.0767),
    ("Bremen", 53.0793, 8.8017),
];

/// The country the off-site and rural assets are spread over: (min lon, min lat, max lon,
/// max lat), Germany's bounding box.
pub(super) const COUNTRY: (f64, f64, f64, f64) = (5.9, 47.3, 15.0, 55.0);

/// What the seeding made that the run refers to.
#[derive(Debug, Clone)]
pub(super) struct Seeded {
    /// Tracker ids in creation order (`bm-000001`…).
    pub device_ids: Vec<String>,
    /// An asset on rent near a city: the one the drawer screenshot opens.
    pub drawer_asset: Option<Uuid>,
    /// How many of each kind were placed (for the report).
    pub summary: String,
}

/// Seeds a fresh database; refuses one that already holds assets.
pub(super) async fn seed(
    database: &str,
    assets: usize,
    user_password: &str,
    device_password: &str,
    rng_seed: u64,
) -> Result<Seeded> {
    let redacted = domain::store::redact_url(database);
    let store = domain::Store::connect(database, &domain::StoreOptions::default())
        .await
        .with_context(|| format!("opening {redacted}"))?;
    let result = seed_on(&store, assets, user_password, device_password, rng_seed).await;
    store.close().await;
    result.with_context(|| format!("seeding {redacted}"))
}

async fn seed_on(
    store: &domain::Store,
    assets: usize,
    user_password: &str,
    device_password: &str,
    rng_seed: u64,
) -> Result<Seeded> {
    store.migrate().await?;
    if domain::seed::has_assets(store).await? {
        bail!("the database already holds assets: bench-map needs a fresh one");
    }
    let started = Instant::now();
    let actor = domain::Actor::cli();
    let fleet = domain::seed::FleetSeed {
        assets,
        code_prefix: CODE_PREFIX.into(),
        device_prefix: DEVICE_PREFIX.into(),
        // One throwaway credential for the whole fleet: the publisher logs in with it.
        password_hash: domain::secrets::hash_device_password(device_password),
        depots: CITIES
            .iter()
            .map(|(name, lat, lon)| (format!("Depot {name}"), *lat, *lon))
            .collect(),
    };
    let seeded = domain::seed::seed_fleet(store, &actor, &fleet).await?;
    let mut customers = Vec::with_capacity(CITIES.len());
    for (name, lat, lon) in CITIES {
        let site = domain::sites::create(
            store,
            &actor,
            NewSite {
                name: format!("Building site {name}"),
                kind: SiteKind::CustomerSite,
                customer_id: None,
                address: None,
                location: Some(LatLon {
                    lat: lat + 0.04,
                    lon: lon + 0.05,
                }),
                geofence: None,
            },
        )
        .await?;
        customers.push(site.id);
    }
    domain::users::create(
        store,
        &actor,
        NewUser {
            username: USERNAME.into(),
            password: user_password.to_owned(),
            role: Role::Admin,
            email: None,
        },
    )
    .await?;
    let now = Utc::now();
    let mut counts = Counts::default();
    // seed_fleet gives asset i (1-based) the depot i % depots: keep it as the asset's city.
    let placements: Vec<domain::seed::Placement> = seeded
        .devices
        .iter()
        .enumerate()
        .map(|(k, (_, asset_id))| {
            let city = (k + 1) % CITIES.len();
            let p = placement(
                *asset_id,
                city,
                seeded.site_ids[city],
                customers[city],
                now,
                rng_seed ^ (k as u64),
            );
            counts.add(&p, now);
            p
        })
        .collect();
    let drawer_asset = placements
        .iter()
        .find(|p| p.status == AssetStatus::OnRent && !p.tracker_silent)
        .map(|p| p.asset_id);
    domain::seed::place_fleet(store, &actor, &placements).await?;
    progress(format!(
        "seeded and placed {} assets in {:.1} s: {}",
        placements.len(),
        started.elapsed().as_secs_f64(),
        counts.describe()
    ));
    let started = Instant::now();
    let thresholds = domain::seed::service_plans(store, &actor, seeded.category_id).await?;
    progress(format!(
        "3 service plans over the fleet ({thresholds} thresholds) in {:.1} s",
        started.elapsed().as_secs_f64()
    ));
    Ok(Seeded {
        device_ids: seeded.devices.into_iter().map(|(id, _)| id).collect(),
        drawer_asset,
        summary: counts.describe(),
    })
}

#[derive(Debug, Default)]
struct Counts {
    in_depot: usize,
    on_rent: usize,
    off_site: usize,
    stale: usize,
    silent: usize,
}

impl Counts {
    fn add(&mut self, p: &domain::seed::Placement, now: DateTime<Utc>) {
        if p.pos_at < now - Duration::days(1) {
            self.stale += 1;
        }
        if p.geofence_site_id.is_some() {
            self.in_depot += 1;
        } else if p.status == AssetStatus::OnRent {
            self.on_rent += 1;
        } else {
            self.off_site += 1;
        }
        if p.tracker_silent {
            self.silent += 1;
        }
    }

    fn describe(&self) -> String {
        format!(
            "{} in a depot fence, {} on rent, {} off-site, {} stale positions, {} silent trackers",
            self.in_depot, self.on_rent, self.off_site, self.stale, self.silent
        )
    }
}

/// splitmix64: a reproducible stream of random numbers per asset without a shared RNG.
fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = x;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Uniform numbers in [0, 1) from one seed.
struct Uniform(u64);

impl Uniform {
    fn next(&mut self) -> f64 {
        self.0 = splitmix64(self.0);
        // The top 53 bits: exactly representable in an f64.
        (self.0 >> 11) as f64 / (1_u64 << 53) as f64
    }
}

/// A point at `dist_m` metres from (lat, lon) in the direction `angle` (radians): flat-earth
/// offsets, fine at city scale.
fn offset(lat: f64, lon: f64, dist_m: f64, angle: f64) -> (f64, f64) {
    let dlat = dist_m * angle.cos() / 111_320.0;
    let dlon = dist_m * angle.sin() / (111_320.0 * lat.to_radians().cos());
    (lat + dlat, lon + dlon)
}

/// Where asset `asset_id` of `city` is: 50 % in the depot's 300 m fence (most available, some
/// in maintenance or out of service), 35 % on rent within 25 km of the city, 10 % on rent on
/// rural job sites anywhere in the country, 5 % off-site (available, outside every fence). 3 %
/// of positions are three days old (stale), 2 % of trackers silent since six hours.
fn placement(
    asset_id: Uuid,
    city: usize,
    depot: Uuid,
    customer: Uuid,
    now: DateTime<Utc>,
    seed: u64,
) -> domain::seed::Placement {
    let mut u = Uniform(seed);
    let (_, clat, clon) = CITIES[city];
    let (kind, angle, dist, status_roll) = (
        u.next(),
        u.next() * std::f64::consts::TAU,
        u.next(),
        u.next(),
    );
    let (lon0, lat0, lon1, lat1) = COUNTRY;
    let anywhere = (
        lat0 + u.next() * (lat1 - lat0),
        lon0 + u.next() * (lon1 - lon0),
    );
    let (status, site_id, (lat, lon), fence) = if kind < 0.50 {
        let status = if status_roll < 0.08 {
            AssetStatus::InMaintenance
        } else if status_roll < 0.11 {
            AssetStatus::OutOfService
        } else {
            AssetStatus::Available
        };
        // Within 200 m of the depot's centre: inside its 300 m fence.
        let pos = offset(clat, clon, dist * 200.0, angle);
        (status, Some(depot), pos, Some(depot))
    } else if kind < 0.85 {
        // Denser near the centre: distance grows with the square of a uniform number.
        let pos = offset(clat, clon, 1_000.0 + dist * dist * 24_000.0, angle);
        (AssetStatus::OnRent, Some(customer), pos, None)
    } else if kind < 0.95 {
        (AssetStatus::OnRent, Some(customer), anywhere, None)
    } else {
        (AssetStatus::Available, Some(depot), anywhere, None)
    };
    let (stale_roll, silent_roll, age_roll) = (u.next(), u.next(), u.next());
    let tracker_silent = silent_roll < 0.02;
    let age = if stale_roll < 0.03 {
        Duration::days(3)
    } else if tracker_silent {
        Duration::hours(6)
    } else {
        // Fresh: within the last 5 minutes. The server's silence watch marks a tracker quiet
        // for 15 (the default) offline, so older "fresh" positions would turn stale mid-run.
        Duration::seconds((age_roll * 300.0) as i64)
    };
    domain::seed::Placement {
        asset_id,
        status,
        site_id,
        lat,
        lon,
        pos_at: now - age,
        geofence_site_id: fence,
        tracker_silent,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn placements_are_in_the_country_and_depot_ones_inside_the_fence() {
        let now = Utc::now();
        let (depot, customer) = (Uuid::new_v4(), Uuid::new_v4());
        let mut on_rent = 0;
        for i in 0..2_000_u64 {
            let p = placement(Uuid::new_v4(), (i % 12) as usize, depot, customer, now, i);
            let (lon0, lat0, lon1, lat1) = COUNTRY;
            // City clusters reach 25 km past a city, which stays within a degree of the box.
            assert!(
                p.lat > lat0 - 1.0
                    && p.lat < lat1 + 1.0
                    && p.lon > lon0 - 1.0
                    && p.lon < lon1 + 1.0
            );
            if p.geofence_site_id.is_some() {
                let (_, clat, clon) = CITIES[(i % 12) as usize];
                let dy = (p.lat - clat) * 111_320.0;
                let dx = (p.lon - clon) * 111_320.0 * clat.to_radians().cos();
                assert!(dx.hypot(dy) <= 300.0, "a depot asset outside the fence");
            }
            if p.status == AssetStatus::OnRent {
                on_rent += 1;
                assert_eq!(p.site_id, Some(customer));
            }
        }
        assert!((800..1_100).contains(&on_rent), "{on_rent} of 2000 on rent");
    }
}
