//! The broker's raw QoS 1 ceiling: how many messages per second one subscriber can receive when
//! nobody does anything with them.
//!
//! Ingest benchmarks report the gateway's rate next to this number, so a reader can tell whether
//! the gateway or the broker (plus the client library) is the bottleneck. The subscriber is as
//! plain as possible on purpose — QoS 1 subscription, automatic acks, payload ignored — which is
//! the best any gateway built on the same client could do.

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use rumqttc::{
    AsyncClient, ConnectionError, Event, EventLoop, MqttOptions, Outgoing, Packet, QoS,
    SubscribeReasonCode,
};
use tokio::sync::{oneshot, watch};

/// After the publishers are done, the measurement ends once no delivery arrived for this long
/// (or every message arrived). A broker drops QoS 1 messages for a subscriber whose queue is full
/// (Mosquitto's `max_queued_messages`), so waiting for all of them could wait forever.
const IDLE_END: Duration = Duration::from_secs(2);
/// Bound on connecting and subscribing.
const SETUP_TIMEOUT: Duration = Duration::from_secs(15);
/// Bound on a publisher getting all its PUBACKs.
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(300);

/// Result of [`measure_raw_qos1`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RawRate {
    /// Deliveries the subscriber got (at most the number published; fewer if the broker dropped).
    pub received: u64,
    /// Time from the first delivery to the last.
    pub elapsed: Duration,
    /// `received / elapsed`; 0 when fewer than two messages arrived.
    pub msgs_per_sec: f64,
}

/// Publishes `messages` QoS 1 messages of `payload_bytes` bytes from `publishers` clients, as fast
/// as the broker acknowledges them, and measures the delivery rate at one plain subscriber.
///
/// Client ids and the topic prefix are unique per run, so a persistent-session broker (Mosquitto
/// with `persistence true`) never mixes runs up.
pub async fn measure_raw_qos1(
    broker_host: &str,
    broker_port: u16,
    publishers: usize,
    messages: u64,
    payload_bytes: usize,
) -> Result<RawRate> {
    if publishers == 0 {
        bail!("need at least one publisher");
    }
    let run = tracker_sim::unique_run_id();
    let prefix = format!("fieldops-bench/raw/{run}");
    let max_packet = payload_bytes + prefix.len() + 1024;

    // Subscriber first, and wait for its SUBACK: messages published before it would be lost.
    let mut opts = MqttOptions::new(format!("fieldops-raw-sub-{run}"), broker_host, broker_port);
    opts.set_clean_session(true)
        .set_keep_alive(Duration::from_secs(30))
        .set_max_packet_size(max_packet, max_packet);
    let (sub_client, sub_loop) = AsyncClient::new(opts, 16);
    sub_client
        .subscribe(format!("{prefix}/#"), QoS::AtLeastOnce)
        .await
        .context("queueing the subscription")?;
    let (subscribed_tx, subscribed_rx) = oneshot::channel();
    let (count_tx, mut count_rx) = watch::channel(0u64);
    let (stop_tx, stop_rx) = oneshot::channel();
    let subscriber = tokio::spawn(subscribe_and_count(
        sub_loop,
        prefix.clone(),
        messages,
        subscribed_tx,
        count_tx,
        stop_rx,
    ));
    match tokio::time::timeout(SETUP_TIMEOUT, subscribed_rx).await {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(e))) => {
            subscriber.abort();
            bail!("raw-rate subscriber could not subscribe: {e}");
        }
        Ok(Err(_)) | Err(_) => {
            subscriber.abort();
            bail!("raw-rate subscriber did not get a SUBACK from {broker_host}:{broker_port}");
        }
    }

    let payload = vec![b'x'; payload_bytes];
    let mut tasks = Vec::with_capacity(publishers);
    let per = messages / publishers as u64;
    let extra = messages % publishers as u64;
    for p in 0..publishers {
        let count = per + u64::from((p as u64) < extra);
        tasks.push(tokio::spawn(publish_n(
            broker_host.to_owned(),
            broker_port,
            format!("fieldops-raw-pub-{run}-{p}"),
            format!("{prefix}/{p}"),
            count,
            payload.clone(),
            max_packet,
        )));
    }
    let mut publish_error = None;
    for t in tasks {
        match t.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => publish_error = Some(e),
            Err(e) => publish_error = Some(anyhow::anyhow!("publisher task failed: {e}")),
        }
    }

    // Every publish is acknowledged; now let the deliveries drain.
    loop {
        if *count_rx.borrow_and_update() >= messages {
            break;
        }
        match tokio::time::timeout(IDLE_END, count_rx.changed()).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) | Err(_) => break,
        }
    }
    let _ = stop_tx.send(());
    let (received, first, last) = subscriber
        .await
        .context("raw-rate subscriber task failed")?;
    let _ = sub_client.disconnect().await;
    if let Some(e) = publish_error {
        return Err(e.context(format!("raw-rate publishers (subscriber got {received})")));
    }
    let elapsed = match (first, last) {
        (Some(f), Some(l)) => l.duration_since(f),
        _ => Duration::ZERO,
    };
    let msgs_per_sec = if received >= 2 && !elapsed.is_zero() {
        received as f64 / elapsed.as_secs_f64()
    } else {
        0.0
    };
    Ok(RawRate {
        received,
        elapsed,
        msgs_per_sec,
    })
}

