//! Notification delivery end to end, on both databases, against a real SMTP server (Python's
//! aiosmtpd, started by the test on a free port, writing a maildir) and a real HTTP receiver (an
//! axum server on port 0 that checks each signature itself, not with the code under test).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use domain::notifications::{self, outbox, webhooks, NewNotification, Recipient};
use domain::testing::{skip_or_fail, TestDb};
use domain::{Actor, Entity, PageRequest};
use hmac::{Hmac, Mac};
use mobile_shared::notifications::{
    Channel, DeliveryFilter, DeliveryState, InboxFilter, NewWebhookEndpoint, WebhookCreated,
};
use mobile_shared::wire::NewUser;
use mobile_shared::{ErrorCode, Role};
use notifier::{Backoff, Notifier, NotifierMetrics, NotifierSettings, SmtpSettings};
use sha2::Sha256;
use tokio::sync::watch;
use uuid::Uuid;

// ---- the SMTP server -----------------------------------------------------------------------

/// aiosmtpd on a fixed port, saving every mail it accepts into a maildir.
struct SmtpServer {
    child: Child,
}

impl SmtpServer {
    /// `None` after `skip_or_fail` when aiosmtpd is not installed.
    fn available() -> bool {
        let ok = Command::new("python3")
            .args(["-c", "import aiosmtpd"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            skip_or_fail(
                "notification e-mail tests",
                "install aiosmtpd (`pip install aiosmtpd` or Debian's python3-aiosmtpd)",
            );
        }
        ok
    }

    async fn start(port: u16, maildir: &Path) -> SmtpServer {
        let child = Command::new("python3")
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(maildir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start aiosmtpd");
        let deadline = Instant::now() + Duration::from_secs(10);
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            assert!(
                Instant::now() < deadline,
                "aiosmtpd did not listen on {port}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        SmtpServer { child }
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port nothing listens on right now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// The mails in a maildir: (Message-ID, To, Subject) of each.
fn mails(maildir: &Path) -> Vec<(String, String, String)> {
    let Ok(entries) = std::fs::read_dir(maildir.join("new")) else {
        return Vec::new();
    };
    entries
        .map(|e| {
            let text = std::fs::read_to_string(e.expect("maildir entry").path()).expect("mail");
            let header = |name: &str| {
                text.lines()
                    .find_map(|l| l.strip_prefix(&format!("{name}: ")))
                    .unwrap_or_default()
                    .trim()
                    .to_owned()
            };
            (header("Message-ID"), header("To"), header("Subject"))
        })
        .collect()
}

// ---- the webhook receiver ------------------------------------------------------------------

#[derive(Debug, Clone)]
struct Received {
    id: String,
    body: serde_json::Value,
    /// The signature checked here with `hmac` over the raw bytes received.
    signature_ok: bool,
}

#[derive(Clone)]
struct Receiver {
    addr: SocketAddr,
    secret: Arc<Mutex<Option<String>>>,
    /// The status to answer.
    status: Arc<AtomicU16>,
    /// How long to wait before answering.
    delay_ms: Arc<AtomicU64>,
    received: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    async fn start() -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind receiver");
        let receiver = Receiver {
            addr: listener.local_addr().expect("addr"),
            secret: Arc::default(),
            status: Arc::new(AtomicU16::new(200)),
            delay_ms: Arc::default(),
            received: Arc::default(),
        };
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(receive))
            .with_state(receiver.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        receiver
    }

    fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().expect("lock").clone()
    }
}

async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let (id, timestamp, signature) = (
        header("webhook-id"),
        header("webhook-timestamp"),
        header("webhook-signature"),
    );
    let secret = r.secret.lock().expect("lock").clone().unwrap_or_default();
    let key = STANDARD
        .decode(secret.trim_start_matches("whsec_"))
        .unwrap_or_default();
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("hmac key");
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(&body);
    let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
    let fresh = timestamp
        .parse::<i64>()
        .is_ok_and(|t| (chrono::Utc::now().timestamp() - t).abs() < 300);
    let signature_ok = fresh && signature.split(' ').any(|s| s == expected);
    r.received.lock().expect("lock").push(Received {
        id,
        body: serde_json::from_slice(&body).unwrap_or_default(),
        signature_ok,
    });
    let delay = r.delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    StatusCode::from_u16(r.status.load(Ordering::SeqCst)).expect("status")
}

// ---- the fixture ---------------------------------------------------------------------------

struct Env {
    db: TestDb,
    receiver: Receiver,
    maildir: tempfile::TempDir,
    smtp_port: u16,
    shutdown: watch::Sender<bool>,
    notifier: Option<Notifier>,
    metrics: NotifierMetrics,
}

impl domain::testing::Fixture for Env {
    async fn open(backend: domain::Backend) -> Option<Env> {
        if !SmtpServer::available() {
            return None;
        }
        let db = TestDb::open(backend).await?;
        Some(Env {
            db,
            receiver: Receiver::start().await,
            maildir: tempfile::tempdir().expect("maildir"),
            smtp_port: free_port(),
            shutdown: watch::channel(false).0,
            notifier: None,
            metrics: NotifierMetrics::default(),
        })
    }
}

impl Env {
    /// Small times so retries happen within a test.
    fn settings(&self) -> NotifierSettings {
        NotifierSettings {
            smtp: Some(SmtpSettings {
                url: format!("smtp://127.0.0.1:{}", self.smtp_port),
                from: "fieldops <noreply@fieldops.test>".into(),
                timeout: Duration::from_secs(5),
            }),
            webhook_timeout: Duration::from_secs(5),
            max_attempts: 4,
            backoff: Backoff {
                initial: Duration::from_millis(100),
                max: Duration::from_millis(400),
            },
            poll_interval: Duration::from_millis(100),
            ..NotifierSettings::default()
        }
    }

    fn start(&mut self, settings: NotifierSettings) {
        let notifier = Notifier::start(
            self.db.store.clone(),
            settings,
            self.metrics.clone(),
            self.shutdown.subscribe(),
        )
        .expect("start notifier");
        self.notifier = Some(notifier);
    }

    async fn stop(&mut self) {
        let _ = self.shutdown.send(true);
        if let Some(n) = self.notifier.take() {
            n.join().await;
        }
    }

    /// Not created beforehand: aiosmtpd makes the maildir (tmp/, new/, cur/) only for a new path.
    fn maildir_path(&self) -> std::path::PathBuf {
        self.maildir.path().join("mail")
    }

    async fn smtp(&self) -> SmtpServer {
        SmtpServer::start(self.smtp_port, &self.maildir_path()).await
    }

    fn mails(&self) -> Vec<(String, String, String)> {
        mails(&self.maildir_path())
    }

    async fn user(&self, name: &str, role: Role, email: Option<&str>) -> Uuid {
        let user = domain::users::create(
            &self.db.store,
            &Actor::system(),
            NewUser {
                username: name.into(),
                password: "correct horse battery".into(),
                role,
                email: None,
            },
        )
        .await
        .expect("create user");
        if let Some(email) = email {
            domain::users::set_email(
                &self.db.store,
                &Actor::system(),
                user.id,
                Some(email.into()),
            )
            .await
            .expect("set email");
        }
        user.id
    }

    async fn endpoint(&self, kinds: Option<Vec<&str>>) -> WebhookCreated {
        let created = webhooks::create(
            &self.db.store,
            &Actor::system(),
            NewWebhookEndpoint {
                url: self.receiver.url(),
                description: Some("test receiver".into()),
                event_kinds: kinds.map(|k| k.into_iter().map(String::from).collect()),
            },
        )
        .await
        .expect("create endpoint");
        *self.receiver.secret.lock().expect("lock") = Some(created.secret.clone());
        created
    }

    /// Enqueues in its own committed transaction, as a producer would.
    async fn notify(&self, kind: &str, title: &str, recipients: Vec<Recipient>) -> Uuid {
        let mut tx = self.db.store.begin().await.expect("begin");
        let id = notifications::enqueue(&mut tx, notification(kind, title, recipients))
            .await
            .expect("enqueue");
        tx.commit().await.expect("commit");
        id
    }

    async fn deliveries(&self, channel: Channel) -> Vec<mobile_shared::notifications::Delivery> {
        let filter = DeliveryFilter {
            channel: Some(channel),
            state: None,
        };
        outbox::deliveries(&self.db.store, &filter, page())
            .await
            .expect("deliveries")
            .items
    }
}

fn page() -> PageRequest {
    PageRequest::new(Some(500), None).expect("page")
}

fn notification(kind: &str, title: &str, recipients: Vec<Recipient>) -> NewNotification {
    NewNotification {
        kind: kind.into(),
        title: title.into(),
        body: format!("{title}: details"),
        data: serde_json::json!({ "title": title }),
        subject: Some((Entity::Asset, Uuid::now_v7())),
        recipients,
    }
}

/// Waits until `check` holds, failing with `what` after `secs` seconds.
async fn eventually<F, Fut>(secs: u64, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// ---- scenarios -----------------------------------------------------------------------------

/// The outbox rule: a notification enqueued in a transaction that rolls back never goes out;
/// one enqueued in a committed transaction does, on every channel.
async fn rolled_back_enqueue_sends_nothing(mut env: Env) {
    let _smtp = env.smtp().await;
    let tech = env
        .user("tech", Role::Technician, Some("tech@fieldops.test"))
        .await;
    env.endpoint(None).await;
    env.start(env.settings());

    let mut tx = env.db.store.begin().await.expect("begin");
    notifications::enqueue(
        &mut tx,
        notification("task.assigned", "rolled back", vec![Recipient::User(tech)]),
    )
    .await
    .expect("enqueue");
    drop(tx);
    env.notify("task.assigned", "committed", vec![Recipient::User(tech)])
        .await;

    eventually(10, "the committed mail and webhook", || async {
        env.mails().len() == 1 && env.receiver.received().len() == 1
    })
    .await;
    // Time for anything else to (wrongly) arrive.
    tokio::time::sleep(Duration::from_millis(500)).await;
    env.stop().await;
    let mails = env.mails();
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert_eq!(mails[0].2, "committed");
    let hooks = env.receiver.received();
    assert_eq!(hooks.len(), 1);
    assert_eq!(hooks[0].body["data"]["title"], "committed");
    env.db
        .assert_counts(&[
            ("SELECT COUNT(*) FROM notifications", 1),
            ("SELECT COUNT(*) FROM notification_deliveries", 3),
        ])
        .await;
}

/// Inbox entries are written delivered, listed newest first per user, filtered by unread and
/// marked read only by their owner, idempotently.
async fn inbox_lists_and_marks_read(env: Env) {
    let store = &env.db.store;
    let alice = env.user("alice", Role::Technician, None).await;
    let bob = env.user("bob", Role::Technician, None).await;
    let boss = env.user("boss", Role::Dispatcher, None).await;
    env.notify(
        "task.assigned",
        "first",
        vec![Recipient::Role(Role::Technician)],
    )
    .await;
    env.notify(
        "task.assigned",
        "second",
        vec![Recipient::User(alice), Recipient::Role(Role::Technician)],
    )
    .await;

    let all = InboxFilter { unread: None };
    let unread = InboxFilter { unread: Some(true) };
    let inbox = notifications::inbox(store, alice, &all, page())
        .await
        .expect("inbox");
    let titles: Vec<&str> = inbox.items.iter().map(|i| i.title.as_str()).collect();
    assert_eq!(titles, ["second", "first"], "newest first, each once");
    assert!(notifications::inbox(store, boss, &all, page())
        .await
        .expect("inbox")
        .items
        .is_empty());

    let first = inbox.items[1].id;
    let other = notifications::mark_read(store, bob, first)
        .await
        .unwrap_err();
    domain::testing::assert_not_found(&other, Entity::Notification);
    let read = notifications::mark_read(store, alice, first)
        .await
        .expect("read");
    let again = notifications::mark_read(store, alice, first)
        .await
        .expect("read again");
    assert!(read.read_at.is_some());
    assert_eq!(read.read_at, again.read_at, "the first read time is kept");

    let left = notifications::inbox(store, alice, &unread, page())
        .await
        .expect("unread");
    assert_eq!(left.items.len(), 1);
    assert_eq!(left.items[0].title, "second");
    let bobs = notifications::inbox(store, bob, &unread, page())
        .await
        .expect("unread");
    assert_eq!(bobs.items.len(), 2, "alice's read mark is not bob's");
    let stats = outbox::stats(store).await.expect("stats");
    assert_eq!(stats.inbox.delivered, 4);
    assert_eq!(stats.email.pending + stats.webhook.pending, 0);
}

/// The SMTP server is down when mails are enqueued: they wait (retried, pending); when it comes
/// up every mail arrives exactly once, with its delivery id as Message-ID. Then it stops again
/// mid-stream and comes back: the same.
async fn smtp_outage_loses_nothing_and_duplicates_nothing(mut env: Env) {
    let _tech = env
        .user("tech", Role::Technician, Some("tech@fieldops.test"))
        .await;
    let disp = env
        .user("disp", Role::Dispatcher, Some("disp@fieldops.test"))
        .await;
    let _no_mail = env.user("quiet", Role::Technician, None).await;
    let mut settings = env.settings();
    settings.max_attempts = 1000;
    env.start(settings);
    for i in 0..3 {
        env.notify(
            "task.assigned",
            &format!("job {i}"),
            vec![Recipient::Role(Role::Technician), Recipient::User(disp)],
        )
        .await;
    }
    eventually(10, "failed attempts while SMTP is down", || async {
        let d = env.deliveries(Channel::Email).await;
        d.len() == 6
            && d.iter()
                .all(|d| d.attempts >= 2 && d.state == DeliveryState::Pending)
    })
    .await;
    assert!(env.mails().is_empty());
    let retried = env.deliveries(Channel::Email).await;
    assert!(retried[0]
        .attempt_log
        .iter()
        .all(|a| a.outcome == "retry" && a.error.is_some()));

    let smtp = env.smtp().await;
    let all_delivered = || async {
        env.deliveries(Channel::Email)
            .await
            .iter()
            .all(|d| d.state == DeliveryState::Delivered)
    };
    eventually(15, "every mail after SMTP came back", all_delivered).await;
    assert_eq!(env.mails().len(), 6);

    // It goes down again mid-stream: what is queued meanwhile waits, then arrives.
    drop(smtp);
    env.notify(
        "task.assigned",
        "during the second outage",
        vec![Recipient::User(disp)],
    )
    .await;
    eventually(10, "a failed attempt in the second outage", || async {
        env.deliveries(Channel::Email)
            .await
            .iter()
            .any(|d| d.state == DeliveryState::Pending && d.attempts >= 1)
    })
    .await;
    let _smtp = env.smtp().await;
    eventually(15, "the mail of the second outage", all_delivered).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    env.stop().await;
    let mails = env.mails();
    assert_eq!(mails.len(), 7, "{mails:?}");
    let ids: HashSet<String> = mails.iter().map(|m| m.0.clone()).collect();
    let expected: HashSet<String> = env
        .deliveries(Channel::Email)
        .await
        .iter()
        .map(|d| format!("<{}@fieldops>", d.id))
        .collect();
    assert_eq!(ids, expected, "one mail per delivery, none twice");
    assert_eq!(
        mails
            .iter()
            .filter(|m| m.1.contains("tech@fieldops.test"))
            .count(),
        3
    );
    let last = env.deliveries(Channel::Email).await;
    let ok = last[0].attempt_log.last().expect("attempts");
    assert_eq!(ok.outcome, "delivered");
    assert!(
        ok.reply.as_deref().is_some_and(|r| r.starts_with("250")),
        "{ok:?}"
    );
    let delivered = env
        .metrics
        .delivered
        .get_or_create(&notifier::metrics::ChannelLabels {
            channel: "email".into(),
        })
        .get();
    assert_eq!(delivered, 7);
}

/// A receiver answering 500 is retried with growing delays, then the delivery fails, visibly;
/// an admin retry sends it again and it goes through once the receiver recovers.
async fn webhook_500s_are_retried_then_failed_and_retryable(mut env: Env) {
    env.endpoint(Some(vec!["task.assigned"])).await;
    env.receiver.status.store(500, Ordering::SeqCst);
    env.start(env.settings());
    env.notify("task.assigned", "flaky", vec![]).await;
    eventually(15, "the webhook delivery to fail", || async {
        env.deliveries(Channel::Webhook)
            .await
            .first()
            .is_some_and(|d| d.state == DeliveryState::Failed)
    })
    .await;
    let failed = env.deliveries(Channel::Webhook).await.remove(0);
    assert_eq!(failed.attempts, 4);
    let outcomes: Vec<&str> = failed
        .attempt_log
        .iter()
        .map(|a| a.outcome.as_str())
        .collect();
    assert_eq!(outcomes, ["retry", "retry", "retry", "failed"]);
    assert!(failed
        .attempt_log
        .iter()
        .all(|a| a.status_code == Some(500)));
    // Backoff: the gaps between attempts are at least half of 100, 200, 400 ms.
    let gaps: Vec<i64> = failed
        .attempt_log
        .windows(2)
        .map(|w| (w[1].at - w[0].at).num_milliseconds())
        .collect();
    for (gap, min) in gaps.iter().zip([50, 100, 200]) {
        assert!(*gap >= min, "gaps {gaps:?}");
    }
    let hooks = env.receiver.received();
    assert_eq!(hooks.len(), 4);
    assert!(
        hooks.iter().all(|h| h.id == failed.id.to_string()),
        "one webhook-id for all tries"
    );
    let stats = outbox::stats(&env.db.store).await.expect("stats");
    assert_eq!(stats.webhook.failed, 1);

    let admin = Actor::system();
    let retried = outbox::retry(&env.db.store, &admin, failed.id)
        .await
        .expect("retry");
    assert_eq!(retried.state, DeliveryState::Pending);
    assert_eq!(retried.attempts, 0, "a fresh allowance of attempts");
    let twice = outbox::retry(&env.db.store, &admin, failed.id)
        .await
        .unwrap_err();
    domain::testing::assert_conflict(
        &twice,
        ErrorCode::IllegalTransition,
        "retry of a pending delivery",
    );
    env.receiver.status.store(204, Ordering::SeqCst);
    eventually(10, "the retried delivery", || async {
        env.deliveries(Channel::Webhook).await[0].state == DeliveryState::Delivered
    })
    .await;
    env.stop().await;
    let log = env.deliveries(Channel::Webhook).await.remove(0).attempt_log;
    assert_eq!(
        log.len(),
        env.receiver.received().len(),
        "every POST is in the log"
    );
    assert_eq!(log.last().map(|a| a.status_code), Some(Some(204)));
    let audit = env
        .db
        .audit(domain::audit::AuditFilter {
            action: Some("notification_delivery.retry".into()),
            ..Default::default()
        })
        .await;
    assert_eq!(audit.len(), 1);
}

/// Signatures verify with the endpoint's secret; endpoints get only the kinds they subscribe to;
/// a 4xx answer fails the delivery at once.
async fn webhooks_are_signed_filtered_and_4xx_is_permanent(mut env: Env) {
    let created = env.endpoint(Some(vec!["asset.moved"])).await;
    assert!(created.secret.starts_with("whsec_"));
    env.start(env.settings());
    env.notify("task.assigned", "not subscribed", vec![]).await;
    env.notify("asset.moved", "subscribed", vec![]).await;
    eventually(10, "the subscribed webhook", || async {
        !env.receiver.received().is_empty()
    })
    .await;
    let hook = env.receiver.received().remove(0);
    assert!(
        hook.signature_ok,
        "signature verifies with the endpoint secret"
    );
    assert_eq!(hook.body["type"], "asset.moved");
    assert_eq!(hook.body["data"]["title"], "subscribed");
    assert!(hook.body["timestamp"].is_string());

    // A wrong secret does not verify: the receiver's check is not a rubber stamp.
    *env.receiver.secret.lock().expect("lock") = Some(webhooks::new_secret());
    env.receiver.status.store(404, Ordering::SeqCst);
    env.notify("asset.moved", "gone", vec![]).await;
    eventually(10, "the refused delivery to fail", || async {
        env.deliveries(Channel::Webhook)
            .await
            .iter()
            .any(|d| d.state == DeliveryState::Failed)
    })
    .await;
    env.stop().await;
    let hooks = env.receiver.received();
    assert_eq!(
        hooks.len(),
        2,
        "the 404 was not retried, the other kind never sent"
    );
    assert!(!hooks[1].signature_ok);
    let failed = env
        .deliveries(Channel::Webhook)
        .await
        .into_iter()
        .find(|d| d.state == DeliveryState::Failed)
        .expect("failed delivery");
    assert_eq!(failed.attempts, 1);
    assert_eq!(failed.attempt_log[0].status_code, Some(404));
    // The secret is never listed.
    let listed = webhooks::list(&env.db.store, page()).await.expect("list");
    assert!(!serde_json::to_string(&listed)
        .expect("json")
        .contains("whsec_"));
}

/// A receiver that takes seconds to answer does not hold up e-mail.
async fn slow_receiver_does_not_delay_email(mut env: Env) {
    let _smtp = env.smtp().await;
    let tech = env
        .user("tech", Role::Technician, Some("tech@fieldops.test"))
        .await;
    env.endpoint(None).await;
    env.receiver.delay_ms.store(3000, Ordering::SeqCst);
    env.start(env.settings());
    let started = Instant::now();
    env.notify("task.assigned", "urgent", vec![Recipient::User(tech)])
        .await;
    eventually(10, "the mail", || async { env.mails().len() == 1 }).await;
    let mail_after = started.elapsed();
    assert!(
        env.deliveries(Channel::Webhook).await[0].state == DeliveryState::Pending,
        "the webhook is still waiting for its slow receiver"
    );
    assert!(
        mail_after < Duration::from_millis(2500),
        "mail took {mail_after:?}"
    );
    eventually(10, "the slow webhook", || async {
        env.deliveries(Channel::Webhook).await[0].state == DeliveryState::Delivered
    })
    .await;
    env.stop().await;
}

/// A test event goes to the one endpoint it names, whatever its filter.
async fn test_event_reaches_only_its_endpoint(mut env: Env) {
    let first = env.endpoint(Some(vec!["asset.moved"])).await;
    let second = env.endpoint(None).await;
    *env.receiver.secret.lock().expect("lock") = Some(first.secret.clone());
    env.start(env.settings());
    webhooks::send_test(&env.db.store, &Actor::system(), first.endpoint.id)
        .await
        .expect("test event");
    eventually(10, "the test event", || async {
        !env.receiver.received().is_empty()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    env.stop().await;
    let hooks = env.receiver.received();
    assert_eq!(hooks.len(), 1, "only the addressed endpoint");
    assert!(hooks[0].signature_ok);
    assert_eq!(hooks[0].body["type"], "webhook.test");
    let d = env.deliveries(Channel::Webhook).await;
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].endpoint_id, Some(first.endpoint.id));
    assert_ne!(d[0].endpoint_id, Some(second.endpoint.id));
}

/// Disabling an endpoint stops it: its pending deliveries fail at their next attempt without
/// being sent, and new notifications no longer go to it. Counted per channel in the metrics.
async fn disabled_endpoint_gets_nothing_more(mut env: Env) {
    let created = env.endpoint(None).await;
    env.receiver.status.store(503, Ordering::SeqCst);
    let mut settings = env.settings();
    settings.max_attempts = 1000;
    env.start(settings);
    env.notify("asset.moved", "while down", vec![]).await;
    eventually(10, "a retried attempt", || async {
        env.deliveries(Channel::Webhook).await[0].attempts >= 2
    })
    .await;
    webhooks::update(
        &env.db.store,
        &Actor::system(),
        created.endpoint.id,
        mobile_shared::notifications::WebhookPatch { enabled: false },
    )
    .await
    .expect("disable");
    let sent_before = env.receiver.received().len();
    eventually(10, "the delivery to fail", || async {
        env.deliveries(Channel::Webhook).await[0].state == DeliveryState::Failed
    })
    .await;
    env.notify("asset.moved", "after", vec![]).await;
    env.stop().await;
    let d = env.deliveries(Channel::Webhook).await;
    assert_eq!(d.len(), 1, "no delivery to a disabled endpoint");
    assert_eq!(
        d[0].attempt_log.last().and_then(|a| a.error.as_deref()),
        Some("endpoint disabled")
    );
    assert!(
        env.receiver.received().len() <= sent_before + 1,
        "at most the send in flight"
    );
    let labels = notifier::metrics::ChannelLabels {
        channel: "webhook".into(),
    };
    assert_eq!(env.metrics.failed.get_or_create(&labels).get(), 1);
    assert!(env.metrics.retried.get_or_create(&labels).get() >= 1);
    assert_eq!(env.metrics.delivered.get_or_create(&labels).get(), 0);
}

/// Endpoints declared in the configuration file are created, updated and disabled to match it,
/// sign with the operator's secret, and leave endpoints registered over the API alone.
async fn configured_endpoints_follow_the_file(mut env: Env) {
    use domain::notifications::webhooks::{sync_configured, ConfiguredEndpoint};
    let store = env.db.store.clone();
    let system = Actor::system();
    let api_endpoint = env.endpoint(Some(vec!["other.kind"])).await;
    let secret = format!("whsec_{}", STANDARD.encode([7u8; 32]));
    let url = env.receiver.url();
    let entry = |secret: &str, kinds: Option<Vec<&str>>| ConfiguredEndpoint {
        url: url.clone(),
        secret: secret.to_owned(),
        event_kinds: kinds.map(|k| k.into_iter().map(String::from).collect()),
        description: Some("from the file".into()),
    };
    let n = sync_configured(
        &store,
        &system,
        &[entry(&secret, Some(vec!["asset.moved"]))],
    )
    .await
    .expect("sync");
    assert_eq!(n, 1);
    let audit_len = || async {
        env.db
            .audit(domain::audit::AuditFilter {
                entity: Some("webhook_endpoint".into()),
                ..Default::default()
            })
            .await
            .len()
    };
    let after_first = audit_len().await;
    sync_configured(
        &store,
        &system,
        &[entry(&secret, Some(vec!["asset.moved"]))],
    )
    .await
    .expect("same again");
    assert_eq!(
        audit_len().await,
        after_first,
        "an unchanged file changes nothing"
    );

    *env.receiver.secret.lock().expect("lock") = Some(secret.clone());
    env.start(env.settings());
    env.notify("asset.moved", "configured", vec![]).await;
    eventually(10, "the configured endpoint's webhook", || async {
        !env.receiver.received().is_empty()
    })
    .await;
    assert!(
        env.receiver.received()[0].signature_ok,
        "signed with the configured secret"
    );

    let rotated = format!("whsec_{}", STANDARD.encode([9u8; 32]));
    sync_configured(&store, &system, &[entry(&rotated, None)])
        .await
        .expect("rotate");
    *env.receiver.secret.lock().expect("lock") = Some(rotated);
    env.notify("task.assigned", "rotated", vec![]).await;
    eventually(10, "the webhook signed with the new secret", || async {
        env.receiver.received().len() == 2
    })
    .await;
    assert!(env.receiver.received()[1].signature_ok);

    sync_configured(&store, &system, &[])
        .await
        .expect("removed from the file");
    let listed = webhooks::list(&store, page()).await.expect("list").items;
    let configured: Vec<_> = listed.iter().filter(|e| e.from_config).collect();
    assert_eq!(configured.len(), 1);
    assert!(
        !configured[0].enabled,
        "removed from the file: disabled, kept with its log"
    );
    let by_api = listed
        .iter()
        .find(|e| e.id == api_endpoint.endpoint.id)
        .expect("api endpoint");
    assert!(
        by_api.enabled && !by_api.from_config,
        "API endpoints are left alone"
    );

    let bad = sync_configured(&store, &system, &[entry("whsec_c2hvcnQ=", None)])
        .await
        .expect_err("a short secret");
    match bad {
        domain::DomainError::Validation(fields) => {
            assert!(fields.contains_key("webhooks[0].secret"), "{fields:?}")
        }
        other => panic!("expected a validation error, got {other:?}"),
    }
    env.stop().await;
}

domain::backend_matrix!(Env:
    configured_endpoints_follow_the_file,
    disabled_endpoint_gets_nothing_more,
    rolled_back_enqueue_sends_nothing,
    inbox_lists_and_marks_read,
    smtp_outage_loses_nothing_and_duplicates_nothing,
    webhook_500s_are_retried_then_failed_and_retryable,
    webhooks_are_signed_filtered_and_4xx_is_permanent,
    slow_receiver_does_not_delay_email,
    test_event_reaches_only_its_endpoint,
);
