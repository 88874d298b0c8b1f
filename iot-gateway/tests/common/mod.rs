//! Harness for the gateway's integration tests: a fresh database, a broker (a shared or private
//! Mosquitto) with gateways running in-process as its clients, or the embedded MQTT endpoint
//! (which is the gateway: trackers connect to it directly), a QoS 1 publisher, and polling
//! helpers.
//!
//! On the embedded endpoint every tracker logs in as itself and publishes only under its own id,
//! so there the publisher opens one connection per device it publishes for, with the password the
//! device got when the test registered it ([`Env::register`]).
//!
//! Isolation on a shared broker: every test has a random prefix used for its device ids, its
//! gateways' client ids and its shared-subscription group, so concurrent tests never take each
//! other's messages. A gateway still *sees* other tests' publishes (it subscribes to
//! `fieldops/v1/+/…`) and stores them as `unknown_device` rejects in its own database, so
//! assertions on rejects filter on the prefix, and exact per-reason metric counts are asserted
//! only on a private broker (see [`Env::private_broker`]).
//!
//! Waiting is always polling a condition (every 20 ms, 20 s deadline) or an event on the bus,
//! never a fixed sleep.
#![allow(dead_code)] // each test file uses a different part of the harness

use std::collections::HashMap;
use std::future::Future;
use std::marker::PhantomData;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use domain::events::{EventBus, FleetEvent};
use domain::telemetry::{IngestOptions, Ingestor, StoredReject};
use domain::testing::{Fixture, TestDb, MQTT_URL_VAR};
use domain::{assets, devices, Actor, Backend, PageRequest};
use iot_gateway::metrics::{ReasonLabel, ResultLabel};
use iot_gateway::{
    BrokerAddress, DeviceAuth, EmbeddedGateway, EmbeddedSettings, EndpointMetrics, Gateway,
    GatewayMetrics, GatewayOptions, IngestSettings,
};
use mobile_shared::telemetry::{encode_native, parse_topic, Reading};
use mobile_shared::wire::{Asset, NewAsset, NewDevice};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use tokio::sync::{broadcast, oneshot, watch};
use tokio::task::JoinHandle;

/// How long any wait may take before the test fails.
pub const DEADLINE: Duration = Duration::from_secs(20);
/// How often conditions are polled.
pub const POLL: Duration = Duration::from_millis(20);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Broker {
    /// The embedded MQTT endpoint ([`EmbeddedGateway`]) on a free port of 127.0.0.1, one per
    /// test: "the gateway" of such a test is the endpoint with its pipeline.
    Embedded,
    /// The broker named by `FIELDOPS_TEST_MQTT_URL`, shared with other tests.
    Mosquitto,
    /// A Mosquitto the test started for itself (see `brokers.rs`).
    PrivateMosquitto,
}

/// The broker of an [`Env`], as a type: each broker is its own [`Fixture`], so a scenario runs on
/// a broker by being listed in that broker's `backend_matrix!` (see the test files).
pub trait BrokerKind: Send + Sync + 'static {
    const BROKER: Broker;
}

/// [`Broker::Embedded`].
pub struct Embedded;
/// [`Broker::Mosquitto`].
pub struct Mosquitto;
/// [`Broker::PrivateMosquitto`]: opened by the test itself with [`Env::with`].
pub struct PrivateMosquitto;

impl BrokerKind for Embedded {
    const BROKER: Broker = Broker::Embedded;
}
impl BrokerKind for Mosquitto {
    const BROKER: Broker = Broker::Mosquitto;
}
impl BrokerKind for PrivateMosquitto {
    const BROKER: Broker = Broker::PrivateMosquitto;
}

