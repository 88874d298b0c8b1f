//! The live stream behind `GET /api/v1/events`: one [`LiveHub`] per API process.
//!
//! - **Coalescing, once per process**: numbered events from [`fanout`](super::fanout) collect
//!   in a map keyed by what they describe (an asset's position, its meters, a device's status…),
//!   newer replacing older; every `flush_every` (250 ms) the map becomes one frame, sorted by
//!   id. So a client gets at most four frames a second and at most one event per key in each,
//!   however fast telemetry arrives, and the work is done once, not once per client.
//! - **Bounded everywhere**: frames reach clients through a broadcast queue of
//!   `client_frames` frames. A client that does not read (a slow browser, a stalled TCP
//!   window) never slows ingest, the hub or other clients: it falls behind, loses the oldest
//!   frames, and is sent `resync` (reload state) before it continues with the newest.
//! - **Resume**: the last `ring_entries` coalesced events are kept in memory. A client that
//!   reconnects with `Last-Event-ID` gets everything newer than it, coalesced again (the newest
//!   per key), if the ring still reaches back that far; otherwise `resync`. A ring in memory
//!   rather than a table: a client away longer than the ring covers needs current state, not
//!   a replay, and a table would cost every ingest batch a write.
//!
//! An event id is `seq × 1,000,000 + index`: the transaction's number in commit order and the
//! event's index in it (see [`event_id`]). The same on every process of a database, so a client
//! may resume on another one.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::JoinHandle;

use super::fanout::{Incoming, Source};
use super::{EventBus, LiveItem, Numbered};
use crate::store::Store;

/// Events per transaction an id can tell apart (ingest batches hold a few thousand).
const PER_SEQ: u64 = 1_000_000;

/// The id of the `index`th event of transaction `seq`.
pub fn event_id(seq: u64, index: u32) -> u64 {
    seq.saturating_mul(PER_SEQ)
        .saturating_add(u64::from(index).min(PER_SEQ - 1))
}

/// Settings of the live stream.
#[derive(Debug, Clone)]
pub struct LiveSettings {
    /// How often coalesced events are sent: at most one frame per client per period.
    pub flush_every: Duration,
    /// Coalesced events kept for `Last-Event-ID` resume.
    pub ring_entries: usize,
    /// Frames a client may fall behind before it is told to resync.
    pub client_frames: usize,
    /// SSE comment sent when nothing else was, so proxies keep the connection.
    pub keep_alive: Duration,
}

impl Default for LiveSettings {
    fn default() -> Self {
        LiveSettings {
            flush_every: Duration::from_millis(250),
            ring_entries: 50_000,
            // Eight seconds of frames.
            client_frames: 32,
            keep_alive: Duration::from_secs(15),
        }
    }
}

/// One coalesced event as clients get it.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub id: u64,
    pub item: LiveItem,
}

/// What the hub sends its clients.
#[derive(Debug, Clone)]
pub enum Frame {
    /// Coalesced events, in id order.
    Entries(Arc<[Entry]>),
    /// Events may have been lost: clients reload state. Carries the id to resume from.
    Resync(u64),
}

/// How a new client's stream starts.
#[derive(Debug, Clone, PartialEq)]
pub enum Start {
    /// No `Last-Event-ID`: live from `id` on.
    Fresh { id: u64 },
    /// Everything after the client's `Last-Event-ID`, coalesced.
    Replay(Vec<Entry>),
    /// The given id is no longer (or not) retained here: reload state, live from `id` on.
    Resync { id: u64 },
}

/// A client's view of the hub.
#[derive(Debug)]
pub struct Subscription {
    pub start: Start,
    pub frames: broadcast::Receiver<Frame>,
    /// Becomes `true` when the server shuts down: streams end so shutdown can finish.
    pub stop: watch::Receiver<bool>,
}

/// Cheap to clone.
#[derive(Debug, Clone)]
pub struct LiveHub(Arc<Shared>);

#[derive(Debug)]
struct Shared {
    settings: LiveSettings,
    ring: Mutex<Ring>,
    frames: broadcast::Sender<Frame>,
    started: AtomicBool,
    ready: watch::Sender<bool>,
    stop: watch::Sender<bool>,
}

/// Recent coalesced events. Everything with an id above `floor` that reached this process is
/// in `entries`; `head` is the newest id known (the last entry's, or `floor`).
#[derive(Debug, Default)]
struct Ring {
    entries: VecDeque<Entry>,
    floor: u64,
    head: u64,
}

