//! The embedded MQTT broker (rumqttd), for running on one box without installing a broker.

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener};

use rumqttd::{Broker, Config, ConnectionSettings, RouterConfig, ServerSettings};

use crate::error::GatewayError;

/// Starts rumqttd on `addr` in its own threads and returns the address it listens on.
///
/// rumqttd binds inside a background thread and only logs a failure, so the address is probed
/// here first: a taken port becomes a clear error instead of a broker that silently never runs.
/// Port 0 is resolved to a free port the same way.
pub fn start(addr: SocketAddr) -> Result<SocketAddr, GatewayError> {
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

    let connections = ConnectionSettings {
        connection_timeout_ms: 10_000,
        max_payload_size: 256 * 1024,
        // Larger than the gateway's batch, so the broker keeps the next batch coming while one
        // commits (the gateway acknowledges only after commit).
        max_inflight_count: 5_000,
        auth: None,
        external_auth: None,
        dynamic_filters: true,
    };
    let server = ServerSettings {
        name: "fieldops-v4".into(),
        listen: addr,
        tls: None,
        next_connection_delay_ms: 1,
        connections,
    };
    let config = Config {
        id: 0,
        router: RouterConfig {
            max_connections: 100_010,
            max_outgoing_packet_count: 1_000,
            max_segment_size: 100 * 1024 * 1024,
            max_segment_count: 10,
            ..RouterConfig::default()
        },
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
