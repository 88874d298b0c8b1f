//! One MQTT session to the broker, kept alive: QoS 1 subscriptions (shared, for scale-out),
//! manual acknowledgements, reconnect with capped exponential backoff and resubscribe, the
//! connected state on a watch channel (for `/readyz`), and a clean shutdown that lets the
//! pipeline commit and acknowledge the batch in hand.

use std::future::Future;
use std::time::Duration;

use std::collections::VecDeque;
use std::sync::Arc;

use domain::telemetry::Ingestor;
use mobile_shared::telemetry;
use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, Packet, QoS, SubscribeFilter};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tracing::Instrument;

use crate::error::GatewayError;
use crate::metrics::GatewayMetrics;
use crate::pipeline::{self, Delivery, IngestSettings};

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
            Some((h, p)) if !h.ends_with(']') || hostport.starts_with('[') => (
                h,
                p.parse::<u16>()
                    .map_err(|_| bad("the port is not a number"))?,
            ),
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
    /// Stable client id, so the broker keeps this gateway's session (and its unacknowledged
    /// messages) across reconnects. Each gateway process needs its own.
    pub client_id: String,
    /// Shared-subscription group: N gateways in one group split the stream. `None` subscribes
    /// plainly (every gateway would get every message).
    pub share_group: Option<String>,
    pub keep_alive: Duration,
    pub max_backoff: Duration,
    /// Publishes received but not yet handed to the pipeline. The broker's in-flight window
    /// bounds what is unacknowledged; this only has to be larger than it.
    pub channel_capacity: usize,
    /// MQTT connections in one shared-subscription group, feeding one ingest pipeline. More
    /// than one only pays off against a broker with a small per-connection in-flight window
    /// (say 100 unacknowledged messages per connection), where the batches of one pipeline can
    /// then span the links.
    pub connections: usize,
}

impl GatewayOptions {
    pub fn new(broker: BrokerAddress) -> GatewayOptions {
        GatewayOptions {
            broker,
            client_id: "fieldops-gateway".into(),
            share_group: Some(telemetry::SHARE_GROUP.to_owned()),
            keep_alive: Duration::from_secs(30),
            max_backoff: Duration::from_secs(10),
            channel_capacity: 16_384,
            connections: 1,
        }
    }

    /// The client id of each link: the configured id for a single connection, `<id>-1`…`<id>-N`
    /// for several.
    pub fn link_client_ids(&self) -> Vec<String> {
        Self::link_ids(&self.client_id, self.connections)
    }

    /// [`GatewayOptions::link_client_ids`] before the options exist (to reserve the ids).
    fn link_ids(client_id: &str, connections: usize) -> Vec<String> {
        match connections.max(1) {
            1 => vec![client_id.to_owned()],
            n => (1..=n).map(|i| format!("{client_id}-{i}")).collect(),
        }
    }

    fn topics(&self) -> Vec<String> {
        telemetry::subscriptions()
            .iter()
            .map(|t| match &self.share_group {
                Some(g) => format!("$share/{g}/{t}"),
                None => (*t).to_owned(),
            })
            .collect()
    }
}

