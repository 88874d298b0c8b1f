//! Simulated technicians' phones driving the field-scan API over HTTP (`/api/v1/scans…`,
//! `/api/v1/stocktakes…`), the way the phone app does.
//!
//! One run logs in, discovers sites and available assets through the API, gives each phone its
//! own share of the assets (so the phones never contend for a machine by accident), and lets N
//! phones work concurrently, round after round:
//!
//! - **online rounds**: look the machine up by its code, deliver it to a customer site
//!   (contact, contract, the phone's position), inspect it there (notes, checklist, fuel, engine
//!   hours), sometimes read its hour meter, and return it to a depot or workshop — a few come
//!   back damaged and go to maintenance. A share of deliveries and returns carry a photo instead
//!   of a code: the asset's own label PNG (`/api/v1/assets/{id}/label.png`), sent as multipart,
//!   so the server finds the machine by decoding the QR code in the picture. Each phone's last
//!   delivery stays on rent.
//! - **offline rounds**: the same work queued on the phone (client-made UUIDv7 ids, the phone's
//!   clock as device time), photos uploaded first and referenced by SHA-256, flushed through
//!   `POST /api/v1/scans/batch` (≤ 1,000 a batch) when the phone is back in coverage. Sometimes
//!   the technician re-does a queued delivery online meanwhile, so the queued one arrives stale
//!   and must be answered `superseded` — a rejection by design, counted, not a failure.
//! - **duplicates**: a share of commands is sent again with the same id, as a phone does when an
//!   answer is lost (single commands at once, offline commands as a re-flushed batch); every
//!   re-send must be answered `duplicate` with the original outcome.
//! - **a stocktake** at one site once the rounds are done: RFID tags (GIAI-96 EPCs from
//!   [`mobile_shared::tag::encode_giai96`]) are attached to assets that have none, then bursts of
//!   hundreds of EPC reads — most of the site's machines, each read several times, a few
//!   machines recorded elsewhere, a few foreign tags — one burst replayed, and the report
//!   checked against what was read.
//!
//! The result is a [`PhoneSummary`] (applied / duplicate / rejected by reason per action, HTTP
//! errors, the stocktake's counts) plus what a test needs to compare with the server's state.

mod client;
mod discovery;
mod stocktake;
mod summary;
mod worker;

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use chrono::{DateTime, Utc};
use mobile_shared::scan::{FieldAction, FieldCommand};
use mobile_shared::wire::{Asset, LatLon};
use mobile_shared::AssetStatus;
use rand::rngs::StdRng;
use rand::SeedableRng;
use uuid::Uuid;

use client::{Http, HttpStats};
use discovery::{discover_assets, discover_sites, Sites};
pub use summary::{ActionTally, PhoneSummary, StocktakeSummary, Tallies, EXPECTED_REJECTIONS};
use worker::{Phone, PhoneOut};

/// Where positions go when a site has no location (central Munich, like the demo fleet).
const FALLBACK_POSITION: LatLon = LatLon {
    lat: 48.1374,
    lon: 11.5755,
};
/// How often the progress callback runs.
const PROGRESS_EVERY: Duration = Duration::from_millis(200);

/// Which site the stocktake counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StocktakeChoice {
    /// No stocktake.
    Off,
    /// The depot or workshop where most of the discovered assets are recorded.
    Auto,
    /// A site by id or by name (case-insensitive).
    Site(String),
}

impl FromStr for StocktakeChoice {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s.trim() {
            "auto" | "" => StocktakeChoice::Auto,
            "off" | "none" | "no" => StocktakeChoice::Off,
            other => StocktakeChoice::Site(other.to_owned()),
        })
    }
}

/// What to simulate, and against which server.
#[derive(Clone)]
pub struct PhoneConfig {
    /// Server base URL, e.g. `http://127.0.0.1:8080`.
    pub url: String,
    pub username: String,
    pub password: String,
    /// Concurrent simulated technicians.
    pub phones: usize,
    /// Delivery/return cycles per phone.
    pub rounds: usize,
    /// Share of deliveries and returns sent with a photo of the label instead of the code.
    pub photo_share: f64,
    /// Share of rounds done offline (queued, flushed later as a batch).
    pub offline_share: f64,
    /// Share of commands sent a second time with the same id.
    pub duplicate_share: f64,
    pub stocktake: StocktakeChoice,
    /// Most assets of the stocktake's site that are tagged and read.
    pub stocktake_assets: usize,
    pub seed: u64,
}

