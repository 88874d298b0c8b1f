//! Harness for the embedded endpoint's tests: an [`EmbeddedGateway`] on a free port over a fresh
//! database, registered trackers, a way to stall the database, and a raw MQTT client built on
//! rumqttc's own codecs, for what a full client hides (packet ids, reason codes, closes).
//!
//! Waiting is on an event (a packet, a closed socket, a metric reaching a value, a database
//! count reaching a value), polled every 20 ms with a 20 s deadline, never a fixed sleep; only
//! "nothing more happens" is shown by watching for a short while.
#![allow(dead_code)] // each test uses a different part of the harness

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use chrono::{DateTime, SubsecRound, Utc};
use domain::events::EventBus;
use domain::store::{Backend, StoreOptions, Tx};
use domain::telemetry::{IngestOptions, Ingestor};
use domain::testing::TestDb;
use domain::{assets, devices, Actor};
use iot_gateway::endpoint::{DeviceAuth, EndpointMetrics, EndpointSettings};
use iot_gateway::{EmbeddedGateway, EmbeddedSettings, GatewayMetrics, IngestSettings};
use mobile_shared::wire::{NewAsset, NewDevice};
use rumqttc::mqttbytes::v4;
use rumqttc::v5::mqttbytes::v5;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

/// How long any wait may take before the test fails.
pub const DEADLINE: Duration = Duration::from_secs(20);
/// How often conditions are polled.
pub const POLL: Duration = Duration::from_millis(20);
/// How long "nothing more happens" is watched for.
pub const QUIET: Duration = Duration::from_millis(400);

/// One test's gateway, database and metrics.
pub struct World {
    pub db: TestDb,
    pub addr: SocketAddr,
    pub metrics: GatewayMetrics,
    pub endpoint: EndpointMetrics,
    pub settings: EndpointSettings,
    gateway: Option<EmbeddedGateway>,
    stop: Option<oneshot::Sender<()>>,
}

/// A registered tracker: its id (the MQTT username) and password.
#[derive(Debug, Clone)]
pub struct Tracker {
    pub id: String,
    pub password: String,
}

impl Tracker {
    pub fn telemetry(&self) -> String {
        format!("fieldops/v1/{}/telemetry", self.id)
    }

    pub fn status(&self) -> String {
        format!("fieldops/v1/{}/status", self.id)
    }
}

impl World {
    /// An embedded gateway with `settings` over `db`, listening on 127.0.0.1:0.
    pub async fn start(db: TestDb, settings: EndpointSettings) -> World {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        World::start_on(db, settings, listener)
    }

    /// [`World::start`] on a listener the test prepared.
    pub fn start_on(
        db: TestDb,
        settings: EndpointSettings,
        listener: tokio::net::TcpListener,
    ) -> World {
        let ingestor = Arc::new(Ingestor::new(
            db.store.clone(),
            EventBus::default(),
            IngestOptions::default(),
        ));
        let metrics = GatewayMetrics::default();
        let endpoint = EndpointMetrics::default();
        let (stop, stopped) = oneshot::channel::<()>();
        let gateway = EmbeddedGateway::start_on(
            listener,
            EmbeddedSettings {
                endpoint: settings.clone(),
                ingest: IngestSettings::for_backend(db.store.backend()),
            },
            DeviceAuth::new(db.store.clone()),
            ingestor,
            metrics.clone(),
            endpoint.clone(),
            async move {
                let _ = stopped.await;
            },
        )
        .expect("start the embedded gateway");
        World {
            db,
            addr: gateway.local_addr(),
            metrics,
            endpoint,
            settings,
            gateway: Some(gateway),
            stop: Some(stop),
        }
    }

    /// Registers a tracker `name`, bound to a new asset.
    pub async fn tracker(&self, name: &str) -> Tracker {
        let suffix = &domain::clock::new_id().simple().to_string()[24..];
        let id = format!("{name}-{suffix}");
        let asset = assets::create(
            &self.db.store,
            &Actor::system(),
            NewAsset {
                code: id.clone(),
                name: format!("Machine {id}"),
                ..NewAsset::default()
            },
        )
        .await
        .expect("create asset");
        let created = devices::create(
            &self.db.store,
            &Actor::system(),
            NewDevice {
                device_id: id.clone(),
                asset_id: Some(asset.id),
            },
        )
        .await
        .expect("create device");
        Tracker {
            id,
            password: created.mqtt_password,
        }
    }

    /// `fieldops_mqtt_endpoint_refused_total{reason}`.
    pub fn refused(&self, reason: &str) -> u64 {
        self.endpoint.refusals(reason)
    }

