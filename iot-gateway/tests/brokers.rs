//! Broker behaviour: gateways splitting one stream through a shared subscription, and a broker
//! restart in the middle of a stream (a private Mosquitto, killed and started again).
//!
//! Shared subscriptions, several gateways on one stream and one gateway on several links are
//! things of a broker: the embedded endpoint is itself the one gateway its trackers reach, so
//! those scenarios run through Mosquitto only.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;

use common::*;
use domain::testing::{Fixture, TestDb};
use domain::Backend;

mod embedded {
    use super::*;
    domain::backend_matrix!(
        Env<Embedded>: readings_published_while_the_gateway_is_away_wait_for_it
    );
}

mod mosquitto {
    use super::*;
    domain::backend_matrix!(
        Env<Mosquitto>:
        two_gateways_share_one_stream_exactly_once,
        readings_published_while_the_gateway_is_away_wait_for_it,
        two_gateways_keep_one_device_state_consistent,
        one_gateway_on_several_links_applies_each_reading_once,
    );
}

mod private_mosquitto {
    use super::*;
    domain::backend_matrix!(
        OwnMosquitto: broker_restart_mid_stream_loses_and_duplicates_nothing
    );
}

/// Scenario 10: two gateways (different client ids, one share group, one database); 500
/// readings from 10 devices are each stored exactly once and both gateways take a part.
async fn two_gateways_share_one_stream_exactly_once(env: Env<impl BrokerKind>) {
    const DEVICES: usize = 10;
    const PER_DEVICE: i64 = 50;
    let trackers = env.trackers("d", DEVICES).await;
    let a = env.gateway().await;
    let b = env.gateway().await;
    let publisher = env.publisher().await;
    let t = base_time();
    let total = env.stream_fixes(&publisher, &trackers, t, PER_DEVICE).await;
    let counted = poll_until(async || a.applied() + b.applied() == total as u64).await;
    assert!(counted, "applied {} + {}", a.applied(), b.applied());
    assert_eq!(
        env.db
            .count("SELECT COUNT(*) FROM (SELECT DISTINCT device_id, ts FROM telemetry) x")
            .await,
        total
    );
    assert_eq!(
        a.readings("duplicate") + b.readings("duplicate"),
        0,
        "nothing delivered twice"
    );
    // Both gateways wrote the same assets concurrently: each still ends at its newest fix.
    env.assert_positions_at(&trackers, at(t, PER_DEVICE - 1))
        .await;
    eprintln!(
        "shared subscription on {:?}: gateway A applied {}, gateway B applied {}",
        env.broker(),
        a.applied(),
        b.applied()
    );
    assert!(
        a.applied() > 0 && b.applied() > 0,
        "the broker split the stream between the two gateways (A {}, B {})",
        a.applied(),
        b.applied()
    );
    a.stop().await;
    b.stop().await;
}

/// Two gateways on one device's stream: its readings are split between two concurrent
/// transactions. Ignition hours are computed from the device's last reading and ignition state,
/// so those must be read under a lock: otherwise both transactions start from the same state and
/// count the same interval twice, or the device's `last_ts` goes back in time.
async fn two_gateways_keep_one_device_state_consistent(env: Env<Mosquitto>) {
    const READINGS: i64 = 300;
    let (asset, device) = env.tracker("ign2").await;
    let a = env.gateway().await;
    let b = env.gateway().await;
    let publisher = env.publisher().await;
    let t = base_time();
    for k in 0..READINGS {
        let mut r = fix(at(t, k), 48.0 + k as f64 / 10_000.0, 11.5);
        r.ignition = Some(true);
        publisher
            .send(&telemetry_topic(&device), native(&[r]))
            .await;
    }
    publisher.flush().await;
    env.wait_count("SELECT COUNT(*) FROM telemetry", READINGS)
        .await;
    let counted = poll_until(async || a.applied() + b.applied() == READINGS as u64).await;
    assert!(counted);
    // At most every second between the first and the last reading ran; readings committed
    // after a newer one (out of order across the two gateways) may add less, never more.
    let most = (READINGS - 1) as f64 / 3600.0;
    let hours = env.get_asset(&asset).await.engine_hours.unwrap_or(0.0);
    assert!(
        hours <= most + 1e-9,
        "engine hours {hours} exceed the {most} h the readings span (A applied {}, B applied {})",
        a.applied(),
        b.applied()
    );
    let newest = at(t, READINGS - 1);
    assert_eq!(env.get_asset(&asset).await.position.unwrap().at, newest);
    assert_eq!(
        env.db
            .count(&format!(
                "SELECT COUNT(*) FROM devices WHERE device_id = '{device}' AND last_ts = (SELECT MAX(ts) FROM telemetry)"
            ))
            .await,
        1,
        "the device's last reading time is its newest reading"
    );
    a.stop().await;
    b.stop().await;
}

