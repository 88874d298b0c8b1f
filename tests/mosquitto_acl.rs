//! The exported Mosquitto files against a real Mosquitto: `fieldops device add` twice,
//! `fieldops device export-mosquitto`, then a private `mosquitto` (own port, own config built
//! from `deploy/mosquitto/fieldops.conf`, own temp dir) started for the test, and a real
//! `fieldops gateway` logged in as the exported gateway user.
//!
//! Trackers publish with `mosquitto_pub` (the root package has no MQTT client library; the
//! gateway side is the real rumqttc-based gateway, subscribed through `$share/fieldops/…`).
//! What reached the gateway is read back from the database, and "not delivered" is proven by
//! order, never by waiting: the forged message is published before a marker from the same
//! tracker, so once the marker is stored the forged one would have been too.
//!
//! Runs on both databases. Without `mosquitto` or `mosquitto_pub` it prints `SKIPPED: …` and
//! passes, or fails under `CI` (`domain::testing::skip_or_fail`).
#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use domain::testing::{skip_or_fail, Fixture, TestDb};
use domain::Backend;

const BIN: &str = env!("CARGO_BIN_EXE_fieldops");
const DEADLINE: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(50);
const GATEWAY_USER: &str = "fieldops-gw";
const GATEWAY_PASSWORD: &str = "gateway-password-from-stdin";

fn installed(program: &str) -> bool {
    Command::new(program)
        .arg("--help")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

/// Runs the `fieldops` binary to completion against `db_url`.
fn fieldops(db_url: &str, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(BIN)
        .arg("--database-url")
        .arg(db_url)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run fieldops");
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

/// Registers a tracker and returns the MQTT password `device add` printed.
fn add_device(db_url: &str, id: &str) -> String {
    let out = fieldops(db_url, &["device", "add", "--device-id", id], None);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    text.lines()
        .find_map(|l| l.strip_prefix("mqtt password: "))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no password in {text}"))
        .to_owned()
}

/// A child process killed on drop (by its own handle).
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A port nobody listens on right now (bound to 0, then released for Mosquitto to take).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The shipped recommended config, with the deployment-specific lines (listener, file paths,
/// persistence location) replaced by this test's. Starting Mosquitto on it proves the shipped
/// file parses.
fn test_config(dir: &Path, port: u16, passwd: &Path, acl: &Path) -> PathBuf {
    let shipped = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/mosquitto/fieldops.conf"),
    )
    .unwrap();
    let replaced = [
        "listener",
        "password_file",
        "acl_file",
        "persistence_location",
        "certfile",
        "keyfile",
    ];
    let mut conf: String = shipped
        .lines()
        .filter(|l| !replaced.iter().any(|k| l.starts_with(&format!("{k} "))))
        .map(|l| format!("{l}\n"))
        .collect();
    conf.push_str(&format!(
        "listener {port} 127.0.0.1\npassword_file {}\nacl_file {}\npersistence_location {}/\n\
         log_dest file {}\nlog_type all\n",
        passwd.display(),
        acl.display(),
        dir.display(),
        dir.join("mosquitto.log").display(),
    ));
    // Started as root, Mosquitto drops to the `mosquitto` user before reading the 0600 files
    // (owned by whoever exported them); `user root` keeps it as the test's user.
    if std::os::unix::fs::MetadataExt::uid(&std::fs::metadata("/proc/self").unwrap()) == 0 {
        conf.push_str("user root\n");
    }
    let path = dir.join("mosquitto.conf");
    std::fs::write(&path, conf).unwrap();
    path
}

fn start_mosquitto(dir: &Path, conf: &Path, port: u16) -> Killed {
    let child = Command::new("mosquitto")
        .arg("-c")
        .arg(conf)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start mosquitto");
    let mut child = Killed(child);
    let deadline = Instant::now() + DEADLINE;
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Some(status) = child.0.try_wait().unwrap() {
            let mut err = String::new();
            let _ = std::io::Read::read_to_string(child.0.stderr.as_mut().unwrap(), &mut err);
            panic!("mosquitto exited ({status}): {err} {}", mosquitto_log(dir));
        }
        assert!(Instant::now() < deadline, "mosquitto never listened");
        std::thread::sleep(POLL);
    }
    child
}

fn mosquitto_log(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("mosquitto.log")).unwrap_or_default()
}

/// `fieldops gateway` against the private broker, as the exported gateway user.
fn start_gateway(dir: &Path, db_url: &str, port: u16) -> Killed {
    let mut child = Command::new(BIN)
        .args([
            "gateway",
            "--listen",
            "127.0.0.1:0",
            "--database-url",
            db_url,
        ])
        .arg("--data-dir")
        .arg(dir.join("data"))
        .arg("--mqtt-url")
        .arg(format!(
            "mqtt://{GATEWAY_USER}:{GATEWAY_PASSWORD}@127.0.0.1:{port}"
        ))
        .args(["--mqtt-client-id", "acl-test-gateway"])
        .env_remove("FIELDOPS_ADMIN_PASSWORD")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start fieldops gateway");
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let child = Killed(child);
    let deadline = Instant::now() + DEADLINE;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = rx.recv_timeout(left).expect("gateway did not start");
        if line.starts_with("fieldops: HTTP listening on ") {
            return child;
        }
    }
}