    /// Waits until `probe` holds.
    pub async fn until(&self, what: &str, mut probe: impl FnMut(&World) -> bool) {
        let deadline = tokio::time::Instant::now() + DEADLINE;
        while !probe(self) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for: {what}"
            );
            tokio::time::sleep(POLL).await;
        }
    }

    /// Waits until `sql` (a single i64) equals `want`.
    pub async fn wait_count(&self, sql: &str, want: i64) {
        let deadline = tokio::time::Instant::now() + DEADLINE;
        loop {
            let got = self.db.count(sql).await;
            if got == want {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for `{sql}` = {want}; last {got}"
            );
            tokio::time::sleep(POLL).await;
        }
    }

    /// Readings stored for `tracker`.
    pub async fn readings(&self, tracker: &Tracker) -> i64 {
        self.db.count(&readings_sql(tracker)).await
    }

    pub async fn wait_readings(&self, tracker: &Tracker, want: i64) {
        self.wait_count(&readings_sql(tracker), want).await;
    }

    /// `online` of a tracker, as 0/1.
    pub async fn online(&self, tracker: &Tracker) -> i64 {
        self.db
            .count(&format!(
                "SELECT COUNT(*) FROM devices WHERE device_id = '{}' AND online",
                tracker.id
            ))
            .await
    }

    /// Holds every connection the gateway could write with (see [`Stall`]).
    pub async fn stall(&self) -> Stall {
        let writers = match self.db.store.backend() {
            Backend::Sqlite => 1,
            Backend::Postgres => StoreOptions::default().max_connections.max(2),
        };
        let mut held = Vec::new();
        for _ in 0..writers {
            held.push(self.db.store.begin().await.expect("hold a connection"));
        }
        Stall(held)
    }

    /// Signals shutdown and waits until the gateway has committed, acknowledged and closed.
    pub async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(gw) = self.gateway.take() {
            tokio::time::timeout(Duration::from_secs(40), gw.join())
                .await
                .expect("gateway stops in time");
        }
    }
}

