//! The audit log: every write to business data records who did what to which record, with the
//! record before and after, in the same transaction as the change itself.

pub mod retention;
pub mod sessions;

use std::borrow::Cow;

use chrono::{DateTime, Utc};
pub use mobile_shared::wire::AuditFilter;
use mobile_shared::wire::{AuditEntry, AuditSource, Page};
use serde::Serialize;
use sqlx::types::Json;
use uuid::Uuid;

use crate::actor::Actor;
use crate::clock;
use crate::entity::Entity;
use crate::error::DomainError;
use crate::pagination::PageRequest;
use crate::store::{on_read, on_tx, Store, Tx};

/// One audit entry: an action on one record, with the record before and after it.
///
/// The constructors name the common shapes, so a service states what it did rather than
/// assembling columns: `Change::created(Entity::Site, id, &site)` records `site.create` with
/// no before and the site after. The snapshots are serialised when the change is built; a
/// failure surfaces when it is recorded, inside the transaction, which then does not commit.
#[derive(Debug)]
pub(crate) struct Change {
    action: Cow<'static, str>,
    entity: Entity,
    entity_id: Uuid,
    before: Result<Option<serde_json::Value>, String>,
    after: Result<Option<serde_json::Value>, String>,
}

fn snapshot<T: Serialize + ?Sized>(v: Option<&T>) -> Result<Option<serde_json::Value>, String> {
    v.map(serde_json::to_value)
        .transpose()
        .map_err(|e| e.to_string())
}

impl Change {
    /// `<entity>.create`: nothing before, `after` after.
    pub fn created<T: Serialize + ?Sized>(entity: Entity, id: Uuid, after: &T) -> Change {
        Change::action(format!("{entity}.create"), entity, id).after(after)
    }

    /// `<entity>.update`: the record before and after the change.
    pub fn updated<T: Serialize + ?Sized>(
        entity: Entity,
        id: Uuid,
        before: &T,
        after: &T,
    ) -> Change {
        Change::action(format!("{entity}.update"), entity, id)
            .before(before)
            .after(after)
    }

    /// `<entity>.delete`: the record before, nothing after.
    pub fn deleted<T: Serialize + ?Sized>(entity: Entity, id: Uuid, before: &T) -> Change {
        Change::action(format!("{entity}.delete"), entity, id).before(before)
    }

    /// Any other action (`scan.deliver`, `device.unbind`…); add snapshots with
    /// [`Change::before`] and [`Change::after`].
    pub fn action(action: impl Into<Cow<'static, str>>, entity: Entity, id: Uuid) -> Change {
        Change {
            action: action.into(),
            entity,
            entity_id: id,
            before: Ok(None),
            after: Ok(None),
        }
    }

    pub fn before<T: Serialize + ?Sized>(mut self, before: &T) -> Change {
        self.before = snapshot(Some(before));
        self
    }

    pub fn after<T: Serialize + ?Sized>(mut self, after: &T) -> Change {
        self.after = snapshot(Some(after));
        self
    }
}

/// Records one change in the caller's transaction. Most services end with
/// [`Tx::commit_audited`] instead; this is for a transaction that records several.
pub(crate) async fn record(tx: &mut Tx, actor: &Actor, change: Change) -> Result<(), DomainError> {
    let serialisation = |e: String| DomainError::Internal(format!("audit serialisation: {e}"));
    let before = change.before.map_err(serialisation)?.map(Json);
    let after = change.after.map_err(serialisation)?.map(Json);
    let sql = "INSERT INTO audit_log (id, at, actor_user_id, actor, source, action, entity, entity_id, before, after, ip, user_agent) \
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)";
    on_tx!(
        tx,
        execute(
            sqlx::query(sql)
                .bind(clock::new_id())
                .bind(clock::now())
                .bind(actor.user_id)
                .bind(&actor.name)
                .bind(actor.source.as_str())
                .bind(change.action.as_ref())
                .bind(change.entity.as_str())
                .bind(change.entity_id)
                .bind(&before)
                .bind(&after)
                .bind(actor.client.ip.map(|ip| ip.to_string()))
                .bind(&actor.client.user_agent)
        )
    )?;
    Ok(())
}

/// Records one change in a transaction of its own: for events that change no business data
/// but belong in the log (logins, logouts, exports).
pub(crate) async fn record_alone(
    store: &Store,
    actor: &Actor,
    change: Change,
) -> Result<(), DomainError> {
    store.begin().await?.commit_audited(actor, change).await
}

