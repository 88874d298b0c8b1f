//! Per-channel delivery metrics for `/metrics`: delivered, retried and failed attempts, and the
//! pending backlog.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ChannelLabels {
    pub channel: String,
}

/// Cheap to clone: the families share their counters.
#[derive(Clone, Debug, Default)]
pub struct NotifierMetrics {
    pub delivered: Family<ChannelLabels, Counter>,
    pub retried: Family<ChannelLabels, Counter>,
    pub failed: Family<ChannelLabels, Counter>,
    pub pending: Family<ChannelLabels, Gauge>,
}

impl NotifierMetrics {
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "notification_deliveries_delivered",
            "Notification deliveries delivered, by channel",
            self.delivered.clone(),
        );
        registry.register(
            "notification_deliveries_retried",
            "Notification delivery attempts that failed and will be retried, by channel",
            self.retried.clone(),
        );
        registry.register(
            "notification_deliveries_failed",
            "Notification deliveries given up (out of attempts or refused), by channel",
            self.failed.clone(),
        );
        registry.register(
            "notification_deliveries_pending",
            "Notification deliveries waiting to be sent, by channel",
            self.pending.clone(),
        );
    }

    pub(crate) fn labels(channel: mobile_shared::notifications::Channel) -> ChannelLabels {
        ChannelLabels {
            channel: channel.as_str().to_owned(),
        }
    }
}
