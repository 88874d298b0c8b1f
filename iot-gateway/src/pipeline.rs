//! The ingest pipeline: MQTT publishes → decoded messages → batches (up to a size, committed
//! as soon as nothing more is waiting, at most `batch_wait` after the first) → one domain
//! transaction → PUBACKs.
//!
//! A publish is acknowledged only after the transaction holding its effects has committed, so a
//! crash at any point loses nothing: the broker redelivers what was not acknowledged and the
//! (device, time) dedupe makes the redelivery a no-op. Rejects are committed (and then
//! acknowledged) like readings, so a poison message is stored once and never redelivered.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::Utc;
use domain::telemetry::{Ingestor, LockTurn, Message, MessageKind};
use domain::DomainError;
use mobile_shared::telemetry::{self, Decoded, Limits, RejectReason};
use prometheus_client::metrics::gauge::Gauge;
use rumqttc::{AsyncClient, Publish};
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit};
use tokio::task::JoinHandle;
use tracing::Instrument;

use crate::metrics::{GatewayMetrics, ReasonLabel, ResultLabel};

/// Longest payload kept in the reject table; the rest is cut (the detail says so).
const MAX_STORED_PAYLOAD: usize = 64 * 1024;

#[derive(Debug, Clone)]
pub struct IngestSettings {
    /// Flush a batch when it holds this many messages…
    pub batch_max: usize,
    /// …or as soon as nothing more is waiting once it holds at least this many…
    pub batch_min: usize,
    /// …or this long after its first message arrived.
    pub batch_wait: Duration,
    /// Batches committing at the same time (each in its own transaction; acknowledged in
    /// arrival order).
    pub max_concurrent_batches: usize,
    pub limits: Limits,
    /// A device silent this long is marked offline and its asset stale.
    pub silent_after: chrono::Duration,
    /// How often to look for silent devices.
    pub silent_check: Duration,
}

impl Default for IngestSettings {
    fn default() -> Self {
        IngestSettings {
            batch_max: 1000,
            batch_min: 1,
            batch_wait: Duration::from_millis(50),
            max_concurrent_batches: 2,
            limits: Limits {
                // Offline buffers flush as one array: 1000 readings are ~150 KB.
                max_payload_bytes: 256 * 1024,
                ..Limits::default()
            },
            silent_after: chrono::Duration::minutes(15),
            silent_check: Duration::from_secs(30),
        }
    }
}

impl IngestSettings {
    /// The defaults, with batching fitted to the database behind the gateway.
    ///
    /// SQLite has one writer, and a commit's cost is the pages it dirties; with readings from a
    /// large fleet in random order, most of them are a page per reading, so larger batches share
    /// more pages (measured with 100,000 assets: 1,000 → 4,000 readings per batch took ingest
    /// from 10,800 to 15,000 readings/s). A second batch in flight would only queue for the
    /// writer, and would close at `batch_wait` while it queues; with one, what arrives during a
    /// commit waits in the channel and becomes the next, larger batch. PostgreSQL commits
    /// batches in parallel on separate connections, two at once; larger batches cut its CPU per
    /// reading too (store level: 79 → 56 µs from 1,000 to 4,000; through Mosquitto 26,280 →
    /// 28,488 msg/s, BENCHMARKS.md).
    pub fn for_backend(backend: domain::store::Backend) -> IngestSettings {
        match backend {
            domain::store::Backend::Sqlite => IngestSettings {
                batch_max: 4000,
                max_concurrent_batches: 1,
                ..IngestSettings::default()
            },
            domain::store::Backend::Postgres => IngestSettings {
                batch_max: 4000,
                ..IngestSettings::default()
            },
        }
    }
}

