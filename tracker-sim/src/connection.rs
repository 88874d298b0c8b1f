//! One MQTT connection of the fleet: connects (with a last will per device), publishes for its
//! devices on the scheduler's orders, drives the rumqttc event loop, counts acknowledgements and
//! waits for the outstanding ones at the end.

use std::sync::Arc;
use std::time::Duration;

use mobile_shared::telemetry::Topic;
use rand::rngs::StdRng;
use rand::SeedableRng;
use rumqttc::{
    AsyncClient, ClientError, ConnectionError, Event, EventLoop, LastWill, MqttOptions, Outgoing,
    Packet, QoS,
};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::device::SimDevice;
use crate::fleet::{ConnSpec, Shared};
use crate::summary::bump;

/// How long a connection may take to get its first CONNACK before its devices are given up.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// Failed attempts before a connection that never connected is given up.
const MAX_CONNECT_ATTEMPTS: u32 = 5;
/// How long to wait at the end for outstanding PUBACKs.
const ACK_TIMEOUT: Duration = Duration::from_secs(15);
/// Largest MQTT packet we send or accept: above the oversized malformed payload (64 KiB + a bit).
const MAX_PACKET_BYTES: usize = 256 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LinkState {
    Connecting,
    Connected,
    Failed,
}

/// Publishing side of one connection; counts what it hands to the client so the end of the run
/// can wait for exactly that many acknowledgements.
pub(crate) struct Publisher {
    client: AsyncClient,
    pub(crate) shared: Arc<Shared>,
    expected_acks: u64,
}

impl Publisher {
    async fn send(&mut self, topic: &str, payload: Vec<u8>) -> Result<(), ClientError> {
        self.client
            .publish(topic, self.shared.qos, false, payload)
            .await?;
        if self.shared.qos != QoS::AtMostOnce {
            self.expected_acks += 1;
        }
        Ok(())
    }

    pub(crate) async fn telemetry(
        &mut self,
        topic: &str,
        payload: Vec<u8>,
    ) -> Result<(), ClientError> {
        self.send(topic, payload).await?;
        bump(&self.shared.counters.published, 1);
        Ok(())
    }

    /// Status messages are not retained: a stale retained `online` for every device a load test
    /// ever simulated would greet each new gateway.
    pub(crate) async fn status(&mut self, topic: &str, online: bool) -> Result<(), ClientError> {
        if !self.shared.per_device {
            return Ok(());
        }
        let word = if online { "online" } else { "offline" };
        self.send(topic, word.as_bytes().to_vec()).await?;
        bump(&self.shared.counters.status_published, 1);
        Ok(())
    }
}

