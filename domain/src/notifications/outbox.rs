//! The outbox seen from the delivery side: channel workers claim due deliveries under a lease,
//! record each attempt together with the delivery's new state, and admins read the delivery log
//! and its per-channel counts, and retry failed deliveries.
//!
//! Claiming: PostgreSQL workers (possibly in several processes) take rows with
//! `FOR UPDATE SKIP LOCKED`, so two never claim the same row; SQLite has one writer, which
//! serialises claims. Either way the claim sets `locked_until` (the lease): a worker that dies
//! mid-send leaves the row to be claimed again when the lease runs out, which is why delivery
//! is at-least-once and each send carries the delivery id as its idempotency key.

use chrono::{DateTime, Duration, Utc};
use mobile_shared::notifications::{
    Channel, Delivery, DeliveryAttempt, DeliveryFilter, DeliveryState, DeliveryStats,
};
use mobile_shared::wire::Page;
use mobile_shared::ErrorCode;
use sqlx::types::Json;
use uuid::Uuid;

use crate::actor::Actor;
use crate::audit::Change;
use crate::clock;
use crate::entity::Entity;
use crate::error::DomainError;
use crate::pagination::PageRequest;
use crate::store::{on_read, on_tx, RowLock, Store};

/// A delivery a worker holds, with everything it needs to send it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Claimed {
    pub id: Uuid,
    /// Attempts made before this one.
    pub attempts: i32,
    /// E-mail address, or the endpoint URL when it was enqueued.
    pub target: String,
    pub notification_id: Uuid,
    pub kind: String,
    pub title: String,
    pub body: String,
    pub data: Json<serde_json::Value>,
    pub subject_entity: Option<String>,
    pub subject_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    /// Webhook deliveries: the endpoint as it is now.
    pub endpoint_url: Option<String>,
    pub endpoint_secret: Option<String>,
    pub endpoint_enabled: Option<bool>,
}

/// Claims up to `limit` due pending deliveries of `channel` for `lease`, oldest due first.
pub async fn claim(
    store: &Store,
    channel: Channel,
    limit: u32,
    lease: Duration,
) -> Result<Vec<Claimed>, DomainError> {
    let now = clock::now();
    let mut tx = store.begin().await?;
    let sql = format!(
        "UPDATE notification_deliveries SET locked_until = $1 WHERE id IN ( \
           SELECT id FROM notification_deliveries \
           WHERE channel = $2 AND state = 'pending' AND next_attempt_at <= $3 \
             AND (locked_until IS NULL OR locked_until <= $3) \
           ORDER BY next_attempt_at LIMIT $4{}) \
         RETURNING id",
        tx.row_lock(RowLock::SkipLocked)
    );
    let ids: Vec<Uuid> = on_tx!(&mut tx, |c| sqlx::query_scalar(&sql)
        .bind(now + lease)
        .bind(channel.as_str())
        .bind(now)
        .bind(i64::from(limit))
        .fetch_all(c)
        .await)?;
    if ids.is_empty() {
        tx.commit().await?;
        return Ok(Vec::new());
    }
    let head = "SELECT d.id, d.attempts, d.target, d.notification_id, n.kind, n.title, n.body, \
                       n.data, n.subject_entity, n.subject_id, n.created_at, \
                       e.url AS endpoint_url, e.secret AS endpoint_secret, \
                       e.enabled AS endpoint_enabled \
                FROM notification_deliveries d \
                JOIN notifications n ON n.id = d.notification_id \
                LEFT JOIN webhook_endpoints e ON e.id = d.endpoint_id \
                WHERE d.id IN (";
    let mut claimed: Vec<Claimed> = on_tx!(&mut tx, |c| {
        let mut qb = sqlx::QueryBuilder::new(head);
        let mut list = qb.separated(", ");
        for id in &ids {
            list.push_bind(*id);
        }
        qb.push(")");
        qb.build_query_as().fetch_all(&mut *c).await
    })?;
    tx.commit().await?;
    claimed.sort_by_key(|c| c.id);
    Ok(claimed)
}

/// What became of one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Delivered,
    /// Try again at this time.
    RetryAt(DateTime<Utc>),
    /// Give up (out of attempts, or refused for good).
    Failed,
}

impl Verdict {
    fn outcome(self) -> &'static str {
        match self {
            Verdict::Delivered => "delivered",
            Verdict::RetryAt(_) => "retry",
            Verdict::Failed => "failed",
        }
    }
}

/// One attempt, as the delivery log keeps it.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub verdict: Verdict,
    pub status_code: Option<i32>,
    pub reply: Option<String>,
    pub error: Option<String>,
    pub duration_ms: i64,
}

