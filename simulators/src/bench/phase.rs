//! Publishing phases: the fleet publishes while the gateway's `applied` counter is sampled, until
//! the gateway has committed what was sent.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use simulators::{run_fleet, FleetConfig, FleetSummary};
use tokio::sync::{oneshot, watch};

use super::children::{tail, ChildProc};
use super::procfs::{CpuSample, Pids};
use super::progress;
use super::scrape::{bucket_delta, quantile, Quantile, Scraper};

/// How often the committed counter is sampled.
const POLL_EVERY: Duration = Duration::from_millis(50);
/// After the publishers are done, the gateway is considered finished once its `applied`
/// counter has not moved for this long (normally it ends earlier: when it reaches the number of
/// readings sent).
const DRAIN_IDLE: Duration = Duration::from_secs(15);

/// What one publishing phase did, seen from the publishers and from the gateway.
#[derive(Debug, Clone)]
pub(super) struct Phase {
    pub(super) fleet: FleetSummary,
    /// `applied` delta.
    pub(super) applied: u64,
    /// Readings that ended as anything but `applied` (duplicate, rejected).
    pub(super) not_applied: u64,
    /// First publish → `applied` reached its final value.
    pub(super) commit_elapsed: Duration,
    cpu_before: CpuSample,
    cpu_after: CpuSample,
    /// Lag histogram delta (cumulative).
    lag: Vec<(f64, f64)>,
}

impl Phase {
    /// Every well-formed reading sent was committed as new.
    pub(super) fn complete(&self) -> bool {
        self.applied >= self.fleet.readings_sent
    }

    pub(super) fn committed_per_sec(&self) -> f64 {
        let s = self.commit_elapsed.as_secs_f64();
        if s > 0.0 {
            self.applied as f64 / s
        } else {
            0.0
        }
    }

    /// CPU microseconds per applied reading of one party.
    pub(super) fn us_per_msg(&self, pick: impl Fn(&CpuSample) -> f64) -> f64 {
        self.per_msg(pick) * 1e6
    }

    /// Growth of a sampled quantity per applied reading.
    pub(super) fn per_msg(&self, pick: impl Fn(&CpuSample) -> f64) -> f64 {
        if self.applied == 0 {
            return 0.0;
        }
        (pick(&self.cpu_after) - pick(&self.cpu_before)) / self.applied as f64
    }

    /// Share of the whole machine (all cores) that was busy, in percent.
    pub(super) fn machine_busy_pct(&self) -> f64 {
        let busy = self
            .cpu_after
            .machine_busy
            .saturating_sub(self.cpu_before.machine_busy);
        let total = self
            .cpu_after
            .machine_total
            .saturating_sub(self.cpu_before.machine_total);
        if total == 0 {
            0.0
        } else {
            busy as f64 * 100.0 / total as f64
        }
    }

    pub(super) fn p(&self, q: f64) -> Option<Quantile> {
        quantile(&self.lag, q)
    }
}

/// Runs the fleet while sampling the gateway's `applied` counter every [`POLL_EVERY`], then waits
/// until the gateway has committed what was sent.
pub(super) async fn run_phase(
    scraper: &Scraper,
    gateway: &ChildProc,
    pids: &Pids,
    config: FleetConfig,
    clk_tck: f64,
) -> Result<Phase> {
    let before = scraper.metrics().await?;
    let base = before.applied();
    let (target_tx, target_rx) = watch::channel(None::<f64>);
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let poller = tokio::spawn(poll_applied(
        scraper.client.clone(),
        scraper.base.clone(),
        scraper.token.clone(),
        target_rx,
        stop_rx,
    ));
    let cpu_before = CpuSample::take(pids, clk_tck)?;
    let fleet = run_fleet(config, std::future::pending()).await;
    let returned = Instant::now();
    let fleet = match fleet {
        Ok(f) => f,
        Err(e) => {
            let _ = stop_tx.send(());
            return Err(anyhow::Error::new(e).context("running the tracker fleet"));
        }
    };
    let first_publish = returned.checked_sub(fleet.elapsed).unwrap_or(returned);
    if fleet.unacked() > 0 {
        progress(format!(
            "warning: {} publishes were not acknowledged by the broker",
            fleet.unacked()
        ));
    }
    target_tx.send_replace(Some(base + fleet.readings_sent as f64));
    let samples = poller.await.context("metrics poller failed")??;
    let cpu_after = CpuSample::take(pids, clk_tck)?;
    drop(stop_tx);
    let after = scraper.metrics().await?;

    let final_value = samples.last().map_or(base, |s| s.1);
    let reached = samples
        .iter()
        .find(|s| s.1 >= final_value)
        .map_or(returned, |s| s.0);
    let applied = (after.applied() - base).max(0.0) as u64;
    let not_applied = (after.not_applied() - before.not_applied()).max(0.0) as u64;
    if applied < fleet.readings_sent {
        progress(format!(
            "warning: {} readings sent, {applied} applied, {not_applied} duplicate/rejected{}",
            fleet.readings_sent,
            if applied + not_applied < fleet.readings_sent {
                " — the gateway stopped committing before all arrived"
            } else {
                ""
            }
        ));
    }
    ensure_running(gateway)?;
    Ok(Phase {
        commit_elapsed: reached.saturating_duration_since(first_publish),
        fleet,
        applied,
        not_applied,
        cpu_before,
        cpu_after,
        lag: bucket_delta(&before.lag_buckets(), &after.lag_buckets()),
    })
}

/// Fails if a child we only borrow has gone (its `/proc` entry disappears once it is reaped;
/// a zombie still counts as there, which the next phase's scrape then reports).
fn ensure_running(p: &ChildProc) -> Result<()> {
    if Path::new(&format!("/proc/{}", p.pid)).exists() {
        Ok(())
    } else {
        bail!("{} is gone; end of its log:\n{}", p.name, tail(&p.log, 20))
    }
}

/// Samples `applied` every [`POLL_EVERY`] until it reaches the target (known once the fleet is
/// done) or stops moving for [`DRAIN_IDLE`] after that; returns (time, value) samples.
async fn poll_applied(
    client: reqwest::Client,
    base: String,
    token: String,
    mut target: watch::Receiver<Option<f64>>,
    mut stop: oneshot::Receiver<()>,
) -> Result<Vec<(Instant, f64)>> {
    let scraper = Scraper {
        client,
        base,
        token,
    };
    let mut samples: Vec<(Instant, f64)> = Vec::new();
    let mut last_change = Instant::now();
    let mut tick = tokio::time::interval(POLL_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = &mut stop => return Ok(samples),
        }
        let m = scraper.metrics().await?;
        let now = Instant::now();
        let v = m.applied();
        if samples.last().is_none_or(|s| s.1 != v) {
            last_change = now;
        }
        samples.push((now, v));
        if let Some(t) = *target.borrow_and_update() {
            if v >= t {
                return Ok(samples);
            }
            if now.duration_since(last_change) > DRAIN_IDLE {
                progress(format!(
                    "warning: the gateway's applied counter stopped at {v} (expected {t})"
                ));
                return Ok(samples);
            }
        }
    }
}
