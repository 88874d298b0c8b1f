//! The embedded broker with authentication: registered trackers and the in-process gateway get
//! in, everything else is refused; successful checks are cached briefly. Runs on SQLite and
//! PostgreSQL (the check reads the devices table). Each test has its own broker on a free port.
//!
//! rumqttd refuses by closing the connection without a CONNACK (it has no "not authorised"
//! reply), so "refused" here means: the first poll ends in an error and never in a CONNACK.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::time::Duration;

use domain::devices;
use domain::testing::TestDb;
use iot_gateway::broker::{self, BrokerAuth};
use mobile_shared::wire::DeviceCreated;
use rumqttc::{AsyncClient, ConnectionError, Event, EventLoop, MqttOptions, Packet, QoS};

/// Bound on every network wait, so a broken broker fails the test instead of hanging it.
const DEADLINE: Duration = Duration::from_secs(20);

async fn add(db: &TestDb, id: &str) -> DeviceCreated {
    db.add_device(id, None).await
}

fn start(db: &TestDb) -> (SocketAddr, BrokerAuth) {
    let auth = BrokerAuth::new(db.store.clone()).reserve_client_id("fieldops-gateway");
    let addr = broker::start("127.0.0.1:0".parse().unwrap(), Some(auth.clone())).unwrap();
    (addr, auth)
}

/// Connects and returns the client once the broker answered with a successful CONNACK, or the
/// error that ended the connection attempt. `broker::start` returns before rumqttd's thread has
/// bound the port, so a TCP-level "connection refused" (nothing listening yet) is retried,
/// polling every 20 ms until the deadline; any other error is the broker's answer.
async fn connect(
    addr: SocketAddr,
    client_id: &str,
    credentials: Option<(&str, &str)>,
) -> Result<(AsyncClient, EventLoop), ConnectionError> {
    let mut options = MqttOptions::new(client_id, addr.ip().to_string(), addr.port());
    options.set_keep_alive(Duration::from_secs(30));
    if let Some((user, password)) = credentials {
        options.set_credentials(user, password);
    }
    let (client, mut events) = AsyncClient::new(options, 16);
    tokio::time::timeout(DEADLINE, async {
        loop {
            match events.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                    assert_eq!(ack.code, rumqttc::ConnectReturnCode::Success);
                    return Ok(());
                }
                Ok(_) => continue,
                Err(ConnectionError::Io(e))
                    if e.kind() == std::io::ErrorKind::ConnectionRefused =>
                {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(e) => return Err(e),
            }
        }
    })
    .await
    .expect("no answer from the broker in time")?;
    Ok((client, events))
}

async fn assert_refused(addr: SocketAddr, client_id: &str, credentials: Option<(&str, &str)>) {
    match connect(addr, client_id, credentials).await {
        Ok(_) => panic!("{client_id} {credentials:?} was let in"),
        // What rumqttd does: close the connection before any CONNACK.
        Err(ConnectionError::MqttState(rumqttc::StateError::ConnectionAborted)) => {}
        Err(ConnectionError::Io(e))
            if matches!(
                e.kind(),
                std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::UnexpectedEof
            ) => {}
        // What a broker with a "not authorised" reply (Mosquitto) does.
        Err(ConnectionError::ConnectionRefused(_)) => {}
        Err(e) => panic!("{client_id}: refused for an unexpected reason: {e}"),
    }
}

/// Polls until `pick` returns something; other events are ignored.
async fn wait_for<T>(events: &mut EventLoop, mut pick: impl FnMut(&Event) -> Option<T>) -> T {
    tokio::time::timeout(DEADLINE, async {
        loop {
            let event = events.poll().await.expect("connection lost");
            if let Some(t) = pick(&event) {
                return t;
            }
        }
    })
    .await
    .expect("event did not arrive in time")
}