impl Ring {
    fn push(&mut self, entry: Entry, cap: usize) {
        self.head = self.head.max(entry.id);
        self.entries.push_back(entry);
        while self.entries.len() > cap {
            if let Some(old) = self.entries.pop_front() {
                self.floor = self.floor.max(old.id);
            }
        }
    }

    /// Forgets everything: nothing at or below `at` can be replayed.
    fn reset(&mut self, at: u64) {
        self.entries.clear();
        self.floor = at;
        self.head = at;
    }

    fn start_for(&self, last: Option<u64>) -> Start {
        match last {
            None => Start::Fresh { id: self.head },
            // Older than what is kept, or newer than anything here (another database, an earlier
            // run, a process that has not caught up): nothing safe to replay.
            Some(l) if l < self.floor || l > self.head => Start::Resync { id: self.head },
            Some(l) => Start::Replay(coalesce(self.entries.iter().filter(|e| e.id > l))),
        }
    }
}

/// The newest entry per key, in id order.
fn coalesce<'a>(entries: impl Iterator<Item = &'a Entry>) -> Vec<Entry> {
    let mut newest: HashMap<&str, &Entry> = HashMap::new();
    for e in entries {
        newest.insert(e.item.key.as_str(), e);
    }
    let mut out: Vec<Entry> = newest.into_values().cloned().collect();
    out.sort_by_key(|e| e.id);
    out
}

impl Default for LiveHub {
    fn default() -> Self {
        LiveHub::new(LiveSettings::default())
    }
}

impl LiveHub {
    pub fn new(settings: LiveSettings) -> LiveHub {
        let (frames, _) = broadcast::channel(settings.client_frames.max(1));
        LiveHub(Arc::new(Shared {
            settings,
            ring: Mutex::new(Ring::default()),
            frames,
            started: AtomicBool::new(false),
            ready: watch::channel(false).0,
            stop: watch::channel(false).0,
        }))
    }

    pub fn settings(&self) -> &LiveSettings {
        &self.0.settings
    }

    /// Starts reading `store`'s events (PostgreSQL: LISTEN; SQLite: `bus`) until
    /// [`LiveHub::stop`]. Once per hub: a second call returns `None`.
    pub fn start(&self, store: Store, bus: EventBus) -> Option<JoinHandle<()>> {
        if self.0.started.swap(true, Ordering::SeqCst) {
            return None;
        }
        let shared = self.0.clone();
        Some(tokio::spawn(async move {
            let (tx, rx) = mpsc::channel(1024);
            let mut source = Source::open(&store, &bus).await;
            let _ = shared.ready.send(true);
            let mut stop = shared.stop.subscribe();
            // The source runs in its own task, so the pump's select never cancels a read.
            let reader = tokio::spawn(async move {
                loop {
                    let incoming = tokio::select! {
                        _ = stop.wait_for(|s| *s) => break,
                        i = source.next() => i,
                    };
                    let closed = matches!(incoming, Incoming::Closed);
                    if tx.send(incoming).await.is_err() || closed {
                        break;
                    }
                }
            });
            shared.pump(rx).await;
            let _ = reader.await;
        }))
    }

    /// Ends every client's stream and the hub's tasks.
    pub fn stop(&self) {
        let _ = self.0.stop.send(true);
    }

    /// Waits (at most `within`) until the hub reads events, so that a client subscribing
    /// afterwards misses nothing committed after it subscribed.
    pub async fn ready(&self, within: Duration) {
        let mut ready = self.0.ready.subscribe();
        let _ = tokio::time::timeout(within, ready.wait_for(|r| *r)).await;
    }

    /// A new client, resuming after `last_event_id` when given.
    pub fn subscribe(&self, last_event_id: Option<u64>) -> Subscription {
        let ring = self.0.lock_ring();
        // Under the ring's lock, which every flush takes: nothing falls between the replay
        // and the first live frame, and nothing is in both.
        let frames = self.0.frames.subscribe();
        let start = ring.start_for(last_event_id);
        drop(ring);
        Subscription {
            start,
            frames,
            stop: self.0.stop.subscribe(),
        }
    }

    /// Feeds numbered events directly (tests of the coalescing and the ring).
    pub fn feed_for_test(&self, pending: &mut Pending, batch: Numbered) {
        self.0.accept(pending, batch);
    }

    /// Sends what `pending` holds as one frame (tests).
    pub fn flush_for_test(&self, pending: &mut Pending) {
        self.0.flush(pending);
    }
}