/// Turns one publish (its topic and payload) into domain messages: its valid readings, plus one
/// reject per reading that failed validation (or one reject for the whole message when it
/// cannot be decoded).
pub fn decode_publish(topic_name: &str, payload: &[u8], limits: &Limits) -> Vec<Message> {
    let now = Utc::now();
    let reject = |device_id: Option<String>, reason: &RejectReason, detail: String| Message {
        topic: topic_name.to_owned(),
        received_at: now,
        kind: MessageKind::Rejected {
            device_id,
            reason: reason.as_str(),
            detail,
            payload: stored_payload(payload),
        },
    };
    let topic = match telemetry::parse_topic(topic_name) {
        Ok(t) => t,
        Err(reason) => return vec![reject(None, &reason, reason.to_string())],
    };
    let device_id = topic.device_id().to_owned();
    match telemetry::decode_with_limits(&topic, payload, now, limits) {
        Err(reason) => vec![reject(Some(device_id), &reason, reason.to_string())],
        Ok(Decoded::Ignored) => vec![],
        Ok(Decoded::Status(status)) => vec![Message {
            topic: topic_name.to_owned(),
            received_at: now,
            kind: MessageKind::Status { device_id, status },
        }],
        Ok(Decoded::Readings(readings)) => {
            let total = readings.len();
            let mut out = Vec::new();
            let mut valid = Vec::with_capacity(total);
            for (i, r) in readings.into_iter().enumerate() {
                match telemetry::validate(&r, now, limits) {
                    Ok(()) => valid.push(r),
                    Err(reason) => {
                        let detail = if total > 1 {
                            format!("reading {} of {total}: {reason}", i + 1)
                        } else {
                            reason.to_string()
                        };
                        out.push(reject(Some(device_id.clone()), &reason, detail));
                    }
                }
            }
            if !valid.is_empty() {
                out.push(Message {
                    topic: topic_name.to_owned(),
                    received_at: now,
                    kind: MessageKind::Readings {
                        device_id,
                        readings: valid,
                    },
                });
            }
            out
        }
    }
}

fn stored_payload(payload: &[u8]) -> Vec<u8> {
    payload[..payload.len().min(MAX_STORED_PAYLOAD)].to_vec()
}

/// Logs each reject reason at most once per interval, with how many were suppressed, so a
/// misbehaving fleet cannot flood the logs.
struct RejectLog {
    every: Duration,
    last: HashMap<&'static str, (Instant, u64)>,
}

impl RejectLog {
    fn new(every: Duration) -> RejectLog {
        RejectLog {
            every,
            last: HashMap::new(),
        }
    }

    fn note(&mut self, m: &Message) {
        let MessageKind::Rejected {
            reason,
            detail,
            device_id,
            ..
        } = &m.kind
        else {
            return;
        };
        let now = Instant::now();
        match self.last.get_mut(reason) {
            Some((at, suppressed)) if now.duration_since(*at) < self.every => *suppressed += 1,
            entry => {
                let suppressed = entry.map(|(_, s)| *s).unwrap_or(0);
                tracing::warn!(
                    topic = %m.topic,
                    device = device_id.as_deref().unwrap_or("-"),
                    reason,
                    suppressed,
                    "telemetry rejected: {detail}"
                );
                self.last.insert(reason, (now, 0));
            }
        }
    }
}

/// One publish handed to the pipeline: what it says, and how to acknowledge it once the batch
/// holding it has committed.
#[derive(Debug)]
pub struct Delivery {
    pub topic: String,
    pub payload: Bytes,
    pub ack: Ack,
    /// The share of the embedded endpoint's in-flight byte budget this delivery holds: given
    /// back when the delivery is dropped, after its batch was acknowledged (or abandoned).
    pub held: Option<OwnedSemaphorePermit>,
}

/// How a delivery is acknowledged after its batch committed. Acknowledgements are sent in the
/// order the deliveries reached the pipeline, so each connection's PUBACKs leave in the order
/// of its PUBLISHes.
#[derive(Debug)]
pub enum Ack {
    /// Nothing to acknowledge (QoS 0, or a last will the endpoint publishes itself).
    None,
    /// A publish received by the rumqttc client on link `link` (an index into the clients given
    /// to [`run`]): PUBACK packet ids belong to a connection, so it is acknowledged on the link
    /// it came from. `publish` carries the QoS and packet id `AsyncClient::ack` needs; its topic
    /// and payload moved into the delivery.
    Link { link: usize, publish: Publish },
    /// A publish received by the embedded endpoint ([`crate::endpoint`]): the connection's
    /// session writes the PUBACK when this fires. Dropped unfired (a batch that did not commit,
    /// a pipeline that stopped) it tells the session that no PUBACK will come.
    Endpoint(oneshot::Sender<()>),
}

