//! What a fleet run reports: the final [`FleetSummary`], the [`FleetProgress`] snapshots while it
//! runs, and the lock-free counters both are read from.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::wire::MalformedKind;

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

fn per_sec(count: u64, elapsed: Duration) -> f64 {
    let secs = elapsed.as_secs_f64();
    if secs > 0.0 {
        count as f64 / secs
    } else {
        0.0
    }
}

/// Fleet-wide counters, updated lock-free by the connection tasks.
#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) messages: AtomicU64,
    pub(crate) published: AtomicU64,
    pub(crate) acked: AtomicU64,
    pub(crate) readings_sent: AtomicU64,
    pub(crate) status_published: AtomicU64,
    pub(crate) offline_flushes: AtomicU64,
    pub(crate) arrays_sent: AtomicU64,
    pub(crate) buffer_dropped: AtomicU64,
    pub(crate) connect_failures: AtomicU64,
    pub(crate) malformed: [AtomicU64; MalformedKind::ALL.len()],
}

pub(crate) fn bump(counter: &AtomicU64, by: u64) {
    counter.fetch_add(by, Ordering::Relaxed);
}

impl Counters {
    fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    fn malformed_total(&self) -> u64 {
        self.malformed.iter().map(Self::get).sum()
    }

    pub(crate) fn progress(&self, target: Option<u64>, elapsed: Duration) -> FleetProgress {
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

    pub(crate) fn summary(&self, connections: usize, elapsed: Duration) -> FleetSummary {
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

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

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