impl Drop for World {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

fn readings_sql(tracker: &Tracker) -> String {
    format!(
        "SELECT COUNT(*) FROM telemetry t JOIN devices d ON d.id = t.device_id WHERE d.device_id = '{}'",
        tracker.id
    )
}

/// Open write transactions on every connection the store can write with (SQLite: its one
/// writer; PostgreSQL: the whole pool), so ingest cannot begin a transaction until this is
/// dropped: the database is stalled, and nothing can commit.
pub struct Stall(Vec<Tx>);

/// A whole-second time an hour ago: room for readings at later offsets, all in the past.
pub fn base_time() -> DateTime<Utc> {
    (Utc::now() - chrono::Duration::hours(1)).trunc_subsecs(0)
}

/// A native reading `i` seconds after `base`.
pub fn reading(base: DateTime<Utc>, i: i64) -> Vec<u8> {
    let ts = (base + chrono::Duration::seconds(i)).to_rfc3339();
    format!(r#"{{"ts":"{ts}","lat":48.1,"lon":11.5}}"#).into_bytes()
}

/// A raw MQTT connection speaking one version through rumqttc's codecs.
pub struct Raw {
    stream: TcpStream,
    buf: BytesMut,
}

impl Raw {
    pub async fn open(addr: SocketAddr) -> Raw {
        Raw::from_stream(TcpStream::connect(addr).await.expect("connect"))
    }

    pub fn from_stream(stream: TcpStream) -> Raw {
        Raw {
            stream,
            buf: BytesMut::new(),
        }
    }

    /// Connects with MQTT 3.1.1 and returns the CONNACK.
    pub async fn v4(addr: SocketAddr, connect: v4::Connect) -> (Raw, v4::ConnAck) {
        let mut raw = Raw::open(addr).await;
        raw.send4(v4::Packet::Connect(connect)).await;
        match raw.recv4().await {
            Some(v4::Packet::ConnAck(ack)) => (raw, ack),
            other => panic!("expected a CONNACK, got {other:?}"),
        }
    }

    /// Connects with MQTT 5 and returns the CONNACK.
    pub async fn v5(
        addr: SocketAddr,
        connect: v5::Connect,
        will: Option<v5::LastWill>,
        login: Option<v5::Login>,
    ) -> (Raw, v5::ConnAck) {
        let mut raw = Raw::open(addr).await;
        raw.send5(v5::Packet::Connect(connect, will, login)).await;
        match raw.recv5().await {
            Some(v5::Packet::ConnAck(ack)) => (raw, ack),
            other => panic!("expected a CONNACK, got {other:?}"),
        }
    }

    pub async fn send_bytes(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("write");
    }

    /// Writes `bytes`; false once the connection is gone.
    pub async fn try_send_bytes(&mut self, bytes: &[u8]) -> bool {
        self.stream.write_all(bytes).await.is_ok()
    }

    /// Reads (and ignores) whatever comes until the server closes the connection.
    pub async fn eof(&mut self) {
        let drain = async {
            let mut sink = [0u8; 1024];
            while matches!(self.stream.read(&mut sink).await, Ok(n) if n > 0) {}
        };
        within("the server closes the connection", drain).await;
    }

    pub async fn send4(&mut self, packet: v4::Packet) {
        let mut out = BytesMut::new();
        packet.write(&mut out, usize::MAX).expect("encode");
        self.send_bytes(&out).await;
    }

    pub async fn send5(&mut self, packet: v5::Packet) {
        let mut out = BytesMut::new();
        packet.write(&mut out, None).expect("encode");
        self.send_bytes(&out).await;
    }

    /// A QoS 1 reading per packet id, each `pkid` seconds after `base`, on its telemetry topic.
    pub async fn send_readings(
        &mut self,
        tracker: &Tracker,
        base: DateTime<Utc>,
        pkids: std::ops::RangeInclusive<u16>,
    ) {
        for pkid in pkids {
            let payload = reading(base, i64::from(pkid));
            self.send4(publish4(&tracker.telemetry(), payload, pkid))
                .await;
        }
    }

    /// The next packet, `None` when the server closed the connection.
    pub async fn recv4(&mut self) -> Option<v4::Packet> {
        self.recv(|buf| match v4::Packet::read(buf, usize::MAX) {
            Ok(p) => Some(p),
            Err(rumqttc::mqttbytes::Error::InsufficientBytes(_)) => None,
            Err(e) => panic!("bad packet from the server: {e}"),
        })
        .await
    }

    pub async fn recv5(&mut self) -> Option<v5::Packet> {
        self.recv(|buf| match v5::Packet::read(buf, None) {
            Ok(p) => Some(p),
            Err(rumqttc::v5::mqttbytes::Error::InsufficientBytes(_)) => None,
            Err(e) => panic!("bad packet from the server: {e}"),
        })
        .await
    }

    /// Reads until `decode` takes a packet from the buffer; `None` at end of stream.
    async fn recv<T>(&mut self, decode: impl Fn(&mut BytesMut) -> Option<T>) -> Option<T> {
        let read = async {
            loop {
                if let Some(p) = decode(&mut self.buf) {
                    return Some(p);
                }
                match self.stream.read_buf(&mut self.buf).await {
                    Ok(0) | Err(_) => return None,
                    Ok(_) => {}
                }
            }
        };
        tokio::time::timeout(DEADLINE, read)
            .await
            .expect("no packet or close from the server in time")
    }

    /// Waits until the server closes the connection, failing on any packet first.
    pub async fn closed4(&mut self) {
        if let Some(p) = self.recv4().await {
            panic!("expected the connection to close, got {p:?}");
        }
    }

    /// Whether a packet arrives within [`QUIET`].
    pub async fn quiet(&mut self) -> bool {
        let mut byte = [0u8; 1];
        tokio::time::timeout(QUIET, self.stream.peek(&mut byte))
            .await
            .is_err()
    }
}

/// A 3.1.1 CONNECT as `tracker`.
pub fn connect4(tracker: &Tracker, client_id: &str) -> v4::Connect {
    let mut c = v4::Connect::new(client_id);
    c.keep_alive = 30;
    c.set_login(tracker.id.clone(), tracker.password.clone());
    c
}

/// An MQTT 5 CONNECT (clean start, keep-alive 30 s) and the login as `tracker`.
pub fn connect5(tracker: &Tracker, client_id: &str) -> (v5::Connect, v5::Login) {
    (
        v5::Connect {
            keep_alive: 30,
            client_id: client_id.to_owned(),
            clean_start: true,
            properties: None,
        },
        v5::Login::new(tracker.id.clone(), tracker.password.clone()),
    )
}

/// A 3.1.1 QoS 1 PUBLISH with packet id `pkid`.
pub fn publish4(topic: &str, payload: Vec<u8>, pkid: u16) -> v4::Packet {
    let mut p = v4::Publish::new(topic, rumqttc::QoS::AtLeastOnce, payload);
    p.pkid = pkid;
    v4::Packet::Publish(p)
}

/// An MQTT 5 PUBLISH.
pub fn publish5(
    topic: &str,
    payload: Vec<u8>,
    qos: rumqttc::v5::mqttbytes::QoS,
    pkid: u16,
) -> v5::Packet {
    let mut p = v5::Publish::new(topic, qos, payload, None);
    p.pkid = pkid;
    v5::Packet::Publish(p)
}

/// Runs a future with the test deadline.
pub async fn within<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(DEADLINE, f)
        .await
        .unwrap_or_else(|_| panic!("timed out: {what}"))
}
