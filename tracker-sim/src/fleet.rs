//! The fleet driver: [`run_fleet`] spreads the devices over MQTT connections, and one scheduler
//! decides *which* device speaks next and *when* (a token bucket for the fleet-wide rate,
//! optionally shuffled order), handing orders to the connection tasks.

use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rumqttc::QoS;
use tokio::sync::{mpsc, oneshot};

use crate::connection::run_connection;
use crate::model::usable_sites;
use crate::pacer::TokenBucket;
use crate::summary::{Counters, FleetSummary, ProgressFn};
use crate::{FleetConfig, FleetError};

/// Queued "publish now" orders per connection: deep enough to keep a connection busy, shallow
/// enough that broker back-pressure reaches the scheduler quickly.
const TICK_QUEUE: usize = 256;
/// Most orders the scheduler hands out per token-bucket wake-up.
const MAX_TICK_BATCH: u64 = 256;
/// How often the progress callback runs.
const PROGRESS_EVERY: Duration = Duration::from_millis(250);

/// Runs the fleet until a limit in `config` is reached or `shutdown` completes, then flushes
/// offline buffers, waits (bounded) for outstanding acknowledgements and disconnects.
///
/// Fails only when the configuration is invalid or no connection could be established; problems
/// during the run (dropped connections, missing acks) are counted in the summary instead, because
/// a load test wants numbers, not an early exit.
pub async fn run_fleet(
    config: FleetConfig,
    shutdown: impl Future<Output = ()>,
) -> Result<FleetSummary, FleetError> {
    run_fleet_with_progress(config, shutdown, None).await
}

