//! The embedded MQTT broker (rumqttd), for running on one box without installing a broker.
//! Being replaced by [`crate::endpoint`] (see [`crate::EmbeddedGateway`]), which acknowledges a
//! tracker's publish only after it committed and confines each tracker to its own topics.
//!
//! With a [`BrokerAuth`] it admits only registered trackers (username = device id, password
//! checked against the stored hash) and the in-process gateway, which gets a random credential
//! at startup. rumqttd has no ACLs, so the embedded broker authenticates but cannot confine a
//! tracker to its own topics; an external Mosquitto with the exported ACL file does that (see
//! `deploy/mosquitto/`).

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use domain::devices::EMBEDDED_GATEWAY_USERNAME;
use domain::{secrets, Store};
use rumqttd::{Broker, Config, ConnectionSettings, RouterConfig, ServerSettings};

use crate::endpoint::auth::DeviceAuth;
pub use crate::endpoint::auth::DEFAULT_AUTH_CACHE_TTL;
use crate::error::GatewayError;

/// Decides who may connect to the embedded broker: registered trackers, checked by
/// [`DeviceAuth`], and the in-process gateway, whose random credential is made here (see
/// [`BrokerAuth::gateway_credentials`]). Everything else is refused.
///
/// Cheap to clone (shared state), so the same instance serves the broker and whoever needs the
/// gateway's credential.
#[derive(Clone)]
pub struct BrokerAuth {
    inner: Arc<AuthInner>,
}

#[derive(Clone)]
struct AuthInner {
    devices: DeviceAuth,
    gateway_username: String,
    gateway_password: String,
    /// Client ids only the gateway may use: a tracker connecting with the gateway's client id
    /// would take over (and end) the gateway's session.
    reserved_client_ids: Vec<String>,
}

impl std::fmt::Debug for BrokerAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrokerAuth")
            .field("gateway_username", &self.inner.gateway_username)
            .field("gateway_password", &"***")
            .field("devices", &self.inner.devices)
            .finish()
    }
}

impl BrokerAuth {
    /// Checks trackers against `store`; generates the gateway's credential (username
    /// [`EMBEDDED_GATEWAY_USERNAME`], a random 32-byte password that lives only in this process).
    pub fn new(store: Store) -> BrokerAuth {
        BrokerAuth {
            inner: Arc::new(AuthInner {
                devices: DeviceAuth::new(store),
                gateway_username: EMBEDDED_GATEWAY_USERNAME.to_owned(),
                gateway_password: secrets::random_token(32),
                reserved_client_ids: Vec::new(),
            }),
        }
    }

    /// Reserves the gateway's MQTT client id: a tracker connecting with it would take over (and
    /// end) the gateway's session, so only the gateway's credential may use it. Call before
    /// handing the value to [`start`] (a shared instance is copied, not changed).
    pub fn reserve_client_id(mut self, client_id: impl Into<String>) -> BrokerAuth {
        Arc::make_mut(&mut self.inner)
            .reserved_client_ids
            .push(client_id.into());
        self
    }

    /// How long successful checks are cached ([`DEFAULT_AUTH_CACHE_TTL`]; zero disables).
    /// Like [`BrokerAuth::reserve_client_id`], a builder step for before [`start`].
    pub fn cache_ttl(mut self, ttl: Duration) -> BrokerAuth {
        let inner = Arc::make_mut(&mut self.inner);
        inner.devices = inner.devices.cache_ttl(ttl);
        self
    }

    /// `(username, password)` for the in-process gateway's [`crate::BrokerAddress`].
    pub fn gateway_credentials(&self) -> (String, String) {
        (
            self.inner.gateway_username.clone(),
            self.inner.gateway_password.clone(),
        )
    }

    /// Whether a CONNECT with these credentials may proceed. Refusals are logged at info level
    /// with the client id and username, never the password.
    pub async fn check(&self, client_id: &str, username: &str, password: &str) -> bool {
        let inner = &self.inner;
        if username == inner.gateway_username {
            // Digests of equal length, so the comparison leaks neither content nor length.
            let ok = secrets::constant_time_eq(
                secrets::token_hash(password).as_bytes(),
                secrets::token_hash(&inner.gateway_password).as_bytes(),
            );
            if !ok {
                tracing::info!(
                    client_id,
                    username,
                    "MQTT connection refused: wrong gateway password"
                );
            }
            return ok;
        }
        if inner.reserved_client_ids.iter().any(|c| c == client_id) {
            tracing::info!(
                client_id,
                username,
                "MQTT connection refused: a tracker may not use the gateway's client id"
            );
            return false;
        }
        match inner.devices.verify(client_id, username, password).await {
            Ok(ok) => ok,
            Err(e) => {
                tracing::warn!(client_id, username, error = %e, "MQTT connection refused: credentials could not be checked");
                false
            }
        }
    }
}

