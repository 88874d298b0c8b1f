//! The endpoint's Prometheus metrics: connections, refusals by reason, publishes awaiting their
//! commit, wills. Registered next to [`crate::GatewayMetrics`] in the process's registry.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::metrics::ReasonLabel;

/// Counters and gauges of the MQTT endpoint. Cheap to clone (shared values).
#[derive(Clone, Debug, Default)]
pub struct EndpointMetrics {
    /// Open network connections (authenticated or not yet).
    pub connections: Gauge,
    /// CONNECTs accepted.
    pub sessions: Counter,
    /// Connections refused or closed because of what the client did, by reason
    /// ([`Refusal::as_str`](super::Refusal::as_str)); a v5 publish refused with a PUBACK
    /// reason code counts here too, although its connection stays open.
    pub refused: Family<ReasonLabel, Counter>,
    /// QoS 1 publishes handed to the pipeline and not yet acknowledged, over all connections.
    pub in_flight: Gauge,
    /// Sessions ended by a newer connection with the same device and client id.
    pub takeovers: Counter,
    /// Last wills handed to the pipeline.
    pub wills: Counter,
    /// Publishes inside the device's own topic space that no ingest topic matches: acknowledged
    /// and dropped, as a broker drops a message no subscription matches.
    pub unrouted: Counter,
}

impl EndpointMetrics {
    /// Registers every metric under `registry` (prefix `fieldops_` comes from the registry).
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "mqtt_endpoint_connections",
            "Open connections to the MQTT endpoint",
            self.connections.clone(),
        );
        registry.register(
            "mqtt_endpoint_sessions",
            "CONNECTs the MQTT endpoint accepted",
            self.sessions.clone(),
        );
        registry.register(
            "mqtt_endpoint_refused",
            "Connections or publishes the MQTT endpoint refused, by reason",
            self.refused.clone(),
        );
        registry.register(
            "mqtt_endpoint_in_flight",
            "QoS 1 publishes delivered to ingest and not yet acknowledged",
            self.in_flight.clone(),
        );
        registry.register(
            "mqtt_endpoint_takeovers",
            "Sessions taken over by a newer connection with the same client id",
            self.takeovers.clone(),
        );
        registry.register(
            "mqtt_endpoint_wills",
            "Last wills delivered to ingest",
            self.wills.clone(),
        );
        registry.register(
            "mqtt_endpoint_unrouted",
            "Publishes in a device's own topic space that no ingest topic matches (dropped)",
            self.unrouted.clone(),
        );
    }

    /// Counts one refusal.
    pub(crate) fn refuse(&self, refusal: super::Refusal) {
        self.refused
            .get_or_create(&ReasonLabel {
                reason: refusal.as_str().to_owned(),
            })
            .inc();
    }

    /// `mqtt_endpoint_refused{reason}` (for tests and status pages).
    pub fn refusals(&self, reason: &str) -> u64 {
        self.refused
            .get_or_create(&ReasonLabel {
                reason: reason.to_owned(),
            })
            .get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_are_exported_under_their_names() {
        let metrics = EndpointMetrics::default();
        metrics.refuse(super::super::Refusal::Qos2);
        let mut registry = Registry::with_prefix("fieldops");
        metrics.register(&mut registry);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        for name in [
            "fieldops_mqtt_endpoint_connections ",
            "fieldops_mqtt_endpoint_sessions_total ",
            "fieldops_mqtt_endpoint_refused_total{reason=\"qos2\"} 1",
            "fieldops_mqtt_endpoint_in_flight ",
            "fieldops_mqtt_endpoint_takeovers_total ",
            "fieldops_mqtt_endpoint_wills_total ",
            "fieldops_mqtt_endpoint_unrouted_total ",
        ] {
            assert!(text.contains(name), "{name} missing from\n{text}");
        }
    }
}