impl Delivery {
    /// A publish the rumqttc client received on link `link`, acknowledged there.
    pub fn from_link(link: usize, mut publish: Publish) -> Delivery {
        Delivery {
            topic: std::mem::take(&mut publish.topic),
            payload: std::mem::take(&mut publish.payload),
            ack: Ack::Link { link, publish },
            held: None,
        }
    }
}

/// The pipeline's input for a feeder that waits for room (the embedded endpoint, which stops
/// reading a connection while the pipeline is full). Each delivery is counted in
/// `ingest_in_flight` as it is handed over, as the rumqttc links count theirs.
#[derive(Debug, Clone)]
pub struct Feed {
    tx: mpsc::Sender<Delivery>,
    in_flight: Gauge,
}

impl Feed {
    /// A feed holding up to `capacity` deliveries, and the receiver to give [`run`].
    pub fn channel(capacity: usize, metrics: &GatewayMetrics) -> (Feed, mpsc::Receiver<Delivery>) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let feed = Feed {
            tx,
            in_flight: metrics.in_flight.clone(),
        };
        (feed, rx)
    }

    /// Hands `delivery` over, waiting while the pipeline is full; gives it back when the
    /// pipeline has stopped.
    pub async fn send(&self, delivery: Delivery) -> Result<(), Delivery> {
        // Counted first: the pipeline may acknowledge it (and count it down) before `send`
        // returns.
        self.in_flight.inc();
        self.tx.send(delivery).await.map_err(|e| {
            self.in_flight.dec();
            e.0
        })
    }
}

/// A batch handed to the database, not yet acknowledged.
struct InFlight {
    publishes: Vec<Delivery>,
    /// Resolves to whether the batch committed.
    commit: JoinHandle<bool>,
}

/// Waits for the oldest batch in flight; never resolves when there is none (so it can sit in a
/// `select!` next to the channel).
async fn oldest_done(pending: &mut VecDeque<InFlight>) -> Result<bool, tokio::task::JoinError> {
    match pending.front_mut() {
        Some(f) => (&mut f.commit).await,
        None => std::future::pending().await,
    }
}