async fn trackers_and_the_gateway_connect_everything_else_is_refused(db: TestDb) {
    let trk = add(&db, "trk-1").await;
    let (addr, auth) = start(&db);

    // The gateway's in-process credential works, with the reserved client id.
    let (gw_user, gw_password) = auth.gateway_credentials();
    assert_eq!(gw_user, devices::EMBEDDED_GATEWAY_USERNAME);
    let (gateway, mut gw_events) =
        connect(addr, "fieldops-gateway", Some((&gw_user, &gw_password)))
            .await
            .expect("gateway connects");
    gateway
        .subscribe("fieldops/v1/+/telemetry", QoS::AtLeastOnce)
        .await
        .unwrap();
    wait_for(&mut gw_events, |e| {
        matches!(e, Event::Incoming(Packet::SubAck(_))).then_some(())
    })
    .await;

    // A registered tracker connects and publishes; the gateway receives it.
    let (tracker, mut trk_events) =
        connect(addr, "trk-1-client", Some(("trk-1", &trk.mqtt_password)))
            .await
            .expect("tracker connects");
    tracker
        .publish(
            "fieldops/v1/trk-1/telemetry",
            QoS::AtLeastOnce,
            false,
            r#"{"ts":1700000000,"lat":48.1,"lon":11.5}"#,
        )
        .await
        .unwrap();
    wait_for(&mut trk_events, |e| {
        matches!(e, Event::Incoming(Packet::PubAck(_))).then_some(())
    })
    .await;
    let topic = wait_for(&mut gw_events, |e| match e {
        Event::Incoming(Packet::Publish(p)) => Some(p.topic.clone()),
        _ => None,
    })
    .await;
    assert_eq!(topic, "fieldops/v1/trk-1/telemetry");

    // Refused: wrong password, unknown user, no credentials, the gateway's name with a wrong
    // password, a tracker with a device's password under another name, and a valid tracker
    // borrowing the gateway's client id (it would end the gateway's session).
    assert_refused(addr, "c1", Some(("trk-1", "wrong"))).await;
    assert_refused(addr, "c2", Some(("nobody", &trk.mqtt_password))).await;
    assert_refused(addr, "c3", None).await;
    assert_refused(addr, "c4", Some((&gw_user, "guess"))).await;
    assert_refused(addr, "c5", Some((&gw_user, &trk.mqtt_password))).await;
    assert_refused(
        addr,
        "fieldops-gateway",
        Some(("trk-1", &trk.mqtt_password)),
    )
    .await;

    // The gateway's session survived all of that.
    gateway
        .publish("probe/alive", QoS::AtLeastOnce, false, "x")
        .await
        .unwrap();
    wait_for(&mut gw_events, |e| {
        matches!(e, Event::Incoming(Packet::PubAck(_))).then_some(())
    })
    .await;
}

async fn successes_are_cached_failures_are_not(db: TestDb) {
    let trk = add(&db, "trk-c").await;
    let cached = BrokerAuth::new(db.store.clone());
    let uncached = BrokerAuth::new(db.store.clone()).cache_ttl(Duration::ZERO);
    assert!(cached.check("c", "trk-c", &trk.mqtt_password).await);
    assert!(uncached.check("c", "trk-c", &trk.mqtt_password).await);
    assert!(!cached.check("c", "trk-c", "wrong").await);

    // With the database gone, only a remembered success still gets in: that is what keeps a
    // reconnect storm off the database. Failures were never remembered, and an error refuses.
    db.store.close().await;
    assert!(cached.check("c", "trk-c", &trk.mqtt_password).await);
    assert!(!uncached.check("c", "trk-c", &trk.mqtt_password).await);
    assert!(!cached.check("c", "trk-c", "wrong").await);
    assert!(!cached.check("c", "trk-other", &trk.mqtt_password).await);
}

domain::backend_matrix!(
    TestDb:
    trackers_and_the_gateway_connect_everything_else_is_refused,
    successes_are_cached_failures_are_not,
);
