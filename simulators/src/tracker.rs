//! A fleet of simulated GPS trackers publishing native telemetry over MQTT (DESIGN.md §4).
//!
//! Used by `fieldops-sim trackers`, by `fieldops demo` (a few devices, gentle rate) and by the
//! ingest benchmark (up to 100 000 devices over a handful of connections, as fast as the broker
//! takes them). Every message goes through a real broker so the gateway sees exactly what a real
//! fleet would send, including the awkward parts: offline buffers flushed as arrays, malformed
//! payloads of every reject kind, devices without an hour meter.
//!
//! Structure: one scheduler decides *which* device speaks next and *when* (a token bucket for the
//! fleet-wide rate, optionally shuffled order); each MQTT connection is a task owning the state of
//! its devices, producing payloads and publishing them; a second task per connection drives the
//! rumqttc event loop and counts acknowledgements. Shared counters feed progress and the summary.

mod model;
mod pacer;
mod wire;

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::fmt;
use std::future::Future;
use std::ops::RangeInclusive;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use chrono::{DateTime, Utc};
use mobile_shared::telemetry::{is_valid_device_id, Reading, Topic};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rumqttc::{
    AsyncClient, ClientError, ConnectionError, Event, EventLoop, LastWill, MqttOptions, Outgoing,
    Packet, QoS,
};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

pub use model::{
    default_sites, distance_bearing, next_ts, usable_sites, MachineModel, Phase, MAX_BATTERY_V,
    MAX_DRIVE_KMH, MIN_BATTERY_V, MIN_DRIVE_KMH,
};
pub use pacer::TokenBucket;
pub use wire::{
    encode_flush, encode_reading, reading_object, MalformedKind, MAX_FLUSH_BYTES,
    MAX_FLUSH_READINGS,
};

/// Readings a tracker keeps while offline; older ones are dropped (and counted) beyond this, as
/// real trackers have a fixed ring buffer and a simulator must not grow without bound either.
pub const OFFLINE_BUFFER_CAP: usize = 500;

/// How long a connection may take to get its first CONNACK before its devices are given up.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// Failed attempts before a connection that never connected is given up.
const MAX_CONNECT_ATTEMPTS: u32 = 5;
/// How long to wait at the end for outstanding PUBACKs.
const ACK_TIMEOUT: Duration = Duration::from_secs(15);
/// Queued "publish now" orders per connection: deep enough to keep a connection busy, shallow
/// enough that broker back-pressure reaches the scheduler quickly.
const TICK_QUEUE: usize = 256;
/// Most orders the scheduler hands out per token-bucket wake-up.
const MAX_TICK_BATCH: u64 = 256;
/// Largest MQTT packet we send or accept: above the oversized malformed payload (64 KiB + a bit).
const MAX_PACKET_BYTES: usize = 256 * 1024;
/// How often the progress callback runs.
const PROGRESS_EVERY: Duration = Duration::from_millis(250);
/// Readings an intermittently connected tracker sends before dropping out.
const ONLINE_TICKS: RangeInclusive<u32> = 5..=30;
/// Readings it buffers while out of coverage.
const OFFLINE_TICKS: RangeInclusive<u32> = 5..=40;
/// The first online stretch is short so even a short run sees an outage.
const FIRST_ONLINE_TICKS: RangeInclusive<u32> = 0..=5;

/// One tracker's identity and broker credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct DeviceCreds {
    /// Device id, as in `fieldops/v1/<device_id>/telemetry`; no `/`.
    pub device_id: String,
    /// MQTT username; when `None` but a password is set, the device id is used (that is how
    /// `fieldops device add` credentials work).
    pub username: Option<String>,
    /// MQTT password (e.g. the `mqtt_password` from `POST /api/v1/devices`).
    pub password: Option<String>,
}

impl DeviceCreds {
    /// A device on a broker that allows anonymous clients (a local Mosquitto).
    pub fn anonymous(device_id: impl Into<String>) -> Self {
        DeviceCreds {
            device_id: device_id.into(),
            username: None,
            password: None,
        }
    }

