//! The one error type of the gateway crate.

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("invalid MQTT URL `{url}`: {reason} (expected mqtt://[user:password@]host[:port])")]
    BadUrl { url: String, reason: &'static str },
    #[error(transparent)]
    Domain(#[from] domain::DomainError),
}
