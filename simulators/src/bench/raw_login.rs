//! The raw QoS 1 baseline for a broker that requires a login (the embedded one).

use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use rumqttc::{AsyncClient, ConnectionError, Event, MqttOptions, Outgoing, Packet, QoS};
use simulators::RawRate;
use tokio::sync::{oneshot, watch};

/// [`measure_raw_qos1`](simulators::measure_raw_qos1) for a broker that requires a login (the
/// embedded one): the same measurement — subscriber first, `publishers` clients with 200
/// messages in flight each, deliveries counted from the first to the last — with every client
/// logging in as `login`.
pub(super) async fn raw_qos1_with_login(
    host: &str,
    port: u16,
    login: &(String, String),
    publishers: usize,
    messages: u64,
    payload_bytes: usize,
) -> Result<RawRate> {
    let run = format!(
        "{}-{:x}",
        std::process::id(),
        chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0)
    );
    let prefix = format!("fieldops-bench/raw/{run}");
    let max_packet = payload_bytes + prefix.len() + 1024;
    let options = |id: String| {
        let mut o = MqttOptions::new(id, host, port);
        o.set_clean_session(true)
            .set_keep_alive(Duration::from_secs(30))
            .set_max_packet_size(max_packet, max_packet)
            .set_credentials(login.0.clone(), login.1.clone());
        o
    };

    let (sub, mut sub_loop) = AsyncClient::new(options(format!("fieldops-raw-sub-{run}")), 16);
    sub.subscribe(format!("{prefix}/#"), QoS::AtLeastOnce)
        .await
        .context("queueing the subscription")?;
    let subscribed = async {
        loop {
            match sub_loop.poll().await {
                Ok(Event::Incoming(Packet::SubAck(_))) => return Ok(()),
                Ok(_) => {}
                Err(e) => return Err(anyhow!("raw-rate subscriber: {e}")),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(15), subscribed)
        .await
        .map_err(|_| anyhow!("raw-rate subscriber got no SUBACK from {host}:{port}"))??;
    let (count_tx, mut count_rx) = watch::channel(0u64);
    let (stop_tx, mut stop_rx) = oneshot::channel::<()>();
    let counter = {
        let prefix = prefix.clone();
        tokio::spawn(async move {
            let (mut n, mut first, mut last) = (0u64, None, None);
            loop {
                let event = tokio::select! {
                    e = sub_loop.poll() => e,
                    _ = &mut stop_rx => break,
                };
                match event {
                    Ok(Event::Incoming(Packet::Publish(p))) if p.topic.starts_with(&prefix) => {
                        let now = Instant::now();
                        first.get_or_insert(now);
                        last = Some(now);
                        n += 1;
                        count_tx.send_replace(n);
                        if n >= messages {
                            break;
                        }
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "raw-rate subscriber lost its connection");
                        break;
                    }
                }
            }
            (n, first, last)
        })
    };

    let payload = vec![b'x'; payload_bytes];
    let mut tasks = Vec::new();
    for p in 0..publishers {
        let count =
            messages / publishers as u64 + u64::from((p as u64) < messages % publishers as u64);
        if count == 0 {
            continue;
        }
        let mut o = options(format!("fieldops-raw-pub-{run}-{p}"));
        o.set_inflight(200);
        let topic = format!("{prefix}/{p}");
        let payload = payload.clone();
        tasks.push(tokio::spawn(async move {
            let (client, mut eventloop) = AsyncClient::new(o, 256);
            let driver = tokio::spawn(async move {
                let mut acked = 0u64;
                loop {
                    match eventloop.poll().await {
                        Ok(Event::Incoming(Packet::PubAck(_))) => {
                            acked += 1;
                            if acked >= count {
                                return Ok(());
                            }
                        }
                        Ok(Event::Outgoing(Outgoing::Disconnect))
                        | Err(ConnectionError::RequestsDone) => {
                            return Err(anyhow!("publisher stopped after {acked} acks"))
                        }
                        Ok(_) => {}
                        Err(e) => return Err(anyhow!("publisher connection failed: {e}")),
                    }
                }
            });
            for _ in 0..count {
                client
                    .publish(topic.as_str(), QoS::AtLeastOnce, false, payload.clone())
                    .await
                    .context("publishing")?;
            }
            let result = tokio::time::timeout(Duration::from_secs(300), driver)
                .await
                .map_err(|_| anyhow!("publisher timed out waiting for PUBACKs"))?
                .map_err(|e| anyhow!("publisher task: {e}"))?;
            let _ = client.disconnect().await;
            result
        }));
    }
    for t in tasks {
        t.await.map_err(|e| anyhow!("publisher task: {e}"))??;
    }
    loop {
        if *count_rx.borrow_and_update() >= messages {
            break;
        }
        match tokio::time::timeout(Duration::from_secs(2), count_rx.changed()).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) | Err(_) => break,
        }
    }
    let _ = stop_tx.send(());
    let (received, first, last) = counter.await.context("raw-rate subscriber task")?;
    let _ = sub.disconnect().await;
    let elapsed = match (first, last) {
        (Some(f), Some(l)) => l.duration_since(f),
        _ => Duration::ZERO,
    };
    Ok(RawRate {
        received,
        elapsed,
        msgs_per_sec: if received >= 2 && !elapsed.is_zero() {
            received as f64 / elapsed.as_secs_f64()
        } else {
            0.0
        },
    })
}