    /// The username/password pair to log in with, if any.
    fn login(&self) -> Option<(String, String)> {
        match (&self.username, &self.password) {
            (Some(u), p) => Some((u.clone(), p.clone().unwrap_or_default())),
            (None, Some(p)) => Some((self.device_id.clone(), p.clone())),
            (None, None) => None,
        }
    }
}

/// Hand-written so a password never ends up in a log line or a test failure message.
impl fmt::Debug for DeviceCreds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceCreds")
            .field("device_id", &self.device_id)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// `count` devices named `<prefix><n>` with zero-padded numbers from 1 (so ids sort naturally),
/// all with the same password if one is given (load tests against one shared credential).
pub fn numbered_devices(prefix: &str, count: usize, password: Option<&str>) -> Vec<DeviceCreds> {
    let width = count.max(1).to_string().len();
    (1..=count)
        .map(|i| {
            let device_id = format!("{prefix}{i:0width$}");
            DeviceCreds {
                username: password.map(|_| device_id.clone()),
                password: password.map(str::to_owned),
                device_id,
            }
        })
        .collect()
}

/// What to simulate and how hard. Start from [`FleetConfig::new`] and change fields.
#[derive(Debug, Clone)]
pub struct FleetConfig {
    /// Broker host name or IP.
    pub broker_host: String,
    /// Broker TCP port.
    pub broker_port: u16,
    /// The trackers; ids must be unique.
    pub devices: Vec<DeviceCreds>,
    /// `None`: one MQTT connection per device, with an `online` status on connect and an
    /// `offline` last will, like real trackers. `Some(k)`: `k` connections, each publishing for a
    /// share of the devices (device `i` on connection `i % k`), for 100k-device load tests where
    /// 100k sockets would measure the kernel rather than the gateway. Shared connections log in
    /// with the credentials of their first device, send no status messages, and so need a broker
    /// that does not restrict topics per device.
    pub connections: Option<usize>,
    /// Telemetry messages per second across the fleet; 0 = as fast as the broker accepts them.
    pub rate_per_sec: f64,
    /// Stop after this many messages (readings produced, whether sent at once, buffered or
    /// malformed).
    pub total_messages: Option<u64>,
    /// Stop after this long. With neither limit the fleet runs until `shutdown`.
    pub duration: Option<Duration>,
    /// Depots and customer sites (lat, lon) the machines drive between; empty = around Munich
    /// ([`default_sites`]).
    pub sites: Vec<(f64, f64)>,
    /// Fraction of devices with patchy coverage: they repeatedly go offline for a few readings,
    /// buffer them (at most [`OFFLINE_BUFFER_CAP`]) and flush the buffer as a JSON array when back.
    /// Any positive share gives at least one such device.
    pub offline_share: f64,
    /// Fraction of messages deliberately malformed, spread evenly over [`MalformedKind::ALL`].
    pub malformed_share: f64,
    /// Fraction of devices wired to the engine hour meter (they report `engine_hours`); the rest
    /// report only ignition, as cheap trackers do.
    pub hour_meter_share: f64,
    /// Shuffle the device order every round instead of going round-robin, so the gateway sees
    /// assets in random order as from a real fleet rather than in id order.
    pub random_order: bool,
    /// Seed for everything random except the clock, so runs are comparable.
    pub seed: u64,
    /// MQTT QoS for telemetry and status; trackers use at-least-once.
    pub qos: QoS,
}

impl FleetConfig {
    /// A gentle default: 10 msg/s, round-robin, no faults, 70% of devices with an hour meter,
    /// sites around Munich, QoS 1, running until shutdown.
    pub fn new(
        broker_host: impl Into<String>,
        broker_port: u16,
        devices: Vec<DeviceCreds>,
    ) -> Self {
        FleetConfig {
            broker_host: broker_host.into(),
            broker_port,
            devices,
            connections: None,
            rate_per_sec: 10.0,
            total_messages: None,
            duration: None,
            sites: Vec::new(),
            offline_share: 0.0,
            malformed_share: 0.0,
            hour_meter_share: 0.7,
            random_order: false,
            seed: 1,
            qos: QoS::AtLeastOnce,
        }
    }

