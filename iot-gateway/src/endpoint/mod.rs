//! The embedded MQTT endpoint: trackers connect here and the ingest pipeline sits right behind
//! it, so a QoS 1 PUBLISH is acknowledged only after the batch holding it committed.
//!
//! # Why not the embedded broker
//!
//! With the embedded rumqttd this replaced, a tracker's PUBLISH was acknowledged as soon as it
//! was in the broker's memory, and the gateway, a loopback client, committed later: a crash in
//! between lost what the trackers were already told was safe (measured: SIGKILL right after a
//! tracker got 20,000 PUBACKs lost 5,954 readings). rumqttd also has no topic ACL, so a tracker
//! could publish as another. Here there is no broker-side queue to lose: the PUBACK is released by the commit
//! of the pipeline's transaction ([`crate::pipeline::Ack::Endpoint`]), and each device may
//! publish only under its own id ([`acl`]).
//!
//! # Why a codec on tokio
//!
//! The packet codecs are rumqttc's own (MQTT 3.1.1 and 5), which the gateway already depends on
//! for its client; this module only frames, decides and answers ([`codec`]). A server framework
//! such as ntex-mqtt would bring a second runtime and its own service model between the socket
//! and the pipeline; a broker library (rumqttd, or any broker) would bring back the queue that
//! acknowledges before commit. On plain tokio a session is one task whose state is visible in one
//! place: the PUBLISHes awaiting their commit, in arrival order, each a oneshot the pipeline
//! fires after commit ([`session`]).
//!
//! # What it is not
//!
//! Not a general broker: nothing is ever delivered to a subscriber (SUBSCRIBE is answered so that
//! clients such as OwnTracks, which subscribe to their command topics, work; they receive
//! nothing), no retained messages (a retained PUBLISH is ingested like any other), no bridges,
//! no shared subscriptions, no QoS 2. Deployments that need those run Mosquitto or EMQX and
//! point the gateway at it with `--mqtt-url` (the rumqttc client path, [`crate::connection`]).
//!
//! # Behaviour
//!
//! - **Versions**: MQTT 3.1.1 and 5, decided by the CONNECT; any other protocol level gets the
//!   3.1.1 CONNACK "unacceptable protocol version" and the connection is closed.
//! - **CONNECT** first, within [`EndpointSettings::connect_timeout`] (TLS handshake included).
//!   Username = device id, password checked by [`DeviceAuth`] (successes cached). Any client id;
//!   an empty one is assigned (MQTT 5 returns it), except 3.1.1 with a persistent session, which
//!   MQTT refuses. A second connection of the same device with the same client id takes the
//!   session over and the older connection is closed (without its will: the device is back).
//!   Client ids are scoped per device, so no tracker can end another's session.
//! - **Topics** ([`acl`]): a device publishes only in its own space (`fieldops/v1/<id>/…`,
//!   `owntracks/<id>…`, the space the exported Mosquitto ACL grants). A publish outside it is
//!   never delivered: MQTT 5 answers PUBACK 0x87 (not authorised); MQTT 3.1.1, whose PUBACK
//!   carries no refusal, has the connection closed. A publish inside the space that is no ingest
//!   topic is acknowledged and dropped, as a broker drops what no subscription matches.
//! - **QoS**: QoS 0 is delivered; QoS 1 is delivered and acknowledged after commit, each
//!   connection's PUBACKs in its PUBLISH order. QoS 2 is refused: MQTT 5's CONNACK advertises
//!   Maximum QoS 1 and a QoS 2 PUBLISH gets DISCONNECT 0x9B; MQTT 3.1.1 has no way to say so,
//!   and the server may close a connection for what it does not support, so it is closed.
//!   SUBSCRIBE is granted at most QoS 1.
//! - **Last will**: allowed on a topic the device may publish on (its status topic, or
//!   OwnTracks' own will); otherwise the CONNECT is refused as not authorised. Delivered to the
//!   pipeline, as QoS 0, when the connection ends without a DISCONNECT (socket error, keep-alive
//!   timeout, a refusal) or with MQTT 5's "disconnect with will". Not on takeover or shutdown,
//!   when "offline" would be false or would mark the whole fleet offline for a restart. The will
//!   delay is not honoured (the will is delivered at once).
//! - **Sessions**: for a client that only publishes, the server's session state is empty: no
//!   subscription ever delivers anything, there is no QoS 2 state, and unacknowledged QoS 1
//!   messages are the client's to re-send on reconnect (MQTT 4.4), which ingest's (device, time)
//!   dedupe makes harmless. So `session_present` is true exactly when the client asks to resume
//!   a persistent session this process has seen (and, in MQTT 5, not expired): that session's
//!   state is the empty state it is given. After a restart of the process it is false; a
//!   strictly conforming MQTT 5 client then discards its unacknowledged messages (§3.2.2.1.2),
//!   which only matters after a crash, since a graceful shutdown acknowledges everything held.
//! - **Limits**: [`EndpointSettings::max_packet_size`] (advertised in MQTT 5's CONNACK; a larger
//!   packet is refused from its fixed header: DISCONNECT 0x95 in MQTT 5, a close in 3.1.1);
//!   [`EndpointSettings::max_in_flight`] QoS 1 publishes delivered and unacknowledged per
//!   connection (MQTT 5's Receive Maximum), beyond which the socket is not read until commits
//!   free room, and [`EndpointSettings::max_in_flight_bytes`] of them across all connections
//!   (packets may be large), so memory stays bounded however slow the database is; a client that does not
//!   read its PUBACKs is dropped after [`EndpointSettings::write_timeout`];
//!   [`EndpointSettings::max_connections`], beyond which a connection is accepted and closed at
//!   once; keep-alive (a connection silent for 1.5 × its keep-alive is closed; PINGREQ is
//!   answered); bytes that are not MQTT close the connection.
//! - **TLS** (rustls) when [`EndpointSettings::tls`] holds a certificate chain and key.
//! - **Shutdown**: stop accepting and reading, let the pipeline commit and acknowledge what it
//!   holds, write those PUBACKs (MQTT 5: then DISCONNECT 0x8B), close.
//!
//! Every refusal is counted in [`EndpointMetrics::refused`] by reason ([`Refusal::as_str`]).