/// One test's world: its database, its broker, its prefix, the event bus and an ingestor.
pub struct Env<B: BrokerKind> {
    pub db: TestDb,
    pub address: BrokerAddress,
    /// Random, 10 hex chars: in every device id, client id and share group of this test.
    pub prefix: String,
    pub bus: EventBus,
    /// For direct calls (`mark_silent`); gateways get their own ingestor on the same store/bus.
    pub ingestor: Arc<Ingestor>,
    seq: AtomicU32,
    /// Client ids whose persistent sessions are removed from a shared broker on drop.
    sessions: Mutex<Vec<String>>,
    /// The MQTT password of every device registered here (trackers log in with it on the
    /// embedded endpoint).
    passwords: Passwords,
    /// Embedded: the endpoint's port, bound when the test opened and handed to its first
    /// gateway (later gateways of the test bind the same address again, so trackers reconnect
    /// to where they were).
    listener: Mutex<Option<std::net::TcpListener>>,
    broker: PhantomData<B>,
}

/// Device id → MQTT password.
type Passwords = Arc<Mutex<HashMap<String, String>>>;

/// A random-enough token: the random tail of a UUIDv7 (its head is the clock).
pub fn unique() -> String {
    let id = domain::clock::new_id().simple().to_string();
    id[id.len() - 10..].to_owned()
}

impl Fixture for Env<Embedded> {
    async fn open(backend: Backend) -> Option<Env<Embedded>> {
        let db = TestDb::open(backend).await?;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
        let env = Env::with(db, address_of(listener.local_addr().unwrap()));
        *env.listener.lock().unwrap() = Some(listener);
        Some(env)
    }
}

impl Fixture for Env<Mosquitto> {
    async fn open(backend: Backend) -> Option<Env<Mosquitto>> {
        let url = domain::testing::service_url(MQTT_URL_VAR, "shared-broker test")?;
        let address = BrokerAddress::parse(&url).expect("FIELDOPS_TEST_MQTT_URL");
        if let Err(e) = tokio::net::TcpStream::connect((address.host.as_str(), address.port)).await
        {
            panic!("{MQTT_URL_VAR} is set but the broker at {url} is unreachable: {e}");
        }
        let db = TestDb::open(backend).await?;
        Some(Env::with(db, address))
    }
}

impl<B: BrokerKind> Env<B> {
    /// An environment on a given broker address (a private Mosquitto, for instance).
    pub fn with(db: TestDb, address: BrokerAddress) -> Env<B> {
        let bus = EventBus::default();
        let ingestor = Arc::new(Ingestor::new(
            db.store.clone(),
            bus.clone(),
            IngestOptions::default(),
        ));
        Env {
            db,
            address,
            prefix: format!("t{}", unique()),
            bus,
            ingestor,
            seq: AtomicU32::new(0),
            sessions: Mutex::new(Vec::new()),
            passwords: Passwords::default(),
            listener: Mutex::new(None),
            broker: PhantomData,
        }
    }

    pub fn broker(&self) -> Broker {
        B::BROKER
    }

    /// Whether only this test uses the broker (exact metric counts hold).
    pub fn private_broker(&self) -> bool {
        B::BROKER != Broker::Mosquitto
    }

    fn next(&self) -> u32 {
        self.seq.fetch_add(1, Ordering::Relaxed)
    }

    /// `<prefix>-<name>`: a device id that belongs to this test.
    pub fn device_id(&self, name: &str) -> String {
        format!("{}-{name}", self.prefix)
    }

    pub async fn asset(&self, name: &str) -> Asset {
        let code = format!("{}-{name}", self.prefix);
        assets::create(
            &self.db.store,
            &Actor::system(),
            NewAsset {
                code: code.clone(),
                name: format!("Machine {code}"),
                ..NewAsset::default()
            },
        )
        .await
        .expect("create asset")
    }

    /// Registers a device with exactly this id, bound to `asset`, and keeps its MQTT password.
    pub async fn register(&self, device_id: &str, asset: Option<&Asset>) {
        let created = devices::create(
            &self.db.store,
            &Actor::system(),
            NewDevice {
                device_id: device_id.to_owned(),
                asset_id: asset.map(|a| a.id),
            },
        )
        .await
        .expect("create device");
        self.passwords
            .lock()
            .unwrap()
            .insert(device_id.to_owned(), created.mqtt_password);
    }