    /// Refuses settings that would panic later or silently do something else.
    fn check(&self) -> Result<()> {
        if self.devices.is_empty() {
            bail!("a fleet needs at least one device");
        }
        let mut seen = HashSet::new();
        for d in &self.devices {
            if !is_valid_device_id(&d.device_id) || d.device_id.contains('/') {
                bail!(
                    "invalid device id {:?}: 1-64 characters of A-Z a-z 0-9 . _ : -",
                    d.device_id
                );
            }
            if !seen.insert(d.device_id.as_str()) {
                bail!("device id {:?} appears twice", d.device_id);
            }
        }
        for (name, share) in [
            ("offline_share", self.offline_share),
            ("malformed_share", self.malformed_share),
            ("hour_meter_share", self.hour_meter_share),
        ] {
            if !(0.0..=1.0).contains(&share) {
                bail!("{name} must be between 0 and 1, got {share}");
            }
        }
        if !self.rate_per_sec.is_finite() || self.rate_per_sec < 0.0 {
            bail!(
                "rate_per_sec must be a finite number >= 0, got {}",
                self.rate_per_sec
            );
        }
        if self.connections == Some(0) {
            bail!("connections must be at least 1");
        }
        for (lat, lon) in &self.sites {
            if !(-90.0..=90.0).contains(lat) || !(-180.0..=180.0).contains(lon) {
                bail!("site ({lat}, {lon}) is not a valid position");
            }
        }
        Ok(())
    }
}

/// What a fleet run did. `published`/`acked` count MQTT PUBLISH packets; see each field.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FleetSummary {
    /// Readings produced (the unit of `total_messages` and `rate_per_sec`).
    pub messages: u64,
    /// Telemetry PUBLISH packets handed to the MQTT client: single readings, malformed messages
    /// and flush arrays.
    pub published: u64,
    /// PUBACKs (PUBCOMPs at QoS 2) received, for telemetry *and* status messages; at QoS 0 always 0.
    pub acked: u64,
    /// Well-formed readings sent, singly or inside arrays: what the gateway should store.
    pub readings_sent: u64,
    /// `online`/`offline` status messages published (per-device connections only).
    pub status_published: u64,
    /// Malformed messages sent, by the reject code the gateway should give them.
    pub malformed_by_kind: BTreeMap<&'static str, u64>,
    /// Offline buffers flushed (one outage ending, or the run ending during one).
    pub offline_flushes: u64,
    /// JSON arrays published by those flushes (a long outage can need several).
    pub arrays_sent: u64,
    /// Readings dropped because an offline buffer was full.
    pub buffer_dropped: u64,
    /// MQTT connections that connected and published.
    pub connections: usize,
    /// Failed connection attempts and dropped connections.
    pub connect_failures: u64,
    /// From the first message to the last acknowledgement.
    pub elapsed: Duration,
}

impl FleetSummary {
    /// All malformed messages together.
    pub fn malformed_total(&self) -> u64 {
        self.malformed_by_kind.values().sum()
    }

    /// PUBLISH packets (telemetry and status) that were never acknowledged; meaningful at QoS 1/2.
    pub fn unacked(&self) -> u64 {
        (self.published + self.status_published).saturating_sub(self.acked)
    }

    /// Readings produced per second over the run.
    pub fn messages_per_sec(&self) -> f64 {
        per_sec(self.messages, self.elapsed)
    }
}

