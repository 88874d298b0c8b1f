//! Notifications: the outbox every producer writes to, and the in-app inbox.
//!
//! A producer calls [`enqueue`] inside the transaction of the event that causes the
//! notification (the outbox rule): the notification and all of its deliveries commit with the
//! event or not at all. One delivery row per (channel, target): the inbox entry of each
//! recipient user (delivered at once: writing it is delivering it), an e-mail per recipient
//! with an address, and a webhook POST per enabled endpoint subscribed to the kind. The
//! `notifier` crate's channel workers drain the pending ones ([`outbox`]).

pub mod outbox;
pub mod webhooks;

use std::collections::BTreeMap;
use std::sync::OnceLock;

use chrono::{DateTime, Utc};
use mobile_shared::notifications::{InboxFilter, InboxItem};
use mobile_shared::wire::Page;
use mobile_shared::Role;
use sqlx::types::Json;
use tokio::sync::Notify;
use uuid::Uuid;

use crate::clock;
use crate::entity::Entity;
use crate::error::{DomainError, Validator};
use crate::pagination::PageRequest;
use crate::store::{on_read, on_tx, Store, Tx};

/// Who receives a notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recipient {
    /// One user (skipped if disabled).
    User(Uuid),
    /// Every enabled user with this role.
    Role(Role),
    /// One webhook endpoint, whatever its event filter (an addressed test). When any recipient
    /// names an endpoint, subscriptions are not consulted for this notification.
    Endpoint(Uuid),
}

/// What [`enqueue`] writes.
#[derive(Debug, Clone)]
pub struct NewNotification {
    /// Dotted event name, e.g. `task.assigned`; webhook endpoints filter on it.
    pub kind: String,
    pub title: String,
    pub body: String,
    /// Machine-readable payload (ids and the like), sent as the webhook `data`.
    pub data: serde_json::Value,
    /// The record it is about.
    pub subject: Option<(Entity, Uuid)>,
    pub recipients: Vec<Recipient>,
}

/// The in-process wake-up of the channel workers: [`Tx::commit`] pokes it after a transaction
/// that enqueued something commits, so a delivery goes out at once instead of at the next poll.
/// Other processes sharing the database find the work at their next poll.
pub fn wakeup() -> &'static Notify {
    static WAKEUP: OnceLock<Notify> = OnceLock::new();
    WAKEUP.get_or_init(Notify::new)
}

const MAX_KIND_LEN: usize = 100;
const MAX_TITLE_LEN: usize = 200;

/// Writes a notification and its deliveries in the caller's transaction; returns its id.
/// Nothing is sent until that transaction commits (the workers only see committed rows).
pub async fn enqueue(tx: &mut Tx, new: NewNotification) -> Result<Uuid, DomainError> {
    let kind = new.kind.trim().to_owned();
    let mut v = Validator::new();
    if kind.is_empty() || kind.len() > MAX_KIND_LEN || kind.chars().any(char::is_whitespace) {
        v.add("kind", "must be 1-100 characters without spaces");
    }
    if new.title.trim().is_empty() || new.title.chars().count() > MAX_TITLE_LEN {
        v.add("title", "must be 1-200 characters");
    }
    v.finish()?;
    let id = clock::new_id();
    let now = clock::now();
    let sql = "INSERT INTO notifications (id, kind, title, body, data, subject_entity, subject_id, created_at) \
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
    on_tx!(
        tx,
        execute(
            sqlx::query(sql)
                .bind(id)
                .bind(&kind)
                .bind(new.title.trim())
                .bind(&new.body)
                .bind(Json(&new.data))
                .bind(new.subject.map(|(e, _)| e.as_str()))
                .bind(new.subject.map(|(_, id)| id))
                .bind(now)
        )
    )?;

    let users = recipient_users(tx, &new.recipients).await?;
    let mut rows: Vec<DeliveryInsert> = Vec::new();
    for (user_id, email) in users {
        rows.push(DeliveryInsert::inbox(user_id));
        if let Some(email) = email {
            rows.push(DeliveryInsert::pending("email", Some(user_id), None, email));
        }
    }
    let addressed: Vec<Uuid> = new
        .recipients
        .iter()
        .filter_map(|r| match r {
            Recipient::Endpoint(id) => Some(*id),
            _ => None,
        })
        .collect();
    for endpoint in webhooks::targets(tx, &kind, &addressed).await? {
        rows.push(DeliveryInsert::pending(
            "webhook",
            None,
            Some(endpoint.id),
            endpoint.url,
        ));
    }
    if !rows.is_empty() {
        on_tx!(
            tx,
            insert_values(
                "INSERT INTO notification_deliveries (id, notification_id, channel, user_id, \
                 endpoint_id, target, state, attempts, next_attempt_at, delivered_at, created_at) ",
                &rows,
                |b, r| b
                    .push_bind(clock::new_id())
                    .push_bind(id)
                    .push_bind(r.channel)
                    .push_bind(r.user_id)
                    .push_bind(r.endpoint_id)
                    .push_bind(r.target.clone())
                    .push_bind(if r.delivered { "delivered" } else { "pending" })
                    .push_bind(0_i32)
                    .push_bind(now)
                    .push_bind(r.delivered.then_some(now))
                    .push_bind(now)
            )
        )?;
        if rows.iter().any(|r| !r.delivered) {
            tx.wake_outbox_on_commit();
        }
    }
    Ok(id)
}