/// [`run_fleet`] with a progress callback.
pub async fn run_fleet_with_progress(
    config: FleetConfig,
    shutdown: impl Future<Output = ()>,
    progress: Option<ProgressFn>,
) -> Result<FleetSummary, FleetError> {
    config.check()?;
    let per_device = config.connections.is_none();
    let n = config.devices.len();
    let k = config.connections.map_or(n, |k| k.min(n));
    let mut rng = StdRng::seed_from_u64(config.seed);
    let offline = pick_share(n, config.offline_share, &mut rng);
    let hours = pick_share(n, config.hour_meter_share, &mut rng);

    let shared = Arc::new(Shared {
        sites: usable_sites(&config.sites),
        qos: config.qos,
        malformed_share: config.malformed_share,
        per_device,
        counters: Counters::default(),
    });

    // Device g lives on connection g % k at local index g / k.
    let run_id = crate::unique_run_id();
    let mut specs: Vec<ConnSpec> = (0..k)
        .map(|c| ConnSpec {
            client_id: if per_device {
                config.devices[c].device_id.clone()
            } else {
                format!("fieldops-sim-{run_id}-{c}")
            },
            login: config.devices[c].login(),
            devices: Vec::new(),
        })
        .collect();
    for (g, creds) in config.devices.iter().enumerate() {
        specs[g % k].devices.push(DeviceSpec {
            id: creds.device_id.clone(),
            offline: offline[g],
            hours: hours[g],
        });
    }

    let mut senders = Vec::with_capacity(k);
    let mut readies = Vec::with_capacity(k);
    let mut handles = Vec::with_capacity(k);
    for (c, spec) in specs.into_iter().enumerate() {
        let (tx, rx) = mpsc::channel(TICK_QUEUE);
        let (ready_tx, ready_rx) = oneshot::channel();
        let conn_seed = config.seed ^ (c as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let task = run_connection(
            spec,
            config.broker_host.clone(),
            config.broker_port,
            shared.clone(),
            rx,
            ready_tx,
            conn_seed,
        );
        handles.push(tokio::spawn(task));
        senders.push(Some(tx));
        readies.push(ready_rx);
    }

    tokio::pin!(shutdown);
    let all_ready = async {
        let mut live = Vec::with_capacity(readies.len());
        for r in readies {
            live.push(r.await.unwrap_or(false));
        }
        live
    };
    let live = tokio::select! {
        live = all_ready => live,
        () = &mut shutdown => {
            // Closing the order channels tells each connection to finish: what it already
            // published (e.g. its `online` status) still gets its PUBACK. Bounded, because a
            // connection may still be retrying a broker that is not there.
            drop(senders);
            let start = Instant::now();
            let drained = tokio::time::timeout(Duration::from_secs(10), async {
                for h in handles.iter_mut() {
                    let _ = h.await;
                }
            })
            .await;
            if drained.is_err() {
                for h in &handles {
                    h.abort();
                }
            }
            return Ok(shared.counters.summary(0, start.elapsed()));
        }
    };
    let connected = live.iter().filter(|l| **l).count();
    if connected == 0 {
        for h in handles {
            let _ = h.await;
        }
        return Err(FleetError::Unreachable {
            host: config.broker_host,
            port: config.broker_port,
            failures: shared.counters.connect_failures.load(Ordering::Relaxed),
        });
    }
    for (sender, ok) in senders.iter_mut().zip(&live) {
        if !ok {
            *sender = None;
        }
    }
    let order: Vec<(usize, u32)> = (0..n)
        .filter(|g| live[g % k])
        .map(|g| (g % k, (g / k) as u32))
        .collect();

    let start = Instant::now();
    let reporter = progress.clone().map(|cb| {
        let shared = shared.clone();
        let target = config.total_messages;
        tokio::spawn(async move {
            let mut every = tokio::time::interval(PROGRESS_EVERY);
            loop {
                every.tick().await;
                cb(&shared.counters.progress(target, start.elapsed()));
            }
        })
    });

    let schedule = schedule(
        senders,
        order,
        config.rate_per_sec,
        config.total_messages,
        config.random_order,
        rng,
    );
    let deadline = async {
        match config.duration {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
    };
    // Whichever ends first, the scheduler future is dropped with it and so are the order channels,
    // which tells every connection task to finish up.
    tokio::select! {
        () = schedule => {}
        () = &mut shutdown => {}
        () = deadline => {}
    }
    for h in handles {
        if let Err(e) = h.await {
            tracing::error!(error = %e, "tracker connection task failed");
        }
    }
    let elapsed = start.elapsed();
    if let Some(r) = reporter {
        r.abort();
    }
    if let Some(cb) = progress {
        cb(&shared.counters.progress(config.total_messages, elapsed));
    }
    Ok(shared.counters.summary(connected, elapsed))
}

/// Marks `round(share * n)` of `n` devices (at least one for any positive share), chosen at random.
fn pick_share(n: usize, share: f64, rng: &mut StdRng) -> Vec<bool> {
    let count = if share <= 0.0 {
        0
    } else {
        ((share * n as f64).round() as usize).clamp(1, n)
    };
    let mut idx: Vec<usize> = (0..n).collect();
    idx.shuffle(rng);
    let mut marked = vec![false; n];
    for i in idx.into_iter().take(count) {
        marked[i] = true;
    }
    marked
}

/// Decides which device publishes next and when, and tells its connection.
///
/// Returns when `total` orders went out or every connection died; dropping it (shutdown, duration
/// over) is equally fine because an order is either queued or not.
async fn schedule(
    mut senders: Vec<Option<mpsc::Sender<u32>>>,
    mut order: Vec<(usize, u32)>,
    rate: f64,
    total: Option<u64>,
    random: bool,
    mut rng: StdRng,
) {
    let mut bucket = (rate > 0.0).then(|| TokenBucket::new(rate, Instant::now()));
    let mut sent = 0u64;
    // Starting "at the end" makes the first round shuffle too.
    let mut pos = order.len();
    loop {
        let want = total.map_or(MAX_TICK_BATCH, |t| {
            t.saturating_sub(sent).min(MAX_TICK_BATCH)
        });
        if want == 0 {
            return;
        }
        let grant = match bucket.as_mut() {
            None => want,
            Some(b) => match b.take(Instant::now(), want) {
                Ok(n) => n,
                Err(wait) => {
                    tokio::time::sleep(wait).await;
                    continue;
                }
            },
        };
        let mut granted = 0;
        while granted < grant {
            if order.is_empty() {
                tracing::warn!("every tracker connection is gone; stopping the fleet");
                return;
            }
            if pos >= order.len() {
                pos = 0;
                if random {
                    order.shuffle(&mut rng);
                }
            }
            let (conn, local) = order[pos];
            pos += 1;
            let delivered = match &senders[conn] {
                Some(tx) => tx.send(local).await.is_ok(),
                None => false,
            };
            if delivered {
                granted += 1;
                sent += 1;
            } else {
                // That connection task ended (its event loop died): stop scheduling its devices.
                senders[conn] = None;
                order.retain(|(c, _)| *c != conn);
                pos = order.len();
            }
        }
    }
}

/// Settings and counters every connection task shares.
pub(crate) struct Shared {
    pub(crate) sites: Vec<(f64, f64)>,
    pub(crate) qos: QoS,
    pub(crate) malformed_share: f64,
    /// One connection per device (with status messages and a last will), or shared connections.
    pub(crate) per_device: bool,
    pub(crate) counters: Counters,
}

/// One MQTT connection and the devices it publishes for.
pub(crate) struct ConnSpec {
    pub(crate) client_id: String,
    pub(crate) login: Option<(String, String)>,
    pub(crate) devices: Vec<DeviceSpec>,
}

/// One device of a connection: its id, whether it has patchy coverage, whether it reports
/// engine hours.
pub(crate) struct DeviceSpec {
    pub(crate) id: String,
    pub(crate) offline: bool,
    pub(crate) hours: bool,
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn shares_pick_at_least_one_device() {
        let mut rng = StdRng::seed_from_u64(1);
        let count = |v: Vec<bool>| v.into_iter().filter(|b| *b).count();
        assert_eq!(count(pick_share(5, 0.2, &mut rng)), 1);
        assert_eq!(count(pick_share(5, 0.01, &mut rng)), 1);
        assert_eq!(count(pick_share(5, 0.0, &mut rng)), 0);
        assert_eq!(count(pick_share(5, 1.0, &mut rng)), 5);
        assert_eq!(count(pick_share(10, 0.7, &mut rng)), 7);
    }
}