/// The summary table printed by `fieldops-sim trackers`.
impl fmt::Display for FleetSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let row = |f: &mut fmt::Formatter<'_>, name: &str, value: String| {
            writeln!(f, "  {name:<28} {value:>12}")
        };
        writeln!(
            f,
            "{} messages in {:.2} s ({:.1} msg/s)",
            self.messages,
            self.elapsed.as_secs_f64(),
            self.messages_per_sec()
        )?;
        row(f, "connections", self.connections.to_string())?;
        row(f, "connect failures", self.connect_failures.to_string())?;
        row(f, "telemetry published", self.published.to_string())?;
        row(f, "status published", self.status_published.to_string())?;
        row(f, "acked (telemetry + status)", self.acked.to_string())?;
        row(f, "unacked", self.unacked().to_string())?;
        row(f, "readings sent", self.readings_sent.to_string())?;
        row(f, "offline flushes", self.offline_flushes.to_string())?;
        row(f, "arrays sent", self.arrays_sent.to_string())?;
        row(
            f,
            "buffered readings dropped",
            self.buffer_dropped.to_string(),
        )?;
        row(f, "malformed", self.malformed_total().to_string())?;
        for (kind, n) in &self.malformed_by_kind {
            row(f, &format!("  {kind}"), n.to_string())?;
        }
        Ok(())
    }
}

/// A snapshot for progress reporting while the fleet runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FleetProgress {
    /// Readings produced so far.
    pub messages: u64,
    /// `FleetConfig::total_messages`, for a progress bar's length.
    pub target_messages: Option<u64>,
    /// Telemetry packets published so far.
    pub published: u64,
    /// Acknowledgements so far.
    pub acked: u64,
    /// Malformed messages so far.
    pub malformed: u64,
    /// Offline flushes so far.
    pub offline_flushes: u64,
    /// Connection failures so far.
    pub connect_failures: u64,
    /// Since publishing started.
    pub elapsed: Duration,
}

/// Called every 250 ms while publishing and once at the end.
pub type ProgressFn = Arc<dyn Fn(&FleetProgress) + Send + Sync>;

/// A [`ProgressFn`] that drives an `indicatif` bar: position = messages, message = acks and faults.
pub fn progress_bar_callback(bar: indicatif::ProgressBar) -> ProgressFn {
    Arc::new(move |p: &FleetProgress| {
        if let Some(total) = p.target_messages {
            bar.set_length(total);
        }
        bar.set_position(p.messages);
        let rate = if p.elapsed.is_zero() {
            0.0
        } else {
            p.messages as f64 / p.elapsed.as_secs_f64()
        };
        bar.set_message(format!(
            "{rate:.0}/s, acked {}, malformed {}, flushes {}, conn failures {}",
            p.acked, p.malformed, p.offline_flushes, p.connect_failures
        ));
    })
}

/// Runs the fleet until a limit in `config` is reached or `shutdown` completes, then flushes
/// offline buffers, waits (bounded) for outstanding acknowledgements and disconnects.
///
/// Fails only when the configuration is invalid or no connection could be established; problems
/// during the run (dropped connections, missing acks) are counted in the summary instead, because
/// a load test wants numbers, not an early exit.
pub async fn run_fleet(
    config: FleetConfig,
    shutdown: impl Future<Output = ()>,
) -> Result<FleetSummary> {
    run_fleet_with_progress(config, shutdown, None).await
}