/// Records the creation of many records of one kind in one statement (bulk seeding), each
/// with its own snapshot. Chunk `created` as for any multi-row insert.
pub(crate) async fn record_created(
    tx: &mut Tx,
    actor: &Actor,
    entity: Entity,
    created: &[(Uuid, serde_json::Value)],
) -> Result<(), DomainError> {
    let rows: Vec<(Uuid, Option<&serde_json::Value>, &serde_json::Value)> = created
        .iter()
        .map(|(id, after)| (*id, None, after))
        .collect();
    record_rows(tx, actor, entity, "create", &rows).await
}

/// Records updates of many records of one kind in one statement (bulk seeding that moves a
/// seeded fleet into its working state), each with its own before and after snapshots. Chunk
/// `updated` as for any multi-row insert.
pub(crate) async fn record_updated(
    tx: &mut Tx,
    actor: &Actor,
    entity: Entity,
    updated: &[(Uuid, serde_json::Value, serde_json::Value)],
) -> Result<(), DomainError> {
    let rows: Vec<(Uuid, Option<&serde_json::Value>, &serde_json::Value)> = updated
        .iter()
        .map(|(id, before, after)| (*id, Some(before), after))
        .collect();
    record_rows(tx, actor, entity, "update", &rows).await
}

/// One multi-row insert of audit entries `<entity>.<verb>`, one per (id, before, after). Chunk
/// `rows` as for any multi-row insert.
pub(crate) async fn record_rows(
    tx: &mut Tx,
    actor: &Actor,
    entity: Entity,
    verb: &str,
    rows: &[(Uuid, Option<&serde_json::Value>, &serde_json::Value)],
) -> Result<(), DomainError> {
    let now = clock::now();
    let action = format!("{entity}.{verb}");
    on_tx!(
        tx,
        insert_values(
            "INSERT INTO audit_log (id, at, actor_user_id, actor, source, action, entity, \
            entity_id, before, after, ip, user_agent) ",
            rows,
            |b, (id, before, after)| b
                .push_bind(clock::new_id())
                .push_bind(now)
                .push_bind(actor.user_id)
                .push_bind(actor.name.clone())
                .push_bind(actor.source.as_str())
                .push_bind(action.clone())
                .push_bind(entity.as_str())
                .push_bind(*id)
                .push_bind(before.map(|v| Json(v.clone())))
                .push_bind(Some(Json((*after).clone())))
                .push_bind(actor.client.ip.map(|ip| ip.to_string()))
                .push_bind(actor.client.user_agent.clone())
        )
    )?;
    Ok(())
}

impl Tx {
    /// Records `change` and commits: the change to business data and its audit entry land
    /// together or not at all, and a service cannot commit a write while forgetting its entry.
    pub(crate) async fn commit_audited(
        mut self,
        actor: &Actor,
        change: Change,
    ) -> Result<(), DomainError> {
        record(&mut self, actor, change).await?;
        self.commit().await
    }
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
    ip: Option<String>,
    user_agent: Option<String>,
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
            ip: self.ip,
            user_agent: self.user_agent,
        }
    }
}

/// Newest first. The cursor is the id of the last entry of the previous page.
pub async fn list(
    store: &Store,
    filter: &AuditFilter,
    page: PageRequest,
) -> Result<Page<AuditEntry>, DomainError> {
    let sql = "SELECT id, at, actor_user_id, actor, source, action, entity, entity_id, before, \
               after, ip, user_agent \
               FROM audit_log \
               WHERE ($1 IS NULL OR entity = $1) AND ($2 IS NULL OR entity_id = $2) \
                 AND ($3 IS NULL OR actor = $3) AND ($4 IS NULL OR action = $4) \
                 AND ($5 IS NULL OR at >= $5) AND ($6 IS NULL OR at < $6) \
                 AND ($7 IS NULL OR id < $7) \
                 AND ($9 IS NULL OR source = $9) AND ($10 IS NULL OR ip = $10) \
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
        .bind(filter.source.map(AuditSource::as_str))
        .bind(filter.ip.map(|ip| ip.to_canonical().to_string()))
        .fetch_all(p)
        .await)?;
    Ok(page.page(rows, |r| r.id, AuditRow::into_entry))
}

/// Records that `actor` exported the entries matching `filter` (`format`: `csv`), before the
/// export is sent: the attempt is what is audited, whether or not the client reads it all.
pub async fn record_export(
    store: &Store,
    actor: &Actor,
    filter: &AuditFilter,
    format: &str,
) -> Result<(), DomainError> {
    let change = Change::action(
        format!("{}.export", Entity::AuditLog),
        Entity::AuditLog,
        Uuid::nil(),
    )
    .after(&serde_json::json!({ "format": format, "filter": filter }));
    record_alone(store, actor, change).await
}
