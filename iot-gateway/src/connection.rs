//! One MQTT session to the broker, kept alive: reconnects with capped exponential backoff,
//! publishes its connected/disconnected state on a watch channel (for `/readyz`), and
//! disconnects cleanly on shutdown.

use std::future::Future;
use std::time::Duration;

use rumqttc::{AsyncClient, Event, MqttOptions, Packet};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::Instrument;

use crate::error::GatewayError;

/// Where the broker is and how to log in.
#[derive(Clone, PartialEq, Eq)]
pub struct BrokerAddress {
    pub host: String,
    pub port: u16,
    pub username: Option<String>,
    pub password: Option<String>,
}

impl std::fmt::Debug for BrokerAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrokerAddress")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .finish()
    }
}

impl BrokerAddress {
    /// Parses `mqtt://[user[:password]@]host[:port]` (also `tcp://`); the port defaults to 1883.
    pub fn parse(url: &str) -> Result<BrokerAddress, GatewayError> {
        let bad = |reason| GatewayError::BadUrl {
            url: redact(url),
            reason,
        };
        let rest = url
            .strip_prefix("mqtt://")
            .or_else(|| url.strip_prefix("tcp://"))
            .ok_or_else(|| bad("the scheme must be mqtt://"))?;
        let rest = rest.trim_end_matches('/');
        let (userinfo, hostport) = match rest.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, rest),
        };
        let (username, password) = match userinfo {
            Some(u) => match u.split_once(':') {
                Some((user, pass)) => (Some(user.to_owned()), Some(pass.to_owned())),
                None => (Some(u.to_owned()), None),
            },
            None => (None, None),
        };
        let (host, port) = match hostport.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || hostport.starts_with('[') => {
                (h, p.parse::<u16>().map_err(|_| bad("the port is not a number"))?)
            }
            _ => (hostport, 1883),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(bad("the host is missing"));
        }
        Ok(BrokerAddress {
            host: host.to_owned(),
            port,
            username,
            password,
        })
    }
}

fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let userinfo = &url[s + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}{}:***{}", &url[..s + 3], user, &url[at..])
        }
        _ => url.to_owned(),
    }
}

#[derive(Debug, Clone)]
pub struct GatewayOptions {
    pub broker: BrokerAddress,
    /// Stable client id, so the broker keeps this gateway's session across reconnects.
    pub client_id: String,
    pub keep_alive: Duration,
    pub max_backoff: Duration,
}

impl GatewayOptions {
    pub fn new(broker: BrokerAddress) -> GatewayOptions {
        GatewayOptions {
            broker,
            client_id: "fieldops-gateway".into(),
            keep_alive: Duration::from_secs(30),
            max_backoff: Duration::from_secs(10),
        }
    }
}

/// A running gateway connection.
pub struct Gateway {
    connected: watch::Receiver<bool>,
    task: JoinHandle<()>,
}

impl Gateway {
    /// Starts the connection loop; it runs until `shutdown` resolves.
    pub fn start(options: GatewayOptions, shutdown: impl Future<Output = ()> + Send + 'static) -> Gateway {
        let (tx, rx) = watch::channel(false);
        let span = tracing::info_span!(
            "mqtt",
            broker = %format!("{}:{}", options.broker.host, options.broker.port)
        );
        let task = tokio::spawn(run(options, tx, shutdown).instrument(span));
        Gateway {
            connected: rx,
            task,
        }
    }

    /// Follows the connection state (true while connected).
    pub fn connected(&self) -> watch::Receiver<bool> {
        self.connected.clone()
    }

    /// Waits for the loop to finish after shutdown.
    pub async fn join(self) {
        if let Err(e) = self.task.await {
            tracing::error!(error = %e, "gateway task failed");
        }
    }
}

async fn run(
    options: GatewayOptions,
    connected: watch::Sender<bool>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let mut mqtt = MqttOptions::new(
        options.client_id.clone(),
        options.broker.host.clone(),
        options.broker.port,
    );
    mqtt.set_keep_alive(options.keep_alive);
    // A persistent session: QoS 1 messages published while we are away wait for us.
    mqtt.set_clean_session(false);
    if let Some(user) = &options.broker.username {
        mqtt.set_credentials(user.clone(), options.broker.password.clone().unwrap_or_default());
    }
    let (client, mut eventloop) = AsyncClient::new(mqtt, 64);
    tokio::pin!(shutdown);
    let mut backoff = Duration::from_millis(100);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            event = eventloop.poll() => match event {
                Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                    tracing::info!(session_present = ack.session_present, "connected to MQTT broker");
                    backoff = Duration::from_millis(100);
                    connected.send_replace(true);
                }
                Ok(_) => {}
                Err(e) => {
                    if *connected.borrow() {
                        tracing::warn!(error = %e, "lost MQTT connection; reconnecting");
                    } else {
                        tracing::debug!(error = %e, retry_in_ms = backoff.as_millis() as u64, "MQTT connect failed");
                    }
                    connected.send_replace(false);
                    tokio::select! {
                        _ = &mut shutdown => break,
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(options.max_backoff);
                }
            }
        }
    }
    // Best effort: tell the broker we are leaving so it does not wait for a keep-alive timeout.
    if *connected.borrow() {
        let _ = client.disconnect().await;
        let _ = tokio::time::timeout(Duration::from_millis(500), eventloop.poll()).await;
    }
    connected.send_replace(false);
    tracing::info!("MQTT connection closed");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse() {
        let a = BrokerAddress::parse("mqtt://127.0.0.1:1884").unwrap();
        assert_eq!((a.host.as_str(), a.port), ("127.0.0.1", 1884));
        let a = BrokerAddress::parse("mqtt://gw:secret@broker.example").unwrap();
        assert_eq!(a.port, 1883);
        assert_eq!(a.username.as_deref(), Some("gw"));
        assert_eq!(a.password.as_deref(), Some("secret"));
        assert!(!format!("{a:?}").contains("secret"));
        assert!(BrokerAddress::parse("http://x").is_err());
        assert!(BrokerAddress::parse("mqtt://x:port").is_err());
        assert!(BrokerAddress::parse("mqtt://").is_err());
    }

    #[test]
    fn errors_do_not_leak_passwords() {
        let e = BrokerAddress::parse("mqtt://u:hunter2@h:nope").unwrap_err();
        assert!(!e.to_string().contains("hunter2"));
    }
}
