//! End-to-end tests of the real `fieldops` binary: it is started as a child process on free
//! ports and driven over HTTP, the way an operator and a phone would.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use domain::testing::{service_url, TestDb, MQTT_URL_VAR};
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_fieldops");

/// The lines a child writes to `pipe`, read on a thread of their own so the pipe never fills.
fn lines_of(pipe: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// A running `fieldops serve`, killed on drop.
struct Server {
    child: Child,
    base: String,
    stdout: Vec<String>,
    stderr_rx: mpsc::Receiver<String>,
}

impl Server {
    /// Starts `fieldops serve` and waits (bounded) until it prints its HTTP address.
    fn start(dir: &Path, db_url: &str, extra: &[&str], env: &[(&str, &str)]) -> Server {
        Server::start_command("serve", dir, db_url, extra, env)
    }

    /// [`Server::start`] with another serving command (`demo`).
    fn start_command(
        command: &str,
        dir: &Path,
        db_url: &str,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Server {
        let mut cmd = Command::new(BIN);
        cmd.arg(command)
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--database-url")
            .arg(db_url)
            .arg("--data-dir")
            .arg(dir.join("data"))
            .args(extra)
            .env_remove("FIELDOPS_ADMIN_PASSWORD")
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if !extra.contains(&"--mqtt-url") {
            cmd.arg("--mqtt-listen").arg("127.0.0.1:0");
        }
        // Most tests log in as the first admin with its password alone; `first_run` keeps the
        // built-in policy (admins must use two-factor authentication) by naming the variable
        // with an empty value, which leaves it unset.
        cmd.env(REQUIRE_2FA, "none");
        for (k, v) in env {
            if *k == REQUIRE_2FA && v.is_empty() {
                cmd.env_remove(k);
            } else {
                cmd.env(k, v);
            }
        }
        let mut child = cmd.spawn().expect("start fieldops");
        let out_rx = lines_of(child.stdout.take().unwrap());
        let stderr_rx = lines_of(child.stderr.take().unwrap());
        let mut lines = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        let base = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match out_rx.recv_timeout(left) {
                Ok(line) => {
                    let found = line
                        .strip_prefix("fieldops: HTTP listening on ")
                        .map(str::to_owned);
                    lines.push(line);
                    if let Some(url) = found {
                        break url;
                    }
                }
                Err(_) => {
                    let err: Vec<String> = stderr_rx.try_iter().collect();
                    panic!("server did not start; stdout: {lines:?}; stderr: {err:?}");
                }
            }
        };
        Server {
            child,
            base,
            stdout: lines,
            stderr_rx,
        }
    }

    fn admin_password(&self) -> Option<String> {
        self.stdout.iter().find_map(|l| {
            l.strip_prefix("fieldops: admin password: ")
                .map(|p| p.trim().to_owned())
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Polls /readyz until it answers 200 (the gateway's broker connection comes up
    /// asynchronously), bounded by a deadline.
    async fn wait_ready(&self, client: &reqwest::Client) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let resp = client.get(self.url("/readyz")).send().await.unwrap();
            let status = resp.status();
            let body: Value = resp.json().await.unwrap();
            if status == 200 {
                return body;
            }
            assert!(Instant::now() < deadline, "never ready: {body}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let ok = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(ok.success());
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "did not stop after SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The variable of `--require-2fa-roles`.
const REQUIRE_2FA: &str = "FIELDOPS_REQUIRE_2FA_ROLES";

/// The code an authenticator app shows for `secret`, `ahead` 30-second steps from now.
fn totp_code(secret: &str, ahead: i64) -> String {
    let bytes = totp_rs::Secret::Encoded(secret.to_owned())
        .to_bytes()
        .unwrap();
    let at = chrono::Utc::now().timestamp() + 30 * ahead;
    totp_rs::TOTP::new(totp_rs::Algorithm::SHA1, 6, 0, 30, bytes, None, "t".into())
        .unwrap()
        .generate(at as u64)
}

async fn login(client: &reqwest::Client, server: &Server, user: &str, password: &str) -> String {
    let resp = client
        .post(server.url("/api/v1/auth/login"))
        .json(&json!({"username": user, "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    body["token"].as_str().unwrap().to_owned()
}

/// The whole first-run story on one backend: fresh database, printed admin password, health,
/// readiness with the embedded MQTT endpoint, a login and a write, graceful shutdown on SIGTERM.
async fn first_run(db_url: &str, dir: &Path) {
    let server = Server::start(dir, db_url, &[], &[(REQUIRE_2FA, "")]);
    assert!(server
        .stdout
        .iter()
        .any(|l| l.starts_with("fieldops: MQTT endpoint for trackers on mqtt://")));
    let password = server
        .admin_password()
        .expect("first run prints the admin password");
    assert!(password.len() >= 20);
    let client = reqwest::Client::new();
    let health = client.get(server.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let ready = server.wait_ready(&client).await;
    assert_eq!(ready["database"], "ok");
    assert_eq!(ready["broker"], "connected");

    // Admins must use two-factor authentication: the first login only enrols.
    let refused = client
        .post(server.url("/api/v1/auth/login"))
        .json(&json!({"username": "admin", "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    let problem: Value = refused.json().await.unwrap();
    assert_eq!(
        problem["error"], "two_factor_enrolment_required",
        "{problem}"
    );
    let enrolment = problem["detail"]["enrolment_token"].as_str().unwrap();
    let setup = json_of(
        client
            .post(server.url("/api/v1/auth/2fa/setup"))
            .bearer_auth(enrolment),
    )
    .await;
    let secret = setup["secret"].as_str().unwrap().to_owned();
    let confirmed = json_of(
        client
            .post(server.url("/api/v1/auth/2fa/confirm"))
            .bearer_auth(enrolment)
            .json(&json!({"code": totp_code(&secret, 0)})),
    )
    .await;
    assert_eq!(confirmed["recovery_codes"].as_array().unwrap().len(), 10);
    let session = json_of(client.post(server.url("/api/v1/auth/login")).json(
        &json!({"username": "admin", "password": password, "totp_code": totp_code(&secret, 1)}),
    ))
    .await;
    let token = session["token"].as_str().unwrap();
    let created = client
        .post(server.url("/api/v1/assets"))
        .bearer_auth(token)
        .json(&json!({"code": "EX-0001", "name": "Excavator"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    // Audited with the client's address; the clock runs the audit retention rule.
    let entries = json_of(
        client
            .get(server.url("/api/v1/audit-log?action=asset.create"))
            .bearer_auth(token),
    )
    .await;
    assert_eq!(entries["items"][0]["ip"], "127.0.0.1", "{entries}");
    let logs: Vec<String> = server.stderr_rx.try_iter().collect();
    assert!(
        logs.iter()
            .any(|l| l.contains("clock starting") && l.contains("audit_retention")),
        "{logs:?}"
    );
    // The password never reaches the logs.
    let status = server.terminate();
    assert!(
        status.success(),
        "graceful shutdown exits 0, got {status:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_first_run_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("fieldops.db").display());
    first_run(&url, dir.path()).await;
    // A second start on the same database prints no password.
    let again = Server::start(dir.path(), &url, &[], &[]);
    assert!(again.admin_password().is_none());
    let logs: Vec<String> = again.stderr_rx.try_iter().collect();
    assert!(!logs.iter().any(|l| l.contains("password:")));
}

/// The server migrates an already-migrated database: migrations are idempotent.
async fn serve_first_run_on_a_migrated_database(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    first_run(&db.url, dir.path()).await;
}

domain::backend_matrix!(TestDb: serve_first_run_on_a_migrated_database);

mod audit_cli {
    use super::*;
    domain::backend_matrix!(TestDb: cli_audit_purge_deletes_old_entries_and_says_so);
}

/// `fieldops audit purge`: deletes the entries older than `--older-than-days`, prints how
/// many, and leaves its own entry (source `cli`); a second run finds nothing.
async fn cli_audit_purge_deletes_old_entries_and_says_so(db: TestDb) {
    let id = match db.store.backend() {
        domain::Backend::Sqlite => "randomblob(16)",
        domain::Backend::Postgres => "gen_random_uuid()",
    };
    for days in [800, 750, 10] {
        let at = (chrono::Utc::now() - chrono::Duration::days(days))
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, false);
        db.execute(&format!(
            "INSERT INTO audit_log (id, at, actor, source, action, entity, entity_id) \
             VALUES ({id}, '{at}', 'old', 'api', 'old.entry', 'site', {id})"
        ))
        .await;
    }
    let purge = |days: &str| {
        Command::new(BIN)
            .args([
                "audit",
                "purge",
                "--older-than-days",
                days,
                "--database-url",
            ])
            .arg(&db.url)
            .output()
            .unwrap()
    };
    let out = purge("730");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("deleted 2 audit entries older than 730 days"),
        "{stdout}"
    );
    db.assert_counts(&[
        (
            "SELECT COUNT(*) FROM audit_log WHERE action = 'old.entry'",
            1,
        ),
        (
            "SELECT COUNT(*) FROM audit_log WHERE action = 'audit_log.purge' \
             AND source = 'cli' AND actor = 'cli'",
            1,
        ),
    ])
    .await;
    let again = purge("730");
    assert!(String::from_utf8_lossy(&again.stdout).contains("deleted 0 audit entries"));
    assert!(
        !purge("0").status.success(),
        "a zero cutoff would delete everything"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_password_from_environment_is_not_printed() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("fieldops.db").display());
    let server = Server::start(
        dir.path(),
        &url,
        &[],
        &[("FIELDOPS_ADMIN_PASSWORD", "a-long-admin-password")],
    );
    assert!(server.admin_password().is_none());
    let client = reqwest::Client::new();
    login(&client, &server, "admin", "a-long-admin-password").await;
}

/// Built-in HTTPS end to end: the flags, the certificate, HSTS on every answer, a `Secure`
/// session cookie, no plain HTTP on the port, and a client that never finishes its handshake
/// holding up nobody.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_over_https_with_hsts() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("fieldops.db").display());
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let (cert_file, key_file) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_file, cert.cert.pem()).unwrap();
    std::fs::write(&key_file, cert.key_pair.serialize_pem()).unwrap();
    let server = Server::start(
        dir.path(),
        &url,
        &[
            "--tls-cert",
            cert_file.to_str().unwrap(),
            "--tls-key",
            key_file.to_str().unwrap(),
        ],
        &[("FIELDOPS_ADMIN_PASSWORD", "a-long-admin-password")],
    );
    assert!(
        server.base.starts_with("https://127.0.0.1:"),
        "{}",
        server.base
    );
    let port = server.base.rsplit(':').next().unwrap().to_owned();
    let base = format!("https://localhost:{port}");

    // A client that connects and never speaks TLS does not stop the next one.
    let _silent = tokio::net::TcpStream::connect(format!("127.0.0.1:{port}"))
        .await
        .unwrap();
    let trusted = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(cert.cert.pem().as_bytes()).unwrap())
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let health = trusted.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(
        health.headers()["strict-transport-security"],
        "max-age=31536000; includeSubDomains"
    );
    let login = trusted
        .post(format!("{base}/api/v1/auth/session"))
        .header("origin", &base)
        .json(&json!({"username": "admin", "password": "a-long-admin-password"}))
        .send()
        .await
        .unwrap();
    assert!(login.status().is_success(), "{}", login.status());
    assert!(login.headers().contains_key("strict-transport-security"));
    let cookie = login.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.contains("Secure"), "{cookie}");

    // The certificate is checked (an untrusting client refuses it), and plain HTTP gets no
    // answer on the TLS port.
    let untrusting = reqwest::Client::new();
    assert!(untrusting
        .get(format!("{base}/healthz"))
        .send()
        .await
        .is_err());
    let plain = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    assert!(plain
        .get(format!("http://127.0.0.1:{port}/healthz"))
        .send()
        .await
        .is_err());
}

#[test]
fn taken_port_is_a_clear_error_not_a_crash() {
    // (the flag given the taken address, the other listener's flag, what stderr must say)
    let cases: [(&str, &str, &[&str]); 2] = [
        (
            "--mqtt-listen",
            "--listen",
            &["--mqtt-listen", "--mqtt-url", "already in use"],
        ),
        ("--listen", "--mqtt-listen", &["--listen"]),
    ];
    for (taken_flag, other_flag, says) in cases {
        let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = holder.local_addr().unwrap().to_string();
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new(BIN)
            .args(["serve", other_flag, "127.0.0.1:0", taken_flag, &addr])
            .arg("--database-url")
            .arg(format!("sqlite://{}", dir.path().join("f.db").display()))
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{taken_flag} taken: a clean error exit, not a signal/panic: {stderr}"
        );
        for text in says {
            assert!(
                stderr.contains(text),
                "{taken_flag} taken: {text}: {stderr}"
            );
        }
        assert!(!stderr.contains("panicked"), "{taken_flag} taken: {stderr}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn external_broker_mosquitto() {
    let Some(mqtt_url) = service_url(MQTT_URL_VAR, "external broker test") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("fieldops.db").display());
    let server = Server::start(dir.path(), &url, &["--mqtt-url", &mqtt_url], &[]);
    // No embedded endpoint runs next to an external broker.
    assert!(!server
        .stdout
        .iter()
        .any(|l| l.contains("MQTT endpoint for trackers")));
    let client = reqwest::Client::new();
    let ready = server.wait_ready(&client).await;
    assert_eq!(ready["broker"], "connected");
}

#[test]
fn config_file_is_layered_under_flags() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("fieldops.toml");
    std::fs::write(&cfg, "listn = \"oops\"\n").unwrap();
    let out = Command::new(BIN)
        .args(["--config"])
        .arg(&cfg)
        .arg("migrate")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown field"));

    let db = dir.path().join("from-file.db");
    std::fs::write(
        &cfg,
        format!("database_url = \"sqlite://{}\"\n", db.display()),
    )
    .unwrap();
    let out = Command::new(BIN)
        .arg("--config")
        .arg(&cfg)
        .arg("migrate")
        .env_remove("FIELDOPS_DATABASE_URL")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(db.exists(), "the file's database_url was used");

    // The environment beats the file.
    let env_db = dir.path().join("from-env.db");
    let out = Command::new(BIN)
        .arg("--config")
        .arg(&cfg)
        .arg("migrate")
        .env(
            "FIELDOPS_DATABASE_URL",
            format!("sqlite://{}", env_db.display()),
        )
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(env_db.exists());
}

#[test]
fn cli_user_and_device_add() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("fieldops.db").display());
    let run = |args: &[&str], stdin: Option<&str>| {
        let mut cmd = Command::new(BIN);
        cmd.arg("--database-url").arg(&url).args(args);
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        if let Some(s) = stdin {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(s.as_bytes()).unwrap();
        } else {
            drop(child.stdin.take());
        }
        child.wait_with_output().unwrap()
    };
    let out = run(
        &["user", "add", "--username", "tech1", "--role", "technician"],
        None,
    );
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("created user tech1 (technician)"), "{text}");
    assert!(
        text.contains("password: "),
        "a generated password is shown once"
    );

    let out = run(
        &[
            "user",
            "add",
            "--username",
            "tech2",
            "--role",
            "viewer",
            "--password-stdin",
        ],
        Some("a-password-from-stdin\n"),
    );
    assert!(out.status.success());
    assert!(!String::from_utf8_lossy(&out.stdout).contains("password: "));

    let out = run(
        &[
            "user",
            "add",
            "--username",
            "planner1",
            "--role",
            "maintenance_planner",
        ],
        None,
    );
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("created user planner1 (maintenance_planner)"),
        "{text}"
    );

    let out = run(&["user", "add", "--username", "x", "--role", "root"], None);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("maintenance_planner"),
        "the refusal lists the roles"
    );
    let out = run(&["user", "add", "--help"], None);
    assert!(String::from_utf8_lossy(&out.stdout).contains("maintenance_planner"));

    let out = run(&["user", "reset-2fa", "TECH1"], None);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("two-factor authentication of tech1 (technician) is off"),
        "{text}"
    );
    let out = run(&["user", "reset-2fa", "nobody"], None);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("user `nobody`"));

    let out = run(&["device", "add", "--device-id", "trk-7"], None);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("mqtt username: trk-7"), "{text}");
    assert!(text.contains("mqtt password: "), "{text}");
    assert!(text.contains("fieldops/v1/trk-7/telemetry"), "{text}");

    let out = run(
        &["device", "add", "--device-id", "trk-8", "--asset", "EX-404"],
        None,
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("EX-404"));
}

#[test]
fn help_documents_every_flag_and_its_variable() {
    let out = Command::new(BIN)
        .args(["serve", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--database-url",
        "--listen",
        "--mqtt-url",
        "--mqtt-listen",
        "--data-dir",
        "--config",
        "--log-format",
        "FIELDOPS_DATABASE_URL",
        "FIELDOPS_MQTT_LISTEN",
        "--smtp-url",
        "--smtp-from",
        "--notify-max-attempts",
        "FIELDOPS_SMTP_URL",
        "--backup-dir",
        "--backup-keep",
        "FIELDOPS_BACKUP_DIR",
        "--audit-retention-days",
        "FIELDOPS_AUDIT_RETENTION_DAYS",
        "--trusted-proxy",
        "FIELDOPS_TRUSTED_PROXY",
        "--require-2fa-roles",
        "FIELDOPS_REQUIRE_2FA_ROLES",
        "--login-max-failures",
        "--login-ip-max-failures",
        "--login-lockout-minutes",
    ] {
        assert!(help.contains(flag), "{flag} missing from help:\n{help}");
    }
}

/// Sends a request and reads its JSON answer.
async fn json_of(req: reqwest::RequestBuilder) -> Value {
    req.send().await.unwrap().json().await.unwrap()
}

/// The served process delivers notifications: a webhook test event registered and sent over the
/// API reaches a real receiver and is counted in /metrics; an SMTP server that is not there
/// does not make the process unready; SIGTERM still stops it cleanly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_delivers_webhooks_and_counts_them() {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = format!("http://{}/hook", listener.local_addr().unwrap());
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: axum::http::HeaderMap| {
            let tx = tx.clone();
            async move {
                let id = headers["webhook-id"].to_str().unwrap().to_owned();
                tx.send(id).unwrap();
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    let nothing_listens = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let smtp = format!("smtp://{nothing_listens}");

    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("fieldops.db").display());
    let server = Server::start(
        dir.path(),
        &url,
        &["--smtp-url", &smtp],
        &[("FIELDOPS_ADMIN_PASSWORD", "a-long-admin-password")],
    );
    let client = reqwest::Client::new();
    server.wait_ready(&client).await;
    let token = login(&client, &server, "admin", "a-long-admin-password").await;
    let created = json_of(
        client
            .post(server.url("/api/v1/webhooks"))
            .bearer_auth(&token)
            .json(&json!({"url": hook})),
    )
    .await;
    let id = created["id"].as_str().unwrap();
    let resp = client
        .post(server.url(&format!("/api/v1/webhooks/{id}/test")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    let delivery = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("the test event within 10 s")
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let metrics = client
            .get(server.url("/metrics"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if metrics
            .contains("fieldops_notification_deliveries_delivered_total{channel=\"webhook\"} 1")
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "delivery not counted:\n{metrics}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let log = json_of(
        client
            .get(server.url("/api/v1/notifications/deliveries?state=delivered"))
            .bearer_auth(&token),
    )
    .await;
    assert_eq!(
        log["items"][0]["id"],
        delivery.as_str(),
        "webhook-id is the delivery id"
    );
    assert!(server.terminate().success());
}

/// DESIGN.md §5: with several processes on PostgreSQL, live changes fan out through
/// LISTEN/NOTIFY. Two real `fieldops serve` processes on one database: a tracker publishes to
/// process A's embedded MQTT endpoint, and a dispatcher's event stream on process B receives
/// the position. (The in-process variant with resume: `api/tests/events.rs`.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_events_reach_a_second_process_over_postgres() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let password = "a-long-admin-password";
    let env = [("FIELDOPS_ADMIN_PASSWORD", password)];
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = Server::start(dir_a.path(), &db.url, &[], &env);
    let b = Server::start(dir_b.path(), &db.url, &[], &env);
    let client = reqwest::Client::new();
    a.wait_ready(&client).await;
    b.wait_ready(&client).await;
    let mqtt = a
        .stdout
        .iter()
        .find_map(|l| l.strip_prefix("fieldops: MQTT endpoint for trackers on mqtt://"))
        .expect("A's MQTT address")
        .to_owned();
    let (host, port) = mqtt.rsplit_once(':').unwrap();

    let token = login(&client, &a, "admin", password).await;
    let asset = json_of(
        client
            .post(a.url("/api/v1/assets"))
            .bearer_auth(&token)
            .json(&json!({"code": "TWO-1", "name": "Excavator"})),
    )
    .await;
    let asset_id = asset["id"].as_str().unwrap().to_owned();
    let device = json_of(
        client
            .post(a.url("/api/v1/devices"))
            .bearer_auth(&token)
            .json(&json!({"device_id": "trk-two-1", "asset_id": asset_id})),
    )
    .await;
    let mqtt_password = device["mqtt_password"].as_str().unwrap().to_owned();

    // The dispatcher's stream, on process B.
    let token_b = login(&client, &b, "admin", password).await;
    let mut stream = client
        .get(b.url("/api/v1/events"))
        .bearer_auth(&token_b)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    read_until(&mut stream, "event: ready").await;

    // The tracker, on process A.
    let mut options = rumqttc::MqttOptions::new("trk-two-1", host, port.parse().unwrap());
    options.set_credentials("trk-two-1", mqtt_password);
    let (mqtt_client, mut events) = rumqttc::AsyncClient::new(options, 10);
    // `ts` in Unix seconds, which the payload also takes (DESIGN.md §4).
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let fix = json!({"ts": now, "lat": 31.2304, "lon": 121.4737});
    mqtt_client
        .publish(
            "fieldops/v1/trk-two-1/telemetry",
            rumqttc::QoS::AtLeastOnce,
            false,
            fix.to_string(),
        )
        .await
        .unwrap();
    let acked = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            if let rumqttc::Event::Incoming(rumqttc::Packet::PubAck(_)) =
                events.poll().await.expect("MQTT connection to A")
            {
                break;
            }
        }
    })
    .await;
    assert!(acked.is_ok(), "A acknowledged the fix (after its commit)");

    let seen = read_until(&mut stream, &format!("\"asset_id\":\"{asset_id}\"")).await;
    assert!(seen.contains("event: position"), "{seen}");
    assert!(seen.contains("121.4737"), "{seen}");
    assert!(a.terminate().success());
    assert!(b.terminate().success());
}

/// Reads an event stream until `needle` appears (bounded); returns what was read.
async fn read_until(stream: &mut reqwest::Response, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seen = String::new();
    while !seen.contains(needle) {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.chunk()).await {
            Ok(Ok(Some(chunk))) => seen.push_str(&String::from_utf8_lossy(&chunk)),
            other => panic!("no `{needle}` on the stream ({other:?}); got: {seen}"),
        }
    }
    seen
}

/// `fieldops demo` on a fresh database: the fleet and the rental office are seeded through the
/// services, so the office opens on a renewal pipeline (expiring, active, signed and draft
/// contracts with real numbers) and a dozen customers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_seeds_the_office_with_a_renewal_pipeline() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("demo.db").display());
    let password = "demo-admin-password-1";
    let server = Server::start_command(
        "demo",
        dir.path(),
        &url,
        &["--trackers", "20"],
        &[("FIELDOPS_ADMIN_PASSWORD", password)],
    );
    let client = reqwest::Client::new();
    let token = login(&client, &server, "admin", password).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    let contracts = loop {
        let page = json_of(
            client
                .get(server.url("/api/v1/contracts?limit=100"))
                .bearer_auth(&token),
        )
        .await;
        let items = page["items"].as_array().cloned().unwrap_or_default();
        if items.len() >= 20 {
            break items;
        }
        assert!(Instant::now() < deadline, "no demo contracts: {page}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let status_count = |s: &str| contracts.iter().filter(|c| c["status"] == s).count();
    assert!(status_count("expiring") >= 3, "{contracts:?}");
    assert!(status_count("active") >= 3, "{contracts:?}");
    assert!(status_count("draft") >= 3, "{contracts:?}");
    assert!(contracts
        .iter()
        .all(|c| c["number"].as_str().unwrap().starts_with('C')));
    let customers = json_of(
        client
            .get(server.url("/api/v1/customers?limit=100"))
            .bearer_auth(&token),
    )
    .await;
    assert_eq!(
        customers["items"].as_array().unwrap().len(),
        12,
        "{customers}"
    );
}

/// A 1×1 PNG: the smallest photo the server accepts.
const TINY_PNG: &[u8] = b"\x89\x50\x4e\x47\x0d\x0a\x1a\x0a\x00\x00\x00\x0d\x49\x48\x44\x52\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\x0d\x49\x44\x41\x54\x78\xda\x63\x64\x60\xf8\x5f\x0f\x00\x02\x87\x01\x80\xeb\x47\xba\x92\x00\x00\x00\x00\x49\x45\x4e\x44\xae\x42\x60\x82";

/// `fieldops backup` against a running server, `fieldops restore` into a new database and data
/// dir, and a server on the restored copy serving the asset, the scan and its photo; a
/// PostgreSQL URL gets the pg_dump commands instead of an archive; a second restore onto the
/// restored copy needs --force.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_and_restore_through_the_cli() {
    let live = tempfile::tempdir().unwrap();
    let live_url = format!("sqlite://{}", live.path().join("live.db").display());
    let server = Server::start(live.path(), &live_url, &[], &[]);
    let password = server.admin_password().unwrap();
    let client = reqwest::Client::new();
    let token = login(&client, &server, "admin", &password).await;
    let asset = json_of(
        client
            .post(server.url("/api/v1/assets"))
            .bearer_auth(&token)
            .json(&json!({"code": "BK-0001", "name": "Dumper"})),
    )
    .await;
    let photo = json_of(
        client
            .post(server.url("/api/v1/photos"))
            .bearer_auth(&token)
            .header("content-type", "image/png")
            .body(TINY_PNG),
    )
    .await;
    let sha = photo["sha256"].as_str().unwrap().to_owned();
    let scan_id = uuid::Uuid::now_v7().to_string();
    let scan = json_of(
        client
            .post(server.url("/api/v1/scans"))
            .bearer_auth(&token)
            .json(&json!({
                "id": scan_id, "action": "inspect", "asset_id": asset["id"],
                "device_time": chrono::Utc::now().to_rfc3339(), "photos": [sha],
                "notes": "before the backup",
            })),
    )
    .await;
    assert_eq!(scan["status"], "applied", "{scan}");

    // Online: the server keeps running.
    let archive = live.path().join("backups").join("fieldops.tar.gz");
    let data_dir = live.path().join("data");
    let out = Command::new(BIN)
        .args(["backup", "--database-url", &live_url, "--to"])
        .arg(&archive)
        .arg("--data-dir")
        .arg(&data_dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("backup written to"), "{stdout}");
    assert!(stdout.contains("1 blob(s)"), "{stdout}");

    let pg = live.path().join("pg.tar.gz");
    let out = Command::new(BIN)
        .args([
            "backup",
            "--database-url",
            "postgres://app:s3cret@127.0.0.1:1/fieldops",
            "--to",
        ])
        .arg(&pg)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("pg_dump --format=custom"), "{stderr}");
    assert!(stderr.contains("pg_basebackup"), "{stderr}");
    assert!(!stderr.contains("s3cret"), "{stderr}");
    assert!(!pg.exists());
    assert!(server.terminate().success());

    let copy = tempfile::tempdir().unwrap();
    let copy_url = format!("sqlite://{}", copy.path().join("restored.db").display());
    let restore = |force: bool| {
        let mut cmd = Command::new(BIN);
        cmd.args(["restore", "--database-url", &copy_url, "--from"])
            .arg(&archive)
            .arg("--data-dir")
            .arg(copy.path().join("data"));
        if force {
            cmd.arg("--force");
        }
        cmd.output().unwrap()
    };
    let out = restore(false);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("migrated to schema"), "{stdout}");
    let again = restore(false);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("--force"));

    // The restored server takes its daily backups on the clock (the day's first is due now).
    let daily = copy.path().join("daily");
    let daily_arg = daily.to_string_lossy().into_owned();
    let server = Server::start(
        copy.path(),
        &copy_url,
        &[
            "--backup-dir",
            &daily_arg,
            "--backup-keep",
            "3",
            "--clock-interval-secs",
            "1",
        ],
        &[],
    );
    assert_eq!(server.admin_password(), None, "the users came back too");
    let token = login(&client, &server, "admin", &password).await;
    let id = asset["id"].as_str().unwrap();
    let got = client
        .get(server.url(&format!("/api/v1/assets/{id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(got.status(), 200);
    let history = client
        .get(server.url(&format!("/api/v1/assets/{id}/field-history")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(history.contains(&scan_id), "{history}");
    let served = client
        .get(server.url(&format!("/api/v1/photos/{sha}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(served.status(), 200);
    assert_eq!(served.bytes().await.unwrap().as_ref(), TINY_PNG);

    let deadline = Instant::now() + Duration::from_secs(30);
    let archives = || -> Vec<String> {
        std::fs::read_dir(&daily)
            .map(|d| {
                d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                    .filter(|n| n.starts_with("fieldops-backup-") && n.ends_with(".tar.gz"))
                    .collect()
            })
            .unwrap_or_default()
    };
    while archives().is_empty() {
        assert!(Instant::now() < deadline, "no daily backup in {daily_arg}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The archive is renamed into place before the metric is set: look until it is.
    let last_success = loop {
        let metrics = client
            .get(server.url("/metrics"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let value = metrics
            .lines()
            .find_map(|l| l.strip_prefix("fieldops_backup_last_success_timestamp_seconds "))
            .map(|v| v.trim().parse::<i64>().unwrap());
        match value {
            Some(t) if t > 0 => break t,
            _ => {
                assert!(Instant::now() < deadline, "no backup metric in {metrics}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    assert!((chrono::Utc::now().timestamp() - last_success).abs() < 120);
    assert!(server.terminate().success());
}