/// Publishes one QoS 1 message as `user`; the exit status says whether the broker let it in.
fn publish(port: u16, user: &str, password: &str, topic: &str, payload: &str) -> Output {
    Command::new("mosquitto_pub")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-q",
            "1",
            "-V",
            "mqttv311",
        ])
        .args(["-u", user, "-P", password, "-t", topic, "-m", payload])
        .output()
        .expect("run mosquitto_pub")
}

/// A reading tagged by `marker` (in `battery_v`, a field without ingest semantics), each with
/// its own timestamp so none is deduplicated.
fn reading(marker: u32) -> String {
    let now = chrono::Utc::now().timestamp();
    format!(
        r#"{{"ts":{},"lat":48.137,"lon":11.575,"battery_v":{marker}}}"#,
        now - 3600 + i64::from(marker)
    )
}

async fn stored(db: &TestDb, device: &str, marker: Option<u32>) -> i64 {
    let filter = marker
        .map(|m| format!(" AND t.battery_v = {m}"))
        .unwrap_or_default();
    db.count(&format!(
        "SELECT COUNT(*) FROM telemetry t JOIN devices d ON d.id = t.device_id \
         WHERE d.device_id = '{device}'{filter}"
    ))
    .await
}

/// A fresh database, once `mosquitto` and `mosquitto_pub` are known to be installed.
struct WithMosquitto(TestDb);

impl Fixture for WithMosquitto {
    async fn open(backend: Backend) -> Option<WithMosquitto> {
        if !installed("mosquitto") || !installed("mosquitto_pub") {
            skip_or_fail(
                "mosquitto_acl test",
                "install mosquitto and mosquitto-clients",
            );
            return None;
        }
        Some(WithMosquitto(TestDb::open(backend).await?))
    }
}

domain::backend_matrix!(
    WithMosquitto: exported_files_confine_trackers_to_their_own_topics
);

async fn exported_files_confine_trackers_to_their_own_topics(fx: WithMosquitto) {
    let WithMosquitto(db) = fx;
    let dir = tempfile::tempdir().unwrap();
    let pass_a = add_device(&db.url, "trk-a");
    let _pass_b = add_device(&db.url, "trk-b");

    let passwd = dir.path().join("fieldops.passwd");
    let acl = dir.path().join("fieldops.acl");
    let out = fieldops(
        &db.url,
        &[
            "device",
            "export-mosquitto",
            "--password-file",
            passwd.to_str().unwrap(),
            "--acl-file",
            acl.to_str().unwrap(),
            "--gateway-user",
            GATEWAY_USER,
            "--gateway-password-stdin",
        ],
        Some(&format!("{GATEWAY_PASSWORD}\n")),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for file in [&passwd, &acl] {
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(file).unwrap().permissions(),
        );
        assert_eq!(mode & 0o777, 0o600, "{}", file.display());
    }
    let lines = std::fs::read_to_string(&passwd).unwrap();
    assert_eq!(lines.lines().count(), 3, "{lines}");
    assert!(lines.lines().all(|l| l.contains(":$7$")), "{lines}");

    let port = free_port();
    let conf = test_config(dir.path(), port, &passwd, &acl);
    let _broker = start_mosquitto(dir.path(), &conf, port);
    let _gateway = start_gateway(dir.path(), &db.url, port);

    // A wrong password is refused by the broker itself.
    let refused = publish(
        port,
        "trk-a",
        "wrong",
        "fieldops/v1/trk-a/telemetry",
        &reading(1),
    );
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("not authori"), "{err}");

    // Tracker A publishes under its own id; repeated until the gateway has it, since its
    // subscription comes up asynchronously.
    let deadline = Instant::now() + DEADLINE;
    let mut marker = 100;
    while stored(&db, "trk-a", None).await == 0 {
        assert!(
            Instant::now() < deadline,
            "tracker A's reading never reached the gateway; broker log:\n{}",
            mosquitto_log(dir.path())
        );
        marker += 1;
        let out = publish(
            port,
            "trk-a",
            &pass_a,
            "fieldops/v1/trk-a/telemetry",
            &reading(marker),
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        tokio::time::sleep(POLL * 4).await;
    }

    // Tracker A forges B's topic (accepted on the wire, dropped by the ACL), then publishes a
    // marker on its own topic. When the marker is stored, the forged message, published first,
    // would have been stored already.
    let forged = publish(
        port,
        "trk-a",
        &pass_a,
        "fieldops/v1/trk-b/telemetry",
        &reading(7),
    );
    assert!(forged.status.success());
    let out = publish(
        port,
        "trk-a",
        &pass_a,
        "fieldops/v1/trk-a/telemetry",
        &reading(999),
    );
    assert!(out.status.success());
    let deadline = Instant::now() + DEADLINE;
    while stored(&db, "trk-a", Some(999)).await == 0 {
        assert!(Instant::now() < deadline, "marker never arrived");
        tokio::time::sleep(POLL).await;
    }
    assert_eq!(
        stored(&db, "trk-b", None).await,
        0,
        "a forged reading got through"
    );
    let log = mosquitto_log(dir.path());
    assert!(
        log.contains("Denied PUBLISH") && log.contains("fieldops/v1/trk-b/telemetry"),
        "{log}"
    );
}