struct DeliveryInsert {
    channel: &'static str,
    user_id: Option<Uuid>,
    endpoint_id: Option<Uuid>,
    target: String,
    delivered: bool,
}

impl DeliveryInsert {
    fn inbox(user_id: Uuid) -> DeliveryInsert {
        DeliveryInsert {
            channel: "inbox",
            user_id: Some(user_id),
            endpoint_id: None,
            target: user_id.to_string(),
            delivered: true,
        }
    }

    fn pending(
        channel: &'static str,
        user_id: Option<Uuid>,
        endpoint_id: Option<Uuid>,
        target: String,
    ) -> DeliveryInsert {
        DeliveryInsert {
            channel,
            user_id,
            endpoint_id,
            target,
            delivered: false,
        }
    }
}

/// The enabled users the recipients name, each once, with their e-mail address if any.
async fn recipient_users(
    tx: &mut Tx,
    recipients: &[Recipient],
) -> Result<BTreeMap<Uuid, Option<String>>, DomainError> {
    let mut users = BTreeMap::new();
    for r in recipients {
        let (by_id, by_role) = match r {
            Recipient::User(id) => (Some(*id), None),
            Recipient::Role(role) => (None, Some(role.as_str())),
            Recipient::Endpoint(_) => continue,
        };
        let sql = "SELECT id, email FROM users WHERE disabled = $1 AND (id = $2 OR role = $3)";
        let rows: Vec<(Uuid, Option<String>)> = on_tx!(tx, |c| sqlx::query_as(sql)
            .bind(false)
            .bind(by_id)
            .bind(by_role)
            .fetch_all(c)
            .await)?;
        users.extend(rows);
    }
    Ok(users)
}

const INBOX_SELECT: &str =
    "SELECT d.id, d.notification_id, n.kind, n.title, n.body, n.data, n.subject_entity, \
            n.subject_id, n.created_at, d.read_at \
     FROM notification_deliveries d JOIN notifications n ON n.id = d.notification_id";

#[derive(sqlx::FromRow)]
struct InboxRow {
    id: Uuid,
    notification_id: Uuid,
    kind: String,
    title: String,
    body: String,
    data: Json<serde_json::Value>,
    subject_entity: Option<String>,
    subject_id: Option<Uuid>,
    created_at: DateTime<Utc>,
    read_at: Option<DateTime<Utc>>,
}

impl From<InboxRow> for InboxItem {
    fn from(r: InboxRow) -> Self {
        InboxItem {
            id: r.id,
            notification_id: r.notification_id,
            kind: r.kind,
            title: r.title,
            body: r.body,
            data: r.data.0,
            subject_entity: r.subject_entity,
            subject_id: r.subject_id,
            created_at: r.created_at,
            read_at: r.read_at,
        }
    }
}

/// A user's inbox, newest first; the cursor is the id of the last entry of the previous page.
pub async fn inbox(
    store: &Store,
    user_id: Uuid,
    filter: &InboxFilter,
    page: PageRequest,
) -> Result<Page<InboxItem>, DomainError> {
    let sql = format!(
        "{INBOX_SELECT} WHERE d.channel = 'inbox' AND d.user_id = $1 \
           AND ($2 = FALSE OR d.read_at IS NULL) AND ($3 IS NULL OR d.id < $3) \
         ORDER BY d.id DESC LIMIT $4"
    );
    let rows: Vec<InboxRow> = on_read!(store, |p| sqlx::query_as(&sql)
        .bind(user_id)
        .bind(filter.unread.unwrap_or(false))
        .bind(page.after)
        .bind(page.fetch())
        .fetch_all(p)
        .await)?;
    Ok(page.page(rows, |r| r.id, InboxItem::from))
}

/// Marks one of the user's own inbox entries read (idempotent: the first time is kept). Another
/// user's entry is "not found", like a missing one, so ids do not leak.
///
/// Not audited: a read mark is the reader's own view state, not business data, and auditing
/// every click would bury the log.
pub async fn mark_read(store: &Store, user_id: Uuid, id: Uuid) -> Result<InboxItem, DomainError> {
    let mut tx = store.begin().await?;
    let sql = "UPDATE notification_deliveries SET read_at = COALESCE(read_at, $1) \
               WHERE id = $2 AND user_id = $3 AND channel = 'inbox'";
    let n = on_tx!(
        &mut tx,
        execute(sqlx::query(sql).bind(clock::now()).bind(id).bind(user_id))
    )?;
    if n == 0 {
        return Err(DomainError::not_found(Entity::Notification));
    }
    let sql = format!("{INBOX_SELECT} WHERE d.id = $1");
    let row: InboxRow = on_tx!(&mut tx, |c| sqlx::query_as(&sql)
        .bind(id)
        .fetch_one(c)
        .await)?;
    tx.commit().await?;
    Ok(row.into())
}