    /// An asset with a tracker `<prefix>-<name>` bound to it; returns both.
    pub async fn tracker(&self, name: &str) -> (Asset, String) {
        let asset = self.asset(name).await;
        let device = self.device_id(name);
        self.register(&device, Some(&asset)).await;
        (asset, device)
    }

    /// `n` trackers, `<prefix>-{name}0` …, each bound to its own asset.
    pub async fn trackers(&self, name: &str, n: usize) -> Vec<(Asset, String)> {
        let mut trackers = Vec::with_capacity(n);
        for i in 0..n {
            trackers.push(self.tracker(&format!("{name}{i}")).await);
        }
        trackers
    }

    /// Publishes `per_device` fixes per tracker, second `k` after `t` at latitude
    /// `48 + k/1000`, interleaved across the trackers; waits until the broker acknowledged them
    /// all and the telemetry table holds them all. Returns how many that is.
    pub async fn stream_fixes(
        &self,
        publisher: &Publisher,
        trackers: &[(Asset, String)],
        t: DateTime<Utc>,
        per_device: i64,
    ) -> i64 {
        for k in 0..per_device {
            for (_, device) in trackers {
                let r = fix(at(t, k), 48.0 + k as f64 / 1000.0, 11.5);
                publisher.send(&telemetry_topic(device), native(&[r])).await;
            }
        }
        publisher.flush().await;
        let total = trackers.len() as i64 * per_device;
        self.wait_count("SELECT COUNT(*) FROM telemetry", total)
            .await;
        total
    }

    /// Asserts that each tracker's asset is at the fix taken at `newest`.
    pub async fn assert_positions_at(&self, trackers: &[(Asset, String)], newest: DateTime<Utc>) {
        for (asset, _) in trackers {
            let p = self.get_asset(asset).await.position.unwrap();
            assert_eq!(p.at, newest, "asset {} ends at its newest fix", asset.code);
        }
    }

    /// What most scenarios start from: a tracker `<prefix>-{name}` bound to its own asset, a
    /// gateway (connected and subscribed) and a publisher.
    pub async fn one_tracker(&self, name: &str) -> (Asset, String, RunningGateway, Publisher) {
        let (asset, device) = self.tracker(name).await;
        let gw = self.gateway().await;
        let publisher = self.publisher().await;
        (asset, device, gw, publisher)
    }

    /// A unique client id for a gateway of this test.
    pub fn client_id(&self) -> String {
        format!("gw-{}-{}", self.prefix, self.next())
    }

    pub fn options(&self, client_id: &str) -> GatewayOptions {
        let mut options = GatewayOptions::new(self.address.clone());
        options.client_id = client_id.to_owned();
        options.share_group = Some(format!("g{}", self.prefix));
        options.max_backoff = Duration::from_millis(200);
        options
    }

    /// Starts a gateway with a fresh client id and default settings, connected and subscribed.
    pub async fn gateway(&self) -> RunningGateway {
        let id = self.client_id();
        self.gateway_with(&id, IngestSettings::default()).await
    }

    /// Starts a gateway with this client id and settings and waits until it has subscribed.
    pub async fn gateway_with(&self, client_id: &str, settings: IngestSettings) -> RunningGateway {
        let gw = self.spawn_gateway(self.options(client_id), settings);
        gw.wait_connected().await;
        gw
    }

    /// Starts a gateway without waiting for it to connect. On the embedded endpoint `options`
    /// (a broker client's) do not apply: the endpoint listens on this test's address.
    pub fn spawn_gateway(
        &self,
        options: GatewayOptions,
        settings: IngestSettings,
    ) -> RunningGateway {
        let ingestor = Arc::new(Ingestor::new(
            self.db.store.clone(),
            self.bus.clone(),
            IngestOptions::default(),
        ));
        let metrics = GatewayMetrics::default();
        let (stop, stopped) = oneshot::channel::<()>();
        let shutdown = async move {
            let _ = stopped.await;
        };
        let (client_id, gateway) = match B::BROKER {
            Broker::Embedded => {
                let gateway = self.start_endpoint(ingestor, settings, metrics.clone(), shutdown);
                let name = format!("endpoint {}", gateway.local_addr());
                (name, Running::Embedded(gateway))
            }
            Broker::Mosquitto | Broker::PrivateMosquitto => {
                if B::BROKER == Broker::Mosquitto {
                    let mut sessions = self.sessions.lock().unwrap();
                    for id in options.link_client_ids() {
                        if !sessions.contains(&id) {
                            sessions.push(id);
                        }
                    }
                }
                let client_id = options.client_id.clone();
                let gateway =
                    Gateway::start(options, ingestor, settings, metrics.clone(), shutdown);
                (client_id, Running::Client(gateway))
            }
        };
        RunningGateway {
            metrics,
            client_id,
            gateway: Some(gateway),
            stop: Some(stop),
        }
    }