/// A running gateway: the MQTT connection plus the ingest pipeline.
pub struct Gateway {
    connected: watch::Receiver<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Gateway {
    /// Starts the connection loop, the ingest pipeline and the silence watch; they run until
    /// `shutdown` resolves, then finish the batch in hand, acknowledge it and disconnect.
    pub fn start(
        options: GatewayOptions,
        ingestor: Arc<Ingestor>,
        settings: IngestSettings,
        metrics: GatewayMetrics,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Gateway {
        let (stop_tx, stop_rx) = watch::channel(false);
        let stopped = move || {
            let mut rx = stop_rx.clone();
            async move {
                let _ = rx.wait_for(|s| *s).await;
            }
        };
        let ids = options.link_client_ids();
        let mut tasks = Vec::new();
        let mut connected = None;
        // One pipeline for every link: batches span the links (a broker with a small
        // per-connection window, say 100, still gets batches of up to 100 × links), and each
        // publish is acknowledged on the link it came from.
        let (pub_tx, pub_rx) = mpsc::channel(options.channel_capacity);
        let (done_tx, done_rx) = watch::channel(false);
        let mut clients = Vec::new();
        for (index, id) in ids.iter().enumerate() {
            let mut link = options.clone();
            link.client_id = id.clone();
            // Several links must split the stream, not each receive all of it.
            if ids.len() > 1 && link.share_group.is_none() {
                link.share_group = Some(options.client_id.clone());
            }
            let (client, rx, task) = start_link(
                link,
                index,
                pub_tx.clone(),
                done_rx.clone(),
                metrics.clone(),
                stopped(),
            );
            clients.push(client);
            connected.get_or_insert(rx);
            tasks.push(task);
        }
        drop(pub_tx);
        let span = tracing::info_span!("ingest", client_id = %options.client_id);
        let stop = stopped();
        let pipeline_metrics = metrics.clone();
        let pipeline_ingestor = ingestor.clone();
        let pipeline_settings = settings.clone();
        tasks.push(tokio::spawn(
            async move {
                pipeline::run(
                    pub_rx,
                    clients,
                    pipeline_ingestor,
                    pipeline_settings,
                    pipeline_metrics,
                    stop,
                )
                .await;
                let _ = done_tx.send(true);
            }
            .instrument(span),
        ));
        let span = tracing::info_span!("mqtt", client_id = %options.client_id);
        tasks.push(tokio::spawn(
            pipeline::silence_watch(ingestor, settings, stopped()).instrument(span),
        ));
        tasks.push(tokio::spawn(async move {
            shutdown.await;
            let _ = stop_tx.send(true);
        }));
        let (_, idle) = watch::channel(false);
        Gateway {
            // The first link stands for the broker's reachability (they all reach one broker).
            connected: connected.unwrap_or(idle),
            tasks,
        }
    }

    /// Follows the connection state (true while connected).
    pub fn connected(&self) -> watch::Receiver<bool> {
        self.connected.clone()
    }

    /// Waits for every task to finish after shutdown.
    pub async fn join(self) {
        for t in self.tasks {
            if let Err(e) = t.await {
                tracing::error!(error = %e, "gateway task failed");
            }
        }
    }
}

/// Starts one MQTT connection, feeding `publishes` (tagged with `index`) to the shared
/// pipeline. Returns the client the pipeline acknowledges this link's publishes through.
fn start_link(
    options: GatewayOptions,
    index: usize,
    publishes: mpsc::Sender<Delivery>,
    pipeline_done: watch::Receiver<bool>,
    metrics: GatewayMetrics,
    stopped: impl Future<Output = ()> + Send + 'static,
) -> (AsyncClient, watch::Receiver<bool>, JoinHandle<()>) {
    let (tx, rx) = watch::channel(false);
    let span = tracing::info_span!(
        "mqtt",
        broker = %format!("{}:{}", options.broker.host, options.broker.port),
        client_id = %options.client_id
    );
    let mut mqtt = MqttOptions::new(
        options.client_id.clone(),
        options.broker.host.clone(),
        options.broker.port,
    );
    mqtt.set_keep_alive(options.keep_alive);
    // A persistent session: QoS 1 messages published while we are away wait for us, and
    // messages we did not acknowledge before a crash are redelivered.
    mqtt.set_clean_session(false);
    mqtt.set_manual_acks(true);
    // Never fail the connection on a big message (that would redeliver it forever): accept
    // anything MQTT allows and let the decoder refuse oversized payloads as rejects.
    mqtt.set_max_packet_size(MAX_MQTT_PACKET, 256 * 1024);
    if let Some(user) = &options.broker.username {
        mqtt.set_credentials(
            user.clone(),
            options.broker.password.clone().unwrap_or_default(),
        );
    }
    // Requests are mostly PUBACKs; room for more than the publish channel holds means an
    // ack is never refused while the event loop waits for the pipeline.
    let (client, eventloop) = AsyncClient::new(mqtt, options.channel_capacity * 2);
    let connection = tokio::spawn(
        run(
            options,
            client.clone(),
            eventloop,
            tx,
            Link { index, publishes },
            metrics,
            stopped,
            pipeline_done,
        )
        .instrument(span),
    );
    (client, rx, connection)
}

/// Where one link's publishes go: the shared pipeline, tagged with the link's index.
struct Link {
    index: usize,
    publishes: mpsc::Sender<Delivery>,
}

/// Held publishes that first trigger a warning (then at each doubling).
const OVERFLOW_WARN: usize = 50_000;

/// MQTT's own limit on a packet (256 MiB).
const MAX_MQTT_PACKET: usize = 268_435_455;

#[allow(clippy::too_many_arguments)]
async fn run(
    options: GatewayOptions,
    client: AsyncClient,
    mut eventloop: EventLoop,
    connected: watch::Sender<bool>,
    link: Link,
    metrics: GatewayMetrics,
    shutdown: impl Future<Output = ()>,
    mut pipeline_done: watch::Receiver<bool>,
) {
    let Link { index, publishes } = link;
    tokio::pin!(shutdown);
    let topics = options.topics();
    let mut backoff = Duration::from_millis(100);
    // Publishes the pipeline had no room for yet. The event loop is polled continuously,
    // because polling is also what sends the pipeline's PUBACKs: pausing it while the pipeline
    // waits for an acknowledgement to be queued deadlocks both (measured with Mosquitto 2.0.11,
    // whose in-flight window does not bound a subscriber that acknowledges late). What this
    // holds is bounded by what the broker sends ahead of our acknowledgements; it is logged when
    // it grows large.
    let mut overflow: VecDeque<Delivery> = VecDeque::new();
    let mut warned_at = OVERFLOW_WARN;
    loop {
        while let Some(p) = overflow.pop_front() {
            match publishes.try_send(p) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(p)) => {
                    overflow.push_front(p);
                    break;
                }
                Err(mpsc::error::TrySendError::Closed(_)) => break,
            }
        }
        if overflow.len() >= warned_at {
            tracing::warn!(
                held = overflow.len(),
                "ingest is behind the broker; holding messages in memory"
            );
            warned_at *= 2;
        } else if overflow.is_empty() {
            warned_at = OVERFLOW_WARN;
        }
        tokio::select! {
            _ = &mut shutdown => break,
            event = eventloop.poll() => match event {
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    metrics.in_flight.inc();
                    let p = Delivery::from_link(index, p);
                    if overflow.is_empty() {
                        match publishes.try_send(p) {
                            Ok(()) => {}
                            Err(mpsc::error::TrySendError::Full(p)) => overflow.push_back(p),
                            Err(mpsc::error::TrySendError::Closed(_)) => break,
                        }
                    } else {
                        overflow.push_back(p);
                    }
                }
                Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                    tracing::info!(session_present = ack.session_present, "connected to MQTT broker");
                    backoff = Duration::from_millis(100);
                    // Subscribe on every connect: harmless when the session kept them, needed
                    // when the broker lost the session.
                    let filters = topics.iter().map(|t| SubscribeFilter::new(t.clone(), QoS::AtLeastOnce));
                    if let Err(e) = client.subscribe_many(filters).await {
                        tracing::error!(error = %e, "could not queue SUBSCRIBE");
                    }
                }
                Ok(Event::Incoming(Packet::SubAck(ack))) => {
                    let refused = ack.return_codes.iter().any(|c| matches!(c, rumqttc::SubscribeReasonCode::Failure));
                    if refused {
                        tracing::error!(?topics, "the broker refused a subscription (check its ACL)");
                    } else {
                        tracing::info!(?topics, "subscribed");
                        connected.send_replace(true);
                    }
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
    // Let the pipeline commit and acknowledge what it holds, keep the event loop turning so the
    // PUBACKs reach the broker, then leave cleanly. Publishes that arrive meanwhile are not
    // acknowledged: the persistent session redelivers them next time.
    drop(publishes);
    if *connected.borrow() {
        let pipeline_finished = pipeline_done.wait_for(|done| *done);
        tokio::pin!(pipeline_finished);
        let deadline = tokio::time::sleep(Duration::from_secs(30));
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                _ = &mut pipeline_finished => break,
                _ = &mut deadline => break,
                event = eventloop.poll() => if event.is_err() { break },
            }
        }
        let _ = client.disconnect().await;
        // The PUBACKs and the DISCONNECT are on the wire once the Outgoing::Disconnect event
        // shows, but the broker may not have read them yet. It closes the connection after
        // processing the DISCONNECT (and so every PUBACK before it): wait for that close. A
        // gateway restarted at once with the same client id would otherwise take the session
        // over first, and the broker would drop the unread PUBACKs and redeliver those messages
        // (stored twice when they are rejects).
        let flush = async { while eventloop.poll().await.is_ok() {} };
        let _ = tokio::time::timeout(Duration::from_secs(2), flush).await;
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
