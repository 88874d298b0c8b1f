//! fieldops notification delivery: drains the outbox that `domain::notifications::enqueue`
//! writes, one worker per channel (e-mail over SMTP, signed webhooks), so a slow or dead channel
//! never holds up another.
//!
//! Each worker claims due deliveries under a lease, sends them (up to its concurrency at once),
//! and records every attempt together with the delivery's new state: delivered, retried later
//! with exponential backoff and jitter, or failed after `max_attempts` (or at once when the far
//! side refuses for good). Delivery is at-least-once: a crash between sending and recording
//! leaves the delivery to be sent again when its lease runs out, so every send carries the
//! delivery id as an idempotency key (`webhook-id`, the mail's `Message-ID`) for the receiver to
//! drop the duplicate. Workers wake on `domain::notifications::wakeup()` (poked when a
//! transaction that enqueued something commits in this process) and poll at a short interval
//! (for work enqueued by other processes and retries coming due).
#![forbid(unsafe_code)]

pub mod backoff;
pub mod email;
pub mod metrics;
pub mod webhook;
mod worker;

use std::time::Duration;

use domain::Store;
use mobile_shared::notifications::Channel;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use backoff::Backoff;
pub use email::SmtpSettings;
pub use metrics::NotifierMetrics;

/// How the workers behave; the defaults suit production, tests shrink the times.
#[derive(Debug, Clone)]
pub struct NotifierSettings {
    /// No SMTP server configured: e-mail deliveries wait (pending) until one is.
    pub smtp: Option<SmtpSettings>,
    /// Per-request timeout of a webhook POST (connect included).
    pub webhook_timeout: Duration,
    /// Webhook POSTs in flight at once.
    pub webhook_concurrency: usize,
    /// Mails being sent at once (each on its own SMTP connection).
    pub email_concurrency: usize,
    /// Attempts before a delivery is marked failed.
    pub max_attempts: i32,
    pub backoff: Backoff,
    /// How often a worker looks for due work without being woken.
    pub poll_interval: Duration,
}

impl Default for NotifierSettings {
    fn default() -> Self {
        NotifierSettings {
            smtp: None,
            webhook_timeout: Duration::from_secs(10),
            webhook_concurrency: 16,
            email_concurrency: 2,
            max_attempts: 10,
            backoff: Backoff::default(),
            poll_interval: Duration::from_secs(1),
        }
    }
}

/// The running workers.
pub struct Notifier {
    tasks: Vec<JoinHandle<()>>,
}

impl Notifier {
    /// Starts one worker per configured channel; they stop when `shutdown` turns true, after
    /// their in-flight sends finish (bounded by the send timeouts).
    pub fn start(
        store: Store,
        settings: NotifierSettings,
        metrics: NotifierMetrics,
        shutdown: watch::Receiver<bool>,
    ) -> anyhow::Result<Notifier> {
        let mut tasks = Vec::new();
        let common = |channel, concurrency, timeout: Duration| worker::WorkerSettings {
            channel,
            concurrency,
            max_attempts: settings.max_attempts,
            backoff: settings.backoff,
            poll_interval: settings.poll_interval,
            // The lease outlives the longest send, so a live worker never loses its claim.
            lease: timeout * 2 + Duration::from_secs(5),
        };
        match &settings.smtp {
            Some(smtp) => {
                let sender = email::EmailSender::new(smtp)?;
                let ws = common(Channel::Email, settings.email_concurrency, smtp.timeout);
                tasks.push(worker::spawn(
                    store.clone(),
                    ws,
                    sender,
                    metrics.clone(),
                    shutdown.clone(),
                ));
            }
            None => tracing::warn!(
                "no SMTP server configured (--smtp-url): e-mail notifications stay pending"
            ),
        }
        let sender = webhook::WebhookSender::new(settings.webhook_timeout)?;
        let ws = common(
            Channel::Webhook,
            settings.webhook_concurrency,
            settings.webhook_timeout,
        );
        tasks.push(worker::spawn(store, ws, sender, metrics, shutdown));
        Ok(Notifier { tasks })
    }

    /// Waits for every worker to stop.
    pub async fn join(self) {
        for t in self.tasks {
            if let Err(e) = t.await {
                tracing::error!(error = %e, "notification worker panicked");
            }
        }
    }
}