impl fmt::Debug for PhoneConfig {
    // By hand, so the password never reaches a log.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PhoneConfig")
            .field("url", &self.url)
            .field("username", &self.username)
            .field("phones", &self.phones)
            .field("rounds", &self.rounds)
            .field("photo_share", &self.photo_share)
            .field("offline_share", &self.offline_share)
            .field("duplicate_share", &self.duplicate_share)
            .field("stocktake", &self.stocktake)
            .field("stocktake_assets", &self.stocktake_assets)
            .field("seed", &self.seed)
            .finish_non_exhaustive()
    }
}

impl PhoneConfig {
    /// Defaults for everything but the server and the login: 4 phones × 10 rounds, 30 % photos,
    /// 30 % offline, 10 % duplicates, a stocktake at an automatically chosen site.
    pub fn new(
        url: impl Into<String>,
        username: impl Into<String>,
        password: impl Into<String>,
    ) -> PhoneConfig {
        PhoneConfig {
            url: url.into(),
            username: username.into(),
            password: password.into(),
            phones: 4,
            rounds: 10,
            photo_share: 0.3,
            offline_share: 0.3,
            duplicate_share: 0.1,
            stocktake: StocktakeChoice::Auto,
            stocktake_assets: 400,
            seed: 1,
        }
    }

    fn validate(&self) -> Result<()> {
        if self.phones == 0 || self.rounds == 0 {
            bail!("--phones and --rounds must be at least 1");
        }
        for (name, v) in [
            ("--photo-share", self.photo_share),
            ("--offline-share", self.offline_share),
            ("--duplicate-share", self.duplicate_share),
        ] {
            if !(0.0..=1.0).contains(&v) {
                bail!("{name} must be between 0 and 1, got {v}");
            }
        }
        Ok(())
    }
}

/// An applied deliver or return, as the simulation recorded it.
#[derive(Debug, Clone, PartialEq)]
pub struct StateChange {
    pub action: FieldAction,
    pub site_id: Uuid,
    pub device_time: DateTime<Utc>,
    /// The asset's status in the answer.
    pub status: AssetStatus,
}

/// A finished run: the summary, and what a test compares with the server.
#[derive(Debug, Clone)]
pub struct PhoneRun {
    pub summary: PhoneSummary,
    /// Offline commands as first flushed (photo hashes filled in), in flush order.
    pub offline_commands: Vec<FieldCommand>,
    /// The newest applied deliver or return per asset (by device time).
    pub last_state_change: BTreeMap<Uuid, StateChange>,
}

/// A snapshot for progress reporting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PhoneProgress {
    /// Commands answered (first sends).
    pub commands: u64,
    /// Roughly how many commands the run will send.
    pub target: u64,
    pub applied: u64,
    pub rejected: u64,
    pub failed: u64,
    pub duplicates: u64,
}

/// Called every 200 ms while the phones work, and once at the end.
pub type PhoneProgressFn = Arc<dyn Fn(&PhoneProgress) + Send + Sync>;

/// A [`PhoneProgressFn`] that drives an `indicatif` bar.
pub fn progress_bar_callback(bar: indicatif::ProgressBar) -> PhoneProgressFn {
    Arc::new(move |p: &PhoneProgress| {
        bar.set_length(p.target.max(p.commands));
        bar.set_position(p.commands);
        bar.set_message(format!(
            "applied {}, duplicate {}, rejected {}, failed {}",
            p.applied, p.duplicates, p.rejected, p.failed
        ));
    })
}

/// Live counters behind the progress callback.
#[derive(Debug, Default)]
struct Live {
    commands: AtomicU64,
    applied: AtomicU64,
    rejected: AtomicU64,
    failed: AtomicU64,
    duplicates: AtomicU64,
}

impl Live {
    fn snapshot(&self, target: u64) -> PhoneProgress {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        PhoneProgress {
            commands: get(&self.commands),
            target,
            applied: get(&self.applied),
            rejected: get(&self.rejected),
            failed: get(&self.failed),
            duplicates: get(&self.duplicates),
        }
    }
}

