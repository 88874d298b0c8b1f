//! fieldops IoT gateway: the MQTT side of the server.
//!
//! [`connection`] keeps one MQTT session to the broker alive (the embedded one or an external
//! one, through the same code) and feeds [`pipeline`], which decodes, batches, commits through
//! `domain::telemetry` and only then acknowledges each message.
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