    /// The embedded endpoint with its pipeline on this test's address.
    fn start_endpoint(
        &self,
        ingestor: Arc<Ingestor>,
        settings: IngestSettings,
        metrics: GatewayMetrics,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> EmbeddedGateway {
        let listener = self.listener.lock().unwrap().take().unwrap_or_else(|| {
            let addr = (self.address.host.as_str(), self.address.port);
            std::net::TcpListener::bind(addr).unwrap_or_else(|e| {
                panic!("bind the endpoint's address again (one gateway at a time here): {e}")
            })
        });
        listener.set_nonblocking(true).unwrap();
        let listener = tokio::net::TcpListener::from_std(listener).unwrap();
        EmbeddedGateway::start_on(
            listener,
            EmbeddedSettings {
                endpoint: Default::default(),
                ingest: settings,
            },
            DeviceAuth::new(self.db.store.clone()),
            ingestor,
            metrics,
            EndpointMetrics::default(),
            shutdown,
        )
        .expect("start the embedded gateway")
    }

    /// A QoS 1 publisher with a fresh client id and a clean session. On the embedded endpoint
    /// it logs in as each device it publishes for (one connection per device).
    pub async fn publisher(&self) -> Publisher {
        let client_id = format!("pub-{}-{}", self.prefix, self.next());
        match B::BROKER {
            Broker::Embedded => {
                Publisher::per_device(&self.address, &client_id, self.passwords.clone())
            }
            Broker::Mosquitto | Broker::PrivateMosquitto => {
                Publisher::connect(&self.address, &client_id, true).await
            }
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<FleetEvent> {
        self.bus.subscribe()
    }

    pub async fn get_asset(&self, asset: &Asset) -> Asset {
        assets::get(&self.db.store, asset.id)
            .await
            .expect("get asset")
    }

    /// Polls the asset until `done` holds; returns it.
    pub async fn wait_asset(
        &self,
        asset: &Asset,
        what: &str,
        done: impl Fn(&Asset) -> bool,
    ) -> Asset {
        eventually(what, async || {
            let a = self.get_asset(asset).await;
            done(&a).then_some(a)
        })
        .await
    }

    /// Polls `sql` (a single i64) until it equals `want`.
    pub async fn wait_count(&self, sql: &str, want: i64) {
        let mut last = 0;
        let reached = poll_until(async || {
            last = self.db.count(sql).await;
            last == want
        })
        .await;
        assert!(
            reached,
            "timed out waiting for `{sql}` = {want}; last value {last}"
        );
    }

    /// Telemetry rows of this test's database.
    pub async fn telemetry_rows(&self) -> i64 {
        self.db.count("SELECT COUNT(*) FROM telemetry").await
    }

    /// Rejects whose topic carries this test's prefix (other tests' traffic is excluded).
    pub fn own_rejects_sql(&self) -> String {
        format!(
            "SELECT COUNT(*) FROM telemetry_rejects WHERE topic LIKE '%{}%'",
            self.prefix
        )
    }

    /// Stored rejects with this reason whose topic carries this test's prefix.
    pub async fn own_rejects(&self, reason: &str) -> Vec<StoredReject> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = PageRequest::new(Some(500), cursor.as_deref()).unwrap();
            let got = domain::telemetry::list_rejects(&self.db.store, Some(reason), page)
                .await
                .expect("list rejects");
            out.extend(
                got.items
                    .into_iter()
                    .filter(|r| r.topic.contains(&self.prefix)),
            );
            match got.next_cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        out
    }

    /// `online` of one device, as 0/1.
    pub async fn online(&self, device_id: &str) -> i64 {
        self.db
            .count(&format!(
                "SELECT COUNT(*) FROM devices WHERE device_id = '{device_id}' AND online"
            ))
            .await
    }
}

impl<B: BrokerKind> Drop for Env<B> {
    /// Removes the persistent sessions this test's gateways left on a shared broker, so they
    /// do not queue other tests' messages forever: connecting with a clean session discards a
    /// session (MQTT 3.1.1 §3.1.2.4).
    fn drop(&mut self) {
        let sessions =
            std::mem::take(&mut *self.sessions.lock().unwrap_or_else(|e| e.into_inner()));
        if sessions.is_empty() {
            return;
        }
        let address = self.address.clone();
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async {
                for id in sessions {
                    let _ = tokio::time::timeout(
                        Duration::from_secs(5),
                        discard_session(&address, &id),
                    )
                    .await;
                }
            });
        })
        .join();
    }
}

