//! The embedded gateway: the MQTT endpoint with the ingest pipeline right behind it, for running
//! on one box with no broker ([`crate::endpoint`] says why and what it is not). The counterpart
//! of [`crate::Gateway`], which reaches a broker as a client.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use domain::telemetry::Ingestor;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::Instrument;

use crate::endpoint::{DeviceAuth, Endpoint, EndpointMetrics, EndpointSettings};
use crate::error::GatewayError;
use crate::metrics::GatewayMetrics;
use crate::pipeline::{self, Feed, IngestSettings};

/// Publishes handed to the pipeline and not yet taken into a batch. The per-connection
/// in-flight limit bounds what each tracker has unacknowledged; this bounds all of them
/// together (a full channel holds every connection's reading back) and only has to hold more
/// than a batch, so the next batch is ready while one commits.
const DELIVERY_CHANNEL: usize = 16_384;

/// How the embedded gateway is tuned.
#[derive(Debug, Clone, Default)]
pub struct EmbeddedSettings {
    pub endpoint: EndpointSettings,
    /// Batching and validation ([`IngestSettings::for_backend`] fits them to the database).
    pub ingest: IngestSettings,
}

/// A running embedded gateway: endpoint, pipeline and silence watch.
pub struct EmbeddedGateway {
    local_addr: SocketAddr,
    tasks: Vec<JoinHandle<()>>,
}

impl EmbeddedGateway {
    /// Binds `addr` (port 0: a free port, see [`EmbeddedGateway::local_addr`]) and serves
    /// trackers there until `shutdown` resolves; then stops accepting and reading, commits and
    /// acknowledges what the pipeline holds, writes those PUBACKs and closes. A taken address is
    /// [`GatewayError::BrokerAddressInUse`].
    pub async fn start(
        addr: SocketAddr,
        settings: EmbeddedSettings,
        auth: DeviceAuth,
        ingestor: Arc<Ingestor>,
        metrics: GatewayMetrics,
        endpoint_metrics: EndpointMetrics,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<EmbeddedGateway, GatewayError> {
        let listener = TcpListener::bind(addr).await.map_err(|e| match e.kind() {
            std::io::ErrorKind::AddrInUse => GatewayError::BrokerAddressInUse(addr),
            _ => GatewayError::Broker(addr, e.to_string()),
        })?;
        Self::start_on(
            listener,
            settings,
            auth,
            ingestor,
            metrics,
            endpoint_metrics,
            shutdown,
        )
    }

    /// [`EmbeddedGateway::start`] on a listener bound by the caller (socket options of its
    /// own, say; accepted connections inherit them).
    pub fn start_on(
        listener: TcpListener,
        settings: EmbeddedSettings,
        auth: DeviceAuth,
        ingestor: Arc<Ingestor>,
        metrics: GatewayMetrics,
        endpoint_metrics: EndpointMetrics,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<EmbeddedGateway, GatewayError> {
        let (stop_tx, stop_rx) = watch::channel(false);
        let stopped = move || {
            let mut rx = stop_rx.clone();
            async move {
                let _ = rx.wait_for(|s| *s).await;
            }
        };
        let (feed, deliveries) = Feed::channel(DELIVERY_CHANNEL, &metrics);
        let endpoint = Endpoint::start(
            listener,
            settings.endpoint,
            auth,
            feed,
            endpoint_metrics,
            stopped(),
        )?;
        let local_addr = endpoint.local_addr();
        let mut tasks = vec![tokio::spawn(endpoint.join())];
        let span = tracing::info_span!("ingest", endpoint = %local_addr);
        tasks.push(tokio::spawn(
            pipeline::run(
                deliveries,
                Vec::new(),
                ingestor.clone(),
                settings.ingest.clone(),
                metrics,
                stopped(),
            )
            .instrument(span.clone()),
        ));
        tasks.push(tokio::spawn(
            pipeline::silence_watch(ingestor, settings.ingest, stopped()).instrument(span),
        ));
        tasks.push(tokio::spawn(async move {
            shutdown.await;
            let _ = stop_tx.send(true);
        }));
        Ok(EmbeddedGateway { local_addr, tasks })
    }

    /// The address trackers connect to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Waits for every task to finish after shutdown.
    pub async fn join(self) {
        for t in self.tasks {
            if let Err(e) = t.await {
                tracing::error!(error = %e, "embedded gateway task failed");
            }
        }
    }
}