pub mod acl;
pub mod auth;
mod codec;
mod listener;
pub mod metrics;
mod session;
mod sessions;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinHandle;

pub use auth::DeviceAuth;
pub use listener::server_tls_config;
pub use metrics::EndpointMetrics;

use crate::error::GatewayError;
use crate::pipeline::Feed;

/// How the endpoint listens and what it admits.
#[derive(Debug, Clone)]
pub struct EndpointSettings {
    /// From accepting a connection to its CONNECT (TLS handshake included); sockets that never
    /// send one are closed after this.
    pub connect_timeout: Duration,
    /// Largest MQTT packet taken, fixed header included. Larger than the pipeline's payload
    /// limit (256 KiB) on purpose: a payload between the two reaches the decoder and is stored
    /// as a `payload_too_large` reject and acknowledged, whereas a packet refused here is one a
    /// 3.1.1 tracker re-sends on every reconnect, forever, with everything queued behind it.
    pub max_packet_size: usize,
    /// QoS 1 publishes delivered and not yet acknowledged per connection (MQTT 5: Receive
    /// Maximum); at the limit the connection is not read until commits free room.
    pub max_in_flight: u16,
    /// Open connections; beyond this a connection is accepted and closed at once.
    pub max_connections: usize,
    /// Bytes (topic + payload) of all publishes handed to the pipeline and not yet acknowledged,
    /// across every connection; when it is used up, connections are not read until commits give
    /// some back. The per-connection limit counts packets, and a packet may be
    /// `max_packet_size`: this is what bounds the endpoint's memory whatever trackers send.
    pub max_in_flight_bytes: usize,
    /// How long a write (PUBACKs, …) may make no progress before the client is dropped: one
    /// that does not read its socket must not hold its session, and its memory, forever.
    pub write_timeout: Duration,
    /// On shutdown, how long to wait for the pipeline to acknowledge what it holds.
    pub shutdown_grace: Duration,
    /// TLS certificate chain and private key; plain TCP when `None`.
    pub tls: Option<TlsPem>,
}

impl Default for EndpointSettings {
    fn default() -> Self {
        EndpointSettings {
            connect_timeout: Duration::from_secs(10),
            max_packet_size: 1024 * 1024,
            max_in_flight: 1000,
            max_connections: 50_000,
            // Ordinary readings are a few hundred bytes, so this never binds for them (the
            // pipeline's 16,384-delivery channel and two batches of 4,000 hold ~5 MB); it binds
            // for large payloads, where it keeps the endpoint's share of memory at 64 MiB.
            max_in_flight_bytes: 64 * 1024 * 1024,
            write_timeout: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(30),
            tls: None,
        }
    }
}

/// A PEM certificate chain (leaf first) and its PEM private key (PKCS#8, PKCS#1 or SEC1). The
/// contents, not paths: only the binary reads files (ARCHITECTURE.md, invariants).
#[derive(Clone)]
pub struct TlsPem {
    pub cert_chain: Vec<u8>,
    pub private_key: Vec<u8>,
}

impl std::fmt::Debug for TlsPem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsPem")
            .field(
                "cert_chain",
                &format_args!("{} bytes", self.cert_chain.len()),
            )
            .field("private_key", &"***")
            .finish()
    }
}