/// Receives publishes from the connections (the rumqttc links, whose clients are `clients`, or
/// the embedded endpoint's sessions), batches, ingests, acknowledges. Returns when
/// `shutdown` resolves (after committing and acknowledging what it already holds) or when the
/// connection side closes the channel.
///
/// Up to `settings.max_concurrent_batches` transactions run at once (on PostgreSQL they use
/// separate connections and cores; ingest locks rows in one global order, so they serialise
/// only where they touch the same device or asset). PUBACKs still go out in the order the
/// publishes arrived: a batch is acknowledged only after every older batch was.
pub async fn run(
    mut rx: mpsc::Receiver<Delivery>,
    clients: Vec<AsyncClient>,
    ingestor: Arc<Ingestor>,
    settings: IngestSettings,
    metrics: GatewayMetrics,
    shutdown: impl Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    let mut log = RejectLog::new(Duration::from_secs(10));
    let stopping = Arc::new(AtomicBool::new(false));
    let mut pending: VecDeque<InFlight> = VecDeque::new();
    let max_pending = settings.max_concurrent_batches.max(1);
    // Resolves when the newest batch handed out holds its row locks.
    let mut newest_locked: Option<oneshot::Receiver<()>> = None;
    'run: loop {
        if pending.len() >= max_pending {
            let done = oldest_done(&mut pending).await;
            if !acknowledge_oldest(&mut pending, done, &clients, &metrics).await {
                break;
            }
            continue;
        }
        let is_stopping = stopping.load(Ordering::Relaxed);
        let first = if is_stopping {
            match rx.try_recv() {
                Ok(p) => p,
                Err(_) => break,
            }
        } else {
            tokio::select! {
                biased;
                done = oldest_done(&mut pending) => {
                    if !acknowledge_oldest(&mut pending, done, &clients, &metrics).await {
                        break 'run;
                    }
                    continue;
                }
                _ = &mut shutdown => { stopping.store(true, Ordering::Relaxed); continue; }
                p = rx.recv() => match p { Some(p) => p, None => break },
            }
        };
        let mut batch = vec![first];
        let deadline = tokio::time::Instant::now() + settings.batch_wait;
        while batch.len() < settings.batch_max {
            if stopping.load(Ordering::Relaxed) {
                match rx.try_recv() {
                    Ok(p) => batch.push(p),
                    Err(_) => break,
                }
                continue;
            }
            // Take what is already waiting. When nothing is and no batch is in flight, commit
            // now rather than wait out `batch_wait`: a broker with a small in-flight window
            // sends no more until this batch is acknowledged, so waiting would
            // only add latency. While a batch is in flight, keep collecting instead (group
            // commit): small batches behind a busy database cost far more per message.
            match rx.try_recv() {
                Ok(p) => {
                    batch.push(p);
                    continue;
                }
                Err(mpsc::error::TryRecvError::Disconnected) => break,
                Err(mpsc::error::TryRecvError::Empty)
                    if pending.is_empty() && batch.len() >= settings.batch_min =>
                {
                    break
                }
                Err(mpsc::error::TryRecvError::Empty) => {}
            }
            tokio::select! {
                biased;
                done = oldest_done(&mut pending) => {
                    if !acknowledge_oldest(&mut pending, done, &clients, &metrics).await {
                        // Leave this batch unacknowledged too; the broker redelivers it.
                        break 'run;
                    }
                }
                p = rx.recv() => match p { Some(p) => batch.push(p), None => break },
                _ = tokio::time::sleep_until(deadline) => break,
                _ = &mut shutdown => { stopping.store(true, Ordering::Relaxed); }
            }
        }
        // `.instrument`, not `span.enter()`: an entered guard held across awaits leaks the span
        // into other tasks on this worker thread.
        let span = tracing::info_span!("batch", messages = batch.len());
        let messages = span.in_scope(|| decode_batch(&batch, &settings, &metrics, &mut log));
        let (taken, locked) = oneshot::channel();
        let turn = LockTurn {
            wait: newest_locked.replace(locked),
            taken: Some(taken),
        };
        let commit = tokio::spawn(
            commit(
                messages,
                turn,
                ingestor.clone(),
                metrics.clone(),
                stopping.clone(),
                batch.len(),
            )
            .instrument(span),
        );
        pending.push_back(InFlight {
            publishes: batch,
            commit,
        });
    }
    // Finish (or give up on, while stopping) what is in flight, acknowledging in order.
    while !pending.is_empty() {
        let done = oldest_done(&mut pending).await;
        if !acknowledge_oldest(&mut pending, done, &clients, &metrics).await {
            break;
        }
    }
    tracing::info!("ingest pipeline stopped");
}

/// Acknowledges the oldest batch after its commit finished. Returns false when it did not
/// commit (the pipeline stops; the broker redelivers the unacknowledged messages to this
/// session later).
async fn acknowledge_oldest(
    pending: &mut VecDeque<InFlight>,
    done: Result<bool, tokio::task::JoinError>,
    clients: &[AsyncClient],
    metrics: &GatewayMetrics,
) -> bool {
    let Some(batch) = pending.pop_front() else {
        return true;
    };
    match done {
        Ok(true) => {}
        Ok(false) => return false,
        Err(e) => {
            tracing::error!(error = %e, "ingest task failed; leaving its batch unacknowledged");
            return false;
        }
    }
    let acknowledged = batch.publishes.len();
    for d in batch.publishes {
        match d.ack {
            Ack::None => {}
            Ack::Link { link, publish } => {
                let Some(client) = clients.get(link) else {
                    tracing::error!(link, "publish from an unknown link; not acknowledged");
                    continue;
                };
                if let Err(e) = client.ack(&publish).await {
                    tracing::warn!(error = %e, "could not queue PUBACK; the broker will redeliver");
                }
            }
            // A session that already closed no longer wants it; the client re-sends.
            Ack::Endpoint(done) => {
                let _ = done.send(());
            }
        }
    }
    metrics.in_flight.dec_by(acknowledged as i64);
    true
}

