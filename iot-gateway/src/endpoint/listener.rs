//! The accept loop: the connection limit, TLS, one task (and tracing span) per connection.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::{rustls, TlsAcceptor};
use tracing::Instrument;

use super::{session, Refusal, Shared, TlsPem};
use crate::error::GatewayError;

/// Builds the TLS acceptor from PEM material.
pub(super) fn tls_acceptor(pem: &TlsPem) -> Result<TlsAcceptor, GatewayError> {
    server_tls_config(pem).map(TlsAcceptor::from)
}

/// The rustls server configuration of PEM material (ring provider, TLS 1.2 and 1.3): one for
/// every TLS listener of the binary, the MQTT endpoint's and the built-in HTTPS.
pub fn server_tls_config(pem: &TlsPem) -> Result<Arc<rustls::ServerConfig>, GatewayError> {
    let bad = |what: &str, e: &dyn std::fmt::Display| GatewayError::Tls(format!("{what}: {e}"));
    let chain = CertificateDer::pem_slice_iter(&pem.cert_chain)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad("certificate chain", &e))?;
    if chain.is_empty() {
        return Err(GatewayError::Tls(
            "the certificate chain holds no certificate".into(),
        ));
    }
    let key =
        PrivateKeyDer::from_pem_slice(&pem.private_key).map_err(|e| bad("private key", &e))?;
    // ring rather than aws-lc-rs: no cmake/C build for one optional listener. rustls deprecates
    // ring's provider for lacking post-quantum key exchange, which tracker TLS stacks (mbedTLS,
    // wolfSSL, Android's) do not offer anyway; the classical suites stay supported.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| bad("protocol versions", &e))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| bad("certificate and key", &e))?;
    Ok(Arc::new(config))
}

/// Accepts connections until `stop`, then waits for every connection task to finish.
pub(super) async fn accept_loop(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    let limit = Arc::new(Semaphore::new(shared.settings.max_connections));
    let mut tasks = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            _ = stop.wait_for(|s| *s) => break,
            // Reaps finished connections, so the set holds only live ones.
            Some(_) = tasks.join_next(), if !tasks.is_empty() => continue,
            accepted = listener.accept() => accepted,
        };
        let (tcp, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors, most likely: back off rather than spin.
                tracing::warn!(error = %e, "MQTT endpoint could not accept a connection");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(slot) = limit.clone().try_acquire_owned() else {
            shared.metrics.refuse(Refusal::ConnectionLimit);
            tracing::debug!(%peer, "MQTT connection refused: connection limit");
            continue;
        };
        // PUBACKs are small and latency is what a tracker waits on.
        let _ = tcp.set_nodelay(true);
        let span = tracing::info_span!(
            "mqtt_client",
            %peer,
            client_id = tracing::field::Empty,
            device = tracing::field::Empty,
            version = tracing::field::Empty,
        );
        let task = connection(tcp, peer, tls.clone(), shared.clone(), stop.clone(), slot);
        tasks.spawn(task.instrument(span));
    }
    drop(listener);
    while tasks.join_next().await.is_some() {}
    tracing::info!("MQTT endpoint stopped");
}

/// One connection: the TLS handshake when configured, then the session. Holds its slot of the
/// connection limit and its count in `mqtt_endpoint_connections` until it ends.
async fn connection(
    tcp: TcpStream,
    peer: SocketAddr,
    tls: Option<TlsAcceptor>,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
    _slot: OwnedSemaphorePermit,
) {
    shared.metrics.connections.inc();
    let deadline = Instant::now() + shared.settings.connect_timeout;
    match tls {
        None => session::serve(tcp, deadline, &shared, stop).await,
        Some(acceptor) => {
            let handshake = tokio::select! {
                handshake = tokio::time::timeout_at(deadline, acceptor.accept(tcp)) => Some(handshake),
                _ = stop.wait_for(|s| *s) => None,
            };
            match handshake {
                Some(Ok(Ok(stream))) => session::serve(stream, deadline, &shared, stop).await,
                Some(Ok(Err(e))) => {
                    shared.metrics.refuse(Refusal::TlsHandshake);
                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                }
                Some(Err(_)) => shared.metrics.refuse(Refusal::ConnectTimeout),
                None => {}
            }
        }
    }
    shared.metrics.connections.dec();
}