/// Connects with a clean session under `client_id` and disconnects.
pub async fn discard_session(address: &BrokerAddress, client_id: &str) {
    let mut opts = MqttOptions::new(client_id, address.host.clone(), address.port);
    opts.set_clean_session(true);
    if let Some(user) = &address.username {
        opts.set_credentials(user.clone(), address.password.clone().unwrap_or_default());
    }
    let (client, mut el) = AsyncClient::new(opts, 10);
    loop {
        match el.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(_))) => break,
            Ok(_) => {}
            Err(_) => return,
        }
    }
    let _ = client.disconnect().await;
    while let Ok(e) = el.poll().await {
        if matches!(e, Event::Outgoing(rumqttc::Outgoing::Disconnect)) {
            break;
        }
    }
}

pub fn address_of(addr: SocketAddr) -> BrokerAddress {
    BrokerAddress {
        host: addr.ip().to_string(),
        port: addr.port(),
        username: None,
        password: None,
    }
}

/// A gateway running in-process, with its metrics and a way to stop it.
pub struct RunningGateway {
    pub metrics: GatewayMetrics,
    pub client_id: String,
    gateway: Option<Running>,
    stop: Option<oneshot::Sender<()>>,
}

/// A broker's client, or the embedded endpoint.
enum Running {
    Client(Gateway),
    Embedded(EmbeddedGateway),
}

impl RunningGateway {
    /// Waits until a broker client has subscribed; the endpoint listens from its start.
    pub async fn wait_connected(&self) {
        let Some(Running::Client(gateway)) = &self.gateway else {
            return;
        };
        let mut rx = gateway.connected();
        tokio::time::timeout(DEADLINE, rx.wait_for(|c| *c))
            .await
            .unwrap_or_else(|_| panic!("gateway {} did not subscribe in time", self.client_id))
            .expect("gateway connection state");
    }

    /// `fieldops_ingest_readings{result}`.
    pub fn readings(&self, result: &'static str) -> u64 {
        self.metrics
            .readings
            .get_or_create(&ResultLabel { result })
            .get()
    }

    pub fn applied(&self) -> u64 {
        self.readings("applied")
    }

    /// `fieldops_ingest_rejects{reason}`.
    pub fn rejects(&self, reason: &str) -> u64 {
        self.metrics
            .rejects
            .get_or_create(&ReasonLabel {
                reason: reason.to_owned(),
            })
            .get()
    }

    /// Signals shutdown and waits until the gateway has committed, acknowledged and left.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let joined = match self.gateway.take() {
            Some(Running::Client(gw)) => {
                tokio::time::timeout(Duration::from_secs(40), gw.join()).await
            }
            Some(Running::Embedded(gw)) => {
                tokio::time::timeout(Duration::from_secs(40), gw.join()).await
            }
            None => Ok(()),
        };
        joined.expect("gateway stops in time");
    }
}