/// Why the endpoint refused a connection or a publish, or closed a connection because of what
/// its client did. The label of `mqtt_endpoint_refused{reason}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// More than [`EndpointSettings::max_connections`] open.
    ConnectionLimit,
    /// No CONNECT within [`EndpointSettings::connect_timeout`].
    ConnectTimeout,
    TlsHandshake,
    /// Bytes that are not MQTT (or a first packet that is not a CONNECT).
    Malformed,
    /// A protocol other than MQTT 3.1.1 or 5.
    ProtocolVersion,
    /// Unknown device or wrong password.
    BadCredentials,
    /// The credentials could not be checked (database away).
    AuthUnavailable,
    /// MQTT 5 enhanced authentication.
    AuthMethod,
    /// An empty client id with a persistent 3.1.1 session.
    ClientId,
    /// A last will outside the device's topic space (or, MQTT 5, at QoS 2).
    WillNotAuthorized,
    /// A publish outside the device's topic space.
    PublishNotAuthorized,
    /// A QoS 2 publish.
    Qos2,
    /// A packet over [`EndpointSettings::max_packet_size`].
    PacketTooLarge,
    /// A packet out of place (a second CONNECT, a PUBREL, …).
    ProtocolError,
    /// An MQTT 5 topic alias (none is granted).
    TopicAlias,
    /// Silent for 1.5 × the keep-alive.
    KeepAlive,
    /// Did not read what the endpoint wrote within [`EndpointSettings::write_timeout`].
    WriteTimeout,
}

impl Refusal {
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::ConnectionLimit => "connection_limit",
            Refusal::ConnectTimeout => "connect_timeout",
            Refusal::TlsHandshake => "tls_handshake",
            Refusal::Malformed => "malformed",
            Refusal::ProtocolVersion => "protocol_version",
            Refusal::BadCredentials => "bad_credentials",
            Refusal::AuthUnavailable => "auth_unavailable",
            Refusal::AuthMethod => "auth_method",
            Refusal::ClientId => "client_id",
            Refusal::WillNotAuthorized => "will_not_authorized",
            Refusal::PublishNotAuthorized => "publish_not_authorized",
            Refusal::Qos2 => "qos2",
            Refusal::PacketTooLarge => "packet_too_large",
            Refusal::ProtocolError => "protocol_error",
            Refusal::TopicAlias => "topic_alias",
            Refusal::KeepAlive => "keep_alive_timeout",
            Refusal::WriteTimeout => "write_timeout",
        }
    }
}

/// What every connection task shares.
pub(crate) struct Shared {
    pub settings: EndpointSettings,
    pub auth: DeviceAuth,
    pub feed: Feed,
    pub metrics: EndpointMetrics,
    pub sessions: sessions::Sessions,
    /// Numbers connections, so a session's late close never ends its successor.
    pub next_connection: AtomicU64,
    /// [`EndpointSettings::max_in_flight_bytes`] in KiB units, as semaphore permits that each
    /// delivery holds until it is acknowledged.
    pub budget: Arc<Semaphore>,
    pub budget_units: u32,
}

/// A running endpoint.
pub struct Endpoint {
    local_addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Endpoint {
    /// Serves MQTT on `listener` (bind port 0 for a free one), feeding the pipeline through
    /// `feed`, until `shutdown` resolves; then stops accepting and reading, waits (up to
    /// [`EndpointSettings::shutdown_grace`]) for the pipeline to acknowledge what it holds,
    /// writes those PUBACKs and closes every connection. Fails only on bad TLS material or a
    /// listener without an address.
    pub fn start(
        listener: TcpListener,
        settings: EndpointSettings,
        auth: DeviceAuth,
        feed: Feed,
        metrics: EndpointMetrics,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<Endpoint, GatewayError> {
        let local_addr = listener
            .local_addr()
            .map_err(|e| GatewayError::Endpoint(e.to_string()))?;
        let tls = settings
            .tls
            .as_ref()
            .map(listener::tls_acceptor)
            .transpose()?;
        let (stop_tx, stop_rx) = watch::channel(false);
        let budget_units = u32::try_from(settings.max_in_flight_bytes.div_ceil(1024))
            .unwrap_or(u32::MAX)
            .max(1);
        let shared = Arc::new(Shared {
            settings,
            auth,
            feed,
            metrics,
            sessions: sessions::Sessions::default(),
            next_connection: AtomicU64::new(0),
            budget: Arc::new(Semaphore::new(budget_units as usize)),
            budget_units,
        });
        let task = tokio::spawn(async move {
            let accept = listener::accept_loop(listener, tls, shared, stop_rx);
            tokio::pin!(accept);
            tokio::select! {
                _ = &mut accept => return,
                _ = shutdown => { let _ = stop_tx.send(true); }
            }
            accept.await;
        });
        tracing::info!(%local_addr, "MQTT endpoint listening");
        Ok(Endpoint { local_addr, task })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Waits until every connection is closed after shutdown.
    pub async fn join(self) {
        if let Err(e) = self.task.await {
            tracing::error!(error = %e, "MQTT endpoint task failed");
        }
    }
}
