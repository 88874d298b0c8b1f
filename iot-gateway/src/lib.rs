//! fieldops IoT gateway: the MQTT side of the server.
//!
//! [`connection`] keeps one MQTT session to the broker alive (the embedded one or an external
//! one, through the same code) and reports whether it is up. Ingest of telemetry builds on it.
#![forbid(unsafe_code)]

pub mod connection;
pub mod error;

pub use connection::{BrokerAddress, Gateway, GatewayOptions};
pub use error::GatewayError;
