//! Fault tolerance of the telemetry path, end to end: the real binary, a QoS 1 publisher, and
//! faults injected mid-stream. Two setups:
//! - `fieldops gateway` behind a private Mosquitto per test: the gateway killed with SIGKILL or
//!   stopped with SIGTERM, the broker restarted, two gateways sharing one stream;
//! - `fieldops serve` with its embedded MQTT endpoint, trackers logged in as themselves: the
//!   server killed with SIGKILL, the database stalled (SQLite: another connection holds the
//!   write lock; PostgreSQL: the server's connections are terminated and `telemetry` is locked).
//!
//! The contract under test: a reading acknowledged to the tracker is stored exactly once, and
//! the asset's state reflects it exactly once (no loss, no duplicate, no rollback); the endpoint
//! acknowledges nothing before it committed, and its memory stays bounded while it cannot.
//!
//! Each scenario runs on SQLite and, when `FIELDOPS_TEST_POSTGRES_URL` is set, on PostgreSQL.
//! Without the `mosquitto` binary the broker scenarios print `SKIPPED: …` and pass, or fail under
//! `CI` (`domain::testing::skip_or_fail`).
//!
//! The publisher is a small MQTT 3.1.1 client written here (the root package does not depend on
//! rumqttc): persistent session, QoS 1, and on every reconnect it resends what the broker has not
//! acknowledged, with the DUP flag, under the original packet ids, as MQTT 3.1.1 §4.4 requires.
//! (The endpoint does not keep a 3.1.1 persistent session across a restart of the process; the
//! publisher resends its unacknowledged messages whatever the CONNACK's session-present flag says,
//! which is what a tracker does.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, Utc};
use domain::testing::{skip_or_fail, Fixture, TestDb};
use domain::{Actor, Backend};
use mobile_shared::wire::{NewAsset, NewDevice};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use uuid::Uuid;

const BIN: &str = env!("CARGO_BIN_EXE_fieldops");
const METRICS_TOKEN: &str = "gateway-faults-metrics-token";

// ---------------------------------------------------------------------------------------------
// Child processes
// ---------------------------------------------------------------------------------------------

/// Collects a child's output lines in a thread, so the pipe never fills up.
fn drain<R: Read + Send + 'static>(
    pipe: R,
    into: Arc<Mutex<Vec<String>>>,
    tx: Option<mpsc::Sender<String>>,
) {
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            if let Some(tx) = &tx {
                let _ = tx.send(line.clone());
            }
            into.lock().unwrap().push(line);
        }
    });
}

fn tail(lines: &Arc<Mutex<Vec<String>>>, n: usize) -> String {
    let lines = lines.lock().unwrap();
    let from = lines.len().saturating_sub(n);
    lines[from..].join("\n")
}

fn signal(child: &Child, sig: &str) {
    let pid = child.id().to_string();
    let ok = Command::new("kill")
        .args([sig, &pid])
        .status()
        .expect("run kill");
    assert!(ok.success(), "kill {sig} {pid} failed");
}

