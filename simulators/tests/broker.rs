#![allow(clippy::unwrap_used, clippy::expect_used)]
//! End-to-end tests against a real MQTT broker (`FIELDOPS_TEST_MQTT_URL`, e.g. a local
//! Mosquitto at `mqtt://127.0.0.1:1883`); when it is unset they print `SKIPPED: …` and pass, or
//! fail under `CI` (`domain::testing::skip_or_fail`).
//!
//! A plain subscriber sees what a gateway would see, and every payload is judged by the same
//! `mobile_shared` decoder and validator the gateway uses, so these tests pin the simulator to the
//! public contract rather than to its own idea of it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chrono::{DateTime, Utc};
use domain::testing::{service_url, MQTT_URL_VAR};
use mobile_shared::telemetry::{
    decode, parse_topic, validate, Decoded, DeviceStatus, Limits, Reading, Topic,
};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use simulators::{measure_raw_qos1, numbered_devices, parse_broker_url, run_fleet, FleetConfig};
use tokio::sync::{mpsc, oneshot};

/// The broker to run against, or `None` after `skip_or_fail` when it is not configured.
fn broker(test: &str) -> Option<(String, u16)> {
    let url = service_url(MQTT_URL_VAR, test)?;
    Some(parse_broker_url(&url).unwrap())
}

/// Unique per test and run, so parallel tests and earlier runs on the same broker never mix.
fn unique(tag: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{tag}-{}-{:x}-", std::process::id(), nanos % (1 << 40))
}

/// A plain QoS 1 subscriber; returns once the broker acknowledged every subscription.
async fn subscriber(
    host: &str,
    port: u16,
    filters: &[&str],
) -> (AsyncClient, mpsc::UnboundedReceiver<(String, Vec<u8>)>) {
    let mut opts = MqttOptions::new(unique("test-sub"), host, port);
    opts.set_clean_session(true)
        .set_max_packet_size(1 << 20, 1 << 20);
    let (client, mut eventloop) = AsyncClient::new(opts, 16);
    for f in filters {
        client.subscribe(*f, QoS::AtLeastOnce).await.unwrap();
    }
    let (tx, rx) = mpsc::unbounded_channel();
    let (subscribed_tx, subscribed_rx) = oneshot::channel();
    let mut subscribed_tx = Some(subscribed_tx);
    let mut subacks = 0;
    let wanted = filters.len();
    tokio::spawn(async move {
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::SubAck(_))) => {
                    subacks += 1;
                    if subacks == wanted {
                        if let Some(s) = subscribed_tx.take() {
                            let _ = s.send(());
                        }
                    }
                }
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    if tx.send((p.topic.clone(), p.payload.to_vec())).is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(e) => panic!("test subscriber lost the broker: {e}"),
            }
        }
    });
    tokio::time::timeout(Duration::from_secs(10), subscribed_rx)
        .await
        .expect("no SUBACK within 10 s")
        .unwrap();
    (client, rx)
}

/// Everything the subscriber saw from one run's devices, judged like the gateway would.
#[derive(Default, Debug)]
struct Seen {
    telemetry: u64,
    status: u64,
    arrays: u64,
    rejects: BTreeMap<String, u64>,
    readings: HashMap<String, Vec<Reading>>,
    statuses: HashMap<String, Vec<DeviceStatus>>,
}

impl Seen {
    fn take(&mut self, topic: &str, payload: &[u8], now: DateTime<Utc>) {
        let topic = parse_topic(topic).unwrap();
        let device = topic.device_id().to_owned();
        match (&topic, decode(&topic, payload, now)) {
            (Topic::Status { .. }, Ok(Decoded::Status(s))) => {
                self.status += 1;
                self.statuses.entry(device).or_default().push(s);
            }
            (Topic::Telemetry { .. }, Ok(Decoded::Readings(rs))) => {
                self.telemetry += 1;
                let limits = Limits::default();
                if let Some(e) = rs.iter().find_map(|r| validate(r, now, &limits).err()) {
                    *self.rejects.entry(e.as_str().to_owned()).or_default() += 1;
                    return;
                }
                if payload.first() == Some(&b'[') {
                    self.arrays += 1;
                }
                self.readings.entry(device).or_default().extend(rs);
            }
            (Topic::Telemetry { .. }, Err(e)) => {
                self.telemetry += 1;
                *self.rejects.entry(e.as_str().to_owned()).or_default() += 1;
            }
            (t, other) => panic!("unexpected message on {t:?}: {other:?}"),
        }
    }
}

