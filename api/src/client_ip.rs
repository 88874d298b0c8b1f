//! The client's network address, for the per-address login limit.
//!
//! It is the TCP peer address that [`crate::serve`] records for every connection (axum's
//! `ConnectInfo`). Behind a reverse proxy that is the proxy's address, which the per-address
//! limit then applies to every user at once (the per-account limit still applies per
//! account); a trusted proxy's `X-Forwarded-For` belongs here, in this one place, once the
//! operator can name the proxy. A router run without `serve` (tests calling it in-process)
//! has no peer address, and the per-address limit does not apply.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;

/// The client's address, when the server knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(addr)| addr.ip().to_canonical()),
        ))
    }
}
