//! Gateway metrics, registered into the process's Prometheus registry.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    pub reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabel {
    /// `applied`, `duplicate`, `status`, `rejected`.
    pub result: &'static str,
}

#[derive(Clone, Debug)]
pub struct GatewayMetrics {
    pub messages: Counter,
    pub readings: Family<ResultLabel, Counter>,
    pub rejects: Family<ReasonLabel, Counter>,
    pub batch_size: Histogram,
    pub batch_seconds: Histogram,
    /// Commit time minus the reading's own timestamp: publish → committed latency when the
    /// tracker's clock is right (the benchmark's publishers share this machine's clock).
    pub lag_seconds: Histogram,
    pub batch_failures: Counter,
    pub in_flight: Gauge,
}

impl Default for GatewayMetrics {
    fn default() -> Self {
        GatewayMetrics {
            messages: Counter::default(),
            readings: Family::default(),
            rejects: Family::default(),
            batch_size: Histogram::new([
                1.0, 10.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2000.0, 4000.0, 8000.0,
            ]),
            batch_seconds: Histogram::new([
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
            ]),
            lag_seconds: Histogram::new([
                0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.3, 0.5, 0.75, 1.0,
                2.0, 5.0, 10.0, 60.0,
            ]),
            batch_failures: Counter::default(),
            in_flight: Gauge::default(),
        }
    }
}

impl GatewayMetrics {
    /// Registers every metric under `registry` (prefix `fieldops_` comes from the registry).
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "mqtt_messages",
            "MQTT messages received",
            self.messages.clone(),
        );
        registry.register(
            "ingest_readings",
            "Readings by outcome",
            self.readings.clone(),
        );
        registry.register(
            "ingest_rejects",
            "Rejected messages or readings by reason",
            self.rejects.clone(),
        );
        registry.register(
            "ingest_batch_size",
            "Messages per committed batch",
            self.batch_size.clone(),
        );
        registry.register(
            "ingest_batch_seconds",
            "Time to commit one batch",
            self.batch_seconds.clone(),
        );
        registry.register(
            "ingest_lag_seconds",
            "Commit time minus reading timestamp",
            self.lag_seconds.clone(),
        );
        registry.register(
            "ingest_batch_failures",
            "Batches whose transaction failed and was retried",
            self.batch_failures.clone(),
        );
        registry.register(
            "ingest_in_flight",
            "Messages received and not yet acknowledged",
            self.in_flight.clone(),
        );
    }
}