impl Drop for RunningGateway {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A QoS 1 publisher whose event loops run in tasks (reconnecting on errors) and count PUBACKs.
///
/// Either one connection for every topic (a broker), or one per device, each logged in as its
/// device (the embedded endpoint admits a device only under its own topics), opened on the
/// first publish for that device. PUBACKs are counted over all connections.
pub struct Publisher {
    address: BrokerAddress,
    client_id: String,
    clean_session: bool,
    /// Per device: each device's password. `None`: one connection for everything.
    logins: Option<Passwords>,
    /// Device id (or `""` for the one shared connection) → its connection.
    links: Mutex<HashMap<String, Link>>,
    acks_tx: Arc<watch::Sender<u64>>,
    acks: watch::Receiver<u64>,
    sent: AtomicU64,
}

/// One MQTT connection of a [`Publisher`].
struct Link {
    client: AsyncClient,
    task: JoinHandle<()>,
}

impl Publisher {
    /// One connection (anonymous, or with the address's credentials) for every topic.
    pub async fn connect(
        address: &BrokerAddress,
        client_id: &str,
        clean_session: bool,
    ) -> Publisher {
        let publisher = Publisher::new(address, client_id, clean_session, None);
        publisher.link("");
        publisher
    }

    /// One connection per device, logged in as that device with its password from `logins`.
    pub fn per_device(address: &BrokerAddress, client_id: &str, logins: Passwords) -> Publisher {
        Publisher::new(address, client_id, true, Some(logins))
    }

    fn new(
        address: &BrokerAddress,
        client_id: &str,
        clean_session: bool,
        logins: Option<Passwords>,
    ) -> Publisher {
        let (acks_tx, acks) = watch::channel(0u64);
        Publisher {
            address: address.clone(),
            client_id: client_id.to_owned(),
            clean_session,
            logins,
            links: Mutex::new(HashMap::new()),
            acks_tx: Arc::new(acks_tx),
            acks,
            sent: AtomicU64::new(0),
        }
    }

    /// The connection for `device` (`""`: the shared one), opened on first use.
    fn link(&self, device: &str) -> AsyncClient {
        let mut links = self.links.lock().unwrap();
        let n = links.len();
        if let Some(link) = links.get(device) {
            return link.client.clone();
        }
        let client_id = match n {
            0 => self.client_id.clone(),
            n => format!("{}-{n}", self.client_id),
        };
        let mut opts = MqttOptions::new(client_id, self.address.host.clone(), self.address.port);
        opts.set_keep_alive(Duration::from_secs(30));
        opts.set_clean_session(self.clean_session);
        // Room for the oversized-payload reject test.
        opts.set_max_packet_size(4 << 20, 4 << 20);
        let login = match &self.logins {
            Some(logins) => {
                let password = logins.lock().unwrap().get(device).cloned();
                let password = password.unwrap_or_else(|| {
                    panic!("{device} is not registered: it cannot log in to the endpoint")
                });
                Some((device.to_owned(), password))
            }
            None => self
                .address
                .username
                .clone()
                .map(|u| (u, self.address.password.clone().unwrap_or_default())),
        };
        if let Some((user, password)) = login {
            opts.set_credentials(user, password);
        }
        let (client, mut el) = AsyncClient::new(opts, 2048);
        let tx = self.acks_tx.clone();
        let task = tokio::spawn(async move {
            loop {
                match el.poll().await {
                    Ok(Event::Incoming(Packet::PubAck(_))) => tx.send_modify(|n| *n += 1),
                    Ok(_) => {}
                    // Broker away: retry the connection (a reconnect backoff, not a sync sleep).
                    Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                }
            }
        });
        links.insert(
            device.to_owned(),
            Link {
                client: client.clone(),
                task,
            },
        );
        client
    }

    /// The one connection of a [`Publisher::connect`] publisher.
    pub fn client(&self) -> AsyncClient {
        assert!(
            self.logins.is_none(),
            "a per-device publisher has no single client"
        );
        self.link("")
    }

    /// Publishes at QoS 1 and waits for the broker's PUBACK.
    pub async fn publish(&self, topic: &str, payload: impl Into<Vec<u8>>) {
        self.send(topic, payload).await;
        self.flush().await;
    }