/// Receives until `telemetry` and `status` messages from devices under `prefix` arrived (bounded,
/// so a lost message fails the test instead of hanging it).
async fn collect(
    rx: &mut mpsc::UnboundedReceiver<(String, Vec<u8>)>,
    prefix: &str,
    telemetry: u64,
    status: u64,
) -> Seen {
    let mut seen = Seen::default();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while seen.telemetry < telemetry || seen.status < status {
        let (topic, payload) = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .unwrap_or_else(|_| panic!("timed out; have {seen:?}"))
            .unwrap();
        let ours = parse_topic(&topic).is_ok_and(|t| t.device_id().starts_with(prefix));
        if ours {
            seen.take(&topic, &payload, Utc::now());
        }
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_publishes_decodable_plausible_telemetry() {
    let Some((host, port)) = broker("fleet_publishes_decodable_plausible_telemetry") else {
        return;
    };
    let prefix = unique("fleet");
    let (_sub, mut rx) = subscriber(
        &host,
        port,
        &["fieldops/v1/+/telemetry", "fieldops/v1/+/status"],
    )
    .await;

    let mut config = FleetConfig::new(host, port, numbered_devices(&prefix, 5, None));
    config.total_messages = Some(200);
    config.rate_per_sec = 1000.0;
    config.malformed_share = 0.1;
    config.offline_share = 0.2; // one of five devices
    config.hour_meter_share = 0.6; // three of five
    config.random_order = true;
    config.seed = 7;
    let summary = run_fleet(config, std::future::pending()).await.unwrap();
    println!("{summary}");

    assert_eq!(summary.messages, 200);
    assert_eq!(summary.connections, 5);
    assert_eq!(summary.connect_failures, 0);
    assert_eq!(summary.unacked(), 0, "{summary:?}");
    assert!(
        summary.offline_flushes >= 1 && summary.arrays_sent >= 1,
        "{summary:?}"
    );
    assert!(summary.malformed_total() >= 1, "{summary:?}");
    // 200 messages at 1000/s cannot finish much faster than 0.2 s if the pacer works.
    assert!(summary.elapsed >= Duration::from_millis(150), "{summary:?}");

    let seen = collect(
        &mut rx,
        &prefix,
        summary.published,
        summary.status_published,
    )
    .await;

    // Exactly what was sent arrived, and each malformed message got the reject it was made for.
    assert_eq!(seen.telemetry, summary.published);
    assert_eq!(seen.arrays, summary.arrays_sent);
    let expected_rejects: BTreeMap<String, u64> = summary
        .malformed_by_kind
        .iter()
        .map(|(k, v)| ((*k).to_owned(), *v))
        .collect();
    assert_eq!(seen.rejects, expected_rejects);
    let good: u64 = seen.readings.values().map(|r| r.len() as u64).sum();
    assert_eq!(good, summary.readings_sent);
    assert_eq!(
        good + summary.malformed_total() + summary.buffer_dropped,
        summary.messages
    );

    assert_eq!(seen.readings.len(), 5, "every device reported");
    let mut with_hours = 0;
    for (device, readings) in &seen.readings {
        for pair in readings.windows(2) {
            assert!(
                pair[1].ts > pair[0].ts,
                "{device}: ts not increasing {pair:?}"
            );
            if let (Some(a), Some(b)) = (pair[0].engine_hours, pair[1].engine_hours) {
                assert!(b >= a, "{device}: engine hours went back {a} -> {b}");
            }
            if let (Some(a), Some(b)) = (pair[0].odometer_km, pair[1].odometer_km) {
                assert!(b >= a, "{device}: odometer went back {a} -> {b}");
            }
        }
        for r in readings {
            assert_eq!(r.ts.timestamp_subsec_nanos() % 1_000_000, 0, "ms precision");
            let v = r.battery_v.unwrap();
            assert!((12.4..=14.2).contains(&v), "{device}: battery {v}");
            assert!(r.ignition.is_some() && r.lat.is_some() && r.odometer_km.is_some());
        }
        let hours: HashSet<bool> = readings.iter().map(|r| r.engine_hours.is_some()).collect();
        assert_eq!(
            hours.len(),
            1,
            "{device}: a device either has an hour meter or not"
        );
        if hours.contains(&true) {
            with_hours += 1;
        }
    }
    assert_eq!(with_hours, 3);

    // Each tracker announced itself and said goodbye; the intermittent one dropped out between.
    assert_eq!(seen.statuses.len(), 5);
    for (device, s) in &seen.statuses {
        assert_eq!(s.first(), Some(&DeviceStatus::Online), "{device}: {s:?}");
        assert_eq!(s.last(), Some(&DeviceStatus::Offline), "{device}: {s:?}");
    }
    assert!(seen.statuses.values().any(|s| s.len() >= 4));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_connections_carry_many_devices() {
    let Some((host, port)) = broker("shared_connections_carry_many_devices") else {
        return;
    };
    let prefix = unique("shared");
    let (_sub, mut rx) = subscriber(&host, port, &["fieldops/v1/+/telemetry"]).await;
    let mut config = FleetConfig::new(host, port, numbered_devices(&prefix, 50, None));
    config.connections = Some(3);
    config.total_messages = Some(300);
    config.rate_per_sec = 0.0;
    config.offline_share = 0.1;
    config.random_order = true;
    let summary = run_fleet(config, std::future::pending()).await.unwrap();
    assert_eq!(summary.connections, 3);
    assert_eq!(summary.messages, 300);
    assert_eq!(
        summary.status_published, 0,
        "no per-device status on shared links"
    );
    assert_eq!(summary.unacked(), 0);
    let seen = collect(&mut rx, &prefix, summary.published, 0).await;
    assert_eq!(seen.telemetry, summary.published);
    assert!(seen.rejects.is_empty());
    assert_eq!(seen.readings.len(), 50);
    for readings in seen.readings.values() {
        assert!(readings.windows(2).all(|p| p[1].ts > p[0].ts));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duration_and_shutdown_end_a_run() {
    let Some((host, port)) = broker("duration_and_shutdown_end_a_run") else {
        return;
    };
    let mut config = FleetConfig::new(
        host.clone(),
        port,
        numbered_devices(&unique("dur"), 2, None),
    );
    config.rate_per_sec = 50.0;
    config.duration = Some(Duration::from_millis(300));
    let summary = run_fleet(config.clone(), std::future::pending())
        .await
        .unwrap();
    assert!((5..=40).contains(&summary.messages), "{summary:?}");
    assert_eq!(summary.unacked(), 0);

    config.duration = None;
    config.devices = numbered_devices(&unique("stop"), 2, None);
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let run = tokio::spawn(run_fleet(config, async {
        let _ = stop_rx.await;
    }));
    stop_tx.send(()).unwrap();
    let summary = tokio::time::timeout(Duration::from_secs(30), run)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(summary.unacked(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_rate_smoke() {
    let Some((host, port)) = broker("raw_rate_smoke") else {
        return;
    };
    let rate = measure_raw_qos1(&host, port, 2, 500, 64).await.unwrap();
    println!("raw rate: {rate:?}");
    assert_eq!(rate.received, 500);
    assert!(rate.msgs_per_sec > 0.0 && !rate.elapsed.is_zero());
}

/// No broker needed: a closed port must give an error after bounded retries, not a hang.
#[tokio::test]
async fn unreachable_broker_is_an_error() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let config = FleetConfig::new("127.0.0.1", port, numbered_devices("gone-", 1, None));
    let err = tokio::time::timeout(
        Duration::from_secs(30),
        run_fleet(config, std::future::pending()),
    )
    .await
    .unwrap()
    .unwrap_err();
    assert!(err.to_string().contains("could not connect"), "{err:#}");
}
