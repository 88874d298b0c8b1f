//! One run's result: the table row (and its header) and the JSON object.

use std::fmt::Write as _;

use serde_json::json;
use simulators::RawRate;

use super::phase::Phase;
use super::scrape::Quantile;
use super::BrokerKind;

/// Everything one run measured, with what it was measured on.
pub(super) struct Report {
    pub(super) backend: &'static str,
    pub(super) broker: BrokerKind,
    pub(super) assets: usize,
    pub(super) messages: u64,
    /// Trackers that published, and the MQTT connections they shared.
    pub(super) trackers: usize,
    pub(super) connections: usize,
    pub(super) raw_messages: u64,
    /// `None` for the embedded endpoint, which delivers to no subscriber: its baseline is the
    /// Mosquitto row of the same backend in the same run.
    pub(super) raw: Option<RawRate>,
    pub(super) max: Phase,
    pub(super) half_rate_target: f64,
    /// `None` when skipped (the max-rate phase did not complete).
    pub(super) half: Option<Phase>,
    pub(super) peak_rss_kb: u64,
    pub(super) broker_peak_rss_kb: Option<u64>,
    pub(super) load_start: [f64; 3],
    pub(super) load_end: [f64; 3],
    pub(super) started_at: chrono::DateTime<chrono::Utc>,
}

impl Report {
    /// Every reading of both phases committed, and a baseline measured where there is one.
    pub(super) fn complete(&self) -> bool {
        self.max.complete()
            && self.half.as_ref().is_some_and(Phase::complete)
            && self.raw.as_ref().is_none_or(|r| r.msgs_per_sec > 0.0)
    }

    fn pct_of_raw(&self) -> Option<f64> {
        let raw = self.raw.as_ref()?;
        Some(if raw.msgs_per_sec > 0.0 {
            self.max.committed_per_sec() * 100.0 / raw.msgs_per_sec
        } else {
            0.0
        })
    }

    pub(super) fn table_header() -> String {
        "| backend | broker | assets | trackers / connections | messages | raw QoS 1 msg/s \
         | committed msg/s | % of raw | p50 ms ½-rate | p99 ms ½-rate | gateway CPU µs/msg \
         | peak RSS MB |\n\
         |---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
            .to_owned()
    }

    /// Said under a table with an embedded row.
    pub(super) const EMBEDDED_NOTE: &str = "embedded rows: no raw QoS 1 rate (the endpoint \
        delivers to no subscriber); their baseline is the same gateway through Mosquitto, the \
        mosquitto row of the same backend in the same run";

    pub(super) fn table_row(&self) -> String {
        let q = |p: Option<Quantile>| p.map_or_else(|| "–".to_owned(), Quantile::ms);
        let mut row = String::new();
        let _ = write!(
            row,
            "| {} | {}{} | {} | {} / {} | {} | {} | {:.0}{} | {} | {} | {} | {:.1} | {:.0} |",
            self.backend,
            self.broker.as_str(),
            if self.broker == BrokerKind::Embedded {
                " (endpoint)"
            } else {
                ""
            },
            self.assets,
            self.trackers,
            self.connections,
            self.messages,
            self.raw.as_ref().map_or_else(
                || "– (see mosquitto)".to_owned(),
                |r| format!("{:.0}", r.msgs_per_sec)
            ),
            self.max.committed_per_sec(),
            if self.max.complete() {
                String::new()
            } else {
                format!(
                    " (STALLED: {} of {} committed)",
                    self.max.applied, self.max.fleet.readings_sent
                )
            },
            self.pct_of_raw()
                .map_or_else(|| "–".to_owned(), |p| format!("{p:.0} %")),
            q(self.half.as_ref().and_then(|h| h.p(0.5))),
            q(self.half.as_ref().and_then(|h| h.p(0.99))),
            self.max.us_per_msg(|c| c.gateway),
            self.peak_rss_kb as f64 / 1024.0,
        );
        row
    }

    pub(super) fn to_json(&self) -> serde_json::Value {
        let phase = |p: &Phase| {
            json!({
                "complete": p.complete(),
                "readings_sent": p.fleet.readings_sent,
                "published_msgs_per_sec": p.fleet.messages_per_sec(),
                "publish_elapsed_s": p.fleet.elapsed.as_secs_f64(),
                "unacked": p.fleet.unacked(),
                "applied": p.applied,
                "not_applied": p.not_applied,
                "commit_elapsed_s": p.commit_elapsed.as_secs_f64(),
                "committed_msgs_per_sec": p.committed_per_sec(),
                "cpu_us_per_msg": {
                    "gateway": p.us_per_msg(|c| c.gateway),
                    "broker_process": p.us_per_msg(|c| c.broker),
                    "simulator": p.us_per_msg(|c| c.simulator),
                    "postgres_all_processes": p.us_per_msg(|c| c.postgres),
                },
                "machine_busy_pct": p.machine_busy_pct(),
                "gateway_syscall_bytes_per_msg": {
                    "read": p.per_msg(|c| c.gateway_rchar),
                    "written": p.per_msg(|c| c.gateway_wchar),
                },
                "lag_ms_bucket_interpolated": {
                    "p50": p.p(0.5).map(Quantile::to_json),
                    "p99": p.p(0.99).map(Quantile::to_json),
                },
            })
        };
        json!({
            "date": self.started_at.to_rfc3339(),
            "backend": self.backend,
            "broker": self.broker.as_str(),
            "broker_in_gateway_process": self.broker == BrokerKind::Embedded,
            "assets": self.assets,
            "messages": self.messages,
            "publishing_trackers": self.trackers,
            "connections": self.connections,
            "raw_qos1": self.raw.as_ref().map(|r| json!({
                "messages": self.raw_messages,
                "received": r.received,
                "elapsed_s": r.elapsed.as_secs_f64(),
                "msgs_per_sec": r.msgs_per_sec,
            })),
            "raw_qos1_note": self.raw.is_none().then_some(Self::EMBEDDED_NOTE),
            "committed_msgs_per_sec": self.max.committed_per_sec(),
            "pct_of_raw": self.pct_of_raw(),
            "max_rate": phase(&self.max),
            "half_rate": {
                "target_msgs_per_sec": self.half_rate_target,
                "phase": self.half.as_ref().map(phase),
            },
            "peak_rss_mb": self.peak_rss_kb as f64 / 1024.0,
            "broker_peak_rss_mb": self.broker_peak_rss_kb.map(|k| k as f64 / 1024.0),
            "loadavg_start": self.load_start,
            "loadavg_end": self.load_end,
            "complete": self.complete(),
        })
    }
}