/// Events received since the last flush, newest per key, and where the numbering stands.
#[derive(Debug, Default)]
pub struct Pending {
    by_key: HashMap<String, Entry>,
    /// `(seq, next index)` after the last accepted part; `None` at start and after a gap.
    last: Option<(u64, u32)>,
}

impl Shared {
    fn lock_ring(&self) -> MutexGuard<'_, Ring> {
        match self.ring.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    async fn pump(&self, mut rx: mpsc::Receiver<Incoming>) {
        let mut pending = Pending::default();
        let mut tick = tokio::time::interval(self.settings.flush_every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut stop = self.stop.subscribe();
        loop {
            tokio::select! {
                _ = stop.wait_for(|s| *s) => break,
                _ = tick.tick() => self.flush(&mut pending),
                incoming = rx.recv() => match incoming {
                    Some(Incoming::Batch(batch)) => self.accept(&mut pending, batch),
                    Some(Incoming::Gap) => {
                        self.flush(&mut pending);
                        let mut ring = self.lock_ring();
                        // One above the newest id: a client holding any id seen so far is
                        // told to resync when it reconnects.
                        let at = ring.head + 1;
                        ring.reset(at);
                        let _ = self.frames.send(Frame::Resync(at));
                        pending.last = None;
                    }
                    Some(Incoming::Closed) | None => break,
                },
            }
        }
    }

    fn accept(&self, pending: &mut Pending, batch: Numbered) {
        let (s, i) = (batch.seq, batch.first);
        let n = u32::try_from(batch.items.len()).unwrap_or(u32::MAX);
        match pending.last {
            Some((ls, ni)) if (s == ls && i == ni) || (s == ls + 1 && i == 0) => {}
            // Already seen (a notification that committed while LISTEN was being set up).
            Some((ls, ni)) if s < ls || (s == ls && i < ni) => return,
            Some(_) => {
                // A hole in the numbering: a part never arrived.
                tracing::warn!(
                    seq = s,
                    index = i,
                    "live events: numbering hole, clients resync"
                );
                self.flush(pending);
                let at = event_id(s, i).saturating_sub(1);
                self.lock_ring().reset(at);
                let _ = self.frames.send(Frame::Resync(at));
            }
            None => {
                // The first part since start or a gap: what came before it is not here.
                let mut ring = self.lock_ring();
                ring.floor = ring.floor.max(event_id(s, i).saturating_sub(1));
                ring.head = ring.head.max(ring.floor);
            }
        }
        for (k, item) in batch.items.iter().enumerate() {
            let index = i.saturating_add(u32::try_from(k).unwrap_or(u32::MAX));
            let entry = Entry {
                id: event_id(s, index),
                item: item.clone(),
            };
            pending.by_key.insert(item.key.clone(), entry);
        }
        pending.last = Some((s, i.saturating_add(n)));
    }

    fn flush(&self, pending: &mut Pending) {
        if pending.by_key.is_empty() {
            return;
        }
        let mut entries: Vec<Entry> = pending.by_key.drain().map(|(_, e)| e).collect();
        entries.sort_by_key(|e| e.id);
        let frame: Arc<[Entry]> = entries.into();
        let mut ring = self.lock_ring();
        for e in frame.iter() {
            ring.push(e.clone(), self.settings.ring_entries);
        }
        let _ = self.frames.send(Frame::Entries(frame));
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn position(asset: u32, lat: f64) -> LiveItem {
        LiveItem::from_json(format!(
            "{{\"type\":\"position\",\"asset_id\":\"0190f2a4-0000-7000-8000-{asset:012}\",\"lat\":{lat},\"lon\":11.5}}"
        ))
    }

    fn batch(seq: u64, first: u32, items: Vec<LiveItem>) -> Numbered {
        Numbered {
            seq,
            first,
            items: items.into(),
        }
    }

    fn lat(e: &Entry) -> f64 {
        let v: serde_json::Value = serde_json::from_str(&e.item.data).unwrap();
        v["lat"].as_f64().unwrap()
    }

    fn hub(ring: usize) -> LiveHub {
        LiveHub::new(LiveSettings {
            ring_entries: ring,
            ..LiveSettings::default()
        })
    }

    #[test]
    fn a_window_sends_the_newest_event_per_key_once() {
        let hub = hub(100);
        let mut sub = hub.subscribe(None);
        assert_eq!(sub.start, Start::Fresh { id: 0 });
        let mut p = Pending::default();
        hub.feed_for_test(
            &mut p,
            batch(5, 0, vec![position(1, 48.0), position(2, 49.0)]),
        );
        hub.feed_for_test(&mut p, batch(6, 0, vec![position(1, 48.5)]));
        hub.flush_for_test(&mut p);
        let Ok(Frame::Entries(frame)) = sub.frames.try_recv() else {
            panic!("one frame")
        };
        let got: Vec<(u64, f64)> = frame.iter().map(|e| (e.id, lat(e))).collect();
        assert_eq!(got, [(5_000_001, 49.0), (6_000_000, 48.5)]);
        assert!(sub.frames.try_recv().is_err(), "one frame per window");
        // An empty window sends nothing.
        hub.flush_for_test(&mut p);
        assert!(sub.frames.try_recv().is_err());
    }

    #[test]
    fn resume_replays_what_is_newer_coalesced_and_resyncs_beyond_the_ring() {
        let hub = hub(3);
        let mut p = Pending::default();
        for seq in 1..=4u64 {
            hub.feed_for_test(&mut p, batch(seq, 0, vec![position(1, seq as f64)]));
            hub.feed_for_test(&mut p, batch(seq, 1, vec![position(2, 10.0 + seq as f64)]));
            hub.flush_for_test(&mut p);
        }
        // Ring (3): 3_000_001 (asset 2), 4_000_000 (asset 1), 4_000_001 (asset 2).
        let Start::Replay(replay) = hub.subscribe(Some(3_000_001)).start else {
            panic!("retained")
        };
        assert_eq!(
            replay.iter().map(|e| (e.id, lat(e))).collect::<Vec<_>>(),
            [(4_000_000, 4.0), (4_000_001, 14.0)]
        );
        let Start::Replay(replay) = hub.subscribe(Some(3_000_000)).start else {
            panic!("the floor itself is retained")
        };
        assert_eq!(replay.len(), 2, "asset 2 coalesced to its newest");
        assert_eq!(
            hub.subscribe(Some(2_000_001)).start,
            Start::Resync { id: 4_000_001 },
            "evicted"
        );
        assert_eq!(
            hub.subscribe(Some(9_000_000)).start,
            Start::Resync { id: 4_000_001 },
            "unknown here"
        );
        assert_eq!(hub.subscribe(Some(4_000_001)).start, Start::Replay(vec![]));
    }

    #[test]
    fn a_hole_in_the_numbering_makes_clients_resync() {
        let hub = hub(100);
        let mut p = Pending::default();
        hub.feed_for_test(&mut p, batch(1, 0, vec![position(1, 1.0)]));
        hub.flush_for_test(&mut p);
        let mut sub = hub.subscribe(Some(1_000_000));
        // Transaction 2 never arrived.
        hub.feed_for_test(&mut p, batch(3, 0, vec![position(1, 3.0)]));
        hub.flush_for_test(&mut p);
        assert!(matches!(
            sub.frames.try_recv(),
            Ok(Frame::Resync(2_999_999))
        ));
        assert!(matches!(sub.frames.try_recv(), Ok(Frame::Entries(_))));
        assert_eq!(
            hub.subscribe(Some(1_000_000)).start,
            Start::Resync { id: 3_000_000 }
        );
        // A part seen twice is ignored.
        hub.feed_for_test(&mut p, batch(3, 0, vec![position(1, 3.0)]));
        hub.flush_for_test(&mut p);
        assert!(sub.frames.try_recv().is_err());
    }

    #[test]
    fn kinds_and_keys() {
        let enter = LiveItem::from_json(
            r#"{"type":"geofence_enter","asset_id":"0190f2a4-0000-7000-8000-000000000001","site_id":"0190f2a4-0000-7000-8000-000000000002"}"#.into(),
        );
        let exit = LiveItem::from_json(
            r#"{"type":"geofence_exit","asset_id":"0190f2a4-0000-7000-8000-000000000001","site_id":"0190f2a4-0000-7000-8000-000000000002"}"#.into(),
        );
        assert_eq!(enter.key, exit.key, "a newer crossing replaces the older");
        let status = LiveItem::from_json(
            r#"{"type":"device_status","device_id":"trk-1","asset_id":"0190f2a4-0000-7000-8000-000000000001","online":true}"#.into(),
        );
        assert_eq!(status.key, "device_status/device:trk-1");
        assert_eq!(event_id(7, 3), 7_000_003);
    }
}