/// Polls `try_wait` until the child exits or `limit` passes.
async fn wait_exit(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// A private Mosquitto with persistence, so restarting it keeps sessions and queued messages.
struct Mosquitto {
    child: Option<Child>,
    conf: PathBuf,
    port: u16,
    log: Arc<Mutex<Vec<String>>>,
    _dir: tempfile::TempDir,
}

impl Mosquitto {
    /// Whether the `mosquitto` binary can be run (after [`skip_or_fail`] when not).
    fn installed() -> bool {
        let run = Command::new("mosquitto")
            .arg("-h")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if let Err(e) = run {
            skip_or_fail("gateway fault test", &format!("install mosquitto ({e})"));
            return false;
        }
        true
    }

    async fn start() -> Mosquitto {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let conf = dir.path().join("mosquitto.conf");
        // Mosquitto started as root drops to the `mosquitto` user, which could not write the
        // persistence file into our temp dir: stay the user we are.
        let user = Command::new("id")
            .arg("-un")
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .filter(|u| !u.is_empty());
        let mut text = format!(
            "listener {port} 127.0.0.1\n\
             allow_anonymous true\n\
             persistence true\n\
             persistence_location {}/\n\
             autosave_interval 1\n\
             max_queued_messages 1000000\n\
             max_inflight_messages 2000\n\
             log_dest stderr\n",
            dir.path().display()
        );
        if let Some(u) = user {
            text.push_str(&format!("user {u}\n"));
        }
        std::fs::write(&conf, text).unwrap();
        let mut m = Mosquitto {
            child: None,
            conf,
            port,
            log: Arc::default(),
            _dir: dir,
        };
        m.spawn().await;
        m
    }

    /// Starts the process and waits (bounded) until it accepts connections.
    async fn spawn(&mut self) {
        let mut child = Command::new("mosquitto")
            .arg("-c")
            .arg(&self.conf)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start mosquitto");
        drain(child.stdout.take().unwrap(), self.log.clone(), None);
        drain(child.stderr.take().unwrap(), self.log.clone(), None);
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                panic!("mosquitto exited with {status}:\n{}", tail(&self.log, 30));
            }
            if TcpStream::connect(self.addr()).await.is_ok() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "mosquitto never listened on {}:\n{}",
                self.port,
                tail(&self.log, 30)
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.child = Some(child);
    }

    /// SIGTERM (Mosquitto saves its persistence file on the way out) and wait for the exit.
    async fn terminate(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("mosquitto running");
        signal(&child, "-TERM");
        wait_exit(&mut child, Duration::from_secs(15))
            .await
            .unwrap_or_else(|| panic!("mosquitto ignored SIGTERM:\n{}", tail(&self.log, 30)))
    }

    fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A running `fieldops gateway` or `fieldops serve`, killed on drop.
struct Gateway {
    child: Child,
    base: String,
    stderr: Arc<Mutex<Vec<String>>>,
}

impl Gateway {
    /// `fieldops gateway` on a broker, in a share group (`none`: a plain subscription).
    async fn start(
        db_url: &str,
        mqtt_url: &str,
        client_id: &str,
        share_group: &str,
        data_dir: &Path,
    ) -> Gateway {
        let mut cmd = Command::new(BIN);
        cmd.arg("gateway")
            .arg("--mqtt-share-group")
            .arg(share_group)
            .arg("--mqtt-url")
            .arg(mqtt_url)
            .arg("--mqtt-client-id")
            .arg(client_id);
        Gateway::launch(cmd, db_url, data_dir).await
    }

    /// `fieldops serve` with its embedded MQTT endpoint on `mqtt` (a fixed address, so a
    /// restarted server is where its trackers reconnect).
    async fn serve(db_url: &str, mqtt: SocketAddr, data_dir: &Path) -> Gateway {
        let mut cmd = Command::new(BIN);
        cmd.arg("serve").arg("--mqtt-listen").arg(mqtt.to_string());
        Gateway::launch(cmd, db_url, data_dir).await
    }

    /// Starts the binary and waits (bounded) for its HTTP address, then for `/readyz` to report
    /// the broker connected (which the gateway sets once its subscriptions are acknowledged, and
    /// `serve` once its endpoint listens).
    async fn launch(mut cmd: Command, db_url: &str, data_dir: &Path) -> Gateway {
        let mut child = cmd
            .arg("--database-url")
            .arg(db_url)
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--data-dir")
            .arg(data_dir)
            .arg("--metrics-token")
            .arg(METRICS_TOKEN)
            .env_remove("FIELDOPS_ADMIN_PASSWORD")
            .env_remove("FIELDOPS_CONFIG")
            .env("RUST_LOG", "info,sqlx=warn,rumqttc=warn")
            .env("NO_COLOR", "1")
            .env("RUST_BACKTRACE", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start fieldops");
        let stdout_lines = Arc::default();
        let stderr = Arc::default();
        let (tx, rx) = mpsc::channel();
        drain(child.stdout.take().unwrap(), stdout_lines, Some(tx));
        drain(child.stderr.take().unwrap(), Arc::clone(&stderr), None);
        let deadline = Instant::now() + Duration::from_secs(60);
        let base = loop {
            match rx.try_recv() {
                Ok(line) => {
                    if let Some(url) = line.strip_prefix("fieldops: HTTP listening on ") {
                        break url.trim().to_owned();
                    }
                    continue;
                }
                Err(mpsc::TryRecvError::Disconnected) => {
                    let status = wait_exit(&mut child, Duration::from_secs(5)).await;
                    panic!(
                        "gateway exited before listening ({status:?}):\n{}",
                        tail(&stderr, 40)
                    );
                }
                Err(mpsc::TryRecvError::Empty) => {}
            }
            assert!(
                Instant::now() < deadline,
                "gateway did not print its HTTP address:\n{}",
                tail(&stderr, 40)
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        let gw = Gateway {
            child,
            base,
            stderr,
        };
        gw.wait_ready().await;
        gw
    }

    async fn wait_ready(&self) {
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut last = String::new();
        loop {
            if let Ok(resp) = http.get(format!("{}/readyz", self.base)).send().await {
                if let Ok(body) = resp.json::<serde_json::Value>().await {
                    if body["broker"] == "connected" {
                        return;
                    }
                    last = body.to_string();
                }
            }
            assert!(
                Instant::now() < deadline,
                "gateway never reported the broker connected (last /readyz: {last}):\n{}",
                tail(&self.stderr, 40)
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// `fieldops_ingest_readings_total{result="applied"}` from `/metrics`.
    async fn applied(&self) -> u64 {
        let body = reqwest::Client::new()
            .get(format!("{}/metrics", self.base))
            .bearer_auth(METRICS_TOKEN)
            .send()
            .await
            .unwrap()
            .error_for_status()
            .unwrap()
            .text()
            .await
            .unwrap();
        body.lines()
            .find_map(|l| l.strip_prefix("fieldops_ingest_readings_total{result=\"applied\"} "))
            .map(|v| v.trim().parse::<f64>().unwrap() as u64)
            .unwrap_or(0)
    }

    /// The process's resident memory (`VmRSS`), in KiB.
    fn rss_kb(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("read /proc/<pid>/status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS in /proc/<pid>/status")
    }

    /// SIGKILL, and wait for the exit.
    async fn kill(&mut self, name: &str) -> ExitStatus {
        signal(&self.child, "-KILL");
        wait_exit(&mut self.child, Duration::from_secs(10))
            .await
            .unwrap_or_else(|| panic!("{name}: survived SIGKILL"))
    }

    /// The last log lines, with panic backtraces cut down to the frames worth reading.
    fn logs(&self) -> String {
        let lines = self.stderr.lock().unwrap();
        let noise = [
            "std::",
            "core::",
            "tokio::runtime",
            "tokio::loom",
            "tokio::task",
            "__rust",
            "<core::",
            "<std::",
            "<alloc::",
        ];
        let kept: Vec<&str> = lines
            .iter()
            .map(String::as_str)
            .filter(|l| {
                let t = l.trim_start();
                if t.starts_with("at ") {
                    // Source locations: only this project's.
                    return t.contains("/work/") || t.starts_with("at ./");
                }
                match t.split_once(": ") {
                    // Backtrace frames `N: function`.
                    Some((n, f)) if n.chars().all(|c| c.is_ascii_digit()) => {
                        !noise.iter().any(|x| f.starts_with(x))
                    }
                    _ => true,
                }
            })
            .collect();
        let from = kept.len().saturating_sub(60);
        kept[from..].join("\n")
    }

    /// Polls (bounded) until `needle` has appeared on `times` lines of the log.
    async fn wait_log(&self, needle: &str, times: usize, limit: Duration) {
        let deadline = Instant::now() + limit;
        loop {
            let seen = self
                .stderr
                .lock()
                .unwrap()
                .iter()
                .filter(|l| l.contains(needle))
                .count();
            if seen >= times {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "`{needle}` logged {seen} times, expected {times}:\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------------------
// A minimal MQTT 3.1.1 QoS 1 publisher
// ---------------------------------------------------------------------------------------------

fn put_remaining_length(mut n: usize, out: &mut Vec<u8>) {
    loop {
        let mut b = (n % 128) as u8;
        n /= 128;
        if n > 0 {
            b |= 0x80;
        }
        out.push(b);
        if n == 0 {
            break;
        }
    }
}

fn put_str(s: &str, out: &mut Vec<u8>) {
    out.extend_from_slice(&(s.len() as u16).to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn packet(header: u8, body: &[u8], out: &mut Vec<u8>) {
    out.push(header);
    put_remaining_length(body.len(), out);
    out.extend_from_slice(body);
}

fn connect_packet(client_id: &str, keep_alive_secs: u16, login: Option<&Login>) -> Vec<u8> {
    let mut body = Vec::new();
    put_str("MQTT", &mut body);
    body.push(4); // protocol level 3.1.1
                  // No will, clean session = 0; username and password when logging in.
    body.push(if login.is_some() { 0xC0 } else { 0x00 });
    body.extend_from_slice(&keep_alive_secs.to_be_bytes());
    put_str(client_id, &mut body);
    if let Some(login) = login {
        put_str(&login.username, &mut body);
        put_str(&login.password, &mut body);
    }
    let mut out = Vec::new();
    packet(0x10, &body, &mut out);
    out
}

fn put_publish(topic: &str, pid: u16, payload: &[u8], dup: bool, out: &mut Vec<u8>) {
    let mut body = Vec::with_capacity(topic.len() + payload.len() + 4);
    put_str(topic, &mut body);
    body.extend_from_slice(&pid.to_be_bytes());
    body.extend_from_slice(payload);
    packet(if dup { 0x3A } else { 0x32 }, &body, out);
}

/// One complete packet at the start of `buf`: (first header byte, body range).
fn parse_packet(buf: &[u8]) -> Result<Option<(u8, std::ops::Range<usize>)>, String> {
    if buf.is_empty() {
        return Ok(None);
    }
    let mut len = 0usize;
    let mut mult = 1usize;
    let mut i = 1;
    loop {
        let Some(&b) = buf.get(i) else {
            return Ok(None);
        };
        len += usize::from(b & 0x7F) * mult;
        mult *= 128;
        i += 1;
        if b & 0x80 == 0 {
            break;
        }
        if i > 4 {
            return Err("malformed remaining length".into());
        }
    }
    if buf.len() < i + len {
        return Ok(None);
    }
    Ok(Some((buf[0], i..i + len)))
}

/// A tracker's MQTT credentials.
#[derive(Clone)]
struct Login {
    username: String,
    password: String,
}

/// Publisher progress, readable while it runs.
#[derive(Default)]
struct Progress {
    /// Messages handed to the socket at least once (the publish order index of the next one).
    sent: AtomicUsize,
    /// Messages whose PUBACK arrived (each counted once).
    acked: AtomicUsize,
    /// Their indices, in the order the PUBACKs arrived.
    acked_indices: Mutex<Vec<usize>>,
    /// Successful CONNACKs.
    connects: AtomicUsize,
    /// Publishes resent with DUP after a reconnect.
    resent: AtomicUsize,
}

struct Publisher {
    addr: SocketAddr,
    client_id: String,
    login: Option<Login>,
    messages: Vec<(String, Vec<u8>)>,
    /// New messages per 10 ms tick: paces the stream so faults land in the middle of it.
    per_tick: usize,
    /// Most unacknowledged publishes at once.
    window: usize,
    progress: Arc<Progress>,
    next: usize,
    inflight: BTreeMap<u16, usize>,
    acked: Vec<bool>,
    acked_count: usize,
    last_pid: u16,
}

/// How long a publisher may take to have everything acknowledged.
const PUBLISH_DEADLINE: Duration = Duration::from_secs(60);

/// What a broker scenario's publisher keeps unacknowledged at most.
const BROKER_WINDOW: usize = 1000;

impl Publisher {
    /// Publishes `messages` (logged in with `login`, if any), `per_tick` new ones per 10 ms and
    /// at most `window` unacknowledged.
    fn spawn(
        addr: SocketAddr,
        client_id: String,
        login: Option<Login>,
        messages: Vec<(String, Vec<u8>)>,
        per_tick: usize,
        window: usize,
    ) -> (Arc<Progress>, tokio::task::JoinHandle<Result<(), String>>) {
        let progress = Arc::new(Progress::default());
        let n = messages.len();
        let p = Publisher {
            addr,
            client_id,
            login,
            messages,
            per_tick,
            window,
            progress: progress.clone(),
            next: 0,
            inflight: BTreeMap::new(),
            acked: vec![false; n],
            acked_count: 0,
            last_pid: 0,
        };
        (
            progress,
            tokio::spawn(p.run(Instant::now() + PUBLISH_DEADLINE)),
        )
    }

    /// Publishes every message and returns once each has a PUBACK, reconnecting as needed.
    async fn run(mut self, deadline: Instant) -> Result<(), String> {
        let mut backoff = Duration::from_millis(20);
        let mut last_error = String::new();
        while self.acked_count < self.messages.len() {
            if Instant::now() > deadline {
                return Err(format!(
                    "publisher gave up: {}/{} acknowledged, {} in flight, last error: {last_error}",
                    self.acked_count,
                    self.messages.len(),
                    self.inflight.len()
                ));
            }
            match TcpStream::connect(self.addr).await {
                Ok(stream) => match self.session(stream, deadline).await {
                    Ok(()) => return Ok(()),
                    Err(e) => last_error = e,
                },
                Err(e) => last_error = e.to_string(),
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_millis(500));
        }
        Ok(())
    }

    fn next_pid(&mut self) -> u16 {
        loop {
            self.last_pid = self.last_pid.wrapping_add(1);
            if self.last_pid != 0 && !self.inflight.contains_key(&self.last_pid) {
                return self.last_pid;
            }
        }
    }

    async fn session(&mut self, mut stream: TcpStream, deadline: Instant) -> Result<(), String> {
        let _ = stream.set_nodelay(true);
        let err = |e: std::io::Error| e.to_string();
        stream
            .write_all(&connect_packet(&self.client_id, 60, self.login.as_ref()))
            .await
            .map_err(err)?;
        let mut buf = Vec::new();
        let mut chunk = vec![0u8; 64 * 1024];
        // CONNACK
        let connack = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                if let Some((h, body)) = parse_packet(&buf)? {
                    let rc = buf.get(body.start + 1).copied();
                    buf.drain(..body.end);
                    return Ok::<_, String>((h, rc));
                }
                let n = stream.read(&mut chunk).await.map_err(err)?;
                if n == 0 {
                    return Err("closed before CONNACK".into());
                }
                buf.extend_from_slice(&chunk[..n]);
            }
        })
        .await
        .map_err(|_| "no CONNACK within 5 s".to_owned())??;
        if connack != (0x20, Some(0)) {
            return Err(format!("connection refused: {connack:?}"));
        }
        self.progress.connects.fetch_add(1, Ordering::Relaxed);

        // Resend what the broker never acknowledged, under the same packet ids.
        let mut out = Vec::new();
        for (&pid, &i) in &self.inflight {
            let (topic, payload) = &self.messages[i];
            put_publish(topic, pid, payload, true, &mut out);
        }
        if !out.is_empty() {
            self.progress
                .resent
                .fetch_add(self.inflight.len(), Ordering::Relaxed);
            stream.write_all(&out).await.map_err(err)?;
        }

        let mut tick = tokio::time::interval(Duration::from_millis(10));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_write = Instant::now();
        loop {
            tokio::select! {
                n = stream.read(&mut chunk) => {
                    let n = n.map_err(err)?;
                    if n == 0 {
                        return Err("connection closed by the broker".into());
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    while let Some((h, body)) = parse_packet(&buf)? {
                        if h >> 4 == 4 && body.len() >= 2 {
                            let pid = u16::from_be_bytes([buf[body.start], buf[body.start + 1]]);
                            if let Some(i) = self.inflight.remove(&pid) {
                                if !self.acked[i] {
                                    self.acked[i] = true;
                                    self.acked_count += 1;
                                    self.progress.acked_indices.lock().unwrap().push(i);
                                    self.progress.acked.store(self.acked_count, Ordering::Relaxed);
                                }
                            }
                        }
                        buf.drain(..body.end);
                    }
                    if self.acked_count == self.messages.len() {
                        let _ = stream.write_all(&[0xE0, 0x00]).await;
                        return Ok(());
                    }
                }
                _ = tick.tick() => {
                    if Instant::now() > deadline {
                        return Err("deadline passed".into());
                    }
                    let mut out = Vec::new();
                    let mut sent = 0;
                    while sent < self.per_tick
                        && self.next < self.messages.len()
                        && self.inflight.len() < self.window
                    {
                        let pid = self.next_pid();
                        let i = self.next;
                        self.inflight.insert(pid, i);
                        self.next += 1;
                        sent += 1;
                        let (topic, payload) = &self.messages[i];
                        put_publish(topic, pid, payload, false, &mut out);
                    }
                    if out.is_empty() && last_write.elapsed() > Duration::from_secs(20) {
                        out.extend_from_slice(&[0xC0, 0x00]); // PINGREQ
                    }
                    self.progress.sent.store(self.next, Ordering::Relaxed);
                    if !out.is_empty() {
                        stream.write_all(&out).await.map_err(err)?;
                        last_write = Instant::now();
                    }
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Fixture
// ---------------------------------------------------------------------------------------------

/// A fresh database and a private broker: what every scenario starts from.
struct Faults {
    db: TestDb,
    broker: Mosquitto,
}

impl Fixture for Faults {
    async fn open(backend: Backend) -> Option<Faults> {
        if !Mosquitto::installed() {
            return None;
        }
        let db = TestDb::open(backend).await?;
        let broker = Mosquitto::start().await;
        Some(Faults { db, broker })
    }
}

struct Rig {
    db: TestDb,
    /// `None` for `fieldops serve`, whose trackers connect to its embedded endpoint.
    broker: Option<Mosquitto>,
    /// (device id, asset id)
    devices: Vec<(String, Uuid)>,
    /// Each device's login, in the order of `devices`.
    logins: Vec<Login>,
    dir: tempfile::TempDir,
    name: String,
}

impl Rig {
    /// The database with `n` devices each bound to its own asset, and the private broker.
    async fn new(base: Faults, name: &str, n: usize) -> Rig {
        let Faults { db, broker } = base;
        Rig::on(db, Some(broker), name, n).await
    }

    /// The database with `n` devices each bound to its own asset, for `fieldops serve`.
    async fn endpoint(db: TestDb, name: &str, n: usize) -> Rig {
        Rig::on(db, None, name, n).await
    }

    async fn on(db: TestDb, broker: Option<Mosquitto>, name: &str, n: usize) -> Rig {
        let mut devices = Vec::new();
        let mut logins = Vec::new();
        for i in 0..n {
            let asset = domain::assets::create(
                &db.store,
                &Actor::system(),
                NewAsset {
                    code: format!("GF-{i:04}"),
                    name: format!("Machine {i}"),
                    ..NewAsset::default()
                },
            )
            .await
            .expect("create asset");
            let device_id = format!("trk-{i:03}");
            let created = domain::devices::create(
                &db.store,
                &Actor::system(),
                NewDevice {
                    device_id: device_id.clone(),
                    asset_id: Some(asset.id),
                },
            )
            .await
            .expect("create device");
            logins.push(Login {
                username: device_id.clone(),
                password: created.mqtt_password,
            });
            devices.push((device_id, asset.id));
        }
        let backend = if db.url.starts_with("sqlite") {
            "sqlite"
        } else {
            "postgres"
        };
        Rig {
            db,
            broker,
            devices,
            logins,
            dir: tempfile::tempdir().unwrap(),
            name: format!("{name}/{backend}"),
        }
    }

    fn broker(&self) -> &Mosquitto {
        self.broker.as_ref().expect("a rig with a broker")
    }

    fn broker_mut(&mut self) -> &mut Mosquitto {
        self.broker.as_mut().expect("a rig with a broker")
    }

    /// An anonymous publisher on the broker, 1,000 new publishes a second.
    fn publish_through_broker(
        &self,
        messages: Vec<(String, Vec<u8>)>,
    ) -> (Arc<Progress>, tokio::task::JoinHandle<Result<(), String>>) {
        Publisher::spawn(
            self.broker().addr(),
            self.client_id("pub"),
            None,
            messages,
            10,
            BROKER_WINDOW,
        )
    }

    /// `fieldops serve` on this rig's database, its endpoint on `mqtt`.
    async fn serve(&self, mqtt: SocketAddr) -> Gateway {
        Gateway::serve(&self.db.url, mqtt, &self.dir.path().join("data")).await
    }

    fn client_id(&self, role: &str) -> String {
        format!("gf-{role}-{}", &Uuid::new_v4().simple().to_string()[..12])
    }

    /// A gateway in the default shared-subscription group (scale-out setup).
    async fn gateway(&self, client_id: &str) -> Gateway {
        self.gateway_in(client_id, "fieldops").await
    }

    /// `share_group` "none" subscribes plainly, the setup for a single gateway.
    async fn gateway_in(&self, client_id: &str, share_group: &str) -> Gateway {
        Gateway::start(
            &self.db.url,
            &self.broker().url(),
            client_id,
            share_group,
            &self.dir.path().join("data"),
        )
        .await
    }

    /// `per_device` native JSON readings per device, interleaved across devices, each device's
    /// timestamps unique and increasing (one second apart, the newest an hour ago), its hour
    /// meter increasing with them.
    fn readings(&self, per_device: usize) -> (Vec<(String, Vec<u8>)>, Plan) {
        let base_ms = Utc::now().timestamp_millis() - 3_600_000 - per_device as i64 * 1000;
        let mut out = Vec::with_capacity(per_device * self.devices.len());
        let mut max_hours = HashMap::new();
        for k in 0..per_device {
            for (d, (device_id, _)) in self.devices.iter().enumerate() {
                let ts = DateTime::<Utc>::from_timestamp_millis(Plan::ts_ms(base_ms, k, d))
                    .unwrap()
                    .to_rfc3339_opts(SecondsFormat::Millis, true);
                // Multiples of 0.25 are exact in binary: equality below is exact.
                let hours = 100.0 + k as f64 * 0.25;
                let payload = serde_json::json!({
                    "ts": ts,
                    "lat": 48.0 + d as f64 * 0.01 + k as f64 * 1e-5,
                    "lon": 11.5 + k as f64 * 1e-5,
                    "engine_hours": hours,
                });
                out.push((
                    format!("fieldops/v1/{device_id}/telemetry"),
                    serde_json::to_vec(&payload).unwrap(),
                ));
                max_hours.insert(device_id.clone(), hours);
            }
        }
        let plan = Plan {
            total: out.len(),
            per_device,
            base_ms,
            max_hours,
        };
        (out, plan)
    }

    async fn count(&self) -> i64 {
        self.db.count("SELECT COUNT(*) FROM telemetry").await
    }

    /// Polls (bounded) until the telemetry table holds `expected` rows; returns the last count.
    async fn wait_for_count(&self, expected: i64, limit: Duration) -> i64 {
        let deadline = Instant::now() + limit;
        loop {
            let n = self.count().await;
            if n >= expected || Instant::now() >= deadline {
                return n;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Publish-order indices of the readings that are not in `telemetry`.
    async fn missing(&self, plan: &Plan) -> Vec<usize> {
        let from = DateTime::<Utc>::from_timestamp_millis(plan.base_ms).unwrap();
        let to = from + chrono::Duration::seconds(plan.per_device as i64 + 1);
        let n = self.devices.len();
        let mut missing = Vec::new();
        for (d, (_, asset)) in self.devices.iter().enumerate() {
            let stored: HashSet<i64> =
                domain::telemetry::positions(&self.db.store, *asset, from, to, 1_000_000)
                    .await
                    .unwrap()
                    .iter()
                    .map(|p| p.ts.timestamp_millis())
                    .collect();
            for k in 0..plan.per_device {
                if !stored.contains(&Plan::ts_ms(plan.base_ms, k, d)) {
                    missing.push(k * n + d);
                }
            }
        }
        missing.sort_unstable();
        missing
    }

    /// The no-loss, no-duplicate, no-rollback checks.
    async fn verify(&self, plan: &Plan, logs: &str) {
        let expected = plan.total;
        let count = self
            .wait_for_count(expected as i64, Duration::from_secs(30))
            .await;
        let rejects = self
            .db
            .count("SELECT COUNT(*) FROM telemetry_rejects")
            .await;
        let anomalies = self.db.count("SELECT COUNT(*) FROM meter_anomalies").await;
        eprintln!(
            "{}: telemetry rows {count} (expected {expected}), rejects {rejects}, meter anomalies {anomalies}",
            self.name
        );
        if count != expected as i64 {
            let missing = self.missing(plan).await;
            eprintln!(
                "{}: {} readings missing, publish-order indices {}",
                self.name,
                missing.len(),
                ranges(&missing)
            );
        }
        assert_eq!(
            count,
            expected as i64,
            "{}: {} readings lost (stored {count} of {expected})\ngateway log tail:\n{logs}",
            self.name,
            expected as i64 - count
        );
        assert_eq!(
            rejects, 0,
            "{}: telemetry_rejects is not empty\n{logs}",
            self.name
        );
        assert_eq!(
            anomalies, 0,
            "{}: meter anomalies on monotonic meters",
            self.name
        );
        for (device_id, asset_id) in &self.devices {
            let asset = domain::assets::get(&self.db.store, *asset_id)
                .await
                .unwrap();
            assert_eq!(
                asset.engine_hours,
                Some(plan.max_hours[device_id]),
                "{}: asset of {device_id} has the wrong engine hours",
                self.name
            );
        }
    }
}

/// What was published, to check what was stored against.
struct Plan {
    total: usize,
    per_device: usize,
    base_ms: i64,
    /// Each device's highest (and last) hour-meter value.
    max_hours: HashMap<String, f64>,
}

impl Plan {
    /// Reading `k` of device number `d`: one second apart per device, plus `d` ms so devices differ.
    fn ts_ms(base_ms: i64, k: usize, d: usize) -> i64 {
        base_ms + k as i64 * 1000 + d as i64
    }
}

/// `[3, 4, 5, 9]` → `3..=5, 9`.
fn ranges(v: &[usize]) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < v.len() {
        let mut j = i;
        while j + 1 < v.len() && v[j + 1] == v[j] + 1 {
            j += 1;
        }
        out.push(if i == j {
            v[i].to_string()
        } else {
            format!("{}..={}", v[i], v[j])
        });
        i = j + 1;
    }
    out.join(", ")
}

async fn wait_acked(progress: &Progress, at_least: usize, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while progress.acked.load(Ordering::Relaxed) < at_least {
        assert!(
            Instant::now() < deadline,
            "{what}: only {} publishes acknowledged",
            progress.acked.load(Ordering::Relaxed)
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn finish_publishing(
    publisher: tokio::task::JoinHandle<Result<(), String>>,
    progress: &Progress,
    name: &str,
) {
    match tokio::time::timeout(PUBLISH_DEADLINE + Duration::from_secs(5), publisher).await {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(e))) => panic!("{name}: {e}"),
        Ok(Err(e)) => panic!("{name}: publisher panicked: {e}"),
        Err(_) => panic!(
            "{name}: publisher not done, {} acknowledged",
            progress.acked.load(Ordering::Relaxed)
        ),
    }
    eprintln!(
        "{name}: publisher done: {} acknowledged, {} connections, {} resent",
        progress.acked.load(Ordering::Relaxed),
        progress.connects.load(Ordering::Relaxed),
        progress.resent.load(Ordering::Relaxed)
    );
}

// ---------------------------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------------------------

/// SIGKILL the gateway mid-stream (mid-batch); a new process with the same client id picks up
/// the persistent session: nothing acknowledged to the tracker is lost, nothing applied twice.
async fn gateway_killed_mid_stream_loses_nothing(base: Faults) {
    let started = Instant::now();
    let fx = Rig::new(base, "gateway_killed_mid_stream_loses_nothing", 10).await;
    let client_id = fx.client_id("gw");
    let mut gw = fx.gateway(&client_id).await;
    let (messages, plan) = fx.readings(300);
    let (progress, publisher) = fx.publish_through_broker(messages);
    wait_acked(&progress, 1000, &fx.name).await;

    signal(&gw.child, "-KILL");
    let status = wait_exit(&mut gw.child, Duration::from_secs(10))
        .await
        .expect("gateway survived SIGKILL");
    let at_kill = fx.count().await;
    eprintln!(
        "{}: gateway killed ({status}) with {} acknowledged by the broker, {at_kill} stored",
        fx.name,
        progress.acked.load(Ordering::Relaxed)
    );
    drop(gw);

    let gw = fx.gateway(&client_id).await;
    finish_publishing(publisher, &progress, &fx.name).await;
    fx.verify(&plan, &gw.logs()).await;
    eprintln!("{}: passed in {:?}", fx.name, started.elapsed());
}

/// Restart the broker mid-stream (SIGTERM, persistence on): the gateway and the publisher
/// reconnect by themselves, and every acknowledged reading is stored exactly once.
///
/// Reading a failure: when the missing publish indices are exactly those published between the
/// broker's restart and the gateway's re-subscription (both printed), the broker accepted them
/// and then dropped them for want of a subscriber. Mosquitto (2.0.11 here) restores persistent
/// sessions and their queued messages from its persistence file, but not `$share/…`
/// subscriptions, so nothing matches until the gateway subscribes again.
async fn broker_restart_mid_stream_loses_nothing(base: Faults) {
    let started = Instant::now();
    let mut fx = Rig::new(base, "broker_restart_mid_stream_loses_nothing", 10).await;
    // A single gateway subscribes plainly: Mosquitto restores plain persistent subscriptions
    // after a restart but not shared ones (see deploy/mosquitto/README.md).
    let gw = fx.gateway_in(&fx.client_id("gw"), "none").await;
    let (messages, plan) = fx.readings(300);
    let (progress, publisher) = fx.publish_through_broker(messages);
    wait_acked(&progress, 1000, &fx.name).await;

    let status = fx.broker_mut().terminate().await;
    let at_stop = fx.count().await;
    eprintln!(
        "{}: broker stopped ({status}) with {} acknowledged, {} sent, {at_stop} stored",
        fx.name,
        progress.acked.load(Ordering::Relaxed),
        progress.sent.load(Ordering::Relaxed)
    );
    let down = Instant::now();
    fx.broker_mut().spawn().await;
    let back_after = down.elapsed();
    let sent_at_restart = progress.sent.load(Ordering::Relaxed);
    // Diagnostics only: how far the publisher got before the gateway was subscribed again.
    gw.wait_log("subscribed", 2, Duration::from_secs(30)).await;
    eprintln!(
        "{}: broker back after {:?} (publisher at index {sent_at_restart}); gateway \
         resubscribed after {:?} (publisher at index {})",
        fx.name,
        back_after,
        down.elapsed(),
        progress.sent.load(Ordering::Relaxed)
    );

    finish_publishing(publisher, &progress, &fx.name).await;
    fx.verify(&plan, &gw.logs()).await;
    // The gateway did come back on its own (the count above needs it, this says so plainly).
    gw.wait_ready().await;
    eprintln!("{}: passed in {:?}", fx.name, started.elapsed());
}

/// SIGTERM while ingesting: the gateway commits and acknowledges the batch in hand and exits 0
/// promptly; a restart with the same client id receives the rest.
async fn gateway_sigterm_finishes_batch_in_hand(base: Faults) {
    let started = Instant::now();
    let fx = Rig::new(base, "gateway_sigterm_finishes_batch_in_hand", 10).await;
    let client_id = fx.client_id("gw");
    let mut gw = fx.gateway(&client_id).await;
    let (messages, plan) = fx.readings(200);
    let (progress, publisher) = fx.publish_through_broker(messages);
    wait_acked(&progress, 1000, &fx.name).await;

    let term = Instant::now();
    signal(&gw.child, "-TERM");
    let status = wait_exit(&mut gw.child, Duration::from_secs(30)).await;
    let took = term.elapsed();
    let at_stop = fx.count().await;
    eprintln!(
        "{}: SIGTERM -> {status:?} after {took:?}; {} acknowledged by the broker, {at_stop} stored",
        fx.name,
        progress.acked.load(Ordering::Relaxed)
    );
    let status = status.unwrap_or_else(|| {
        panic!(
            "{}: gateway still running 30 s after SIGTERM\n{}",
            fx.name,
            gw.logs()
        )
    });
    assert!(
        status.success(),
        "{}: gateway exited with {status} on SIGTERM\n{}",
        fx.name,
        gw.logs()
    );
    drop(gw);

    let gw = fx.gateway(&client_id).await;
    finish_publishing(publisher, &progress, &fx.name).await;
    fx.verify(&plan, &gw.logs()).await;
    eprintln!("{}: passed in {:?}", fx.name, started.elapsed());
}

/// Two gateway processes in the default share group split one stream: every reading stored
/// once, both did part of the work, and their `applied` counters add up to the total.
async fn two_gateway_processes_split_one_stream(base: Faults) {
    let started = Instant::now();
    let fx = Rig::new(base, "two_gateway_processes_split_one_stream", 10).await;
    let a = fx.gateway(&fx.client_id("gw-a")).await;
    let b = fx.gateway(&fx.client_id("gw-b")).await;
    let (messages, plan) = fx.readings(200);
    let (progress, publisher) = fx.publish_through_broker(messages);
    finish_publishing(publisher, &progress, &fx.name).await;
    let logs = format!("gateway A:\n{}\ngateway B:\n{}", a.logs(), b.logs());
    fx.verify(&plan, &logs).await;

    // The counters follow the commit; poll briefly until they account for every reading.
    let deadline = Instant::now() + Duration::from_secs(10);
    let (applied_a, applied_b) = loop {
        let (x, y) = (a.applied().await, b.applied().await);
        if x + y >= plan.total as u64 || Instant::now() >= deadline {
            break (x, y);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    eprintln!(
        "{}: applied A {applied_a} + B {applied_b} = {} (expected {})",
        fx.name,
        applied_a + applied_b,
        plan.total
    );
    assert!(applied_a > 0, "{}: gateway A applied nothing", fx.name);
    assert!(applied_b > 0, "{}: gateway B applied nothing", fx.name);
    assert_eq!(
        applied_a + applied_b,
        plan.total as u64,
        "{}: applied counters do not add up\n{logs}",
        fx.name
    );
    eprintln!("{}: passed in {:?}", fx.name, started.elapsed());
}

// ---------------------------------------------------------------------------------------------
// `fieldops serve` with its embedded MQTT endpoint
// ---------------------------------------------------------------------------------------------

/// A free address for an endpoint, kept across restarts of the server.
fn endpoint_addr() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], free_port()))
}

/// Publish-order indices the publisher has PUBACKs for and that are not stored. Read the
/// acknowledgements before the table: rows only ever grow, so a reading acknowledged before
/// the table was read must be in it.
async fn acknowledged_but_missing(fx: &Rig, plan: &Plan, acked: &[usize]) -> Vec<usize> {
    let missing: HashSet<usize> = fx.missing(plan).await.into_iter().collect();
    let mut lost: Vec<usize> = acked
        .iter()
        .copied()
        .filter(|i| missing.contains(i))
        .collect();
    lost.sort_unstable();
    lost
}

/// Telemetry rows, and rows with distinct (device, time): equal when nothing is stored twice.
async fn rows_and_distinct(fx: &Rig) -> (i64, i64) {
    let rows = fx.count().await;
    let distinct = fx
        .db
        .count("SELECT COUNT(*) FROM (SELECT DISTINCT device_id, ts FROM telemetry) x")
        .await;
    (rows, distinct)
}

/// SIGKILL `fieldops serve` after the tracker got M PUBACKs for N readings: every acknowledged
/// reading is stored, once; after a restart on the same database the tracker reconnects,
/// re-sends what was not acknowledged, and all N are stored once.
async fn serve_killed_mid_stream_keeps_every_acknowledged_reading(db: TestDb) {
    const N: usize = 5_000;
    const M: usize = 2_000;
    let started = Instant::now();
    let fx = Rig::endpoint(
        db,
        "serve_killed_mid_stream_keeps_every_acknowledged_reading",
        1,
    )
    .await;
    let mqtt = endpoint_addr();
    let mut server = fx.serve(mqtt).await;
    let (messages, plan) = fx.readings(N);
    let (progress, publisher) = Publisher::spawn(
        mqtt,
        fx.client_id("trk"),
        Some(fx.logins[0].clone()),
        messages,
        100,
        1000,
    );
    wait_acked(&progress, M, &fx.name).await;

    let status = server.kill(&fx.name).await;
    let acked = progress.acked_indices.lock().unwrap().clone();
    let lost = acknowledged_but_missing(&fx, &plan, &acked).await;
    let (rows, distinct) = rows_and_distinct(&fx).await;
    eprintln!(
        "{}: server killed ({status}) after {} of {N} readings were acknowledged ({} sent); \
         {rows} stored",
        fx.name,
        acked.len(),
        progress.sent.load(Ordering::Relaxed)
    );
    assert!(acked.len() >= M);
    assert!(
        lost.is_empty(),
        "{}: {} acknowledged readings are not stored: {}\n{}",
        fx.name,
        lost.len(),
        ranges(&lost),
        server.logs()
    );
    assert_eq!(rows, distinct, "{}: a reading stored twice", fx.name);
    drop(server);

    let server = fx.serve(mqtt).await;
    finish_publishing(publisher, &progress, &fx.name).await;
    fx.verify(&plan, &server.logs()).await;
    let (rows, distinct) = rows_and_distinct(&fx).await;
    assert_eq!((rows, distinct), (N as i64, N as i64), "{}", fx.name);
    eprintln!("{}: passed in {:?}", fx.name, started.elapsed());
}

/// Terminates the sessions on the test's PostgreSQL database that `filter` selects; returns
/// how many. (The filter is applied in a subquery that is not flattened: in one WHERE clause
/// PostgreSQL may call `pg_terminate_backend` before the other conditions.)
async fn terminate(db: &TestDb, filter: &str) -> i64 {
    db.count(&format!(
        "SELECT COUNT(pg_terminate_backend(pid)) FROM (SELECT pid FROM pg_stat_activity \
         WHERE datname = current_database() AND {filter} OFFSET 0) s"
    ))
    .await
}

/// Application name of the PostgreSQL session that stalls the database.
const STALL_APP: &str = "fieldops-gateway-faults-stall";

/// Holds the database so that the server cannot commit: SQLite, the write lock (`BEGIN
/// IMMEDIATE` on a connection of the test); PostgreSQL, the server's connections terminated and
/// then `telemetry` locked against writes by a `psql` session of its own.
enum Stall {
    Sqlite(domain::store::Tx),
    Postgres(Child),
}

impl Stall {
    async fn begin(db: &TestDb) -> Stall {
        match db.store.backend() {
            Backend::Sqlite => Stall::Sqlite(db.store.begin().await.expect("BEGIN IMMEDIATE")),
            Backend::Postgres => {
                let terminated = terminate(
                    db,
                    "pid <> pg_backend_pid() AND backend_type = 'client backend'",
                )
                .await;
                eprintln!("stall: terminated {terminated} connections to the database");
                let child = Command::new("psql")
                    .arg("-X")
                    .arg("-q")
                    .arg("-d")
                    .arg(&db.url)
                    .arg("-c")
                    .arg("BEGIN; LOCK TABLE telemetry IN EXCLUSIVE MODE; SELECT pg_sleep(600);")
                    .env("PGAPPNAME", STALL_APP)
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .expect("run psql (PostgreSQL's client) to lock telemetry");
                let locked = "SELECT COUNT(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation \
                     WHERE c.relname = 'telemetry' AND l.mode = 'ExclusiveLock' AND l.granted \
                     AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())";
                let deadline = Instant::now() + Duration::from_secs(30);
                while db.count(locked).await == 0 {
                    assert!(Instant::now() < deadline, "psql did not lock telemetry");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Stall::Postgres(child)
            }
        }
    }

    async fn end(self, db: &TestDb) {
        match self {
            Stall::Sqlite(tx) => tx.commit().await.expect("release the write lock"),
            Stall::Postgres(mut child) => {
                terminate(db, &format!("application_name = '{STALL_APP}'")).await;
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

/// The database stalls for 30 s while four trackers, each allowed 1,000 publishes in flight by
/// the endpoint, try to push 6,000 readings of 2 KiB each: no PUBACK leaves for a reading that
/// is not committed, the server's memory stays bounded (it stops reading at the in-flight
/// limit), and once the database is back every reading is stored once.
async fn endpoint_acknowledges_nothing_and_stays_bounded_while_the_database_stalls(db: TestDb) {
    const TRACKERS: usize = 4;
    const PER_TRACKER: usize = 6_000;
    const PADDING: usize = 2048;
    const STALL: Duration = Duration::from_secs(30);
    const RSS_GROWTH_LIMIT_KB: u64 = 100 * 1024;
    let started = Instant::now();
    let fx = Rig::endpoint(
        db,
        "endpoint_acknowledges_nothing_and_stays_bounded_while_the_database_stalls",
        TRACKERS,
    )
    .await;
    let mqtt = endpoint_addr();
    let server = fx.serve(mqtt).await;
    let (messages, plan) = fx.readings(PER_TRACKER);
    // Each tracker publishes its own readings (reading `j` of tracker `d` is publish `j *
    // TRACKERS + d` of the plan), with no window of its own beyond its whole stream.
    let trackers: Vec<_> = fx
        .logins
        .iter()
        .enumerate()
        .map(|(d, login)| {
            let own: Vec<(String, Vec<u8>)> = messages
                .iter()
                .skip(d)
                .step_by(TRACKERS)
                .map(|(topic, payload)| {
                    let mut padded = payload.clone();
                    padded.resize(payload.len() + PADDING, b' ');
                    (topic.clone(), padded)
                })
                .collect();
            let (progress, task) = Publisher::spawn(
                mqtt,
                fx.client_id("trk"),
                Some(login.clone()),
                own,
                20,
                PER_TRACKER,
            );
            (d, progress, task)
        })
        .collect();
    let acked_in_plan = || -> Vec<usize> {
        trackers
            .iter()
            .flat_map(|(d, p, _)| {
                let acked = p.acked_indices.lock().unwrap().clone();
                acked.into_iter().map(move |j| j * TRACKERS + d)
            })
            .collect()
    };
    let total =
        |pick: fn(&Progress) -> usize| -> usize { trackers.iter().map(|(_, p, _)| pick(p)).sum() };
    let acked = |p: &Progress| p.acked.load(Ordering::Relaxed);
    let sent = |p: &Progress| p.sent.load(Ordering::Relaxed);
    let deadline = Instant::now() + Duration::from_secs(30);
    while total(acked) < 1000 {
        assert!(
            Instant::now() < deadline,
            "{}: no ingest before the stall",
            fx.name
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let rss_before = server.rss_kb();
    let stall = Stall::begin(&fx.db).await;
    let stalled_at = Instant::now();
    let stored_at_stall = fx.count().await;
    let mut rss_peak = rss_before;
    let mut samples = 0;
    while stalled_at.elapsed() < STALL {
        // Acknowledgements first, then the table: see `acknowledged_but_missing`.
        let acked_now = total(acked);
        let stored = fx.count().await;
        assert_eq!(
            stored, stored_at_stall,
            "{}: something committed during the stall",
            fx.name
        );
        assert!(
            acked_now as i64 <= stored,
            "{}: {acked_now} PUBACKs but {stored} readings stored during the stall",
            fx.name
        );
        rss_peak = rss_peak.max(server.rss_kb());
        samples += 1;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let acked_at_end = acked_in_plan();
    let lost = acknowledged_but_missing(&fx, &plan, &acked_at_end).await;
    let sent_at_end = total(sent);
    eprintln!(
        "{}: stalled {:?} ({samples} samples): {stored_at_stall} stored, {} acknowledged, \
         {sent_at_end} sent of {}; RSS before {} MiB, peak during {} MiB",
        fx.name,
        stalled_at.elapsed(),
        acked_at_end.len(),
        plan.total,
        rss_before / 1024,
        rss_peak / 1024
    );
    assert!(
        lost.is_empty(),
        "{}: acknowledged during the stall but not stored: {}",
        fx.name,
        ranges(&lost)
    );
    assert!(
        sent_at_end > acked_at_end.len() + TRACKERS * 1000,
        "{}: the trackers did not try to push past the in-flight limit ({sent_at_end} sent, \
         {} acknowledged)",
        fx.name,
        acked_at_end.len()
    );
    assert!(
        rss_peak <= rss_before + RSS_GROWTH_LIMIT_KB,
        "{}: RSS grew from {rss_before} KiB to {rss_peak} KiB during the stall",
        fx.name
    );
    stall.end(&fx.db).await;

    for (_, progress, task) in trackers {
        finish_publishing(task, &progress, &fx.name).await;
    }
    fx.verify(&plan, &server.logs()).await;
    let (rows, distinct) = rows_and_distinct(&fx).await;
    assert_eq!(rows, distinct, "{}: a reading stored twice", fx.name);
    let rss_after = server.rss_kb();
    eprintln!(
        "{}: {rows} stored after the stall; RSS after {} MiB; passed in {:?}",
        fx.name,
        rss_after / 1024,
        started.elapsed()
    );
    assert!(
        rss_after <= rss_before + RSS_GROWTH_LIMIT_KB,
        "{}: RSS {rss_before} KiB before the stall, {rss_after} KiB after",
        fx.name
    );
}

mod endpoint {
    use super::*;
    domain::backend_matrix!(
        TestDb:
        serve_killed_mid_stream_keeps_every_acknowledged_reading,
        endpoint_acknowledges_nothing_and_stays_bounded_while_the_database_stalls,
    );
}

domain::backend_matrix!(
    Faults:
    gateway_killed_mid_stream_loses_nothing,
    broker_restart_mid_stream_loses_nothing,
    gateway_sigterm_finishes_batch_in_hand,
    two_gateway_processes_split_one_stream,
);
