//! The one error type of the gateway crate.

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("invalid MQTT URL `{url}`: {reason} (expected mqtt://[user:password@]host[:port])")]
    BadUrl { url: String, reason: &'static str },
    #[error(
        "cannot start the embedded MQTT endpoint: {0} is already in use (another broker, e.g. \
         Mosquitto, may be running). Choose another address with --mqtt-listen \
         (FIELDOPS_MQTT_LISTEN), e.g. --mqtt-listen 127.0.0.1:1884, or use that broker with \
         --mqtt-url mqtt://{0}"
    )]
    BrokerAddressInUse(std::net::SocketAddr),
    #[error(
        "cannot start the embedded MQTT endpoint on {0}: {1} (see --mqtt-listen / --mqtt-url)"
    )]
    Broker(std::net::SocketAddr, String),
    #[error("MQTT endpoint: {0}")]
    Endpoint(String),
    #[error("MQTT endpoint TLS: {0}")]
    Tls(String),
    #[error(transparent)]
    Domain(#[from] domain::DomainError),
}