/// [`run_fleet`] with a progress callback.
pub async fn run_fleet_with_progress(
    config: FleetConfig,
    shutdown: impl Future<Output = ()>,
    progress: Option<ProgressFn>,
) -> Result<FleetSummary> {
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
        bail!(
            "could not connect to the MQTT broker at {}:{} ({} failed attempts)",
            config.broker_host,
            config.broker_port,
            shared.counters.connect_failures.load(Ordering::Relaxed)
        );
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

fn per_sec(count: u64, elapsed: Duration) -> f64 {
    let secs = elapsed.as_secs_f64();
    if secs > 0.0 {
        count as f64 / secs
    } else {
        0.0
    }
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
struct Shared {
    sites: Vec<(f64, f64)>,
    qos: QoS,
    malformed_share: f64,
    per_device: bool,
    counters: Counters,
}

/// Fleet-wide counters, updated lock-free by the connection tasks.
#[derive(Default)]
struct Counters {
    messages: AtomicU64,
    published: AtomicU64,
    acked: AtomicU64,
    readings_sent: AtomicU64,
    status_published: AtomicU64,
    offline_flushes: AtomicU64,
    arrays_sent: AtomicU64,
    buffer_dropped: AtomicU64,
    connect_failures: AtomicU64,
    malformed: [AtomicU64; MalformedKind::ALL.len()],
}

fn bump(counter: &AtomicU64, by: u64) {
    counter.fetch_add(by, Ordering::Relaxed);
}

impl Counters {
    fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    fn malformed_total(&self) -> u64 {
        self.malformed.iter().map(Self::get).sum()
    }

    fn progress(&self, target: Option<u64>, elapsed: Duration) -> FleetProgress {
        FleetProgress {
            messages: Self::get(&self.messages),
            target_messages: target,
            published: Self::get(&self.published),
            acked: Self::get(&self.acked),
            malformed: self.malformed_total(),
            offline_flushes: Self::get(&self.offline_flushes),
            connect_failures: Self::get(&self.connect_failures),
            elapsed,
        }
    }

    fn summary(&self, connections: usize, elapsed: Duration) -> FleetSummary {
        let malformed_by_kind = MalformedKind::ALL
            .iter()
            .zip(&self.malformed)
            .map(|(kind, n)| (kind.code(), Self::get(n)))
            .filter(|(_, n)| *n > 0)
            .collect();
        FleetSummary {
            messages: Self::get(&self.messages),
            published: Self::get(&self.published),
            acked: Self::get(&self.acked),
            readings_sent: Self::get(&self.readings_sent),
            status_published: Self::get(&self.status_published),
            malformed_by_kind,
            offline_flushes: Self::get(&self.offline_flushes),
            arrays_sent: Self::get(&self.arrays_sent),
            buffer_dropped: Self::get(&self.buffer_dropped),
            connections,
            connect_failures: Self::get(&self.connect_failures),
            elapsed,
        }
    }
}

/// One MQTT connection and the devices it publishes for.
struct ConnSpec {
    client_id: String,
    login: Option<(String, String)>,
    devices: Vec<DeviceSpec>,
}

struct DeviceSpec {
    id: String,
    offline: bool,
    hours: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LinkState {
    Connecting,
    Connected,
    Failed,
}

/// Publishing side of one connection; counts what it hands to the client so the end of the run
/// can wait for exactly that many acknowledgements.
struct Publisher {
    client: AsyncClient,
    shared: Arc<Shared>,
    expected_acks: u64,
}

impl Publisher {
    async fn send(&mut self, topic: &str, payload: Vec<u8>) -> Result<(), ClientError> {
        self.client
            .publish(topic, self.shared.qos, false, payload)
            .await?;
        if self.shared.qos != QoS::AtMostOnce {
            self.expected_acks += 1;
        }
        Ok(())
    }

    async fn telemetry(&mut self, topic: &str, payload: Vec<u8>) -> Result<(), ClientError> {
        self.send(topic, payload).await?;
        bump(&self.shared.counters.published, 1);
        Ok(())
    }

    /// Status messages are not retained: a stale retained `online` for every device a load test
    /// ever simulated would greet each new gateway.
    async fn status(&mut self, topic: &str, online: bool) -> Result<(), ClientError> {
        if !self.shared.per_device {
            return Ok(());
        }
        let word = if online { "online" } else { "offline" };
        self.send(topic, word.as_bytes().to_vec()).await?;
        bump(&self.shared.counters.status_published, 1);
        Ok(())
    }
}

/// Coverage state of an intermittently connected tracker.
#[derive(Debug, Clone, Copy)]
struct Outage {
    offline: bool,
    ticks_left: u32,
}

/// One simulated tracker: the machine it sits on plus what the tracker itself adds (a clock,
/// an offline buffer, its topics).
struct SimDevice {
    telemetry_topic: String,
    status_topic: String,
    model: MachineModel,
    reports_hours: bool,
    last_ts: Option<DateTime<Utc>>,
    outage: Option<Outage>,
    buffer: VecDeque<Reading>,
}

impl SimDevice {
    fn new(spec: DeviceSpec, sites: &[(f64, f64)], rng: &mut StdRng) -> Self {
        SimDevice {
            telemetry_topic: Topic::Telemetry {
                device_id: spec.id.clone(),
            }
            .to_string(),
            status_topic: Topic::Status { device_id: spec.id }.to_string(),
            model: MachineModel::new(sites, rng),
            reports_hours: spec.hours,
            last_ts: None,
            outage: spec.offline.then(|| Outage {
                offline: false,
                ticks_left: rng.gen_range(FIRST_ONLINE_TICKS),
            }),
            buffer: VecDeque::new(),
        }
    }

    /// Produces one reading and sends, buffers or spoils it.
    async fn tick(&mut self, out: &mut Publisher, rng: &mut StdRng) -> Result<(), ClientError> {
        let shared = out.shared.clone();
        let now = Utc::now();
        let ts = next_ts(self.last_ts, now);
        let dt = self
            .last_ts
            .map_or(0.0, |last| (ts - last).num_milliseconds() as f64 / 1000.0);
        self.last_ts = Some(ts);
        self.model.advance(dt, &shared.sites, rng);
        let reading = self.model.reading(ts, self.reports_hours, rng);
        bump(&shared.counters.messages, 1);

        if let Some(mut o) = self.outage {
            if !o.offline && o.ticks_left == 0 {
                o.offline = true;
                o.ticks_left = rng.gen_range(OFFLINE_TICKS);
                // What the broker would publish from the last will once the keep-alive expires.
                out.status(&self.status_topic, false).await?;
            }
            if o.offline {
                self.buffer_reading(reading, &shared);
                o.ticks_left = o.ticks_left.saturating_sub(1);
                if o.ticks_left == 0 {
                    o.offline = false;
                    o.ticks_left = rng.gen_range(ONLINE_TICKS);
                    self.outage = Some(o);
                    out.status(&self.status_topic, true).await?;
                    return self.flush(out).await;
                }
                self.outage = Some(o);
                return Ok(());
            }
            o.ticks_left = o.ticks_left.saturating_sub(1);
            self.outage = Some(o);
        }

        if shared.malformed_share > 0.0 && rng.gen_bool(shared.malformed_share) {
            let kind = MalformedKind::ALL[rng.gen_range(0..MalformedKind::ALL.len())];
            out.telemetry(&self.telemetry_topic, kind.payload(&reading, now))
                .await?;
            bump(&shared.counters.malformed[kind.index()], 1);
        } else {
            out.telemetry(&self.telemetry_topic, encode_reading(&reading))
                .await?;
            bump(&shared.counters.readings_sent, 1);
        }
        Ok(())
    }

    fn buffer_reading(&mut self, reading: Reading, shared: &Shared) {
        if self.buffer.len() >= OFFLINE_BUFFER_CAP {
            self.buffer.pop_front();
            bump(&shared.counters.buffer_dropped, 1);
        }
        self.buffer.push_back(reading);
    }

    /// Sends the offline buffer as JSON arrays (oldest first) and empties it.
    async fn flush(&mut self, out: &mut Publisher) -> Result<(), ClientError> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let shared = out.shared.clone();
        let readings = self.buffer.len() as u64;
        let arrays = encode_flush(self.buffer.iter());
        self.buffer.clear();
        bump(&shared.counters.offline_flushes, 1);
        for payload in arrays {
            out.telemetry(&self.telemetry_topic, payload).await?;
            bump(&shared.counters.arrays_sent, 1);
        }
        bump(&shared.counters.readings_sent, readings);
        Ok(())
    }

    /// End of the run: a tracker still out of coverage comes back and flushes, so nothing it
    /// recorded is lost; then it says goodbye the way a graceful disconnect does (no last will).
    async fn finish(&mut self, out: &mut Publisher) -> Result<(), ClientError> {
        if self.outage.is_some_and(|o| o.offline) {
            out.status(&self.status_topic, true).await?;
        }
        self.flush(out).await?;
        out.status(&self.status_topic, false).await
    }
}

/// One MQTT connection: connects, reports readiness, publishes for its devices on every order
/// from the scheduler, and at the end flushes, waits for acknowledgements and disconnects.
async fn run_connection(
    spec: ConnSpec,
    host: String,
    port: u16,
    shared: Arc<Shared>,
    mut orders: mpsc::Receiver<u32>,
    ready: oneshot::Sender<bool>,
    seed: u64,
) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut opts = MqttOptions::new(spec.client_id.clone(), host, port);
    opts.set_keep_alive(Duration::from_secs(30))
        .set_clean_session(true)
        .set_max_packet_size(MAX_PACKET_BYTES, MAX_PACKET_BYTES)
        // A tracker has a handful of messages in flight; a shared load-test connection needs more
        // to keep the pipe full.
        .set_inflight(if shared.per_device { 20 } else { 200 });
    if let Some((user, pass)) = &spec.login {
        opts.set_credentials(user.clone(), pass.clone());
    }
    if shared.per_device {
        if let Some(d) = spec.devices.first() {
            let topic = Topic::Status {
                device_id: d.id.clone(),
            };
            opts.set_last_will(LastWill::new(
                topic.to_string(),
                "offline",
                shared.qos,
                false,
            ));
        }
    }
    let (client, eventloop) = AsyncClient::new(opts, 64);
    let (acked_tx, mut acked_rx) = watch::channel(0u64);
    let (state_tx, mut state_rx) = watch::channel(LinkState::Connecting);
    let driver = AbortOnDrop(tokio::spawn(drive_eventloop(
        eventloop,
        acked_tx,
        state_tx,
        shared.clone(),
        spec.client_id.clone(),
    )));

    let connected = matches!(
        tokio::time::timeout(
            CONNECT_TIMEOUT,
            state_rx.wait_for(|s| *s != LinkState::Connecting)
        )
        .await,
        Ok(Ok(s)) if *s == LinkState::Connected
    );
    if !connected {
        let _ = ready.send(false);
        return;
    }
    let _ = ready.send(true);

    let mut out = Publisher {
        client,
        shared: shared.clone(),
        expected_acks: 0,
    };
    let mut devices: Vec<SimDevice> = spec
        .devices
        .into_iter()
        .map(|d| SimDevice::new(d, &shared.sites, &mut rng))
        .collect();
    let result = publish_loop(&mut devices, &mut out, &mut orders, &mut rng).await;
    if let Err(e) = result {
        tracing::warn!(client_id = %spec.client_id, error = %e, "tracker connection stopped publishing");
        return;
    }

    let expected = out.expected_acks;
    let acked_all = tokio::time::timeout(ACK_TIMEOUT, acked_rx.wait_for(|a| *a >= expected))
        .await
        .is_ok_and(|r| r.is_ok());
    if !acked_all {
        tracing::warn!(
            client_id = %spec.client_id,
            expected,
            acked = *acked_rx.borrow(),
            "not every message was acknowledged"
        );
    }
    let _ = out.client.disconnect().await;
    finish_driver(driver).await;
}

async fn publish_loop(
    devices: &mut [SimDevice],
    out: &mut Publisher,
    orders: &mut mpsc::Receiver<u32>,
    rng: &mut StdRng,
) -> Result<(), ClientError> {
    for d in devices.iter() {
        out.status(&d.status_topic, true).await?;
    }
    while let Some(local) = orders.recv().await {
        if let Some(d) = devices.get_mut(local as usize) {
            d.tick(out, rng).await?;
        }
    }
    for d in devices.iter_mut() {
        d.finish(out).await?;
    }
    Ok(())
}

/// Owns a spawned event-loop task and stops it when dropped, so a connection task that returns
/// early, is aborted, or whose caller gave up never leaves an MQTT connection behind.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Gives the event loop a moment to send DISCONNECT; dropping the guard then stops it regardless
/// (it may be stuck reconnecting to a broker that went away).
async fn finish_driver(mut driver: AbortOnDrop) {
    let _ = tokio::time::timeout(Duration::from_secs(2), &mut driver.0).await;
}

/// Polls the rumqttc event loop (which is what actually moves bytes), counting acknowledgements
/// and reconnecting with backoff. Gives up only on a connection that never came up.
async fn drive_eventloop(
    mut eventloop: EventLoop,
    acked: watch::Sender<u64>,
    state: watch::Sender<LinkState>,
    shared: Arc<Shared>,
    client_id: String,
) {
    let mut ever_connected = false;
    let mut failures = 0u32;
    let mut backoff = Duration::from_millis(100);
    loop {
        match eventloop.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                ever_connected = true;
                backoff = Duration::from_millis(100);
                state.send_replace(LinkState::Connected);
            }
            Ok(Event::Incoming(Packet::PubAck(_) | Packet::PubComp(_))) => {
                acked.send_modify(|a| *a += 1);
                bump(&shared.counters.acked, 1);
            }
            Ok(Event::Outgoing(Outgoing::Disconnect)) | Err(ConnectionError::RequestsDone) => {
                return
            }
            Ok(_) => {}
            Err(e) => {
                bump(&shared.counters.connect_failures, 1);
                if ever_connected {
                    tracing::warn!(%client_id, error = %e, "MQTT connection lost; reconnecting");
                } else {
                    failures += 1;
                    tracing::warn!(%client_id, error = %e, attempt = failures, "MQTT connect failed");
                    if failures >= MAX_CONNECT_ATTEMPTS {
                        state.send_replace(LinkState::Failed);
                        return;
                    }
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}

#[cfg(test)]
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

    #[test]
    fn numbered_devices_pad_and_use_the_id_as_username() {
        let d = numbered_devices("sim-", 100, Some("pw"));
        assert_eq!(d.len(), 100);
        assert_eq!(d[0].device_id, "sim-001");
        assert_eq!(d[99].device_id, "sim-100");
        assert_eq!(d[0].login(), Some(("sim-001".into(), "pw".into())));
        assert_eq!(numbered_devices("x", 3, None)[2].login(), None);
        assert!(!format!("{:?}", d[0]).contains("pw\""));
    }

    #[test]
    fn bad_configs_are_refused() {
        let ok = FleetConfig::new("127.0.0.1", 1883, numbered_devices("sim-", 3, None));
        assert!(ok.check().is_ok());
        let mut c = ok.clone();
        c.devices.clear();
        assert!(c.check().is_err());
        let mut c = ok.clone();
        c.devices.push(DeviceCreds::anonymous("sim-1"));
        assert!(c.check().is_err(), "duplicate id");
        let mut c = ok.clone();
        c.devices.push(DeviceCreds::anonymous("a/b"));
        assert!(c.check().is_err());
        let mut c = ok.clone();
        c.malformed_share = 1.5;
        assert!(c.check().is_err());
        let mut c = ok.clone();
        c.rate_per_sec = f64::NAN;
        assert!(c.check().is_err());
        let mut c = ok.clone();
        c.connections = Some(0);
        assert!(c.check().is_err());
        let mut c = ok;
        c.sites = vec![(95.0, 0.0)];
        assert!(c.check().is_err());
    }

    #[test]
    fn summary_table_lists_every_counter() {
        let mut s = FleetSummary {
            messages: 200,
            published: 190,
            acked: 200,
            status_published: 10,
            elapsed: Duration::from_secs(2),
            ..FleetSummary::default()
        };
        s.malformed_by_kind.insert("null_island", 3);
        let text = s.to_string();
        assert!(
            text.starts_with("200 messages in 2.00 s (100.0 msg/s)"),
            "{text}"
        );
        assert!(text.contains("null_island"));
        assert_eq!(s.unacked(), 0);
        assert_eq!(s.malformed_total(), 3);
    }
}