/// Starts rumqttd on `addr` in its own threads and returns the address it listens on. With
/// `auth`, every CONNECT must pass [`BrokerAuth::check`]; without, anyone may connect (tests and
/// tools only: `fieldops serve` always passes one).
///
/// rumqttd runs each listener on its own single-threaded runtime, so the checks (a database
/// query and a hash) are sent to the runtime calling `start` instead of stalling every
/// connection behind one. That is why `start` must be called inside a tokio runtime when
/// `auth` is set.
///
/// A refused client sees its connection closed without a CONNACK: rumqttd sends no
/// "not authorised" code, unlike Mosquitto.
///
/// rumqttd binds inside a background thread and only logs a failure, so the address is probed
/// here first: a taken port becomes a clear error instead of a broker that silently never runs.
/// Port 0 is resolved to a free port the same way.
pub fn start(addr: SocketAddr, auth: Option<BrokerAuth>) -> Result<SocketAddr, GatewayError> {
    start_with(addr, auth, BrokerOptions::default())
}

/// How the embedded broker holds messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BrokerOptions {
    /// rumqttd keeps each subscription filter's messages in an in-memory log of segments and
    /// drops the oldest segment when the log is full, delivered or not: this much of the latest
    /// traffic stays in memory (so it is also the broker's steady-state memory per busy
    /// filter), and a gateway further behind than this loses the oldest messages.
    pub memory_bytes: usize,
}

impl Default for BrokerOptions {
    fn default() -> Self {
        BrokerOptions {
            // ~1 million 250-byte readings: minutes of a 100,000-tracker fleet.
            memory_bytes: 256 * 1024 * 1024,
        }
    }
}

/// Segments of a filter's log: retention drops one segment at a time, so more segments lose
/// less at once and keep memory closer to the budget.
const LOG_SEGMENTS: usize = 8;

fn router_config(options: BrokerOptions) -> RouterConfig {
    RouterConfig {
        max_connections: 100_010,
        max_outgoing_packet_count: 1_000,
        max_segment_size: (options.memory_bytes / LOG_SEGMENTS).max(1024 * 1024),
        max_segment_count: LOG_SEGMENTS,
        ..RouterConfig::default()
    }
}

/// [`start`] with explicit [`BrokerOptions`].
pub fn start_with(
    addr: SocketAddr,
    auth: Option<BrokerAuth>,
    options: BrokerOptions,
) -> Result<SocketAddr, GatewayError> {
    let runtime = match &auth {
        Some(_) => Some(tokio::runtime::Handle::try_current().map_err(|_| {
            GatewayError::Broker(addr, "authentication needs a tokio runtime".into())
        })?),
        None => None,
    };
    let probe = match TcpListener::bind(addr) {
        Ok(l) => l,
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
            return Err(GatewayError::BrokerAddressInUse(addr))
        }
        Err(e) => return Err(GatewayError::Broker(addr, e.to_string())),
    };
    let addr = probe
        .local_addr()
        .map_err(|e| GatewayError::Broker(addr, e.to_string()))?;
    drop(probe);

    let mut connections = ConnectionSettings {
        connection_timeout_ms: 10_000,
        // Well above the gateway's decoder limit: an oversized payload must reach the decoder and
        // be stored as a `payload_too_large` reject, not make rumqttd drop the tracker's
        // connection (its persistent session would resend it forever).
        max_payload_size: 1024 * 1024,
        // Larger than the gateway's batch, so the broker keeps the next batch coming while one
        // commits (the gateway acknowledges only after commit).
        max_inflight_count: 5_000,
        auth: None,
        external_auth: None,
        dynamic_filters: true,
    };
    if let (Some(auth), Some(runtime)) = (auth, runtime) {
        connections.set_auth_handler(
            move |client_id: String, username: String, password: String| {
                let auth = auth.clone();
                let task = runtime
                    .spawn(async move { auth.check(&client_id, &username, &password).await });
                // A panicked or cancelled check refuses.
                async move { task.await.unwrap_or(false) }
            },
        );
    }
    let server = ServerSettings {
        name: "fieldops-v4".into(),
        listen: addr,
        tls: None,
        next_connection_delay_ms: 1,
        connections,
    };
    let config = Config {
        id: 0,
        router: router_config(options),
        v4: Some(HashMap::from([("1".to_owned(), server)])),
        ..Config::default()
    };
    let mut broker = Broker::new(config);
    std::thread::Builder::new()
        .name("mqtt-broker".into())
        .spawn(move || {
            if let Err(e) = broker.start() {
                tracing::error!(error = %e, "embedded MQTT broker stopped");
            }
        })
        .map_err(|e| GatewayError::Broker(addr, e.to_string()))?;
    Ok(addr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_memory_budget_is_split_into_segments() {
        let c = router_config(BrokerOptions {
            memory_bytes: 64 * 1024 * 1024,
        });
        assert_eq!(c.max_segment_count, LOG_SEGMENTS);
        assert_eq!(c.max_segment_size * c.max_segment_count, 64 * 1024 * 1024);
        let tiny = router_config(BrokerOptions { memory_bytes: 1 });
        assert_eq!(tiny.max_segment_size, 1024 * 1024, "segments keep a floor");
    }
}
