//! The embedded MQTT endpoint with the ingest pipeline behind it ([`iot_gateway::EmbeddedGateway`]),
//! on SQLite and PostgreSQL, with real clients: rumqttc (3.1.1 and 5), a raw client on rumqttc's
//! codecs where a test needs packet ids, reason codes or closes, and `mosquitto_pub` when
//! installed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod endpoint_support;

use std::sync::Arc;
use std::time::Duration;

use domain::testing::TestDb;
use endpoint_support::*;
use iot_gateway::endpoint::{EndpointSettings, TlsPem};
use rumqttc::mqttbytes::v4;
use rumqttc::v5::mqttbytes::v5;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};

domain::backend_matrix!(
    domain::testing::TestDb:
    qos1_is_acknowledged_after_commit_and_stored_once,
    pubacks_leave_in_publish_order,
    wrong_credentials_and_unsupported_versions_are_refused,
    publishing_as_another_device_is_refused,
    qos0_is_stored,
    qos2_is_refused,
    subscribe_unsubscribe_and_ping_are_answered,
    last_will_marks_a_dropped_tracker_offline,
    keep_alive_timeout_closes_a_silent_connection,
    oversized_packets_are_refused_from_their_fixed_header,
    garbage_bytes_close_the_connection,
    sockets_that_never_connect_are_closed,
    connection_limit_closes_extra_connections,
    idle_connections_do_not_stop_ingest,
    in_flight_limit_bounds_what_is_read,
    in_flight_bytes_bound_what_is_read,
    a_client_that_never_reads_does_not_stall_others,
    same_client_id_takes_over_and_session_present_is_honest,
    shutdown_commits_and_acknowledges_what_it_holds,
    tls_connect_and_publish,
    mqtt5_connack_advertises_the_limits,
    mosquitto_clients_publish_with_both_versions,
);

/// A rumqttc 3.1.1 client for `tracker`, its event loop polled in a task that counts PUBACKs.
struct Client {
    client: AsyncClient,
    acks: tokio::sync::watch::Receiver<u64>,
    task: tokio::task::JoinHandle<()>,
}

