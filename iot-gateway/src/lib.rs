//! fieldops IoT gateway: the MQTT side of the server.
//!
//! Two ways in, one [`pipeline`], which decodes, batches, commits through `domain::telemetry`
//! and only then acknowledges each message on the connection it came from:
//! - [`endpoint`]: trackers connect to this process ([`EmbeddedGateway`]); a QoS 1 publish is
//!   acknowledged after its batch committed, and each device publishes only under its own id.
//! - [`connection`]: MQTT sessions to a broker (one, or `--mqtt-links` of them in one shared
//!   group) on an external broker such as Mosquitto (`--mqtt-url`).
#![forbid(unsafe_code)]

pub mod connection;
mod embedded;
pub mod endpoint;
pub mod error;
pub mod metrics;
pub mod pipeline;

pub use connection::{BrokerAddress, Gateway, GatewayOptions};
pub use embedded::{EmbeddedGateway, EmbeddedSettings};
pub use endpoint::{DeviceAuth, Endpoint, EndpointMetrics, EndpointSettings};
pub use error::GatewayError;
pub use metrics::GatewayMetrics;
pub use pipeline::IngestSettings;