/// Records an attempt and moves the delivery to its new state in ONE transaction, so a
/// delivery is never marked delivered without its successful attempt in the log, or the other
/// way round. Answers `false` (recording nothing) when the delivery is no longer pending (an
/// admin's action, or another worker after this one's lease ran out).
pub async fn finish(store: &Store, id: Uuid, attempt: Attempt) -> Result<bool, DomainError> {
    let now = clock::now();
    let state = match attempt.verdict {
        Verdict::Delivered => DeliveryState::Delivered,
        Verdict::RetryAt(_) => DeliveryState::Pending,
        Verdict::Failed => DeliveryState::Failed,
    };
    let next = match attempt.verdict {
        Verdict::RetryAt(at) => Some(at),
        _ => None,
    };
    let mut tx = store.begin().await?;
    let sql = "UPDATE notification_deliveries SET state = $1, attempts = attempts + 1, \
                 next_attempt_at = COALESCE($2, next_attempt_at), locked_until = NULL, \
                 last_error = $3, delivered_at = $4 \
               WHERE id = $5 AND state = 'pending'";
    let n = on_tx!(
        &mut tx,
        execute(
            sqlx::query(sql)
                .bind(state.as_str())
                .bind(next)
                .bind(&attempt.error)
                .bind((state == DeliveryState::Delivered).then_some(now))
                .bind(id)
        )
    )?;
    if n == 0 {
        return Ok(false);
    }
    let sql = "INSERT INTO notification_attempts (id, delivery_id, at, outcome, status_code, \
                 reply, error, duration_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
    on_tx!(
        &mut tx,
        execute(
            sqlx::query(sql)
                .bind(clock::new_id())
                .bind(id)
                .bind(now)
                .bind(attempt.verdict.outcome())
                .bind(attempt.status_code)
                .bind(&attempt.reply)
                .bind(&attempt.error)
                .bind(attempt.duration_ms)
        )
    )?;
    tx.commit().await?;
    Ok(true)
}

#[derive(sqlx::FromRow)]
struct DeliveryRow {
    id: Uuid,
    notification_id: Uuid,
    kind: String,
    channel: String,
    user_id: Option<Uuid>,
    endpoint_id: Option<Uuid>,
    target: String,
    state: String,
    attempts: i32,
    next_attempt_at: DateTime<Utc>,
    last_error: Option<String>,
    delivered_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
}

impl DeliveryRow {
    fn into_delivery(self, attempt_log: Vec<DeliveryAttempt>) -> Result<Delivery, DomainError> {
        let internal =
            |e: mobile_shared::notifications::UnknownName| DomainError::Internal(e.to_string());
        Ok(Delivery {
            id: self.id,
            notification_id: self.notification_id,
            kind: self.kind,
            channel: self.channel.parse().map_err(internal)?,
            user_id: self.user_id,
            endpoint_id: self.endpoint_id,
            target: self.target,
            state: self.state.parse().map_err(internal)?,
            attempts: self.attempts,
            next_attempt_at: self.next_attempt_at,
            last_error: self.last_error,
            delivered_at: self.delivered_at,
            created_at: self.created_at,
            attempt_log,
        })
    }
}

#[derive(sqlx::FromRow)]
struct AttemptRow {
    delivery_id: Uuid,
    at: DateTime<Utc>,
    outcome: String,
    status_code: Option<i32>,
    reply: Option<String>,
    error: Option<String>,
    duration_ms: i64,
}

const DELIVERY_SELECT: &str =
    "SELECT d.id, d.notification_id, n.kind, d.channel, d.user_id, d.endpoint_id, d.target, \
            d.state, d.attempts, d.next_attempt_at, d.last_error, d.delivered_at, d.created_at \
     FROM notification_deliveries d JOIN notifications n ON n.id = d.notification_id";

/// The delivery log, newest first, each delivery with its attempts.
pub async fn deliveries(
    store: &Store,
    filter: &DeliveryFilter,
    page: PageRequest,
) -> Result<Page<Delivery>, DomainError> {
    let sql = format!(
        "{DELIVERY_SELECT} WHERE ($1 IS NULL OR d.channel = $1) AND ($2 IS NULL OR d.state = $2) \
           AND ($3 IS NULL OR d.id < $3) ORDER BY d.id DESC LIMIT $4"
    );
    let rows: Vec<DeliveryRow> = on_read!(store, |p| sqlx::query_as(&sql)
        .bind(filter.channel.map(Channel::as_str))
        .bind(filter.state.map(DeliveryState::as_str))
        .bind(page.after)
        .bind(page.fetch())
        .fetch_all(p)
        .await)?;
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let mut attempts = attempts_of(store, &ids).await?;
    page.try_page(
        rows,
        |r| r.id,
        |r| {
            let log = attempts.remove(&r.id).unwrap_or_default();
            r.into_delivery(log)
        },
    )
}

