//! fieldops IoT gateway: the MQTT side of the server.
//!
//! [`connection`] keeps the MQTT sessions to the broker alive (one, or `--mqtt-links` of them in
//! one shared group; the embedded broker or an external one, through the same code) and feeds
//! one [`pipeline`], which decodes, batches, commits through `domain::telemetry` and only then
//! acknowledges each message on the connection it came from.
#![forbid(unsafe_code)]

pub mod broker;
pub mod connection;
pub mod error;
pub mod metrics;
pub mod pipeline;

pub use connection::{BrokerAddress, Gateway, GatewayOptions};
pub use error::GatewayError;
pub use metrics::GatewayMetrics;
pub use pipeline::IngestSettings;
