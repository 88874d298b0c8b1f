//! One channel's worker: claim due deliveries, send them concurrently (up to a bound), record
//! each attempt with the delivery's new state, and wait for a wake-up, the poll tick, a free
//! slot or shutdown. Channels know only how to send ([`Sender`]); the retry policy is here.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use domain::notifications::outbox::{self, Attempt, Claimed, Verdict};
use domain::Store;
use mobile_shared::notifications::Channel;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tracing::Instrument;

use crate::backoff::Backoff;
use crate::metrics::NotifierMetrics;

/// What the far side made of one send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Delivered,
    /// Worth trying again (down, timed out, overloaded).
    Transient,
    /// It will never take this one (rejected address, 4xx).
    Permanent,
}

/// One send's result, as the delivery log records it.
#[derive(Debug, Clone)]
pub(crate) struct Sent {
    pub outcome: Outcome,
    pub status_code: Option<i32>,
    pub reply: Option<String>,
    pub error: Option<String>,
}

impl Sent {
    pub fn failed(outcome: Outcome, error: impl Into<String>) -> Sent {
        Sent {
            outcome,
            status_code: None,
            reply: None,
            error: Some(error.into()),
        }
    }
}

/// A channel: sends one claimed delivery.
pub(crate) trait Sender: Send + Sync + 'static {
    fn send(&self, delivery: &Claimed) -> impl Future<Output = Sent> + Send;
}

#[derive(Debug, Clone)]
pub(crate) struct WorkerSettings {
    pub channel: Channel,
    pub concurrency: usize,
    pub max_attempts: i32,
    pub backoff: Backoff,
    pub poll_interval: Duration,
    pub lease: Duration,
}

pub(crate) fn spawn<S: Sender>(
    store: Store,
    settings: WorkerSettings,
    sender: S,
    metrics: NotifierMetrics,
    shutdown: watch::Receiver<bool>,
) -> JoinHandle<()> {
    let span = tracing::info_span!("notifier", channel = settings.channel.as_str());
    tokio::spawn(run(store, settings, Arc::new(sender), metrics, shutdown).instrument(span))
}

async fn run<S: Sender>(
    store: Store,
    settings: WorkerSettings,
    sender: Arc<S>,
    metrics: NotifierMetrics,
    mut shutdown: watch::Receiver<bool>,
) {
    let labels = NotifierMetrics::labels(settings.channel);
    let lease = chrono::Duration::from_std(settings.lease).unwrap_or(chrono::Duration::minutes(1));
    let mut in_flight = JoinSet::new();
    let mut tick = tokio::time::interval(settings.poll_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tracing::info!("notification worker started");
    while !*shutdown.borrow() {
        // Registered before looking, so a commit between the claim and the wait still wakes us.
        let woken = domain::notifications::wakeup().notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        let free = settings.concurrency.saturating_sub(in_flight.len());
        if free > 0 {
            let batch = u32::try_from(free).unwrap_or(u32::MAX);
            match outbox::claim(&store, settings.channel, batch, lease).await {
                Ok(claimed) => {
                    for delivery in claimed {
                        let span = tracing::info_span!("delivery", id = %delivery.id, attempt = delivery.attempts + 1);
                        in_flight.spawn(
                            attempt(
                                store.clone(),
                                settings.clone(),
                                sender.clone(),
                                metrics.clone(),
                                delivery,
                            )
                            .instrument(span),
                        );
                    }
                }
                Err(e) => tracing::warn!(error = %e, "claiming deliveries failed"),
            }
        }
        tokio::select! {
            _ = &mut woken => {}
            _ = tick.tick() => {
                match outbox::pending_count(&store, settings.channel).await {
                    Ok(n) => { metrics.pending.get_or_create(&labels).set(n); }
                    Err(e) => tracing::warn!(error = %e, "counting pending deliveries failed"),
                }
            }
            Some(_) = in_flight.join_next(), if !in_flight.is_empty() => {}
            changed = shutdown.changed() => if changed.is_err() { break },
        }
    }
    // Sends under way finish (each is bounded by its timeout) and are recorded.
    while in_flight.join_next().await.is_some() {}
    tracing::info!("notification worker stopped");
}

/// Sends one delivery and records the attempt.
async fn attempt<S: Sender>(
    store: Store,
    settings: WorkerSettings,
    sender: Arc<S>,
    metrics: NotifierMetrics,
    delivery: Claimed,
) {
    let started = Instant::now();
    let sent = sender.send(&delivery).await;
    let duration_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
    let attempts = delivery.attempts + 1;
    let verdict = match sent.outcome {
        Outcome::Delivered => Verdict::Delivered,
        Outcome::Permanent => Verdict::Failed,
        Outcome::Transient if attempts >= settings.max_attempts => Verdict::Failed,
        Outcome::Transient => {
            let delay = settings.backoff.delay(attempts);
            Verdict::RetryAt(
                domain::clock::now()
                    + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::hours(1)),
            )
        }
    };
    let record = Attempt {
        verdict,
        status_code: sent.status_code,
        reply: sent.reply,
        error: sent.error,
        duration_ms,
    };
    match outbox::finish(&store, delivery.id, record.clone()).await {
        Ok(true) => {
            let labels = NotifierMetrics::labels(settings.channel);
            let counter = match verdict {
                Verdict::Delivered => &metrics.delivered,
                Verdict::RetryAt(_) => &metrics.retried,
                Verdict::Failed => &metrics.failed,
            };
            counter.get_or_create(&labels).inc();
            match verdict {
                Verdict::Delivered => tracing::info!(duration_ms, "delivered"),
                _ => {
                    tracing::warn!(?verdict, error = ?record.error, status = ?record.status_code, "not delivered")
                }
            }
        }
        Ok(false) => {
            tracing::info!("delivery changed while it was being sent; attempt not recorded")
        }
        // The lease runs out and the delivery is sent again: at-least-once, and the receiver
        // drops the duplicate by its idempotency key.
        Err(e) => tracing::error!(error = %e, "recording the attempt failed"),
    }
}