/// One delivery with its attempts.
pub async fn delivery(store: &Store, id: Uuid) -> Result<Delivery, DomainError> {
    let sql = format!("{DELIVERY_SELECT} WHERE d.id = $1");
    let row: Option<DeliveryRow> = on_read!(store, |p| sqlx::query_as(&sql)
        .bind(id)
        .fetch_optional(p)
        .await)?;
    let row = row.ok_or(DomainError::not_found(Entity::NotificationDelivery))?;
    let log = attempts_of(store, &[id])
        .await?
        .remove(&id)
        .unwrap_or_default();
    row.into_delivery(log)
}

/// The attempts of each delivery in `ids`, oldest first.
async fn attempts_of(
    store: &Store,
    ids: &[Uuid],
) -> Result<std::collections::HashMap<Uuid, Vec<DeliveryAttempt>>, DomainError> {
    let mut by_delivery = std::collections::HashMap::<Uuid, Vec<DeliveryAttempt>>::new();
    if ids.is_empty() {
        return Ok(by_delivery);
    }
    let head = "SELECT delivery_id, at, outcome, status_code, reply, error, duration_ms \
                FROM notification_attempts WHERE delivery_id IN (";
    let rows: Vec<AttemptRow> = on_read!(store, |p| {
        let mut qb = sqlx::QueryBuilder::new(head);
        let mut list = qb.separated(", ");
        for id in ids {
            list.push_bind(*id);
        }
        qb.push(") ORDER BY at, id");
        qb.build_query_as().fetch_all(p).await
    })?;
    for r in rows {
        by_delivery
            .entry(r.delivery_id)
            .or_default()
            .push(DeliveryAttempt {
                at: r.at,
                outcome: r.outcome,
                status_code: r.status_code,
                reply: r.reply,
                error: r.error,
                duration_ms: r.duration_ms,
            });
    }
    Ok(by_delivery)
}

/// Deliveries per channel by state.
pub async fn stats(store: &Store) -> Result<DeliveryStats, DomainError> {
    let sql =
        "SELECT channel, state, COUNT(*) FROM notification_deliveries GROUP BY channel, state";
    let rows: Vec<(String, String, i64)> =
        on_read!(store, |p| sqlx::query_as(sql).fetch_all(p).await)?;
    let mut stats = DeliveryStats::default();
    for (channel, state, n) in rows {
        let internal =
            |e: mobile_shared::notifications::UnknownName| DomainError::Internal(e.to_string());
        let counts = stats.channel_mut(channel.parse().map_err(internal)?);
        match state.parse().map_err(internal)? {
            DeliveryState::Pending => counts.pending = n,
            DeliveryState::Delivered => counts.delivered = n,
            DeliveryState::Failed => counts.failed = n,
        }
    }
    Ok(stats)
}

/// Puts a failed delivery back in the queue, due now, with a fresh allowance of attempts (its
/// log is kept). Only a failed delivery can be retried.
pub async fn retry(store: &Store, actor: &Actor, id: Uuid) -> Result<Delivery, DomainError> {
    let before = delivery(store, id).await?;
    let mut tx = store.begin().await?;
    let sql = "UPDATE notification_deliveries SET state = 'pending', attempts = 0, \
                 next_attempt_at = $1, locked_until = NULL WHERE id = $2 AND state = 'failed'";
    let n = on_tx!(
        &mut tx,
        execute(sqlx::query(sql).bind(clock::now()).bind(id))
    )?;
    if n == 0 {
        return Err(DomainError::conflict(
            ErrorCode::IllegalTransition,
            format!(
                "only a failed delivery can be retried; this one is {}",
                before.state
            ),
        ));
    }
    tx.wake_outbox_on_commit();
    let mut after = before.clone();
    after.state = DeliveryState::Pending;
    after.attempts = 0;
    tx.commit_audited(
        actor,
        Change::action(
            "notification_delivery.retry",
            Entity::NotificationDelivery,
            id,
        )
        .before(&before)
        .after(&after),
    )
    .await?;
    delivery(store, id).await
}

/// Pending deliveries of one channel (the backlog gauge).
pub async fn pending_count(store: &Store, channel: Channel) -> Result<i64, DomainError> {
    let sql =
        "SELECT COUNT(*) FROM notification_deliveries WHERE channel = $1 AND state = 'pending'";
    let n: i64 = on_read!(store, |p| sqlx::query_scalar(sql)
        .bind(channel.as_str())
        .fetch_one(p)
        .await)?;
    Ok(n)
}