/// One gateway with four MQTT links in one shared group (`--mqtt-links`, for a broker whose
/// in-flight window is per connection): the stream is split over the links, and each reading is
/// still applied exactly once, with each asset at its newest fix.
async fn one_gateway_on_several_links_applies_each_reading_once(env: Env<Mosquitto>) {
    const DEVICES: usize = 8;
    const PER_DEVICE: i64 = 150;
    let trackers = env.trackers("l", DEVICES).await;
    let mut options = env.options(&env.client_id());
    options.share_group = None;
    options.connections = 4;
    let gw = env.spawn_gateway(options, iot_gateway::IngestSettings::default());
    gw.wait_connected().await;
    let publisher = env.publisher().await;
    let t = base_time();
    let total = env.stream_fixes(&publisher, &trackers, t, PER_DEVICE).await;
    assert!(poll_until(async || gw.applied() == total as u64).await);
    assert_eq!(gw.readings("duplicate"), 0, "each reading delivered once");
    env.assert_positions_at(&trackers, at(t, PER_DEVICE - 1))
        .await;
    gw.stop().await;
}

/// Where `mosquitto` is, if installed (it lives in sbin on Debian).
fn mosquitto_binary() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/local/sbin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join("mosquitto"))
        .find(|p| p.is_file())
}

/// A Mosquitto of this test's own, on a free port, persisting to a temporary directory.
struct PrivateBroker {
    binary: PathBuf,
    dir: PathBuf,
    port: u16,
    child: Option<tokio::process::Child>,
}

impl PrivateBroker {
    async fn start(binary: PathBuf) -> PrivateBroker {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = std::env::temp_dir().join(format!("fieldops-mosquitto-{}", unique()));
        std::fs::create_dir_all(&dir).unwrap();
        // Mosquitto started as root drops to its own user before writing the persistence file.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        }
        let conf = format!(
            "listener {port} 127.0.0.1\nallow_anonymous true\npersistence true\n\
             persistence_location {}/\nmax_queued_messages 100000\nmax_inflight_messages 1000\n\
             log_dest stderr\n",
            dir.display()
        );
        std::fs::write(dir.join("mosquitto.conf"), conf).unwrap();
        let mut broker = PrivateBroker {
            binary,
            dir,
            port,
            child: None,
        };
        broker.spawn().await;
        broker
    }

    fn address(&self) -> iot_gateway::BrokerAddress {
        address_of(([127, 0, 0, 1], self.port).into())
    }

    async fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("mosquitto.log"))
            .unwrap();
        let child = tokio::process::Command::new(&self.binary)
            .arg("-c")
            .arg(self.dir.join("mosquitto.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .expect("spawn mosquitto");
        self.child = Some(child);
        let port = self.port;
        let up = poll_until(async || {
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
        })
        .await;
        assert!(up, "mosquitto did not listen on {port}: {}", self.log());
    }

    /// SIGTERM (Mosquitto saves its persistence file on the way out) and wait for the exit.
    async fn terminate(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if let Some(pid) = child.id() {
            let _ = std::process::Command::new("kill")
                .arg("-TERM")
                .arg(pid.to_string())
                .status();
        }
        within("mosquitto exits on SIGTERM", child.wait())
            .await
            .expect("wait for mosquitto");
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("mosquitto.log")).unwrap_or_default()
    }
}