impl Client {
    async fn connect(
        world: &World,
        tracker: &Tracker,
        configure: impl FnOnce(&mut MqttOptions),
    ) -> Client {
        let mut opts = MqttOptions::new(
            format!("c-{}", tracker.id),
            world.addr.ip().to_string(),
            world.addr.port(),
        );
        opts.set_credentials(tracker.id.clone(), tracker.password.clone());
        opts.set_keep_alive(Duration::from_secs(30));
        configure(&mut opts);
        let (client, mut events) = AsyncClient::new(opts, 4096);
        let (connected_tx, connected) = tokio::sync::oneshot::channel();
        let (acks_tx, acks) = tokio::sync::watch::channel(0u64);
        let task = tokio::spawn(async move {
            let mut connected_tx = Some(connected_tx);
            loop {
                match events.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        if let Some(tx) = connected_tx.take() {
                            let _ = tx.send(());
                        }
                    }
                    Ok(Event::Incoming(Packet::PubAck(_))) => acks_tx.send_modify(|n| *n += 1),
                    Ok(_) => {}
                    // The endpoint went away (the test stopped it).
                    Err(_) => return,
                }
            }
        });
        within("CONNACK", connected).await.expect("connected");
        Client { client, acks, task }
    }

    async fn publish(&self, topic: &str, qos: QoS, payload: Vec<u8>) {
        self.client
            .publish(topic, qos, false, payload)
            .await
            .expect("queue publish");
    }

    fn acks(&self) -> u64 {
        *self.acks.borrow()
    }

    async fn wait_acks(&self, want: u64) {
        let mut rx = self.acks.clone();
        within("PUBACKs", rx.wait_for(|n| *n >= want))
            .await
            .expect("ack counter");
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A QoS 1 reading is not acknowledged while the database cannot commit, is acknowledged once
/// it did, is in the database whenever its PUBACK is, and a re-sent copy stores nothing twice.
async fn qos1_is_acknowledged_after_commit_and_stored_once(db: TestDb) {
    let mut world = World::start(db, EndpointSettings::default()).await;
    let trk = world.tracker("trk").await;
    let client = Client::connect(&world, &trk, |_| {}).await;
    let base = base_time();

    let stall = world.stall().await;
    client
        .publish(&trk.telemetry(), QoS::AtLeastOnce, reading(base, 0))
        .await;
    world
        .until("the publish reached the pipeline", |w| {
            w.endpoint.in_flight.get() == 1
        })
        .await;
    tokio::time::sleep(QUIET).await;
    assert_eq!(client.acks(), 0, "no PUBACK before the commit");
    drop(stall);
    client.wait_acks(1).await;
    assert_eq!(world.readings(&trk).await, 1);

    // Whenever a PUBACK has arrived, its reading is already stored.
    for i in 1..=50 {
        client
            .publish(&trk.telemetry(), QoS::AtLeastOnce, reading(base, i))
            .await;
    }
    let mut acks = client.acks.clone();
    loop {
        let acked = *acks.borrow_and_update() as i64;
        assert!(
            world.readings(&trk).await >= acked,
            "a PUBACK came before its commit"
        );
        if acked == 51 {
            break;
        }
        within("next PUBACK", acks.changed()).await.unwrap();
    }
    // Re-sent (as after a reconnect): acknowledged, stored once.
    for i in 0..=50 {
        client
            .publish(&trk.telemetry(), QoS::AtLeastOnce, reading(base, i))
            .await;
    }
    client.wait_acks(102).await;
    assert_eq!(world.readings(&trk).await, 51);
    assert_eq!(world.endpoint.in_flight.get(), 0);
    world.stop().await;
}

/// Two connections publish at once; each gets its PUBACKs in its own PUBLISH order.
async fn pubacks_leave_in_publish_order(db: TestDb) {
    let world = World::start(db, EndpointSettings::default()).await;
    let base = base_time();
    let mut runs = Vec::new();
    for name in ["a", "b"] {
        let trk = world.tracker(name).await;
        let addr = world.addr;
        runs.push(tokio::spawn(async move {
            let (mut raw, ack) = Raw::v4(addr, connect4(&trk, name)).await;
            assert_eq!(ack.code, v4::ConnectReturnCode::Success);
            let n: u16 = 300;
            raw.send_readings(&trk, base, 1..=n).await;
            for want in 1..=n {
                match raw.recv4().await {
                    Some(v4::Packet::PubAck(a)) => assert_eq!(a.pkid, want, "out of order"),
                    other => panic!("expected PUBACK {want}, got {other:?}"),
                }
            }
            trk
        }));
    }
    for run in runs {
        let trk = run.await.unwrap();
        assert_eq!(world.readings(&trk).await, 300);
    }
}

async fn wrong_credentials_and_unsupported_versions_are_refused(db: TestDb) {
    let world = World::start(db, EndpointSettings::default()).await;
    let trk = world.tracker("trk").await;
    let wrong = Tracker {
        password: "not-the-password".into(),
        ..trk.clone()
    };
    let unknown = Tracker {
        id: "no-such-device".into(),
        ..trk.clone()
    };
    for t in [&wrong, &unknown] {
        let (mut raw, ack) = Raw::v4(world.addr, connect4(t, "x")).await;
        assert_eq!(ack.code, v4::ConnectReturnCode::BadUserNamePassword);
        raw.closed4().await;
    }
    let (connect, login) = connect5(&wrong, "x");
    let (_, ack) = Raw::v5(world.addr, connect, None, Some(login)).await;
    assert_eq!(ack.code, v5::ConnectReturnCode::BadUserNamePassword);
    let (_, ack) = Raw::v4(world.addr, v4::Connect::new("anonymous")).await;
    assert_eq!(ack.code, v4::ConnectReturnCode::BadUserNamePassword);
    assert_eq!(world.refused("bad_credentials"), 4);

    // Protocol level 3 (MQTT 3.1): "unacceptable protocol version", then close.
    let mut bytes = bytes::BytesMut::new();
    v4::Packet::Connect(connect4(&trk, "old"))
        .write(&mut bytes, usize::MAX)
        .unwrap();
    bytes[8] = 3;
    let mut raw = Raw::open(world.addr).await;
    raw.send_bytes(&bytes).await;
    match raw.recv4().await {
        Some(v4::Packet::ConnAck(a)) => {
            assert_eq!(a.code, v4::ConnectReturnCode::RefusedProtocolVersion)
        }
        other => panic!("{other:?}"),
    }
    raw.closed4().await;
    assert_eq!(world.refused("protocol_version"), 1);

    // The right password gets in.
    let (_, ack) = Raw::v4(world.addr, connect4(&trk, "ok")).await;
    assert_eq!(ack.code, v4::ConnectReturnCode::Success);
}

/// A device may publish only under its own id: 3.1.1 is disconnected, MQTT 5 gets PUBACK 0x87
/// and carries on; nothing is stored for the other device.
async fn publishing_as_another_device_is_refused(db: TestDb) {
    let world = World::start(db, EndpointSettings::default()).await;
    let me = world.tracker("me").await;
    let victim = world.tracker("victim").await;
    let base = base_time();

    let (mut raw, _) = Raw::v4(world.addr, connect4(&me, "me4")).await;
    raw.send4(publish4(&victim.telemetry(), reading(base, 0), 1))
        .await;
    raw.closed4().await;

    let (connect, login) = connect5(&me, "me5");
    let (mut raw, _) = Raw::v5(world.addr, connect, None, Some(login)).await;
    let qos1 = rumqttc::v5::mqttbytes::QoS::AtLeastOnce;
    raw.send5(publish5(&victim.telemetry(), reading(base, 1), qos1, 1))
        .await;
    raw.send5(publish5(&me.telemetry(), reading(base, 2), qos1, 2))
        .await;
    match raw.recv5().await {
        Some(v5::Packet::PubAck(a)) => {
            assert_eq!((a.pkid, a.reason), (1, v5::PubAckReason::NotAuthorized))
        }
        other => panic!("{other:?}"),
    }
    match raw.recv5().await {
        Some(v5::Packet::PubAck(a)) => {
            assert_eq!((a.pkid, a.reason), (2, v5::PubAckReason::Success))
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(world.readings(&me).await, 1);
    assert_eq!(world.readings(&victim).await, 0);
    assert_eq!(world.refused("publish_not_authorized"), 2);
    assert_eq!(
        world
            .db
            .count("SELECT COUNT(*) FROM telemetry_rejects")
            .await,
        0,
        "a refused publish is not even a reject"
    );
}

async fn qos0_is_stored(db: TestDb) {
    let world = World::start(db, EndpointSettings::default()).await;
    let trk = world.tracker("trk").await;
    let client = Client::connect(&world, &trk, |_| {}).await;
    client
        .publish(&trk.telemetry(), QoS::AtMostOnce, reading(base_time(), 0))
        .await;
    world.wait_readings(&trk, 1).await;
}

/// QoS 2: MQTT 5 advertises Maximum QoS 1 and answers a QoS 2 PUBLISH with DISCONNECT 0x9B;
/// 3.1.1 is closed. Nothing is stored.
async fn qos2_is_refused(db: TestDb) {
    let world = World::start(db, EndpointSettings::default()).await;
    let trk = world.tracker("trk").await;
    let (connect, login) = connect5(&trk, "q5");
    let (mut raw, ack) = Raw::v5(world.addr, connect, None, Some(login)).await;
    assert_eq!(ack.properties.unwrap().max_qos, Some(1));
    let qos2 = rumqttc::v5::mqttbytes::QoS::ExactlyOnce;
    raw.send5(publish5(&trk.telemetry(), reading(base_time(), 0), qos2, 1))
        .await;
    match raw.recv5().await {
        Some(v5::Packet::Disconnect(d)) => {
            assert_eq!(d.reason_code, v5::DisconnectReasonCode::QoSNotSupported)
        }
        other => panic!("{other:?}"),
    }

    let (mut raw, _) = Raw::v4(world.addr, connect4(&trk, "q4")).await;
    let mut p = v4::Publish::new(trk.telemetry(), QoS::ExactlyOnce, reading(base_time(), 1));
    p.pkid = 1;
    raw.send4(v4::Packet::Publish(p)).await;
    raw.closed4().await;
    assert_eq!(world.refused("qos2"), 2);
    assert_eq!(world.readings(&trk).await, 0);
}

/// SUBSCRIBE is granted (at most QoS 1) inside the device's own topics and refused elsewhere;
/// UNSUBSCRIBE and PINGREQ are answered.
async fn subscribe_unsubscribe_and_ping_are_answered(db: TestDb) {
    let world = World::start(db, EndpointSettings::default()).await;
    let trk = world.tracker("trk").await;
    let own = format!("fieldops/v1/{}/cmd", trk.id);

    let (mut raw, _) = Raw::v4(world.addr, connect4(&trk, "s4")).await;
    let mut sub = v4::Subscribe::new(own.clone(), QoS::ExactlyOnce);
    sub.add("fieldops/v1/+/telemetry".into(), QoS::AtLeastOnce);
    sub.pkid = 7;
    raw.send4(v4::Packet::Subscribe(sub)).await;
    match raw.recv4().await {
        Some(v4::Packet::SubAck(a)) => {
            assert_eq!(a.pkid, 7);
            assert_eq!(
                a.return_codes,
                vec![
                    v4::SubscribeReasonCode::Success(QoS::AtLeastOnce),
                    v4::SubscribeReasonCode::Failure
                ]
            );
        }
        other => panic!("{other:?}"),
    }
    let mut unsub = v4::Unsubscribe::new(own.clone());
    unsub.pkid = 8;
    raw.send4(v4::Packet::Unsubscribe(unsub)).await;
    assert!(matches!(raw.recv4().await, Some(v4::Packet::UnsubAck(a)) if a.pkid == 8));
    raw.send4(v4::Packet::PingReq).await;
    assert!(matches!(raw.recv4().await, Some(v4::Packet::PingResp)));

    let (connect, login) = connect5(&trk, "s5");
    let (mut raw, _) = Raw::v5(world.addr, connect, None, Some(login)).await;
    let qos1 = rumqttc::v5::mqttbytes::QoS::AtLeastOnce;
    let mut sub = v5::Subscribe::new_many(
        [
            v5::Filter::new(own.clone(), qos1),
            v5::Filter::new("#", qos1),
        ],
        None,
    );
    sub.pkid = 9;
    raw.send5(v5::Packet::Subscribe(sub)).await;
    match raw.recv5().await {
        Some(v5::Packet::SubAck(a)) => assert_eq!(
            a.return_codes,
            vec![
                v5::SubscribeReasonCode::Success(qos1),
                v5::SubscribeReasonCode::NotAuthorized
            ]
        ),
        other => panic!("{other:?}"),
    }
    let mut unsub = v5::Unsubscribe::new(own, None);
    unsub.pkid = 10;
    raw.send5(v5::Packet::Unsubscribe(unsub)).await;
    assert!(matches!(raw.recv5().await, Some(v5::Packet::UnsubAck(a)) if a.pkid == 10));
    raw.send5(v5::Packet::PingReq(v5::PingReq)).await;
    assert!(matches!(raw.recv5().await, Some(v5::Packet::PingResp(_))));
    assert!(raw.quiet().await, "a subscriber receives nothing");
}

/// The will is delivered, as the tracker's status, when its connection drops; not after a
/// DISCONNECT; and a will on another device's topic is refused at CONNECT.
async fn last_will_marks_a_dropped_tracker_offline(db: TestDb) {
    let world = World::start(db, EndpointSettings::default()).await;
    let trk = world.tracker("trk").await;
    let other = world.tracker("other").await;
    let with_will = |topic: String| {
        let mut c = connect4(&trk, "w");
        c.last_will = Some(v4::LastWill::new(topic, "offline", QoS::AtLeastOnce, false));
        c
    };

    let (_, ack) = Raw::v4(world.addr, with_will(other.status())).await;
    assert_eq!(ack.code, v4::ConnectReturnCode::NotAuthorized);
    assert_eq!(world.refused("will_not_authorized"), 1);

    // Graceful: DISCONNECT, no will.
    let (mut raw, _) = Raw::v4(world.addr, with_will(trk.status())).await;
    raw.send4(publish4(&trk.status(), b"online".to_vec(), 1))
        .await;
    assert!(matches!(raw.recv4().await, Some(v4::Packet::PubAck(_))));
    assert_eq!(world.online(&trk).await, 1);
    raw.send4(v4::Packet::Disconnect).await;
    raw.closed4().await;
    world
        .until("the session ended", |w| w.endpoint.connections.get() == 0)
        .await;
    assert_eq!(world.endpoint.wills.get(), 0);

    // Dropped: the will goes through ingest as a status message.
    let (raw, _) = Raw::v4(world.addr, with_will(trk.status())).await;
    drop(raw);
    world
        .until("the will", |w| w.endpoint.wills.get() == 1)
        .await;
    world
        .wait_count(
            &format!(
                "SELECT COUNT(*) FROM devices WHERE device_id = '{}' AND NOT online",
                trk.id
            ),
            1,
        )
        .await;
}

/// A connection silent for 1.5 × its keep-alive is closed (and its will delivered).
async fn keep_alive_timeout_closes_a_silent_connection(db: TestDb) {
    let world = World::start(db, EndpointSettings::default()).await;
    let trk = world.tracker("trk").await;
    let mut c = connect4(&trk, "ka");
    c.keep_alive = 1;
    c.last_will = Some(v4::LastWill::new(
        trk.status(),
        "offline",
        QoS::AtMostOnce,
        false,
    ));
    let (mut raw, _) = Raw::v4(world.addr, c).await;
    // Activity keeps it open…
    raw.send4(v4::Packet::PingReq).await;
    assert!(matches!(raw.recv4().await, Some(v4::Packet::PingResp)));
    // …silence closes it.
    let started = std::time::Instant::now();
    raw.closed4().await;
    assert!(
        started.elapsed() >= Duration::from_millis(1000),
        "closed too early"
    );
    assert_eq!(world.refused("keep_alive_timeout"), 1);
    world
        .until("the will", |w| w.endpoint.wills.get() == 1)
        .await;
}

/// A packet over the limit is refused from its fixed header: the client never sends the body.
async fn oversized_packets_are_refused_from_their_fixed_header(db: TestDb) {
    let settings = EndpointSettings {
        max_packet_size: 64 * 1024,
        ..EndpointSettings::default()
    };
    let world = World::start(db, settings).await;
    let trk = world.tracker("trk").await;
    // A QoS 0 PUBLISH declaring 10,000,000 bytes, and a few bytes of it.
    let header = [0x30, 0x80, 0xad, 0xe2, 0x04, 0x00, 0x01, b'x'];

    let (mut raw, _) = Raw::v4(world.addr, connect4(&trk, "big4")).await;
    raw.send_bytes(&header).await;
    raw.closed4().await;

    let (connect, login) = connect5(&trk, "big5");
    let (mut raw, ack) = Raw::v5(world.addr, connect, None, Some(login)).await;
    assert_eq!(ack.properties.unwrap().max_packet_size, Some(64 * 1024));
    raw.send_bytes(&header).await;
    match raw.recv5().await {
        Some(v5::Packet::Disconnect(d)) => {
            assert_eq!(d.reason_code, v5::DisconnectReasonCode::PacketTooLarge)
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(world.refused("packet_too_large"), 2);

    // Under the limit is fine.
    let (mut raw, _) = Raw::v4(world.addr, connect4(&trk, "ok")).await;
    raw.send4(publish4(&trk.telemetry(), reading(base_time(), 0), 1))
        .await;
    assert!(matches!(raw.recv4().await, Some(v4::Packet::PubAck(_))));
}

async fn garbage_bytes_close_the_connection(db: TestDb) {
    let world = World::start(db, EndpointSettings::default()).await;
    let trk = world.tracker("trk").await;
    let mut raw = Raw::open(world.addr).await;
    raw.send_bytes(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
    raw.closed4().await;
    // After a good CONNECT: a reserved packet type.
    let (mut raw, _) = Raw::v4(world.addr, connect4(&trk, "g")).await;
    raw.send_bytes(&[0xf0, 0x00]).await;
    raw.closed4().await;
    assert_eq!(world.refused("malformed"), 2);
}

async fn sockets_that_never_connect_are_closed(db: TestDb) {
    let settings = EndpointSettings {
        connect_timeout: Duration::from_millis(300),
        ..EndpointSettings::default()
    };
    let world = World::start(db, settings).await;
    let mut raw = Raw::open(world.addr).await;
    raw.closed4().await;
    assert_eq!(world.refused("connect_timeout"), 1);
}

async fn connection_limit_closes_extra_connections(db: TestDb) {
    let settings = EndpointSettings {
        max_connections: 2,
        ..EndpointSettings::default()
    };
    let world = World::start(db, settings).await;
    let trk = world.tracker("trk").await;
    let (_a, _) = Raw::v4(world.addr, connect4(&trk, "a")).await;
    let _b = Raw::open(world.addr).await;
    world
        .until("two connections", |w| w.endpoint.connections.get() == 2)
        .await;
    let mut third = Raw::open(world.addr).await;
    third.closed4().await;
    assert_eq!(world.refused("connection_limit"), 1);
}

/// The idle clients of [`idle_connections_do_not_stop_ingest`]: opens `count` TCP connections to
/// `host:port`, says `ready`, and holds them (sending nothing) until its stdin closes.
const IDLE_CLIENTS: &str = r#"
import socket, sys
host, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
held = [socket.create_connection((host, port)) for _ in range(count)]
print("ready", len(held), flush=True)
sys.stdin.read()
"#;

/// 10,000 sockets that never CONNECT (each a task awaiting its CONNECT) do not keep a tracker
/// from connecting and publishing. The idle clients live in a child process, so this process
/// holds only the server's ends; the SQLite and PostgreSQL runs take turns, so the two never
/// hold 2 × 10,000 descriptors under the 20,000 limit at once.
async fn idle_connections_do_not_stop_ingest(db: TestDb) {
    const IDLE: usize = 10_000;
    static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let _turn = ONE_AT_A_TIME.lock().await;
    let settings = EndpointSettings {
        connect_timeout: Duration::from_secs(120),
        ..EndpointSettings::default()
    };
    let world = World::start(db, settings).await;
    let trk = world.tracker("trk").await;
    let spawned = tokio::process::Command::new("python3")
        .arg("-c")
        .arg(IDLE_CLIENTS)
        .arg(world.addr.ip().to_string())
        .arg(world.addr.port().to_string())
        .arg(IDLE.to_string())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn();
    let Ok(mut idle) = spawned else {
        domain::testing::skip_or_fail(
            "10,000 idle MQTT connections",
            "install python3 (it holds the idle client sockets)",
        );
        return;
    };
    let stdout = idle.stdout.take().expect("child stdout");
    let mut lines = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(stdout));
    let ready = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
        .await
        .expect("the idle clients connect within a minute")
        .expect("read the child's stdout");
    assert_eq!(ready.as_deref(), Some(format!("ready {IDLE}").as_str()));
    world
        .until("every idle connection accepted", |w| {
            w.endpoint.connections.get() as usize == IDLE
        })
        .await;
    let (mut raw, _) = Raw::v4(world.addr, connect4(&trk, "busy")).await;
    raw.send4(publish4(&trk.telemetry(), reading(base_time(), 0), 1))
        .await;
    assert!(matches!(raw.recv4().await, Some(v4::Packet::PubAck(_))));
    assert_eq!(world.readings(&trk).await, 1);
    drop(idle.stdin.take());
    let status = idle.wait().await.expect("the idle clients exit");
    assert!(status.success(), "{status}");
}

/// With the database stalled, a client sending 10 × the in-flight limit has exactly the limit
/// delivered (the rest stays unread in the socket); once the database is back, everything lands
/// once.
async fn in_flight_limit_bounds_what_is_read(db: TestDb) {
    const LIMIT: u16 = 20;
    let settings = EndpointSettings {
        max_in_flight: LIMIT,
        ..EndpointSettings::default()
    };
    let world = World::start(db, settings).await;
    let trk = world.tracker("trk").await;
    let client = Client::connect(&world, &trk, |o| {
        o.set_inflight(10 * LIMIT);
    })
    .await;
    let base = base_time();
    let stall = world.stall().await;
    for i in 0..i64::from(10 * LIMIT) {
        client
            .publish(&trk.telemetry(), QoS::AtLeastOnce, reading(base, i))
            .await;
    }
    world
        .until("the limit is in flight", |w| {
            w.endpoint.in_flight.get() == i64::from(LIMIT)
        })
        .await;
    tokio::time::sleep(QUIET).await;
    assert_eq!(world.endpoint.in_flight.get(), i64::from(LIMIT));
    assert_eq!(
        world.metrics.in_flight.get(),
        i64::from(LIMIT),
        "only the limit reached the pipeline"
    );
    assert_eq!(client.acks(), 0);
    drop(stall);
    client.wait_acks(u64::from(10 * LIMIT)).await;
    assert_eq!(world.readings(&trk).await, i64::from(10 * LIMIT));
}

/// With the database stalled, large publishes are read only while the endpoint's byte budget
/// lasts (the per-connection limit, in packets, would allow far more); once the database is
/// back, everything lands once.
async fn in_flight_bytes_bound_what_is_read(db: TestDb) {
    const BUDGET_KIB: usize = 64;
    const PUBLISHES: i64 = 20;
    // 20 × 150 readings, one a second from an hour ago: all in the past.
    const READINGS: i64 = 150;
    let settings = EndpointSettings {
        max_in_flight_bytes: BUDGET_KIB * 1024,
        ..EndpointSettings::default()
    };
    let world = World::start(db, settings).await;
    let trk = world.tracker("trk").await;
    let client = Client::connect(&world, &trk, |o| {
        o.set_inflight(100);
        // rumqttc's own default refuses to send packets over 10 KiB.
        o.set_max_packet_size(1024 * 1024, 1024 * 1024);
    })
    .await;
    let base = base_time();
    // Offline-buffer flushes: arrays of readings, each publish some kilobytes.
    let flush = |n: i64| {
        let items: Vec<String> = (0..READINGS)
            .map(|i| String::from_utf8(reading(base, n * READINGS + i)).expect("utf-8"))
            .collect();
        format!("[{}]", items.join(",")).into_bytes()
    };
    let size = flush(0).len() + trk.telemetry().len();
    let fit = (BUDGET_KIB / size.div_ceil(1024)) as i64;
    assert!((2..PUBLISHES).contains(&fit), "{size} bytes per publish");
    let stall = world.stall().await;
    for n in 0..PUBLISHES {
        client
            .publish(&trk.telemetry(), QoS::AtLeastOnce, flush(n))
            .await;
    }
    world
        .until("the budget is in flight", |w| {
            w.endpoint.in_flight.get() == fit
        })
        .await;
    tokio::time::sleep(QUIET).await;
    assert_eq!(
        world.endpoint.in_flight.get(),
        fit,
        "only the budget was read"
    );
    assert_eq!(client.acks(), 0);
    drop(stall);
    client.wait_acks(PUBLISHES as u64).await;
    assert_eq!(world.readings(&trk).await, PUBLISHES * READINGS);
}

/// A client that floods without reading what it is sent is dropped once its writes stall for
/// `write_timeout`; meanwhile another tracker's publishes are acknowledged and stored.
async fn a_client_that_never_reads_does_not_stall_others(db: TestDb) {
    let settings = EndpointSettings {
        write_timeout: Duration::from_secs(1),
        ..EndpointSettings::default()
    };
    // Small fixed socket buffers at both ends (accepted sockets inherit the listener's), so
    // "full" is kilobytes rather than the megabytes autotuning allows.
    let listener = tokio::net::TcpSocket::new_v4().unwrap();
    listener.set_send_buffer_size(4096).unwrap();
    listener.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let world = World::start_on(db, settings, listener.listen(64).unwrap());
    let flooder = world.tracker("flooder").await;
    let good = world.tracker("good").await;

    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(world.addr).await.unwrap();
    let mut raw = Raw::from_stream(stream);
    raw.send4(v4::Packet::Connect(connect4(&flooder, "flood")))
        .await;
    assert!(matches!(raw.recv4().await, Some(v4::Packet::ConnAck(_))));
    let base = base_time();
    raw.send_readings(&flooder, base, 1..=10).await;
    // PINGREQs answered with PINGRESPs it never reads, until its socket is full both ways.
    let flood = tokio::spawn(async move {
        let pings = [0xc0u8, 0x00].repeat(32 * 1024);
        while raw.try_send_bytes(&pings).await {}
    });

    let client = Client::connect(&world, &good, |_| {}).await;
    for i in 0..20 {
        client
            .publish(&good.telemetry(), QoS::AtLeastOnce, reading(base, i))
            .await;
    }
    client.wait_acks(20).await;
    assert_eq!(world.readings(&good).await, 20);
    world
        .until("the flooder is dropped", |w| {
            w.refused("write_timeout") == 1
        })
        .await;
    within("the flood ends", flood).await.unwrap();
    assert_eq!(
        world.readings(&flooder).await,
        10,
        "its publishes still committed"
    );
}

/// A second connection of the same device with the same client id takes over (MQTT 5 hears
/// why); `session_present` is true only when resuming a persistent session this process had.
async fn same_client_id_takes_over_and_session_present_is_honest(db: TestDb) {
    let world = World::start(db, EndpointSettings::default()).await;
    let trk = world.tracker("trk").await;
    let persistent = || {
        let mut c = connect4(&trk, "same");
        c.clean_session = false;
        c
    };
    let (mut first, ack) = Raw::v4(world.addr, persistent()).await;
    assert!(!ack.session_present, "nothing to resume yet");
    let (mut second, ack) = Raw::v4(world.addr, persistent()).await;
    assert!(ack.session_present);
    first.closed4().await;
    second.send4(v4::Packet::PingReq).await;
    assert!(matches!(second.recv4().await, Some(v4::Packet::PingResp)));
    assert_eq!(world.endpoint.takeovers.get(), 1);
    // A clean session ends the persistent one.
    let (_third, ack) = Raw::v4(world.addr, connect4(&trk, "same")).await;
    assert!(!ack.session_present);
    let (_fourth, ack) = Raw::v4(world.addr, persistent()).await;
    assert!(!ack.session_present);

    // MQTT 5: the one taken over gets DISCONNECT 0x8E.
    let (connect, login) = connect5(&trk, "same5");
    let (mut first, _) = Raw::v5(world.addr, connect.clone(), None, Some(login.clone())).await;
    let (_second, _) = Raw::v5(world.addr, connect, None, Some(login)).await;
    match first.recv5().await {
        Some(v5::Packet::Disconnect(d)) => {
            assert_eq!(d.reason_code, v5::DisconnectReasonCode::SessionTakenOver)
        }
        other => panic!("{other:?}"),
    }
}

/// Shutdown while publishes wait for a stalled database: once it is back they are committed,
/// their PUBACKs written, and only then is the connection closed.
async fn shutdown_commits_and_acknowledges_what_it_holds(db: TestDb) {
    let mut world = World::start(db, EndpointSettings::default()).await;
    let trk = world.tracker("trk").await;
    let (mut raw, _) = Raw::v4(world.addr, connect4(&trk, "bye")).await;
    let base = base_time();
    let stall = world.stall().await;
    raw.send_readings(&trk, base, 1..=10).await;
    world
        .until("all ten in flight", |w| w.endpoint.in_flight.get() == 10)
        .await;
    let stopping = async {
        world.stop().await;
    };
    let release = async {
        tokio::time::sleep(QUIET).await;
        drop(stall);
    };
    let client = async {
        let mut acked = Vec::new();
        while let Some(p) = raw.recv4().await {
            match p {
                v4::Packet::PubAck(a) => acked.push(a.pkid),
                other => panic!("{other:?}"),
            }
        }
        acked
    };
    let ((), (), acked) = tokio::join!(stopping, release, client);
    assert_eq!(acked, (1..=10).collect::<Vec<_>>());
    assert_eq!(world.readings(&trk).await, 10);
}

/// A TLS listener with a self-signed certificate; a rumqttc client that trusts it publishes.
async fn tls_connect_and_publish(db: TestDb) {
    use tokio_rustls::rustls;
    let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    let settings = EndpointSettings {
        tls: Some(TlsPem {
            cert_chain: cert.cert.pem().into_bytes(),
            private_key: cert.key_pair.serialize_pem().into_bytes(),
        }),
        ..EndpointSettings::default()
    };
    let world = World::start(db, settings).await;
    let trk = world.tracker("trk").await;

    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.cert.der().clone()).unwrap();
    #[allow(deprecated)] // the provider the endpoint uses
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let client = Client::connect(&world, &trk, |o| {
        o.set_transport(rumqttc::Transport::tls_with_config(
            rumqttc::TlsConfiguration::Rustls(Arc::new(config)),
        ));
    })
    .await;
    client
        .publish(&trk.telemetry(), QoS::AtLeastOnce, reading(base_time(), 0))
        .await;
    client.wait_acks(1).await;
    assert_eq!(world.readings(&trk).await, 1);

    // Plain MQTT on the TLS port fails the handshake (rustls may send an alert first).
    let mut raw = Raw::open(world.addr).await;
    raw.send4(v4::Packet::Connect(connect4(&trk, "plain")))
        .await;
    raw.eof().await;
    world
        .until("the refusal", |w| w.refused("tls_handshake") == 1)
        .await;
}

/// rumqttc's MQTT 5 client sees Receive Maximum, Maximum QoS and Maximum Packet Size, and
/// publishes through the endpoint.
async fn mqtt5_connack_advertises_the_limits(db: TestDb) {
    use rumqttc::v5::{AsyncClient, Event, Incoming, MqttOptions};
    let settings = EndpointSettings {
        max_in_flight: 77,
        max_packet_size: 100_000,
        ..EndpointSettings::default()
    };
    let world = World::start(db, settings).await;
    let trk = world.tracker("trk").await;
    let mut opts = MqttOptions::new("v5", world.addr.ip().to_string(), world.addr.port());
    opts.set_credentials(trk.id.clone(), trk.password.clone());
    let (client, mut events) = AsyncClient::new(opts, 16);
    let props = within("CONNACK", async {
        loop {
            if let Event::Incoming(Incoming::ConnAck(ack)) = events.poll().await.unwrap() {
                assert_eq!(ack.code, v5::ConnectReturnCode::Success);
                return ack.properties.unwrap();
            }
        }
    })
    .await;
    assert_eq!(props.receive_max, Some(77));
    assert_eq!(props.max_qos, Some(1));
    assert_eq!(props.max_packet_size, Some(100_000));
    client
        .publish(
            trk.telemetry(),
            rumqttc::v5::mqttbytes::QoS::AtLeastOnce,
            false,
            reading(base_time(), 0),
        )
        .await
        .unwrap();
    within("PUBACK", async {
        loop {
            if let Event::Incoming(Incoming::PubAck(ack)) = events.poll().await.unwrap() {
                assert_eq!(ack.reason, v5::PubAckReason::Success);
                return;
            }
        }
    })
    .await;
    assert_eq!(world.readings(&trk).await, 1);
}

/// A third-party client: `mosquitto_pub` with MQTT 3.1.1 and 5 (skipped when not installed).
async fn mosquitto_clients_publish_with_both_versions(db: TestDb) {
    if std::process::Command::new("mosquitto_pub")
        .arg("--help")
        .output()
        .is_err()
    {
        eprintln!("SKIPPED: mosquitto_pub is not installed");
        return;
    }
    let world = World::start(db, EndpointSettings::default()).await;
    let trk = world.tracker("trk").await;
    let base = base_time();
    for (i, version) in ["mqttv311", "mqttv5"].into_iter().enumerate() {
        let payload = String::from_utf8(reading(base, i as i64)).unwrap();
        let out = tokio::process::Command::new("mosquitto_pub")
            .args(["-h", "127.0.0.1", "-p", &world.addr.port().to_string()])
            .args(["-V", version, "-q", "1", "-i", &format!("mp-{i}")])
            .args(["-u", &trk.id, "-P", &trk.password])
            .args(["-t", &trk.telemetry(), "-m", &payload])
            .output();
        let out = within("mosquitto_pub", out).await.unwrap();
        assert!(out.status.success(), "{version}: {out:?}");
    }
    // mosquitto_pub exits after its PUBACK: both are already stored.
    assert_eq!(world.readings(&trk).await, 2);
}
