//! Simulators and load generators for fieldops.
//!
//! Nothing here is used in production; it exists so the ingest path can be demonstrated, tested
//! end to end and benchmarked against a real MQTT broker without real machinery.
//!
//! - trackers: a fleet of GPS trackers on rental machinery, from the `tracker-sim` crate
//!   (re-exported here: [`run_fleet`], [`FleetConfig`], …). Each device drives between depots
//!   and customer sites, idles with its ignition cycling, advances its hour meter and odometer
//!   plausibly, and publishes native telemetry (`fieldops/v1/<device_id>/telemetry`, DESIGN.md §4)
//!   at QoS 1. It can also misbehave on purpose — go offline and flush a buffer as a JSON array,
//!   send every kind of malformed payload the gateway must refuse — and counts what it did, so a
//!   test or benchmark can compare the gateway's counters with the truth. It is a crate of its
//!   own because `fieldops demo` uses it too, and the server binary must not link this one; the
//!   ingest benchmark uses it for 100 000 devices over a few connections.
//! - [`raw_rate`]: the broker's raw QoS 1 delivery rate to one do-nothing subscriber. Benchmarks
//!   print it next to the gateway's rate as the ceiling nothing built on that broker and client
//!   can beat.
//! - [`phone`]: technicians' phones driving the field-scan API over HTTP — deliveries and
//!   returns (some identified by a photo of the label), inspections and meter readings, offline
//!   queues flushed as batches with duplicates, a stocktake with RFID bursts — and a summary of
//!   what the server answered (applied / duplicate / rejected by reason).
//!
//! The `fieldops-sim` binary exposes them on the command line (`trackers`, `raw-rate`, `phone`).
#![forbid(unsafe_code)]

pub mod phone;
pub mod raw_rate;

use anyhow::{bail, Context, Result};

pub use phone::{run_phones, PhoneConfig, PhoneRun, PhoneSummary, StocktakeChoice};
pub use raw_rate::{measure_raw_qos1, RawRate};
pub use tracker_sim::{
    numbered_devices, run_fleet, run_fleet_with_progress, DeviceCreds, FleetConfig, FleetProgress,
    FleetSummary, MalformedKind,
};

/// Port used when a broker URL names none (the MQTT default).
pub const DEFAULT_MQTT_PORT: u16 = 1883;

/// Splits `mqtt://host:port` (also `tcp://…` or a bare `host:port`, IPv6 as `[::1]:1883`) into
/// host and port, since the workspace builds rumqttc without its URL feature.
pub fn parse_broker_url(url: &str) -> Result<(String, u16)> {
    let rest = url.trim();
    let rest = match rest.split_once("://") {
        Some(("mqtt" | "tcp", rest)) => rest,
        Some((scheme, _)) => {
            bail!("unsupported broker URL scheme {scheme:?} in {url:?} (use mqtt://host:port)")
        }
        None => rest,
    };
    let rest = rest.trim_end_matches('/');
    if rest.contains('/') || rest.contains('@') {
        bail!("broker URL {url:?} must be mqtt://host:port, without path or credentials");
    }
    let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
        let (host, after) = v6
            .split_once(']')
            .with_context(|| format!("unclosed '[' in broker URL {url:?}"))?;
        (host, after.strip_prefix(':'))
    } else {
        match rest.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (rest, None),
        }
    };
    if host.is_empty() {
        bail!("broker URL {url:?} has no host");
    }
    let port = match port {
        Some(p) => p
            .parse::<u16>()
            .with_context(|| format!("bad port {p:?} in broker URL {url:?}"))?,
        None => DEFAULT_MQTT_PORT,
    };
    Ok((host.to_owned(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_urls() {
        let ok = [
            ("mqtt://127.0.0.1:1883", ("127.0.0.1", 1883)),
            ("tcp://broker:11883/", ("broker", 11883)),
            ("localhost", ("localhost", 1883)),
            ("mqtt://[::1]:1884", ("::1", 1884)),
            ("[::1]", ("::1", 1883)),
        ];
        for (url, (host, port)) in ok {
            assert_eq!(
                parse_broker_url(url).unwrap(),
                (host.to_owned(), port),
                "{url}"
            );
        }
        for bad in [
            "mqtts://x:8883",
            "mqtt://:1883",
            "mqtt://h:99999",
            "mqtt://u:p@h:1",
            "mqtt://h/x",
        ] {
            assert!(parse_broker_url(bad).is_err(), "{bad}");
        }
    }
}