/// One MQTT connection: connects, reports readiness, publishes for its devices on every order
/// from the scheduler, and at the end flushes, waits for acknowledgements and disconnects.
pub(crate) async fn run_connection(
    spec: ConnSpec,
    host: String,
    port: u16,
    shared: Arc<Shared>,
    mut orders: mpsc::Receiver<u32>,
    ready: oneshot::Sender<bool>,
    seed: u64,
) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut opts = MqttOptions::new(spec.client_id.clone(), host, port);
    opts.set_keep_alive(Duration::from_secs(30))
        .set_clean_session(true)
        .set_max_packet_size(MAX_PACKET_BYTES, MAX_PACKET_BYTES)
        // A tracker has a handful of messages in flight; a shared load-test connection needs more
        // to keep the pipe full.
        .set_inflight(if shared.per_device { 20 } else { 200 });
    if let Some((user, pass)) = &spec.login {
        opts.set_credentials(user.clone(), pass.clone());
    }
    if shared.per_device {
        if let Some(d) = spec.devices.first() {
            let topic = Topic::Status {
                device_id: d.id.clone(),
            };
            opts.set_last_will(LastWill::new(
                topic.to_string(),
                "offline",
                shared.qos,
                false,
            ));
        }
    }
    let (client, eventloop) = AsyncClient::new(opts, 64);
    let (acked_tx, mut acked_rx) = watch::channel(0u64);
    let (state_tx, mut state_rx) = watch::channel(LinkState::Connecting);
    let driver = AbortOnDrop(tokio::spawn(drive_eventloop(
        eventloop,
        acked_tx,
        state_tx,
        shared.clone(),
        spec.client_id.clone(),
    )));

    let connected = matches!(
        tokio::time::timeout(
            CONNECT_TIMEOUT,
            state_rx.wait_for(|s| *s != LinkState::Connecting)
        )
        .await,
        Ok(Ok(s)) if *s == LinkState::Connected
    );
    if !connected {
        let _ = ready.send(false);
        return;
    }
    let _ = ready.send(true);

    let mut out = Publisher {
        client,
        shared: shared.clone(),
        expected_acks: 0,
    };
    let mut devices: Vec<SimDevice> = spec
        .devices
        .into_iter()
        .map(|d| SimDevice::new(d, &shared.sites, &mut rng))
        .collect();
    let result = publish_loop(&mut devices, &mut out, &mut orders, &mut rng).await;
    if let Err(e) = result {
        tracing::warn!(client_id = %spec.client_id, error = %e, "tracker connection stopped publishing");
        return;
    }

    let expected = out.expected_acks;
    let acked_all = tokio::time::timeout(ACK_TIMEOUT, acked_rx.wait_for(|a| *a >= expected))
        .await
        .is_ok_and(|r| r.is_ok());
    if !acked_all {
        tracing::warn!(
            client_id = %spec.client_id,
            expected,
            acked = *acked_rx.borrow(),
            "not every message was acknowledged"
        );
    }
    let _ = out.client.disconnect().await;
    finish_driver(driver).await;
}

async fn publish_loop(
    devices: &mut [SimDevice],
    out: &mut Publisher,
    orders: &mut mpsc::Receiver<u32>,
    rng: &mut StdRng,
) -> Result<(), ClientError> {
    for d in devices.iter() {
        out.status(&d.status_topic, true).await?;
    }
    while let Some(local) = orders.recv().await {
        if let Some(d) = devices.get_mut(local as usize) {
            d.tick(out, rng).await?;
        }
    }
    for d in devices.iter_mut() {
        d.finish(out).await?;
    }
    Ok(())
}

/// Owns a spawned event-loop task and stops it when dropped, so a connection task that returns
/// early, is aborted, or whose caller gave up never leaves an MQTT connection behind.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Gives the event loop a moment to send DISCONNECT; dropping the guard then stops it regardless
/// (it may be stuck reconnecting to a broker that went away).
async fn finish_driver(mut driver: AbortOnDrop) {
    let _ = tokio::time::timeout(Duration::from_secs(2), &mut driver.0).await;
}

/// Polls the rumqttc event loop (which is what actually moves bytes), counting acknowledgements
/// and reconnecting with backoff. Gives up only on a connection that never came up.
async fn drive_eventloop(
    mut eventloop: EventLoop,
    acked: watch::Sender<u64>,
    state: watch::Sender<LinkState>,
    shared: Arc<Shared>,
    client_id: String,
) {
    let mut ever_connected = false;
    let mut failures = 0u32;
    let mut backoff = Duration::from_millis(100);
    loop {
        match eventloop.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                ever_connected = true;
                backoff = Duration::from_millis(100);
                state.send_replace(LinkState::Connected);
            }
            Ok(Event::Incoming(Packet::PubAck(_) | Packet::PubComp(_))) => {
                acked.send_modify(|a| *a += 1);
                bump(&shared.counters.acked, 1);
            }
            Ok(Event::Outgoing(Outgoing::Disconnect)) | Err(ConnectionError::RequestsDone) => {
                return
            }
            Ok(_) => {}
            Err(e) => {
                bump(&shared.counters.connect_failures, 1);
                if ever_connected {
                    tracing::warn!(%client_id, error = %e, "MQTT connection lost; reconnecting");
                } else {
                    failures += 1;
                    tracing::warn!(%client_id, error = %e, attempt = failures, "MQTT connect failed");
                    if failures >= MAX_CONNECT_ATTEMPTS {
                        state.send_replace(LinkState::Failed);
                        return;
                    }
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}