/// Decodes a batch of publishes (on the pipeline task, so the reject log stays in one place).
fn decode_batch(
    batch: &[Delivery],
    settings: &IngestSettings,
    metrics: &GatewayMetrics,
    log: &mut RejectLog,
) -> Vec<Message> {
    metrics.messages.inc_by(batch.len() as u64);
    let messages: Vec<Message> = batch
        .iter()
        .flat_map(|d| decode_publish(&d.topic, &d.payload, &settings.limits))
        .collect();
    for m in &messages {
        log.note(m);
    }
    messages
}

/// Commits one batch, retrying transient database failures (never dropping the batch) and
/// isolating a message that fails on its own. Returns false only if it gave up while stopping.
async fn commit(
    messages: Vec<Message>,
    turn: LockTurn,
    ingestor: Arc<Ingestor>,
    metrics: GatewayMetrics,
    stopping: Arc<AtomicBool>,
    publishes: usize,
) -> bool {
    let start = Instant::now();
    let mut backoff = Duration::from_millis(100);
    let mut attempts = 0u32;
    // Only the first attempt waits its turn; a retry (after a rollback) runs when it can.
    let mut turn = Some(turn);
    let report = loop {
        let attempt = ingestor.ingest_in_turn(&messages, turn.take().unwrap_or_default());
        match attempt.await {
            Ok(report) => break report,
            Err(e) if e.is_unavailable() => {
                metrics.batch_failures.inc();
                attempts += 1;
                if stopping.load(Ordering::Relaxed) && attempts >= 3 {
                    tracing::error!(error = %e, "database unavailable during shutdown; leaving batch unacknowledged");
                    return false;
                }
                tracing::error!(error = %e, retry_in_ms = backoff.as_millis() as u64, "database unavailable; retrying batch");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
            Err(e) => {
                metrics.batch_failures.inc();
                tracing::error!(error = %e, "batch failed; applying its messages one by one");
                break isolate(&messages, &ingestor).await;
            }
        }
    };
    let count = |result, n: usize| {
        metrics
            .readings
            .get_or_create(&ResultLabel { result })
            .inc_by(n as u64)
    };
    count("applied", report.applied);
    count("duplicate", report.duplicates);
    count("status", report.statuses);
    for (reason, n) in &report.rejected {
        count("rejected", *n as usize);
        metrics
            .rejects
            .get_or_create(&ReasonLabel {
                reason: (*reason).to_owned(),
            })
            .inc_by(*n);
    }
    let now = Utc::now();
    for m in &messages {
        if let MessageKind::Readings { readings, .. } = &m.kind {
            for r in readings {
                let lag = (now - r.ts).num_microseconds().unwrap_or(i64::MAX) as f64 / 1e6;
                metrics.lag_seconds.observe(lag.max(0.0));
            }
        }
    }
    metrics.batch_size.observe(publishes as f64);
    metrics.batch_seconds.observe(start.elapsed().as_secs_f64());
    true
}

/// Applies messages one at a time after a batch failed for a reason other than the database
/// being away; a message that still fails is stored as a reject (`ingest_error`).
async fn isolate(messages: &[Message], ingestor: &Ingestor) -> domain::telemetry::IngestReport {
    let mut total = domain::telemetry::IngestReport::default();
    for m in messages {
        let one = std::slice::from_ref(m);
        let mut backoff = Duration::from_millis(50);
        let outcome = loop {
            match ingestor.ingest(one).await {
                // A transient failure (lock, deadlock, database away) is never the message's
                // fault: retry it rather than storing it as a reject.
                Err(e) if e.is_unavailable() => {
                    tracing::warn!(error = %e, "transient failure; retrying message");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
                other => break other,
            }
        };
        let report = match outcome {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(topic = %m.topic, error = %e, "message failed on its own; stored as a reject");
                let reject = poison(m, &e);
                match ingestor.ingest(std::slice::from_ref(&reject)).await {
                    Ok(r) => r,
                    Err(e) => {
                        tracing::error!(error = %e, "could not store the reject either");
                        continue;
                    }
                }
            }
        };
        total.applied += report.applied;
        total.duplicates += report.duplicates;
        total.statuses += report.statuses;
        for (k, v) in report.rejected {
            *total.rejected.entry(k).or_default() += v;
        }
    }
    total
}

fn poison(m: &Message, e: &DomainError) -> Message {
    let (device_id, payload) = match &m.kind {
        MessageKind::Readings {
            device_id,
            readings,
        } => (Some(device_id.clone()), telemetry::encode_native(readings)),
        MessageKind::Status { device_id, .. } => (Some(device_id.clone()), Vec::new()),
        MessageKind::Rejected {
            device_id, payload, ..
        } => (device_id.clone(), payload.clone()),
    };
    Message {
        topic: m.topic.clone(),
        received_at: m.received_at,
        kind: MessageKind::Rejected {
            device_id,
            reason: "ingest_error",
            detail: e.to_string(),
            payload,
        },
    }
}

/// Periodically marks devices that went silent.
pub async fn silence_watch(
    ingestor: Arc<Ingestor>,
    settings: IngestSettings,
    shutdown: impl Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    let mut tick = tokio::time::interval(settings.silent_check);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            _ = tick.tick() => {
                match ingestor.mark_silent(settings.silent_after).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(devices = n, "devices went silent"),
                    Err(e) => tracing::warn!(error = %e, "silence check failed"),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rumqttc::QoS;

    fn publish(topic: &str, payload: &str) -> (String, Vec<u8>) {
        (topic.to_owned(), payload.as_bytes().to_vec())
    }

    fn decode((topic, payload): (String, Vec<u8>), limits: &Limits) -> Vec<Message> {
        decode_publish(&topic, &payload, limits)
    }

    #[test]
    fn a_link_delivery_keeps_what_the_ack_needs() {
        let mut p = Publish::new(
            "fieldops/v1/trk-1/status",
            QoS::AtLeastOnce,
            b"online".to_vec(),
        );
        p.pkid = 7;
        let d = Delivery::from_link(3, p);
        assert_eq!(d.topic, "fieldops/v1/trk-1/status");
        assert_eq!(&d.payload[..], b"online");
        match d.ack {
            Ack::Link { link: 3, publish } => {
                assert_eq!((publish.pkid, publish.qos), (7, QoS::AtLeastOnce))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn decode_splits_valid_readings_from_rejects() {
        let now = Utc::now().to_rfc3339();
        let payload = format!(
            r#"[{{"ts":"{now}","lat":48.1,"lon":11.5}},{{"ts":"{now}","lat":95.0,"lon":11.5}}]"#
        );
        let msgs = decode(
            publish("fieldops/v1/trk-1/telemetry", &payload),
            &Limits::default(),
        );
        assert_eq!(msgs.len(), 2);
        assert!(msgs.iter().any(
            |m| matches!(&m.kind, MessageKind::Readings { readings, .. } if readings.len() == 1)
        ));
        assert!(msgs.iter().any(|m| matches!(&m.kind, MessageKind::Rejected { reason: "lat_lon_out_of_range", detail, .. } if detail.starts_with("reading 2 of 2"))));
    }

    #[test]
    fn bad_topics_and_json_are_rejects_with_the_payload() {
        let msgs = decode(publish("elsewhere/x", "{}"), &Limits::default());
        assert!(matches!(
            &msgs[0].kind,
            MessageKind::Rejected {
                reason: "bad_topic",
                ..
            }
        ));
        let msgs = decode(
            publish("fieldops/v1/trk-1/telemetry", "{not json"),
            &Limits::default(),
        );
        match &msgs[0].kind {
            MessageKind::Rejected {
                reason,
                payload,
                device_id,
                ..
            } => {
                assert_eq!(*reason, "malformed_json");
                assert_eq!(payload.as_slice(), b"{not json");
                assert_eq!(device_id.as_deref(), Some("trk-1"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn status_and_ignored() {
        let msgs = decode(
            publish("fieldops/v1/trk-1/status", "offline"),
            &Limits::default(),
        );
        assert!(matches!(
            &msgs[0].kind,
            MessageKind::Status {
                status: telemetry::DeviceStatus::Offline,
                ..
            }
        ));
        assert!(decode(
            publish("fieldops/v1/trk-1/telemetry", ""),
            &Limits::default()
        )
        .is_empty());
    }
}
