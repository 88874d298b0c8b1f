//! The clock in the real binary, on SQLite and PostgreSQL: `fieldops api` killed with SIGKILL
//! again and again while tasks fall due catches up after each restart and stamps every task
//! overdue exactly once; two `fieldops api` processes on one database never evaluate the same
//! window twice (one evaluator at a time), and each task is stamped once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use domain::tasks::{self, NewTask};
use domain::testing::TestDb;
use domain::Actor;
use mobile_shared::Role;

const BIN: &str = env!("CARGO_BIN_EXE_fieldops");

domain::backend_matrix!(
    TestDb:
    killed_server_catches_up_and_stamps_each_task_once,
    two_api_processes_evaluate_each_window_once,
);

const METRICS_TOKEN: &str = "clock-metrics-token";

/// A `fieldops api` child with a one-second clock, killed (SIGKILL) on drop.
struct Api {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    base: String,
    _data: tempfile::TempDir,
}

impl Api {
    /// Starts it and waits (bounded) until it listens for HTTP.
    fn start(db: &TestDb) -> Api {
        let data = tempfile::tempdir().unwrap();
        let mut child = Command::new(BIN)
            .arg("api")
            .args(["--database-url", &db.url, "--listen", "127.0.0.1:0"])
            .arg("--data-dir")
            .arg(data.path())
            .args(["--clock-interval-secs", "1"])
            .args(["--metrics-token", METRICS_TOKEN])
            .env_remove("FIELDOPS_CONFIG")
            .env("RUST_LOG", "info,sqlx=warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start fieldops api");
        let (tx, rx) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(60);
        let base = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some(url) = line.strip_prefix("fieldops: HTTP listening on ") {
                        break url.trim().to_owned();
                    }
                }
                Err(e) => panic!("fieldops api did not start listening: {e}"),
            }
        };
        Api {
            child,
            base,
            _data: data,
        }
    }

    /// The value of the sample `name` (with its labels) on `/metrics`, if present.
    async fn metric(&self, name: &str) -> Option<f64> {
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
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
            .map(|v| v.trim().parse().unwrap())
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Api {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A task for technicians due at `due_at`.
async fn task_due(db: &TestDb, n: usize, due_at: DateTime<Utc>) {
    let new = NewTask {
        kind: "inspection".into(),
        title: format!("inspection {n}"),
        subject: None,
        assignee_user_id: None,
        assignee_role: Some(Role::Technician),
        due_at,
        dedupe_key: Some(format!("inspection:{n}")),
        source: "test_rule".into(),
    };
    tasks::create(&db.store, &Actor::system(), new)
        .await
        .unwrap();
}

/// Polls (bounded) until `sql` counts `want`.
async fn wait_count(db: &TestDb, sql: &str, want: i64, limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        let got = db.count(sql).await;
        if got == want {
            return;
        }
        assert!(Instant::now() < deadline, "{sql}: {got}, want {want}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Asserts the committed windows of the overdue rule meet exactly: no gap, no overlap.
async fn assert_windows_tile(db: &TestDb) -> usize {
    let runs: Vec<(DateTime<Utc>, DateTime<Utc>, String)> = db
        .rows(
            "SELECT window_from, window_to, instance FROM schedule_runs \
             WHERE rule = 'overdue_tasks' ORDER BY window_from",
        )
        .await;
    assert!(!runs.is_empty());
    for pair in runs.windows(2) {
        assert_eq!(pair[0].1, pair[1].0, "windows must meet exactly: {pair:?}");
    }
    let mut instances: Vec<&str> = runs.iter().map(|r| r.2.as_str()).collect();
    instances.sort_unstable();
    instances.dedup();
    instances.len()
}

const STAMPED: &str = "SELECT COUNT(*) FROM tasks WHERE overdue_at IS NOT NULL";
const AUDITED: &str = "SELECT COUNT(*) FROM audit_log WHERE action = 'task.overdue'";
const EACH_ONCE: &str = "SELECT COUNT(*) FROM (SELECT entity_id FROM audit_log \
    WHERE action = 'task.overdue' GROUP BY entity_id HAVING COUNT(*) > 1) AS doubled";

async fn killed_server_catches_up_and_stamps_each_task_once(db: TestDb) {
    domain::users::ensure_first_admin(&db.store, Some("admin-password-1".into()))
        .await
        .unwrap();
    let mut api = Api::start(&db);
    wait_count(
        &db,
        "SELECT COUNT(*) FROM schedule_marks WHERE rule = 'overdue_tasks'",
        1,
        Duration::from_secs(20),
    )
    .await;
    // Each round: a task falls due while the server is down (killed mid-interval, maybe
    // mid-tick), then the server restarts and must catch up.
    let rounds = 3;
    for n in 0..rounds {
        api.kill();
        task_due(&db, n, Utc::now() + chrono::Duration::milliseconds(300)).await;
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert_eq!(
            db.count(STAMPED).await,
            n as i64,
            "nobody evaluates while down"
        );
        api = Api::start(&db);
        wait_count(&db, STAMPED, n as i64 + 1, Duration::from_secs(20)).await;
        // Killed at a different point of the interval each time.
        tokio::time::sleep(Duration::from_millis(350 * n as u64)).await;
    }
    // The last process reports its clock: it ticked, evaluated the rule, and is not behind by
    // more than an interval or so.
    let runs = "fieldops_clock_rule_runs_total{rule=\"overdue_tasks\"}";
    assert!(api.metric("fieldops_clock_ticks_total").await.unwrap() >= 1.0);
    assert!(api.metric(runs).await.unwrap() >= 1.0);
    assert!(api.metric("fieldops_clock_behind_seconds").await.unwrap() <= 5.0);
    api.kill();
    db.assert_counts(&[(STAMPED, 3), (AUDITED, 3), (EACH_ONCE, 0)])
        .await;
    // Every restarted process caught up by itself (the first one only set the mark: a rule
    // seen for the first time starts at now).
    assert!(assert_windows_tile(&db).await >= rounds);
}

async fn two_api_processes_evaluate_each_window_once(db: TestDb) {
    domain::users::ensure_first_admin(&db.store, Some("admin-password-1".into()))
        .await
        .unwrap();
    let a = Api::start(&db);
    let b = Api::start(&db);
    let start = Utc::now();
    let n = 12;
    for i in 0..n {
        let due = start + chrono::Duration::milliseconds(400 * i as i64);
        task_due(&db, i, due).await;
    }
    wait_count(&db, STAMPED, n as i64, Duration::from_secs(30)).await;
    // Both keep ticking for a while after: still nothing is stamped twice.
    tokio::time::sleep(Duration::from_secs(3)).await;
    drop((a, b));
    db.assert_counts(&[(STAMPED, n as i64), (AUDITED, n as i64), (EACH_ONCE, 0)])
        .await;
    let instances = assert_windows_tile(&db).await;
    assert!(instances >= 1);
}