impl Drop for PrivateBroker {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            if let Some(pid) = child.id() {
                let _ = std::process::Command::new("kill")
                    .arg("-TERM")
                    .arg(pid.to_string())
                    .status();
            }
        }
        remove_dir(&self.dir);
    }
}

fn remove_dir(dir: &Path) {
    let _ = std::fs::remove_dir_all(dir);
}

/// A Mosquitto of the test's own (the test stops and restarts it) and a world on it.
struct OwnMosquitto {
    env: Env<PrivateMosquitto>,
    broker: PrivateBroker,
}

impl Fixture for OwnMosquitto {
    async fn open(backend: Backend) -> Option<OwnMosquitto> {
        let Some(binary) = mosquitto_binary() else {
            domain::testing::skip_or_fail(
                "broker restart test",
                "install mosquitto (no `mosquitto` binary on PATH or in /usr/sbin)",
            );
            return None;
        };
        let db = TestDb::open(backend).await?;
        let broker = PrivateBroker::start(binary).await;
        // The broker is this test's alone: exact counts hold and no session needs cleaning up.
        let env = Env::with(db, broker.address());
        Some(OwnMosquitto { env, broker })
    }
}

/// Scenario 11, as a single gateway deploys it (a plain persistent subscription): 1000 readings
/// through a private Mosquitto that is stopped (SIGTERM) after ~300 and started again; the
/// persistent sessions of the publisher and the gateway resume and every reading is stored
/// exactly once.
async fn broker_restart_mid_stream_loses_and_duplicates_nothing(fx: OwnMosquitto) {
    broker_restart_mid_stream(fx, false).await;
}

/// Scenario 11 with a shared subscription; see `known_issues`.
async fn broker_restart_mid_stream_with_shared_subscription(fx: OwnMosquitto) {
    broker_restart_mid_stream(fx, true).await;
}

async fn broker_restart_mid_stream(fx: OwnMosquitto, shared: bool) {
    const TOTAL: usize = 1000;
    const BEFORE_KILL: usize = 300;
    let OwnMosquitto { env, mut broker } = fx;
    let trackers = env.trackers("r", 4).await;
    let mut options = env.options(&env.client_id());
    if !shared {
        options.share_group = None;
    }
    let gw = env.spawn_gateway(options, iot_gateway::IngestSettings::default());
    gw.wait_connected().await;
    let publisher = Publisher::connect(&env.address, &format!("pub-{}", env.prefix), false).await;
    let t = base_time();
    let messages: Vec<(String, Vec<u8>)> = (0..TOTAL)
        .map(|i| {
            let (_, device) = &trackers[i % trackers.len()];
            let k = (i / trackers.len()) as i64;
            let r = fix(at(t, k), 48.0 + k as f64 / 10_000.0, 11.5);
            (telemetry_topic(device), native(&[r]))
        })
        .collect();

    for (topic, payload) in &messages[..BEFORE_KILL] {
        publisher.send(topic, payload.clone()).await;
    }
    publisher.wait_acks(BEFORE_KILL as u64).await;
    // The rest goes out while the broker stops and starts again.
    let client = publisher.client();
    let rest: Vec<(String, Vec<u8>)> = messages[BEFORE_KILL..].to_vec();
    let sender = tokio::spawn(async move {
        for (topic, payload) in rest {
            client
                .publish(topic, rumqttc::QoS::AtLeastOnce, false, payload)
                .await
                .expect("queue publish");
        }
    });
    let stored_at_kill = env.telemetry_rows().await;
    broker.terminate().await;
    let acked_at_kill = publisher.acks();
    broker.spawn().await;
    within("publisher queued everything", sender).await.unwrap();

    let mut last = 0;
    let done = poll_until(async || {
        last = env.telemetry_rows().await;
        last == TOTAL as i64
    })
    .await;
    if !done {
        let mut missing = Vec::new();
        for (i, (topic, _)) in messages.iter().enumerate() {
            let device = topic.split('/').nth(2).unwrap();
            let k = (i / trackers.len()) as i64;
            let sql = format!(
                "SELECT COUNT(*) FROM telemetry t JOIN devices d ON d.id = t.device_id \
                 WHERE d.device_id = '{device}' AND t.lat = {}",
                48.0 + k as f64 / 10_000.0
            );
            if env.db.count(&sql).await == 0 {
                missing.push(i);
            }
        }
        panic!(
            "stored {last} of {TOTAL} readings; missing message indices {missing:?}; \
             {stored_at_kill} were stored and {acked_at_kill} acknowledged to the publisher when \
             the broker was stopped (publisher acks now {}, gateway applied {}, duplicates {})",
            publisher.acks(),
            gw.applied(),
            gw.readings("duplicate"),
        );
    }
    assert_eq!(
        env.db
            .count("SELECT COUNT(*) FROM (SELECT DISTINCT device_id, ts FROM telemetry) x")
            .await,
        TOTAL as i64
    );
    let counted = poll_until(async || gw.applied() == TOTAL as u64).await;
    assert!(counted, "applied exactly once: {} applied", gw.applied());
    eprintln!(
        "broker restart: {stored_at_kill} stored and {acked_at_kill} acknowledged when the broker \
         was stopped; {} redelivered duplicates ignored",
        gw.readings("duplicate")
    );
    assert_eq!(env.db.count(&env.own_rejects_sql()).await, 0);
    gw.stop().await;
    drop(publisher);
    broker.terminate().await;
}