    /// Publishes at QoS 1 without waiting for the PUBACK.
    pub async fn send(&self, topic: &str, payload: impl Into<Vec<u8>>) {
        let client = match &self.logins {
            Some(_) => {
                let parsed = parse_topic(topic)
                    .unwrap_or_else(|e| panic!("{topic} names no device to log in as: {e}"));
                self.link(parsed.device_id())
            }
            None => self.link(""),
        };
        self.sent.fetch_add(1, Ordering::SeqCst);
        client
            .publish(topic, QoS::AtLeastOnce, false, payload.into())
            .await
            .expect("queue publish");
    }

    /// Waits until every publish so far has been acknowledged by the broker.
    pub async fn flush(&self) {
        let want = self.sent.load(Ordering::SeqCst);
        self.wait_acks(want).await;
    }

    pub async fn wait_acks(&self, want: u64) {
        let mut rx = self.acks.clone();
        let acked = tokio::time::timeout(DEADLINE, rx.wait_for(|n| *n >= want))
            .await
            .map(|r| r.is_ok());
        assert!(
            acked.unwrap_or(false),
            "broker acknowledged {} of {want} publishes",
            self.acks()
        );
    }

    pub fn acks(&self) -> u64 {
        *self.acks.borrow()
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        let links = self.links.get_mut().unwrap_or_else(|e| e.into_inner());
        for link in links.values() {
            link.task.abort();
        }
    }
}

/// Polls `probe` every [`POLL`] until it returns `Some`, failing the test after [`DEADLINE`].
pub async fn eventually<T>(what: &str, mut probe: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for: {what}"
        );
        tokio::time::sleep(POLL).await;
    }
}

/// Polls `probe` until it is true; false after [`DEADLINE`].
pub async fn poll_until(mut probe: impl AsyncFnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        if probe().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Receives bus events until one matches, failing after [`DEADLINE`].
pub async fn next_event(
    rx: &mut broadcast::Receiver<FleetEvent>,
    what: &str,
    matches: impl Fn(&FleetEvent) -> bool,
) -> FleetEvent {
    let wait = async {
        loop {
            match rx.recv().await {
                Ok(e) if matches(&e) => return e,
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => panic!("event bus closed"),
            }
        }
    };
    tokio::time::timeout(DEADLINE, wait)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for event: {what}"))
}

/// A whole-second time an hour ago: room for readings at later offsets, all in the past.
pub fn base_time() -> DateTime<Utc> {
    (Utc::now() - chrono::Duration::hours(1)).trunc_subsecs(0)
}

pub fn at(base: DateTime<Utc>, secs: i64) -> DateTime<Utc> {
    base + chrono::Duration::seconds(secs)
}

pub fn fix(ts: DateTime<Utc>, lat: f64, lon: f64) -> Reading {
    let mut r = Reading::at(ts);
    r.lat = Some(lat);
    r.lon = Some(lon);
    r
}

/// A native payload: an object for one reading, an array for several.
pub fn native(readings: &[Reading]) -> Vec<u8> {
    encode_native(readings)
}

pub fn telemetry_topic(device: &str) -> String {
    format!("fieldops/v1/{device}/telemetry")
}

pub fn senml_topic(device: &str) -> String {
    format!("fieldops/v1/{device}/senml")
}

pub fn status_topic(device: &str) -> String {
    format!("fieldops/v1/{device}/status")
}

/// Asserts two floats are within `eps`.
#[track_caller]
pub fn assert_close(got: Option<f64>, want: f64, eps: f64) {
    let got = got.unwrap_or_else(|| panic!("expected {want}, got None"));
    assert!(
        (got - want).abs() <= eps,
        "expected {want} ± {eps}, got {got}"
    );
}

/// Runs a future with the test deadline.
pub async fn within<T>(what: &str, f: impl Future<Output = T>) -> T {
    tokio::time::timeout(DEADLINE, f)
        .await
        .unwrap_or_else(|_| panic!("timed out: {what}"))
}
