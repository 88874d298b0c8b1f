//! The audit log: every write to business data records who did what to which record, with the
//! record before and after, in the same transaction as the change itself.

use chrono::{DateTime, Utc};
use mobile_shared::wire::{AuditEntry, AuditSource, Page};
use serde::Serialize;
use sqlx::types::Json;
use uuid::Uuid;

use crate::actor::Actor;
use crate::clock;
use crate::error::DomainError;
use crate::pagination::PageRequest;
use crate::store::{Store, Tx};
use crate::{on_read, on_tx};

/// Records one change. `before` is `None` for a creation, `after` is `None` for a deletion.
pub async fn record<B: Serialize, A: Serialize>(
    tx: &mut Tx,
    actor: &Actor,
    action: &str,
    entity: &str,
    entity_id: Uuid,
    before: Option<&B>,
    after: Option<&A>,
) -> Result<(), DomainError> {
    let to_json = |v: Option<serde_json::Value>| v.map(Json);
    let before = to_json(
        before
            .map(serde_json::to_value)
            .transpose()
            .map_err(internal)?,
    );
    let after = to_json(
        after
            .map(serde_json::to_value)
            .transpose()
            .map_err(internal)?,
    );
    let sql = "INSERT INTO audit_log (id, at, actor_user_id, actor, source, action, entity, entity_id, before, after) \
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";
    on_tx!(tx, |c| sqlx::query(sql)
        .bind(clock::new_id())
        .bind(clock::now())
        .bind(actor.user_id)
        .bind(&actor.name)
        .bind(actor.source.as_str())
        .bind(action)
        .bind(entity)
        .bind(entity_id)
        .bind(&before)
        .bind(&after)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

fn internal(e: serde_json::Error) -> DomainError {
    DomainError::Internal(format!("audit serialisation: {e}"))
}

/// Filters for reading the audit log; all optional, combined with AND.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub entity: Option<String>,
    pub entity_id: Option<Uuid>,
    pub actor: Option<String>,
    pub action: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

#[derive(sqlx::FromRow)]
struct AuditRow {
    id: Uuid,
    at: DateTime<Utc>,
    actor_user_id: Option<Uuid>,
    actor: String,
    source: String,
    action: String,
    entity: String,
    entity_id: Uuid,
    before: Option<Json<serde_json::Value>>,
    after: Option<Json<serde_json::Value>>,
}

impl AuditRow {
    fn into_entry(self) -> AuditEntry {
        AuditEntry {
            id: self.id,
            at: self.at,
            actor_user_id: self.actor_user_id,
            actor: self.actor,
            source: AuditSource::parse(&self.source).unwrap_or(AuditSource::System),
            action: self.action,
            entity: self.entity,
            entity_id: self.entity_id,
            before: self.before.map(|j| j.0),
            after: self.after.map(|j| j.0),
        }
    }
}

/// Newest first. The cursor is the id of the last entry of the previous page.
pub async fn list(
    store: &Store,
    filter: &AuditFilter,
    page: PageRequest,
) -> Result<Page<AuditEntry>, DomainError> {
    let sql =
        "SELECT id, at, actor_user_id, actor, source, action, entity, entity_id, before, after \
               FROM audit_log \
               WHERE ($1 IS NULL OR entity = $1) AND ($2 IS NULL OR entity_id = $2) \
                 AND ($3 IS NULL OR actor = $3) AND ($4 IS NULL OR action = $4) \
                 AND ($5 IS NULL OR at >= $5) AND ($6 IS NULL OR at < $6) \
                 AND ($7 IS NULL OR id < $7) \
               ORDER BY id DESC LIMIT $8";
    let rows: Vec<AuditRow> = on_read!(store, |p| sqlx::query_as(sql)
        .bind(&filter.entity)
        .bind(filter.entity_id)
        .bind(&filter.actor)
        .bind(&filter.action)
        .bind(filter.from)
        .bind(filter.to)
        .bind(page.after)
        .bind(page.fetch())
        .fetch_all(p)
        .await)?;
    let (rows, next_cursor) = page.finish(rows, |r| r.id);
    Ok(Page {
        items: rows.into_iter().map(AuditRow::into_entry).collect(),
        next_cursor,
    })
}