/// Scenario 10b: readings published while the gateway is away (its persistent session and
/// subscription stay with the broker) are delivered when it comes back with the same client id.
/// On the embedded endpoint the gateway is what the tracker connects to, so there the readings
/// wait in the tracker, unacknowledged, and go out when it reconnects to the gateway.
async fn readings_published_while_the_gateway_is_away_wait_for_it(env: Env<impl BrokerKind>) {
    let (asset, device) = env.tracker("away").await;
    let client_id = env.client_id();
    let gw = env
        .gateway_with(&client_id, iot_gateway::IngestSettings::default())
        .await;
    gw.stop().await;
    let publisher = env.publisher().await;
    let t = base_time();
    for k in 0..5 {
        publisher
            .send(
                &telemetry_topic(&device),
                native(&[fix(at(t, k), 48.1, 11.5)]),
            )
            .await;
    }
    match env.broker() {
        // Through a broker they are acknowledged while the gateway is away: the broker queues
        // them for the gateway's session.
        Broker::Mosquitto | Broker::PrivateMosquitto => publisher.flush().await,
        // Nothing may be acknowledged before it is committed; nothing can be yet.
        Broker::Embedded => assert_eq!(publisher.acks(), 0, "acknowledged while away"),
    }
    let again = env
        .gateway_with(&client_id, iot_gateway::IngestSettings::default())
        .await;
    publisher.flush().await;
    env.wait_count("SELECT COUNT(*) FROM telemetry", 5).await;
    assert_eq!(env.get_asset(&asset).await.position.unwrap().at, at(t, 4));
    assert_eq!(again.applied(), 5);
    again.stop().await;
}

/// Known issues, reported; run with `--ignored`.
mod known_issues {
    use domain::testing::Fixture;

    /// Mosquitto 2.0 does not restore shared subscriptions from its persistence file: after a
    /// broker restart, readings published before the gateway has resubscribed match no
    /// subscription and are dropped (the publisher already has its PUBACK). Observed: ~60 of
    /// 1000 readings lost, exactly those resent by the publisher right after the restart.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "data loss: Mosquitto 2.0 drops shared-subscription messages published before the gateway resubscribes after a broker restart"]
    async fn broker_restart_mid_stream_with_shared_subscription() {
        if let Some(fx) = super::OwnMosquitto::open(domain::Backend::Sqlite).await {
            super::broker_restart_mid_stream_with_shared_subscription(fx).await;
        }
    }
}