/// Runs the simulation. Fails only when it cannot start (login, discovery, no assets);
/// problems while it runs are counted in the summary, which says whether the run failed.
pub async fn run_phones(
    config: PhoneConfig,
    progress: Option<PhoneProgressFn>,
) -> Result<PhoneRun> {
    config.validate()?;
    let started = Instant::now();
    let stats = Arc::new(HttpStats::default());
    let http = Http::login(
        &config.url,
        &config.username,
        &config.password,
        stats.clone(),
    )
    .await?;
    let sites = Arc::new(discover_sites(&http).await?);
    let pool = discover_assets(&http, config.phones * config.rounds).await?;
    if pool.len() < config.phones {
        bail!(
            "found {} available assets for {} phones: each phone needs at least one (create \
             assets, or use fewer --phones)",
            pool.len(),
            config.phones
        );
    }

    let live = Arc::new(Live::default());
    // About five commands a round (lookup, deliver, inspect, meter half the time, return).
    let target = (config.phones * config.rounds * 5) as u64;
    let reporter = progress.clone().map(|cb| {
        let live = live.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(PROGRESS_EVERY);
            loop {
                tick.tick().await;
                cb(&live.snapshot(target));
            }
        })
    });

    let outs = run_all_phones(&config, &http, &sites, &pool, &live).await;
    if let Some(r) = reporter {
        r.abort();
    }
    if let Some(cb) = &progress {
        cb(&live.snapshot(target));
    }
    let outs = outs?;

    let mut run = merge(&config, outs);
    if config.stocktake != StocktakeChoice::Off {
        let mut rng = StdRng::seed_from_u64(config.seed ^ 0x5eed_57ac);
        match stocktake::run(&http, &config, &sites, &pool, &mut rng).await {
            Ok((s, problems)) => {
                for p in problems {
                    run.summary.inconsistent(p);
                }
                run.summary.stocktake = Some(s);
            }
            Err(e) => run.summary.error(format!("stocktake: {e:#}")),
        }
    }
    run.summary.http_requests = stats.requests();
    run.summary.http_errors = stats.errors();
    run.summary.elapsed = started.elapsed();
    Ok(run)
}

/// Spawns one task per phone, each with its share of the pool, and collects their records.
async fn run_all_phones(
    config: &PhoneConfig,
    http: &Http,
    sites: &Arc<Sites>,
    pool: &[Asset],
    live: &Arc<Live>,
) -> Result<Vec<PhoneOut>> {
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..config.phones {
        let assets = pool.iter().skip(n).step_by(config.phones);
        let phone = Phone::new(n, config, http, sites, assets, live);
        tasks.spawn(phone.work());
    }
    let mut outs = Vec::new();
    while let Some(done) = tasks.join_next().await {
        outs.push(done.context("a phone task panicked")?);
    }
    Ok(outs)
}

fn merge(config: &PhoneConfig, outs: Vec<PhoneOut>) -> PhoneRun {
    let mut summary = PhoneSummary {
        phones: config.phones,
        rounds: config.rounds,
        ..PhoneSummary::default()
    };
    let mut offline_commands = Vec::new();
    let mut last_state_change: BTreeMap<Uuid, StateChange> = BTreeMap::new();
    for out in outs {
        summary.actions.merge(&out.tallies);
        summary.photos_with_commands += out.photos_with_commands;
        summary.photos_decoded += out.photos_decoded;
        summary.photos_uploaded += out.photos_uploaded;
        summary.offline_commands += out.offline_sent.len() as u64;
        summary.batches += out.batches;
        for m in out.inconsistencies {
            summary.inconsistent(m);
        }
        for m in out.errors {
            summary.error(m);
        }
        offline_commands.extend(out.offline_sent);
        for (id, change) in out.changes {
            let newer = last_state_change
                .get(&id)
                .is_none_or(|c| c.device_time < change.device_time);
            if newer {
                last_state_change.insert(id, change);
            }
        }
    }
    PhoneRun {
        summary,
        offline_commands,
        last_state_change,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stocktake_choices_parse() {
        assert_eq!("auto".parse(), Ok(StocktakeChoice::Auto));
        assert_eq!("off".parse(), Ok(StocktakeChoice::Off));
        assert_eq!(
            "Depot north".parse(),
            Ok(StocktakeChoice::Site("Depot north".into()))
        );
    }

    #[test]
    fn shares_are_validated() {
        let mut c = PhoneConfig::new("http://x", "u", "p");
        assert!(c.validate().is_ok());
        c.duplicate_share = 1.5;
        assert!(c.validate().is_err());
        c.duplicate_share = 0.1;
        c.phones = 0;
        assert!(c.validate().is_err());
        assert!(!format!("{c:?}").contains("\"p\""));
    }
}