/// Drives the subscriber's event loop: reports the SUBACK, counts deliveries under `prefix`, and
/// returns (count, first, last) when all arrived or when told to stop.
async fn subscribe_and_count(
    mut eventloop: EventLoop,
    prefix: String,
    expected: u64,
    subscribed: oneshot::Sender<Result<(), String>>,
    count: watch::Sender<u64>,
    mut stop: oneshot::Receiver<()>,
) -> (u64, Option<Instant>, Option<Instant>) {
    let mut subscribed = Some(subscribed);
    let mut received = 0u64;
    let mut first = None;
    let mut last = None;
    loop {
        let event = tokio::select! {
            event = eventloop.poll() => event,
            _ = &mut stop => break,
        };
        match event {
            Ok(Event::Incoming(Packet::SubAck(ack))) => {
                let ok = ack
                    .return_codes
                    .iter()
                    .all(|c| matches!(c, SubscribeReasonCode::Success(_)));
                if let Some(tx) = subscribed.take() {
                    let _ = tx.send(if ok {
                        Ok(())
                    } else {
                        Err("subscription refused".into())
                    });
                }
            }
            Ok(Event::Incoming(Packet::Publish(p))) if p.topic.starts_with(&prefix) => {
                let now = Instant::now();
                first.get_or_insert(now);
                last = Some(now);
                received += 1;
                count.send_replace(received);
                if received >= expected {
                    break;
                }
            }
            Ok(_) => {}
            Err(e) => {
                if let Some(tx) = subscribed.take() {
                    let _ = tx.send(Err(e.to_string()));
                    break;
                }
                // A dropped subscriber would invalidate the measurement; report what we have.
                tracing::warn!(error = %e, "raw-rate subscriber lost its connection");
                break;
            }
        }
    }
    (received, first, last)
}

/// One publisher: connects, publishes `count` messages at QoS 1 as fast as the client's inflight
/// window allows, waits for every PUBACK, disconnects.
async fn publish_n(
    host: String,
    port: u16,
    client_id: String,
    topic: String,
    count: u64,
    payload: Vec<u8>,
    max_packet: usize,
) -> Result<()> {
    let mut opts = MqttOptions::new(client_id, host, port);
    opts.set_clean_session(true)
        .set_keep_alive(Duration::from_secs(30))
        .set_max_packet_size(max_packet, max_packet)
        .set_inflight(200);
    let (client, eventloop) = AsyncClient::new(opts, 256);
    let (acked_tx, mut acked_rx) = watch::channel(0u64);
    let (err_tx, mut err_rx) = watch::channel(None::<String>);
    let driver = tokio::spawn(drive_publisher(eventloop, acked_tx, err_tx));
    let work = async {
        for _ in 0..count {
            client
                .publish(topic.as_str(), QoS::AtLeastOnce, false, payload.clone())
                .await
                .context("publishing")?;
        }
        acked_rx
            .wait_for(|a| *a >= count)
            .await
            .context("publisher event loop ended")?;
        anyhow::Ok(())
    };
    let result = tokio::select! {
        r = tokio::time::timeout(PUBLISH_TIMEOUT, work) => {
            r.unwrap_or_else(|_| Err(anyhow::anyhow!("publisher timed out waiting for PUBACKs")))
        }
        e = err_rx.wait_for(Option::is_some) => {
            let e = e.ok().and_then(|e| e.clone()).unwrap_or_default();
            Err(anyhow::anyhow!("publisher connection failed: {e}"))
        }
    };
    let _ = client.disconnect().await;
    let abort = driver.abort_handle();
    if tokio::time::timeout(Duration::from_secs(2), driver)
        .await
        .is_err()
    {
        abort.abort();
    }
    result
}

/// Event loop for a publisher. Any connection error ends it: a benchmark must not quietly
/// reconnect and report a rate over a broken run.
async fn drive_publisher(
    mut eventloop: EventLoop,
    acked: watch::Sender<u64>,
    error: watch::Sender<Option<String>>,
) {
    loop {
        match eventloop.poll().await {
            Ok(Event::Incoming(Packet::PubAck(_))) => acked.send_modify(|a| *a += 1),
            Ok(Event::Outgoing(Outgoing::Disconnect)) | Err(ConnectionError::RequestsDone) => {
                return
            }
            Ok(_) => {}
            Err(e) => {
                error.send_replace(Some(e.to_string()));
                return;
            }
        }
    }
}
